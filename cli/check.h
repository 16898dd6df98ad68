/* Limits on a trace's figures for CI gates: sizes and increase thresholds
 * parsed from options, LeakSanitizer-style suppressions, the totals of a
 * trace, and their evaluation with one verdict line per limit. Used by
 * memprof check, run --check and diff --fail-if. */
#ifndef MP_CHECK_H
#define MP_CHECK_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mp_buf;
struct mp_stack;
struct mp_window;

/* The figures limits and thresholds compare. */
enum mp_metric {
	MP_METRIC_ALLOCATIONS,
	MP_METRIC_BYTES,
	MP_METRIC_PEAK,
	MP_METRIC_LEAKED,
	MP_METRIC_LEAKED_BLOCKS,
	MP_METRIC_N,
};

/* "allocations", "bytes", "peak_bytes", "leaked_bytes", "leaked_blocks". */
const char *mp_metric_name(enum mp_metric m);

/* The totals of some processes of a trace: sums, and the largest peak of
   any one of them (as summary counts). In a trace of several runs (memprof
   run --repeat), each figure is the median of the runs' (cli/runs.h). */
struct mp_totals {
	int64_t v[MP_METRIC_N];
	int64_t peak_process_id; /* processes.id with the largest peak (of the median run by peak), -1: none */
	size_t processes;
	size_t runs;                     /* runs among the processes (1 in a trace of one run) */
	int64_t median_run[MP_METRIC_N]; /* the run whose figure is the median (0 in a trace of one run) */
};

/* Totals of the processes with that pid (every one when pid < 0). Returns
   0, or -1 with a message in err. */
int mp_totals_load(sqlite3 *db, int64_t pid, struct mp_totals *t, char *err, size_t errlen);

/* The totals of a window (cli/window.h), from its sites: the table
   temp.window_sites filled by mp_window_sites for the processes with that
   pid (every one when pid < 0). Sums, or in a trace of several runs each
   figure's median over the runs; the peak is not defined for a window (0,
   peak_process_id -1). Returns 0, or -1 with a message in err. */
int mp_totals_window(sqlite3 *db, int64_t pid, struct mp_totals *t, char *err, size_t errlen);

/* Appends v as the metric shows it: a size for bytes, a count otherwise;
   with a sign when sign. */
void mp_metric_format(enum mp_metric m, int64_t v, int sign, struct mp_buf *b);

/* --- increase thresholds ------------------------------------------------ */

/* "METRIC>+N%" (relative increase), "METRIC>+SIZE" or "METRIC>+N". */
struct mp_threshold {
	enum mp_metric metric;
	int relative;
	int64_t pct_micro; /* relative: the percentage in millionths */
	int64_t amount;    /* absolute: the increase allowed */
};

/* Parses expr ("peak_bytes>+10%"). Returns 0, or -1 with err set. */
int mp_threshold_parse(const char *expr, struct mp_threshold *t, char *err, size_t errlen);
/* Parses a percentage ("10", "2.5%") into millionths of a percent.
   Returns 0, or -1 with err set. */
int mp_percent_parse(const char *opt, const char *arg, int64_t *pct_micro, char *err, size_t errlen);
/* 1 when after exceeds before by more than t allows, else 0. Appends the
   verdict without its "ok: "/"FAIL: " prefix: "LABEL AFTER vs WHAT BEFORE:
   +CHANGE (+P%) > +LIMIT". */
int mp_threshold_eval(const struct mp_threshold *t, const char *label, const char *what, int64_t before, int64_t after,
                      struct mp_buf *verdict);

/* --- suppressions (LeakSanitizer's format) ------------------------------ */

struct mp_suppression {
	char *pattern;         /* owned; without the "leak:" */
	unsigned line;         /* in the file */
	int64_t bytes, blocks; /* leaks it suppressed */
};

struct mp_suppressions {
	struct mp_suppression *v;
	size_t n, cap;
};

/* Reads "leak:PATTERN" lines and "#" comments from path. Returns 0, or
   -1 with a message naming path (and the line) in err. */
int mp_suppressions_load(const char *path, struct mp_suppressions *s, char *err, size_t errlen);
void mp_suppressions_free(struct mp_suppressions *s);
/* The first suppression matching a function name, source file or module
   path of a frame of stack, or NULL. */
struct mp_suppression *mp_suppressions_match(struct mp_suppressions *s, const struct mp_stack *stack);
/* LeakSanitizer's pattern match: substring, '*' any run, '^' and '$'
   anchors. 1 when templ matches str (never an empty or NULL str). */
int mp_template_match(const char *templ, const char *str);

/* --- the limits of memprof check and run --check ------------------------ */

/* getopt_long values of the check options (between the shared and the
   commands' own, cli/util.h). */
enum {
	MP_OPT_MAX_PEAK = 0x140,
	MP_OPT_MAX_LEAKED,
	MP_OPT_MAX_ALLOCATIONS,
	MP_OPT_BASELINE,
	MP_OPT_MAX_INCREASE,
	MP_OPT_SUPPRESSIONS,
	MP_OPT_SITES,
	MP_OPT_CHECK_FULL_STACKS,
};

#define MP_CHECK_LONG_OPTIONS \
	{"max-peak", required_argument, NULL, MP_OPT_MAX_PEAK}, \
	        {"max-leaked", required_argument, NULL, MP_OPT_MAX_LEAKED}, \
	        {"max-allocations", required_argument, NULL, MP_OPT_MAX_ALLOCATIONS}, \
	        {"baseline", required_argument, NULL, MP_OPT_BASELINE}, \
	        {"max-increase", required_argument, NULL, MP_OPT_MAX_INCREASE}, \
	        {"suppressions", required_argument, NULL, MP_OPT_SUPPRESSIONS}, \
	        {"sites", required_argument, NULL, MP_OPT_SITES}, \
	{ \
		"full-stacks", no_argument, NULL, MP_OPT_CHECK_FULL_STACKS \
	}

/* The help lines of the check options. */
extern const char mp_check_options_help[];

struct mp_check {
	int64_t max_peak, max_leaked, max_allocations; /* -1: no limit */
	const char *baseline;                          /* NULL: none */
	int64_t max_increase;                          /* millionths of a percent, -1: none */
	const char *suppressions_path;                 /* NULL: none */
	int64_t pid;                                   /* -1: every process */
	int64_t sites;                                 /* offending sites shown per failed limit */
	int full_stacks;
	int given; /* some check option was given */
	/* memprof check --phase, --from, --to (cli/window.h): the limits hold
	   the figures of the allocations made in that window (of the baseline
	   too); NULL or unset: the whole trace. No peak then (--max-peak is
	   refused, --baseline leaves the peak out). */
	const struct mp_window *window;
	struct mp_suppressions supp;
};

void mp_check_init(struct mp_check *c);
/* Handles one getopt_long result if it is a check option (optarg its
   value). Returns 0 when handled, -1 when opt is not one, or
   MP_EXIT_USAGE after the message. */
int mp_check_option(struct mp_check *c, const char *cmd, int opt, const char *arg);
/* After the options: checks they go together and reads the suppressions.
   Returns 0, or an exit code after the message. */
int mp_check_ready(struct mp_check *c, const char *cmd);
/* Checks the trace at path against every limit: one verdict line per
   limit on out ("ok: peak 1007.06 KiB <= 2.00 MiB", "FAIL: ..."), and
   under a failed one its offending sites. Returns MP_EXIT_OK, MP_EXIT_CHECK
   when a limit failed, or another exit code after an error message. */
int mp_check_trace(struct mp_check *c, const char *path, FILE *out);
void mp_check_fini(struct mp_check *c);

#endif
