"""Context behind large headers: a traceparent (or B3, or Jaeger's uber-trace-id) that comes
after kilobytes of cookies, past the bytes a record carries, is still found and joined, on the
server that reads the request and on the client that sends it, whatever the server's reads
(nginx reads 1 KiB first, Go 4 KiB, Python 8 KiB, Node 64 KiB): the cookie sizes sweep the
context line across those boundaries. Past the documented bound (16 KiB into the request), or
in a body after the head, nothing is joined."""
import os
import secrets

import harness
from test_sampling import stats_now
from test_trace_chain import build_go_hop

# nginx refuses a header line over 8 KiB (400, the rest unread): the largest cookie stays below
SIZES = [600, 3000, 8000] + list(range(3990, 4110, 9)) + list(range(8050, 8175, 9))


def ids():
    return secrets.token_hex(16), secrets.token_hex(8)


def send(url, cookie, *ctx, service):
    harness.curl(url, "-o", "/dev/null", "-H", f"Cookie: c={'a' * cookie}", *ctx,
                 service_name=service)


def check_joined(jaeger, service, kind, want, start_us):
    """Every request of want (path -> (trace, parent)) has one span of kind in service, in the
    trace and under the parent its header named."""
    spans = jaeger.wait_for_spans(service, where=lambda s: s.kind == kind, count=len(want),
                                  start_us=start_us, timeout=60)
    key = "url.path" if kind == "server" else "url.full"
    got = {}
    for s in spans:
        path = "/" + s.tags[key].split("/", 3)[-1] if kind == "client" else s.tags[key]
        got.setdefault(path, []).append(s)
    wrong = []
    for path, (trace, parent) in want.items():
        found = got.get(path, [])
        if len(found) != 1 or found[0].trace_id != trace or found[0].parent_id != parent:
            wrong.append((path, [(s.trace_id, s.parent_id) for s in found]))
    assert not wrong, f"{len(wrong)} of {len(want)} {kind} spans of {service} not joined: " \
                      f"{wrong[:5]}"


def test_traceparent_behind_large_headers_is_joined(sonde, jaeger, start_py_server,
                                                    start_node_server, start_nginx, tmp_path,
                                                    test_start_us):
    tok = harness_token()
    servers = {
        "py": start_py_server(service_name=f"py-{tok}"),
        "node": start_node_server(service_name=f"node-{tok}"),
        "nginx": start_nginx(),  # named "nginx" whatever its environment says
    }
    gobin = build_go_hop(tmp_path)
    servers["go"] = harness._start_printing_port("go_hop", [str(gobin)], tmp_path / "go",
                                                 harness._env(f"go-{tok}", None))
    try:
        # --propagation off: a server span cannot take curl's span as its parent through the
        # connection, so what it joins comes from the header alone
        agent = sonde("--propagation", "off")
        for name, srv in servers.items():
            want = {}
            for i, size in enumerate(SIZES):
                path = f"/api/users/{i}"
                trace, parent = ids()
                want[path] = (trace, parent)
                send(srv.url + path, size, "-H", f"traceparent: 00-{trace}-{parent}-01",
                     service=f"curl-{name}-{tok}")
            check_joined(jaeger, f"{name}-{tok}" if name != "nginx" else "nginx",
                         "server", want, test_start_us)
            # curl's own client spans carry the context it sent, behind the same cookies
            check_joined(jaeger, f"curl-{name}-{tok}", "client", want, test_start_us)
        st = stats_now(agent)
        assert st["ctx_behind"] >= 2 * len(SIZES) * len(servers), st
        assert st["head_finds"] >= st["ctx_behind"] // 2, st
    finally:
        servers["go"].stop()


def test_b3_and_uber_trace_id_behind_large_headers(sonde, jaeger, start_py_server,
                                                   test_start_us):
    tok = harness_token()
    srv = start_py_server(service_name=f"py-{tok}")
    sonde("--propagation", "off")
    want = {}
    for i, size in enumerate([100, 3000, 8000]):
        trace, parent = ids()
        want[f"/api/users/{i}"] = (trace, parent)
        send(f"{srv.url}/api/users/{i}", size, "-H", f"uber-trace-id: {trace}:{parent}:0:1",
             service=None)
        trace, parent = ids()
        want[f"/api/users/{10 + i}"] = (trace, parent)
        send(f"{srv.url}/api/users/{10 + i}", size, "-H", f"uber-trace-id: {trace}%3A{parent}"
             "%3A0%3A1", service=None)
        trace, parent = ids()
        want[f"/api/users/{20 + i}"] = (trace, parent)
        send(f"{srv.url}/api/users/{20 + i}", size, "-H", f"X-B3-TraceId: {trace}",
             "-H", f"X-B3-SpanId: {parent}", "-H", "X-B3-Sampled: 1", service=None)
        trace, parent = ids()
        want[f"/api/users/{30 + i}"] = (trace, parent)
        send(f"{srv.url}/api/users/{30 + i}", size, "-H", f"b3: {trace}-{parent}-1",
             service=None)
    check_joined(jaeger, f"py-{tok}", "server", want, test_start_us)


def test_traceparent_behind_a_large_http2_header_block(sonde, jaeger, start_nginx,
                                                      test_start_us):
    """HTTP/2 (nginx, clear text, curl --http2-prior-knowledge): the kernel records a whole
    header block up to 8 KiB, so a 6 KB cookie (random hex: HPACK's Huffman code keeps about
    three quarters) and the traceparent after it are decoded."""
    tok = harness_token()
    ng = start_nginx(http2=True)
    sonde("--propagation", "off")
    want = {}
    for i, size in enumerate([600, 3000, 6000]):
        trace, parent = ids()
        want[f"/api/items/{tok}/{i}"] = (trace, parent)
        harness.curl(f"{ng.url}/api/items/{tok}/{i}", "--http2-prior-knowledge", "-o",
                     "/dev/null", "-H", f"Cookie: c={secrets.token_hex(size // 2)}", "-H",
                     f"traceparent: 00-{trace}-{parent}-01", service_name=f"curl-{tok}")
    check_joined(jaeger, "nginx", "server", want, test_start_us)
    check_joined(jaeger, f"curl-{tok}", "client", want, test_start_us)


def test_context_past_the_bound_or_in_a_body_is_not_joined(sonde, jaeger, start_py_server,
                                                           test_start_us):
    tok = harness_token()
    srv = start_py_server(service_name=f"py-{tok}")
    agent = sonde("--propagation", "off")
    trace, parent = ids()
    # 17 KB of cookie: the traceparent lies past the 16 KiB the kernel searches
    send(f"{srv.url}/api/users/1", 17000, "-H", f"traceparent: 00-{trace}-{parent}-01",
         service=None)
    # a head of 1.5 KB then a body whose bytes look like a traceparent line
    body = "x" * 100 + f"\r\ntraceparent: 00-{trace}-{parent}-01\r\n" + "y" * 3000
    harness.curl(f"{srv.url}/echo", "-o", "/dev/null", "-H", f"Cookie: c={'a' * 1500}",
                 "-H", "Content-Type: text/plain", "--data-binary", body, service_name=None)
    spans = jaeger.wait_for_spans(f"py-{tok}", where=lambda s: s.kind == "server", count=2,
                                  start_us=test_start_us, timeout=60)
    assert len(spans) == 2, spans
    for s in spans:
        assert s.trace_id != trace and s.parent_id is None, s
    st = stats_now(agent)
    assert st["ctx_behind"] == 0, st
    assert st["parse_errors"] == 0, st


def harness_token() -> str:
    return "c" + secrets.token_hex(4)
