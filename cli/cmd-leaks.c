/* memprof leaks: blocks never freed, grouped by stack over processes; with
 * the leak scan's findings, definitely lost (unreachable) ones first. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"
#include "output.h"
#include "reach.h"
#include "trace.h"
#include "util.h"

enum { OPT_UNREACHABLE = MP_OPT_FIRST_PRIVATE };

static void usage(FILE *out)
{
	fputs("usage: memprof leaks [-n N] [--unreachable] [--full-stacks] [--format text|json|csv]\n"
	      "                     [--pid PID] TRACE\n"
	      "\n"
	      "Blocks still live when their process ended, grouped by the stack that\n"
	      "allocated them (summed over processes), the most bytes first. An image\n"
	      "that exec'd leaks nothing; a fork child does not count inherited blocks.\n"
	      "Where the leak scan ran at exit, text shows the definitely lost blocks\n"
	      "(unreachable: no pointer to them is left) first, then the still\n"
	      "reachable ones, then those it could not classify.\n"
	      "\n"
	      "    -n N            show N sites (default 0: all; in text, per group)\n"
	      "    --unreachable   only the definitely lost (unreachable) blocks\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
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
static int load_rows(sqlite3 *db, const struct mp_query *q, int have_reach, struct row **out, size_t *n)
{
	char sql[768];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(leaked_bytes), sum(leaked_blocks), %s FROM main.sites WHERE leaked_blocks > 0%s"
	         " GROUP BY stack_id ORDER BY 2 DESC, 3 DESC, stack_id",
	         have_reach ? "sum(unreachable_bytes), sum(unreachable_blocks), sum(reachable_bytes),"
	                      " sum(reachable_blocks)"
	                    : "0, 0, 0, 0",
	         q->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "");
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
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
                      size_t n, int64_t bytes, int64_t blocks, const struct mp_reach_totals *t, int only)
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

/* Prints the leaks; returns 0 or an exit code after a message. */
static int leaks(sqlite3 *db, const struct mp_query *q, int64_t bytes, int64_t blocks, int only)
{
	struct mp_reach_totals t;
	if (mp_reach_totals(db, q->pid, &t))
		return mp_trace_fail_db(q->path, db);
	struct row *rows;
	size_t n;
	if (load_rows(db, q, t.have, &rows, &n)) {
		free(rows);
		return mp_trace_fail_db(q->path, db);
	}
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		free(rows);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_stack stack = {0};
	int rc = q->format == MP_FMT_TEXT ? print_text(q, &l, &stack, rows, n, bytes, blocks, &t, only)
	                                  : print_list(q, &l, &stack, rows, n, bytes, blocks, &t, only);
	int exit_code = rc ? mp_trace_fail(q->path, l.err) : 0;
	mp_stack_free(&stack);
	mp_stack_loader_fini(&l);
	free(rows);
	return exit_code;
}

int cmd_leaks(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {"unreachable", no_argument, NULL, OPT_UNREACHABLE},
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "leaks", 0);
	int opt, rc, only = 0;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		if (opt == OPT_UNREACHABLE) {
			only = 1;
			continue;
		}
		if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if ((rc = mp_query_path(&q, argc, argv)))
		return rc;
	sqlite3 *db;
	if ((rc = mp_trace_open(q.path, &db)))
		return rc;
	struct mp_processes ps;
	if (!(rc = mp_query_processes(&q, db, &ps))) {
		int64_t bytes = 0, blocks = 0;
		for (size_t i = 0; i < ps.n; i++) {
			bytes = mp_add_sat(bytes, ps.v[i].leaked_bytes);
			blocks = mp_add_sat(blocks, ps.v[i].leaked_blocks);
		}
		rc = leaks(db, &q, bytes, blocks, only);
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
