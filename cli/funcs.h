/* Allocations per function, from the sites table and the stacks trie (never
 * the per-allocation table), for `memprof functions` and `memprof annotate`.
 *
 * A function is a name with its source file (its module when the file is
 * unknown; frames without a name are one "??" per module). Inlined frames
 * are functions of their own. Frames of allocation functions at the inner
 * end of a stack (operator new and new[], ld.so's malloc and calloc, any
 * malloc, calloc, realloc, ... that forwards to the allocator) belong to
 * the allocator: they are dropped, so that the function that called them
 * is the one that allocated. A stack's truncation mark is no function. */
#ifndef MP_FUNCS_H
#define MP_FUNCS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"

struct mp_buf;

/* No function: a truncation mark. */
#define MP_FUNCS_NONE UINT32_MAX

struct mp_funcs_fn {
	const char *function, *file, *module; /* the loader's strings; NULL when unknown */
	/* self: it is the innermost frame; total: it is anywhere in the stack
	   (a site counts once however often the function recurses) */
	int64_t self_allocations, self_bytes, self_leaked_bytes;
	int64_t total_allocations, total_bytes, total_leaked_bytes;
	uint64_t stamp; /* the last site counted in total */
};

/* One row of the sites table. */
struct mp_funcs_site {
	int64_t stack_id, allocations, bytes, leaked_bytes;
};

/* A site being visited: frames innermost first with their functions. */
struct mp_funcs_visit {
	const struct mp_funcs_site *site;
	const struct mp_stack *stack;
	const uint32_t *fn; /* fn[i]: the function of stack->v[i], or MP_FUNCS_NONE */
	size_t first;       /* the innermost frame past the allocator's wrappers */
	uint64_t serial;    /* distinct for every visit, never 0 */
};

struct mp_funcs_frame_slot; /* frame → function cache */
struct mp_funcs_key_slot;   /* (name, file) → function */

struct mp_funcs {
	struct mp_stack_loader loader;
	struct mp_funcs_fn *v; /* every function in the sites read */
	size_t n, cap;
	struct mp_funcs_site *sites;
	size_t nsites, sites_cap;
	int64_t allocations, bytes, leaked_bytes; /* sums over the sites */
	char err[256];                            /* why the last call failed */
	/* private */
	struct mp_funcs_frame_slot *frames;
	size_t frames_cap, frames_used;
	struct mp_funcs_key_slot *keys;
	size_t keys_cap;
	struct mp_stack stack;
	uint32_t *ids;
	size_t ids_cap;
	uint64_t serial;
};

/* Reads the sites of the processes with that pid (every one when pid < 0)
   from table ("main.sites", or a window's: cli/window.h) and their stacks,
   and sums every function's figures. Returns 0, or -1 with f->err set
   ("damaged trace: ..."); call mp_funcs_fini either way. */
int mp_funcs_load(struct mp_funcs *f, sqlite3 *db, const char *table, int64_t pid);
/* Fills v with site i (< f->nsites); v is valid until the next call.
   Returns 0, or -1 with f->err set. */
int mp_funcs_visit(struct mp_funcs *f, size_t i, struct mp_funcs_visit *v);
void mp_funcs_fini(struct mp_funcs *f);

/* The functions named name, or else those whose name contains it, most
   total bytes first, into a malloc'ed *out (the caller frees it). Sets
   *exact to 1 for exact matches. Returns how many matched. */
size_t mp_funcs_match(const struct mp_funcs *f, const char *name, uint32_t **out, int *exact);
/* Appends "name (file)", "name (module)" or "?? (module)". */
void mp_funcs_format(const struct mp_funcs_fn *fn, struct mp_buf *b);
/* Writes "function", "file", "module" keys of fn into the open object. */
void mp_funcs_json(struct mp_json *j, const struct mp_funcs_fn *fn);

/* --- figures by a 64-bit key (a function pair, a line) ------------------- */

struct mp_funcs_cell {
	uint64_t key, stamp; /* stamp: the last visit counted in total */
	int64_t self_allocations, self_bytes, self_leaked_bytes;
	int64_t total_allocations, total_bytes, total_leaked_bytes;
	uint32_t fn; /* free for the caller's use (annotate: the line's function) */
	int used;
};

struct mp_funcs_map {
	struct mp_funcs_cell *v;
	size_t cap, used;
};

/* The cell of key, added with zero figures when missing; valid until the
   next call. */
struct mp_funcs_cell *mp_funcs_map_get(struct mp_funcs_map *m, uint64_t key);
/* Adds v's site to the cell's total once per visit, and to its self when
   self is set. */
void mp_funcs_cell_add(struct mp_funcs_cell *c, const struct mp_funcs_visit *v, int self);
/* The used cells, compacted to the front of m->v (m is unusable after,
   but for mp_funcs_map_free); returns how many. */
size_t mp_funcs_map_compact(struct mp_funcs_map *m);
void mp_funcs_map_free(struct mp_funcs_map *m);

#endif
