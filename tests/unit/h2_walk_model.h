/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A model of the kernel's HTTP/2 frame walk (bpf/h2_frames.bpf.h) for the decoder's unit tests
 * and fuzz target: the I/O of one direction in, the record the kernel writes for it out. Plain
 * buffers only; tests/unit/test_h2_walk.c checks the real walk, iovec arrays included.
 */
#ifndef SONDE_TEST_H2_WALK_MODEL_H
#define SONDE_TEST_H2_WALK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sonde_event.h"

#define H2M_FRAME_HEAD 9
#define H2M_WALK_STEPS 1024 /* h2_frames.bpf.h: the steps of one I/O's walk, two a frame */

/* One direction's place in its frames: struct sonde_frame_cursor, with the header whole. */
struct kcursor {
	uint32_t left; /* payload bytes of the frame under way still to come */
	uint8_t part;  /* bytes of the next frame header seen (0..8) */
	bool elided;   /* the frame under way's payload is left out of records */
	bool lost;     /* the kernel gave this direction up */
	uint8_t hdr[H2M_FRAME_HEAD];
};

/* HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, GOAWAY and CONTINUATION keep their payload. */
static inline bool h2m_keeps_payload(uint8_t type)
{
	return type == 0x1 || type == 0x3 || type == 0x4 || type == 0x5 || type == 0x7 ||
	       type == 0x9;
}

/* n bytes of the I/O into the record, as far as it has room (walk_put). */
static inline void h2m_rec_put(uint8_t *rec, uint32_t *len, bool *cut, const uint8_t *p,
			       size_t n)
{
	if (*len >= SONDE_FRAMES_MAX) {
		*cut = true;
		return;
	}
	if (n > SONDE_FRAMES_MAX - *len) {
		n = SONDE_FRAMES_MAX - *len;
		*cut = true;
	}
	memcpy(rec + *len, p, n);
	*len += (uint32_t)n;
}

/* The walk of one plain-buffer I/O from c (walk_step); false when it takes too many steps. */
static inline bool h2m_walk(struct kcursor *c, const uint8_t *p, size_t n, uint8_t *rec,
			    uint32_t *len, bool *cut)
{
	size_t off = 0, take;
	int steps = 0;

	*len = 0;
	*cut = false;
	while (off < n) {
		if (steps++ == H2M_WALK_STEPS)
			return false;
		if (c->part || !c->left) {
			take = H2M_FRAME_HEAD - c->part;
			if (take > n - off)
				take = n - off;
			memcpy(c->hdr + c->part, p + off, take);
			h2m_rec_put(rec, len, cut, p + off, take);
			off += take;
			c->part = (uint8_t)(c->part + take);
			if (c->part < H2M_FRAME_HEAD)
				break; /* the I/O ends inside the header */
			c->left = (uint32_t)c->hdr[0] << 16 | (uint32_t)c->hdr[1] << 8 | c->hdr[2];
			c->elided = !h2m_keeps_payload(c->hdr[3]);
			c->part = 0;
			continue;
		}
		take = c->left < n - off ? c->left : n - off;
		if (!c->elided)
			h2m_rec_put(rec, len, cut, p + off, take);
		off += take;
		c->left -= (uint32_t)take;
	}
	return true;
}

#endif /* SONDE_TEST_H2_WALK_MODEL_H */
