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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

struct object {
	char *path;
	uint8_t build_id[20];
	size_t bid_len;
	Dwfl *dwfl; /* NULL: the object could not be read */
	Dwfl_Module *mod;
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
	GElf_Off off;
	GElf_Sym sym;
	const char *symname = dwfl_module_addrinfo(o->mod, addr, &off, &sym, NULL, NULL, NULL);

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
