/* memprof flamegraph: the call tree of a trace as a self-contained
 * interactive SVG (hover for details, click to zoom, search), in the layout
 * of Brendan Gregg's flamegraph.pl but written here, script included. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "calltree.h"
#include "outfile.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

enum { OPT_BY = MP_OPT_FIRST_PRIVATE, OPT_REVERSE, OPT_TITLE };

#define WIDTH 1200
#define PAD 10            /* left and right margins */
#define FRAME_H 16        /* one row */
#define TOP (FRAME_H * 3) /* title and controls */
#define BOTTOM (FRAME_H * 2)
#define FONT 12
#define MIN_WIDTH 0.1 /* frames narrower (in pixels) are not drawn */

static void usage(FILE *out)
{
	fputs("usage: memprof flamegraph [-o FILE] [--by bytes|count|peak|leaked|temporary] [--reverse]\n"
	      "                          [--title TEXT] [--phase NAME] [--from T] [--to T] [--pid PID]\n"
	      "                          TRACE\n"
	      "\n"
	      "Writes an interactive SVG flame graph of the trace's allocation stacks:\n"
	      "each frame is as wide as the figure of the stacks through it. Hover a\n"
	      "frame for its figure and share, click it to zoom in, 'Search' highlights\n"
	      "frames matching a regular expression and tells their share. The file is\n"
	      "self-contained (open it in a web browser).\n"
	      "With --phase, --from or --to: the allocations made in that window, by\n"
	      "bytes, count or leaked (peak and temporary are not defined for a window).\n"
	      "\n"
	      "    -o, --output FILE  write to FILE (default: standard output)\n"
	      "    --by FIGURE     bytes allocated (the default), count of allocations,\n"
	      "                    peak (bytes live at the peak), leaked (bytes never\n"
	      "                    freed) or temporary (allocations freed at once)\n"
	      "    --reverse       allocation sites at the root, their callers above\n"
	      "    --title TEXT    the title (default: \"Allocation flame graph\")\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;
	return len;
}

/* Writes s as XML character data or an attribute value: markup escaped,
   control characters and invalid UTF-8 replaced by '?'. */
static void xml_puts(FILE *out, const char *str)
{
	const unsigned char *p = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)p);
	while (n > 0) {
		size_t len = utf8_seq(p, n);
		if (len == 0 || (p[0] < 0x20 && p[0] != '\t')) {
			fputc('?', out);
			len = len ? len : 1;
		} else if (p[0] == '&') {
			fputs("&amp;", out);
		} else if (p[0] == '<') {
			fputs("&lt;", out);
		} else if (p[0] == '>') {
			fputs("&gt;", out);
		} else if (p[0] == '"') {
			fputs("&quot;", out);
		} else {
			fwrite(p, 1, len, out);
		}
		p += len;
		n -= len;
	}
}

/* The share of w in total, in percent. */
static double share(int64_t w, int64_t total)
{
	return total > 0 ? 100.0 * (double)w / (double)total : 0.0;
}

/* "2000000 bytes (1.91 MiB)" or "1000 allocations". */
static void figure(struct mp_buf *b, int64_t w, enum mp_calltree_by by)
{
	char h[MP_HUMAN_MAX];
	if (mp_calltree_by_bytes(by))
		mp_buf_printf(b, "%" PRId64 " bytes (%s)", w, mp_human_size(w, h, sizeof(h)));
	else if (by == MP_CALLTREE_TEMPORARY)
		mp_buf_printf(b, "%" PRId64 " temporary allocation%s", w, w == 1 ? "" : "s");
	else
		mp_buf_printf(b, "%" PRId64 " allocation%s", w, w == 1 ? "" : "s");
}

/* A warm colour from the name, the same on every run. */
static void color(FILE *out, const char *name)
{
	uint64_t h = 14695981039346656037ULL;
	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	if (!strcmp(name, "[truncated]")) {
		fputs("rgb(160,160,160)", out);
		return;
	}
	fprintf(out, "rgb(%u,%u,%u)", 205 + (unsigned)(h % 51), (unsigned)((h >> 8) % 230), (unsigned)((h >> 16) % 55));
}

struct draw {
	FILE *out;
	const struct mp_calltree *t;
	enum mp_calltree_by by;
	int64_t total;
	double scale; /* pixels per unit of weight */
	size_t rows;  /* rows drawn */
	int height;
	struct mp_buf b;
};

/* The text that fits in w pixels, as the script computes it too. */
static void fit_label(struct mp_buf *b, const char *name, double w)
{
	size_t chars = (size_t)((w - 6) / (FONT * 0.59));
	size_t len = strlen(name);
	if (chars < 3 || w < 6)
		return;
	if (len <= chars) {
		mp_buf_puts(b, name);
		return;
	}
	/* Cut on a character boundary. */
	size_t cut = chars - 2;
	while (cut > 0 && ((unsigned char)name[cut] & 0xc0) == 0x80)
		cut--;
	mp_buf_add(b, name, cut);
	mp_buf_puts(b, "..");
}

static void draw_frame(struct draw *d, const struct mp_calltree_node *n, double x, double w)
{
	const struct mp_calltree *t = d->t;
	const struct mp_calltree_frame *f = n->frame == MP_CALLTREE_NONE ? NULL : &t->frames[n->frame];
	const char *name = f ? f->name : "all";
	double y = d->height - BOTTOM - (double)(n->depth + 1) * FRAME_H;
	FILE *out = d->out;
	fputs("<g class=\"f\" data-n=\"", out);
	xml_puts(out, name);
	fprintf(out, "\" data-v=\"%" PRId64 "\"><title>", n->total);
	struct mp_buf *b = &d->b;
	mp_buf_reset(b);
	mp_buf_puts(b, name);
	if (f && f->file && f->line)
		mp_buf_printf(b, " (%s:%" PRId64 ")", f->file, f->line);
	else if (f && f->file)
		mp_buf_printf(b, " (%s)", f->file);
	else if (f && f->function && f->module)
		mp_buf_printf(b, " (%s)", mp_basename(f->module));
	if (f && (f->flags & MP_FRAME_INLINED))
		mp_buf_puts(b, " [inlined]");
	mp_buf_puts(b, ": ");
	figure(b, n->total, d->by);
	mp_buf_printf(b, ", %.2f%%", share(n->total, d->total));
	xml_puts(out, mp_buf_str(b));
	fprintf(out, "</title><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\" rx=\"2\" fill=\"", x, y, w,
	        FRAME_H - 1);
	if (f)
		color(out, name);
	else
		fputs("rgb(200,200,200)", out);
	fprintf(out, "\"/><text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FRAME_H - 4.5);
	mp_buf_reset(b);
	fit_label(b, name, w);
	xml_puts(out, mp_buf_str(b));
	fputs("</text></g>\n", out);
}

/* Draws node and its children that are wide enough, parents first. */
static void draw_tree(struct draw *d, size_t node, double x)
{
	const struct mp_calltree_node *n = &d->t->nodes[node];
	double w = (double)n->total * d->scale;
	if (node != 0 && w < MIN_WIDTH)
		return;
	draw_frame(d, n, x, node == 0 ? WIDTH - 2 * PAD : w);
	for (size_t i = 0; i < n->nkids; i++) {
		size_t k = d->t->kids[n->kids + i];
		draw_tree(d, k, x);
		x += (double)d->t->nodes[k].total * d->scale;
	}
}

/* Rows that will be drawn: the deepest node wide enough, plus the root. */
static size_t rows_drawn(const struct mp_calltree *t, double scale)
{
	size_t rows = 1;
	for (size_t i = 1; i < t->nnodes; i++)
		if ((double)t->nodes[i].total * scale >= MIN_WIDTH && t->nodes[i].depth + 1 > rows)
			rows = t->nodes[i].depth + 1;
	return rows;
}

/* The script: hover details, zoom on click, search; written here, no
   outside code. mp_flame(svg, p, keys) sets up the graph in the element
   svg, whose controls have the ids p + "details", "matched", "unzoom" and
   "search"; keys: Ctrl-F searches. Frames are <g class="f"> with data-n
   (name) and data-v (weight); geometry is read back from their rects. */
static const char script[] =
        "\"use strict\";\n"
        "function mp_flame(svg, p, keys) {\n"
        "  var W = 1200, PAD = 10, FONT = 12, frames = [], total = 0;\n"
        "  function el(id) { return document.getElementById(p + id); }\n"
        "  var details = el('details').firstChild, matched = el('matched').firstChild, unzoom = el('unzoom');\n"
        "  var gs = svg.getElementsByClassName('f');\n"
        "  for (var i = 0; i < gs.length; i++) {\n"
        "    var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
        "    g.r = r; g.t = g.getElementsByTagName('text')[0];\n"
        "    g.ox = +r.getAttribute('x'); g.ow = +r.getAttribute('width'); g.oy = +r.getAttribute('y');\n"
        "    g.of = r.getAttribute('fill'); g.name = g.getAttribute('data-n'); g.v = +g.getAttribute('data-v');\n"
        "    g.tip = g.getElementsByTagName('title')[0].textContent;\n"
        "    g.addEventListener('mouseover', function () { details.nodeValue = this.tip; });\n"
        "    g.addEventListener('mouseout', function () { details.nodeValue = ' '; });\n"
        "    g.addEventListener('click', function () { zoom(this); });\n"
        "    frames.push(g);\n"
        "  }\n"
        "  if (frames.length) total = frames[0].v;\n"
        "  unzoom.addEventListener('click', reset_zoom);\n"
        "  el('search').addEventListener('click', search_prompt);\n"
        "  el('matched').addEventListener('click', reset_search);\n"
        "  if (keys) window.addEventListener('keydown', function (e) {\n"
        "    if ((e.ctrlKey || e.metaKey) && e.keyCode === 70) { e.preventDefault(); search_prompt(); }\n"
        "  });\n"
        "  function fit(g, x, w) {\n"
        "    g.r.setAttribute('x', x.toFixed(1)); g.r.setAttribute('width', w.toFixed(1));\n"
        "    g.t.setAttribute('x', (x + 3).toFixed(1));\n"
        "    var n = Math.floor((w - 6) / (FONT * 0.59)), s = g.name;\n"
        "    if (n < 3 || w < 6) s = ''; else if (s.length > n) s = s.substring(0, n - 2) + '..';\n"
        "    g.t.textContent = s;\n"
        "  }\n"
        "  function zoom(z) {\n"
        "    var scale = (W - 2 * PAD) / z.ow, e = 1e-6 * W;\n"
        "    unzoom.style.opacity = '1';\n"
        "    for (var i = 0; i < frames.length; i++) {\n"
        "      var g = frames[i];\n"
        "      if (g.oy > z.oy && g.ox <= z.ox + e && g.ox + g.ow >= z.ox + z.ow - e) {\n"
        "        g.style.display = ''; g.style.opacity = '0.6'; fit(g, PAD, W - 2 * PAD);\n"
        "      } else if (g.oy <= z.oy && g.ox >= z.ox - e && g.ox + g.ow <= z.ox + z.ow + e) {\n"
        "        g.style.display = ''; g.style.opacity = ''; fit(g, PAD + (g.ox - z.ox) * scale, g.ow * scale);\n"
        "      } else {\n"
        "        g.style.display = 'none';\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "  function reset_zoom() {\n"
        "    unzoom.style.opacity = '0';\n"
        "    for (var i = 0; i < frames.length; i++) {\n"
        "      var g = frames[i]; g.style.display = ''; g.style.opacity = ''; fit(g, g.ox, g.ow);\n"
        "    }\n"
        "  }\n"
        "  function search_prompt() {\n"
        "    var term = prompt('Search for (regular expression):', '');\n"
        "    if (term !== null) search(term);\n"
        "  }\n"
        "  function search(term) {\n"
        "    reset_search();\n"
        "    if (term === '') return;\n"
        "    var re;\n"
        "    try { re = new RegExp(term); } catch (err) { matched.nodeValue = 'bad expression'; return; }\n"
        "    var hits = [];\n"
        "    for (var i = 0; i < frames.length; i++) {\n"
        "      var g = frames[i];\n"
        "      if (i > 0 && re.test(g.name)) { g.r.setAttribute('fill', 'rgb(230,0,230)'); hits.push(g); }\n"
        "    }\n"
        "    hits.sort(function (a, b) { return a.ox - b.ox || b.oy - a.oy; });\n"
        "    var sum = 0, end = -1;\n"
        "    for (var j = 0; j < hits.length; j++) {\n"
        "      if (hits[j].ox + hits[j].ow <= end + 1e-6 * W) continue;\n"
        "      sum += hits[j].v; end = hits[j].ox + hits[j].ow;\n"
        "    }\n"
        "    matched.nodeValue = 'Matched: ' + (total > 0 ? (100 * sum / total).toFixed(2) : '0.00') + '% (' + "
        "sum + ')';\n"
        "  }\n"
        "  function reset_search() {\n"
        "    for (var i = 0; i < frames.length; i++) frames[i].r.setAttribute('fill', frames[i].of);\n"
        "    matched.nodeValue = ' ';\n"
        "  }\n"
        "  return { frames: frames, zoom: zoom, reset_zoom: reset_zoom, search: search, reset_search: reset_search };\n"
        "}\n";

void mp_flamegraph_script(FILE *out)
{
	fputs(script, out);
}

void mp_flamegraph_svg(FILE *out, const struct mp_calltree *t, enum mp_calltree_by by, int reverse, const char *title,
                       const char *subtitle, const char *id)
{
	struct draw d = {.out = out, .t = t, .by = by, .total = t->nodes[0].total};
	d.scale = d.total > 0 ? (double)(WIDTH - 2 * PAD) / (double)d.total : 0;
	d.rows = rows_drawn(t, d.scale);
	d.height = TOP + BOTTOM + (int)d.rows * FRAME_H + FRAME_H;
	/* Inside a page, ids get the prefix "ID-" and the rules apply to
	   this graph only. */
	const char *p = id ? id : "", *dash = id ? "-" : "", *scope = id ? "#" : "", *sp = id ? " " : "";
	if (!id)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out, "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"", WIDTH, d.height, WIDTH,
	        d.height);
	if (id)
		fprintf(out, " id=\"%s\" class=\"flame\"", id);
	else
		fputs(" onload=\"init(evt)\"", out);
	fputs(" xmlns=\"http://www.w3.org/2000/svg\">\n"
	      "<!-- Written by memprof flamegraph. -->\n"
	      "<style type=\"text/css\">\n",
	      out);
	fprintf(out,
	        "%s%s%stext { font-family: Verdana, sans-serif; font-size: %dpx; fill: rgb(0,0,0); }\n"
	        "%s%s%sg.f:hover { stroke: black; stroke-width: 0.5; cursor: pointer; }\n"
	        "#%s%stitle { font-size: 17px; text-anchor: middle; }\n"
	        "#%s%ssearch, #%s%sunzoom, #%s%smatched { cursor: pointer; }\n"
	        "#%s%ssearch, #%s%smatched { text-anchor: end; }\n"
	        "</style>\n",
	        scope, p, sp, FONT, scope, p, sp, p, dash, p, dash, p, dash, p, dash, p, dash, p, dash);
	if (!id)
		fprintf(out,
		        "<script type=\"text/ecmascript\"><![CDATA[\n%s"
		        "function init(evt) { mp_flame(document.documentElement, '', true); }\n"
		        "]]></script>\n",
		        script);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"rgb(248,248,240)\"/>\n", WIDTH, d.height);
	fprintf(out, "<text id=\"%s%stitle\" x=\"%d\" y=\"%d\">", p, dash, WIDTH / 2, FRAME_H + 4);
	xml_puts(out, title);
	fputs("</text>\n", out);
	struct mp_buf sub = {0};
	mp_buf_printf(&sub, "%s%s, total ", mp_calltree_by_name(by), reverse ? ", reversed" : "");
	figure(&sub, d.total, by);
	if (subtitle)
		mp_buf_printf(&sub, " - %s", subtitle);
	fprintf(out, "<text id=\"%s%ssubtitle\" x=\"%d\" y=\"%d\" style=\"text-anchor: middle\">", p, dash, WIDTH / 2,
	        FRAME_H * 2 + 4);
	xml_puts(out, mp_buf_str(&sub));
	mp_buf_free(&sub);
	fputs("</text>\n", out);
	fprintf(out, "<text id=\"%s%sunzoom\" x=\"%d\" y=\"%d\" style=\"opacity: 0\">Reset Zoom</text>\n", p, dash, PAD,
	        FRAME_H + 4);
	fprintf(out, "<text id=\"%s%ssearch\" x=\"%d\" y=\"%d\">Search</text>\n", p, dash, WIDTH - PAD, FRAME_H + 4);
	fprintf(out, "<text id=\"%s%sdetails\" x=\"%d\" y=\"%d\"> </text>\n", p, dash, PAD, d.height - FRAME_H / 2);
	fprintf(out, "<text id=\"%s%smatched\" x=\"%d\" y=\"%d\"> </text>\n", p, dash, WIDTH - PAD,
	        d.height - FRAME_H / 2);
	draw_tree(&d, 0, PAD);
	fputs("</svg>\n", out);
	mp_buf_free(&d.b);
}

int cmd_flamegraph(int argc, char **argv)
{
	static const struct option options[] = {
	        {"pid", required_argument, NULL, MP_OPT_PID},
	        {"help", no_argument, NULL, 'h'},
	        {"output", required_argument, NULL, 'o'},
	        {"by", required_argument, NULL, OPT_BY},
	        {"reverse", no_argument, NULL, OPT_REVERSE},
	        {"title", required_argument, NULL, OPT_TITLE},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "flamegraph", 0);
	struct mp_window w;
	mp_window_init(&w);
	enum mp_calltree_by by = MP_CALLTREE_BYTES;
	const char *output = NULL, *title = "Allocation flame graph";
	int reverse = 0, opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "o:", options, NULL)) != -1) {
		if (opt == 'o')
			output = optarg;
		else if (opt == OPT_REVERSE)
			reverse = 1;
		else if (opt == OPT_TITLE)
			title = optarg;
		else if (opt == OPT_BY) {
			if (mp_calltree_by_parse(optarg, &by))
				return mp_usage_error(
				        q.cmd, "option '--by' needs bytes, count, peak, leaked or temporary, not '%s'",
				        optarg);
		} else if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (mp_window_set(&w) && (by == MP_CALLTREE_PEAK || by == MP_CALLTREE_TEMPORARY))
		return mp_window_refuse(q.cmd, by == MP_CALLTREE_PEAK ? "--by peak" : "--by temporary",
		                        "not defined for a window");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	struct mp_processes ps;
	if ((rc = mp_query_processes(&q, db, &ps))) {
		mp_trace_close(db);
		return rc;
	}
	struct mp_calltree t = {0};
	if (mp_window_set(&w) && (rc = mp_window_sites(&w, NULL, db, q.path, q.pid, 0))) {
		/* the message is out */
	} else if (mp_calltree_load(&t, db, mp_window_table(&w), q.pid, 0)) {
		rc = mp_trace_fail(q.path, t.err);
	} else {
		mp_calltree_build(&t, by, reverse ? MP_CALLTREE_REVERSE : 0);
		struct mp_buf sub = {0};
		char *cmd = mp_meta_get(db, "command");
		if (cmd) {
			size_t n;
			char **args = mp_argv_parse(db, cmd, &n);
			mp_argv_join(args, &sub);
			mp_argv_free(args);
			free(cmd);
		}
		if (q.pid >= 0)
			mp_buf_printf(&sub, "%spid %" PRId64, sub.len ? ", " : "", q.pid);
		if (mp_window_set(&w)) {
			mp_buf_puts(&sub, sub.len ? ", " : "");
			mp_window_describe(&w, &sub);
		}
		FILE *out = mp_outfile_open(output);
		if (!out) {
			rc = MP_EXIT_TRACE;
		} else {
			mp_flamegraph_svg(out, &t, by, reverse, title, sub.len ? mp_buf_str(&sub) : NULL, NULL);
			rc = mp_outfile_close(out, output);
		}
		mp_buf_free(&sub);
	}
	mp_calltree_free(&t);
	mp_processes_free(&ps);
	mp_trace_close(db);
	return rc;
}
