/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sonde's settings: defaults, the OpenTelemetry environment variables, and the command line, in
 * that order of precedence (a flag beats the environment). Every value is checked here, so the
 * rest of the agent can trust it.
 */
#ifndef SONDE_CONFIG_H
#define SONDE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "decoders/db_options.h"
#include "red.h"
#include "routes.h"
#include "export/exporter.h"
#include "sonde_event.h"

#define CONFIG_MAX_PIDS 64
#define CONFIG_MAX_PORTS SONDE_MAX_PORT_FILTER
#define CONFIG_MAX_EXES 16

enum sonde_command {
	CMD_RUN = 0,
	CMD_HELP,
	CMD_VERSION,
	CMD_CHECK,
	CMD_LIST_COUNTERS,
};

/* How trace context crosses process boundaries (--propagation, a set). */
enum sonde_propagation {
	PROPAGATION_LINK = 1 << 0,   /* same host: link client and server through the connection */
	PROPAGATION_HEADER = 1 << 1, /* inject traceparent into outgoing HTTP/1.x requests */
	PROPAGATION_TCP = 1 << 2,    /* carry the context in a TCP option between two sondes */
};

/* Whether to read pod metadata from the Kubernetes API (--k8s). */
enum sonde_k8s_mode {
	K8S_AUTO = 0, /* when in a cluster (KUBERNETES_SERVICE_HOST) or --k8s-api is given */
	K8S_OFF,
	K8S_ON,
};

/* Which hooks capture socket I/O and the connection lifecycle (--hooks). */
enum sonde_hooks {
	HOOKS_AUTO = 0,	   /* per capability, the cheapest this kernel has */
	HOOKS_SOCKET,	   /* only the socket-level hooks (tp_btf, kernel 6.3+) */
	HOOKS_SYSCALLS,	   /* only the fallback: syscall raw tracepoints */
};

/* --sample-ratio 0: a threshold above every 56-bit value. */
#define SAMPLE_NONE (1ULL << 56)

struct sonde_config {
	enum sonde_command command;
	/* Where spans go: an OTLP/HTTP traces URL, or NULL for the console. */
	char *traces_url;
	char *metrics_url;	   /* OTLP /v1/metrics: the endpoint's, or its own variable's */
	bool metrics_url_own;	   /* ... from OTEL_EXPORTER_OTLP_METRICS_ENDPOINT */
	bool otlp_metrics;	   /* send the request metrics there too (OTEL_METRICS_EXPORTER) */
	bool metrics_delta;	   /* delta temporality (else cumulative) */
	uint32_t metrics_interval_ms; /* OTEL_METRIC_EXPORT_INTERVAL */
	struct otlp_config otlp;
	bool console;		   /* print spans even when exporting */
	int gzip_mode;		   /* -1 auto (gzip unless the collector is on loopback), 0, 1 */
	/* Capture. */
	uint32_t capture_bytes;	   /* payload bytes per record */
	uint32_t run_captures;	   /* records per run at most */
	uint32_t ring_bytes;	   /* per-CPU ring size */
	uint32_t poll_ms;	   /* ring-buffer poll period */
	bool cpu_yield;		   /* the loop runs at SCHED_IDLE, raised by the CPU guard */
	enum sonde_hooks hooks;	   /* hook set: auto, or forced */
	/* Selection. */
	uint32_t pids[CONFIG_MAX_PIDS];
	int n_pids;
	uint16_t ports[CONFIG_MAX_PORTS];
	int n_ports;
	char *exes[CONFIG_MAX_EXES]; /* fnmatch patterns on the executable name or comm */
	int n_exes;
	/* Spans. */
	bool export_query;	   /* put the query string in url.query (off: it may hold secrets) */
	bool tls;		   /* TLS plaintext from uprobes on the TLS libraries (--tls) */
	bool go_grpc;		   /* uprobes on grpc-go's stream hand-offs (--no-go-grpc: off) */
	uint32_t idle_close_ms;	   /* finish a response this long after its last byte */
	bool http_full_responses;  /* record every HTTP/1.x response (off: the kernel summarizes) */
	struct db_options db;	   /* database decoders: what becomes of query text */
	bool db_server_spans;	   /* SERVER spans for a traced database's side of its queries */
	uint32_t propagation;	   /* enum sonde_propagation bits */
	struct cidr tcpopt_to[SONDE_TCPOPT_DESTS]; /* destinations that get the TCP option */
	int n_tcpopt_to;
	bool tcpopt_to_all;	   /* ... every destination (--tcp-option-to all) */
	bool tcpopt_cluster;	   /* ... and the cluster's pod and service ranges, from the
				    * Kubernetes API at start (--tcp-option-to cluster; k8s.c) */
	uint32_t tcpopt_hold_s;	   /* a destination whose option segments are lost goes without */
	uint64_t sample_threshold; /* keep a trace whose id's last 56 bits are at least this:
				    * 0 keeps all (the default), SAMPLE_NONE none */
	/* Resource. */
	char *service_name;	   /* OTEL_SERVICE_NAME of the agent's environment: overrides all */
	char *resource_attrs;	   /* OTEL_RESOURCE_ATTRIBUTES: k=v,k=v added to every resource */
	enum sonde_k8s_mode k8s;   /* pod metadata from the API server (k8s.c) */
	char *k8s_api;		   /* API server URL; NULL: in-cluster KUBERNETES_SERVICE_HOST/PORT */
	char *k8s_node;		   /* this node's name; NULL: env NODE_NAME */
	char *k8s_token_file;	   /* NULL: the service account's */
	char *k8s_ca_file;	   /* NULL: the service account's */
	/* Operations. */
	uint32_t stats_interval_s; /* log self-statistics this often; 0: only at exit */
	char *metrics_addr;	   /* HOST:PORT of /metrics and /healthz, NULL: off */
	struct routes routes;	   /* declared http.route patterns (--route) */
	bool request_metrics;	   /* duration histograms from every operation (red.h) */
	uint32_t request_metrics_series;	  /* series per metric at most */
	double request_metrics_bounds[RED_BOUNDS_MAX]; /* bucket bounds for all, seconds */
	int request_metrics_n_bounds;		  /* 0: the conventions' advice per metric */
	char *otlp_headers_file;   /* more OTLP headers, read at the end of parsing */
	bool verbose;
};

/*
 * Fill cfg from the environment and argv. Returns 0, or -EINVAL after printing what is wrong to
 * stderr. cfg owns its strings; config__free releases them.
 */
int config__parse(struct sonde_config *cfg, int argc, char **argv);
void config__free(struct sonde_config *cfg);
void config__usage(FILE *out);

#endif /* SONDE_CONFIG_H */
