"""Pipelining clients on an event loop: an Express service reading Redis through the current
`redis` npm client (node-redis: RESP3, and every command of an event-loop turn written at once,
as one writev of a buffer per command) and through ioredis, under 20 and 50 requests in flight;
and the chain of the course behind this project, Flask with PostgreSQL calling that Express
service. Everything is real: redis-server, PostgreSQL, Node, Flask; spans read back from Jaeger.

What is asserted, per request: exactly one client span per Redis command on the Node side and
one server span on redis-server's, the server span the child of the client span that sent it;
and each client span under the request whose code issued it, or under none, never another
(--db-query raw puts the key, which carries the request's id, in db.query.text).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

import grpcapps
import harness
import pgutil
from harness import HarnessError
from redisutil import redis_installed
from test_postgres import db_spans, pg_factory  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not (redis_installed() and shutil.which("node")
                                      and (harness.APPS / "node_modules" / "redis").is_dir()),
    reason="redis-server, node or tests/apps/node_modules missing (tests/install-deps.sh test)")

APP = harness.APPS / "express_redis.js"
RESULTS = harness.REPO / "build" / "test-results"
KEY = re.compile(r"\b(?:user|views|prefs):(\d+)\b")


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def start_express(tmp_path, redis_port, service, *args):
    return harness._start_printing_port(
        "express", ["node", str(APP), "--redis", str(redis_port), "--port", "0", *args],
        tmp_path / f"express-{service}", harness._env(service, None))


def traced(jaeger, service, start_us, limit=5000):
    """Every span of the traces that hold a span of service, once each."""
    return list({s.span_id: s for s in jaeger.spans(service, limit=limit,
                                                    start_us=start_us)}.values())


def redis_server_spans(jaeger, port, start_us, count, timeout=60):
    """The redis-server spans of the server on port (redis-server names itself)."""
    return jaeger.wait_for_spans(
        "redis-server", where=lambda s: s.kind == "server" and s.tags.get("server.port") == port,
        count=count, limit=20000, start_us=start_us, timeout=timeout)


def parenting(spans, service, route):
    """Of the service's Redis client spans: how many are under their own request's server
    span, how many under another request (wrong), how many under none."""
    servers = {s.span_id: s for s in spans if s.service == service and s.kind == "server"}
    right, wrong, none = 0, [], 0
    for c in spans:
        if c.service != service or c.kind != "client":
            continue
        k = KEY.search(c.tags.get("db.query.text", ""))
        assert k, c.tags
        p = servers.get(c.parent_id)
        if p is None:
            assert not c.parent_id or c.parent_id not in {s.span_id for s in spans
                                                          if s.service == service}, c
            none += 1
        elif p.tags.get("url.path") == f"/{route}/{k.group(1)}" and p.trace_id == c.trace_id:
            right += 1
        else:
            wrong.append((c.tags.get("db.query.text"), p.tags.get("url.path")))
    return right, wrong, none


def check_run(jaeger, redis, service, route, n, commands, t0):
    """Counts exact on both ends, links exact, nothing under a wrong request. Returns the
    share of commands under their own request."""
    want = n * len(commands)
    server = redis_server_spans(jaeger, redis.port, t0, want)
    jaeger.wait_for_spans(service, where=lambda s: s.kind == "client", count=want, limit=20000,
                          start_us=t0, timeout=60)
    # the server spans end after their commands: they may be in a later batch
    jaeger.wait_for_spans(service, where=lambda s: s.kind == "server", count=n, limit=20000,
                          start_us=t0, timeout=60)
    spans = traced(jaeger, service, t0, limit=20000)
    mine = [s for s in spans if s.service == service]
    assert sum(s.kind == "server" for s in mine) == n
    clients = [s for s in mine if s.kind == "client"]
    for op in commands:
        got = sum(s.name == op for s in clients)
        assert got == n, (op, got, n)
    assert len(clients) == want
    assert len(server) == want, len(server)
    # every redis-server span is the child of the Node client span that sent its command
    ids = {s.span_id: s for s in clients}
    linked = [s for s in server if s.parent_id in ids and ids[s.parent_id].trace_id == s.trace_id
              and ids[s.parent_id].name == s.name]
    assert len(linked) == want, (len(linked), want)
    right, wrong, none = parenting(spans, service, route)
    assert not wrong, wrong[:5]
    assert right + none == want
    return right / want


def record(name, figures):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "pipelining.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"pipelining {name}: {json.dumps(figures)}", file=sys.stderr)


@pytest.mark.parametrize("resp", ["3", "2"])
def test_node_redis_turns_each_command_under_its_request(sonde, jaeger, redis_server, tmp_path,
                                                         resp):
    """node-redis writes every command of an event-loop turn at once: GET for the requests
    read in the turn and INCR for those whose GET came back. 20 then 50 in flight: every
    command a span on both ends, and under its own request (the commands of a write belong,
    in order, to the requests whose code ran since the connection's last write)."""
    tok = token()
    svc = f"ex-{tok}"
    sonde("--db-query", "raw")
    app = start_express(tmp_path, redis_server.port, svc, "--client", "redis", "--resp", resp)
    for conc, n in ((20, 300), (50, 500)):
        t0 = harness.now_us()
        harness.run_load(tmp_path, tok, [f"{app.url}/users/{k}" for k in range(n)], conc)
        share = check_run(jaeger, redis_server, svc, "users", n, ("GET", "INCR"), t0)
        record(f"node-redis RESP{resp} {conc} in flight", {"requests": n, "under_own": share})
        assert share >= 0.99, share


def test_commands_of_one_turn_several_requests_never_guessed(sonde, jaeger, redis_server,
                                                            tmp_path):
    """Each request issues three commands at once (Promise.all): a write then carries three
    for each request read in the turn, and sonde cannot count them apart. Counts exact, links
    exact, none under a wrong request; the share under their own request is measured."""
    tok = token()
    svc = f"ex-{tok}"
    sonde("--db-query", "raw")
    app = start_express(tmp_path, redis_server.port, svc, "--client", "redis")
    n = 200
    t0 = harness.now_us()
    harness.run_load(tmp_path, tok, [f"{app.url}/dash/{k}" for k in range(n)], 20)
    share = check_run(jaeger, redis_server, svc, "dash", n, ("GET", "INCR", "HGETALL"), t0)
    record("node-redis Promise.all 20 in flight", {"requests": n, "under_own": share})


@pytest.mark.parametrize("auto", [False, True], ids=["plain", "auto-pipelining"])
def test_ioredis_counts_exact_and_never_a_wrong_parent(sonde, jaeger, redis_server, tmp_path,
                                                      auto):
    """ioredis writes each command at once (or, with enableAutoPipelining, as its own queue
    decides): one span per command on both ends, never under a wrong request; the share
    under their own request is measured."""
    tok = token()
    svc = f"ex-{tok}"
    sonde("--db-query", "raw")
    app = start_express(tmp_path, redis_server.port, svc, "--client", "ioredis",
                        *(["--auto-pipeline"] if auto else []))
    for conc, n in ((20, 200), (50, 300)):
        t0 = harness.now_us()
        harness.run_load(tmp_path, tok, [f"{app.url}/users/{k}" for k in range(n)], conc)
        share = check_run(jaeger, redis_server, svc, "users", n, ("GET", "INCR"), t0)
        record(f"ioredis{' auto-pipelining' if auto else ''} {conc} in flight",
               {"requests": n, "under_own": share})


@pytest.mark.skipif(not os.environ.get("CI") and not pgutil.available(),
                    reason="PostgreSQL server binaries not installed")
def test_flask_express_redis_chain_50_in_flight(sonde, jaeger, redis_server, tmp_path):
    """The course's stack: Flask with PostgreSQL calls Express, which reads Redis through
    node-redis. 50 requests in flight: every trace holds the load client's call, Flask's
    server span, its SELECT, its call to Express, Express's server span and its two Redis
    commands, and redis-server's two spans, each under the right parent."""
    tok = token()
    ex_svc, fl_svc = f"ex-{tok}", f"fl-{tok}"
    try:
        pg = pgutil.PgServer.start(tmp_path / "pg")
    except HarnessError as e:
        pytest.fail(str(e))
    try:
        sonde("--db-query", "raw")
        ex = start_express(tmp_path, redis_server.port, ex_svc, "--client", "redis")
        fl = harness._start_printing_port(
            "flask", [sys.executable, str(harness.APPS / "flask_chain.py"), "--dsn", pg.dsn(),
                      "--next", ex.url, "--port", "0"],
            tmp_path / "flask", harness._env(fl_svc, None))
        assert json.loads(harness.curl(f"{fl.url}/setup").stdout)["ok"]
        n = 300
        t0 = harness.now_us()
        harness.run_load(tmp_path, tok, [f"{fl.url}/orders/{k}" for k in range(n)], 50)
        redis_server_spans(jaeger, redis_server.port, t0, 2 * n)
        jaeger.wait_for_spans(ex_svc, where=lambda s: s.kind == "client", count=2 * n,
                              limit=20000, start_us=t0, timeout=60)
        # The load client's spans end last, and may come in a later batch than the rest: a
        # fresh-clone CI run read the traces before 11 of them were there
        jaeger.wait_for_spans(f"load-{tok}", where=lambda s: s.kind == "client", count=n,
                              limit=20000, start_us=t0, timeout=60)
        spans = {s.span_id: s for s in traced(jaeger, f"load-{tok}", t0, limit=20000)}
        complete, broken = 0, []
        by_trace: dict[str, list] = {}
        for s in spans.values():
            by_trace.setdefault(s.trace_id, []).append(s)
        for k in range(n):
            url = f"{fl.url}/orders/{k}"
            roots = [s for s in spans.values() if s.service == f"load-{tok}"
                     and s.tags.get("url.full") == url]
            if len(roots) != 1:
                broken.append((k, "load span", len(roots)))
                continue
            tr = by_trace[roots[0].trace_id]
            kids = {}
            for s in tr:
                kids.setdefault(s.parent_id, []).append(s)

            def one(parent, svc, kind, pred=lambda s: True):
                got = [s for s in kids.get(parent.span_id, []) if s.service == svc
                       and s.kind == kind and pred(s)]
                return got[0] if len(got) == 1 else None

            fl_srv = one(roots[0], fl_svc, "server")
            sel = fl_srv and one(fl_srv, fl_svc, "client",
                                 lambda s: s.tags.get("db.system.name") == "postgresql")
            call = fl_srv and one(fl_srv, fl_svc, "client",
                                  lambda s: s.tags.get("url.full", "").endswith(f"/users/{k}"))
            ex_srv = call and one(call, ex_svc, "server")
            cmds = ex_srv and [one(ex_srv, ex_svc, "client",
                                   lambda s, op=op: s.name == op and
                                   KEY.search(s.tags.get("db.query.text", "")).group(1) == str(k))
                               for op in ("GET", "INCR")]
            rs = cmds and all(cmds) and [one(c, "redis-server", "server") for c in cmds]
            if fl_srv and sel and call and ex_srv and cmds and all(cmds) and rs and all(rs):
                complete += 1
            else:
                broken.append((k, bool(fl_srv), bool(sel), bool(call), bool(ex_srv),
                               cmds and [bool(c) for c in cmds], rs and [bool(r) for r in rs]))
        right, wrong, _ = parenting(list(spans.values()), ex_svc, "users")
        record("Flask -> Express -> Redis 50 in flight",
               {"requests": n, "complete": complete, "wrong_parent": len(wrong)})
        assert not wrong, wrong[:5]
        assert complete >= 0.99 * n, (complete, broken[:5])
    finally:
        pg.stop()


@pytest.mark.skipif(not os.environ.get("CI") and not pgutil.available(),
                    reason="PostgreSQL server binaries not installed")
def test_psycopg_pipeline_every_query_on_both_ends(sonde, jaeger, tmp_path):
    """psycopg 3's pipeline mode sends 30 INSERT and then 30 SELECT as Parse/Bind/Execute
    messages at once, before any answer, on a connection it has just opened: the kernel takes
    the startup packet for PostgreSQL and records the connection's I/O whole from its first
    byte. Every query a client span and a server span, the server span the child of its
    client span."""
    tok = token()
    svc = f"pgp-{tok}"
    try:
        pg = pgutil.PgServer.start(tmp_path / "pg")
    except HarnessError as e:
        pytest.fail(str(e))
    try:
        sonde("--port", str(pg.port))
        t0 = harness.now_us()
        code = (
            "import psycopg, sys\n"
            f"c = psycopg.connect({pg.dsn() + ' sslmode=disable'!r}, autocommit=True)\n"
            "c.execute('CREATE TABLE t (id int)')\n"
            "with c.pipeline():\n"
            "    for i in range(30):\n"
            "        c.execute('INSERT INTO t VALUES (%s)', (i,))\n"
            "with c.pipeline():\n"
            "    cur = [c.execute('SELECT id FROM t WHERE id = %s', (i,)) for i in range(30)]\n"
            "print(sum(x.fetchone()[0] for x in cur))\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, env=harness._env(svc, None))
        assert r.stdout.strip() == str(sum(range(30))), r.stderr
        clients = jaeger.wait_for_spans(
            svc, where=lambda s: s.kind == "client" and s.name in ("INSERT t", "SELECT t"),
            count=60, limit=1000, start_us=t0, timeout=60)
        servers = jaeger.wait_for_spans(
            "postgres", where=lambda s: s.kind == "server" and s.tags.get("server.port") == pg.port
            and s.name in ("INSERT t", "SELECT t"), count=60, limit=1000, start_us=t0,
            timeout=60)
        assert len(clients) == 60 and len(servers) == 60, (len(clients), len(servers))
        assert sum(s.name == "INSERT t" for s in clients) == 30
        ids = {s.span_id: s for s in clients}
        assert all(s.parent_id in ids and ids[s.parent_id].name == s.name for s in servers)
        assert not any(s.is_error for s in clients + servers)
    finally:
        pg.stop()


@pytest.mark.skipif(not os.environ.get("CI") and not pgutil.available(),
                    reason="PostgreSQL server binaries not installed")
def test_pgx_batches_every_query_on_both_ends(sonde, jaeger, pg_factory, tmp_path):
    """pgx (Go) sends a batch as one pipeline: a Parse and Describe of each new statement and a
    Sync, then a Bind and Execute of each query and one Sync. 30 INSERTs, 30 SELECTs, then a
    batch of three whose second fails (the server skips the third until the Sync: no span
    for a query that never ran), then a SELECT alone. Every query that ran is a client span and
    a server span, the server span the child of its client span; the failure is an error with
    its SQLSTATE, on both ends."""
    tok = token()
    svc = f"pgx-{tok}"
    gobin = tmp_path / "go_pgx"
    try:
        grpcapps.go_build(harness.APPS / "go_pgx", gobin)
    except HarnessError as e:
        pytest.fail(str(e))
    pg = pg_factory()
    sonde("--port", str(pg.port))
    t0 = harness.now_us()
    r = subprocess.run([str(gobin), pg.dsn() + " sslmode=disable", "30"], capture_output=True,
                       text=True, timeout=60, env=harness._env(svc, None))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sum"] == sum(range(30)) and out["max"] == 29, out
    assert out["errors"][0] == "" and "22012" in out["errors"][1] and out["errors"][2], out

    def ours(s):
        return s.name in ("INSERT t", "SELECT t")

    want = 30 + 30 + 2 + 1
    # each waits for `want`, then a little longer: a surplus would show
    clients = db_spans(jaeger, svc, want, t0, "client", where=ours, timeout=60, port=pg.port)
    servers = db_spans(jaeger, "postgres", want, t0, "server", where=ours, timeout=60,
                       port=pg.port)
    assert len(clients) == want and len(servers) == want, (len(clients), len(servers))
    inserts = [s for s in clients if s.name == "INSERT t"]
    assert len(inserts) == 30
    # one pipeline: every INSERT was written before the first answer came
    assert max(s.start_us for s in inserts) <= min(s.start_us + s.duration_us
                                                   for s in inserts), inserts
    for side in (clients, servers):
        failed = [s for s in side if s.is_error]
        assert len(failed) == 1 and failed[0].tags.get("db.response.status_code") == "22012", \
            [(s.name, s.tags) for s in failed]
    ids = {s.span_id: s for s in clients}
    assert all(s.parent_id in ids and ids[s.parent_id].name == s.name for s in servers)
    assert len({s.parent_id for s in servers}) == want
