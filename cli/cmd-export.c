/* memprof export: the allocation stacks of a trace in other tools' formats:
 * folded stacks (flamegraph.pl), speedscope JSON, pprof (gzipped
 * profile.proto, encoded here) and Valgrind massif's text format. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "calltree.h"
#include "config.h"
#include "outfile.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "window.h"

enum { OPT_BY = MP_OPT_FIRST_PRIVATE, OPT_EXPORT_FORMAT };

enum export_format { FOLDED, SPEEDSCOPE, PPROF, MASSIF };
static const char *const format_names[] = {"folded", "speedscope", "pprof", "massif"};

static void usage(FILE *out)
{
	fputs("usage: memprof export --format folded|speedscope|pprof|massif [-o FILE]\n"
	      "                      [--by bytes|count|peak|leaked|temporary] [--phase NAME] [--from T]\n"
	      "                      [--to T] [--pid PID] TRACE\n"
	      "\n"
	      "Writes the trace's allocation stacks for other tools:\n"
	      "    folded      'root;caller;...;site WEIGHT' lines (flamegraph.pl, inferno)\n"
	      "    speedscope  speedscope's JSON file format, one sampled profile\n"
	      "    pprof       a gzipped profile.proto (go tool pprof): alloc_objects,\n"
	      "                alloc_space, inuse_objects, inuse_space (in use = never\n"
	      "                freed, as a heap profile taken at exit)\n"
	      "    massif      Valgrind massif's format (ms_print, massif-visualizer): the\n"
	      "                heap over time and what was live at the peak, of the\n"
	      "                process with the largest peak (or of --pid's)\n"
	      "\n"
	      "With --phase, --from or --to: the allocations made in that window, by\n"
	      "bytes, count or leaked (peak and temporary are not defined for a window);\n"
	      "massif refuses a window (its tree is the peak's).\n"
	      "\n"
	      "    -o, --output FILE  write to FILE (default: standard output)\n"
	      "    --by FIGURE     the weight of folded and speedscope: bytes allocated (the\n"
	      "                    default), count, peak, leaked or temporary; of pprof, the\n"
	      "                    default sample type: bytes, count or leaked\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* --- folded ------------------------------------------------------------- */

/* Appends a frame name with the separators of the format replaced. */
static void folded_name(struct mp_buf *b, const char *s)
{
	for (; *s; s++)
		mp_buf_add(b, (*s == ';' || *s == '\n' || *s == '\r') ? "?" : s, 1);
}

static void folded_node(FILE *out, const struct mp_calltree *t, size_t node, struct mp_buf *path)
{
	const struct mp_calltree_node *n = &t->nodes[node];
	size_t len = path->len;
	if (node != 0) {
		if (len)
			mp_buf_puts(path, ";");
		folded_name(path, t->frames[n->frame].name);
		if (n->self > 0)
			fprintf(out, "%s %" PRId64 "\n", mp_buf_str(path), n->self);
	}
	for (size_t i = 0; i < n->nkids; i++)
		folded_node(out, t, t->kids[n->kids + i], path);
	path->len = len;
	if (path->s)
		path->s[len] = 0;
}

static void write_folded(FILE *out, const struct mp_calltree *t)
{
	struct mp_buf path = {0};
	folded_node(out, t, 0, &path);
	mp_buf_free(&path);
}

/* --- speedscope ----------------------------------------------------------- */

/* Writes one sample per node with a weight of its own: its frames root first. */
static void speedscope_samples(struct mp_json *j, const struct mp_calltree *t, int weights)
{
	size_t *path = mp_xmalloc((t->max_depth + 1) * sizeof(*path));
	for (size_t i = 1; i < t->nnodes; i++) {
		const struct mp_calltree_node *n = &t->nodes[i];
		if (n->self <= 0)
			continue;
		if (weights) {
			mp_json_int(j, n->self);
			continue;
		}
		size_t depth = 0;
		for (size_t k = i; k != 0; k = t->nodes[k].parent)
			path[depth++] = t->nodes[k].frame;
		mp_json_array_begin(j, 1);
		while (depth > 0)
			mp_json_int(j, (int64_t)path[--depth]);
		mp_json_array_end(j);
	}
	free(path);
}

static void write_speedscope(FILE *out, const struct mp_calltree *t, enum mp_calltree_by by, const char *name)
{
	struct mp_json j;
	mp_json_init(&j, out);
	mp_json_object_begin(&j, 0);
	mp_json_kv_string(&j, "$schema", "https://www.speedscope.app/file-format-schema.json");
	mp_json_kv_string(&j, "name", name);
	mp_json_kv_int(&j, "activeProfileIndex", 0);
	mp_json_kv_string(&j, "exporter", "memprof " PACKAGE_VERSION);
	mp_json_key(&j, "shared");
	mp_json_object_begin(&j, 0);
	mp_json_key(&j, "frames");
	mp_json_array_begin(&j, 0);
	for (size_t i = 0; i < t->nframes; i++) {
		const struct mp_calltree_frame *f = &t->frames[i];
		mp_json_object_begin(&j, 1);
		mp_json_kv_string(&j, "name", f->name);
		if (f->file)
			mp_json_kv_string(&j, "file", f->file);
		else if (f->module)
			mp_json_kv_string(&j, "file", f->module);
		if (f->file && f->line)
			mp_json_kv_int(&j, "line", f->line);
		mp_json_object_end(&j);
	}
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	mp_json_key(&j, "profiles");
	mp_json_array_begin(&j, 0);
	mp_json_object_begin(&j, 0);
	mp_json_kv_string(&j, "type", "sampled");
	struct mp_buf b = {0};
	mp_buf_printf(&b, "%s (%s)", name, mp_calltree_by_name(by));
	mp_json_kv_string(&j, "name", mp_buf_str(&b));
	mp_buf_free(&b);
	mp_json_kv_string(&j, "unit", mp_calltree_by_bytes(by) ? "bytes" : "none");
	mp_json_kv_int(&j, "startValue", 0);
	mp_json_kv_int(&j, "endValue", t->nodes[0].total);
	mp_json_key(&j, "samples");
	mp_json_array_begin(&j, 0);
	speedscope_samples(&j, t, 0);
	mp_json_array_end(&j);
	mp_json_key(&j, "weights");
	mp_json_array_begin(&j, 1);
	speedscope_samples(&j, t, 1);
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
}

/* --- pprof: protobuf encoding and a stored gzip container ------------------ */

struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	void *v = b->p;
	mp_grow(&v, &b->cap, b->n + n, 1);
	b->p = v;
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void pb_varint(struct bytes *b, uint64_t v)
{
	unsigned char c[10];
	size_t n = 0;
	do {
		c[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, c, n);
}

/* A varint field (wire type 0). */
static void pb_int(struct bytes *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

/* A length-delimited field (wire type 2): bytes, a string, a message or
   packed varints. */
static void pb_len(struct bytes *b, unsigned field, const void *p, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	put(b, p, n);
}

/* The string table: "" first, every string once. */
struct strtab {
	struct bytes out; /* the encoded string_table fields */
	char **v;
	size_t n, cap;
	size_t *slots, slots_cap; /* index + 1 */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int64_t str_id(struct strtab *st, const char *s)
{
	if (!s)
		s = "";
	if ((st->n + 1) * 2 > st->slots_cap) {
		size_t cap = st->slots_cap ? st->slots_cap * 2 : 256;
		size_t *slots = mp_xmalloc(cap * sizeof(*slots));
		memset(slots, 0, cap * sizeof(*slots));
		for (size_t i = 0; i < st->n; i++) {
			size_t k = hash_str(st->v[i]) & (cap - 1);
			while (slots[k])
				k = (k + 1) & (cap - 1);
			slots[k] = i + 1;
		}
		free(st->slots);
		st->slots = slots;
		st->slots_cap = cap;
	}
	size_t k = hash_str(s) & (st->slots_cap - 1);
	for (; st->slots[k]; k = (k + 1) & (st->slots_cap - 1))
		if (!strcmp(st->v[st->slots[k] - 1], s))
			return (int64_t)st->slots[k] - 1;
	void *v = st->v;
	mp_grow(&v, &st->cap, st->n + 1, sizeof(*st->v));
	st->v = v;
	st->v[st->n] = mp_xstrdup(s);
	pb_len(&st->out, 6, s, strlen(s));
	st->slots[k] = ++st->n;
	return (int64_t)st->n - 1;
}

static void strtab_free(struct strtab *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->v[i]);
	free(st->v);
	free(st->slots);
	free(st->out.p);
}

/* Appends a ValueType message {type, unit} as field. */
static void pb_value_type(struct bytes *b, unsigned field, struct strtab *st, const char *type, const char *unit)
{
	struct bytes m = {0};
	pb_int(&m, 1, (uint64_t)str_id(st, type));
	pb_int(&m, 2, (uint64_t)str_id(st, unit));
	pb_len(b, field, m.p, m.n);
	free(m.p);
}

/* Mapping ids by module path, with build ids from the modules table. */
struct mappings {
	char **path;
	uint64_t *limit; /* past the highest address of a location in it */
	size_t n, cap, limit_cap;
};

static uint64_t mapping_id(struct mappings *m, const char *path, uint64_t address)
{
	if (!path)
		return 0;
	size_t i = 0;
	while (i < m->n && strcmp(m->path[i], path)) /* a trace has few modules */
		i++;
	if (i == m->n) {
		void *v = m->path;
		mp_grow(&v, &m->cap, m->n + 1, sizeof(*m->path));
		m->path = v;
		v = m->limit;
		mp_grow(&v, &m->limit_cap, m->n + 1, sizeof(*m->limit));
		m->limit = v;
		m->path[i] = mp_xstrdup(path);
		m->limit[i] = 0;
		m->n++;
	}
	if (address >= m->limit[i])
		m->limit[i] = address + 1;
	return i + 1;
}

/* Encodes the Profile message (perftools.profiles, profile.proto). */
static int pprof_encode(sqlite3 *db, const struct mp_calltree *t, enum mp_calltree_by by, struct bytes *pb, char *err,
                        size_t errlen)
{
	struct strtab st = {0};
	struct mappings maps = {0};
	struct bytes m = {0}, packed = {0};
	str_id(&st, "");
	static const char *const types[4][2] = {
	        {"alloc_objects", "count"},
	        {"alloc_space", "bytes"},
	        {"inuse_objects", "count"},
	        {"inuse_space", "bytes"},
	};
	for (int i = 0; i < 4; i++)
		pb_value_type(pb, 1, &st, types[i][0], types[i][1]);
	for (size_t i = 0; i < t->nsites; i++) {
		const struct mp_calltree_site *s = &t->sites[i];
		const int64_t v[4] = {s->allocations, s->bytes, s->leaked_blocks, s->leaked_bytes};
		if (!v[0] && !v[1] && !v[2] && !v[3])
			continue;
		m.n = 0;
		packed.n = 0;
		for (size_t k = 0; k < s->n; k++) /* the leaf first */
			pb_varint(&packed, t->pool[s->first + k] + 1);
		pb_len(&m, 1, packed.p, packed.n);
		packed.n = 0;
		for (int k = 0; k < 4; k++)
			pb_varint(&packed, (uint64_t)v[k]);
		pb_len(&m, 2, packed.p, packed.n);
		pb_len(pb, 2, m.p, m.n);
	}
	/* One location and one function per frame name. */
	struct bytes line = {0};
	for (size_t i = 0; i < t->nframes; i++) {
		const struct mp_calltree_frame *f = &t->frames[i];
		m.n = 0;
		pb_int(&m, 1, i + 1);
		uint64_t map = mapping_id(&maps, f->module, f->address);
		if (map)
			pb_int(&m, 2, map);
		if (f->address)
			pb_int(&m, 3, f->address);
		line.n = 0;
		pb_int(&line, 1, i + 1);
		if (f->line > 0)
			pb_int(&line, 2, (uint64_t)f->line);
		pb_len(&m, 4, line.p, line.n);
		struct bytes fn = {0};
		pb_int(&fn, 1, i + 1);
		pb_int(&fn, 2, (uint64_t)str_id(&st, f->name));
		pb_int(&fn, 3, (uint64_t)str_id(&st, f->name));
		if (f->file)
			pb_int(&fn, 4, (uint64_t)str_id(&st, f->file));
		/* Fields may come in any order in a message. */
		pb_len(pb, 4, m.p, m.n);
		pb_len(pb, 5, fn.p, fn.n);
		free(fn.p);
	}
	free(line.p);
	/* Mappings, with the build ids the trace knows. */
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT build_id FROM main.modules WHERE path = ?1 ORDER BY id LIMIT 1", -1, &q,
	                            NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < maps.n; i++) {
		m.n = 0;
		pb_int(&m, 1, i + 1);
		pb_int(&m, 3, maps.limit[i]); /* addresses are offsets in the file: it starts at 0 */
		pb_int(&m, 5, (uint64_t)str_id(&st, maps.path[i]));
		sqlite3_bind_text(q, 1, maps.path[i], -1, SQLITE_STATIC);
		int step = sqlite3_step(q);
		if (step == SQLITE_ROW && sqlite3_column_text(q, 0))
			pb_int(&m, 6, (uint64_t)str_id(&st, (const char *)sqlite3_column_text(q, 0)));
		else if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = step;
		sqlite3_reset(q);
		pb_int(&m, 7, 1); /* has_functions: symbols are in the trace */
		pb_len(pb, 3, m.p, m.n);
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		mp_trace_errmsg(db, err, errlen);
	sqlite3_finalize(q);
	int64_t start = mp_meta_int(db, "start_time_ns", 0), duration = mp_meta_int(db, "duration_ns", 0);
	if (start > 0)
		pb_int(pb, 9, (uint64_t)start);
	if (duration > 0)
		pb_int(pb, 10, (uint64_t)duration);
	pb_value_type(pb, 11, &st, "space", "bytes");
	pb_int(pb, 12, 1);
	const char *dflt = by == MP_CALLTREE_COUNT    ? "alloc_objects"
	                   : by == MP_CALLTREE_LEAKED ? "inuse_space"
	                                              : "alloc_space";
	pb_int(pb, 14, (uint64_t)str_id(&st, dflt));
	put(pb, st.out.p, st.out.n);
	strtab_free(&st);
	for (size_t i = 0; i < maps.n; i++)
		free(maps.path[i]);
	free(maps.path);
	free(maps.limit);
	free(m.p);
	free(packed.p);
	return err[0] ? -1 : 0;
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put_le32(FILE *out, uint32_t v)
{
	const unsigned char c[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
	fwrite(c, 1, 4, out);
}

/* Writes data as a gzip file (RFC 1952) of stored deflate blocks (RFC 1951
   3.2.4): no compression, so no zlib. */
static void write_gzip(FILE *out, const unsigned char *data, size_t n)
{
	static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	fwrite(header, 1, sizeof(header), out);
	size_t at = 0;
	do {
		size_t len = n - at > 65535 ? 65535 : n - at;
		const unsigned char block[5] = {at + len == n ? 1 : 0, len & 0xff, len >> 8, ~len & 0xff,
		                                (~len >> 8) & 0xff};
		fwrite(block, 1, sizeof(block), out);
		fwrite(data + at, 1, len, out);
		at += len;
	} while (at < n);
	put_le32(out, crc32_update(0, data, n));
	put_le32(out, (uint32_t)n);
}

/* --- massif ----------------------------------------------------------------- */

struct sample {
	int64_t time_ns, heap, usable;
};

/* Massif's own default: children below 1% of the peak are summed into
   one "in N places" line. */
#define MASSIF_THRESHOLD 100 /* the peak divided by this */

static void massif_indent(FILE *out, size_t depth)
{
	for (size_t i = 0; i < depth; i++)
		fputc(' ', out);
}

static void massif_node(FILE *out, const struct mp_calltree *t, size_t node)
{
	const struct mp_calltree_node *n = &t->nodes[node];
	int64_t limit = t->nodes[0].total / MASSIF_THRESHOLD; /* at least this much shows */
	size_t shown = 0, below = 0;
	int64_t below_bytes = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct mp_calltree_node *k = mp_calltree_kid(t, n, i);
		if (k->total >= limit && k->total > 0) {
			shown++;
		} else {
			below++;
			below_bytes = mp_add_sat(below_bytes, k->total);
		}
	}
	massif_indent(out, n->depth);
	fprintf(out, "n%zu: %" PRId64 " ", shown + (below > 0), n->total);
	if (node == 0) {
		fputs("(heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n", out);
	} else {
		const struct mp_calltree_frame *f = &t->frames[n->frame];
		fprintf(out, "0x%" PRIX64 ": ", f->address);
		/* A line of its own: no line breaks; '#' starts a comment for ms_print. */
		for (const char *s = f->name; *s; s++)
			fputc(*s == '\n' || *s == '\r' || *s == '#' ? '?' : *s, out);
		if (f->file && f->line)
			fprintf(out, " (%s:%" PRId64 ")", f->file, f->line);
		else if (f->file)
			fprintf(out, " (%s)", f->file);
		else if (f->module)
			fprintf(out, " (in %s)", f->module);
		fputc('\n', out);
	}
	for (size_t i = 0; i < n->nkids; i++) {
		size_t k = t->kids[n->kids + i];
		if (t->nodes[k].total >= limit && t->nodes[k].total > 0)
			massif_node(out, t, k);
	}
	if (below > 0) {
		massif_indent(out, n->depth + 1);
		fprintf(out, "n0: %" PRId64 " in %zu place%s, %sbelow massif's threshold (1.00%%)\n", below_bytes,
		        below, below == 1 ? "" : "s", below == 1 ? "" : "all ");
	}
}

#define MASSIF_SNAPSHOTS 100

/* Loads p's heap samples, at most MASSIF_SNAPSHOTS (the largest of each
   run of samples), the peak among them. Returns 0, or -1 with err set. */
static int massif_samples(sqlite3 *db, const struct mp_process *p, struct sample **out, size_t *nout, size_t *peak,
                          char *err, size_t errlen)
{
	struct sample *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT time_ns, heap_bytes, usable_bytes FROM main.heap_samples WHERE process_id = ?1"
	                       " ORDER BY time_ns, rowid",
	                       -1, &st, NULL) != SQLITE_OK) {
		mp_trace_errmsg(db, err, errlen);
		return -1;
	}
	sqlite3_bind_int64(st, 1, p->id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *pv = v;
		mp_grow(&pv, &cap, n + 2, sizeof(*v));
		v = pv;
		v[n].time_ns = sqlite3_column_int64(st, 0);
		v[n].heap = sqlite3_column_int64(st, 1);
		v[n].usable = sqlite3_column_int64(st, 2);
		n++;
	}
	if (rc != SQLITE_DONE) {
		mp_trace_errmsg(db, err, errlen);
		sqlite3_finalize(st);
		free(v);
		return -1;
	}
	sqlite3_finalize(st);
	/* The peak: the first sample at the process's peak, else one made. */
	size_t pk = n;
	for (size_t i = 0; i < n && pk == n; i++)
		if (v[i].heap == p->peak_bytes)
			pk = i;
	if (pk == n) {
		void *pv = v;
		mp_grow(&pv, &cap, n + 1, sizeof(*v));
		v = pv;
		size_t at = 0;
		while (at < n && v[at].time_ns <= p->peak_time_ns)
			at++;
		memmove(v + at + 1, v + at, (n - at) * sizeof(*v));
		v[at] = (struct sample){p->peak_time_ns, p->peak_bytes, p->peak_bytes};
		n++;
		pk = at;
	}
	/* Fewer snapshots: the largest of each bucket (the peak is one). */
	size_t kept = 0, new_pk = (size_t)-1; /* none: the peak was not kept */
	if (n > MASSIF_SNAPSHOTS) {
		size_t best = 0, bucket = 0;
		for (size_t i = 0; i <= n; i++) {
			size_t b = i < n ? i * MASSIF_SNAPSHOTS / n : MASSIF_SNAPSHOTS;
			if (i > 0 && b != bucket) {
				if (best == pk)
					new_pk = kept;
				v[kept++] = v[best];
			}
			if (i == n)
				break;
			if (i == 0 || b != bucket || v[i].heap > v[best].heap)
				best = i;
			bucket = b;
		}
		n = kept;
		pk = new_pk;
	}
	*out = v;
	*nout = n;
	*peak = pk;
	return 0;
}

static void massif_snapshot(FILE *out, size_t num, double ms, int64_t heap, int64_t usable, const char *tree)
{
	fprintf(out,
	        "#-----------\nsnapshot=%zu\n#-----------\ntime=%.3f\nmem_heap_B=%" PRId64 "\nmem_heap_extra_B=%" PRId64
	        "\nmem_stacks_B=0\nheap_tree=%s\n",
	        num, ms, heap, usable > heap ? usable - heap : 0, tree);
}

static int write_massif(FILE *out, sqlite3 *db, const struct mp_process *p, const struct mp_calltree *t, char *err,
                        size_t errlen)
{
	struct sample *v = NULL;
	size_t n = 0, pk = (size_t)-1;
	if (p && massif_samples(db, p, &v, &n, &pk, err, errlen))
		return -1; /* before anything is written */
	struct mp_buf cmd = {0};
	if (p)
		mp_argv_join(p->argv, &cmd);
	fputs("desc: --time-unit=ms (written by memprof: requested bytes; extra: usable less requested)\ncmd: ", out);
	for (const char *s = mp_buf_str(&cmd); *s; s++)
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
	mp_buf_free(&cmd);
	fputs("\ntime_unit: ms\n", out);
	if (!p) {
		massif_snapshot(out, 0, 0, 0, 0, "empty");
		return 0;
	}
	size_t num = 0;
	int64_t t0 = p->start_ns; /* massif's times count from the start */
	if (n > 0 && v[0].time_ns < t0)
		t0 = v[0].time_ns;
	if (n == 0 || v[0].heap != 0 || v[0].time_ns > t0)
		massif_snapshot(out, num++, 0, 0, 0, "empty");
	for (size_t i = 0; i < n; i++) {
		double ms = (double)(v[i].time_ns - t0) / 1e6;
		if (i != pk) {
			massif_snapshot(out, num++, ms, v[i].heap, v[i].usable, "empty");
			continue;
		}
		/* What was live at the peak: never less than the tree says. */
		int64_t heap = v[i].heap < t->nodes[0].total ? t->nodes[0].total : v[i].heap;
		massif_snapshot(out, num++, ms, heap, v[i].usable, "peak");
		massif_node(out, t, 0);
	}
	free(v);
	return 0;
}

/* --- the command ------------------------------------------------------------ */

/* The process massif describes: the largest peak (the first on ties). */
static const struct mp_process *massif_process(const struct mp_processes *ps)
{
	const struct mp_process *best = NULL;
	for (size_t i = 0; i < ps->n; i++)
		if (!best || ps->v[i].peak_bytes > best->peak_bytes)
			best = &ps->v[i];
	return best;
}

static int export(sqlite3 *db, const struct mp_query *q, const struct mp_window *w, enum export_format fmt,
                  enum mp_calltree_by by, const char *output)
{
	struct mp_processes ps;
	int rc;
	if ((rc = mp_query_processes(q, db, &ps)))
		return rc;
	const struct mp_process *mp = fmt == MASSIF ? massif_process(&ps) : NULL;
	struct mp_calltree t;
	char err[512] = "";
	if (mp_window_set(w) && (rc = mp_window_sites(w, NULL, db, q->path, q->pid, 0))) {
		mp_processes_free(&ps);
		return rc;
	}
	if (mp_calltree_load(&t, db, mp_window_table(w), fmt == MASSIF ? -1 : q->pid, mp ? mp->id : 0)) {
		rc = mp_trace_fail(q->path, t.err);
		goto out;
	}
	if (fmt == MASSIF && !mp)
		t.nsites = 0; /* no process: an empty tree */
	mp_calltree_build(&t, fmt == MASSIF ? MP_CALLTREE_PEAK : by,
	                  fmt == MASSIF ? MP_CALLTREE_REVERSE | MP_CALLTREE_BY_WEIGHT : 0);
	struct bytes pb = {0};
	if (fmt == PPROF && pprof_encode(db, &t, by, &pb, err, sizeof(err))) {
		rc = mp_trace_fail(q->path, err);
		free(pb.p);
		goto out;
	}
	FILE *out = mp_outfile_open(output);
	if (!out) {
		rc = MP_EXIT_TRACE;
		free(pb.p);
		goto out;
	}
	switch (fmt) {
	case FOLDED:
		write_folded(out, &t);
		break;
	case SPEEDSCOPE: {
		struct mp_buf name = {0};
		mp_buf_puts(&name, mp_basename(q->path));
		if (q->pid >= 0)
			mp_buf_printf(&name, " pid %" PRId64, q->pid);
		if (mp_window_set(w)) {
			mp_buf_puts(&name, " ");
			mp_window_describe(w, &name);
		}
		write_speedscope(out, &t, by, mp_buf_str(&name));
		mp_buf_free(&name);
		break;
	}
	case PPROF:
		write_gzip(out, pb.p, pb.n);
		break;
	case MASSIF:
		if (write_massif(out, db, mp, &t, err, sizeof(err))) {
			mp_outfile_discard(out, output);
			rc = mp_trace_fail(q->path, err);
			free(pb.p);
			goto out;
		}
		break;
	}
	free(pb.p);
	rc = mp_outfile_close(out, output);
out:
	mp_calltree_free(&t);
	mp_processes_free(&ps);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	static const struct option options[] = {
	        {"pid", required_argument, NULL, MP_OPT_PID},
	        {"help", no_argument, NULL, 'h'},
	        {"output", required_argument, NULL, 'o'},
	        {"by", required_argument, NULL, OPT_BY},
	        {"format", required_argument, NULL, OPT_EXPORT_FORMAT},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "export", 0);
	struct mp_window w;
	mp_window_init(&w);
	enum mp_calltree_by by = MP_CALLTREE_BYTES;
	int by_given = 0, fmt = -1, opt, rc;
	const char *output = NULL;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "o:", options, NULL)) != -1) {
		if (opt == 'o') {
			output = optarg;
		} else if (opt == OPT_EXPORT_FORMAT) {
			fmt = -1;
			for (int i = 0; i < 4; i++)
				if (!strcmp(optarg, format_names[i]))
					fmt = i;
			if (fmt < 0)
				return mp_usage_error(
				        q.cmd, "option '--format' needs folded, speedscope, pprof or massif, not '%s'",
				        optarg);
		} else if (opt == OPT_BY) {
			if (mp_calltree_by_parse(optarg, &by))
				return mp_usage_error(
				        q.cmd, "option '--by' needs bytes, count, peak, leaked or temporary, not '%s'",
				        optarg);
			by_given = 1;
		} else if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0) {
			return rc > 0 ? rc : MP_EXIT_USAGE;
		}
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (fmt < 0)
		return mp_usage_error(q.cmd, "no --format given (folded, speedscope, pprof or massif)");
	if (fmt == MASSIF && by_given)
		return mp_usage_error(q.cmd, "option '--by' does not apply to massif (its tree is the peak's)");
	if (fmt == PPROF && (by == MP_CALLTREE_PEAK || by == MP_CALLTREE_TEMPORARY))
		return mp_usage_error(q.cmd, "pprof holds bytes, count and leaked only, not '--by %s'",
		                      mp_calltree_by_name(by));
	if (mp_window_set(&w) && fmt == MASSIF)
		return mp_window_refuse(q.cmd, "--format massif", "its tree is the peak's");
	if (mp_window_set(&w) && (by == MP_CALLTREE_PEAK || by == MP_CALLTREE_TEMPORARY))
		return mp_window_refuse(q.cmd, by == MP_CALLTREE_PEAK ? "--by peak" : "--by temporary",
		                        "not defined for a window");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	rc = export(db, &q, &w, (enum export_format)fmt, by, output);
	mp_trace_close(db);
	return rc;
}
