/* Stack capture with libunwind.
 *
 * libunwind is opened with RTLD_LOCAL at start-up rather than linked: its
 * _Unwind_* symbols would otherwise join the global scope and take over the
 * target's C++ exception handling from libgcc_s. If it cannot be opened,
 * glibc's backtrace() is used instead.
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <stdint.h>

#include "config.h"
#include "internal.h"

typedef int (*unw_backtrace_fn)(void **, int);
typedef int (*unw_set_caching_fn)(void *, int);

static unw_backtrace_fn unw_bt;
static uintptr_t self_lo, self_hi; /* our own code: frames to skip */

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
	return 0;
}

int mp_unwind(uint64_t *ips, int max)
{
	void *raw[MP_MAX_DEPTH_LIMIT + 16];
	int want = max + 16;
	int n = unw_bt ? unw_bt(raw, want) : backtrace(raw, want);
	int i = 0, depth = 0;
	/* Our frames: the hooks at the top, wrap_main at the bottom. */
	for (; i < n && depth < max; i++)
		if ((uintptr_t)raw[i] < self_lo || (uintptr_t)raw[i] >= self_hi)
			ips[depth++] = (uint64_t)(uintptr_t)raw[i];
	if (i < n || n == want)
		ips[depth++] = MP_IP_TRUNCATED;
	return depth;
}
