/* Unit tests of the wire format: varints and the event chunk decoder. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "unit.h"
#include "wire.h"

static void test_varint_round_trip(void)
{
	const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
	uint8_t buf[16];
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t *end = mp_put_varint(buf, values[i]);
		const uint8_t *p = buf;
		uint64_t v;
		CU_ASSERT_EQUAL(mp_get_varint(&p, end, &v), 0);
		CU_ASSERT_EQUAL(v, values[i]);
		CU_ASSERT_PTR_EQUAL(p, end);
		p = buf;
		CU_ASSERT_EQUAL(mp_get_varint(&p, end - 1, &v), -1); /* truncated */
	}
	const int64_t signed_values[] = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof(signed_values) / sizeof(signed_values[0]); i++)
		CU_ASSERT_EQUAL(mp_unzigzag(mp_zigzag(signed_values[i])), signed_values[i]);
	memset(buf, 0xff, sizeof(buf)); /* never terminates */
	const uint8_t *p = buf;
	uint64_t v;
	CU_ASSERT_EQUAL(mp_get_varint(&p, buf + sizeof(buf), &v), -1);
}

static uint8_t *put_event(uint8_t *p, int tag, uint64_t dseq, uint64_t dtime, int64_t dptr)
{
	*p++ = (uint8_t)tag;
	p = mp_put_varint(p, dseq);
	p = mp_put_varint(p, dtime);
	return mp_put_varint(p, mp_zigzag(dptr));
}

static void test_chunk_decode(void)
{
	uint8_t buf[256], *p = buf;
	*p++ = 0; /* chunk flags: counter stamps, explicit times */
	*p++ = MP_EV_STACK;
	p = mp_put_varint(p, 2);
	p = mp_put_varint(p, mp_zigzag(0x401000));
	p = mp_put_varint(p, mp_zigzag(-0x10));
	p = put_event(p, MP_EV_ALLOC | (MP_KIND_CALLOC << 4), 5, 1000, 0x7000);
	p = mp_put_varint(p, 64);
	p = mp_put_varint(p, 8);
	p = mp_put_varint(p, 0);
	p = put_event(p, MP_EV_FREE, 3, 20, 0);
	struct mp_chunk_reader r;
	struct mp_event_rec ev;
	mp_chunk_reader_init(&r, buf, (size_t)(p - buf));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_STACK);
	CU_ASSERT_EQUAL(ev.depth, 2);
	CU_ASSERT_EQUAL(ev.ips[0], 0x401000);
	CU_ASSERT_EQUAL(ev.ips[1], 0x400ff0);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_ALLOC);
	CU_ASSERT_EQUAL(ev.kind, MP_KIND_CALLOC);
	CU_ASSERT_EQUAL(ev.seq, 5);
	CU_ASSERT_EQUAL(ev.time, 1000);
	CU_ASSERT_EQUAL(ev.ptr, 0x7000);
	CU_ASSERT_EQUAL(ev.size, 64);
	CU_ASSERT_EQUAL(ev.slack, 8);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_FREE);
	CU_ASSERT_EQUAL(ev.seq, 8);
	CU_ASSERT_EQUAL(ev.time, 1020);
	CU_ASSERT_EQUAL(ev.ptr, 0x7000);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 0);

	/* Every truncation is either a clean end or an error, never a crash. */
	size_t len = (size_t)(p - buf);
	for (size_t cut = 0; cut < len; cut++) {
		mp_chunk_reader_init(&r, buf, cut);
		int rc, n = 0;
		while ((rc = mp_chunk_next(&r, &ev)) == 1)
			n++;
		CU_ASSERT(rc == 0 || rc == -1);
		CU_ASSERT(n <= 3);
	}
	uint8_t bad[] = {0, 0x0f, 1, 2, 3};
	mp_chunk_reader_init(&r, bad, sizeof(bad));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), -1);
	uint8_t deep[] = {0, MP_EV_STACK, 0xff, 0x7f};
	mp_chunk_reader_init(&r, deep, sizeof(deep));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), -1);
	uint8_t badkind[] = {0, MP_EV_ALLOC | (15 << 4), 1, 1, 1, 1, 1, 1};
	mp_chunk_reader_init(&r, badkind, sizeof(badkind));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), -1);
}

/* A free by delete or delete[] carries its stack; free's does not. */
static void test_free_kinds(void)
{
	uint8_t buf[64], *p = buf;
	*p++ = 0;
	p = put_event(p, MP_EV_FREE | (MP_FREE_DELETE_ARRAY << 4), 1, 1, 0x9000);
	p = mp_put_varint(p, 7);
	p = put_event(p, MP_EV_FREE, 1, 1, 0x10);
	struct mp_chunk_reader r;
	struct mp_event_rec ev;
	mp_chunk_reader_init(&r, buf, (size_t)(p - buf));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_FREE);
	CU_ASSERT_EQUAL(ev.kind, MP_FREE_DELETE_ARRAY);
	CU_ASSERT_EQUAL(ev.ptr, 0x9000);
	CU_ASSERT_EQUAL(ev.stack, 7);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.kind, MP_FREE_FREE);
	CU_ASSERT_EQUAL(ev.ptr, 0x9010);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 0);
	/* Cut before its stack, or of a kind that does not exist: damaged. */
	mp_chunk_reader_init(&r, buf, 5);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), -1);
	uint8_t badkind[] = {0, MP_EV_FREE | (MP_FREE_KIND_COUNT << 4), 1, 1, 1, 1};
	mp_chunk_reader_init(&r, badkind, sizeof(badkind));
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), -1);
}

static void test_chunk_tsc(void)
{
	uint8_t buf[64], *p = buf;
	*p++ = MP_CHUNK_TSC; /* stamps are TSC values: no time field */
	*p++ = MP_EV_FREE;
	p = mp_put_varint(p, 123456789);
	p = mp_put_varint(p, mp_zigzag(0x5000));
	*p++ = MP_EV_INTERNAL;
	p = mp_put_varint(p, 11);
	p = mp_put_varint(p, mp_zigzag(0x100));
	struct mp_chunk_reader r;
	struct mp_event_rec ev;
	mp_chunk_reader_init(&r, buf, (size_t)(p - buf));
	CU_ASSERT_EQUAL(r.tsc, 1);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_FREE);
	CU_ASSERT_EQUAL(ev.seq, 123456789);
	CU_ASSERT_EQUAL(ev.ptr, 0x5000);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, MP_EV_INTERNAL);
	CU_ASSERT_EQUAL(ev.seq, 123456800);
	CU_ASSERT_EQUAL(ev.ptr, 0x5100);
	CU_ASSERT_EQUAL(mp_chunk_next(&r, &ev), 0);
}

int mp_suite_wire(void)
{
	CU_pSuite s = CU_add_suite("wire", NULL, NULL);
	if (!s || !CU_add_test(s, "varint round trip", test_varint_round_trip) ||
	    !CU_add_test(s, "chunk decode", test_chunk_decode) || !CU_add_test(s, "TSC chunks", test_chunk_tsc) ||
	    !CU_add_test(s, "deallocation kinds", test_free_kinds))
		return -1;
	return 0;
}
