/* memprof leaks: blocks never freed, grouped by stack over processes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "builtin.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"

static void usage(FILE *out)
{
	fputs("usage: memprof leaks [-n N] [--full-stacks] [--format text|json|csv] [--pid PID] [--run K]\n"
	      "                     TRACE\n"
	      "\n"
	      "Blocks still live when their process ended, grouped by the stack that\n"
	      "allocated them (summed over processes), the most bytes first. An image\n"
	      "that exec'd leaks nothing; a fork child does not count inherited blocks.\n"
	      "In a trace of several runs (memprof run --repeat), the leaks of one run:\n"
	      "the median run by leaked bytes, or --run K.\n"
	      "\n"
	      "    -n N            show N sites (default 0: all)\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    --run K         run K of a repeated trace\n"
	      "    -h, --help      this help\n",
	      out);
}

static void print_head(const struct mp_query *q, struct mp_json *j, int64_t bytes, int64_t blocks, int64_t run,
                       size_t nruns)
{
	char a[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_init(j, stdout);
		mp_json_object_begin(j, 0);
		mp_json_key(j, "leaks");
		mp_json_object_begin(j, 0);
		if (run > 0) {
			mp_json_kv_int(j, "run", run);
			mp_json_kv_int(j, "runs", (int64_t)nruns);
		}
		mp_json_kv_int(j, "leaked_bytes", bytes);
		mp_json_kv_int(j, "leaked_blocks", blocks);
		mp_json_key(j, "sites");
		mp_json_array_begin(j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,bytes,blocks,stack\n", stdout);
	} else {
		mp_runs_note(stdout, q, MP_RUN_LEAKED, run, nruns);
	}
	if (q->format == MP_FMT_TEXT && (blocks > 0 || bytes > 0)) {
		printf("leaked: %s (%" PRId64 " bytes) in %" PRId64 " block%s\n", mp_human_size(bytes, a, sizeof(a)),
		       bytes, blocks, blocks == 1 ? "" : "s");
	}
}

static void print_site(const struct mp_query *q, struct mp_json *j, int64_t rank, int64_t bytes, int64_t blocks,
                       const struct mp_stack *stack)
{
	char a[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_object_begin(j, 0);
		mp_json_kv_int(j, "bytes", bytes);
		mp_json_kv_int(j, "blocks", blocks);
		mp_json_key(j, "stack");
		mp_stack_json(j, stack);
		mp_json_object_end(j);
	} else if (q->format == MP_FMT_CSV) {
		struct mp_buf line = {0};
		mp_stack_format_line(stack, &line);
		mp_csv_int(stdout, rank, 1);
		mp_csv_int(stdout, bytes, 0);
		mp_csv_int(stdout, blocks, 0);
		mp_csv_field(stdout, mp_buf_str(&line), 0);
		mp_csv_end(stdout);
		mp_buf_free(&line);
	} else {
		printf("\n#%" PRId64 "  %s in %" PRId64 " block%s\n", rank, mp_human_size(bytes, a, sizeof(a)), blocks,
		       blocks == 1 ? "" : "s");
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
}

/* Prints the leaks; returns 0 or an exit code after a message. */
static int leaks(sqlite3 *db, const struct mp_query *q, int64_t bytes, int64_t blocks, int64_t run, size_t nruns)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(leaked_bytes), sum(leaked_blocks) FROM main.sites WHERE leaked_blocks > 0%s%s"
	         " GROUP BY stack_id ORDER BY 2 DESC, 3 DESC, stack_id LIMIT ?2",
	         q->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
	         run > 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?3)" : "");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
	sqlite3_bind_int64(st, 2, q->limit > 0 ? q->limit : -1);
	if (run > 0)
		sqlite3_bind_int64(st, 3, run);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_json j;
	print_head(q, &j, bytes, blocks, run, nruns);
	struct mp_stack stack = {0};
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (mp_stack_load(&l, sqlite3_column_int64(st, 0), &stack)) {
			rc = -1;
			break;
		}
		print_site(q, &j, ++rank, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), &stack);
	}
	int exit_code = mp_query_sites_end(q, db, rc, st, &l, &stack, &j);
	if (exit_code)
		return exit_code;
	if (q->format == MP_FMT_TEXT && rank == 0 && blocks == 0 && bytes == 0)
		fputs("no leaks\n", stdout);
	return 0;
}

int cmd_leaks(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        MP_QUERY_RUN_OPTION,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "leaks", 0);
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1)
		if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
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
	int64_t run;
	size_t nruns;
	if (!(rc = mp_runs_choose(db, &q, MP_RUN_LEAKED, &run, &nruns)) && !(rc = mp_query_processes(&q, db, &ps))) {
		int64_t bytes = 0, blocks = 0;
		for (size_t i = 0; i < ps.n; i++) {
			if (run > 0 && ps.v[i].run != run)
				continue;
			bytes = mp_add_sat(bytes, ps.v[i].leaked_bytes);
			blocks = mp_add_sat(blocks, ps.v[i].leaked_blocks);
		}
		rc = leaks(db, &q, bytes, blocks, run, nruns);
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
