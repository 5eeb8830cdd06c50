// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP/1.x decoder: each connection's two byte streams followed as HTTP messages. Heads are
 * parsed where their bytes were captured (http1.c), bodies are skipped by their framing (also
 * over bytes that were counted but not copied), and requests are paired with responses in
 * order: keep-alive, pipelining, heads split over I/Os, 100-continue, HEAD, 204/304, bodies
 * until the close. A span runs from the first byte of the request to the last byte of the
 * response, as the traced process saw them; when the last byte was not captured, the end of
 * the run (from the next record, the close, or the kernel's state once idle) gives it.
 *
 * Kept-alive connections that do not pipeline ask the kernel to summarize their responses
 * (capture policy HTTP1_STATUS): the status line's code comes in the run summary or in a note
 * of the thread's next record, instead of a record of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "decoders/decoder.h"
#include "decoders/head_ctx.h"
#include "decoders/http1.h"
#include "decoders/op_queue.h"
#include "decoders/tracecontext.h"

#define PIPELINE_MAX 16 /* outstanding requests per connection */
#define PARTIAL_MAX 8192 /* bytes of an unfinished head kept across I/Os */
#define SPARE_MAX 4	 /* finished exchanges a connection keeps for its next requests */
#define LINK_WAIT_NS (300ULL * 1000000ULL)

/* One request and, once seen, its response. */
struct exchange {
	struct op_head head;
	uint16_t status;
	bool has_response;
	bool head_request;
	bool h2c; /* it asked to upgrade the connection to HTTP/2 in clear text */
	/* Body sizes in bytes where known: the request's when it had a body (Content-Length, or
	 * its chunks once they ended), the response's from its head (Content-Length; 0 for no
	 * body) or its chunks. A response the kernel summarized leaves its size unknown. */
	bool req_chunked, req_body_known, resp_body_known;
	uint64_t req_body, resp_body;
	uint8_t version_minor;
	/* The lengths of the strings below (the span is built without a strlen() of each). */
	uint16_t method_len, route_len, path_len, query_len, host_len, ua_len;
	/* From here on strings, set by exchange_new() (tracestate) and the request's head. */
	char tracestate[256]; /* W3C tracestate that came with a traceparent */
	char method[16];
	char route[128];
	char path[256];
	char query[256];
	char host[128];
	char user_agent[256];
};

/*
 * A request head cut by the capture limit while the kernel searches the rest of it for trace
 * context (bpf/head_find.bpf.h): the request waits for the search's end, at most until the
 * run's end or the first answer, before its ids are decided.
 */
struct head_wait {
	struct head_ctx ctx;
	uint64_t ts;
	uint64_t actor;
	uint32_t tid;
	uint32_t len;
	uint8_t head[SONDE_PAYLOAD_MAX + PARTIAL_MAX]; /* the head's captured bytes */
};

/* One direction, followed as a sequence of HTTP messages. */
struct h1_dir {
	uint64_t body_remaining; /* LENGTH framing: body bytes still to come */
	bool chunked;		 /* inside a chunked body */
	bool until_close;	 /* response body delimited by the close */
	bool lost;		 /* boundaries unknown until the run ends */
	struct http1_chunked ch;
	uint8_t *partial; /* an unfinished head, waiting for the next I/O */
	uint32_t partial_len;
	uint64_t partial_ts;
	struct head_wait *wait; /* a cut request head waiting for its context (requests only) */
};

struct h1_state {
	const struct sonde_config *cfg;
	const struct conn_info *conn;
	struct h1_dir req, resp;
	struct op_queue pending;   /* struct exchange *, oldest first */
	uint32_t n_answered;	   /* pending[0..n_answered) have their response head */
	struct exchange *spare[SPARE_MAX];
	int n_spare;
	uint32_t n_requests;	   /* request heads seen */
	uint32_t summary_seq;	   /* the last summarized response run that answered requests */
	bool summary_open;		   /* ... and it has not ended yet: the exchanges wait for it */
	bool asked_summary;	   /* the kernel was asked to summarize the responses */
	bool asked_full;	   /* ... and then for full records again, for good */
	bool gone;		   /* given up (upgraded, another sonde's exports): read no more */
};

static enum detect_result h1_detect(const uint8_t *p, size_t n, const struct conn_info *info)
{
	if (http1_is_request_start(p, n))
		return DETECT_CLIENT;
	return http1_is_response_start(p, n) ? DETECT_MIDWAY : DETECT_NO;
}

static void *h1_create(const struct decoder_env *env)
{
	struct h1_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->cfg = env->cfg;
	st->conn = env->conn;
	op_queue__init(&st->pending, sizeof(struct exchange *), PIPELINE_MAX);
	return st;
}

static void reset_partial(struct h1_dir *d)
{
	free(d->partial);
	d->partial = NULL;
	d->partial_len = 0;
}

static struct exchange *pending_at(const struct h1_state *st, uint32_t i)
{
	return *(struct exchange **)op_queue__at(&st->pending, i);
}

static void h1_destroy(void *p)
{
	struct h1_state *st = p;

	while (op_queue__len(&st->pending)) {
		free(pending_at(st, 0));
		op_queue__pop(&st->pending);
	}
	op_queue__free(&st->pending);
	while (st->n_spare)
		free(st->spare[--st->n_spare]);
	reset_partial(&st->req);
	reset_partial(&st->resp);
	free(st->req.wait);
	free(st);
}

/*
 * A fresh exchange: a spare, or allocated. Zeroed up to its strings; the tracestate is made
 * empty, and the request's head writes every other string, so they need no clearing.
 */
static struct exchange *exchange_new(struct h1_state *st)
{
	struct exchange *x = st->n_spare ? st->spare[--st->n_spare] : malloc(sizeof(*x));

	if (x) {
		memset(x, 0, offsetof(struct exchange, tracestate));
		x->tracestate[0] = '\0';
	}
	return x;
}

static void exchange_put(struct h1_state *st, struct exchange *x)
{
	if (st->n_spare < SPARE_MAX)
		st->spare[st->n_spare++] = x;
	else
		free(x);
}

/* The first n pending exchanges are done: to the core, then back to the spares. */
static void finish_front(struct h1_state *st, uint32_t n, bool incomplete,
			 const struct decoder_sink *out)
{
	struct exchange *x;
	uint32_t i;

	for (i = 0; i < n; i++) {
		x = pending_at(st, 0);
		op_queue__pop(&st->pending);
		x->head.incomplete = incomplete && !x->has_response;
		out->done(out->ctx, &x->head);
		exchange_put(st, x);
	}
	st->n_answered = st->n_answered > n ? st->n_answered - n : 0;
}

/* The response of pending[n_answered - 1] ended at ts: every answered exchange up to it. */
static void response_done(struct h1_state *st, uint64_t ts, const struct decoder_sink *out)
{
	if (!st->n_answered)
		return;
	pending_at(st, st->n_answered - 1)->head.end_ns = ts;
	finish_front(st, st->n_answered, false, out);
}

/*
 * A request head was just queued: decide how the kernel captures this connection's responses.
 * A second request with the first answered shows a kept-alive connection, not pipelined: its
 * responses can be summarized (half the records; connections used once never cost the map
 * update). Pipelined requests need the response heads to tell the responses apart: full
 * records again, for good. The kernel knows which way the responses go only from a role it
 * saw at the open.
 */
static void choose_policy(struct h1_state *st, const struct decoder_sink *out)
{
	uint32_t open = op_queue__len(&st->pending) - st->n_answered;

	if (!st->conn->have_tuple || st->asked_full)
		return;
	if (open > 1) {
		st->asked_full = true;
		if (st->asked_summary)
			out->policy(out->ctx, SONDE_CAPTURE_RUNS);
		return;
	}
	if (!st->asked_summary && st->n_requests >= 2 && st->conn->kernel_role == st->conn->role) {
		out->policy(out->ctx, SONDE_CAPTURE_HTTP1_STATUS);
		st->asked_summary = true;
	}
}

/* Copy s into dst (of dstsz), cut to fit, NUL-terminated; returns the length copied. */
static uint16_t copy_str(char *dst, size_t dstsz, const struct http1_str *s)
{
	size_t n = s->len < dstsz - 1 ? s->len : dstsz - 1;

	if (n)
		memcpy(dst, s->p, n);
	dst[n] = 0;
	return (uint16_t)n;
}

/* The trace context a request carries: W3C traceparent (and tracestate), else B3, else
 * Jaeger's uber-trace-id. */
static void request_context(struct exchange *x, const struct http1_request *r)
{
	struct op_head *h = &x->head;

	if (r->traceparent.len)
		h->has_ctx = tracecontext_parse_traceparent(r->traceparent.p, r->traceparent.len,
							    &h->ctx);
	if (h->has_ctx && r->tracestate.len)
		copy_str(x->tracestate, sizeof(x->tracestate), &r->tracestate);
	if (!h->has_ctx && r->b3.len)
		h->has_ctx = tracecontext_parse_b3(r->b3.p, r->b3.len, &h->ctx);
	if (!h->has_ctx && r->x_b3_traceid.len)
		h->has_ctx = tracecontext_parse_b3_multi(
			r->x_b3_traceid.p, r->x_b3_traceid.len, r->x_b3_spanid.p, r->x_b3_spanid.len,
			r->x_b3_sampled.p, r->x_b3_sampled.len, &h->ctx);
	if (!h->has_ctx && r->uber.len)
		h->has_ctx = tracecontext_parse_uber(r->uber.p, r->uber.len, &h->ctx);
}

static void on_request_head(struct h1_state *st, const struct http1_request *r, uint64_t ts,
			    uint64_t actor, uint32_t tid, const struct decoder_sink *out)
{
	struct exchange *x, **slot;

	if (st->conn->role == SONDE_ROLE_SERVER && r->user_agent.len >= 6 &&
	    !memcmp(r->user_agent.p, "sonde/", 6)) {
		/* A collector receiving another sonde's exports: tracing them would feed the two
		 * agents on each other (our own exports are known by their ports already). */
		st->gone = true;
		out->give_up(out->ctx, false);
		return;
	}
	if (op_queue__len(&st->pending) >= PIPELINE_MAX || !(x = exchange_new(st))) {
		out->count(out->ctx, DEC_QUEUE_FULL);
		return;
	}
	x->head.start_ns = ts;
	x->head.actor = actor;
	x->head.tid = tid;
	x->version_minor = r->version_minor;
	x->method_len = copy_str(x->method, sizeof(x->method), &r->method);
	x->path_len = copy_str(x->path, sizeof(x->path), &r->path);
	x->query_len = copy_str(x->query, sizeof(x->query), &r->query);
	x->host_len = copy_str(x->host, sizeof(x->host), &r->host);
	x->ua_len = copy_str(x->user_agent, sizeof(x->user_agent), &r->user_agent);
	x->route_len = (uint16_t)http_route_from_path(x->path, x->path_len, x->route,
						      sizeof(x->route));
	x->head_request = r->method.len == 4 && !memcmp(r->method.p, "HEAD", 4);
	x->h2c = r->upgrade_h2c;
	x->req_body_known = r->framing == HTTP1_BODY_LENGTH;
	x->req_body = r->content_length;
	x->req_chunked = r->framing == HTTP1_BODY_CHUNKED;
	request_context(x, r);
	slot = op_queue__push(&st->pending);
	*slot = x;
	out->begin(out->ctx, &x->head);
	st->n_requests++;
	choose_policy(st, out);
}

/* The exchange a response head belongs to, or NULL for an orphan. */
static struct exchange *next_unanswered(const struct h1_state *st)
{
	return st->n_answered < op_queue__len(&st->pending) ? pending_at(st, st->n_answered)
							     : NULL;
}

static void lose(struct h1_dir *d, bool from_client, const struct decoder_sink *out)
{
	d->lost = true;
	out->lost(out->ctx, from_client);
}

/* Bytes that were counted but not copied: advance the framing over them. */
static void skip(struct h1_state *st, struct h1_dir *d, uint64_t n, bool is_resp, uint64_t ts,
		 const struct decoder_sink *out)
{
	uint64_t k;

	if (!n || d->lost || d->until_close)
		return;
	if (d->body_remaining) {
		k = n < d->body_remaining ? n : d->body_remaining;
		d->body_remaining -= k;
		n -= k;
		if (!d->body_remaining && is_resp)
			response_done(st, ts, out);
	} else if (d->chunked) {
		if (!http1_chunked_skip(&d->ch, n))
			lose(d, !is_resp, out);
		return;
	}
	if (n)
		lose(d, !is_resp, out); /* unknown bytes where a head could start */
}

/* Room for a cut head and the line end added to it (parse_truncated). */
#define CUT_HEAD_MAX (SONDE_PAYLOAD_MAX + PARTIAL_MAX + 4)

/*
 * A head was cut by the capture limit: parse what there is, up to the last complete line, as if
 * the head ended there. The framing headers may be in the lost part, so the run is then lost.
 * The copy goes to buf (CUT_HEAD_MAX bytes), which the parsed strings point into: the caller's,
 * as it reads them after this returns.
 */
static enum http1_result parse_truncated(const uint8_t *p, size_t len, bool is_resp,
					 bool head_req, void *out, uint8_t *buf)
{
	size_t n = len;

	while (n && p[n - 1] != '\n')
		n--;
	if (!n || n + 2 > CUT_HEAD_MAX)
		return HTTP1_INVALID;
	memcpy(buf, p, n);
	memcpy(buf + n, "\r\n", 2);
	if (is_resp)
		return http1_parse_response(buf, n + 2, head_req, out);
	return http1_parse_request(buf, n + 2, out);
}

/* A response head parsed at head_ts: the exchange it answers, and the framing of its body. */
static void on_response_head(struct h1_state *st, struct h1_dir *d,
			     const struct http1_response *resp, uint64_t head_ts, uint64_t ts,
			     const struct decoder_sink *out)
{
	struct exchange *x = next_unanswered(st);

	if (!x) {
		out->count(out->ctx, DEC_ORPHAN_ANSWER);
	} else if (resp->status >= 100 && resp->status < 200 && resp->status != 101) {
		/* interim (100 Continue): the final response follows */
	} else {
		x->status = resp->status;
		x->has_response = true;
		x->resp_body_known = resp->framing == HTTP1_BODY_LENGTH ||
				     (resp->framing == HTTP1_BODY_NONE && resp->status != 101);
		x->resp_body = resp->framing == HTTP1_BODY_LENGTH ? resp->content_length : 0;
		st->n_answered++;
		if (st->conn->role == SONDE_ROLE_SERVER)
			out->answered(out->ctx, &x->head, head_ts);
	}
	if (resp->status == 101) {
		/* Upgraded: no more HTTP/1.x here. To h2c, the connection's next run starts with
		 * the client preface, and its HTTP/2 is decoded from there (the answer to this
		 * request comes on stream 1, after the span this 101 ends); WebSocket and the
		 * rest are let go. */
		bool h2c = x && x->h2c;

		response_done(st, ts, out);
		st->gone = true;
		d->lost = true;
		if (h2c)
			out->upgraded(out->ctx);
		else
			out->give_up(out->ctx, false);
	} else if (resp->framing == HTTP1_BODY_LENGTH && resp->content_length) {
		d->body_remaining = resp->content_length;
	} else if (resp->framing == HTTP1_BODY_CHUNKED) {
		d->chunked = true;
		http1_chunked_init(&d->ch);
	} else if (resp->framing == HTTP1_BODY_UNTIL_CLOSE) {
		d->until_close = true;
	} else if (x && x->has_response) {
		response_done(st, ts, out);
	}
}

/* A chunked body of n data bytes ended: its message's size. A request's is the newest
 * exchange's (its head came last); a response's the one it answers. */
static void chunked_size(struct h1_state *st, bool is_resp, uint64_t n)
{
	uint32_t len = op_queue__len(&st->pending);
	struct exchange *x;

	if (is_resp && st->n_answered) {
		x = pending_at(st, st->n_answered - 1);
		x->resp_body = n;
		x->resp_body_known = true;
	} else if (!is_resp && len && (x = pending_at(st, len - 1))->req_chunked) {
		x->req_body = n;
		x->req_body_known = true;
	}
}

/* The head just parsed was cut: its message's body size is not known. */
static void unknown_size(struct h1_state *st, bool is_resp)
{
	uint32_t len = op_queue__len(&st->pending);

	if (is_resp && st->n_answered)
		pending_at(st, st->n_answered - 1)->resp_body_known = false;
	else if (!is_resp && len)
		pending_at(st, len - 1)->req_body_known = false;
}

/* A body's bytes at the start of data; how many it took, or -1 when the stream is lost. */
static long body_bytes(struct h1_state *st, struct h1_dir *d, bool is_resp, const uint8_t *data,
		       size_t len, uint64_t ts, const struct decoder_sink *out)
{
	enum http1_chunk_result cr;
	size_t used;

	if (d->body_remaining) {
		used = len < d->body_remaining ? len : d->body_remaining;
		d->body_remaining -= used;
		if (!d->body_remaining && is_resp)
			response_done(st, ts, out);
		return (long)used;
	}
	cr = http1_chunked_feed(&d->ch, data, len, &used);
	if (cr == HTTP1_CHUNK_DONE) {
		d->chunked = false;
		chunked_size(st, is_resp, d->ch.data);
		if (is_resp)
			response_done(st, ts, out);
		return (long)used;
	}
	if (cr == HTTP1_CHUNK_ERROR)
		lose(d, !is_resp, out);
	return -1;
}

/* The head goes on in the next I/O: keep it (bounded). joined is what was kept plus this I/O's
 * bytes, or NULL when nothing was kept. */
static void keep_partial(struct h1_dir *d, bool is_resp, const uint8_t *p, size_t avail,
			 uint8_t **joined, uint64_t ts, const struct decoder_sink *out)
{
	if (avail > PARTIAL_MAX) {
		lose(d, !is_resp, out);
		reset_partial(d);
		return;
	}
	if (!d->partial_len)
		d->partial_ts = ts;
	if (*joined) {
		free(d->partial);
		d->partial = *joined;
		*joined = NULL;
	} else {
		d->partial = malloc(PARTIAL_MAX);
		if (!d->partial)
			return;
		memcpy(d->partial, p, avail);
	}
	d->partial_len = avail;
}

/* Whether the request's context came from the lines at or after at (not its captured part). */
static bool context_behind(const struct http1_request *r, const uint8_t *at)
{
	const struct http1_str *f = r->traceparent.len ? &r->traceparent
				    : r->b3.len		? &r->b3
				    : r->x_b3_traceid.len ? &r->x_b3_traceid
							  : &r->uber;

	return f->len && (const uint8_t *)f->p >= at;
}

/*
 * The cut request head that waited has all the context lines it will get: parsed up to its
 * last whole line, with the lines after it, and begun. Its framing is unknown past the cut.
 */
static void settle_head(struct h1_state *st, struct h1_dir *d, const struct decoder_sink *out)
{
	uint8_t buf[sizeof(d->wait->head) + HEAD_CTX_MAX + 2];
	struct head_wait *w = d->wait;
	struct http1_request req;
	size_t n;

	if (!w)
		return;
	d->wait = NULL;
	for (n = w->len; n && w->head[n - 1] != '\n'; n--)
		;
	if (n) {
		memcpy(buf, w->head, n);
		memcpy(buf + n, w->ctx.lines, w->ctx.len);
		memcpy(buf + n + w->ctx.len, "\r\n", 2);
		if (http1_parse_request(buf, n + w->ctx.len + 2, &req) == HTTP1_OK) {
			on_request_head(st, &req, w->ts, w->actor, w->tid, out);
			if (context_behind(&req, buf + n))
				out->count(out->ctx, DEC_CTX_BEHIND);
		} else {
			out->count(out->ctx, DEC_PARSE_ERROR);
		}
	}
	free(w);
	d->body_remaining = 0;
	d->chunked = false;
	d->lost = true;
}

/*
 * A request head cut by the capture limit in an I/O the kernel searched for context past the
 * cut: kept with the lines found, and settled now unless the search goes on in the next I/O.
 * False when there is no memory to keep it (the caller parses it as it is).
 */
static bool wait_head(struct h1_state *st, struct h1_dir *d, const uint8_t *p, size_t avail,
		      uint64_t head_ts, const struct decoder_chunk *ch,
		      const struct decoder_sink *out)
{
	struct head_wait *w;

	settle_head(st, d, out);
	w = malloc(sizeof(*w));
	if (!w)
		return false;
	head_ctx__reset(&w->ctx);
	w->ts = head_ts;
	w->actor = ch->actor;
	w->tid = ch->tid;
	w->len = avail < sizeof(w->head) ? avail : sizeof(w->head);
	memcpy(w->head, p, w->len);
	head_ctx__add(&w->ctx, ch->ctx_lines, ch->ctx_len, ch->io_bytes, ch->data, ch->len, 0);
	d->wait = w;
	d->lost = true;
	reset_partial(d);
	if (!(ch->head_scan & SONDE_HEAD_MORE))
		settle_head(st, d, out);
	return true;
}

/*
 * One head at p (avail bytes, the kept part of an earlier I/O first): parsed and acted on.
 * Returns the bytes of this I/O it used, 0 when it goes on in the next I/O (kept), -1 when the
 * stream is lost.
 */
static long one_head(struct h1_state *st, struct h1_dir *d, bool is_resp, const uint8_t *p,
		     size_t avail, uint8_t **joined, const struct decoder_chunk *ch,
		     const struct decoder_sink *out)
{
	uint8_t cut_head[CUT_HEAD_MAX]; /* a cut head's copy: req's strings point into it */
	struct http1_request req;
	struct http1_response resp;
	struct exchange *x = is_resp ? next_unanswered(st) : NULL;
	size_t kept = d->partial_len, head_len;
	uint64_t head_ts = kept ? d->partial_ts : ch->ts;
	bool truncated = ch->tail > 0, cut = false;
	enum http1_result r;

	r = is_resp ? http1_parse_response(p, avail, x && x->head_request, &resp)
		    : http1_parse_request(p, avail, &req);
	if (r == HTTP1_INCOMPLETE && truncated && !is_resp && ch->head_scan &&
	    wait_head(st, d, p, avail, head_ts, ch, out))
		return (long)(avail - kept);
	if (r == HTTP1_INCOMPLETE && truncated) {
		r = parse_truncated(p, avail, is_resp, x && x->head_request,
				    is_resp ? (void *)&resp : (void *)&req, cut_head);
		cut = true;
	}
	if (r == HTTP1_INCOMPLETE) {
		keep_partial(d, is_resp, p, avail, joined, ch->ts, out);
		return 0;
	}
	if (r == HTTP1_INVALID) {
		out->count(out->ctx, DEC_PARSE_ERROR);
		d->lost = true;
		reset_partial(d);
		return -1;
	}
	head_len = cut ? avail : is_resp ? resp.head_len : req.head_len;
	if (is_resp) {
		on_response_head(st, d, &resp, head_ts, ch->ts, out);
	} else {
		on_request_head(st, &req, head_ts, ch->actor, ch->tid, out);
		if (req.framing == HTTP1_BODY_LENGTH && req.content_length) {
			d->body_remaining = req.content_length;
		} else if (req.framing == HTTP1_BODY_CHUNKED) {
			d->chunked = true;
			http1_chunked_init(&d->ch);
		}
	}
	if (cut) {
		/* the head was cut: its framing headers may be missing, and its size with them */
		unknown_size(st, is_resp);
		d->body_remaining = 0;
		d->chunked = false;
		d->lost = true;
	}
	reset_partial(d);
	/* Bytes of this I/O the head used: the kept part came from earlier I/Os. */
	return (long)(head_len - kept);
}

/* Follow one direction over the captured bytes of one I/O. */
static void feed_bytes(struct h1_state *st, struct h1_dir *d, bool is_resp,
		       const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	const uint8_t *data = ch->data, *p;
	uint8_t *joined = NULL;
	size_t off = 0, avail;
	long used;

	while (off < ch->len && !st->gone && !d->lost && !d->until_close) {
		if (d->body_remaining || d->chunked) {
			used = body_bytes(st, d, is_resp, data + off, ch->len - off, ch->ts, out);
			if (used < 0)
				break;
			off += used;
			continue;
		}
		/* A message head starts here, perhaps continuing one kept from the last I/O. */
		p = data + off;
		avail = ch->len - off;
		if (d->partial_len) {
			joined = malloc(d->partial_len + avail);
			if (!joined)
				break;
			memcpy(joined, d->partial, d->partial_len);
			memcpy(joined + d->partial_len, p, avail);
			p = joined;
			avail += d->partial_len;
		}
		used = one_head(st, d, is_resp, p, avail, &joined, ch, out);
		free(joined);
		joined = NULL;
		if (used <= 0)
			break;
		off += used;
	}
}

static void h1_feed(void *p, bool from_client, const struct decoder_chunk *ch,
		    const struct decoder_sink *out)
{
	struct h1_state *st = p;
	struct h1_dir *d = from_client ? &st->req : &st->resp;
	bool is_resp = !from_client;

	if (st->gone)
		return;
	if (st->req.wait && from_client && !ch->run_start) {
		/* the cut head's next I/O: the lines the kernel found in it */
		head_ctx__add(&st->req.wait->ctx, ch->ctx_lines, ch->ctx_len, ch->io_bytes, ch->data,
			      ch->len, ch->gap);
		if (!(ch->head_scan & SONDE_HEAD_MORE))
			settle_head(st, &st->req, out);
	} else {
		settle_head(st, &st->req, out);
	}
	if (ch->run_start) {
		/* its first byte starts a message or goes on with a body */
		d->lost = false;
		reset_partial(d);
	}
	if (ch->run_end && is_resp && !d->body_remaining) {
		/* the rest of a response run (a chunked body, one until the close): the run's end
		 * that follows ends the response, with no framing to follow to it */
		return;
	}
	skip(st, d, ch->gap, is_resp, ch->ts, out);
	if (ch->gap && d->partial_len)
		reset_partial(d);
	feed_bytes(st, d, is_resp, ch, out);
	if (ch->tail)
		skip(st, d, ch->tail, is_resp, ch->ts, out);
	if (is_resp && st->n_answered && !d->body_remaining && !d->chunked && !d->until_close &&
	    !d->lost && !d->partial_len)
		response_done(st, ch->ts, out);
}

/*
 * A response run the kernel summarized (no record: its status line only) started at ts: it
 * answers the requests waiting. Pipelined requests cannot be told apart without the heads: the
 * first gets the status, the others none (the kernel was asked for full records already).
 * Until the run ends (summary_end) the exchanges stay pending. Known already, or no request is
 * waiting yet (its record may still come): nothing, a later summary of the run will tell.
 */
static void summary_answer(struct h1_state *st, uint32_t seq, uint16_t status, uint64_t ts,
			const struct decoder_sink *out)
{
	uint32_t i, n = op_queue__len(&st->pending);
	struct exchange *x;

	if (seq <= st->summary_seq || n <= st->n_answered)
		return;
	st->summary_seq = seq;
	st->summary_open = true;
	if (n - st->n_answered > 1)
		out->count(out->ctx, DEC_PIPELINED_SUMMARY);
	for (i = st->n_answered; i < n; i++) {
		x = pending_at(st, i);
		if (i == st->n_answered) {
			x->status = status;
			x->has_response = true;
		}
		out->answered(out->ctx, &x->head, ts);
	}
	st->n_answered = n;
}

/* The summarized response run seq ended at last_ts: its exchanges are done. */
static void summary_end(struct h1_state *st, uint32_t seq, uint64_t last_ts,
		     const struct decoder_sink *out)
{
	if (!st->summary_open || seq != st->summary_seq)
		return;
	st->summary_open = false;
	response_done(st, last_ts, out);
}

/* A run ended: a response that was still being sent ended with it. */
static void h1_run_end(void *p, bool from_client, const struct sonde_run_summary *run,
		       const struct decoder_sink *out)
{
	struct h1_state *st = p;

	settle_head(st, &st->req, out);
	if (from_client || st->gone)
		return;
	if (run->http1_status) {
		summary_answer(st, run->seq, run->http1_status, run->first_ts_ns, out);
		summary_end(st, run->seq, run->last_ts_ns, out);
		return;
	}
	if (st->n_answered) {
		st->resp.body_remaining = 0;
		st->resp.chunked = false;
		st->resp.until_close = false;
		response_done(st, run->last_ts_ns, out);
	}
}

static void h1_run_summary(void *p, bool from_client, const struct sonde_run_summary *run,
			   const struct decoder_sink *out)
{
	settle_head(p, &((struct h1_state *)p)->req, out);
	if (!from_client && run->http1_status)
		summary_answer(p, run->seq, run->http1_status, run->first_ts_ns, out);
}

/* A thread's note that it started a summarized response on this connection. */
static void h1_note(void *p, const struct sonde_http1_note *n, const struct decoder_sink *out)
{
	settle_head(p, &((struct h1_state *)p)->req, out);
	summary_answer(p, n->run_seq, n->status, n->ts_ns, out);
}

static bool h1_waiting(const void *p)
{
	const struct h1_state *st = p;

	return op_queue__len(&st->pending) || st->summary_open || st->req.wait;
}

/* Requests left without a response: the connection closed mid-exchange. */
static void h1_close(void *p, uint64_t ts, const struct decoder_sink *out)
{
	struct h1_state *st = p;
	uint32_t i, n;

	settle_head(st, &st->req, out);
	n = op_queue__len(&st->pending);
	for (i = 0; i < n; i++)
		if (!pending_at(st, i)->has_response)
			pending_at(st, i)->head.end_ns = ts;
	finish_front(st, n, true, out);
}

/* n bytes of src at dst + o (o < dstsz), cut to leave room for a NUL; the new end. */
static size_t put_at(char *dst, size_t dstsz, size_t o, const char *src, size_t n)
{
	if (o + 1 >= dstsz)
		return o;
	if (n > dstsz - 1 - o)
		n = dstsz - 1 - o;
	memcpy(dst + o, src, n);
	return o + n;
}

/* a + b + c (of lengths la, lb, lc) into dst, cut to fit, NUL-terminated; the length. */
static size_t cat3(char *dst, size_t dstsz, const char *a, size_t la, const char *b, size_t lb,
		   const char *c, size_t lc)
{
	size_t o = put_at(dst, dstsz, 0, a, la);

	o = put_at(dst, dstsz, o, b, lb);
	o = put_at(dst, dstsz, o, c, lc);
	dst[o] = 0;
	return o;
}

/* Split "host:port" (or "[v6]:port") from a Host header; the length of the name. */
static size_t split_host(const char *host, size_t len, char *name, size_t namesz, int *port)
{
	const char *colon, *end;
	size_t n;

	*port = 0;
	if (host[0] == '[') {
		end = memchr(host, ']', len);
		n = end ? (size_t)(end - host - 1) : len - 1;
		if (end && end + 1 < host + len && end[1] == ':')
			*port = atoi(end + 2);
		host++;
	} else {
		colon = strrchr(host, ':'); /* host is NUL-terminated at len */
		n = colon ? (size_t)(colon - host) : len;
		if (colon)
			*port = atoi(colon + 1);
	}
	if (n >= namesz)
		n = namesz - 1;
	memcpy(name, host, n);
	name[n] = 0;
	return n;
}

/* The attributes of the request: url.* and the server it was sent to (semantic conventions). */
static void request_attrs(const struct exchange *x, struct span *sp, const struct conn_info *info,
			  const struct sonde_config *cfg)
{
	char host[128], url[600];
	size_t host_len, n;
	int host_port = 0;

	host_len = split_host(x->host, x->host_len, host, sizeof(host), &host_port);
	if (info->role == SONDE_ROLE_SERVER) {
		span__add_str(sp, "url.path", x->path, x->path_len);
		span__add_str(sp, "url.scheme", info->tls ? "https" : "http", info->tls ? 5 : 4);
		if (x->query_len && cfg->export_query)
			span__add_str(sp, "url.query", x->query, x->query_len);
	} else {
		n = cat3(url, sizeof(url), info->tls ? "https://" : "http://", info->tls ? 8 : 7,
			 host_len ? x->host : info->peer,
			 host_len ? x->host_len : info->peer_len, x->path, x->path_len);
		if (x->query_len && cfg->export_query) {
			n = put_at(url, sizeof(url), n, "?", 1);
			n = put_at(url, sizeof(url), n, x->query, x->query_len);
			url[n] = 0;
		}
		span__add_str(sp, "url.full", url, n);
	}
	span__add_server_attrs(sp, info, host, host_len, host_port);
}

static void h1_build_span(const struct op_head *op, struct span *sp, const struct conn_info *info,
			  const struct sonde_config *cfg)
{
	const struct exchange *x = (const struct exchange *)op;
	char ver[4] = {'1', '.', '0', 0}, code[3];
	const char *route = NULL;
	size_t route_len = 0;

	if (x->tracestate[0] && !memcmp(op->trace_id, op->ctx.trace_id, 16))
		span__set_trace_state(sp, x->tracestate, strlen(x->tracestate));
	/* a route the user declared names a server span; else the template heuristic does */
	if (info->role == SONDE_ROLE_SERVER && cfg)
		route = routes__for_span(&cfg->routes, sp, x->path, x->path_len, &route_len);
	if (route)
		cat3(sp->name, sizeof(sp->name), x->method, x->method_len, " ", 1, route, route_len);
	else
		cat3(sp->name, sizeof(sp->name), x->method, x->method_len, " ", 1, x->route,
		     x->route_len);
	span__add_str(sp, "http.request.method", x->method, x->method_len);
	if (route)
		span__add_str(sp, "http.route", route, route_len);
	request_attrs(x, sp, info, cfg);
	span__add_str(sp, "url.template", x->route, x->route_len);
	ver[2] = (char)('0' + (x->version_minor % 10));
	span__add_str(sp, "network.protocol.version", ver, 3);
	if (x->ua_len)
		span__add_str(sp, "user_agent.original", x->user_agent, x->ua_len);
	if (x->req_body_known)
		span__add_int(sp, "http.request.body.size", (int64_t)x->req_body);
	if (!x->has_response)
		return;
	span__add_int(sp, "http.response.status_code", x->status);
	if (x->resp_body_known)
		span__add_int(sp, "http.response.body.size", (int64_t)x->resp_body);
	/* Errors by the conventions: 5xx on servers, 4xx and 5xx on clients. */
	if (x->status >= 500 || (info->role != SONDE_ROLE_SERVER && x->status >= 400)) {
		sp->status = SPAN_STATUS_ERROR;
		code[0] = (char)('0' + x->status / 100 % 10);
		code[1] = (char)('0' + x->status / 10 % 10);
		code[2] = (char)('0' + x->status % 10);
		span__add_str(sp, "error.type", code, 3);
	}
}

const struct decoder http1_decoder = {
	.name = "http1",
	.link_wait_ns = LINK_WAIT_NS,
	.detect = h1_detect,
	.create = h1_create,
	.destroy = h1_destroy,
	.feed = h1_feed,
	.run_end = h1_run_end,
	.run_summary = h1_run_summary,
	.note = h1_note,
	.waiting = h1_waiting,
	.close = h1_close,
	.build_span = h1_build_span,
};
