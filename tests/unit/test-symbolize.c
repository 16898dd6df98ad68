/* Unit tests of symbolization (cli/symbolize.c) on this very test
 * program: a function's address, a return address inside an inlined
 * function, a foreign build-id, a missing file, C++ demangling. */
#include <CUnit/CUnit.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"
#include "unit.h"

static uint64_t bias;
static uint8_t build_id[20];
static size_t build_id_len;

static int find_main(struct dl_phdr_info *info, size_t size, void *data)
{
	bias = info->dlpi_addr; /* the first object is the program */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *desc = p + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_descsz <= sizeof(build_id)) {
				memcpy(build_id, desc, nh->n_descsz);
				build_id_len = nh->n_descsz;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return 1;
}

static void *volatile sink;

__attribute__((noinline)) static void *where_called(void)
{
	sink = __builtin_return_address(0);
	return sink;
}

static inline __attribute__((always_inline)) void *inlined_helper(void)
{
	return where_called(); /* MARK:inlined-call */
}

__attribute__((noinline)) static void *outer_function(void)
{
	void *r = inlined_helper(); /* MARK:outer-call */
	sink = r;
	return r;
}

static char self[4096];

static void setup_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	dl_iterate_phdr(find_main, NULL);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);
	return s && a >= b && !strcmp(s + a - b, suffix);
}

static void test_function(void)
{
	setup_self();
	struct mp_symbolizer *s = mp_sym_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	struct mp_sym_result r;
	uint64_t addr = (uint64_t)(uintptr_t)&outer_function - bias;
	CU_ASSERT_EQUAL(mp_sym_resolve(s, self, build_id, build_id_len, addr, &r), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.frame.function);
	CU_ASSERT_STRING_EQUAL(r.frame.function, "outer_function");
	CU_ASSERT(ends_with(r.frame.file, "test-symbolize.c"));
	CU_ASSERT(r.frame.line > 0);

	/* A return address in outer_function, inside the inlined helper:
	   the call instruction is one byte before it. */
	uint64_t ret = (uint64_t)(uintptr_t)outer_function() - bias - 1;
	CU_ASSERT_EQUAL(mp_sym_resolve(s, self, build_id, build_id_len, ret, &r), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.frame.function);
	CU_ASSERT_STRING_EQUAL(r.frame.function, "outer_function");
	CU_ASSERT_EQUAL_FATAL(r.n_inlined, 1);
	CU_ASSERT_STRING_EQUAL(r.inlined[0].function, "inlined_helper");
	CU_ASSERT(ends_with(r.inlined[0].file, "test-symbolize.c"));
	CU_ASSERT(ends_with(r.frame.file, "test-symbolize.c"));
	CU_ASSERT(r.inlined[0].line != r.frame.line && r.inlined[0].line > 0 && r.frame.line > 0);
	mp_sym_free(s);
}

static void test_untrusted(void)
{
	setup_self();
	struct mp_symbolizer *s = mp_sym_new();
	struct mp_sym_result r;
	uint64_t addr = (uint64_t)(uintptr_t)&outer_function - bias;
	/* A build-id that is not this file's: no symbols rather than wrong ones. */
	uint8_t other[20];
	memset(other, 0xab, sizeof(other));
	mp_sym_resolve(s, self, other, sizeof(other), addr, &r);
	CU_ASSERT_PTR_NULL(r.frame.function);
	CU_ASSERT_EQUAL(mp_sym_resolve(s, "/nonexistent/object.so", NULL, 0, 0x1000, &r), -1);
	CU_ASSERT_PTR_NULL(r.frame.function);
	CU_ASSERT_EQUAL(mp_sym_resolve(s, "/dev/null", NULL, 0, 0x1000, &r), -1);
	mp_sym_free(s);
}

static void test_demangle(void)
{
	char *d = mp_sym_demangle("_ZNSt6vectorIiSaIiEE9push_backERKi");
	if (d) /* where libstdc++ is installed */
		CU_ASSERT_STRING_EQUAL(d, "std::vector<int, std::allocator<int> >::push_back(int const&)");
	free(d);
	CU_ASSERT_PTR_NULL(mp_sym_demangle("malloc"));
	CU_ASSERT_PTR_NULL(mp_sym_demangle("_Znot a name"));
	CU_ASSERT_PTR_NULL(mp_sym_demangle(NULL));
}

/* The path of the loaded object whose name contains part. */
struct find_obj {
	const char *part;
	char path[4096];
};

static int find_obj(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct find_obj *fo = data;
	if (info->dlpi_name && strstr(info->dlpi_name, fo->part)) {
		snprintf(fo->path, sizeof(fo->path), "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

static char *debuginfo_path;
static const Dwfl_Callbacks oracle_callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path,
};

/* What mp_sym_function shows for a symbol name: no version, demangled. */
static void shown(const char *name, char *out, size_t size)
{
	out[0] = 0;
	if (!name)
		return;
	char bare[4096];
	snprintf(bare, sizeof(bare), "%s", name);
	char *at = strchr(bare, '@');
	if (at && at != bare)
		*at = 0;
	char *d = mp_sym_demangle(bare);
	snprintf(out, size, "%s", d ? d : bare);
	free(d);
}

/* One address: the name libdwfl gives it and memprof's, the same. */
static void compare_one(Dwfl_Module *mod, struct mp_symbolizer *s, const char *path, uint64_t addr, size_t *compared,
                        size_t *wrong)
{
	GElf_Off off;
	GElf_Sym sym;
	char want[4096], got[4096];
	shown(dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL), want, sizeof(want));
	const char *fn = mp_sym_function(s, path, NULL, 0, addr);
	snprintf(got, sizeof(got), "%s", fn ? fn : "");
	++*compared;
	if (strcmp(want, got) && ++*wrong <= 5)
		printf("\n  %s at 0x%llx: libdwfl says [%s], memprof [%s]", path, (unsigned long long)addr, want, got);
}

/* mp_sym_function against libdwfl's own dwfl_module_addrinfo on every
   symbol of path (its start, second byte, middle, last byte and the byte
   past it) and on addresses spread over the whole range, and with
   every_byte on each byte of its code and past the end of each section:
   the same name every time. Returns the addresses compared. */
static size_t compare_with_libdwfl(const char *path, int every_byte)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Dwfl *d = dwfl_begin(&oracle_callbacks);
	dwfl_report_begin(d);
	Dwfl_Module *mod = dwfl_report_elf(d, path, path, fd, 0, true);
	dwfl_report_end(d, NULL, NULL);
	int n = mod ? dwfl_module_getsymtab(mod) : -1;
	struct mp_symbolizer *s = mp_sym_new();
	size_t compared = 0, wrong = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		if (!dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL) ||
		    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
			continue;
		lo = value < lo ? value : lo;
		hi = value + sym.st_size > hi ? value + sym.st_size : hi;
	}
	/* At most about 1500 symbols of each object (libdwfl's own search,
	   the reference here, takes 0.1 ms an address in libc). */
	int step = n / 1500 + 1;
	for (int i = 1; i < n + 1000; i++) {
		uint64_t probes[5];
		size_t np = 0;
		if (i < n && i % step)
			continue;
		if (i < n) {
			GElf_Sym sym;
			GElf_Addr value;
			if (!dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL))
				continue;
			probes[np++] = value;
			probes[np++] = value + 1;
			probes[np++] = value + sym.st_size / 2;
			if (sym.st_size) {
				probes[np++] = value + sym.st_size - 1;
				probes[np++] = value + sym.st_size;
			}
		} else if (hi > lo) {
			probes[np++] = lo + (hi - lo) / 1000 * (uint64_t)(i - n);
		}
		for (size_t k = 0; k < np; k++)
			compare_one(mod, s, path, probes[k], &compared, &wrong);
	}
	GElf_Addr elf_bias;
	Elf *elf = every_byte && mod ? dwfl_module_getelf(mod, &elf_bias) : NULL;
	for (Elf_Scn *scn = NULL; elf && (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);
		if (sh && (sh->sh_flags & SHF_EXECINSTR))
			for (uint64_t a = sh->sh_addr; a < sh->sh_addr + sh->sh_size + 32; a++)
				compare_one(mod, s, path, a, &compared, &wrong);
	}
	CU_ASSERT_EQUAL(wrong, 0);
	mp_sym_free(s);
	dwfl_end(d);
	return compared;
}

static void test_symbol_index(void)
{
	setup_self();
	CU_ASSERT(compare_with_libdwfl(self, 1) > 10000);
	/* libc (with its separate debug file where libc6-dbg is installed:
	   thousands of local and global symbols, aliases, IFUNCs), libdw. */
	const char *parts[] = {"libc.so", "libdw"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct find_obj fo = {parts[i], ""};
		dl_iterate_phdr(find_obj, &fo);
		CU_ASSERT_FATAL(fo.path[0] != 0);
		CU_ASSERT(compare_with_libdwfl(fo.path, 0) > 1000);
	}
}

int mp_suite_symbolize(void)
{
	CU_pSuite s = CU_add_suite("symbolize", NULL, NULL);
	if (!s || !CU_add_test(s, "functions, files, lines, inlining", test_function) ||
	    !CU_add_test(s, "wrong build-id, missing files", test_untrusted) ||
	    !CU_add_test(s, "C++ names", test_demangle) ||
	    !CU_add_test(s, "the symbol at an address, as libdwfl finds it", test_symbol_index))
		return -1;
	return 0;
}
