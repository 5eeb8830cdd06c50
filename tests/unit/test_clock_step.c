// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Span times follow the wall clock when it is stepped while the agent runs (NTP after boot, a
 * virtual machine resumed from a snapshot): the records carry CLOCK_MONOTONIC times, and the
 * assembler's offset to Unix time must not stay the one it took at start.
 *
 * The step is not real: stepping this machine's clock would disturb everything else running on
 * it. This binary defines its own clock_gettime(), which the agent's code links to in place of
 * libc's; it asks the kernel for the time and adds `step_ns` to CLOCK_REALTIME.
 */
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "assembler.h"
#include "process.h"
#include "unit.h"

static int64_t step_ns;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ns;

	if (syscall(SYS_clock_gettime, id, ts))
		return -1;
	if (id == CLOCK_REALTIME && step_ns) {
		ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + step_ns;
		ts->tv_sec = ns / 1000000000LL;
		ts->tv_nsec = ns % 1000000000LL;
	}
	return 0;
}

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void drop_span(void *ctx, const struct span *s)
{
}

static int64_t distance(uint64_t a, uint64_t b)
{
	return a > b ? (int64_t)(a - b) : (int64_t)(b - a);
}

#define NEAR_NS 50000000LL /* 50 ms: the two clocks are read a few calls apart */

TEST(a_stepped_wall_clock_is_followed_at_the_next_tick)
{
	static struct sonde_config cfg;
	struct process_table *procs = process_table__new(&cfg);
	struct assembler *a;
	uint64_t mono;

	step_ns = 0;
	a = assembler__new(&cfg, procs, drop_span, NULL, NULL, NULL);
	CHECK(a != NULL);
	if (!a)
		return;
	mono = now_ns(CLOCK_MONOTONIC);
	CHECK(distance(assembler__to_unix_ns(a, mono), now_ns(CLOCK_REALTIME)) < NEAR_NS);

	/* The wall clock jumps an hour ahead, then two seconds back (a correction after a
	 * resume, a step back by NTP): after a tick, a record of now is dated now. */
	step_ns = 3600LL * 1000000000LL;
	assembler__tick(a, now_ns(CLOCK_MONOTONIC));
	mono = now_ns(CLOCK_MONOTONIC);
	CHECK(distance(assembler__to_unix_ns(a, mono), now_ns(CLOCK_REALTIME)) < NEAR_NS);
	step_ns = -2LL * 1000000000LL;
	assembler__tick(a, now_ns(CLOCK_MONOTONIC));
	mono = now_ns(CLOCK_MONOTONIC);
	CHECK(distance(assembler__to_unix_ns(a, mono), now_ns(CLOCK_REALTIME)) < NEAR_NS);

	step_ns = 0;
	assembler__free(a);
	process_table__free(procs);
}

int main(void)
{
	RUN(a_stepped_wall_clock_is_followed_at_the_next_tick);
	UNIT_DONE();
}
