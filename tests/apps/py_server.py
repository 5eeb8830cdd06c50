#!/usr/bin/env python3
"""A plain HTTP/1.1 test server for sonde's integration tests (standard library only, no OTel).

    python3 tests/apps/py_server.py [--host 127.0.0.1] [--port 0] [--tls CERT KEY]

Prints "LISTENING <port>" on stdout once it accepts connections (--port 0 picks a free port).
Keep-alive (HTTP/1.1), one thread per connection; HTTPS with --tls (Python's ssl module, the
system OpenSSL). Routes:

    GET  /                    200 text
    GET  /api/users/<id>      200 JSON {"id": <id>, "name": ...}; 404 JSON if <id> is not a number
    GET  /status/<code>       that status code (no body for 1xx/204/304)
    GET  /chunked?n=CHUNKS    200 with Transfer-Encoding: chunked (n chunks, default 5)
    GET  /big?n=BYTES         200 with a body of BYTES bytes (default 1 MiB), Content-Length
    POST /echo                echoes the request body (Content-Length or chunked; Expect: 100-continue
                              is answered with 100 Continue first)
    GET  /slow?ms=N           sleeps N ms (default 100), then 200
    GET  /hop/<k>?next=URL    calls GET URL (http:// or https://: CAs from SSL_CERT_FILE) from
                              the serving thread, over a keep-alive connection of that thread,
                              then 200 "hop <k> <status>"
    GET  /spawn/<k>?next=URL&n=N
                              starts N new threads (default 2) that each call GET URL/<i>
                              (http:// only) on a connection of their own, waits for them,
                              then 200 "spawn <k> <status> ..." (work handed to a new thread)
    GET  /pool/<k>?next=URL   calls GET URL from a worker of a thread pool shared by all
                              requests (2 threads, made on demand), then 200 "pool <k> <status>"
    HEAD on any GET route     headers only
    anything else             404
"""
import argparse
import ssl
import http.client
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


_tls = threading.local()


def _call(url):
    """GET url over this thread's keep-alive connection to its host; returns the status."""
    u = urlsplit(url)
    conns = getattr(_tls, "conns", None)
    if conns is None:
        conns = _tls.conns = {}
    target = u.path + ("?" + u.query if u.query else "")
    for attempt in (0, 1):
        c = conns.get(u.netloc)
        if c is None:
            cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
            c = conns[u.netloc] = cls(u.netloc, timeout=30)
        try:
            c.request("GET", target)
            r = c.getresponse()
            r.read()
            return r.status
        except (http.client.HTTPException, OSError):
            c.close()
            del conns[u.netloc]
            if attempt:
                raise
    return 0


def _call_once(url):
    """GET url on a new connection, closed after; returns the status."""
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.netloc, timeout=30)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


_pool = None
_pool_lock = threading.Lock()


def _shared_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor
            _pool = ThreadPoolExecutor(max_workers=2)
        return _pool


def _int(qs, name, default):
    try:
        return int(qs.get(name, [default])[0])
    except ValueError:
        return default


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; also makes handle_expect_100 answer 100 Continue
    server_version = "sonde-py-server/1"

    def log_message(self, fmt, *args):  # to stderr (the fixture's log file), terse
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _send(self, code, body=b"", ctype="text/plain", headers=None):
        self.send_response(code)
        no_body = code < 200 or code in (204, 304)
        if not no_body:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and not no_body:
            self.wfile.write(body)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj).encode(), "application/json")

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after the chunk
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        url = urlsplit(self.path)
        path, qs = url.path, parse_qs(url.query)
        if path == "/":
            return self._send(200, b"hello from py-server\n")
        if path.startswith("/api/users/"):
            uid = path[len("/api/users/"):]
            if not uid.isdigit():
                return self._json(404, {"error": "no such user", "id": uid})
            return self._json(200, {"id": int(uid), "name": "user-%s" % uid})
        if path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                return self._send(400, b"bad status\n")
            if not 100 <= code <= 599:
                return self._send(400, b"bad status\n")
            return self._send(code, ("status %d\n" % code).encode())
        if path == "/chunked":
            n = _int(qs, "n", 5)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for i in range(n):
                    chunk = ("chunk %d\n" % i).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/big":
            n = max(0, _int(qs, "n", 1 << 20))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                block = b"x" * 65536
                left = n
                while left > 0:
                    self.wfile.write(block[: min(left, len(block))])
                    left -= len(block)
            return None
        if path.startswith("/hop/"):
            nxt = qs.get("next", [""])[0]
            if not nxt.startswith(("http://", "https://")):
                return self._send(400, b"next must be an http:// or https:// URL\n")
            try:
                status = _call(nxt)
            except (http.client.HTTPException, OSError) as e:
                return self._send(502, ("hop failed: %s\n" % e).encode())
            return self._send(200, ("hop %s %d\n" % (path[5:], status)).encode())
        if path.startswith("/spawn/") or path.startswith("/pool/"):
            nxt = qs.get("next", [""])[0]
            if not nxt.startswith("http://"):
                return self._send(400, b"next must be an http:// URL\n")
            try:
                if path.startswith("/pool/"):
                    statuses = [_shared_pool().submit(_call_once, nxt).result()]
                else:
                    results = {}

                    def work(i):
                        try:
                            results[i] = _call_once("%s/%d" % (nxt, i))
                        except (http.client.HTTPException, OSError):
                            results[i] = 0

                    workers = [threading.Thread(target=work, args=(i,))
                               for i in range(max(1, _int(qs, "n", 2)))]
                    for w in workers:
                        w.start()
                    for w in workers:
                        w.join()
                    statuses = [results.get(i, 0) for i in range(len(workers))]
            except (http.client.HTTPException, OSError) as e:
                return self._send(502, ("call failed: %s\n" % e).encode())
            return self._send(200, ("%s %s\n" % (path[1:].replace("/", " ", 1), " ".join(
                str(x) for x in statuses))).encode())
        if path == "/slow":
            time.sleep(max(0, _int(qs, "ms", 100)) / 1000.0)
            return self._send(200, b"slow\n")
        return self._send(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        path = urlsplit(self.path).path
        body = self._read_body()
        if path == "/echo":
            ctype = self.headers.get("Content-Type", "application/octet-stream")
            return self._send(200, body, ctype)
        return self._send(404, b"not found\n")

    do_PUT = do_POST


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # a server's listen backlog, not socketserver's 5: at 50 connections opened at once, a full
    # accept queue drops a new connection's first request segment, which then waits for its
    # resend (nginx takes 511, Go the kernel's somaxconn)
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS")
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*a.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("LISTENING %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
