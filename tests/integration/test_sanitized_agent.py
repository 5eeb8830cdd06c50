"""The agent itself under AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer.

build-san/sonde (make SAN=1) runs against real traffic of every kind the assembler handles:
keep-alive and one-shot connections, chunked and large bodies, requests cut by a close,
garbage bytes, pipelined requests, many short connections. At SIGTERM it frees everything; a
leak, an out-of-bounds access or undefined behaviour anywhere on the way ends the run with the
sanitizer's report, and the test fails with it.
"""
import re
import socket
import subprocess
from pathlib import Path

import pytest

import harness
from harness import curl, py_client

ROOT = Path(__file__).resolve().parents[2]
SAN_BIN = ROOT / "build-san" / "sonde"


@pytest.fixture(scope="module")
def san_binary():
    r = subprocess.run(["make", "-s", "-j2", "SAN=1", "build-san/sonde"], cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return SAN_BIN


def raw(port: int, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_agent_is_clean_under_sanitizers(san_binary, sonde, jaeger, start_py_server,
                                         start_nginx, monkeypatch):
    monkeypatch.setattr(harness, "SONDE_BIN", san_binary)
    py = start_py_server(service_name="san-py")
    ng = start_nginx()
    env = {
        # a leak, a bad access or UB stops the agent with a report and a non-zero status
        "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:exitcode=23",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    agent = sonde("--stats-interval", "0", env=env, attach_timeout=120)

    res = py_client([f"{py.url}/api/users/{i}" for i in range(200)] +
                    [f"{py.url}/chunked?n=20", f"{py.url}/big?n=300000", f"{py.url}/status/204"],
                    n=203, service_name="san-client")
    assert len(res.statuses) == 203
    py_client(f"{py.url}/echo", n=20, data="x" * 5000, service_name="san-client")
    py_client(f"{py.url}/", n=50, new_connection=True, service_name="san-client")
    for i in range(30):
        curl(f"{ng.url}/api/items/san/{i}", service_name="san-curl")
    # pipelined requests on one connection, a request cut by the close, garbage bytes
    out = raw(py.port, b"GET /api/users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /api/users/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 2
    raw(py.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
        read=False)
    raw(py.port, bytes(range(256)) * 8)
    raw(py.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 300)

    jaeger.wait_for_spans("san-py", where=lambda s: s.tags.get("url.path") == "/api/users/199",
                          timeout=60)
    rc = agent.stop(timeout=60)
    err = agent.stderr()
    reports = re.findall(r"(ERROR: (?:Address|Leak)Sanitizer.*|LeakSanitizer has encountered.*|"
                         r".*runtime error:.*)", err)
    assert not reports, "\n".join(reports[:5]) + "\n" + err[-6000:]
    assert rc == 0, err[-4000:]
    assert "sonde: stats (exit)" in err
