/* memprof sql: SQL over a read-only trace with the `allocations` table,
 * and --materialize: a plain copy with that table made real. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "output.h"
#include "trace.h"
#include "util.h"
#include "window.h"
#include "vtab.h"

enum { OPT_MATERIALIZE = MP_OPT_FIRST_PRIVATE };

/* Text rows buffered to size the columns before printing. */
#define TEXT_BATCH 1000

static void usage(FILE *out)
{
	fputs("usage: memprof sql [--format text|json|csv] [--pid PID] TRACE SQL...\n"
	      "   or: memprof sql --materialize OUT.db [-f|--force] TRACE\n"
	      "\n"
	      "Runs SQL statements (several per argument allowed; '-' reads them from\n"
	      "standard input) on the trace, opened read-only, with the virtual table\n"
	      "`allocations` (one row per allocation: id, pid, process_id, tid, kind, size,\n"
	      "usable_size, address, stack_id, alloc_time_ns, free_time_ns). The other\n"
	      "tables are described in schema/README.md. Put -- before SQL that starts\n"
	      "with '-'. An error in the SQL exits with 2, like any usage error.\n"
	      "\n"
	      "    --format FMT         text (aligned columns, NULL shown as NULL), json (an\n"
	      "                         array of one object per row) or csv (a header row)\n"
	      "    --pid PID            the tables processes, threads, sites, heap_samples,\n"
	      "                         alloc_chunks and allocations show only that pid's rows\n"
	      "    --materialize OUT.db write a copy of the trace, readable by plain SQLite,\n"
	      "                         with every row of `allocations` in allocations_table\n"
	      "    -f, --force          replace OUT.db if it exists\n"
	      "    -h, --help           this help\n",
	      out);
}

/* An error in the user's SQL: exit 2, or 3 when SQLite found the trace damaged. */
static int sql_fail(const char *path, sqlite3 *db)
{
	int code = sqlite3_errcode(db) & 0xff;
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_IOERR || code == SQLITE_NOMEM)
		return mp_trace_fail_db(path, db);
	mp_error("sql error in '%s': %s", path, sqlite3_errmsg(db));
	return MP_EXIT_USAGE;
}

/* --- output of result rows ---------------------------------------------- */

struct out {
	enum mp_format format;
	struct mp_json json;
	struct mp_table table;
	struct mp_buf cell;
	int sets; /* result sets printed */
};

/* The value of column i as text for the table or CSV, in o->cell; NULL for
   SQL NULL. *len is its length (text may hold NUL bytes). */
static const char *cell_text(struct out *o, sqlite3_stmt *st, int i, size_t *len)
{
	static const char hex[] = "0123456789ABCDEF";
	mp_buf_reset(&o->cell);
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		*len = 0;
		return NULL;
	case SQLITE_INTEGER:
		mp_buf_printf(&o->cell, "%" PRId64, (int64_t)sqlite3_column_int64(st, i));
		break;
	case SQLITE_BLOB: {
		const unsigned char *p = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);
		mp_buf_puts(&o->cell, "X'");
		for (int k = 0; k < n; k++) {
			char h[2] = {hex[p[k] >> 4], hex[p[k] & 15]};
			mp_buf_add(&o->cell, h, 2);
		}
		mp_buf_puts(&o->cell, "'");
		break;
	}
	default: { /* FLOAT and TEXT: SQLite's own rendering */
		const char *t = (const char *)sqlite3_column_text(st, i);
		mp_buf_add(&o->cell, t ? t : "", t ? (size_t)sqlite3_column_bytes(st, i) : 0);
		break;
	}
	}
	*len = o->cell.len;
	return mp_buf_str(&o->cell);
}

static void json_value(struct out *o, sqlite3_stmt *st, int i)
{
	size_t len;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		mp_json_null(&o->json);
		break;
	case SQLITE_INTEGER:
		mp_json_int(&o->json, sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		mp_json_double(&o->json, sqlite3_column_double(st, i));
		break;
	case SQLITE_TEXT:
		mp_json_string_n(&o->json, (const char *)sqlite3_column_text(st, i),
		                 (size_t)sqlite3_column_bytes(st, i));
		break;
	default:
		cell_text(o, st, i, &len);
		mp_json_string_n(&o->json, o->cell.s, len);
		break;
	}
}

static const char *column_name(sqlite3_stmt *st, int i)
{
	const char *name = sqlite3_column_name(st, i);
	return name ? name : "";
}

/* Before the first row of a result set (ncol > 0). */
static void set_begin(struct out *o, sqlite3_stmt *st, int ncol)
{
	if (o->format == MP_FMT_JSON)
		return;
	if (o->sets++)
		fputc('\n', stdout);
	if (o->format == MP_FMT_CSV) {
		for (int i = 0; i < ncol; i++)
			mp_csv_field(stdout, column_name(st, i), i == 0);
		mp_csv_end(stdout);
		return;
	}
	mp_table_init(&o->table, (size_t)ncol, 1);
	for (int i = 0; i < ncol; i++)
		mp_table_add(&o->table, column_name(st, i));
}

static void row(struct out *o, sqlite3_stmt *st, int ncol, int first)
{
	size_t len;
	if (o->format == MP_FMT_JSON) {
		mp_json_object_begin(&o->json, 1);
		for (int i = 0; i < ncol; i++) {
			mp_json_key(&o->json, column_name(st, i));
			json_value(o, st, i);
		}
		mp_json_object_end(&o->json);
	} else if (o->format == MP_FMT_CSV) {
		for (int i = 0; i < ncol; i++) {
			const char *s = cell_text(o, st, i, &len);
			mp_csv_field_n(stdout, s, len, i == 0);
		}
		mp_csv_end(stdout);
	} else {
		for (int i = 0; i < ncol; i++) {
			int type = sqlite3_column_type(st, i);
			if (first)
				o->table.right[i] = type == SQLITE_INTEGER || type == SQLITE_FLOAT;
			const char *s = cell_text(o, st, i, &len);
			mp_table_add(&o->table, s ? s : "NULL");
		}
		if (mp_table_rows(&o->table) >= TEXT_BATCH)
			mp_table_flush(&o->table, stdout, "");
	}
}

static void set_end(struct out *o)
{
	if (o->format != MP_FMT_TEXT)
		return;
	mp_table_flush(&o->table, stdout, "");
	mp_table_free(&o->table);
}

/* Runs every statement of sql. Returns 0 or an exit code after a message. */
static int run(sqlite3 *db, const char *path, const char *sql, struct out *o)
{
	const char *tail = sql;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		const char *next = NULL;
		if (sqlite3_prepare_v2(db, tail, -1, &st, &next) != SQLITE_OK)
			return sql_fail(path, db);
		if (!st) { /* whitespace or a comment */
			tail = next;
			continue;
		}
		/* The header once the first step succeeded: a statement that
		   fails at once prints its error alone. */
		int ncol = sqlite3_column_count(st), rows = 0;
		int rc = sqlite3_step(st);
		if (ncol > 0 && (rc == SQLITE_ROW || rc == SQLITE_DONE))
			set_begin(o, st, ncol);
		for (; rc == SQLITE_ROW; rc = sqlite3_step(st))
			if (ncol > 0)
				row(o, st, ncol, rows++ == 0);
		if (ncol > 0 && (rows || rc == SQLITE_DONE))
			set_end(o);
		if (rc != SQLITE_DONE) {
			rc = sql_fail(path, db);
			sqlite3_finalize(st);
			return rc;
		}
		sqlite3_finalize(st);
		tail = next;
	}
	return 0;
}

/* Standard input as a malloc'ed string, or NULL after a message. */
static char *read_stdin(void)
{
	struct mp_buf b = {0};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		mp_buf_add(&b, chunk, n);
	if (ferror(stdin)) {
		mp_error("cannot read the standard input: %s", mp_strerror(errno));
		mp_buf_free(&b);
		return NULL;
	}
	mp_buf_add(&b, "", 0);
	return b.s;
}

/* Shadows the per-process tables with TEMP views of pid's rows. */
static int restrict_pid(sqlite3 *db, const char *path, int64_t pid)
{
	static const char *const per_process[] = {"threads", "sites",      "heap_samples", "alloc_chunks",
	                                          "pools",   "pool_sites", "phases",       "pauses"};
	struct mp_buf sql = {0};
	mp_buf_printf(&sql, "CREATE TEMP VIEW processes AS SELECT * FROM main.processes WHERE pid = %" PRId64 ";", pid);
	for (size_t i = 0; i < sizeof(per_process) / sizeof(per_process[0]); i++)
		if (mp_trace_has_table(db, per_process[i])) /* traces before memprof.h lack some */
			mp_buf_printf(&sql,
			              "CREATE TEMP VIEW %s AS SELECT * FROM main.%s"
			              " WHERE process_id IN (SELECT id FROM main.processes WHERE pid = %" PRId64 ");",
			              per_process[i], per_process[i], pid);
	mp_buf_printf(&sql, "CREATE TEMP VIEW allocations AS SELECT * FROM main.allocations WHERE pid = %" PRId64 ";",
	              pid);
	int rc = sqlite3_exec(db, mp_buf_str(&sql), NULL, NULL, NULL);
	mp_buf_free(&sql);
	if (rc != SQLITE_OK)
		return mp_trace_fail_db(path, db);
	return 0;
}

/* --- --materialize ------------------------------------------------------ */

static int write_fail(const char *out, sqlite3 *db)
{
	mp_error("cannot write '%s': %s", out, db ? sqlite3_errmsg(db) : "out of memory");
	return MP_EXIT_TRACE;
}

/* Copies the trace at path (open as db) to out with allocations_table. */
static int materialize(sqlite3 *db, const char *path, const char *out, int force)
{
	struct stat sb;
	if (!force && lstat(out, &sb) == 0) {
		mp_error("'%s' exists; use --force to replace it", out);
		return MP_EXIT_USAGE;
	}
	struct mp_trace_copy c;
	int rc = mp_trace_copy_begin(&c, db, path, out);
	if (rc)
		return rc;
	sqlite3 *w = c.w;
	int64_t rows = 0;
	rc = mp_vtab_register(w);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
		        w,
		        "BEGIN;"
		        " CREATE TABLE allocations_table (id INTEGER, pid INTEGER, process_id INTEGER,"
		        " tid INTEGER, kind TEXT, size INTEGER, usable_size INTEGER, address INTEGER,"
		        " stack_id INTEGER, alloc_time_ns INTEGER, free_time_ns INTEGER, pool_id INTEGER);"
		        " INSERT INTO allocations_table SELECT id, pid, process_id, tid, kind, size, usable_size,"
		        " address, stack_id, alloc_time_ns, free_time_ns, pool_id FROM allocations;",
		        NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		rows = sqlite3_changes64(w);
		rc = sqlite3_exec(w, "COMMIT", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		int code = sqlite3_errcode(w) & 0xff;
		if (code == SQLITE_CORRUPT) /* the chunks did not decode */
			rc = mp_trace_fail_db(path, w);
		else
			rc = write_fail(out, w);
		return mp_trace_copy_end(&c, rc);
	}
	if ((rc = mp_trace_copy_end(&c, 0)))
		return rc;
	printf("wrote '%s' with %" PRId64 " allocation%s in allocations_table\n", out, rows, rows == 1 ? "" : "s");
	return 0;
}

int cmd_sql(int argc, char **argv)
{
	static const struct option options[] = {
	        MP_QUERY_LONG_OPTIONS,
	        {"materialize", required_argument, NULL, OPT_MATERIALIZE},
	        {"force", no_argument, NULL, 'f'},
	        {NULL, 0, NULL, 0},
	};
	struct mp_query q;
	mp_query_init(&q, "sql", 0);
	const char *materialize_to = NULL;
	int force = 0, opt, rc;
	while ((opt = getopt_long(argc, argv, MP_QUERY_SHORT_OPTIONS "f", options, NULL)) != -1) {
		if (opt == OPT_MATERIALIZE)
			materialize_to = optarg;
		else if (opt == 'f')
			force = 1;
		else if ((rc = mp_query_option(&q, opt, argv)) != 0)
			return rc > 0 ? rc : MP_EXIT_USAGE;
	}
	if (q.help) {
		usage(stdout);
		return MP_EXIT_OK;
	}
	if (optind >= argc)
		return mp_usage_error(q.cmd, "no trace given");
	q.path = argv[optind++];
	if (materialize_to) {
		if (optind < argc)
			return mp_usage_error(q.cmd, "--materialize takes no SQL, and '%s' is one argument too many",
			                      argv[optind]);
		if (q.pid >= 0)
			return mp_usage_error(q.cmd, "--materialize copies every process; --pid cannot go with it");
		if (!*materialize_to)
			return mp_usage_error(q.cmd, "option '--materialize' needs a file name");
	} else if (optind >= argc) {
		return mp_usage_error(q.cmd, "no SQL given");
	}
	int stdin_used = 0;
	for (int i = optind; i < argc; i++)
		if (!strcmp(argv[i], "-") && stdin_used++)
			return mp_usage_error(q.cmd, "'-' (standard input) can be given once");

	sqlite3 *db;
	if ((rc = mp_trace_open_for(q.path, 0, &db)))
		return rc;
	if (materialize_to) {
		rc = materialize(db, q.path, materialize_to, force);
		if (!rc)
			rc = mp_finish_output();
		mp_trace_close(db);
		return rc;
	}
	if (q.pid >= 0) {
		struct mp_processes ps;
		if (!(rc = mp_query_processes(&q, db, &ps))) {
			rc = restrict_pid(db, q.path, q.pid);
			mp_processes_free(&ps);
		}
		if (rc) {
			mp_trace_close(db);
			return rc;
		}
	}

	struct out o;
	memset(&o, 0, sizeof(o));
	o.format = q.format;
	if (o.format == MP_FMT_JSON) {
		mp_json_init(&o.json, stdout);
		mp_json_array_begin(&o.json, 0);
	}
	for (int i = optind; i < argc && !rc; i++) {
		if (!strcmp(argv[i], "-")) {
			char *sql = read_stdin();
			rc = sql ? run(db, q.path, sql, &o) : MP_EXIT_USAGE;
			free(sql);
		} else {
			rc = run(db, q.path, argv[i], &o);
		}
	}
	if (o.format == MP_FMT_JSON && !rc) {
		mp_json_array_end(&o.json);
		mp_json_finish(&o.json);
	}
	mp_buf_free(&o.cell);
	if (!rc)
		rc = mp_finish_output();
	else
		fflush(stdout);
	mp_trace_close(db);
	return rc;
}
