// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Pure OTLP encoding and decoding: spans to ExportTraceServiceRequest bytes, the response's
 * partial_success back, and the small OTLP/HTTP parsers and policies. No I/O and no global
 * state, so tests and fuzzers drive it directly. Requests are written by a direct wire-format
 * encoder (otlp__encode()), because building and packing a protobuf-c message tree was a large
 * share of the agent's CPU under load; otlp__encode_protobuf_c() keeps the protobuf-c way as the
 * reference that the tests hold the direct encoder to, byte for byte. The reference's message
 * tree lives in a bump arena freed in one go: a few hundred small objects that all die together.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_encode.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse pb_response;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

#define request_packed_size \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size
#define request_pack opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack
#define REQUEST_INIT OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT
#define VALUE_CASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct arena *a, size_t size)
{
	struct chunk *c = a->head;
	void *p;

	size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when it is not valid. */
size_t otlp__utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return p[0] ? 1 : 0; /* NUL would cut the string short in protobuf-c */
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode are all invalid. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A NUL-terminated, valid UTF-8 copy of [s, s + len) in the arena. */
static char *arena_utf8(struct arena *a, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out;
	size_t i = 0;

	/* Fast path: most values are plain ASCII and are copied as they are. */
	while (i < len && p[i] && p[i] < 0x80)
		i++;
	if (i == len) {
		out = arena_alloc(a, len + 1);
		if (out) {
			memcpy(out, s, len);
			out[len] = '\0';
		}
		return out;
	}
	/* Each bad byte becomes the 3-byte U+FFFD at worst. */
	out = arena_alloc(a, len * 3 + 1);
	if (out)
		otlp__utf8_repair(out, s, len);
	return out;
}

size_t otlp__utf8_repair(char *dst, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t i = 0, k;
	char *o = dst;

	while (i < len) {
		k = otlp__utf8_seq_len(p + i, len - i);
		if (k) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return (size_t)(o - dst);
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Fill kvs/ptrs from a span's or resource's attribute table and string area. */
static int encode_attrs(struct arena *a, const struct span_attr *attrs, size_t n, const char *str,
			pb_kv ***out, size_t *n_out)
{
	pb_kv **ptrs, *kvs;
	pb_any *vals;
	size_t i, k = 0;

	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	ptrs = arena_alloc(a, n * sizeof(*ptrs));
	kvs = arena_alloc(a, n * sizeof(*kvs));
	vals = arena_alloc(a, n * sizeof(*vals));
	if (!ptrs || !kvs || !vals)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct span_attr *at = &attrs[i];
		pb_any *v = &vals[k];
		pb_kv *kv = &kvs[k];

		if (!at->key)
			continue;
		opentelemetry__proto__common__v1__any_value__init(v);
		switch (at->type) {
		case ATTR_STR:
			v->value_case = VALUE_CASE(STRING_VALUE);
			v->string_value = arena_utf8(a, str + at->off, at->len);
			if (!v->string_value)
				return -ENOMEM;
			break;
		case ATTR_INT:
			v->value_case = VALUE_CASE(INT_VALUE);
			v->int_value = at->i;
			break;
		case ATTR_BOOL:
			v->value_case = VALUE_CASE(BOOL_VALUE);
			v->bool_value = at->i != 0;
			break;
		default:
			continue; /* an unknown type is skipped rather than sent wrong */
		}
		opentelemetry__proto__common__v1__key_value__init(kv);
		/* Keys are static NUL-terminated constants: used in place when plain ASCII. */
		kv->key = is_ascii(at->key) ? (char *)at->key
					    : arena_utf8(a, at->key, strlen(at->key));
		if (!kv->key)
			return -ENOMEM;
		kv->value = v;
		ptrs[k++] = kv;
	}
	*out = ptrs;
	*n_out = k;
	return 0;
}

static int encode_span(struct arena *a, const struct span *s, pb_span *ps)
{
	size_t n_attrs = s->n_attrs < SPAN_MAX_ATTRS ? s->n_attrs : SPAN_MAX_ATTRS;
	uint8_t *ids;
	int err;

	opentelemetry__proto__trace__v1__span__init(ps);
	/* The ids are copied so the request never points into spans the caller may recycle. */
	ids = arena_alloc(a, 32);
	if (!ids)
		return -ENOMEM;
	memcpy(ids, s->trace_id, 16);
	memcpy(ids + 16, s->span_id, 8);
	memcpy(ids + 24, s->parent_span_id, 8);
	ps->trace_id = (ProtobufCBinaryData){ .len = 16, .data = ids };
	ps->span_id = (ProtobufCBinaryData){ .len = 8, .data = ids + 16 };
	/* A root span has no parent field at all, as OTLP asks. */
	if (!span__id_is_zero(s->parent_span_id, 8))
		ps->parent_span_id = (ProtobufCBinaryData){ .len = 8, .data = ids + 24 };
	/* W3C "sampled": sonde exports only what it keeps. */
	ps->flags = 0x01;
	if (s->trace_state_len) {
		ps->trace_state = arena_utf8(a, s->str + s->trace_state_off, s->trace_state_len);
		if (!ps->trace_state)
			return -ENOMEM;
	}
	ps->name = arena_utf8(a, s->name, strnlen(s->name, sizeof(s->name)));
	if (!ps->name)
		return -ENOMEM;
	ps->kind = s->kind <= 5 ? (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind : 0;
	ps->start_time_unix_nano = s->start_unix_ns;
	ps->end_time_unix_nano = s->end_unix_ns;
	err = encode_attrs(a, s->attrs, n_attrs, s->str, &ps->attributes, &ps->n_attributes);
	if (err)
		return err;
	ps->dropped_attributes_count = s->n_attrs - n_attrs;
	if (s->status != SPAN_STATUS_UNSET) {
		pb_status *st = arena_alloc(a, sizeof(*st));

		if (!st)
			return -ENOMEM;
		opentelemetry__proto__trace__v1__status__init(st);
		st->code = s->status <= 2 ? (Opentelemetry__Proto__Trace__V1__Status__StatusCode)
						    s->status
					  : 0;
		ps->status = st;
	}
	return 0;
}

/* One ResourceSpans with its single ScopeSpans, sized for n spans. */
static pb_resource_spans *new_group(struct arena *a, const struct resource *res, size_t n)
{
	pb_resource_spans *rs = arena_alloc(a, sizeof(*rs));
	pb_scope_spans *ss = arena_alloc(a, sizeof(*ss));
	pb_scope_spans **ssp = arena_alloc(a, sizeof(*ssp));
	pb_scope *scope = arena_alloc(a, sizeof(*scope));
	pb_span **spans = arena_alloc(a, n * sizeof(*spans));

	if (!rs || !ss || !ssp || !scope || !spans)
		return NULL;
	opentelemetry__proto__trace__v1__resource_spans__init(rs);
	opentelemetry__proto__trace__v1__scope_spans__init(ss);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	scope->name = OTLP_SCOPE_NAME;
	scope->version = SONDE_VERSION;
	ss->scope = scope;
	ss->spans = spans;
	ssp[0] = ss;
	rs->scope_spans = ssp;
	rs->n_scope_spans = 1;
	if (res) {
		pb_resource *r = arena_alloc(a, sizeof(*r));
		size_t n_attrs = res->n_attrs < RESOURCE_MAX_ATTRS ? res->n_attrs
								   : RESOURCE_MAX_ATTRS;

		if (!r)
			return NULL;
		opentelemetry__proto__resource__v1__resource__init(r);
		if (encode_attrs(a, res->attrs, n_attrs, res->str, &r->attributes,
				 &r->n_attributes))
			return NULL;
		r->dropped_attributes_count = res->n_attrs - n_attrs;
		rs->resource = r;
	}
	return rs;
}

/*
 * The reference encoder: the same request through the protobuf-c generated messages. Not on
 * the export path; the unit tests and the fuzzer compare otlp__encode() with it.
 */
int otlp__encode_protobuf_c(const struct span *const *spans, size_t n, uint8_t **out,
			    size_t *out_len)
{
	pb_request req = REQUEST_INIT;
	const struct resource **keys = NULL;
	struct arena a = {};
	size_t i, g, n_groups = 0;
	uint8_t *buf = NULL;
	size_t *counts = NULL;
	int err = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (n && !spans)
		return -EINVAL;
	keys = calloc(n ? n : 1, sizeof(*keys));
	counts = calloc(n ? n : 1, sizeof(*counts));
	req.resource_spans = arena_alloc(&a, (n ? n : 1) * sizeof(*req.resource_spans));
	if (!keys || !counts || !req.resource_spans)
		goto out;

	/*
	 * Group by resource pointer in first-seen order. A batch holds a few processes at most, so
	 * the linear search is cheaper than hashing.
	 */
	for (i = 0; i < n; i++) {
		for (g = 0; g < n_groups && keys[g] != spans[i]->res; g++)
			;
		if (g == n_groups)
			keys[n_groups++] = spans[i]->res;
		counts[g]++;
	}
	for (g = 0; g < n_groups; g++) {
		req.resource_spans[g] = new_group(&a, keys[g], counts[g]);
		if (!req.resource_spans[g])
			goto out;
	}
	req.n_resource_spans = n_groups;
	for (i = 0; i < n; i++) {
		pb_scope_spans *ss;
		pb_span *ps;

		for (g = 0; keys[g] != spans[i]->res; g++)
			;
		ss = req.resource_spans[g]->scope_spans[0];
		ps = arena_alloc(&a, sizeof(*ps));
		if (!ps)
			goto out;
		err = encode_span(&a, spans[i], ps);
		if (err)
			goto out;
		err = -ENOMEM;
		ss->spans[ss->n_spans++] = ps;
	}

	*out_len = request_packed_size(&req);
	buf = malloc(*out_len ? *out_len : 1);
	if (!buf)
		goto out;
	request_pack(&req, buf);
	*out = buf;
	err = 0;
out:
	if (err)
		*out_len = 0;
	arena_free(&a);
	free(keys);
	free(counts);
	return err;
}

/*
 * The direct encoder, the one the exporter uses: ExportTraceServiceRequest written straight in
 * the protobuf wire format in one pass, without a message tree. A length-delimited message
 * needs its length before its content: a KeyValue's is computed first (kv_measure()), because it
 * depends only on a key and a value; a Span, a Resource and the groups get a slot that is filled
 * once they are written (open_field(), close_field()). Field numbers are those of the .proto
 * files in proto/. Like protobuf-c, it leaves out a field that holds the proto3 default (0, an
 * empty string or bytes, no message) and writes fields in field-number order; a member of the
 * AnyValue oneof is written even when it is zero or empty, because it says which case is set.
 * Each mapping from sonde's structures (span kind, status, attribute types, limits) is the one of
 * the reference encoder above, which the tests hold this one to byte for byte.
 */
enum wire_type {
	WIRE_VARINT = 0,
	WIRE_I64 = 1,
	WIRE_LEN = 2,
	WIRE_I32 = 5,
};

#define TAG(field, type) ((uint32_t)(field) << 3 | (type))

/* ExportTraceServiceRequest (collector/trace/v1/trace_service.proto) */
#define REQUEST_RESOURCE_SPANS TAG(1, WIRE_LEN)
/* ResourceSpans, ScopeSpans (trace/v1/trace.proto) */
#define RS_RESOURCE TAG(1, WIRE_LEN)
#define RS_SCOPE_SPANS TAG(2, WIRE_LEN)
#define SS_SCOPE TAG(1, WIRE_LEN)
#define SS_SPANS TAG(2, WIRE_LEN)
/* Resource (resource/v1/resource.proto) */
#define RESOURCE_ATTRIBUTES TAG(1, WIRE_LEN)
#define RESOURCE_DROPPED TAG(2, WIRE_VARINT)
/* InstrumentationScope, KeyValue, AnyValue (common/v1/common.proto) */
#define SCOPE_NAME TAG(1, WIRE_LEN)
#define SCOPE_VERSION TAG(2, WIRE_LEN)
#define KV_KEY TAG(1, WIRE_LEN)
#define KV_VALUE TAG(2, WIRE_LEN)
#define ANY_STRING TAG(1, WIRE_LEN)
#define ANY_BOOL TAG(2, WIRE_VARINT)
#define ANY_INT TAG(3, WIRE_VARINT)
/* Span, Status (trace/v1/trace.proto) */
#define SPAN_TRACE_ID TAG(1, WIRE_LEN)
#define SPAN_SPAN_ID TAG(2, WIRE_LEN)
#define SPAN_TRACE_STATE TAG(3, WIRE_LEN)
#define SPAN_PARENT_SPAN_ID TAG(4, WIRE_LEN)
#define SPAN_NAME TAG(5, WIRE_LEN)
#define SPAN_KIND TAG(6, WIRE_VARINT)
#define SPAN_START TAG(7, WIRE_I64)
#define SPAN_END TAG(8, WIRE_I64)
#define SPAN_ATTRIBUTES TAG(9, WIRE_LEN)
#define SPAN_DROPPED TAG(10, WIRE_VARINT)
#define SPAN_STATUS TAG(15, WIRE_LEN)
#define SPAN_FLAGS TAG(16, WIRE_I32) /* the only tag of two bytes */
#define STATUS_CODE TAG(3, WIRE_VARINT)

static inline size_t varint_size(uint64_t v)
{
	if (v < 0x80)
		return 1; /* tags, most lengths and numbers */
	/* 7 bits a byte: (bits * 9 + 64) / 64 is ceil(bits / 7) for 1..64 bits. */
	return ((64 - __builtin_clzll(v)) * 9 + 64) / 64;
}

static inline size_t len_field_size(uint32_t tag, size_t len)
{
	return varint_size(tag) + varint_size(len) + len;
}

static inline size_t varint_field_size(uint32_t tag, uint64_t v)
{
	return varint_size(tag) + varint_size(v);
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_tag_len(uint8_t *p, uint32_t tag, size_t len)
{
	return put_varint(put_varint(p, tag), len);
}

/* fixed64 and fixed32 are little-endian whatever the host; the compiler makes these one store. */
static inline uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	p[4] = (uint8_t)(v >> 32);
	p[5] = (uint8_t)(v >> 40);
	p[6] = (uint8_t)(v >> 48);
	p[7] = (uint8_t)(v >> 56);
	return p + 8;
}

static inline uint8_t *put_fixed32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

/*
 * memcpy() for the short keys and values of spans without the call, which showed in the
 * encoder's profile: two overlapping loads and stores cover 4 to 32 bytes.
 */
static inline uint8_t *put_bytes(uint8_t *o, const void *src, size_t n)
{
	const uint8_t *s = src;
	uint64_t a, b, c, d;
	uint32_t x, y;

	if (n > 32) {
		memcpy(o, s, n);
	} else if (n >= 16) {
		memcpy(&a, s, 8);
		memcpy(&b, s + 8, 8);
		memcpy(&c, s + n - 16, 8);
		memcpy(&d, s + n - 8, 8);
		memcpy(o, &a, 8);
		memcpy(o + 8, &b, 8);
		memcpy(o + n - 16, &c, 8);
		memcpy(o + n - 8, &d, 8);
	} else if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(o, &a, 8);
		memcpy(o + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		memcpy(o, &x, 4);
		memcpy(o + n - 4, &y, 4);
	} else if (n) {
		o[0] = s[0];
		o[n / 2] = s[n / 2];
		o[n - 1] = s[n - 1];
	}
	return o + n;
}

/*
 * Whether the n bytes at p are all plain ASCII other than NUL, i.e. need no repair. Nearly every
 * string sonde sends is, so this is checked a word at a time, the tail by overlapping loads:
 * (w - 0x01…) | w has a high bit set when a byte of w is 0 or >= 0x80, and none otherwise.
 */
static inline bool ascii_clean(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	const uint32_t ones32 = 0x01010101, highs32 = 0x80808080;
	uint64_t w, bad = 0;
	uint32_t a, b;

	if (n >= 8) {
		for (; n > 8; p += 8, n -= 8) {
			memcpy(&w, p, 8);
			bad |= ((w - ones) | w) & highs;
		}
		memcpy(&w, p + n - 8, 8);
		return !(bad | (((w - ones) | w) & highs));
	}
	if (n >= 4) {
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		return !((((a - ones32) | a) | ((b - ones32) | b)) & highs32);
	}
	/* 0 to 3 bytes: p[0], p[n / 2] and p[n - 1] are all of them. */
	return !n || (p[0] - 1u < 0x7f && p[n / 2] - 1u < 0x7f && p[n - 1] - 1u < 0x7f);
}

/* How many of the n bytes at p are plain ASCII other than NUL before the first that is not. */
static size_t ascii_run(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] - 1u < 0x7f)
		i++;
	return i;
}

/*
 * The length of [s, s + n) once repaired as arena_utf8() does: each byte that starts no valid
 * UTF-8 sequence (NUL included) becomes the 3 bytes of U+FFFD. So the length is n exactly when
 * nothing needs repair, which put_utf8() relies on.
 */
static __attribute__((noinline)) size_t utf8_out_len_slow(const unsigned char *p, size_t n)
{
	size_t i, out, k;

	i = out = ascii_run(p, n);
	while (i < n) {
		k = otlp__utf8_seq_len(p + i, n - i);
		out += k ? k : 3;
		i += k ? k : 1;
		k = ascii_run(p + i, n - i);
		out += k;
		i += k;
	}
	return out;
}

/* The slow paths are apart so that the ASCII checks and copies inline where they are used. */
static inline size_t utf8_out_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	return ascii_clean(p, n) ? n : utf8_out_len_slow(p, n);
}

static __attribute__((noinline)) uint8_t *put_utf8_slow(uint8_t *o, const unsigned char *p,
							size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		k = ascii_run(p + i, n - i);
		memcpy(o, p + i, k);
		o += k;
		i += k;
		if (i == n)
			break;
		k = otlp__utf8_seq_len(p + i, n - i);
		if (k) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return o;
}

/* Write [s, s + n) repaired; out_len is utf8_out_len(s, n). */
static inline uint8_t *put_utf8(uint8_t *o, const char *s, size_t n, size_t out_len)
{
	if (out_len != n)
		return put_utf8_slow(o, (const unsigned char *)s, n);
	return put_bytes(o, s, n);
}

/*
 * Attribute keys are static strings, the same few dozen in every span of a batch: their length
 * and repaired length are found once a batch and kept here, by pointer (strlen() and the scan
 * showed in the encoder's profile). A key whose slot another key took is only counted again.
 */
#define KEY_CACHE_BITS 8
#define KEY_CACHE_SLOTS (1 << KEY_CACHE_BITS)

struct key_cache {
	struct key_slot {
		const char *key;
		size_t len; /* strlen(key) */
		size_t out; /* the key once repaired */
	} slot[KEY_CACHE_SLOTS];
};

static const struct key_slot *key_lookup(struct key_cache *kc, const char *key)
{
	/* Fibonacci hashing: literals sit a few bytes apart, the top bits of the product do not. */
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ULL;
	struct key_slot *ks = &kc->slot[h >> (64 - KEY_CACHE_BITS)];

	if (ks->key != key) {
		ks->key = key;
		ks->len = strlen(key);
		ks->out = utf8_out_len(key, ks->len);
	}
	return ks;
}

/* What one attribute takes as a KeyValue. */
struct kv_plan {
	size_t key_len; /* strlen(key) */
	size_t key_out; /* the key once repaired */
	size_t val_out; /* ATTR_STR: the value once repaired */
	size_t any_size; /* the AnyValue message */
	size_t kv_size;	 /* the KeyValue message */
};

/* Measure one attribute; false when it is not sent (no key, unknown type), as in encode_attrs(). */
static bool kv_measure(struct key_cache *kc, const struct span_attr *at, const char *str,
		       struct kv_plan *kp)
{
	const struct key_slot *ks;

	if (!at->key)
		return false;
	kp->val_out = 0;
	switch (at->type) {
	case ATTR_STR:
		kp->val_out = utf8_out_len(str + at->off, at->len);
		kp->any_size = len_field_size(ANY_STRING, kp->val_out);
		break;
	case ATTR_INT:
		/* int64 goes out as its two's complement: a negative value takes 10 bytes. */
		kp->any_size = varint_field_size(ANY_INT, (uint64_t)at->i);
		break;
	case ATTR_BOOL:
		kp->any_size = varint_field_size(ANY_BOOL, 1);
		break;
	default:
		return false;
	}
	ks = key_lookup(kc, at->key);
	kp->key_len = ks->len;
	kp->key_out = ks->out;
	kp->kv_size = (kp->key_out ? len_field_size(KV_KEY, kp->key_out) : 0) +
		      len_field_size(KV_VALUE, kp->any_size);
	return true;
}

static uint8_t *put_kv(uint8_t *p, const struct span_attr *at, const char *str,
		       const struct kv_plan *kp)
{
	if (kp->key_out) {
		p = put_tag_len(p, KV_KEY, kp->key_out);
		p = put_utf8(p, at->key, kp->key_len, kp->key_out);
	}
	p = put_tag_len(p, KV_VALUE, kp->any_size);
	switch (at->type) {
	case ATTR_STR:
		p = put_tag_len(p, ANY_STRING, kp->val_out);
		p = put_utf8(p, str + at->off, at->len, kp->val_out);
		break;
	case ATTR_INT:
		p = put_varint(p, ANY_INT);
		p = put_varint(p, (uint64_t)at->i);
		break;
	default:
		p = put_varint(p, ANY_BOOL);
		*p++ = at->i != 0;
		break;
	}
	return p;
}

/*
 * The output buffer. A message whose length is not known in advance gets a slot of a guessed
 * number of bytes for it (open_field), filled once its content is written (close_field); a wrong
 * guess moves the content, which the guesses make rare. reserve() keeps WRITER_SLACK bytes
 * spare past what it was asked for, so that those moves never need to grow the buffer.
 */
#define WRITER_SLACK 16

struct writer {
	uint8_t *buf, *p, *end;
	struct key_cache kc;
};

static int grow(struct writer *w, size_t need)
{
	size_t len = w->p - w->buf, cap = 2 * (w->end - w->buf);
	uint8_t *nb;

	if (cap < len + need)
		cap = len + need;
	nb = realloc(w->buf, cap);
	if (!nb)
		return -ENOMEM;
	w->buf = nb;
	w->p = nb + len;
	w->end = nb + cap;
	return 0;
}

/* Room for need more bytes (and the slack); 0 or -ENOMEM. */
static inline int reserve(struct writer *w, size_t need)
{
	need += WRITER_SLACK;
	return (size_t)(w->end - w->p) >= need ? 0 : grow(w, need);
}

/* Start a length-delimited field: its tag, a slot of guess bytes; returns where content starts. */
static size_t open_field(struct writer *w, uint32_t tag, size_t guess)
{
	w->p = put_varint(w->p, tag) + guess;
	return w->p - w->buf;
}

/* Put the length of the content from start to here in the slot open_field() left before it. */
static void close_field(struct writer *w, size_t start, size_t guess)
{
	uint8_t *content = w->buf + start;
	size_t len = w->p - content, size = varint_size(len);

	if (size != guess) {
		memmove(content - guess + size, content, len);
		w->p = content - guess + size + len;
	}
	put_varint(content - guess, len);
}

/*
 * Guessed length sizes: a Span or a Resource takes 128 bytes to 16 KiB (2 bytes of varint), the
 * ResourceSpans and ScopeSpans of a batch 16 KiB to 2 MiB (3 bytes). Smaller ones are moved,
 * which is cheap because they are small; larger ones are rare.
 */
#define GUESS_SPAN 2
#define GUESS_RESOURCE 2
#define GUESS_GROUP 3

/* A repeated KeyValue field (tag) of n attributes. */
static int put_attrs(struct writer *w, uint32_t tag, const struct span_attr *attrs, size_t n,
		     const char *str)
{
	struct kv_plan kp;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (!kv_measure(&w->kc, &attrs[i], str, &kp))
			continue;
		err = reserve(w, len_field_size(tag, kp.kv_size));
		if (err)
			return err;
		w->p = put_tag_len(w->p, tag, kp.kv_size);
		w->p = put_kv(w->p, &attrs[i], str, &kp);
	}
	return 0;
}

/* Most a span takes apart from its name, trace_state and attributes. */
#define SPAN_FIXED_MAX 96

/* One Span, as a ScopeSpans.spans field; the same mapping as encode_span(). */
static int put_span(struct writer *w, const struct span *s)
{
	size_t n_attrs = s->n_attrs < SPAN_MAX_ATTRS ? s->n_attrs : SPAN_MAX_ATTRS;
	size_t name_len = strnlen(s->name, sizeof(s->name)), name_out, ts_out, start;
	const char *ts = s->str + s->trace_state_off;
	uint32_t kind = s->kind <= 5 ? s->kind : 0, code = s->status <= 2 ? s->status : 0;
	uint32_t dropped = s->n_attrs - n_attrs;
	uint8_t *p;
	int err;

	name_out = utf8_out_len(s->name, name_len);
	ts_out = utf8_out_len(ts, s->trace_state_len);
	err = reserve(w, SPAN_FIXED_MAX + name_out + ts_out);
	if (err)
		return err;
	start = open_field(w, SS_SPANS, GUESS_SPAN);
	p = put_tag_len(w->p, SPAN_TRACE_ID, 16);
	memcpy(p, s->trace_id, 16);
	p = put_tag_len(p + 16, SPAN_SPAN_ID, 8);
	memcpy(p, s->span_id, 8);
	p += 8;
	if (ts_out)
		p = put_utf8(put_tag_len(p, SPAN_TRACE_STATE, ts_out), ts, s->trace_state_len,
			     ts_out);
	/* A root span has no parent field at all, as OTLP asks. */
	if (!span__id_is_zero(s->parent_span_id, 8)) {
		p = put_tag_len(p, SPAN_PARENT_SPAN_ID, 8);
		memcpy(p, s->parent_span_id, 8);
		p += 8;
	}
	if (name_out)
		p = put_utf8(put_tag_len(p, SPAN_NAME, name_out), s->name, name_len, name_out);
	if (kind)
		p = put_varint(put_varint(p, SPAN_KIND), kind);
	if (s->start_unix_ns)
		p = put_fixed64(put_varint(p, SPAN_START), s->start_unix_ns);
	if (s->end_unix_ns)
		p = put_fixed64(put_varint(p, SPAN_END), s->end_unix_ns);
	w->p = p;
	err = put_attrs(w, SPAN_ATTRIBUTES, s->attrs, n_attrs, s->str);
	if (err)
		return err;
	err = reserve(w, SPAN_FIXED_MAX);
	if (err)
		return err;
	p = w->p;
	if (dropped)
		p = put_varint(put_varint(p, SPAN_DROPPED), dropped);
	if (s->status != SPAN_STATUS_UNSET) {
		p = put_tag_len(p, SPAN_STATUS, code ? varint_field_size(STATUS_CODE, code) : 0);
		if (code)
			p = put_varint(put_varint(p, STATUS_CODE), code);
	}
	/* W3C "sampled": sonde exports only what it keeps. */
	w->p = put_fixed32(put_varint(p, SPAN_FLAGS), 0x01);
	close_field(w, start, GUESS_SPAN);
	return 0;
}

/* The Resource of a group, as its ResourceSpans.resource field; as new_group() maps it. */
static int put_resource(struct writer *w, const struct resource *res)
{
	size_t n_attrs = res->n_attrs < RESOURCE_MAX_ATTRS ? res->n_attrs : RESOURCE_MAX_ATTRS;
	uint32_t dropped = res->n_attrs - n_attrs;
	size_t start;
	int err;

	err = reserve(w, 16);
	if (err)
		return err;
	start = open_field(w, RS_RESOURCE, GUESS_RESOURCE);
	err = put_attrs(w, RESOURCE_ATTRIBUTES, res->attrs, n_attrs, res->str);
	if (err)
		return err;
	err = reserve(w, 16);
	if (err)
		return err;
	if (dropped)
		w->p = put_varint(put_varint(w->p, RESOURCE_DROPPED), dropped);
	close_field(w, start, GUESS_RESOURCE);
	return 0;
}

static uint8_t *put_str_field(uint8_t *p, uint32_t tag, const char *s, size_t len)
{
	p = put_tag_len(p, tag, len);
	memcpy(p, s, len);
	return p + len;
}

/* The one InstrumentationScope, as a ScopeSpans.scope field; a constant. */
static int put_scope(struct writer *w)
{
	size_t name_len = strlen(OTLP_SCOPE_NAME), version_len = strlen(SONDE_VERSION), start;
	int err;

	err = reserve(w, 32 + name_len + version_len);
	if (err)
		return err;
	start = open_field(w, SS_SCOPE, 1);
	w->p = put_str_field(w->p, SCOPE_NAME, OTLP_SCOPE_NAME, name_len);
	if (version_len)
		w->p = put_str_field(w->p, SCOPE_VERSION, SONDE_VERSION, version_len);
	close_field(w, start, 1);
	return 0;
}

/* The spans of one resource: first, then through next[] until last. */
struct group {
	const struct resource *res;
	size_t first, last;
};

/* One ResourceSpans with its single ScopeSpans, its spans' bytes copied as they were encoded. */
static int put_group(struct writer *w, const struct group *g,
		     const struct otlp_encoded_span *spans, const size_t *next)
{
	size_t rs, ss, i;
	int err;

	err = reserve(w, 16);
	if (err)
		return err;
	rs = open_field(w, REQUEST_RESOURCE_SPANS, GUESS_GROUP);
	if (g->res) {
		err = put_resource(w, g->res);
		if (err)
			return err;
	}
	err = reserve(w, 16);
	if (err)
		return err;
	ss = open_field(w, RS_SCOPE_SPANS, GUESS_GROUP);
	err = put_scope(w);
	if (err)
		return err;
	for (i = g->first;; i = next[i]) {
		err = reserve(w, spans[i].len);
		if (err)
			return err;
		w->p = put_bytes(w->p, spans[i].bytes, spans[i].len);
		if (i == g->last)
			break;
	}
	close_field(w, ss, GUESS_GROUP);
	close_field(w, rs, GUESS_GROUP);
	return 0;
}

struct otlp_span_encoder {
	struct writer w; /* its buffer is reused span after span; its key cache is kept */
};

struct otlp_span_encoder *otlp__span_encoder_new(void)
{
	return calloc(1, sizeof(struct otlp_span_encoder));
}

void otlp__span_encoder_free(struct otlp_span_encoder *enc)
{
	if (!enc)
		return;
	free(enc->w.buf);
	free(enc);
}

int otlp__span_encode(struct otlp_span_encoder *enc, const struct span *s, const uint8_t **out,
		      size_t *len)
{
	int err;

	enc->w.p = enc->w.buf;
	err = put_span(&enc->w, s);
	if (err)
		return err;
	*out = enc->w.buf;
	*len = enc->w.p - enc->w.buf;
	return 0;
}

int otlp__assemble(const struct otlp_encoded_span *spans, size_t n, uint8_t **out,
		   size_t *out_len)
{
	struct writer w = {};
	struct group *groups = NULL;
	size_t *next, i, g = 0, n_groups = 0, cap = 256;
	uint8_t *shrunk;
	int err = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (n && !spans)
		return -EINVAL;
	if (n > SIZE_MAX / (sizeof(*groups) + sizeof(*next)))
		return -ENOMEM;
	/* At most one group a span; both tables in one allocation. */
	groups = malloc(n * (sizeof(*groups) + sizeof(*next)) + 1);
	if (!groups)
		return -ENOMEM;
	next = (size_t *)(groups + n);

	/*
	 * Group by resource pointer in first-seen order. A batch holds a few processes at most, so
	 * the linear search is cheaper than hashing; spans of one process often come in runs, so
	 * the last group is tried first.
	 */
	for (i = 0; i < n; i++) {
		const struct resource *res = spans[i].res;

		if (g >= n_groups || groups[g].res != res)
			for (g = 0; g < n_groups && groups[g].res != res; g++)
				;
		if (g == n_groups) {
			groups[g].res = res;
			groups[g].first = i;
			n_groups++;
			/* a first guess at the resource's size, so that the buffer seldom grows */
			cap += 64 + (res ? res->str_used + 40 * (size_t)res->n_attrs : 0);
		} else {
			next[groups[g].last] = i;
		}
		groups[g].last = i;
		cap += spans[i].len;
	}

	w.buf = malloc(cap);
	if (!w.buf)
		goto out;
	w.p = w.buf;
	w.end = w.buf + cap;
	for (g = 0; g < n_groups; g++) {
		err = put_group(&w, &groups[g], spans, next);
		if (err)
			goto out;
	}
	*out_len = w.p - w.buf;
	/* Give back what the estimate took too much; an empty request still gets a buffer. */
	shrunk = realloc(w.buf, *out_len ? *out_len : 1);
	*out = shrunk ? shrunk : w.buf;
	w.buf = NULL;
	err = 0;
out:
	free(w.buf);
	free(groups);
	return err;
}

int otlp__encode(const struct span *const *spans, size_t n, uint8_t **out, size_t *out_len)
{
	struct otlp_span_encoder *enc = NULL;
	struct otlp_encoded_span *items = NULL;
	uint8_t *bytes = NULL, *nb;
	size_t used = 0, cap = 0, len, i;
	const uint8_t *one;
	int err = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (n && !spans)
		return -EINVAL;
	if (n > SIZE_MAX / sizeof(*items))
		return -ENOMEM;
	enc = otlp__span_encoder_new();
	items = malloc(n * sizeof(*items) + 1);
	if (!enc || !items)
		goto out;
	/* Each span encoded on its own, as the exporter does when a span is submitted, then the
	 * request assembled from their bytes. */
	for (i = 0; i < n; i++) {
		err = otlp__span_encode(enc, spans[i], &one, &len);
		if (err)
			goto out;
		if (cap - used < len) {
			cap = 2 * cap > used + len ? 2 * cap : used + len;
			nb = realloc(bytes, cap);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			bytes = nb;
		}
		memcpy(bytes + used, one, len);
		items[i].res = spans[i]->res;
		items[i].len = len;
		items[i].bytes = (const uint8_t *)(uintptr_t)used; /* an offset until bytes stops moving */
		used += len;
	}
	for (i = 0; i < n; i++)
		items[i].bytes = bytes + (uintptr_t)items[i].bytes;
	err = otlp__assemble(items, n, out, out_len);
out:
	otlp__span_encoder_free(enc);
	free(items);
	free(bytes);
	return err;
}

int otlp__decode_response(const uint8_t *buf, size_t len, int64_t *rejected, char *msg,
			  size_t msg_size)
{
	pb_response *resp;

	*rejected = 0;
	if (msg_size)
		msg[0] = '\0';
	if (!len)
		return 0;
	resp = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
		NULL, len, buf);
	if (!resp)
		return -EBADMSG;
	if (resp->partial_success) {
		*rejected = resp->partial_success->rejected_spans;
		if (msg_size && resp->partial_success->error_message)
			snprintf(msg, msg_size, "%s", resp->partial_success->error_message);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
		resp, NULL);
	return 0;
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Trim [*b, *e) of blanks in place. */
static void trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char)**b))
		(*b)++;
	while (*e > *b && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

int otlp__parse_headers(const char *spec, void (*cb)(const char *key, const char *val, void *ctx),
			void (*bad)(const char *pair, void *ctx), void *ctx)
{
	const char *p = spec;
	int n = 0;

	if (!spec)
		return 0;
	while (*p) {
		const char *end = strchr(p, ','), *eq, *kb, *ke, *vb, *ve;
		char *key = NULL, *val = NULL, *pair = NULL, *o;
		bool ok = true;

		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', end - p);
		kb = p;
		ke = eq ? eq : end;
		trim(&kb, &ke);
		if (!eq && kb == ke)
			goto next; /* empty entry, e.g. a trailing comma */
		if (!eq || kb == ke) {
			ok = false;
		} else {
			vb = eq + 1;
			ve = end;
			trim(&vb, &ve);
			key = strndup(kb, ke - kb);
			val = malloc(ve - vb + 1);
			if (!key || !val) {
				free(key);
				free(val);
				return -ENOMEM;
			}
			/* OTel: values are percent-encoded (W3C Baggage octets). */
			for (o = val; vb < ve; vb++) {
				int hi, lo;

				if (*vb == '%' && ve - vb >= 3 && (hi = hex_val(vb[1])) >= 0 &&
				    (lo = hex_val(vb[2])) >= 0) {
					*o++ = (char)(hi << 4 | lo);
					vb += 2;
				} else {
					*o++ = *vb;
				}
			}
			*o = '\0';
			/* A decoded CR, LF or NUL would split or cut the HTTP header. */
			if (strlen(val) != (size_t)(o - val) || strpbrk(val, "\r\n"))
				ok = false;
			/* Header names are RFC 9110 tokens. */
			for (o = key; *o && ok; o++)
				if (!isalnum((unsigned char)*o) && !strchr("!#$%&'*+-.^_`|~", *o))
					ok = false;
		}
		if (ok) {
			cb(key, val, ctx);
			n++;
		} else if (bad) {
			pair = strndup(p, end - p);
			if (pair)
				bad(pair, ctx);
			free(pair);
		}
		free(key);
		free(val);
next:
		p = *end ? end + 1 : end;
	}
	return n;
}

int64_t otlp__parse_retry_after(const char *val, time_t now)
{
	struct tm tm = {};
	const char *end;
	char *e;
	long long secs;
	time_t t;

	if (!val)
		return -1;
	while (isspace((unsigned char)*val))
		val++;
	if (isdigit((unsigned char)*val)) {
		errno = 0;
		secs = strtoll(val, &e, 10);
		while (isspace((unsigned char)*e))
			e++;
		if (errno || *e)
			return -1;
		/* Nobody means to wait a day; cap so the arithmetic cannot overflow. */
		if (secs > 86400)
			secs = 86400;
		return secs * 1000;
	}
	/* IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 9110 section 5.6.7). */
	end = strptime(val, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return t > now ? (int64_t)(t - now) * 1000 : 0;
}

uint64_t otlp__backoff_ms(unsigned int attempt, uint64_t rnd)
{
	uint64_t d = 1000;

	if (attempt < 1)
		attempt = 1;
	while (--attempt && d < 30000)
		d *= 2;
	if (d > 30000)
		d = 30000;
	return d / 2 + rnd % (d / 2 + 1);
}

int otlp__status_is_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}
