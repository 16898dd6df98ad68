/* Per-thread recording: event buffers, stack deduplication, hand-over.
 *
 * Each thread owns a state with a buffer of encoded events and a table of
 * the stacks it has already defined. No lock is shared between threads on
 * the allocation path: events are ordered across threads by their stamps
 * (the CPU's time-stamp counter, or with MEMPROF_NO_TSC a global counter,
 * one relaxed atomic add per event), so that the collector can match
 * frees to allocations exactly when addresses are reused.
 *
 * t->busy is 1 while the owner is inside a hook (the reentrancy guard).
 * Another thread that hands the buffer over (the flusher, an exit, the
 * leak scan's marks, a crash) takes it only while the owner is outside
 * its hooks, and the owner waits while it is taken. With membarrier(2),
 * the owner's side costs no atomic instruction: it sets busy with a
 * plain store and then reads t->taken; the taker sets taken, makes every
 * thread of the process execute a memory barrier (membarrier), then reads
 * busy: either the owner sees taken or the taker sees busy (the
 * asymmetric Dekker pattern). The lock-prefixed exchange it replaces cost
 * 50 ms of the 0.6 s memprof adds to tests/bench/churn.c (1 thread, 7
 * runs each, medians); MEMPROF_MEMBARRIER=0 keeps it. Without membarrier (a kernel before
 * 4.14, or seccomp), busy is taken with compare-and-swap: 1 by the owner,
 * 2 by the taker.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define MP_HAVE_TSC 1
#endif

#include "internal.h"

#define MP_BUF_BYTES (sizeof(struct mp_msg_hdr) + MP_CHUNK_BYTES)
#define MP_EVENT_MAX 64         /* bound of one alloc/free event */
#define MP_COST_WAIT (1u << 18) /* TSC cycles, about 100 us: a sampled event took a wait */

struct mp_stack_ent {
	uint64_t h1, h2; /* two independent hashes of the frames; 0,0 = empty */
	uint64_t id;
};

struct mp_thread {
	/* struct mp_thread_head (lib/internal.h), read by mp_thread_enter */
	_Atomic int busy;
	struct mp_cxx_note note; /* right after busy: MP_THREAD_NOTE */
	_Atomic int taken;       /* another thread holds the buffer (with membarrier) */
	int residual;            /* lives in TLS after the thread's state was retired */
	int immediate;
	uint32_t stream, tid;
	uint8_t *buf, *pos, *end; /* buf: header space, then the payload */
	uint64_t last_seq, last_time, last_ptr;
	_Atomic uint64_t chunk_stamp; /* the stamp of the chunk's first event; 0: none yet */
	uint64_t next_stack;
	uint64_t empty_sid;  /* the id of the empty stack (frees without one), or UINT64_MAX: not defined yet */
	uint64_t memo_owner; /* this stack table's name for mp_cfi_memo_get (never 0) */
	struct mp_stack_ent *tab;
	size_t tab_mask, tab_used;
	/* The last stack, outermost frame first (mp_unwind writes only what
	   changed), with the two hash sums of its outermost k frames in
	   sum1/sum2[k]: a stack that shares its outer frames with the last
	   one hashes only the rest. NULL in the residual and nested states. */
	uint64_t *last, *sum1, *sum2;
	/* The recording's own time, measured on about one event in 64 (a
	   random gap, so that no period of the program's aliases with it):
	   cycles and events sampled, and the samples already sent. */
	uint32_t cost_left, cost_rng;
	uint64_t cost_cycles, cost_samples, cost_waits, cost_sent;
	struct mp_thread *next; /* all live states, under list_lock */
	int scan_marked;        /* mp_thread_mark_all: marked already */
	int flush_due;          /* the flusher's, under list_lock */
};

_Static_assert(offsetof(struct mp_thread, busy) == offsetof(struct mp_thread_head, busy) &&
                       offsetof(struct mp_thread, note) == offsetof(struct mp_thread_head, note) &&
                       offsetof(struct mp_thread, taken) == offsetof(struct mp_thread_head, taken) &&
                       offsetof(struct mp_thread, residual) == offsetof(struct mp_thread_head, residual),
               "struct mp_thread_head");

__thread struct mp_thread *mp_tls_thread __attribute__((tls_model("initial-exec")));
__thread int mp_tls_guard __attribute__((tls_model("initial-exec")));
#define tls_thread mp_tls_thread
#define tls_guard mp_tls_guard
#define MP_MAX_INTERNAL 16
static __thread uint64_t tls_internal[MP_MAX_INTERNAL] __attribute__((tls_model("initial-exec")));
static __thread int tls_ninternal __attribute__((tls_model("initial-exec")));
/* After a thread's state is retired at thread exit, frees and allocations
   made by later TLS destructors and libc's thread teardown go out one
   event per message through this state, which dies with the thread. */
#define MP_RESIDUAL_BYTES (sizeof(struct mp_msg_hdr) + 4096)
static __thread struct mp_thread tls_residual __attribute__((tls_model("initial-exec")));
static __thread uint8_t tls_residual_buf[MP_RESIDUAL_BYTES] __attribute__((tls_model("initial-exec")));
static __thread struct mp_stack_ent tls_residual_tab[1] __attribute__((tls_model("initial-exec")));
/* A signal handler that allocates while its thread is inside a hook
   records through this state: one event per message on a stream of its
   own, as the residual state does. */
static __thread struct mp_thread tls_nested __attribute__((tls_model("initial-exec")));
static __thread uint8_t tls_nested_buf[MP_RESIDUAL_BYTES] __attribute__((tls_model("initial-exec")));
static __thread struct mp_stack_ent tls_nested_tab[1] __attribute__((tls_model("initial-exec")));

static struct mp_thread *thread_list;
static uint64_t cost_floor; /* what timing nothing measures (set at start) */
/* The profiler's own memory: its private jemalloc's resident bytes (the
   arena's pages, metadata included), at the largest seen. */
static _Atomic uint64_t profiler_peak, profiler_samples;
static atomic_flag list_lock = ATOMIC_FLAG_INIT;
static atomic_uint stream_counter;
static _Atomic uint64_t memo_owners; /* struct mp_thread's memo_owner */
static pthread_key_t thread_key;
static int all_immediate;
static int flusher_running, flusher_quit; /* the flusher (below), under list_lock */
static _Atomic pid_t flusher_tid;         /* its thread id, once it runs */
int mp_use_membarrier;                    /* see the top of this file */
#define use_membarrier mp_use_membarrier

static int membarrier_call(int cmd)
{
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

/* Registers the process for membarrier (again in a fork child, which has
   one thread: the mode may change there). */
static void membarrier_setup(void)
{
	const char *off = getenv("MEMPROF_MEMBARRIER");
	use_membarrier = !(off && *off == '0') && membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

/* The owner's way in, when busy is 0: returns 1 with busy set, or 0 when
   another thread holds the buffer (busy left 0: wait and try again). */
static inline int own_try(struct mp_thread *t)
{
	if (MP_LIKELY(use_membarrier)) {
		atomic_store_explicit(&t->busy, 1, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst); /* the store before the load */
		if (MP_LIKELY(!atomic_load_explicit(&t->taken, memory_order_acquire)))
			return 1;
		atomic_store_explicit(&t->busy, 0, memory_order_release);
		return 0;
	}
	int expected = 0;
	return atomic_compare_exchange_weak_explicit(&t->busy, &expected, 1, memory_order_acquire,
	                                             memory_order_relaxed);
}

/* Another thread's hold on t's buffer, only while t is outside its hooks:
   1 when it has it. Several at once share one membarrier (take_mark each,
   one membarrier_call, take_check each); without membarrier, take_check
   alone takes it with compare-and-swap. */
static void take_mark(struct mp_thread *t)
{
	atomic_store_explicit(&t->taken, 1, memory_order_relaxed);
}

static int take_check(struct mp_thread *t)
{
	if (!use_membarrier) { /* no mark: the compare-and-swap alone */
		int expected = 0;
		return atomic_compare_exchange_strong(&t->busy, &expected, 2);
	}
	if (atomic_load_explicit(&t->busy, memory_order_relaxed)) {
		atomic_store_explicit(&t->taken, 0, memory_order_release);
		return 0;
	}
	atomic_thread_fence(memory_order_acquire); /* the owner's last writes */
	return 1;
}

static int take(struct mp_thread *t)
{
	if (use_membarrier) {
		take_mark(t);
		membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
	}
	return take_check(t);
}

static void give_back(struct mp_thread *t)
{
	if (use_membarrier)
		atomic_store_explicit(&t->taken, 0, memory_order_release);
	else
		atomic_store(&t->busy, 0);
}

static void list_lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&list_lock, memory_order_acquire))
		sched_yield();
}

static void list_lock_drop(void)
{
	atomic_flag_clear_explicit(&list_lock, memory_order_release);
}

uint64_t mp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void chunk_reset(struct mp_thread *t)
{
	t->pos = t->buf + sizeof(struct mp_msg_hdr);
	*t->pos++ = mp_use_tsc ? MP_CHUNK_TSC : 0;
	t->last_seq = t->last_time = t->last_ptr = 0;
	atomic_store_explicit(&t->chunk_stamp, 0, memory_order_relaxed);
}

static void thread_dtor(void *arg);

/* Per-position odd multipliers of the two stack hashes (filled once). */
static uint64_t hash_k1[MP_MAX_DEPTH_LIMIT + 1], hash_k2[MP_MAX_DEPTH_LIMIT + 1];

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int mp_thread_init(void)
{
#ifdef MP_HAVE_TSC
	cost_floor = UINT64_MAX;
	for (int i = 0; i < 64; i++) {
		uint64_t start = __rdtsc() | 1, d = __rdtsc() - start;
		if (d < cost_floor)
			cost_floor = d;
	}
#endif
	uint64_t seed = 0x6d656d70726f66ull; /* fixed: ids must not depend on the run */
	for (int i = 0; i <= MP_MAX_DEPTH_LIMIT; i++) {
		hash_k1[i] = splitmix(&seed) | 1;
		hash_k2[i] = splitmix(&seed) | 1;
	}
	membarrier_setup();
	return pthread_key_create(&thread_key, thread_dtor) ? -1 : 0;
}

/* Tells the collector a stream starts (MP_MSG_THREAD), before its first
   event is stamped: the replay then waits for the stream's first events
   or mark before it replays past them. Without it, a thread whose first
   buffer had not come yet was unknown, and the other threads' later
   events were replayed before its earlier ones (tests/stress/run: blocks
   of one thread freed, as the replay saw it, after another thread got
   their address, in the first milliseconds of a run). The socket keeps
   the order of sends, so every event stamped after this reaches the
   collector after it. */
static void announce_stream(const struct mp_thread *t)
{
	uint8_t buf[sizeof(struct mp_msg_hdr) + sizeof(uint32_t)];
	memcpy(buf + sizeof(struct mp_msg_hdr), &t->tid, sizeof(uint32_t));
	mp_send_buf(buf, sizeof(uint32_t), MP_MSG_THREAD, t->stream);
}

static struct mp_thread *thread_create(void)
{
	struct mp_thread *t = mpje_calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->buf = mpje_malloc(MP_BUF_BYTES);
	t->tab_mask = 4096 - 1;
	t->tab = mpje_calloc(t->tab_mask + 1, sizeof(*t->tab));
	t->last = mpje_malloc(3 * MP_UNWIND_BUF * sizeof(uint64_t));
	if (!t->buf || !t->tab || !t->last) {
		mpje_free(t->buf);
		mpje_free(t->tab);
		mpje_free(t->last);
		mpje_free(t);
		return NULL;
	}
	t->end = t->buf + MP_BUF_BYTES;
	t->empty_sid = UINT64_MAX;
	t->memo_owner = atomic_fetch_add(&memo_owners, 1) + 1;
	t->sum1 = t->last + MP_UNWIND_BUF;
	t->sum2 = t->sum1 + MP_UNWIND_BUF;
	t->sum1[0] = t->sum2[0] = 0;
	chunk_reset(t);
	t->stream = atomic_fetch_add(&stream_counter, 1) + 1;
	t->tid = (uint32_t)syscall(SYS_gettid);
	announce_stream(t);
	t->immediate = all_immediate;
	t->cost_rng = t->tid * 2654435761u | 1;
	t->cost_left = 1 + (t->cost_rng >> 26);
	list_lock_take();
	t->next = thread_list;
	thread_list = t;
	list_lock_drop();
	pthread_setspecific(thread_key, t);
	/* Unwinding's first use in a thread allocates (libunwind's TLS, the
	   stack bounds): do it now, under the guard, so that any later
	   allocation reentering a hook is a signal handler's. */
	mp_unwind_thread_init();
	return t;
}

/* The state for an allocation made by a signal handler that interrupted
   a hook of this thread, or NULL when that state is busy too. */
/* Prepares a TLS state that sends each event at once on a stream of its
   own (the residual and nested states). */
static void side_state_init(struct mp_thread *t, uint8_t *buf, struct mp_stack_ent *tab)
{
	t->residual = 1;
	t->immediate = 1;
	t->buf = buf;
	t->end = t->buf + MP_RESIDUAL_BYTES;
	t->tab = tab;
	t->tab_mask = 0;
	t->empty_sid = UINT64_MAX; /* never kept: each message is a stream */
	t->stream = atomic_fetch_add(&stream_counter, 1) + 1;
	t->tid = (uint32_t)syscall(SYS_gettid);
	chunk_reset(t);
}

static struct mp_thread *nested_enter(void)
{
	struct mp_thread *n = &tls_nested;
	if (!n->buf)
		side_state_init(n, tls_nested_buf, tls_nested_tab);
	int expected = 0;
	return atomic_compare_exchange_strong(&n->busy, &expected, 1) ? n : NULL;
}

static void thread_destroy(struct mp_thread *t)
{
	list_lock_take();
	for (struct mp_thread **pp = &thread_list; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	list_lock_drop();
	mpje_free(t->buf);
	mpje_free(t->tab);
	mpje_free(t->last);
	mpje_free(t);
}

struct mp_thread *mp_thread_enter_slow(void)
{
	if (MP_UNLIKELY(atomic_load_explicit(&mp_state, memory_order_relaxed) != MP_ON))
		return NULL;
	/* Under the guard everything is the profiler's own, even on a thread
	   that has its state already (the flusher's creation when a library's
	   constructor allocated before ours ran, e.g. libstdc++ loaded with
	   a preloaded jemalloc). */
	if (MP_UNLIKELY(tls_guard))
		return NULL;
	struct mp_thread *t = tls_thread;
	if (MP_UNLIKELY(t == MP_THREAD_DEAD)) {
		t = &tls_residual;
		side_state_init(t, tls_residual_buf, tls_residual_tab);
		tls_thread = t;
	}
	if (MP_UNLIKELY(!t)) {
		/* Signals wait: a handler allocating now could not be told
		   from the allocations of the state's creation. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		tls_guard = 1;
		t = thread_create();
		tls_guard = 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!t)
			return NULL;
		tls_thread = t;
	}
	for (;;) {
		int busy = atomic_load_explicit(&t->busy, memory_order_relaxed);
		if (busy == 1) /* reentered: a signal handler (our own work runs under tls_guard) */
			return t->residual ? NULL : nested_enter();
		if (busy == 0 && own_try(t))
			return t;
		sched_yield(); /* another thread is flushing our buffer */
	}
}

static __thread struct mp_cxx_note tls_spare_note __attribute__((tls_model("initial-exec")));
static __thread size_t tls_new_size __attribute__((tls_model("initial-exec")));

struct mp_cxx_note *mp_thread_note(size_t **new_size)
{
	_Static_assert(offsetof(struct mp_thread, note) == sizeof(int), "MP_THREAD_NOTE");
	*new_size = &tls_new_size;
	struct mp_thread *t = tls_thread;
	if (MP_LIKELY(t && t != MP_THREAD_DEAD))
		return &t->note;
	if (!(t = mp_thread_enter()))
		return &tls_spare_note;
	mp_thread_leave(t);
	return &t->note;
}

int mp_thread_busy(void)
{
	struct mp_thread *t = tls_thread;
	if (tls_guard || atomic_load_explicit(&tls_nested.busy, memory_order_relaxed) == 1)
		return 1;
	return t && t != MP_THREAD_DEAD && atomic_load_explicit(&t->busy, memory_order_relaxed) == 1;
}

static inline uint8_t *put_head(struct mp_thread *t, uint8_t *p, int tag, const void *ptr);

/* Appends the running totals of the recording's cost, when they changed. */
static void put_cost(struct mp_thread *t)
{
	if (t->cost_samples + t->cost_waits == t->cost_sent || (size_t)(t->end - t->pos) < 32)
		return;
	uint8_t *p = t->pos;
	*p++ = MP_EV_COST;
	p = mp_put_varint(p, t->cost_cycles);
	p = mp_put_varint(p, t->cost_samples);
	p = mp_put_varint(p, t->cost_waits);
	t->pos = p;
	t->cost_sent = t->cost_samples + t->cost_waits;
}

/* Appends an event that carries only a stamp (MP_EV_MARK, MP_EV_END),
   after the cost so far. */
static void put_stamp(struct mp_thread *t, int tag)
{
	put_cost(t);
	if ((size_t)(t->end - t->pos) < 32)
		return; /* never: ensure_room always leaves this much */
	t->pos = put_head(t, t->pos, tag, (const void *)(uintptr_t)t->last_ptr);
}

void mp_thread_flush(struct mp_thread *t)
{
	/* The module map first: the collector places these events' frames
	   with it. */
	mp_modules_check();
	if (MP_UNLIKELY(t->residual))
		put_stamp(t, MP_EV_END); /* each residual chunk is a stream of its own */
	else if (MP_UNLIKELY(t->immediate) && t->pos > t->buf + sizeof(struct mp_msg_hdr) + 1)
		put_stamp(t, MP_EV_MARK); /* exit began: nothing of this thread is held back (the leak scan) */
	else
		put_cost(t);
	size_t len = (size_t)(t->pos - (t->buf + sizeof(struct mp_msg_hdr)));
	if (len > 1) { /* more than the flags byte */
		struct mp_msg_hdr *h = (struct mp_msg_hdr *)t->buf;
		h->reserved = t->tid;
		mp_send_buf(t->buf, len, MP_MSG_EVENTS, t->stream);
		if (MP_UNLIKELY(t->residual))
			t->stream = atomic_fetch_add(&stream_counter, 1) + 1;
	}
	chunk_reset(t);
}

void mp_thread_send_fork(struct mp_thread *t, uint64_t seq)
{
	mp_send(MP_MSG_FORK, t->stream, &seq, sizeof(seq));
	/* A mark past the fork point, at once: the collector can then take
	   the live blocks at the fork without waiting for the flusher's next
	   mark, which a parent that waits for its child sends only every
	   40 ms. A child that exits soon (a shell's) waits for that snapshot
	   in its leak scan: pyenv's python3 shim (79 processes) took 1.7 s
	   under memprof, its fork children 53 ms each on average. */
	put_stamp(t, MP_EV_MARK);
	mp_thread_flush(t);
}

static inline void ensure_room(struct mp_thread *t, size_t need)
{
	need += 64; /* room for the cost and a closing MP_EV_MARK or MP_EV_END */
	if (MP_UNLIKELY((size_t)(t->end - t->pos) < need))
		mp_thread_flush(t);
}

static inline uint64_t fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

/* Returns the stream-local id of the stack ips (outermost first, the
   first `same` frames unchanged since the last call), defining it in the
   buffer on first use. A stack is known by two 64-bit hashes: sums of its
   frames times constants of their position from the outermost frame, whose
   multiplications do not wait on each other (a chained hash costs a
   multiply's latency per frame), and which, for the frames unchanged, are
   kept from the last call. */
__attribute__((always_inline)) static inline uint64_t stack_id(struct mp_thread *t, const uint64_t *ips, int depth,
                                                               int same)
{
	if (MP_UNLIKELY(t->residual))
		goto define;
	uint64_t h1 = t->sum1[same], h2 = t->sum2[same];
	for (int pos = same; pos < depth; pos++) {
		h1 += ips[pos] * hash_k1[pos];
		h2 += ips[pos] * hash_k2[pos];
		t->sum1[pos + 1] = h1;
		t->sum2[pos + 1] = h2;
	}
	if (MP_UNLIKELY(mp_unwind_checking)) {
		uint64_t w1 = 0, w2 = 0;
		for (int pos = 0; pos < depth; pos++) {
			w1 += ips[pos] * hash_k1[pos];
			w2 += ips[pos] * hash_k2[pos];
		}
		if (w1 != h1 || w2 != h2)
			mp_unwind_disagreed();
	}
	h1 += (uint64_t)depth;
	h2 += 0x13198a2e03707344ull;
	h1 = fmix(h1);
	h2 = fmix(h2 ^ (uint64_t)depth);
	h1 |= 1;
	size_t i = (size_t)h1 & t->tab_mask;
	for (;;) {
		struct mp_stack_ent *e = &t->tab[i];
		if (e->h1 == h1 && e->h2 == h2)
			return e->id;
		if (!e->h1)
			break;
		i = (i + 1) & t->tab_mask;
	}
	t->tab[i] = (struct mp_stack_ent){h1, h2, t->next_stack};
	if (++t->tab_used * 2 > t->tab_mask) {
		size_t ncap = (t->tab_mask + 1) * 2;
		struct mp_stack_ent *nt = mpje_calloc(ncap, sizeof(*nt));
		if (nt) {
			for (size_t j = 0; j <= t->tab_mask; j++) {
				if (!t->tab[j].h1)
					continue;
				size_t k = (size_t)t->tab[j].h1 & (ncap - 1);
				while (nt[k].h1)
					k = (k + 1) & (ncap - 1);
				nt[k] = t->tab[j];
			}
			mpje_free(t->tab);
			t->tab = nt;
			t->tab_mask = ncap - 1;
		}
	}
define:
	ensure_room(t, 8 + (size_t)depth * 10);
	uint64_t id = t->next_stack++;
	uint8_t *p = t->pos;
	*p++ = MP_EV_STACK;
	p = mp_put_varint(p, (uint64_t)depth);
	uint64_t prev = 0;
	for (int j = depth - 1; j >= 0; j--) { /* innermost first */
		p = mp_put_varint(p, mp_zigzag((int64_t)(ips[j] - prev)));
		prev = ips[j];
	}
	t->pos = p;
	return id;
}

uint64_t mp_stamp(void)
{
#ifdef MP_HAVE_TSC
	if (MP_LIKELY(mp_use_tsc)) {
		unsigned aux;
		/* rdtscp reads the counter once everything before it has
		   executed (a free stamp: before the real free's stores can be
		   seen, as stores become visible only after it retires; an
		   allocation stamp: after the real malloc's loads). */
		return __rdtscp(&aux);
	}
#endif
	return atomic_fetch_add_explicit(&mp_seq, 1, memory_order_relaxed);
}

/* The stamp of a free, taken before the real free begins: lfence then
   rdtsc. Two orders must hold. A free before the reuse of its block by
   another thread: the counter is read before the free's stores, which
   become visible to other threads only after they retire, in order; the
   other thread's allocation stamp (rdtscp) is read after its loads saw
   them. And an allocation before the free of its block by another
   thread: the freeing thread loaded the pointer after the allocating
   thread stored it, after its stamp; lfence makes rdtsc wait for that
   load (Intel SDM, RDTSC). Without it (plain rdtsc, the session before)
   the counter could be read ahead of the load, and tests/stress/run found
   frees sorted before their allocations (865 of 17 million frees in one
   run). The stamp may read below an earlier stamp of the thread, which
   put_head_at then takes instead: a stamp taken earlier still. */
static inline uint64_t stamp_free(void)
{
#ifdef MP_HAVE_TSC
	if (MP_LIKELY(mp_use_tsc)) {
		_mm_lfence();
		return __rdtsc();
	}
#endif
	return mp_stamp();
}

/* Appends an event's head stamped seq, or the stream's last stamp when
   seq is below it (stamp_free). */
static inline uint8_t *put_head_at(struct mp_thread *t, uint8_t *p, int tag, const void *ptr, uint64_t seq)
{
	if (MP_UNLIKELY(seq < t->last_seq))
		seq = t->last_seq;
	if (MP_UNLIKELY(!t->last_seq))
		atomic_store_explicit(&t->chunk_stamp, seq, memory_order_relaxed);
	*p++ = (uint8_t)tag;
	p = mp_put_varint(p, seq - t->last_seq);
	t->last_seq = seq;
	if (!mp_use_tsc) {
		uint64_t now = mp_now_ns();
		p = mp_put_varint(p, now - t->last_time);
		t->last_time = now;
	}
	p = mp_put_varint(p, mp_zigzag((int64_t)((uint64_t)(uintptr_t)ptr - t->last_ptr)));
	t->last_ptr = (uint64_t)(uintptr_t)ptr;
	return p;
}

static inline uint8_t *put_head(struct mp_thread *t, uint8_t *p, int tag, const void *ptr)
{
	return put_head_at(t, p, tag, ptr, mp_stamp());
}

void mp_note_internal(const void *ptr)
{
	if (tls_ninternal < MP_MAX_INTERNAL)
		tls_internal[tls_ninternal++] = (uint64_t)(uintptr_t)ptr;
}

static inline void event_done(struct mp_thread *t)
{
	while (MP_UNLIKELY(tls_ninternal)) {
		ensure_room(t, MP_EVENT_MAX);
		t->pos = put_head(t, t->pos, MP_EV_INTERNAL, (void *)(uintptr_t)tls_internal[--tls_ninternal]);
	}
	if (MP_UNLIKELY(t->immediate))
		mp_thread_flush(t);
}

/* Starts timing the recording of this event when it is in the sample:
   returns its start (never 0), or 0. */
static inline uint64_t cost_begin(struct mp_thread *t)
{
#ifdef MP_HAVE_TSC
	if (MP_UNLIKELY(--t->cost_left == 0)) {
		uint32_t x = t->cost_rng;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		t->cost_rng = x;
		t->cost_left = 1 + (x >> 26); /* 1 to 64: one event in 32.5 on average */
		return __rdtsc() | 1;
	}
#else
	(void)t;
#endif
	return 0;
}

static inline void cost_end(struct mp_thread *t, uint64_t start)
{
#ifdef MP_HAVE_TSC
	if (MP_UNLIKELY(start)) {
		/* Longer than MP_COST_WAIT: the thread was descheduled, or
		   waited for the collector. Such rare samples would decide the
		   mean alone: they are counted apart. */
		uint64_t d = __rdtsc() - start;
		d = d > cost_floor ? d - cost_floor : 0; /* the timing's own cost */
		if (MP_LIKELY(d < MP_COST_WAIT)) {
			t->cost_cycles += d;
			t->cost_samples++;
		} else {
			t->cost_waits++;
		}
	}
#else
	(void)t;
	(void)start;
#endif
}

/* The stack of an allocation: the one computed for the last call from
   the same hook frame if it is unchanged (mp_cfi_memo_get), else unwound
   and hashed. Not for the residual and nested states, whose stacks are
   defined in each message. With MEMPROF_UNWIND=check, both ways, compared. */
static inline uint64_t alloc_stack(struct mp_thread *t, uint64_t *ips, const void *frame)
{
	uint64_t sid, kept;
	int memo = frame && !t->residual;
	if (memo && mp_cfi_memo_get(frame, t->memo_owner, &kept)) {
		if (MP_LIKELY(!mp_unwind_checking))
			return kept;
	} else {
		kept = UINT64_MAX;
	}
	int same;
	int depth = mp_unwind(ips, mp_max_depth, &same, frame);
	sid = stack_id(t, ips, depth, same);
	if (MP_UNLIKELY(kept != UINT64_MAX) && kept != sid)
		mp_unwind_disagreed();
	if (memo)
		mp_cfi_memo_put(frame, t->memo_owner, sid);
	return sid;
}

static inline void record_alloc(struct mp_thread *t, uint64_t *ips, int kind, const void *ptr, size_t size,
                                size_t usable, const void *frame)
{
	uint64_t sid = alloc_stack(t, ips, frame);
	ensure_room(t, MP_EVENT_MAX);
	uint8_t *p = put_head(t, t->pos, MP_EV_ALLOC | (kind << 4), ptr);
	p = mp_put_varint(p, size);
	p = mp_put_varint(p, usable >= size ? usable - size : 0);
	p = mp_put_varint(p, sid);
	t->pos = p;
	event_done(t);
}

/* The residual and nested states have no stack of their own: the frames go
   on the stack, of this function only, off the usual path. */
__attribute__((noinline)) static void record_alloc_side(struct mp_thread *t, int kind, const void *ptr, size_t size,
                                                        size_t usable, const void *frame)
{
	uint64_t ips[MP_UNWIND_BUF];
	record_alloc(t, ips, kind, ptr, size, usable, frame);
}

void mp_record_alloc(struct mp_thread *t, int kind, const void *ptr, size_t size, size_t usable, const void *frame)
{
	uint64_t start = cost_begin(t);
	if (MP_LIKELY(t->last))
		record_alloc(t, t->last, kind, ptr, size, usable, frame);
	else
		record_alloc_side(t, kind, ptr, size, usable, frame);
	cost_end(t, start);
}

void mp_record_pool_alloc(struct mp_thread *t, uint32_t pool, const void *ptr, size_t size)
{
	uint64_t local[MP_UNWIND_BUF];
	uint64_t *ips = t->last ? t->last : local;
	int same;
	int depth = mp_unwind(ips, mp_max_depth, &same, NULL);
	uint64_t sid = stack_id(t, ips, depth, same);
	ensure_room(t, MP_EVENT_MAX + 16);
	uint8_t *p = put_head(t, t->pos, MP_EV_ALLOC | (MP_KIND_POOL << 4), ptr);
	p = mp_put_varint(p, size);
	p = mp_put_varint(p, 0);
	p = mp_put_varint(p, sid);
	p = mp_put_varint(p, pool);
	t->pos = p;
	event_done(t);
}

void mp_record_pool_free(struct mp_thread *t, uint32_t pool, const void *ptr)
{
	ensure_room(t, MP_EVENT_MAX + 8);
	t->pos = put_head(t, t->pos, MP_EV_FREE | (MP_FREE_POOL << 4), ptr);
	t->pos = mp_put_varint(t->pos, pool);
	event_done(t);
}

struct mp_thread *mp_thread_hold(void)
{
	struct mp_thread *t = tls_thread;
	if (!t || t == MP_THREAD_DEAD || tls_guard)
		return NULL;
	for (;;) {
		int busy = atomic_load_explicit(&t->busy, memory_order_relaxed);
		if (busy == 1)
			return NULL;
		if (busy == 0 && own_try(t))
			return t;
		sched_yield();
	}
}

void mp_record_free(struct mp_thread *t, const void *ptr)
{
	uint64_t start = cost_begin(t);
	ensure_room(t, MP_EVENT_MAX);
	t->pos = put_head_at(t, t->pos, MP_EV_FREE, ptr, stamp_free());
	event_done(t);
	cost_end(t, start);
}

/* Mappings (lib/preload.c): off the malloc path, so that it stays as it is. */
void mp_record_map(struct mp_thread *t, const void *ptr, size_t size, size_t mapped, unsigned flags)
{
	uint64_t local[MP_UNWIND_BUF];
	uint64_t *ips = t->last ? t->last : local;
	int same;
	int depth = mp_unwind(ips, mp_max_depth, &same, NULL);
	uint64_t sid = stack_id(t, ips, depth, same);
	ensure_room(t, MP_EVENT_MAX);
	uint8_t *p = put_head(t, t->pos, MP_EV_ALLOC | (MP_KIND_MMAP << 4), ptr);
	p = mp_put_varint(p, size);
	p = mp_put_varint(p, mapped >= size ? mapped - size : 0);
	p = mp_put_varint(p, sid);
	p = mp_put_varint(p, flags);
	t->pos = p;
	event_done(t);
}

void mp_record_unmap(struct mp_thread *t, uint64_t stamp, const void *ptr, size_t len)
{
	ensure_room(t, MP_EVENT_MAX);
	uint8_t *p = put_head_at(t, t->pos, MP_EV_FREE | (MP_FREE_MUNMAP << 4), ptr, stamp);
	t->pos = mp_put_varint(p, len);
	event_done(t);
}

/* A free by operator delete with its stack (MEMPROF_DELETE_STACKS=1), or
   on a residual or nested state. */
__attribute__((noinline)) static uint64_t free_stack_id(struct mp_thread *t, int with_stack)
{
	uint64_t local[MP_UNWIND_BUF];
	uint64_t *ips = t->last ? t->last : local;
	int same = 0;
	int depth = with_stack ? mp_unwind(ips, mp_max_depth, &same, NULL) : 0;
	return stack_id(t, ips, depth, same);
}

void mp_record_free_kind(struct mp_thread *t, const void *ptr, int kind, int with_stack)
{
	uint64_t sid;
	/* Without a stack, the empty stack's id: defined once in the stream
	   (the hash and the table's look-up, a fifth of the hook's
	   instructions for a delete on tests/bench/maps.cc, gave the same id
	   every time). A residual state's streams each define it anew. */
	if (MP_LIKELY(!with_stack && t->empty_sid != UINT64_MAX)) {
		sid = t->empty_sid;
	} else {
		sid = free_stack_id(t, with_stack);
		if (!with_stack && !t->residual)
			t->empty_sid = sid;
	}
	ensure_room(t, MP_EVENT_MAX);
	uint8_t *p = put_head_at(t, t->pos, MP_EV_FREE | (kind << 4), ptr, stamp_free());
	t->pos = mp_put_varint(p, sid);
	event_done(t);
}

void mp_record_revive(struct mp_thread *t, const void *ptr)
{
	ensure_room(t, MP_EVENT_MAX);
	t->pos = put_head(t, t->pos, MP_EV_REVIVE, ptr);
	event_done(t);
}

/* Thread exit: hand the buffer over and retire the state. Allocations the
   thread still makes afterwards (later TLS destructors) are not recorded. */
static void thread_dtor(void *arg)
{
	struct mp_thread *t = arg;
	while (atomic_load_explicit(&t->busy, memory_order_relaxed) != 0 || !own_try(t))
		sched_yield();
	put_stamp(t, MP_EV_END);
	mp_thread_flush(t);
	tls_thread = MP_THREAD_DEAD;
	thread_destroy(t);
}

void mp_thread_flush_all(void)
{
	struct mp_thread *self = tls_thread;
	list_lock_take();
	for (struct mp_thread *t = thread_list; t; t = t->next) {
		if (t == self) {
			mp_thread_flush(t);
			continue;
		}
		if (!take(t))
			continue; /* inside a hook right now: it flushes itself */
		mp_thread_flush(t);
		give_back(t);
	}
	list_lock_drop();
}

void mp_thread_set_immediate(void)
{
	list_lock_take();
	all_immediate = 1;
	for (struct mp_thread *t = thread_list; t; t = t->next)
		t->immediate = 1;
	list_lock_drop();
}

void mp_thread_after_fork_child(void)
{
	struct mp_thread *self = tls_thread;
	/* Other threads do not exist in the child; their states hold the
	   parent's events, which the parent sends. */
	struct mp_thread *t = thread_list;
	thread_list = NULL;
	atomic_flag_clear(&list_lock);
	while (t) {
		struct mp_thread *next = t->next;
		if (t == self) {
			t->next = NULL;
			thread_list = t;
		} else {
			mpje_free(t->buf);
			mpje_free(t->tab);
			mpje_free(t->last);
			mpje_free(t);
		}
		t = next;
	}
	atomic_store(&stream_counter, 0);
	atomic_store(&profiler_peak, 0); /* the child's own from now on */
	atomic_store(&profiler_samples, 0);
	flusher_running = 0;   /* the parent's flusher is not in the child */
	membarrier_setup();    /* the child is alone: it may change the mode */
	tls_nested.buf = NULL; /* a new stream (and tid) when next needed */
	atomic_store(&tls_nested.busy, 0);
	if (self && self != MP_THREAD_DEAD) {
		self->stream = atomic_fetch_add(&stream_counter, 1) + 1;
		self->tid = (uint32_t)syscall(SYS_gettid);
		memset(self->tab, 0, (self->tab_mask + 1) * sizeof(*self->tab));
		self->tab_used = 0;
		self->next_stack = 0;
		self->empty_sid = UINT64_MAX;
		self->memo_owner = atomic_fetch_add(&memo_owners, 1) + 1; /* the ids kept for stacks are the parent's */
		self->cost_cycles = self->cost_samples = self->cost_waits = self->cost_sent = 0; /* the parent's */
		chunk_reset(self);
	}
}

/* --- the flusher ---------------------------------------------------------
 * A helper thread that wakes every period and hands over the buffers whose
 * first event is older than its previous wake-up, each closed by a mark
 * (MP_EV_MARK: nothing earlier is unsent), and sends a mark alone for
 * threads with nothing buffered, so that the collector can replay events
 * while the program runs even when some threads are quiet. A process killed
 * at any moment (SIGKILL, a crash, the OOM killer) has lost at most about
 * two periods of events, even in threads that went quiet. It blocks every
 * signal (they stay the program's), never allocates from the program's
 * heap (its guard is always set), and takes a buffer only while the owner
 * is outside a hook (busy 0 -> 2, as at exit). MEMPROF_FLUSH_MS=0 turns it
 * off (a program that needs to stay single-threaded, e.g. for
 * unshare(CLONE_NEWUSER), then loses the unflushed tail when killed). */

static long flusher_period_ns = 40 * 1000000L;

static void profiler_measure(void)
{
	uint64_t epoch = 1;
	size_t resident = 0, len = sizeof(resident);
	if (mpje_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) ||
	    mpje_mallctl("stats.resident", &resident, &len, NULL, 0))
		return;
	uint64_t peak = atomic_load(&profiler_peak);
	while (resident > peak && !atomic_compare_exchange_weak(&profiler_peak, &peak, resident))
		;
	atomic_fetch_add(&profiler_samples, 1);
}

void mp_profiler_memory(uint64_t *peak, uint64_t *samples)
{
	profiler_measure();
	*peak = atomic_load(&profiler_peak);
	*samples = atomic_load(&profiler_samples);
}

static void *flusher_main(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	tls_guard = 1; /* anything allocated on this thread is the profiler's */
	atomic_store(&flusher_tid, (pid_t)syscall(SYS_gettid));
	uint64_t prev = mp_stamp();
	/* It wakes for whichever is due first: a flush or an RSS sample. */
	long tick = flusher_period_ns;
	if (mp_rss_period_ns && mp_rss_period_ns < tick)
		tick = mp_rss_period_ns;
	uint64_t next_flush = mp_now_ns() + (uint64_t)flusher_period_ns, next_rss = mp_now_ns();
	for (;;) {
		struct timespec ts = {tick / 1000000000L, tick % 1000000000L};
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		uint64_t now_ns = mp_now_ns();
		if (mp_rss_period_ns && now_ns >= next_rss && !__atomic_load_n(&flusher_quit, __ATOMIC_RELAXED) &&
		    atomic_load(&mp_state) == MP_ON) {
			mp_rss_send(0);
			next_rss += (uint64_t)mp_rss_period_ns;
			if (next_rss <= now_ns)
				next_rss = now_ns + (uint64_t)mp_rss_period_ns;
		}
		if (now_ns < next_flush && !__atomic_load_n(&flusher_quit, __ATOMIC_RELAXED))
			continue;
		next_flush = now_ns + (uint64_t)flusher_period_ns;
		uint64_t now = mp_stamp();
		list_lock_take();
		if (flusher_quit || atomic_load(&mp_state) != MP_ON) {
			flusher_running = 0;
			list_lock_drop();
			return NULL;
		}
		/* The states to hand over, taken together (one membarrier). */
		int any = 0;
		for (struct mp_thread *t = thread_list; t; t = t->next) {
			uint64_t first = atomic_load_explicit(&t->chunk_stamp, memory_order_relaxed);
			t->flush_due = !(first && first >= prev); /* else a fresh chunk: its owner is busy allocating */
			if (t->flush_due && use_membarrier) {
				take_mark(t);
				any = 1;
			}
		}
		if (any)
			membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
		for (struct mp_thread *t = thread_list; t; t = t->next) {
			if (!t->flush_due)
				continue;
			if (!take_check(t))
				continue; /* inside a hook: looked at again next period */
			/* Outside a hook, the owner's next event is stamped after
			   this mark: the collector need not wait for it. */
			put_stamp(t, MP_EV_MARK);
			mp_thread_flush(t);
			give_back(t);
		}
		list_lock_drop();
		prev = now;
		profiler_measure();
	}
}

void mp_flusher_start(void)
{
	const char *ms = getenv("MEMPROF_FLUSH_MS");
	if (ms && *ms) {
		long v = atol(ms);
		if (v <= 0)
			return;
		flusher_period_ns = (v > 10000 ? 10000 : v) * 1000000L;
	}
	list_lock_take();
	int start = !flusher_running && !flusher_quit && atomic_load(&mp_state) == MP_ON;
	if (start)
		flusher_running = 1;
	list_lock_drop();
	if (!start)
		return;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_t th;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* the flusher starts with every signal blocked, too */
	int saved = tls_guard;
	tls_guard = 1; /* glibc's allocations for the new thread are ours */
	int err = pthread_create(&th, &attr, flusher_main, NULL);
	tls_guard = saved;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		list_lock_take();
		flusher_running = 0;
		list_lock_drop();
	}
}

pid_t mp_flusher_tid(void)
{
	return atomic_load(&flusher_tid);
}

/* The leak scan's cut (lib/reach.c): every state gets a mark stamped after
   the returned stamp, sent at once, so that the collector knows when it
   has every event before it. A thread inside a hook is tried again for a
   few milliseconds; one that stays there closes its event with a mark of
   its own (immediate mode, mp_thread_flush), stamped after the cut since
   it was seen inside the hook after it. */
uint64_t mp_thread_mark_all(void)
{
	uint64_t cut = mp_stamp();
	struct mp_thread *self = tls_thread;
	for (int attempt = 0; attempt < 50; attempt++) {
		int left = 0;
		list_lock_take();
		for (struct mp_thread *t = thread_list; t; t = t->next) {
			if (t->scan_marked)
				continue;
			if (t != self && !take(t)) {
				left++;
				continue;
			}
			put_stamp(t, MP_EV_MARK);
			mp_thread_flush(t);
			t->scan_marked = 1;
			if (t != self)
				give_back(t);
		}
		list_lock_drop();
		if (!left)
			break;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	list_lock_take();
	for (struct mp_thread *t = thread_list; t; t = t->next)
		t->scan_marked = 0;
	list_lock_drop();
	return cut;
}

void mp_flusher_stop(void)
{
	list_lock_take();
	flusher_quit = 1;
	list_lock_drop();
}

/* A fatal signal (lib/preload.c): hand over every buffer that is not in
   the middle of a hook, each closed by a mark, so that the replay keeps
   everything up to this moment. Never waits: the signal may have
   interrupted a holder of the list lock, or a hook of this thread. */
void mp_thread_flush_on_crash(void)
{
	struct mp_thread *self = tls_thread;
	int locked = !atomic_flag_test_and_set_explicit(&list_lock, memory_order_acquire);
	struct mp_thread *only = self && self != MP_THREAD_DEAD ? self : NULL;
	for (struct mp_thread *t = locked ? thread_list : only; t; t = locked ? t->next : NULL) {
		if (!take(t))
			continue;
		put_stamp(t, MP_EV_MARK);
		mp_thread_flush(t);
		give_back(t);
	}
	if (locked)
		list_lock_drop();
}
