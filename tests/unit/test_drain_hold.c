// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The drain's hold (agent/drain_hold.c) on a clock the test sets: records wait while the
 * exporters have no room, at most max_ms, and go through at once when room comes back.
 */
#include "drain_hold.h"
#include "unit.h"

#define T0 1000000 /* any time: the rules only look at differences */

TEST(room_is_the_least_of_the_exporters_less_the_margin)
{
	struct drain_hold h;
	uint64_t room[2] = {1000, 300};

	drain_hold__init(&h, DRAIN_HOLD_MAX_MS);
	CHECK_EQ_INT(drain_hold__budget(&h, T0, room, 2), 300 - DRAIN_HOLD_MARGIN);
	room[1] = DRAIN_HOLD_MARGIN;
	CHECK_EQ_INT(drain_hold__budget(&h, T0, room, 2), 0);
	room[1] = 3; /* less than the margin: nothing, not a wrap-around */
	CHECK_EQ_INT(drain_hold__budget(&h, T0, room, 2), 0);
	CHECK(drain_hold__budget(&h, T0, room, 0) == UINT64_MAX); /* no exporter: no limit */
}

TEST(records_wait_up_to_max_then_go_through)
{
	struct drain_hold h;
	uint64_t full = 0;

	drain_hold__init(&h, 200);
	CHECK_EQ_INT(drain_hold__budget(&h, T0, &full, 1), 0);
	CHECK_EQ_INT(drain_hold__after(&h, T0, true), DRAIN_HOLD_BEGAN);
	CHECK_EQ_INT(h.holds, 1);
	/* still full: they keep waiting, and the wait is one hold, not one per drain */
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 5, &full, 1), 0);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 5, true), DRAIN_HOLD_SAME);
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 199, &full, 1), 0);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 199, true), DRAIN_HOLD_SAME);
	CHECK_EQ_INT(h.holds, 1);
	CHECK_EQ_INT(h.expired, 0);
	/* 200 ms: delivered whatever the room (a collector that stays down stops no decoder) */
	CHECK(drain_hold__budget(&h, T0 + 200, &full, 1) == UINT64_MAX);
	CHECK_EQ_INT(h.expired, 1);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 200, false), DRAIN_HOLD_ENDED);
	CHECK(!h.waiting);
	/* nothing waits: a full queue limits the next drain again, from a new hold */
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 1000, &full, 1), 0);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 1000, true), DRAIN_HOLD_BEGAN);
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 1199, &full, 1), 0);
	CHECK(drain_hold__budget(&h, T0 + 1200, &full, 1) == UINT64_MAX);
	CHECK_EQ_INT(h.holds, 2);
	CHECK_EQ_INT(h.expired, 2);
}

TEST(room_that_comes_back_ends_the_wait_early)
{
	struct drain_hold h;
	uint64_t room = 0;

	drain_hold__init(&h, 200);
	drain_hold__budget(&h, T0, &room, 1);
	CHECK_EQ_INT(drain_hold__after(&h, T0, true), DRAIN_HOLD_BEGAN);
	room = 500; /* the collector answered: the queue drains */
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 40, &room, 1), 500 - DRAIN_HOLD_MARGIN);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 40, false), DRAIN_HOLD_ENDED);
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 45, false), DRAIN_HOLD_SAME);
	CHECK_EQ_INT(h.expired, 0);
	/* a wait that starts later is timed from its own start, not the first one's */
	room = 0;
	CHECK_EQ_INT(drain_hold__after(&h, T0 + 500, true), DRAIN_HOLD_BEGAN);
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 650, &room, 1), 0);
	CHECK_EQ_INT(h.expired, 0);
}

TEST(a_longer_hold_for_a_busy_machine)
{
	struct drain_hold h;
	uint64_t room = 0;

	drain_hold__init(&h, 2000);
	drain_hold__after(&h, T0, true);
	CHECK_EQ_INT(drain_hold__budget(&h, T0 + 1999, &room, 1), 0);
	CHECK(drain_hold__budget(&h, T0 + 2000, &room, 1) == UINT64_MAX);
}

int main(void)
{
	RUN(room_is_the_least_of_the_exporters_less_the_margin);
	RUN(records_wait_up_to_max_then_go_through);
	RUN(room_that_comes_back_ends_the_wait_early);
	RUN(a_longer_hold_for_a_busy_machine);
	UNIT_DONE();
}
