/* The allocation store: chunks of up to MP_STORE_CHUNK_RECORDS allocations
 * (lib/store.h), one column after another, each compressed with zstd.
 *
 * A chunk (format 4) is: a format byte (4), the record count and the
 * number of columns (varints), then each column: a compression byte (0
 * none, 1 zstd), its length before and as stored (varints), its bytes.
 * Columns, each n varints, records sorted by id: id, tid and allocation
 * time as zigzag deltas from the previous record; kind; size;
 * zigzag(usable - the usable size glibc gives that size); the stack as a
 * zigzag delta from the stack of the last record of the same kind; a
 * byte saying how the address column predicts (0: the previous record's
 * address, 1: the address of the last record of the same stack, one kept
 * per slot of a 4096-slot table, else the previous record's) and the
 * addresses as zigzag deltas from that prediction; 0 for a block never
 * freed, else 1 + zigzag(free time - allocation time); and, only when a
 * chunk holds a pool's block (memprof.h), each record's pool id.
 * Compressing the columns apart (rather than in one frame) and the two
 * predictions took 8% off a churn trace and 27% off python3's
 * (tests/bench/compare, this commit's message).
 * Formats 2 and 3, written before, still read: one zstd frame of id, tid,
 * kind, size, usable, address, stack, time and free columns, stacks and
 * addresses as deltas from the previous record; format 3 adds the pools.
 * Times are kept in microseconds (STORE_TIME_UNIT): finer digits cost
 * more than half of a chunk and tell nothing a profile needs.
 * Decoding trusts nothing: every length and varint is checked.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "store.h"
#include "wire.h"

#define STORE_FORMAT 2
#define STORE_FORMAT_POOLS 3   /* STORE_FORMAT with the pool column */
#define STORE_FORMAT_COLUMNS 4 /* each column compressed alone, with predictions */
#define STORE_TIME_UNIT 1000   /* ns per stored time unit */
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
        "new",
        "new[]",
        [MP_KIND_MMAP] = "mmap",
        [MP_KIND_POOL] = "pool",
};

const char *mp_kind_name(unsigned kind)
{
	return kind < MP_KIND_COUNT && kind_names[kind] ? kind_names[kind] : "unknown";
}

static const char *const free_kind_names[MP_FREE_KIND_COUNT] = {"free", "delete", "delete[]", "munmap", "pool"};

const char *mp_free_kind_name(unsigned kind)
{
	return kind < MP_FREE_KIND_COUNT ? free_kind_names[kind] : "unknown";
}

unsigned mp_free_kind_expected(unsigned kind)
{
	return kind == MP_KIND_NEW         ? MP_FREE_DELETE
	       : kind == MP_KIND_NEW_ARRAY ? MP_FREE_DELETE_ARRAY
	       : kind == MP_KIND_MMAP      ? MP_FREE_MUNMAP
	       : kind == MP_KIND_POOL      ? MP_FREE_POOL
	                                   : MP_FREE_FREE;
}

/* Scratch memory each thread keeps from one chunk to the next: a chunk
   needs a few MiB, and fresh memory costs a page fault a page each time
   (a fifth of the encoding's time before). Freed when the thread ends. */
enum { SCRATCH_SORTED, SCRATCH_SORT, SCRATCH_COLUMNS, SCRATCH_OUT, SCRATCH_PREDICT, SCRATCH_DECODE, SCRATCH_N };
struct scratch {
	void *p[SCRATCH_N];
	size_t cap[SCRATCH_N];
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v)
{
	struct scratch *s = v;
	for (int i = 0; i < SCRATCH_N; i++)
		free(s->p[i]);
	ZSTD_freeCCtx(s->cctx);
	ZSTD_freeDCtx(s->dctx);
	free(s);
}

static void scratch_key_make(void)
{
	if (pthread_key_create(&scratch_key, scratch_free))
		scratch_key = (pthread_key_t)-1;
}

static struct scratch *scratch_of_thread(void)
{
	pthread_once(&scratch_once, scratch_key_make);
	struct scratch *s = scratch_key == (pthread_key_t)-1 ? NULL : pthread_getspecific(scratch_key);
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))) || scratch_key == (pthread_key_t)-1 ||
		    pthread_setspecific(scratch_key, s)) {
			free(s);
			return NULL;
		}
	}
	return s;
}

/* The calling thread's zstd contexts (NULL when out of memory). */
static ZSTD_CCtx *scratch_cctx(void)
{
	struct scratch *s = scratch_of_thread();
	if (s && !s->cctx)
		s->cctx = ZSTD_createCCtx();
	return s ? s->cctx : NULL;
}

static ZSTD_DCtx *scratch_dctx(void)
{
	struct scratch *s = scratch_of_thread();
	if (s && !s->dctx)
		s->dctx = ZSTD_createDCtx();
	return s ? s->dctx : NULL;
}

/* The calling thread's scratch buffer `which`, of at least size bytes, or
   NULL when out of memory. */
static void *scratch(int which, size_t size)
{
	struct scratch *s = scratch_of_thread();
	if (!s)
		return NULL;
	if (s->cap[which] < size) {
		void *p = realloc(s->p[which], size);
		if (!p)
			return NULL;
		s->p[which] = p;
		s->cap[which] = size;
	}
	return s->p[which];
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
		uint32_t *slot = scratch(SCRATCH_SORT, span * sizeof(*slot));
		if (!slot)
			return -1;
		memset(slot, 0, span * sizeof(*slot));
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
			return 0;
		}
	}
	uint32_t *idx = scratch(SCRATCH_SORT, 2 * n * sizeof(*idx));
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
	return 0;
}

/* The usable size glibc's malloc gives a request: the usual case, so the
   column holds mostly zeros. */
static inline uint64_t usable_guess(uint64_t size)
{
	return size <= 24 ? 24 : ((size + 8 + 15) & ~(uint64_t)15) - 8;
}

/* Format 4's predictions, the same in the encoder and the decoder: the
   stack of the last record of the same kind, and the address of the last
   record of the same stack (one remembered per slot of a small table),
   else of the previous record. */
#define ADDR_SLOTS 4096

struct predict {
	uint64_t stack_of_kind[256];
	struct {
		uint64_t stack1; /* stack_id + 1; 0: empty */
		uint64_t address;
	} by_stack[ADDR_SLOTS];
	uint64_t prev_address;
};

static inline size_t addr_slot(uint64_t stack_id)
{
	return (size_t)((stack_id * 0x9e3779b97f4a7c15ull) >> 52) & (ADDR_SLOTS - 1);
}

static inline uint64_t predict_address(const struct predict *pr, uint64_t stack_id, int by_stack)
{
	size_t k = addr_slot(stack_id);
	return by_stack && pr->by_stack[k].stack1 == stack_id + 1 ? pr->by_stack[k].address : pr->prev_address;
}

static inline void saw_address(struct predict *pr, uint64_t stack_id, uint64_t address)
{
	size_t k = addr_slot(stack_id);
	pr->by_stack[k].stack1 = stack_id + 1;
	pr->by_stack[k].address = address;
	pr->prev_address = address;
}

/* Appends one column to o: mode, raw length, stored length, bytes;
   zstd's when smaller. scratch has room for ZSTD_compressBound(len). */
static uint8_t *put_column(ZSTD_CCtx *z, uint8_t *o, const uint8_t *col, size_t len, uint8_t *scratch)
{
	size_t c = z ? ZSTD_compressCCtx(z, scratch, ZSTD_compressBound(len), col, len, STORE_LEVEL) : 0;
	int packed = z && !ZSTD_isError(c) && c < len;
	*o++ = packed ? STORE_ZSTD : STORE_RAW;
	o = mp_put_varint(o, len);
	o = mp_put_varint(o, packed ? c : len);
	memcpy(o, packed ? scratch : col, packed ? c : len);
	return o + (packed ? c : len);
}

/* The stored size of a column (mode and lengths aside). */
static size_t column_cost(ZSTD_CCtx *z, const uint8_t *col, size_t len, uint8_t *scratch)
{
	size_t c = z ? ZSTD_compressCCtx(z, scratch, ZSTD_compressBound(len), col, len, STORE_LEVEL) : len;
	return z && !ZSTD_isError(c) && c < len ? c : len;
}

/* The columns of format 4, in their order in a chunk; ADDRESS_BY_STACK is
   the address column's other prediction, of which one is stored. */
enum { C_ID, C_TID, C_KIND, C_SIZE, C_USABLE, C_STACK, C_ADDRESS, C_ALLOC, C_FREE, C_POOL, C_ADDRESS_BY_STACK, C_N };

int mp_store_encode(const struct mp_alloc_rec *recs, size_t n, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	size_t colmax = n * VARINT_MAX + 1, bound = ZSTD_compressBound(colmax);
	struct mp_alloc_rec *sorted = scratch(SCRATCH_SORTED, (n ? n : 1) * sizeof(*sorted));
	uint8_t *cols = scratch(SCRATCH_COLUMNS, C_N * colmax + bound);
	uint8_t *buf = scratch(SCRATCH_OUT, 4 * VARINT_MAX + STORE_COLUMNS * (1 + 2 * VARINT_MAX + bound));
	struct predict *pr = scratch(SCRATCH_PREDICT, sizeof(*pr));
	ZSTD_CCtx *z = scratch_cctx(); /* NULL: stored raw */
	if (!sorted || !cols || !buf || !pr || sort_by_id(recs, n, sorted))
		return -1;
	uint8_t *col[C_N], *p[C_N], *spare = cols + C_N * colmax;
	for (int k = 0; k < C_N; k++)
		col[k] = p[k] = cols + (size_t)k * colmax;
	memset(pr, 0, sizeof(*pr));
	uint64_t prev_address = 0; /* for the other prediction */
	int pools = 0;
	/* One pass over the records, every column at once. */
	for (size_t i = 0; i < n; i++) {
		const struct mp_alloc_rec *r = &sorted[i], *b = i ? &sorted[i - 1] : NULL;
		uint64_t alloc = r->alloc_ns / STORE_TIME_UNIT;
		p[C_ID] = mp_put_varint(p[C_ID], mp_zigzag((int64_t)(r->id - (b ? b->id : 0))));
		p[C_TID] = mp_put_varint(p[C_TID], mp_zigzag((int64_t)((uint64_t)r->tid - (b ? b->tid : 0))));
		p[C_KIND] = mp_put_varint(p[C_KIND], r->kind);
		p[C_SIZE] = mp_put_varint(p[C_SIZE], r->size);
		p[C_USABLE] = mp_put_varint(p[C_USABLE], mp_zigzag((int64_t)(r->usable - usable_guess(r->size))));
		uint64_t *of_kind = &pr->stack_of_kind[r->kind];
		p[C_STACK] = mp_put_varint(p[C_STACK], mp_zigzag((int64_t)(r->stack_id - *of_kind)));
		*of_kind = r->stack_id;
		p[C_ADDRESS] = mp_put_varint(p[C_ADDRESS], mp_zigzag((int64_t)(r->address - prev_address)));
		prev_address = r->address;
		uint64_t guess = predict_address(pr, r->stack_id, 1);
		p[C_ADDRESS_BY_STACK] = mp_put_varint(p[C_ADDRESS_BY_STACK], mp_zigzag((int64_t)(r->address - guess)));
		saw_address(pr, r->stack_id, r->address);
		p[C_ALLOC] = mp_put_varint(p[C_ALLOC],
		                           mp_zigzag((int64_t)(alloc - (b ? b->alloc_ns / STORE_TIME_UNIT : 0))));
		p[C_FREE] = mp_put_varint(
		        p[C_FREE],
		        r->free_ns < 0 ? 0 : 1 + mp_zigzag((int64_t)((uint64_t)r->free_ns / STORE_TIME_UNIT - alloc)));
		p[C_POOL] = mp_put_varint(p[C_POOL], r->pool);
		pools |= r->pool != 0;
	}
	uint8_t *o = buf;
	*o++ = STORE_FORMAT_COLUMNS;
	o = mp_put_varint(o, n);
	o = mp_put_varint(o, pools ? STORE_COLUMNS : STORE_COLUMNS - 1);
	for (int k = 0; k <= C_POOL; k++) {
		size_t len = (size_t)(p[k] - col[k]);
		if (k == C_POOL && !pools)
			break;
		if (k == C_ADDRESS) {
			/* The address: from the same stack's last block, or from the
			   previous record's, whichever this chunk stores smaller. */
			size_t len1 = (size_t)(p[C_ADDRESS_BY_STACK] - col[C_ADDRESS_BY_STACK]);
			int by_stack = column_cost(z, col[C_ADDRESS_BY_STACK], len1, spare) <
			               column_cost(z, col[k], len, spare);
			*o++ = (uint8_t)by_stack;
			if (by_stack) {
				o = put_column(z, o, col[C_ADDRESS_BY_STACK], len1, spare);
				continue;
			}
		}
		o = put_column(z, o, col[k], len, spare);
	}
	size_t len = (size_t)(o - buf);
	if (!(*out = malloc(len)))
		return -1;
	memcpy(*out, buf, len);
	*out_len = len;
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

/* Formats 2 and 3: every column in one zstd frame, stacks and addresses
   as deltas from the previous record's. */
static int decode_v2(const void *data, size_t len, struct mp_alloc_rec *recs, size_t count)
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
		ZSTD_DCtx *z = scratch_dctx();
		size_t got = z ? ZSTD_decompressDCtx(z, owned, raw_len, p, (size_t)(end - p)) : 0;
		if (!z || ZSTD_isError(got) || got != raw_len) {
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

/* One column of format 4 at *p (mode, lengths, bytes): its varints in
   *col (raw, or decompressed into buf, which has room for count varints).
   Returns 0, or -1 when damaged. */
static int get_column(const uint8_t **p, const uint8_t *end, size_t count, uint8_t *buf, const uint8_t **col,
                      const uint8_t **col_end)
{
	const uint8_t *q = *p;
	uint64_t raw_len, stored;
	if (q >= end)
		return -1;
	uint8_t mode = *q++;
	if (mp_get_varint(&q, end, &raw_len) || mp_get_varint(&q, end, &stored) || raw_len > count * VARINT_MAX ||
	    stored > (uint64_t)(end - q))
		return -1;
	if (mode == STORE_RAW) {
		if (stored != raw_len)
			return -1;
		*col = q;
	} else if (mode == STORE_ZSTD) {
		if (ZSTD_getFrameContentSize(q, (size_t)stored) != raw_len)
			return -1;
		ZSTD_DCtx *z = scratch_dctx();
		size_t got = z ? ZSTD_decompressDCtx(z, buf, (size_t)raw_len, q, (size_t)stored) : 0;
		if (!z)
			return -1;
		if (ZSTD_isError(got) || got != raw_len)
			return -1;
		*col = buf;
	} else {
		return -1;
	}
	*col_end = *col + raw_len;
	*p = q + stored;
	return 0;
}

int mp_store_decode(const void *data, size_t len, struct mp_alloc_rec *recs, size_t count)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t n, ncols;
	if (!data || len < 4)
		return -1;
	if (*p != STORE_FORMAT_COLUMNS)
		return decode_v2(data, len, recs, count);
	p++;
	if (mp_get_varint(&p, end, &n) || n != count || mp_get_varint(&p, end, &ncols) ||
	    (ncols != STORE_COLUMNS && ncols != STORE_COLUMNS - 1))
		return -1;
	uint8_t *buf = scratch(SCRATCH_DECODE, count * VARINT_MAX + 1);
	struct predict *pr = scratch(SCRATCH_PREDICT, sizeof(*pr));
	if (!buf || !pr)
		return -1;
	memset(pr->stack_of_kind, 0, sizeof(pr->stack_of_kind));
	memset(pr->by_stack, 0, sizeof(pr->by_stack));
	pr->prev_address = 0;
	const uint8_t *q = NULL, *qend = NULL;
	uint64_t v = 0, prev;
	int bad = 0;
#define NEXT() (v = next_varint(&q, qend, &bad))
#define COLUMN(body) \
	do { \
		if (!bad && get_column(&p, end, count, buf, &q, &qend)) \
			bad = 1; \
		for (size_t i = 0; i < count && !bad; i++) { \
			NEXT(); \
			body; \
		} \
		if (!bad && q != qend) \
			bad = 1; \
	} while (0)
#define DELTA(field, type) \
	prev = 0; \
	COLUMN(prev += (uint64_t)mp_unzigzag(v); recs[i].field = (type)prev)
	DELTA(id, uint64_t);
	DELTA(tid, uint32_t);
	COLUMN(if (v >= 256) bad = 1; recs[i].kind = (uint8_t)v);
	COLUMN(recs[i].size = v);
	COLUMN(recs[i].usable = usable_guess(recs[i].size) + (uint64_t)mp_unzigzag(v));
	COLUMN(recs[i].stack_id = pr->stack_of_kind[recs[i].kind] + (uint64_t)mp_unzigzag(v);
	       pr->stack_of_kind[recs[i].kind] = recs[i].stack_id);
	int by_stack = p < end ? *p++ : (bad = 1, 0);
	if (by_stack > 1)
		bad = 1;
	COLUMN(recs[i].address = predict_address(pr, recs[i].stack_id, by_stack) + (uint64_t)mp_unzigzag(v);
	       saw_address(pr, recs[i].stack_id, recs[i].address));
	DELTA(alloc_ns, uint64_t);
	COLUMN(recs[i].free_ns =
	               v == 0 ? -1 : (int64_t)((recs[i].alloc_ns + (uint64_t)mp_unzigzag(v - 1)) * STORE_TIME_UNIT);
	       recs[i].alloc_ns *= STORE_TIME_UNIT);
	for (size_t i = 0; i < count; i++)
		recs[i].pool = 0;
	if (ncols == STORE_COLUMNS)
		COLUMN(if (v > UINT32_MAX) bad = 1; recs[i].pool = (uint32_t)v);
#undef DELTA
#undef COLUMN
#undef NEXT
	if (p != end)
		bad = 1;
	return bad ? -1 : 0;
}
