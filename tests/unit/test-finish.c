/* Unit tests of finishing a trace: ordering across threads, matching with
 * reused addresses, failed realloc, fork inheritance, exec. Messages are
 * crafted in the wire format and fed to a collector. */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "finish.h"
#include "unit.h"
#include "vtab.h"

struct enc {
	uint8_t buf[4096], *p;
	uint64_t seq, time, ptr;
};

static void enc_reset(struct enc *e)
{
	e->p = e->buf;
	*e->p++ = 0; /* chunk flags: counter stamps, explicit times */
	e->seq = e->time = e->ptr = 0;
}

static void enc_stack(struct enc *e, uint64_t ip)
{
	*e->p++ = MP_EV_STACK;
	e->p = mp_put_varint(e->p, 1);
	e->p = mp_put_varint(e->p, mp_zigzag((int64_t)ip));
}

static void enc_head(struct enc *e, int tag, uint64_t seq, uint64_t ptr)
{
	*e->p++ = (uint8_t)tag;
	e->p = mp_put_varint(e->p, seq - e->seq);
	e->p = mp_put_varint(e->p, seq * 10 - e->time); /* time: 10 ns per seq */
	e->p = mp_put_varint(e->p, mp_zigzag((int64_t)(ptr - e->ptr)));
	e->seq = seq;
	e->time = seq * 10;
	e->ptr = ptr;
}

static void enc_alloc(struct enc *e, uint64_t seq, uint64_t ptr, uint64_t size)
{
	enc_head(e, MP_EV_ALLOC, seq, ptr);
	e->p = mp_put_varint(e->p, size);
	e->p = mp_put_varint(e->p, 0);
	e->p = mp_put_varint(e->p, 0);
}

static void deliver(struct mp_collector *c, int type, uint32_t pid, uint64_t image, uint32_t stream,
                    const void *payload, size_t len)
{
	uint8_t msg[sizeof(struct mp_msg_hdr) + 4096];
	struct mp_msg_hdr h = {MP_WIRE_MAGIC, (uint16_t)type, MP_WIRE_VERSION, pid, stream, image, (uint32_t)len, pid};
	memcpy(msg, &h, sizeof(h));
	if (len)
		memcpy(msg + sizeof(h), payload, len);
	CU_ASSERT_EQUAL(mp_collector_handle(c, msg, sizeof(h) + len), 0);
}

static void hello(struct mp_collector *c, uint32_t pid, uint32_t ppid, uint64_t image, uint64_t parent, uint64_t fseq)
{
	uint8_t buf[sizeof(struct mp_hello) + 8];
	struct mp_hello h = {.ppid = ppid, .argc = 1, .parent_image = parent, .fork_seq = fseq, .start_mono_ns = image};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), "prog\0", 5);
	deliver(c, MP_MSG_HELLO, pid, image, 0, buf, sizeof(h) + 5);
}

static void flush(struct mp_collector *c, struct enc *e, uint32_t pid, uint64_t image, uint32_t stream)
{
	deliver(c, MP_MSG_EVENTS, pid, image, stream, e->buf, (size_t)(e->p - e->buf));
	enc_reset(e);
}

static char *query(sqlite3 *db, const char *sql)
{
	static char out[512];
	sqlite3_stmt *st;
	out[0] = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return strcpy(out, "prepare failed");
	size_t len = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? "," : (len ? " " : ""),
			                        v ? v : "NULL");
		}
	}
	sqlite3_finalize(st);
	return out;
}

/* A trace file in a directory of its own, removed after the test. */
struct temp_trace {
	char dir[32], out[64];
};

static void temp_trace_make(struct temp_trace *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/memprof-unit-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(t->dir));
	snprintf(t->out, sizeof(t->out), "%s/t.db", t->dir);
}

static void temp_trace_remove(const struct temp_trace *t)
{
	unlink(t->out);
	rmdir(t->dir);
}

static void test_finish(void)
{
	struct temp_trace tt;
	temp_trace_make(&tt);
	const char *out = tt.out;
	struct mp_collector c;
	CU_ASSERT_EQUAL_FATAL(mp_collector_init(&c), 0);
	struct enc e1, e2;
	enc_reset(&e1);
	enc_reset(&e2);

	/* Image A (pid 100): two threads; thread 2 frees thread 1's block and
	   gets its address back; sent out of order. */
	hello(&c, 100, 1, 1000, 0, 0);
	enc_stack(&e2, 0x2222);
	enc_head(&e2, MP_EV_FREE, 3, 0x1000);
	enc_alloc(&e2, 4, 0x1000, 200);
	flush(&c, &e2, 100, 1000, 2);
	enc_stack(&e1, 0x1111);
	enc_alloc(&e1, 1, 0x1000, 100);
	enc_alloc(&e1, 2, 0x2000, 50);
	enc_head(&e1, MP_EV_FREE, 5, 0x1000);
	/* a failed realloc: released, then revived */
	enc_alloc(&e1, 6, 0x3000, 10);
	enc_head(&e1, MP_EV_FREE, 7, 0x3000);
	enc_head(&e1, MP_EV_REVIVE, 8, 0x3000);
	/* two blocks to be inherited by a fork child at seq 11 */
	enc_alloc(&e1, 9, 0x5000, 7);
	enc_alloc(&e1, 10, 0x6000, 9);
	enc_head(&e1, MP_EV_FREE, 12, 0x5000);
	flush(&c, &e1, 100, 1000, 1);
	uint32_t exited[2] = {1, 0};
	deliver(&c, MP_MSG_EXIT, 100, 1000, 0, exited, sizeof(exited));

	/* Image B (pid 101): forked from A at seq 11, frees an inherited block. */
	hello(&c, 101, 100, 2000, 1000, 11);
	enc_head(&e1, MP_EV_FREE, 13, 0x5000);
	flush(&c, &e1, 101, 2000, 1);
	deliver(&c, MP_MSG_EXIT, 101, 2000, 0, exited, sizeof(exited));

	/* Image C (pid 200) execs into D (same pid): C's live block is dropped. */
	hello(&c, 200, 1, 3000, 0, 0);
	enc_stack(&e1, 0x1111); /* the same stack as image A's: stored once */
	enc_alloc(&e1, 1, 0x7000, 5);
	flush(&c, &e1, 200, 3000, 1);
	deliver(&c, MP_MSG_EXEC, 200, 3000, 0, NULL, 0);
	hello(&c, 200, 1, 4000, 0, 0);
	enc_stack(&e1, 0x4444);
	enc_alloc(&e1, 1, 0x8000, 6);
	flush(&c, &e1, 200, 4000, 1);
	uint32_t status[2] = {1, 4 << 8};
	deliver(&c, MP_MSG_EXIT, 200, 4000, 0, status, sizeof(status));

	char err[256];
	CU_ASSERT_EQUAL_FATAL(mp_finish(&c, out, NULL, err, sizeof(err)), 0);
	mp_collector_release(&c);
	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	/* A: 6 allocations (100, 50, 200, 10, 7, 9); frees: 0x1000 twice and
	   0x5000 (the revived one does not count); peak 50 + 200 at seq 4; one
	   temporary: thread 2's 200 bytes, freed (by thread 1) before thread 2
	   allocated again. */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT allocations, frees, unmatched_frees, leaked_bytes, leaked_blocks,"
	                                 " peak_bytes, temporary FROM processes WHERE id = 1"),
	                       "6,3,0,69,3,250,1");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT origin, parent_id, frees, unmatched_frees, leaked_bytes FROM processes"
	                                 " WHERE id = 2"),
	                       "fork,1,1,0,0");
	CU_ASSERT_STRING_EQUAL(
	        query(db, "SELECT origin, ended_by, leaked_bytes FROM processes WHERE pid = 200 ORDER BY id"),
	        "start,exec,0 exec,exit,6");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT exit_status FROM processes WHERE id = 4"), "4");
	/* Site figures at the peak: 50 (thread 1) + 200 (thread 2). */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT sum(peak_bytes), sum(bytes) FROM sites WHERE process_id = 1"),
	                       "250,376");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT count(*) FROM stacks"), "3");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT count(DISTINCT stack_id) FROM sites"), "3");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT value FROM meta WHERE key = 'state'"), "complete");
	sqlite3_close(db);
	temp_trace_remove(&tt);
}

/* Two processes with the same events: one exits, one is killed. Stream 1
   allocates A@1 and B@2, frees A@6 and allocates C@7; stream 2 frees B@3
   and the flusher marks it at 5, then nothing. The killed one is cut at 5,
   where both streams are known: A and B allocated, B freed, the rest lost. */
static void test_killed(void)
{
	struct temp_trace tt;
	temp_trace_make(&tt);
	const char *out = tt.out;
	struct mp_collector c;
	CU_ASSERT_EQUAL_FATAL(mp_collector_init(&c), 0);
	char err[256];
	struct mp_trace_info info = {.command = NULL, .max_depth = 128, .force = 0};
	CU_ASSERT_EQUAL_FATAL(mp_trace_start(&c, out, &info, err, sizeof(err)), 0);
	struct enc e;
	enc_reset(&e);
	for (uint32_t pid = 500; pid <= 501; pid++) {
		uint64_t image = pid * 10;
		hello(&c, pid, 1, image, 0, 0);
		enc_stack(&e, 0x1111);
		enc_alloc(&e, 1, 0xa000, 10);
		enc_alloc(&e, 2, 0xb000, 20);
		enc_head(&e, MP_EV_FREE, 6, 0xa000);
		enc_alloc(&e, 7, 0xc000, 30);
		flush(&c, &e, pid, image, 1);
		enc_head(&e, MP_EV_FREE, 3, 0xb000);
		enc_head(&e, MP_EV_MARK, 5, 0xb000);
		flush(&c, &e, pid, image, 2);
	}
	uint32_t exited[2] = {1, 0};
	deliver(&c, MP_MSG_EXIT, 500, 5000, 0, exited, sizeof(exited));
	mp_collector_set_wait_status(&c, 501, 9); /* killed by SIGKILL */
	usleep(60000);                            /* past the collector's TSC calibration */
	CU_ASSERT(mp_trace_progress(&c) >= 0);
	CU_ASSERT_EQUAL_FATAL(mp_finish(&c, out, &info, err, sizeof(err)), 0);
	mp_collector_release(&c);
	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT pid, allocations, frees, leaked_bytes, unmatched_frees, ended_by,"
	                                 " coalesce(signal, exit_status) FROM processes ORDER BY pid"),
	                       "500,3,2,30,0,exit,0 501,2,1,10,0,signal,9");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT value FROM meta WHERE key = 'lost_events'"), "2");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT value FROM meta WHERE key = 'state'"), "complete");
	/* An existing trace is not replaced without force. */
	CU_ASSERT_EQUAL(mp_collector_init(&c), 0);
	CU_ASSERT_EQUAL(mp_trace_start(&c, out, &info, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "exists"));
	mp_collector_release(&c);
	sqlite3_close(db);
	temp_trace_remove(&tt);
}

static void enc_map(struct enc *e, uint64_t seq, uint64_t ptr, uint64_t size, uint64_t slack, uint64_t flags)
{
	enc_head(e, MP_EV_ALLOC | (MP_KIND_MMAP << 4), seq, ptr);
	e->p = mp_put_varint(e->p, size);
	e->p = mp_put_varint(e->p, slack);
	e->p = mp_put_varint(e->p, 0);
	e->p = mp_put_varint(e->p, flags);
}

static void enc_unmap(struct enc *e, uint64_t seq, uint64_t ptr, uint64_t len)
{
	enc_head(e, MP_EV_FREE | (MP_FREE_MUNMAP << 4), seq, ptr);
	e->p = mp_put_varint(e->p, len);
}

static void rss(struct mp_collector *c, uint32_t pid, uint64_t image, uint64_t stamp, uint64_t bytes, uint64_t hwm)
{
	struct mp_rss r = {.stamp = stamp,
	                   .time_ns = image + stamp * 10,
	                   .rss_bytes = bytes,
	                   .anon_bytes = bytes / 2,
	                   .peak_rss_bytes = hwm};
	deliver(c, MP_MSG_RSS, pid, image, 0, &r, sizeof(r));
}

/* Mappings: a hole punched in one, a release over two with a gap, releases
   and an mremap of nothing recorded, a mapping over a remnant (MAP_FIXED),
   an mremap of a remnant; RSS samples placed among the events by stamp; a
   fork child releasing an inherited mapping. */
static void test_mappings(void)
{
	struct temp_trace tt;
	temp_trace_make(&tt);
	const char *out = tt.out;
	struct mp_collector c;
	CU_ASSERT_EQUAL_FATAL(mp_collector_init(&c), 0);
	struct enc e;
	enc_reset(&e);
	hello(&c, 300, 1, 30000, 0, 0);
	rss(&c, 300, 30000, 6, 1000000, 0);
	rss(&c, 300, 30000, 13, 2000000, 2500000);
	enc_stack(&e, 0x3333);
	enc_map(&e, 1, 0x100000, 0x4000, 0, 0);     /* A: 4 pages */
	enc_map(&e, 2, 0x200000, 0x2800, 0x800, 0); /* B: 3 pages, 10240 bytes */
	enc_map(&e, 3, 0x300000, 0x2000, 0, 0);     /* C: 2 pages; peak 34816 */
	enc_unmap(&e, 4, 0x101000, 0x1000);         /* A -> [0x100000] + [0x102000, 0x104000) */
	enc_unmap(&e, 5, 0x1ff000, 0x103000);       /* B and C, and the gap */
	enc_unmap(&e, 6, 0x500000, 0x1000);         /* nothing */
	enc_unmap(&e, 7, 0x600000, 0x2000);         /* nothing, and the mremap of it: */
	enc_map(&e, 8, 0x700000, 0x1000, 0, MP_MAP_REMAP);
	enc_map(&e, 9, 0x102000, 0x1000, 0, 0); /* D over A's right remnant's first page */
	enc_unmap(&e, 10, 0x100000, 0x1000);    /* mremap of A's left remnant, to 3 pages */
	enc_map(&e, 11, 0x800000, 0x3000, 0, MP_MAP_REMAP);
	enc_alloc(&e, 12, 0x900000, 100);
	flush(&c, &e, 300, 30000, 1);
	uint32_t exited[2] = {1, 0};
	deliver(&c, MP_MSG_EXIT, 300, 30000, 0, exited, sizeof(exited));
	hello(&c, 301, 300, 40000, 30000, 14); /* forked at 14 */
	enc_unmap(&e, 15, 0x800000, 0x3000);
	flush(&c, &e, 301, 40000, 1);
	deliver(&c, MP_MSG_EXIT, 301, 40000, 0, exited, sizeof(exited));

	char err[256];
	CU_ASSERT_EQUAL_FATAL(mp_finish(&c, out, NULL, err, sizeof(err)), 0);
	mp_collector_release(&c);
	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	/* 5 mappings made (A, B, C, D, the mremap), 51200 bytes; 3 releases
	   (the hole, B and C, the mremap's; not the two of nothing, nor D's
	   replacing); peak 34816; left: A's last page, D, the mremap's. */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes,"
	                                 " mmap_leaked_bytes, mmap_leaked_blocks FROM processes WHERE id = 1"),
	                       "5,3,51200,34816,20480,3");
	/* The heap is its own: one block of 100 bytes. */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT allocations, frees, allocated_bytes, peak_bytes, leaked_bytes,"
	                                 " unmatched_frees FROM processes WHERE id = 1"),
	                       "1,0,100,100,100,0");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT allocations, frees, bytes, peak_bytes, peak_blocks, leaked_bytes,"
	                                 " leaked_blocks FROM mapping_sites WHERE process_id = 1"),
	                       "5,5,51200,34816,3,20480,3");
	/* The parent's site, and the child's one row for the block it
	   inherited and never touched (live at its peak). */
	CU_ASSERT_STRING_EQUAL(
	        query(db, "SELECT process_id, allocations, bytes, peak_bytes FROM sites ORDER BY process_id"),
	        "1,1,100,100 2,0,0,100");
	/* The blocks, by id: A, B, C, A's remnants (left, right), the right
	   remnant's rest (cut by D before D was made), D, the mremap's. */
	CU_ASSERT_EQUAL_FATAL(mp_vtab_register(db), SQLITE_OK);
	CU_ASSERT_STRING_EQUAL(
	        query(db, "SELECT printf('%x', address), size, usable_size, free_time_ns IS NULL FROM allocations"
	                  " WHERE kind = 'mmap' AND process_id = 1 ORDER BY id"),
	        "100000,16384,16384,0 200000,10240,12288,0 300000,8192,8192,0 100000,4096,4096,0 102000,8192,8192,0 "
	        "103000,4096,4096,1 102000,4096,4096,1 800000,12288,12288,1");
	/* Samples: at stamp 6 (after B and C went: A's remnants mapped), at 13
	   (the heap block there, and the three mappings); the peak is the
	   high-water mark. */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT rss_bytes, anon_bytes, heap_bytes, mapped_bytes FROM rss_samples"
	                                 " WHERE process_id = 1 ORDER BY time_ns"),
	                       "1000000,500000,0,12288 2000000,1000000,100,20480");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT rss_peak_bytes, rss_peak_time_ns FROM processes WHERE id = 1"),
	                       "2500000,130");
	/* The child inherited the three mappings and released one: not its
	   leak, nor a row of its own. */
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT mmap_calls, munmap_calls, mmap_peak_bytes, mmap_leaked_bytes,"
	                                 " rss_peak_bytes IS NULL FROM processes WHERE id = 2"),
	                       "0,1,20480,0,1");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT count(*) FROM allocations WHERE process_id = 2"), "0");
	sqlite3_close(db);
	temp_trace_remove(&tt);
}

/* The program's side of test_backlog: BACKLOG_MSGS messages of about
   4 KiB, each of BACKLOG_PAIRS allocations freed at once (one address
   reused throughout), written to the socket as a program's thread
   hands its buffers over, then the exit. */
#define BACKLOG_MSGS 600
#define BACKLOG_PAIRS 280

static void put_msg(int fd, int type, uint32_t stream, const void *payload, size_t len)
{
	uint8_t msg[sizeof(struct mp_msg_hdr) + 4096];
	struct mp_msg_hdr h = {MP_WIRE_MAGIC, (uint16_t)type, MP_WIRE_VERSION, 300, stream, 5000, (uint32_t)len, 300};
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), payload, len);
	if (write(fd, msg, sizeof(h) + len) != (ssize_t)(sizeof(h) + len))
		CU_FAIL("write to the collector");
}

static void *backlog_writer(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[sizeof(struct mp_hello) + 8];
	struct mp_hello hi = {.ppid = 1, .argc = 1, .start_mono_ns = 5000};
	memcpy(buf, &hi, sizeof(hi));
	memcpy(buf + sizeof(hi), "prog\0", 5);
	put_msg(fd, MP_MSG_HELLO, 0, buf, sizeof(hi) + 5);
	static struct enc e;
	enc_reset(&e);
	uint64_t seq = 0;
	for (int m = 0; m < BACKLOG_MSGS; m++) {
		if (m == 0)
			enc_stack(&e, 0x1111);
		for (int i = 0; i < BACKLOG_PAIRS; i++) {
			enc_alloc(&e, ++seq, 0x10000, 16 + (uint64_t)i % 64);
			enc_head(&e, MP_EV_FREE, ++seq, 0x10000);
		}
		CU_ASSERT_FATAL(e.p - e.buf <= (ptrdiff_t)sizeof(e.buf));
		put_msg(fd, MP_MSG_EVENTS, 1, e.buf, (size_t)(e.p - e.buf));
		enc_reset(&e);
	}
	uint32_t exited[2] = {1, 0};
	put_msg(fd, MP_MSG_EXIT, 0, exited, sizeof(exited));
	close(fd);
	return NULL;
}

/* A program that hands events over faster than the collector replays
   them: the collector stops reading at its backlog bound and catches up,
   so what waits in it stays near the bound (not near the 2.4 MiB sent),
   and every event is still replayed. */
static void test_backlog(void)
{
	struct temp_trace tt;
	temp_trace_make(&tt);
	const char *out = tt.out;
	int sv[2];
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	struct mp_collector c;
	CU_ASSERT_EQUAL_FATAL(mp_collector_init(&c), 0);
	c.backlog = 64 << 10;
	char err[256] = "";
	CU_ASSERT_EQUAL_FATAL(mp_trace_start(&c, out, NULL, err, sizeof(err)), 0);
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, backlog_writer, &sv[1]), 0);
	/* The replay starts once the clock is calibrated (50 ms): by then
	   the writer has filled the socket and waits. */
	nanosleep(&(struct timespec){0, 60000000}, NULL);
	CU_ASSERT_EQUAL(mp_collector_run(&c, sv[0], NULL, NULL), 0);
	pthread_join(th, NULL);
	close(sv[0]);
	CU_ASSERT(c.held_ns > 0);
	/* The bound, and at most the 64 messages read past it in a batch. */
	CU_ASSERT(c.queued_peak <= c.backlog + 65 * 4096);
	CU_ASSERT_EQUAL_FATAL(mp_finish(&c, out, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.queued_bytes, 0); /* every chunk replayed */
	mp_collector_release(&c);
	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char want[128];
	snprintf(want, sizeof(want), "%d,%d,0,0", BACKLOG_MSGS * BACKLOG_PAIRS, BACKLOG_MSGS * BACKLOG_PAIRS);
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT allocations, frees, unmatched_frees, leaked_blocks FROM processes"),
	                       want);
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT value > 0 FROM meta WHERE key = 'collector_held_ns'"), "1");
	sqlite3_close(db);
	temp_trace_remove(&tt);
}

int mp_suite_finish(void)
{
	CU_pSuite s = CU_add_suite("finish", NULL, NULL);
	if (!s || !CU_add_test(s, "ordering, matching, fork, exec", test_finish) ||
	    !CU_add_test(s, "a killed process is cut where its streams are known", test_killed) ||
	    !CU_add_test(s, "mappings: splits, remaps, RSS samples, fork", test_mappings) ||
	    !CU_add_test(s, "the collector holds its backlog to the bound", test_backlog))
		return -1;
	return 0;
}
