/* The part of a trace a query looks at, and what a program told memprof
 * (memprof.h): the allocations of a phase (--phase NAME), of a span of
 * time (--from T, --to T), of a pool (--pool NAME), as a condition on the
 * rows of the `allocations` table; and whether a trace has the tables of
 * memprof.h (pools, pool_sites, phases, pauses: traces written before
 * them have none, and read as if they were empty).
 */
#ifndef MP_WINDOW_H
#define MP_WINDOW_H

#include <sqlite3.h>
#include <stdint.h>

struct mp_buf;

/* getopt_long values of the window options (between the shared options
   and MP_OPT_FIRST_PRIVATE). */
enum { MP_OPT_PHASE = 0x170, MP_OPT_FROM, MP_OPT_TO };

#define MP_WINDOW_LONG_OPTIONS \
	{"phase", required_argument, NULL, MP_OPT_PHASE}, {"from", required_argument, NULL, MP_OPT_FROM}, \
	{ \
		"to", required_argument, NULL, MP_OPT_TO \
	}

/* The help lines of the window options. */
extern const char mp_window_options_help[];

struct mp_window {
	const char *phase; /* --phase, or NULL */
	int64_t from, to;  /* --from, --to in ns since the trace started; -1: unset */
};

void mp_window_init(struct mp_window *w);
/* Whether a window option was given. */
int mp_window_set(const struct mp_window *w);
/* Handles opt when it is a window option. Returns 0 when handled, -1
   when opt is not one, or MP_EXIT_USAGE after the message. */
int mp_window_option(struct mp_window *w, const char *cmd, int opt, const char *arg);
/* Parses a time: a decimal number with an optional unit s (default), ms,
   us or ns. Returns 0 with *ns set, or -1. */
int mp_window_parse_time(const char *arg, int64_t *ns);

/* Appends to sql a condition on `allocations` rows (columns unqualified):
   the blocks of the pools named pool when pool is not NULL, else the
   heap's; of w's window; of the processes with pid when pid >= 0.
   Returns 0, or an exit code after the message (no such phase or pool). */
int mp_window_where(const struct mp_window *w, const char *pool, sqlite3 *db, const char *path, int64_t pid,
                    struct mp_buf *sql);
/* Appends "phase 'run'", "from 1.000 s to 2.000 s", or both. */
void mp_window_describe(const struct mp_window *w, struct mp_buf *b);

#endif
