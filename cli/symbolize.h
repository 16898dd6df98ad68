/* Symbolization with elfutils libdwfl: a code address in an object file
 * becomes its function, source file and line, with the functions inlined
 * there. Debug information is found next to the object, in /usr/lib/debug
 * (by build-id or debuglink), or in the object itself.
 */
#ifndef MP_SYMBOLIZE_H
#define MP_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#define MP_SYM_MAX_INLINED 16

/* One logical frame; NULL/0 when unknown. */
struct mp_sym_frame {
	const char *function, *file;
	int line;
};

/* frame is the real (outermost) function at the address, with the line of
   its outermost inlined call there; inlined lists the functions inlined at
   the address, innermost first, each with its own line. The strings belong
   to the symbolizer and stay valid until its next mp_sym_resolve. */
struct mp_sym_result {
	struct mp_sym_frame frame;
	struct mp_sym_frame inlined[MP_SYM_MAX_INLINED];
	int n_inlined;
};

struct mp_symbolizer;

/* A new symbolizer (free with mp_sym_free), or NULL when out of memory. */
struct mp_symbolizer *mp_sym_new(void);
void mp_sym_free(struct mp_symbolizer *s);

/* Resolves addr, an address in the ELF image of the object at path (its
   p_vaddr space: the run-time address minus the load bias). build_id is
   the object's as recorded (bid_len 0: unknown); an object on disk whose
   build-id differs is not trusted, its separate debug file by build-id is.
   Returns 0 with *r filled (possibly all unknown), or -1 when the object
   could not be read at all (*r all unknown). */
int mp_sym_resolve(struct mp_symbolizer *s, const char *path, const uint8_t *build_id, size_t bid_len, uint64_t addr,
                   struct mp_sym_result *r);

/* The function at addr (as for mp_sym_resolve) from the symbol table
   alone, without a version and demangled: cheap, for deciding what to
   fold while a trace is recorded. NULL when unknown; else valid until the
   next call with s. */
const char *mp_sym_function(struct mp_symbolizer *s, const char *path, const uint8_t *build_id, size_t bid_len,
                            uint64_t addr);

/* The demangled form of a C++ symbol name as a malloc'ed string (the
   caller frees it), or NULL when name is not mangled or cannot be
   demangled (then use name as it is). */
char *mp_sym_demangle(const char *name);

/* --- resolving in the background ------------------------------------------ */

/* A resolved address whose strings belong to the worker. */
struct mp_sym_out {
	char *function, *file;
	int line;
	int n_inlined;
	struct mp_sym_frame *inlined; /* innermost first */
};

struct mp_sym_worker;

/* A worker resolving queued addresses on a thread of its own while the
   trace is recorded, so that little is left when the program ends (free
   with mp_sym_worker_free). NULL when out of memory. When no thread can be
   started, mp_sym_worker_wait resolves the queue itself. */
struct mp_sym_worker *mp_sym_worker_new(void);
void mp_sym_worker_free(struct mp_sym_worker *w);
/* Queues item idx: addr in the object module (the caller's index of
   path and build_id, which stay the same for that index). Returns 0, or -1
   when out of memory. */
int mp_sym_worker_add(struct mp_sym_worker *w, size_t idx, size_t module, const char *path, const uint8_t *build_id,
                      size_t bid_len, uint64_t addr);
/* Waits until every queued item is resolved. */
void mp_sym_worker_wait(struct mp_sym_worker *w);
/* Item idx as resolved, or NULL when it was never queued or could not be
   stored. Valid after mp_sym_worker_wait, until the next add. */
const struct mp_sym_out *mp_sym_worker_get(const struct mp_sym_worker *w, size_t idx);

#endif
