/* The memprof command: dispatches to one function per subcommand
 * (cli/builtin.h), as git.c does. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "config.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary; /* NULL: hidden */
};

static const struct cmd commands[] = {
        {"run", cmd_run, "run a program and record its allocations into a trace"},
        {"summary", cmd_summary, "totals of a trace: calls, bytes, peak, leaks, per process"},
        {"top", cmd_top, "the top allocation sites by bytes, count, peak, leaks or temporaries"},
        {"peak", cmd_peak, "the peak of live memory and what was live then"},
        {"leaks", cmd_leaks, "blocks never freed, grouped by stack"},
        {"functions", cmd_functions, "allocations per function, self and total; callers and callees"},
        {"annotate", cmd_annotate, "a source file with the allocations beside each line"},
        {"timeline", cmd_timeline, "live heap over time per process, the peak marked: a chart or SVG"},
        {"histogram", cmd_histogram, "allocation sizes or lifetimes in buckets, with their top sites"},
        {"sql", cmd_sql, "SQL over a trace, with one row per allocation"},
        {"diff", cmd_diff, "compare two traces site by site, with --fail-if thresholds"},
        {"check", cmd_check, "a CI gate: limits on peak, leaks, allocations, or growth"},
        {"strip", cmd_strip, "a smaller copy of a trace: summaries only, anonymized paths"},
        {"flamegraph", cmd_flamegraph, "an interactive SVG flame graph of the allocation stacks"},
        {"export", cmd_export, "write the stacks as folded, speedscope, pprof or massif files"},
        {"report", cmd_report, "one self-contained HTML page of a trace for a bug report"},
        {"__collect", cmd_collect, NULL},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: memprof [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].summary)
			fprintf(out, "   %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
	        "\n'memprof COMMAND --help' tells more about a command.\n"
	        "Without the wrapper: LD_PRELOAD=%s/libmemprof.so MEMPROF_OUTPUT=trace.db PROGRAM\n",
	        MP_LIBDIR);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MP_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
				if (commands[i].summary && !strcmp(commands[i].name, argv[2])) {
					char *help_argv[] = {argv[2], "--help", NULL};
					return commands[i].fn(2, help_argv);
				}
			}
		}
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("memprof %s\n", PACKAGE_VERSION);
		return MP_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "memprof: '%s' is not a memprof command; see 'memprof --help'\n", name);
	return MP_EXIT_USAGE;
}
