/* Benchmark workload: many threads that mostly wait and compute, with
 * very few allocations: the profiler should add close to nothing. */
#include <pthread.h>
#include <stdlib.h>

static void *work(void *arg)
{
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 20000000; i++)
		x += i ^ (x >> 3);
	free(malloc(64));
	return NULL;
}

int main(void)
{
	pthread_t th[32];
	for (int i = 0; i < 32; i++)
		pthread_create(&th[i], NULL, work, NULL);
	for (int i = 0; i < 32; i++)
		pthread_join(th[i], NULL);
	return 0;
}
