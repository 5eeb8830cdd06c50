"""Jaeger and the harness work, without sonde: a known-good OTLP/HTTP producer (the OpenTelemetry
Python SDK) sends spans, and the query API finds them. If this fails, sonde's tests cannot pass."""
import json
import subprocess
import sys
import uuid

import harness


def emit(jaeger, service, name="GET /smoke", attrs=()):
    cmd = [sys.executable, str(harness.APPS / "otel_span.py"), "--endpoint", jaeger.otlp_url,
           "--service", service, "--name", name]
    for kv in attrs:
        cmd += ["--attr", kv]
    r = subprocess.run(cmd, text=True, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_otlp_http_span_reaches_jaeger(jaeger, test_start_us):
    service = f"smoke-{uuid.uuid4().hex[:8]}"
    ids = emit(jaeger, service, attrs=["url.path=/smoke", "sonde.test=yes"])

    spans = jaeger.wait_for_spans(service, where=lambda s: s.name == "GET /smoke",
                                  start_us=test_start_us)
    assert len(spans) == 1
    s = spans[0]
    assert s.trace_id == ids["trace_id"]
    assert s.span_id == ids["span_id"]
    assert s.kind == "server"
    assert s.tags["url.path"] == "/smoke"
    assert s.tags["http.response.status_code"] == 200
    assert s.service == service
    assert s.parent_id is None

    # The whole trace by id: the server span and its client child.
    trace = jaeger.wait_for_trace(ids["trace_id"], count=2)
    child = next(x for x in trace if x.span_id == ids["child_span_id"])
    assert child.parent_id == ids["span_id"]
    assert child.kind == "client"

    assert service in jaeger.services()
    assert "GET /smoke" in jaeger.operations(service)


def test_unknown_service_has_no_traces(jaeger):
    assert jaeger.traces(f"never-seen-{uuid.uuid4().hex[:8]}") == []
