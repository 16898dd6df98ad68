/* Symbolization with elfutils libdwfl; see cli/symbolize.h.
 *
 * Each object gets its own Dwfl session, reported at bias 0 so that the
 * addresses the collector keeps (run-time address minus load bias) are
 * the session's addresses. Sessions are kept for the symbolizer's life:
 * a trace resolves many addresses in few objects.
 */
#include <dlfcn.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

/* A symbol of an object's table that can name an address: with a size,
   or without (an assembly label). */
struct symref {
	uint64_t value, end; /* end: value + size */
	const char *name;    /* in the object's string table */
	uint32_t ndx;        /* its index in the table */
	uint8_t bind;        /* binding_value() */
};
_Static_assert(offsetof(struct symref, value) == 0, "count_at_or_below reads a symref's value first");

/* The sized symbols of an object sorted by value, and for each position
   the largest end up to it: the symbols containing an address are found
   by a binary search and a short walk back, instead of libdwfl's walk
   through the whole table on every call (dwfl_module_addrinfo: about
   0.1 ms in libc's 10,000 symbols, which a traced configure script
   paid 40,000 times). */
struct symindex {
	int built, failed;
	struct symref *v;
	uint64_t *max_end; /* of v[0..i] */
	size_t n;
	uint64_t *sizeless; /* the values of the sizeless symbols, ascending */
	size_t nsizeless;
	int first_global; /* dwfl_module_getsymtab_first_global */
	/* libdwfl's answers where only it could say: no sized symbol
	   contains the address (or a sizeless one is right at it, exact),
	   the same for every address with as many symbols at or below it in
	   one section. */
	struct asked {
		size_t below, sizeless_below, section;
		int exact;
		const char *name;
	} * asked;
	size_t nasked;
};

struct object {
	char *path;
	uint8_t build_id[20];
	size_t bid_len;
	Dwfl *dwfl; /* NULL: the object could not be read */
	Dwfl_Module *mod;
	struct symindex syms;
};

struct mp_symbolizer {
	struct object *objs;
	size_t nobjs;
	char *scratch[2 + 2 * MP_SYM_MAX_INLINED]; /* demangled names of the last result */
	size_t nscratch;
};

static char *debuginfo_path = NULL; /* elfutils' default: ":.debug:/usr/lib/debug" */

static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
};

struct mp_symbolizer *mp_sym_new(void)
{
	/* The trace is finished offline: never ask a debuginfod server. */
	unsetenv("DEBUGINFOD_URLS");
	return calloc(1, sizeof(struct mp_symbolizer));
}

static void scratch_clear(struct mp_symbolizer *s)
{
	for (size_t i = 0; i < s->nscratch; i++)
		free(s->scratch[i]);
	s->nscratch = 0;
}

void mp_sym_free(struct mp_symbolizer *s)
{
	if (!s)
		return;
	scratch_clear(s);
	for (size_t i = 0; i < s->nobjs; i++) {
		if (s->objs[i].dwfl)
			dwfl_end(s->objs[i].dwfl);
		free(s->objs[i].syms.v);
		free(s->objs[i].syms.max_end);
		free(s->objs[i].syms.sizeless);
		free(s->objs[i].syms.asked);
		free(s->objs[i].path);
	}
	free(s->objs);
	free(s);
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

char *mp_sym_demangle(const char *name)
{
	static demangle_fn fn;
	static int tried;
	if (!name || name[0] != '_' || name[1] != 'Z')
		return NULL;
	if (!tried) {
		tried = 1;
		/* libstdc++'s demangler, when the system has it (every system
		   that runs C++ programs does); C names need none. */
		*(void **)&fn = dlsym(RTLD_DEFAULT, "__cxa_demangle");
		if (!fn) {
			void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
			if (h)
				*(void **)&fn = dlsym(h, "__cxa_demangle");
		}
	}
	if (!fn)
		return NULL;
	int status = -1;
	char *out = fn(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Keeps a malloc'ed string until the next resolve; returns it, or NULL
   (freeing it) when the scratch list is full. */
static const char *scratch_keep(struct mp_symbolizer *s, char *str)
{
	if (!str || s->nscratch == sizeof(s->scratch) / sizeof(s->scratch[0])) {
		free(str);
		return NULL;
	}
	s->scratch[s->nscratch++] = str;
	return str;
}

/* A name for display: without a symbol version ("@@GLIBC_2.34"), and
   demangled when mangled. */
static const char *display_name(struct mp_symbolizer *s, const char *name)
{
	if (!name)
		return NULL;
	const char *at = strchr(name, '@');
	if (at && at != name) {
		const char *bare = scratch_keep(s, strndup(name, (size_t)(at - name)));
		if (!bare)
			return name;
		name = bare;
	}
	const char *d = scratch_keep(s, mp_sym_demangle(name));
	return d ? d : name;
}

static void hex_path(char *out, size_t size, const uint8_t *id, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t len = (size_t)snprintf(out, size, "/usr/lib/debug/.build-id/%c%c/", d[id[0] >> 4], d[id[0] & 15]);
	for (size_t i = 1; i < n && len + 3 < size; i++) {
		out[len++] = d[id[i] >> 4];
		out[len++] = d[id[i] & 15];
	}
	snprintf(out + len, size - len, ".debug");
}

/* Reports file as the only module of a new session. Returns the module,
   or NULL (then *dwfl is NULL too). */
static Dwfl_Module *report(const char *name, const char *file, Dwfl **dwfl)
{
	*dwfl = NULL;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	Dwfl *d = dwfl_begin(&callbacks);
	if (!d) {
		close(fd);
		return NULL;
	}
	dwfl_report_begin(d);
	Dwfl_Module *mod = dwfl_report_elf(d, name, file, fd, 0, true); /* consumes fd on success */
	if (!mod) {
		close(fd);
		dwfl_end(d);
		return NULL;
	}
	dwfl_report_end(d, NULL, NULL);
	*dwfl = d;
	return mod;
}

/* Whether the module's build-id is the one recorded (or none was). */
static int same_build_id(Dwfl_Module *mod, const uint8_t *id, size_t n)
{
	if (!n)
		return 1;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(mod, &bits, &vaddr);
	return len == (int)n && !memcmp(bits, id, n);
}

static struct object *object_get(struct mp_symbolizer *s, const char *path, const uint8_t *id, size_t n)
{
	if (n > sizeof(((struct object *)0)->build_id))
		n = sizeof(((struct object *)0)->build_id);
	for (size_t i = 0; i < s->nobjs; i++)
		if (s->objs[i].bid_len == n && (!n || !memcmp(s->objs[i].build_id, id, n)) &&
		    !strcmp(s->objs[i].path, path))
			return &s->objs[i];
	struct object *no = realloc(s->objs, (s->nobjs + 1) * sizeof(*no));
	if (!no)
		return NULL;
	s->objs = no;
	struct object *o = &no[s->nobjs];
	memset(o, 0, sizeof(*o));
	o->path = strdup(path);
	if (!o->path)
		return NULL;
	if (n)
		memcpy(o->build_id, id, n);
	o->bid_len = n;
	s->nobjs++;

	o->mod = report(path, path, &o->dwfl);
	if (o->mod && !same_build_id(o->mod, id, n)) {
		/* Rebuilt or upgraded since the run: the binary on disk lies. */
		dwfl_end(o->dwfl);
		o->dwfl = NULL;
		o->mod = NULL;
	}
	if (!o->mod && n) {
		char debug[512];
		hex_path(debug, sizeof(debug), id, n);
		o->mod = report(path, debug, &o->dwfl);
		if (o->mod && !same_build_id(o->mod, id, n)) {
			dwfl_end(o->dwfl);
			o->dwfl = NULL;
			o->mod = NULL;
		}
	}
	return o;
}

/* --- the symbol at an address ------------------------------------------ */

/* GELF_ST_BIND as libdwfl ranks it. */
static uint8_t binding_value(unsigned char info)
{
	switch (GELF_ST_BIND(info)) {
	case STB_GLOBAL:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

static int symref_cmp(const void *a, const void *b)
{
	const struct symref *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->ndx < y->ndx ? -1 : x->ndx > y->ndx;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int symindex_build(Dwfl_Module *mod, struct symindex *ix)
{
	ix->built = 1;
	int n = dwfl_module_getsymtab(mod);
	ix->first_global = dwfl_module_getsymtab_first_global(mod);
	if (n < 0 || ix->first_global < 0)
		return ix->failed = 1, -1;
	ix->v = malloc(((size_t)n + 1) * sizeof(*ix->v));
	ix->sizeless = malloc(((size_t)n + 1) * sizeof(*ix->sizeless));
	if (!ix->v || !ix->sizeless)
		return ix->failed = 1, -1;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		/* The symbols libdwfl's search considers (dwfl_module_addrsym.c). */
		if (!name || !name[0] || sym.st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE ||
		    type == STT_TLS)
			continue;
		if (!sym.st_size) {
			ix->sizeless[ix->nsizeless++] = value;
			continue;
		}
		ix->v[ix->n++] =
		        (struct symref){value, value + sym.st_size, name, (uint32_t)i, binding_value(sym.st_info)};
	}
	qsort(ix->v, ix->n, sizeof(*ix->v), symref_cmp);
	qsort(ix->sizeless, ix->nsizeless, sizeof(*ix->sizeless), u64_cmp);
	ix->max_end = malloc((ix->n + 1) * sizeof(*ix->max_end));
	if (!ix->max_end)
		return ix->failed = 1, -1;
	for (size_t i = 0; i < ix->n; i++)
		ix->max_end[i] = i && ix->max_end[i - 1] > ix->v[i].end ? ix->max_end[i - 1] : ix->v[i].end;
	return 0;
}

/* How many of the n values at base, stride bytes apart and ascending,
   are at or below addr (the sized symbols' starts, struct symref's first
   field; the sizeless ones). */
static size_t count_at_or_below(const void *base, size_t n, size_t stride, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t v;
		memcpy(&v, (const char *)base + mid * stride, sizeof(v));
		if (v <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* libdwfl's choice among the sized symbols containing addr, taken in
   table order: a closer start, or a better binding, wins; at the same
   start a shorter symbol of no worse binding; else the first found. */
static const struct symref *better(const struct symref *best, const struct symref *c)
{
	if (!best || best->value < c->value || best->bind < c->bind)
		return c;
	uint64_t bsize = best->end - best->value, csize = c->end - c->value;
	if (best->value == c->value &&
	    ((bsize > csize && best->bind <= c->bind) || (bsize >= csize && best->bind < c->bind)))
		return c;
	return best;
}

/* The name dwfl_module_addrinfo gives addr, found with the index: 1 with
   *name set (NULL: no symbol), 0 when only libdwfl's own search can say:
   no sized symbol contains addr and a sizeless one may name it. *below
   and *sizeless_below then tell how many of each lie at or below addr.
   libdwfl takes a sizeless symbol only when it is at or past the end of
   every symbol below addr, and the last such it saw. */
static int symindex_find(const struct symindex *ix, uint64_t addr, const char **name, size_t *below,
                         size_t *nsizeless_below)
{
	/* The candidates: every sized symbol containing addr. */
	const struct symref *cand[64];
	size_t nc = 0;
	size_t lo = count_at_or_below(ix->v, ix->n, sizeof(*ix->v), addr);
	for (size_t j = lo; j-- > 0 && ix->max_end[j] > addr;) {
		if (ix->v[j].end > addr) {
			if (nc == sizeof(cand) / sizeof(cand[0]))
				return 0;
			cand[nc++] = &ix->v[j];
		}
	}
	/* Table order, as libdwfl walks it. */
	for (size_t i = 1; i < nc; i++)
		for (size_t k = i; k > 0 && cand[k - 1]->ndx > cand[k]->ndx; k--) {
			const struct symref *t = cand[k];
			cand[k] = cand[k - 1];
			cand[k - 1] = t;
		}
	/* The global symbols first, then, when none contains it, the local
	   ones (libdwfl's second pass). A sizeless symbol at or below addr
	   counts only when no sized one contains it, in rules of its own
	   (its section, the labels between): then libdwfl decides. */
	uint32_t first_global = ix->first_global == 0 ? 1 : (uint32_t)ix->first_global;
	const struct symref *best = NULL;
	for (size_t i = 0; i < nc; i++)
		if (cand[i]->ndx >= first_global)
			best = better(best, cand[i]);
	*below = lo;
	*nsizeless_below = count_at_or_below(ix->sizeless, ix->nsizeless, sizeof(*ix->sizeless), addr);
	uint64_t top = *nsizeless_below ? ix->sizeless[*nsizeless_below - 1] : 0;
	/* A sizeless symbol right at addr may keep libdwfl from the locals. */
	if (!best && *nsizeless_below && top == addr)
		return 0;
	if (!best && ix->first_global > 1)
		for (size_t i = 0; i < nc; i++)
			if (cand[i]->ndx < first_global)
				best = better(best, cand[i]);
	if (!best && *nsizeless_below && top >= (lo ? ix->max_end[lo - 1] : 0))
		return 0;
	*name = best ? best->name : NULL;
	return 1;
}

/* The index of the allocated section of the object's own file holding
   addr, or 0: outside every one, where libdwfl places an address at a
   section's end in that section unless another starts there. */
static size_t section_of(Dwfl_Module *mod, uint64_t addr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	for (Elf_Scn *scn = NULL; elf && (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);
		if (sh && (sh->sh_flags & SHF_ALLOC) && addr >= sh->sh_addr && addr - sh->sh_addr < sh->sh_size)
			return elf_ndxscn(scn);
	}
	return 0;
}

/* libdwfl's own search through the whole table. */
static const char *addrinfo(Dwfl_Module *mod, uint64_t addr)
{
	GElf_Off off;
	GElf_Sym sym;
	return dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
}

/* The symbol table's name for addr, as dwfl_module_addrinfo gives it. */
static const char *symbol_at(struct object *o, uint64_t addr)
{
	struct symindex *ix = &o->syms;
	if (!ix->built)
		symindex_build(o->mod, ix);
	if (ix->failed)
		return addrinfo(o->mod, addr);
	const char *name;
	size_t below = SIZE_MAX, nsizeless = 0;
	if (symindex_find(ix, addr, &name, &below, &nsizeless))
		return name;
	if (!nsizeless) /* more candidates than it keeps */
		return addrinfo(o->mod, addr);
	/* Every address past the same symbols inside the same section gets
	   the same answer: ask libdwfl once for them all. Not at a section's
	   end or between sections, which libdwfl places otherwise. */
	size_t section = section_of(o->mod, addr);
	if (!section)
		return addrinfo(o->mod, addr);
	int exact = ix->sizeless[nsizeless - 1] == addr;
	for (size_t i = 0; i < ix->nasked; i++)
		if (ix->asked[i].below == below && ix->asked[i].sizeless_below == nsizeless &&
		    ix->asked[i].section == section && ix->asked[i].exact == exact)
			return ix->asked[i].name;
	name = addrinfo(o->mod, addr);
	struct asked *na = realloc(ix->asked, (ix->nasked + 1) * sizeof(*na));
	if (na) {
		ix->asked = na;
		ix->asked[ix->nasked++] = (struct asked){below, nsizeless, section, exact, name};
	}
	return name;
}

/* The name of a subprogram or inlined subroutine DIE, following its
   abstract origin and specification: the linkage name when there is one
   (demangled later), else the plain name. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		name = dwarf_formstring(&attr);
	if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
		name = dwarf_formstring(&attr);
	return name;
}

/* The call site of an inlined subroutine DIE: file and line. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *die, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;
	*file = NULL;
	*line = 0;
	if (dwarf_attr(die, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &v) == 0)
		*line = (int)v;
	Dwarf_Files *files;
	size_t nfiles;
	if (dwarf_attr(die, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &v) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && v < nfiles)
		*file = dwarf_filesrc(files, v, NULL, NULL);
}

int mp_sym_resolve(struct mp_symbolizer *s, const char *path, const uint8_t *build_id, size_t bid_len, uint64_t addr,
                   struct mp_sym_result *r)
{
	memset(r, 0, sizeof(*r));
	scratch_clear(s);
	struct object *o = object_get(s, path, build_id, bid_len);
	if (!o || !o->mod)
		return -1;

	/* The symbol table names the real function, with its full C++ name. */
	const char *symname = symbol_at(o, addr);

	/* The line table gives the line at addr; the scopes say which
	   functions were inlined there. */
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = dwfl_module_getsrc(o->mod, addr);
	if (l)
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);

	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(o->mod, addr, &bias);
	Dwarf_Die *scopes = NULL;
	int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
	const char *dwarf_fn = NULL;
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag == DW_TAG_inlined_subroutine) {
			if (r->n_inlined < MP_SYM_MAX_INLINED) {
				struct mp_sym_frame *in = &r->inlined[r->n_inlined++];
				in->function = display_name(s, die_name(&scopes[i]));
				in->file = file;
				in->line = line;
			}
			/* The caller's position is this call site. */
			call_site(cu, &scopes[i], &file, &line);
		} else if (tag == DW_TAG_subprogram) {
			dwarf_fn = die_name(&scopes[i]);
			break;
		}
	}
	free(scopes);

	r->frame.function = display_name(s, symname ? symname : dwarf_fn);
	r->frame.file = file;
	r->frame.line = line;
	return 0;
}

const char *mp_sym_function(struct mp_symbolizer *s, const char *path, const uint8_t *build_id, size_t bid_len,
                            uint64_t addr)
{
	scratch_clear(s);
	struct object *o = object_get(s, path, build_id, bid_len);
	if (!o || !o->mod)
		return NULL;
	return display_name(s, symbol_at(o, addr));
}

/* --- the worker ------------------------------------------------------------- */

struct sym_item {
	size_t idx, module;
	uint64_t addr;
};

struct sym_module {
	char *path;
	uint8_t build_id[20];
	size_t bid_len;
};

/* The queue and the module table are shared under mu; the results and the
   symbolizer belong to whoever resolves (the thread, or the caller of
   mp_sym_worker_wait when there is no thread), and are read once the
   queue is empty and nobody resolves. */
struct mp_sym_worker {
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	pthread_t thread;
	int have_thread, busy, stop;
	struct sym_item *queue;
	size_t nqueue, capqueue;
	struct sym_module **modules;
	size_t nmodules;
	struct mp_symbolizer *sym;
	struct mp_sym_out *out;
	size_t nout;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void out_clear(struct mp_sym_out *o)
{
	free(o->function);
	free(o->file);
	for (int i = 0; i < o->n_inlined; i++) {
		free((char *)o->inlined[i].function);
		free((char *)o->inlined[i].file);
	}
	free(o->inlined);
	memset(o, 0, sizeof(*o));
}

/* Resolves one item into w->out (left unknown when out of memory). */
static void resolve_item(struct mp_sym_worker *w, const struct sym_item *it)
{
	if (it->idx >= w->nout) {
		size_t n = w->nout ? w->nout : 1024;
		while (n <= it->idx)
			n *= 2;
		struct mp_sym_out *o = realloc(w->out, n * sizeof(*o));
		if (!o)
			return;
		memset(o + w->nout, 0, (n - w->nout) * sizeof(*o));
		w->out = o;
		w->nout = n;
	}
	pthread_mutex_lock(&w->mu);
	const struct sym_module *m = it->module < w->nmodules ? w->modules[it->module] : NULL;
	pthread_mutex_unlock(&w->mu);
	struct mp_sym_out *o = &w->out[it->idx];
	out_clear(o);
	struct mp_sym_result r;
	if (!m || !w->sym || mp_sym_resolve(w->sym, m->path, m->build_id, m->bid_len, it->addr, &r))
		return;
	o->function = dup_or_null(r.frame.function);
	o->file = dup_or_null(r.frame.file);
	o->line = r.frame.line;
	if (r.n_inlined && (o->inlined = calloc((size_t)r.n_inlined, sizeof(*o->inlined)))) {
		o->n_inlined = r.n_inlined;
		for (int i = 0; i < r.n_inlined; i++) {
			o->inlined[i].function = dup_or_null(r.inlined[i].function);
			o->inlined[i].file = dup_or_null(r.inlined[i].file);
			o->inlined[i].line = r.inlined[i].line;
		}
	}
}

/* Resolves queued items until the queue is empty (and, on the thread,
   until told to stop). Called with mu held; returns with it held. */
static void drain(struct mp_sym_worker *w, int forever)
{
	for (;;) {
		while (forever && !w->nqueue && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->nqueue)
			return;
		struct sym_item *batch = w->queue;
		size_t n = w->nqueue;
		w->queue = NULL;
		w->nqueue = w->capqueue = 0;
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		for (size_t i = 0; i < n; i++)
			resolve_item(w, &batch[i]);
		free(batch);
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		if (!w->nqueue)
			pthread_cond_broadcast(&w->idle);
	}
}

static void *worker_main(void *arg)
{
	struct mp_sym_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	drain(w, 1);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct mp_sym_worker *mp_sym_worker_new(void)
{
	struct mp_sym_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->sym = mp_sym_new();
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	/* The thread must not take the collector's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w->have_thread = pthread_create(&w->thread, NULL, worker_main, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}

void mp_sym_worker_free(struct mp_sym_worker *w)
{
	if (!w)
		return;
	if (w->have_thread) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		w->nqueue = 0; /* what is left is not wanted any more */
		pthread_cond_signal(&w->work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->idle);
	free(w->queue);
	for (size_t i = 0; i < w->nmodules; i++) {
		if (w->modules[i])
			free(w->modules[i]->path);
		free(w->modules[i]);
	}
	free(w->modules);
	for (size_t i = 0; i < w->nout; i++)
		out_clear(&w->out[i]);
	free(w->out);
	mp_sym_free(w->sym);
	free(w);
}

/* Registers module under mu. Returns 0, or -1 when out of memory. */
static int module_note(struct mp_sym_worker *w, size_t module, const char *path, const uint8_t *build_id,
                       size_t bid_len)
{
	if (module < w->nmodules && w->modules[module])
		return 0;
	if (module >= w->nmodules) {
		size_t n = w->nmodules ? w->nmodules : 64;
		while (n <= module)
			n *= 2;
		struct sym_module **v = realloc(w->modules, n * sizeof(*v));
		if (!v)
			return -1;
		memset(v + w->nmodules, 0, (n - w->nmodules) * sizeof(*v));
		w->modules = v;
		w->nmodules = n;
	}
	struct sym_module *m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return -1;
	}
	m->bid_len = bid_len < sizeof(m->build_id) ? bid_len : sizeof(m->build_id);
	memcpy(m->build_id, build_id, m->bid_len);
	w->modules[module] = m;
	return 0;
}

int mp_sym_worker_add(struct mp_sym_worker *w, size_t idx, size_t module, const char *path, const uint8_t *build_id,
                      size_t bid_len, uint64_t addr)
{
	int rc = -1;
	pthread_mutex_lock(&w->mu);
	if (module_note(w, module, path, build_id, bid_len) == 0) {
		if (w->nqueue == w->capqueue) {
			size_t n = w->capqueue ? 2 * w->capqueue : 256;
			struct sym_item *q = realloc(w->queue, n * sizeof(*q));
			if (q) {
				w->queue = q;
				w->capqueue = n;
			}
		}
		if (w->nqueue < w->capqueue) {
			w->queue[w->nqueue++] = (struct sym_item){idx, module, addr};
			if (w->nqueue == 1)
				pthread_cond_signal(&w->work);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void mp_sym_worker_wait(struct mp_sym_worker *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->have_thread)
		while (w->nqueue || w->busy)
			pthread_cond_wait(&w->idle, &w->mu);
	else
		drain(w, 0);
	pthread_mutex_unlock(&w->mu);
}

const struct mp_sym_out *mp_sym_worker_get(const struct mp_sym_worker *w, size_t idx)
{
	return idx < w->nout ? &w->out[idx] : NULL;
}
