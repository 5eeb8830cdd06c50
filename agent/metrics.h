/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's own HTTP endpoint, on the event loop: GET /metrics (Prometheus text format) and
 * GET /healthz. It binds to loopback unless told otherwise, answers one short request per
 * connection, and never blocks the loop.
 */
#ifndef SONDE_METRICS_H
#define SONDE_METRICS_H

#include <stdbool.h>
#include <stdio.h>

#include "loop.h"

struct metrics_server;

/* Write the metrics, Prometheus text exposition format. */
typedef void (*metrics_render_fn)(void *ctx, FILE *out, bool openmetrics);
/* Healthy? Write a one-line reason either way. */
typedef bool (*metrics_health_fn)(void *ctx, FILE *out);

/*
 * Listen on addr ("HOST:PORT", IPv4 or "[v6]:PORT"). NULL with a message on stderr when the
 * address is bad or taken.
 */
struct metrics_server *metrics_server__new(struct loop *l, const char *addr, metrics_render_fn render,
					   metrics_health_fn health, void *ctx);
/* The port actually bound (useful with port 0). */
int metrics_server__port(const struct metrics_server *m);
void metrics_server__free(struct metrics_server *m);

#endif /* SONDE_METRICS_H */
