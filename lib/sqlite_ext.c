/* memprof_sqlite.so: a loadable SQLite extension that registers the
 * virtual table `allocations` (lib/vtab.c), so that plain `sqlite3` reads
 * every allocation of a trace:
 *
 *     sqlite3 trace.db '.load /usr/local/lib/memprof/memprof_sqlite' \
 *         'SELECT kind, count(*) FROM allocations GROUP BY kind'
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "vtab.h"

#define MP_EXT_EXPORT __attribute__((visibility("default")))

/* The entry point SQLite derives from the file name memprof_sqlite.so. */
MP_EXT_EXPORT int sqlite3_memprofsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
MP_EXT_EXPORT int sqlite3_memprofsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	SQLITE_EXTENSION_INIT2(api);
	int rc = mp_vtab_register(db);
	if (rc != SQLITE_OK && err)
		*err = sqlite3_mprintf("memprof_sqlite: cannot register the allocations table: %s", sqlite3_errmsg(db));
	return rc;
}
