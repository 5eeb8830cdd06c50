/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The assembler's insides, shared by its modules and by nothing else: the assembler itself
 * (assembler.c: records to connections, cursors and decoders), detection (classify.c), the
 * ids of an operation (trace_ids.c), the wait of a server span for its client end's ids
 * (link.c), and the span skeleton (span_out.c).
 */
#ifndef SONDE_CORE_H
#define SONDE_CORE_H

#include "assembler.h"
#include "conn.h"
#include "go_streams.h"
#include "linker.h"
#include "runtime.h"

struct assembler {
	const struct sonde_config *cfg;
	struct process_table *procs;
	span_emit_cb emit;
	void *emit_ctx;
	conn_state_fn state;
	void *state_ctx;
	conn_ignore_fn ignore;
	void *ignore_ctx;
	conn_policy_fn policy;
	void *policy_ctx;
	void (*process_seen)(void *ctx, uint32_t tgid);
	void *process_seen_ctx;
	int64_t mono_to_unix;
	struct conn_table *conns;
	struct linker *linker;
	struct go_streams *go_streams; /* grpc-go's hand-offs, fed to the linker */
	struct runtime_cache *runtimes;
	struct red *red; /* request metrics, or NULL when off */
	uint64_t linker_expired_ns; /* when the thread table was last swept */
	struct assembler_stats st;
	/* The sink every decoder reports to, and the connection whose decoder is being called:
	 * decoders are called one at a time, never from within another's call. */
	struct decoder_sink sink;
	struct conn *calling;
};

/* The sink for a call of c's decoder (c must be decoding). */
const struct decoder_sink *core__sink(struct assembler *a, struct conn *c);
/* The connection's decoder asked to be let go, or nothing decodes it: it is nobody's now. */
void core__conn_off(struct assembler *a, struct conn *c, bool not_mine);
/* Nothing more is wanted of c: the kernel stops copying and recording it. */
void core__ignore(struct assembler *a, struct conn *c);
/* The stream a direction of c's bytes belongs to, and whether the client sent them. */
bool core__from_client(const struct conn *c, uint16_t dir);
/* After a decoder's call: a give-up it asked for is done now, out of its way. */
void core__after(struct assembler *a, struct conn *c);
/* The stream target of one direction of c (stream.h), its sink set for the call. */
void core__target(struct assembler *a, struct conn *c, bool from_client, struct stream_target *t);

/* classify.c: the first bytes of a run on a connection not yet classified. true: decoding now,
 * and ev is to be fed (what was kept of its run was fed before). */
bool classify__data(struct assembler *a, struct conn *c, const struct sonde_data_event *ev,
		    uint32_t cap);
void classify__free(struct conn *c);

/* trace_ids.c: an operation's ids, when its request is seen (begin) or when it is done. */
void ids__decide(struct assembler *a, struct conn *c, struct op_head *op, bool at_begin);

/* link.c: the ends of a connection between two traced processes of this host. */
struct link_recent;
/* A client operation got its ids: remember them for the server end, and give them to a
 * server span there that waits for them. */
void link__client_op(struct assembler *a, struct conn *c, const struct op_head *op);
/* ... and it is done: its end is known. */
void link__client_done(struct conn *c, const struct op_head *op);
/* The client end's request a server operation answers, taken; NULL when none is known. */
const struct link_recent *link__take_request(struct conn *p, const struct op_head *op);
const uint8_t *link_recent__trace_id(const struct link_recent *r);
const uint8_t *link_recent__span_id(const struct link_recent *r);
/* Whether the client end's request may still be reported (p: that end, or NULL). */
bool link__may_come(struct assembler *a, struct conn *c, struct conn *p, const struct op_head *op);
/* A server operation waits for its client end's ids (op->awaiting_peer set). */
void link__wait(struct assembler *a, struct conn *c, struct op_head *op);
/* A waiting operation is done: its span is built and waits; false when it waits no more. */
bool link__hold(struct assembler *a, struct conn *c, const struct op_head *op);
/* Spans that waited their time go on their own. */
void link__tick(struct assembler *a, struct conn *c, uint64_t now);
/* c ends, or stops being decoded: every span waiting goes now. */
void link__release_all(struct assembler *a, struct conn *c);
/* c's decoder is let go, c goes on in another protocol: the operations still going on go on
 * unlinked (their memory is the decoder's); finished spans wait on for their client end. */
void link__release_ongoing(struct assembler *a, struct conn *c);
void link__free(struct conn *c);

/* span_out.c: the span skeleton. Build op's span: false when it has no resource. */
bool span_out__build(struct assembler *a, struct conn *c, const struct op_head *op,
		     struct span *sp);
/* A built span, counted and sent unless its trace is not sampled. */
void span_out__send(struct assembler *a, struct conn *c, const struct span *sp, bool incomplete);
/* A finished operation, counted, built and sent (not built when its trace is not sampled). */
void span_out__op(struct assembler *a, struct conn *c, const struct op_head *op);
/* The resource of c's process, bound at the first span if not at the open. */
struct resource *core__resource(struct assembler *a, struct conn *c);

#endif /* SONDE_CORE_H */
