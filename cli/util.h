/* Shared by the query commands: messages, memory, number and size parsing,
 * a growable string, and the options every query command takes. */
#ifndef MP_UTIL_H
#define MP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "output.h"

#define MP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Prints "memprof: MSG" and a newline to stderr. */
void mp_error(const char *fmt, ...) MP_PRINTF(1, 2);
/* Prints "memprof: MSG; see 'memprof CMD --help'" to stderr; returns MP_EXIT_USAGE. */
int mp_usage_error(const char *cmd, const char *fmt, ...) MP_PRINTF(2, 3);
/* strerror(e) with a lowercase first letter, in a static buffer. */
const char *mp_strerror(int e);

/* Allocation that exits with "memprof: out of memory" on failure. */
void *mp_xmalloc(size_t n);
void *mp_xrealloc(void *p, size_t n);
/* Returns a malloc'ed copy (NULL for NULL); the caller frees it. */
char *mp_xstrdup(const char *s);
/* Grows *v (n elements of size) to hold at least need; *cap updated. */
void mp_grow(void **v, size_t *cap, size_t need, size_t size);

/* Parses a non-negative decimal integer for option opt. Returns 0, or -1
   with a message ("option '-n' needs a number, not 'abc'") in err. */
int mp_parse_uint(const char *opt, const char *arg, int64_t *out, char *err, size_t errlen);
/* Parses a size: a number with an optional unit B, k/KiB, M/MiB, G/GiB,
   T/TiB (powers of 1024; KB, MB... too). Returns 0, or -1 with err set. */
int mp_parse_size(const char *opt, const char *arg, int64_t *out, char *err, size_t errlen);

/* a + b, saturated at the int64 range (figures from a hostile file). */
int64_t mp_add_sat(int64_t a, int64_t b);
/* The last component of path (a pointer into it). */
const char *mp_basename(const char *path);

/* A growable NUL-terminated string; s is owned (free with mp_buf_free). */
struct mp_buf {
	char *s;
	size_t len, cap;
};
void mp_buf_add(struct mp_buf *b, const char *s, size_t n);
void mp_buf_puts(struct mp_buf *b, const char *s);
void mp_buf_printf(struct mp_buf *b, const char *fmt, ...) MP_PRINTF(2, 3);
/* The string so far ("" when empty; never NULL). */
const char *mp_buf_str(struct mp_buf *b);
void mp_buf_reset(struct mp_buf *b);
void mp_buf_free(struct mp_buf *b);

/* --- options of the query commands ------------------------------------ */

/* getopt_long values of the long-only options (short ones use their letter). */
enum {
	MP_OPT_FORMAT = 0x100,
	MP_OPT_PID,
	MP_OPT_FULL_STACKS,
	MP_OPT_RUN,
	MP_OPT_FIRST_PRIVATE = 0x180, /* a command's own options from here */
};

/* The entries every query command puts in its struct option table. */
#define MP_QUERY_LONG_OPTIONS \
	{"format", required_argument, NULL, MP_OPT_FORMAT}, {"pid", required_argument, NULL, MP_OPT_PID}, \
	{ \
		"help", no_argument, NULL, 'h' \
	}
/* --run K, for the commands that show one run of a repeated trace. */
#define MP_QUERY_RUN_OPTION \
	{ \
		"run", required_argument, NULL, MP_OPT_RUN \
	}
/* The short options of every query command, for getopt_long (':' first). */
#define MP_QUERY_SHORT_OPTIONS ":h"

struct mp_query {
	const char *cmd;       /* the command's name, for messages */
	enum mp_format format; /* --format */
	int64_t pid;           /* --pid, or -1: every process */
	int64_t run;           /* --run, or 0: the command's default (cli/runs.h) */
	int64_t limit;         /* -n, 0: all */
	int full_stacks;       /* --full-stacks */
	int help;              /* -h/--help seen */
	const char *path;      /* the trace */
};

/* Sets the defaults (text, every process, limit) and resets getopt. */
void mp_query_init(struct mp_query *q, const char *cmd, int64_t limit);
/* Handles one getopt_long result that every query command shares (format,
   pid, -n, --full-stacks, help, and getopt's errors '?' and ':'). Returns
   0 when handled, -1 when opt is the command's own, or MP_EXIT_USAGE
   after printing the error. */
int mp_query_option(struct mp_query *q, int opt, char **argv);
/* Takes the one trace path left after option parsing (argv[optind..]).
   Returns 0, or MP_EXIT_USAGE after printing the error. */
int mp_query_path(struct mp_query *q, int argc, char **argv);

/* Prints "memprof: no process with pid N in 'TRACE'"; returns MP_EXIT_USAGE. */
int mp_query_no_process(const struct mp_query *q);

/* Flushes stdout; returns MP_EXIT_OK, or 1 after a message when the
   output could not be written (a closed pipe is not an error). */
int mp_finish_output(void);

#endif
