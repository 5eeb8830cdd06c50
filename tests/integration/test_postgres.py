"""PostgreSQL spans against a real PostgreSQL from Debian (postgresql), real clients (psql,
pgbench, psycopg) and sonde exporting to the session's Jaeger.

Each test starts its own postgres on a free loopback port (pgutil.PgServer, as the postgres
user, in a temporary directory); sonde traces that port, so both ends of each connection are
seen: CLIENT spans on the client's process, SERVER spans on the backend postgres forks for the
connection. Backends rewrite their process title over their environment (as nginx does), so
their OTEL_SERVICE_NAME cannot be read reliably: their service is "postgres", and a test tells
its own server spans by server.port.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import harness
import pgutil
from harness import HarnessError

pytestmark = pytest.mark.skipif(not pgutil.available() and not os.environ.get("CI"),
                                reason="postgresql/pgbench not installed (tests/install-deps.sh test)")

APP = harness.APPS / "pg_app.py"


@pytest.fixture
def pg_factory(tmp_path):
    started = []

    def start() -> pgutil.PgServer:
        try:
            srv = pgutil.PgServer.start(tmp_path / f"pg{len(started)}")
        except HarnessError as e:
            pytest.fail(str(e))
        started.append(srv)
        return srv
    yield start
    for s in started:
        s.stop()


def db_spans(jaeger, service, count, start_us, kind, where=None, timeout=30, port=None):
    """Exactly the db spans of `kind` from `service` (on server port `port`) since start_us,
    sorted by start: waits for `count`, then a little longer so that a surplus would show."""
    def ok(s):
        return (s.service == service and s.kind == kind and "db.system.name" in s.tags
                and (port is None or s.tags.get("server.port") == port)
                and (where is None or where(s)))
    if count:
        jaeger.wait_for_spans(service, where=ok, count=count, timeout=timeout, start_us=start_us,
                              limit=1000)
    time.sleep(3)
    try:
        spans = [s for s in jaeger.spans(service, start_us=start_us, limit=1000) if ok(s)]
    except Exception:  # no such service yet: no span
        spans = []
    return sorted(spans, key=lambda s: s.start_us)


def env_service(name):
    return {"OTEL_SERVICE_NAME": name}


# The session: (statement as psql sends it, span name, rows or None, SQLSTATE or None, batch)
SESSION = [
    ("CREATE TABLE items (id int PRIMARY KEY, name text);", "CREATE items", None, None, None),
    ("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');", "INSERT items", None, None, None),
    ("SELECT id, name FROM items WHERE id = 2;", "SELECT items", 1, None, None),
    ("SELECT * FROM missing_table;", "SELECT missing_table", None, "42P01", None),
    # psql sends statements joined by \; as one Query message: a batch
    ("SELECT 1 \\; SELECT id FROM items;", "BATCH SELECT", 4, None, 2),
    ("PREPARE byid(int) AS SELECT name FROM items WHERE id = $1;", "PREPARE", None, None, None),
    # the server tags an EXECUTE's answer with the prepared statement's: SELECT 1
    ("EXECUTE byid(1);", "EXECUTE", 1, None, None),
    ("EXECUTE byid(3);", "EXECUTE", 1, None, None),
    ("COPY items (id, name) FROM STDIN;\n4\td\n5\te\n\\.", "COPY items", None, None, None),
    ("COPY items TO STDOUT;", "COPY items", None, None, None),
    ("COPY items TO STDOUT (FORMAT binary);", "COPY items", None, None, None),
    ("SELECT count(*) FROM items;", "SELECT items", 1, None, None),
]


def test_psql_session(jaeger, sonde, pg_factory, test_start_us):
    pg = pg_factory()
    sonde("--port", str(pg.port))
    r = pgutil.psql(pg.port, "\n".join(s[0] for s in SESSION) + "\n",
                    env=env_service("psql-session"))
    assert "missing_table" in r.stderr and r.stdout.count("\n") > 5, r.stdout + r.stderr
    n = len(SESSION)
    for kind, service in (("client", "psql-session"), ("server", "postgres")):
        spans = db_spans(jaeger, service, n, test_start_us, kind, port=pg.port)
        assert [s.name for s in spans] == [s[1] for s in SESSION], (kind, spans)
        for s, (stmt, name, rows, code, batch) in zip(spans, SESSION):
            t = s.tags
            assert t["db.system.name"] == "postgresql"
            assert t["db.namespace"] == "postgres"
            assert t.get("db.response.returned_rows") == rows, (name, t)
            assert t.get("db.response.status_code") == code, (name, t)
            assert s.is_error == (code is not None), (name, t)
            assert t.get("db.operation.batch.size") == batch, (name, t)
            assert t["network.peer.address"] == "127.0.0.1"
            if kind == "client":
                assert t["server.port"] == pg.port
            else:
                assert t["server.port"] == pg.port and t["client.address"] == "127.0.0.1"
        # literals never reach Jaeger in the default (sanitized) mode
        by_name = {s.name: s for s in spans}
        assert by_name["INSERT items"].tags["db.query.text"] == \
            "INSERT INTO items VALUES (?, ?), (?, ?), (?, ?);"
        assert spans[2].tags["db.query.text"] == "SELECT id, name FROM items WHERE id = ?;"
        assert spans[4].tags["db.operation.name"] == "BATCH SELECT"
        assert spans[8].tags["db.collection.name"] == "items"
    # every backend of this server is a process of postgres's, not psql's
    assert {s.process_tags.get("process.executable.name") for s in
            db_spans(jaeger, "postgres", n, test_start_us, "server", port=pg.port)} == {"postgres"}


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_select_only(jaeger, sonde, pg_factory, test_start_us, mode):
    pg = pg_factory()
    pgutil.pgbench(pg.port, "-i", "-q", "-s", "1")  # before sonde: not traced
    sonde("--port", str(pg.port))
    tx, clients = 25, 2
    r = pgutil.pgbench(pg.port, "-n", "-S", "-M", mode, "-t", str(tx), "-c", str(clients),
                       env=env_service(f"pgbench-{mode}"))
    assert f"number of transactions actually processed: {tx * clients}/{tx * clients}" in r.stdout
    want = tx * clients

    def accounts(s):
        return s.name == "SELECT pgbench_accounts"
    for kind, service in (("client", f"pgbench-{mode}"), ("server", "postgres")):
        spans = db_spans(jaeger, service, want, test_start_us, kind, where=accounts,
                         port=pg.port)
        assert len(spans) == want, (kind, len(spans))
        for s in spans:
            assert s.tags["db.response.returned_rows"] == 1
            assert s.tags["db.operation.name"] == "SELECT"
            assert s.tags["db.collection.name"] == "pgbench_accounts"
            q = s.tags["db.query.text"]
            if mode != "simple":
                # prepared: the text comes from the Parse of the named statement, sent once per
                # connection; extended: from the unnamed statement parsed with each Bind
                assert q == "SELECT abalance FROM pgbench_accounts WHERE aid = $1;", q
            else:
                assert q == "SELECT abalance FROM pgbench_accounts WHERE aid = ?;", q
        # two connections, each its own thread ids; all spans on them
        assert len({s.tags["network.peer.port"] for s in spans}) == (1 if kind == "client" else 2)


def start_app(tmp_path, pg):
    e = harness._env("pg-app", None)
    return harness._start_printing_port(
        "pg-app", [sys.executable, str(APP), "--dsn", pg.dsn(), "--port", "0"], tmp_path / "app",
        e)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


def test_app_n_plus_one(jaeger, sonde, pg_factory, tmp_path, test_start_us):
    pg = pg_factory()
    app = start_app(tmp_path, pg)
    try:
        sonde("--port", str(pg.port), "--port", str(app.port))
        # psycopg prepares a query it has run 5 times on a connection (prepare_threshold): the
        # last items go through a named statement (Parse once, then Bind/Execute by name)
        n = 8
        assert get(f"{app.url}/setup?n={n}")[0] == 200
        # setup: DROP, CREATE, then executemany's inserts, pipelined by psycopg
        setup = db_spans(jaeger, "pg-app", 2 + n, test_start_us, "client")
        assert [s.name for s in setup] == ["DROP items", "CREATE items"] + ["INSERT items"] * n
        time.sleep(0.5)
        t0 = harness.now_us()
        status, body = get(f"{app.url}/items")
        assert status == 200 and body.count(b"item ") == n
        spans = db_spans(jaeger, "pg-app", n + 1, t0, "client")
        assert [s.name for s in spans] == ["SELECT items"] * (n + 1)
        assert spans[0].tags["db.query.text"] == "SELECT id FROM items ORDER BY id"
        assert spans[0].tags["db.response.returned_rows"] == n
        for s in spans[1:]:
            assert s.tags["db.query.text"] == "SELECT name FROM items WHERE id = $1"
            assert s.tags["db.response.returned_rows"] == 1
        # in order, one after the other, all on the serving thread
        assert all(a.start_us + a.duration_us <= b.start_us + 50
                   for a, b in zip(spans, spans[1:]))
        assert len({s.tags["thread.id"] for s in spans}) == 1
        # the server side saw the same N+1 queries
        server = db_spans(jaeger, "postgres", n + 1, t0, "server", port=pg.port)
        assert [s.name for s in server] == ["SELECT items"] * (n + 1)
        # the lead's linking: the queries are children of the HTTP server span of /items
        http = jaeger.wait_for_spans("pg-app", where=lambda s: s.kind == "server" and
                                     s.tags.get("url.path") == "/items", start_us=t0)
        assert {s.parent_id for s in spans} == {http[0].span_id}
        assert {s.trace_id for s in spans} == {http[0].trace_id}
        # an error: SQLSTATE on both ends
        assert harness_status(f"{app.url}/fail") == 500
        err = db_spans(jaeger, "pg-app", 1, t0, "client", where=lambda s: s.is_error)
        assert len(err) == 1 and err[0].tags["db.response.status_code"] == "42P01"
        assert err[0].tags["error.type"] == "42P01"
    finally:
        app.stop()


def harness_status(url):
    try:
        return get(url)[0]
    except urllib.error.HTTPError as e:
        return e.code


def startup_packet(user="postgres", db="postgres"):
    body = struct.pack(">I", 0x00030000) + b"user\0" + user.encode() + b"\0database\0" + \
        db.encode() + b"\0\0"
    return struct.pack(">I", len(body) + 4) + body


def read_until_ready(s):
    data = b""
    s.settimeout(10)
    while not data.endswith(b"Z\0\0\0\x05I"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_bad_input(jaeger, sonde, pg_factory, test_start_us):
    pg = pg_factory()
    sonde("--port", str(pg.port))
    env = env_service("psql-bad")
    # a huge result set (most of it never captured), then a query whose answer is seen in full
    r = pgutil.psql(pg.port, "SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g;\n"
                    "SELECT 42 AS answer;\n", env=env)
    assert "(100000 rows)" in r.stdout and "(1 row)" in r.stdout
    # a binary COPY out of a table
    r = pgutil.psql(pg.port, "CREATE TABLE b (x bytea);\nINSERT INTO b SELECT "
                    "decode(repeat('00ff', 2000), 'hex') FROM generate_series(1, 50);\n"
                    "COPY b TO STDOUT (FORMAT binary);\n", env=env)
    assert r.returncode == 0, r.stderr
    # not PostgreSQL on the port: HTTP, and random bytes
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(300)):
        with socket.create_connection(("127.0.0.1", pg.port)) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                s.recv(100)
            except OSError:
                pass
    # a truncated packet: a Query whose length promises more than is sent, then a close
    with socket.create_connection(("127.0.0.1", pg.port)) as s:
        s.sendall(startup_packet())
        read_until_ready(s)
        s.sendall(b"Q" + struct.pack(">I", 200) + b"SELECT 'never finished")
        time.sleep(0.3)
    # a client that disconnects mid-query
    p = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                          "postgres", "-c", "SELECT pg_sleep(2)"],
                         env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(0.7)
    p.kill()
    p.wait()
    time.sleep(2.5)  # the backend finishes its sleep, answers nobody

    want = ["SELECT", "SELECT", "CREATE b", "INSERT b", "COPY b", "SELECT"]
    spans = db_spans(jaeger, "psql-bad", len(want), test_start_us, "client")
    assert [s.name for s in spans] == want, spans
    big, answer = spans[0], spans[1]
    assert big.tags["db.query.text"] == "SELECT g, repeat(?, ?) FROM generate_series(?, ?) g;"
    assert "db.response.returned_rows" not in big.tags  # its CommandComplete was not captured
    assert not big.is_error
    # the big answer took time to send: its end came from the run's end, not its start
    assert big.duration_us > answer.duration_us
    assert answer.tags["db.response.returned_rows"] == 1 and not answer.is_error
    cut = spans[5]
    assert cut.tags["db.query.text"] == "SELECT pg_sleep(?)"
    assert cut.is_error and cut.tags["error.type"] == "connection_closed"
    assert 500_000 <= cut.duration_us < 2_000_000
    # server side: the same operations; the junk and the truncated Query made no span
    server = db_spans(jaeger, "postgres", len(want), test_start_us, "server", port=pg.port)
    assert [s.name for s in server] == want, server


def test_cancel_request(jaeger, sonde, pg_factory, test_start_us):
    pg = pg_factory()
    sonde("--port", str(pg.port))
    code = f"""
import threading, psycopg
c = psycopg.connect({pg.dsn()!r}, autocommit=True)
threading.Timer(0.5, c.cancel).start()
try:
    c.execute("SELECT pg_sleep(5)")
except psycopg.errors.QueryCanceled:
    print("cancelled")
c.execute("SELECT 1")
c.close()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(harness._env("py-cancel", None)), timeout=30)
    assert "cancelled" in r.stdout, r.stderr
    spans = db_spans(jaeger, "py-cancel", 2, test_start_us, "client")
    # the cancel request's own connection makes no span
    assert [s.name for s in spans] == ["SELECT", "SELECT"], spans
    assert spans[0].is_error and spans[0].tags["db.response.status_code"] == "57014"
    assert 300_000 < spans[0].duration_us < 3_000_000
    assert not spans[1].is_error
