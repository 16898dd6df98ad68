/* Encoding allocation chunks (lib/store.c) on a thread of their own: the
 * replay hands over a full buffer of records and goes on with an empty
 * one while the thread sorts and compresses them; the trace writer takes
 * the encoded chunks back, in the order handed over, and stores them.
 * Sorting and compressing was a third of the collector's time, and the
 * collector is what a program with two busy threads waits for.
 */
#ifndef MP_ENCODER_H
#define MP_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Chunks handed over and not encoded yet, at most: each holds a buffer of
   MP_STORE_CHUNK_RECORDS records (2.3 MiB). */
#define MP_ENCODER_QUEUE 3

struct mp_encoder;

/* An encoded chunk of `count` records of process process_id; data is the
   caller's to free. */
struct mp_encoded {
	int64_t process_id;
	size_t count;
	void *data;
	size_t len;
};

/* A new encoder, with its thread (free with mp_encoder_free). NULL when
   out of memory. When no thread can be started, mp_encoder_put encodes
   at once on the caller's. */
struct mp_encoder *mp_encoder_new(void);

/* Stops the thread and drops what was not taken back. */
void mp_encoder_free(struct mp_encoder *e);

/* Hands over *recs (n records of process_id, a buffer of
   MP_STORE_CHUNK_RECORDS) and puts in *recs an empty buffer as large;
   waits first while MP_ENCODER_QUEUE chunks wait to be encoded. Returns
   0, or -1 when out of memory (*recs is then left as it was). */
int mp_encoder_put(struct mp_encoder *e, int64_t process_id, struct mp_alloc_rec **recs, size_t n);

/* The next encoded chunk, in the order handed over, into *out: 1 when
   there is one, 0 when none is ready (with wait: when none was handed
   over and not taken back), -1 when its encoding ran out of memory. */
int mp_encoder_get(struct mp_encoder *e, int wait, struct mp_encoded *out);

#endif
