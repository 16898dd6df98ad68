/* Folding allocator wrappers out of stacks: the frames of functions whose
 * names match a pattern (operator new, std::allocator<...>::allocate, the
 * standard library's containers, ...) are removed from the innermost end of
 * each stack, so that a stack begins in the program's own code. The
 * collector folds when it stores a stack (cli/finish.c); the patterns it
 * used are recorded in the trace's meta 'fold'.
 */
#ifndef MP_FOLD_H
#define MP_FOLD_H

#include <stddef.h>

/* The default patterns, ';'-separated. */
#define MP_FOLD_DEFAULT "operator new*;operator delete*;std::*;__gnu_cxx::*;__cxa_*"

struct mp_fold {
	char **v; /* glob patterns (fnmatch), owned */
	size_t n;
	char *joined; /* every pattern, ';'-separated (the meta value) */
};

/* Fills fold with the patterns of each ';'-separated list in lists
   (NULL-terminated; NULL entries and empty patterns are skipped). Returns
   0, or -1 when out of memory (fold then holds nothing). */
int mp_fold_init(struct mp_fold *fold, const char *const *lists, size_t nlists);
void mp_fold_free(struct mp_fold *fold);

/* Whether a function (a demangled name, as the frames table has it) is
   folded: some pattern matches the whole name, or the name without its
   return type (template functions demangle with one: "void std::...").
   NULL never is. */
int mp_fold_match(const struct mp_fold *fold, const char *function);

#endif
