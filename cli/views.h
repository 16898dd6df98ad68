/* What the query commands compute and draw, shared with `memprof report`
 * (cmd-report.c), which puts them together in one HTML page. Each is
 * defined in its command's file, cmd-NAME.c, and named mp_NAME_*. */
#ifndef MP_VIEWS_H
#define MP_VIEWS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calltree.h"
#include "runs.h"

struct mp_buf;
struct mp_process;
struct mp_processes;

/* --- summary (cmd-summary.c) -------------------------------------------- */

/* The totals of a set of processes; the peak is the largest of one. */
struct mp_summary_totals {
	int64_t allocations, frees, allocated_bytes, peak_bytes, peak_time_ns, peak_pid;
	int64_t leaked_bytes, leaked_blocks, temporary, threads, unmatched_frees, duration_ns;
};

/* Adds up the processes in ps into *t (zeroed by the caller). */
void mp_summary_add(struct mp_summary_totals *t, const struct mp_processes *ps);
/* Appends the command line: the trace's (pid < 0), or that of the first
   process in ps (the images with that pid). */
void mp_summary_command(sqlite3 *db, int64_t pid, const struct mp_processes *ps, struct mp_buf *b);
/* How process p ended: "exit 3", "signal 15", "exec", "unknown". */
void mp_summary_ended(const struct mp_process *p, char *buf, size_t size);
/* Appends the environment the trace was recorded in (the `recorded:`
   line: host; kernel; cpu (N cpus); glibc V; allocator A SETTINGS).
   Returns 1, or 0 with nothing appended when the trace has none. */
int mp_summary_environment(sqlite3 *db, struct mp_buf *b);

/* --- top (cmd-top.c) ---------------------------------------------------- */

/* An ordering of the sites: "by-bytes", "bytes", "sum(bytes)", "bytes
   allocated", the title of mapping sites, which run of a repeated trace is
   the median one, and the figure of a pool's or a window's sites (NULL:
   not available then). */
struct mp_top_order {
	const char *option, *name, *sum, *title, *map_title;
	enum mp_run_figure figure;
	const char *part_sum;
};
#define MP_TOP_ORDERS 5
extern const struct mp_top_order mp_top_orders[MP_TOP_ORDERS];

/* A site's figures summed over processes. */
struct mp_top_site {
	int64_t stack_id, allocations, bytes, peak_bytes, leaked_bytes, leaked_blocks, temporary, frees;
};

/* Prepares the ranked sites (figure > 0) of the processes with that pid
   (every one when pid < 0) from table ("main.sites", or a window's: then
   only the orders with a part_sum), at most limit (0: all). Returns an
   SQLite result code. */
int mp_top_prepare(sqlite3 *db, const char *table, const struct mp_top_order *o, int64_t pid, int64_t limit,
                   sqlite3_stmt **st);
/* Reads the current row of that statement. */
void mp_top_row(sqlite3_stmt *st, struct mp_top_site *s);

/* --- leaks (cmd-leaks.c) ------------------------------------------------ */

/* Prepares the leaking stacks (columns: stack_id, bytes, blocks), the most
   bytes first, of pid (every process when < 0) and run (every run when
   <= 0), at most limit (0: all), from table: "main.sites", or a window's
   (cli/window.h). Returns an SQLite result code. */
int mp_leaks_prepare(sqlite3 *db, const char *table, int64_t pid, int64_t run, int64_t limit, sqlite3_stmt **st);

/* --- peak (cmd-peak.c) -------------------------------------------------- */

/* The process with the largest peak (the first of them; of run when > 0),
   NULL if none. */
const struct mp_process *mp_peak_process(const struct mp_processes *ps, int64_t run);
/* Prepares the sites live at the peak of that processes row (columns:
   stack_id, bytes, blocks), largest first, at most limit (0: all).
   Returns an SQLite result code. */
int mp_peak_prepare(sqlite3 *db, int64_t process_id, int64_t limit, sqlite3_stmt **st);

/* --- timeline (cmd-timeline.c) ------------------------------------------ */

/* Writes the heap-over-time chart of the processes in ps, one panel of
   width x height pixels each: a standalone SVG document (id NULL), or an
   <svg id="id"> for an HTML page; with a window w (cli/window.h; NULL or
   unset: none), the processes it is in over its span only. Returns 0, or
   MP_EXIT_TRACE after the message naming path (the trace). */
struct mp_window;
int mp_timeline_svg(FILE *out, sqlite3 *db, const char *path, const struct mp_processes *ps, const struct mp_window *w,
                    double width, double height, const char *id);

/* --- flamegraph (cmd-flamegraph.c) -------------------------------------- */

/* Writes the flame graph of t (built by `by`, reversed or not) with its
   title and subtitle (NULL: none): a standalone SVG document with its
   script (id NULL), or an <svg id="id" class="flame"> for an HTML page
   whose controls have ids "id-details", ... and whose styles apply to it
   only; the page sets it up with mp_flamegraph_script's mp_flame(). */
void mp_flamegraph_svg(FILE *out, const struct mp_calltree *t, enum mp_calltree_by by, int reverse, const char *title,
                       const char *subtitle, const char *id);
/* Writes the flame graphs' script: it defines mp_flame(svg, prefix, keys),
   which sets up the graph in the element svg whose controls' ids begin
   with prefix ("id-"; keys: Ctrl-F searches), and returns {frames, zoom,
   reset_zoom, search, reset_search}. */
void mp_flamegraph_script(FILE *out);

#endif
