// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Yielding the CPU to the traced applications (see cpu_guard.h).
 *
 * Why: the agent drains its rings in bursts (every poll period, a period's worth of records).
 * At normal priority a burst holds a core for as long as it takes, and an application thread
 * woken on that core waits behind it: on a 2-core machine that wait is what the application's
 * p99 latency shows. Under SCHED_IDLE the scheduler preempts the agent as soon as any normal
 * thread wants the core, so the bursts fill idle time only.
 *
 * The risk of SCHED_IDLE is starvation: on cores kept busy by the applications the loop would
 * not run, and the rings would overflow. The guard thread (normal priority, asleep but for a
 * short look every CPU_GUARD_PERIOD_MS while records flow, every CPU_GUARD_QUIET_MS while
 * nothing is traced) reads each ring's producer and consumer positions
 * from read-only mappings of the rings' control pages and the loop's heartbeat, and switches
 * the loop to SCHED_OTHER while the rings back up or the loop is starved.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu_guard.h"

struct cpu_guard {
	pid_t loop_tid;
	uint64_t ring_bytes;
	uint32_t poll_ms;
	size_t page;
	int n_rings;
	const uint8_t **ctl; /* per ring: the consumer page, then the producer page */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int stop_fd; /* an eventfd the guard sleeps on: stop wakes it at once */
	atomic_uint_fast64_t beat_ms;
	atomic_uint_fast32_t period_ms; /* when the loop said it drains next, after its beat */
	atomic_bool raised;
	atomic_uint_fast64_t raises;
	atomic_uint_fast64_t raised_ms; /* completed raised periods */
	atomic_uint_fast64_t raised_at_ms;
	/* The machine's CPU time (from /proc/stat) when the idle share was last measured. */
	int stat_fd; /* -1: unknown, the idle share is taken as enough */
	uint64_t base_ms, base_idle, base_total;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool cpu_guard__want_raised(bool raised, uint64_t fill, uint64_t ring_bytes, uint64_t beat_age_ms,
			    uint64_t raised_for_ms, uint32_t poll_ms, unsigned idle_pct)
{
	uint64_t late_ms = 3ULL * poll_ms;

	if (late_ms < CPU_GUARD_LATE_MS)
		late_ms = CPU_GUARD_LATE_MS;
	if (!raised)
		return fill > ring_bytes / CPU_GUARD_RAISE_DIV || (fill > 0 && beat_age_ms > late_ms);
	return raised_for_ms < CPU_GUARD_MIN_RAISED_MS || idle_pct < CPU_GUARD_IDLE_PCT ||
	       beat_age_ms > 2ULL * poll_ms || fill > ring_bytes / CPU_GUARD_LOWER_DIV;
}

uint32_t cpu_guard__next_sleep_ms(bool raised, uint64_t fill, unsigned *empty_checks)
{
	if (raised || fill) {
		*empty_checks = 0;
		return CPU_GUARD_PERIOD_MS;
	}
	if (*empty_checks < CPU_GUARD_QUIET_CHECKS)
		++*empty_checks;
	return *empty_checks >= CPU_GUARD_QUIET_CHECKS ? CPU_GUARD_QUIET_MS : CPU_GUARD_PERIOD_MS;
}

static int set_policy(pid_t tid, int policy)
{
	struct sched_param p = {.sched_priority = 0};

	return sched_setscheduler(tid, policy, &p) ? -errno : 0;
}

/* The fullest ring's unread bytes. */
static uint64_t max_fill(const struct cpu_guard *g)
{
	uint64_t max = 0, cons, prod;
	int i;

	for (i = 0; i < g->n_rings; i++) {
		cons = __atomic_load_n((const unsigned long *)g->ctl[i], __ATOMIC_ACQUIRE);
		prod = __atomic_load_n((const unsigned long *)(g->ctl[i] + g->page),
				       __ATOMIC_ACQUIRE);
		if (prod - cons > max)
			max = prod - cons;
	}
	return max;
}

/* The machine's idle and total CPU time, in clock ticks, from the first line of /proc/stat. */
static int cpu_times(int fd, uint64_t *idle, uint64_t *total)
{
	unsigned long long v[8] = {0};
	char buf[256];
	ssize_t n;
	int i;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 5)
		return -1;
	*idle = v[3] + v[4];
	*total = 0;
	for (i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

/* Note the machine's CPU times now: the start of the next idle-share window. */
static void idle_window_start(struct cpu_guard *g, uint64_t now)
{
	g->base_ms = now;
	if (g->stat_fd >= 0 && cpu_times(g->stat_fd, &g->base_idle, &g->base_total))
		g->base_total = 0;
}

/*
 * The idle share of the window that started at the last idle_window_start, once the window is
 * CPU_GUARD_MIN_RAISED_MS long (then a new one starts); 0 before that, so the loop stays up.
 */
static unsigned idle_share(struct cpu_guard *g, uint64_t now)
{
	uint64_t idle, total;
	unsigned pct = 100;

	if (now - g->base_ms < CPU_GUARD_MIN_RAISED_MS)
		return 0;
	if (g->stat_fd >= 0 && g->base_total && !cpu_times(g->stat_fd, &idle, &total) &&
	    total > g->base_total)
		pct = (unsigned)((idle - g->base_idle) * 100 / (total - g->base_total));
	idle_window_start(g, now);
	return pct;
}

static void *guard_main(void *arg)
{
	struct cpu_guard *g = arg;
	uint32_t sleep_ms = CPU_GUARD_PERIOD_MS, period;
	unsigned empty_checks = 0;
	struct pollfd pfd = {.fd = g->stop_fd, .events = POLLIN};
	uint64_t now, since, fill;
	bool raised, want;

	while (!atomic_load(&g->stop)) {
		if (poll(&pfd, 1, (int)sleep_ms) != 0)
			continue; /* stop (or a signal): the loop's test decides */
		now = now_ms();
		raised = atomic_load(&g->raised);
		since = atomic_load(&g->raised_at_ms);
		fill = max_fill(g);
		sleep_ms = cpu_guard__next_sleep_ms(raised, fill, &empty_checks);
		/* The loop is late against the period it announced (longer while it is quiet). */
		period = atomic_load_explicit(&g->period_ms, memory_order_relaxed);
		if (period < g->poll_ms)
			period = g->poll_ms;
		want = cpu_guard__want_raised(raised, fill, g->ring_bytes,
					      now - atomic_load_explicit(&g->beat_ms,
									 memory_order_relaxed),
					      raised ? now - since : 0, period,
					      raised ? idle_share(g, now) : 0);
		if (want == raised)
			continue;
		if (set_policy(g->loop_tid, want ? SCHED_OTHER : SCHED_IDLE))
			continue; /* permission checked at start; the thread may be exiting */
		if (want) {
			idle_window_start(g, now);
			atomic_store(&g->raised_at_ms, now);
			atomic_fetch_add(&g->raises, 1);
		} else {
			atomic_fetch_add(&g->raised_ms, now - since);
		}
		atomic_store(&g->raised, want);
	}
	return NULL;
}

/* Whether this thread may go from SCHED_IDLE back to SCHED_OTHER at nice 0. */
static bool may_raise(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {0};
	struct rlimit rl;

	if (!syscall(SYS_capget, &h, d) &&
	    (d[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))))
		return true;
	/* RLIMIT_NICE allows nice values down to 20 - limit. */
	return !getrlimit(RLIMIT_NICE, &rl) && rl.rlim_cur >= 20;
}

static void unmap_rings(struct cpu_guard *g)
{
	int i;

	for (i = 0; i < g->n_rings; i++)
		if (g->ctl[i])
			munmap((void *)g->ctl[i], 2 * g->page);
	free(g->ctl);
	if (g->stat_fd >= 0)
		close(g->stat_fd);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
}

struct cpu_guard *cpu_guard__start(const int *ring_fds, int n_rings, uint64_t ring_bytes,
				   uint32_t poll_ms, char *why, size_t why_len)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct cpu_guard *g;
	void *m;
	int err, i;

	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	g->loop_tid = tid;
	g->stop_fd = -1;
	g->stat_fd = -1;
	g->ring_bytes = ring_bytes;
	g->poll_ms = poll_ms;
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	g->ctl = calloc(n_rings > 0 ? n_rings : 1, sizeof(*g->ctl));
	if (!g->ctl) {
		snprintf(why, why_len, "out of memory");
		free(g);
		return NULL;
	}
	g->n_rings = n_rings;
	g->stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (g->stop_fd < 0) {
		snprintf(why, why_len, "cannot create the guard's eventfd: %s", strerror(errno));
		goto fail;
	}
	for (i = 0; i < n_rings; i++) {
		m = mmap(NULL, 2 * g->page, PROT_READ, MAP_SHARED, ring_fds[i], 0);
		if (m == MAP_FAILED) {
			snprintf(why, why_len, "cannot map a ring's positions: %s", strerror(errno));
			goto fail;
		}
		g->ctl[i] = m;
	}
	/*
	 * Going down to SCHED_IDLE is always allowed; coming back needs CAP_SYS_NICE (or a
	 * RLIMIT_NICE that allows nice 0). Without either, a trial would leave the loop down for
	 * good, so that is checked first; then the round trip is tried before yielding anything.
	 */
	if (!may_raise()) {
		snprintf(why, why_len,
			 "without CAP_SYS_NICE it could not be raised from SCHED_IDLE again; it runs "
			 "at normal priority");
		goto fail;
	}
	err = set_policy(tid, SCHED_IDLE);
	if (err) {
		snprintf(why, why_len, "cannot switch to SCHED_IDLE (%s); it runs at normal priority",
			 strerror(-err));
		goto fail;
	}
	err = set_policy(tid, SCHED_OTHER);
	if (err) {
		snprintf(why, why_len,
			 "cannot raise it back from SCHED_IDLE (%s); it stays at SCHED_IDLE, unguarded",
			 strerror(-err));
		goto fail;
	}
	atomic_store(&g->beat_ms, now_ms());
	atomic_store(&g->period_ms, poll_ms);
	/* The guard thread is created while the loop is at normal priority: it inherits that. */
	err = pthread_create(&g->thread, NULL, guard_main, g);
	if (err) {
		snprintf(why, why_len, "cannot start the guard thread: %s", strerror(err));
		goto fail;
	}
	g->thread_started = true;
	pthread_setname_np(g->thread, "sonde-cpu-guard");
	err = set_policy(tid, SCHED_IDLE);
	if (err) {
		snprintf(why, why_len, "cannot switch to SCHED_IDLE: %s", strerror(-err));
		cpu_guard__free(g);
		return NULL;
	}
	return g;
fail:
	unmap_rings(g);
	free(g);
	return NULL;
}

void cpu_guard__beat(struct cpu_guard *g, uint32_t next_ms)
{
	if (!g)
		return;
	atomic_store_explicit(&g->period_ms, next_ms ? next_ms : g->poll_ms, memory_order_relaxed);
	atomic_store_explicit(&g->beat_ms, now_ms(), memory_order_relaxed);
}

void cpu_guard__stats(struct cpu_guard *g, struct cpu_guard_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!g)
		return;
	out->yielding = true;
	out->raised = atomic_load(&g->raised);
	out->raises = atomic_load(&g->raises);
	out->raised_ms = atomic_load(&g->raised_ms);
	if (out->raised)
		out->raised_ms += now_ms() - atomic_load(&g->raised_at_ms);
}

void cpu_guard__stop(struct cpu_guard *g)
{
	if (!g || atomic_load(&g->stop))
		return;
	atomic_store(&g->stop, true);
	if (g->thread_started) {
		uint64_t one = 1;
		/* Cannot fail on this eventfd; if it did, the guard would end at its next look. */
		ssize_t n = write(g->stop_fd, &one, sizeof(one));

		(void)n;
		pthread_join(g->thread, NULL);
	}
	set_policy(g->loop_tid, SCHED_OTHER);
	/* The shutdown flush runs at normal priority; it is not counted as a raise. */
	if (atomic_load(&g->raised)) {
		atomic_fetch_add(&g->raised_ms, now_ms() - atomic_load(&g->raised_at_ms));
		atomic_store(&g->raised, false);
	}
}

void cpu_guard__free(struct cpu_guard *g)
{
	if (!g)
		return;
	cpu_guard__stop(g);
	unmap_rings(g);
	free(g);
}
