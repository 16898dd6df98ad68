/* Writing a trace while the programs run (see cli/finish.h).
 *
 * Each program image is replayed on its own: its threads' event streams are
 * merged by the stamp the target put on every event, which orders a free
 * before the allocation that reuses its address. An event is replayed once
 * no stream can still deliver an earlier one: every quiet stream's mark
 * (its last event, or the flusher's MP_EV_MARK) must have passed it. The
 * replay matches frees to allocations, keeps per-site figures, finds the
 * peak (the site figures at the peak are kept lazily: a site copies its
 * live bytes aside the first time it changes after a new peak, so a new
 * peak costs O(1)), and stores every allocation in the columnar store.
 * A fork child starts from its parent's live blocks at the fork point,
 * which the parent announced (MP_MSG_FORK) before replaying past it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gnu/libc-version.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "encoder.h"
#include "env.h"
#include "finish.h"
#include "fold.h"
#include "store.h"
#include "symbolize.h"
#include "tracedb.h"
#include "util.h"

#define SAMPLE_EVERY_NS 10000000u
#define MP_UNLIKELY_F(x) __builtin_expect(!!(x), 0)
#define NONE UINT32_MAX

/* --- a map from 64-bit keys to 32-bit values (linear probing) --------- */

/* 12 bytes, packed: the live table is most of the collector's memory
   (python3's 2.9 M live blocks: collector 384 -> 345 MiB, no slower). */
struct __attribute__((packed)) slot {
	uint64_t key;
	uint32_t val; /* NONE: empty */
};

/* Key and value share a slot: one cache miss per look-up in big tables. */
struct map {
	struct slot *s;
	size_t mask, count;
	int by_address; /* keys are heap addresses: keep neighbours together */
};

/* Heap addresses hash to slots in their own order within 256 MiB (blocks
   allocated together sit together, so the live table is walked with few
   cache misses however big it is); other keys are mixed. */
static inline size_t map_hash(const struct map *m, uint64_t k)
{
	if (m->by_address)
		return (size_t)((k >> 4) + (k >> 28) * 0x9e3779b1ull);
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

static int map_init(struct map *m, size_t cap)
{
	int by_address = m->by_address;
	memset(m, 0, sizeof(*m));
	m->by_address = by_address;
	m->mask = cap - 1;
	m->count = 0;
	m->s = malloc(cap * sizeof(*m->s));
	if (!m->s)
		return -1;
	for (size_t i = 0; i < cap; i++)
		m->s[i].val = NONE;
	return 0;
}

static void map_free(struct map *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

static inline uint32_t map_get(const struct map *m, uint64_t k)
{
	for (size_t i = map_hash(m, k) & m->mask;; i = (i + 1) & m->mask) {
		if (m->s[i].val == NONE)
			return NONE;
		if (m->s[i].key == k)
			return m->s[i].val;
	}
}

static int map_grow(struct map *m);

/* Inserts k (which must be absent). Returns 0 or -1. The table is kept
   at most half full: addresses keep their order in it, and dense heap
   areas that share slots make long runs when fuller (three quarters:
   python3's trace took 8 to 60 s instead of 2.3). */
static inline int map_put(struct map *m, uint64_t k, uint32_t v)
{
	if ((m->count + 1) * 2 > m->mask + 1 && map_grow(m))
		return -1;
	size_t i = map_hash(m, k) & m->mask;
	while (m->s[i].val != NONE)
		i = (i + 1) & m->mask;
	m->s[i].key = k;
	m->s[i].val = v;
	m->count++;
	return 0;
}

static int map_grow(struct map *m)
{
	struct map old = *m;
	if (map_init(m, (old.mask + 1) * 2)) {
		*m = old;
		return -1;
	}
	for (size_t i = 0; i <= old.mask; i++)
		if (old.s[i].val != NONE)
			map_put(m, old.s[i].key, old.s[i].val);
	map_free(&old);
	return 0;
}

/* Removes k, returning its value or NONE (backward-shift deletion). */
static inline uint32_t map_del(struct map *m, uint64_t k)
{
	size_t i = map_hash(m, k) & m->mask;
	for (;; i = (i + 1) & m->mask) {
		if (m->s[i].val == NONE)
			return NONE;
		if (m->s[i].key == k)
			break;
	}
	uint32_t v = m->s[i].val;
	size_t j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (m->s[j].val == NONE)
			break;
		size_t home = map_hash(m, m->s[j].key) & m->mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->s[i] = m->s[j];
			i = j;
		}
	}
	m->s[i].val = NONE;
	m->count--;
	return v;
}

/* --- growable arrays --------------------------------------------------- */

#define VEC(T) \
	struct { \
		T *v; \
		size_t n, cap; \
	}

static int vec_reserve(void **v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *nv = realloc(*v, ncap * elem);
	if (!nv)
		return -1;
	*v = nv;
	*cap = ncap;
	return 0;
}

#define VEC_PUSH(vec, val) \
	(vec_reserve((void **)&(vec).v, &(vec).cap, (vec).n + 1, sizeof(*(vec).v)) ? -1 \
	                                                                           : ((vec).v[(vec).n++] = (val), 0))

/* --- the trace and the replay of each image ------------------------------ */

struct frame {
	uint32_t module; /* NONE: no module */
	uint8_t fold;    /* its function is folded: 0 not known yet, 1 no, 2 yes */
	uint64_t addr;   /* offset in the module, or absolute */
};

struct node {
	uint32_t parent, frame;
};

struct block {
	uint64_t id, addr, size, usable, alloc_ns;
	uint32_t stack, tid, site, thread; /* site: into pool_sites for a pool's block */
	uint32_t pool;                     /* the pool id of a pool's block (memprof.h), else 0 */
	uint8_t kind, inherited, reach;    /* reach: the leak scan's finding, REACH_* */
};

/* What a program told memprof (memprof.h): its pools' figures, kept
   apart from the heap's, phases and pauses. */
struct pool_fig {
	uint32_t id;
	int64_t allocations, frees, bytes, live_bytes, peak_bytes, leaked_bytes, leaked_blocks, unmatched;
};

struct pool_site {
	uint32_t pool, stack; /* pool: index into the replay's pools */
	int64_t allocations, frees, bytes, leaked_bytes, leaked_blocks;
};

struct phase {
	const char *name; /* the image's control's, or the trace's --phase-after */
	int outside;      /* from --phase-after */
	uint64_t time;    /* CLOCK_MONOTONIC ns */
	uint64_t first_id;
	int64_t allocations, bytes; /* of the heap, made during the phase */
};

struct pause {
	uint64_t start, end; /* end 0: not resumed */
	int64_t unrecorded_frees;
};

enum { REACH_UNKNOWN = 0, REACH_UNREACHABLE = 1, REACH_REACHABLE = 2 };

/* A live anonymous mapping: its page-rounded extent and its block. */
struct mapping {
	uint64_t start, end;
	uint32_t block;
};

struct site {
	uint32_t stack;
	uint64_t epoch;
	int64_t allocations, frees, bytes, live_bytes, live_blocks, peak_bytes, peak_blocks, leaked_bytes,
	        leaked_blocks, temporary;
	int64_t reach[4]; /* leaked and scanned: unreachable bytes, blocks, reachable bytes, blocks */
};

/* A block sent to the leak scan: its slot in blocks, and its id to tell
   whether the slot still holds it. */
struct scan_ent {
	uint64_t id;
	uint32_t bi;
};

/* Blocks released by the wrong function, per allocating and deallocating
   stack (NONE: none recorded) and the two kinds. */
struct mismatch {
	uint32_t alloc_stack, free_stack;
	uint8_t alloc_kind, free_kind;
	int64_t count, bytes;
};

struct thread_fig {
	uint32_t tid;
	int64_t allocations, frees, bytes, leaked_bytes, leaked_blocks, temporary;
	int64_t events;                                 /* allocations, frees and revivals replayed */
	uint64_t cost_cycles, cost_samples, cost_waits; /* the recording's own time, sampled (MP_EV_COST) */
	uint64_t last_alloc_id; /* the thread's latest allocation: freed before the next, it is temporary */
};

/* The replay position in one stream of an image. */
struct cursor {
	size_t stream;          /* index into the image's streams */
	struct mp_chunk *chunk; /* being decoded (taken off the stream's queue) */
	struct mp_chunk_reader rd;
	struct mp_event_rec ev;
	int has; /* ev is the stream's next event */
	int in_heap;
	int ended;              /* MP_EV_END seen: nothing more will come */
	uint64_t mark;          /* every event of the stream up to this stamp has been decoded */
	VEC(uint32_t) stackmap; /* stream-local stack id -> node */
	uint32_t thread;        /* index into threads */
	int pending;            /* a freed block kept until the stream's next event */
	struct block pend;
	uint64_t pend_free_ns;
	int pend_temporary;
	int unmap_hit; /* the stream's last MP_FREE_MUNMAP released recorded memory */
};

/* The live blocks of a parent at one of its fork points. */
struct snapshot {
	uint64_t parent_image, seq;
	uint32_t parent_pid;
	VEC(struct block) blocks;
	struct snapshot *next;
};

struct mp_replay {
	size_t idx;
	int64_t process_id;
	int started, finalized, dirty;
	VEC(struct cursor *) curs;
	VEC(struct cursor *) heap; /* cursors with an event, by its stamp */
	size_t nmods_sorted;
	size_t next_fork; /* into the image's fork points */
	VEC(struct block) blocks;
	VEC(uint32_t) free_blocks;
	struct map live;
	struct map internal; /* blocks the profiler's own work got (MP_EV_INTERNAL) */
	VEC(struct site) sites;
	struct map site_map;
	VEC(struct thread_fig) threads;
	VEC(struct mismatch) mismatches;
	struct map mismatch_map; /* a key of the four -> the first entry with it */
	uint64_t epoch;
	int64_t live_bytes, live_usable, peak_bytes, peak_usable, peak_time, allocations, frees, allocated, temporary,
	        unmatched, lost;
	uint64_t last_sample, last_time;
	size_t next_control, next_outside; /* into the image's controls, the trace's outside phases */
	int paused;
	VEC(struct phase) phases;
	VEC(struct pause) pauses;
	struct map pool_live;
	VEC(struct pool_fig) pools;
	struct map pool_map; /* pool id -> index into pools */
	VEC(struct pool_site) pool_sites;
	struct map pool_site_map; /* pool index << 32 | stack -> index into pool_sites */
	struct mp_alloc_rec *recs;
	size_t nrecs;
	/* Anonymous mappings, apart from the heap: their own sites and figures,
	   and the live ones by address (descending, see maps_below). */
	VEC(struct site) msites;
	struct map msite_map;
	VEC(struct mapping) maps;
	uint64_t map_epoch;
	int64_t map_live, map_peak, map_peak_time, map_calls, unmap_calls, map_bytes;
	/* Resident-set samples: the next one of the image's to replay, the
	   largest (and when), the kernel's high-water mark. */
	size_t next_rss;
	int have_rss;
	int64_t rss_top, rss_top_time, rss_hwm;
	/* The leak scan: the blocks sent (by address), how many results came. */
	int scan_state; /* SCAN_* */
	uint64_t scan_stamp, scan_got, scan_ns, scan_time;
	struct scan_ent *scan;
	size_t nscan;
};

enum { SCAN_NONE = 0, SCAN_SENT = 1, SCAN_DONE = 2 };

struct mp_trace {
	struct mp_collector *c;
	struct mp_tracedb w;
	char *output;
	struct mp_trace_info info;
	char **command; /* owned copy of info.command */
	int calibrated;
	double ns_per_tick; /* TSC to ns: mono = cal_mono + (tsc - cal_tsc) * ns_per_tick */
	uint64_t t0;
	int have_t0;
	uint64_t next_alloc_id;
	int64_t bad_chunks;
	VEC(struct frame) frames; /* index 0 unused: frame id 0 = truncated */
	struct map frame_map;
	VEC(struct node) nodes; /* index 0 = root */
	struct map node_map;
	size_t frames_written, nodes_written;
	uint32_t inherited_frame, inherited_node; /* inherited_stack()'s; 0: not made yet */
	struct mp_sym_worker *sym;                /* resolving frames while the program runs */
	struct mp_encoder *enc;                   /* encoding chunks of allocations, likewise */
	struct mp_fold fold;                      /* functions folded out of stacks (cli/fold.h) */
	struct mp_symbolizer *fold_sym;           /* their names, from symbol tables */
	size_t frames_queued;
	struct snapshot *snapshots;
	struct mp_phase_after *outside; /* --phase-after, by time; names owned */
	size_t noutside;
	uint64_t last_checkpoint;
	size_t chunk_bytes; /* of allocation chunks written since then */
	int64_t budget;     /* events to replay before looking for messages again */
	int more;           /* the budget ran out with work left */
	size_t next_image;  /* where the next round begins: after the image that used the last budget up */
	int failed;
	char err[256];
};

typedef struct mp_trace trace_t;

#define CHECKPOINT_EVERY_NS 1000000000ull
/* Or sooner, once this much chunk data waits in the WAL: copying it into
   the file while the program runs leaves less to do when it ends. */
#define CHECKPOINT_EVERY_BYTES (8u << 20)
/* The TSC rate is measured over this much before the first replay. */
#define CALIBRATE_NS 50000000ull
/* The one frame of the stack that stands for a fork child's inherited
   blocks at sites where it neither allocated nor freed (write_image): no
   module, this address, the function INHERITED_FUNCTION. */
#define IP_INHERITED ((uint64_t)2)
#define INHERITED_FUNCTION "[inherited at the fork]"

/* Events replayed between two looks at the socket. */
#define REPLAY_BUDGET 16384

static int terr(trace_t *f, const char *msg)
{
	if (!f->failed)
		snprintf(f->err, sizeof(f->err), "%s", msg);
	f->failed = 1;
	return -1;
}

/* --- stacks ------------------------------------------------------------ */

static int mod_cmp(const void *a, const void *b)
{
	const struct mp_image_module *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static uint32_t frame_intern(trace_t *f, const struct mp_image *im, uint64_t ip)
{
	if (ip == MP_IP_TRUNCATED)
		return 0;
	uint32_t module = NONE;
	uint64_t addr = ip;
	size_t lo = 0, hi = im->nmods;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (im->mods[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Modules may nest (a reloaded object): check a few before. */
	for (size_t k = lo; k-- > 0 && k + 4 >= lo;) {
		if (ip >= im->mods[k].start && ip < im->mods[k].end) {
			module = im->mods[k].module;
			addr = ip - im->mods[k].bias;
			break;
		}
	}
	uint64_t key = ((uint64_t)(module == NONE ? 0 : module + 1) << 47) ^ addr;
	uint32_t id = map_get(&f->frame_map, key);
	if (id != NONE && f->frames.v[id].module == module && f->frames.v[id].addr == addr)
		return id;
	if (id != NONE) /* key collision (addresses above 2^47): linear fallback */
		for (size_t i = 1; i < f->frames.n; i++)
			if (f->frames.v[i].module == module && f->frames.v[i].addr == addr)
				return (uint32_t)i;
	id = (uint32_t)f->frames.n;
	if (VEC_PUSH(f->frames, ((struct frame){module, 0, addr})) ||
	    (map_get(&f->frame_map, key) == NONE && map_put(&f->frame_map, key, id)))
		return terr(f, "out of memory"), 0;
	return id;
}

/* The stack of the frame INHERITED_FUNCTION, made once and kept out of
   the frame and node maps: no unwound address, not even 2, gets it. */
static uint32_t inherited_stack(trace_t *f)
{
	if (!f->inherited_node) {
		uint32_t frame = (uint32_t)f->frames.n, node = (uint32_t)f->nodes.n;
		if (VEC_PUSH(f->frames, ((struct frame){NONE, 0, IP_INHERITED})) ||
		    VEC_PUSH(f->nodes, ((struct node){0, frame})))
			return terr(f, "out of memory"), 0;
		f->inherited_frame = frame;
		f->inherited_node = node;
	}
	return f->inherited_node;
}

/* Whether frame id is in a function folded out of stacks. Looked up once
   per frame, in the symbol table only (the full symbols come at the end). */
static int frame_folds(trace_t *f, uint32_t id)
{
	if (!id || !f->fold.n || f->frames.v[id].module == NONE)
		return 0;
	if (!f->frames.v[id].fold) {
		const struct frame *fr = &f->frames.v[id];
		const struct mp_module *m = &f->c->modules[fr->module];
		if (!f->fold_sym)
			f->fold_sym = mp_sym_new();
		const char *fn = f->fold_sym ? mp_sym_function(f->fold_sym, m->path, m->build_id, m->build_id_len,
		                                               fr->addr ? fr->addr - 1 : 0)
		                             : NULL;
		f->frames.v[id].fold = mp_fold_match(&f->fold, fn) ? 2 : 1;
	}
	return f->frames.v[id].fold == 2;
}

/* Returns the trie node of a stack given innermost first, without its
   innermost frames in folded functions (at least one frame stays). Stacks
   that differ only there become one: their sites are one site. */
static uint32_t stack_intern(trace_t *f, const struct mp_image *im, const uint64_t *ips, uint32_t depth)
{
	uint32_t skip = 0;
	while (skip + 1 < depth && frame_folds(f, frame_intern(f, im, ips[skip])))
		skip++;
	uint32_t node = 0;
	for (uint32_t i = depth; i-- > skip;) {
		uint32_t frame = frame_intern(f, im, ips[i]);
		uint64_t key = ((uint64_t)node << 32) | frame;
		uint32_t next = map_get(&f->node_map, key);
		if (next == NONE) {
			next = (uint32_t)f->nodes.n;
			if (VEC_PUSH(f->nodes, ((struct node){node, frame})) || map_put(&f->node_map, key, next))
				return terr(f, "out of memory"), 0;
		}
		node = next;
	}
	return node;
}

/* --- figures of one image ------------------------------------------------ */

static struct site *site_get(trace_t *f, struct mp_replay *r, uint32_t stack, uint32_t *idx)
{
	uint32_t i = map_get(&r->site_map, stack);
	if (i == NONE) {
		i = (uint32_t)r->sites.n;
		struct site s = {.stack = stack, .epoch = r->epoch};
		if (VEC_PUSH(r->sites, s) || map_put(&r->site_map, stack, i)) {
			terr(f, "out of memory");
			return NULL;
		}
	}
	*idx = i;
	return &r->sites.v[i];
}

/* Before a site's live figures change: keep their value at the last peak. */
static inline void site_touch(struct mp_replay *r, struct site *s)
{
	if (s->epoch != r->epoch) {
		s->peak_bytes = s->live_bytes;
		s->peak_blocks = s->live_blocks;
		s->epoch = r->epoch;
	}
}

/* Stores the chunks encoded by now (all of them, with wait). */
static int store_chunks(trace_t *f, int wait)
{
	struct mp_encoded ch;
	int got;
	while (f->enc && (got = mp_encoder_get(f->enc, wait, &ch)) != 0) {
		if (got < 0)
			return terr(f, "out of memory");
		int rc = mp_tracedb_chunk(&f->w, ch.process_id, (int64_t)ch.count, ch.data, ch.len);
		free(ch.data);
		f->chunk_bytes += ch.len;
		if (rc)
			return terr(f, f->w.err);
	}
	return 0;
}

/* Hands the replay's records to the encoder, which gives it an empty
   buffer (started here, once the program runs: a thread started before
   would be in the process `memprof run` forks). */
static int flush_recs(trace_t *f, struct mp_replay *r)
{
	if (!r->nrecs)
		return 0;
	if ((!f->enc && !(f->enc = mp_encoder_new())) || mp_encoder_put(f->enc, r->process_id, &r->recs, r->nrecs))
		return terr(f, "out of memory");
	r->nrecs = 0;
	return store_chunks(f, 0);
}

static uint64_t rel(trace_t *f, uint64_t t)
{
	return t > f->t0 ? t - f->t0 : 0;
}

static int emit(trace_t *f, struct mp_replay *r, const struct block *b, int64_t free_ns)
{
	struct mp_alloc_rec *rec = &r->recs[r->nrecs++];
	rec->id = b->id;
	rec->tid = b->tid;
	rec->kind = b->kind;
	rec->size = b->size;
	rec->usable = b->usable;
	rec->address = b->addr;
	rec->stack_id = b->stack;
	rec->alloc_ns = rel(f, b->alloc_ns);
	rec->free_ns = free_ns < 0 ? -1 : (int64_t)rel(f, (uint64_t)free_ns);
	rec->pool = b->pool;
	return r->nrecs == MP_STORE_CHUNK_RECORDS ? flush_recs(f, r) : 0;
}

static void sample(trace_t *f, struct mp_replay *r, uint64_t t)
{
	if (mp_tracedb_sample(&f->w, r->process_id, (int64_t)rel(f, t), r->live_bytes, r->live_usable))
		terr(f, f->w.err);
	r->last_sample = t;
}

/* Puts b in a free slot of r->blocks, or in a new one at the end: *bi.
   Returns 0, or -1 when out of memory. */
static int block_put(struct mp_replay *r, const struct block *b, uint32_t *bi)
{
	if (r->free_blocks.n) {
		*bi = r->free_blocks.v[--r->free_blocks.n];
		r->blocks.v[*bi] = *b;
		return 0;
	}
	*bi = (uint32_t)r->blocks.n;
	return VEC_PUSH(r->blocks, *b);
}

static int live_insert(trace_t *f, struct mp_replay *r, const struct block *b)
{
	uint32_t bi;
	if (block_put(r, b, &bi))
		return terr(f, "out of memory");
	if (map_put(&r->live, b->addr, bi))
		return terr(f, "out of memory");
	return 0;
}

/* Adds a live block's bytes to the figures (allocation or revival). */
static void account_live(struct mp_replay *r, struct block *b, int sign)
{
	struct site *s = &r->sites.v[b->site];
	site_touch(r, s);
	s->live_bytes += sign * (int64_t)b->size;
	s->live_blocks += sign;
	r->live_bytes += sign * (int64_t)b->size;
	r->live_usable += sign * (int64_t)b->usable;
}

static void check_peak(trace_t *f, struct mp_replay *r, uint64_t t)
{
	if (r->live_bytes > r->peak_bytes) {
		r->peak_bytes = r->live_bytes;
		r->peak_usable = r->live_usable;
		r->peak_time = (int64_t)t;
		r->epoch++;
	}
	if (t >= r->last_sample + SAMPLE_EVERY_NS)
		sample(f, r, t);
}

/* The stream's last freed block is final once its next event comes (a
   failed realloc revives it). */
static void settle(trace_t *f, struct mp_replay *r, struct cursor *cur)
{
	if (cur->pending) {
		cur->pending = 0;
		if (!cur->pend.inherited) /* the parent's record holds it */
			emit(f, r, &cur->pend, (int64_t)cur->pend_free_ns);
	}
}

static void on_alloc(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev,
                     const struct mp_stream *st)
{
	if (MP_UNLIKELY_F(r->internal.count))
		map_del(&r->internal, ev->ptr); /* its free went unseen */
	uint32_t old = map_del(&r->live, ev->ptr);
	if (old != NONE) { /* a free we never saw: end the old block here */
		struct block *ob = &r->blocks.v[old];
		account_live(r, ob, -1);
		if (!ob->inherited)
			emit(f, r, ob, (int64_t)ev->time);
		VEC_PUSH(r->free_blocks, old);
	}
	struct block b = {
	        .id = ++f->next_alloc_id,
	        .addr = ev->ptr,
	        .size = ev->size,
	        .usable = ev->size + ev->slack,
	        .alloc_ns = ev->time,
	        .stack = ev->stack < cur->stackmap.n ? cur->stackmap.v[ev->stack] : 0,
	        .tid = st->tid,
	        .thread = cur->thread,
	        .kind = ev->kind,
	};
	struct site *s = site_get(f, r, b.stack, &b.site);
	if (!s)
		return;
	s->allocations++;
	s->bytes += (int64_t)b.size;
	struct thread_fig *th = &r->threads.v[cur->thread];
	th->allocations++;
	th->bytes += (int64_t)b.size;
	th->last_alloc_id = b.id;
	r->allocations++;
	r->allocated += (int64_t)b.size;
	if (MP_UNLIKELY_F(r->phases.n)) {
		r->phases.v[r->phases.n - 1].allocations++;
		r->phases.v[r->phases.n - 1].bytes += (int64_t)b.size;
	}
	if (live_insert(f, r, &b))
		return;
	account_live(r, &b, +1);
	check_peak(f, r, ev->time);
}

static void mismatch_add(trace_t *f, struct mp_replay *r, const struct block *b, uint32_t free_stack,
                         unsigned free_kind)
{
	uint64_t key = ((uint64_t)b->stack << 32 ^ free_stack) * 0x9e3779b97f4a7c15ull ^ (b->kind << 4 | free_kind);
	uint32_t i = map_get(&r->mismatch_map, key);
	if (i != NONE) {
		struct mismatch *m = &r->mismatches.v[i];
		if (m->alloc_stack != b->stack || m->free_stack != free_stack || m->alloc_kind != b->kind ||
		    m->free_kind != free_kind) /* a collision: look at every entry */
			for (i = 0; i < r->mismatches.n; i++) {
				m = &r->mismatches.v[i];
				if (m->alloc_stack == b->stack && m->free_stack == free_stack &&
				    m->alloc_kind == b->kind && m->free_kind == free_kind)
					break;
			}
	}
	if (i == NONE || i == r->mismatches.n) {
		struct mismatch m = {b->stack, free_stack, b->kind, (uint8_t)free_kind, 0, 0};
		i = (uint32_t)r->mismatches.n;
		if (VEC_PUSH(r->mismatches, m) ||
		    (map_get(&r->mismatch_map, key) == NONE && map_put(&r->mismatch_map, key, i))) {
			terr(f, "out of memory");
			return;
		}
	}
	r->mismatches.v[i].count++;
	r->mismatches.v[i].bytes += (int64_t)b->size;
}

static void on_free(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev)
{
	uint32_t bi = map_del(&r->live, ev->ptr);
	if (bi == NONE) {
		if (!r->internal.count || map_del(&r->internal, ev->ptr) == NONE) {
			if (r->pauses.n) /* a block allocated while paused, most likely */
				r->pauses.v[r->pauses.n - 1].unrecorded_frees++;
			else
				r->unmatched++;
		}
		return;
	}
	struct block *b = &r->blocks.v[bi];
	if (MP_UNLIKELY_F(ev->kind != mp_free_kind_expected(b->kind))) {
		/* Node 0, the empty stack: none was recorded (MEMPROF_DELETE_STACKS=0). */
		uint32_t fs = ev->kind && ev->stack < cur->stackmap.n ? cur->stackmap.v[ev->stack] : 0;
		mismatch_add(f, r, b, fs ? fs : NONE, ev->kind);
	}
	account_live(r, b, -1);
	struct site *s = &r->sites.v[b->site];
	s->frees++;
	r->frees++;
	r->threads.v[cur->thread].frees++;
	cur->pend_temporary = 0;
	/* An inherited block's thread index is the parent's. */
	struct thread_fig *owner = b->inherited ? NULL : &r->threads.v[b->thread];
	if (owner && owner->last_alloc_id == b->id) {
		cur->pend_temporary = 1;
		s->temporary++;
		owner->temporary++;
		r->temporary++;
	}
	cur->pending = 1;
	cur->pend = *b;
	cur->pend_free_ns = ev->time;
	VEC_PUSH(r->free_blocks, bi);
	if (ev->time >= r->last_sample + SAMPLE_EVERY_NS)
		sample(f, r, ev->time);
}

static void on_revive(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev)
{
	if (!cur->pending || cur->pend.addr != ev->ptr)
		return;
	cur->pending = 0;
	struct block b = cur->pend;
	struct site *s = &r->sites.v[b.site];
	s->frees--;
	r->frees--;
	r->threads.v[cur->thread].frees--;
	if (cur->pend_temporary) {
		s->temporary--;
		r->threads.v[b.thread].temporary--;
		r->temporary--;
	}
	if (live_insert(f, r, &b))
		return;
	account_live(r, &b, +1);
}

/* --- anonymous mappings --------------------------------------------------------
 * Kept apart from the heap: own sites (mapping_sites), own figures, and the
 * live mappings in an array ordered by descending start address (the
 * kernel hands out addresses top-down, so a new mapping mostly goes at the
 * end). A release (munmap, or the old range of an mremap) may cover part
 * of a mapping, several, or none recorded: each mapping it touches ends
 * there (freed, its row stored), and what is left of it on either side
 * becomes a new block of the same stack, kind and thread, allocated at
 * that moment (a remnant: a row of the allocations table, not a call). */

static struct site *msite_get(trace_t *f, struct mp_replay *r, uint32_t stack, uint32_t *idx)
{
	uint32_t i = map_get(&r->msite_map, stack);
	if (i == NONE) {
		i = (uint32_t)r->msites.n;
		struct site s = {.stack = stack, .epoch = r->map_epoch};
		if (VEC_PUSH(r->msites, s) || map_put(&r->msite_map, stack, i)) {
			terr(f, "out of memory");
			return NULL;
		}
	}
	*idx = i;
	return &r->msites.v[i];
}

/* As site_touch, for a mapping site and the mapping peak. */
static void msite_account(struct mp_replay *r, const struct block *b, int sign)
{
	struct site *s = &r->msites.v[b->site];
	if (s->epoch != r->map_epoch) {
		s->peak_bytes = s->live_bytes;
		s->peak_blocks = s->live_blocks;
		s->epoch = r->map_epoch;
	}
	s->live_bytes += sign * (int64_t)b->size;
	s->live_blocks += sign;
	r->map_live += sign * (int64_t)b->size;
}

/* The index of the first live mapping whose start is below addr. */
static size_t maps_below(const struct mp_replay *r, uint64_t addr)
{
	size_t lo = 0, hi = r->maps.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->maps.v[mid].start >= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds a live mapping (its site known); it must overlap none. */
static int map_add(trace_t *f, struct mp_replay *r, const struct block *b)
{
	uint32_t bi;
	if (block_put(r, b, &bi))
		return terr(f, "out of memory");
	if (vec_reserve((void **)&r->maps.v, &r->maps.cap, r->maps.n + 1, sizeof(*r->maps.v)))
		return terr(f, "out of memory");
	size_t i = maps_below(r, b->addr);
	memmove(&r->maps.v[i + 1], &r->maps.v[i], (r->maps.n - i) * sizeof(*r->maps.v));
	r->maps.v[i] = (struct mapping){b->addr, b->addr + b->usable, bi};
	r->maps.n++;
	msite_account(r, b, +1);
	return 0;
}

/* Releases [a, b) of the live mappings at time t. Returns whether it
   touched any. */
static int unmap_range(trace_t *f, struct mp_replay *r, uint64_t a, uint64_t b, uint64_t t)
{
	size_t i0 = maps_below(r, b), i1 = i0;
	while (i1 < r->maps.n && r->maps.v[i1].end > a)
		i1++;
	if (i0 == i1)
		return 0;
	struct block left, right;
	int have_left = 0, have_right = 0;
	for (size_t i = i0; i < i1; i++) {
		const struct mapping m = r->maps.v[i];
		struct block old = r->blocks.v[m.block];
		msite_account(r, &old, -1);
		r->msites.v[old.site].frees++;
		if (!old.inherited)
			emit(f, r, &old, (int64_t)t);
		VEC_PUSH(r->free_blocks, m.block);
		/* A remnant's requested bytes: its part of the first old.size. */
		uint64_t req_end = m.start + old.size;
		if (m.end > b) {
			right = old;
			right.addr = b;
			right.usable = m.end - b;
			right.size = req_end > b ? req_end - b : 0;
			have_right = 1;
		}
		if (m.start < a) {
			left = old;
			left.usable = a - m.start;
			left.size = old.size < left.usable ? old.size : left.usable;
			have_left = 1;
		}
	}
	memmove(&r->maps.v[i0], &r->maps.v[i1], (r->maps.n - i1) * sizeof(*r->maps.v));
	r->maps.n -= i1 - i0;
	struct block *rest[2] = {have_left ? &left : NULL, have_right ? &right : NULL};
	for (int k = 0; k < 2; k++) {
		if (!rest[k])
			continue;
		rest[k]->id = ++f->next_alloc_id;
		rest[k]->alloc_ns = t;
		map_add(f, r, rest[k]);
	}
	return 1;
}

static void on_map(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev,
                   const struct mp_stream *st)
{
	int remap_of_mapping = cur->unmap_hit;
	cur->unmap_hit = 0;
	if ((ev->flags & MP_MAP_REMAP) && !remap_of_mapping)
		return; /* mremap of something else (a file mapping, shared memory) */
	uint64_t usable = ev->size + ev->slack;
	/* Mapped over recorded mappings (MAP_FIXED, MREMAP_FIXED): they are
	   replaced there. */
	if (r->maps.n && ev->ptr + usable > ev->ptr)
		unmap_range(f, r, ev->ptr, ev->ptr + usable, ev->time);
	struct block b = {
	        .id = ++f->next_alloc_id,
	        .addr = ev->ptr,
	        .size = ev->size,
	        .usable = usable,
	        .alloc_ns = ev->time,
	        .stack = ev->stack < cur->stackmap.n ? cur->stackmap.v[ev->stack] : 0,
	        .tid = st->tid,
	        .thread = cur->thread,
	        .kind = MP_KIND_MMAP,
	};
	struct site *s = msite_get(f, r, b.stack, &b.site);
	if (!s)
		return;
	s->allocations++;
	s->bytes += (int64_t)b.size;
	r->map_calls++;
	r->map_bytes += (int64_t)b.size;
	if (map_add(f, r, &b))
		return;
	if (r->map_live > r->map_peak) {
		r->map_peak = r->map_live;
		r->map_peak_time = (int64_t)ev->time;
		r->map_epoch++;
	}
}

static void on_unmap(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev)
{
	uint64_t end = ev->ptr + ev->size < ev->ptr ? UINT64_MAX : ev->ptr + ev->size;
	cur->unmap_hit = r->maps.n && unmap_range(f, r, ev->ptr, end, ev->time);
	if (cur->unmap_hit)
		r->unmap_calls++;
}

/* --- resident-set samples ------------------------------------------------------ */

/* Stores the image's samples stamped before upto, with the heap and
   mapping figures the replay has reached. */
static void rss_until(trace_t *f, struct mp_replay *r, struct mp_image *im, uint64_t upto)
{
	while (r->next_rss < im->nrss && im->rss[r->next_rss].stamp < upto && !f->failed) {
		const struct mp_rss *s = &im->rss[r->next_rss++];
		const int64_t v[5] = {(int64_t)s->rss_bytes, (int64_t)s->anon_bytes, r->live_bytes, r->live_usable,
		                      r->map_live};
		if (mp_tracedb_rss(&f->w, r->process_id, (int64_t)rel(f, s->time_ns), v))
			terr(f, f->w.err);
		if (!r->have_rss || (int64_t)s->rss_bytes > r->rss_top) {
			r->rss_top = (int64_t)s->rss_bytes;
			r->rss_top_time = (int64_t)s->time_ns;
		}
		if ((int64_t)s->peak_rss_bytes > r->rss_hwm)
			r->rss_hwm = (int64_t)s->peak_rss_bytes;
		r->have_rss = 1;
		r->dirty = 1;
	}
	if (r->next_rss && r->next_rss == im->nrss)
		r->next_rss = im->nrss = 0; /* all stored: the queue starts again */
}

/* --- pools, phases, pauses (memprof.h) ------------------------------------ */

static struct pool_fig *pool_get(trace_t *f, struct mp_replay *r, uint32_t id, uint32_t *idx)
{
	uint32_t i = map_get(&r->pool_map, id);
	if (i == NONE) {
		i = (uint32_t)r->pools.n;
		if (VEC_PUSH(r->pools, ((struct pool_fig){.id = id})) || map_put(&r->pool_map, id, i)) {
			terr(f, "out of memory");
			return NULL;
		}
	}
	*idx = i;
	return &r->pools.v[i];
}

static struct pool_site *pool_site_get(trace_t *f, struct mp_replay *r, uint32_t pool, uint32_t stack, uint32_t *idx)
{
	uint64_t key = (uint64_t)pool << 32 | stack;
	uint32_t i = map_get(&r->pool_site_map, key);
	if (i == NONE) {
		i = (uint32_t)r->pool_sites.n;
		if (VEC_PUSH(r->pool_sites, ((struct pool_site){.pool = pool, .stack = stack})) ||
		    map_put(&r->pool_site_map, key, i)) {
			terr(f, "out of memory");
			return NULL;
		}
	}
	*idx = i;
	return &r->pool_sites.v[i];
}

/* Ends a pool's live block bi at time t; freed: by a reported free. */
static void pool_block_end(trace_t *f, struct mp_replay *r, uint32_t bi, uint64_t t, int freed)
{
	struct block *b = &r->blocks.v[bi];
	struct pool_site *s = &r->pool_sites.v[b->site];
	struct pool_fig *p = &r->pools.v[s->pool];
	p->live_bytes -= (int64_t)b->size;
	if (freed) {
		s->frees++;
		p->frees++;
	}
	emit(f, r, b, (int64_t)t);
	VEC_PUSH(r->free_blocks, bi);
}

static void on_pool_alloc(trace_t *f, struct mp_replay *r, struct cursor *cur, const struct mp_event_rec *ev,
                          const struct mp_stream *st)
{
	uint32_t old = map_del(&r->pool_live, ev->ptr);
	if (old != NONE) /* a free we never saw: the old block ends here */
		pool_block_end(f, r, old, ev->time, 0);
	uint32_t pi;
	struct pool_fig *p = pool_get(f, r, (uint32_t)ev->pool, &pi);
	struct block b = {
	        .id = ++f->next_alloc_id,
	        .addr = ev->ptr,
	        .size = ev->size,
	        .usable = ev->size,
	        .alloc_ns = ev->time,
	        .stack = ev->stack < cur->stackmap.n ? cur->stackmap.v[ev->stack] : 0,
	        .tid = st->tid,
	        .thread = cur->thread,
	        .kind = MP_KIND_POOL,
	        .pool = (uint32_t)ev->pool,
	};
	struct pool_site *s = p ? pool_site_get(f, r, pi, b.stack, &b.site) : NULL;
	if (!s)
		return;
	p = &r->pools.v[pi];
	s->allocations++;
	s->bytes += (int64_t)b.size;
	p->allocations++;
	p->bytes += (int64_t)b.size;
	p->live_bytes += (int64_t)b.size;
	if (p->live_bytes > p->peak_bytes)
		p->peak_bytes = p->live_bytes;
	uint32_t bi;
	if (block_put(r, &b, &bi))
		return (void)terr(f, "out of memory");
	if (map_put(&r->pool_live, b.addr, bi))
		terr(f, "out of memory");
}

static void on_pool_free(trace_t *f, struct mp_replay *r, const struct mp_event_rec *ev)
{
	uint32_t bi = map_del(&r->pool_live, ev->ptr);
	if (bi != NONE) {
		pool_block_end(f, r, bi, ev->time, 1);
		return;
	}
	uint32_t pi;
	struct pool_fig *p;
	if (r->pauses.n)
		r->pauses.v[r->pauses.n - 1].unrecorded_frees++;
	else if ((p = pool_get(f, r, (uint32_t)ev->pool, &pi)))
		p->unmatched++;
}

/* The time of a control: derived from its stamp as for events. */
static uint64_t control_time(trace_t *f, const struct mp_image_control *c)
{
	if (c->flags & MP_CONTROL_TSC)
		return (uint64_t)((double)f->c->cal_mono +
		                  (double)(int64_t)(c->stamp - f->c->cal_tsc) * f->ns_per_tick);
	return c->time_ns;
}

static void apply_control(trace_t *f, struct mp_replay *r, struct mp_image_control *c)
{
	uint64_t t = control_time(f, c);
	c->applied = 1;
	if (c->what == MP_CONTROL_PHASE) {
		if (VEC_PUSH(r->phases, ((struct phase){c->name, 0, t, f->next_alloc_id + 1, 0, 0})))
			terr(f, "out of memory");
	} else if (c->what == MP_CONTROL_PAUSE && !r->paused) {
		r->paused = 1;
		if (VEC_PUSH(r->pauses, ((struct pause){t, 0, 0})))
			terr(f, "out of memory");
	} else if (c->what == MP_CONTROL_RESUME && r->paused) {
		r->paused = 0;
		r->pauses.v[r->pauses.n - 1].end = t ? t : 1;
	}
}

static void outside_phase(trace_t *f, struct mp_replay *r)
{
	const struct mp_phase_after *ph = &f->outside[r->next_outside++];
	if (VEC_PUSH(r->phases, ((struct phase){ph->name, 1, ph->time_ns, f->next_alloc_id + 1, 0, 0})))
		terr(f, "out of memory");
}

/* Places the controls and phases that come before an event at stamp seq
   and time t. */
static inline void place_controls(trace_t *f, struct mp_replay *r, struct mp_image *im, uint64_t seq, uint64_t t)
{
	while (r->next_control < im->ncontrols && im->controls[r->next_control].stamp < seq) {
		struct mp_image_control *c = &im->controls[r->next_control++];
		if (!c->applied)
			apply_control(f, r, c);
	}
	while (MP_UNLIKELY_F(r->next_outside < f->noutside) && f->outside[r->next_outside].time_ns <= t)
		outside_phase(f, r);
}

/* At the image's end (time end): the controls after its last event, and
   any that came too late to be placed. */
static void place_final_controls(trace_t *f, struct mp_replay *r, struct mp_image *im, uint64_t end)
{
	for (size_t i = 0; i < im->ncontrols; i++)
		if (!im->controls[i].applied)
			apply_control(f, r, &im->controls[i]);
	r->next_control = im->ncontrols;
	while (r->next_outside < f->noutside && f->outside[r->next_outside].time_ns <= end)
		outside_phase(f, r);
}

/* The name of pool id in im, or in the image it forked from. */
static const char *pool_name(trace_t *f, const struct mp_image *im, uint32_t id)
{
	for (int depth = 0; im && depth < 64; depth++) {
		for (size_t i = 0; i < im->npools; i++)
			if (im->pools[i].id == id)
				return im->pools[i].name;
		const struct mp_image *parent = NULL;
		for (size_t j = 0; im->parent_image && j < f->c->nimages; j++)
			if (f->c->images[j].image == im->parent_image && f->c->images[j].pid == im->ppid)
				parent = &f->c->images[j];
		im = parent;
	}
	return NULL;
}

/* Writes the image's rows of pools, pool_sites, phases and pauses; end is
   the image's end (CLOCK_MONOTONIC ns). */
static int write_api_rows(trace_t *f, struct mp_image *im, struct mp_replay *r, uint64_t end)
{
	if (mp_tracedb_forget_api(&f->w, r->process_id))
		return terr(f, f->w.err);
	for (size_t i = 0; i < im->npools; i++) { /* created, maybe never used */
		uint32_t pi;
		if (!pool_get(f, r, im->pools[i].id, &pi))
			return -1;
	}
	for (size_t i = 0; i < r->pools.n; i++) {
		const struct pool_fig *p = &r->pools.v[i];
		const int64_t v[7] = {p->allocations,  p->frees,         p->bytes,    p->peak_bytes,
		                      p->leaked_bytes, p->leaked_blocks, p->unmatched};
		if (mp_tracedb_pool(&f->w, r->process_id, p->id, pool_name(f, im, p->id), v))
			return terr(f, f->w.err);
	}
	for (size_t i = 0; i < r->pool_sites.n; i++) {
		const struct pool_site *s = &r->pool_sites.v[i];
		const int64_t v[5] = {s->allocations, s->frees, s->bytes, s->leaked_bytes, s->leaked_blocks};
		if (mp_tracedb_pool_site(&f->w, r->process_id, r->pools.v[s->pool].id, s->stack, v))
			return terr(f, f->w.err);
	}
	for (size_t i = 0; i < r->phases.n; i++) {
		const struct phase *ph = &r->phases.v[i], *next = i + 1 < r->phases.n ? ph + 1 : NULL;
		if (next && next->time <= im->image)
			continue; /* over before the image started */
		uint64_t start = ph->time > im->image ? ph->time : im->image;
		uint64_t stop = next ? next->time : end;
		if (stop < start)
			stop = start;
		if (mp_tracedb_phase(&f->w, r->process_id, ph->name, ph->outside ? "run" : "program",
		                     (int64_t)rel(f, start), (int64_t)rel(f, stop), (int64_t)ph->first_id,
		                     (int64_t)(next ? next->first_id : f->next_alloc_id + 1), ph->allocations,
		                     ph->bytes))
			return terr(f, f->w.err);
	}
	for (size_t i = 0; i < r->pauses.n; i++) {
		const struct pause *pa = &r->pauses.v[i];
		uint64_t start = pa->start > im->image ? pa->start : im->image;
		uint64_t stop = pa->end ? pa->end : end > start ? end : start;
		if (mp_tracedb_pause(&f->w, r->process_id, (int64_t)rel(f, start), (int64_t)rel(f, stop),
		                     pa->unrecorded_frees))
			return terr(f, f->w.err);
	}
	return 0;
}

/* --- reading the streams -------------------------------------------------- */

/* Reads the stream's next event into cur->ev, defining stacks and taking
   marks on the way. Returns 1, or 0 when nothing more has arrived. */
static int cursor_next(trace_t *f, struct mp_image *im, struct cursor *cur)
{
	struct mp_stream *st = &im->streams[cur->stream];
	for (;;) {
		int r = cur->chunk ? mp_chunk_next(&cur->rd, &cur->ev) : 0;
		if (r < 0) {
			f->bad_chunks++;
			r = 0; /* the rest of a damaged chunk is lost */
		}
		if (r == 0) {
			if (cur->chunk) {
				free(cur->chunk);
				cur->chunk = NULL;
			}
			struct mp_chunk *next = st->head;
			if (!next)
				return 0;
			st->head = next->next;
			if (!st->head)
				st->tail = NULL;
			f->c->queued_bytes -= next->len;
			cur->chunk = next;
			mp_chunk_reader_init(&cur->rd, next->data, next->len);
			continue;
		}
		if (cur->ev.type == MP_EV_STACK) {
			uint32_t node = stack_intern(f, im, cur->ev.ips, cur->ev.depth);
			if (VEC_PUSH(cur->stackmap, node))
				return terr(f, "out of memory"), 0;
			continue;
		}
		if (cur->ev.type == MP_EV_COST) { /* running totals: the latest holds */
			struct thread_fig *th = &im->replay->threads.v[cur->thread];
			th->cost_cycles = cur->ev.size;
			th->cost_samples = cur->ev.stack;
			th->cost_waits = cur->ev.slack;
			continue;
		}
		if (cur->rd.tsc)
			cur->ev.time = (uint64_t)((double)f->c->cal_mono +
			                          (double)(int64_t)(cur->ev.seq - f->c->cal_tsc) * f->ns_per_tick);
		if (cur->ev.seq > cur->mark)
			cur->mark = cur->ev.seq;
		if (cur->ev.type == MP_EV_MARK)
			continue;
		if (cur->ev.type == MP_EV_END) {
			cur->ended = 1;
			continue;
		}
		if (cur->ev.type == MP_EV_ALLOC || cur->ev.type == MP_EV_FREE) {
			/* The event's live-map slot, on its way to the cache while
			   the events before it are replayed. */
			const struct map *m = &im->replay->live;
			__builtin_prefetch(&m->s[map_hash(m, cur->ev.ptr) & m->mask]);
		}
		return 1;
	}
}

static void heap_down(struct cursor **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && h[l]->ev.seq < h[m]->ev.seq)
			m = l;
		if (r < n && h[r]->ev.seq < h[m]->ev.seq)
			m = r;
		if (m == i)
			return;
		struct cursor *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_up(struct cursor **h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h[p]->ev.seq <= h[i]->ev.seq)
			return;
		struct cursor *t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

/* --- fork snapshots -------------------------------------------------------- */

static void snapshot_take(trace_t *f, struct mp_replay *r, const struct mp_image *im, uint64_t seq)
{
	struct snapshot *sn = calloc(1, sizeof(*sn));
	if (!sn) {
		terr(f, "out of memory");
		return;
	}
	sn->parent_image = im->image;
	sn->parent_pid = im->pid;
	sn->seq = seq;
	for (size_t k = 0; k <= r->live.mask; k++) {
		if (r->live.s[k].val == NONE)
			continue;
		struct block b = r->blocks.v[r->live.s[k].val];
		b.inherited = 1;
		if (VEC_PUSH(sn->blocks, b)) {
			terr(f, "out of memory");
			break;
		}
	}
	for (size_t k = 0; k < r->maps.n; k++) { /* private mappings are copied too */
		struct block b = r->blocks.v[r->maps.v[k].block];
		b.inherited = 1;
		if (VEC_PUSH(sn->blocks, b)) {
			terr(f, "out of memory");
			break;
		}
	}
	sn->next = f->snapshots;
	f->snapshots = sn;
}

/* The snapshot a fork child starts from: 1 (found, *out set, the caller
   owns it), 0 (not taken yet: wait), or -1 (there will be none). */
static int snapshot_claim(trace_t *f, const struct mp_image *child, struct snapshot **out)
{
	for (struct snapshot **pp = &f->snapshots; *pp; pp = &(*pp)->next) {
		struct snapshot *sn = *pp;
		if (sn->parent_image == child->parent_image && sn->parent_pid == child->ppid &&
		    sn->seq == child->fork_seq) {
			*pp = sn->next;
			*out = sn;
			return 1;
		}
	}
	for (size_t j = 0; j < f->c->nimages; j++) {
		const struct mp_image *p = &f->c->images[j];
		if (p->image == child->parent_image && p->pid == child->ppid)
			return p->replay && p->replay->finalized ? -1 : (p == child ? -1 : 0);
	}
	return -1; /* the parent is not traced */
}

/* --- the leak scan ----------------------------------------------------------------
 * At exit the image asks for its live blocks as of a cut (MP_MSG_SCAN, see
 * lib/wire.h and lib/reach.c): once every event before the cut is
 * replayed, they go back, by address, in a memfd passed on the socket that
 * came with the request, and their order is kept here until the image's
 * bitmaps of reachable blocks come (MP_MSG_REACH). */

struct scan_sort {
	uint64_t addr, size, usable, id, flags;
	uint32_t bi;
};

/* Whether the block of that stack was allocated by the dynamic loader
   (its innermost frame is in ld.so). */
static int from_loader(trace_t *f, uint32_t stack)
{
	if (!stack || stack >= f->nodes.n)
		return 0;
	uint32_t fr = f->nodes.v[stack].frame;
	if (!fr || fr >= f->frames.n || f->frames.v[fr].module == NONE)
		return 0;
	const char *path = f->c->modules[f->frames.v[fr].module].path;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, "ld-linux", 8) || !strncmp(base, "ld64.so", 7) || !strncmp(base, "ld-musl", 7);
}

static int scan_cmp(const void *a, const void *b)
{
	const struct scan_sort *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sends the reply with memfd (or none), without ever waiting. */
static void scan_reply(int fd, uint64_t stamp, uint64_t count, int memfd)
{
	struct mp_scan_reply rep = {stamp, count};
	struct iovec iov = {&rep, sizeof(rep)};
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (memfd >= 0) {
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof(ctl.space);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
	}
	while (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* A memfd holding the blocks' addresses and sizes, or -1. */
static int scan_memfd(const struct scan_sort *v, size_t n)
{
	int fd = memfd_create("memprof-scan", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	struct mp_scan_block buf[2048];
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < 2048 && i < n; k++, i++)
			buf[k] = (struct mp_scan_block){v[i].addr, v[i].size, v[i].usable, v[i].flags};
		const char *p = (const char *)buf;
		size_t left = k * sizeof(buf[0]);
		while (left) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				close(fd);
				return -1;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	return fd;
}

/* Answers im's leak scan once every event before its cut is replayed
   (limit: every quiet stream's mark). */
static void scan_answer(trace_t *f, struct mp_image *im, struct mp_replay *r, uint64_t limit)
{
	uint64_t cut = im->scan_stamp;
	if (limit < cut || (r->heap.n && r->heap.v[0]->ev.seq < cut))
		return;
	int fd = im->scan_fd;
	im->scan_pending = 0;
	free(r->scan);
	r->scan = NULL;
	r->nscan = r->scan_got = 0;
	r->scan_stamp = cut;
	size_t cap = r->live.count + r->maps.n, n = 0;
	struct scan_sort *v = malloc((cap ? cap : 1) * sizeof(*v));
	int own = 0; /* a block the image may leak: not inherited */
	for (size_t k = 0; v && k <= r->live.mask; k++) {
		if (r->live.s[k].val == NONE)
			continue;
		const struct block *b = &r->blocks.v[r->live.s[k].val];
		v[n++] = (struct scan_sort){
		        b->addr,         b->size, b->usable, b->id, from_loader(f, b->stack) ? MP_SCAN_ROOT : 0,
		        r->live.s[k].val};
		own |= !b->inherited;
	}
	for (size_t k = 0; v && k < r->maps.n; k++) {
		const struct block *b = &r->blocks.v[r->maps.v[k].block];
		v[n++] = (struct scan_sort){b->addr, b->size, 0, b->id, 0, r->maps.v[k].block};
		own |= !b->inherited;
	}
	if (v)
		qsort(v, n, sizeof(*v), scan_cmp);
	size_t m = 0; /* one block per address (a mapping over a heap block) */
	for (size_t k = 0; v && k < n; k++)
		if (!m || v[k].addr != v[m - 1].addr)
			v[m++] = v[k];
	int memfd = v && own && m ? scan_memfd(v, m) : -1;
	if (memfd >= 0 && (r->scan = malloc(m * sizeof(*r->scan)))) {
		for (size_t k = 0; k < m; k++)
			r->scan[k] = (struct scan_ent){v[k].id, v[k].bi};
		r->nscan = m;
		r->scan_state = SCAN_SENT;
		scan_reply(fd, cut, m, memfd);
	} else {
		/* Nothing the image could leak (or no memory here): nothing to scan. */
		r->scan_state = v && !(own && m) ? SCAN_DONE : SCAN_SENT;
		scan_reply(fd, cut, 0, -1);
	}
	if (memfd >= 0)
		close(memfd);
	close(fd);
	free(v);
}

/* A fork child's replay starts from its parent's snapshot, which waits
   for the parent's streams to pass the fork. The forking thread marks the
   fork at once (lib/thread.c); without the parent's flusher
   (MEMPROF_FLUSH_MS=0) its other threads never do while they wait. The
   child's scan is given up after this long rather than keep it waiting. */
#define SCAN_GIVE_UP_NS 2000000000ull

static void scan_give_up(trace_t *f)
{
	uint64_t now = mp_collector_now();
	for (size_t i = 0; i < f->c->nimages; i++) {
		struct mp_image *im = &f->c->images[i];
		if (!im->scan_pending || (im->replay && im->replay->started) || now < im->scan_since + SCAN_GIVE_UP_NS)
			continue;
		scan_reply(im->scan_fd, im->scan_stamp, 0, -1);
		mp_collector_scan_drop(im);
		im->scan_gave_up = 1;
	}
}

int mp_trace_reach(struct mp_collector *c, struct mp_image *im, const void *payload, size_t len)
{
	struct mp_replay *r = im->replay;
	struct mp_reach h;
	if (!c->trace || !r || r->scan_state != SCAN_SENT || len < sizeof(h))
		return -1;
	memcpy(&h, payload, sizeof(h));
	if (h.stamp != r->scan_stamp || h.total != r->nscan || h.first > r->nscan || h.nbits > r->nscan - h.first ||
	    (len - sizeof(h)) < (h.nbits + 7) / 8)
		return -1;
	const uint8_t *bits = (const uint8_t *)payload + sizeof(h);
	for (uint64_t i = 0; i < h.nbits; i++) {
		const struct scan_ent *e = &r->scan[h.first + i];
		if (e->bi < r->blocks.n && r->blocks.v[e->bi].id == e->id)
			r->blocks.v[e->bi].reach = (bits[i / 8] >> (i % 8)) & 1 ? REACH_REACHABLE : REACH_UNREACHABLE;
	}
	r->scan_got += h.nbits;
	r->scan_ns = h.scan_ns;
	if (r->scan_got >= r->nscan) {
		r->scan_state = SCAN_DONE;
		free(r->scan);
		r->scan = NULL;
	}
	r->dirty = 1;
	return 0;
}

/* --- the replay of one image ------------------------------------------------- */

static int image_ended_by_exec(trace_t *f, size_t idx)
{
	const struct mp_image *im = &f->c->images[idx];
	if (im->exit_sent && !im->exec_sent)
		return 0;
	for (size_t j = idx + 1; j < f->c->nimages; j++) {
		const struct mp_image *next = &f->c->images[j];
		if (next->pid == im->pid && !next->parent_image && next->run == im->run)
			return 1;
	}
	return 0;
}

static struct mp_replay *replay_new(trace_t *f, size_t idx)
{
	struct mp_replay *r = calloc(1, sizeof(*r));
	if (r)
		r->live.by_address = r->pool_live.by_address = 1;
	if (!r || map_init(&r->live, 1024) || map_init(&r->site_map, 1024) || map_init(&r->internal, 64) ||
	    map_init(&r->msite_map, 64) || map_init(&r->pool_live, 64) || map_init(&r->pool_map, 16) ||
	    map_init(&r->pool_site_map, 64) || map_init(&r->mismatch_map, 64) ||
	    !(r->recs = malloc(MP_STORE_CHUNK_RECORDS * sizeof(*r->recs)))) {
		if (r) {
			map_free(&r->live);
			map_free(&r->site_map);
			map_free(&r->internal);
			map_free(&r->msite_map);
			map_free(&r->pool_live);
			map_free(&r->pool_map);
			map_free(&r->pool_site_map);
			map_free(&r->mismatch_map);
			free(r);
		}
		terr(f, "out of memory");
		return NULL;
	}
	r->idx = idx;
	r->process_id = (int64_t)idx + 1;
	r->peak_time = (int64_t)f->c->images[idx].image;
	r->map_peak_time = r->peak_time;
	return r;
}

static void replay_free(struct mp_replay *r)
{
	for (size_t i = 0; i < r->curs.n; i++) {
		free(r->curs.v[i]->chunk);
		free(r->curs.v[i]->stackmap.v);
		free(r->curs.v[i]);
	}
	free(r->curs.v);
	free(r->heap.v);
	free(r->blocks.v);
	free(r->free_blocks.v);
	free(r->sites.v);
	free(r->threads.v);
	free(r->mismatches.v);
	map_free(&r->live);
	map_free(&r->site_map);
	map_free(&r->internal);
	map_free(&r->msite_map);
	free(r->msites.v);
	free(r->maps.v);
	map_free(&r->pool_live);
	map_free(&r->pool_map);
	map_free(&r->pool_site_map);
	free(r->pools.v);
	free(r->pool_sites.v);
	free(r->phases.v);
	free(r->pauses.v);
	map_free(&r->mismatch_map);
	free(r->recs);
	free(r->scan);
	free(r);
}

/* Starts the replay of a fork child from its parent's live blocks.
   Returns 1 (started), 0 (the snapshot is not there yet). */
static int replay_begin(trace_t *f, struct mp_image *im, struct mp_replay *r)
{
	if (im->parent_image) {
		struct snapshot *sn = NULL;
		int got = snapshot_claim(f, im, &sn);
		if (got == 0)
			return 0;
		if (got > 0) {
			for (size_t k = 0; k < sn->blocks.n && !f->failed; k++) {
				struct block b = sn->blocks.v[k];
				if (b.kind == MP_KIND_MMAP) {
					if (!msite_get(f, r, b.stack, &b.site) || map_add(f, r, &b))
						break;
					continue;
				}
				if (!site_get(f, r, b.stack, &b.site) || live_insert(f, r, &b))
					break;
				account_live(r, &b, +1);
			}
			free(sn->blocks.v);
			free(sn);
		}
	}
	/* The inherited heap is the child's first peak: a new epoch, so that
	   its sites keep their figures at it (site_touch) until a larger one. */
	r->peak_bytes = r->live_bytes;
	r->peak_usable = r->live_usable;
	r->map_peak = r->map_live;
	r->epoch++;
	r->map_epoch++;
	r->started = 1;
	return 1;
}

/* Adds cursors for streams that appeared since. */
static int sync_cursors(trace_t *f, struct mp_image *im, struct mp_replay *r)
{
	while (r->curs.n < im->nstreams) {
		struct cursor *cur = calloc(1, sizeof(*cur));
		if (!cur || VEC_PUSH(r->curs, cur)) {
			free(cur);
			return terr(f, "out of memory");
		}
		cur->stream = r->curs.n - 1;
		uint32_t tid = im->streams[cur->stream].tid, th = NONE;
		for (size_t t = 0; t < r->threads.n; t++)
			if (r->threads.v[t].tid == tid)
				th = (uint32_t)t;
		if (th == NONE) {
			th = (uint32_t)r->threads.n;
			if (VEC_PUSH(r->threads, ((struct thread_fig){.tid = tid})))
				return terr(f, "out of memory");
		}
		cur->thread = th;
	}
	return 0;
}

/* Replays every event of the image whose place in the order is known:
   all of them once the image is complete; else those no quiet stream can
   still precede (each stream's mark). An image that died without saying
   so (a signal) is cut where every stream is known: its threads' last
   unsent events are lost, and without the cut their frees and
   allocations would no longer match. */
static void replay_progress(trace_t *f, struct mp_image *im)
{
	struct mp_replay *r = im->replay;
	if (!r && !(r = im->replay = replay_new(f, (size_t)(im - f->c->images))))
		return;
	if (r->finalized)
		return;
	if (!r->started && !replay_begin(f, im, r))
		return;
	if (im->nmods != r->nmods_sorted) {
		qsort(im->mods, im->nmods, sizeof(*im->mods), mod_cmp);
		r->nmods_sorted = im->nmods;
	}
	if (sync_cursors(f, im, r))
		return;
	for (size_t i = 0; i < r->curs.n; i++) {
		struct cursor *cur = r->curs.v[i];
		if (!cur->in_heap && !cur->has && cursor_next(f, im, cur)) {
			cur->has = 1;
			cur->in_heap = 1;
			if (VEC_PUSH(r->heap, cur))
				return (void)terr(f, "out of memory");
			heap_up(r->heap.v, r->heap.n - 1);
		}
	}
	int normal_end = im->exit_sent || im->exec_sent || (im->waited && WIFEXITED(im->wait_status));
	int drain = im->complete && normal_end;
	uint64_t limit = UINT64_MAX;
	if (!drain)
		for (size_t i = 0; i < r->curs.n; i++)
			if (!r->curs.v[i]->has && !r->curs.v[i]->ended && r->curs.v[i]->mark < limit)
				limit = r->curs.v[i]->mark;
	while (r->heap.n && !f->failed) {
		struct cursor *cur = r->heap.v[0];
		const struct mp_event_rec *ev = &cur->ev;
		if (ev->seq > limit)
			break;
		if (f->budget-- <= 0) {
			f->more = 1;
			return;
		}
		while (r->next_fork < im->nforks && im->forks[r->next_fork] < ev->seq)
			snapshot_take(f, r, im, im->forks[r->next_fork++]);
		if (im->nrss)
			rss_until(f, r, im, ev->seq);
		if (ev->time > r->last_time)
			r->last_time = ev->time;
		place_controls(f, r, im, ev->seq, ev->time);
		if (ev->type != MP_EV_REVIVE)
			settle(f, r, cur);
		if (ev->type != MP_EV_INTERNAL)
			r->threads.v[cur->thread].events++;
		if (ev->type == MP_EV_ALLOC && MP_UNLIKELY_F(ev->kind == MP_KIND_MMAP))
			on_map(f, r, cur, ev, &im->streams[cur->stream]);
		else if (ev->type == MP_EV_ALLOC && MP_UNLIKELY_F(ev->kind == MP_KIND_POOL))
			on_pool_alloc(f, r, cur, ev, &im->streams[cur->stream]);
		else if (ev->type == MP_EV_ALLOC)
			on_alloc(f, r, cur, ev, &im->streams[cur->stream]);
		else if (ev->type == MP_EV_FREE && MP_UNLIKELY_F(ev->kind == MP_FREE_MUNMAP))
			on_unmap(f, r, cur, ev);
		else if (ev->type == MP_EV_FREE && MP_UNLIKELY_F(ev->kind == MP_FREE_POOL))
			on_pool_free(f, r, ev);
		else if (ev->type == MP_EV_FREE)
			on_free(f, r, cur, ev);
		else if (ev->type == MP_EV_REVIVE)
			on_revive(f, r, cur, ev);
		else if (map_get(&r->internal, ev->ptr) == NONE && map_put(&r->internal, ev->ptr, 0))
			terr(f, "out of memory");
		r->dirty = 1;
		if (cursor_next(f, im, cur)) {
			heap_down(r->heap.v, r->heap.n, 0);
		} else {
			cur->has = 0;
			cur->in_heap = 0;
			r->heap.v[0] = r->heap.v[--r->heap.n];
			heap_down(r->heap.v, r->heap.n, 0);
			if (!drain && !cur->ended && cur->mark < limit)
				limit = cur->mark;
		}
	}
	/* A fork point every stream has passed is known now, even before the
	   image's next event: a fork child (waiting for its leak scan, say)
	   need not wait for its parent to do something. */
	while (r->next_fork < im->nforks && im->forks[r->next_fork] <= limit &&
	       (!r->heap.n || r->heap.v[0]->ev.seq > im->forks[r->next_fork]) && !f->failed)
		snapshot_take(f, r, im, im->forks[r->next_fork++]);
	if (im->scan_pending && !f->failed)
		scan_answer(f, im, r, limit);
	/* Every event up to limit is replayed: so are the samples before it.
	   Until a stream has come, the program's first events are still in
	   its buffers: samples wait for them. */
	if (im->nrss && !f->failed && (r->curs.n || drain))
		rss_until(f, r, im, limit == UINT64_MAX ? UINT64_MAX : limit + 1);
	if (!im->complete)
		return;
	/* Complete: what is left past the cut is lost. */
	for (size_t i = 0; i < r->heap.n; i++) {
		struct cursor *cur = r->heap.v[i];
		do
			r->lost++;
		while (cursor_next(f, im, cur));
		cur->has = cur->in_heap = 0;
	}
	r->heap.n = 0;
	while (r->next_fork < im->nforks)
		snapshot_take(f, r, im, im->forks[r->next_fork++]);
	rss_until(f, r, im, UINT64_MAX);
	place_final_controls(f, r, im, im->last_seen_mono > r->last_time ? im->last_seen_mono : r->last_time);
}

/* --- text of rows ------------------------------------------------------------ */

static char *argv_json(const struct mp_image *im)
{
	size_t cap = im->argv_len * 6 + 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	buf[len++] = '[';
	const char *p = im->argv, *end = im->argv ? im->argv + im->argv_len : NULL;
	while (p && p < end) {
		if (len > 1)
			buf[len++] = ',';
		len = mp_json_quote(buf, cap, len, p);
		if (len == SIZE_MAX) {
			free(buf);
			return NULL;
		}
		p += strlen(p) + 1;
	}
	buf[len++] = ']';
	buf[len] = 0;
	return buf;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static char *inlined_json(const struct mp_sym_frame *inlined, int n)
{
	if (!n)
		return NULL;
	size_t cap = 256, len = 0;
	for (int i = 0; i < n; i++)
		cap += 64 + 6 * (strlen(inlined[i].function ? inlined[i].function : "") +
		                 strlen(inlined[i].file ? inlined[i].file : ""));
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	buf[len++] = '[';
	for (int i = 0; i < n && len != SIZE_MAX; i++) {
		const struct mp_sym_frame *fr = &inlined[i];
		len += (size_t)snprintf(buf + len, cap - len, "%s{\"function\":", i ? "," : "");
		len = fr->function ? mp_json_quote(buf, cap, len, fr->function)
		                   : len + (size_t)snprintf(buf + len, cap - len, "null");
		if (len == SIZE_MAX)
			break;
		len += (size_t)snprintf(buf + len, cap - len, ",\"file\":");
		len = fr->file ? mp_json_quote(buf, cap, len, fr->file)
		               : len + (size_t)snprintf(buf + len, cap - len, "null");
		if (len == SIZE_MAX)
			break;
		len += (size_t)snprintf(buf + len, cap - len, ",\"line\":%d}", fr->line);
	}
	if (len == SIZE_MAX || len + 2 > cap) {
		free(buf);
		return NULL;
	}
	buf[len++] = ']';
	buf[len] = 0;
	return buf;
}

/* --- writing figures ---------------------------------------------------------- */

/* The recording's time in hooks, in ns: the mean of the sampled events'
   cycles times the events; -1 when there were events but none sampled. */
static int64_t hook_ns(trace_t *f, int64_t events, uint64_t cycles, uint64_t samples)
{
	if (!events)
		return 0;
	if (!samples)
		return -1;
	return (int64_t)((double)cycles / (double)samples * (double)events * f->ns_per_tick);
}

/* The overhead rows of an image: its threads, and the whole process, whose
   mean is that of all its sampled events (a thread with few events may
   have none sampled). */
static int write_overhead(trace_t *f, struct mp_image *im, struct mp_replay *r)
{
	int64_t events = 0;
	uint64_t cycles = 0, samples = 0, waits = 0;
	for (size_t i = 0; i < r->threads.n; i++) {
		const struct thread_fig *t = &r->threads.v[i];
		const int64_t v[6] = {t->events,
		                      (int64_t)t->cost_samples,
		                      (int64_t)t->cost_waits,
		                      hook_ns(f, t->events, t->cost_cycles, t->cost_samples),
		                      -1,
		                      -1};
		if (mp_tracedb_overhead(&f->w, r->process_id, t->tid, v))
			return terr(f, f->w.err);
		events += t->events;
		cycles += t->cost_cycles;
		samples += t->cost_samples;
		waits += t->cost_waits;
	}
	const int64_t v[6] = {events,
	                      (int64_t)samples,
	                      (int64_t)waits,
	                      hook_ns(f, events, cycles, samples),
	                      im->have_cost ? (int64_t)im->cpu_ns : -1,
	                      im->have_cost && im->profiler_bytes ? (int64_t)im->profiler_bytes : -1};
	if (mp_tracedb_overhead(&f->w, r->process_id, -1, v))
		return terr(f, f->w.err);
	return 0;
}

/* Writes the image's rows: processes, sites, threads (replacing those of
   a checkpoint). When final, what is still live is leaked (unless the
   image exec'd) and every allocation is stored. */
static int write_image(trace_t *f, struct mp_image *im, int final)
{
	struct mp_replay *r = im->replay;
	size_t idx = r->idx;
	int by_exec = final && image_ended_by_exec(f, idx);
	for (size_t i = 0; i < r->sites.n; i++) {
		r->sites.v[i].leaked_bytes = r->sites.v[i].leaked_blocks = 0;
		memset(r->sites.v[i].reach, 0, sizeof(r->sites.v[i].reach));
	}
	int scanned = final && r->scan_state == SCAN_DONE && !by_exec;
	int64_t reach[7] = {(int64_t)r->scan_ns}; /* scan_ns, unreachable, reachable, mmap unreachable */
	for (size_t i = 0; i < r->threads.n; i++)
		r->threads.v[i].leaked_bytes = r->threads.v[i].leaked_blocks = 0;
	int64_t leaked = 0, leaked_blocks = 0;
	if (final)
		for (size_t i = 0; i < r->curs.n; i++)
			settle(f, r, r->curs.v[i]);
	for (size_t k = 0; k <= r->live.mask; k++) {
		if (r->live.s[k].val == NONE)
			continue;
		struct block *b = &r->blocks.v[r->live.s[k].val];
		if (!by_exec && !b->inherited) {
			struct site *s = &r->sites.v[b->site];
			s->leaked_bytes += (int64_t)b->size;
			s->leaked_blocks++;
			struct thread_fig *th = &r->threads.v[b->thread];
			th->leaked_bytes += (int64_t)b->size;
			th->leaked_blocks++;
			leaked += (int64_t)b->size;
			leaked_blocks++;
			if (scanned && b->reach != REACH_UNKNOWN) {
				int at = b->reach == REACH_REACHABLE ? 2 : 0;
				s->reach[at] += (int64_t)b->size;
				s->reach[at + 1]++;
				reach[1 + at] += (int64_t)b->size;
				reach[2 + at]++;
				if (!at && mp_tracedb_unreachable(&f->w, r->process_id, (int64_t)b->id))
					return terr(f, f->w.err);
			}
		}
		if (final && !b->inherited)
			emit(f, r, b, -1);
	}
	for (size_t i = 0; i < r->msites.n; i++)
		r->msites.v[i].leaked_bytes = r->msites.v[i].leaked_blocks = 0;
	int64_t mleaked = 0, mleaked_blocks = 0;
	for (size_t k = 0; k < r->maps.n; k++) {
		struct block *b = &r->blocks.v[r->maps.v[k].block];
		if (!by_exec && !b->inherited) {
			r->msites.v[b->site].leaked_bytes += (int64_t)b->size;
			r->msites.v[b->site].leaked_blocks++;
			mleaked += (int64_t)b->size;
			mleaked_blocks++;
			if (scanned && b->reach == REACH_UNREACHABLE) {
				reach[5] += (int64_t)b->size;
				reach[6]++;
				if (mp_tracedb_unreachable(&f->w, r->process_id, (int64_t)b->id))
					return terr(f, f->w.err);
			}
		}
		if (final && !b->inherited)
			emit(f, r, b, -1);
	}
	for (size_t i = 0; i < r->pools.n; i++)
		r->pools.v[i].leaked_bytes = r->pools.v[i].leaked_blocks = 0;
	for (size_t i = 0; i < r->pool_sites.n; i++)
		r->pool_sites.v[i].leaked_bytes = r->pool_sites.v[i].leaked_blocks = 0;
	for (size_t k = 0; r->pool_live.count && k <= r->pool_live.mask; k++) {
		if (r->pool_live.s[k].val == NONE)
			continue;
		struct block *b = &r->blocks.v[r->pool_live.s[k].val];
		if (!by_exec) {
			struct pool_site *s = &r->pool_sites.v[b->site];
			s->leaked_bytes += (int64_t)b->size;
			s->leaked_blocks++;
			r->pools.v[s->pool].leaked_bytes += (int64_t)b->size;
			r->pools.v[s->pool].leaked_blocks++;
		}
		if (final)
			emit(f, r, b, -1);
	}
	if (final) {
		if (flush_recs(f, r))
			return -1;
		if (r->peak_bytes > 0 &&
		    mp_tracedb_sample(&f->w, r->process_id, (int64_t)rel(f, (uint64_t)r->peak_time), r->peak_bytes,
		                      r->peak_usable))
			return terr(f, f->w.err);
		sample(f, r, r->last_time > im->image ? r->last_time : im->image);
	}
	if (mp_tracedb_forget(&f->w, r->process_id))
		return terr(f, f->w.err);
	/* A site where the image neither allocated nor freed holds only blocks
	   a fork child inherited: their figures at the peak go into one row
	   for them all, at the stack of the frame "[inherited at the fork]".
	   A shell's fork children each wrote a row for each of the parent's
	   sites: a traced ./configure, 3.2 million of its 3.6 million site
	   rows, 90 of its 113 MB. */
	int64_t inherited_bytes = 0, inherited_blocks = 0;
	for (size_t i = 0; i < r->sites.n; i++) {
		struct site *s = &r->sites.v[i];
		int64_t pb = s->epoch != r->epoch ? s->live_bytes : s->peak_bytes;
		int64_t pk = s->epoch != r->epoch ? s->live_blocks : s->peak_blocks;
		if (!s->allocations && !s->frees && !s->leaked_blocks) {
			inherited_bytes += pb;
			inherited_blocks += pk;
			continue;
		}
		const int64_t v[8] = {s->allocations,  s->frees,         s->bytes,    pb, pk,
		                      s->leaked_bytes, s->leaked_blocks, s->temporary};
		if (mp_tracedb_site(&f->w, r->process_id, s->stack, v))
			return terr(f, f->w.err);
		if (scanned && s->leaked_blocks && mp_tracedb_site_reach(&f->w, r->process_id, s->stack, s->reach))
			return terr(f, f->w.err);
	}
	if (inherited_blocks) {
		uint32_t node = inherited_stack(f);
		const int64_t v[8] = {0, 0, 0, inherited_bytes, inherited_blocks, 0, 0, 0};
		if (f->failed || mp_tracedb_site(&f->w, r->process_id, node, v))
			return terr(f, f->w.err);
	}
	for (size_t i = 0; i < r->msites.n; i++) {
		struct site *s = &r->msites.v[i];
		int64_t pb = s->epoch != r->map_epoch ? s->live_bytes : s->peak_bytes;
		int64_t pk = s->epoch != r->map_epoch ? s->live_blocks : s->peak_blocks;
		if (!s->allocations && !s->frees && !s->leaked_blocks && !pk)
			continue;
		const int64_t v[8] = {s->allocations, s->frees, s->bytes, pb, pk, s->leaked_bytes, s->leaked_blocks, 0};
		if (mp_tracedb_mapping_site(&f->w, r->process_id, s->stack, v))
			return terr(f, f->w.err);
	}
	for (size_t i = 0; i < r->threads.n; i++) {
		struct thread_fig *t = &r->threads.v[i];
		const int64_t v[6] = {t->allocations,  t->frees,         t->bytes,
		                      t->leaked_bytes, t->leaked_blocks, t->temporary};
		if (mp_tracedb_thread(&f->w, r->process_id, t->tid, v))
			return terr(f, f->w.err);
	}
	if (write_overhead(f, im, r))
		return -1;
	for (size_t i = 0; i < r->mismatches.n; i++) {
		const struct mismatch *m = &r->mismatches.v[i];
		if (mp_tracedb_mismatch(
		            &f->w, r->process_id, m->alloc_stack, m->free_stack == NONE ? -1 : (int64_t)m->free_stack,
		            mp_kind_name(m->alloc_kind), mp_free_kind_name(m->free_kind), m->count, m->bytes))
			return terr(f, f->w.err);
	}

	uint64_t end = im->last_seen_mono > r->last_time ? im->last_seen_mono : r->last_time;
	if (write_api_rows(f, im, r, end))
		return -1;
	struct mp_process_row row = {
	        .id = r->process_id,
	        .pid = im->pid,
	        .ppid = im->ppid,
	        .start_ns = (int64_t)rel(f, im->image),
	        .end_ns = (int64_t)rel(f, end),
	        .allocations = r->allocations,
	        .frees = r->frees,
	        .allocated_bytes = r->allocated,
	        .peak_bytes = r->peak_bytes,
	        .peak_time_ns = (int64_t)rel(f, (uint64_t)r->peak_time),
	        .leaked_bytes = leaked,
	        .leaked_blocks = leaked_blocks,
	        .temporary = r->temporary,
	        .threads = (int64_t)r->threads.n,
	        .unmatched_frees = r->unmatched,
	        .mmap_calls = r->map_calls,
	        .munmap_calls = r->unmap_calls,
	        .mmap_bytes = r->map_bytes,
	        .mmap_peak_bytes = r->map_peak,
	        .mmap_peak_time_ns = (int64_t)rel(f, (uint64_t)r->map_peak_time),
	        .mmap_leaked_bytes = mleaked,
	        .mmap_leaked_blocks = mleaked_blocks,
	        .have_rss = r->have_rss,
	        .rss_peak_bytes = r->rss_hwm > r->rss_top ? r->rss_hwm : r->rss_top,
	        .rss_peak_time_ns = (int64_t)rel(f, (uint64_t)r->rss_top_time),
	        .run = im->run,
	};
	if (im->parent_image) {
		row.origin = "fork";
		for (size_t j = 0; j < idx; j++)
			if (f->c->images[j].image == im->parent_image && f->c->images[j].pid == im->ppid)
				row.parent_id = (int64_t)j + 1;
	} else {
		row.origin = "start";
		for (size_t j = idx; j-- > 0;) {
			if (f->c->images[j].run != im->run)
				continue; /* an earlier run's process that had the same pid */
			if (f->c->images[j].pid == im->pid) {
				row.origin = "exec";
				row.parent_id = (int64_t)j + 1;
				break;
			}
		}
		for (size_t j = idx; !row.parent_id && j-- > 0;) {
			if (f->c->images[j].pid == im->ppid && f->c->images[j].run == im->run) {
				row.origin = "spawn"; /* posix_spawn, vfork+exec */
				row.parent_id = (int64_t)j + 1;
			}
		}
	}
	if (by_exec) {
		row.ended_by = "exec";
	} else if (im->waited && WIFSIGNALED(im->wait_status)) {
		row.ended_by = "signal";
		row.have_signal = 1;
		row.signal = WTERMSIG(im->wait_status);
	} else if (im->waited && WIFEXITED(im->wait_status)) {
		row.ended_by = "exit";
		row.have_exit_status = 1;
		row.exit_status = WEXITSTATUS(im->wait_status);
	} else if (im->exit_sent) {
		row.ended_by = "exit";
		row.have_exit_status = im->have_status;
		row.exit_status = (im->status >> 8) & 0xff;
	} else {
		row.ended_by = final ? "unknown" : "running";
	}
	char *aj = argv_json(im);
	row.argv_json = aj ? aj : "[]";
	int rc = mp_tracedb_process(&f->w, &row);
	free(aj);
	/* The leak scan: done, or asked for and never finished. */
	if (!rc && final && !by_exec && (scanned || r->scan_state == SCAN_SENT || im->scan_pending || im->scan_gave_up))
		rc = mp_tracedb_process_reach(&f->w, r->process_id, scanned ? "done" : "failed", reach);
	r->dirty = 0;
	return rc ? terr(f, f->w.err) : 0;
}

/* --- symbols, stacks, meta -------------------------------------------------- */

static int write_modules(trace_t *f)
{
	struct mp_collector *c = f->c;
	for (size_t i = 0; i < c->nmodules; i++) {
		char bid[41];
		hex(bid, c->modules[i].build_id, c->modules[i].build_id_len);
		if (mp_tracedb_module(&f->w, (int64_t)i + 1, c->modules[i].path,
		                      c->modules[i].build_id_len ? bid : NULL))
			return terr(f, f->w.err);
	}
	return 0;
}

/* Hands the frames interned since the last call to the symbol worker. */
static void queue_symbols(trace_t *f)
{
	if (f->frames_queued >= f->frames.n)
		return;
	if (!f->sym && !(f->sym = mp_sym_worker_new()))
		return;
	if (!f->frames_queued)
		f->frames_queued = 1;
	struct mp_collector *c = f->c;
	for (; f->frames_queued < f->frames.n; f->frames_queued++) {
		const struct frame *fr = &f->frames.v[f->frames_queued];
		if (fr->module == NONE)
			continue;
		const struct mp_module *m = &c->modules[fr->module];
		/* Return addresses: look up the call instruction before. */
		if (mp_sym_worker_add(f->sym, f->frames_queued, fr->module, m->path, m->build_id, m->build_id_len,
		                      fr->addr ? fr->addr - 1 : 0))
			break;
	}
}

/* Writes the stacks and frames not written yet; with symbols, every frame
   again with its function, file and line. */
static int write_stacks(trace_t *f, int symbols)
{
	if (write_modules(f))
		return -1;
	if (symbols) {
		queue_symbols(f);
		if (!f->sym || f->frames_queued < f->frames.n)
			return terr(f, "out of memory");
		mp_sym_worker_wait(f->sym);
	}
	for (size_t i = symbols ? 1 : (f->frames_written ? f->frames_written : 1); i < f->frames.n; i++) {
		const struct frame *fr = &f->frames.v[i];
		const struct mp_sym_out *r = symbols ? mp_sym_worker_get(f->sym, i) : NULL;
		char *inl = r ? inlined_json(r->inlined, r->n_inlined) : NULL;
		const char *fn = i == f->inherited_frame ? INHERITED_FUNCTION : r ? r->function : NULL;
		int rc = mp_tracedb_frame(&f->w, (int64_t)i, fr->module == NONE ? 0 : (int64_t)fr->module + 1,
		                          (int64_t)fr->addr, fn, r ? r->file : NULL, r ? r->line : 0, inl);
		free(inl);
		if (rc)
			return terr(f, f->w.err);
	}
	f->frames_written = f->frames.n;
	for (size_t i = f->nodes_written ? f->nodes_written : 1; i < f->nodes.n; i++)
		if (mp_tracedb_stack(&f->w, (int64_t)i, f->nodes.v[i].parent, f->nodes.v[i].frame))
			return terr(f, f->w.err);
	f->nodes_written = f->nodes.n;
	return 0;
}

/* The machine and settings the trace was recorded with (meta env_*), so
   that two traces from different environments can be told apart. */
static int write_environment(trace_t *f)
{
	struct mp_tracedb *w = &f->w;
	char host[256] = "", cpu[256] = "", kernel[512] = "", buf[512];
	gethostname(host, sizeof(host) - 1);
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release, u.machine);
	FILE *ci = fopen("/proc/cpuinfo", "r");
	while (ci && fgets(buf, sizeof(buf), ci)) {
		if (!strncmp(buf, "model name", 10)) {
			const char *v = strchr(buf, ':');
			snprintf(cpu, sizeof(cpu), "%s", v ? v + 1 + strspn(v + 1, " \t") : "");
			cpu[strcspn(cpu, "\n")] = 0;
			break;
		}
	}
	if (ci)
		fclose(ci);
	/* The allocator's own settings, as the programs saw them (they run
	   with the collector's environment, less LD_PRELOAD). */
	static const char *const prefixes[] = {
	        "MALLOC_", "GLIBC_TUNABLES=", "JE_MALLOC_CONF=", "TCMALLOC_", "MIMALLOC_", "LD_PRELOAD="};
	extern char **environ;
	struct mp_buf settings = {0};
	for (char **e = environ; *e; e++)
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
			if (!strncmp(*e, prefixes[i], strlen(prefixes[i])) && strncmp(*e, "LD_PRELOAD=", 11)) {
				mp_buf_printf(&settings, "%s%s", settings.len ? " " : "", *e);
				break;
			}
	/* What the programs were told to record (the same environment). */
	const char *mm = getenv("MEMPROF_MMAP"), *rss = getenv("MEMPROF_RSS_MS");
	int64_t mappings = !(mm && *mm == '0'), rss_ms = 10;
	if (rss && *rss) {
		long v = atol(rss);
		rss_ms = v <= 0 ? 0 : v > 10000 ? 10000 : v;
	}
	int rc = mp_tracedb_meta(w, "env_host", host) || mp_tracedb_meta(w, "env_kernel", kernel) ||
	         mp_tracedb_meta(w, "env_cpu", cpu) ||
	         mp_tracedb_meta_int(w, "env_cpus", sysconf(_SC_NPROCESSORS_ONLN)) ||
	         mp_tracedb_meta(w, "env_libc", gnu_get_libc_version()) ||
	         mp_tracedb_meta(w, "env_allocator_settings", settings.s ? settings.s : "") ||
	         mp_tracedb_meta_int(w, "mappings_recorded", mappings) ||
	         mp_tracedb_meta_int(w, "rss_sample_ms", rss_ms);
	free(settings.s);
	return rc ? terr(f, w->err) : 0;
}

/* The allocator the first program used: a known allocator library among
   its objects (jemalloc with its version, read from the library), else
   glibc's. Written into buf. */
static const char *allocator_of(trace_t *f, char *buf, size_t size)
{
	static const char *const known[] = {"jemalloc", "tcmalloc", "mimalloc", "hoard"};
	const struct mp_collector *c = f->c;
	if (!c->nimages)
		return "glibc";
	const struct mp_image *im = &c->images[0];
	for (size_t i = 0; i < im->nmods; i++) {
		const char *path = c->modules[im->mods[i].module].path;
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
			if (strncmp(base, "lib", 3) || strncmp(base + 3, known[k], strlen(known[k])))
				continue;
			/* Read once per library (the meta is written at every
			   checkpoint). */
			static char cached_path[PATH_MAX], cached_version[64];
			if (strcmp(known[k], "jemalloc"))
				return known[k];
			if (strcmp(cached_path, path)) {
				snprintf(cached_path, sizeof(cached_path), "%s", path);
				if (mp_env_jemalloc_version(path, cached_version, sizeof(cached_version)))
					cached_version[0] = 0;
			}
			if (!cached_version[0])
				return known[k];
			snprintf(buf, size, "%s %s", known[k], cached_version);
			return buf;
		}
	}
	return "glibc";
}

/* The collector's own peak resident memory, in bytes. */
static int64_t peak_rss(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? (int64_t)ru.ru_maxrss * 1024 : 0;
}

/* How the program of a run ended: what memprof run saw (its waitpid
   status), else what its first process (after its execs) told. */
static void run_end(trace_t *f, uint32_t run, int final, struct mp_run_row *row)
{
	const struct mp_collector *c = f->c;
	int have = 0, status = 0;
	if (run <= c->run && c->runs && c->runs[run - 1].have_status) {
		have = 1;
		status = c->runs[run - 1].status;
	} else {
		const struct mp_image *first = NULL, *last = NULL;
		for (size_t i = 0; i < c->nimages; i++) {
			const struct mp_image *im = &c->images[i];
			if (im->run != run)
				continue;
			if (!first)
				first = im;
			if (im->pid == first->pid && !im->parent_image)
				last = im;
		}
		if (last && last->waited) {
			have = 1;
			status = last->wait_status;
		} else if (last && last->exit_sent && last->have_status) {
			have = 1;
			status = last->status;
		}
	}
	if (have && WIFSIGNALED(status)) {
		row->ended_by = "signal";
		row->have_signal = 1;
		row->signal = WTERMSIG(status);
	} else if (have && WIFEXITED(status)) {
		row->ended_by = "exit";
		row->have_exit_status = 1;
		row->exit_status = WEXITSTATUS(status);
	} else {
		row->ended_by = final || run < c->run ? "unknown" : "running";
	}
}

/* The runs rows: each run's span is its processes' (when it has none,
   when memprof started and reaped it). */
static int write_runs(trace_t *f, int final)
{
	const struct mp_collector *c = f->c;
	for (uint32_t run = 1; run <= c->run; run++) {
		struct mp_run_row row = {.run = run};
		int any = 0;
		uint64_t start = 0, end = 0;
		for (size_t i = 0; i < c->nimages; i++) {
			const struct mp_image *im = &c->images[i];
			if (im->run != run)
				continue;
			uint64_t e = im->last_seen_mono;
			if (im->replay && im->replay->last_time > e)
				e = im->replay->last_time;
			if (!any || im->image < start)
				start = im->image;
			if (!any || e > end)
				end = e;
			any = 1;
		}
		if (!any && c->runs) {
			start = c->runs[run - 1].start_mono;
			end = c->runs[run - 1].end_mono;
		}
		if (!any && (!c->runs || !c->runs[run - 1].start_mono))
			continue; /* not started yet, or never started */
		row.start_ns = f->have_t0 ? (int64_t)rel(f, start) : 0;
		row.end_ns = f->have_t0 ? (int64_t)rel(f, end > start ? end : start) : 0;
		run_end(f, run, final, &row);
		if (mp_tracedb_run(&f->w, &row))
			return terr(f, f->w.err);
	}
	return 0;
}

static int write_meta(trace_t *f, const char *state)
{
	struct mp_tracedb *w = &f->w;
	uint64_t end = f->t0, start_real = 0;
	int64_t lost = 0;
	for (size_t i = 0; i < f->c->nimages; i++) {
		const struct mp_image *im = &f->c->images[i];
		if (im->last_seen_mono > end)
			end = im->last_seen_mono;
		if (i == 0)
			start_real = im->start_realtime_ns;
		if (im->replay)
			lost += im->replay->lost;
	}
	char *cmd = NULL, allocator[128];
	if (f->command) {
		struct mp_image tmp = {0};
		size_t len = 0;
		for (char **a = f->command; *a; a++)
			len += strlen(*a) + 1;
		tmp.argv = malloc(len + 1);
		if (tmp.argv) {
			char *p = tmp.argv;
			for (char **a = f->command; *a; a++) {
				size_t l = strlen(*a) + 1;
				memcpy(p, *a, l);
				p += l;
			}
			tmp.argv_len = len;
			cmd = argv_json(&tmp);
			free(tmp.argv);
		}
	} else if (f->c->nimages) {
		cmd = argv_json(&f->c->images[0]);
	}
	int rc = mp_tracedb_meta(w, "format", MP_TRACE_FORMAT) ||
	         mp_tracedb_meta_int(w, "schema_version", MP_SCHEMA_VERSION) ||
	         mp_tracedb_meta(w, "memprof_version", PACKAGE_VERSION) || mp_tracedb_meta(w, "state", state) ||
	         mp_tracedb_meta(w, "command", cmd ? cmd : "[]") ||
	         mp_tracedb_meta_int(w, "start_time_ns", (int64_t)start_real) ||
	         mp_tracedb_meta_int(w, "duration_ns", (int64_t)rel(f, end)) ||
	         mp_tracedb_meta_int(w, "max_depth", f->info.max_depth) ||
	         mp_tracedb_meta_int(w, "time_resolution_ns", MP_STORE_TICK_NS) ||
	         mp_tracedb_meta_int(w, "damaged_chunks", f->bad_chunks) ||
	         mp_tracedb_meta_int(w, "bad_messages", (int64_t)f->c->bad_messages) ||
	         mp_tracedb_meta_int(w, "lost_events", lost) ||
	         mp_tracedb_meta_int(w, "collector_peak_rss_bytes", peak_rss()) ||
	         mp_tracedb_meta_int(w, "collector_held_ns", (int64_t)f->c->held_ns) ||
	         mp_tracedb_meta(w, "env_allocator", allocator_of(f, allocator, sizeof(allocator))) ||
	         mp_tracedb_meta(w, "fold", f->fold.joined ? f->fold.joined : "");
	free(cmd);
	if (rc)
		return terr(f, w->err);
	return write_runs(f, !strcmp(state, "complete"));
}

/* An interrupted trace as of now: what was replayed, figures so far. */
static int checkpoint(trace_t *f)
{
	for (size_t i = 0; i < f->c->nimages && !f->failed; i++) {
		struct mp_image *im = &f->c->images[i];
		if (im->replay && im->replay->started && !im->replay->finalized && im->replay->dirty)
			write_image(f, im, 0);
	}
	if (f->failed || store_chunks(f, 0) || write_stacks(f, 0) || write_meta(f, "recording"))
		return -1;
	if (mp_tracedb_checkpoint(&f->w))
		return terr(f, f->w.err);
	f->last_checkpoint = mp_collector_now();
	f->chunk_bytes = 0;
	return 0;
}

/* --- the whole ------------------------------------------------------------------ */

static void calibrate(trace_t *f, int final)
{
	if (f->calibrated)
		return;
	uint64_t tsc, mono;
	mp_collector_clock(&tsc, &mono);
	if (!final && mono < f->c->cal_mono + CALIBRATE_NS)
		return;
	f->ns_per_tick =
	        tsc > f->c->cal_tsc + 1000 ? (double)(mono - f->c->cal_mono) / (double)(tsc - f->c->cal_tsc) : 1.0;
	f->calibrated = 1;
}

static int progress(trace_t *f, int final)
{
	struct mp_collector *c = f->c;
	int scan_waits = 0; /* a process waits for its leak scan: calibrate now */
	for (size_t i = 0; i < c->nimages && !f->calibrated && !scan_waits; i++)
		scan_waits = c->images[i].scan_pending;
	calibrate(f, final || scan_waits);
	if (!f->calibrated || !c->nimages)
		return 0;
	if (!f->have_t0) {
		f->t0 = c->images[0].image;
		f->have_t0 = 1;
	}
	f->budget = final ? INT64_MAX : REPLAY_BUDGET;
	f->more = 0;
	/* The images take turns: a process whose events keep coming would
	   use every round's budget up and keep the images after it (its fork
	   children, waiting for their leak scans at exit) from any replay. */
	size_t first = final || f->next_image >= c->nimages ? 0 : f->next_image;
	for (size_t k = 0; k < c->nimages && !f->failed && !f->more; k++) {
		size_t i = (first + k) % c->nimages;
		struct mp_image *im = &c->images[i];
		if (!im->have_hello && !final)
			continue;
		replay_progress(f, im);
		if (f->more) {
			f->next_image = i + 1;
			break;
		}
		struct mp_replay *r = im->replay;
		if (r && r->started && im->complete && !r->finalized && !f->failed) {
			write_image(f, im, 1);
			mp_collector_scan_drop(im);
			r->finalized = 1;
			/* Keep the finalized marker, free the rest. */
			struct mp_replay *done = calloc(1, sizeof(*done));
			if (done) {
				done->finalized = 1;
				done->started = 1;
				done->idx = r->idx;
				done->process_id = r->process_id;
				done->lost = r->lost;
				done->last_time = r->last_time;
				replay_free(r);
				im->replay = done;
			}
		}
	}
	if (!final && !f->failed)
		scan_give_up(f);
	if (!final && !f->failed)
		queue_symbols(f);
	if (!final && !f->failed &&
	    (mp_collector_now() >= f->last_checkpoint + CHECKPOINT_EVERY_NS ||
	     f->chunk_bytes >= CHECKPOINT_EVERY_BYTES))
		checkpoint(f);
	return f->failed ? -1 : f->more;
}

int mp_trace_progress(struct mp_collector *c)
{
	trace_t *f = c->trace;
	if (!f || f->failed)
		return f && f->failed ? -1 : 0;
	int more = progress(f, 0);
	if (more < 0)
		snprintf(c->errbuf, sizeof(c->errbuf), "%s", f->err);
	return more;
}

static void trace_free(trace_t *f)
{
	if (!f)
		return;
	for (struct snapshot *sn = f->snapshots, *next; sn; sn = next) {
		next = sn->next;
		free(sn->blocks.v);
		free(sn);
	}
	for (size_t i = 0; i < f->c->nimages; i++) {
		if (f->c->images[i].replay) {
			replay_free(f->c->images[i].replay);
			f->c->images[i].replay = NULL;
		}
	}
	if (f->command)
		for (char **a = f->command; *a; a++)
			free(*a);
	free(f->command);
	for (size_t i = 0; i < f->noutside; i++)
		free((char *)f->outside[i].name);
	free(f->outside);
	free(f->output);
	mp_sym_worker_free(f->sym);
	mp_encoder_free(f->enc);
	mp_sym_free(f->fold_sym);
	mp_fold_free(&f->fold);
	free(f->frames.v);
	free(f->nodes.v);
	map_free(&f->frame_map);
	map_free(&f->node_map);
	f->c->trace = NULL;
	free(f);
}

int mp_trace_start(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err,
                   size_t errlen)
{
	trace_t *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->c = c;
	f->info.max_depth = info ? info->max_depth : 128;
	f->info.force = info ? info->force : 1;
	f->output = strdup(output);
	if (info && info->command) {
		size_t n = 0;
		while (info->command[n])
			n++;
		f->command = calloc(n + 1, sizeof(char *));
		for (size_t i = 0; f->command && i < n; i++)
			f->command[i] = strdup(info->command[i]);
	}
	if (info && info->nphases) {
		f->outside = calloc(info->nphases, sizeof(*f->outside));
		for (size_t i = 0; f->outside && i < info->nphases; i++) {
			size_t k = i; /* insertion by time: the list is short */
			while (k > 0 && f->outside[k - 1].time_ns > info->phases[i].time_ns) {
				f->outside[k] = f->outside[k - 1];
				k--;
			}
			f->outside[k].time_ns = info->phases[i].time_ns;
			f->outside[k].name = strdup(info->phases[i].name ? info->phases[i].name : "");
			f->noutside++;
		}
	}
	c->trace = f;
	/* Folded: the defaults, $MEMPROF_FOLD and --fold, unless --no-fold. */
	const char *lists[3] = {MP_FOLD_DEFAULT, getenv("MEMPROF_FOLD"), info ? info->fold : NULL};
	int no_fold = info && info->no_fold;
	if (!f->output || (info && info->command && !f->command) || (info && info->nphases && !f->outside) ||
	    mp_fold_init(&f->fold, lists, no_fold ? 0 : 3) || VEC_PUSH(f->frames, ((struct frame){NONE, 0, 0})) ||
	    VEC_PUSH(f->nodes, ((struct node){0, 0})) || map_init(&f->frame_map, 4096) ||
	    map_init(&f->node_map, 4096)) {
		snprintf(err, errlen, "out of memory");
		trace_free(f);
		return -1;
	}
	struct stat sb;
	if (lstat(output, &sb) == 0) {
		/* --force replaces a file, never a device, a directory or
		   what a symbolic link points to (-o /dev/null run as root). */
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "'%s' exists and is not a regular file", output);
			trace_free(f);
			return -1;
		}
		if (!f->info.force) {
			snprintf(err, errlen, "'%s' exists; use --force to replace it", output);
			trace_free(f);
			return -1;
		}
		unlink(output);
	}
	if (mp_tracedb_create(&f->w, output)) {
		snprintf(err, errlen, "%s", f->w.err);
		mp_tracedb_abort(&f->w);
		unlink(output);
		trace_free(f);
		return -1;
	}
	f->last_checkpoint = mp_collector_now();
	if (write_environment(f) || write_meta(f, "recording") || mp_tracedb_checkpoint(&f->w)) {
		snprintf(err, errlen, "%s", f->failed ? f->err : f->w.err);
		mp_tracedb_abort(&f->w);
		unlink(output);
		trace_free(f);
		return -1;
	}
	return 0;
}

int mp_trace_run_end(struct mp_collector *c)
{
	trace_t *f = c->trace;
	if (!f || f->failed)
		return -1;
	for (size_t i = 0; i < c->nimages; i++)
		if (c->images[i].run == c->run)
			c->images[i].complete = 1;
	progress(f, 1);
	if (!f->failed)
		store_chunks(f, 1);
	if (!f->failed)
		queue_symbols(f);
	if (!f->failed)
		checkpoint(f);
	if (f->failed) {
		snprintf(c->errbuf, sizeof(c->errbuf), "%s", f->err);
		return -1;
	}
	return 0;
}

int mp_finish(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err, size_t errlen)
{
	err[0] = 0;
	if (!c->trace && mp_trace_start(c, output, info, err, errlen))
		return -1;
	trace_t *f = c->trace;
	for (size_t i = 0; i < c->nimages; i++)
		c->images[i].complete = 1;
	if (!f->failed)
		progress(f, 1);
	if (!f->failed)
		store_chunks(f, 1);
	if (!f->failed)
		write_stacks(f, 1);
	if (!f->failed)
		write_meta(f, "complete");
	int rc = 0;
	if (f->failed) {
		/* The trace stays as last checkpointed: interrupted. */
		snprintf(err, errlen, "%s", f->err);
		mp_tracedb_abort(&f->w);
		rc = -1;
	} else if (mp_tracedb_close(&f->w)) {
		snprintf(err, errlen, "%s", f->w.err);
		rc = -1;
	}
	trace_free(f);
	return rc;
}
