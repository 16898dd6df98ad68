/* memprof diff: two traces compared site by site. Sites are matched by
 * their symbolized stacks (function and source file name of each frame,
 * or module name and offset without a function), so that a rebuilt binary
 * still matches; the sites that changed are listed by the largest change
 * of bytes allocated, and --fail-if thresholds on the totals exit 1. A
 * trace of several runs (memprof run --repeat) counts by its medians: the
 * totals are the median of each figure over its runs, and each site's
 * figures the median of that site's over the runs (0 in a run without it). */
#include <getopt.h>
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

enum { OPT_FAIL_IF = MP_OPT_FIRST_PRIVATE, OPT_LIMIT };

static void usage(FILE *out)
{
	fputs("usage: memprof diff [--pid PID|BEFORE:AFTER] [--format text|json|csv] [--limit N]\n"
	      "                    [--full-stacks] [--fail-if EXPR]... [--phase NAME] [--from T] [--to T]\n"
	      "                    BEFORE.db AFTER.db\n"
	      "\n"
	      "Compares two traces: their totals, and the allocation sites matched by\n"
	      "their symbolized stacks (the function and source file name of each frame;\n"
	      "module name and offset for a frame without a function; never addresses\n"
	      "or lines, so that a rebuilt program still matches). Sites whose figures\n"
	      "changed, appeared (new) or disappeared (gone) are listed, the largest\n"
	      "change of bytes allocated first. Figures are summed over processes (a\n"
	      "trace's peak is the largest of any one process). A trace of several runs\n"
	      "(memprof run --repeat) counts by medians: of each total over the runs,\n"
	      "and of each site's figures over the runs.\n"
	      "With --phase, --from or --to: the allocations made in that window of\n"
	      "each trace (the same phase name, or the same times since each started),\n"
	      "without peaks (not defined for a window).\n"
	      "\n"
	      "    --pid PID          only the process(es) with that pid, in both traces\n"
	      "    --pid B:A          pid B in BEFORE.db and pid A in AFTER.db\n"
	      "    --limit N, -n N    show N sites (default 10; 0: all)\n"
	      "    --fail-if EXPR     exit 1 when a total grew more than EXPR allows:\n"
	      "                       METRIC>+N% (relative), METRIC>+SIZE or METRIC>+N\n"
	      "                       (absolute); METRIC is allocations, bytes, peak_bytes,\n"
	      "                       leaked_bytes or leaked_blocks; may be repeated\n"
	      "    --full-stacks      show every caller in text (default: 8)\n"
	      "    --format FMT       text (default), json or csv\n"
	      "    -h, --help         this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* The per-site figures compared. */
enum { F_ALLOCATIONS, F_BYTES, F_PEAK, F_LEAKED, F_LEAKED_BLOCKS, NFIG };

static const char *const fig_names[NFIG] = {"allocations", "bytes", "peak_bytes", "leaked_bytes", "leaked_blocks"};

/* A window is compared (--phase, --from, --to): no peak figures. */
static int no_peak;

/* One site (a symbolized stack) in both traces; side 0 is BEFORE. */
struct dsite {
	char *key; /* owned */
	int64_t f[2][NFIG];
	int64_t stack[2];     /* stack id shown: the stack with the most bytes */
	int64_t rep_bytes[2]; /* bytes of that stack */
	int64_t stacks[2];    /* stacks of this trace merged into the site */
	int64_t last_id[2];   /* the stack id read last (rows come by stack id) */
	int64_t *per_run[2];  /* a trace of several runs: NFIG figures per run */
};

struct dsites {
	struct dsite *v;
	size_t n, cap;
	size_t *index; /* hash table of v indexes + 1, 0: empty */
	size_t index_cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void index_put(struct dsites *d, size_t i)
{
	size_t mask = d->index_cap - 1, k = hash_str(d->v[i].key) & mask;
	while (d->index[k])
		k = (k + 1) & mask;
	d->index[k] = i + 1;
}

/* The site with that key, added when missing. */
static struct dsite *dsite_get(struct dsites *d, const char *key)
{
	if (d->index_cap) {
		size_t mask = d->index_cap - 1, k = hash_str(key) & mask;
		for (; d->index[k]; k = (k + 1) & mask)
			if (!strcmp(d->v[d->index[k] - 1].key, key))
				return &d->v[d->index[k] - 1];
	}
	if ((d->n + 1) * 2 > d->index_cap) {
		free(d->index);
		d->index_cap = d->index_cap ? d->index_cap * 2 : 256;
		d->index = calloc(d->index_cap, sizeof(*d->index));
		if (!d->index) {
			mp_error("out of memory");
			exit(MP_EXIT_TRACE);
		}
		for (size_t i = 0; i < d->n; i++)
			index_put(d, i);
	}
	void *v = d->v;
	mp_grow(&v, &d->cap, d->n + 1, sizeof(*d->v));
	d->v = v;
	struct dsite *s = &d->v[d->n];
	memset(s, 0, sizeof(*s));
	s->key = mp_xstrdup(key);
	s->stack[0] = s->stack[1] = s->last_id[0] = s->last_id[1] = -1;
	index_put(d, d->n++);
	return s;
}

static void dsites_free(struct dsites *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].key);
		free(d->v[i].per_run[0]);
		free(d->v[i].per_run[1]);
	}
	free(d->v);
	free(d->index);
}

/* The matching key of a stack: per frame, "function\tfile-name" (the
   module's name instead of a file it lacks), or "@module+0xoffset". */
static void stack_key(const struct mp_stack *s, struct mp_buf *b)
{
	mp_buf_reset(b);
	for (size_t i = 0; i < s->n; i++) {
		const struct mp_frame *f = s->v[i];
		if (i)
			mp_buf_puts(b, "\n");
		if (f->flags & MP_FRAME_TRUNCATED)
			mp_buf_puts(b, "[truncated]");
		else if (f->function)
			mp_buf_printf(b, "%s\t%s%s%s", f->function, f->file ? "" : "(",
			              f->file     ? mp_basename(f->file)
			              : f->module ? mp_basename(f->module)
			                          : "",
			              f->file ? "" : ")");
		else
			mp_buf_printf(b, "@%s+0x%" PRIx64, f->module ? mp_basename(f->module) : "", f->address);
	}
}

/* One trace of the comparison. */
struct side {
	struct mp_query q;
	sqlite3 *db;
	struct mp_totals t;
	struct mp_stack_loader l;
	int loader;
	int64_t *runs; /* the run numbers among the processes, when several */
	size_t nruns;
};

/* The index of run in sd->runs, or -1. */
static long run_index(const struct side *sd, int64_t run)
{
	for (size_t i = 0; i < sd->nruns; i++)
		if (sd->runs[i] == run)
			return (long)i;
	return -1;
}

/* Adds the sites of one side. Returns 0 or an exit code after the message. */
static int load_sites(struct side *sd, const char *table, int which, struct dsites *d)
{
	sqlite3_stmt *st;
	char sql[512];
	snprintf(sql, sizeof(sql),
	         sd->nruns > 1 ? "SELECT s.stack_id, sum(s.allocations), sum(s.bytes), sum(s.peak_bytes),"
	                         " sum(s.leaked_bytes), sum(s.leaked_blocks), p.run"
	                         " FROM %s s JOIN main.processes p ON p.id = s.process_id"
	                         " WHERE ?1 < 0 OR p.pid = ?1"
	                         " GROUP BY s.stack_id, p.run ORDER BY s.stack_id, p.run"
	                       : "SELECT stack_id, sum(allocations), sum(bytes), sum(peak_bytes),"
	                         " sum(leaked_bytes), sum(leaked_blocks), 1 FROM %s"
	                         " WHERE ?1 < 0 OR process_id IN"
	                         " (SELECT id FROM main.processes WHERE pid = ?1)"
	                         " GROUP BY stack_id ORDER BY stack_id",
	         table);
	if (sqlite3_prepare_v2(sd->db, sql, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(sd->q.path, sd->db);
	sqlite3_bind_int64(st, 1, sd->q.pid);
	struct mp_stack stack = {0};
	struct mp_buf key = {0};
	int rc, exit_code = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (mp_stack_load(&sd->l, id, &stack)) {
			exit_code = mp_trace_fail(sd->q.path, sd->l.err);
			break;
		}
		stack_key(&stack, &key);
		struct dsite *s = dsite_get(d, mp_buf_str(&key));
		int64_t *f = s->f[which];
		long ri = run_index(sd, sqlite3_column_int64(st, 6));
		if (sd->nruns > 1 && ri >= 0) {
			if (!s->per_run[which]) {
				s->per_run[which] = calloc(sd->nruns * NFIG, sizeof(int64_t));
				if (!s->per_run[which]) {
					mp_error("out of memory");
					exit(MP_EXIT_TRACE);
				}
			}
			f = s->per_run[which] + (size_t)ri * NFIG;
		}
		for (int i = 0; i < NFIG; i++)
			f[i] = mp_add_sat(f[i], sqlite3_column_int64(st, 1 + i));
		int64_t bytes = sqlite3_column_int64(st, 2);
		if (s->last_id[which] != id) {
			s->last_id[which] = id;
			if (s->stacks[which]++ == 0 || bytes > s->rep_bytes[which]) {
				s->stack[which] = id;
				s->rep_bytes[which] = bytes;
			}
		}
	}
	if (!exit_code && rc != SQLITE_DONE)
		exit_code = mp_trace_fail_db(sd->q.path, sd->db);
	mp_stack_free(&stack);
	mp_buf_free(&key);
	sqlite3_finalize(st);
	return exit_code;
}

/* Each site's figures on a side of several runs: the median over the
   runs (0 in a run without it). A site whose medians are all 0 (it is
   missing from half the runs or more) is absent from that side; one
   absent from both is dropped. */
static void site_medians(struct dsites *d, const struct side *sides)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct dsite *s = &d->v[i];
		for (int w = 0; w < 2; w++) {
			size_t n = sides[w].nruns;
			if (n < 2 || !s->per_run[w])
				continue;
			int64_t *v = mp_xmalloc(n * sizeof(*v));
			int any = 0;
			for (int f = 0; f < NFIG; f++) {
				for (size_t r = 0; r < n; r++)
					v[r] = s->per_run[w][r * NFIG + f];
				s->f[w][f] = mp_median(v, n);
				any |= s->f[w][f] != 0;
			}
			free(v);
			if (!any)
				s->stacks[w] = 0;
		}
		if (!s->stacks[0] && !s->stacks[1]) {
			free(s->key);
			free(s->per_run[0]);
			free(s->per_run[1]);
			continue;
		}
		d->v[k++] = *s;
	}
	d->n = k; /* the index is not used after this */
}

static int64_t delta(const struct dsite *s, int i)
{
	return mp_add_sat(s->f[1][i], -s->f[0][i]);
}

static uint64_t abs_u(int64_t v)
{
	return v < 0 ? -(uint64_t)v : (uint64_t)v;
}

static int changed(const struct dsite *s)
{
	if (!s->stacks[0] || !s->stacks[1])
		return 1;
	for (int i = 0; i < NFIG; i++)
		if (delta(s, i))
			return 1;
	return 0;
}

/* Largest change of bytes first, then of peak, leaked, allocations. */
static int by_change(const void *pa, const void *pb)
{
	const struct dsite *a = pa, *b = pb;
	static const int order[] = {F_BYTES, F_PEAK, F_LEAKED, F_ALLOCATIONS, F_LEAKED_BLOCKS};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint64_t x = abs_u(delta(a, order[i])), y = abs_u(delta(b, order[i]));
		if (x != y)
			return x > y ? -1 : 1;
	}
	return strcmp(a->key, b->key);
}

static const char *status_of(const struct dsite *s)
{
	return !s->stacks[0] ? "new" : !s->stacks[1] ? "gone" : "changed";
}

static void json_figures(struct mp_json *j, const int64_t *f)
{
	mp_json_object_begin(j, 1);
	for (int i = 0; i < NFIG; i++)
		if (!(no_peak && i == F_PEAK))
			mp_json_kv_int(j, fig_names[i], f[i]);
	mp_json_object_end(j);
}

static void json_totals(struct mp_json *j, const char *path, const struct mp_totals *t)
{
	mp_json_object_begin(j, 0);
	mp_json_kv_string(j, "path", path);
	mp_json_kv_int(j, "runs", (int64_t)t->runs);
	for (int i = 0; i < MP_METRIC_N; i++)
		if (!(no_peak && i == MP_METRIC_PEAK))
			mp_json_kv_int(j, mp_metric_name((enum mp_metric)i), t->v[i]);
	mp_json_object_end(j);
}

/* "+500 allocations, +976.56 KiB, peak +0 B, leaked +0 B in +0 blocks" */
static void text_figures(struct mp_buf *b, const int64_t *f, int sign)
{
	char h[MP_HUMAN_MAX];
	const char *s = sign ? "+" : "";
	mp_buf_printf(b, "%s%" PRId64 " allocation%s, ", f[F_ALLOCATIONS] >= 0 ? s : "", f[F_ALLOCATIONS],
	              f[F_ALLOCATIONS] == 1 || f[F_ALLOCATIONS] == -1 ? "" : "s");
	mp_buf_printf(b, "%s%s, ", f[F_BYTES] >= 0 ? s : "", mp_human_size(f[F_BYTES], h, sizeof(h)));
	if (!no_peak)
		mp_buf_printf(b, "peak %s%s, ", f[F_PEAK] >= 0 ? s : "", mp_human_size(f[F_PEAK], h, sizeof(h)));
	mp_buf_printf(b, "leaked %s%s", f[F_LEAKED] >= 0 ? s : "", mp_human_size(f[F_LEAKED], h, sizeof(h)));
	mp_buf_printf(b, " in %s%" PRId64 " block%s", f[F_LEAKED_BLOCKS] >= 0 ? s : "", f[F_LEAKED_BLOCKS],
	              f[F_LEAKED_BLOCKS] == 1 || f[F_LEAKED_BLOCKS] == -1 ? "" : "s");
}

static void text_totals(const char *label, const char *path, const struct mp_totals *t)
{
	int64_t f[NFIG] = {t->v[MP_METRIC_ALLOCATIONS], t->v[MP_METRIC_BYTES], t->v[MP_METRIC_PEAK],
	                   t->v[MP_METRIC_LEAKED], t->v[MP_METRIC_LEAKED_BLOCKS]};
	struct mp_buf b = {0};
	text_figures(&b, f, 0);
	printf("%s", label);
	mp_text_puts(stdout, path);
	printf(": %s", mp_buf_str(&b));
	if (t->runs > 1)
		printf(" (medians of %zu runs)", t->runs);
	fputc('\n', stdout);
	mp_buf_free(&b);
}

/* Prints one listed site. Returns 0, or -1 when its stack fails to load
   (the message is in the loader). */
static int print_site(const struct mp_query *q, struct mp_json *j, struct side *sides, int64_t rank,
                      const struct dsite *s, struct mp_stack *stack, struct side **failed)
{
	int which = s->stacks[1] ? 1 : 0;
	if (mp_stack_load(&sides[which].l, s->stack[which], stack)) {
		*failed = &sides[which];
		return -1;
	}
	int64_t d[NFIG];
	for (int i = 0; i < NFIG; i++)
		d[i] = delta(s, i);
	if (q->format == MP_FMT_JSON) {
		mp_json_object_begin(j, 0);
		mp_json_kv_string(j, "status", status_of(s));
		mp_json_key(j, "delta");
		json_figures(j, d);
		for (int w = 0; w < 2; w++) {
			mp_json_key(j, w ? "after" : "before");
			if (s->stacks[w])
				json_figures(j, s->f[w]);
			else
				mp_json_null(j);
		}
		mp_json_kv_int(j, "stacks_before", s->stacks[0]);
		mp_json_kv_int(j, "stacks_after", s->stacks[1]);
		mp_json_key(j, "stack");
		mp_stack_json(j, stack);
		mp_json_object_end(j);
	} else if (q->format == MP_FMT_CSV) {
		mp_csv_int(stdout, rank, 1);
		mp_csv_field(stdout, status_of(s), 0);
		for (int i = 0; i < NFIG; i++) {
			if (no_peak && i == F_PEAK)
				continue;
			mp_csv_int(stdout, s->f[0][i], 0);
			mp_csv_int(stdout, s->f[1][i], 0);
			mp_csv_int(stdout, d[i], 0);
		}
		struct mp_buf line = {0};
		mp_stack_format_line(stack, &line);
		mp_csv_field(stdout, mp_buf_str(&line), 0);
		mp_csv_end(stdout);
		mp_buf_free(&line);
	} else {
		struct mp_buf b = {0};
		text_figures(&b, d, 1);
		printf("\n#%" PRId64 "  %s: %s\n", rank, status_of(s), mp_buf_str(&b));
		for (int w = 0; w < 2; w++) {
			if (!s->stacks[w])
				continue;
			mp_buf_reset(&b);
			text_figures(&b, s->f[w], 0);
			printf("    %s %s", w ? "after: " : "before:", mp_buf_str(&b));
			if (s->stacks[w] > 1)
				printf(" (%" PRId64 " stacks)", s->stacks[w]);
			fputc('\n', stdout);
		}
		mp_buf_free(&b);
		mp_stack_print_text(stdout, stack, "    ", q->full_stacks);
	}
	return 0;
}

/* Parses --pid: "PID" or "BEFORE:AFTER". */
static int parse_pids(const char *arg, int64_t *before, int64_t *after)
{
	char err[256], first[64];
	const char *colon = strchr(arg, ':');
	if (!colon)
		colon = arg + strlen(arg);
	snprintf(first, sizeof(first), "%.*s", (int)(colon - arg), arg);
	if (mp_parse_uint("--pid", first, before, err, sizeof(err)) ||
	    (*colon && mp_parse_uint("--pid", colon + 1, after, err, sizeof(err))))
		return mp_usage_error("diff", "option '--pid' needs PID or BEFORE:AFTER, not '%s'", arg);
	if (!*colon)
		*after = *before;
	return 0;
}

/* Opens one side and loads its totals. Returns 0 or an exit code. */
static int open_side(struct side *sd, const struct mp_window *w)
{
	int rc = mp_trace_open(sd->q.path, &sd->db);
	if (rc)
		return rc;
	char err[512];
	if (mp_totals_load(sd->db, sd->q.pid, &sd->t, err, sizeof(err)))
		return mp_trace_fail(sd->q.path, err);
	if (sd->q.pid >= 0 && sd->t.processes == 0)
		return mp_query_no_process(&sd->q);
	if (mp_window_set(w)) {
		if ((rc = mp_window_sites(w, NULL, sd->db, sd->q.path, sd->q.pid, 0)))
			return rc;
		if (mp_totals_window(sd->db, sd->q.pid, &sd->t, err, sizeof(err)))
			return mp_trace_fail(sd->q.path, err);
	}
	if (sd->t.runs > 1) {
		struct mp_processes ps;
		struct mp_runs r;
		if (mp_processes_load(sd->db, sd->q.pid, &ps, err, sizeof(err)))
			return mp_trace_fail(sd->q.path, err);
		int bad = mp_runs_load(sd->db, &ps, &r, err, sizeof(err));
		mp_processes_free(&ps);
		if (bad)
			return mp_trace_fail(sd->q.path, err);
		sd->runs = mp_xmalloc(r.n * sizeof(*sd->runs));
		for (size_t i = 0; i < r.n; i++)
			sd->runs[i] = r.v[i].run;
		sd->nruns = r.n;
		mp_runs_free(&r);
	}
	if (mp_stack_loader_init(&sd->l, sd->db))
		return mp_trace_fail(sd->q.path, sd->l.err);
	sd->loader = 1;
	return 0;
}

/* Evaluates the thresholds; verdicts of the failed ones go to stderr.
   Returns the number that failed. */
static int thresholds(const struct mp_threshold *th, char **exprs, size_t n, struct side *sides, int *failed)
{
	int nfailed = 0;
	struct mp_buf v = {0};
	for (size_t i = 0; i < n; i++) {
		enum mp_metric m = th[i].metric;
		mp_buf_reset(&v);
		failed[i] =
		        mp_threshold_eval(&th[i], mp_metric_name(m), "before", sides[0].t.v[m], sides[1].t.v[m], &v);
		if (failed[i]) {
			fprintf(stderr, "FAIL: --fail-if '%s': %s\n", exprs[i], mp_buf_str(&v));
			nfailed++;
		}
	}
	mp_buf_free(&v);
	return nfailed;
}

static int diff(struct side *sides, const struct mp_query *q, const struct mp_window *w, const struct mp_threshold *th,
                char **exprs, size_t nth)
{
	struct dsites d = {0};
	int rc = load_sites(&sides[0], mp_window_table(w), 0, &d);
	if (!rc)
		rc = load_sites(&sides[1], mp_window_table(w), 1, &d);
	if (rc) {
		dsites_free(&d);
		return rc;
	}
	site_medians(&d, sides);
	/* The changed sites first, sorted; the unchanged ones are counted. */
	size_t nchanged = 0;
	for (size_t i = 0; i < d.n; i++) {
		if (changed(&d.v[i])) {
			struct dsite t = d.v[nchanged];
			d.v[nchanged++] = d.v[i];
			d.v[i] = t;
		}
	}
	if (nchanged)
		qsort(d.v, nchanged, sizeof(*d.v), by_change);
	int *failed = calloc(nth ? nth : 1, sizeof(int));
	int nfailed = thresholds(th, exprs, nth, sides, failed);

	struct mp_json j;
	const struct mp_totals *t0 = &sides[0].t, *t1 = &sides[1].t;
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "diff");
		mp_json_object_begin(&j, 0);
		if (w && mp_window_set(w))
			mp_window_json(w, &j);
		mp_json_key(&j, "before");
		json_totals(&j, sides[0].q.path, t0);
		mp_json_key(&j, "after");
		json_totals(&j, sides[1].q.path, t1);
		mp_json_key(&j, "delta");
		mp_json_object_begin(&j, 0);
		for (int i = 0; i < MP_METRIC_N; i++)
			if (!(no_peak && i == MP_METRIC_PEAK))
				mp_json_kv_int(&j, mp_metric_name((enum mp_metric)i), mp_add_sat(t1->v[i], -t0->v[i]));
		mp_json_object_end(&j);
		mp_json_kv_int(&j, "changed_sites", (int64_t)nchanged);
		mp_json_kv_int(&j, "unchanged_sites", (int64_t)(d.n - nchanged));
		mp_json_key(&j, "thresholds");
		mp_json_array_begin(&j, 0);
		for (size_t i = 0; i < nth; i++) {
			mp_json_object_begin(&j, 1);
			mp_json_kv_string(&j, "expr", exprs[i]);
			mp_json_kv_string(&j, "metric", mp_metric_name(th[i].metric));
			mp_json_kv_int(&j, "before", t0->v[th[i].metric]);
			mp_json_kv_int(&j, "after", t1->v[th[i].metric]);
			mp_json_key(&j, "failed");
			mp_json_bool(&j, failed[i]);
			mp_json_object_end(&j);
		}
		mp_json_array_end(&j);
		mp_json_key(&j, "sites");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,status", stdout);
		for (int i = 0; i < NFIG; i++)
			if (!(no_peak && i == F_PEAK))
				printf(",%s_before,%s_after,%s_delta", fig_names[i], fig_names[i], fig_names[i]);
		fputs(",stack\n", stdout);
	} else {
		if (w && mp_window_set(w))
			mp_window_note(stdout, w);
		text_totals("before: ", sides[0].q.path, t0);
		text_totals("after:  ", sides[1].q.path, t1);
		int64_t dt[NFIG] = {mp_add_sat(t1->v[MP_METRIC_ALLOCATIONS], -t0->v[MP_METRIC_ALLOCATIONS]),
		                    mp_add_sat(t1->v[MP_METRIC_BYTES], -t0->v[MP_METRIC_BYTES]),
		                    mp_add_sat(t1->v[MP_METRIC_PEAK], -t0->v[MP_METRIC_PEAK]),
		                    mp_add_sat(t1->v[MP_METRIC_LEAKED], -t0->v[MP_METRIC_LEAKED]),
		                    mp_add_sat(t1->v[MP_METRIC_LEAKED_BLOCKS], -t0->v[MP_METRIC_LEAKED_BLOCKS])};
		struct mp_buf b = {0};
		text_figures(&b, dt, 1);
		printf("change: %s\n", mp_buf_str(&b));
		mp_buf_free(&b);
		if (nchanged == 0)
			printf("\nno change in %zu site%s\n", d.n, d.n == 1 ? "" : "s");
		else
			printf("\n%zu site%s changed, %zu unchanged; the largest changes of bytes allocated:\n",
			       nchanged, nchanged == 1 ? "" : "s", d.n - nchanged);
	}
	struct mp_stack stack = {0};
	struct side *bad = NULL;
	size_t shown = q->limit > 0 && (uint64_t)q->limit < nchanged ? (size_t)q->limit : nchanged;
	for (size_t i = 0; i < shown && !rc; i++)
		if (print_site(q, &j, sides, (int64_t)i + 1, &d.v[i], &stack, &bad))
			rc = mp_trace_fail(bad->q.path, bad->l.err);
	mp_stack_free(&stack);
	if (!rc && q->format == MP_FMT_JSON) {
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	}
	free(failed);
	dsites_free(&d);
	if (!rc)
		rc = mp_finish_output();
	if (!rc && nfailed)
		rc = MP_EXIT_CHECK;
	return rc;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"full-stacks", no_argument, NULL, MP_OPT_FULL_STACKS},
	        {"limit", required_argument, NULL, 'n'},
	        {"fail-if", required_argument, NULL, OPT_FAIL_IF},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_window w;
	mp_window_init(&w);
	struct side sides[2];
	memset(sides, 0, sizeof(sides));
	struct mp_query *q = &sides[0].q;
	mp_query_init(q, "diff", 10);
	int64_t pid_after = -1;
	struct mp_threshold *th = NULL;
	char **exprs = NULL;
	size_t nth = 0, cap = 0, ecap = 0;
	int opt, rc = 0;
	while (!rc && (opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		if (opt == MP_OPT_PID) {
			rc = parse_pids(optarg, &q->pid, &pid_after);
		} else if (opt == OPT_FAIL_IF) {
			void *v = th;
			mp_grow(&v, &cap, nth + 1, sizeof(*th));
			th = v;
			v = exprs;
			mp_grow(&v, &ecap, nth + 1, sizeof(*exprs));
			exprs = v;
			char err[512];
			if (mp_threshold_parse(optarg, &th[nth], err, sizeof(err)))
				rc = mp_usage_error(q->cmd, "%s", err);
			else
				exprs[nth++] = optarg;
		} else if ((rc = mp_window_option(&w, q->cmd, opt, optarg)) >= 0) {
			/* rc: 0, or the usage error's exit code */
		} else if ((rc = mp_query_option(q, opt, argv)) < 0) {
			rc = MP_EXIT_USAGE;
		}
	}
	for (size_t i = 0; !rc && !q->help && mp_window_set(&w) && i < nth; i++)
		if (th[i].metric == MP_METRIC_PEAK)
			rc = mp_window_refuse(q->cmd, "--fail-if peak_bytes", "the peak is not defined for a window");
	no_peak = mp_window_set(&w);
	if (!rc && q->help) {
		usage(stdout);
	} else if (!rc) {
		if (argc - optind != 2)
			rc = mp_usage_error(q->cmd, "needs two traces, BEFORE.db and AFTER.db");
		if (!rc) {
			sides[1].q = *q;
			sides[1].q.pid = pid_after;
			sides[0].q.path = argv[optind];
			sides[1].q.path = argv[optind + 1];
			rc = open_side(&sides[0], &w);
			if (!rc)
				rc = open_side(&sides[1], &w);
			if (!rc) {
				mp_env_warn(sides[0].db, sides[0].q.path, sides[1].db, sides[1].q.path);
				rc = diff(sides, q, &w, th, exprs, nth);
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (sides[i].loader)
			mp_stack_loader_fini(&sides[i].l);
		if (sides[i].db)
			mp_trace_close(sides[i].db);
		free(sides[i].runs);
	}
	free(th);
	free(exprs);
	return rc;
}
