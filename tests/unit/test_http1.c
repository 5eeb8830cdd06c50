/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the HTTP/1.x decoders: request and response heads as curl, Python, Node, wrk
 * and nginx really send them (captured on loopback), pipelining, body framing, the chunked
 * tracker split at every byte, garbage from other protocols, and route templates.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders/http1.h"
#include "unit.h"

/* Parse from an exact-size heap copy so that ASan sees any read past len. */
static enum http1_result req_n(const char *s, size_t n, struct http1_request *r)
{
	uint8_t *b = malloc(n ? n : 1);
	enum http1_result res;

	memcpy(b, s, n);
	res = http1_parse_request(b, n, r);
	/* the slices point into b; tests only compare lengths after this, or use req() below */
	free(b);
	return res;
}

static enum http1_result resp_n(const char *s, size_t n, bool head, struct http1_response *r)
{
	uint8_t *b = malloc(n ? n : 1);
	enum http1_result res;

	memcpy(b, s, n);
	res = http1_parse_response(b, n, head, r);
	free(b);
	return res;
}

/* Parse in place when the test needs the borrowed strings. */
static enum http1_result req(const char *s, struct http1_request *r)
{
	return http1_parse_request((const uint8_t *)s, strlen(s), r);
}

static enum http1_result resp(const char *s, bool head, struct http1_response *r)
{
	return http1_parse_response((const uint8_t *)s, strlen(s), head, r);
}

/* Every strict prefix of a valid head is INCOMPLETE, never INVALID. */
static void check_prefixes_incomplete(const char *s, size_t head_len, bool is_req)
{
	struct http1_request rq;
	struct http1_response rs;
	size_t k;

	for (k = 0; k < head_len; k++) {
		enum http1_result r = is_req ? req_n(s, k, &rq) : resp_n(s, k, false, &rs);

		if (r != HTTP1_INCOMPLETE) {
			fprintf(stderr, "prefix %zu of %zu: result %d\n", k, head_len, r);
			CHECK_EQ_INT(r, HTTP1_INCOMPLETE);
			return;
		}
	}
}

static const char curl_get[] = "GET /api/users/123?x=1 HTTP/1.1\r\n"
			       "Host: 127.0.0.1:18080\r\n"
			       "User-Agent: curl/7.88.1\r\n"
			       "Accept: */*\r\n"
			       "\r\n";

static const char nginx_200[] = "HTTP/1.1 200 OK\r\n"
				"Server: nginx/1.22.1\r\n"
				"Date: Sun, 22 Nov 2026 04:06:58 GMT\r\n"
				"Content-Type: text/html\r\n"
				"Content-Length: 38\r\n"
				"Last-Modified: Sun, 22 Nov 2026 04:06:57 GMT\r\n"
				"Connection: keep-alive\r\n"
				"ETag: \"6b026a61-26\"\r\n"
				"Accept-Ranges: bytes\r\n"
				"\r\n"
				"<html><body>hello sonde</body></html>\n";

TEST(test_curl_get)
{
	struct http1_request r;

	CHECK_EQ_INT(req(curl_get, &r), HTTP1_OK);
	CHECK_STRN(r.method.p, r.method.len, "GET");
	CHECK_STRN(r.target.p, r.target.len, "/api/users/123?x=1");
	CHECK_STRN(r.path.p, r.path.len, "/api/users/123");
	CHECK_STRN(r.query.p, r.query.len, "x=1");
	CHECK_STRN(r.host.p, r.host.len, "127.0.0.1:18080");
	CHECK_STRN(r.user_agent.p, r.user_agent.len, "curl/7.88.1");
	CHECK_EQ_INT(r.traceparent.len, 0);
	CHECK_EQ_INT(r.version_minor, 1);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(r.content_length, 0);
	CHECK_EQ_INT(r.head_len, strlen(curl_get));
	CHECK(!r.conn_close);
	CHECK(!r.expect_continue);
	CHECK(!r.upgrade);
	check_prefixes_incomplete(curl_get, strlen(curl_get), true);
}

TEST(test_curl_post_form)
{
	static const char s[] = "POST /form HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"User-Agent: curl/7.88.1\r\n"
				"Accept: */*\r\n"
				"Content-Length: 16\r\n"
				"Content-Type: application/x-www-form-urlencoded\r\n"
				"\r\n"
				"name=alice&age=3";
	struct http1_request r;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_STRN(r.method.p, r.method.len, "POST");
	CHECK_STRN(r.path.p, r.path.len, "/form");
	CHECK_EQ_INT(r.query.len, 0);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(r.content_length, 16);
	CHECK_EQ_INT(r.head_len + r.content_length, strlen(s));
	CHECK_STRN(s + r.head_len, 16, "name=alice&age=3");
}

TEST(test_trace_headers)
{
	static const char s[] =
		"GET /traced HTTP/1.1\r\n"
		"Host: 127.0.0.1:18080\r\n"
		"User-Agent: curl/7.88.1\r\n"
		"Accept: */*\r\n"
		"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
		"tracestate: congo=t61rcWkgMzE\r\n"
		"\r\n";
	static const char b3s[] = "GET /b3 HTTP/1.1\r\n"
				  "X-B3-TraceId: 463ac35c9f6413ad48485a3953bb6124\r\n"
				  "x-b3-spanid: a2fb4a1d1a96d312\r\n"
				  "X-B3-SAMPLED: 1\r\n"
				  "B3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n"
				  "TraceParent: "
				  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
				  "traceparent: "
				  "00-11111111111111111111111111111111-2222222222222222-01\r\n"
				  "\r\n";
	struct http1_request r;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_STRN(r.traceparent.p, r.traceparent.len,
		   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	CHECK_STRN(r.tracestate.p, r.tracestate.len, "congo=t61rcWkgMzE");

	CHECK_EQ_INT(req(b3s, &r), HTTP1_OK);
	CHECK_STRN(r.x_b3_traceid.p, r.x_b3_traceid.len, "463ac35c9f6413ad48485a3953bb6124");
	CHECK_STRN(r.x_b3_spanid.p, r.x_b3_spanid.len, "a2fb4a1d1a96d312");
	CHECK_STRN(r.x_b3_sampled.p, r.x_b3_sampled.len, "1");
	CHECK_STRN(r.b3.p, r.b3.len, "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
	/* the first of duplicate fields wins */
	CHECK_STRN(r.traceparent.p, r.traceparent.len,
		   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	CHECK_EQ_INT(r.host.len, 0);
	CHECK(r.host.p == NULL);
}

TEST(test_curl_put_chunked_expect)
{
	static const char s[] = "PUT /upload HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"User-Agent: curl/7.88.1\r\n"
				"Accept: */*\r\n"
				"Transfer-Encoding: chunked\r\n"
				"Expect: 100-continue\r\n"
				"\r\n"
				"13\r\nhello chunked world\r\n0\r\n\r\n";
	struct http1_request r;
	struct http1_chunked c;
	size_t used = 99;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	CHECK(r.expect_continue);
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)s + r.head_len,
					strlen(s) - r.head_len, &used),
		     HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(used, strlen(s) - r.head_len);
}

TEST(test_python_urllib)
{
	static const char s[] = "GET /py/items/550e8400-e29b-41d4-a716-446655440000 HTTP/1.1\r\n"
				"Accept-Encoding: identity\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"User-Agent: Python-urllib/3.11\r\n"
				"Connection: close\r\n"
				"\r\n";
	static const char post[] = "POST /py/post HTTP/1.1\r\n"
				   "Accept-Encoding: identity\r\n"
				   "Content-Length: 7\r\n"
				   "Host: 127.0.0.1:18080\r\n"
				   "User-Agent: Python-urllib/3.11\r\n"
				   "Content-Type: application/json\r\n"
				   "Connection: close\r\n"
				   "\r\n"
				   "{\"a\":1}";
	struct http1_request r;
	char route[64];

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK(r.conn_close);
	CHECK(!r.conn_keep_alive);
	CHECK_STRN(r.user_agent.p, r.user_agent.len, "Python-urllib/3.11");
	http_route_from_path(r.path.p, r.path.len, route, sizeof(route));
	CHECK_STR(route, "/py/items/{id}");

	CHECK_EQ_INT(req(post, &r), HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(r.content_length, 7);
	CHECK_EQ_INT(r.head_len + 7, strlen(post));
}

TEST(test_node_requests)
{
	static const char get[] = "GET /node/orders/42 HTTP/1.1\r\n"
				  "Host: 127.0.0.1:18080\r\n"
				  "Connection: keep-alive\r\n"
				  "\r\n";
	static const char post[] = "POST /node/stream HTTP/1.1\r\n"
				   "Host: 127.0.0.1:18080\r\n"
				   "Connection: keep-alive\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "\r\n"
				   "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
	struct http1_request r;
	struct http1_chunked c;
	size_t used;

	CHECK_EQ_INT(req(get, &r), HTTP1_OK);
	CHECK(r.conn_keep_alive);
	CHECK(!r.conn_close);
	CHECK_EQ_INT(r.user_agent.len, 0);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_NONE);

	CHECK_EQ_INT(req(post, &r), HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)post + r.head_len,
					strlen(post) - r.head_len, &used),
		     HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(r.head_len + used, strlen(post));
}

TEST(test_wrk_and_pipelining)
{
	/* wrk's minimal head twice, then curl's POST with a body, back to back in one buffer */
	static const char s[] = "GET /wrk/bench HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"\r\n"
				"GET /wrk/bench HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"\r\n"
				"POST /form HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n"
				"Content-Length: 16\r\n"
				"\r\n"
				"name=alice&age=3"
				"DELETE /items/9 HTTP/1.1\r\n"
				"Host: 127.0.0.1:18080\r\n";
	static const char *const paths[] = { "/wrk/bench", "/wrk/bench", "/form" };
	struct http1_request r;
	size_t off = 0, n = strlen(s);
	int k;

	for (k = 0; k < 3; k++) {
		CHECK_EQ_INT(http1_parse_request((const uint8_t *)s + off, n - off, &r), HTTP1_OK);
		CHECK_STRN(r.path.p, r.path.len, paths[k]);
		off += r.head_len + r.content_length;
	}
	CHECK_EQ_INT(http1_parse_request((const uint8_t *)s + off, n - off, &r), HTTP1_INCOMPLETE);
	CHECK(http1_is_request_start((const uint8_t *)s + off, n - off));
}

TEST(test_absolute_form)
{
	struct http1_request r;

	CHECK_EQ_INT(req("GET http://example.com/proxy/path?q=1 HTTP/1.1\r\n"
			 "Host: example.com\r\n"
			 "User-Agent: curl/7.88.1\r\n"
			 "Accept: */*\r\n"
			 "Proxy-Connection: Keep-Alive\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_STRN(r.target.p, r.target.len, "http://example.com/proxy/path?q=1");
	CHECK_STRN(r.path.p, r.path.len, "/proxy/path");
	CHECK_STRN(r.query.p, r.query.len, "q=1");
	CHECK(!r.conn_keep_alive); /* Proxy-Connection is not Connection */

	CHECK_EQ_INT(req("GET http://example.com HTTP/1.1\r\n\r\n", &r), HTTP1_OK);
	CHECK_STRN(r.path.p, r.path.len, "/");
	CHECK_EQ_INT(r.query.len, 0);

	CHECK_EQ_INT(req("GET https://user@h.example:8443?a=b&c HTTP/1.0\r\n\r\n", &r), HTTP1_OK);
	CHECK_STRN(r.path.p, r.path.len, "/");
	CHECK_STRN(r.query.p, r.query.len, "a=b&c");
	CHECK_EQ_INT(r.version_minor, 0);

	CHECK_EQ_INT(req("GET HTTP://[::1]:80/a/b/ HTTP/1.1\r\n\r\n", &r), HTTP1_OK);
	CHECK_STRN(r.path.p, r.path.len, "/a/b/");

	/* a bare host is only allowed for CONNECT; a scheme must start with a letter */
	CHECK_EQ_INT(req("GET example.com:80 HTTP/1.1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("GET 1http://x/ HTTP/1.1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("GET http:/x/ HTTP/1.1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req_n("GET http:/", 10, &r), HTTP1_INCOMPLETE);
}

TEST(test_connect_and_asterisk)
{
	struct http1_request r;
	char route[16];

	CHECK_EQ_INT(req("CONNECT example.com:443 HTTP/1.1\r\n"
			 "Host: example.com:443\r\n"
			 "User-Agent: curl/7.88.1\r\n"
			 "Proxy-Connection: Keep-Alive\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_STRN(r.method.p, r.method.len, "CONNECT");
	CHECK_STRN(r.target.p, r.target.len, "example.com:443");
	CHECK_EQ_INT(r.path.len, 0);
	CHECK_EQ_INT(r.query.len, 0);
	http_route_from_path(r.path.p, r.path.len, route, sizeof(route));
	CHECK_STR(route, "/");

	CHECK_EQ_INT(req("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", &r), HTTP1_OK);
	CHECK_STRN(r.target.p, r.target.len, "*");
	CHECK_STRN(r.path.p, r.path.len, "*");
	CHECK_EQ_INT(req("OPTIONS *x HTTP/1.1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req_n("OPTIONS *", 9, &r), HTTP1_INCOMPLETE);
}

TEST(test_head_request_and_response)
{
	static const char head_resp[] = "HTTP/1.1 200 OK\r\n"
					"Server: nginx/1.22.1\r\n"
					"Content-Type: text/html\r\n"
					"Content-Length: 38\r\n"
					"Connection: close\r\n"
					"\r\n";
	struct http1_request r;
	struct http1_response s;

	CHECK_EQ_INT(req("HEAD /headme HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n"
			 "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_STRN(r.method.p, r.method.len, "HEAD");
	CHECK_EQ_INT(resp(head_resp, true, &s), HTTP1_OK);
	CHECK_EQ_INT(s.status, 200);
	CHECK_EQ_INT(s.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(s.content_length, 0);
	CHECK(s.conn_close);
	CHECK_EQ_INT(resp(head_resp, false, &s), HTTP1_OK);
	CHECK_EQ_INT(s.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(s.content_length, 38);
}

TEST(test_bare_lf)
{
	static const char s[] = "GET /bare/lf HTTP/1.1\n"
				"Host: a\n"
				"Content-Length: 3\r\n"
				"\n"
				"abc";
	struct http1_request r;
	struct http1_response p;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_STRN(r.host.p, r.host.len, "a");
	CHECK_EQ_INT(r.head_len, strlen(s) - 3);
	check_prefixes_incomplete(s, r.head_len, true);
	CHECK_EQ_INT(resp("HTTP/1.1 204 No Content\n\n", false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.head_len, 25);
	/* a CR must be followed by LF */
	CHECK_EQ_INT(req("GET / HTTP/1.1\rHost: a\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHost: a\r\n\rX", &r), HTTP1_INVALID);
}

TEST(test_websocket_upgrade)
{
	static const char s[] = "GET /chat HTTP/1.1\r\n"
				"Host: server.example.com\r\n"
				"Upgrade: websocket\r\n"
				"Connection: Upgrade\r\n"
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				"Sec-WebSocket-Version: 13\r\n"
				"\r\n";
	struct http1_request r;
	struct http1_response p;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK(r.upgrade);
	CHECK(!r.upgrade_h2c);
	/* HTTP/2 in clear text (RFC 7540, 3.2), as curl --http2 asks for it */
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			 "Upgrade: websocket, H2C\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK(r.upgrade && r.upgrade_h2c);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2\r\n\r\n", &r),
		     HTTP1_OK);
	CHECK(r.upgrade && !r.upgrade_h2c); /* h2 is HTTP/2 over TLS: never an Upgrade */
	/* Connection: upgrade alone, or Upgrade alone, is not an upgrade */
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: keep-alive, upgrade\r\n\r\n", &r),
		     HTTP1_OK);
	CHECK(!r.upgrade);
	CHECK(r.conn_keep_alive);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", &r), HTTP1_OK);
	CHECK(!r.upgrade && !r.upgrade_h2c);

	CHECK_EQ_INT(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\n\r\n",
			  false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.status, 101);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
}

TEST(test_connection_tokens)
{
	struct http1_request r;

	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: TE, CLOSE\r\n\r\n", &r), HTTP1_OK);
	CHECK(r.conn_close);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection:close\r\n\r\n", &r), HTTP1_OK);
	CHECK(r.conn_close);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: ,, close ,\r\n\r\n", &r), HTTP1_OK);
	CHECK(r.conn_close);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", &r), HTTP1_OK);
	CHECK(!r.conn_close);
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
			 "Connection: close\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK(r.conn_close);
	CHECK(r.conn_keep_alive);
}

TEST(test_expect)
{
	struct http1_request r;

	CHECK_EQ_INT(req("PUT / HTTP/1.1\r\nexpect:  100-Continue \r\n\r\n", &r), HTTP1_OK);
	CHECK(r.expect_continue);
	CHECK_EQ_INT(req("PUT / HTTP/1.1\r\nExpect: 100-continue-x\r\n\r\n", &r), HTTP1_OK);
	CHECK(!r.expect_continue);
	CHECK_EQ_INT(req("PUT / HTTP/1.1\r\nExpect:\r\n\r\n", &r), HTTP1_OK);
	CHECK(!r.expect_continue);
}

TEST(test_100_continue_exchange)
{
	/* the server's interim 100 and final 201 arrive together */
	static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
				"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n"
				"Location: /x/1\r\n\r\n";
	struct http1_response p;
	size_t off;

	CHECK_EQ_INT(resp(s, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.status, 100);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	off = p.head_len;
	CHECK_EQ_INT(off, 25);
	CHECK_EQ_INT(http1_parse_response((const uint8_t *)s + off, strlen(s) - off, false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.status, 201);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(off + p.head_len, strlen(s));
}

TEST(test_nginx_responses)
{
	static const char r404[] = "HTTP/1.1 404 Not Found\r\n"
				   "Server: nginx/1.22.1\r\n"
				   "Date: Sun, 22 Nov 2026 04:06:58 GMT\r\n"
				   "Content-Type: text/html\r\n"
				   "Content-Length: 153\r\n"
				   "Connection: close\r\n"
				   "\r\n";
	static const char r304[] = "HTTP/1.1 304 Not Modified\r\n"
				   "Server: nginx/1.22.1\r\n"
				   "Date: Sun, 22 Nov 2026 04:07:04 GMT\r\n"
				   "Last-Modified: Sun, 22 Nov 2026 04:06:57 GMT\r\n"
				   "Connection: close\r\n"
				   "ETag: \"6b026a61-26\"\r\n"
				   "\r\n";
	static const char r204[] = "HTTP/1.1 204 No Content\r\n"
				   "Server: nginx/1.22.1\r\n"
				   "Date: Sun, 22 Nov 2026 04:06:58 GMT\r\n"
				   "Connection: close\r\n"
				   "\r\n";
	static const char gz[] = "HTTP/1.1 200 OK\r\n"
				 "Server: nginx/1.22.1\r\n"
				 "Date: Sun, 22 Nov 2026 04:06:58 GMT\r\n"
				 "Content-Type: text/plain\r\n"
				 "Last-Modified: Sun, 22 Nov 2026 04:06:57 GMT\r\n"
				 "Transfer-Encoding: chunked\r\n"
				 "Connection: close\r\n"
				 "ETag: W/\"6b026a61-bb9\"\r\n"
				 "Content-Encoding: gzip\r\n"
				 "\r\n"
				 "5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n";
	struct http1_response p;
	struct http1_chunked c;
	size_t used;

	CHECK_EQ_INT(resp(nginx_200, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.status, 200);
	CHECK_EQ_INT(p.version_minor, 1);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(p.content_length, 38);
	CHECK(p.conn_keep_alive);
	CHECK(!p.conn_close);
	CHECK_EQ_INT(p.head_len + p.content_length, strlen(nginx_200));
	check_prefixes_incomplete(nginx_200, p.head_len, false);

	CHECK_EQ_INT(resp(r404, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.status, 404);
	CHECK_EQ_INT(p.content_length, 153);
	CHECK(p.conn_close);

	/* 304 and 204 have no body, even when a length is sent */
	CHECK_EQ_INT(resp(r304, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.status, 304);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(resp(r204, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 38\r\n\r\n", false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(p.content_length, 0);

	CHECK_EQ_INT(http1_parse_response((const uint8_t *)gz, sizeof(gz) - 1, false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_CHUNKED);
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)gz + p.head_len,
					sizeof(gz) - 1 - p.head_len, &used),
		     HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(p.head_len + used, sizeof(gz) - 1);
}

TEST(test_keepalive_responses)
{
	/* two nginx responses on one keep-alive connection, read in one buffer */
	char buf[2 * sizeof(nginx_200)];
	size_t n = strlen(nginx_200), off = 0;
	struct http1_response p;
	int k;

	memcpy(buf, nginx_200, n);
	memcpy(buf + n, nginx_200, n);
	for (k = 0; k < 2; k++) {
		CHECK_EQ_INT(http1_parse_response((const uint8_t *)buf + off, 2 * n - off, false,
						  &p),
			     HTTP1_OK);
		CHECK_EQ_INT(p.status, 200);
		off += p.head_len + p.content_length;
	}
	CHECK_EQ_INT(off, 2 * n);
}

TEST(test_other_servers)
{
	static const char py[] = "HTTP/1.0 200 OK\r\n"
				 "Server: SimpleHTTP/0.6 Python/3.11.7\r\n"
				 "Date: Sun, 22 Nov 2026 04:07:05 GMT\r\n"
				 "Content-type: text/html\r\n"
				 "Content-Length: 38\r\n"
				 "Last-Modified: Sun, 22 Nov 2026 04:06:57 GMT\r\n"
				 "\r\n";
	static const char node[] = "HTTP/1.1 200 OK\r\n"
				   "Date: Sun, 22 Nov 2026 04:07:06 GMT\r\n"
				   "Connection: close\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "\r\n"
				   "6\r\nhello \r\n4\r\nnode\r\n0\r\n\r\n";
	struct http1_response p;

	CHECK_EQ_INT(resp(py, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.version_minor, 0);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(p.content_length, 38);
	CHECK_EQ_INT(resp(node, false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_CHUNKED);
	CHECK(p.conn_close);
}

TEST(test_response_framing)
{
	struct http1_response p;

	/* no length: the body runs until close */
	CHECK_EQ_INT(resp("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_UNTIL_CLOSE);
	/* a reason phrase is optional, and so is the space before it */
	CHECK_EQ_INT(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(resp("HTTP/1.1 500 \r\nContent-Length: 1\r\n\r\n", false, &p), HTTP1_OK);
	CHECK_EQ_INT(p.status, 500);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(resp("HTTP/1.1 200 Très bien\r\n\r\n", false, &p), HTTP1_OK);
	/* chunked beats Content-Length; another final coding means until close */
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n",
			  false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_CHUNKED);
	CHECK_EQ_INT(p.content_length, 0);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n"
			  "Content-Length: 10\r\n\r\n",
			  false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_UNTIL_CLOSE);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
			  "Transfer-Encoding: CHUNKED\r\n\r\n",
			  false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_CHUNKED);
	/* 1xx, 204 and 304 never have a body, HEAD responses neither */
	CHECK_EQ_INT(resp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", false,
			  &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.framing, HTTP1_BODY_NONE);
}

TEST(test_response_invalid)
{
	static const char *const bad[] = {
		"HTTP/1.1 600 X\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.x 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
	};
	struct http1_response p;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (resp(bad[k], false, &p) != HTTP1_INVALID) {
			fprintf(stderr, "accepted: %s", bad[k]);
			CHECK(0);
		}
	}
	CHECK_EQ_INT(resp_n("HTTP/1.1 2", 10, false, &p), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(resp_n("HTTP/1.1 200", 12, false, &p), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(resp_n("", 0, false, &p), HTTP1_INCOMPLETE);
}

TEST(test_garbage)
{
	/* TLS 1.2 ClientHello record start */
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03,
				       0x03, 0x5a, 0x11, 0x22, 0x33, 0x44 };
	/* PostgreSQL StartupMessage: length, protocol 3.0, "user\0postgres\0" */
	static const uint8_t pg[] = { 0x00, 0x00, 0x00, 0x29, 0x00, 0x03, 0x00, 0x00, 'u', 's',
				      'e',  'r',  0x00, 'p',  'o',  's',  't',	'g',  'r', 'e',
				      's',  0x00, 'd',	'a',  't',  'a',  'b',	'a',  's', 'e',
				      0x00, 'p',  'o',	's',  't',  'g',  'r',	'e',  's', 0x00,
				      0x00 };
	static const char *const text[] = {
		"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", /* Redis RESP */
		"PING\r\n",					  /* Redis inline */
		"SET key value\r\n",
		"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", /* HTTP/2 preface */
		"EHLO mail.example.com\r\n",
		"get / http/1.1\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n",
		"GET /a\tb HTTP/1.1\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
		"GET / HTTP/1.12\r\n\r\n",
		"GET /\r\n",
		"\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", /* more than two leading empty lines */
		"THISMETHODISFARTOOLONGTOBEREAL / HTTP/1.1\r\n\r\n",
	};
	struct http1_request r;
	struct http1_response p;
	uint8_t bin[256];
	size_t k;

	CHECK_EQ_INT(http1_parse_request(tls, sizeof(tls), &r), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_request(tls, 1, &r), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_response(tls, sizeof(tls), false, &p), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_request(pg, sizeof(pg), &r), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_request(pg, 1, &r), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_response(pg, sizeof(pg), false, &p), HTTP1_INVALID);
	CHECK(!http1_is_request_start(tls, sizeof(tls)));
	CHECK(!http1_is_response_start(pg, sizeof(pg)));
	for (k = 0; k < sizeof(text) / sizeof(text[0]); k++) {
		if (req(text[k], &r) != HTTP1_INVALID ||
		    resp(text[k], false, &p) != HTTP1_INVALID) {
			fprintf(stderr, "accepted: %s", text[k]);
			CHECK(0);
		}
	}
	/* a pseudo-random binary blob */
	for (k = 0; k < sizeof(bin); k++)
		bin[k] = (uint8_t)(k * 151 + 7);
	CHECK_EQ_INT(http1_parse_request(bin, sizeof(bin), &r), HTTP1_INVALID);
	CHECK_EQ_INT(http1_parse_response(bin, sizeof(bin), true, &p), HTTP1_INVALID);
	/* nothing seen yet is not a verdict */
	CHECK_EQ_INT(req_n("", 0, &r), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(http1_parse_request(NULL, 0, &r), HTTP1_INVALID);
}

TEST(test_leading_empty_lines)
{
	static const char s[] = "\r\n\nPOST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
	struct http1_request r;

	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_STRN(r.method.p, r.method.len, "POST");
	CHECK_EQ_INT(r.head_len + r.content_length, strlen(s));
	CHECK_EQ_INT(req_n("\r", 1, &r), HTTP1_INCOMPLETE);
}

TEST(test_methods)
{
	static const char *const ok[] = { "GET",     "HEAD",  "POST",  "PUT",	  "DELETE",
					  "OPTIONS", "TRACE", "PATCH", "PROPFIND", "M-SEARCH" };
	char buf[64];
	struct http1_request r;
	size_t k;

	for (k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\n\r\n", ok[k]);
		CHECK_EQ_INT(req(buf, &r), HTTP1_OK);
		CHECK_STRN(r.method.p, r.method.len, ok[k]);
	}
	CHECK_EQ_INT(req_n("DELET", 5, &r), HTTP1_INCOMPLETE);
}

TEST(test_is_start)
{
	CHECK(http1_is_request_start((const uint8_t *)"GET / HTTP/1.1", 14));
	CHECK(http1_is_request_start((const uint8_t *)"DELETE /x", 9));
	CHECK(http1_is_request_start((const uint8_t *)"CONNECT a:1", 11));
	CHECK(http1_is_request_start((const uint8_t *)"OPTIONS *", 9));
	CHECK(http1_is_request_start((const uint8_t *)"PATCH /", 7));
	CHECK(http1_is_request_start((const uint8_t *)"TRACE /", 7));
	CHECK(http1_is_request_start((const uint8_t *)"HEAD /", 6));
	CHECK(http1_is_request_start((const uint8_t *)"PUT /", 5));
	CHECK(http1_is_request_start((const uint8_t *)"POST /", 6));
	CHECK(!http1_is_request_start((const uint8_t *)"GETX / ", 7));
	CHECK(!http1_is_request_start((const uint8_t *)"get / HTTP", 10));
	CHECK(!http1_is_request_start((const uint8_t *)"GE", 2));
	CHECK(!http1_is_request_start((const uint8_t *)"DELETE", 6)); /* too short to tell */
	CHECK(!http1_is_request_start((const uint8_t *)"HTTP/1.1 200", 12));
	CHECK(!http1_is_request_start(NULL, 0));
	CHECK(http1_is_response_start((const uint8_t *)"HTTP/1.1 200", 12));
	CHECK(http1_is_response_start((const uint8_t *)"HTTP/1.0", 8));
	CHECK(!http1_is_response_start((const uint8_t *)"HTTP/2 200", 10));
	CHECK(!http1_is_response_start((const uint8_t *)"HTTP/1", 6));
	CHECK(!http1_is_response_start((const uint8_t *)"GET / HTTP/1.1", 14));
}

TEST(test_truncated)
{
	struct http1_request r;
	struct http1_response p;

	CHECK_EQ_INT(req("GET /x HTTP/1.1\r\nHost: a\r\n", &r), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(req("GET /x HTTP/1.1\r\nHost: a\r\n\r", &r), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(req("GET /x HTTP/1", &r), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(req("GET /very/long/path/that/the/capture/cut", &r), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 12", false, &p), HTTP1_INCOMPLETE);
	/* ... but garbage after a good start is caught before the end */
	CHECK_EQ_INT(req("GET /x HTTP/1.1\r\nHost: a\r\n\x16\x03\x01", &r), HTTP1_INVALID);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\n\x00\x01", false, &p), HTTP1_INCOMPLETE);
	CHECK_EQ_INT(resp_n("HTTP/1.1 200 OK\r\n\x00\x01", 19, false, &p), HTTP1_INVALID);
}

TEST(test_content_length)
{
	struct http1_request r;
	struct http1_response p;

	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", &r),
		     HTTP1_OK);
	CHECK(r.content_length == UINT64_MAX);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", &r),
		     HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &r),
		     HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", &r),
		     HTTP1_INVALID);
	CHECK_EQ_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCONTENT-LENGTH: 05\r\n\r\n",
			  false, &p),
		     HTTP1_OK);
	CHECK_EQ_INT(p.content_length, 5);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: \t 42 \r\n\r\n", &r), HTTP1_OK);
	CHECK_EQ_INT(r.content_length, 42);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_LENGTH);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_NONE);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", &r), HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &r), HTTP1_INVALID);
	/* the conflict is caught as soon as the second field ends, before the head does */
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n", &r),
		     HTTP1_INVALID);
}

TEST(test_transfer_encoding_request)
{
	struct http1_request r;

	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			 "Content-Length: 5\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	CHECK_EQ_INT(r.content_length, 0);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked \r\n\r\n", &r),
		     HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", &r), HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_CHUNKED);
	/* a request whose final coding is not chunked has no knowable length */
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &r),
		     HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			 "Transfer-Encoding: gzip\r\n\r\n",
			 &r),
		     HTTP1_INVALID);
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", &r),
		     HTTP1_INVALID);
	/* an empty field says nothing */
	CHECK_EQ_INT(req("POST / HTTP/1.1\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\n", &r),
		     HTTP1_OK);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_LENGTH);
}

TEST(test_header_names_and_values)
{
	struct http1_request r;

	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHOST:   a.example  \t\r\nuser-agent:x\r\n\r\n", &r),
		     HTTP1_OK);
	CHECK_STRN(r.host.p, r.host.len, "a.example");
	CHECK_STRN(r.user_agent.p, r.user_agent.len, "x");
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHost:\r\nX-Empty: \r\n\r\n", &r), HTTP1_OK);
	CHECK(r.host.p != NULL);
	CHECK_EQ_INT(r.host.len, 0);
	/* names that only share a length with wanted ones */
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHosx: a\r\nuser-agenx: b\r\nContent-Lengtx: c\r\n\r\n",
			 &r),
		     HTTP1_OK);
	CHECK_EQ_INT(r.host.len, 0);
	CHECK_EQ_INT(r.user_agent.len, 0);
	CHECK_EQ_INT(r.framing, HTTP1_BODY_NONE);
	/* obs-text (UTF-8) is kept in values */
	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\n\r\n", &r), HTTP1_OK);
	CHECK_STRN(r.user_agent.p, r.user_agent.len, "caf\xc3\xa9");
}

TEST(test_long_target)
{
	/* a 60000-byte target parses; slices longer than 64 KiB would be cut, not rejected */
	size_t n = 60000, k;
	char *s = malloc(n + 64);
	struct http1_request r;

	memcpy(s, "GET /", 5);
	for (k = 5; k < n; k++)
		s[k] = 'a' + k % 26;
	strcpy(s + n, "?q HTTP/1.1\r\n\r\n");
	CHECK_EQ_INT(req(s, &r), HTTP1_OK);
	CHECK_EQ_INT(r.path.len, n - 4);
	CHECK_STRN(r.query.p, r.query.len, "q");
	free(s);
}

/* A chunked body fed in every possible two- and three-piece split must end at the same byte. */
static void check_chunked_splits(const char *body, size_t n, size_t want_used)
{
	const uint8_t *b = (const uint8_t *)body;
	struct http1_chunked c;
	size_t p, q, used, total;
	enum http1_chunk_result r;

	for (p = 0; p <= n; p++) {
		http1_chunked_init(&c);
		r = http1_chunked_feed(&c, b, p, &used);
		total = used;
		if (r == HTTP1_CHUNK_MORE) {
			CHECK_EQ_INT(used, p);
			r = http1_chunked_feed(&c, b + p, n - p, &used);
			total += used;
		}
		if (r != HTTP1_CHUNK_DONE || total != want_used) {
			fprintf(stderr, "split at %zu: result %d, used %zu\n", p, r, total);
			CHECK(0);
			return;
		}
	}
	for (p = 0; p <= n; p++) {
		for (q = p; q <= n; q++) {
			http1_chunked_init(&c);
			total = 0;
			r = http1_chunked_feed(&c, b, p, &used);
			total += used;
			if (r == HTTP1_CHUNK_MORE) {
				r = http1_chunked_feed(&c, b + p, q - p, &used);
				total += used;
			}
			if (r == HTTP1_CHUNK_MORE) {
				r = http1_chunked_feed(&c, b + q, n - q, &used);
				total += used;
			}
			if (r != HTTP1_CHUNK_DONE || total != want_used) {
				fprintf(stderr, "split at %zu,%zu: result %d\n", p, q, r);
				CHECK(0);
				return;
			}
		}
	}
	/* one byte at a time */
	http1_chunked_init(&c);
	for (p = 0; p < n; p++) {
		r = http1_chunked_feed(&c, b + p, 1, &used);
		if (r != HTTP1_CHUNK_MORE)
			break;
	}
	CHECK_EQ_INT(r, HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(p + 1, want_used);
}

TEST(test_chunked_splits)
{
	static const char plain[] = "6\r\nhello \r\n4\r\nnode\r\n0\r\n\r\n";
	static const char ext[] = "5;name=val;x\r\nhello\r\nA \t; q=\"a b\"\r\n0123456789\r\n"
				  "0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum: 1\r\n\r\n";
	static const char lf[] = "3\nabc\n0\n\n";
	/* body, then the next response on the connection: the tracker must stop at the body end */
	static const char next[] = "1f\r\n0123456789abcdefghijklmnopqrstu\r\n0\r\n\r\n"
				   "HTTP/1.1 200 OK\r\n";

	check_chunked_splits(plain, strlen(plain), strlen(plain));
	check_chunked_splits(ext, strlen(ext), strlen(ext));
	check_chunked_splits(lf, strlen(lf), strlen(lf));
	check_chunked_splits(next, strlen(next), strlen(next) - strlen("HTTP/1.1 200 OK\r\n"));
}

TEST(test_chunked_errors)
{
	static const char *const bad[] = {
		"g\r\n",
		"\r\n",
		";ext\r\n",
		"5\r\nhelloX\r\n",
		"5\r\nhello\r\r",
		"5 x\r\n",
		"5\rX",
		"10000000000000000\r\n", /* 17 significant hex digits: over 64 bits */
		"0\r\n\x01\r\n",
		"0\r\nX: a\x01\r\n\r\n",
		"0\r\n\rX",
	};
	struct http1_chunked c;
	size_t k, used;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		http1_chunked_init(&c);
		if (http1_chunked_feed(&c, (const uint8_t *)bad[k], strlen(bad[k]), &used) !=
		    HTTP1_CHUNK_ERROR) {
			fprintf(stderr, "chunked accepted #%zu: %s\n", k, bad[k]);
			CHECK(0);
		}
		/* once broken, always broken */
		CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &used),
			     HTTP1_CHUNK_ERROR);
	}
	/* a NUL cannot hide in an extension */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)"3;a\0\r\nabc\r\n", 11, &used),
		     HTTP1_CHUNK_ERROR);
	CHECK_EQ_INT(used, 3);
	/* the error position is reported in used */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)"3\r\nabcX", 7, &used),
		     HTTP1_CHUNK_ERROR);
	CHECK_EQ_INT(used, 6);
	/* the largest size that fits, with leading zeros */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)"000FFFFffffFFFFffff\r\n", 21, &used),
		     HTTP1_CHUNK_MORE);
	CHECK(c.remaining == UINT64_MAX);
}

TEST(test_chunked_skip_and_done)
{
	static const char s[] = "a\r\n0123456789\r\n0\r\n\r\n";
	struct http1_chunked c;
	size_t used;

	http1_chunked_init(&c);
	CHECK(http1_chunked_skip(&c, 0));
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)s, 5, &used), HTTP1_CHUNK_MORE);
	/* "01" seen; skip the 8 data bytes the capture did not hold */
	CHECK(http1_chunked_skip(&c, 8));
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)s + 13, strlen(s) - 13, &used),
		     HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(used, strlen(s) - 13);
	/* after the end, more input belongs to the next message */
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)"xyz", 3, &used), HTTP1_CHUNK_DONE);
	CHECK_EQ_INT(used, 0);

	/* skipping past the chunk data, or outside it, is refused */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)s, 3, &used), HTTP1_CHUNK_MORE);
	CHECK(!http1_chunked_skip(&c, 11));
	http1_chunked_init(&c);
	CHECK(!http1_chunked_skip(&c, 1));
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, (const uint8_t *)s, 3, &used), HTTP1_CHUNK_MORE);
	CHECK(http1_chunked_skip(&c, 10));
	CHECK(!http1_chunked_skip(&c, 1)); /* now at the CRLF after the data */
}

/* Route of a C string into an out buffer of outsz bytes. */
static const char *route(const char *path, size_t outsz)
{
	static char out[512];

	memset(out, 'X', sizeof(out));
	http_route_from_path(path, strlen(path), out, outsz);
	return out;
}

TEST(test_routes)
{
	static const char *const cases[][2] = {
		{ "/api/users/123", "/api/users/{id}" },
		{ "/api/users/123/orders/9?x=1", "/api/users/{id}/orders/{id}" },
		{ "/", "/" },
		{ "", "/" },
		{ "*", "/" },
		{ "example.com:443", "/" },
		{ "?q=1", "/" },
		{ "/#frag", "/" },
		{ "/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}" },
		{ "/items/550E8400-E29B-41D4-A716-446655440000/x", "/items/{id}/x" },
		/* not a UUID, but still an opaque token */
		{ "/items/550e8400-e29b-41d4-a716-44665544000g", "/items/{id}" },
		{ "/objs/507f1f77bcf86cd799439011", "/objs/{id}" },
		{ "/blobs/d41d8cd98f00b204e9800998ecf8427e", "/blobs/{id}" },
		{ "/git/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/git/{id}" },
		{ "/sha/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "/sha/{id}" },
		{ "/t/aZ3kq9Lm2xYt7PwQ", "/t/{id}" },
		{ "/t/dGhpcyBpcyBhIHRva2Vu4", "/t/{id}" },
		{ "/docs/getting-started-guide2", "/docs/getting-started-guide2" },
		{ "/docs/abcdefghijklmnopqrstuvwxyz", "/docs/abcdefghijklmnopqrstuvwxyz" },
		{ "/s/-NxAb3kdfjLkjq9dK_Qw", "/s/{id}" },
		{ "/api/v1/users", "/api/v1/users" },
		{ "/apis/apps/v2beta1/healthz", "/apis/apps/v2beta1/healthz" },
		{ "/index.html", "/index.html" },
		{ "/static/jquery-3.7.1.min.js", "/static/jquery-3.7.1.min.js" },
		{ "/blog/release-notes-2024", "/blog/release-notes-2024" },
		{ "/internationalization", "/internationalization" },
		{ "/cafe/deadbeef", "/cafe/deadbeef" },
		{ "/a//b/", "/a//b/" },
		{ "//", "//" },
		{ "/users/42/", "/users/{id}/" },
		{ "/search/caf%C3%A9", "/search/caf%C3%A9" },
		{ "/p/%20%20", "/p/%20%20" },
		{ "/0", "/{id}" },
	};
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *got = route(cases[k][0], 512);

		if (strcmp(got, cases[k][1])) {
			fprintf(stderr, "route(%s) = %s, want %s\n", cases[k][0], got, cases[k][1]);
			CHECK(0);
		}
	}
	/* the length given is honoured: no NUL needed, bytes after it ignored */
	{
		char out[32];

		CHECK_EQ_INT(http_route_from_path("/users/12345", 7, out, sizeof(out)), 7);
		CHECK_STR(out, "/users/");
		CHECK_EQ_INT(http_route_from_path("/users/12345", 8, out, sizeof(out)), 11);
		CHECK_STR(out, "/users/{id}");
		CHECK_EQ_INT(http_route_from_path("/users/abcdef", 9, out, sizeof(out)), 9);
		CHECK_STR(out, "/users/ab");
		CHECK_EQ_INT(http_route_from_path(NULL, 5, out, sizeof(out)), 1);
		CHECK_STR(out, "/");
	}
}

TEST(test_route_truncation)
{
	static const char p[] = "/api/users/123/orders";
	char out[64];
	size_t k, n;

	CHECK_EQ_INT(http_route_from_path(p, strlen(p), out, 0), 0);
	for (k = 1; k < sizeof(out); k++) {
		memset(out, 'X', sizeof(out));
		n = http_route_from_path(p, strlen(p), out, k);
		CHECK(n < k);
		CHECK_EQ_INT(strlen(out), n);
		CHECK(!memcmp(out, "/api/users/{id}/orders", n));
		CHECK_EQ_INT(out[k], 'X'); /* nothing written past outsz */
	}
	CHECK_STR(route("/api/users/123", 1), "");
	CHECK_STR(route("/api/users/123", 2), "/");
	CHECK_STR(route("/api/users/123", 13), "/api/users/{");
	CHECK_STR(route("", 1), "");
}

int main(void)
{
	RUN(test_curl_get);
	RUN(test_curl_post_form);
	RUN(test_trace_headers);
	RUN(test_curl_put_chunked_expect);
	RUN(test_python_urllib);
	RUN(test_node_requests);
	RUN(test_wrk_and_pipelining);
	RUN(test_absolute_form);
	RUN(test_connect_and_asterisk);
	RUN(test_head_request_and_response);
	RUN(test_bare_lf);
	RUN(test_websocket_upgrade);
	RUN(test_connection_tokens);
	RUN(test_expect);
	RUN(test_100_continue_exchange);
	RUN(test_nginx_responses);
	RUN(test_keepalive_responses);
	RUN(test_other_servers);
	RUN(test_response_framing);
	RUN(test_response_invalid);
	RUN(test_garbage);
	RUN(test_leading_empty_lines);
	RUN(test_methods);
	RUN(test_is_start);
	RUN(test_truncated);
	RUN(test_content_length);
	RUN(test_transfer_encoding_request);
	RUN(test_header_names_and_values);
	RUN(test_long_target);
	RUN(test_chunked_splits);
	RUN(test_chunked_errors);
	RUN(test_chunked_skip_and_done);
	RUN(test_routes);
	RUN(test_route_truncation);
	UNIT_DONE();
}
