"""HTTP/2 and gRPC spans, from real servers and clients, read back from Jaeger.

HTTP/2: Debian's nginx with a clear-text HTTP/2 port, driven by curl with prior knowledge.
gRPC: uninstrumented Echo servers and clients in Go (google.golang.org/grpc), Python (grpcio)
and Node (@grpc/grpc-js), tests/apps/grpc_* (grpcapps.py starts them). Every test starts
sonde after the servers and before the clients, so each connection is seen from its preface:
the kernel then walks its frames from the first byte (capture policy H2_FRAMES).
"""
from __future__ import annotations

import collections
import json
import subprocess
import threading
import time
import uuid

import pytest

import grpcapps
import harness
from test_http_spans import stats_line

KINDS = ("go", "py", "node")
METHOD = "sonde.test.Echo/Unary"


def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def go_bin(tmp_path_factory):
    return grpcapps.build_go(tmp_path_factory.mktemp("grpc-go"))


@pytest.fixture
def servers(tmp_path, go_bin):
    """servers(kind, service) -> port; all stopped (and checked to exit cleanly) at teardown."""
    started = []

    def start(kind: str, service: str) -> int:
        proc, port = grpcapps.start_server(kind, tmp_path / f"{kind}-{len(started)}",
                                           service_name=service, go_bin=go_bin)
        started.append(proc)
        return port
    yield start
    grpcapps.stop_servers(started)


def client(kind, port, method, count, concurrency, go_bin, service, **kw):
    return grpcapps.run_client(kind, port, method, count, concurrency, service_name=service,
                               go_bin=go_bin, **kw)


def exactly(jaeger, service, count, start_us, where=None, timeout=60):
    """The spans of service matching where, once count are there, and 2.5 s later (a surplus
    would show)."""
    def ok(s):
        return s.service == service and (where is None or where(s))
    try:
        jaeger.wait_for_spans(service, where=ok, count=count, timeout=timeout,
                              start_us=start_us, limit=5000)
    except AssertionError as e:
        # which ones came tells a lost request from a lost connection
        found = [(s.name, s.kind, s.tags.get("url.path"), s.tags.get("network.protocol.version"))
                 for s in jaeger.spans(service, start_us=start_us, limit=5000) if ok(s)]
        raise AssertionError(f"{e}; found: {found[:40]}") from None
    time.sleep(2.5)
    spans = [s for s in jaeger.spans(service, start_us=start_us, limit=5000) if ok(s)]
    assert len(spans) == count, [(s.name, s.kind, s.tags) for s in spans][:10]
    return sorted(spans, key=lambda s: s.start_us)


def rpc(method=METHOD, code="OK"):
    return lambda s: s.name == method and s.tags.get("rpc.method") == method and \
        s.tags.get("rpc.response.status_code") == code


def test_nginx_h2c_every_request_is_a_span(sonde, jaeger, start_nginx, test_start_us):
    ng = start_nginx(http2=True)
    sonde()
    base = f"http://127.0.0.1:{ng.port}"
    urls = [f"{base}/api/items/{i}" for i in range(10)] + [f"{base}/notfound"]
    for u in urls:  # one connection each (curl 7.88 fails reusing a prior-knowledge one)
        r = harness.curl(u, "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}")
        assert r.stdout == "2"
    # h2load: 200 requests on one connection, 10 streams in flight, interleaved
    r = subprocess.run(["h2load", "-n", "200", "-c", "1", "-m", "10", f"{base}/api/items/h2load"],
                       capture_output=True, text=True, timeout=120,
                       env=harness._env("h2load", None))
    assert "200 succeeded" in r.stdout, r.stdout + r.stderr
    srv = exactly(jaeger, "nginx", 211, test_start_us,
                  where=lambda s: s.tags.get("server.port") == ng.port and s.kind == "server")
    ok = [s for s in srv if s.tags.get("http.response.status_code") == 200]
    assert len(ok) == 210
    assert all(s.name == "GET /api/items/{id}" or s.name == "GET /api/items/h2load" for s in ok)
    assert all(s.tags["network.protocol.version"] == "2" and s.tags["url.scheme"] == "http"
               for s in ok)
    nf = [s for s in srv if s.tags.get("http.response.status_code") == 404]
    assert [s.tags["url.path"] for s in nf] == ["/notfound"] and not nf[0].is_error
    curls = exactly(jaeger, "curl", 11, test_start_us,
                    where=lambda s: s.tags.get("server.port") == ng.port and s.kind == "client")
    assert sorted(s.tags["url.full"] for s in curls) == sorted(urls)
    h2l = exactly(jaeger, "h2load", 200, test_start_us,
                  where=lambda s: s.tags.get("server.port") == ng.port and s.kind == "client")
    assert all(s.tags["url.full"] == f"{base}/api/items/h2load" for s in h2l)
    # same host: every server span is the child of its client's span
    ids = {s.span_id for s in curls + h2l}
    assert sum(s.parent_id in ids for s in srv) == 211


def test_h2c_upgrade_from_curl(sonde, jaeger, go_bin, tmp_path, test_start_us):
    """curl --http2 to a clear-text server asks for HTTP/2 with an HTTP/1.1 Upgrade: h2c; a Go
    server (x/net/http2/h2c) answers 101 and the connection goes on in HTTP/2. The upgrade
    request is an HTTP/1.1 span whose answer is the 101; every later request on the connection
    is an HTTP/2 span, with its own status, on both ends, and linked. No connection is given
    up or counted as not HTTP."""
    t = tag()
    agent = sonde()
    srv = harness._start_printing_port("h2c", [str(go_bin), "h2c", "0"], tmp_path / "h2c",
                                       harness._env(f"h2c-{t}", None))
    try:
        base = srv.url
        urls = [f"{base}/items/1", f"{base}/items/2", f"{base}/items/3", f"{base}/status/404"]
        r = harness.curl(urls[0], "--http2", "-w", "%{http_version} %{http_code}\n", "-o",
                         "/dev/null", *sum((["-o", "/dev/null", u] for u in urls[1:]), []),
                         service_name=f"curl-{t}")
        assert r.stdout.split("\n")[:4] == ["2 200", "2 200", "2 200", "2 404"], r.stdout
        r = harness.curl(f"{base}/single", "--http2", "-w", "%{http_version}", "-o", "/dev/null",
                         service_name=f"curl-{t}")
        assert r.stdout == "2", r.stdout
        server = exactly(jaeger, f"h2c-{t}", 5, test_start_us,
                         where=lambda s: s.kind == "server")
        got = sorted((s.tags["network.protocol.version"], s.tags["url.path"],
                      s.tags["http.response.status_code"]) for s in server)
        assert got == [("1.1", "/items/1", 101), ("1.1", "/single", 101),
                       ("2", "/items/2", 200), ("2", "/items/3", 200),
                       ("2", "/status/404", 404)], got
        client = exactly(jaeger, f"curl-{t}", 5, test_start_us,
                         where=lambda s: s.kind == "client")
        assert sorted((s.tags["network.protocol.version"], s.tags["url.full"]) for s in client) \
            == sorted([("1.1", urls[0]), ("1.1", f"{base}/single")] +
                      [("2", u) for u in urls[1:]])
        ids = {s.span_id for s in client}
        assert all(s.parent_id in ids for s in server), [s.parent_id for s in server]
        assert agent.stop() == 0
        st = stats_line(agent.stderr())
        # two connections, seen from both ends
        assert st["upgraded"] == 4 and st["not_http"] == 0 and st["joined_late"] == 0, st
    finally:
        srv.stop()


@pytest.mark.parametrize("server_kind", KINDS)
def test_grpc_unary_every_client_every_server(sonde, jaeger, servers, go_bin, server_kind,
                                              test_start_us):
    t = tag()
    port = servers(server_kind, f"g-{server_kind}-srv-{t}")
    sonde()
    for ck in KINDS:
        r = client(ck, port, "Unary", 5, 1, go_bin, f"g-{ck}-cli-{t}")
        assert r["ok"] == 5, r
    srv = exactly(jaeger, f"g-{server_kind}-srv-{t}", 15, test_start_us, where=rpc())
    assert all(s.kind == "server" and s.tags["rpc.system.name"] == "grpc"
               and s.tags["network.protocol.version"] == "2" and not s.is_error for s in srv)
    for ck in KINDS:
        cli = exactly(jaeger, f"g-{ck}-cli-{t}", 5, test_start_us, where=rpc())
        assert all(s.kind == "client" and s.tags["server.port"] == port for s in cli)
        ids = {s.span_id for s in cli}
        # same-host link: five of the server's spans are this client's children
        assert sum(s.parent_id in ids for s in srv) == 5, (ck, [s.parent_id for s in srv])


@pytest.mark.parametrize("method", ["ServerStream", "ClientStream", "Bidi"])
def test_grpc_streaming_call_is_one_span(sonde, jaeger, servers, go_bin, method, test_start_us):
    t = tag()
    ports = {k: servers(k, f"gs-{k}-srv-{t}") for k in KINDS}
    sonde()
    for k, port in ports.items():
        r = client("go", port, method, 4, 2, go_bin, f"gs-go-cli-{t}")
        assert r["ok"] == 4, r
    name = f"sonde.test.Echo/{method}"
    for k in KINDS:
        exactly(jaeger, f"gs-{k}-srv-{t}", 4, test_start_us, where=rpc(name))
    exactly(jaeger, f"gs-go-cli-{t}", 12, test_start_us, where=rpc(name))


@pytest.mark.parametrize("server_kind", KINDS)
def test_grpc_status_codes_and_deadlines(sonde, jaeger, servers, go_bin, server_kind,
                                         test_start_us):
    t = tag()
    port = servers(server_kind, f"ge-{server_kind}-srv-{t}")
    sonde()
    svc_c = f"ge-py-cli-{t}"
    assert client("py", port, "Unary", 3, 1, go_bin, svc_c, payload="fail:5")["errors"] == {"5": 3}
    assert client("py", port, "Unary", 2, 1, go_bin, svc_c, payload="fail:13")["errors"] == {"13": 2}
    for ck in KINDS:
        r = client(ck, port, "Unary", 2, 1, go_bin, f"ge-{ck}-dl-{t}", payload="sleep:3000",
                   deadline_ms=300)
        assert r["errors"] == {"4": 2}, (ck, r)
    srv = f"ge-{server_kind}-srv-{t}"
    nf = exactly(jaeger, srv, 3, test_start_us, where=rpc(code="NOT_FOUND"))
    assert not any(s.is_error for s in nf)  # NOT_FOUND is the client's problem
    internal = exactly(jaeger, srv, 2, test_start_us, where=rpc(code="INTERNAL"))
    assert all(s.is_error and s.tags["error.type"] == "INTERNAL" for s in internal)
    cnf = exactly(jaeger, svc_c, 3, test_start_us, where=rpc(code="NOT_FOUND"))
    assert all(s.is_error and s.tags["error.type"] == "NOT_FOUND" for s in cnf)
    exactly(jaeger, svc_c, 2, test_start_us, where=rpc(code="INTERNAL"))
    # Each client gives up at its deadline and cancels the stream (RST_STREAM CANCEL): both
    # ends' spans say DEADLINE_EXCEEDED, as the libraries do, an error on the server too by
    # the conventions, in about 300 ms; each server span the child of its client's.
    dl = []
    for ck in KINDS:
        dl += exactly(jaeger, f"ge-{ck}-dl-{t}", 2, test_start_us,
                      where=lambda s: s.name == METHOD and s.kind == "client")
    sdl = exactly(jaeger, srv, 6, test_start_us, where=rpc(code="DEADLINE_EXCEEDED"))
    for s in dl + sdl:
        assert s.tags.get("rpc.response.status_code") == "DEADLINE_EXCEEDED", s.tags
        assert s.is_error and s.tags["error.type"] == "DEADLINE_EXCEEDED", s.tags
        assert 200_000 <= s.duration_us < 2_500_000, s.duration_us
    assert {s.parent_id for s in sdl} == {s.span_id for s in dl}


def test_grpc_channel_opened_before_sonde_is_counted_not_named(sonde, jaeger, servers, go_bin,
                                                              test_start_us):
    """A gRPC channel opened before sonde started: its header tables are unknown, so its calls
    are not decoded (a name from them could be wrong). Both ends' connections are counted as
    joined late, not as "not HTTP", and make no span; a channel opened after sonde is traced."""
    t = tag()
    port = servers("go", f"gl-srv-{t}")
    # 80 calls of 100 ms, one at a time, on one channel: sonde starts while they go on
    early = subprocess.Popen(
        grpcapps.command("go", "client", *grpcapps.client_args(port, "Unary", 80, 1, "sleep:100"),
                         go_bin=go_bin),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=harness._env(f"gl-early-{t}", None))
    try:
        time.sleep(1)
        agent = sonde()
        out, err = early.communicate(timeout=120)
    finally:
        early.kill()
    assert early.returncode == 0 and json.loads(out.strip().splitlines()[-1])["ok"] == 80, err
    r = client("go", port, "Unary", 3, 1, go_bin, f"gl-late-{t}")
    assert r["ok"] == 3, r
    exactly(jaeger, f"gl-late-{t}", 3, test_start_us, where=rpc())
    srv = exactly(jaeger, f"gl-srv-{t}", 3, test_start_us, where=lambda s: s.kind == "server")
    assert all(s.name == METHOD for s in srv), [s.name for s in srv]
    assert jaeger.spans(f"gl-early-{t}", start_us=test_start_us) == []
    assert agent.stop() == 0
    st = stats_line(agent.stderr())
    assert st["joined_late"] == 2 and st["not_http"] == 0, st


@pytest.mark.parametrize("server_kind", KINDS)
def test_grpc_50_concurrent_calls_on_one_channel(sonde, jaeger, servers, go_bin, server_kind,
                                                 test_start_us):
    t = tag()
    port = servers(server_kind, f"gc-{server_kind}-srv-{t}")
    sonde()
    r = client("go", port, "Unary", 300, 50, go_bin, f"gc-go-cli-{t}")
    assert r["ok"] == 300, r
    srv = exactly(jaeger, f"gc-{server_kind}-srv-{t}", 300, test_start_us, where=rpc())
    cli = exactly(jaeger, f"gc-go-cli-{t}", 300, test_start_us, where=rpc())
    ids = {s.span_id for s in cli}
    assert all(s.parent_id in ids for s in srv)


def test_grpc_incoming_traceparent_and_b3_are_honoured(sonde, jaeger, servers, go_bin,
                                                       test_start_us):
    """Context a gRPC client puts in its metadata (HEADERS): the server span joins that trace,
    under the client's sonde span (both ends are on this host), which is under the metadata's
    span."""
    grpc = pytest.importorskip("grpc")
    t = tag()
    port = servers("go", f"gt-go-srv-{t}")
    sonde()
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    b3_trace, b3_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary("/sonde.test.Echo/Unary")
        for _ in range(3):
            assert call(b"hello", metadata=(("traceparent", f"00-{trace}-{parent}-01"),),
                        timeout=10) == b"hello"
        assert call(b"hello", metadata=(("b3", f"{b3_trace}-{b3_span}-1"),),
                    timeout=10) == b"hello"
    spans = jaeger.wait_for_trace(trace, count=6, timeout=60)
    srv = [s for s in spans if s.service == f"gt-go-srv-{t}"]
    cli = [s for s in spans if s.kind == "client"]
    assert len(srv) == 3 and len(cli) == 3, [(s.service, s.kind, s.name) for s in spans]
    assert all(s.parent_id == parent for s in cli)
    assert sorted(s.parent_id for s in srv) == sorted(s.span_id for s in cli)
    assert all(s.name == METHOD for s in spans)
    spans = jaeger.wait_for_trace(b3_trace, count=2, timeout=60)
    srv = [s for s in spans if s.service == f"gt-go-srv-{t}"]
    cli = [s for s in spans if s.kind == "client"]
    assert len(srv) == 1 and len(cli) == 1 and cli[0].parent_id == b3_span
    assert srv[0].parent_id == cli[0].span_id


@pytest.mark.parametrize("order", [("go", "py", "node"), ("node", "go", "py"),
                                   ("go", "node", "go")])
def test_grpc_chain_across_three_runtimes(sonde, jaeger, servers, go_bin, order, test_start_us):
    """A call through three uninstrumented services in three runtimes (each calls the next
    while it serves): every hop's server span is the child of the client span that called it,
    and in grpc-go and grpc-js a service's call is the child of the request it serves, so
    that a chain without grpcio is one trace. grpcio's calls start traces of their own: its
    handlers run on a pool's threads (test_grpc_calls_made_while_serving_are_its_children)."""
    t = tag()
    ports = [servers(k, f"gh-{k}{i}-srv-{t}") for i, k in enumerate(order)]
    sonde()
    payload = "call:" + ",".join(f"127.0.0.1:{p}" for p in ports[1:])
    r = client("go", ports[0], "Unary", 5, 1, go_bin, f"gh-go-cli-{t}", payload=payload)
    assert r["ok"] == 5, r
    callers = {s.span_id: s for s in exactly(jaeger, f"gh-go-cli-{t}", 5, test_start_us,
                                             where=rpc())}
    for i, k in enumerate(order):
        srv = {s.span_id: s for s in exactly(jaeger, f"gh-{k}{i}-srv-{t}", 5, test_start_us,
                                             where=lambda s: s.kind == "server" and rpc()(s))}
        assert all(s.parent_id in callers for s in srv.values()), \
            (k, [s.parent_id for s in srv.values()])
        if i + 1 < len(order):
            callers = {s.span_id: s for s in exactly(
                jaeger, f"gh-{k}{i}-srv-{t}", 5, test_start_us,
                where=lambda s: s.kind == "client" and rpc()(s) and
                s.tags.get("server.port") == ports[i + 1])}
            if k != "py":
                assert all(c.parent_id in srv and c.trace_id == srv[c.parent_id].trace_id
                           for c in callers.values()), (k, [c.parent_id for c in callers.values()])
    if "py" not in order:
        traces = {s.trace_id for s in jaeger.spans(f"gh-go-cli-{t}", start_us=test_start_us)
                  if s.service == f"gh-go-cli-{t}"}
        assert len(traces) == 5, traces


@pytest.mark.parametrize("mid", KINDS)
def test_grpc_calls_made_while_serving_are_its_children(sonde, jaeger, servers, go_bin, mid,
                                                        test_start_us):
    """A service calls another while it serves each RPC: is each call under the request that
    made it? Five clients (10 calls in flight each, 50 in all, on one channel each) ask the
    middle service to call five different back-ends, so a call put under another client's
    request shows by its port. grpc-go hands each stream between goroutines (tied by its
    uprobes): every call is under its own request. grpc-js reads many requests in one read and
    writes their calls in one write: a call is put under a request only when its place in the
    write says which (linker__parent_in_batch), which at this load it seldom does (the share
    is printed; the chain test covers one call at a time). grpcio's handlers run on a thread
    pool's threads, which sonde does not follow: none. In every case, no call under a wrong
    request, and no request with two calls."""
    t = tag()
    backs = [servers("go", f"gw-back{i}-{t}") for i in range(5)]
    port = servers(mid, f"gw-{mid}-{t}")
    agent = sonde()
    # sonde attaches a running program's uprobes at its first connection, which takes the
    # kernel 15-20 ms (docs/tls.md): the streams of that moment are not tied. One call first,
    # then the measure.
    client("go", port, "Unary", 1, 1, go_bin, f"gw-warm-{t}", payload=f"call:127.0.0.1:{backs[0]}")
    time.sleep(1)
    test_start_us = int(time.time() * 1e6)
    results = [None] * 5

    def run(i):
        results[i] = client("go", port, "Unary", 60, 10, go_bin, f"gw-cli{i}-{t}",
                            payload=f"call:127.0.0.1:{backs[i]}")
    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(r and r["ok"] == 60 for r in results), results
    want_back = {}  # a caller's span id -> the back-end its request asked for
    for i in range(5):
        for s in exactly(jaeger, f"gw-cli{i}-{t}", 60, test_start_us, where=rpc()):
            want_back[s.span_id] = backs[i]
    srv = {s.span_id: s for s in exactly(jaeger, f"gw-{mid}-{t}", 300, test_start_us,
                                         where=lambda s: s.kind == "server" and rpc()(s))}
    assert all(s.parent_id in want_back for s in srv.values())
    calls = exactly(jaeger, f"gw-{mid}-{t}", 300, test_start_us,
                    where=lambda s: s.kind == "client" and rpc()(s))
    under = [c for c in calls if c.parent_id in srv]
    wrong = [c for c in under
             if c.tags.get("server.port") != want_back[srv[c.parent_id].parent_id] or
             c.trace_id != srv[c.parent_id].trace_id]
    per_parent = collections.Counter(c.parent_id for c in under)
    print(f"\n{mid}: {len(under)} of 300 calls under their request, {len(wrong)} wrong")
    assert not wrong, [(c.tags.get("server.port"), c.parent_id) for c in wrong][:10]
    assert max(per_parent.values(), default=0) <= 1, per_parent.most_common(3)
    assert len(under) + sum(1 for c in calls if not c.parent_id) == 300
    if mid == "go":
        assert len(under) == 300
    elif mid == "py":
        assert not under
    # Every stream the Go back-ends served (and the Go middle's) was tied to its handler
    # goroutine. A connection's first requests come in its first read, by the goroutine that
    # accepted it, whose g the next connection's often reuses: before that was told apart,
    # 10 of them could go untied, or under another connection's request.
    assert agent.stop() == 0
    served = stats_line(agent.stderr())["go_streams_served"]
    assert served >= (600 if mid == "go" else 300), served


def test_grpc_go_probes_off(sonde, jaeger, servers, go_bin, test_start_us):
    """--no-go-grpc: no uprobe on grpc-go's stream hand-offs. A Go service that calls a back-end
    while it serves each of 20 RPCs: every RPC and every call is still a span, no two calls
    under one request, and the go-grpc row is not in sonde's uprobe counters (nothing attached
    for it). The share of calls under a request is printed (0 of 20 when written)."""
    t = tag()
    back = servers("go", f"go-off-back-{t}")
    port = servers("go", f"go-off-mid-{t}")
    s = sonde("--no-go-grpc")
    r = client("go", port, "Unary", 20, 4, go_bin, f"go-off-cli-{t}",
               payload=f"call:127.0.0.1:{back}")
    assert r["ok"] == 20, r
    srv = {x.span_id: x for x in exactly(jaeger, f"go-off-mid-{t}", 20, test_start_us,
                                         where=lambda x: x.kind == "server" and rpc()(x))}
    calls = exactly(jaeger, f"go-off-mid-{t}", 20, test_start_us,
                    where=lambda x: x.kind == "client" and rpc()(x))
    exactly(jaeger, f"go-off-back-{t}", 20, test_start_us,
            where=lambda x: x.kind == "server" and rpc()(x))
    under = [c for c in calls if c.parent_id in srv]
    assert all(c.trace_id == srv[c.parent_id].trace_id for c in under), under
    assert len(collections.Counter(c.parent_id for c in under)) == len(under)
    print(f"\ngo, --no-go-grpc: {len(under)} of 20 calls under a request")
    assert s.stop() == 0
    rows = [line for line in s.stderr().splitlines() if "uprobes=" in line]
    assert rows and not any("uprobes=go-grpc " in line for line in rows), rows
    assert any("uprobes=go-net/http " in line for line in rows), rows


def test_grpc_go_without_dwarf_is_said(sonde, jaeger, go_bin, tmp_path, test_start_us):
    """A grpc-go program built with -ldflags=-w keeps its symbols but has no DWARF: where its
    stream ids sit is unknown, so sonde puts none of the go-grpc probes on it and says so, with
    the reason. Its calls are spans all the same."""
    nodwarf = grpcapps.build_go(tmp_path / "nodwarf", ldflags="-w")
    t = tag()
    proc, port = grpcapps.start_server("go", tmp_path / "srv", service_name=f"gd-srv-{t}",
                                       go_bin=nodwarf)
    try:
        s = sonde()
        r = client("go", port, "Unary", 3, 1, go_bin, f"gd-cli-{t}")
        assert r["ok"] == 3, r
        exactly(jaeger, f"gd-srv-{t}", 3, test_start_us,
                where=lambda s: s.kind == "server" and rpc()(s))
        note = harness.poll_until(
            lambda: next((line for line in s.stderr().splitlines()
                          if "uprobes go-grpc on" in line and str(proc.pid) in line), None),
            30, what="sonde's note on the go-grpc probes")
        assert "not linked to their requests" in note and "no DWARF" in note, note
    finally:
        assert grpcapps.stop_servers([proc]) == [0]
