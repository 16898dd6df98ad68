/* memprof functions: allocations per function, self and total (as
 * cProfile's tottime and cumtime), and who calls a function and whom it
 * calls, from the sites and the stacks trie (cli/funcs.h). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "funcs.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "window.h"

struct order {
	const char *name, *title;
	int leaks_only; /* functions whose figure is 0 are left out */
};

enum { SORT_SELF_BYTES, SORT_TOTAL_BYTES, SORT_SELF_COUNT, SORT_TOTAL_COUNT, SORT_LEAKED, SORT_TOTAL_LEAKED };

static const struct order orders[] = {
        [SORT_SELF_BYTES] = {"self-bytes", "bytes allocated directly", 0},
        [SORT_TOTAL_BYTES] = {"total-bytes", "bytes allocated in all", 0},
        [SORT_SELF_COUNT] = {"self-count", "allocations made directly", 0},
        [SORT_TOTAL_COUNT] = {"total-count", "allocations in all", 0},
        [SORT_LEAKED] = {"leaked", "bytes leaked directly", 1},
        [SORT_TOTAL_LEAKED] = {"total-leaked", "bytes leaked in all", 1},
};

enum { OPT_SORT = MP_OPT_FIRST_PRIVATE, OPT_LIMIT, OPT_CALLERS, OPT_CALLEES };

/* Default number of functions or calls listed. */
#define DEFAULT_LIMIT 20

/* The pseudo functions of the callers and callees lists, after the real ones. */
enum { PSEUDO_SELF, PSEUDO_OUTERMOST, PSEUDO_TRUNCATED, NPSEUDO };
static const char *const pseudo_names[] = {"[self]", "[outermost]", "[truncated]"};

static void usage(FILE *out)
{
	fputs("usage: memprof functions [--sort ORDER] [--limit N] [--phase NAME] [--from T] [--to T]\n"
	      "                         [--format text|json|csv] [--pid PID] TRACE\n"
	      "       memprof functions --callers F | --callees F [--limit N] [--phase NAME] [--from T]\n"
	      "                         [--to T] [--format FMT] [--pid PID] TRACE\n"
	      "\n"
	      "Allocations per function, as cProfile's tottime and cumtime: self counts\n"
	      "the allocations the function made directly (it called the allocation\n"
	      "function), total those made while it was on the stack (a stack counts\n"
	      "once however often the function recurses). A function is a name with\n"
	      "its source file (its module without debug info); inlined functions are\n"
	      "functions of their own; operator new and new[] count as the allocator.\n"
	      "With --phase, --from or --to: the allocations made in that window, and\n"
	      "those of them that leaked.\n"
	      "\n"
	      "    --sort ORDER    self-bytes (the default), total-bytes, self-count,\n"
	      "                    total-count, leaked (bytes leaked directly) or\n"
	      "                    total-leaked; the leak orders leave out functions\n"
	      "                    that leaked nothing\n"
	      "    --limit N, -n N list N functions, or N callers and callees\n"
	      "                    (default 20; 0: all)\n"
	      "    --callers F     the functions that called F, with the allocations\n"
	      "                    made below each call and their share of F's total\n"
	      "    --callees F     the functions F called, likewise; [self] is what F\n"
	      "                    allocated directly. F is a function's exact name, or\n"
	      "                    else a part of names (each function that matches\n"
	      "                    is listed)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

/* --- the function list -------------------------------------------------- */

static const struct mp_funcs *sort_funcs; /* qsort has no context argument */
static int sort_order;

static int64_t figure(const struct mp_funcs_fn *g, int order)
{
	switch (order) {
	case SORT_TOTAL_BYTES:
		return g->total_bytes;
	case SORT_SELF_COUNT:
		return g->self_allocations;
	case SORT_TOTAL_COUNT:
		return g->total_allocations;
	case SORT_LEAKED:
		return g->self_leaked_bytes;
	case SORT_TOTAL_LEAKED:
		return g->total_leaked_bytes;
	default:
		return g->self_bytes;
	}
}

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return a ? -1 : b ? 1 : 0;
	return strcmp(a, b);
}

static int cmp_int(int64_t a, int64_t b)
{
	return a > b ? -1 : a < b; /* larger first */
}

static int by_order(const void *pa, const void *pb)
{
	const struct mp_funcs_fn *a = &sort_funcs->v[*(const uint32_t *)pa], *b = &sort_funcs->v[*(const uint32_t *)pb];
	int c;
	if ((c = cmp_int(figure(a, sort_order), figure(b, sort_order))) ||
	    (c = cmp_int(a->total_bytes, b->total_bytes)) ||
	    (c = cmp_int(a->total_allocations, b->total_allocations)) || (c = cmp_str(a->function, b->function)) ||
	    (c = cmp_str(a->file, b->file)))
		return c;
	return cmp_str(a->module, b->module);
}

static void add_int_cell(struct mp_table *t, int64_t v)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRId64, v);
	mp_table_add(t, s);
}

static void add_size_cell(struct mp_table *t, int64_t v)
{
	char s[MP_HUMAN_MAX];
	mp_table_add(t, mp_human_size(v, s, sizeof(s)));
}

static void list_functions(const struct mp_query *q, const struct mp_funcs *f, int order, const struct mp_window *w)
{
	uint32_t *idx = mp_xmalloc((f->n ? f->n : 1) * sizeof(*idx));
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (!orders[order].leaks_only || figure(&f->v[i], order) > 0)
			idx[n++] = (uint32_t)i;
	sort_funcs = f;
	sort_order = order;
	if (n)
		qsort(idx, n, sizeof(*idx), by_order);
	size_t shown = q->limit > 0 && (size_t)q->limit < n ? (size_t)q->limit : n;
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX];
	struct mp_buf name = {0};
	if (q->format == MP_FMT_JSON) {
		struct mp_json j;
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "functions");
		mp_json_object_begin(&j, 0);
		mp_json_kv_string(&j, "order", orders[order].name);
		if (mp_window_set(w))
			mp_window_json(w, &j);
		mp_json_kv_int(&j, "allocations", f->allocations);
		mp_json_kv_int(&j, "bytes", f->bytes);
		mp_json_kv_int(&j, "leaked_bytes", f->leaked_bytes);
		mp_json_key(&j, "functions");
		mp_json_array_begin(&j, 0);
		for (size_t i = 0; i < shown; i++) {
			const struct mp_funcs_fn *g = &f->v[idx[i]];
			mp_json_object_begin(&j, 1);
			mp_funcs_json(&j, g);
			mp_json_kv_int(&j, "self_allocations", g->self_allocations);
			mp_json_kv_int(&j, "self_bytes", g->self_bytes);
			mp_json_kv_int(&j, "self_leaked_bytes", g->self_leaked_bytes);
			mp_json_kv_int(&j, "total_allocations", g->total_allocations);
			mp_json_kv_int(&j, "total_bytes", g->total_bytes);
			mp_json_kv_int(&j, "total_leaked_bytes", g->total_leaked_bytes);
			mp_json_object_end(&j);
		}
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	} else if (q->format == MP_FMT_CSV) {
		fputs("rank,function,file,module,self_allocations,self_bytes,self_leaked_bytes,total_allocations,"
		      "total_bytes,total_leaked_bytes\n",
		      stdout);
		for (size_t i = 0; i < shown; i++) {
			const struct mp_funcs_fn *g = &f->v[idx[i]];
			mp_csv_int(stdout, (int64_t)i + 1, 1);
			mp_csv_field(stdout, g->function, 0);
			mp_csv_field(stdout, g->file, 0);
			mp_csv_field(stdout, g->module, 0);
			const int64_t v[] = {g->self_allocations,  g->self_bytes,  g->self_leaked_bytes,
			                     g->total_allocations, g->total_bytes, g->total_leaked_bytes};
			for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
				mp_csv_int(stdout, v[k], 0);
			mp_csv_end(stdout);
		}
	} else {
		if (mp_window_set(w))
			mp_window_note(stdout, w);
		printf("functions by %s (%" PRId64 " allocation%s, %s, leaked %s in all)\n"
		       "self: allocated by the function directly; total: also by the functions it called\n\n",
		       orders[order].title, f->allocations, f->allocations == 1 ? "" : "s",
		       mp_human_size(f->bytes, a, sizeof(a)), mp_human_size(f->leaked_bytes, b, sizeof(b)));
		if (!shown) {
			printf("no functions with %s\n", orders[order].title);
		} else {
			static const char *const head[] = {"self allocs", "self bytes",   "self leaked", "total allocs",
			                                   "total bytes", "total leaked", "function"};
			struct mp_table t;
			mp_table_init(&t, 7, 1);
			for (size_t k = 0; k < 7; k++) {
				t.right[k] = k < 6;
				mp_table_add(&t, head[k]);
			}
			for (size_t i = 0; i < shown; i++) {
				const struct mp_funcs_fn *g = &f->v[idx[i]];
				add_int_cell(&t, g->self_allocations);
				add_size_cell(&t, g->self_bytes);
				add_size_cell(&t, g->self_leaked_bytes);
				add_int_cell(&t, g->total_allocations);
				add_size_cell(&t, g->total_bytes);
				add_size_cell(&t, g->total_leaked_bytes);
				mp_buf_reset(&name);
				mp_funcs_format(g, &name);
				mp_table_add(&t, mp_buf_str(&name));
			}
			mp_table_flush(&t, stdout, "");
			mp_table_free(&t);
			if (shown < n)
				printf("... %zu more function%s (--limit 0 shows all)\n", n - shown,
				       n - shown == 1 ? "" : "s");
		}
	}
	mp_buf_free(&name);
	free(idx);
}

/* --- callers and callees ------------------------------------------------- */

enum { REL_CALLERS, REL_CALLEES };

static uint64_t pair_key(int rel, uint32_t target, uint32_t other)
{
	return (uint64_t)rel << 63 | (uint64_t)target << 32 | other;
}

static const struct mp_funcs *cell_funcs;

/* The name of the other function of a pair cell, for sorting. */
static const char *other_name(const struct mp_funcs_cell *c)
{
	uint32_t o = (uint32_t)c->key;
	return o < cell_funcs->n ? cell_funcs->v[o].function : pseudo_names[o - cell_funcs->n];
}

static int by_pair(const void *pa, const void *pb)
{
	const struct mp_funcs_cell *a = pa, *b = pb;
	uint64_t ha = a->key >> 32, hb = b->key >> 32; /* relation and target */
	if (ha != hb)
		return ha < hb ? -1 : 1;
	int c;
	if ((c = cmp_int(a->total_bytes, b->total_bytes)) ||
	    (c = cmp_int(a->total_allocations, b->total_allocations)) || (c = cmp_str(other_name(a), other_name(b))))
		return c;
	return (uint32_t)a->key < (uint32_t)b->key ? -1 : (uint32_t)a->key > (uint32_t)b->key;
}

static double share(int64_t part, int64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0.0;
}

static void format_share(char *buf, size_t n, int64_t part, int64_t whole)
{
	if (whole > 0)
		snprintf(buf, n, "%.1f%%", 100.0 * share(part, whole));
	else
		snprintf(buf, n, "-");
}

/* The cells [lo, hi) of one relation of target g, in the chosen format. */
static void print_relation(const struct mp_query *q, struct mp_json *j, const struct mp_funcs *f,
                           const struct mp_funcs_fn *g, int rel, const struct mp_funcs_cell *cells, size_t lo,
                           size_t hi)
{
	size_t n = hi - lo, shown = q->limit > 0 && (size_t)q->limit < n ? (size_t)q->limit : n;
	const char *what = rel == REL_CALLERS ? "caller" : "callee";
	struct mp_buf name = {0};
	if (q->format == MP_FMT_JSON) {
		mp_json_key(j, rel == REL_CALLERS ? "callers" : "callees");
		mp_json_array_begin(j, 0);
	} else if (q->format == MP_FMT_TEXT) {
		printf("\n  %ss:\n", what);
		if (!n)
			printf("    none\n");
	}
	struct mp_table t;
	if (q->format == MP_FMT_TEXT && n) {
		static const char *const head[] = {"allocs", "share", "bytes", "share", "leaked", NULL};
		mp_table_init(&t, 6, 1);
		for (size_t k = 0; k < 6; k++) {
			t.right[k] = k < 5;
			mp_table_add(&t, head[k] ? head[k] : what);
		}
	}
	for (size_t i = lo; i < lo + shown; i++) {
		const struct mp_funcs_cell *c = &cells[i];
		uint32_t o = (uint32_t)c->key;
		struct mp_funcs_fn pseudo = {0};
		const struct mp_funcs_fn *other = o < f->n ? &f->v[o] : &pseudo;
		if (o >= f->n)
			pseudo.function = pseudo_names[o - f->n];
		if (q->format == MP_FMT_JSON) {
			mp_json_object_begin(j, 1);
			mp_funcs_json(j, other);
			mp_json_kv_int(j, "allocations", c->total_allocations);
			mp_json_kv_int(j, "bytes", c->total_bytes);
			mp_json_kv_int(j, "leaked_bytes", c->total_leaked_bytes);
			mp_json_key(j, "allocations_share");
			mp_json_double(j, share(c->total_allocations, g->total_allocations));
			mp_json_key(j, "bytes_share");
			mp_json_double(j, share(c->total_bytes, g->total_bytes));
			mp_json_object_end(j);
		} else if (q->format == MP_FMT_CSV) {
			mp_csv_field(stdout, g->function, 1);
			mp_csv_field(stdout, g->file, 0);
			mp_csv_field(stdout, g->module, 0);
			mp_csv_field(stdout, what, 0);
			mp_csv_field(stdout, other->function, 0);
			mp_csv_field(stdout, other->file, 0);
			mp_csv_field(stdout, other->module, 0);
			mp_csv_int(stdout, c->total_allocations, 0);
			mp_csv_int(stdout, c->total_bytes, 0);
			mp_csv_int(stdout, c->total_leaked_bytes, 0);
			char s[32];
			snprintf(s, sizeof(s), "%.6f", share(c->total_allocations, g->total_allocations));
			mp_csv_field(stdout, s, 0);
			snprintf(s, sizeof(s), "%.6f", share(c->total_bytes, g->total_bytes));
			mp_csv_field(stdout, s, 0);
			mp_csv_end(stdout);
		} else {
			char s[32];
			add_int_cell(&t, c->total_allocations);
			format_share(s, sizeof(s), c->total_allocations, g->total_allocations);
			mp_table_add(&t, s);
			add_size_cell(&t, c->total_bytes);
			format_share(s, sizeof(s), c->total_bytes, g->total_bytes);
			mp_table_add(&t, s);
			add_size_cell(&t, c->total_leaked_bytes);
			mp_buf_reset(&name);
			mp_funcs_format(other, &name);
			mp_table_add(&t, mp_buf_str(&name));
		}
	}
	if (q->format == MP_FMT_JSON) {
		mp_json_array_end(j);
	} else if (q->format == MP_FMT_TEXT && n) {
		mp_table_flush(&t, stdout, "    ");
		mp_table_free(&t);
		if (shown < n)
			printf("    ... %zu more %s%s (--limit 0 shows all)\n", n - shown, what,
			       n - shown == 1 ? "" : "s");
	}
	mp_buf_free(&name);
}

/* Lists the callers and/or callees of the functions matching name.
   Returns 0, or an exit code after a message. */
static int list_calls(const struct mp_query *q, struct mp_funcs *f, const char *name, int callers, int callees,
                      const struct mp_window *w)
{
	uint32_t *targets;
	int exact;
	size_t nt = mp_funcs_match(f, name, &targets, &exact);
	if (!nt) {
		free(targets);
		mp_error("no function named '%s' or with '%s' in its name in '%s'", name, name, q->path);
		return MP_EXIT_USAGE;
	}
	uint32_t *pos = mp_xmalloc((f->n ? f->n : 1) * sizeof(*pos)); /* function → its place in targets */
	for (size_t i = 0; i < f->n; i++)
		pos[i] = MP_FUNCS_NONE;
	for (size_t i = 0; i < nt; i++)
		pos[targets[i]] = (uint32_t)i;
	const uint32_t self = (uint32_t)f->n + PSEUDO_SELF, outermost = (uint32_t)f->n + PSEUDO_OUTERMOST,
	               truncated = (uint32_t)f->n + PSEUDO_TRUNCATED;
	struct mp_funcs_map m = {0};
	for (size_t i = 0; i < f->nsites; i++) {
		struct mp_funcs_visit v;
		if (mp_funcs_visit(f, i, &v)) {
			mp_funcs_map_free(&m);
			free(pos);
			free(targets);
			return mp_trace_fail(q->path, f->err);
		}
		size_t n = v.stack->n;
		for (size_t k = v.first; k < n; k++) {
			if (v.fn[k] == MP_FUNCS_NONE || pos[v.fn[k]] == MP_FUNCS_NONE)
				continue;
			uint32_t t = pos[v.fn[k]];
			if (callers) {
				uint32_t o = k + 1 == n                     ? outermost
				             : v.fn[k + 1] == MP_FUNCS_NONE ? truncated
				                                            : v.fn[k + 1];
				mp_funcs_cell_add(mp_funcs_map_get(&m, pair_key(REL_CALLERS, t, o)), &v, 0);
			}
			if (callees) {
				uint32_t o = k == v.first                   ? self
				             : v.fn[k - 1] == MP_FUNCS_NONE ? truncated
				                                            : v.fn[k - 1];
				mp_funcs_cell_add(mp_funcs_map_get(&m, pair_key(REL_CALLEES, t, o)), &v, 0);
			}
		}
	}
	size_t nc = mp_funcs_map_compact(&m);
	cell_funcs = f;
	if (nc)
		qsort(m.v, nc, sizeof(*m.v), by_pair);

	struct mp_json j;
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX];
	struct mp_buf fname = {0};
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "calls");
		mp_json_object_begin(&j, 0);
		mp_json_kv_string(&j, "query", name);
		mp_json_kv_string(&j, "match", exact ? "exact" : "substring");
		if (mp_window_set(w))
			mp_window_json(w, &j);
		mp_json_key(&j, "functions");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("function,file,module,relation,other_function,other_file,other_module,allocations,bytes,"
		      "leaked_bytes,allocations_share,bytes_share\n",
		      stdout);
	} else {
		if (mp_window_set(w))
			mp_window_note(stdout, w);
		printf("%zu function%s %s '%s'\n", nt, nt == 1 ? "" : "s",
		       exact ? (nt == 1 ? "is named" : "are named")
		             : (nt == 1 ? "has in its name" : "have in their names"),
		       name);
	}
	/* the cells are sorted by relation, then target */
	size_t callee_start = 0;
	while (callee_start < nc && (m.v[callee_start].key >> 63) == REL_CALLERS)
		callee_start++;
	size_t caller_at = 0, callee_at = callee_start;
	for (size_t ti = 0; ti < nt; ti++) {
		const struct mp_funcs_fn *g = &f->v[targets[ti]];
		size_t caller_end = caller_at, callee_end = callee_at;
		while (caller_end < callee_start && ((m.v[caller_end].key >> 32) & 0x7fffffff) == ti)
			caller_end++;
		while (callee_end < nc && ((m.v[callee_end].key >> 32) & 0x7fffffff) == ti)
			callee_end++;
		if (q->format == MP_FMT_JSON) {
			mp_json_object_begin(&j, 0);
			mp_funcs_json(&j, g);
			mp_json_kv_int(&j, "self_allocations", g->self_allocations);
			mp_json_kv_int(&j, "self_bytes", g->self_bytes);
			mp_json_kv_int(&j, "self_leaked_bytes", g->self_leaked_bytes);
			mp_json_kv_int(&j, "total_allocations", g->total_allocations);
			mp_json_kv_int(&j, "total_bytes", g->total_bytes);
			mp_json_kv_int(&j, "total_leaked_bytes", g->total_leaked_bytes);
		} else if (q->format == MP_FMT_TEXT) {
			mp_buf_reset(&fname);
			mp_funcs_format(g, &fname);
			fputc('\n', stdout);
			mp_text_puts(stdout, mp_buf_str(&fname));
			printf("\n  self: %" PRId64 " allocation%s, %s; total: %" PRId64
			       " allocation%s, %s, leaked %s\n",
			       g->self_allocations, g->self_allocations == 1 ? "" : "s",
			       mp_human_size(g->self_bytes, a, sizeof(a)), g->total_allocations,
			       g->total_allocations == 1 ? "" : "s", mp_human_size(g->total_bytes, b, sizeof(b)),
			       mp_human_size(g->total_leaked_bytes, c, sizeof(c)));
		}
		if (callers)
			print_relation(q, &j, f, g, REL_CALLERS, m.v, caller_at, caller_end);
		if (callees)
			print_relation(q, &j, f, g, REL_CALLEES, m.v, callee_at, callee_end);
		if (q->format == MP_FMT_JSON)
			mp_json_object_end(&j);
		caller_at = caller_end;
		callee_at = callee_end;
	}
	if (q->format == MP_FMT_JSON) {
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	}
	mp_buf_free(&fname);
	mp_funcs_map_free(&m);
	free(pos);
	free(targets);
	return 0;
}

int cmd_functions(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"sort", required_argument, NULL, OPT_SORT},
	        {"limit", required_argument, NULL, OPT_LIMIT},
	        {"callers", required_argument, NULL, OPT_CALLERS},
	        {"callees", required_argument, NULL, OPT_CALLEES},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "functions", DEFAULT_LIMIT);
	struct mp_window w;
	mp_window_init(&w);
	int order = SORT_SELF_BYTES, opt, rc;
	const char *callers = NULL, *callees = NULL;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "n:", options, NULL)) != -1) {
		char err[512];
		switch (opt) {
		case OPT_SORT:
			order = -1;
			for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++)
				if (!strcmp(optarg, orders[i].name))
					order = (int)i;
			if (order < 0)
				return mp_usage_error(q.cmd,
				                      "option '--sort' needs self-bytes, total-bytes, self-count, "
				                      "total-count, leaked or total-leaked, not '%s'",
				                      optarg);
			break;
		case OPT_LIMIT:
			if (mp_parse_uint("--limit", optarg, &q.limit, err, sizeof(err)))
				return mp_usage_error(q.cmd, "%s", err);
			break;
		case OPT_CALLERS:
			callers = optarg;
			break;
		case OPT_CALLEES:
			callees = optarg;
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
	if (callers && callees && strcmp(callers, callees) != 0)
		return mp_usage_error(q.cmd, "'--callers' and '--callees' together need the same function");
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
	if (!rc) {
		if (callers || callees)
			rc = list_calls(&q, &f, callers ? callers : callees, callers != NULL, callees != NULL, &w);
		else
			list_functions(&q, &f, order, &w);
	}
	if (!rc)
		rc = mp_finish_output();
	mp_funcs_fini(&f);
	mp_trace_close(db);
	return rc;
}
