/* Limits on a trace's figures; see cli/check.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "check.h"
#include "env.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"
#include "window.h"

static const char *const metric_names[MP_METRIC_N] = {"allocations", "bytes", "peak_bytes", "leaked_bytes",
                                                      "leaked_blocks"};

const char *mp_metric_name(enum mp_metric m)
{
	return metric_names[m];
}

static int is_size(enum mp_metric m)
{
	return m == MP_METRIC_BYTES || m == MP_METRIC_PEAK || m == MP_METRIC_LEAKED;
}

void mp_metric_format(enum mp_metric m, int64_t v, int sign, struct mp_buf *b)
{
	const char *s = sign && v >= 0 ? "+" : "";
	if (is_size(m)) {
		char h[MP_HUMAN_MAX];
		mp_buf_printf(b, "%s%s", s, mp_human_size(v, h, sizeof(h)));
	} else {
		mp_buf_printf(b, "%s%" PRId64, s, v);
	}
}

/* The runs figure of a metric. */
static enum mp_run_figure run_figure(enum mp_metric m)
{
	static const enum mp_run_figure f[MP_METRIC_N] = {MP_RUN_ALLOCATIONS, MP_RUN_BYTES, MP_RUN_PEAK, MP_RUN_LEAKED,
	                                                  MP_RUN_LEAKED_BLOCKS};
	return f[m];
}

/* The runs of the processes with that pid. Returns 0, or -1 (err set). */
static int runs_of(sqlite3 *db, int64_t pid, struct mp_runs *r, size_t *processes, char *err, size_t errlen)
{
	struct mp_processes ps;
	if (mp_processes_load(db, pid, &ps, err, errlen))
		return -1;
	*processes = ps.n;
	int rc = mp_runs_load(db, &ps, r, err, errlen);
	mp_processes_free(&ps);
	return rc;
}

int mp_totals_load(sqlite3 *db, int64_t pid, struct mp_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->peak_process_id = -1;
	struct mp_runs r;
	if (runs_of(db, pid, &r, &t->processes, err, errlen))
		return -1;
	t->runs = r.n;
	for (int m = 0; m < MP_METRIC_N; m++) {
		struct mp_run_stat st;
		mp_runs_stat(&r, run_figure((enum mp_metric)m), &st);
		t->v[m] = st.median;
		t->median_run[m] = r.total > 1 ? st.median_run : 0;
		if (m == MP_METRIC_PEAK) {
			const struct mp_run *x = mp_runs_find(&r, st.median_run);
			t->peak_process_id = x ? x->peak_process_id : -1;
		}
	}
	mp_runs_free(&r);
	return 0;
}

int mp_totals_window(sqlite3 *db, int64_t pid, struct mp_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->peak_process_id = -1;
	struct mp_runs r;
	if (runs_of(db, pid, &r, &t->processes, err, errlen))
		return -1;
	t->runs = r.n;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT total(allocations), total(bytes), total(leaked_bytes), total(leaked_blocks)"
	                       " FROM temp.window_sites WHERE ?1 <= 0"
	                       " OR process_id IN (SELECT id FROM main.processes WHERE run = ?1)",
	                       -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, err, errlen);
		mp_runs_free(&r);
		return -1;
	}
	/* per run (all of them at once in a trace of one run) */
	size_t n = r.total > 1 ? r.n : 1;
	int64_t *v = mp_xmalloc((n ? n : 1) * MP_METRIC_N * sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, r.total > 1 ? r.v[i].run : 0);
		if (sqlite3_step(st) != SQLITE_ROW) {
			mp_trace_errmsg(db, err, errlen);
			rc = -1;
			break;
		}
		int64_t *x = v + i * MP_METRIC_N;
		x[MP_METRIC_ALLOCATIONS] = (int64_t)sqlite3_column_double(st, 0);
		x[MP_METRIC_BYTES] = (int64_t)sqlite3_column_double(st, 1);
		x[MP_METRIC_PEAK] = 0;
		x[MP_METRIC_LEAKED] = (int64_t)sqlite3_column_double(st, 2);
		x[MP_METRIC_LEAKED_BLOCKS] = (int64_t)sqlite3_column_double(st, 3);
	}
	sqlite3_finalize(st);
	if (!rc) {
		int64_t *sorted = mp_xmalloc((n ? n : 1) * sizeof(*sorted));
		for (int m = 0; m < MP_METRIC_N; m++) {
			for (size_t i = 0; i < n; i++)
				sorted[i] = v[i * MP_METRIC_N + m];
			t->v[m] = mp_median(sorted, n);
			for (size_t i = 0; i < n && r.total > 1 && !t->median_run[m]; i++)
				if (v[i * MP_METRIC_N + m] == t->v[m])
					t->median_run[m] = r.v[i].run;
		}
		free(sorted);
	}
	free(v);
	mp_runs_free(&r);
	return rc;
}

/* --- thresholds ------------------------------------------------------------ */

int mp_percent_parse(const char *opt, const char *arg, int64_t *pct_micro, char *err, size_t errlen)
{
	const char *p = arg;
	int64_t whole = 0, frac = 0, scale = 1000000;
	int digits = 0;
	if (*p == '+')
		p++;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (whole > INT64_MAX / 10000000)
			goto bad;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == '%')
		p++;
	if (!digits || *p)
		goto bad;
	*pct_micro = whole * 1000000 + frac;
	return 0;
bad:
	snprintf(err, errlen, "option '%s' needs a percentage (like 10 or 2.5%%), not '%s'", opt, arg);
	return -1;
}

int mp_threshold_parse(const char *expr, struct mp_threshold *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	const char *gt = strchr(expr, '>');
	if (!gt) {
		snprintf(err, errlen, "'--fail-if %s': expected METRIC>+N%%, METRIC>+SIZE or METRIC>+N", expr);
		return -1;
	}
	const char *a = expr, *e = gt;
	while (a < e && isspace((unsigned char)*a))
		a++;
	while (e > a && isspace((unsigned char)e[-1]))
		e--;
	int m = 0;
	while (m < MP_METRIC_N && !(strlen(metric_names[m]) == (size_t)(e - a) && !strncmp(a, metric_names[m], e - a)))
		m++;
	if (m == MP_METRIC_N) {
		snprintf(err, errlen,
		         "'--fail-if %s': unknown metric '%.*s' (allocations, bytes, peak_bytes, leaked_bytes,"
		         " leaked_blocks)",
		         expr, (int)(e - a), a);
		return -1;
	}
	t->metric = (enum mp_metric)m;
	const char *v = gt + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (*v == '+')
		v++;
	char value[64];
	snprintf(value, sizeof(value), "%s", v);
	size_t n = strlen(value);
	while (n && isspace((unsigned char)value[n - 1]))
		value[--n] = 0;
	char perr[256];
	if (n && value[n - 1] == '%') {
		t->relative = 1;
		if (mp_percent_parse("--fail-if", value, &t->pct_micro, perr, sizeof(perr)) == 0)
			return 0;
	} else if (is_size(t->metric) ? mp_parse_size("--fail-if", value, &t->amount, perr, sizeof(perr)) == 0
	                              : mp_parse_uint("--fail-if", value, &t->amount, perr, sizeof(perr)) == 0) {
		return 0;
	}
	snprintf(err, errlen, "'--fail-if %s': bad limit '%s' (like +10%%, +1MiB or +1000)", expr, v);
	return -1;
}

/* Appends the percentage in millionths, without trailing zeros. */
static void percent_format(int64_t pct_micro, struct mp_buf *b)
{
	char frac[16];
	snprintf(frac, sizeof(frac), "%06" PRId64, pct_micro % 1000000);
	size_t n = strlen(frac);
	while (n && frac[n - 1] == '0')
		frac[--n] = 0;
	mp_buf_printf(b, "%" PRId64 "%s%s%%", pct_micro / 1000000, n ? "." : "", frac);
}

int mp_threshold_eval(const struct mp_threshold *t, const char *label, const char *what, int64_t before, int64_t after,
                      struct mp_buf *verdict)
{
	__int128 delta = (__int128)after - before;
	int exceeded;
	if (t->relative)
		exceeded = delta > 0 && (before <= 0 || delta * 100 * 1000000 > (__int128)t->pct_micro * before);
	else
		exceeded = delta > t->amount;
	int64_t d = delta > INT64_MAX ? INT64_MAX : delta < INT64_MIN ? INT64_MIN : (int64_t)delta;
	mp_buf_printf(verdict, "%s ", label);
	mp_metric_format(t->metric, after, 0, verdict);
	mp_buf_printf(verdict, " vs %s ", what);
	mp_metric_format(t->metric, before, 0, verdict);
	mp_buf_puts(verdict, ": ");
	mp_metric_format(t->metric, d, 1, verdict);
	if (before > 0)
		mp_buf_printf(verdict, " (%+.2f%%)", 100.0 * (double)d / (double)before);
	else if (after > 0)
		mp_buf_puts(verdict, " (from 0)");
	mp_buf_printf(verdict, " %s +", exceeded ? ">" : "<=");
	if (t->relative)
		percent_format(t->pct_micro, verdict);
	else
		mp_metric_format(t->metric, t->amount, 0, verdict);
	return exceeded;
}

/* --- suppressions ------------------------------------------------------------ */

/* The first occurrence of needle's n bytes in hay, or NULL. */
static const char *find_n(const char *hay, const char *needle, size_t n)
{
	for (const char *p = hay;; p++) {
		if (!strncmp(p, needle, n))
			return p;
		if (!*p)
			return NULL;
	}
}

/* sanitizer_common's TemplateMatch, without writing into the pattern. */
int mp_template_match(const char *templ, const char *str)
{
	if (!str || !*str)
		return 0;
	int start = 0, asterisk = 0;
	if (*templ == '^') {
		start = 1;
		templ++;
	}
	while (*templ) {
		if (*templ == '*') {
			templ++;
			start = 0;
			asterisk = 1;
			continue;
		}
		if (*templ == '$')
			return *str == 0 || asterisk;
		if (*str == 0)
			return 0;
		size_t n = strcspn(templ, "*$");
		const char *spos = find_n(str, templ, n);
		if (!spos || (start && spos != str))
			return 0;
		str = spos + n;
		templ += n;
		start = 0;
		asterisk = 0;
	}
	return 1;
}

int mp_suppressions_load(const char *path, struct mp_suppressions *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read the suppressions '%s': %s", path,
		         errno == ENOENT ? "no such file" : mp_strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t len;
	int rc = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *a = line, *e = line + len;
		while (a < e && isspace((unsigned char)*a))
			a++;
		while (e > a && isspace((unsigned char)e[-1]))
			e--;
		*e = 0;
		if (!*a || *a == '#')
			continue;
		char *colon = strchr(a, ':');
		if (!colon || colon - a != 4 || strncmp(a, "leak", 4) != 0) {
			snprintf(err, errlen, "suppressions '%s' line %u: expected 'leak:PATTERN', not '%.60s'", path,
			         lineno, a);
			rc = -1;
			break;
		}
		void *v = s->v;
		mp_grow(&v, &s->cap, s->n + 1, sizeof(*s->v));
		s->v = v;
		s->v[s->n++] = (struct mp_suppression){.pattern = mp_xstrdup(colon + 1), .line = lineno};
	}
	if (!rc && ferror(f)) {
		snprintf(err, errlen, "cannot read the suppressions '%s': %s", path, mp_strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc)
		mp_suppressions_free(s);
	return rc;
}

void mp_suppressions_free(struct mp_suppressions *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].pattern);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct mp_suppression *mp_suppressions_match(struct mp_suppressions *s, const struct mp_stack *stack)
{
	for (size_t i = 0; i < stack->n; i++) {
		const struct mp_frame *f = stack->v[i];
		if (f->flags & MP_FRAME_TRUNCATED)
			continue;
		for (size_t k = 0; k < s->n; k++) {
			const char *p = s->v[k].pattern;
			if (mp_template_match(p, f->module) || mp_template_match(p, f->function) ||
			    mp_template_match(p, f->file))
				return &s->v[k];
		}
	}
	return NULL;
}

/* --- memprof check ------------------------------------------------------------ */

const char mp_check_options_help[] =
        "    --max-peak SIZE       fail when the peak exceeds SIZE (1024, 10K, 10KiB, 5M, 1G)\n"
        "    --max-leaked SIZE     fail when the leaked bytes, less suppressed ones, exceed SIZE\n"
        "    --max-allocations N   fail when there are more than N allocation calls\n"
        "    --baseline OLD.db     with --max-increase: compare peak, leaked bytes and\n"
        "                          allocations with those of the trace OLD.db\n"
        "    --max-increase PCT    fail when one of them grew by more than PCT percent\n"
        "    --suppressions FILE   LeakSanitizer suppressions: 'leak:PATTERN' lines\n"
        "    --sites N             offending sites shown under a failed limit (default 5)\n"
        "    --full-stacks         show every caller of those sites (default: 8)\n";

void mp_check_init(struct mp_check *c)
{
	memset(c, 0, sizeof(*c));
	c->max_peak = c->max_leaked = c->max_allocations = c->max_increase = -1;
	c->pid = -1;
	c->sites = 5;
}

void mp_check_fini(struct mp_check *c)
{
	mp_suppressions_free(&c->supp);
}

int mp_check_option(struct mp_check *c, const char *cmd, int opt, const char *arg)
{
	char err[512];
	int bad = 0;
	switch (opt) {
	case MP_OPT_MAX_PEAK:
		bad = mp_parse_size("--max-peak", arg, &c->max_peak, err, sizeof(err));
		break;
	case MP_OPT_MAX_LEAKED:
		bad = mp_parse_size("--max-leaked", arg, &c->max_leaked, err, sizeof(err));
		break;
	case MP_OPT_MAX_ALLOCATIONS:
		bad = mp_parse_uint("--max-allocations", arg, &c->max_allocations, err, sizeof(err));
		break;
	case MP_OPT_BASELINE:
		c->baseline = arg;
		break;
	case MP_OPT_MAX_INCREASE:
		bad = mp_percent_parse("--max-increase", arg, &c->max_increase, err, sizeof(err));
		break;
	case MP_OPT_SUPPRESSIONS:
		c->suppressions_path = arg;
		break;
	case MP_OPT_SITES:
		bad = mp_parse_uint("--sites", arg, &c->sites, err, sizeof(err));
		break;
	case MP_OPT_CHECK_FULL_STACKS:
		c->full_stacks = 1;
		break;
	default:
		return -1;
	}
	if (bad)
		return mp_usage_error(cmd, "%s", err);
	c->given = 1;
	return 0;
}

int mp_check_ready(struct mp_check *c, const char *cmd)
{
	if (c->baseline && c->max_increase < 0)
		return mp_usage_error(cmd, "--baseline needs --max-increase PCT");
	if (!c->baseline && c->max_increase >= 0)
		return mp_usage_error(cmd, "--max-increase needs --baseline OLD.db");
	if (c->max_peak < 0 && c->max_leaked < 0 && c->max_allocations < 0 && !c->baseline)
		return mp_usage_error(cmd, "no limit given (--max-peak, --max-leaked, --max-allocations or"
		                           " --baseline with --max-increase)");
	if (c->suppressions_path) {
		char err[512];
		if (mp_suppressions_load(c->suppressions_path, &c->supp, err, sizeof(err))) {
			mp_error("%s", err);
			return MP_EXIT_USAGE;
		}
	}
	return 0;
}

/* A site shown under a failed limit. */
struct site {
	int64_t stack_id, a, b;
};

struct sites {
	struct site *v;
	size_t n, cap;
};

static void sites_add(struct sites *s, int64_t stack_id, int64_t a, int64_t b)
{
	void *v = s->v;
	mp_grow(&v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v = v;
	s->v[s->n++] = (struct site){stack_id, a, b};
}

/* Which figure a list of sites shows. */
enum show { SHOW_PEAK, SHOW_LEAKED, SHOW_ALLOCATIONS };

/* Prints the sites under a verdict. Returns 0 or an exit code. */
static int print_sites(struct mp_check *c, sqlite3 *db, const char *path, const struct sites *s, enum show show,
                       FILE *out)
{
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db))
		return mp_trace_fail(path, l.err);
	struct mp_stack stack = {0};
	int rc = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (mp_stack_load(&l, s->v[i].stack_id, &stack)) {
			rc = mp_trace_fail(path, l.err);
			break;
		}
		char h[MP_HUMAN_MAX];
		const struct site *x = &s->v[i];
		if (show == SHOW_ALLOCATIONS)
			fprintf(out, "  #%zu  %" PRId64 " allocation%s, %s\n", i + 1, x->a, x->a == 1 ? "" : "s",
			        mp_human_size(x->b, h, sizeof(h)));
		else
			fprintf(out, "  #%zu  %s in %" PRId64 " block%s%s\n", i + 1, mp_human_size(x->a, h, sizeof(h)),
			        x->b, x->b == 1 ? "" : "s", show == SHOW_PEAK ? " live at the peak" : " leaked");
		mp_stack_print_text(out, &stack, "    ", c->full_stacks);
	}
	mp_stack_free(&stack);
	mp_stack_loader_fini(&l);
	return rc;
}

/* The sites table the limits read: the window's, or the trace's. */
static const char *sites_table(const struct mp_check *c)
{
	return c->window && mp_window_set(c->window) ? "temp.window_sites" : "main.sites";
}

/* The top sites by peak or allocations into *s. Returns 0 or an exit code. */
static int top_sites(struct mp_check *c, sqlite3 *db, const char *path, enum show show, int64_t peak_process_id,
                     int64_t run, struct sites *s)
{
	const char *table = sites_table(c);
	char sql[512];
	if (show == SHOW_PEAK)
		snprintf(sql, sizeof(sql),
		         "SELECT stack_id, peak_bytes, peak_blocks FROM %s WHERE process_id = ?1"
		         " AND peak_bytes > 0 ORDER BY peak_bytes DESC, peak_blocks DESC, stack_id LIMIT ?3",
		         table);
	else
		snprintf(sql, sizeof(sql),
		         "SELECT stack_id, sum(allocations), sum(bytes) FROM %s"
		         " WHERE (?2 < 0 OR process_id IN (SELECT id FROM main.processes WHERE pid = ?2))%s"
		         " GROUP BY stack_id HAVING sum(allocations) > 0"
		         " ORDER BY 2 DESC, 3 DESC, stack_id LIMIT ?3",
		         table, run > 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?4)" : "");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(path, db);
	if (show == SHOW_PEAK)
		sqlite3_bind_int64(st, 1, peak_process_id);
	else
		sqlite3_bind_int64(st, 2, c->pid);
	sqlite3_bind_int64(st, 3, c->sites);
	if (run > 0 && show != SHOW_PEAK)
		sqlite3_bind_int64(st, 4, run);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sites_add(s, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	if (rc != SQLITE_DONE)
		rc = mp_trace_fail_db(path, db);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

/* The leaks of a trace less the suppressed ones. */
struct leaks {
	int64_t bytes, blocks;                       /* not suppressed */
	int64_t suppressed_bytes, suppressed_blocks; /* suppressed */
	struct sites top;                            /* the largest ones not suppressed */
};

/* Reads the leak sites of the processes with pid (every one when < 0) of
   run (every run when 0), matching them with the suppressions (counting
   their use when count). Returns 0 or an exit code after the message; the
   caller frees lk->top. */
static int leak_pass(struct mp_check *c, sqlite3 *db, const char *path, int64_t pid, int64_t run, int count,
                     struct leaks *lk)
{
	memset(lk, 0, sizeof(*lk));
	sqlite3_stmt *st;
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(leaked_bytes), sum(leaked_blocks) FROM %s"
	         " WHERE leaked_blocks > 0 AND (?1 < 0 OR process_id IN"
	         " (SELECT id FROM main.processes WHERE pid = ?1))%s"
	         " GROUP BY stack_id ORDER BY 2 DESC, 3 DESC, stack_id",
	         sites_table(c), run > 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE run = ?2)" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(path, db);
	sqlite3_bind_int64(st, 1, pid);
	if (run > 0)
		sqlite3_bind_int64(st, 2, run);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		sqlite3_finalize(st);
		return mp_trace_fail(path, l.err);
	}
	struct mp_stack stack = {0};
	int rc, exit_code = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), bytes = sqlite3_column_int64(st, 1),
		        blocks = sqlite3_column_int64(st, 2);
		struct mp_suppression *s = NULL;
		if (c->supp.n) {
			if (mp_stack_load(&l, id, &stack)) {
				exit_code = mp_trace_fail(path, l.err);
				break;
			}
			s = mp_suppressions_match(&c->supp, &stack);
		}
		if (s) {
			lk->suppressed_bytes = mp_add_sat(lk->suppressed_bytes, bytes);
			lk->suppressed_blocks = mp_add_sat(lk->suppressed_blocks, blocks);
			if (count) {
				s->bytes = mp_add_sat(s->bytes, bytes);
				s->blocks = mp_add_sat(s->blocks, blocks);
			}
		} else {
			lk->bytes = mp_add_sat(lk->bytes, bytes);
			lk->blocks = mp_add_sat(lk->blocks, blocks);
			if ((int64_t)lk->top.n < c->sites)
				sites_add(&lk->top, id, bytes, blocks);
		}
	}
	if (!exit_code && rc != SQLITE_DONE)
		exit_code = mp_trace_fail_db(path, db);
	mp_stack_free(&stack);
	mp_stack_loader_fini(&l);
	sqlite3_finalize(st);
	return exit_code;
}

/* The leaked bytes a limit sees: the processes' figure less what
   suppressions took (the sites hold the same blocks), in the median run by
   that figure in a trace of several runs. lk gets that run's leaks (the
   suppressions' use counted when count), *run that run (0: the trace has
   one). Returns 0 or an exit code after the message. */
static int leaks_median(struct mp_check *c, sqlite3 *db, const char *path, int64_t pid, int count, struct leaks *lk,
                        int64_t *net, int64_t *run)
{
	struct mp_runs r;
	char err[512];
	size_t processes;
	*net = 0;
	*run = 0;
	memset(lk, 0, sizeof(*lk));
	if (runs_of(db, pid, &r, &processes, err, sizeof(err)))
		return mp_trace_fail(path, err);
	int rc = 0, windowed = c->window && mp_window_set(c->window);
	if (r.total > 1 && r.n > 0) {
		int64_t *nets = mp_xmalloc(r.n * sizeof(*nets)), *sorted = mp_xmalloc(r.n * sizeof(*sorted));
		for (size_t i = 0; i < r.n && !rc; i++) {
			struct leaks one;
			rc = leak_pass(c, db, path, pid, r.v[i].run, 0, &one);
			/* a window's leaks are its sites' */
			int64_t v = windowed ? one.bytes : r.v[i].v[MP_RUN_LEAKED] - one.suppressed_bytes;
			sorted[i] = nets[i] = v < 0 ? 0 : v;
			free(one.top.v);
		}
		if (!rc) {
			*net = mp_median(sorted, r.n);
			for (size_t i = 0; i < r.n && !*run; i++)
				if (nets[i] == *net)
					*run = r.v[i].run;
			rc = leak_pass(c, db, path, pid, *run, count, lk);
		}
		free(nets);
		free(sorted);
	} else {
		rc = leak_pass(c, db, path, pid, 0, count, lk);
		int64_t v = windowed ? lk->bytes : (r.n ? r.v[0].v[MP_RUN_LEAKED] : 0) - lk->suppressed_bytes;
		*net = v < 0 ? 0 : v;
	}
	mp_runs_free(&r);
	return rc;
}

/* Prints one verdict line: "ok: " or "FAIL: " and the text. */
static void verdict(FILE *out, int failed, const char *text)
{
	fprintf(out, "%s: %s\n", failed ? "FAIL" : "ok", text);
}

/* Prints the sites behind a failed figure, of run (0: every process).
   Returns 0 or an exit code. */
static int offenders(struct mp_check *c, sqlite3 *db, const char *path, enum show show, const struct mp_totals *t,
                     const struct leaks *lk, int64_t run, FILE *out)
{
	if (c->sites == 0)
		return 0;
	if (run > 0)
		fprintf(out, "  sites of run %" PRId64 ", the median run:\n", run);
	if (show == SHOW_LEAKED)
		return print_sites(c, db, path, &lk->top, show, out);
	struct sites s = {0};
	int rc = top_sites(c, db, path, show, t->peak_process_id, run, &s);
	if (!rc)
		rc = print_sites(c, db, path, &s, show, out);
	free(s.v);
	return rc;
}

/* " (median of N runs)" after a figure of a trace of several runs. */
static void runs_note(struct mp_buf *line, size_t runs)
{
	if (runs > 1)
		mp_buf_printf(line, " (median of %zu runs)", runs);
}

int mp_check_trace(struct mp_check *c, const char *path, FILE *out)
{
	sqlite3 *db, *base = NULL;
	char err[512];
	int rc = mp_trace_open(path, &db);
	if (rc)
		return rc;
	struct mp_totals t, bt;
	struct leaks lk = {0}, blk = {0};
	int64_t lnet = 0, blnet = 0, lrun = 0, blrun = 0;
	int windowed = c->window && mp_window_set(c->window);
	if (mp_totals_load(db, c->pid, &t, err, sizeof(err))) {
		rc = mp_trace_fail(path, err);
		goto out;
	}
	if (c->pid >= 0 && t.processes == 0) {
		mp_error("no process with pid %" PRId64 " in '%s'", c->pid, path);
		rc = MP_EXIT_USAGE;
		goto out;
	}
	if (windowed && ((rc = mp_window_sites(c->window, NULL, db, path, c->pid, 0)) ||
	                 (mp_totals_window(db, c->pid, &t, err, sizeof(err)) && (rc = mp_trace_fail(path, err)))))
		goto out;
	if ((rc = leaks_median(c, db, path, c->pid, 1, &lk, &lnet, &lrun)))
		goto out;
	if (c->baseline) {
		if ((rc = mp_trace_open(c->baseline, &base)))
			goto out;
		mp_env_warn(base, c->baseline, db, path);
		if (mp_totals_load(base, -1, &bt, err, sizeof(err))) {
			rc = mp_trace_fail(c->baseline, err);
			goto out;
		}
		if (windowed &&
		    ((rc = mp_window_sites(c->window, NULL, base, c->baseline, -1, 0)) ||
		     (mp_totals_window(base, -1, &bt, err, sizeof(err)) && (rc = mp_trace_fail(c->baseline, err)))))
			goto out;
		if ((rc = leaks_median(c, base, c->baseline, -1, 0, &blk, &blnet, &blrun)))
			goto out;
	}

	int failed_any = 0;
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX];
	struct mp_buf line = {0};
	if (windowed) {
		mp_window_describe(c->window, &line);
		fputs("window: allocations made in ", out);
		mp_text_puts(out, mp_buf_str(&line));
		fputc('\n', out);
		mp_buf_reset(&line);
	}
	if (c->max_peak >= 0) {
		int failed = t.v[MP_METRIC_PEAK] > c->max_peak;
		mp_buf_printf(&line, "peak %s", mp_human_size(t.v[MP_METRIC_PEAK], a, sizeof(a)));
		runs_note(&line, t.runs);
		mp_buf_printf(&line, " %s %s", failed ? ">" : "<=", mp_human_size(c->max_peak, b, sizeof(b)));
		verdict(out, failed, mp_buf_str(&line));
		mp_buf_reset(&line);
		if (failed && (rc = offenders(c, db, path, SHOW_PEAK, &t, &lk, t.median_run[MP_METRIC_PEAK], out)))
			goto out_line;
		failed_any |= failed;
	}
	if (c->max_leaked >= 0) {
		int failed = lnet > c->max_leaked;
		mp_buf_printf(&line, "leaked %s", mp_human_size(lnet, a, sizeof(a)));
		runs_note(&line, t.runs);
		mp_buf_printf(&line, " %s %s", failed ? ">" : "<=", mp_human_size(c->max_leaked, b, sizeof(b)));
		if (c->suppressions_path)
			mp_buf_printf(&line, " (%s in %" PRId64 " block%s suppressed)",
			              mp_human_size(lk.suppressed_bytes, a, sizeof(a)), lk.suppressed_blocks,
			              lk.suppressed_blocks == 1 ? "" : "s");
		verdict(out, failed, mp_buf_str(&line));
		mp_buf_reset(&line);
		if (failed && (rc = offenders(c, db, path, SHOW_LEAKED, &t, &lk, lrun, out)))
			goto out_line;
		failed_any |= failed;
	}
	if (c->max_allocations >= 0) {
		int failed = t.v[MP_METRIC_ALLOCATIONS] > c->max_allocations;
		mp_buf_printf(&line, "allocations %" PRId64, t.v[MP_METRIC_ALLOCATIONS]);
		runs_note(&line, t.runs);
		mp_buf_printf(&line, " %s %" PRId64, failed ? ">" : "<=", c->max_allocations);
		verdict(out, failed, mp_buf_str(&line));
		mp_buf_reset(&line);
		if (failed &&
		    (rc = offenders(c, db, path, SHOW_ALLOCATIONS, &t, &lk, t.median_run[MP_METRIC_ALLOCATIONS], out)))
			goto out_line;
		failed_any |= failed;
	}
	if (c->baseline) {
		static const struct {
			enum mp_metric metric;
			const char *label;
			enum show show;
		} figures[] = {
		        {MP_METRIC_PEAK, "peak", SHOW_PEAK},
		        {MP_METRIC_LEAKED, "leaked", SHOW_LEAKED},
		        {MP_METRIC_ALLOCATIONS, "allocations", SHOW_ALLOCATIONS},
		};
		struct mp_threshold th = {.relative = 1, .pct_micro = c->max_increase};
		for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
			if (windowed && figures[i].metric == MP_METRIC_PEAK)
				continue; /* not defined for a window */
			th.metric = figures[i].metric;
			int64_t now = t.v[th.metric], then = bt.v[th.metric];
			int64_t run = t.median_run[th.metric];
			if (th.metric == MP_METRIC_LEAKED) {
				now = lnet;
				then = blnet;
				run = lrun;
			}
			int failed = mp_threshold_eval(&th, figures[i].label, "baseline", then, now, &line);
			if (t.runs > 1 || bt.runs > 1)
				mp_buf_printf(&line, " (medians of %zu and %zu runs)", t.runs, bt.runs);
			verdict(out, failed, mp_buf_str(&line));
			mp_buf_reset(&line);
			if (failed && (rc = offenders(c, db, path, figures[i].show, &t, &lk, run, out)))
				goto out_line;
			failed_any |= failed;
		}
	}
	for (size_t i = 0; i < c->supp.n; i++) {
		const struct mp_suppression *s = &c->supp.v[i];
		if (s->blocks)
			fprintf(out, "suppressed by 'leak:%s' (%s line %u): %s in %" PRId64 " block%s\n", s->pattern,
			        c->suppressions_path, s->line, mp_human_size(s->bytes, a, sizeof(a)), s->blocks,
			        s->blocks == 1 ? "" : "s");
	}
	rc = failed_any ? MP_EXIT_CHECK : MP_EXIT_OK;
out_line:
	mp_buf_free(&line);
out:
	free(lk.top.v);
	free(blk.top.v);
	if (base)
		mp_trace_close(base);
	mp_trace_close(db);
	return rc;
}
