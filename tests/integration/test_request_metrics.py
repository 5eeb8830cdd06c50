"""Request metrics (agent/red.c): the conventions' duration histograms from every operation, on
sonde's /metrics, scraped by a real Prometheus (Debian's) in OpenMetrics with exemplars and
queried through its API; the exemplars' traces looked up in the real Jaeger."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import grpcapps
import harness
from test_trace_chain import token


class Prometheus:
    """A prometheus scraping one target every second, with exemplar storage, on a free port."""

    def __init__(self, tmp_path, target: str):
        exe = shutil.which("prometheus")
        if not exe:
            pytest.fail("prometheus not found: make deps installs Debian's prometheus")
        self.port = harness.free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: sonde\n    static_configs:\n"
                        f"      - targets: ['{target}']\n")
        self.log = tmp_path / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [exe, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--enable-feature=exemplar-storage"], stdout=log, stderr=log)
        harness.wait_port(self.port, 60, self.proc, self.log, "prometheus")

    def api(self, path: str, **params) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            out = json.loads(r.read())
        assert out["status"] == "success", out
        return out["data"]

    def value(self, query: str) -> dict:
        """{labels of interest as a tuple: value} of an instant query."""
        res = self.api("query", query=query)["result"]
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in res}

    def stop(self):
        harness.stop_process(self.proc)


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target):
        p = Prometheus(tmp_path, target)
        started.append(p)
        return p
    yield start
    for p in started:
        p.stop()


DASHBOARD = harness.REPO / "helm" / "sonde" / "dashboards" / "sonde-requests.json"


def dashboard_queries(service_re: str):
    """(panel title, PromQL) of every query of the chart's dashboard, its variables set as
    Grafana would: $service to a regex, $__rate_interval to a minute."""
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            expr = t["expr"].replace("$service", service_re).replace("$__rate_interval", "1m")
            assert "$" not in expr, expr  # every variable it uses is one set here
            out.append((panel["title"], expr))
    return out


def test_every_request_counted_and_exemplars_open_traces(sonde, jaeger, start_py_server,
                                                         prometheus, redis_server,
                                                         test_start_us, tmp_path):
    """60 requests (50 answered 200, 10 answered 503) with one trace in four sampled: the
    histograms in Prometheus count all 60 on the server and the client, by status, with
    error.type on the 503s; a p95 comes out of the buckets; and the exemplars Prometheus
    stored name spans that are in Jaeger, under the right service. Then a second wave with
    Redis commands and gRPC calls (some NOT_FOUND): every query of the chart's dashboard
    returns data, and the service graph has its three edges between traced processes."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    grpc, grpc_port = grpcapps.start_server("py", tmp_path, service_name=f"grpc-{tok}")
    mport = harness.free_port()
    agent = sonde("--metrics-addr", f"127.0.0.1:{mport}", "--sample-ratio", "0.25",
                  "--port", str(srv.port), "--port", str(redis_server.port),
                  "--port", str(grpc_port))
    prom = prometheus(f"127.0.0.1:{mport}")
    urls = [f"{srv.url}/api/users/{k}" for k in range(50)] + [f"{srv.url}/status/503"] * 10
    harness.run_load(tmp_path, tok, urls[:50], 10)
    r = subprocess.run(["curl", "-s", "-w", "%{http_code}\n",
                        *sum((["-o", "/dev/null", u] for u in urls[50:]), [])],
                       capture_output=True, text=True, timeout=60,
                       env=harness._env(f"load-{tok}", None))
    assert r.stdout.split() == ["503"] * 10, r.stdout
    count = "http_server_request_duration_seconds_count"
    by_status = f'sum by (http_response_status_code, error_type) ({count}{{service_name="srv-{tok}"}})'
    want = {(("http_response_status_code", "200"),): 50.0,
            (("error_type", "503"), ("http_response_status_code", "503")): 10.0}
    harness.poll_until(lambda: prom.value(by_status) == want, 60,
                       what=f"Prometheus to count the 60 requests by status: {by_status}")
    # the client ends: py_load and curl, one service
    client = prom.value('sum(http_client_request_duration_seconds_count'
                        f'{{service_name="load-{tok}"}})')
    assert list(client.values()) == [60.0], client
    labels = prom.api("series", **{"match[]": f'{count}{{service_name="srv-{tok}"}}'})
    templates = sorted(s["url_template"] for s in labels)
    assert templates == ["/api/users/{id}", "/status/{id}"], labels
    assert all(s["http_request_method"] == "GET" and s["url_scheme"] == "http" for s in labels)
    p95 = prom.value("histogram_quantile(0.95, sum by (le) ("
                     f'http_server_request_duration_seconds_bucket{{service_name="srv-{tok}"}}))')
    assert len(p95) == 1 and 0 < list(p95.values())[0] < 10, p95
    # exemplars: sampled spans only, so each one's trace is in Jaeger with that span
    now = time.time()
    ex = prom.api("query_exemplars", query=f'http_server_request_duration_seconds_bucket'
                  f'{{service_name="srv-{tok}"}}', start=now - 600, end=now + 60)
    found = [(e["labels"]["trace_id"], e["labels"]["span_id"]) for s in ex
             for e in s["exemplars"]]
    assert found, ex
    for trace_id, span_id in found:
        spans = harness.poll_until(lambda: jaeger.trace(trace_id), 60,
                                   what=f"exemplar trace {trace_id} in Jaeger")
        mine = [s for s in spans if s.span_id == span_id]
        assert len(mine) == 1 and mine[0].service == f"srv-{tok}" and mine[0].kind == "server"
    # counted before sampling: fewer server spans reached Jaeger than requests were made
    time.sleep(2)
    stored = jaeger.spans(f"srv-{tok}", limit=200, start_us=test_start_us)
    assert 0 < len([s for s in stored if s.service == f"srv-{tok}"]) < 60
    # a second wave, once the series are in Prometheus, so that rates are not zero: requests,
    # errors and Redis commands, with Prometheus scraping meanwhile
    for _ in range(3):
        harness.run_load(tmp_path, tok, urls[:10], 5)
        subprocess.run(["curl", "-s", "-o", "/dev/null", urls[50]], timeout=30,
                       env=harness._env(f"load-{tok}", None))
        redis_server.cli("SET", f"k-{tok}", "v", service_name=f"cli-{tok}")
        redis_server.cli("GET", f"k-{tok}", service_name=f"cli-{tok}")
        out = grpcapps.run_client("py", grpc_port, "Unary", 5, 5,
                                  service_name=f"grpc-cli-{tok}")
        assert out["ok"] == 5, out
        out = grpcapps.run_client("py", grpc_port, "Unary", 2, 2, payload="fail:5",
                                  service_name=f"grpc-cli-{tok}")
        assert out["errors"] == {"5": 2}, out
        time.sleep(1.5)
    grpcapps.stop_server(grpc)
    edges = "sum by (client, server) (traces_service_graph_request_total)"
    want_edges = {(("client", f"load-{tok}"), ("server", f"srv-{tok}")),
                  (("client", f"cli-{tok}"), ("server", redis_server.service)),
                  (("client", f"grpc-cli-{tok}"), ("server", f"grpc-{tok}"))}
    harness.poll_until(lambda: want_edges <= set(prom.value(edges)), 30,
                       what="the three service-graph edges in Prometheus")
    # gRPC: by status, as the conventions name it
    rpc = prom.value('sum by (rpc_response_status_code) (rpc_server_call_duration_seconds_count'
                     f'{{service_name="grpc-{tok}"}})')
    assert rpc == {(("rpc_response_status_code", "OK"),): 15.0,
                   (("rpc_response_status_code", "NOT_FOUND"),): 6.0}, rpc
    empty = []
    for title, expr in dashboard_queries(f".*-{tok}"):
        res = prom.value(expr)
        if not res or all(math.isnan(v) for v in res.values()):
            empty.append((title, expr))
    assert not empty, empty
    assert agent.stop() == 0
    main = [l for l in agent.stderr().splitlines() if " unsampled=" in l][-1]
    assert int(re.search(r" unsampled=(\d+)", main).group(1)) > 0, main
    assert int(re.search(r" red_series=(\d+)", main).group(1)) >= 4, main  # 2 server, 2 client


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def test_series_bounded_with_one_overflow_series(sonde, start_py_server, tmp_path):
    """--request-metrics-series 3 and eight status codes, twice each: three series of the
    server's keep their own counts, the other ten requests go to the one overflow series
    (otel_metric_overflow="true"), and sonde counts them."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    mport = harness.free_port()
    sonde("--metrics-addr", f"127.0.0.1:{mport}", "--request-metrics-series", "3",
          "--port", str(srv.port))
    codes = [200, 201, 202, 203, 205, 206, 207, 208]
    urls = [f"{srv.url}/status/{c}" for c in codes for _ in range(2)]
    r = subprocess.run(["curl", "-s", "-w", "%{http_code}\n",
                        *sum((["-o", "/dev/null", u] for u in urls), [])],
                       capture_output=True, text=True, timeout=60,
                       env=harness._env(f"load-{tok}", None))
    assert r.stdout.split() == [str(c) for c in codes for _ in range(2)], r.stdout
    name = "http_server_request_duration_seconds_count"

    def counts():
        text = metrics_text(mport)
        # (a label value may hold braces: url_template="/status/{id}")
        own = {m.group(1): int(m.group(2)) for m in re.finditer(
            name + r'\{service_name="srv-' + tok + r'",[^\n]*?http_response_status_code="(\d+)"'
            r'[^\n]*"\} (\d+)\n', text)}
        over = re.search(name + r'\{otel_metric_overflow="true"\} (\d+)\n', text)
        return own, int(over.group(1)) if over else 0, text

    harness.poll_until(lambda: sum(counts()[0].values()) + counts()[1] >= 16 or None, 30,
                       what="16 server requests in the histograms")
    own, overflow, text = counts()
    assert len(own) == 3 and all(v == 2 for v in own.values()), own
    assert overflow == 10, overflow
    # the client metric overflowed the same way: 20 in sonde's count
    m = re.search(r"^sonde_request_metric_overflows_total (\d+)$", text, re.M)
    assert m and int(m.group(1)) == 20, m and m.group(0)
    # 3 + overflow for each end, the edge load -> srv of the service graph at each end, and
    # at each end the response body sizes of the first two requests (200): the kernel
    # summarizes the later responses of the kept-alive connection, their sizes unknown
    m = re.search(r"^sonde_request_metric_series (\d+)$", text, re.M)
    assert m and int(m.group(1)) == 12, m and m.group(0)
    for end in ("server", "client"):
        assert re.search(r'^http_' + end + r'_response_body_size_bytes_count\{[^\n]*'
                         r'http_response_status_code="200"[^\n]*\} 2$', text, re.M), text
    assert re.search(r'^traces_service_graph_request_total\{client="load-' + tok +
                     r'",server="srv-' + tok + r'"\} 16$', text, re.M), text


def test_off_and_bad_options(sonde, start_py_server, tmp_path):
    """--request-metrics off: no histogram on /metrics, sonde's own counters still there. A
    bucket list that is not increasing is refused at start, with what is wrong."""
    srv = start_py_server(service_name=f"srv-{token()}")
    mport = harness.free_port()
    sonde("--metrics-addr", f"127.0.0.1:{mport}", "--request-metrics", "off",
          "--port", str(srv.port))
    harness.curl(f"{srv.url}/api/users/1", "-o", "/dev/null")
    harness.poll_until(lambda: re.search(r"^sonde_spans_total [1-9]", metrics_text(mport), re.M),
                       30, what="the span counted")
    text = metrics_text(mport)
    assert "_duration_seconds" not in text
    assert re.search(r"^sonde_request_metric_series 0$", text, re.M), text
    r = subprocess.run([str(harness.SONDE_BIN), "--request-metrics-buckets", "1,0.5"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "invalid value '1,0.5' for --request-metrics-buckets" in r.stderr, r.stderr


def test_declared_routes_name_server_spans_and_label_metrics(sonde, jaeger, start_py_server,
                                                             test_start_us):
    """--route: a server request whose path a declared pattern matches gets http.route (the
    pattern as declared) and its span name from it, and its metrics are labelled http_route; a
    service's own routes apply to it alone; an unmatched request keeps url.template only; a
    client span never gets http.route."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    mport = harness.free_port()
    sonde("--metrics-addr", f"127.0.0.1:{mport}", "--port", str(srv.port),
          "--route", "/api/users/{id}", "--route", f"srv-{tok}=/status/*",
          "--route", "someone-else=/chunked")
    for path in ("/api/users/7", "/status/503", "/chunked?n=2"):
        harness.curl(f"{srv.url}{path}", "-o", "/dev/null", service_name=f"load-{tok}")
    spans = jaeger.wait_for_spans(f"srv-{tok}", where=lambda s: s.kind == "server", count=3,
                                  start_us=test_start_us, timeout=60)
    by_path = {s.tags["url.path"]: s for s in spans}
    assert by_path["/api/users/7"].name == "GET /api/users/{id}"
    assert by_path["/api/users/7"].tags["http.route"] == "/api/users/{id}"
    assert by_path["/status/503"].name == "GET /status/*"
    assert by_path["/status/503"].tags["http.route"] == "/status/*"
    chunked = by_path["/chunked"]
    assert "http.route" not in chunked.tags and chunked.tags["url.template"] == "/chunked"
    assert chunked.name == "GET /chunked"
    clients = jaeger.wait_for_spans(f"load-{tok}", where=lambda s: s.kind == "client", count=3,
                                    start_us=test_start_us, timeout=60)
    assert not [s for s in clients if "http.route" in s.tags], clients
    text = metrics_text(mport)
    name = "http_server_request_duration_seconds_count"
    for route in ("/api/users/{id}", "/status/*"):
        assert re.search(name + r'\{service_name="srv-' + tok + r'",[^\n]*http_route="' +
                         re.escape(route) + r'"[^\n]*\} 1\n', text), (route, text)
    assert re.search(name + r'\{service_name="srv-' + tok + r'",[^\n]*url_template="/chunked"'
                     r'[^\n]*\} 1\n', text), text
    assert "url_template=\"/api/users/{id}\"" not in text.split("http_client_")[0]


class Collector:
    """An OpenTelemetry Collector (the Jaeger binary the tests build is one, with its
    components) with one pipeline: OTLP/HTTP metrics in, out to its debug exporter (every data
    point in its log) and to its Prometheus exporter (the cumulative state, scraped as text)."""

    def __init__(self, tmp_path):
        r = subprocess.run([str(harness.REPO / "tests" / "jaeger.sh"), "install"],
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr
        self.otlp_port, self.prom_port = harness.free_ports(2)
        conf = tmp_path / "collector.yaml"
        conf.write_text(
            "service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n"
            "      exporters: [debug, prometheus]\n"
            "  telemetry:\n    metrics:\n      level: none\n"
            f"receivers:\n  otlp:\n    protocols:\n      http:\n"
            f"        endpoint: \"127.0.0.1:{self.otlp_port}\"\n"
            "exporters:\n  debug:\n    verbosity: detailed\n"
            f"  prometheus:\n    endpoint: \"127.0.0.1:{self.prom_port}\"\n"
            "    resource_to_telemetry_conversion:\n      enabled: true\n")
        self.log = tmp_path / "collector.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([r.stdout.strip().splitlines()[-1], "--config",
                                          str(conf)], stdout=log, stderr=log)
        harness.wait_port(self.otlp_port, 60, self.proc, self.log, "collector")
        self.url = f"http://127.0.0.1:{self.otlp_port}/v1/metrics"

    def prometheus_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.prom_port}/metrics",
                                    timeout=10) as r:
            return r.read().decode()

    def counts(self, metric: str) -> dict:
        """From the debug log: per service.name, the sum of the Count of every data point of
        the metric received, and the temporalities seen."""
        out, temps, svc, name = {}, set(), None, None
        for line in self.log.read_text(errors="replace").splitlines():
            m = re.search(r"-> service\.name: Str\((.*)\)$", line)
            if m:
                svc = m.group(1)
            m = re.search(r"-> Name: (\S+)$", line)
            if m:
                name = m.group(1)
            m = re.search(r"-> AggregationTemporality: (\w+)$", line)
            if m and name == metric:
                temps.add(m.group(1))
            m = re.fullmatch(r"Count: (\d+)", line.strip())
            if m and name == metric:
                out[svc] = out.get(svc, 0) + int(m.group(1))
        return out, temps

    def stop(self):
        harness.stop_process(self.proc)


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path)
    yield c
    c.stop()


def curl_many(urls, service):
    r = subprocess.run(["curl", "-s", "-w", "%{http_code}\n",
                        *sum((["-o", "/dev/null", u] for u in urls), [])],
                       capture_output=True, text=True, timeout=60,
                       env=harness._env(service, None))
    return r.stdout.split()


def test_otlp_metrics_reach_an_opentelemetry_collector(sonde, jaeger, start_py_server, collector,
                                                        test_start_us):
    """OTEL_METRICS_EXPORTER=otlp to a real collector, every half second, cumulative: its
    Prometheus exporter shows exactly the 10 + 2 requests by status on the server's resource,
    the client's, and the service graph's counts; its log shows exemplars whose trace ids are
    traces of that server in Jaeger; sonde's metrics exporter lost nothing."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    agent = sonde("--port", str(srv.port), "--otlp-metrics-interval-ms", "500",
                  env={"OTEL_METRICS_EXPORTER": "otlp",
                       "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": collector.url})
    assert curl_many([f"{srv.url}/api/users/{k}" for k in range(10)], f"load-{tok}") == \
        ["200"] * 10
    assert curl_many([f"{srv.url}/status/503"] * 2, f"load-{tok}") == ["503"] * 2
    name = "http_server_request_duration_seconds_count"

    def counts():
        text = collector.prometheus_text()
        got = {}
        for m in re.finditer(r"^" + name + r"\{([^\n]*)\} (\d+)$", text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("service_name") == f"srv-{tok}":
                got[labels["http_response_status_code"]] = int(m.group(2))
        return got, text

    def client_total(text, family):
        return sum(int(v) for v in re.findall(
            r'^' + family + r'\{[^\n]*client="load-' + tok + r'"[^\n]*\} (\d+)$', text, re.M))

    def complete():
        got, text = counts()
        client = sum(int(v) for v in re.findall(
            r'^http_client_request_duration_seconds_count\{[^\n]*service_name="load-' + tok +
            r'"[^\n]*\} (\d+)$', text, re.M))
        return (got, client, client_total(text, "traces_service_graph_request_total"),
                client_total(text, "traces_service_graph_request_failed_total"))

    # the server's by status, the client's, and the edge's calls and failures
    want = ({"200": 10, "503": 2}, 12, 12, 2)
    harness.poll_until(lambda: complete() == want or None, 60,
                       what=f"the collector's counts of the 12 requests: {want}")
    _, temps = collector.counts("http.server.request.duration")
    assert temps == {"Cumulative"}, temps
    # exemplars: sampled spans (all are here), so their traces are in Jaeger
    ids = set(re.findall(r"-> Trace ID: ([0-9a-f]{32})", collector.log.read_text()))
    assert ids, "no exemplar in the collector's log"
    spans = jaeger.wait_for_spans(f"srv-{tok}", where=lambda s: s.kind == "server", count=12,
                                  start_us=test_start_us, timeout=60)
    assert ids & {s.trace_id for s in spans}, (ids, [s.trace_id for s in spans][:3])
    assert agent.stop() == 0
    line = [l for l in agent.stderr().splitlines()
            if l.startswith("sonde: stats (exit): exporter=otlp-metrics ")]
    assert len(line) == 1, agent.stderr()[-2000:]
    st = dict(re.findall(r"(\w+)=(\d+)", line[0]))
    assert int(st["exported"]) > 0 and st["dropped_full"] == "0" and \
        st["dropped_failed"] == "0" and st["queued"] == "0", line[0]


def test_otlp_metrics_delta_and_a_collector_without_metrics(sonde, jaeger, start_py_server,
                                                            collector):
    """Delta temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta) in two waves:
    the Counts the collector received add up to the requests made, each once, however the
    exports cut the waves. Then a sonde whose endpoint is Jaeger (traces only, no /v1/metrics):
    one line says the collector does not take metrics, the spans go on."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    sonde("--port", str(srv.port), "--otlp-metrics-interval-ms", "300",
          env={"OTEL_METRICS_EXPORTER": "otlp",
               "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": collector.url,
               "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"})
    assert curl_many([f"{srv.url}/api/users/{k}" for k in range(7)], f"load-{tok}") == \
        ["200"] * 7
    time.sleep(1)
    assert curl_many([f"{srv.url}/api/users/{k}" for k in range(5)], f"load-{tok}") == \
        ["200"] * 5
    harness.poll_until(
        lambda: collector.counts("http.server.request.duration")[0].get(f"srv-{tok}") == 12,
        60, what="deltas adding up to 12 requests")
    time.sleep(1)  # more exports: nothing counted twice
    got, temps = collector.counts("http.server.request.duration")
    assert got.get(f"srv-{tok}") == 12 and temps == {"Delta"}, (got, temps)


def test_otlp_metrics_to_a_trace_store_turn_themselves_off(sonde, jaeger, start_py_server):
    """The endpoint is Jaeger's (no metrics pipeline): the first export is refused with 404,
    sonde says once that the collector does not take metrics and sends no more, and the spans
    reach Jaeger as before."""
    tok = token()
    srv = start_py_server(service_name=f"srv-{tok}")
    agent = sonde("--port", str(srv.port), "--otlp-metrics-interval-ms", "300",
                  env={"OTEL_METRICS_EXPORTER": "otlp"})
    harness.curl(f"{srv.url}/api/users/1", "-o", "/dev/null", service_name=f"load-{tok}")
    harness.poll_until(lambda: "does not take metrics (HTTP 404)" in agent.stderr(), 30,
                       what="sonde to say the collector takes no metrics")
    time.sleep(1.5)
    harness.curl(f"{srv.url}/api/users/2", "-o", "/dev/null", service_name=f"load-{tok}")
    jaeger.wait_for_spans(f"srv-{tok}", where=lambda s: s.kind == "server", count=2,
                          timeout=60)
    assert agent.stop() == 0
    err = agent.stderr()
    assert err.count("does not take metrics") == 1, err[-2000:]
    line = [l for l in err.splitlines() if "exporter=otlp-metrics " in l]
    assert len(line) == 1 and " requests=1 " in line[0], line


def rss_outside_rings(pid: int) -> int:
    """sonde's resident memory in bytes, less its BPF maps' mappings (the ring buffers fill in
    their pages as records pass through them, whatever the metrics hold)."""
    total = maps = 0
    in_map = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
                in_map = line.rstrip().endswith("anon_inode:bpf-map")
            elif head and head[0] == "Rss:":
                kb = int(head[1]) * 1024
                total += kb
                maps += kb if in_map else 0
    return total - maps


def word(i: int) -> str:
    """A path segment of letters only, which no rule of url.template takes for an id: every
    request below has a template, and a label set, of its own."""
    letters = "ghjkmnpqrstuvwxyz"
    out = ""
    while True:
        out += letters[i % len(letters)]
        i //= len(letters)
        if not i:
            return out


def test_distinct_paths_do_not_grow_memory_past_the_bound(sonde, start_nginx, tmp_path):
    """100,000 requests to 100,000 distinct paths, at the default bound of 2000 series per
    metric and one trace in a hundred kept: the server's first 2000 paths get a series each,
    the other 98,000 requests go to the overflow series, every request is counted, and sonde's
    memory does not grow from 20,000 paths to 100,000 by more than 4 MiB. In one run it grew by
    0.7 MiB; with the bound lifted (--request-metrics-series 1000000) by 92 MiB. /metrics is
    7 MB here: it must come whole (it was cut at what one send took, 4 MB)."""
    tok = token()
    srv = start_nginx()
    mport = harness.free_port()
    agent = sonde("--metrics-addr", f"127.0.0.1:{mport}", "--sample-ratio", "0.01",
                  "--port", str(srv.port))
    name = "http_server_request_duration_seconds_count"

    def load(first: int, n: int):
        paths = tmp_path / f"paths-{first}"
        paths.write_text("".join(f"http://127.0.0.1:{srv.port}/api/items/{word(i)}\n"
                                 for i in range(first, first + n)))
        # one connection, one request at a time: h2load takes the file's URIs in order
        r = subprocess.run(["h2load", "--h1", "-c1", "-m1", "-n", str(n), "-i", str(paths)],
                           capture_output=True, text=True, timeout=600,
                           env=harness._env(f"load-{tok}", None))
        assert r.returncode == 0 and f"{n} succeeded" in r.stdout, r.stdout + r.stderr

    def counts():
        text = metrics_text(mport)
        own = [int(m.group(1)) for m in re.finditer(
            name + r'\{service_name="nginx",[^\n]*\} (\d+)\n', text)]
        over = re.search(name + r'\{otel_metric_overflow="true"\} (\d+)\n', text)
        return own, int(over.group(1)) if over else 0, text

    def counted(n):
        own, over, _ = counts()
        return sum(own) + over >= n or None

    load(0, 20000)
    harness.poll_until(lambda: counted(20000), 120, what="20,000 requests in the histograms")
    rss1 = rss_outside_rings(agent.pid)
    load(20000, 80000)
    harness.poll_until(lambda: counted(100000), 300, what="100,000 requests in the histograms")
    rss2 = rss_outside_rings(agent.pid)
    own, over, text = counts()
    print(f"sonde RSS outside its rings: {rss1 / 2**20:.1f} MiB after 20,000 paths, "
          f"{rss2 / 2**20:.1f} MiB after 100,000")
    assert len(own) == 2000 and all(v == 1 for v in own), (len(own), sum(own))
    assert over == 98000, over
    m = re.search(r"^sonde_request_metric_overflows_total (\d+)$", text, re.M)
    assert m and int(m.group(1)) >= 98000, m and m.group(0)
    assert rss2 - rss1 < 4 * 2**20, (rss1, rss2)


def test_body_sizes_on_spans_and_in_histograms(sonde, jaeger, start_nginx, tmp_path,
                                               test_start_us):
    """Body sizes where sonde knows them, from real curl and nginx: a POST's Content-Length,
    a chunked upload's chunks, a static file's length, the same over h2c from the DATA
    frames' headers; on the spans of both ends (http.request.body.size only for requests
    with a body) and in the body-size histograms. On a kept-alive connection the kernel may
    summarize the responses after the second: those leave the size out, never a wrong one."""
    tok = token()
    ng, ng2 = start_nginx(), start_nginx(http2=True)
    # Uploads go to servers that read the whole body before they answer, as nginx's `return`
    # does not: it answers first (the request's size is then not known yet when its span is
    # made) and over HTTP/2 resets the stream, which curl reports as an error about one time
    # in three, sonde or not. Node's http (nport1) and http2 (nport, h2c) read it, then
    # answer what nginx would.
    nport, nport1 = harness.free_port(), harness.free_port()
    script = tmp_path / "up.js"
    script.write_text(
        "const answer = (req, res) => { req.on('data', () => {}); req.on('end', () => {\n"
        "  res.writeHead(200, {'content-type': 'application/json', 'content-length': 12});\n"
        "  res.end('{\"items\":[]}'); }); };\n"
        f"require('http2').createServer(answer).listen({nport}, '127.0.0.1');\n"
        f"require('http').createServer(answer).listen({nport1}, '127.0.0.1');\n")
    log = tmp_path / "up.log"
    with open(log, "wb") as f:
        node = subprocess.Popen(["node", str(script)], stdout=f, stderr=f,
                                env=harness._env(f"up-{tok}", None))
    try:
        harness.wait_port(nport, 30, node, log, "node http2 server")
        harness.wait_port(nport1, 30, node, log, "node http server")
        _body_sizes(sonde, jaeger, ng, ng2, (nport, nport1), tok, tmp_path, test_start_us)
    finally:
        harness.stop_process(node)


def _body_sizes(sonde, jaeger, ng, ng2, nports, tok, tmp_path, test_start_us):
    nport, nport1 = nports
    mport = harness.free_port()
    sonde("--metrics-addr", f"127.0.0.1:{mport}", "--port", str(ng.port),
          "--port", str(ng2.port), "--port", str(nport), "--port", str(nport1))
    for n in (1000, 600):
        (tmp_path / f"body{n}").write_bytes(bytes(i % 251 for i in range(n)))
    api = f"/api/items/{tok}"
    items = len('{"items":[]}')
    big = harness.NGINX_BIG_BYTES
    h2 = ["--http2-prior-knowledge"]
    # (curl arguments, port, path, HTTP version, request body size or None, response body size)
    calls = [
        (["--data-binary", f"@{tmp_path / 'body1000'}"], nport1, f"{api}/post", "1.1", 1000,
         items),
        # A chunked body is sized only where its last chunk is in the capture (the first
        # KiB of the first I/Os of a run): curl writes the chunks apart from the head, so
        # here the size is left out at both ends; never another (the unit tests cover the
        # chunks' sums).
        (["-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp_path / 'body600'}"],
         nport1, f"{api}/chunked", "1.1", (600, None), items),
        ([], ng.port, "/big", "1.1", None, big),
        (h2 + ["--data-binary", f"@{tmp_path / 'body1000'}"], nport, f"{api}/h2post", "2",
         1000, items),
        (h2, ng2.port, "/big", "2", None, big),
    ]
    for args, port, path, _, _, _ in calls:
        # (no Expect: 100-continue, which nginx's `return` would answer before the body)
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "-H", "Expect:", *args, f"http://127.0.0.1:{port}{path}"],
                           capture_output=True, text=True, timeout=60,
                           env=harness._env(None, None))
        assert r.stdout == "200", (path, r.stdout, r.stderr)
    # five requests on one kept-alive connection
    ka = [f"{api}/ka/{i}" for i in range(5)]
    r = subprocess.run(["curl", "-sS", *sum((["-o", "/dev/null", f"{ng.url}{p}"] for p in ka),
                                            [])],
                       capture_output=True, text=True, timeout=60, env=harness._env(None, None))
    assert r.returncode == 0, r.stderr

    def key(s):
        path = s.tags.get("url.path")
        if path is None:
            full = s.tags.get("url.full", "")
            path = full[full.find("/", len("http://")):]
        return path, s.tags.get("network.protocol.version")

    def mine(s):
        return tok in key(s)[0] or key(s)[0] == "/big"

    for services in (("nginx", f"up-{tok}"), ("curl",)):
        spans = jaeger.wait_for_spans(services[0], where=mine,
                                      count=len(calls) + len(ka) + 3 - 3 * len(services),
                                      start_us=test_start_us)
        if len(services) > 1:
            spans += jaeger.wait_for_spans(services[1], where=mine, count=3,
                                           start_us=test_start_us)
        service = services[0]
        got = {}
        for s in spans:
            got.setdefault(key(s), []).append(s)
        for _, _, path, ver, req, resp in calls:
            assert len(got.get((path, ver), [])) == 1, (service, path, ver, sorted(got))
            s = got[(path, ver)][0]
            assert (s.tags.get("http.request.body.size") in req if isinstance(req, tuple)
                    else s.tags.get("http.request.body.size") == req), (service, path, s.tags)
            assert s.tags.get("http.response.body.size") == resp, (service, path, s.tags)
        print(f"{service}: chunked upload's size",
              got[(f"{api}/chunked", "1.1")][0].tags.get("http.request.body.size"))
        kept = [got[(p, "1.1")][0].tags for p in ka]
        sizes = [t.get("http.response.body.size") for t in kept]
        assert sizes[0] == items and all(v in (items, None) for v in sizes), (service, sizes)
        assert all("http.request.body.size" not in t for t in kept), (service, kept)
        print(f"{service}: kept-alive response sizes {sizes}")

    def total(family, end):
        """The sum of a body-size histogram over the series of this test's two nginx."""
        want = ([f'service_name="{n}"' for n in ("nginx", f"up-{tok}")] if end == "server"
                else [f'server_port="{p}"' for p in (ng.port, ng2.port, nport, nport1)])
        return sum(float(v) for labels, v in re.findall(
            r"^" + family + r"_sum\{([^\n]*)\} (\S+)$", metrics_text(mport), re.M)
            if any(w in labels for w in want))

    for end in ("server", "client"):
        want_req = 1000 + 1000
        harness.poll_until(lambda: total(f"http_{end}_request_body_size_bytes", end) >=
                           want_req or None, 30, what=f"the {end} request body sizes")
        assert total(f"http_{end}_request_body_size_bytes", end) in (want_req,
                                                                     want_req + 600)
        # the five calls' responses, and the kept-alive ones whose size was known
        resp = total(f"http_{end}_response_body_size_bytes", end)
        known = 3 * items + 2 * big + items
        assert known <= resp <= known + 4 * items, (end, resp)
