/* Benchmark workload: mixed malloc/calloc/realloc/free of 16-528 bytes with
 * a sliding window of 4096 live blocks per thread, called at a fixed stack
 * depth. usage: churn [THREADS] [CALLS PER THREAD] [DEPTH] */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 4096

static long calls = 4000000;
static int depth = 20;

struct worker {
	uint64_t rng;
	void *slots[WINDOW];
};

static inline uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

__attribute__((noinline)) static void churn(struct worker *w, long n)
{
	for (long i = 0; i < n; i++) {
		uint64_t r = next(&w->rng);
		size_t slot = r % WINDOW, size = 16 + (r >> 20) % 513;
		void *p = w->slots[slot];
		switch ((r >> 40) % 4) {
		case 0:
			free(p);
			w->slots[slot] = malloc(size);
			break;
		case 1:
			free(p);
			w->slots[slot] = calloc(1, size);
			break;
		case 2:
			w->slots[slot] = realloc(p, size);
			break;
		default:
			free(p);
			w->slots[slot] = malloc(size);
			break;
		}
		if (w->slots[slot])
			((volatile char *)w->slots[slot])[0] = 1;
	}
}

/* Recurses to the requested depth, then runs the loop. */
__attribute__((noinline)) static void descend(struct worker *w, int d, long n)
{
	if (d > 1)
		descend(w, d - 1, n);
	else
		churn(w, n);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void *run(void *arg)
{
	struct worker *w = arg;
	descend(w, depth, calls);
	for (int i = 0; i < WINDOW; i++)
		free(w->slots[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (argc > 2)
		calls = atol(argv[2]) / threads;
	if (argc > 3)
		depth = atoi(argv[3]);
	pthread_t th[64];
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (threads < 1 || threads > 64 || !w)
		return 2;
	for (int i = 0; i < threads; i++) {
		w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	free(w);
	return 0;
}
