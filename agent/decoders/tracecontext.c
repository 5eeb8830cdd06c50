// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Parsers for the trace-context headers sonde honours on incoming requests. W3C Trace Context:
 * "VV-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT-PPPPPPPPPPPPPPPP-FF", lower-case hex, version ff invalid,
 * version 00 exactly 55 characters, later versions may append "-..." fields. B3: 16 or 32 hex
 * digit trace ids (16 are left-padded with zeros), 16 hex digit span ids.
 */
#include <string.h>

#include "tracecontext.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode 2 * n lower-case hex digits into n bytes. */
static bool unhex(const char *s, size_t n, uint8_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* B3 allows upper-case hex in practice; fold it for unhex. */
static bool unhex_any_case(const char *s, size_t n, uint8_t *out)
{
	char buf[64];
	size_t i;

	if (2 * n > sizeof(buf))
		return false;
	for (i = 0; i < 2 * n; i++)
		buf[i] = (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 'a' : s[i];
	return unhex(buf, n, out);
}

bool tracecontext_parse_traceparent(const char *s, size_t len, struct trace_context *out)
{
	uint8_t version, flags;

	if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return false;
	if (!unhex(s, 1, &version) || version == 0xff)
		return false;
	if (version == 0 && len != 55)
		return false;
	if (len > 55 && s[55] != '-')
		return false;
	if (!unhex(s + 3, 16, out->trace_id) || !unhex(s + 36, 8, out->span_id) ||
	    !unhex(s + 53, 1, &flags))
		return false;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return false;
	out->flags = flags;
	return true;
}

static bool b3_trace_id(const char *s, size_t len, uint8_t out[16])
{
	memset(out, 0, 16);
	if (len == 32)
		return unhex_any_case(s, 16, out) && !all_zero(out, 16);
	if (len == 16)
		return unhex_any_case(s, 8, out + 8) && !all_zero(out, 16);
	return false;
}

bool tracecontext_parse_b3(const char *s, size_t len, struct trace_context *out)
{
	const char *dash = memchr(s, '-', len);
	size_t tl, rest;

	/* "0", "1", "d" alone carry a sampling decision only: no context to join. */
	if (!dash)
		return false;
	tl = dash - s;
	if (!b3_trace_id(s, tl, out->trace_id))
		return false;
	rest = len - tl - 1;
	if (rest < 16 || (rest > 16 && dash[17] != '-'))
		return false;
	if (!unhex_any_case(dash + 1, 8, out->span_id) || all_zero(out->span_id, 8))
		return false;
	out->flags = 1;
	if (rest > 17 && dash[18] == '0')
		out->flags = 0;
	return true;
}

bool tracecontext_parse_b3_multi(const char *trace_id, size_t tlen, const char *span_id,
				 size_t slen, const char *sampled, size_t smlen,
				 struct trace_context *out)
{
	if (!trace_id || !span_id || slen != 16)
		return false;
	if (!b3_trace_id(trace_id, tlen, out->trace_id))
		return false;
	if (!unhex_any_case(span_id, 8, out->span_id) || all_zero(out->span_id, 8))
		return false;
	out->flags = !(sampled && smlen == 1 && sampled[0] == '0');
	return true;
}

/* Hex of up to 2 * n digits, right-aligned into out (n bytes, zero-padded on the left). */
static bool unhex_padded(const char *s, size_t digits, uint8_t *out, size_t n)
{
	char buf[32];
	size_t i;

	if (!digits || digits > 2 * n)
		return false;
	memset(buf, '0', 2 * n);
	for (i = 0; i < digits; i++)
		buf[2 * n - digits + i] = s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i];
	return unhex(buf, n, out);
}

bool tracecontext_parse_uber(const char *s, size_t len, struct trace_context *out)
{
	char v[128];
	const char *part[4];
	size_t plen[4], n = 0, i, k = 0;
	uint8_t flags;

	/* The colons URL-encoded (%3A), as some clients send them, decoded first. */
	for (i = 0; i < len; i++) {
		if (n == sizeof(v))
			return false;
		if (s[i] == '%' && i + 2 < len && s[i + 1] == '3' && (s[i + 2] | 0x20) == 'a') {
			v[n++] = ':';
			i += 2;
		} else {
			v[n++] = s[i];
		}
	}
	part[0] = v;
	for (i = 0; i < n; i++) {
		if (v[i] != ':')
			continue;
		if (k == 3)
			return false;
		plen[k] = v + i - part[k];
		part[++k] = v + i + 1;
	}
	if (k != 3)
		return false;
	plen[3] = v + n - part[3];
	if (!unhex_padded(part[0], plen[0], out->trace_id, 16) ||
	    !unhex_padded(part[1], plen[1], out->span_id, 8) ||
	    !unhex_padded(part[3], plen[3], &flags, 1))
		return false;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return false;
	out->flags = flags & 1;
	return true;
}

void tracecontext_hex(const uint8_t *id, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * len] = 0;
}
