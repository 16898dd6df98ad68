/* memprof summary: the totals of a trace and each of its processes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "reach.h"
#include "trace.h"
#include "util.h"

/* An RSS sample with the heap and mapping figures at that moment. */
struct rss_sample {
	int64_t time_ns, rss, anon, heap, usable, mapped;
};

struct totals {
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, peak_pid;
	int64_t leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees, duration_ns;
	/* Anonymous mappings: summed, the peak the largest of one process. */
	int have_mappings, mappings_recorded;
	int64_t mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes, mmap_peak_time_ns, mmap_peak_pid;
	int64_t mmap_leaked_bytes, mmap_leaked_blocks;
	/* RSS: the largest peak of one process, and that process's largest
	   sample (have_sample), which the summary breaks down. */
	int have_rss, have_sample;
	int64_t rss_peak_bytes, rss_peak_pid, rss_process_id;
	struct rss_sample sample;
	struct mp_reach_totals reach; /* the leak scan's */
};

static const char *plural(int64_t n, const char *word, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 " %s%s", n, word, n == 1 ? "" : "s");
	return buf;
}

static void usage(FILE *out)
{
	fputs("usage: memprof summary [--format text|json|csv] [--pid PID] TRACE\n"
	      "\n"
	      "The totals of a trace: allocations, frees, bytes allocated, the peak of\n"
	      "live bytes (the largest of any one process) and when it was reached,\n"
	      "leaks, temporary allocations and threads, and the same for each process.\n"
	      "Anonymous mappings (mmap) have figures of their own, apart from the heap's,\n"
	      "and the peak resident set (RSS) is broken down into heap, mappings and the\n"
	      "rest at the largest RSS sample.\n"
	      "\n"
	      "    --format FMT   text (default), json, or csv (one row per process)\n"
	      "    --pid PID      only the process(es) with that pid\n"
	      "    -h, --help     this help\n",
	      out);
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
		t->have_mappings = p->have_mappings;
		t->mmap_calls = mp_add_sat(t->mmap_calls, p->mmap_calls);
		t->munmap_calls = mp_add_sat(t->munmap_calls, p->munmap_calls);
		t->mmap_bytes = mp_add_sat(t->mmap_bytes, p->mmap_bytes);
		t->mmap_leaked_bytes = mp_add_sat(t->mmap_leaked_bytes, p->mmap_leaked_bytes);
		t->mmap_leaked_blocks = mp_add_sat(t->mmap_leaked_blocks, p->mmap_leaked_blocks);
		if (i == 0 || p->mmap_peak_bytes > t->mmap_peak_bytes) {
			t->mmap_peak_bytes = p->mmap_peak_bytes;
			t->mmap_peak_time_ns = p->mmap_peak_time_ns;
			t->mmap_peak_pid = p->pid;
		}
		if (p->have_rss && (!t->have_rss || p->rss_peak_bytes > t->rss_peak_bytes)) {
			t->have_rss = 1;
			t->rss_peak_bytes = p->rss_peak_bytes;
			t->rss_peak_pid = p->pid;
			t->rss_process_id = p->id;
		}
	}
}

/* The largest RSS sample of the process with the largest RSS peak. */
static int load_rss_sample(sqlite3 *db, struct totals *t)
{
	if (!t->have_rss)
		return 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT time_ns, rss_bytes, anon_bytes, heap_bytes, usable_bytes, mapped_bytes"
	                       " FROM main.rss_samples WHERE process_id = ?1 ORDER BY rss_bytes DESC, time_ns LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, t->rss_process_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->sample.time_ns = sqlite3_column_int64(st, 0);
		t->sample.rss = sqlite3_column_int64(st, 1);
		t->sample.anon = sqlite3_column_int64(st, 2);
		t->sample.heap = sqlite3_column_int64(st, 3);
		t->sample.usable = sqlite3_column_int64(st, 4);
		t->sample.mapped = sqlite3_column_int64(st, 5);
		t->have_sample = 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The "mappings:" and "rss:" lines. */
static void print_text_extra(const struct totals *t, size_t nprocs)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX], d[MP_HUMAN_MAX], w1[64], w2[64];
	if (!t->have_mappings)
		return;
	if (!t->mappings_recorded) {
		printf("mappings:   not recorded (--no-mmap, MEMPROF_MMAP=0)\n");
	} else {
		printf("mappings:   %s, %s, %s mapped, peak %s at %s", plural(t->mmap_calls, "call", w1, sizeof(w1)),
		       plural(t->munmap_calls, "release", w2, sizeof(w2)), mp_human_size(t->mmap_bytes, a, sizeof(a)),
		       mp_human_size(t->mmap_peak_bytes, b, sizeof(b)),
		       mp_human_duration(t->mmap_peak_time_ns, c, sizeof(c)));
		if (nprocs > 1)
			printf(" in pid %" PRId64, t->mmap_peak_pid);
		printf(", still mapped at exit %s in %s\n", mp_human_size(t->mmap_leaked_bytes, a, sizeof(a)),
		       plural(t->mmap_leaked_blocks, "mapping", w1, sizeof(w1)));
	}
	if (!t->have_rss) {
		printf("rss:        no samples\n");
		return;
	}
	printf("rss:        peak %s", mp_human_size(t->rss_peak_bytes, a, sizeof(a)));
	if (nprocs > 1)
		printf(" in pid %" PRId64, t->rss_peak_pid);
	if (!t->have_sample) {
		fputc('\n', stdout);
		return;
	}
	const struct rss_sample *s = &t->sample;
	if (s->rss != t->rss_peak_bytes)
		printf(" (high-water mark); largest sample %s", mp_human_size(s->rss, a, sizeof(a)));
	printf(" at %s: heap %s (usable %s), mappings %s, ", mp_human_duration(s->time_ns, b, sizeof(b)),
	       mp_human_size(s->heap, c, sizeof(c)), mp_human_size(s->usable, d, sizeof(d)),
	       mp_human_size(s->mapped, w1, sizeof(w1)));
	int64_t other = s->rss - s->usable - s->mapped;
	if (other >= 0)
		printf("other %s\n", mp_human_size(other, a, sizeof(a)));
	else
		printf("%s of them not resident\n", mp_human_size(-other, a, sizeof(a)));
}

/* "exit 3", "signal 15", "exec", "unknown". */
/* What recording cost (the overhead table), over the processes shown. */
struct overhead {
	int have;
	int64_t events, sampled, waits, hook_ns, cpu_ns, profiler_bytes, collector_bytes;
	int64_t hook_known_ns, cpu_known_ns; /* of the processes where both are known */
};

static int load_overhead(sqlite3 *db, const struct mp_query *q, struct overhead *o)
{
	memset(o, 0, sizeof(*o));
	o->collector_bytes = mp_meta_int(db, "collector_peak_rss_bytes", -1);
	if (!mp_trace_has_table(db, "overhead"))
		return 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT count(*), total(events), total(sampled_events), total(sampled_waits),"
	                       " CASE WHEN count(hook_ns) = count(*) THEN total(hook_ns) ELSE -1 END,"
	                       " CASE WHEN count(cpu_ns) = count(*) THEN total(cpu_ns) ELSE -1 END,"
	                       " coalesce(max(profiler_bytes), -1),"
	                       " total(CASE WHEN cpu_ns IS NOT NULL THEN hook_ns END),"
	                       " total(CASE WHEN hook_ns IS NOT NULL THEN cpu_ns END)"
	                       " FROM main.overhead WHERE tid IS NULL AND"
	                       " (?1 < 0 OR process_id IN (SELECT id FROM main.processes WHERE pid = ?1))",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, q->pid);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
		o->have = 1;
		int64_t *v[] = {&o->events, &o->sampled,        &o->waits,         &o->hook_ns,
		                &o->cpu_ns, &o->profiler_bytes, &o->hook_known_ns, &o->cpu_known_ns};
		for (int i = 0; i < 8; i++)
			*v[i] = sqlite3_column_int64(st, i + 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* "overhead:   0.60 s in hooks (12% of the program's CPU time, 0.71 s),
   3.74 MiB profiler memory in the program, 39 MiB in the collector" */
static void print_text_overhead(const struct overhead *o)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX];
	fputs("overhead:   ", stdout);
	if (!o->have) {
		printf("not measured (a trace from an older memprof)\n");
		return;
	}
	if (o->hook_ns >= 0)
		printf("%s in hooks", mp_human_duration(o->hook_ns, a, sizeof(a)));
	else
		printf("time in hooks not measured");
	if (o->cpu_known_ns > 0)
		printf(" (%.0f%% of the program's CPU time, %s)",
		       100.0 * (double)o->hook_known_ns / (double)o->cpu_known_ns,
		       mp_human_duration(o->cpu_known_ns, b, sizeof(b)));
	if (o->profiler_bytes >= 0)
		printf(", %s profiler memory in the program", mp_human_size(o->profiler_bytes, a, sizeof(a)));
	if (o->collector_bytes >= 0)
		printf(", %s in the collector", mp_human_size(o->collector_bytes, a, sizeof(a)));
	printf("; %" PRId64 " events, %" PRId64 " timed\n", o->events, o->sampled);
}

static void json_overhead(struct mp_json *j, const struct overhead *o)
{
	mp_json_key(j, "overhead");
	if (!o->have) {
		mp_json_null(j);
		return;
	}
	mp_json_object_begin(j, 0);
	const char *keys[] = {"hook_ns", "cpu_ns", "profiler_bytes", "collector_peak_rss_bytes"};
	const int64_t vals[] = {o->hook_ns, o->cpu_ns, o->profiler_bytes, o->collector_bytes};
	for (int i = 0; i < 4; i++) {
		mp_json_key(j, keys[i]);
		if (vals[i] < 0)
			mp_json_null(j);
		else
			mp_json_int(j, vals[i]);
	}
	mp_json_key(j, "hook_share");
	if (o->cpu_known_ns > 0)
		mp_json_double(j, (double)o->hook_known_ns / (double)o->cpu_known_ns);
	else
		mp_json_null(j);
	mp_json_kv_int(j, "events", o->events);
	mp_json_kv_int(j, "sampled_events", o->sampled);
	mp_json_kv_int(j, "sampled_waits", o->waits);
	mp_json_object_end(j);
}

static void format_end(const struct mp_process *p, char *buf, size_t size)
{
	if (!strcmp(p->ended_by, "exit") && p->have_exit_status)
		snprintf(buf, size, "exit %" PRId64, p->exit_status);
	else if (!strcmp(p->ended_by, "signal") && p->have_signal)
		snprintf(buf, size, "signal %" PRId64, p->signal);
	else
		snprintf(buf, size, "%s", p->ended_by);
}

static void print_text(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, const struct totals *t,
                       const struct overhead *o)
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
	mp_reach_text(&t->reach, w2, sizeof(w2));
	printf("leaked:     %s (%" PRId64 " bytes) in %s%s\n", mp_human_size(t->leaked_bytes, a, sizeof(a)),
	       t->leaked_bytes, plural(t->leaked_blocks, "block", w1, sizeof(w1)), w2);
	printf("temporary:  %s\n", plural(t->temporary, "allocation", w1, sizeof(w1)));
	print_text_extra(t, ps->n);
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
	print_text_overhead(o);
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

/* "mappings": {...} (null when not recorded) and "rss": {...} (null
   without samples) of one process, or of the totals with the sample. */
static void json_extra(struct mp_json *j, int recorded, const int64_t m[7], int have_rss, int64_t rss_peak,
                       const struct rss_sample *s)
{
	static const char *const keys[7] = {"calls",        "releases",     "bytes",        "peak_bytes",
	                                    "peak_time_ns", "leaked_bytes", "leaked_blocks"};
	mp_json_key(j, "mappings");
	if (recorded) {
		mp_json_object_begin(j, 1);
		for (int i = 0; i < 7; i++)
			mp_json_kv_int(j, keys[i], m[i]);
		mp_json_object_end(j);
	} else {
		mp_json_null(j);
	}
	mp_json_key(j, "rss");
	if (!have_rss) {
		mp_json_null(j);
		return;
	}
	mp_json_object_begin(j, s ? 0 : 1);
	mp_json_kv_int(j, "peak_bytes", rss_peak);
	if (s) {
		static const char *const skeys[6] = {"time_ns",    "rss_bytes",    "anon_bytes",
		                                     "heap_bytes", "usable_bytes", "mapped_bytes"};
		const int64_t v[6] = {s->time_ns, s->rss, s->anon, s->heap, s->usable, s->mapped};
		mp_json_key(j, "largest_sample");
		mp_json_object_begin(j, 1);
		for (int i = 0; i < 6; i++)
			mp_json_kv_int(j, skeys[i], v[i]);
		mp_json_object_end(j);
	}
	mp_json_object_end(j);
}

static void print_json(sqlite3 *db, const struct mp_processes *ps, const struct totals *t, const struct overhead *o)
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
	mp_reach_json(&j, &t->reach);
	mp_json_kv_int(&j, "temporary", t->temporary);
	mp_json_kv_int(&j, "threads", t->threads);
	mp_json_kv_int(&j, "duration_ns", t->duration_ns);
	if (t->have_mappings) {
		const int64_t m[7] = {t->mmap_calls,        t->munmap_calls,      t->mmap_bytes,
		                      t->mmap_peak_bytes,   t->mmap_peak_time_ns, t->mmap_leaked_bytes,
		                      t->mmap_leaked_blocks};
		json_extra(&j, t->mappings_recorded, m, t->have_rss, t->rss_peak_bytes,
		           t->have_sample ? &t->sample : NULL);
	}
	json_overhead(&j, o);
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
		if (p->have_mappings) {
			const int64_t m[7] = {p->mmap_calls,        p->munmap_calls,      p->mmap_bytes,
			                      p->mmap_peak_bytes,   p->mmap_peak_time_ns, p->mmap_leaked_bytes,
			                      p->mmap_leaked_blocks};
			json_extra(&j, t->mappings_recorded, m, p->have_rss, p->rss_peak_bytes, NULL);
		}
		mp_json_object_end(&j);
	}
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
}

static void print_csv(const struct mp_processes *ps)
{
	static const char *const head[] = {"pid",
	                                   "ppid",
	                                   "origin",
	                                   "argv",
	                                   "ended_by",
	                                   "exit_status",
	                                   "signal",
	                                   "allocations",
	                                   "frees",
	                                   "allocated_bytes",
	                                   "peak_bytes",
	                                   "peak_time_ns",
	                                   "leaked_bytes",
	                                   "leaked_blocks",
	                                   "temporary",
	                                   "threads",
	                                   "unmatched_frees",
	                                   "mmap_calls",
	                                   "munmap_calls",
	                                   "mmap_bytes",
	                                   "mmap_peak_bytes",
	                                   "mmap_peak_time_ns",
	                                   "mmap_leaked_bytes",
	                                   "mmap_leaked_blocks",
	                                   "rss_peak_bytes",
	                                   "rss_peak_time_ns"};
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
		/* Empty where the trace has no such figures. */
		const int64_t m[] = {p->mmap_calls,        p->munmap_calls,      p->mmap_bytes,
		                     p->mmap_peak_bytes,   p->mmap_peak_time_ns, p->mmap_leaked_bytes,
		                     p->mmap_leaked_blocks};
		for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
			if (p->have_mappings)
				mp_csv_int(stdout, m[k], 0);
			else
				mp_csv_field(stdout, NULL, 0);
		}
		for (int k = 0; k < 2; k++) {
			if (p->have_rss)
				mp_csv_int(stdout, k ? p->rss_peak_time_ns : p->rss_peak_bytes, 0);
			else
				mp_csv_field(stdout, NULL, 0);
		}
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
		struct totals t = {0};
		add_totals(&t, &ps);
		t.duration_ns = mp_meta_int(db, "duration_ns", 0);
		t.mappings_recorded = mp_meta_int(db, "mappings_recorded", 1) != 0;
		struct overhead o;
		if (load_rss_sample(db, &t) || load_overhead(db, &q, &o) || mp_reach_totals(db, q.pid, &t.reach)) {
			rc = mp_trace_fail_db(q.path, db);
			mp_processes_free(&ps);
			mp_trace_close(db);
			return rc;
		}
		if (q.format == MP_FMT_JSON)
			print_json(db, &ps, &t, &o);
		else if (q.format == MP_FMT_CSV)
			print_csv(&ps);
		else
			print_text(db, &q, &ps, &t, &o);
		rc = mp_finish_output();
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
