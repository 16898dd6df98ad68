/* Writing self-contained SVG documents (no script, no external resource):
 * XML escaping, text and shapes with optional hover tooltips (<title>),
 * and plot areas with labelled axes. Shared by the charts of the query
 * commands. Coordinates are in pixels, y growing downwards. */
#ifndef MP_SVG_H
#define MP_SVG_H

#include <stddef.h>
#include <stdio.h>

/* Writes s (n bytes) as XML text or attribute content: & < > " ' escaped,
   control characters XML cannot hold dropped, invalid UTF-8 replaced by
   U+FFFD. */
void mp_svg_escape_n(FILE *out, const char *s, size_t n);
void mp_svg_escape(FILE *out, const char *s);

/* Begins a document of width x height pixels with a <title> (escaped;
   NULL: none) and a <style> block (css, written as given; NULL: none). */
void mp_svg_begin(FILE *out, double width, double height, const char *title, const char *css);
/* Begins an <svg id="id"> inside an HTML page: no XML declaration, and
   the rules of css (one a line, "selector, selector { ... }") apply
   to this element only (each selector prefixed with "#id "). id is a
   constant of the caller, written as given. */
void mp_svg_begin_inline(FILE *out, double width, double height, const char *id, const char *css);
/* Writes css with every rule's selectors scoped to #id, as above. */
void mp_svg_css_scoped(FILE *out, const char *css, const char *id);
void mp_svg_end(FILE *out);

/* In the shape functions, attrs is written into the element as given
   (constant attributes of the caller such as `class="x"`, never data;
   NULL: none) and tip, when not NULL, becomes the element's hover
   tooltip (escaped). */

/* <text> at (x, y); anchor is "start", "middle" or "end". */
void mp_svg_text(FILE *out, double x, double y, const char *anchor, const char *attrs, const char *text);
void mp_svg_rect(FILE *out, double x, double y, double w, double h, const char *attrs, const char *tip);
void mp_svg_line(FILE *out, double x1, double y1, double x2, double y2, const char *attrs);
void mp_svg_circle(FILE *out, double cx, double cy, double r, const char *attrs, const char *tip);
/* A <polyline> through the n points (x[i], y[i]); nothing when n is 0. */
void mp_svg_polyline(FILE *out, const double *x, const double *y, size_t n, const char *attrs);
/* <g> with an optional translation (dx, dy), attributes and tooltip. */
void mp_svg_group_begin(FILE *out, double dx, double dy, const char *attrs, const char *tip);
void mp_svg_group_end(FILE *out);

/* --- plots ---------------------------------------------------------------- */

/* A plot area: the pixel rectangle (x, y, w, h) shows data x in [x0, x1]
   and data y in [y0, y1] (y1 at the top). */
struct mp_svg_plot {
	double x, y, w, h;
	double x0, x1, y0, y1;
};

/* The pixel position of a data value (clamped to the area). */
double mp_svg_px(const struct mp_svg_plot *p, double v);
double mp_svg_py(const struct mp_svg_plot *p, double v);

/* Up to max tick values in [lo, hi] into ticks, evenly spaced by 1, 2 or
   5 times a power of ten times unit (unit 1 for plain numbers, 1024^k for
   byte sizes), starting at a multiple of the step. Returns how many, and
   the step in *step. */
size_t mp_svg_ticks(double lo, double hi, double unit, size_t max, double *ticks, double *step);

/* Formats an axis value into buf; arg is the axis's. */
typedef void mp_svg_label_fn(double v, char *buf, size_t size, const void *arg);

/* One axis: its tick values and how to label them. */
struct mp_svg_axis {
	const double *ticks;
	size_t n;
	mp_svg_label_fn *label;
	const void *arg;
	const char *title; /* NULL: none */
};

/* Draws the plot's frame, a grid line and a label at each tick of x
   (below the area) and y (left of it), and the axis titles. Elements get
   the classes "frame", "grid", "tick" and "axis-title". */
void mp_svg_axes(FILE *out, const struct mp_svg_plot *p, const struct mp_svg_axis *x, const struct mp_svg_axis *y);

#endif
