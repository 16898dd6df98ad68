/* memprof summary: the totals of a trace and each of its processes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "window.h"

struct totals {
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, peak_pid;
	int64_t leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees, duration_ns;
};

static void usage(FILE *out)
{
	fputs("usage: memprof summary [--phase NAME] [--from T] [--to T] [--format text|json|csv]\n"
	      "                       [--pid PID] TRACE\n"
	      "\n"
	      "The totals of a trace: allocations, frees, bytes allocated, the peak of\n"
	      "live bytes (the largest of any one process) and when it was reached,\n"
	      "leaks, temporary allocations and threads, and the same for each process;\n"
	      "then the pools, phases and pauses the program reported (memprof.h).\n"
	      "With --phase, --from or --to: the allocations made in that window, how\n"
	      "many of them were freed and how many leaked.\n"
	      "\n"
	      "    --format FMT    text (default), json, or csv (one row per process)\n"
	      "    --pid PID       only the process(es) with that pid\n"
	      "    -h, --help      this help\n",
	      out);
	fputs(mp_window_options_help, out);
}

static void add_totals(struct totals *t, const struct mp_processes *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		t->allocations = mp_add_sat(t->allocations, p->allocations);
		t->frees = mp_add_sat(t->frees, p->frees);
		t->allocated_bytes = mp_add_sat(t->allocated_bytes, p->allocated_bytes);
		t->leaked_bytes = mp_add_sat(t->leaked_bytes, p->leaked_bytes);
		t->leaked_blocks = mp_add_sat(t->leaked_blocks, p->leaked_blocks);
		t->temporary = mp_add_sat(t->temporary, p->temporary);
		t->threads = mp_add_sat(t->threads, p->threads);
		t->unmatched_frees = mp_add_sat(t->unmatched_frees, p->unmatched_frees);
		if (i == 0 || p->peak_bytes > t->peak_bytes) {
			t->peak_bytes = p->peak_bytes;
			t->peak_time_ns = p->peak_time_ns;
			t->peak_pid = p->pid;
		}
	}
}

/* "exit 3", "signal 15", "exec", "unknown". */
static void format_end(const struct mp_process *p, char *buf, size_t size)
{
	if (!strcmp(p->ended_by, "exit") && p->have_exit_status)
		snprintf(buf, size, "exit %" PRId64, p->exit_status);
	else if (!strcmp(p->ended_by, "signal") && p->have_signal)
		snprintf(buf, size, "signal %" PRId64, p->signal);
	else
		snprintf(buf, size, "%s", p->ended_by);
}

static const char *plural(int64_t n, const char *word, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 " %s%s", n, word, n == 1 ? "" : "s");
	return buf;
}

/* --- what the program told memprof (memprof.h) ------------------------- */

/* Prepares one of the queries below, restricted to q's pid (?1). NULL
   when the trace has no such table (older traces) or on an error. */
static sqlite3_stmt *api_query(sqlite3 *db, const struct mp_query *q, const char *table, const char *head,
                               const char *tail)
{
	if (!mp_trace_has_table(db, table))
		return NULL;
	struct mp_buf sql = {0};
	mp_buf_printf(&sql, "%s FROM main.%s%s %s", head, table,
	              q->pid >= 0 ? " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = ?1)" : "", tail);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, mp_buf_str(&sql), -1, &st, NULL);
	mp_buf_free(&sql);
	if (rc != SQLITE_OK)
		return NULL;
	if (q->pid >= 0)
		sqlite3_bind_int64(st, 1, q->pid);
	return st;
}

/* Pools by name: name, allocations, frees, bytes, peak_bytes, leaked_bytes, leaked_blocks. */
static sqlite3_stmt *pools_query(sqlite3 *db, const struct mp_query *q)
{
	return api_query(db, q, "pools",
	                 "SELECT coalesce(name, '?'), sum(allocations), sum(frees), sum(bytes), max(peak_bytes),"
	                 " sum(leaked_bytes), sum(leaked_blocks)",
	                 "GROUP BY name ORDER BY min(process_id), min(pool_id)");
}

/* name, pid, source, start_ns, end_ns, allocations, bytes. */
static sqlite3_stmt *phases_query(sqlite3 *db, const struct mp_query *q)
{
	return api_query(db, q, "phases",
	                 "SELECT name, (SELECT pid FROM main.processes WHERE id = process_id), source, start_ns,"
	                 " end_ns, allocations, bytes",
	                 "ORDER BY process_id, start_ns, rowid");
}

/* pid, start_ns, end_ns, unrecorded_frees. */
static sqlite3_stmt *pauses_query(sqlite3 *db, const struct mp_query *q)
{
	return api_query(db, q, "pauses",
	                 "SELECT (SELECT pid FROM main.processes WHERE id = process_id), start_ns, end_ns,"
	                 " unrecorded_frees",
	                 "ORDER BY process_id, start_ns");
}

static void print_api_text(sqlite3 *db, const struct mp_query *q, size_t nprocs)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX], w1[64];
	sqlite3_stmt *st = pools_query(db, q);
	for (int n = 0; st && sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? "            " : "pools:      ", stdout);
		mp_text_puts(stdout, (const char *)sqlite3_column_text(st, 0));
		printf(": %s, %s, peak %s, leaked %s in %s\n",
		       plural(sqlite3_column_int64(st, 1), "allocation", w1, sizeof(w1)),
		       mp_human_size(sqlite3_column_int64(st, 3), a, sizeof(a)),
		       mp_human_size(sqlite3_column_int64(st, 4), b, sizeof(b)),
		       mp_human_size(sqlite3_column_int64(st, 5), c, sizeof(c)),
		       plural(sqlite3_column_int64(st, 6), "block", w1 + 32, sizeof(w1) - 32));
	}
	sqlite3_finalize(st);
	st = phases_query(db, q);
	for (int n = 0; st && sqlite3_step(st) == SQLITE_ROW; n++) {
		fputs(n ? "            " : "phases:     ", stdout);
		mp_text_puts(stdout, (const char *)sqlite3_column_text(st, 0));
		printf(": %s to ", mp_human_duration(sqlite3_column_int64(st, 3), a, sizeof(a)));
		printf("%s, %s, %s", mp_human_duration(sqlite3_column_int64(st, 4), b, sizeof(b)),
		       plural(sqlite3_column_int64(st, 5), "allocation", w1, sizeof(w1)),
		       mp_human_size(sqlite3_column_int64(st, 6), c, sizeof(c)));
		if (nprocs > 1)
			printf(" in pid %lld", (long long)sqlite3_column_int64(st, 1));
		fputc('\n', stdout);
	}
	sqlite3_finalize(st);
	st = pauses_query(db, q);
	int64_t pauses = 0, paused_ns = 0, unrecorded = 0;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		pauses++;
		paused_ns += sqlite3_column_int64(st, 2) - sqlite3_column_int64(st, 1);
		unrecorded += sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (pauses) {
		printf("paused:     %s, %s in all: allocations made then are in no figure",
		       plural(pauses, "pause", w1, sizeof(w1)), mp_human_duration(paused_ns, a, sizeof(a)));
		if (unrecorded)
			printf(" (%s of them seen)", plural(unrecorded, "free", w1, sizeof(w1)));
		fputc('\n', stdout);
	}
}

static void print_api_json(sqlite3 *db, const struct mp_query *q, struct mp_json *j)
{
	static const char *const pool_keys[] = {"name",       "allocations",  "frees",        "bytes",
	                                        "peak_bytes", "leaked_bytes", "leaked_blocks"};
	static const char *const phase_keys[] = {"name", "pid", "source", "start_ns", "end_ns", "allocations", "bytes"};
	static const char *const pause_keys[] = {"pid", "start_ns", "end_ns", "unrecorded_frees"};
	const struct {
		const char *name;
		sqlite3_stmt *st;
		const char *const *keys;
		int nkeys;
	} lists[] = {
	        {"pools", pools_query(db, q), pool_keys, 7},
	        {"phases", phases_query(db, q), phase_keys, 7},
	        {"pauses", pauses_query(db, q), pause_keys, 4},
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		mp_json_key(j, lists[i].name);
		mp_json_array_begin(j, 0);
		while (lists[i].st && sqlite3_step(lists[i].st) == SQLITE_ROW) {
			mp_json_object_begin(j, 1);
			for (int k = 0; k < lists[i].nkeys; k++) {
				if (sqlite3_column_type(lists[i].st, k) == SQLITE_TEXT)
					mp_json_kv_string(j, lists[i].keys[k],
					                  (const char *)sqlite3_column_text(lists[i].st, k));
				else
					mp_json_kv_int(j, lists[i].keys[k], sqlite3_column_int64(lists[i].st, k));
			}
			mp_json_object_end(j);
		}
		mp_json_array_end(j);
		sqlite3_finalize(lists[i].st);
	}
}

/* --- a window's figures (--phase, --from, --to) ------------------------- */

struct window_figs {
	int64_t allocations, frees, bytes, leaked_bytes, leaked_blocks;
};

static int window_summary(sqlite3 *db, const struct mp_query *q, const struct mp_window *w)
{
	static const char leaked[] = "free_time_ns IS NULL AND process_id NOT IN"
	                             " (SELECT id FROM main.processes WHERE ended_by = 'exec')";
	struct mp_buf sql = {0};
	mp_buf_printf(&sql,
	              "SELECT count(*), sum(free_time_ns IS NOT NULL), total(size), total(CASE WHEN %s THEN size END),"
	              " total(%s) FROM allocations WHERE ",
	              leaked, leaked);
	int rc = mp_window_where(w, NULL, db, q->path, q->pid, &sql);
	sqlite3_stmt *st = NULL;
	if (!rc && sqlite3_prepare_v2(db, mp_buf_str(&sql), -1, &st, NULL) != SQLITE_OK)
		rc = mp_trace_fail_db(q->path, db);
	mp_buf_free(&sql);
	if (rc)
		return rc;
	struct window_figs t = {0};
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		t.allocations = sqlite3_column_int64(st, 0);
		t.frees = sqlite3_column_int64(st, 1);
		t.bytes = (int64_t)sqlite3_column_double(st, 2);
		t.leaked_bytes = (int64_t)sqlite3_column_double(st, 3);
		t.leaked_blocks = (int64_t)sqlite3_column_double(st, 4);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_ROW)
		return mp_trace_fail_db(q->path, db);
	struct mp_buf desc = {0};
	mp_window_describe(w, &desc);
	char a[MP_HUMAN_MAX], w1[64];
	if (q->format == MP_FMT_JSON) {
		struct mp_json j;
		mp_json_init(&j, stdout);
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "summary");
		mp_json_object_begin(&j, 0);
		mp_json_key(&j, "window");
		mp_json_object_begin(&j, 1);
		mp_json_kv_string(&j, "phase", w->phase);
		mp_json_key(&j, "from_ns");
		if (w->from >= 0)
			mp_json_int(&j, w->from);
		else
			mp_json_null(&j);
		mp_json_key(&j, "to_ns");
		if (w->to >= 0)
			mp_json_int(&j, w->to);
		else
			mp_json_null(&j);
		mp_json_object_end(&j);
		mp_json_kv_int(&j, "allocations", t.allocations);
		mp_json_kv_int(&j, "frees", t.frees);
		mp_json_kv_int(&j, "allocated_bytes", t.bytes);
		mp_json_kv_int(&j, "leaked_bytes", t.leaked_bytes);
		mp_json_kv_int(&j, "leaked_blocks", t.leaked_blocks);
		mp_json_object_end(&j);
		mp_json_object_end(&j);
		mp_json_finish(&j);
	} else if (q->format == MP_FMT_CSV) {
		fputs("window,allocations,frees,allocated_bytes,leaked_bytes,leaked_blocks\n", stdout);
		mp_csv_field(stdout, mp_buf_str(&desc), 1);
		const int64_t v[] = {t.allocations, t.frees, t.bytes, t.leaked_bytes, t.leaked_blocks};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			mp_csv_int(stdout, v[i], 0);
		mp_csv_end(stdout);
	} else {
		fputs("window:     allocations made in ", stdout);
		mp_text_puts(stdout, mp_buf_str(&desc));
		printf("\ncalls:      %s, %" PRId64 " of them freed\n",
		       plural(t.allocations, "allocation", w1, sizeof(w1)), t.frees);
		printf("allocated:  %s (%" PRId64 " bytes)\n", mp_human_size(t.bytes, a, sizeof(a)), t.bytes);
		printf("leaked:     %s (%" PRId64 " bytes) in %s\n", mp_human_size(t.leaked_bytes, a, sizeof(a)),
		       t.leaked_bytes, plural(t.leaked_blocks, "block", w1, sizeof(w1)));
	}
	mp_buf_free(&desc);
	return 0;
}

static void print_text(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, const struct totals *t)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], w1[64], w2[64];
	struct mp_buf cmd = {0};
	if (q->pid >= 0 && ps->n) {
		mp_argv_join(ps->v[0].argv, &cmd);
	} else {
		char *json = mp_meta_get(db, "command");
		char **argv = mp_argv_parse(db, json, &(size_t){0});
		mp_argv_join(argv, &cmd);
		mp_argv_free(argv);
		free(json);
	}
	fputs("command:    ", stdout);
	mp_text_puts(stdout, mp_buf_str(&cmd));
	fputc('\n', stdout);
	mp_buf_free(&cmd);
	printf("duration:   %s\n", mp_human_duration(t->duration_ns, a, sizeof(a)));
	if (ps->n > 1)
		printf("processes:  %zu\n", ps->n);
	printf("calls:      %s, %s\n", plural(t->allocations, "allocation", w1, sizeof(w1)),
	       plural(t->frees, "free", w2, sizeof(w2)));
	printf("allocated:  %s (%" PRId64 " bytes)\n", mp_human_size(t->allocated_bytes, a, sizeof(a)),
	       t->allocated_bytes);
	printf("peak:       %s (%" PRId64 " bytes) at %s", mp_human_size(t->peak_bytes, a, sizeof(a)), t->peak_bytes,
	       mp_human_duration(t->peak_time_ns, b, sizeof(b)));
	if (ps->n > 1)
		printf(" in pid %" PRId64, t->peak_pid);
	fputc('\n', stdout);
	printf("leaked:     %s (%" PRId64 " bytes) in %s\n", mp_human_size(t->leaked_bytes, a, sizeof(a)),
	       t->leaked_bytes, plural(t->leaked_blocks, "block", w1, sizeof(w1)));
	printf("temporary:  %s\n", plural(t->temporary, "allocation", w1, sizeof(w1)));
	printf("threads:    %" PRId64 "\n", t->threads);
	if (ps->n == 1) {
		format_end(&ps->v[0], w1, sizeof(w1));
		printf("ended by:   %s\n", w1);
	}
	if (t->unmatched_frees)
		printf("unmatched:  %s of blocks never seen allocated\n",
		       plural(t->unmatched_frees, "free", w1, sizeof(w1)));
	char *host = mp_meta_get(db, "env_host"), *kernel = mp_meta_get(db, "env_kernel"),
	     *cpu = mp_meta_get(db, "env_cpu"), *libc = mp_meta_get(db, "env_libc"),
	     *alloc = mp_meta_get(db, "env_allocator"), *settings = mp_meta_get(db, "env_allocator_settings");
	if (host) {
		struct mp_buf env = {0};
		mp_buf_printf(&env, "%s; %s; %s (%" PRId64 " cpus); glibc %s; allocator %s%s%s", host,
		              kernel ? kernel : "?", cpu && *cpu ? cpu : "?", mp_meta_int(db, "env_cpus", 0),
		              libc ? libc : "?", alloc ? alloc : "?", settings && *settings ? " " : "",
		              settings ? settings : "");
		fputs("recorded:   ", stdout);
		mp_text_puts(stdout, mp_buf_str(&env));
		fputc('\n', stdout);
		mp_buf_free(&env);
	}
	free(host);
	free(kernel);
	free(cpu);
	free(libc);
	free(alloc);
	free(settings);
	int64_t damaged = mp_meta_int(db, "damaged_chunks", 0), bad = mp_meta_int(db, "bad_messages", 0);
	if (damaged || bad)
		printf("skipped:    %" PRId64 " damaged event chunks, %" PRId64 " bad messages\n", damaged, bad);
	print_api_text(db, q, ps->n);
	if (ps->n < 2)
		return;

	struct mp_table tab;
	static const char *const head[] = {"PID",       "PPID", "ORIGIN", "ENDED",  "ALLOCATIONS",
	                                   "ALLOCATED", "PEAK", "LEAKED", "COMMAND"};
	static const unsigned char right[] = {1, 1, 0, 0, 1, 1, 1, 1, 0};
	mp_table_init(&tab, 9, 1);
	memcpy(tab.right, right, sizeof(right));
	for (size_t i = 0; i < 9; i++)
		mp_table_add(&tab, head[i]);
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		snprintf(w1, sizeof(w1), "%" PRId64, p->pid);
		mp_table_add(&tab, w1);
		snprintf(w1, sizeof(w1), "%" PRId64, p->ppid);
		mp_table_add(&tab, p->ppid >= 0 ? w1 : "?");
		mp_table_add(&tab, p->origin);
		format_end(p, w1, sizeof(w1));
		mp_table_add(&tab, w1);
		snprintf(w1, sizeof(w1), "%" PRId64, p->allocations);
		mp_table_add(&tab, w1);
		mp_table_add(&tab, mp_human_size(p->allocated_bytes, a, sizeof(a)));
		mp_table_add(&tab, mp_human_size(p->peak_bytes, a, sizeof(a)));
		mp_table_add(&tab, mp_human_size(p->leaked_bytes, a, sizeof(a)));
		mp_argv_join(p->argv, &cmd);
		mp_table_add(&tab, mp_buf_str(&cmd));
		mp_buf_reset(&cmd);
	}
	mp_buf_free(&cmd);
	fputc('\n', stdout);
	mp_table_flush(&tab, stdout, "");
	mp_table_free(&tab);
}

/* The environment the trace was recorded in: meta env_* keys. */
static void json_environment(sqlite3 *db, struct mp_json *j)
{
	static const char *const keys[] = {"host", "kernel", "cpu", "libc", "allocator", "allocator_settings"};
	mp_json_key(j, "environment");
	mp_json_object_begin(j, 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char meta_key[64];
		snprintf(meta_key, sizeof(meta_key), "env_%s", keys[i]);
		char *v = mp_meta_get(db, meta_key);
		mp_json_kv_string(j, keys[i], v);
		free(v);
	}
	mp_json_kv_int(j, "cpus", mp_meta_int(db, "env_cpus", 0));
	mp_json_object_end(j);
}

static void print_json(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, const struct totals *t)
{
	struct mp_json j;
	mp_json_init(&j, stdout);
	mp_json_object_begin(&j, 0);
	mp_json_key(&j, "summary");
	mp_json_object_begin(&j, 0);
	mp_json_kv_int(&j, "allocations", t->allocations);
	mp_json_kv_int(&j, "frees", t->frees);
	mp_json_kv_int(&j, "allocated_bytes", t->allocated_bytes);
	mp_json_kv_int(&j, "peak_bytes", t->peak_bytes);
	mp_json_kv_int(&j, "peak_time_ns", t->peak_time_ns);
	mp_json_kv_int(&j, "leaked_bytes", t->leaked_bytes);
	mp_json_kv_int(&j, "leaked_blocks", t->leaked_blocks);
	mp_json_kv_int(&j, "temporary", t->temporary);
	mp_json_kv_int(&j, "threads", t->threads);
	mp_json_kv_int(&j, "duration_ns", t->duration_ns);
	json_environment(db, &j);
	mp_json_key(&j, "processes");
	mp_json_array_begin(&j, 0);
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		mp_json_object_begin(&j, 0);
		mp_json_kv_int(&j, "pid", p->pid);
		mp_json_key(&j, "ppid");
		if (p->ppid >= 0)
			mp_json_int(&j, p->ppid);
		else
			mp_json_null(&j);
		mp_json_key(&j, "argv");
		mp_json_array_begin(&j, 1);
		for (size_t k = 0; k < p->argc; k++)
			mp_json_string(&j, p->argv[k]);
		mp_json_array_end(&j);
		int killed = !strcmp(p->ended_by, "signal");
		mp_json_key(&j, killed ? "signal" : "exit_status");
		if (killed ? p->have_signal : p->have_exit_status)
			mp_json_int(&j, killed ? p->signal : p->exit_status);
		else
			mp_json_null(&j);
		mp_json_kv_int(&j, "allocations", p->allocations);
		mp_json_kv_int(&j, "frees", p->frees);
		mp_json_kv_int(&j, "allocated_bytes", p->allocated_bytes);
		mp_json_kv_int(&j, "peak_bytes", p->peak_bytes);
		mp_json_kv_int(&j, "leaked_bytes", p->leaked_bytes);
		mp_json_kv_int(&j, "temporary", p->temporary);
		mp_json_kv_int(&j, "threads", p->threads);
		mp_json_kv_string(&j, "ended_by", p->ended_by);
		mp_json_object_end(&j);
	}
	mp_json_array_end(&j);
	print_api_json(db, q, &j);
	mp_json_object_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
}

static void print_csv(const struct mp_processes *ps)
{
	static const char *const head[] = {
	        "pid",         "ppid",           "origin",       "argv",          "ended_by",
	        "exit_status", "signal",         "allocations",  "frees",         "allocated_bytes",
	        "peak_bytes",  "peak_time_ns",   "leaked_bytes", "leaked_blocks", "temporary",
	        "threads",     "unmatched_frees"};
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		mp_csv_field(stdout, head[i], i == 0);
	mp_csv_end(stdout);
	struct mp_buf argv = {0};
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		mp_csv_int(stdout, p->pid, 1);
		if (p->ppid >= 0)
			mp_csv_int(stdout, p->ppid, 0);
		else
			mp_csv_field(stdout, NULL, 0);
		mp_csv_field(stdout, p->origin, 0);
		mp_buf_reset(&argv);
		mp_argv_join(p->argv, &argv);
		mp_csv_field(stdout, mp_buf_str(&argv), 0);
		mp_csv_field(stdout, p->ended_by, 0);
		if (p->have_exit_status)
			mp_csv_int(stdout, p->exit_status, 0);
		else
			mp_csv_field(stdout, NULL, 0);
		if (p->have_signal)
			mp_csv_int(stdout, p->signal, 0);
		else
			mp_csv_field(stdout, NULL, 0);
		const int64_t v[] = {p->allocations,  p->frees,          p->allocated_bytes, p->peak_bytes,
		                     p->peak_time_ns, p->leaked_bytes,   p->leaked_blocks,   p->temporary,
		                     p->threads,      p->unmatched_frees};
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
			mp_csv_int(stdout, v[k], 0);
		mp_csv_end(stdout);
	}
	mp_buf_free(&argv);
}

int cmd_summary(int argc, char **argv)
{
	static const struct option options[] = {MP_QUERY_LONG_OPTIONS, MP_WINDOW_LONG_OPTIONS, {NULL, 0, NULL, 0}};
	struct mp_query q;
	struct mp_window w;
	mp_query_init(&q, "summary", 0);
	mp_window_init(&w);
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS, options, NULL)) != -1) {
		if ((rc = mp_window_option(&w, "summary", opt, optarg)) >= 0) {
			if (rc)
				return rc;
		} else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if ((rc = mp_query_path(&q, argc, argv)))
		return rc;
	sqlite3 *db;
	if ((rc = mp_trace_open_for(q.path, MP_NEED_PROCESSES, &db)))
		return rc;
	struct mp_processes ps;
	if (!(rc = mp_query_processes(&q, db, &ps)) && mp_window_set(&w)) {
		rc = window_summary(db, &q, &w);
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	} else if (!rc) {
		struct totals t = {0};
		add_totals(&t, &ps);
		t.duration_ns = mp_meta_int(db, "duration_ns", 0);
		if (q.format == MP_FMT_JSON)
			print_json(db, &q, &ps, &t);
		else if (q.format == MP_FMT_CSV)
			print_csv(&ps);
		else
			print_text(db, &q, &ps, &t);
		rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
