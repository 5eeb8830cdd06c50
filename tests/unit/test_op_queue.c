/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the decoders' request queue (agent/decoders/op_queue.c): entries come out in
 * the order they went in across the ring's wrap-around and its growth, push_front puts one
 * before them all, the bound refuses and counts, clear empties it and keeps the memory.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/op_queue.h"
#include "unit.h"

/* An entry of an odd size, so that a mistake in the stride shows. */
struct ent {
	uint32_t seq;
	uint8_t pad[13];
};

static struct ent *push_seq(struct op_queue *q, uint32_t seq)
{
	struct ent *e = op_queue__push(q);

	if (e) {
		e->seq = seq;
		memset(e->pad, (int)(seq & 0xff), sizeof(e->pad));
	}
	return e;
}

/* The entries hold first, first + 1, ... in order, pads intact. */
static int check_run(const struct op_queue *q, uint32_t first)
{
	uint32_t i, k;
	int bad = 0;

	for (i = 0; i < op_queue__len(q); i++) {
		const struct ent *e = op_queue__at(q, i);

		if (e->seq != first + i)
			bad++;
		for (k = 0; k < sizeof(e->pad); k++)
			if (e->pad[k] != (uint8_t)(first + i))
				bad++;
	}
	return bad;
}

TEST(test_init_rounds_max)
{
	struct op_queue q;

	op_queue__init(&q, sizeof(struct ent), 100);
	CHECK_EQ_INT(q.max, 128);
	CHECK_EQ_INT(q.elem, sizeof(struct ent));
	CHECK_EQ_INT(op_queue__len(&q), 0);
	CHECK(op_queue__front(&q) == NULL);
	CHECK(op_queue__back(&q) == NULL);
	op_queue__pop(&q); /* nothing to drop: no harm */
	CHECK_EQ_INT(op_queue__len(&q), 0);
	op_queue__free(&q);
	op_queue__init(&q, sizeof(struct ent), 64);
	CHECK_EQ_INT(q.max, 64);
	op_queue__free(&q);
}

/* Pops move the head along, pushes wrap around the ring's end, then growth keeps the order. */
TEST(test_wrap_then_grow_keeps_order)
{
	struct op_queue q;
	uint32_t next = 0, first = 0, i, round;

	op_queue__init(&q, sizeof(struct ent), 64);
	for (i = 0; i < 3; i++)
		CHECK(push_seq(&q, next++) != NULL);
	CHECK_EQ_INT(q.cap, 4);
	for (round = 0; round < 10; round++) {
		/* one out, one in: the live entries straddle the ring's end every other time */
		op_queue__pop(&q);
		first++;
		CHECK(push_seq(&q, next++) != NULL);
		CHECK_EQ_INT(q.cap, 4);
		CHECK_EQ_INT(check_run(&q, first), 0);
	}
	CHECK(q.head != 0); /* wrapped: the growth below copies two pieces */
	for (i = 0; i < 30; i++) {
		CHECK(push_seq(&q, next++) != NULL);
		CHECK_EQ_INT(check_run(&q, first), 0);
	}
	CHECK_EQ_INT(op_queue__len(&q), 33);
	CHECK_EQ_INT(q.cap, 64);
	CHECK_EQ_INT(((struct ent *)op_queue__front(&q))->seq, first);
	CHECK_EQ_INT(((struct ent *)op_queue__back(&q))->seq, next - 1);
	while (op_queue__len(&q)) {
		CHECK_EQ_INT(((struct ent *)op_queue__front(&q))->seq, first);
		op_queue__pop(&q);
		first++;
	}
	CHECK_EQ_INT(first, next);
	CHECK_EQ_INT(q.refused, 0);
	op_queue__free(&q);
}

/* Growth while the ring is full and its head in the middle. */
TEST(test_grow_from_full_wrapped_ring)
{
	struct op_queue q;
	uint32_t next = 0, first = 0, i;

	op_queue__init(&q, sizeof(struct ent), 16);
	for (i = 0; i < 4; i++)
		push_seq(&q, next++);
	op_queue__pop(&q);
	op_queue__pop(&q);
	first = 2;
	push_seq(&q, next++);
	push_seq(&q, next++);
	CHECK_EQ_INT(q.cap, 4);
	CHECK_EQ_INT(q.head, 2);
	CHECK_EQ_INT(op_queue__len(&q), 4);
	CHECK(push_seq(&q, next++) != NULL);
	CHECK_EQ_INT(q.cap, 8);
	CHECK_EQ_INT(q.head, 0);
	CHECK_EQ_INT(op_queue__len(&q), 5);
	CHECK_EQ_INT(check_run(&q, first), 0);
	op_queue__free(&q);
}

TEST(test_push_front)
{
	struct op_queue q;
	struct ent *e;
	uint32_t i;

	op_queue__init(&q, sizeof(struct ent), 8);
	/* on an empty queue it is the only entry */
	e = op_queue__push_front(&q);
	CHECK(e != NULL);
	e->seq = 100;
	CHECK_EQ_INT(op_queue__len(&q), 1);
	CHECK(op_queue__front(&q) == e && op_queue__back(&q) == e);
	op_queue__pop(&q);
	for (i = 1; i <= 3; i++)
		push_seq(&q, i);
	e = op_queue__push_front(&q);
	CHECK(e != NULL);
	e->seq = 0;
	memset(e->pad, 0, sizeof(e->pad));
	CHECK_EQ_INT(op_queue__len(&q), 4);
	CHECK_EQ_INT(check_run(&q, 0), 0);
	/* once more: the ring is full, it grows, the new one still goes first */
	e = op_queue__push_front(&q);
	CHECK(e != NULL);
	CHECK_EQ_INT(q.cap, 8);
	e->seq = UINT32_MAX;
	memset(e->pad, 0xff, sizeof(e->pad));
	CHECK_EQ_INT(op_queue__len(&q), 5);
	CHECK_EQ_INT(check_run(&q, UINT32_MAX), 0);
	CHECK_EQ_INT(((struct ent *)op_queue__back(&q))->seq, 3);
	op_queue__free(&q);
}

/* At the bound, a push at either end is refused and counted; what was queued stays as it was. */
TEST(test_bound_refuses_and_counts)
{
	struct op_queue q;
	uint32_t i;

	op_queue__init(&q, sizeof(struct ent), 8);
	for (i = 0; i < 8; i++)
		CHECK(push_seq(&q, i) != NULL);
	CHECK_EQ_INT(q.refused, 0);
	CHECK(op_queue__push(&q) == NULL);
	CHECK(op_queue__push(&q) == NULL);
	CHECK(op_queue__push_front(&q) == NULL);
	CHECK_EQ_INT(q.refused, 3);
	CHECK_EQ_INT(op_queue__len(&q), 8);
	CHECK_EQ_INT(q.cap, 8);
	CHECK_EQ_INT(check_run(&q, 0), 0);
	/* room again once one is answered */
	op_queue__pop(&q);
	CHECK(push_seq(&q, 8) != NULL);
	CHECK_EQ_INT(check_run(&q, 1), 0);
	CHECK_EQ_INT(q.refused, 3);
	op_queue__free(&q);

	/* a bound below the first allocation: that is the whole ring */
	op_queue__init(&q, sizeof(struct ent), 2);
	CHECK(push_seq(&q, 0) != NULL);
	CHECK(push_seq(&q, 1) != NULL);
	CHECK(op_queue__push(&q) == NULL);
	CHECK_EQ_INT(q.cap, 2);
	CHECK_EQ_INT(q.refused, 1);
	op_queue__free(&q);
}

TEST(test_clear_keeps_memory)
{
	struct op_queue q;
	uint8_t *buf;
	uint32_t i;

	op_queue__init(&q, sizeof(struct ent), 16);
	for (i = 0; i < 6; i++)
		push_seq(&q, i);
	op_queue__pop(&q);
	buf = q.buf;
	CHECK_EQ_INT(q.cap, 8);
	op_queue__clear(&q);
	CHECK_EQ_INT(op_queue__len(&q), 0);
	CHECK(op_queue__front(&q) == NULL);
	CHECK(q.buf == buf);
	CHECK_EQ_INT(q.cap, 8);
	for (i = 0; i < 8; i++)
		CHECK(push_seq(&q, 50 + i) != NULL);
	CHECK(q.buf == buf); /* no new allocation for what fits */
	CHECK_EQ_INT(check_run(&q, 50), 0);
	op_queue__free(&q);
	CHECK(q.buf == NULL);
	CHECK_EQ_INT(op_queue__len(&q), 0);
	/* a freed queue can be used again */
	CHECK(push_seq(&q, 7) != NULL);
	CHECK_EQ_INT(check_run(&q, 7), 0);
	op_queue__free(&q);
}

int main(void)
{
	RUN(test_init_rounds_max);
	RUN(test_wrap_then_grow_keeps_order);
	RUN(test_grow_from_full_wrapped_ring);
	RUN(test_push_front);
	RUN(test_bound_refuses_and_counts);
	RUN(test_clear_keeps_memory);
	UNIT_DONE();
}
