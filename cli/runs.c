/* The runs of a trace; see cli/runs.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runs.h"
#include "trace.h"
#include "util.h"

static const char *const names[MP_RUN_NFIG] = {
        "allocations",   "frees",     "allocated_bytes", "peak_bytes",  "leaked_bytes",
        "leaked_blocks", "temporary", "threads",         "duration_ns",
};

static const char *const titles[MP_RUN_NFIG] = {
        "allocations",   "frees",     "bytes allocated", "peak",     "leaked bytes",
        "leaked blocks", "temporary", "threads",         "duration",
};

const char *mp_run_figure_name(enum mp_run_figure f)
{
	return names[f];
}

const char *mp_run_figure_title(enum mp_run_figure f)
{
	return titles[f];
}

int mp_run_figure_is_size(enum mp_run_figure f)
{
	return f == MP_RUN_BYTES || f == MP_RUN_PEAK || f == MP_RUN_LEAKED;
}

static int has_runs_table(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(db, "SELECT run, start_ns, end_ns, ended_by, exit_status, signal FROM main.runs",
	                            -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return ok;
}

static struct mp_run *run_get(struct mp_runs *r, size_t *cap, int64_t run)
{
	for (size_t i = r->n; i-- > 0;)
		if (r->v[i].run == run)
			return &r->v[i];
	void *v = r->v;
	mp_grow(&v, cap, r->n + 1, sizeof(*r->v));
	r->v = v;
	size_t i = r->n++;
	while (i > 0 && r->v[i - 1].run > run) { /* kept in run order */
		r->v[i] = r->v[i - 1];
		i--;
	}
	struct mp_run *x = &r->v[i];
	memset(x, 0, sizeof(*x));
	x->run = run;
	x->peak_process_id = -1;
	return x;
}

/* The runs table's rows for the runs in r. Returns 0, or -1 (err set). */
static int read_runs_table(sqlite3 *db, struct mp_runs *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT run, start_ns, end_ns, ended_by, exit_status, signal FROM main.runs"
	                       " ORDER BY run",
	                       -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, err, errlen);
		return -1;
	}
	int rc;
	r->total = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r->total++;
		struct mp_run *x = NULL;
		int64_t run = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < r->n && !x; i++)
			if (r->v[i].run == run)
				x = &r->v[i];
		if (!x)
			continue;
		x->start_ns = sqlite3_column_int64(st, 1);
		x->end_ns = sqlite3_column_int64(st, 2);
		x->v[MP_RUN_DURATION] = x->end_ns > x->start_ns ? x->end_ns - x->start_ns : 0;
		const char *e = (const char *)sqlite3_column_text(st, 3);
		free(x->ended_by);
		x->ended_by = mp_xstrdup(e ? e : "unknown");
		x->have_exit_status = sqlite3_column_type(st, 4) != SQLITE_NULL;
		x->exit_status = sqlite3_column_int64(st, 4);
		x->have_signal = sqlite3_column_type(st, 5) != SQLITE_NULL;
		x->signal = sqlite3_column_int64(st, 5);
	}
	if (rc != SQLITE_DONE)
		mp_trace_errmsg(db, err, errlen);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The number of distinct runs among every process of the trace. */
static size_t count_runs(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t n = 1;
	if (mp_trace_has_runs(db) &&
	    sqlite3_prepare_v2(db, "SELECT count(DISTINCT run) FROM main.processes", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = (size_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return n ? n : 1;
}

int mp_runs_load(sqlite3 *db, const struct mp_processes *ps, struct mp_runs *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	size_t cap = 0;
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		struct mp_run *x = run_get(out, &cap, p->run);
		int64_t *v = x->v;
		v[MP_RUN_ALLOCATIONS] = mp_add_sat(v[MP_RUN_ALLOCATIONS], p->allocations);
		v[MP_RUN_FREES] = mp_add_sat(v[MP_RUN_FREES], p->frees);
		v[MP_RUN_BYTES] = mp_add_sat(v[MP_RUN_BYTES], p->allocated_bytes);
		v[MP_RUN_LEAKED] = mp_add_sat(v[MP_RUN_LEAKED], p->leaked_bytes);
		v[MP_RUN_LEAKED_BLOCKS] = mp_add_sat(v[MP_RUN_LEAKED_BLOCKS], p->leaked_blocks);
		v[MP_RUN_TEMPORARY] = mp_add_sat(v[MP_RUN_TEMPORARY], p->temporary);
		v[MP_RUN_THREADS] = mp_add_sat(v[MP_RUN_THREADS], p->threads);
		if (x->processes == 0 || p->peak_bytes > v[MP_RUN_PEAK]) {
			v[MP_RUN_PEAK] = p->peak_bytes;
			x->peak_process_id = p->id;
			x->peak_pid = p->pid;
			x->peak_time_ns = p->peak_time_ns;
		}
		int64_t end = p->end_ns >= 0 ? p->end_ns : p->start_ns;
		if (x->processes == 0 || p->start_ns < x->start_ns)
			x->start_ns = p->start_ns;
		if (x->processes == 0 || end > x->end_ns)
			x->end_ns = end;
		if (x->processes == 0) { /* until the runs table says: the first process's end */
			x->ended_by = mp_xstrdup(p->ended_by);
			x->have_exit_status = p->have_exit_status;
			x->exit_status = p->exit_status;
			x->have_signal = p->have_signal;
			x->signal = p->signal;
		}
		x->processes++;
	}
	for (size_t i = 0; i < out->n; i++) {
		struct mp_run *x = &out->v[i];
		x->v[MP_RUN_DURATION] = x->end_ns > x->start_ns ? x->end_ns - x->start_ns : 0;
	}
	if (has_runs_table(db)) {
		if (read_runs_table(db, out, err, errlen)) {
			mp_runs_free(out);
			return -1;
		}
	}
	size_t in_processes = count_runs(db);
	if (out->total < in_processes)
		out->total = in_processes;
	/* A trace of one run: its duration is meta's, as summary always said. */
	if (out->total == 1 && out->n == 1 && !has_runs_table(db))
		out->v[0].v[MP_RUN_DURATION] = mp_meta_int(db, "duration_ns", out->v[0].v[MP_RUN_DURATION]);
	return 0;
}

void mp_runs_free(struct mp_runs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].ended_by);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

const struct mp_run *mp_runs_find(const struct mp_runs *r, int64_t run)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].run == run)
			return &r->v[i];
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int64_t mp_median(int64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	return v[(n - 1) / 2];
}

void mp_runs_stat(const struct mp_runs *r, enum mp_run_figure f, struct mp_run_stat *out)
{
	memset(out, 0, sizeof(*out));
	if (!r->n)
		return;
	int64_t *v = mp_xmalloc(r->n * sizeof(*v));
	for (size_t i = 0; i < r->n; i++)
		v[i] = r->v[i].v[f];
	out->median = mp_median(v, r->n);
	out->min = v[0];
	out->max = v[r->n - 1];
	free(v);
	out->varies = f != MP_RUN_DURATION && out->min != out->max;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].v[f] == out->median) {
			out->median_run = r->v[i].run;
			break;
		}
	}
}

int mp_runs_choose(sqlite3 *db, const struct mp_query *q, enum mp_run_figure fig, int64_t *run, size_t *nruns)
{
	*run = 0;
	*nruns = 1;
	struct mp_processes ps;
	int rc = mp_query_processes(q, db, &ps);
	if (rc)
		return rc;
	struct mp_runs r;
	char err[512];
	if (mp_runs_load(db, &ps, &r, err, sizeof(err))) {
		mp_processes_free(&ps);
		return mp_trace_fail(q->path, err);
	}
	*nruns = r.total;
	if (q->run > 0) {
		if (!mp_runs_find(&r, q->run)) {
			if (q->pid >= 0)
				mp_error("no run %" PRId64 " with pid %" PRId64 " in '%s'", q->run, q->pid, q->path);
			else
				mp_error("no run %" PRId64 " in '%s' (it has %zu run%s)", q->run, q->path, r.total,
				         r.total == 1 ? "" : "s");
			rc = MP_EXIT_USAGE;
		} else if (r.total > 1) {
			*run = q->run;
		}
	} else if (r.n > 1) {
		struct mp_run_stat s;
		mp_runs_stat(&r, fig, &s);
		*run = s.median_run;
	}
	mp_runs_free(&r);
	mp_processes_free(&ps);
	return rc;
}

void mp_runs_note(FILE *out, const struct mp_query *q, enum mp_run_figure fig, int64_t run, size_t nruns)
{
	if (run <= 0 || nruns < 2)
		return;
	if (q->run > 0)
		fprintf(out, "run %" PRId64 " of %zu\n", run, nruns);
	else
		fprintf(out, "run %" PRId64 " of %zu (the median run by %s; --run K for another)\n", run, nruns,
		        mp_run_figure_title(fig));
}
