/* The collector: receives the messages of every traced process, keeps
 * process, thread and module facts in memory and spools event chunks to a
 * temporary file; mp_finish (cli/finish.h) turns them into the trace.
 */
#ifndef MP_COLLECTOR_H
#define MP_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

struct mp_chunk_ref {
	uint64_t offset; /* in the spool */
	uint32_t len;
};

struct mp_stream {
	uint32_t id, tid;
	struct mp_chunk_ref *chunks;
	size_t nchunks, cap;
};

struct mp_image_module {
	uint64_t start, end, bias;
	uint32_t module; /* index into mp_collector.modules */
};

enum mp_origin { MP_ORIGIN_START, MP_ORIGIN_FORK, MP_ORIGIN_EXEC };

/* One program image: a process from its start (or fork, or exec) to its
   exit (or exec). */
struct mp_image {
	uint32_t pid, ppid;
	uint64_t image;           /* start time in the target's CLOCK_MONOTONIC ns */
	uint64_t parent_image;    /* fork child: the parent's image */
	uint64_t fork_seq;
	int have_hello;
	char *argv;               /* NUL-separated */
	size_t argv_len;
	uint64_t start_realtime_ns;
	uint64_t last_seen_mono;  /* collector's clock when the last message came */
	int exit_sent, have_status, status;
	int exec_sent;
	int waited, wait_status;  /* status learned from waitpid (memprof run's child) */
	struct mp_stream *streams;
	size_t nstreams;
	struct mp_image_module *mods;
	size_t nmods;
};

struct mp_module {
	char *path;
	uint8_t build_id[20];
	uint16_t build_id_len;
};

struct mp_collector {
	int spool_fd;
	uint64_t spool_size;
	uint8_t *wbuf;     /* spool write buffer */
	size_t wlen;
	struct mp_image *images;
	size_t nimages, cap_images;
	struct mp_module *modules;
	size_t nmodules;
	uint64_t messages, bad_messages;
	uint64_t cal_tsc, cal_mono; /* a (TSC, CLOCK_MONOTONIC) pair taken at start */
	char errbuf[256];
};

/* Prepares a collector whose spool lives next to output (a temporary,
   already unlinked file). Returns 0, or -1 with errno set. */
int mp_collector_init(struct mp_collector *c, const char *output);
/* Handles one received message (header included). Returns 0, or -1 if it
   was malformed (counted and skipped). */
int mp_collector_handle(struct mp_collector *c, const void *msg, size_t len);
/* Writes out the spool buffer. Returns 0 or -1 with errno set. */
int mp_collector_flush(struct mp_collector *c);
/* Marks the image of pid started by memprof run with its waitpid status. */
void mp_collector_set_wait_status(struct mp_collector *c, pid_t pid, int status);
/* Whether any image that has not ended is still alive. */
int mp_collector_any_alive(struct mp_collector *c);
void mp_collector_release(struct mp_collector *c);
/* Reads the time-stamp counter and CLOCK_MONOTONIC ns together (the TSC
   is 0 where the machine has none). */
void mp_collector_clock(uint64_t *tsc, uint64_t *mono);

/* Receives messages from fd until every sender is gone, or until
   stop() returns nonzero while the socket is idle. Returns 0 or -1. */
int mp_collector_run(struct mp_collector *c, int fd, int (*stop)(struct mp_collector *, void *), void *arg);

#endif
