#!/usr/bin/env python3
"""An application instrumented with the OpenTelemetry Python SDK that calls a URL.

    python3 tests/apps/otel_client.py --endpoint http://127.0.0.1:4318 --service NAME URL

Starts a SERVER span (as a request handler would) and, inside it, a CLIENT span for a GET of
URL whose W3C context goes into the request's headers (the SDK's propagator), over http.client.
Exports both spans over OTLP/HTTP, then prints on stdout:

    {"trace_id": "<32 hex>", "server_span_id": "<16 hex>", "client_span_id": "<16 hex>",
     "status": <HTTP status>}
"""
import argparse
import http.client
import json
import sys
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True, help="OTLP/HTTP base URL; /v1/traces is appended")
    ap.add_argument("--service", required=True)
    ap.add_argument("url")
    a = ap.parse_args()

    provider = TracerProvider(resource=Resource.create({"service.name": a.service}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=a.endpoint.rstrip("/") + "/v1/traces", timeout=10)))
    tracer = provider.get_tracer("sonde-test-client")

    u = urlsplit(a.url)
    target = u.path + ("?" + u.query if u.query else "")
    with tracer.start_as_current_span("handle", kind=trace.SpanKind.SERVER) as server:
        with tracer.start_as_current_span("GET", kind=trace.SpanKind.CLIENT) as client:
            headers = {}
            propagate.inject(headers)
            conn = http.client.HTTPConnection(u.netloc, timeout=30)
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            client.set_attribute("http.response.status_code", resp.status)
    provider.force_flush()
    provider.shutdown()
    sc, cc = server.get_span_context(), client.get_span_context()
    json.dump({"trace_id": "%032x" % sc.trace_id, "server_span_id": "%016x" % sc.span_id,
               "client_span_id": "%016x" % cc.span_id, "status": resp.status}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
