// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The span skeleton, the same for every protocol: the resource, the ids, the times and the
 * kind, then the decoder's own build_span (name, status, the protocol's attributes), then the
 * attributes of the peer and the thread, and the error of an operation left without an answer.
 * Sampling is decided here, once the span's trace is final; a span whose trace is not sampled
 * is counted but never built.
 */
#include <string.h>

#include "core.h"

struct resource *core__resource(struct assembler *a, struct conn *c)
{
	if (!c->res) {
		c->res = process_table__resource(a->procs, c->tgid, c->comm);
		if (c->res)
			resource__get(c->res);
	}
	return c->res;
}

bool span_out__build(struct assembler *a, struct conn *c, const struct op_head *op,
		     struct span *sp)
{
	memset(sp, 0, offsetof(struct span, attrs));
	if (!core__resource(a, c))
		return false;
	sp->res = c->res;
	sp->kind = c->info.role == SONDE_ROLE_SERVER ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	memcpy(sp->trace_id, op->trace_id, 16);
	memcpy(sp->span_id, op->span_id, 8);
	memcpy(sp->parent_span_id, op->parent_id, 8);
	sp->start_unix_ns = assembler__to_unix_ns(a, op->start_ns);
	sp->end_unix_ns = assembler__to_unix_ns(a, op->end_ns > op->start_ns ? op->end_ns
									      : op->start_ns);
	/* Each key is added once, on a span without it: no search for an existing one. */
	c->dec->build_span(op, sp, &c->info, a->cfg);
	if (c->info.peer_len) {
		span__add_str(sp, "network.peer.address", c->info.peer, c->info.peer_len);
		span__add_int(sp, "network.peer.port", c->info.dport);
	}
	if (op->tid && !c->info.link_go) /* a goroutine's I/O runs on any thread */
		span__add_int(sp, "thread.id", op->tid);
	if (op->incomplete && sp->status != SPAN_STATUS_ERROR) {
		sp->status = SPAN_STATUS_ERROR;
		span__add_cstr(sp, "error.type", "connection_closed");
	}
	return true;
}

/* Count one assembled span; whether it is sent. */
static bool count(struct assembler *a, struct conn *c, const uint8_t trace_id[16],
		  bool incomplete)
{
	a->st.spans++;
	if (c->dec && c->dec->db)
		a->st.spans_db++;
	if (incomplete)
		a->st.spans_incomplete++;
	if (span__trace_sampled(trace_id, a->cfg->sample_threshold))
		return true;
	a->st.spans_unsampled++;
	return false;
}

/* For the request metrics: the span and its service-graph peer, the traced process at the other
 * end of c on this host. */
static void observe(struct assembler *a, struct conn *c, const struct span *sp, bool sampled)
{
	const struct span_attr *at = NULL;
	struct resource *pres = NULL;
	struct conn *p = NULL;

	if (!a->red)
		return;
	if ((a->cfg->propagation & PROPAGATION_LINK) && c->info.have_tuple)
		p = conn_table__peer(a->conns, c);
	if (p)
		pres = core__resource(a, p);
	if (pres)
		at = resource__find_attr(pres, "service.name");
	if (at && at->type == ATTR_STR)
		red__observe(a->red, sp, sampled, resource__attr_str(pres, at), at->len);
	else
		red__observe(a->red, sp, sampled, NULL, 0);
}

void span_out__send(struct assembler *a, struct conn *c, const struct span *sp, bool incomplete)
{
	bool sampled = count(a, c, sp->trace_id, incomplete);

	observe(a, c, sp, sampled);
	if (sampled)
		a->emit(a->emit_ctx, sp);
}

void span_out__op(struct assembler *a, struct conn *c, const struct op_head *op)
{
	struct span sp;
	bool sampled;

	if (!core__resource(a, c))
		return; /* a process sonde never knew: nothing to name the span by */
	sampled = count(a, c, op->trace_id, op->incomplete);
	/* dropped by the sampler before it is built, unless the request metrics count it */
	if ((!sampled && !a->red) || !span_out__build(a, c, op, &sp))
		return;
	observe(a, c, &sp, sampled);
	if (sampled)
		a->emit(a->emit_ctx, &sp);
}
