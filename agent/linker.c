// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The thread table behind parent/child linking inside a process: per thread (in Go: per
 * goroutine), the last few server spans it began, each with the time it began and the time its response started. A
 * call made by the thread at time t belongs to the span open at t that began last.
 */
#include <stdlib.h>
#include <string.h>

#include "linker.h"

#define THREAD_BUCKETS 8192
#define THREAD_MAX 65536
#define SLOTS 8 /* server spans remembered per thread */
/* A request still open after this long is not taken as a parent any more (a stuck or long-poll
 * request would otherwise adopt every later call of an event-loop thread). */
#define OPEN_MAX_NS (60ULL * 1000000000ULL)

struct slot {
	uint64_t start_ns;
	uint64_t end_ns; /* 0 while open */
	uint64_t last_child_end_ns; /* when the last call made for it ended, 0: none yet */
	uint32_t children;	    /* calls given this span as parent */
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

struct thread {
	struct thread *next;
	uint64_t actor; /* the thread id, or in Go the goroutine (its g) */
	uint32_t tgid;
	uint64_t last_ns;
	unsigned int head; /* next slot to write */
	struct slot slots[SLOTS];
};

struct linker {
	struct thread *buckets[THREAD_BUCKETS];
	struct linker_stats st;
};

static unsigned int bucket_of(uint32_t tgid, uint64_t actor)
{
	return (unsigned int)(((actor ^ ((uint64_t)tgid << 40)) * 0x9E3779B97F4A7C15ULL) >> 51) %
	       THREAD_BUCKETS;
}

struct linker *linker__new(void)
{
	return calloc(1, sizeof(struct linker));
}

void linker__free(struct linker *l)
{
	struct thread *t, *n;
	int i;

	if (!l)
		return;
	for (i = 0; i < THREAD_BUCKETS; i++)
		for (t = l->buckets[i]; t; t = n) {
			n = t->next;
			free(t);
		}
	free(l);
}

static struct thread *thread_find(struct linker *l, uint32_t tgid, uint64_t actor)
{
	struct thread *t;

	for (t = l->buckets[bucket_of(tgid, actor)]; t; t = t->next)
		if (t->actor == actor && t->tgid == tgid)
			return t;
	return NULL;
}

void linker__server_begin(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t start_ns,
			  const uint8_t trace_id[16], const uint8_t span_id[8])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *s;

	if (!t) {
		if (l->st.threads >= THREAD_MAX) {
			l->st.dropped++;
			return;
		}
		t = calloc(1, sizeof(*t));
		if (!t) {
			l->st.dropped++;
			return;
		}
		t->actor = tid;
		t->tgid = tgid;
		t->next = l->buckets[bucket_of(tgid, tid)];
		l->buckets[bucket_of(tgid, tid)] = t;
		l->st.threads++;
	}
	s = &t->slots[t->head];
	t->head = (t->head + 1) % SLOTS;
	s->start_ns = start_ns;
	s->end_ns = 0;
	s->last_child_end_ns = 0;
	s->children = 0;
	memcpy(s->trace_id, trace_id, 16);
	memcpy(s->span_id, span_id, 8);
	t->last_ns = start_ns;
}

void linker__server_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t span_id[8],
			uint64_t end_ns)
{
	struct thread *t = thread_find(l, tgid, tid);
	int i;

	if (!t)
		return;
	for (i = 0; i < SLOTS; i++)
		if (!t->slots[i].end_ns && t->slots[i].start_ns &&
		    !memcmp(t->slots[i].span_id, span_id, 8)) {
			t->slots[i].end_ns = end_ns > t->slots[i].start_ns ? end_ns
									  : t->slots[i].start_ns;
			break;
		}
	if (end_ns > t->last_ns)
		t->last_ns = end_ns;
}

/*
 * With one request open on the thread at ts, it is the parent. With several (an event loop),
 * the choice follows how such servers run: a handler calls out as soon as it has read its
 * request, or right after an earlier call of its own came back. So: the oldest open request
 * that has no call yet; else the one whose last call ended last before ts; else the latest.
 */
bool linker__parent_at(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
		       uint8_t trace_id[16], uint8_t span_id[8])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *latest = NULL, *no_call = NULL, *resumed = NULL, *s, *best;
	int i, n = 0;

	l->st.lookups++;
	if (!t)
		return false;
	for (i = 0; i < SLOTS; i++) {
		s = &t->slots[i];
		if (!s->start_ns || s->start_ns > ts)
			continue;
		if (s->end_ns ? s->end_ns < ts : ts - s->start_ns > OPEN_MAX_NS)
			continue;
		n++;
		if (!latest || s->start_ns > latest->start_ns)
			latest = s;
		if (!s->children && (!no_call || s->start_ns < no_call->start_ns))
			no_call = s;
		if (s->last_child_end_ns && s->last_child_end_ns <= ts &&
		    (!resumed || s->last_child_end_ns > resumed->last_child_end_ns))
			resumed = s;
	}
	if (!latest)
		return false;
	best = latest;
	if (n > 1) {
		l->st.ambiguous++;
		best = no_call ? no_call : resumed ? resumed : latest;
	}
	best->children++;
	l->st.linked++;
	memcpy(trace_id, best->trace_id, 16);
	memcpy(span_id, best->span_id, 8);
	return true;
}

void linker__server_retrace(struct linker *l, uint32_t tgid, uint64_t tid,
			    const uint8_t span_id[8], const uint8_t trace_id[16])
{
	struct thread *t = thread_find(l, tgid, tid);
	int i;

	if (!t)
		return;
	for (i = 0; i < SLOTS; i++)
		if (t->slots[i].start_ns && !memcmp(t->slots[i].span_id, span_id, 8)) {
			memcpy(t->slots[i].trace_id, trace_id, 16);
			return;
		}
}

void linker__child_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t parent_id[8],
		       uint64_t end_ns)
{
	struct thread *t = thread_find(l, tgid, tid);
	int i;

	if (!t)
		return;
	for (i = 0; i < SLOTS; i++)
		if (t->slots[i].start_ns && !memcmp(t->slots[i].span_id, parent_id, 8)) {
			if (end_ns > t->slots[i].last_child_end_ns)
				t->slots[i].last_child_end_ns = end_ns;
			return;
		}
}

void linker__expire(struct linker *l, uint64_t older_than)
{
	struct thread **p, *t;
	int i;

	for (i = 0; i < THREAD_BUCKETS; i++) {
		p = &l->buckets[i];
		while ((t = *p)) {
			if (t->last_ns < older_than) {
				*p = t->next;
				free(t);
				l->st.threads--;
				continue;
			}
			p = &t->next;
		}
	}
}

void linker__stats(const struct linker *l, struct linker_stats *out)
{
	*out = l->st;
}
