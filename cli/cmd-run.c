/* memprof run: runs a program under libmemprof.so, hosts the collector,
 * finishes the trace, and exits with the program's own status. With
 * --repeat N it runs the program N times, one after the other, into one
 * trace (each run's processes carry its number, cli/runs.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
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
#include "env.h"
#include "finish.h"
#include "output.h"
#include "runs.h"
#include "trace.h"
#include "util.h"

extern char **environ;

static volatile pid_t child_pid;
static volatile sig_atomic_t interrupted; /* no further run after SIGINT, SIGTERM, SIGHUP, SIGQUIT */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memprof run [-o TRACE] [--force] [--max-depth N] [--no-mmap] [--no-scan] [--quiet]\n"
	        "                   [--fold PATTERN]... [--no-fold] [--allocator glibc|jemalloc]\n"
	        "                   [--repeat N] [--warmup N]\n"
	        "                   [--start-paused] [--toggle-signal SIG] [--phase-after SECONDS NAME]...\n"
	        "                   [--check CHECK-OPTIONS] [--] PROGRAM [ARGS...]\n"
	        "\n"
	        "Runs PROGRAM with every allocation recorded (children too) into TRACE,\n"
	        "by default memprof.PROGRAM.PID.db, then prints a one-line summary to stderr.\n"
	        "Exits with PROGRAM's status (128+N when it was killed by signal N).\n"
	        "\n"
	        "  -o, --output TRACE  where to write the trace\n"
	        "  -f, --force         replace TRACE if it exists\n"
	        "  --max-depth N       frames kept per stack (1-%d, default 128)\n"
	        "  --fold PATTERN      also fold functions matching PATTERN (a glob on the\n"
	        "                      demangled name; ';' separates several) out of the\n"
	        "                      innermost end of stacks, as operator new and std::*\n"
	        "                      are by default (and $MEMPROF_FOLD's)\n"
	        "  --no-fold           fold nothing: stacks begin at the allocation function's caller\n"
	        "  --no-mmap           do not record anonymous mappings (mmap, munmap, mremap)\n"
	        "  --allocator NAME    run PROGRAM on this malloc: glibc (the default: nothing\n"
	        "                      is preloaded) or jemalloc (libjemalloc.so.2, preloaded\n"
	        "                      after libmemprof.so)\n"
	        "  --no-scan           no leak scan at exit (which leaked blocks are unreachable)\n"
	        "  -q, --quiet         no summary line\n"
	        "  --repeat N          run PROGRAM N times, one after the other, into one trace\n"
	        "                      (each run its own entry; 'memprof summary' shows each\n"
	        "                      figure's minimum, median and maximum); standard input\n"
	        "                      is replayed to every run; exits with the last run's\n"
	        "                      status, or the first failed run's\n"
	        "  --warmup N          run PROGRAM N times first, without recording\n"
	        "                      (MEMPROF_RUN is the run number: 1..N, 0 in warm-ups)\n"
	        "  --start-paused      record no allocation until the program calls memprof_resume()\n"
	        "                      or receives the toggle signal\n"
	        "  --toggle-signal SIG the signal that pauses and resumes recording: a number,\n"
	        "                      USR1 or USR2 (the default), or 0 for none; sent to\n"
	        "                      memprof run, it is passed to PROGRAM\n"
	        "  --phase-after SECONDS NAME\n"
	        "                      a phase NAME starts SECONDS (a decimal number) after the\n"
	        "                      start, in every process then running (repeatable)\n"
	        "  --check             then check the trace as 'memprof check' does (verdicts\n"
	        "                      on stderr): exits with 1 when a limit fails, unless\n"
	        "                      PROGRAM failed (then with PROGRAM's status)\n"
	        "\n"
	        "Check options (with --check):\n",
	        MP_MAX_DEPTH_LIMIT);
	fputs(mp_check_options_help, out);
}

/* --toggle-signal's argument: a number, USR1, USR2 (SIG prefix allowed),
   or -1 when it is none of them. */
static int parse_signal(const char *arg)
{
	const char *name = strncmp(arg, "SIG", 3) ? arg : arg + 3;
	if (!strcmp(name, "USR1"))
		return SIGUSR1;
	if (!strcmp(name, "USR2"))
		return SIGUSR2;
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end || errno || v < 0 || v >= NSIG || v == SIGKILL || v == SIGSTOP)
		return -1;
	return (int)v;
}

/* Signals sent to memprof by another process go to the program; those
   from the terminal reach the program directly. */
static void forward(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (sig != SIGUSR1 && sig != SIGUSR2)
		interrupted = 1;
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

/* A program's environment: ours, with MEMPROF_RUN set to the run number
   and, when lib is given, LD_PRELOAD, MEMPROF_FD and MEMPROF_MAX_DEPTH
   (a warm-up run is not recorded: lib is NULL). */
struct child_env {
	char **v;
	size_t owned; /* v[owned..] are malloc'ed */
};

/* alloc (--allocator), when not NULL, is preloaded after lib, in warm-ups
   too: libmemprof.so comes first so that its hooks see every call and
   their RTLD_NEXT look-ups find that allocator. Returns 0, or -1 when out
   of memory. Free it with free_child_env. */
static int child_env(struct child_env *ce, const char *lib, const char *alloc, int fd, int max_depth, int run)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 5, sizeof(char *));
	if (!env)
		return -1;
	size_t k = 0;
	const char *old_preload = NULL;
	for (size_t i = 0; i < n; i++) {
		if ((lib || alloc) && !strncmp(environ[i], "LD_PRELOAD=", 11)) {
			old_preload = environ[i] + 11;
			continue;
		}
		if (!strncmp(environ[i], "MEMPROF_FD=", 11) || !strncmp(environ[i], "MEMPROF_OUTPUT=", 15) ||
		    !strncmp(environ[i], "MEMPROF_DONE_FD=", 16) || !strncmp(environ[i], "MEMPROF_MAX_DEPTH=", 18) ||
		    !strncmp(environ[i], "MEMPROF_RUN=", 12))
			continue;
		env[k++] = environ[i];
	}
	ce->v = env;
	ce->owned = k;
	char *runvar = NULL;
	if (asprintf(&runvar, "MEMPROF_RUN=%d", run) < 0)
		goto oom;
	env[k++] = runvar;
	if (lib || alloc) {
		char *preload = NULL;
		if (asprintf(&preload, "LD_PRELOAD=%s%s%s%s%s", lib ? lib : "", lib && alloc ? " " : "",
		             alloc ? alloc : "", old_preload && *old_preload ? " " : "",
		             old_preload ? old_preload : "") < 0)
			goto oom;
		env[k++] = preload;
	}
	if (lib) {
		char *fdvar = NULL, *depthvar = NULL;
		if (asprintf(&fdvar, "MEMPROF_FD=%d", fd) < 0)
			goto oom;
		env[k++] = fdvar;
		if (asprintf(&depthvar, "MEMPROF_MAX_DEPTH=%d", max_depth) < 0)
			goto oom;
		env[k++] = depthvar;
	}
	env[k] = NULL;
	return 0;
oom:
	env[k] = NULL;
	for (size_t i = ce->owned; i < k; i++)
		free(env[i]);
	free(env);
	ce->v = NULL;
	return -1;
}

static void free_child_env(struct child_env *ce)
{
	if (!ce->v)
		return;
	for (size_t i = ce->owned; ce->v[i]; i++)
		free(ce->v[i]);
	free(ce->v);
	ce->v = NULL;
}

/* Gives every run the same standard input: a regular file is rewound to
   where it was before each run; a pipe or socket is read to its end into
   an unlinked temporary file first, which every run then reads from the
   start. A terminal, /dev/null or another device is left as it is (each
   run reads what comes). Returns the offset to rewind to, -1 when none,
   or -2 after a message. */
static off_t stdin_prepare(void)
{
	struct stat sb;
	if (fstat(0, &sb) != 0)
		return -1;
	if (S_ISREG(sb.st_mode)) {
		off_t off = lseek(0, 0, SEEK_CUR);
		return off >= 0 ? off : -1;
	}
	if (!S_ISFIFO(sb.st_mode) && !S_ISSOCK(sb.st_mode))
		return -1;
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/memprof-stdin.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "memprof: cannot keep the standard input for every run: '%s': %s\n", path,
		        strerror(errno));
		return -2;
	}
	unlink(path);
	char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "memprof: cannot read the standard input: %s\n", strerror(errno));
			close(fd);
			return -2;
		}
		if (n == 0)
			break;
		for (ssize_t w = 0; w < n;) {
			ssize_t m = write(fd, buf + w, (size_t)(n - w));
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0) {
				fprintf(stderr, "memprof: cannot keep the standard input for every run: %s\n",
				        strerror(errno));
				close(fd);
				return -2;
			}
			w += m;
		}
	}
	if (dup2(fd, 0) < 0) {
		fprintf(stderr, "memprof: cannot replay the standard input: %s\n", strerror(errno));
		close(fd);
		return -2;
	}
	close(fd);
	return 0;
}

/* The last is the toggle signal (--toggle-signal), SIGUSR2 by default. */
static int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGUSR2};
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* Forks and execs the program. Returns its pid, or -1 after a message. */
static pid_t spawn(char **prog, char **env)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memprof: cannot fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		for (size_t i = 0; i < NFORWARDED; i++)
			sigaction(forwarded[i], &dfl, NULL);
		execvpe(prog[0], prog, env);
		int e = errno;
		fprintf(stderr, "memprof: cannot run '%s': %s\n", prog[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	return pid;
}

/* The status memprof run passes on: 128+N for signal N. */
static int exit_code_of(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
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

/* The one-line summary of a trace of several runs: medians, and the
   figures that were not the same in every run. */
static void print_runs_summary(sqlite3 *db, const char *output)
{
	struct mp_processes ps;
	struct mp_runs r;
	char err[256];
	if (mp_processes_load(db, -1, &ps, err, sizeof(err)))
		return;
	if (mp_runs_load(db, &ps, &r, err, sizeof(err))) {
		mp_processes_free(&ps);
		return;
	}
	struct mp_run_stat st[MP_RUN_NFIG];
	for (int f = 0; f < MP_RUN_NFIG; f++)
		mp_runs_stat(&r, (enum mp_run_figure)f, &st[f]);
	char peak[MP_HUMAN_MAX], leaked[MP_HUMAN_MAX];
	fprintf(stderr,
	        "memprof: %zu runs, medians: %" PRId64 " allocations, peak %s, leaked %s in %" PRId64 " block%s", r.n,
	        st[MP_RUN_ALLOCATIONS].median, mp_human_size(st[MP_RUN_PEAK].median, peak, sizeof(peak)),
	        mp_human_size(st[MP_RUN_LEAKED].median, leaked, sizeof(leaked)), st[MP_RUN_LEAKED_BLOCKS].median,
	        st[MP_RUN_LEAKED_BLOCKS].median == 1 ? "" : "s");
	int varies = 0;
	for (int f = 0; f < MP_RUN_NFIG; f++)
		if (st[f].varies)
			fprintf(stderr, "%s%s",
			        varies++ ? ", " : "; varies: ", mp_run_figure_name((enum mp_run_figure)f));
	if (!varies)
		fputs(" (the same in every run)", stderr);
	fprintf(stderr, "; trace in '%s' (try 'memprof summary %s')\n", output, output);
	mp_runs_free(&r);
	mp_processes_free(&ps);
}

static void print_summary(const char *output, int runs)
{
	sqlite3 *db;
	if (sqlite3_open_v2(output, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	if (runs > 1) {
		print_runs_summary(db, output);
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

/* Says on stderr how run k of n failed. */
static void report_failed_run(int k, int n, int status)
{
	if (WIFSIGNALED(status))
		fprintf(stderr, "memprof: run %d of %d failed: killed by signal %d\n", k, n, WTERMSIG(status));
	else
		fprintf(stderr, "memprof: run %d of %d failed: exit status %d\n", k, n, exit_code_of(status));
}

/* Runs the program once without recording (a warm-up), waiting for it. */
static void warm_up(char **prog, const char *alloc, int run_env)
{
	struct child_env ce;
	if (child_env(&ce, NULL, alloc, -1, 0, run_env)) {
		fprintf(stderr, "memprof: out of memory\n");
		return;
	}
	pid_t pid = spawn(prog, ce.v);
	free_child_env(&ce);
	if (pid < 0)
		return;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
}

/* Records one run of the program into the collector's current run.
   Returns 0 with st filled; 1 when it ran (st filled) but recording
   failed; -1 when it could not be started. Messages are printed. */
static int record_run(struct mp_collector *col, char **prog, const char *lib, const char *alloc, int max_depth, int run,
                      const char *output, struct run_state *st)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		fprintf(stderr, "memprof: cannot create a socket: %s\n", strerror(errno));
		return -1;
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
	struct child_env ce;
	if (child_env(&ce, lib, alloc, child_fd, max_depth, run)) {
		fprintf(stderr, "memprof: out of memory\n");
		close(child_fd);
		close(sv[0]);
		return -1;
	}
	struct mp_run_info *ri = &col->runs[col->run - 1];
	ri->start_mono = mp_collector_now();
	pid_t pid = spawn(prog, ce.v);
	close(child_fd);
	free_child_env(&ce);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->pid = pid;
	int rc = mp_collector_run(col, sv[0], run_stop, st);
	close(sv[0]);
	reap(st, 0);
	ri->end_mono = mp_collector_now();
	ri->have_status = 1;
	ri->status = st->status;
	mp_collector_set_wait_status(col, pid, st->status);
	/* Orphans whose sockets closed may take a moment to become reapable;
	   a descendant still running after 200 ms is left alone. */
	for (int i = 0; i < 200; i++) {
		reap_orphans(col, st);
		siginfo_t si;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD)
			break; /* no child left */
		usleep(1000);
	}
	if (rc && col->errbuf[0])
		fprintf(stderr, "memprof: recording into '%s' failed: %s\n", output, col->errbuf);
	return rc ? 1 : 0;
}

/* Whether run (the current one) recorded no process: the program could
   not be started at all. */
static int run_recorded_nothing(const struct mp_collector *c)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (c->images[i].run == c->run)
			return 0;
	return 1;
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_REPEAT = 0x200, OPT_WARMUP, OPT_ALLOCATOR, OPT_NO_SCAN };
	static const struct option opts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"force", no_argument, NULL, 'f'},
	        {"max-depth", required_argument, NULL, 'D'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"no-mmap", no_argument, NULL, 'M'},
	        {"fold", required_argument, NULL, 'F'},
	        {"no-fold", no_argument, NULL, 'N'},
	        {"allocator", required_argument, NULL, OPT_ALLOCATOR},
	        {"no-scan", no_argument, NULL, OPT_NO_SCAN},
	        {"help", no_argument, NULL, 'h'},
	        {"check", no_argument, NULL, 'C'},
	        {"repeat", required_argument, NULL, OPT_REPEAT},
	        {"warmup", required_argument, NULL, OPT_WARMUP},
	        {"start-paused", no_argument, NULL, 'P'},
	        {"toggle-signal", required_argument, NULL, 'S'},
	        {"phase-after", required_argument, NULL, 'A'},
	        MP_CHECK_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	const char *output = NULL;
	const struct mp_env_allocator *alloc = mp_env_allocator("glibc");
	int force = 0, quiet = 0, max_depth = 128, c, check = 0, repeat = 1, warmup = 0, no_fold = 0;
	static struct mp_buf fold; /* a global: reachable until exit */
	static struct mp_phase_after phases[64];
	size_t nphases = 0;
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
		case OPT_ALLOCATOR:
			alloc = mp_env_allocator(optarg);
			if (!alloc)
				return mp_usage_error("run", "unknown allocator '%s' (%s)", optarg,
				                      mp_env_allocator_names());
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
		case 'P': /* for the program, as MEMPROF_MMAP */
			setenv("MEMPROF_START_PAUSED", "1", 1);
			break;
		case 'S': {
			int sig = parse_signal(optarg);
			if (sig < 0)
				return mp_usage_error(
				        "run", "--toggle-signal needs a signal number, USR1 or USR2, not '%s'", optarg);
			char num[16];
			snprintf(num, sizeof(num), "%d", sig);
			setenv("MEMPROF_TOGGLE_SIGNAL", num, 1);
			if (sig > 0)
				forwarded[NFORWARDED - 1] = sig;
			break;
		}
		case 'A': {
			char *end;
			errno = 0;
			double secs = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(secs >= 0) || secs > 1e9)
				return mp_usage_error("run", "--phase-after needs a number of seconds, not '%s'",
				                      optarg);
			if (optind >= argc)
				return mp_usage_error("run", "--phase-after needs a name after '%s'", optarg);
			if (nphases == sizeof(phases) / sizeof(phases[0]))
				return mp_usage_error("run", "at most %zu --phase-after", nphases);
			phases[nphases].time_ns = (uint64_t)(secs * 1e9 + 0.5);
			phases[nphases++].name = argv[optind++];
			break;
		}
		case 'F':
			mp_buf_printf(&fold, "%s%s", fold.len ? ";" : "", optarg);
			break;
		case 'N':
			no_fold = 1;
			break;
		case OPT_NO_SCAN:
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
		case OPT_REPEAT:
		case OPT_WARMUP: {
			int64_t v;
			char perr[256];
			const char *name = c == OPT_REPEAT ? "--repeat" : "--warmup";
			if (mp_parse_uint(name, optarg, &v, perr, sizeof(perr)))
				return mp_usage_error("run", "%s", perr);
			if (v > 100000 || (c == OPT_REPEAT && v < 1)) {
				fprintf(stderr, "memprof: %s must be between %d and 100000, not '%s'\n", name,
				        c == OPT_REPEAT ? 1 : 0, optarg);
				return MP_EXIT_USAGE;
			}
			*(c == OPT_REPEAT ? &repeat : &warmup) = (int)v;
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
	char alloc_path[PATH_MAX];
	if (alloc->soname && mp_env_find_library(alloc->soname, alloc_path, sizeof(alloc_path))) {
		fprintf(stderr, "memprof: cannot find %s for --allocator %s (install Debian's %s package)\n",
		        alloc->soname, alloc->name, alloc->package);
		return MP_EXIT_USAGE;
	}
	const char *alloc_lib = alloc->soname ? alloc_path : NULL;
	off_t stdin_at = -1;
	if (repeat > 1 || warmup > 0) {
		stdin_at = stdin_prepare();
		if (stdin_at == -2)
			return MP_EXIT_USAGE;
	}
	struct mp_collector col;
	/* --phase-after counts from now, a moment before the program starts. */
	uint64_t now = mp_collector_now();
	for (size_t i = 0; i < nphases; i++)
		phases[i].time_ns += now;
	struct mp_trace_info info = {.command = prog,
	                             .max_depth = max_depth,
	                             .force = force,
	                             .phases = phases,
	                             .nphases = nphases,
	                             .fold = fold.s,
	                             .no_fold = no_fold};
	char err[512] = "";
	if (mp_collector_init(&col) || mp_trace_start(&col, output, &info, err, sizeof(err))) {
		fprintf(stderr, "memprof: cannot write the trace '%s': %s\n", output, err[0] ? err : strerror(errno));
		mp_collector_release(&col);
		return MP_EXIT_TRACE;
	}

	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);

	/* Orphaned descendants become ours to reap (reap_orphans). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int w = 0; w < warmup && !interrupted; w++) {
		if (stdin_at >= 0)
			lseek(0, stdin_at, SEEK_SET);
		warm_up(prog, alloc_lib, 0);
	}

	int final_status = 0, have_failed = 0, recorded = 0;
	for (int k = 1; k <= repeat; k++) {
		if (k > 1 && mp_collector_run_begin(&col)) {
			fprintf(stderr, "memprof: out of memory\n");
			break;
		}
		if (stdin_at >= 0)
			lseek(0, stdin_at, SEEK_SET);
		struct run_state st;
		int rr = record_run(&col, prog, lib, alloc_lib, max_depth, k, output, &st);
		if (rr < 0)
			break;
		recorded = k;
		int failed_run = exit_code_of(st.status) != 0;
		if (failed_run && repeat > 1)
			report_failed_run(k, repeat, st.status);
		if (!have_failed)
			final_status = st.status;
		have_failed |= failed_run;
		if (rr > 0)
			break;
		if (k < repeat) {
			if (mp_trace_run_end(&col)) {
				fprintf(stderr, "memprof: recording into '%s' failed: %s\n", output, col.errbuf);
				break;
			}
			if (interrupted || (failed_run && run_recorded_nothing(&col)))
				break; /* stopped by a signal, or the program cannot run */
		}
	}
	if (recorded < repeat && recorded > 0)
		fprintf(stderr, "memprof: stopped after run %d of %d\n", recorded, repeat);

	int failed = mp_finish(&col, output, &info, err, sizeof(err));
	mp_collector_release(&col);
	if (failed)
		fprintf(stderr, "memprof: cannot finish the trace '%s': %s\n", output, err);
	else if (!quiet)
		print_summary(output, recorded);

	int check_rc = MP_EXIT_OK;
	if (check && !failed)
		check_rc = mp_check_trace(&chk, output, stderr);
	mp_check_fini(&chk);

	if (!recorded)
		return MP_EXIT_TRACE;
	if (WIFSIGNALED(final_status))
		return 128 + WTERMSIG(final_status);
	if (WIFEXITED(final_status) && (WEXITSTATUS(final_status) || !check))
		return WEXITSTATUS(final_status);
	if (check)
		return failed ? MP_EXIT_TRACE : check_rc;
	return failed ? MP_EXIT_TRACE : 0;
}
