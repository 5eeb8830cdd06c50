#!/usr/bin/env python3
"""An uninstrumented web app over MariaDB for sonde's tests (http.server and PyMySQL, no OTel).

    python3 tests/apps/mysql_app.py --db-port PORT [--port 0] [--user U --password P --db NAME]

Prints "LISTENING <port>" once it accepts connections. One PyMySQL connection per serving
app, opened at the first request and shared by the serving threads under a lock (so a request
runs exactly its own queries: no connect-time statements). Routes:

    GET /orders?n=N    the N+1 pattern: one query for the first N orders, then one query per
                       order for its items; 200 JSON [{"id": .., "items": ..}, ...]
    GET /setup?n=N     (re)creates the tables `orders` and `order_items` with N orders of two
                       items each; 200 "ok"
"""
import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pymysql

_lock = threading.Lock()
_db = None
ARGS = None


def _conn():
    """The shared connection; call with _lock held."""
    global _db
    if _db is None:
        _db = pymysql.connect(host="127.0.0.1", port=ARGS.db_port, user=ARGS.user,
                              password=ARGS.password, database=ARGS.db, autocommit=True)
    return _db


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        qs = parse_qs(u.query)
        n = int(qs.get("n", ["3"])[0])
        try:
            if u.path == "/orders":
                with _lock, _conn().cursor() as cur:
                    cur.execute("SELECT id FROM orders ORDER BY id LIMIT %s", (n,))
                    orders = [r[0] for r in cur.fetchall()]
                    out = []
                    for oid in orders:
                        cur.execute("SELECT sku, qty FROM order_items WHERE order_id = %s",
                                    (oid,))
                        out.append({"id": oid, "items": len(cur.fetchall())})
                self._send(200, json.dumps(out))
            elif u.path == "/setup":
                with _lock, _conn().cursor() as cur:
                    cur.execute("DROP TABLE IF EXISTS order_items, orders")
                    cur.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
                    cur.execute("CREATE TABLE order_items (order_id INT, sku VARCHAR(16), "
                                "qty INT)")
                    for i in range(1, n + 1):
                        cur.execute("INSERT INTO orders VALUES (%s)", (i,))
                        cur.execute("INSERT INTO order_items VALUES (%s, 'a', 1), (%s, 'b', 2)",
                                    (i, i))
                self._send(200, "ok", "text/plain")
            else:
                self._send(404, "{}")
        except pymysql.MySQLError as e:
            self._send(500, json.dumps({"error": str(e)}))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--db-port", type=int, required=True)
    ap.add_argument("--user", default="sonde")
    ap.add_argument("--password", default="sonde")
    ap.add_argument("--db", default="shop")
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"LISTENING {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
