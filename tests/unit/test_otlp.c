// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the OTLP encoder and response decoder (agent/export/otlp_encode.c): a batch of
 * spans from several resources is encoded and read back with the protobuf-c generated unpack.
 * With "--dump FILE" the same fixed batch is written to FILE instead, for
 * tests/unit/test_otlp_decode.py to check with the official opentelemetry-proto classes.
 */
#include <errno.h>
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
	static const char *keys[SPAN_MAX_ATTRS] = { "a", "b", "c", "d", "e", "f", "g", "h",
						     "i", "j", "k", "l", "m", "n", "o", "p",
						     "q", "r", "s", "t", "u", "v", "w", "x" };
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
	RUN(test_decode_response);
	UNIT_DONE();
}
