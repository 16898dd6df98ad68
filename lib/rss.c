/* Resident-set samples: the process's RSS every MEMPROF_RSS_MS (10 ms by
 * default; 0: none), taken by the flusher thread (lib/thread.c), and once
 * more at the image's end with the kernel's high-water mark.
 *
 * Each process samples itself: a process that lives less than a period
 * still sends its final sample (with its true peak, VmHWM), a fork child
 * samples its own memory from its own flusher, and an exec'd image starts
 * afresh (the kernel resets VmHWM with the new address space). Reading
 * /proc/self/statm costs a few microseconds per period on a thread of our
 * own; nothing here allocates, so it is safe in a signal handler.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

long mp_rss_period_ns = 10 * 1000000L;
static long page_size = 4096;

void mp_rss_init(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		page_size = ps;
	const char *ms = getenv("MEMPROF_RSS_MS");
	if (ms && *ms) {
		long v = atol(ms);
		mp_rss_period_ns = v <= 0 ? 0 : (v > 10000 ? 10000 : v) * 1000000L;
	}
}

/* Reads a small /proc file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n, len = 0;
	while ((size_t)len < size - 1 && (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return len;
}

/* The decimal number at *p, skipping blanks first; advances *p. */
static uint64_t next_number(const char **p)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	*p = s;
	return v;
}

/* VmHWM of /proc/self/status in bytes, or 0. */
static uint64_t high_water_mark(void)
{
	char buf[4096];
	if (read_proc("/proc/self/status", buf, sizeof(buf)) <= 0)
		return 0;
	const char *p = strstr(buf, "\nVmHWM:");
	if (!p)
		return 0;
	p += 7;
	return next_number(&p) * 1024; /* in kB */
}

void mp_rss_send(int final)
{
	if (!mp_rss_period_ns)
		return;
	struct mp_rss s = {.stamp = mp_stamp(), .time_ns = mp_now_ns()};
	char buf[256];
	if (read_proc("/proc/self/statm", buf, sizeof(buf)) <= 0)
		return;
	const char *p = buf;
	next_number(&p); /* size */
	uint64_t resident = next_number(&p), shared = next_number(&p);
	s.rss_bytes = resident * (uint64_t)page_size;
	s.anon_bytes = (resident > shared ? resident - shared : 0) * (uint64_t)page_size;
	if (final)
		s.peak_rss_bytes = high_water_mark();
	mp_send(MP_MSG_RSS, 0, &s, sizeof(s));
}
