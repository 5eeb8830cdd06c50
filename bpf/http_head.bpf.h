/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What header propagation needs to know of an HTTP/1.x request head, found by looking at words,
 * not bytes: whether the bytes start with a request line of a known method and end it with
 * " HTTP/1.x", where the head ends (its empty line), and whether it already carries a trace
 * context (traceparent, b3, X-B3-*). Also the W3C traceparent value parser and the hex writer.
 *
 * The scanner reads eight bytes at a time and finds line feeds with the "has zero byte" trick;
 * at each line start it compares the first word with the header names it cares about. A head of
 * L bytes and N lines costs about L/8 + N steps. It is written once as a macro over a word
 * reader, because the receive program scans a copy of the head in a per-CPU buffer and the
 * sk_msg program scans the message in place (packet memory, bounds checked against data_end).
 */
#ifndef SONDE_HTTP_HEAD_BPF_H
#define SONDE_HTTP_HEAD_BPF_H

/* Eight bytes as the little-endian word a load of them gives. */
#define W8(a, b, c, d, e, f, g, h)                                                             \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
#define LOW_BYTES(n) ((n) >= 8 ? ~0ULL : (1ULL << (8 * (n))) - 1)

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Letters to lower case; digits, '-', ':' and ' ' are unchanged by it. */
#define LOWER 0x2020202020202020ULL

/* One bit (0x80) set in each byte of w that is a line feed; the lowest one is exact. */
static __always_inline __u64 lf_bytes(__u64 w)
{
	__u64 x = w ^ (ONES * '\n');

	return (x - ONES) & ~x & HIGHS;
}

/* Index of the byte that holds the lowest bit of m (m has bits only at 0x80 of bytes). */
static __always_inline __u32 lowest_byte(__u64 m)
{
	m &= -m;
	return (__u32)(((((m >> 7) - 1) & ONES) * ONES) >> 56);
}

/* Length of the method and its space when w (the first word of a message) starts with a known
 * method, else 0. */
static __always_inline __u32 request_method_len(__u64 w)
{
	__u64 w4 = w & LOW_BYTES(4), w5 = w & LOW_BYTES(5), w6 = w & LOW_BYTES(6);

	if (w4 == W8('G', 'E', 'T', ' ', 0, 0, 0, 0) || w4 == W8('P', 'U', 'T', ' ', 0, 0, 0, 0))
		return 4;
	if (w5 == W8('P', 'O', 'S', 'T', ' ', 0, 0, 0) || w5 == W8('H', 'E', 'A', 'D', ' ', 0, 0, 0))
		return 5;
	if (w6 == W8('P', 'A', 'T', 'C', 'H', ' ', 0, 0) ||
	    w6 == W8('T', 'R', 'A', 'C', 'E', ' ', 0, 0))
		return 6;
	if ((w & LOW_BYTES(7)) == W8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0))
		return 7;
	if (w == W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' ') ||
	    w == W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '))
		return 8;
	return 0;
}

/*
 * The status code of a final HTTP/1.x response whose first bytes are s[0..16) ("HTTP/1.1 200 "
 * or "HTTP/1.0 404\r"), when that is what they are and the code is 200..599; else 0 (interim
 * and 101 responses, anything else: the caller records those in full).
 */
static __always_inline __u16 final_status(const __u8 *s)
{
	__u64 w = *(const __u64 *)s;
	__u16 code;

	if (w != W8('H', 'T', 'T', 'P', '/', '1', '.', '1') &&
	    w != W8('H', 'T', 'T', 'P', '/', '1', '.', '0'))
		return 0;
	if (s[8] != ' ' || s[9] < '2' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9' || (s[12] != ' ' && s[12] != '\r'))
		return 0;
	code = (__u16)(s[9] - '0') * 100 + (__u16)(s[10] - '0') * 10 + (__u16)(s[11] - '0');
	return code;
}

/* Whether s (13 bytes) starts an HTTP/1.1 101 (Switching Protocols) response. */
static __always_inline bool switching_protocols(const __u8 *s)
{
	return s[0] == 'H' && s[1] == 'T' && s[2] == 'T' && s[3] == 'P' && s[4] == '/' &&
	       s[5] == '1' && s[6] == '.' && s[7] == '1' && s[8] == ' ' && s[9] == '1' &&
	       s[10] == '0' && s[11] == '1' && (s[12] == ' ' || s[12] == '\r');
}

/*
 * What the scanner found, offsets from the start of the message. Each offset has its own flag:
 * the verifier must never see a branch on an offset (see SCAN_HEAD), only on the flags.
 */
struct head_scan {
	__u32 head_end; /* with has_end: the empty line that ends the head (its '\r') */
	__u32 tp;	/* with has_tp: the start of a traceparent line (the scan stops there) */
	__u8 has_end;
	__u8 has_tp;
	__u8 line1;	/* the request line's end was seen */
	__u8 http1;	/* ... and it is " HTTP/1.0\r" or " HTTP/1.1\r" */
	__u8 b3;	/* a b3 or X-B3-* header is present (the scan stops there) */
	__u8 bare_lf;	/* the head ends with a bare LF (no CRLF to copy) */
};

/* The 8 bytes that end just before byte k of word cur (prev is the word before it). */
#define WORD_BEFORE(prev, cur, k) ((k) ? ((prev) >> (8 * (k))) | ((cur) << ((64 - 8 * (k)) & 63)) : (prev))

/*
 * Scan the first len bytes (16 <= len <= SONDE_HEAD_SCAN_MAX). READ(off) gives the word at a
 * multiple of 8 below len with every byte at and past len zero: a zero byte is never a line
 * feed nor part of a header name, so no test needs to know how many bytes are left. Stops at the
 * head's end, or at a trace context header.
 *
 * The shape is for the verifier. The outer loop walks aligned words at offsets it knows, the
 * inner one the line feeds of one word; the bytes around a line feed are assembled from that
 * word and its neighbours with shifts. No value read from the data addresses memory, and no
 * branch compares two values the verifier could bound (such a branch makes it track exact
 * ranges, and then no two paths through the loop look alike): an earlier loop that did either
 * exceeded its million instructions.
 */
#define SCAN_HEAD(READ, len, r)                                                                \
	do {                                                                                   \
		__u64 __pp = 0, __p = 0, __w = 0, __nw;                                        \
		__u32 __i, __j;                                                                \
		bool __done = false;                                                           \
		(r)->head_end = (r)->tp = 0;                                                   \
		(r)->has_end = (r)->has_tp = 0;                                                \
		(r)->line1 = (r)->http1 = (r)->b3 = (r)->bare_lf = 0;                          \
		__nw = READ(0);                                                                \
		for (__i = 0; __i < SONDE_HEAD_SCAN_MAX / 8 && !__done; __i++) {               \
			__u64 __m;                                                             \
			if (__i * 8 >= (len))                                                  \
				break;                                                         \
			__pp = __p;                                                            \
			__p = __w;                                                             \
			__w = __nw;                                                            \
			__nw = (__i + 1) * 8 < (len) ? READ((__i + 1) * 8) : 0;                \
			__m = lf_bytes(__w);                                                   \
			for (__j = 0; __j < 8 && __m; __j++) {                                 \
				__u32 __k = lowest_byte(__m);                                  \
				__u64 __lw, __lc;                                              \
				__m &= __m - 1;                                                \
				if (!(r)->line1) {                                             \
					__u64 __hi = WORD_BEFORE(__p, __w, __k);               \
					__u64 __lo = WORD_BEFORE(__pp, __p, __k);              \
					(r)->line1 = 1;                                        \
					(r)->http1 = (__hi == W8('T', 'T', 'P', '/', '1', '.', '1', '\r') || \
						      __hi == W8('T', 'T', 'P', '/', '1', '.', '0', '\r')) && \
						     (__lo >> 48) == W8(' ', 'H', 0, 0, 0, 0, 0, 0); \
				}                                                              \
				__lw = __k == 7 ? __nw                                         \
						: (__w >> ((8 * (__k + 1)) & 63)) |            \
							  (__nw << ((56 - 8 * __k) & 63));     \
				if ((__lw & 0xff) == '\n') {                                   \
					(r)->bare_lf = 1;                                      \
					__done = true;                                         \
					break;                                                 \
				}                                                              \
				if ((__lw & 0xffff) == W8('\r', '\n', 0, 0, 0, 0, 0, 0)) {     \
					(r)->head_end = __i * 8 + __k + 1;                     \
					(r)->has_end = 1;                                      \
					__done = true;                                         \
					break;                                                 \
				}                                                              \
				__lc = __lw | LOWER;                                           \
				if (__lc == W8('t', 'r', 'a', 'c', 'e', 'p', 'a', 'r')) {      \
					(r)->tp = __i * 8 + __k + 1;                           \
					(r)->has_tp = 1;                                       \
					__done = true;                                         \
					break;                                                 \
				}                                                              \
				if ((__lc & LOW_BYTES(3)) == W8('b', '3', ':', 0, 0, 0, 0, 0) || \
				    (__lc & LOW_BYTES(5)) == W8('x', '-', 'b', '3', '-', 0, 0, 0)) { \
					(r)->b3 = 1;                                           \
					__done = true;                                         \
					break;                                                 \
				}                                                              \
			}                                                                      \
		}                                                                              \
	} while (0)

/* A lower-case hex digit's value, or 16 for anything else (upper case is not W3C). */
static __always_inline __u8 hex_value(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return 16;
}

static __always_inline __u8 hex_digit(__u8 v)
{
	return v < 10 ? '0' + v : 'a' + v - 10;
}

/* Random ids, never all zero (W3C: an all-zero id is invalid). */
static __always_inline void random_ids(__u8 *trace_id, __u8 *span_id)
{
	__u32 *t = (__u32 *)trace_id, *s = (__u32 *)span_id;

	if (trace_id) {
		t[0] = bpf_get_prandom_u32();
		t[1] = bpf_get_prandom_u32();
		t[2] = bpf_get_prandom_u32();
		t[3] = bpf_get_prandom_u32() | 1;
	}
	s[0] = bpf_get_prandom_u32();
	s[1] = bpf_get_prandom_u32() | 1;
}

/* n bytes of hex at p into out; false on any character that is not lower-case hex. */
static __always_inline bool parse_hex(const __u8 *p, __u8 *out, __u32 n)
{
	__u32 i;

	for (i = 0; i < n; i++) {
		__u8 hi = hex_value(p[2 * i]), lo = hex_value(p[2 * i + 1]);

		if ((hi | lo) & 16)
			return false;
		out[i] = hi << 4 | lo;
	}
	return true;
}

static __always_inline bool all_zero(const __u8 *p, __u32 n)
{
	__u8 acc = 0;
	__u32 i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return !acc;
}

/* Bytes of a traceparent line the parser looks at: the name, up to 4 blanks, the value and the
 * byte after it. */
#define TRACEPARENT_PARSE_BYTES 72

/*
 * A traceparent line, copied from its first byte into line (len bytes of it are real):
 * "traceparent:", optional blanks, then exactly "00-<32 hex>-<16 hex>-<2 hex>" and the end of
 * the value. True with the caller's trace id, span id (the parent of the server span) and flags
 * when valid: version 00, lower-case hex, non-zero ids. Anything else is ignored, never trusted.
 */
static __always_inline bool parse_traceparent(const __u8 *line, __u32 len, __u8 *trace_id,
					      __u8 *parent_id, __u8 *flags)
{
	const __u8 *v;
	__u32 blanks;
	__u8 c;

	if ((line[8] | 0x20) != 'e' || (line[9] | 0x20) != 'n' || (line[10] | 0x20) != 't' ||
	    line[11] != ':')
		return false;
	for (blanks = 0; blanks < 4; blanks++)
		if (line[12 + blanks] != ' ' && line[12 + blanks] != '\t')
			break;
	/* The 55 characters and the one after them (the value's end) must be real bytes. */
	if (12 + blanks + 55 >= len)
		return false;
	/* One of five fixed places: constant offsets from here on. */
	switch (blanks) {
	case 0: v = line + 12; break;
	case 1: v = line + 13; break;
	case 2: v = line + 14; break;
	case 3: v = line + 15; break;
	default: return false;
	}
	if (v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return false;
	c = v[55];
	if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
		return false;
	if (!parse_hex(v + 3, trace_id, 16) || !parse_hex(v + 36, parent_id, 8) ||
	    !parse_hex(v + 53, flags, 1))
		return false;
	return !all_zero(trace_id, 16) && !all_zero(parent_id, 8);
}

#endif
