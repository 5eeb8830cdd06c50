"""TLS: the plaintext of HTTPS, HTTP/2 over TLS, gRPC over TLS and databases over TLS, read
from the TLS library with uprobes (bpf/tls.bpf.h), checked in Jaeger with exact counts.

sonde runs with its defaults, which read TLS (the first test says --tls, which still works;
--no-tls turns it off). Real parts: nginx with a certificate the test generates (openssl req), curl, Python
(http.client through tests/apps/py_client.py, requests), Node (https) servers and clients,
h2load, gRPC over TLS in Node (@grpc/grpc-js) and Go (grpc-go), a Go net/http server and
client, PostgreSQL with sslmode=require (psql, psycopg), MariaDB with --ssl. The TLS libraries:
the system libssl.so.3 (nginx, curl, Python, PostgreSQL, MariaDB), the copy psycopg-binary
bundles, the OpenSSL linked into the node binary, and Go's crypto/tls. Servers start before
or after sonde as each test says; clients start after it.

What must hold for each: every request is one span on each side, named and attributed as in
clear text with url.scheme https; the ciphertext of the same connections makes no span and no
error counter (not_http and parse_errors stay 0).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.parse
import uuid

import pytest

import grpcapps
import harness
import mysqlutil
import pgutil
import uprobe_links
from test_grpc import exactly
from test_http_spans import stats_line
from test_trace_chain import build_go_hop, uprobe_files, wait_probes


def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> harness.TlsFiles:
    return harness.make_tls_files(tmp_path_factory.mktemp("tls"))


def on_port(port, kind):
    return lambda s: s.tags.get("server.port") == port and s.kind == kind


def clean_stats(agent) -> dict:
    """Stop sonde; its exit statistics, checked for what ciphertext would have caused: a
    connection judged not to be HTTP, or a parse error. (framing_lost is not: the test's own
    queries to Jaeger get large chunked answers, whose framing is lost past the captures.)"""
    assert agent.stop() == 0
    st = stats_line(agent.stderr())
    assert st["not_http"] == 0 and st["parse_errors"] == 0, st
    assert st["tls_conns"] > 0 and st["tls_io"] > 0, st
    return st


def test_https_to_nginx_from_curl_python_and_node(sonde, jaeger, start_nginx, tls,
                                                  test_start_us):
    """nginx (started before sonde) over HTTPS; curl, py_client (http.client), requests and
    node_client (started after), each on one keep-alive connection."""
    t = tag()
    ng = start_nginx(tls=tls)
    agent = sonde("--tls")
    env = tls.client_env()
    urls = [f"{ng.url}/api/items/{i}" for i in range(20)]
    harness.curl(urls[0], *sum((["-o", "/dev/null", u] for u in urls[1:]), []), "-o", "/dev/null",
                 service_name=f"curl-{t}", env=env)
    r = harness.py_client(urls, n=30, service_name=f"py-{t}", env=env)
    assert r.statuses == [200] * 30
    r = harness.node_client(urls, n=30, service_name=f"node-{t}", env=env)
    assert r.statuses == [200] * 30
    script = ("import requests, sys\ns = requests.Session()\n"
              "for i in range(10):\n"
              "    assert s.get(sys.argv[1] + '/notfound').status_code == 404\n")
    subprocess.run([sys.executable, "-c", script, ng.url], check=True, timeout=60,
                   env=harness._env(f"requests-{t}", env))
    srv = exactly(jaeger, "nginx", 90, test_start_us, where=on_port(ng.port, "server"))
    assert all(s.tags["url.scheme"] == "https" and s.tags["network.protocol.version"] == "1.1"
               for s in srv)
    assert sum(s.name == "GET /api/items/{id}" and s.tags["http.response.status_code"] == 200
               for s in srv) == 80
    nf = [s for s in srv if s.tags["http.response.status_code"] == 404]
    assert len(nf) == 10 and all(s.tags["url.path"] == "/notfound" for s in nf)
    ids = set()
    for svc, n in ((f"curl-{t}", 20), (f"py-{t}", 30), (f"node-{t}", 30), (f"requests-{t}", 10)):
        cli = exactly(jaeger, svc, n, test_start_us, where=on_port(ng.port, "client"))
        assert all(s.tags["url.full"].startswith(f"https://127.0.0.1:{ng.port}/") for s in cli), \
            [s.tags["url.full"] for s in cli]
        ids |= {s.span_id for s in cli}
    # same host: each server span is the child of the client span that sent it
    assert sum(s.parent_id in ids for s in srv) == 90
    st = clean_stats(agent)
    assert st["tls_untied"] == 0, st


def probes_with_offsets(sonde_pid):
    """(file, BPF program name, file offset) of each uprobe and uretprobe of sonde_pid."""
    return [(f, prog, off) for f, prog, off, _ in uprobe_links.uprobes_of(sonde_pid)]


def instruction_at(path, offset):
    """objdump's mnemonic for the instruction at a file offset of a shared library (its text
    is mapped at the same addresses as its file offsets)."""
    r = subprocess.run(["objdump", "-d", f"--start-address={offset}",
                        f"--stop-address={offset + 16}", path],
                       capture_output=True, text=True, timeout=60, check=True)
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().rstrip(":") == f"{offset:x}":
            return parts[2].split()[0]
    raise AssertionError(f"no instruction at {offset:#x} of {path}:\n{r.stdout}")


def test_openssl_read_and_write_probes_trap_once_per_call(sonde, start_nginx, tls):
    """The kernel runs a uprobe's instruction by emulation (push, call, jmp, jcc) or by a single
    step, a second trap that costs ten times more here. This machine's libssl (gcc, no frame
    pointers) starts SSL_read and SSL_write with a SUB: the loader probes the internal
    functions they wrap instead, which start with a PUSH. Every read and write probe sonde puts
    on libssl sits on an instruction the kernel emulates (the handshake's, once per connection,
    may not); the HTTPS tests above show that the plaintext still arrives, once."""
    start_nginx(tls=tls)
    agent = sonde()
    deadline = time.monotonic() + 30
    while True:
        probes = [p for p in probes_with_offsets(agent.pid)
                  if os.path.basename(p[0]).startswith("libssl")]
        if any(name.startswith("sonde_ssl_read") for _, name, _ in probes) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.5)
    data = [p for p in probes if p[1] != "sonde_ssl_handshake" and
            not (p[1] == "sonde_ssl_ret" and any(q[1] == "sonde_ssl_handshake" and q[2] == p[2]
                                                for q in probes))]
    kinds = {name for _, name, _ in data}
    assert any(k.startswith("sonde_ssl_read") for k in kinds), probes
    assert any(k.startswith("sonde_ssl_write") for k in kinds), probes
    assert "sonde_ssl_ret" in kinds, probes
    for path, name, off in data:
        insn = instruction_at(path, off)
        assert insn in ("push", "call", "jmp") or insn.startswith("j"), (name, hex(off), insn)


def test_tls_is_read_by_default_and_no_tls_turns_it_off(sonde, start_nginx, tls):
    """Without a flag, sonde puts its probes on the system libssl (nginx maps it); with
    --no-tls, none: no TLS row in its exit statistics, no probe on libssl, and an HTTPS
    request still succeeds."""
    ng = start_nginx(tls=tls)
    agent = sonde()
    harness.poll_until(lambda: any(os.path.basename(f).startswith("libssl")
                                   for f, _, _ in probes_with_offsets(agent.pid)), 30,
                       what="sonde's probes on libssl")
    assert agent.stop() == 0
    assert "uprobes=openssl " in agent.stderr()
    agent = sonde("--no-tls")
    r = harness.curl(f"{ng.url}/", "-o", "/dev/null", "-w", "%{http_code}\n",
                     env=tls.client_env())
    assert r.stdout.split() == ["200"]
    assert not [p for p in probes_with_offsets(agent.pid)
                if os.path.basename(p[0]).startswith("libssl")]
    assert agent.stop() == 0
    assert "uprobes=openssl" not in agent.stderr() and "uprobes=go-crypto" not in agent.stderr()


@pytest.mark.parametrize("kind", ["uprobe_multi", "perf_event"])
def test_uprobe_links_of_either_kind(sonde, jaeger, start_nginx, tls, kind, test_start_us):
    """Where the kernel makes uprobe_multi links (this one does) sonde uses them, else
    perf-event links (forced here with the testing agent's SONDE_TEST_UPROBE_PERF_LINKS): the
    attach line names the kind, every uprobe sonde holds is of it, and the plaintext arrives
    the same, entry probes and uretprobes alike."""
    t = tag()
    ng = start_nginx(tls=tls)
    env = {"SONDE_TEST_UPROBE_PERF_LINKS": "1"} if kind == "perf_event" else None
    agent = sonde(testing=True, env=env)
    assert f" uprobes({kind});" in agent.stderr(), agent.stderr()
    kinds = harness.poll_until(lambda: (lambda k: k if k[kind] else None)(
        uprobe_links.link_kinds(agent.pid)), 30, what="sonde's uprobes on libssl")
    assert kinds["perf_event" if kind == "uprobe_multi" else "uprobe_multi"] == 0, kinds
    probes = probes_with_offsets(agent.pid)
    assert any(p.startswith("sonde_ssl_read") for _, p, _ in probes), probes
    assert any(p == "sonde_ssl_ret" for _, p, _ in probes), probes
    urls = [f"{ng.url}/api/items/{i}" for i in range(20)]
    harness.curl(urls[0], *sum((["-o", "/dev/null", u] for u in urls[1:]), []), "-o", "/dev/null",
                 service_name=f"curl-{t}", env=tls.client_env())
    srv = exactly(jaeger, "nginx", 20, test_start_us, where=on_port(ng.port, "server"))
    cli = exactly(jaeger, f"curl-{t}", 20, test_start_us, where=on_port(ng.port, "client"))
    assert all(s.tags["url.scheme"] == "https" for s in srv)
    assert all(s.tags["url.full"].startswith("https://") for s in cli)
    assert {s.parent_id for s in srv} == {s.span_id for s in cli}
    st = clean_stats(agent)
    assert st["tls_untied"] == 0, st


def test_https_servers_in_python_and_node_in_one_trace(sonde, jaeger, start_nginx,
                                                       start_py_server, start_node_server, tls,
                                                       test_start_us):
    """curl → Python HTTPS server → Node HTTPS server → nginx over HTTPS, the servers started
    after sonde: one trace of six spans per request, each hop under the one that called it."""
    t = tag()
    agent = sonde()
    env = tls.client_env()
    ng = start_nginx(tls=tls)
    node = start_node_server(service_name=f"node-srv-{t}", tls=tls, env=env)
    py = start_py_server(service_name=f"py-srv-{t}", tls=tls, env=env)
    # node's probes (its own OpenSSL) come at its exec: in place before the first request
    exe = os.readlink(f"/proc/{node.proc.pid}/exe")
    wait_probes(agent.pid, exe, "sonde_ssl_free")
    for i in range(5):
        inner = f"{node.url}/hop/n{i}?next=" + urllib.parse.quote(f"{ng.url}/api/items/{i}")
        url = f"{py.url}/hop/p{i}?next=" + urllib.parse.quote(inner, safe="")
        r = harness.curl(url, service_name=f"curl-{t}", env=env)
        assert r.stdout == "hop p%d 200\n" % i, r.stdout
    roots = exactly(jaeger, f"curl-{t}", 5, test_start_us, where=on_port(py.port, "client"))
    for root in roots:
        try:
            spans = jaeger.wait_for_trace(root.trace_id, count=6, timeout=60)
        except AssertionError:
            spans = jaeger.trace(root.trace_id)
            raise AssertionError(f"trace {root.trace_id}: " + ", ".join(
                f"{s.service} {s.kind} {s.name} {s.span_id} <- {s.parent_id}" for s in spans))
        by = {(s.service, s.kind): s for s in spans}
        assert len(spans) == 6 and len(by) == 6, [(s.service, s.kind, s.name) for s in spans]
        chain = [(f"curl-{t}", "client"), (f"py-srv-{t}", "server"), (f"py-srv-{t}", "client"),
                 (f"node-srv-{t}", "server"), (f"node-srv-{t}", "client"), ("nginx", "server")]
        for parent, child in zip(chain, chain[1:]):
            assert by[child].parent_id == by[parent].span_id, (parent, child)
        assert by[(f"py-srv-{t}", "server")].tags["url.scheme"] == "https"
        assert by[(f"py-srv-{t}", "client")].tags["url.full"].startswith(node.url + "/hop/")
        assert by[(f"node-srv-{t}", "client")].tags["url.full"].startswith(ng.url + "/api/")
    clean_stats(agent)


def test_keep_alive_connection_opened_before_sonde(sonde, jaeger, start_nginx, tls,
                                                   test_start_us):
    """A client's HTTPS connection made before sonde started: sonde joins it at its next
    record (application data), and every later request on it is a span on both sides."""
    t = tag()
    ng = start_nginx(tls=tls)
    script = textwrap.dedent("""
        import http.client, sys
        c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]))
        c.request("GET", "/api/items/before"); c.getresponse().read()
        print("READY", flush=True)
        sys.stdin.readline()
        for i in range(12):
            c.request("GET", "/api/items/after%d" % i)
            assert c.getresponse().read() == b'{"items":[]}'
        print("DONE", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(ng.port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env=harness._env(f"early-{t}", tls.client_env()))
    try:
        assert proc.stdout.readline() == "READY\n"
        agent = sonde()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "DONE\n"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    srv = exactly(jaeger, "nginx", 12, test_start_us, where=on_port(ng.port, "server"))
    assert sorted(s.tags["url.path"] for s in srv) == sorted(f"/api/items/after{i}"
                                                              for i in range(12))
    assert all(s.tags["url.scheme"] == "https" for s in srv)
    cli = exactly(jaeger, f"early-{t}", 12, test_start_us, where=on_port(ng.port, "client"))
    assert {s.span_id for s in cli} == {s.parent_id for s in srv}, \
        [(s.tags["url.full"], s.span_id) for s in cli] + \
        [(s.tags["url.path"], s.parent_id) for s in srv]
    clean_stats(agent)


def test_http2_over_tls_by_alpn(sonde, jaeger, start_nginx, tls, test_start_us):
    """nginx with http2 on its TLS port: curl and h2load pick h2 by ALPN; the plaintext is
    HTTP/2 (its frames walked as on h2c)."""
    t = tag()
    ng = start_nginx(tls=tls, http2=True)
    agent = sonde()
    env = tls.client_env()
    urls = [f"{ng.url}/api/items/{i}" for i in range(8)]
    r = harness.curl(urls[0], "--http2", "-w", "%{http_version}\n", "-o", "/dev/null",
                     *sum((["-o", "/dev/null", u] for u in urls[1:]), []),
                     service_name=f"curl-{t}", env=env)
    assert r.stdout.split() == ["2"] * 8, r.stdout
    r = subprocess.run(["h2load", "-n", "100", "-c", "1", "-m", "10", f"{ng.url}/api/items/h2"],
                       capture_output=True, text=True, timeout=120,
                       env=harness._env(f"h2load-{t}", env))
    assert "100 succeeded" in r.stdout and "h2" in r.stdout, r.stdout + r.stderr
    srv = exactly(jaeger, "nginx", 108, test_start_us, where=on_port(ng.port, "server"))
    assert all(s.tags["network.protocol.version"] == "2" and s.tags["url.scheme"] == "https"
               and s.tags["http.response.status_code"] == 200 for s in srv)
    cli = exactly(jaeger, f"curl-{t}", 8, test_start_us, where=on_port(ng.port, "client"))
    assert sorted(s.tags["url.full"] for s in cli) == sorted(urls)
    h2 = exactly(jaeger, f"h2load-{t}", 100, test_start_us, where=on_port(ng.port, "client"))
    ids = {s.span_id for s in cli + h2}
    assert sum(s.parent_id in ids for s in srv) == 108
    st = clean_stats(agent)
    assert st["h2_conns"] >= 4, st  # two connections, each seen from both ends


@pytest.fixture(scope="module")
def go_bin(tmp_path_factory):
    return grpcapps.build_go(tmp_path_factory.mktemp("grpc-go"))


@pytest.mark.parametrize("server_kind,client_kind", [("node", "node"), ("go", "node")])
def test_grpc_over_tls(sonde, jaeger, tmp_path, tls, go_bin, server_kind, client_kind,
                       test_start_us):
    """gRPC with TLS credentials: @grpc/grpc-js (Node's OpenSSL) against itself and a
    grpc-go server (Go's crypto/tls): 50 calls with 10 in flight on one channel, and a failing
    code. Servers start before sonde, clients after it. Not here, known bugs (docs/tls.md): a
    grpc-go client against a grpc-go server over TLS lost server spans in most runs (3 to 50
    of 53), and a Go client sonde has not seen yet connects a few milliseconds after its exec,
    before its probes are in."""
    t = tag()
    env = {"GRPC_TEST_TLS_CERT": str(tls.cert), "GRPC_TEST_TLS_KEY": str(tls.key)}
    proc, port = grpcapps.start_server(server_kind, tmp_path / "srv",
                                       service_name=f"gtls-srv-{t}", env=env, go_bin=go_bin)
    try:
        agent = sonde()
        r = grpcapps.run_client(client_kind, port, "Unary", 50, 10, env=env, go_bin=go_bin,
                                service_name=f"gtls-cli-{t}")
        assert r["ok"] == 50, r
        r = grpcapps.run_client(client_kind, port, "Unary", 3, 1, payload="fail:13", env=env,
                                go_bin=go_bin, service_name=f"gtls-cli-{t}")
        assert r["errors"] == {"13": 3}, r
        method = "sonde.test.Echo/Unary"
        srv = exactly(jaeger, f"gtls-srv-{t}", 53, test_start_us,
                      where=lambda s: s.kind == "server" and s.name == method)
        assert sum(s.tags.get("rpc.response.status_code") == "INTERNAL" for s in srv) == 3
        assert all(s.tags["rpc.system.name"] == "grpc" and
                   s.tags["network.protocol.version"] == "2" for s in srv)
        cli = exactly(jaeger, f"gtls-cli-{t}", 53, test_start_us,
                      where=lambda s: s.kind == "client" and s.name == method)
        assert {s.span_id for s in cli} == {s.parent_id for s in srv}
        clean_stats(agent)
    finally:
        grpcapps.stop_servers([proc])


def test_go_https_server_and_client(sonde, jaeger, start_nginx, tmp_path, tls, test_start_us):
    """A Go net/http server over HTTPS (Go's crypto/tls, started after sonde) reached with
    HTTP/1.1 and, by ALPN, HTTP/2; its handler calls nginx over HTTPS with http.Client. A call
    made while serving an HTTP/1.1 request is its child. (Under HTTP/2, Go's server reads and
    writes on goroutines of its own, not the handler's: that hand-off is not followed yet.)"""
    t = tag()
    agent = sonde()
    env = tls.client_env()
    ng = start_nginx(tls=tls)
    gobin = build_go_hop(tmp_path)
    go = harness._start_printing_port(
        "go_hop", [str(gobin), "-tls-cert", str(tls.cert), "-tls-key", str(tls.key)],
        tmp_path / "go", harness._env(f"go-{t}", env), tls=tls)
    try:
        # its probes come at its exec, some 20 ms later: a request sent at once could win
        exe = os.readlink(f"/proc/{go.proc.pid}/exe")
        wait_probes(agent.pid, exe, "sonde_gotls_hs_ret")
        for proto in ("--http1.1", "--http2"):
            urls = [f"{go.url}/hop/{proto[2:]}-{i}?next=" +
                    urllib.parse.quote(f"{ng.url}/api/items/{proto[2:]}-{i}", safe="")
                    for i in range(5)]
            r = harness.curl(urls[0], proto, "-w", "%{http_version}\n", "-o", "/dev/null",
                             *sum((["-o", "/dev/null", u] for u in urls[1:]), []),
                             service_name=f"curl-{t}", env=env)
            assert r.stdout.split() == [proto[6:]] * 5, r.stdout
        srv = exactly(jaeger, f"go-{t}", 10, test_start_us, where=on_port(go.port, "server"))
        assert all(s.tags["url.scheme"] == "https" for s in srv)
        assert sorted(s.tags["network.protocol.version"] for s in srv) == ["1.1"] * 5 + ["2"] * 5
        calls = exactly(jaeger, f"go-{t}", 10, test_start_us, where=on_port(ng.port, "client"))
        assert all(s.tags["url.full"].startswith(f"{ng.url}/api/items/") for s in calls)
        # each HTTP/1.1 request's call under it: the same item in both
        by_id = {s.span_id: s for s in srv}
        h1 = [c for c in calls if c.tags["url.full"].split("/")[-1].startswith("http1.1-")]
        assert len(h1) == 5
        for c in h1:
            parent = by_id.get(c.parent_id)
            assert parent is not None, c.tags["url.full"]
            assert parent.tags["url.path"].split("/")[2] == c.tags["url.full"].split("/")[-1]
        ngx = exactly(jaeger, "nginx", 10, test_start_us, where=on_port(ng.port, "server"))
        assert {s.parent_id for s in ngx} == {s.span_id for s in calls}
        # Write's plaintext goes at its entry, to the socket its handshake tied: every one tied
        st = clean_stats(agent)
        assert st["tls_untied"] == 0, st
    finally:
        go.stop()


@pytest.mark.skipif(not pgutil.available() and not os.environ.get("CI"),
                    reason="postgresql not installed (tests/install-deps.sh test)")
def test_postgres_sslmode_require(sonde, jaeger, tmp_path, tls, test_start_us):
    """PostgreSQL with ssl=on (started before sonde): psql (the system libpq and libssl,
    started after sonde) and psycopg with sslmode=require (psycopg-binary's own libpq and
    libssl copy, loaded by a Python process that started before sonde). The SSLRequest goes
    in clear, then the startup and every query in TLS."""
    t = tag()
    w = tmp_path / "pg"
    w.mkdir()
    for f in (tls.cert, tls.key):
        shutil.copy(f, w / f.name)
        shutil.chown(w / f.name, "postgres", "postgres")
        os.chmod(w / f.name, 0o600)
    srv = pgutil.PgServer.start(w, "ssl=on", f"ssl_cert_file={w / tls.cert.name}",
                                f"ssl_key_file={w / tls.key.name}")
    code = ("import psycopg, sys\n"
            "print('READY', flush=True)\n"
            "sys.stdin.readline()\n"
            "with psycopg.connect(sys.argv[1] + ' sslmode=require', autocommit=True) as c:\n"
            "    for i in range(5):\n"
            "        c.execute('SELECT id FROM items WHERE id = %s', (i,)).fetchall()\n"
            "print('DONE', flush=True)\n")
    early = subprocess.Popen([sys.executable, "-c", code, srv.dsn()], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env=harness._env(f"psycopg-{t}", None))
    try:
        assert early.stdout.readline() == "READY\n"
        agent = sonde()
        script = ("CREATE TABLE items (id int PRIMARY KEY, name text);\n"
                  "INSERT INTO items VALUES (1, 'a'), (2, 'b');\n"
                  "SELECT name FROM items WHERE id = 2;\n"
                  "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n")
        r = pgutil.psql(srv.port, script, env={"PGSSLMODE": "require",
                                               "OTEL_SERVICE_NAME": f"psql-{t}"}, check=True)
        assert r.stdout.split()[-3:] == ["t", "(1", "row)"], r.stdout  # the session was TLS
        early.stdin.write("go\n")
        early.stdin.flush()
        assert early.stdout.readline() == "DONE\n"
        db = lambda s: "db.system.name" in s.tags and s.tags.get("server.port") == srv.port
        psql = exactly(jaeger, f"psql-{t}", 4, test_start_us,
                       where=lambda s: db(s) and s.kind == "client")
        assert [s.name for s in psql] == ["CREATE items", "INSERT items", "SELECT items",
                                          "SELECT pg_stat_ssl"]
        psy = exactly(jaeger, f"psycopg-{t}", 5, test_start_us,
                      where=lambda s: db(s) and s.kind == "client" and s.name == "SELECT items")
        backends = exactly(jaeger, "postgres", 9, test_start_us,
                           where=lambda s: db(s) and s.kind == "server")
        assert {s.parent_id for s in backends} == {s.span_id for s in psql + psy}
        clean_stats(agent)
    finally:
        early.kill()
        early.wait(timeout=30)
        srv.stop()


@pytest.mark.skipif(not mysqlutil.mariadb_installed() and not os.environ.get("CI"),
                    reason="mariadb not installed (tests/install-deps.sh test)")
def test_mariadb_over_tls(sonde, jaeger, tmp_path, tls, test_start_us):
    """MariaDB offering TLS, its client with --ssl: the SSL request goes in clear, the full
    handshake response and every command in TLS."""
    t = tag()
    db = mysqlutil.start_mariadb(tmp_path / "my", tls=(tls.cert, tls.key))
    try:
        agent = sonde()
        r = db.client("--ssl", "--ssl-verify-server-cert=0", database="shop",
                      env=harness._env(f"mariadb-{t}", None),
                      sql="CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n"
                          "SELECT id FROM t;\nSHOW STATUS LIKE 'Ssl_cipher';\n")
        assert "TLS" in r.stdout, r.stdout  # the session was TLS
        on = lambda s: "db.system.name" in s.tags and s.tags.get("server.port") == db.port
        cli = exactly(jaeger, f"mariadb-{t}", 4, test_start_us,
                      where=lambda s: on(s) and s.kind == "client")
        assert [s.name for s in cli] == ["CREATE t", "INSERT t", "SELECT t", "SHOW"], \
            [s.name for s in cli]
        assert all(s.tags["db.namespace"] == "shop" for s in cli)
        srv = exactly(jaeger, "mariadbd", 4, test_start_us,
                      where=lambda s: on(s) and s.kind == "server")
        assert {s.parent_id for s in srv} == {s.span_id for s in cli}
        clean_stats(agent)
    finally:
        db.stop()


FAKE_TLS_SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0)); s.listen(16)
    print("LISTENING", s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
            if b.endswith(b"END"):
                break
        c.sendall(str(n).encode())
        c.close()
""")


def test_bad_input_around_tls(sonde, jaeger, start_nginx, tls, tmp_path, test_start_us):
    """Bad input on real sockets, one sonde for all of it:
    - clear-text HTTP on port 443 is HTTP: sonde does not judge by the port;
    - bytes that start like TLS records (a handshake header, then garbage) to a plain TCP
      server: the connection is marked TLS and no more (no span, no error counter), and the
      server gets every byte;
    - a client that stops in the middle of its first TLS record (a cut ClientHello) to nginx:
      the next HTTPS request is one span;
    - a library named like libssl without its symbols, in a process sonde traces: the openssl
      row fails on that file with a note and a count, and the process's clear-text calls are
      traced as ever."""
    t = tag()
    ng = start_nginx(tls=tls)
    # clear text on 443
    p443 = harness._start_printing_port(
        "py443", [sys.executable, str(harness.APPS / "py_server.py"), "--port", "443"],
        tmp_path / "p443", harness._env(f"p443-{t}", None))
    fake = harness._start_printing_port("faketls", [sys.executable, "-c", FAKE_TLS_SERVER],
                                        tmp_path / "fake", harness._env(f"fake-{t}", None))
    try:
        # only these servers' connections, so that the error counters are about them alone:
        # one run without --port counted not_http=1 on a connection outside them (not found)
        agent = sonde("--port", "443", "--port", str(fake.port), "--port", str(ng.port))
        r = harness.py_client(f"{p443.url}/api/users/1", n=3, service_name=f"c443-{t}")
        assert r.statuses == [200] * 3
        # TLS-looking garbage, five connections; the server counts what it got
        import socket
        for i in range(5):
            junk = (b"\x16\x03\x01\x00\x40" + os.urandom(64) + b"\x17\x03\x03\x10\x00" +
                    os.urandom(900 + i) + b"END")
            with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as c:
                c.sendall(junk)
                assert c.recv(64) == str(len(junk)).encode()
        # a ClientHello cut in the middle, then a real request
        with socket.create_connection(("127.0.0.1", ng.port), timeout=10) as c:
            c.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40))
        r = harness.curl(f"{ng.url}/api/items/7", "-o", "/dev/null", "-w", "%{http_code}",
                         env=tls.client_env(), service_name=f"curl-{t}")
        assert r.stdout == "200"
        # a libssl look-alike without SSL_read
        src = tmp_path / "fake.c"
        src.write_text("int sonde_test_not_ssl(void) { return 1; }\n")
        lib = tmp_path / "libssl-fake.so.1"
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True,
                       timeout=60)
        script = ("import ctypes, sys, time, urllib.request\nctypes.CDLL(sys.argv[1])\n"
                  "for i in range(3):\n"
                  "    assert urllib.request.urlopen(sys.argv[2]).status == 200\n"
                  "time.sleep(3)\n")
        subprocess.run([sys.executable, "-c", script, str(lib), f"{p443.url}/api/users/2"],
                       check=True, timeout=60, env=harness._env(f"fakelib-{t}", None))
        srv = exactly(jaeger, f"p443-{t}", 6, test_start_us, where=on_port(443, "server"))
        assert all(s.tags["url.scheme"] == "http" for s in srv)
        exactly(jaeger, f"fakelib-{t}", 3, test_start_us, where=on_port(443, "client"))
        exactly(jaeger, "nginx", 1, test_start_us, where=on_port(ng.port, "server"))
        assert f"fake-{t}" not in jaeger.services()
    finally:
        p443.stop()
        fake.stop()
    st = clean_stats(agent)
    assert st["tls_conns"] >= 5, st
    err = agent.stderr()
    assert "uprobes openssl on libssl-fake.so.1: No such file or directory: no SSL_read" in err, err
    line = [l for l in err.splitlines() if l.startswith("sonde: stats (exit): uprobes=openssl ")]
    assert line and int(line[0].split("uprobe_failed=")[1].split()[0]) >= 1, line
