/* memprof strip: a smaller copy of a trace to share: without the
 * per-allocation rows (--keep-summaries-only), with the directories of
 * paths replaced by placeholders (--anonymize-paths), always compacted
 * with VACUUM. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "output.h"
#include "trace.h"
#include "util.h"

enum { OPT_SUMMARIES = MP_OPT_FIRST_PRIVATE, OPT_ANONYMIZE };

static void usage(FILE *out)
{
	fputs("usage: memprof strip [--keep-summaries-only] [--anonymize-paths] [-f|--force] -o OUT.db TRACE\n"
	      "\n"
	      "Writes a smaller copy of TRACE to OUT.db, compacted (VACUUM), to attach to\n"
	      "a bug report. summary, top, peak and leaks answer from it as from TRACE.\n"
	      "\n"
	      "    --keep-summaries-only  drop the per-allocation rows (the `allocations`\n"
	      "                           table of memprof sql); keep processes, threads,\n"
	      "                           sites, stacks, frames, modules, heap samples, meta\n"
	      "    --anonymize-paths      replace the directories of module paths, source\n"
	      "                           files and command lines with placeholders (<dir1>,\n"
	      "                           <dir2>, ...: one per directory), keeping base names\n"
	      "    -o, --output OUT.db    the copy (never TRACE itself)\n"
	      "    -f, --force            replace OUT.db if it exists\n"
	      "    -h, --help             this help\n",
	      out);
}

/* --- --anonymize-paths ------------------------------------------------------ */

/* The directories seen (collecting), then sorted and numbered (replacing). */
struct anon {
	char **dirs;
	size_t n, cap;
	int replacing;
	struct mp_buf out;
};

/* Characters that end a path inside a command-line argument. */
static int delimiter(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '=' || c == ',' || c == ':' || c == ';' || c == '"' ||
	       c == '\'' || c == '(' || c == ')' || c == '<' || c == '>';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the directories of the path-like words of s (collecting), or
   writes s into a->out with each directory replaced by "<dirN>". */
static void anon_text(struct anon *a, const char *s)
{
	mp_buf_reset(&a->out);
	mp_buf_add(&a->out, "", 0);
	while (*s) {
		size_t n = 0;
		while (s[n] && !delimiter(s[n]))
			n++;
		const char *slash = NULL;
		for (size_t i = 0; i < n; i++)
			if (s[i] == '/')
				slash = s + i;
		if (!slash || slash == s) { /* no directory, or the root's */
			mp_buf_add(&a->out, s, n);
		} else {
			char *dir = mp_xmalloc((size_t)(slash - s) + 1);
			memcpy(dir, s, (size_t)(slash - s));
			dir[slash - s] = 0;
			if (!a->replacing) {
				void *v = a->dirs;
				mp_grow(&v, &a->cap, a->n + 1, sizeof(*a->dirs));
				a->dirs = v;
				a->dirs[a->n++] = dir;
				dir = NULL;
			} else {
				char **found = bsearch(&dir, a->dirs, a->n, sizeof(*a->dirs), cmp_str);
				mp_buf_printf(&a->out, "<dir%zu>", found ? (size_t)(found - a->dirs) + 1 : 0);
				mp_buf_add(&a->out, slash, (size_t)(s + n - slash));
			}
			free(dir);
		}
		s += n;
		if (*s) {
			mp_buf_add(&a->out, s, 1);
			s++;
		}
	}
}

/* SQL mp_anon(text): the text with its directories replaced (as it is
   while collecting); NULL stays NULL. */
static void sql_anon(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct anon *a = sqlite3_user_data(ctx);
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	const char *s = (const char *)sqlite3_value_text(argv[0]);
	anon_text(a, s ? s : "");
	if (!a->replacing)
		sqlite3_result_value(ctx, argv[0]);
	else
		sqlite3_result_text(ctx, a->out.s, (int)a->out.len, SQLITE_TRANSIENT);
}

/* Every text holding paths, rewritten through mp_anon. */
static const char anon_sql[] =
        "UPDATE modules SET path = mp_anon(path);"
        "UPDATE frames SET file = mp_anon(file) WHERE file IS NOT NULL;"
        "UPDATE frames SET inlined = (SELECT json_group_array(CASE WHEN json_type(value) = 'object'"
        "  AND json_extract(value, '$.file') IS NOT NULL"
        "  THEN json_set(value, '$.file', mp_anon(json_extract(value, '$.file'))) ELSE value END)"
        "  FROM json_each(frames.inlined))"
        " WHERE CASE WHEN json_valid(inlined) THEN json_type(inlined) END = 'array';"
        "UPDATE processes SET argv = CASE WHEN CASE WHEN json_valid(argv) THEN json_type(argv) END = 'array'"
        "  THEN (SELECT json_group_array(mp_anon(value)) FROM json_each(processes.argv)) ELSE mp_anon(argv) END;"
        "UPDATE meta SET value = CASE WHEN CASE WHEN json_valid(value) THEN json_type(value) END = 'array'"
        "  THEN (SELECT json_group_array(mp_anon(value)) FROM json_each(meta.value)) ELSE mp_anon(value) END"
        " WHERE key IN ('command', 'env_allocator_settings');";

/* Rewrites the paths of the copy w: a first pass collects the
   directories, numbered in sorted order, a second replaces them. */
static int anonymize(sqlite3 *w)
{
	struct anon a = {0};
	int rc = sqlite3_create_function(w, "mp_anon", 1, SQLITE_UTF8, &a, sql_anon, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(w, anon_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		if (a.n)
			qsort(a.dirs, a.n, sizeof(*a.dirs), cmp_str);
		size_t k = 0;
		for (size_t i = 0; i < a.n; i++) {
			if (k && !strcmp(a.dirs[k - 1], a.dirs[i]))
				free(a.dirs[i]);
			else
				a.dirs[k++] = a.dirs[i];
		}
		a.n = k;
		a.replacing = 1;
		rc = sqlite3_exec(w, anon_sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(w, "INSERT OR REPLACE INTO meta(key, value) VALUES ('paths_anonymized', '1')", NULL,
		                  NULL, NULL);
	for (size_t i = 0; i < a.n; i++)
		free(a.dirs[i]);
	free(a.dirs);
	mp_buf_free(&a.out);
	return rc;
}

/* --- the copy ------------------------------------------------------------------ */

/* Drops the allocation chunks of w, marking in meta how many rows went. */
static int drop_allocations(sqlite3 *w)
{
	return sqlite3_exec(w,
	                    "INSERT OR IGNORE INTO meta(key, value)"
	                    " SELECT 'allocations_stripped', CAST(total(count) AS INTEGER) FROM alloc_chunks;"
	                    "DELETE FROM alloc_chunks;",
	                    NULL, NULL, NULL);
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Writes the copy of the trace at path (open as db) to out. */
static int strip(sqlite3 *db, const char *path, const char *out, int summaries, int anon)
{
	struct mp_trace_copy c;
	int rc = mp_trace_copy_begin(&c, db, path, out);
	if (rc)
		return rc;
	sqlite3 *w = c.w;
	rc = sqlite3_exec(w, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK && summaries)
		rc = drop_allocations(w);
	if (rc == SQLITE_OK && anon)
		rc = anonymize(w);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(w, "COMMIT; VACUUM", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		mp_error("cannot write '%s': %s", out, sqlite3_errmsg(w));
		return mp_trace_copy_end(&c, MP_EXIT_TRACE);
	}
	if ((rc = mp_trace_copy_end(&c, 0)))
		return rc;
	char a[MP_HUMAN_MAX], b[MP_HUMAN_MAX];
	printf("wrote '%s': %s (was %s)%s%s\n", out, mp_human_size(file_size(out), a, sizeof(a)),
	       mp_human_size(file_size(path), b, sizeof(b)), summaries ? ", allocations stripped" : "",
	       anon ? ", paths anonymized" : "");
	return 0;
}

int cmd_strip(int argc, char **argv)
{
	static const struct option options[] = {
	        {"keep-summaries-only", no_argument, NULL, OPT_SUMMARIES},
	        {"anonymize-paths", no_argument, NULL, OPT_ANONYMIZE},
	        {"output", required_argument, NULL, 'o'},
	        {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "strip", 0);
	const char *out = NULL;
	int summaries = 0, anon = 0, force = 0, opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "o:f", options, NULL)) != -1) {
		if (opt == OPT_SUMMARIES)
			summaries = 1;
		else if (opt == OPT_ANONYMIZE)
			anon = 1;
		else if (opt == 'o')
			out = optarg;
		else if (opt == 'f')
			force = 1;
		else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if ((rc = mp_query_path(&q, argc, argv)))
		return rc;
	if (!out || !*out)
		return mp_usage_error(q.cmd, "needs the copy's name: -o OUT.db");
	struct stat in_sb, out_sb;
	if (stat(out, &out_sb) == 0) {
		if (stat(q.path, &in_sb) == 0 && in_sb.st_dev == out_sb.st_dev && in_sb.st_ino == out_sb.st_ino) {
			mp_error("'%s' is the trace being stripped; write the copy to another file", out);
			return MP_EXIT_USAGE;
		}
		if (!force) {
			mp_error("'%s' exists; use --force to replace it", out);
			return MP_EXIT_USAGE;
		}
	} else if (!strcmp(out, q.path)) {
		mp_error("'%s' is the trace being stripped; write the copy to another file", out);
		return MP_EXIT_USAGE;
	}
	sqlite3 *db;
	if ((rc = mp_trace_open(q.path, &db)))
		return rc;
	rc = strip(db, q.path, out, summaries, anon);
	if (!rc)
		rc = mp_finish_output();
	mp_trace_close(db);
	return rc;
}
