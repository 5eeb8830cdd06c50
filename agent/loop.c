// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's single-threaded event loop: one epoll instance for every file descriptor, and one
 * timerfd that always points at the earliest pending one-shot timer. Timers live in a small
 * unsorted array because the agent has a handful of them (batch delays, retries, curl's timer,
 * housekeeping), where a linear scan beats a heap in both code and time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 64

struct fd_entry {
	loop_fd_cb cb; /* NULL: slot unused */
	void *ctx;
};

struct timer {
	int id;
	uint64_t due_ms;
	uint64_t seq; /* arming order: timers armed while timers run wait for the next round */
	loop_timer_cb cb;
	void *ctx;
};

struct loop {
	int epfd;
	int tfd;
	bool stop;
	/* Indexed by fd number: fds are small dense integers, so this is the cheapest lookup. */
	struct fd_entry *fds;
	int n_fds;
	struct timer *timers;
	int n_timers;
	int cap_timers;
	int next_id;
	uint64_t seq;
	uint64_t tfd_due_ms; /* what the timerfd is set to; 0: disarmed */
};

uint64_t loop__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop__new(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct loop *l;

	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0)
		goto err;
	/* The timerfd is told apart from user fds by its number, which users never see. */
	ev.data.fd = l->tfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0)
		goto err;
	l->next_id = 1;
	return l;
err:
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	free(l);
	return NULL;
}

void loop__free(struct loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	close(l->tfd);
	free(l->fds);
	free(l->timers);
	free(l);
}

static int grow_fds(struct loop *l, int fd)
{
	struct fd_entry *n;
	int cap = l->n_fds ? l->n_fds : 64;

	while (cap <= fd)
		cap *= 2;
	n = realloc(l->fds, (size_t)cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + l->n_fds, 0, (size_t)(cap - l->n_fds) * sizeof(*n));
	l->fds = n;
	l->n_fds = cap;
	return 0;
}

int loop__add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int err;

	if (fd < 0 || !cb || fd == l->tfd)
		return -EINVAL;
	if (fd >= l->n_fds) {
		err = grow_fds(l, fd);
		if (err)
			return err;
	}
	if (l->fds[fd].cb)
		return -EEXIST;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->fds[fd].cb = cb;
	l->fds[fd].ctx = ctx;
	return 0;
}

int loop__mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd < 0 || fd >= l->n_fds || !l->fds[fd].cb)
		return -ENOENT;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop__del_fd(struct loop *l, int fd)
{
	int err = 0;

	if (fd < 0 || fd >= l->n_fds || !l->fds[fd].cb)
		return -ENOENT;
	/*
	 * Forget the entry even when epoll_ctl fails (say the fd was closed first): a stale entry
	 * would make the next user of that fd number get -EEXIST.
	 */
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		err = -errno;
	l->fds[fd].cb = NULL;
	l->fds[fd].ctx = NULL;
	return err;
}

/* Point the timerfd at the earliest timer, touching the kernel only when that changes. */
static void rearm_tfd(struct loop *l)
{
	struct itimerspec its = {};
	uint64_t due = 0;
	int i;

	for (i = 0; i < l->n_timers; i++)
		if (!due || l->timers[i].due_ms < due)
			due = l->timers[i].due_ms;
	if (due == l->tfd_due_ms)
		return;
	if (due) {
		its.it_value.tv_sec = due / 1000;
		/* An all-zero it_value would disarm; CLOCK_MONOTONIC is never at 0 anyway. */
		its.it_value.tv_nsec = (due % 1000) * 1000000 + 1;
	}
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	l->tfd_due_ms = due;
}

static int find_timer(const struct loop *l, loop_timer_cb cb, void *ctx)
{
	int i;

	for (i = 0; i < l->n_timers; i++)
		if (l->timers[i].cb == cb && l->timers[i].ctx == ctx)
			return i;
	return -1;
}

int loop__arm_timer(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *ctx)
{
	struct timer *t;
	int i;

	if (!cb)
		return -EINVAL;
	i = find_timer(l, cb, ctx);
	if (i < 0) {
		if (l->n_timers == l->cap_timers) {
			int cap = l->cap_timers ? l->cap_timers * 2 : 16;
			struct timer *n = realloc(l->timers, (size_t)cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			l->timers = n;
			l->cap_timers = cap;
		}
		i = l->n_timers++;
		l->timers[i].id = l->next_id;
		l->next_id = l->next_id == 0x7fffffff ? 1 : l->next_id + 1;
	}
	t = &l->timers[i];
	t->due_ms = loop__now_ms() + delay_ms;
	t->seq = ++l->seq;
	t->cb = cb;
	t->ctx = ctx;
	rearm_tfd(l);
	return t->id;
}

static void remove_timer(struct loop *l, int i)
{
	l->timers[i] = l->timers[--l->n_timers];
}

void loop__cancel_timer(struct loop *l, loop_timer_cb cb, void *ctx)
{
	int i = find_timer(l, cb, ctx);

	if (i < 0)
		return;
	remove_timer(l, i);
	rearm_tfd(l);
}

/*
 * Run every timer that is due now and was armed before this round began, so that a callback
 * re-arming itself with a zero delay cannot starve the file descriptors.
 */
static void run_timers(struct loop *l)
{
	uint64_t now = loop__now_ms(), round = l->seq;
	int i, best;

	for (;;) {
		best = -1;
		for (i = 0; i < l->n_timers; i++) {
			const struct timer *t = &l->timers[i];

			if (t->due_ms > now || t->seq > round)
				continue;
			if (best < 0 || t->due_ms < l->timers[best].due_ms)
				best = i;
		}
		if (best < 0)
			break;
		{
			loop_timer_cb cb = l->timers[best].cb;
			void *ctx = l->timers[best].ctx;

			/* Removed before the call: the callback may re-arm the same key. */
			remove_timer(l, best);
			cb(l, ctx);
		}
	}
	rearm_tfd(l);
}

int loop__run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (i = 0; i < n; i++) {
		int fd = evs[i].data.fd;

		if (fd == l->tfd) {
			uint64_t expirations;

			/* Drain it; which timers are due is decided from the clock below. */
			if (read(l->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
				return -errno;
			l->tfd_due_ms = 0;
			continue;
		}
		/* An earlier callback in this batch may have removed this fd. */
		if (fd < l->n_fds && l->fds[fd].cb)
			l->fds[fd].cb(l, fd, evs[i].events, l->fds[fd].ctx);
	}
	run_timers(l);
	return 0;
}

int loop__run(struct loop *l)
{
	int err = 0;

	l->stop = false;
	while (!l->stop) {
		err = loop__run_once(l, -1);
		if (err)
			break;
	}
	return err;
}

void loop__stop(struct loop *l)
{
	l->stop = true;
}
