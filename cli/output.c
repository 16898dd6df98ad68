/* Output of the query commands; see cli/output.h. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "output.h"
#include "util.h"

int mp_format_parse(const char *s, enum mp_format *f)
{
	static const struct {
		const char *name;
		enum mp_format f;
	} names[] = {{"text", MP_FMT_TEXT}, {"json", MP_FMT_JSON}, {"csv", MP_FMT_CSV}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*f = names[i].f;
			return 0;
		}
	}
	return -1;
}

const char *mp_human_size(int64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	const char *sign = bytes < 0 ? "-" : "";
	uint64_t m = bytes < 0 ? -(uint64_t)bytes : (uint64_t)bytes;
	if (m < 1024) {
		snprintf(buf, size, "%s%" PRIu64 " B", sign, m);
		return buf;
	}
	double d = (double)m;
	size_t u = 0;
	while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024;
		u++;
	}
	if (d >= 1023.995 && u + 1 < sizeof(units) / sizeof(units[0])) { /* would print as 1024.00 */
		d /= 1024;
		u++;
	}
	snprintf(buf, size, "%s%.2f %s", sign, d, units[u]);
	return buf;
}

const char *mp_human_duration(int64_t ns, char *buf, size_t size)
{
	if (ns >= 100000000)
		snprintf(buf, size, "%.3f s", (double)ns / 1e9);
	else if (ns >= 100000)
		snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
	else if (ns >= 1000)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else
		snprintf(buf, size, "%" PRId64 " ns", ns);
	return buf;
}

void mp_text_write(FILE *out, const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			fwrite(s + start, 1, i - start, out);
			fputc('?', out);
			start = i + 1;
		}
	}
	fwrite(s + start, 1, n - start, out);
}

void mp_text_puts(FILE *out, const char *s)
{
	mp_text_write(out, s, strlen(s));
}

/* --- aligned text tables ---------------------------------------------- */

void mp_table_init(struct mp_table *t, size_t ncols, int header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols ? ncols : 1;
	t->right = mp_xmalloc(t->ncols);
	memset(t->right, 0, t->ncols);
	t->width = mp_xmalloc(t->ncols * sizeof(*t->width));
	memset(t->width, 0, t->ncols * sizeof(*t->width));
	t->header = header;
}

void mp_table_add(struct mp_table *t, const char *cell)
{
	void *v = t->cells;
	mp_grow(&v, &t->cap, t->ncells + 1, sizeof(*t->cells));
	t->cells = v;
	t->cells[t->ncells++] = mp_xstrdup(cell ? cell : "");
}

size_t mp_table_rows(const struct mp_table *t)
{
	return t->ncells / t->ncols;
}

/* Columns s takes on a terminal: UTF-8 characters, not bytes. */
static size_t display_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void pad(FILE *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(' ', out);
}

void mp_table_flush(struct mp_table *t, FILE *out, const char *indent)
{
	size_t rows = mp_table_rows(t);
	for (size_t i = 0; i < rows * t->ncols; i++) {
		size_t w = display_width(t->cells[i]);
		if (w > t->width[i % t->ncols])
			t->width[i % t->ncols] = w;
	}
	for (size_t r = 0; r < rows; r++) {
		fputs(indent, out);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t gap = t->width[c] - display_width(cell);
			int last = c + 1 == t->ncols;
			if (c)
				fputs("  ", out);
			if (t->right[c]) {
				pad(out, gap);
				mp_text_puts(out, cell);
			} else {
				mp_text_puts(out, cell);
				if (!last)
					pad(out, gap);
			}
		}
		fputc('\n', out);
		if (t->header && r == 0) {
			fputs(indent, out);
			for (size_t c = 0; c < t->ncols; c++) {
				if (c)
					fputs("  ", out);
				for (size_t k = 0; k < t->width[c]; k++)
					fputc('-', out);
			}
			fputc('\n', out);
			t->header = 0;
		}
	}
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	/* a partial row (never, by the callers) is dropped too */
	t->ncells = 0;
}

void mp_table_free(struct mp_table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t->width);
	memset(t, 0, sizeof(*t));
}

/* --- JSON --------------------------------------------------------------- */

size_t mp_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

void mp_json_quote_to(FILE *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t start = 0; /* bytes from here on are written as they are, in one go */
	fputc('"', out);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		size_t len = c >= 0x80 ? mp_utf8_len(p + i, n - i) : 0;
		if (len) {
			i += len;
			continue;
		}
		fwrite(p + start, 1, i - start, out);
		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c >= 0x80) {
			fputs("\\ufffd", out);
		} else {
			const char *esc = c == '\n'   ? "\\n"
			                  : c == '\t' ? "\\t"
			                  : c == '\r' ? "\\r"
			                  : c == '\b' ? "\\b"
			                  : c == '\f' ? "\\f"
			                              : NULL;
			if (esc)
				fputs(esc, out);
			else
				fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		}
		start = ++i;
	}
	fwrite(p + start, 1, n - start, out);
	fputc('"', out);
}

void mp_json_init(struct mp_json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

static void indent(struct mp_json *j, int depth)
{
	fputc('\n', j->out);
	for (int i = 0; i < depth; i++)
		fputs("  ", j->out);
}

/* Level index of the current container (0 outside any). */
static int level(const struct mp_json *j)
{
	return j->depth < MP_JSON_MAX_DEPTH ? j->depth : MP_JSON_MAX_DEPTH - 1;
}

/* Before a value or a key: the comma and the layout. */
static void separate(struct mp_json *j)
{
	if (j->key_pending) {
		j->key_pending = 0;
		return;
	}
	if (j->depth == 0)
		return;
	int d = level(j);
	if (j->members[d])
		fputc(',', j->out);
	if (j->flat[d]) {
		if (j->members[d])
			fputc(' ', j->out);
	} else {
		indent(j, j->depth);
	}
	j->members[d] = 1;
}

static void begin(struct mp_json *j, int flat, char c)
{
	separate(j);
	fputc(c, j->out);
	int parent_flat = j->depth > 0 && j->flat[level(j)];
	j->depth++;
	int d = level(j);
	j->members[d] = 0;
	j->flat[d] = (unsigned char)(flat || parent_flat);
}

static void end(struct mp_json *j, char c)
{
	if (j->depth == 0)
		return;
	int d = level(j);
	if (j->members[d] && !j->flat[d])
		indent(j, j->depth - 1);
	fputc(c, j->out);
	j->depth--;
}

void mp_json_object_begin(struct mp_json *j, int flat)
{
	begin(j, flat, '{');
}

void mp_json_object_end(struct mp_json *j)
{
	end(j, '}');
}

void mp_json_array_begin(struct mp_json *j, int flat)
{
	begin(j, flat, '[');
}

void mp_json_array_end(struct mp_json *j)
{
	end(j, ']');
}

void mp_json_key(struct mp_json *j, const char *key)
{
	separate(j);
	mp_json_quote_to(j->out, key, strlen(key));
	fputs(": ", j->out);
	j->key_pending = 1;
}

void mp_json_int(struct mp_json *j, int64_t v)
{
	separate(j);
	fprintf(j->out, "%" PRId64, v);
}

void mp_json_bool(struct mp_json *j, int v)
{
	separate(j);
	fputs(v ? "true" : "false", j->out);
}

void mp_json_double(struct mp_json *j, double v)
{
	separate(j);
	if (!isfinite(v)) {
		fputs("null", j->out);
		return;
	}
	char buf[32];
	snprintf(buf, sizeof(buf), "%.15g", v); /* the shortest of the two that reads back the same */
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, j->out);
}

void mp_json_string_n(struct mp_json *j, const char *s, size_t n)
{
	separate(j);
	if (s)
		mp_json_quote_to(j->out, s, n);
	else
		fputs("null", j->out);
}

void mp_json_string(struct mp_json *j, const char *s)
{
	mp_json_string_n(j, s, s ? strlen(s) : 0);
}

void mp_json_null(struct mp_json *j)
{
	separate(j);
	fputs("null", j->out);
}

void mp_json_finish(struct mp_json *j)
{
	fputc('\n', j->out);
}

void mp_json_kv_int(struct mp_json *j, const char *key, int64_t v)
{
	mp_json_key(j, key);
	mp_json_int(j, v);
}

void mp_json_kv_string(struct mp_json *j, const char *key, const char *s)
{
	mp_json_key(j, key);
	mp_json_string(j, s);
}

/* --- CSV ---------------------------------------------------------------- */

void mp_csv_field_n(FILE *out, const char *s, size_t n, int first)
{
	if (!first)
		fputc(',', out);
	if (!s)
		return;
	int quote = 0;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		fwrite(s, 1, n, out);
		return;
	}
	fputc('"', out);
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"') {
			fwrite(s + start, 1, i + 1 - start, out); /* the quote, then its double */
			start = i;
		}
	}
	fwrite(s + start, 1, n - start, out);
	fputc('"', out);
}

void mp_csv_field(FILE *out, const char *s, int first)
{
	mp_csv_field_n(out, s, s ? strlen(s) : 0, first);
}

void mp_csv_int(FILE *out, int64_t v, int first)
{
	fprintf(out, "%s%" PRId64, first ? "" : ",", v);
}

void mp_csv_end(FILE *out)
{
	fputc('\n', out);
}

/* --- call stacks -------------------------------------------------------- */

/* Stacks longer than this are loops in a damaged file (the recorder keeps at most a few hundred frames). */
#define MAX_PHYSICAL_FRAMES 4096
/* Inlined functions kept per address (a real one has a handful). */
#define MAX_INLINED 1024

struct mp_stack_node {
	int64_t id, parent;
	struct mp_frame *frames; /* owned, strings too; they never move once read */
	size_t n;
	int used;
};

int mp_stack_loader_init(struct mp_stack_loader *l, sqlite3 *db)
{
	memset(l, 0, sizeof(*l));
	l->db = db;
	if (sqlite3_prepare_v3(db,
	                       "SELECT s.parent_id, s.frame_id, f.id, f.function, f.file, f.line, f.address, f.inlined,"
	                       " f.module_id, m.path FROM main.stacks s LEFT JOIN main.frames f ON f.id = s.frame_id"
	                       " LEFT JOIN main.modules m ON m.id = f.module_id WHERE s.id = ?1",
	                       -1, SQLITE_PREPARE_PERSISTENT, &l->walk, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db,
	                       "SELECT json_extract(value, '$.function'), json_extract(value, '$.file'),"
	                       " json_extract(value, '$.line') FROM json_each(?1) WHERE type = 'object'",
	                       -1, SQLITE_PREPARE_PERSISTENT, &l->inlined, NULL) != SQLITE_OK) {
		snprintf(l->err, sizeof(l->err), "damaged trace: %s", sqlite3_errmsg(db));
		mp_stack_loader_fini(l);
		return -1;
	}
	/* A trace without meta 'fold' (an older memprof's) folds nothing. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT value FROM main.meta WHERE key = 'fold'", -1, &st, NULL) == SQLITE_OK) {
		const char *patterns = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		if (patterns && *patterns && (l->fold = malloc(sizeof(*l->fold))) &&
		    mp_fold_init(l->fold, &patterns, 1)) {
			free(l->fold);
			l->fold = NULL;
		}
		sqlite3_finalize(st);
	}
	return 0;
}

static void free_frames(struct mp_frame *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].function);
		free((char *)v[i].file);
		free((char *)v[i].module);
	}
	free(v);
}

void mp_stack_loader_fini(struct mp_stack_loader *l)
{
	sqlite3_finalize(l->walk);
	sqlite3_finalize(l->inlined);
	l->walk = l->inlined = NULL;
	for (size_t i = 0; i < l->nodes_cap; i++)
		if (l->nodes[i].used)
			free_frames(l->nodes[i].frames, l->nodes[i].n);
	free(l->nodes);
	l->nodes = NULL;
	l->nodes_cap = l->nodes_used = 0;
	if (l->fold) {
		mp_fold_free(l->fold);
		free(l->fold);
		l->fold = NULL;
	}
}

static size_t slot_of(int64_t id, size_t cap)
{
	uint64_t x = (uint64_t)id;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static struct mp_stack_node *node_find(const struct mp_stack_loader *l, int64_t id)
{
	if (!l->nodes_cap)
		return NULL;
	for (size_t i = slot_of(id, l->nodes_cap);; i = (i + 1) & (l->nodes_cap - 1)) {
		if (!l->nodes[i].used)
			return NULL;
		if (l->nodes[i].id == id)
			return &l->nodes[i];
	}
}

/* Adds a node (not present yet), taking frames. */
static struct mp_stack_node *node_add(struct mp_stack_loader *l, int64_t id, int64_t parent, struct mp_frame *frames,
                                      size_t n)
{
	if ((l->nodes_used + 1) * 2 > l->nodes_cap) {
		size_t cap = l->nodes_cap ? l->nodes_cap * 2 : 1024;
		struct mp_stack_node *old = l->nodes;
		size_t old_cap = l->nodes_cap;
		l->nodes = mp_xmalloc(cap * sizeof(*l->nodes));
		memset(l->nodes, 0, cap * sizeof(*l->nodes));
		l->nodes_cap = cap;
		for (size_t i = 0; i < old_cap; i++) {
			if (!old[i].used)
				continue;
			size_t k = slot_of(old[i].id, cap);
			while (l->nodes[k].used)
				k = (k + 1) & (cap - 1);
			l->nodes[k] = old[i];
		}
		free(old);
	}
	size_t k = slot_of(id, l->nodes_cap);
	while (l->nodes[k].used)
		k = (k + 1) & (l->nodes_cap - 1);
	struct mp_stack_node *node = &l->nodes[k];
	node->id = id;
	node->parent = parent;
	node->frames = frames;
	node->n = n;
	node->used = 1;
	l->nodes_used++;
	return node;
}

/* A growable vector of frames being read. */
struct frames {
	struct mp_frame *v;
	size_t n, cap;
};

static struct mp_frame *frame_push(struct frames *fv)
{
	void *v = fv->v;
	mp_grow(&v, &fv->cap, fv->n + 1, sizeof(*fv->v));
	fv->v = v;
	struct mp_frame *f = &fv->v[fv->n++];
	memset(f, 0, sizeof(*f));
	return f;
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? mp_xstrdup((const char *)t) : NULL;
}

/* Adds the frames inlined at a physical frame from its JSON list; a
   malformed list is skipped (the physical frame still tells). */
static void add_inlined(struct mp_stack_loader *l, struct frames *fv, const char *json, const char *module,
                        uint64_t address, unsigned flags)
{
	sqlite3_stmt *st = l->inlined;
	size_t first = fv->n;
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && fv->n - first < MAX_INLINED) {
		struct mp_frame *f = frame_push(fv);
		f->function = column_text(st, 0);
		f->file = column_text(st, 1);
		f->line = sqlite3_column_int64(st, 2) > 0 ? sqlite3_column_int64(st, 2) : 0;
		f->module = mp_xstrdup(module);
		f->address = address;
		f->flags = flags | MP_FRAME_INLINED;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) { /* not JSON: drop what was added */
		for (size_t i = first; i < fv->n; i++) {
			free((char *)fv->v[i].function);
			free((char *)fv->v[i].file);
			free((char *)fv->v[i].module);
		}
		fv->n = first;
	}
}

/* Reads the stacks row id into the cache. Returns it, or NULL with l->err set. */
static struct mp_stack_node *node_read(struct mp_stack_loader *l, int64_t id)
{
	sqlite3_stmt *st = l->walk;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			snprintf(l->err, sizeof(l->err), "damaged trace: stack %" PRId64 " is missing", id);
		else
			snprintf(l->err, sizeof(l->err), "damaged trace: %s", sqlite3_errmsg(l->db));
		sqlite3_reset(st);
		return NULL;
	}
	struct frames fv = {0};
	int64_t parent = sqlite3_column_int64(st, 0), frame_id = sqlite3_column_int64(st, 1);
	if (frame_id == 0) {
		frame_push(&fv)->flags = MP_FRAME_TRUNCATED;
	} else if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
		snprintf(l->err, sizeof(l->err), "damaged trace: frame %" PRId64 " is missing", frame_id);
		sqlite3_reset(st);
		return NULL;
	} else {
		const char *module = (const char *)sqlite3_column_text(st, 9);
		uint64_t address = (uint64_t)sqlite3_column_int64(st, 6);
		unsigned flags = sqlite3_column_type(st, 6) == SQLITE_NULL ? 0 : MP_FRAME_ADDRESS;
		const char *inl = (const char *)sqlite3_column_text(st, 7);
		if (inl) /* valid while the walk statement stays on this row */
			add_inlined(l, &fv, inl, module, address, flags);
		struct mp_frame *f = frame_push(&fv);
		f->function = column_text(st, 3);
		f->file = column_text(st, 4);
		f->line = sqlite3_column_int64(st, 5) > 0 ? sqlite3_column_int64(st, 5) : 0;
		f->module = column_text(st, 9);
		f->address = address;
		f->flags = flags;
	}
	sqlite3_reset(st);
	return node_add(l, id, parent, fv.v, fv.n);
}

int mp_stack_load(struct mp_stack_loader *l, int64_t stack_id, struct mp_stack *s)
{
	s->n = 0;
	l->err[0] = 0;
	int64_t id = stack_id;
	for (int depth = 0; id != 0; depth++) {
		if (depth == MAX_PHYSICAL_FRAMES) {
			snprintf(l->err, sizeof(l->err), "damaged trace: stack %" PRId64 " loops", stack_id);
			return -1;
		}
		struct mp_stack_node *node = node_find(l, id);
		if (!node && !(node = node_read(l, id)))
			return -1;
		void *v = s->v;
		mp_grow(&v, &s->cap, s->n + node->n, sizeof(*s->v));
		s->v = v;
		for (size_t i = 0; i < node->n; i++)
			s->v[s->n++] = &node->frames[i];
		id = node->parent;
	}
	size_t skip = 0;
	while (l->fold && skip + 1 < s->n && (s->v[skip]->flags & MP_FRAME_INLINED) &&
	       mp_fold_match(l->fold, s->v[skip]->function))
		skip++;
	if (skip) {
		memmove(s->v, s->v + skip, (s->n - skip) * sizeof(*s->v));
		s->n -= skip;
	}
	return 0;
}

void mp_stack_free(struct mp_stack *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

void mp_frame_format(const struct mp_frame *f, struct mp_buf *b)
{
	if (f->flags & MP_FRAME_TRUNCATED) {
		mp_buf_puts(b, "[truncated]");
		return;
	}
	if (f->function)
		mp_buf_puts(b, f->function);
	else if (f->flags & MP_FRAME_ADDRESS)
		mp_buf_printf(b, "0x%" PRIx64, f->address);
	else
		mp_buf_puts(b, "??");
	if (f->file && f->line)
		mp_buf_printf(b, " (%s:%" PRId64 ")", f->file, f->line);
	else if (f->file)
		mp_buf_printf(b, " (%s)", f->file);
	else if (f->module)
		mp_buf_printf(b, " (%s)", mp_basename(f->module));
	if (f->flags & MP_FRAME_INLINED)
		mp_buf_puts(b, " [inlined]");
}

void mp_stack_print_text(FILE *out, const struct mp_stack *s, const char *indent_str, int full)
{
	struct mp_buf b = {0};
	if (s->n == 0) {
		fprintf(out, "%s[no stack]\n", indent_str);
		return;
	}
	size_t shown = s->n;
	if (!full && shown > MP_TEXT_CALLERS + 1)
		shown = MP_TEXT_CALLERS + 1;
	for (size_t i = 0; i < shown; i++) {
		mp_buf_reset(&b);
		mp_frame_format(s->v[i], &b);
		fputs(i ? "    called from " : indent_str, out);
		mp_text_write(out, b.s, b.len);
		fputc('\n', out);
	}
	if (shown < s->n)
		fprintf(out, "    ... %zu more caller%s (--full-stacks shows them)\n", s->n - shown,
		        s->n - shown == 1 ? "" : "s");
	mp_buf_free(&b);
}

void mp_stack_format_line(const struct mp_stack *s, struct mp_buf *b)
{
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			mp_buf_puts(b, " <- ");
		mp_frame_format(s->v[i], b);
	}
}

void mp_stack_json(struct mp_json *j, const struct mp_stack *s)
{
	mp_json_array_begin(j, 0);
	for (size_t i = 0; i < s->n; i++) {
		const struct mp_frame *f = s->v[i];
		mp_json_object_begin(j, 1);
		mp_json_kv_string(j, "function", f->flags & MP_FRAME_TRUNCATED ? "[truncated]" : f->function);
		mp_json_kv_string(j, "file", f->file);
		mp_json_key(j, "line");
		if (f->line)
			mp_json_int(j, f->line);
		else
			mp_json_null(j);
		mp_json_kv_string(j, "module", f->module);
		mp_json_key(j, "address");
		if (f->flags & MP_FRAME_ADDRESS) {
			char hex[24];
			snprintf(hex, sizeof(hex), "0x%" PRIx64, f->address);
			mp_json_string(j, hex);
		} else {
			mp_json_null(j);
		}
		mp_json_object_end(j);
	}
	mp_json_array_end(j);
}
