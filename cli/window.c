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

/* One row of window_sites while it is counted. */
struct wsite {
	int64_t process_id, stack_id, allocations, frees, bytes, leaked_bytes, leaked_blocks;
};

/* The rows by (process_id, stack_id): open addressing, cap a power of two. */
struct wsites {
	struct wsite *v;
	size_t n, cap;
	size_t *slots; /* row index + 1, 0: empty */
	size_t nslots;
};

static size_t wsite_hash(int64_t a, int64_t b)
{
	uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)b + 0x632be59bd9b4e019ULL);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct wsite *wsite_get(struct wsites *w, int64_t process_id, int64_t stack_id)
{
	if ((w->n + 1) * 2 > w->nslots) {
		size_t ns = w->nslots ? w->nslots * 2 : 1024;
		size_t *slots = mp_xmalloc(ns * sizeof(*slots));
		memset(slots, 0, ns * sizeof(*slots));
		for (size_t i = 0; i < w->n; i++) {
			size_t k = wsite_hash(w->v[i].process_id, w->v[i].stack_id) & (ns - 1);
			while (slots[k])
				k = (k + 1) & (ns - 1);
			slots[k] = i + 1;
		}
		free(w->slots);
		w->slots = slots;
		w->nslots = ns;
	}
	size_t k = wsite_hash(process_id, stack_id) & (w->nslots - 1);
	for (; w->slots[k]; k = (k + 1) & (w->nslots - 1)) {
		struct wsite *x = &w->v[w->slots[k] - 1];
		if (x->process_id == process_id && x->stack_id == stack_id)
			return x;
	}
	void *v = w->v;
	mp_grow(&v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v = v;
	struct wsite *x = &w->v[w->n];
	memset(x, 0, sizeof(*x));
	x->process_id = process_id;
	x->stack_id = stack_id;
	w->slots[k] = ++w->n;
	return x;
}

static int wsite_cmp(const void *pa, const void *pb)
{
	const struct wsite *a = pa, *b = pb;
	if (a->process_id != b->process_id)
		return a->process_id < b->process_id ? -1 : 1;
	return a->stack_id < b->stack_id ? -1 : a->stack_id > b->stack_id;
}

/* Whether processes row id exec'd (its heap is gone: it leaks nothing);
   execd holds those ids, sorted. */
static int is_execd(const int64_t *execd, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (execd[mid] == id)
			return 1;
		if (execd[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Counts the rows of the query (process_id, stack_id, size, freed) into w,
   then writes temp.window_sites. Returns an SQLite result code. */
static int window_fill(sqlite3 *db, const char *query, struct wsites *w)
{
	int64_t *execd = NULL;
	size_t nexecd = 0, execd_cap = 0;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT id FROM main.processes WHERE ended_by = 'exec' ORDER BY id", -1, &st,
	                            NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *v = execd;
		mp_grow(&v, &execd_cap, nexecd + 1, sizeof(*execd));
		execd = v;
		execd[nexecd++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || (rc = sqlite3_prepare_v2(db, query, -1, &st, NULL)) != SQLITE_OK) {
		free(execd);
		return rc;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t process_id = sqlite3_column_int64(st, 0), size = sqlite3_column_int64(st, 2);
		struct wsite *x = wsite_get(w, process_id, sqlite3_column_int64(st, 1));
		int freed = sqlite3_column_int(st, 3) != 0;
		x->allocations++;
		x->bytes = mp_add_sat(x->bytes, size);
		x->frees += freed;
		if (!freed && !is_execd(execd, nexecd, process_id)) {
			x->leaked_blocks++;
			x->leaked_bytes = mp_add_sat(x->leaked_bytes, size);
		}
	}
	sqlite3_finalize(st);
	free(execd);
	if (rc != SQLITE_DONE)
		return rc;
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), wsite_cmp);
	rc = sqlite3_exec(db,
	                  "DROP TABLE IF EXISTS temp.window_sites;"
	                  " CREATE TEMP TABLE window_sites (process_id INTEGER, stack_id INTEGER,"
	                  " allocations INTEGER, frees INTEGER, bytes INTEGER, peak_bytes INTEGER,"
	                  " peak_blocks INTEGER, leaked_bytes INTEGER, leaked_blocks INTEGER, temporary INTEGER);"
	                  " BEGIN",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_prepare_v2(db,
	                        "INSERT INTO temp.window_sites VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7, NULL)",
	                        -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < w->n; i++) {
		const struct wsite *x = &w->v[i];
		const int64_t v[] = {x->process_id, x->stack_id,     x->allocations,  x->frees,
		                     x->bytes,      x->leaked_bytes, x->leaked_blocks};
		for (int k = 0; k < 7; k++)
			sqlite3_bind_int64(st, k + 1, v[k]);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	int end = sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return rc != SQLITE_OK ? rc : end;
}

int mp_window_sites(const struct mp_window *w, const char *pool, sqlite3 *db, const char *path, int64_t pid,
                    int64_t run)
{
	/* Counted here rather than by a GROUP BY, which would sort every
	   allocation: memory follows the sites, not the allocations. */
	struct mp_buf sql = {0};
	mp_buf_puts(&sql, "SELECT process_id, stack_id, size, free_time_ns IS NOT NULL FROM allocations WHERE ");
	int rc = mp_window_where(w, pool, db, path, pid, &sql);
	if (!rc && run > 0)
		mp_buf_printf(&sql, " AND process_id IN (SELECT id FROM main.processes WHERE run = %" PRId64 ")", run);
	struct wsites ws = {0};
	if (!rc && window_fill(db, mp_buf_str(&sql), &ws) != SQLITE_OK)
		rc = mp_trace_fail_db(path, db);
	free(ws.v);
	free(ws.slots);
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
