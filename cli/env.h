/* The environment a trace is recorded in: the allocator a program runs
 * on (run --allocator), its version, and comparing the meta env_* keys of
 * two traces (diff, check --baseline). */
#ifndef MP_ENV_H
#define MP_ENV_H

#include <sqlite3.h>
#include <stddef.h>

/* An allocator run --allocator knows. */
struct mp_env_allocator {
	const char *name;    /* as --allocator takes it */
	const char *soname;  /* the library to preload; NULL: none (glibc's malloc) */
	const char *package; /* the Debian package that ships it */
};

/* The allocator called name, or NULL when unknown. */
const struct mp_env_allocator *mp_env_allocator(const char *name);
/* The names --allocator takes, "glibc|jemalloc". */
const char *mp_env_allocator_names(void);

/* Asks the dynamic loader where it finds the library soname for a
   program started with this environment (LD_LIBRARY_PATH, ld.so.cache,
   the default directories): runs this executable with
   LD_TRACE_LOADED_OBJECTS=1 and the library preloaded. Writes the path
   into buf and returns 0, or returns -1 when it is not found. */
int mp_env_find_library(const char *soname, char *buf, size_t size);

/* jemalloc's version, read from the library file at path ("5.3.0", or
   "5.3.0-12" for a build 12 commits past the release) into buf. Returns
   0, or -1 when the file holds no version string. */
int mp_env_jemalloc_version(const char *path, char *buf, size_t size);

/* Compares the environments two traces were recorded in (meta env_*:
   host, kernel, cpu, cpus, libc, allocator, allocator settings); when
   they differ, prints one line on stderr, "memprof: warning: 'A' and 'B'
   were recorded in different environments: cpu (X vs Y), ...". Keys that
   one of the traces lacks (a trace from an older memprof) are not
   compared. Returns the number of keys that differ. */
int mp_env_warn(sqlite3 *a, const char *apath, sqlite3 *b, const char *bpath);

#endif
