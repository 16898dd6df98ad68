/* memprof peak: the largest peak of live bytes of any process, when it was
 * reached, and the sites whose blocks were live then. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "builtin.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

static void usage(FILE *out)
{
	fputs("usage: memprof peak [-n N] [--full-stacks] [--format text|json|csv] [--pid PID] [--run K]\n"
	      "                    TRACE\n"
	      "\n"
	      "The peak of live requested bytes of the process with the largest one (or\n"
	      "of the process chosen by --pid), when it was first reached, and the sites\n"
	      "whose blocks were live at that moment, largest first. In a trace of\n"
	      "several runs (memprof run --repeat), the peak of one run: the median run\n"
	      "by peak, or --run K.\n"
	      "--phase, --from and --to are refused: the peak is found in the exact order\n"
	      "of events as they were recorded, which the trace keeps only to the\n"
	      "microsecond; a window's peak would not be exact. 'memprof timeline\n"
	      "--phase NAME' shows the heap during a window.\n"
	      "\n"
	      "    -n N            show N sites (default 10; 0: all)\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       the process with that pid (the largest peak of its images)\n"
	      "    --run K         run K of a repeated trace\n"
	      "    --phase NAME, --from T, --to T\n"
	      "                    refused (see above)\n"
	      "    -h, --help      this help\n",
	      out);
}

static void print_head(const struct mp_query *q, struct mp_json *j, const struct mp_process *p, int64_t run,
                       size_t nruns)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX];
	if (q->format == MP_FMT_TEXT)
		mp_runs_note(stdout, q, MP_RUN_PEAK, run, nruns);
	if (q->format == MP_FMT_JSON) {
		mp_json_init(j, stdout);
		mp_json_object_begin(j, 0);
		mp_json_key(j, "peak");
		mp_json_object_begin(j, 0);
		if (run > 0) {
			mp_json_kv_int(j, "run", run);
			mp_json_kv_int(j, "runs", (int64_t)nruns);
		}
		mp_json_key(j, "pid");
		if (p)
			mp_json_int(j, p->pid);
		else
			mp_json_null(j);
		mp_json_kv_int(j, "peak_bytes", p ? p->peak_bytes : 0);
		mp_json_key(j, "time_ns");
		if (p)
			mp_json_int(j, p->peak_time_ns);
		else
			mp_json_null(j);
		mp_json_key(j, "sites");
		mp_json_array_begin(j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,bytes,blocks,stack\n", stdout);
	} else if (!p) {
		fputs("peak: 0 B (no process recorded)\n", stdout);
	} else {
		struct mp_buf cmd = {0};
		mp_argv_join(p->argv, &cmd);
		printf("peak: %s (%" PRId64 " bytes) at %s in pid %" PRId64 " (",
		       mp_human_size(p->peak_bytes, a, sizeof(a)), p->peak_bytes,
		       mp_human_duration(p->peak_time_ns, b, sizeof(b)), p->pid);
		mp_text_puts(stdout, mp_buf_str(&cmd));
		fputs(")\n", stdout);
		mp_buf_free(&cmd);
	}
}

static void print_site(const struct mp_query *q, struct mp_json *j, int64_t rank, int64_t bytes, int64_t blocks,
                       int64_t peak, const struct mp_stack *stack)
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
		printf("\n#%" PRId64 "  %s in %" PRId64 " block%s", rank, mp_human_size(bytes, a, sizeof(a)), blocks,
		       blocks == 1 ? "" : "s");
		if (peak > 0)
			printf(" (%.1f%%)", 100.0 * (double)bytes / (double)peak);
		fputc('\n', stdout);
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
}

const struct mp_process *mp_peak_process(const struct mp_processes *ps, int64_t run)
{
	const struct mp_process *best = NULL; /* the first of the largest peaks */
	for (size_t i = 0; i < ps->n; i++)
		if ((run <= 0 || ps->v[i].run == run) && (!best || ps->v[i].peak_bytes > best->peak_bytes))
			best = &ps->v[i];
	return best;
}

int mp_peak_prepare(sqlite3 *db, int64_t process_id, int64_t limit, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT stack_id, peak_bytes, peak_blocks FROM main.sites"
	                            " WHERE process_id = ?1 AND peak_bytes > 0"
	                            " ORDER BY peak_bytes DESC, peak_blocks DESC, stack_id LIMIT ?2",
	                            -1, st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(*st, 1, process_id);
	sqlite3_bind_int64(*st, 2, limit > 0 ? limit : -1);
	return SQLITE_OK;
}

/* Prints the peak of p (NULL: no process); returns 0 or an exit code. */
static int peak(sqlite3 *db, const struct mp_query *q, const struct mp_process *p, int64_t run, size_t nruns)
{
	sqlite3_stmt *st;
	if (mp_peak_prepare(db, p ? p->id : -1, q->limit, &st) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_json j;
	print_head(q, &j, p, run, nruns);
	struct mp_stack stack = {0};
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (mp_stack_load(&l, sqlite3_column_int64(st, 0), &stack)) {
			rc = -1;
			break;
		}
		print_site(q, &j, ++rank, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		           p ? p->peak_bytes : 0, &stack);
	}
	int exit_code = mp_query_sites_end(q, db, rc, st, &l, &stack, &j);
	if (exit_code)
		return exit_code;
	return 0;
}

int cmd_peak(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,  MP_QUERY_RUN_OPTION, {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        MP_WINDOW_LONG_OPTIONS, {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "peak", 10);
	struct mp_window w;
	mp_window_init(&w);
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
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
	if (mp_window_set(&w))
		return mp_usage_error(q.cmd,
		                      "--phase, --from and --to cannot be used: a window's peak would not be exact"
		                      " (times are kept to 0.1 ms)");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	struct mp_processes ps;
	int64_t run;
	size_t nruns;
	if (!(rc = mp_runs_choose(db, &q, MP_RUN_PEAK, &run, &nruns)) && !(rc = mp_query_processes(&q, db, &ps))) {
		rc = peak(db, &q, mp_peak_process(&ps, run), run, nruns);
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
