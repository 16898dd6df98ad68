/* The collector: receives the messages of every traced process and keeps
 * process, thread and module facts; event chunks wait in memory, per
 * stream, until the trace writer (cli/finish.h) has replayed them, which it
 * does while the programs run. Memory grows with what is not replayed yet
 * (normally a few chunks), live blocks and stacks, not with events.
 */
#ifndef MP_COLLECTOR_H
#define MP_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

/* One received events chunk, queued on its stream. */
struct mp_chunk {
	struct mp_chunk *next;
	uint32_t len;
	uint8_t data[];
};

struct mp_stream {
	uint32_t id, tid;
	struct mp_chunk *head, *tail; /* not replayed yet, oldest first */
};

struct mp_image_module {
	uint64_t start, end, bias;
	uint32_t module; /* index into mp_collector.modules */
};

struct mp_replay; /* the trace writer's state of one image (cli/finish.c) */

/* A pool the image created (MP_MSG_POOL). */
struct mp_image_pool {
	uint32_t id;
	char *name;
};

/* A pause, resumption or phase of the image (MP_MSG_CONTROL). */
struct mp_image_control {
	uint64_t stamp, time_ns;
	uint32_t what, flags; /* enum mp_control_what, MP_CONTROL_TSC */
	int applied;          /* the replay has placed it */
	char *name;           /* a phase's name */
};

/* One program image: a process from its start (or fork, or exec) to its
   exit (or exec). */
struct mp_image {
	uint32_t pid, ppid;
	uint32_t run;          /* the collector's run when its first message came */
	uint64_t image;        /* start time in the target's CLOCK_MONOTONIC ns */
	uint64_t parent_image; /* fork child: the parent's image */
	uint64_t fork_seq;
	int have_hello;
	char *argv; /* NUL-separated */
	size_t argv_len;
	uint64_t start_realtime_ns;
	uint64_t last_seen_mono; /* collector's clock when the last message came */
	int exit_sent, have_status, status;
	int have_cost;                   /* the exit told the CPU time and profiler memory */
	uint64_t cpu_ns, profiler_bytes; /* profiler_bytes 0: not measured */
	int exec_sent;
	int waited, wait_status; /* how it ended, from a waitpid (its parent's, or memprof run's) */
	int complete;            /* every message it sent has been received */
	struct mp_stream *streams;
	size_t nstreams;
	struct mp_image_module *mods;
	size_t nmods;
	uint64_t *forks; /* stamps at which it forked (MP_MSG_FORK), ascending */
	size_t nforks;
	struct mp_rss *rss; /* its resident-set samples (MP_MSG_RSS), as received */
	size_t nrss, cap_rss;
	struct mp_image_pool *pools;
	size_t npools;
	struct mp_image_control *controls; /* by stamp, ascending */
	size_t ncontrols;
	struct mp_replay *replay;
	/* A leak scan asked for (MP_MSG_SCAN) and not answered yet: the cut
	   and the socket to answer on. */
	int scan_pending, scan_fd;
	uint64_t scan_stamp;
	uint64_t scan_since; /* collector's clock when it came */
	int scan_gave_up;    /* answered "nothing" as its replay could not start */
};

struct mp_module {
	char *path;
	uint8_t build_id[20];
	uint16_t build_id_len;
};

struct mp_trace; /* the trace being written (cli/finish.c) */

/* One run of the program, as memprof run saw it (memprof run --repeat
   records several into one trace). */
struct mp_run_info {
	uint64_t start_mono, end_mono; /* fork and reap, CLOCK_MONOTONIC ns; 0: unknown */
	int have_status, status;       /* the program's waitpid status */
};

/* Event bytes received and not replayed yet above which the collector
   stops reading and replays, the senders waiting on their sockets, in
   MiB: the default of MEMPROF_BACKLOG_MB (0: no bound). */
#define MP_COLLECTOR_BACKLOG_MB 8

struct mp_collector {
	struct mp_image *images;
	size_t nimages, cap_images;
	struct mp_module *modules;
	size_t nmodules;
	uint64_t messages, bad_messages;
	uint64_t cal_tsc, cal_mono; /* a (TSC, CLOCK_MONOTONIC) pair taken at start */
	struct mp_trace *trace;     /* set by mp_trace_start */
	uint32_t run;               /* the run new images belong to, from 1 */
	struct mp_run_info *runs;   /* runs[k - 1]: run k, for k up to run */
	int passed_fd;              /* the fd that came with the message being handled, or -1 */
	size_t queued_bytes;        /* event chunks received and not taken off their stream yet */
	size_t queued_peak;         /* the largest queued_bytes */
	size_t backlog;             /* the bound on queued_bytes (MEMPROF_BACKLOG_MB); SIZE_MAX: none */
	uint64_t held_ns;           /* time spent replaying with reading held at the bound */
	char errbuf[256];
};

/* Prepares an empty collector. Returns 0, or -1 with errno set. */
int mp_collector_init(struct mp_collector *c);
/* Handles one received message (header included). Returns 0, or -1 if it
   was malformed (counted and skipped) or memory ran out (errbuf set). */
int mp_collector_handle(struct mp_collector *c, const void *msg, size_t len);
/* Marks the last image of pid as ended with a waitpid status, and so
   complete: a dead process sends nothing more. */
void mp_collector_set_wait_status(struct mp_collector *c, pid_t pid, int status);
/* Starts run number c->run + 1: images that appear from now on belong to
   it. Returns 0, or -1 when out of memory. */
int mp_collector_run_begin(struct mp_collector *c);
/* Whether any image of the current run that has not ended is still alive. */
int mp_collector_any_alive(struct mp_collector *c);
void mp_collector_release(struct mp_collector *c);
/* Reads the time-stamp counter and CLOCK_MONOTONIC ns together (the TSC
   is 0 where the machine has none). */
void mp_collector_clock(uint64_t *tsc, uint64_t *mono);
/* CLOCK_MONOTONIC in ns. */
uint64_t mp_collector_now(void);

/* Applies an MP_MSG_REACH of im (cli/finish.c). Returns 0, or -1 when it
   is malformed or answers no scan. */
int mp_trace_reach(struct mp_collector *c, struct mp_image *im, const void *payload, size_t len);
/* Drops an unanswered scan request of im (its socket). */
void mp_collector_scan_drop(struct mp_image *im);

/* Receives messages from fd until every sender is gone, or until
   stop() returns nonzero while the socket is idle; between batches, the
   trace (if started) replays what arrived. Returns 0 or -1. */
int mp_collector_run(struct mp_collector *c, int fd, int (*stop)(struct mp_collector *, void *), void *arg);

#endif
