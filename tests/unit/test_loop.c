// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for agent/loop.c: timer order, replacement and cancellation, fd callbacks with
 * removal from inside a callback, self re-arming timers not starving the loop, and run/stop.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "unit.h"

struct rec {
	int order[16];
	int n;
	uint64_t at_ms[16];
};

static struct rec rec;

static void mark(int tag)
{
	if (rec.n < 16) {
		rec.at_ms[rec.n] = loop__now_ms();
		rec.order[rec.n++] = tag;
	}
}

static void t_a(struct loop *l, void *ctx)
{
	mark((int)(long)ctx);
}

static void run_for(struct loop *l, uint64_t ms)
{
	uint64_t end = loop__now_ms() + ms;

	while (loop__now_ms() < end)
		loop__run_once(l, 10);
}

TEST(test_timer_order)
{
	struct loop *l = loop__new();
	uint64_t t0 = loop__now_ms();

	CHECK(l != NULL);
	if (!l)
		return;
	memset(&rec, 0, sizeof(rec));
	CHECK(loop__arm_timer(l, 60, t_a, (void *)3L) > 0);
	CHECK(loop__arm_timer(l, 20, t_a, (void *)1L) > 0);
	CHECK(loop__arm_timer(l, 40, t_a, (void *)2L) > 0);
	run_for(l, 120);
	CHECK_EQ_INT(rec.n, 3);
	CHECK_EQ_INT(rec.order[0], 1);
	CHECK_EQ_INT(rec.order[1], 2);
	CHECK_EQ_INT(rec.order[2], 3);
	CHECK(rec.at_ms[0] - t0 >= 20);
	CHECK(rec.at_ms[2] - t0 >= 60);
	loop__free(l);
}

TEST(test_timer_replace_and_cancel)
{
	struct loop *l = loop__new();
	uint64_t t0 = loop__now_ms();
	int id1, id2;

	if (!l)
		return;
	memset(&rec, 0, sizeof(rec));
	id1 = loop__arm_timer(l, 10, t_a, (void *)7L);
	id2 = loop__arm_timer(l, 60, t_a, (void *)7L); /* same key: replaces, fires once at 60 */
	CHECK(id1 > 0 && id2 > 0);
	CHECK(loop__arm_timer(l, 10, t_a, (void *)8L) > 0);
	loop__cancel_timer(l, t_a, (void *)8L);
	loop__cancel_timer(l, t_a, (void *)99L); /* unknown key: harmless */
	run_for(l, 120);
	CHECK_EQ_INT(rec.n, 1);
	CHECK_EQ_INT(rec.order[0], 7);
	CHECK(rec.at_ms[0] - t0 >= 60);
	loop__free(l);
}

static int rearms;

static void t_rearm(struct loop *l, void *ctx)
{
	rearms++;
	loop__arm_timer(l, 0, t_rearm, ctx);
}

TEST(test_zero_delay_rearm_does_not_starve)
{
	struct loop *l = loop__new();

	if (!l)
		return;
	rearms = 0;
	loop__arm_timer(l, 0, t_rearm, NULL);
	/* Each run_once must return after one round of due timers. */
	CHECK_EQ_INT(loop__run_once(l, 50), 0);
	CHECK(rearms >= 1 && rearms <= 2);
	CHECK_EQ_INT(loop__run_once(l, 50), 0);
	CHECK(rearms >= 2 && rearms <= 4);
	loop__cancel_timer(l, t_rearm, NULL);
	loop__free(l);
}

struct pipe_ctx {
	int reads;
	int fd;
	int other_fd;
};

static void on_read(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct pipe_ctx *p = ctx;
	char buf[16];

	CHECK(events & EPOLLIN);
	CHECK_EQ_INT(fd, p->fd);
	if (read(fd, buf, sizeof(buf)) > 0)
		p->reads++;
	/* Removing another fd that is also ready in this batch must not call it. */
	if (p->other_fd >= 0) {
		CHECK_EQ_INT(loop__del_fd(l, p->other_fd), 0);
		p->other_fd = -1;
	}
}

TEST(test_fds)
{
	struct loop *l = loop__new();
	struct pipe_ctx a = {}, b = {};
	int pa[2], pb[2];

	if (!l)
		return;
	CHECK_EQ_INT(pipe(pa), 0);
	CHECK_EQ_INT(pipe(pb), 0);
	a.fd = pa[0];
	b.fd = pb[0];
	a.other_fd = pb[0];
	b.other_fd = pa[0];
	CHECK_EQ_INT(loop__add_fd(l, pa[0], EPOLLIN, on_read, &a), 0);
	CHECK_EQ_INT(loop__add_fd(l, pb[0], EPOLLIN, on_read, &b), 0);
	CHECK_EQ_INT(loop__add_fd(l, pa[0], EPOLLIN, on_read, &a), -EEXIST);
	CHECK_EQ_INT(loop__mod_fd(l, 999, EPOLLIN), -ENOENT);
	CHECK_EQ_INT(loop__del_fd(l, 999), -ENOENT);

	CHECK_EQ_INT(write(pa[1], "x", 1), 1);
	CHECK_EQ_INT(write(pb[1], "y", 1), 1);
	CHECK_EQ_INT(loop__run_once(l, 100), 0);
	/* Exactly one ran: whichever went first removed the other. */
	CHECK_EQ_INT(a.reads + b.reads, 1);

	/* The survivor keeps working; mod to no events silences it. */
	{
		struct pipe_ctx *s = a.reads ? &a : &b;
		int wfd = a.reads ? pa[1] : pb[1];

		CHECK_EQ_INT(write(wfd, "z", 1), 1);
		CHECK_EQ_INT(loop__run_once(l, 100), 0);
		CHECK_EQ_INT(s->reads, 2);
		CHECK_EQ_INT(loop__mod_fd(l, s->fd, 0), 0);
		CHECK_EQ_INT(write(wfd, "z", 1), 1);
		CHECK_EQ_INT(loop__run_once(l, 20), 0);
		CHECK_EQ_INT(s->reads, 2);
		CHECK_EQ_INT(loop__del_fd(l, s->fd), 0);
	}
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
	loop__free(l);
}

static int ticks;

static void t_tick(struct loop *l, void *ctx)
{
	if (++ticks == 3)
		loop__stop(l);
	else
		loop__arm_timer(l, 5, t_tick, ctx);
}

TEST(test_run_stop)
{
	struct loop *l = loop__new();

	if (!l)
		return;
	ticks = 0;
	loop__arm_timer(l, 5, t_tick, NULL);
	CHECK_EQ_INT(loop__run(l), 0);
	CHECK_EQ_INT(ticks, 3);
	loop__free(l);
}

TEST(test_many_timers)
{
	struct loop *l = loop__new();
	int i;

	if (!l)
		return;
	memset(&rec, 0, sizeof(rec));
	/* More keys than the initial timer array holds. */
	for (i = 0; i < 100; i++)
		CHECK(loop__arm_timer(l, 1000, t_a, (void *)(long)(100 + i)) > 0);
	for (i = 0; i < 100; i++)
		loop__cancel_timer(l, t_a, (void *)(long)(100 + i));
	CHECK(loop__arm_timer(l, 1, t_a, (void *)1L) > 0);
	run_for(l, 30);
	CHECK_EQ_INT(rec.n, 1);
	loop__free(l);
}

int main(void)
{
	RUN(test_timer_order);
	RUN(test_timer_replace_and_cancel);
	RUN(test_zero_delay_rearm_does_not_starve);
	RUN(test_fds);
	RUN(test_run_stop);
	RUN(test_many_timers);
	UNIT_DONE();
}
