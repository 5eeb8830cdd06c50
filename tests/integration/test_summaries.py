"""HTTP/1.x response summaries (--http-responses status, the default): on a kept-alive
connection the kernel reads each final response's status line and writes no record for it.
Against real servers and clients: the spans keep their statuses and durations, both ends stay
linked, a connection pipelined later goes back to full records, and --http-responses full
records every response.
"""
import socket
import time

import harness
from harness import py_client
from test_http_spans import stats_line, token


def test_keep_alive_statuses_from_summaries(sonde, jaeger, start_py_server, test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"sum-server-{tok}")
    proc = sonde("--port", str(srv.port))
    codes = [200, 404, 500, 201, 204, 302, 200, 503] * 5
    urls = [f"{srv.url}/status/{c}?{tok}" for c in codes]
    res = py_client(urls, n=len(urls), service_name=f"sum-client-{tok}")
    assert res.statuses == codes
    server = jaeger.wait_for_spans(f"sum-server-{tok}", count=len(codes), start_us=test_start_us)
    client = jaeger.wait_for_spans(f"sum-client-{tok}", count=len(codes), start_us=test_start_us)
    assert proc.stop() == 0
    st = stats_line(proc.stderr())
    # one connection, 40 exchanges: every response after the second request is summarized on
    # both ends (the agent's request reaches the kernel a drain later: allow a few full ones)
    assert st["responses_summarized"] >= 2 * (len(codes) - 8), st
    for spans in (server, client):
        got = sorted((s.start_us, s.tags["http.response.status_code"]) for s in spans)
        assert [c for _, c in got] == codes
    by_id = {s.span_id: s for s in client}
    for s in server:
        parent = by_id.get(s.parent_id)
        assert parent is not None and parent.tags["http.response.status_code"] == \
            s.tags["http.response.status_code"]
        # the server answered inside the client's span, as the two ends saw it
        assert parent.start_us <= s.start_us + 100
        assert s.start_us + s.duration_us <= parent.start_us + parent.duration_us + 100
        assert s.is_error == (s.tags["http.response.status_code"] >= 500)
    for s in client:
        assert s.is_error == (s.tags["http.response.status_code"] >= 400)
    # the client's duration is its own clock's, summary or not
    durations = sorted(res.durations_ms)
    spans_ms = sorted(s.duration_us / 1000 for s in client)
    assert abs(durations[len(durations) // 2] - spans_ms[len(spans_ms) // 2]) < 5


def complete(data: bytes) -> int:
    """How many whole responses (Content-Length framed, as nginx sends these) data holds."""
    n = 0
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return n
        head = data[:end].decode("latin-1").lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        if len(data) < end + 4 + length:
            return n
        data = data[end + 4 + length:]
        n += 1


def exchange(s: socket.socket, payload: bytes, n: int) -> bytes:
    """Send payload, read until n whole responses came back."""
    s.sendall(payload)
    data = b""
    deadline = time.time() + 10
    while complete(data) < n:
        assert time.time() < deadline, data
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_pipelined_later_goes_back_to_full(sonde, jaeger, start_nginx, test_start_us):
    """nginx answers pipelined requests in one run (a 500 would close the connection: none
    here): after the connection was summarized, the
    first burst lets the agent see the pipelining (the kernel may summarize that burst's
    answers: the first request keeps its status), and from then on every response is whole."""
    tok = token()
    ng = start_nginx()
    proc = sonde("--port", str(ng.port))
    s = socket.create_connection(("127.0.0.1", ng.port))
    try:
        for i in range(6):
            exchange(s, f"GET /api/items/{tok}/seq{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 1)
            time.sleep(0.05)
        burst = lambda b: "".join(f"GET {p} HTTP/1.1\r\nHost: {tok}{b}\r\n\r\n"
                                  for p in (f"/api/items/{tok}/b{b}", "/notfound",
                                            f"/api/items/{tok}/c{b}"))
        exchange(s, burst(1).encode(), 3)
        time.sleep(0.3)  # the agent has asked for full records
        exchange(s, f"GET /api/items/{tok}/mid HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 1)
        time.sleep(0.05)
        exchange(s, burst(2).encode(), 3)
        time.sleep(0.05)
        exchange(s, f"GET /api/items/{tok}/last HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 1)
    finally:
        s.close()
    mine = lambda sp: tok in sp.tags.get("url.path", "") or tok in sp.tags.get("server.address", "")
    spans = jaeger.wait_for_spans("nginx", where=mine, count=14, start_us=test_start_us)
    assert proc.stop() == 0
    st = stats_line(proc.stderr())
    assert st["responses_summarized"] >= 2, st
    status = {(sp.tags["url.path"], sp.tags.get("server.address")): sp.tags.get("http.response.status_code")
              for sp in spans}
    assert len(spans) == 14, sorted(status)
    for i in range(6):
        assert status[(f"/api/items/{tok}/seq{i}", "x")] == 200
    assert status[(f"/api/items/{tok}/b1", f"{tok}1")] == 200
    # the second burst came after the switch: each response has its own status
    assert status[(f"/api/items/{tok}/b2", f"{tok}2")] == 200
    assert status[("/notfound", f"{tok}2")] == 404
    assert status[(f"/api/items/{tok}/c2", f"{tok}2")] == 200
    assert status[(f"/api/items/{tok}/mid", "x")] == 200
    assert status[(f"/api/items/{tok}/last", "x")] == 200


def test_full_responses_mode_records_every_response(sonde, jaeger, start_py_server,
                                                    test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"full-server-{tok}")
    proc = sonde("--port", str(srv.port), "--http-responses", "full")
    codes = [200, 404, 500] * 4
    res = py_client([f"{srv.url}/status/{c}?{tok}" for c in codes], n=len(codes),
                    service_name=f"full-client-{tok}")
    assert res.statuses == codes
    server = jaeger.wait_for_spans(f"full-server-{tok}", count=len(codes), start_us=test_start_us)
    assert proc.stop() == 0
    st = stats_line(proc.stderr())
    assert st["responses_summarized"] == 0, st
    assert sorted(s.tags["http.response.status_code"] for s in server) == sorted(codes)


def test_bad_http_responses_value_is_refused():
    r = harness.run_sonde("--http-responses", "some")
    assert r.returncode == 2
    assert "--http-responses" in r.stderr and "status or full" in r.stderr
