/* The runs of a trace: `memprof run --repeat N` records N runs of a
 * program into one trace (processes.run, the runs table). Each run's
 * figures are summed over its processes as summary counts them (the peak
 * is the largest of any one process); across runs, a figure has a
 * minimum, a median and a maximum. The median is the lower median (the
 * ((N+1)/2)th smallest value), so that it is always some run's figure,
 * and the median run of a figure is the first run with that value. */
#ifndef MP_RUNS_H
#define MP_RUNS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mp_processes;
struct mp_query;

enum mp_run_figure {
	MP_RUN_ALLOCATIONS,
	MP_RUN_FREES,
	MP_RUN_BYTES,
	MP_RUN_PEAK,
	MP_RUN_LEAKED,
	MP_RUN_LEAKED_BLOCKS,
	MP_RUN_TEMPORARY,
	MP_RUN_THREADS,
	MP_RUN_DURATION, /* never flagged as varying: timing always does */
	MP_RUN_NFIG,
};

/* "allocations", "frees", "allocated_bytes", "peak_bytes", "leaked_bytes",
   "leaked_blocks", "temporary", "threads", "duration_ns". */
const char *mp_run_figure_name(enum mp_run_figure f);
/* Words for a message: "allocations", "bytes allocated", "peak", ... */
const char *mp_run_figure_title(enum mp_run_figure f);
/* 1 when the figure is a size in bytes. */
int mp_run_figure_is_size(enum mp_run_figure f);

struct mp_run {
	int64_t run; /* 1-based */
	int64_t v[MP_RUN_NFIG];
	size_t processes;
	int64_t peak_process_id, peak_pid, peak_time_ns; /* the process with the largest peak (the first) */
	int64_t start_ns, end_ns;
	char *ended_by; /* owned: "exit", "signal", "unknown", "running" */
	int have_exit_status, have_signal;
	int64_t exit_status, signal;
};

struct mp_runs {
	struct mp_run *v; /* in run order */
	size_t n;
	size_t total; /* runs in the whole trace (ps may hold some of them) */
};

/* Groups the processes ps (from mp_processes_load) by run, each run's
   span and end from the runs table where the trace has one (else the
   processes' span, or meta duration_ns for a trace of one run). Returns
   0, or -1 with a message in err. */
int mp_runs_load(sqlite3 *db, const struct mp_processes *ps, struct mp_runs *out, char *err, size_t errlen);
void mp_runs_free(struct mp_runs *r);
/* The run with that number, or NULL. */
const struct mp_run *mp_runs_find(const struct mp_runs *r, int64_t run);

struct mp_run_stat {
	int64_t min, median, max;
	int64_t median_run; /* the first run whose figure is the median (0: no run) */
	int varies;         /* some runs differ (never for the duration) */
};

void mp_runs_stat(const struct mp_runs *r, enum mp_run_figure f, struct mp_run_stat *out);
/* The lower median of n values (sorts v); 0 when n is 0. */
int64_t mp_median(int64_t *v, size_t n);

/* The run a per-site command (top, peak, leaks) shows: q->run when given
   (an error when the trace has no such run), else on a trace of several
   runs the median run by fig. *run is 0 when there is nothing to choose
   (one run among q's processes): the command then takes every process.
   *nruns is the number of runs in the trace. Returns 0, or an exit code
   after the message. */
int mp_runs_choose(sqlite3 *db, const struct mp_query *q, enum mp_run_figure fig, int64_t *run, size_t *nruns);
/* Text commands: "run 2 of 3 (the median run by peak; --run K for
   another)", or "run 2 of 3" when it was asked for. */
void mp_runs_note(FILE *out, const struct mp_query *q, enum mp_run_figure fig, int64_t run, size_t nruns);

#endif
