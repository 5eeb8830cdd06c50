// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for agent/span.c: attribute storage limits and uniqueness, resource reference
 * counting, and the random ids (never zero, no repeats in a large sample).
 */
#include <errno.h>
#include <stdlib.h>

#include "span.h"
#include "unit.h"

TEST(test_attrs_set_and_find)
{
	static struct span s;
	const struct span_attr *a;

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(span__set_cstr(&s, "http.request.method", "GET"), 0);
	CHECK_EQ_INT(span__set_int(&s, "http.response.status_code", 200), 0);
	CHECK_EQ_INT(span__set_str(&s, "url.path", "/users/42?x", 9), 0);
	CHECK_EQ_INT(s.n_attrs, 3);

	a = span__find_attr(&s, "url.path");
	CHECK(a && a->type == ATTR_STR);
	if (a)
		CHECK_STRN(span__attr_str(&s, a), a->len, "/users/42");
	a = span__find_attr(&s, "http.response.status_code");
	CHECK(a && a->type == ATTR_INT && a->i == 200);
	CHECK(span__find_attr(&s, "nope") == NULL);

	/* Same key again replaces: OTLP requires unique keys. */
	CHECK_EQ_INT(span__set_int(&s, "http.response.status_code", 503), 0);
	CHECK_EQ_INT(s.n_attrs, 3);
	a = span__find_attr(&s, "http.response.status_code");
	CHECK(a && a->i == 503);
	/* And a key can change type. */
	CHECK_EQ_INT(span__set_cstr(&s, "http.response.status_code", "503"), 0);
	a = span__find_attr(&s, "http.response.status_code");
	CHECK(a && a->type == ATTR_STR);
	if (a)
		CHECK_STRN(span__attr_str(&s, a), a->len, "503");
	CHECK_EQ_INT(span__set_cstr(&s, "empty", ""), 0);
	a = span__find_attr(&s, "empty");
	CHECK(a && a->type == ATTR_STR && a->len == 0);
}

TEST(test_attrs_limits)
{
	static struct span s;
	static char big[SPAN_STR_BYTES];
	char key[SPAN_MAX_ATTRS + 1][16];
	int i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < SPAN_MAX_ATTRS; i++) {
		snprintf(key[i], sizeof(key[i]), "k%d", i);
		CHECK_EQ_INT(span__set_int(&s, key[i], i), 0);
	}
	snprintf(key[SPAN_MAX_ATTRS], sizeof(key[0]), "one.more");
	CHECK_EQ_INT(span__set_int(&s, key[SPAN_MAX_ATTRS], 1), -ENOSPC);
	CHECK_EQ_INT(span__set_cstr(&s, key[SPAN_MAX_ATTRS], "x"), -ENOSPC);
	CHECK_EQ_INT(s.n_attrs, SPAN_MAX_ATTRS);
	/* Replacing an existing key still works when the table is full. */
	CHECK_EQ_INT(span__set_int(&s, "k3", 33), 0);

	memset(&s, 0, sizeof(s));
	memset(big, 'a', sizeof(big));
	CHECK_EQ_INT(span__set_str(&s, "big", big, sizeof(big)), -ENOSPC);
	CHECK_EQ_INT(s.n_attrs, 0); /* a failed set leaves no empty slot behind */
	CHECK_EQ_INT(span__set_str(&s, "big", big, SPAN_STR_BYTES - 1), 0);
	CHECK_EQ_INT(span__set_str(&s, "more", "x", 1), -ENOSPC);
	CHECK_EQ_INT(s.n_attrs, 1);
}

TEST(test_resource_refcount)
{
	struct resource *r = resource__new(1234);
	const struct span_attr *a;

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_EQ_INT(r->refcnt, 1);
	CHECK_EQ_INT(r->pid, 1234);
	CHECK_EQ_INT(resource__set_cstr(r, "service.name", "checkout"), 0);
	CHECK_EQ_INT(resource__set_int(r, "process.pid", 1234), 0);
	a = resource__find_attr(r, "service.name");
	CHECK(a && a->type == ATTR_STR);
	if (a)
		CHECK_STRN(resource__attr_str(r, a), a->len, "checkout");
	CHECK(resource__get(r) == r);
	CHECK_EQ_INT(r->refcnt, 2);
	resource__put(r);
	CHECK_EQ_INT(r->refcnt, 1);
	resource__put(r); /* freed; ASan builds catch a leak or double free here */
	resource__put(NULL);
	CHECK(resource__get(NULL) == NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

TEST(test_ids)
{
	enum { N = 100000 };
	uint64_t *ids = malloc(N * sizeof(*ids));
	uint8_t t[16], s[8], zero[16] = {};
	int i, dups = 0, bits = 0;

	CHECK(span__id_is_zero(zero, 16));
	CHECK(!span__id_is_zero((const uint8_t *)"\0\0\0\0\0\0\0\1", 8));
	if (!ids)
		return;
	for (i = 0; i < N; i++) {
		span__new_span_id(s);
		CHECK(!span__id_is_zero(s, 8));
		memcpy(&ids[i], s, 8);
		bits += __builtin_popcountll(ids[i]);
	}
	qsort(ids, N, sizeof(*ids), cmp_u64);
	for (i = 1; i < N; i++)
		dups += ids[i] == ids[i - 1];
	CHECK_EQ_INT(dups, 0);
	/* Roughly half the bits set: a stuck or constant generator fails this. */
	CHECK(bits > N * 64 * 0.49 && bits < N * 64 * 0.51);
	for (i = 0; i < 1000; i++) {
		span__new_trace_id(t);
		CHECK(!span__id_is_zero(t, 16));
		/* Both halves random, not one 64-bit value repeated. */
		CHECK(memcmp(t, t + 8, 8) != 0);
	}
	free(ids);
}

/* A trace id whose last 7 bytes hold r (big-endian); the first 9 are noise the rule ignores. */
static void id_with_low56(uint8_t t[16], uint64_t r)
{
	int i;

	for (i = 0; i < 9; i++)
		t[i] = (uint8_t)(0xa5 + 17 * i);
	for (i = 15; i >= 9; i--, r >>= 8)
		t[i] = (uint8_t)r;
}

TEST(test_trace_sampling)
{
	const uint64_t top = (1ULL << 56) - 1, half = 1ULL << 55;
	uint8_t t[16];
	int i, kept = 0;

	/* Threshold 0 keeps every trace, the lowest id too. */
	id_with_low56(t, 0);
	CHECK(span__trace_sampled(t, 0));
	/* The boundary: kept from the threshold up, not below it. */
	id_with_low56(t, half);
	CHECK(span__trace_sampled(t, half));
	id_with_low56(t, half - 1);
	CHECK(!span__trace_sampled(t, half));
	/* Only the last 56 bits count: byte 8 is not part of them. */
	id_with_low56(t, half - 1);
	t[8] = 0xff;
	CHECK(!span__trace_sampled(t, half));
	/* 2^56 (ratio 0) keeps nothing, not even the highest value. */
	id_with_low56(t, top);
	CHECK(!span__trace_sampled(t, 1ULL << 56));
	CHECK(span__trace_sampled(t, top));
	/* Random ids at threshold 3/4 of the range: about a quarter kept (10000 draws: the
	 * standard deviation is 43, so the bounds are over 5 of them away). */
	for (i = 0; i < 10000; i++) {
		span__new_trace_id(t);
		kept += span__trace_sampled(t, 3 * (1ULL << 54));
	}
	CHECK(kept > 2250 && kept < 2750);
}

int main(void)
{
	RUN(test_attrs_set_and_find);
	RUN(test_attrs_limits);
	RUN(test_resource_refcount);
	RUN(test_ids);
	RUN(test_trace_sampling);
	UNIT_DONE();
}
