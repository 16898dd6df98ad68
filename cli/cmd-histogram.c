/* memprof histogram: the allocations in buckets of size or of lifetime,
 * each bucket with the sites that made most of its allocations. One scan
 * of the `allocations` table, counted per (bucket, stack) in a hash table:
 * memory follows the distinct stacks, not the allocations. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "term.h"
#include "trace.h"
#include "util.h"
#include "window.h"

enum {
	OPT_SIZES = MP_OPT_FIRST_PRIVATE,
	OPT_LIFETIMES,
	OPT_SITES,
	OPT_ASCII,
};

/* Size buckets: 0, 1-8, then (2^(b+1), 2^(b+2)] bytes for b >= 2. Sizes
   are read as int64, so the last bucket ends at INT64_MAX. */
#define SIZE_BUCKETS 62
/* Lifetime buckets: decades from < 1 us to >= 100 s, then never freed. */
#define LIFE_BUCKETS 11
#define LIFE_NEVER 10
#define MAX_BUCKETS SIZE_BUCKETS

/* Cells of the longest bar. */
#define BAR_WIDTH 30

static const char *const life_labels[LIFE_BUCKETS] = {
        "< 1 us",     "1-10 us", "10-100 us", "100 us-1 ms", "1-10 ms",     "10-100 ms",
        "100 ms-1 s", "1-10 s",  "10-100 s",  ">= 100 s",    "never freed",
};

/* Counts of one stack in one bucket. */
struct cell {
	int64_t stack_id; /* valid when count > 0 */
	int64_t count, bytes;
	int bucket;
};

/* Open addressing on (bucket, stack_id); cap is a power of two. */
struct cells {
	struct cell *v;
	size_t cap, used;
};

struct bucket {
	int64_t count, bytes;
};

static void usage(FILE *out)
{
	fputs("usage: memprof histogram [--sizes|--lifetimes] [--sites N] [--ascii] [--phase NAME]\n"
	      "                         [--from T] [--to T] [--format text|json|csv] [--pid PID] TRACE\n"
	      "\n"
	      "How the allocations spread over sizes or lifetimes: a bucket's count,\n"
	      "bytes and share of all allocations, and the sites (full call stacks) that\n"
	      "made most of its allocations. With --phase, --from or --to: the\n"
	      "allocations made in that window (their lifetimes run to their free,\n"
	      "wherever it falls).\n"
	      "\n"
	      "    --sizes         buckets of requested size: 0, 1-8, 9-16, 17-32, ... bytes\n"
	      "                    (the default)\n"
	      "    --lifetimes     buckets of time from allocation to free, by decades:\n"
	      "                    < 100 us, 100 us-1 ms, ..., >= 100 s, and never freed\n"
	      "                    (times are kept to 0.1 ms; in older traces to the\n"
	      "                    microsecond, from < 1 us)\n"
	      "    --sites N       sites listed per bucket, most allocations first (default\n"
	      "                    3; 0: none)\n"
	      "    --ascii         draw the bars with '#' (the default unless the locale\n"
	      "                    is UTF-8)\n"
	      "    --format FMT    text (default), json or csv\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

static int size_bucket(int64_t size)
{
	if (size <= 0)
		return 0;
	if (size <= 8)
		return 1;
	return 64 - __builtin_clzll((unsigned long long)size - 1) - 2;
}

/* The lifetime bucket of a block; the decades under the trace's time
   resolution are one, the first (bucket `first`). */
static int life_bucket(int64_t alloc_ns, int64_t free_ns, int freed, int first)
{
	if (!freed)
		return LIFE_NEVER;
	/* unsigned: times from a damaged trace must not overflow */
	uint64_t life = free_ns > alloc_ns ? (uint64_t)free_ns - (uint64_t)alloc_ns : 0, limit = 1000;
	int b = 0;
	while (b < LIFE_NEVER - 1 && life >= limit) {
		b++;
		limit *= 10;
	}
	return b > first ? b : first;
}

/* The first lifetime bucket of a trace whose times are floored to
   resolution_ns (meta time_resolution_ns): the one whose decade ends at
   the resolution or above, "< 100 us" for 0.1 ms. */
static int life_first(int64_t resolution_ns)
{
	int b = 0;
	for (int64_t hi = 1000; b < LIFE_NEVER - 1 && hi < resolution_ns; hi *= 10)
		b++;
	return b;
}

/* The bounds of bucket b (inclusive; -1: none) and its label; lifetimes:
   0 for sizes, else 1 + the first lifetime bucket (life_first). */
static void bucket_bounds(int lifetimes, int b, int64_t *min, int64_t *max, char *label, size_t size)
{
	if (lifetimes) {
		int64_t lo = 0, hi = 1000;
		for (int i = 0; i < b; i++) {
			lo = hi;
			hi *= 10;
		}
		*min = b == lifetimes - 1 ? 0 : b == LIFE_NEVER ? -1 : lo;
		*max = b >= LIFE_NEVER - 1 ? -1 : hi - 1;
		const char *to = strchr(life_labels[b], '-');
		if (b == lifetimes - 1 && b > 0 && to) /* "10-100 us" as the first: "< 100 us" */
			snprintf(label, size, "< %s", to + 1);
		else
			snprintf(label, size, "%s", life_labels[b]);
		return;
	}
	if (b == 0) {
		*min = *max = 0;
	} else if (b == 1) {
		*min = 1;
		*max = 8;
	} else {
		*min = ((int64_t)1 << (b + 1)) + 1;
		*max = b + 2 >= 63 ? INT64_MAX : (int64_t)1 << (b + 2);
	}
	if (*min == *max)
		snprintf(label, size, "%" PRId64, *min);
	else
		snprintf(label, size, "%" PRId64 "-%" PRId64, *min, *max);
}

static size_t cell_hash(int bucket, int64_t stack_id)
{
	uint64_t h = ((uint64_t)stack_id * 64 + (uint64_t)bucket) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 29));
}

static void cells_add(struct cells *c, int bucket, int64_t stack_id, int64_t bytes)
{
	if ((c->used + 1) * 2 > c->cap) {
		struct cells n = {.cap = c->cap ? c->cap * 2 : 1024};
		n.v = mp_xmalloc(n.cap * sizeof(*n.v));
		memset(n.v, 0, n.cap * sizeof(*n.v));
		for (size_t i = 0; i < c->cap; i++) {
			if (c->v[i].count == 0)
				continue;
			size_t j = cell_hash(c->v[i].bucket, c->v[i].stack_id) & (n.cap - 1);
			while (n.v[j].count)
				j = (j + 1) & (n.cap - 1);
			n.v[j] = c->v[i];
		}
		n.used = c->used;
		free(c->v);
		*c = n;
	}
	size_t j = cell_hash(bucket, stack_id) & (c->cap - 1);
	while (c->v[j].count && (c->v[j].bucket != bucket || c->v[j].stack_id != stack_id))
		j = (j + 1) & (c->cap - 1);
	struct cell *x = &c->v[j];
	if (!x->count) {
		x->bucket = bucket;
		x->stack_id = stack_id;
		c->used++;
	}
	x->count++;
	x->bytes = mp_add_sat(x->bytes, bytes);
}

/* Bucket first, then most allocations, most bytes, lowest stack id. */
static int cell_cmp(const void *a, const void *b)
{
	const struct cell *x = a, *y = b;
	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

/* Reads every allocation (of q->pid's processes) into the buckets and
   cells. Returns 0, or an exit code after the message. */
static int scan(sqlite3 *db, const struct mp_query *q, const struct mp_window *w, int lifetimes, struct bucket *buckets,
                struct cells *cells)
{
	/* The heap's blocks (a pool's, memprof.h, lie inside them) of the
	   window, of q->pid's processes. */
	struct mp_buf sql = {0};
	mp_buf_printf(&sql, "SELECT size, stack_id%s FROM allocations WHERE ",
	              lifetimes ? ", alloc_time_ns, free_time_ns" : "");
	int rc = mp_window_where(w, NULL, db, q->path, q->pid, &sql);
	if (rc) {
		mp_buf_free(&sql);
		return rc;
	}
	sqlite3_stmt *st;
	int prc = sqlite3_prepare_v2(db, mp_buf_str(&sql), -1, &st, NULL);
	mp_buf_free(&sql);
	if (prc != SQLITE_OK)
		return mp_trace_fail_db(q->path, db);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t size = sqlite3_column_int64(st, 0), stack_id = sqlite3_column_int64(st, 1);
		if (size < 0) /* only in a damaged trace */
			size = 0;
		int b = lifetimes ? life_bucket(sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
		                                sqlite3_column_type(st, 3) != SQLITE_NULL, lifetimes - 1)
		                  : size_bucket(size);
		buckets[b].count++;
		buckets[b].bytes = mp_add_sat(buckets[b].bytes, size);
		cells_add(cells, b, stack_id, size);
	}
	if (rc != SQLITE_DONE)
		rc = mp_trace_fail_db(q->path, db);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

static double share(int64_t part, int64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
}

/* A bucket bound: null when there is none. */
static void json_bound(struct mp_json *j, const char *key, int64_t v)
{
	mp_json_key(j, key);
	if (v >= 0)
		mp_json_int(j, v);
	else
		mp_json_null(j);
}

/* The bucket's columns of a CSV row (bucket to bytes_share). */
static void csv_bucket(const char *label, int64_t min, int64_t max, const struct bucket *k, int64_t total,
                       int64_t total_bytes)
{
	mp_csv_field(stdout, label, 1);
	const int64_t bound[] = {min, max};
	for (int i = 0; i < 2; i++) {
		if (bound[i] >= 0)
			mp_csv_int(stdout, bound[i], 0);
		else
			mp_csv_field(stdout, NULL, 0);
	}
	mp_csv_int(stdout, k->count, 0);
	mp_csv_int(stdout, k->bytes, 0);
	printf(",%.6f,%.6f", share(k->count, total), share(k->bytes, total_bytes));
}

/* Prints the histogram; returns 0 or an exit code after a message. */
static int print(sqlite3 *db, const struct mp_query *q, const struct mp_window *w, int lifetimes, int64_t sites,
                 int ascii, const struct bucket *buckets, int nbuckets, struct cells *cells)
{
	int64_t total = 0, total_bytes = 0, most = 0;
	int first = -1, last = -1;
	for (int b = 0; b < nbuckets; b++) {
		total += buckets[b].count;
		total_bytes = mp_add_sat(total_bytes, buckets[b].bytes);
		if (buckets[b].count > most)
			most = buckets[b].count;
		if (buckets[b].count) {
			if (first < 0)
				first = b;
			last = b;
		}
	}
	/* the cells in bucket order, each bucket's best first */
	size_t n = 0;
	for (size_t i = 0; i < cells->cap; i++)
		if (cells->v[i].count)
			cells->v[n++] = cells->v[i];
	if (n)
		qsort(cells->v, n, sizeof(*cells->v), cell_cmp);

	struct mp_stack_loader l;
	if (mp_stack_loader_init(&l, db))
		return mp_trace_fail(q->path, l.err);
	struct mp_stack stack = {0};
	struct mp_buf text = {0};
	struct mp_json j;
	int utf8 = mp_term_utf8(ascii);
	char label[64], a[MP_HUMAN_MAX];
	int lw = lifetimes ? 11 : 5, cw = 11; /* label and count columns in text */
	for (int b = first; b >= 0 && b <= last; b++) {
		int64_t min, max;
		bucket_bounds(lifetimes, b, &min, &max, label, sizeof(label));
		lw = (int)strlen(label) > lw ? (int)strlen(label) : lw;
	}
	if (q->format == MP_FMT_JSON) {
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "histogram");
		mp_json_object_begin(&j, 0);
		mp_json_kv_string(&j, "of", lifetimes ? "lifetimes" : "sizes");
		if (mp_window_set(w))
			mp_window_json(w, &j);
		mp_json_kv_int(&j, "allocations", total);
		mp_json_kv_int(&j, "bytes", total_bytes);
		mp_json_key(&j, "buckets");
		mp_json_array_begin(&j, 0);
	} else if (q->format == MP_FMT_CSV) {
		fputs("bucket,min,max,allocations,bytes,share,bytes_share,site_rank,site_allocations,site_bytes,"
		      "stack\n",
		      stdout);
	} else {
		if (mp_window_set(w))
			mp_window_note(stdout, w);
		printf("%s of %" PRId64 " allocation%s, %s (%" PRId64 " bytes)", lifetimes ? "lifetimes" : "sizes",
		       total, total == 1 ? "" : "s", mp_human_size(total_bytes, a, sizeof(a)), total_bytes);
		if (q->pid >= 0)
			printf(" in pid %" PRId64, q->pid);
		fputs(total ? ":\n\n" : "\n", stdout);
		if (total)
			printf("%*s  %*s  %6s  %10s  %6s\n", lw, lifetimes ? "lifetime" : "size (B)", cw, "allocations",
			       "%", "bytes", "%");
	}
	size_t ci = 0;
	int err = 0;
	for (int b = first; b >= 0 && b <= last && !err; b++) {
		int64_t min, max;
		const struct bucket *k = &buckets[b];
		bucket_bounds(lifetimes, b, &min, &max, label, sizeof(label));
		if (q->format == MP_FMT_JSON) {
			mp_json_object_begin(&j, 0);
			mp_json_kv_string(&j, "label", label);
			json_bound(&j, "min", min);
			json_bound(&j, "max", max);
			mp_json_kv_int(&j, "allocations", k->count);
			mp_json_kv_int(&j, "bytes", k->bytes);
			mp_json_key(&j, "share");
			mp_json_double(&j, share(k->count, total));
			mp_json_key(&j, "bytes_share");
			mp_json_double(&j, share(k->bytes, total_bytes));
			mp_json_key(&j, "sites");
			mp_json_array_begin(&j, 0);
		} else if (q->format == MP_FMT_CSV) {
			csv_bucket(label, min, max, k, total, total_bytes);
			fputs(",0,,,", stdout);
			mp_csv_end(stdout);
		} else {
			printf("%*s  %*" PRId64 "  %5.1f%%  %10s  %5.1f%%", lw, label, cw, k->count,
			       100 * share(k->count, total), mp_human_size(k->bytes, a, sizeof(a)),
			       100 * share(k->bytes, total_bytes));
			if (k->count) {
				fputs("  ", stdout);
				mp_term_bar(stdout, share(k->count, most), BAR_WIDTH, utf8);
			}
			fputc('\n', stdout);
		}
		/* this bucket's best sites: its cells come next in order */
		while (ci < n && cells->v[ci].bucket < b)
			ci++;
		for (int64_t rank = 1; ci < n && cells->v[ci].bucket == b; ci++, rank++) {
			const struct cell *c = &cells->v[ci];
			if (rank > sites)
				continue;
			if (mp_stack_load(&l, c->stack_id, &stack)) {
				err = 1;
				break;
			}
			if (q->format == MP_FMT_JSON) {
				mp_json_object_begin(&j, 0);
				mp_json_kv_int(&j, "allocations", c->count);
				mp_json_kv_int(&j, "bytes", c->bytes);
				mp_json_key(&j, "stack");
				mp_stack_json(&j, &stack);
				mp_json_object_end(&j);
			} else if (q->format == MP_FMT_CSV) {
				mp_buf_reset(&text);
				mp_stack_format_line(&stack, &text);
				csv_bucket(label, min, max, k, total, total_bytes);
				mp_csv_int(stdout, rank, 0);
				mp_csv_int(stdout, c->count, 0);
				mp_csv_int(stdout, c->bytes, 0);
				mp_csv_field(stdout, mp_buf_str(&text), 0);
				mp_csv_end(stdout);
			} else {
				/* the innermost frame, and where it is inlined */
				mp_buf_reset(&text);
				for (size_t f = 0; f < stack.n; f++) {
					if (f)
						mp_buf_puts(&text, " <- ");
					mp_frame_format(stack.v[f], &text);
					if (!(stack.v[f]->flags & MP_FRAME_INLINED))
						break;
				}
				if (!stack.n)
					mp_buf_puts(&text, "(no stack)");
				printf("%*s  %*" PRId64 "  ", lw, "", cw, c->count);
				mp_text_puts(stdout, mp_buf_str(&text));
				fputc('\n', stdout);
			}
		}
		if (q->format == MP_FMT_JSON) {
			mp_json_array_end(&j);
			mp_json_object_end(&j);
		}
	}
	mp_buf_free(&text);
	mp_stack_free(&stack);
	int rc = err ? mp_trace_fail(q->path, l.err) : 0;
	mp_stack_loader_fini(&l);
	if (!rc && q->format == MP_FMT_JSON) {
		mp_json_array_end(&j);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	}
	return rc;
}

int cmd_histogram(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"sizes", no_argument, NULL, OPT_SIZES},
	        {"lifetimes", no_argument, NULL, OPT_LIFETIMES},
	        {"sites", required_argument, NULL, OPT_SITES},
	        {"ascii", no_argument, NULL, OPT_ASCII},
	        MP_WINDOW_LONG_OPTIONS,
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "histogram", 0);
	struct mp_window w;
	mp_window_init(&w);
	int lifetimes = 0, ascii = 0, opt, rc;
	int64_t sites = 3;
	char err[256];
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS, options, NULL)) != -1) {
		switch (opt) {
		case OPT_SIZES:
			lifetimes = 0;
			break;
		case OPT_LIFETIMES:
			lifetimes = 1;
			break;
		case OPT_SITES:
			if (mp_parse_uint("--sites", optarg, &sites, err, sizeof(err)))
				return mp_usage_error(q.cmd, "%s", err);
			break;
		case OPT_ASCII:
			ascii = 1;
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
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_PROCESSES | MP_NEED_STACKS, &db)))
		return rc;
	if (q.pid >= 0) {
		struct mp_processes ps;
		if (!(rc = mp_query_processes(&q, db, &ps)))
			mp_processes_free(&ps);
	}
	/* Traces before meta time_resolution_ns kept times to the microsecond. */
	if (lifetimes)
		lifetimes = 1 + life_first(mp_meta_int(db, "time_resolution_ns", 1000));
	struct bucket buckets[MAX_BUCKETS] = {{0}};
	struct cells cells = {0};
	if (!rc)
		rc = scan(db, &q, &w, lifetimes, buckets, &cells);
	if (!rc)
		rc = print(db, &q, &w, lifetimes, sites, ascii, buckets, lifetimes ? LIFE_BUCKETS : SIZE_BUCKETS,
		           &cells);
	if (!rc)
		rc = mp_finish_output();
	free(cells.v);
	mp_trace_close(db);
	return rc;
}
