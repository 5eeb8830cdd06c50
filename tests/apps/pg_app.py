#!/usr/bin/env python3
"""An uninstrumented web app over PostgreSQL for sonde's tests: http.server + psycopg 3.

    python3 tests/apps/pg_app.py --dsn "host=127.0.0.1 port=5432 user=postgres" [--port 0]

Prints "LISTENING <port>" once it accepts connections. One database connection per serving
thread (kept for the thread's life, autocommit), so a request's queries come from the thread
that serves it. Routes:

    GET /setup?n=N      (re)creates table items with N rows
    GET /items          the N+1 pattern: one query for the list of ids, then one per item
                        (parameters bound by psycopg: extended protocol); JSON list of names
    GET /fail           a query on a missing table: 500
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg

_tls = threading.local()
DSN = ""


def conn():
    c = getattr(_tls, "conn", None)
    if c is None or c.closed:
        c = psycopg.connect(DSN, autocommit=True)
        _tls.conn = c
    return c


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        try:
            if u.path == "/setup":
                n = int(q.get("n", ["5"])[0])
                c = conn()
                c.execute("DROP TABLE IF EXISTS items")
                c.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
                with c.cursor() as cur:
                    cur.executemany("INSERT INTO items VALUES (%s, %s)",
                                    [(i, f"item {i}") for i in range(1, n + 1)])
                self.reply(200, {"rows": n})
            elif u.path == "/items":
                c = conn()
                ids = [r[0] for r in c.execute("SELECT id FROM items ORDER BY id")]
                names = []
                for i in ids:
                    row = c.execute("SELECT name FROM items WHERE id = %s", (i,)).fetchone()
                    names.append(row[0])
                self.reply(200, names)
            elif u.path == "/fail":
                conn().execute("SELECT * FROM no_such_table")
                self.reply(200, {})
            else:
                self.reply(404, {"error": "not found"})
        except psycopg.Error as e:
            self.reply(500, {"error": type(e).__name__})


def main():
    global DSN
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    DSN = a.dsn
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
