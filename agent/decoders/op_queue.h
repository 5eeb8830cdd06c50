/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The queue of requests sent and not yet answered, one per connection, for every decoder: a
 * ring of fixed-size entries (the decoder's own struct), oldest first, that grows on demand up
 * to a bound. A push past the bound is refused and counted: a deeper pipeline than sonde
 * follows loses that request, never memory.
 */
#ifndef SONDE_OP_QUEUE_H
#define SONDE_OP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct op_queue {
	uint8_t *buf;	   /* cap entries of elem bytes */
	uint32_t elem;	   /* bytes of one entry */
	uint32_t cap;	   /* entries allocated (a power of two, or 0) */
	uint32_t max;	   /* entries at most (a power of two) */
	uint32_t head;	   /* index of the oldest entry */
	uint32_t len;	   /* entries queued */
	uint64_t refused;  /* pushes refused: the queue was at max, or no memory */
};

/* An empty queue of entries of elem bytes, at most max (rounded up to a power of two). */
void op_queue__init(struct op_queue *q, size_t elem, uint32_t max);
void op_queue__free(struct op_queue *q);

static inline uint32_t op_queue__len(const struct op_queue *q)
{
	return q->len;
}

/* Entry i, 0 the oldest; i < len. */
static inline void *op_queue__at(const struct op_queue *q, uint32_t i)
{
	return q->buf + (size_t)((q->head + i) & (q->cap - 1)) * q->elem;
}

static inline void *op_queue__front(const struct op_queue *q)
{
	return q->len ? op_queue__at(q, 0) : NULL;
}

static inline void *op_queue__back(const struct op_queue *q)
{
	return q->len ? op_queue__at(q, q->len - 1) : NULL;
}

/* Room for one more entry (the ring grows, up to max); false: refused, counted. */
bool op_queue__room(struct op_queue *q);

/* A new entry at the back, its bytes as they were (the caller fills it), or NULL (counted). */
static inline void *op_queue__push(struct op_queue *q)
{
	if (q->len == q->cap && !op_queue__room(q))
		return NULL;
	q->len++;
	return op_queue__at(q, q->len - 1);
}

/* A new entry at the front (it is answered next), or NULL (counted). */
void *op_queue__push_front(struct op_queue *q);

/* Drop the oldest entry. */
static inline void op_queue__pop(struct op_queue *q)
{
	if (!q->len)
		return;
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
}
/* Drop every entry (the memory stays). */
void op_queue__clear(struct op_queue *q);

#endif /* SONDE_OP_QUEUE_H */
