/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x message heads, parsed from the bytes sonde captured. Pure functions over a buffer:
 * no I/O, no globals, no allocation, so they are unit-tested and fuzzed on the host. Every string
 * in the results points into the caller's buffer (never NUL-terminated: use the lengths).
 */
#ifndef SONDE_HTTP1_H
#define SONDE_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http1_result {
	HTTP1_OK = 0,	       /* a complete head was parsed */
	HTTP1_INCOMPLETE = 1, /* looks like HTTP so far, but the head does not end in the buffer */
	HTTP1_INVALID = 2,    /* not an HTTP/1.x head */
};

/* A borrowed slice of the input buffer. */
struct http1_str {
	const char *p;
	uint16_t len;
};

/* Body framing of a message, from its head (RFC 9112 section 6). */
enum http1_framing {
	HTTP1_BODY_NONE = 0,	    /* no body (no length, HEAD response, 1xx/204/304, ...) */
	HTTP1_BODY_LENGTH = 1,	    /* Content-Length bytes follow */
	HTTP1_BODY_CHUNKED = 2,	    /* Transfer-Encoding: chunked */
	HTTP1_BODY_UNTIL_CLOSE = 3, /* response without length: runs until the connection closes */
};

struct http1_request {
	struct http1_str method;
	struct http1_str target;       /* request-target as sent: path plus query, or absolute URI */
	struct http1_str path;	       /* path only (no query, no scheme/authority) */
	struct http1_str query;	       /* after '?', without it; len 0 when absent */
	struct http1_str host;	       /* Host header */
	struct http1_str user_agent;   /* User-Agent header */
	struct http1_str traceparent;  /* W3C traceparent header */
	struct http1_str tracestate;   /* W3C tracestate header */
	struct http1_str b3;	       /* b3 single header */
	struct http1_str x_b3_traceid; /* X-B3-TraceId */
	struct http1_str x_b3_spanid;  /* X-B3-SpanId */
	struct http1_str x_b3_sampled; /* X-B3-Sampled */
	struct http1_str uber;	       /* uber-trace-id (Jaeger's own propagation) */
	uint8_t version_minor;	       /* HTTP/1.<minor> */
	bool expect_continue;	       /* Expect: 100-continue */
	bool conn_close;	       /* Connection: close */
	bool upgrade;		       /* Connection: upgrade with an Upgrade header */
	bool upgrade_h2c;	       /* ... that offers h2c (HTTP/2 in clear text) */
	uint8_t framing;	       /* enum http1_framing */
	uint64_t content_length;       /* HTTP1_BODY_LENGTH */
	uint32_t head_len;	       /* bytes from the first byte through the blank line */
	bool conn_keep_alive;	       /* Connection: keep-alive (what keeps HTTP/1.0 open) */
};

struct http1_response {
	uint16_t status;	 /* 100..599 */
	uint8_t version_minor;	 /* HTTP/1.<minor> */
	bool conn_close;	 /* Connection: close */
	uint8_t framing;	 /* enum http1_framing, given the request method (HEAD) */
	uint64_t content_length; /* HTTP1_BODY_LENGTH */
	uint32_t head_len;	 /* bytes from the first byte through the blank line */
	bool conn_keep_alive;	 /* Connection: keep-alive (what keeps HTTP/1.0 open) */
};

/*
 * Cheap first look: could buf start an HTTP/1.x request (a known method then a space) or
 * response ("HTTP/1.")? Used to classify a connection before parsing.
 */
bool http1_is_request_start(const uint8_t *buf, size_t len);
bool http1_is_response_start(const uint8_t *buf, size_t len);

/*
 * Parse a request head at buf (up to two empty lines before it are skipped and counted in
 * head_len). Any token method is accepted. path is the origin-form path, the path of an
 * absolute-form target ("/" when it has none), "*" for asterisk-form and empty for CONNECT's
 * authority-form. Picked header values are trimmed; the first of duplicates wins; a value the
 * header section does not contain has p == NULL. Framing: Transfer-Encoding ending in chunked
 * gives CHUNKED (Content-Length is then ignored), else a non-zero Content-Length gives LENGTH,
 * else NONE (Content-Length: 0 included); content_length is 0 unless framing is LENGTH.
 * INVALID also covers disagreeing or malformed Content-Length and a Transfer-Encoding whose
 * final coding is not chunked (RFC 9112 section 6.3). Slices longer than 65535 are cut.
 */
enum http1_result http1_parse_request(const uint8_t *buf, size_t len, struct http1_request *out);
/*
 * Parse a response head at buf; head_request says the request was HEAD (no body whatever
 * the length says). 1xx responses parse as OK with framing NONE (the final response follows);
 * so do 204 and 304. Otherwise: chunked as final coding gives CHUNKED, another final coding
 * UNTIL_CLOSE, a non-zero Content-Length LENGTH, Content-Length: 0 NONE, no length UNTIL_CLOSE.
 * A 2xx answer to CONNECT starts a tunnel: the caller knows the method, the parser does not.
 */
enum http1_result http1_parse_response(const uint8_t *buf, size_t len, bool head_request,
				       struct http1_response *out);

/*
 * Chunked body tracking over the bytes that are known. The decoder is incremental: feed it
 * consecutive pieces; it says when the last chunk and trailers ended.
 */
struct http1_chunked {
	uint8_t state;	    /* internal */
	uint8_t pad[3];
	uint32_t hex_digits;
	uint64_t remaining; /* bytes left in the current chunk (the size so far on a size line) */
	uint64_t data;	    /* the chunks' data bytes so far: the body's size, once DONE */
};
enum http1_chunk_result {
	HTTP1_CHUNK_MORE = 0,	/* all input consumed, body not over */
	HTTP1_CHUNK_DONE = 1,	/* body over; *used says how many input bytes belonged to it */
	HTTP1_CHUNK_ERROR = 2, /* not valid chunked coding */
};
void http1_chunked_init(struct http1_chunked *c);
/*
 * Feed the next len bytes of the body. *used is len for MORE, the bytes up to and including
 * the final CRLF for DONE (what follows is the next message), and the offset of the offending
 * byte for ERROR. Once DONE or ERROR, later calls return the same with *used 0. Bare LF is
 * accepted for CRLF; chunk extensions and trailer fields are checked for stray bytes, not read.
 */
enum http1_chunk_result http1_chunked_feed(struct http1_chunked *c, const uint8_t *buf, size_t len,
					   size_t *used);
/*
 * Skip len unknown bytes (not captured) inside chunk data; returns false if they overrun it or
 * the tracker is not inside chunk data, and then the tracker is in ERROR (it lost its place).
 * Skipping 0 bytes always succeeds.
 */
bool http1_chunked_skip(struct http1_chunked *c, uint64_t len);

/*
 * A low-cardinality route from a path: segments that look like ids (all digits, UUIDs, long hex,
 * long mixed alphanumerics with digits) become "{id}". Writes a NUL-terminated string of at most
 * outsz - 1 bytes into out and returns its length (0 and nothing written when outsz is 0); a
 * result that does not fit is cut. A path that is empty or is not origin-form yields "/". The
 * path ends at '?', '#' or any byte a request-target cannot hold (controls, space).
 */
size_t http_route_from_path(const char *path, size_t len, char *out, size_t outsz);

#endif /* SONDE_HTTP1_H */
