#!/usr/bin/env python3
"""An uninstrumented web app backed by Redis, for sonde's N+1 test (no OTel here: sonde traces it).

    python3 tests/apps/redis_app.py --redis-port PORT [--redis-host 127.0.0.1] [--port 0] [--lazy]
                                    [--max-connections 8]

Prints "LISTENING <port>" on stdout once it accepts connections. ThreadingHTTPServer with the
`redis` package (redis-py) from PyPI, one shared connection pool. Routes:

    GET /users        SMEMBERS users (1 command), then HGETALL user:<id> for each member, one
                      command at a time in sorted order (N commands): the N+1 pattern.
                      200 JSON [{"id": ..., ...}, ...]
    GET /pipeline?n=N one pipeline (no MULTI) of N INCR commands: 200 JSON {"n": N}
    anything else     404

The pool's connection is opened and checked (PING, and the client's own CLIENT SETINFO commands)
before LISTENING, so a request runs only the commands listed above; with --lazy it is opened by
the first request (which then also sends the CLIENT SETINFO commands).
"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import redis

POOL = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        r = redis.Redis(connection_pool=POOL, decode_responses=True)
        if u.path == "/users":
            ids = sorted(r.smembers("users"), key=int)
            users = []
            for i in ids:
                h = r.hgetall(f"user:{i}")
                h["id"] = i
                users.append(h)
            self._send(200, users)
        elif u.path == "/pipeline":
            n = int(parse_qs(u.query).get("n", ["10"])[0])
            p = r.pipeline(transaction=False)
            for _ in range(n):
                p.incr("pipeline:counter")
            p.execute()
            self._send(200, {"n": n})
        else:
            self._send(404, {"error": "not found"})


def main():
    global POOL
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--redis-host", default="127.0.0.1")
    ap.add_argument("--lazy", action="store_true", help="connect at the first request")
    ap.add_argument("--max-connections", type=int, default=8,
                    help="the pool's size (a request beyond it fails)")
    args = ap.parse_args()
    POOL = redis.ConnectionPool(host=args.redis_host, port=args.redis_port,
                                max_connections=args.max_connections,
                                decode_responses=True)
    if not args.lazy:
        redis.Redis(connection_pool=POOL).ping()
    ThreadingHTTPServer.request_queue_size = 128  # a server's listen backlog (py_server.py)
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
