/* memprof timeline: the live heap (requested and usable bytes) of each
 * process over time, with its peak: a chart in the terminal, an SVG file,
 * or the samples themselves as JSON or CSV. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "outfile.h"
#include "output.h"
#include "svg.h"
#include "term.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

enum {
	OPT_WIDTH = MP_OPT_FIRST_PRIVATE,
	OPT_HEIGHT,
	OPT_ASCII,
};

/* The series of a chart, in drawing order. */
enum { S_USABLE, S_HEAP, S_RSS, NSERIES };

static const struct series_def {
	const char *key, *label, *css_class;
	const char *utf8, *ascii; /* its mark in the terminal */
} series_defs[NSERIES] = {
        [S_USABLE] = {"usable_bytes", "heap (usable)", "usable", "\u2591", ":"},
        [S_HEAP] = {"heap_bytes", "heap (requested)", "heap", "\u2588", "#"},
        [S_RSS] = {"rss_bytes", "RSS", "rss", "\u2022", "*"},
};

/* The samples of one process in time order, one column per series (NULL:
   no value): the heap's, and the RSS samples (rss_samples) of traces that
   have them, each row with the series it measured. --format json|csv
   prints the heap's (SAMPLES_SQL); the RSS samples are a table of their
   own. */
#define SAMPLES_SQL \
	"SELECT time_ns, usable_bytes, heap_bytes, NULL AS rss_bytes FROM main.heap_samples" \
	" WHERE process_id = ?1 AND time_ns BETWEEN ?2 AND ?3 ORDER BY time_ns, rowid"
#define RANGE_SQL \
	"SELECT count(*), min(time_ns), max(time_ns), max(usable_bytes), max(heap_bytes), NULL" \
	" FROM main.heap_samples WHERE process_id = ?1 AND time_ns BETWEEN ?2 AND ?3"
#define CHART_RSS_SQL \
	"SELECT time_ns, usable_bytes, heap_bytes, NULL AS rss_bytes FROM main.heap_samples WHERE process_id = ?1" \
	" AND time_ns BETWEEN ?2 AND ?3 UNION ALL SELECT time_ns, NULL, NULL, rss_bytes FROM main.rss_samples" \
	" WHERE process_id = ?1 AND time_ns BETWEEN ?2 AND ?3 ORDER BY 1"
#define RANGE_RSS_SQL \
	"SELECT count(*), min(t), max(t), max(u), max(h), max(r) FROM (SELECT time_ns AS t, usable_bytes AS u," \
	" heap_bytes AS h, NULL AS r FROM main.heap_samples WHERE process_id = ?1 AND time_ns BETWEEN ?2 AND ?3" \
	" UNION ALL SELECT time_ns, NULL, NULL, rss_bytes FROM main.rss_samples WHERE process_id = ?1" \
	" AND time_ns BETWEEN ?2 AND ?3)"
/* The values held when a window begins: the last samples before it. */
#define HELD_SQL \
	"SELECT usable_bytes, heap_bytes FROM main.heap_samples WHERE process_id = ?1 AND time_ns < ?2" \
	" ORDER BY time_ns DESC, rowid DESC LIMIT 1"
#define HELD_RSS_SQL \
	"SELECT rss_bytes FROM main.rss_samples WHERE process_id = ?1 AND time_ns < ?2" \
	" ORDER BY time_ns DESC, rowid DESC LIMIT 1"

/* Whether the charts draw RSS too (the trace has RSS samples). */
static int with_rss;

/* The span of time a chart shows: a process's life and samples, or the
   window (--phase, --from, --to) in it. */
struct span {
	int windowed;
	int64_t t0, t1; /* the window's, when windowed */
};

/* --phase, --from, --to; unset: every process's whole life. */
static const struct mp_window *window;

/* The span process p's chart shows. Returns 1, 0 when the window is not
   in p (p is left out), or -1 on an SQLite error. */
static int process_span(sqlite3 *db, const struct mp_process *p, struct span *sp)
{
	sp->windowed = window && mp_window_set(window);
	if (!sp->windowed)
		return 1;
	return mp_window_span(window, db, p->id, p->start_ns, p->end_ns, &sp->t0, &sp->t1);
}

/* Whether p's peak is in the chart of sp. */
static int peak_shown(const struct mp_process *p, const struct span *sp)
{
	return p->peak_bytes > 0 && (!sp->windowed || (p->peak_time_ns >= sp->t0 && p->peak_time_ns <= sp->t1));
}

/* Binds a sample query's time limits ?2, ?3: the window's, or every time. */
static void bind_span(sqlite3_stmt *st, const struct span *sp)
{
	sqlite3_bind_int64(st, 2, sp->windowed ? sp->t0 : INT64_MIN);
	sqlite3_bind_int64(st, 3, sp->windowed ? sp->t1 : INT64_MAX);
}

/* The values of the series held when sp's window begins (the last sample
   before it); have[k] 0 when there is none. Returns an SQLite result code. */
static int read_held(sqlite3 *db, int64_t id, const struct span *sp, int64_t *v, int *have)
{
	for (int k = 0; k < NSERIES; k++)
		have[k] = 0, v[k] = 0;
	if (!sp->windowed)
		return SQLITE_OK;
	for (int q = 0; q < (with_rss ? 2 : 1); q++) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(db, q ? HELD_RSS_SQL : HELD_SQL, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return rc;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, sp->t0);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && q) {
			have[S_RSS] = 1;
			v[S_RSS] = sqlite3_column_int64(st, 0);
		} else if (rc == SQLITE_ROW) {
			have[S_USABLE] = have[S_HEAP] = 1;
			v[S_USABLE] = sqlite3_column_int64(st, 0);
			v[S_HEAP] = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

/* Terminal chart cells and SVG pixels: defaults and limits. */
#define TEXT_WIDTH 60
#define TEXT_HEIGHT 12
#define SVG_WIDTH 960
#define SVG_HEIGHT 300
#define MIN_TEXT_WIDTH 8
#define MIN_TEXT_HEIGHT 2
#define MIN_SVG_WIDTH 300
#define MIN_SVG_HEIGHT 150
#define MAX_SIZE 10000

/* SVG panel margins around the plot area. */
#define SVG_LEFT 84
#define SVG_RIGHT 24
#define SVG_TOP 58
#define SVG_BOTTOM 46
/* Width in pixels of the hover strips that tell the values. */
#define SVG_STRIP 4

struct options {
	const char *svg; /* -o, NULL: none */
	int ascii;
	int64_t width, height; /* 0: the default of the output */
};

static void usage(FILE *out)
{
	fputs("usage: memprof timeline [-o FILE.svg] [--width N] [--height N] [--ascii] [--phase NAME]\n"
	      "                        [--from T] [--to T] [--format text|json|csv] [--pid PID] TRACE\n"
	      "\n"
	      "The live heap of each process over time: the bytes the program asked for\n"
	      "(requested) and the bytes the allocator gave (usable), sampled at most every\n"
	      "10 ms and at the peak, which is marked, and the resident set size (RSS) of\n"
	      "the process, sampled every 10 ms and at its end.\n"
	      "With --phase, --from or --to: the time axis is that window's (a phase's\n"
	      "from its start to its end in each process that has it, cut by --from and\n"
	      "--to); processes outside it are left out, and the peak is marked when it\n"
	      "falls in it. The chart begins with the value held since the last sample\n"
	      "before the window; json and csv list the samples in the window.\n"
	      "\n"
	      "    -o, --output FILE.svg\n"
	      "                    write an SVG chart, one panel per process ('-': standard\n"
	      "                    output); hovering a point tells its values\n"
	      "    --width N       chart width: cells in the terminal (default 60), pixels\n"
	      "                    in the SVG (default 960)\n"
	      "    --height N      chart height: cells in the terminal (default 12), pixels\n"
	      "                    of each SVG panel (default 300)\n"
	      "    --ascii         draw the terminal chart with ASCII characters only (the\n"
	      "                    default unless the locale is UTF-8)\n"
	      "    --format FMT    text (the chart, default), json or csv (the samples)\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* --- samples in bins: one per terminal column or SVG pixel ------------------- */

struct series_bin {
	int have;
	int64_t min, max, first, last;
	int64_t t_min, t_max, t_first, t_last;
};

struct bins {
	size_t n;
	int64_t x0, x1; /* the time range, x1 > x0 */
	struct bin {
		int64_t count;
		struct series_bin s[NSERIES];
	} * v;
};

/* What RANGE_SQL tells of a process. */
struct range {
	int64_t count, t_min, t_max;
	int64_t max[NSERIES]; /* -1: no value */
};

static size_t bin_of(const struct bins *b, int64_t t)
{
	if (t <= b->x0)
		return 0;
	double f = ((double)t - (double)b->x0) / ((double)b->x1 - (double)b->x0);
	size_t i = (size_t)(f * (double)b->n);
	return i >= b->n ? b->n - 1 : i;
}

static void bin_add(struct bins *b, int64_t t, const int64_t *v, const int *have)
{
	struct bin *x = &b->v[bin_of(b, t)];
	x->count++;
	for (int k = 0; k < NSERIES; k++) {
		if (!have[k])
			continue;
		struct series_bin *s = &x->s[k];
		if (!s->have) {
			s->have = 1;
			s->min = s->max = s->first = v[k];
			s->t_min = s->t_max = s->t_first = t;
		}
		if (v[k] < s->min) {
			s->min = v[k];
			s->t_min = t;
		}
		if (v[k] > s->max) {
			s->max = v[k];
			s->t_max = t;
		}
		s->last = v[k];
		s->t_last = t;
	}
}

/* The time range of process p's chart: its life and its samples. */
static void time_range(const struct mp_process *p, const struct span *sp, const struct range *r, int64_t *x0,
                       int64_t *x1)
{
	int64_t lo = p->start_ns, hi = p->end_ns >= 0 ? p->end_ns : p->start_ns;
	if (sp->windowed) {
		lo = sp->t0;
		hi = sp->t1;
	} else if (r->count > 0) {
		lo = r->t_min < lo ? r->t_min : lo;
		hi = r->t_max > hi ? r->t_max : hi;
	}
	if (!sp->windowed && p->peak_bytes > 0 && p->peak_time_ns > hi)
		hi = p->peak_time_ns;
	if (hi <= lo)
		hi = mp_add_sat(lo, 1000); /* a microsecond: one point still has room */
	if (hi <= lo)
		lo = hi - 1000;
	*x0 = lo;
	*x1 = hi;
}

/* Reads RANGE_SQL for process id into *r. Returns an SQLite result code. */
static int read_range(sqlite3 *db, int64_t id, const struct span *sp, struct range *r)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, with_rss ? RANGE_RSS_SQL : RANGE_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_span(st, sp);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->count = sqlite3_column_int64(st, 0);
		r->t_min = sqlite3_column_int64(st, 1);
		r->t_max = sqlite3_column_int64(st, 2);
		for (int k = 0; k < NSERIES; k++)
			r->max[k] =
			        sqlite3_column_type(st, 3 + k) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3 + k);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	/* a window: the values held when it begins count as a sample */
	int64_t v[NSERIES];
	int have[NSERIES];
	if (rc == SQLITE_OK && (rc = read_held(db, id, sp, v, have)) == SQLITE_OK && (have[S_HEAP] || have[S_RSS])) {
		if (r->count == 0)
			r->t_min = r->t_max = sp->t0;
		r->count++;
		for (int k = 0; k < NSERIES; k++)
			if (have[k] && v[k] > r->max[k])
				r->max[k] = v[k];
	}
	return rc;
}

/* Fills n bins with process id's samples over [x0, x1]. Returns an SQLite
   result code. */
static int fill_bins(sqlite3 *db, int64_t id, const struct span *sp, struct bins *b, size_t n, int64_t x0, int64_t x1)
{
	b->n = n;
	b->x0 = x0;
	b->x1 = x1;
	b->v = mp_xmalloc(n * sizeof(*b->v));
	memset(b->v, 0, n * sizeof(*b->v));
	int64_t held[NSERIES];
	int have_held[NSERIES];
	int rc = read_held(db, id, sp, held, have_held);
	if (rc != SQLITE_OK)
		return rc;
	if (have_held[S_HEAP] || have_held[S_RSS])
		bin_add(b, sp->t0, held, have_held);
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(db, with_rss ? CHART_RSS_SQL : SAMPLES_SQL, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_span(st, sp);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t v[NSERIES];
		int have[NSERIES];
		for (int k = 0; k < NSERIES; k++) {
			have[k] = sqlite3_column_type(st, 1 + k) != SQLITE_NULL;
			v[k] = sqlite3_column_int64(st, 1 + k);
		}
		bin_add(b, sqlite3_column_int64(st, 0), v, have);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The largest value of any drawn series, from the range. */
static int64_t range_top(const struct range *r)
{
	int64_t top = 0;
	for (int k = 0; k < NSERIES; k++)
		if (r->max[k] > top)
			top = r->max[k];
	return top;
}

/* --- labels ------------------------------------------------------------------ */

/* Seconds with the decimals that tell apart values step seconds apart. */
static void seconds_label(double s, double step, char *buf, size_t size)
{
	int d = step > 0 && step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
	d = d < 0 ? 0 : d > 9 ? 9 : d;
	snprintf(buf, size, "%.*f s", d, s);
}

static void svg_seconds_label(double v, char *buf, size_t size, const void *arg)
{
	seconds_label(v, *(const double *)arg, buf, size);
}

static const char *const size_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

/* The byte unit (a power of 1024) in which v reads at least 1. */
static size_t size_unit(double v)
{
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(size_units) / sizeof(size_units[0])) {
		v /= 1024;
		u++;
	}
	return u;
}

static void svg_size_label(double v, char *buf, size_t size, const void *arg)
{
	size_t u = *(const size_t *)arg;
	if (v == 0)
		snprintf(buf, size, "0");
	else
		snprintf(buf, size, "%g %s", v / pow(1024, (double)u), size_units[u]);
}

/* "pid 123 (prog args)" for a heading; the caller frees b. */
static void process_title(const struct mp_process *p, struct mp_buf *b)
{
	mp_buf_printf(b, "pid %" PRId64 " (", p->pid);
	mp_argv_join(p->argv, b);
	mp_buf_puts(b, ")");
	if (!strcmp(p->origin, "fork"))
		mp_buf_puts(b, " [fork]");
	else if (!strcmp(p->origin, "exec"))
		mp_buf_puts(b, " [after exec]");
}

/* "peak 1007.06 KiB (1031232 bytes) at 0.000691 s" into b. */
static void peak_text(const struct mp_process *p, struct mp_buf *b)
{
	char a[MP_HUMAN_MAX];
	mp_buf_printf(b, "peak %s (%" PRId64 " bytes) at %.6f s", mp_human_size(p->peak_bytes, a, sizeof(a)),
	              p->peak_bytes, (double)p->peak_time_ns / 1e9);
}

/* What a chart's title tells after the process: its peak, or in a window
   "phase 'run' (0.000944-0.000950 s)" and the peak when it is in it. */
static void head_text(const struct mp_process *p, const struct span *sp, struct mp_buf *b)
{
	if (sp->windowed) {
		mp_window_describe(window, b);
		mp_buf_printf(b, " (%.6f-%.6f s)", (double)sp->t0 / 1e9, (double)sp->t1 / 1e9);
		if (!peak_shown(p, sp))
			return;
		mp_buf_puts(b, ", ");
	}
	peak_text(p, b);
}

/* --- the terminal chart ------------------------------------------------------ */

/* The character of a cell that each series fills by fill[k] eighths. */
static const char *cell(const int *fill, int utf8)
{
	static const char *const eighths[] = {" ",      "\u2581", "\u2582", "\u2583", "\u2584",
	                                      "\u2585", "\u2586", "\u2587", "\u2588"};
	const struct series_def *d = series_defs;
	if (fill[S_RSS] > 0 && fill[S_RSS] < 8) /* the top of the RSS line */
		return utf8 ? d[S_RSS].utf8 : d[S_RSS].ascii;
	if (utf8 && fill[S_HEAP] > 0)
		return eighths[fill[S_HEAP]];
	if (fill[S_HEAP] >= 4)
		return d[S_HEAP].ascii;
	if (fill[S_USABLE] >= 4)
		return utf8 ? d[S_USABLE].utf8 : d[S_USABLE].ascii;
	return fill[S_HEAP] > 0 ? "." : " ";
}

/* Prints process p's chart of width x height cells. */
static int text_chart(sqlite3 *db, const struct mp_query *q, const struct options *o, const struct mp_process *p,
                      const struct span *sp)
{
	int utf8 = mp_term_utf8(o->ascii);
	int width = (int)(o->width ? o->width : TEXT_WIDTH), height = (int)(o->height ? o->height : TEXT_HEIGHT);
	struct mp_buf title = {0};
	process_title(p, &title);
	mp_text_puts(stdout, mp_buf_str(&title));
	mp_buf_free(&title);
	struct range r;
	int rc = read_range(db, p->id, sp, &r);
	if (rc != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	int64_t top = range_top(&r);
	if (r.count == 0 || top <= 0) {
		fputs(": no heap recorded\n", stdout);
		return 0;
	}
	struct mp_buf pk = {0};
	head_text(p, sp, &pk);
	printf(": %s\n", mp_buf_str(&pk));
	mp_buf_free(&pk);

	struct bins b;
	int64_t x0, x1;
	time_range(p, sp, &r, &x0, &x1);
	if (fill_bins(db, p->id, sp, &b, (size_t)width, x0, x1) != SQLITE_OK) {
		free(b.v);
		return mp_trace_fail_db(q->path, db);
	}
	/* Each column shows the largest value in it, the value of the last
	   sample before it included: the heap holds it until the next sample
	   (after the last one, until the process ended). */
	int64_t *col = mp_xmalloc((size_t)width * NSERIES * sizeof(*col)); /* -1: nothing */
	for (int k = 0; k < NSERIES; k++) {
		int64_t held = -1;
		for (int i = 0; i < width; i++) {
			const struct series_bin *s = &b.v[i].s[k];
			int64_t v = held;
			if (s->have) {
				v = s->max > held ? s->max : held;
				held = s->last;
			}
			col[i * NSERIES + k] = v;
		}
	}
	int peak_col = peak_shown(p, sp) ? (int)bin_of(&b, p->peak_time_ns) : -1;

	/* sizes at the top edge of the top row and of a row about halfway, and 0 */
	int mid_row = height > 2 ? height / 2 - 1 : -1;
	char lab[3][MP_HUMAN_MAX];
	mp_human_size(top, lab[0], sizeof(lab[0]));
	mp_human_size((int64_t)((double)top * (mid_row + 1) / height), lab[1], sizeof(lab[1]));
	snprintf(lab[2], sizeof(lab[2]), "0 B");
	int lw = 0;
	for (int i = 0; i < 3; i++)
		lw = (int)strlen(lab[i]) > lw ? (int)strlen(lab[i]) : lw;
	for (int row = height - 1; row >= 0; row--) {
		const char *label = row == height - 1 ? lab[0] : row == mid_row ? lab[1] : "";
		int tick = *label != 0;
		printf("%*s %s", lw, label, tick ? (utf8 ? "\u2524" : "+") : (utf8 ? "\u2502" : "|"));
		for (int i = 0; i < width; i++) {
			/* how much of this cell each series fills, in eighths */
			int fill[NSERIES];
			for (int k = 0; k < NSERIES; k++) {
				int64_t v = col[i * NSERIES + k];
				double h = v < 0 ? -1 : (double)v / (double)top * height - row;
				fill[k] = h <= 0 ? 0 : h >= 1 ? 8 : (int)(h * 8 + 0.5);
				if (v > 0 && row == 0 && fill[k] == 0)
					fill[k] = 1; /* a heap above 0 always shows */
			}
			fputs(cell(fill, utf8), stdout);
		}
		fputc('\n', stdout);
	}
	/* the time axis, the peak marked under its column */
	printf("%*s %s", lw, lab[2], utf8 ? "\u2514" : "+");
	for (int i = 0; i < width; i++)
		fputs(i == peak_col ? (utf8 ? "\u25b2" : "^") : (utf8 ? "\u2500" : "-"), stdout);
	fputc('\n', stdout);
	/* seconds at both ends and in the middle, under the cells */
	char *line = mp_xmalloc((size_t)width + 1), t[3][40];
	memset(line, ' ', (size_t)width);
	line[width] = 0;
	double s0 = (double)x0 / 1e9, s1 = (double)x1 / 1e9, step = (s1 - s0) / 2;
	seconds_label(s0, step, t[0], sizeof(t[0]));
	seconds_label((s0 + s1) / 2, step, t[1], sizeof(t[1]));
	seconds_label(s1, step, t[2], sizeof(t[2]));
	size_t len[3] = {strlen(t[0]), strlen(t[1]), strlen(t[2])}, w = (size_t)width;
	size_t at[3] = {0, w / 2 > len[1] / 2 ? w / 2 - len[1] / 2 : 0, w > len[2] ? w - len[2] : 0};
	for (int i = 0; i < 3; i++) {
		if (i == 1 && (at[1] < len[0] + 1 || at[1] + len[1] + 1 > at[2]))
			continue; /* no room in the middle */
		if (i == 2 && at[2] < len[0] + 1)
			continue;
		memcpy(line + at[i], t[i], at[i] + len[i] <= w ? len[i] : w - at[i]);
	}
	for (size_t n = w; n > 0 && line[n - 1] == ' '; n--)
		line[n - 1] = 0;
	printf("%*s  %s\n", lw, "", line);
	free(line);
	printf("%*s  %s %s  %s %s", lw, "", utf8 ? series_defs[S_HEAP].utf8 : series_defs[S_HEAP].ascii,
	       series_defs[S_HEAP].label, utf8 ? series_defs[S_USABLE].utf8 : series_defs[S_USABLE].ascii,
	       series_defs[S_USABLE].label);
	if (r.max[S_RSS] >= 0)
		printf("  %s %s", utf8 ? series_defs[S_RSS].utf8 : series_defs[S_RSS].ascii, series_defs[S_RSS].label);
	if (peak_col >= 0)
		printf("  %s peak", utf8 ? "\u25b2" : "^");
	fputc('\n', stdout);
	free(col);
	free(b.v);
	return 0;
}

/* --- the SVG chart ----------------------------------------------------------- */

static const char svg_css[] = "text { font-family: sans-serif; font-size: 12px; fill: #222; }\n"
                              ".title { font-size: 14px; font-weight: bold; }\n"
                              ".tick { font-size: 11px; fill: #555; }\n"
                              ".axis-title { font-size: 11px; fill: #555; }\n"
                              ".frame { fill: none; stroke: #888; }\n"
                              ".grid { stroke: #e4e4e4; }\n"
                              ".heap { fill: none; stroke: #d62728; stroke-width: 1.5; }\n"
                              ".usable { fill: none; stroke: #1f77b4; stroke-width: 1.2; }\n"
                              ".rss { fill: none; stroke: #2ca02c; stroke-width: 1.2; }\n"
                              ".peak { fill: #d62728; stroke: #fff; }\n"
                              ".peak-line { stroke: #d62728; stroke-dasharray: 3,3; }\n"
                              ".peak-label { paint-order: stroke; stroke: #fff; stroke-width: 3px; }\n"
                              ".strip { fill: transparent; }\n"
                              ".strip:hover { fill: rgba(0,0,0,0.08); }\n";

/* Appends the points of series k in bin x (first, lowest, highest, last
   in time order, without repeats) to px/py. */
static void bin_points(const struct mp_svg_plot *pl, const struct series_bin *s, double *px, double *py, size_t *n)
{
	int64_t t[4] = {s->t_first, s->t_min, s->t_max, s->t_last};
	int64_t v[4] = {s->first, s->min, s->max, s->last};
	if (t[1] > t[2]) { /* the highest came first */
		int64_t tt = t[1], vv = v[1];
		t[1] = t[2], v[1] = v[2];
		t[2] = tt, v[2] = vv;
	}
	for (int i = 0; i < 4; i++) {
		if (i > 0 && t[i] == t[i - 1] && v[i] == v[i - 1])
			continue;
		px[*n] = mp_svg_px(pl, (double)t[i] / 1e9);
		py[*n] = mp_svg_py(pl, (double)v[i]);
		(*n)++;
	}
}

/* Writes process p's panel at height dy. Returns 0 or an exit code. */
static int svg_panel(FILE *out, sqlite3 *db, const char *path, const struct mp_process *p, const struct span *sp,
                     double width, double height, double dy)
{
	struct range r;
	if (read_range(db, p->id, sp, &r) != SQLITE_OK)
		return mp_trace_fail_db(path, db);
	struct mp_buf head = {0}, tail = {0}, title = {0}, tip = {0};
	process_title(p, &head);
	mp_svg_group_begin(out, 0, dy, "class=\"process\"", NULL);
	int64_t top = range_top(&r);
	if (r.count > 0 && top > 0) {
		mp_buf_puts(&tail, ": ");
		head_text(p, sp, &tail);
	} else {
		mp_buf_puts(&tail, ": no heap recorded");
	}
	/* A long command is cut to keep the peak in the panel (about 8
	   pixels a byte of the bold title). */
	size_t room = (size_t)((width - 24) / 8), keep = head.len;
	if (head.len + tail.len > room && room > tail.len + 16) {
		keep = room - tail.len - 2;
		while (keep > 0 && ((unsigned char)head.s[keep] & 0xc0) == 0x80)
			keep--;
	}
	mp_buf_add(&title, mp_buf_str(&head), keep);
	if (keep < head.len)
		mp_buf_puts(&title, "\u2026)");
	mp_buf_puts(&title, mp_buf_str(&tail));
	mp_svg_text(out, 12, 20, "start", "class=\"title\"", mp_buf_str(&title));
	mp_buf_free(&head);
	mp_buf_free(&tail);
	mp_buf_free(&title);
	if (r.count == 0 || top <= 0) {
		mp_svg_group_end(out);
		return 0;
	}
	int64_t x0, x1;
	time_range(p, sp, &r, &x0, &x1);
	struct mp_svg_plot pl = {
	        .x = SVG_LEFT,
	        .y = SVG_TOP,
	        .w = width - SVG_LEFT - SVG_RIGHT,
	        .h = height - SVG_TOP - SVG_BOTTOM,
	        .x0 = (double)x0 / 1e9,
	        .x1 = (double)x1 / 1e9,
	        .y0 = 0,
	};
	/* y: from 0 to the first tick at or above the top */
	size_t unit = size_unit((double)top);
	double yt[16], ystep, xt[16], xstep;
	size_t ny = mp_svg_ticks(0, (double)top, pow(1024, (double)unit), 8, yt, &ystep);
	if (ny == 0 || !(ystep > 0)) {
		mp_svg_group_end(out);
		return 0;
	}
	pl.y1 = ceil((double)top / ystep - 1e-9) * ystep;
	ny = 0;
	for (double v = 0; v <= pl.y1 * (1 + 1e-9) && ny < 16; v += ystep)
		yt[ny++] = v;
	size_t nx = mp_svg_ticks(pl.x0, pl.x1, 1, 8, xt, &xstep);
	struct mp_svg_axis xa = {xt, nx, svg_seconds_label, &xstep, "time (s)"};
	struct mp_svg_axis ya = {yt, ny, svg_size_label, &unit, "live bytes"};
	mp_svg_axes(out, &pl, &xa, &ya);

	/* legend: the series that have values, then the peak */
	double lx = SVG_LEFT + 90;
	for (int k = NSERIES - 1; k >= 0; k--) {
		if (r.max[k] < 0)
			continue;
		char cls[64];
		snprintf(cls, sizeof(cls), "class=\"%s\"", series_defs[k].css_class);
		mp_svg_line(out, lx, 40, lx + 18, 40, cls);
		mp_svg_text(out, lx + 22, 44, "start", NULL, series_defs[k].label);
		lx += 140;
	}
	if (peak_shown(p, sp)) {
		mp_svg_circle(out, lx + 9, 40, 4, "class=\"peak\"", NULL);
		mp_svg_text(out, lx + 22, 44, "start", NULL, "peak");
	}

	struct bins b;
	size_t nbins = (size_t)pl.w;
	if (fill_bins(db, p->id, sp, &b, nbins, x0, x1) != SQLITE_OK) {
		free(b.v);
		mp_svg_group_end(out);
		return mp_trace_fail_db(path, db);
	}
	double *px = mp_xmalloc((4 * nbins + 1) * sizeof(*px)), *py = mp_xmalloc((4 * nbins + 1) * sizeof(*py));
	for (int k = 0; k < NSERIES; k++) {
		if (r.max[k] < 0)
			continue;
		size_t n = 0;
		const struct series_bin *last = NULL;
		for (size_t i = 0; i < nbins; i++) {
			if (b.v[i].s[k].have) {
				last = &b.v[i].s[k];
				bin_points(&pl, last, px, py, &n);
			}
		}
		if (last && last->t_last < x1) { /* the heap holds until the end */
			px[n] = mp_svg_px(&pl, pl.x1);
			py[n++] = mp_svg_py(&pl, (double)last->last);
		}
		char cls[64];
		snprintf(cls, sizeof(cls), "class=\"%s\"", series_defs[k].css_class);
		mp_svg_polyline(out, px, py, n, cls);
		if (n == 1) /* one sample: a dot */
			mp_svg_circle(out, px[0], py[0], 2, cls, NULL);
	}
	free(px);
	free(py);

	/* hover strips: the time span and the highest value of each series */
	mp_svg_group_begin(out, 0, 0, "class=\"strips\"", NULL);
	for (size_t i = 0; i < nbins; i += SVG_STRIP) {
		size_t end = i + SVG_STRIP < nbins ? i + SVG_STRIP : nbins;
		int64_t hi[NSERIES], count = 0;
		for (int k = 0; k < NSERIES; k++)
			hi[k] = -1;
		for (size_t j = i; j < end; j++) {
			count += b.v[j].count;
			for (int k = 0; k < NSERIES; k++)
				if (b.v[j].s[k].have && b.v[j].s[k].max > hi[k])
					hi[k] = b.v[j].s[k].max;
		}
		if (count == 0)
			continue;
		double t0 = pl.x0 + (pl.x1 - pl.x0) * (double)i / (double)nbins;
		double t1 = pl.x0 + (pl.x1 - pl.x0) * (double)end / (double)nbins;
		mp_buf_reset(&tip);
		mp_buf_printf(&tip, "%.6f-%.6f s (%" PRId64 " sample%s)", t0, t1, count, count == 1 ? "" : "s");
		for (int k = NSERIES - 1; k >= 0; k--) {
			char a[MP_HUMAN_MAX];
			if (hi[k] >= 0)
				mp_buf_printf(&tip, "\n%s: %s (%" PRId64 " bytes)", series_defs[k].label,
				              mp_human_size(hi[k], a, sizeof(a)), hi[k]);
		}
		mp_svg_rect(out, pl.x + (double)i, pl.y, (double)(end - i), pl.h, "class=\"strip\"", mp_buf_str(&tip));
	}
	mp_svg_group_end(out);
	free(b.v);

	/* the peak, on top of everything */
	if (peak_shown(p, sp)) {
		double cx = mp_svg_px(&pl, (double)p->peak_time_ns / 1e9), cy = mp_svg_py(&pl, (double)p->peak_bytes);
		mp_buf_reset(&tip);
		peak_text(p, &tip);
		mp_svg_group_begin(out, 0, 0, "class=\"peak-mark\"", NULL);
		mp_svg_line(out, cx, pl.y, cx, pl.y + pl.h, "class=\"peak-line\"");
		mp_svg_circle(out, cx, cy, 5, "class=\"peak\"", mp_buf_str(&tip));
		int left = cx > pl.x + pl.w / 2;
		mp_svg_text(out, cx + (left ? -8 : 8), cy < pl.y + 14 ? pl.y + 14 : cy - 4, left ? "end" : "start",
		            "class=\"peak-label\"", mp_buf_str(&tip));
		mp_svg_group_end(out);
	}
	mp_buf_free(&tip);
	mp_svg_group_end(out);
	return 0;
}

int mp_timeline_svg(FILE *out, sqlite3 *db, const char *path, const struct mp_processes *ps, const struct mp_window *w,
                    double width, double height, const char *id)
{
	window = w;
	/* the processes the window is in */
	struct span *spans = mp_xmalloc((ps->n ? ps->n : 1) * sizeof(*spans));
	size_t shown = 0;
	for (size_t i = 0; i < ps->n; i++) {
		int in = process_span(db, &ps->v[i], &spans[i]);
		if (in < 0) {
			free(spans);
			return mp_trace_fail_db(path, db);
		}
		spans[i].windowed = in ? spans[i].windowed : -1; /* -1: left out */
		shown += in > 0;
	}
	size_t panels = shown ? shown : 1;
	if (id) {
		mp_svg_begin_inline(out, width, height * (double)panels, id, svg_css);
	} else {
		struct mp_buf title = {0};
		mp_buf_printf(&title, "memprof timeline of %s", mp_basename(path));
		mp_svg_begin(out, width, height * (double)panels, mp_buf_str(&title), svg_css);
		mp_buf_free(&title);
	}
	int rc = 0;
	size_t at = 0;
	for (size_t i = 0; i < ps->n && !rc; i++)
		if (spans[i].windowed >= 0)
			rc = svg_panel(out, db, path, &ps->v[i], &spans[i], width, height, height * (double)at++);
	if (shown == 0)
		mp_svg_text(out, 12, 20, "start", "class=\"title\"",
		            ps->n ? "no process in the window" : "no process recorded");
	mp_svg_end(out);
	free(spans);
	return rc;
}

/* Writes the SVG of every process in ps to o->svg. */
static int write_svg(sqlite3 *db, const struct mp_query *q, const struct options *o, const struct mp_processes *ps)
{
	FILE *out = mp_outfile_open(o->svg);
	if (!out)
		return MP_EXIT_TRACE;
	double width = (double)(o->width ? o->width : SVG_WIDTH), height = (double)(o->height ? o->height : SVG_HEIGHT);
	int rc = mp_timeline_svg(out, db, q->path, ps, window, width, height, NULL);
	if (rc) {
		mp_outfile_discard(out, o->svg);
		return rc;
	}
	return mp_outfile_close(out, o->svg);
}

/* --- the samples as JSON or CSV -------------------------------------------- */

static int print_samples(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps)
{
	struct mp_json j;
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "timeline");
		mp_json_object_begin(&j, 0);
		if (window && mp_window_set(window))
			mp_window_json(window, &j);
		mp_json_key(&j, "processes");
		mp_json_array_begin(&j, 0);
	} else {
		fputs("pid,process_id,time_ns,heap_bytes,usable_bytes\n", stdout);
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, SAMPLES_SQL, -1, &st, NULL) != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < ps->n && rc == SQLITE_DONE; i++) {
		const struct mp_process *p = &ps->v[i];
		struct span sp;
		int in = process_span(db, p, &sp);
		if (in < 0) {
			rc = SQLITE_ERROR;
			break;
		}
		if (!in)
			continue;
		if (q->format == MP_FMT_JSON) {
			mp_json_object_begin(&j, 0);
			mp_json_kv_int(&j, "pid", p->pid);
			mp_json_kv_int(&j, "process_id", p->id);
			mp_json_key(&j, "argv");
			mp_json_array_begin(&j, 1);
			for (size_t k = 0; k < p->argc; k++)
				mp_json_string(&j, p->argv[k]);
			mp_json_array_end(&j);
			mp_json_kv_int(&j, "start_ns", p->start_ns);
			mp_json_key(&j, "end_ns");
			if (p->end_ns >= 0)
				mp_json_int(&j, p->end_ns);
			else
				mp_json_null(&j);
			mp_json_kv_int(&j, "peak_bytes", p->peak_bytes);
			mp_json_kv_int(&j, "peak_time_ns", p->peak_time_ns);
			if (sp.windowed) {
				mp_json_kv_int(&j, "window_start_ns", sp.t0);
				mp_json_kv_int(&j, "window_end_ns", sp.t1);
			}
			mp_json_key(&j, "samples");
			mp_json_array_begin(&j, 0);
		}
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, p->id);
		bind_span(st, &sp);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t t = sqlite3_column_int64(st, 0), usable = sqlite3_column_int64(st, 1 + S_USABLE),
			        heap = sqlite3_column_int64(st, 1 + S_HEAP);
			int rss = sqlite3_column_type(st, 1 + S_RSS) != SQLITE_NULL;
			if (q->format == MP_FMT_JSON) {
				mp_json_object_begin(&j, 1);
				mp_json_kv_int(&j, "time_ns", t);
				mp_json_kv_int(&j, "heap_bytes", heap);
				mp_json_kv_int(&j, "usable_bytes", usable);
				if (rss)
					mp_json_kv_int(&j, "rss_bytes", sqlite3_column_int64(st, 1 + S_RSS));
				mp_json_object_end(&j);
			} else {
				const int64_t v[] = {p->pid, p->id, t, heap, usable};
				for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
					mp_csv_int(stdout, v[k], k == 0);
				mp_csv_end(stdout);
			}
		}
		if (q->format == MP_FMT_JSON) {
			mp_json_array_end(&j);
			mp_json_object_end(&j);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mp_trace_fail_db(q->path, db);
	if (q->format == MP_FMT_JSON) {
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	}
	return 0;
}

/* Parses a chart size for option opt into *out. */
static int size_option(const char *opt, const char *arg, int64_t *out)
{
	char err[256];
	if (mp_parse_uint(opt, arg, out, err, sizeof(err)))
		return mp_usage_error("timeline", "%s", err);
	if (*out < 1 || *out > MAX_SIZE)
		return mp_usage_error("timeline", "option '%s' needs a number from 1 to %d, not '%s'", opt, MAX_SIZE,
		                      arg);
	return 0;
}

int cmd_timeline(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"output", required_argument, NULL, 'o'},
	        {"width", required_argument, NULL, OPT_WIDTH},
	        {"height", required_argument, NULL, OPT_HEIGHT},
	        {"ascii", no_argument, NULL, OPT_ASCII},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "timeline", 0);
	struct mp_window w;
	mp_window_init(&w);
	window = &w;
	struct options o = {0};
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "o:", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			o.svg = optarg;
			break;
		case OPT_WIDTH:
			if ((rc = size_option("--width", optarg, &o.width)))
				return rc;
			break;
		case OPT_HEIGHT:
			if ((rc = size_option("--height", optarg, &o.height)))
				return rc;
			break;
		case OPT_ASCII:
			o.ascii = 1;
			break;
		default:
			if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
				if (rc)
					return rc;
			} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
				return rc > 0 ? rc : MP_EXIT_USAGE;
		}
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if ((rc = mp_query_path(&q, argc, argv)))
		return rc;
	int64_t min_w = o.svg ? MIN_SVG_WIDTH : MIN_TEXT_WIDTH, min_h = o.svg ? MIN_SVG_HEIGHT : MIN_TEXT_HEIGHT;
	if (o.width && o.width < min_w)
		return mp_usage_error("timeline", "option '--width' needs at least %" PRId64 " %s", min_w,
		                      o.svg ? "pixels" : "cells");
	if (o.height && o.height < min_h)
		return mp_usage_error("timeline", "option '--height' needs at least %" PRId64 " %s", min_h,
		                      o.svg ? "pixels" : "cells");
	if (o.svg && !strcmp(o.svg, "-") && q.format != MP_FMT_TEXT)
		return mp_usage_error("timeline", "'-o -' and --format %s would both write to standard output",
		                      q.format == MP_FMT_JSON ? "json" : "csv");
	sqlite3 *db;
	if ((rc = mp_trace_open_for(q.path, MP_NEED_PROCESSES, &db)))
		return rc;
	with_rss = mp_trace_has_table(db, "rss_samples");
	struct mp_processes ps;
	if (mp_window_set(&w))
		rc = mp_window_check(&w, db, q.path, q.pid);
	if (!rc && !(rc = mp_query_processes(&q, db, &ps))) {
		if (o.svg)
			rc = write_svg(db, &q, &o, &ps);
		if (!rc && q.format != MP_FMT_TEXT)
			rc = print_samples(db, &q, &ps);
		else if (!rc && !o.svg) {
			size_t shown = 0;
			for (size_t i = 0; i < ps.n && !rc; i++) {
				struct span sp;
				int in = process_span(db, &ps.v[i], &sp);
				if (in < 0)
					rc = mp_trace_fail_db(q.path, db);
				if (in <= 0)
					continue;
				if (shown++)
					fputc('\n', stdout);
				rc = text_chart(db, &q, &o, &ps.v[i], &sp);
			}
			if (!rc && shown == 0)
				fputs(ps.n ? "no process in the window\n" : "no process recorded\n", stdout);
		}
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
