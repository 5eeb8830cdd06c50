// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A drain's rules in agent/loader/rings.c, through a loader whose drains read scripted "rings"
 * (loader__new_for_test) instead of BPF ring buffers:
 *
 * - The rings are read one after the other while the CPUs go on writing. A record stamped after
 *   the drain started may have older records still unread in a ring read before it: it waits
 *   for the next drain, so no record is ever delivered after a newer one.
 * - A record is stamped before it is committed: one stamped just before the drain may have an
 *   older one still being written in another ring. Records of the last few milliseconds before
 *   the drain wait as well.
 * - A drain delivers at most its budget; the rest waits (pending) and the rings are not read
 *   again until it is delivered.
 * - At shutdown (all) everything is delivered, carried records too.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader.h"
#include "sonde_event.h"
#include "unit.h"

#define MAX_SEEN 64

static uint64_t seen_id[MAX_SEEN], seen_ts[MAX_SEEN];
static int n_seen;

static void on_rec(void *ctx, const void *rec, size_t size)
{
	const struct sonde_event_head *h = rec;

	(void)ctx;
	if (size >= sizeof(*h) && n_seen < MAX_SEEN) {
		seen_id[n_seen] = h->conn_id;
		seen_ts[n_seen] = h->ts_ns;
		n_seen++;
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Older than the drain by more than the time a record may take to be committed. */
#define OLD_NS 50000000ULL

static void put(struct loader *ld, uint64_t id, uint64_t ts)
{
	struct sonde_event_head h = {.conn_id = id, .ts_ns = ts, .kind = SONDE_EV_OPEN};

	CHECK_EQ_INT(loader__test_record(ld, &h, sizeof(h)), 0);
}

/*
 * The script, one step per drain. Each "ring" is read in turn; between the reads the other
 * CPU writes, stamped now (after the drain began).
 *
 * Drain 1: ring 0 gives A (old); then CPU 0 writes B, after ring 0 was read; ring 1 gives
 *          C (old) and D, written after B. Delivering D now would put it before B.
 * Drain 2: ring 0 gives B; ring 1 nothing.
 */
struct script {
	int drain;
	uint64_t base;	   /* a time before the first drain */
	uint64_t b_ts;	   /* B's stamp, kept for drain 2 */
};

static int consume(struct loader *ld, void *arg)
{
	struct script *s = arg;
	uint64_t now;

	switch (++s->drain) {
	case 1:
		put(ld, 'A', s->base + 10); /* ring 0 */
		now = mono_ns();
		s->b_ts = now + 1;	    /* CPU 0 writes B: ring 0 is read already */
		put(ld, 'C', s->base + 20); /* ring 1 */
		put(ld, 'D', now + 2);	    /* ring 1, after B */
		return 3;
	case 2:
		put(ld, 'B', s->b_ts); /* ring 0 */
		return 1;
	default:
		return 0;
	}
}

TEST(record_newer_than_the_drain_waits_for_the_older_one_of_another_ring)
{
	struct script s = {.base = mono_ns() - OLD_NS};
	struct loader *ld = loader__new_for_test(on_rec, NULL, consume, &s);
	struct timespec pause = {.tv_nsec = 10000000};
	int i;

	CHECK(ld != NULL);
	if (!ld)
		return;
	n_seen = 0;
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 2);
	CHECK_EQ_INT(n_seen, 2);
	CHECK(seen_id[0] == 'A' && seen_id[1] == 'C');
	CHECK_EQ_INT(loader__carried(ld), 1); /* D */
	CHECK_EQ_INT(loader__pending(ld), 0);
	nanosleep(&pause, NULL); /* B and D grow older than the time a record may take to commit */
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 2);
	CHECK_EQ_INT(n_seen, 4);
	CHECK(seen_id[2] == 'B' && seen_id[3] == 'D');
	for (i = 1; i < n_seen; i++)
		CHECK(seen_ts[i - 1] <= seen_ts[i]);
	CHECK_EQ_INT(loader__carried(ld), 0);
	/* Nothing more: an empty drain. */
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 0);
	CHECK_EQ_INT(n_seen, 4);
	loader__stop(ld);
}

/* Drain 1 gives five old records out of order across two rings. */
static int consume_five(struct loader *ld, void *arg)
{
	int *drains = arg;
	uint64_t t = mono_ns() - OLD_NS;

	if (++*drains > 1)
		return 0;
	put(ld, 1, t + 10); /* ring 0 */
	put(ld, 3, t + 30);
	put(ld, 5, t + 50);
	put(ld, 2, t + 20); /* ring 1 */
	put(ld, 4, t + 40);
	return 5;
}

TEST(budget_leaves_the_rest_pending_and_the_rings_unread)
{
	struct loader *ld;
	int drains = 0;

	ld = loader__new_for_test(on_rec, NULL, consume_five, &drains);
	CHECK(ld != NULL);
	if (!ld)
		return;
	n_seen = 0;
	CHECK_EQ_INT(loader__poll(ld, 2, false), 2);
	CHECK_EQ_INT(loader__pending(ld), 3);
	CHECK_EQ_INT(drains, 1);
	CHECK_EQ_INT(loader__poll(ld, 0, false), 0);
	CHECK_EQ_INT(loader__poll(ld, 2, false), 2);
	CHECK_EQ_INT(drains, 1); /* the rings wait while records do */
	CHECK_EQ_INT(loader__poll(ld, 10, false), 1);
	CHECK_EQ_INT(loader__pending(ld), 0);
	CHECK_EQ_INT(n_seen, 5);
	CHECK(seen_id[0] == 1 && seen_id[1] == 2 && seen_id[2] == 3 && seen_id[3] == 4 &&
	      seen_id[4] == 5);
	CHECK_EQ_INT(loader__poll(ld, 10, false), 0);
	CHECK_EQ_INT(drains, 2);
	loader__stop(ld);
}

/*
 * Drain 1: ring 0 gives nothing: X, stamped 150 us before the drain, is still being written;
 *          ring 1 gives Y, stamped 100 us before the drain, after X.
 * Drain 2, 10 ms later: ring 0 gives X, committed meanwhile. Y must not have gone before it.
 */
struct uncommitted {
	int drain;
	uint64_t x_ts;
};

static int consume_uncommitted(struct loader *ld, void *arg)
{
	struct uncommitted *u = arg;

	switch (++u->drain) {
	case 1:
		u->x_ts = mono_ns() - 150000;
		put(ld, 'Y', u->x_ts + 50000); /* ring 1 */
		return 1;
	case 2:
		put(ld, 'X', u->x_ts); /* ring 0 */
		return 1;
	default:
		return 0;
	}
}

TEST(record_stamped_just_before_the_drain_waits_for_one_still_being_written)
{
	struct timespec pause = {.tv_nsec = 10000000};
	struct uncommitted u = {0};
	struct loader *ld;

	ld = loader__new_for_test(on_rec, NULL, consume_uncommitted, &u);
	CHECK(ld != NULL);
	if (!ld)
		return;
	n_seen = 0;
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 0);
	CHECK_EQ_INT(n_seen, 0);
	CHECK_EQ_INT(loader__carried(ld), 1); /* Y */
	nanosleep(&pause, NULL);
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 2);
	CHECK_EQ_INT(n_seen, 2);
	CHECK(seen_id[0] == 'X' && seen_id[1] == 'Y');
	CHECK_EQ_INT(loader__carried(ld), 0);
	loader__stop(ld);
}

/* One record stamped in the future of every drain: only shutdown delivers it. */
static int consume_future(struct loader *ld, void *arg)
{
	int *drains = arg;

	if (++*drains > 1)
		return 0;
	put(ld, 9, mono_ns() + 3600ULL * 1000000000ULL);
	return 1;
}

TEST(shutdown_delivers_carried_records)
{
	struct loader *ld;
	int drains = 0;

	ld = loader__new_for_test(on_rec, NULL, consume_future, &drains);
	CHECK(ld != NULL);
	if (!ld)
		return;
	n_seen = 0;
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 0);
	CHECK_EQ_INT(loader__carried(ld), 1);
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, false), 0); /* still newer than the drain */
	CHECK_EQ_INT(loader__carried(ld), 1);
	CHECK_EQ_INT(loader__poll(ld, (size_t)-1, true), 1);
	CHECK_EQ_INT(n_seen, 1);
	CHECK(seen_id[0] == 9);
	CHECK_EQ_INT(loader__carried(ld), 0);
	loader__stop(ld);
}

int main(void)
{
	RUN(record_newer_than_the_drain_waits_for_the_older_one_of_another_ring);
	RUN(record_stamped_just_before_the_drain_waits_for_one_still_being_written);
	RUN(budget_leaves_the_rest_pending_and_the_rings_unread);
	RUN(shutdown_delivers_carried_records);
	UNIT_DONE();
}
