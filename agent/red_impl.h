/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The request metrics' insides (red.h), shared by their two outputs: the Prometheus text in
 * red.c and the OTLP encoding in red_otlp.c.
 */
#ifndef SONDE_RED_IMPL_H
#define SONDE_RED_IMPL_H

#include "red.h"

/* The metrics, after the conventions (their names in Prometheus form: dots as underscores, the
 * unit as a suffix). */
enum red_metric {
	RED_HTTP_SERVER,
	RED_HTTP_CLIENT,
	RED_RPC_SERVER,
	RED_RPC_CLIENT,
	RED_DB_CLIENT,
	/* HTTP body sizes, where a decoder knew them (http.request.body.size and
	 * http.response.body.size on the span) */
	RED_HTTP_SERVER_REQ_BODY,
	RED_HTTP_SERVER_RESP_BODY,
	RED_HTTP_CLIENT_REQ_BODY,
	RED_HTTP_CLIENT_RESP_BODY,
	/* The service graph: an edge per caller and callee, timed at each end. */
	RED_GRAPH_CLIENT,
	RED_GRAPH_SERVER,
	RED_METRICS,
};

#define RED_LABELS_MAX 8

struct red_def {
	const char *name; /* the family, in Prometheus form */
	const char *otel; /* the metric's name in OTLP (the conventions') */
	const char *unit; /* its unit: "seconds" or "bytes" (Prometheus), */
	const char *ucum; /* ... "s" or "By" (OTLP) */
	const char *help;
	const char *labels[RED_LABELS_MAX]; /* span attributes, in label order */
	const double *bounds;
	int n_bounds;
};

extern const struct red_def red_defs[RED_METRICS];

struct red_exemplar {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	double value;
	uint64_t unix_ns;
	bool set;
};

struct red_series {
	struct red_series *next;  /* hash chain */
	struct red_series *after; /* the metric's next, in order of arrival */
	uint64_t count;
	double sum;
	uint64_t *buckets;		/* n_bounds + 1: the last is +Inf (not cumulative) */
	struct red_exemplar *exemplars; /* n_bounds + 1 */
	uint64_t failed; /* service graph, client end: calls that failed */
	uint64_t created_ns; /* unix time the series began: a cumulative start */
	/* OTLP delta temporality: what the last export sent, and when (red_otlp.c) */
	uint64_t *sent_buckets;
	uint64_t sent_count, sent_failed, sent_ns;
	double sent_sum;
	uint32_t hash;
	uint16_t key_len;
	uint8_t metric;
	char *labels; /* rendered: name="value",... (may be empty), after the key */
	char key[];   /* the label values as looked up (see key_of) */
};

#define RED_HASH 4096

struct red {
	unsigned int max_series;
	double bounds[RED_BOUNDS_MAX]; /* the user's, for every metric, when n_bounds > 0 */
	int n_bounds;
	struct red_series *table[RED_HASH];
	struct red_series *first[RED_METRICS], *last[RED_METRICS];
	struct red_series *overflow[RED_METRICS];
	unsigned int n_series[RED_METRICS];
	struct red_stats st;
};

/* The bucket bounds of a metric: the user's for a duration, else the metric's default. */
const double *red_bounds(const struct red *r, int metric, int *n);

#endif /* SONDE_RED_IMPL_H */
