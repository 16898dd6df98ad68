/* Decoder of event chunks (the encoder lives on the hot path, lib/thread.c). */
#include "wire.h"

void mp_chunk_reader_init(struct mp_chunk_reader *r, const void *data, size_t len)
{
	r->p = data;
	r->end = r->p + len;
	r->seq = r->time = r->ptr = 0;
	r->tsc = 0;
	if (len) /* the flags byte */
		r->tsc = (*r->p++ & MP_CHUNK_TSC) != 0;
}

int mp_chunk_next(struct mp_chunk_reader *r, struct mp_event_rec *ev)
{
	if (r->p >= r->end)
		return 0;
	uint8_t tag = *r->p++;
	uint64_t v;
	ev->type = tag & 0x0f;
	ev->kind = tag >> 4;
	switch (ev->type) {
	case MP_EV_ALLOC:
	case MP_EV_FREE:
	case MP_EV_REVIVE:
	case MP_EV_INTERNAL:
	case MP_EV_MARK:
	case MP_EV_END:
		if (mp_get_varint(&r->p, r->end, &v))
			return -1;
		r->seq += v;
		ev->seq = r->seq;
		if (!r->tsc) {
			if (mp_get_varint(&r->p, r->end, &v))
				return -1;
			r->time += v;
		}
		ev->time = r->tsc ? 0 : r->time;
		if (mp_get_varint(&r->p, r->end, &v))
			return -1;
		r->ptr += (uint64_t)mp_unzigzag(v);
		ev->ptr = r->ptr;
		ev->flags = 0;
		ev->pool = 0;
		if (ev->type == MP_EV_FREE && ev->kind == MP_FREE_MUNMAP)
			return mp_get_varint(&r->p, r->end, &ev->size) ? -1 : 1;
		if (ev->type == MP_EV_FREE && ev->kind == MP_FREE_POOL)
			return mp_get_varint(&r->p, r->end, &ev->pool) ? -1 : 1;
		if (ev->type != MP_EV_ALLOC)
			return 1;
		if (ev->kind >= MP_KIND_COUNT)
			return -1;
		if (mp_get_varint(&r->p, r->end, &ev->size) || mp_get_varint(&r->p, r->end, &ev->slack) ||
		    mp_get_varint(&r->p, r->end, &ev->stack))
			return -1;
		if (ev->kind == MP_KIND_MMAP && mp_get_varint(&r->p, r->end, &ev->flags))
			return -1;
		if (ev->kind == MP_KIND_POOL && mp_get_varint(&r->p, r->end, &ev->pool))
			return -1;
		return 1;
	case MP_EV_STACK: {
		if (mp_get_varint(&r->p, r->end, &v) || v > MP_MAX_DEPTH_LIMIT + 1)
			return -1;
		ev->depth = (uint32_t)v;
		uint64_t ip = 0;
		for (uint32_t i = 0; i < ev->depth; i++) {
			if (mp_get_varint(&r->p, r->end, &v))
				return -1;
			ip += (uint64_t)mp_unzigzag(v);
			r->ips[i] = ip;
		}
		ev->ips = r->ips;
		return 1;
	}
	case MP_EV_COST:
		if (mp_get_varint(&r->p, r->end, &ev->size) || mp_get_varint(&r->p, r->end, &ev->stack) ||
		    mp_get_varint(&r->p, r->end, &ev->slack))
			return -1;
		return 1;
	default:
		return -1;
	}
}
