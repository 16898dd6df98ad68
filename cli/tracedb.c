/* Writing the trace database; see cli/tracedb.h and schema/memprof.sql. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tracedb.h"

static int fail(struct mp_tracedb *w, const char *what)
{
	snprintf(w->err, sizeof(w->err), "%s: %s", what, w->db ? sqlite3_errmsg(w->db) : "out of memory");
	return -1;
}

static int prepare(struct mp_tracedb *w, sqlite3_stmt **st, const char *sql)
{
	return sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK ? 0 : -1;
}

int mp_tracedb_create(struct mp_tracedb *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return fail(w, "cannot create the trace");
	/* Written in place while the programs run, one transaction between
	   checkpoints: WAL keeps the file as of the last checkpoint whatever
	   happens to the collector, and mp_tracedb_checkpoint copies each
	   commit into the file itself (readers open it immutable). Pages of
	   512 bytes, SQLite's smallest: each of the twenty-odd tables, most
	   of them empty or small in most traces, takes a page at least (an
	   empty trace 29 KB with pages of 1 KiB, 22 KB now; the sqlite3
	   benchmark's 120 -> 105 KB, 4 KiB pages took 385 KB before; scanning
	   10 M allocations took as long each way, 0.81 s). */
	if (sqlite3_exec(w->db,
	                 "PRAGMA page_size=512; PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
	                 " PRAGMA synchronous=OFF; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-16384;",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(w->db, mp_schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(w->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return fail(w, "cannot create the schema");
	if (prepare(w, &w->meta, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)") ||
	    prepare(w, &w->process,
	            "INSERT OR REPLACE INTO processes(id, pid, ppid, parent_id, origin, argv, start_ns, end_ns, "
	            "ended_by,"
	            " exit_status, signal, allocations, frees, allocated_bytes, peak_bytes, peak_time_ns,"
	            " leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees, mmap_calls, munmap_calls,"
	            " mmap_bytes, mmap_peak_bytes, mmap_peak_time_ns, mmap_leaked_bytes, mmap_leaked_blocks,"
	            " rss_peak_bytes, rss_peak_time_ns, run)"
	            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)") ||
	    prepare(w, &w->run,
	            "INSERT OR REPLACE INTO runs(run, start_ns, end_ns, ended_by, exit_status, signal)"
	            " VALUES (?,?,?,?,?,?)") ||
	    prepare(w, &w->thread,
	            "INSERT INTO threads(process_id, tid, allocations, frees, allocated_bytes, leaked_bytes,"
	            " leaked_blocks, temporary) VALUES (?,?,?,?,?,?,?,?)") ||
	    prepare(w, &w->site,
	            "INSERT INTO sites(process_id, stack_id, allocations, frees, bytes, peak_bytes, peak_blocks,"
	            " leaked_bytes, leaked_blocks, temporary) VALUES (?,?,?,?,?,?,?,?,?,?)") ||
	    prepare(w, &w->sample,
	            "INSERT INTO heap_samples(process_id, time_ns, heap_bytes, usable_bytes) VALUES (?,?,?,?)") ||
	    prepare(w, &w->chunk, "INSERT INTO alloc_chunks(process_id, count, data) VALUES (?,?,?)") ||
	    prepare(w, &w->module, "INSERT OR REPLACE INTO modules(id, path, build_id) VALUES (?,?,?)") ||
	    prepare(w, &w->frame,
	            "INSERT OR REPLACE INTO frames(id, module_id, address, function, file, line, inlined) VALUES "
	            "(?,?,?,?,?,?,?)") ||
	    prepare(w, &w->stack, "INSERT INTO stacks(id, parent_id, frame_id) VALUES (?,?,?)") ||
	    prepare(w, &w->forget_sites, "DELETE FROM sites WHERE process_id = ?") ||
	    prepare(w, &w->forget_threads, "DELETE FROM threads WHERE process_id = ?") ||
	    prepare(w, &w->mapping_site,
	            "INSERT INTO mapping_sites(process_id, stack_id, allocations, frees, bytes, peak_bytes,"
	            " peak_blocks, leaked_bytes, leaked_blocks, temporary) VALUES (?,?,?,?,?,?,?,?,?,?)") ||
	    prepare(w, &w->rss,
	            "INSERT INTO rss_samples(process_id, time_ns, rss_bytes, anon_bytes, heap_bytes, usable_bytes,"
	            " mapped_bytes) VALUES (?,?,?,?,?,?,?)") ||
	    prepare(w, &w->forget_mapping_sites, "DELETE FROM mapping_sites WHERE process_id = ?") ||
	    prepare(w, &w->overhead,
	            "INSERT INTO overhead(process_id, tid, events, sampled_events, sampled_waits, hook_ns, cpu_ns,"
	            " profiler_bytes) VALUES (?,?,?,?,?,?,?,?)") ||
	    prepare(w, &w->forget_overhead, "DELETE FROM overhead WHERE process_id = ?") ||
	    prepare(w, &w->mismatch,
	            "INSERT INTO mismatches(process_id, alloc_stack_id, free_stack_id, alloc_kind, free_kind, count,"
	            " bytes) VALUES (?,?,?,?,?,?,?)") ||
	    prepare(w, &w->forget_mismatches, "DELETE FROM mismatches WHERE process_id = ?"))
		return fail(w, "cannot prepare the trace");
	return 0;
}

static void finalize_all(struct mp_tracedb *w)
{
	sqlite3_stmt **all[] = {&w->meta,
	                        &w->process,
	                        &w->thread,
	                        &w->site,
	                        &w->sample,
	                        &w->chunk,
	                        &w->module,
	                        &w->frame,
	                        &w->stack,
	                        &w->forget_sites,
	                        &w->forget_threads,
	                        &w->mapping_site,
	                        &w->rss,
	                        &w->forget_mapping_sites,
	                        &w->overhead,
	                        &w->forget_overhead,
	                        &w->run,
	                        &w->mismatch,
	                        &w->forget_mismatches,
	                        &w->site_reach,
	                        &w->process_reach,
	                        &w->unreachable};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	for (size_t i = 0; i < sizeof(w->api) / sizeof(w->api[0]); i++) {
		sqlite3_finalize(w->api[i]);
		w->api[i] = NULL;
	}
}

int mp_tracedb_close(struct mp_tracedb *w)
{
	finalize_all(w);
	int rc = 0;
	/* Back to a plain file: the WAL goes into it and away. */
	if (sqlite3_exec(w->db, "COMMIT; PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
		rc = fail(w, "cannot write the trace");
	if (sqlite3_close(w->db) != SQLITE_OK && !rc) {
		snprintf(w->err, sizeof(w->err), "cannot close the trace");
		rc = -1;
	}
	w->db = NULL;
	return rc;
}

void mp_tracedb_abort(struct mp_tracedb *w)
{
	finalize_all(w);
	sqlite3_close(w->db);
	w->db = NULL;
}

int mp_tracedb_checkpoint(struct mp_tracedb *w)
{
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return fail(w, "cannot write the trace");
	if (sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		return fail(w, "cannot write the trace");
	if (sqlite3_exec(w->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return fail(w, "cannot write the trace");
	return 0;
}

static int step(struct mp_tracedb *w, sqlite3_stmt *st, const char *what);

int mp_tracedb_forget(struct mp_tracedb *w, int64_t process_id)
{
	sqlite3_bind_int64(w->forget_sites, 1, process_id);
	sqlite3_bind_int64(w->forget_threads, 1, process_id);
	sqlite3_bind_int64(w->forget_mapping_sites, 1, process_id);
	sqlite3_bind_int64(w->forget_overhead, 1, process_id);
	sqlite3_bind_int64(w->forget_mismatches, 1, process_id);
	return step(w, w->forget_sites, "cannot write sites") || step(w, w->forget_threads, "cannot write threads") ||
	                       step(w, w->forget_mapping_sites, "cannot write mapping sites") ||
	                       step(w, w->forget_overhead, "cannot write overhead") ||
	                       step(w, w->forget_mismatches, "cannot write mismatches")
	               ? -1
	               : 0;
}

static int step(struct mp_tracedb *w, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : fail(w, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int mp_tracedb_meta(struct mp_tracedb *w, const char *key, const char *value)
{
	bind_text(w->meta, 1, key);
	bind_text(w->meta, 2, value);
	return step(w, w->meta, "cannot write meta");
}

int mp_tracedb_meta_int(struct mp_tracedb *w, const char *key, int64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)value);
	return mp_tracedb_meta(w, key, buf);
}

int mp_tracedb_process(struct mp_tracedb *w, const struct mp_process_row *r)
{
	sqlite3_stmt *st = w->process;
	int i = 1;
	sqlite3_bind_int64(st, i++, r->id);
	sqlite3_bind_int64(st, i++, r->pid);
	sqlite3_bind_int64(st, i++, r->ppid);
	if (r->parent_id)
		sqlite3_bind_int64(st, i++, r->parent_id);
	else
		sqlite3_bind_null(st, i++);
	bind_text(st, i++, r->origin);
	bind_text(st, i++, r->argv_json);
	sqlite3_bind_int64(st, i++, r->start_ns);
	sqlite3_bind_int64(st, i++, r->end_ns);
	bind_text(st, i++, r->ended_by);
	if (r->have_exit_status)
		sqlite3_bind_int64(st, i++, r->exit_status);
	else
		sqlite3_bind_null(st, i++);
	if (r->have_signal)
		sqlite3_bind_int64(st, i++, r->signal);
	else
		sqlite3_bind_null(st, i++);
	const int64_t v[] = {r->allocations,  r->frees,         r->allocated_bytes, r->peak_bytes, r->peak_time_ns,
	                     r->leaked_bytes, r->leaked_blocks, r->temporary,       r->threads,    r->unmatched_frees};
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
		sqlite3_bind_int64(st, i++, v[k]);
	const int64_t m[] = {r->mmap_calls,        r->munmap_calls,      r->mmap_bytes,        r->mmap_peak_bytes,
	                     r->mmap_peak_time_ns, r->mmap_leaked_bytes, r->mmap_leaked_blocks};
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
		sqlite3_bind_int64(st, i++, m[k]);
	if (r->have_rss) {
		sqlite3_bind_int64(st, i++, r->rss_peak_bytes);
		sqlite3_bind_int64(st, i++, r->rss_peak_time_ns);
	} else {
		sqlite3_bind_null(st, i++);
		sqlite3_bind_null(st, i++);
	}
	sqlite3_bind_int64(st, i++, r->run > 0 ? r->run : 1);
	return step(w, st, "cannot write a process");
}

int mp_tracedb_run(struct mp_tracedb *w, const struct mp_run_row *r)
{
	sqlite3_stmt *st = w->run;
	sqlite3_bind_int64(st, 1, r->run);
	sqlite3_bind_int64(st, 2, r->start_ns);
	sqlite3_bind_int64(st, 3, r->end_ns);
	bind_text(st, 4, r->ended_by);
	if (r->have_exit_status)
		sqlite3_bind_int64(st, 5, r->exit_status);
	else
		sqlite3_bind_null(st, 5);
	if (r->have_signal)
		sqlite3_bind_int64(st, 6, r->signal);
	else
		sqlite3_bind_null(st, 6);
	return step(w, st, "cannot write a run");
}

int mp_tracedb_thread(struct mp_tracedb *w, int64_t process_id, int64_t tid, const int64_t v[6])
{
	sqlite3_bind_int64(w->thread, 1, process_id);
	sqlite3_bind_int64(w->thread, 2, tid);
	for (int i = 0; i < 6; i++)
		sqlite3_bind_int64(w->thread, 3 + i, v[i]);
	return step(w, w->thread, "cannot write a thread");
}

int mp_tracedb_mismatch(struct mp_tracedb *w, int64_t process_id, int64_t alloc_stack_id, int64_t free_stack_id,
                        const char *alloc_kind, const char *free_kind, int64_t count, int64_t bytes)
{
	sqlite3_bind_int64(w->mismatch, 1, process_id);
	sqlite3_bind_int64(w->mismatch, 2, alloc_stack_id);
	if (free_stack_id < 0)
		sqlite3_bind_null(w->mismatch, 3);
	else
		sqlite3_bind_int64(w->mismatch, 3, free_stack_id);
	sqlite3_bind_text(w->mismatch, 4, alloc_kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(w->mismatch, 5, free_kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(w->mismatch, 6, count);
	sqlite3_bind_int64(w->mismatch, 7, bytes);
	return step(w, w->mismatch, "cannot write a mismatch");
}

int mp_tracedb_site(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[8])
{
	sqlite3_bind_int64(w->site, 1, process_id);
	sqlite3_bind_int64(w->site, 2, stack_id);
	for (int i = 0; i < 8; i++)
		sqlite3_bind_int64(w->site, 3 + i, v[i]);
	return step(w, w->site, "cannot write a site");
}

int mp_tracedb_sample(struct mp_tracedb *w, int64_t process_id, int64_t time_ns, int64_t heap, int64_t usable)
{
	sqlite3_bind_int64(w->sample, 1, process_id);
	sqlite3_bind_int64(w->sample, 2, time_ns);
	sqlite3_bind_int64(w->sample, 3, heap);
	sqlite3_bind_int64(w->sample, 4, usable);
	return step(w, w->sample, "cannot write a heap sample");
}

int mp_tracedb_mapping_site(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[8])
{
	sqlite3_bind_int64(w->mapping_site, 1, process_id);
	sqlite3_bind_int64(w->mapping_site, 2, stack_id);
	for (int i = 0; i < 8; i++)
		sqlite3_bind_int64(w->mapping_site, 3 + i, v[i]);
	return step(w, w->mapping_site, "cannot write a mapping site");
}

int mp_tracedb_overhead(struct mp_tracedb *w, int64_t process_id, int64_t tid, const int64_t v[6])
{
	sqlite3_bind_int64(w->overhead, 1, process_id);
	if (tid < 0)
		sqlite3_bind_null(w->overhead, 2);
	else
		sqlite3_bind_int64(w->overhead, 2, tid);
	for (int i = 0; i < 6; i++) {
		if (v[i] < 0)
			sqlite3_bind_null(w->overhead, 3 + i);
		else
			sqlite3_bind_int64(w->overhead, 3 + i, v[i]);
	}
	return step(w, w->overhead, "cannot write overhead");
}

int mp_tracedb_rss(struct mp_tracedb *w, int64_t process_id, int64_t time_ns, const int64_t v[5])
{
	sqlite3_bind_int64(w->rss, 1, process_id);
	sqlite3_bind_int64(w->rss, 2, time_ns);
	for (int i = 0; i < 5; i++)
		sqlite3_bind_int64(w->rss, 3 + i, v[i]);
	return step(w, w->rss, "cannot write an RSS sample");
}

int mp_tracedb_chunk(struct mp_tracedb *w, int64_t process_id, int64_t count, const void *data, size_t len)
{
	sqlite3_bind_int64(w->chunk, 1, process_id);
	sqlite3_bind_int64(w->chunk, 2, count);
	sqlite3_bind_blob64(w->chunk, 3, data, len, SQLITE_STATIC);
	return step(w, w->chunk, "cannot write allocations");
}

int mp_tracedb_module(struct mp_tracedb *w, int64_t id, const char *path, const char *build_id_hex)
{
	sqlite3_bind_int64(w->module, 1, id);
	bind_text(w->module, 2, path);
	bind_text(w->module, 3, build_id_hex);
	return step(w, w->module, "cannot write a module");
}

int mp_tracedb_frame(struct mp_tracedb *w, int64_t id, int64_t module_id, int64_t address, const char *function,
                     const char *file, int64_t line, const char *inlined_json)
{
	sqlite3_stmt *st = w->frame;
	sqlite3_bind_int64(st, 1, id);
	if (module_id)
		sqlite3_bind_int64(st, 2, module_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, address);
	bind_text(st, 4, function);
	bind_text(st, 5, file);
	if (line > 0)
		sqlite3_bind_int64(st, 6, line);
	else
		sqlite3_bind_null(st, 6);
	bind_text(st, 7, inlined_json);
	return step(w, st, "cannot write a frame");
}

int mp_tracedb_stack(struct mp_tracedb *w, int64_t id, int64_t parent_id, int64_t frame_id)
{
	sqlite3_bind_int64(w->stack, 1, id);
	sqlite3_bind_int64(w->stack, 2, parent_id);
	sqlite3_bind_int64(w->stack, 3, frame_id);
	return step(w, w->stack, "cannot write a stack");
}

size_t mp_json_quote(char *buf, size_t size, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (len + 2 > size)
		return SIZE_MAX;
	buf[len++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[7];
		size_t n = 0;
		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p < 0x20) {
			memcpy(esc, "\\u00", 4);
			n = 4;
			esc[n++] = hex[*p >> 4];
			esc[n++] = hex[*p & 15];
		} else {
			esc[n++] = (char)*p;
		}
		if (len + n + 2 > size)
			return SIZE_MAX;
		memcpy(buf + len, esc, n);
		len += n;
	}
	buf[len++] = '"';
	buf[len] = 0;
	return len;
}

/* --- the tables of memprof.h --------------------------------------------- */

enum { API_POOL, API_POOL_SITE, API_PHASE, API_PAUSE };

static const char *const api_sql[] = {
        [API_POOL] = "INSERT OR REPLACE INTO pools(process_id, pool_id, name, allocations, frees, bytes, peak_bytes,"
                     " leaked_bytes, leaked_blocks, unmatched_frees) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [API_POOL_SITE] = "INSERT OR REPLACE INTO pool_sites(process_id, pool_id, stack_id, allocations, frees,"
                          " bytes, leaked_bytes, leaked_blocks) VALUES (?,?,?,?,?,?,?,?)",
        [API_PHASE] = "INSERT INTO phases(process_id, name, source, start_ns, end_ns, first_alloc_id,"
                      " end_alloc_id, allocations, bytes) VALUES (?,?,?,?,?,?,?,?,?)",
        [API_PAUSE] = "INSERT INTO pauses(process_id, start_ns, end_ns, unrecorded_frees) VALUES (?,?,?,?)",
};

/* The statement `which`, prepared on first use; NULL after a failure. */
static sqlite3_stmt *api_stmt(struct mp_tracedb *w, int which)
{
	if (!w->api[which] && prepare(w, &w->api[which], api_sql[which])) {
		fail(w, "cannot prepare the trace");
		return NULL;
	}
	return w->api[which];
}

int mp_tracedb_forget_api(struct mp_tracedb *w, int64_t process_id)
{
	static const char *const tables[] = {"pools", "pool_sites", "phases", "pauses"};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[80];
		sqlite3_stmt *st;
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE process_id = ?", tables[i]);
		if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
			return fail(w, "cannot write the trace");
		sqlite3_bind_int64(st, 1, process_id);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return fail(w, "cannot write the trace");
	}
	return 0;
}

int mp_tracedb_pool(struct mp_tracedb *w, int64_t process_id, int64_t pool_id, const char *name, const int64_t v[7])
{
	sqlite3_stmt *st = api_stmt(w, API_POOL);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, process_id);
	sqlite3_bind_int64(st, 2, pool_id);
	bind_text(st, 3, name);
	for (int i = 0; i < 7; i++)
		sqlite3_bind_int64(st, 4 + i, v[i]);
	return step(w, st, "cannot write pools");
}

int mp_tracedb_pool_site(struct mp_tracedb *w, int64_t process_id, int64_t pool_id, int64_t stack_id,
                         const int64_t v[5])
{
	sqlite3_stmt *st = api_stmt(w, API_POOL_SITE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, process_id);
	sqlite3_bind_int64(st, 2, pool_id);
	sqlite3_bind_int64(st, 3, stack_id);
	for (int i = 0; i < 5; i++)
		sqlite3_bind_int64(st, 4 + i, v[i]);
	return step(w, st, "cannot write pool_sites");
}

int mp_tracedb_phase(struct mp_tracedb *w, int64_t process_id, const char *name, const char *source, int64_t start_ns,
                     int64_t end_ns, int64_t first_alloc_id, int64_t end_alloc_id, int64_t allocations, int64_t bytes)
{
	sqlite3_stmt *st = api_stmt(w, API_PHASE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, process_id);
	bind_text(st, 2, name ? name : "");
	bind_text(st, 3, source);
	sqlite3_bind_int64(st, 4, start_ns);
	sqlite3_bind_int64(st, 5, end_ns);
	sqlite3_bind_int64(st, 6, first_alloc_id);
	sqlite3_bind_int64(st, 7, end_alloc_id);
	sqlite3_bind_int64(st, 8, allocations);
	sqlite3_bind_int64(st, 9, bytes);
	return step(w, st, "cannot write phases");
}

int mp_tracedb_pause(struct mp_tracedb *w, int64_t process_id, int64_t start_ns, int64_t end_ns,
                     int64_t unrecorded_frees)
{
	sqlite3_stmt *st = api_stmt(w, API_PAUSE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, process_id);
	sqlite3_bind_int64(st, 2, start_ns);
	sqlite3_bind_int64(st, 3, end_ns);
	sqlite3_bind_int64(st, 4, unrecorded_frees);
	return step(w, st, "cannot write pauses");
}

/* --- the leak scan ---------------------------------------------------------- */

int mp_tracedb_site_reach(struct mp_tracedb *w, int64_t process_id, int64_t stack_id, const int64_t v[4])
{
	if (!w->site_reach && prepare(w, &w->site_reach,
	                              "UPDATE sites SET unreachable_bytes = ?3, unreachable_blocks = ?4,"
	                              " reachable_bytes = ?5, reachable_blocks = ?6"
	                              " WHERE process_id = ?1 AND stack_id = ?2"))
		return fail(w, "cannot prepare the trace");
	sqlite3_bind_int64(w->site_reach, 1, process_id);
	sqlite3_bind_int64(w->site_reach, 2, stack_id);
	for (int i = 0; i < 4; i++)
		sqlite3_bind_int64(w->site_reach, 3 + i, v[i]);
	return step(w, w->site_reach, "cannot write sites");
}

int mp_tracedb_process_reach(struct mp_tracedb *w, int64_t process_id, const char *state, const int64_t v[7])
{
	if (!w->process_reach &&
	    prepare(w, &w->process_reach,
	            "UPDATE processes SET leak_scan = ?2, leak_scan_ns = ?3, unreachable_bytes = ?4,"
	            " unreachable_blocks = ?5, reachable_bytes = ?6, reachable_blocks = ?7,"
	            " mmap_unreachable_bytes = ?8, mmap_unreachable_blocks = ?9 WHERE id = ?1"))
		return fail(w, "cannot prepare the trace");
	int done = !strcmp(state, "done");
	sqlite3_bind_int64(w->process_reach, 1, process_id);
	sqlite3_bind_text(w->process_reach, 2, state, -1, SQLITE_STATIC);
	for (int i = 0; i < 7; i++) {
		if (done)
			sqlite3_bind_int64(w->process_reach, 3 + i, v[i]);
		else
			sqlite3_bind_null(w->process_reach, 3 + i);
	}
	return step(w, w->process_reach, "cannot write processes");
}

int mp_tracedb_unreachable(struct mp_tracedb *w, int64_t process_id, int64_t allocation_id)
{
	if (!w->unreachable &&
	    prepare(w, &w->unreachable, "INSERT OR REPLACE INTO unreachable(process_id, allocation_id) VALUES (?,?)"))
		return fail(w, "cannot prepare the trace");
	sqlite3_bind_int64(w->unreachable, 1, process_id);
	sqlite3_bind_int64(w->unreachable, 2, allocation_id);
	return step(w, w->unreachable, "cannot write unreachable blocks");
}
