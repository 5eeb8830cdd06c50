// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Two roles in one binary. Without arguments it is a unit test of the exporters' offline parts:
 * the headers option, Retry-After, backoff bounds, the console tree, and a refused connection.
 * With arguments it drives the OTLP/HTTP exporter for tests/unit/test_otlp_http.py:
 *
 *   test_export_driver URL N [max_queue=..] [max_batch=..] [batch_delay_ms=..] [timeout_ms=..]
 *                      [max_retry_ms=..] [gzip=0|1] [headers=k=v,..] [deadline_ms=..]
 *                      [ca_file=PATH] [insecure=0|1] [vary=0|1] [paced=0|1]
 *
 * submits N spans at once (paced=1: each when the queue has room, running the loop meanwhile,
 * so that requests finish while spans are submitted; vary=1: span i gets a url.path of
 * 3 + (i * 131) % 1400 bytes, so that queued spans differ in size), runs the loop until everything is exported or dropped (or the
 * deadline passes), and prints the exporter's counters as one JSON object on stdout.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "export/exporter.h"
#include "export/otlp_encode.h"
#include "unit.h"

struct hdrs {
	char buf[512];
	int n;
};

static void collect(const char *k, const char *v, void *ctx)
{
	struct hdrs *h = ctx;
	size_t used = strlen(h->buf);

	snprintf(h->buf + used, sizeof(h->buf) - used, "[%s|%s]", k, v);
	h->n++;
}

static void collect_bad(const char *pair, void *ctx)
{
	struct hdrs *h = ctx;
	size_t used = strlen(h->buf);

	snprintf(h->buf + used, sizeof(h->buf) - used, "{%s}", pair);
}

static int parse(const char *spec, struct hdrs *h)
{
	memset(h, 0, sizeof(*h));
	return otlp__parse_headers(spec, collect, collect_bad, h);
}

TEST(test_parse_headers)
{
	struct hdrs h;

	CHECK_EQ_INT(parse(NULL, &h), 0);
	CHECK_EQ_INT(parse("", &h), 0);
	CHECK_EQ_INT(parse("api-key=secret", &h), 1);
	CHECK_STR(h.buf, "[api-key|secret]");
	CHECK_EQ_INT(parse(" a = 1 , b=two%20words,c=x%3Dy%2Cz ,", &h), 3);
	CHECK_STR(h.buf, "[a|1][b|two words][c|x=y,z]");
	/* Authorization values contain '=' themselves; only the first one splits. */
	CHECK_EQ_INT(parse("Authorization=Basic dXNlcjpwYXNz==", &h), 1);
	CHECK_STR(h.buf, "[Authorization|Basic dXNlcjpwYXNz==]");
	CHECK_EQ_INT(parse("novalue,=x,ok=1,bad(key)=2,v=%zz", &h), 2);
	CHECK_STR(h.buf, "{novalue}{=x}[ok|1]{bad(key)=2}[v|%zz]");
	/* Header injection through an encoded CR/LF or NUL is refused. */
	CHECK_EQ_INT(parse("x=a%0D%0AEvil: 1,y=%00,z=ok", &h), 1);
	CHECK_STR(h.buf, "{x=a%0D%0AEvil: 1}{y=%00}[z|ok]");
	CHECK_EQ_INT(parse("a b=1", &h), 0);
	CHECK_EQ_INT(parse("empty=", &h), 1);
	CHECK_STR(h.buf, "[empty|]");
}

TEST(test_retry_after)
{
	/* 2015-10-21 07:28:00 UTC */
	time_t now = 1445412480;

	CHECK_EQ_INT(otlp__parse_retry_after("1", now), 1000);
	CHECK_EQ_INT(otlp__parse_retry_after(" 30 ", now), 30000);
	CHECK_EQ_INT(otlp__parse_retry_after("0", now), 0);
	CHECK_EQ_INT(otlp__parse_retry_after("999999999", now), 86400 * 1000LL);
	CHECK_EQ_INT(otlp__parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now), 5000);
	CHECK_EQ_INT(otlp__parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
	CHECK_EQ_INT(otlp__parse_retry_after("soon", now), -1);
	CHECK_EQ_INT(otlp__parse_retry_after("-5", now), -1);
	CHECK_EQ_INT(otlp__parse_retry_after("5s", now), -1);
	CHECK_EQ_INT(otlp__parse_retry_after("", now), -1);
	CHECK_EQ_INT(otlp__parse_retry_after(NULL, now), -1);
}

TEST(test_backoff_and_statuses)
{
	unsigned int a;
	int i;

	for (i = 0; i < 1000; i++) {
		uint64_t r = ((uint64_t)rand() << 32) ^ (uint64_t)rand();

		CHECK(otlp__backoff_ms(1, r) >= 500 && otlp__backoff_ms(1, r) <= 1000);
		CHECK(otlp__backoff_ms(2, r) >= 1000 && otlp__backoff_ms(2, r) <= 2000);
		CHECK(otlp__backoff_ms(5, r) >= 8000 && otlp__backoff_ms(5, r) <= 16000);
		for (a = 6; a < 70; a += 7)
			CHECK(otlp__backoff_ms(a, r) >= 15000 && otlp__backoff_ms(a, r) <= 30000);
	}
	CHECK_EQ_INT(otlp__backoff_ms(1, 0), 500);
	CHECK_EQ_INT(otlp__backoff_ms(0, 500), 1000);
	CHECK(otlp__status_is_retryable(429) && otlp__status_is_retryable(502));
	CHECK(otlp__status_is_retryable(503) && otlp__status_is_retryable(504));
	CHECK(!otlp__status_is_retryable(400) && !otlp__status_is_retryable(413));
	CHECK(!otlp__status_is_retryable(500) && !otlp__status_is_retryable(200));
}

static struct resource *driver_res(void)
{
	struct resource *r = resource__new(4242);

	if (r) {
		resource__set_cstr(r, "service.name", "driver");
		resource__set_int(r, "process.pid", 4242);
	}
	return r;
}

static void make_span(struct span *s, struct resource *r, uint64_t i, const uint8_t *trace,
		      const uint8_t *parent, uint8_t kind)
{
	struct timespec ts;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_REALTIME, &ts);
	memcpy(s->trace_id, trace, 16);
	span__new_span_id(s->span_id);
	if (parent)
		memcpy(s->parent_span_id, parent, 8);
	s->start_unix_ns = (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	s->end_unix_ns = s->start_unix_ns + 1500000 + i;
	s->kind = kind;
	s->status = SPAN_STATUS_UNSET;
	s->res = r;
	snprintf(s->name, sizeof(s->name), "GET /item/{id}");
	span__set_cstr(s, "http.request.method", "GET");
	span__set_cstr(s, "url.path", "/item/17");
	span__set_int(s, "http.response.status_code", 200);
	span__set_int(s, "sonde.test.index", (int64_t)i);
}

TEST(test_console_tree)
{
	struct loop *l = loop__new();
	static struct span s[3];
	struct exporter_stats st;
	struct resource *r = driver_res();
	struct exporter *e;
	char *text = NULL;
	size_t size = 0;
	uint8_t trace[16];
	FILE *out;

	out = open_memstream(&text, &size);
	CHECK(l && r && out);
	if (!l || !r || !out)
		return;
	e = console_exporter__new(l, out);
	CHECK(e != NULL);
	CHECK_STR(exporter__name(e), "console");
	span__new_trace_id(trace);
	make_span(&s[0], r, 0, trace, NULL, SPAN_KIND_SERVER);
	make_span(&s[1], r, 1, trace, s[0].span_id, SPAN_KIND_CLIENT);
	make_span(&s[2], r, 2, trace, (const uint8_t *)"\1\2\3\4\5\6\7\10", SPAN_KIND_CLIENT);
	CHECK_EQ_INT(exporter__submit(e, &s[0]), 0);
	CHECK_EQ_INT(exporter__submit(e, &s[1]), 0);
	CHECK_EQ_INT(exporter__submit(e, &s[2]), 0);
	exporter__flush(e, 0);
	fflush(out);
	/* One trace header, the root, its child indented once more, an orphan marked '^'. */
	CHECK(text && strstr(text, "trace ") == text);
	CHECK(text && strstr(text, "\n  - driver  SERVER  GET /item/{id}"));
	CHECK(text && strstr(text, "\n    - driver  CLIENT  GET /item/{id}"));
	CHECK(text && strstr(text, "\n  ^ driver  CLIENT"));
	CHECK(text && strstr(text, "sonde.test.index=1"));
	CHECK(text && strstr(text, "parent=01020304"));
	exporter__stats(e, &st);
	CHECK_EQ_INT(st.spans_in, 3);
	CHECK_EQ_INT(st.spans_exported, 3);
	exporter__free(e);
	fclose(out);
	if (getenv("SONDE_TEST_VERBOSE"))
		fputs(text, stderr);
	free(text);
	resource__put(r);
	loop__free(l);
}

static void check_identity(const struct exporter_stats *st)
{
	CHECK_EQ_INT(st->spans_in, st->spans_exported + st->spans_dropped_full +
					   st->spans_dropped_failed + st->spans_queued);
}

TEST(test_refused_connection)
{
	struct loop *l = loop__new();
	struct resource *r = driver_res();
	struct exporter_stats st;
	struct otlp_config c;
	struct exporter *e;
	static struct span s;
	uint8_t trace[16];
	uint64_t t0;
	int i;

	if (!l || !r)
		return;
	otlp_config__defaults(&c);
	c.url = "ftp://example.com/";
	CHECK(otlp_exporter__new(l, &c) == NULL);
	/* Port 1 on loopback: nothing listens there, so every attempt is refused at once. */
	c.url = "http://127.0.0.1:1/v1/traces";
	c.max_retry_ms = 1200;
	c.batch_delay_ms = 10;
	e = otlp_exporter__new(l, &c);
	CHECK(e != NULL);
	if (!e)
		return;
	span__new_trace_id(trace);
	for (i = 0; i < 10; i++) {
		make_span(&s, r, i, trace, NULL, SPAN_KIND_SERVER);
		CHECK_EQ_INT(exporter__submit(e, &s), 0);
	}
	t0 = loop__now_ms();
	exporter__flush(e, t0 + 5000);
	exporter__stats(e, &st);
	CHECK_EQ_INT(st.spans_in, 10);
	CHECK_EQ_INT(st.spans_dropped_failed, 10);
	CHECK_EQ_INT(st.spans_queued, 0);
	CHECK(st.errors_transport >= 2);
	CHECK(st.retries >= 1);
	CHECK_EQ_INT(st.requests, st.retries + 1);
	CHECK(loop__now_ms() - t0 < 3000);
	check_identity(&st);
	exporter__free(e);
	resource__put(r);
	loop__free(l);
}

static int drive(int argc, char **argv)
{
	uint64_t n = strtoull(argv[2], NULL, 10), i, deadline_ms = 20000, t0;
	struct exporter_stats st;
	struct otlp_config c;
	struct exporter *e;
	struct resource *r;
	struct loop *l;
	static struct span s;
	uint8_t trace[16], root[8];
	bool vary = false, paced = false;
	char path[1500];
	int k;

	otlp_config__defaults(&c);
	c.url = argv[1];
	for (k = 3; k < argc; k++) {
		char *eq = strchr(argv[k], '=');
		unsigned long v;

		if (!eq) {
			fprintf(stderr, "test_export_driver: expected key=value, got %s\n",
				argv[k]);
			return 2;
		}
		*eq++ = '\0';
		v = strtoul(eq, NULL, 10);
		if (!strcmp(argv[k], "max_queue"))
			c.max_queue = v;
		else if (!strcmp(argv[k], "max_batch"))
			c.max_batch = v;
		else if (!strcmp(argv[k], "batch_delay_ms"))
			c.batch_delay_ms = v;
		else if (!strcmp(argv[k], "timeout_ms"))
			c.timeout_ms = v;
		else if (!strcmp(argv[k], "max_retry_ms"))
			c.max_retry_ms = v;
		else if (!strcmp(argv[k], "gzip"))
			c.gzip = v != 0;
		else if (!strcmp(argv[k], "headers"))
			c.headers = eq;
		else if (!strcmp(argv[k], "ca_file"))
			c.ca_file = eq;
		else if (!strcmp(argv[k], "insecure"))
			c.insecure = v != 0;
		else if (!strcmp(argv[k], "deadline_ms"))
			deadline_ms = v;
		else if (!strcmp(argv[k], "vary"))
			vary = v != 0;
		else if (!strcmp(argv[k], "paced"))
			paced = v != 0;
		else {
			fprintf(stderr, "test_export_driver: unknown option %s\n", argv[k]);
			return 2;
		}
	}
	l = loop__new();
	r = driver_res();
	if (!l || !r)
		return 1;
	e = otlp_exporter__new(l, &c);
	if (!e)
		return 1;
	t0 = loop__now_ms();
	span__new_trace_id(trace);
	for (i = 0; i < n; i++) {
		/* Traces of ten spans: one root and nine children. */
		if (i % 10 == 0)
			span__new_trace_id(trace);
		make_span(&s, r, i, trace, i % 10 ? root : NULL,
			  i % 10 ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER);
		if (i % 10 == 0)
			memcpy(root, s.span_id, 8);
		if (vary) {
			size_t len = 3 + (i * 131) % 1400;

			memset(path, 'p', len);
			memcpy(path, "/v/", 3);
			span__set_str(&s, "url.path", path, len);
		}
		while (paced && !exporter__room(e) && loop__now_ms() < t0 + deadline_ms)
			loop__run_once(l, 100);
		exporter__submit(e, &s);
	}
	exporter__flush(e, t0 + deadline_ms);
	exporter__stats(e, &st);
	printf("{\"spans_in\": %llu, \"spans_exported\": %llu, \"spans_dropped_full\": %llu, "
	       "\"spans_dropped_failed\": %llu, \"spans_rejected\": %llu, \"spans_queued\": %llu, "
	       "\"requests\": %llu, \"retries\": %llu, \"errors_http\": %llu, "
	       "\"errors_transport\": %llu, \"elapsed_ms\": %llu}\n",
	       (unsigned long long)st.spans_in, (unsigned long long)st.spans_exported,
	       (unsigned long long)st.spans_dropped_full,
	       (unsigned long long)st.spans_dropped_failed, (unsigned long long)st.spans_rejected,
	       (unsigned long long)st.spans_queued, (unsigned long long)st.requests,
	       (unsigned long long)st.retries, (unsigned long long)st.errors_http,
	       (unsigned long long)st.errors_transport,
	       (unsigned long long)(loop__now_ms() - t0));
	exporter__free(e);
	resource__put(r);
	loop__free(l);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3)
		return drive(argc, argv);
	RUN(test_parse_headers);
	RUN(test_retry_after);
	RUN(test_backoff_and_statuses);
	RUN(test_console_tree);
	RUN(test_refused_connection);
	UNIT_DONE();
}
