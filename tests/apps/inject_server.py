#!/usr/bin/env python3
"""The far end of sonde's header injection tests: it checks what arrives (standard library only).

    python3 tests/apps/inject_server.py [--port 0] [--echo-port 0]

Prints "LISTENING <port> <echo-port>" once both accept connections. HTTP/1.1, keep-alive, one
thread per connection. Every answer is JSON, so that a client can tell what the server saw:

    GET|POST|PUT /check   {"ok": <the body's SHA-256 equals the X-Body-Sha256 header>,
                           "len": <body bytes>, "tp": [every traceparent header value],
                           "chunked": <the body came chunked>}; the body is read by
                          Content-Length or chunked framing. 400 when the framing is wrong.
    GET /hop?next=URL     calls GET URL (http:// only) from the serving thread over a keep-alive
                          connection of that thread, answers {"tp": [...], "down": <URL's JSON>}
    anything else         404

--echo-port: a raw TCP echo server (not HTTP) on that port, one thread per connection.
"""
import argparse
import hashlib
import http.client
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_tls = threading.local()


def _get_json(url):
    u = urlsplit(url)
    conns = getattr(_tls, "conns", None)
    if conns is None:
        conns = _tls.conns = {}
    target = u.path + ("?" + u.query if u.query else "")
    for attempt in (0, 1):
        c = conns.get(u.netloc)
        if c is None:
            c = conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=30)
        try:
            c.request("GET", target)
            r = c.getresponse()
            return json.loads(r.read() or b"null")
        except (http.client.HTTPException, OSError):
            c.close()
            del conns[u.netloc]
            if attempt:
                raise
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sonde-inject-server/1"

    def log_message(self, fmt, *args):
        pass

    def _answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        """The request body and whether it was chunked; None when its framing is wrong."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None, True
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts), True
                parts.append(self.rfile.read(n))
                if self.rfile.read(2) != b"\r\n":
                    return None, True
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n), False

    def _check(self):
        body, chunked = self._body()
        tp = self.headers.get_all("traceparent") or []
        if body is None:
            self.close_connection = True
            self._answer(400, {"ok": False, "error": "bad chunked framing", "tp": tp})
            return
        want = self.headers.get("X-Body-Sha256", "")
        self._answer(200, {"ok": hashlib.sha256(body).hexdigest() == want, "len": len(body),
                           "tp": tp, "chunked": chunked})

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/check":
            return self._check()
        if u.path == "/hop":
            nxt = parse_qs(u.query).get("next", [""])[0]
            tp = self.headers.get_all("traceparent") or []
            try:
                down = _get_json(nxt)
            except (OSError, http.client.HTTPException, ValueError) as e:
                return self._answer(502, {"tp": tp, "error": str(e)})
            return self._answer(200, {"tp": tp, "down": down})
        self._answer(404, {"error": "not found"})

    do_POST = do_PUT = _check


def echo_server(sock):
    def serve(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                c.sendall(data)

    while True:
        c, _ = sock.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--echo-port", type=int, default=None)
    a = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    httpd = ThreadingHTTPServer((a.host, a.port), Handler)
    echo_port = 0
    if a.echo_port is not None:
        es = socket.create_server((a.host, a.echo_port), backlog=64)
        echo_port = es.getsockname()[1]
        threading.Thread(target=echo_server, args=(es,), daemon=True).start()
    print(f"LISTENING {httpd.server_address[1]} {echo_port}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
