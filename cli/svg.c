/* Writing SVG documents; see cli/svg.h. */
#include <math.h>
#include <string.h>

#include "output.h"
#include "svg.h"

void mp_svg_escape_n(FILE *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = 0; /* bytes from here on are written as they are, in one go */
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		const char *rep = NULL;
		size_t len = 1;
		if (c >= 0x80) {
			len = mp_utf8_len(p + i, n - i);
			/* U+FFFE and U+FFFF are not XML characters either */
			if (len == 3 && c == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe)
				len = 0;
			if (len == 0) {
				rep = "\xef\xbf\xbd";
				len = 1;
			}
		} else if (c == '&')
			rep = "&amp;";
		else if (c == '<')
			rep = "&lt;";
		else if (c == '>')
			rep = "&gt;";
		else if (c == '"')
			rep = "&quot;";
		else if (c == '\'')
			rep = "&#39;";
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			rep = "";
		if (rep) {
			fwrite(p + start, 1, i - start, out);
			fputs(rep, out);
			start = i + len;
		}
		i += len;
	}
	fwrite(p + start, 1, n - start, out);
}

void mp_svg_escape(FILE *out, const char *s)
{
	if (s)
		mp_svg_escape_n(out, s, strlen(s));
}

void mp_svg_begin(FILE *out, double width, double height, const char *title, const char *css)
{
	fprintf(out,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
	        width, height, width, height);
	if (title) {
		fputs("<title>", out);
		mp_svg_escape(out, title);
		fputs("</title>\n", out);
	}
	if (css)
		fprintf(out, "<style>\n%s</style>\n", css);
}

/* Writes n bytes at s without the spaces at either end. */
static void write_trimmed(FILE *out, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	fwrite(s, 1, n, out);
}

void mp_svg_css_scoped(FILE *out, const char *css, const char *id)
{
	while (*css) {
		const char *eol = strchr(css, '\n'), *end = eol ? eol : css + strlen(css);
		const char *brace = memchr(css, '{', (size_t)(end - css));
		if (!brace) { /* not a rule: as it is */
			fwrite(css, 1, (size_t)(end - css), out);
		} else {
			for (const char *sel = css; sel < brace;) {
				const char *comma = memchr(sel, ',', (size_t)(brace - sel)),
				           *sel_end = comma ? comma : brace;
				fprintf(out, "%s#%s ", sel == css ? "" : ", ", id);
				write_trimmed(out, sel, (size_t)(sel_end - sel));
				sel = comma ? comma + 1 : brace;
			}
			fputc(' ', out);
			fwrite(brace, 1, (size_t)(end - brace), out);
		}
		if (!eol)
			break;
		fputc('\n', out);
		css = eol + 1;
	}
}

void mp_svg_begin_inline(FILE *out, double width, double height, const char *id, const char *css)
{
	fprintf(out,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" width=\"%.0f\" height=\"%.0f\""
	        " viewBox=\"0 0 %.0f %.0f\">\n",
	        id, width, height, width, height);
	if (css) {
		fputs("<style>\n", out);
		mp_svg_css_scoped(out, css, id);
		fputs("</style>\n", out);
	}
}

void mp_svg_end(FILE *out)
{
	fputs("</svg>\n", out);
}

static void attrs_out(FILE *out, const char *attrs)
{
	if (attrs && *attrs) {
		fputc(' ', out);
		fputs(attrs, out);
	}
}

/* Closes an element begun with "<name ...": "/>", or the tooltip and its end tag. */
static void element_end(FILE *out, const char *name, const char *tip)
{
	if (!tip) {
		fputs("/>\n", out);
		return;
	}
	fputs("><title>", out);
	mp_svg_escape(out, tip);
	fprintf(out, "</title></%s>\n", name);
}

void mp_svg_text(FILE *out, double x, double y, const char *anchor, const char *attrs, const char *text)
{
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\"", x, y);
	if (anchor && strcmp(anchor, "start") != 0)
		fprintf(out, " text-anchor=\"%s\"", anchor);
	attrs_out(out, attrs);
	fputc('>', out);
	mp_svg_escape(out, text);
	fputs("</text>\n", out);
}

void mp_svg_rect(FILE *out, double x, double y, double w, double h, const char *attrs, const char *tip)
{
	fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", x, y, w > 0 ? w : 0, h > 0 ? h : 0);
	attrs_out(out, attrs);
	element_end(out, "rect", tip);
}

void mp_svg_line(FILE *out, double x1, double y1, double x2, double y2, const char *attrs)
{
	fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", x1, y1, x2, y2);
	attrs_out(out, attrs);
	fputs("/>\n", out);
}

void mp_svg_circle(FILE *out, double cx, double cy, double r, const char *attrs, const char *tip)
{
	fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", cx, cy, r);
	attrs_out(out, attrs);
	element_end(out, "circle", tip);
}

void mp_svg_polyline(FILE *out, const double *x, const double *y, size_t n, const char *attrs)
{
	if (n == 0)
		return;
	fputs("<polyline points=\"", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%.1f,%.1f", i ? " " : "", x[i], y[i]);
	fputc('"', out);
	attrs_out(out, attrs);
	fputs("/>\n", out);
}

void mp_svg_group_begin(FILE *out, double dx, double dy, const char *attrs, const char *tip)
{
	fputs("<g", out);
	if (dx != 0 || dy != 0)
		fprintf(out, " transform=\"translate(%.1f,%.1f)\"", dx, dy);
	attrs_out(out, attrs);
	fputc('>', out);
	if (tip) {
		fputs("<title>", out);
		mp_svg_escape(out, tip);
		fputs("</title>", out);
	}
	fputc('\n', out);
}

void mp_svg_group_end(FILE *out)
{
	fputs("</g>\n", out);
}

/* --- plots ---------------------------------------------------------------- */

double mp_svg_px(const struct mp_svg_plot *p, double v)
{
	double f = p->x1 > p->x0 ? (v - p->x0) / (p->x1 - p->x0) : 0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	return p->x + f * p->w;
}

double mp_svg_py(const struct mp_svg_plot *p, double v)
{
	double f = p->y1 > p->y0 ? (v - p->y0) / (p->y1 - p->y0) : 0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	return p->y + p->h - f * p->h;
}

size_t mp_svg_ticks(double lo, double hi, double unit, size_t max, double *ticks, double *step)
{
	*step = 0;
	if (max == 0 || !isfinite(lo) || !isfinite(hi) || hi < lo || !(unit > 0))
		return 0;
	if (hi == lo || max == 1) {
		ticks[0] = lo;
		return 1;
	}
	/* the smallest 1, 2 or 5 x 10^k step (in units) giving at most max ticks */
	double raw = (hi - lo) / unit / (double)(max - 1);
	double p10 = pow(10, floor(log10(raw)));
	double s = p10;
	static const double mult[] = {1, 2, 5, 10};
	for (size_t i = 0; i < sizeof(mult) / sizeof(mult[0]); i++) {
		s = mult[i] * p10;
		if (s >= raw * (1 - 1e-9))
			break;
	}
	s *= unit;
	size_t n = 0;
	for (double k = ceil(lo / s - 1e-9); n < max; k++) {
		double v = k * s;
		if (v > hi + s * 1e-9)
			break;
		ticks[n++] = v == 0 ? 0 : v; /* never -0 */
	}
	*step = s;
	return n;
}

void mp_svg_axes(FILE *out, const struct mp_svg_plot *p, const struct mp_svg_axis *x, const struct mp_svg_axis *y)
{
	char buf[64];
	for (size_t i = 0; y && i < y->n; i++) {
		double py = mp_svg_py(p, y->ticks[i]);
		mp_svg_line(out, p->x, py, p->x + p->w, py, "class=\"grid\"");
		y->label(y->ticks[i], buf, sizeof(buf), y->arg);
		mp_svg_text(out, p->x - 6, py + 4, "end", "class=\"tick\"", buf);
	}
	for (size_t i = 0; x && i < x->n; i++) {
		double px = mp_svg_px(p, x->ticks[i]);
		mp_svg_line(out, px, p->y, px, p->y + p->h, "class=\"grid\"");
		x->label(x->ticks[i], buf, sizeof(buf), x->arg);
		mp_svg_text(out, px, p->y + p->h + 16, "middle", "class=\"tick\"", buf);
	}
	mp_svg_rect(out, p->x, p->y, p->w, p->h, "class=\"frame\"", NULL);
	if (x && x->title)
		mp_svg_text(out, p->x + p->w, p->y + p->h + 32, "end", "class=\"axis-title\"", x->title);
	if (y && y->title)
		mp_svg_text(out, p->x, p->y - 8, "start", "class=\"axis-title\"", y->title);
}
