/* The allocation store: chunks of up to MP_STORE_CHUNK_RECORDS allocations
 * (lib/store.h), one column after another, compressed with zstd.
 *
 * A chunk is: a format byte (2), the record count and the length of the
 * column data (varints), a compression byte (0 none, 1 zstd), then the
 * column data. Columns, each n varints: id, tid, address, stack_id and
 * the allocation time as zigzag deltas from the previous record; kind;
 * size; zigzag(usable - the usable size glibc gives that size); and 0 for
 * a block never freed, else 1 + zigzag(free time - allocation time).
 * Format 3 is format 2 and one more column, the pool id of each record
 * (0: a heap block); it is written only when a chunk holds a pool's
 * block (memprof.h), so that other traces stay as they were.
 * Times are kept in microseconds (STORE_TIME_UNIT): finer digits cost
 * more than half of a chunk and tell nothing a profile needs. Records
 * are sorted by id first, so that the deltas are small and repetitive
 * and zstd finds them.
 * Decoding trusts nothing: every length and varint is checked.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "store.h"
#include "wire.h"

#define STORE_FORMAT 2
#define STORE_FORMAT_POOLS 3 /* STORE_FORMAT with the pool column */
#define STORE_TIME_UNIT 1000 /* ns per stored time unit */
#define STORE_RAW 0
#define STORE_ZSTD 1
#define STORE_LEVEL 3
#define STORE_COLUMNS 10 /* at most */
#define VARINT_MAX 10

static const char *const kind_names[MP_KIND_COUNT] = {
        "malloc",
        "calloc",
        "realloc",
        "reallocarray",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "mallocx",
        "rallocx",
        "xallocx",
        [MP_KIND_MMAP] = "mmap",
        [MP_KIND_POOL] = "pool",
};

const char *mp_kind_name(unsigned kind)
{
	return kind < MP_KIND_COUNT && kind_names[kind] ? kind_names[kind] : "unknown";
}

static int by_id(const void *a, const void *b)
{
	const struct mp_alloc_rec *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Copies recs into out in id order. A chunk's ids are unique and mostly
   close together: when they span at most 8 times their number, each goes
   straight to its slot; otherwise a radix sort on the id's offset from the
   smallest, in 11-bit digits (qsort when they span more than 32 bits).
   Returns 0, or -1 when out of memory. */
static int sort_by_id(const struct mp_alloc_rec *recs, size_t n, struct mp_alloc_rec *out)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		lo = recs[i].id < lo ? recs[i].id : lo;
		hi = recs[i].id > hi ? recs[i].id : hi;
	}
	if (n < 64 || hi - lo > UINT32_MAX) {
		memcpy(out, recs, n * sizeof(*out));
		qsort(out, n, sizeof(*out), by_id);
		return 0;
	}
	uint64_t span = hi - lo + 1;
	if (span <= 8 * (uint64_t)n) {
		uint32_t *slot = calloc(span, sizeof(*slot));
		if (!slot)
			return -1;
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t *s = &slot[recs[i].id - lo];
			k += *s != 0; /* a repeated id: sorted below instead */
			*s = (uint32_t)i + 1;
		}
		if (!k) {
			for (uint64_t j = 0; j < span; j++)
				if (slot[j])
					out[k++] = recs[slot[j] - 1];
			free(slot);
			return 0;
		}
		free(slot);
	}
	uint32_t *idx = malloc(2 * n * sizeof(*idx));
	if (!idx)
		return -1;
	uint32_t *a = idx, *b = idx + n;
	for (size_t i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	size_t count[2048];
	for (int shift = 0; shift < 32 && (span - 1) >> shift; shift += 11) {
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[((recs[a[i]].id - lo) >> shift) & 2047]++;
		size_t sum = 0;
		for (size_t k = 0; k < 2048; k++) {
			size_t c = count[k];
			count[k] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[count[((recs[a[i]].id - lo) >> shift) & 2047]++] = a[i];
		uint32_t *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = recs[a[i]];
	free(idx);
	return 0;
}

/* The usable size glibc's malloc gives a request: the usual case, so the
   column holds mostly zeros. */
static inline uint64_t usable_guess(uint64_t size)
{
	return size <= 24 ? 24 : ((size + 8 + 15) & ~(uint64_t)15) - 8;
}

int mp_store_encode(const struct mp_alloc_rec *recs, size_t n, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	struct mp_alloc_rec *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	uint8_t *raw = malloc(n * STORE_COLUMNS * VARINT_MAX + 1);
	if (!sorted || !raw) {
		free(sorted);
		free(raw);
		return -1;
	}
	if (sort_by_id(recs, n, sorted)) {
		free(sorted);
		free(raw);
		return -1;
	}

	uint8_t *p = raw;
	uint64_t prev = 0;
#define DELTA_COLUMN(field) \
	prev = 0; \
	for (size_t i = 0; i < n; i++) { \
		p = mp_put_varint(p, mp_zigzag((int64_t)((uint64_t)sorted[i].field - prev))); \
		prev = (uint64_t)sorted[i].field; \
	}
	DELTA_COLUMN(id)
	DELTA_COLUMN(tid)
	for (size_t i = 0; i < n; i++)
		p = mp_put_varint(p, sorted[i].kind);
	for (size_t i = 0; i < n; i++)
		p = mp_put_varint(p, sorted[i].size);
	for (size_t i = 0; i < n; i++)
		p = mp_put_varint(p, mp_zigzag((int64_t)(sorted[i].usable - usable_guess(sorted[i].size))));
	DELTA_COLUMN(address)
	DELTA_COLUMN(stack_id)
	for (size_t i = 0; i < n; i++)
		sorted[i].alloc_ns /= STORE_TIME_UNIT;
	DELTA_COLUMN(alloc_ns)
#undef DELTA_COLUMN
	for (size_t i = 0; i < n; i++)
		p = mp_put_varint(p, sorted[i].free_ns < 0
		                             ? 0
		                             : 1 + mp_zigzag((int64_t)((uint64_t)sorted[i].free_ns / STORE_TIME_UNIT -
		                                                       sorted[i].alloc_ns)));
	int pools = 0;
	for (size_t i = 0; i < n && !pools; i++)
		pools = sorted[i].pool != 0;
	if (pools)
		for (size_t i = 0; i < n; i++)
			p = mp_put_varint(p, sorted[i].pool);
	free(sorted);
	size_t raw_len = (size_t)(p - raw);

	size_t bound = ZSTD_compressBound(raw_len);
	uint8_t *buf = malloc(3 * VARINT_MAX + 2 + bound);
	if (!buf) {
		free(raw);
		return -1;
	}
	uint8_t *h = buf;
	*h++ = pools ? STORE_FORMAT_POOLS : STORE_FORMAT;
	h = mp_put_varint(h, n);
	h = mp_put_varint(h, raw_len);
	uint8_t *mode = h++;
	size_t z = ZSTD_compress(h, bound, raw, raw_len, STORE_LEVEL);
	if (!ZSTD_isError(z) && z < raw_len) {
		*mode = STORE_ZSTD;
		h += z;
	} else {
		*mode = STORE_RAW;
		memcpy(h, raw, raw_len);
		h += raw_len;
	}
	free(raw);
	*out = buf;
	*out_len = (size_t)(h - buf);
	return 0;
}

/* The next varint of a column, or 0 with *bad set past the end. */
static inline uint64_t next_varint(const uint8_t **q, const uint8_t *end, int *bad)
{
	uint64_t v = 0;
	if (mp_get_varint(q, end, &v)) {
		*bad = 1;
		*q = end;
		return 0;
	}
	return v;
}

int mp_store_decode(const void *data, size_t len, struct mp_alloc_rec *recs, size_t count)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t n, raw_len;
	if (!data || len < 4)
		return -1;
	uint8_t format = *p++;
	if ((format != STORE_FORMAT && format != STORE_FORMAT_POOLS) || mp_get_varint(&p, end, &n) || n != count ||
	    mp_get_varint(&p, end, &raw_len) || raw_len > count * STORE_COLUMNS * VARINT_MAX || p >= end)
		return -1;
	uint8_t mode = *p++;
	const uint8_t *raw;
	uint8_t *owned = NULL;
	if (mode == STORE_ZSTD) {
		unsigned long long size = ZSTD_getFrameContentSize(p, (size_t)(end - p));
		if (size != raw_len)
			return -1;
		owned = malloc(raw_len ? raw_len : 1);
		if (!owned)
			return -1;
		size_t got = ZSTD_decompress(owned, raw_len, p, (size_t)(end - p));
		if (ZSTD_isError(got) || got != raw_len) {
			free(owned);
			return -1;
		}
		raw = owned;
	} else if (mode == STORE_RAW) {
		if ((uint64_t)(end - p) != raw_len)
			return -1;
		raw = p;
	} else {
		return -1;
	}

	const uint8_t *q = raw, *qend = raw + raw_len;
	uint64_t v = 0, prev;
	int bad = 0;
#define NEXT() (v = next_varint(&q, qend, &bad))
#define DELTA_COLUMN(field, type) \
	prev = 0; \
	for (size_t i = 0; i < count && !bad; i++) { \
		prev += (uint64_t)mp_unzigzag(NEXT()); \
		recs[i].field = (type)prev; \
	}
	DELTA_COLUMN(id, uint64_t)
	DELTA_COLUMN(tid, uint32_t)
	for (size_t i = 0; i < count && !bad; i++) {
		NEXT();
		if (v >= 256)
			bad = 1;
		recs[i].kind = (uint8_t)v;
	}
	for (size_t i = 0; i < count && !bad; i++)
		recs[i].size = NEXT();
	for (size_t i = 0; i < count && !bad; i++)
		recs[i].usable = usable_guess(recs[i].size) + (uint64_t)mp_unzigzag(NEXT());
	DELTA_COLUMN(address, uint64_t)
	DELTA_COLUMN(stack_id, uint64_t)
	DELTA_COLUMN(alloc_ns, uint64_t)
	for (size_t i = 0; i < count && !bad; i++) {
		NEXT();
		recs[i].free_ns =
		        v == 0 ? -1 : (int64_t)((recs[i].alloc_ns + (uint64_t)mp_unzigzag(v - 1)) * STORE_TIME_UNIT);
		recs[i].alloc_ns *= STORE_TIME_UNIT;
	}
	for (size_t i = 0; i < count && !bad; i++) {
		recs[i].pool = 0;
		if (format == STORE_FORMAT_POOLS) {
			NEXT();
			if (v > UINT32_MAX)
				bad = 1;
			recs[i].pool = (uint32_t)v;
		}
	}
#undef DELTA_COLUMN
#undef NEXT
	if (q != qend)
		bad = 1;
	free(owned);
	return bad ? -1 : 0;
}
