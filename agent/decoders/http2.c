// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/2 (RFC 9113) and gRPC over it: one operation per stream. The kernel walks an HTTP/2
 * connection's frames (capture policy H2_FRAMES, taken when a run starts with the client
 * preface): each record holds the I/O's frame headers and header blocks, with DATA payloads
 * left out. This decoder follows the same walk over those bytes, joins HEADERS and
 * CONTINUATION fragments into header blocks, decodes them with one HPACK table per direction
 * (hpack.h), and ends a stream at the END_STREAM of its response, a RST_STREAM, a GOAWAY that
 * excludes it, or the close. A record lost on the way is found by the walk position the next
 * record carries: the frames resync there, and the HPACK table of that direction is no longer
 * trusted for the entries it may have missed.
 *
 * A stream whose request content-type is application/grpc is a gRPC call: named by its
 * method, with the status from its trailers (or a trailers-only response), by the stable RPC
 * semantic conventions (v1.45.0). Any other stream is an HTTP request as HTTP/1.x's, with
 * network.protocol.version 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decoder.h"
#include "decoders/hpack.h"
#include "decoders/http1.h"
#include "decoders/tracecontext.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define FRAME_HEAD 9
#define BLOCK_MAX (64 * 1024) /* a header block longer than this is not decoded */
#define STREAMS_MAX 256	      /* streams open at once on one connection */

enum frame_type {
	FT_DATA = 0x0,
	FT_HEADERS = 0x1,
	FT_PRIORITY = 0x2,
	FT_RST_STREAM = 0x3,
	FT_SETTINGS = 0x4,
	FT_PUSH_PROMISE = 0x5,
	FT_PING = 0x6,
	FT_GOAWAY = 0x7,
	FT_WINDOW_UPDATE = 0x8,
	FT_CONTINUATION = 0x9,
};

#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

/* One stream: the operation the core sees. */
struct h2_stream {
	struct op_head head;
	uint32_t id;
	bool req_seen, resp_seen, req_end, done_sent;
	bool grpc;
	bool reset;		/* RST_STREAM, or refused by a GOAWAY */
	uint32_t reset_code;
	uint16_t status;	/* :status; 0 when none */
	int grpc_status;	/* -1: none seen */
	uint64_t grpc_timeout_ns; /* the request's grpc-timeout; 0: none */
	uint32_t unknown_fields; /* header fields HPACK could not resolve (sonde joined late) */
	/* Body sizes: the DATA frames' lengths of each direction ([1]: the client's). Unsure
	 * when a frame was padded (its padding is in its length) or a walk lost its place while
	 * the stream was open (frames may have gone by unseen). */
	uint64_t data[2];
	bool data_seen[2], size_unsure;
	uint32_t losses; /* both walks' losses when the stream was opened */
	/* The response's content-length (-1: none), and when its DATA reached it: a client that
	 * has the whole body may close before the server's END_STREAM comes (curl does, from
	 * Node's http2, which ends a stream with an empty DATA frame of its own). */
	int resp_clen;
	uint64_t body_end_ts;
	uint16_t method_len, path_len, authority_len, scheme_len, ua_len, route_len;
	char method[16];
	char path[256];
	char authority[128];
	char scheme[8];
	char user_agent[128];
	char route[128];
};

/* One direction of the connection: the frame walk, the header block being joined, HPACK. */
struct h2_dir {
	uint8_t hdr[FRAME_HEAD];
	uint8_t hdr_len;     /* bytes of the frame header under way */
	uint32_t left;	     /* payload bytes of the frame under way still to come */
	bool elided;	     /* its payload is not in the records */
	bool lost;	     /* the walk is lost until a record says where frames are */
	uint64_t skipped;    /* bytes of runs that ended with I/O no record was written for */
	uint8_t type, flags; /* the frame under way */
	uint32_t sid;
	uint64_t frame_ts;   /* when its first byte moved */
	bool discard;	     /* its start was lost: its payload is passed over, not used */
	uint8_t *payload;    /* a kept frame's payload, as it comes */
	uint32_t payload_len, payload_cap;
	uint8_t *block;	     /* a header block being joined (HEADERS + CONTINUATION) */
	uint32_t block_len, block_cap, block_sid;
	bool block_end_stream, block_push, block_bad;
	uint64_t block_ts;
	struct hpack_table table;
	bool preface_left;   /* the client direction still has its preface to pass */
	uint32_t losses;     /* times the walk lost its place */
};

/* Client streams whose request one write opened, begun together when its I/O is read. */
#define OPENED_MAX 64

struct h2_state {
	const struct sonde_config *cfg;
	const struct conn_info *conn;
	struct h2_dir dir[2]; /* [1]: from the client */
	struct h2_stream *streams[STREAMS_MAX];
	uint32_t n_streams;
	/*
	 * A client's requests of one I/O, in order: an event loop writes the calls of several
	 * requests at once, so each is begun knowing its place among them (op_head's batch_*),
	 * and the previous such I/O's time.
	 */
	struct h2_stream *opened[OPENED_MAX];
	uint32_t n_opened;
	uint64_t opened_prev_ts;
	bool gone;
};

/* --- detection and state --------------------------------------------------------------- */

/*
 * The client preface; or a server's SETTINGS frame first (some servers write theirs before
 * they read the preface): the connection then waits for the preface's run.
 */
static uint32_t be32(const uint8_t *p);

/*
 * Whether a frame header could open a run of a connection under way: a type of RFC 9113's
 * with the stream and length it requires, at most the default SETTINGS_MAX_FRAME_SIZE long
 * (which text and the other binary protocols here fail at their first byte).
 */
static bool frame_head_ok(const uint8_t *p)
{
	uint32_t len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	uint32_t sid = be32(p + 5);

	if (len > 16384 || (sid & 0x80000000U))
		return false;
	switch (p[3]) {
	case FT_DATA: case FT_HEADERS: case FT_CONTINUATION:
		return sid != 0;
	case FT_PRIORITY:
		return sid != 0 && len == 5;
	case FT_RST_STREAM:
		return sid != 0 && len == 4;
	case FT_SETTINGS:
		return sid == 0 && len % 6 == 0 && (!(p[4] & 1) || len == 0);
	case FT_PING:
		return sid == 0 && len == 8;
	case FT_GOAWAY:
		return sid == 0 && len >= 8;
	case FT_WINDOW_UPDATE:
		return len == 4;
	default:
		return false;
	}
}

/* Whether n bytes are whole frames of valid heads, the last one possibly cut by the capture. */
static bool frames_run(const uint8_t *p, size_t n)
{
	size_t at = 0;

	while (at + FRAME_HEAD <= n) {
		if (!frame_head_ok(p + at))
			return false;
		at += FRAME_HEAD + ((uint32_t)p[at] << 16 | (uint32_t)p[at + 1] << 8 | p[at + 2]);
	}
	return at && (at >= n || n - at < FRAME_HEAD);
}

static enum detect_result h2_detect(const uint8_t *p, size_t n, const struct conn_info *info)
{
	uint32_t len;

	(void)info;
	if (n >= H2_PREFACE_LEN && !memcmp(p, H2_PREFACE, H2_PREFACE_LEN))
		return DETECT_CLIENT;
	if (n < FRAME_HEAD)
		return DETECT_NO;
	len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	if (p[3] == FT_SETTINGS && p[4] == 0 && !p[5] && !p[6] && !p[7] && !p[8] && len % 6 == 0 &&
	    len <= 60 && n >= FRAME_HEAD + len)
		return DETECT_MIDWAY;
	/* Frames of a connection under way: opened before sonde started, its HPACK tables are
	 * unknown, and a name from them could be wrong. (A SETTINGS that is not an ACK may be a
	 * server's first, cut short: not that.) */
	if (!(p[3] == FT_SETTINGS && !(p[4] & 1)) && frames_run(p, n))
		return DETECT_LATE;
	return DETECT_NO;
}

static void *h2_create(const struct decoder_env *env)
{
	struct h2_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->cfg = env->cfg;
	st->conn = env->conn;
	/* Both tables followed from the connection's first header block: the kernel took the
	 * policy at the preface. */
	hpack__init(&st->dir[0].table, 4096, true);
	hpack__init(&st->dir[1].table, 4096, true);
	st->dir[1].preface_left = true; /* walked as a payload the records keep */
	st->dir[1].left = H2_PREFACE_LEN;
	return st;
}

static void dir_free(struct h2_dir *d)
{
	free(d->payload);
	free(d->block);
	hpack__free(&d->table);
}

static void h2_destroy(void *p)
{
	struct h2_state *st = p;
	uint32_t i;

	if (!st)
		return;
	for (i = 0; i < st->n_streams; i++)
		free(st->streams[i]);
	dir_free(&st->dir[0]);
	dir_free(&st->dir[1]);
	free(st);
}

/* --- streams ----------------------------------------------------------------------------- */

static struct h2_stream *stream_find(struct h2_state *st, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < st->n_streams; i++)
		if (st->streams[i]->id == id)
			return st->streams[i];
	return NULL;
}

static struct h2_stream *stream_new(struct h2_state *st, uint32_t id,
				    const struct decoder_sink *out)
{
	struct h2_stream *s;

	if (st->n_streams == STREAMS_MAX) {
		out->count(out->ctx, DEC_QUEUE_FULL);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->head.stream = id;
	s->grpc_status = -1;
	s->resp_clen = -1;
	s->losses = st->dir[0].losses + st->dir[1].losses;
	st->streams[st->n_streams++] = s;
	return s;
}

/* The stream is finished: the core builds its span; then it is forgotten. */
static void stream_done(struct h2_state *st, struct h2_stream *s, uint64_t ts, bool incomplete,
			const struct decoder_sink *out)
{
	uint32_t i;

	if (s->head.start_ns && s->req_seen) {
		if (s->losses != st->dir[0].losses + st->dir[1].losses)
			s->size_unsure = true;
		s->head.end_ns = ts > s->head.start_ns ? ts : s->head.start_ns;
		s->head.incomplete = incomplete && !s->reset;
		out->done(out->ctx, &s->head);
	}
	for (i = 0; i < st->n_streams; i++) {
		if (st->streams[i] == s) {
			st->streams[i] = st->streams[--st->n_streams];
			break;
		}
	}
	for (i = 0; i < st->n_opened; i++) /* done before its I/O was read to the end (reset) */
		if (st->opened[i] == s)
			st->opened[i] = NULL;
	free(s);
}

/* The client streams the I/O just read opened: begun, each with its place among them. */
static void begin_opened(struct h2_state *st, uint64_t ts, const struct decoder_sink *out)
{
	uint32_t i, n = 0, pos = 0;

	for (i = 0; i < st->n_opened; i++)
		n += st->opened[i] != NULL;
	for (i = 0; i < st->n_opened; i++) {
		if (!st->opened[i])
			continue;
		st->opened[i]->head.batch_n = n > 1 ? (uint16_t)n : 0;
		st->opened[i]->head.batch_pos = (uint16_t)pos++;
		st->opened[i]->head.batch_after_ns = st->opened_prev_ts;
		out->begin(out->ctx, &st->opened[i]->head);
	}
	if (st->n_opened)
		st->opened_prev_ts = ts;
	st->n_opened = 0;
}

/* --- header fields ----------------------------------------------------------------------- */

struct field_ctx {
	struct h2_state *st;
	struct h2_stream *s;
	bool from_client;
	bool trailers;
};

static void copy_str(char *dst, size_t dstsz, uint16_t *len, const char *v, size_t n)
{
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
	*len = (uint16_t)n;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(name, want, len);
}

static int parse_int(const char *v, size_t n)
{
	int x = 0;
	size_t i;

	if (!n || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* A method name as a span name may carry it: visible ASCII only. */
static bool method_ok(const char *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (m[i] <= 0x20 || m[i] >= 0x7f)
			return false;
	return n > 0;
}

/* A grpc-timeout value (gRPC over HTTP/2: 1 to 8 digits and a unit, H M S m u n) in ns; 0 if
 * it is not one. */
static uint64_t grpc_timeout(const char *v, size_t n)
{
	static const struct {
		char unit;
		uint64_t ns;
	} units[] = {{'H', 3600000000000ULL}, {'M', 60000000000ULL}, {'S', 1000000000ULL},
		     {'m', 1000000ULL},	       {'u', 1000ULL},	       {'n', 1ULL}};
	uint64_t x = 0;
	size_t i;

	if (n < 2 || n > 9)
		return 0;
	for (i = 0; i < n - 1; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (v[n - 1] == units[i].unit)
			return x * units[i].ns;
	return 0;
}

static void request_field(struct h2_stream *s, const char *name, size_t nlen, const char *v,
			  size_t vlen)
{
	struct trace_context tc;

	if (name_is(name, nlen, ":method")) {
		if (method_ok(v, vlen)) /* else left unknown: the span is named "HTTP" */
			copy_str(s->method, sizeof(s->method), &s->method_len, v, vlen);
	}
	else if (name_is(name, nlen, ":path"))
		copy_str(s->path, sizeof(s->path), &s->path_len, v, vlen);
	else if (name_is(name, nlen, ":authority") || (name_is(name, nlen, "host") &&
						      !s->authority_len))
		copy_str(s->authority, sizeof(s->authority), &s->authority_len, v, vlen);
	else if (name_is(name, nlen, ":scheme"))
		copy_str(s->scheme, sizeof(s->scheme), &s->scheme_len, v, vlen);
	else if (name_is(name, nlen, "user-agent"))
		copy_str(s->user_agent, sizeof(s->user_agent), &s->ua_len, v, vlen);
	else if (name_is(name, nlen, "content-type"))
		s->grpc = vlen >= 16 && !memcmp(v, "application/grpc", 16);
	else if (name_is(name, nlen, "grpc-timeout"))
		s->grpc_timeout_ns = grpc_timeout(v, vlen);
	else if (name_is(name, nlen, "traceparent") && !s->head.has_ctx &&
		 tracecontext_parse_traceparent(v, vlen, &tc))
		s->head.has_ctx = true, s->head.ctx = tc;
	else if (name_is(name, nlen, "b3") && !s->head.has_ctx && tracecontext_parse_b3(v, vlen, &tc))
		s->head.has_ctx = true, s->head.ctx = tc;
	else if (name_is(name, nlen, "uber-trace-id") && !s->head.has_ctx &&
		 tracecontext_parse_uber(v, vlen, &tc))
		s->head.has_ctx = true, s->head.ctx = tc;
}

static void on_field(void *p, const char *name, size_t nlen, const char *v, size_t vlen,
		     unsigned flags)
{
	struct field_ctx *f = p;
	struct h2_stream *s = f->s;

	if (!s)
		return;
	if (flags & (HPACK_NAME_UNKNOWN | HPACK_VALUE_UNKNOWN)) {
		s->unknown_fields++;
		return; /* never a wrong name: what is not known stays out */
	}
	if (f->from_client) {
		if (!f->trailers)
			request_field(s, name, nlen, v, vlen);
		return;
	}
	if (name_is(name, nlen, ":status"))
		s->status = (uint16_t)(parse_int(v, vlen) > 0 ? parse_int(v, vlen) : 0);
	else if (name_is(name, nlen, "grpc-status"))
		s->grpc_status = parse_int(v, vlen);
	else if (name_is(name, nlen, "content-length") && !f->trailers)
		s->resp_clen = parse_int(v, vlen);
	else if (name_is(name, nlen, "content-type") && vlen >= 16 &&
		 !memcmp(v, "application/grpc", 16))
		s->grpc = true;
}

/* --- header blocks and frames ------------------------------------------------------------ */

/* One direction ended a stream (END_STREAM): the response's end finishes it. */
static void end_stream(struct h2_state *st, struct h2_stream *s, bool from_client, uint64_t ts,
		       const struct decoder_sink *out)
{
	if (from_client)
		s->req_end = true;
	else
		stream_done(st, s, ts, false, out);
}

static void reset_stream(struct h2_state *st, struct h2_stream *s, uint32_t code, uint64_t ts,
			 const struct decoder_sink *out)
{
	s->reset = true;
	s->reset_code = code;
	stream_done(st, s, ts, false, out);
}

/* The HPACK table of d is no longer trusted: entries may have been inserted unseen. */
static void table_lost(struct h2_dir *d)
{
	uint32_t max = d->table.settings_max;

	hpack__free(&d->table);
	hpack__init(&d->table, max, false);
}

/* A complete header block of d (HEADERS or PUSH_PROMISE and their CONTINUATIONs). */
static void block_done(struct h2_state *st, struct h2_dir *d, bool from_client,
		       const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	struct field_ctx f = {.st = st, .from_client = from_client};
	struct h2_stream *s = NULL;

	if (!d->block_push) {
		s = stream_find(st, d->block_sid);
		if (!s && from_client && (d->block_sid & 1)) {
			s = stream_new(st, d->block_sid, out);
			if (s) {
				s->head.start_ns = d->block_ts;
				s->head.actor = ch->actor;
				s->head.tid = ch->tid;
			}
		}
	}
	f.s = s;
	f.trailers = s && (from_client ? s->req_seen : s->resp_seen);
	if (d->block_bad) {
		table_lost(d);
		if (s)
			s->unknown_fields++;
	} else if (d->block_len &&
		   hpack__decode(&d->table, d->block, d->block_len, on_field, &f) < 0) {
		out->count(out->ctx, DEC_PARSE_ERROR);
	}
	d->block_len = 0;
	d->block_sid = 0;
	if (!s)
		return;
	if (from_client && !s->req_seen) {
		s->req_seen = true;
		if (s->path_len) /* a path HPACK could not resolve stays unknown */
			s->route_len = (uint16_t)http_route_from_path(s->path, s->path_len,
								      s->route, sizeof(s->route));
		if (st->conn->role == SONDE_ROLE_CLIENT) {
			if (st->n_opened == OPENED_MAX)
				begin_opened(st, ch->ts, out);
			st->opened[st->n_opened++] = s;
		} else {
			out->begin(out->ctx, &s->head);
		}
	} else if (!from_client && !s->resp_seen) {
		s->resp_seen = true;
		/* its first byte can have come before the request's last I/O was stamped */
		out->answered(out->ctx, &s->head,
			      d->block_ts > s->head.start_ns ? d->block_ts : s->head.start_ns);
	}
	if (d->block_end_stream)
		end_stream(st, s, from_client, ch->ts, out);
}

static bool block_add(struct h2_dir *d, const uint8_t *p, uint32_t n)
{
	uint8_t *b;
	uint32_t cap;

	if (d->block_bad)
		return false;
	if (!n)
		return true; /* an empty fragment: nothing to join (and no buffer yet, maybe) */
	if (d->block_len + n > BLOCK_MAX) {
		d->block_bad = true;
		return false;
	}
	if (d->block_len + n > d->block_cap) {
		cap = d->block_cap ? d->block_cap : 512;
		while (cap < d->block_len + n)
			cap *= 2;
		b = realloc(d->block, cap);
		if (!b) {
			d->block_bad = true;
			return false;
		}
		d->block = b;
		d->block_cap = cap;
	}
	memcpy(d->block + d->block_len, p, n);
	d->block_len += n;
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A HEADERS or PUSH_PROMISE frame's fragment starts a header block. */
static void block_start(struct h2_state *st, struct h2_dir *d, bool from_client,
			const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	const uint8_t *p = d->payload;
	uint32_t n = d->payload_len, pad = 0, skip = 0;

	if (d->flags & FL_PADDED) {
		if (n < 1)
			goto bad;
		pad = p[0];
		skip = 1;
	}
	if (d->type == FT_HEADERS && (d->flags & FL_PRIORITY))
		skip += 5;
	if (d->type == FT_PUSH_PROMISE)
		skip += 4;
	if (skip + pad > n)
		goto bad;
	d->block_len = 0;
	d->block_bad = false;
	d->block_sid = d->sid;
	d->block_push = d->type == FT_PUSH_PROMISE;
	d->block_end_stream = d->type == FT_HEADERS && (d->flags & FL_END_STREAM);
	d->block_ts = d->frame_ts;
	if (n > skip + pad)
		block_add(d, p + skip, n - skip - pad);
	if (d->flags & FL_END_HEADERS)
		block_done(st, d, from_client, ch, out);
	return;
bad:
	out->count(out->ctx, DEC_PARSE_ERROR);
	table_lost(d);
}

static void on_settings(struct h2_state *st, struct h2_dir *d, bool from_client)
{
	uint32_t i;

	if (d->flags & FL_ACK)
		return;
	/* The sender's limit for the tables that decode what it receives. */
	for (i = 0; i + 6 <= d->payload_len; i += 6)
		if ((d->payload[i] << 8 | d->payload[i + 1]) == 0x1)
			hpack__set_settings_max(&st->dir[!from_client].table,
						be32(d->payload + i + 2));
}

static void on_goaway(struct h2_state *st, struct h2_dir *d, uint64_t ts,
		      const struct decoder_sink *out)
{
	uint32_t last, i;

	if (d->payload_len < 8)
		return;
	last = be32(d->payload) & 0x7fffffff;
	/* Streams above the last one the sender processed were refused. */
	for (i = 0; i < st->n_streams;) {
		if (st->streams[i]->id > last)
			reset_stream(st, st->streams[i], 0x7 /* REFUSED_STREAM */, ts, out);
		else
			i++;
	}
}

/* A frame whose payload the records keep, complete. */
static void on_frame(struct h2_state *st, struct h2_dir *d, bool from_client,
		     const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	struct h2_stream *s;

	if (d->preface_left) {
		d->preface_left = false; /* the preface, walked as a payload */
		return;
	}
	switch (d->type) {
	case FT_HEADERS:
	case FT_PUSH_PROMISE:
		block_start(st, d, from_client, ch, out);
		break;
	case FT_CONTINUATION:
		if (!d->block_sid || d->sid != d->block_sid) {
			out->count(out->ctx, DEC_PARSE_ERROR);
			break;
		}
		block_add(d, d->payload, d->payload_len);
		if (d->flags & FL_END_HEADERS)
			block_done(st, d, from_client, ch, out);
		break;
	case FT_RST_STREAM:
		s = stream_find(st, d->sid);
		if (s && d->payload_len >= 4)
			reset_stream(st, s, be32(d->payload), ch->ts, out);
		break;
	case FT_SETTINGS:
		on_settings(st, d, from_client);
		break;
	case FT_GOAWAY:
		/* A client's names the server's pushes it took: only a server's refuses requests. */
		if (!from_client)
			on_goaway(st, d, ch->ts, out);
		break;
	default:
		break;
	}
}

/* A frame whose payload the records leave out: only its header counts (DATA's END_STREAM). */
static void on_elided_frame(struct h2_state *st, struct h2_dir *d, bool from_client,
			    const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	struct h2_stream *s;

	if (d->type != FT_DATA || !(s = stream_find(st, d->sid)))
		return;
	s->data[from_client] += d->left;
	s->data_seen[from_client] = true;
	if (!from_client && s->resp_clen >= 0 && s->data[0] == (uint64_t)s->resp_clen)
		s->body_end_ts = ch->ts;
	if (d->flags & FL_PADDED)
		s->size_unsure = true;
	if (d->flags & FL_END_STREAM)
		end_stream(st, s, from_client, ch->ts, out);
}

static bool keeps_payload(uint8_t type)
{
	return type == FT_HEADERS || type == FT_RST_STREAM || type == FT_SETTINGS ||
	       type == FT_PUSH_PROMISE || type == FT_GOAWAY || type == FT_CONTINUATION;
}

/* --- the walk ---------------------------------------------------------------------------- */

/* A frame header is complete in d->hdr. */
static void frame_head(struct h2_state *st, struct h2_dir *d, bool from_client,
		       const struct decoder_chunk *ch, const struct decoder_sink *out)
{
	d->left = (uint32_t)d->hdr[0] << 16 | (uint32_t)d->hdr[1] << 8 | d->hdr[2];
	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid = be32(d->hdr + 5) & 0x7fffffff;
	d->elided = !keeps_payload(d->type);
	d->discard = false;
	d->hdr_len = 0;
	d->payload_len = 0;
	if (d->elided)
		on_elided_frame(st, d, from_client, ch, out);
	else if (!d->left)
		on_frame(st, d, from_client, ch, out);
}

static bool payload_add(struct h2_dir *d, const uint8_t *p, uint32_t n)
{
	uint8_t *b;
	uint32_t cap;

	if (!n)
		return true;
	if (d->payload_len + n > d->payload_cap) {
		cap = d->payload_cap ? d->payload_cap : 256;
		while (cap < d->payload_len + n)
			cap *= 2;
		if (cap > BLOCK_MAX + 512)
			return false;
		b = realloc(d->payload, cap);
		if (!b)
			return false;
		d->payload = b;
		d->payload_cap = cap;
	}
	memcpy(d->payload + d->payload_len, p, n);
	d->payload_len += n;
	return true;
}

/* The walk of d lost its place: found again by the next record that starts at a header. */
static void walk_lost(struct h2_dir *d, bool from_client, const struct decoder_sink *out)
{
	if (!d->lost)
		out->lost(out->ctx, from_client);
	d->lost = true;
	d->losses++;
	d->block_len = 0;
	d->block_sid = 0;
	table_lost(d);
}

/*
 * Where the kernel says this I/O starts, against where the walk expects it (after the bytes of
 * records written for nothing but left-out payload): a record was lost on the way when they
 * differ, and the walk takes the kernel's place.
 */
static void walk_sync(struct h2_dir *d, bool from_client, const struct decoder_chunk *ch,
		      const struct decoder_sink *out)
{
	bool elided = ch->walk_flags & SONDE_WALK_ELIDED;
	uint64_t expect = d->left, gap = ch->gap + d->skipped;

	d->skipped = 0;
	if (!d->lost && d->elided && !d->hdr_len && gap <= expect)
		expect -= gap;
	else if (gap)
		expect = UINT64_MAX;
	if (!d->lost && ch->walk_part == d->hdr_len && ch->walk_left == expect &&
	    (!expect || elided == d->elided)) {
		d->left = (uint32_t)expect;
		return;
	}
	if (!d->lost)
		walk_lost(d, from_client, out);
	if (ch->walk_part)
		return; /* inside a header whose first bytes are gone: wait for the next */
	d->lost = false;
	d->hdr_len = 0;
	d->left = ch->walk_left;
	/* the rest of a frame whose start was not seen: passed over, in the record or not */
	d->elided = elided;
	d->discard = !elided && d->left;
	d->payload_len = 0;
	d->preface_left = false;
}

static void feed_frames(struct h2_state *st, bool from_client, const struct decoder_chunk *ch,
			const struct decoder_sink *out);

static void h2_feed(void *p, bool from_client, const struct decoder_chunk *ch,
		    const struct decoder_sink *out)
{
	struct h2_state *st = p;

	feed_frames(st, from_client, ch, out);
	if (st->n_opened)
		begin_opened(st, ch->ts, out);
}

static void feed_frames(struct h2_state *st, bool from_client, const struct decoder_chunk *ch,
			const struct decoder_sink *out)
{
	struct h2_dir *d = &st->dir[from_client];
	uint64_t io_left = ch->len + ch->tail, take;
	size_t off = 0;

	if (st->gone)
		return;
	if (!(ch->walk_flags & SONDE_WALK_ON)) {
		/* A run's end the kernel wrote no record for: I/O of left-out payload only. */
		d->skipped += ch->gap;
		return;
	}
	if (ch->walk_flags & SONDE_WALK_LOST) {
		walk_lost(d, from_client, out);
		return;
	}
	walk_sync(d, from_client, ch, out);
	while (io_left && !d->lost) {
		if (d->hdr_len || !d->left) {
			if (!d->hdr_len)
				d->frame_ts = ch->ts;
			take = FRAME_HEAD - d->hdr_len;
			if (take > io_left)
				take = io_left;
			if (off + take > ch->len)
				goto cut;
			memcpy(d->hdr + d->hdr_len, ch->data + off, take);
			d->hdr_len += take;
			off += take;
			io_left -= take;
			if (d->hdr_len == FRAME_HEAD)
				frame_head(st, d, from_client, ch, out);
			continue;
		}
		take = d->left < io_left ? d->left : io_left;
		if (!d->elided) {
			if (off + take > ch->len)
				goto cut;
			if (!d->discard && !payload_add(d, ch->data + off, (uint32_t)take)) {
				walk_lost(d, from_client, out);
				return;
			}
			off += take;
		}
		d->left -= take;
		io_left -= take;
		if (!d->left && !d->elided && !d->discard)
			on_frame(st, d, from_client, ch, out);
		if (!d->left)
			d->discard = false;
	}
	return;
cut:
	/* The record ran out of room (WALK_CUT): the next record says where frames are. */
	walk_lost(d, from_client, out);
}

static void h2_run_end(void *p, bool from_client, const struct sonde_run_summary *run,
		       const struct decoder_sink *out)
{
	(void)p, (void)from_client, (void)run, (void)out; /* streams end by their frames */
}

static bool h2_waiting(const void *p)
{
	return ((const struct h2_state *)p)->n_streams > 0;
}

static void h2_close(void *p, uint64_t ts, const struct decoder_sink *out)
{
	struct h2_state *st = p;
	struct h2_stream *s;

	while (st->n_streams) {
		s = st->streams[st->n_streams - 1];
		/* its whole body came: complete at its last byte, whoever closed */
		if (s->body_end_ts && !s->reset)
			stream_done(st, s, s->body_end_ts, false, out);
		else
			stream_done(st, s, ts, true, out);
	}
	st->gone = true;
}

/* --- spans ------------------------------------------------------------------------------- */

static const char *const grpc_codes[] = {
	"OK",		 "CANCELLED",	      "UNKNOWN",	  "INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",	  "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",	  "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL",	      "UNAVAILABLE",	  "DATA_LOSS",
	"UNAUTHENTICATED",
};

/*
 * A stream cancelled (RST_STREAM CANCEL, from either end) when its grpc-timeout had run out:
 * gRPC's libraries cancel a call so at its deadline, and report DEADLINE_EXCEEDED, not
 * CANCELLED. The client's clock starts before its HEADERS are written and the server's after
 * they are read, so a tenth of the timeout (and 2 ms) is allowed for.
 */
static bool past_deadline(const struct h2_stream *s)
{
	uint64_t t = s->grpc_timeout_ns, took = s->head.end_ns - s->head.start_ns;

	return t && s->head.end_ns >= s->head.start_ns && took + t / 10 + 2000000ULL >= t;
}

/* The gRPC status of a stream: its grpc-status, or what a reset or HTTP status means. */
static int grpc_code(const struct h2_stream *s)
{
	if (s->grpc_status >= 0)
		return s->grpc_status;
	if (s->reset && s->reset_code == 0x8 && past_deadline(s))
		return 4;
	if (s->reset) /* RST_STREAM's code as the gRPC HTTP/2 mapping reads it */
		return s->reset_code == 0x8 ? 1 : s->reset_code == 0x7 ? 14 : 13;
	switch (s->status) { /* no trailers: the HTTP status says (gRPC's HTTP mapping) */
	case 400: return 13;
	case 401: return 16;
	case 403: return 7;
	case 404: return 12;
	case 429: case 502: case 503: case 504: return 14;
	default: return s->status ? 2 : -1;
	}
}

/* Server errors by the conventions: the codes that mean the server failed. */
static bool grpc_server_error(int code)
{
	return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

/* host[:port] of an authority, the port 0 when absent. */
static size_t split_authority(const char *a, size_t n, int *port)
{
	size_t i = n;

	*port = 0;
	if (n && a[0] == '[') { /* [v6]:port */
		while (i > 0 && a[i - 1] != ']')
			i--;
		if (i < n && a[i] == ':')
			*port = atoi(a + i + 1);
		return i;
	}
	while (i > 0 && a[i - 1] != ':')
		i--;
	if (!i)
		return n;
	*port = atoi(a + i);
	return i - 1;
}

static void grpc_span(const struct h2_stream *s, struct span *sp, const struct conn_info *info)
{
	const char *m = s->path_len > 1 && s->path[0] == '/' ? s->path + 1 : "_OTHER";
	size_t mlen = s->path_len > 1 && s->path[0] == '/' ? s->path_len - 1u : 6;
	int code = grpc_code(s);
	const char *name;

	if (!method_ok(m, mlen)) /* the conventions' name for a method that cannot be told */
		m = "_OTHER", mlen = 6;

	if (mlen >= sizeof(sp->name))
		mlen = sizeof(sp->name) - 1;
	memcpy(sp->name, m, mlen);
	sp->name[mlen] = 0;
	span__add_str(sp, "rpc.system.name", "grpc", 4);
	span__add_str(sp, "rpc.method", m, mlen);
	if (code < 0)
		return;
	name = code < (int)(sizeof(grpc_codes) / sizeof(grpc_codes[0])) ? grpc_codes[code] : NULL;
	if (name)
		span__add_cstr(sp, "rpc.response.status_code", name);
	if (code && (info->role != SONDE_ROLE_SERVER || grpc_server_error(code))) {
		sp->status = SPAN_STATUS_ERROR;
		span__add_cstr(sp, "error.type", name ? name : "_OTHER");
	}
}

static void http_span(const struct h2_stream *s, struct span *sp, const struct conn_info *info,
		      const struct sonde_config *cfg, const char *host, size_t host_len)
{
	char url[600], code[3];
	const char *q, *route = NULL;
	size_t n, plen = s->path_len, route_len = 0;

	q = memchr(s->path, '?', s->path_len);
	if (q)
		plen = (size_t)(q - s->path);
	/* a route the user declared names a server span; else the template heuristic does */
	if (info->role == SONDE_ROLE_SERVER && cfg && plen)
		route = routes__for_span(&cfg->routes, sp, s->path, plen, &route_len);
	if (route)
		snprintf(sp->name, sizeof(sp->name), "%s %.*s", s->method_len ? s->method : "HTTP",
			 (int)route_len, route);
	else
		snprintf(sp->name, sizeof(sp->name), "%s%s%s", s->method_len ? s->method : "HTTP",
			 s->route_len ? " " : "", s->route);
	if (s->method_len)
		span__add_str(sp, "http.request.method", s->method, s->method_len);
	if (route)
		span__add_str(sp, "http.route", route, route_len);
	if (!s->path_len) {
		/* HPACK could not resolve it (sonde lost a header block): no URL rather than a
		 * wrong one */
	} else if (info->role == SONDE_ROLE_SERVER) {
		span__add_str(sp, "url.path", s->path, plen);
		span__add_str(sp, "url.scheme", s->scheme_len ? s->scheme : info->tls ? "https" : "http",
			      s->scheme_len ? s->scheme_len : info->tls ? 5 : 4);
		if (q && cfg->export_query)
			span__add_str(sp, "url.query", q + 1, s->path_len - plen - 1);
	} else {
		n = (size_t)snprintf(url, sizeof(url), "%s://%.*s%.*s",
				     s->scheme_len ? s->scheme : info->tls ? "https" : "http",
				     (int)(host_len ? s->authority_len : info->peer_len),
				     host_len ? s->authority : info->peer,
				     (int)(q && !cfg->export_query ? plen : s->path_len), s->path);
		span__add_str(sp, "url.full", url, n < sizeof(url) ? n : sizeof(url) - 1);
	}
	if (s->route_len)
		span__add_str(sp, "url.template", s->route, s->route_len);
	if (s->ua_len)
		span__add_str(sp, "user_agent.original", s->user_agent, s->ua_len);
	/* a request's size where it had a body that ended whole; a response's the same */
	if (!s->size_unsure && s->data_seen[1] && s->req_end)
		span__add_int(sp, "http.request.body.size", (int64_t)s->data[1]);
	if (s->status)
		span__add_int(sp, "http.response.status_code", s->status);
	if (!s->size_unsure && s->status && !s->reset && !s->head.incomplete)
		span__add_int(sp, "http.response.body.size", (int64_t)s->data[0]);
	if (s->status >= 500 || (info->role != SONDE_ROLE_SERVER && s->status >= 400)) {
		sp->status = SPAN_STATUS_ERROR;
		code[0] = (char)('0' + s->status / 100 % 10);
		code[1] = (char)('0' + s->status / 10 % 10);
		code[2] = (char)('0' + s->status % 10);
		span__add_str(sp, "error.type", code, 3);
	} else if (s->reset && !s->status) {
		sp->status = SPAN_STATUS_ERROR;
		span__add_cstr(sp, "error.type", "stream_reset");
	}
}

static void h2_build_span(const struct op_head *op, struct span *sp, const struct conn_info *info,
			  const struct sonde_config *cfg)
{
	const struct h2_stream *s = (const struct h2_stream *)op;
	size_t host_len;
	int port;

	host_len = split_authority(s->authority, s->authority_len, &port);
	if (s->grpc)
		grpc_span(s, sp, info);
	else
		http_span(s, sp, info, cfg, s->authority, host_len);
	span__add_str(sp, "network.protocol.version", "2", 1);
	span__add_server_attrs(sp, info, s->authority, host_len, port);
}

const struct decoder http2_decoder = {
	.name = "http2",
	.link_wait_ns = 300000000ull,
	.detect = h2_detect,
	.create = h2_create,
	.destroy = h2_destroy,
	.feed = h2_feed,
	.run_end = h2_run_end,
	.waiting = h2_waiting,
	.close = h2_close,
	.build_span = h2_build_span,
};
