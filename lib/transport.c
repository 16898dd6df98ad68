/* The connection to the collector.
 *
 * One SOCK_SEQPACKET socket serves the whole process tree: its fd (named by
 * MEMPROF_FD) is inherited across fork and exec, and every message names
 * its sender (pid, image, stream), so forks and execs need no new
 * connection. The collector sees the end of the trace when the last holder
 * closes it.
 *
 * Without MEMPROF_FD but with MEMPROF_OUTPUT (a preload-only run), the
 * first process starts the collector itself: `memprof __collect`, which
 * detaches with a double fork so that it is never the program's child and
 * keeps none of the program's pipes open. That root process waits at its
 * end until the collector says the trace is finished.
 */
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"

extern char **environ;

static int conn_fd = -1;
static int done_fd = -1; /* root of a preload-only run: EOF when the trace is finished */
static _Atomic int send_failed;

void mp_warn(const char *msg, const char *detail)
{
	char line[512];
	size_t n = 0;
	const char *parts[] = {"memprof: ", msg, detail ? ": " : "", detail ? detail : "", "\n"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t l = strlen(parts[i]);
		if (n + l >= sizeof(line))
			l = sizeof(line) - 1 - n;
		memcpy(line + n, parts[i], l);
		n += l;
	}
	ssize_t r = write(2, line, n);
	(void)r;
}

int mp_send_buf(uint8_t *buf, size_t payload_len, int type, uint32_t stream)
{
	struct mp_msg_hdr *h = (struct mp_msg_hdr *)buf;
	h->magic = MP_WIRE_MAGIC;
	h->type = (uint16_t)type;
	h->version = MP_WIRE_VERSION;
	h->pid = (uint32_t)mp_pid;
	h->stream = stream;
	h->image = mp_image;
	h->len = (uint32_t)payload_len;
	size_t total = sizeof(*h) + payload_len;
	if (conn_fd < 0 || atomic_load(&mp_state) == MP_STOPPED)
		return -1;
	for (;;) {
		ssize_t r = send(conn_fd, buf, total, MSG_NOSIGNAL);
		if (r == (ssize_t)total)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	int err = errno;
	atomic_store(&mp_state, MP_STOPPED);
	if (!atomic_exchange(&send_failed, 1))
		mp_warn("the collector is gone, recording stopped", strerror(err));
	return -1;
}

int mp_send(int type, uint32_t stream, void *payload, size_t payload_len)
{
	uint8_t buf[sizeof(struct mp_msg_hdr) + 8192];
	if (payload_len > sizeof(buf) - sizeof(struct mp_msg_hdr)) {
		uint8_t *big = mpje_malloc(sizeof(struct mp_msg_hdr) + payload_len);
		if (!big)
			return -1;
		memcpy(big + sizeof(struct mp_msg_hdr), payload, payload_len);
		int r = mp_send_buf(big, payload_len, type, stream);
		mpje_free(big);
		return r;
	}
	memset(buf, 0, sizeof(struct mp_msg_hdr));
	if (payload_len)
		memcpy(buf + sizeof(struct mp_msg_hdr), payload, payload_len);
	return mp_send_buf(buf, payload_len, type, stream);
}

int mp_send_fd(int type, const void *payload, size_t payload_len, int fd)
{
	uint8_t buf[sizeof(struct mp_msg_hdr) + 256];
	if (payload_len > sizeof(buf) - sizeof(struct mp_msg_hdr) || conn_fd < 0 ||
	    atomic_load(&mp_state) == MP_STOPPED)
		return -1;
	struct mp_msg_hdr *h = (struct mp_msg_hdr *)buf;
	memset(h, 0, sizeof(*h));
	h->magic = MP_WIRE_MAGIC;
	h->type = (uint16_t)type;
	h->version = MP_WIRE_VERSION;
	h->pid = (uint32_t)mp_pid;
	h->image = mp_image;
	h->len = (uint32_t)payload_len;
	memcpy(buf + sizeof(*h), payload, payload_len);
	struct iovec iov = {buf, sizeof(*h) + payload_len};
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr mh = {
	        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof(ctl.space)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t r;
	while ((r = sendmsg(conn_fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return r == (ssize_t)iov.iov_len ? 0 : -1;
}

/* Reads /proc/self/cmdline into a HELLO payload after *hello. */
void mp_send_hello(uint64_t parent_image, uint64_t fork_seq)
{
	size_t cap = 64 * 1024, len = sizeof(struct mp_hello);
	uint8_t *msg = mpje_calloc(1, cap);
	if (!msg)
		return;
	struct mp_hello *h = (struct mp_hello *)msg;
	h->ppid = (uint32_t)getppid();
	h->parent_image = parent_image;
	h->fork_seq = fork_seq;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	h->start_mono_ns = mp_image;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r;
		while (len < cap && (r = read(fd, msg + len, cap - len)) > 0)
			len += (size_t)r;
		close(fd);
	}
	for (size_t i = sizeof(*h); i < len; i++)
		if (!msg[i])
			h->argc++;
	mp_send(MP_MSG_HELLO, 0, msg, len);
	mpje_free(msg);
}

void mp_send_exit(int have_status, int status)
{
	struct mp_exit e = {(uint32_t)have_status, (uint32_t)status, 0, 0, 0};
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
		e.cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	mp_profiler_memory(&e.profiler_bytes, &e.profiler_samples);
	mp_send(MP_MSG_EXIT, 0, &e, sizeof(e));
}

static void put_uint(char **p, unsigned long v)
{
	char tmp[24];
	int i = 0;
	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (i)
		*(*p)++ = tmp[--i];
}

/* Adopts the done fd when it was handed to this very process (across exec);
   closes an inherited one that belongs to an ancestor. */
static void adopt_done_fd(void)
{
	const char *v = getenv("MEMPROF_DONE_FD");
	if (!v || !*v)
		return;
	char *end;
	long fd = strtol(v, &end, 10);
	if (*end != ':' || fd < 3)
		return;
	long pid = strtol(end + 1, NULL, 10);
	if (pid == (long)getpid())
		done_fd = (int)fd;
	else
		close((int)fd);
}

static int fd_is_our_socket(int fd)
{
	struct stat st;
	int type = 0;
	socklen_t len = sizeof(type);
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET)
		return 0;
	return 1;
}

/* The memprof command that runs the collector: $MEMPROF_BIN, else the
   build tree's cli/memprof next to this library, else the installed one. */
static const char *collector_path(char *buf, size_t size)
{
	const char *env = getenv("MEMPROF_BIN");
	if (env && *env)
		return env;
	Dl_info info;
	if (dladdr((void *)&collector_path, &info) && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');
		size_t dir = slash ? (size_t)(slash - info.dli_fname) : 0;
		const char *rel[] = {"/../../cli/memprof", "/../cli/memprof"};
		for (size_t i = 0; i < 2 && dir; i++) {
			if (dir + strlen(rel[i]) + 1 > size)
				continue;
			memcpy(buf, info.dli_fname, dir);
			strcpy(buf + dir, rel[i]);
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return MP_BINDIR "/memprof";
}

static int spawn_collector(const char *output)
{
	int sv[2], done[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	if (pipe(done)) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	int sndbuf = 8 << 20; /* a unix socket's queue is charged to the sender */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)))
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	char path[PATH_MAX];
	const char *bin = collector_path(path, sizeof(path));
	char *argv[] = {"memprof", "__collect", "--fd", "3", "--done-fd", "4", "-o", (char *)output, NULL};
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = mpje_calloc(n + 1, sizeof(char *));
	if (!envp)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "LD_PRELOAD=", 11) || !strncmp(environ[i], "MEMPROF_FD=", 11))
			continue;
		envp[k++] = environ[i];
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_adddup2(&fa, done[1], 4);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int err = posix_spawn(&pid, bin, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	mpje_free(envp);
	close(sv[1]);
	close(done[1]);
	if (err) {
		close(sv[0]);
		close(done[0]);
		mp_warn("cannot start the collector", bin);
		return -1;
	}
	/* The collector detaches at once (double fork): reap the first one. */
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		close(sv[0]);
		close(done[0]);
		mp_warn("the collector failed to start", bin);
		return -1;
	}
	/* The read end survives exec (a shell may exec the program), but only
	   this pid treats it as its own (MEMPROF_DONE_FD=fd:pid). */
	done_fd = fcntl(done[0], F_DUPFD, 900);
	if (done_fd < 0)
		done_fd = done[0];
	else
		close(done[0]);
	return sv[0];
}

int mp_transport_init(void)
{
	const char *fdstr = getenv("MEMPROF_FD");
	int fd = -1;
	if (fdstr && *fdstr) {
		fd = atoi(fdstr);
		adopt_done_fd();
		if (!fd_is_our_socket(fd)) {
			mp_warn("MEMPROF_FD does not name the collector's socket, not recording", fdstr);
			return -1;
		}
	} else {
		const char *out = getenv("MEMPROF_OUTPUT");
		if (!out || !*out)
			return -1;
		fd = spawn_collector(out);
		if (fd < 0)
			return -1;
		/* Out of the program's way, and inherited by exec'd children. */
		int high = fcntl(fd, F_DUPFD, 900);
		if (high >= 0) {
			close(fd);
			fd = high;
		} else {
			fcntl(fd, F_SETFD, 0);
		}
		char num[64], *p = num;
		put_uint(&p, (unsigned long)fd);
		*p = 0;
		setenv("MEMPROF_FD", num, 1);
		p = num;
		put_uint(&p, (unsigned long)done_fd);
		*p++ = ':';
		put_uint(&p, (unsigned long)getpid());
		*p = 0;
		setenv("MEMPROF_DONE_FD", num, 1);
	}
	conn_fd = fd;
	return 0;
}

void mp_transport_after_fork_child(void)
{
	if (done_fd >= 0) {
		close(done_fd);
		done_fd = -1;
	}
}

void mp_transport_finish(void)
{
	if (done_fd < 0 || conn_fd < 0)
		return;
	/* Give up our reference to the socket without closing the fd number,
	   which another thread could otherwise see reused. */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, conn_fd);
		close(null);
	}
	const char *w = getenv("MEMPROF_WAIT");
	int wait_ms = (w && *w) ? atoi(w) * 1000 : 300 * 1000;
	struct pollfd pfd = {.fd = done_fd, .events = POLLIN};
	char msg[512];
	size_t got = 0;
	for (;;) {
		int r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			mp_warn("gave up waiting for the collector to finish the trace", getenv("MEMPROF_OUTPUT"));
			break;
		}
		ssize_t n = read(done_fd, msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= sizeof(msg) - 1)
			break;
	}
	if (got) {
		msg[got] = 0;
		ssize_t r = write(2, msg, got);
		(void)r;
	}
	close(done_fd);
	done_fd = -1;
}
