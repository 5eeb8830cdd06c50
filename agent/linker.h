/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which request a thread was serving at a given time. A server span begins on the thread that
 * read its request and ends, for this purpose, when a response starts; a call the same thread
 * makes in between is that request's child. Right for thread-per-request servers; on an event
 * loop, where one thread serves many requests at once, several requests can be open at a time:
 * linker__parent_at chooses as an event loop runs (see there) and counts the lookup as
 * ambiguous.
 */
#ifndef SONDE_LINKER_H
#define SONDE_LINKER_H

#include <stdbool.h>
#include <stdint.h>

struct linker;

struct linker_stats {
	uint64_t threads;   /* threads with a server span remembered now */
	uint64_t lookups;   /* client calls that asked for a parent */
	uint64_t linked;    /* of which found one */
	uint64_t ambiguous; /* of which had several requests open on the thread */
	uint64_t dropped;   /* server spans not remembered: thread table full */
	uint64_t threads_taken_on; /* threads created while their creator served a request */
	uint64_t pools_found;	   /* processes whose taken-on threads outlived that request */
	uint64_t unguessed;	   /* calls left unlinked: several requests open, no safe guess */
	uint64_t batch_linked;	   /* calls of a pipelined write given the request of their turn */
	uint64_t batch_unsure;	   /* ... left unlinked: the turns and the calls did not match */
};

struct linker *linker__new(void);
void linker__free(struct linker *l);
/*
 * A server span began at start_ns on thread (tgid, tid). tid is what runs a request's code:
 * the thread id, or in a Go program the goroutine (the g the kernel side reports).
 */
void linker__server_begin(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t start_ns,
			  const uint8_t trace_id[16], const uint8_t span_id[8]);
/* That server span stopped being served at end_ns (its response started, or it ended). */
void linker__server_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t span_id[8],
			uint64_t end_ns);
/* Thread (tgid, tid) stopped serving whatever it served, at end_ns: it went on to other work
 * (a goroutine whose handler returned, reused for the next one). */
void linker__thread_done(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t end_ns);
/*
 * The server span thread (tgid, tid) was serving at ts, if any: its ids go to trace_id and
 * span_id. Returns false when there is none. cause_ts is when the thread decided the call
 * (the connect of a new connection), 0 or ts if not known.
 */
bool linker__parent_at(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
		       uint64_t cause_ts, uint8_t trace_id[16], uint8_t span_id[8]);
/*
 * The same, except that a choice among requests that came in one read (HTTP/2 streams) is no
 * choice: the caller is an HTTP/2 call, whose event loop reads many requests at once.
 */
bool linker__parent_apart(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			  uint64_t cause_ts, uint8_t trace_id[16], uint8_t span_id[8]);
/*
 * The same, for threads whose event loop runs a request's code later than the read that woke it
 * (CPython's asyncio): the parent only when one request is open on the thread at ts, as in a
 * thread-per-request server; with several, no guess (counted as skipped).
 */
bool linker__parent_if_one(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			   uint8_t trace_id[16], uint8_t span_id[8]);
/*
 * A call that went out with others in one write of a pipelining client at ts (a Redis client
 * that writes every command of an event-loop turn at once): the pos-th of n (n > 1). The code
 * that issued them ran, in order, for the reads that woke the thread since the connection's
 * previous write (after_ns): each read for one request (a request's own, or answers to its
 * calls). When the requests of those reads that are still open at ts are exactly n, the pos-th
 * is the parent; when they are all one request, it is; else none (counted unsure): a guess
 * would put calls under wrong requests. With one request open on the thread at most (a thread
 * per request, a pooled connection), it is the parent, as for linker__parent_at.
 */
bool linker__parent_in_batch(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t ts,
			     uint64_t after_ns, unsigned int pos, unsigned int n,
			     uint8_t trace_id[16], uint8_t span_id[8]);
/*
 * Thread child of process tgid was created at ts by thread creator: if the creator was serving
 * a request then (chosen as for a call it made; without guess, only the one open), the new
 * thread serves it too, as long as the creator does: its first call becomes that request's
 * child. Not in a process known to pool such threads: one of them called again, or after its
 * creator's request (counted in pools_found).
 */
void linker__thread_created(struct linker *l, uint32_t tgid, uint64_t creator, uint64_t child,
			    uint64_t ts, bool guess);
/* The server span span_id joined another trace (its caller's request was seen after it). */
void linker__server_retrace(struct linker *l, uint32_t tgid, uint64_t tid,
			    const uint8_t span_id[8], const uint8_t trace_id[16]);
/* A call made for the server span parent_id (by thread tid) came back (its answer was read)
 * at end_ns: that read woke the thread for the request. */
void linker__child_end(struct linker *l, uint32_t tgid, uint64_t tid, const uint8_t parent_id[8],
		       uint64_t end_ns);
/* The same for a call that got no parent (once per call): its answer woke the thread for a
 * request not known, which still counts as a turn in linker__parent_in_batch. */
void linker__unknown_end(struct linker *l, uint32_t tgid, uint64_t tid, uint64_t end_ns);
/* Forget threads that have served nothing since before `older_than` (monotonic ns). */
void linker__expire(struct linker *l, uint64_t older_than);
void linker__stats(const struct linker *l, struct linker_stats *out);

#endif /* SONDE_LINKER_H */
