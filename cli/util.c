/* Shared helpers of the query commands; see cli/util.h. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "util.h"

/* Messages stay on one line whatever a file name or SQLite says. */
static void one_line(char *msg)
{
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = (*p == '\n' && p[1]) ? ' ' : '?';
}

void mp_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	one_line(msg);
	fprintf(stderr, "memprof: %s\n", msg);
}

int mp_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	one_line(msg);
	fprintf(stderr, "memprof: %s; see 'memprof %s --help'\n", msg, cmd);
	return MP_EXIT_USAGE;
}

const char *mp_strerror(int e)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "%s", strerror(e));
	/* "No such file" but not "ELF..." or "I/O error": only a capital then lowercase */
	if (isupper((unsigned char)buf[0]) && islower((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static void out_of_memory(void)
{
	fputs("memprof: out of memory\n", stderr);
	exit(MP_EXIT_TRACE);
}

void *mp_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *mp_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory();
	return q;
}

char *mp_xstrdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = mp_xmalloc(n);
	memcpy(d, s, n);
	return d;
}

void mp_grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			out_of_memory();
		n *= 2;
	}
	*v = mp_xrealloc(*v, n * size);
	*cap = n;
}

/* Parses the leading digits of s into *v; returns the end, or NULL on overflow. */
static const char *digits(const char *s, uint64_t *v)
{
	*v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*v > (uint64_t)INT64_MAX / 10 || *v * 10 + (uint64_t)(*s - '0') > (uint64_t)INT64_MAX)
			return NULL;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	return s;
}

int mp_parse_uint(const char *opt, const char *arg, int64_t *out, char *err, size_t errlen)
{
	uint64_t v;
	const char *end = arg[0] >= '0' && arg[0] <= '9' ? digits(arg, &v) : arg;
	if (!end) {
		snprintf(err, errlen, "option '%s' needs a number, and '%s' is too large", opt, arg);
		return -1;
	}
	if (end == arg || *end) {
		snprintf(err, errlen, "option '%s' needs a number, not '%s'", opt, arg);
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

int mp_parse_size(const char *opt, const char *arg, int64_t *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int shift;
	} units[] = {
	        {"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
	        {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
	};
	uint64_t v;
	const char *end = arg[0] >= '0' && arg[0] <= '9' ? digits(arg, &v) : arg;
	if (end && end != arg) {
		if (*end == ' ')
			end++;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcasecmp(end, units[i].name))
				continue;
			if (v > ((uint64_t)INT64_MAX >> units[i].shift)) {
				end = NULL;
				break;
			}
			*out = (int64_t)(v << units[i].shift);
			return 0;
		}
	}
	if (!end)
		snprintf(err, errlen, "option '%s' needs a size, and '%s' is too large", opt, arg);
	else
		snprintf(err, errlen, "option '%s' needs a size (like 4096, 64k or 2MiB), not '%s'", opt, arg);
	return -1;
}

int64_t mp_add_sat(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

const char *mp_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* --- strings ------------------------------------------------------------ */

void mp_buf_add(struct mp_buf *b, const char *s, size_t n)
{
	if (n >= SIZE_MAX - b->len - 1)
		out_of_memory();
	void *v = b->s;
	mp_grow(&v, &b->cap, b->len + n + 1, 1);
	b->s = v;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void mp_buf_puts(struct mp_buf *b, const char *s)
{
	mp_buf_add(b, s, strlen(s));
}

void mp_buf_printf(struct mp_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		mp_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = mp_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	mp_buf_add(b, big, (size_t)n);
	free(big);
}

const char *mp_buf_str(struct mp_buf *b)
{
	return b->s ? b->s : "";
}

void mp_buf_reset(struct mp_buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = 0;
}

void mp_buf_free(struct mp_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* --- options of the query commands -------------------------------------- */

void mp_query_init(struct mp_query *q, const char *cmd, int64_t limit)
{
	memset(q, 0, sizeof(*q));
	q->cmd = cmd;
	q->format = MP_FMT_TEXT;
	q->pid = -1;
	q->limit = limit;
	optind = 0; /* a full reset of getopt, as GNU documents */
	opterr = 0;
}

/* The option getopt just rejected, as the user wrote it. */
static void bad_option(char *out, size_t n, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	if (arg && !strncmp(arg, "--", 2))
		snprintf(out, n, "%s", arg);
	else if (optopt > 0 && optopt < 0x100)
		snprintf(out, n, "-%c", optopt);
	else
		snprintf(out, n, "%s", arg ? arg : "?");
}

int mp_query_option(struct mp_query *q, int opt, char **argv)
{
	char err[512], name[256];
	switch (opt) {
	case 'h':
		q->help = 1;
		return 0;
	case MP_OPT_FORMAT:
		if (mp_format_parse(optarg, &q->format))
			return mp_usage_error(q->cmd, "option '--format' needs text, json or csv, not '%s'", optarg);
		return 0;
	case MP_OPT_PID:
		if (mp_parse_uint("--pid", optarg, &q->pid, err, sizeof(err)))
			return mp_usage_error(q->cmd, "%s", err);
		return 0;
	case MP_OPT_RUN:
		if (mp_parse_uint("--run", optarg, &q->run, err, sizeof(err)))
			return mp_usage_error(q->cmd, "%s", err);
		if (q->run < 1)
			return mp_usage_error(q->cmd, "option '--run' needs a run number from 1, not '%s'", optarg);
		return 0;
	case 'n':
		if (mp_parse_uint("-n", optarg, &q->limit, err, sizeof(err)))
			return mp_usage_error(q->cmd, "%s", err);
		return 0;
	case MP_OPT_FULL_STACKS:
		q->full_stacks = 1;
		return 0;
	case ':':
		bad_option(name, sizeof(name), argv);
		return mp_usage_error(q->cmd, "option '%s' needs a value", name);
	case '?':
		bad_option(name, sizeof(name), argv);
		return mp_usage_error(q->cmd, "unknown option '%s'", name);
	default:
		return -1;
	}
}

int mp_query_path(struct mp_query *q, int argc, char **argv)
{
	if (optind >= argc)
		return mp_usage_error(q->cmd, "no trace given");
	if (optind + 1 < argc)
		return mp_usage_error(q->cmd, "one trace only, and '%s' is one too many", argv[optind + 1]);
	q->path = argv[optind];
	return 0;
}

int mp_query_no_process(const struct mp_query *q)
{
	mp_error("no process with pid %lld in '%s'", (long long)q->pid, q->path);
	return MP_EXIT_USAGE;
}

int mp_finish_output(void)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return MP_EXIT_OK;
	if (errno == EPIPE)
		return MP_EXIT_OK;
	mp_error("cannot write the output: %s", mp_strerror(errno ? errno : EIO));
	return MP_EXIT_CHECK;
}
