/* The virtual table `allocations`: one row per allocation of a trace,
 * decoded from alloc_chunks (lib/store.h). Eponymous: no CREATE needed.
 *
 * Columns: id, pid, process_id, tid, kind (text), size, usable_size,
 * address, stack_id, alloc_time_ns, free_time_ns (NULL if never freed).
 */
#ifndef MP_VTAB_H
#define MP_VTAB_H

#include <sqlite3.h>

/* Registers the module on db. Returns an SQLite result code. */
int mp_vtab_register(sqlite3 *db);

#endif
