/* Every allocation of a trace, stored as compressed columnar chunks in the
 * table alloc_chunks (schema/memprof.sql), and read back as rows.
 * Shared by the collector (writes), the CLI and the SQLite extension (read).
 */
#ifndef MP_STORE_H
#define MP_STORE_H

#include <stddef.h>
#include <stdint.h>

#define MP_STORE_CHUNK_RECORDS 32768
/* The times of the chunks written now are floored to this (ns): 0.1 ms. */
#define MP_STORE_TICK_NS 100000

struct mp_alloc_rec {
	uint64_t id; /* unique in the trace; allocation order within a process */
	uint32_t tid;
	uint8_t kind;    /* enum mp_kind (lib/wire.h) */
	uint64_t size;   /* requested bytes */
	uint64_t usable; /* malloc_usable_size */
	uint64_t address;
	uint64_t stack_id; /* stacks.id */
	uint64_t alloc_ns; /* since trace start; stored floored to the tick */
	int64_t free_ns;   /* since trace start, floored to the tick; -1 if never freed */
	uint32_t pool;     /* the pool of an MP_KIND_POOL block (memprof.h), else 0 */
};

/* Encodes n records into a newly malloc'ed buffer (*out, *out_len).
   Returns 0, or -1 when out of memory. The caller frees *out. */
int mp_store_encode(const struct mp_alloc_rec *recs, size_t n, void **out, size_t *out_len);

/* Decodes a chunk of `count` records into recs (room for count).
   Returns 0, or -1 when the data is damaged. */
int mp_store_decode(const void *data, size_t len, struct mp_alloc_rec *recs, size_t count);

/* The name of an allocation kind ("malloc", ...), or "unknown". */
const char *mp_kind_name(unsigned kind);
/* The name of a deallocation kind ("free", "delete", "delete[]"), or "unknown". */
const char *mp_free_kind_name(unsigned kind);
/* The deallocation kind that matches an allocation kind (enum mp_free_kind). */
unsigned mp_free_kind_expected(unsigned kind);

#endif
