/* Reads a pprof file as `memprof export --format pprof` writes it and
 * prints what it holds, for tests/integration/export.sh: a gzip container
 * of stored deflate blocks (checked: header, block lengths, CRC32, size)
 * holding a perftools.profiles.Profile, decoded here field by field with
 * every reference checked (string indices, location and function ids).
 *
 * Prints:
 *   sample_type TYPE/UNIT ... (in order)
 *   default TYPE
 *   samples N
 *   total V0 V1 V2 V3
 *   leaf FUNCTION V0 V1 V2 V3     (per sample, sorted by the test)
 *   root FUNCTION                 (the outermost frame of each sample)
 * Exits 1 with a message on anything malformed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
	fprintf(stderr, "pprof-check: %s\n", what);
	exit(1);
}

static uint32_t crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Unpacks the gzip file in (n bytes); only stored blocks are accepted. */
static unsigned char *gunzip(const unsigned char *in, size_t n, size_t *outn)
{
	if (n < 18 || in[0] != 0x1f || in[1] != 0x8b || in[2] != 8)
		fail("not a gzip file");
	if (in[3] != 0)
		fail("unexpected gzip flags");
	size_t at = 10, len = 0;
	unsigned char *out = malloc(n);
	if (!out)
		fail("out of memory");
	for (;;) {
		if (at + 5 > n)
			fail("truncated deflate block");
		unsigned hdr = in[at];
		if ((hdr >> 1 & 3) != 0)
			fail("not a stored block");
		size_t blen = in[at + 1] | (size_t)in[at + 2] << 8;
		size_t nlen = in[at + 3] | (size_t)in[at + 4] << 8;
		if ((blen ^ 0xffff) != nlen)
			fail("stored block length and its complement disagree");
		at += 5;
		if (at + blen > n)
			fail("truncated stored block");
		memcpy(out + len, in + at, blen);
		len += blen;
		at += blen;
		if (hdr & 1)
			break;
	}
	if (at + 8 != n)
		fail("gzip trailer missing or trailing data");
	uint32_t crc = in[at] | (uint32_t)in[at + 1] << 8 | (uint32_t)in[at + 2] << 16 | (uint32_t)in[at + 3] << 24;
	uint32_t size =
	        in[at + 4] | (uint32_t)in[at + 5] << 8 | (uint32_t)in[at + 6] << 16 | (uint32_t)in[at + 7] << 24;
	if (crc != crc32(out, len))
		fail("CRC32 mismatch");
	if (size != (uint32_t)len)
		fail("ISIZE mismatch");
	*outn = len;
	return out;
}

struct reader {
	const unsigned char *p, *end;
};

static uint64_t varint(struct reader *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			fail("truncated varint");
		unsigned char c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	fail("varint too long");
	return 0;
}

/* Reads the next field's key; returns 0 at the end of the message. */
static int field(struct reader *r, unsigned *num, unsigned *wire)
{
	if (r->p >= r->end)
		return 0;
	uint64_t key = varint(r);
	*num = (unsigned)(key >> 3);
	*wire = (unsigned)(key & 7);
	if (*num == 0)
		fail("field number 0");
	return 1;
}

/* The payload of a length-delimited field. */
static struct reader sub(struct reader *r)
{
	uint64_t n = varint(r);
	if (n > (uint64_t)(r->end - r->p))
		fail("length past the end");
	struct reader s = {r->p, r->p + n};
	r->p += n;
	return s;
}

static void skip(struct reader *r, unsigned wire)
{
	if (wire == 0)
		varint(r);
	else if (wire == 2)
		sub(r);
	else if (wire == 1 && r->end - r->p >= 8)
		r->p += 8;
	else if (wire == 5 && r->end - r->p >= 4)
		r->p += 4;
	else
		fail("bad wire type");
}

/* Repeated varints, packed (wire 2) or not (wire 0). */
static size_t varints(struct reader *r, unsigned wire, uint64_t **v, size_t n)
{
	if (wire == 0) {
		*v = realloc(*v, (n + 1) * sizeof(**v));
		(*v)[n++] = varint(r);
		return n;
	}
	if (wire != 2)
		fail("bad wire type for repeated varints");
	struct reader s = sub(r);
	while (s.p < s.end) {
		*v = realloc(*v, (n + 1) * sizeof(**v));
		(*v)[n++] = varint(&s);
	}
	return n;
}

struct sample {
	uint64_t *loc, *val;
	size_t nloc, nval;
};
struct location {
	uint64_t id, function_id;
};
struct function {
	uint64_t id, name;
};

int main(int argc, char **argv)
{
	if (argc != 2)
		fail("usage: pprof-check FILE");
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		fail("cannot open the file");
	static unsigned char buf[64 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	size_t len;
	unsigned char *pb = gunzip(buf, n, &len);

	char **strs = NULL;
	size_t nstrs = 0;
	uint64_t types[16][2];
	size_t ntypes = 0;
	struct sample *samples = NULL;
	size_t nsamples = 0;
	struct location *locs = NULL;
	size_t nlocs = 0;
	struct function *fns = NULL;
	size_t nfns = 0;
	uint64_t dflt = 0;

	struct reader r = {pb, pb + len};
	unsigned num, wire;
	while (field(&r, &num, &wire)) {
		if (num == 1 || num == 2 || num == 4 || num == 5 || num == 6) {
			if (wire != 2)
				fail("expected a length-delimited field");
			struct reader s = sub(&r);
			unsigned fn, fw;
			if (num == 6) {
				strs = realloc(strs, (nstrs + 1) * sizeof(*strs));
				strs[nstrs] = malloc((size_t)(s.end - s.p) + 1);
				memcpy(strs[nstrs], s.p, (size_t)(s.end - s.p));
				strs[nstrs++][s.end - s.p] = 0;
			} else if (num == 1) {
				if (ntypes == 16)
					fail("too many sample types");
				types[ntypes][0] = types[ntypes][1] = 0;
				while (field(&s, &fn, &fw))
					if ((fn == 1 || fn == 2) && fw == 0)
						types[ntypes][fn - 1] = varint(&s);
					else
						skip(&s, fw);
				ntypes++;
			} else if (num == 2) {
				samples = realloc(samples, (nsamples + 1) * sizeof(*samples));
				struct sample *sm = &samples[nsamples++];
				memset(sm, 0, sizeof(*sm));
				while (field(&s, &fn, &fw))
					if (fn == 1)
						sm->nloc = varints(&s, fw, &sm->loc, sm->nloc);
					else if (fn == 2)
						sm->nval = varints(&s, fw, &sm->val, sm->nval);
					else
						skip(&s, fw);
			} else if (num == 4) {
				locs = realloc(locs, (nlocs + 1) * sizeof(*locs));
				struct location *l = &locs[nlocs++];
				memset(l, 0, sizeof(*l));
				while (field(&s, &fn, &fw)) {
					if (fn == 1 && fw == 0) {
						l->id = varint(&s);
					} else if (fn == 4 && fw == 2) {
						struct reader ls = sub(&s);
						unsigned ln, lw;
						while (field(&ls, &ln, &lw))
							if (ln == 1 && lw == 0 && !l->function_id)
								l->function_id = varint(&ls);
							else
								skip(&ls, lw);
					} else {
						skip(&s, fw);
					}
				}
			} else {
				fns = realloc(fns, (nfns + 1) * sizeof(*fns));
				struct function *fu = &fns[nfns++];
				memset(fu, 0, sizeof(*fu));
				while (field(&s, &fn, &fw))
					if (fn == 1 && fw == 0)
						fu->id = varint(&s);
					else if (fn == 2 && fw == 0)
						fu->name = varint(&s);
					else
						skip(&s, fw);
			}
		} else if (num == 14 && wire == 0) {
			dflt = varint(&r);
		} else {
			skip(&r, wire);
		}
	}
	if (nstrs == 0 || strs[0][0] != 0)
		fail("string_table[0] is not \"\"");
	for (size_t i = 0; i < ntypes; i++)
		if (types[i][0] >= nstrs || types[i][1] >= nstrs)
			fail("sample type string out of range");
	if (dflt >= nstrs)
		fail("default_sample_type out of range");
	for (size_t i = 0; i < nfns; i++)
		if (fns[i].id == 0 || fns[i].name >= nstrs)
			fail("bad function");
	printf("sample_type");
	for (size_t i = 0; i < ntypes; i++)
		printf(" %s/%s", strs[types[i][0]], strs[types[i][1]]);
	printf("\ndefault %s\nsamples %zu\n", strs[dflt], nsamples);
	int64_t total[16] = {0};
	for (size_t i = 0; i < nsamples; i++) {
		struct sample *sm = &samples[i];
		if (sm->nval != ntypes)
			fail("a sample's value count differs from the sample types'");
		if (sm->nloc == 0)
			fail("a sample without locations");
		const char *names[2] = {NULL, NULL}; /* leaf, root */
		for (size_t k = 0; k < sm->nloc; k++) {
			const struct location *l = NULL;
			for (size_t j = 0; j < nlocs && !l; j++)
				if (locs[j].id == sm->loc[k])
					l = &locs[j];
			if (!l)
				fail("a sample refers to a missing location");
			const struct function *fu = NULL;
			for (size_t j = 0; j < nfns && !fu; j++)
				if (fns[j].id == l->function_id)
					fu = &fns[j];
			if (!fu)
				fail("a location refers to a missing function");
			if (k == 0)
				names[0] = strs[fu->name];
			names[1] = strs[fu->name];
		}
		printf("leaf %s", names[0]);
		for (size_t k = 0; k < sm->nval; k++) {
			printf(" %lld", (long long)sm->val[k]);
			total[k] += (int64_t)sm->val[k];
		}
		printf("\nroot %s\n", names[1]);
	}
	printf("total");
	for (size_t k = 0; k < ntypes; k++)
		printf(" %lld", (long long)total[k]);
	printf("\n");
	return 0;
}
