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

/* The demangled form of a C++ symbol name as a malloc'ed string (the
   caller frees it), or NULL when name is not mangled or cannot be
   demangled (then use name as it is). */
char *mp_sym_demangle(const char *name);

#endif
