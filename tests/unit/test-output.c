/* Unit tests of the query commands' output: human sizes and durations,
 * JSON escaping and layout, CSV quoting, and call stacks loaded from an
 * in-memory trace and rendered. */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "tracedb.h"
#include "unit.h"
#include "util.h"

/* Captures what a writer prints into a FILE. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->f);
}

/* Closes the stream; the text stays in c->buf until cap_free. */
static const char *cap_text(struct capture *c)
{
	fclose(c->f);
	c->f = NULL;
	return c->buf;
}

static void cap_free(struct capture *c)
{
	free(c->buf);
	c->buf = NULL;
}

static void test_human(void)
{
	static const struct {
		int64_t v;
		const char *s;
	} sizes[] = {
	        {0, "0 B"},
	        {512, "512 B"},
	        {1023, "1023 B"},
	        {1024, "1.00 KiB"},
	        {2000, "1.95 KiB"},
	        {14848, "14.50 KiB"},
	        {2000000, "1.91 MiB"},
	        {1048575, "1.00 MiB"}, /* 1023.999 KiB rounds up a unit, never "1024.00 KiB" */
	        {3221225472, "3.00 GiB"},
	        {-2048, "-2.00 KiB"},
	        {INT64_MAX, "8.00 EiB"},
	        {INT64_MIN, "-8.00 EiB"},
	};
	char buf[MP_HUMAN_MAX];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		CU_ASSERT_STRING_EQUAL(mp_human_size(sizes[i].v, buf, sizeof(buf)), sizes[i].s);
	CU_ASSERT_STRING_EQUAL(mp_human_duration(1234000000, buf, sizeof(buf)), "1.234 s");
	CU_ASSERT_STRING_EQUAL(mp_human_duration(123000000, buf, sizeof(buf)), "0.123 s");
	CU_ASSERT_STRING_EQUAL(mp_human_duration(12300000, buf, sizeof(buf)), "12.3 ms");
	CU_ASSERT_STRING_EQUAL(mp_human_duration(45600, buf, sizeof(buf)), "45.6 us");
	CU_ASSERT_STRING_EQUAL(mp_human_duration(789, buf, sizeof(buf)), "789 ns");
	CU_ASSERT_STRING_EQUAL(mp_human_duration(0, buf, sizeof(buf)), "0 ns");
}

static void test_parse(void)
{
	int64_t v = -1;
	char err[256];
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "42", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "abc", &v, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "option '-n' needs a number, not 'abc'");
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "-1", &v, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "", &v, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "12x", &v, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "9223372036854775807", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(mp_parse_uint("-n", "9223372036854775808", &v, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(mp_parse_size("--min", "64k", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, 65536);
	CU_ASSERT_EQUAL(mp_parse_size("--min", "2MiB", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, 2 << 20);
	CU_ASSERT_EQUAL(mp_parse_size("--min", "100", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, 100);
	CU_ASSERT_EQUAL(mp_parse_size("--min", "3 GB", &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v, (int64_t)3 << 30);
	CU_ASSERT_EQUAL(mp_parse_size("--min", "12q", &v, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'--min'"));
	CU_ASSERT_EQUAL(mp_parse_size("--min", "9999999999999T", &v, err, sizeof(err)), -1);
	enum mp_format f;
	CU_ASSERT_EQUAL(mp_format_parse("json", &f), 0);
	CU_ASSERT_EQUAL(f, MP_FMT_JSON);
	CU_ASSERT_EQUAL(mp_format_parse("xml", &f), -1);
}

static void test_json(void)
{
	struct capture c;
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	        {"plain", 5, "\"plain\""},
	        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
	        {"\n\t\r\b\f\x01\x1f", 7, "\"\\n\\t\\r\\b\\f\\u0001\\u001f\""},
	        {"nul\0x", 5, "\"nul\\u0000x\""},
	        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
	        {"bad\xff", 4, "\"bad\\ufffd\""},
	        {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},                       /* overlong '/' */
	        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},            /* a surrogate */
	        {"\xe2\x82", 2, "\"\\ufffd\\ufffd\""},                       /* cut short */
	        {"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* above U+10FFFF */
	        {"\xc3", 1, "\"\\ufffd\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cap_open(&c);
		mp_json_quote_to(c.f, cases[i].in, cases[i].len);
		CU_ASSERT_STRING_EQUAL(cap_text(&c), cases[i].out);
		cap_free(&c);
	}

	/* Layout and commas: nested, flat, empty containers, null. */
	struct mp_json j;
	cap_open(&c);
	mp_json_init(&j, c.f);
	mp_json_object_begin(&j, 0);
	mp_json_kv_int(&j, "n", -5);
	mp_json_kv_string(&j, "s", NULL);
	mp_json_key(&j, "flat");
	mp_json_array_begin(&j, 1);
	mp_json_int(&j, 1);
	mp_json_string(&j, "x");
	mp_json_object_begin(&j, 0); /* inside a flat one: flat too */
	mp_json_kv_int(&j, "k", 2);
	mp_json_object_end(&j);
	mp_json_array_end(&j);
	mp_json_key(&j, "empty");
	mp_json_array_begin(&j, 0);
	mp_json_array_end(&j);
	mp_json_key(&j, "list");
	mp_json_array_begin(&j, 0);
	mp_json_double(&j, 0.5);
	mp_json_null(&j);
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
	CU_ASSERT_STRING_EQUAL(cap_text(&c), "{\n"
	                                     "  \"n\": -5,\n"
	                                     "  \"s\": null,\n"
	                                     "  \"flat\": [1, \"x\", {\"k\": 2}],\n"
	                                     "  \"empty\": [],\n"
	                                     "  \"list\": [\n"
	                                     "    0.5,\n"
	                                     "    null\n"
	                                     "  ]\n"
	                                     "}\n");
	cap_free(&c);
}

static void test_csv(void)
{
	struct capture c;
	cap_open(&c);
	mp_csv_field(c.f, "plain", 1);
	mp_csv_field(c.f, "a,b", 0);
	mp_csv_field(c.f, "say \"hi\"", 0);
	mp_csv_field(c.f, "two\nlines", 0);
	mp_csv_field(c.f, "cr\r", 0);
	mp_csv_field(c.f, NULL, 0);
	mp_csv_field(c.f, "", 0);
	mp_csv_int(c.f, -7, 0);
	mp_csv_field(c.f, "\"", 0);
	mp_csv_end(c.f);
	mp_csv_int(c.f, 1, 1);
	mp_csv_end(c.f);
	CU_ASSERT_STRING_EQUAL(cap_text(&c),
	                       "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",,,-7,\"\"\"\"\n1\n");
	cap_free(&c);
}

/* A trace in memory with the real schema and a few stacks:
 *   3 -> 2 -> 1: alloc_here (a.c:10), caller (b.c:20) with inl (b.h:5)
 *                inlined in it, then 0x1234 in libfoo.so (no symbol)
 *   12 -> 11 -> 10: alloc_here, start (libc, no file), [truncated]
 *   30 -> 29 -> ... -> 20: eleven frames
 *   40: its parent 41 is missing; 50 <-> 51 loop */
static sqlite3 *trace_db(void)
{
	sqlite3 *db = NULL;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(":memory:", &db), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, mp_schema_sql, NULL, NULL, NULL), SQLITE_OK);
	const char *rows = "INSERT INTO modules VALUES (1, '/usr/bin/prog', 'ab12'), (2, '/usr/lib/libfoo.so', NULL),"
	                   " (3, '/lib/x86_64-linux-gnu/libc.so.6', NULL);"
	                   "INSERT INTO frames VALUES (1, 1, 4096, 'alloc_here', 'a.c', 10, NULL),"
	                   " (2, 1, 8192, 'caller', 'b.c', 20, '[{\"function\":\"inl\",\"file\":\"b.h\",\"line\":5}]'),"
	                   " (3, 2, 4660, NULL, NULL, NULL, NULL),"
	                   " (4, 3, 256, 'start', NULL, NULL, NULL),"
	                   " (5, NULL, 99, 'loop', 'l.c', 1, 'not json');"
	                   "INSERT INTO stacks VALUES (1, 0, 3), (2, 1, 2), (3, 2, 1),"
	                   " (10, 0, 0), (11, 10, 4), (12, 11, 1),"
	                   " (20, 0, 5), (21, 20, 5), (22, 21, 5), (23, 22, 5), (24, 23, 5), (25, 24, 5), (26, 25, 5),"
	                   " (27, 26, 5), (28, 27, 5), (29, 28, 5), (30, 29, 1),"
	                   " (40, 41, 1), (50, 51, 1), (51, 50, 1);";
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void test_stacks(void)
{
	sqlite3 *db = trace_db();
	struct mp_stack_loader l;
	struct mp_stack s = {0};
	struct capture c;
	struct mp_buf b = {0};
	CU_ASSERT_EQUAL_FATAL(mp_stack_loader_init(&l, db), 0);

	/* Three physical frames, one inlined: four logical ones. */
	CU_ASSERT_EQUAL_FATAL(mp_stack_load(&l, 3, &s), 0);
	CU_ASSERT_EQUAL_FATAL(s.n, 4);
	CU_ASSERT_STRING_EQUAL(s.v[0]->function, "alloc_here");
	CU_ASSERT_STRING_EQUAL(s.v[1]->function, "inl");
	CU_ASSERT_STRING_EQUAL(s.v[1]->file, "b.h");
	CU_ASSERT_EQUAL(s.v[1]->line, 5);
	CU_ASSERT_TRUE(s.v[1]->flags & MP_FRAME_INLINED);
	CU_ASSERT_EQUAL(s.v[1]->address, 8192);
	CU_ASSERT_STRING_EQUAL(s.v[1]->module, "/usr/bin/prog");
	CU_ASSERT_STRING_EQUAL(s.v[2]->function, "caller");
	CU_ASSERT_FALSE(s.v[2]->flags & MP_FRAME_INLINED);
	CU_ASSERT_PTR_NULL(s.v[3]->function);
	CU_ASSERT_EQUAL(s.v[3]->address, 0x1234);
	cap_open(&c);
	mp_stack_print_text(c.f, &s, "  ", 0);
	CU_ASSERT_STRING_EQUAL(cap_text(&c), "  alloc_here (a.c:10)\n"
	                                     "    called from inl (b.h:5) [inlined]\n"
	                                     "    called from caller (b.c:20)\n"
	                                     "    called from 0x1234 (libfoo.so)\n");
	cap_free(&c);
	mp_stack_format_line(&s, &b);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b),
	                       "alloc_here (a.c:10) <- inl (b.h:5) [inlined] <- caller (b.c:20) <- 0x1234 (libfoo.so)");
	mp_buf_reset(&b);
	struct mp_json j;
	cap_open(&c);
	mp_json_init(&j, c.f);
	mp_stack_json(&j, &s);
	CU_ASSERT_STRING_EQUAL(
	        cap_text(&c),
	        "[\n"
	        "  {\"function\": \"alloc_here\", \"file\": \"a.c\", \"line\": 10, \"module\": \"/usr/bin/prog\", "
	        "\"address\": \"0x1000\"},\n"
	        "  {\"function\": \"inl\", \"file\": \"b.h\", \"line\": 5, \"module\": \"/usr/bin/prog\", "
	        "\"address\": \"0x2000\"},\n"
	        "  {\"function\": \"caller\", \"file\": \"b.c\", \"line\": 20, \"module\": \"/usr/bin/prog\", "
	        "\"address\": \"0x2000\"},\n"
	        "  {\"function\": null, \"file\": null, \"line\": null, \"module\": \"/usr/lib/libfoo.so\", "
	        "\"address\": \"0x1234\"}\n"
	        "]");
	cap_free(&c);

	/* Cut at the depth limit: ends with [truncated]; no file: the module. */
	CU_ASSERT_EQUAL_FATAL(mp_stack_load(&l, 12, &s), 0);
	CU_ASSERT_EQUAL_FATAL(s.n, 3);
	CU_ASSERT_TRUE(s.v[2]->flags & MP_FRAME_TRUNCATED);
	cap_open(&c);
	mp_stack_print_text(c.f, &s, "", 0);
	CU_ASSERT_STRING_EQUAL(cap_text(&c), "alloc_here (a.c:10)\n"
	                                     "    called from start (libc.so.6)\n"
	                                     "    called from [truncated]\n");
	cap_free(&c);
	cap_open(&c);
	mp_json_init(&j, c.f);
	mp_stack_json(&j, &s);
	CU_ASSERT_PTR_NOT_NULL(strstr(cap_text(&c), "{\"function\": \"[truncated]\", \"file\": null, \"line\": null, "
	                                            "\"module\": null, \"address\": null}"));
	cap_free(&c);

	/* Eleven frames: text shows the innermost and 8 callers unless full;
	   a malformed inlined list is ignored. */
	CU_ASSERT_EQUAL_FATAL(mp_stack_load(&l, 30, &s), 0);
	CU_ASSERT_EQUAL_FATAL(s.n, 11);
	cap_open(&c);
	mp_stack_print_text(c.f, &s, "", 0);
	const char *text = cap_text(&c);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "    ... 2 more callers (--full-stacks shows them)\n"));
	size_t lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	CU_ASSERT_EQUAL(lines, 10);
	cap_free(&c);
	cap_open(&c);
	mp_stack_print_text(c.f, &s, "", 1);
	text = cap_text(&c);
	lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	CU_ASSERT_EQUAL(lines, 11);
	CU_ASSERT_PTR_NULL(strstr(text, "more callers"));
	cap_free(&c);

	/* The empty stack; a missing parent and a loop fail, never hang. */
	CU_ASSERT_EQUAL(mp_stack_load(&l, 0, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	cap_open(&c);
	mp_stack_print_text(c.f, &s, "", 0);
	CU_ASSERT_STRING_EQUAL(cap_text(&c), "[no stack]\n");
	cap_free(&c);
	CU_ASSERT_EQUAL(mp_stack_load(&l, 40, &s), -1);
	CU_ASSERT_STRING_EQUAL(l.err, "damaged trace: stack 41 is missing");
	CU_ASSERT_EQUAL(mp_stack_load(&l, 50, &s), -1);
	CU_ASSERT_STRING_EQUAL(l.err, "damaged trace: stack 50 loops");

	mp_buf_free(&b);
	mp_stack_free(&s);
	mp_stack_loader_fini(&l);
	sqlite3_close(db);
}

/* The trace's meta 'fold': inlined frames of folded functions at the
   innermost end of a stack are left out, elsewhere kept. */
static void test_stacks_folded(void)
{
	sqlite3 *db = trace_db();
	const char *rows =
	        "INSERT INTO meta VALUES ('fold', 'operator new*;std::*');"
	        "INSERT INTO frames VALUES (6, 1, 12288, 'user', 'u.c', 7,"
	        " '[{\"function\":\"std::__new_allocator<int>::allocate(unsigned long, void const*)\",\"file\":\"n.h\","
	        "\"line\":1},{\"function\":\"std::vector<int>::push_back(int const&)\",\"file\":\"v.h\",\"line\":2}]'),"
	        " (7, 1, 16384, 'outer', 'o.c', 3, '[{\"function\":\"std::sort(int*, "
	        "int*)\",\"file\":\"s.h\",\"line\":4}]');"
	        "INSERT INTO stacks VALUES (60, 0, 7), (61, 60, 6), (62, 60, 1);";
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
	struct mp_stack_loader l;
	struct mp_stack s = {0};
	struct mp_buf b = {0};
	CU_ASSERT_EQUAL_FATAL(mp_stack_loader_init(&l, db), 0);
	CU_ASSERT_EQUAL_FATAL(mp_stack_load(&l, 61, &s), 0);
	mp_stack_format_line(&s, &b);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b),
	                       "user (u.c:7) <- std::sort(int*, int*) (s.h:4) [inlined] <- outer (o.c:3)");
	mp_buf_reset(&b);
	/* A physical frame first: nothing to leave out. */
	CU_ASSERT_EQUAL_FATAL(mp_stack_load(&l, 62, &s), 0);
	mp_stack_format_line(&s, &b);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b),
	                       "alloc_here (a.c:10) <- std::sort(int*, int*) (s.h:4) [inlined] <- outer (o.c:3)");
	mp_buf_free(&b);
	mp_stack_free(&s);
	mp_stack_loader_fini(&l);
	sqlite3_close(db);
}

int mp_suite_output(void)
{
	CU_pSuite s = CU_add_suite("output", NULL, NULL);
	if (!s || !CU_add_test(s, "human sizes and durations", test_human) ||
	    !CU_add_test(s, "numbers, sizes and formats", test_parse) ||
	    !CU_add_test(s, "JSON escaping and layout", test_json) || !CU_add_test(s, "CSV quoting", test_csv) ||
	    !CU_add_test(s, "stacks: loading and rendering", test_stacks) ||
	    !CU_add_test(s, "stacks: folded inlined frames", test_stacks_folded))
		return -1;
	return 0;
}
