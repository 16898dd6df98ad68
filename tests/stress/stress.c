/* Stress workload: THREADS threads (default 16) each make COUNT allocations
 * (default 1000000) of random sizes and put each block into a slot shared
 * by all threads, freeing what the slot held: most blocks are freed by
 * another thread, and addresses are reused all the time. Run by
 * tests/stress/run, which kills it at random moments. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 65536

static _Atomic(void *) slots[SLOTS];
static long count = 1000000;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	for (long i = 0; i < count; i++) {
		uint64_t r = next(&s);
		size_t size = 8 + r % 1024;
		void *p = (r >> 20) % 8 == 0 ? calloc(1, size) : malloc(size);
		if ((r >> 24) % 16 == 0)
			p = realloc(p, size * 2);
		void *old = atomic_exchange(&slots[(r >> 32) % SLOTS], p);
		free(old);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 16;
	if (argc > 2)
		count = atol(argv[2]);
	pthread_t th[256];
	if (threads < 1 || threads > 256)
		return 2;
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SLOTS; i++)
		free(atomic_load(&slots[i]));
	return 0;
}
