/* Declarations shared by the files of libmemprof.so (the preload library).
 * Everything here has hidden visibility: only the interposed functions in
 * lib/preload.c are exported (lib/exports.map).
 */
#ifndef MP_INTERNAL_H
#define MP_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

#define MP_HIDDEN __attribute__((visibility("hidden")))
#define MP_LIKELY(x) __builtin_expect(!!(x), 1)
#define MP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The private allocator: a symbol-renamed copy of jemalloc linked into
   libmemprof.so (see Makefile.am), never the heap the target uses. */
void *mpje_malloc(size_t size);
void *mpje_calloc(size_t n, size_t size);
void *mpje_realloc(void *ptr, size_t size);
void mpje_free(void *ptr);
int mpje_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* Recording states of the process (mp_state). */
enum { MP_OFF = 0, MP_STARTING = 1, MP_ON = 2, MP_STOPPED = 3 };
extern _Atomic int mp_state MP_HIDDEN;

/* Identity of this program image. */
extern pid_t mp_pid MP_HIDDEN;
extern uint64_t mp_image MP_HIDDEN;
extern atomic_uint_fast64_t mp_seq MP_HIDDEN;
extern int mp_use_tsc MP_HIDDEN; /* stamps are TSC values (lib/wire.h, MP_CHUNK_TSC) */
extern int mp_max_depth MP_HIDDEN;

/* The real allocation functions, resolved with dlsym(RTLD_NEXT). */
struct mp_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	void *(*mallocx)(size_t, int);
	void *(*rallocx)(void *, size_t, int);
	size_t (*xallocx)(void *, size_t, size_t, int);
	size_t (*sallocx)(const void *, int);
	void (*dallocx)(void *, int);
	void (*sdallocx)(void *, size_t, int);
	size_t (*nallocx)(size_t, int);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
};
extern struct mp_real mp_real MP_HIDDEN;

/* Per-thread recording state (lib/thread.c). */
struct mp_thread;

/* What the C++ runtime allocates or frees for one of our operator new or
   delete forms (lib/preload.c), read by the hooks it reaches. Every
   thread state begins with its busy word and then these flags, so that a
   hook reads them from the cache line it has just written. */
struct mp_cxx_note {
	uint8_t new_on, new_kind; /* an operator new runs: the kind to record (size: *new_size) */
	uint8_t free_kind;        /* an operator delete runs: enum mp_free_kind */
	uint8_t unused;
};
#define MP_THREAD_NOTE(t) ((struct mp_cxx_note *)(void *)((char *)(t) + sizeof(int)))
/* The calling thread's note (its state's, created if need be; a spare
   one when nothing is recorded), and in *new_size where the size of the
   allocation being noted goes. */
MP_HIDDEN struct mp_cxx_note *mp_thread_note(size_t **new_size);

/* The beginning of every thread state (lib/thread.c), what the hooks'
   way in and out reads. */
struct mp_thread_head {
	_Atomic int busy; /* the reentrancy guard: 1 inside a hook (the owner), 2 taken (no membarrier) */
	struct mp_cxx_note note;
	_Atomic int taken; /* another thread holds the buffer (with membarrier) */
	int residual;
};
#define MP_THREAD_DEAD ((struct mp_thread *)1)
/* The calling thread's state (NULL: none yet; MP_THREAD_DEAD: retired),
   the profiler's own guard, and whether membarrier(2) serves the buffer's
   hand-over (lib/thread.c). */
extern __thread struct mp_thread *mp_tls_thread __attribute__((tls_model("initial-exec"))) MP_HIDDEN;
extern __thread int mp_tls_guard __attribute__((tls_model("initial-exec"))) MP_HIDDEN;
extern int mp_use_membarrier MP_HIDDEN;

/* Returns the calling thread's state, creating it, or NULL when this call
   must not be recorded (recording off, or already inside a hook). On
   success the thread's reentrancy guard is set: call mp_thread_leave.
   The usual case inline, in the hooks (a call, and its saved registers,
   cost as much as the rest: 35 instructions an event on churn); anything
   else in mp_thread_enter_slow. */
MP_HIDDEN struct mp_thread *mp_thread_enter_slow(void);
static inline struct mp_thread *mp_thread_enter(void)
{
	struct mp_thread *t = mp_tls_thread;
	if (MP_LIKELY(atomic_load_explicit(&mp_state, memory_order_relaxed) == MP_ON && !mp_tls_guard &&
	              (uintptr_t)t > (uintptr_t)MP_THREAD_DEAD && mp_use_membarrier)) {
		struct mp_thread_head *h = (struct mp_thread_head *)(void *)t;
		if (MP_LIKELY(!atomic_load_explicit(&h->busy, memory_order_relaxed))) {
			/* own_try (lib/thread.c): the store before the load */
			atomic_store_explicit(&h->busy, 1, memory_order_relaxed);
			atomic_signal_fence(memory_order_seq_cst);
			if (MP_LIKELY(!atomic_load_explicit(&h->taken, memory_order_acquire)))
				return t;
			atomic_store_explicit(&h->busy, 0, memory_order_release);
		}
	}
	return mp_thread_enter_slow();
}

static inline void mp_thread_leave(struct mp_thread *t)
{
	atomic_store_explicit(&((struct mp_thread_head *)(void *)t)->busy, 0, memory_order_release);
}
/* Whether the calling thread is inside a hook (its guard is set). */
MP_HIDDEN int mp_thread_busy(void);

/* Record one event; seq is taken inside: for frees before calling the real
   function (mp_record_free), for allocations after it returned. frame:
   MP_HOOK_FRAME of a function of ours that is running (the hook), where
   the stack's walk may begin, or NULL: from here. */
MP_HIDDEN void mp_record_alloc(struct mp_thread *t, int kind, const void *ptr, size_t size, size_t usable,
                               const void *frame);
MP_HIDDEN void mp_record_free(struct mp_thread *t, const void *ptr);
/* A free by operator delete or delete[] (kind: enum mp_free_kind, not 0),
   with the deallocating stack, or an empty one unless with_stack. */
MP_HIDDEN void mp_record_free_kind(struct mp_thread *t, const void *ptr, int kind, int with_stack);
MP_HIDDEN void mp_record_revive(struct mp_thread *t, const void *ptr);
/* An anonymous mapping of size bytes (mapped: rounded up to pages) made by
   the caller of the hook (flags: MP_MAP_*), and an unmapped range, with
   the stamp taken before the real call (mp_stamp) and written once it
   succeeded: no other event of the thread may come in between. */
MP_HIDDEN void mp_record_map(struct mp_thread *t, const void *ptr, size_t size, size_t mapped, unsigned flags);
MP_HIDDEN void mp_record_unmap(struct mp_thread *t, uint64_t stamp, const void *ptr, size_t len);
/* Notes a block allocated by a hook's own work (a reentrant call): it is
   sent with the thread's next event, so that its free is recognised. */
MP_HIDDEN void mp_note_internal(const void *ptr);
/* A block of a pool (memprof.h), with the caller's stack, and its free. */
MP_HIDDEN void mp_record_pool_alloc(struct mp_thread *t, uint32_t pool, const void *ptr, size_t size);
MP_HIDDEN void mp_record_pool_free(struct mp_thread *t, uint32_t pool, const void *ptr);
/* From a signal handler: the calling thread's state with its guard set
   (call mp_thread_leave), or NULL when it has none or is inside a hook.
   Creates nothing. */
MP_HIDDEN struct mp_thread *mp_thread_hold(void);

/* Sends the calling thread's buffered events. */
MP_HIDDEN void mp_thread_flush(struct mp_thread *t);
/* Tells the collector, on t's stream, that the process forks at stamp seq,
   then sends a mark stamped after it. */
MP_HIDDEN void mp_thread_send_fork(struct mp_thread *t, uint64_t seq);
/* Flushes every thread's buffer (at exit, exec, fork). Threads caught
   inside a hook are skipped; their events go out on their next flush. */
MP_HIDDEN void mp_thread_flush_all(void);
/* After fork, in the child: drops other threads' states and restarts the
   calling thread's stream under the new image. */
MP_HIDDEN void mp_thread_after_fork_child(void);
/* From now on, every event is sent at once (used after exit began). */
MP_HIDDEN void mp_thread_set_immediate(void);
MP_HIDDEN int mp_thread_init(void);
/* Starts the flusher thread (lib/thread.c) unless it runs or is off;
   mp_flusher_stop makes it end at its next wake-up, for good. */
MP_HIDDEN void mp_flusher_start(void);
/* From a fatal signal's handler: flushes what can be flushed at once. */
MP_HIDDEN void mp_thread_flush_on_crash(void);
MP_HIDDEN void mp_flusher_stop(void);
/* The flusher thread's id, or 0 before it ran. */
MP_HIDDEN pid_t mp_flusher_tid(void);
/* Sends every thread's buffer closed by a mark stamped after the returned
   stamp (the leak scan's cut). */
MP_HIDDEN uint64_t mp_thread_mark_all(void);

/* The leak scan at exit (lib/reach.c): asks the collector for the live
   blocks, marks what the roots reach, sends the result. MEMPROF_SCAN=0
   turns it off; MEMPROF_SCAN_WAIT bounds the wait for the collector. */
MP_HIDDEN void mp_reach_scan(void);
/* Once main has returned: an address in the frame that called it (the
   main thread's stack below is dead); else 0. */
extern uintptr_t mp_main_frame MP_HIDDEN;

/* Stack capture (lib/unwind.c). Fills out with the return addresses of
   the calling thread's stack, outermost first, without our own frames: at
   most max of them, the innermost, with MP_IP_TRUNCATED in out[0] when
   there were more. Returns the depth, and in *same how many of the
   outermost entries were there already: the ones the last call with the
   same out wrote, unchanged. frame (or NULL): where the walk may begin,
   the frame address of a function of ours that is still running: its
   frame pointer, with the caller's saved one at frame[0] and the return
   address at frame[1] (MP_HOOK_FRAME). The frames above it are ours and
   left out of the stack anyway: the walk need not read them. */
#define MP_HOOK_FRAME() ((const void *)__builtin_frame_address(0)) /* makes the caller keep a frame pointer */
#define MP_UNWIND_BUF (MP_MAX_DEPTH_LIMIT + 32)                    /* entries of out, whatever max */
MP_HIDDEN int mp_unwind_init(void);
MP_HIDDEN int mp_unwind(uint64_t *out, int max, int *same, const void *frame);
/* Prepares the calling thread's unwinding (allocates: call it under the
   guard, when the thread's state is created). */
MP_HIDDEN void mp_unwind_thread_init(void);
/* With MEMPROF_UNWIND=check (mp_unwind_checking set): one line on stderr,
   how often the fast unwinder and libunwind disagreed, or a stack's hash
   taken from the last one differed from the whole computation
   (mp_unwind_disagreed counts one). */
MP_HIDDEN extern int mp_unwind_checking;
MP_HIDDEN void mp_unwind_disagreed(void);
MP_HIDDEN void mp_unwind_report(void);
/* Whether pc lies in libmemprof.so's own code. */
MP_HIDDEN int mp_unwind_is_self(uintptr_t pc);
/* How deep the thread is in dl_iterate_phdr (lib/preload.c counts every
   call, the program's, libunwind's and ours). A signal handler may have
   interrupted one holding the loader's lock without its owner recorded;
   calling dl_iterate_phdr again there would wait for that lock forever
   (seen in CI), so mp_unwind records such a stack cut instead of asking
   libunwind, and mp_modules_check leaves its look to the next flush. */
MP_HIDDEN extern __thread int mp_in_loader __attribute__((tls_model("initial-exec")));

/* The fast unwinder (lib/cfi.c). mp_cfi_unwind does what mp_unwind says
   for the frames above its caller, leaving out those in the code set by
   mp_cfi_skip, or returns -1 when some frame is outside what it
   understands. It begins at frame (mp_unwind) when one is given. */
MP_HIDDEN int mp_cfi_init(void);
MP_HIDDEN void mp_cfi_skip(uintptr_t lo, uintptr_t hi);
MP_HIDDEN void mp_cfi_objects_changed(void);
MP_HIDDEN int mp_cfi_thread_init(void);
MP_HIDDEN int mp_cfi_unwind(uint64_t *out, int max, int *same, const void *frame);
/* Stacks already computed (lib/cfi.c): mp_cfi_memo_put keeps sid, the
   caller's id for the stack of the last mp_cfi_unwind of this thread if it
   began at frame; mp_cfi_memo_get gives it back (returns 1) for a later
   call from the same frame of the same caller while the stack is
   unchanged. owner: whose ids they are (a thread state's stack table). */
MP_HIDDEN int mp_cfi_memo_get(const void *frame, uint64_t owner, uint64_t *sid);
MP_HIDDEN void mp_cfi_memo_put(const void *frame, uint64_t owner, uint64_t sid);

/* Connection to the collector (lib/transport.c). */
MP_HIDDEN int mp_transport_init(void);
/* Sends one message (header filled in here). Returns 0 or -1; after an
   error recording stops and a single line is written to stderr. */
MP_HIDDEN int mp_send(int type, uint32_t stream, void *msg, size_t payload_len);
/* Sends a message whose buffer has room for the header in front. */
MP_HIDDEN int mp_send_buf(uint8_t *buf, size_t payload_len, int type, uint32_t stream);
/* Sends a process message with fd passed along (SCM_RIGHTS). Returns 0 or -1. */
MP_HIDDEN int mp_send_fd(int type, const void *payload, size_t payload_len, int fd);
MP_HIDDEN void mp_send_hello(uint64_t parent_image, uint64_t fork_seq);
MP_HIDDEN void mp_send_exit(int have_status, int status);
/* The profiler's own memory in this process (its private allocator's
   resident bytes) at the largest seen, measured now and by the flusher,
   and how many times it was measured (0: unknown). */
MP_HIDDEN void mp_profiler_memory(uint64_t *peak, uint64_t *samples);
/* At the end of the root process of a preload-only run: drops the
   connection and waits until the collector has finished the trace. */
MP_HIDDEN void mp_transport_finish(void);
MP_HIDDEN void mp_transport_after_fork_child(void);

/* Module map (lib/modules.c). */
MP_HIDDEN void mp_modules_send(void);
/* Resends the module map if objects were loaded or unloaded since. */
MP_HIDDEN void mp_modules_check(void);

/* Resident-set samples (lib/rss.c): reads /proc/self/statm (and, when
   final, the high-water mark in /proc/self/status) and sends an
   MP_MSG_RSS. Async-signal-safe; allocates nothing. mp_rss_period_ns is 0
   when sampling is off (MEMPROF_RSS_MS=0). */
MP_HIDDEN extern long mp_rss_period_ns;
MP_HIDDEN void mp_rss_init(void);
MP_HIDDEN void mp_rss_send(int final);
/* The calls of memprof.h and the recording pause (lib/api.c). While
   mp_paused is set, allocations are not recorded (frees are). */
extern _Atomic int mp_paused MP_HIDDEN;
/* At start-up, before recording begins: MEMPROF_START_PAUSED. */
MP_HIDDEN void mp_api_init(void);
/* Once the image said hello (start, fork child): tells the collector
   that it starts paused, if it does. */
MP_HIDDEN void mp_api_started(void);
/* Installs the handler of the signal that toggles the pause
   (MEMPROF_TOGGLE_SIGNAL, default SIGUSR2, 0: none) unless the signal
   already has a handler or is ignored. */
MP_HIDDEN void mp_api_install_toggle(void);

/* Diagnostics: one line to stderr with write(2), never stdio. */
MP_HIDDEN void mp_warn(const char *msg, const char *detail);

MP_HIDDEN uint64_t mp_now_ns(void);
/* The sequence stamp of an event: orders events across threads. */
MP_HIDDEN uint64_t mp_stamp(void);

#endif
