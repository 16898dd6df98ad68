/* The leak scan's cost on a big heap: N blocks of SIZE bytes (default
 * 1048576 x 1024: 1 GiB), all leaked. Every block is filled with a
 * non-pointer pattern and chained to the next by its first word from a
 * global, so that the scan reaches and reads all of them; with "half",
 * every other block is left out of the chain (unreachable).
 * usage: reach [N [SIZE [half]]]; run with MEMPROF_SCAN=2 to see the
 * scan's figures on stderr (tests/bench/README in README.md, Performance). */
#include <stdlib.h>
#include <string.h>

void *head;

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1048576;
	size_t size = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;
	int half = argc > 3 && !strcmp(argv[3], "half");
	void **prev = NULL;
	for (size_t i = 0; i < n; i++) {
		void **p = malloc(size);
		memset(p, 0x5a, size);
		p[0] = NULL;
		if (half && (i & 1))
			continue;
		if (prev)
			prev[0] = p;
		else
			head = p;
		prev = p;
	}
	return 0;
}
