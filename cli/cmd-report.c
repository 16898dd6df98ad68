/* memprof report: one self-contained HTML page for a bug report: the
 * summary, the heap over time, flame graphs, the top sites in every
 * ordering, the leaks and the peak, put together from what the query
 * commands compute (cli/views.h). The page loads nothing: its styles and
 * its one script are written here, inline. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "calltree.h"
#include "config.h"
#include "outfile.h"
#include "output.h"
#include "svg.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

#define DEFAULT_SITES 20 /* sites listed per ordering */
#define MAX_PANELS 12    /* processes drawn in the timeline: the largest peaks */
#define CHART_WIDTH 1200
#define PANEL_HEIGHT 280

static void usage(FILE *out)
{
	fputs("usage: memprof report [-o FILE.html] [-n N] [--phase NAME] [--from T] [--to T] [--pid PID]\n"
	      "                      TRACE\n"
	      "\n"
	      "Writes one self-contained HTML page about the trace, for a bug report:\n"
	      "the summary (with where it was recorded), the live heap over time, flame\n"
	      "graphs of the bytes allocated, of the bytes live at the peak and of the\n"
	      "leaks, the top sites by bytes, count, peak, leaks and temporaries, the\n"
	      "leaks and what was live at the peak, each stack with function and\n"
	      "file:line. The page loads nothing from elsewhere; open it in a browser.\n"
	      "With --phase, --from or --to: the allocations made in that window (the\n"
	      "heap over time in its span), without what a window does not define: the\n"
	      "peak, its flame graph and table, and the orders by peak and temporaries.\n"
	      "\n"
	      "    -o FILE         write to FILE (default: standard output)\n"
	      "    -n N            sites listed per table (default 20; 0: all)\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

static const char css[] =
        "body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; background: #fff;"
        " max-width: 1232px; margin: 0 auto; padding: 0 16px 48px; }\n"
        "h1 { font-size: 22px; margin: 20px 0 4px; }\n"
        "h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }\n"
        "h3 { font-size: 15px; margin: 20px 0 6px; }\n"
        "nav { margin: 8px 0 0; font-size: 14px; }\n"
        "nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }\n"
        "code, .stack { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; }\n"
        ".note { color: #666; font-size: 13px; margin: 4px 0 8px; }\n"
        "table { border-collapse: collapse; font-size: 13px; }\n"
        "th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }\n"
        "thead th { border-bottom: 1px solid #bbb; background: #f6f6f6; }\n"
        ".n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }\n"
        "td.key { font-weight: bold; }\n"
        "table.summary th { font-weight: normal; color: #555; white-space: nowrap; }\n"
        "td.site { word-break: break-word; }\n"
        "td.site summary { cursor: pointer; }\n"
        "ol.stack { margin: 4px 0 2px; padding-left: 28px; font-size: 12px; color: #333; }\n"
        "svg { display: block; max-width: 100%; height: auto; margin: 6px 0; }\n"
        "footer { margin-top: 40px; color: #888; font-size: 12px; }\n";

/* What the page is made of. */
struct report {
	FILE *out;
	sqlite3 *db;
	const char *path;          /* the trace */
	int64_t pid;               /* --pid, -1: every process */
	int64_t limit;             /* -n, 0: all */
	const struct mp_window *w; /* --phase, --from, --to */
	int windowed;              /* w is set: the sites are temp.window_sites */
	const char *sites;         /* the sites table read */
	struct mp_processes ps;
	struct mp_stack_loader loader;
	struct mp_stack stack;
	struct mp_buf b; /* scratch */
};

static void esc(struct report *r, const char *s)
{
	mp_svg_escape(r->out, s);
}

static const char *plural(int64_t n)
{
	return n == 1 ? "" : "s";
}

/* "1007.06 KiB (1031232 bytes)" */
static void size_text(struct report *r, int64_t bytes)
{
	char h[MP_HUMAN_MAX];
	fprintf(r->out, "%s (%" PRId64 " bytes)", mp_human_size(bytes, h, sizeof(h)), bytes);
}

/* A table cell with a human size, the exact bytes as its tooltip. */
static void size_cell(struct report *r, int64_t bytes, int key)
{
	char h[MP_HUMAN_MAX];
	fprintf(r->out, "<td class=\"n%s\" title=\"%" PRId64 " bytes\">%s</td>", key ? " key" : "", bytes,
	        mp_human_size(bytes, h, sizeof(h)));
}

static void int_cell(struct report *r, int64_t v, int key)
{
	fprintf(r->out, "<td class=\"n%s\">%" PRId64 "</td>", key ? " key" : "", v);
}

/* The site's cell: its innermost frame, and every frame when opened. */
static void stack_cell(struct report *r, const struct mp_stack *s)
{
	fputs("<td class=\"site\"><details><summary class=\"stack\">", r->out);
	mp_buf_reset(&r->b);
	if (s->n)
		mp_frame_format(s->v[0], &r->b);
	else
		mp_buf_puts(&r->b, "(no stack)");
	esc(r, mp_buf_str(&r->b));
	fputs("</summary><ol class=\"stack\">", r->out);
	for (size_t i = 0; i < s->n; i++) {
		mp_buf_reset(&r->b);
		mp_frame_format(s->v[i], &r->b);
		fputs("<li>", r->out);
		esc(r, mp_buf_str(&r->b));
		fputs("</li>", r->out);
	}
	fputs("</ol></details></td>", r->out);
}

/* The count of an SQL query (one integer); -1 on an error. */
static int64_t count_of(struct report *r, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

/* "The 20 largest of 134 sites." when some are left out. */
static void shown_note(struct report *r, int64_t shown, int64_t total, const char *what)
{
	if (total > shown)
		fprintf(r->out,
		        "<p class=\"note\">The first %" PRId64 " of %" PRId64
		        " %s (<code>-n</code> sets how many are listed).</p>\n",
		        shown, total, what);
}

/* --- summary ---------------------------------------------------------------- */

static void row_begin(struct report *r, const char *name)
{
	fprintf(r->out, "<tr><th>%s</th><td>", name);
}

static int write_summary(struct report *r)
{
	FILE *out = r->out;
	char h[MP_HUMAN_MAX];
	struct mp_summary_totals t = {0};
	mp_summary_add(&t, &r->ps);
	t.duration_ns = mp_meta_int(r->db, "duration_ns", 0);
	fputs("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"summary\">\n", out);
	row_begin(r, "command");
	fputs("<code>", out);
	mp_buf_reset(&r->b);
	mp_summary_command(r->db, r->pid, &r->ps, &r->b);
	esc(r, mp_buf_str(&r->b));
	fputs("</code></td></tr>\n", out);
	row_begin(r, "duration");
	fprintf(out, "%s</td></tr>\n", mp_human_duration(t.duration_ns, h, sizeof(h)));
	if (r->windowed) {
		struct mp_window_totals wt = {0};
		if (mp_window_totals(r->db, &wt) != SQLITE_OK)
			return mp_trace_fail_db(r->path, r->db);
		row_begin(r, "window");
		fputs("<span id=\"window\">allocations made in ", out);
		mp_buf_reset(&r->b);
		mp_window_describe(r->w, &r->b);
		esc(r, mp_buf_str(&r->b));
		fputs("</span></td></tr>\n", out);
		row_begin(r, "calls");
		fprintf(out,
		        "<span id=\"calls\">%" PRId64 " allocation%s</span>, %" PRId64 " of them freed</td></tr>\n",
		        wt.allocations, plural(wt.allocations), wt.frees);
		row_begin(r, "allocated");
		size_text(r, wt.bytes);
		fputs("</td></tr>\n", out);
		row_begin(r, "leaked");
		size_text(r, wt.leaked_bytes);
		fprintf(out, " in %" PRId64 " block%s</td></tr>\n", wt.leaked_blocks, plural(wt.leaked_blocks));
		row_begin(r, "trace");
		fputs("<code>", out);
		esc(r, mp_basename(r->path));
		fputs("</code>", out);
		if (r->pid >= 0)
			fprintf(out, " (pid %" PRId64 " only)", r->pid);
		fputs("</td></tr>\n</table>\n</section>\n", out);
		return 0;
	}
	if (r->ps.n > 1) {
		row_begin(r, "processes");
		fprintf(out, "%zu</td></tr>\n", r->ps.n);
	}
	row_begin(r, "calls");
	fprintf(out, "<span id=\"calls\">%" PRId64 " allocation%s</span>, %" PRId64 " free%s</td></tr>\n",
	        t.allocations, plural(t.allocations), t.frees, plural(t.frees));
	row_begin(r, "allocated");
	size_text(r, t.allocated_bytes);
	fputs("</td></tr>\n", out);
	row_begin(r, "peak");
	size_text(r, t.peak_bytes);
	fprintf(out, " at %s", mp_human_duration(t.peak_time_ns, h, sizeof(h)));
	if (r->ps.n > 1)
		fprintf(out, " in pid %" PRId64, t.peak_pid);
	fputs("</td></tr>\n", out);
	row_begin(r, "leaked");
	size_text(r, t.leaked_bytes);
	fprintf(out, " in %" PRId64 " block%s</td></tr>\n", t.leaked_blocks, plural(t.leaked_blocks));
	row_begin(r, "temporary");
	fprintf(out, "%" PRId64 " allocation%s</td></tr>\n", t.temporary, plural(t.temporary));
	row_begin(r, "threads");
	fprintf(out, "%" PRId64 "</td></tr>\n", t.threads);
	if (r->ps.n == 1) {
		char end[64];
		mp_summary_ended(&r->ps.v[0], end, sizeof(end));
		row_begin(r, "ended by");
		esc(r, end);
		fputs("</td></tr>\n", out);
	}
	if (t.unmatched_frees) {
		row_begin(r, "unmatched");
		fprintf(out, "%" PRId64 " free%s of blocks never seen allocated</td></tr>\n", t.unmatched_frees,
		        plural(t.unmatched_frees));
	}
	mp_buf_reset(&r->b);
	if (mp_summary_environment(r->db, &r->b)) {
		row_begin(r, "recorded");
		esc(r, mp_buf_str(&r->b));
		fputs("</td></tr>\n", out);
	}
	int64_t damaged = mp_meta_int(r->db, "damaged_chunks", 0), bad = mp_meta_int(r->db, "bad_messages", 0);
	if (damaged || bad) {
		row_begin(r, "skipped");
		fprintf(out, "%" PRId64 " damaged event chunks, %" PRId64 " bad messages</td></tr>\n", damaged, bad);
	}
	row_begin(r, "trace");
	fputs("<code>", out);
	esc(r, mp_basename(r->path));
	fputs("</code>", out);
	if (r->pid >= 0)
		fprintf(out, " (pid %" PRId64 " only)", r->pid);
	fputs("</td></tr>\n</table>\n", out);
	if (r->ps.n < 2) {
		fputs("</section>\n", out);
		return 0;
	}
	fputs("<h3>Processes</h3>\n<table class=\"processes\">\n<thead><tr><th class=\"n\">pid</th>"
	      "<th class=\"n\">ppid</th><th>origin</th><th>ended</th><th class=\"n\">allocations</th>"
	      "<th class=\"n\">allocated</th><th class=\"n\">peak</th><th class=\"n\">leaked</th><th>command</th>"
	      "</tr></thead>\n<tbody>\n",
	      out);
	for (size_t i = 0; i < r->ps.n; i++) {
		const struct mp_process *p = &r->ps.v[i];
		char end[64];
		fputs("<tr>", out);
		int_cell(r, p->pid, 0);
		if (p->ppid >= 0)
			int_cell(r, p->ppid, 0);
		else
			fputs("<td class=\"n\">?</td>", out);
		fputs("<td>", out);
		esc(r, p->origin);
		mp_summary_ended(p, end, sizeof(end));
		fputs("</td><td>", out);
		esc(r, end);
		fputs("</td>", out);
		int_cell(r, p->allocations, 0);
		size_cell(r, p->allocated_bytes, 0);
		size_cell(r, p->peak_bytes, 0);
		size_cell(r, p->leaked_bytes, 0);
		fputs("<td><code>", out);
		mp_buf_reset(&r->b);
		mp_argv_join(p->argv, &r->b);
		esc(r, mp_buf_str(&r->b));
		fputs("</code></td></tr>\n", out);
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
	return 0;
}

/* --- charts ----------------------------------------------------------------- */

static int by_peak_desc(const void *a, const void *b)
{
	const struct mp_process *x = *(const struct mp_process *const *)a, *y = *(const struct mp_process *const *)b;
	if (x->peak_bytes != y->peak_bytes)
		return x->peak_bytes > y->peak_bytes ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_id(const void *a, const void *b)
{
	const struct mp_process *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int write_timeline(struct report *r)
{
	FILE *out = r->out;
	fputs("<section id=\"timeline\">\n<h2>Heap over time</h2>\n"
	      "<p class=\"note\">The live heap of each process: the bytes requested and the usable bytes the"
	      " allocator gave, sampled at most every 10 ms and at the peak, which is marked. Hover the chart for"
	      " the values.</p>\n",
	      out);
	/* Many processes: those with the largest peaks, in their order. */
	struct mp_processes shown = r->ps;
	const struct mp_process **sorted = NULL;
	if (r->ps.n > MAX_PANELS) {
		sorted = mp_xmalloc(r->ps.n * sizeof(*sorted));
		for (size_t i = 0; i < r->ps.n; i++)
			sorted[i] = &r->ps.v[i];
		qsort(sorted, r->ps.n, sizeof(*sorted), by_peak_desc);
		shown.v = mp_xmalloc(MAX_PANELS * sizeof(*shown.v));
		shown.n = shown.cap = MAX_PANELS;
		for (size_t i = 0; i < MAX_PANELS; i++)
			shown.v[i] = *sorted[i]; /* shallow: the strings stay r->ps's */
		qsort(shown.v, shown.n, sizeof(*shown.v), by_id);
		fprintf(out, "<p class=\"note\">The %d processes with the largest peaks, of %zu.</p>\n", MAX_PANELS,
		        r->ps.n);
	}
	int rc = mp_timeline_svg(out, r->db, r->path, &shown, r->w, CHART_WIDTH, PANEL_HEIGHT, "timeline-chart");
	if (sorted) {
		free(shown.v);
		free(sorted);
	}
	fputs("</section>\n", out);
	return rc;
}

static int write_flamegraphs(struct report *r, int64_t leaked)
{
	static const struct graph {
		enum mp_calltree_by by;
		const char *id, *heading, *title;
	} graphs[] = {
	        {MP_CALLTREE_BYTES, "flame-bytes", "Bytes allocated", "Bytes allocated, by call stack"},
	        {MP_CALLTREE_PEAK, "flame-peak", "Live at the peak", "Bytes live at the peak of each process"},
	        {MP_CALLTREE_LEAKED, "flame-leaked", "Leaked", "Bytes never freed"},
	};
	FILE *out = r->out;
	struct mp_calltree t;
	if (mp_calltree_load(&t, r->db, r->sites, r->pid, 0)) {
		int rc = mp_trace_fail(r->path, t.err);
		mp_calltree_free(&t);
		return rc;
	}
	fputs("<section id=\"flame\">\n<h2>Flame graphs</h2>\n"
	      "<p class=\"note\">Every frame is as wide as the figure of the allocation stacks through it, summed"
	      " over the processes, root callers at the bottom. Hover a frame for its figure and share, click it to"
	      " zoom in (<em>Reset Zoom</em> goes back), <em>Search</em> highlights the frames matching a regular"
	      " expression.</p>\n",
	      out);
	for (size_t i = 0; i < sizeof(graphs) / sizeof(graphs[0]); i++) {
		const struct graph *g = &graphs[i];
		if ((g->by == MP_CALLTREE_LEAKED && leaked <= 0) || (g->by == MP_CALLTREE_PEAK && r->windowed))
			continue;
		mp_calltree_build(&t, g->by, 0);
		fprintf(out, "<h3>%s</h3>\n", g->heading);
		mp_flamegraph_svg(out, &t, g->by, 0, g->title, NULL, g->id);
	}
	fputs("</section>\n", out);
	mp_calltree_free(&t);
	return 0;
}

/* --- site tables ------------------------------------------------------------ */

/* Loads the stack of the current row's column 0 into r->stack. */
static int load_stack(struct report *r, sqlite3_stmt *st)
{
	if (mp_stack_load(&r->loader, sqlite3_column_int64(st, 0), &r->stack))
		return mp_trace_fail(r->path, r->loader.err);
	return 0;
}

/* Ends a table read from st (rc: the last step's result or an exit code). */
static int table_end(struct report *r, sqlite3_stmt *st, int rc, int64_t rows, const char *none)
{
	sqlite3_finalize(st);
	fputs("</tbody>\n</table>\n", r->out);
	if (rc > 0 && rc != SQLITE_DONE)
		return mp_trace_fail_db(r->path, r->db);
	if (rc < 0)
		return -rc;
	if (rows == 0)
		fprintf(r->out, "<p class=\"note\">%s</p>\n", none);
	return 0;
}

static int write_top(struct report *r)
{
	FILE *out = r->out;
	fputs("<section id=\"top\">\n<h2>Top sites</h2>\n"
	      "<p class=\"note\">Allocation sites (full call stacks), their figures summed over the processes; click"
	      " a site for its whole stack. Peak: bytes live at the peak of their process; temporary: allocations"
	      " freed before the next one.</p>\n",
	      out);
	for (int k = 0; k < MP_TOP_ORDERS; k++) {
		const struct mp_top_order *o = &mp_top_orders[k];
		if (r->windowed && !o->part_sum)
			continue; /* not defined for a window */
		char sql[512];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM %s%s GROUP BY stack_id HAVING %s > 0)",
		         r->sites,
		         r->pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
		         o->sum);
		int64_t total = count_of(r, sql, r->pid);
		if (total < 0)
			return mp_trace_fail_db(r->path, r->db);
		fprintf(out, "<h3 id=\"top-%s\">By %s</h3>\n", o->name, o->title);
		int64_t shown = r->limit > 0 && total > r->limit ? r->limit : total;
		shown_note(r, shown, total, "sites");
		sqlite3_stmt *st;
		if (mp_top_prepare(r->db, r->sites, o, r->pid, r->limit, &st) != SQLITE_OK)
			return mp_trace_fail_db(r->path, r->db);
		fprintf(out,
		        "<table class=\"sites\" id=\"top-%s-table\">\n<thead><tr><th class=\"n\">#</th>"
		        "<th class=\"n\">allocations</th><th class=\"n\">bytes</th>%s"
		        "<th class=\"n\">leaked</th><th class=\"n\">leaked blocks</th>%s"
		        "<th>site</th></tr></thead>\n<tbody>\n",
		        o->name, r->windowed ? "" : "<th class=\"n\">peak</th>",
		        r->windowed ? "" : "<th class=\"n\">temporary</th>");
		int64_t rank = 0;
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct mp_top_site s;
			mp_top_row(st, &s);
			int e = load_stack(r, st);
			if (e) {
				rc = -e;
				break;
			}
			fputs("<tr>", out);
			int_cell(r, ++rank, 0);
			int_cell(r, s.allocations, k == 1);
			size_cell(r, s.bytes, k == 0);
			if (!r->windowed)
				size_cell(r, s.peak_bytes, k == 2);
			size_cell(r, s.leaked_bytes, k == 3);
			int_cell(r, s.leaked_blocks, 0);
			if (!r->windowed)
				int_cell(r, s.temporary, k == 4);
			stack_cell(r, &r->stack);
			fputs("</tr>\n", out);
		}
		char none[128];
		snprintf(none, sizeof(none), "No sites with %s.", o->title);
		if ((rc = table_end(r, st, rc, rank, none)))
			return rc;
	}
	fputs("</section>\n", out);
	return 0;
}

static int write_leaks(struct report *r, int64_t bytes, int64_t blocks)
{
	FILE *out = r->out;
	fputs("<section id=\"leaks\">\n<h2>Leaks</h2>\n<p>", out);
	if (blocks > 0 || bytes > 0) {
		fputs("Leaked: ", out);
		size_text(r, bytes);
		fprintf(out, " in %" PRId64 " block%s, never freed before their process ended.</p>\n", blocks,
		        plural(blocks));
	} else {
		fputs("No leaks: every block was freed.</p>\n", out);
	}
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT stack_id) FROM %s WHERE leaked_blocks > 0%s", r->sites,
	         r->pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "");
	int64_t total = count_of(r, sql, r->pid);
	if (total < 0)
		return mp_trace_fail_db(r->path, r->db);
	shown_note(r, r->limit > 0 && total > r->limit ? r->limit : total, total, "leaking sites");
	sqlite3_stmt *st;
	if (mp_leaks_prepare(r->db, r->sites, r->pid, 0, r->limit, &st) != SQLITE_OK)
		return mp_trace_fail_db(r->path, r->db);
	fputs("<table class=\"sites\" id=\"leaks-table\">\n<thead><tr><th class=\"n\">#</th><th class=\"n\">bytes</th>"
	      "<th class=\"n\">blocks</th><th>site</th></tr></thead>\n<tbody>\n",
	      out);
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int e = load_stack(r, st);
		if (e) {
			rc = -e;
			break;
		}
		fputs("<tr>", out);
		int_cell(r, ++rank, 0);
		size_cell(r, sqlite3_column_int64(st, 1), 1);
		int_cell(r, sqlite3_column_int64(st, 2), 0);
		stack_cell(r, &r->stack);
		fputs("</tr>\n", out);
	}
	if ((rc = table_end(r, st, rc, rank, "No leaking sites.")))
		return rc;
	fputs("</section>\n", out);
	return 0;
}

static int write_peak(struct report *r)
{
	FILE *out = r->out;
	const struct mp_process *p = mp_peak_process(&r->ps, 0);
	fputs("<section id=\"peak\">\n<h2>Peak</h2>\n<p>", out);
	if (r->windowed) {
		fputs("Not shown for a window: the peak is not defined for the allocations made in it.</p>\n"
		      "</section>\n",
		      out);
		return 0;
	}
	if (!p) {
		fputs("No process recorded.</p>\n</section>\n", out);
		return 0;
	}
	char h[MP_HUMAN_MAX];
	fputs("Peak: ", out);
	size_text(r, p->peak_bytes);
	fprintf(out, " at %s in pid %" PRId64 " (<code>", mp_human_duration(p->peak_time_ns, h, sizeof(h)), p->pid);
	mp_buf_reset(&r->b);
	mp_argv_join(p->argv, &r->b);
	esc(r, mp_buf_str(&r->b));
	fputs("</code>); the sites whose blocks were live at that moment.</p>\n", out);
	int64_t total = count_of(r, "SELECT count(*) FROM main.sites WHERE process_id = ?1 AND peak_bytes > 0", p->id);
	if (total < 0)
		return mp_trace_fail_db(r->path, r->db);
	shown_note(r, r->limit > 0 && total > r->limit ? r->limit : total, total, "sites live at the peak");
	sqlite3_stmt *st;
	if (mp_peak_prepare(r->db, p->id, r->limit, &st) != SQLITE_OK)
		return mp_trace_fail_db(r->path, r->db);
	fputs("<table class=\"sites\" id=\"peak-table\">\n<thead><tr><th class=\"n\">#</th><th class=\"n\">bytes</th>"
	      "<th class=\"n\">blocks</th><th class=\"n\">share</th><th>site</th></tr></thead>\n<tbody>\n",
	      out);
	int64_t rank = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int e = load_stack(r, st);
		if (e) {
			rc = -e;
			break;
		}
		int64_t bytes = sqlite3_column_int64(st, 1);
		fputs("<tr>", out);
		int_cell(r, ++rank, 0);
		size_cell(r, bytes, 1);
		int_cell(r, sqlite3_column_int64(st, 2), 0);
		fprintf(out, "<td class=\"n\">%.1f%%</td>",
		        p->peak_bytes > 0 ? 100.0 * (double)bytes / (double)p->peak_bytes : 0.0);
		stack_cell(r, &r->stack);
		fputs("</tr>\n", out);
	}
	if ((rc = table_end(r, st, rc, rank, "No blocks were live at the peak.")))
		return rc;
	fputs("</section>\n", out);
	return 0;
}

/* --- the page --------------------------------------------------------------- */

/* Sets up the flame graphs; the marker on <body> tells that it ran. */
static const char page_script[] =
        "window.addEventListener('error', function (e) {\n"
        "  document.body.setAttribute('data-memprof-error', String(e.message));\n"
        "});\n"
        "(function () {\n"
        "  var svgs = document.querySelectorAll('svg.flame'), frames = 0;\n"
        "  for (var i = 0; i < svgs.length; i++) {\n"
        "    var g = mp_flame(svgs[i], svgs[i].id + '-', false);\n"
        "    svgs[i].setAttribute('data-frames', String(g.frames.length));\n"
        "    frames += g.frames.length;\n"
        "  }\n"
        "  document.body.setAttribute('data-memprof-ready', svgs.length + ' graphs, ' + frames + ' frames');\n"
        "})();\n";

static int write_page(struct report *r)
{
	FILE *out = r->out;
	struct mp_summary_totals t = {0};
	mp_summary_add(&t, &r->ps);
	if (r->windowed) {
		struct mp_window_totals wt = {0};
		if (mp_window_totals(r->db, &wt) != SQLITE_OK)
			return mp_trace_fail_db(r->path, r->db);
		t.leaked_bytes = wt.leaked_bytes;
		t.leaked_blocks = wt.leaked_blocks;
	}
	/* The program: the first process's (that of --pid's images). */
	const char *prog = r->ps.n && r->ps.v[0].argc ? mp_basename(r->ps.v[0].argv[0]) : "";
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline';"
	      " script-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"memprof " PACKAGE_VERSION "\">\n<title>memprof report: ",
	      out);
	esc(r, *prog ? prog : "no process");
	fputs(" (", out);
	esc(r, mp_basename(r->path));
	fprintf(out, ")</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>Memory report: <code>", css);
	esc(r, *prog ? prog : "no process");
	fputs("</code></h1>\n<nav><a href=\"#summary\">Summary</a><a href=\"#timeline\">Heap over time</a>"
	      "<a href=\"#flame\">Flame graphs</a><a href=\"#top\">Top sites</a><a href=\"#leaks\">Leaks</a>"
	      "<a href=\"#peak\">Peak</a></nav>\n</header>\n",
	      out);
	int rc = write_summary(r);
	if (!rc)
		rc = write_timeline(r);
	if (!rc)
		rc = write_flamegraphs(r, t.leaked_bytes);
	if (!rc)
		rc = write_top(r);
	if (!rc)
		rc = write_leaks(r, t.leaked_bytes, t.leaked_blocks);
	if (!rc)
		rc = write_peak(r);
	if (rc)
		return rc;
	fputs("<footer>Written by memprof " PACKAGE_VERSION " (<code>memprof report</code>) from <code>", out);
	esc(r, mp_basename(r->path));
	fputs("</code>; this page loads nothing from elsewhere.</footer>\n<script>\n", out);
	mp_flamegraph_script(out);
	fprintf(out, "%s</script>\n</body>\n</html>\n", page_script);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	static const struct option options[] = {
	        {"pid", required_argument, NULL, MP_OPT_PID},
	        {"help", no_argument, NULL, 'h'},
	        {"output", required_argument, NULL, 'o'},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "report", DEFAULT_SITES);
	struct mp_window w;
	mp_window_init(&w);
	const char *output = NULL;
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "o:n:", options, NULL)) != -1) {
		if (opt == 'o')
			output = optarg;
		else if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if ((rc = mp_query_path(&q, argc, argv)))
		return rc;
	struct report r = {.path = q.path,
	                   .pid = q.pid,
	                   .limit = q.limit,
	                   .w = &w,
	                   .windowed = mp_window_set(&w),
	                   .sites = mp_window_table(&w)};
	if ((rc = mp_trace_open_for(q.path, MP_NEED_FIGURES, &r.db)))
		return rc;
	if ((rc = mp_query_processes(&q, r.db, &r.ps))) {
		mp_trace_close(r.db);
		return rc;
	}
	if (r.windowed && (rc = mp_window_sites(&w, NULL, r.db, q.path, q.pid, 0))) {
		/* the message is out */
	} else if (mp_stack_loader_init(&r.loader, r.db)) {
		rc = mp_trace_fail(q.path, r.loader.err);
	} else {
		r.out = mp_outfile_open(output);
		if (!r.out) {
			rc = MP_EXIT_TRACE;
		} else if ((rc = write_page(&r))) {
			mp_outfile_discard(r.out, output);
		} else {
			rc = mp_outfile_close(r.out, output);
		}
		mp_stack_free(&r.stack);
		mp_stack_loader_fini(&r.loader);
	}
	mp_buf_free(&r.b);
	mp_processes_free(&r.ps);
	mp_trace_close(r.db);
	return rc;
}
