// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Pure OTLP encoding and decoding: spans to ExportTraceServiceRequest bytes through the
 * protobuf-c messages generated from proto/, the response's partial_success back, and the small
 * OTLP/HTTP parsers and policies. No I/O and no global state, so tests and fuzzers drive it
 * directly. The temporary protobuf-c message tree of one request lives in a bump arena that is
 * freed in one go, because it has a few hundred small objects that all die together.
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
static size_t utf8_seq_len(const unsigned char *p, size_t n)
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
	char *out, *o;
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
	i = 0;
	/* Each bad byte becomes the 3-byte U+FFFD at worst. */
	out = arena_alloc(a, len * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	while (i < len) {
		size_t k = utf8_seq_len(p + i, len - i);

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
	return out;
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

int otlp__encode(const struct span *const *spans, size_t n, uint8_t **out, size_t *out_len)
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
