/* The memprof subcommands.
 *
 * Adding a command:
 *  1. write cli/cmd-NAME.c with `int cmd_NAME(int argc, char **argv)`;
 *     argv[0] is the command's name;
 *  2. declare it below and add it to the table in cli/memprof.c;
 *  3. add the file to cli_memprof_SOURCES in Makefile.am;
 *  4. document it in README.md (and its JSON keys), test it in tests/;
 *  5. write its man page cli/man/memprof-NAME.1 (copy a similar command's),
 *     add it to dist_man1_MANS and to memprof.1's COMMANDS and SEE ALSO,
 *     and its options to cli/completion/memprof (tests/integration/man.sh
 *     and completion.sh fail until then).
 * Query commands open the trace with mp_query_open (cli/trace.h), take
 * --format text|json|csv and --pid, and exit with the MP_EXIT_* codes.
 */
#ifndef MP_BUILTIN_H
#define MP_BUILTIN_H

enum {
	MP_EXIT_OK = 0,
	MP_EXIT_CHECK = 1, /* a check failed */
	MP_EXIT_USAGE = 2,
	MP_EXIT_TRACE = 3, /* missing, unreadable, not a trace, newer schema, damaged */
};

int cmd_run(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_peak(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
int cmd_sql(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_strip(int argc, char **argv);
int cmd_functions(int argc, char **argv);
int cmd_annotate(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_histogram(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
