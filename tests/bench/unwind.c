/* Benchmark: the cost of one stack capture with libunwind's unw_backtrace
 * (the call memprof makes for every allocation), at depths 10, 20 and 60,
 * with the per-thread cache memprof uses. Run by tests/bench/compare. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdio.h>
#include <time.h>

static void *frames[300];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((noinline)) int descend(int depth, int n);
__attribute__((noinline)) int descend(int depth, int n)
{
	char pad[16];
	__asm__ volatile("" : : "r"(pad) : "memory");
	if (depth > 0) {
		int r = descend(depth - 1, n);
		__asm__ volatile("" : : : "memory"); /* no tail call: a real frame */
		return r;
	}
	int got = 0;
	for (int i = 0; i < n; i++)
		got = unw_backtrace(frames, 300);
	return got;
}

int main(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	const int depths[] = {10, 20, 60};
	for (int i = 0; i < 3; i++) {
		int d = depths[i] - 4; /* main, __libc_start_*, _start and the leaf */
		descend(d, 2000);      /* warm the cache */
		double best = 1e9;
		int got = 0;
		for (int run = 0; run < 5; run++) {
			double t = now();
			got = descend(d, 200000);
			double per = (now() - t) / 200000 * 1e9;
			best = per < best ? per : best;
		}
		printf("unw_backtrace at depth %d (%d frames): %.0f ns\n", depths[i], got, best);
	}
	return 0;
}
