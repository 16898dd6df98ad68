/* memprof.h: tell memprof about your program.
 *
 * Header only: a program that includes it needs no library and runs
 * unchanged without memprof (every call then does nothing). Under memprof
 * (memprof run, or LD_PRELOAD=libmemprof.so) the calls reach the profiler
 * through a table that libmemprof.so exports, looked up once per source
 * file with dlsym (glibc 2.34 or later has it in libc; older ones need
 * -ldl).
 *
 *   memprof_pool_t pool = memprof_pool_create("parser");
 *   memprof_alloc(pool, p, n);          a block of a pool: a site, kind 'pool'
 *   memprof_realloc(pool, old, p, n);   old moved to p (n bytes)
 *   memprof_free(pool, p);
 *   memprof_pause(); memprof_resume();  stop and restart recording allocations
 *   memprof_phase("load");              a named phase starts now
 *
 * memprof_alloc, memprof_realloc and memprof_free are macros so that the
 * recorded stack starts at their caller; the functions of the same names
 * are there for taking their address. Their arguments are evaluated once,
 * with or without memprof. Usable from C (C99 on) and C++.
 */
#ifndef MEMPROF_H
#define MEMPROF_H

#include <dlfcn.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMPROF_API_VERSION 1

/* A pool: NULL without memprof, or when the pool could not be made. */
typedef struct memprof_pool *memprof_pool_t;

/* The table libmemprof.so exports as memprof_api_v1. Later versions only
   append members (version and size say which are there). */
struct memprof_api_v1 {
	unsigned version; /* MEMPROF_API_VERSION of the library */
	unsigned size;    /* sizeof the library's table */
	memprof_pool_t (*pool_create)(const char *name);
	void (*alloc)(memprof_pool_t pool, const void *ptr, size_t size);
	void (*free)(memprof_pool_t pool, const void *ptr);
	void (*realloc)(memprof_pool_t pool, const void *old_ptr, const void *new_ptr, size_t size);
	void (*pause)(void);
	void (*resume)(void);
	void (*phase)(const char *name);
};

/* The calls' targets without memprof. */
static inline memprof_pool_t memprof__nop_pool_create(const char *name)
{
	(void)name;
	return (memprof_pool_t)0;
}
static inline void memprof__nop_alloc(memprof_pool_t pool, const void *ptr, size_t size)
{
	(void)pool;
	(void)ptr;
	(void)size;
}
static inline void memprof__nop_free(memprof_pool_t pool, const void *ptr)
{
	(void)pool;
	(void)ptr;
}
static inline void memprof__nop_realloc(memprof_pool_t pool, const void *old_ptr, const void *new_ptr, size_t size)
{
	(void)pool;
	(void)old_ptr;
	(void)new_ptr;
	(void)size;
}
static inline void memprof__nop_void(void)
{
}
static inline void memprof__nop_phase(const char *name)
{
	(void)name;
}

/* The library's table, or a table of functions that do nothing. Looked
   up on the first call (from any thread: a race only looks it up twice). */
static inline const struct memprof_api_v1 *memprof__api(void)
{
	static const struct memprof_api_v1 nop = {
	        MEMPROF_API_VERSION, sizeof(struct memprof_api_v1), memprof__nop_pool_create, memprof__nop_alloc,
	        memprof__nop_free,   memprof__nop_realloc,          memprof__nop_void,        memprof__nop_void,
	        memprof__nop_phase};
	static const struct memprof_api_v1 *cache;
	const struct memprof_api_v1 *api = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);
	if (!api) {
		/* (void *)0 is RTLD_DEFAULT, which needs _GNU_SOURCE. */
		api = (const struct memprof_api_v1 *)dlsym((void *)0, "memprof_api_v1");
		if (!api || api->version < 1 || api->size < sizeof(struct memprof_api_v1))
			api = &nop;
		__atomic_store_n(&cache, api, __ATOMIC_RELEASE);
	}
	return api;
}

/* Whether the program runs under memprof. */
static inline int memprof_present(void)
{
	return memprof__api()->pool_create != memprof__nop_pool_create;
}

/* Makes a pool named name (its blocks are listed by
   'memprof top --pool NAME'); pools with the same name are counted
   apart but listed together. */
static inline memprof_pool_t memprof_pool_create(const char *name)
{
	return memprof__api()->pool_create(name);
}

/* ptr (size bytes) was handed out by pool: recorded with the caller's stack. */
static inline void(memprof_alloc)(memprof_pool_t pool, const void *ptr, size_t size)
{
	memprof__api()->alloc(pool, ptr, size);
}
#define memprof_alloc(pool, ptr, size) (memprof__api()->alloc((pool), (ptr), (size)))

/* ptr went back to pool. */
static inline void(memprof_free)(memprof_pool_t pool, const void *ptr)
{
	memprof__api()->free(pool, ptr);
}
#define memprof_free(pool, ptr) (memprof__api()->free((pool), (ptr)))

/* The pool resized old_ptr into new_ptr (size bytes). old_ptr NULL: an
   allocation; new_ptr NULL: a free when size is 0, else a failure that
   left old_ptr as it was. */
static inline void(memprof_realloc)(memprof_pool_t pool, const void *old_ptr, const void *new_ptr, size_t size)
{
	memprof__api()->realloc(pool, old_ptr, new_ptr, size);
}
#define memprof_realloc(pool, old_ptr, new_ptr, size) (memprof__api()->realloc((pool), (old_ptr), (new_ptr), (size)))

/* Stops recording allocations in the whole process until memprof_resume
   (frees are still recorded, so that blocks allocated before and freed
   during the pause are not leaks). The trace lists the pauses. */
static inline void memprof_pause(void)
{
	memprof__api()->pause();
}

static inline void memprof_resume(void)
{
	memprof__api()->resume();
}

/* A phase named name starts now, in this process; it lasts until the
   next one or the end. */
static inline void memprof_phase(const char *name)
{
	memprof__api()->phase(name);
}

#ifdef __cplusplus
}
#endif

#endif
