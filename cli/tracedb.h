/* Writing the trace database (cli/finish.c drives it).
 * The schema is schema/memprof.sql, compiled in as mp_schema_sql. */
#ifndef MP_TRACEDB_H
#define MP_TRACEDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define MP_SCHEMA_VERSION 2 /* 2: allocation chunks of store format 6 (lib/store.c) */
#define MP_TRACE_FORMAT "memprof-trace"

extern const char mp_schema_sql[];

struct mp_tracedb {
	sqlite3 *db;
	sqlite3_stmt *meta, *process, *thread, *site, *sample, *chunk, *module, *frame, *stack;
	sqlite3_stmt *forget_sites, *forget_threads, *run;
	sqlite3_stmt *mapping_site, *rss, *forget_mapping_sites;
	sqlite3_stmt *overhead, *forget_overhead;
	sqlite3_stmt *api[8]; /* the tables of memprof.h, prepared on first use */
	sqlite3_stmt *mismatch, *forget_mismatches;
	sqlite3_stmt *site_reach, *process_reach, *unreachable; /* prepared on first use */
	char err[256];
};

/* Creates a new trace at path (which must not exist) with the schema, in
   one open transaction. Returns 0, or -1 with w->err set. */
int mp_tracedb_create(struct mp_tracedb *w, const char *path);
/* Commits what was written so far into the file and opens the next
   transaction. Returns 0, or -1 with w->err set. */
int mp_tracedb_checkpoint(struct mp_tracedb *w);
/* Commits and closes. Returns 0, or -1 with w->err set. */
int mp_tracedb_close(struct mp_tracedb *w);
/* Closes without committing: the file stays as last checkpointed. */
void mp_tracedb_abort(struct mp_tracedb *w);

/* Inserts a row with the values given as int64 or text per the statement.
   Each returns 0, or -1 with w->err set. */
int mp_tracedb_meta(struct mp_tracedb *w, const char *key, const char *value);
int mp_tracedb_meta_int(struct mp_tracedb *w, const char *key, int64_t value);

struct mp_process_row {
	int64_t id, pid, ppid, parent_id; /* parent_id 0: none */
	const char *origin, *argv_json, *ended_by;
	int64_t start_ns, end_ns;
	int have_exit_status, have_signal;
	int64_t exit_status, signal;
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns;
	int64_t leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees;
	int64_t mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes, mmap_peak_time_ns;
	int64_t mmap_leaked_bytes, mmap_leaked_blocks;
	int have_rss; /* rss_peak_*: NULL without */
	int64_t rss_peak_bytes, rss_peak_time_ns;
	int64_t run; /* runs.run (1-based); 0 is written as 1 */
};
/* Rows replace those with the same id (processes, modules, frames, meta). */
int mp_tracedb_process(struct mp_tracedb *w, const struct mp_process_row *r);
/* One run of the program (memprof run --repeat). */
struct mp_run_row {
	int64_t run, start_ns, end_ns;
	const char *ended_by;
	int have_exit_status, have_signal;
	int64_t exit_status, signal;
};
/* Replaces the row of that run. */
int mp_tracedb_run(struct mp_tracedb *w, const struct mp_run_row *r);
/* Deletes a process's sites, mapping_sites, threads, overhead and mismatches
   rows (before writing them anew). */
int mp_tracedb_forget(struct mp_tracedb *w, int64_t process_id);
int mp_tracedb_thread(struct mp_tracedb *w, int64_t process_id, int64_t tid, const int64_t v[6]);
/* v: allocations, frees, bytes, peak_bytes, peak_blocks, leaked_bytes, leaked_blocks, temporary */
int mp_tracedb_site(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[8]);
/* free_stack_id < 0: none (NULL). */
int mp_tracedb_mismatch(struct mp_tracedb *w, int64_t process_id, int64_t alloc_stack_id, int64_t free_stack_id,
                        const char *alloc_kind, const char *free_kind, int64_t count, int64_t bytes);
int mp_tracedb_sample(struct mp_tracedb *w, int64_t process_id, int64_t time_ns, int64_t heap, int64_t usable);
/* A mapping site: v as for mp_tracedb_site. */
int mp_tracedb_mapping_site(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[8]);
/* One row of overhead: tid < 0 for the process; v: events, sampled_events,
   sampled_waits, hook_ns, cpu_ns, profiler_bytes, each < 0 for NULL. */
int mp_tracedb_overhead(struct mp_tracedb *w, int64_t process_id, int64_t tid, const int64_t v[6]);
/* v: rss_bytes, anon_bytes, heap_bytes, usable_bytes, mapped_bytes */
int mp_tracedb_rss(struct mp_tracedb *w, int64_t process_id, int64_t time_ns, const int64_t v[5]);
/* The leak scan (a process's final rows, after them). v: unreachable
   bytes, blocks, reachable bytes, blocks of the site's leaks. */
int mp_tracedb_site_reach(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[4]);
/* state 'done' or 'failed'; v (figures stored when done): scan_ns,
   unreachable bytes, blocks, reachable bytes, blocks, mmap unreachable bytes, blocks. */
int mp_tracedb_process_reach(struct mp_tracedb *w, int64_t process_id, const char *state, const int64_t v[7]);
/* A leaked block (heap or mapping) the scan found unreachable. */
int mp_tracedb_unreachable(struct mp_tracedb *w, int64_t process_id, int64_t allocation_id);
int mp_tracedb_chunk(struct mp_tracedb *w, int64_t process_id, int64_t count, const void *data, size_t len);
int mp_tracedb_module(struct mp_tracedb *w, int64_t id, const char *path, const char *build_id_hex);
/* module_id 0: none. function/file/inlined_json may be NULL. */
int mp_tracedb_frame(struct mp_tracedb *w, int64_t id, int64_t module_id, int64_t address, const char *function,
                     const char *file, int64_t line, const char *inlined_json);
int mp_tracedb_stack(struct mp_tracedb *w, int64_t id, int64_t parent_id, int64_t frame_id);

/* The tables of what a program told memprof (memprof.h): pools,
   pool_sites, phases, pauses. mp_tracedb_forget_api deletes a process's
   rows before they are written anew. Each returns 0, or -1 with w->err. */
int mp_tracedb_forget_api(struct mp_tracedb *w, int64_t process_id);
/* v: allocations, frees, bytes, peak_bytes, leaked_bytes, leaked_blocks, unmatched_frees. name may be NULL. */
int mp_tracedb_pool(struct mp_tracedb *w, int64_t process_id, int64_t pool_id, const char *name, const int64_t v[7]);
/* v: allocations, frees, bytes, leaked_bytes, leaked_blocks */
int mp_tracedb_pool_site(struct mp_tracedb *w, int64_t process_id, int64_t pool_id, int64_t stack_id,
                         const int64_t v[5]);
/* allocations, bytes: heap allocations made during the phase. */
int mp_tracedb_phase(struct mp_tracedb *w, int64_t process_id, const char *name, const char *source, int64_t start_ns,
                     int64_t end_ns, int64_t first_alloc_id, int64_t end_alloc_id, int64_t allocations, int64_t bytes);
int mp_tracedb_pause(struct mp_tracedb *w, int64_t process_id, int64_t start_ns, int64_t end_ns,
                     int64_t unrecorded_frees);

/* Appends s to buf as a JSON string literal (quoted, escaped). Returns
   the new length, or SIZE_MAX when buf is too small. */
size_t mp_json_quote(char *buf, size_t size, size_t len, const char *s);

#endif
