/* Unit tests of cli/check.c: LeakSanitizer's pattern match, percentages,
 * --fail-if thresholds and their boundaries, suppression files. */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "output.h"
#include "unit.h"
#include "util.h"

static void test_template_match(void)
{
	/* A substring, unless anchored. */
	CU_ASSERT(mp_template_match("leak_some", "leak_some"));
	CU_ASSERT(mp_template_match("some", "leak_some"));
	CU_ASSERT(mp_template_match("^leak", "leak_some"));
	CU_ASSERT(!mp_template_match("^some", "leak_some"));
	CU_ASSERT(mp_template_match("some$", "leak_some"));
	CU_ASSERT(!mp_template_match("leak$", "leak_some"));
	CU_ASSERT(mp_template_match("^leak_some$", "leak_some"));
	CU_ASSERT(!mp_template_match("^leak_som$", "leak_some"));
	/* '*' any run, '$' after '*' matches anything left. */
	CU_ASSERT(mp_template_match("lib*.so", "/usr/lib/libfoo.so.6"));
	CU_ASSERT(mp_template_match("^/usr/*foo", "/usr/lib/libfoo.so.6"));
	CU_ASSERT(mp_template_match("foo*$", "/usr/lib/libfoo.so.6"));
	CU_ASSERT(!mp_template_match("^foo*", "/usr/lib/libfoo.so.6"));
	CU_ASSERT(mp_template_match("*", "x"));
	CU_ASSERT(mp_template_match("", "x"));
	/* Never an unknown or empty name. */
	CU_ASSERT(!mp_template_match("*", NULL));
	CU_ASSERT(!mp_template_match("", ""));
}

static void test_percent(void)
{
	int64_t v;
	char err[256];
	CU_ASSERT(mp_percent_parse("x", "10", &v, err, sizeof(err)) == 0 && v == 10000000);
	CU_ASSERT(mp_percent_parse("x", "+2.5%", &v, err, sizeof(err)) == 0 && v == 2500000);
	CU_ASSERT(mp_percent_parse("x", "0.000001", &v, err, sizeof(err)) == 0 && v == 1);
	CU_ASSERT(mp_percent_parse("x", "0", &v, err, sizeof(err)) == 0 && v == 0);
	CU_ASSERT(mp_percent_parse("x", "", &v, err, sizeof(err)) == -1);
	CU_ASSERT(mp_percent_parse("x", "%", &v, err, sizeof(err)) == -1);
	CU_ASSERT(mp_percent_parse("x", "ten", &v, err, sizeof(err)) == -1);
	CU_ASSERT(mp_percent_parse("x", "-5", &v, err, sizeof(err)) == -1);
	CU_ASSERT(mp_percent_parse("x", "99999999999999999999", &v, err, sizeof(err)) == -1);
}

static void test_threshold(void)
{
	struct mp_threshold t;
	char err[256];
	struct mp_buf b = {0};
	CU_ASSERT_FATAL(mp_threshold_parse("peak_bytes>+10%", &t, err, sizeof(err)) == 0);
	CU_ASSERT(t.metric == MP_METRIC_PEAK && t.relative && t.pct_micro == 10000000);
	/* Exactly 10% more holds; one more byte does not. */
	CU_ASSERT(mp_threshold_eval(&t, "peak_bytes", "before", 1000, 1100, &b) == 0);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b), "peak_bytes 1.07 KiB vs before 1000 B: +100 B (+10.00%) <= +10%");
	mp_buf_reset(&b);
	CU_ASSERT(mp_threshold_eval(&t, "peak_bytes", "before", 1000, 1101, &b) == 1);
	mp_buf_reset(&b);
	/* A decrease holds; any growth from 0 fails. */
	CU_ASSERT(mp_threshold_eval(&t, "p", "b", 1000, 10, &b) == 0);
	mp_buf_reset(&b);
	CU_ASSERT(mp_threshold_eval(&t, "p", "b", 0, 0, &b) == 0);
	mp_buf_reset(&b);
	CU_ASSERT(mp_threshold_eval(&t, "p", "b", 0, 1, &b) == 1);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b), "p 1 B vs b 0 B: +1 B (from 0) > +10%");
	mp_buf_reset(&b);

	CU_ASSERT_FATAL(mp_threshold_parse(" bytes > +1MiB ", &t, err, sizeof(err)) == 0);
	CU_ASSERT(t.metric == MP_METRIC_BYTES && !t.relative && t.amount == 1048576);
	CU_ASSERT(mp_threshold_eval(&t, "bytes", "before", 0, 1048576, &b) == 0);
	mp_buf_reset(&b);
	CU_ASSERT(mp_threshold_eval(&t, "bytes", "before", 0, 1048577, &b) == 1);
	mp_buf_reset(&b);
	CU_ASSERT_FATAL(mp_threshold_parse("allocations>1000", &t, err, sizeof(err)) == 0);
	CU_ASSERT(t.metric == MP_METRIC_ALLOCATIONS && !t.relative && t.amount == 1000);
	CU_ASSERT(mp_threshold_eval(&t, "allocations", "before", 5, 1006, &b) == 1);
	CU_ASSERT_STRING_EQUAL(mp_buf_str(&b), "allocations 1006 vs before 5: +1001 (+20020.00%) > +1000");
	mp_buf_free(&b);

	CU_ASSERT(mp_threshold_parse("leaked_blocks>+1k", &t, err, sizeof(err)) == -1); /* a count */
	CU_ASSERT(mp_threshold_parse("peak>+1%", &t, err, sizeof(err)) == -1);
	CU_ASSERT(mp_threshold_parse("peak_bytes<+1%", &t, err, sizeof(err)) == -1);
	CU_ASSERT(mp_threshold_parse("peak_bytes>", &t, err, sizeof(err)) == -1);
	CU_ASSERT(mp_threshold_parse("peak_bytes>+x%", &t, err, sizeof(err)) == -1);
}

static void test_suppressions(void)
{
	char path[] = "/tmp/memprof-supp-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	const char text[] = "# comment\n\n   leak:foo*bar  \n\t# another\nleak:^main$\n";
	CU_ASSERT_FATAL(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	close(fd);
	struct mp_suppressions s;
	char err[512];
	CU_ASSERT_FATAL(mp_suppressions_load(path, &s, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(s.n == 2);
	CU_ASSERT_STRING_EQUAL(s.v[0].pattern, "foo*bar");
	CU_ASSERT(s.v[0].line == 3);
	CU_ASSERT_STRING_EQUAL(s.v[1].pattern, "^main$");
	CU_ASSERT(s.v[1].line == 5);

	/* The first frame matching any suppression, by module, function or file. */
	struct mp_frame f1 = {.function = "helper", .file = "src/x.c", .module = "/usr/lib/libz.so"};
	struct mp_frame f2 = {.function = "main", .file = "src/main.c", .module = "/bin/app"};
	const struct mp_frame *v[] = {&f1, &f2};
	struct mp_stack st = {.v = v, .n = 2, .cap = 2};
	CU_ASSERT(mp_suppressions_match(&s, &st) == &s.v[1]);
	f1.file = "foo/bar.c";
	CU_ASSERT(mp_suppressions_match(&s, &st) == &s.v[0]);
	f2.function = "main2";
	f1.file = NULL;
	CU_ASSERT(mp_suppressions_match(&s, &st) == NULL);
	mp_suppressions_free(&s);

	FILE *f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("leak:x\nrace:y\n", f);
	fclose(f);
	CU_ASSERT(mp_suppressions_load(path, &s, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "line 2") != NULL);
	unlink(path);
	CU_ASSERT(mp_suppressions_load(path, &s, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "no such file") != NULL);
}

int mp_suite_check(void)
{
	CU_pSuite s = CU_add_suite("check", NULL, NULL);
	if (!s || !CU_add_test(s, "LeakSanitizer pattern match", test_template_match) ||
	    !CU_add_test(s, "percentages", test_percent) || !CU_add_test(s, "thresholds", test_threshold) ||
	    !CU_add_test(s, "suppressions", test_suppressions))
		return -1;
	return 0;
}
