/* The interposed functions: the only symbols libmemprof.so exports
 * (lib/exports.map).
 *
 * Each hook calls the real function and records the event. Frees are
 * recorded before the real free (once released, another thread may be
 * handed the same address); allocations after the real call returned.
 * realloc releases the old block before the call and revives it if the
 * call fails. Nothing here allocates from the target's heap, takes a lock
 * shared with other threads, or makes a system call, except when a full
 * buffer is handed over.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define MP_EXPORT __attribute__((visibility("default")))

/* Interposed functions that no glibc header declares (jemalloc's API and
   glibc's obsolete ones, with the prototypes those libraries use). */
MP_EXPORT void *memalign(size_t align, size_t size);
MP_EXPORT void *pvalloc(size_t size);
MP_EXPORT size_t malloc_usable_size(void *ptr);
MP_EXPORT void *mallocx(size_t size, int flags);
MP_EXPORT void *rallocx(void *ptr, size_t size, int flags);
MP_EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
MP_EXPORT size_t sallocx(const void *ptr, int flags);
MP_EXPORT void dallocx(void *ptr, int flags);
MP_EXPORT void sdallocx(void *ptr, size_t size, int flags);
MP_EXPORT size_t nallocx(size_t size, int flags);
MP_EXPORT void quick_exit(int status);

_Atomic int mp_state = MP_OFF;
pid_t mp_pid;
uint64_t mp_image;
atomic_uint_fast64_t mp_seq = 1;
int mp_use_tsc;
int mp_max_depth = 128;
struct mp_real mp_real;

static uint64_t fork_seq;
/* operator delete and delete[] record their stack with MEMPROF_DELETE_STACKS=1
   (an unwind per C++ deallocation: off by default, mismatches are found
   without it). */
static int delete_stacks;
static int exit_status_known, exit_status;
static int mmap_on = 1;            /* MEMPROF_MMAP=0: anonymous mappings are not recorded */
static uintptr_t page_mask = 4095; /* page size - 1 */

/* dlsym() may call calloc before the real one is known: serve it here. */
static uint8_t boot_pool[64 * 1024] __attribute__((aligned(64)));
static size_t boot_used;

static void *boot_alloc(size_t size, size_t align)
{
	size_t off = (boot_used + align - 1) & ~(align - 1);
	if (off + size > sizeof(boot_pool))
		return NULL;
	boot_used = off + size;
	return boot_pool + off;
}

static int in_boot_pool(const void *p)
{
	return (const uint8_t *)p >= boot_pool && (const uint8_t *)p < boot_pool + sizeof(boot_pool);
}

static volatile int resolving;

static void resolve_real(void)
{
	if (mp_real.malloc || resolving)
		return;
	resolving = 1;
#define MP_RESOLVE(name) *(void **)&mp_real.name = dlsym(RTLD_NEXT, #name)
	/* malloc and free first: failed look-ups below allocate an error. */
	MP_RESOLVE(free);
	MP_RESOLVE(malloc);
	MP_RESOLVE(calloc);
	MP_RESOLVE(realloc);
	MP_RESOLVE(reallocarray);
	MP_RESOLVE(posix_memalign);
	MP_RESOLVE(aligned_alloc);
	MP_RESOLVE(memalign);
	MP_RESOLVE(valloc);
	MP_RESOLVE(pvalloc);
	MP_RESOLVE(malloc_usable_size);
	MP_RESOLVE(mallocx);
	MP_RESOLVE(rallocx);
	MP_RESOLVE(xallocx);
	MP_RESOLVE(sallocx);
	MP_RESOLVE(dallocx);
	MP_RESOLVE(sdallocx);
	MP_RESOLVE(nallocx);
	MP_RESOLVE(mmap);
	MP_RESOLVE(munmap);
	MP_RESOLVE(mremap);
#undef MP_RESOLVE
	resolving = 0;
}

/* The TSC orders events across cores only where the kernel trusts it as
   its clock (it checks that the cores' counters are synchronized). */
static int tsc_usable(void)
{
#if defined(__x86_64__) || defined(__i386__)
	const char *off = getenv("MEMPROF_NO_TSC");
	if (off && *off && *off != '0')
		return 0;
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
	if (!(d & (1u << 27))) /* RDTSCP */
		return 0;
	char buf[32] = "";
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 3 && !strncmp(buf, "tsc", 3) && (buf[3] == '\n' || buf[3] == 0);
#else
	return 0;
#endif
}

static void on_fork_prepare(void);
static void on_fork_parent(void);
static void on_fork_child(void);
static int jemalloc_prof_on(void);
static void je_resolve(void);

/* Starts recording: called from the constructor, or from the first hook
   if an allocation comes before it. */
static void mp_init(void)
{
	int expected = MP_OFF;
	if (!atomic_compare_exchange_strong(&mp_state, &expected, MP_STARTING))
		return;
	resolve_real();
	/* Start the private allocator now, so that its fork handlers are
	   registered before ours (they must run first in the child). */
	mpje_free(mpje_malloc(1));
	if (jemalloc_prof_on())
		je_resolve(); /* here, not inside jemalloc later */
	mp_pid = getpid();
	mp_image = mp_now_ns();
	mp_use_tsc = tsc_usable();
	const char *mm = getenv("MEMPROF_MMAP");
	mmap_on = !(mm && *mm == '0');
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		page_mask = (uintptr_t)ps - 1;
	mp_rss_init();
	const char *depth = getenv("MEMPROF_MAX_DEPTH");
	if (depth && *depth) {
		int d = atoi(depth);
		mp_max_depth = d < 1 ? 1 : d > MP_MAX_DEPTH_LIMIT ? MP_MAX_DEPTH_LIMIT : d;
	}
	const char *del = getenv("MEMPROF_DELETE_STACKS");
	delete_stacks = del && *del == '1';
	if (mp_transport_init() || mp_thread_init() || mp_unwind_init()) {
		atomic_store(&mp_state, MP_STOPPED);
		return;
	}
	pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
	mp_api_init();
	atomic_store(&mp_state, MP_ON);
	mp_send_hello(0, 0);
	mp_modules_send();
	mp_api_started();
}

static void on_quick_exit(void);

/* Fatal signals whose default action ends the program: where the program
   has no handler of its own, ours hands over the buffered events first,
   then the signal takes its default course (SA_RESETHAND: the handler is
   gone once it runs; a fault re-executes and kills, a sent signal is
   raised again). A handler the program installs later replaces ours.
   MEMPROF_CRASH_HANDLERS=0 leaves them alone. */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static void on_fatal_signal(int sig, siginfo_t *info, void *ctx)
{
	int saved = errno;
	if (atomic_load(&mp_state) == MP_ON && getpid() == mp_pid) {
		mp_thread_flush_on_crash();
		mp_rss_send(1);
	}
	errno = saved;
	if (info && info->si_code <= 0) /* sent (kill, raise, abort): send it again, now default */
		raise(sig);
}

static void install_fatal_handlers(void)
{
	const char *env = getenv("MEMPROF_CRASH_HANDLERS");
	if (env && *env == '0')
		return;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;
		if (sigaction(fatal_signals[i], NULL, &old) || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
			continue;
		struct sigaction sa = {.sa_sigaction = on_fatal_signal,
		                       .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER};
		sigemptyset(&sa.sa_mask);
		sigaction(fatal_signals[i], &sa, NULL);
	}
}

__attribute__((constructor(101))) static void mp_constructor(void)
{
	mp_init();
	mp_flusher_start();
	if (atomic_load(&mp_state) == MP_ON) {
		install_fatal_handlers();
		mp_api_install_toggle();
	}
	/* Registered before the program can register any: runs after all of
	   the program's at_quick_exit handlers. */
	at_quick_exit(on_quick_exit);
}

/* At the end of the process: hand over every buffer, say the process
   ended, and from then on send each event at once. */
static void mp_end(int have_status, int status)
{
	if (atomic_load(&mp_state) != MP_ON)
		return;
	mp_flusher_stop();
	mp_thread_flush_all();
	mp_thread_set_immediate();
	mp_rss_send(1);
	mp_reach_scan();
	mp_send_exit(have_status, status);
}

__attribute__((destructor(101))) static void mp_destructor(void)
{
	if (getpid() != mp_pid)
		return;
	mp_unwind_report();
	mp_end(exit_status_known, exit_status);
	mp_transport_finish();
}

static void on_fork_prepare(void)
{
	struct mp_thread *t = mp_thread_enter();
	if (t) {
		mp_thread_flush(t);
		fork_seq = mp_stamp();
		/* Before this thread's next events and before any mark the
		   flusher could send for it: the collector then snapshots the
		   live blocks at the fork before replaying past it. */
		mp_thread_send_fork(t, fork_seq);
		mp_thread_leave(t);
	} else {
		fork_seq = mp_stamp();
	}
}

static void on_fork_parent(void)
{
}

static void on_fork_child(void)
{
	if (atomic_load(&mp_state) != MP_ON)
		return;
	uint64_t parent_image = mp_image;
	mp_pid = getpid();
	mp_image = mp_now_ns();
	mp_thread_after_fork_child();
	mp_transport_after_fork_child();
	mp_send_hello(parent_image, fork_seq);
	mp_modules_send();
	mp_api_started();
	mp_flusher_start();
}

/* --- C++: operator new and delete ----------------------------------------
 *
 * Each form of operator new and delete (the ones libstdc++ exports) calls
 * the next definition (libstdc++'s or libc++'s), so that new_handler,
 * std::bad_alloc and the nothrow forms behave exactly as without us: an
 * exception thrown by the real operator new propagates through our frame
 * (which has unwind tables and nothing to clean up). Before the call, a
 * thread-local note says what is being allocated or freed; the malloc (or
 * aligned_alloc, posix_memalign, memalign) or free hook that the real
 * function reaches records that kind instead of its own. The note is
 * honoured only when that hook was called from the C++ runtime or from
 * here (its return address), so that a new_handler's own mallocs stay
 * mallocs; the runtime's forms calling each other (new[] calls new, a
 * nothrow form the plain one, delete[] delete) keep the outermost note.
 * An exception leaves the note set: harmless, as every call from outside
 * the runtime sets it anew and only the runtime's allocations read it.
 * Nothing here loads libstdc++: its functions are looked up when a
 * program (which then has it loaded) first calls one of ours.
 *
 * When the next definitions are libstdc++'s, whose plain and nothrow
 * forms are malloc in a new_handler loop and whose unaligned deletes are
 * free, those forms take a shorter way (cxx_fast): malloc, recorded here
 * with the form's kind, and the runtime's own function only when malloc
 * gave nothing (new_handler, bad_alloc); free, recorded with the delete's
 * kind. Same blocks, kinds and sizes, without the note, the runtime's
 * frame and a second hook: half the cost of a new/delete pair on
 * tests/bench/maps.cc. The stack then begins at the program's call
 * (libstdc++'s operator new is not on it even with --no-fold).
 * MEMPROF_CXX_DIRECT=0 sends every form the long way.
 */
enum cxx_fn {
	CXX_NW,
	CXX_NW_NT,
	CXX_NW_AL,
	CXX_NW_AL_NT,
	CXX_NA,
	CXX_NA_NT,
	CXX_NA_AL,
	CXX_NA_AL_NT,
	CXX_DL,
	CXX_DL_SZ,
	CXX_DL_NT,
	CXX_DL_AL,
	CXX_DL_AL_NT,
	CXX_DL_SZ_AL,
	CXX_DA,
	CXX_DA_SZ,
	CXX_DA_NT,
	CXX_DA_AL,
	CXX_DA_AL_NT,
	CXX_DA_SZ_AL,
	CXX_NFN
};

static const char *const cxx_names[CXX_NFN] = {
        "_Znwm",
        "_ZnwmRKSt9nothrow_t",
        "_ZnwmSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t",
        "_Znam",
        "_ZnamRKSt9nothrow_t",
        "_ZnamSt11align_val_t",
        "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPv",
        "_ZdlPvm",
        "_ZdlPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t",
        "_ZdlPvmSt11align_val_t",
        "_ZdaPv",
        "_ZdaPvm",
        "_ZdaPvRKSt9nothrow_t",
        "_ZdaPvSt11align_val_t",
        "_ZdaPvSt11align_val_tRKSt9nothrow_t",
        "_ZdaPvmSt11align_val_t",
};

static void *cxx_real[CXX_NFN];
static uintptr_t cxx_lo[CXX_NFN], cxx_hi[CXX_NFN]; /* the real functions' code */
static int cxx_no_ranges;                          /* their sizes are unknown: trust every caller */
static _Atomic int cxx_state;                      /* 0 unresolved, 1 resolving, 2 resolved */
static int cxx_fast;                               /* the next forms are libstdc++'s: see above */

static void cxx_resolve(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&cxx_state, &expected, 1)) {
		while (atomic_load(&cxx_state) != 2)
			sched_yield();
		return;
	}
	/* The runtime may have been loaded with RTLD_LOCAL (a plugin): then
	   only its handle finds it. */
	void *h = NULL;
	if (!dlsym(RTLD_NEXT, "_Znwm") && !(h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD)))
		h = dlopen("libc++.so.1", RTLD_NOW | RTLD_NOLOAD);
	for (int i = 0; i < CXX_NFN; i++) {
		void *p = h ? dlsym(h, cxx_names[i]) : dlsym(RTLD_NEXT, cxx_names[i]);
		Dl_info info;
		const ElfW(Sym) *sym = NULL;
		cxx_real[i] = p;
		if (p && dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
			cxx_lo[i] = (uintptr_t)p;
			cxx_hi[i] = (uintptr_t)p + sym->st_size;
		} else if (p) {
			cxx_no_ranges = 1;
		}
	}
	Dl_info rt;
	const char *direct = getenv("MEMPROF_CXX_DIRECT");
	cxx_fast = !(direct && *direct == '0') && mp_real.malloc && mp_real.free && cxx_real[CXX_NW] &&
	           dladdr(cxx_real[CXX_NW], &rt) && rt.dli_fname && strstr(rt.dli_fname, "/libstdc++.so");
	atomic_store(&cxx_state, 2);
}

static inline void *cxx_fn(enum cxx_fn i)
{
	if (MP_UNLIKELY(atomic_load_explicit(&cxx_state, memory_order_acquire) != 2))
		cxx_resolve();
	return cxx_real[i];
}

static void mp_init(void);

/* Before a note is taken: recording must have started, else the note
   would be a spare one that the hook reached next does not read (the C++
   runtime's first allocations come before our constructor). */
static inline void cxx_begin(void)
{
	if (MP_UNLIKELY(atomic_load_explicit(&mp_state, memory_order_relaxed) == MP_OFF))
		mp_init();
}

/* Whether code at pc is the C++ runtime's operator new or delete, or ours. */
static int from_cxx_runtime(uintptr_t pc)
{
	if (mp_unwind_is_self(pc))
		return 1;
	for (int i = 0; i < CXX_NFN; i++)
		if (pc - cxx_lo[i] < cxx_hi[i] - cxx_lo[i])
			return 1;
	return cxx_no_ranges;
}

/* In an allocation hook reached with a note set: the note's kind and size
   when the caller (ra) is the runtime's operator new. */
static void new_note_apply(const struct mp_cxx_note *n, int *kind, size_t *size, uintptr_t ra)
{
	size_t *new_size;
	mp_thread_note(&new_size);
	if (from_cxx_runtime(ra)) {
		*kind = n->new_kind;
		*size = *new_size;
	}
}

static inline void *hook_alloc(void *p, int kind, size_t size, struct mp_thread *t);

/* malloc with a note set (kept out of malloc's own code). */
__attribute__((noinline, cold)) static void *malloc_noted(size_t size, struct mp_thread *t, uintptr_t ra)
{
	int kind = MP_KIND_MALLOC;
	size_t rsize = size;
	new_note_apply(MP_THREAD_NOTE(t), &kind, &rsize, ra);
	return hook_alloc(mp_real.malloc(size), kind, rsize, t);
}

/* Records a free made with a deallocation note set. */
__attribute__((noinline, cold)) static void free_noted(struct mp_thread *t, void *ptr, uintptr_t ra)
{
	if (from_cxx_runtime(ra))
		mp_record_free_kind(t, ptr, MP_THREAD_NOTE(t)->free_kind, delete_stacks);
	else
		mp_record_free(t, ptr);
}

/* Sets the note n for a call of an operator new form from ra, returning
   what to put back after it. */
struct new_saved {
	size_t size;
	uint8_t on, kind;
};

static inline struct new_saved new_note_begin(struct mp_cxx_note *n, size_t *new_size, int kind, size_t size,
                                              uintptr_t ra)
{
	struct new_saved saved = {*new_size, n->new_on, n->new_kind};
	if (!saved.on || !from_cxx_runtime(ra)) {
		*new_size = size;
		n->new_on = 1;
		n->new_kind = (uint8_t)kind;
	}
	return saved;
}

static inline void new_note_end(struct mp_cxx_note *n, size_t *new_size, const struct new_saved *saved)
{
	*new_size = saved->size;
	n->new_on = saved->on;
	n->new_kind = saved->kind;
}

static inline uint8_t free_note_begin(struct mp_cxx_note *n, int kind, uintptr_t ra)
{
	uint8_t saved = n->free_kind;
	if (!saved || !from_cxx_runtime(ra))
		n->free_kind = (uint8_t)kind;
	return saved;
}

/* Without a C++ runtime to call (none could be found): malloc's block, and
   abort where the runtime would throw. */
static void *new_fallback(size_t size, size_t align, int nothrow)
{
	void *p;
	if (align > 16) {
		size_t n = (size + align - 1) & ~(align - 1);
		p = aligned_alloc(align, n ? n : align);
	} else {
		p = malloc(size ? size : 1);
	}
	if (!p && !nothrow)
		abort();
	return p;
}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nt_fn)(size_t, const void *);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void *(*new_al_nt_fn)(size_t, size_t, const void *);
typedef void (*del_fn)(void *);
typedef void (*del_x_fn)(void *, size_t);
typedef void (*del_p_fn)(void *, const void *);
typedef void (*del_xp_fn)(void *, size_t, const void *);
typedef void (*del_xx_fn)(void *, size_t, size_t);

static inline void *hook_alloc(void *p, int kind, size_t size, struct mp_thread *t);
static inline struct mp_thread *hook_begin(void);

/* The short way of cxx_fast for the unaligned deletes: 1 when it did it. */
static inline int delete_fast(void *ptr, int kind)
{
	if (MP_UNLIKELY(atomic_load_explicit(&cxx_state, memory_order_acquire) != 2))
		cxx_resolve();
	if (!cxx_fast)
		return 0;
	if (MP_UNLIKELY(!ptr || in_boot_pool(ptr)))
		return 1;
	struct mp_thread *t = mp_thread_enter();
	if (t)
		mp_record_free_kind(t, ptr, kind, delete_stacks);
	mp_real.free(ptr);
	if (t)
		mp_thread_leave(t);
	return 1;
}

/* The short way of cxx_fast, for the unaligned forms: 1 when it did it. */
static inline int new_fast(void **out, size_t size, int kind)
{
	if (MP_UNLIKELY(atomic_load_explicit(&cxx_state, memory_order_acquire) != 2))
		cxx_resolve();
	if (!cxx_fast)
		return 0;
	struct mp_thread *t = hook_begin();
	void *p = mp_real.malloc(size ? size : 1);
	if (MP_UNLIKELY(!p)) { /* the runtime's turn: new_handler, bad_alloc */
		if (t)
			mp_thread_leave(t);
		return 0;
	}
	*out = hook_alloc(p, kind, size, t);
	return 1;
}

#define MP_NEW_HOOK(name, idx, kind, type, params, args, size, align, nothrow, fast) \
	MP_EXPORT void *name params; \
	MP_EXPORT void *name params \
	{ \
		void *p; \
		if ((fast) && new_fast(&p, size, kind)) \
			return p; \
		type real = (type)cxx_fn(idx); \
		size_t *new_size; \
		cxx_begin(); \
		struct mp_cxx_note *note = mp_thread_note(&new_size); \
		struct new_saved saved = \
		        new_note_begin(note, new_size, kind, size, (uintptr_t)__builtin_return_address(0)); \
		p = real ? real args : new_fallback(size, align, nothrow); \
		new_note_end(note, new_size, &saved); \
		return p; \
	}

MP_NEW_HOOK(_Znwm, CXX_NW, MP_KIND_NEW, new_fn, (size_t n), (n), n, 0, 0, 1)
MP_NEW_HOOK(_ZnwmRKSt9nothrow_t, CXX_NW_NT, MP_KIND_NEW, new_nt_fn, (size_t n, const void *nt), (n, nt), n, 0, 1, 1)
MP_NEW_HOOK(_ZnwmSt11align_val_t, CXX_NW_AL, MP_KIND_NEW, new_al_fn, (size_t n, size_t al), (n, al), n, al, 0, 0)
MP_NEW_HOOK(_ZnwmSt11align_val_tRKSt9nothrow_t, CXX_NW_AL_NT, MP_KIND_NEW, new_al_nt_fn,
            (size_t n, size_t al, const void *nt), (n, al, nt), n, al, 1, 0)
MP_NEW_HOOK(_Znam, CXX_NA, MP_KIND_NEW_ARRAY, new_fn, (size_t n), (n), n, 0, 0, 1)
MP_NEW_HOOK(_ZnamRKSt9nothrow_t, CXX_NA_NT, MP_KIND_NEW_ARRAY, new_nt_fn, (size_t n, const void *nt), (n, nt), n, 0, 1,
            1)
MP_NEW_HOOK(_ZnamSt11align_val_t, CXX_NA_AL, MP_KIND_NEW_ARRAY, new_al_fn, (size_t n, size_t al), (n, al), n, al, 0, 0)
MP_NEW_HOOK(_ZnamSt11align_val_tRKSt9nothrow_t, CXX_NA_AL_NT, MP_KIND_NEW_ARRAY, new_al_nt_fn,
            (size_t n, size_t al, const void *nt), (n, al, nt), n, al, 1, 0)

#define MP_DELETE_HOOK(name, idx, kind, type, params, args, fast) \
	MP_EXPORT void name params; \
	MP_EXPORT void name params \
	{ \
		if ((fast) && delete_fast(p, kind)) \
			return; \
		type real = (type)cxx_fn(idx); \
		size_t *new_size; \
		cxx_begin(); \
		struct mp_cxx_note *note = mp_thread_note(&new_size); \
		uint8_t saved = free_note_begin(note, kind, (uintptr_t)__builtin_return_address(0)); \
		if (real) \
			real args; \
		else \
			free(p); \
		note->free_kind = saved; \
	}

MP_DELETE_HOOK(_ZdlPv, CXX_DL, MP_FREE_DELETE, del_fn, (void *p), (p), 1)
MP_DELETE_HOOK(_ZdlPvm, CXX_DL_SZ, MP_FREE_DELETE, del_x_fn, (void *p, size_t n), (p, n), 1)
MP_DELETE_HOOK(_ZdlPvRKSt9nothrow_t, CXX_DL_NT, MP_FREE_DELETE, del_p_fn, (void *p, const void *nt), (p, nt), 1)
MP_DELETE_HOOK(_ZdlPvSt11align_val_t, CXX_DL_AL, MP_FREE_DELETE, del_x_fn, (void *p, size_t al), (p, al), 0)
MP_DELETE_HOOK(_ZdlPvSt11align_val_tRKSt9nothrow_t, CXX_DL_AL_NT, MP_FREE_DELETE, del_xp_fn,
               (void *p, size_t al, const void *nt), (p, al, nt), 0)
MP_DELETE_HOOK(_ZdlPvmSt11align_val_t, CXX_DL_SZ_AL, MP_FREE_DELETE, del_xx_fn, (void *p, size_t n, size_t al),
               (p, n, al), 0)
MP_DELETE_HOOK(_ZdaPv, CXX_DA, MP_FREE_DELETE_ARRAY, del_fn, (void *p), (p), 1)
MP_DELETE_HOOK(_ZdaPvm, CXX_DA_SZ, MP_FREE_DELETE_ARRAY, del_x_fn, (void *p, size_t n), (p, n), 1)
MP_DELETE_HOOK(_ZdaPvRKSt9nothrow_t, CXX_DA_NT, MP_FREE_DELETE_ARRAY, del_p_fn, (void *p, const void *nt), (p, nt), 1)
MP_DELETE_HOOK(_ZdaPvSt11align_val_t, CXX_DA_AL, MP_FREE_DELETE_ARRAY, del_x_fn, (void *p, size_t al), (p, al), 0)
MP_DELETE_HOOK(_ZdaPvSt11align_val_tRKSt9nothrow_t, CXX_DA_AL_NT, MP_FREE_DELETE_ARRAY, del_xp_fn,
               (void *p, size_t al, const void *nt), (p, al, nt), 0)
MP_DELETE_HOOK(_ZdaPvmSt11align_val_t, CXX_DA_SZ_AL, MP_FREE_DELETE_ARRAY, del_xx_fn, (void *p, size_t n, size_t al),
               (p, n, al), 0)

/* --- the allocation functions ---------------------------------------------- */

static inline void *hook_alloc(void *p, int kind, size_t size, struct mp_thread *t)
{
	if (MP_LIKELY(t)) {
		if (p && MP_LIKELY(!atomic_load_explicit(&mp_paused, memory_order_relaxed)))
			mp_record_alloc(t, kind, p, size,
			                mp_real.malloc_usable_size ? mp_real.malloc_usable_size(p) : size,
			                MP_HOOK_FRAME());
		mp_thread_leave(t);
	} else if (p && mp_thread_busy()) {
		mp_note_internal(p); /* from inside a hook: the profiler's own */
	}
	return p;
}

static inline struct mp_thread *hook_begin(void)
{
	if (MP_UNLIKELY(atomic_load_explicit(&mp_state, memory_order_relaxed) == MP_OFF))
		mp_init();
	return mp_thread_enter();
}

MP_EXPORT void *malloc(size_t size)
{
	if (MP_UNLIKELY(!mp_real.malloc)) {
		resolve_real();
		if (!mp_real.malloc)
			return boot_alloc(size, 16);
	}
	struct mp_thread *t = hook_begin();
	if (MP_UNLIKELY(t && MP_THREAD_NOTE(t)->new_on))
		return malloc_noted(size, t, (uintptr_t)__builtin_return_address(0));
	return hook_alloc(mp_real.malloc(size), MP_KIND_MALLOC, size, t);
}

MP_EXPORT void free(void *ptr)
{
	if (MP_UNLIKELY(!ptr || in_boot_pool(ptr)))
		return;
	if (MP_UNLIKELY(!mp_real.free)) {
		resolve_real();
		if (!mp_real.free)
			return;
	}
	struct mp_thread *t = mp_thread_enter();
	if (t) {
		if (MP_UNLIKELY(MP_THREAD_NOTE(t)->free_kind))
			free_noted(t, ptr, (uintptr_t)__builtin_return_address(0));
		else
			mp_record_free(t, ptr);
		mp_real.free(ptr);
		mp_thread_leave(t);
		return;
	}
	mp_real.free(ptr);
}

MP_EXPORT void *calloc(size_t n, size_t size)
{
	if (MP_UNLIKELY(!mp_real.calloc)) {
		resolve_real();
		if (!mp_real.calloc) {
			size_t total;
			if (__builtin_mul_overflow(n, size, &total))
				return NULL;
			return boot_alloc(total, 16); /* static: already zero */
		}
	}
	struct mp_thread *t = hook_begin();
	return hook_alloc(mp_real.calloc(n, size), MP_KIND_CALLOC, n * size, t);
}

static void *do_realloc(void *ptr, size_t size, int kind, void *(*fn)(void *, size_t, size_t, int), size_t nmemb,
                        int flags)
{
	struct mp_thread *t = hook_begin();
	if (t && ptr)
		mp_record_free(t, ptr);
	void *p = fn(ptr, size, nmemb, flags);
	if (t) {
		if (p) {
			if (!atomic_load_explicit(&mp_paused, memory_order_relaxed))
				mp_record_alloc(t, kind, p, kind == MP_KIND_REALLOCARRAY ? size * nmemb : size,
				                mp_real.malloc_usable_size ? mp_real.malloc_usable_size(p) : size,
				                MP_HOOK_FRAME());
		} else if (ptr && (size || kind == MP_KIND_RALLOCX))
			mp_record_revive(t, ptr); /* failed: the old block stays */
		mp_thread_leave(t);
	}
	return p;
}

static void *call_realloc(void *ptr, size_t size, size_t nmemb, int flags)
{
	return mp_real.realloc(ptr, size);
}

static void *call_reallocarray(void *ptr, size_t size, size_t nmemb, int flags)
{
	return mp_real.reallocarray(ptr, nmemb, size);
}

static void *call_rallocx(void *ptr, size_t size, size_t nmemb, int flags)
{
	return mp_real.rallocx(ptr, size, flags);
}

MP_EXPORT void *realloc(void *ptr, size_t size)
{
	if (MP_UNLIKELY(in_boot_pool(ptr))) {
		void *p = malloc(size);
		if (p)
			memcpy(p, ptr, size < 256 ? size : 256); /* boot blocks are tiny */
		return p;
	}
	if (MP_UNLIKELY(!mp_real.realloc))
		resolve_real();
	return do_realloc(ptr, size, MP_KIND_REALLOC, call_realloc, 1, 0);
}

MP_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (MP_UNLIKELY(!mp_real.reallocarray))
		resolve_real();
	if (!mp_real.reallocarray) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(ptr, size, MP_KIND_REALLOCARRAY, call_reallocarray, nmemb, 0);
}

MP_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (MP_UNLIKELY(!mp_real.posix_memalign))
		resolve_real();
	struct mp_thread *t = hook_begin();
	int kind = MP_KIND_POSIX_MEMALIGN;
	size_t rsize = size;
	if (MP_UNLIKELY(t && MP_THREAD_NOTE(t)->new_on))
		new_note_apply(MP_THREAD_NOTE(t), &kind, &rsize, (uintptr_t)__builtin_return_address(0));
	int r = mp_real.posix_memalign(out, align, size);
	hook_alloc(r == 0 ? *out : NULL, kind, rsize, t);
	return r;
}

/* The aligned allocation functions serve aligned operator new (libstdc++
   calls aligned_alloc, libc++ posix_memalign or aligned_alloc). */
#define MP_SIMPLE_HOOK(name, kind0, params, args, size_expr) \
	MP_EXPORT void *name params \
	{ \
		if (MP_UNLIKELY(!mp_real.name)) \
			resolve_real(); \
		if (MP_UNLIKELY(!mp_real.name)) { \
			errno = ENOMEM; \
			return NULL; \
		} \
		struct mp_thread *t = hook_begin(); \
		int kind = kind0; \
		size_t rsize = size_expr; \
		if (MP_UNLIKELY(t && MP_THREAD_NOTE(t)->new_on)) \
			new_note_apply(MP_THREAD_NOTE(t), &kind, &rsize, (uintptr_t)__builtin_return_address(0)); \
		return hook_alloc(mp_real.name args, kind, rsize, t); \
	}

MP_SIMPLE_HOOK(aligned_alloc, MP_KIND_ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size)
MP_SIMPLE_HOOK(memalign, MP_KIND_MEMALIGN, (size_t align, size_t size), (align, size), size)
MP_SIMPLE_HOOK(valloc, MP_KIND_VALLOC, (size_t size), (size), size)
MP_SIMPLE_HOOK(pvalloc, MP_KIND_PVALLOC, (size_t size), (size), size)
MP_SIMPLE_HOOK(mallocx, MP_KIND_MALLOCX, (size_t size, int flags), (size, flags), size)

MP_EXPORT size_t malloc_usable_size(void *ptr)
{
	if (!ptr)
		return 0;
	if (in_boot_pool(ptr))
		return 0;
	if (MP_UNLIKELY(!mp_real.malloc_usable_size))
		resolve_real();
	return mp_real.malloc_usable_size(ptr);
}

MP_EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
	if (MP_UNLIKELY(!mp_real.rallocx))
		resolve_real();
	if (!mp_real.rallocx)
		return NULL;
	return do_realloc(ptr, size, MP_KIND_RALLOCX, call_rallocx, 1, flags);
}

MP_EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags)
{
	if (MP_UNLIKELY(!mp_real.xallocx))
		resolve_real();
	if (!mp_real.xallocx)
		return 0;
	struct mp_thread *t = hook_begin();
	if (t)
		mp_record_free(t, ptr);
	size_t r = mp_real.xallocx(ptr, size, extra, flags);
	if (t) {
		/* In place: the block is now `size` bytes if it could be resized. */
		if (r >= size) {
			if (!atomic_load_explicit(&mp_paused, memory_order_relaxed))
				mp_record_alloc(t, MP_KIND_XALLOCX, ptr, size, r, MP_HOOK_FRAME());
		} else
			mp_record_revive(t, ptr);
		mp_thread_leave(t);
	}
	return r;
}

MP_EXPORT size_t sallocx(const void *ptr, int flags)
{
	if (MP_UNLIKELY(!mp_real.sallocx))
		resolve_real();
	return mp_real.sallocx ? mp_real.sallocx(ptr, flags) : 0;
}

MP_EXPORT size_t nallocx(size_t size, int flags)
{
	if (MP_UNLIKELY(!mp_real.nallocx))
		resolve_real();
	return mp_real.nallocx ? mp_real.nallocx(size, flags) : 0;
}

MP_EXPORT void dallocx(void *ptr, int flags)
{
	if (MP_UNLIKELY(!mp_real.dallocx))
		resolve_real();
	struct mp_thread *t = mp_thread_enter();
	if (t)
		mp_record_free(t, ptr);
	mp_real.dallocx(ptr, flags);
	if (t)
		mp_thread_leave(t);
}

MP_EXPORT void sdallocx(void *ptr, size_t size, int flags)
{
	if (MP_UNLIKELY(!mp_real.sdallocx))
		resolve_real();
	struct mp_thread *t = mp_thread_enter();
	if (t)
		mp_record_free(t, ptr);
	mp_real.sdallocx(ptr, size, flags);
	if (t)
		mp_thread_leave(t);
}

/* --- anonymous mappings ---------------------------------------------------
 * mmap/mmap64 of anonymous private memory (MAP_ANONYMOUS|MAP_PRIVATE, not
 * PROT_NONE: a reservation is address space, not memory) is recorded as an
 * allocation of kind mmap; munmap as the release of a range, which the
 * collector matches against the recorded mappings (part of one, several,
 * or none); mremap as both. Calls made from inside a hook are the
 * allocator's own (jemalloc's chunks; glibc's malloc calls the kernel
 * directly) or the profiler's, and are not recorded: their memory is
 * counted as heap blocks already. The profiler's private jemalloc never
 * comes here (Makefile.am renames its mmap and munmap to the functions
 * just below). A release is stamped before the real call, so that a
 * mapping another thread gets at the same address comes after it, and
 * written only if the call succeeded. MEMPROF_MMAP=0 turns it off. */

MP_HIDDEN void *mpje_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
MP_HIDDEN int mpje_sys_munmap(void *addr, size_t len);

void *mpje_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int mpje_sys_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

/* jemalloc's heap profiling, which memprof never turns on (only jemalloc's
   own MALLOC_CONF=prof:true would), calls exp, log, round,
   _Unwind_Backtrace and _Unwind_GetIP: Makefile.am renames them to these,
   which look the real ones up on first use. So no traced process loads
   libm and libgcc_s for them at its start (about 0.1 ms a process, in a
   test suite's hundreds). mp_init looks them up at once when profiling
   is on (jemalloc_prof_on). */
typedef double (*mp_math_fn)(double);
typedef int (*mp_ubt_fn)(void *trace, void *arg);
typedef uintptr_t (*mp_uip_fn)(void *ctx);
static mp_math_fn je_exp, je_log, je_round;
static mp_ubt_fn je_ubt;
static mp_uip_fn je_uip;

static void *je_lookup(const char *lib, const char *name)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	return h ? dlsym(h, name) : NULL;
}

static void je_resolve(void)
{
	if (!je_exp)
		*(void **)&je_exp = je_lookup("libm.so.6", "exp");
	if (!je_log)
		*(void **)&je_log = je_lookup("libm.so.6", "log");
	if (!je_round)
		*(void **)&je_round = je_lookup("libm.so.6", "round");
	if (!je_ubt)
		*(void **)&je_ubt = je_lookup("libgcc_s.so.1", "_Unwind_Backtrace");
	if (!je_uip)
		*(void **)&je_uip = je_lookup("libgcc_s.so.1", "_Unwind_GetIP");
}

MP_HIDDEN double mpje_shim_exp(double x);
MP_HIDDEN double mpje_shim_log(double x);
MP_HIDDEN double mpje_shim_round(double x);
MP_HIDDEN int mpje_shim_Unwind_Backtrace(void *trace, void *arg);
MP_HIDDEN uintptr_t mpje_shim_Unwind_GetIP(void *ctx);

double mpje_shim_exp(double x)
{
	je_resolve();
	return je_exp ? je_exp(x) : 1.0;
}

double mpje_shim_log(double x)
{
	je_resolve();
	return je_log ? je_log(x) : 0.0;
}

double mpje_shim_round(double x)
{
	je_resolve();
	return je_round ? je_round(x) : x;
}

int mpje_shim_Unwind_Backtrace(void *trace, void *arg)
{
	je_resolve();
	return je_ubt ? je_ubt(trace, arg) : 5 /* _URC_END_OF_STACK */;
}

uintptr_t mpje_shim_Unwind_GetIP(void *ctx)
{
	je_resolve();
	return je_uip ? je_uip(ctx) : 0;
}

/* Whether the private jemalloc profiles (its opt.prof). */
static int jemalloc_prof_on(void)
{
	bool on = false;
	size_t len = sizeof(on);
	return mpje_mallctl("opt.prof", &on, &len, NULL, 0) == 0 && on;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

MP_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);

static inline size_t page_round(size_t len)
{
	return (len + page_mask) & ~page_mask;
}

/* The thread's state for recording a mapping call, or NULL. */
static inline struct mp_thread *map_begin(void)
{
	if (!mmap_on || atomic_load_explicit(&mp_state, memory_order_relaxed) != MP_ON || mp_thread_busy())
		return NULL;
	return mp_thread_enter();
}

static void *record_mmap(void *p, size_t len, int prot, int flags)
{
	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && prot != PROT_NONE) {
		struct mp_thread *t = map_begin();
		if (t) {
			mp_record_map(t, p, len, page_round(len), 0);
			mp_thread_leave(t);
		}
	}
	return p;
}

MP_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (MP_UNLIKELY(!mp_real.mmap))
		resolve_real();
	void *p = mp_real.mmap ? mp_real.mmap(addr, len, prot, flags, fd, off)
	                       : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return record_mmap(p, len, prot, flags);
}

MP_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off64_t);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mmap64");
	void *p = real ? real(addr, len, prot, flags, fd, off)
	               : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, (off_t)off);
	return record_mmap(p, len, prot, flags);
}

MP_EXPORT int munmap(void *addr, size_t len)
{
	if (MP_UNLIKELY(!mp_real.munmap))
		resolve_real();
	struct mp_thread *t = NULL;
	uint64_t stamp = 0;
	if (len && !((uintptr_t)addr & page_mask) && (t = map_begin()))
		stamp = mp_stamp();
	int r = mp_real.munmap ? mp_real.munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
	if (t) {
		if (r == 0)
			mp_record_unmap(t, stamp, addr, page_round(len));
		mp_thread_leave(t);
	}
	return r;
}

MP_EXPORT void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (MP_UNLIKELY(!mp_real.mremap))
		resolve_real();
	/* old_size 0 duplicates a shared mapping; MREMAP_DONTUNMAP leaves the
	   old range mapped: neither concerns a recorded mapping as such. */
	struct mp_thread *t = NULL;
	uint64_t stamp = 0;
	if (old_size && !(flags & MREMAP_DONTUNMAP) && !((uintptr_t)old & page_mask) && (t = map_begin()))
		stamp = mp_stamp();
	void *p = mp_real.mremap ? mp_real.mremap(old, old_size, new_size, flags, new_addr)
	                         : (void *)syscall(SYS_mremap, old, old_size, new_size, flags, new_addr);
	if (t) {
		if (p != MAP_FAILED) {
			mp_record_unmap(t, stamp, old, page_round(old_size));
			mp_record_map(t, p, new_size, page_round(new_size), MP_MAP_REMAP);
		}
		mp_thread_leave(t);
	}
	return p;
}

/* Process end and exec: hand everything over first. */

/* main's return value is the exit status, but glibc calls exit() from
   inside libc where no interposition reaches: wrap main to learn it. */
typedef int (*mp_main_fn)(int, char **, char **);
static mp_main_fn real_main;

uintptr_t mp_main_frame;

static int wrap_main(int argc, char **argv, char **envp)
{
	volatile uintptr_t here = (uintptr_t)&here;
	int r = real_main(argc, argv, envp);
	mp_main_frame = here; /* main returned: the stack below is dead */
	if (getpid() == mp_pid) {
		exit_status_known = 1;
		exit_status = (r & 0xff) << 8;
	}
	return r;
}

MP_EXPORT int __libc_start_main(mp_main_fn main_fn, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void *stack_end);
MP_EXPORT int __libc_start_main(mp_main_fn main_fn, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(mp_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
	*(void **)&real = dlsym(RTLD_NEXT, "__libc_start_main");
	real_main = main_fn;
	return real(wrap_main, argc, argv, init, fini, rtld_fini, stack_end);
}

MP_EXPORT void exit(int status)
{
	static void (*real_exit)(int);
	if (!real_exit)
		*(void **)&real_exit = dlsym(RTLD_NEXT, "exit");
	if (getpid() == mp_pid) {
		exit_status_known = 1;
		exit_status = (status & 0xff) << 8;
	}
	real_exit(status);
	__builtin_unreachable();
}

static void on_quick_exit(void)
{
	if (getpid() != mp_pid)
		return;
	mp_end(exit_status_known, exit_status);
	mp_transport_finish();
}

MP_EXPORT void quick_exit(int status)
{
	static void (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "quick_exit");
	if (getpid() == mp_pid) {
		exit_status_known = 1;
		exit_status = (status & 0xff) << 8;
	}
	real(status);
	__builtin_unreachable();
}

/* Reaping a child: its parent learns how it ended, which the child itself
   cannot tell when a signal killed it. */
static void report_child(pid_t pid, int status)
{
	if (pid <= 0 || atomic_load(&mp_state) != MP_ON || getpid() != mp_pid ||
	    !(WIFEXITED(status) || WIFSIGNALED(status)))
		return;
	int saved = errno;
	uint32_t payload[2] = {(uint32_t)pid, (uint32_t)status};
	mp_send(MP_MSG_CHILD, 0, payload, sizeof(payload));
	errno = saved;
}

/* Declares `real`, the next definition of fn, looked up on first use. */
#define MP_RESOLVE_ONCE(fn) \
	static __typeof__(&fn) real; \
	if (!real) \
	real = (__typeof__(&fn))dlsym(RTLD_NEXT, #fn)

/* Counts the thread in (mp_in_loader, lib/internal.h). */
MP_EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	MP_RESOLVE_ONCE(dl_iterate_phdr);
	mp_in_loader++;
	int r = real(cb, data);
	mp_in_loader--;
	return r;
}

MP_EXPORT pid_t waitpid(pid_t pid, int *wstatus, int options)
{
	MP_RESOLVE_ONCE(waitpid);
	int st = 0;
	pid_t r = real(pid, &st, options);
	if (r > 0) {
		if (wstatus)
			*wstatus = st;
		report_child(r, st);
	}
	return r;
}

MP_EXPORT pid_t wait(int *wstatus)
{
	MP_RESOLVE_ONCE(wait);
	int st = 0;
	pid_t r = real(&st);
	if (r > 0) {
		if (wstatus)
			*wstatus = st;
		report_child(r, st);
	}
	return r;
}

MP_EXPORT pid_t wait3(int *wstatus, int options, struct rusage *ru)
{
	MP_RESOLVE_ONCE(wait3);
	int st = 0;
	pid_t r = real(&st, options, ru);
	if (r > 0) {
		if (wstatus)
			*wstatus = st;
		report_child(r, st);
	}
	return r;
}

MP_EXPORT pid_t wait4(pid_t pid, int *wstatus, int options, struct rusage *ru)
{
	MP_RESOLVE_ONCE(wait4);
	int st = 0;
	pid_t r = real(pid, &st, options, ru);
	if (r > 0) {
		if (wstatus)
			*wstatus = st;
		report_child(r, st);
	}
	return r;
}

MP_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	MP_RESOLVE_ONCE(waitid);
	int r = real(idtype, id, info, options);
	if (r == 0 && info && info->si_pid > 0) {
		if (info->si_code == CLD_EXITED)
			report_child(info->si_pid, (info->si_status & 0xff) << 8);
		else if (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)
			report_child(info->si_pid, (info->si_status & 0x7f) | (info->si_code == CLD_DUMPED ? 0x80 : 0));
	}
	return r;
}

static void end_now(int status)
{
	if (getpid() != mp_pid)
		return; /* a vfork child shares our memory: not our end */
	mp_end(1, (status & 0xff) << 8);
	mp_transport_finish();
}

MP_EXPORT void _exit(int status)
{
	static void (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "_exit");
	end_now(status);
	real(status);
	__builtin_unreachable();
}

MP_EXPORT void _Exit(int status)
{
	static void (*real)(int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "_Exit");
	end_now(status);
	real(status);
	__builtin_unreachable();
}

static void before_exec(void)
{
	if (atomic_load(&mp_state) != MP_ON || getpid() != mp_pid)
		return;
	mp_thread_flush_all();
	mp_rss_send(1);
	mp_send(MP_MSG_EXEC, 0, NULL, 0);
}

#define MP_EXEC_HOOK(name, params, args) \
	MP_EXPORT int name params \
	{ \
		static int(*real) params; \
		if (!real) \
			*(void **)&real = dlsym(RTLD_NEXT, #name); \
		before_exec(); \
		return real args; \
	}

MP_EXEC_HOOK(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp))
MP_EXEC_HOOK(execv, (const char *path, char *const argv[]), (path, argv))
MP_EXEC_HOOK(execvp, (const char *file, char *const argv[]), (file, argv))
MP_EXEC_HOOK(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))
MP_EXEC_HOOK(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))

/* The execl family takes a NULL-terminated argument list: collect it and
   go through the matching execv function. */
#define MP_MAX_EXECL_ARGS 4096
static int collect_args(const char *arg0, va_list ap, char **argv, char ***envp_out)
{
	int n = 0;
	argv[n++] = (char *)arg0;
	while (n < MP_MAX_EXECL_ARGS && (argv[n] = va_arg(ap, char *)))
		n++;
	if (n == MP_MAX_EXECL_ARGS)
		return -1;
	if (envp_out)
		*envp_out = va_arg(ap, char **);
	return 0;
}

MP_EXPORT int execl(const char *path, const char *arg, ...)
{
	char *argv[MP_MAX_EXECL_ARGS];
	va_list ap;
	va_start(ap, arg);
	int r = collect_args(arg, ap, argv, NULL);
	va_end(ap);
	if (r) {
		errno = E2BIG;
		return -1;
	}
	return execv(path, argv);
}

MP_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char *argv[MP_MAX_EXECL_ARGS];
	va_list ap;
	va_start(ap, arg);
	int r = collect_args(arg, ap, argv, NULL);
	va_end(ap);
	if (r) {
		errno = E2BIG;
		return -1;
	}
	return execvp(file, argv);
}

MP_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *argv[MP_MAX_EXECL_ARGS];
	char **envp;
	va_list ap;
	va_start(ap, arg);
	int r = collect_args(arg, ap, argv, &envp);
	va_end(ap);
	if (r) {
		errno = E2BIG;
		return -1;
	}
	return execve(path, argv, envp);
}
