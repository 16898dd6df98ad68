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
#include <stdio.h>

struct mp_buf;
struct mp_json;

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
/* Text output: "window: allocations made in phase 'run'" and a newline. */
void mp_window_note(FILE *out, const struct mp_window *w);
/* Writes the key "window" with {"phase", "from_ns", "to_ns"} (null when
   unset) into the open JSON object. */
void mp_window_json(const struct mp_window *w, struct mp_json *j);
/* Checks that w's phase is in the trace (of pid's processes when pid >=
   0). Returns 0, or MP_EXIT_USAGE after "no phase 'x' in 'path'". */
int mp_window_check(const struct mp_window *w, sqlite3 *db, const char *path, int64_t pid);

/* --- a window's sites ---------------------------------------------------- */

/* The per-site figures of a window, the figures of the allocations made in
   it, computed once from the `allocations` table (one scan) into the TEMP
   table window_sites of db's connection (the trace stays read-only), with
   the columns of `sites`: process_id, stack_id, allocations, frees (of
   those blocks, whenever freed), bytes, leaked_bytes and leaked_blocks
   (never freed, and not in an image that exec'd); peak_bytes, peak_blocks
   and temporary are NULL: not defined for a window (the commands refuse
   the orders that need them). The heap's blocks, or those of the pool(s)
   named pool when not NULL, of the processes with pid (every one when pid
   < 0) of run (every run when run <= 0). Returns 0, or an exit code after
   the message (no such phase or pool). */
int mp_window_sites(const struct mp_window *w, const char *pool, sqlite3 *db, const char *path, int64_t pid,
                    int64_t run);
/* The run a window covers: q->run when given (an error when the trace
   has no such run), else 0: every run. *run is 0 too on a trace of one
   run. Returns 0, or an exit code after the message. */
struct mp_query;
int mp_window_run(sqlite3 *db, const struct mp_query *q, int64_t *run);
/* The table a site query reads: "main.sites" without a window,
   "temp.window_sites" (after mp_window_sites) with one. */
const char *mp_window_table(const struct mp_window *w);
/* The totals of window_sites: allocations, frees, bytes, leaked bytes and
   blocks. Returns an SQLite result code. */
struct mp_window_totals {
	int64_t allocations, frees, bytes, leaked_bytes, leaked_blocks;
};
int mp_window_totals(sqlite3 *db, struct mp_window_totals *t);
/* The usage error of something a window does not define: "memprof CMD:
   WHAT cannot be used with --phase, --from or --to (REASON)". Returns
   MP_EXIT_USAGE. */
int mp_window_refuse(const char *cmd, const char *what, const char *reason);

/* The time span [*t0, *t1] of w in processes row process_id: its phase's
   (from the first one's start to the last one's end, when the phase
   recurs), cut by --from and --to. Returns 1 with the span, 0 when the
   process has no such phase or the span is empty, -1 on an SQLite error. */
int mp_window_span(const struct mp_window *w, sqlite3 *db, int64_t process_id, int64_t start_ns, int64_t end_ns,
                   int64_t *t0, int64_t *t1);

#endif
