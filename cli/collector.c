/* Receiving side of the wire format (lib/wire.h): processes, threads,
 * modules, and each stream's queue of event chunks until the trace writer
 * replays them (cli/finish.c, called between batches of messages).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "collector.h"
#include "finish.h"

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mp_collector_clock(uint64_t *tsc, uint64_t *mono)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t a = __rdtsc();
	*mono = mono_now();
	*tsc = a / 2 + __rdtsc() / 2;
#else
	*tsc = 0;
	*mono = mono_now();
#endif
}

uint64_t mp_collector_now(void)
{
	return mono_now();
}

int mp_collector_init(struct mp_collector *c)
{
	memset(c, 0, sizeof(*c));
	c->passed_fd = -1;
	/* Chunks come and go by the thousand: keep the heap's pages rather
	   than give them back and fault them in again. */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mp_collector_clock(&c->cal_tsc, &c->cal_mono);
	c->backlog = (size_t)MP_COLLECTOR_BACKLOG_MB << 20;
	const char *mb = getenv("MEMPROF_BACKLOG_MB");
	if (mb && *mb) {
		char *end;
		unsigned long v = strtoul(mb, &end, 10);
		if (!*end && v <= 65536)
			c->backlog = v ? (size_t)v << 20 : SIZE_MAX;
		else
			fprintf(stderr,
			        "memprof: MEMPROF_BACKLOG_MB: '%s' is not a number of MiB from 0 to 65536; using %d\n",
			        mb, MP_COLLECTOR_BACKLOG_MB);
	}
	c->run = 1;
	c->runs = calloc(1, sizeof(*c->runs));
	return c->runs ? 0 : -1;
}

int mp_collector_run_begin(struct mp_collector *c)
{
	struct mp_run_info *nr = realloc(c->runs, (c->run + 1) * sizeof(*nr));
	if (!nr)
		return -1;
	c->runs = nr;
	memset(&nr[c->run], 0, sizeof(*nr));
	c->run++;
	return 0;
}

static struct mp_image *image_find(struct mp_collector *c, uint32_t pid, uint64_t image)
{
	for (size_t i = c->nimages; i-- > 0;)
		if (c->images[i].pid == pid && c->images[i].image == image)
			return &c->images[i];
	return NULL;
}

/* Notes a fork point of im (kept ascending, each once). Returns 0 or -1. */
static int fork_add(struct mp_image *im, uint64_t seq)
{
	size_t i = im->nforks;
	while (i > 0 && im->forks[i - 1] > seq)
		i--;
	if (i > 0 && im->forks[i - 1] == seq)
		return 0;
	uint64_t *nf = realloc(im->forks, (im->nforks + 1) * sizeof(*nf));
	if (!nf)
		return -1;
	im->forks = nf;
	memmove(nf + i + 1, nf + i, (im->nforks - i) * sizeof(*nf));
	nf[i] = seq;
	im->nforks++;
	return 0;
}

/* Notes a pool's name. Returns 0 or -1. */
static int pool_add(struct mp_image *im, const uint8_t *p, size_t len)
{
	uint32_t id;
	memcpy(&id, p, sizeof(id));
	char *name = strndup((const char *)p + sizeof(id), len - sizeof(id));
	struct mp_image_pool *np = realloc(im->pools, (im->npools + 1) * sizeof(*np));
	if (!name || !np) {
		free(name);
		if (np)
			im->pools = np;
		return -1;
	}
	im->pools = np;
	np[im->npools++] = (struct mp_image_pool){id, name};
	return 0;
}

/* Notes a control, kept in stamp order. Returns 0 or -1. */
static int control_add(struct mp_image *im, const uint8_t *p, size_t len)
{
	struct mp_control c;
	memcpy(&c, p, sizeof(c));
	struct mp_image_control ic = {c.stamp, c.time_ns, c.what, c.flags, 0, NULL};
	if (c.what == MP_CONTROL_PHASE && !(ic.name = strndup((const char *)p + sizeof(c), len - sizeof(c))))
		return -1;
	struct mp_image_control *nc = realloc(im->controls, (im->ncontrols + 1) * sizeof(*nc));
	if (!nc) {
		free(ic.name);
		return -1;
	}
	im->controls = nc;
	size_t i = im->ncontrols;
	while (i > 0 && nc[i - 1].stamp > c.stamp)
		i--;
	memmove(nc + i + 1, nc + i, (im->ncontrols - i) * sizeof(*nc));
	nc[i] = ic;
	im->ncontrols++;
	return 0;
}

static struct mp_image *image_get(struct mp_collector *c, uint32_t pid, uint64_t image)
{
	/* Newest first: messages mostly come from recent images. */
	for (size_t i = c->nimages; i-- > 0;)
		if (c->images[i].pid == pid && c->images[i].image == image)
			return &c->images[i];
	if (c->nimages == c->cap_images) {
		size_t ncap = c->cap_images ? c->cap_images * 2 : 16;
		struct mp_image *ni = realloc(c->images, ncap * sizeof(*ni));
		if (!ni)
			return NULL;
		c->images = ni;
		c->cap_images = ncap;
	}
	struct mp_image *im = &c->images[c->nimages++];
	memset(im, 0, sizeof(*im));
	im->pid = pid;
	im->image = image;
	im->run = c->run;
	return im;
}

static struct mp_stream *stream_get(struct mp_image *im, uint32_t id, uint32_t tid)
{
	for (size_t i = im->nstreams; i-- > 0;)
		if (im->streams[i].id == id)
			return &im->streams[i];
	struct mp_stream *ns = realloc(im->streams, (im->nstreams + 1) * sizeof(*ns));
	if (!ns)
		return NULL;
	im->streams = ns;
	struct mp_stream *s = &ns[im->nstreams++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->tid = tid;
	return s;
}

static uint32_t module_intern(struct mp_collector *c, const char *path, size_t path_len, const uint8_t *bid,
                              uint16_t bid_len)
{
	for (size_t i = 0; i < c->nmodules; i++) {
		struct mp_module *m = &c->modules[i];
		if (m->build_id_len == bid_len && !memcmp(m->build_id, bid, bid_len) && strlen(m->path) == path_len &&
		    !memcmp(m->path, path, path_len))
			return (uint32_t)i;
	}
	struct mp_module *nm = realloc(c->modules, (c->nmodules + 1) * sizeof(*nm));
	if (!nm)
		return UINT32_MAX;
	c->modules = nm;
	struct mp_module *m = &nm[c->nmodules];
	m->path = strndup(path, path_len);
	if (!m->path)
		return UINT32_MAX;
	memcpy(m->build_id, bid, bid_len);
	m->build_id_len = bid_len;
	return (uint32_t)c->nmodules++;
}

static int handle_modules(struct mp_collector *c, struct mp_image *im, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	while ((size_t)(end - p) >= sizeof(struct mp_module_rec)) {
		struct mp_module_rec rec;
		memcpy(&rec, p, sizeof(rec));
		p += sizeof(rec);
		if (rec.path_len > (size_t)(end - p) || rec.build_id_len > sizeof(rec.build_id) || rec.end < rec.start)
			return -1;
		const char *path = (const char *)p;
		p += rec.path_len;
		if (!rec.path_len || path[0] != '/')
			continue; /* the vDSO and other nameless objects */
		uint32_t mod = module_intern(c, path, rec.path_len, rec.build_id, rec.build_id_len);
		if (mod == UINT32_MAX)
			return -1;
		size_t i;
		for (i = 0; i < im->nmods; i++)
			if (im->mods[i].start == rec.start && im->mods[i].module == mod)
				break;
		if (i < im->nmods)
			continue;
		struct mp_image_module *nm = realloc(im->mods, (im->nmods + 1) * sizeof(*nm));
		if (!nm)
			return -1;
		im->mods = nm;
		im->mods[im->nmods++] = (struct mp_image_module){rec.start, rec.end, rec.bias, mod};
	}
	return p == end ? 0 : -1;
}

int mp_collector_handle(struct mp_collector *c, const void *msg, size_t len)
{
	struct mp_msg_hdr h;
	c->messages++;
	if (len < sizeof(h))
		goto bad;
	memcpy(&h, msg, sizeof(h));
	if (h.magic != MP_WIRE_MAGIC || h.version != MP_WIRE_VERSION || h.len != len - sizeof(h))
		goto bad;
	const uint8_t *payload = (const uint8_t *)msg + sizeof(h);
	struct mp_image *im = image_get(c, h.pid, h.image);
	if (!im)
		goto bad;
	im->last_seen_mono = mono_now();
	switch (h.type) {
	case MP_MSG_HELLO: {
		struct mp_hello hello;
		if (h.len < sizeof(hello))
			goto bad;
		memcpy(&hello, payload, sizeof(hello));
		if (!hello.parent_image) {
			/* An exec: the image it replaces has said everything. */
			for (size_t i = c->nimages; i-- > 0;) {
				if (&c->images[i] != im && c->images[i].pid == h.pid) {
					c->images[i].complete = 1;
					break;
				}
			}
		} else if (hello.fork_seq) {
			struct mp_image *parent = image_find(c, hello.ppid, hello.parent_image);
			if (parent && fork_add(parent, hello.fork_seq))
				goto oom;
			im = image_get(c, h.pid, h.image); /* fork_add may not move images, but be sure */
		}
		im->have_hello = 1;
		im->ppid = hello.ppid;
		im->parent_image = hello.parent_image;
		im->fork_seq = hello.fork_seq;
		im->start_realtime_ns = hello.start_realtime_ns;
		free(im->argv);
		im->argv_len = h.len - sizeof(hello);
		im->argv = malloc(im->argv_len + 1);
		if (!im->argv)
			goto bad;
		memcpy(im->argv, payload + sizeof(hello), im->argv_len);
		im->argv[im->argv_len] = 0;
		return 0;
	}
	case MP_MSG_THREAD: { /* a stream starts: the replay waits for it */
		uint32_t tid;
		if (h.len != sizeof(tid))
			goto bad;
		memcpy(&tid, payload, sizeof(tid));
		if (!stream_get(im, h.stream, tid))
			goto oom;
		return 0;
	}
	case MP_MSG_EVENTS: {
		struct mp_stream *s = stream_get(im, h.stream, h.reserved);
		if (!s)
			goto bad;
		struct mp_chunk *ch = malloc(sizeof(*ch) + h.len);
		if (!ch)
			goto oom;
		ch->next = NULL;
		ch->len = h.len;
		memcpy(ch->data, payload, h.len);
		c->queued_bytes += h.len;
		if (c->queued_bytes > c->queued_peak)
			c->queued_peak = c->queued_bytes;
		if (s->tail)
			s->tail->next = ch;
		else
			s->head = ch;
		s->tail = ch;
		return 0;
	}
	case MP_MSG_MODULES:
		if (handle_modules(c, im, payload, h.len))
			goto bad;
		return 0;
	case MP_MSG_EXIT: {
		uint32_t v[2];
		if (h.len < sizeof(v))
			goto bad;
		memcpy(v, payload, sizeof(v));
		im->exit_sent = 1;
		im->have_status = (int)v[0];
		im->status = (int)v[1];
		struct mp_exit e;
		if (h.len >= sizeof(e)) {
			memcpy(&e, payload, sizeof(e));
			im->have_cost = 1;
			im->cpu_ns = e.cpu_ns;
			im->profiler_bytes = e.profiler_samples ? e.profiler_bytes : 0;
		}
		return 0;
	}
	case MP_MSG_EXEC:
		im->exec_sent = 1;
		return 0;
	case MP_MSG_FORK: {
		uint64_t seq;
		if (h.len < sizeof(seq))
			goto bad;
		memcpy(&seq, payload, sizeof(seq));
		if (fork_add(im, seq))
			goto oom;
		return 0;
	}
	case MP_MSG_RSS: {
		struct mp_rss rs;
		if (h.len < sizeof(rs))
			goto bad;
		memcpy(&rs, payload, sizeof(rs));
		if (im->nrss == im->cap_rss) {
			size_t ncap = im->cap_rss ? im->cap_rss * 2 : 64;
			struct mp_rss *nr = realloc(im->rss, ncap * sizeof(*nr));
			if (!nr)
				goto oom;
			im->rss = nr;
			im->cap_rss = ncap;
		}
		im->rss[im->nrss++] = rs;
		return 0;
	}
	case MP_MSG_POOL:
		if (h.len < sizeof(uint32_t) || h.len > sizeof(uint32_t) + MP_NAME_MAX)
			goto bad;
		if (pool_add(im, payload, h.len))
			goto oom;
		return 0;
	case MP_MSG_CONTROL: {
		struct mp_control ctl;
		if (h.len < sizeof(ctl) || h.len > sizeof(ctl) + MP_NAME_MAX)
			goto bad;
		memcpy(&ctl, payload, sizeof(ctl));
		if (ctl.what < MP_CONTROL_PAUSE || ctl.what > MP_CONTROL_PHASE)
			goto bad;
		if (control_add(im, payload, h.len))
			goto oom;
		return 0;
	}
	case MP_MSG_SCAN: {
		struct mp_scan_req req;
		if (h.len < sizeof(req) || c->passed_fd < 0)
			goto bad;
		memcpy(&req, payload, sizeof(req));
		mp_collector_scan_drop(im);
		im->scan_pending = 1;
		im->scan_fd = c->passed_fd;
		im->scan_stamp = req.stamp;
		im->scan_since = mono_now();
		c->passed_fd = -1;
		return 0;
	}
	case MP_MSG_REACH:
		if (mp_trace_reach(c, im, payload, h.len))
			goto bad;
		return 0;
	case MP_MSG_CHILD: {
		uint32_t v[2];
		if (h.len < sizeof(v))
			goto bad;
		memcpy(v, payload, sizeof(v));
		mp_collector_set_wait_status(c, (pid_t)v[0], (int)v[1]);
		return 0;
	}
	default:
		goto bad;
	}
bad:
	c->bad_messages++;
	return -1;
oom:
	snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
	return -1;
}

void mp_collector_set_wait_status(struct mp_collector *c, pid_t pid, int status)
{
	/* The last image of that pid is the one that ended. */
	for (size_t i = c->nimages; i-- > 0;) {
		if (c->images[i].pid == (uint32_t)pid) {
			c->images[i].waited = 1;
			c->images[i].wait_status = status;
			c->images[i].complete = 1;
			return;
		}
	}
}

void mp_collector_scan_drop(struct mp_image *im)
{
	if (im->scan_pending)
		close(im->scan_fd);
	im->scan_pending = 0;
}

/* Whether pid is a running (not zombie) process. */
static int pid_running(uint32_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

int mp_collector_any_alive(struct mp_collector *c)
{
	for (size_t i = 0; i < c->nimages; i++) {
		struct mp_image *im = &c->images[i];
		if (im->exit_sent || im->waited || im->run != c->run)
			continue;
		int superseded = 0;
		for (size_t j = i + 1; j < c->nimages && !superseded; j++)
			superseded = c->images[j].pid == im->pid && !c->images[j].parent_image;
		if (superseded)
			continue;
		if (pid_running(im->pid))
			return 1;
	}
	return 0;
}

int mp_collector_run(struct mp_collector *c, int fd, int (*stop)(struct mp_collector *, void *), void *arg)
{
	uint8_t *buf = malloc(MP_MSG_MAX + 4096);
	if (!buf)
		return -1;
	int rc = 0, more = 0;
	uint64_t held_since = 0; /* reading held since then (0: not held) */
	for (;;) {
		/* With replay work left, only look for messages: a sender waits
		   while its socket is full. But with c->backlog bytes of events
		   waiting to be replayed, replay first and let the senders
		   wait: what waits here would otherwise grow with the events,
		   not with the live blocks (churn with 2 threads and 16 M calls
		   queued 200 MiB). The replay only reports more work when it
		   can go on, so it never waits for what is not read. */
		int full = more && c->queued_bytes >= c->backlog;
		if (full && !held_since) {
			held_since = mp_collector_now();
		} else if (!full && held_since) {
			c->held_ns += mp_collector_now() - held_since;
			held_since = 0;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = full ? 0 : poll(&pfd, 1, more ? 0 : 100);
		if (r < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
		int eof = 0;
		/* A batch is bounded: a thread sending without pause (one
		   message per event once its process began to exit) must not
		   keep the replay, and a leak scan's answer, waiting. */
		for (int batch = 0; r > 0 && batch < 4096; batch++) {
			if (batch >= 64 && c->queued_bytes >= c->backlog)
				break;
			struct iovec iov = {buf, MP_MSG_MAX + 4096};
			union {
				struct cmsghdr align;
				char space[CMSG_SPACE(4 * sizeof(int))];
			} ctl;
			struct msghdr mh = {.msg_iov = &iov,
			                    .msg_iovlen = 1,
			                    .msg_control = ctl.space,
			                    .msg_controllen = sizeof(ctl.space)};
			ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			/* A leak scan's reply socket comes with its request; any
			   other fd is closed at once. */
			c->passed_fd = -1;
			for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
				if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
					continue;
				size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t k = 0; k < nfd; k++) {
					int got;
					memcpy(&got, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
					if (c->passed_fd < 0)
						c->passed_fd = got;
					else
						close(got);
				}
			}
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					eof = 1;
				break;
			}
			if (n == 0) {
				eof = 1;
				break;
			}
			if (mh.msg_flags & MSG_TRUNC) {
				if (c->passed_fd >= 0)
					close(c->passed_fd);
				c->passed_fd = -1;
				c->bad_messages++;
				continue;
			}
			int hrc = mp_collector_handle(c, buf, (size_t)n);
			if (c->passed_fd >= 0) {
				close(c->passed_fd);
				c->passed_fd = -1;
			}
			if (hrc && c->errbuf[0]) {
				rc = -1;
				eof = 1;
				break;
			}
		}
		if (rc || eof)
			break;
		more = c->trace ? mp_trace_progress(c) : 0;
		if (more < 0) {
			rc = -1;
			break;
		}
		if (r <= 0 && !more && stop && stop(c, arg))
			break;
	}
	if (held_since)
		c->held_ns += mp_collector_now() - held_since;
	free(buf);
	return rc;
}

void mp_collector_release(struct mp_collector *c)
{
	for (size_t i = 0; i < c->nimages; i++) {
		struct mp_image *im = &c->images[i];
		for (size_t j = 0; j < im->nstreams; j++) {
			for (struct mp_chunk *ch = im->streams[j].head, *next; ch; ch = next) {
				next = ch->next;
				free(ch);
			}
		}
		mp_collector_scan_drop(im);
		free(im->streams);
		free(im->forks);
		free(im->rss);
		for (size_t j = 0; j < im->npools; j++)
			free(im->pools[j].name);
		free(im->pools);
		for (size_t j = 0; j < im->ncontrols; j++)
			free(im->controls[j].name);
		free(im->controls);
		free(im->mods);
		free(im->argv);
	}
	free(c->images);
	for (size_t i = 0; i < c->nmodules; i++)
		free(c->modules[i].path);
	free(c->modules);
	free(c->runs);
	memset(c, 0, sizeof(*c));
}
