#!/usr/bin/env python3
"""A Flask service over PostgreSQL that calls another service, for sonde's tests (no OTel).

    python3 tests/apps/flask_chain.py --dsn "host=127.0.0.1 port=5432 user=postgres"
                                      --next http://127.0.0.1:PORT [--port 0]

Prints "LISTENING <port>" once it accepts connections. Flask's own server, a thread per
request; each serving thread keeps one PostgreSQL connection (psycopg 3, autocommit) and one
keep-alive HTTP connection to the next service, so a request's calls come from its thread.
Routes:

    GET /setup          (re)creates table orders with 100 rows
    GET /orders/<id>    SELECT the order, then GET <next>/users/<id>; 200 JSON with both
"""
import argparse
import http.client
import json
import sys
import threading
from urllib.parse import urlsplit

import psycopg
from flask import Flask, jsonify
from werkzeug.serving import make_server

app = Flask(__name__)
_tls = threading.local()
CFG = {}


def db():
    c = getattr(_tls, "db", None)
    if c is None or c.closed:
        c = psycopg.connect(CFG["dsn"], autocommit=True)
        _tls.db = c
    return c


def call_next(path):
    u = urlsplit(CFG["next"])
    for attempt in range(2):
        c = getattr(_tls, "http", None)
        if c is None:
            c = _tls.http = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            c.close()
            _tls.http = None  # the server closed an idle keep-alive connection: once more
            if attempt:
                raise
    raise AssertionError("unreachable")


@app.get("/setup")
def setup():
    with db().cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS orders")
        cur.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        cur.execute("INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(0, 99) g")
    return jsonify(ok=True)


@app.get("/orders/<int:oid>")
def order(oid):
    with db().cursor() as cur:
        cur.execute("SELECT item FROM orders WHERE id = %s", (oid % 100,))
        row = cur.fetchone()
    status, body = call_next(f"/users/{oid}")
    if status != 200:
        return jsonify(error=f"next service answered {status}"), 502
    return jsonify(id=oid, item=row[0] if row else None, user=json.loads(body))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--next", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    CFG["dsn"], CFG["next"] = a.dsn, a.next
    srv = make_server("127.0.0.1", a.port, app, threaded=True)
    print(f"LISTENING {srv.server_port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
