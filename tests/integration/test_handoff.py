"""Work handed to threads that already exist: a Java 17 service (tests/apps/JavaHop.java,
com.sun.net.httpserver on a fixed pool of 16 threads, no tracing library) calls a Python server per
request four ways: HttpURLConnection on the handler's thread (/url), java.net.http.HttpClient's
send (/sync) and sendAsync().join() (/async), whose requests the client's own threads mostly
write, and a task of a 4-thread ExecutorService (/exec). Each call names its request
(/<route>/<k> calls /api/users/<route>-<k>), so every client span's parent is checked against the
server span it must be under.

Asserted: every call is a span, none is under a wrong request, and the calls made on the
handler's own thread are all under theirs. The share of handed-off calls under their request is
measured, not asserted: sonde follows a hand-off only to a thread the handler creates, and these
pools' threads exist already (docs/context.md says what was tried); the figures go to
build/test-results/handoff.json.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

import harness
from test_trace_chain import collect, token

RESULTS = Path(__file__).resolve().parents[2] / "build" / "test-results"
ROUTES = ("url", "sync", "async", "exec")


def start_java(tmp_path, service_name):
    java = shutil.which("java")
    if not java:
        pytest.fail("java not found: make deps installs openjdk-17-jdk-headless")
    # the source launcher compiles first: a few seconds on a busy machine
    return harness._start_printing_port(
        "java-hop", [java, str(harness.APPS / "JavaHop.java"), "--port", "0"],
        tmp_path / "java", harness._env(service_name, None), timeout=90)


def shares(spans, tok, route, n):
    """(right, wrong, none) for the n calls of route: under their own request's server span,
    under another span, or without a parent."""
    servers = {s.tags.get("url.path"): s for s in spans
               if s.service == f"java-{tok}" and s.kind == "server"}
    calls = [s for s in spans if s.service == f"java-{tok}" and s.kind == "client"
             and f"/api/users/{route}-" in s.tags.get("url.full", "")]
    assert len(calls) == n, (route, len(calls), n)
    right, wrong, none = 0, [], 0
    for c in calls:
        k = c.tags["url.full"].rsplit(f"/api/users/{route}-", 1)[1]
        srv = servers.get(f"/{route}/{k}")
        if srv and c.parent_id == srv.span_id and c.trace_id == srv.trace_id:
            right += 1
        elif c.parent_id:
            wrong.append((k, c.parent_id))
        else:
            none += 1
    return right, wrong, none


@pytest.mark.parametrize("in_flight", [10, 50])
def test_java_http_client_and_executor_hand_offs(sonde, jaeger, start_py_server, test_start_us,
                                                 tmp_path, in_flight):
    """100 requests per route, `in_flight` at a time: every call in Jaeger, none under a wrong
    request, the handler-thread calls (/url) all under their own."""
    tok = token()
    down = start_py_server(service_name=f"down-{tok}")
    agent = sonde()
    java = start_java(tmp_path, f"java-{tok}")
    n = 100
    try:
        # one request per route first: the JIT and the client's threads settle
        harness.run_load(tmp_path, tok + "w", [
            f"{java.url}/{r}/warm?next={quote(f'{down.url}/api/users/warm-{r}', safe='')}"
            for r in ROUTES], 4)
        start = harness.now_us()
        for route in ROUTES:
            harness.run_load(tmp_path, tok, [
                f"{java.url}/{route}/{k}?next="
                f"{quote(f'{down.url}/api/users/{route}-{k}', safe='')}" for k in range(n)],
                in_flight)
        want = n * len(ROUTES)
        jaeger.wait_for_spans(f"java-{tok}", where=lambda s: s.kind == "client"
                              and "/warm" not in s.tags.get("url.full", ""), count=want,
                              limit=5000, start_us=start, timeout=90)
        jaeger.wait_for_spans(f"java-{tok}", where=lambda s: s.kind == "server"
                              and "/warm" not in s.tags.get("url.path", ""), count=want,
                              limit=5000, start_us=start, timeout=60)
        spans = collect(jaeger, [f"java-{tok}"], start, limit=5000)
    finally:
        java.stop()
    figures = {"in_flight": in_flight, "requests_per_route": n}
    wrongs = {}
    for route in ROUTES:
        right, wrong, none = shares(spans, tok, route, n)
        figures[route] = {"under_own_request": right, "wrong_parent": len(wrong), "none": none}
        wrongs[route] = wrong
    assert agent.stop() == 0
    main = [l for l in agent.stderr().splitlines() if " links_thread=" in l]
    assert main, agent.stderr()[-3000:]
    stats = {k: int(v) for k, v in re.findall(r"(threads_taken_on|thread_pools|links_thread)=(\d+)", main[-1])}
    figures["sonde"] = stats
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "handoff.json"
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev[str(in_flight)] = figures
    out.write_text(json.dumps(prev, indent=2) + "\n")
    print("hand-off figures:", json.dumps(figures), file=sys.stderr)
    assert not any(wrongs.values()), wrongs
    assert figures["url"]["under_own_request"] == n, figures
