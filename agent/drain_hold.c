// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The drain's hold (drain_hold.h). */
#include "drain_hold.h"

void drain_hold__init(struct drain_hold *h, uint32_t max_ms)
{
	*h = (struct drain_hold){.max_ms = max_ms};
}

uint64_t drain_hold__budget(struct drain_hold *h, uint64_t now_ms, const uint64_t *room, int n)
{
	uint64_t budget = UINT64_MAX, r;
	int i;

	for (i = 0; i < n; i++) {
		r = room[i] > DRAIN_HOLD_MARGIN ? room[i] - DRAIN_HOLD_MARGIN : 0;
		if (r < budget)
			budget = r;
	}
	if (h->waiting && now_ms - h->since_ms >= h->max_ms) {
		h->expired++;
		return UINT64_MAX;
	}
	return budget;
}

enum drain_hold_change drain_hold__after(struct drain_hold *h, uint64_t now_ms, bool pending)
{
	if (!pending) {
		if (!h->waiting)
			return DRAIN_HOLD_SAME;
		h->waiting = false;
		return DRAIN_HOLD_ENDED;
	}
	if (h->waiting)
		return DRAIN_HOLD_SAME;
	h->waiting = true;
	h->since_ms = now_ms;
	h->holds++;
	return DRAIN_HOLD_BEGAN;
}
