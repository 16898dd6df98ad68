/* Fuzz targets (libFuzzer) for the decoders of untrusted bytes. Built
 * twice by tests/fuzz/run: fuzz-events reads the input as an events chunk
 * (lib/wire.c) and as an allocation chunk (lib/store.c); with
 * FUZZ_COLLECTOR, fuzz-collector reads it as a stream of messages to the
 * collector and finishes them into a trace (cli/collector.c,
 * cli/finish.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "finish.h"
#include "store.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void events(const uint8_t *data, size_t size)
{
	struct mp_chunk_reader r;
	struct mp_event_rec ev;
	mp_chunk_reader_init(&r, data, size);
	while (mp_chunk_next(&r, &ev) > 0)
		;
}

static void store(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	size_t count = ((size_t)data[0] << 8 | data[1]) % 4096;
	struct mp_alloc_rec *recs = malloc((count ? count : 1) * sizeof(*recs));
	(void)mp_store_decode(data + 2, size - 2, recs, count);
	free(recs);
}

/* The input as messages: each is a little-endian u16 length, then that
   many bytes (a header and payload, valid or not). */
static void collect(const uint8_t *data, size_t size)
{
	char out[128];
	snprintf(out, sizeof(out), "%s/t.db", dir);
	struct mp_collector c;
	if (mp_collector_init(&c))
		return;
	const uint8_t *p = data, *end = data + size;
	while (end - p >= 2) {
		size_t len = (size_t)p[0] | (size_t)p[1] << 8;
		p += 2;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		uint8_t *msg = malloc(len ? len : 1); /* its own allocation: overreads show */
		memcpy(msg, p, len);
		mp_collector_handle(&c, msg, len);
		free(msg);
		p += len;
	}
	char err[256];
	struct mp_trace_info info = {.command = NULL, .max_depth = 128, .force = 1};
	mp_finish(&c, out, &info, err, sizeof(err));
	mp_collector_release(&c);
	unlink(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		/* The collector's spool and trace go into a directory of our own. */
		snprintf(dir, sizeof(dir), "/tmp/memprof-fuzz-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
#ifdef FUZZ_COLLECTOR
	collect(data, size);
#else
	events(data, size);
	store(data, size);
#endif
	return 0;
}
