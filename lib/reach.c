/* The leak scan at exit: which of the blocks still allocated are reachable.
 *
 * Only this process has its memory and only the collector knows its live
 * blocks. At exit (mp_end, after the last flush) the image closes every
 * thread's buffer with a mark (the cut), asks the collector for the blocks
 * live at the cut (MP_MSG_SCAN, lib/wire.h) and waits for them at most
 * MEMPROF_SCAN_WAIT seconds (default 60). It then marks, conservatively,
 * what its roots reach, as LeakSanitizer does, and sends back a bitmap of
 * the reachable blocks (MP_MSG_REACH).
 *
 * Roots: the writable PT_LOAD segments (data, bss) of every loaded object
 * but this library (its buffers hold the address of every block; the
 * private jemalloc's memory is anonymous and never a root); the calling
 * thread's TLS blocks, and its stack from its stack pointer up, its
 * registers spilled there first; the other threads' stacks, from the stack
 * pointer the kernel shows for a thread waiting in a system call
 * (/proc/self/task/TID/syscall) to the end of that mapping, which holds the
 * thread's static TLS in glibc; never the flusher's. Another thread's
 * registers are not seen, nor the stack of a thread that stays running
 * (on a CPU) through the scan. The program's heap and anonymous mappings
 * are scanned only as the contents of reachable blocks.
 *
 * A word points to a block when it points to its start or inside it
 * (interior pointers count, as in LeakSanitizer): a binary search in the
 * blocks sorted by address, after a range check. The reached blocks are
 * scanned in turn (a worklist), many small ones per read. Memory is read
 * with process_vm_readv on our own pid, so that an unmapped or PROT_NONE
 * page fails the read (EFAULT, skipped a page at a time) instead of
 * faulting; through /proc/self/mem where that call is not allowed.
 * Nothing here allocates from the program's heap (it would be recorded):
 * memory comes from the private allocator, directories are read with
 * getdents64, files with read(2).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define READ_BUF (1u << 20) /* bytes read at once */
#define BATCH_IOV 1024      /* blocks read at once (IOV_MAX) */
#define RED_ZONE 128        /* below a waiting thread's stack pointer */

struct range {
	uintptr_t lo, hi;
};

struct scan {
	const struct mp_scan_block *blk;
	size_t n;
	uint64_t min, span; /* every block lies in [min, min + span) */
	uint8_t *bits;      /* reachable */
	uint32_t *work;     /* reached, not scanned yet */
	size_t nwork;
	uint8_t *buf, *buf2;
	pid_t pid;
	int mem_fd; /* /proc/self/mem, when process_vm_readv is not allowed */
	uint64_t bytes_read;
	struct range *roots;
	size_t nroots, cap_roots;
	struct range *maps; /* /proc/self/maps, ascending */
	size_t nmaps;
	int threads_unseen; /* other threads whose stack could not be found */
};

static void add_root(struct scan *s, uintptr_t lo, uintptr_t hi)
{
	if (hi <= lo)
		return;
	if (s->nroots == s->cap_roots) {
		size_t ncap = s->cap_roots ? s->cap_roots * 2 : 64;
		struct range *nr = mpje_realloc(s->roots, ncap * sizeof(*nr));
		if (!nr)
			return;
		s->roots = nr;
		s->cap_roots = ncap;
	}
	s->roots[s->nroots++] = (struct range){lo, hi};
}

/* Reads len bytes at addr of our own memory into dst. Returns the bytes
   read (fewer at an unreadable page), or -1 when the first is unreadable. */
static ssize_t mem_read(struct scan *s, void *dst, uintptr_t addr, size_t len)
{
	ssize_t n;
	if (s->mem_fd < 0) {
		struct iovec l = {dst, len}, r = {(void *)addr, len};
		n = process_vm_readv(s->pid, &l, 1, &r, 1, 0);
	} else {
		while ((n = pread(s->mem_fd, dst, len, (off_t)addr)) < 0 && errno == EINTR)
			;
	}
	if (n > 0)
		s->bytes_read += (uint64_t)n;
	return n;
}

static inline void consider(struct scan *s, uint64_t w)
{
	if (w - s->min >= s->span)
		return;
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->blk[mid].addr <= w)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return;
	size_t i = lo - 1;
	uint64_t size = s->blk[i].size ? s->blk[i].size : 1, off = w - s->blk[i].addr;
	if (off >= size || (s->bits[i >> 3] & (1u << (i & 7))))
		return;
	/* glibc's arena (a root: libc's data) points to chunk headers, the
	   next chunk's of a block being its last 8 usable bytes: not a
	   pointer to the block. */
	if (off && off + 8 == s->blk[i].usable && !(w & 15))
		return;
	s->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
	s->work[s->nwork++] = (uint32_t)i;
}

static void scan_words(struct scan *s, const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t k = 0, nw = len / 8; k < nw; k++)
		consider(s, w[k]);
}

/* Scans the aligned words of [lo, hi), skipping what cannot be read. */
static void scan_range(struct scan *s, uintptr_t lo, uintptr_t hi)
{
	lo = (lo + 7) & ~(uintptr_t)7;
	hi &= ~(uintptr_t)7;
	while (lo < hi) {
		size_t len = hi - lo < READ_BUF ? hi - lo : READ_BUF;
		ssize_t n = mem_read(s, s->buf2, lo, len);
		if (n <= 0) {
			lo = (lo | 4095) + 1; /* the next page */
			continue;
		}
		scan_words(s, s->buf2, (size_t)n & ~(size_t)7);
		lo += (size_t)n & ~(size_t)7;
		if ((size_t)n & 7)
			lo = (lo | 4095) + 1;
	}
}

/* Scans the blocks on the worklist until it is empty, reading up to
   BATCH_IOV small blocks with one system call. */
static void drain(struct scan *s)
{
	static struct iovec riov[BATCH_IOV];
	while (s->nwork) {
		size_t k = 0, bytes = 0;
		while (s->nwork && k < BATCH_IOV && s->mem_fd < 0) {
			const struct mp_scan_block *b = &s->blk[s->work[s->nwork - 1]];
			uint64_t a = (b->addr + 7) & ~(uint64_t)7, e = (b->addr + b->size) & ~(uint64_t)7;
			size_t len = e > a ? (size_t)(e - a) : 0;
			if (len > READ_BUF / 4 || bytes + len > READ_BUF)
				break;
			s->nwork--;
			riov[k] = (struct iovec){(void *)(uintptr_t)a, len};
			bytes += len;
			k++;
		}
		if (!k) { /* a big block, or reading through /proc/self/mem */
			const struct mp_scan_block *b = &s->blk[s->work[--s->nwork]];
			scan_range(s, b->addr, b->addr + b->size);
			continue;
		}
		struct iovec l = {s->buf, bytes};
		ssize_t n = process_vm_readv(s->pid, &l, 1, riov, k, 0);
		size_t got = n > 0 ? (size_t)n : 0, off = 0;
		s->bytes_read += got;
		for (size_t j = 0; j < k; j++) {
			size_t len = riov[j].iov_len;
			if (off + len <= got) /* read whole */
				scan_words(s, s->buf + off, len);
			else /* the read stopped in or before it: one by one */
				scan_range(s, (uintptr_t)riov[j].iov_base, (uintptr_t)riov[j].iov_base + len);
			off += len;
		}
	}
}

/* Reads a whole small file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			break;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

static uint64_t parse_hex(const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (p[0] == '0' && p[1] == 'x')
		p += 2;
	for (;; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
		if (d < 0)
			break;
		v = v << 4 | (uint64_t)d;
	}
	*pp = p;
	return v;
}

/* Loads the address ranges of /proc/self/maps (for the stacks' ends). */
static void load_maps(struct scan *s)
{
	size_t cap = 1 << 16, len = 0;
	char *text = mpje_malloc(cap);
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (!text || fd < 0) {
		mpje_free(text);
		if (fd >= 0)
			close(fd);
		return;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *nt = mpje_realloc(text, cap * 2);
			if (!nt)
				break;
			text = nt;
			cap *= 2;
		}
		ssize_t n = read(fd, text + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = 0;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	s->maps = mpje_malloc((lines + 1) * sizeof(*s->maps));
	for (const char *p = text; s->maps && *p;) {
		uint64_t lo = parse_hex(&p);
		if (*p != '-')
			break;
		p++;
		uint64_t hi = parse_hex(&p);
		s->maps[s->nmaps++] = (struct range){(uintptr_t)lo, (uintptr_t)hi};
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	mpje_free(text);
}

/* The end of the mapping that holds addr, or 0. */
static uintptr_t mapping_end(const struct scan *s, uintptr_t addr)
{
	for (size_t i = 0; i < s->nmaps; i++)
		if (addr >= s->maps[i].lo && addr < s->maps[i].hi)
			return s->maps[i].hi;
	return 0;
}

struct phdr_arg {
	struct scan *s;
	uintptr_t self; /* an address inside this library */
};

static int on_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct phdr_arg *a = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && a->self >= lo && a->self < lo + ph->p_memsz)
			return 0; /* the profiler itself */
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
			add_root(a->s, info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
		else if (ph->p_type == PT_TLS &&
		         size >= offsetof(struct dl_phdr_info, dlpi_tls_data) + sizeof(info->dlpi_tls_data) &&
		         info->dlpi_tls_data)
			add_root(a->s, (uintptr_t)info->dlpi_tls_data, (uintptr_t)info->dlpi_tls_data + ph->p_memsz);
	}
	return 0;
}

/* The stack pointer of a thread waiting in the kernel, or 0 (running). */
static uintptr_t thread_sp(pid_t tid)
{
	char path[64] = "/proc/self/task/", text[512];
	char *p = path + strlen(path);
	char digits[16];
	int nd = 0;
	for (unsigned v = (unsigned)tid; v || !nd; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd)
		*p++ = digits[--nd];
	memcpy(p, "/syscall", 9);
	if (read_file(path, text, sizeof(text)) <= 0 || !strncmp(text, "running", 7))
		return 0;
	/* "nr a1 .. a6 sp pc", or "-1 sp pc" outside a system call */
	const char *f[10];
	int nf = 0;
	for (const char *q = text; *q && nf < 10;) {
		while (*q == ' ')
			q++;
		if (!*q || *q == '\n')
			break;
		f[nf++] = q;
		while (*q && *q != ' ' && *q != '\n')
			q++;
	}
	const char *sp = nf == 9 ? f[7] : nf == 3 ? f[1] : NULL;
	return sp ? (uintptr_t)parse_hex(&sp) : 0;
}

/* Adds the stacks of the other threads, from their stack pointers. */
static void other_threads(struct scan *s)
{
	pid_t self = (pid_t)syscall(SYS_gettid), flusher = mp_flusher_tid();
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	char buf[4096];
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			pid_t tid = (pid_t)atoi(d->d_name);
			if (tid <= 0 || tid == self || tid == flusher)
				continue;
			uintptr_t sp = 0;
			for (int tries = 0; tries < 20 && !(sp = thread_sp(tid)); tries++) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
			}
			uintptr_t end = sp ? mapping_end(s, sp) : 0;
			if (!end) {
				s->threads_unseen++;
				continue;
			}
			add_root(s, sp > RED_ZONE ? sp - RED_ZONE : sp, end);
		}
	}
	close(dfd);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits for the collector's answer on fd; returns the memfd (or -2 when
   there is nothing to scan), -1 on failure. */
static int wait_reply(int fd, uint64_t stamp, uint64_t *count, int wait_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)wait_ms * 1000000u;
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		struct mp_scan_reply rep;
		struct iovec iov = {&rep, sizeof(rep)};
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = ctl.space,
		                    .msg_controllen = sizeof(ctl.space)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		int memfd = -1;
		for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
		if (n != (ssize_t)sizeof(rep) || rep.stamp != stamp) {
			if (memfd >= 0)
				close(memfd);
			return -1;
		}
		*count = rep.count;
		if (!rep.count) {
			if (memfd >= 0)
				close(memfd);
			return -2;
		}
		return memfd;
	}
}

static void send_result(const struct scan *s, uint64_t stamp, uint64_t scan_ns)
{
	size_t max = sizeof(struct mp_reach) + MP_REACH_BITS / 8;
	uint8_t *msg = mpje_malloc(max);
	if (!msg)
		return;
	for (uint64_t first = 0; first < s->n; first += MP_REACH_BITS) {
		uint64_t nbits = s->n - first < MP_REACH_BITS ? s->n - first : MP_REACH_BITS;
		struct mp_reach h = {stamp, first, nbits, s->n, scan_ns};
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + sizeof(h), s->bits + first / 8, (size_t)(nbits + 7) / 8);
		if (mp_send(MP_MSG_REACH, 0, msg, sizeof(h) + (size_t)(nbits + 7) / 8))
			break;
	}
	mpje_free(msg);
}

static void scan_free(struct scan *s)
{
	mpje_free(s->bits);
	mpje_free(s->work);
	mpje_free(s->buf);
	mpje_free(s->buf2);
	mpje_free(s->roots);
	mpje_free(s->maps);
	if (s->mem_fd >= 0)
		close(s->mem_fd);
}

/* Marks from the roots, the calling thread's stack from `here` up;
   returns 0, or -1 when memory cannot be read at all. MEMPROF_SCAN=mem
   reads through /proc/self/mem (for the tests). */
static int mark(struct scan *s, uintptr_t here)
{
	s->pid = getpid();
	s->mem_fd = -1;
	uint64_t probe = 0, v = 42;
	struct iovec l = {&probe, sizeof(probe)}, r = {&v, sizeof(v)};
	const char *env = getenv("MEMPROF_SCAN");
	if ((env && !strcmp(env, "mem")) || process_vm_readv(s->pid, &l, 1, &r, 1, 0) != sizeof(v)) {
		s->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
		if (s->mem_fd < 0)
			return -1;
	}
	s->min = s->blk[0].addr;
	uint64_t end = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t e = s->blk[i].addr + (s->blk[i].size ? s->blk[i].size : 1);
		end = e > end ? e : end;
	}
	s->span = end - s->min;
	s->bits = mpje_calloc((s->n + 7) / 8 + 8, 1);
	s->work = mpje_malloc(s->n * sizeof(*s->work));
	s->buf = mpje_malloc(READ_BUF);
	s->buf2 = mpje_malloc(READ_BUF);
	if (!s->bits || !s->work || !s->buf || !s->buf2)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		if (s->blk[i].flags & MP_SCAN_ROOT) {
			s->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
			s->work[s->nwork++] = (uint32_t)i;
		}
	}
	load_maps(s);
	struct phdr_arg a = {s, (uintptr_t)&mark};
	dl_iterate_phdr(on_object, &a);
	other_threads(s);
	/* After main returned, the frames below its caller's are dead (the
	   program's old locals linger there, under exit's frames). */
	if (mp_main_frame > here && syscall(SYS_gettid) == s->pid &&
	    mapping_end(s, mp_main_frame) == mapping_end(s, here))
		here = mp_main_frame;
	uintptr_t top = mapping_end(s, here);
	if (top)
		add_root(s, here & ~(uintptr_t)7, top);
	for (size_t i = 0; i < s->nroots; i++) {
		scan_range(s, s->roots[i].lo, s->roots[i].hi);
		drain(s);
	}
	return 0;
}

static void put_num(char **p, uint64_t v)
{
	char tmp[24];
	int i = 0;
	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (i)
		*(*p)++ = tmp[--i];
}

/* The calling thread's stack is a root from this frame up: every frame
   the scan itself uses lies below (their dead slots would hold the
   addresses it reads), its registers are spilled into this frame first. */
__attribute__((noinline)) void mp_reach_scan(void)
{
	__builtin_unwind_init();
	volatile uintptr_t here = (uintptr_t)&here;
	const char *env = getenv("MEMPROF_SCAN");
	if (env && *env == '0')
		return;
	int verbose = env && *env == '2';
	const char *w = getenv("MEMPROF_SCAN_WAIT");
	int wait_ms = (w && *w) ? atoi(w) * 1000 : 60 * 1000;
	if (wait_ms <= 0 || atomic_load(&mp_state) != MP_ON || mp_thread_busy())
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return;
	uint64_t t0 = mono_ns();
	uint64_t stamp = mp_thread_mark_all();
	struct mp_scan_req req = {stamp, 0};
	if (!stamp || mp_send_fd(MP_MSG_SCAN, &req, sizeof(req), sv[1])) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	close(sv[1]);
	uint64_t count = 0;
	int memfd = wait_reply(sv[0], stamp, &count, wait_ms);
	close(sv[0]);
	if (memfd == -2 || memfd < 0) {
		if (memfd == -1)
			mp_warn("leak scan: no answer from the collector", NULL);
		return;
	}
	uint64_t t1 = mono_ns();
	struct stat st;
	size_t bytes = (size_t)count * sizeof(struct mp_scan_block);
	void *map = MAP_FAILED;
	if (count < UINT32_MAX && fstat(memfd, &st) == 0 && (uint64_t)st.st_size >= bytes)
		map = (void *)syscall(SYS_mmap, NULL, bytes, PROT_READ, MAP_PRIVATE, memfd, 0);
	close(memfd);
	if (map == MAP_FAILED)
		return;
	struct scan s;
	memset(&s, 0, sizeof(s));
	s.blk = map;
	s.n = (size_t)count;
	int sorted = 1;
	for (size_t i = 1; i < s.n && sorted; i++)
		sorted = s.blk[i].addr > s.blk[i - 1].addr;
	if (sorted && mark(&s, here) == 0) {
		uint64_t t2 = mono_ns();
		send_result(&s, stamp, t2 - t0);
		if (verbose) {
			size_t reached = 0;
			for (size_t i = 0; i < s.n; i++)
				reached += (s.bits[i >> 3] >> (i & 7)) & 1;
			char line[256], *p = line;
			const char *parts[] = {"memprof: leak scan: ", " blocks, ",     " reachable, ",
			                       " bytes read, ",        " ms waiting, ", " ms marking, ",
			                       " threads unseen\n"};
			uint64_t nums[] = {s.n,
			                   reached,
			                   s.bytes_read,
			                   (t1 - t0) / 1000000u,
			                   (t2 - t1) / 1000000u,
			                   (uint64_t)s.threads_unseen};
			for (int i = 0; i < 7; i++) {
				size_t l = strlen(parts[i]);
				memcpy(p, parts[i], l);
				p += l;
				if (i < 6)
					put_num(&p, nums[i]);
			}
			ssize_t r = write(2, line, (size_t)(p - line));
			(void)r;
		}
	}
	scan_free(&s);
	syscall(SYS_munmap, map, bytes);
}
