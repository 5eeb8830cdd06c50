// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Settings from the environment (OTEL_* variables as the OpenTelemetry specification names them,
 * SONDE_* for our own) and from the command line. A bad value is an error that names the flag
 * and what it accepts; nothing is silently clamped.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

enum {
	OPT_OTLP_ENDPOINT = 1000,
	OPT_OTLP_HEADERS,
	OPT_OTLP_HEADERS_FILE,
	OPT_OTLP_CA,
	OPT_OTLP_INSECURE,
	OPT_NO_GZIP,
	OPT_GZIP,
	OPT_CONSOLE,
	OPT_CAPTURE_BYTES,
	OPT_RUN_CAPTURES,
	OPT_RING_KB,
	OPT_POLL_MS,
	OPT_CPU,
	OPT_PID,
	OPT_PORT,
	OPT_EXE,
	OPT_EXPORT_QUERY,
	OPT_TLS,
	OPT_NO_TLS,
	OPT_NO_GO_GRPC,
	OPT_IDLE_MS,
	OPT_SERVICE_NAME,
	OPT_STATS,
	OPT_BATCH,
	OPT_BATCH_DELAY,
	OPT_QUEUE,
	OPT_CHECK,
	OPT_HOOKS,
	OPT_METRICS_ADDR,
	OPT_CONFIG,
	OPT_DB_QUERY,
	OPT_DB_SERVER_SPANS,
	OPT_HTTP_RESPONSES,
	OPT_PROPAGATION,
	OPT_K8S,
	OPT_K8S_API,
	OPT_K8S_NODE,
	OPT_K8S_TOKEN,
	OPT_K8S_CA,
	OPT_SAMPLE_RATIO,
	OPT_REQUEST_METRICS,
	OPT_ROUTE,
	OPT_OTLP_METRICS,
	OPT_OTLP_METRICS_INTERVAL,
	OPT_OTLP_METRICS_TEMPORALITY,
	OPT_REQUEST_METRICS_SERIES,
	OPT_REQUEST_METRICS_BUCKETS,
	OPT_LIST_COUNTERS,
	OPT_TCPOPT_TO,
	OPT_TCPOPT_HOLD,
};

static const struct option long_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"check", no_argument, NULL, OPT_CHECK},
	{"list-counters", no_argument, NULL, OPT_LIST_COUNTERS},
	{"verbose", no_argument, NULL, 'v'},
	{"otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT},
	{"otlp-headers", required_argument, NULL, OPT_OTLP_HEADERS},
	{"otlp-headers-file", required_argument, NULL, OPT_OTLP_HEADERS_FILE},
	{"otlp-ca-file", required_argument, NULL, OPT_OTLP_CA},
	{"otlp-insecure", no_argument, NULL, OPT_OTLP_INSECURE},
	{"no-gzip", no_argument, NULL, OPT_NO_GZIP},
	{"gzip", no_argument, NULL, OPT_GZIP},
	{"console", no_argument, NULL, OPT_CONSOLE},
	{"batch-size", required_argument, NULL, OPT_BATCH},
	{"batch-delay-ms", required_argument, NULL, OPT_BATCH_DELAY},
	{"queue-size", required_argument, NULL, OPT_QUEUE},
	{"capture-bytes", required_argument, NULL, OPT_CAPTURE_BYTES},
	{"run-captures", required_argument, NULL, OPT_RUN_CAPTURES},
	{"ring-kb", required_argument, NULL, OPT_RING_KB},
	{"poll-ms", required_argument, NULL, OPT_POLL_MS},
	{"cpu", required_argument, NULL, OPT_CPU},
	{"hooks", required_argument, NULL, OPT_HOOKS},
	{"pid", required_argument, NULL, OPT_PID},
	{"port", required_argument, NULL, OPT_PORT},
	{"exe", required_argument, NULL, OPT_EXE},
	{"export-query", no_argument, NULL, OPT_EXPORT_QUERY},
	{"tls", no_argument, NULL, OPT_TLS},
	{"no-tls", no_argument, NULL, OPT_NO_TLS},
	{"no-go-grpc", no_argument, NULL, OPT_NO_GO_GRPC},
	{"idle-close-ms", required_argument, NULL, OPT_IDLE_MS},
	{"service-name", required_argument, NULL, OPT_SERVICE_NAME},
	{"stats-interval", required_argument, NULL, OPT_STATS},
	{"metrics-addr", required_argument, NULL, OPT_METRICS_ADDR},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"db-query", required_argument, NULL, OPT_DB_QUERY},
	{"db-server-spans", required_argument, NULL, OPT_DB_SERVER_SPANS},
	{"http-responses", required_argument, NULL, OPT_HTTP_RESPONSES},
	{"propagation", required_argument, NULL, OPT_PROPAGATION},
	{"tcp-option-to", required_argument, NULL, OPT_TCPOPT_TO},
	{"tcp-option-hold", required_argument, NULL, OPT_TCPOPT_HOLD},
	{"k8s", required_argument, NULL, OPT_K8S},
	{"k8s-api", required_argument, NULL, OPT_K8S_API},
	{"k8s-node", required_argument, NULL, OPT_K8S_NODE},
	{"k8s-token-file", required_argument, NULL, OPT_K8S_TOKEN},
	{"k8s-ca-file", required_argument, NULL, OPT_K8S_CA},
	{"sample-ratio", required_argument, NULL, OPT_SAMPLE_RATIO},
	{"request-metrics", required_argument, NULL, OPT_REQUEST_METRICS},
	{"route", required_argument, NULL, OPT_ROUTE},
	{"otlp-metrics", required_argument, NULL, OPT_OTLP_METRICS},
	{"otlp-metrics-interval-ms", required_argument, NULL, OPT_OTLP_METRICS_INTERVAL},
	{"otlp-metrics-temporality", required_argument, NULL, OPT_OTLP_METRICS_TEMPORALITY},
	{"request-metrics-series", required_argument, NULL, OPT_REQUEST_METRICS_SERIES},
	{"request-metrics-buckets", required_argument, NULL, OPT_REQUEST_METRICS_BUCKETS},
	{NULL, 0, NULL, 0},
};

static void usage_operations(FILE *out);

void config__usage(FILE *out)
{
	fprintf(out,
		"Usage: sonde [OPTIONS]\n"
		"Zero-code distributed tracing: HTTP, SQL and Redis spans of every process on this\n"
		"host, from eBPF.\n"
		"\n"
		"Commands:\n"
		"  -h, --help                 this text\n"
		"  -V, --version              version and exit\n"
		"      --check                print what this kernel allows and which hooks sonde uses\n"
		"      --list-counters        print every counter of the stats lines and /metrics, one a\n"
		"                             line, tab-separated: stats line, key, metric, labels, type,\n"
		"                             help ('-': none; exporter lines add exporter=\"NAME\")\n"
		"      --config FILE          read options from FILE, one 'name = value' a line, without\n"
		"                             the dashes (flags given here win) [env SONDE_CONFIG]\n"
		"\n"
		"Export (default: spans printed to the console):\n"
		"      --otlp-endpoint URL    OTLP/HTTP base URL (adds /v1/traces), or the full traces\n"
		"                             URL when it ends in /v1/traces\n"
		"                             [env OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]\n"
		"      --otlp-headers K=V,..  extra request headers [env OTEL_EXPORTER_OTLP_HEADERS]\n"
		"      --otlp-headers-file F  more headers from a file, K=V a line (a token kept out of\n"
		"                             the command line and environment) [env SONDE_OTLP_HEADERS_FILE]\n"
		"      --otlp-ca-file FILE    CA bundle for https [env OTEL_EXPORTER_OTLP_CERTIFICATE]\n"
		"      --otlp-insecure        do not verify the collector's certificate\n"
		"      --gzip, --no-gzip      compress requests, or not (default: gzip, except to a\n"
		"                             collector on loopback, where it only costs CPU)\n"
		"                             [env OTEL_EXPORTER_OTLP_COMPRESSION=gzip|none]\n"
		"      --console              also print spans when exporting\n"
		"      --batch-size N         spans per export request (1-10000, default 512)\n"
		"      --batch-delay-ms N     send a partial batch after N ms (1-60000, default 1000)\n"
		"      --queue-size N         spans held while the collector is slow (default 4096)\n"
		"\n"
		"Selection (default: every process but sonde):\n"
		"      --pid PID              trace this process (repeatable)\n"
		"      --port PORT            trace connections with this local or remote port (repeatable)\n"
		"      --exe PATTERN          trace executables whose name matches (fnmatch, repeatable)\n"
		"\n"
		"Capture:\n"
		"      --capture-bytes N      payload bytes copied per message (64-%d, default %d)\n"
		"      --run-captures N       records per message run (1-16, default %d)\n"
		"      --ring-kb N            ring buffer per CPU, KiB, power of two (64-262144, default %u)\n"
		"      --poll-ms N            ring-buffer poll period (1-1000, default 20)\n"
		"      --cpu yield|normal     yield: the agent runs below the applications (SCHED_IDLE)\n"
		"                             and is raised to normal priority while its rings back up\n"
		"                             (default); normal: always at normal priority\n"
		"      --idle-close-ms N      end a response N ms after its last byte (default 500)\n"
		"      --http-responses MODE  status: the kernel reads a final HTTP/1.x response's status\n"
		"                             line and writes no record for it (default, half the records);\n"
		"                             full: every response head goes to the agent\n"
		"      --hooks SET            auto: the cheapest hooks this kernel has (default);\n"
		"                             socket: only socket tracepoints (kernel 6.3+); syscalls:\n"
		"                             only the syscall fallback (slower, any kernel)\n"
		"      --no-tls               do not read TLS plaintext with uprobes (OpenSSL, Go's\n"
		"                             crypto/tls); it is read by default, at a cost on every\n"
		"                             TLS call of every process (docs/tls.md); --tls: read it\n"
		"      --no-go-grpc           no uprobes on grpc-go's stream hand-offs: the calls of a\n"
		"                             Go gRPC handler start traces of their own (docs/http2.md)\n"
		"\n"
		"Spans and resource:\n"
		"      --export-query         export url.query (off by default: it may hold secrets)\n"
		"      --db-query MODE        db.query.text: sanitized (literals as ?, default), raw, off\n"
		"      --db-server-spans on|off  SERVER spans on a traced database's side (default on)\n"
		"      --propagation SET      how traces cross processes, a comma list of: link (same\n"
		"                             host, through the connection), header (inject traceparent\n"
		"                             into outgoing HTTP/1.x), tcp (the ids in a TCP option, any\n"
		"                             protocol, for hosts that all run sonde); or off\n"
		"                             (default link)\n"
		"      --tcp-option-to LIST   the destinations whose connections carry the TCP option:\n"
		"                             a comma list of CIDRs, private (10/8, 172.16/12,\n"
		"                             192.168/16, 100.64/10, fc00::/7: the default), cluster\n"
		"                             (the pod and service ranges, from the Kubernetes API at\n"
		"                             start; the private ranges when it has none), or all\n"
		"      --tcp-option-hold S    seconds a destination goes without the option once its\n"
		"                             option segments were resent far more than its others\n"
		"                             (a path that drops them; default 300)\n"
		"      --sample-ratio R       export the spans of this share of traces, 0 to 1 (default\n"
		"                             1: all), chosen by trace id so that every sonde keeps or\n"
		"                             drops a whole trace [env OTEL_TRACES_SAMPLER=traceidratio\n"
		"                             with OTEL_TRACES_SAMPLER_ARG, always_on, always_off]\n"
		"      --route [SERVICE=]PATTERN  a route of the applications, for http.route and the\n"
		"                             span name of the server requests it matches (repeatable,\n"
		"                             first match wins): /api/users/{id}, /static/*; SERVICE=\n"
		"                             for that service.name only (docs/metrics.md)\n"
		"      --service-name NAME    service.name for every span [env SONDE_SERVICE_NAME]\n"
		"                             (default: the process's own OTEL_SERVICE_NAME, else its name)\n"
		"                             OTEL_RESOURCE_ATTRIBUTES adds attributes to every resource\n"
		"      --k8s off|auto|on      pod metadata (k8s.*) from the Kubernetes API server for\n"
		"                             containers of this node (auto: when in a cluster, default)\n"
		"      --k8s-api URL          API server (default: https://$KUBERNETES_SERVICE_HOST:PORT)\n"
		"      --k8s-node NAME        this node's name [env NODE_NAME]\n"
		"      --k8s-token-file FILE  bearer token, re-read as it rotates (default: the service\n"
		"                             account's, /var/run/secrets/kubernetes.io/serviceaccount/)\n"
		"      --k8s-ca-file FILE     CA of the API server (default: the service account's)\n"
		"\n",
		SONDE_PAYLOAD_MAX, SONDE_PAYLOAD_DEFAULT, SONDE_RUN_CAPTURES_DEFAULT,
		SONDE_RING_BYTES >> 10);
	usage_operations(out);
}

/* The usage's last section: operations and the request metrics. */
static void usage_operations(FILE *out)
{
	fprintf(out,
		"Operations:\n"
		"      --stats-interval S     log self-statistics every S seconds (0: at exit only)\n"
		"      --metrics-addr HOST:PORT  /metrics (Prometheus) and /healthz; 'off' to disable\n"
		"                             (default 127.0.0.1:9464)\n"
		"      --request-metrics on|off  request duration histograms (HTTP, gRPC, databases)\n"
		"                             from every operation, sampled or not, on /metrics\n"
		"                             (default on)\n"
		"      --request-metrics-series N  series per metric at most; the rest go to one\n"
		"                             overflow series (default %u)\n"
		"      --request-metrics-buckets LIST  bucket bounds in seconds for every histogram,\n"
		"                             a comma list (default: the OpenTelemetry advice)\n"
		"      --otlp-metrics on|off  send them to the collector too, at /v1/metrics of the\n"
		"                             OTLP endpoint (default on when there is one) [env\n"
		"                             OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT]\n"
		"      --otlp-metrics-interval-ms MS  how often (default 60000)\n"
		"                             [env OTEL_METRIC_EXPORT_INTERVAL]\n"
		"      --otlp-metrics-temporality cumulative|delta|lowmemory  (default cumulative)\n"
		"                             [env OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE]\n"
		"  -v, --verbose              libbpf and debug logs\n",
		RED_SERIES_DEFAULT);
}

/* --route: one more declared route; prints the error. */
static int parse_route(struct sonde_config *cfg, const char *s)
{
	char why[128];

	if (!routes__add(&cfg->routes, s, why, sizeof(why)))
		return 0;
	fprintf(stderr, "sonde: invalid value '%s' for --route: %s\n", s, why);
	return -EINVAL;
}

/* --request-metrics-buckets: increasing bounds in seconds; prints the error. */
static int parse_buckets(struct sonde_config *cfg, const char *s)
{
	cfg->request_metrics_n_bounds = red__parse_bounds(s, cfg->request_metrics_bounds);
	if (cfg->request_metrics_n_bounds > 0)
		return 0;
	cfg->request_metrics_n_bounds = 0;
	fprintf(stderr, "sonde: invalid value '%s' for --request-metrics-buckets: expected "
			"increasing positive numbers of seconds, comma separated, at most %d\n",
		s, RED_BOUNDS_MAX);
	return -EINVAL;
}

/* Parse an unsigned decimal in [lo, hi]; prints the error naming the flag. */
static int parse_u32(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	fprintf(stderr, "sonde: invalid value '%s' for %s: expected an integer from %u to %u\n",
		s ? s : "", flag, lo, hi);
	return -EINVAL;
}

/*
 * A sampling probability from 0 to 1 as the threshold spans are kept by: a trace is kept when
 * the last 56 bits of its id, read as a big-endian number, are at least (1 - ratio) * 2^56 (the
 * rule of OpenTelemetry's consistent probability sampling, so that every sonde of a trace, on
 * any host, decides the same).
 */
static int parse_ratio(const char *flag, const char *s, uint64_t *threshold)
{
	double r;
	char *end;

	errno = 0;
	if (!s || !*s)
		goto bad;
	r = strtod(s, &end);
	if (errno || *end || !isfinite(r) || r < 0 || r > 1)
		goto bad;
	*threshold = (uint64_t)llround(ldexp(1.0 - r, 56));
	return 0;
bad:
	fprintf(stderr, "sonde: invalid value '%s' for %s: expected a probability from 0 to 1 "
			"(e.g. 0.1)\n", s ? s : "", flag);
	return -EINVAL;
}

/* OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, those of their values sonde can honour. */
static int sampler_from_env(struct sonde_config *cfg)
{
	const char *v = getenv("OTEL_TRACES_SAMPLER"), *arg = getenv("OTEL_TRACES_SAMPLER_ARG");

	if (!v || !*v || !strcmp(v, "always_on"))
		return 0;
	if (!strcmp(v, "always_off")) {
		cfg->sample_threshold = SAMPLE_NONE;
		return 0;
	}
	if (!strcmp(v, "traceidratio"))
		return arg && *arg ? parse_ratio("OTEL_TRACES_SAMPLER_ARG", arg,
						 &cfg->sample_threshold)
				   : 0; /* the specification's default: 1.0 */
	/* The parent-based samplers follow the caller's sampled flag; sonde decides by the trace
	 * id alone (see --sample-ratio), which would keep spans they drop: refused, not bent. */
	fprintf(stderr, "sonde: unsupported OTEL_TRACES_SAMPLER '%s': sonde takes always_on, "
			"always_off or traceidratio (with OTEL_TRACES_SAMPLER_ARG), or --sample-ratio\n",
		v);
	return -EINVAL;
}

static int parse_bool(const char *flag, const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else {
		fprintf(stderr, "sonde: invalid value '%s' for %s: expected on or off\n", s, flag);
		return -EINVAL;
	}
	return 0;
}

/* One of a flag's words ("yield", "normal"): its index in words (NULL-terminated) into *out;
 * prints the error, listing them. */
static int parse_choice(const char *flag, const char *s, const char *const *words, int *out)
{
	int i, n;

	for (n = 0; words[n]; n++)
		if (!strcmp(s, words[n])) {
			*out = n;
			return 0;
		}
	fprintf(stderr, "sonde: invalid value '%s' for %s: expected ", s, flag);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s%s", words[i], i + 2 < n ? ", " : i + 1 < n ? " or " : "\n");
	return -EINVAL;
}

/* "link,header", "tcp", "off": the set of propagation modes. */
static int parse_propagation(const char *s, uint32_t *out)
{
	char buf[128], *tok, *save = NULL;
	uint32_t set = 0;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	if (!strcmp(buf, "off")) {
		*out = 0;
		return 0;
	}
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "link"))
			set |= PROPAGATION_LINK;
		else if (!strcmp(tok, "header"))
			set |= PROPAGATION_HEADER;
		else if (!strcmp(tok, "tcp"))
			set |= PROPAGATION_TCP;
		else
			goto bad;
	}
	if (!set)
		goto bad;
	*out = set;
	return 0;
bad:
	fprintf(stderr, "sonde: invalid value '%s' for --propagation: expected off, or a comma "
			"list of link, header, tcp\n", s);
	return -EINVAL;
}

/* The URL's host is this machine's loopback: 127.0.0.0/8, ::1 or localhost. */
static bool url_is_loopback(const char *url)
{
	const char *h;

	if (!url || !(h = strstr(url, "://")))
		return false;
	h += 3;
	return !strncmp(h, "127.", 4) || !strncmp(h, "[::1]", 5) ||
	       (!strncmp(h, "localhost", 9) && (h[9] == ':' || h[9] == '/' || !h[9]));
}

/* Replace *dst with a copy of src. */
static int set_str(char **dst, const char *src)
{
	char *c = strdup(src);

	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

#define HEADERS_FILE_MAX 16384

/*
 * Headers from a file (a mounted Secret, a file only root reads): one K=V a line, or several
 * comma-separated, '#' comments and blank lines skipped, in the OTEL_EXPORTER_OTLP_HEADERS
 * form. They go after the headers given otherwise. Refused when it cannot be read or is too
 * large; a warning when others may read it.
 */
static int add_headers_file(struct sonde_config *cfg, const char *flag, const char *path)
{
	char buf[HEADERS_FILE_MAX + 1], *line, *save = NULL, *out;
	size_t n, used;
	struct stat st;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "sonde: cannot read %s %s: %s\n", flag, path, strerror(errno));
		return -EINVAL;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (!fstat(fileno(f), &st) && (st.st_mode & 0004))
		fprintf(stderr, "sonde: warning: %s %s is readable by every user (mode %04o): it "
				"holds credentials; chmod 600 it\n", flag, path,
			(unsigned int)(st.st_mode & 07777));
	fclose(f);
	if (n > HEADERS_FILE_MAX) {
		fprintf(stderr, "sonde: %s %s: larger than %d bytes\n", flag, path, HEADERS_FILE_MAX);
		return -EINVAL;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n)) {
		fprintf(stderr, "sonde: %s %s: not a text file\n", flag, path);
		return -EINVAL;
	}
	used = cfg->otlp.headers ? strlen(cfg->otlp.headers) : 0;
	out = malloc(used + n + 2);
	if (!out)
		return -ENOMEM;
	if (used)
		memcpy(out, cfg->otlp.headers, used);
	out[used] = '\0';
	for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (used)
			out[used++] = ',';
		memcpy(out + used, line, strlen(line) + 1);
		used += strlen(line);
	}
	free((char *)cfg->otlp.headers);
	cfg->otlp.headers = out;
	return 0;
}

/* The metrics URL from a base endpoint (its /v1/traces, if given, taken off): /v1/metrics. */
static int set_metrics_base(struct sonde_config *cfg, const char *v)
{
	size_t n = strlen(v);

	if (cfg->metrics_url_own)
		return 0; /* OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: the signal's own wins */

	if (n >= 10 && !strcmp(v + n - 10, "/v1/traces"))
		n -= 10;
	while (n && v[n - 1] == '/')
		n--;
	free(cfg->metrics_url);
	cfg->metrics_url = malloc(n + 12);
	if (!cfg->metrics_url)
		return -ENOMEM;
	snprintf(cfg->metrics_url, n + 12, "%.*s/v1/metrics", (int)n, v);
	return 0;
}

/* OTEL_METRICS_EXPORTER (a comma list): otlp sends them, none and prometheus do not (the
 * Prometheus text is on the metrics address either way). */
static int set_metrics_exporter(struct sonde_config *cfg, const char *v)
{
	char buf[128], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	cfg->otlp_metrics = false;
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(tok, "otlp"))
			cfg->otlp_metrics = true;
		else if (strcmp(tok, "none") && strcmp(tok, "prometheus")) {
			fprintf(stderr, "sonde: invalid value '%s' for OTEL_METRICS_EXPORTER: "
					"expected otlp, prometheus or none\n", v);
			return -EINVAL;
		}
	}
	return 0;
}

/* cumulative, delta or lowmemory (delta for the histograms and counts sonde has). */
static int set_temporality(struct sonde_config *cfg, const char *flag, const char *v)
{
	if (!strcasecmp(v, "cumulative"))
		cfg->metrics_delta = false;
	else if (!strcasecmp(v, "delta") || !strcasecmp(v, "lowmemory"))
		cfg->metrics_delta = true;
	else {
		fprintf(stderr, "sonde: invalid value '%s' for %s: expected cumulative, delta or "
				"lowmemory\n", v, flag);
		return -EINVAL;
	}
	return 0;
}

/* The traces URL from a base endpoint: the OTLP/HTTP rule appends /v1/traces to the base. */
static int set_endpoint(struct sonde_config *cfg, const char *flag, const char *v, bool full)
{
	size_t n = strlen(v);
	char *url;
	int err;

	if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
		fprintf(stderr, "sonde: invalid value '%s' for %s: expected an http:// or https:// URL\n",
			v, flag);
		return -EINVAL;
	}
	if (!full && (err = set_metrics_base(cfg, v)))
		return err;
	if (!full && (n < 10 || strcmp(v + n - 10, "/v1/traces"))) {
		url = malloc(n + 12);
		if (!url)
			return -ENOMEM;
		snprintf(url, n + 12, "%s%s", v, (n && v[n - 1] == '/') ? "v1/traces" : "/v1/traces");
		free(cfg->traces_url);
		cfg->traces_url = url;
		return 0;
	}
	return set_str(&cfg->traces_url, v);
}

static int from_env(struct sonde_config *cfg)
{
	const char *v;
	int err;

	v = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (v && *v && (err = set_endpoint(cfg, "OTEL_EXPORTER_OTLP_ENDPOINT", v, false)))
		return err;
	/* The signal-specific variable is used as it is, and beats the generic one. */
	v = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	if (v && *v && (err = set_endpoint(cfg, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v, true)))
		return err;
	v = getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
	if (v && *v && (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))) {
		fprintf(stderr, "sonde: invalid value '%s' for OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "
				"expected an http:// or https:// URL\n", v);
		return -EINVAL;
	}
	if (v && *v && (err = set_str(&cfg->metrics_url, v)))
		return err;
	cfg->metrics_url_own = v && *v;
	v = getenv("OTEL_METRICS_EXPORTER");
	if (v && *v && (err = set_metrics_exporter(cfg, v)))
		return err;
	v = getenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
	if (v && *v && (err = set_temporality(cfg, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
					     v)))
		return err;
	v = getenv("OTEL_METRIC_EXPORT_INTERVAL");
	if (v && *v && (err = parse_u32("OTEL_METRIC_EXPORT_INTERVAL", v, 100, 3600000,
					&cfg->metrics_interval_ms)))
		return err;
	v = getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	if (!v || !*v)
		v = getenv("OTEL_EXPORTER_OTLP_HEADERS");
	if (v && *v && (err = set_str((char **)&cfg->otlp.headers, v)))
		return err;
	v = getenv("SONDE_OTLP_HEADERS_FILE");
	if (v && *v && (err = set_str(&cfg->otlp_headers_file, v)))
		return err;
	v = getenv("OTEL_EXPORTER_OTLP_CERTIFICATE");
	if (v && *v && (err = set_str((char **)&cfg->otlp.ca_file, v)))
		return err;
	v = getenv("OTEL_EXPORTER_OTLP_COMPRESSION");
	if (v && *v) {
		if (!strcmp(v, "none"))
			cfg->gzip_mode = 0;
		else if (!strcmp(v, "gzip"))
			cfg->gzip_mode = 1;
		else {
			fprintf(stderr, "sonde: invalid OTEL_EXPORTER_OTLP_COMPRESSION '%s': expected gzip or none\n", v);
			return -EINVAL;
		}
	}
	v = getenv("SONDE_SERVICE_NAME");
	if (v && *v && (err = set_str(&cfg->service_name, v)))
		return err;
	v = getenv("OTEL_RESOURCE_ATTRIBUTES");
	if (v && *v && (err = set_str(&cfg->resource_attrs, v)))
		return err;
	return sampler_from_env(cfg);
}

/* The metrics' address, the request metrics' options, and the routes that name them. */
static int apply_metrics_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case OPT_METRICS_ADDR:
		free(cfg->metrics_addr);
		cfg->metrics_addr = strcmp(arg, "off") ? strdup(arg) : NULL;
		return 0;
	case OPT_REQUEST_METRICS:
		return parse_bool("--request-metrics", arg, &cfg->request_metrics);
	case OPT_REQUEST_METRICS_SERIES:
		return parse_u32("--request-metrics-series", arg, 1, 1000000,
				 &cfg->request_metrics_series);
	case OPT_REQUEST_METRICS_BUCKETS:
		return parse_buckets(cfg, arg);
	case OPT_ROUTE:
		return parse_route(cfg, arg);
	case OPT_OTLP_METRICS:
		return parse_bool("--otlp-metrics", arg, &cfg->otlp_metrics);
	case OPT_OTLP_METRICS_INTERVAL:
		return parse_u32("--otlp-metrics-interval-ms", arg, 100, 3600000,
				 &cfg->metrics_interval_ms);
	default:
		return set_temporality(cfg, "--otlp-metrics-temporality", arg);
	}
}

/* --propagation, --tcp-option-to (the last one given wins) and --tcp-option-hold. */
static int apply_propagation_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	char err[160];

	if (opt == OPT_PROPAGATION)
		return parse_propagation(arg, &cfg->propagation);
	if (opt == OPT_TCPOPT_HOLD)
		return parse_u32("--tcp-option-hold", arg, 1, 86400, &cfg->tcpopt_hold_s);
	cfg->n_tcpopt_to = 0;
	cfg->tcpopt_to_all = false;
	cfg->tcpopt_cluster = false;
	if (cidr__parse_list(arg, cfg->tcpopt_to, SONDE_TCPOPT_DESTS, &cfg->n_tcpopt_to,
			     &cfg->tcpopt_to_all, &cfg->tcpopt_cluster, err, sizeof(err))) {
		fprintf(stderr, "sonde: invalid value '%s' for --tcp-option-to: %s\n", arg, err);
		return -EINVAL;
	}
	return 0;
}

/* --pid, --port and --exe: one more process, port or executable to trace. */
static int apply_selection_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	uint32_t v;
	int err;

	if (opt == OPT_PID) {
		if (cfg->n_pids >= CONFIG_MAX_PIDS) {
			fprintf(stderr, "sonde: too many --pid flags (at most %d)\n", CONFIG_MAX_PIDS);
			return -EINVAL;
		}
		err = parse_u32("--pid", arg, 1, 4194304, &cfg->pids[cfg->n_pids]);
		if (!err)
			cfg->n_pids++;
		return err;
	}
	if (opt == OPT_PORT) {
		if (cfg->n_ports >= CONFIG_MAX_PORTS) {
			fprintf(stderr, "sonde: too many --port flags (at most %d)\n", CONFIG_MAX_PORTS);
			return -EINVAL;
		}
		err = parse_u32("--port", arg, 1, 65535, &v);
		if (!err)
			cfg->ports[cfg->n_ports++] = (uint16_t)v;
		return err;
	}
	if (cfg->n_exes >= CONFIG_MAX_EXES || !*arg) {
		fprintf(stderr, "sonde: invalid --exe '%s' (non-empty, at most %d flags)\n", arg,
			CONFIG_MAX_EXES);
		return -EINVAL;
	}
	cfg->exes[cfg->n_exes] = strdup(arg);
	if (!cfg->exes[cfg->n_exes])
		return -ENOMEM;
	cfg->n_exes++;
	return 0;
}

/* The flags that take one of a few words. */
static int apply_word_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	static const char *const cpu[] = {"yield", "normal", NULL};
	static const char *const hooks[] = {"auto", "socket", "syscalls", NULL};
	static const char *const db_query[] = {"sanitized", "raw", "off", NULL};
	static const char *const responses[] = {"status", "full", NULL};
	static const char *const k8s[] = {"off", "auto", "on", NULL};
	static const enum sonde_k8s_mode k8s_modes[] = {K8S_OFF, K8S_AUTO, K8S_ON};
	int i = 0, err;

	switch (opt) {
	case OPT_CPU:
		err = parse_choice("--cpu", arg, cpu, &i);
		cfg->cpu_yield = err ? cfg->cpu_yield : i == 0;
		return err;
	case OPT_HOOKS:
		err = parse_choice("--hooks", arg, hooks, &i);
		cfg->hooks = err ? cfg->hooks : (enum sonde_hooks)i;
		return err;
	case OPT_DB_QUERY:
		err = parse_choice("--db-query", arg, db_query, &i);
		cfg->db.query_mode = err ? cfg->db.query_mode : (enum db_query_mode)i;
		return err;
	case OPT_HTTP_RESPONSES:
		err = parse_choice("--http-responses", arg, responses, &i);
		cfg->http_full_responses = err ? cfg->http_full_responses : i == 1;
		return err;
	default: /* OPT_K8S */
		err = parse_choice("--k8s", arg, k8s, &i);
		cfg->k8s = err ? cfg->k8s : k8s_modes[i];
		return err;
	}
}

/* What sonde is asked to do, and what it says about itself. */
static int apply_agent_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case 'h':
		cfg->command = CMD_HELP;
		return 0;
	case 'V':
		cfg->command = CMD_VERSION;
		return 0;
	case 'v':
		cfg->verbose = true;
		return 0;
	case OPT_CHECK:
		cfg->command = CMD_CHECK;
		return 0;
	case OPT_LIST_COUNTERS:
		cfg->command = CMD_LIST_COUNTERS;
		return 0;
	case OPT_STATS:
		return parse_u32("--stats-interval", arg, 0, 86400, &cfg->stats_interval_s);
	default: /* OPT_CONFIG: read before the other flags, in config__parse */
		return 0;
	}
}

/* Where spans go and how they are batched. */
static int apply_export_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case OPT_OTLP_ENDPOINT:
		return set_endpoint(cfg, "--otlp-endpoint", arg, false);
	case OPT_OTLP_HEADERS:
		return set_str((char **)&cfg->otlp.headers, arg);
	case OPT_OTLP_HEADERS_FILE:
		return set_str(&cfg->otlp_headers_file, arg);
	case OPT_OTLP_CA:
		return set_str((char **)&cfg->otlp.ca_file, arg);
	case OPT_OTLP_INSECURE:
		cfg->otlp.insecure = true;
		return 0;
	case OPT_NO_GZIP:
		cfg->gzip_mode = 0;
		return 0;
	case OPT_GZIP:
		cfg->gzip_mode = 1;
		return 0;
	case OPT_CONSOLE:
		cfg->console = true;
		return 0;
	case OPT_BATCH:
		return parse_u32("--batch-size", arg, 1, 10000, &cfg->otlp.max_batch);
	case OPT_BATCH_DELAY:
		return parse_u32("--batch-delay-ms", arg, 1, 60000, &cfg->otlp.batch_delay_ms);
	default: /* OPT_QUEUE */
		return parse_u32("--queue-size", arg, 1, 1000000, &cfg->otlp.max_queue);
	}
}

/* What the kernel side captures, and how often the rings are read. */
static int apply_capture_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	uint32_t v;
	int err;

	switch (opt) {
	case OPT_CAPTURE_BYTES:
		return parse_u32("--capture-bytes", arg, 64, SONDE_PAYLOAD_MAX, &cfg->capture_bytes);
	case OPT_RUN_CAPTURES:
		return parse_u32("--run-captures", arg, 1, 16, &cfg->run_captures);
	case OPT_RING_KB:
		err = parse_u32("--ring-kb", arg, 64, 262144, &v);
		if (!err && (v & (v - 1))) {
			fprintf(stderr, "sonde: invalid value '%s' for --ring-kb: expected a power of two\n",
				arg);
			err = -EINVAL;
		}
		if (!err)
			cfg->ring_bytes = v << 10;
		return err;
	default: /* OPT_POLL_MS */
		return parse_u32("--poll-ms", arg, 1, 1000, &cfg->poll_ms);
	}
}

/* What the spans hold, how they are made, and which are kept. */
static int apply_span_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case OPT_EXPORT_QUERY:
		cfg->export_query = true;
		return 0;
	case OPT_TLS:
	case OPT_NO_TLS:
		cfg->tls = opt == OPT_TLS;
		return 0;
	case OPT_NO_GO_GRPC:
		cfg->go_grpc = false;
		return 0;
	case OPT_SERVICE_NAME:
		return set_str(&cfg->service_name, arg);
	case OPT_DB_SERVER_SPANS:
		return parse_bool("--db-server-spans", arg, &cfg->db_server_spans);
	case OPT_IDLE_MS:
		return parse_u32("--idle-close-ms", arg, 1, 600000, &cfg->idle_close_ms);
	default: /* OPT_SAMPLE_RATIO */
		return parse_ratio("--sample-ratio", arg, &cfg->sample_threshold);
	}
}

/* Where the Kubernetes API is, and this node's name and credentials for it. */
static int apply_k8s_opt(struct sonde_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case OPT_K8S_API:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) {
			fprintf(stderr, "sonde: invalid value '%s' for --k8s-api: expected an http:// or https:// URL\n",
				arg);
			return -EINVAL;
		}
		return set_str(&cfg->k8s_api, arg);
	case OPT_K8S_NODE:
		return set_str(&cfg->k8s_node, arg);
	case OPT_K8S_TOKEN:
		return set_str(&cfg->k8s_token_file, arg);
	default: /* OPT_K8S_CA */
		return set_str(&cfg->k8s_ca_file, arg);
	}
}

/* Apply command-line style arguments (argv[0] is skipped) to cfg. */
static int apply_args(struct sonde_config *cfg, int argc, char **argv)
{
	int c, err;

	optind = 0; /* glibc: a full re-initialisation, as this runs more than once */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hVv", long_opts, NULL)) != -1) {
		err = 0;
		switch (c) {
		case 'h':
		case 'V':
		case 'v':
		case OPT_CHECK:
		case OPT_LIST_COUNTERS:
		case OPT_STATS:
		case OPT_CONFIG:
			err = apply_agent_opt(cfg, c, optarg);
			break;
		case OPT_OTLP_ENDPOINT:
		case OPT_OTLP_HEADERS:
		case OPT_OTLP_HEADERS_FILE:
		case OPT_OTLP_CA:
		case OPT_OTLP_INSECURE:
		case OPT_NO_GZIP:
		case OPT_GZIP:
		case OPT_CONSOLE:
		case OPT_BATCH:
		case OPT_BATCH_DELAY:
		case OPT_QUEUE:
			err = apply_export_opt(cfg, c, optarg);
			break;
		case OPT_CAPTURE_BYTES:
		case OPT_RUN_CAPTURES:
		case OPT_RING_KB:
		case OPT_POLL_MS:
			err = apply_capture_opt(cfg, c, optarg);
			break;
		case OPT_CPU:
		case OPT_HOOKS:
		case OPT_DB_QUERY:
		case OPT_HTTP_RESPONSES:
		case OPT_K8S:
			err = apply_word_opt(cfg, c, optarg);
			break;
		case OPT_PID:
		case OPT_PORT:
		case OPT_EXE:
			err = apply_selection_opt(cfg, c, optarg);
			break;
		case OPT_EXPORT_QUERY:
		case OPT_TLS:
		case OPT_NO_TLS:
		case OPT_NO_GO_GRPC:
		case OPT_SERVICE_NAME:
		case OPT_DB_SERVER_SPANS:
		case OPT_IDLE_MS:
		case OPT_SAMPLE_RATIO:
			err = apply_span_opt(cfg, c, optarg);
			break;
		case OPT_PROPAGATION:
		case OPT_TCPOPT_TO:
		case OPT_TCPOPT_HOLD:
			err = apply_propagation_opt(cfg, c, optarg);
			break;
		case OPT_K8S_API:
		case OPT_K8S_NODE:
		case OPT_K8S_TOKEN:
		case OPT_K8S_CA:
			err = apply_k8s_opt(cfg, c, optarg);
			break;
		case OPT_METRICS_ADDR:
		case OPT_REQUEST_METRICS:
		case OPT_REQUEST_METRICS_SERIES:
		case OPT_REQUEST_METRICS_BUCKETS:
		case OPT_ROUTE:
		case OPT_OTLP_METRICS:
		case OPT_OTLP_METRICS_INTERVAL:
		case OPT_OTLP_METRICS_TEMPORALITY:
			err = apply_metrics_opt(cfg, c, optarg);
			break;
		case ':':
			fprintf(stderr, "sonde: option %s needs a value (see sonde --help)\n",
				argv[optind - 1]);
			err = -EINVAL;
			break;
		default:
			fprintf(stderr, "sonde: unknown option '%s' (see sonde --help)\n",
				argv[optind - 1]);
			err = -EINVAL;
			break;
		}
		if (err)
			return err;
	}
	if (optind < argc) {
		fprintf(stderr, "sonde: unexpected argument '%s' (see sonde --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/*
 * A config file holds the long options, one a line, without their dashes: "otlp-endpoint =
 * http://collector:4318", "export-query", "exe = nginx". Blank lines and '#' comments are
 * skipped. It is applied before the command line, so a flag beats the file.
 */
static int apply_file(struct sonde_config *cfg, const char *path)
{
	char line[1024], opt[128], *key, *val, *eq, *end, *args[3];
	FILE *f = fopen(path, "re");
	int lineno = 0, err = 0, n;

	if (!f) {
		fprintf(stderr, "sonde: cannot read config file %s: %s\n", path, strerror(errno));
		return -EINVAL;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "sonde: %s:%d: line too long\n", path, lineno);
			err = -EINVAL;
			break;
		}
		key = line + strspn(line, " \t");
		if (*key == '#' || *key == '\n' || *key == 0)
			continue;
		end = key + strlen(key);
		while (end > key && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = 0;
		val = NULL;
		eq = strchr(key, '=');
		if (eq) {
			val = eq + 1 + strspn(eq + 1, " \t");
			while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t'))
				eq--;
			*eq = 0;
		}
		if (!strcmp(key, "config")) {
			fprintf(stderr, "sonde: %s:%d: a config file cannot name another\n", path, lineno);
			err = -EINVAL;
			break;
		}
		snprintf(opt, sizeof(opt), "--%s", key);
		args[0] = "sonde";
		args[1] = opt;
		args[2] = val;
		n = val ? 3 : 2;
		err = apply_args(cfg, n, args);
		if (err)
			fprintf(stderr, "sonde: ... in %s line %d\n", path, lineno);
	}
	fclose(f);
	return err;
}

int config__parse(struct sonde_config *cfg, int argc, char **argv)
{
	const char *file = getenv("SONDE_CONFIG");
	int i, err;

	memset(cfg, 0, sizeof(*cfg));
	otlp_config__defaults(&cfg->otlp);
	cfg->capture_bytes = SONDE_PAYLOAD_DEFAULT;
	cfg->run_captures = SONDE_RUN_CAPTURES_DEFAULT;
	cfg->ring_bytes = SONDE_RING_BYTES;
	cfg->poll_ms = 20;
	cfg->cpu_yield = true;
	cfg->idle_close_ms = 500;
	cfg->gzip_mode = -1;
	cfg->db.query_mode = DB_QUERY_SANITIZED;
	cfg->db_server_spans = true;
	cfg->tls = true;
	cfg->go_grpc = true;
	cfg->request_metrics = true;
	cfg->otlp_metrics = true;
	cfg->metrics_interval_ms = 60000;
	cfg->request_metrics_series = RED_SERIES_DEFAULT;
	cfg->propagation = PROPAGATION_LINK;
	cfg->tcpopt_hold_s = 300;
	cidr__parse_list("private", cfg->tcpopt_to, SONDE_TCPOPT_DESTS, &cfg->n_tcpopt_to,
			 &cfg->tcpopt_to_all, NULL, NULL, 0);
	cfg->metrics_addr = strdup("127.0.0.1:9464");
	err = from_env(cfg);
	if (err)
		return err;

	/* --config FILE (or SONDE_CONFIG) first: the other flags override it. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			file = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
		else if (!strcmp(argv[i], "--"))
			break;
	}
	if (file && *file && (err = apply_file(cfg, file)))
		return err;
	err = apply_args(cfg, argc, argv);
	if (err)
		return err;
	/* after everything: its headers go with those given any other way */
	if (cfg->otlp_headers_file &&
	    (err = add_headers_file(cfg, "--otlp-headers-file", cfg->otlp_headers_file)))
		return err;
	cfg->otlp.url = cfg->traces_url;
	cfg->otlp.gzip = cfg->gzip_mode < 0 ? !url_is_loopback(cfg->traces_url) : cfg->gzip_mode;
	return 0;
}

void config__free(struct sonde_config *cfg)
{
	int i;

	free(cfg->traces_url);
	free(cfg->metrics_url);
	free((char *)cfg->otlp.headers);
	free((char *)cfg->otlp.ca_file);
	free(cfg->service_name);
	free(cfg->resource_attrs);
	free(cfg->metrics_addr);
	routes__free(&cfg->routes);
	free(cfg->otlp_headers_file);
	free(cfg->k8s_api);
	free(cfg->k8s_node);
	free(cfg->k8s_token_file);
	free(cfg->k8s_ca_file);
	for (i = 0; i < cfg->n_exes; i++)
		free(cfg->exes[i]);
	memset(cfg, 0, sizeof(*cfg));
}
