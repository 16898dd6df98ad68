/* Fuzz target (libFuzzer): reading a damaged or hostile trace file. The
 * input is written out as a trace and every query command reads it;
 * none may crash, hang or leak, whatever the bytes. Seeded with a real
 * trace by tests/fuzz/run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void run(int (*cmd)(int, char **), const char *name, const char *a1, const char *a2)
{
	char *argv[] = {(char *)name, (char *)a1, (char *)a2, path, NULL};
	int argc = 1;
	if (a1)
		argc++;
	if (a2)
		argc++;
	argv[argc++] = path;
	argv[argc] = NULL;
	cmd(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		char dir[] = "/tmp/memprof-fuzz-XXXXXX";
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/t.db", dir);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	run(cmd_summary, "summary", "--format", "json");
	run(cmd_top, "top", "--by-peak", NULL);
	run(cmd_peak, "peak", NULL, NULL);
	run(cmd_leaks, "leaks", "--format", "csv");
	run(cmd_leaks, "leaks", "--mismatches", "--full-stacks");
	char *sql[] = {"sql", path, "SELECT count(*), sum(size), max(free_time_ns) FROM allocations", NULL};
	cmd_sql(3, sql);
	fflush(stdout);
	return 0;
}
