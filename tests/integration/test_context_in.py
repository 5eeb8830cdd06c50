"""Context in: a server span joins the trace an incoming W3C traceparent or B3 header names, an
invalid header is never trusted, and an application instrumented with the OpenTelemetry SDK
upstream of uninstrumented services gets one trace with sonde's spans under its own."""
import json
import subprocess
import sys
import uuid
from urllib.parse import quote

import harness

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def server_span(jaeger, tok, path, start_us):
    spans = jaeger.wait_for_spans(f"py-{tok}", where=lambda s: s.kind == "server"
                                  and s.tags.get("url.path") == path, start_us=start_us,
                                  timeout=30)
    assert len(spans) == 1, spans
    return spans[0]


def test_traceparent_and_b3_are_joined(sonde, jaeger, start_py_server, test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"py-{tok}")
    # --propagation off: the server end cannot take the client end (curl) as its parent
    # through the connection, so what it joins comes from the header alone
    sonde("--propagation", "off")
    cases = {
        "/api/users/1": ["-H", f"traceparent: 00-{TRACE}-{PARENT}-01",
                         "-H", "tracestate: vendor=value"],
        "/api/users/2": ["-H", f"b3: {TRACE}-{PARENT}-1"],
        "/api/users/3": ["-H", f"X-B3-TraceId: {TRACE}", "-H", f"X-B3-SpanId: {PARENT}",
                         "-H", "X-B3-Sampled: 1"],
    }
    for path, hdrs in cases.items():
        harness.curl(srv.url + path, *hdrs, service_name=f"curl-{tok}")
    for path in cases:
        s = server_span(jaeger, tok, path, test_start_us)
        assert s.trace_id == TRACE, (path, s)
        assert s.parent_id == PARENT, (path, s)
        assert s.span_id != PARENT


def test_invalid_context_is_not_trusted(sonde, jaeger, start_py_server, test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"py-{tok}")
    sonde("--propagation", "off")
    bad = {
        "/api/users/11": f"traceparent: ff-{TRACE}-{PARENT}-01",           # version ff
        "/api/users/12": f"traceparent: 00-{'0' * 32}-{PARENT}-01",        # zero trace id
        "/api/users/13": f"traceparent: 00-{TRACE}-{'0' * 16}-01",         # zero span id
        "/api/users/14": f"traceparent: 00-{TRACE[:-1]}-{PARENT}-01",      # short trace id
        "/api/users/15": f"traceparent: 00-{TRACE.upper()}-{PARENT}-01",   # upper-case hex
        "/api/users/16": f"traceparent: 00-{TRACE}-{PARENT}-0",            # short flags
    }
    for path, h in bad.items():
        harness.curl(srv.url + path, "-H", h, service_name=f"curl-{tok}")
    for path in bad:
        s = server_span(jaeger, tok, path, test_start_us)
        assert s.trace_id.lower() != TRACE, (path, s)
        assert s.parent_id is None, (path, s)


def test_sdk_instrumented_caller_and_uninstrumented_services_share_a_trace(
        sonde, jaeger, start_py_server, start_nginx, test_start_us):
    tok = token()
    ng = start_nginx()
    py = start_py_server(service_name=f"py-{tok}")
    sonde()
    nginx_url = f"{ng.url}/api/items/{tok}/1"
    url = f"{py.url}/hop/1?next={quote(nginx_url, safe='')}"
    r = subprocess.run([sys.executable, str(harness.APPS / "otel_client.py"), "--endpoint",
                        jaeger.otlp_url, "--service", f"sdk-{tok}", url],
                       capture_output=True, text=True, timeout=60,
                       env=harness._env(f"sdk-{tok}", None))
    assert r.returncode == 0, r.stderr
    ids = json.loads(r.stdout)
    assert ids["status"] == 200

    # the SDK's two spans, sonde's client span in the SDK process, the Python server and client
    # spans, and nginx's server span
    trace = jaeger.wait_for_trace(ids["trace_id"], count=6, timeout=30)
    by = {s.span_id: s for s in trace}
    sdk_client = by[ids["client_span_id"]]
    assert sdk_client.parent_id == ids["server_span_id"]
    sonde_client = [s for s in trace if s.service == f"sdk-{tok}" and s.kind == "client"
                    and s.span_id != ids["client_span_id"]]
    assert len(sonde_client) == 1, [(s.service, s.kind, s.name) for s in trace]
    assert sonde_client[0].parent_id == ids["client_span_id"]
    py_server = [s for s in trace if s.service == f"py-{tok}" and s.kind == "server"]
    py_client = [s for s in trace if s.service == f"py-{tok}" and s.kind == "client"]
    nginx = [s for s in trace if s.service == "nginx"]
    assert len(py_server) == len(py_client) == len(nginx) == 1, \
        [(s.service, s.kind, s.name) for s in trace]
    assert py_server[0].parent_id == sonde_client[0].span_id
    assert py_client[0].parent_id == py_server[0].span_id
    assert nginx[0].parent_id == py_client[0].span_id
    assert nginx[0].tags["url.path"] == f"/api/items/{tok}/1"


def test_sdk_instrumented_downstream_continues_the_injected_context(
        sonde, jaeger, start_py_server, test_start_us, tmp_path):
    """The reverse: an uninstrumented service (py_server, traced by sonde with header
    propagation) calls an application instrumented with the OpenTelemetry SDK, which extracts
    the traceparent sonde injected: its own SERVER span is the child of sonde's client span, in
    the trace of the request the uninstrumented service was serving. This kernel fails the
    injection self-test on FIONREAD alone (see test_injection.py); the tests-only switch of
    build/sonde-testing goes past that check, and --pid keeps the injection to the one service."""
    tok = token()
    sdk = harness._start_printing_port(
        "otel-server", [sys.executable, str(harness.APPS / "otel_server.py"), "--endpoint",
                        jaeger.otlp_url, "--service", f"sdk-{tok}", "--port", "0"],
        tmp_path / "sdk", harness._env(None, None))
    try:
        py = start_py_server(service_name=f"py-{tok}")
        s = sonde("--propagation", "link,header", "--pid", str(py.pid), "--metrics-addr", "off",
                  env={"SONDE_TEST_IGNORE_FIONREAD": "1"}, testing=True)
        assert "propagation link,header" in s.stderr(), s.stderr()
        for k in range(3):
            url = f"{py.url}/hop/{k}?next={quote(f'http://127.0.0.1:{sdk.port}/sdk/{k}', safe='')}"
            r = harness.curl(url, service_name=None)
            assert r.returncode == 0 and f"hop {k} 200" in r.stdout, r.stdout + r.stderr
        sdk_spans = jaeger.wait_for_spans(f"sdk-{tok}", count=3, start_us=test_start_us,
                                          timeout=30)
        py_spans = jaeger.wait_for_spans(f"py-{tok}", count=6, start_us=test_start_us,
                                         timeout=30)
        for k in range(3):
            srv = next(x for x in py_spans if x.kind == "server" and x.tags["url.path"] == f"/hop/{k}")
            cli = next(x for x in py_spans if x.kind == "client"
                       and x.tags["url.full"].endswith(f"/sdk/{k}"))
            down = next(x for x in sdk_spans if x.tags.get("url.path") == f"/sdk/{k}")
            assert cli.parent_id == srv.span_id and cli.trace_id == srv.trace_id
            assert down.kind == "server" and down.trace_id == srv.trace_id, (down, srv)
            assert down.parent_id == cli.span_id, (down.parent_id, cli.span_id)
    finally:
        sdk.stop()
