// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Linking the two ends of a connection between two traced processes of this host, for every
 * protocol: both ends see the same requests in the same order, so the server end's request is
 * the client end's oldest request not taken yet whose times can hold it. The client end keeps
 * the ids of its last requests; a server operation takes the one it answers. The records of the
 * two ends come in either order (the receiver can read a request before the sender's send
 * returns, and records of two CPUs may come in different drains): a server operation whose
 * client request is not known yet waits for it, while it goes on and, once done, as a built
 * span, for the decoder's link_wait_ns at most. One mechanism, whatever the protocol.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define LINK_RECENT 64	/* client requests remembered (a pipeline, or HTTP/2 streams in flight,
			 * this deep pairs) */
#define LINK_WAITERS 64 /* server operations waiting at once; the oldest goes on its own */
/* Within this much, the order of the two ends' timestamps means nothing: the sender's I/O is
 * stamped when its send returns, and by then the receiver, on another CPU, may have read. */
#define LINK_SKEW_NS (5ULL * 1000000ULL)

struct link_recent {
	uint64_t start_ns; /* the request's first byte, as the client saw it */
	uint64_t end_ns;   /* the answer's last byte; 0 while it goes on */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	bool valid;
	bool taken; /* a server operation took it, or went past it */
};

struct link_waiter {
	struct op_head *op;	  /* going on (the decoder's), or NULL once finished */
	struct span *sp;	  /* finished: its span, built */
	uint64_t start_ns, end_ns;
	uint64_t actor;
	uint32_t stream;  /* HTTP/2: its stream (a grpc-go handler may serve it: go_streams.h) */
	bool begun;	  /* its thread serves it in the linker (a retrace is due) */
	bool incomplete;  /* for the count when it goes */
	bool has_ctx;	  /* it joined a caller's trace by a header: another trace is not its */
	uint8_t ctx_trace[16];
};

struct link_side {
	struct link_recent recent[LINK_RECENT]; /* client: a ring of the last requests */
	uint32_t next;				/* requests recorded: the next one's number */
	uint32_t first;				/* the oldest one not taken may be this or later */
	struct link_waiter wait[LINK_WAITERS];	/* server: in arrival order */
	int n_wait;
};

/* c's link state; struct conn_link is this file's (conn.h declares it opaque). */
struct conn_link {
	struct link_side side;
};

static bool link_on(const struct assembler *a, const struct conn *c)
{
	return (a->cfg->propagation & PROPAGATION_LINK) && c->info.have_tuple;
}

static struct link_side *side_of(struct conn *c, bool create)
{
	if (!c->link && create)
		c->link = calloc(1, sizeof(*c->link));
	return c->link ? &c->link->side : NULL;
}

const uint8_t *link_recent__trace_id(const struct link_recent *r)
{
	return r->trace_id;
}

const uint8_t *link_recent__span_id(const struct link_recent *r)
{
	return r->span_id;
}

/* A span that waited goes out: counted and sent as any other. */
static void waiter_release(struct assembler *a, struct conn *c, struct link_waiter *w)
{
	if (w->sp) {
		span_out__send(a, c, w->sp, w->incomplete);
		free(w->sp);
	} else if (w->op) {
		w->op->awaiting_peer = false; /* it goes on its own */
	}
	w->sp = NULL;
	w->op = NULL;
}

/* Drop the waiters that wait no more (released before), keeping the order of the rest. */
static void waiters_compact(struct link_side *s)
{
	int i, n = 0;

	for (i = 0; i < s->n_wait; i++)
		if (s->wait[i].sp || s->wait[i].op)
			s->wait[n++] = s->wait[i];
	s->n_wait = n;
}

/* The client request r was seen: the server end's first operation that waits for it takes
 * its ids; the ones before it, too old to be its, wait no more. */
static void wake(struct assembler *a, struct conn *p, struct link_recent *r)
{
	struct link_side *s = side_of(p, false);
	struct link_waiter *w;
	int i;

	for (i = 0; s && i < s->n_wait; i++) {
		w = &s->wait[i];
		if (w->start_ns + LINK_SKEW_NS < r->start_ns) {
			waiter_release(a, p, w); /* too old to be this one: it stays on its own */
			continue;
		}
		if (w->end_ns && r->end_ns && w->end_ns > r->end_ns + LINK_SKEW_NS) {
			r->taken = true; /* a later request waits: this one's server end was lost */
			break;
		}
		r->taken = true;
		if (!w->has_ctx || !memcmp(w->ctx_trace, r->trace_id, 16)) {
			if (w->op) {
				memcpy(w->op->trace_id, r->trace_id, 16);
				memcpy(w->op->parent_id, r->span_id, 8);
			} else {
				memcpy(w->sp->trace_id, r->trace_id, 16);
				memcpy(w->sp->parent_span_id, r->span_id, 8);
			}
			if (w->begun)
				linker__server_retrace(a->linker, p->tgid, w->actor,
						       w->op ? w->op->span_id : w->sp->span_id,
						       r->trace_id);
			if (w->begun && w->stream)
				go_streams__server_retrace(
					a->go_streams, p->tgid, w->actor, w->stream,
					w->op ? w->op->span_id : w->sp->span_id, r->trace_id);
			a->st.links_tuple++;
		}
		waiter_release(a, p, w);
		break;
	}
	if (s)
		waiters_compact(s);
}

void link__client_op(struct assembler *a, struct conn *c, const struct op_head *op)
{
	struct conn *p;
	struct link_side *s;
	struct link_recent *r;

	if (!link_on(a, c))
		return;
	p = conn_table__peer(a->conns, c);
	/* Only a server end on this host can ever ask: a remote peer's requests cost nothing. */
	if (!p && !conn_is_local_peer(c))
		return;
	s = side_of(c, true);
	if (!s)
		return;
	r = &s->recent[s->next++ % LINK_RECENT];
	r->start_ns = op->start_ns;
	r->end_ns = op->end_ns > op->start_ns ? op->end_ns : 0;
	memcpy(r->trace_id, op->trace_id, 16);
	memcpy(r->span_id, op->span_id, 8);
	r->valid = true;
	r->taken = false;
	if (p && p->link && p->link->side.n_wait)
		wake(a, p, r);
}

void link__client_done(struct conn *c, const struct op_head *op)
{
	struct link_side *s = side_of(c, false);
	struct link_recent *r;
	uint32_t i;

	/* newest first: answers come in the order of the requests, the last one most often */
	for (i = 1; s && i <= LINK_RECENT && i <= s->next; i++) {
		r = &s->recent[(s->next - i) % LINK_RECENT];
		if (r->valid && !memcmp(r->span_id, op->span_id, 8)) {
			r->end_ns = op->end_ns > op->start_ns ? op->end_ns : op->start_ns;
			return;
		}
	}
}

const struct link_recent *link__take_request(struct conn *p, const struct op_head *op)
{
	struct link_side *s = side_of(p, false);
	struct link_recent *r;
	uint32_t i;

	if (!s)
		return NULL;
	/* oldest first, from the oldest that may not be taken: the ones before were */
	if (s->next - s->first > LINK_RECENT)
		s->first = s->next - LINK_RECENT;
	for (i = s->first; i != s->next; i++) {
		r = &s->recent[i % LINK_RECENT];
		if (!r->valid || r->taken) {
			if (i == s->first)
				s->first++;
			continue;
		}
		if (r->start_ns > op->start_ns + LINK_SKEW_NS)
			return NULL; /* sent after this request was read: not seen yet is ours */
		r->taken = true;
		if ((r->end_ns && r->end_ns + LINK_SKEW_NS < op->start_ns) ||
		    (r->end_ns && op->end_ns > op->start_ns && op->end_ns > r->end_ns + LINK_SKEW_NS))
			continue; /* answered before this request was read: an older one */
		return r;
	}
	return NULL;
}

bool link__may_come(struct assembler *a, struct conn *c, struct conn *p, const struct op_head *op)
{
	struct link_side *s;
	uint32_t i;

	if (!link_on(a, c))
		return false;
	/* Not announced yet: on loopback the server can read a request before the client's send
	 * returns, and the kernel announces the client's connection then. */
	if (!p)
		return conn_is_local_peer(c);
	if (p->info.role == SONDE_ROLE_SERVER || p->phase == CONN_OFF ||
	    (p->phase == CONN_DECODING && p->dec != c->dec))
		return false;
	s = side_of(p, false);
	for (i = 0; s && i < LINK_RECENT; i++)
		if (s->recent[i].valid && s->recent[i].start_ns > op->start_ns + LINK_SKEW_NS)
			return false; /* the client went past it: its request was not seen there */
	return true;
}

void link__wait(struct assembler *a, struct conn *c, struct op_head *op)
{
	struct link_side *s = side_of(c, true);
	struct link_waiter *w;

	if (!s)
		return;
	if (s->n_wait == LINK_WAITERS) {
		waiter_release(a, c, &s->wait[0]); /* the oldest goes on its own */
		waiters_compact(s);
	}
	w = &s->wait[s->n_wait++];
	memset(w, 0, sizeof(*w));
	w->op = op;
	w->start_ns = op->start_ns;
	w->actor = op->actor;
	w->stream = op->stream;
	w->begun = op->begun;
	w->has_ctx = op->has_ctx;
	memcpy(w->ctx_trace, op->ctx.trace_id, 16);
	op->awaiting_peer = true;
}

bool link__hold(struct assembler *a, struct conn *c, const struct op_head *op)
{
	struct link_side *s = side_of(c, false);
	struct link_waiter *w = NULL;
	int i;

	for (i = 0; s && i < s->n_wait; i++)
		if (s->wait[i].op == (struct op_head *)op)
			w = &s->wait[i];
	if (!w)
		return false;
	w->op = NULL;
	w->sp = malloc(sizeof(*w->sp));
	if (w->sp && !span_out__build(a, c, op, w->sp)) {
		free(w->sp);
		w->sp = NULL;
	}
	if (!w->sp) {
		waiters_compact(s);
		return true; /* nothing to send: no resource, or no memory */
	}
	w->end_ns = op->end_ns > op->start_ns ? op->end_ns : op->start_ns;
	w->incomplete = op->incomplete;
	return true;
}

void link__tick(struct assembler *a, struct conn *c, uint64_t now)
{
	struct link_side *s = side_of(c, false);
	uint64_t wait = c->dec ? c->dec->link_wait_ns : 0;
	int i;

	if (!s || !s->n_wait)
		return;
	for (i = 0; i < s->n_wait; i++)
		if (s->wait[i].sp && s->wait[i].end_ns + wait < now)
			waiter_release(a, c, &s->wait[i]);
	waiters_compact(s);
}

void link__release_all(struct assembler *a, struct conn *c)
{
	struct link_side *s = side_of(c, false);
	int i;

	for (i = 0; s && i < s->n_wait; i++)
		waiter_release(a, c, &s->wait[i]);
	if (s)
		s->n_wait = 0;
}

void link__release_ongoing(struct assembler *a, struct conn *c)
{
	struct link_side *s = side_of(c, false);
	int i;

	if (!s)
		return;
	for (i = 0; i < s->n_wait; i++)
		if (s->wait[i].op)
			waiter_release(a, c, &s->wait[i]);
	waiters_compact(s);
}

void link__free(struct conn *c)
{
	free(c->link);
	c->link = NULL;
}
