/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The exporters' common face: the assembler submits finished spans, an exporter batches and
 * ships them (OTLP/HTTP protobuf) or prints them (console). Submitting never blocks: a full
 * queue drops the span and counts it.
 */
#ifndef SONDE_EXPORTER_H
#define SONDE_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../loop.h"
#include "../span.h"

struct exporter;

/* What every exporter counts; spans_in == exported + dropped + queued at any quiet moment. */
struct exporter_stats {
	uint64_t spans_in;	       /* spans submitted */
	uint64_t spans_exported;       /* spans the receiver accepted (or printed) */
	uint64_t spans_dropped_full;   /* dropped: queue full at submit */
	uint64_t spans_dropped_failed; /* dropped: non-retryable answer, or retries exhausted */
	uint64_t spans_rejected;       /* counted by the receiver in partial_success */
	uint64_t spans_queued;	       /* in the queue or in flight now */
	uint64_t requests;	       /* export requests sent */
	uint64_t retries;	       /* requests retried */
	uint64_t errors_http;	       /* answers with a non-2xx status */
	uint64_t errors_transport;     /* connection refused, timeout, ... */
};

struct otlp_config {
	const char *url;	 /* full URL of the traces endpoint, e.g. http://127.0.0.1:4318/v1/traces */
	const char *headers;	 /* "k1=v1,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS form), may be NULL */
	const char *ca_file;	 /* custom CA bundle for https, may be NULL */
	bool insecure;		 /* skip TLS verification (off by default) */
	bool gzip;		 /* gzip request bodies */
	uint32_t max_queue;	 /* spans held at most (queue + in flight) */
	uint32_t max_batch;	 /* spans per request at most */
	uint32_t batch_delay_ms; /* send a partial batch after this long */
	uint32_t timeout_ms;	 /* per request */
	uint32_t max_retry_ms;	 /* give a batch up after retrying this long */
	bool metrics;		 /* an exporter of metrics requests (otlp_exporter__post) */
};

/* Default values for every field (url stays NULL). */
void otlp_config__defaults(struct otlp_config *c);

struct exporter *otlp_exporter__new(struct loop *l, const struct otlp_config *c);
struct exporter *console_exporter__new(struct loop *l, FILE *out);
/*
 * A metrics exporter's (otlp_config.metrics) request: body (malloc'ed, taken) holding n_items
 * data points, sent on a free request slot with the retries and accounting of spans, counted
 * in items. -ENOSPC (counted as dropped) when every slot is still busy.
 */
int otlp_exporter__post(struct exporter *e, uint8_t *body, size_t len, uint32_t n_items);
/* An OTLP exporter's latest HTTP status from its collector; 0 before any. */
long otlp_exporter__last_status(const struct exporter *e);

/* Takes what it needs of the span (OTLP: its encoding) before returning; returns 0, or an
 * error when it was dropped (and counted): -ENOSPC for a full queue. */
int exporter__submit(struct exporter *e, const struct span *s);
/* Send what is queued now (e.g. at shutdown); with a deadline, run the loop until done or late. */
/* deadline_ms is an absolute loop__now_ms() time, e.g. loop__now_ms() + 5000; 0: do not wait. */
void exporter__flush(struct exporter *e, uint64_t deadline_ms);
/* Spans the exporter can take now without dropping one (UINT64_MAX: no limit). */
uint64_t exporter__room(const struct exporter *e);
void exporter__stats(const struct exporter *e, struct exporter_stats *out);
const char *exporter__name(const struct exporter *e);
void exporter__free(struct exporter *e);

#endif /* SONDE_EXPORTER_H */
