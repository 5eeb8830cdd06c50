// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sonde's entry point: read the settings, load and attach the BPF side, then run one event loop
 * that drains the ring buffers on a timer, assembles spans and exports them, until SIGINT or
 * SIGTERM; then flush what it can within a bound, detach everything, and report the counts.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "assembler.h"
#include "config.h"
#include "export/exporter.h"
#include "k8s.h"
#include "loader.h"
#include "loop.h"
#include "metrics.h"
#include "peers.h"
#include "process.h"

#define TICK_MS 100
#define SWEEP_MS 10000
#define SHUTDOWN_FLUSH_MS 5000

struct agent {
	struct sonde_config cfg;
	struct loop *loop;
	struct loader *ld;
	struct process_table *procs;
	struct k8s_watcher *k8s; /* NULL: no pod metadata */
	struct assembler *asm_;
	struct exporter *exporters[2];
	int n_exporters;
	struct metrics_server *metrics;
	int sig_fd;
	uint64_t started_ms;
	uint64_t last_poll_ms; /* the rings were last drained then: the health signal */
	uint64_t last_sweep_ms;
	uint64_t last_stats_ms;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void on_span(void *ctx, const struct span *s)
{
	struct agent *ag = ctx;
	int i;

	for (i = 0; i < ag->n_exporters; i++)
		exporter__submit(ag->exporters[i], s);
}

static void on_record(void *ctx, const void *rec, size_t size)
{
	struct agent *ag = ctx;

	assembler__on_record(ag->asm_, rec, size);
}

static int conn_state(void *ctx, uint64_t key, struct sonde_conn_state *out)
{
	return loader__conn_state(ctx, key, out);
}

static void conn_ignore(void *ctx, uint64_t key)
{
	loader__ignore_conn(ctx, key); /* gone already (closed): nothing to stop */
}

static void conn_resp_mode(void *ctx, uint64_t key, uint8_t mode)
{
	/* Fails only when the map is full: the responses are then recorded as before. */
	loader__resp_mode(ctx, key, mode);
}

/*
 * A Go program's first connection: its net/http client uprobes, once per executable. Without
 * them (a stripped binary, no net/http) its calls made through http.Client start traces of
 * their own; the calls it writes itself (database drivers) are linked all the same.
 */
static void go_process(void *ctx, uint32_t tgid)
{
	static uint32_t recent[64]; /* processes asked about lately: not once per connection */
	static unsigned int next;
	static int warned;
	unsigned int i;
	int err;

	for (i = 0; i < 64; i++)
		if (recent[i] == tgid)
			return;
	recent[next++ % 64] = tgid;
	err = loader__attach_go(ctx, tgid);
	if (err && err != -ESRCH && err != -E2BIG && warned++ < 5)
		fprintf(stderr, "sonde: note: Go process %u: its net/http client calls are not "
				"linked to their requests (uprobes on its executable: %s%s)\n", tgid,
			strerror(-err), err == -ENOENT ? ": no symbol table, or no net/http" : "");
}

static void print_stats(struct agent *ag, const char *when)
{
	uint64_t k[SONDE_CNT_MAX];
	struct assembler_stats as;
	struct exporter_stats es;
	int i;

	loader__counters(ag->ld, k);
	assembler__stats(ag->asm_, &as);
	fprintf(stderr,
		"sonde: stats (%s): io=%llu records=%llu ring_full=%llu copy_fail=%llu "
		"conns=%llu open=%llu not_http=%llu spans=%llu incomplete=%llu parse_errors=%llu "
		"framing_lost=%llu orphans=%llu ignored=%llu db_conns=%llu db_spans=%llu "
		"links_thread=%llu links_tuple=%llu links_kernel=%llu links_ambiguous=%llu "
		"links_unguessed=%llu threads_taken_on=%llu "
		"responses_summarized=%llu responses_recorded=%llu conns_summarized=%llu "
		"conns_full_again=%llu responses_pipelined=%llu\n",
		when, (unsigned long long)k[SONDE_CNT_IO], (unsigned long long)k[SONDE_CNT_RECORDS],
		(unsigned long long)k[SONDE_CNT_RING_FULL], (unsigned long long)k[SONDE_CNT_COPY_FAIL],
		(unsigned long long)as.conns_total, (unsigned long long)as.conns_open,
		(unsigned long long)as.conns_not_http, (unsigned long long)as.spans,
		(unsigned long long)as.spans_incomplete, (unsigned long long)as.parse_errors,
		(unsigned long long)as.framing_lost, (unsigned long long)as.orphan_responses,
		(unsigned long long)as.conns_ignored, (unsigned long long)as.conns_db,
		(unsigned long long)as.spans_db, (unsigned long long)as.links_thread,
		(unsigned long long)as.links_tuple, (unsigned long long)as.links_kernel,
		(unsigned long long)as.links_ambiguous, (unsigned long long)as.links_unguessed,
		(unsigned long long)as.threads_taken_on,
		(unsigned long long)k[SONDE_CNT_RESP_SUMMARIZED],
		(unsigned long long)k[SONDE_CNT_RESP_RECORDED],
		(unsigned long long)as.conns_summarized, (unsigned long long)as.conns_full_responses,
		(unsigned long long)as.responses_pipelined);
	if (ag->cfg.propagation & PROPAGATION_HEADER)
		fprintf(stderr,
			"sonde: stats (%s): server_ids=%llu traceparent_in=%llu traceparent_bad=%llu "
			"injected=%llu skip_untraced=%llu skip_not_start=%llu skip_not_http=%llu "
			"skip_has_context=%llu skip_split=%llu skip_failed=%llu inject_unmerged=%llu\n",
			when, (unsigned long long)k[SONDE_CNT_SERVER_IDS],
			(unsigned long long)k[SONDE_CNT_SERVER_TP_IN],
			(unsigned long long)k[SONDE_CNT_SERVER_TP_BAD],
			(unsigned long long)k[SONDE_CNT_INJECTED],
			(unsigned long long)k[SONDE_CNT_SKIP_UNTRACED],
			(unsigned long long)k[SONDE_CNT_SKIP_NOT_START],
			(unsigned long long)k[SONDE_CNT_SKIP_NOT_HTTP],
			(unsigned long long)k[SONDE_CNT_SKIP_HAS_CTX],
			(unsigned long long)k[SONDE_CNT_SKIP_SPLIT],
			(unsigned long long)k[SONDE_CNT_SKIP_FAILED],
			(unsigned long long)k[SONDE_CNT_INJECT_UNMERGED]);
	if (ag->cfg.propagation & PROPAGATION_TCP)
		fprintf(stderr,
			"sonde: stats (%s): tcpopt_requests=%llu tcpopt_written=%llu "
			"tcpopt_nospace=%llu tcpopt_parsed=%llu tcpopt_joined=%llu\n",
			when, (unsigned long long)k[SONDE_CNT_TCPOPT_RUNS],
			(unsigned long long)k[SONDE_CNT_TCPOPT_WRITTEN],
			(unsigned long long)k[SONDE_CNT_TCPOPT_NOSPACE],
			(unsigned long long)k[SONDE_CNT_TCPOPT_PARSED],
			(unsigned long long)k[SONDE_CNT_TCPOPT_JOINED]);
	for (i = 0; i < ag->n_exporters; i++) {
		exporter__stats(ag->exporters[i], &es);
		fprintf(stderr,
			"sonde: stats (%s): exporter=%s in=%llu exported=%llu dropped_full=%llu "
			"dropped_failed=%llu rejected=%llu queued=%llu requests=%llu retries=%llu "
			"http_errors=%llu transport_errors=%llu\n",
			when, exporter__name(ag->exporters[i]), (unsigned long long)es.spans_in,
			(unsigned long long)es.spans_exported,
			(unsigned long long)es.spans_dropped_full,
			(unsigned long long)es.spans_dropped_failed,
			(unsigned long long)es.spans_rejected, (unsigned long long)es.spans_queued,
			(unsigned long long)es.requests, (unsigned long long)es.retries,
			(unsigned long long)es.errors_http, (unsigned long long)es.errors_transport);
	}
}

static void drain(struct agent *ag)
{
	int n = loader__poll(ag->ld);

	ag->last_poll_ms = loop__now_ms();
	if (n < 0)
		fprintf(stderr, "sonde: reading the ring buffers failed: %s\n", strerror(-n));
}

static void metric(FILE *out, const char *name, const char *type, const char *help,
		   const char *labels, uint64_t v)
{
	if (help)
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	fprintf(out, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

/* GET /metrics: the counters of every stage, from the kernel to the collector. */
static void render_metrics(void *ctx, FILE *out)
{
	struct agent *ag = ctx;
	uint64_t k[SONDE_CNT_MAX];
	struct assembler_stats as;
	struct exporter_stats es;
	char labels[96];
	int i;

	loader__counters(ag->ld, k);
	assembler__stats(ag->asm_, &as);
	metric(out, "sonde_socket_io_total", "counter", "Socket I/O seen by the BPF programs.", NULL,
	       k[SONDE_CNT_IO]);
	metric(out, "sonde_ring_records_total", "counter", "Records written to the ring buffers.",
	       NULL, k[SONDE_CNT_RECORDS]);
	metric(out, "sonde_ring_drops_total", "counter",
	       "Records lost because a ring buffer was full.", NULL, k[SONDE_CNT_RING_FULL]);
	metric(out, "sonde_payload_copy_failures_total", "counter",
	       "Payload copies from user memory that failed.", NULL, k[SONDE_CNT_COPY_FAIL]);
	metric(out, "sonde_connections_open", "gauge", "Connections the agent follows now.", NULL,
	       as.conns_open);
	metric(out, "sonde_connections_total", "counter", "Connections seen.", NULL, as.conns_total);
	metric(out, "sonde_connections_not_http_total", "counter",
	       "Connections given up as not HTTP/1.x.", NULL, as.conns_not_http);
	metric(out, "sonde_connections_dropped_total", "counter",
	       "Connections not followed: table full.", NULL, as.conns_dropped);
	metric(out, "sonde_spans_total", "counter", "Spans assembled.", NULL, as.spans);
	metric(out, "sonde_parse_errors_total", "counter", "Message heads that did not parse.", NULL,
	       as.parse_errors);
	metric(out, "sonde_framing_lost_total", "counter",
	       "Message boundaries lost past the captured bytes.", NULL, as.framing_lost);
	metric(out, "sonde_connections_db_total", "counter",
	       "Connections decoded as a database or cache protocol.", NULL, as.conns_db);
	metric(out, "sonde_spans_db_total", "counter", "Database and cache spans assembled.", NULL,
	       as.spans_db);
	metric(out, "sonde_links_total", "counter",
	       "Spans given a parent, by how: the serving thread, the connection's other end, "
	       "ids from the kernel.", "{via=\"thread\"}", as.links_thread);
	metric(out, "sonde_links_total", "counter", NULL, "{via=\"connection\"}", as.links_tuple);
	metric(out, "sonde_links_total", "counter", NULL, "{via=\"kernel\"}", as.links_kernel);
	metric(out, "sonde_links_ambiguous_total", "counter",
	       "Thread links chosen among several open requests (event loops).", NULL,
	       as.links_ambiguous);
	metric(out, "sonde_links_unguessed_total", "counter",
	       "Calls of CPython event loops left without a parent: several requests were open on "
	       "the thread, and asyncio runs a request's code after other requests' reads.", NULL,
	       as.links_unguessed);
	metric(out, "sonde_threads_taken_on_total", "counter",
	       "Threads created while their creator served a request: their calls are its "
	       "children.", NULL, as.threads_taken_on);
	metric(out, "sonde_http_responses_total", "counter",
	       "HTTP/1.x response runs on connections of known role: summarized by the kernel "
	       "(status line only, no record) or recorded in full.", "{how=\"summarized\"}",
	       k[SONDE_CNT_RESP_SUMMARIZED]);
	metric(out, "sonde_http_responses_total", "counter", NULL, "{how=\"recorded\"}",
	       k[SONDE_CNT_RESP_RECORDED]);
	metric(out, "sonde_kernel_server_ids_total", "counter",
	       "Request heads read by servers that got their ids in the kernel (header "
	       "propagation), by incoming traceparent.", "{traceparent=\"none\"}",
	       k[SONDE_CNT_SERVER_IDS] - k[SONDE_CNT_SERVER_TP_IN] - k[SONDE_CNT_SERVER_TP_BAD]);
	metric(out, "sonde_kernel_server_ids_total", "counter", NULL, "{traceparent=\"valid\"}",
	       k[SONDE_CNT_SERVER_TP_IN]);
	metric(out, "sonde_kernel_server_ids_total", "counter", NULL, "{traceparent=\"invalid\"}",
	       k[SONDE_CNT_SERVER_TP_BAD]);
	metric(out, "sonde_injected_total", "counter",
	       "Outgoing HTTP/1.x requests that got a traceparent header from the kernel.", NULL,
	       k[SONDE_CNT_INJECTED]);
	metric(out, "sonde_injected_unmerged_total", "counter",
	       "Injected requests whose head stayed in several pieces (may wait for Nagle).", NULL,
	       k[SONDE_CNT_INJECT_UNMERGED]);
	{
		static const struct {
			const char *reason;
			enum sonde_counter k;
		} skips[] = {
			{"untraced", SONDE_CNT_SKIP_UNTRACED},	{"not_request_start", SONDE_CNT_SKIP_NOT_START},
			{"not_http", SONDE_CNT_SKIP_NOT_HTTP},	{"has_context", SONDE_CNT_SKIP_HAS_CTX},
			{"head_split", SONDE_CNT_SKIP_SPLIT},	{"push_failed", SONDE_CNT_SKIP_FAILED},
		};
		size_t j;

		for (j = 0; j < sizeof(skips) / sizeof(skips[0]); j++) {
			snprintf(labels, sizeof(labels), "{reason=\"%s\"}", skips[j].reason);
			metric(out, "sonde_injection_skipped_total", "counter",
			       j ? NULL : "Sends on outgoing connections not injected, by reason.",
			       labels, k[skips[j].k]);
		}
	}
	{
		static const struct {
			const char *event;
			enum sonde_counter k;
		} tcpopt[] = {
			{"request", SONDE_CNT_TCPOPT_RUNS},	 {"written", SONDE_CNT_TCPOPT_WRITTEN},
			{"no_space", SONDE_CNT_TCPOPT_NOSPACE}, {"parsed", SONDE_CNT_TCPOPT_PARSED},
			{"joined", SONDE_CNT_TCPOPT_JOINED},
		};
		size_t j;

		for (j = 0; j < sizeof(tcpopt) / sizeof(tcpopt[0]); j++) {
			snprintf(labels, sizeof(labels), "{event=\"%s\"}", tcpopt[j].event);
			metric(out, "sonde_tcp_option_total", "counter",
			       j ? NULL
				 : "TCP-option propagation: requests given ids, segments that carried "
				   "the option or found no room, segments received with one, server "
				   "reads that joined the client span at the other end.",
			       labels, k[tcpopt[j].k]);
		}
	}
	for (i = 0; i < ag->n_exporters; i++) {
		const char *name = exporter__name(ag->exporters[i]);

		exporter__stats(ag->exporters[i], &es);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\"}", name);
		metric(out, "sonde_export_spans_total", "counter", i ? NULL : "Spans given to an exporter.",
		       labels, es.spans_in);
		metric(out, "sonde_export_spans_exported_total", "counter",
		       i ? NULL : "Spans the receiver accepted.", labels, es.spans_exported);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\",reason=\"queue_full\"}", name);
		metric(out, "sonde_export_spans_dropped_total", "counter",
		       i ? NULL : "Spans dropped, by reason.", labels, es.spans_dropped_full);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\",reason=\"failed\"}", name);
		metric(out, "sonde_export_spans_dropped_total", "counter", NULL, labels,
		       es.spans_dropped_failed);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\"}", name);
		metric(out, "sonde_export_queue_spans", "gauge",
		       i ? NULL : "Spans queued or in flight.", labels, es.spans_queued);
		metric(out, "sonde_export_requests_total", "counter",
		       i ? NULL : "Export requests sent.", labels, es.requests);
		metric(out, "sonde_export_retries_total", "counter", i ? NULL : "Requests retried.",
		       labels, es.retries);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\",kind=\"http\"}", name);
		metric(out, "sonde_export_errors_total", "counter", i ? NULL : "Export errors, by kind.",
		       labels, es.errors_http);
		snprintf(labels, sizeof(labels), "{exporter=\"%s\",kind=\"transport\"}", name);
		metric(out, "sonde_export_errors_total", "counter", NULL, labels, es.errors_transport);
	}
}

/* GET /healthz: healthy while the rings are being drained. */
static bool health(void *ctx, FILE *out)
{
	struct agent *ag = ctx;
	uint64_t age = loop__now_ms() - ag->last_poll_ms;
	bool ok = age < 5000;

	fprintf(out, "%s: rings drained %llu ms ago, hooks: %s\n", ok ? "ok" : "stalled",
		(unsigned long long)age, loader__hooks(ag->ld));
	return ok;
}

static void on_poll_timer(struct loop *l, void *ctx)
{
	struct agent *ag = ctx;

	drain(ag);
	loop__arm_timer(l, ag->cfg.poll_ms, on_poll_timer, ag);
}

static void on_ring_wakeup(struct loop *l, int fd, uint32_t events, void *ctx)
{
	drain(ctx);
}

static void on_tick(struct loop *l, void *ctx)
{
	struct agent *ag = ctx;
	uint64_t now = loop__now_ms();

	assembler__tick(ag->asm_, mono_ns());
	process_table__refresh(ag->procs);
	if (now - ag->last_sweep_ms >= SWEEP_MS) {
		process_table__sweep(ag->procs);
		ag->last_sweep_ms = now;
	}
	if (ag->cfg.stats_interval_s && now - ag->last_stats_ms >= ag->cfg.stats_interval_s * 1000ULL) {
		print_stats(ag, "periodic");
		ag->last_stats_ms = now;
	}
	loop__arm_timer(l, TICK_MS, on_tick, ag);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct agent *ag = ctx;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			print_stats(ag, "on request");
			continue;
		}
		fprintf(stderr, "sonde: %s received, flushing and detaching\n",
			si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
		loop__stop(l);
	}
}

static int setup_signals(struct agent *ag)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	ag->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ag->sig_fd < 0)
		return -errno;
	return loop__add_fd(ag->loop, ag->sig_fd, EPOLLIN, on_signal, ag);
}

static int run(struct agent *ag)
{
	struct sonde_config *cfg = &ag->cfg;
	uint64_t deadline;
	int err, i;

	ag->started_ms = loop__now_ms();
	ag->loop = loop__new();
	if (!ag->loop)
		return -ENOMEM;
	err = setup_signals(ag);
	if (err) {
		fprintf(stderr, "sonde: cannot set up signal handling: %s\n", strerror(-err));
		return err;
	}
	if (cfg->traces_url) {
		ag->exporters[ag->n_exporters] = otlp_exporter__new(ag->loop, &cfg->otlp);
		if (!ag->exporters[ag->n_exporters]) {
			fprintf(stderr, "sonde: cannot start the OTLP exporter for %s\n",
				cfg->traces_url);
			return -EINVAL;
		}
		ag->n_exporters++;
	}
	if (!cfg->traces_url || cfg->console) {
		ag->exporters[ag->n_exporters] = console_exporter__new(ag->loop, stdout);
		if (!ag->exporters[ag->n_exporters])
			return -ENOMEM;
		ag->n_exporters++;
	}
	ag->procs = process_table__new(cfg);
	if (!ag->procs)
		return -ENOMEM;
	ag->k8s = k8s_watcher__start(cfg, &err);
	if (err)
		return err;
	process_table__set_k8s(ag->procs, k8s_watcher__pods(ag->k8s));

	i = peers__count_programs();
	if (i > 0)
		fprintf(stderr, "sonde: warning: another sonde runs on this host (%d of its BPF "
				"programs are loaded): both will export every span; stop one of them\n",
			i);
	ag->ld = loader__start(cfg, on_record, ag);
	if (!ag->ld)
		return -errno;
	ag->asm_ = assembler__new(cfg, ag->procs, on_span, ag, conn_state, ag->ld);
	if (!ag->asm_)
		return -ENOMEM;
	assembler__set_ignore(ag->asm_, conn_ignore, ag->ld);
	assembler__set_resp_mode(ag->asm_, conn_resp_mode, ag->ld);
	assembler__set_go_process(ag->asm_, go_process, ag->ld);
	err = loop__add_fd(ag->loop, loader__epoll_fd(ag->ld), EPOLLIN, on_ring_wakeup, ag);
	if (err)
		return err;
	loop__arm_timer(ag->loop, cfg->poll_ms, on_poll_timer, ag);
	ag->last_poll_ms = loop__now_ms();
	if (cfg->metrics_addr)
		ag->metrics = metrics_server__new(ag->loop, cfg->metrics_addr, render_metrics, health,
						  ag);
	ag->last_sweep_ms = ag->last_stats_ms = loop__now_ms();
	loop__arm_timer(ag->loop, TICK_MS, on_tick, ag);

	fprintf(stderr, "sonde: attached in %llu ms: %s; propagation %s; spans to %s%s\n",
		(unsigned long long)(loop__now_ms() - ag->started_ms), loader__hooks(ag->ld),
		loader__propagation(ag->ld), cfg->traces_url ? cfg->traces_url : "the console",
		cfg->traces_url && cfg->otlp.gzip ? " (gzip)" : "");
	err = loop__run(ag->loop);

	/* Shutdown: take what the rings still hold, finish what has a response, send it. */
	drain(ag);
	assembler__flush(ag->asm_);
	deadline = loop__now_ms() + SHUTDOWN_FLUSH_MS;
	for (i = 0; i < ag->n_exporters; i++)
		exporter__flush(ag->exporters[i], deadline);
	print_stats(ag, "exit");
	return err;
}

static void cleanup(struct agent *ag)
{
	int i;

	metrics_server__free(ag->metrics);
	assembler__free(ag->asm_);
	loader__stop(ag->ld);
	for (i = 0; i < ag->n_exporters; i++)
		exporter__free(ag->exporters[i]);
	process_table__free(ag->procs);
	k8s_watcher__stop(ag->k8s);
	if (ag->sig_fd > 0)
		close(ag->sig_fd);
	loop__free(ag->loop);
	config__free(&ag->cfg);
}

int main(int argc, char **argv)
{
	static struct agent ag;
	int err;

	err = config__parse(&ag.cfg, argc, argv);
	if (err) {
		config__free(&ag.cfg);
		return 2;
	}
	switch (ag.cfg.command) {
	case CMD_HELP:
		config__usage(stdout);
		config__free(&ag.cfg);
		return 0;
	case CMD_VERSION:
		printf("sonde %s (%s)\n", SONDE_VERSION, SONDE_GIT_REV);
		config__free(&ag.cfg);
		return 0;
	case CMD_CHECK:
		err = loader__check(stdout, ag.cfg.hooks);
		config__free(&ag.cfg);
		return err;
	case CMD_RUN:
		break;
	}
	err = run(&ag);
	cleanup(&ag);
	return err ? 1 : 0;
}
