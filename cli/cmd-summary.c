/* memprof summary: the totals of a trace and each of its processes; on a
 * trace of several runs (memprof run --repeat), each figure's minimum,
 * median and maximum over the runs, and which figures vary. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "output.h"
#include "runs.h"
#include "reach.h"
#include "trace.h"
#include "util.h"
#include "views.h"
#include "window.h"

/* An RSS sample with the heap and mapping figures at that moment. */
struct rss_sample {
	int64_t time_ns, rss, anon, heap, usable, mapped;
};

struct totals {
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, peak_pid;
	/* The usable bytes live at the peak (the heap sample taken there),
	   when the trace has it (have_peak_usable). */
	int64_t peak_process_id, peak_usable;
	int have_peak_usable;
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
	fputs("usage: memprof summary [--phase NAME] [--from T] [--to T] [--format text|json|csv]\n"
	      "                       [--pid PID] [--run K] TRACE\n"
	      "\n"
	      "The totals of a trace: allocations, frees, bytes allocated, the peak of\n"
	      "live bytes (the largest of any one process) and when it was reached,\n"
	      "leaks, temporary allocations and threads, and the same for each process.\n"
	      "Anonymous mappings (mmap) have figures of their own, apart from the heap's,\n"
	      "and the peak resident set (RSS) is broken down into heap, mappings and the\n"
	      "rest at the largest RSS sample.\n"
	      "On a trace of several runs (memprof run --repeat): each figure's minimum,\n"
	      "median and maximum over the runs, the figures that vary between runs\n"
	      "(duration is never flagged), and each run's figures.\n"
	      "Then the pools, phases and pauses the program reported (memprof.h).\n"
	      "With --phase, --from or --to: the allocations made in that window, how\n"
	      "many of them were freed and how many leaked.\n"
	      "\n"
	      "    --format FMT   text (default), json, or csv (one row per process; one\n"
	      "                   row per figure on a trace of several runs)\n"
	      "    --pid PID      only the process(es) with that pid\n"
	      "    --run K        only run K, as a trace of one run\n"
	      "    -h, --help     this help\n",
	      out);
}

static void add_totals(struct totals *t, const struct mp_processes *ps);

void mp_summary_add(struct mp_summary_totals *st, const struct mp_processes *ps)
{
	struct totals t = {0};
	add_totals(&t, ps);
	*st = (struct mp_summary_totals){t.allocations,  t.frees,    t.allocated_bytes, t.peak_bytes,
	                                 t.peak_time_ns, t.peak_pid, t.leaked_bytes,    t.leaked_blocks,
	                                 t.temporary,    t.threads,  t.unmatched_frees, 0};
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
			t->peak_process_id = p->id;
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

/* The usable bytes at the peak: heap_samples holds a sample at every
   process's peak. Without it (an unreadable table) the figure is left out. */
static void load_peak_usable(sqlite3 *db, struct totals *t)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT max(usable_bytes) FROM main.heap_samples WHERE process_id = ?1 AND time_ns = ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, t->peak_process_id);
	sqlite3_bind_int64(st, 2, t->peak_time_ns);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		t->peak_usable = sqlite3_column_int64(st, 0);
		t->have_peak_usable = t->peak_bytes > 0;
	}
	sqlite3_finalize(st);
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
	int64_t events, sampled, waits, hook_ns, cpu_ns, profiler_bytes, collector_bytes, held_ns;
	int64_t hook_known_ns, cpu_known_ns; /* of the processes where both are known */
};

static int load_overhead(sqlite3 *db, const struct mp_query *q, struct overhead *o)
{
	memset(o, 0, sizeof(*o));
	o->collector_bytes = mp_meta_int(db, "collector_peak_rss_bytes", -1);
	o->held_ns = mp_meta_int(db, "collector_held_ns", -1);
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
	if (o->held_ns > 0)
		printf(" (which stopped reading for %s to catch up)", mp_human_duration(o->held_ns, a, sizeof(a)));
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
	const char *keys[] = {"hook_ns", "cpu_ns", "profiler_bytes", "collector_peak_rss_bytes", "collector_held_ns"};
	const int64_t vals[] = {o->hook_ns, o->cpu_ns, o->profiler_bytes, o->collector_bytes, o->held_ns};
	for (int i = 0; i < 5; i++) {
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

void mp_summary_ended(const struct mp_process *p, char *buf, size_t size)
{
	if (!strcmp(p->ended_by, "exit") && p->have_exit_status)
		snprintf(buf, size, "exit %" PRId64, p->exit_status);
	else if (!strcmp(p->ended_by, "signal") && p->have_signal)
		snprintf(buf, size, "signal %" PRId64, p->signal);
	else
		snprintf(buf, size, "%s", p->ended_by);
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

static int window_summary(sqlite3 *db, const struct mp_query *q, const struct mp_window *w)
{
	int64_t run;
	int rc = mp_window_run(db, q, &run);
	if (!rc)
		rc = mp_window_sites(w, NULL, db, q->path, q->pid, run);
	if (rc)
		return rc;
	struct mp_window_totals t = {0};
	if (mp_window_totals(db, &t) != SQLITE_OK)
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

static void command_line(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, struct mp_buf *cmd);

static void print_text(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, const struct totals *t,
                       int64_t run, size_t runs, const struct overhead *o)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], w1[64], w2[64];
	struct mp_buf cmd = {0};
	command_line(db, q, ps, &cmd);
	fputs("command:    ", stdout);
	mp_text_puts(stdout, mp_buf_str(&cmd));
	fputc('\n', stdout);
	mp_buf_free(&cmd);
	if (run > 0)
		printf("run:        %" PRId64 " of %zu\n", run, runs);
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
	if (t->have_peak_usable)
		printf(", usable %s", mp_human_size(t->peak_usable, a, sizeof(a)));
	fputc('\n', stdout);
	mp_reach_text(&t->reach, w2, sizeof(w2));
	printf("leaked:     %s (%" PRId64 " bytes) in %s%s\n", mp_human_size(t->leaked_bytes, a, sizeof(a)),
	       t->leaked_bytes, plural(t->leaked_blocks, "block", w1, sizeof(w1)), w2);
	printf("temporary:  %s\n", plural(t->temporary, "allocation", w1, sizeof(w1)));
	print_text_extra(t, ps->n);
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
	print_text_overhead(o);
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

static void json_processes(struct mp_json *j, const struct mp_processes *ps, int mappings_recorded);

static void print_json(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, const struct totals *t,
                       int64_t run, size_t runs, const struct overhead *o)
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
	mp_json_key(&j, "peak_usable_bytes");
	if (t->have_peak_usable)
		mp_json_int(&j, t->peak_usable);
	else
		mp_json_null(&j);
	if (t->have_mappings) {
		const int64_t m[7] = {t->mmap_calls,        t->munmap_calls,      t->mmap_bytes,
		                      t->mmap_peak_bytes,   t->mmap_peak_time_ns, t->mmap_leaked_bytes,
		                      t->mmap_leaked_blocks};
		json_extra(&j, t->mappings_recorded, m, t->have_rss, t->rss_peak_bytes,
		           t->have_sample ? &t->sample : NULL);
	}
	json_overhead(&j, o);
	json_environment(db, &j);
	mp_json_kv_int(&j, "runs", (int64_t)runs);
	if (run > 0)
		mp_json_kv_int(&j, "run", run);
	json_processes(&j, ps, t->mappings_recorded);
	print_api_json(db, q, &j);
	mp_json_object_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
}

static void json_end(struct mp_json *j, const char *ended_by, int have_exit_status, int64_t exit_status,
                     int have_signal, int64_t signal)
{
	int killed = !strcmp(ended_by, "signal");
	mp_json_key(j, killed ? "signal" : "exit_status");
	if (killed ? have_signal : have_exit_status)
		mp_json_int(j, killed ? signal : exit_status);
	else
		mp_json_null(j);
}

static void json_processes(struct mp_json *j, const struct mp_processes *ps, int mappings_recorded)
{
	mp_json_key(j, "processes");
	mp_json_array_begin(j, 0);
	for (size_t i = 0; i < ps->n; i++) {
		const struct mp_process *p = &ps->v[i];
		mp_json_object_begin(j, 0);
		mp_json_kv_int(j, "pid", p->pid);
		mp_json_key(j, "ppid");
		if (p->ppid >= 0)
			mp_json_int(j, p->ppid);
		else
			mp_json_null(j);
		mp_json_key(j, "argv");
		mp_json_array_begin(j, 1);
		for (size_t k = 0; k < p->argc; k++)
			mp_json_string(j, p->argv[k]);
		mp_json_array_end(j);
		json_end(j, p->ended_by, p->have_exit_status, p->exit_status, p->have_signal, p->signal);
		mp_json_kv_int(j, "allocations", p->allocations);
		mp_json_kv_int(j, "frees", p->frees);
		mp_json_kv_int(j, "allocated_bytes", p->allocated_bytes);
		mp_json_kv_int(j, "peak_bytes", p->peak_bytes);
		mp_json_kv_int(j, "leaked_bytes", p->leaked_bytes);
		mp_json_kv_int(j, "temporary", p->temporary);
		mp_json_kv_int(j, "threads", p->threads);
		mp_json_kv_string(j, "ended_by", p->ended_by);
		mp_json_kv_int(j, "run", p->run);
		if (p->have_mappings) {
			const int64_t m[7] = {p->mmap_calls,        p->munmap_calls,      p->mmap_bytes,
			                      p->mmap_peak_bytes,   p->mmap_peak_time_ns, p->mmap_leaked_bytes,
			                      p->mmap_leaked_blocks};
			json_extra(j, mappings_recorded, m, p->have_rss, p->rss_peak_bytes, NULL);
		}
		mp_json_object_end(j);
	}
	mp_json_array_end(j);
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
	                                   "rss_peak_time_ns",
	                                   "run"};
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
		mp_csv_int(stdout, p->run, 0);
		mp_csv_end(stdout);
	}
	mp_buf_free(&argv);
}

/* --- a trace of several runs ------------------------------------------- */

/* The command line: meta's, or the processes' (with --pid). */
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
	free(host);
	free(kernel);
	free(cpu);
	free(libc);
	free(alloc);
	free(settings);
	return host != NULL;
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

static void command_line(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps, struct mp_buf *cmd)
{
	mp_summary_command(db, q->pid, ps, cmd);
}

/* "exit 3", "signal 15", "unknown" for a run. */
static void format_run_end(const struct mp_run *r, char *buf, size_t size)
{
	const char *e = r->ended_by ? r->ended_by : "unknown";
	if (!strcmp(e, "exit") && r->have_exit_status)
		snprintf(buf, size, "exit %" PRId64, r->exit_status);
	else if (!strcmp(e, "signal") && r->have_signal)
		snprintf(buf, size, "signal %" PRId64, r->signal);
	else
		snprintf(buf, size, "%s", e);
}

/* Labels of the figures in text. */
static const char *const repeat_labels[MP_RUN_NFIG] = {
        "allocations",   "frees",     "allocated bytes", "peak bytes", "leaked bytes",
        "leaked blocks", "temporary", "threads",         "duration",
};

static void print_repeat_text(sqlite3 *db, const struct mp_query *q, const struct mp_processes *ps,
                              const struct mp_runs *r, const struct mp_run_stat *st)
{
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX], c[MP_HUMAN_MAX];
	struct mp_buf cmd = {0};
	command_line(db, q, ps, &cmd);
	fputs("command:    ", stdout);
	mp_text_puts(stdout, mp_buf_str(&cmd));
	fputc('\n', stdout);
	mp_buf_reset(&cmd);
	printf("runs:       %zu (each figure: its minimum, median and maximum over the runs)\n", r->n);
	const struct mp_run_stat *d = &st[MP_RUN_DURATION];
	printf("duration:   %s median (%s to %s)\n", mp_human_duration(d->median, a, sizeof(a)),
	       mp_human_duration(d->min, b, sizeof(b)), mp_human_duration(d->max, c, sizeof(c)));

	struct mp_table tab;
	mp_table_init(&tab, 5, 1);
	static const unsigned char right[] = {0, 1, 1, 1, 0};
	memcpy(tab.right, right, sizeof(right));
	static const char *const head[] = {"FIGURE", "MIN", "MEDIAN", "MAX", ""};
	for (size_t i = 0; i < 5; i++)
		mp_table_add(&tab, head[i]);
	for (int f = 0; f < MP_RUN_NFIG; f++) {
		mp_table_add(&tab, repeat_labels[f]);
		const int64_t v[3] = {st[f].min, st[f].median, st[f].max};
		for (int k = 0; k < 3; k++) {
			if (f == MP_RUN_DURATION)
				mp_human_duration(v[k], a, sizeof(a));
			else
				snprintf(a, sizeof(a), "%" PRId64, v[k]);
			mp_table_add(&tab, a);
		}
		mp_table_add(&tab, st[f].varies ? "varies" : NULL);
	}
	fputc('\n', stdout);
	mp_table_flush(&tab, stdout, "");
	mp_table_free(&tab);

	fputc('\n', stdout);
	int varies = 0;
	for (int f = 0; f < MP_RUN_NFIG; f++)
		if (st[f].varies)
			printf("%s%s", varies++ ? ", " : "varies:     ", mp_run_figure_name((enum mp_run_figure)f));
	if (varies)
		fputs(" (the runs differ: a nondeterministic program, or one that reads MEMPROF_RUN)\n", stdout);
	else
		fputs("varies:     nothing (every run has the same figures)\n", stdout);

	mp_table_init(&tab, 9, 1);
	static const unsigned char rright[] = {1, 0, 1, 1, 1, 1, 1, 1, 1};
	memcpy(tab.right, rright, sizeof(rright));
	static const char *const rhead[] = {"RUN",  "ENDED",  "PROCESSES", "ALLOCATIONS", "ALLOCATED",
	                                    "PEAK", "LEAKED", "TEMPORARY", "DURATION"};
	for (size_t i = 0; i < 9; i++)
		mp_table_add(&tab, rhead[i]);
	for (size_t i = 0; i < r->n; i++) {
		const struct mp_run *x = &r->v[i];
		snprintf(a, sizeof(a), "%" PRId64, x->run);
		mp_table_add(&tab, a);
		format_run_end(x, a, sizeof(a));
		mp_table_add(&tab, a);
		snprintf(a, sizeof(a), "%zu", x->processes);
		mp_table_add(&tab, a);
		snprintf(a, sizeof(a), "%" PRId64, x->v[MP_RUN_ALLOCATIONS]);
		mp_table_add(&tab, a);
		mp_table_add(&tab, mp_human_size(x->v[MP_RUN_BYTES], a, sizeof(a)));
		mp_table_add(&tab, mp_human_size(x->v[MP_RUN_PEAK], a, sizeof(a)));
		mp_table_add(&tab, mp_human_size(x->v[MP_RUN_LEAKED], a, sizeof(a)));
		snprintf(a, sizeof(a), "%" PRId64, x->v[MP_RUN_TEMPORARY]);
		mp_table_add(&tab, a);
		mp_table_add(&tab, mp_human_duration(x->v[MP_RUN_DURATION], a, sizeof(a)));
	}
	fputc('\n', stdout);
	mp_table_flush(&tab, stdout, "");
	mp_table_free(&tab);
	if (ps->n > r->n) { /* some run has several processes */
		mp_table_init(&tab, 8, 1);
		static const unsigned char pright[] = {1, 1, 1, 0, 0, 1, 1, 0};
		memcpy(tab.right, pright, sizeof(pright));
		static const char *const phead[] = {"RUN",   "PID",         "PPID", "ORIGIN",
		                                    "ENDED", "ALLOCATIONS", "PEAK", "COMMAND"};
		for (size_t i = 0; i < 8; i++)
			mp_table_add(&tab, phead[i]);
		for (size_t i = 0; i < ps->n; i++) {
			const struct mp_process *p = &ps->v[i];
			snprintf(a, sizeof(a), "%" PRId64, p->run);
			mp_table_add(&tab, a);
			snprintf(a, sizeof(a), "%" PRId64, p->pid);
			mp_table_add(&tab, a);
			snprintf(a, sizeof(a), "%" PRId64, p->ppid);
			mp_table_add(&tab, p->ppid >= 0 ? a : "?");
			mp_table_add(&tab, p->origin);
			mp_summary_ended(p, a, sizeof(a));
			mp_table_add(&tab, a);
			snprintf(a, sizeof(a), "%" PRId64, p->allocations);
			mp_table_add(&tab, a);
			mp_table_add(&tab, mp_human_size(p->peak_bytes, a, sizeof(a)));
			mp_buf_reset(&cmd);
			mp_argv_join(p->argv, &cmd);
			mp_table_add(&tab, mp_buf_str(&cmd));
		}
		fputc('\n', stdout);
		mp_table_flush(&tab, stdout, "");
		mp_table_free(&tab);
	}
	mp_buf_free(&cmd);
}

static void print_repeat_json(sqlite3 *db, const struct mp_processes *ps, const struct mp_runs *r,
                              const struct mp_run_stat *st)
{
	struct mp_json j;
	mp_json_init(&j, stdout);
	mp_json_object_begin(&j, 0);
	mp_json_key(&j, "summary");
	mp_json_object_begin(&j, 0);
	/* The totals are the medians (a sum over runs would count each
	   allocation once per run). */
	const struct mp_run *peak_run = mp_runs_find(r, st[MP_RUN_PEAK].median_run);
	static const enum mp_run_figure top[] = {MP_RUN_ALLOCATIONS, MP_RUN_FREES, MP_RUN_BYTES, MP_RUN_PEAK};
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		mp_json_kv_int(&j, mp_run_figure_name(top[i]), st[top[i]].median);
	mp_json_kv_int(&j, "peak_time_ns", peak_run ? peak_run->peak_time_ns : 0);
	static const enum mp_run_figure rest[] = {MP_RUN_LEAKED, MP_RUN_LEAKED_BLOCKS, MP_RUN_TEMPORARY, MP_RUN_THREADS,
	                                          MP_RUN_DURATION};
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		mp_json_kv_int(&j, mp_run_figure_name(rest[i]), st[rest[i]].median);
	json_environment(db, &j);
	mp_json_kv_int(&j, "runs", (int64_t)r->n);
	mp_json_key(&j, "repeat");
	mp_json_object_begin(&j, 0);
	mp_json_key(&j, "figures");
	mp_json_object_begin(&j, 0);
	for (int f = 0; f < MP_RUN_NFIG; f++) {
		mp_json_key(&j, mp_run_figure_name((enum mp_run_figure)f));
		mp_json_object_begin(&j, 1);
		mp_json_kv_int(&j, "min", st[f].min);
		mp_json_kv_int(&j, "median", st[f].median);
		mp_json_kv_int(&j, "max", st[f].max);
		mp_json_kv_int(&j, "median_run", st[f].median_run);
		mp_json_key(&j, "varies");
		mp_json_bool(&j, st[f].varies);
		mp_json_object_end(&j);
	}
	mp_json_object_end(&j);
	mp_json_key(&j, "varies");
	mp_json_array_begin(&j, 1);
	for (int f = 0; f < MP_RUN_NFIG; f++)
		if (st[f].varies)
			mp_json_string(&j, mp_run_figure_name((enum mp_run_figure)f));
	mp_json_array_end(&j);
	mp_json_key(&j, "runs");
	mp_json_array_begin(&j, 0);
	for (size_t i = 0; i < r->n; i++) {
		const struct mp_run *x = &r->v[i];
		mp_json_object_begin(&j, 1);
		mp_json_kv_int(&j, "run", x->run);
		mp_json_kv_string(&j, "ended_by", x->ended_by ? x->ended_by : "unknown");
		json_end(&j, x->ended_by ? x->ended_by : "unknown", x->have_exit_status, x->exit_status, x->have_signal,
		         x->signal);
		mp_json_kv_int(&j, "processes", (int64_t)x->processes);
		for (int f = 0; f < MP_RUN_NFIG; f++)
			mp_json_kv_int(&j, mp_run_figure_name((enum mp_run_figure)f), x->v[f]);
		mp_json_object_end(&j);
	}
	mp_json_array_end(&j);
	mp_json_object_end(&j);
	json_processes(&j, ps, mp_meta_int(db, "mappings_recorded", 1) != 0);
	mp_json_object_end(&j);
	mp_json_object_end(&j);
	mp_json_finish(&j);
}

static void print_repeat_csv(const struct mp_run_stat *st)
{
	fputs("figure,min,median,max,median_run,varies\n", stdout);
	for (int f = 0; f < MP_RUN_NFIG; f++) {
		mp_csv_field(stdout, mp_run_figure_name((enum mp_run_figure)f), 1);
		const int64_t v[] = {st[f].min, st[f].median, st[f].max, st[f].median_run, st[f].varies};
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
			mp_csv_int(stdout, v[k], 0);
		mp_csv_end(stdout);
	}
}

/* Keeps only the processes of run in ps. */
static void keep_run(struct mp_processes *ps, int64_t run)
{
	size_t k = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].run == run) {
			ps->v[k++] = ps->v[i];
		} else {
			free(ps->v[i].origin);
			free(ps->v[i].ended_by);
			mp_argv_free(ps->v[i].argv);
		}
	}
	ps->n = k;
}

int cmd_summary(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS, MP_QUERY_RUN_OPTION, MP_WINDOW_LONG_OPTIONS, {NULL, 0, NULL, 0}};
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
	sqlite3 *db;
	if ((rc = mp_query_open(&q, argc, argv, MP_NEED_PROCESSES, &db)))
		return rc;
	struct mp_processes ps;
	if (!(rc = mp_query_processes(&q, db, &ps)) && mp_window_set(&w)) {
		rc = window_summary(db, &q, &w);
		if (!rc)
			rc = mp_finish_output();
		mp_processes_free(&ps);
	} else if (!rc) {
		struct mp_runs r;
		char err[512];
		if (mp_runs_load(db, &ps, &r, err, sizeof(err))) {
			rc = mp_trace_fail(q.path, err);
		} else if (q.run > 0 && !mp_runs_find(&r, q.run)) {
			mp_error("no run %" PRId64 " in '%s' (it has %zu run%s)", q.run, q.path, r.total,
			         r.total == 1 ? "" : "s");
			rc = MP_EXIT_USAGE;
		} else if (q.run <= 0 && r.n > 1) {
			struct mp_run_stat st[MP_RUN_NFIG];
			for (int f = 0; f < MP_RUN_NFIG; f++)
				mp_runs_stat(&r, (enum mp_run_figure)f, &st[f]);
			if (q.format == MP_FMT_JSON)
				print_repeat_json(db, &ps, &r, st);
			else if (q.format == MP_FMT_CSV)
				print_repeat_csv(st);
			else
				print_repeat_text(db, &q, &ps, &r, st);
			rc = mp_finish_output();
		} else {
			struct totals t = {0};
			int64_t run = q.run > 0 && r.total > 1 ? q.run : 0;
			if (run)
				keep_run(&ps, run);
			add_totals(&t, &ps);
			const struct mp_run *one = run                       ? mp_runs_find(&r, run)
			                           : r.total > 1 && r.n == 1 ? &r.v[0]
			                                                     : NULL;
			t.duration_ns = one ? one->v[MP_RUN_DURATION] : mp_meta_int(db, "duration_ns", 0);
			t.mappings_recorded = mp_meta_int(db, "mappings_recorded", 1) != 0;
			struct overhead o;
			load_peak_usable(db, &t);
			if (load_rss_sample(db, &t) || load_overhead(db, &q, &o) ||
			    mp_reach_totals(db, q.pid, run, &t.reach)) {
				rc = mp_trace_fail_db(q.path, db);
			} else {
				if (q.format == MP_FMT_JSON)
					print_json(db, &q, &ps, &t, run, r.total, &o);
				else if (q.format == MP_FMT_CSV)
					print_csv(&ps);
				else
					print_text(db, &q, &ps, &t, run, r.total, &o);
				rc = mp_finish_output();
			}
		}
		mp_runs_free(&r);
		mp_processes_free(&ps);
	}
	mp_trace_close(db);
	return rc;
}
