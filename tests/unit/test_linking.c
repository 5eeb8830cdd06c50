// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Parent/child links between spans, fed records as the kernel writes them for several
 * connections at once: a call made by the thread serving a request is its child; the server
 * end of a connection between two traced processes of this host is the child of the client end;
 * a context on the wire wins; calls after the response started, or from another thread, are not
 * children; the thread table's choice on an event loop.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assembler.h"
#include "linker.h"
#include "unit.h"

#define MAX_SPANS 32

static struct span spans[MAX_SPANS];
static int n_spans;
static struct sonde_config cfg;
static struct process_table *procs;
static struct assembler *a;

/* One end of a connection as the kernel sees it: its runs. */
struct end {
	uint64_t id;
	uint32_t seq;
	uint16_t dir;
	uint16_t status; /* the current run is a response the kernel summarized */
	uint64_t first, last, bytes;
};

/* Notes the next record carries (response starts the kernel summarized, see sonde_event.h). */
static struct sonde_http1_note next_notes[SONDE_HTTP1_NOTES];
/* The context the kernel gives the next record (header or TCP-option propagation). */
static struct sonde_trace_ctx next_ctx;
/* What the assembler asked the kernel about responses: socket and mode, in order. */
static uint64_t mode_key[8];
static uint8_t mode_asked[8];
static int n_modes;

static int fake_state(void *ctx, uint64_t key, struct sonde_conn_state *out);
static void record_mode(void *ctx, uint64_t key, uint64_t conn_id, uint8_t mode);
static struct end *state_ends[8];

static void collect(void *ctx, const struct span *s)
{
	(void)ctx;
	if (n_spans < MAX_SPANS)
		spans[n_spans] = *s;
	n_spans++;
}

static void setup(uint32_t propagation)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.idle_close_ms = 500;
	cfg.propagation = propagation;
	procs = process_table__new(&cfg);
	a = assembler__new(&cfg, procs, collect, NULL, fake_state, NULL);
	assembler__set_capture_policy(a, record_mode, NULL);
	n_spans = 0;
	n_modes = 0;
	memset(state_ends, 0, sizeof(state_ends));
	memset(next_notes, 0, sizeof(next_notes));
}

static void teardown(void)
{
	assembler__free(a);
	process_table__free(procs);
}

/*
 * Let the wait of server spans for their client end pass (HTTP_LINK_WAIT_NS): these tests'
 * clients are on loopback but most are not traced (their connections are never announced).
 */
static void settle(void)
{
	assembler__tick(a, 2000000000ULL);
}

/*
 * Announce a connection: IPv4 unless v6 (then IPv4-mapped addresses), local then remote, with
 * the role the kernel saw at the open (from the TCP state change), or UNKNOWN.
 */
static void open_end_as(struct end *e, uint64_t id, uint32_t lport, uint32_t rport, bool v6,
			uint16_t role)
{
	struct sonde_open_event ev = {};

	memset(e, 0, sizeof(*e));
	e->id = id;
	ev.head.conn_id = id;
	ev.head.kind = SONDE_EV_OPEN;
	ev.head.tgid = getpid();
	ev.sock_key = 0x1000 + id;
	if (v6) {
		ev.family = 10;
		ev.saddr[10] = ev.saddr[11] = ev.daddr[10] = ev.daddr[11] = 0xff;
		ev.saddr[12] = ev.daddr[12] = 127;
		ev.saddr[15] = ev.daddr[15] = 1;
	} else {
		ev.family = 2;
		ev.saddr[0] = ev.daddr[0] = 127;
		ev.saddr[3] = ev.daddr[3] = 1;
	}
	ev.sport = (uint16_t)lport;
	ev.dport = (uint16_t)rport;
	ev.role = role;
	assembler__on_record(a, &ev, sizeof(ev));
}

static void open_end(struct end *e, uint64_t id, uint32_t lport, uint32_t rport, bool v6)
{
	open_end_as(e, id, lport, rport, v6, SONDE_ROLE_UNKNOWN);
}

static void open_end_role(struct end *e, uint64_t id, uint32_t lport, uint32_t rport,
			  uint16_t role)
{
	open_end_as(e, id, lport, rport, false, role);
}

static void io(struct end *e, uint16_t dir, uint64_t ts, uint32_t tid, const char *data)
{
	static struct sonde_data_event ev;
	size_t n = strlen(data);

	memset(&ev, 0, offsetof(struct sonde_data_event, payload));
	ev.head.conn_id = e->id;
	ev.head.kind = SONDE_EV_DATA;
	ev.head.tgid = getpid();
	ev.head.tid = tid;
	ev.head.ts_ns = ts;
	ev.head.dir = dir;
	memcpy(ev.http1_notes, next_notes, sizeof(ev.http1_notes));
	memset(next_notes, 0, sizeof(next_notes));
	ev.ctx = next_ctx;
	memset(&next_ctx, 0, sizeof(next_ctx));
	if (dir != e->dir) {
		ev.prev.first_ts_ns = e->first;
		ev.prev.last_ts_ns = e->last;
		ev.prev.bytes = e->bytes;
		ev.prev.seq = e->seq;
		ev.prev.dir = e->dir;
		ev.prev.http1_status = e->status;
		e->status = 0;
		e->seq++;
		e->dir = dir;
		e->first = ts;
		e->bytes = 0;
	}
	ev.run_offset = e->bytes;
	ev.run_seq = e->seq;
	ev.io_bytes = n;
	ev.cap_len = n;
	memcpy(ev.payload, data, n);
	e->bytes += n;
	e->last = ts;
	assembler__on_record(a, &ev, offsetof(struct sonde_data_event, payload) + n);
}

/*
 * A response run the kernel summarized: no record, only its status in the connection's state
 * (and in the next record's prev); the thread notes its start when note is set.
 */
static void summarized(struct end *e, uint16_t dir, uint64_t first, uint64_t last,
		       uint16_t status, uint64_t bytes, bool note)
{
	int i;

	e->seq++;
	e->dir = dir;
	e->first = first;
	e->last = last;
	e->bytes = bytes;
	e->status = status;
	if (!note)
		return;
	for (i = 0; i < SONDE_HTTP1_NOTES && next_notes[i].conn_id; i++)
		;
	if (i == SONDE_HTTP1_NOTES)
		return;
	next_notes[i] = (struct sonde_http1_note){ .conn_id = e->id, .ts_ns = first,
						  .run_seq = e->seq, .status = status };
}

/* The kernel's state of each connection (state_ends), for the idle checks (key 0x1000 + id). */
static int fake_state(void *ctx, uint64_t key, struct sonde_conn_state *out)
{
	int i;

	(void)ctx;
	for (i = 0; i < 8; i++) {
		struct end *e = state_ends[i];

		if (e && 0x1000 + e->id == key) {
			memset(out, 0, sizeof(*out));
			out->conn_id = e->id;
			out->run_seq = e->seq;
			out->run_dir = e->dir;
			out->run_first_ts = e->first;
			out->run_last_ts = e->last;
			out->run_bytes = e->bytes;
			out->run_http1_status = e->status;
			return 0;
		}
	}
	return -2;
}

static void record_mode(void *ctx, uint64_t key, uint64_t conn_id, uint8_t mode)
{
	(void)ctx;
	if (n_modes < 8) {
		mode_key[n_modes] = key;
		mode_asked[n_modes] = mode;
	}
	n_modes++;
}

/* The connection closed: the CLOSE record with the summary of its last run. */
static void on_close_of(struct end *e, uint64_t ts)
{
	struct sonde_close_event ev = {};

	ev.head.conn_id = e->id;
	ev.head.kind = SONDE_EV_CLOSE;
	ev.head.tgid = getpid();
	ev.head.ts_ns = ts;
	ev.head.dir = e->dir;
	ev.last.first_ts_ns = e->first;
	ev.last.last_ts_ns = e->last;
	ev.last.bytes = e->bytes;
	ev.last.seq = e->seq;
	ev.last.dir = e->dir;
	ev.last.http1_status = e->status;
	assembler__on_record(a, &ev, sizeof(ev));
}

#define IN SONDE_DIR_INGRESS
#define OUT SONDE_DIR_EGRESS
#define REQ(path) "GET " path " HTTP/1.1\r\nHost: x\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static const struct span *by_name(const char *name, int kind)
{
	int i;

	for (i = 0; i < n_spans && i < MAX_SPANS; i++)
		if (!strcmp(spans[i].name, name) && spans[i].kind == kind)
			return &spans[i];
	return NULL;
}

static bool child_of(const struct span *c, const struct span *p)
{
	return !memcmp(c->trace_id, p->trace_id, 16) && !memcmp(c->parent_span_id, p->span_id, 8);
}

static bool is_root(const struct span *s)
{
	return span__id_is_zero(s->parent_span_id, 8);
}

/* A thread-per-request server: the call its thread makes while serving is the child. */
TEST(thread_serving_request_parents_its_call)
{
	struct end srv, cli;
	const struct span *s, *c;

	setup(PROPAGATION_LINK);
	open_end(&srv, 1, 8080, 50000, false);
	open_end(&cli, 2, 50001, 9090, false);
	io(&srv, IN, 1000, 5, REQ("/front"));
	io(&cli, OUT, 2000, 5, REQ("/back"));
	io(&cli, IN, 3000, 5, RESP);
	io(&srv, OUT, 4000, 5, RESP);
	settle();
	CHECK_EQ_INT(n_spans, 2);
	s = by_name("GET /front", SPAN_KIND_SERVER);
	c = by_name("GET /back", SPAN_KIND_CLIENT);
	CHECK(s && c);
	if (s && c) {
		CHECK(is_root(s));
		CHECK(child_of(c, s));
	}
	teardown();
}

/* Another thread's call, and a call after the response started, are not children. */
TEST(other_thread_or_after_response_is_not_child)
{
	struct end srv, cli, cli2;
	const struct span *s, *c1, *c2;

	setup(PROPAGATION_LINK);
	open_end(&srv, 1, 8080, 50000, false);
	open_end(&cli, 2, 50001, 9090, false);
	open_end(&cli2, 3, 50002, 9090, false);
	io(&srv, IN, 1000, 5, REQ("/front"));
	io(&cli, OUT, 2000, 6, REQ("/other-thread"));
	io(&cli, IN, 3000, 6, RESP);
	io(&srv, OUT, 4000, 5, RESP);
	io(&cli2, OUT, 5000, 5, REQ("/after"));
	io(&cli2, IN, 6000, 5, RESP);
	settle();
	CHECK_EQ_INT(n_spans, 3);
	s = by_name("GET /front", SPAN_KIND_SERVER);
	c1 = by_name("GET /other-thread", SPAN_KIND_CLIENT);
	c2 = by_name("GET /after", SPAN_KIND_CLIENT);
	CHECK(s && c1 && c2);
	if (s && c1 && c2) {
		CHECK(is_root(c1));
		CHECK(is_root(c2));
		CHECK(memcmp(c1->trace_id, s->trace_id, 16) != 0);
		CHECK(memcmp(c2->trace_id, s->trace_id, 16) != 0);
	}
	teardown();
}

/*
 * Three services on one host, A -> B -> C, no header anywhere: B's server span is the child of
 * A's client span through the connection, B's call is the child of B's server span through the
 * thread, and C's server span the child of B's call. One trace, the right tree.
 */
TEST(chain_through_connections_and_threads)
{
	struct end a_cli, b_srv, b_cli, c_srv;
	const struct span *ac, *bs, *bc, *cs;

	setup(PROPAGATION_LINK);
	open_end(&a_cli, 1, 40000, 8001, false);
	open_end(&b_srv, 2, 8001, 40000, true); /* B listens dual-stack: mapped addresses */
	open_end(&b_cli, 3, 40001, 8002, false);
	open_end(&c_srv, 4, 8002, 40001, false);
	io(&a_cli, OUT, 1000, 1, REQ("/a"));
	io(&b_srv, IN, 1100, 2, REQ("/a"));
	io(&b_cli, OUT, 1200, 2, REQ("/b"));
	io(&c_srv, IN, 1300, 3, REQ("/b"));
	io(&c_srv, OUT, 1400, 3, RESP);
	io(&b_cli, IN, 1500, 2, RESP);
	io(&b_srv, OUT, 1600, 2, RESP);
	io(&a_cli, IN, 1700, 1, RESP);
	CHECK_EQ_INT(n_spans, 4);
	ac = by_name("GET /a", SPAN_KIND_CLIENT);
	bs = by_name("GET /a", SPAN_KIND_SERVER);
	bc = by_name("GET /b", SPAN_KIND_CLIENT);
	cs = by_name("GET /b", SPAN_KIND_SERVER);
	CHECK(ac && bs && bc && cs);
	if (ac && bs && bc && cs) {
		CHECK(is_root(ac));
		CHECK(child_of(bs, ac));
		CHECK(child_of(bc, bs));
		CHECK(child_of(cs, bc));
	}
	teardown();
}

/* Keep-alive with two requests in a row: each server span takes its own client span. */
TEST(connection_link_pairs_requests_in_order)
{
	struct end cli, srv;
	const struct span *c1, *c2, *s1, *s2;

	setup(PROPAGATION_LINK);
	open_end(&cli, 1, 40000, 8001, false);
	open_end(&srv, 2, 8001, 40000, false);
	io(&cli, OUT, 1000, 1, REQ("/one"));
	io(&srv, IN, 1100, 2, REQ("/one"));
	io(&srv, OUT, 1200, 2, RESP);
	io(&cli, IN, 1300, 1, RESP);
	io(&cli, OUT, 2000, 1, REQ("/two"));
	io(&srv, IN, 2100, 2, REQ("/two"));
	io(&srv, OUT, 2200, 2, RESP);
	io(&cli, IN, 2300, 1, RESP);
	CHECK_EQ_INT(n_spans, 4);
	c1 = by_name("GET /one", SPAN_KIND_CLIENT);
	s1 = by_name("GET /one", SPAN_KIND_SERVER);
	c2 = by_name("GET /two", SPAN_KIND_CLIENT);
	s2 = by_name("GET /two", SPAN_KIND_SERVER);
	CHECK(c1 && c2 && s1 && s2);
	if (c1 && c2 && s1 && s2) {
		CHECK(child_of(s1, c1));
		CHECK(child_of(s2, c2));
		CHECK(memcmp(c1->trace_id, c2->trace_id, 16) != 0);
	}
	teardown();
}

/*
 * The server end's record can come first: its read is timestamped before the client's send
 * returned. The server span waits for the client's request, then joins its trace; the next
 * request pairs with the next.
 */
TEST(server_record_before_client_record)
{
	struct end cli, srv, bcli;
	const struct span *c1, *s1, *c2, *s2, *b;

	setup(PROPAGATION_LINK);
	open_end(&cli, 1, 40000, 8001, false);
	open_end(&srv, 2, 8001, 40000, false);
	open_end(&bcli, 3, 40002, 9000, false);
	io(&srv, IN, 1000, 2, REQ("/one"));
	io(&cli, OUT, 1003, 1, REQ("/one"));
	io(&bcli, OUT, 1100, 2, REQ("/down"));
	io(&bcli, IN, 1150, 2, RESP);
	io(&srv, OUT, 1200, 2, RESP);
	io(&cli, IN, 1300, 1, RESP);
	io(&cli, OUT, 2000, 1, REQ("/two"));
	io(&srv, IN, 2100, 2, REQ("/two"));
	io(&srv, OUT, 2200, 2, RESP);
	io(&cli, IN, 2300, 1, RESP);
	CHECK_EQ_INT(n_spans, 5);
	c1 = by_name("GET /one", SPAN_KIND_CLIENT);
	s1 = by_name("GET /one", SPAN_KIND_SERVER);
	c2 = by_name("GET /two", SPAN_KIND_CLIENT);
	s2 = by_name("GET /two", SPAN_KIND_SERVER);
	b = by_name("GET /down", SPAN_KIND_CLIENT);
	CHECK(c1 && s1 && c2 && s2 && b);
	if (c1 && s1 && c2 && s2 && b) {
		CHECK(child_of(s1, c1));
		CHECK(child_of(b, s1));
		CHECK(child_of(s2, c2));
	}
	teardown();
}

/*
 * The server read, answered and finished before the client's request record came (the client
 * was preempted inside its send, after loopback delivery): the server span waits for it, and
 * goes on its own once the wait is over when no request comes.
 */
TEST(server_done_before_client_record)
{
	struct end cli, srv, cli2, srv2;
	const struct span *c1, *s1, *s2;

	setup(PROPAGATION_LINK);
	open_end(&cli, 1, 40000, 8001, false);
	open_end(&srv, 2, 8001, 40000, false);
	io(&srv, IN, 1000, 2, REQ("/one"));
	io(&srv, OUT, 1200, 2, RESP);
	io(&srv, IN, 900000, 2, REQ("/x")); /* the response run ended: the exchange is done */
	CHECK_EQ_INT(n_spans, 0);
	io(&cli, OUT, 1500, 1, REQ("/one"));
	CHECK_EQ_INT(n_spans, 1);
	io(&cli, IN, 1600, 1, RESP);
	io(&cli, OUT, 900100, 1, REQ("/x"));
	CHECK_EQ_INT(n_spans, 2);
	c1 = by_name("GET /one", SPAN_KIND_CLIENT);
	s1 = by_name("GET /one", SPAN_KIND_SERVER);
	CHECK(c1 && s1);
	if (c1 && s1)
		CHECK(child_of(s1, c1));

	/* the client's connection itself is announced only after the server answered (its first
	 * send returned late): the server span still waits for it */
	{
		struct end cli3, srv3;
		const struct span *c3, *s3;

		open_end(&srv3, 5, 8001, 40003, false);
		io(&srv3, IN, 1000000, 2, REQ("/late"));
		io(&srv3, OUT, 1000100, 2, RESP);
		io(&srv3, IN, 1000200, 2, REQ("/x"));
		CHECK(!by_name("GET /late", SPAN_KIND_SERVER));
		open_end(&cli3, 6, 40003, 8001, false);
		io(&cli3, OUT, 1000050, 1, REQ("/late"));
		c3 = by_name("GET /late", SPAN_KIND_CLIENT);
		s3 = by_name("GET /late", SPAN_KIND_SERVER);
		CHECK(s3);
		io(&cli3, IN, 1000150, 1, RESP);
		io(&cli3, OUT, 1000250, 1, REQ("/x"));
		c3 = by_name("GET /late", SPAN_KIND_CLIENT);
		CHECK(c3 && s3);
		if (c3 && s3)
			CHECK(child_of(s3, c3));
	}

	/* no request ever comes from the traced client end: the span goes after the wait */
	open_end(&cli2, 3, 40001, 8001, false);
	open_end(&srv2, 4, 8001, 40001, false);
	io(&srv2, IN, 2000000, 2, REQ("/alone"));
	io(&srv2, OUT, 2000100, 2, RESP);
	io(&srv2, IN, 2000200, 2, REQ("/y"));
	assembler__tick(a, 2000100 + 100000000ULL);
	CHECK(!by_name("GET /alone", SPAN_KIND_SERVER));
	assembler__tick(a, 2000100 + 400000000ULL);
	s2 = by_name("GET /alone", SPAN_KIND_SERVER);
	CHECK(s2 && is_root(s2));
	teardown();
}

/* Summarized responses: keep-alive exchanges on both ends, status and end from the summary. */
TEST(summarized_responses_keep_alive)
{
	struct end cli, srv;
	const struct span *c1, *s1, *c2, *s2;

	setup(PROPAGATION_LINK);
	open_end(&cli, 1, 40000, 8001, false);
	open_end(&srv, 2, 8001, 40000, false);
	io(&cli, OUT, 1000, 1, REQ("/one"));
	io(&srv, IN, 1010, 2, REQ("/one"));
	summarized(&srv, OUT, 1100, 1150, 200, 120, true);
	summarized(&cli, IN, 1120, 1160, 200, 120, false);
	io(&cli, OUT, 2000, 1, REQ("/two"));
	io(&srv, IN, 2010, 2, REQ("/two"));
	CHECK_EQ_INT(n_spans, 2);
	summarized(&srv, OUT, 2100, 2200, 404, 90, true);
	summarized(&cli, IN, 2120, 2210, 404, 90, true);
	on_close_of(&cli, 3000);
	on_close_of(&srv, 3001);
	CHECK_EQ_INT(n_spans, 4);
	c1 = by_name("GET /one", SPAN_KIND_CLIENT);
	s1 = by_name("GET /one", SPAN_KIND_SERVER);
	c2 = by_name("GET /two", SPAN_KIND_CLIENT);
	s2 = by_name("GET /two", SPAN_KIND_SERVER);
	CHECK(c1 && s1 && c2 && s2);
	if (c1 && s1 && c2 && s2) {
		CHECK(child_of(s1, c1) && child_of(s2, c2));
		CHECK_EQ_INT(c1->end_unix_ns - c1->start_unix_ns, 160);
		CHECK_EQ_INT(s1->end_unix_ns - s1->start_unix_ns, 140);
		CHECK_EQ_INT(s2->end_unix_ns - s2->start_unix_ns, 190);
		CHECK_EQ_INT(span__find_attr(c1, "http.response.status_code")->i, 200);
		CHECK_EQ_INT(span__find_attr(s2, "http.response.status_code")->i, 404);
		CHECK_EQ_INT(c2->status, SPAN_STATUS_ERROR);
		CHECK(!span__find_attr(c2, "error.type") ||
		      span__find_attr(c2, "error.type")->len == 3);
	}
	/* Both ends kept alive, no pipelining: summaries asked at their second requests (the
	 * kernel saw no open here: open_end gives no role, so the test's kernel_role is 0) */
	CHECK_EQ_INT(n_modes, 0);
	teardown();
}

/*
 * A thread-per-request server answers one connection (summarized: no record) and reads the next
 * request on another: the note in that record ends the first request as the thread's current
 * one, so the call that follows is the second request's child.
 */
TEST(summarized_response_note_ends_serving)
{
	struct end a1, a2, down;
	const struct span *s2, *d;

	setup(PROPAGATION_LINK);
	open_end(&a1, 1, 8080, 50000, false);
	open_end(&a2, 2, 8080, 50001, false);
	open_end(&down, 3, 50002, 9090, false);
	io(&a1, IN, 1000, 7, REQ("/first"));
	summarized(&a1, OUT, 1100, 1100, 200, 60, true);
	io(&a2, IN, 2000, 7, REQ("/second"));
	io(&down, OUT, 2100, 7, REQ("/down"));
	io(&down, IN, 2200, 7, RESP);
	io(&a2, OUT, 2300, 7, RESP);
	io(&a1, IN, 5000, 7, REQ("/x"));
	io(&down, OUT, 5100, 8, REQ("/y"));
	settle();
	d = by_name("GET /down", SPAN_KIND_CLIENT);
	s2 = by_name("GET /second", SPAN_KIND_SERVER);
	CHECK(d && s2 && by_name("GET /first", SPAN_KIND_SERVER));
	if (d && s2)
		CHECK(child_of(d, s2));
	teardown();
}

/* The last response of a connection that goes quiet: the kernel's state ends it. */
TEST(summarized_response_idle)
{
	struct end srv;
	const struct span *s;

	setup(PROPAGATION_LINK);
	open_end(&srv, 1, 8080, 50000, false);
	state_ends[0] = &srv;
	io(&srv, IN, 1000, 7, REQ("/quiet"));
	summarized(&srv, OUT, 1100, 1300, 503, 60, false); /* no record follows, no note */
	assembler__tick(a, 1000 + 100000000ULL);
	CHECK_EQ_INT(n_spans, 0);
	assembler__tick(a, 1300 + 600000000ULL);
	CHECK_EQ_INT(n_spans, 1);
	s = by_name("GET /quiet", SPAN_KIND_SERVER);
	CHECK(s);
	if (s) {
		CHECK_EQ_INT(s->end_unix_ns - s->start_unix_ns, 300);
		CHECK_EQ_INT(span__find_attr(s, "http.response.status_code")->i, 503);
		CHECK_EQ_INT(s->status, SPAN_STATUS_ERROR);
	}
	teardown();
}

/*
 * The kernel is asked to summarize a connection's responses at its second request, when the
 * first was answered (kept alive, not pipelined); pipelined requests later ask for full records
 * again. The summary of the pipelined responses cannot tell them apart: the first gets the
 * status, the second none. A connection pipelined from the start is never summarized.
 */
TEST(summarized_response_pipelined)
{
	struct end srv, srv2;
	const struct span *p1, *p2;

	setup(PROPAGATION_LINK);
	open_end_role(&srv, 1, 8080, 50000, SONDE_ROLE_SERVER);
	io(&srv, IN, 1000, 7, REQ("/a"));
	io(&srv, OUT, 1010, 7, RESP);
	CHECK_EQ_INT(n_modes, 0);
	io(&srv, IN, 1020, 7, REQ("/b"));
	CHECK_EQ_INT(n_modes, 1);
	CHECK_EQ_INT(mode_key[0], 0x1001);
	CHECK_EQ_INT(mode_asked[0], SONDE_CAPTURE_HTTP1_STATUS);
	summarized(&srv, OUT, 1030, 1040, 200, 120, false);
	io(&srv, IN, 1050, 7, REQ("/p1") REQ("/p2"));
	CHECK_EQ_INT(n_modes, 2);
	CHECK_EQ_INT(mode_asked[1], SONDE_CAPTURE_RUNS);
	summarized(&srv, OUT, 1100, 1250, 200, 120, false);
	on_close_of(&srv, 2000);
	CHECK_EQ_INT(n_spans, 4);
	p1 = by_name("GET /p1", SPAN_KIND_SERVER);
	p2 = by_name("GET /p2", SPAN_KIND_SERVER);
	CHECK(p1 && p2);
	if (p1 && p2) {
		CHECK_EQ_INT(span__find_attr(p1, "http.response.status_code")->i, 200);
		CHECK(!span__find_attr(p2, "http.response.status_code"));
		CHECK(p2->status != SPAN_STATUS_ERROR);
		CHECK_EQ_INT(p2->end_unix_ns - p2->start_unix_ns, 200);
	}
	open_end_role(&srv2, 2, 8080, 50001, SONDE_ROLE_SERVER);
	io(&srv2, IN, 3000, 7, REQ("/q1") REQ("/q2"));
	io(&srv2, OUT, 3010, 7, RESP RESP);
	io(&srv2, IN, 3020, 7, REQ("/q3"));
	CHECK_EQ_INT(n_modes, 2);
	teardown();
}

/*
 * --propagation off: the two ends stay apart. A context on the wire names the trace on both
 * ends; sonde's client span is a new span under the header's (the application's own span, or a
 * caller's forwarded by a proxy), and the server end takes the closer parent when it can: the
 * traced client end of its connection, else the header's span.
 */
TEST(link_off_and_wire_context)
{
	struct end cli, srv;
	const struct span *c, *s;
	static const uint8_t want_trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					       0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t want_span[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
	static const char tp_req[] =
		"GET /tp HTTP/1.1\r\nHost: x\r\n"
		"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
		"tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\r\n\r\n";
	uint32_t modes[2] = {0, PROPAGATION_LINK};
	int m;

	setup(0);
	open_end(&cli, 1, 40000, 8001, false);
	open_end(&srv, 2, 8001, 40000, false);
	io(&cli, OUT, 1000, 1, REQ("/off"));
	io(&srv, IN, 1100, 2, REQ("/off"));
	io(&srv, OUT, 1200, 2, RESP);
	io(&cli, IN, 1300, 1, RESP);
	c = by_name("GET /off", SPAN_KIND_CLIENT);
	s = by_name("GET /off", SPAN_KIND_SERVER);
	CHECK(c && s);
	if (c && s) {
		CHECK(is_root(s));
		CHECK(memcmp(c->trace_id, s->trace_id, 16) != 0);
	}
	teardown();

	for (m = 0; m < 2; m++) {
		setup(modes[m]);
		open_end(&cli, 1, 40000, 8001, false);
		open_end(&srv, 2, 8001, 40000, false);
		io(&cli, OUT, 1000, 1, tp_req);
		io(&srv, IN, 1100, 2, tp_req);
		io(&srv, OUT, 1200, 2, RESP);
		io(&cli, IN, 1300, 1, RESP);
		c = by_name("GET /tp", SPAN_KIND_CLIENT);
		s = by_name("GET /tp", SPAN_KIND_SERVER);
		CHECK(c && s);
		if (!c || !s) {
			teardown();
			continue;
		}
		CHECK(!memcmp(c->trace_id, want_trace, 16));
		CHECK(!memcmp(s->trace_id, want_trace, 16));
		CHECK(!memcmp(c->parent_span_id, want_span, 8));
		CHECK(memcmp(c->span_id, want_span, 8) != 0);
		/* the tracestate goes with the context, on both ends */
		CHECK_STRN(s->str + s->trace_state_off, s->trace_state_len,
			   "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
		CHECK_STRN(c->str + c->trace_state_off, c->trace_state_len,
			   "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
		if (modes[m] & PROPAGATION_LINK)
			CHECK(child_of(s, c));
		else
			CHECK(!memcmp(s->parent_span_id, want_span, 8));
		teardown();
	}
}

/* The thread table alone: intervals, the latest open request on an event loop, expiry. */
TEST(linker_intervals)
{
	struct linker *l = linker__new();
	struct linker_stats st;
	uint8_t t1[16] = {1}, s1[8] = {1}, t2[16] = {2}, s2[8] = {2}, t[16], s[8];

	CHECK(l);
	if (!l)
		return;
	CHECK(!linker__parent_at(l, 1, 1, 500, 0, t, s));
	linker__server_begin(l, 1, 1, 1000, t1, s1);
	CHECK(!linker__parent_at(l, 1, 1, 999, 0, t, s));
	CHECK(linker__parent_at(l, 1, 1, 1500, 0, t, s) && s[0] == 1);
	linker__server_begin(l, 1, 1, 2000, t2, s2);
	/* both open: the latest wins, and it is counted as ambiguous */
	CHECK(linker__parent_at(l, 1, 1, 2500, 0, t, s) && s[0] == 2 && t[0] == 2);
	linker__server_end(l, 1, 1, s2, 3000);
	CHECK(linker__parent_at(l, 1, 1, 3500, 0, t, s) && s[0] == 1);
	/* a lookup in the past still finds what was open then */
	CHECK(linker__parent_at(l, 1, 1, 2999, 0, t, s) && s[0] == 2);
	linker__server_end(l, 1, 1, s1, 4000);
	CHECK(!linker__parent_at(l, 1, 1, 4500, 0, t, s));
	CHECK(!linker__parent_at(l, 1, 2, 2500, 0, t, s));
	/* a CPython event loop: the one open request only, no guess among two */
	CHECK(linker__parent_if_one(l, 1, 1, 1500, t, s) && s[0] == 1);
	CHECK(!linker__parent_if_one(l, 1, 1, 2500, t, s));
	CHECK(linker__parent_if_one(l, 1, 1, 3500, t, s) && s[0] == 1);
	CHECK(!linker__parent_if_one(l, 1, 1, 4500, t, s));
	linker__stats(l, &st);
	CHECK_EQ_INT(st.unguessed, 1);
	CHECK_EQ_INT(st.threads, 1);
	CHECK(st.ambiguous >= 2);
	linker__expire(l, 5000);
	linker__stats(l, &st);
	CHECK_EQ_INT(st.threads, 0);
	linker__free(l);
}

/*
 * An event loop: several requests open on one thread. A call goes to the request whose read
 * woke the thread last before the call was decided: the request's own read, or the answer to
 * one of its calls; for a new connection, the wake-up before its connect. With no such read
 * (its request ended), the oldest request that has made no call; then the one whose own call
 * came back last; with no clue, the latest.
 */
TEST(linker_event_loop_choice)
{
	struct linker *l = linker__new();
	uint8_t tr[3][16] = {{1}, {2}, {3}}, sp[3][8] = {{1}, {2}, {3}}, t[16], s[8];
	int i;

	CHECK(l);
	if (!l)
		return;
	linker__server_begin(l, 1, 1, 1000, tr[0], sp[0]);
	CHECK(linker__parent_at(l, 1, 1, 1050, 0, t, s) && s[0] == 1);
	linker__server_begin(l, 1, 1, 1100, tr[1], sp[1]);
	CHECK(linker__parent_at(l, 1, 1, 1150, 0, t, s) && s[0] == 2);
	linker__server_begin(l, 1, 1, 1200, tr[2], sp[2]);
	CHECK(linker__parent_at(l, 1, 1, 1250, 0, t, s) && s[0] == 3 && t[0] == 3);
	/* written at 1300 on a connection opened at 1060, while request 1 was being handled */
	CHECK(linker__parent_at(l, 1, 1, 1300, 1060, t, s) && s[0] == 1);
	/* the second one's call came back: the thread's next call is for it */
	linker__child_end(l, 1, 1, sp[1], 1400);
	CHECK(linker__parent_at(l, 1, 1, 1450, 0, t, s) && s[0] == 2);
	linker__child_end(l, 1, 1, sp[0], 1500);
	CHECK(linker__parent_at(l, 1, 1, 1550, 0, t, s) && s[0] == 1);
	/* the waking request is over: the old rules decide among the open ones */
	linker__server_end(l, 1, 1, sp[0], 1560);
	CHECK(linker__parent_at(l, 1, 1, 1570, 0, t, s) && s[0] == 2);
	linker__free(l);

	/* no read at all on the thread before the call: the oldest without a call, the latest */
	l = linker__new();
	for (i = 0; i < 2; i++)
		linker__server_begin(l, 1, 1, 1000 + 100 * i, tr[i], sp[i]);
	CHECK(linker__parent_at(l, 1, 1, 1200, 900, t, s) && s[0] == 1);
	CHECK(linker__parent_at(l, 1, 1, 1210, 900, t, s) && s[0] == 2);
	CHECK(linker__parent_at(l, 1, 1, 1220, 900, t, s) && s[0] == 2);
	linker__free(l);

	/* many in flight on one thread: the table grows, none is forgotten */
	l = linker__new();
	for (i = 0; i < 100; i++) {
		uint8_t tri[16] = {(uint8_t)i, 7}, spi[8] = {(uint8_t)i, 7};

		linker__server_begin(l, 1, 1, 10000 + 10 * (uint64_t)i, tri, spi);
	}
	CHECK(linker__parent_at(l, 1, 1, 20000, 10005, t, s) && s[0] == 0 && s[1] == 7);
	CHECK(linker__parent_at(l, 1, 1, 20000, 10505, t, s) && s[0] == 50 && s[1] == 7);
	linker__free(l);
}

/*
 * A pipelining client on an event loop (Node's redis client writes every command of a turn at
 * once): the requests whose code ran since the connection's previous write, in the order of
 * the reads, are the write's commands' parents one to one; the answers read in one read woke
 * their requests in the order of the replies; requests that ended before the write issued
 * nothing in it. When the count does not match, or a read of the window is unnamed (an answer
 * to a call without a parent) or has left the ring, no command gets a parent. With one request
 * open on the thread, it is the parent, as for any call.
 */
/* Two requests of one read (HTTP/2 streams) open on an event loop's thread: no guess for an
 * HTTP/2 call. */
TEST(linker_requests_read_together_are_no_guess)
{
	struct linker *l = linker__new();
	uint8_t t1[16] = {1}, s1[8] = {51}, t2[16] = {2}, s2[8] = {52}, s3[8] = {53};
	uint8_t t[16], s[8];
	struct linker_stats st;

	CHECK(l);
	if (!l)
		return;
	linker__server_begin(l, 1, 1, 1000, t1, s1);
	linker__server_begin(l, 1, 1, 1000, t2, s2);
	CHECK(!linker__parent_apart(l, 1, 1, 1100, 0, t, s));
	/* an HTTP/1.x call keeps the event loop's choice */
	CHECK(linker__parent_at(l, 1, 1, 1100, 0, t, s));
	linker__server_end(l, 1, 1, s2, 1200);
	CHECK(linker__parent_at(l, 1, 1, 1300, 0, t, s) && s[0] == 51);
	linker__server_end(l, 1, 1, s1, 1400);
	/* a thread that went on to other work serves nothing it served before */
	linker__server_begin(l, 1, 1, 2000, t2, s3);
	linker__thread_done(l, 1, 1, 2100);
	CHECK(linker__parent_at(l, 1, 1, 2050, 0, t, s) && s[0] == 53);
	CHECK(!linker__parent_at(l, 1, 1, 2200, 0, t, s));
	linker__stats(l, &st);
	CHECK_EQ_INT(st.unguessed, 1);
	linker__free(l);
}

TEST(linker_batch_turns)
{
	struct linker *l = linker__new();
	uint8_t tr[4][16] = {{1}, {2}, {3}, {4}}, sp[4][8] = {{1}, {2}, {3}, {4}}, t[16], s[8];
	struct linker_stats st;
	int i;

	CHECK(l);
	if (!l)
		return;
	/* requests 1 and 2 read, their GETs go out together at 1300 */
	linker__server_begin(l, 1, 1, 1000, tr[0], sp[0]);
	linker__server_begin(l, 1, 1, 1100, tr[1], sp[1]);
	for (i = 0; i < 2; i++)
		CHECK(linker__parent_in_batch(l, 1, 1, 1300, 900, i, 2, t, s) && s[0] == i + 1 &&
		      t[0] == i + 1);
	/* one read answers both (2's reply first), request 3 is read, then one write of three:
	 * the turns ran 2, 1, 3 */
	linker__child_end(l, 1, 1, sp[1], 1400);
	linker__child_end(l, 1, 1, sp[0], 1400);
	linker__server_begin(l, 1, 1, 1450, tr[2], sp[2]);
	CHECK(linker__parent_in_batch(l, 1, 1, 1500, 1300, 0, 3, t, s) && s[0] == 2);
	CHECK(linker__parent_in_batch(l, 1, 1, 1500, 1300, 1, 3, t, s) && s[0] == 1);
	CHECK(linker__parent_in_batch(l, 1, 1, 1500, 1300, 2, 3, t, s) && s[0] == 3);
	/* request 1 answered and ended before the next write: 2 and 3 are its two commands */
	linker__child_end(l, 1, 1, sp[0], 1600);
	linker__child_end(l, 1, 1, sp[1], 1600);
	linker__child_end(l, 1, 1, sp[2], 1600);
	linker__server_end(l, 1, 1, sp[0], 1650);
	CHECK(linker__parent_in_batch(l, 1, 1, 1700, 1500, 0, 2, t, s) && s[0] == 2);
	CHECK(linker__parent_in_batch(l, 1, 1, 1700, 1500, 1, 2, t, s) && s[0] == 3);
	/* three commands for two turns: none is named */
	linker__child_end(l, 1, 1, sp[1], 1800);
	linker__child_end(l, 1, 1, sp[2], 1800);
	for (i = 0; i < 3; i++)
		CHECK(!linker__parent_in_batch(l, 1, 1, 1900, 1700, i, 3, t, s));
	/* one turn, three commands (Promise.all): all its own */
	linker__server_begin(l, 1, 1, 2000, tr[3], sp[3]);
	for (i = 0; i < 3; i++)
		CHECK(linker__parent_in_batch(l, 1, 1, 2100, 1900, i, 3, t, s) && s[0] == 4);
	/* an unnamed turn (a call without a parent came back) beside a named one: none */
	linker__unknown_end(l, 1, 1, 2200);
	linker__child_end(l, 1, 1, sp[3], 2200);
	for (i = 0; i < 2; i++)
		CHECK(!linker__parent_in_batch(l, 1, 1, 2300, 2100, i, 2, t, s));
	/* a request that had not started when the write went out is never its parent */
	linker__server_begin(l, 1, 1, 2500, tr[0], sp[0]);
	CHECK(!linker__parent_in_batch(l, 1, 1, 2400, 2300, 0, 1, t, s));
	/* another thread */
	CHECK(!linker__parent_in_batch(l, 1, 2, 2600, 2300, 0, 1, t, s));
	linker__stats(l, &st);
	CHECK_EQ_INT(st.batch_linked, 10);
	CHECK(st.batch_unsure >= 6);
	linker__free(l);

	/* reads of the window left the ring (a thread with few slots, many wakes): none */
	l = linker__new();
	linker__server_begin(l, 1, 1, 900, tr[1], sp[1]);
	linker__server_begin(l, 1, 1, 1000, tr[0], sp[0]);
	for (i = 0; i < 64; i++)
		linker__unknown_end(l, 1, 1, 1100 + (uint64_t)i);
	linker__child_end(l, 1, 1, sp[0], 1200);
	CHECK(!linker__parent_in_batch(l, 1, 1, 1300, 1050, 0, 1, t, s));
	CHECK(linker__parent_in_batch(l, 1, 1, 1300, 1199, 0, 1, t, s) && s[0] == 1);
	linker__free(l);

	/* a thread that serves one request at a time: its calls are that request's, whatever
	 * the connection's last write was (a pooled connection another thread wrote on) */
	l = linker__new();
	linker__server_begin(l, 1, 1, 1000, tr[0], sp[0]);
	CHECK(linker__parent_in_batch(l, 1, 1, 1300, 1200, 0, 3, t, s) && s[0] == 1);
	CHECK(linker__parent_in_batch(l, 1, 1, 1300, 1200, 2, 3, t, s) && s[0] == 1);
	linker__server_end(l, 1, 1, sp[0], 1400);
	CHECK(!linker__parent_in_batch(l, 1, 1, 1500, 1300, 0, 1, t, s));
	linker__free(l);
}

/*
 * Thread hand-off: a thread created while its creator serves a request takes that request on
 * for its first call, while the creator serves it; one created outside a request, or used after
 * the request ended, has none. The creator's later trace (joined late to its caller) is the
 * worker's too. A taken-on thread that calls again, or after the request, is a pool's made on
 * demand (it runs later requests' work too): its process takes no thread on any more.
 */
TEST(linker_thread_created)
{
	struct linker *l = linker__new();
	uint8_t t1[16] = {1}, s1[8] = {1}, t9[16] = {9}, s2[8] = {2}, t[16], s[8];
	struct linker_stats st;

	CHECK(l);
	if (!l)
		return;
	/* created by a thread that serves nothing: nothing to take on */
	linker__thread_created(l, 1, 10, 11, 500, true);
	CHECK(!linker__parent_at(l, 1, 11, 600, 0, t, s));
	linker__server_begin(l, 1, 10, 1000, t1, s1);
	linker__thread_created(l, 1, 10, 12, 1100, true);
	/* a thread the worker creates in turn */
	linker__thread_created(l, 1, 12, 13, 1150, true);
	CHECK(linker__parent_at(l, 1, 12, 1200, 0, t, s) && s[0] == 1 && t[0] == 1);
	CHECK(linker__parent_at(l, 1, 13, 1300, 0, t, s) && s[0] == 1);
	/* a CPython event loop's thread with two requests open takes no guess for its worker */
	linker__server_begin(l, 1, 30, 1000, t1, s1);
	linker__server_begin(l, 1, 30, 1010, t9, s2);
	linker__thread_created(l, 1, 30, 31, 1020, false);
	CHECK(!linker__parent_at(l, 1, 31, 1030, 0, t, s));
	/* the request joins its caller's trace late: a worker made before follows */
	linker__thread_created(l, 1, 10, 14, 1310, true);
	linker__server_retrace(l, 1, 10, s1, t9);
	CHECK(linker__parent_at(l, 1, 14, 1350, 0, t, s) && s[0] == 1 && t[0] == 9);
	/* another process's thread of the same number is someone else */
	linker__thread_created(l, 1, 10, 15, 1360, true);
	CHECK(!linker__parent_at(l, 2, 15, 1400, 0, t, s));
	linker__server_end(l, 1, 10, s1, 2000);
	/* a lookup for a call made before the end still finds it */
	CHECK(linker__parent_at(l, 1, 15, 1900, 0, t, s) && s[0] == 1);
	linker__stats(l, &st);
	CHECK_EQ_INT(st.threads_taken_on, 4);
	CHECK_EQ_INT(st.pools_found, 0);

	/* a pool's thread calls again: its process pools, so a thread taken on before lends
	 * nothing, and a new one is not taken on */
	linker__server_begin(l, 3, 10, 1000, t1, s1);
	linker__thread_created(l, 3, 10, 12, 1100, true);
	linker__thread_created(l, 3, 10, 13, 1110, true);
	CHECK(linker__parent_at(l, 3, 12, 1200, 0, t, s) && s[0] == 1);
	CHECK(!linker__parent_at(l, 3, 12, 1210, 0, t, s));
	CHECK(!linker__parent_at(l, 3, 13, 1220, 0, t, s));
	linker__thread_created(l, 3, 10, 14, 1230, true);
	CHECK(!linker__parent_at(l, 3, 14, 1240, 0, t, s));
	/* one calls after its creator's request ended: the same */
	linker__server_begin(l, 4, 10, 1000, t1, s1);
	linker__thread_created(l, 4, 10, 12, 1100, true);
	linker__server_end(l, 4, 10, s1, 1500);
	CHECK(!linker__parent_at(l, 4, 12, 1600, 0, t, s));
	linker__server_begin(l, 4, 10, 1700, t1, s2);
	linker__thread_created(l, 4, 10, 13, 1800, true);
	CHECK(!linker__parent_at(l, 4, 13, 1900, 0, t, s));
	/* the worker's own request, later, is its own, for every call */
	linker__server_begin(l, 4, 12, 3000, t1, s2);
	CHECK(linker__parent_at(l, 4, 12, 3100, 0, t, s) && s[0] == 2);
	CHECK(linker__parent_at(l, 4, 12, 3200, 0, t, s) && s[0] == 2);
	linker__stats(l, &st);
	CHECK_EQ_INT(st.threads_taken_on, 7);
	CHECK_EQ_INT(st.pools_found, 2);
	/* the other processes are not touched */
	linker__server_begin(l, 1, 40, 5000, t1, s1);
	linker__thread_created(l, 1, 40, 41, 5100, true);
	CHECK(linker__parent_at(l, 1, 41, 5200, 0, t, s) && s[0] == 1);
	/* the creator's table forgets the request (its slot reused by later ones, the request
	 * still open as far as the worker's copy goes): the worker's copy is not open any more */
	linker__server_begin(l, 1, 20, 4000, t1, s1);
	linker__thread_created(l, 1, 20, 21, 4100, true);
	linker__thread_created(l, 1, 20, 22, 4110, true);
	CHECK(linker__parent_at(l, 1, 22, 4150, 0, t, s) && s[0] == 1);
	for (int i = 0; i < 8; i++) {
		uint8_t si[8] = {(uint8_t)(100 + i)};

		linker__server_end(l, 1, 20, i ? (uint8_t[8]){(uint8_t)(99 + i)} : s1,
				   4200 + 100 * (uint64_t)i);
		linker__server_begin(l, 1, 20, 4250 + 100 * (uint64_t)i, t1, si);
	}
	CHECK(!linker__parent_at(l, 1, 21, 4160, 0, t, s));
	linker__free(l);
}

/*
 * TCP-option propagation: the kernel decides ids and the records carry them. A server read
 * whose first byte came with a sonde option (SERVER: its ids, its caller's span as parent); the
 * Redis call its thread makes (INJECTED: the ids on the wire name the client span, its parent
 * is the request); on another host's Redis server, the command read with the option (PEER: the
 * client span is the parent). A later command of the connection without ids gets its own.
 */
TEST(tcp_option_ids_name_db_and_http_spans)
{
	struct end srv, cli, rsrv;
	const struct span *h, *c1 = NULL, *c2 = NULL, *rs;
	uint8_t trace[16] = {7, 7}, server_span[8] = {1, 1}, caller[8] = {9, 9},
		call[8] = {2, 2};
	int i;

	setup(PROPAGATION_LINK | PROPAGATION_TCP);
	cfg.db_server_spans = true;
	open_end_role(&srv, 1, 8000, 40000, SONDE_ROLE_SERVER);
	next_ctx.kind = SONDE_CTX_SERVER;
	memcpy(next_ctx.trace_id, trace, 16);
	memcpy(next_ctx.span_id, server_span, 8);
	memcpy(next_ctx.parent_id, caller, 8);
	io(&srv, IN, 1000, 10, REQ("/a"));

	open_end_role(&cli, 2, 40001, 6379, SONDE_ROLE_CLIENT);
	next_ctx.kind = SONDE_CTX_INJECTED;
	memcpy(next_ctx.trace_id, trace, 16);
	memcpy(next_ctx.span_id, call, 8);
	io(&cli, OUT, 1100, 10, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	/* the other host's Redis server (no tuple link: its peer port is another) */
	open_end_role(&rsrv, 3, 6379, 50000, SONDE_ROLE_SERVER);
	next_ctx.kind = SONDE_CTX_PEER;
	memcpy(next_ctx.trace_id, trace, 16);
	memcpy(next_ctx.parent_id, call, 8);
	io(&rsrv, IN, 1150, 20, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	io(&rsrv, OUT, 1160, 20, "$1\r\nv\r\n");
	io(&cli, IN, 1200, 10, "$1\r\nv\r\n");
	io(&cli, OUT, 1300, 10, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	io(&cli, IN, 1400, 10, "$1\r\nv\r\n");
	io(&srv, OUT, 1500, 10, RESP);
	on_close_of(&cli, 1600);
	on_close_of(&rsrv, 1600);
	on_close_of(&srv, 1600);
	settle();

	h = by_name("GET /a", SPAN_KIND_SERVER);
	rs = by_name("GET", SPAN_KIND_SERVER);
	for (i = 0; i < n_spans && i < MAX_SPANS; i++)
		if (spans[i].kind == SPAN_KIND_CLIENT && !strcmp(spans[i].name, "GET")) {
			if (!c1)
				c1 = &spans[i];
			else
				c2 = &spans[i];
		}
	CHECK(h && c1 && c2 && rs);
	if (h && c1 && c2 && rs) {
		CHECK(!memcmp(h->trace_id, trace, 16) && !memcmp(h->span_id, server_span, 8) &&
		      !memcmp(h->parent_span_id, caller, 8));
		CHECK(!memcmp(c1->span_id, call, 8) && child_of(c1, h));
		CHECK(!memcmp(rs->trace_id, trace, 16) && !memcmp(rs->parent_span_id, call, 8));
		CHECK(memcmp(c2->span_id, call, 8) && child_of(c2, h));
	}
	teardown();
}

int main(void)
{
	RUN(thread_serving_request_parents_its_call);
	RUN(other_thread_or_after_response_is_not_child);
	RUN(chain_through_connections_and_threads);
	RUN(connection_link_pairs_requests_in_order);
	RUN(server_record_before_client_record);
	RUN(server_done_before_client_record);
	RUN(summarized_responses_keep_alive);
	RUN(summarized_response_note_ends_serving);
	RUN(summarized_response_idle);
	RUN(summarized_response_pipelined);
	RUN(link_off_and_wire_context);
	RUN(linker_intervals);
	RUN(linker_event_loop_choice);
	RUN(linker_requests_read_together_are_no_guess);
	RUN(linker_batch_turns);
	RUN(linker_thread_created);
	RUN(tcp_option_ids_name_db_and_http_spans);
	UNIT_DONE();
}
