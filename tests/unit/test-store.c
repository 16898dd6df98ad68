/* Unit tests of the allocation store (lib/store.c) and the virtual table
 * `allocations` (lib/vtab.c) over a trace made in memory. */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tracedb.h"
#include "unit.h"
#include "vtab.h"
#include "wire.h"

/* n records with realistic variety: ids out of order (chunks are written
   in free order), big addresses, never-freed blocks, every kind. */
static void make_recs(struct mp_alloc_rec *r, size_t n, uint64_t first_id)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = (i * 7919) % n; /* a permutation of the ids */
		r[i] = (struct mp_alloc_rec){
		        .id = first_id + j,
		        .tid = 1000 + (uint32_t)(j % 3),
		        .kind = (uint8_t)(j % MP_KIND_COUNT),
		        .size = 16 + (j * 37) % 5000,
		        .usable = 24 + (j * 37) % 5000,
		        .address = 0x7f0000000000ull + (j * 4096) % 1048576,
		        .stack_id = 1 + j % 17,
		        .alloc_ns = 1000 * j,
		        .free_ns = j % 5 == 0 ? -1 : (int64_t)(1000 * j + 500 + j),
		};
	}
}

/* Equal as stored: times floored to the tick. */
static int same(const struct mp_alloc_rec *a, const struct mp_alloc_rec *b)
{
	return a->id == b->id && a->tid == b->tid && a->kind == b->kind && a->size == b->size &&
	       a->usable == b->usable && a->address == b->address && a->stack_id == b->stack_id &&
	       a->alloc_ns / MP_STORE_TICK_NS * MP_STORE_TICK_NS == b->alloc_ns &&
	       (a->free_ns < 0 ? b->free_ns == -1 : a->free_ns / MP_STORE_TICK_NS * MP_STORE_TICK_NS == b->free_ns);
}

/* The usable size glibc gives a request of size bytes past 24. */
static uint64_t usable_of(uint64_t size)
{
	return ((size + 8 + 15) & ~(uint64_t)15) - 8;
}

static int by_id(const void *a, const void *b)
{
	const struct mp_alloc_rec *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Encodes and decodes in (n records, put in id order here), and returns
   how many came back different; *len: the chunk's size. */
static size_t roundtrip(struct mp_alloc_rec *in, size_t n, size_t *len)
{
	struct mp_alloc_rec *out = calloc(n, sizeof(*out));
	void *data;
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, len), 0);
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, *len, out, n), 0);
	qsort(in, n, sizeof(*in), by_id);
	qsort(out, n, sizeof(*out), by_id); /* a chunk keeps them by thread, then id */
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += !same(&in[i], &out[i]);
	free(data);
	free(out);
	return bad;
}

static void test_roundtrip(void)
{
	size_t n = MP_STORE_CHUNK_RECORDS;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in)), *out = calloc(n, sizeof(*out));
	make_recs(in, n, 1);
	void *data;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
	CU_ASSERT(len < n * 8); /* columns and zstd: a few bytes a record */
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, out, n), 0);
	qsort(in, n, sizeof(*in), by_id);
	qsort(out, n, sizeof(*out), by_id);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += !same(&in[i], &out[i]);
	CU_ASSERT_EQUAL(bad, 0);
	/* The wrong count is damage, not a shorter read. */
	CU_ASSERT_EQUAL(mp_store_decode(data, len, out, n - 1), -1);
	free(data);

	/* Extremes survive: huge values, a free before the allocation time. */
	struct mp_alloc_rec x[2] = {
	        {.id = UINT64_MAX / 3,
	         .tid = UINT32_MAX,
	         .kind = MP_KIND_XALLOCX,
	         .size = UINT64_MAX / 2,
	         .usable = UINT64_MAX / 2 + 8,
	         .address = UINT64_MAX - 15,
	         .stack_id = 0,
	         .alloc_ns = 5,
	         .free_ns = 3},
	        {.id = 1, .size = 0, .usable = 0, .address = 0, .alloc_ns = UINT64_MAX / 4, .free_ns = -1},
	};
	struct mp_alloc_rec y[2];
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(x, 2, &data, &len), 0);
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, y, 2), 0);
	qsort(x, 2, sizeof(*x), by_id);
	CU_ASSERT(same(&x[0], &y[0]) && same(&x[1], &y[1]));
	free(data);
	free(in);
	free(out);
}

/* Records come in free order; chunks keep them in id order, whatever the
   spread of the ids: close together, far apart, beyond 32 bits apart. */
static void test_id_order(void)
{
	size_t n = 3000;
	static const uint64_t stride[] = {1, 3, 1000, 5000000000ull};
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	for (size_t s = 0; s < sizeof(stride) / sizeof(stride[0]); s++) {
		make_recs(in, n, 1);
		uint64_t x = 88172645463325252ull;
		for (size_t i = 0; i < n; i++)
			in[i].id = 7 + in[i].id * stride[s];
		for (size_t i = n - 1; i > 0; i--) { /* a fixed shuffle */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t j = (size_t)(x % (i + 1));
			struct mp_alloc_rec t = in[i];
			in[i] = in[j];
			in[j] = t;
		}
		size_t len;
		CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	}
	free(in);
}

/* Damaged chunks: every truncation and many flipped bytes fail cleanly
   (or, for a flip zstd cannot see, decode to something) but never crash. */
static void test_damage(void)
{
	size_t n = 500;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in)), *out = calloc(n, sizeof(*out));
	make_recs(in, n, 100);
	void *data;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
	size_t failed = 0;
	for (size_t cut = 0; cut < len; cut++)
		failed += mp_store_decode(data, cut, out, n) != 0;
	CU_ASSERT_EQUAL(failed, len);
	uint8_t *copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, data, len);
		copy[i] ^= (uint8_t)(1u << (i % 8));
		(void)mp_store_decode(copy, len, out, n);
	}
	CU_ASSERT_EQUAL(mp_store_decode(NULL, 0, out, n), -1);
	CU_ASSERT_EQUAL(mp_store_decode("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, out, n), -1);
	free(copy);
	free(data);
	free(in);
	free(out);
}

/* A chunk with pool blocks (memprof.h) keeps their pool ids (one more
   column); one without them has none to keep and reads back 0. */
static void test_pool_column(void)
{
	size_t n = 1000;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in)), *out = calloc(n, sizeof(*out));
	make_recs(in, n, 1);
	for (size_t i = 0; i < n; i++)
		in[i].pool = in[i].kind == MP_KIND_POOL ? 1 + (uint32_t)(in[i].id % 3) : 0;
	for (int pass = 0; pass < 2; pass++) {
		void *data;
		size_t len;
		CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
		CU_ASSERT_EQUAL(*(const uint8_t *)data, 6);
		CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, out, n), 0);
		qsort(in, n, sizeof(*in), by_id);
		qsort(out, n, sizeof(*out), by_id);
		size_t bad = 0, pools = 0;
		for (size_t i = 0; i < n; i++) {
			bad += !same(&in[i], &out[i]) || in[i].pool != out[i].pool;
			pools += out[i].pool != 0;
		}
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT(pass ? pools == 0 : pools > 0);
		free(data);
		for (size_t i = 0; i < n; i++)
			in[i].pool = 0;
	}
	free(in);
	free(out);
}

/* Sites that each allocate in their own region (interleaved): the
   addresses follow the same stack's last block, and store in less than
   a byte a record. */
static void test_address_by_stack(void)
{
	size_t n = 8192;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	for (size_t i = 0; i < n; i++)
		in[i] = (struct mp_alloc_rec){.id = i + 1,
		                              .tid = 1,
		                              .kind = MP_KIND_MALLOC,
		                              .size = 48,
		                              .usable = 56,
		                              .address = 0x550000000000ull + (i % 4) * 0x10000000ull + 64 * (i / 4),
		                              .stack_id = 10 + i % 4,
		                              .alloc_ns = 0,
		                              .free_ns = -1};
	size_t len;
	CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	CU_ASSERT(len < n / 8);
	free(in);
}

/* The layout byte of each column of a format 6 chunk (layouts[k], k in
   chunk order: id, tid, kind, size, usable, stack, address, alloc time,
   free) and the predictions of the address and the free time
   (predictions[0], [1]; the size's, [2]), walking the chunk as lib/store.c writes it.
   Returns the number of columns, or -1 when the chunk is not as expected
   (its tick not MP_STORE_TICK_NS). */
static size_t column_at[10]; /* chunk_layouts': each column's layout byte, from the chunk's start */

static int chunk_layouts(const uint8_t *p, size_t len, uint8_t *layouts, uint8_t *predictions)
{
	const uint8_t *start = p;
	const uint8_t *end = p + len;
	uint64_t n, ncols, tick, raw, stored;
	if (len < 3 || *p++ != 6 || mp_get_varint(&p, end, &n) || mp_get_varint(&p, end, &ncols) || ncols > 10 ||
	    mp_get_varint(&p, end, &tick) || tick != MP_STORE_TICK_NS)
		return -1;
	for (uint64_t k = 0; k < ncols; k++) {
		if (k == 3 || k == 6 || k == 8) /* the size's, the address's and the free time's predictions */
			predictions[k == 3 ? 2 : k == 8] = *p++;
		if (p >= end)
			return -1;
		column_at[k] = (size_t)(p - start);
		uint8_t layout = layouts[k] = *p++;
		uint64_t runs;
		if (layout == 2 && mp_get_varint(&p, end, &runs)) /* runs: values, lengths */
			return -1;
		unsigned blocks = layout == 1 ? *p++ : layout == 2 ? 2 : 1;
		for (unsigned b = 0; b < blocks; b++) {
			p++; /* compression */
			if (mp_get_varint(&p, end, &raw) || mp_get_varint(&p, end, &stored) ||
			    stored > (uint64_t)(end - p))
				return -1;
			p += stored;
		}
	}
	return p == end ? (int)ncols : -1;
}

/* Encodes the n records of in and returns the chunk's prediction `which`
   (chunk_layouts' predictions[]), or -1 when the chunk is not as
   expected; *len: the chunk's size. */
static int prediction_of(const struct mp_alloc_rec *in, size_t n, int which, size_t *len)
{
	void *data;
	uint8_t layouts[10], predictions[3];
	if (mp_store_encode(in, n, &data, len))
		return -1;
	int ok = chunk_layouts(data, *len, layouts, predictions) == 9;
	free(data);
	return ok ? predictions[which] : -1;
}

/* Wide random values (a churn's sizes and addresses) store as byte
   planes, small ones as varints; chunks whose statistics change from one
   to the next (the encoder reuses its last choice between trials) all
   read back. */
static void test_layouts(void)
{
	size_t n = 4096;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	uint64_t x = 88172645463325252ull;
	int planes = 0;
	/* 8 chunks in a row hold a trial (one in 8 chunks is one). */
	for (int chunk = 0; chunk < 20; chunk++) {
		int wide = chunk < 8 || chunk >= 14;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[i] = (struct mp_alloc_rec){
			        .id = 1 + i + (uint64_t)chunk * n,
			        .tid = 5,
			        .kind = MP_KIND_MALLOC,
			        .size = wide ? 16 + x % 513 : 32,
			        .address = wide ? 0x7f0000000000ull + (x >> 20) % 1048576 * 16
			                        : 0x550000000000ull + 48 * i,
			        .stack_id = 3,
			        .alloc_ns = 1000 * i,
			        .free_ns = wide ? (int64_t)(1000 * i + (x >> 30) % 100000000000)
			                        : (int64_t)(1000 * i + 2000),
			};
			in[i].usable = usable_of(in[i].size);
		}
		void *data;
		size_t len;
		CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
		uint8_t layouts[10], predictions[3];
		CU_ASSERT_EQUAL(chunk_layouts(data, len, layouts, predictions), 9);
		/* sizes, addresses and lifetimes as planes after a trial */
		planes += chunk < 8 && layouts[3] == 1 && layouts[6] == 1 && layouts[8] == 1;
		if (!wide) /* sizes and lifetimes under 128: varints (or runs) */
			CU_ASSERT(layouts[3] != 1 && layouts[8] != 1);
		CU_ASSERT(layouts[0] == 0 && layouts[2] == 0);
		free(data);
		CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	}
	CU_ASSERT(planes > 0);
	free(in);
}

/* Blocks allocated one after another and freed in batches (a container
   and its nodes): the free time is stored from the previous record's, a
   fraction of a byte a record; random lifetimes from the allocation time
   would take two. */
static void test_free_by_previous(void)
{
	size_t n = 8192;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in[i] = (struct mp_alloc_rec){.id = i + 1,
		                              .tid = 1,
		                              .kind = MP_KIND_NEW,
		                              .size = 40,
		                              .usable = 40,
		                              .address = 0x550000000000ull + 48 * i,
		                              .stack_id = 7,
		                              .alloc_ns = 1000 * i + x % 300000 * 1000 * (i % 64 == 0),
		                              .free_ns = (int64_t)(100000000 + 7000000 * (i / 64))};
	}
	size_t len;
	CU_ASSERT_EQUAL(prediction_of(in, n, 1, &len), 1);
	CU_ASSERT(len < n / 4);
	CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	free(in);
}

/* Times are floored to the tick, each on its own: a window on a tick
   boundary (--from 0.5) keeps exactly the blocks allocated from then on. */
static void test_ticks(void)
{
	struct mp_alloc_rec in[3] =
	        {
	                {.id = 1, .alloc_ns = 499999999, .free_ns = 500000001},
	                {.id = 2, .alloc_ns = 500000000, .free_ns = 500099999},
	                {.id = 3, .alloc_ns = 500123456, .free_ns = 2500123456},
	        },
	                    out[3];
	void *data;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, 3, &data, &len), 0);
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, out, 3), 0);
	CU_ASSERT(out[0].alloc_ns == 499900000 && out[0].free_ns == 500000000);
	CU_ASSERT(out[1].alloc_ns == 500000000 && out[1].free_ns == 500000000);
	CU_ASSERT(out[2].alloc_ns == 500100000 && out[2].free_ns == 2500100000);
	free(data);
}

/* Blocks that take the addresses of blocks freed before them (glibc's
   free lists, a churn), mostly of the same usable size: the addresses are
   stored as which earlier record had them. */
static void test_address_reused(void)
{
	size_t n = 16384, live = 1024;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	uint64_t x = 88172645463325252ull, *slot = calloc(live, sizeof(*slot));
	for (size_t i = 0; i < live; i++)
		slot[i] = 0x7f0000000000ull + 16 * (x = x * 6364136223846793005ull + 1) % (1u << 24);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t k = x % live;                                      /* a block freed, its address taken again */
		uint64_t usable = 56 + 16 * (k % 3) + 16 * (x % 16 == 1); /* now and then another size */
		in[i] = (struct mp_alloc_rec){.id = i + 1,
		                              .kind = MP_KIND_MALLOC,
		                              .size = usable - 8,
		                              .usable = usable,
		                              .address = slot[k],
		                              .stack_id = 2,
		                              .alloc_ns = 1000 * i,
		                              .free_ns = (int64_t)(1000 * i + 700000)};
		if (x % 8 == 0) /* now and then a new address */
			slot[k] = 0x7f0000000000ull + 16 * (x >> 20) % (1u << 24);
	}
	size_t len;
	CU_ASSERT_EQUAL(prediction_of(in, n, 0, &len), 2);
	CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	free(slot);
	free(in);
}

/* Two threads' records interleaved, of random kinds and sizes (a churn
   of 2 threads): a chunk keeps each thread's records together, in id
   order, and the kinds in the sizes' low bits. */
static void test_threads_and_kinds(void)
{
	size_t n = 8192;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in)), *out = calloc(n, sizeof(*out));
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in[i] = (struct mp_alloc_rec){.id = i + 1,
		                              .tid = 100 + (uint32_t)(x >> 63),
		                              .kind = (uint8_t)(x >> 40) % 3,
		                              .size = 16 + (x >> 20) % 513,
		                              .address = 0x7f0000000000ull + 16 * (x % 100000),
		                              .stack_id = 4,
		                              .alloc_ns = 1000 * i,
		                              .free_ns = -1};
		in[i].usable = usable_of(in[i].size);
	}
	void *data;
	size_t len;
	int with_sizes = 0;
	for (int chunk = 0; chunk < 8; chunk++) { /* one of 8 a trial: the layouts tried again */
		uint8_t layouts[10], predictions[3];
		CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
		CU_ASSERT_EQUAL(chunk_layouts(data, len, layouts, predictions), 9);
		with_sizes += predictions[2] == 1; /* kinds with the sizes */
		if (chunk < 7)
			free(data);
	}
	CU_ASSERT(with_sizes > 0);
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, out, n), 0);
	size_t switches = 0, disorder = 0;
	for (size_t i = 1; i < n; i++) {
		switches += out[i].tid != out[i - 1].tid;
		disorder += out[i].tid == out[i - 1].tid && out[i].id < out[i - 1].id;
	}
	CU_ASSERT_EQUAL(switches, 1);
	CU_ASSERT_EQUAL(disorder, 0);
	free(data);
	CU_ASSERT_EQUAL(roundtrip(in, n, &len), 0);
	free(out);
	free(in);
}

/* The values of ADDRESS_REUSED by hand: addresses A, B, A, B of one
   size, then A of another; a reference to no earlier record is damage. */
static void test_address_reused_values(void)
{
	const uint64_t a = 0x7f0000001000ull, b = 0x100000;
	struct mp_alloc_rec in[5] = {{.id = 1, .usable = 24, .address = a, .free_ns = -1},
	                             {.id = 2, .usable = 24, .address = b, .free_ns = -1},
	                             {.id = 3, .usable = 24, .address = a, .free_ns = -1},
	                             {.id = 4, .usable = 24, .address = b, .free_ns = -1},
	                             {.id = 5, .usable = 40, .size = 32, .address = a, .free_ns = -1}},
	                    back[5];
	void *data;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, 5, &data, &len), 0);
	uint8_t layouts[10], predictions[3];
	CU_ASSERT_EQUAL_FATAL(chunk_layouts(data, len, layouts, predictions), 9);
	CU_ASSERT_EQUAL(predictions[0], 2);
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, back, 5), 0);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(back[i].address, in[i].address);
	/* The column as stored (raw: too short for zstd): two new addresses
	   (tag 2); A, one candidate of its size (B) between (tag 0); B, one
	   (A) between; A of another size, the record 2 before the one
	   before (tag 1). */
	uint8_t want[40], *w = want;
	w = mp_put_varint(w, mp_zigzag((int64_t)a) << 2 | 2);
	w = mp_put_varint(w, mp_zigzag((int64_t)(b - a)) << 2 | 2);
	*w++ = 1 << 2 | 0;
	*w++ = 1 << 2 | 0;
	*w++ = 1 << 2 | 1;
	uint8_t *at = memmem(data, len, want, (size_t)(w - want));
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	static const uint8_t bad[][2] = {
	        {2, 2 << 2 | 0}, /* the third: 2 candidates between, of 1 */
	        {2, 3},          /* no tag 3 */
	        {4, 4 << 2 | 1}, /* the fifth: 5 back */
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		uint8_t *v = at + (w - want) - 5 + bad[k][0], was = *v;
		*v = bad[k][1];
		CU_ASSERT_EQUAL(mp_store_decode(data, len, back, 5), -1);
		*v = was;
	}
	CU_ASSERT_EQUAL(mp_store_decode(data, len, back, 5), 0);
	free(data);
}

/* Blocks allocated in bursts (many in the same tick): the allocation
   ticks are stored as runs, a value and a length each; runs that do not
   add up to the records are damage. */
static void test_runs(void)
{
	size_t n = 4096;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	uint64_t x = 88172645463325252ull, tick = 0;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		tick += x % 97 == 0; /* bursts of about 97 */
		in[i] = (struct mp_alloc_rec){.id = i + 1,
		                              .size = 100,
		                              .usable = 104,
		                              .address = 0x550000000000ull + 112 * i,
		                              .alloc_ns = MP_STORE_TICK_NS * tick + x % 1000,
		                              .free_ns = -1};
	}
	void *data;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
	uint8_t layouts[10], predictions[3];
	CU_ASSERT_EQUAL_FATAL(chunk_layouts(data, len, layouts, predictions), 9);
	CU_ASSERT_EQUAL(layouts[7], 2);
	struct mp_alloc_rec *out = calloc(n, sizeof(*out));
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(data, len, out, n), 0);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += !same(&in[i], &out[i]);
	CU_ASSERT_EQUAL(bad, 0);
	/* One run fewer or more than stored (a one-byte count) */
	uint8_t *count = (uint8_t *)data + column_at[7] + 1;
	CU_ASSERT_FATAL(*count > 1 && *count < 127);
	for (int d = -1; d <= 1; d += 2) {
		*count = (uint8_t)(*count + d);
		CU_ASSERT_EQUAL(mp_store_decode(data, len, out, n), -1);
		*count = (uint8_t)(*count - d);
	}
	CU_ASSERT_EQUAL(mp_store_decode(data, len, out, n), 0);
	free(out);
	free(data);
	free(in);
}

/* A record of the hand-made chunks below (thread 7, pool 0) as given. */
static int is_rec(const struct mp_alloc_rec *r, uint64_t id, unsigned kind, uint64_t size, uint64_t usable,
                  uint64_t address, uint64_t stack, uint64_t alloc_ns, int64_t free_ns)
{
	return r->id == id && r->tid == 7 && r->kind == kind && r->size == size && r->usable == usable &&
	       r->address == address && r->stack_id == stack && r->alloc_ns == alloc_ns && r->free_ns == free_ns &&
	       r->pool == 0;
}

/* A chunk of two records made by hand in format 4 (each column varints,
   no layout bytes) or 5 (a layout byte before each column, a prediction
   byte before the free column), columns stored raw; its length. */
static size_t hand_chunk(uint8_t *chunk, int format)
{
	const uint64_t cols[][2] = {
	        {10, 2},     /* ids 5, 6 */
	        {14, 0},     /* tids 7, 7 */
	        {0, 1},      /* kinds malloc, calloc */
	        {10, 300},   /* sizes */
	        {0, 0},      /* usable sizes as glibc gives: 24, 312 */
	        {6, 2},      /* stacks 3 (malloc), 1 (calloc: from 0) */
	        {0x2000, 0}, /* addresses 0x1000 (from 0), 0x1000 (by stack: none, so the previous) */
	        {2, 2},      /* allocated at 1 and 2 us */
	        {0, 7},      /* never freed; freed 3 us later */
	};
	uint8_t *c = chunk;
	*c++ = (uint8_t)format;
	c = mp_put_varint(c, 2);
	c = mp_put_varint(c, 9);
	for (size_t k = 0; k < 9; k++) {
		uint8_t raw[32], *p = raw;
		p = mp_put_varint(mp_put_varint(p, cols[k][0]), cols[k][1]);
		if (k == 6)
			*c++ = 1; /* addresses by stack */
		if (k == 8 && format == 5)
			*c++ = 0; /* free times from the allocation's */
		if (format == 5)
			*c++ = 0; /* varints */
		*c++ = 0;         /* raw */
		c = mp_put_varint(c, (uint64_t)(p - raw));
		c = mp_put_varint(c, (uint64_t)(p - raw));
		memcpy(c, raw, (size_t)(p - raw));
		c += p - raw;
	}
	return (size_t)(c - chunk);
}

/* Traces written in formats 4 and 5 (times to the microsecond) still
   read. */
static void test_format_4_5(void)
{
	for (int format = 4; format <= 5; format++) {
		uint8_t chunk[128];
		size_t len = hand_chunk(chunk, format);
		struct mp_alloc_rec r[2];
		CU_ASSERT_EQUAL_FATAL(mp_store_decode(chunk, len, r, 2), 0);
		CU_ASSERT(is_rec(&r[0], 5, MP_KIND_MALLOC, 10, 24, 0x1000, 3, 1000, -1));
		CU_ASSERT(is_rec(&r[1], 6, MP_KIND_CALLOC, 300, 312, 0x1000, 1, 2000, 5000));
		CU_ASSERT_EQUAL(mp_store_decode(chunk, len - 1, r, 2), -1);
	}
}

/* Traces written before format 4 (one zstd frame for all the columns,
   plain deltas) still read: a format 2 chunk made by hand, stored raw. */
static void test_format_2(void)
{
	const uint64_t cols[] = {
	        10,     2,    /* ids 5, 6 */
	        14,     0,    /* tids 7, 7 */
	        0,      1,    /* kinds malloc, calloc */
	        10,     20,   /* sizes */
	        0,      2,    /* usable sizes: 24 (as glibc gives), 25 */
	        0x2000, 0x40, /* addresses 0x1000, 0x1020 */
	        6,      0,    /* stacks 3, 3 */
	        2,      2,    /* allocated at 1 and 2 us */
	        0,      7,    /* never freed; freed 3 us later */
	};
	uint8_t raw[64], chunk[96], *p = raw;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		p = mp_put_varint(p, cols[i]);
	uint8_t *c = chunk;
	*c++ = 2;
	c = mp_put_varint(c, 2);
	c = mp_put_varint(c, (uint64_t)(p - raw));
	*c++ = 0; /* raw */
	memcpy(c, raw, (size_t)(p - raw));
	c += p - raw;
	struct mp_alloc_rec r[2];
	CU_ASSERT_EQUAL_FATAL(mp_store_decode(chunk, (size_t)(c - chunk), r, 2), 0);
	CU_ASSERT(is_rec(&r[0], 5, MP_KIND_MALLOC, 10, 24, 0x1000, 3, 1000, -1));
	CU_ASSERT(is_rec(&r[1], 6, MP_KIND_CALLOC, 20, 25, 0x1020, 3, 2000, 5000));
	CU_ASSERT_EQUAL(mp_store_decode(chunk, (size_t)(c - chunk) - 1, r, 2), -1);
}

static void test_kind_names(void)
{
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_POOL), "pool");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_MALLOC), "malloc");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_POSIX_MEMALIGN), "posix_memalign");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_XALLOCX), "xallocx");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_MMAP), "mmap");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_NEW), "new");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_NEW_ARRAY), "new[]");
	CU_ASSERT_STRING_EQUAL(mp_kind_name(MP_KIND_COUNT), "unknown");
	CU_ASSERT_STRING_EQUAL(mp_free_kind_name(MP_FREE_FREE), "free");
	CU_ASSERT_STRING_EQUAL(mp_free_kind_name(MP_FREE_DELETE), "delete");
	CU_ASSERT_STRING_EQUAL(mp_free_kind_name(MP_FREE_DELETE_ARRAY), "delete[]");
	CU_ASSERT_STRING_EQUAL(mp_free_kind_name(MP_FREE_KIND_COUNT), "unknown");
	CU_ASSERT_EQUAL(mp_free_kind_expected(MP_KIND_NEW), MP_FREE_DELETE);
	CU_ASSERT_EQUAL(mp_free_kind_expected(MP_KIND_NEW_ARRAY), MP_FREE_DELETE_ARRAY);
	CU_ASSERT_EQUAL(mp_free_kind_expected(MP_KIND_MALLOC), MP_FREE_FREE);
	CU_ASSERT_EQUAL(mp_free_kind_expected(MP_KIND_REALLOC), MP_FREE_FREE);
	CU_ASSERT_STRING_EQUAL(mp_kind_name(200), "unknown");
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -12345;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return v;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The virtual table over two processes' chunks, in an in-memory trace. */
static void test_vtab(void)
{
	sqlite3 *db;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(":memory:", &db), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, mp_schema_sql, NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(mp_vtab_register(db), SQLITE_OK);
	CU_ASSERT_EQUAL(
	        sqlite3_exec(db,
	                     "INSERT INTO processes(id, pid, ppid, parent_id, origin, argv, start_ns, end_ns, "
	                     "ended_by, exit_status,"
	                     " signal, allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, leaked_bytes,"
	                     " leaked_blocks, temporary, threads, unmatched_frees, run)"
	                     " VALUES (1, 4242, 1, NULL, 'start', '[]', 0, 10, 'exit', 0,"
	                     " NULL, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1);"
	                     "INSERT INTO processes(id, pid, ppid, parent_id, origin, argv, start_ns, end_ns, "
	                     "ended_by, exit_status,"
	                     " signal, allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, leaked_bytes,"
	                     " leaked_blocks, temporary, threads, unmatched_frees, run)"
	                     " VALUES (2, 4343, 4242, 1, 'fork', '[]', 0, 10, 'exit', 0,"
	                     " NULL, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1);",
	                     NULL, NULL, NULL),
	        SQLITE_OK);
	size_t n = 3000;
	struct mp_alloc_rec *in = calloc(n, sizeof(*in));
	sqlite3_stmt *ins;
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db,
	                                         "INSERT INTO alloc_chunks(process_id, count, data) VALUES (?, ?, ?)",
	                                         -1, &ins, NULL),
	                      SQLITE_OK);
	for (int chunk = 0; chunk < 3; chunk++) {
		make_recs(in, n, 1 + (uint64_t)chunk * n);
		void *data;
		size_t len;
		CU_ASSERT_EQUAL_FATAL(mp_store_encode(in, n, &data, &len), 0);
		sqlite3_bind_int64(ins, 1, chunk == 2 ? 2 : 1);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)n);
		sqlite3_bind_blob(ins, 3, data, (int)len, SQLITE_TRANSIENT);
		CU_ASSERT_EQUAL(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
		free(data);
	}
	sqlite3_finalize(ins);
	free(in);

	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations"), 9000);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(DISTINCT id) FROM allocations"), 9000);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE pid = 4343"), 3000);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE process_id = 1"), 6000);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE process_id = 1 AND pid = 4343"), 0);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE pid = NULL"), 0);
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE free_time_ns IS NULL"), 1800);
	/* make_recs gives the record at offset j of each chunk kind j % MP_KIND_COUNT. */
	CU_ASSERT_EQUAL(one_int(db, "SELECT count(*) FROM allocations WHERE kind = 'malloc'"),
	                3 * (int64_t)((n + MP_KIND_COUNT - 1) / MP_KIND_COUNT));
	CU_ASSERT_EQUAL(one_int(db, "SELECT size FROM allocations WHERE id = 2"), 16 + 37);
	CU_ASSERT_EQUAL(one_int(db, "SELECT usable_size - size FROM allocations WHERE id = 2"), 8);
	CU_ASSERT_EQUAL(one_int(db, "SELECT tid FROM allocations WHERE id = 3"), 1002);
	CU_ASSERT_EQUAL(one_int(db, "SELECT rowid = id FROM allocations WHERE id = 77"), 1);

	/* A damaged chunk is an SQLITE_CORRUPT error naming the chunk. */
	CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE alloc_chunks SET data = X'0102030405' WHERE id = 2", NULL, NULL, NULL),
	                SQLITE_OK);
	sqlite3_stmt *st;
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT sum(size) FROM allocations", -1, &st, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(sqlite3_errmsg(db), "alloc_chunks id 2"));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int mp_suite_store(void)
{
	CU_pSuite s = CU_add_suite("store", NULL, NULL);
	if (!s || !CU_add_test(s, "encode and decode", test_roundtrip) ||
	    !CU_add_test(s, "records in id order", test_id_order) || !CU_add_test(s, "damaged chunks", test_damage) ||
	    !CU_add_test(s, "kind names", test_kind_names) || !CU_add_test(s, "the pool column", test_pool_column) ||
	    !CU_add_test(s, "addresses by stack", test_address_by_stack) ||
	    !CU_add_test(s, "column layouts", test_layouts) ||
	    !CU_add_test(s, "free times by the previous record's", test_free_by_previous) ||
	    !CU_add_test(s, "times in ticks", test_ticks) || !CU_add_test(s, "columns as runs", test_runs) ||
	    !CU_add_test(s, "addresses of freed blocks", test_address_reused) ||
	    !CU_add_test(s, "addresses of freed blocks, by hand", test_address_reused_values) ||
	    !CU_add_test(s, "threads apart, kinds with the sizes", test_threads_and_kinds) ||
	    !CU_add_test(s, "formats 4 and 5 still read", test_format_4_5) ||
	    !CU_add_test(s, "format 2 still reads", test_format_2) ||
	    !CU_add_test(s, "the allocations table", test_vtab))
		return -1;
	return 0;
}
