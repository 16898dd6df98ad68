/* The module map: which object is loaded where, with its build-id.
 *
 * Sent at start-up and again whenever the loader's add/remove counters
 * changed, checked at each buffer hand-over rather than by hooking dlopen
 * (a dlopen wrapper would become the "caller" whose RUNPATH glibc uses).
 */
#include <elf.h>
#include <link.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static unsigned long long seen_adds, seen_subs;

struct mod_buf {
	uint8_t *data;
	size_t len, cap;
	int failed;
};

static void buf_put(struct mod_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 8192;
		while (ncap < b->len + n)
			ncap *= 2;
		uint8_t *nd = mpje_realloc(b->data, ncap);
		if (!nd) {
			b->failed = 1;
			return;
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void read_build_id(struct dl_phdr_info *info, struct mp_module_rec *rec)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof(*nh);
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
				size_t n = nh->n_descsz < sizeof(rec->build_id) ? nh->n_descsz : sizeof(rec->build_id);
				memcpy(rec->build_id, desc, n);
				rec->build_id_len = (uint16_t)n;
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct mod_buf *b = data;
	struct mp_module_rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.bias = info->dlpi_addr;
	rec.start = UINT64_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (lo < rec.start)
			rec.start = lo;
		if (hi > rec.end)
			rec.end = hi;
	}
	if (rec.start == UINT64_MAX)
		return 0;
	read_build_id(info, &rec);
	char exe[PATH_MAX];
	const char *path = info->dlpi_name;
	if (!path || !*path) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = 0;
		path = exe;
	}
	rec.path_len = (uint16_t)strnlen(path, 4096);
	buf_put(b, &rec, sizeof(rec));
	buf_put(b, path, rec.path_len);
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		seen_adds = info->dlpi_adds;
		seen_subs = info->dlpi_subs;
	}
	return 0;
}

void mp_modules_send(void)
{
	struct mod_buf b = {0};
	dl_iterate_phdr(add_module, &b);
	if (!b.failed && b.len)
		mp_send(MP_MSG_MODULES, 0, b.data, b.len);
	mpje_free(b.data);
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
	}
	return 1;
}

void mp_modules_check(void)
{
	if (mp_in_loader)
		return; /* a signal handler's flush, inside dl_iterate_phdr: the next flush looks */
	unsigned long long c[2] = {seen_adds, seen_subs};
	dl_iterate_phdr(read_counters, c);
	if (c[0] != seen_adds || c[1] != seen_subs) {
		mp_modules_send();
		mp_cfi_objects_changed();
	}
}
