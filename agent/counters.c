// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The table of every counter sonde reports, and its three readers: the stats lines, GET
 * /metrics and --list-counters (see counters.h).
 *
 * Tests and tools parse both outputs: a stats line keeps its keys in the table's order, the
 * lines keep the order of enum counters_line, and a metric's rows are neighbours in the table,
 * the first with its HELP.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "counters.h"

/* The value is the uint64_t at this field of the snapshot; src names it for the unit test. */
#define KERNEL(k) .off = offsetof(struct counters_snapshot, bpf[k]), .src = "bpf." #k
#define ASM(f)	  .off = offsetof(struct counters_snapshot, as.f), .src = "as." #f
#define GUARD(f)  .off = offsetof(struct counters_snapshot, guard.f), .src = "guard." #f
#define DRAIN(f)  .off = offsetof(struct counters_snapshot, drain.f), .src = "drain." #f
#define PATHS(f)  .off = offsetof(struct counters_snapshot, paths.f), .src = "paths." #f
/* On COUNTERS_LINE_EXPORTER: a field of each exporter's struct exporter_stats. */
#define EXPORT(f) .off = offsetof(struct exporter_stats, f), .src = "exp." #f
/* On COUNTERS_LINE_UPROBE: a field of each uprobe target's struct uprobe_counts. */
#define UPROBE(f) .off = offsetof(struct uprobe_counts, f), .src = "up." #f

#define STAT(l, k)     .line = COUNTERS_LINE_##l, .key = (k)
#define TOTAL(name, h) .metric = (name), .type = COUNTER_TOTAL, .help = (h)
#define GAUGE(name, h) .metric = (name), .type = COUNTER_GAUGE, .help = (h)

static const char *cpu_mode(const struct counters_snapshot *s)
{
	if (!s->guard.yielding)
		return "normal";
	return s->guard.raised ? "yield(raised)" : "yield";
}

static uint64_t cpu_yielding(const struct counters_snapshot *s)
{
	return s->guard.yielding && !s->guard.raised;
}

static uint64_t cpu_raised_s(const struct counters_snapshot *s)
{
	return s->guard.raised_ms / 1000;
}

/* The kernel counts every head and those with a traceparent, valid or not. */
static uint64_t server_ids_no_traceparent(const struct counters_snapshot *s)
{
	return s->bpf[SONDE_CNT_SERVER_IDS] - s->bpf[SONDE_CNT_SERVER_TP_IN] -
	       s->bpf[SONDE_CNT_SERVER_TP_BAD];
}

static const struct {
	const char *name;
	uint32_t propagation; /* printed only with one of these modes on; 0: always */
	const char *label;    /* repeated for each instance: the label (and the stats key) that
			       * names it; NULL: printed once */
	const char *key;
} lines[COUNTERS_LINE_MAX] = {
	[COUNTERS_LINE_CPU] = {"cpu", 0, NULL, NULL},
	[COUNTERS_LINE_UPROBE] = {"uprobe", 0, "target", "uprobes"},
	[COUNTERS_LINE_MAIN] = {"main", 0, NULL, NULL},
	[COUNTERS_LINE_HEADER] = {"header", PROPAGATION_HEADER, NULL, NULL},
	[COUNTERS_LINE_TCP] = {"tcp", PROPAGATION_TCP, NULL, NULL},
	[COUNTERS_LINE_EXPORTER] = {"exporter", 0, "exporter", "exporter"},
};

/* Metric order: this one. Stats: line by line (enum counters_line), this order in each. */
const struct counter counters[] = {
	/* From the kernel to the spans. */
	{STAT(MAIN, "io"), TOTAL("sonde_socket_io_total", "Socket I/O seen by the BPF programs."),
	 KERNEL(SONDE_CNT_IO)},
	{STAT(MAIN, "records"),
	 TOTAL("sonde_ring_records_total", "Records written to the ring buffers."),
	 KERNEL(SONDE_CNT_RECORDS)},
	{STAT(MAIN, "ring_full"),
	 TOTAL("sonde_ring_drops_total", "Records lost because a ring buffer was full."),
	 KERNEL(SONDE_CNT_RING_FULL)},
	{STAT(MAIN, "copy_fail"),
	 TOTAL("sonde_payload_copy_failures_total", "Payload copies from user memory that failed."),
	 KERNEL(SONDE_CNT_COPY_FAIL)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_socket_io_unreadable_total",
	       "Socket I/O without a user buffer sonde can read (sendfile, io_uring)."),
	 KERNEL(SONDE_CNT_NO_USER_BUF)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_kernel_connections_total",
	       "Connections the BPF programs announced to the agent, and closes they reported."),
	 .labels = "event=\"opened\"", KERNEL(SONDE_CNT_CONN_NEW)},
	{STAT(MAIN, NULL), TOTAL("sonde_kernel_connections_total", NULL),
	 .labels = "event=\"closed\"", KERNEL(SONDE_CNT_CONN_CLOSE)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_records_decoded_total", "Records the decoders took from the ring buffers."),
	 ASM(records)},
	{STAT(MAIN, "conns"), TOTAL("sonde_connections_total", "Connections seen."),
	 ASM(conns_total)},
	{STAT(MAIN, "open"), GAUGE("sonde_connections_open", "Connections the agent follows now."),
	 ASM(conns_open)},
	{STAT(MAIN, "not_http"),
	 TOTAL("sonde_connections_not_http_total",
	       "Connections given up as no protocol sonde decodes."),
	 ASM(conns_not_http)},
	{STAT(MAIN, "joined_late"),
	 TOTAL("sonde_connections_joined_late_total",
	       "Connections of a protocol sonde decodes, first seen where it cannot start decoding: "
	       "HTTP/2 opened before sonde started (its header tables are unknown). Not decoded."),
	 ASM(conns_joined_late)},
	{STAT(MAIN, "upgraded"),
	 TOTAL("sonde_connections_upgraded_total",
	       "HTTP/1.1 connections upgraded to HTTP/2 in clear text (Upgrade: h2c), decoded as "
	       "HTTP/2 from the client preface on."),
	 ASM(conns_upgraded)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_connections_dropped_total", "Connections not followed: table full."),
	 ASM(conns_dropped)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_connections_evicted_total", "Idle connections dropped from the table."),
	 ASM(conns_evicted)},
	{STAT(MAIN, "spans"), TOTAL("sonde_spans_total", "Spans assembled."), ASM(spans)},
	{STAT(MAIN, "incomplete"), .help = "Spans whose connection closed before the response.",
	 ASM(spans_incomplete)},
	{STAT(MAIN, "parse_errors"),
	 TOTAL("sonde_parse_errors_total", "Message heads that did not parse."), ASM(parse_errors)},
	{STAT(MAIN, "framing_lost"),
	 TOTAL("sonde_framing_lost_total", "Message boundaries lost past the captured bytes."),
	 ASM(framing_lost)},
	{STAT(MAIN, "orphans"), .help = "Responses without a request seen.", ASM(orphan_responses)},
	{STAT(MAIN, NULL),
	 TOTAL("sonde_requests_dropped_total",
	       "Requests not followed: too many outstanding on one connection."),
	 ASM(pipeline_full)},
	{STAT(MAIN, "ignored"),
	 .help = "Connections the kernel was told to stop recording (not decoded, not selected).",
	 ASM(conns_ignored)},
	{STAT(MAIN, "db_conns"),
	 TOTAL("sonde_connections_db_total",
	       "Connections decoded as a database or cache protocol."),
	 ASM(conns_db)},
	{STAT(MAIN, "db_spans"),
	 TOTAL("sonde_spans_db_total", "Database and cache spans assembled."), ASM(spans_db)},
	{STAT(MAIN, "links_thread"),
	 TOTAL("sonde_links_total", "Spans given a parent, by how: the serving thread, the "
				    "connection's other end, ids from the kernel."),
	 .labels = "via=\"thread\"", ASM(links_thread)},
	{STAT(MAIN, "links_tuple"), TOTAL("sonde_links_total", NULL),
	 .labels = "via=\"connection\"", ASM(links_tuple)},
	{STAT(MAIN, "links_kernel"), TOTAL("sonde_links_total", NULL), .labels = "via=\"kernel\"",
	 ASM(links_kernel)},
	{STAT(MAIN, "links_ambiguous"),
	 TOTAL("sonde_links_ambiguous_total",
	       "Thread links chosen among several open requests (event loops)."),
	 ASM(links_ambiguous)},
	{STAT(MAIN, "links_unguessed"),
	 TOTAL("sonde_links_unguessed_total",
	       "Calls left without a parent on an event loop: several requests were open on the "
	       "thread, and nothing told which one the call was for (CPython's asyncio runs a "
	       "request's code after other requests' reads; requests read together)."),
	 ASM(links_unguessed)},
	{STAT(MAIN, "go_streams_served"),
	 TOTAL("sonde_go_streams_total",
	       "grpc-go streams whose code runs on another goroutine than their I/O, tied "
	       "through its uprobes: server streams to their handler, client streams to the "
	       "goroutine that called."),
	 .labels = "side=\"server\"", ASM(go_streams_served)},
	{STAT(MAIN, "go_streams_opened"), TOTAL("sonde_go_streams_total", NULL),
	 .labels = "side=\"client\"", ASM(go_streams_opened)},
	{STAT(MAIN, "go_streams_unread"),
	 TOTAL("sonde_go_streams_unread_total",
	       "grpc-go handlers not tied to their request: their connection was accepted before "
	       "sonde's uprobes were attached to the program."),
	 ASM(go_streams_unread)},
	{STAT(MAIN, "links_batch"),
	 TOTAL("sonde_links_batch_total",
	       "Calls written together by a pipelining client (a Redis client that writes an "
	       "event-loop turn's commands at once), each made the child of the request whose "
	       "turn issued it."),
	 ASM(links_batch)},
	{STAT(MAIN, "links_batch_unsure"),
	 TOTAL("sonde_links_batch_unsure_total",
	       "Calls of a pipelined write left without a parent: the requests that ran since "
	       "the connection's last write did not match its calls one to one."),
	 ASM(links_batch_unsure)},
	{STAT(MAIN, "threads_taken_on"),
	 TOTAL("sonde_threads_taken_on_total", "Threads created while their creator served a "
					       "request: their calls are its children."),
	 ASM(threads_taken_on)},
	{STAT(MAIN, "thread_pools"),
	 TOTAL("sonde_thread_pools_total",
	       "Processes found to pool the threads their handlers create (one called again, or "
	       "after its creator's request): no thread of theirs is taken on any more."),
	 ASM(thread_pools)},
	{STAT(MAIN, "responses_summarized"),
	 TOTAL("sonde_http_responses_total",
	       "HTTP/1.x response runs on connections of known role: summarized by the kernel "
	       "(status line only, no record) or recorded in full."),
	 .labels = "how=\"summarized\"", KERNEL(SONDE_CNT_RESP_SUMMARIZED)},
	{STAT(MAIN, "responses_recorded"), TOTAL("sonde_http_responses_total", NULL),
	 .labels = "how=\"recorded\"", KERNEL(SONDE_CNT_RESP_RECORDED)},
	{STAT(MAIN, "conns_summarized"),
	 .help = "Connections whose HTTP/1.x responses the kernel was asked to summarize.",
	 ASM(conns_summarized)},
	{STAT(MAIN, "conns_full_again"),
	 .help = "Summarizing connections asked to record responses in full again (pipelining).",
	 ASM(conns_full_responses)},
	{STAT(MAIN, "responses_pipelined"),
	 .help = "Summarized responses that answered several pipelined requests at once (no "
		 "status for all but the first).",
	 ASM(responses_pipelined)},
	{STAT(MAIN, "h2_conns"),
	 TOTAL("sonde_http2_connections_total",
	       "Connections the kernel saw start with the HTTP/2 client preface (their frames "
	       "are walked from then on)."),
	 KERNEL(SONDE_CNT_H2_CONNS)},
	{STAT(MAIN, "h2_walk_cut"),
	 TOTAL("sonde_http2_walk_total",
	       "HTTP/2 I/O the kernel could not record whole: records that ran out of room for "
	       "their header blocks, directions whose frame boundaries were lost."),
	 .labels = "event=\"cut\"", KERNEL(SONDE_CNT_WALK_CUT)},
	{STAT(MAIN, "h2_walk_lost"), TOTAL("sonde_http2_walk_total", NULL),
	 .labels = "event=\"lost\"", KERNEL(SONDE_CNT_WALK_LOST)},
	{STAT(MAIN, "tls_conns"),
	 TOTAL("sonde_tls_connections_total",
	       "Connections whose socket bytes the kernel found to be TLS records: only the "
	       "plaintext the TLS library's uprobes see is decoded."),
	 KERNEL(SONDE_CNT_TLS_CONNS)},
	{STAT(MAIN, "tls_io"),
	 TOTAL("sonde_tls_calls_total",
	       "TLS library reads and writes of traced connections recorded as plaintext; "
	       "untied: calls whose socket was not known (not TCP, or never tied), not recorded."),
	 .labels = "event=\"recorded\"", KERNEL(SONDE_CNT_TLS_IO)},
	{STAT(MAIN, "tls_untied"), TOTAL("sonde_tls_calls_total", NULL),
	 .labels = "event=\"untied\"", KERNEL(SONDE_CNT_TLS_UNTIED)},
	{STAT(MAIN, "head_finds"),
	 TOTAL("sonde_head_context_searches_total",
	       "Incoming request I/Os whose head went on past the record's payload, searched by "
	       "the kernel for trace-context lines (up to 16 KiB into the request)."),
	 KERNEL(SONDE_CNT_HEAD_FINDS)},
	{STAT(MAIN, "ctx_behind"),
	 TOTAL("sonde_head_contexts_found_total",
	       "Incoming requests whose trace context was found past the record's payload."),
	 ASM(ctx_behind)},
	{STAT(MAIN, "red_series"),
	 GAUGE("sonde_request_metric_series",
	       "Series of the request duration histograms now (--request-metrics), overflow "
	       "series included."),
	 ASM(red_series)},
	{STAT(MAIN, "red_overflows"),
	 TOTAL("sonde_request_metric_overflows_total",
	       "Operations counted in a request metric's overflow series "
	       "(otel_metric_overflow=\"true\"): the metric had --request-metrics-series "
	       "series already."),
	 ASM(red_overflows)},
	{STAT(MAIN, "unsampled"),
	 TOTAL("sonde_spans_unsampled_total",
	       "Spans assembled and not sent: their trace was not sampled (--sample-ratio)."),
	 ASM(spans_unsampled)},

	/* Header propagation. */
	{STAT(HEADER, "server_ids"),
	 .help = "Request heads read by servers that got their ids in the kernel.",
	 KERNEL(SONDE_CNT_SERVER_IDS)},
	{STAT(HEADER, NULL),
	 TOTAL("sonde_kernel_server_ids_total",
	       "Request heads read by servers that got their ids in the kernel (header "
	       "propagation), by incoming traceparent."),
	 .labels = "traceparent=\"none\"", .value = server_ids_no_traceparent,
	 .src = "bpf.SONDE_CNT_SERVER_IDS bpf.SONDE_CNT_SERVER_TP_IN bpf.SONDE_CNT_SERVER_TP_BAD"},
	{STAT(HEADER, "traceparent_in"), TOTAL("sonde_kernel_server_ids_total", NULL),
	 .labels = "traceparent=\"valid\"", KERNEL(SONDE_CNT_SERVER_TP_IN)},
	{STAT(HEADER, "traceparent_bad"), TOTAL("sonde_kernel_server_ids_total", NULL),
	 .labels = "traceparent=\"invalid\"", KERNEL(SONDE_CNT_SERVER_TP_BAD)},
	{STAT(HEADER, "injected"),
	 TOTAL("sonde_injected_total",
	       "Outgoing HTTP/1.x requests that got a traceparent header from the kernel."),
	 KERNEL(SONDE_CNT_INJECTED)},
	{STAT(HEADER, "skip_untraced"),
	 TOTAL("sonde_injection_skipped_total",
	       "Sends on outgoing connections not injected, by reason."),
	 .labels = "reason=\"untraced\"", KERNEL(SONDE_CNT_SKIP_UNTRACED)},
	{STAT(HEADER, "skip_not_start"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"not_request_start\"", KERNEL(SONDE_CNT_SKIP_NOT_START)},
	{STAT(HEADER, "skip_not_http"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"not_http\"", KERNEL(SONDE_CNT_SKIP_NOT_HTTP)},
	{STAT(HEADER, "skip_has_context"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"has_context\"", KERNEL(SONDE_CNT_SKIP_HAS_CTX)},
	{STAT(HEADER, "skip_split"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"head_split\"", KERNEL(SONDE_CNT_SKIP_SPLIT)},
	{STAT(HEADER, "skip_failed"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"push_failed\"", KERNEL(SONDE_CNT_SKIP_FAILED)},
	{STAT(HEADER, "skip_unsure"), TOTAL("sonde_injection_skipped_total", NULL),
	 .labels = "reason=\"unsure\"", KERNEL(SONDE_CNT_SKIP_UNSURE)},
	{STAT(HEADER, "inject_unmerged"),
	 TOTAL("sonde_injected_unmerged_total",
	       "Injected requests whose head stayed in several pieces (may wait for Nagle)."),
	 KERNEL(SONDE_CNT_INJECT_UNMERGED)},

	/* TCP-option propagation. */
	{STAT(TCP, "tcpopt_requests"),
	 TOTAL("sonde_tcp_option_total",
	       "TCP-option propagation: requests given ids, segments that carried the option or "
	       "found no room, segments received with one, server reads that joined the client "
	       "span at the other end; the safety net: option segments resent (bare), times a "
	       "destination's option was turned off, requests sent bare while it was, server "
	       "requests without one from a peer that sent one lately; requests sent bare because "
	       "their thread had several requests under way (an event loop) or a TLS one."),
	 .labels = "event=\"request\"", KERNEL(SONDE_CNT_TCPOPT_RUNS)},
	{STAT(TCP, "tcpopt_written"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"written\"", KERNEL(SONDE_CNT_TCPOPT_WRITTEN)},
	{STAT(TCP, "tcpopt_nospace"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"no_space\"", KERNEL(SONDE_CNT_TCPOPT_NOSPACE)},
	{STAT(TCP, "tcpopt_parsed"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"parsed\"", KERNEL(SONDE_CNT_TCPOPT_PARSED)},
	{STAT(TCP, "tcpopt_joined"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"joined\"", KERNEL(SONDE_CNT_TCPOPT_JOINED)},
	{STAT(TCP, "tcpopt_lost"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"lost\"", KERNEL(SONDE_CNT_TCPOPT_LOST)},
	{STAT(TCP, "tcpopt_path_off"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"path_off\"", KERNEL(SONDE_CNT_TCPOPT_PATH_OFF)},
	{STAT(TCP, "tcpopt_bare"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"bare\"", KERNEL(SONDE_CNT_TCPOPT_BARE)},
	{STAT(TCP, "tcpopt_missing"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"missing\"", KERNEL(SONDE_CNT_TCPOPT_MISSING)},
	{STAT(TCP, "tcpopt_unsure"), TOTAL("sonde_tcp_option_total", NULL),
	 .labels = "event=\"unsure\"", KERNEL(SONDE_CNT_TCPOPT_UNSURE)},
	{STAT(TCP, "tcpopt_dests"),
	 GAUGE("sonde_tcp_option_destinations",
	       "Destinations the TCP-option safety net keeps a tally of now, and those whose "
	       "option is off now (their option segments were resent far more than the others: "
	       "--tcp-option-hold)."),
	 .labels = "state=\"tallied\"", PATHS(tallied)},
	{STAT(TCP, "tcpopt_dests_off"), GAUGE("sonde_tcp_option_destinations", NULL),
	 .labels = "state=\"off\"", PATHS(off)},

	/* The agent's CPU and event loop. */
	{STAT(CPU, "cpu"),
	 .help = "The loop's priority: normal, yield (SCHED_IDLE), yield(raised).",
	 .text = cpu_mode, .src = "guard.yielding guard.raised"},
	{STAT(CPU, NULL),
	 GAUGE("sonde_cpu_yielding",
	       "1 while the agent runs at SCHED_IDLE below the applications (--cpu yield), 0 "
	       "while it runs at normal priority."),
	 .value = cpu_yielding, .src = "guard.yielding guard.raised"},
	{STAT(CPU, "raises"),
	 TOTAL("sonde_cpu_raises_total",
	       "Times the agent was raised to normal priority because its rings backed up or it "
	       "was starved."),
	 GUARD(raises)},
	{STAT(CPU, "raised_ms"), .help = "Time spent raised to normal priority, ms.",
	 GUARD(raised_ms)},
	{STAT(CPU, NULL),
	 TOTAL("sonde_cpu_raised_seconds_total",
	       "Time spent raised to normal priority, seconds (rounded down)."),
	 .value = cpu_raised_s, .src = "guard.raised_ms"},
	{STAT(CPU, "held"), .help = "Times drained records waited for room in the export queues.",
	 DRAIN(holds)},
	{STAT(CPU, "held_expired"),
	 .help = "Waits for export room that reached their bound: the records went on anyway.",
	 DRAIN(holds_expired)},
	{STAT(CPU, "wakeups"),
	 .help = "Times the kernel woke the loop: a ring filling up, or a record after a quiet "
		 "stretch.",
	 DRAIN(wakeups)},

	/* Lines repeated for each instance come last. Each uprobe target: */
	{STAT(UPROBE, "uprobe_attached"),
	 TOTAL("sonde_uprobes_attached_total",
	       "Files the uprobe table attached a target's uprobes to (every process of a file has "
	       "them)."),
	 UPROBE(attached)},
	{STAT(UPROBE, "uprobe_failed"),
	 TOTAL("sonde_uprobes_failed_total",
	       "Files a target's uprobes could not be attached to (missing symbols: a stripped "
	       "binary, a library without them)."),
	 UPROBE(failed)},
	{STAT(UPROBE, "uprobe_detached"),
	 TOTAL("sonde_uprobes_detached_total",
	       "Files detached again once no process using them was left."),
	 UPROBE(detached)},
	{STAT(UPROBE, "uprobe_active"),
	 GAUGE("sonde_uprobes_files", "Files a target's uprobes are attached to now."),
	 UPROBE(active)},

	/* Each exporter: */
	{STAT(EXPORTER, "in"), TOTAL("sonde_export_spans_total", "Spans given to an exporter."),
	 EXPORT(spans_in)},
	{STAT(EXPORTER, "exported"),
	 TOTAL("sonde_export_spans_exported_total", "Spans the receiver accepted."),
	 EXPORT(spans_exported)},
	{STAT(EXPORTER, "dropped_full"),
	 TOTAL("sonde_export_spans_dropped_total", "Spans dropped, by reason."),
	 .labels = "reason=\"queue_full\"", EXPORT(spans_dropped_full)},
	{STAT(EXPORTER, "dropped_failed"), TOTAL("sonde_export_spans_dropped_total", NULL),
	 .labels = "reason=\"failed\"", EXPORT(spans_dropped_failed)},
	{STAT(EXPORTER, "rejected"), .help = "Spans the receiver rejected (partial_success).",
	 EXPORT(spans_rejected)},
	{STAT(EXPORTER, "queued"), GAUGE("sonde_export_queue_spans", "Spans queued or in flight."),
	 EXPORT(spans_queued)},
	{STAT(EXPORTER, "requests"), TOTAL("sonde_export_requests_total", "Export requests sent."),
	 EXPORT(requests)},
	{STAT(EXPORTER, "retries"), TOTAL("sonde_export_retries_total", "Requests retried."),
	 EXPORT(retries)},
	{STAT(EXPORTER, "http_errors"),
	 TOTAL("sonde_export_errors_total", "Export errors, by kind."), .labels = "kind=\"http\"",
	 EXPORT(errors_http)},
	{STAT(EXPORTER, "transport_errors"), TOTAL("sonde_export_errors_total", NULL),
	 .labels = "kind=\"transport\"", EXPORT(errors_transport)},
};

const size_t counters_n = sizeof(counters) / sizeof(counters[0]);

const char *counters__line_name(enum counters_line line)
{
	return line < COUNTERS_LINE_MAX ? lines[line].name : "?";
}

bool counters__line_repeats(enum counters_line line)
{
	return line < COUNTERS_LINE_MAX && lines[line].label;
}

/* How many times a line is printed: once, or once for each instance. */
static int instances(const struct counters_snapshot *s, enum counters_line line)
{
	int n;

	if (line == COUNTERS_LINE_EXPORTER)
		n = s->n_exporters < COUNTERS_MAX_EXPORTERS ? s->n_exporters : COUNTERS_MAX_EXPORTERS;
	else if (line == COUNTERS_LINE_UPROBE)
		n = s->n_uprobes < COUNTERS_MAX_UPROBES ? s->n_uprobes : COUNTERS_MAX_UPROBES;
	else
		return 1;
	return n > 0 ? n : 0;
}

static const char *instance_name(const struct counters_snapshot *s, enum counters_line line,
				 int i)
{
	return line == COUNTERS_LINE_EXPORTER ? s->exp_name[i] : s->up_name[i];
}

uint64_t counter__value(const struct counter *c, const struct counters_snapshot *s, int instance)
{
	const char *base = (const char *)s;
	uint64_t v;

	if (c->value)
		return c->value(s);
	if (c->text)
		return 0;
	if (c->line == COUNTERS_LINE_EXPORTER) {
		if (instance < 0 || instance >= COUNTERS_MAX_EXPORTERS)
			return 0;
		base = (const char *)&s->exp[instance];
	} else if (c->line == COUNTERS_LINE_UPROBE) {
		if (instance < 0 || instance >= COUNTERS_MAX_UPROBES)
			return 0;
		base = (const char *)&s->up[instance];
	}
	memcpy(&v, base + c->off, sizeof(v));
	return v;
}

/*
 * A stats line is built whole and written with one call: stderr is unbuffered, and a line
 * written key by key could be cut by another thread's message.
 */
struct line_buf {
	char text[2048];
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void line_add(struct line_buf *b, const char *fmt,
							   ...)
{
	va_list ap;
	int n;

	if (b->len >= sizeof(b->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->text + b->len, sizeof(b->text) - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static void print_line(FILE *out, const struct counters_snapshot *s, const char *when,
		       enum counters_line line, int instance)
{
	struct line_buf b = {.len = 0};
	const char *sep = "";
	size_t i;

	line_add(&b, "sonde: stats (%s): ", when);
	if (lines[line].label) {
		line_add(&b, "%s=%s", lines[line].key, instance_name(s, line, instance));
		sep = " ";
	}
	for (i = 0; i < counters_n; i++) {
		const struct counter *c = &counters[i];

		if (c->line != line || !c->key)
			continue;
		if (c->text)
			line_add(&b, "%s%s=%s", sep, c->key, c->text(s));
		else
			line_add(&b, "%s%s=%llu", sep, c->key,
				 (unsigned long long)counter__value(c, s, instance));
		sep = " ";
	}
	if (b.len >= sizeof(b.text) - 1)
		b.len = sizeof(b.text) - 2; /* cut, but still a line */
	b.text[b.len++] = '\n';
	fwrite(b.text, 1, b.len, out);
}

void counters__print_stats(FILE *out, const struct counters_snapshot *s, const char *when)
{
	enum counters_line line;
	int i;

	for (line = 0; line < COUNTERS_LINE_MAX; line++) {
		if (lines[line].propagation && !(s->propagation & lines[line].propagation))
			continue;
		if (!lines[line].label) {
			print_line(out, s, when, line, -1);
			continue;
		}
		for (i = 0; i < instances(s, line); i++)
			print_line(out, s, when, line, i);
	}
}

/* One sample: on a repeated line the instance's label first (instance: -1 elsewhere). */
static void render_sample(FILE *out, const struct counter *c, const struct counters_snapshot *s,
			  int instance)
{
	fputs(c->metric, out);
	if (instance >= 0)
		fprintf(out, "{%s=\"%s\"%s%s}", lines[c->line].label,
			instance_name(s, c->line, instance), c->labels ? "," : "",
			c->labels ? c->labels : "");
	else if (c->labels)
		fprintf(out, "{%s}", c->labels);
	fprintf(out, " %llu\n", (unsigned long long)counter__value(c, s, instance));
}

/*
 * A metric's rows are neighbours in the table: its HELP and TYPE, then its samples, every
 * instance's in turn on a repeated line. The text format wants a metric's lines in one group;
 * before the table, a second exporter's samples came after every other metric.
 */
void counters__render_metrics(FILE *out, const struct counters_snapshot *s, bool openmetrics)
{
	const struct counter *c;
	size_t i, j, k, fam;
	int e, n;

	for (i = 0; i < counters_n; i = j) {
		c = &counters[i];
		for (j = i + 1; j < counters_n && c->metric && counters[j].metric &&
				!strcmp(counters[j].metric, c->metric);
		     j++)
			;
		n = instances(s, c->line);
		if (!c->metric || n <= 0)
			continue;
		/* OpenMetrics names a counter's family without the _total of its sample */
		fam = strlen(c->metric);
		if (openmetrics && c->type != COUNTER_GAUGE && fam > 6 &&
		    !strcmp(c->metric + fam - 6, "_total"))
			fam -= 6;
		fprintf(out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)fam, c->metric, c->help,
			(int)fam, c->metric, c->type == COUNTER_GAUGE ? "gauge" : "counter");
		if (!lines[c->line].label) {
			for (k = i; k < j; k++)
				render_sample(out, &counters[k], s, -1);
			continue;
		}
		for (e = 0; e < n; e++)
			for (k = i; k < j; k++)
				render_sample(out, &counters[k], s, e);
	}
}

/* The HELP of a metric name: on its first row. */
static const char *help_of(const char *metric)
{
	size_t i;

	for (i = 0; i < counters_n; i++)
		if (counters[i].metric && !strcmp(counters[i].metric, metric))
			return counters[i].help;
	return NULL;
}

/*
 * One row a line, tab-separated: the stats line, the key, the metric name, its labels (on a
 * repeated line, exporter="NAME" or target="NAME" comes before them), its type, its HELP; "-"
 * where there is none.
 */
void counters__list(FILE *out)
{
	const char *help;
	size_t i;

	for (i = 0; i < counters_n; i++) {
		const struct counter *c = &counters[i];

		help = c->metric ? help_of(c->metric) : c->help;
		fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\n", counters__line_name(c->line),
			c->key ? c->key : "-", c->metric ? c->metric : "-",
			c->labels ? c->labels : "-",
			c->metric ? (c->type == COUNTER_GAUGE ? "gauge" : "counter") : "-",
			help ? help : "-");
	}
}
