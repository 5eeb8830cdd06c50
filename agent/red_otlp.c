// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The request metrics as an OTLP ExportMetricsServiceRequest (red.h): one ResourceMetrics per
 * service (the series' service.name; a service-graph series belongs to its reporting end), one
 * Metric per kind, a data point per series. Histograms with their bounds, counts, sum and
 * exemplars; the service graph's request and failure counts as monotonic sums. Cumulative from
 * each series' start, or delta since the last export (then a series without news sends none).
 * Built as a protobuf-c message tree once a minute or so: no hand-written wire format needed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "export/otlp_encode.h"
#include "red_impl.h"

#ifndef SONDE_VERSION
#define SONDE_VERSION "0.0.0"
#endif

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_rm;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_sm;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__Histogram pb_hist;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_hdp;
typedef Opentelemetry__Proto__Metrics__V1__Sum pb_sum;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_ndp;
typedef Opentelemetry__Proto__Metrics__V1__Exemplar pb_ex;

#define TEMP_DELTA \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define TEMP_CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define REQ_SIZE \
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size
#define REQ_PACK opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack

/* The service graph's counts: two more kinds after the histograms. */
enum { K_REQUESTS = RED_METRICS, K_FAILED, KINDS };
#define SERVICES_MAX 256

/* Every allocation of one encoding, freed together. */
struct arena {
	void **p;
	size_t n, cap;
	bool failed;
};

static void *a_alloc(struct arena *a, size_t size)
{
	void *m, **np;

	if (a->failed)
		return NULL;
	if (a->n == a->cap) {
		np = realloc(a->p, (a->cap ? a->cap * 2 : 64) * sizeof(*np));
		if (!np) {
			a->failed = true;
			return NULL;
		}
		a->p = np;
		a->cap = a->cap ? a->cap * 2 : 64;
	}
	m = calloc(1, size ? size : 1);
	if (!m) {
		a->failed = true;
		return NULL;
	}
	a->p[a->n++] = m;
	return m;
}

/* A copy of [s, s + n) made valid UTF-8, which proto3 requires of strings (a receiver rejects
 * the whole request otherwise): a byte that starts no sequence becomes U+FFFD. */
static char *a_str(struct arena *a, const char *s, size_t n)
{
	char *c = a_alloc(a, 3 * n + 1);

	if (c)
		otlp__utf8_repair(c, s, n);
	return c;
}

static void a_free(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

/* The label names of a series of metric m, in the order of its key; their count. */
static int label_names(int m, const char *names[RED_LABELS_MAX + 1])
{
	int i, n = 0;

	if (m == RED_GRAPH_CLIENT || m == RED_GRAPH_SERVER) {
		names[0] = "client";
		names[1] = "server";
		names[2] = "connection_type";
		return 3;
	}
	names[n++] = "service.name";
	for (i = 0; i < RED_LABELS_MAX && red_defs[m].labels[i]; i++)
		names[n++] = red_defs[m].labels[i];
	return n;
}

/* The values in a series' key (red.c's key_of): NULL where absent; their count. */
static int key_values(const struct red_series *s, int max, const char *v[], size_t len[])
{
	size_t at = 0;
	uint16_t l;
	int n = 0;

	while (n < max && at + 2 <= s->key_len) {
		memcpy(&l, s->key + at, 2);
		at += 2;
		v[n] = l == 0xffff ? NULL : s->key + at;
		len[n] = l == 0xffff ? 0 : l;
		at += l == 0xffff ? 0 : l;
		n++;
	}
	return n;
}

static pb_kv *kv_str(struct arena *a, const char *key, const char *val, size_t len)
{
	pb_kv *kv = a_alloc(a, sizeof(*kv));
	pb_any *v = a_alloc(a, sizeof(*v));

	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = a_str(a, val, len);
	kv->value = v;
	return v->string_value ? kv : NULL;
}

/* One series' labels as data-point attributes (the service.name is its resource's). */
static pb_kv **attributes(struct arena *a, const struct red_series *s, size_t *n_out)
{
	const char *names[RED_LABELS_MAX + 1], *v[RED_LABELS_MAX + 1];
	size_t len[RED_LABELS_MAX + 1];
	int n = label_names(s->metric, names), k, i;
	pb_kv **out = a_alloc(a, (RED_LABELS_MAX + 2) * sizeof(*out));

	*n_out = 0;
	if (!out)
		return NULL;
	if (!s->key_len) { /* the overflow series */
		out[(*n_out)++] = kv_str(a, "otel.metric.overflow", "true", 4);
		return out;
	}
	k = key_values(s, n, v, len);
	for (i = 0; i < k; i++)
		if (v[i] && strcmp(names[i], "service.name"))
			out[(*n_out)++] = kv_str(a, names[i], v[i], len[i]);
	return out;
}

/* Which service a series reports under: its service.name, a graph edge's reporting end. */
static void service_of(const struct red_series *s, const char **name, size_t *len)
{
	const char *v[3];
	size_t l[3];
	int k;

	*name = "sonde";
	*len = 5;
	if (!s->key_len)
		return;
	k = key_values(s, 3, v, l);
	if (s->metric == RED_GRAPH_SERVER && k > 1 && v[1]) {
		*name = v[1];
		*len = l[1];
	} else if (k > 0 && v[0]) {
		*name = v[0];
		*len = l[0];
	}
}

/* One export's resources and the data points of each kind under each. */
struct build {
	struct arena a;
	bool delta;
	uint64_t now;
	int n_services;
	struct {
		const char *name;
		size_t len;
		void **points[KINDS]; /* pb_hdp * or pb_ndp *, by kind (malloc'ed, doubling) */
		size_t n[KINDS], cap[KINDS];
	} svc[SERVICES_MAX];
	uint32_t n_points;
};

static int service_index(struct build *b, const char *name, size_t len)
{
	int i;

	for (i = 0; i < b->n_services; i++)
		if (b->svc[i].len == len && !memcmp(b->svc[i].name, name, len))
			return i;
	if (b->n_services == SERVICES_MAX)
		return -1;
	b->svc[i].name = name;
	b->svc[i].len = len;
	return b->n_services++;
}

static void add_point(struct build *b, int svc, int kind, void *dp)
{
	size_t cap = b->svc[svc].cap[kind];
	void **np;

	if (!dp)
		return;
	if (b->svc[svc].n[kind] == cap) {
		cap = cap ? cap * 2 : 16;
		np = realloc(b->svc[svc].points[kind], cap * sizeof(*np));
		if (!np) {
			b->a.failed = true;
			return;
		}
		b->svc[svc].points[kind] = np;
		b->svc[svc].cap[kind] = cap;
	}
	b->svc[svc].points[kind][b->svc[svc].n[kind]++] = dp;
	b->n_points++;
}

static void build_free(struct build *b)
{
	int i, k;

	for (i = 0; i < b->n_services; i++)
		for (k = 0; k < KINDS; k++)
			free(b->svc[i].points[k]);
	a_free(&b->a);
}

/* A series' start: its beginning, or in delta its last export. */
static uint64_t start_of(const struct build *b, const struct red_series *s)
{
	return b->delta && s->sent_ns ? s->sent_ns : s->created_ns;
}

static pb_hdp *histogram_point(struct build *b, const struct red *r, const struct red_series *s)
{
	pb_hdp *dp = a_alloc(&b->a, sizeof(*dp));
	const double *bounds;
	uint64_t start = start_of(b, s);
	int nb, i;
	size_t ne = 0;

	if (!dp)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(dp);
	bounds = red_bounds(r, s->metric, &nb);
	dp->attributes = attributes(&b->a, s, &dp->n_attributes);
	dp->start_time_unix_nano = start;
	dp->time_unix_nano = b->now;
	dp->count = s->count - (b->delta ? s->sent_count : 0);
	dp->sum = s->sum - (b->delta ? s->sent_sum : 0);
	dp->n_bucket_counts = (size_t)nb + 1;
	dp->bucket_counts = a_alloc(&b->a, dp->n_bucket_counts * sizeof(uint64_t));
	dp->n_explicit_bounds = (size_t)nb;
	dp->explicit_bounds = a_alloc(&b->a, (size_t)nb * sizeof(double));
	dp->exemplars = a_alloc(&b->a, ((size_t)nb + 1) * sizeof(*dp->exemplars));
	if (!dp->bucket_counts || !dp->explicit_bounds || !dp->exemplars || !dp->attributes)
		return NULL;
	memcpy(dp->explicit_bounds, bounds, (size_t)nb * sizeof(double));
	for (i = 0; i <= nb; i++) {
		const struct red_exemplar *e = &s->exemplars[i];
		pb_ex *x;

		dp->bucket_counts[i] = s->buckets[i] -
				       (b->delta && s->sent_buckets ? s->sent_buckets[i] : 0);
		if (!e->set || (b->delta && e->unix_ns < start))
			continue;
		x = a_alloc(&b->a, sizeof(*x));
		if (!x)
			return NULL;
		opentelemetry__proto__metrics__v1__exemplar__init(x);
		x->time_unix_nano = e->unix_ns;
		x->value_case = OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_AS_DOUBLE;
		x->as_double = e->value;
		x->trace_id.data = (uint8_t *)e->trace_id;
		x->trace_id.len = 16;
		x->span_id.data = (uint8_t *)e->span_id;
		x->span_id.len = 8;
		dp->exemplars[ne++] = x;
	}
	dp->n_exemplars = ne;
	return dp;
}

static pb_ndp *count_point(struct build *b, const struct red_series *s, bool failed)
{
	pb_ndp *dp = a_alloc(&b->a, sizeof(*dp));
	uint64_t v = failed ? s->failed - (b->delta ? s->sent_failed : 0)
			    : s->count - (b->delta ? s->sent_count : 0);

	if (!dp)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(dp);
	dp->attributes = attributes(&b->a, s, &dp->n_attributes);
	dp->start_time_unix_nano = start_of(b, s);
	dp->time_unix_nano = b->now;
	dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	dp->as_int = (int64_t)v;
	return dp->attributes ? dp : NULL;
}

/* Every series' data points into b (in delta, only those with news). */
static void collect_points(struct build *b, const struct red *r)
{
	const struct red_series *s;
	const char *name;
	size_t len;
	int m, svc, pass;

	for (m = 0; m < RED_METRICS; m++)
		for (pass = 0; pass < 2; pass++)
			for (s = pass ? r->overflow[m] : r->first[m]; s;
			     s = pass ? NULL : s->after) {
				if (b->delta && s->count == s->sent_count)
					continue;
				service_of(s, &name, &len);
				svc = service_index(b, name, len);
				if (svc < 0)
					continue; /* more services than one request holds */
				add_point(b, svc, m, histogram_point(b, r, s));
				if (m != RED_GRAPH_CLIENT)
					continue;
				add_point(b, svc, K_REQUESTS, count_point(b, s, false));
				add_point(b, svc, K_FAILED, count_point(b, s, true));
			}
}

static const char *kind_name(int k)
{
	return k == K_REQUESTS ? "traces_service_graph_request_total"
	       : k == K_FAILED ? "traces_service_graph_request_failed_total"
			       : red_defs[k].otel;
}

static pb_metric *metric_of_kind(struct build *b, int svc, int k)
{
	pb_metric *m = a_alloc(&b->a, sizeof(*m));
	int temp = b->delta ? TEMP_DELTA : TEMP_CUMULATIVE;

	if (!m)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)kind_name(k);
	m->description = (char *)(k < RED_METRICS ? red_defs[k].help : "");
	if (k < RED_METRICS) {
		pb_hist *h = a_alloc(&b->a, sizeof(*h));

		if (!h)
			return NULL;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->data_points = (pb_hdp **)b->svc[svc].points[k];
		h->n_data_points = b->svc[svc].n[k];
		h->aggregation_temporality = temp;
		m->unit = (char *)red_defs[k].ucum;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
	} else {
		pb_sum *sum = a_alloc(&b->a, sizeof(*sum));

		if (!sum)
			return NULL;
		opentelemetry__proto__metrics__v1__sum__init(sum);
		sum->data_points = (pb_ndp **)b->svc[svc].points[k];
		sum->n_data_points = b->svc[svc].n[k];
		sum->aggregation_temporality = temp;
		sum->is_monotonic = true;
		m->unit = "1";
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->sum = sum;
	}
	return m;
}

static pb_rm *resource_metrics(struct build *b, int svc)
{
	pb_rm *rm = a_alloc(&b->a, sizeof(*rm));
	pb_sm *sm = a_alloc(&b->a, sizeof(*sm));
	Opentelemetry__Proto__Resource__V1__Resource *res = a_alloc(&b->a, sizeof(*res));
	Opentelemetry__Proto__Common__V1__InstrumentationScope *scope =
		a_alloc(&b->a, sizeof(*scope));
	int k;

	if (!rm || !sm || !res || !scope)
		return NULL;
	opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
	opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
	opentelemetry__proto__resource__v1__resource__init(res);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	res->attributes = a_alloc(&b->a, 2 * sizeof(*res->attributes));
	if (!res->attributes)
		return NULL;
	res->attributes[res->n_attributes++] =
		kv_str(&b->a, "service.name", b->svc[svc].name, b->svc[svc].len);
	res->attributes[res->n_attributes++] = kv_str(&b->a, "telemetry.sdk.name", "sonde", 5);
	scope->name = "sonde";
	scope->version = SONDE_VERSION;
	sm->scope = scope;
	sm->metrics = a_alloc(&b->a, KINDS * sizeof(*sm->metrics));
	if (!sm->metrics)
		return NULL;
	for (k = 0; k < KINDS; k++)
		if (b->svc[svc].n[k])
			sm->metrics[sm->n_metrics++] = metric_of_kind(b, svc, k);
	rm->resource = res;
	rm->n_scope_metrics = 1;
	rm->scope_metrics = a_alloc(&b->a, sizeof(*rm->scope_metrics));
	if (!rm->scope_metrics)
		return NULL;
	rm->scope_metrics[0] = sm;
	return rm;
}

/* In delta, what this export sent is what the next one subtracts. */
static void mark_sent(struct red *r, uint64_t now)
{
	struct red_series *s;
	int m, nb, pass;

	for (m = 0; m < RED_METRICS; m++) {
		red_bounds(r, m, &nb);
		for (pass = 0; pass < 2; pass++)
			for (s = pass ? r->overflow[m] : r->first[m]; s;
			     s = pass ? NULL : s->after) {
				if (!s->sent_buckets)
					s->sent_buckets = calloc((size_t)nb + 1, sizeof(uint64_t));
				if (s->sent_buckets)
					memcpy(s->sent_buckets, s->buckets,
					       ((size_t)nb + 1) * sizeof(uint64_t));
				else
					continue; /* the next delta repeats it rather than lose it */
				s->sent_count = s->count;
				s->sent_failed = s->failed;
				s->sent_sum = s->sum;
				s->sent_ns = now;
			}
	}
}

int red__encode_otlp(struct red *r, bool delta, uint64_t now_unix_ns, uint8_t **out,
		     size_t *len, uint32_t *n_points)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req;
	struct build *b = calloc(1, sizeof(*b));
	int i, err = 0;

	*out = NULL;
	*len = 0;
	*n_points = 0;
	if (!r || !b) {
		free(b);
		return r ? -ENOMEM : 0;
	}
	b->delta = delta;
	b->now = now_unix_ns;
	collect_points(b, r);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
	req.resource_metrics = a_alloc(&b->a, ((size_t)b->n_services + 1) * sizeof(pb_rm *));
	for (i = 0; req.resource_metrics && i < b->n_services; i++)
		req.resource_metrics[req.n_resource_metrics++] = resource_metrics(b, i);
	if (b->a.failed || !req.resource_metrics) {
		err = -ENOMEM;
	} else if (b->n_points) {
		*len = REQ_SIZE(&req);
		*out = malloc(*len ? *len : 1);
		if (!*out)
			err = -ENOMEM;
		else
			REQ_PACK(&req, *out);
	}
	if (!err) {
		*n_points = b->n_points;
		if (delta)
			mark_sent(r, now_unix_ns);
	}
	build_free(b);
	free(b);
	return err;
}
