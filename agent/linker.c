// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The thread table behind parent/child linking inside a process: per thread (in Go: per
 * goroutine), the server spans it began lately, each with the time it began and the time its
 * response started, and the reads that lately woke the thread on a request's behalf (the
 * request itself, or the answer to one of its calls). A call made by the thread at time t
 * belongs to the span open at t; with several open (an event loop), to the one whose read
 * woke the thread last before the call was decided, else by how event loops run (see
 * linker__parent_at). A thread created while its creator served a request takes that request
 * on for its first call, while the creator serves it (a handler's worker), unless its process
 * is known to pool such threads.
 */
#include <stdlib.h>
#include <string.h>

#include "linker.h"

#define THREAD_BUCKETS 8192
#define THREAD_MAX 65536
/* Server spans remembered per thread: a thread-per-request server needs one or two, an event
 * loop as many as it has requests in flight, so the table grows on demand up to the most. */
#define SLOTS_MIN 4
#define SLOTS_MAX 128
/* The reads (wake-ups) remembered per thread: four times its slots (a request's own read, and
 * the answers to its calls). */
#define WAKES_PER_SLOT 4
/* A request still open after this long is not taken as a parent any more (a stuck or long-poll
 * request would otherwise adopt every later call of an event-loop thread). */
#define OPEN_MAX_NS (60ULL * 1000000000ULL)

struct slot {
	uint64_t start_ns;
	uint64_t end_ns; /* 0 while open */
	uint64_t last_child_end_ns; /* when the last call made for it ended, 0: none yet */
	uint32_t children;	    /* calls given this span as parent */
	uint64_t creator;	    /* a span taken on from the thread that created this one:
				     * that thread's actor (its slot tells when it ends); else 0 */
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

/* A read that woke the thread for a request: its span id, and when. */
struct wake {
	uint64_t ts;
	uint64_t seq; /* the thread's count of wakes when noted: the order of reads of one time */
	uint8_t span_id[8];
};

struct thread {
	struct thread *next;
	uint64_t actor; /* the thread id, or in Go the goroutine (its g) */
	uint32_t tgid;
	uint64_t last_ns;
	unsigned int head;    /* next slot to write */
	unsigned int n_slots; /* slots allocated */
	unsigned int wake_head;
	unsigned int n_wakes;
	uint64_t wake_seq;
	uint64_t wake_lost_ts; /* the latest wake the ring has overwritten */
	struct wake *wakes;
	struct batch_memo *memo; /* the latest pipelined write's parents, once asked */
	struct slot *slots;
};

/* Processes found to pool the threads their handlers create (see outlived): at most this many
 * are remembered, the oldest forgotten first. */
#define POOLS_MAX 64

struct linker {
	struct thread *buckets[THREAD_BUCKETS];
	uint32_t pools[POOLS_MAX];
	unsigned int pools_head;
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

static void thread_free(struct thread *t)
{
	free(t->memo);
	free(t->slots);
	free(t->wakes);
	free(t);
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
			thread_free(t);
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

/* The slot of span_id, searched from the oldest (requests mostly end in the order they came). */
static struct slot *slot_of(struct thread *t, const uint8_t span_id[8])
{
	unsigned int i;
	struct slot *s;

	for (i = 0; i < t->n_slots; i++) {
		s = &t->slots[(t->head + i) % t->n_slots];
		if (s->start_ns && !memcmp(s->span_id, span_id, 8))
			return s;
	}
	return NULL;
}

static bool span_id_zero(const uint8_t id[8])
{
	static const uint8_t zero[8];

	return !memcmp(id, zero, 8);
}

/* A read woke t at ts for the request span_id; all zero: for a request not known (the answer to
 * a call that got no parent). */
static void wake(struct thread *t, uint64_t ts, const uint8_t span_id[8])
{
	struct wake *w;

	if (!t->n_wakes)
		return;
	w = &t->wakes[t->wake_head];
	t->wake_head = (t->wake_head + 1) % t->n_wakes;
	if (w->ts > t->wake_lost_ts)
		t->wake_lost_ts = w->ts;
	w->ts = ts;
	w->seq = ++t->wake_seq;
	memcpy(w->span_id, span_id, 8);
}

/*
 * The slot to write a new server span in: the next in turn (the oldest), unless that one is
 * still open and the table can grow, as on an event loop with many requests in flight. Looking
 * at one slot only keeps a busy thread's begin cheap; a thread-per-request server stays at
 * SLOTS_MIN, its ended spans kept a few requests long (one may still join its caller's trace).
 */
static struct slot *slot_for_new(struct thread *t)
{
	unsigned int n;
	struct slot *s;

	if (t->n_slots) {
		s = &t->slots[t->head % t->n_slots];
		if (!s->start_ns || s->end_ns || t->n_slots >= SLOTS_MAX) {
			t->head = (t->head + 1) % t->n_slots;
			return s;
		}
	}
	if (t->n_slots < SLOTS_MAX) {
		struct wake *w;

		n = t->n_slots ? t->n_slots * 2 : SLOTS_MIN;
		w = realloc(t->wakes, n * WAKES_PER_SLOT * sizeof(*w));
		if (w) {
			/* the ring's order does not matter: lookups scan it all */
			memset(w + t->n_wakes, 0, (n * WAKES_PER_SLOT - t->n_wakes) * sizeof(*w));
			t->wake_head = t->n_wakes;
			t->wakes = w;
			t->n_wakes = n * WAKES_PER_SLOT;
		}
		s = realloc(t->slots, n * sizeof(*s));
		if (s) {
			memset(s + t->n_slots, 0, (n - t->n_slots) * sizeof(*s));
			t->slots = s;
			t->head = t->n_slots + 1;
			s = &t->slots[t->n_slots];
			t->n_slots = n;
			return s;
		}
	}
	if (!t->n_slots)
		return NULL;
	s = &t->slots[t->head % t->n_slots];
	t->head = (t->head + 1) % t->n_slots;
	return s;
}

/* A new span in the thread's table (the thread's entry made if need be), or NULL: counted. */
static struct slot *slot_begin(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t start_ns,
			       const uint8_t trace_id[16], const uint8_t span_id[8])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *s;

	if (!t) {
		if (l->st.threads >= THREAD_MAX) {
			l->st.dropped++;
			return NULL;
		}
		t = calloc(1, sizeof(*t));
		if (!t) {
			l->st.dropped++;
			return NULL;
		}
		t->actor = tid;
		t->tgid = tgid;
		t->next = l->buckets[bucket_of(tgid, tid)];
		l->buckets[bucket_of(tgid, tid)] = t;
		l->st.threads++;
	}
	s = slot_for_new(t);
	if (!s) {
		l->st.dropped++;
		return NULL;
	}
	s->start_ns = start_ns;
	s->end_ns = 0;
	s->last_child_end_ns = 0;
	s->children = 0;
	s->creator = 0;
	memcpy(s->trace_id, trace_id, 16);
	memcpy(s->span_id, span_id, 8);
	t->last_ns = start_ns;
	wake(t, start_ns, span_id); /* reading the request (or being made for it) woke the thread */
	return s;
}

void linker__server_begin(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t start_ns,
			  const uint8_t trace_id[16], const uint8_t span_id[8])
{
	slot_begin(l, tgid, tid, start_ns, trace_id, span_id);
}

void linker__server_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t span_id[8],
			uint64_t end_ns)
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *s;

	if (!t)
		return;
	/* the first end counts: the response started (later calls: the span went out) */
	s = slot_of(t, span_id);
	if (s && !s->end_ns)
		s->end_ns = end_ns > s->start_ns ? end_ns : s->start_ns;
	if (end_ns > t->last_ns)
		t->last_ns = end_ns;
}

void linker__thread_done(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t end_ns)
{
	struct thread *t = thread_find(l, tgid, tid);
	unsigned int i;

	for (i = 0; t && i < t->n_slots; i++)
		if (t->slots[i].start_ns && !t->slots[i].end_ns && t->slots[i].start_ns <= end_ns)
			t->slots[i].end_ns = end_ns;
}

static bool open_at(const struct slot *s, uint64_t ts)
{
	if (!s->start_ns || s->start_ns > ts)
		return false;
	return s->end_ns ? s->end_ns >= ts : ts - s->start_ns <= OPEN_MAX_NS;
}

/*
 * The slot that speaks for s: s itself, or for a span taken on from the creating thread, the
 * creator's (its end is the end, its trace the trace, should it join its caller's later). A
 * worker made for one request may serve later ones (a pool's thread made on demand), which are
 * not its creator's request: it is open only while the creator's is. NULL when the creator's
 * slot is gone (reused, expired).
 */
static struct slot *speaker(struct linker *l, const struct thread *t, struct slot *s)
{
	struct thread *c;

	if (!s->creator)
		return s;
	c = thread_find(l, t->tgid, s->creator);
	return c ? slot_of(c, s->span_id) : NULL;
}

static bool open_for(struct linker *l, const struct thread *t, struct slot *s, uint64_t ts)
{
	struct slot *sp;

	return open_at(s, ts) && (sp = speaker(l, t, s)) && (sp == s || open_at(sp, ts));
}

/*
 * Another request open at ts came in the same read as s (HTTP/2 streams, pipelined requests):
 * nothing the thread did tells which of them a call is for.
 */
static bool read_together(struct linker *l, struct thread *t, const struct slot *s, uint64_t ts)
{
	unsigned int i;

	for (i = 0; i < t->n_slots; i++)
		if (&t->slots[i] != s && t->slots[i].start_ns == s->start_ns &&
		    open_for(l, t, &t->slots[i], ts))
			return true;
	return false;
}

/*
 * With one request open on the thread at ts, it is the parent. With several (an event loop),
 * the code that made the call ran because a read woke the thread: the request's own, or the
 * answer to an earlier call of it. So the request of the last wake-up before the call was
 * decided (cause_ts: its first send, or its connect for a new connection) is the parent when it
 * is still open. Without one: the oldest open request that has no call yet; else the one whose
 * last call ended last before ts; else the latest. Without guess, several open is no parent;
 * with apart, nor is the choice when another open request came in the same read as it
 * (read_together).
 */
static struct slot *choose(struct linker *l, struct thread *t, uint64_t ts, uint64_t cause_ts,
			   bool guess, bool apart)
{
	struct slot *latest = NULL, *no_call = NULL, *resumed = NULL, *woke = NULL, *s, *best;
	const struct wake *w = NULL;
	unsigned int i;
	int n = 0;

	for (i = 0; i < t->n_slots; i++) {
		s = &t->slots[i];
		if (!open_for(l, t, s, ts))
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
		return NULL;
	best = latest;
	if (n > 1 && !guess) {
		l->st.unguessed++;
		return NULL;
	}
	if (n > 1) {
		l->st.ambiguous++;
		if (!cause_ts || cause_ts > ts)
			cause_ts = ts;
		for (i = 0; i < t->n_wakes; i++)
			if (t->wakes[i].ts && t->wakes[i].ts <= cause_ts &&
			    !span_id_zero(t->wakes[i].span_id) && (!w || t->wakes[i].ts > w->ts))
				w = &t->wakes[i];
		if (w && (woke = slot_of(t, w->span_id)) && open_for(l, t, woke, ts))
			best = woke;
		else
			best = no_call ? no_call : resumed ? resumed : latest;
		if (apart && read_together(l, t, best, ts)) {
			l->st.unguessed++;
			return NULL;
		}
	}
	return best;
}

static bool pool_known(const struct linker *l, uint32_t tgid)
{
	unsigned int i;

	for (i = 0; i < POOLS_MAX; i++)
		if (l->pools[i] == tgid)
			return true;
	return false;
}

/*
 * A thread taken on from its creator that calls again, or calls once its creator's request is
 * over, outlived the work it was made for: it is a pool's, made on demand (Java's HttpClient and
 * executors, Python's ThreadPoolExecutor), and runs later requests' work too. A thread made for
 * one request's work (a handler that starts a worker and waits for it) makes its call and ends.
 */
static bool outlived(struct linker *l, struct thread *t, uint64_t ts)
{
	unsigned int i;
	struct slot *s;

	for (i = 0; i < t->n_slots; i++) {
		s = &t->slots[i];
		if (s->creator && s->start_ns && s->start_ns <= ts &&
		    (s->children || !open_for(l, t, s, ts)))
			return true;
	}
	return false;
}

static bool parent_of(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
		      uint64_t cause_ts, bool guess, bool apart, uint8_t trace_id[16],
		      uint8_t span_id[8])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *best;

	l->st.lookups++;
	if (t && outlived(l, t, ts) && !pool_known(l, tgid)) {
		l->pools[l->pools_head++ % POOLS_MAX] = tgid;
		l->st.pools_found++;
	}
	if (!t || !(best = choose(l, t, ts, cause_ts, guess, apart)))
		return false;
	if (best->creator && (best->children || pool_known(l, tgid))) {
		/*
		 * A thread taken on from its creator lends it its first call only, and none once
		 * its process is known to pool such threads (outlived): a pool's thread made on
		 * demand for one request may run another's work first, while the first is still
		 * open (Java's HttpClient.sendAsync at 10 and 50 in flight, in fresh-clone CI
		 * runs: 1 and 4 of 100 calls under a request that had made the thread, not
		 * theirs).
		 */
		l->st.ambiguous++;
		return false;
	}
	best->children++;
	l->st.linked++;
	memcpy(trace_id, speaker(l, t, best)->trace_id, 16);
	memcpy(span_id, best->span_id, 8);
	return true;
}

static unsigned int open_count(struct linker *l, struct thread *t, uint64_t ts)
{
	unsigned int i, n = 0;

	for (i = 0; i < t->n_slots; i++)
		n += open_for(l, t, &t->slots[i], ts);
	return n;
}

/* At most this many reads are looked at for one pipelined write (a thread keeps no more). */
#define BATCH_CAUSES_MAX (SLOTS_MAX * WAKES_PER_SLOT)

/* One request the code of a read ran for: its ids, or known 0 (a call's answer, no parent). */
struct batch_cause {
	struct slot *slot;
	const struct wake *by;
};

/*
 * The parents of the requests of one pipelined write, decided at the first look (the replies
 * come later, and the reads before the write may leave the ring meanwhile): per place in the
 * write, the request's ids or none.
 */
struct batch_memo {
	uint64_t ts, after_ns;
	unsigned int n;
	struct {
		bool known;
		uint8_t trace_id[16];
		uint8_t span_id[8];
	} at[];
};

/* Whether wake a comes before wake b: by time, then (one read that answered several calls) in
 * the order the answers were noted, which is the order of the replies. */
static bool wake_before(const struct wake *a, const struct wake *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/*
 * The requests of the reads that woke t in (after_ns, ts] and are still open at ts, in the
 * order of the reads, one entry per read and request (a read that answered several calls of a
 * request woke it once; an answer to a call without a parent is an entry of its own, unnamed).
 * Returns how many, in out[].
 */
static unsigned int batch_causes(struct linker *l, struct thread *t, uint64_t after_ns,
				 uint64_t ts, struct batch_cause *out)
{
	unsigned int i, j, k, m = 0;
	const struct wake *w;
	struct slot *s;

	for (i = 0; i < t->n_wakes && m < BATCH_CAUSES_MAX; i++) {
		w = &t->wakes[i]; /* the ring's order breaks when it grows: sorted below */
		if (!w->ts || w->ts <= after_ns || w->ts > ts)
			continue;
		s = NULL;
		if (!span_id_zero(w->span_id)) {
			s = slot_of(t, w->span_id);
			if (!s || !open_for(l, t, s, ts))
				continue;
			for (k = 0; k < m && !(out[k].by->ts == w->ts && out[k].slot == s); k++)
				;
			if (k < m)
				continue;
		}
		for (j = m; j > 0 && wake_before(w, out[j - 1].by); j--)
			out[j] = out[j - 1];
		out[j].slot = s;
		out[j].by = w;
		m++;
	}
	return m;
}

/*
 * The write's parents: with as many requests as calls, all known, in order; with calls of one
 * request only, that one; else none. An unnamed entry (an answer to a call without a parent)
 * may stand for a request that has ended and wrote nothing: the count proves nothing then.
 * None too when reads of the window left the ring: the count would be short.
 */
static struct batch_memo *batch_decide(struct linker *l, struct thread *t, uint64_t ts,
				       uint64_t after_ns, unsigned int n)
{
	struct batch_cause c[BATCH_CAUSES_MAX];
	struct batch_memo *b = t->memo;
	struct slot *one = NULL;
	unsigned int m = 0, i;
	bool all_known = true;

	if (!b || b->n < n) {
		b = realloc(t->memo, sizeof(*b) + (size_t)n * sizeof(b->at[0]));
		if (!b)
			return NULL;
		t->memo = b;
	}
	b->ts = ts;
	b->after_ns = after_ns;
	b->n = n;
	for (i = 0; i < n; i++)
		b->at[i].known = false;
	if (t->wake_lost_ts > after_ns)
		return b;
	m = batch_causes(l, t, after_ns, ts, c);
	for (i = 0; i < m; i++) {
		one = i == 0 || (one && c[i].slot == one) ? c[i].slot : NULL;
		all_known = all_known && c[i].slot;
	}
	for (i = 0; i < n; i++) {
		struct slot *s = m == n && all_known ? c[i].slot : one;

		if (!s)
			continue;
		b->at[i].known = true;
		memcpy(b->at[i].trace_id, speaker(l, t, s)->trace_id, 16);
		memcpy(b->at[i].span_id, s->span_id, 8);
		s->children++;
	}
	return b;
}

bool linker__parent_in_batch(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			     uint64_t after_ns, unsigned int pos, unsigned int n,
			     uint8_t trace_id[16], uint8_t span_id[8])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct batch_memo *b;

	if (!t || !n) {
		l->st.lookups++;
		return false;
	}
	/* One request open at most: a thread that serves one at a time, whose calls are its. */
	if (open_count(l, t, ts) <= 1)
		return parent_of(l, tgid, tid, ts, ts, true, false, trace_id, span_id);
	l->st.lookups++;
	b = t->memo;
	if (!b || b->ts != ts || b->after_ns != after_ns || b->n != n)
		b = batch_decide(l, t, ts, after_ns, n);
	if (!b || pos >= b->n || !b->at[pos].known) {
		l->st.batch_unsure++;
		return false;
	}
	l->st.linked++;
	l->st.batch_linked++;
	memcpy(trace_id, b->at[pos].trace_id, 16);
	memcpy(span_id, b->at[pos].span_id, 8);
	return true;
}

bool linker__parent_at(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
		       uint64_t cause_ts, uint8_t trace_id[16], uint8_t span_id[8])
{
	return parent_of(l, tgid, tid, ts, cause_ts, true, false, trace_id, span_id);
}

bool linker__parent_apart(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			  uint64_t cause_ts, uint8_t trace_id[16], uint8_t span_id[8])
{
	return parent_of(l, tgid, tid, ts, cause_ts, true, true, trace_id, span_id);
}

bool linker__parent_if_one(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			   uint8_t trace_id[16], uint8_t span_id[8])
{
	return parent_of(l, tgid, tid, ts, 0, false, false, trace_id, span_id);
}

void linker__thread_created(struct linker *l, uint32_t tgid, uint64_t creator, uint64_t child,
			    uint64_t ts, bool guess)
{
	struct thread *t = thread_find(l, tgid, creator);
	struct slot *from, *s;

	if (!t || pool_known(l, tgid) || !(from = choose(l, t, ts, ts, guess, false)))
		return;
	s = slot_begin(l, tgid, child, ts, from->trace_id, from->span_id);
	if (!s)
		return;
	/* The creator's own span, or the one it took on itself: its end is what counts. */
	s->creator = from->creator ? from->creator : creator;
	l->st.threads_taken_on++;
}

void linker__server_retrace(struct linker *l, uint32_t tgid, uint64_t tid,
			    const uint8_t span_id[8], const uint8_t trace_id[16])
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *s;

	if (t && (s = slot_of(t, span_id)))
		memcpy(s->trace_id, trace_id, 16);
}

void linker__child_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t parent_id[8],
		       uint64_t end_ns)
{
	struct thread *t = thread_find(l, tgid, tid);
	struct slot *s = NULL;

	if (!t || !(s = slot_of(t, parent_id)))
		return;
	if (end_ns > s->last_child_end_ns)
		s->last_child_end_ns = end_ns;
	/* the answer woke the thread for the request (once: this is called again at the end) */
	if (t->n_wakes) {
		const struct wake *last = &t->wakes[(t->wake_head + t->n_wakes - 1) % t->n_wakes];

		if (last->ts != end_ns || memcmp(last->span_id, parent_id, 8))
			wake(t, end_ns, parent_id);
	}
}

void linker__unknown_end(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t end_ns)
{
	static const uint8_t none[8];
	struct thread *t = thread_find(l, tgid, tid);

	if (t)
		wake(t, end_ns, none);
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
				thread_free(t);
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
