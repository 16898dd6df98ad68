/* Unit test of the leak scan's collector side (cli/finish.c): a request
 * with its reply socket is answered once the replay passed the cut, with
 * the live blocks by address in a memfd; the bitmap that comes back
 * classifies the leaks. Messages are crafted in the wire format. */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector.h"
#include "finish.h"
#include "unit.h"

static void put(struct mp_collector *c, int type, const void *payload, size_t len, int expect)
{
	uint8_t msg[sizeof(struct mp_msg_hdr) + 1024];
	struct mp_msg_hdr h = {MP_WIRE_MAGIC,         (uint16_t)type, MP_WIRE_VERSION, 300,
	                       type == MP_MSG_EVENTS, 5000,           (uint32_t)len,   300};
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), payload, len);
	CU_ASSERT_EQUAL(mp_collector_handle(c, msg, sizeof(h) + len), expect);
}

static uint8_t *head(uint8_t *p, int tag, uint64_t seq, uint64_t *last_seq, uint64_t ptr, uint64_t *last_ptr)
{
	*p++ = (uint8_t)tag;
	p = mp_put_varint(p, seq - *last_seq);
	p = mp_put_varint(p, seq * 10 - *last_seq * 10); /* time: 10 ns per seq */
	p = mp_put_varint(p, mp_zigzag((int64_t)(ptr - *last_ptr)));
	*last_seq = seq;
	*last_ptr = ptr;
	return p;
}

static char *query(sqlite3 *db, const char *sql)
{
	static char out[512];
	sqlite3_stmt *st;
	out[0] = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return strcpy(out, "prepare failed");
	size_t len = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? "," : (len ? " " : ""),
			                        v ? v : "NULL");
		}
	sqlite3_finalize(st);
	return out;
}

/* One image allocates A (0x3000, 48), B (0x1000, 16), C (0x2000, 32) and
   frees nothing; its mark at 10 passes the cut at 5. A and C are reachable. */
static void test_scan(void)
{
	char dir[] = "/tmp/memprof-unit-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	char out[256], err[256];
	snprintf(out, sizeof(out), "%s/t.db", dir);
	struct mp_collector c;
	CU_ASSERT_EQUAL_FATAL(mp_collector_init(&c), 0);
	struct mp_trace_info info = {.command = NULL, .max_depth = 128, .force = 0};
	CU_ASSERT_EQUAL_FATAL(mp_trace_start(&c, out, &info, err, sizeof(err)), 0);
	uint8_t hello[sizeof(struct mp_hello) + 5];
	struct mp_hello hh = {.ppid = 1, .argc = 1, .start_mono_ns = 5000};
	memcpy(hello, &hh, sizeof(hh));
	memcpy(hello + sizeof(hh), "prog", 5);
	put(&c, MP_MSG_HELLO, hello, sizeof(hello), 0);
	uint8_t ev[256], *p = ev;
	uint64_t seq = 0, ptr = 0;
	*p++ = 0; /* chunk flags: counter stamps, explicit times */
	*p++ = MP_EV_STACK;
	p = mp_put_varint(p, 1);
	p = mp_put_varint(p, mp_zigzag(0x1111));
	const uint64_t blocks[3][2] = {{0x3000, 48}, {0x1000, 16}, {0x2000, 32}};
	for (int i = 0; i < 3; i++) {
		p = head(p, MP_EV_ALLOC, (uint64_t)i + 1, &seq, blocks[i][0], &ptr);
		p = mp_put_varint(p, blocks[i][1]);
		p = mp_put_varint(p, 0);
		p = mp_put_varint(p, 0);
	}
	p = head(p, MP_EV_MARK, 10, &seq, ptr, &ptr);
	put(&c, MP_MSG_EVENTS, ev, (size_t)(p - ev), 0);

	int sv[2];
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	struct mp_scan_req req = {5, 0};
	put(&c, MP_MSG_SCAN, &req, sizeof(req), -1); /* no reply socket: refused */
	c.passed_fd = sv[1];                         /* as mp_collector_run hands it over */
	put(&c, MP_MSG_SCAN, &req, sizeof(req), 0);
	CU_ASSERT_EQUAL(c.passed_fd, -1);
	CU_ASSERT(mp_trace_progress(&c) >= 0);

	struct mp_scan_reply rep = {0, 0};
	struct iovec iov = {&rep, sizeof(rep)};
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {
	        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof(ctl.space)};
	CU_ASSERT_EQUAL_FATAL(recvmsg(sv[0], &mh, MSG_DONTWAIT), (ssize_t)sizeof(rep));
	close(sv[0]);
	CU_ASSERT_EQUAL(rep.stamp, 5);
	CU_ASSERT_EQUAL_FATAL(rep.count, 3);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cm);
	int memfd;
	memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
	struct mp_scan_block blk[3];
	CU_ASSERT_EQUAL(pread(memfd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	close(memfd);
	CU_ASSERT(blk[0].addr == 0x1000 && blk[0].size == 16 && blk[0].usable == 16 && blk[0].flags == 0);
	CU_ASSERT(blk[1].addr == 0x2000 && blk[1].size == 32);
	CU_ASSERT(blk[2].addr == 0x3000 && blk[2].size == 48);

	/* By address: B unreachable, C and A reachable. A wrong stamp is refused. */
	uint8_t res[sizeof(struct mp_reach) + 1];
	struct mp_reach r = {6, 0, 3, 3, 1234};
	memcpy(res, &r, sizeof(r));
	res[sizeof(r)] = 0x6;
	put(&c, MP_MSG_REACH, res, sizeof(res), -1);
	r.stamp = 5;
	memcpy(res, &r, sizeof(r));
	put(&c, MP_MSG_REACH, res, sizeof(res), 0);
	put(&c, MP_MSG_REACH, res, sizeof(res), -1); /* complete already */
	uint32_t exited[2] = {1, 0};
	put(&c, MP_MSG_EXIT, exited, sizeof(exited), 0);
	CU_ASSERT_EQUAL_FATAL(mp_finish(&c, out, NULL, err, sizeof(err)), 0);
	mp_collector_release(&c);

	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT leaked_bytes, leak_scan, leak_scan_ns, unreachable_bytes,"
	                                 " unreachable_blocks, reachable_bytes, reachable_blocks FROM processes"),
	                       "96,done,1234,16,1,80,2");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT unreachable_bytes, unreachable_blocks, reachable_bytes,"
	                                 " reachable_blocks FROM sites"),
	                       "16,1,80,2");
	CU_ASSERT_STRING_EQUAL(query(db, "SELECT count(*), min(allocation_id) FROM unreachable"), "1,2");
	sqlite3_close(db);
	unlink(out);
	rmdir(dir);
}

int mp_suite_reach(void)
{
	CU_pSuite s = CU_add_suite("reach", NULL, NULL);
	if (!s || !CU_add_test(s, "the leak scan's answer and result", test_scan))
		return -1;
	return 0;
}
