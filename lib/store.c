/* The allocation store: chunks of up to MP_STORE_CHUNK_RECORDS allocations
 * (lib/store.h), one column after another, each compressed with zstd.
 *
 * A chunk (format 6) is: a format byte (6), the record count, the number
 * of columns and the tick (varints; the tick in ns), then each column: a
 * layout byte and its values. Layout 0: the values as varints, stored as
 * a compression byte (0 none, 1 zstd), their length before and as stored
 * (varints), the bytes. Layout 1: byte planes: a width w (1-8), then w
 * blocks of count bytes stored as above, block k holding byte k of every
 * value. Planes suit wide values whose bytes differ in their statistics
 * (zstd's entropy coder sees the low and the high bytes apart): an
 * address, a size, a lifetime; the encoder tries both for each column of
 * values of 2 bytes or more and keeps the smaller. Layout 2: runs of
 * equal values (put_runs).
 * Records sorted by thread, then id (group_by_thread). Columns: id, tid
 * as zigzag deltas from the previous record; kind; a byte saying whether
 * the size column holds the kinds too (1: size << 4 | kind, and the kind
 * column zeros) and the size; zigzag(usable - the usable size glibc gives
 * that size); the stack as a zigzag delta from the stack of the last
 * record of the same kind; a byte saying how the address column predicts
 * (ADDRESS_*: 0 the previous record's address; 1 the address of the last
 * record of the same stack, one kept per slot of a 4096-slot table, else
 * the previous record's; 2 an earlier record's, see struct reuse) and the
 * addresses as zigzag deltas from that prediction; the allocation time in
 * ticks (floor(ns / tick)) as a zigzag delta from the previous record's;
 * a byte saying how the free column predicts (0: from the record's
 * allocation tick, 1: from the free tick of the last record before it
 * that was freed) and 0 for a block never freed, else 1 + zigzag(free
 * tick - that prediction); and, only when a chunk holds a pool's block
 * (memprof.h), each record's pool id.
 * Times read back are floored to the tick, 0.1 ms (STORE_TICK): finer
 * digits are mostly the jitter of a running program, and cost most of a
 * chunk. Allocation data per record, format 5 -> format 6 (re-encoding
 * the bench traces, the commits' messages): C++ maps 0.824 -> 0.229
 * bytes, sqlite3 0.247 -> 0.031, python3 0.418 -> 0.136, churn 5.335 ->
 * 3.949.
 * Format 5, written before, still reads: format 6 with no tick in its
 * header (times in microseconds), records in id order, no byte before the
 * size, no ADDRESS_REUSED and no runs. Format 4: format 5 with every
 * column as varints, no layout bytes and no free prediction (from the
 * allocation time). Formats 2 and 3: one zstd frame of id, tid, kind,
 * size, usable, address, stack, time and free columns, stacks and
 * addresses as deltas from the previous record; format 3 adds the pools.
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
#define STORE_FORMAT_LAYOUTS 5 /* format 4, each column as varints or byte planes */
#define STORE_FORMAT_TICKS 6   /* format 5 with times in ticks, and more (the comment above) */
#define LAYOUT_VARINTS 0
#define LAYOUT_PLANES 1
#define LAYOUT_RUNS 2                   /* format 6 */
#define STORE_TIME_UNIT 1000            /* ns per stored time unit, before format 6 */
#define STORE_TICK MP_STORE_TICK_NS     /* ns per stored time unit: format 6's tick */
#define STORE_TICK_MAX 1000000000000ull /* ns: a tick read back, at most (1000 s) */
#define STORE_RAW 0
#define STORE_ZSTD 1
#define STORE_LEVEL 3
#define STORE_LEVEL_HIGH 9   /* put_packed's */
#define STORE_HIGH_MIN 256   /* bytes: a block stored smaller is not tried at STORE_LEVEL_HIGH */
#define STORE_LEVEL_PLANES 1 /* planes hold few repeats: churn's encoding 76 -> 70 ns a record, as small */
#define STORE_COLUMNS 10     /* at most */
#define VARINT_MAX 10
#define STORE_TRIAL_EVERY 8   /* chunks: put_values tries every layout again */
#define STORE_TRIAL_BELOW 256 /* records: a chunk this small is always a trial */

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
enum {
	SCRATCH_SORTED,
	SCRATCH_SORT,
	SCRATCH_VALUES,
	SCRATCH_VARINTS,
	SCRATCH_BYTES,
	SCRATCH_OUT,
	SCRATCH_PREDICT,
	SCRATCH_REUSE,
	SCRATCH_SIZES,
	SCRATCH_DECODE,
	SCRATCH_N
};
struct scratch {
	void *p[SCRATCH_N];
	size_t cap[SCRATCH_N];
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t choice[16];  /* the encoder's last choices (mp_store_encode) */
	uint8_t high[16][2]; /* put_packed's, by column */
	uint8_t lost[3];     /* predictions out until the next trial (put_best): address, free, size */
	uint32_t reuse_gen;  /* of the table SCRATCH_REUSE (reuse_empty) */
	unsigned chunks;     /* chunks this thread encoded */
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

struct id_at {
	uint64_t id;
	uint32_t at;
};

static int by_id(const void *a, const void *b)
{
	const struct id_at *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The order of recs by id: ord[k] is the index in recs of the record
   with the k-th smallest id (the records themselves are not copied:
   their 72 bytes each were a fifth of the encoding's time). A chunk's
   ids are unique and mostly close together: when they span at most 8
   times their number, each goes straight to its slot; otherwise a radix
   sort on the id's offset from the smallest, in 11-bit digits (qsort
   when they span more than 32 bits). Returns 0, or -1 when out of
   memory. */
static int sort_by_id(const struct mp_alloc_rec *recs, size_t n, uint32_t *ord)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		lo = recs[i].id < lo ? recs[i].id : lo;
		hi = recs[i].id > hi ? recs[i].id : hi;
	}
	if (n < 64 || hi - lo > UINT32_MAX) {
		struct id_at *t = scratch(SCRATCH_SORT, (n ? n : 1) * sizeof(*t));
		if (!t)
			return -1;
		for (size_t i = 0; i < n; i++)
			t[i] = (struct id_at){recs[i].id, (uint32_t)i};
		qsort(t, n, sizeof(*t), by_id);
		for (size_t i = 0; i < n; i++)
			ord[i] = t[i].at;
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
					ord[k++] = slot[j] - 1;
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
	memcpy(ord, a, n * sizeof(*ord));
	return 0;
}

/* Regroups ord (records in id order) by thread, threads in the order of
   their first record, each thread's records still in id order: a chunk
   of a process with two busy threads holds their records interleaved,
   and each column predicts better from the same thread's record before
   (churn with 2 threads: 4.626 -> 4.368 bytes a record, the thread ids
   0.151 -> 0.001, the addresses 2.214 -> 1.975). At most GROUP_THREADS
   threads; with more the chunk stays in id order. tmp has room for 2n. */
#define GROUP_THREADS 64
static void group_by_thread(const struct mp_alloc_rec *recs, size_t n, uint32_t *ord, uint32_t *tmp)
{
	/* The threads and each record's, read in memory order: a random
	   read of each record costs a cache miss (4 ns a record). */
	uint32_t tids[GROUP_THREADS], *thread_of = tmp + n;
	size_t count[GROUP_THREADS] = {0}, threads = 0;
	for (size_t i = 0, k = 0; i < n; i++) {
		uint32_t tid = recs[i].tid;
		if (!threads || tids[k] != tid) {
			for (k = 0; k < threads && tids[k] != tid;)
				k++;
			if (k == threads) {
				if (threads == GROUP_THREADS)
					return;
				tids[threads++] = tid;
			}
		}
		thread_of[i] = (uint32_t)k;
	}
	if (threads < 2)
		return;
	/* in the order of their first record */
	uint32_t rank[GROUP_THREADS], seen = 0;
	for (size_t k = 0; k < threads; k++)
		rank[k] = UINT32_MAX;
	for (size_t i = 0; i < n && seen < threads; i++)
		if (rank[thread_of[ord[i]]] == UINT32_MAX)
			rank[thread_of[ord[i]]] = seen++;
	for (size_t i = 0; i < n; i++)
		count[rank[thread_of[ord[i]]]]++;
	for (size_t k = 0, sum = 0; k < threads; k++) {
		size_t c = count[k];
		count[k] = sum;
		sum += c;
	}
	for (size_t i = 0; i < n; i++)
		tmp[count[rank[thread_of[ord[i]]]]++] = ord[i];
	memcpy(ord, tmp, n * sizeof(*ord));
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

/* The address prediction ADDRESS_REUSED: a block often takes the address
   of one freed shortly before, which a chunk holds too (74% of churn's
   records, 30% of python3's), and mostly one of the same usable size
   (glibc's free lists: three in four of churn's). A record's value is
   (x << 2) | tag: tag 0 (REUSED_SAME), the address of the record j before
   it of the same usable size with x records of that size between them;
   tag 1, the address of the record x + 1 before it; tag 2, neither: x is
   the zigzag delta from the previous record's address. The encoder finds
   j, the last record of the address, in an open-addressing table of
   addresses (struct reuse), and places the records grouped by usable size
   (struct sizes), which the decoder does alike from the sizes it has
   read. Churn: 2.17 bytes a record as deltas, 2.10 with tag 1 alone, 1.90
   with tag 0 (counting only the records whose address no later one took
   yet, 1.875, took a bit scan a record: decoding 61 ns a record against
   43). */
#define REUSED_SAME 0
#define REUSED_BACK 1
#define REUSED_NEW 2

struct reuse {
	uint64_t key; /* an address, or a usable size */
	uint32_t gen; /* the table's generation when set; another: empty */
	uint32_t at;  /* its record, or its size's index */
};

/* A table of struct reuse: the slots, its size and its generation. */
struct reuse_table {
	struct reuse *t;
	size_t slots;
	uint32_t gen;
};

/* The calling thread's table of at least 2 rows slots, emptied: a new
   generation, and memset only when the memory is new or the generations
   wrap (a memset of each table for each chunk took 10 ns a record).
   Returns 0, or -1 when out of memory. */
static int reuse_empty(struct reuse_table *rt, size_t rows)
{
	struct scratch *s = scratch_of_thread();
	for (rt->slots = 64; rt->slots < 2 * rows;)
		rt->slots *= 2;
	size_t cap = s ? s->cap[SCRATCH_REUSE] : 0;
	if (!s || !(rt->t = scratch(SCRATCH_REUSE, rt->slots * sizeof(*rt->t))))
		return -1;
	if (s->cap[SCRATCH_REUSE] != cap || ++s->reuse_gen == 0) {
		memset(rt->t, 0, s->cap[SCRATCH_REUSE]);
		s->reuse_gen = 1;
	}
	rt->gen = s->reuse_gen;
	return 0;
}

#define RECS_AHEAD 8   /* records: the encoder prefetches the record so far ahead */
#define REUSED_AHEAD 8 /* records: the encoder prefetches the slot of the address so far ahead */

static inline size_t reuse_hash(const struct reuse_table *rt, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (rt->slots - 1);
}

/* The slot of key: its entry, or the empty one it would take. */
static inline struct reuse *reuse_slot(const struct reuse_table *rt, uint64_t key)
{
	size_t k = reuse_hash(rt, key);
	while (rt->t[k].gen == rt->gen && rt->t[k].key != key)
		k = (k + 1) & (rt->slots - 1);
	return &rt->t[k];
}

static inline void reuse_set(const struct reuse_table *rt, struct reuse *e, uint64_t key, size_t at)
{
	e->key = key;
	e->gen = rt->gen;
	e->at = (uint32_t)at;
}

/* The records of a chunk grouped by usable size: slot[i], record i's
   place, the records of a size together in their order; base[size_of[i]],
   the first place of its size; at[s], the record in place s. */
struct sizes {
	uint32_t *size_of, *base, *slot, *at;
};

/* The room sizes_group needs for n records, in uint32_t. */
static size_t sizes_room(size_t n)
{
	return 5 * n;
}

/* Groups the n records of usable sizes us[] into g, in m (sizes_room
   of it), with the calling thread's table. Returns 0, or -1 when out of
   memory. */
static int sizes_group(struct sizes *g, const uint64_t *us, size_t n, uint32_t *m)
{
	struct reuse_table rt;
	if (reuse_empty(&rt, n))
		return -1;
	uint32_t *run = m + 2 * n; /* by size: its records, then the next place */
	g->size_of = m, g->base = m + n, g->slot = m + 3 * n, g->at = m + 4 * n;
	uint32_t sizes = 0;
	for (size_t i = 0; i < n; i++) {
		struct reuse *e = reuse_slot(&rt, us[i]);
		if (e->gen != rt.gen) {
			reuse_set(&rt, e, us[i], sizes);
			run[sizes++] = 0;
		}
		g->size_of[i] = e->at;
		run[g->size_of[i]]++;
	}
	for (uint32_t k = 0, sum = 0; k < sizes; k++) {
		g->base[k] = sum;
		sum += run[k];
		run[k] = g->base[k];
	}
	for (size_t i = 0; i < n; i++) {
		g->slot[i] = run[g->size_of[i]]++;
		g->at[g->slot[i]] = (uint32_t)i;
	}
	return 0;
}

/* The record before record i whose address i's ADDRESS_REUSED value v
   (tag REUSED_SAME or REUSED_BACK) names, or i when there is none (a
   damaged chunk). */
static size_t reused_from(const struct sizes *g, size_t i, uint64_t v)
{
	uint64_t x = v >> 2;
	if ((v & 3) == REUSED_SAME)
		return x < g->slot[i] - g->base[g->size_of[i]] ? g->at[g->slot[i] - 1 - x] : i;
	return (v & 3) == REUSED_BACK && x < i ? i - 1 - (size_t)x : i;
}

/* Appends len bytes to o as stored: mode, raw length, stored length,
   bytes; zstd's when smaller. zbuf has room for ZSTD_compressBound(len). */
static uint8_t *put_bytes(ZSTD_CCtx *z, uint8_t *o, const uint8_t *b, size_t len, uint8_t *zbuf, int level)
{
	size_t c = z ? ZSTD_compressCCtx(z, zbuf, ZSTD_compressBound(len), b, len, level) : 0;
	int packed = z && !ZSTD_isError(c) && c < len;
	*o++ = packed ? STORE_ZSTD : STORE_RAW;
	o = mp_put_varint(o, len);
	o = mp_put_varint(o, packed ? c : len);
	memcpy(o, packed ? zbuf : b, packed ? c : len);
	return o + (packed ? c : len);
}

/* The room one column of n values may take as stored, either layout. */
static size_t column_bound(size_t n)
{
	size_t varints = 1 + 2 * VARINT_MAX + ZSTD_compressBound(n * VARINT_MAX);
	size_t planes = 8 * (1 + 2 * VARINT_MAX + ZSTD_compressBound(n));
	return 2 + (varints > planes ? varints : planes);
}

/* What put_values works with: buffers, and its choices for the columns
   of the chunks before. */
struct column_work {
	uint8_t *bytes; /* n * VARINT_MAX: the varints, or the planes */
	uint8_t *zbuf;  /* ZSTD_compressBound(n * VARINT_MAX) */
	uint8_t *alt;   /* column_bound(n): the other layout */
	uint8_t *hbuf;  /* column_bound(n): put_packed's other level */
	uint8_t *choice;
	uint8_t (*high)[2]; /* put_packed's choices, by column: its values, its runs' lengths */
	int trial;          /* try every choice again */
};

/* put_bytes at STORE_LEVEL, or at STORE_LEVEL_HIGH where that paid off on
   the last trial chunk (*high): tried there on blocks that zstd shrinks 8
   times or more to STORE_HIGH_MIN bytes or more, and kept when a tenth
   smaller and by a 64th of the raw bytes (a block of 32 KiB at level 9
   takes some 50 ns a record). C++ maps' allocation data 0.229 -> 0.198
   bytes a record (encoding 53 -> 63 ns), python3's 0.136 -> 0.133,
   churn's the same (62 ns); kept at a 10th alone: C++ 0.164, but churn
   72 ns for its usable sizes' 0.009 bytes. */
static uint8_t *put_packed(ZSTD_CCtx *z, uint8_t *o, const uint8_t *b, size_t len, const struct column_work *w,
                           uint8_t *high)
{
	if (!w->trial)
		return put_bytes(z, o, b, len, w->zbuf, *high ? STORE_LEVEL_HIGH : STORE_LEVEL);
	uint8_t *end = put_bytes(z, o, b, len, w->zbuf, STORE_LEVEL);
	size_t stored = (size_t)(end - o);
	*high = 0;
	if (!z || stored * 8 > len || stored < STORE_HIGH_MIN)
		return end;
	uint8_t *h = put_bytes(z, w->hbuf, b, len, w->zbuf, STORE_LEVEL_HIGH);
	if ((size_t)(h - w->hbuf) * 10 >= stored * 9 || stored - (size_t)(h - w->hbuf) < len / 64)
		return end;
	*high = 1;
	memcpy(o, w->hbuf, (size_t)(h - w->hbuf));
	return o + (h - w->hbuf);
}

enum { CHOSE_NOTHING, CHOSE_VARINTS, CHOSE_PLANES };

static uint8_t *put_varints(ZSTD_CCtx *z, uint8_t *o, const uint64_t *v, size_t n, const struct column_work *w,
                            uint8_t *high)
{
	uint8_t *e = w->bytes;
	for (size_t i = 0; i < n; i++)
		e = mp_put_varint(e, v[i]);
	*o = LAYOUT_VARINTS;
	return put_packed(z, o + 1, w->bytes, (size_t)(e - w->bytes), w, high);
}

/* Byte k of each of n values, into b. Vectorized: GCC's -O2 does not
   (clang's does), and the loop was a third of the encoding's added time. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static void
get_plane(const uint64_t *v, size_t n, unsigned k, uint8_t *b)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v[i] >> (8 * k));
}

static uint8_t *put_planes(ZSTD_CCtx *z, uint8_t *o, const uint64_t *v, size_t n, unsigned width,
                           const struct column_work *w)
{
	*o++ = LAYOUT_PLANES;
	*o++ = (uint8_t)width;
	for (unsigned k = 0; k < width; k++) {
		get_plane(v, n, k, w->bytes);
		o = put_bytes(z, o, w->bytes, n, w->zbuf, STORE_LEVEL_PLANES);
	}
	return o;
}

/* Appends a column of n values to o in the layout that stores smaller:
   varints, or byte planes when the values need 2 bytes or more (any: the
   values or'ed together). Both are tried on a trial chunk (one in
   STORE_TRIAL_EVERY); on the others the last trial's choice (*choice)
   stands, since a program's columns change slowly (trying both on every
   chunk took half as long again to encode). */
static uint8_t *put_layouts(ZSTD_CCtx *z, uint8_t *o, const uint64_t *v, size_t n, uint64_t any, uint8_t *choice,
                            const struct column_work *w)
{
	uint8_t *high = &w->high[choice - w->choice][0];
	if (any < 128)
		return put_varints(z, o, v, n, w, high); /* a byte a value either way */
	unsigned width = 1;
	while (width < 8 && any >> (8 * width))
		width++;
	int trial = w->trial || *choice == CHOSE_NOTHING;
	if (!trial)
		return *choice == CHOSE_PLANES ? put_planes(z, o, v, n, width, w) : put_varints(z, o, v, n, w, high);
	uint8_t *end = put_varints(z, o, v, n, w, high);
	uint8_t *a = put_planes(z, w->alt, v, n, width, w);
	size_t len = (size_t)(a - w->alt);
	*choice = len < (size_t)(end - o) ? CHOSE_PLANES : CHOSE_VARINTS;
	if (*choice == CHOSE_VARINTS)
		return end;
	memcpy(o, w->alt, len);
	return o + len;
}

/* Layout 2, runs: the number of runs of equal values, then the values
   and the runs' lengths less one, each as varints stored as put_bytes
   does. */
static uint8_t *put_runs(ZSTD_CCtx *z, uint8_t *o, const uint64_t *v, size_t n, size_t runs,
                         const struct column_work *w, uint8_t *high)
{
	*o++ = LAYOUT_RUNS;
	o = mp_put_varint(o, runs);
	uint8_t *e = w->bytes;
	for (size_t i = 0; i < n; i++)
		if (!i || v[i] != v[i - 1])
			e = mp_put_varint(e, v[i]);
	o = put_packed(z, o, w->bytes, (size_t)(e - w->bytes), w, &high[0]);
	e = w->bytes;
	for (size_t i = 0, start = 0; i < n; i++)
		if (i + 1 == n || v[i + 1] != v[i]) {
			e = mp_put_varint(e, i - start);
			start = i + 1;
		}
	return put_packed(z, o, w->bytes, (size_t)(e - w->bytes), w, &high[1]);
}

/* Appends a column of n values to o in put_layouts' layout, or as runs
   when its values come in runs of 4 or more on average and that stores
   smaller: the allocation ticks of a busy program (C++ maps: 0.073 ->
   0.042 bytes a record). */
static uint8_t *put_values(ZSTD_CCtx *z, uint8_t *o, const uint64_t *v, size_t n, uint64_t any, uint8_t *choice,
                           const struct column_work *w)
{
	size_t runs = n > 0;
	for (size_t i = 1; i < n; i++)
		runs += v[i] != v[i - 1];
	uint8_t *end = put_layouts(z, o, v, n, any, choice, w);
	if (runs * 4 > n)
		return end;
	uint8_t *a = put_runs(z, w->alt, v, n, runs, w, w->high[choice - w->choice]);
	if (a - w->alt >= end - o)
		return end;
	memcpy(o, w->alt, (size_t)(a - w->alt));
	return o + (a - w->alt);
}

/* The columns of format 5, in their order in a chunk; ADDRESS_BY_STACK
   and FREE_BY_PREVIOUS are the other predictions of the address and free
   columns, of which one each is stored. */
enum {
	C_ID,
	C_TID,
	C_KIND,
	C_SIZE,
	C_USABLE,
	C_STACK,
	C_ADDRESS,
	C_ALLOC,
	C_FREE,
	C_POOL,
	C_ADDRESS_BY_STACK,
	C_ADDRESS_REUSED,
	C_FREE_BY_PREVIOUS,
	C_SIZE_KIND,  /* format 6: size << 4 | kind, when every kind and size fits */
	C_USABLE_TMP, /* the encoder's: each record's usable size and address */
	C_ADDRESS_TMP,
	C_N
};

/* The address predictions, in the order of their index in a chunk. */
#define ADDRESS_BY_PREVIOUS 0
#define ADDRESS_BY_STACK 1
#define ADDRESS_REUSED 2 /* format 6 */

/* Whether a column of a bytes stores larger than one of b by more than an
   eighth: a prediction that lost by that much on a trial chunk is not
   tried again until the next trial. */
#define LOST_BY_AN_EIGHTH(a, b) ((size_t)(a)*8 > (size_t)(b)*9)

/* Appends a byte saying which of the nk predictions of a column (columns
   ks[]) follows, its index, and that column: the one that stores
   smallest. Keeping a trial chunk's choice, as put_values does, made
   sqlite3's addresses three times larger: every prediction is tried but
   those that lost by more than an eighth on the last trial (bit c of
   *lost): the last (the costliest) when it lost, the others when it won
   (churn: 68 -> 61 ns a record; putting out every loser took 59, but
   python3's chunks 0.130 -> 0.143 bytes a record, 0.136 this way). other
   has room for a column. */
static uint8_t *put_best(ZSTD_CCtx *z, uint8_t *o, uint8_t *other, uint64_t *const *col, const uint64_t *any,
                         const int *ks, int nk, uint8_t *lost, size_t n, const struct column_work *w)
{
	uint8_t *end = NULL;
	size_t len[8];
	for (int c = 0; c < nk; c++) {
		len[c] = SIZE_MAX;
		if (!w->trial && (*lost >> c & 1) && (end || c + 1 < nk)) /* the last when none was tried */
			continue;
		uint8_t *at = end ? other : o;
		*at = (uint8_t)c;
		uint8_t *e = put_values(z, at + 1, col[ks[c]], n, any[ks[c]], &w->choice[ks[c]], w);
		len[c] = (size_t)(e - at);
		if (end && e - at >= end - o)
			continue;
		if (end)
			memcpy(o, other, (size_t)(e - other));
		end = o + (e - at);
	}
	if (w->trial) /* the others are out only when the last won: python3's flip between them */
		for (int c = 0; c < nk; c++)
			*lost = (uint8_t)((*lost & ~(1u << c)) |
			                  (LOST_BY_AN_EIGHTH(len[c], end - o) && (c == nk - 1 || *o == nk - 1)) << c);
	return end;
}

/* Fills the column ADDRESS_REUSED from the records' usable sizes and
   addresses (columns C_USABLE_TMP and C_ADDRESS_TMP) and the deltas of
   C_ADDRESS; *any gets its values or'ed. grouping has room for
   sizes_room(n). Returns 1, 0 when an address does not fit its values
   (the column is not to be used), or -1 when out of memory. */
static int reused_column(uint64_t *const *col, size_t n, uint32_t *grouping, uint64_t *any)
{
	struct sizes g;
	struct reuse_table ru;
	if (sizes_group(&g, col[C_USABLE_TMP], n, grouping) || reuse_empty(&ru, n))
		return -1;
	const uint64_t *address = col[C_ADDRESS_TMP], *delta = col[C_ADDRESS];
	uint64_t *v = col[C_ADDRESS_REUSED], or = 0;
	int fits = 1;
	for (size_t i = 0; i < n; i++) {
		if (i + REUSED_AHEAD < n) /* the table is larger than a cache */
			__builtin_prefetch(&ru.t[reuse_hash(&ru, address[i + REUSED_AHEAD])]);
		struct reuse *last = reuse_slot(&ru, address[i]);
		if (last->gen == ru.gen) {
			size_t j = last->at;
			v[i] = g.size_of[j] == g.size_of[i] ? (uint64_t)(g.slot[i] - g.slot[j] - 1) << 2 | REUSED_SAME
			                                    : (uint64_t)(i - j - 1) << 2 | REUSED_BACK;
		} else {
			fits &= delta[i] >> 62 == 0;
			v[i] = delta[i] << 2 | REUSED_NEW;
		}
		or |= v[i];
		reuse_set(&ru, last, address[i], i);
	}
	*any = or ;
	return fits;
}

int mp_store_encode(const struct mp_alloc_rec *recs, size_t n, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	size_t rows = n ? n : 1, bound = column_bound(rows);
	uint32_t *ord = scratch(SCRATCH_SORTED, rows * sizeof(*ord));
	uint64_t *vals = scratch(SCRATCH_VALUES, C_N * rows * sizeof(*vals));
	uint8_t *varints = scratch(SCRATCH_VARINTS, C_N * rows * VARINT_MAX);
	uint8_t *bytes = scratch(SCRATCH_BYTES, rows * VARINT_MAX + ZSTD_compressBound(rows * VARINT_MAX) + 3 * bound);
	uint8_t *buf = scratch(SCRATCH_OUT, 5 * VARINT_MAX + (STORE_COLUMNS + 1) * (1 + bound));
	struct predict *pr = scratch(SCRATCH_PREDICT, sizeof(*pr));
	ZSTD_CCtx *z = scratch_cctx(); /* NULL: stored raw */
	struct scratch *sc = scratch_of_thread();
	uint32_t *grouping = scratch(SCRATCH_SIZES, sizes_room(rows) * sizeof(uint32_t));
	if (n > UINT32_MAX || !ord || !vals || !varints || !bytes || !buf || !pr || !sc || !grouping ||
	    sort_by_id(recs, n, ord))
		return -1;
	group_by_thread(recs, n, ord, grouping); /* grouping is free until reused_column */
	uint8_t *alt = bytes + rows * VARINT_MAX + ZSTD_compressBound(rows * VARINT_MAX);
	struct column_work w = {bytes,
	                        bytes + rows * VARINT_MAX,
	                        alt,
	                        alt + 2 * bound,
	                        sc->choice,
	                        sc->high,
	                        sc->chunks++ % STORE_TRIAL_EVERY == 0 || n < STORE_TRIAL_BELOW};
	uint8_t *other = w.alt + bound; /* a column's other prediction */
	uint8_t *size_col = buf + 5 * VARINT_MAX + STORE_COLUMNS * (1 + bound), *size_end = size_col; /* C_SIZE's */
	/* The columns of small values (ids, kinds, stacks...) go straight to
	   varints; the others to arrays of values for put_values (writing
	   every column to arrays took the encoding 8 ns a record more). */
	uint64_t *col[C_N];
	uint8_t *v0[C_N], *v[C_N];
	for (int k = 0; k < C_N; k++) {
		col[k] = vals + (size_t)k * rows;
		v0[k] = v[k] = varints + (size_t)k * rows * VARINT_MAX;
	}
	memset(pr, 0, sizeof(*pr));
	uint64_t prev_address = 0, prev_free = 0; /* for the other predictions */
	int kinds_fit = 1;                        /* C_SIZE_KIND holds every record */
	/* One pass over the records, every column at once. */
	uint64_t any[C_N] = {0}; /* each wide column's values or'ed together */
#define SET(k, value) any[k] |= col[k][i] = (value)
#define PUT(k, value) v[k] = mp_put_varint(v[k], (value))
	for (size_t i = 0; i < n; i++) {
		if (i + RECS_AHEAD < n) { /* in free order: a record read in id order misses the cache */
			__builtin_prefetch(&recs[ord[i + RECS_AHEAD]]);
			__builtin_prefetch((const char *)&recs[ord[i + RECS_AHEAD]] + sizeof(*recs) - 1);
		}
		const struct mp_alloc_rec *r = &recs[ord[i]], *b = i ? &recs[ord[i - 1]] : NULL;
		uint64_t alloc = r->alloc_ns / STORE_TICK;
		PUT(C_ID, mp_zigzag((int64_t)(r->id - (b ? b->id : 0))));
		PUT(C_TID, mp_zigzag((int64_t)((uint64_t)r->tid - (b ? b->tid : 0))));
		PUT(C_KIND, r->kind);
		SET(C_SIZE, r->size);
		SET(C_SIZE_KIND, r->size << 4 | r->kind);
		kinds_fit &= r->size >> 60 == 0 && r->kind < 16;
		PUT(C_USABLE, mp_zigzag((int64_t)(r->usable - usable_guess(r->size))));
		uint64_t *of_kind = &pr->stack_of_kind[r->kind];
		PUT(C_STACK, mp_zigzag((int64_t)(r->stack_id - *of_kind)));
		*of_kind = r->stack_id;
		SET(C_ADDRESS, mp_zigzag((int64_t)(r->address - prev_address)));
		prev_address = r->address;
		uint64_t guess = predict_address(pr, r->stack_id, 1);
		SET(C_ADDRESS_BY_STACK, mp_zigzag((int64_t)(r->address - guess)));
		col[C_USABLE_TMP][i] = r->usable;
		col[C_ADDRESS_TMP][i] = r->address;
		saw_address(pr, r->stack_id, r->address);
		SET(C_ALLOC, mp_zigzag((int64_t)(alloc - (b ? b->alloc_ns / STORE_TICK : 0))));
		if (r->free_ns < 0) {
			SET(C_FREE, 0);
			SET(C_FREE_BY_PREVIOUS, 0);
		} else {
			uint64_t freed = (uint64_t)r->free_ns / STORE_TICK;
			SET(C_FREE, 1 + mp_zigzag((int64_t)(freed - alloc)));
			SET(C_FREE_BY_PREVIOUS, 1 + mp_zigzag((int64_t)(freed - prev_free)));
			prev_free = freed;
		}
		PUT(C_POOL, r->pool);
		any[C_POOL] |= r->pool;
	}
#undef SET
#undef PUT
	int reused = w.trial || !(sc->lost[0] >> ADDRESS_REUSED & 1)
	                     ? reused_column(col, n, grouping, &any[C_ADDRESS_REUSED])
	                     : 0;
	if (reused < 0)
		return -1;
	int pools = any[C_POOL] != 0;
	uint8_t *o = buf;
	*o++ = STORE_FORMAT_TICKS;
	o = mp_put_varint(o, n);
	o = mp_put_varint(o, pools ? STORE_COLUMNS : STORE_COLUMNS - 1);
	o = mp_put_varint(o, STORE_TICK);
	for (int k = 0; k <= C_POOL; k++) {
		if (k == C_POOL && !pools)
			break;
		/* The address: from the previous record's, from the same
		   stack's last block, or a freed block's; the free time: from
		   the allocation time, or from the previous freed record's free
		   time (blocks freed together, allocated one after another: C++
		   maps 1.1 -> 0.4 bytes a record); whichever stores smallest. */
		if (k == C_ADDRESS) {
			static const int ks[] = {C_ADDRESS, C_ADDRESS_BY_STACK, C_ADDRESS_REUSED};
			o = put_best(z, o, other, col, any, ks, reused ? 3 : 2, &sc->lost[0], n, &w);
			continue;
		}
		if (k == C_FREE) {
			static const int ks[] = {C_FREE, C_FREE_BY_PREVIOUS};
			o = put_best(z, o, other, col, any, ks, 2, &sc->lost[1], n, &w);
			continue;
		}
		/* The size alone, or with the kind in its low 4 bits and a
		   column of zeros for the kinds, whichever stores the two
		   smaller (churn's random kinds and sizes: 1.476 -> 1.321 bytes a
		   record);
		   chosen here, before the kinds' column. */
		if (k == C_KIND) {
			uint8_t *lost = &sc->lost[2];
			int plain = !kinds_fit || w.trial || !(*lost & 1),
			    with_kinds = kinds_fit && (w.trial || !(*lost & 2));
			uint8_t *kinds_end = o;
			size_t plain_len = SIZE_MAX, with_len = SIZE_MAX;
			if (plain) {
				*o = LAYOUT_VARINTS;
				kinds_end = put_packed(z, o + 1, v0[k], (size_t)(v[k] - v0[k]), &w, w.high[k]);
				*size_col = 0;
				size_end =
				        put_values(z, size_col + 1, col[C_SIZE], n, any[C_SIZE], &w.choice[C_SIZE], &w);
				plain_len = (size_t)((kinds_end - o) + (size_end - size_col));
			}
			uint8_t *zeros_end = kinds_end, *other_end = other;
			if (with_kinds) {
				memset(w.bytes, 0, n);
				*kinds_end = LAYOUT_VARINTS;
				zeros_end = put_bytes(z, kinds_end + 1, w.bytes, n, w.zbuf, STORE_LEVEL);
				*other = 1;
				other_end = put_values(z, other + 1, col[C_SIZE_KIND], n, any[C_SIZE_KIND],
				                       &w.choice[C_SIZE_KIND], &w);
				with_len = (size_t)((zeros_end - kinds_end) + (other_end - other));
			}
			if (w.trial && kinds_fit)
				*lost = (uint8_t)(LOST_BY_AN_EIGHTH(plain_len, with_len) |
				                  LOST_BY_AN_EIGHTH(with_len, plain_len) << 1);
			if (plain_len <= with_len) {
				o = kinds_end;
				continue;
			}
			memmove(o, kinds_end, (size_t)(zeros_end - kinds_end));
			o += zeros_end - kinds_end;
			memcpy(size_col, other, (size_t)(other_end - other));
			size_end = size_col + (other_end - other);
			continue;
		}
		if (k == C_SIZE) {
			memcpy(o, size_col, (size_t)(size_end - size_col));
			o += size_end - size_col;
			continue;
		}
		if (k == C_ALLOC) {
			o = put_values(z, o, col[k], n, any[k], &w.choice[k], &w);
			continue;
		}
		*o = LAYOUT_VARINTS;
		o = put_packed(z, o + 1, v0[k], (size_t)(v[k] - v0[k]), &w, w.high[k]);
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

/* One block of bytes at *p (mode, lengths, bytes), at most max bytes:
   the bytes in *col (in place, or decompressed into buf, which has room
   for max), *len of them. Returns 0, or -1 when damaged. */
static int get_bytes(const uint8_t **p, const uint8_t *end, size_t max, uint8_t *buf, const uint8_t **col, size_t *len)
{
	const uint8_t *q = *p;
	uint64_t raw_len, stored;
	if (q >= end)
		return -1;
	uint8_t mode = *q++;
	if (mp_get_varint(&q, end, &raw_len) || mp_get_varint(&q, end, &stored) || raw_len > max ||
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
	*len = (size_t)raw_len;
	*p = q + stored;
	return 0;
}

/* One column of count values at *p into v: in format 5 a layout byte and
   varints or planes, in format 4 varints. buf has room for count
   varints. Returns 0, or -1 when damaged. */
static int get_values(const uint8_t **p, const uint8_t *end, int format, size_t count, uint8_t *buf, uint64_t *v)
{
	uint8_t layout = LAYOUT_VARINTS;
	if (format == STORE_FORMAT_LAYOUTS) {
		if (*p >= end)
			return -1;
		layout = *(*p)++;
	}
	const uint8_t *col;
	size_t len;
	if (layout == LAYOUT_VARINTS) {
		if (get_bytes(p, end, count * VARINT_MAX, buf, &col, &len))
			return -1;
		const uint8_t *q = col, *qend = col + len;
		for (size_t i = 0; i < count; i++)
			if (mp_get_varint(&q, qend, &v[i]))
				return -1;
		return q == qend ? 0 : -1;
	}
	if (layout == LAYOUT_RUNS) {
		uint64_t runs;
		const uint8_t *lengths;
		size_t lengths_len;
		if (mp_get_varint(p, end, &runs) || runs > count ||
		    get_bytes(p, end, count * VARINT_MAX, buf, &col, &len))
			return -1;
		size_t used = col == buf ? len : 0; /* the lengths go after the values in buf */
		if (get_bytes(p, end, count * VARINT_MAX - used, buf + used, &lengths, &lengths_len))
			return -1;
		const uint8_t *q = col, *qend = col + len, *l = lengths, *lend = lengths + lengths_len;
		size_t i = 0;
		for (uint64_t r = 0; r < runs; r++) {
			uint64_t value, more;
			if (mp_get_varint(&q, qend, &value) || mp_get_varint(&l, lend, &more) || more >= count - i)
				return -1;
			for (uint64_t k = 0; k <= more; k++)
				v[i++] = value;
		}
		return q == qend && l == lend && i == count ? 0 : -1;
	}
	if (layout != LAYOUT_PLANES || *p >= end)
		return -1;
	unsigned width = *(*p)++;
	if (width < 1 || width > 8)
		return -1;
	memset(v, 0, count * sizeof(*v));
	for (unsigned k = 0; k < width; k++) {
		if (get_bytes(p, end, count, buf, &col, &len) || len != count)
			return -1;
		for (size_t i = 0; i < count; i++)
			v[i] |= (uint64_t)col[i] << (8 * k);
	}
	return 0;
}

int mp_store_decode(const void *data, size_t len, struct mp_alloc_rec *recs, size_t count)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t n, ncols;
	if (!data || len < 4)
		return -1;
	int format = *p;
	if (format != STORE_FORMAT_COLUMNS && format != STORE_FORMAT_LAYOUTS && format != STORE_FORMAT_TICKS)
		return decode_v2(data, len, recs, count);
	p++;
	uint64_t tick = STORE_TIME_UNIT;
	if (mp_get_varint(&p, end, &n) || n != count || mp_get_varint(&p, end, &ncols) ||
	    (ncols != STORE_COLUMNS && ncols != STORE_COLUMNS - 1) ||
	    (format == STORE_FORMAT_TICKS && (mp_get_varint(&p, end, &tick) || !tick || tick > STORE_TICK_MAX)))
		return -1;
	size_t rows = count ? count : 1;
	uint8_t *buf = scratch(SCRATCH_DECODE, rows * VARINT_MAX);
	uint64_t *vals = scratch(SCRATCH_VALUES, C_N * rows * sizeof(*vals));
	struct predict *pr = scratch(SCRATCH_PREDICT, sizeof(*pr));
	if (!buf || !vals || !pr)
		return -1;
	/* Every column into its values, then the records in one pass. */
	uint64_t *col[C_N];
	int by_stack = 0, by_previous = 0, with_kinds = 0;
	for (int k = 0; k <= C_POOL; k++) {
		col[k] = vals + (size_t)k * rows;
		if (k == C_POOL && ncols != STORE_COLUMNS) {
			memset(col[k], 0, count * sizeof(uint64_t));
			break;
		}
		if (k == C_ADDRESS &&
		    (p >= end ||
		     (by_stack = *p++) > (format == STORE_FORMAT_TICKS ? ADDRESS_REUSED : ADDRESS_BY_STACK)))
			return -1;
		if (k == C_FREE && format != STORE_FORMAT_COLUMNS && (p >= end || (by_previous = *p++) > 1))
			return -1;
		if (k == C_SIZE && format == STORE_FORMAT_TICKS && (p >= end || (with_kinds = *p++) > 1))
			return -1;
		if (get_values(&p, end, format == STORE_FORMAT_COLUMNS ? format : STORE_FORMAT_LAYOUTS, count, buf,
		               col[k]))
			return -1;
	}
	if (p != end)
		return -1;
	for (size_t i = 0; with_kinds && i < count; i++) { /* the kinds out of the sizes, once */
		col[C_KIND][i] += col[C_SIZE][i] & 15;
		col[C_SIZE][i] >>= 4;
	}
	memset(pr->stack_of_kind, 0, sizeof(pr->stack_of_kind));
	memset(pr->by_stack, 0, sizeof(pr->by_stack));
	pr->prev_address = 0;
	struct sizes g = {0};
	if (by_stack == ADDRESS_REUSED) { /* the usable sizes first, for the candidates */
		uint32_t *grouping =
		        count <= UINT32_MAX ? scratch(SCRATCH_SIZES, sizes_room(rows) * sizeof(uint32_t)) : NULL;
		uint64_t *us = vals + (size_t)C_ADDRESS_REUSED * rows;
		for (size_t i = 0; grouping && i < count; i++)
			us[i] = usable_guess(col[C_SIZE][i]) + (uint64_t)mp_unzigzag(col[C_USABLE][i]);
		if (!grouping || sizes_group(&g, us, count, grouping))
			return -1;
	}
	/* The addresses so far, packed: a record's 72 bytes far back missed
	   the cache, 10 ns a record. */
	uint64_t *addresses = vals + (size_t)C_ADDRESS_TMP * rows;
	uint64_t id = 0, tid = 0, alloc = 0, freed = 0;
	for (size_t i = 0; i < count; i++) {
		struct mp_alloc_rec *r = &recs[i];
		uint64_t kind = col[C_KIND][i], free = col[C_FREE][i];
		if (kind >= 256 || col[C_POOL][i] > UINT32_MAX)
			return -1;
		r->id = id += (uint64_t)mp_unzigzag(col[C_ID][i]);
		r->tid = (uint32_t)(tid += (uint64_t)mp_unzigzag(col[C_TID][i]));
		r->kind = (uint8_t)kind;
		r->size = col[C_SIZE][i];
		r->usable = usable_guess(r->size) + (uint64_t)mp_unzigzag(col[C_USABLE][i]);
		r->stack_id = pr->stack_of_kind[kind] += (uint64_t)mp_unzigzag(col[C_STACK][i]);
		uint64_t a = col[C_ADDRESS][i];
		size_t j;
		if (by_stack != ADDRESS_REUSED)
			r->address = predict_address(pr, r->stack_id, by_stack) + (uint64_t)mp_unzigzag(a);
		else if ((a & 3) == REUSED_NEW)
			r->address = pr->prev_address + (uint64_t)mp_unzigzag(a >> 2);
		else if ((j = reused_from(&g, i, a)) < i)
			r->address = addresses[j];
		else
			return -1;
		if (by_stack == ADDRESS_REUSED)
			addresses[i] = r->address;
		saw_address(pr, r->stack_id, r->address);
		alloc += (uint64_t)mp_unzigzag(col[C_ALLOC][i]);
		r->alloc_ns = alloc * tick;
		if (free)
			freed = (by_previous ? freed : alloc) + (uint64_t)mp_unzigzag(free - 1);
		r->free_ns = free == 0 ? -1 : (int64_t)(freed * tick);
		r->pool = (uint32_t)col[C_POOL][i];
	}
	return 0;
}
