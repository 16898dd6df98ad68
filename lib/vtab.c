/* The virtual table `allocations` (lib/vtab.h): reads alloc_chunks of the
 * "main" database in chunk order, decodes each chunk (lib/store.h) and
 * hands out its records as rows. Equality on process_id or pid is done
 * here, chunk by chunk, so that a query on one process skips the others'.
 * Compiled twice: into the memprof command, and with MP_SQLITE_EXTENSION
 * into memprof_sqlite.so, where SQLite's routines come through the
 * extension's API table.
 */
#include <stdlib.h>
#include <string.h>

#include "vtab.h"
#ifdef MP_SQLITE_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#endif

#include "store.h"

enum {
	COL_ID,
	COL_PID,
	COL_PROCESS_ID,
	COL_TID,
	COL_KIND,
	COL_SIZE,
	COL_USABLE,
	COL_ADDRESS,
	COL_STACK,
	COL_ALLOC_NS,
	COL_FREE_NS,
	COL_POOL,
};

/* idxNum bits: which equality constraints xFilter receives, in this order. */
enum { IDX_PROCESS_ID = 1, IDX_PID = 2 };

/* A chunk may not claim more records than this (the collector writes
   MP_STORE_CHUNK_RECORDS): a damaged count must not make us allocate. */
#define MAX_CHUNK_RECORDS (1u << 20)

struct vtab {
	sqlite3_vtab base;
	sqlite3 *db;
};

struct cursor {
	sqlite3_vtab_cursor base;
	sqlite3_stmt *chunks;
	struct mp_alloc_rec *recs;
	size_t cap, n, i;
	int64_t process_id, pid;
	int eof;
};

static int connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, pid INTEGER, process_id INTEGER, tid INTEGER,"
	                                  " kind TEXT, size INTEGER, usable_size INTEGER, address INTEGER,"
	                                  " stack_id INTEGER, alloc_time_ns INTEGER, free_time_ns INTEGER,"
	                                  " pool_id INTEGER)");
	if (rc != SQLITE_OK)
		return rc;
	struct vtab *v = sqlite3_malloc(sizeof(*v));
	if (!v)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof(*v));
	v->db = db;
	*out = &v->base;
	return SQLITE_OK;
}

static int disconnect(sqlite3_vtab *base)
{
	sqlite3_free(base);
	return SQLITE_OK;
}

static int best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
	int process_id = -1, pid = -1;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (c->iColumn == COL_PROCESS_ID && process_id < 0)
			process_id = i;
		else if (c->iColumn == COL_PID && pid < 0)
			pid = i;
	}
	int argi = 0;
	info->idxNum = 0;
	if (process_id >= 0) {
		info->idxNum |= IDX_PROCESS_ID;
		info->aConstraintUsage[process_id].argvIndex = ++argi;
		info->aConstraintUsage[process_id].omit = 1;
	}
	if (pid >= 0) {
		info->idxNum |= IDX_PID;
		info->aConstraintUsage[pid].argvIndex = ++argi;
		info->aConstraintUsage[pid].omit = 1;
	}
	double rows = argi ? 1e5 : 1e7;
	info->estimatedRows = (sqlite3_int64)rows;
	info->estimatedCost = rows;
	return SQLITE_OK;
}

static int open_cursor(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
	struct cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->eof = 1;
	*out = &c->base;
	return SQLITE_OK;
}

static int close_cursor(sqlite3_vtab_cursor *base)
{
	struct cursor *c = (struct cursor *)base;
	sqlite3_finalize(c->chunks);
	free(c->recs);
	sqlite3_free(c);
	return SQLITE_OK;
}

static int fail(struct cursor *c, int rc, const char *msg, sqlite3_int64 chunk)
{
	sqlite3_vtab *v = c->base.pVtab;
	sqlite3_free(v->zErrMsg);
	v->zErrMsg = chunk ? sqlite3_mprintf("%s (alloc_chunks id %lld)", msg, chunk) : sqlite3_mprintf("%s", msg);
	c->eof = 1;
	return rc;
}

/* Loads the next chunk that has rows. Returns an SQLite result code. */
static int next_chunk(struct cursor *c)
{
	for (;;) {
		int rc = sqlite3_step(c->chunks);
		if (rc == SQLITE_DONE) {
			c->eof = 1;
			return SQLITE_OK;
		}
		if (rc != SQLITE_ROW)
			return fail(c, rc, sqlite3_errmsg(((struct vtab *)c->base.pVtab)->db), 0);
		sqlite3_int64 chunk = sqlite3_column_int64(c->chunks, 0);
		sqlite3_int64 count = sqlite3_column_int64(c->chunks, 3);
		const void *data = sqlite3_column_blob(c->chunks, 4);
		int len = sqlite3_column_bytes(c->chunks, 4);
		if (count < 0 || count > (sqlite3_int64)MAX_CHUNK_RECORDS)
			return fail(c, SQLITE_CORRUPT, "damaged trace: bad record count", chunk);
		if (count == 0)
			continue;
		if ((size_t)count > c->cap) {
			struct mp_alloc_rec *nr = realloc(c->recs, (size_t)count * sizeof(*nr));
			if (!nr)
				return fail(c, SQLITE_NOMEM, "out of memory", 0);
			c->recs = nr;
			c->cap = (size_t)count;
		}
		if (mp_store_decode(data, (size_t)len, c->recs, (size_t)count))
			return fail(c, SQLITE_CORRUPT, "damaged trace: an allocation chunk does not decode", chunk);
		c->process_id = sqlite3_column_int64(c->chunks, 1);
		c->pid = sqlite3_column_int64(c->chunks, 2);
		c->n = (size_t)count;
		c->i = 0;
		return SQLITE_OK;
	}
}

/* 1 when `memprof strip --keep-summaries-only` dropped the chunks. */
static int stripped(sqlite3 *db)
{
	sqlite3_stmt *st;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.meta WHERE key = 'allocations_stripped'", -1, &st, NULL) ==
	    SQLITE_OK) {
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return found;
}

static int filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
	struct cursor *c = (struct cursor *)base;
	struct vtab *v = (struct vtab *)base->pVtab;
	if (!c->chunks) {
		if (stripped(v->db))
			return fail(c, SQLITE_ERROR,
			            "this trace has no allocations table: its allocations were stripped"
			            " (memprof strip --keep-summaries-only)",
			            0);
		int rc =
		        sqlite3_prepare_v2(v->db,
		                           "SELECT c.id, c.process_id, coalesce(p.pid, -1), c.count, c.data"
		                           " FROM main.alloc_chunks c LEFT JOIN main.processes p ON p.id = c.process_id"
		                           " WHERE (?1 IS NULL OR c.process_id = ?1) AND (?2 IS NULL OR p.pid = ?2)"
		                           " ORDER BY c.id",
		                           -1, &c->chunks, NULL);
		if (rc != SQLITE_OK)
			return fail(c, rc, sqlite3_errmsg(v->db), 0);
	}
	sqlite3_reset(c->chunks);
	sqlite3_clear_bindings(c->chunks);
	int arg = 0;
	if (idx_num & IDX_PROCESS_ID)
		sqlite3_bind_value(c->chunks, 1, argv[arg++]);
	if (idx_num & IDX_PID)
		sqlite3_bind_value(c->chunks, 2, argv[arg++]);
	/* "= NULL" matches nothing; unbound parameters mean "any". */
	for (int i = 0; i < arg; i++) {
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
			c->eof = 1;
			return SQLITE_OK;
		}
	}
	c->eof = 0;
	c->n = c->i = 0;
	return next_chunk(c);
}

static int next(sqlite3_vtab_cursor *base)
{
	struct cursor *c = (struct cursor *)base;
	if (++c->i < c->n)
		return SQLITE_OK;
	return next_chunk(c);
}

static int eof(sqlite3_vtab_cursor *base)
{
	return ((struct cursor *)base)->eof;
}

static int column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
	struct cursor *c = (struct cursor *)base;
	const struct mp_alloc_rec *r = &c->recs[c->i];
	switch (col) {
	case COL_ID:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->id);
		break;
	case COL_PID:
		sqlite3_result_int64(ctx, c->pid);
		break;
	case COL_PROCESS_ID:
		sqlite3_result_int64(ctx, c->process_id);
		break;
	case COL_TID:
		sqlite3_result_int64(ctx, r->tid);
		break;
	case COL_KIND:
		sqlite3_result_text(ctx, mp_kind_name(r->kind), -1, SQLITE_STATIC);
		break;
	case COL_SIZE:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->size);
		break;
	case COL_USABLE:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->usable);
		break;
	case COL_ADDRESS:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->address);
		break;
	case COL_STACK:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->stack_id);
		break;
	case COL_ALLOC_NS:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->alloc_ns);
		break;
	case COL_FREE_NS:
		if (r->free_ns < 0)
			sqlite3_result_null(ctx);
		else
			sqlite3_result_int64(ctx, r->free_ns);
		break;
	case COL_POOL:
		if (r->pool)
			sqlite3_result_int64(ctx, r->pool);
		else
			sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

static int rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *out)
{
	struct cursor *c = (struct cursor *)base;
	*out = (sqlite3_int64)c->recs[c->i].id;
	return SQLITE_OK;
}

static const sqlite3_module module = {
        .iVersion = 0,
        .xCreate = NULL, /* eponymous only: no CREATE VIRTUAL TABLE */
        .xConnect = connect,
        .xBestIndex = best_index,
        .xDisconnect = disconnect,
        .xDestroy = disconnect,
        .xOpen = open_cursor,
        .xClose = close_cursor,
        .xFilter = filter,
        .xNext = next,
        .xEof = eof,
        .xColumn = column,
        .xRowid = rowid,
};

int mp_vtab_register(sqlite3 *db)
{
	return sqlite3_create_module(db, "allocations", &module, NULL);
}
