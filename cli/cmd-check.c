/* memprof check: a CI gate on a trace's peak, leaks and allocations
 * (cli/check.h does the work, shared with run --check). */
#include <getopt.h>
#include <stdio.h>

#include "builtin.h"
#include "check.h"
#include "util.h"
#include "window.h"

static void usage(FILE *out)
{
	fputs("usage: memprof check [--max-peak SIZE] [--max-leaked SIZE] [--max-allocations N]\n"
	      "                     [--baseline OLD.db --max-increase PCT] [--suppressions FILE]\n"
	      "                     [--sites N] [--full-stacks] [--phase NAME] [--from T] [--to T]\n"
	      "                     [--pid PID] TRACE\n"
	      "\n"
	      "Checks the trace against limits, for CI: one verdict line per limit\n"
	      "('ok: ...' or 'FAIL: ...'), and under a failed one the sites behind it.\n"
	      "Exits with 0 when every limit holds, 1 when one fails. The peak is the\n"
	      "largest of any process; leaks and allocations are summed over processes.\n"
	      "With --phase, --from or --to: the limits hold the allocations made in\n"
	      "that window and their leaks (the baseline's in the same window);\n"
	      "--max-peak is refused and --baseline leaves the peak out (a window has\n"
	      "no peak).\n"
	      "\n",
	      out);
	fputs(mp_check_options_help, out);
	fputs("    --pid PID             only the process(es) with that pid (not in the baseline)\n"
	      "    -h, --help            this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

int cmd_check(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_CHECK_LONG_OPTIONS,
	        {"pid", required_argument, NULL, MP_OPT_PID},
	        {"help", no_argument, NULL, 'h'},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "check", 0);
	struct mp_check c;
	mp_check_init(&c);
	struct mp_window w;
	mp_window_init(&w);
	c.window = &w;
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS, options, NULL)) != -1) {
		rc = mp_check_option(&c, q.cmd, opt, optarg);
		if (rc < 0)
			rc = mp_window_option(&w, q.cmd, opt, optarg);
		if (rc < 0)
			rc = mp_query_option(&q, opt, argv);
		if (rc) {
			mp_check_fini(&c);
			return rc > 0 ? rc : MP_EXIT_USAGE;
		}
	}
	if (q.help) {
		usage(stdout);
		mp_check_fini(&c);
		return MP_EXIT_OK;
	}
	c.pid = q.pid;
	if (mp_window_set(&w) && c.max_peak >= 0) {
		mp_check_fini(&c);
		return mp_window_refuse(q.cmd, "--max-peak", "the peak is not defined for a window");
	}
	if (!(rc = mp_query_path(&q, argc, argv)) && !(rc = mp_check_ready(&c, q.cmd))) {
		rc = mp_check_trace(&c, q.path, stdout);
		int out = mp_finish_output();
		if (out && rc != MP_EXIT_CHECK)
			rc = out;
	}
	mp_check_fini(&c);
	return rc;
}
