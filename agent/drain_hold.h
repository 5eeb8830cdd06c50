/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The drain's hold (main.c): records drained from the rings while the exporters' queues have
 * no room wait for it, in the rings and the drained batch, instead of becoming spans that a
 * full queue drops. They wait max_ms at most (a collector that stays down must not stop the
 * decoders), then go through whatever the room. The caller passes the time, so that the rules
 * are tested with a clock the test controls.
 */
#ifndef SONDE_DRAIN_HOLD_H
#define SONDE_DRAIN_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#define DRAIN_HOLD_MAX_MS 200
#define DRAIN_HOLD_MARGIN 64 /* spans a record can finish besides its own, roughly */

struct drain_hold {
	bool waiting;	   /* records wait for room ... */
	uint64_t since_ms; /* ... since then */
	uint32_t max_ms;
	uint64_t holds;	   /* times records began to wait */
	uint64_t expired;  /* times they waited max_ms and went through anyway */
};

enum drain_hold_change {
	DRAIN_HOLD_SAME = 0,
	DRAIN_HOLD_BEGAN = 1, /* records began to wait: stop waking on the rings */
	DRAIN_HOLD_ENDED = 2, /* none wait any more: wake on the rings again */
};

void drain_hold__init(struct drain_hold *h, uint32_t max_ms);
/*
 * How many records a drain at now_ms may deliver: the least room of the n exporters, less
 * DRAIN_HOLD_MARGIN each; no limit once records have waited max_ms.
 */
uint64_t drain_hold__budget(struct drain_hold *h, uint64_t now_ms, const uint64_t *room, int n);
/* After a drain at now_ms: whether records still wait (pending). */
enum drain_hold_change drain_hold__after(struct drain_hold *h, uint64_t now_ms, bool pending);

#endif /* SONDE_DRAIN_HOLD_H */
