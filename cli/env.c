/* The environment a trace is recorded in: the allocator a program runs
 * on, its version, and comparing two traces' environments. */
#include "env.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"
#include "util.h"

extern char **environ;

static const struct mp_env_allocator allocators[] = {
        {"glibc", NULL, NULL},
        {"jemalloc", "libjemalloc.so.2", "libjemalloc2"},
};

const struct mp_env_allocator *mp_env_allocator(const char *name)
{
	for (size_t i = 0; i < sizeof(allocators) / sizeof(allocators[0]); i++)
		if (!strcmp(name, allocators[i].name))
			return &allocators[i];
	return NULL;
}

const char *mp_env_allocator_names(void)
{
	return "glibc|jemalloc";
}

/* The path of soname in the loader's listing ("\tSONAME => PATH (0x...)"),
   into buf. */
static int listed_path(const char *listing, const char *soname, char *buf, size_t size)
{
	size_t n = strlen(soname);
	for (const char *line = listing; *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		const char *p = line + strspn(line, " \t");
		if (!strncmp(p, soname, n) && !strncmp(p + n, " => /", 5)) {
			p += n + 4;
			const char *q = p;
			while (q < end && strncmp(q, " (0x", 4))
				q++;
			if ((size_t)(q - p) < size) {
				memcpy(buf, p, (size_t)(q - p));
				buf[q - p] = 0;
				return 0;
			}
		}
		line = *end ? end + 1 : end;
	}
	return -1;
}

int mp_env_find_library(const char *soname, char *buf, size_t size)
{
	/* dlopen would tell too, but jemalloc's initial-exec TLS cannot be
	   loaded after start-up ("cannot allocate memory in static TLS
	   block"), and its constructor would run here: the loader lists what
	   it would preload instead, and exits without running us. */
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof(char *));
	char *preload = NULL;
	if (!env || asprintf(&preload, "LD_PRELOAD=%s", soname) < 0) {
		free(env);
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "LD_TRACE_", 9))
			env[k++] = environ[i];
	env[k++] = "LD_TRACE_LOADED_OBJECTS=1";
	env[k++] = preload;
	env[k] = NULL;
	int fd[2];
	if (pipe2(fd, O_CLOEXEC)) {
		free(preload);
		free(env);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2); /* the loader's "cannot be preloaded" */
		char *argv[] = {"memprof", NULL};
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	close(fd[1]);
	free(preload);
	free(env);
	if (pid < 0) {
		close(fd[0]);
		return -1;
	}
	struct mp_buf out = {0};
	char chunk[4096];
	for (;;) {
		ssize_t r = read(fd[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out.len < (1 << 20))
			mp_buf_add(&out, chunk, (size_t)r);
	}
	close(fd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int rc = listed_path(mp_buf_str(&out), soname, buf, size);
	mp_buf_free(&out);
	return rc;
}

/* Whether p (n bytes left) starts a jemalloc version string,
   "X.Y.Z-N-gHASH" (git describe --long), NUL-terminated; the version
   part goes into buf. */
static int version_at(const char *p, size_t n, char *buf, size_t size)
{
	size_t i = 0;
	for (int dots = 0; dots < 3; dots++) {
		size_t d = i;
		while (i < n && isdigit((unsigned char)p[i]))
			i++;
		if (i == d || i >= n || p[i] != (dots < 2 ? '.' : '-'))
			return 0;
		i++;
	}
	size_t count = i;
	while (i < n && isdigit((unsigned char)p[i]))
		i++;
	if (i == count || i + 2 >= n || p[i] != '-' || p[i + 1] != 'g')
		return 0;
	size_t hash = i + 2, h = hash;
	while (h < n && isxdigit((unsigned char)p[h]))
		h++;
	if (h - hash < 7 || h >= n || p[h] != 0)
		return 0;
	/* "5.3.0" for a release (0 commits past it), else "5.3.0-12". */
	int zero = i - count == 1 && p[count] == '0';
	size_t len = zero ? count - 1 : i;
	if (len >= size)
		return 0;
	memcpy(buf, p, len);
	buf[len] = 0;
	return 1;
}

int mp_env_jemalloc_version(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (256 << 20)) {
		close(fd);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	const char *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	int rc = -1;
	/* The string follows a NUL (it is a string of its own in .rodata). */
	for (const char *p = m; p < m + n && rc; p++) {
		p = memchr(p, 0, (size_t)(m + n - p));
		if (!p)
			break;
		if (p + 1 < m + n && isdigit((unsigned char)p[1]) &&
		    version_at(p + 1, (size_t)(m + n - p - 1), buf, size))
			rc = 0;
	}
	munmap((void *)m, n);
	return rc;
}

/* The environment keys compared, with their names in the warning. */
static const struct {
	const char *key, *label;
} env_keys[] = {
        {"env_host", "host"},
        {"env_kernel", "kernel"},
        {"env_cpu", "cpu"},
        {"env_cpus", "cpus"},
        {"env_libc", "libc"},
        {"env_allocator", "allocator"},
        {"env_allocator_settings", "allocator settings"},
};

int mp_env_warn(sqlite3 *a, const char *apath, sqlite3 *b, const char *bpath)
{
	struct mp_buf w = {0};
	int differ = 0;
	for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
		char *va = mp_meta_get(a, env_keys[i].key), *vb = mp_meta_get(b, env_keys[i].key);
		if (va && vb && strcmp(va, vb)) {
			mp_buf_printf(&w, "%s%s (%s vs %s)", differ ? ", " : "", env_keys[i].label, *va ? va : "none",
			              *vb ? vb : "none");
			differ++;
		}
		free(va);
		free(vb);
	}
	if (differ) {
		struct mp_buf line = {0};
		mp_buf_printf(&line, "memprof: warning: '%s' and '%s' were recorded in different environments: %s",
		              apath, bpath, mp_buf_str(&w));
		fflush(stdout);
		mp_text_puts(stderr, mp_buf_str(&line));
		fputc('\n', stderr);
		mp_buf_free(&line);
	}
	mp_buf_free(&w);
	return differ;
}
