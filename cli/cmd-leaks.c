/* memprof leaks: blocks never freed, grouped by stack over processes; with
 * the leak scan's findings, definitely lost (unreachable) ones first. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "reach.h"
#include "runs.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

enum { OPT_UNREACHABLE = MP_OPT_FIRST_PRIVATE, OPT_MISMATCHES };

static void usage(FILE *out)
{
	fputs("usage: memprof leaks [-n N] [--unreachable] [--mismatches] [--full-stacks]\n"
	      "                     [--phase NAME] [--from T] [--to T]\n"
	      "                     [--format text|json|csv] [--pid PID] [--run K] TRACE\n"
	      "\n"
	      "Blocks still live when their process ended, grouped by the stack that\n"
	      "allocated them (summed over processes), the most bytes first. An image\n"
	      "that exec'd leaks nothing; a fork child does not count inherited blocks.\n"
	      "Where the leak scan ran at exit, text shows the definitely lost blocks\n"
	      "(unreachable: no pointer to them is left) first, then the still\n"
	      "reachable ones, then those it could not classify.\n"
	      "In a trace of several runs (memprof run --repeat), the leaks of one run:\n"
	      "the median run by leaked bytes, or --run K.\n"
	      "With a window (--phase, --from, --to): the blocks allocated in it that\n"
	      "were never freed (the leak scan's classes are not shown then).\n"
	      "\n"
	      "With --mismatches: blocks released by a function that does not match the\n"
	      "one that allocated them (free of new, delete of new[] or malloc, delete[]\n"
	      "of new or malloc), grouped by both stacks and both kinds, the most blocks\n"
	      "first. A block released by free or realloc has no releasing stack.\n"
	      "\n"
	      "    -n N            show N sites (default 0: all; in text, per group)\n"
	      "    --unreachable   only the definitely lost (unreachable) blocks\n"
	      "    --mismatches    mismatched deallocations instead of leaks\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    --run K         run K of a repeated trace\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* A leaking site: leaked bytes, blocks; unreachable bytes, blocks;
   reachable bytes, blocks; then not classified bytes, blocks. */
struct row {
	int64_t stack;
	int64_t v[8];
};

static int group_key; /* the figures sorted on: index into v */

static int by_group(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int k = group_key;
	if (x->v[k] != y->v[k])
		return x->v[k] > y->v[k] ? -1 : 1;
	if (x->v[k + 1] != y->v[k + 1])
		return x->v[k + 1] > y->v[k + 1] ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Loads the leaking sites, the most leaked bytes first. Returns 0 or -1. */
static int load_rows(sqlite3 *db, const struct mp_query *q, const char *table, int have_reach, int64_t run,
                     struct row **out, size_t *n)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(leaked_bytes), sum(leaked_blocks), %s FROM %s WHERE leaked_blocks > 0%s%s"
	         " GROUP BY stack_id ORDER BY 2 DESC, 3 DESC, stack_id",
	         have_reach ? "sum(unreachable_bytes), sum(unreachable_blocks), sum(reachable_bytes),"
	                      " sum(reachable_blocks)"
	                    : "0, 0, 0, 0",
	         table, q->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
	         run > 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?2)" : "");
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
	if (run > 0)
		sqlite3_bind_int64(st, 2, run);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *v = *out;
		mp_grow(&v, &cap, *n + 1, sizeof(**out));
		*out = v;
		struct row *r = &(*out)[(*n)++];
		r->stack = sqlite3_column_int64(st, 0);
		for (int i = 0; i < 6; i++)
			r->v[i] = sqlite3_column_int64(st, 1 + i);
		r->v[6] = r->v[0] - r->v[2] - r->v[4];
		r->v[7] = r->v[1] - r->v[3] - r->v[5];
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void print_blocks(const char *label, int64_t bytes, int64_t blocks, const char *note)
{
	char a[MP_HUMAN_MAX];
	printf("%s%s (%" PRId64 " bytes) in %" PRId64 " block%s%s\n", label, mp_human_size(bytes, a, sizeof(a)), bytes,
	       blocks, blocks == 1 ? "" : "s", note);
}

/* Prints one text group (sites with figures at v[k], v[k + 1]). */
static int print_group(const struct mp_query *q, struct mp_stack_loader *l, struct mp_stack *stack, struct row *rows,
                       size_t n, int k, const char *title)
{
	group_key = k;
	qsort(rows, n, sizeof(*rows), by_group);
	char a[MP_HUMAN_MAX];
	int64_t rank = 0;
	for (size_t i = 0; i < n && rows[i].v[k + 1] > 0 && (q->limit <= 0 || rank < q->limit); i++) {
		if (!rank && title)
			printf("\n== %s ==\n", title);
		if (mp_stack_load(l, rows[i].stack, stack))
			return -1;
		printf("\n#%" PRId64 "  %s in %" PRId64 " block%s\n", ++rank, mp_human_size(rows[i].v[k], a, sizeof(a)),
		       rows[i].v[k + 1], rows[i].v[k + 1] == 1 ? "" : "s");
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
	return 0;
}

static int print_text(const struct mp_query *q, struct mp_stack_loader *l, struct mp_stack *stack, struct row *rows,
                      size_t n, int64_t bytes, int64_t blocks, const struct mp_reach_totals *t, int only)
{
	if (!t->scanned) {
		if (only) {
			fputs("no leak scan in this trace (processes killed, exec'd, or run with --no-scan)\n", stdout);
			return 0;
		}
		if (blocks > 0 || bytes > 0)
			print_blocks("leaked: ", bytes, blocks, "");
		else
			fputs("no leaks\n", stdout);
		return print_group(q, l, stack, rows, n, 0, NULL) ? -1 : 0;
	}
	int64_t other_bytes = bytes - t->unreachable_bytes - t->reachable_bytes;
	int64_t other_blocks = blocks - t->unreachable_blocks - t->reachable_blocks;
	if (!only)
		print_blocks("leaked: ", bytes, blocks, "");
	print_blocks(only ? "definitely lost: " : "  definitely lost: ", t->unreachable_bytes, t->unreachable_blocks,
	             " (unreachable)");
	if (!only) {
		print_blocks("  still reachable: ", t->reachable_bytes, t->reachable_blocks, "");
		if (other_blocks > 0)
			print_blocks("  not classified:  ", other_bytes, other_blocks,
			             " (no leak scan, or allocated after it)");
	}
	if (print_group(q, l, stack, rows, n, 2, "definitely lost (unreachable)"))
		return -1;
	if (!only && (print_group(q, l, stack, rows, n, 4, "still reachable") ||
	              print_group(q, l, stack, rows, n, 6, "not classified")))
		return -1;
	return 0;
}

static int print_list(const struct mp_query *q, struct mp_stack_loader *l, struct mp_stack *stack, struct row *rows,
                      size_t n, int64_t bytes, int64_t blocks, const struct mp_reach_totals *t, int only, int64_t run,
                      size_t nruns, const struct mp_window *w)
{
	static const char *const keys[] = {"unreachable_bytes", "unreachable_blocks", "reachable_bytes",
	                                   "reachable_blocks"};
	struct mp_json j;
	if (only) {
		group_key = 2;
		qsort(rows, n, sizeof(*rows), by_group);
	}
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "leaks");
		mp_json_object_begin(&j, 0);
		if (run > 0) {
			mp_json_kv_int(&j, "run", run);
			mp_json_kv_int(&j, "runs", (int64_t)nruns);
		}
		if (mp_window_set(w))
			mp_window_json(w, &j);
		mp_json_kv_int(&j, "leaked_bytes", bytes);
		mp_json_kv_int(&j, "leaked_blocks", blocks);
		mp_reach_json(&j, t);
		mp_json_key(&j, "sites");
		mp_json_array_begin(&j, 0);
	} else {
		fputs("rank,bytes,blocks,stack,unreachable_bytes,unreachable_blocks,reachable_bytes,reachable_blocks\n",
		      stdout);
	}
	int64_t rank = 0;
	for (size_t i = 0; i < n && (q->limit <= 0 || rank < q->limit); i++) {
		const struct row *r = &rows[i];
		if (only && r->v[3] <= 0)
			break;
		if (mp_stack_load(l, r->stack, stack))
			return -1;
		rank++;
		if (q->format == MP_FMT_JSON) {
			mp_json_object_begin(&j, 0);
			mp_json_kv_int(&j, "bytes", r->v[0]);
			mp_json_kv_int(&j, "blocks", r->v[1]);
			for (int k = 0; k < 4; k++) {
				mp_json_key(&j, keys[k]);
				if (t->scanned)
					mp_json_int(&j, r->v[2 + k]);
				else
					mp_json_null(&j);
			}
			mp_json_key(&j, "stack");
			mp_stack_json(&j, stack);
			mp_json_object_end(&j);
		} else {
			struct mp_buf line = {0};
			mp_stack_format_line(stack, &line);
			mp_csv_int(stdout, rank, 1);
			mp_csv_int(stdout, r->v[0], 0);
			mp_csv_int(stdout, r->v[1], 0);
			mp_csv_field(stdout, mp_buf_str(&line), 0);
			for (int k = 0; k < 4; k++) {
				if (t->scanned)
					mp_csv_int(stdout, r->v[2 + k], 0);
				else
					mp_csv_field(stdout, "", 0);
			}
			mp_csv_end(stdout);
			mp_buf_free(&line);
		}
	}
	if (q->format == MP_FMT_JSON) {
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	}
	return 0;
}

int mp_leaks_prepare(sqlite3 *db, const char *table, int64_t pid, int64_t run, int64_t limit, sqlite3_stmt **st)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(leaked_bytes), sum(leaked_blocks) FROM %s WHERE leaked_blocks > 0%s%s"
	         " GROUP BY stack_id ORDER BY 2 DESC, 3 DESC, stack_id LIMIT ?2",
	         table, pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
	         run > 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?3)" : "");
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (pid >= 0)
		sqlite3_bind_int64(*st, 1, pid);
	sqlite3_bind_int64(*st, 2, limit > 0 ? limit : -1);
	if (run > 0)
		sqlite3_bind_int64(*st, 3, run);
	return SQLITE_OK;
}

/* Prints the leaks; returns 0 or an exit code after a message. */
static int leaks(sqlite3 *db, const struct mp_query *q, int64_t bytes, int64_t blocks, int only, int64_t run,
                 size_t nruns, const struct mp_window *w)
{
	struct mp_reach_totals t;
	if (mp_window_set(w))
		memset(&t, 0, sizeof(t)); /* the scan's classes are per site, not per window */
	else if (mp_reach_totals(db, q->pid, run, &t))
		return mp_trace_fail_db(q->path, db);
	struct row *rows;
	size_t n;
	if (load_rows(db, q, mp_window_table(w), t.have, run, &rows, &n)) {
		free(rows);
		return mp_trace_fail_db(q->path, db);
	}
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		free(rows);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_stack stack = {0};
	if (q->format == MP_FMT_TEXT && mp_window_set(w))
		mp_window_note(stdout, w);
	else if (q->format == MP_FMT_TEXT)
		mp_runs_note(stdout, q, MP_RUN_LEAKED, run, nruns);
	int rc = q->format == MP_FMT_TEXT ? print_text(q, &l, &stack, rows, n, bytes, blocks, &t, only)
	                                  : print_list(q, &l, &stack, rows, n, bytes, blocks, &t, only, run, nruns, w);
	int exit_code = rc ? mp_trace_fail(q->path, l.err) : 0;
	mp_stack_free(&stack);
	mp_stack_loader_fini(&l);
	free(rows);
	return exit_code;
}

/* --- mismatched deallocations ------------------------------------------- */

static void print_mismatch(const struct mp_query *q, struct mp_json *j, int64_t rank, const char *alloc_kind,
                           const char *free_kind, int64_t blocks, int64_t bytes, const struct mp_stack *alloc,
                           const struct mp_stack *freed)
{
	char a[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_object_begin(j, 0);
		mp_json_kv_string(j, "alloc_kind", alloc_kind);
		mp_json_kv_string(j, "free_kind", free_kind);
		mp_json_kv_int(j, "blocks", blocks);
		mp_json_kv_int(j, "bytes", bytes);
		mp_json_key(j, "alloc_stack");
		mp_stack_json(j, alloc);
		mp_json_key(j, "free_stack");
		if (freed)
			mp_stack_json(j, freed);
		else
			mp_json_null(j);
		mp_json_object_end(j);
	} else if (q->format == MP_FMT_CSV) {
		struct mp_buf al = {0}, fl = {0};
		mp_stack_format_line(alloc, &al);
		if (freed)
			mp_stack_format_line(freed, &fl);
		mp_csv_int(stdout, rank, 1);
		mp_csv_field(stdout, alloc_kind, 0);
		mp_csv_field(stdout, free_kind, 0);
		mp_csv_int(stdout, blocks, 0);
		mp_csv_int(stdout, bytes, 0);
		mp_csv_field(stdout, mp_buf_str(&al), 0);
		mp_csv_field(stdout, freed ? mp_buf_str(&fl) : NULL, 0);
		mp_csv_end(stdout);
		mp_buf_free(&al);
		mp_buf_free(&fl);
	} else {
		printf("\n#%" PRId64 "  %" PRId64 " block%s (%s) allocated by %s, released by %s\n", rank, blocks,
		       blocks == 1 ? "" : "s", mp_human_size(bytes, a, sizeof(a)), alloc_kind, free_kind);
		mp_stack_print_text(stdout, alloc, "    ", q->full_stacks);
		if (freed) {
			puts("  released at:");
			mp_stack_print_text(stdout, freed, "    ", q->full_stacks);
		} else {
			printf("  released at: unknown (%s)\n",
			       strcmp(free_kind, "free") ? "MEMPROF_DELETE_STACKS=0" : "free records no stack");
		}
	}
}

/* Prints the mismatched deallocations; returns 0 or an exit code after a
   message. */
static int mismatches(sqlite3 *db, const struct mp_query *q)
{
	const char *where = q->pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "";
	char sql[512];
	sqlite3_stmt *st;
	/* Traces of a memprof without C++ support have no such table. */
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'mismatches'", -1,
	                       &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	int have = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!have)
		return mp_trace_fail(q->path, "no mismatches table (recorded by an older memprof)");
	snprintf(sql, sizeof(sql), "SELECT total(count), total(bytes) FROM main.mismatches%s", where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
	if (sqlite3_step(st) != SQLITE_ROW) {
		int rc = mp_trace_fail_db(q->path, db);
		sqlite3_finalize(st);
		return rc;
	}
	int64_t blocks = (int64_t)sqlite3_column_double(st, 0), bytes = (int64_t)sqlite3_column_double(st, 1);
	sqlite3_finalize(st);

	snprintf(sql, sizeof(sql),
	         "SELECT alloc_stack_id, free_stack_id, alloc_kind, free_kind, sum(count), sum(bytes)"
	         " FROM main.mismatches%s GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 6 DESC, 1, 2, 3, 4 LIMIT ?2",
	         where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
	sqlite3_bind_int64(st, 2, q->limit > 0 ? q->limit : -1);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_json j;
	char a[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "mismatches");
		mp_json_object_begin(&j, 0);
		mp_json_kv_int(&j, "blocks", blocks);
		mp_json_kv_int(&j, "bytes", bytes);
		mp_json_key(&j, "sites");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,alloc_kind,free_kind,blocks,bytes,alloc_stack,free_stack\n", stdout);
	} else if (blocks > 0) {
		printf("mismatched deallocations: %" PRId64 " block%s (%s)\n", blocks, blocks == 1 ? "" : "s",
		       mp_human_size(bytes, a, sizeof(a)));
	}
	struct mp_stack alloc = {0}, freed = {0};
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int have_free = sqlite3_column_type(st, 1) != SQLITE_NULL;
		if (mp_stack_load(&l, sqlite3_column_int64(st, 0), &alloc) ||
		    (have_free && mp_stack_load(&l, sqlite3_column_int64(st, 1), &freed))) {
			rc = -1;
			break;
		}
		const char *ak = (const char *)sqlite3_column_text(st, 2),
		           *fk = (const char *)sqlite3_column_text(st, 3);
		print_mismatch(q, &j, ++rank, ak ? ak : "unknown", fk ? fk : "unknown", sqlite3_column_int64(st, 4),
		               sqlite3_column_int64(st, 5), &alloc, have_free ? &freed : NULL);
	}
	mp_stack_free(&freed);
	int exit_code = mp_query_sites_end(q, db, rc, st, &l, &alloc, &j);
	if (exit_code)
		return exit_code;
	if (q->format == MP_FMT_TEXT && rank == 0)
		fputs("no mismatched deallocations\n", stdout);
	return 0;
}

int cmd_leaks(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {"unreachable", no_argument, NULL, OPT_UNREACHABLE},
	        {"mismatches", no_argument, NULL, OPT_MISMATCHES},
	        MP_QUERY_RUN_OPTION,
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "leaks", 0);
	struct mp_window w;
	mp_window_init(&w);
	int opt, rc, only = 0, want_mismatches = 0;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		if (opt == OPT_UNREACHABLE) {
			only = 1;
			continue;
		}
		if (opt == OPT_MISMATCHES) {
			want_mismatches = 1;
			continue;
		}
		if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (want_mismatches && mp_window_set(&w))
		return mp_window_refuse(q.cmd, "--mismatches", "the trace keeps mismatches per site, without times");
	if (only && mp_window_set(&w))
		return mp_window_refuse(q.cmd, "--unreachable",
		                        "the leak scan's classes are kept per site, without times");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	struct mp_processes ps;
	int64_t run;
	size_t nruns;
	if (!(rc = mp_query_processes(&q, db, &ps))) {
		if (want_mismatches) {
			rc = mismatches(db, &q);
		} else if (mp_window_set(&w)) {
			struct mp_window_totals t = {0};
			if (!(rc = mp_window_run(db, &q, &run)) &&
			    !(rc = mp_window_sites(&w, NULL, db, q.path, q.pid, run))) {
				if (mp_window_totals(db, &t) != SQLITE_OK)
					rc = mp_trace_fail_db(q.path, db);
				else
					rc = leaks(db, &q, t.leaked_bytes, t.leaked_blocks, 0, 0, 0, &w);
			}
		} else if (!(rc = mp_runs_choose(db, &q, MP_RUN_LEAKED, &run, &nruns))) {
			int64_t bytes = 0, blocks = 0;
			for (size_t i = 0; i < ps.n; i++) {
				if (run > 0 && ps.v[i].run != run)
					continue;
				bytes = mp_add_sat(bytes, ps.v[i].leaked_bytes);
				blocks = mp_add_sat(blocks, ps.v[i].leaked_blocks);
			}
			rc = leaks(db, &q, bytes, blocks, only, run, nruns, &w);
		}
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
