/* Stack capture: the fast unwinder (lib/cfi.c) first, libunwind for the
 * stacks it does not understand.
 *
 * libunwind is opened with RTLD_LOCAL at start-up rather than linked: its
 * _Unwind_* symbols would otherwise join the global scope and take over the
 * target's C++ exception handling from libgcc_s. If it cannot be opened,
 * glibc's backtrace() is used instead. MEMPROF_UNWIND=libunwind turns the
 * fast unwinder off; MEMPROF_UNWIND=check runs both on every stack and
 * says at exit how often they disagreed (for the tests).
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"

typedef int (*unw_backtrace_fn)(void **, int);
typedef int (*unw_set_caching_fn)(void *, int);

static unw_backtrace_fn unw_bt;
static int use_cfi;
int mp_unwind_checking;
static _Atomic unsigned long checked, disagreed;
static uintptr_t self_lo, self_hi; /* our own code: frames to skip */
__thread int mp_in_loader __attribute__((tls_model("initial-exec")));

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t here = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (here >= lo && here < hi) {
			self_lo = lo;
			self_hi = hi;
			return 1;
		}
	}
	return 0;
}

int mp_unwind_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&mp_unwind_init);
	void *h = dlopen(MP_UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		unw_bt = (unw_backtrace_fn)dlsym(h, "unw_backtrace");
		unw_set_caching_fn set_caching = (unw_set_caching_fn)dlsym(h, "_ULx86_64_set_caching_policy");
		void **local_as = dlsym(h, "_ULx86_64_local_addr_space");
		if (set_caching && local_as)
			set_caching(*local_as, 2 /* UNW_CACHE_PER_THREAD */);
	}
	if (!unw_bt) {
		void *warm[4];
		backtrace(warm, 4); /* loads libgcc_s now, not inside a hook */
	}
	const char *mode = getenv("MEMPROF_UNWIND");
	use_cfi = !(mode && !strcmp(mode, "libunwind")) && mp_cfi_init() == 0;
	mp_cfi_skip(self_lo, self_hi);
	mp_unwind_checking = use_cfi && mode && !strcmp(mode, "check");
	return 0;
}

int mp_unwind_is_self(uintptr_t pc)
{
	return pc - self_lo < self_hi - self_lo;
}

static int slow_unwind(uint64_t *ips, int max);

void mp_unwind_thread_init(void)
{
	if (use_cfi)
		mp_cfi_thread_init();
	/* libunwind's first use in a thread allocates its TLS from the
	   program's heap: here, under the guard, not in a later fallback. */
	uint64_t warm[MP_UNWIND_BUF];
	slow_unwind(warm, 8);
}

/* Writes the frames outside our own code (the hooks at the top, wrap_main
   at the bottom) outermost first, at most max of them, marking a cut:
   counted first, then written from the end, so that no copy of the stack
   takes room on the stack (a signal handler's may be small). */
static int keep_theirs(void *const *raw, int n, int want, uint64_t *out, int max)
{
	uint64_t self_size = self_hi - self_lo;
	int depth = 0, i = 0;
	for (; i < n && depth < max; i++)
		depth += (uint64_t)(uintptr_t)raw[i] - self_lo >= self_size;
	int cut = i < n || n == want;
	int k = cut + depth;
	for (int j = 0; j < i; j++) {
		uint64_t ip = (uint64_t)(uintptr_t)raw[j];
		if (ip - self_lo >= self_size)
			out[--k] = ip;
	}
	if (cut)
		out[0] = MP_IP_TRUNCATED;
	return cut + depth;
}

static int slow_unwind(uint64_t *out, int max)
{
	void *raw[MP_UNWIND_BUF];
	int want = max + 16 < MP_UNWIND_BUF ? max + 16 : MP_UNWIND_BUF;
	if (mp_in_loader) { /* in a signal handler, inside dl_iterate_phdr */
		out[0] = MP_IP_TRUNCATED;
		return 1;
	}
	int n = unw_bt ? unw_bt(raw, want) : backtrace(raw, want);
	return keep_theirs(raw, n, want, out, max);
}

void mp_unwind_disagreed(void)
{
	atomic_fetch_add(&disagreed, 1);
}

void mp_unwind_report(void)
{
	if (!mp_unwind_checking)
		return;
	char line[128];
	unsigned long c = atomic_load(&checked), d = atomic_load(&disagreed);
	int len = snprintf(line, sizeof(line), "memprof: unwind check: %lu stacks, %lu disagreed\n", c, d);
	ssize_t w = write(2, line, (size_t)len);
	(void)w;
}

int mp_unwind(uint64_t *out, int max, int *same, const void *frame)
{
	*same = 0;
	if (MP_LIKELY(use_cfi)) {
		int depth = mp_cfi_unwind(out, max, same, frame);
		if (MP_LIKELY(depth >= 0)) {
			if (MP_UNLIKELY(mp_unwind_checking)) {
				uint64_t other[MP_UNWIND_BUF];
				int m = slow_unwind(other, max);
				atomic_fetch_add(&checked, 1);
				if (m != depth || memcmp(other, out, (size_t)depth * sizeof(*out)))
					atomic_fetch_add(&disagreed, 1);
			}
			return depth;
		}
	}
	return slow_unwind(out, max);
}
