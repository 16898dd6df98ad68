/* Reading a trace; see cli/trace.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "trace.h"
#include "tracedb.h"
#include "util.h"
#include "vtab.h"

/* Every table of schema version 1 and the columns the commands read; the
   optional ones came later (anonymous mappings and RSS, overhead): checked
   when the trace has them. */
static const struct {
	const char *name, *columns;
	unsigned need; /* probed when the command needs one of these */
	int optional;
} tables[] = {
        {"meta", "key, value", ~0u, 0},
        {"processes",
         "id, pid, ppid, parent_id, origin, argv, start_ns, end_ns, ended_by, exit_status, signal, allocations,"
         " frees, allocated_bytes, peak_bytes, peak_time_ns, leaked_bytes, leaked_blocks, temporary, threads,"
         " unmatched_frees",
         MP_NEED_PROCESSES, 0},
        {"threads", "process_id, tid, allocations, frees, allocated_bytes, leaked_bytes, leaked_blocks, temporary", 0,
         0},
        {"modules", "id, path, build_id", MP_NEED_STACKS, 0},
        {"frames", "id, module_id, address, function, file, line, inlined", MP_NEED_STACKS, 0},
        {"stacks", "id, parent_id, frame_id", MP_NEED_STACKS, 0},
        {"sites",
         "process_id, stack_id, allocations, frees, bytes, peak_bytes, peak_blocks, leaked_bytes, leaked_blocks,"
         " temporary",
         MP_NEED_SITES, 0},
        {"heap_samples", "process_id, time_ns, heap_bytes, usable_bytes", 0, 0},
        {"alloc_chunks", "id, process_id, count, data", 0, 0},
        {"mapping_sites",
         "process_id, stack_id, allocations, frees, bytes, peak_bytes, peak_blocks, leaked_bytes, leaked_blocks,"
         " temporary",
         MP_NEED_SITES, 1},
        {"rss_samples", "process_id, time_ns, rss_bytes, anon_bytes, heap_bytes, usable_bytes, mapped_bytes", 0, 1},
        {"overhead", "process_id, tid, events, sampled_events, sampled_waits, hook_ns, cpu_ns, profiler_bytes", 0, 1},
};

/* Prints "memprof: cannot open 'path': msg"; returns MP_EXIT_TRACE. */
static int open_fail(const char *path, const char *msg)
{
	mp_error("cannot open '%s': %s", path, msg);
	return MP_EXIT_TRACE;
}

void mp_trace_errmsg(sqlite3 *db, char *buf, size_t size)
{
	int rc = db ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;
	const char *msg = db ? sqlite3_errmsg(db) : "out of memory";
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR)
		snprintf(buf, size, "damaged trace: %s", msg);
	else
		snprintf(buf, size, "%s", msg);
}

int mp_trace_fail(const char *path, const char *msg)
{
	mp_error("cannot read '%s': %s", path, msg);
	return MP_EXIT_TRACE;
}

int mp_trace_fail_db(const char *path, sqlite3 *db)
{
	char msg[512];
	mp_trace_errmsg(db, msg, sizeof(msg));
	return mp_trace_fail(path, msg);
}

/* Fails the open with db's last error. */
static int db_fail(const char *path, sqlite3 *db)
{
	char msg[512];
	if ((sqlite3_errcode(db) & 0xff) == SQLITE_NOTADB)
		snprintf(msg, sizeof(msg), "not a memprof trace (not an SQLite database)");
	else
		mp_trace_errmsg(db, msg, sizeof(msg));
	return open_fail(path, msg);
}

/* Checks what the file system says, and the SQLite header, before SQLite
   sees the file: a FIFO or a device must never be opened. */
static int check_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if (e == EACCES && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return open_fail(path, "is a directory");
		return open_fail(path, e == ENOENT ? "no such file" : mp_strerror(e));
	}
	struct stat st;
	char head[16];
	ssize_t n = -1;
	int e = 0;
	if (fstat(fd, &st) != 0)
		e = errno;
	else if (S_ISREG(st.st_mode) && st.st_size > 0 && (n = pread(fd, head, sizeof(head), 0)) < 0)
		e = errno;
	close(fd);
	if (e)
		return open_fail(path, mp_strerror(e));
	if (S_ISDIR(st.st_mode))
		return open_fail(path, "is a directory");
	if (!S_ISREG(st.st_mode))
		return open_fail(path, "not a regular file");
	if (st.st_size == 0)
		return open_fail(path, "empty file, not a memprof trace");
	if (n != (ssize_t)sizeof(head) || memcmp(head, "SQLite format 3", 16) != 0)
		return open_fail(path, "not a memprof trace (not an SQLite database)");
	return 0;
}

/* "file:" URI of path, read-only and immutable: SQLite then takes no lock
   and creates no journal, WAL or shared-memory file. The caller frees it. */
static char *uri_of(const char *path)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~";
	struct mp_buf b = {0};
	mp_buf_puts(&b, path[0] == '/' ? "file://" : "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (memchr(safe, *p, sizeof(safe) - 1))
			mp_buf_add(&b, (const char *)p, 1);
		else
			mp_buf_printf(&b, "%%%02X", *p);
	}
	mp_buf_puts(&b, "?mode=ro&immutable=1");
	return b.s;
}

/* 1 when a table (not a view) named name exists, 0 when not, -1 on error. */
static int have_table(sqlite3 *db, const char *name, char *type, size_t typelen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT type FROM main.sqlite_schema WHERE lower(name) = lower(?1)", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = 0;
	type[0] = 0;
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(type, typelen, "%s", t ? (const char *)t : "");
		found = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return found;
}

/* The processes columns of the mapping and RSS figures, when the trace has them. */
#define MAPPING_COLUMNS \
	"mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes, mmap_peak_time_ns, mmap_leaked_bytes," \
	" mmap_leaked_blocks, rss_peak_bytes, rss_peak_time_ns"

int mp_trace_has_table(sqlite3 *db, const char *name)
{
	char type[32];
	return have_table(db, name, type, sizeof(type)) == 1 && !strcmp(type, "table");
}

int mp_trace_has_mappings(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(db, "SELECT " MAPPING_COLUMNS " FROM main.processes LIMIT 0", -1, &st, NULL) ==
	         SQLITE_OK;
	sqlite3_finalize(st);
	char type[32];
	return ok && have_table(db, "mapping_sites", type, sizeof(type)) == 1 &&
	       have_table(db, "rss_samples", type, sizeof(type)) == 1;
}

/* Gets meta's value for key into *out (malloc'ed, NULL when missing).
   Returns 0, or -1 on an SQLite error. */
static int meta_value(sqlite3 *db, const char *key, char **out)
{
	sqlite3_stmt *st;
	*out = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM main.meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = mp_xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* PRAGMA quick_check of one table and its indexes. Returns 0, or -1 with
   the first problem in msg. */
static int probe(sqlite3 *db, const char *table, char *msg, size_t msglen)
{
	char sql[128];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "PRAGMA main.quick_check(\"%s\")", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, msg, msglen);
		return -1;
	}
	int rc = sqlite3_step(st), bad = 0;
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		if (!r || strcmp(r, "ok") != 0) {
			static const char prefix[] = "*** in database main ***\n";
			if (r && !strncmp(r, prefix, sizeof(prefix) - 1))
				r += sizeof(prefix) - 1;
			snprintf(msg, msglen, "damaged trace: table '%s': %s", table, r && *r ? r : "check failed");
			bad = 1;
		}
	} else {
		mp_trace_errmsg(db, msg, msglen);
		bad = 1;
	}
	sqlite3_finalize(st);
	return bad ? -1 : 0;
}

/* Every check after SQLite opened the file. Returns 0 or MP_EXIT_TRACE. */
static int validate(const char *path, sqlite3 *db, unsigned need)
{
	char type[32], msg[512];
	int have = have_table(db, "meta", type, sizeof(type));
	if (have < 0)
		return db_fail(path, db);
	if (!have || strcmp(type, "table") != 0)
		return open_fail(path, "not a memprof trace (no meta table)");
	char *format;
	if (meta_value(db, "format", &format)) {
		int code = sqlite3_errcode(db) & 0xff;
		if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_IOERR || code == SQLITE_NOMEM)
			return db_fail(path, db);
		return open_fail(path, "not a memprof trace (no format in the meta table)");
	}
	if (!format || strcmp(format, MP_TRACE_FORMAT) != 0) {
		snprintf(msg, sizeof(msg), "not a memprof trace (format '%s')", format ? format : "");
		free(format);
		return open_fail(path, format ? msg : "not a memprof trace (no format in the meta table)");
	}
	free(format);

	char *version;
	if (meta_value(db, "schema_version", &version))
		return db_fail(path, db);
	char *end = NULL;
	errno = 0;
	long long v = version ? strtoll(version, &end, 10) : 0;
	if (!version || end == version || *end || errno || v < 1) {
		snprintf(msg, sizeof(msg), "damaged trace: schema version '%s'", version ? version : "(none)");
		free(version);
		return open_fail(path, msg);
	}
	free(version);
	if (v > MP_SCHEMA_VERSION) {
		snprintf(msg, sizeof(msg), "written by a newer memprof (schema %lld; this one reads up to %d)", v,
		         MP_SCHEMA_VERSION);
		return open_fail(path, msg);
	}

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		have = have_table(db, tables[i].name, type, sizeof(type));
		if (have < 0)
			return db_fail(path, db);
		if (!have && tables[i].optional)
			continue;
		if (!have || strcmp(type, "table") != 0) {
			snprintf(msg, sizeof(msg), "damaged trace: no table '%s'", tables[i].name);
			return open_fail(path, msg);
		}
		char sql[512];
		sqlite3_stmt *st;
		snprintf(sql, sizeof(sql), "SELECT %s FROM main.\"%s\" LIMIT 0", tables[i].columns, tables[i].name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			snprintf(msg, sizeof(msg), "damaged trace: table '%s': %s", tables[i].name, sqlite3_errmsg(db));
			return open_fail(path, msg);
		}
		sqlite3_finalize(st);
	}
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (tables[i].optional && have_table(db, tables[i].name, type, sizeof(type)) != 1)
			continue;
		if ((tables[i].need & need) && probe(db, tables[i].name, msg, sizeof(msg)))
			return open_fail(path, msg);
	}

	char *state;
	if (meta_value(db, "state", &state))
		return db_fail(path, db);
	if (!state || strcmp(state, "complete") != 0)
		fprintf(stderr, "memprof: warning: '%s': trace was interrupted, figures cover what was recorded\n",
		        path);
	free(state);
	return 0;
}

int mp_trace_open_for(const char *path, unsigned need, sqlite3 **dbp)
{
	*dbp = NULL;
	int rc = check_file(path);
	if (rc)
		return rc;
	char *uri = uri_of(path);
	sqlite3 *db = NULL;
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		if (!db)
			return open_fail(path, "out of memory");
		rc = db_fail(path, db);
		sqlite3_close(db);
		return rc;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 100);
	/* The file is untrusted: its schema may not call functions with side
	   effects, and nothing may write to its internals. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	rc = validate(path, db, need | MP_NEED_PROCESSES);
	if (rc == 0 && mp_vtab_register(db) != SQLITE_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot register the allocations table: %s", sqlite3_errmsg(db));
		rc = open_fail(path, msg);
	}
	if (rc) {
		sqlite3_close(db);
		return rc;
	}
	*dbp = db;
	return 0;
}

int mp_trace_open(const char *path, sqlite3 **db)
{
	return mp_trace_open_for(path, MP_NEED_FIGURES, db);
}

void mp_trace_close(sqlite3 *db)
{
	sqlite3_close(db);
}

char *mp_meta_get(sqlite3 *db, const char *key)
{
	char *v;
	return meta_value(db, key, &v) ? NULL : v;
}

int64_t mp_meta_int(sqlite3 *db, const char *key, int64_t dflt)
{
	char *v = mp_meta_get(db, key), *end = NULL;
	if (!v)
		return dflt;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	int ok = end != v && !*end && !errno;
	free(v);
	return ok ? (int64_t)n : dflt;
}

char **mp_argv_parse(sqlite3 *db, const char *json, size_t *argc)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ERROR;
	if (json && sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1) WHERE json_type(?1) = 'array'", -1, &st,
	                               NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			void *p = v;
			mp_grow(&p, &cap, n + 2, sizeof(*v));
			v = p;
			const char *a = (const char *)sqlite3_column_text(st, 0);
			v[n++] = mp_xstrdup(a ? a : "");
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || n == 0) { /* not a JSON array: the text itself */
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		n = 0;
		if (json && *json && strcmp(json, "[]") != 0) {
			void *p = v;
			mp_grow(&p, &cap, 2, sizeof(*v));
			v = p;
			v[n++] = mp_xstrdup(json);
		}
	}
	if (!v)
		v = mp_xmalloc(sizeof(*v));
	v[n] = NULL;
	*argc = n;
	return v;
}

void mp_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

void mp_argv_join(char *const *argv, struct mp_buf *b)
{
	for (char *const *a = argv; *a; a++) {
		if (a != argv)
			mp_buf_puts(b, " ");
		mp_buf_puts(b, *a);
	}
}

static int64_t col_or(sqlite3_stmt *st, int i, int64_t dflt)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

int mp_trace_has_runs(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(db, "SELECT run FROM main.processes LIMIT 0", -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return ok;
}

int mp_processes_load(sqlite3 *db, int64_t pid, struct mp_processes *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st;
	int mappings = mp_trace_has_mappings(db);
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT id, pid, ppid, parent_id, origin, argv, start_ns, end_ns, ended_by, exit_status,"
	         " signal, allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, leaked_bytes,"
	         " leaked_blocks, temporary, threads, unmatched_frees, %s%s"
	         " FROM main.processes WHERE ?1 < 0 OR pid = ?1 ORDER BY id",
	         mp_trace_has_runs(db) ? "run" : "1", mappings ? ", " MAPPING_COLUMNS : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, err, errlen);
		return -1;
	}
	sqlite3_bind_int64(st, 1, pid);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *v = out->v;
		mp_grow(&v, &out->cap, out->n + 1, sizeof(*out->v));
		out->v = v;
		struct mp_process *p = &out->v[out->n++];
		memset(p, 0, sizeof(*p));
		int i = 0;
		p->id = sqlite3_column_int64(st, i++);
		p->pid = sqlite3_column_int64(st, i++);
		p->ppid = col_or(st, i++, -1);
		p->parent_id = col_or(st, i++, 0);
		p->origin = mp_xstrdup((const char *)sqlite3_column_text(st, i++));
		p->argv = mp_argv_parse(db, (const char *)sqlite3_column_text(st, i++), &p->argc);
		p->start_ns = sqlite3_column_int64(st, i++);
		p->end_ns = col_or(st, i++, -1);
		p->ended_by = mp_xstrdup((const char *)sqlite3_column_text(st, i++));
		p->have_exit_status = sqlite3_column_type(st, i) != SQLITE_NULL;
		p->exit_status = sqlite3_column_int64(st, i++);
		p->have_signal = sqlite3_column_type(st, i) != SQLITE_NULL;
		p->signal = sqlite3_column_int64(st, i++);
		int64_t *figures[] = {&p->allocations,  &p->frees,          &p->allocated_bytes, &p->peak_bytes,
		                      &p->peak_time_ns, &p->leaked_bytes,   &p->leaked_blocks,   &p->temporary,
		                      &p->threads,      &p->unmatched_frees};
		for (size_t k = 0; k < sizeof(figures) / sizeof(figures[0]); k++)
			*figures[k] = sqlite3_column_int64(st, i++);
		p->run = col_or(st, i++, 1);
		p->have_mappings = mappings;
		if (mappings) {
			int64_t *m[] = {&p->mmap_calls,        &p->munmap_calls,      &p->mmap_bytes,
			                &p->mmap_peak_bytes,   &p->mmap_peak_time_ns, &p->mmap_leaked_bytes,
			                &p->mmap_leaked_blocks};
			for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
				*m[k] = sqlite3_column_int64(st, i++);
			p->have_rss = sqlite3_column_type(st, i) != SQLITE_NULL;
			p->rss_peak_bytes = sqlite3_column_int64(st, i++);
			p->rss_peak_time_ns = sqlite3_column_int64(st, i++);
		}
	}
	if (rc != SQLITE_DONE)
		mp_trace_errmsg(db, err, errlen);
	sqlite3_finalize(st);
	for (size_t k = 0; k < out->n; k++) {
		if (!out->v[k].origin)
			out->v[k].origin = mp_xstrdup("");
		if (!out->v[k].ended_by)
			out->v[k].ended_by = mp_xstrdup("unknown");
	}
	if (rc != SQLITE_DONE) {
		mp_processes_free(out);
		return -1;
	}
	return 0;
}

void mp_processes_free(struct mp_processes *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].origin);
		free(p->v[i].ended_by);
		mp_argv_free(p->v[i].argv);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int mp_trace_copy_begin(struct mp_trace_copy *c, sqlite3 *db, const char *path, const char *out)
{
	c->out = out;
	c->w = NULL;
	c->tmp = calloc(1, sizeof(*c->tmp));
	if (!c->tmp) {
		mp_error("cannot write '%s': out of memory", out);
		return MP_EXIT_TRACE;
	}
	/* A relative name gets "./" so that SQLite never reads it as a URI. */
	mp_buf_printf(c->tmp, "%s%s.tmp-%d", out[0] == '/' ? "" : "./", out, (int)getpid());
	const char *t = mp_buf_str(c->tmp);
	unlink(t);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK) {
		int code = sqlite3_errcode(db) & 0xff;
		if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
			rc = mp_trace_fail_db(path, db);
		} else {
			mp_error("cannot write '%s': %s", out, sqlite3_errmsg(db));
			rc = MP_EXIT_TRACE;
		}
		return mp_trace_copy_end(c, rc);
	}
	if (sqlite3_open_v2(t, &c->w, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    (sqlite3_busy_timeout(c->w, 100),
	     sqlite3_exec(c->w, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL)) != SQLITE_OK) {
		mp_error("cannot write '%s': %s", out, c->w ? sqlite3_errmsg(c->w) : "out of memory");
		return mp_trace_copy_end(c, MP_EXIT_TRACE);
	}
	return 0;
}

int mp_trace_copy_end(struct mp_trace_copy *c, int failed)
{
	const char *t = mp_buf_str(c->tmp);
	int rc = failed;
	if (sqlite3_close(c->w) != SQLITE_OK && !rc) {
		mp_error("cannot write '%s': %s", c->out, sqlite3_errmsg(c->w));
		rc = MP_EXIT_TRACE;
	}
	c->w = NULL;
	if (!rc && rename(t, c->out) != 0) {
		mp_error("cannot write '%s': %s", c->out, mp_strerror(errno));
		rc = MP_EXIT_TRACE;
	}
	if (rc)
		unlink(t);
	mp_buf_free(c->tmp);
	free(c->tmp);
	c->tmp = NULL;
	return rc;
}

int mp_query_open(struct mp_query *q, int argc, char **argv, unsigned need, sqlite3 **db)
{
	*db = NULL;
	int rc = mp_query_path(q, argc, argv);
	return rc ? rc : mp_trace_open_for(q->path, need, db);
}

int mp_query_processes(const struct mp_query *q, sqlite3 *db, struct mp_processes *ps)
{
	char err[512];
	if (mp_processes_load(db, q->pid, ps, err, sizeof(err)))
		return mp_trace_fail(q->path, err);
	if (q->pid >= 0 && ps->n == 0) {
		mp_processes_free(ps);
		return mp_query_no_process(q);
	}
	return 0;
}

int mp_query_sites_end(const struct mp_query *q, sqlite3 *db, int rc, sqlite3_stmt *st, struct mp_stack_loader *l,
                       struct mp_stack *stack, struct mp_json *j)
{
	int exit_code = 0;
	if (rc == -1)
		exit_code = mp_trace_fail(q->path, l->err);
	else if (rc != SQLITE_DONE)
		exit_code = mp_trace_fail_db(q->path, db);
	mp_stack_free(stack);
	mp_stack_loader_fini(l);
	sqlite3_finalize(st);
	if (!exit_code && q->format == MP_FMT_JSON) {
		mp_json_array_end(j);
		mp_json_object_end(j);
		mp_json_object_end(j);
		mp_json_finish(j);
	}
	return exit_code;
}
