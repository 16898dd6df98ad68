/* Writing a trace while the programs run: the collector's messages are
 * replayed per program image as soon as their order is known (events are
 * merged by the stamp the target put on each; a quiet thread's marks say
 * it holds nothing older), matching frees to allocations, computing the
 * figures and storing every allocation. The trace file is written in
 * place, checkpointed every second as an interrupted trace ('state' is
 * 'recording'), and finished with symbols and every figure.
 */
#ifndef MP_FINISH_H
#define MP_FINISH_H

#include <stddef.h>

#include "collector.h"

/* A phase marked from outside the programs (memprof run --phase-after). */
struct mp_phase_after {
	uint64_t time_ns; /* CLOCK_MONOTONIC */
	const char *name;
};

struct mp_trace_info {
	char *const *command;                /* what memprof ran (NULL-terminated), or NULL */
	const struct mp_phase_after *phases; /* in every process running then, by time */
	size_t nphases;
	int max_depth;
	int force; /* replace an existing output file */
};

/* Creates the trace at output (refusing an existing file unless
   info->force) and attaches it to c: from then on mp_collector_run
   replays while it receives. Returns 0, or -1 with a message in err. */
int mp_trace_start(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err,
                   size_t errlen);
/* Replays what can be replayed, a slice at a time, and checkpoints when
   one is due. Returns 0 (done), 1 (more to replay: call again after
   looking for messages), or -1 with the reason in c->errbuf (the trace
   then stays as last checkpointed). */
int mp_trace_progress(struct mp_collector *c);

/* Ends the current run (memprof run --repeat): every image of it is
   complete, and is replayed and written now; the trace is checkpointed.
   Returns 0, or -1 with the reason in c->errbuf. */
int mp_trace_run_end(struct mp_collector *c);

/* Finishes the trace of everything c received (starting it first if
   mp_trace_start was not called): every image is complete now. Returns 0,
   or -1 with a message in err. info may be NULL. */
int mp_finish(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err, size_t errlen);

#endif
