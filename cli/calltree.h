/* The call tree of a trace: the sites' stacks (from the sites table and the
 * stack trie) merged into a tree of frames weighted by one figure, from the
 * root caller to the allocation site, or reversed (allocation sites at the
 * root, their callers below). Frames are merged by name: the function, or
 * "module+0xOFFSET" when it is unknown. Used by flamegraph and export. */
#ifndef MP_CALLTREE_H
#define MP_CALLTREE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The figure a tree is weighted by (--by). */
enum mp_calltree_by {
	MP_CALLTREE_BYTES,     /* bytes allocated */
	MP_CALLTREE_COUNT,     /* allocation calls */
	MP_CALLTREE_PEAK,      /* bytes live at the process's peak */
	MP_CALLTREE_LEAKED,    /* bytes never freed */
	MP_CALLTREE_TEMPORARY, /* temporary allocations */
};

/* Parses "bytes", "count", "peak", "leaked" or "temporary". Returns 0, or
   -1 when s is none of them. */
int mp_calltree_by_parse(const char *s, enum mp_calltree_by *by);
/* "bytes", "count", ... as parsed. */
const char *mp_calltree_by_name(enum mp_calltree_by by);
/* Whether the figure counts bytes (else allocations). */
int mp_calltree_by_bytes(enum mp_calltree_by by);

/* A distinct frame name, with where it was first seen. */
struct mp_calltree_frame {
	char *name;     /* owned: the function, "libc.so.6+0x27a3f", "0x1234", "[truncated]" or "??" */
	char *function; /* owned, NULL when unknown */
	char *file;     /* owned, NULL when unknown or when merged frames disagree */
	char *module;   /* owned path, NULL when unknown */
	int64_t line;   /* 0: unknown, or merged frames disagree */
	uint64_t address;
	unsigned flags; /* MP_FRAME_* of the first frame seen */
};

/* One allocation site (a stack) with its figures summed over processes. */
struct mp_calltree_site {
	int64_t stack_id;
	int64_t allocations, bytes, peak_bytes, peak_blocks, leaked_bytes, leaked_blocks, temporary;
	size_t first, n; /* its frames: frame ids in pool[first..first+n), innermost first */
};

#define MP_CALLTREE_NONE ((size_t)-1)

/* A node of the tree; node 0 is the root (no frame). */
struct mp_calltree_node {
	size_t frame;        /* frames index, MP_CALLTREE_NONE for the root */
	size_t parent;       /* MP_CALLTREE_NONE for the root */
	int64_t total, self; /* weight of the subtree, and of stacks ending here */
	size_t kids, nkids;  /* children: kids[kids..kids+nkids) node indices, sorted */
	size_t depth;        /* 0 for the root */
};

struct mp_calltree_index; /* private hash tables */

struct mp_calltree {
	struct mp_calltree_frame *frames;
	size_t nframes, frames_cap;
	struct mp_calltree_site *sites; /* in stack id order */
	size_t nsites, sites_cap;
	size_t *pool;
	size_t npool, pool_cap;
	struct mp_calltree_node *nodes; /* after mp_calltree_build */
	size_t nnodes, nodes_cap;
	size_t *kids;
	size_t max_depth;
	struct mp_calltree_index *index;
	char err[256]; /* why the last call failed */
};

/* Loads the sites with their stacks from table ("main.sites", or a
   window's: cli/window.h): of every process (pid < 0), of the images with
   that pid, or of one processes row (process_id > 0). Sites whose figures
   are all 0 are kept. Returns 0, or -1 with t->err set ("damaged trace:
   ..."). Free t with mp_calltree_free in either case. */
int mp_calltree_load(struct mp_calltree *t, sqlite3 *db, const char *table, int64_t pid, int64_t process_id);
/* The site's figure by which a tree is weighted (negative ones count 0). */
int64_t mp_calltree_site_weight(const struct mp_calltree_site *s, enum mp_calltree_by by);

enum {
	MP_CALLTREE_REVERSE = 1,   /* allocation sites at the root, callers below */
	MP_CALLTREE_BY_WEIGHT = 2, /* children sorted heaviest first (else by name) */
};
/* (Re)builds t->nodes from the loaded sites weighted by `by`; sites of
   weight 0 are left out. Children are sorted by name (bytewise), or by
   weight then name with MP_CALLTREE_BY_WEIGHT: the output is
   deterministic. */
void mp_calltree_build(struct mp_calltree *t, enum mp_calltree_by by, unsigned flags);
/* Child i of node n. */
static inline const struct mp_calltree_node *mp_calltree_kid(const struct mp_calltree *t,
                                                             const struct mp_calltree_node *n, size_t i)
{
	return &t->nodes[t->kids[n->kids + i]];
}
void mp_calltree_free(struct mp_calltree *t);

#endif
