/* Reading a trace: opening it read-only with every check a hostile or
 * damaged file needs, errors in one line, the meta values and processes. */
#ifndef MP_TRACE_H
#define MP_TRACE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct mp_buf;
struct mp_query;
struct mp_json;
struct mp_stack;
struct mp_stack_loader;

/* Tables whose content a command reads, probed for damage when opening
   (meta is always). Every table of the schema must exist in any case. */
enum {
	MP_NEED_PROCESSES = 1,
	MP_NEED_SITES = 2,
	MP_NEED_STACKS = 4, /* stacks, frames, modules */
	MP_NEED_FIGURES = MP_NEED_PROCESSES | MP_NEED_SITES | MP_NEED_STACKS,
};

/* Opens the trace at path read-only (no file is ever created) with the
   `allocations` table registered, checking it is a complete, readable
   memprof trace this memprof understands. Returns 0 with *db open, or
   MP_EXIT_TRACE after one line on stderr ("memprof: cannot open 'x.db':
   not a memprof trace (no meta table)") with *db NULL. An interrupted trace
   opens with a warning. */
int mp_trace_open(const char *path, sqlite3 **db);
/* The same, probing only the tables in need (MP_NEED_*). */
int mp_trace_open_for(const char *path, unsigned need, sqlite3 **db);
void mp_trace_close(sqlite3 *db);

/* Prints "memprof: cannot read 'path': msg"; returns MP_EXIT_TRACE. */
int mp_trace_fail(const char *path, const char *msg);
/* The same with the message of db's last error ("damaged trace: ..." when
   SQLite found the file corrupt). */
int mp_trace_fail_db(const char *path, sqlite3 *db);
/* Writes db's last error into buf as mp_trace_fail_db words it. */
void mp_trace_errmsg(sqlite3 *db, char *buf, size_t size);

/* The meta value of key as a malloc'ed string (the caller frees it), or
   NULL when missing. */
char *mp_meta_get(sqlite3 *db, const char *key);
/* The meta value of key as an integer, or dflt when missing or not one. */
int64_t mp_meta_int(sqlite3 *db, const char *key, int64_t dflt);

/* Splits a JSON array of strings (processes.argv, meta command) into a
   malloc'ed, NULL-terminated vector (free with mp_argv_free); something
   that is not a JSON array becomes one argument. Sets *argc. */
char **mp_argv_parse(sqlite3 *db, const char *json, size_t *argc);
void mp_argv_free(char **argv);
/* Appends the arguments joined by spaces. */
void mp_argv_join(char *const *argv, struct mp_buf *b);

/* Whether the trace has the mapping and RSS figures (processes columns
   mmap_*, rss_*, tables mapping_sites and rss_samples): 1 or 0. */
int mp_trace_has_mappings(sqlite3 *db);
/* Whether the trace has that (optional) table. */
int mp_trace_has_table(sqlite3 *db, const char *name);

/* One row of the processes table. */
struct mp_process {
	int64_t id, pid, ppid, parent_id; /* ppid -1, parent_id 0: unknown */
	char *origin, *ended_by;          /* owned */
	char **argv;                      /* owned, NULL-terminated */
	size_t argc;
	int64_t start_ns, end_ns; /* end_ns -1: unknown */
	int have_exit_status, have_signal;
	int64_t exit_status, signal;
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns;
	int64_t leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees;
	/* Anonymous mappings and RSS (schema/README.md), when the trace has
	   the columns (have_mappings) and RSS samples (have_rss). */
	int have_mappings, have_rss;
	int64_t mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes, mmap_peak_time_ns;
	int64_t mmap_leaked_bytes, mmap_leaked_blocks, rss_peak_bytes, rss_peak_time_ns;
	int64_t run; /* processes.run: 1 in a trace without runs */
};

struct mp_processes {
	struct mp_process *v;
	size_t n, cap;
};

/* 1 when the trace's processes have a run column (memprof run --repeat
   writes several runs into one trace; older traces hold one run). */
int mp_trace_has_runs(sqlite3 *db);

/* Loads the processes with that pid (every one when pid < 0) in id order.
   Returns 0, or -1 with a message in err. */
int mp_processes_load(sqlite3 *db, int64_t pid, struct mp_processes *out, char *err, size_t errlen);
void mp_processes_free(struct mp_processes *p);

/* --- shared steps of the query commands ---------------------------------- */

/* A new file made from a trace (strip, sql --materialize): a copy (VACUUM
   INTO) under a temporary name beside out, open read-write without a
   journal, renamed onto out when complete. */
struct mp_trace_copy {
	const char *out;
	struct mp_buf *tmp; /* the temporary name */
	sqlite3 *w;
};
/* Makes the copy of the trace at path (open as db). Returns 0 with c->w
   open, or an exit code after the message (nothing left behind). */
int mp_trace_copy_begin(struct mp_trace_copy *c, sqlite3 *db, const char *path, const char *out);
/* Closes the copy and renames it onto out (failed: removes it; when
   failed > 0 the message is the caller's). Returns 0, or MP_EXIT_TRACE
   after "cannot write 'out': ..." (or failed's code). */
int mp_trace_copy_end(struct mp_trace_copy *c, int failed);

/* Takes the trace path left after option parsing (mp_query_path) and opens
   it probing the tables in need (mp_trace_open_for). Returns 0 with *db
   open, or an exit code after the message. */
int mp_query_open(struct mp_query *q, int argc, char **argv, unsigned need, sqlite3 **db);
/* Loads q's processes (every one, or q->pid's) into *ps. Returns 0, or an
   exit code after the message (an unreadable table, no process with that
   pid); then *ps holds nothing. */
int mp_query_processes(const struct mp_query *q, sqlite3 *db, struct mp_processes *ps);
/* Ends a listing of sites read by st with stacks from l: rc is the last
   sqlite3_step result, or -1 when a stack failed to load. Frees st, l and
   stack; in JSON closes the document begun by the command (an array in an
   object in an object). Returns 0, or an exit code after the message. */
int mp_query_sites_end(const struct mp_query *q, sqlite3 *db, int rc, sqlite3_stmt *st, struct mp_stack_loader *l,
                       struct mp_stack *stack, struct mp_json *j);

#endif
