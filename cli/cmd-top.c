/* memprof top: the allocation sites ranked by bytes, count, peak, leaks or
 * temporaries, summed over processes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "views.h"

const struct mp_top_order mp_top_orders[MP_TOP_ORDERS] = {
        {"by-bytes", "bytes", "sum(bytes)", "bytes allocated"},
        {"by-count", "count", "sum(allocations)", "number of allocations"},
        {"by-peak", "peak", "sum(peak_bytes)", "bytes live at the peak"},
        {"by-leaked", "leaked", "sum(leaked_bytes)", "bytes leaked"},
        {"by-temporary", "temporary", "sum(temporary)", "temporary allocations"},
};

enum { OPT_ORDER = MP_OPT_FIRST_PRIVATE }; /* + index in mp_top_orders */

static void usage(FILE *out)
{
	fputs("usage: memprof top [--by-bytes|--by-count|--by-peak|--by-leaked|--by-temporary] [-n N]\n"
	      "                   [--full-stacks] [--format text|json|csv] [--pid PID] TRACE\n"
	      "\n"
	      "The allocation sites (full call stacks) that allocated the most, summed\n"
	      "over the processes of the trace. Sites whose figure is 0 are left out.\n"
	      "\n"
	      "    --by-bytes      rank by bytes allocated (the default)\n"
	      "    --by-count      rank by number of allocations\n"
	      "    --by-peak       rank by bytes live at the peak of their process\n"
	      "    --by-leaked     rank by bytes never freed\n"
	      "    --by-temporary  rank by allocations freed before the next one\n"
	      "    -n N            show N sites (default 10; 0: all)\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
}

static void print_site(const struct mp_query *q, struct mp_json *j, int64_t rank, const struct mp_top_site *s,
                       const struct mp_stack *stack)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_object_begin(j, 0);
		mp_json_kv_int(j, "allocations", s->allocations);
		mp_json_kv_int(j, "bytes", s->bytes);
		mp_json_kv_int(j, "peak_bytes", s->peak_bytes);
		mp_json_kv_int(j, "leaked_bytes", s->leaked_bytes);
		mp_json_kv_int(j, "leaked_blocks", s->leaked_blocks);
		mp_json_kv_int(j, "temporary", s->temporary);
		mp_json_kv_int(j, "frees", s->frees);
		mp_json_key(j, "stack");
		mp_stack_json(j, stack);
		mp_json_object_end(j);
	} else if (q->format == MP_FMT_CSV) {
		struct mp_buf line = {0};
		mp_stack_format_line(stack, &line);
		const int64_t v[] = {
		        rank, s->allocations, s->bytes, s->peak_bytes, s->leaked_bytes, s->leaked_blocks, s->temporary};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			mp_csv_int(stdout, v[i], i == 0);
		mp_csv_field(stdout, mp_buf_str(&line), 0);
		mp_csv_end(stdout);
		mp_buf_free(&line);
	} else {
		printf("\n#%" PRId64 "  %s in %" PRId64 " allocation%s (peak %s, leaked %s, temporary %" PRId64 ")\n",
		       rank, mp_human_size(s->bytes, a, sizeof(a)), s->allocations, s->allocations == 1 ? "" : "s",
		       mp_human_size(s->peak_bytes, b, sizeof(b)), mp_human_size(s->leaked_bytes, c, sizeof(c)),
		       s->temporary);
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
}

int mp_top_prepare(sqlite3 *db, const struct mp_top_order *o, int64_t pid, int64_t limit, sqlite3_stmt **st)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(allocations), sum(bytes), sum(peak_bytes), sum(leaked_bytes),"
	         " sum(leaked_blocks), sum(temporary), sum(frees) FROM main.sites%s"
	         " GROUP BY stack_id HAVING %s > 0 ORDER BY %s DESC, sum(bytes) DESC, stack_id LIMIT ?2",
	         pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "", o->sum, o->sum);
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (pid >= 0)
		sqlite3_bind_int64(*st, 1, pid);
	sqlite3_bind_int64(*st, 2, limit > 0 ? limit : -1);
	return SQLITE_OK;
}

void mp_top_row(sqlite3_stmt *st, struct mp_top_site *s)
{
	int64_t *v[] = {&s->stack_id,     &s->allocations,   &s->bytes,     &s->peak_bytes,
	                &s->leaked_bytes, &s->leaked_blocks, &s->temporary, &s->frees};
	for (int i = 0; i < 8; i++)
		*v[i] = sqlite3_column_int64(st, i);
}

/* Prints the ranked sites; returns 0 or an exit code after a message. */
static int top(sqlite3 *db, const struct mp_query *q, const struct mp_top_order *o)
{
	sqlite3_stmt *st;
	if (mp_top_prepare(db, o, q->pid, q->limit, &st) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_json j;
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "top");
		mp_json_object_begin(&j, 0);
		mp_json_kv_string(&j, "order", o->name);
		mp_json_key(&j, "sites");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,allocations,bytes,peak_bytes,leaked_bytes,leaked_blocks,temporary,stack\n", stdout);
	} else {
		printf("top sites by %s:\n", o->title);
	}
	struct mp_stack stack = {0};
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mp_top_site s;
		mp_top_row(st, &s);
		if (mp_stack_load(&l, s.stack_id, &stack)) {
			rc = -1;
			break;
		}
		print_site(q, &j, ++rank, &s, &stack);
	}
	int exit_code = mp_query_sites_end(q, db, rc, st, &l, &stack, &j);
	if (exit_code)
		return exit_code;
	if (q->format == MP_FMT_TEXT && rank == 0)
		printf("\nno sites with %s\n", o->title);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {"by-bytes", no_argument, NULL, OPT_ORDER + 0},
	        {"by-count", no_argument, NULL, OPT_ORDER + 1},
	        {"by-peak", no_argument, NULL, OPT_ORDER + 2},
	        {"by-leaked", no_argument, NULL, OPT_ORDER + 3},
	        {"by-temporary", no_argument, NULL, OPT_ORDER + 4},
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "top", 10);
	const struct mp_top_order *o = &mp_top_orders[0];
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		if (opt >= OPT_ORDER && opt < OPT_ORDER + MP_TOP_ORDERS)
			o = &mp_top_orders[opt - OPT_ORDER];
		else if ((rc = mp_query_option(&q, opt, argv)) != 0)
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
	if (q.pid >= 0) {
		struct mp_processes ps;
		if (!(rc = mp_query_processes(&q, db, &ps)))
			mp_processes_free(&ps);
	}
	if (!rc)
		rc = top(db, &q, o);
	if (!rc)
		rc = mp_finish_output();
	mp_trace_close(db);
	return rc;
}
