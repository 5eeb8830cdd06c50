#!/usr/bin/env python3
"""Sends spans through the OpenTelemetry Python SDK over OTLP/HTTP (protobuf).

    python3 tests/apps/otel_span.py --endpoint http://127.0.0.1:4318 --service NAME \
        [--name SPAN] [--attr key=value ...]

Emits one SERVER span with a CLIENT child span, flushes, and prints
{"trace_id": "<32 hex>", "span_id": "<16 hex>", "child_span_id": "<16 hex>"} on stdout.
Used by the Jaeger smoke test: a known-good OTLP producer, so that a failure there points at the
harness or Jaeger, not at sonde.
"""
import argparse
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True, help="OTLP/HTTP base URL; /v1/traces is appended")
    ap.add_argument("--service", required=True)
    ap.add_argument("--name", default="GET /smoke")
    ap.add_argument("--attr", action="append", default=[], help="key=value, repeatable")
    a = ap.parse_args()

    provider = TracerProvider(resource=Resource.create({"service.name": a.service}))
    exporter = OTLPSpanExporter(endpoint=a.endpoint.rstrip("/") + "/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sonde-smoke")

    attrs = {"http.request.method": "GET", "http.response.status_code": 200}
    for kv in a.attr:
        k, _, v = kv.partition("=")
        attrs[k] = v
    with tracer.start_as_current_span(a.name, kind=trace.SpanKind.SERVER, attributes=attrs) as span:
        with tracer.start_as_current_span("child", kind=trace.SpanKind.CLIENT) as child:
            pass
    provider.force_flush()
    provider.shutdown()
    ctx, cctx = span.get_span_context(), child.get_span_context()
    json.dump({"trace_id": "%032x" % ctx.trace_id, "span_id": "%016x" % ctx.span_id,
               "child_span_id": "%016x" % cctx.span_id}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
