// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for agent/cpu_guard.c: when the loop is raised to normal priority and when it goes
 * back to SCHED_IDLE, and a real start on real BPF ring buffers (root: the loop thread really
 * goes to SCHED_IDLE, the guard thread stays at normal priority, stop raises the loop again).
 */
#include <dirent.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "cpu_guard.h"
#include "unit.h"

#define RING (4u << 20)
#define POLL 20

TEST(lowered_loop_is_raised_when_a_ring_backs_up)
{
	/* a poll period's worth of records is normal */
	CHECK(!cpu_guard__want_raised(false, RING / 16, RING, 15, 0, POLL, 0));
	/* a quarter of a ring: raised however recent the last drain */
	CHECK(!cpu_guard__want_raised(false, RING / 4, RING, 0, 0, POLL, 0));
	CHECK(cpu_guard__want_raised(false, RING / 4 + 1, RING, 0, 0, POLL, 0));
}

TEST(lowered_loop_is_raised_when_it_is_late_with_records_waiting)
{
	CHECK(!cpu_guard__want_raised(false, 100, RING, CPU_GUARD_LATE_MS, 0, POLL, 0));
	CHECK(cpu_guard__want_raised(false, 100, RING, CPU_GUARD_LATE_MS + 1, 0, POLL, 0));
	/* nothing waits: an idle loop is not late */
	CHECK(!cpu_guard__want_raised(false, 0, RING, 10000, 0, POLL, 0));
	/* a long poll period is not lateness: 3 periods */
	CHECK(!cpu_guard__want_raised(false, 100, RING, 250, 0, 100, 0));
	CHECK(cpu_guard__want_raised(false, 100, RING, 301, 0, 100, 0));
}

TEST(raised_loop_stays_up_a_minimum_time)
{
	CHECK(cpu_guard__want_raised(true, 0, RING, 1, CPU_GUARD_MIN_RAISED_MS - 1, POLL, 100));
	CHECK(!cpu_guard__want_raised(true, 0, RING, 1, CPU_GUARD_MIN_RAISED_MS, POLL, 100));
}

TEST(raised_loop_is_lowered_only_with_idle_time_a_drained_ring_and_a_punctual_loop)
{
	uint64_t up = CPU_GUARD_MIN_RAISED_MS + 1;

	/* a saturated machine: SCHED_IDLE would not run at all */
	CHECK(cpu_guard__want_raised(true, 0, RING, 1, up, POLL, CPU_GUARD_IDLE_PCT - 1));
	CHECK(!cpu_guard__want_raised(true, 0, RING, 1, up, POLL, CPU_GUARD_IDLE_PCT));
	/* still an eighth of a ring behind */
	CHECK(cpu_guard__want_raised(true, RING / 8 + 1, RING, 1, up, POLL, 100));
	CHECK(!cpu_guard__want_raised(true, RING / 8, RING, 1, up, POLL, 100));
	/* the loop missed its period even at normal priority */
	CHECK(cpu_guard__want_raised(true, 0, RING, 2 * POLL + 1, up, POLL, 100));
}

static int count_threads(const char *comm)
{
	char path[64], buf[32];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	int n = 0;
	FILE *f;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (f && fgets(buf, sizeof(buf), f) && !strncmp(buf, comm, strlen(comm)))
			n++;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return n;
}

TEST(guard_looks_less_often_only_while_nothing_is_traced)
{
	unsigned empty = 0;
	int i;

	/* Records flowing: every CPU_GUARD_PERIOD_MS. */
	CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 100, &empty), CPU_GUARD_PERIOD_MS);
	CHECK_EQ_INT(empty, 0);
	/* Empty rings: still the short period until CPU_GUARD_QUIET_CHECKS empty looks in a row. */
	for (i = 1; i < CPU_GUARD_QUIET_CHECKS; i++)
		CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 0, &empty), CPU_GUARD_PERIOD_MS);
	CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 0, &empty), CPU_GUARD_QUIET_MS);
	CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 0, &empty), CPU_GUARD_QUIET_MS);
	/* One record: back to the short period, and the count starts again. */
	CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 1, &empty), CPU_GUARD_PERIOD_MS);
	CHECK_EQ_INT(empty, 0);
	CHECK_EQ_INT(cpu_guard__next_sleep_ms(false, 0, &empty), CPU_GUARD_PERIOD_MS);
	/* A raised loop is watched closely whatever the fill: it must be lowered in time. */
	for (i = 0; i < 2 * CPU_GUARD_QUIET_CHECKS; i++)
		CHECK_EQ_INT(cpu_guard__next_sleep_ms(true, 0, &empty), CPU_GUARD_PERIOD_MS);
	CHECK(CPU_GUARD_QUIET_MS > CPU_GUARD_PERIOD_MS);
}

TEST(start_yields_the_calling_thread_and_stop_raises_it)
{
	struct cpu_guard_stats st;
	struct cpu_guard *g;
	char why[160] = "";
	int fds[2], i;

	for (i = 0; i < 2; i++) {
		fds[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "unit_ring", 0, 0, 1 << 16, NULL);
		CHECK(fds[i] >= 0);
		if (fds[i] < 0)
			return;
	}
	g = cpu_guard__start(fds, 2, 1 << 16, POLL, why, sizeof(why));
	CHECK(g != NULL);
	if (!g) {
		fprintf(stderr, "cpu_guard__start: %s\n", why);
		return;
	}
	CHECK_EQ_INT(sched_getscheduler(0), SCHED_IDLE);
	CHECK_EQ_INT(count_threads("sonde-cpu-guard"), 1);
	cpu_guard__beat(g, POLL);
	/* Empty rings, a punctual loop: never raised; long enough for the guard to go quiet,
	 * from which stop below must still wake it (its eventfd). */
	usleep(1000 * (CPU_GUARD_QUIET_CHECKS * CPU_GUARD_PERIOD_MS + 50));
	cpu_guard__stats(g, &st);
	CHECK(st.yielding && !st.raised);
	CHECK_EQ_INT(st.raises, 0);
	cpu_guard__stop(g);
	CHECK_EQ_INT(sched_getscheduler(0), SCHED_OTHER);
	CHECK_EQ_INT(count_threads("sonde-cpu-guard"), 0);
	cpu_guard__stats(g, &st);
	CHECK(st.yielding && !st.raised);
	cpu_guard__free(g);
	cpu_guard__stats(NULL, &st);
	CHECK(!st.yielding);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	RUN(lowered_loop_is_raised_when_a_ring_backs_up);
	RUN(lowered_loop_is_raised_when_it_is_late_with_records_waiting);
	RUN(raised_loop_stays_up_a_minimum_time);
	RUN(raised_loop_is_lowered_only_with_idle_time_a_drained_ring_and_a_punctual_loop);
	RUN(guard_looks_less_often_only_while_nothing_is_traced);
	RUN(start_yields_the_calling_thread_and_stop_raises_it);
	UNIT_DONE();
}
