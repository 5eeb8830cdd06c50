#!/usr/bin/env python3
"""An HTTP server instrumented with the OpenTelemetry Python SDK (the downstream of a service
that sonde traces, for the test that sonde's injected context is continued by an SDK).

    python3 tests/apps/otel_server.py --endpoint http://127.0.0.1:4318 --service NAME [--port 0]

Prints "LISTENING <port>" on stdout once it accepts connections. For every GET it extracts the
W3C context from the request's headers with the SDK's propagator, runs a SERVER span under it,
exports the span over OTLP/HTTP (one at a time: SimpleSpanProcessor) and answers 200 with JSON:

    {"traceparent": <the header as received, or null>, "trace_id": "<32 hex>",
     "span_id": "<16 hex>", "parent_span_id": "<16 hex>" or null}
"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

tracer = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        ctx = propagate.extract(dict(self.headers.items()))
        with tracer.start_as_current_span(f"GET {self.path}", context=ctx,
                                          kind=trace.SpanKind.SERVER,
                                          attributes={"url.path": self.path}) as span:
            sc = span.get_span_context()
            parent = span.parent
            body = json.dumps({
                "traceparent": self.headers.get("traceparent"),
                "trace_id": "%032x" % sc.trace_id,
                "span_id": "%016x" % sc.span_id,
                "parent_span_id": "%016x" % parent.span_id if parent else None,
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def main():
    global tracer
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True, help="OTLP/HTTP base URL; /v1/traces is appended")
    ap.add_argument("--service", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    provider = TracerProvider(resource=Resource.create({"service.name": a.service}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=a.endpoint.rstrip("/") + "/v1/traces", timeout=10)))
    tracer = provider.get_tracer("sonde-test-server")
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except SystemExit:
        pass
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
