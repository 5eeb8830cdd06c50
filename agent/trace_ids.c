// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * An operation's span ids, for every protocol: decided when its request is seen (begin), so
 * that the calls it causes can name it, or when it is done, for decoders that report whole
 * operations only.
 *
 * Server: the ids the kernel gave it (header propagation, or the TCP option of a sonde at the
 * other end), else the caller's context from the request's headers, else the client span at
 * the other end of the connection when that end is a traced process of this host, else a new
 * trace. When the other end is traced and its span is of the same trace as the header, it is
 * the closer parent (the header may have been forwarded unchanged by a proxy, or set by an
 * instrumented application whose own span is the header's). The other end's requests are taken
 * in order in every case, so that the pairing of the next ones stays right (link.c).
 *
 * Client: the context the application put in the request names the trace (its span, the
 * header's, is the application's own, or a caller's forwarded by a proxy: sonde's span is a
 * new one under the request its thread serves, else under the header's span); else what the
 * kernel put on the wire; else a child of the request its thread is serving; else a root.
 */
#include <string.h>

#include "core.h"

/*
 * The request thread `actor` of c's process was serving at ts (linker.h): on a CPython event
 * loop only when it is the one open (asyncio runs a request's code turns after the read that
 * woke it, so the wake-up rules of event loops would name another request); for one of several
 * requests a pipelining client wrote at once, by its place in the write.
 */
static bool thread_parent(struct assembler *a, const struct conn *c, const struct op_head *op,
			  uint64_t actor, uint64_t ts, uint64_t cause, uint8_t trace_id[16],
			  uint8_t span_id[8])
{
	if (c->no_guess)
		return linker__parent_if_one(a->linker, c->tgid, actor, ts, trace_id, span_id);
	if (op->batch_n)
		return linker__parent_in_batch(a->linker, c->tgid, actor, ts, op->batch_after_ns,
					       op->batch_pos, op->batch_n, trace_id, span_id);
	if (op->stream) /* HTTP/2: an event loop may have read many requests in one read */
		return linker__parent_apart(a->linker, c->tgid, actor, ts, cause, trace_id,
					    span_id);
	return linker__parent_at(a->linker, c->tgid, actor, ts, cause, trace_id, span_id);
}

static void server_ids(struct assembler *a, struct conn *c, struct op_head *op,
		       const struct sonde_trace_ctx *k)
{
	const struct link_recent *px = NULL;
	struct conn *p = NULL;

	if ((a->cfg->propagation & PROPAGATION_LINK) && c->info.have_tuple) {
		p = conn_table__peer(a->conns, c);
		if (p)
			px = link__take_request(p, op);
	}
	if (k && k->kind == SONDE_CTX_SERVER) {
		memcpy(op->trace_id, k->trace_id, 16);
		memcpy(op->span_id, k->span_id, 8);
		memcpy(op->parent_id, k->parent_id, 8);
		a->st.links_kernel++;
	} else if (k && k->kind == SONDE_CTX_PEER) {
		memcpy(op->trace_id, k->trace_id, 16);
		memcpy(op->parent_id, k->parent_id, 8);
		span__new_span_id(op->span_id);
		a->st.links_kernel++;
	} else if (op->has_ctx) {
		memcpy(op->trace_id, op->ctx.trace_id, 16);
		memcpy(op->parent_id, op->ctx.span_id, 8);
		span__new_span_id(op->span_id);
		if (px && !memcmp(link_recent__trace_id(px), op->trace_id, 16)) {
			memcpy(op->parent_id, link_recent__span_id(px), 8);
			a->st.links_tuple++;
		}
	} else if (px) {
		memcpy(op->trace_id, link_recent__trace_id(px), 16);
		memcpy(op->parent_id, link_recent__span_id(px), 8);
		span__new_span_id(op->span_id);
		a->st.links_tuple++;
	} else {
		span__new_trace_id(op->trace_id);
		span__new_span_id(op->span_id);
	}
	if (!px && !(k && (k->kind == SONDE_CTX_SERVER || k->kind == SONDE_CTX_PEER)) &&
	    link__may_come(a, c, p, op))
		link__wait(a, c, op); /* its client's request may come next (link.c) */
	/*
	 * An HTTP/2 stream's reader is not its handler in Go (grpc-go and net/http start a
	 * goroutine per stream: go_streams.h ties grpc-go's) nor in CPython (grpcio reads on a
	 * polling thread, maybe a handler's waiting on its own call, and runs handlers on a pool):
	 * the reader serves nothing there.
	 */
	if (op->begun && op->actor && !(op->stream && (c->no_guess || c->info.link_go)))
		linker__server_begin(a->linker, c->tgid, op->actor, op->start_ns, op->trace_id,
				     op->span_id);
	if (op->begun && op->actor && op->stream && c->info.link_go)
		go_streams__server_begin(a->go_streams, c->tgid, op->actor, op->stream,
					 op->start_ns, op->trace_id, op->span_id);
}

static void client_ids(struct assembler *a, struct conn *c, struct op_head *op,
		       const struct sonde_trace_ctx *k, uint64_t cause)
{
	uint8_t trace[16], parent[8];
	uint64_t owner;

	/* a grpc-go call, written by its transport's goroutine: the one that asked is its actor */
	if (op->actor && op->stream && c->info.link_go &&
	    (owner = go_streams__owner(a->go_streams, c->tgid, op->actor, op->stream)))
		op->actor = owner;
	if (k && k->kind == SONDE_CTX_INJECTED && !op->has_ctx) {
		/* What the kernel put on the wire names this span (a context the application put
		 * in the request wins: the server's sonde takes that one too). */
		memcpy(op->trace_id, k->trace_id, 16);
		memcpy(op->span_id, k->span_id, 8);
		if (op->actor && thread_parent(a, c, op, op->actor, op->start_ns, cause, trace, parent) &&
		    !memcmp(trace, op->trace_id, 16)) {
			memcpy(op->parent_id, parent, 8);
			a->st.links_thread++;
		}
	} else if (op->has_ctx) {
		span__new_span_id(op->span_id);
		memcpy(op->trace_id, op->ctx.trace_id, 16);
		memcpy(op->parent_id, op->ctx.span_id, 8);
		if (op->actor && thread_parent(a, c, op, op->actor, op->start_ns, cause, trace, parent) &&
		    !memcmp(trace, op->trace_id, 16)) {
			memcpy(op->parent_id, parent, 8);
			a->st.links_thread++;
		}
	} else {
		span__new_span_id(op->span_id);
		if (op->actor && thread_parent(a, c, op, op->actor, op->start_ns, cause, op->trace_id,
					       op->parent_id))
			a->st.links_thread++;
		else
			span__new_trace_id(op->trace_id);
	}
	link__client_op(a, c, op);
}

void ids__decide(struct assembler *a, struct conn *c, struct op_head *op, bool at_begin)
{
	struct sonde_trace_ctx k;
	bool have_k = stream__take_kctx(&c->req, op->start_ns, &k);
	/* When the client decided this call: its connect, for a new connection's first request
	 * (an event loop writes it when the connection is up, after other work). */
	uint64_t cause = !c->n_ops && c->open_ts && c->open_ts < op->start_ns ? c->open_ts
									       : op->start_ns;

	op->begun = at_begin;
	c->n_ops++;
	if (c->info.role == SONDE_ROLE_SERVER)
		server_ids(a, c, op, have_k ? &k : NULL);
	else
		client_ids(a, c, op, have_k ? &k : NULL, cause);
}
