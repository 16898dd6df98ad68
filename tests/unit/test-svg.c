/* Unit tests of the chart helpers: SVG escaping, elements and axis ticks
 * (cli/svg.c), terminal bars and the UTF-8 locale test (cli/term.c). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"
#include "term.h"
#include "unit.h"

/* What f wrote, in a malloc'ed string the caller frees. */
static char *written(void (*f)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	f(out, arg);
	fclose(out);
	return buf;
}

static void escape(FILE *out, const void *s)
{
	mp_svg_escape(out, s);
}

static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"plain text", "plain text"},
	        {"a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&#39;"},
	        {"operator<<(std::ostream&)", "operator&lt;&lt;(std::ostream&amp;)"},
	        {"tab\there\nnl", "tab\there\nnl"},
	        {"bell\a esc\x1b", "bell esc"},                           /* XML cannot hold them */
	        {"caf\xc3\xa9 \xe2\x96\x88", "caf\xc3\xa9 \xe2\x96\x88"}, /* valid UTF-8 kept */
	        {"bad \xff\xc3 end", "bad \xef\xbf\xbd\xef\xbf\xbd end"},
	        {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
	        {"nonchar \xef\xbf\xbe", "nonchar \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = written(escape, cases[i].in);
		CU_ASSERT_STRING_EQUAL(s, cases[i].out);
		free(s);
	}
}

static void elements(FILE *out, const void *arg)
{
	(void)arg;
	mp_svg_begin(out, 200, 100, "a & b", ".x { fill: red; }\n");
	mp_svg_rect(out, 1, 2, 3, -4, "class=\"x\"", "tip <1>");
	mp_svg_text(out, 5, 6, "middle", NULL, "t<");
	const double x[] = {0, 10.25}, y[] = {1, 2};
	mp_svg_polyline(out, x, y, 2, "class=\"l\"");
	mp_svg_polyline(out, x, y, 0, "class=\"none\"");
	mp_svg_group_begin(out, 0, 300, NULL, NULL);
	mp_svg_circle(out, 1, 1, 2, NULL, NULL);
	mp_svg_group_end(out);
	mp_svg_end(out);
}

static void test_elements(void)
{
	char *s = written(elements, NULL);
	CU_ASSERT_STRING_EQUAL(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"100\""
	                          " viewBox=\"0 0 200 100\">\n"
	                          "<title>a &amp; b</title>\n"
	                          "<style>\n.x { fill: red; }\n</style>\n"
	                          "<rect x=\"1.0\" y=\"2.0\" width=\"3.0\" height=\"0.0\" class=\"x\">"
	                          "<title>tip &lt;1&gt;</title></rect>\n"
	                          "<text x=\"5.0\" y=\"6.0\" text-anchor=\"middle\">t&lt;</text>\n"
	                          "<polyline points=\"0.0,1.0 10.2,2.0\" class=\"l\"/>\n"
	                          "<g transform=\"translate(0.0,300.0)\">\n"
	                          "<circle cx=\"1.0\" cy=\"1.0\" r=\"2.0\"/>\n"
	                          "</g>\n"
	                          "</svg>\n");
	free(s);
}

static void test_ticks(void)
{
	double t[16], step;
	/* 0 to 1007 KiB in KiB: steps of 200 KiB */
	size_t n = mp_svg_ticks(0, 1031352, 1024, 8, t, &step);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_DOUBLE_EQUAL(step, 200 * 1024, 1e-6);
	CU_ASSERT_DOUBLE_EQUAL(t[5], 1000 * 1024, 1e-6);
	/* seconds: 0 to 0.913 ms, steps of 0.2 ms starting at 0 (never -0) */
	n = mp_svg_ticks(0, 0.000913, 1, 8, t, &step);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_DOUBLE_EQUAL(step, 0.0002, 1e-12);
	CU_ASSERT(t[0] == 0 && !signbit(t[0]));
	/* a range not starting at a multiple: the first multiple in it */
	n = mp_svg_ticks(1.23, 4.56, 1, 5, t, &step);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_DOUBLE_EQUAL(step, 1, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(t[0], 2, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(t[2], 4, 1e-12);
	/* degenerate ranges */
	CU_ASSERT_EQUAL(mp_svg_ticks(3, 3, 1, 5, t, &step), 1);
	CU_ASSERT_EQUAL(mp_svg_ticks(3, 2, 1, 5, t, &step), 0);
	CU_ASSERT_EQUAL(mp_svg_ticks(0, 1, 1, 0, t, &step), 0);
	CU_ASSERT_EQUAL(mp_svg_ticks(0, 1.0 / 0.0, 1, 5, t, &step), 0);
}

static void inline_begin(FILE *out, const void *arg)
{
	(void)arg;
	mp_svg_begin_inline(out, 200, 100, "tl",
	                    "text { fill: red; }\n.a, g.b:hover ,.c { stroke: none; }\n/* note */\n");
	mp_svg_end(out);
}

static void test_inline(void)
{
	char *s = written(inline_begin, NULL);
	CU_ASSERT_STRING_EQUAL(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"tl\" width=\"200\" height=\"100\""
	                          " viewBox=\"0 0 200 100\">\n"
	                          "<style>\n#tl text { fill: red; }\n#tl .a, #tl g.b:hover, #tl .c { stroke: none; }\n"
	                          "/* note */\n</style>\n"
	                          "</svg>\n");
	free(s);
}

static void test_plot(void)
{
	struct mp_svg_plot p = {.x = 10, .y = 20, .w = 100, .h = 50, .x0 = 1, .x1 = 3, .y0 = 0, .y1 = 1000};
	CU_ASSERT_DOUBLE_EQUAL(mp_svg_px(&p, 2), 60, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(mp_svg_px(&p, 9), 110, 1e-9); /* clamped */
	CU_ASSERT_DOUBLE_EQUAL(mp_svg_py(&p, 0), 70, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(mp_svg_py(&p, 1000), 20, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(mp_svg_py(&p, 250), 57.5, 1e-9);
}

struct bar {
	double frac;
	int width, utf8;
};

static void bar(FILE *out, const void *arg)
{
	const struct bar *b = arg;
	mp_term_bar(out, b->frac, b->width, b->utf8);
}

static void test_bar(void)
{
	static const struct {
		struct bar b;
		const char *out;
	} cases[] = {
	        {{1, 4, 0}, "####"},       {{0.5, 4, 0}, "##"}, {{0.001, 4, 0}, "#"}, /* above 0 always shows */
	        {{0, 4, 0}, ""},           {{2, 3, 0}, "###"},  {{0.5, 3, 1}, "\u2588\u258c"}, /* 1.5 cells */
	        {{0.001, 3, 1}, "\u258f"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = written(bar, &cases[i].b);
		CU_ASSERT_STRING_EQUAL(s, cases[i].out);
		free(s);
	}
}

static void test_utf8(void)
{
	char *saved[3];
	const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	for (int i = 0; i < 3; i++) {
		const char *v = getenv(vars[i]);
		saved[i] = v ? strdup(v) : NULL;
		unsetenv(vars[i]);
	}
	CU_ASSERT_EQUAL(mp_term_utf8(0), 0);
	setenv("LANG", "en_US.UTF-8", 1);
	CU_ASSERT_EQUAL(mp_term_utf8(0), 1);
	CU_ASSERT_EQUAL(mp_term_utf8(1), 0); /* --ascii */
	setenv("LC_CTYPE", "C", 1);
	CU_ASSERT_EQUAL(mp_term_utf8(0), 0);
	setenv("LC_ALL", "C.utf8", 1);
	CU_ASSERT_EQUAL(mp_term_utf8(0), 1);
	for (int i = 0; i < 3; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
	}
}

int mp_suite_svg(void)
{
	CU_pSuite s = CU_add_suite("charts", NULL, NULL);
	if (!s || !CU_add_test(s, "SVG escaping", test_escape) || !CU_add_test(s, "SVG elements", test_elements) ||
	    !CU_add_test(s, "SVG inside HTML", test_inline) || !CU_add_test(s, "axis ticks", test_ticks) ||
	    !CU_add_test(s, "plot coordinates", test_plot) || !CU_add_test(s, "terminal bars", test_bar) ||
	    !CU_add_test(s, "UTF-8 locale", test_utf8))
		return -1;
	return 0;
}
