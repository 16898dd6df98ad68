/* Allocations per function; see cli/funcs.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "funcs.h"
#include "trace.h"
#include "util.h"

struct mp_funcs_frame_slot {
	const struct mp_frame *frame; /* NULL: free */
	uint32_t fn;
};

struct mp_funcs_key_slot {
	uint64_t hash;
	uint32_t fn; /* MP_FUNCS_NONE: free */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	if (!s)
		return mix(h ^ 0x9e3779b97f4a7c15ULL);
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return mix(h ^ 0xff);
}

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The second half of a function's identity: its file, else its module. */
static const char *where(const struct mp_frame *fr)
{
	return fr->file ? fr->file : fr->module;
}

/* An allocation function's own frame: a wrapper that forwards to the
   allocator (ld.so's calloc, libstdc++'s operator new), demangled or not. */
static int allocator_frame(const struct mp_frame *fr)
{
	static const char *const names[] = {"malloc",        "calloc",         "realloc",  "reallocarray",
	                                    "aligned_alloc", "posix_memalign", "memalign", "valloc",
	                                    "pvalloc",       "mallocx",        "rallocx",  "xallocx"};
	const char *s = fr->function;
	if (!s)
		return 0;
	if (!strncmp(s, "operator new", 12) || !strncmp(s, "_Znw", 4) || !strncmp(s, "_Zna", 4))
		return 1;
	if (!strncmp(s, "__libc_", 7))
		s += 7;
	else if (!strncmp(s, "__rtld_", 7))
		s += 7;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return 1;
	return 0;
}

static void keys_grow(struct mp_funcs *f)
{
	size_t cap = f->keys_cap ? f->keys_cap * 2 : 1024;
	struct mp_funcs_key_slot *k = mp_xmalloc(cap * sizeof(*k));
	for (size_t i = 0; i < cap; i++)
		k[i].fn = MP_FUNCS_NONE;
	for (size_t i = 0; i < f->keys_cap; i++) {
		if (f->keys[i].fn == MP_FUNCS_NONE)
			continue;
		size_t s = (size_t)f->keys[i].hash & (cap - 1);
		while (k[s].fn != MP_FUNCS_NONE)
			s = (s + 1) & (cap - 1);
		k[s] = f->keys[i];
	}
	free(f->keys);
	f->keys = k;
	f->keys_cap = cap;
}

/* The function of a frame (not a truncation mark), added when new. */
static uint32_t fn_of_key(struct mp_funcs *f, const struct mp_frame *fr)
{
	const char *name = fr->function, *place = where(fr);
	/* nameless frames are one function per module */
	if (!name)
		place = fr->module;
	uint64_t h = hash_str(hash_str(0xcbf29ce484222325ULL, name), place);
	if ((f->n + 1) * 2 > f->keys_cap)
		keys_grow(f);
	size_t s = (size_t)h & (f->keys_cap - 1);
	for (; f->keys[s].fn != MP_FUNCS_NONE; s = (s + 1) & (f->keys_cap - 1)) {
		const struct mp_funcs_fn *g = &f->v[f->keys[s].fn];
		if (f->keys[s].hash == h && str_eq(g->function, name) &&
		    str_eq(name ? (g->file ? g->file : g->module) : g->module, place))
			return f->keys[s].fn;
	}
	void *v = f->v;
	mp_grow(&v, &f->cap, f->n + 1, sizeof(*f->v));
	f->v = v;
	struct mp_funcs_fn *g = &f->v[f->n];
	memset(g, 0, sizeof(*g));
	g->function = name;
	g->file = name ? fr->file : NULL;
	g->module = fr->module;
	f->keys[s].hash = h;
	f->keys[s].fn = (uint32_t)f->n;
	return (uint32_t)f->n++;
}

static size_t ptr_slot(const void *p, size_t cap)
{
	return (size_t)mix((uint64_t)(uintptr_t)p) & (cap - 1);
}

/* The function of a frame, through the cache of frames already seen (the
   loader's frames never move). */
static uint32_t fn_of(struct mp_funcs *f, const struct mp_frame *fr)
{
	if (fr->flags & MP_FRAME_TRUNCATED)
		return MP_FUNCS_NONE;
	if (f->frames_cap) {
		for (size_t s = ptr_slot(fr, f->frames_cap); f->frames[s].frame; s = (s + 1) & (f->frames_cap - 1))
			if (f->frames[s].frame == fr)
				return f->frames[s].fn;
	}
	if ((f->frames_used + 1) * 2 > f->frames_cap) {
		size_t cap = f->frames_cap ? f->frames_cap * 2 : 1024;
		struct mp_funcs_frame_slot *t = mp_xmalloc(cap * sizeof(*t));
		memset(t, 0, cap * sizeof(*t));
		for (size_t i = 0; i < f->frames_cap; i++) {
			if (!f->frames[i].frame)
				continue;
			size_t s = ptr_slot(f->frames[i].frame, cap);
			while (t[s].frame)
				s = (s + 1) & (cap - 1);
			t[s] = f->frames[i];
		}
		free(f->frames);
		f->frames = t;
		f->frames_cap = cap;
	}
	uint32_t id = fn_of_key(f, fr);
	size_t s = ptr_slot(fr, f->frames_cap);
	while (f->frames[s].frame)
		s = (s + 1) & (f->frames_cap - 1);
	f->frames[s].frame = fr;
	f->frames[s].fn = id;
	f->frames_used++;
	return id;
}

int mp_funcs_visit(struct mp_funcs *f, size_t i, struct mp_funcs_visit *v)
{
	const struct mp_funcs_site *site = &f->sites[i];
	if (mp_stack_load(&f->loader, site->stack_id, &f->stack)) {
		snprintf(f->err, sizeof(f->err), "%s", f->loader.err);
		return -1;
	}
	const struct mp_stack *st = &f->stack;
	void *ids = f->ids;
	mp_grow(&ids, &f->ids_cap, st->n ? st->n : 1, sizeof(*f->ids));
	f->ids = ids;
	for (size_t k = 0; k < st->n; k++)
		f->ids[k] = fn_of(f, st->v[k]);
	size_t first = 0;
	while (first + 1 < st->n && allocator_frame(st->v[first]))
		first++;
	v->site = site;
	v->stack = st;
	v->fn = f->ids;
	v->first = first;
	v->serial = ++f->serial;
	return 0;
}

/* Adds one site to the figures of its functions. */
static void count(struct mp_funcs *f, const struct mp_funcs_visit *v)
{
	const struct mp_funcs_site *s = v->site;
	for (size_t k = v->first; k < v->stack->n; k++) {
		uint32_t id = v->fn[k];
		if (id == MP_FUNCS_NONE)
			continue;
		struct mp_funcs_fn *g = &f->v[id];
		if (k == v->first) {
			g->self_allocations = mp_add_sat(g->self_allocations, s->allocations);
			g->self_bytes = mp_add_sat(g->self_bytes, s->bytes);
			g->self_leaked_bytes = mp_add_sat(g->self_leaked_bytes, s->leaked_bytes);
		}
		if (g->stamp == v->serial)
			continue;
		g->stamp = v->serial;
		g->total_allocations = mp_add_sat(g->total_allocations, s->allocations);
		g->total_bytes = mp_add_sat(g->total_bytes, s->bytes);
		g->total_leaked_bytes = mp_add_sat(g->total_leaked_bytes, s->leaked_bytes);
	}
}

int mp_funcs_load(struct mp_funcs *f, sqlite3 *db, const char *table, int64_t pid)
{
	memset(f, 0, sizeof(*f));
	if (mp_stack_loader_init(&f->loader, db)) {
		snprintf(f->err, sizeof(f->err), "%s", f->loader.err);
		return -1;
	}
	sqlite3_stmt *st;
	char sql[256];
	/* Sites that add nothing here (a fork child's frees of inherited
	   blocks, its row of untouched inherited ones) would be functions of
	   zeros. */
	snprintf(sql, sizeof(sql),
	         "SELECT stack_id, allocations, bytes, leaked_bytes FROM %s WHERE (allocations > 0 OR leaked_bytes > 0)"
	         " AND (?1 < 0 OR process_id IN (SELECT id FROM main.processes WHERE pid = ?1))",
	         table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, f->err, sizeof(f->err));
		return -1;
	}
	sqlite3_bind_int64(st, 1, pid);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *v = f->sites;
		mp_grow(&v, &f->sites_cap, f->nsites + 1, sizeof(*f->sites));
		f->sites = v;
		struct mp_funcs_site *s = &f->sites[f->nsites++];
		s->stack_id = sqlite3_column_int64(st, 0);
		s->allocations = sqlite3_column_int64(st, 1);
		s->bytes = sqlite3_column_int64(st, 2);
		s->leaked_bytes = sqlite3_column_int64(st, 3);
		f->allocations = mp_add_sat(f->allocations, s->allocations);
		f->bytes = mp_add_sat(f->bytes, s->bytes);
		f->leaked_bytes = mp_add_sat(f->leaked_bytes, s->leaked_bytes);
	}
	if (rc != SQLITE_DONE)
		mp_trace_errmsg(db, f->err, sizeof(f->err));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < f->nsites; i++) {
		struct mp_funcs_visit v;
		if (mp_funcs_visit(f, i, &v))
			return -1;
		count(f, &v);
	}
	return 0;
}

void mp_funcs_fini(struct mp_funcs *f)
{
	mp_stack_free(&f->stack);
	mp_stack_loader_fini(&f->loader);
	free(f->v);
	free(f->sites);
	free(f->frames);
	free(f->keys);
	free(f->ids);
	memset(f, 0, sizeof(*f));
}

static const struct mp_funcs *match_sort_funcs; /* qsort has no context argument */

static int by_total_bytes(const void *a, const void *b)
{
	const struct mp_funcs_fn *x = &match_sort_funcs->v[*(const uint32_t *)a];
	const struct mp_funcs_fn *y = &match_sort_funcs->v[*(const uint32_t *)b];
	if (x->total_bytes != y->total_bytes)
		return x->total_bytes > y->total_bytes ? -1 : 1;
	uint32_t i = *(const uint32_t *)a, k = *(const uint32_t *)b;
	return i < k ? -1 : i > k;
}

size_t mp_funcs_match(const struct mp_funcs *f, const char *name, uint32_t **out, int *exact)
{
	uint32_t *v = mp_xmalloc((f->n ? f->n : 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].function && !strcmp(f->v[i].function, name))
			v[n++] = (uint32_t)i;
	*exact = n > 0;
	if (!n)
		for (size_t i = 0; i < f->n; i++)
			if (f->v[i].function && *name && strstr(f->v[i].function, name))
				v[n++] = (uint32_t)i;
	match_sort_funcs = f;
	if (n)
		qsort(v, n, sizeof(*v), by_total_bytes);
	*out = v;
	return n;
}

void mp_funcs_format(const struct mp_funcs_fn *fn, struct mp_buf *b)
{
	mp_buf_puts(b, fn->function ? fn->function : "??");
	if (fn->file)
		mp_buf_printf(b, " (%s)", fn->file);
	else if (fn->module)
		mp_buf_printf(b, " (%s)", mp_basename(fn->module));
}

void mp_funcs_json(struct mp_json *j, const struct mp_funcs_fn *fn)
{
	mp_json_kv_string(j, "function", fn->function);
	mp_json_kv_string(j, "file", fn->file);
	mp_json_kv_string(j, "module", fn->module);
}

/* --- figures by key ------------------------------------------------------ */

struct mp_funcs_cell *mp_funcs_map_get(struct mp_funcs_map *m, uint64_t key)
{
	if ((m->used + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct mp_funcs_cell *t = mp_xmalloc(cap * sizeof(*t));
		memset(t, 0, cap * sizeof(*t));
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->v[i].used)
				continue;
			size_t s = (size_t)mix(m->v[i].key) & (cap - 1);
			while (t[s].used)
				s = (s + 1) & (cap - 1);
			t[s] = m->v[i];
		}
		free(m->v);
		m->v = t;
		m->cap = cap;
	}
	size_t s = (size_t)mix(key) & (m->cap - 1);
	for (; m->v[s].used; s = (s + 1) & (m->cap - 1))
		if (m->v[s].key == key)
			return &m->v[s];
	struct mp_funcs_cell *c = &m->v[s];
	memset(c, 0, sizeof(*c));
	c->key = key;
	c->used = 1;
	m->used++;
	return c;
}

void mp_funcs_cell_add(struct mp_funcs_cell *c, const struct mp_funcs_visit *v, int self)
{
	const struct mp_funcs_site *s = v->site;
	if (self) {
		c->self_allocations = mp_add_sat(c->self_allocations, s->allocations);
		c->self_bytes = mp_add_sat(c->self_bytes, s->bytes);
		c->self_leaked_bytes = mp_add_sat(c->self_leaked_bytes, s->leaked_bytes);
	}
	if (c->stamp == v->serial)
		return;
	c->stamp = v->serial;
	c->total_allocations = mp_add_sat(c->total_allocations, s->allocations);
	c->total_bytes = mp_add_sat(c->total_bytes, s->bytes);
	c->total_leaked_bytes = mp_add_sat(c->total_leaked_bytes, s->leaked_bytes);
}

size_t mp_funcs_map_compact(struct mp_funcs_map *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].used)
			m->v[n++] = m->v[i];
	return n;
}

void mp_funcs_map_free(struct mp_funcs_map *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
