/* Finishing a trace (see cli/finish.h).
 *
 * Each program image is replayed on its own: its threads' event streams are
 * merged by the global sequence number the target stamped on every event,
 * which orders a free before the allocation that reuses its address. The
 * replay matches frees to allocations, keeps per-site figures, finds the
 * peak (the site figures at the peak are kept lazily: a site copies its
 * live bytes aside the first time it changes after a new peak, so a new
 * peak costs O(1)), and writes every allocation to the columnar store.
 * A fork child starts from its parent's live blocks at the fork.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "finish.h"
#include "store.h"
#include "symbolize.h"
#include "tracedb.h"

#define SAMPLE_EVERY_NS 10000000u
#define MP_UNLIKELY_F(x) __builtin_expect(!!(x), 0)
#define NONE UINT32_MAX

/* --- a map from 64-bit keys to 32-bit values (linear probing) --------- */

struct slot {
	uint64_t key;
	uint32_t val; /* NONE: empty */
	uint32_t pad;
};

/* Key and value share a slot: one cache miss per look-up in big tables. */
struct map {
	struct slot *s;
	size_t mask, count;
};

static inline size_t map_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

static int map_init(struct map *m, size_t cap)
{
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
	for (size_t i = map_hash(k) & m->mask;; i = (i + 1) & m->mask) {
		if (m->s[i].val == NONE)
			return NONE;
		if (m->s[i].key == k)
			return m->s[i].val;
	}
}

static int map_grow(struct map *m);

/* Inserts k (which must be absent). Returns 0 or -1. */
static inline int map_put(struct map *m, uint64_t k, uint32_t v)
{
	if ((m->count + 1) * 2 > m->mask + 1 && map_grow(m))
		return -1;
	size_t i = map_hash(k) & m->mask;
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
	size_t i = map_hash(k) & m->mask;
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
		size_t home = map_hash(m->s[j].key) & m->mask;
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

#define VEC(T)                                                                                                   \
	struct {                                                                                                 \
		T *v;                                                                                            \
		size_t n, cap;                                                                                   \
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

#define VEC_PUSH(vec, val)                                                                                       \
	(vec_reserve((void **)&(vec).v, &(vec).cap, (vec).n + 1, sizeof(*(vec).v)) ? -1                            \
										  : ((vec).v[(vec).n++] = (val), 0))

/* --- the state of one finish ------------------------------------------- */

struct frame {
	uint32_t module; /* NONE: no module */
	uint64_t addr;   /* offset in the module, or absolute */
};

struct node {
	uint32_t parent, frame;
};

struct block {
	uint64_t id, addr, size, usable, alloc_ns;
	uint32_t stack, tid, site, thread;
	uint8_t kind, inherited;
};

struct site {
	uint32_t stack;
	uint64_t epoch;
	int64_t allocations, frees, bytes, live_bytes, live_blocks, peak_bytes, peak_blocks, leaked_bytes,
		leaked_blocks, temporary;
};

struct thread_fig {
	uint32_t tid;
	int64_t allocations, frees, bytes, leaked_bytes, leaked_blocks, temporary;
	uint64_t last_alloc_id; /* the thread's latest allocation: freed before the next, it is temporary */
};

struct cursor {
	const struct mp_stream *s;
	size_t next_chunk;
	struct mp_chunk_reader rd;
	struct mp_event_rec ev;
	int has;
	VEC(uint32_t) stackmap; /* stream-local stack id -> node */
	uint32_t thread;        /* index into threads */
	int pending;            /* a freed block kept until the stream's next event */
	struct block pend;
	uint64_t pend_free_ns;
	int pend_temporary;
};

struct finish {
	struct mp_collector *c;
	double ns_per_tick; /* TSC to ns: mono = cal_mono + (tsc - cal_tsc) * ns_per_tick */
	const uint8_t *spool;
	struct mp_tracedb w;
	uint64_t t0;
	uint64_t next_alloc_id;
	int64_t bad_chunks;
	VEC(struct frame) frames; /* index 0 unused: frame id 0 = truncated */
	struct map frame_map;
	VEC(struct node) nodes; /* index 0 = root */
	struct map node_map;
	/* per image */
	struct mp_image *im;
	VEC(struct block) blocks;
	VEC(uint32_t) free_blocks;
	struct map live;
	struct map internal; /* blocks the profiler's own work got (MP_EV_INTERNAL) */
	VEC(struct site) sites;
	struct map site_map;
	VEC(struct thread_fig) threads;
	uint64_t epoch;
	int64_t live_bytes, live_usable, peak_bytes, peak_usable, peak_time, allocations, frees, allocated, temporary, unmatched;
	uint64_t last_sample, last_time;
	struct mp_alloc_rec *recs;
	size_t nrecs;
	int64_t process_id;
	/* fork snapshots: per image index, the inherited blocks */
	VEC(struct block) * inherit;
	int failed;
	char *err;
	size_t errlen;
};

static int ferr(struct finish *f, const char *msg)
{
	if (!f->failed)
		snprintf(f->err, f->errlen, "%s", msg);
	f->failed = 1;
	return -1;
}

/* --- stacks ------------------------------------------------------------ */

static int mod_cmp(const void *a, const void *b)
{
	const struct mp_image_module *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static uint32_t frame_intern(struct finish *f, uint64_t ip)
{
	if (ip == MP_IP_TRUNCATED)
		return 0;
	const struct mp_image *im = f->im;
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
	if (VEC_PUSH(f->frames, ((struct frame){module, addr})) ||
	    (map_get(&f->frame_map, key) == NONE && map_put(&f->frame_map, key, id)))
		return ferr(f, "out of memory"), 0;
	return id;
}

/* Returns the trie node of a stack given innermost first. */
static uint32_t stack_intern(struct finish *f, const uint64_t *ips, uint32_t depth)
{
	uint32_t node = 0;
	for (uint32_t i = depth; i-- > 0;) {
		uint32_t frame = frame_intern(f, ips[i]);
		uint64_t key = ((uint64_t)node << 32) | frame;
		uint32_t next = map_get(&f->node_map, key);
		if (next == NONE) {
			next = (uint32_t)f->nodes.n;
			if (VEC_PUSH(f->nodes, ((struct node){node, frame})) || map_put(&f->node_map, key, next))
				return ferr(f, "out of memory"), 0;
		}
		node = next;
	}
	return node;
}

/* --- the replay of one image -------------------------------------------- */

static struct site *site_get(struct finish *f, uint32_t stack, uint32_t *idx)
{
	uint32_t i = map_get(&f->site_map, stack);
	if (i == NONE) {
		i = (uint32_t)f->sites.n;
		struct site s = {.stack = stack, .epoch = f->epoch};
		if (VEC_PUSH(f->sites, s) || map_put(&f->site_map, stack, i)) {
			ferr(f, "out of memory");
			return NULL;
		}
	}
	*idx = i;
	return &f->sites.v[i];
}

/* Before a site's live figures change: keep their value at the last peak. */
static inline void site_touch(struct finish *f, struct site *s)
{
	if (s->epoch != f->epoch) {
		s->peak_bytes = s->live_bytes;
		s->peak_blocks = s->live_blocks;
		s->epoch = f->epoch;
	}
}

static int flush_recs(struct finish *f)
{
	if (!f->nrecs)
		return 0;
	void *data;
	size_t len;
	if (mp_store_encode(f->recs, f->nrecs, &data, &len))
		return ferr(f, "out of memory");
	int rc = mp_tracedb_chunk(&f->w, f->process_id, (int64_t)f->nrecs, data, len);
	free(data);
	f->nrecs = 0;
	return rc ? ferr(f, f->w.err) : 0;
}

static int emit(struct finish *f, const struct block *b, int64_t free_ns)
{
	struct mp_alloc_rec *r = &f->recs[f->nrecs++];
	r->id = b->id;
	r->tid = b->tid;
	r->kind = b->kind;
	r->size = b->size;
	r->usable = b->usable;
	r->address = b->addr;
	r->stack_id = b->stack;
	r->alloc_ns = b->alloc_ns - f->t0;
	r->free_ns = free_ns < 0 ? -1 : (int64_t)((uint64_t)free_ns - f->t0);
	return f->nrecs == MP_STORE_CHUNK_RECORDS ? flush_recs(f) : 0;
}

static void sample(struct finish *f, uint64_t t)
{
	if (mp_tracedb_sample(&f->w, f->process_id, (int64_t)(t - f->t0), f->live_bytes, f->live_usable))
		ferr(f, f->w.err);
	f->last_sample = t;
}

static int live_insert(struct finish *f, const struct block *b)
{
	uint32_t bi;
	if (f->free_blocks.n) {
		bi = f->free_blocks.v[--f->free_blocks.n];
		f->blocks.v[bi] = *b;
	} else {
		bi = (uint32_t)f->blocks.n;
		if (VEC_PUSH(f->blocks, *b))
			return ferr(f, "out of memory");
	}
	if (map_put(&f->live, b->addr, bi))
		return ferr(f, "out of memory");
	return 0;
}

/* Adds a live block's bytes to the figures (allocation or revival). */
static void account_live(struct finish *f, struct block *b, int sign)
{
	struct site *s = &f->sites.v[b->site];
	site_touch(f, s);
	s->live_bytes += sign * (int64_t)b->size;
	s->live_blocks += sign;
	f->live_bytes += sign * (int64_t)b->size;
	f->live_usable += sign * (int64_t)b->usable;
}

static void check_peak(struct finish *f, uint64_t t)
{
	if (f->live_bytes > f->peak_bytes) {
		f->peak_bytes = f->live_bytes;
		f->peak_usable = f->live_usable;
		f->peak_time = (int64_t)t;
		f->epoch++;
	}
	if (t >= f->last_sample + SAMPLE_EVERY_NS)
		sample(f, t);
}

/* The stream's last freed block is final once its next event comes (a
   failed realloc revives it). */
static void settle(struct finish *f, struct cursor *cur)
{
	if (cur->pending) {
		cur->pending = 0;
		if (!cur->pend.inherited) /* the parent's record holds it */
			emit(f, &cur->pend, (int64_t)cur->pend_free_ns);
	}
}

static void on_alloc(struct finish *f, struct cursor *cur, const struct mp_event_rec *ev)
{
	if (MP_UNLIKELY_F(f->internal.count))
		map_del(&f->internal, ev->ptr); /* its free went unseen */
	uint32_t old = map_del(&f->live, ev->ptr);
	if (old != NONE) { /* a free we never saw: end the old block here */
		struct block *ob = &f->blocks.v[old];
		account_live(f, ob, -1);
		if (!ob->inherited)
			emit(f, ob, (int64_t)ev->time);
		VEC_PUSH(f->free_blocks, old);
	}
	struct block b = {
		.id = ++f->next_alloc_id,
		.addr = ev->ptr,
		.size = ev->size,
		.usable = ev->size + ev->slack,
		.alloc_ns = ev->time,
		.stack = ev->stack < cur->stackmap.n ? cur->stackmap.v[ev->stack] : 0,
		.tid = cur->s->tid,
		.thread = cur->thread,
		.kind = ev->kind,
	};
	struct site *s = site_get(f, b.stack, &b.site);
	if (!s)
		return;
	s->allocations++;
	s->bytes += (int64_t)b.size;
	struct thread_fig *th = &f->threads.v[cur->thread];
	th->allocations++;
	th->bytes += (int64_t)b.size;
	f->allocations++;
	f->allocated += (int64_t)b.size;
	th->last_alloc_id = b.id;
	if (live_insert(f, &b))
		return;
	account_live(f, &b, +1);
	check_peak(f, ev->time);
}

static void on_free(struct finish *f, struct cursor *cur, const struct mp_event_rec *ev)
{
	uint32_t bi = map_del(&f->live, ev->ptr);
	if (bi == NONE) {
		if (!f->internal.count || map_del(&f->internal, ev->ptr) == NONE)
			f->unmatched++;
		return;
	}
	struct block *b = &f->blocks.v[bi];
	account_live(f, b, -1);
	struct site *s = &f->sites.v[b->site];
	s->frees++;
	f->frees++;
	f->threads.v[cur->thread].frees++;
	cur->pend_temporary = 0;
	/* An inherited block's thread index is the parent's. */
	struct thread_fig *owner = b->inherited ? NULL : &f->threads.v[b->thread];
	if (owner && owner->last_alloc_id == b->id) {
		cur->pend_temporary = 1;
		s->temporary++;
		owner->temporary++;
		f->temporary++;
	}
	cur->pending = 1;
	cur->pend = *b;
	cur->pend_free_ns = ev->time;
	VEC_PUSH(f->free_blocks, bi);
	if (ev->time >= f->last_sample + SAMPLE_EVERY_NS)
		sample(f, ev->time);
}

static void on_revive(struct finish *f, struct cursor *cur, const struct mp_event_rec *ev)
{
	if (!cur->pending || cur->pend.addr != ev->ptr)
		return;
	cur->pending = 0;
	struct block b = cur->pend;
	struct site *s = &f->sites.v[b.site];
	s->frees--;
	f->frees--;
	f->threads.v[cur->thread].frees--;
	if (cur->pend_temporary) {
		s->temporary--;
		f->threads.v[b.thread].temporary--;
		f->temporary--;
	}
	if (live_insert(f, &b))
		return;
	account_live(f, &b, +1);
}

/* Reads the stream's next timed event into cur->ev, defining stacks on
   the way. Returns 1, or 0 at the end of the stream. */
static int cursor_next(struct finish *f, struct cursor *cur)
{
	for (;;) {
		int r = cur->has ? mp_chunk_next(&cur->rd, &cur->ev) : 0;
		if (r < 0) {
			f->bad_chunks++;
			r = 0; /* the rest of a damaged chunk is lost */
		}
		if (r == 0) {
			if (cur->next_chunk >= cur->s->nchunks) {
				cur->has = 0;
				return 0;
			}
			const struct mp_chunk_ref *ref = &cur->s->chunks[cur->next_chunk++];
			mp_chunk_reader_init(&cur->rd, f->spool + ref->offset, ref->len);
			cur->has = 1;
			continue;
		}
		if (cur->rd.tsc)
			cur->ev.time = (uint64_t)((double)f->c->cal_mono +
						  (double)(int64_t)(cur->ev.seq - f->c->cal_tsc) * f->ns_per_tick);
		if (cur->ev.type == MP_EV_STACK) {
			uint32_t node = stack_intern(f, cur->ev.ips, cur->ev.depth);
			if (VEC_PUSH(cur->stackmap, node))
				return ferr(f, "out of memory"), 0;
			continue;
		}
		return 1;
	}
}

/* A binary heap of cursors ordered by their next event's sequence number. */
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

static int image_ended_by_exec(struct finish *f, size_t idx)
{
	const struct mp_image *im = &f->c->images[idx];
	if (im->exit_sent && !im->exec_sent)
		return 0;
	for (size_t j = idx + 1; j < f->c->nimages; j++) {
		const struct mp_image *next = &f->c->images[j];
		if (next->pid == im->pid && !next->parent_image)
			return 1;
	}
	return 0;
}

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

/* Snapshots the live blocks for fork children whose fork point is passed. */
static void take_fork_snapshots(struct finish *f, size_t idx, uint64_t upto_seq, size_t *next_child,
				const uint32_t *children, size_t nchildren)
{
	while (*next_child < nchildren && f->c->images[children[*next_child]].fork_seq < upto_seq) {
		size_t ci = children[(*next_child)++];
		if (!f->c->images[ci].nstreams)
			continue; /* exec'd (or exited) without an event: nothing to inherit */
		for (size_t k = 0; k <= f->live.mask; k++) {
			if (f->live.s[k].val == NONE)
				continue;
			struct block b = f->blocks.v[f->live.s[k].val];
			b.inherited = 1;
			if (VEC_PUSH(f->inherit[ci], b)) {
				ferr(f, "out of memory");
				return;
			}
		}
	}
	(void)idx;
}

static int replay_image(struct finish *f, size_t idx)
{
	struct mp_image *im = &f->c->images[idx];
	f->im = im;
	f->process_id = (int64_t)idx + 1;
	if (im->nmods > 1)
		qsort(im->mods, im->nmods, sizeof(*im->mods), mod_cmp);
	f->blocks.n = f->free_blocks.n = f->sites.n = f->threads.n = 0;
	map_free(&f->live);
	map_free(&f->site_map);
	map_free(&f->internal);
	if (map_init(&f->live, 1024) || map_init(&f->site_map, 1024) || map_init(&f->internal, 64))
		return ferr(f, "out of memory");
	f->epoch = 0;
	f->live_bytes = f->live_usable = f->peak_bytes = f->allocations = f->frees = f->allocated = 0;
	f->temporary = f->unmatched = 0;
	f->peak_time = (int64_t)im->image;
	f->last_sample = 0;

	/* Inherited blocks of a fork child. */
	for (size_t k = 0; k < f->inherit[idx].n; k++) {
		struct block b = f->inherit[idx].v[k];
		if (!site_get(f, b.stack, &b.site) || live_insert(f, &b))
			return -1;
		account_live(f, &b, +1);
	}
	free(f->inherit[idx].v);
	f->inherit[idx].v = NULL;
	f->inherit[idx].n = 0;
	f->peak_bytes = f->live_bytes;
	f->peak_usable = f->live_usable;

	/* Children forked from this image, by fork point. */
	uint32_t *children = NULL;
	size_t nchildren = 0, next_child = 0;
	for (size_t j = idx + 1; j < f->c->nimages; j++) {
		const struct mp_image *ch = &f->c->images[j];
		if (ch->parent_image == im->image && ch->ppid == im->pid) {
			uint32_t *nc = realloc(children, (nchildren + 1) * sizeof(*nc));
			if (!nc)
				return ferr(f, "out of memory");
			children = nc;
			size_t k = nchildren++;
			while (k > 0 && f->c->images[children[k - 1]].fork_seq > ch->fork_seq) {
				children[k] = children[k - 1];
				k--;
			}
			children[k] = (uint32_t)j;
		}
	}

	struct cursor *curs = calloc(im->nstreams ? im->nstreams : 1, sizeof(*curs));
	struct cursor **heap = calloc(im->nstreams ? im->nstreams : 1, sizeof(*heap));
	if (!curs || !heap) {
		free(curs);
		free(heap);
		free(children);
		return ferr(f, "out of memory");
	}
	size_t n = 0;
	for (size_t s = 0; s < im->nstreams; s++) {
		struct cursor *cur = &curs[s];
		cur->s = &im->streams[s];
		uint32_t th = NONE;
		for (size_t t = 0; t < f->threads.n; t++)
			if (f->threads.v[t].tid == cur->s->tid)
				th = (uint32_t)t;
		if (th == NONE) {
			th = (uint32_t)f->threads.n;
			if (VEC_PUSH(f->threads, ((struct thread_fig){.tid = cur->s->tid})))
				return ferr(f, "out of memory");
		}
		cur->thread = th;
		if (cursor_next(f, cur))
			heap[n++] = cur;
	}
	for (size_t i = n / 2; i-- > 0;)
		heap_down(heap, n, i);
	uint64_t last_time = im->image;
	while (n && !f->failed) {
		struct cursor *cur = heap[0];
		const struct mp_event_rec *ev = &cur->ev;
		take_fork_snapshots(f, idx, ev->seq, &next_child, children, nchildren);
		if (ev->time > last_time)
			last_time = ev->time;
		if (ev->type != MP_EV_REVIVE)
			settle(f, cur);
		if (ev->type == MP_EV_ALLOC)
			on_alloc(f, cur, ev);
		else if (ev->type == MP_EV_FREE)
			on_free(f, cur, ev);
		else if (ev->type == MP_EV_REVIVE)
			on_revive(f, cur, ev);
		else if (map_get(&f->internal, ev->ptr) == NONE && map_put(&f->internal, ev->ptr, 0))
			ferr(f, "out of memory");
		if (!cursor_next(f, cur))
			heap[0] = heap[--n];
		heap_down(heap, n, 0);
	}
	take_fork_snapshots(f, idx, UINT64_MAX, &next_child, children, nchildren);
	free(children);
	for (size_t s = 0; s < im->nstreams; s++) {
		settle(f, &curs[s]);
		free(curs[s].stackmap.v);
	}
	free(curs);
	free(heap);
	if (f->failed)
		return -1;

	/* What is still live: leaks, unless the image ended by exec. */
	int by_exec = image_ended_by_exec(f, idx);
	int64_t leaked = 0, leaked_blocks = 0;
	for (size_t k = 0; k <= f->live.mask; k++) {
		if (f->live.s[k].val == NONE)
			continue;
		struct block *b = &f->blocks.v[f->live.s[k].val];
		if (!by_exec && !b->inherited) {
			struct site *s = &f->sites.v[b->site];
			s->leaked_bytes += (int64_t)b->size;
			s->leaked_blocks++;
			struct thread_fig *th = &f->threads.v[b->thread];
			th->leaked_bytes += (int64_t)b->size;
			th->leaked_blocks++;
			leaked += (int64_t)b->size;
			leaked_blocks++;
		}
		if (!b->inherited)
			emit(f, b, -1);
	}
	if (flush_recs(f))
		return -1;
	if (f->peak_bytes > 0 && mp_tracedb_sample(&f->w, f->process_id, f->peak_time - (int64_t)f->t0, f->peak_bytes,
						   f->peak_usable))
		return ferr(f, f->w.err);
	sample(f, last_time);

	for (size_t i = 0; i < f->sites.n; i++) {
		struct site *s = &f->sites.v[i];
		if (s->epoch != f->epoch) {
			s->peak_bytes = s->live_bytes;
			s->peak_blocks = s->live_blocks;
		}
		if (!s->allocations && !s->frees && !s->leaked_blocks && !s->peak_blocks)
			continue;
		const int64_t v[8] = {s->allocations, s->frees,        s->bytes,         s->peak_bytes,
				      s->peak_blocks, s->leaked_bytes, s->leaked_blocks, s->temporary};
		if (mp_tracedb_site(&f->w, f->process_id, s->stack, v))
			return ferr(f, f->w.err);
	}
	for (size_t i = 0; i < f->threads.n; i++) {
		struct thread_fig *t = &f->threads.v[i];
		const int64_t v[6] = {t->allocations, t->frees, t->bytes, t->leaked_bytes, t->leaked_blocks, t->temporary};
		if (mp_tracedb_thread(&f->w, f->process_id, t->tid, v))
			return ferr(f, f->w.err);
	}

	struct mp_process_row row = {
		.id = f->process_id,
		.pid = im->pid,
		.ppid = im->ppid,
		.start_ns = (int64_t)(im->image - f->t0),
		.end_ns = (int64_t)((im->last_seen_mono > last_time ? im->last_seen_mono : last_time) - f->t0),
		.allocations = f->allocations,
		.frees = f->frees,
		.allocated_bytes = f->allocated,
		.peak_bytes = f->peak_bytes,
		.peak_time_ns = f->peak_time - (int64_t)f->t0,
		.leaked_bytes = leaked,
		.leaked_blocks = leaked_blocks,
		.temporary = f->temporary,
		.threads = (int64_t)f->threads.n,
		.unmatched_frees = f->unmatched,
	};
	if (im->parent_image) {
		row.origin = "fork";
		for (size_t j = 0; j < idx; j++)
			if (f->c->images[j].image == im->parent_image && f->c->images[j].pid == im->ppid)
				row.parent_id = (int64_t)j + 1;
	} else {
		row.origin = "start";
		for (size_t j = idx; j-- > 0;) {
			if (f->c->images[j].pid == im->pid) {
				row.origin = "exec";
				row.parent_id = (int64_t)j + 1;
				break;
			}
		}
		for (size_t j = idx; !row.parent_id && j-- > 0;) {
			if (f->c->images[j].pid == im->ppid) {
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
		row.ended_by = "unknown";
	}
	char *aj = argv_json(im);
	row.argv_json = aj ? aj : "[]";
	int rc = mp_tracedb_process(&f->w, &row);
	free(aj);
	return rc ? ferr(f, f->w.err) : 0;
}

/* --- symbols ------------------------------------------------------------ */

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static char *inlined_json(const struct mp_sym_result *r)
{
	if (!r->n_inlined)
		return NULL;
	size_t cap = 256, len = 0;
	for (int i = 0; i < r->n_inlined; i++)
		cap += 64 + 6 * (strlen(r->inlined[i].function ? r->inlined[i].function : "") +
				 strlen(r->inlined[i].file ? r->inlined[i].file : ""));
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	buf[len++] = '[';
	for (int i = 0; i < r->n_inlined && len != SIZE_MAX; i++) {
		const struct mp_sym_frame *fr = &r->inlined[i];
		len += (size_t)snprintf(buf + len, cap - len, "%s{\"function\":", i ? "," : "");
		len = fr->function ? mp_json_quote(buf, cap, len, fr->function) : len + (size_t)snprintf(buf + len, cap - len, "null");
		if (len == SIZE_MAX)
			break;
		len += (size_t)snprintf(buf + len, cap - len, ",\"file\":");
		len = fr->file ? mp_json_quote(buf, cap, len, fr->file) : len + (size_t)snprintf(buf + len, cap - len, "null");
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

static int write_symbols(struct finish *f)
{
	struct mp_collector *c = f->c;
	for (size_t i = 0; i < c->nmodules; i++) {
		char bid[41];
		hex(bid, c->modules[i].build_id, c->modules[i].build_id_len);
		if (mp_tracedb_module(&f->w, (int64_t)i + 1, c->modules[i].path, c->modules[i].build_id_len ? bid : NULL))
			return ferr(f, f->w.err);
	}
	struct mp_symbolizer *sym = mp_sym_new();
	if (!sym)
		return ferr(f, "out of memory");
	for (size_t i = 1; i < f->frames.n; i++) {
		const struct frame *fr = &f->frames.v[i];
		struct mp_sym_result r;
		memset(&r, 0, sizeof(r));
		if (fr->module != NONE) {
			const struct mp_module *m = &c->modules[fr->module];
			/* Return addresses: look up the call instruction before. */
			mp_sym_resolve(sym, m->path, m->build_id, m->build_id_len, fr->addr ? fr->addr - 1 : 0, &r);
		}
		char *inl = inlined_json(&r);
		int rc = mp_tracedb_frame(&f->w, (int64_t)i, fr->module == NONE ? 0 : (int64_t)fr->module + 1,
					  (int64_t)fr->addr, r.frame.function, r.frame.file, r.frame.line, inl);
		free(inl);
		if (rc) {
			mp_sym_free(sym);
			return ferr(f, f->w.err);
		}
	}
	mp_sym_free(sym);
	for (size_t i = 1; i < f->nodes.n; i++)
		if (mp_tracedb_stack(&f->w, (int64_t)i, f->nodes.v[i].parent, f->nodes.v[i].frame))
			return ferr(f, f->w.err);
	return 0;
}

/* --- meta and the whole ------------------------------------------------- */

static int write_meta(struct finish *f, const struct mp_trace_info *info)
{
	struct mp_tracedb *w = &f->w;
	uint64_t end = f->t0, start_real = 0;
	for (size_t i = 0; i < f->c->nimages; i++) {
		const struct mp_image *im = &f->c->images[i];
		if (im->last_seen_mono > end)
			end = im->last_seen_mono;
		if (im->image == f->t0)
			start_real = im->start_realtime_ns;
	}
	char *cmd = NULL;
	if (info && info->command) {
		struct mp_image tmp = {0};
		size_t len = 0;
		for (char *const *a = info->command; *a; a++)
			len += strlen(*a) + 1;
		tmp.argv = malloc(len + 1);
		if (tmp.argv) {
			char *p = tmp.argv;
			for (char *const *a = info->command; *a; a++) {
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
	int rc = mp_tracedb_meta(w, "format", MP_TRACE_FORMAT) || mp_tracedb_meta_int(w, "schema_version", MP_SCHEMA_VERSION) ||
		 mp_tracedb_meta(w, "memprof_version", PACKAGE_VERSION) || mp_tracedb_meta(w, "state", "complete") ||
		 mp_tracedb_meta(w, "command", cmd ? cmd : "[]") ||
		 mp_tracedb_meta_int(w, "start_time_ns", (int64_t)start_real) ||
		 mp_tracedb_meta_int(w, "duration_ns", (int64_t)(end - f->t0)) ||
		 mp_tracedb_meta_int(w, "max_depth", info ? info->max_depth : 128) ||
		 mp_tracedb_meta_int(w, "damaged_chunks", f->bad_chunks) ||
		 mp_tracedb_meta_int(w, "bad_messages", (int64_t)f->c->bad_messages);
	free(cmd);
	return rc ? ferr(f, w->err) : 0;
}

int mp_finish(struct mp_collector *c, const char *output, const struct mp_trace_info *info, char *err, size_t errlen)
{
	struct finish f;
	memset(&f, 0, sizeof(f));
	f.c = c;
	f.err = err;
	f.errlen = errlen;
	err[0] = 0;
	void *map = NULL;
	if (mp_collector_flush(c))
		return ferr(&f, strerror(errno));
	if (c->spool_size) {
		map = mmap(NULL, c->spool_size, PROT_READ, MAP_PRIVATE, c->spool_fd, 0);
		if (map == MAP_FAILED)
			return ferr(&f, strerror(errno));
		madvise(map, c->spool_size, MADV_SEQUENTIAL);
		f.spool = map;
	}

	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", output, (int)getpid()) >= (int)sizeof(tmp)) {
		if (map)
			munmap(map, c->spool_size);
		return ferr(&f, "output path too long");
	}
	unlink(tmp);
	if (mp_tracedb_create(&f.w, tmp)) {
		snprintf(err, errlen, "%s", f.w.err);
		mp_tracedb_abort(&f.w);
		unlink(tmp);
		if (map)
			munmap(map, c->spool_size);
		return -1;
	}

	uint64_t tsc_now, mono_now;
	mp_collector_clock(&tsc_now, &mono_now);
	f.ns_per_tick = tsc_now > c->cal_tsc + 1000 ? (double)(mono_now - c->cal_mono) / (double)(tsc_now - c->cal_tsc)
						    : 1.0;
	f.t0 = UINT64_MAX;
	for (size_t i = 0; i < c->nimages; i++)
		if (c->images[i].image < f.t0)
			f.t0 = c->images[i].image;
	if (f.t0 == UINT64_MAX)
		f.t0 = 0;
	f.recs = malloc(MP_STORE_CHUNK_RECORDS * sizeof(*f.recs));
	f.inherit = calloc(c->nimages ? c->nimages : 1, sizeof(*f.inherit));
	if (!f.recs || !f.inherit || VEC_PUSH(f.frames, ((struct frame){NONE, 0})) ||
	    VEC_PUSH(f.nodes, ((struct node){0, 0})) || map_init(&f.frame_map, 4096) || map_init(&f.node_map, 4096))
		ferr(&f, "out of memory");
	for (size_t i = 0; i < c->nimages && !f.failed; i++)
		replay_image(&f, i);
	if (!f.failed)
		write_symbols(&f);
	if (!f.failed)
		write_meta(&f, info);

	for (size_t i = 0; f.inherit && i < c->nimages; i++)
		free(f.inherit[i].v);
	free(f.inherit);
	free(f.recs);
	free(f.frames.v);
	free(f.nodes.v);
	free(f.blocks.v);
	free(f.free_blocks.v);
	free(f.sites.v);
	free(f.threads.v);
	map_free(&f.frame_map);
	map_free(&f.node_map);
	map_free(&f.live);
	map_free(&f.site_map);
	map_free(&f.internal);
	if (map)
		munmap(map, c->spool_size);

	if (f.failed) {
		mp_tracedb_abort(&f.w);
		unlink(tmp);
		return -1;
	}
	if (mp_tracedb_close(&f.w)) {
		snprintf(err, errlen, "%s", f.w.err);
		unlink(tmp);
		return -1;
	}
	if (!(info && info->force) && access(output, F_OK) == 0 && info && info->command) {
		/* memprof run checked this before starting; someone created it since. */
		unlink(tmp);
		snprintf(err, errlen, "'%s' appeared while recording; not replaced (use --force)", output);
		return -1;
	}
	if (rename(tmp, output)) {
		snprintf(err, errlen, "cannot write '%s': %s", output, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
