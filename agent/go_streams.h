/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * grpc-go's stream hand-offs (SONDE_EV_GO_STREAM, bpf/runtimes/grpc_go.bpf.h), joined with the
 * HTTP/2 operations the decoder reports, so that the linker (linker.h) sees the goroutine that
 * runs a stream's code:
 * - a server stream is read by its transport's reader goroutine, and its handler runs on
 *   another: that one serves the request too, from the SERVE record until its response starts;
 * - a client stream is written by its transport's writer goroutine for the goroutine that
 *   asked for it (OPEN): the call is that goroutine's.
 * Streams are known by process, the goroutine that did their I/O (for a server stream, with
 * when it began to read that connection: a g is reused), and their id; which of a stream's
 * operation and its record comes first does not matter.
 */
#ifndef SONDE_GO_STREAMS_H
#define SONDE_GO_STREAMS_H

#include <stdint.h>

struct linker;
struct go_streams;

struct go_streams_stats {
	uint64_t served;    /* server streams whose handler goroutine was tied to their request */
	uint64_t opened;    /* client streams given the goroutine that asked for them */
	uint64_t unread;    /* handlers of connections whose reader was not seen (accepted
			     * before the uprobes were attached): not tied */
	uint64_t evicted;   /* entries dropped to make room before they were used */
};

struct go_streams *go_streams__new(struct linker *l);
void go_streams__free(struct go_streams *gs);
/* A server connection's readers, each with when it took that role (its ROLE record's time). */
struct go_stream_readers {
	uint64_t io_g, io_since;       /* its reader */
	uint64_t first_g, first_since; /* the goroutine that accepted it; 0 if not known */
};

/* SONDE_GO_STREAM_ROLE: goroutine g began to read a server connection at ts. */
void go_streams__role(struct go_streams *gs, uint32_t tgid, uint64_t g, uint64_t ts);
/* SONDE_GO_STREAM_SERVE: goroutine g runs the handler of stream `stream` that r's reader read,
 * or the goroutine that accepted the connection (its first read). */
void go_streams__serve(struct go_streams *gs, uint32_t tgid, uint64_t g,
		       const struct go_stream_readers *r, uint32_t stream, uint64_t ts);
/* A server operation began: stream `stream`, read by io_g at start_ns, with these ids (io_g as
 * the reader it is since its latest ROLE record). */
void go_streams__server_begin(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
			      uint32_t stream, uint64_t start_ns, const uint8_t trace_id[16],
			      const uint8_t span_id[8]);
/* The span span_id of that operation joined its caller's trace (link.c): so do the handler's
 * calls from now on. */
void go_streams__server_retrace(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
				uint32_t stream, const uint8_t span_id[8],
				const uint8_t trace_id[16]);
/* Its response started at ts: the handler stops serving it. Done: the operation is over
 * (answered then, if it was not). */
void go_streams__server_answered(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
				 uint32_t stream, const uint8_t span_id[8], uint64_t ts);
void go_streams__server_done(struct go_streams *gs, uint32_t tgid, uint64_t io_g,
			     uint32_t stream, const uint8_t span_id[8], uint64_t ts);
/* SONDE_GO_STREAM_OPEN: io_g opens client stream `stream` for goroutine g. */
void go_streams__open(struct go_streams *gs, uint32_t tgid, uint64_t g, uint64_t io_g,
		      uint32_t stream, uint64_t ts);
/* The goroutine that asked for client stream `stream` written by io_g, once; 0 if none. */
uint64_t go_streams__owner(struct go_streams *gs, uint32_t tgid, uint64_t io_g, uint32_t stream);
void go_streams__stats(const struct go_streams *gs, struct go_streams_stats *out);

#endif
