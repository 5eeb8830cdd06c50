/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for the request metrics (agent/red.c): which metric a span counts in, its labels
 * (service.name first, the conventions' attributes, escaped), the buckets' edges (a value on a
 * bound is in that bound's bucket), the exact Prometheus text, exemplars only from sampled spans
 * and only in OpenMetrics, the overflow series past the bound, and the bucket list option.
 */
#include <stdint.h>
#include <stdlib.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "red.h"
#include "unit.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_req;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;

static struct resource *res;

static void span_init(struct span *sp, uint8_t kind, uint64_t dur_ns, uint8_t id)
{
	memset(sp, 0, offsetof(struct span, attrs));
	memset(sp->trace_id, id, sizeof(sp->trace_id));
	memset(sp->span_id, id + 1, sizeof(sp->span_id));
	sp->start_unix_ns = 1700000000ULL * 1000000000ULL;
	sp->end_unix_ns = sp->start_unix_ns + dur_ns;
	sp->kind = kind;
	sp->res = res;
}

static void http_server(struct span *sp, uint64_t dur_ns, int status, uint8_t id)
{
	span_init(sp, SPAN_KIND_SERVER, dur_ns, id);
	span__add_cstr(sp, "http.request.method", "GET");
	span__add_cstr(sp, "url.path", "/api/users/7"); /* not a label: high cardinality */
	span__add_cstr(sp, "url.scheme", "http");
	span__add_cstr(sp, "url.template", "/api/users/{id}");
	span__add_int(sp, "http.response.status_code", status);
	if (status >= 500)
		span__add_cstr(sp, "error.type", "500");
}

static char *render(struct red *r, bool om)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	red__render(r, f, om);
	fclose(f);
	return text;
}

TEST(http_server_histogram_text)
{
	struct red *r = red__new(0, NULL, 0);
	struct red_stats st;
	struct span sp;
	char *text;

	http_server(&sp, 5000000, 200, 1);  /* 5 ms: on the first bound, in its bucket */
	red__observe(r, &sp, true, NULL, 0);
	http_server(&sp, 300000000, 200, 3); /* 300 ms */
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK_STR(text,
		  "# HELP http_server_request_duration_seconds Duration of HTTP server requests "
		  "(http.server.request.duration).\n"
		  "# TYPE http_server_request_duration_seconds histogram\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.005\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.01\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.025\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.05\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.075\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.1\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.25\"} 1\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.5\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.75\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"1\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"2.5\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"5\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"7.5\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"10\"} 2\n"
		  "http_server_request_duration_seconds_bucket{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"+Inf\"} 2\n"
		  "http_server_request_duration_seconds_sum{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\"} 0.305\n"
		  "http_server_request_duration_seconds_count{service_name=\"shop \\\"a\\\"\","
		  "http_request_method=\"GET\",http_response_status_code=\"200\","
		  "url_scheme=\"http\",url_template=\"/api/users/{id}\"} 2\n");
	free(text);
	red__stats(r, &st);
	CHECK_EQ_INT(st.series, 1);
	CHECK_EQ_INT(st.observed, 2);
	CHECK_EQ_INT(st.overflows, 0);
	red__free(r);
}

/* The exemplar of a bucket is its latest sampled span, in OpenMetrics only. */
TEST(exemplars_from_sampled_spans)
{
	struct red *r = red__new(0, NULL, 0);
	struct span sp;
	char *text;

	http_server(&sp, 4000000, 200, 0xaa); /* sampled: the 0.005 bucket's exemplar */
	red__observe(r, &sp, true, NULL, 0);
	http_server(&sp, 4500000, 200, 0xcc); /* not sampled: never an exemplar */
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, true);
	CHECK(strstr(text, "# UNIT http_server_request_duration_seconds seconds\n") != NULL);
	CHECK(strstr(text, "le=\"0.005\"} 2 # {trace_id=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
			   "span_id=\"abababababababab\"} 0.004 1700000000.004\n") != NULL);
	CHECK(strstr(text, "cccc") == NULL);
	CHECK(strstr(text, "le=\"0.01\"} 2\n") != NULL); /* no exemplar where none fell */
	free(text);
	text = render(r, false);
	CHECK(strstr(text, " # {") == NULL && strstr(text, "# UNIT") == NULL);
	free(text);
	red__free(r);
}

/* Which metric: gRPC before HTTP, clients apart, the database's own side not at all. */
TEST(metric_of_each_kind)
{
	struct red *r = red__new(0, NULL, 0);
	struct span sp;
	char *text;

	span_init(&sp, SPAN_KIND_CLIENT, 1000000, 1);
	span__add_cstr(&sp, "rpc.system.name", "grpc");
	span__add_cstr(&sp, "rpc.method", "shop.Cart/Add");
	span__add_cstr(&sp, "rpc.response.status_code", "OK");
	span__add_cstr(&sp, "server.address", "10.0.0.1");
	span__add_int(&sp, "server.port", 50051);
	red__observe(r, &sp, false, NULL, 0);
	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1);
	span__add_cstr(&sp, "db.system.name", "redis");
	span__add_cstr(&sp, "db.operation.name", "GET");
	span__add_cstr(&sp, "db.namespace", "0");
	span__add_cstr(&sp, "db.query.text", "GET ?"); /* not a label */
	red__observe(r, &sp, false, NULL, 0);
	span_init(&sp, SPAN_KIND_SERVER, 2000000, 1); /* redis-server's side: no metric */
	span__add_cstr(&sp, "db.system.name", "redis");
	red__observe(r, &sp, false, NULL, 0);
	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1); /* neither: nothing */
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK(strstr(text, "rpc_client_call_duration_seconds_count{service_name=\"shop \\\"a\\\"\","
			   "rpc_system_name=\"grpc\",rpc_method=\"shop.Cart/Add\","
			   "rpc_response_status_code=\"OK\",server_address=\"10.0.0.1\","
			   "server_port=\"50051\"} 1\n") != NULL);
	CHECK(strstr(text, "db_client_operation_duration_seconds_bucket{service_name=\"shop "
			   "\\\"a\\\"\",db_system_name=\"redis\",db_operation_name=\"GET\","
			   "db_namespace=\"0\",le=\"0.001\"} 0\n") != NULL);
	CHECK(strstr(text, "db_client_operation_duration_seconds_count{service_name=\"shop "
			   "\\\"a\\\"\",db_system_name=\"redis\",db_operation_name=\"GET\","
			   "db_namespace=\"0\"} 1\n") != NULL);
	CHECK(strstr(text, "http_") == NULL && strstr(text, "query") == NULL);
	free(text);
	red__free(r);
}

/* Past the bound, one overflow series per metric takes every new label set. */
TEST(overflow_series)
{
	struct red *r = red__new(2, NULL, 0);
	struct red_stats st;
	struct span sp;
	char *text;
	int i;

	for (i = 0; i < 5; i++) {
		http_server(&sp, 1000000, 200 + i, 1);
		red__observe(r, &sp, false, NULL, 0);
	}
	http_server(&sp, 1000000, 200, 1); /* a known series is still its own */
	red__observe(r, &sp, false, NULL, 0);
	red__stats(r, &st);
	CHECK_EQ_INT(st.series, 3);
	CHECK_EQ_INT(st.overflows, 3);
	text = render(r, false);
	CHECK(strstr(text, "http_server_request_duration_seconds_count{otel_metric_overflow="
			   "\"true\"} 3\n") != NULL);
	CHECK(strstr(text, "http_response_status_code=\"200\",url_scheme=\"http\","
			   "url_template=\"/api/users/{id}\"} 2\n") != NULL);
	CHECK(strstr(text, "\"202\"") == NULL);
	free(text);
	red__free(r);
}

TEST(bucket_option)
{
	double b[RED_BOUNDS_MAX];
	struct red *r;
	struct span sp;
	char *text;

	CHECK_EQ_INT(red__parse_bounds("0.1,1,10", b), 3);
	CHECK(b[0] == 0.1 && b[2] == 10);
	CHECK_EQ_INT(red__parse_bounds("1,0.5", b), -1);
	CHECK_EQ_INT(red__parse_bounds("0,1", b), -1);
	CHECK_EQ_INT(red__parse_bounds("1,,2", b), -1);
	CHECK_EQ_INT(red__parse_bounds("1;2", b), -1);
	CHECK_EQ_INT(red__parse_bounds("", b), -1);
	CHECK_EQ_INT(red__parse_bounds("nan", b), -1);
	CHECK_EQ_INT(red__parse_bounds("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
				       "23,24,25,26,27,28,29,30,31,32,33", b), -1);
	CHECK_EQ_INT(red__parse_bounds("0.25,2", b), 2);
	r = red__new(0, b, 2);
	http_server(&sp, 3000000000ULL, 200, 1);
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK(strstr(text, "le=\"0.25\"} 0\n") != NULL && strstr(text, "le=\"2\"} 0\n") != NULL);
	CHECK(strstr(text, "le=\"+Inf\"} 1\n") != NULL && strstr(text, "le=\"0.005\"") == NULL);
	free(text);
	red__free(r);
}

static int occurrences(const char *text, const char *what)
{
	int n = 0;

	for (; (text = strstr(text, what)); text++)
		n++;
	return n;
}

/* Body sizes where the span has them: the request's only with a body, bytes as the unit, their
 * own bounds (not the user's duration bounds), under the labels of the request's duration. */
TEST(body_size_histograms)
{
	double b[RED_BOUNDS_MAX];
	struct red *r;
	struct span sp;
	char *text;
	int nb = red__parse_bounds("0.25,2", b);

	r = red__new(0, b, nb);
	http_server(&sp, 1000000, 200, 1);
	span__add_int(&sp, "http.request.body.size", 300);
	span__add_int(&sp, "http.response.body.size", 0);
	red__observe(r, &sp, true, NULL, 0);
	http_server(&sp, 1000000, 200, 2); /* a GET: its response's size only */
	span__add_int(&sp, "http.response.body.size", 70000);
	red__observe(r, &sp, false, NULL, 0);
	http_server(&sp, 1000000, 200, 3); /* neither known (a summarized response) */
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, true);
	CHECK(strstr(text, "# TYPE http_server_request_body_size_bytes histogram\n"
			   "# UNIT http_server_request_body_size_bytes bytes\n") != NULL);
	CHECK(strstr(text, "# UNIT http_server_request_duration_seconds seconds\n") != NULL);
#define SRV "{service_name=\"shop \\\"a\\\"\",http_request_method=\"GET\"," \
	    "http_response_status_code=\"200\",url_scheme=\"http\"," \
	    "url_template=\"/api/users/{id}\""
	CHECK(strstr(text, "http_server_request_body_size_bytes_bucket" SRV ",le=\"256\"} 0\n"
			   "http_server_request_body_size_bytes_bucket" SRV ",le=\"1024\"} 1 # "
			   "{trace_id=\"01010101010101010101010101010101\"") != NULL);
	CHECK(strstr(text, "http_server_request_body_size_bytes_sum" SRV "} 300\n"
			   "http_server_request_body_size_bytes_count" SRV "} 1\n") != NULL);
	CHECK(strstr(text, "http_server_response_body_size_bytes_bucket" SRV ",le=\"0\"} 1") !=
	      NULL);
	CHECK(strstr(text, "http_server_response_body_size_bytes_bucket" SRV ",le=\"65536\"} 1\n"
			   "http_server_response_body_size_bytes_bucket" SRV ",le=\"262144\"} 2\n") !=
	      NULL);
	CHECK(strstr(text, "http_server_response_body_size_bytes_count" SRV "} 2\n") != NULL);
	CHECK(strstr(text, "http_server_request_duration_seconds_count" SRV "} 3\n") != NULL);
#undef SRV
	/* the user's bounds are the durations' only */
	CHECK(strstr(text, "http_server_request_duration_seconds_bucket{service_name=\"shop "
			   "\\\"a\\\"\",http_request_method=\"GET\",http_response_status_code=\"200\""
			   ",url_scheme=\"http\",url_template=\"/api/users/{id}\",le=\"0.25\"} 3") !=
	      NULL);
	free(text);
	red__free(r);
}

/* The service graph: edges to traced peers, to addresses (virtual nodes, databases), and
 * from callers as their servers saw them; request and failure counts at the client end. */
TEST(service_graph_edges)
{
	struct red *r = red__new(0, NULL, 0);
	struct span sp;
	char *text;

	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1); /* to a traced process: its name */
	span__add_cstr(&sp, "http.request.method", "GET");
	span__add_int(&sp, "http.response.status_code", 200);
	span__add_cstr(&sp, "server.address", "127.0.0.1");
	span__add_int(&sp, "server.port", 8080);
	red__observe(r, &sp, false, "cart", 4);
	sp.status = SPAN_STATUS_ERROR;
	red__observe(r, &sp, false, "cart", 4);
	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1); /* to nobody sonde traces: the address */
	span__add_cstr(&sp, "http.request.method", "GET");
	span__add_cstr(&sp, "server.address", "api.example.com");
	span__add_int(&sp, "server.port", 443);
	red__observe(r, &sp, false, NULL, 0);
	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1); /* a database nobody traces */
	span__add_cstr(&sp, "db.system.name", "redis");
	span__add_cstr(&sp, "server.address", "10.0.0.9");
	span__add_int(&sp, "server.port", 6379);
	red__observe(r, &sp, false, NULL, 0);
	span_init(&sp, SPAN_KIND_SERVER, 1000000, 1); /* called by a traced process */
	span__add_cstr(&sp, "http.request.method", "GET");
	red__observe(r, &sp, false, "front", 5);
	span_init(&sp, SPAN_KIND_SERVER, 1000000, 1); /* a caller sonde does not see: no edge */
	span__add_cstr(&sp, "http.request.method", "POST");
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK(strstr(text, "# TYPE traces_service_graph_request_total counter\n"
			   "traces_service_graph_request_total{client=\"shop \\\"a\\\"\","
			   "server=\"cart\"} 2\n"
			   "traces_service_graph_request_total{client=\"shop \\\"a\\\"\","
			   "server=\"api.example.com:443\",connection_type=\"virtual_node\"} 1\n"
			   "traces_service_graph_request_total{client=\"shop \\\"a\\\"\","
			   "server=\"10.0.0.9:6379\",connection_type=\"database\"} 1\n") != NULL);
	CHECK(strstr(text, "traces_service_graph_request_failed_total{client=\"shop \\\"a\\\"\","
			   "server=\"cart\"} 1\n") != NULL);
	CHECK(strstr(text, "traces_service_graph_request_server_seconds_count{client=\"front\","
			   "server=\"shop \\\"a\\\"\"} 1\n") != NULL);
	CHECK(strstr(text, "traces_service_graph_request_client_seconds_bucket{client=\"shop "
			   "\\\"a\\\"\",server=\"cart\",le=\"0.005\"} 2\n") != NULL);
	/* the server span without a traced caller made no edge: one server-end series only */
	CHECK_EQ_INT(occurrences(text, "traces_service_graph_request_server_seconds_count{"), 1);
	free(text);
	text = render(r, true); /* OpenMetrics: the counter family without _total */
	CHECK(strstr(text, "# TYPE traces_service_graph_request counter\n") != NULL);
	CHECK(strstr(text, "# TYPE traces_service_graph_request_failed counter\n") != NULL);
	free(text);
	red__free(r);
}

/* A declared route labels the request; the template heuristic only where none matched. */
TEST(declared_route_label)
{
	struct red *r = red__new(0, NULL, 0);
	struct span sp;
	char *text;

	http_server(&sp, 1000000, 200, 1);
	span__add_cstr(&sp, "http.route", "/api/users/{id}");
	red__observe(r, &sp, false, NULL, 0);
	http_server(&sp, 1000000, 200, 1); /* the same template, no route: a series of its own */
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK(strstr(text, "_count{service_name=\"shop \\\"a\\\"\",http_request_method=\"GET\","
			   "http_response_status_code=\"200\",url_scheme=\"http\","
			   "http_route=\"/api/users/{id}\"} 1\n") != NULL);
	CHECK(strstr(text, "url_scheme=\"http\",url_template=\"/api/users/{id}\"} 1\n") != NULL);
	free(text);
	red__free(r);
}

/* The request's metric of that name under the resource of that service, or NULL. */
static const pb_metric *otlp_metric(const pb_req *req, const char *service, const char *name)
{
	size_t i, j, k;

	for (i = 0; i < req->n_resource_metrics; i++) {
		const Opentelemetry__Proto__Resource__V1__Resource *res =
			req->resource_metrics[i]->resource;
		bool mine = false;

		for (j = 0; j < res->n_attributes; j++)
			mine = mine || (!strcmp(res->attributes[j]->key, "service.name") &&
					!strcmp(res->attributes[j]->value->string_value, service));
		if (!mine)
			continue;
		for (j = 0; j < req->resource_metrics[i]->n_scope_metrics; j++)
			for (k = 0; k < req->resource_metrics[i]->scope_metrics[j]->n_metrics; k++)
				if (!strcmp(req->resource_metrics[i]->scope_metrics[j]->metrics[k]->name,
					    name))
					return req->resource_metrics[i]->scope_metrics[j]->metrics[k];
	}
	return NULL;
}

static pb_req *encode(struct red *r, bool delta, uint64_t now, uint32_t *n)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	pb_req *req;

	CHECK_EQ_INT(red__encode_otlp(r, delta, now, &buf, &len, n), 0);
	if (!buf)
		return NULL;
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	CHECK(req != NULL);
	return req;
}

/* OTLP: a resource per service, the conventions' names and unit, bounds and per-bucket counts,
 * attributes without the service, exemplars as bytes; the graph's counts as monotonic sums;
 * delta sends what changed since the last export, and nothing when nothing did. */
TEST(otlp_encoding)
{
	struct red *r = red__new(0, NULL, 0);
	const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *dp;
	const pb_metric *m;
	struct span sp;
	uint32_t n = 0;
	pb_req *req;
	size_t i;

	http_server(&sp, 4000000, 200, 0xaa);
	red__observe(r, &sp, true, "front", 5);
	http_server(&sp, 300000000, 200, 0xbb);
	red__observe(r, &sp, false, "front", 5);
	req = encode(r, false, 1700000001000000000ULL, &n);
	CHECK_EQ_INT(n, 2); /* the histogram's point, and the graph's server end */
	m = req ? otlp_metric(req, "shop \"a\"", "http.server.request.duration") : NULL;
	CHECK(m != NULL);
	if (m) {
		CHECK_STR(m->unit, "s");
		CHECK_EQ_INT(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
		CHECK_EQ_INT(m->histogram->aggregation_temporality,
			     OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
		dp = m->histogram->data_points[0];
		CHECK_EQ_INT(dp->count, 2);
		CHECK_EQ_INT(dp->n_explicit_bounds, 14);
		CHECK_EQ_INT(dp->n_bucket_counts, 15);
		CHECK(dp->explicit_bounds[0] == 0.005);
		CHECK_EQ_INT(dp->bucket_counts[0], 1); /* 4 ms */
		CHECK_EQ_INT(dp->bucket_counts[7], 1); /* 300 ms: (0.25, 0.5] */
		CHECK(dp->sum > 0.3039 && dp->sum < 0.3041);
		CHECK_EQ_INT(dp->time_unix_nano, 1700000001000000000ULL);
		/* cumulative: from the series' beginning, a real time (the test's now is not) */
		CHECK(dp->start_time_unix_nano > 1700000001000000000ULL);
		for (i = 0; i < dp->n_attributes; i++)
			CHECK(strcmp(dp->attributes[i]->key, "service.name"));
		CHECK_EQ_INT(dp->n_exemplars, 1); /* the sampled one only */
		CHECK(dp->exemplars[0]->trace_id.len == 16 && dp->exemplars[0]->trace_id.data[0] == 0xaa);
		CHECK(dp->exemplars[0]->span_id.len == 8 && dp->exemplars[0]->span_id.data[0] == 0xab);
	}
	CHECK(req && otlp_metric(req, "shop \"a\"", "traces_service_graph_request_server") != NULL);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	/* delta: the first export sends all, the next what came after it, then nothing */
	req = encode(r, true, 1700000002000000000ULL, &n);
	CHECK_EQ_INT(n, 2);
	if (req)
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
			req, NULL);
	http_server(&sp, 4000000, 200, 0xcc);
	red__observe(r, &sp, false, NULL, 0); /* no caller seen: no edge this time */
	req = encode(r, true, 1700000003000000000ULL, &n);
	CHECK_EQ_INT(n, 1);
	m = req ? otlp_metric(req, "shop \"a\"", "http.server.request.duration") : NULL;
	if (m) {
		dp = m->histogram->data_points[0];
		CHECK_EQ_INT(dp->count, 1);
		CHECK_EQ_INT(dp->bucket_counts[0], 1);
		CHECK_EQ_INT(dp->start_time_unix_nano, 1700000002000000000ULL);
		CHECK_EQ_INT(m->histogram->aggregation_temporality,
			     OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
	}
	if (req)
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
			req, NULL);
	CHECK(encode(r, true, 1700000004000000000ULL, &n) == NULL && n == 0);
	/* a body size: its own metric, in bytes */
	http_server(&sp, 4000000, 200, 0xdd);
	span__add_int(&sp, "http.response.body.size", 1500);
	red__observe(r, &sp, false, NULL, 0);
	req = encode(r, true, 1700000005000000000ULL, &n);
	m = req ? otlp_metric(req, "shop \"a\"", "http.server.response.body.size") : NULL;
	CHECK(m != NULL);
	if (m) {
		CHECK_STR(m->unit, "By");
		dp = m->histogram->data_points[0];
		CHECK_EQ_INT(dp->count, 1);
		CHECK(dp->sum == 1500 && dp->n_explicit_bounds == 12 && dp->bucket_counts[4] == 1);
	}
	if (req)
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
			req, NULL);
	red__free(r);
}

/* The graph's client end: the request and failure counts as monotonic sums. */
TEST(otlp_graph_counts)
{
	struct red *r = red__new(0, NULL, 0);
	const pb_metric *m;
	struct span sp;
	uint32_t n = 0;
	pb_req *req;

	span_init(&sp, SPAN_KIND_CLIENT, 2000000, 1);
	span__add_cstr(&sp, "http.request.method", "GET");
	red__observe(r, &sp, false, "cart", 4);
	sp.status = SPAN_STATUS_ERROR;
	red__observe(r, &sp, false, "cart", 4);
	req = encode(r, false, 1700000001000000000ULL, &n);
	m = req ? otlp_metric(req, "shop \"a\"", "traces_service_graph_request_failed_total")
		: NULL;
	CHECK(m != NULL);
	if (m) {
		CHECK_EQ_INT(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
		CHECK(m->sum->is_monotonic);
		CHECK_EQ_INT(m->sum->data_points[0]->as_int, 1);
		CHECK_EQ_INT(m->sum->data_points[0]->n_attributes, 2); /* client, server */
	}
	m = req ? otlp_metric(req, "shop \"a\"", "traces_service_graph_request_total") : NULL;
	CHECK(m && m->sum->data_points[0]->as_int == 2);
	if (req)
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
			req, NULL);
	red__free(r);
}

/* Bytes that are not UTF-8 (garbage on a socket) would fail a whole scrape, or a whole OTLP
 * request: they become U+FFFD in both; valid multi-byte characters stay. */
TEST(labels_are_valid_utf8)
{
	static const char bad[] = {'/', 'x', (char)0xff, 'y', 0, (char)0xc3, (char)0xa9};
	struct red *r = red__new(0, NULL, 0);
	struct span sp;
	uint32_t n = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	char *text;
	pb_req *req;

	http_server(&sp, 1000000, 200, 1);
	span__add_str(&sp, "http.route", bad, sizeof(bad));
	red__observe(r, &sp, false, NULL, 0);
	text = render(r, false);
	CHECK(strstr(text, "http_route=\"/x\xef\xbf\xbdy\xef\xbf\xbd\xc3\xa9\"") != NULL);
	free(text);
	CHECK_EQ_INT(red__encode_otlp(r, false, 1700000001000000000ULL, &buf, &len, &n), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		const pb_metric *m = otlp_metric(req, "shop \"a\"", "http.server.request.duration");
		const char *v = NULL;
		size_t i;

		for (i = 0; m && i < m->histogram->data_points[0]->n_attributes; i++)
			if (!strcmp(m->histogram->data_points[0]->attributes[i]->key, "http.route"))
				v = m->histogram->data_points[0]->attributes[i]->value->string_value;
		CHECK(v && !strcmp(v, "/x\xef\xbf\xbdy\xef\xbf\xbd\xc3\xa9"));
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
			req, NULL);
	}
	free(buf);
	red__free(r);
}

int main(void)
{
	res = resource__new(42);
	resource__set_cstr(res, "service.name", "shop \"a\"");
	RUN(http_server_histogram_text);
	RUN(exemplars_from_sampled_spans);
	RUN(metric_of_each_kind);
	RUN(overflow_series);
	RUN(bucket_option);
	RUN(body_size_histograms);
	RUN(service_graph_edges);
	RUN(declared_route_label);
	RUN(otlp_encoding);
	RUN(otlp_graph_counts);
	RUN(labels_are_valid_utf8);
	resource__put(res);
	UNIT_DONE();
}
