/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The OTLP exporter's pure parts, kept apart from the HTTP machinery so that unit tests and
 * fuzzers can call them directly: encoding a batch of spans as an ExportTraceServiceRequest,
 * decoding the response's partial_success, and the small parsers and policies of OTLP/HTTP
 * (the headers option, Retry-After, backoff, which answers are retried).
 */
#ifndef SONDE_OTLP_ENCODE_H
#define SONDE_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../span.h"

#ifndef SONDE_VERSION
#define SONDE_VERSION "0.0.0"
#endif

/* The InstrumentationScope every sonde span is reported under. */
#define OTLP_SCOPE_NAME "sonde"

/*
 * Encode n spans as one ExportTraceServiceRequest, one ResourceSpans per distinct s->res (in
 * first-seen order) with a single ScopeSpans each. Strings that are not valid UTF-8 are repaired
 * with U+FFFD, because proto3 receivers reject the whole request otherwise. Written straight in
 * the protobuf wire format, without protobuf-c. On success *out is a malloc'ed buffer the caller
 * frees; returns 0 or -ENOMEM / -EINVAL.
 */
int otlp__encode(const struct span *const *spans, size_t n, uint8_t **out, size_t *out_len);

/*
 * The same in two steps, which is how the exporter uses it: each span encoded once, when it is
 * submitted (otlp__span_encode), and a request assembled later from those bytes
 * (otlp__assemble); otlp__encode() is exactly these two steps.
 *
 * otlp__span_encode() writes s as it appears inside a ScopeSpans (the spans field's tag and
 * length, then the Span message) into the encoder's buffer and points *out at it, valid until
 * the encoder's next call. The encoder keeps attribute keys' lengths by pointer from span to
 * span: keys are static strings (span.h). Returns 0 or -ENOMEM.
 */
struct otlp_span_encoder;
struct otlp_span_encoder *otlp__span_encoder_new(void);
void otlp__span_encoder_free(struct otlp_span_encoder *enc);
int otlp__span_encode(struct otlp_span_encoder *enc, const struct span *s, const uint8_t **out,
		      size_t *len);

/* A span's bytes from otlp__span_encode(), and the resource the span belongs to. */
struct otlp_encoded_span {
	const struct resource *res;
	const uint8_t *bytes;
	size_t len;
};

/* The request of n encoded spans, grouped by res as otlp__encode() groups them; same contract. */
int otlp__assemble(const struct otlp_encoded_span *spans, size_t n, uint8_t **out,
		   size_t *out_len);

/*
 * The same request built as a protobuf-c message tree and packed by protobuf-c: the reference
 * implementation, several times slower, which the tests require otlp__encode() to match byte for
 * byte. Same contract as otlp__encode().
 */
int otlp__encode_protobuf_c(const struct span *const *spans, size_t n, uint8_t **out,
			    size_t *out_len);

/*
 * Decode an ExportTraceServiceResponse body. An empty body is a full success. Returns 0 with
 * *rejected and msg (NUL-terminated, possibly truncated) filled, or -EBADMSG.
 */
int otlp__decode_response(const uint8_t *buf, size_t len, int64_t *rejected, char *msg,
			  size_t msg_size);

/*
 * Parse the OTEL_EXPORTER_OTLP_HEADERS form "k1=v1,k2=v2": keys and values are trimmed, values
 * are percent-decoded. cb is called per valid pair with NUL-terminated strings; a malformed pair
 * (no '=', empty key, a value that decodes to a control character) is reported to bad() when
 * given and skipped. Returns the number of valid pairs, or -ENOMEM.
 */
int otlp__parse_headers(const char *spec, void (*cb)(const char *key, const char *val, void *ctx),
			void (*bad)(const char *pair, void *ctx), void *ctx);

/*
 * A Retry-After header value as milliseconds from now: either delay-seconds or an HTTP-date
 * (IMF-fixdate). Returns -1 when the value is neither; a date in the past gives 0.
 */
int64_t otlp__parse_retry_after(const char *val, time_t now);

/*
 * Delay before retry number attempt (1 = first retry): exponential from 1 s, capped at 30 s,
 * with "equal jitter" (half fixed, half random, from rnd) so that many agents retrying after
 * one collector outage spread out instead of arriving together.
 */
uint64_t otlp__backoff_ms(unsigned int attempt, uint64_t rnd);

/*
 * Length of the valid UTF-8 sequence at p (n bytes at most), or 0 where there is none (a NUL, a
 * stray byte, an overlong form, a surrogate): what a string's repair replaces with U+FFFD.
 */
size_t otlp__utf8_seq_len(const unsigned char *p, size_t n);
/* [src, src + len) into dst (3 * len + 1 bytes) made valid UTF-8 that way, NUL-terminated; the
 * length written. */
size_t otlp__utf8_repair(char *dst, const char *src, size_t len);

/* The HTTP statuses the OTLP/HTTP spec calls retryable: 429, 502, 503, 504. */
int otlp__status_is_retryable(long status);

#endif /* SONDE_OTLP_ENCODE_H */
