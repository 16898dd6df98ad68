/* memprof annotate: a source file with the allocations beside each line,
 * as line_profiler prints it, from the sites and the stacks trie
 * (cli/funcs.h). A line's figures come from the frames at that line: self
 * when the frame is the innermost one (the line calls the allocation
 * function), total when it is anywhere in the stack. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "funcs.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "window.h"

enum { OPT_FUNCTION = MP_OPT_FIRST_PRIVATE, OPT_FILE, OPT_CONTEXT, OPT_SOURCE_DIR };

#define DEFAULT_CONTEXT 3
/* Larger "source files" are not read. */
#define MAX_SOURCE (64 << 20)
/* Text rows held before they are printed. */
#define TEXT_BATCH 65536

static void usage(FILE *out)
{
	fputs("usage: memprof annotate --function F | --file FILE [--context N] [--source-dir DIR]\n"
	      "                        [--phase NAME] [--from T] [--to T] [--format text|json|csv]\n"
	      "                        [--pid PID] TRACE\n"
	      "\n"
	      "A source file with the allocations beside each line that allocates, as\n"
	      "line_profiler prints it. self: allocations made by the call on that line\n"
	      "itself (it called the allocation function); total: also those made\n"
	      "further down the calls it makes. leaked: bytes never freed (total).\n"
	      "The source is read from the path the trace recorded (relative to the\n"
	      "current directory when it is relative, and failing that its last\n"
	      "components there); without it only the lines with figures are listed.\n"
	      "With --phase, --from or --to: the allocations made in that window.\n"
	      "\n"
	      "    --function F    the lines of function F, from the first to the last\n"
	      "                    with figures; F is an exact name, or else a part of\n"
	      "                    names (each function that matches is shown)\n"
	      "    --file FILE     every line of a source file, matched by its full path\n"
	      "                    as recorded, its last components, or its base name\n"
	      "    --context N     lines shown around a function's range (default 3)\n"
	      "    --source-dir DIR  read the sources under DIR instead (for a trace\n"
	      "                    read on another machine): DIR/PATH, then DIR with\n"
	      "                    the last components of PATH, down to the base name\n"
	      "    --format FMT    text (default), json or csv (only lines with figures)\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* --- sources -------------------------------------------------------------- */

struct source {
	char *path; /* where it was read, NULL when not found */
	char *text; /* the whole file */
	size_t *line_start, nlines;
};

/* Reads path when it is a regular file of sane size. Returns 0 or -1. */
static int read_file(const char *path, struct source *s)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_SOURCE) {
		close(fd);
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *text = mp_xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > MAX_SOURCE) /* grew while being read */
				break;
			cap *= 2;
			text = mp_xrealloc(text, cap);
		}
		ssize_t n = read(fd, text + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = 0;
	size_t lcap = 0;
	s->line_start = NULL;
	s->nlines = 0;
	for (size_t i = 0; i < len; i++) {
		if (i == 0 || text[i - 1] == '\n') {
			void *v = s->line_start;
			mp_grow(&v, &lcap, s->nlines + 2, sizeof(*s->line_start));
			s->line_start = v;
			s->line_start[s->nlines++] = i;
		}
	}
	if (!s->line_start)
		s->line_start = mp_xmalloc(sizeof(*s->line_start));
	s->line_start[s->nlines] = len; /* the end, for the last line's length */
	s->text = text;
	s->path = mp_xstrdup(path);
	return 0;
}

/* Tries dir/suffix for every suffix of path after a '/' (and path itself
   under dir when dir is set, or as it is when not). */
static int find_source(const char *path, const char *dir, struct source *s)
{
	memset(s, 0, sizeof(*s));
	struct mp_buf b = {0};
	int found = -1;
	if (!dir) {
		found = read_file(path, s);
	} else {
		mp_buf_printf(&b, "%s/%s", dir, path[0] == '/' ? path + 1 : path);
		found = read_file(mp_buf_str(&b), s);
	}
	for (const char *p = strchr(path, '/'); found && p; p = strchr(p + 1, '/')) {
		if (!p[1])
			break;
		mp_buf_reset(&b);
		mp_buf_printf(&b, "%s/%s", dir ? dir : ".", p + 1);
		found = read_file(mp_buf_str(&b), s);
	}
	mp_buf_free(&b);
	return found;
}

static void source_free(struct source *s)
{
	free(s->path);
	free(s->text);
	free(s->line_start);
	memset(s, 0, sizeof(*s));
}

/* Line n (from 1) without its line end, with tabs expanded, into b; 0, or
   -1 when the source has no such line. */
static int source_line(const struct source *s, int64_t n, struct mp_buf *b)
{
	mp_buf_reset(b);
	if (!s->text || n < 1 || (uint64_t)n > s->nlines)
		return -1;
	const char *p = s->text + s->line_start[n - 1], *end = s->text + s->line_start[n];
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	size_t col = 0;
	for (; p < end; p++) {
		if (*p == '\t') {
			do
				mp_buf_add(b, " ", 1);
			while (++col % 8);
		} else {
			mp_buf_add(b, p, 1);
			col += ((unsigned char)*p & 0xc0) != 0x80;
		}
	}
	return 0;
}

/* --- what to annotate ------------------------------------------------------ */

/* One function (--function) or one file (--file) shown. */
struct section {
	const char *file;             /* as the trace records it */
	const struct mp_funcs_fn *fn; /* --function: the function */
	struct mp_funcs_cell *lines;  /* its lines with figures, by line */
	size_t nlines;
};

/* Ends of path: full match 3, path-suffix match 2 ("dir/x.c" of
   "/src/dir/x.c"), base name match 1, none 0. */
static int file_match(const char *recorded, const char *asked)
{
	if (!strcmp(recorded, asked))
		return 3;
	size_t n = strlen(recorded), k = strlen(asked);
	if (strchr(asked, '/') && k < n && recorded[n - k - 1] == '/' && !strcmp(recorded + n - k, asked))
		return 2;
	return !strcmp(mp_basename(recorded), mp_basename(asked));
}

static int by_line(const void *pa, const void *pb)
{
	const struct mp_funcs_cell *a = pa, *b = pb;
	return a->key < b->key ? -1 : a->key > b->key;
}

/* Finds the sections; sec_of[function] is its section or MP_FUNCS_NONE.
   Returns the number of sections (0: nothing matched), *how says how. */
static size_t find_sections(const struct mp_funcs *f, const char *function, const char *file, uint32_t *sec_of,
                            struct section **out, const char **how)
{
	struct section *secs = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < f->n; i++)
		sec_of[i] = MP_FUNCS_NONE;
	if (function) {
		uint32_t *targets;
		int exact;
		n = mp_funcs_match(f, function, &targets, &exact);
		*how = exact ? "exact" : "substring";
		secs = mp_xmalloc((n ? n : 1) * sizeof(*secs));
		for (size_t i = 0; i < n; i++) {
			memset(&secs[i], 0, sizeof(secs[i]));
			secs[i].fn = &f->v[targets[i]];
			secs[i].file = secs[i].fn->file;
			sec_of[targets[i]] = (uint32_t)i;
		}
		free(targets);
		*out = secs;
		return n;
	}
	int best = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].file && file_match(f->v[i].file, file) > best)
			best = file_match(f->v[i].file, file);
	static const char *const hows[] = {NULL, "basename", "path-suffix", "path"};
	*how = hows[best];
	for (size_t i = 0; best && i < f->n; i++) {
		const char *rec = f->v[i].file;
		if (!rec || file_match(rec, file) != best)
			continue;
		size_t k = 0;
		while (k < n && strcmp(secs[k].file, rec) != 0)
			k++;
		if (k == n) {
			void *v = secs;
			mp_grow(&v, &cap, n + 1, sizeof(*secs));
			secs = v;
			memset(&secs[n], 0, sizeof(secs[n]));
			secs[n++].file = rec;
		}
		sec_of[i] = (uint32_t)k;
	}
	*out = secs;
	return n;
}

/* --- output ----------------------------------------------------------------- */

struct out {
	const struct mp_query *q;
	const struct mp_window *w;
	struct mp_json j;
	int context;
	const char *source_dir;
	const struct mp_funcs *funcs;
	struct mp_buf text;
};

static void add_int_cell(struct mp_table *t, int64_t v, int blank)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRId64, v);
	mp_table_add(t, blank ? "" : s);
}

static void add_size_cell(struct mp_table *t, int64_t v, int blank)
{
	char s[MP_HUMAN_MAX];
	mp_table_add(t, blank ? "" : mp_human_size(v, s, sizeof(s)));
}

/* One row of the text table: line, figures (blank when c is NULL), source. */
static void text_row(struct mp_table *t, int64_t line, const struct mp_funcs_cell *c, const char *src)
{
	add_int_cell(t, line, 0);
	add_int_cell(t, c ? c->self_allocations : 0, !c || !c->self_allocations);
	add_size_cell(t, c ? c->self_bytes : 0, !c || !c->self_allocations);
	add_int_cell(t, c ? c->total_allocations : 0, !c);
	add_size_cell(t, c ? c->total_bytes : 0, !c);
	add_size_cell(t, c ? c->total_leaked_bytes : 0, !c);
	if (src)
		mp_table_add(t, src);
}

static void print_text(struct out *o, const struct section *s, const struct source *src)
{
	struct mp_buf name = {0};
	int64_t lo = s->nlines ? (int64_t)s->lines[0].key : 0,
	        hi = s->nlines ? (int64_t)s->lines[s->nlines - 1].key : 0;
	fputc('\n', stdout);
	if (s->fn) {
		mp_funcs_format(s->fn, &name);
		mp_text_puts(stdout, mp_buf_str(&name));
		if (!s->nlines) {
			printf(": no line information\n");
			mp_buf_free(&name);
			return;
		}
		if (lo == hi)
			printf(": line %" PRId64 " has figures\n", lo);
		else
			printf(": lines %" PRId64 "-%" PRId64 " have figures\n", lo, hi);
	} else {
		mp_text_puts(stdout, s->file);
		printf(": %zu line%s with figures\n", s->nlines, s->nlines == 1 ? "" : "s");
	}
	mp_buf_free(&name);
	if (src->path) {
		fputs("source: ", stdout);
		mp_text_puts(stdout, src->path);
		fputc('\n', stdout);
	} else {
		fputs("source not found: ", stdout);
		mp_text_puts(stdout, s->file ? s->file : "(no file)");
		printf(" (--source-dir DIR says where to look); only the lines with figures are listed\n");
	}
	if (src->path && (int64_t)src->nlines < hi)
		printf("warning: the source has %zu lines, fewer than the trace knows (%" PRId64
		       "): it may not be the file the program was built from\n",
		       src->nlines, hi);
	static const char *const head[] = {"line",        "self allocs", "self bytes", "total allocs",
	                                   "total bytes", "leaked",      "source"};
	size_t ncols = src->path ? 7 : 6;
	struct mp_table t;
	mp_table_init(&t, ncols, 1);
	for (size_t k = 0; k < ncols; k++) {
		t.right[k] = k < 6;
		mp_table_add(&t, head[k]);
	}
	if (!src->path) {
		for (size_t i = 0; i < s->nlines; i++)
			text_row(&t, (int64_t)s->lines[i].key, &s->lines[i], NULL);
	} else {
		int64_t first = 1, last = (int64_t)src->nlines;
		if (s->fn) {
			first = lo - o->context > 1 ? lo - o->context : 1;
			last = hi + o->context;
			if (last > (int64_t)src->nlines)
				last = (int64_t)src->nlines;
		}
		size_t i = 0;
		while (i < s->nlines && (int64_t)s->lines[i].key < first)
			i++;
		for (int64_t line = first; line <= last; line++) {
			const struct mp_funcs_cell *c = NULL;
			if (i < s->nlines && (int64_t)s->lines[i].key == line)
				c = &s->lines[i++];
			source_line(src, line, &o->text);
			text_row(&t, line, c, mp_buf_str(&o->text));
			if (mp_table_rows(&t) >= TEXT_BATCH)
				mp_table_flush(&t, stdout, "");
		}
		for (; i < s->nlines; i++) /* past the end of the source: the figures alone */
			text_row(&t, (int64_t)s->lines[i].key, &s->lines[i], "");
	}
	mp_table_flush(&t, stdout, "");
	mp_table_free(&t);
}

/* The function of a line: the one its frames belong to. */
static const char *line_function(const struct out *o, const struct mp_funcs_cell *c)
{
	return c->fn < o->funcs->n ? o->funcs->v[c->fn].function : NULL;
}

static void print_section(struct out *o, const struct section *s)
{
	struct source src = {0};
	if (s->file)
		find_source(s->file, o->source_dir, &src);
	if (o->q->format == MP_FMT_TEXT) {
		print_text(o, s, &src);
	} else if (o->q->format == MP_FMT_JSON) {
		struct mp_json *j = &o->j;
		mp_json_object_begin(j, 0);
		mp_json_kv_string(j, "file", s->file);
		mp_json_kv_string(j, "source", src.path);
		mp_json_kv_string(j, "function", s->fn ? s->fn->function : NULL);
		mp_json_key(j, "lines");
		mp_json_array_begin(j, 0);
		for (size_t i = 0; i < s->nlines; i++) {
			const struct mp_funcs_cell *c = &s->lines[i];
			mp_json_object_begin(j, 1);
			mp_json_kv_int(j, "line", (int64_t)c->key);
			mp_json_kv_string(j, "function", line_function(o, c));
			mp_json_kv_int(j, "self_allocations", c->self_allocations);
			mp_json_kv_int(j, "self_bytes", c->self_bytes);
			mp_json_kv_int(j, "self_leaked_bytes", c->self_leaked_bytes);
			mp_json_kv_int(j, "total_allocations", c->total_allocations);
			mp_json_kv_int(j, "total_bytes", c->total_bytes);
			mp_json_kv_int(j, "total_leaked_bytes", c->total_leaked_bytes);
			mp_json_kv_string(j, "text",
			                  source_line(&src, (int64_t)c->key, &o->text) ? NULL : mp_buf_str(&o->text));
			mp_json_object_end(j);
		}
		mp_json_array_end(j);
		mp_json_object_end(j);
	} else {
		for (size_t i = 0; i < s->nlines; i++) {
			const struct mp_funcs_cell *c = &s->lines[i];
			mp_csv_field(stdout, s->file, 1);
			mp_csv_field(stdout, line_function(o, c), 0);
			const int64_t v[] = {(int64_t)c->key,      c->self_allocations,  c->self_bytes,
			                     c->self_leaked_bytes, c->total_allocations, c->total_bytes,
			                     c->total_leaked_bytes};
			for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
				mp_csv_int(stdout, v[k], 0);
			mp_csv_field(stdout, source_line(&src, (int64_t)c->key, &o->text) ? NULL : mp_buf_str(&o->text),
			             0);
			mp_csv_end(stdout);
		}
	}
	source_free(&src);
}

/* Annotates; returns 0 or an exit code after a message. */
static int annotate(struct out *o, struct mp_funcs *f, const char *function, const char *file)
{
	const struct mp_query *q = o->q;
	o->funcs = f;
	uint32_t *sec_of = mp_xmalloc((f->n ? f->n : 1) * sizeof(*sec_of));
	struct section *secs;
	const char *how = NULL;
	size_t nsec = find_sections(f, function, file, sec_of, &secs, &how);
	if (!nsec) {
		free(secs);
		free(sec_of);
		if (function)
			mp_error("no function named '%s' or with '%s' in its name in '%s'", function, function,
			         q->path);
		else
			mp_error("no source file '%s' in '%s'", file, q->path);
		return MP_EXIT_USAGE;
	}
	struct mp_funcs_map m = {0};
	for (size_t i = 0; i < f->nsites; i++) {
		struct mp_funcs_visit v;
		if (mp_funcs_visit(f, i, &v)) {
			mp_funcs_map_free(&m);
			free(secs);
			free(sec_of);
			return mp_trace_fail(q->path, f->err);
		}
		for (size_t k = v.first; k < v.stack->n; k++) {
			uint32_t id = v.fn[k];
			if (id == MP_FUNCS_NONE || sec_of[id] == MP_FUNCS_NONE || v.stack->v[k]->line <= 0 ||
			    v.stack->v[k]->line > UINT32_MAX)
				continue;
			uint64_t key = (uint64_t)sec_of[id] << 32 | (uint64_t)v.stack->v[k]->line;
			struct mp_funcs_cell *c = mp_funcs_map_get(&m, key);
			mp_funcs_cell_add(c, &v, k == v.first);
			c->fn = id;
		}
	}
	size_t nc = mp_funcs_map_compact(&m);
	if (nc)
		qsort(m.v, nc, sizeof(*m.v), by_line); /* by section, then line */
	for (size_t i = 0, at = 0; i < nsec; i++) {
		secs[i].lines = m.v + at;
		while (at < nc && (m.v[at].key >> 32) == i)
			at++;
		secs[i].nlines = (size_t)(m.v + at - secs[i].lines);
	}
	for (size_t i = 0; i < nc; i++)
		m.v[i].key &= UINT32_MAX; /* the line alone */

	if (q->format == MP_FMT_JSON) {
		mp_json_init(&o->j, stdout);
		mp_json_object_begin(&o->j, 0);
		mp_json_key(&o->j, "annotate");
		mp_json_object_begin(&o->j, 0);
		mp_json_kv_string(&o->j, "query", function ? function : file);
		mp_json_kv_string(&o->j, "match", how);
		if (mp_window_set(o->w))
			mp_window_json(o->w, &o->j);
		mp_json_key(&o->j, "files");
		mp_json_array_begin(&o->j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("file,function,line,self_allocations,self_bytes,self_leaked_bytes,total_allocations,total_bytes,"
		      "total_leaked_bytes,text\n",
		      stdout);
	} else {
		if (mp_window_set(o->w))
			mp_window_note(stdout, o->w);
		printf("%zu %s%s %s '%s'\n", nsec, function ? "function" : "file", nsec == 1 ? "" : "s",
		       !strcmp(how, "exact")         ? (nsec == 1 ? "is named" : "are named")
		       : !strcmp(how, "substring")   ? (nsec == 1 ? "has in its name" : "have in their names")
		       : !strcmp(how, "path")        ? "recorded as"
		       : !strcmp(how, "path-suffix") ? "ending in"
		                                     : "with the base name of",
		       function ? function : file);
		printf("self: allocated by the call on the line itself; total: also further down its calls; "
		       "leaked: of total\n");
	}
	for (size_t i = 0; i < nsec; i++)
		print_section(o, &secs[i]);
	if (q->format == MP_FMT_JSON) {
		mp_json_array_end(&o->j);
		mp_json_object_end(&o->j);
		mp_json_object_end(&o->j);
		mp_json_finish(&o->j);
	}
	mp_funcs_map_free(&m);
	free(secs);
	free(sec_of);
	return 0;
}

int cmd_annotate(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"function", required_argument, NULL, OPT_FUNCTION},
	        {"file", required_argument, NULL, OPT_FILE},
	        {"context", required_argument, NULL, OPT_CONTEXT},
	        {"source-dir", required_argument, NULL, OPT_SOURCE_DIR},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "annotate", 0);
	struct mp_window w;
	mp_window_init(&w);
	struct out o = {.q = &q, .w = &w, .context = DEFAULT_CONTEXT};
	const char *function = NULL, *file = NULL;
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS, options, NULL)) != -1) {
		char err[512];
		int64_t n;
		switch (opt) {
		case OPT_FUNCTION:
			function = optarg;
			break;
		case OPT_FILE:
			file = optarg;
			break;
		case OPT_CONTEXT:
			if (mp_parse_uint("--context", optarg, &n, err, sizeof(err)))
				return mp_usage_error(q.cmd, "%s", err);
			o.context = n > 1000000 ? 1000000 : (int)n;
			break;
		case OPT_SOURCE_DIR:
			o.source_dir = optarg;
			break;
		default:
			if ((rc = mp_window_option(&w, q.cmd, opt, optarg)) >= 0) {
				if (rc)
					return rc;
			} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
				return rc > 0 ? rc : MP_EXIT_USAGE;
		}
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (!function == !file)
		return mp_usage_error(q.cmd, "give one of '--function F' and '--file FILE'");
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_FIGURES, &db)))
		return rc;
	if (q.pid >= 0) {
		struct mp_processes ps;
		if (!(rc = mp_query_processes(&q, db, &ps)))
			mp_processes_free(&ps);
	}
	struct mp_funcs f = {0};
	if (!rc && mp_window_set(&w))
		rc = mp_window_sites(&w, NULL, db, q.path, q.pid, 0);
	if (!rc && mp_funcs_load(&f, db, mp_window_table(&w), q.pid))
		rc = mp_trace_fail(q.path, f.err);
	if (!rc)
		rc = annotate(&o, &f, function, file);
	if (!rc)
		rc = mp_finish_output();
	mp_buf_free(&o.text);
	mp_funcs_fini(&f);
	mp_trace_close(db);
	return rc;
}
