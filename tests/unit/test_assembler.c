// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The span assembler, fed records as the kernel side writes them (runs, offsets, capture caps),
 * without a kernel: keep-alive, pipelining, split heads, bodies past the capture, chunked,
 * 100-continue, HEAD/204/304, close mid-request, garbage, trace context, idle keep-alive ends.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assembler.h"
#include "decoders/tracecontext.h"
#include "self_conns.h"
#include "unit.h"

#define MAX_SPANS 64

static struct span spans[MAX_SPANS];
static int n_spans;
static struct sonde_config cfg;
static struct process_table *procs;
static struct assembler *a;
static uint32_t run_seq[2];	     /* per test connection: current run */
static uint16_t run_dir;
static uint64_t run_first, run_last, run_bytes;
static struct sonde_conn_state fake_state;
static uint64_t ignored_keys[8];
static int n_ignored;

static void collect(void *ctx, const struct span *s)
{
	if (n_spans < MAX_SPANS)
		spans[n_spans] = *s;
	n_spans++;
}

static int state_fn(void *ctx, uint64_t key, struct sonde_conn_state *out)
{
	*out = fake_state;
	return 0;
}

static void ignore_fn(void *ctx, uint64_t key, uint64_t conn_id)
{
	if (n_ignored < 8)
		ignored_keys[n_ignored] = key;
	n_ignored++;
}

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.idle_close_ms = 500;
	procs = process_table__new(&cfg);
	a = assembler__new(&cfg, procs, collect, NULL, state_fn, NULL);
	assembler__set_ignore(a, ignore_fn, NULL);
	n_ignored = 0;
	n_spans = 0;
	run_dir = 0;
	run_seq[0] = 0;
	run_first = run_last = run_bytes = 0;
}

static void teardown(void)
{
	assembler__free(a);
	process_table__free(procs);
}

static void open_conn_ports(uint64_t id, uint16_t sport, uint16_t dport)
{
	struct sonde_open_event ev = {};

	/* a new connection starts its own runs */
	run_dir = 0;
	run_seq[0] = 0;
	run_first = run_last = run_bytes = 0;
	ev.head.conn_id = id;
	ev.head.kind = SONDE_EV_OPEN;
	ev.head.tgid = getpid();
	ev.sock_key = 0x1000 + id;
	ev.family = 2;
	ev.saddr[0] = 127, ev.saddr[3] = 1;
	ev.daddr[0] = 127, ev.daddr[3] = 2;
	ev.sport = sport;
	ev.dport = dport;
	assembler__on_record(a, &ev, sizeof(ev));
}

static void open_conn(uint64_t id)
{
	open_conn_ports(id, 8080, 40000);
}

/*
 * One I/O of io_bytes on connection id, of which the first cap bytes of data were captured;
 * runs are tracked as the kernel does (a direction change starts one and reports the last).
 */
static struct sonde_data_event last_io; /* the record io() built last */
static bool io_capture_only;		/* io() builds its record without handing it on */

static void io(uint64_t id, uint16_t dir, uint64_t ts, const char *data, size_t cap,
	       size_t io_bytes)
{
	struct sonde_data_event ev;

	memset(&ev, 0, offsetof(struct sonde_data_event, payload));
	ev.head.conn_id = id;
	ev.head.kind = SONDE_EV_DATA;
	ev.head.tgid = getpid();
	ev.head.tid = 7;
	ev.head.ts_ns = ts;
	ev.head.dir = dir;
	if (dir != run_dir) {
		ev.prev.first_ts_ns = run_first;
		ev.prev.last_ts_ns = run_last;
		ev.prev.bytes = run_bytes;
		ev.prev.seq = run_seq[0];
		ev.prev.dir = run_dir;
		run_seq[0]++;
		run_dir = dir;
		run_first = ts;
		run_bytes = 0;
	}
	ev.run_offset = run_bytes;
	ev.run_seq = run_seq[0];
	ev.io_bytes = io_bytes;
	ev.cap_len = cap;
	memcpy(ev.payload, data, cap);
	run_bytes += io_bytes;
	run_last = ts;
	last_io = ev;
	if (!io_capture_only)
		assembler__on_record(a, &ev, offsetof(struct sonde_data_event, payload) + cap);
}

/* A context-line entry (struct sonde_ctx_line, then its bytes) at b + *o. */
static void entry(uint8_t *b, size_t *o, uint16_t off, const char *line)
{
	size_t n = strlen(line);

	b[*o] = off & 0xff;
	b[*o + 1] = off >> 8;
	b[*o + 2] = (uint8_t)n;
	memcpy(b + *o + 3, line, n);
	*o += 3 + n;
}

/* As io(), with the entries a head search found (elen bytes) and its flags. */
static void io_found(uint64_t id, uint16_t dir, uint64_t ts, const char *data, size_t cap,
		     size_t io_bytes, const uint8_t *entries, size_t elen, uint8_t flags)
{
	static uint8_t rec[offsetof(struct sonde_data_event, payload) + 2048];
	struct sonde_data_event *ev = (struct sonde_data_event *)rec;

	/* the record io() builds, then the entries after its payload */
	io_capture_only = true;
	io(id, dir, ts, data, cap, io_bytes);
	io_capture_only = false;
	memcpy(rec, &last_io, offsetof(struct sonde_data_event, payload) + cap);
	memcpy(ev->payload + cap, entries, elen);
	ev->ctx_len = (uint16_t)elen;
	ev->head_scan = flags;
	assembler__on_record(a, rec, offsetof(struct sonde_data_event, payload) + cap + elen);
}

/* An I/O captured whole. */
static void io_str(uint64_t id, uint16_t dir, uint64_t ts, const char *s)
{
	io(id, dir, ts, s, strlen(s), strlen(s));
}

/* An I/O that moved bytes without a capture (past the run's capture budget). */
static void io_uncaptured(uint64_t id, uint16_t dir, uint64_t ts, size_t bytes)
{
	uint32_t seq = run_seq[0];

	if (dir != run_dir) {
		/* a new run always captures its first I/O: not what this helper is for */
		CHECK(0);
		return;
	}
	(void)seq;
	run_bytes += bytes;
	run_last = ts;
}

static void close_conn(uint64_t id, uint64_t ts)
{
	struct sonde_close_event ev = {};

	ev.head.conn_id = id;
	ev.head.kind = SONDE_EV_CLOSE;
	ev.head.ts_ns = ts;
	ev.head.dir = run_dir;
	ev.last.first_ts_ns = run_first;
	ev.last.last_ts_ns = run_last;
	ev.last.bytes = run_bytes;
	ev.last.seq = run_seq[0];
	ev.last.dir = run_dir;
	assembler__on_record(a, &ev, sizeof(ev));
}

static int64_t attr_int(const struct span *s, const char *key)
{
	const struct span_attr *at = span__find_attr(s, key);

	return at ? at->i : -1;
}

static const char *attr_str(const struct span *s, const char *key)
{
	static char buf[512];
	const struct span_attr *at = span__find_attr(s, key);

	if (!at)
		return "";
	snprintf(buf, sizeof(buf), "%.*s", at->len, span__attr_str(s, at));
	return buf;
}

static uint64_t dur(const struct span *s)
{
	return s->end_unix_ns - s->start_unix_ns;
}

#define IN SONDE_DIR_INGRESS
#define OUT SONDE_DIR_EGRESS

TEST(keep_alive_server)
{
	setup();
	open_conn(1);
	io_str(1, IN, 1000, "GET /api/users/42?token=s3cret HTTP/1.1\r\nHost: shop:8080\r\n"
			    "User-Agent: curl/7.88.1\r\n\r\n");
	io_str(1, OUT, 3000, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	CHECK_EQ_INT(n_spans, 1);
	io_str(1, IN, 10000, "GET /health HTTP/1.1\r\nHost: shop\r\n\r\n");
	io_str(1, OUT, 10500, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 2);
	CHECK_STR(spans[0].name, "GET /api/users/{id}");
	CHECK_EQ_INT(spans[0].kind, SPAN_KIND_SERVER);
	CHECK_EQ_INT(dur(&spans[0]), 2000);
	CHECK_STR(attr_str(&spans[0], "url.path"), "/api/users/42");
	CHECK_STR(attr_str(&spans[0], "url.query"), ""); /* not exported by default */
	CHECK_STR(attr_str(&spans[0], "server.address"), "shop");
	CHECK_EQ_INT(attr_int(&spans[0], "server.port"), 8080);
	CHECK_STR(attr_str(&spans[0], "client.address"), "127.0.0.2");
	CHECK_EQ_INT(attr_int(&spans[0], "network.peer.port"), 40000);
	CHECK_STR(attr_str(&spans[0], "user_agent.original"), "curl/7.88.1");
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 200);
	CHECK_EQ_INT(spans[0].status, SPAN_STATUS_UNSET);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 503);
	CHECK_EQ_INT(spans[1].status, SPAN_STATUS_ERROR);
	/* body sizes: no request body, so no request size; the responses' from their heads */
	CHECK_EQ_INT(attr_int(&spans[0], "http.request.body.size"), -1);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 5);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.body.size"), 0);
	CHECK_EQ_INT(dur(&spans[1]), 500);
	CHECK(memcmp(spans[0].trace_id, spans[1].trace_id, 16) != 0);
	CHECK(spans[0].res != NULL);
	teardown();
}

TEST(client_side_and_4xx_error)
{
	setup();
	open_conn(2);
	io_str(2, OUT, 100, "GET /missing HTTP/1.1\r\nHost: api.local\r\n\r\n");
	io_str(2, IN, 900, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnope");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(spans[0].kind, SPAN_KIND_CLIENT);
	CHECK_EQ_INT(spans[0].status, SPAN_STATUS_ERROR);
	CHECK_STR(attr_str(&spans[0], "url.full"), "http://api.local/missing");
	CHECK_STR(attr_str(&spans[0], "server.address"), "api.local");
	CHECK_EQ_INT(attr_int(&spans[0], "server.port"), 40000);
	teardown();
}

TEST(client_url_full_from_host_or_peer_with_query)
{
	char longpath[200];

	setup();
	cfg.export_query = true;
	open_conn(3);
	io_str(3, OUT, 100, "GET /a/b?x=1 HTTP/1.1\r\n\r\n");
	io_str(3, IN, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	io_str(3, OUT, 300, "GET /c?y=2&z HTTP/1.1\r\nHost: api.local:8443\r\n\r\n");
	io_str(3, IN, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* A route longer than the span name's room: the name is cut, not overrun. */
	memset(longpath, 'p', sizeof(longpath));
	longpath[0] = '/';
	io(3, OUT, 500, "GET ", 4, 4);
	io(3, OUT, 501, longpath, sizeof(longpath), sizeof(longpath));
	io_str(3, OUT, 502, " HTTP/1.1\r\nHost: h\r\n\r\n");
	io_str(3, IN, 600, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 3);
	CHECK_STR(attr_str(&spans[0], "url.full"), "http://127.0.0.2/a/b?x=1");
	CHECK_STR(attr_str(&spans[0], "server.address"), "127.0.0.2");
	CHECK_STR(attr_str(&spans[0], "network.peer.address"), "127.0.0.2");
	CHECK_STR(spans[0].name, "GET /a/b");
	CHECK_STR(attr_str(&spans[1], "url.full"), "http://api.local:8443/c?y=2&z");
	CHECK_STR(attr_str(&spans[1], "server.address"), "api.local");
	CHECK_EQ_INT(attr_int(&spans[1], "server.port"), 8443);
	CHECK_EQ_INT(strlen(spans[2].name), sizeof(spans[2].name) - 1);
	CHECK(!strncmp(spans[2].name, "GET /ppp", 8));
	teardown();
}

TEST(pipelined_in_one_io)
{
	setup();
	open_conn(3);
	io_str(3, IN, 100,
	       "GET /a/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
	       "\r\nabcGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(3, OUT, 200,
	       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\nContent-Length: 0\r\n"
	       "\r\nHTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\n!");
	CHECK_EQ_INT(n_spans, 3);
	CHECK_STR(spans[0].name, "GET /a/{id}");
	CHECK_STR(spans[1].name, "POST /b");
	CHECK_STR(spans[2].name, "GET /c");
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 200);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 201);
	CHECK_EQ_INT(attr_int(&spans[2], "http.response.status_code"), 500);
	teardown();
}

TEST(pipelined_responses_in_separate_ios)
{
	setup();
	open_conn(4);
	io_str(4, IN, 100, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(4, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	io_str(4, OUT, 300, "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 2);
	CHECK_EQ_INT(dur(&spans[0]), 100);
	CHECK_EQ_INT(dur(&spans[1]), 200);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 404);
	teardown();
}

TEST(head_split_across_ios)
{
	setup();
	open_conn(5);
	io_str(5, IN, 1000, "GET /spl");
	io_str(5, IN, 2000, "it HTTP/1.1\r\nHo");
	io_str(5, IN, 3000, "st: a\r\n\r\n");
	io_str(5, OUT, 4000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_STR(spans[0].name, "GET /split");
	CHECK_EQ_INT(dur(&spans[0]), 3000); /* from the first request byte */
	teardown();
}

TEST(body_beyond_capture_ends_with_run)
{
	char head[256];

	setup();
	open_conn(6);
	io_str(6, IN, 100, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
	/* the head and 200 body bytes captured out of a 65536-byte write */
	io(6, OUT, 200, head, strlen(head), 65536);
	io_uncaptured(6, OUT, 300, 65536);
	io_uncaptured(6, OUT, 900, 1000000 + strlen(head) - 2 * 65536);
	CHECK_EQ_INT(n_spans, 0);
	/* the next request tells where the response run ended */
	io_str(6, IN, 5000, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(dur(&spans[0]), 800);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 1000000);
	teardown();
}

TEST(body_within_truncated_io)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";

	setup();
	open_conn(7);
	io_str(7, IN, 100, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
	io(7, OUT, 250, head, strlen(head), strlen(head) + 3000);
	CHECK_EQ_INT(n_spans, 1); /* the whole body went in that I/O */
	CHECK_EQ_INT(dur(&spans[0]), 150);
	teardown();
}

TEST(chunked_response_split)
{
	setup();
	open_conn(8);
	io_str(8, IN, 100, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(8, OUT, 200, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	io_str(8, OUT, 300, "lo\r\n3\r\nabc\r\n");
	CHECK_EQ_INT(n_spans, 0);
	io_str(8, OUT, 400, "0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(dur(&spans[0]), 300);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 8); /* the chunks' data */
	teardown();
}

TEST(expect_100_continue)
{
	setup();
	open_conn(9);
	io_str(9, IN, 100, "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
			   "Content-Length: 10\r\n\r\n");
	io_str(9, OUT, 200, "HTTP/1.1 100 Continue\r\n\r\n");
	io_str(9, IN, 300, "0123456789");
	io_str(9, OUT, 400, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_STR(spans[0].name, "POST /upload");
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 201);
	CHECK_EQ_INT(dur(&spans[0]), 300);
	CHECK_EQ_INT(attr_int(&spans[0], "http.request.body.size"), 10);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 0);
	teardown();
}

TEST(head_204_304_without_bodies)
{
	setup();
	open_conn(10);
	io_str(10, IN, 100, "HEAD /f HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(10, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
	io_str(10, IN, 300, "GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(10, OUT, 400, "HTTP/1.1 204 No Content\r\n\r\n");
	io_str(10, IN, 500, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(10, OUT, 600, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
	CHECK_EQ_INT(n_spans, 3);
	CHECK_STR(spans[0].name, "HEAD /f");
	CHECK_EQ_INT(dur(&spans[0]), 100);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 204);
	CHECK_EQ_INT(attr_int(&spans[2], "http.response.status_code"), 304);
	/* no body whatever Content-Length says */
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 0);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.body.size"), 0);
	CHECK_EQ_INT(attr_int(&spans[2], "http.response.body.size"), 0);
	teardown();
}

TEST(closed_mid_request)
{
	setup();
	open_conn(11);
	io_str(11, IN, 100, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
	close_conn(11, 5000);
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(spans[0].status, SPAN_STATUS_ERROR);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), -1);
	CHECK_STR(attr_str(&spans[0], "error.type"), "connection_closed");
	CHECK_EQ_INT(dur(&spans[0]), 4900);
	teardown();
}

TEST(close_delimited_response)
{
	setup();
	open_conn(12);
	io_str(12, OUT, 100, "GET /old HTTP/1.0\r\nHost: x\r\n\r\n");
	io_str(12, IN, 200, "HTTP/1.0 200 OK\r\n\r\nbody until close");
	io_str(12, IN, 700, "more body");
	CHECK_EQ_INT(n_spans, 0);
	close_conn(12, 900);
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(dur(&spans[0]), 600);
	CHECK_EQ_INT(spans[0].status, SPAN_STATUS_UNSET);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), -1); /* not followed */
	teardown();
}

/* A chunked request's size is its chunks' data, known once they end; a head cut by the
 * capture leaves its size unknown (its Content-Length may be in the part cut). */
TEST(chunked_request_and_cut_head_sizes)
{
	char head[SONDE_PAYLOAD_MAX + 64];
	int n;

	setup();
	open_conn(13);
	io_str(13, IN, 100, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "4\r\nabcd\r\n");
	io_str(13, IN, 200, "11\r\n0123456789abcdefg\r\n0\r\n\r\n");
	io_str(13, OUT, 300, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(attr_int(&spans[0], "http.request.body.size"), 4 + 17);
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.body.size"), 2);
	/* a response head longer than the capture: cut */
	io_str(13, IN, 400, "GET /long HTTP/1.1\r\nHost: x\r\n\r\n");
	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nX-Pad: %0*d\r\n", SONDE_PAYLOAD_MAX,
		     0);
	io(13, OUT, 500, head, SONDE_PAYLOAD_MAX, (size_t)n + 40);
	close_conn(13, 900);
	CHECK_EQ_INT(n_spans, 2);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 200);
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.body.size"), -1);
	teardown();
}

TEST(garbage_is_ignored)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage";
	struct assembler_stats st;

	setup();
	open_conn(13);
	io(13, IN, 100, tls, sizeof(tls) - 1, sizeof(tls) - 1);
	io_str(13, OUT, 200, "HTTP/1.1 200 OK\r\n\r\n");
	io_str(13, IN, 300, "GET / HTTP/1.1\r\n\r\n");
	close_conn(13, 400);
	CHECK_EQ_INT(n_spans, 0);
	assembler__stats(a, &st);
	CHECK_EQ_INT(st.conns_not_http, 1);
	/* the kernel is told once to stop recording it */
	CHECK_EQ_INT(n_ignored, 1);
	CHECK_EQ_INT(ignored_keys[0], 0x1000 + 13);
	/* a response where a request head was expected: not a span either */
	open_conn(14);
	io_str(14, IN, 100, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	io_str(14, OUT, 200, "\x01\x02not http at all\r\n\r\n");
	close_conn(14, 300);
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(spans[0].status, SPAN_STATUS_ERROR); /* the request never got a response */
	CHECK_EQ_INT(n_ignored, 1); /* an HTTP connection with a bad response is not given up */
	teardown();
}

/* As io(), an I/O the kernel walked frame by frame (H2_FRAMES), all its bytes in the record:
 * left is what the I/O's first bytes were of a payload under way (24 for the preface). */
static void io_walked(uint64_t id, uint16_t dir, uint64_t ts, const char *data, size_t n,
		      uint32_t left)
{
	static uint8_t rec[offsetof(struct sonde_data_event, payload) + 512];
	struct sonde_data_event *ev = (struct sonde_data_event *)rec;

	io_capture_only = true;
	io(id, dir, ts, data, n, n);
	io_capture_only = false;
	memcpy(rec, &last_io, offsetof(struct sonde_data_event, payload) + n);
	ev->walk_flags = SONDE_WALK_ON;
	ev->walk_left = left;
	assembler__on_record(a, rec, offsetof(struct sonde_data_event, payload) + n);
}

/*
 * curl --http2 to a clear-text server: an HTTP/1.1 request that asks for h2c, a 101, then
 * HTTP/2 from the client preface on (its first request answered on stream 1). The upgrade
 * request is a span whose answer is the 101; the connection is not let go but detected again,
 * and the next stream is an HTTP/2 span. A WebSocket upgrade is let go, as before.
 */
TEST(h2c_upgrade_is_decoded_as_http2_from_the_preface)
{
	/* the preface, an empty SETTINGS, then stream 3: GET http / (:authority x) */
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
				      "\x00\x00\x06\x01\x05\x00\x00\x00\x03"
				      "\x82\x86\x84\x01\x01x";
	/* SETTINGS ACK; stream 1's answer (:status 200, the upgrade request's); stream 3's */
	static const char answers[] = "\x00\x00\x00\x04\x01\x00\x00\x00\x00"
				      "\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88"
				      "\x00\x00\x01\x01\x05\x00\x00\x00\x03\x88";
	struct assembler_stats st;

	setup();
	open_conn(40);
	io_str(40, IN, 1000, "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
	io_str(40, OUT, 2000, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			      "Upgrade: h2c\r\n\r\n");
	/* the server's SETTINGS, in the 101's run: not walked, passed over */
	io(40, OUT, 2100, "\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9, 9);
	io_walked(40, IN, 3000, preface, sizeof(preface) - 1, 24);
	io_walked(40, OUT, 4000, answers, sizeof(answers) - 1, 0);
	CHECK_EQ_INT(n_spans, 2);
	CHECK_STR(spans[0].name, "GET /up");
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 101);
	CHECK_STR(attr_str(&spans[0], "network.protocol.version"), "1.1");
	CHECK_STR(attr_str(&spans[1], "url.path"), "/");
	CHECK_EQ_INT(attr_int(&spans[1], "http.response.status_code"), 200);
	CHECK_STR(attr_str(&spans[1], "network.protocol.version"), "2");
	CHECK_EQ_INT(spans[1].kind, SPAN_KIND_SERVER);
	CHECK_EQ_INT(n_ignored, 0);
	assembler__stats(a, &st);
	CHECK_EQ_INT(st.conns_upgraded, 1);
	CHECK_EQ_INT(st.conns_not_http, 0);
	/* WebSocket: the 101 ends the span, and the connection is let go */
	open_conn(41);
	io_str(41, IN, 5000, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
			     "Upgrade: websocket\r\n\r\n");
	io_str(41, OUT, 6000, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			      "Upgrade: websocket\r\n\r\n");
	io(41, IN, 7000, "\x81\x85" "abcdhello", 11, 11);
	CHECK_EQ_INT(n_spans, 3);
	CHECK_EQ_INT(n_ignored, 1);
	assembler__stats(a, &st);
	CHECK_EQ_INT(st.conns_upgraded, 1);
	CHECK_EQ_INT(st.conns_not_http, 0);
	teardown();
}

TEST(traceparent_honoured_and_invalid_ignored)
{
	struct trace_context ctx;

	setup();
	open_conn(15);
	io_str(15, IN, 100, "GET / HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
	io_str(15, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	io_str(15, IN, 300, "GET / HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n\r\n");
	io_str(15, OUT, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	io_str(15, IN, 500, "GET / HTTP/1.1\r\nHost: x\r\nb3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n\r\n");
	io_str(15, OUT, 600, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 3);
	CHECK(tracecontext_parse_traceparent(
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, &ctx));
	CHECK(!memcmp(spans[0].trace_id, ctx.trace_id, 16));
	CHECK(!memcmp(spans[0].parent_span_id, ctx.span_id, 8));
	CHECK(memcmp(spans[0].span_id, ctx.span_id, 8) != 0);
	CHECK(span__id_is_zero(spans[1].parent_span_id, 8)); /* all-zero trace id: ignored */
	CHECK(tracecontext_parse_b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", 51, &ctx));
	CHECK(!memcmp(spans[2].trace_id, ctx.trace_id, 16));
	CHECK(!memcmp(spans[2].parent_span_id, ctx.span_id, 8));
	teardown();
}

TEST(sampling_keeps_whole_traces_by_id)
{
	struct assembler_stats st;
	struct trace_context ctx;

	setup();
	cfg.sample_threshold = 1ULL << 55; /* --sample-ratio 0.5 */
	open_conn(16);
	/* Trace id bytes 9..15 start with 0xce: at or above 2^55, kept. */
	io_str(16, IN, 100, "GET /a HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
	io_str(16, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* ... with 0x4e: below it, dropped, though its caller sampled it (flags 01). */
	io_str(16, IN, 300, "GET /b HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-4bf92f3577b34da6a34e929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
	io_str(16, OUT, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* ... 0x80 and the rest zero: exactly 2^55, kept; its caller did not sample it (00). */
	io_str(16, IN, 500, "GET /c HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-4bf92f3577b34da6a380000000000000-00f067aa0ba902b7-00\r\n\r\n");
	io_str(16, OUT, 600, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* ... dropped, and closed before its response: counted as incomplete all the same. */
	io_str(16, IN, 700, "GET /d HTTP/1.1\r\nHost: x\r\n"
			    "traceparent: 00-4bf92f3577b34da6a37fffffffffffff-00f067aa0ba902b7-01\r\n\r\n");
	close_conn(16, 800);
	CHECK_EQ_INT(n_spans, 2);
	CHECK_STR(attr_str(&spans[0], "url.path"), "/a");
	CHECK_STR(attr_str(&spans[1], "url.path"), "/c");
	CHECK(tracecontext_parse_traceparent(
		"00-4bf92f3577b34da6a380000000000000-00f067aa0ba902b7-00", 55, &ctx));
	CHECK(!memcmp(spans[1].trace_id, ctx.trace_id, 16));
	assembler__stats(a, &st);
	CHECK_EQ_INT(st.spans, 4);
	CHECK_EQ_INT(st.spans_unsampled, 2);
	CHECK_EQ_INT(st.spans_incomplete, 1);
	teardown();
}

TEST(idle_keep_alive_ends_from_kernel_state)
{
	const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

	setup();
	open_conn(16);
	io_str(16, IN, 100, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
	/* chunked body past the capture: its end is unknown from the bytes */
	io(16, OUT, 200, head, strlen(head), strlen(head) + 20000);
	io_uncaptured(16, OUT, 700, 5000);
	CHECK_EQ_INT(n_spans, 0);
	memset(&fake_state, 0, sizeof(fake_state));
	fake_state.conn_id = 16;
	fake_state.run_seq = run_seq[0];
	fake_state.run_dir = OUT;
	fake_state.run_last_ts = 700;
	assembler__tick(a, 700 + 100 * 1000000ULL); /* 100 ms idle: not yet */
	CHECK_EQ_INT(n_spans, 0);
	assembler__tick(a, 700 + 600 * 1000000ULL);
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(dur(&spans[0]), 600);
	teardown();
}

TEST(service_names_from_cmdlines)
{
	char out[64];

	service_name_from_cmdline("python3\0app.py\0", 15, out, sizeof(out));
	CHECK_STR(out, "app");
	service_name_from_cmdline("/usr/bin/python3.11\0-u\0/srv/shop/api.py\0--port\0" "80\0", 49,
				  out, sizeof(out));
	CHECK_STR(out, "api");
	service_name_from_cmdline("node\0server.js\0", 15, out, sizeof(out));
	CHECK_STR(out, "server");
	service_name_from_cmdline("java\0-Xmx1g\0-jar\0/opt/shop.jar\0", 31, out, sizeof(out));
	CHECK_STR(out, "shop");
	service_name_from_cmdline("nginx: worker process", 21, out, sizeof(out));
	CHECK_STR(out, "nginx");
	service_name_from_cmdline("/usr/bin/curl\0-s\0http://x/\0", 27, out, sizeof(out));
	CHECK_STR(out, "curl");
	service_name_from_cmdline("python3\0-m\0http.server\0", 23, out, sizeof(out));
	CHECK_STR(out, "http.server");
	/* program text on the command line is no name */
	service_name_from_cmdline("/usr/bin/python3.11\0-c\0\nimport socket\0", 38, out, sizeof(out));
	CHECK_STR(out, "python3.11");
	service_name_from_cmdline("node\0-e\0require('http')\0app.js\0", 31, out, sizeof(out));
	CHECK_STR(out, "node");
	CHECK_EQ_INT(service_name_from_cmdline("", 0, out, sizeof(out)), 0);
}

#define TP_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_SPAN "00f067aa0ba902b7"
#define TP_LINE "traceparent: 00-" TP_TRACE "-" TP_SPAN "-01\r\n"

/* Whether span k is in the trace TP_LINE names, under its span. */
static bool in_tp_trace(int k)
{
	struct trace_context ctx;

	return tracecontext_parse_traceparent("00-" TP_TRACE "-" TP_SPAN "-01", 55, &ctx) &&
	       !memcmp(spans[k].trace_id, ctx.trace_id, 16) &&
	       !memcmp(spans[k].parent_span_id, ctx.span_id, 8);
}

TEST(context_found_past_the_capture_is_joined)
{
	static const char head[] = "GET /big HTTP/1.1\r\nHost: x\r\nCookie: c=aaaaaaaaaaaaaaaaaaaa";
	uint8_t e[512];
	size_t o = 0;

	setup();
	open_conn(40);
	/* one I/O of 3000 bytes, 64 captured; the search found the line at 2900 and the end */
	entry(e, &o, 2900, TP_LINE "Accept: */*\r\n");
	entry(e, &o, 2990, "tracestate: a=b"); /* cut by the copy's end, not the I/O's: dropped */
	io_found(40, IN, 100, head, strlen(head), 3000, e, o, SONDE_HEAD_SCANNED);
	io_str(40, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK(in_tp_trace(0));
	CHECK_STR(spans[0].name, "GET /big");
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 200);
	teardown();
}

TEST(context_cut_by_an_io_end_is_joined_to_the_next)
{
	static const char head[] = "GET /two HTTP/1.1\r\nHost: x\r\nCookie: c=aaaaaaaaaaaaaaaaaaaa";
	static const char rest[] = "arent: 00-" TP_TRACE "-" TP_SPAN "-01\r\nX-Other: y\r\n\r\n";
	uint8_t e[512];
	size_t o = 0;

	setup();
	open_conn(41);
	/* the first I/O (4096 bytes) ends in "tracep": a piece of a line, and the head goes on */
	entry(e, &o, 4090, "tracep");
	io_found(41, IN, 100, head, strlen(head), 4096, e, o, SONDE_HEAD_SCANNED | SONDE_HEAD_MORE);
	CHECK_EQ_INT(n_spans, 0);
	/* the second starts with the rest of that line; the search ended in it */
	io_found(41, IN, 110, rest, strlen(rest), strlen(rest), e, 0, SONDE_HEAD_SCANNED);
	io_str(41, OUT, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK(in_tp_trace(0));
	CHECK_EQ_INT((int64_t)dur(&spans[0]), 100); /* from the head's first byte */
	teardown();
}

TEST(waiting_head_is_settled_by_the_answer)
{
	static const char head[] = "GET /w HTTP/1.1\r\nHost: x\r\nCookie: c=aaaaaaaaaaaaaaaaaaaaaaaa";
	uint8_t e[512];
	size_t o = 0;

	setup();
	open_conn(42);
	/* the search goes on past the first I/O, but the next one was never recorded */
	entry(e, &o, 1000, "X-B3-TraceId: " TP_TRACE "\r\n");
	entry(e, &o, 1100, "X-B3-SpanId: " TP_SPAN "\r\n");
	entry(e, &o, 1200, "x-other: no\r\n"); /* not a context header: left out */
	io_found(42, IN, 100, head, strlen(head), 1300, e, o, SONDE_HEAD_SCANNED | SONDE_HEAD_MORE);
	io_uncaptured(42, IN, 105, 700);
	io_str(42, OUT, 200, "HTTP/1.1 204 No Content\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK(in_tp_trace(0));
	CHECK_EQ_INT(attr_int(&spans[0], "http.response.status_code"), 204);
	CHECK_EQ_INT((int64_t)dur(&spans[0]), 100);
	teardown();
}

TEST(waiting_head_is_settled_at_the_close)
{
	static const char head[] = "POST /c HTTP/1.1\r\nHost: x\r\nCookie: c=aaaaaaaaaaaaaaaaaaaaaaa";
	struct assembler_stats st;
	uint8_t e[512];
	size_t o = 0;

	setup();
	open_conn(43);
	entry(e, &o, 700, "uber-trace-id: " TP_TRACE ":" TP_SPAN ":0:1\r\n");
	io_found(43, IN, 100, head, strlen(head), 2000, e, o, SONDE_HEAD_SCANNED | SONDE_HEAD_MORE);
	close_conn(43, 300);
	CHECK_EQ_INT(n_spans, 1);
	CHECK(in_tp_trace(0));
	assembler__stats(a, &st);
	CHECK_EQ_INT(st.spans_incomplete, 1);
	CHECK_EQ_INT(st.ctx_behind, 1);
	teardown();
}

TEST(uber_trace_id_parsed)
{
	struct trace_context c;
	static const uint8_t id64[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};

	CHECK(tracecontext_parse_uber(TP_TRACE ":" TP_SPAN ":0:1", 53, &c));
	CHECK_EQ_INT(c.flags, 1);
	CHECK(tracecontext_parse_uber("1234:5:0:0", 10, &c)); /* short ids, padded on the left */
	CHECK(!memcmp(c.trace_id, id64, 16));
	CHECK_EQ_INT(c.span_id[7], 5);
	CHECK_EQ_INT(c.flags, 0);
	CHECK(tracecontext_parse_uber("ABCD%3A1%3a0%3A3", 16, &c)); /* URL-encoded colons */
	CHECK_EQ_INT(c.trace_id[15], 0xcd);
	CHECK_EQ_INT(c.flags, 1);
	CHECK(!tracecontext_parse_uber("0:1:0:1", 7, &c));	      /* zero trace id */
	CHECK(!tracecontext_parse_uber("1:0:0:1", 7, &c));	      /* zero span id */
	CHECK(!tracecontext_parse_uber("1:2:0", 5, &c));	      /* three parts */
	CHECK(!tracecontext_parse_uber("1:2:0:1:5", 9, &c));	      /* five parts */
	CHECK(!tracecontext_parse_uber("1x:2:0:1", 8, &c));	      /* not hex */
	CHECK(!tracecontext_parse_uber(TP_TRACE "0:1:0:1", 40, &c)); /* 33 digits */
	CHECK(!tracecontext_parse_uber("1::0:1", 6, &c));	      /* empty span id */
}

/*
 * The collector's end of the agent's own export is not traced; a client that Linux gave the same
 * local port for another destination (it does, when the destinations differ) is.
 */
TEST(own_export_port_shared_by_another_client)
{
	setup();
	self_conns__add(40000, 4318); /* the agent's export: 127.0.0.1:40000 -> :4318 */
	open_conn_ports(1, 8080, 40000); /* a server here, its client also on port 40000 */
	io_str(1, IN, 1000, "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n");
	io_str(1, OUT, 2000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	CHECK_EQ_INT(n_ignored, 0);
	open_conn_ports(2, 4318, 40000); /* the collector's end of the export */
	CHECK_EQ_INT(n_ignored, 1);
	CHECK_EQ_INT(ignored_keys[0], 0x1000 + 2);
	io_str(2, IN, 3000, "POST /v1/traces HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n");
	io_str(2, OUT, 4000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(n_spans, 1);
	teardown();
}

int main(void)
{
	RUN(keep_alive_server);
	RUN(client_side_and_4xx_error);
	RUN(client_url_full_from_host_or_peer_with_query);
	RUN(pipelined_in_one_io);
	RUN(pipelined_responses_in_separate_ios);
	RUN(head_split_across_ios);
	RUN(body_beyond_capture_ends_with_run);
	RUN(body_within_truncated_io);
	RUN(chunked_response_split);
	RUN(expect_100_continue);
	RUN(head_204_304_without_bodies);
	RUN(closed_mid_request);
	RUN(close_delimited_response);
	RUN(chunked_request_and_cut_head_sizes);
	RUN(garbage_is_ignored);
	RUN(h2c_upgrade_is_decoded_as_http2_from_the_preface);
	RUN(traceparent_honoured_and_invalid_ignored);
	RUN(sampling_keeps_whole_traces_by_id);
	RUN(idle_keep_alive_ends_from_kernel_state);
	RUN(service_names_from_cmdlines);
	RUN(context_found_past_the_capture_is_joined);
	RUN(context_cut_by_an_io_end_is_joined_to_the_next);
	RUN(waiting_head_is_settled_by_the_answer);
	RUN(waiting_head_is_settled_at_the_close);
	RUN(uber_trace_id_parsed);
	RUN(own_export_port_shared_by_another_client);
	UNIT_DONE();
}
