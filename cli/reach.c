/* The leak scan's figures in a trace; see cli/reach.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "reach.h"
#include "util.h"

int mp_reach_has(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = sqlite3_prepare_v2(db, "SELECT leak_scan, unreachable_bytes FROM main.processes LIMIT 0;", -1, &st,
	                            NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	ok = ok && sqlite3_prepare_v2(db, "SELECT unreachable_bytes, reachable_blocks FROM main.sites LIMIT 0", -1, &st,
	                              NULL) == SQLITE_OK;
	if (ok)
		sqlite3_finalize(st);
	return ok;
}

int mp_reach_totals(sqlite3 *db, int64_t pid, int64_t run, struct mp_reach_totals *t)
{
	memset(t, 0, sizeof(*t));
	if (!mp_reach_has(db))
		return 0;
	t->have = 1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       run > 0 ? "SELECT leak_scan, leaked_bytes, leaked_blocks, unreachable_bytes,"
	                                 " unreachable_blocks, reachable_bytes, reachable_blocks, leak_scan_ns"
	                                 " FROM main.processes WHERE (?1 < 0 OR pid = ?1) AND leak_scan IS NOT NULL"
	                                 " AND run = ?2"
	                               : "SELECT leak_scan, leaked_bytes, leaked_blocks, unreachable_bytes,"
	                                 " unreachable_blocks, reachable_bytes, reachable_blocks, leak_scan_ns"
	                                 " FROM main.processes WHERE (?1 < 0 OR pid = ?1) AND leak_scan IS NOT NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, pid);
	if (run > 0)
		sqlite3_bind_int64(st, 2, run);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		if (!state || strcmp(state, "done")) {
			t->failed++;
			continue;
		}
		int64_t v[7];
		for (int i = 0; i < 7; i++)
			v[i] = sqlite3_column_int64(st, 1 + i);
		t->scanned++;
		t->unreachable_bytes = mp_add_sat(t->unreachable_bytes, v[2]);
		t->unreachable_blocks = mp_add_sat(t->unreachable_blocks, v[3]);
		t->reachable_bytes = mp_add_sat(t->reachable_bytes, v[4]);
		t->reachable_blocks = mp_add_sat(t->reachable_blocks, v[5]);
		t->unknown_bytes = mp_add_sat(t->unknown_bytes, v[0] - v[2] - v[4]);
		t->unknown_blocks = mp_add_sat(t->unknown_blocks, v[1] - v[3] - v[5]);
		t->scan_ns = mp_add_sat(t->scan_ns, v[6]);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void mp_reach_json(struct mp_json *j, const struct mp_reach_totals *t)
{
	mp_json_key(j, "leak_scan");
	if (!t->scanned && !t->failed) {
		mp_json_null(j);
		return;
	}
	mp_json_object_begin(j, 0);
	mp_json_kv_int(j, "scanned_processes", t->scanned);
	mp_json_kv_int(j, "failed_processes", t->failed);
	mp_json_kv_int(j, "unreachable_bytes", t->unreachable_bytes);
	mp_json_kv_int(j, "unreachable_blocks", t->unreachable_blocks);
	mp_json_kv_int(j, "reachable_bytes", t->reachable_bytes);
	mp_json_kv_int(j, "reachable_blocks", t->reachable_blocks);
	mp_json_kv_int(j, "unknown_bytes", t->unknown_bytes);
	mp_json_kv_int(j, "unknown_blocks", t->unknown_blocks);
	mp_json_kv_int(j, "scan_ns", t->scan_ns);
	mp_json_object_end(j);
}

void mp_reach_text(const struct mp_reach_totals *t, char *buf, size_t size)
{
	char a[MP_HUMAN_MAX];
	if (!t->scanned)
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, " (%" PRId64 " unreachable, %s)", t->unreachable_blocks,
		         mp_human_size(t->unreachable_bytes, a, sizeof(a)));
}
