/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Request metrics (rate, errors, duration) from every finished operation, before sampling: the
 * OpenTelemetry semantic conventions' duration histograms (HTTP server and client, gRPC server
 * and client, database client), labelled with the span's low-cardinality attributes and the
 * process's service.name, rendered for Prometheus on the metrics address; and the service
 * graph, an edge per caller and callee, by the names Grafana and the collector's servicegraph
 * connector use (traces_service_graph_*). A sampled span is its bucket's exemplar
 * (OpenMetrics), so a slow bucket opens a trace the collector has. The series per metric are
 * bounded: past the bound, one overflow series per metric takes the rest.
 */
#ifndef SONDE_RED_H
#define SONDE_RED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "span.h"

/* Bucket bounds at most (seconds); the default bounds are the conventions' advice. */
#define RED_BOUNDS_MAX 32
#define RED_SERIES_DEFAULT 2000

struct red;

struct red_stats {
	uint64_t series;    /* series now, overflow series included */
	uint64_t overflows; /* observations that went to an overflow series */
	uint64_t observed;  /* operations counted */
};

/*
 * max_series: per metric, 0 for the default. bounds: n_bounds increasing values in seconds for
 * every metric, or NULL for the conventions' advisory bounds of each.
 */
struct red *red__new(unsigned int max_series, const double *bounds, int n_bounds);
void red__free(struct red *r);
/*
 * A finished span; sampled: the collector gets it, so it may be an exemplar. peer: the
 * service.name of the traced process at the other end of its connection (peer_len bytes), or
 * NULL: the span's edge of the service graph.
 */
void red__observe(struct red *r, const struct span *sp, bool sampled, const char *peer,
		  size_t peer_len);
/* Prometheus text (0.0.4), or OpenMetrics 1.0 with exemplars (without its # EOF). */
void red__render(const struct red *r, FILE *out, bool openmetrics);
void red__stats(const struct red *r, struct red_stats *out);
/*
 * Every series as an OTLP ExportMetricsServiceRequest (red_otlp.c), cumulative or, with delta,
 * what changed since the last call (which this call then marks sent). *out is malloc'ed (NULL
 * with nothing to send); *n_points the data points in it. Returns 0 or -ENOMEM.
 */
int red__encode_otlp(struct red *r, bool delta, uint64_t now_unix_ns, uint8_t **out,
		     size_t *len, uint32_t *n_points);
/* "0.005,0.01,..." into bounds; the count, or -1 when it is not an increasing list of
 * positive numbers of at most RED_BOUNDS_MAX. */
int red__parse_bounds(const char *s, double bounds[RED_BOUNDS_MAX]);

#endif /* SONDE_RED_H */
