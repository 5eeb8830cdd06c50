/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * From capture records to spans, for every protocol sonde decodes: the records of each
 * connection go to the decoder that claims it (decoders/decoder.h), and the operations it
 * reports become spans, linked into traces and named and attributed by the OpenTelemetry
 * semantic conventions.
 */
#ifndef SONDE_ASSEMBLER_H
#define SONDE_ASSEMBLER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "process.h"
#include "sonde_event.h"
#include "span.h"
#include "red.h"

struct assembler;

/* A finished span; the callee copies what it keeps. */
typedef void (*span_emit_cb)(void *ctx, const struct span *s);
/* Read a connection's kernel state (loader__conn_state), or NULL where there is no kernel. */
typedef int (*conn_state_fn)(void *ctx, uint64_t sock_key, struct sonde_conn_state *out);

/* Tell the kernel to stop copying and recording a connection (loader__ignore_conn): the one at
 * sock_key, if it is still conn_id (a socket's address is reused by later connections). */
typedef void (*conn_ignore_fn)(void *ctx, uint64_t sock_key, uint64_t conn_id);

struct assembler_stats {
	uint64_t records;	  /* records handled */
	uint64_t conns_open;	  /* connections tracked now */
	uint64_t conns_total;	  /* connections seen */
	uint64_t conns_not_http;  /* connections given up as no protocol sonde decodes */
	uint64_t conns_joined_late; /* a protocol sonde decodes, but joined too late (classify.c) */
	uint64_t conns_upgraded;  /* HTTP/1.1 upgraded to h2c: detected again at the next run */
	uint64_t conns_db;	  /* connections decoded as a database or cache protocol */
	uint64_t conns_evicted;	  /* idle connections dropped from the table */
	uint64_t conns_ignored;	  /* connections the kernel was told to stop recording */
	uint64_t conns_dropped;	  /* connections not tracked: table full */
	uint64_t spans;		  /* spans assembled (sent, or dropped by the sampler) */
	uint64_t spans_incomplete; /* of which: connection closed before the response */
	uint64_t spans_db;	  /* of which: database and cache operations */
	uint64_t spans_unsampled; /* of which: not sent, their trace not sampled (--sample-ratio) */
	uint64_t parse_errors;	  /* heads that did not parse */
	uint64_t framing_lost;	  /* message boundaries lost (bytes beyond the capture) */
	uint64_t orphan_responses; /* responses without a request seen */
	uint64_t pipeline_full;	  /* requests dropped: too many outstanding on one connection */
	uint64_t links_thread;	  /* client spans made children of the request their thread served */
	uint64_t links_tuple;	  /* server spans linked to a client span through the connection */
	uint64_t links_kernel;	  /* server spans with ids the kernel assigned (header propagation) */
	uint64_t links_ambiguous; /* thread links chosen among several open requests (event loops) */
	uint64_t threads_taken_on; /* threads created while their creator served a request */
	uint64_t thread_pools;	   /* processes found to pool the threads their handlers create */
	uint64_t links_unguessed;  /* calls left unlinked on an event loop: no safe guess */
	uint64_t go_streams_served; /* grpc-go server streams tied to their handler goroutine */
	uint64_t go_streams_opened; /* grpc-go client streams tied to the goroutine that asked */
	uint64_t go_streams_unread; /* grpc-go handlers of connections sonde saw no reader of */
	uint64_t links_batch;	   /* calls of a pipelined write linked by their place in it */
	uint64_t links_batch_unsure; /* ... left unlinked: the write's calls and the requests that
				      * ran since the last write did not match */
	uint64_t red_series;	     /* request-metric series now (red.h) */
	uint64_t red_overflows;	     /* operations counted in a metric's overflow series */
	uint64_t responses_pipelined;  /* summarized responses that answered several pipelined
					* requests at once (no status for all but the first) */
	uint64_t conns_summarized;     /* connections whose responses the kernel was asked to
					* summarize */
	uint64_t conns_full_responses; /* ... and then to record in full again (pipelining) */
	uint64_t ctx_behind;	       /* request contexts found past the record's payload */
};

struct assembler *assembler__new(const struct sonde_config *cfg, struct process_table *procs,
				 span_emit_cb emit, void *emit_ctx, conn_state_fn state,
				 void *state_ctx);
void assembler__free(struct assembler *a);
/* Where to report connections that need no more records (not HTTP, not selected, our own). */
void assembler__set_ignore(struct assembler *a, conn_ignore_fn fn, void *ctx);
/* Called at each connection of a traced process (the callee remembers the processes it saw):
 * the uprobes its executable and libraries call for (loader__attach_uprobes). */
void assembler__set_process_seen(struct assembler *a, void (*fn)(void *ctx, uint32_t tgid),
				 void *ctx);
/* Tell the kernel how to capture a connection's responses (loader__capture_policy); conn_id as
 * for conn_ignore_fn. */
typedef void (*conn_policy_fn)(void *ctx, uint64_t sock_key, uint64_t conn_id, uint8_t mode);
void assembler__set_capture_policy(struct assembler *a, conn_policy_fn fn, void *ctx);

/* One record from the ring buffers (records must come in timestamp order). */
void assembler__on_record(struct assembler *a, const void *rec, size_t size);
/* Periodic work: finish responses that went idle, evict stale connections, take the wall
 * clock's offset from the monotonic one again (it may have been stepped). */
void assembler__tick(struct assembler *a, uint64_t now_mono_ns);
/* At shutdown: emit every exchange that has a response. */
void assembler__flush(struct assembler *a);
void assembler__stats(const struct assembler *a, struct assembler_stats *out);
/* The request metrics (red.h), NULL when they are off. */
struct red *assembler__red(const struct assembler *a);

/* CLOCK_MONOTONIC (the BPF clock) to Unix nanoseconds. */
uint64_t assembler__to_unix_ns(const struct assembler *a, uint64_t mono_ns);

#endif /* SONDE_ASSEMBLER_H */
