/* Finishing a trace: orders each process's events, matches frees to
 * allocations, computes the figures, symbolizes, and writes the database.
 */
#ifndef MP_FINISH_H
#define MP_FINISH_H

#include <stddef.h>

#include "collector.h"

struct mp_trace_info {
	char *const *command; /* what memprof ran (NULL-terminated), or NULL */
	int max_depth;
	int force;            /* replace an existing output file */
};

/* Writes the trace of everything c received to output (atomically: a
   temporary file renamed at the end). Returns 0, or -1 with a message in
   err. */
int mp_finish(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err, size_t errlen);

#endif
