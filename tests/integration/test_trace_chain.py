"""One trace across three uninstrumented services on this host, with no header injected.

    load (Python, 50 threads) -> py_server (Python threading) -> node_server (Node.js) -> nginx

Every request carries its number k in its path at every hop (/hop/k, /api/items/<tok>/k), so a
span's place in the tree can be checked against the request it belongs to: a wrong parent puts
a span under another request's span, and shows. Links come from the connection (a server span
is the child of the client span at the other end of its connection, both ends being traced
here) and from the thread (a call made by the thread serving a request is its child). Node.js
serves every request on one thread: there the call goes to the request whose read woke the
thread last before the call was decided (its request, the answer to an earlier call of it, or
for a new connection the read before its connect). Every edge, Node's included, must be right
for at least 99% of the requests; the figures are written to build/test-results.
"""
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

import harness
import redisutil
import uprobe_links

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "tests" / "apps" / "py_load.py"
RESULTS = ROOT / "build" / "test-results"


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def chain_urls(py, node, ng, tok, k):
    nginx_url = f"{ng.url}/api/items/{tok}/{k}"
    node_url = f"{node.url}/hop/{k}?next={quote(nginx_url, safe='')}"
    return f"{py.url}/hop/{k}?next={quote(node_url, safe='')}", node_url, nginx_url


def collect(jaeger, services, start_us, limit):
    """Every span of the traces of these services, once each."""
    seen = {}
    for svc in services:
        for s in jaeger.spans(svc, limit=limit, start_us=start_us):
            seen[s.span_id] = s
    return list(seen.values())


def hop_spans(spans, tok, py, node, ng, k):
    """The six spans of request k, by role; None where missing (or duplicated)."""
    py_url, node_url, nginx_url = chain_urls(py, node, ng, tok, k)
    # url.full carries no query unless --export-query
    py_url, node_url = py_url.split("?")[0], node_url.split("?")[0]

    def one(pred):
        found = [s for s in spans if pred(s)]
        return found[0] if len(found) == 1 else None

    return {
        "load": one(lambda s: s.kind == "client" and s.tags.get("url.full") == py_url),
        "py_server": one(lambda s: s.kind == "server" and s.service == f"py-{tok}"
                         and s.tags.get("url.path") == f"/hop/{k}"),
        "py_client": one(lambda s: s.kind == "client" and s.tags.get("url.full") == node_url),
        "node_server": one(lambda s: s.kind == "server" and s.service == f"node-{tok}"
                           and s.tags.get("url.path") == f"/hop/{k}"),
        "node_client": one(lambda s: s.kind == "client" and s.tags.get("url.full") == nginx_url),
        "nginx": one(lambda s: s.kind == "server" and s.service == "nginx"
                     and s.tags.get("url.path") == f"/api/items/{tok}/{k}"),
    }


# (child, parent, how the link is made)
EDGES = [
    ("py_server", "load", "connection"),
    ("py_client", "py_server", "thread (Python threading server)"),
    ("node_server", "py_client", "connection"),
    ("node_client", "node_server", "thread (Node.js event loop)"),
    ("nginx", "node_client", "connection"),
]


def edge_ok(h, child, parent):
    c, p = h[child], h[parent]
    return bool(c and p and c.trace_id == p.trace_id and c.parent_id == p.span_id)


def start_chain(start_py_server, start_node_server, start_nginx, tok):
    ng = start_nginx()
    node = start_node_server(service_name=f"node-{tok}")
    py = start_py_server(service_name=f"py-{tok}")
    return py, node, ng


def test_curl_through_three_services_is_one_trace(sonde, jaeger, start_py_server,
                                                   start_node_server, start_nginx,
                                                   test_start_us):
    tok = token()
    py, node, ng = start_chain(start_py_server, start_node_server, start_nginx, tok)
    sonde()
    py_url, _, _ = chain_urls(py, node, ng, tok, 1)
    r = harness.curl(py_url, service_name=f"curl-{tok}")
    assert r.returncode == 0 and "hop 1 200" in r.stdout, r.stdout + r.stderr

    nginx = jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                                  start_us=test_start_us, timeout=30)
    trace = jaeger.wait_for_trace(nginx[0].trace_id, count=6, timeout=30)
    assert len(trace) == 6, [(s.service, s.kind, s.name) for s in trace]
    h = hop_spans(trace, tok, py, node, ng, 1)
    h["load"] = next((s for s in trace if s.service == f"curl-{tok}"), None)
    assert h["load"] and h["load"].kind == "client" and h["load"].parent_id is None
    for child, parent, how in EDGES:
        assert edge_ok(h, child, parent), (
            f"{child} is not the child of {parent} ({how}): "
            + repr([(s.service, s.kind, s.name, s.span_id, s.parent_id) for s in trace]))


def test_fifty_in_flight_traces_are_complete(sonde, jaeger, start_py_server, start_node_server,
                                             start_nginx, test_start_us, tmp_path):
    tok = token()
    n = 500
    py, node, ng = start_chain(start_py_server, start_node_server, start_nginx, tok)
    sonde()
    urls = tmp_path / "urls"
    urls.write_text("".join(chain_urls(py, node, ng, tok, k)[0] + "\n" for k in range(n)))
    r = subprocess.run([sys.executable, str(LOAD), "--concurrency", "50", "--urls-file", str(urls)],
                       capture_output=True, text=True, timeout=300,
                       env=harness._env(f"load-{tok}", None))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["errors"], out["errors"][:5]
    assert len(out["statuses"]) == n and set(out["statuses"].values()) == {200}

    jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                          count=n, limit=5000, start_us=test_start_us, timeout=90)
    # A client span ends with its response's last byte; on a kept-alive connection the kernel
    # summarizes the response, and the last one is known only once the connection has been
    # quiet for --idle-close-ms: wait for the clients' spans too, not only nginx's.
    for svc in (f"py-{tok}", f"node-{tok}"):
        jaeger.wait_for_spans(svc, where=lambda s: s.kind == "client", count=n, limit=5000,
                              start_us=test_start_us, timeout=30)
    spans = collect(jaeger, [f"load-{tok}", f"py-{tok}", f"node-{tok}", "nginx"],
                    test_start_us, limit=5000)
    hops = [hop_spans(spans, tok, py, node, ng, k) for k in range(n)]
    missing = {role: sum(1 for h in hops if h[role] is None) for role in hops[0]}
    if any(missing.values()):
        # say which: a missing span and a duplicated one mean different bugs
        nginx_urls = [chain_urls(py, node, ng, tok, k)[2] for k in range(n)]
        node_calls = {}
        for s in spans:
            if s.kind == "client" and s.tags.get("url.full") in nginx_urls:
                node_calls.setdefault(s.tags["url.full"], []).append(
                    (s.span_id, s.duration_us, s.tags.get("error.type")))
        odd = {k: node_calls.get(nginx_urls[k]) for k, h in enumerate(hops)
               if h["node_client"] is None}
        raise AssertionError(f"spans missing or duplicated, by role: {missing}; "
                             f"node calls of those requests: {dict(list(odd.items())[:5])}")

    ok = {child: sum(edge_ok(h, child, parent) for h in hops) for child, parent, _ in EDGES}
    complete = sum(all(edge_ok(h, c, p) for c, p, _ in EDGES) for h in hops)
    thread_per_request = sum(all(edge_ok(h, c, p) for c, p, _ in EDGES if c != "node_client")
                             for h in hops)
    by_id = {s.span_id: s for s in spans}
    wrong = []
    for k, h in enumerate(hops):
        for child, parent, _ in EDGES:
            if not edge_ok(h, child, parent):
                p = by_id.get(h[child].parent_id)
                wrong.append({"k": k, "edge": f"{child}->{parent}",
                              "linked_to": (p.service, p.kind, p.tags.get("url.path") or
                                            p.tags.get("url.full")) if p else None,
                              "after_parent_start_us": h[child].start_us - h[parent].start_us})
    figures = {"requests": n, "in_flight": 50, "edges_correct": ok, "complete_traces": complete,
               "complete_except_node_thread_link": thread_per_request,
               "wrong_links": wrong[:40]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trace_chain.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("trace chain figures:", json.dumps(figures), file=sys.stderr)

    # connections, thread-per-request and the event loop: at least 99% right
    for child, parent, how in EDGES:
        assert ok[child] >= 0.99 * n, f"{child} -> {parent} ({how}): {ok[child]}/{n} correct"
    assert thread_per_request >= 0.99 * n, figures
    assert complete >= 0.99 * n, figures


def build_go_hop(tmp_path, name="go_hop", strip=False):
    gobin = tmp_path / name
    cmd = ["go", "build", "-trimpath", "-o", str(gobin)]
    if strip:
        cmd += ["-ldflags=-s -w"]  # no symbol table: sonde cannot place its uprobes
    r = subprocess.run(cmd + ["."], cwd=ROOT / "tests" / "apps" / "go_hop", capture_output=True,
                       text=True, timeout=300,
                       env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
                            "CGO_ENABLED": "0",
                            "PATH": os.environ.get("PATH", "") + ":/usr/local/go/bin"})
    assert r.returncode == 0, r.stderr
    return gobin


def test_go_calls_are_children_of_their_requests(sonde, jaeger, start_nginx, test_start_us,
                                                 tmp_path):
    """Goroutines move between threads, so a Go program's calls are linked by goroutine: the
    kernel reports the g of each I/O (Go keeps it in a register), and an http.Client call,
    which Go's writeLoop goroutine writes for the handler, is tied back to the handler by two
    uprobes (persistConn.roundTrip and Request.write) on the executable. Under 50 requests in
    flight through a Go net/http service that calls nginx, every call is the child of its own
    request's server span, and the connection links on both sides hold. The uprobes are put
    on the executable when sonde sees its first connection: the warm-up request goes first."""
    tok = token()
    n = 300
    gobin = build_go_hop(tmp_path)
    ng = start_nginx()
    go = harness._start_printing_port("go_hop", [str(gobin)], tmp_path / "go",
                                      harness._env(f"go-{tok}", None))
    try:
        sonde()
        harness.curl(f"{go.url}/hop/warmup?next={quote(f'{ng.url}/', safe='')}", "-o", "/dev/null")
        time.sleep(0.5)
        harness.run_load(tmp_path, tok, [f"{go.url}/hop/{k}?next={quote(f'{ng.url}/api/items/{tok}/{k}', safe='')}"
                                 for k in range(n)], 50)
        jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                              count=n, limit=5000, start_us=test_start_us, timeout=90)
        spans = collect(jaeger, [f"load-{tok}", f"go-{tok}", "nginx"], test_start_us, limit=5000)
    finally:
        go.stop()
    by_id = {s.span_id: s for s in spans}
    go_server = {s.tags["url.path"]: s for s in spans
                 if s.service == f"go-{tok}" and s.kind == "server" and "/hop/" in s.tags["url.path"]
                 and s.tags["url.path"] != "/hop/warmup"}
    go_client = [s for s in spans if s.service == f"go-{tok}" and s.kind == "client"
                 and f"/{tok}/" in s.tags.get("url.full", "")]
    nginx = [s for s in spans if s.service == "nginx" and f"/{tok}/" in s.tags.get("url.path", "")]
    assert len(go_server) == n and len(go_client) == n and len(nginx) == n
    right = wrong = 0
    for c in go_client:
        k = c.tags["url.full"].rsplit("/", 1)[1]
        parent = by_id.get(c.parent_id)
        if parent is go_server.get(f"/hop/{k}") and c.trace_id == parent.trace_id:
            right += 1
        elif c.parent_id is not None:
            wrong += 1
    figure = f"Go net/http calls under their own request, 50 in flight: {right}/{n} ({wrong} wrong)"
    print(figure)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "linking-go.txt").write_text(figure + "\n")
    assert wrong == 0, figure
    assert right >= 0.99 * n, figure
    for s in nginx:
        parent = by_id.get(s.parent_id)
        assert parent in go_client and parent.tags["url.full"].endswith(s.tags["url.path"])
    for path, s in go_server.items():
        parent = by_id.get(s.parent_id)
        assert parent and parent.service == f"load-{tok}" and parent.tags["url.full"].endswith(path)


def uprobe_files(sonde_pid, with_programs=False):
    """The files sonde_pid has entry uprobes on (one entry per uprobe), or with with_programs,
    (file, BPF program name) pairs."""
    probes = [(f, prog) for f, prog, _, ret in uprobe_links.uprobes_of(sonde_pid) if not ret]
    return probes if with_programs else [f for f, _ in probes]


def wait_probes(sonde_pid, exe, last, timeout=15):
    """The names of sonde's programs on exe, sorted, once the one it attaches last is there:
    sonde attaches a file's probes one after the other, so the first one in place says nothing
    of the rest (a request sent then could miss them). The last symbol has a probe per RET:
    the list must also be the same at two polls in a row."""
    seen = [None]

    def attached():
        progs = sorted(p for f, p in uprobe_files(sonde_pid, with_programs=True) if f == exe)
        done = last in progs and progs == seen[0]
        seen[0] = progs
        return progs if done else None
    return harness.poll_until(attached, timeout, what=f"sonde's uprobes on {exe} up to {last}")


def metric(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return int(line.split()[-1])
    raise AssertionError(f"{name}{labels} not in /metrics:\n{text}")


def test_go_program_started_after_sonde_gets_its_uprobes_at_exec(sonde, jaeger, start_nginx,
                                                                test_start_us, tmp_path):
    """A Go program started after sonde gets its net/http uprobes from the exec hook, before it
    makes any connection: sonde's uprobes on its executable are there while it has not served
    a byte, /metrics and the stats line count them, and its very first request's client call is
    already the child of that request's server span (without the exec hook, the uprobes came at
    its first connection, too late for that request). Once it exits, the next sweep detaches
    them."""
    tok = token()
    gobin = build_go_hop(tmp_path, "go_hop_exec")
    ng = start_nginx()
    port = harness.free_port()
    agent = sonde("--metrics-addr", f"127.0.0.1:{port}", "--tls")
    go = harness._start_printing_port("go_hop_exec", [str(gobin)], tmp_path / "go",
                                      harness._env(f"goexec-{tok}", None))
    exe = os.readlink(f"/proc/{go.proc.pid}/exe")  # sonde attaches through the file's path
    try:
        # roundTrip and Request.write; with --tls, crypto/tls Read and Write, a probe per RET
        progs = wait_probes(agent.pid, exe, "sonde_gotls_hs_ret")
        assert progs.count("sonde_go_round_trip") == 1, progs
        assert progs.count("sonde_go_request_write") == 1, progs
        assert progs.count("sonde_gotls_read") == 1 and progs.count("sonde_gotls_write") == 1, progs
        assert progs.count("sonde_gotls_ret") >= 2, progs
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        lab = '{target="go-net/http"}'
        assert metric(text, "sonde_uprobes_attached_total", lab) >= 1
        assert metric(text, "sonde_uprobes_files", lab) >= 1
        harness.curl(f"{go.url}/hop/first?next={quote(f'{ng.url}/api/items/{tok}/first', safe='')}",
                     "-o", "/dev/null", service_name=f"goexec-client-{tok}")
        jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                              count=1, start_us=test_start_us, timeout=60)
        spans = collect(jaeger, [f"goexec-{tok}"], test_start_us, limit=100)
    finally:
        go.stop()
    server = [s for s in spans if s.service == f"goexec-{tok}" and s.kind == "server"
              and s.tags.get("url.path") == "/hop/first"]
    client = [s for s in spans if s.service == f"goexec-{tok}" and s.kind == "client"
              and s.tags.get("url.full", "").endswith(f"/api/items/{tok}/first")]
    assert len(server) == 1 and len(client) == 1, spans
    assert client[0].parent_id == server[0].span_id, (client[0], server[0])
    assert client[0].trace_id == server[0].trace_id
    # gone: detached at the next sweep (every 10 s)
    harness.poll_until(lambda: exe not in uprobe_files(agent.pid), 30,
                       what=f"sonde's uprobes on {exe} detached after the program exited")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert metric(text, "sonde_uprobes_detached_total", '{target="go-net/http"}') >= 1
    assert agent.stop() == 0
    line = [l for l in agent.stderr().splitlines()
            if l.startswith("sonde: stats (exit): uprobes=go-net/http ")]
    assert len(line) == 1, agent.stderr()[-3000:]
    assert re.search(r" uprobe_attached=[1-9]", line[0]) and re.search(r" uprobe_detached=[1-9]",
                                                                       line[0]), line[0]
    assert "libbpf" not in agent.stderr()


def test_go_database_calls_by_goroutine(sonde, jaeger, test_start_us, tmp_path):
    """A call a Go handler writes itself (as database drivers do: here a Redis GET over a pooled
    connection) is linked by goroutine alone, uprobes or not: the binary is stripped, so
    sonde cannot place them (and says so), and the calls go out under their requests all the
    same, 50 in flight."""
    tok = token()
    n = 300
    rs = redisutil.start_redis(tmp_path / "redis", service_name=f"redis-{tok}")
    gobin = build_go_hop(tmp_path, "go_hop_stripped", strip=True)
    go = harness._start_printing_port("go_hop_stripped", [str(gobin)], tmp_path / "go",
                                      harness._env(f"godb-{tok}", None))
    try:
        proc = sonde("--db-query", "raw")
        harness.run_load(tmp_path, tok, [f"{go.url}/db/{tok}k{k}?redis=127.0.0.1:{rs.port}"
                                 for k in range(n)], 50)
        spans = jaeger.wait_for_spans(f"godb-{tok}", where=lambda s: s.kind == "client",
                                      count=n, limit=5000, start_us=test_start_us, timeout=90)
        spans = collect(jaeger, [f"godb-{tok}"], test_start_us, limit=5000)
    finally:
        go.stop()
        rs.stop()
    by_id = {s.span_id: s for s in spans}
    server = {s.tags["url.path"]: s for s in spans
              if s.service == f"godb-{tok}" and s.kind == "server"}
    client = [s for s in spans if s.service == f"godb-{tok}" and s.kind == "client"]
    assert len(server) == n and len(client) == n
    right = 0
    for c in client:
        assert c.tags["db.system.name"] == "redis" and c.name == "GET"
        parent = by_id.get(c.parent_id)
        assert parent is not None and parent.kind == "server", c
        # the parent is the request that asked for this key, and the call lies inside it
        key = c.tags["db.query.text"].split()[1].strip('"')
        assert parent.tags["url.path"] == f"/db/{key}", (c.tags["db.query.text"], parent)
        assert parent.start_us <= c.start_us
        assert c.start_us + c.duration_us <= parent.start_us + parent.duration_us + 100
        right += 1
    keys = sorted(server)
    assert keys == sorted(f"/db/{tok}k{k}" for k in range(n))
    assert "net/http client calls are not linked" in proc.stderr()
    assert "libbpf" not in proc.stderr()  # sonde says it, once, in its own words
    print(f"Go Redis calls under a request, 50 in flight: {right}/{n}")


def test_work_handed_to_new_threads_stays_in_its_trace(sonde, jaeger, start_py_server,
                                                       test_start_us, tmp_path):
    """A handler that starts worker threads for its calls and waits for them (py_server's
    /spawn): the kernel reports each thread creation of a traced process, and a thread created
    while its creator serves a request serves it too. 100 requests, 20 in flight, two workers
    each: every worker's call must be the child of its own request's server span, and the
    downstream server span the child of that call. A pool's thread made on demand serves later
    requests that are not its creator's: those calls (/pool) must never get a wrong parent."""
    tok = token()
    down = start_py_server(service_name=f"down-{tok}")
    up = start_py_server(service_name=f"up-{tok}")
    sonde()
    n, workers = 100, 2
    harness.run_load(tmp_path, tok, [f"{up.url}/spawn/{k}?next={quote(f'{down.url}/api/users/{k}', safe='')}"
                             f"&n={workers}" for k in range(n)], 20)
    want = n * workers
    jaeger.wait_for_spans(f"down-{tok}", where=lambda s: s.kind == "server", count=want,
                          limit=5000, start_us=test_start_us, timeout=60)
    jaeger.wait_for_spans(f"up-{tok}", where=lambda s: s.kind == "client", count=want, limit=5000,
                          start_us=test_start_us, timeout=30)
    spans = collect(jaeger, [f"up-{tok}", f"down-{tok}"], test_start_us, limit=5000)
    servers = {s.tags.get("url.path"): s for s in spans
               if s.service == f"up-{tok}" and s.kind == "server"}
    calls = [s for s in spans if s.service == f"up-{tok}" and s.kind == "client"]
    downs = {s.parent_id: s for s in spans if s.service == f"down-{tok}" and s.kind == "server"}
    assert len(servers) == n and len(calls) == want, (len(servers), len(calls))
    right, wrong = 0, []
    for c in calls:
        k = c.tags["url.full"].split("/api/users/")[1].split("/")[0]
        srv = servers.get(f"/spawn/{k}")
        if srv and c.trace_id == srv.trace_id and c.parent_id == srv.span_id:
            right += 1
        elif c.parent_id:
            wrong.append((k, c.parent_id))
    downstream_linked = sum(1 for c in calls if c.span_id in downs
                            and downs[c.span_id].trace_id == c.trace_id)
    figures = {"requests": n, "in_flight": 20, "worker_calls": want, "under_own_request": right,
               "wrong_parent": len(wrong), "downstream_linked": downstream_linked}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "thread_handoff.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("thread hand-off figures:", json.dumps(figures), file=sys.stderr)
    assert not wrong, wrong[:5]
    assert right >= 0.99 * want, figures
    assert downstream_linked >= 0.99 * want, figures

    # A shared pool: its two threads are made by the first requests that need them, then
    # serve every later request; sequential requests, so no request's work can land on a thread
    # while the thread's creator is still serving another one.
    t0 = harness.now_us()
    for k in range(10):
        r = harness.curl(f"{up.url}/pool/{k}?next={quote(f'{down.url}/api/users/{9000 + k}', safe='')}",
                         service_name=f"curl-{tok}")
        assert r.returncode == 0 and f"pool {k} 200" in r.stdout, r.stdout + r.stderr
    jaeger.wait_for_spans(f"down-{tok}", where=lambda s: "/api/users/90" in s.tags.get("url.path", ""),
                          count=10, limit=5000, start_us=t0, timeout=60)
    jaeger.wait_for_spans(f"up-{tok}", where=lambda s: "/api/users/90" in s.tags.get("url.full", ""),
                          count=10, limit=5000, start_us=t0, timeout=30)
    spans = collect(jaeger, [f"up-{tok}"], t0, limit=5000)
    servers = {s.span_id: s for s in spans if s.kind == "server"}
    pool_calls = [s for s in spans if s.kind == "client" and "/api/users/90" in s.tags.get("url.full", "")]
    assert len(pool_calls) == 10, len(pool_calls)
    for c in pool_calls:
        k = int(c.tags["url.full"].rsplit("/", 1)[1]) - 9000
        p = servers.get(c.parent_id)
        assert p is None or p.tags.get("url.path") == f"/pool/{k}", (k, p.tags.get("url.path"))


def test_asyncio_calls_never_get_another_requests_parent(sonde, jaeger, start_nginx,
                                                         test_start_us, tmp_path):
    """Python asyncio (aiohttp on one event loop, its client's shared keep-alive pool). Unlike
    Node.js, asyncio runs a request's code turns after the read that woke the loop, interleaved
    with other requests' reads, so the wake-up rules of event loops name the wrong request (they
    did for 296 of 300 calls here). For CPython, sonde links a call to a request only when that
    request is the one open on the thread; with several, the call starts a trace of its own.
    300 requests, 50 in flight, load -> aio_server -> nginx: no call under another request,
    every nginx span under its call; how many calls found their request is written to
    build/test-results (not covered: asyncio under concurrency)."""
    tok = token()
    ng = start_nginx()
    aio = harness._start_printing_port(
        "aio-server", [sys.executable, str(harness.APPS / "aio_server.py"), "--port", "0"],
        tmp_path / "aio", harness._env(f"aio-{tok}", None))
    try:
        s = sonde()
        n = 300
        urls = [f"http://127.0.0.1:{aio.port}/hop/{k}?next="
                f"{quote(f'{ng.url}/api/items/{tok}/{k}', safe='')}" for k in range(n)]
        harness.run_load(tmp_path, tok, urls, 50)
        jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                              count=n, limit=5000, start_us=test_start_us, timeout=90)
        jaeger.wait_for_spans(f"aio-{tok}", where=lambda s: s.kind == "client", count=n,
                              limit=5000, start_us=test_start_us, timeout=30)
        spans = collect(jaeger, [f"aio-{tok}", "nginx"], test_start_us, limit=5000)
        # a sequential request afterwards has the loop to itself: linked
        r = harness.curl(f"http://127.0.0.1:{aio.port}/hop/seq?next="
                         f"{quote(f'{ng.url}/api/items/{tok}/seq', safe='')}", service_name=None)
        assert "hop seq 200" in r.stdout, r.stdout + r.stderr
        seq = jaeger.wait_for_spans(f"aio-{tok}", where=lambda x: x.kind == "client" and
                                    x.tags.get("url.full", "").endswith("/seq"),
                                    start_us=test_start_us, timeout=30)
        seq_server = jaeger.wait_for_spans(f"aio-{tok}", where=lambda x: x.kind == "server" and
                                           x.tags.get("url.path") == "/hop/seq",
                                           start_us=test_start_us, timeout=30)
        assert seq[0].parent_id == seq_server[0].span_id, (seq[0], seq_server[0])
    finally:
        aio.stop()
    servers = {x.tags.get("url.path"): x for x in spans
               if x.service == f"aio-{tok}" and x.kind == "server"}
    calls = {x.tags["url.full"].rsplit("/", 1)[1]: x for x in spans
             if x.service == f"aio-{tok}" and x.kind == "client"
             and not x.tags["url.full"].endswith("/seq")}
    nginx = {x.tags["url.path"].rsplit("/", 1)[1]: x for x in spans
             if x.service == "nginx" and f"/{tok}/" in x.tags.get("url.path", "")}
    assert len(servers) >= n and len(calls) == n, (len(servers), len(calls))
    own = {k: servers.get(f"/hop/{k}") for k in calls}
    right = sum(1 for k, c in calls.items() if own[k] and c.parent_id == own[k].span_id
                and c.trace_id == own[k].trace_id)
    wrong = [(k, c.parent_id) for k, c in calls.items() if c.parent_id and
             (not own[k] or c.parent_id != own[k].span_id)]
    downstream = sum(1 for k, c in calls.items() if k in nginx
                     and nginx[k].parent_id == c.span_id and nginx[k].trace_id == c.trace_id)
    figures = {"requests": n, "in_flight": 50, "calls_under_own_request": right,
               "calls_under_another_request": len(wrong), "calls_unlinked": n - right - len(wrong),
               "nginx_under_the_call": downstream}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "asyncio_chain.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("asyncio figures:", json.dumps(figures), file=sys.stderr)
    assert not wrong, (figures, wrong[:10])
    assert downstream == n, figures
