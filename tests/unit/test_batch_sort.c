// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The time order of a poll's records (loader__sort_batch): runs as the rings give them, one
 * ring after the other, and random input, against a plain stable sort; ties keep their order.
 */
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "unit.h"

#define N 5000

static struct batch_rec recs[N], want[N], tmp[N];
static size_t runs[N + 1];

static int by_ts_then_order(const void *a, const void *b)
{
	const struct batch_rec *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

/* n records from rings one after the other (rings 0: random times). */
static void fill(size_t n, int rings, uint64_t jitter, uint32_t seed)
{
	size_t i, per = rings ? n / rings : 1;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		/* ring k's records are in order but for a little jitter; rings overlap in time */
		recs[i].ts = 1000 + (i % (per ? per : 1)) * 10 + (jitter ? (seed >> 8) % jitter : 0);
		if (!rings)
			recs[i].ts = seed >> 4;
		recs[i].off = (uint32_t)i;
		recs[i].size = 1;
		recs[i].order = (uint32_t)i;
	}
	memcpy(want, recs, n * sizeof(*recs));
	qsort(want, n, sizeof(*want), by_ts_then_order);
}

static bool same(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (recs[i].order != want[i].order || recs[i].ts != want[i].ts)
			return false;
	return true;
}

TEST(sorted_stays)
{
	fill(N, 1, 0, 1);
	loader__sort_batch(recs, N, tmp, runs);
	CHECK(same(N));
}

TEST(rings_one_after_the_other)
{
	int rings;

	for (rings = 2; rings <= 7; rings++) {
		fill(N, rings, 0, 2);
		loader__sort_batch(recs, N, tmp, runs);
		CHECK(same(N));
		fill(N - 3, rings, 25, 3); /* a little disorder inside each ring too */
		loader__sort_batch(recs, N - 3, tmp, runs);
		CHECK(same(N - 3));
	}
}

TEST(ties_keep_arrival_order)
{
	size_t i;

	for (i = 0; i < 100; i++) {
		recs[i].ts = i < 50 ? 10 + i % 3 : i % 3 + 10;
		recs[i].order = (uint32_t)i;
	}
	memcpy(want, recs, 100 * sizeof(*recs));
	qsort(want, 100, sizeof(*want), by_ts_then_order);
	loader__sort_batch(recs, 100, tmp, runs);
	CHECK(same(100));
}

TEST(random_and_small)
{
	size_t n;

	fill(N, 0, 0, 4);
	loader__sort_batch(recs, N, tmp, runs);
	CHECK(same(N));
	for (n = 0; n < 6; n++) {
		fill(n, 0, 0, (uint32_t)n + 9);
		loader__sort_batch(recs, n, tmp, runs);
		CHECK(same(n));
	}
	/* no scratch: still sorted */
	fill(N, 3, 0, 5);
	loader__sort_batch(recs, N, NULL, NULL);
	CHECK(same(N));
}

int main(void)
{
	RUN(sorted_stays);
	RUN(rings_one_after_the_other);
	RUN(ties_keep_arrival_order);
	RUN(random_and_small);
	UNIT_DONE();
}
