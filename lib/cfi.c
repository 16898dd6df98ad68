/* The fast unwinder: walks the stack with the DWARF call-frame information
 * of .eh_frame (found through PT_GNU_EH_FRAME's search table), keeping the
 * rule of every code address it has seen in a per-thread cache, so that a
 * frame costs a hash look-up and two loads. Only the common rules are
 * understood (the CFA is RSP or RBP plus an offset; RBP and the return
 * address saved at offsets from it); anything else, and any frame whose
 * CFA leaves the thread's stack, makes mp_cfi_unwind fail, and the caller
 * falls back to libunwind for that stack. x86-64 only.
 */
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)

/* DWARF register numbers on x86-64. */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* The rule at one code address. */
struct rule {
	uint64_t pc;                     /* 0: empty slot */
	int32_t cfa_off;                 /* CFA = (cfa_rbp ? RBP : RSP) + cfa_off */
	int32_t ra_off;                  /* return address at CFA + ra_off */
	int32_t rbp_off;                 /* RBP saved at CFA + rbp_off (when rbp_saved) */
	uint8_t cfa_rbp, rbp_saved, end; /* end: no return address (outermost frame) */
};

#define CACHE_SLOTS 4096 /* per thread, direct-mapped with a short probe */
#define WALK_MAX MP_UNWIND_BUF

/* One frame of the last walk: the registers it started from, and the
   memory it read (the return address; RBP when saved there). */
struct step {
	uintptr_t ip, sp, bp;
	uintptr_t ra_at, ra;
	uintptr_t bp_at, bp_val; /* bp_at 0: RBP was not read */
	uintptr_t cfa_rbp;       /* the CFA was RBP-based */
};

/* A stack already computed from a hook's frame (mp_cfi_memo_get): where
   its walk began, whether the caller's RBP mattered to it, every word it
   read, and the id the caller gave the stack. */
#define MEMO_SETS 8 /* of MEMO_WAYS stacks each, by where the walk began */
#define MEMO_WAYS 4
#define MEMO_WORDS 128 /* a multiple of 4 */
struct memo {
	uintptr_t ip, sp, bp; /* ip 0: empty */
	uint64_t owner, sid;
	unsigned generation;
	int bp_matters, n;
	struct word {
		uintptr_t at, val;
	} w[MEMO_WORDS];
};

struct cache {
	struct rule slot[CACHE_SLOTS];
	/* The thread's last walk, outermost frame first: a new walk that
	   reaches one of its frames with the same registers, and finds every
	   word it read below still in place, would read the same words and
	   compute the same frames, so it takes them from here, where they
	   already are. */
	struct step walk[WALK_MAX];
	int walk_n, walk_cut; /* walk_cut: it stopped at its maximum depth */
	/* Where the last walk's frames were written, and how many of the
	   frames below walk[k] were written (not ours): out_at[k]. */
	const uint64_t *out;
	int out_at[WALK_MAX + 1];
	/* Every word the last walk read, frame after frame from the
	   outermost (words_to[k]: how many walk[0..k) read), for
	   still_there. */
	struct word words[2 * WALK_MAX];
	int words_to[WALK_MAX + 1];
	struct step fresh[WALK_MAX]; /* the walk in progress, innermost first */
	int in_use;                  /* a signal handler's unwind finds it busy */
	uintptr_t walk_frame;        /* the frame the last walk began at (0: none, or it failed) */
	struct memo memo[MEMO_SETS][MEMO_WAYS];
	uint8_t memo_next[MEMO_SETS]; /* the way to replace next */
	uintptr_t stack_lo, stack_hi;
	unsigned generation; /* of the object table its rules came from */
};

static _Atomic unsigned generation; /* bumped when objects are loaded or unloaded */

static __thread struct cache *tls_cache __attribute__((tls_model("initial-exec")));

/* Loaded objects with an unwind table, sorted by address. Replaced, never
   freed, when objects are loaded or unloaded (readers need no lock). */
struct object {
	uintptr_t lo, hi;             /* executable segments */
	const uint8_t *hdr, *hdr_end; /* .eh_frame_hdr */
};
struct objects {
	size_t n;
	unsigned long long adds, subs;
	struct object v[];
};
static struct objects *_Atomic objects;

static int count_objects(struct dl_phdr_info *info, size_t size, void *data)
{
	(*(size_t *)data)++;
	return 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct objects *o = data;
	const ElfW(Phdr) *eh = NULL;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
		else if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			uintptr_t a = info->dlpi_addr + ph->p_vaddr;
			lo = a < lo ? a : lo;
			hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
		}
	}
	if (eh && lo < hi) {
		struct object *ob = &o->v[o->n++];
		ob->lo = lo;
		ob->hi = hi;
		ob->hdr = (const uint8_t *)(info->dlpi_addr + eh->p_vaddr);
		ob->hdr_end = ob->hdr + eh->p_memsz;
	}
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		o->adds = info->dlpi_adds;
		o->subs = info->dlpi_subs;
	}
	return 0;
}

static int by_lo(const void *a, const void *b)
{
	const struct object *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Rebuilds the object table. Returns 0 or -1. */
static int load_objects(void)
{
	size_t n = 0;
	dl_iterate_phdr(count_objects, &n);
	struct objects *o = mpje_calloc(1, sizeof(*o) + (n + 8) * sizeof(o->v[0]));
	if (!o)
		return -1;
	dl_iterate_phdr(add_object, o);
	/* insertion sort: a few dozen objects */
	for (size_t i = 1; i < o->n; i++)
		for (size_t j = i; j > 0 && by_lo(&o->v[j - 1], &o->v[j]) > 0; j--) {
			struct object t = o->v[j];
			o->v[j] = o->v[j - 1];
			o->v[j - 1] = t;
		}
	atomic_store(&objects, o);
	return 0;
}

static const struct object *find_object(uintptr_t pc)
{
	const struct objects *o = atomic_load_explicit(&objects, memory_order_acquire);
	if (!o)
		return NULL;
	size_t lo = 0, hi = o->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (o->v[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct object *ob = &o->v[lo - 1];
	return pc < ob->hi ? ob : NULL;
}

/* --- reading DWARF ------------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t uleb(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static int64_t sleb(struct reader *r)
{
	int64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0x80;
	while (r->p < r->end && shift < 64 && (b & 0x80)) {
		b = *r->p++;
		v |= (int64_t)(b & 0x7f) << shift;
		shift += 7;
	}
	if (b & 0x80) {
		r->bad = 1;
		return 0;
	}
	if (shift < 64 && (b & 0x40))
		v |= -((int64_t)1 << shift);
	return v;
}

static uint64_t fixed(struct reader *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	memcpy(&v, r->p, n); /* little-endian */
	r->p += n;
	return v;
}

/* Reads a pointer in DW_EH_PE encoding enc (absolute, pc-relative or
   data-relative to base; 4 or 8 bytes, or LEB128). */
static uint64_t encoded(struct reader *r, uint8_t enc, uintptr_t data_base)
{
	if (enc == 0xff) /* DW_EH_PE_omit */
		return 0;
	uintptr_t here = (uintptr_t)r->p;
	uint64_t v;
	switch (enc & 0x0f) {
	case 0x00:
		v = fixed(r, 8);
		break; /* absptr */
	case 0x01:
		v = uleb(r);
		break; /* uleb128 */
	case 0x02:
		v = fixed(r, 2);
		break; /* udata2 */
	case 0x03:
		v = fixed(r, 4);
		break; /* udata4 */
	case 0x04:
		v = fixed(r, 8);
		break; /* udata8 */
	case 0x09:
		v = (uint64_t)sleb(r);
		break; /* sleb128 */
	case 0x0a:
		v = (uint64_t)(int64_t)(int16_t)fixed(r, 2);
		break;
	case 0x0b:
		v = (uint64_t)(int64_t)(int32_t)fixed(r, 4);
		break;
	case 0x0c:
		v = fixed(r, 8);
		break;
	default:
		r->bad = 1;
		return 0;
	}
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10:
		v += here;
		break; /* pcrel */
	case 0x30:
		v += data_base;
		break; /* datarel */
	default:
		r->bad = 1;
		return 0;
	}
	if (enc & 0x80) /* indirect */
		r->bad = 1;
	return v;
}

/* Register state of one row, for the registers we follow. */
struct row {
	int cfa_reg;
	int64_t cfa_off;
	int rbp_how, ra_how; /* 0 unchanged/undefined, 1 at CFA + off, 2 undefined */
	int64_t rbp_off, ra_off;
};

/* Runs call-frame instructions until the location passes pc. Returns 0,
   or -1 on an instruction outside the common rules. */
static int run_cfa(struct reader *r, uintptr_t loc, uintptr_t pc, uint64_t code_align, int64_t data_align,
                   uint8_t fde_enc, struct row *row, const struct row *initial)
{
	struct row stack[8];
	int depth = 0;
	while (r->p < r->end && !r->bad) {
		uint8_t op = *r->p++, low = op & 0x3f;
		uint64_t reg = 0;
		int64_t off = 0;
		switch (op >> 6) {
		case 1: /* advance_loc */
			loc += low * code_align;
			if (loc > pc)
				return 0;
			continue;
		case 2: /* offset */
			off = (int64_t)uleb(r) * data_align;
			if (low == REG_RBP)
				row->rbp_how = 1, row->rbp_off = off;
			else if (low == REG_RA)
				row->ra_how = 1, row->ra_off = off;
			continue;
		case 3: /* restore */
			if (low == REG_RBP)
				row->rbp_how = initial->rbp_how, row->rbp_off = initial->rbp_off;
			else if (low == REG_RA)
				row->ra_how = initial->ra_how, row->ra_off = initial->ra_off;
			continue;
		}
		switch (op) {
		case 0x00:
			break; /* nop */
		case 0x01:
			loc = encoded(r, fde_enc, 0);
			if (loc > pc)
				return 0;
			break;
		case 0x02:
			loc += fixed(r, 1) * code_align;
			if (loc > pc)
				return 0;
			break;
		case 0x03:
			loc += fixed(r, 2) * code_align;
			if (loc > pc)
				return 0;
			break;
		case 0x04:
			loc += fixed(r, 4) * code_align;
			if (loc > pc)
				return 0;
			break;
		case 0x05: /* offset_extended */
		case 0x11: /* offset_extended_sf */
			reg = uleb(r);
			off = op == 0x05 ? (int64_t)uleb(r) * data_align : sleb(r) * data_align;
			if (reg == REG_RBP)
				row->rbp_how = 1, row->rbp_off = off;
			else if (reg == REG_RA)
				row->ra_how = 1, row->ra_off = off;
			break;
		case 0x06: /* restore_extended */
			reg = uleb(r);
			if (reg == REG_RBP)
				row->rbp_how = initial->rbp_how, row->rbp_off = initial->rbp_off;
			else if (reg == REG_RA)
				row->ra_how = initial->ra_how, row->ra_off = initial->ra_off;
			break;
		case 0x07: /* undefined */
			reg = uleb(r);
			if (reg == REG_RA)
				row->ra_how = 2;
			else if (reg == REG_RBP)
				row->rbp_how = 0;
			break;
		case 0x08: /* same_value */
			reg = uleb(r);
			if (reg == REG_RBP)
				row->rbp_how = 0;
			else if (reg == REG_RA)
				return -1;
			break;
		case 0x09: /* register */
			reg = uleb(r);
			uleb(r);
			if (reg == REG_RBP || reg == REG_RA)
				return -1;
			break;
		case 0x0a: /* remember_state */
			if (depth == 8)
				return -1;
			stack[depth++] = *row;
			break;
		case 0x0b: /* restore_state */
			if (depth == 0)
				return -1;
			*row = stack[--depth]; /* the CFA rule too, as libgcc's unwinder does */
			break;
		case 0x0c: /* def_cfa */
			row->cfa_reg = (int)uleb(r);
			row->cfa_off = (int64_t)uleb(r);
			break;
		case 0x0d: /* def_cfa_register */
			row->cfa_reg = (int)uleb(r);
			break;
		case 0x0e: /* def_cfa_offset */
			row->cfa_off = (int64_t)uleb(r);
			break;
		case 0x12: /* def_cfa_sf */
			row->cfa_reg = (int)uleb(r);
			row->cfa_off = sleb(r) * data_align;
			break;
		case 0x13: /* def_cfa_offset_sf */
			row->cfa_off = sleb(r) * data_align;
			break;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = uleb(r);
			off = (int64_t)uleb(r);
			if (reg == REG_RBP || reg == REG_RA || off > r->end - r->p)
				return -1;
			r->p += off;
			break;
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
			reg = uleb(r);
			op == 0x14 ? (void)uleb(r) : (void)sleb(r);
			if (reg == REG_RBP || reg == REG_RA)
				return -1;
			break;
		case 0x2e: /* GNU_args_size */
			uleb(r);
			break;
		default: /* def_cfa_expression and the rest */
			return -1;
		}
	}
	return r->bad ? -1 : 0;
}

/* Finds the rule at pc from the object's unwind table. Returns 0 or -1. */
static int find_rule(const struct object *ob, uintptr_t pc, struct rule *out)
{
	struct reader r = {ob->hdr, ob->hdr_end, 0};
	uint8_t version = (uint8_t)fixed(&r, 1), ptr_enc = (uint8_t)fixed(&r, 1), count_enc = (uint8_t)fixed(&r, 1),
	        table_enc = (uint8_t)fixed(&r, 1);
	if (r.bad || version != 1 || table_enc != 0x3b) /* datarel | sdata4 */
		return -1;
	uintptr_t hdr = (uintptr_t)ob->hdr;
	encoded(&r, ptr_enc, hdr);
	uint64_t count = encoded(&r, count_enc, hdr);
	if (r.bad || count == 0 || count > (uint64_t)(r.end - r.p) / 8)
		return -1;
	const uint8_t *table = r.p;
	size_t lo = 0, hi = count;
	while (lo < hi) { /* the last entry whose start is <= pc */
		size_t mid = (lo + hi) / 2;
		int32_t start;
		memcpy(&start, table + 8 * mid, 4);
		if ((uintptr_t)(hdr + (intptr_t)start) <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	int32_t fde_rel;
	memcpy(&fde_rel, table + 8 * (lo - 1) + 4, 4);
	const uint8_t *fde = (const uint8_t *)(hdr + (intptr_t)fde_rel);

	/* The FDE, then its CIE. Lengths are trusted as far as the object's
	   own unwind data goes: the loader mapped it, the compiler wrote it. */
	struct reader f = {fde, fde + 4, 0};
	uint32_t flen = (uint32_t)fixed(&f, 4);
	if (flen == 0 || flen == 0xffffffffu)
		return -1;
	f.end = fde + 4 + flen;
	const uint8_t *cie_ptr_at = f.p;
	uint32_t cie_off = (uint32_t)fixed(&f, 4);
	const uint8_t *cie = cie_ptr_at - cie_off;
	struct reader c = {cie, cie + 4, 0};
	uint32_t clen = (uint32_t)fixed(&c, 4);
	if (clen == 0 || clen == 0xffffffffu)
		return -1;
	c.end = cie + 4 + clen;
	if (fixed(&c, 4) != 0)
		return -1; /* not a CIE */
	uint8_t cversion = (uint8_t)fixed(&c, 1);
	const char *aug = (const char *)c.p;
	size_t auglen = strnlen(aug, (size_t)(c.end - c.p));
	c.p += auglen + 1;
	uint64_t code_align = uleb(&c);
	int64_t data_align = sleb(&c);
	uint64_t ra_reg = cversion == 1 ? fixed(&c, 1) : uleb(&c);
	uint8_t fde_enc = 0;
	if (ra_reg != REG_RA || c.bad)
		return -1;
	if (aug[0] == 'z') {
		uint64_t alen = uleb(&c);
		const uint8_t *adata_end = c.p + alen;
		for (size_t i = 1; i < auglen && !c.bad; i++) {
			if (aug[i] == 'R')
				fde_enc = (uint8_t)fixed(&c, 1);
			else if (aug[i] == 'L')
				fixed(&c, 1);
			else if (aug[i] == 'P') {
				uint8_t penc = (uint8_t)fixed(&c, 1);
				encoded(&c, penc & 0x7f, 0); /* the personality routine: skipped */
			} else
				return -1; /* 'S' (a signal frame) and the unknown */
		}
		if (c.bad || c.p > adata_end)
			return -1;
		c.p = adata_end;
	} else if (aug[0]) {
		return -1;
	}
	uintptr_t pc_begin = (uintptr_t)encoded(&f, fde_enc, 0);
	uint64_t pc_range = encoded(&f, fde_enc & 0x0f, 0);
	if (f.bad || pc < pc_begin || pc >= pc_begin + pc_range)
		return -1;
	if (aug[0] == 'z') {
		uint64_t alen = uleb(&f);
		if (f.bad || alen > (uint64_t)(f.end - f.p))
			return -1;
		f.p += alen;
	}
	struct row row = {.cfa_reg = REG_RSP, .cfa_off = 8};
	if (run_cfa(&c, pc_begin, pc, code_align, data_align, fde_enc, &row, &row))
		return -1;
	struct row initial = row;
	if (run_cfa(&f, pc_begin, pc, code_align, data_align, fde_enc, &row, &initial))
		return -1;
	if ((row.cfa_reg != REG_RSP && row.cfa_reg != REG_RBP) || row.cfa_off < 0 || row.cfa_off > (1 << 24))
		return -1;
	if (row.ra_how == 0) /* a return address with no rule: not the common case */
		return -1;
	*out = (struct rule){.pc = pc,
	                     .cfa_off = (int32_t)row.cfa_off,
	                     .ra_off = (int32_t)row.ra_off,
	                     .rbp_off = (int32_t)row.rbp_off,
	                     .cfa_rbp = row.cfa_reg == REG_RBP,
	                     .rbp_saved = row.rbp_how == 1,
	                     .end = row.ra_how == 2};
	return 0;
}

static const struct rule *rule_at(struct cache *c, uintptr_t pc)
{
	size_t h = (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 52) & (CACHE_SLOTS - 1);
	for (size_t i = 0; i < 4; i++) {
		struct rule *s = &c->slot[(h + i) & (CACHE_SLOTS - 1)];
		if (s->pc == pc)
			return s;
		if (!s->pc) {
			const struct object *ob = find_object(pc);
			if (!ob || find_rule(ob, pc, s))
				return NULL;
			return s;
		}
	}
	struct rule *s = &c->slot[h]; /* evict */
	const struct object *ob = find_object(pc);
	if (!ob || find_rule(ob, pc, s)) {
		s->pc = 0;
		return NULL;
	}
	return s;
}

int mp_cfi_init(void)
{
	return load_objects();
}

void mp_cfi_objects_changed(void)
{
	load_objects();
	atomic_fetch_add(&generation, 1); /* every thread's cached rules are stale */
}

int mp_cfi_thread_init(void)
{
	if (tls_cache)
		return 0;
	struct cache *c = mpje_calloc(1, sizeof(*c));
	if (!c)
		return -1;
	pthread_attr_t attr;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) { /* allocates: the caller holds the guard */
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			c->stack_lo = (uintptr_t)addr;
			c->stack_hi = (uintptr_t)addr + size;
		}
		pthread_attr_destroy(&attr);
	}
	if (!c->stack_hi) {
		mpje_free(c);
		return -1;
	}
	c->generation = atomic_load(&generation);
	tls_cache = c;
	return 0;
}

/* Whether the last walk's frames from j down are still what they were:
   every word they read, compared without a branch per word (usually all
   are in place). Half the instructions of comparing the steps' words one
   frame at a time with early exits (tests/bench/churn.c: 92 M of the
   unwinder's 185 M for 400000 stacks of depth 20). */
static int still_there(const struct cache *c, int j)
{
	const struct word *w = c->words;
	uintptr_t d0 = 0, d1 = 0;
	int i = 0, n = c->words_to[j + 1];
	for (; i + 4 <= n; i += 4) {
		d0 |= (*(const uintptr_t *)w[i].at ^ w[i].val) | (*(const uintptr_t *)w[i + 1].at ^ w[i + 1].val);
		d1 |= (*(const uintptr_t *)w[i + 2].at ^ w[i + 2].val) |
		      (*(const uintptr_t *)w[i + 3].at ^ w[i + 3].val);
	}
	for (; i < n; i++)
		d0 |= *(const uintptr_t *)w[i].at ^ w[i].val;
	return !(d0 | d1);
}

/* Lists the words read by walk[from..to), after those of the frames
   below (only after a cut walk was shifted: copy_reversed lists the new
   frames' words). */
__attribute__((noinline, optimize("no-tree-vectorize", "no-tree-slp-vectorize"))) static void
list_words(struct cache *c, int from, int to)
{
	int w = c->words_to[from];
	for (int k = from; k < to; k++) {
		const struct step *st = &c->walk[k];
		c->words[w].at = st->ra_at;
		c->words[w++].val = st->ra;
		c->words[w].at = st->bp_at;
		c->words[w].val = st->bp_val;
		w += st->bp_at != 0;
		c->words_to[k + 1] = w;
	}
}

static uintptr_t skip_lo, skip_size; /* the caller's own code */

/* walk[base + i] = fresh[n - 1 - i], a word at a time, and the words
   they read listed after those of the frames below: the steps were just
   written a word at a time, and 16-byte loads of them (what the
   vectorizer makes of a struct copy) cannot take their data from those
   stores and wait for them to reach the cache, about a tenth of the
   unwinder's time on tests/bench/maps.cc. */
__attribute__((noinline, optimize("no-tree-vectorize", "no-tree-slp-vectorize"))) static void
copy_reversed(struct cache *c, int base, int n)
{
	int w = c->words_to[base];
	for (int i = 0; i < n; i++) {
		const struct step *s = &c->fresh[n - 1 - i];
		struct step *d = &c->walk[base + i];
		uintptr_t ra_at = s->ra_at, ra = s->ra, bp_at = s->bp_at, bp_val = s->bp_val;
		d->ip = s->ip;
		d->sp = s->sp;
		d->bp = s->bp;
		d->ra_at = ra_at;
		d->ra = ra;
		d->bp_at = bp_at;
		d->bp_val = bp_val;
		d->cfa_rbp = s->cfa_rbp;
		c->words[w].at = ra_at;
		c->words[w++].val = ra;
		c->words[w].at = bp_at;
		c->words[w].val = bp_val;
		w += bp_at != 0;
		c->words_to[base + i + 1] = w;
	}
}

void mp_cfi_skip(uintptr_t lo, uintptr_t hi)
{
	skip_lo = lo;
	skip_size = hi - lo;
}

/* Writes the walk's frames (those outside skip) into out, outermost first,
   from walk[from] on; out[0..c->out_at[from]) holds the ones below. At
   most max frames, the innermost: when more, out[0] marks the cut and
   everything is written again. Returns the depth. */
static int write_out(struct cache *c, uint64_t *out, int max, int from, int *same)
{
	uintptr_t lo = skip_lo, size = skip_size;
	int n = c->out_at[from]; /* in a register: no store-to-load wait per frame */
	for (int k = from; k < c->walk_n; k++) {
		uint64_t ra = c->walk[k].ra;
		out[n] = ra;
		n += ra - lo >= size;
		c->out_at[k + 1] = n;
	}
	c->out = out;
	if (MP_LIKELY(n <= max && !c->walk_cut)) {
		*same = c->out_at[from];
		return n;
	}
	/* Cut: the innermost max frames above the mark. Positions move, so
	   nothing is taken from the last output next time. */
	c->out = NULL;
	*same = 0;
	int keep = n < max ? n : max;
	memmove(out + 1, out + (n - keep), (size_t)keep * sizeof(*out));
	out[0] = MP_IP_TRUNCATED;
	return keep + 1;
}

__attribute__((noinline)) int mp_cfi_unwind(uint64_t *out, int max, int *same, const void *frame)
{
	*same = 0;
	struct cache *c = tls_cache;
	if (!c)
		return -1;
	unsigned gen = atomic_load_explicit(&generation, memory_order_acquire);
	if (MP_UNLIKELY(c->generation != gen)) {
		memset(c->slot, 0, sizeof(c->slot));
		c->walk_n = 0;
		c->out = NULL;
		c->generation = gen;
	}
	int want = max + 16 < WALK_MAX ? max + 16 : WALK_MAX;
	if (c->in_use)
		return -1; /* a signal handler's allocation, inside our walk */
	c->in_use = 1;
	uintptr_t ip, sp, bp;
	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
	struct step *fresh = c->fresh;
	int n = 0, j = c->walk_n - 1, base = 0, cut = 0, first = 1;
	/* From the hook's frame (frame pointer: the caller's RBP saved at
	   fa, the return address above it), skipping the frames of ours
	   above it: its step, as the walk would find it, reads those two
	   words; its registers are left out (ip 0: no frame's), so that no
	   later walk takes the frames from there. About four frames fewer to
	   walk per stack (tests/bench/churn.c: 5.6 were walked). */
	uintptr_t fa = (uintptr_t)frame;
	if (MP_LIKELY(fa > sp && fa + 16 <= c->stack_hi && !(fa & 7))) {
		struct step *st = &fresh[0];
		st->ip = 0;
		st->sp = fa + 8;
		st->bp = 0;
		st->ra_at = fa + 8;
		st->ra = ip = ((const uintptr_t *)fa)[1];
		st->bp_at = fa;
		st->bp_val = bp = ((const uintptr_t *)fa)[0];
		st->cfa_rbp = 0;
		sp = fa + 16;
		n = 1;
		first = 0;
	}
	for (;; first = 0) {
		if (n == want) {
			cut = 1;
			break;
		}
		/* The last walk's frame at this stack height, if any. */
		while (j >= 0 && c->walk[j].sp < sp)
			j--;
		if (j >= 0 && c->walk[j].sp == sp && c->walk[j].ip == ip && c->walk[j].bp == bp &&
		    (!c->walk_cut || n + j + 1 >= want) && still_there(c, j)) {
			base = j + 1;
			cut = c->walk_cut;
			break;
		}
		const struct rule *r = rule_at(c, first ? ip : ip - 1);
		if (!r)
			goto fail;
		uintptr_t cfa = (r->cfa_rbp ? bp : sp) + (uintptr_t)(intptr_t)r->cfa_off;
		if (cfa <= sp || cfa > c->stack_hi || cfa < c->stack_lo)
			goto fail;
		if (r->end)
			break; /* the outermost frame */
		struct step *st = &fresh[n];
		st->ip = ip;
		st->sp = sp;
		st->bp = bp;
		st->cfa_rbp = r->cfa_rbp;
		st->ra_at = cfa + (uintptr_t)(intptr_t)r->ra_off;
		if (st->ra_at < sp || st->ra_at + 8 > c->stack_hi)
			goto fail;
		st->ra = *(const uintptr_t *)st->ra_at;
		st->bp_at = 0;
		if (r->rbp_saved) {
			st->bp_at = cfa + (uintptr_t)(intptr_t)r->rbp_off;
			if (st->bp_at < sp || st->bp_at + 8 > c->stack_hi)
				goto fail;
			st->bp_val = bp = *(const uintptr_t *)st->bp_at;
		}
		sp = cfa;
		ip = st->ra;
		if (!ip)
			break;
		n++;
	}
	int from = base, listed = base;
	if (MP_UNLIKELY(base + n > want)) {
		/* Taken from a walk that was cut: drop what lies beyond the
		   depth, at the bottom. */
		int drop = base + n - want;
		memmove(c->walk, c->walk + drop, (size_t)(base - drop) * sizeof(c->walk[0]));
		base -= drop;
		from = listed = 0;
		cut = 1;
	}
	if (c->out != out)
		from = 0;
	c->words_to[0] = 0;
	if (MP_UNLIKELY(listed < base))
		list_words(c, listed, base);
	copy_reversed(c, base, n);
	c->walk_n = base + n;
	c->walk_cut = cut;
	c->out_at[0] = 0;
	int depth = write_out(c, out, max, from, same);
	c->walk_frame = first ? 0 : fa; /* first: not begun at the frame */
	c->in_use = 0;
	return depth;
fail:
	c->walk_frame = 0;
	c->walk_n = 0;
	c->out = NULL;
	c->in_use = 0;
	return -1;
}

/* --- stacks already computed ---------------------------------------------
 * A hook called again from the same place (the same return address and
 * stack pointer) with every word the last walk from there read still in
 * place would walk the same frames: the rules are those of the same code
 * addresses (the slots are emptied when objects change: generation), and
 * each frame's registers follow from the words read and from the caller's
 * RBP, which is compared as well when some frame's CFA was RBP-based
 * before any frame restored RBP from memory. So its stack is the one
 * computed then, and the caller's stack id for it is kept here: neither
 * the walk nor the hash is made again. (tests/bench/churn.c calls the
 * allocator from four places, in a random order, so that the last walk
 * alone shares only the frames below the loop's with the next one; maps.cc
 * from about six, inside libstdc++ too.) */

static inline size_t memo_set(uintptr_t ip, uintptr_t sp)
{
	return (size_t)(((ip ^ (sp << 7)) * 0x9e3779b97f4a7c15ull) >> 60) & (MEMO_SETS - 1);
}

/* Whether every word of m's walk is still in place. */
static const uintptr_t memo_pad_word; /* what the padding compares: 0 */

static inline int memo_still_there(const struct memo *m)
{
	const struct word *w = m->w;
	uintptr_t d0 = 0, d1 = 0;
	for (int i = 0, n = m->n; i < n; i += 4) { /* n: a multiple of 4 (padded) */
		d0 |= (*(const uintptr_t *)w[i].at ^ w[i].val) | (*(const uintptr_t *)w[i + 1].at ^ w[i + 1].val);
		d1 |= (*(const uintptr_t *)w[i + 2].at ^ w[i + 2].val) |
		      (*(const uintptr_t *)w[i + 3].at ^ w[i + 3].val);
	}
	return !(d0 | d1);
}

/* Whether the hook's frame can be read as mp_cfi_unwind does. */
static inline int frame_ok(const struct cache *c, uintptr_t fa)
{
	return fa >= c->stack_lo && fa + 16 <= c->stack_hi && !(fa & 7);
}

int mp_cfi_memo_get(const void *frame, uint64_t owner, uint64_t *sid)
{
	struct cache *c = tls_cache;
	uintptr_t fa = (uintptr_t)frame;
	if (MP_UNLIKELY(!c || c->in_use || !frame_ok(c, fa)))
		return 0;
	uintptr_t ip = ((const uintptr_t *)fa)[1], bp = ((const uintptr_t *)fa)[0], sp = fa + 16;
	unsigned gen = atomic_load_explicit(&generation, memory_order_acquire);
	const struct memo *set = c->memo[memo_set(ip, sp)];
	for (int k = 0; k < MEMO_WAYS; k++) {
		const struct memo *m = &set[k];
		if (m->ip == ip && m->sp == sp && m->owner == owner && m->generation == gen &&
		    (!m->bp_matters || m->bp == bp) && memo_still_there(m)) {
			*sid = m->sid;
			return 1;
		}
	}
	return 0;
}

void mp_cfi_memo_put(const void *frame, uint64_t owner, uint64_t sid)
{
	struct cache *c = tls_cache;
	uintptr_t fa = (uintptr_t)frame;
	if (!c || c->in_use || !fa || c->walk_frame != fa || c->walk_n < 1)
		return;
	const struct step *hook = &c->walk[c->walk_n - 1];
	size_t set = memo_set(hook->ra, fa + 16);
	struct memo *m = &c->memo[set][c->memo_next[set]];
	/* The words the frames below the hook's step (the last one, whose
	   two words are the key) read: every return address, and a saved RBP
	   only where the value it restores reaches a frame whose CFA is
	   RBP-based (used_in: the RBP that frame k starts from, the one frame
	   k + 1 restored or passed on, is used by frame k or one further out).
	   Code without frame pointers saves RBP as any callee-saved register,
	   with whatever value the program kept there. */
	int n = 0, used_in = 0;
	for (int k = 0; k < c->walk_n - 1; k++) {
		const struct step *st = &c->walk[k];
		if (n + 2 > MEMO_WORDS) {
			m->ip = 0;
			return;
		}
		m->w[n].at = st->ra_at;
		m->w[n++].val = st->ra;
		if (st->bp_at && used_in) {
			m->w[n].at = st->bp_at;
			m->w[n++].val = st->bp_val;
		}
		used_in = st->cfa_rbp || (!st->bp_at && used_in);
	}
	c->memo_next[set] = (uint8_t)((c->memo_next[set] + 1) % MEMO_WAYS);
	m->ip = hook->ra;
	m->sp = fa + 16;
	m->bp = hook->bp_val;
	m->bp_matters = used_in; /* the caller's RBP: what the hook's step restored */
	m->owner = owner;
	m->sid = sid;
	m->generation = c->generation;
	for (; n % 4; n++) {
		m->w[n].at = (uintptr_t)&memo_pad_word;
		m->w[n].val = 0;
	}
	m->n = n;
}

#else

int mp_cfi_memo_get(const void *frame, uint64_t owner, uint64_t *sid)
{
	return 0;
}

void mp_cfi_memo_put(const void *frame, uint64_t owner, uint64_t sid)
{
}

int mp_cfi_init(void)
{
	return -1;
}

void mp_cfi_objects_changed(void)
{
}

int mp_cfi_thread_init(void)
{
	return -1;
}

void mp_cfi_skip(uintptr_t lo, uintptr_t hi)
{
}

int mp_cfi_unwind(uint64_t *out, int max, int *same, const void *frame)
{
	*same = 0;
	return -1;
}

#endif
