/* The call tree of a trace (calltree.h): sites loaded with their stacks as
 * interned frame names, merged into a tree through a hash of
 * (parent node, frame) pairs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calltree.h"
#include "output.h"
#include "trace.h"
#include "util.h"

static const char *const by_names[] = {"bytes", "count", "peak", "leaked", "temporary"};

int mp_calltree_by_parse(const char *s, enum mp_calltree_by *by)
{
	for (size_t i = 0; i < sizeof(by_names) / sizeof(by_names[0]); i++) {
		if (!strcmp(s, by_names[i])) {
			*by = (enum mp_calltree_by)i;
			return 0;
		}
	}
	return -1;
}

const char *mp_calltree_by_name(enum mp_calltree_by by)
{
	return by_names[by];
}

int mp_calltree_by_bytes(enum mp_calltree_by by)
{
	return by == MP_CALLTREE_BYTES || by == MP_CALLTREE_PEAK || by == MP_CALLTREE_LEAKED;
}

/* Open-addressing tables: frames by name, nodes by (parent, frame). */
struct mp_calltree_index {
	size_t *frame_slots, frame_cap; /* frame id + 1, 0: empty */
	size_t *node_slots, node_cap;   /* node index + 1, 0: empty */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static uint64_t hash_pair(size_t a, size_t b)
{
	uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)b + 0x632be59bd9b4e019ULL);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = mp_xmalloc(n * size);
	memset(p, 0, n * size);
	return p;
}

static void frame_name(const struct mp_frame *f, struct mp_buf *b)
{
	if (f->flags & MP_FRAME_TRUNCATED)
		mp_buf_puts(b, "[truncated]");
	else if (f->function)
		mp_buf_puts(b, f->function);
	else if ((f->flags & MP_FRAME_ADDRESS) && f->module)
		mp_buf_printf(b, "%s+0x%" PRIx64, mp_basename(f->module), f->address);
	else if (f->flags & MP_FRAME_ADDRESS)
		mp_buf_printf(b, "0x%" PRIx64, f->address);
	else
		mp_buf_puts(b, "??");
}

static void frame_table_grow(struct mp_calltree *t)
{
	struct mp_calltree_index *ix = t->index;
	size_t cap = ix->frame_cap ? ix->frame_cap * 2 : 256;
	size_t *slots = xcalloc(cap, sizeof(*slots));
	for (size_t i = 0; i < t->nframes; i++) {
		size_t k = hash_str(t->frames[i].name) & (cap - 1);
		while (slots[k])
			k = (k + 1) & (cap - 1);
		slots[k] = i + 1;
	}
	free(ix->frame_slots);
	ix->frame_slots = slots;
	ix->frame_cap = cap;
}

/* The id of f's name, interned; a new name keeps f's details. */
static size_t frame_intern(struct mp_calltree *t, const struct mp_frame *f, struct mp_buf *name)
{
	struct mp_calltree_index *ix = t->index;
	mp_buf_reset(name);
	frame_name(f, name);
	const char *s = mp_buf_str(name);
	if ((t->nframes + 1) * 2 > ix->frame_cap)
		frame_table_grow(t);
	size_t k = hash_str(s) & (ix->frame_cap - 1);
	for (; ix->frame_slots[k]; k = (k + 1) & (ix->frame_cap - 1)) {
		struct mp_calltree_frame *c = &t->frames[ix->frame_slots[k] - 1];
		if (strcmp(c->name, s))
			continue;
		/* Merged frames that disagree on where they are lose the detail. */
		if (c->file && (!f->file || strcmp(c->file, f->file))) {
			free(c->file);
			c->file = NULL;
			c->line = 0;
		} else if (c->line != f->line) {
			c->line = 0;
		}
		return ix->frame_slots[k] - 1;
	}
	void *v = t->frames;
	mp_grow(&v, &t->frames_cap, t->nframes + 1, sizeof(*t->frames));
	t->frames = v;
	struct mp_calltree_frame *c = &t->frames[t->nframes];
	c->name = mp_xstrdup(s);
	c->function = mp_xstrdup(f->function);
	c->file = mp_xstrdup(f->file);
	c->module = mp_xstrdup(f->module);
	c->line = f->file ? f->line : 0;
	c->address = f->address;
	c->flags = f->flags;
	ix->frame_slots[k] = ++t->nframes;
	return t->nframes - 1;
}

int mp_calltree_load(struct mp_calltree *t, sqlite3 *db, const char *table, int64_t pid, int64_t process_id)
{
	memset(t, 0, sizeof(*t));
	t->index = xcalloc(1, sizeof(*t->index));
	char sql[768];
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, sum(allocations), sum(bytes), sum(peak_bytes), sum(peak_blocks), sum(leaked_bytes),"
	         " sum(leaked_blocks), sum(temporary) FROM %s WHERE 1%s%s GROUP BY stack_id ORDER BY stack_id",
	         table, pid >= 0 ? " AND process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "",
	         process_id > 0 ? " AND process_id = ?2" : "");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, t->err, sizeof(t->err));
		return -1;
	}
	if (pid >= 0)
		sqlite3_bind_int64(st, 1, pid);
	if (process_id > 0)
		sqlite3_bind_int64(st, 2, process_id);
	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db)) {
		snprintf(t->err, sizeof(t->err), "%s", l.err);
		sqlite3_finalize(st);
		return -1;
	}
	struct mp_stack stack = {0};
	struct mp_buf name = {0};
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *v = t->sites;
		mp_grow(&v, &t->sites_cap, t->nsites + 1, sizeof(*t->sites));
		t->sites = v;
		struct mp_calltree_site *s = &t->sites[t->nsites];
		int64_t *col[] = {&s->stack_id,    &s->allocations,  &s->bytes,         &s->peak_bytes,
		                  &s->peak_blocks, &s->leaked_bytes, &s->leaked_blocks, &s->temporary};
		for (int i = 0; i < 8; i++)
			*col[i] = sqlite3_column_int64(st, i);
		if (mp_stack_load(&l, s->stack_id, &stack)) {
			snprintf(t->err, sizeof(t->err), "%s", l.err);
			ret = -1;
			break;
		}
		v = t->pool;
		mp_grow(&v, &t->pool_cap, t->npool + stack.n, sizeof(*t->pool));
		t->pool = v;
		s->first = t->npool;
		s->n = stack.n;
		for (size_t i = 0; i < stack.n; i++)
			t->pool[t->npool++] = frame_intern(t, stack.v[i], &name);
		t->nsites++;
	}
	if (!ret && rc != SQLITE_DONE) {
		mp_trace_errmsg(db, t->err, sizeof(t->err));
		ret = -1;
	}
	mp_buf_free(&name);
	mp_stack_free(&stack);
	mp_stack_loader_fini(&l);
	sqlite3_finalize(st);
	return ret;
}

int64_t mp_calltree_site_weight(const struct mp_calltree_site *s, enum mp_calltree_by by)
{
	int64_t w = 0;
	switch (by) {
	case MP_CALLTREE_BYTES:
		w = s->bytes;
		break;
	case MP_CALLTREE_COUNT:
		w = s->allocations;
		break;
	case MP_CALLTREE_PEAK:
		w = s->peak_bytes;
		break;
	case MP_CALLTREE_LEAKED:
		w = s->leaked_bytes;
		break;
	case MP_CALLTREE_TEMPORARY:
		w = s->temporary;
		break;
	}
	return w > 0 ? w : 0;
}

static void node_table_grow(struct mp_calltree *t)
{
	struct mp_calltree_index *ix = t->index;
	size_t cap = ix->node_cap ? ix->node_cap * 2 : 1024;
	size_t *slots = xcalloc(cap, sizeof(*slots));
	for (size_t i = 1; i < t->nnodes; i++) {
		size_t k = hash_pair(t->nodes[i].parent, t->nodes[i].frame) & (cap - 1);
		while (slots[k])
			k = (k + 1) & (cap - 1);
		slots[k] = i + 1;
	}
	free(ix->node_slots);
	ix->node_slots = slots;
	ix->node_cap = cap;
}

static size_t node_new(struct mp_calltree *t, size_t parent, size_t frame)
{
	void *v = t->nodes;
	mp_grow(&v, &t->nodes_cap, t->nnodes + 1, sizeof(*t->nodes));
	t->nodes = v;
	struct mp_calltree_node *n = &t->nodes[t->nnodes];
	memset(n, 0, sizeof(*n));
	n->frame = frame;
	n->parent = parent;
	n->depth = parent == MP_CALLTREE_NONE ? 0 : t->nodes[parent].depth + 1;
	if (n->depth > t->max_depth)
		t->max_depth = n->depth;
	return t->nnodes++;
}

static size_t node_child(struct mp_calltree *t, size_t parent, size_t frame)
{
	struct mp_calltree_index *ix = t->index;
	if ((t->nnodes + 1) * 2 > ix->node_cap)
		node_table_grow(t);
	size_t k = hash_pair(parent, frame) & (ix->node_cap - 1);
	for (; ix->node_slots[k]; k = (k + 1) & (ix->node_cap - 1)) {
		const struct mp_calltree_node *n = &t->nodes[ix->node_slots[k] - 1];
		if (n->parent == parent && n->frame == frame)
			return ix->node_slots[k] - 1;
	}
	size_t i = node_new(t, parent, frame);
	ix->node_slots[k] = i + 1;
	return i;
}

static const struct mp_calltree *sort_tree; /* qsort has no context argument */
static int sort_weight;

static int kid_cmp(const void *a, const void *b)
{
	const struct mp_calltree_node *x = &sort_tree->nodes[*(const size_t *)a];
	const struct mp_calltree_node *y = &sort_tree->nodes[*(const size_t *)b];
	if (sort_weight && x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(sort_tree->frames[x->frame].name, sort_tree->frames[y->frame].name);
}

void mp_calltree_build(struct mp_calltree *t, enum mp_calltree_by by, unsigned flags)
{
	t->nnodes = 0;
	t->max_depth = 0;
	if (t->index->node_slots)
		memset(t->index->node_slots, 0, t->index->node_cap * sizeof(*t->index->node_slots));
	node_new(t, MP_CALLTREE_NONE, MP_CALLTREE_NONE);
	for (size_t i = 0; i < t->nsites; i++) {
		const struct mp_calltree_site *s = &t->sites[i];
		int64_t w = mp_calltree_site_weight(s, by);
		if (w == 0)
			continue;
		size_t node = 0;
		t->nodes[0].total = mp_add_sat(t->nodes[0].total, w);
		for (size_t j = 0; j < s->n; j++) {
			size_t frame = t->pool[(flags & MP_CALLTREE_REVERSE) ? s->first + j : s->first + s->n - 1 - j];
			node = node_child(t, node, frame);
			t->nodes[node].total = mp_add_sat(t->nodes[node].total, w);
		}
		t->nodes[node].self = mp_add_sat(t->nodes[node].self, w);
	}
	/* Children in one array, grouped by parent (counting sort), then sorted. */
	free(t->kids);
	t->kids = mp_xmalloc((t->nnodes ? t->nnodes : 1) * sizeof(*t->kids));
	for (size_t i = 1; i < t->nnodes; i++)
		t->nodes[t->nodes[i].parent].nkids++;
	size_t at = 0;
	for (size_t i = 0; i < t->nnodes; i++) {
		t->nodes[i].kids = at;
		at += t->nodes[i].nkids;
		t->nodes[i].nkids = 0;
	}
	for (size_t i = 1; i < t->nnodes; i++) {
		struct mp_calltree_node *p = &t->nodes[t->nodes[i].parent];
		t->kids[p->kids + p->nkids++] = i;
	}
	sort_tree = t;
	sort_weight = (flags & MP_CALLTREE_BY_WEIGHT) != 0;
	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].nkids > 1)
			qsort(t->kids + t->nodes[i].kids, t->nodes[i].nkids, sizeof(*t->kids), kid_cmp);
	sort_tree = NULL;
}

void mp_calltree_free(struct mp_calltree *t)
{
	for (size_t i = 0; i < t->nframes; i++) {
		free(t->frames[i].name);
		free(t->frames[i].function);
		free(t->frames[i].file);
		free(t->frames[i].module);
	}
	free(t->frames);
	free(t->sites);
	free(t->pool);
	free(t->nodes);
	free(t->kids);
	if (t->index) {
		free(t->index->frame_slots);
		free(t->index->node_slots);
		free(t->index);
	}
	memset(t, 0, sizeof(*t));
}
