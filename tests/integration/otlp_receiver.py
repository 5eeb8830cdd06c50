#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A small OTLP/HTTP trace receiver for sonde's tests: decodes each POST to /v1/traces with the
official opentelemetry-proto classes (gzip too), records the spans it accepted, and answers as a
script says, so tests can exercise retries, Retry-After, non-retryable errors and partial success
against a real HTTP server.

    otlp_receiver.py [--port 0] [--tls CERT KEY] [--script 503,429:ra=1,200:partial=2:msg=too%20old,200:delay=2000]

The script is consumed one entry per POST; when it runs out every POST gets 200. An entry is
STATUS[:ra=RETRY_AFTER][:delay=MS][:partial=N][:msg=TEXT] (TEXT percent-encoded). The chosen port
is printed on stdout as "PORT <n>". Control endpoints:
    GET  /stats      JSON: requests (status, time, headers, span count) and accepted spans
    POST /script     body: a new script in the same form
    POST /reset      forget recorded requests and spans
"""
import argparse
import gzip
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def parse_script(text):
    entries = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.split(":")
        entry = {"status": int(parts[0])}
        for opt in parts[1:]:
            key, _, val = opt.partition("=")
            entry[key] = urllib.parse.unquote(val) if key in ("msg", "ra") else int(val)
        entries.append(entry)
    return entries


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    val = getattr(v, kind)
    return val.hex() if kind == "bytes_value" else val


class State:
    def __init__(self, script):
        self.lock = threading.Lock()
        self.script = script
        self.requests = []
        self.spans = []

    def next_entry(self):
        with self.lock:
            return self.script.pop(0) if self.script else {"status": 200}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real collector does

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", ctype="application/x-protobuf", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        if self.path != "/stats":
            return self.reply(404, b"not found", "text/plain")
        with st.lock:
            body = json.dumps({"requests": st.requests, "spans": st.spans}).encode()
        self.reply(200, body, "application/json")

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path == "/script":
            with st.lock:
                st.script = parse_script(raw.decode())
            return self.reply(200, b"ok", "text/plain")
        if self.path == "/reset":
            with st.lock:
                st.requests.clear()
                st.spans.clear()
            return self.reply(200, b"ok", "text/plain")
        if self.path != "/v1/traces":
            return self.reply(404, b"not found", "text/plain")

        entry = st.next_entry()
        record = {
            "time": time.monotonic(),
            "status": entry["status"],
            "bytes": len(raw),
            "peer_port": self.client_address[1],
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "spans": 0,
        }
        try:
            data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            req = ExportTraceServiceRequest()
            req.ParseFromString(data)
        except Exception as exc:  # a broken body is the agent's bug: say so in the answer
            record["status"] = 400
            record["error"] = str(exc)
            with st.lock:
                st.requests.append(record)
            return self.reply(400, f"cannot decode: {exc}".encode(), "text/plain")

        spans = []
        for rs in req.resource_spans:
            res = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    spans.append({
                        "service": res.get("service.name"),
                        "scope": ss.scope.name,
                        "scope_version": ss.scope.version,
                        "name": sp.name,
                        "kind": sp.kind,
                        "trace_id": sp.trace_id.hex(),
                        "span_id": sp.span_id.hex(),
                        "parent_span_id": sp.parent_span_id.hex(),
                        "start": sp.start_time_unix_nano,
                        "end": sp.end_time_unix_nano,
                        "attributes": {kv.key: any_value(kv.value) for kv in sp.attributes},
                    })
        record["spans"] = len(spans)

        if entry.get("delay"):
            time.sleep(entry["delay"] / 1000)
        status = entry["status"]
        with st.lock:
            st.requests.append(record)
            if 200 <= status < 300:
                st.spans.extend(spans)
        if 200 <= status < 300:
            resp = ExportTraceServiceResponse()
            if entry.get("partial") or entry.get("msg"):
                resp.partial_success.rejected_spans = entry.get("partial", 0)
                resp.partial_success.error_message = entry.get("msg", "")
            return self.reply(status, resp.SerializeToString())
        extra = [("Retry-After", str(entry["ra"]))] if "ra" in entry else []
        self.reply(status, f"scripted {status}".encode(), "text/plain", extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", default="")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.state = State(parse_script(args.script))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
