// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the OTLP encoder and response decoder (agent/export/otlp_encode.c): a batch of
 * spans from several resources is encoded and read back with the protobuf-c generated unpack,
 * and the direct encoder (otlp__encode) must give the very bytes of the protobuf-c reference
 * (otlp__encode_protobuf_c) for every kind of span, including random ones.
 * With "--dump FILE" the same fixed batch is written to FILE instead, for
 * tests/unit/test_otlp_decode.py to check with the official opentelemetry-proto classes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "export/otlp_encode.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "unit.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

#define unpack_request \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack
#define free_request \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked

#define N_SPANS 5
#define T0 1700000000123456789ULL

static const char *const keys[SPAN_MAX_ATTRS] = { "a", "b", "c", "d", "e", "f", "g", "h",
						   "i", "j", "k", "l", "m", "n", "o", "p",
						   "q", "r", "s", "t", "u", "v", "w", "x" };

static struct span spans[N_SPANS];
static struct resource *res[2];

static void fill_id(uint8_t *id, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		id[i] = (uint8_t)(seed + i);
}

/*
 * The fixed batch, also described in test_otlp_decode.py: spans 0, 2 and 4 are from "checkout"
 * (res[0]), spans 1 and 3 from "inventory" (res[1]), interleaved on purpose.
 */
static void make_batch(void)
{
	static const char *names[N_SPANS] = { "GET /cart", "GET /stock/{id}", "SELECT",
					      "POST /reserve", "bad \xff\xfe name" };
	static const uint8_t kinds[N_SPANS] = { SPAN_KIND_SERVER, SPAN_KIND_SERVER,
						SPAN_KIND_CLIENT, SPAN_KIND_CLIENT,
						SPAN_KIND_INTERNAL };
	int i;

	res[0] = resource__new(100);
	res[1] = resource__new(200);
	resource__set_cstr(res[0], "service.name", "checkout");
	resource__set_int(res[0], "process.pid", 100);
	resource__set_cstr(res[1], "service.name", "inventory");
	resource__set_int(res[1], "process.pid", 200);
	resource__set_cstr(res[1], "host.name", "node-7");

	for (i = 0; i < N_SPANS; i++) {
		struct span *s = &spans[i];

		memset(s, 0, sizeof(*s));
		fill_id(s->trace_id, 16, 0x10 + (i == 4 ? 0x40 : 0));
		fill_id(s->span_id, 8, 0x80 + 8 * i);
		if (i > 0 && i < 4)
			fill_id(s->parent_span_id, 8, 0x80); /* children of span 0 */
		s->start_unix_ns = T0 + i * 1000;
		s->end_unix_ns = T0 + i * 1000 + 5000000;
		s->kind = kinds[i];
		s->status = i == 2 ? SPAN_STATUS_ERROR : SPAN_STATUS_UNSET;
		s->res = resource__get(res[i % 2]);
		snprintf(s->name, sizeof(s->name), "%s", names[i]);
		span__set_cstr(s, "http.request.method", i == 3 ? "POST" : "GET");
		span__set_int(s, "http.response.status_code", i == 2 ? 500 : 200);
		span__set_cstr(s, "url.path", "/cart");
	}
	/* A bool, a string with a NUL and bad UTF-8 inside, an empty string. */
	span__set_int(&spans[0], "sonde.truncated", 1);
	spans[0].attrs[spans[0].n_attrs - 1].type = ATTR_BOOL;
	span__set_str(&spans[1], "odd", "a\0b\xc3\x28", 5);
	span__set_trace_state(&spans[1], "rojo=00f067aa0ba902b7", 21);
	span__set_cstr(&spans[1], "empty", "");
}

static void free_batch(void)
{
	int i;

	for (i = 0; i < N_SPANS; i++)
		resource__put(spans[i].res);
	resource__put(res[0]);
	resource__put(res[1]);
}

static int encode_batch(uint8_t **buf, size_t *len)
{
	const struct span *ptrs[N_SPANS];
	int i;

	for (i = 0; i < N_SPANS; i++)
		ptrs[i] = &spans[i];
	return otlp__encode(ptrs, N_SPANS, buf, len);
}

/*
 * Encode with both encoders and require the same bytes. Returns false (after saying where they
 * differ) so that the random test can stop at its first failure.
 */
static bool same_as_reference(const struct span *const *ptrs, size_t n, const char *what)
{
	uint8_t *buf = NULL, *ref = NULL;
	size_t len = 0, ref_len = 0, i;
	bool ok;

	CHECK_EQ_INT(otlp__encode_protobuf_c(ptrs, n, &ref, &ref_len), 0);
	CHECK_EQ_INT(otlp__encode(ptrs, n, &buf, &len), 0);
	ok = buf && ref && len == ref_len && (!len || !memcmp(buf, ref, len));
	if (!ok) {
		for (i = 0; buf && ref && i < len && i < ref_len && buf[i] == ref[i]; i++)
			;
		fprintf(stderr, "%s: %zu bytes, reference %zu, first difference at %zu\n", what,
			len, ref_len, i);
		unit_failed_checks++;
	}
	free(buf);
	free(ref);
	return ok;
}

static bool same_as_reference_1(const struct span *s, const char *what)
{
	return same_as_reference(&s, 1, what);
}

static const pb_kv *find_kv(pb_kv **kvs, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kvs[i]->key, key) == 0)
			return kvs[i];
	return NULL;
}

#define VALUE_CASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static void check_span(const pb_span *p, int i)
{
	const struct span *s = &spans[i];
	const pb_kv *kv;

	CHECK_EQ_INT(p->trace_id.len, 16);
	CHECK(p->trace_id.len == 16 && !memcmp(p->trace_id.data, s->trace_id, 16));
	CHECK(p->span_id.len == 8 && !memcmp(p->span_id.data, s->span_id, 8));
	if (span__id_is_zero(s->parent_span_id, 8))
		CHECK_EQ_INT(p->parent_span_id.len, 0);
	else
		CHECK(p->parent_span_id.len == 8 &&
		      !memcmp(p->parent_span_id.data, s->parent_span_id, 8));
	CHECK_EQ_INT(p->kind, s->kind);
	CHECK(p->start_time_unix_nano == s->start_unix_ns);
	CHECK(p->end_time_unix_nano == s->end_unix_ns);
	CHECK_EQ_INT(p->flags & 0xff, 1);
	if (i == 1)
		CHECK_STR(p->trace_state ? p->trace_state : "", "rojo=00f067aa0ba902b7");
	else
		CHECK(!p->trace_state || !p->trace_state[0]);
	if (i == 4)
		CHECK_STR(p->name, "bad \xef\xbf\xbd\xef\xbf\xbd name");
	else
		CHECK_STR(p->name, s->name);
	if (s->status == SPAN_STATUS_UNSET)
		CHECK(p->status == NULL || p->status->code == 0);
	else
		CHECK(p->status && (int)p->status->code == s->status);

	kv = find_kv(p->attributes, p->n_attributes, "http.response.status_code");
	CHECK(kv && kv->value->value_case == VALUE_CASE(INT_VALUE));
	if (kv)
		CHECK_EQ_INT(kv->value->int_value, i == 2 ? 500 : 200);
	kv = find_kv(p->attributes, p->n_attributes, "http.request.method");
	CHECK(kv && kv->value->value_case == VALUE_CASE(STRING_VALUE));
	if (kv)
		CHECK_STR(kv->value->string_value, i == 3 ? "POST" : "GET");
	CHECK_EQ_INT(p->n_attributes, s->n_attrs);
}

TEST(test_encode_roundtrip)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	pb_request *req;
	const pb_kv *kv;
	size_t g;

	make_batch();
	CHECK_EQ_INT(encode_batch(&buf, &len), 0);
	CHECK(buf && len > 0);
	req = unpack_request(NULL, len, buf);
	CHECK(req != NULL);
	if (!req)
		goto out;
	/* Two resources, in first-seen order, each with one "sonde" scope. */
	CHECK_EQ_INT(req->n_resource_spans, 2);
	for (g = 0; g < req->n_resource_spans && g < 2; g++) {
		Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[g];
		Opentelemetry__Proto__Trace__V1__ScopeSpans *ss;

		CHECK(rs->resource != NULL);
		CHECK_EQ_INT(rs->n_scope_spans, 1);
		if (!rs->resource || rs->n_scope_spans != 1)
			continue;
		ss = rs->scope_spans[0];
		CHECK(ss->scope != NULL);
		if (ss->scope) {
			CHECK_STR(ss->scope->name, "sonde");
			CHECK_STR(ss->scope->version, SONDE_VERSION);
		}
		kv = find_kv(rs->resource->attributes, rs->resource->n_attributes, "service.name");
		CHECK(kv && kv->value->value_case == VALUE_CASE(STRING_VALUE));
		if (kv)
			CHECK_STR(kv->value->string_value, g == 0 ? "checkout" : "inventory");
		kv = find_kv(rs->resource->attributes, rs->resource->n_attributes, "process.pid");
		CHECK(kv && kv->value->int_value == (g == 0 ? 100 : 200));
		CHECK_EQ_INT(rs->resource->n_attributes, g == 0 ? 2 : 3);
		CHECK_EQ_INT(ss->n_spans, g == 0 ? 3 : 2);
		if (g == 0 && ss->n_spans == 3) {
			check_span(ss->spans[0], 0);
			check_span(ss->spans[1], 2);
			check_span(ss->spans[2], 4);
			kv = find_kv(ss->spans[0]->attributes, ss->spans[0]->n_attributes,
				     "sonde.truncated");
			CHECK(kv && kv->value->value_case == VALUE_CASE(BOOL_VALUE) &&
			      kv->value->bool_value);
		}
		if (g == 1 && ss->n_spans == 2) {
			check_span(ss->spans[0], 1);
			check_span(ss->spans[1], 3);
			kv = find_kv(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "odd");
			CHECK(kv && kv->value->value_case == VALUE_CASE(STRING_VALUE));
			/* NUL and the bad 2-byte sequence each became U+FFFD; '(' survives. */
			if (kv)
				CHECK_STR(kv->value->string_value,
					  "a\xef\xbf\xbd" "b\xef\xbf\xbd(");
			kv = find_kv(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "empty");
			CHECK(kv && kv->value->value_case == VALUE_CASE(STRING_VALUE));
		}
	}
	free_request(req, NULL);
out:
	free(buf);
	free_batch();
}

TEST(test_encode_edge_cases)
{
	static struct span big[512];
	const struct span *ptrs[512];
	uint8_t *buf = NULL;
	size_t len = 1, i;
	pb_request *req;

	/* An empty batch is a valid, empty request. */
	CHECK_EQ_INT(otlp__encode(NULL, 0, &buf, &len), 0);
	CHECK_EQ_INT(len, 0);
	free(buf);
	CHECK_EQ_INT(otlp__encode(NULL, 3, &buf, &len), -EINVAL);

	/* A full batch of spans with full attribute tables and no resource. */
	for (i = 0; i < 512; i++) {
		struct span *s = &big[i];
		char v[60];
		int k;

		memset(s, 0, sizeof(*s));
		span__new_trace_id(s->trace_id);
		span__new_span_id(s->span_id);
		memset(s->name, 'n', sizeof(s->name)); /* no terminator: must still be bounded */
		/* SPAN_MAX_ATTRS distinct keys with 50-byte values fill the table. */
		memset(v, 'v', sizeof(v));
		for (k = 0; k < SPAN_MAX_ATTRS; k++)
			CHECK_EQ_INT(span__set_str(s, keys[k], v, 50), 0);
		ptrs[i] = s;
	}
	same_as_reference(ptrs, 512, "512 full spans");
	CHECK_EQ_INT(otlp__encode(ptrs, 512, &buf, &len), 0);
	req = unpack_request(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		CHECK_EQ_INT(req->n_resource_spans, 1);
		CHECK(req->resource_spans[0]->resource == NULL);
		CHECK_EQ_INT(req->resource_spans[0]->scope_spans[0]->n_spans, 512);
		CHECK_EQ_INT(strlen(req->resource_spans[0]->scope_spans[0]->spans[7]->name),
			     SPAN_NAME_BYTES);
		CHECK_EQ_INT(req->resource_spans[0]->scope_spans[0]->spans[7]->n_attributes,
			     SPAN_MAX_ATTRS);
		free_request(req, NULL);
	}
	free(buf);
}

/* A span with ids, times and a name; no attributes, no resource. */
static void plain_span(struct span *s, int i)
{
	memset(s, 0, sizeof(*s));
	fill_id(s->trace_id, 16, (uint8_t)(0x10 + i));
	fill_id(s->span_id, 8, (uint8_t)(0x80 + i));
	s->start_unix_ns = T0 + i;
	s->end_unix_ns = T0 + i + 1000;
	s->kind = SPAN_KIND_SERVER;
	snprintf(s->name, sizeof(s->name), "span %d", i);
}

TEST(test_direct_fixed_batch)
{
	const struct span *ptrs[N_SPANS];
	int i;

	make_batch();
	for (i = 0; i < N_SPANS; i++)
		ptrs[i] = &spans[i];
	same_as_reference(ptrs, N_SPANS, "fixed batch");
	for (i = 1; i <= N_SPANS; i++)
		same_as_reference(ptrs, i, "fixed batch prefix");
	free_batch();
	same_as_reference(NULL, 0, "empty batch");
}

TEST(test_direct_fields)
{
	static struct span s;
	int v;

	plain_span(&s, 1);
	same_as_reference_1(&s, "plain");
	/* Root and child, every kind and status, in range or not (out of range sends 0). */
	fill_id(s.parent_span_id, 8, 0x40);
	same_as_reference_1(&s, "child");
	for (v = 0; v < 256; v++) {
		s.kind = (uint8_t)v;
		same_as_reference_1(&s, "kind");
	}
	for (v = 0; v < 256; v++) {
		s.status = (uint8_t)v;
		same_as_reference_1(&s, "status");
	}
	/* Zero times and ids are defaults (left out) or plain bytes (kept). */
	s.start_unix_ns = 0;
	same_as_reference_1(&s, "no start");
	s.end_unix_ns = UINT64_MAX;
	same_as_reference_1(&s, "max end");
	memset(s.trace_id, 0, 16);
	memset(s.span_id, 0, 8);
	same_as_reference_1(&s, "zero ids");
	/* An empty name is left out; a full one has no terminator. */
	s.name[0] = '\0';
	same_as_reference_1(&s, "empty name");
	memset(s.name, 'n', sizeof(s.name));
	same_as_reference_1(&s, "full name");
	/* trace_state: plain, then with a NUL and bytes that are not UTF-8. */
	span__set_trace_state(&s, "rojo=00f067aa0ba902b7", 21);
	same_as_reference_1(&s, "trace_state");
	s.trace_state_len = 0;
	span__set_trace_state(&s, "a=\0b\xff\xc3", 7);
	same_as_reference_1(&s, "bad trace_state");
}

TEST(test_direct_attributes)
{
	static const int64_t ints[] = { 0,	   1,	      127,	  128,	       16383,
					16384,	   INT32_MAX, 1LL << 35,  INT64_MAX,   -1,
					-128,	   INT32_MIN, INT64_MIN,  -(1LL << 56) };
	static struct span s;
	size_t i;

	/* No attributes at all, then one of each type. */
	plain_span(&s, 2);
	same_as_reference_1(&s, "no attributes");
	span__set_cstr(&s, "str", "value");
	span__set_cstr(&s, "empty", "");
	span__set_int(&s, "int", 42);
	span__set_int(&s, "bool", 1);
	s.attrs[s.n_attrs - 1].type = ATTR_BOOL;
	span__set_int(&s, "bool.false", 0);
	s.attrs[s.n_attrs - 1].type = ATTR_BOOL;
	span__set_int(&s, "bool.7", 7); /* any non-zero value is true */
	s.attrs[s.n_attrs - 1].type = ATTR_BOOL;
	same_as_reference_1(&s, "each type");
	/* An unknown type or a missing key is skipped, wherever it is. */
	span__set_int(&s, "unknown", 5);
	s.attrs[s.n_attrs - 1].type = 0;
	span__set_int(&s, "unknown.9", 5);
	s.attrs[s.n_attrs - 1].type = 9;
	span__set_cstr(&s, "after", "x");
	same_as_reference_1(&s, "unknown types");
	s.attrs[0].key = NULL;
	same_as_reference_1(&s, "no key");
	s.attrs[0].key = ""; /* an empty key is a default: the field is left out */
	same_as_reference_1(&s, "empty key");

	/* int64 values across the varint sizes; negative ones take 10 bytes. */
	plain_span(&s, 3);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		s.n_attrs = 0;
		span__set_int(&s, "int", ints[i]);
		CHECK(same_as_reference_1(&s, "int64"));
		s.attrs[0].type = ATTR_BOOL;
		same_as_reference_1(&s, "bool from int64");
	}
}

TEST(test_direct_utf8)
{
	/* Valid sequences of each length, then every kind of invalid one. */
	static const char *const vals[] = {
		"caf\xc3\xa9",		  /* é */
		"\xe2\x82\xac 5",	  /* € */
		"\xf0\x9f\x98\x80",	  /* U+1F600 */
		"\xf4\x8f\xbf\xbf",	  /* U+10FFFF, the last code point */
		"\xc0\x80 \xc1\xbf",	  /* overlong 2-byte forms */
		"\xe0\x80\xaf",		  /* overlong 3-byte */
		"\xf0\x80\x80\xaf",	  /* overlong 4-byte */
		"\xed\xa0\x80\xed\xbf\xbf", /* UTF-16 surrogates */
		"\xf4\x90\x80\x80",	  /* past U+10FFFF */
		"\xf8\x88\x80\x80\x80 \xfe\xff", /* 5-byte forms, bytes never used */
		"\x80\xbf lone continuations",
		"cut at the end \xe2\x82",
		"cut \xe2\x82 in the middle",
		"\xc3",
		"12345678\xc3\xa9""abcdefgh\xff", /* past the first word */
	};
	static char key_bad[] = "k\xffy", key_utf8[] = "cl\xc3\xa9";
	static struct span s;
	size_t i;

	plain_span(&s, 4);
	snprintf(s.name, sizeof(s.name), "bad \xff\xfe name \xc3\xa9");
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		span__set_str(&s, vals[i], vals[i], strlen(vals[i])); /* as key and as value */
	same_as_reference_1(&s, "utf8");
	/* NUL bytes: inside values (replaced), at the end, alone. */
	plain_span(&s, 5);
	span__set_str(&s, "nul", "a\0b", 3);
	span__set_str(&s, "nul.end", "ab\0", 3);
	span__set_str(&s, "nul.only", "\0", 1);
	span__set_str(&s, "nul.word", "\0\0\0\0\0\0\0\0\0", 9);
	span__set_str(&s, key_bad, "v", 1);
	span__set_str(&s, key_utf8, "v", 1);
	same_as_reference_1(&s, "nul");
	/* Every single byte, and every byte pair, as a value. */
	for (i = 0; i < 256 * 256; i++) {
		char v[2] = { (char)(i >> 8), (char)i };

		plain_span(&s, 6);
		span__set_str(&s, "one", v + 1, 1);
		span__set_str(&s, "two", v, 2);
		if (!same_as_reference_1(&s, "bytes"))
			break;
	}
}

TEST(test_direct_dropped_and_resources)
{
	enum { N_RES = 40, N = 200 };
	static struct span sp[N];
	static const struct span *ptrs[N];
	struct resource *res[N_RES];
	int i, k;

	/* A full attribute table; then a count past it, as dropped_attributes_count. */
	plain_span(&sp[0], 7);
	for (k = 0; k < SPAN_MAX_ATTRS; k++)
		sp[0].attrs[k] = (struct span_attr){ .key = keys[k], .type = ATTR_INT, .i = k };
	sp[0].n_attrs = SPAN_MAX_ATTRS;
	same_as_reference_1(&sp[0], "full table");
	sp[0].n_attrs = SPAN_MAX_ATTRS + 6;
	same_as_reference_1(&sp[0], "dropped");
	sp[0].n_attrs = UINT16_MAX;
	same_as_reference_1(&sp[0], "dropped many");

	/* Resources: none, empty, plain, repaired, one past its table, many; interleaved. */
	for (i = 0; i < N_RES; i++) {
		char name[32];

		res[i] = resource__new(100 + i);
		snprintf(name, sizeof(name), "service-%d", i);
		if (i >= 8) {
			resource__set_cstr(res[i], "service.name", name);
			resource__set_int(res[i], "process.pid", 100 + i);
		}
	}
	resource__set_cstr(res[2], "service.name", "checkout");
	resource__set_int(res[2], "process.pid", -7);
	resource__set_str(res[3], "service.name", "bad\xff\0", 5);
	resource__set_str(res[3], "", "empty key", 9);
	for (k = 0; k < RESOURCE_MAX_ATTRS; k++)
		resource__set_int(res[4], k % 2 ? "odd" : "even", k); /* two slots, rewritten */
	for (k = 0; k < RESOURCE_MAX_ATTRS; k++)
		res[5]->attrs[k] = (struct span_attr){ .key = "r", .type = ATTR_BOOL, .i = k };
	res[5]->n_attrs = RESOURCE_MAX_ATTRS + 3;
	res[6]->attrs[0] = (struct span_attr){ .key = "unknown", .type = 0 };
	res[6]->n_attrs = 1;
	for (i = 0; i < N; i++) {
		plain_span(&sp[i], i);
		sp[i].res = i % 9 == 8 ? NULL : res[(i * 7) % N_RES];
		span__set_int(&sp[i], "i", i);
		ptrs[i] = &sp[i];
	}
	same_as_reference(ptrs, N, "resources");
	same_as_reference(ptrs, 64, "some resources");
	same_as_reference(ptrs + 1, 1, "one resource");
	for (i = 0; i < N_RES; i++)
		resource__put(res[i]);
}

/* Sizes around the varint steps: spans of 127..128 and 16383..16384 bytes, groups past 2 MiB. */
TEST(test_direct_length_steps)
{
	static char long_key[9000];
	static struct span s, big[520];
	static const struct span *ptrs[520];
	size_t i;
	int k;

	plain_span(&s, 8);
	s.start_unix_ns = s.end_unix_ns = 0;
	for (i = 0; i < 150; i++) {
		s.n_attrs = 0;
		s.str_used = 0;
		memset(s.str, 'x', i);
		span__set_str(&s, "k", s.str, i);
		if (!same_as_reference_1(&s, "small span"))
			break;
	}
	memset(long_key, 'k', sizeof(long_key) - 1);
	for (i = 0; i < 400; i++) {
		plain_span(&s, 9);
		span__set_str(&s, long_key + sizeof(long_key) - 1 - 8000, "v", 1);
		span__set_str(&s, long_key + sizeof(long_key) - 1 - 8000 - i, "v", 1);
		if (!same_as_reference_1(&s, "16 KiB span"))
			break;
	}
	/* Values of bytes that all need repair grow threefold: 512 such spans pass 2 MiB. */
	for (i = 0; i < 520; i++) {
		plain_span(&big[i], (int)i);
		for (k = 0; k < 3; k++) {
			char v[500];

			memset(v, 0xff, sizeof(v));
			span__set_str(&big[i], k == 0 ? "a" : k == 1 ? "b" : "c", v, sizeof(v));
		}
		ptrs[i] = &big[i];
	}
	same_as_reference(ptrs, 520, "2 MiB group");
}

/* xorshift64*: a fixed seed, so that a failure reproduces. */
static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

/* Mostly ASCII, sometimes UTF-8, a stray byte or a NUL. */
static void rnd_bytes(char *p, size_t n)
{
	static const char *const pieces[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					      "\xff", "\x80", "\xc3", "\xed\xa0\x80" };
	size_t i = 0;
	int mode = (int)(rnd() % 4);

	while (i < n) {
		uint64_t r = rnd();

		if (mode && r % 16 == 0) {
			const char *pc = pieces[(r >> 8) % 7];
			size_t l = strlen(pc);

			if (l > n - i)
				l = n - i;
			memcpy(p + i, pc, l);
			i += l;
		} else if (mode == 3 && r % 32 == 1) {
			p[i++] = '\0';
		} else {
			p[i++] = (char)(' ' + (r >> 16) % 95);
		}
	}
}

TEST(test_direct_random)
{
	enum { N_KEYS = 300, N_RES = 12, MAX_BATCH = 600 };
	static char key_area[N_KEYS][24];
	static const char *keys[N_KEYS + 1];
	static struct span *sp;
	static const struct span *ptrs[MAX_BATCH];
	struct resource *res[N_RES];
	int round, total = 0;
	size_t i, k;

	/* More distinct keys than the encoder's key cache has slots, some empty or repaired. */
	for (i = 0; i < N_KEYS; i++) {
		size_t l = rnd() % 20;

		rnd_bytes(key_area[i], l);
		key_area[i][l] = '\0';
		keys[i] = key_area[i];
	}
	keys[N_KEYS] = NULL;
	for (i = 0; i < N_RES; i++) {
		size_t n = rnd() % (RESOURCE_MAX_ATTRS + 4);

		res[i] = resource__new((uint32_t)i);
		for (k = 0; k < n && k < RESOURCE_MAX_ATTRS; k++) {
			size_t l = rnd() % 40;

			rnd_bytes(res[i]->str + res[i]->str_used, l);
			res[i]->attrs[k] = (struct span_attr){ .key = keys[rnd() % (N_KEYS + 1)],
							       .type = (uint8_t)(rnd() % 5),
							       .off = res[i]->str_used,
							       .len = (uint16_t)l,
							       .i = (int64_t)rnd() };
			res[i]->str_used += (uint16_t)l;
		}
		res[i]->n_attrs = (uint16_t)n;
	}
	sp = calloc(MAX_BATCH, sizeof(*sp));
	CHECK(sp != NULL);
	for (round = 0; sp && total < 5000; round++) {
		size_t n = round % 8 == 7 ? MAX_BATCH : 1 + rnd() % 40;

		for (i = 0; i < n; i++) {
			struct span *s = &sp[i];
			size_t na = rnd() % (SPAN_MAX_ATTRS + 1), l;
			uint64_t r = rnd();

			memset(s, 0, offsetof(struct span, attrs));
			for (k = 0; k < 16; k++)
				s->trace_id[k] = (uint8_t)rnd();
			for (k = 0; k < 8; k++) {
				s->span_id[k] = (uint8_t)rnd();
				s->parent_span_id[k] = r % 2 ? (uint8_t)rnd() : 0;
			}
			s->start_unix_ns = r % 7 ? rnd() : 0;
			s->end_unix_ns = r % 5 ? rnd() : 0;
			s->kind = (uint8_t)(r >> 8) % 7;
			s->status = (uint8_t)(r >> 16) % 4;
			s->res = (r >> 24) % 5 ? res[(r >> 32) % N_RES] : NULL;
			l = rnd() % (SPAN_NAME_BYTES + 1);
			rnd_bytes(s->name, l);
			if (l < SPAN_NAME_BYTES)
				s->name[l] = '\0';
			if (r % 3 == 0) {
				l = rnd() % 64;
				rnd_bytes(s->str, l);
				s->trace_state_len = (uint16_t)l;
				s->str_used = (uint16_t)l;
			}
			for (k = 0; k < na; k++) {
				int64_t v = (int64_t)rnd() >> (rnd() % 64);

				l = rnd() % 3 ? rnd() % 24 : rnd() % 60;
				rnd_bytes(s->str + s->str_used, l);
				s->attrs[k] = (struct span_attr){ .key = keys[rnd() % (N_KEYS + 1)],
								  .type = (uint8_t)(rnd() % 5),
								  .off = s->str_used,
								  .len = (uint16_t)l,
								  .i = v };
				s->str_used += (uint16_t)l;
			}
			s->n_attrs = (uint16_t)(na == SPAN_MAX_ATTRS && r % 2 ? na + r % 9 : na);
			ptrs[i] = s;
		}
		total += (int)n;
		if (!same_as_reference(ptrs, n, "random batch")) {
			fprintf(stderr, "random batch: round %d\n", round);
			break;
		}
	}
	free(sp);
	for (i = 0; i < N_RES; i++)
		resource__put(res[i]);
}

TEST(test_decode_response)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	uint8_t buf[256];
	int64_t rejected = -1;
	char msg[8];
	size_t len;

	CHECK_EQ_INT(otlp__decode_response(NULL, 0, &rejected, msg, sizeof(msg)), 0);
	CHECK_EQ_INT(rejected, 0);
	CHECK_STR(msg, "");

	ps.rejected_spans = 3;
	ps.error_message = "spans too old";
	resp.partial_success = &ps;
	len = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
		&resp, buf);
	CHECK_EQ_INT(otlp__decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	CHECK_EQ_INT(rejected, 3);
	CHECK_STR(msg, "spans t"); /* truncated to the buffer, still terminated */

	CHECK_EQ_INT(otlp__decode_response((const uint8_t *)"\xff\xff\xff", 3, &rejected, msg,
					   sizeof(msg)),
		     -EBADMSG);
}

static int dump(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	make_batch();
	err = encode_batch(&buf, &len);
	if (err) {
		fprintf(stderr, "test_otlp: encoding failed: %s\n", strerror(-err));
		return 1;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "test_otlp: cannot write %s\n", path);
		return 1;
	}
	free(buf);
	free_batch();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	RUN(test_encode_roundtrip);
	RUN(test_encode_edge_cases);
	RUN(test_direct_fixed_batch);
	RUN(test_direct_fields);
	RUN(test_direct_attributes);
	RUN(test_direct_utf8);
	RUN(test_direct_dropped_and_resources);
	RUN(test_direct_length_steps);
	RUN(test_direct_random);
	RUN(test_decode_response);
	UNIT_DONE();
}
