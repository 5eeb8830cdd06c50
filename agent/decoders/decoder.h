/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one interface every L7 protocol implements (HTTP/1.x, PostgreSQL, MySQL and MariaDB,
 * Redis, ...), and the registry table whose rows they are. A decoder follows both byte streams
 * of one connection as the stream cursor hands them over (captured bytes, counted gaps, run
 * starts and ends, end of stream), pairs requests with their answers, and reports operations
 * through its sink. The core links operations (ids, parents, the other end of a same-host
 * connection), times them, samples them and gives each to the decoder's own build_span, which
 * names it and adds the protocol's attributes; the core adds the rest of the span (resource,
 * ids, times, peer, thread) and hands it to the exporters.
 *
 * Decoders are pure: no I/O, no clock, no globals that change. They allocate only their own
 * per-connection state, bounded. They are unit-tested and fuzzed on the host. Adding a
 * protocol is a decoder file, its unit tests, its fuzz target and one row in registry.c
 * (docs/adding-a-protocol.md).
 */
#ifndef SONDE_DECODER_H
#define SONDE_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sonde_event.h"
#include "span.h"
#include "decoders/tracecontext.h"

/* What a detector says of the first bytes of a run on a connection not yet classified. */
enum detect_result {
	DETECT_NO = 0,	   /* not this protocol */
	DETECT_CLIENT = 1, /* this protocol, and these bytes were sent by the client */
	DETECT_SERVER = 2, /* this protocol, and these bytes were sent by the server */
	DETECT_MIDWAY = 3, /* this protocol, but an exchange sonde joined half-way (an answer
			    * came first): the connection waits for a later run, a few times */
	DETECT_LATE = 4,   /* this protocol, joined past any point the decoder can start from
			    * (HTTP/2 opened before sonde: its header tables are unknown): the
			    * connection is not decoded, and counted as such */
};

/* What the core knows of a connection, for detectors and decoders to read (never write). */
struct conn_info {
	uint8_t role;	     /* enum sonde_role of this process, decided at detection */
	uint8_t kernel_role; /* enum sonde_role the kernel saw at the open, UNKNOWN if it did not */
	bool have_tuple;     /* the addresses and ports below are known */
	bool link_go;	     /* a Go program: actor is the goroutine, not the thread */
	bool tls;	     /* the bytes are a TLS library's plaintext (url.scheme https) */
	uint16_t sport;	     /* local port, host order */
	uint16_t dport;	     /* remote port, host order */
	uint8_t peer_len;
	char peer[46];	     /* the remote address as text (INET6_ADDRSTRLEN) */
};

/*
 * The head of every operation a decoder reports, the first member of its own operation
 * struct: what the core needs to link, time and sample the span. The decoder fills the first
 * block; the core owns the rest (the decoder leaves it zeroed when it makes an operation).
 */
struct op_head {
	uint64_t start_ns;	  /* first byte of the request, CLOCK_MONOTONIC as in the records */
	uint64_t end_ns;	  /* last byte of the answer (>= start_ns) */
	uint64_t actor;		  /* what runs the request's code: the thread that read (server)
				   * or wrote (client) it, in Go its goroutine; 0 when unknown */
	uint32_t tid;		  /* the OS thread of that I/O (thread.id; 0: not known) */
	uint32_t stream;	  /* HTTP/2: the stream id; 0 for other protocols */
	bool incomplete;	  /* no answer was seen: the connection closed, or the framing of
				   * the answer was lost (never set with an error answer) */
	bool has_ctx;		  /* the request carried a trace context (traceparent, B3) */
	struct trace_context ctx; /* ... that one: the caller's trace and span */
	/* A client's request of a protocol whose clients pipeline: it went out as the
	 * batch_pos-th of the batch_n requests of one write (batch_n 0: not known), and when the
	 * connection's previous write of requests was (linker__parent_in_batch). */
	uint16_t batch_pos;
	uint16_t batch_n;
	uint64_t batch_after_ns;
	/* the core's */
	bool begun;		  /* its ids were decided at begin (the request was seen) */
	bool awaiting_peer;	  /* server: the other end is traced here, its request not seen */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];	  /* all zero: a root span */
};

/* One piece of one direction, as the stream cursor hands it to a decoder. */
struct decoder_chunk {
	const uint8_t *data; /* captured bytes of this I/O (len may be 0) */
	size_t len;
	uint64_t gap;	     /* bytes of this direction that went by uncaptured just before data */
	uint64_t tail;	     /* bytes of this I/O after data that were not captured */
	uint64_t ts;	     /* when the I/O happened */
	uint64_t actor;	     /* the thread that did it; in a Go program its goroutine */
	uint32_t tid;	     /* the OS thread that did it */
	bool run_start;	     /* the first I/O of a new run in this direction: a message boundary
			      * as often as not, where lost framing is picked up again */
	bool run_end;	     /* no data: the uncaptured rest of a run that ends now (run_end
			      * follows), so whatever these bytes hold ends with them */
	/* Capture policy H2_FRAMES (sonde_event.h): the kernel walked the I/O's frames. data is
	 * then its bytes with the payloads of some frames left out, and len + tail its size. */
	uint8_t walk_flags;  /* enum sonde_walk_flags; 0: not walked */
	uint8_t walk_part;   /* at the I/O's start: frame header bytes the last I/O ended in */
	uint32_t walk_left;  /* at the I/O's start: payload bytes left of the frame under way */
	/* A request head's context search (sonde_event.h, SONDE_HEAD_FIND_MAX): the entries of
	 * the lines the kernel found past data, and its flags (enum sonde_head_scan; 0: none). */
	const uint8_t *ctx_lines;
	uint32_t ctx_len;
	uint32_t io_bytes;   /* the I/O's size (len + tail, or the walked size) */
	uint8_t head_scan;
};

/* What decoders count through their sink, for every protocol alike (the agent's statistics). */
enum decoder_event {
	DEC_PARSE_ERROR = 0,	   /* a message that does not parse: its stream waits for a boundary */
	DEC_ORPHAN_ANSWER = 1,	   /* an answer without a request seen */
	DEC_QUEUE_FULL = 2,	   /* a request dropped: too many outstanding on one connection */
	DEC_PIPELINED_SUMMARY = 3, /* a summarized answer that stood for several pipelined
				    * requests (all but the first get no status) */
	DEC_CTX_BEHIND = 4,	   /* a request's trace context came from the lines the kernel
				    * found past the payload (bpf/head_find.bpf.h) */
};

/* Where a decoder reports; the core sets every member. */
struct decoder_sink {
	/*
	 * A request was seen: its ids are decided now, so that the calls made while it is
	 * served can name it as their parent. An operation never begun gets its ids at done.
	 * op must stay where it is until done (the core may look at it meanwhile).
	 */
	void (*begin)(void *ctx, struct op_head *op);
	/* Its answer began at ts: a server's thread no longer serves it; a client's call came
	 * back (the read that woke the caller for its request). */
	void (*answered)(void *ctx, struct op_head *op, uint64_t ts);
	/* Finished: the core links it, builds its span (build_span) and sends it; the decoder
	 * may reuse op as soon as this returns. */
	void (*done)(void *ctx, struct op_head *op);
	/* This direction's framing is lost until a message boundary: counted once a loss. */
	void (*lost)(void *ctx, bool from_client);
	/* Ask the kernel for another capture policy for this connection (enum
	 * sonde_capture_policy), from its next run on. */
	void (*policy)(void *ctx, uint8_t policy);
	/* Nothing more is wanted of this connection: not_mine says the detector was wrong (the
	 * other end does not speak the protocol); else it became something else (an upgrade) or
	 * is not to be traced. Acted on when the decoder's call returns. */
	void (*give_up)(void *ctx, bool not_mine);
	/* The connection changes protocol from its next run on (an Upgrade: h2c answered 101):
	 * the decoder is let go, and the next run's first bytes are detected again. Acted on when
	 * the decoder's call returns. */
	void (*upgraded)(void *ctx);
	void (*count)(void *ctx, enum decoder_event ev);
	void *ctx;
};

/* What the decoders share of the configuration, read at create. */
struct decoder_env {
	const struct sonde_config *cfg;
	const struct conn_info *conn; /* lives as long as the decoder's state */
};

struct decoder {
	const char *name;   /* for logs and docs: "http1", "postgresql" */
	bool db;	    /* a database or cache: --db-server-spans decides its server spans;
			     * counted in db_conns and db_spans */
	uint64_t link_wait_ns; /* how long a server span waits for its client end's ids */
	/*
	 * The first bytes of a run (either direction, n > 0) on a connection not yet classified.
	 * Must be strict: a false match turns an unrelated connection into bogus spans. The
	 * ports (info->sport, dport; 0 when unknown) help where the bytes alone are ambiguous;
	 * info->role is not known yet.
	 */
	enum detect_result (*detect)(const uint8_t *p, size_t n, const struct conn_info *info);
	/* Per-connection state; NULL when out of memory (the connection is then given up). */
	void *(*create)(const struct decoder_env *env);
	void (*destroy)(void *st);
	/* Bytes of one direction: from_client says which. */
	void (*feed)(void *st, bool from_client, const struct decoder_chunk *c,
		     const struct decoder_sink *out);
	/*
	 * The run in one direction ended: run says when its first and last byte moved, how many
	 * bytes it had, and what the kernel summarized of it (http1_status). The cursor has fed
	 * its uncaptured bytes as a gap before.
	 */
	void (*run_end)(void *st, bool from_client, const struct sonde_run_summary *run,
			const struct decoder_sink *out);
	/*
	 * Optional: a run the kernel summarized instead of recording it (a capture policy) has
	 * started and not ended yet (the core read it from the kernel's connection state).
	 */
	void (*run_summary)(void *st, bool from_client, const struct sonde_run_summary *run,
			    const struct decoder_sink *out);
	/* Optional: a kernel note for this connection that came with another record of its
	 * thread (an HTTP/1.x summarized response start, sonde_http1_note). */
	void (*note)(void *st, const struct sonde_http1_note *n, const struct decoder_sink *out);
	/* Requests seen and not yet done: the core then watches for their answer's idle end. */
	bool (*waiting)(const void *st);
	/* The connection closed at ts (or went silent for minutes): report what is outstanding,
	 * unanswered ones incomplete, and forget it. */
	void (*close)(void *st, uint64_t ts, const struct decoder_sink *out);
	/*
	 * Turn a finished operation into its span: name, status, and the protocol's attributes.
	 * The core has set ids, times, kind and resource, and adds the peer and thread
	 * attributes and the incomplete status after. Spans have room for SPAN_MAX_ATTRS.
	 */
	void (*build_span)(const struct op_head *op, struct span *sp, const struct conn_info *info,
			   const struct sonde_config *cfg);
};

/* The registry (registry.c): every protocol, NULL-terminated, in the order detection tries
 * them. PROTOCOL_LIST: a new protocol adds its row there. */
extern const struct decoder *const decoders[];
extern const struct decoder http1_decoder;
extern const struct decoder mysql_decoder;
extern const struct decoder postgres_decoder;
extern const struct decoder redis_decoder;
extern const struct decoder http2_decoder;

/*
 * Attributes of the span's peer that follow the semantic conventions alike for every
 * protocol: server.address and server.port (a client's: the host it named, host_len 0 for the
 * connection's peer; a server's: the name it was asked by, host_len 0 for none, and its own
 * port), client.address on a server. host_port 0: the connection's port.
 */
void span__add_server_attrs(struct span *sp, const struct conn_info *info, const char *host,
			    size_t host_len, int host_port);

#endif /* SONDE_DECODER_H */
