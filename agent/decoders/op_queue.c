// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The requests waiting for their answers: a growable ring per connection (op_queue.h). */
#include <stdlib.h>
#include <string.h>

#include "decoders/op_queue.h"

#define OP_QUEUE_FIRST 4 /* entries at the first push: most connections never have more */

void op_queue__init(struct op_queue *q, size_t elem, uint32_t max)
{
	uint32_t m = 1;

	while (m < max)
		m <<= 1;
	memset(q, 0, sizeof(*q));
	q->elem = (uint32_t)elem;
	q->max = m;
}

void op_queue__free(struct op_queue *q)
{
	free(q->buf);
	q->buf = NULL;
	q->cap = q->len = q->head = 0;
}

/* Room for one more entry: the ring doubles, its entries moved to the start. */
bool op_queue__room(struct op_queue *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : (OP_QUEUE_FIRST < q->max ? OP_QUEUE_FIRST : q->max);
	uint32_t first;
	uint8_t *nb;

	if (q->len < q->cap)
		return true;
	if (q->cap >= q->max || !(nb = malloc((size_t)cap * q->elem))) {
		q->refused++;
		return false;
	}
	/* the entries from head to the end of the old ring, then those that wrapped */
	first = q->cap - q->head < q->len ? q->cap - q->head : q->len;
	if (q->len) {
		memcpy(nb, q->buf + (size_t)q->head * q->elem, (size_t)first * q->elem);
		memcpy(nb + (size_t)first * q->elem, q->buf, (size_t)(q->len - first) * q->elem);
	}
	free(q->buf);
	q->buf = nb;
	q->cap = cap;
	q->head = 0;
	return true;
}

void *op_queue__push_front(struct op_queue *q)
{
	if (!op_queue__room(q))
		return NULL;
	q->head = (q->head - 1) & (q->cap - 1);
	q->len++;
	return op_queue__at(q, 0);
}

void op_queue__clear(struct op_queue *q)
{
	q->head = 0;
	q->len = 0;
}
