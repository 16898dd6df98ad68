/* The call tree (cli/calltree.c): sites summed over processes, frames
 * merged by name, the tree root to leaf and reversed, its order. */
#include <string.h>

#include "calltree.h"
#include "output.h"
#include "unit.h"

extern const char mp_schema_sql[];

/* Two processes (pids 100 and 200) and these stacks, innermost first:
 *   3: alloc_here (a.c:10), inl [inlined], caller (b.c:20), main
 *   4: alloc_here (a.c:11), main
 *   5: 0x1234 in libfoo.so (no symbol), main
 *   7: alloc_here (a.c:10), [truncated]
 *   40: its parent 41 is missing */
static sqlite3 *trace_db(void)
{
	sqlite3 *db = NULL;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(":memory:", &db), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, mp_schema_sql, NULL, NULL, NULL), SQLITE_OK);
	const char *rows =
	        "INSERT INTO processes (id, pid, origin, argv, start_ns, ended_by, allocations, frees, allocated_bytes,"
	        " peak_bytes, peak_time_ns, leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees)"
	        " VALUES (1, 100, 'start', '[]', 0, 'exit', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),"
	        " (2, 200, 'fork', '[]', 0, 'exit', 0, 0, 0, 0, 0, 0, 0, 0, 1, 0);"
	        "INSERT INTO modules VALUES (1, '/usr/bin/prog', 'ab12'), (2, '/usr/lib/libfoo.so', NULL);"
	        "INSERT INTO frames VALUES (1, 1, 4096, 'alloc_here', 'a.c', 10, NULL),"
	        " (2, 1, 8192, 'caller', 'b.c', 20, '[{\"function\":\"inl\",\"file\":\"b.h\",\"line\":5}]'),"
	        " (3, 2, 4660, NULL, NULL, NULL, NULL), (4, 1, 4100, 'alloc_here', 'a.c', 11, NULL),"
	        " (5, 1, 300, 'main', 'm.c', 3, NULL);"
	        "INSERT INTO stacks VALUES (1, 0, 5), (2, 1, 2), (3, 2, 1), (4, 1, 4), (5, 1, 3), (6, 0, 0), (7, 6, 1),"
	        " (40, 41, 1);"
	        /* process, stack, allocations, frees, bytes, peak, peak blocks, leaked, leaked blocks, temporary */
	        "INSERT INTO sites (process_id, stack_id, allocations, frees, bytes, peak_bytes, peak_blocks,"
	        " leaked_bytes, leaked_blocks, temporary) VALUES (1, 3, 2, 1, 100, 50, 1, 10, 1, 1), (1, 4, 1, 1, 20, "
	        "0, 0, 0, 0, 0),"
	        " (2, 3, 1, 1, 5, 5, 1, 0, 0, 1), (2, 5, 4, 4, 400, 300, 3, 0, 0, 2), (2, 7, 1, 1, 1, 1, 1, 0, 0, 0);";
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static const char *name(const struct mp_calltree *t, const struct mp_calltree_node *n)
{
	return t->frames[n->frame].name;
}

/* The children of n as "name total/self ..." */
static const char *kids(const struct mp_calltree *t, const struct mp_calltree_node *n)
{
	static char buf[512];
	size_t at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct mp_calltree_node *k = mp_calltree_kid(t, n, i);
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s %lld/%lld", i ? " " : "", name(t, k),
		                       (long long)k->total, (long long)k->self);
	}
	return buf;
}

/* The child of n named s, or the root when none. */
static const struct mp_calltree_node *kid(const struct mp_calltree *t, const struct mp_calltree_node *n, const char *s)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (!strcmp(name(t, mp_calltree_kid(t, n, i)), s))
			return mp_calltree_kid(t, n, i);
	CU_FAIL("no such child");
	return &t->nodes[0];
}

static void test_load(void)
{
	sqlite3 *db = trace_db();
	struct mp_calltree t;
	/* Site 40 is damaged: only the others. */
	sqlite3_exec(db, "DELETE FROM sites WHERE stack_id = 40", NULL, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(mp_calltree_load(&t, db, "main.sites", -1, 0), 0);
	CU_ASSERT_EQUAL_FATAL(t.nsites, 4);
	const struct mp_calltree_site *s = &t.sites[0]; /* stack 3, both processes */
	CU_ASSERT_EQUAL(s->stack_id, 3);
	CU_ASSERT_EQUAL(s->allocations, 3);
	CU_ASSERT_EQUAL(s->bytes, 105);
	CU_ASSERT_EQUAL(s->peak_bytes, 55);
	CU_ASSERT_EQUAL(s->leaked_bytes, 10);
	CU_ASSERT_EQUAL(s->temporary, 2);
	CU_ASSERT_EQUAL_FATAL(s->n, 4);
	const char *names[] = {"alloc_here", "inl", "caller", "main"};
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_STRING_EQUAL(t.frames[t.pool[s->first + i]].name, names[i]);
	CU_ASSERT_TRUE(t.frames[t.pool[s->first + 1]].flags & MP_FRAME_INLINED);
	/* alloc_here seen at lines 10 and 11: the file stays, the line goes. */
	const struct mp_calltree_frame *f = &t.frames[t.pool[s->first]];
	CU_ASSERT_STRING_EQUAL(f->file, "a.c");
	CU_ASSERT_EQUAL(f->line, 0);
	CU_ASSERT_EQUAL(t.frames[t.pool[s->first + 2]].line, 20);
	/* No function: module+offset; the depth mark. */
	CU_ASSERT_STRING_EQUAL(t.frames[t.pool[t.sites[2].first]].name, "libfoo.so+0x1234");
	CU_ASSERT_STRING_EQUAL(t.frames[t.pool[t.sites[3].first + 1]].name, "[truncated]");
	CU_ASSERT_EQUAL(t.nframes, 6);
	CU_ASSERT_EQUAL(mp_calltree_site_weight(&t.sites[2], MP_CALLTREE_PEAK), 300);
	CU_ASSERT_EQUAL(mp_calltree_site_weight(&t.sites[2], MP_CALLTREE_TEMPORARY), 2);
	mp_calltree_free(&t);

	/* One pid, one process row. */
	CU_ASSERT_EQUAL_FATAL(mp_calltree_load(&t, db, "main.sites", 100, 0), 0);
	CU_ASSERT_EQUAL(t.nsites, 2);
	CU_ASSERT_EQUAL(t.sites[0].bytes, 100);
	mp_calltree_free(&t);
	CU_ASSERT_EQUAL_FATAL(mp_calltree_load(&t, db, "main.sites", -1, 2), 0);
	CU_ASSERT_EQUAL(t.nsites, 3);
	mp_calltree_free(&t);

	/* A stack whose caller is missing. */
	sqlite3_exec(db,
	             "INSERT INTO sites (process_id, stack_id, allocations, frees, bytes, peak_bytes, peak_blocks,"
	             " leaked_bytes, leaked_blocks, temporary) VALUES (1, 40, 1, 0, 1, 0, 0, 0, 0, 0)",
	             NULL, NULL, NULL);
	CU_ASSERT_EQUAL(mp_calltree_load(&t, db, "main.sites", -1, 0), -1);
	CU_ASSERT_STRING_EQUAL(t.err, "damaged trace: stack 41 is missing");
	mp_calltree_free(&t);
	sqlite3_close(db);
}

static void test_build(void)
{
	sqlite3 *db = trace_db();
	sqlite3_exec(db, "DELETE FROM sites WHERE stack_id = 40", NULL, NULL, NULL);
	struct mp_calltree t;
	CU_ASSERT_EQUAL_FATAL(mp_calltree_load(&t, db, "main.sites", -1, 0), 0);

	/* Root to leaf, children by name. */
	mp_calltree_build(&t, MP_CALLTREE_BYTES, 0);
	const struct mp_calltree_node *root = &t.nodes[0];
	CU_ASSERT_EQUAL(root->total, 526);
	CU_ASSERT_EQUAL(root->frame, MP_CALLTREE_NONE);
	CU_ASSERT_STRING_EQUAL(kids(&t, root), "[truncated] 1/0 main 525/0");
	const struct mp_calltree_node *m = kid(&t, root, "main");
	CU_ASSERT_STRING_EQUAL(kids(&t, m), "alloc_here 20/20 caller 105/0 libfoo.so+0x1234 400/400");
	const struct mp_calltree_node *c = kid(&t, m, "caller");
	CU_ASSERT_STRING_EQUAL(kids(&t, c), "inl 105/0");
	CU_ASSERT_STRING_EQUAL(kids(&t, kid(&t, c, "inl")), "alloc_here 105/105");
	CU_ASSERT_EQUAL(kid(&t, c, "inl")->depth, 3);
	CU_ASSERT_EQUAL(t.max_depth, 4);

	/* Heaviest first. */
	mp_calltree_build(&t, MP_CALLTREE_BYTES, MP_CALLTREE_BY_WEIGHT);
	CU_ASSERT_STRING_EQUAL(kids(&t, kid(&t, &t.nodes[0], "main")),
	                       "libfoo.so+0x1234 400/400 caller 105/0 alloc_here 20/20");

	/* Reversed: the allocation sites at the root, then their callers. */
	mp_calltree_build(&t, MP_CALLTREE_BYTES, MP_CALLTREE_REVERSE);
	root = &t.nodes[0];
	CU_ASSERT_EQUAL(root->total, 526);
	CU_ASSERT_STRING_EQUAL(kids(&t, root), "alloc_here 126/0 libfoo.so+0x1234 400/0");
	const struct mp_calltree_node *a = kid(&t, root, "alloc_here");
	CU_ASSERT_STRING_EQUAL(kids(&t, a), "[truncated] 1/1 inl 105/0 main 20/20");
	CU_ASSERT_STRING_EQUAL(kids(&t, kid(&t, kid(&t, a, "inl"), "caller")), "main 105/105");

	/* Another figure; sites of weight 0 are left out. */
	mp_calltree_build(&t, MP_CALLTREE_PEAK, 0);
	CU_ASSERT_EQUAL(t.nodes[0].total, 356);
	CU_ASSERT_STRING_EQUAL(kids(&t, kid(&t, &t.nodes[0], "main")), "caller 55/0 libfoo.so+0x1234 300/300");
	mp_calltree_build(&t, MP_CALLTREE_LEAKED, 0);
	CU_ASSERT_EQUAL(t.nodes[0].total, 10);
	mp_calltree_build(&t, MP_CALLTREE_COUNT, 0);
	CU_ASSERT_EQUAL(t.nodes[0].total, 9);
	mp_calltree_build(&t, MP_CALLTREE_TEMPORARY, 0);
	CU_ASSERT_EQUAL(t.nodes[0].total, 4);
	mp_calltree_free(&t);

	/* Nothing at all: a root alone. */
	CU_ASSERT_EQUAL_FATAL(mp_calltree_load(&t, db, "main.sites", 999, 0), 0);
	mp_calltree_build(&t, MP_CALLTREE_BYTES, 0);
	CU_ASSERT_EQUAL(t.nnodes, 1);
	CU_ASSERT_EQUAL(t.nodes[0].total, 0);
	CU_ASSERT_EQUAL(t.nodes[0].nkids, 0);
	mp_calltree_free(&t);
	sqlite3_close(db);
}

static void test_by(void)
{
	enum mp_calltree_by by;
	const char *names[] = {"bytes", "count", "peak", "leaked", "temporary"};
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(mp_calltree_by_parse(names[i], &by), 0);
		CU_ASSERT_STRING_EQUAL(mp_calltree_by_name(by), names[i]);
	}
	CU_ASSERT_EQUAL(mp_calltree_by_parse("size", &by), -1);
	CU_ASSERT_TRUE(mp_calltree_by_bytes(MP_CALLTREE_PEAK));
	CU_ASSERT_FALSE(mp_calltree_by_bytes(MP_CALLTREE_TEMPORARY));
}

int mp_suite_calltree(void)
{
	CU_pSuite s = CU_add_suite("calltree", NULL, NULL);
	if (!s || !CU_add_test(s, "load", test_load) || !CU_add_test(s, "build", test_build) ||
	    !CU_add_test(s, "by", test_by))
		return -1;
	return 0;
}
