/* memprof __collect: the collector of a preload-only run, started by
 * libmemprof.so (lib/transport.c). It detaches from the program at once
 * (the first child exits, so the program reaps it and never sees us again),
 * records until every traced process is gone, finishes the trace, and says
 * so by closing the done fd (writing an error line to it first, if any). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "collector.h"
#include "finish.h"

struct idle {
	int quiet_polls;
};

/* Ends on EOF normally; this catches a socket kept open by processes we
   do not trace, once no traced process has been alive for 3 s. */
static int collect_stop(struct mp_collector *c, void *arg)
{
	struct idle *st = arg;
	if (!c->nimages || mp_collector_any_alive(c)) {
		st->quiet_polls = 0;
		return 0;
	}
	return ++st->quiet_polls >= 30;
}

static void report(int done_fd, const char *output, const char *msg)
{
	if (done_fd < 0)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "memprof: cannot finish the trace '%s': %s\n", output, msg);
	if (n > 0) {
		ssize_t r = write(done_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
		(void)r;
	}
}

int cmd_collect(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"fd", required_argument, NULL, 'f'},
	        {"done-fd", required_argument, NULL, 'd'},
	        {"output", required_argument, NULL, 'o'},
	        {NULL, 0, NULL, 0},
	};
	int fd = -1, done_fd = -1, c;
	const char *output = NULL;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'f')
			fd = atoi(optarg);
		else if (c == 'd')
			done_fd = atoi(optarg);
		else if (c == 'o')
			output = optarg;
		else
			return MP_EXIT_USAGE;
	}
	if (fd < 0 || !output) {
		fprintf(stderr, "memprof: __collect is started by libmemprof.so, not by hand\n");
		return MP_EXIT_USAGE;
	}
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0)
		_exit(0);
	struct mp_collector col;
	struct mp_trace_info info = {.command = NULL, .max_depth = 128, .force = 1};
	const char *depth = getenv("MEMPROF_MAX_DEPTH");
	if (depth && *depth)
		info.max_depth = atoi(depth);
	char err[512] = "";
	if (mp_collector_init(&col) || mp_trace_start(&col, output, &info, err, sizeof(err))) {
		report(done_fd, output, err[0] ? err : strerror(errno));
		return MP_EXIT_TRACE;
	}
	struct idle st = {0};
	int rc = mp_collector_run(&col, fd, collect_stop, &st);
	close(fd);
	if (mp_finish(&col, output, &info, err, sizeof(err))) {
		report(done_fd, output, err);
		rc = -1;
	} else if (rc && col.errbuf[0]) {
		report(done_fd, output, col.errbuf);
	}
	mp_collector_release(&col);
	if (done_fd >= 0)
		close(done_fd);
	return rc ? MP_EXIT_TRACE : MP_EXIT_OK;
}
