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

static char path[64], copy[80], out_opt[80]; /* the trace, a copy, and -o for the commands that write a file */

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
		snprintf(copy, sizeof(copy), "%s/copy.db", dir);
		snprintf(out_opt, sizeof(out_opt), "-o%s/out", dir);
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
	run(cmd_functions, "functions", "--sort", "total-bytes");
	run(cmd_functions, "functions", "--callees", "main");
	run(cmd_annotate, "annotate", "--function", "main");
	run(cmd_timeline, "timeline", "--ascii", NULL);
	run(cmd_timeline, "timeline", "--format=json", NULL);
	run(cmd_timeline, "timeline", out_opt, NULL);
	run(cmd_histogram, "histogram", "--lifetimes", NULL);
	run(cmd_histogram, "histogram", "--format", "json");
	run(cmd_leaks, "leaks", "--mismatches", "--full-stacks");
	char *sql[] = {"sql", path, "SELECT count(*), sum(size), max(free_time_ns) FROM allocations", NULL};
	cmd_sql(3, sql);
	char *diff[] = {"diff", "--format", "json", "--fail-if", "peak_bytes>+1%", path, path, NULL};
	cmd_diff(7, diff);
	char *check[] = {"check", "--max-leaked",   "0", "--max-peak", "1M", "--baseline",
	                 path,    "--max-increase", "5", path,         NULL};
	cmd_check(10, check);
	char *strip[] = {"strip", "--keep-summaries-only", "--anonymize-paths", "-f", "-o", copy, path, NULL};
	cmd_strip(7, strip);
	run(cmd_flamegraph, "flamegraph", "--reverse", out_opt);
	run(cmd_export, "export", "--format=speedscope", out_opt);
	run(cmd_export, "export", "--format=pprof", out_opt);
	run(cmd_export, "export", "--format=massif", out_opt);
	run(cmd_report, "report", out_opt, NULL);
	fflush(stdout);
	return 0;
}
