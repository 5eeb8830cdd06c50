/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef SONDE_CPU_GUARD_H
#define SONDE_CPU_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The agent yields the CPU to the applications it traces: its event loop runs under SCHED_IDLE,
 * so a woken application thread always preempts it and never queues behind a drain of the rings.
 * A small guard thread at normal priority watches the rings' fill and the loop's heartbeat, and
 * raises the loop to normal priority while the rings back up or the loop is starved, so that
 * yielding does not cost records.
 */

/*
 * How often the guard looks, and its rules. Raised: when the fullest ring holds a quarter of its
 * size (where the kernel wakes the loop early too), or when records wait and the loop has not
 * drained for 3 poll periods (at least CPU_GUARD_LATE_MS). Lowered again: after at least
 * CPU_GUARD_MIN_RAISED_MS, when the loop keeps to its period, the rings hold less than an eighth,
 * and the machine had CPU_GUARD_IDLE_PCT idle time over the last window (with less, SCHED_IDLE
 * would not get to run).
 */
#define CPU_GUARD_PERIOD_MS 10
#define CPU_GUARD_RAISE_DIV 4
#define CPU_GUARD_LOWER_DIV 8
#define CPU_GUARD_LATE_MS 60
#define CPU_GUARD_MIN_RAISED_MS 250
#define CPU_GUARD_IDLE_PCT 25
/*
 * While nothing is traced the guard looks less often: after CPU_GUARD_QUIET_CHECKS looks in a
 * row that found every ring empty (and the loop lowered), every CPU_GUARD_QUIET_MS, until it
 * finds a record. Each wake-up costs a timer interrupt and a switch (about 45 us of CPU on the
 * test machine, most of it any sleeping thread's wake-up), so an idle agent's guard costs a
 * tenth of what it did. A burst that starts in a quiet stretch is seen at most
 * CPU_GUARD_QUIET_MS later; the per-CPU rings (4 MiB by default) hold far more than that.
 */
#define CPU_GUARD_QUIET_MS 100
#define CPU_GUARD_QUIET_CHECKS 10

struct cpu_guard;

struct cpu_guard_stats {
	bool yielding;	    /* the guard runs (false: --cpu normal, or yielding refused) */
	bool raised;	    /* the loop is at normal priority now */
	uint64_t raises;    /* times the loop was raised */
	uint64_t raised_ms; /* total time raised */
};

/*
 * The decision, kept pure for the unit tests: whether the loop should run at normal priority.
 * fill: the fullest ring's unread bytes; beat_age_ms: since the loop last drained the rings;
 * raised_for_ms: how long it has been raised (when raised); idle_pct: the machine's idle CPU
 * time, percent of all CPU time, since the last check while raised (on a machine with no idle
 * time, SCHED_IDLE would not run at all, so the loop stays raised until there is some).
 */
bool cpu_guard__want_raised(bool raised, uint64_t fill, uint64_t ring_bytes, uint64_t beat_age_ms,
			    uint64_t raised_for_ms, uint32_t poll_ms, unsigned idle_pct);

/* How long the guard sleeps before its next look, given this look's fill; *empty_checks counts
 * the looks in a row that found the rings empty (kept by the caller, updated here). Pure. */
uint32_t cpu_guard__next_sleep_ms(bool raised, uint64_t fill, unsigned *empty_checks);

/*
 * Start yielding: the calling thread (the event loop) goes to SCHED_IDLE and the guard starts.
 * ring_fds: the per-CPU ring buffers' map fds. On failure (no permission to raise the loop
 * again, say) the loop stays at normal priority, NULL is returned and why holds the reason.
 */
struct cpu_guard *cpu_guard__start(const int *ring_fds, int n_rings, uint64_t ring_bytes,
				   uint32_t poll_ms, char *why, size_t why_len);

/* The loop drained the rings, and drains them next in about next_ms (its poll period, longer
 * while nothing is traced): its heartbeat, from which the guard judges it late. Cheap (two
 * relaxed stores). */
void cpu_guard__beat(struct cpu_guard *g, uint32_t next_ms);

void cpu_guard__stats(struct cpu_guard *g, struct cpu_guard_stats *out);

/* Stop the guard and leave the loop at normal priority (for the shutdown flush); the
 * statistics stay readable until cpu_guard__free. */
void cpu_guard__stop(struct cpu_guard *g);

void cpu_guard__free(struct cpu_guard *g);

#endif
