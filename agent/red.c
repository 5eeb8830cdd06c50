// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Request metrics from finished spans (red.h). A series is a metric and its label set, kept as
 * its rendered label text, which is also its key; series live in one chained hash table and,
 * per metric, in the order they came (the rendering's order). Everything runs on the agent's
 * one thread: no locks.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/otlp_encode.h"
#include "red_impl.h"

/* The conventions' advisory bounds: HTTP and RPC durations, then database operations. */
static const double http_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
				     0.5,   0.75, 1,     2.5,  5,	  7.5,	10};
static const double db_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};

/* Body sizes: the conventions advise none. Powers of 4 from 64 bytes to 64 MiB, and 0 for
 * the answers that have no body. */
static const double size_bounds[] = {0,	    64,	     256,     1024,	4096,	  16384,
				     65536, 262144, 1048576, 4194304, 16777216, 67108864};

#define HTTP_B http_bounds, sizeof(http_bounds) / sizeof(http_bounds[0])
#define DB_B db_bounds, sizeof(db_bounds) / sizeof(db_bounds[0])
#define SIZE_B size_bounds, sizeof(size_bounds) / sizeof(size_bounds[0])
#define SECONDS "seconds", "s"
#define BYTES "bytes", "By"
#define HTTP_SERVER_LABELS                                                                    \
	{"http.request.method", "http.response.status_code", "url.scheme", "http.route",      \
	 "url.template", "network.protocol.version", "error.type"}
#define HTTP_CLIENT_LABELS                                                                    \
	{"http.request.method", "http.response.status_code", "server.address", "server.port", \
	 "network.protocol.version", "error.type"}

const struct red_def red_defs[RED_METRICS] = {
	[RED_HTTP_SERVER] = {"http_server_request_duration_seconds", "http.server.request.duration",
			     SECONDS,
			     "Duration of HTTP server requests (http.server.request.duration).",
			     HTTP_SERVER_LABELS, HTTP_B},
	[RED_HTTP_CLIENT] = {"http_client_request_duration_seconds", "http.client.request.duration",
			     SECONDS,
			     "Duration of HTTP client requests (http.client.request.duration).",
			     HTTP_CLIENT_LABELS, HTTP_B},
	[RED_RPC_SERVER] = {"rpc_server_call_duration_seconds", "rpc.server.call.duration", SECONDS,
			    "Duration of incoming RPCs (rpc.server.call.duration).",
			    {"rpc.system.name", "rpc.method", "rpc.response.status_code",
			     "error.type"},
			    HTTP_B},
	[RED_RPC_CLIENT] = {"rpc_client_call_duration_seconds", "rpc.client.call.duration", SECONDS,
			    "Duration of outgoing RPCs (rpc.client.call.duration).",
			    {"rpc.system.name", "rpc.method", "rpc.response.status_code",
			     "server.address", "server.port", "error.type"},
			    HTTP_B},
	[RED_DB_CLIENT] = {"db_client_operation_duration_seconds", "db.client.operation.duration",
			   SECONDS,
			   "Duration of database client operations (db.client.operation.duration).",
			   {"db.system.name", "db.operation.name", "db.collection.name",
			    "db.namespace", "db.response.status_code", "server.address",
			    "server.port", "error.type"},
			   DB_B},
	[RED_HTTP_SERVER_REQ_BODY] = {"http_server_request_body_size_bytes",
				      "http.server.request.body.size", BYTES,
				      "Size of HTTP server request bodies "
				      "(http.server.request.body.size).",
				      HTTP_SERVER_LABELS, SIZE_B},
	[RED_HTTP_SERVER_RESP_BODY] = {"http_server_response_body_size_bytes",
				       "http.server.response.body.size", BYTES,
				       "Size of HTTP server response bodies "
				       "(http.server.response.body.size).",
				       HTTP_SERVER_LABELS, SIZE_B},
	[RED_HTTP_CLIENT_REQ_BODY] = {"http_client_request_body_size_bytes",
				      "http.client.request.body.size", BYTES,
				      "Size of HTTP client request bodies "
				      "(http.client.request.body.size).",
				      HTTP_CLIENT_LABELS, SIZE_B},
	[RED_HTTP_CLIENT_RESP_BODY] = {"http_client_response_body_size_bytes",
				       "http.client.response.body.size", BYTES,
				       "Size of HTTP client response bodies "
				       "(http.client.response.body.size).",
				       HTTP_CLIENT_LABELS, SIZE_B},
	/* Grafana's and the collector's service-graph names: the client end's view of an edge,
	 * with its request and failure counts, and the server end's. */
	[RED_GRAPH_CLIENT] = {"traces_service_graph_request_client_seconds",
			      "traces_service_graph_request_client", SECONDS,
			      "Duration of the calls of an edge of the service graph, as its "
			      "client saw them.",
			      {NULL},
			      HTTP_B},
	[RED_GRAPH_SERVER] = {"traces_service_graph_request_server_seconds",
			      "traces_service_graph_request_server", SECONDS,
			      "Duration of the calls of an edge of the service graph, as its "
			      "server saw them.",
			      {NULL},
			      HTTP_B},
};

struct red *red__new(unsigned int max_series, const double *bounds, int n_bounds)
{
	struct red *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->max_series = max_series ? max_series : RED_SERIES_DEFAULT;
	if (bounds && n_bounds > 0 && n_bounds <= RED_BOUNDS_MAX) {
		memcpy(r->bounds, bounds, (size_t)n_bounds * sizeof(double));
		r->n_bounds = n_bounds;
	}
	return r;
}

static void series_free(struct red_series *s)
{
	free(s->sent_buckets);
	free(s->buckets);
	free(s->exemplars);
	free(s);
}

void red__free(struct red *r)
{
	struct red_series *s, *n;
	int m;

	if (!r)
		return;
	for (m = 0; m < RED_METRICS; m++)
		for (s = r->first[m]; s; s = n) {
			n = s->after;
			series_free(s);
		}
	for (m = 0; m < RED_METRICS; m++)
		if (r->overflow[m])
			series_free(r->overflow[m]);
	free(r);
}

const double *red_bounds(const struct red *r, int metric, int *n)
{
	if (r->n_bounds && red_defs[metric].bounds != size_bounds) {
		*n = r->n_bounds;
		return r->bounds;
	}
	*n = red_defs[metric].n_bounds;
	return red_defs[metric].bounds;
}

/*
 * Every attribute a metric is labelled with, or chosen by, once: a span's attributes are
 * looked at in one pass. Their keys are the decoders' constants, so a key is mostly the same
 * pointer; a string compare settles the rest.
 */
static const char *const ukeys[] = {
	"http.request.method", "http.response.status_code", "url.scheme", "url.template",
	"network.protocol.version", "error.type", "server.address", "server.port",
	"rpc.system.name", "rpc.method", "rpc.response.status_code", "db.system.name",
	"db.operation.name", "db.collection.name", "db.namespace", "db.response.status_code",
	"http.route", "http.request.body.size", "http.response.body.size",
};
#define UKEYS (sizeof(ukeys) / sizeof(ukeys[0]))
#define UK_HTTP 0  /* http.request.method */
#define UK_RPC 8   /* rpc.system.name */
#define UK_DB 11   /* db.system.name */
#define UK_ADDR 6  /* server.address */
#define UK_PORT 7  /* server.port */
#define UK_TEMPLATE 3 /* url.template */
#define UK_ROUTE 16   /* http.route */
#define UK_REQ_BODY 17 /* http.request.body.size: a value, no label */
#define UK_RESP_BODY 18 /* http.response.body.size */
#define VAL_SERVICE UKEYS /* the resource's service.name, after the span's own */

/* One span's values of ukeys[] (and the service), not copied: NULL where absent. */
struct span_vals {
	const char *v[UKEYS + 1];
	uint16_t len[UKEYS + 1];
	char num[UKEYS][24]; /* integer attributes, written out */
	int64_t body[2];     /* the request's and the response's body size; -1: not known */
};

static int ukey_search(const char *key)
{
	size_t j;

	for (j = 0; j < UKEYS; j++)
		if (key == ukeys[j] || (key[0] == ukeys[j][0] && !strcmp(key, ukeys[j])))
			return (int)j;
	return -1;
}

/*
 * ukeys[] index of an attribute key, or -1. Keys are the decoders' constants, few and fixed
 * for the agent's life: the answer for each key pointer is remembered (direct-mapped), so the
 * per-span cost is a load and a compare per attribute.
 */
#define KEY_CACHE 128
static struct {
	const char *key;
	int idx;
} key_cache[KEY_CACHE];

static int ukey_of(const char *key)
{
	unsigned int slot = (unsigned int)(((uintptr_t)key >> 3) % KEY_CACHE);

	if (key_cache[slot].key != key) {
		key_cache[slot].key = key;
		key_cache[slot].idx = ukey_search(key);
	}
	return key_cache[slot].idx;
}

/* v in decimal into buf (24 bytes); its length. No printf on the per-span path. */
static int put_int(char *buf, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	int n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		buf[i++] = '-';
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
	return i;
}

static void collect(const struct span *sp, struct span_vals *sv)
{
	const struct span_attr *a;
	int i, k, n;

	memset(sv->v, 0, sizeof(sv->v));
	sv->body[0] = sv->body[1] = -1;
	for (i = 0; i < sp->n_attrs; i++) {
		a = &sp->attrs[i];
		if ((k = ukey_of(a->key)) < 0)
			continue;
		if (k >= UK_REQ_BODY) {
			if (a->type == ATTR_INT && a->i >= 0)
				sv->body[k - UK_REQ_BODY] = a->i;
		} else if (a->type == ATTR_STR) {
			sv->v[k] = span__attr_str(sp, a);
			sv->len[k] = a->len;
		} else {
			n = put_int(sv->num[k], a->i);
			sv->v[k] = sv->num[k];
			sv->len[k] = (uint16_t)n;
		}
	}
	a = sp->res ? resource__find_attr(sp->res, "service.name") : NULL;
	if (a && a->type == ATTR_STR) {
		sv->v[VAL_SERVICE] = resource__attr_str(sp->res, a);
		sv->len[VAL_SERVICE] = a->len;
	}
}

/* Which metric a span counts in, or -1. */
static int metric_of(const struct span *sp, const struct span_vals *sv)
{
	bool server = sp->kind == SPAN_KIND_SERVER;

	if (sv->v[UK_RPC])
		return server ? RED_RPC_SERVER : RED_RPC_CLIENT;
	if (sv->v[UK_HTTP])
		return server ? RED_HTTP_SERVER : RED_HTTP_CLIENT;
	/* the database's own side has no metric in the conventions */
	if (sv->v[UK_DB] && sp->kind == SPAN_KIND_CLIENT)
		return RED_DB_CLIENT;
	return -1;
}

/* A series' label names and values, in order; a NULL value: the label is absent. */
struct label_list {
	const char *name[RED_LABELS_MAX + 1];
	const char *val[RED_LABELS_MAX + 1];
	uint16_t len[RED_LABELS_MAX + 1];
	int n;
};

static void label_add(struct label_list *l, const char *name, const char *val, size_t len)
{
	l->name[l->n] = name;
	l->val[l->n] = val;
	l->len[l->n] = (uint16_t)(len < 0xfffe ? len : 0xfffe);
	l->n++;
}

/* A span metric's labels: the service first, then the metric's attributes in order. */
static void span_labels(const struct span_vals *sv, int metric, struct label_list *l)
{
	int i, k;

	l->n = 0;
	label_add(l, "service.name", sv->v[VAL_SERVICE], sv->len[VAL_SERVICE]);
	for (i = 0; i < RED_LABELS_MAX && red_defs[metric].labels[i]; i++) {
		k = ukey_of(red_defs[metric].labels[i]);
		/* a declared route labels the request; the heuristic only where none matched */
		if (k == UK_TEMPLATE && sv->v[UK_ROUTE])
			label_add(l, ukeys[k], NULL, 0);
		else
			label_add(l, ukeys[k], sv->v[k], sv->len[k]);
	}
}

/* The series key: each value's length (0xffff: absent) and bytes, as they are. */
static size_t key_of(const struct label_list *l, char *key, size_t max)
{
	size_t at = 0;
	uint16_t len;
	int i;

	for (i = 0; i < l->n; i++) {
		len = l->val[i] ? l->len[i] : 0xffff;
		if (at + 2 + (len == 0xffff ? 0 : len) > max)
			break; /* cut: the longest values share a series */
		memcpy(key + at, &len, 2);
		at += 2;
		if (len != 0xffff) {
			memcpy(key + at, l->val[i], len);
			at += len;
		}
	}
	return at;
}

/* A hash of the key, eight bytes at a time. */
static uint32_t hash_of(int metric, const char *key, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)metric, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, key + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (w = 0; i < n; i++)
		w = w << 8 | (uint8_t)key[i];
	h = (h ^ w ^ n) * 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(h ^ h >> 29);
}

/* Appends name="value" to buf at *at, the value escaped as the text format wants and made valid
 * UTF-8 (a byte that starts no sequence becomes U+FFFD). */
static void put_label(char *buf, size_t len, size_t *at, const char *key, const char *val,
		      size_t vlen)
{
	size_t i, k;

	if (*at && *at + 1 < len)
		buf[(*at)++] = ',';
	for (i = 0; key[i] && *at + 1 < len; i++)
		buf[(*at)++] = key[i] == '.' ? '_' : key[i];
	if (*at + 2 < len) {
		buf[(*at)++] = '=';
		buf[(*at)++] = '"';
	}
	for (i = 0; i < vlen && *at + 4 < len; i += k) {
		char c = val[i];

		k = otlp__utf8_seq_len((const unsigned char *)val + i, vlen - i);
		if (!k) { /* not UTF-8, which would fail the whole scrape: U+FFFD */
			memcpy(buf + *at, "\xef\xbf\xbd", 3);
			*at += 3;
			k = 1;
			continue;
		}
		if (k > 1) {
			if (*at + k + 1 >= len)
				break;
			memcpy(buf + *at, val + i, k);
			*at += k;
			continue;
		}
		if (c == '\\' || c == '"' || c == '\n') {
			buf[(*at)++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		buf[(*at)++] = c;
	}
	if (*at + 1 < len)
		buf[(*at)++] = '"';
	buf[*at < len ? *at : len - 1] = '\0';
}

/* The label text of a new series. */
static void labels_of(const struct label_list *l, char *buf, size_t len)
{
	size_t at = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++)
		if (l->val[i])
			put_label(buf, len, &at, l->name[i], l->val[i], l->len[i]);
}

static struct red_series *series_new(struct red *r, int metric, const char *key, size_t key_len,
				     const char *labels)
{
	size_t n = strlen(labels);
	struct red_series *s = calloc(1, sizeof(*s) + key_len + n + 1);
	struct timespec now;
	int nb;

	if (!s)
		return NULL;
	red_bounds(r, metric, &nb);
	s->buckets = calloc((size_t)nb + 1, sizeof(*s->buckets));
	s->exemplars = calloc((size_t)nb + 1, sizeof(*s->exemplars));
	if (!s->buckets || !s->exemplars) {
		series_free(s);
		return NULL;
	}
	s->metric = (uint8_t)metric;
	clock_gettime(CLOCK_REALTIME, &now);
	s->created_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	memcpy(s->key, key, key_len);
	s->key_len = (uint16_t)key_len;
	s->labels = s->key + key_len;
	memcpy(s->labels, labels, n + 1);
	r->st.series++;
	return s;
}

/* The series of these labels for the metric: found, made, or the metric's overflow one. */
static struct red_series *series_get(struct red *r, int metric, const struct label_list *l)
{
	char key[1024], labels[2048];
	size_t key_len = key_of(l, key, sizeof(key));
	uint32_t h = hash_of(metric, key, key_len);
	struct red_series *s;

	for (s = r->table[h % RED_HASH]; s; s = s->next)
		if (s->hash == h && s->metric == metric && s->key_len == key_len &&
		    !memcmp(s->key, key, key_len))
			return s;
	if (r->n_series[metric] >= r->max_series) {
		if (!r->overflow[metric])
			r->overflow[metric] =
				series_new(r, metric, "", 0, "otel_metric_overflow=\"true\"");
		if (r->overflow[metric])
			r->st.overflows++;
		return r->overflow[metric];
	}
	labels_of(l, labels, sizeof(labels));
	s = series_new(r, metric, key, key_len, labels);
	if (!s)
		return NULL;
	s->hash = h;
	s->next = r->table[h % RED_HASH];
	r->table[h % RED_HASH] = s;
	if (r->last[metric])
		r->last[metric]->after = s;
	else
		r->first[metric] = s;
	r->last[metric] = s;
	r->n_series[metric]++;
	return s;
}

/* One operation of value v (seconds, bytes) into s; the exemplar from sp when sampled. */
static void count_value(struct red *r, struct red_series *s, double v, const struct span *sp,
			bool sampled)
{
	const double *b;
	int nb, i;

	b = red_bounds(r, s->metric, &nb);
	for (i = 0; i < nb && v > b[i]; i++)
		;
	s->buckets[i]++;
	s->count++;
	s->sum += v;
	if (sp->status == SPAN_STATUS_ERROR)
		s->failed++;
	if (sampled) {
		struct red_exemplar *e = &s->exemplars[i];

		memcpy(e->trace_id, sp->trace_id, 16);
		memcpy(e->span_id, sp->span_id, 8);
		e->value = v;
		e->unix_ns = sp->end_unix_ns;
		e->set = true;
	}
}

/* One operation into s: its duration. */
static void count_in(struct red *r, struct red_series *s, const struct span *sp, bool sampled)
{
	count_value(r, s,
		    sp->end_unix_ns > sp->start_unix_ns ? (sp->end_unix_ns - sp->start_unix_ns) / 1e9
							: 0,
		    sp, sampled);
}

/* An HTTP span's body sizes, where known, under the labels of its duration. */
static void count_bodies(struct red *r, const struct span *sp, const struct span_vals *sv,
			 int metric, const struct label_list *l, bool sampled)
{
	int first = metric == RED_HTTP_SERVER ? RED_HTTP_SERVER_REQ_BODY : RED_HTTP_CLIENT_REQ_BODY;
	struct red_series *s;
	int i;

	for (i = 0; i < 2; i++)
		if (sv->body[i] >= 0 && (s = series_get(r, first + i, l)))
			count_value(r, s, (double)sv->body[i], sp, sampled);
}

/*
 * The span's edge of the service graph. A client span: from its service to the traced process
 * at the other end (peer), else to the address it called, a virtual node (a database: type
 * "database"). A server span: from the traced process that called it, when there is one; a
 * caller sonde does not see is no edge (its client end counts the calls).
 */
static void graph_edge(struct red *r, const struct span *sp, const struct span_vals *sv,
		       int metric, const char *peer, size_t peer_len, bool sampled)
{
	const char *svc = sv->v[VAL_SERVICE];
	char addr[300];
	struct label_list l = {.n = 0};
	struct red_series *s;
	int n;

	if (!svc)
		return;
	if (sp->kind == SPAN_KIND_SERVER) {
		if (!peer)
			return;
		label_add(&l, "client", peer, peer_len);
		label_add(&l, "server", svc, sv->len[VAL_SERVICE]);
		label_add(&l, "connection_type", NULL, 0);
	} else {
		label_add(&l, "client", svc, sv->len[VAL_SERVICE]);
		if (!peer && sv->v[UK_ADDR]) {
			n = snprintf(addr, sizeof(addr), "%.*s%s%.*s", (int)sv->len[UK_ADDR],
				     sv->v[UK_ADDR], sv->v[UK_PORT] ? ":" : "",
				     sv->v[UK_PORT] ? (int)sv->len[UK_PORT] : 0,
				     sv->v[UK_PORT] ? sv->v[UK_PORT] : "");
			label_add(&l, "server", addr, n > 0 ? (size_t)n : 0);
			label_add(&l, "connection_type",
				  metric == RED_DB_CLIENT ? "database" : "virtual_node",
				  metric == RED_DB_CLIENT ? 8 : 12);
		} else if (peer) {
			label_add(&l, "server", peer, peer_len);
			label_add(&l, "connection_type", NULL, 0);
		} else {
			return;
		}
	}
	s = series_get(r, sp->kind == SPAN_KIND_SERVER ? RED_GRAPH_SERVER : RED_GRAPH_CLIENT, &l);
	if (s)
		count_in(r, s, sp, sampled);
}

void red__observe(struct red *r, const struct span *sp, bool sampled, const char *peer,
		  size_t peer_len)
{
	struct label_list l;
	struct span_vals sv;
	struct red_series *s;
	int metric;

	if (!r)
		return;
	collect(sp, &sv);
	if ((metric = metric_of(sp, &sv)) < 0)
		return;
	span_labels(&sv, metric, &l);
	s = series_get(r, metric, &l);
	if (!s)
		return;
	count_in(r, s, sp, sampled);
	r->st.observed++;
	if (metric == RED_HTTP_SERVER || metric == RED_HTTP_CLIENT)
		count_bodies(r, sp, &sv, metric, &l, sampled);
	graph_edge(r, sp, &sv, metric, peer, peer_len, sampled);
}

static void hex(FILE *out, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(out, "%02x", b[i]);
}

/* v as short as it reads back exactly ("0.005", not "0.0050000000000000001"): le is matched
 * as text by queries. */
static void put_double(FILE *out, double v)
{
	char buf[32];
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, v);
		/* "10", not "1e+01": the shortest form without an exponent where one exists */
		if (strtod(buf, NULL) == v && (!strchr(buf, 'e') || v < 1e-4 || v >= 1e17))
			break;
	}
	fputs(buf, out);
}

static void render_series(FILE *out, const struct red *r, const struct red_series *s,
			  bool openmetrics)
{
	const char *name = red_defs[s->metric].name, *sep = s->labels[0] ? "," : "";
	const struct red_exemplar *e;
	const double *b;
	uint64_t cum = 0;
	int nb, i;

	b = red_bounds(r, s->metric, &nb);
	for (i = 0; i <= nb; i++) {
		cum += s->buckets[i];
		fprintf(out, "%s_bucket{%s%s", name, s->labels, sep);
		fputs("le=\"", out);
		if (i < nb)
			put_double(out, b[i]);
		else
			fputs("+Inf", out);
		fprintf(out, "\"} %llu", (unsigned long long)cum);
		e = &s->exemplars[i];
		if (openmetrics && e->set) {
			fputs(" # {trace_id=\"", out);
			hex(out, e->trace_id, 16);
			fputs("\",span_id=\"", out);
			hex(out, e->span_id, 8);
			fprintf(out, "\"} %.9g %llu.%03llu", e->value,
				(unsigned long long)(e->unix_ns / 1000000000ULL),
				(unsigned long long)(e->unix_ns % 1000000000ULL / 1000000ULL));
		}
		fputc('\n', out);
	}
	fprintf(out, "%s_sum%s%s%s %.9g\n", name, s->labels[0] ? "{" : "", s->labels,
		s->labels[0] ? "}" : "", s->sum);
	fprintf(out, "%s_count%s%s%s %llu\n", name, s->labels[0] ? "{" : "", s->labels,
		s->labels[0] ? "}" : "", (unsigned long long)s->count);
}

/* The service graph's request counts: a counter family from the client ends' series. */
static void render_edge_counter(FILE *out, const struct red *r, const char *family,
				const char *help, bool failed, bool openmetrics)
{
	const int m = RED_GRAPH_CLIENT;
	const struct red_series *s;

	fprintf(out, "# HELP %s%s %s\n# TYPE %s%s counter\n", family, openmetrics ? "" : "_total",
		help, family, openmetrics ? "" : "_total");
	for (s = r->first[m]; s; s = s->after)
		fprintf(out, "%s_total{%s} %llu\n", family, s->labels,
			(unsigned long long)(failed ? s->failed : s->count));
	if ((s = r->overflow[m]))
		fprintf(out, "%s_total{%s} %llu\n", family, s->labels,
			(unsigned long long)(failed ? s->failed : s->count));
}

void red__render(const struct red *r, FILE *out, bool openmetrics)
{
	const struct red_series *s;
	int m;

	if (!r)
		return;
	for (m = 0; m < RED_METRICS; m++) {
		if (!r->first[m] && !r->overflow[m])
			continue;
		fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", red_defs[m].name, red_defs[m].help,
			red_defs[m].name);
		if (openmetrics)
			fprintf(out, "# UNIT %s %s\n", red_defs[m].name, red_defs[m].unit);
		for (s = r->first[m]; s; s = s->after)
			render_series(out, r, s, openmetrics);
		if (r->overflow[m])
			render_series(out, r, r->overflow[m], openmetrics);
		if (m != RED_GRAPH_CLIENT)
			continue;
		render_edge_counter(out, r, "traces_service_graph_request",
				    "Calls of an edge of the service graph, counted at its client.",
				    false, openmetrics);
		render_edge_counter(out, r, "traces_service_graph_request_failed",
				    "Calls of an edge of the service graph that failed (ERROR at its "
				    "client).", true, openmetrics);
	}
}

void red__stats(const struct red *r, struct red_stats *out)
{
	if (r)
		*out = r->st;
	else
		memset(out, 0, sizeof(*out));
}

int red__parse_bounds(const char *s, double bounds[RED_BOUNDS_MAX])
{
	char *end;
	int n = 0;
	double v;

	while (*s) {
		if (n >= RED_BOUNDS_MAX)
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (end == s || errno || !isfinite(v) || v <= 0 || (n && v <= bounds[n - 1]))
			return -1;
		bounds[n++] = v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return n ? n : -1;
}
