"""Trace sampling (--sample-ratio, OTEL_TRACES_SAMPLER): whole traces kept or dropped by trace id.

The rule is OpenTelemetry's consistent probability sampling: a trace is kept when the last 56
bits of its id, read big-endian, are at least (1 - ratio) * 2^56. Every process's spans of a
trace are decided alike, so a kept trace is whole and a dropped one leaves nothing. In header
propagation the W3C sampled flag sonde writes into a trace it starts follows the same rule, and
a flag that came in is passed on as it came.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid

import harness
import redisutil
from test_injection import TEST_ENV, TP_RE, App

LOAD = harness.APPS / "py_load.py"


def kept_by_rule(trace_id_hex: str, ratio: float) -> bool:
    low56 = int.from_bytes(bytes.fromhex(trace_id_hex)[9:16], "big")
    return low56 >= round((1.0 - ratio) * 2 ** 56)


def exit_stats(s: harness.SondeProcess) -> dict:
    """The counters of sonde's main exit statistics line (stops it)."""
    assert s.stop(timeout=15) == 0, harness.tail(s.stderr_path)
    line = [l for l in s.stderr().splitlines() if "stats (exit)" in l and " spans=" in l][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_whole_traces_are_kept_or_dropped_by_trace_id(sonde, jaeger, start_py_server,
                                                      start_nginx, test_start_us, tmp_path):
    """load -> py_server -> nginx, 200 requests at ratio 0.5: 4 spans each, in 3 processes."""
    tok = "t" + uuid.uuid4().hex[:7]
    n, ratio = 200, 0.5
    ng = start_nginx()
    py = start_py_server(service_name=f"py-{tok}")
    agent = sonde("--sample-ratio", str(ratio), "--port", str(py.port), "--port", str(ng.port))
    assert "traces sampled: 50%" in agent.stderr(), agent.stderr()
    urls = tmp_path / "urls"
    urls.write_text("".join(
        f"{py.url}/hop/{k}?next="
        + urllib.parse.quote(f"{ng.url}/api/items/{tok}/{k}", safe="") + "\n"
        for k in range(n)))
    r = subprocess.run([sys.executable, str(LOAD), "--concurrency", "8", "--urls-file",
                        str(urls)], capture_output=True, text=True, timeout=300,
                       env=harness._env(f"load-{tok}", None))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["errors"] and set(out["statuses"].values()) == {200}, out["errors"][:5]

    st = exit_stats(agent)  # flushes every span first
    assert st["spans"] == 4 * n, f"{st['spans']} spans assembled for {n} requests of 4 spans"
    kept_spans = st["spans"] - st["unsampled"]
    assert kept_spans % 4 == 0, st
    # 200 draws at 0.5: the standard deviation is 7.1 traces, these bounds 5 of them away
    assert 65 <= kept_spans // 4 <= 135, f"{kept_spans // 4} of {n} traces kept at {ratio}"

    def ours():
        """This test's spans: all of its two services', and nginx's on its paths."""
        seen = {}
        for svc in (f"load-{tok}", f"py-{tok}", "nginx"):
            for s in jaeger.spans(svc, limit=2000, start_us=test_start_us):
                if s.service.endswith(tok) or f"/{tok}/" in s.tags.get("url.path", ""):
                    seen[s.span_id] = s
        return list(seen.values()) if len(seen) >= kept_spans else None

    spans = harness.poll_until(ours, 60, what=f"{kept_spans} sampled spans in Jaeger")
    assert len(spans) == kept_spans, f"{len(spans)} spans in Jaeger, sonde kept {kept_spans}"

    def request_of(s):
        m = re.search(r"/(?:hop|" + tok + r")/(\d+)$",
                      s.tags.get("url.path") or s.tags.get("url.full", ""))
        return int(m.group(1))

    by_request = {}
    for s in spans:
        by_request.setdefault(request_of(s), []).append(s)
    for k, group in sorted(by_request.items()):
        roles = sorted((s.service.split("-")[0], s.kind) for s in group)
        assert roles == [("load", "client"), ("nginx", "server"), ("py", "client"),
                         ("py", "server")], f"request {k}: a partial trace was kept: {roles}"
        assert len({s.trace_id for s in group}) == 1, f"request {k}: split over traces"
        assert kept_by_rule(group[0].trace_id, ratio), (
            f"request {k}: trace {group[0].trace_id} kept, but the rule drops it")
    assert len(by_request) == kept_spans // 4


def stats_now(agent) -> dict:
    """The main statistics line sonde prints on SIGUSR1, as counters."""
    before = len(agent.stderr())
    os.kill(agent.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [l for l in agent.stderr()[before:].splitlines() if " spans=" in l]
        if lines:
            return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}
        time.sleep(0.05)
    raise AssertionError("no statistics after SIGUSR1: " + agent.stderr()[-1500:])


def test_ratio_zero_from_the_environment_sends_nothing(sonde, start_py_server):
    py = start_py_server()
    agent = sonde("--port", str(py.port), "--metrics-addr", "off", otlp=False,
                  env={"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"})
    assert "traces sampled: 0%" in agent.stderr(), agent.stderr()
    r = harness.py_client(py.url + "/", n=20)
    assert r.statuses == [200] * 20, r.statuses
    # 20 client and 20 server spans, assembled (the last ones once idle for 500 ms)
    harness.poll_until(lambda: stats_now(agent)["spans"] >= 40, 30, what="40 spans assembled")
    st = exit_stats(agent)
    assert st["spans"] == 40 and st["unsampled"] == 40, st
    assert "CLIENT" not in agent.stdout() and "SERVER" not in agent.stdout(), agent.stdout()


def test_header_flags_follow_the_rule(sonde, tmp_path):
    """curl -> up -> down, header propagation at ratio 0.5: the flags sonde writes into the trace
    it starts (curl's request) follow the rule, and the hop passes them on unchanged."""
    up, down = App(tmp_path / "up"), App(tmp_path / "down")
    try:
        s = sonde("--propagation", "link,header", "--metrics-addr", "off", "--sample-ratio",
                  "0.5", "--port", str(up.port), "--port", str(down.port), otlp=False,
                  env=TEST_ENV, testing=True)
        hop = f"{up.url}/hop?next={urllib.parse.quote(down.url + '/check')}"
        flags = []
        for _ in range(40):
            r = subprocess.run(["curl", "-sS", "--max-time", "20", hop], capture_output=True,
                               timeout=30)
            ans = json.loads(r.stdout)
            assert len(ans["tp"]) == 1 and len(ans["down"]["tp"]) == 1, ans
            first, second = TP_RE.match(ans["tp"][0]), TP_RE.match(ans["down"]["tp"][0])
            assert first and second, ans
            want = "01" if kept_by_rule(first.group(1), 0.5) else "00"
            assert first.group(3) == want, f"{ans['tp'][0]}: flags {first.group(3)}, want {want}"
            assert second.group(1) == first.group(1) and second.group(3) == first.group(3), ans
            flags.append(want)
        # 40 draws at 0.5: both outcomes (all alike: 2 in 10^12)
        assert set(flags) == {"00", "01"}, flags
        st = exit_stats(s)
        assert st["unsampled"] > 0, st
    finally:
        up.stop()
        down.stop()


def test_database_operations_are_sampled_with_their_client(sonde, jaeger, tmp_path,
                                                            test_start_us):
    """redis-benchmark against redis-server, both ends traced, at ratio 0.5: a server span takes
    its client span's trace (the two ends' n-th commands are linked) before the sampler
    decides, so a command is kept on both ends or on neither."""
    if not redisutil.redis_installed():
        raise AssertionError("redis-server/redis-tools missing (tests/install-deps.sh test)")
    srv = redisutil.start_redis(tmp_path / "redis", service_name=None)
    try:
        n = 300
        agent = sonde("--sample-ratio", "0.5", "--port", str(srv.port))
        bench = "redis-bench-" + uuid.uuid4().hex[:6]
        srv.benchmark("-t", "set", "-n", str(n), "-c", "4", "-q", service_name=bench)
        st = exit_stats(agent)
    finally:
        srv.stop()
    # redis-benchmark's CONFIG GET before the run is traced too: count only SET below
    kept = st["spans"] - st["unsampled"]
    assert st["db_spans"] == st["spans"] and kept > 0, st

    def ours(service):
        return [s for s in jaeger.spans(service, start_us=test_start_us, limit=5000)
                if s.service == service and s.tags.get("server.port") == srv.port]

    def both():
        c, s = ours(bench), ours("redis-server")
        return (c, s) if len(c) + len(s) >= kept else None

    client, server = harness.poll_until(both, 60, what=f"the {kept} sampled spans in Jaeger")
    assert len(client) + len(server) == kept
    client = [s for s in client if s.name == "SET"]
    server = [s for s in server if s.name == "SET"]
    # 300 draws at 0.5: the standard deviation is 8.7 commands, these bounds 5 of them away
    assert 106 <= len(client) <= 194, f"{len(client)} of {n} SET commands kept at 0.5"
    by_trace = {s.trace_id: s for s in server}
    for c in client:
        assert kept_by_rule(c.trace_id, 0.5), f"{c.trace_id} kept, but the rule drops it"
        s = by_trace.pop(c.trace_id, None)
        assert s is not None and s.parent_id == c.span_id, (
            f"client span {c.span_id} kept without its server span")
    assert not by_trace, f"{len(by_trace)} server spans kept without their client span"
