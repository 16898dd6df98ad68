/* Windows of a trace and the tables of memprof.h; see cli/window.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"
#include "window.h"

const char mp_window_options_help[] = "    --phase NAME    only the allocations made during the phase(s) NAME\n"
                                      "    --from T        only the allocations made at T or later (seconds since the\n"
                                      "                    trace started; or with a unit: 250ms, 40us, 1000ns)\n"
                                      "    --to T          only the allocations made before T\n";

void mp_window_init(struct mp_window *w)
{
	w->phase = NULL;
	w->from = w->to = -1;
}

int mp_window_set(const struct mp_window *w)
{
	return w->phase || w->from >= 0 || w->to >= 0;
}

int mp_window_parse_time(const char *arg, int64_t *ns)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}};
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (end == arg || errno || !(v >= 0) || !isfinite(v))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].unit)) {
			double t = v * units[i].scale;
			if (t > 9e18)
				return -1;
			*ns = (int64_t)(t + 0.5);
			return 0;
		}
	}
	return -1;
}

int mp_window_option(struct mp_window *w, const char *cmd, int opt, const char *arg)
{
	switch (opt) {
	case MP_OPT_PHASE:
		w->phase = arg;
		return 0;
	case MP_OPT_FROM:
	case MP_OPT_TO: {
		int64_t *t = opt == MP_OPT_FROM ? &w->from : &w->to;
		if (mp_window_parse_time(arg, t))
			return mp_usage_error(cmd, "option '--%s' needs a time (seconds, or 250ms, 40us), not '%s'",
			                      opt == MP_OPT_FROM ? "from" : "to", arg);
		return 0;
	}
	default:
		return -1;
	}
}

/* Appends " AND (a OR b ...)" with the rows of a query of (process_id,
   x, y): pools' (process_id, pool_id, 0) or phases' (process_id,
   first_alloc_id, end_alloc_id). Returns the rows found, or -1 on an
   error. */
static int64_t append_rows(sqlite3 *db, const char *query, const char *name, int64_t pid, int phases,
                           struct mp_buf *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (pid >= 0)
		sqlite3_bind_int64(st, 2, pid);
	int64_t n = 0;
	int rc;
	mp_buf_puts(sql, " AND (");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++)
			mp_buf_puts(sql, " OR ");
		int64_t a = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1),
		        c = sqlite3_column_int64(st, 2);
		if (phases)
			mp_buf_printf(sql, "(process_id = %" PRId64 " AND id >= %" PRId64 " AND id < %" PRId64 ")", a,
			              b, c);
		else
			mp_buf_printf(sql, "(process_id = %" PRId64 " AND pool_id = %" PRId64 ")", a, b);
	}
	mp_buf_puts(sql, n ? ")" : "0)");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

int mp_window_where(const struct mp_window *w, const char *pool, sqlite3 *db, const char *path, int64_t pid,
                    struct mp_buf *sql)
{
	const char *pid_cond = pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?2)" : "";
	char query[512];
	if (pool) {
		mp_buf_puts(sql, "kind = 'pool'");
		int64_t n = -1;
		if (mp_trace_has_table(db, "pools")) {
			snprintf(query, sizeof(query),
			         "SELECT process_id, pool_id, 0 FROM main.pools WHERE name = ?1%s ORDER BY 1, 2",
			         pid_cond);
			n = append_rows(db, query, pool, pid, 0, sql);
			if (n < 0)
				return mp_trace_fail_db(path, db);
		}
		if (n <= 0) {
			mp_error("no pool '%s' in '%s'", pool, path);
			return MP_EXIT_USAGE;
		}
	} else {
		mp_buf_puts(sql, "kind != 'pool'");
	}
	if (pid >= 0)
		mp_buf_printf(sql, " AND pid = %" PRId64, pid);
	if (w->phase) {
		int64_t n = -1;
		if (mp_trace_has_table(db, "phases")) {
			snprintf(query, sizeof(query),
			         "SELECT process_id, first_alloc_id, end_alloc_id FROM main.phases WHERE name = ?1%s"
			         " ORDER BY 1, 2",
			         pid_cond);
			n = append_rows(db, query, w->phase, pid, 1, sql);
			if (n < 0)
				return mp_trace_fail_db(path, db);
		}
		if (n <= 0) {
			mp_error("no phase '%s' in '%s'", w->phase, path);
			return MP_EXIT_USAGE;
		}
	}
	if (w->from >= 0)
		mp_buf_printf(sql, " AND alloc_time_ns >= %" PRId64, w->from);
	if (w->to >= 0)
		mp_buf_printf(sql, " AND alloc_time_ns < %" PRId64, w->to);
	return 0;
}

void mp_window_describe(const struct mp_window *w, struct mp_buf *b)
{
	char t[MP_HUMAN_MAX];
	if (w->phase) {
		mp_buf_puts(b, "phase '");
		mp_buf_puts(b, w->phase);
		mp_buf_puts(b, "'");
	}
	if (w->from >= 0)
		mp_buf_printf(b, "%sfrom %s", w->phase ? " " : "", mp_human_duration(w->from, t, sizeof(t)));
	if (w->to >= 0)
		mp_buf_printf(b, "%sto %s", w->phase || w->from >= 0 ? " " : "",
		              mp_human_duration(w->to, t, sizeof(t)));
}

void mp_window_note(FILE *out, const struct mp_window *w)
{
	struct mp_buf b = {0};
	mp_window_describe(w, &b);
	fputs("window: allocations made in ", out);
	mp_text_puts(out, mp_buf_str(&b));
	fputc('\n', out);
	mp_buf_free(&b);
}

void mp_window_json(const struct mp_window *w, struct mp_json *j)
{
	mp_json_key(j, "window");
	mp_json_object_begin(j, 1);
	mp_json_kv_string(j, "phase", w->phase);
	mp_json_key(j, "from_ns");
	if (w->from >= 0)
		mp_json_int(j, w->from);
	else
		mp_json_null(j);
	mp_json_key(j, "to_ns");
	if (w->to >= 0)
		mp_json_int(j, w->to);
	else
		mp_json_null(j);
	mp_json_object_end(j);
}

int mp_window_check(const struct mp_window *w, sqlite3 *db, const char *path, int64_t pid)
{
	struct mp_buf cond = {0};
	int rc = mp_window_where(w, NULL, db, path, pid, &cond);
	mp_buf_free(&cond);
	return rc;
}

int mp_window_sites(const struct mp_window *w, const char *pool, sqlite3 *db, const char *path, int64_t pid,
                    int64_t run)
{
	static const char leaked[] = "free_time_ns IS NULL AND process_id NOT IN"
	                             " (SELECT id FROM main.processes WHERE ended_by = 'exec')";
	struct mp_buf sql = {0};
	mp_buf_printf(&sql,
	              "DROP TABLE IF EXISTS temp.window_sites;"
	              " CREATE TEMP TABLE window_sites AS SELECT process_id, stack_id, count(*) AS allocations,"
	              " sum(free_time_ns IS NOT NULL) AS frees, sum(size) AS bytes, NULL AS peak_bytes,"
	              " NULL AS peak_blocks, sum(CASE WHEN %s THEN size ELSE 0 END) AS leaked_bytes,"
	              " sum(%s) AS leaked_blocks, NULL AS temporary FROM allocations WHERE ",
	              leaked, leaked);
	int rc = mp_window_where(w, pool, db, path, pid, &sql);
	if (!rc && run > 0)
		mp_buf_printf(&sql, " AND process_id IN (SELECT id FROM main.processes WHERE run = %" PRId64 ")", run);
	mp_buf_puts(&sql, " GROUP BY process_id, stack_id ORDER BY process_id, stack_id");
	if (!rc && sqlite3_exec(db, mp_buf_str(&sql), NULL, NULL, NULL) != SQLITE_OK)
		rc = mp_trace_fail_db(path, db);
	mp_buf_free(&sql);
	return rc;
}

int mp_window_run(sqlite3 *db, const struct mp_query *q, int64_t *run)
{
	size_t nruns;
	*run = 0;
	return q->run > 0 ? mp_runs_choose(db, q, MP_RUN_BYTES, run, &nruns) : 0;
}

const char *mp_window_table(const struct mp_window *w)
{
	return mp_window_set(w) ? "temp.window_sites" : "main.sites";
}

int mp_window_totals(sqlite3 *db, struct mp_window_totals *t)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT total(allocations), total(frees), total(bytes), total(leaked_bytes),"
	                            " total(leaked_blocks) FROM temp.window_sites",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t *v[] = {&t->allocations, &t->frees, &t->bytes, &t->leaked_bytes, &t->leaked_blocks};
		for (int i = 0; i < 5; i++)
			*v[i] = (int64_t)sqlite3_column_double(st, i);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

int mp_window_refuse(const char *cmd, const char *what, const char *reason)
{
	return mp_usage_error(cmd, "%s cannot be used with --phase, --from or --to (%s)", what, reason);
}

int mp_window_span(const struct mp_window *w, sqlite3 *db, int64_t process_id, int64_t start_ns, int64_t end_ns,
                   int64_t *t0, int64_t *t1)
{
	int64_t lo = start_ns, hi = end_ns >= start_ns ? end_ns : start_ns;
	if (w->phase) {
		sqlite3_stmt *st;
		if (!mp_trace_has_table(db, "phases"))
			return 0;
		if (sqlite3_prepare_v2(db,
		                       "SELECT count(*), min(start_ns), max(end_ns) FROM main.phases"
		                       " WHERE process_id = ?1 AND name = ?2",
		                       -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_int64(st, 1, process_id);
		sqlite3_bind_text(st, 2, w->phase, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		if (n > 0) {
			lo = sqlite3_column_int64(st, 1);
			hi = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW)
			return -1;
		if (n == 0)
			return 0;
	}
	if (w->from >= 0 && w->from > lo)
		lo = w->from;
	if (w->to >= 0 && w->to < hi)
		hi = w->to;
	if (hi < lo)
		return 0;
	*t0 = lo;
	*t1 = hi;
	return 1;
}
