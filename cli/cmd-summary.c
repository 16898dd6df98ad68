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
#include "views.h"

static void usage(FILE *out)
{
	fputs("usage: memprof summary [--format text|json|csv] [--pid PID] TRACE\n"
	      "\n"
	      "The totals of a trace: allocations, frees, bytes allocated, the peak of\n"
	      "live bytes (the largest of any one process) and when it was reached,\n"
	      "leaks, temporary allocations and threads, and the same for each process.\n"
	      "\n"
	      "    --format FMT   text (default), json, or csv (one row per process)\n"
	      "    --pid PID      only the process(es) with that pid\n"
	      "    -h, --help     this help\n",
	      out);
}

void mp_summary_add(struct mp_summary_totals *t, const struct mp_processes *ps)
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

void mp_summary_ended(const struct mp_process *p, char *buf, size_t size)
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

void mp_summary_command(sqlite3 *db, int64_t pid, const struct mp_processes *ps, struct mp_buf *b)
{
	if (pid >= 0 && ps->n) {
		mp_argv_join(ps->v[0].argv, b);
	} else {
		char *json = mp_meta_get(db, "command");
		char **argv = mp_argv_parse(db, json, &(size_t){0});
		mp_argv_join(argv, b);
		mp_argv_free(argv);
		free(json);
	}
}

int mp_summary_environment(sqlite3 *db, struct mp_buf *b)
{
	char *host = mp_meta_get(db, "env_host"), *kernel = mp_meta_get(db, "env_kernel"),
	     *cpu = mp_meta_get(db, "env_cpu"), *libc = mp_meta_get(db, "env_libc"),
	     *alloc = mp_meta_get(db, "env_allocator"), *settings = mp_meta_get(db, "env_allocator_settings");
	if (host)
		mp_buf_printf(b, "%s; %s; %s (%" PRId64 " cpus); glibc %s; allocator %s%s%s", host,
		              kernel ? kernel : "?", cpu && *cpu ? cpu : "?", mp_meta_int(db, "env_cpus", 0),
		              libc ? libc : "?", alloc ? alloc : "?", settings && *settings ? " " : "",
		              settings ? settings : "");
	int have = host != NULL;
	free(host);
	free(kernel);
	free(cpu);
	free(libc);
	free(alloc);
	free(settings);
	return have;
}

static void print_text(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps,
                       const struct mp_summary_totals *t)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], w1[64], w2[64];
	struct mp_buf cmd = {0};
	mp_summary_command(db, q->pid, ps, &cmd);
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
		mp_summary_ended(&ps->v[0], w1, sizeof(w1));
		printf("ended by:   %s\n", w1);
	}
	if (t->unmatched_frees)
		printf("unmatched:  %s of blocks never seen allocated\n",
		       plural(t->unmatched_frees, "free", w1, sizeof(w1)));
	struct mp_buf env = {0};
	if (mp_summary_environment(db, &env)) {
		fputs("recorded:   ", stdout);
		mp_text_puts(stdout, mp_buf_str(&env));
		fputc('\n', stdout);
	}
	mp_buf_free(&env);
	int64_t damaged = mp_meta_int(db, "damaged_chunks", 0), bad = mp_meta_int(db, "bad_messages", 0);
	if (damaged || bad)
		printf("skipped:    %" PRId64 " damaged event chunks, %" PRId64 " bad messages\n", damaged, bad);
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
		mp_summary_ended(p, w1, sizeof(w1));
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

static void print_json(sqlite3 *db, const struct mp_processes *ps, const struct mp_summary_totals *t)
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
	static const struct option options[] = {MP_QUERY_LONG_OPTIONS, {NULL, 0, NULL, 0}};
	struct mp_query q;
	mp_query_init(&q, "summary", 0);
	int opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS, options, NULL)) != -1)
		if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
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
	if (!(rc = mp_query_processes(&q, db, &ps))) {
		struct mp_summary_totals t = {0};
		mp_summary_add(&t, &ps);
		t.duration_ns = mp_meta_int(db, "duration_ns", 0);
		if (q.format == MP_FMT_JSON)
			print_json(db, &ps, &t);
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
