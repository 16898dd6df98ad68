/* Unit tests of cli/env.c: jemalloc's version read from a library file,
 * and asking the dynamic loader where it finds a library. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "unit.h"

/* Writes n bytes of data into a temporary file; returns its path (static). */
static const char *temp_file(const char *data, size_t n)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/memprof-env-test.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	CU_ASSERT(write(fd, data, n) == (ssize_t)n);
	close(fd);
	return path;
}

static void check_version(const char *data, size_t n, int rc, const char *want)
{
	char buf[64] = "";
	const char *path = temp_file(data, n);
	CU_ASSERT_FATAL(path != NULL);
	CU_ASSERT_EQUAL(mp_env_jemalloc_version(path, buf, sizeof(buf)), rc);
	if (want)
		CU_ASSERT_STRING_EQUAL(buf, want);
	unlink(path);
}

#define DATA(s) s, sizeof(s) /* with the final NUL */

static void test_jemalloc_version(void)
{
	/* Debian's libjemalloc2: a release, "git describe --long" form. */
	check_version(DATA("\x7f"
	                   "ELF\0junk 1.2\0"
	                   "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"),
	              0, "5.3.0");
	/* A build past the release keeps its count. */
	check_version(DATA("\0"
	                   "5.2.1-12-gabcdef1"),
	              0, "5.2.1-12");
	/* Not version strings: no hash, a short hash, no NUL after it,
	   something before the digits. */
	check_version(DATA("\0"
	                   "5.3.0-0\0"
	                   "5.3.0-0-gabc\0"
	                   "x5.3.0-0-gabcdef12\0"
	                   "5.3-0-gabcdef12"),
	              -1, NULL);
	check_version("\0"
	              "5.3.0-0-gabcdef12",
	              17, -1, NULL);
	char buf[16];
	CU_ASSERT_EQUAL(mp_env_jemalloc_version("/nonexistent/libjemalloc.so.2", buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(mp_env_jemalloc_version("/tmp", buf, sizeof(buf)), -1);
}

static void test_find_library(void)
{
	char path[4096];
	/* libc is always there, by the loader's own search. */
	CU_ASSERT_EQUAL_FATAL(mp_env_find_library("libc.so.6", path, sizeof(path)), 0);
	CU_ASSERT(path[0] == '/');
	CU_ASSERT(strlen(path) > 10 && !strcmp(path + strlen(path) - 10, "/libc.so.6"));
	CU_ASSERT(access(path, R_OK) == 0);
	CU_ASSERT_EQUAL(mp_env_find_library("libmemprof-no-such-library.so.9", path, sizeof(path)), -1);
	/* Too small a buffer is not found rather than cut. */
	CU_ASSERT_EQUAL(mp_env_find_library("libc.so.6", path, 8), -1);
}

static void test_allocators(void)
{
	CU_ASSERT_PTR_NULL(mp_env_allocator("tcmalloc"));
	CU_ASSERT_PTR_NULL(mp_env_allocator("glibc")->soname);
	CU_ASSERT_STRING_EQUAL(mp_env_allocator("jemalloc")->soname, "libjemalloc.so.2");
	CU_ASSERT_STRING_EQUAL(mp_env_allocator("jemalloc")->package, "libjemalloc2");
}

int mp_suite_env(void)
{
	CU_pSuite s = CU_add_suite("env", NULL, NULL);
	if (!s || !CU_add_test(s, "jemalloc version", test_jemalloc_version) ||
	    !CU_add_test(s, "loader's library path", test_find_library) ||
	    !CU_add_test(s, "allocators", test_allocators))
		return -1;
	return 0;
}
