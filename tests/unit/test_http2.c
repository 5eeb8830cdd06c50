// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the HTTP/2 and gRPC decoder (decoders/http2.c), fed what the agent feeds it. A
 * model of the kernel's frame walk (bpf/h2_frames.bpf.h) turns the bytes of each I/O into the
 * record the kernel writes: frame headers, header blocks and control frames kept, the payloads
 * of DATA, PING, PRIORITY, WINDOW_UPDATE and unknown frames left out, no record for an I/O of
 * left-out bytes only inside a run, a record cut at SONDE_FRAMES_MAX, a walk of too many frames
 * lost for good. The records then go through the agent's stream cursor (stream.c) as the
 * assembler hands them over, run ends included, so that the chunks are the real ones. Header
 * blocks are written by hand in HPACK. Cases: detection, HTTP and gRPC exchanges in both roles,
 * interleaved streams, an exchange cut at every byte, large bodies, records lost on the way,
 * resets and GOAWAY, the close, CONTINUATION and PUSH_PROMISE, the header table bound, the
 * kernel's cut and lost records, and the bound on open streams.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/decoder.h"
#include "h2_walk_model.h"
#include "stream.h"
#include "unit.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24
#define FRAME_HEAD 9

enum frame_type {
	DATA = 0x0,
	HEADERS = 0x1,
	PRIORITY = 0x2,
	RST_STREAM = 0x3,
	SETTINGS = 0x4,
	PUSH_PROMISE = 0x5,
	PING = 0x6,
	GOAWAY = 0x7,
	WINDOW_UPDATE = 0x8,
	CONTINUATION = 0x9,
	UNKNOWN_TYPE = 0x21, /* an extension frame no one here knows */
};

#define END_STREAM 0x1
#define ACK 0x1
#define END_HEADERS 0x4
#define PADDED 0x8
#define PRIO 0x20

/* --- bytes: I/Os and header blocks --------------------------------------------------------- */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put8(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put32(struct bytes *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(b, x, sizeof(x));
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){0};
}

static void frame_head(struct bytes *b, size_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
	uint8_t h[FRAME_HEAD] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type,
				 flags, (uint8_t)(sid >> 24 & 0x7f), (uint8_t)(sid >> 16),
				 (uint8_t)(sid >> 8), (uint8_t)sid};

	put(b, h, sizeof(h));
}

static void frame(struct bytes *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
		  size_t n)
{
	frame_head(b, n, type, flags, sid);
	put(b, p, n);
}

/* A DATA frame of n bytes of message (never in a record). */
static void data(struct bytes *b, uint32_t sid, size_t n, uint8_t flags)
{
	size_t i;

	frame_head(b, n, DATA, flags, sid);
	for (i = 0; i < n; i++)
		put8(b, (uint8_t)(i * 7 + 1));
}

static void setting(struct bytes *b, uint16_t id, uint32_t v)
{
	put8(b, (uint8_t)(id >> 8));
	put8(b, (uint8_t)id);
	put32(b, v);
}

/* HPACK (RFC 7541 5.1): an integer with an n-bit prefix after the bits of first. */
static void hp_int(struct bytes *b, uint8_t first, unsigned prefix, uint32_t v)
{
	uint32_t max = (1u << prefix) - 1;

	if (v < max) {
		put8(b, (uint8_t)(first | v));
		return;
	}
	put8(b, (uint8_t)(first | max));
	for (v -= max; v >= 128; v >>= 7)
		put8(b, (uint8_t)(v | 0x80));
	put8(b, (uint8_t)v);
}

/* A string literal, not Huffman-coded. */
static void hp_str(struct bytes *b, const char *s)
{
	hp_int(b, 0, 7, (uint32_t)strlen(s));
	put(b, s, strlen(s));
}

/* An indexed field: 1..61 static (2 :method GET, 3 POST, 6 :scheme http, 8 :status 200,
 * 13 :status 404), 62 on the dynamic table, newest first. */
static void hp_index(struct bytes *b, uint32_t idx)
{
	hp_int(b, 0x80, 7, idx);
}

/* A literal without indexing, new name (0x00). */
static void hp_lit(struct bytes *b, const char *name, const char *value)
{
	put8(b, 0x00);
	hp_str(b, name);
	hp_str(b, value);
}

/* The same, the value n bytes that may hold any byte. */
static void hp_lit_bytes(struct bytes *b, const char *name, const void *value, size_t n)
{
	put8(b, 0x00);
	hp_str(b, name);
	hp_int(b, 0, 7, (uint32_t)n);
	put(b, value, n);
}

/* A literal without indexing, the name indexed (1 :authority, 4 :path, 8 :status). */
static void hp_lit_name(struct bytes *b, uint32_t idx, const char *value)
{
	hp_int(b, 0x00, 4, idx);
	hp_str(b, value);
}

/* A literal with incremental indexing, the name indexed: the field becomes entry 62. */
static void hp_add_name(struct bytes *b, uint32_t idx, const char *value)
{
	hp_int(b, 0x40, 6, idx);
	hp_str(b, value);
}

/* A dynamic table size update. */
static void hp_size(struct bytes *b, uint32_t size)
{
	hp_int(b, 0x20, 5, size);
}

/* --- the sink: what the core would see ----------------------------------------------------- */

#define MAX_OPS 320

/* An operation the decoder finished: its head and its span, as the core has them at done. */
struct done_op {
	struct op_head head;
	struct span sp;	   /* built in the done call: the decoder frees the op after it */
	uint64_t answered; /* when it was answered; 0: never */
};

struct sink {
	const struct op_head *open[MAX_OPS]; /* begun and not done */
	uint64_t answered[MAX_OPS];	     /* ... when each was answered */
	int n_open;
	struct done_op done[MAX_OPS];
	int n_done;
	int begun;
	int lost[2];			      /* lost calls, by from_client */
	int count[DEC_PIPELINED_SUMMARY + 1]; /* count calls, by event */
	int bad;   /* calls the core would not take: a begin twice, an answer or a done of an
		    * operation not open, an answer twice, an end before the start */
	int other; /* policy and give_up: an HTTP/2 decoder asks for neither */
};

static struct sink snk;
static struct sonde_config cfg;
static struct conn_info info;

static int open_index(const struct op_head *op)
{
	int i;

	for (i = 0; i < snk.n_open; i++)
		if (snk.open[i] == op)
			return i;
	return -1;
}

static void on_begin(void *ctx, struct op_head *op)
{
	if (open_index(op) >= 0 || snk.n_open == MAX_OPS) {
		snk.bad++;
		return;
	}
	snk.answered[snk.n_open] = 0;
	snk.open[snk.n_open++] = op;
	snk.begun++;
}

static void on_answered(void *ctx, struct op_head *op, uint64_t ts)
{
	int i = open_index(op);

	if (i < 0 || snk.answered[i]) {
		snk.bad++;
		return;
	}
	snk.answered[i] = ts;
}

static void on_done(void *ctx, struct op_head *op)
{
	int i = open_index(op);
	struct done_op *d;

	if (i < 0 || op->end_ns < op->start_ns) {
		snk.bad++;
		return;
	}
	if (snk.n_done < MAX_OPS) {
		d = &snk.done[snk.n_done];
		d->head = *op;
		d->answered = snk.answered[i];
		memset(&d->sp, 0, sizeof(d->sp));
		http2_decoder.build_span(op, &d->sp, &info, &cfg);
	}
	snk.n_done++;
	snk.open[i] = snk.open[--snk.n_open];
	snk.answered[i] = snk.answered[snk.n_open];
}

static void on_lost(void *ctx, bool from_client)
{
	snk.lost[from_client]++;
}

static void on_policy(void *ctx, uint8_t policy)
{
	snk.other++;
}

static void on_give_up(void *ctx, bool not_mine)
{
	snk.other++;
}

static void on_count(void *ctx, enum decoder_event ev)
{
	if (ev <= DEC_PIPELINED_SUMMARY)
		snk.count[ev]++;
	else
		snk.bad++;
}

static const struct decoder_sink out = {
	.begin = on_begin, .answered = on_answered, .done = on_done, .lost = on_lost,
	.policy = on_policy, .give_up = on_give_up, .count = on_count, .ctx = &snk,
};

static struct done_op none_op; /* what a look-up that found nothing gives: checks fail on it */

/* The operation whose span has this name (the first one). */
static const struct done_op *op_named(const char *name)
{
	int i;

	for (i = 0; i < snk.n_done && i < MAX_OPS; i++)
		if (!strcmp(snk.done[i].sp.name, name))
			return &snk.done[i];
	fprintf(stderr, "no operation named \"%s\"\n", name);
	unit_failed_checks++;
	return &none_op;
}

/* The operation whose request started at ts. */
static const struct done_op *op_started(uint64_t ts)
{
	int i;

	for (i = 0; i < snk.n_done && i < MAX_OPS; i++)
		if (snk.done[i].head.start_ns == ts)
			return &snk.done[i];
	fprintf(stderr, "no operation started at %llu\n", (unsigned long long)ts);
	unit_failed_checks++;
	return &none_op;
}

static bool attr_is(const struct span *sp, const char *key, const char *want)
{
	const struct span_attr *a = span__find_attr(sp, key);

	return a && a->type == ATTR_STR && a->len == strlen(want) &&
	       !memcmp(span__attr_str(sp, a), want, a->len);
}

#define CHECK_ATTR(sp, key, want)                                                              \
	do {                                                                                   \
		const struct span_attr *_a = span__find_attr((sp), (key));                     \
		if (!attr_is((sp), (key), (want))) {                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s is \"%.*s\", want \"%s\"\n",  \
				__FILE__, __LINE__, (key),                                     \
				_a && _a->type == ATTR_STR ? (int)_a->len : 8,                 \
				_a && _a->type == ATTR_STR ? span__attr_str((sp), _a)          \
							   : "<absent>",                       \
				(want));                                                       \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

#define CHECK_ATTR_INT(sp, key, want)                                                          \
	do {                                                                                   \
		const struct span_attr *_a = span__find_attr((sp), (key));                     \
		if (!_a || _a->type != ATTR_INT || _a->i != (want)) {                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s is %lld%s, want %lld\n",      \
				__FILE__, __LINE__, (key), _a ? (long long)_a->i : 0LL,        \
				_a ? "" : " (absent)", (long long)(want));                     \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

#define CHECK_NO_ATTR(sp, key)                                                                 \
	do {                                                                                   \
		const struct span_attr *_a = span__find_attr((sp), (key));                     \
		if (_a) {                                                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s is present (\"%.*s\")\n",     \
				__FILE__, __LINE__, (key),                                     \
				_a->type == ATTR_STR ? (int)_a->len : 0,                       \
				_a->type == ATTR_STR ? span__attr_str((sp), _a) : "");         \
			unit_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

/* --- the kernel's frame walk (h2_frames.bpf.h) and the agent's cursor (stream.c) ----------- */

/* One connection: the kernel's side (cursors, runs), the agent's (cursors, the decoder). */
struct conn {
	struct kcursor cur[2]; /* [1]: the client's bytes, as the decoder's from_client */
	uint32_t run_seq;      /* the connection's current run, from 1 */
	int run_cli;	       /* its direction: 1 the client's, 0 the server's, -1 none yet */
	uint64_t run_bytes, run_first, run_last;
	struct stream str[2]; /* the agent's stream cursors */
	void *st;	      /* the decoder's state */
	int drop;	      /* records still to lose, from the next one on (a full ring) */
	int records, skipped, cuts, walks_lost; /* what the kernel wrote, and did not */
};

/* Which direction a summary names does not matter to the decoder: the client's is EGRESS. */
static uint16_t dir_of(bool cli)
{
	return cli ? SONDE_DIR_EGRESS : SONDE_DIR_INGRESS;
}

/* The assembler's run_end: a run's summary goes to its direction's cursor. */
static void agent_run_end(struct conn *k, const struct sonde_run_summary *run)
{
	bool cli = run->dir == SONDE_DIR_EGRESS;
	struct stream_target t = {&http2_decoder, k->st, cli, &out};

	if (run->dir != SONDE_DIR_NONE)
		stream__run_end(&k->str[cli], &t, run);
}

/* A record reaches the agent (unless the ring was full): on_data, from an exact-size copy. */
static void deliver(struct conn *k, bool cli, const struct sonde_run_summary *prev,
		    struct stream_io *io)
{
	struct stream_target t = {&http2_decoder, k->st, cli, &out};
	uint8_t *copy;

	if (k->drop) {
		k->drop--;
		return;
	}
	k->records++;
	if (!io->run_offset)
		agent_run_end(k, prev);
	copy = malloc(io->cap ? io->cap : 1);
	if (!copy)
		abort();
	memcpy(copy, io->data, io->cap);
	io->data = copy;
	stream__io(&k->str[cli], &t, io);
	free(copy);
}

/* One I/O of n bytes of one direction at ts, as emit_frames records it. */
static void kio(struct conn *k, bool cli, const void *bytes, size_t n, uint64_t ts)
{
	struct kcursor *c = &k->cur[cli], w = *c;
	struct sonde_run_summary prev = {0};
	struct stream_io io = {0};
	uint8_t *rec = malloc(SONDE_FRAMES_MAX);
	uint32_t len;
	bool cut;

	if (!rec)
		abort();
	if (k->run_cli != (int)cli) {
		/* a run starts: its first record carries the summary of the one that ended */
		if (k->run_cli >= 0)
			prev = (struct sonde_run_summary){.first_ts_ns = k->run_first,
							  .last_ts_ns = k->run_last,
							  .bytes = k->run_bytes,
							  .seq = k->run_seq,
							  .dir = dir_of(k->run_cli)};
		k->run_seq++;
		k->run_cli = cli;
		k->run_first = ts;
		k->run_bytes = 0;
	}
	io.run_seq = k->run_seq;
	io.run_offset = k->run_bytes;
	io.io_bytes = (uint32_t)n;
	io.data = rec;
	io.ts = ts;
	io.actor = cli ? 100 : 200;
	io.tid = cli ? 1100 : 1200;
	k->run_bytes += n;
	k->run_last = ts;
	if (c->lost) {
		/* given up: the I/O is only counted */
	} else if (!h2m_walk(&w, bytes, n, rec, &len, &cut)) {
		c->lost = true;
		k->walks_lost++;
		io.walk_flags = SONDE_WALK_ON | SONDE_WALK_LOST;
		deliver(k, cli, &prev, &io);
	} else {
		io.cap = len;
		io.walk_flags = SONDE_WALK_ON | (c->elided ? SONDE_WALK_ELIDED : 0) |
				(cut ? SONDE_WALK_CUT : 0);
		io.walk_part = c->part;
		io.walk_left = c->left;
		*c = w;
		k->cuts += cut;
		if (!len && io.run_offset)
			k->skipped++; /* left-out bytes only, inside a run: no record */
		else
			deliver(k, cli, &prev, &io);
	}
	free(rec);
}

static void kio_bytes(struct conn *k, bool cli, const struct bytes *b, uint64_t ts)
{
	kio(k, cli, b->p, b->n, ts);
}

/* b in two I/Os cut at `at` (at ts and ts + 1), or whole at ts when at is 0. */
static void kio_cut(struct conn *k, bool cli, const struct bytes *b, size_t at, uint64_t ts)
{
	if (!at) {
		kio(k, cli, b->p, b->n, ts);
		return;
	}
	kio(k, cli, b->p, at, ts);
	kio(k, cli, b->p + at, b->n - at, ts + 1);
}

/* The connection closes at ts: the last run's end, then the decoder's close (on_close). */
static void kclose(struct conn *k, uint64_t ts)
{
	struct sonde_run_summary last = {
		.first_ts_ns = k->run_first, .last_ts_ns = k->run_last, .bytes = k->run_bytes,
		.seq = k->run_seq, .dir = k->run_cli >= 0 ? dir_of(k->run_cli) : SONDE_DIR_NONE};

	agent_run_end(k, &last);
	http2_decoder.close(k->st, ts, &out);
}

/* A connection the kernel took as HTTP/2 at the client's preface, this process in role. */
static struct conn *conn_new(uint8_t role)
{
	struct decoder_env env = {.cfg = &cfg, .conn = &info};
	struct conn *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	memset(&snk, 0, sizeof(snk));
	memset(&info, 0, sizeof(info));
	info.role = role;
	info.have_tuple = true;
	info.sport = role == SONDE_ROLE_SERVER ? 8080 : 40000;
	info.dport = role == SONDE_ROLE_SERVER ? 40000 : 8080;
	memcpy(info.peer, "10.0.0.2", 9);
	info.peer_len = 8;
	k->run_cli = -1;
	k->cur[1].left = PREFACE_LEN; /* h2_detect: the preface, as a payload the record keeps */
	k->st = http2_decoder.create(&env);
	if (!k->st)
		abort();
	return k;
}

/* The decoder goes, after the checks every test makes of what it reported. */
static void conn_free(struct conn *k)
{
	CHECK_EQ_INT(snk.bad, 0);
	CHECK_EQ_INT(snk.other, 0);
	http2_decoder.destroy(k->st);
	free(k);
}

/* --- conversations ----------------------------------------------------------------------- */

/* The client's first bytes as Go's transport writes them; table: its HEADER_TABLE_SIZE, 0 for
 * none sent. */
static void client_start(struct bytes *b, uint32_t table)
{
	struct bytes s = {0};
	uint8_t wu[4] = {0x3f, 0xff, 0x00, 0x01};

	put(b, PREFACE, PREFACE_LEN);
	setting(&s, 0x2, 0);	    /* ENABLE_PUSH */
	setting(&s, 0x4, 4194304);  /* INITIAL_WINDOW_SIZE */
	setting(&s, 0x6, 10485760); /* MAX_HEADER_LIST_SIZE */
	if (table)
		setting(&s, 0x1, table); /* HEADER_TABLE_SIZE */
	frame(b, SETTINGS, 0, 0, s.p, s.n);
	frame(b, WINDOW_UPDATE, 0, 0, wu, sizeof(wu));
	bytes_free(&s);
}

/* The server's first bytes as Go's server writes them, its ACK of the client's SETTINGS. */
static void server_start(struct bytes *b)
{
	struct bytes s = {0};
	uint8_t wu[4] = {0x00, 0x0f, 0x00, 0x01};

	setting(&s, 0x5, 16384);   /* MAX_FRAME_SIZE */
	setting(&s, 0x3, 250);	   /* MAX_CONCURRENT_STREAMS */
	setting(&s, 0x6, 1048896); /* MAX_HEADER_LIST_SIZE */
	setting(&s, 0x4, 1048576); /* INITIAL_WINDOW_SIZE */
	frame(b, SETTINGS, 0, 0, s.p, s.n);
	frame(b, WINDOW_UPDATE, 0, 0, wu, sizeof(wu));
	frame(b, SETTINGS, ACK, 0, NULL, 0);
	bytes_free(&s);
}

/* The connection's start at ts: the client's preface run, the server's, the client's ACK. */
static void handshake(struct conn *k, uint64_t ts, uint32_t table)
{
	struct bytes c = {0}, s = {0}, ack = {0};

	client_start(&c, table);
	server_start(&s);
	frame(&ack, SETTINGS, ACK, 0, NULL, 0);
	kio_bytes(k, true, &c, ts);
	kio_bytes(k, false, &s, ts + 1);
	kio_bytes(k, true, &ack, ts + 2);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&ack);
}

/* An HTTP GET on stream sid, END_STREAM on its HEADERS. */
static void get_request(struct bytes *b, uint32_t sid, const char *path, const char *authority)
{
	struct bytes h = {0};

	hp_index(&h, 2); /* :method GET */
	hp_index(&h, 6); /* :scheme http */
	hp_lit(&h, ":path", path);
	hp_lit(&h, ":authority", authority);
	hp_lit(&h, "user-agent", "sonde-test/1");
	frame(b, HEADERS, END_HEADERS | END_STREAM, sid, h.p, h.n);
	bytes_free(&h);
}

/* A GET whose :path goes into the client's table (incremental indexing, indexed name). */
static void get_indexing_path(struct bytes *b, uint32_t sid, const char *path)
{
	struct bytes h = {0};

	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_add_name(&h, 4, path);
	hp_lit(&h, ":authority", "shop.local");
	frame(b, HEADERS, END_HEADERS | END_STREAM, sid, h.p, h.n);
	bytes_free(&h);
}

/* A GET whose :path is entry idx of the client's table. */
static void get_path_ref(struct bytes *b, uint32_t sid, uint32_t idx)
{
	struct bytes h = {0};

	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_index(&h, idx);
	hp_lit(&h, ":authority", "shop.local");
	frame(b, HEADERS, END_HEADERS | END_STREAM, sid, h.p, h.n);
	bytes_free(&h);
}

/* A response head with :status (indexed when the static table has it). */
static void response_head(struct bytes *b, uint32_t sid, int status, uint8_t flags)
{
	struct bytes h = {0};
	char v[12];

	if (status == 200) {
		hp_index(&h, 8);
	} else if (status == 404) {
		hp_index(&h, 13);
	} else {
		snprintf(v, sizeof(v), "%d", status);
		hp_lit_name(&h, 8, v);
	}
	hp_lit(&h, "content-type", "application/json");
	frame(b, HEADERS, END_HEADERS | flags, sid, h.p, h.n);
	bytes_free(&h);
}

/* A whole 200 response: its head, then a body with END_STREAM. */
static void response_ok(struct bytes *b, uint32_t sid)
{
	response_head(b, sid, 200, 0);
	data(b, sid, 100, END_STREAM);
}

/* A gRPC unary request with this grpc-timeout (none: NULL): the head, one length-prefixed
 * message with END_STREAM. */
static void grpc_request_timeout(struct bytes *b, uint32_t sid, const char *path,
				 const char *timeout)
{
	struct bytes h = {0};

	hp_index(&h, 3); /* :method POST */
	hp_index(&h, 6);
	hp_lit(&h, ":path", path);
	hp_lit(&h, ":authority", "localhost:50051");
	hp_lit(&h, "content-type", "application/grpc");
	hp_lit(&h, "te", "trailers");
	if (timeout)
		hp_lit(&h, "grpc-timeout", timeout);
	frame(b, HEADERS, END_HEADERS, sid, h.p, h.n);
	data(b, sid, 12, END_STREAM);
	bytes_free(&h);
}

static void grpc_request(struct bytes *b, uint32_t sid, const char *path)
{
	grpc_request_timeout(b, sid, path, "1S");
}

static void grpc_response_head(struct bytes *b, uint32_t sid)
{
	struct bytes h = {0};

	hp_index(&h, 8);
	hp_lit(&h, "content-type", "application/grpc");
	frame(b, HEADERS, END_HEADERS, sid, h.p, h.n);
	bytes_free(&h);
}

/* Trailers with grpc-status code, ending the stream; head: a trailers-only response. */
static void grpc_trailers(struct bytes *b, uint32_t sid, const char *code, bool head)
{
	struct bytes h = {0};

	if (head) {
		hp_index(&h, 8);
		hp_lit(&h, "content-type", "application/grpc");
	}
	hp_lit(&h, "grpc-status", code);
	hp_lit(&h, "grpc-message", strcmp(code, "0") ? "no such thing" : "");
	frame(b, HEADERS, END_HEADERS | END_STREAM, sid, h.p, h.n);
	bytes_free(&h);
}

/* A whole unary response in one I/O: head, message, trailers. */
static void grpc_response(struct bytes *b, uint32_t sid, const char *code)
{
	grpc_response_head(b, sid);
	data(b, sid, 12, 0);
	grpc_trailers(b, sid, code, false);
}

/* --- 1. detection ------------------------------------------------------------------------ */

static enum detect_result det(const void *p, size_t n)
{
	struct conn_info ci = {0};
	uint8_t *b = malloc(n ? n : 1);
	enum detect_result r;

	memcpy(b, p, n);
	r = http2_decoder.detect(b, n, &ci);
	free(b);
	return r;
}

TEST(detect)
{
	struct bytes c = {0}, s = {0}, x = {0};
	const char *h1 = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
	uint8_t r[64];
	uint32_t seed = 12345;
	int i, j, hits = 0;

	client_start(&c, 0);
	CHECK_EQ_INT(det(c.p, c.n), DETECT_CLIENT);
	CHECK_EQ_INT(det(PREFACE, PREFACE_LEN), DETECT_CLIENT);
	CHECK_EQ_INT(det(PREFACE, PREFACE_LEN - 1), DETECT_NO);
	CHECK_EQ_INT(det("PRI * HTTP/2.0\r\n\r\nSM\r\n\r!", PREFACE_LEN), DETECT_NO);
	/* a server that writes its SETTINGS before it reads the preface */
	server_start(&s);
	CHECK_EQ_INT(det(s.p, s.n), DETECT_MIDWAY);
	frame(&x, SETTINGS, 0, 0, NULL, 0);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_MIDWAY);
	/* an ACK (a connection under way: below), a SETTINGS on a stream, one cut short, one of a
	 * length not a multiple of 6 */
	x.n = 0;
	frame(&x, SETTINGS, ACK, 0, NULL, 0);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_LATE);
	x.n = 0;
	frame(&x, SETTINGS, 0, 1, "\0\x3\0\0\0\x64", 6);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	CHECK_EQ_INT(det(s.p, FRAME_HEAD + 5), DETECT_NO);
	x.n = 0;
	frame(&x, SETTINGS, 0, 0, "\0\x3\0\0\0\x64\0", 7);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	/* A connection under way (opened before sonde): frames with the heads RFC 9113 allows,
	 * whole or the last one cut by the capture, are HTTP/2 that cannot be decoded. */
	x.n = 0;
	response_ok(&x, 7);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_LATE);
	CHECK_EQ_INT(det(x.p, FRAME_HEAD + 3), DETECT_LATE);
	x.n = 0;
	data(&x, 5, 100, 0);
	frame(&x, WINDOW_UPDATE, 0, 0, "\0\0\x10\0", 4);
	frame(&x, PING, 0, 0, "12345678", 8);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_LATE);
	frame(&x, PING, 0, 0, "1234567", 7); /* a PING of 7 bytes: not HTTP/2 */
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	x.n = 0;
	frame(&x, HEADERS, END_HEADERS, 0, "\x88", 1); /* HEADERS on stream 0 */
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	x.n = 0;
	frame(&x, UNKNOWN_TYPE, 0, 3, "ab", 2);
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	x.n = 0;
	frame_head(&x, 16385, DATA, 0, 1); /* past the default SETTINGS_MAX_FRAME_SIZE */
	CHECK_EQ_INT(det(x.p, x.n), DETECT_NO);
	x.n = 0;
	frame(&x, RST_STREAM, 0, 3, "\0\0\0\x8", 4);
	data(&x, 3, 1, 0); /* 1 byte past the frames: a head cut by the capture */
	CHECK_EQ_INT(det(x.p, x.n - 9), DETECT_LATE);
	/* the other protocols' first bytes are not frames: a PostgreSQL query, a MySQL packet,
	 * a Redis array, a TLS record */
	CHECK_EQ_INT(det("Q\0\0\0\x0eSELECT 1;\0", 15), DETECT_NO);
	CHECK_EQ_INT(det("\x21\0\0\0\x03SELECT * FROM t", 20), DETECT_NO);
	CHECK_EQ_INT(det("*1\r\n$4\r\nPING\r\n", 14), DETECT_NO);
	CHECK_EQ_INT(det("\x16\x03\x01\x02\0\x01\0\x01\xfc\x03\x03", 11), DETECT_NO);
	/* HTTP/1 */
	CHECK_EQ_INT(det(h1, strlen(h1)), DETECT_NO);
	CHECK_EQ_INT(det("HTTP/1.1 200 OK\r\n\r\n", 19), DETECT_NO);
	CHECK_EQ_INT(det("", 0), DETECT_NO);
	/* random bytes */
	for (i = 0; i < 5000; i++) {
		size_t n = 1 + i % (int)sizeof(r);

		for (j = 0; j < (int)n; j++) {
			seed = seed * 1103515245u + 12345u;
			r[j] = (uint8_t)(seed >> 16);
		}
		hits += det(r, n) != DETECT_NO;
	}
	CHECK_EQ_INT(hits, 0);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&x);
}

/* --- 2. one GET over h2c ----------------------------------------------------------------- */

static void one_get(uint8_t role)
{
	struct conn *k = conn_new(role);
	struct bytes c = {0}, h = {0}, s = {0}, body = {0};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/api/users/42?verbose=1");
	hp_add_name(&h, 1, "example.com:8080"); /* :authority, inserted */
	hp_lit(&h, "user-agent", "sonde-test/1");
	hp_lit(&h, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 1, h.p, h.n);
	kio_bytes(k, true, &c, 100);
	CHECK_EQ_INT(snk.begun, 1);
	CHECK(http2_decoder.waiting(k->st));
	response_head(&s, 1, 200, 0);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 0);
	data(&body, 1, 1000, END_STREAM);
	kio_bytes(k, false, &body, 300);
	CHECK(!http2_decoder.waiting(k->st));
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(d->head.start_ns, 100);
	CHECK_EQ_INT(d->answered, 200);
	CHECK_EQ_INT(d->head.end_ns, 300);
	CHECK(!d->head.incomplete);
	CHECK_EQ_INT(d->head.actor, 100);
	CHECK_EQ_INT(d->head.tid, 1100);
	CHECK(d->head.has_ctx);
	CHECK(d->head.ctx.trace_id[0] == 0x4b && d->head.ctx.trace_id[15] == 0x36);
	CHECK(d->head.ctx.span_id[0] == 0x00 && d->head.ctx.span_id[7] == 0xb7);
	CHECK_STR(d->sp.name, "GET /api/users/{id}");
	CHECK_ATTR(&d->sp, "http.request.method", "GET");
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
	CHECK_ATTR(&d->sp, "network.protocol.version", "2");
	CHECK_ATTR(&d->sp, "url.template", "/api/users/{id}");
	CHECK_ATTR(&d->sp, "user_agent.original", "sonde-test/1");
	CHECK_ATTR(&d->sp, "server.address", "example.com");
	CHECK_ATTR_INT(&d->sp, "server.port", 8080);
	CHECK_EQ_INT(d->sp.status, SPAN_STATUS_UNSET);
	if (role == SONDE_ROLE_SERVER) {
		CHECK_ATTR(&d->sp, "url.path", "/api/users/42");
		CHECK_ATTR(&d->sp, "url.scheme", "http");
		CHECK_ATTR(&d->sp, "client.address", "10.0.0.2");
		CHECK_NO_ATTR(&d->sp, "url.query"); /* export_query is off */
		CHECK_NO_ATTR(&d->sp, "url.full");
	} else {
		CHECK_ATTR(&d->sp, "url.full", "http://example.com:8080/api/users/42");
		CHECK_NO_ATTR(&d->sp, "url.path");
	}
	/* a second request on the connection: :authority from the client's table */
	c.n = h.n = s.n = 0;
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/health");
	hp_index(&h, 62);
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 3, h.p, h.n);
	kio_bytes(k, true, &c, 400);
	response_head(&s, 3, 404, END_STREAM);
	kio_bytes(k, false, &s, 500);
	CHECK_EQ_INT(snk.n_done, 2);
	d = &snk.done[1];
	CHECK_STR(d->sp.name, "GET /health");
	CHECK_ATTR(&d->sp, "server.address", "example.com");
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 404);
	/* a client's 404 is an error; a server's is the client's */
	CHECK_EQ_INT(d->sp.status,
		     role == SONDE_ROLE_SERVER ? SPAN_STATUS_UNSET : SPAN_STATUS_ERROR);
	kclose(k, 600);
	CHECK_EQ_INT(snk.n_done, 2);
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);
	CHECK_EQ_INT(snk.count[DEC_PARSE_ERROR], 0);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
	bytes_free(&s);
	bytes_free(&body);
}

TEST(get_server)
{
	one_get(SONDE_ROLE_SERVER);
}

TEST(get_client)
{
	one_get(SONDE_ROLE_CLIENT);
}

/* --- 3. gRPC ----------------------------------------------------------------------------- */

static void grpc_unary(uint8_t role)
{
	struct conn *k = conn_new(role);
	struct bytes c = {0}, s = {0};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	grpc_request(&c, 1, "/sonde.test.Echo/Unary");
	kio_bytes(k, true, &c, 100);
	grpc_response(&s, 1, "0"); /* head, message and trailers in one I/O */
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(d->head.start_ns, 100);
	CHECK_EQ_INT(d->answered, 200);
	CHECK_EQ_INT(d->head.end_ns, 200);
	CHECK(!d->head.incomplete);
	CHECK_STR(d->sp.name, "sonde.test.Echo/Unary");
	CHECK_ATTR(&d->sp, "rpc.system.name", "grpc");
	CHECK_ATTR(&d->sp, "rpc.method", "sonde.test.Echo/Unary");
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "OK");
	CHECK_ATTR(&d->sp, "network.protocol.version", "2");
	CHECK_ATTR(&d->sp, "server.address", "localhost");
	CHECK_ATTR_INT(&d->sp, "server.port", 50051);
	CHECK_EQ_INT(d->sp.status, SPAN_STATUS_UNSET);
	CHECK_NO_ATTR(&d->sp, "error.type");
	CHECK_NO_ATTR(&d->sp, "http.request.method");
	kclose(k, 300);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

TEST(grpc_unary_client)
{
	grpc_unary(SONDE_ROLE_CLIENT);
}

TEST(grpc_unary_server)
{
	grpc_unary(SONDE_ROLE_SERVER);
}

/* Trailers-only answers: NOT_FOUND on stream 1, INTERNAL on stream 3. */
static void grpc_trailers_only(uint8_t role)
{
	struct conn *k = conn_new(role);
	struct bytes c = {0}, s = {0};
	const struct done_op *d;

	handshake(k, 10, 0);
	grpc_request(&c, 1, "/sonde.test.Echo/Find");
	grpc_request(&c, 3, "/sonde.test.Echo/Break");
	kio_bytes(k, true, &c, 100);
	grpc_trailers(&s, 1, "5", true);
	grpc_trailers(&s, 3, "13", true);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_named("sonde.test.Echo/Find");
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "NOT_FOUND");
	CHECK_EQ_INT(d->head.end_ns, 200);
	CHECK_EQ_INT(d->answered, 200);
	if (role == SONDE_ROLE_CLIENT) {
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
		CHECK_ATTR(&d->sp, "error.type", "NOT_FOUND");
	} else {
		/* the caller's mistake, not the server's */
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_UNSET);
		CHECK_NO_ATTR(&d->sp, "error.type");
	}
	d = op_named("sonde.test.Echo/Break");
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "INTERNAL");
	CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
	CHECK_ATTR(&d->sp, "error.type", "INTERNAL");
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

TEST(grpc_trailers_only_client)
{
	grpc_trailers_only(SONDE_ROLE_CLIENT);
}

TEST(grpc_trailers_only_server)
{
	grpc_trailers_only(SONDE_ROLE_SERVER);
}

/* --- 4. interleaved streams -------------------------------------------------------------- */

/*
 * Streams 1, 3 and 5 open at once, answered 5, 1, 3, the frames of 1 and 3 interleaved; both
 * tables in use: the client inserts :authority and user-agent, the server :status 201.
 */
TEST(interleaved_streams)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, h = {0}, s = {0};
	const struct done_op *d;

	handshake(k, 10, 0);
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/one");
	hp_add_name(&h, 1, "svc.local"); /* 62: :authority svc.local */
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 1, h.p, h.n);
	kio_bytes(k, true, &c, 100);
	c.n = h.n = 0;
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/two");
	hp_index(&h, 62);
	hp_add_name(&h, 58, "sonde-test/2"); /* 62: user-agent, 63: :authority */
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 3, h.p, h.n);
	kio_bytes(k, true, &c, 110);
	c.n = h.n = 0;
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/three");
	hp_index(&h, 63);
	hp_index(&h, 62);
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 5, h.p, h.n);
	kio_bytes(k, true, &c, 120);
	CHECK_EQ_INT(snk.begun, 3);

	h.n = 0;
	hp_add_name(&h, 8, "201"); /* the server's 62: :status 201 */
	frame(&s, HEADERS, END_HEADERS, 5, h.p, h.n);
	data(&s, 5, 30, END_STREAM);
	kio_bytes(k, false, &s, 200);
	s.n = h.n = 0;
	hp_index(&h, 62);
	frame(&s, HEADERS, END_HEADERS, 1, h.p, h.n);
	data(&s, 1, 30, 0);
	kio_bytes(k, false, &s, 210);
	s.n = 0;
	response_head(&s, 3, 404, 0);
	data(&s, 1, 30, 0);
	data(&s, 3, 30, END_STREAM);
	kio_bytes(k, false, &s, 220);
	s.n = 0;
	data(&s, 1, 30, END_STREAM);
	kio_bytes(k, false, &s, 230);

	CHECK_EQ_INT(snk.n_done, 3);
	CHECK_STR(snk.done[0].sp.name, "GET /three");
	CHECK_STR(snk.done[1].sp.name, "GET /two");
	CHECK_STR(snk.done[2].sp.name, "GET /one");
	d = op_named("GET /one");
	CHECK(d->head.start_ns == 100 && d->answered == 210 && d->head.end_ns == 230);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 201);
	CHECK_ATTR(&d->sp, "server.address", "svc.local");
	CHECK_NO_ATTR(&d->sp, "user_agent.original");
	d = op_named("GET /two");
	CHECK(d->head.start_ns == 110 && d->answered == 220 && d->head.end_ns == 220);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 404);
	CHECK_ATTR(&d->sp, "server.address", "svc.local");
	CHECK_ATTR(&d->sp, "user_agent.original", "sonde-test/2");
	d = op_named("GET /three");
	CHECK(d->head.start_ns == 120 && d->answered == 200 && d->head.end_ns == 200);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 201);
	CHECK_ATTR(&d->sp, "server.address", "svc.local");
	CHECK_ATTR(&d->sp, "user_agent.original", "sonde-test/2");
	CHECK(!http2_decoder.waiting(k->st));
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);
	CHECK_EQ_INT(snk.count[DEC_PARSE_ERROR], 0);
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
	bytes_free(&s);
}

/* --- 5. an exchange cut at every byte ---------------------------------------------------- */

/* Every frame type in both directions: the client's start, a PRIORITY, an unknown frame and a
 * WINDOW_UPDATE around the gRPC call; the server's start, a PING, the answer. */
static void unary_conversation(struct bytes *cb, struct bytes *sb)
{
	uint8_t prio[5] = {0, 0, 0, 0, 15}, wu[4] = {0, 0, 0x40, 0};

	client_start(cb, 0);
	frame(cb, PRIORITY, 0, 3, prio, sizeof(prio));
	grpc_request(cb, 1, "/sonde.test.Echo/Unary");
	frame(cb, UNKNOWN_TYPE, 0, 0, "ext-ext", 7);
	frame(cb, WINDOW_UPDATE, 0, 1, wu, sizeof(wu));
	server_start(sb);
	frame(sb, PING, 0, 0, "pingping", 8);
	grpc_response_head(sb, 1);
	frame(sb, WINDOW_UPDATE, 0, 0, wu, sizeof(wu));
	data(sb, 1, 12, 0);
	grpc_trailers(sb, 1, "0", false);
}

/* The conversation with the client's bytes cut at ca and the server's at sa (0: whole). */
static bool unary_cut(const struct bytes *cb, const struct bytes *sb, size_t ca, size_t sa)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	const struct done_op *d = &snk.done[0];
	bool ok;

	kio_cut(k, true, cb, ca, 100);
	kio_cut(k, false, sb, sa, 200);
	ok = snk.n_done == 1 && d->head.end_ns == (sa ? 201u : 200u) && d->answered &&
	     !d->head.incomplete && !strcmp(d->sp.name, "sonde.test.Echo/Unary") &&
	     attr_is(&d->sp, "rpc.response.status_code", "OK") &&
	     d->sp.status == SPAN_STATUS_UNSET;
	kclose(k, 300);
	ok = ok && snk.n_done == 1 && !snk.lost[0] && !snk.lost[1] && !snk.bad &&
	     !snk.count[DEC_PARSE_ERROR];
	http2_decoder.destroy(k->st);
	free(k);
	return ok;
}

TEST(split_at_every_byte)
{
	struct bytes cb = {0}, sb = {0};
	size_t at;
	int bad = 0;

	unary_conversation(&cb, &sb);
	CHECK(unary_cut(&cb, &sb, 0, 0));
	for (at = 1; at < cb.n; at++) {
		if (!unary_cut(&cb, &sb, at, 0) && bad++ < 3)
			fprintf(stderr, "client's bytes cut at %zu of %zu: differs\n", at, cb.n);
	}
	for (at = 1; at < sb.n; at++) {
		if (!unary_cut(&cb, &sb, 0, at) && bad++ < 3)
			fprintf(stderr, "server's bytes cut at %zu of %zu: differs\n", at, sb.n);
	}
	CHECK_EQ_INT(bad, 0);
	bytes_free(&cb);
	bytes_free(&sb);
}

/*
 * A request is at its first byte, and an answer too (op_head: start_ns is the request's first
 * byte): the HEADERS frames cut after their frame header and 3 bytes of block.
 */
TEST(times_are_first_bytes)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	get_request(&c, 1, "/x", "h");
	kio(k, true, c.p, FRAME_HEAD + 3, 100);
	kio(k, true, c.p + FRAME_HEAD + 3, c.n - FRAME_HEAD - 3, 150);
	response_head(&s, 1, 200, 0);
	data(&s, 1, 10, END_STREAM);
	kio(k, false, s.p, FRAME_HEAD + 3, 200);
	kio(k, false, s.p + FRAME_HEAD + 3, s.n - FRAME_HEAD - 3, 250);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(d->head.start_ns, 100);
	CHECK_EQ_INT(d->answered, 200);
	CHECK_EQ_INT(d->head.end_ns, 250);
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* --- 6. a large body --------------------------------------------------------------------- */

/*
 * 100 KiB of response in 16 KiB DATA frames, each written as its header and first bytes, then
 * 4 KiB writes: most writes carry only left-out bytes and get no record, and the run ends with
 * one. The next exchange on the connection finds both walks in place and the server's table
 * whole (its :status is the entry the first response inserted).
 */
TEST(large_response)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, h = {0}, s = {0}, io = {0};
	size_t total = 100 * 1024, sent = 0, off, n, len;
	uint64_t ts = 200, es_ts = 0;
	const struct done_op *d;

	handshake(k, 10, 0);
	get_request(&c, 1, "/big", "example.com");
	kio_bytes(k, true, &c, 100);
	hp_add_name(&h, 8, "200"); /* the server's 62: :status 200 */
	hp_lit(&h, "content-type", "application/octet-stream");
	frame(&s, HEADERS, END_HEADERS, 1, h.p, h.n);
	kio_bytes(k, false, &s, ts++);
	while (sent < total) {
		len = total - sent < 16384 ? total - sent : 16384;
		io.n = 0;
		data(&io, 1, len, sent + len == total ? END_STREAM : 0);
		for (off = 0; off < io.n; off += n) {
			n = io.n - off < 4096 ? io.n - off : 4096;
			if (sent + len == total && !off)
				es_ts = ts;
			kio(k, false, io.p + off, n, ts++);
		}
		sent += len;
	}
	CHECK(k->skipped >= 20); /* the scenario: records left out, one at the run's end */
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);
	CHECK_EQ_INT(snk.n_done, 1);
	d = &snk.done[0];
	CHECK_EQ_INT(d->head.end_ns, es_ts);
	CHECK(!d->head.incomplete);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
	/* the DATA frames' lengths, from their headers, the payload never in a record */
	CHECK_ATTR_INT(&d->sp, "http.response.body.size", 100 * 1024);
	CHECK_NO_ATTR(&d->sp, "http.request.body.size");

	c.n = s.n = h.n = 0;
	get_request(&c, 3, "/small", "example.com");
	kio_bytes(k, true, &c, 1000);
	hp_index(&h, 62);
	frame(&s, HEADERS, END_HEADERS, 3, h.p, h.n);
	data(&s, 3, 10, END_STREAM);
	kio_bytes(k, false, &s, 1100);
	CHECK_EQ_INT(snk.lost[0], 0);
	CHECK_EQ_INT(snk.lost[1], 0);
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_named("GET /small");
	CHECK_EQ_INT(d->head.end_ns, 1100);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
	CHECK_ATTR_INT(&d->sp, "http.response.body.size", 10);
	/* a padded DATA frame's length holds its padding: the size is left unsaid */
	c.n = s.n = h.n = 0;
	get_request(&c, 5, "/padded", "example.com");
	kio_bytes(k, true, &c, 1200);
	hp_index(&h, 62);
	frame(&s, HEADERS, END_HEADERS, 5, h.p, h.n);
	frame(&s, DATA, PADDED | END_STREAM, 5, "\x04" "abcdef\0\0\0\0", 11);
	kio_bytes(k, false, &s, 1300);
	CHECK_EQ_INT(snk.n_done, 3);
	d = op_named("GET /padded");
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
	CHECK_NO_ATTR(&d->sp, "http.response.body.size");
	kclose(k, 2000);
	CHECK_EQ_INT(snk.n_done, 3);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
	bytes_free(&s);
	bytes_free(&io);
}

/* Node's http2 answers with a body and then an empty DATA frame that ends the stream, each
 * in its own write; and with a content-length, a client that has it all may close first. */
TEST(empty_data_ends_the_stream)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0};

	handshake(k, 10, 0);
	get_request(&c, 1, "/get", "example.com");
	kio_bytes(k, true, &c, 100);
	response_head(&s, 1, 200, 0);
	kio_bytes(k, false, &s, 200);
	s.n = 0;
	data(&s, 1, 12, 0);
	kio_bytes(k, false, &s, 210);
	s.n = 0;
	data(&s, 1, 0, END_STREAM);
	kio_bytes(k, false, &s, 220);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.done[0].head.end_ns, 220);
	CHECK_ATTR_INT(&snk.done[0].sp, "http.response.body.size", 12);
	/* curl has the body it was told of (content-length) and closes: the END_STREAM never
	 * comes, and the stream is complete at its last byte, not cut by the close */
	c.n = s.n = 0;
	get_request(&c, 3, "/cl", "example.com");
	kio_bytes(k, true, &c, 400);
	response_head(&s, 3, 200, 0); /* content-type only: no length to go by */
	kio_bytes(k, false, &s, 410);
	s.n = 0;
	{
		struct bytes h = {0};

		hp_index(&h, 8);
		hp_lit(&h, "content-length", "12");
		frame(&s, HEADERS, END_HEADERS, 5, h.p, h.n);
		bytes_free(&h);
	}
	c.n = 0;
	get_request(&c, 5, "/cl5", "example.com");
	kio_bytes(k, true, &c, 420);
	kio_bytes(k, false, &s, 430);
	s.n = 0;
	data(&s, 3, 12, 0);
	data(&s, 5, 12, 0);
	kio_bytes(k, false, &s, 440);
	kclose(k, 900);
	CHECK_EQ_INT(snk.n_done, 3);
	CHECK(op_named("GET /cl")->head.incomplete);   /* no length: cut by the close */
	CHECK_EQ_INT(op_named("GET /cl")->head.end_ns, 900);
	CHECK(!op_named("GET /cl5")->head.incomplete);
	CHECK_EQ_INT(op_named("GET /cl5")->head.end_ns, 440);
	CHECK_EQ_INT(op_named("GET /cl5")->sp.status, SPAN_STATUS_UNSET);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* The same for a large request body (an upload), the server's view. */
TEST(large_request)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, h = {0}, s = {0}, io = {0};
	size_t total = 64 * 1024 + 100, sent = 0, off, n, len;
	uint64_t ts = 100;
	const struct done_op *d;

	handshake(k, 10, 0);
	hp_index(&h, 3); /* POST */
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/upload");
	hp_add_name(&h, 1, "files.local"); /* the client's 62 */
	frame(&c, HEADERS, END_HEADERS, 1, h.p, h.n);
	kio_bytes(k, true, &c, ts++);
	while (sent < total) {
		len = total - sent < 16384 ? total - sent : 16384;
		io.n = 0;
		data(&io, 1, len, sent + len == total ? END_STREAM : 0);
		for (off = 0; off < io.n; off += n) {
			n = io.n - off < 3000 ? io.n - off : 3000;
			kio(k, true, io.p + off, n, ts++);
		}
		sent += len;
	}
	response_head(&s, 1, 200, END_STREAM);
	kio_bytes(k, false, &s, 500);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.done[0].head.start_ns, 100);
	CHECK_EQ_INT(snk.done[0].head.end_ns, 500);
	CHECK_ATTR_INT(&snk.done[0].sp, "http.request.body.size", 64 * 1024 + 100);
	CHECK_ATTR_INT(&snk.done[0].sp, "http.response.body.size", 0);
	c.n = h.n = s.n = 0;
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/next");
	hp_index(&h, 62);
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 3, h.p, h.n);
	kio_bytes(k, true, &c, 600);
	response_head(&s, 3, 200, END_STREAM);
	kio_bytes(k, false, &s, 700);
	CHECK_EQ_INT(snk.lost[0] + snk.lost[1], 0);
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_named("GET /next");
	CHECK_ATTR(&d->sp, "server.address", "files.local");
	CHECK_NO_ATTR(&d->sp, "http.request.body.size");
	kclose(k, 800);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
	bytes_free(&s);
	bytes_free(&io);
}

/* --- 7. records lost on the way ---------------------------------------------------------- */

/* A request whose :path sonde cannot know: no path is made up for it. */
static void check_no_path(const struct done_op *d)
{
	CHECK_NO_ATTR(&d->sp, "url.path");
	CHECK_NO_ATTR(&d->sp, "url.template");
	CHECK_STR(d->sp.name, "GET");
}

/*
 * The record of a request that inserted its :path is lost, and the next request of the same
 * run refers to that entry: the record after the loss says where the walk is (its gap), the
 * loss is told once, the entry is unknown, and later requests decode.
 */
TEST(lost_record_inside_a_run)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	const struct done_op *d;

	handshake(k, 10, 0);
	get_indexing_path(&c, 1, "/items/1"); /* 62: :path /items/1 */
	kio_bytes(k, true, &c, 100);
	response_ok(&s, 1);
	kio_bytes(k, false, &s, 150);
	c.n = 0;
	get_indexing_path(&c, 3, "/items/2"); /* 62: /items/2, 63: /items/1 */
	k->drop = 1;
	kio_bytes(k, true, &c, 200);
	c.n = 0;
	get_path_ref(&c, 5, 62);
	kio_bytes(k, true, &c, 210);
	c.n = 0;
	get_request(&c, 7, "/items/7", "shop.local");
	kio_bytes(k, true, &c, 220);
	s.n = 0;
	response_ok(&s, 3);
	response_ok(&s, 5);
	response_ok(&s, 7);
	kio_bytes(k, false, &s, 300);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.lost[0], 0);
	CHECK_EQ_INT(snk.n_done, 3); /* 3's request was never seen */
	d = op_started(100);
	CHECK_ATTR(&d->sp, "url.path", "/items/1");
	d = op_started(210);
	CHECK(!attr_is(&d->sp, "url.path", "/items/1")); /* never a wrong value */
	check_no_path(d);
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
	d = op_started(220);
	CHECK_STR(d->sp.name, "GET /items/{id}");
	CHECK_ATTR(&d->sp, "url.path", "/items/7");
	kclose(k, 400);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/*
 * The same loss when the lost record was a whole run of the client's (one write, the server
 * answered before the next): nothing in the next record's walk position shows it, but the
 * run's summary does (its bytes came with no record). The request after it refers to the
 * entry the lost block inserted: its :path must not be the older entry's.
 */
TEST(lost_record_whole_run)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	const struct done_op *d;

	handshake(k, 10, 0);
	get_indexing_path(&c, 1, "/items/1");
	kio_bytes(k, true, &c, 100);
	response_ok(&s, 1);
	kio_bytes(k, false, &s, 150);
	c.n = s.n = 0;
	get_indexing_path(&c, 3, "/items/2");
	k->drop = 1;
	kio_bytes(k, true, &c, 200);
	response_ok(&s, 3);
	kio_bytes(k, false, &s, 250);
	c.n = s.n = 0;
	get_path_ref(&c, 5, 62); /* /items/2 */
	kio_bytes(k, true, &c, 300);
	response_ok(&s, 5);
	kio_bytes(k, false, &s, 350);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_started(300);
	CHECK(!attr_is(&d->sp, "url.path", "/items/1")); /* never a wrong value */
	check_no_path(d);
	kclose(k, 400);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* --- 8. RST_STREAM and GOAWAY ------------------------------------------------------------ */

static void grpc_cancelled(uint8_t role)
{
	struct conn *k = conn_new(role);
	struct bytes c = {0}, s = {0}, r = {0};
	uint8_t cancel[4] = {0, 0, 0, 0x8};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	grpc_request(&c, 1, "/sonde.test.Echo/Stream");
	kio_bytes(k, true, &c, 100);
	grpc_response_head(&s, 1);
	data(&s, 1, 40, 0);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 0);
	frame(&r, RST_STREAM, 0, 1, cancel, sizeof(cancel));
	kio_bytes(k, true, &r, 300);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK(!http2_decoder.waiting(k->st));
	CHECK_EQ_INT(d->head.end_ns, 300);
	CHECK(!d->head.incomplete);
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "CANCELLED");
	if (role == SONDE_ROLE_CLIENT) {
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
		CHECK_ATTR(&d->sp, "error.type", "CANCELLED");
	} else {
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_UNSET);
	}
	/* the rest of the server's stream goes by unknown */
	s.n = 0;
	data(&s, 1, 40, 0);
	grpc_trailers(&s, 1, "1", false);
	kio_bytes(k, false, &s, 310);
	kclose(k, 400);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.count[DEC_PARSE_ERROR], 0);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&r);
}

TEST(rst_stream_cancel_client)
{
	grpc_cancelled(SONDE_ROLE_CLIENT);
}

/*
 * A call cancelled when its grpc-timeout ran out is DEADLINE_EXCEEDED, as gRPC's libraries
 * report it on both ends (an error on the server too, by the conventions); cancelled before
 * (a tenth of the timeout is allowed for the two clocks), or with no timeout, or one that is
 * not a grpc-timeout, it is CANCELLED.
 */
static void deadline_case(uint8_t role, const char *timeout, uint64_t reset_at, const char *want)
{
	struct conn *k = conn_new(role);
	struct bytes c = {0}, r = {0};
	uint8_t cancel[4] = {0, 0, 0, 0x8};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	grpc_request_timeout(&c, 1, "/sonde.test.Echo/Unary", timeout);
	kio_bytes(k, true, &c, 1000);
	frame(&r, RST_STREAM, 0, 1, cancel, sizeof(cancel));
	kio_bytes(k, role == SONDE_ROLE_CLIENT, &r, 1000 + reset_at);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_ATTR(&d->sp, "rpc.response.status_code", want);
	if (role == SONDE_ROLE_CLIENT || !strcmp(want, "DEADLINE_EXCEEDED")) {
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
		CHECK_ATTR(&d->sp, "error.type", want);
	} else {
		CHECK_EQ_INT(d->sp.status, SPAN_STATUS_UNSET);
	}
	kclose(k, 2000 + reset_at);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&r);
}

TEST(deadline_cancel_is_deadline_exceeded)
{
	static const uint8_t roles[] = {SONDE_ROLE_CLIENT, SONDE_ROLE_SERVER};
	int i;

	for (i = 0; i < 2; i++) {
		deadline_case(roles[i], "300m", 300000000, "DEADLINE_EXCEEDED");
		deadline_case(roles[i], "300m", 280000000, "DEADLINE_EXCEEDED"); /* node's lag */
		deadline_case(roles[i], "300m", 200000000, "CANCELLED");
		deadline_case(roles[i], "300000u", 299000000, "DEADLINE_EXCEEDED");
		deadline_case(roles[i], "1H", 299000000, "CANCELLED");
		deadline_case(roles[i], NULL, 300000000, "CANCELLED");
		deadline_case(roles[i], "300x", 300000000, "CANCELLED");	  /* no such unit */
		deadline_case(roles[i], "123456789n", 300000000, "CANCELLED"); /* 9 digits */
		deadline_case(roles[i], "m", 300000000, "CANCELLED");
	}
}

/* An upload the server refused half way: no size for a body that did not end. */
TEST(rst_stream_mid_upload_has_no_size)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, h = {0}, r = {0};
	uint8_t refused[4] = {0, 0, 0, 0x7};

	handshake(k, 10, 0);
	hp_index(&h, 3); /* POST */
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/upload");
	hp_lit(&h, ":authority", "files.local");
	frame(&c, HEADERS, END_HEADERS, 1, h.p, h.n);
	data(&c, 1, 300, 0);
	kio_bytes(k, true, &c, 100);
	frame(&r, RST_STREAM, 0, 1, refused, sizeof(refused));
	kio_bytes(k, false, &r, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_NO_ATTR(&snk.done[0].sp, "http.request.body.size");
	CHECK_NO_ATTR(&snk.done[0].sp, "http.response.body.size");
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
	bytes_free(&r);
}

TEST(rst_stream_cancel_server)
{
	grpc_cancelled(SONDE_ROLE_SERVER);
}

/* A server's GOAWAY refuses the streams above its last one; 1 goes on. */
TEST(goaway_from_server)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0};
	uint8_t ga[8] = {0, 0, 0, 1, 0, 0, 0, 0};
	const struct done_op *d;

	handshake(k, 10, 0);
	grpc_request(&c, 1, "/sonde.test.Echo/Unary");
	grpc_request(&c, 3, "/sonde.test.Echo/Other");
	get_request(&c, 5, "/plain", "h");
	kio_bytes(k, true, &c, 100);
	frame(&s, GOAWAY, 0, 0, ga, sizeof(ga));
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_named("sonde.test.Echo/Other");
	CHECK_EQ_INT(d->head.end_ns, 200);
	CHECK(!d->head.incomplete);
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "UNAVAILABLE");
	CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
	CHECK_ATTR(&d->sp, "error.type", "UNAVAILABLE");
	d = op_named("GET /plain");
	CHECK_EQ_INT(d->sp.status, SPAN_STATUS_ERROR);
	CHECK_NO_ATTR(&d->sp, "http.response.status_code");
	CHECK(http2_decoder.waiting(k->st));
	s.n = 0;
	grpc_response(&s, 1, "0");
	kio_bytes(k, false, &s, 300);
	CHECK_EQ_INT(snk.n_done, 3);
	d = op_named("sonde.test.Echo/Unary");
	CHECK_EQ_INT(d->head.end_ns, 300);
	CHECK_ATTR(&d->sp, "rpc.response.status_code", "OK");
	kclose(k, 400);
	CHECK_EQ_INT(snk.n_done, 3);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* A client's GOAWAY is about the server's pushes: its own streams go on. */
TEST(goaway_from_client)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0}, g = {0};
	uint8_t ga[8] = {0, 0, 0, 0, 0, 0, 0, 0};

	handshake(k, 10, 0);
	grpc_request(&c, 1, "/sonde.test.Echo/Unary");
	kio_bytes(k, true, &c, 100);
	frame(&g, GOAWAY, 0, 0, ga, sizeof(ga));
	kio_bytes(k, true, &g, 150);
	CHECK_EQ_INT(snk.n_done, 0);
	CHECK(http2_decoder.waiting(k->st));
	grpc_response(&s, 1, "0");
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.done[0].head.end_ns, 200);
	CHECK_ATTR(&snk.done[0].sp, "rpc.response.status_code", "OK");
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&g);
}

/* --- 9. the close ------------------------------------------------------------------------ */

TEST(close_with_open_streams)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	const struct done_op *d;

	handshake(k, 10, 0);
	get_request(&c, 1, "/slow", "h");
	get_request(&c, 3, "/half", "h");
	kio_bytes(k, true, &c, 100);
	response_head(&s, 3, 200, 0); /* answered, never ended */
	kio_bytes(k, false, &s, 200);
	CHECK(http2_decoder.waiting(k->st));
	CHECK_EQ_INT(snk.n_done, 0);
	kclose(k, 500);
	CHECK(!http2_decoder.waiting(k->st));
	CHECK_EQ_INT(snk.n_done, 2);
	d = op_named("GET /slow");
	CHECK(d->head.incomplete);
	CHECK_EQ_INT(d->head.end_ns, 500);
	CHECK_EQ_INT(d->answered, 0);
	d = op_named("GET /half");
	CHECK_EQ_INT(d->head.end_ns, 500);
	CHECK_EQ_INT(d->answered, 200);
	/* nothing after the close */
	c.n = 0;
	get_request(&c, 5, "/late", "h");
	kio_bytes(k, true, &c, 600);
	CHECK_EQ_INT(snk.begun, 2);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* --- 10. CONTINUATION and PUSH_PROMISE --------------------------------------------------- */

/* A header block in a padded HEADERS with a priority and two CONTINUATIONs, cut inside fields. */
static void continued_request(struct bytes *b)
{
	struct bytes h = {0}, f = {0};
	size_t a = 12, z;

	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/search/42?q=x");
	hp_lit(&h, ":authority", "cont.example:8443");
	hp_lit(&h, "user-agent", "sonde-test/continuation");
	z = h.n - 10;
	put8(&f, 3);	      /* pad length */
	put32(&f, 0x80000000); /* exclusive, on stream 0 */
	put8(&f, 15);	      /* weight */
	put(&f, h.p, a);
	put(&f, "\0\0\0", 3);
	frame(b, HEADERS, PADDED | PRIO | END_STREAM, 1, f.p, f.n);
	frame(b, CONTINUATION, 0, 1, h.p + a, z - a);
	frame(b, CONTINUATION, END_HEADERS, 1, h.p + z, h.n - z);
	bytes_free(&h);
	bytes_free(&f);
}

static void check_continued(const struct done_op *d)
{
	CHECK_STR(d->sp.name, "GET /search/{id}");
	CHECK_ATTR(&d->sp, "url.path", "/search/42");
	CHECK_ATTR(&d->sp, "server.address", "cont.example");
	CHECK_ATTR_INT(&d->sp, "server.port", 8443);
	CHECK_ATTR(&d->sp, "user_agent.original", "sonde-test/continuation");
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 200);
}

TEST(continuation)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	size_t f1, f2;

	handshake(k, 10, 0);
	continued_request(&c);
	kio_bytes(k, true, &c, 100);
	CHECK_EQ_INT(snk.begun, 1);
	response_ok(&s, 1);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	check_continued(&snk.done[0]);
	CHECK_EQ_INT(snk.done[0].head.start_ns, 100);
	kclose(k, 300);
	conn_free(k);

	/* each frame in its own I/O: begun at the last, started at the first */
	k = conn_new(SONDE_ROLE_SERVER);
	handshake(k, 10, 0);
	f1 = FRAME_HEAD + ((size_t)c.p[0] << 16 | (size_t)c.p[1] << 8 | c.p[2]);
	f2 = f1 + FRAME_HEAD + ((size_t)c.p[f1] << 16 | (size_t)c.p[f1 + 1] << 8 | c.p[f1 + 2]);
	kio(k, true, c.p, f1, 100);
	kio(k, true, c.p + f1, f2 - f1, 110);
	CHECK_EQ_INT(snk.begun, 0);
	kio(k, true, c.p + f2, c.n - f2, 120);
	CHECK_EQ_INT(snk.begun, 1);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	check_continued(&snk.done[0]);
	CHECK_EQ_INT(snk.done[0].head.start_ns, 100);
	CHECK_EQ_INT(snk.count[DEC_PARSE_ERROR], 0);
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/*
 * A header block whose HEADERS frame carries an empty fragment, all of it in CONTINUATION
 * (valid, RFC 9113 6.10), as the first block of the server's direction: an empty fragment
 * joined to a block buffer not allocated yet must not be NULL + 0 or a memcpy from NULL, which
 * UBSan stops on in a SAN=1 build (tests/fuzz/regressions/http2/empty-header-fragment).
 */
TEST(empty_fragment_then_continuation)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0}, h = {0};

	handshake(k, 10, 0);
	get_request(&c, 1, "/e", "h");
	kio_bytes(k, true, &c, 100);
	hp_index(&h, 8);
	frame(&s, HEADERS, END_STREAM, 1, NULL, 0);
	frame(&s, CONTINUATION, END_HEADERS, 1, h.p, h.n);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_ATTR_INT(&snk.done[0].sp, "http.response.status_code", 200);
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&h);
}

/*
 * A pushed stream's PUSH_PROMISE (padded) and its response insert into the server's table like
 * any block, though neither is an operation: the response of stream 1 refers to both entries.
 */
TEST(push_promise_keeps_the_table)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0}, h = {0}, f = {0};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	get_request(&c, 1, "/page", "push.example");
	kio_bytes(k, true, &c, 100);
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_add_name(&h, 4, "/style.css"); /* the server's 62 */
	hp_lit(&h, ":authority", "push.example");
	put8(&f, 2);  /* pad length */
	put32(&f, 2); /* the promised stream */
	put(&f, h.p, h.n);
	put(&f, "\0\0", 2);
	frame(&s, PUSH_PROMISE, PADDED | END_HEADERS, 1, f.p, f.n);
	h.n = 0;
	hp_add_name(&h, 8, "203"); /* 62: :status 203, 63: :path /style.css */
	frame(&s, HEADERS, END_HEADERS, 2, h.p, h.n);
	data(&s, 2, 50, END_STREAM);
	h.n = 0;
	hp_index(&h, 62);
	hp_lit_name(&h, 4, "x"); /* a name-indexed literal */
	frame(&s, HEADERS, END_HEADERS, 1, h.p, h.n);
	data(&s, 1, 50, END_STREAM);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.begun, 1);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_STR(d->sp.name, "GET /page");
	CHECK_ATTR_INT(&d->sp, "http.response.status_code", 203);
	CHECK_EQ_INT(snk.count[DEC_PARSE_ERROR], 0);
	kclose(k, 300);
	CHECK_EQ_INT(snk.n_done, 1);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&h);
	bytes_free(&f);
}

/* --- 11. SETTINGS_HEADER_TABLE_SIZE ------------------------------------------------------ */

/*
 * The client announces table (0: nothing) and the server's first response block starts with a
 * size update to `update`: the parse errors counted. The exchange and a later one still end.
 */
static int size_update_errors(uint32_t table, uint32_t update)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0}, h = {0};
	int errors;

	handshake(k, 10, table);
	get_request(&c, 1, "/t", "h");
	kio_bytes(k, true, &c, 100);
	hp_size(&h, update);
	hp_index(&h, 8);
	frame(&s, HEADERS, END_HEADERS | END_STREAM, 1, h.p, h.n);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(snk.done[0].head.end_ns, 200);
	c.n = s.n = 0;
	get_request(&c, 3, "/u", "h");
	kio_bytes(k, true, &c, 300);
	response_head(&s, 3, 200, END_STREAM);
	kio_bytes(k, false, &s, 400);
	CHECK_EQ_INT(snk.n_done, 2);
	CHECK_ATTR_INT(&snk.done[1].sp, "http.response.status_code", 200);
	errors = snk.count[DEC_PARSE_ERROR];
	kclose(k, 500);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&h);
	return errors;
}

TEST(settings_header_table_size)
{
	CHECK_EQ_INT(size_update_errors(0, 4096), 0);	/* the default bound */
	CHECK_EQ_INT(size_update_errors(0, 100), 0);
	CHECK_EQ_INT(size_update_errors(0, 4097), 1);
	CHECK_EQ_INT(size_update_errors(256, 256), 0); /* the client lowered it */
	CHECK_EQ_INT(size_update_errors(256, 0), 0);
	CHECK_EQ_INT(size_update_errors(256, 4096), 1);
	CHECK_EQ_INT(size_update_errors(256, 257), 1);
	CHECK_EQ_INT(size_update_errors(65536, 65536), 0); /* raised */
}

/* --- 12. the kernel's cut and lost records ----------------------------------------------- */

/* A GET whose header block carries a cookie of n bytes. */
static void get_big(struct bytes *b, uint32_t sid, size_t n)
{
	struct bytes h = {0};
	char *v = malloc(n + 1);

	memset(v, 'a', n);
	v[n] = 0;
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/big");
	hp_lit(&h, "cookie", v);
	frame(b, HEADERS, END_HEADERS | END_STREAM, sid, h.p, h.n);
	bytes_free(&h);
	free(v);
}

/* A header block past the record's room: the record is cut, the next says where frames are. */
TEST(walk_cut_then_frame_start)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0};

	handshake(k, 10, 0);
	get_big(&c, 1, SONDE_FRAMES_MAX + 2000);
	kio_bytes(k, true, &c, 100);
	CHECK_EQ_INT(k->cuts, 1);
	CHECK_EQ_INT(snk.lost[1], 1);
	c.n = 0;
	get_request(&c, 3, "/after", "h");
	kio_bytes(k, true, &c, 110);
	CHECK_EQ_INT(snk.begun, 1);
	kclose(k, 200);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_STR(snk.done[0].sp.name, "GET /after");
	CHECK(snk.done[0].head.incomplete);
	conn_free(k);
	bytes_free(&c);
}

/* The same, the cut I/O ending 4 bytes into the next frame header: the record after it starts
 * inside a header (walk_part 4) and is passed over; the one after that picks the frames up. */
TEST(walk_cut_then_header_part)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0};
	size_t big;

	handshake(k, 10, 0);
	get_big(&c, 1, SONDE_FRAMES_MAX + 2000);
	big = c.n;
	get_request(&c, 3, "/three", "h");
	kio(k, true, c.p, big + 4, 100);
	kio(k, true, c.p + big + 4, c.n - big - 4, 110);
	c.n = 0;
	get_request(&c, 5, "/five", "h");
	kio_bytes(k, true, &c, 120);
	kclose(k, 200);
	CHECK_EQ_INT(k->cuts, 1);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_STR(snk.done[0].sp.name, "GET /five");
	conn_free(k);
	bytes_free(&c);
}

/*
 * The cut I/O ends inside the big HEADERS frame: the next record starts with the rest of that
 * kept payload (walk_left > 0, not ELIDED), which the decoder must step over in the record's
 * bytes to find the next frame, GET /after.
 */
TEST(walk_cut_then_kept_payload)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0};

	handshake(k, 10, 0);
	get_big(&c, 1, SONDE_FRAMES_MAX + 2000);
	get_request(&c, 3, "/after", "h");
	kio(k, true, c.p, SONDE_FRAMES_MAX + 900, 100);
	kio(k, true, c.p + SONDE_FRAMES_MAX + 900, c.n - (SONDE_FRAMES_MAX + 900), 110);
	c.n = 0;
	get_request(&c, 5, "/later", "h");
	kio_bytes(k, true, &c, 120);
	kclose(k, 200);
	CHECK_EQ_INT(k->cuts, 1);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.n_done, 2);
	op_named("GET /after");
	op_named("GET /later");
	conn_free(k);
	bytes_free(&c);
}

/*
 * A record lost on the ring whose I/O ended inside a kept payload: the next record starts in
 * the rest of it. As above, the decoder must step over those bytes.
 */
TEST(lost_record_then_kept_payload)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0};

	handshake(k, 10, 0);
	get_request(&c, 1, "/first-of-a-long-path", "h");
	get_request(&c, 3, "/after", "h");
	k->drop = 1;
	kio(k, true, c.p, FRAME_HEAD + 10, 100);
	kio(k, true, c.p + FRAME_HEAD + 10, c.n - FRAME_HEAD - 10, 110);
	kclose(k, 200);
	CHECK_EQ_INT(snk.lost[1], 1);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_STR(snk.done[0].sp.name, "GET /after");
	conn_free(k);
	bytes_free(&c);
}

/* More frames in one write than the kernel walks: its LOST record, then nothing of the server's
 * direction; the client's goes on, and the close ends what is open. */
TEST(walk_lost_for_good)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0};
	int i;

	handshake(k, 10, 0);
	get_request(&c, 1, "/one", "h");
	kio_bytes(k, true, &c, 100);
	for (i = 0; i < 600; i++)
		frame(&s, PING, ACK, 0, "12345678", 8);
	response_head(&s, 1, 200, END_STREAM);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(k->walks_lost, 1);
	CHECK_EQ_INT(snk.lost[0], 1);
	CHECK_EQ_INT(snk.lost[1], 0);
	s.n = 0;
	response_ok(&s, 1);
	kio_bytes(k, false, &s, 210);
	c.n = 0;
	get_request(&c, 3, "/two", "h");
	kio_bytes(k, true, &c, 300);
	CHECK_EQ_INT(snk.begun, 2);
	s.n = 0;
	response_ok(&s, 3);
	kio_bytes(k, false, &s, 400);
	CHECK_EQ_INT(snk.n_done, 0);
	kclose(k, 500);
	CHECK_EQ_INT(snk.n_done, 2);
	CHECK(snk.done[0].head.incomplete && snk.done[1].head.incomplete);
	CHECK_EQ_INT(snk.lost[0], 1);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* No byte of a name or attribute a span is built from but what the path can hold as text. */
static bool printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((uint8_t)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/*
 * A gRPC :path with a NUL right after its '/' (malformed, RFC 9113 8.2.1, but sonde sees what
 * the peer sent): the span must still have a name, and no control byte in it or rpc.method
 * (tests/fuzz/regressions/http2/grpc-path-nul-byte).
 */
TEST(grpc_path_with_control_bytes)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0}, h = {0};
	const struct span_attr *a;
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	hp_index(&h, 3);
	hp_index(&h, 6);
	hp_lit_bytes(&h, ":path", "/\0sonde.test.Echo/Unary", 23);
	hp_lit(&h, "content-type", "application/grpc");
	frame(&c, HEADERS, END_HEADERS, 1, h.p, h.n);
	data(&c, 1, 12, END_STREAM);
	kio_bytes(k, true, &c, 100);
	grpc_response(&s, 1, "0");
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK(d->sp.name[0] != 0);
	CHECK(printable(d->sp.name, strlen(d->sp.name)));
	a = span__find_attr(&d->sp, "rpc.method");
	CHECK(!a || printable(span__attr_str(&d->sp, a), a->len));
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&h);
}

/* The same for an HTTP :method that is a NUL (tests/fuzz/regressions/http2/method-nul-byte). */
TEST(http_method_with_control_bytes)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, s = {0}, h = {0};
	const struct span_attr *a;
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	hp_lit_bytes(&h, ":method", "\0", 1);
	hp_index(&h, 6);
	hp_lit(&h, ":path", "/x");
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 1, h.p, h.n);
	h.n = 0;
	hp_lit_bytes(&h, ":method", "\0", 1);
	hp_index(&h, 6);
	frame(&c, HEADERS, END_HEADERS | END_STREAM, 3, h.p, h.n); /* no :path either */
	kio_bytes(k, true, &c, 100);
	response_ok(&s, 1);
	response_ok(&s, 3);
	kio_bytes(k, false, &s, 200);
	CHECK_EQ_INT(snk.n_done, 2);
	for (d = &snk.done[0]; d < &snk.done[2]; d++) {
		CHECK(d->sp.name[0] != 0);
		CHECK(printable(d->sp.name, strlen(d->sp.name)));
		a = span__find_attr(&d->sp, "http.request.method");
		CHECK(!a || printable(span__attr_str(&d->sp, a), a->len));
	}
	kclose(k, 300);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
	bytes_free(&h);
}

/*
 * The first byte of the server's HEADERS frame came before the request's (not what a peer
 * does, but what a fuzzer or a clock can make): the answer is not told as before the request's
 * start, as the end is not (stream_done keeps end_ns >= start_ns). The core ends the serving of
 * a server span at that time (tests/fuzz/regressions/http2/answer-before-request).
 */
TEST(answer_not_before_start)
{
	struct conn *k = conn_new(SONDE_ROLE_CLIENT);
	struct bytes c = {0}, s = {0};
	const struct done_op *d = &snk.done[0];

	handshake(k, 10, 0);
	response_head(&s, 1, 200, END_STREAM);
	kio(k, false, s.p, 1, 100);
	get_request(&c, 1, "/early", "h");
	kio_bytes(k, true, &c, 110);
	kio(k, false, s.p + 1, s.n - 1, 120);
	CHECK_EQ_INT(snk.n_done, 1);
	CHECK_EQ_INT(d->head.start_ns, 110);
	CHECK(d->answered >= d->head.start_ns);
	CHECK_EQ_INT(d->head.end_ns, 120);
	kclose(k, 200);
	conn_free(k);
	bytes_free(&c);
	bytes_free(&s);
}

/* --- bounds ------------------------------------------------------------------------------ */

/* 300 streams open at once: the decoder follows 256 and counts the rest dropped. */
TEST(open_streams_bounded)
{
	struct conn *k = conn_new(SONDE_ROLE_SERVER);
	struct bytes c = {0}, h = {0};
	uint32_t i;

	handshake(k, 10, 0);
	hp_index(&h, 2);
	hp_index(&h, 6);
	hp_index(&h, 4); /* :path / */
	hp_lit(&h, ":authority", "h");
	for (i = 0; i < 300; i++) {
		frame(&c, HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, h.p, h.n);
		if (i % 100 == 99) {
			kio_bytes(k, true, &c, 100 + i);
			c.n = 0;
		}
	}
	CHECK_EQ_INT(snk.begun, 256);
	CHECK_EQ_INT(snk.count[DEC_QUEUE_FULL], 44);
	kclose(k, 1000);
	CHECK_EQ_INT(snk.n_done, 256);
	CHECK(!http2_decoder.waiting(k->st));
	conn_free(k);
	bytes_free(&c);
	bytes_free(&h);
}

int main(void)
{
	RUN(detect);
	RUN(get_server);
	RUN(get_client);
	RUN(grpc_unary_client);
	RUN(grpc_unary_server);
	RUN(grpc_trailers_only_client);
	RUN(grpc_trailers_only_server);
	RUN(interleaved_streams);
	RUN(split_at_every_byte);
	RUN(times_are_first_bytes);
	RUN(large_response);
	RUN(empty_data_ends_the_stream);
	RUN(large_request);
	RUN(lost_record_inside_a_run);
	RUN(lost_record_whole_run);
	RUN(rst_stream_cancel_client);
	RUN(deadline_cancel_is_deadline_exceeded);
	RUN(rst_stream_mid_upload_has_no_size);
	RUN(rst_stream_cancel_server);
	RUN(goaway_from_server);
	RUN(goaway_from_client);
	RUN(close_with_open_streams);
	RUN(continuation);
	RUN(empty_fragment_then_continuation);
	RUN(push_promise_keeps_the_table);
	RUN(settings_header_table_size);
	RUN(walk_cut_then_frame_start);
	RUN(walk_cut_then_header_part);
	RUN(walk_cut_then_kept_payload);
	RUN(lost_record_then_kept_payload);
	RUN(walk_lost_for_good);
	RUN(grpc_path_with_control_bytes);
	RUN(http_method_with_control_bytes);
	RUN(answer_not_before_start);
	RUN(open_streams_bounded);
	UNIT_DONE();
}
