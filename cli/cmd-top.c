/* memprof top: the allocation sites ranked by bytes, count, peak, leaks or
 * temporaries, summed over processes (of one run in a repeated trace). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

const struct mp_top_order mp_top_orders[MP_TOP_ORDERS] = {
        {"by-bytes", "bytes", "sum(bytes)", "bytes allocated", "bytes mapped", MP_RUN_BYTES, "bytes_"},
        {"by-count", "count", "sum(allocations)", "number of allocations", "number of mappings", MP_RUN_ALLOCATIONS,
         "allocations_"},
        {"by-peak", "peak", "sum(peak_bytes)", "bytes live at the peak", "bytes mapped at the mapping peak",
         MP_RUN_PEAK, NULL},
        {"by-leaked", "leaked", "sum(leaked_bytes)", "bytes leaked", "bytes still mapped at exit", MP_RUN_LEAKED,
         "leaked_bytes_"},
        {"by-temporary", "temporary", "sum(temporary)", "temporary allocations", "temporary mappings (none)",
         MP_RUN_TEMPORARY, NULL},
};

/* What is ranked: every heap site, or a pool's sites, or a window. */
struct scope {
	const char *pool; /* --pool */
	struct mp_window w;
};

static int partial(const struct scope *sc)
{
	return sc->pool || mp_window_set(&sc->w);
}

enum { OPT_MAPPINGS = MP_OPT_FIRST_PRIVATE, OPT_POOL, OPT_ORDER }; /* OPT_ORDER + index in orders */

static void usage(FILE *out)
{
	fputs("usage: memprof top [--by-bytes|--by-count|--by-peak|--by-leaked|--by-temporary] [-n N]\n"
	      "                   [--mappings] [--pool NAME] [--phase NAME] [--from T] [--to T]\n"
	      "                   [--full-stacks] [--format text|json|csv] [--pid PID] [--run K] TRACE\n"
	      "\n"
	      "The allocation sites (full call stacks) that allocated the most, summed\n"
	      "over the processes of the trace. Sites whose figure is 0 are left out.\n"
	      "In a trace of several runs (memprof run --repeat), the sites of one run:\n"
	      "the median run by the figure ranked, or --run K.\n"
	      "With --pool, the sites of the blocks of the pool(s) NAME the program\n"
	      "reported (memprof.h) instead of the heap's. --pool and the windows rank\n"
	      "by bytes, count or leaked only, over every run (a window: or run K's).\n"
	      "\n"
	      "    --by-bytes      rank by bytes allocated (the default)\n"
	      "    --by-count      rank by number of allocations\n"
	      "    --by-peak       rank by bytes live at the peak of their process\n"
	      "    --by-leaked     rank by bytes never freed\n"
	      "    --by-temporary  rank by allocations freed before the next one\n"
	      "    --mappings      rank the sites of anonymous mappings (mmap, mremap) instead:\n"
	      "                    count = mapping calls, peak = mapped at the mapping peak,\n"
	      "                    leaked = still mapped at exit\n"
	      "    -n N            show N sites (default 10; 0: all)\n"
	      "    --pool NAME     the sites of the pool(s) named NAME\n"
	      "    --full-stacks   show every caller in text (default: 8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    --run K         run K of a repeated trace\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

static void print_site(const struct mp_query *q, struct mp_json *j, int64_t rank, const struct mp_top_site *s,
                       const struct mp_stack *stack, int mappings, int part)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX];
	if (q->format == MP_FMT_JSON) {
		mp_json_object_begin(j, 0);
		mp_json_kv_int(j, "allocations", s->allocations);
		mp_json_kv_int(j, "bytes", s->bytes);
		if (!part)
			mp_json_kv_int(j, "peak_bytes", s->peak_bytes);
		mp_json_kv_int(j, "leaked_bytes", s->leaked_bytes);
		mp_json_kv_int(j, "leaked_blocks", s->leaked_blocks);
		if (!part)
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
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			if (part && (i == 3 || i == 6))
				mp_csv_field(stdout, NULL, 0); /* peak, temporary: not known for a part */
			else
				mp_csv_int(stdout, v[i], i == 0);
		}
		mp_csv_field(stdout, mp_buf_str(&line), 0);
		mp_csv_end(stdout);
		mp_buf_free(&line);
	} else if (part) {
		printf("\n#%" PRId64 "  %s in %" PRId64 " allocation%s (leaked %s in %" PRId64 " block%s, %" PRId64
		       " freed)\n",
		       rank, mp_human_size(s->bytes, a, sizeof(a)), s->allocations, s->allocations == 1 ? "" : "s",
		       mp_human_size(s->leaked_bytes, b, sizeof(b)), s->leaked_blocks, s->leaked_blocks == 1 ? "" : "s",
		       s->frees);
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	} else if (mappings) {
		printf("\n#%" PRId64 "  %s in %" PRId64 " mapping%s (peak %s, still mapped at exit %s)\n", rank,
		       mp_human_size(s->bytes, a, sizeof(a)), s->allocations, s->allocations == 1 ? "" : "s",
		       mp_human_size(s->peak_bytes, b, sizeof(b)), mp_human_size(s->leaked_bytes, c, sizeof(c)));
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	} else {
		printf("\n#%" PRId64 "  %s in %" PRId64 " allocation%s (peak %s, leaked %s, temporary %" PRId64 ")\n",
		       rank, mp_human_size(s->bytes, a, sizeof(a)), s->allocations, s->allocations == 1 ? "" : "s",
		       mp_human_size(s->peak_bytes, b, sizeof(b)), mp_human_size(s->leaked_bytes, c, sizeof(c)),
		       s->temporary);
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
}

int mp_top_prepare(sqlite3 *db, const char *table, const struct mp_top_order *o, int64_t pid, int64_t limit,
                   sqlite3_stmt **st)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(allocations), sum(bytes), sum(peak_bytes), sum(leaked_bytes),"
	         " sum(leaked_blocks), sum(temporary), sum(frees) FROM %s%s"
	         " GROUP BY stack_id HAVING %s > 0 ORDER BY %s DESC, sum(bytes) DESC, stack_id LIMIT ?2",
	         table, pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "", o->sum,
	         o->sum);
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

/* The query of a pool's sites or a window's (?2: the limit). Returns 0,
   or an exit code after a message. */
static int part_sql(sqlite3 *db, const struct mp_query *q, const struct mp_top_order *o, const struct scope *sc,
                    struct mp_buf *sql)
{
	if (!mp_window_set(&sc->w)) { /* a pool's figures, from pool_sites */
		struct mp_buf cond = {0};
		int rc = mp_window_where(&sc->w, sc->pool, db, q->path, q->pid, &cond);
		mp_buf_free(&cond); /* only to check that the pool is there */
		if (rc)
			return rc;
		mp_buf_printf(
		        sql,
		        "SELECT stack_id, sum(allocations) AS allocations_, sum(bytes) AS bytes_, 0,"
		        " sum(leaked_bytes) AS leaked_bytes_, sum(leaked_blocks), 0, sum(frees) FROM main.pool_sites"
		        " WHERE (process_id, pool_id) IN (SELECT process_id, pool_id FROM main.pools WHERE name = "
		        "?3)%s",
		        q->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "");
	} else { /* a window's (of a pool's blocks, or the heap's) */
		int64_t run;
		int rc = mp_window_run(db, q, &run);
		if (!rc)
			rc = mp_window_sites(&sc->w, sc->pool, db, q->path, q->pid, run);
		if (rc)
			return rc;
		mp_buf_puts(sql, "SELECT stack_id, sum(allocations) AS allocations_, sum(bytes) AS bytes_, 0,"
		                 " sum(leaked_bytes) AS leaked_bytes_, sum(leaked_blocks), 0, sum(frees)"
		                 " FROM temp.window_sites");
	}
	mp_buf_printf(sql, " GROUP BY stack_id HAVING %s > 0 ORDER BY %s DESC, bytes_ DESC, stack_id LIMIT ?2",
	              o->part_sum, o->part_sum);
	return 0;
}

/* Prints the ranked sites; returns 0 or an exit code after a message. */
static int top(sqlite3 *db, const struct mp_query *q, const struct mp_top_order *o, int mappings, int64_t run,
               size_t nruns, const struct scope *sc)
{
	struct mp_buf sql = {0};
	int part = partial(sc);
	if (part) {
		int rc = part_sql(db, q, o, sc, &sql);
		if (rc) {
			mp_buf_free(&sql);
			return rc;
		}
		run = 0;
	} else {
		mp_buf_printf(
		        &sql,
		        "SELECT stack_id, sum(allocations), sum(bytes), sum(peak_bytes), sum(leaked_bytes),"
		        " sum(leaked_blocks), sum(temporary), sum(frees) FROM main.%s%s%s"
		        " GROUP BY stack_id HAVING %s > 0 ORDER BY %s DESC, sum(bytes) DESC, stack_id LIMIT ?2",
		        mappings ? "mapping_sites" : "sites",
		        q->pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
		        run > 0 ? (q->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?3)"
		                               : " WHERE process_id IN (SELECT id FROM main.processes WHERE run = ?3)")
		                : "",
		        o->sum, o->sum);
	}
	sqlite3_stmt *st;
	int prc = sqlite3_prepare_v2(db, mp_buf_str(&sql), -1, &st, NULL);
	mp_buf_free(&sql);
	if (prc != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	if (q->pid >= 0 && sqlite3_bind_parameter_index(st, "?1"))
		sqlite3_bind_int64(st, 1, q->pid);
	sqlite3_bind_int64(st, 2, q->limit > 0 ? q->limit : -1);
	if (run > 0)
		sqlite3_bind_int64(st, 3, run);
	else if (sqlite3_bind_parameter_index(st, "?3"))
		sqlite3_bind_text(st, 3, sc->pool, -1, SQLITE_STATIC);
	struct mp_buf what = {0};
	if (sc->pool)
		mp_buf_printf(&what, "pool '%s'", sc->pool);
	if (mp_window_set(&sc->w)) {
		mp_buf_puts(&what, sc->pool ? ", " : "");
		mp_window_describe(&sc->w, &what);
	}
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		mp_buf_free(&what);
		return mp_trace_fail(q->path, l.err);
	}
	struct mp_json j;
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "top");
		mp_json_object_begin(&j, 0);
		mp_json_kv_string(&j, "order", o->name);
		if (mappings)
			mp_json_kv_string(&j, "of", "mappings");
		if (run > 0) {
			mp_json_kv_int(&j, "run", run);
			mp_json_kv_int(&j, "runs", (int64_t)nruns);
		}
		if (sc->pool)
			mp_json_kv_string(&j, "pool", sc->pool);
		if (mp_window_set(&sc->w)) {
			mp_json_key(&j, "window");
			mp_json_object_begin(&j, 1);
			mp_json_kv_string(&j, "phase", sc->w.phase);
			mp_json_key(&j, "from_ns");
			if (sc->w.from >= 0)
				mp_json_int(&j, sc->w.from);
			else
				mp_json_null(&j);
			mp_json_key(&j, "to_ns");
			if (sc->w.to >= 0)
				mp_json_int(&j, sc->w.to);
			else
				mp_json_null(&j);
			mp_json_object_end(&j);
		}
		mp_json_key(&j, "sites");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,allocations,bytes,peak_bytes,leaked_bytes,leaked_blocks,temporary,stack\n", stdout);
	} else if (part) {
		fputs("top sites of ", stdout);
		mp_text_puts(stdout, mp_buf_str(&what));
		printf(" by %s:\n", o->title);
	} else {
		mp_runs_note(stdout, q, o->figure, run, nruns);
		printf("top %ssites by %s:\n", mappings ? "mapping " : "", mappings ? o->map_title : o->title);
	}
	mp_buf_free(&what);
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
		print_site(q, &j, ++rank, &s, &stack, mappings, part);
	}
	int exit_code = mp_query_sites_end(q, db, rc, st, &l, &stack, &j);
	if (exit_code)
		return exit_code;
	if (q->format == MP_FMT_TEXT && rank == 0)
		printf("\nno sites with %s\n", mappings ? o->map_title : o->title);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        MP_QUERY_RUN_OPTION,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {"mappings", no_argument, NULL, OPT_MAPPINGS},
	        {"by-bytes", no_argument, NULL, OPT_ORDER + 0},
	        {"by-count", no_argument, NULL, OPT_ORDER + 1},
	        {"by-peak", no_argument, NULL, OPT_ORDER + 2},
	        {"by-leaked", no_argument, NULL, OPT_ORDER + 3},
	        {"by-temporary", no_argument, NULL, OPT_ORDER + 4},
	        {"pool", required_argument, NULL, OPT_POOL},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "top", 10);
	const struct mp_top_order *o = &mp_top_orders[0];
	struct scope sc = {NULL};
	mp_window_init(&sc.w);
	int opt, rc, mappings = 0;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		if (opt == OPT_MAPPINGS)
			mappings = 1;
		else if (opt >= OPT_ORDER && opt < OPT_ORDER + MP_TOP_ORDERS)
			o = &mp_top_orders[opt - OPT_ORDER];
		else if (opt == OPT_POOL)
			sc.pool = optarg;
		else if ((rc = mp_window_option(&sc.w, "top", opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (partial(&sc) && !o->part_sum)
		return mp_usage_error("top", "--%s cannot be used with --pool, --phase, --from or --to", o->option);
	if (partial(&sc) && mappings)
		return mp_usage_error("top", "--mappings cannot be used with --pool, --phase, --from or --to");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	if (!rc && mappings && !mp_trace_has_mappings(db))
		rc = mp_trace_fail(q.path, "no mapping figures in this trace (recorded by an older memprof)");
	int64_t run;
	size_t nruns;
	if (!rc && !(rc = mp_runs_choose(db, &q, o->figure, &run, &nruns)))
		rc = top(db, &q, o, mappings, run, nruns, &sc);
	if (!rc)
		rc = mp_finish_output();
	mp_trace_close(db);
	return rc;
}
