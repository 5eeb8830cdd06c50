/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace context carried by a request: W3C traceparent, B3 single header, B3 multi headers,
 * Jaeger's uber-trace-id.
 * Pure parsers; an invalid header (bad length, bad version, all-zero ids) is rejected, never
 * half-trusted.
 */
#ifndef SONDE_TRACECONTEXT_H
#define SONDE_TRACECONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trace_context {
	uint8_t trace_id[16];
	uint8_t span_id[8]; /* the caller's span: our parent */
	uint8_t flags;	    /* bit 0: sampled */
};

bool tracecontext_parse_traceparent(const char *s, size_t len, struct trace_context *out);
bool tracecontext_parse_b3(const char *s, size_t len, struct trace_context *out);
bool tracecontext_parse_b3_multi(const char *trace_id, size_t tlen, const char *span_id,
				 size_t slen, const char *sampled, size_t smlen,
				 struct trace_context *out);
/*
 * Jaeger's uber-trace-id, "{trace-id}:{span-id}:{parent-span-id}:{flags}": ids in hex of up to
 * 32 and 16 digits (shorter ones zero-padded on the left), flags in hex (bit 0: sampled); the
 * colons may come URL-encoded as %3A.
 */
bool tracecontext_parse_uber(const char *s, size_t len, struct trace_context *out);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void tracecontext_hex(const uint8_t *id, size_t len, char *out);

#endif /* SONDE_TRACECONTEXT_H */
