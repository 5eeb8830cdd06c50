"""Header propagation (--propagation header): traceparent injection by sockops + sk_msg, and the
server ids the kernel assigns. Real clients (curl, Python http.client, Node, nginx proxying,
wrk) talk to tests/apps/inject_server.py, which checks every body's SHA-256 and reports every
traceparent it received; a raw TCP echo exchange checks that other bytes pass untouched.

This kernel (6.18 here) reports FIONREAD 0 for a socket in a sockhash, so sonde refuses header
mode at start (tested below). The other tests run build/sonde-testing with
SONDE_TEST_IGNORE_FIONREAD, the tests-only switch that goes past that one check, to exercise the
injection itself; none of the clients here asks FIONREAD on its outgoing connections. The
production binary reads no such switch (tested below). Every sonde here is limited with --port to the
test's own servers, so that the other tests running on this machine are never injected.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

APP = harness.APPS / "inject_server.py"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
TEST_ENV = {"SONDE_TEST_IGNORE_FIONREAD": "1"}
SIZES = [0, 1, 100, 1024, 64 * 1024, 1024 * 1024]
REQ_TIMEOUT = 20  # seconds: a request slower than this is a stall


class App:
    """tests/apps/inject_server.py: .port (HTTP), .echo_port (raw TCP echo)."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "inject_server.log"
        self.proc = subprocess.Popen([sys.executable, str(APP), "--echo-port", "0"],
                                     stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
                                     text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "LISTENING":
            harness.stop_process(self.proc)
            raise harness.HarnessError(f"inject_server did not start: {line} "
                                       f"{harness.tail(self.log)}")
        self.port, self.echo_port = int(line[1]), int(line[2])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        harness.stop_process(self.proc)


@pytest.fixture
def app(tmp_path):
    apps = []

    def start(name="app"):
        a = App(tmp_path / name)
        apps.append(a)
        return a

    yield start
    for a in apps:
        a.stop()


def header_sonde(sonde, *ports, extra=(), env=None):
    """sonde with header propagation, limited to these ports, spans to the console."""
    args = ["--propagation", "link,header", "--metrics-addr", "off", *extra]
    for p in ports:
        args += ["--port", str(p)]
    s = sonde(*args, otlp=False, env={**TEST_ENV, **(env or {})}, testing=True)
    assert "propagation link,header" in s.stderr(), s.stderr()
    return s


def body_of(n: int) -> bytes:
    return bytes((i * 131 + n) % 251 for i in range(n))


def check_answer(raw: bytes, size: int, chunked: bool | None = None) -> dict:
    ans = json.loads(raw)
    assert ans["ok"], f"checksum mismatch for {size} bytes: {ans}"
    assert ans["len"] == size, ans
    if chunked is not None:
        assert ans["chunked"] == chunked, ans
    return ans


def one_injected(ans: dict) -> re.Match:
    """Exactly one traceparent, well formed."""
    assert len(ans["tp"]) == 1, f"want exactly one traceparent, got {ans['tp']}"
    m = TP_RE.match(ans["tp"][0])
    assert m, f"malformed traceparent {ans['tp'][0]!r}"
    return m


def stats(s: harness.SondeProcess) -> dict:
    """The injection counters of the exit stats line (stops sonde)."""
    assert s.stop(timeout=15) == 0, harness.tail(s.stderr_path)
    line = [l for l in s.stderr().splitlines() if "server_ids=" in l][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def curl_post(url, body: bytes, *extra, chunked=False) -> bytes:
    args = ["curl", "-sS", "--max-time", str(REQ_TIMEOUT), "-X", "POST", "--data-binary", "@-",
            "-H", f"X-Body-Sha256: {hashlib.sha256(body).hexdigest()}", *extra, url]
    if chunked:
        args[1:1] = ["-H", "Transfer-Encoding: chunked"]
    r = subprocess.run(args, input=body, capture_output=True, timeout=REQ_TIMEOUT + 5)
    assert r.returncode == 0, f"curl failed ({r.returncode}): {r.stderr!r}"
    return r.stdout


def py_requests(url, sizes, keep_alive=True, chunked=False, headers=None) -> list[dict]:
    """http.client, one connection for all (keep-alive) or one each; answers in order."""
    import http.client
    u = urllib.parse.urlsplit(url)
    out, conn = [], None
    for size in sizes:
        if conn is None or not keep_alive:
            if conn:
                conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=REQ_TIMEOUT)
        body = body_of(size)
        h = {"X-Body-Sha256": hashlib.sha256(body).hexdigest(), **(headers or {})}
        if chunked:
            conn.request("POST", "/check", body=iter([body[i:i + 16384]
                                                      for i in range(0, len(body), 16384)]),
                         headers=h, encode_chunked=True)
        else:
            conn.request("POST", "/check", body=body, headers=h)
        r = conn.getresponse()
        assert r.status == 200, (r.status, r.read())
        out.append(check_answer(r.read(), size, chunked))
    conn.close()
    return out


# ---------------------------------------------------------------------------------------------
# start-up: the self-test and the refusal path


def test_check_and_run_agree_on_this_kernel(sonde, app):
    """--check and a real start give the same verdict; here the verdict is a refusal for the
    FIONREAD regression, and tracing goes on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDE_TEST")}
    chk = subprocess.run([str(harness.SONDE_BIN), "--check"], capture_output=True, text=True,
                         env=env, timeout=60)
    line = [l for l in chk.stdout.splitlines() if "header injection" in l]
    assert len(line) == 1, chk.stdout
    a = app()
    s = sonde("--propagation", "link,header", "--port", str(a.port), "--metrics-addr", "off",
              otlp=False)
    err = s.stderr()
    if "NOT available" in line[0]:
        assert "header injection refused" in err and "propagation link (header refused)" in err
        if "FIONREAD" in line[0]:
            assert "FIONREAD" in err
        ans = check_answer(curl_post(f"{a.url}/check", b"x"), 1)
        assert ans["tp"] == [], "refused, yet injected"
        harness.poll_until(lambda: "POST /check" in s.stdout(), 15, what="a span")
    else:
        assert "propagation link,header" in err


def test_forced_selftest_failure_refuses_and_traces_on(sonde, app):
    a = app()
    s = sonde("--propagation", "link,header", "--port", str(a.port), "--metrics-addr", "off",
              otlp=False, env={**TEST_ENV, "SONDE_TEST_FAIL_SOCKHASH_SELFTEST": "1"},
              testing=True)
    err = s.stderr()
    assert "warning: header injection refused: the self-test was made to fail" in err
    assert "propagation link (header refused)" in err
    assert "sockops" not in err.split("sonde: attached")[1].split(";")[0]
    ans = check_answer(curl_post(f"{a.url}/check", b"hello"), 5)
    assert ans["tp"] == []
    harness.poll_until(lambda: "POST /check" in s.stdout(), 15, what="a span while refused")


def test_check_reports_header_injection():
    r = harness.run_sonde("--check", env=TEST_ENV, binary=harness.SONDE_TESTING_BIN)
    assert re.search(r"header injection +works here only because SONDE_TEST_IGNORE_FIONREAD",
                     r.stdout), r.stdout


def test_production_binary_reads_no_test_switch(sonde, app):
    """build/sonde carries no SONDE_TEST_* switch: with both set, --check and a real start give
    the kernel's own verdict (here the FIONREAD refusal, with its reason), never a forced one."""
    assert b"SONDE_TEST_" not in harness.SONDE_BIN.read_bytes()
    env = {**os.environ, **TEST_ENV, "SONDE_TEST_FAIL_SOCKHASH_SELFTEST": "1"}
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SONDE_TEST")}
    chk = harness.run_sonde("--check", env=env, timeout=60)
    ref = harness.run_sonde("--check", env=plain, timeout=60)
    line = [l for l in chk.stdout.splitlines() if "header injection" in l]
    assert line == [l for l in ref.stdout.splitlines() if "header injection" in l], chk.stdout
    assert "only because" not in chk.stdout and "made to fail" not in chk.stdout
    a = app()
    s = sonde("--propagation", "link,header", "--port", str(a.port), "--metrics-addr", "off",
              otlp=False, env={**TEST_ENV, "SONDE_TEST_FAIL_SOCKHASH_SELFTEST": "1"})
    err = s.stderr()
    assert "made to fail" not in err and "ignored because" not in err, err
    if "NOT available" in line[0]:
        assert "header injection refused" in err and "propagation link (header refused)" in err
        if "FIONREAD" in line[0]:
            assert "FIONREAD is wrong for a socket in the sockhash" in err, err
        ans = check_answer(curl_post(f"{a.url}/check", b"x"), 1)
        assert ans["tp"] == [], "refused, yet injected"
    else:
        assert "propagation link,header" in err


# ---------------------------------------------------------------------------------------------
# the soak: bodies of many sizes from many clients, checksums, one traceparent each


def test_soak_curl_python_node(sonde, app, tmp_path):
    a = app()
    s = header_sonde(sonde, a.port, a.echo_port)
    n_req = 0
    # curl: a new process and connection per request, Content-Length and chunked
    for size in SIZES:
        for chunked in (False, True):
            ans = check_answer(curl_post(f"{a.url}/check", body_of(size), chunked=chunked),
                               size, chunked)
            one_injected(ans)
            n_req += 1
    # curl with a traceparent of its own: kept, untouched, alone
    mine = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ans = check_answer(curl_post(f"{a.url}/check", b"abc", "-H", f"traceparent: {mine}"), 3)
    assert ans["tp"] == [mine]
    # Python http.client: keep-alive and not, Content-Length and chunked, from 8 threads
    errors, answers = [], []

    def worker(keep_alive, chunked):
        try:
            answers.extend(py_requests(f"{a.url}/check", SIZES * 2, keep_alive, chunked))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k, c))
               for k in (True, False) for c in (False, True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(answers) == len(threads) * len(SIZES) * 2
    for ans in answers:
        one_injected(ans)
    n_req += len(answers)
    # Node's http keep-alive agent: 4 requests in flight, every size
    if shutil.which("node"):
        script = tmp_path / "node_client.js"
        script.write_text(NODE_CLIENT)
        r = subprocess.run(["node", str(script), a.url, json.dumps(SIZES * 3)], text=True,
                           capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert len(got) == len(SIZES) * 3
        for size, ans in zip(SIZES * 3, got):
            one_injected(check_answer(json.dumps(ans), size))
        n_req += len(got)
    # Not HTTP: a raw exchange through the echo server comes back byte for byte
    payloads = [b"GET / HTTP/1.1\r\n", b"PING\r\n", os.urandom(100000),
                b"POST /x HTTP/1.1\r\nHost: a\r\n"]  # a head never finished: not injected
    with socket.create_connection(("127.0.0.1", a.echo_port), timeout=REQ_TIMEOUT) as c:
        for p in payloads:
            c.sendall(p)
            back = b""
            while len(back) < len(p):
                chunk = c.recv(65536)
                assert chunk, "echo connection closed"
                back += chunk
            assert back == p, f"echo changed {len(p)} bytes"
    st = stats(s)
    assert st["injected"] == n_req, st
    assert st["skip_failed"] == 0 and st["inject_unmerged"] == 0, st
    assert st["skip_has_context"] >= 1, st


def test_soak_nginx_proxy_wrk(sonde, app, tmp_path):
    """nginx as the client (proxy_pass to a keep-alive upstream, no TCP_NODELAY there), driven
    by wrk -c16 and by Python with bodies: the case that collapsed under a naive push."""
    wrk = shutil.which("wrk")
    a = app()
    back, front = harness.free_ports(2)
    back_dir, front_dir = tmp_path / "back", tmp_path / "front"
    nginx_conf(back_dir, back, 'location / { default_type text/plain; '
                              'return 200 "tp=$http_traceparent\\n"; }')
    nginx_conf(front_dir, front, 'location / { proxy_pass http://back; '
                                 'proxy_http_version 1.1; proxy_set_header Connection ""; }\n'
                                 'location /check { proxy_pass http://app; '
                                 'proxy_http_version 1.1; proxy_set_header Connection ""; }',
               upstream=f"upstream back {{ server 127.0.0.1:{back}; keepalive 16; }}\n"
                        f"upstream app {{ server 127.0.0.1:{a.port}; keepalive 16; }}")
    procs = [start_nginx(back_dir, back), start_nginx(front_dir, front)]
    try:
        s = header_sonde(sonde, back, a.port)
        if wrk:
            r = subprocess.run([wrk, "-t1", "-c16", "-d4s", "--timeout", "2s",
                                f"http://127.0.0.1:{front}/"], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            done = int(re.search(r"(\d+) requests in", r.stdout).group(1))
            assert "Socket errors" not in r.stdout and "Non-2xx" not in r.stdout, r.stdout
            # 40 ms per request (Nagle held the injected line) would give about 1,600
            assert done > 4000, r.stdout
        errors, answers = [], []

        def worker():
            try:
                answers.extend(py_requests(f"http://127.0.0.1:{front}/check", SIZES, True))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        assert len(answers) == 8 * len(SIZES)
        for ans in answers:
            one_injected(ans)  # put there by nginx's upstream send, not by the Python client
        st = stats(s)
        assert st["skip_failed"] == 0 and st["inject_unmerged"] == 0, st
        assert st["injected"] >= len(answers) + (4000 if wrk else 0), st
    finally:
        for p in procs:
            harness.stop_process(p)


# ---------------------------------------------------------------------------------------------
# server side: the kernel's ids reach the calls a serving thread makes


def test_server_thread_passes_the_trace_on(sonde, app):
    up, down = app("up"), app("down")
    s = header_sonde(sonde, up.port, down.port)
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    hop = f"{up.url}/hop?next={urllib.parse.quote(down.url + '/check')}"
    for _ in range(3):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", f"traceparent: {incoming}",
                            "-H", "X-Body-Sha256: " + hashlib.sha256(b"").hexdigest(), hop],
                           capture_output=True, timeout=30)
        ans = json.loads(r.stdout)
        assert ans["tp"] == [incoming]
        m = one_injected(ans["down"])
        assert m.group(1) == "0af7651916cd43dd8448eb211c80319c", "the trace did not carry on"
        assert m.group(2) != "b7ad6b7169203331", "the downstream's parent must be a new span"
    # No incoming context: curl's own request is injected; the hop continues that trace.
    for _ in range(3):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", hop], capture_output=True,
                           timeout=30)
        ans = json.loads(r.stdout)
        first = one_injected(ans)
        second = one_injected(ans["down"])
        assert first.group(1) == second.group(1)
        assert first.group(2) != second.group(2)
    # An invalid incoming traceparent is ignored: a new trace, not the bogus one.
    bogus = "00-00000000000000000000000000000000-b7ad6b7169203331-01"
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", f"traceparent: {bogus}", hop],
                       capture_output=True, timeout=30)
    ans = json.loads(r.stdout)
    assert ans["tp"] == [bogus]
    assert one_injected(ans["down"]).group(1) != "0" * 32
    st = stats(s)
    assert st["traceparent_in"] >= 3 and st["traceparent_bad"] >= 1, st


# ---------------------------------------------------------------------------------------------
# lifecycle: two sondes, SIGKILL


def test_second_sonde_does_not_double_inject(sonde, app):
    a = app()
    s1 = header_sonde(sonde, a.port)
    s2 = header_sonde(sonde, a.port)
    for size in (0, 100, 64 * 1024):
        one_injected(check_answer(curl_post(f"{a.url}/check", body_of(size)), size))
    for ans in py_requests(f"{a.url}/check", [10] * 5):
        one_injected(ans)
    assert s1.running and s2.running


def test_sigkill_leaves_nothing_attached(app, tmp_path):
    a = app()
    # not the fixture: it wants an exit status 0 at teardown, and this one is killed
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **TEST_ENV}
    s = harness.SondeProcess(["--propagation", "link,header", "--metrics-addr", "off", "--port",
                              str(a.port)], env, tmp_path / "sonde",
                             binary=harness.SONDE_TESTING_BIN)
    try:
        one_injected(check_answer(curl_post(f"{a.url}/check", b"x"), 1))
    finally:
        os.kill(s.pid, signal.SIGKILL)
        s.proc.wait(timeout=10)
    # fds closed: the cgroup link and the sockhash (with its sk_msg program) go with them
    def gone():
        ans = check_answer(curl_post(f"{a.url}/check", b"y"), 1)
        return ans["tp"] == []
    harness.poll_until(gone, 10, what="no injection after SIGKILL")
    tree = subprocess.run(["bpftool", "-j", "cgroup", "tree"], capture_output=True, text=True)
    if tree.returncode == 0:
        assert "sonde_sockops" not in tree.stdout, tree.stdout


# ---------------------------------------------------------------------------------------------
# helpers: nginx and the Node client


def nginx_conf(d: Path, port: int, locations: str, upstream: str = "") -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "nginx.conf").write_text(f"""
user root; worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/pt;
    fastcgi_temp_path {d}/ft; uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
    keepalive_requests 100000; client_max_body_size 16m; proxy_request_buffering off;
    {upstream}
    server {{ listen 127.0.0.1:{port}; {locations} }}
}}
""")


def start_nginx(d: Path, port: int) -> subprocess.Popen:
    nginx = harness.nginx_binary()
    if not nginx:
        pytest.skip("nginx is not installed")
    p = subprocess.Popen([nginx, "-p", str(d), "-c", str(d / "nginx.conf")],
                         stdout=subprocess.DEVNULL, stderr=open(d / "stderr", "wb"))
    harness.wait_port(port, 15, p, d / "error.log", "nginx")
    return p


NODE_CLIENT = r"""
const http = require('http'), crypto = require('crypto');
const [url, sizesJson] = process.argv.slice(2);
const sizes = JSON.parse(sizesJson);
const agent = new http.Agent({keepAlive: true, maxSockets: 4});
function body(n) { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 131 + n) % 251; return b; }
function one(n) {
  return new Promise((resolve, reject) => {
    const b = body(n);
    const req = http.request(url + '/check', {method: 'POST', agent, timeout: 20000, headers: {
      'Content-Length': b.length, 'X-Body-Sha256': crypto.createHash('sha256').update(b).digest('hex')}},
      res => { let d = []; res.on('data', c => d.push(c)); res.on('end', () => resolve(JSON.parse(Buffer.concat(d)))); });
    req.on('timeout', () => req.destroy(new Error('stalled')));
    req.on('error', reject);
    req.end(b);
  });
}
Promise.all(sizes.map(one)).then(r => { console.log(JSON.stringify(r)); agent.destroy(); })
  .catch(e => { console.error(e); process.exit(1); });
"""
