/* The leak scan's figures in a trace (processes.leak_scan and the
 * unreachable/reachable columns, schema/README.md), for leaks and summary. */
#ifndef MP_REACH_H
#define MP_REACH_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct mp_reach_totals {
	int have;                /* the trace has the leak scan's columns */
	int64_t scanned, failed; /* processes scanned; processes whose scan never finished */
	int64_t unreachable_bytes, unreachable_blocks, reachable_bytes, reachable_blocks;
	/* Leaked in the scanned processes but in neither figure (allocated
	   after the scan began). */
	int64_t unknown_bytes, unknown_blocks;
	int64_t scan_ns; /* summed over the scanned processes */
};

/* Whether the trace has the leak scan's columns (traces made before it do not). */
int mp_reach_has(sqlite3 *db);
/* Sums the figures of the processes with pid (every process if pid < 0)
   into *t (zeroed first; t->have 0 without the columns). Returns 0, or -1
   on an SQLite error. */
int mp_reach_totals(sqlite3 *db, int64_t pid, int64_t run, struct mp_reach_totals *t);

struct mp_json;
/* Writes "leak_scan": the totals as an object, or null when no process
   was scanned nor failed to be. */
void mp_reach_json(struct mp_json *j, const struct mp_reach_totals *t);
/* The text after a leaked figure: " (N unreachable, SIZE)" when a process
   was scanned, else "". */
void mp_reach_text(const struct mp_reach_totals *t, char *buf, size_t size);

#endif
