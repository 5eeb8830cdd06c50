/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A finished span as the assembler hands it to the exporters, and the resource (the traced
 * process) it belongs to. Spans are fixed-size with their strings stored inline, so that one is
 * built on the stack and handed over without an allocation; an exporter keeps what it needs
 * (the OTLP exporter encodes it at once and queues the bytes, export/otlp.c).
 */
#ifndef SONDE_SPAN_H
#define SONDE_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OTLP Span.SpanKind values. */
enum span_kind {
	SPAN_KIND_UNSPECIFIED = 0,
	SPAN_KIND_INTERNAL = 1,
	SPAN_KIND_SERVER = 2,
	SPAN_KIND_CLIENT = 3,
};

/* OTLP Status.StatusCode values. */
enum span_status {
	SPAN_STATUS_UNSET = 0,
	SPAN_STATUS_OK = 1,
	SPAN_STATUS_ERROR = 2,
};

enum attr_type {
	ATTR_STR = 1,
	ATTR_INT = 2,
	ATTR_BOOL = 3,
};

/* One attribute; string values live in the owner's str[] at [off, off + len). */
struct span_attr {
	const char *key; /* a static string: semantic-convention names are constants */
	uint8_t type;	 /* enum attr_type */
	uint16_t off;
	uint16_t len;
	int64_t i; /* ATTR_INT and ATTR_BOOL value */
};

#define SPAN_MAX_ATTRS 24
#define SPAN_STR_BYTES 1536
#define SPAN_NAME_BYTES 128

/* The process a span came from: OTLP Resource. Reference-counted, shared by its spans. */
#define RESOURCE_MAX_ATTRS 24
#define RESOURCE_STR_BYTES 2048
struct resource {
	int refcnt;
	uint32_t pid;
	uint16_t n_attrs;
	uint16_t str_used;
	struct span_attr attrs[RESOURCE_MAX_ATTRS];
	char str[RESOURCE_STR_BYTES];
};

struct span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero: a root span */
	uint64_t start_unix_ns;
	uint64_t end_unix_ns;
	uint8_t kind;	/* enum span_kind */
	uint8_t status; /* enum span_status */
	uint16_t n_attrs;
	uint16_t str_used;
	uint16_t trace_state_len; /* W3C tracestate, in str[] at trace_state_off; 0: none */
	uint16_t trace_state_off;
	struct resource *res; /* holds one reference while the span lives */
	char name[SPAN_NAME_BYTES];
	struct span_attr attrs[SPAN_MAX_ATTRS];
	char str[SPAN_STR_BYTES];
};

/* Attribute setters: return 0, or -ENOSPC when the span's attribute or string space is full. */
int span__set_str(struct span *s, const char *key, const char *val, size_t len);
int span__set_cstr(struct span *s, const char *key, const char *val);
int span__set_int(struct span *s, const char *key, int64_t val);
/*
 * The same for a key the span does not have yet (the caller knows: a fixed set of keys each
 * set once), without the search for an existing one: the per-span path of the assembler.
 */
int span__add_str(struct span *s, const char *key, const char *val, size_t len);
int span__add_cstr(struct span *s, const char *key, const char *val);
int span__add_int(struct span *s, const char *key, int64_t val);
/* The attribute's string value (not NUL-terminated: use attr->len). */
static inline const char *span__attr_str(const struct span *s, const struct span_attr *a)
{
	return s->str + a->off;
}
const struct span_attr *span__find_attr(const struct span *s, const char *key);
/* The W3C tracestate the span's context carries (kept in str[]); -ENOSPC when it does not fit. */
int span__set_trace_state(struct span *s, const char *val, size_t len);

struct resource *resource__new(uint32_t pid);
int resource__set_str(struct resource *r, const char *key, const char *val, size_t len);
int resource__set_cstr(struct resource *r, const char *key, const char *val);
int resource__set_int(struct resource *r, const char *key, int64_t val);
static inline const char *resource__attr_str(const struct resource *r, const struct span_attr *a)
{
	return r->str + a->off;
}
const struct span_attr *resource__find_attr(const struct resource *r, const char *key);
struct resource *resource__get(struct resource *r);
void resource__put(struct resource *r);

/* Random ids (never all zero), from a per-agent seeded generator. */
void span__new_trace_id(uint8_t id[16]);
void span__new_span_id(uint8_t id[8]);
bool span__id_is_zero(const uint8_t *id, size_t len);
/*
 * Whether the trace is kept at a sampling threshold (config.h, sample_threshold): its id's last
 * 56 bits, big-endian, are at least threshold; 0 keeps every trace.
 */
bool span__trace_sampled(const uint8_t trace_id[16], uint64_t threshold);

#endif /* SONDE_SPAN_H */
