/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer target for the HTTP/1.x decoders. Besides letting the sanitizers watch every read,
 * it checks properties that must hold for any input: results stay inside the buffer, a strict
 * prefix of a complete head is INCOMPLETE, the chunked tracker gives the same answer however
 * its input is split (and skipping data equals feeding it), and routes always fit their buffer.
 * A broken property aborts, so the fuzzer reports it like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/http1.h"

#define REQUIRE(cond)                                                                          \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                        \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* Deterministic per input, so that a reproducer replays the same splits. */
static uint64_t prng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t hash(const uint8_t *d, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ULL;
	return h | 1;
}

static void check_str(const struct http1_str *s, const uint8_t *d, size_t head_len)
{
	if (!s->len)
		return;
	REQUIRE((const uint8_t *)s->p >= d && (const uint8_t *)s->p + s->len <= d + head_len);
}

static void check_route(const char *path, size_t len)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 8, 16, 64 };
	char full[4096], small[64];
	size_t n, k, m;

	REQUIRE(http_route_from_path(path, len, small, 0) == 0);
	n = http_route_from_path(path, len, full, sizeof(full));
	REQUIRE(n < sizeof(full) && strlen(full) == n);
	REQUIRE(n >= 1 && full[0] == '/');
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(small, 'X', sizeof(small));
		m = http_route_from_path(path, len, small, sizes[k]);
		REQUIRE(m < sizes[k] && small[m] == '\0' && strlen(small) == m);
		REQUIRE(!memcmp(small, full, m));
		if (sizes[k] < sizeof(small))
			REQUIRE(small[sizes[k]] == 'X');
	}
}

/* Re-parse a prefix from an exact-size heap copy, so ASan catches any read past its end. */
static enum http1_result reparse(const uint8_t *d, size_t n, int kind)
{
	uint8_t *b = malloc(n ? n : 1);
	struct http1_request rq;
	struct http1_response rs;
	enum http1_result r;

	REQUIRE(b);
	memcpy(b, d, n);
	if (kind == 0)
		r = http1_parse_request(b, n, &rq);
	else
		r = http1_parse_response(b, n, kind == 2, &rs);
	free(b);
	return r;
}

static void check_prefixes(const uint8_t *d, size_t size, enum http1_result r, size_t head_len,
			   int kind, uint64_t *rnd)
{
	size_t k;

	if (r == HTTP1_OK) {
		REQUIRE(head_len > 0 && head_len <= size);
		REQUIRE(reparse(d, head_len, kind) == HTTP1_OK);
		REQUIRE(reparse(d, head_len - 1, kind) == HTTP1_INCOMPLETE);
		k = prng_next(rnd) % head_len;
		REQUIRE(reparse(d, k, kind) == HTTP1_INCOMPLETE);
	} else if (r == HTTP1_INCOMPLETE && size) {
		k = prng_next(rnd) % size;
		REQUIRE(reparse(d, k, kind) == HTTP1_INCOMPLETE);
	}
}

/*
 * The chunked tracker over d: once in one piece, then in random pieces (some empty), where a
 * piece that lands inside chunk data is sometimes skipped instead of fed. Both runs must end
 * the same way at the same offset.
 */
static void check_chunked(const uint8_t *d, size_t size, uint64_t *rnd)
{
	struct http1_chunked a, b, c2;
	enum http1_chunk_result ra, rb = HTTP1_CHUNK_MORE;
	size_t used_a, used, off = 0, k;

	http1_chunked_init(&a);
	ra = http1_chunked_feed(&a, d, size, &used_a);
	REQUIRE(used_a <= size);
	if (ra == HTTP1_CHUNK_MORE)
		REQUIRE(used_a == size);
	else
		REQUIRE(http1_chunked_feed(&a, d, size, &used) == ra && used == 0);

	http1_chunked_init(&b);
	for (;;) {
		k = (size_t)(prng_next(rnd) % 24);
		if (k > size - off)
			k = size - off;
		c2 = b;
		if (k && (prng_next(rnd) & 3) == 0 && http1_chunked_skip(&c2, k)) {
			/* skipping data must leave the tracker where feeding it would */
			rb = http1_chunked_feed(&b, d + off, k, &used);
			REQUIRE(rb == HTTP1_CHUNK_MORE && used == k);
			REQUIRE(!memcmp(&b, &c2, sizeof(b)));
		} else {
			rb = http1_chunked_feed(&b, d + off, k, &used);
			REQUIRE(used <= k);
		}
		if (rb != HTTP1_CHUNK_MORE) {
			off += used;
			break;
		}
		REQUIRE(used == k);
		off += k;
		if (off == size)
			break;
	}
	REQUIRE(rb == ra);
	REQUIRE(off == used_a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_request rq;
	struct http1_response rs;
	enum http1_result r;
	uint64_t rnd = hash(data, size);
	int head;

	http1_is_request_start(data, size);
	http1_is_response_start(data, size);

	r = http1_parse_request(data, size, &rq);
	check_prefixes(data, size, r, rq.head_len, 0, &rnd);
	if (r == HTTP1_OK) {
		check_str(&rq.method, data, rq.head_len);
		check_str(&rq.target, data, rq.head_len);
		check_str(&rq.path, data, rq.head_len);
		check_str(&rq.query, data, rq.head_len);
		check_str(&rq.host, data, rq.head_len);
		check_str(&rq.user_agent, data, rq.head_len);
		check_str(&rq.traceparent, data, rq.head_len);
		check_str(&rq.tracestate, data, rq.head_len);
		check_str(&rq.b3, data, rq.head_len);
		check_str(&rq.x_b3_traceid, data, rq.head_len);
		check_str(&rq.x_b3_spanid, data, rq.head_len);
		check_str(&rq.x_b3_sampled, data, rq.head_len);
		REQUIRE(rq.method.len > 0 && rq.target.len > 0);
		/* path and query lie inside the target */
		if (rq.path.len)
			REQUIRE(rq.path.p >= rq.target.p &&
				rq.path.p + rq.path.len <= rq.target.p + rq.target.len);
		if (rq.query.len)
			REQUIRE(rq.query.p > rq.target.p &&
				rq.query.p + rq.query.len <= rq.target.p + rq.target.len);
		REQUIRE(rq.framing <= HTTP1_BODY_CHUNKED);
		REQUIRE(rq.framing == HTTP1_BODY_LENGTH ? rq.content_length > 0 :
							  rq.content_length == 0);
		check_route(rq.path.p, rq.path.len);
		if (rq.framing == HTTP1_BODY_CHUNKED)
			check_chunked(data + rq.head_len, size - rq.head_len, &rnd);
	}

	for (head = 0; head < 2; head++) {
		r = http1_parse_response(data, size, head, &rs);
		check_prefixes(data, size, r, rs.head_len, 1 + head, &rnd);
		if (r != HTTP1_OK)
			continue;
		REQUIRE(rs.status >= 100 && rs.status <= 599);
		REQUIRE(rs.framing <= HTTP1_BODY_UNTIL_CLOSE);
		REQUIRE(rs.framing == HTTP1_BODY_LENGTH ? rs.content_length > 0 :
							  rs.content_length == 0);
		if (head)
			REQUIRE(rs.framing == HTTP1_BODY_NONE);
		if (rs.framing == HTTP1_BODY_CHUNKED)
			check_chunked(data + rs.head_len, size - rs.head_len, &rnd);
	}

	check_chunked(data, size, &rnd);
	check_route((const char *)data, size);
	return 0;
}
