/* Output of the query commands: formats, human sizes and durations, a JSON
 * writer, CSV fields, and call stacks loaded from a trace and rendered. */
#ifndef MP_OUTPUT_H
#define MP_OUTPUT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum mp_format { MP_FMT_TEXT, MP_FMT_JSON, MP_FMT_CSV };

/* Parses "text", "json" or "csv". Returns 0, or -1 when s is none of them. */
int mp_format_parse(const char *s, enum mp_format *f);

/* Room for any string mp_human_size or mp_human_duration writes. */
#define MP_HUMAN_MAX 32
/* "0 B", "512 B", "1.95 KiB", "1.91 MiB", "3.00 GiB" into buf; returns buf. */
const char *mp_human_size(int64_t bytes, char *buf, size_t size);
/* "1.234 s", "12.3 ms", "45.6 us", "789 ns" into buf; returns buf. */
const char *mp_human_duration(int64_t ns, char *buf, size_t size);

/* Writes s (n bytes) for a terminal: control characters become '?'. */
void mp_text_write(FILE *out, const char *s, size_t n);
void mp_text_puts(FILE *out, const char *s);
/* Length of the valid UTF-8 sequence at p (n > 0 bytes left), or 0 when
   the bytes there are not one. */
size_t mp_utf8_len(const unsigned char *p, size_t n);

/* --- aligned text tables ---------------------------------------------- */

/* Rows of cells printed in aligned columns; cells are owned copies. */
struct mp_table {
	size_t ncols, ncells, cap;
	char **cells;         /* row-major */
	unsigned char *right; /* per column: right-aligned (numbers) */
	size_t *width;        /* per column: widest cell printed so far */
	int header;           /* the first row is a header: a rule follows it once */
};

void mp_table_init(struct mp_table *t, size_t ncols, int header);
/* Appends the next cell (NULL: empty) of the current row. */
void mp_table_add(struct mp_table *t, const char *cell);
/* Number of complete rows held. */
size_t mp_table_rows(const struct mp_table *t);
/* Prints the rows held (widths never shrink between calls), after indent,
   and drops them; call again for more rows in the same columns. */
void mp_table_flush(struct mp_table *t, FILE *out, const char *indent);
void mp_table_free(struct mp_table *t);

/* --- JSON --------------------------------------------------------------- */

#define MP_JSON_MAX_DEPTH 16

/* Writes one JSON document to out, indented by two spaces per level;
   containers begun "flat" are written on one line. */
struct mp_json {
	FILE *out;
	int depth;
	int key_pending;                          /* a key was written, its value is next */
	unsigned char members[MP_JSON_MAX_DEPTH]; /* a member was written at this level */
	unsigned char flat[MP_JSON_MAX_DEPTH];
};

void mp_json_init(struct mp_json *j, FILE *out);
void mp_json_object_begin(struct mp_json *j, int flat);
void mp_json_object_end(struct mp_json *j);
void mp_json_array_begin(struct mp_json *j, int flat);
void mp_json_array_end(struct mp_json *j);
/* The key of the next value in an object. */
void mp_json_key(struct mp_json *j, const char *key);
void mp_json_int(struct mp_json *j, int64_t v);
/* true or false. */
void mp_json_bool(struct mp_json *j, int v);
/* A number, or null when v is not finite. */
void mp_json_double(struct mp_json *j, double v);
/* A string (null for NULL): escaped, invalid UTF-8 replaced by U+FFFD. */
void mp_json_string(struct mp_json *j, const char *s);
void mp_json_string_n(struct mp_json *j, const char *s, size_t n);
void mp_json_null(struct mp_json *j);
/* Ends the document with a newline. */
void mp_json_finish(struct mp_json *j);
/* Key and value in one call. */
void mp_json_kv_int(struct mp_json *j, const char *key, int64_t v);
void mp_json_kv_string(struct mp_json *j, const char *key, const char *s);
/* Writes s (n bytes) as a JSON string literal, quotes included. */
void mp_json_quote_to(FILE *out, const char *s, size_t n);

/* --- CSV (RFC 4180, with "\n" line ends) -------------------------------- */

/* Writes a field, preceded by a comma unless first; quoted when it holds a
   comma, a double quote or a line break. NULL is an empty field. */
void mp_csv_field(FILE *out, const char *s, int first);
void mp_csv_field_n(FILE *out, const char *s, size_t n, int first);
void mp_csv_int(FILE *out, int64_t v, int first);
void mp_csv_end(FILE *out);

/* --- call stacks -------------------------------------------------------- */

enum {
	MP_FRAME_TRUNCATED = 1, /* the stack was cut at the depth limit here */
	MP_FRAME_INLINED = 2,   /* a function inlined into the next frame */
	MP_FRAME_ADDRESS = 4,   /* address is known */
};

/* One logical frame; strings (NULL when unknown) belong to the loader. */
struct mp_frame {
	const char *function, *file, *module;
	int64_t line; /* 0: unknown */
	uint64_t address;
	unsigned flags;
};

/* Frames innermost first (inlined callees before their physical frame),
   valid until the loader that filled it is finished. */
struct mp_stack {
	const struct mp_frame **v; /* v[i]: frame i, innermost first */
	size_t n, cap;
};

struct mp_stack_node; /* a stacks row read, with its logical frames */

struct mp_fold;

/* Reads stacks of one trace with prepared statements; every stacks row
   is read once (stacks share their callers) and kept until fini. */
struct mp_stack_loader {
	sqlite3 *db;
	sqlite3_stmt *walk, *inlined;
	struct mp_fold *fold;        /* meta 'fold': inlined frames it folds (cli/fold.h); NULL: none */
	struct mp_stack_node *nodes; /* hash table by stack id */
	size_t nodes_cap, nodes_used;
	char err[256]; /* why the last call failed */
};

/* Prepares the loader on db. Returns 0, or -1 with l->err set. */
int mp_stack_loader_init(struct mp_stack_loader *l, sqlite3 *db);
/* Frees the loader and every frame it handed out. */
void mp_stack_loader_fini(struct mp_stack_loader *l);
/* Replaces s's frames with the stack stack_id, walking stacks.parent_id to
   the root. The collector folded the stack's innermost physical frames
   (cli/fold.h); inlined frames of folded functions at its innermost end
   are left out here, by the trace's meta 'fold' (they depend on the
   stack alone: figures per stack stay exact). Returns 0, or -1 with
   l->err set ("damaged trace: ..."). */
int mp_stack_load(struct mp_stack_loader *l, int64_t stack_id, struct mp_stack *s);
/* Frees the frame vector (not the frames, the loader's). */
void mp_stack_free(struct mp_stack *s);

/* How many callers a text stack shows without --full-stacks. */
#define MP_TEXT_CALLERS 8

/* Appends one frame as text: "function (file:line)", "function (module)",
   "0x1234 (module)" or "[truncated]"; inlined ones end in " [inlined]". */
struct mp_buf;
void mp_frame_format(const struct mp_frame *f, struct mp_buf *b);
/* Prints the innermost frame after indent, then each caller on its own
   line after "    called from " (MP_TEXT_CALLERS of them unless full). */
void mp_stack_print_text(FILE *out, const struct mp_stack *s, const char *indent, int full);
/* Appends every frame joined by " <- " (the CSV stack field). */
void mp_stack_format_line(const struct mp_stack *s, struct mp_buf *b);
/* Writes the stack as a JSON array of {"function","file","line","module","address"}. */
void mp_stack_json(struct mp_json *j, const struct mp_stack *s);

#endif
