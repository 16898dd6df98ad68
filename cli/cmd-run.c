/* memprof run: runs a program under libmemprof.so, hosts the collector,
 * finishes the trace, and exits with the program's own status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "check.h"
#include "collector.h"
#include "config.h"
#include "finish.h"
#include "output.h"
#include "trace.h"
#include "util.h"

extern char **environ;

static volatile pid_t child_pid;

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memprof run [-o TRACE] [--force] [--max-depth N] [--no-mmap] [--no-scan] [--quiet]\n"
	        "                   [--check CHECK-OPTIONS] [--] PROGRAM [ARGS...]\n"
	        "\n"
	        "Runs PROGRAM with every allocation recorded (children too) into TRACE,\n"
	        "by default memprof.PROGRAM.PID.db, then prints a one-line summary to stderr.\n"
	        "Exits with PROGRAM's status (128+N when it was killed by signal N).\n"
	        "\n"
	        "  -o, --output TRACE  where to write the trace\n"
	        "  -f, --force         replace TRACE if it exists\n"
	        "  --max-depth N       frames kept per stack (1-%d, default 128)\n"
	        "  --no-mmap           do not record anonymous mappings (mmap, munmap, mremap)\n"
	        "  --no-scan           no leak scan at exit (which leaked blocks are unreachable)\n"
	        "  -q, --quiet         no summary line\n"
	        "  --check             then check the trace as 'memprof check' does (verdicts\n"
	        "                      on stderr): exits with 1 when a limit fails, unless\n"
	        "                      PROGRAM failed (then with PROGRAM's status)\n"
	        "\n"
	        "Check options (with --check):\n",
	        MP_MAX_DEPTH_LIMIT);
	fputs(mp_check_options_help, out);
}

/* Signals sent to memprof by another process go to the program; those
   from the terminal reach the program directly. */
static void forward(int sig, siginfo_t *si, void *ctx)
{
	if (child_pid > 0 && si->si_code <= 0)
		kill(child_pid, sig);
}

/* libmemprof.so: $MEMPROF_LIB, the build tree's next to this binary, or
   the installed one. */
static int find_lib(char *out, size_t size)
{
	const char *env = getenv("MEMPROF_LIB");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, R_OK);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *dir = dirname(exe);
		if (snprintf(out, size, "%s/../lib/.libs/libmemprof.so", dir) < (int)size && access(out, R_OK) == 0)
			return 0;
	}
	snprintf(out, size, "%s/libmemprof.so", MP_LIBDIR);
	return access(out, R_OK);
}

#define CHILD_ENV_OWNED 3 /* the last entries of child_env's result, malloc'ed */

/* The program's environment: ours with LD_PRELOAD, MEMPROF_FD and
   MEMPROF_MAX_DEPTH set. Free it with free_child_env. */
static char **child_env(const char *lib, int fd, int max_depth)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	const char *old_preload = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "LD_PRELOAD=", 11)) {
			old_preload = environ[i] + 11;
			continue;
		}
		if (!strncmp(environ[i], "MEMPROF_FD=", 11) || !strncmp(environ[i], "MEMPROF_OUTPUT=", 15) ||
		    !strncmp(environ[i], "MEMPROF_DONE_FD=", 16) || !strncmp(environ[i], "MEMPROF_MAX_DEPTH=", 18))
			continue;
		env[k++] = environ[i];
	}
	char *preload = NULL, *fdvar = NULL, *depthvar = NULL;
	if (asprintf(&preload, "LD_PRELOAD=%s%s%s", lib, old_preload && *old_preload ? " " : "",
	             old_preload ? old_preload : "") < 0 ||
	    asprintf(&fdvar, "MEMPROF_FD=%d", fd) < 0 || asprintf(&depthvar, "MEMPROF_MAX_DEPTH=%d", max_depth) < 0) {
		free(preload);
		free(fdvar);
		free(env);
		return NULL;
	}
	env[k++] = preload;
	env[k++] = fdvar;
	env[k++] = depthvar;
	env[k] = NULL;
	return env;
}

static void free_child_env(char **env)
{
	size_t n = 0;
	while (env[n])
		n++;
	for (size_t i = n - CHILD_ENV_OWNED; i < n; i++)
		free(env[i]);
	free(env);
}

struct run_state {
	pid_t pid;
	int reaped, status;
	int quiet_polls;
};

static void reap(struct run_state *st, int flags)
{
	if (st->reaped)
		return;
	int status;
	pid_t r;
	while ((r = waitpid(st->pid, &status, flags)) < 0 && errno == EINTR)
		;
	if (r == st->pid) {
		st->reaped = 1;
		st->status = status;
		child_pid = 0;
	}
}

/* memprof run is the subreaper of the program's tree: descendants whose
   parent died before them become our children, and how they ended (a
   SIGKILL that no parent reaped) is learned here. */
static void reap_orphans(struct mp_collector *c, struct run_state *st)
{
	int status;
	pid_t r;
	while ((r = waitpid(-1, &status, WNOHANG)) > 0 || (r < 0 && errno == EINTR)) {
		if (r <= 0)
			continue;
		if (r == st->pid && !st->reaped) {
			st->reaped = 1;
			st->status = status;
			child_pid = 0;
		} else {
			mp_collector_set_wait_status(c, r, status);
		}
	}
}

/* The socket normally reaches EOF when the last traced process exits; a
   process we do not trace may hold it open: once the program has exited
   and no traced process has been alive for a second, the trace ends. */
static int run_stop(struct mp_collector *c, void *arg)
{
	struct run_state *st = arg;
	reap_orphans(c, st);
	if (!st->reaped || mp_collector_any_alive(c)) {
		st->quiet_polls = 0;
		return 0;
	}
	return ++st->quiet_polls >= 10;
}

static void print_summary(const char *output)
{
	sqlite3 *db;
	if (sqlite3_open_v2(output, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT count(*), total(allocations), max(peak_bytes), total(leaked_bytes),"
	                       " total(leaked_blocks) FROM processes",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		char peak[32], leaked[32];
		mp_human_size(sqlite3_column_int64(st, 2), peak, sizeof(peak));
		mp_human_size((int64_t)sqlite3_column_double(st, 3), leaked, sizeof(leaked));
		long long procs = sqlite3_column_int64(st, 0);
		fprintf(stderr, "memprof: %.0f allocations, peak %s, leaked %s in %.0f blocks",
		        sqlite3_column_double(st, 1), peak, leaked, sqlite3_column_double(st, 4));
		if (procs > 1)
			fprintf(stderr, " (%lld processes)", procs);
		fprintf(stderr, "; trace in '%s' (try 'memprof top %s')\n", output, output);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"force", no_argument, NULL, 'f'},
	        {"max-depth", required_argument, NULL, 'D'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"no-mmap", no_argument, NULL, 'M'},
	        {"no-scan", no_argument, NULL, 'S'},
	        {"help", no_argument, NULL, 'h'},
	        {"check", no_argument, NULL, 'C'},
	        MP_CHECK_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	const char *output = NULL;
	int force = 0, quiet = 0, max_depth = 128, c, check = 0;
	static struct mp_check chk; /* static: its suppressions stay reachable on early returns */
	mp_check_init(&chk);
	while ((c = getopt_long(argc, argv, "+o:fqh", opts, NULL)) != -1) {
		int crc = mp_check_option(&chk, "run", c, optarg);
		if (crc > 0)
			return crc;
		if (crc == 0)
			continue;
		switch (c) {
		case 'C':
			check = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'M':
			/* For the program, and for the trace's meta (the collector
			   reads it too). */
			setenv("MEMPROF_MMAP", "0", 1);
			break;
		case 'S':
			setenv("MEMPROF_SCAN", "0", 1);
			break;
		case 'D': {
			int64_t v;
			char perr[256];
			if (mp_parse_uint("--max-depth", optarg, &v, perr, sizeof(perr)))
				return mp_usage_error("run", "%s", perr);
			if (v < 1 || v > MP_MAX_DEPTH_LIMIT) {
				fprintf(stderr, "memprof: --max-depth must be between 1 and %d, not '%s'\n",
				        MP_MAX_DEPTH_LIMIT, optarg);
				return MP_EXIT_USAGE;
			}
			max_depth = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return MP_EXIT_OK;
		default:
			fprintf(stderr, "see 'memprof run --help'\n");
			return MP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "memprof: run needs a program to run; see 'memprof run --help'\n");
		return MP_EXIT_USAGE;
	}
	if (chk.given && !check)
		return mp_usage_error("run", "check options need --check");
	if (check) {
		int crc = mp_check_ready(&chk, "run");
		sqlite3 *base;
		if (!crc && chk.baseline && !(crc = mp_trace_open(chk.baseline, &base)))
			mp_trace_close(base); /* a missing baseline fails before the run */
		if (crc) {
			mp_check_fini(&chk);
			return crc;
		}
	}
	char **prog = argv + optind;
	char defout[PATH_MAX];
	if (!output) {
		char *base = strrchr(prog[0], '/');
		snprintf(defout, sizeof(defout), "memprof.%s.%d.db", base ? base + 1 : prog[0], (int)getpid());
		output = defout;
	}
	struct stat sb;
	if (!force && stat(output, &sb) == 0) {
		fprintf(stderr, "memprof: '%s' exists; use --force to replace it\n", output);
		return MP_EXIT_USAGE;
	}
	char lib[PATH_MAX];
	if (find_lib(lib, sizeof(lib))) {
		fprintf(stderr, "memprof: cannot find libmemprof.so at '%s' (set MEMPROF_LIB)\n", lib);
		return MP_EXIT_USAGE;
	}
	struct mp_collector col;
	struct mp_trace_info info = {.command = prog, .max_depth = max_depth, .force = force};
	char err[512] = "";
	if (mp_collector_init(&col) || mp_trace_start(&col, output, &info, err, sizeof(err))) {
		fprintf(stderr, "memprof: cannot write the trace '%s': %s\n", output, err[0] ? err : strerror(errno));
		mp_collector_release(&col);
		return MP_EXIT_TRACE;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		fprintf(stderr, "memprof: cannot create a socket: %s\n", strerror(errno));
		return MP_EXIT_TRACE;
	}
	/* A unix socket's queue is charged to the sender: the program's end
	   gets the room (beyond net.core.wmem_max only for root). */
	int big = 8 << 20;
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	int child_fd = fcntl(sv[1], F_DUPFD, 900); /* out of the program's way; kept across exec */
	if (child_fd < 0)
		child_fd = fcntl(sv[1], F_DUPFD, 3);
	close(sv[1]);
	char **env = child_env(lib, child_fd, max_depth);
	if (!env) {
		fprintf(stderr, "memprof: out of memory\n");
		return MP_EXIT_TRACE;
	}

	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);

	/* Orphaned descendants become ours to reap (reap_orphans). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memprof: cannot fork: %s\n", strerror(errno));
		return MP_EXIT_TRACE;
	}
	if (pid == 0) {
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &dfl, NULL);
		execvpe(prog[0], prog, env);
		int e = errno;
		fprintf(stderr, "memprof: cannot run '%s': %s\n", prog[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	close(child_fd);
	free_child_env(env);
	struct run_state st = {.pid = pid};
	int rc = mp_collector_run(&col, sv[0], run_stop, &st);
	close(sv[0]);
	reap(&st, 0);
	mp_collector_set_wait_status(&col, pid, st.status);
	/* Orphans whose sockets closed may take a moment to become reapable;
	   a descendant still running after 200 ms is left alone. */
	for (int i = 0; i < 200; i++) {
		reap_orphans(&col, &st);
		siginfo_t si;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD)
			break; /* no child left */
		usleep(1000);
	}
	if (rc && col.errbuf[0])
		fprintf(stderr, "memprof: recording into '%s' failed: %s\n", output, col.errbuf);

	int failed = mp_finish(&col, output, &info, err, sizeof(err));
	mp_collector_release(&col);
	if (failed)
		fprintf(stderr, "memprof: cannot finish the trace '%s': %s\n", output, err);
	else if (!quiet)
		print_summary(output);

	int check_rc = MP_EXIT_OK;
	if (check && !failed)
		check_rc = mp_check_trace(&chk, output, stderr);
	mp_check_fini(&chk);

	if (WIFSIGNALED(st.status))
		return 128 + WTERMSIG(st.status);
	if (WIFEXITED(st.status) && (WEXITSTATUS(st.status) || !check))
		return WEXITSTATUS(st.status);
	if (check)
		return failed ? MP_EXIT_TRACE : check_rc;
	return failed ? MP_EXIT_TRACE : 0;
}
