"""Redis spans against a real redis-server from Debian (redis-server, redis-tools).

Each test starts its own redis-server on a free loopback port with persistence off
(redisutil.start_redis) and sonde with --port on that port, so both ends of every connection
to it are traced: CLIENT spans on the client's process (redis-cli, redis-benchmark, redis-py,
Jedis, Lettuce), SERVER spans on redis-server's. Spans are read back from Jaeger.
"""
from __future__ import annotations

import collections
import os
import random
import socket
import subprocess
import sys
import time
import uuid

import pytest

import harness
from redisutil import RedisServer, raw_session, redis_installed

pytestmark = pytest.mark.skipif(not redis_installed() and not os.environ.get("CI"),
                                reason="redis-server/redis-tools not installed "
                                       "(tests/install-deps.sh test)")

APP = harness.APPS / "redis_app.py"
JAVA_REDIS = harness.APPS / "java_redis"


def name(prefix: str) -> str:
    """A service name of this test only (one Jaeger serves the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# redis-server rewrites its command line and environment for its process title, so sonde
# names it from its executable, whatever OTEL_SERVICE_NAME it was given; each test's server is
# told apart by its port.
SERVER_SERVICE = "redis-server"


def db_spans(jaeger, service, count, start_us, kind, timeout=30, where=None, limit=1000,
             operation=None, port=None):
    """Exactly the db spans of `kind` from `service` (sorted by start) once `count` are there;
    waits a little more so that a surplus would show. port: only spans of that server port."""
    def ok(s):
        return (s.service == service and s.kind == kind and s.tags.get("db.system.name") == "redis"
                and (port is None or s.tags.get("server.port") == port)
                and (where is None or where(s)))

    jaeger.wait_for_spans(service, where=ok, count=count, timeout=timeout, start_us=start_us,
                          limit=limit, operation=operation)
    time.sleep(2.5)
    spans = [s for s in jaeger.spans(service, start_us=start_us, limit=limit, operation=operation)
             if ok(s)]
    return sorted(spans, key=lambda s: s.start_us)


def describe(spans):
    return [(s.name, s.tags.get("db.query.text"), s.tags.get("db.response.status_code"))
            for s in spans]


# (command as typed, operation = span name, sanitized text, namespace, error code or None)
SESSION = [
    ("SET user:1 alice", "SET", "SET ? ?", "0", None),
    ("GET user:1", "GET", "GET ?", "0", None),
    ("LPUSH user:1 x", "LPUSH", "LPUSH ? ?", "0", "WRONGTYPE"),
    ("SELECT 3", "SELECT", "SELECT ?", "0", None),
    ("SET k v", "SET", "SET ? ?", "3", None),
    ("MULTI", "MULTI", "MULTI", "3", None),
    ("INCR counter", "INCR", "INCR ?", "3", None),
    ("HSET h f v", "HSET", "HSET ? ? ?", "3", None),
    ("EXEC", "EXEC", "EXEC", "3", None),
    ("FOOBAR x", "FOOBAR", "FOOBAR ?", "3", "ERR"),
    ("CONFIG GET maxmemory", "CONFIG GET", "CONFIG GET ?", "3", None),
    ("PING", "PING", "PING", "3", None),
]
# redis-cli reading commands from stdin first asks the server for its command docs (hints).
CLI_PREAMBLE = [(None, "COMMAND DOCS", "COMMAND DOCS", "0", None)]


def check_session(spans, rows, srv: RedisServer, client: bool):
    assert [s.name for s in spans] == [r[1] for r in rows], describe(spans)
    for s, (_, op, text, ns, err) in zip(spans, rows):
        t = s.tags
        assert t["db.system.name"] == "redis", s
        assert t["db.operation.name"] == op, s
        assert t["db.query.text"] == text, s
        assert t["db.namespace"] == ns, s
        if err:
            assert s.is_error, s
            assert t["db.response.status_code"] == err and t["error.type"] == err, s
        else:
            assert not s.is_error, s
            assert "db.response.status_code" not in t, s
        assert t["server.port"] == srv.port, s
        assert t["network.peer.address"] == "127.0.0.1", s
        if client:
            assert t["server.address"] == "127.0.0.1", s
    execs = [s for s in spans if s.name == "EXEC"]
    assert execs and execs[0].tags["db.response.returned_rows"] == 2  # INCR and HSET results
    # the transaction is the conventions' batch: two commands sent since MULTI; no other
    # span is one
    assert execs[0].tags.get("db.operation.batch.size") == 2, execs[0]
    assert all("db.operation.batch.size" not in s.tags for s in spans if s.name != "EXEC")


def test_cli_session_client_and_server_spans(jaeger, sonde, redis_server, test_start_us):
    """A scripted redis-cli session of 12 commands (a WRONGTYPE error, an unknown command,
    SELECT 3, MULTI/EXEC, a two-word CONFIG GET): with redis-cli's own COMMAND DOCS, 13 CLIENT
    spans on redis-cli and the same 13 SERVER spans on redis-server, with their attributes."""
    srv = redis_server
    sonde("--port", str(srv.port))
    cli = name("redis-cli")
    res = srv.cli(stdin="\n".join(r[0] for r in SESSION) + "\n", service_name=cli)
    assert "WRONGTYPE" in res.stdout and "unknown command" in res.stdout, res.stdout
    rows = CLI_PREAMBLE + SESSION
    client = db_spans(jaeger, cli, len(rows), test_start_us, "client")
    check_session(client, rows, srv, client=True)
    server = db_spans(jaeger, srv.service, len(rows), test_start_us, "server", port=srv.port)
    check_session(server, rows, srv, client=False)
    for c, s in zip(client, server):
        # the server's time for each command lies within the client's (loopback skew aside)
        assert s.start_us >= c.start_us - 1000 and s.duration_us <= c.duration_us + 1000
        # both ends traced on this host: the server span is the child of the client span
        assert s.trace_id == c.trace_id and s.parent_id == c.span_id, (c.name, s.name)


def resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def test_pipe_pipeline_pairs_each_command(jaeger, sonde, redis_server, test_start_us):
    """redis-cli --pipe sends 10 commands (SET and LPUSH on a string key, which fails) and its
    ECHO marker in one go: 11 spans on each end, each paired with its own reply (the LPUSHes,
    and only they, are WRONGTYPE errors)."""
    srv = redis_server
    srv.cli("SET", "str", "x")
    sonde("--port", str(srv.port))
    cli = name("redis-pipe")
    cmds = b"".join(resp("SET", f"p:{i}", str(i)) if i % 2 == 0 else resp("LPUSH", "str", "y")
                    for i in range(10))
    r = subprocess.run(["redis-cli", "-p", str(srv.port), "--pipe"], input=cmds,
                       capture_output=True, env=harness._env(cli, None), timeout=30)
    assert b"errors: 5, replies: 10" in r.stdout, r.stdout
    for kind, service in (("client", cli), ("server", srv.service)):
        spans = db_spans(jaeger, service, 11, test_start_us, kind, port=srv.port)
        # one write holds them all: same start, so Jaeger cannot order them; count them
        assert sorted(s.name for s in spans) == ["ECHO"] + ["LPUSH"] * 5 + ["SET"] * 5, \
            describe(spans)
        for s in spans:
            assert s.is_error == (s.name == "LPUSH"), describe(spans)
            if s.is_error:
                assert s.tags["db.response.status_code"] == "WRONGTYPE"
        assert [s.tags["db.query.text"] for s in spans if s.name == "ECHO"] == ["ECHO ?"]


def test_long_pipeline_is_honest(jaeger, sonde, redis_server, test_start_us):
    """A pipeline of 400 commands (13 KB) is more than the kernel captures (a Redis
    connection's I/O is recorded up to 4 KiB): the commands seen get spans paired with their own
    replies, the others none, and no reply is given to the wrong command (SET never an error,
    LPUSH always one). A command whose reply the record of the client's read cut off before its
    first byte is incomplete (error.type connection_closed), never paired with another's."""
    srv = redis_server
    srv.cli("SET", "str", "x")
    sonde("--port", str(srv.port))
    cli = name("redis-longpipe")
    n = 400
    cmds = b"".join(resp("SET", f"p:{i}", str(i)) if i % 2 == 0 else resp("LPUSH", "str", "y")
                    for i in range(n))
    r = subprocess.run(["redis-cli", "-p", str(srv.port), "--pipe"], input=cmds,
                       capture_output=True, env=harness._env(cli, None), timeout=30)
    assert b"errors: 200, replies: 400" in r.stdout, r.stdout
    for kind, service in (("client", cli), ("server", srv.service)):
        # at least the first captured I/O's worth of commands
        spans = db_spans(jaeger, service, 10, test_start_us, kind, port=srv.port)
        ops = [s for s in spans if s.name in ("SET", "LPUSH")]
        assert 10 <= len(ops) < n, describe(spans)
        cut = [s for s in ops if s.tags.get("error.type") == "connection_closed"]
        assert len(cut) <= 1, describe(cut)
        wrong = [s for s in ops if s not in cut and s.is_error != (s.name == "LPUSH")]
        assert not wrong, describe(wrong)
        print(f"{kind}: {len(ops)} of {n} pipelined commands have spans, "
              f"{len(spans) - len(ops)} others: {sorted({s.name for s in spans} - {'SET', 'LPUSH'})}")
        # the commands seen are a prefix of the pipeline: as many LPUSH as SET, give or take one
        sets = sum(s.name == "SET" for s in ops)
        assert 0 <= sets - (len(ops) - sets) <= 1, describe(ops)


def test_benchmark_exact_counts(jaeger, sonde, redis_server, test_start_us):
    """redis-benchmark -t set,get -n N -c 4 gives exactly N SET and N GET CLIENT spans on the
    benchmark and as many SERVER spans on redis-server; what else it sends (CONFIG GET before
    the runs) is only those commands."""
    srv = redis_server
    n = 1000
    sonde("--port", str(srv.port))
    bench = name("redis-bench")
    srv.benchmark("-t", "set,get", "-n", str(n), "-c", "4", "-q", service_name=bench)
    for kind, service in (("client", bench), ("server", srv.service)):
        for op in ("SET", "GET"):
            spans = db_spans(jaeger, service, n, test_start_us, kind, limit=n + 200,
                             operation=op, timeout=60, port=srv.port)
            assert len(spans) == n, (kind, op, len(spans))
            assert all(s.tags["db.query.text"] == ("SET ? ?" if op == "SET" else "GET ?")
                       and not s.is_error for s in spans)
    others = [s for s in jaeger.spans(bench, start_us=test_start_us, limit=3 * n)
              if s.service == bench and s.name not in ("SET", "GET")]
    print("redis-benchmark's other commands:", sorted({s.name for s in others}), len(others))
    assert {s.name for s in others} <= {"CONFIG GET"}, describe(others)


SUBSCRIBER = r"""
import sys, redis
port, want, proto = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(host="127.0.0.1", port=port, protocol=proto)
p = r.pubsub()
p.subscribe("news")
got = 0
while got < want:
    m = p.get_message(timeout=10)
    if m is None:
        break
    if m["type"] == "message":
        got += 1
    elif m["type"] == "subscribe":
        print("READY", flush=True)
print("GOT", got, flush=True)
p.close()
"""


@pytest.mark.parametrize("proto", [2, 3])
def test_pubsub_messages_make_no_spans(jaeger, sonde, redis_server, test_start_us, proto):
    """A redis-py subscriber (RESP2, then RESP3 where messages are pushes) receives 300
    published messages: its connection gives one SUBSCRIBE span (besides the client's own
    set-up commands) and nothing for the messages; the publisher's 300 PUBLISH each get one."""
    srv = redis_server
    sonde("--port", str(srv.port))
    sub_name, pub_name = name("redis-sub"), name("redis-pub")
    m = 300
    sub = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(srv.port), str(m), str(proto)],
                           stdout=subprocess.PIPE, text=True, env=harness._env(sub_name, None))
    try:
        assert sub.stdout.readline().strip() == "READY"
        pub = "".join(f"PUBLISH news message-{i}\n" for i in range(m))
        srv.cli(stdin=pub, service_name=pub_name)
        assert sub.stdout.readline().strip() == f"GOT {m}"
        assert sub.wait(timeout=10) == 0
    finally:
        if sub.poll() is None:
            sub.kill()
    # redis-py's own commands when it connects (HELLO 3 with RESP3; the others Redis 7.0
    # refuses as unknown subcommands, and redis-py goes on)
    setup = {"HELLO", "CLIENT SETINFO", "CLIENT MAINT_NOTIFICATIONS"}
    subs = db_spans(jaeger, sub_name, 1, test_start_us, "client",
                    where=lambda s: s.name == "SUBSCRIBE")
    assert len(subs) == 1 and not subs[0].is_error
    assert subs[0].tags["db.query.text"] == "SUBSCRIBE ?"
    everything = [s for s in jaeger.spans(sub_name, start_us=test_start_us, limit=1000)
                  if s.service == sub_name]
    assert {s.name for s in everything} <= setup | {"SUBSCRIBE"}, describe(everything)
    assert len(everything) <= 5, describe(everything)
    pubs = db_spans(jaeger, pub_name, m, test_start_us, "client",
                    where=lambda s: s.name == "PUBLISH")
    assert len(pubs) == m
    # the server's side: one SUBSCRIBE, m PUBLISH, nothing for the messages it pushed
    server = db_spans(jaeger, srv.service, m + 1, test_start_us, "server", port=srv.port,
                      where=lambda s: s.name in ("PUBLISH", "SUBSCRIBE"))
    assert sum(s.name == "SUBSCRIBE" for s in server) == 1
    assert sum(s.name == "PUBLISH" for s in server) == m


def test_n_plus_one_endpoint(jaeger, sonde, redis_server, tmp_path, test_start_us):
    """An uninstrumented redis-py web app whose /users endpoint runs SMEMBERS then one HGETALL
    per user (N = 8): N+1 Redis CLIENT spans from the app, in order, each the child of the
    endpoint's SERVER span. The app connected before sonde started: the decoder picks up the
    open connection at its next command."""
    srv = redis_server
    n = 8
    for i in range(1, n + 1):
        srv.cli("HSET", f"user:{i}", "name", f"user{i}", "plan", "free")
    srv.cli("SADD", "users", *[str(i) for i in range(1, n + 1)])
    app_name = name("redis-app")
    app = harness._start_printing_port(
        "redis-app", [sys.executable, str(APP), "--port", "0", "--redis-port", str(srv.port)],
        tmp_path / "app", harness._env(app_name, None))
    try:
        sonde("--port", str(srv.port), "--port", str(app.port))
        out = harness.curl(f"{app.url}/users").stdout
        assert out.count('"name"') == n, out
        spans = db_spans(jaeger, app_name, n + 1, test_start_us, "client")
        assert [s.name for s in spans] == ["SMEMBERS"] + ["HGETALL"] * n, describe(spans)
        assert [s.tags["db.query.text"] for s in spans] == ["SMEMBERS ?"] + ["HGETALL ?"] * n
        http = jaeger.wait_for_spans(app_name, where=lambda s: s.kind == "server",
                                     start_us=test_start_us)
        assert len(http) == 1 and http[0].name == "GET /users", http
        for s in spans:
            assert s.trace_id == http[0].trace_id and s.parent_id == http[0].span_id, s
            assert http[0].start_us <= s.start_us
            assert s.start_us + s.duration_us <= http[0].start_us + http[0].duration_us + 1000
    finally:
        app.stop()


def test_redis_py_pipeline(jaeger, sonde, redis_server, tmp_path, test_start_us):
    """A redis-py pipeline of 10 INCR (sent as one write of INCRBY key 1, 460 bytes) from the
    app: 10 INCRBY spans, each ended by its own reply, on both ends. Then one of 30 (1380
    bytes, more than the 512 a record of another protocol holds): a Redis connection's I/O is
    recorded whole up to 4 KiB (capture policy STREAM), so all 30 get spans, and the 10
    after."""
    srv = redis_server
    app_name = name("redis-app")
    app = harness._start_printing_port(
        "redis-app", [sys.executable, str(APP), "--port", "0", "--redis-port", str(srv.port)],
        tmp_path / "app", harness._env(app_name, None))
    try:
        sonde("--port", str(srv.port))
        assert '"n": 10' in harness.curl(f"{app.url}/pipeline?n=10").stdout
        for kind, service in (("client", app_name), ("server", srv.service)):
            spans = db_spans(jaeger, service, 10, test_start_us, kind, port=srv.port,
                             where=lambda s: s.name == "INCRBY")
            assert len(spans) == 10 and not any(s.is_error for s in spans)
            assert {s.tags["db.query.text"] for s in spans} == {"INCRBY ? ?"}
        mid_us = harness.now_us()
        assert '"n": 30' in harness.curl(f"{app.url}/pipeline?n=30").stdout
        assert '"n": 10' in harness.curl(f"{app.url}/pipeline?n=10").stdout
        for kind, service in (("client", app_name), ("server", srv.service)):
            spans = db_spans(jaeger, service, 30 + 10, mid_us, kind, port=srv.port,
                             where=lambda s: s.name == "INCRBY")
            assert len(spans) == 40, (kind, len(spans))
            assert not any(s.is_error for s in spans)
    finally:
        app.stop()
    assert srv.cli("GET", "pipeline:counter").stdout.strip() == "50"


def test_inline_commands_raw_query_text(jaeger, sonde, redis_server, test_start_us):
    """Inline commands typed as in telnet and a RESP command, with --db-query raw: the spans'
    text is the command as sent, its arguments quoted."""
    srv = redis_server
    sonde("--port", str(srv.port), "--db-query", "raw")
    client_name = name("redis-telnet")
    script = (
        "import sys, socket, time\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "for c in [b'PING\\r\\n', b'set greeting hello\\r\\n', b'get greeting\\r\\n',\n"
        "          b'*3\\r\\n$3\\r\\nSET\\r\\n$3\\r\\na b\\r\\n$1\\r\\nc\\r\\n']:\n"
        "    s.sendall(c); time.sleep(0.2); print(s.recv(100))\n")
    r = subprocess.run([sys.executable, "-c", script, str(srv.port)], capture_output=True,
                       text=True, env=harness._env(client_name, None), timeout=30)
    assert r.stdout.split() == ["b'+PONG\\r\\n'", "b'+OK\\r\\n'", "b'$5\\r\\nhello\\r\\n'",
                                "b'+OK\\r\\n'"], r.stdout
    spans = db_spans(jaeger, client_name, 4, test_start_us, "client")
    assert [s.name for s in spans] == ["PING", "SET", "GET", "SET"], describe(spans)
    assert [s.tags["db.query.text"] for s in spans] == [
        "PING", 'set "greeting" "hello"', 'get "greeting"', 'SET "a b" "c"']


def test_huge_reply_ends_with_its_run(jaeger, sonde, redis_server, test_start_us):
    """LRANGE of a 20000-element list (about 200 kB, far more than the capture) on one
    redis-cli connection, then GET: the LRANGE span ends with the reply's last byte and the GET
    after it is paired with its own reply, on both ends."""
    srv = redis_server
    for i in range(0, 20000, 2000):
        srv.cli("RPUSH", "big", *[f"element-{j}" for j in range(i, i + 2000)])
    srv.cli("SET", "after", "v")
    sonde("--port", str(srv.port))
    cli = name("redis-big")
    res = srv.cli(stdin="LRANGE big 0 -1\nGET after\n", service_name=cli)
    assert res.stdout.splitlines()[-1] == "v" and "element-19999" in res.stdout
    for kind, service in (("client", cli), ("server", srv.service)):
        spans = db_spans(jaeger, service, 3, test_start_us, kind, port=srv.port)
        assert [s.name for s in spans] == ["COMMAND DOCS", "LRANGE", "GET"], describe(spans)
        lrange, get = spans[1], spans[2]
        assert lrange.tags["db.response.returned_rows"] == 20000
        assert not lrange.is_error and not get.is_error
        # the reply ended before the GET was sent
        assert lrange.start_us + lrange.duration_us <= get.start_us + 1000


def test_garbage_and_broken_clients_make_no_bogus_spans(jaeger, sonde, redis_server,
                                                         test_start_us):
    """Random bytes, an HTTP request sent to Redis and a client that hangs up in the middle of
    a large reply: no Redis span for the first two, one LRANGE span for the third (an error:
    its connection closed mid-reply), and sonde keeps decoding the next client."""
    srv = redis_server
    srv.cli("RPUSH", "big", *[f"element-{j}" for j in range(5000)])
    sonde_proc = sonde("--port", str(srv.port))
    rnd = random.Random(4)
    garbage_name, http_name, quitter_name, ok_name = (name("redis-garbage"), name("redis-http"),
                                                      name("redis-quitter"), name("redis-ok"))
    blob = bytes(rnd.randrange(256) for _ in range(8192))
    script = (
        "import sys, socket, time\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "s.sendall(bytes.fromhex(sys.argv[2])); time.sleep(0.3); s.close()\n")
    subprocess.run([sys.executable, "-c", script, str(srv.port), blob.hex()], check=True,
                   env=harness._env(garbage_name, None), timeout=30)
    harness.curl(f"http://127.0.0.1:{srv.port}/", service_name=http_name, check=False,
                 timeout=3)
    quitter = (
        "import sys, socket\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "s.sendall(b'*4\\r\\n$6\\r\\nLRANGE\\r\\n$3\\r\\nbig\\r\\n$1\\r\\n0\\r\\n$2\\r\\n-1\\r\\n')\n"
        "print(len(s.recv(100)))\n"
        "s.close()\n")
    r = subprocess.run([sys.executable, "-c", quitter, str(srv.port)], capture_output=True,
                       text=True, env=harness._env(quitter_name, None), timeout=30)
    assert int(r.stdout) > 0
    srv.cli("PING", service_name=ok_name)
    ok = db_spans(jaeger, ok_name, 1, test_start_us, "client")
    assert [s.name for s in ok] == ["PING"] and not ok[0].is_error
    quit_spans = db_spans(jaeger, quitter_name, 1, test_start_us, "client")
    assert [s.name for s in quit_spans] == ["LRANGE"], describe(quit_spans)
    assert quit_spans[0].is_error and quit_spans[0].tags["error.type"] == "connection_closed"
    for service in (garbage_name, http_name):
        jaeger.assert_no_spans(service, where=lambda s: "db.system.name" in s.tags,
                               wait=0.5, start_us=test_start_us)
    # the server answered only real commands: LRANGE (however it ended) and the PING
    server = [s for s in jaeger.spans(srv.service, start_us=test_start_us, limit=1000)
              if s.service == srv.service and s.kind == "server" and "db.system.name" in s.tags
              and s.tags.get("server.port") == srv.port]
    assert sorted(s.name for s in server) == ["LRANGE", "PING"], describe(server)
    assert sonde_proc.running


MONITOR_CLIENT = r"""
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
assert s.recv(5) == b"+OK\r\n"
print("READY", flush=True)
want, buf = int(sys.argv[2]), b""
deadline = time.monotonic() + 20
while buf.lower().count(b'"incr"') < want and time.monotonic() < deadline:
    buf += s.recv(65536)
print("SAW", buf.lower().count(b'"incr"'), flush=True)
s.close()
"""


def test_monitor_feed_makes_no_spans(jaeger, sonde, redis_server, test_start_us):
    """A MONITOR client watches 200 commands of another client: one MONITOR span for it and
    nothing for the feed (each line a simple string the server pushes), while the other
    client's 200 INCR each get their span."""
    srv = redis_server
    sonde("--port", str(srv.port))
    mon_name, worker_name = name("redis-monitor"), name("redis-worker")
    n = 200
    mon = subprocess.Popen([sys.executable, "-c", MONITOR_CLIENT, str(srv.port), str(n)],
                           stdout=subprocess.PIPE, text=True, env=harness._env(mon_name, None))
    try:
        assert mon.stdout.readline().strip() == "READY"
        srv.cli(stdin="INCR watched\n" * n, service_name=worker_name)
        assert mon.stdout.readline().strip() == f"SAW {n}"
        assert mon.wait(timeout=10) == 0
    finally:
        if mon.poll() is None:
            mon.kill()
    spans = db_spans(jaeger, mon_name, 1, test_start_us, "client")
    assert [s.name for s in spans] == ["MONITOR"] and not spans[0].is_error, describe(spans)
    incrs = db_spans(jaeger, worker_name, n, test_start_us, "client",
                     where=lambda s: s.name == "INCR")
    assert len(incrs) == n
    server = db_spans(jaeger, srv.service, n + 1, test_start_us, "server", port=srv.port,
                      where=lambda s: s.name in ("INCR", "MONITOR"))
    assert sum(s.name == "MONITOR" for s in server) == 1
    assert sum(s.name == "INCR" for s in server) == n


@pytest.fixture(scope="module")
def java_redis():
    """java_redis(mode, port, n, service): tests/apps/java_redis (Jedis 8, Lettuce 7), built
    offline by Maven from the artifacts tests/install-deps.sh fetched into ~/.m2."""
    r = subprocess.run(["mvn", "-q", "-B", "-o", "package", "-DskipTests"], cwd=JAVA_REDIS,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    cp = f"{JAVA_REDIS}/target/classes:{JAVA_REDIS}/target/lib/*"

    def run(mode, port, n, service):
        return subprocess.run(["java", "-cp", cp, "Main", mode, str(port), str(n)],
                              capture_output=True, text=True, timeout=120,
                              env=harness._env(service, None))
    return run


@pytest.mark.parametrize("mode", ["jedis-pipeline", "lettuce"])
def test_java_clients_every_command_on_both_ends(jaeger, sonde, redis_server, java_redis, mode,
                                                 test_start_us):
    """Java's two Redis clients, uninstrumented. Jedis: a pipeline of 20 SET and 20 GET in one
    write, a MULTI/EXEC of 20 INCR, then 20 GET one at a time. Lettuce (which opens with HELLO
    3, RESP3): 20 SET and 20 GET issued at once through its async API, written as its event
    loop gathers them, then 20 GET one at a time. Every command is a span on both ends, each
    server span under the client span of the same command, none an error; the EXEC says the
    batch it ran (db.operation.batch.size)."""
    srv = redis_server
    n = 20
    svc = name(mode)
    sonde("--port", str(srv.port))
    r = java_redis(mode, srv.port, n, svc)
    assert r.returncode == 0 and r.stdout.startswith("OK "), r.stdout + r.stderr
    want = {"SET": n, "GET": 2 * n}
    if mode == "jedis-pipeline":
        want.update({"MULTI": 1, "INCR": n, "EXEC": 1})
    total = sum(want.values())
    cli = db_spans(jaeger, svc, total, test_start_us, "client", port=srv.port,
                   where=lambda s: s.name in want)
    server = db_spans(jaeger, srv.service, total, test_start_us, "server", port=srv.port,
                      where=lambda s: s.name in want)
    for spans in (cli, server):
        assert collections.Counter(s.name for s in spans) == want, describe(spans)
        assert not any(s.is_error for s in spans), describe(spans)
    by_id = {s.span_id: s for s in cli}
    assert all(s.parent_id in by_id and by_id[s.parent_id].name == s.name for s in server), \
        [(s.name, by_id.get(s.parent_id) and by_id[s.parent_id].name) for s in server][:10]
    assert len({s.parent_id for s in server}) == total
    if mode == "jedis-pipeline":
        (ex,) = [s for s in cli if s.name == "EXEC"]
        assert ex.tags.get("db.operation.batch.size") == n, ex.tags
