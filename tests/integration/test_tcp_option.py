"""TCP-option propagation (--propagation link,tcp) between two hosts that both run sonde.

Two hosts on this machine: the root network namespace and one made for the test (ip netns and a
veth pair, 10.231.7.1 <-> 10.231.7.2), so the option crosses a real IP path, not loopback. Each
host's sonde traces only its own processes (--pid): sonde A the caller in the root namespace,
sonde B the servers in the test namespace. Neither sees the other end of a connection, so the
only way their spans can join one trace is the option the caller's segments carry: B's server
span must be the child of A's client span, for HTTP and for Redis (a protocol where no header
can be injected).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import harness
import redisutil

ROOT = Path(__file__).resolve().parents[2]
NS = "sonde-tcpopt"
HOST_IP, NS_IP = "10.231.7.1", "10.231.7.2"
LOAD = ROOT / "tests" / "apps" / "py_load.py"


def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode:
        raise harness.HarnessError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


@pytest.fixture(scope="module")
def netns():
    if not harness.shutil.which("ip"):
        pytest.fail("ip (iproute2) is needed: tests/install-deps.sh test")
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "link", "del", "sonde-tcpa", check=False)
    sh("ip", "netns", "add", NS)
    try:
        sh("ip", "link", "add", "sonde-tcpa", "type", "veth", "peer", "name", "sonde-tcpb")
        sh("ip", "link", "set", "sonde-tcpb", "netns", NS)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", "sonde-tcpa")
        sh("ip", "link", "set", "sonde-tcpa", "up")
        sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{NS_IP}/30", "dev", "sonde-tcpb")
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "sonde-tcpb", "up")
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        yield NS
    finally:
        sh("ip", "link", "del", "sonde-tcpa", check=False)
        sh("ip", "netns", "del", NS, check=False)


@pytest.fixture
def ns_servers(netns, tmp_path):
    started = []

    def start(cmd, name, service_name):
        s = harness.NsServer(NS, NS_IP, cmd, tmp_path / name, service_name)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def token():
    return "o" + uuid.uuid4().hex[:7]


def attached_line(s):
    return next(line for line in s.stderr().splitlines() if harness.ATTACHED_MARKER in line)


def exit_counters(s):
    """Stop sonde; the counters of its exit statistics (tcpopt_written=..., spans=...)."""
    assert s.stop() == 0
    k = {}
    for line in s.stderr().splitlines():
        if line.startswith("sonde: stats (exit):"):
            k.update((m.group(1), int(m.group(2))) for m in re.finditer(r"(\w+)=(\d+)", line))
    return k


def start_two_hosts(sonde, caller_pids, callee_pids, tcp=True):
    """sonde A for the caller's host, sonde B for the callee's; each sees only its pids."""
    mode = "link,tcp" if tcp else "link"
    a = sonde("--propagation", mode, "--metrics-addr", "off",
              *[x for p in caller_pids for x in ("--pid", str(p))])
    b = sonde("--propagation", mode, "--metrics-addr", "off",
              *[x for p in callee_pids for x in ("--pid", str(p))])
    for s in (a, b):
        line = attached_line(s)
        assert (("propagation link,tcp" in line) if tcp else ("tcp" not in line)), line
    return a, b


def test_http_calls_join_across_hosts(sonde, jaeger, start_py_server, ns_servers, test_start_us,
                                      tmp_path):
    tok = token()
    down = ns_servers([sys.executable, str(harness.APPS / "py_server.py"), "--host", NS_IP,
                       "--port", "0"], "down", f"down-{tok}")
    up = start_py_server(service_name=f"up-{tok}")
    a, b = start_two_hosts(sonde, [up.pid], [down.pid])
    n = 60
    urls = [f"{up.url}/hop/{k}?next={quote(f'{down.url}/api/users/{k}', safe='')}"
            for k in range(n)]
    path = tmp_path / "urls"
    path.write_text("".join(u + "\n" for u in urls))
    r = subprocess.run([sys.executable, str(LOAD), "--concurrency", "10", "--urls-file", str(path)],
                       capture_output=True, text=True, timeout=300,
                       env=harness._env(f"load-{tok}", None))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["errors"] and set(out["statuses"].values()) == {200}, out["errors"][:5]

    downs = jaeger.wait_for_spans(f"down-{tok}", where=lambda s: s.kind == "server", count=n,
                                  limit=2000, start_us=test_start_us, timeout=60)
    ups = jaeger.wait_for_spans(f"up-{tok}", count=2 * n, limit=2000, start_us=test_start_us,
                                timeout=30)
    up_server = {s.tags["url.path"]: s for s in ups if s.kind == "server"}
    up_client = {s.tags["url.full"].rsplit("/", 1)[1]: s for s in ups if s.kind == "client"}
    right, problems = 0, []
    for d in downs:
        k = d.tags["url.path"].rsplit("/", 1)[1]
        c, srv = up_client.get(k), up_server.get(f"/hop/{k}")
        if (c and srv and d.trace_id == c.trace_id and d.parent_id == c.span_id
                and c.trace_id == srv.trace_id and c.parent_id == srv.span_id):
            right += 1
        else:
            problems.append((k, d.trace_id, d.parent_id, c and (c.trace_id, c.span_id)))
    print(f"tcp option, HTTP: {right}/{n} downstream server spans under their caller's client "
          f"span", file=sys.stderr)
    assert right == n, problems[:5]
    # A gave each call ids and wrote them; B read them and joined each request to its caller
    ka, kb = exit_counters(a), exit_counters(b)
    assert ka["tcpopt_requests"] >= n and ka["tcpopt_written"] >= n, ka
    assert ka["tcpopt_nospace"] == 0, ka
    assert kb["tcpopt_parsed"] >= n and kb["tcpopt_joined"] >= n, kb


def test_redis_calls_join_across_hosts(sonde, jaeger, ns_servers, test_start_us, tmp_path):
    """Redis: the server's spans (sonde B decodes RESP on redis-server's side) are the children
    of the app's Redis client spans (sonde A), through the option alone."""
    if not redisutil.redis_installed():
        pytest.fail("redis-server is needed: tests/install-deps.sh test")
    tok = token()
    port = harness.free_port()
    rdir = tmp_path / "redis"
    rdir.mkdir()
    redis_proc = subprocess.Popen(
        ["ip", "netns", "exec", NS, "redis-server", "--port", str(port), "--bind", NS_IP,
         "--save", "", "--appendonly", "no", "--dir", str(rdir), "--daemonize", "no",
         "--protected-mode", "no"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT, env=harness._env(None, None))
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = subprocess.run(["redis-cli", "-h", NS_IP, "-p", str(port), "PING"],
                               capture_output=True, text=True)
            if r.stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        users = "".join(f"HSET user:{i} name u{i}\nSADD users {i}\n" for i in range(5))
        subprocess.run(["redis-cli", "-h", NS_IP, "-p", str(port)], input=users, text=True,
                       capture_output=True, check=True)
        app = harness._start_printing_port(
            # --lazy: its connection is made after the sondes start (a connection made before
            # sonde started carries no option: sockops sees connections as they open)
            "redis-app", [sys.executable, str(harness.APPS / "redis_app.py"), "--redis-host", NS_IP,
                          "--redis-port", str(port), "--port", "0", "--lazy"], tmp_path / "app",
            harness._env(f"app-{tok}", None))
        try:
            start_two_hosts(sonde, [app.pid], [redis_proc.pid])
            for _ in range(3):
                harness.curl(f"http://127.0.0.1:{app.port}/users", service_name=None)
            # SMEMBERS and 5 HGETALL per request; the first also sets up the connection
            # (redis-py's own commands): at least 18 calls, each with its server span
            jaeger.wait_for_spans(f"app-{tok}", where=lambda s: s.kind == "client", count=18,
                                  limit=2000, start_us=test_start_us, timeout=60)
            time.sleep(2)  # the rest of them, if they came in another batch
            clients = {s.span_id: s for s in jaeger.spans(f"app-{tok}", limit=2000,
                                                          start_us=test_start_us)
                       if s.kind == "client" and s.service == f"app-{tok}"}
            # redis-server rewrites its process title over its environment: sonde names it
            # from its command (redis-server); its port tells it from other tests' servers
            servers = jaeger.wait_for_spans(
                "redis-server", where=lambda s: s.kind == "server"
                and s.tags.get("server.port") == port, count=len(clients), limit=2000,
                start_us=test_start_us, timeout=60)
            linked = [s for s in servers if s.parent_id in clients
                      and clients[s.parent_id].trace_id == s.trace_id
                      and clients[s.parent_id].name == s.name]
            print(f"tcp option, Redis: {len(linked)}/{len(servers)} server spans under the app's "
                  f"client span ({len(clients)} calls)", file=sys.stderr)
            assert len(servers) == len(clients), (len(servers), len(clients))
            assert len(linked) == len(servers), [(s.name, s.parent_id) for s in servers]
            # and the app's Redis calls are under its HTTP server spans: one trace per request
            roots = {clients[s.parent_id].parent_id for s in linked}
            assert len(roots) == 3 and None not in roots, roots
        finally:
            app.stop()
    finally:
        harness.stop_process(redis_proc)


def test_bytes_pass_untouched_and_no_sonde_at_the_other_end(sonde, jaeger, start_py_server,
                                                             ns_servers, test_start_us):
    """The option is in the TCP header only: bodies of many sizes arrive intact (SHA-256 of
    what the server echoed), also when the server's host runs no sonde to read the option
    (its kernel ignores an option it does not know)."""
    tok = token()
    down = ns_servers([sys.executable, str(harness.APPS / "py_server.py"), "--host", NS_IP,
                       "--port", "0"], "down", f"down-{tok}")
    a = sonde("--propagation", "link,tcp", "--pid", str(os.getpid()), "--metrics-addr", "off")
    assert "propagation link,tcp" in attached_line(a)
    for size in (0, 1, 1447, 1448, 65535, 65536, 1 << 20):
        body = os.urandom(size)
        req = urllib.request.Request(f"{down.url}/echo", data=body, method="POST")
        got = urllib.request.urlopen(req, timeout=30).read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), size
    k = exit_counters(a)
    assert k["tcpopt_requests"] >= 7 and k["tcpopt_written"] >= 7, k
    assert k["tcpopt_nospace"] == 0, k


def test_off_by_default_and_refused_without_socket_hooks(sonde):
    s = sonde(otlp=False)
    assert "; propagation link;" in attached_line(s), attached_line(s)
    s2 = sonde("--propagation", "link,tcp", "--hooks", "syscalls", otlp=False)
    assert "propagation link (tcp refused)" in attached_line(s2), attached_line(s2)
    assert "TCP-option propagation refused: it needs the socket tracepoints" in s2.stderr()
