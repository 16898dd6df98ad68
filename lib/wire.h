/* The wire format between libmemprof.so (in the target) and the collector.
 *
 * Every message is one SOCK_SEQPACKET datagram: a struct mp_msg_hdr and a
 * payload. Messages from one thread arrive in the order it sent them.
 * MP_MSG_EVENTS payloads are self-contained chunks of varint-encoded events
 * of one thread ("stream"); deltas restart at every chunk, stack ids are
 * local to the stream and defined (MP_EV_STACK) before their first use.
 * Shared by lib/ (encoder) and cli/ (decoder); see doc in schema/README.md.
 */
#ifndef MP_WIRE_H
#define MP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MP_WIRE_MAGIC 0x4d505731u /* "MPW1" */
#define MP_WIRE_VERSION 1
#define MP_CHUNK_BYTES (60 * 1024) /* payload bound of an events message */
#define MP_MSG_MAX (MP_CHUNK_BYTES + 4096)

enum mp_msg_type {
	MP_MSG_HELLO = 1,      /* a program image starts: struct mp_hello + argv */
	MP_MSG_EVENTS = 2,     /* a chunk of events of one stream */
	MP_MSG_MODULES = 3,    /* the full module map: mp_module_rec records */
	MP_MSG_EXIT = 4,       /* u32 status (as from waitpid) */
	MP_MSG_EXEC = 5,       /* the image is about to exec */
	MP_MSG_THREAD = 6,     /* a stream starts: u32 tid */
	MP_MSG_DISCONNECT = 7, /* a process closes its connection on purpose */
	MP_MSG_CHILD = 8,      /* a child was reaped: u32 pid, u32 status (as from waitpid) */
	MP_MSG_FORK = 9,       /* the image is about to fork: u64 stamp (the child's fork_seq) */
	MP_MSG_RSS = 10,       /* a resident-set sample of the image: struct mp_rss */
	MP_MSG_POOL = 11,      /* a pool was created (memprof.h): u32 pool id, then its name (no NUL) */
	MP_MSG_CONTROL = 12,   /* struct mp_control, then a phase's name (no NUL) */
	MP_MSG_SCAN = 13,      /* the image asks for its live blocks (leak scan): struct mp_scan_req,
	                          with a reply socket passed as SCM_RIGHTS */
	MP_MSG_REACH = 14,     /* the leak scan's result: struct mp_reach + bitmap */
};

/* Payload of MP_MSG_CONTROL: a change of the recording state or a phase
   mark, at stamp (the same clock as the events' seq) and time_ns
   (CLOCK_MONOTONIC; with MP_CONTROL_TSC the collector derives the time
   from the stamp, as it does for events). */
struct mp_control {
	uint64_t stamp;
	uint64_t time_ns;
	uint32_t what; /* enum mp_control_what */
	uint32_t flags;
};

enum mp_control_what {
	MP_CONTROL_PAUSE = 1,  /* from now on, allocations are not recorded (frees still are) */
	MP_CONTROL_RESUME = 2, /* allocations are recorded again */
	MP_CONTROL_PHASE = 3,  /* a named phase starts (it lasts until the next one) */
};

#define MP_CONTROL_TSC 0x01
#define MP_NAME_MAX 255 /* bytes of a pool's or a phase's name */

struct mp_msg_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t version;
	uint32_t pid;
	uint32_t stream; /* thread stream id within the image; 0 for process messages */
	uint64_t image;  /* CLOCK_MONOTONIC ns at the image's start: (pid, image) names it */
	uint32_t len;    /* payload bytes after this header */
	uint32_t reserved;
};

/* Payload of MP_MSG_EXIT. Older senders stop after status. */
struct mp_exit {
	uint32_t have_status, status;
	uint64_t cpu_ns;           /* the process's CPU time (user + system), all threads */
	uint64_t profiler_bytes;   /* the profiler's own heap in the process at its largest */
	uint64_t profiler_samples; /* how often that was measured (0: never, the figure is unknown) */
};

/* Payload of MP_MSG_HELLO, followed by argv as NUL-terminated strings. */
struct mp_hello {
	uint32_t ppid;
	uint32_t argc;
	uint64_t parent_image; /* fork child: the parent's image; else 0 */
	uint64_t fork_seq;     /* fork child: the parent's sequence number at fork */
	uint64_t start_realtime_ns;
	uint64_t start_mono_ns;
};

/* Payload of MP_MSG_RSS, sent by the flusher thread every MEMPROF_RSS_MS
   (10 ms) and once at the image's end (exit, exec, fatal signal). stamp is
   an event stamp (same clock as the events' seq: the replay places the
   sample among them); time is CLOCK_MONOTONIC ns. peak_rss_bytes is the
   kernel's high-water mark (VmHWM), in the last sample only; else 0. */
struct mp_rss {
	uint64_t stamp;
	uint64_t time_ns;
	uint64_t rss_bytes;  /* resident set (statm resident) */
	uint64_t anon_bytes; /* resident, not file-backed nor shared (statm resident - shared) */
	uint64_t peak_rss_bytes;
};

/* The leak scan at exit (lib/reach.c, cli/finish.c). The image closes
   every thread's buffer with a mark stamped after `stamp` and sends
   MP_MSG_SCAN with one end of a new SOCK_SEQPACKET socket pair. Once the
   replay has every event before `stamp`, the collector answers on that
   socket with one struct mp_scan_reply, passing (SCM_RIGHTS) a memfd that
   holds `count` struct mp_scan_block, the image's live blocks (heap and
   mappings) by ascending address; count 0: nothing to scan (no fd). The
   image marks what its roots reach and sends MP_MSG_REACH messages whose
   bitmaps say, in that order, which blocks are reachable. */
struct mp_scan_req {
	uint64_t stamp;
	uint64_t reserved;
};

struct mp_scan_reply {
	uint64_t stamp; /* the request's */
	uint64_t count;
};

struct mp_scan_block {
	uint64_t addr, size;
	uint64_t usable; /* heap blocks: size + slack (malloc_usable_size); mappings: 0 */
	uint64_t flags;  /* MP_SCAN_* */
};

/* A block allocated by the dynamic loader (a thread's DTV, dynamic TLS):
   reachable, and a root, as LeakSanitizer treats them (glibc keeps the
   pointers to them in memory no scan sees, e.g. cached thread stacks). */
#define MP_SCAN_ROOT 0x1

/* Payload of MP_MSG_REACH, followed by ceil(nbits / 8) bytes: bit i
   (byte i / 8, bit i % 8) set when block first + i is reachable. */
struct mp_reach {
	uint64_t stamp; /* the request's */
	uint64_t first, nbits;
	uint64_t total;   /* the reply's count: the last message has first + nbits == total */
	uint64_t scan_ns; /* how long the image took to scan (CLOCK_MONOTONIC), in every message */
};

#define MP_REACH_BITS (48 * 1024 * 8) /* bitmap bits in one MP_MSG_REACH */

/* One module of MP_MSG_MODULES, followed by the path (path_len bytes, no NUL). */
struct mp_module_rec {
	uint64_t bias;  /* load bias (dlpi_addr) */
	uint64_t start; /* lowest mapped address of the module's PT_LOAD segments */
	uint64_t end;   /* one past the highest */
	uint8_t build_id[20];
	uint16_t build_id_len;
	uint16_t path_len;
	uint32_t reserved;
};

/* Event tags: low nibble the event, high nibble the allocation kind
   (MP_EV_ALLOC) or the deallocation kind (MP_EV_FREE, enum mp_free_kind). */
enum mp_event {
	MP_EV_ALLOC = 1,    /* seq, time, ptr, size, slack, stack; kind MP_KIND_MMAP: then flags (MP_MAP_*);
	                       kind MP_KIND_POOL: then the pool id */
	MP_EV_FREE = 2,     /* seq, time, ptr; then, by deallocation kind: delete, delete[]: the
	                       deallocating stack; munmap: the length unmapped; pool: the pool id */
	MP_EV_STACK = 3,    /* depth, ips (first absolute, then zigzag deltas) */
	MP_EV_REVIVE = 4,   /* seq, time, ptr: a realloc failed, its old block lives on */
	MP_EV_INTERNAL = 5, /* seq, time, ptr: a block the program's allocator gave the profiler's
	                       own work (e.g. glibc's TLS for libunwind): its free is no leak's */
	MP_EV_MARK = 6,     /* seq, time, ptr (unchanged): the stream has no event before seq
	                       that was not sent already (from the flusher, for quiet threads) */
	MP_EV_END = 7,      /* seq, time, ptr (unchanged): the stream ends (its thread exited) */
	MP_EV_COST = 8,     /* cycles, samples, waits: the time (TSC cycles) the profiler's recording
	                       took in this stream's hooks, summed over a sample of its events, how
	                       many were summed, and how many sampled events took so long that the
	                       thread must have waited (left out); running totals */
};

/* Allocation kinds, stored in the trace (allocations.kind). */
enum mp_kind {
	MP_KIND_MALLOC = 0,
	MP_KIND_CALLOC = 1,
	MP_KIND_REALLOC = 2,
	MP_KIND_REALLOCARRAY = 3,
	MP_KIND_POSIX_MEMALIGN = 4,
	MP_KIND_ALIGNED_ALLOC = 5,
	MP_KIND_MEMALIGN = 6,
	MP_KIND_VALLOC = 7,
	MP_KIND_PVALLOC = 8,
	MP_KIND_MALLOCX = 9,
	MP_KIND_RALLOCX = 10,
	MP_KIND_XALLOCX = 11,
	MP_KIND_NEW = 12,       /* operator new, and its nothrow and aligned forms */
	MP_KIND_NEW_ARRAY = 13, /* operator new[], and its nothrow and aligned forms */
	MP_KIND_MMAP = 14,      /* an anonymous private mapping (mmap, mmap64, mremap); not heap */
	MP_KIND_POOL = 15,      /* a block a pool allocator reported (memprof.h); its event ends
	                           with a varint: the pool id */
	MP_KIND_COUNT
};

/* Deallocation kinds: the high nibble of an MP_EV_FREE tag. */
enum mp_free_kind {
	MP_FREE_FREE = 0,         /* free, realloc's release, dallocx, sdallocx */
	MP_FREE_DELETE = 1,       /* operator delete, every form: then the deallocating stack */
	MP_FREE_DELETE_ARRAY = 2, /* operator delete[], every form: then the deallocating stack */
	MP_FREE_MUNMAP = 3,       /* munmap, or the old range of an mremap: ptr and length, page-aligned;
	                             may cover part of a mapping, or several, or none recorded */
	MP_FREE_POOL = 4,         /* a block reported freed to its pool (memprof.h); its event ends
	                             with a varint: the pool id */
	MP_FREE_KIND_COUNT
};

/* Flags of an MP_KIND_MMAP allocation. */
#define MP_MAP_REMAP \
	0x1 /* made by mremap from the range the stream's previous event (an \
	       MP_FREE_MUNMAP) released: a mapping only if that range was one */

/* The first byte of an events payload: chunk flags. With MP_CHUNK_TSC,
   sequence numbers are the CPU's time-stamp counter (synchronized across
   cores, read after the real allocation returned and before the real free
   began), events carry no separate time, and the collector converts TSC
   to nanoseconds. Without it, seq comes from a global counter and each
   event carries CLOCK_MONOTONIC nanoseconds. */
#define MP_CHUNK_TSC 0x01

/* The frame address that marks a stack cut at the depth limit. */
#define MP_IP_TRUNCATED ((uint64_t)1)

static inline uint8_t *mp_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t mp_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t mp_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Reads a varint at *pp, not past end. Returns 0, or -1 on a truncated or
   overlong varint (then *pp is unspecified). */
static inline int mp_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* One decoded event (an munmap's length is in size). For MP_EV_STACK, ips
   points into the chunk buffer's copy made by the decoder (valid until the
   next call); MP_EV_COST puts its cycles in size, its samples in stack and
   its waits in slack. */
struct mp_event_rec {
	uint8_t type, kind;
	uint64_t seq, time, ptr, size, slack, stack;
	uint64_t flags; /* MP_KIND_MMAP allocations: MP_MAP_*; else 0 */
	uint32_t depth;
	const uint64_t *ips;
	uint64_t pool; /* MP_KIND_POOL: the pool id */
};

/* Incremental decoder of one events chunk. */
struct mp_chunk_reader {
	const uint8_t *p, *end;
	int tsc; /* MP_CHUNK_TSC: time is the caller's to derive from seq */
	uint64_t seq, time, ptr;
	uint64_t ips[256 + 8];
};

void mp_chunk_reader_init(struct mp_chunk_reader *r, const void *data, size_t len);

/* Decodes the next event. Returns 1 with *ev filled, 0 at the end of the
   chunk, -1 on malformed data. */
int mp_chunk_next(struct mp_chunk_reader *r, struct mp_event_rec *ev);

#define MP_MAX_DEPTH_LIMIT 256

#endif
