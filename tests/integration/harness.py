"""Building blocks for sonde's integration tests: Jaeger, the sonde agent, servers and clients.

conftest.py turns these into pytest fixtures; tests normally use the fixtures, but everything here
works on its own too (e.g. from a Python shell, to debug).

Everything listens on 127.0.0.1 only. Every process started here is stopped by its fixture.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"
JAEGER_SH = REPO / "tests" / "jaeger.sh"
SONDE_BIN = Path(os.environ.get("SONDE_BIN", REPO / "build" / "sonde"))
# The same agent with its self-tests' tests-only switches (SONDE_TEST_*, `make testing`): for the
# tests that force a self-test's verdict; build/sonde ignores those variables.
SONDE_TESTING_BIN = Path(os.environ.get("SONDE_TESTING_BIN", REPO / "build" / "sonde-testing"))
ATTACHED_MARKER = "sonde: attached"

# Spans reach Jaeger after sonde's batch delay and Jaeger's (100 ms): poll this long by default,
# generously: on a loaded host an agent at SCHED_IDLE (--cpu yield) waits for its turn.
DEFAULT_SPAN_TIMEOUT = float(os.environ.get("SONDE_TEST_SPAN_TIMEOUT", "45"))


class HarnessError(RuntimeError):
    """A test prerequisite or helper process failed (message says what and where the log is)."""


# --------------------------------------------------------------------------------------------
# small utilities


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for servers that cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path | str, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None,
              log: Path | None = None, what: str = "server") -> None:
    """Wait until 127.0.0.1:port accepts connections; fail early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"{what} exited with status {proc.returncode} before listening on "
                               f"port {port}; log {log}:\n{tail(log) if log else ''}")
        time.sleep(0.05)
    raise HarnessError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s; "
                       f"log {log}:\n{tail(log) if log else ''}")


def poll_until(fn: Callable[[], object], timeout: float = DEFAULT_SPAN_TIMEOUT,
               interval: float = 0.25, what: str = "condition"):
    """Call fn until it returns something truthy; return that. Raises AssertionError on timeout
    with the last value (or exception) in the message."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, timeout: float = 5.0, sig: int = signal.SIGTERM) -> int:
    """Signal proc, wait, SIGKILL if it lingers. Returns its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    return proc.returncode


def is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------------------------
# Jaeger


@dataclass
class Span:
    """One span as the Jaeger query API returns it, with tags flattened into dicts."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_us: int
    duration_us: int
    tags: dict
    service: str
    process_tags: dict
    raw: dict = field(repr=False)

    @property
    def kind(self) -> str | None:
        """'server', 'client', 'internal', ... (Jaeger's span.kind tag)."""
        return self.tags.get("span.kind")

    @property
    def is_error(self) -> bool:
        return self.tags.get("otel.status_code") == "ERROR" or self.tags.get("error") is True

    @classmethod
    def from_trace(cls, trace: dict) -> list["Span"]:
        procs = trace.get("processes", {})
        out = []
        for s in trace.get("spans", []):
            parent = None
            for ref in s.get("references") or []:
                if ref.get("refType") == "CHILD_OF" and ref.get("traceID") == s["traceID"]:
                    parent = ref.get("spanID")
            proc = procs.get(s.get("processID"), {})
            out.append(cls(
                trace_id=s["traceID"], span_id=s["spanID"], parent_id=parent,
                name=s.get("operationName", ""), start_us=s.get("startTime", 0),
                duration_us=s.get("duration", 0),
                tags={t["key"]: t.get("value") for t in s.get("tags") or []},
                service=proc.get("serviceName", ""),
                process_tags={t["key"]: t.get("value") for t in proc.get("tags") or []},
                raw=s))
        return out


class Jaeger:
    """Client for a Jaeger started by tests/jaeger.sh (query API on 127.0.0.1)."""

    PORT_VARS = ("JAEGER_QUERY_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT",
                 "JAEGER_OTLP_GRPC_PORT", "JAEGER_HEALTH_PORT")

    def __init__(self, query_url: str, otlp_url: str, env: dict | None = None):
        self.query_url = query_url.rstrip("/")
        self.otlp_url = otlp_url.rstrip("/")  # base URL; exporters post to /v1/traces
        self.env = env if env is not None else dict(os.environ)  # what jaeger.sh ran with

    # lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, state_dir: Path | None = None, default_ports: bool = False) -> "Jaeger":
        """(Re)start Jaeger with empty storage; builds it first if needed (minutes, once).

        By default every port is a free one and the pidfile/log live in state_dir, so that test
        runs never meet another Jaeger on this machine (e.g. a developer's, or a second run).
        default_ports=True uses 4317/4318/16686/16685/13133 (handy with a browser)."""
        env = dict(os.environ)
        if not default_ports:
            env.update(zip(cls.PORT_VARS, map(str, free_ports(len(cls.PORT_VARS)))))
        if state_dir is not None:
            env["JAEGER_STATE_DIR"] = str(state_dir)
        j = cls("", "", env)
        try:
            j._sh("install")
            j._sh("restart")
        except subprocess.CalledProcessError as e:
            raise HarnessError(f"tests/jaeger.sh {' '.join(e.cmd[1:])} failed (status "
                               f"{e.returncode}); see its messages above; log: {j.log_path()}") from e
        j.query_url, j.otlp_url = j._sh("url", "query"), j._sh("url", "otlp")
        return j

    def _sh(self, *args: str, check: bool = True) -> str:
        return subprocess.run([str(JAEGER_SH), *args], check=check, text=True, env=self.env,
                              stdout=subprocess.PIPE).stdout.strip()

    def stop(self) -> None:
        self._sh("stop", check=False)

    def log_path(self) -> str:
        return self._sh("log", check=False)

    # raw API ---------------------------------------------------------------------------------
    def api(self, path: str, **params) -> dict:
        q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.query_url}{path}" + (f"?{q}" if q else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)

    def services(self) -> list[str]:
        """GET /api/services."""
        return self.api("/api/services").get("data") or []

    def operations(self, service: str) -> list[str]:
        return self.api(f"/api/services/{urllib.parse.quote(service)}/operations").get("data") or []

    def traces(self, service: str, limit: int = 100, lookback: str = "1h",
               operation: str | None = None, tags: dict | None = None,
               start_us: int | None = None) -> list[dict]:
        """GET /api/traces?service=...&limit=...&lookback=... ; returns the raw trace dicts.
        start_us (epoch microseconds) keeps only traces that started after it."""
        params = dict(service=service, limit=limit, lookback=lookback, operation=operation,
                      tags=json.dumps(tags) if tags else None)
        if start_us is not None:
            params.update(start=start_us, end=int(time.time() * 1e6) + 60_000_000)
        try:
            return self.api("/api/traces", **params).get("data") or []
        except urllib.error.HTTPError as e:
            if e.code == 404:  # unknown service (not seen yet)
                return []
            raise

    def trace(self, trace_id: str) -> list[Span]:
        """GET /api/traces/<id> as spans ([] if not (yet) there)."""
        try:
            data = self.api(f"/api/traces/{trace_id}").get("data") or []
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return []
            raise
        return [s for t in data for s in Span.from_trace(t)]

    def spans(self, service: str, **kw) -> list[Span]:
        """All spans of the service's traces (note: a trace may hold other services' spans;
        filter on .service if that matters)."""
        return [s for t in self.traces(service, **kw) for s in Span.from_trace(t)]

    # polling ---------------------------------------------------------------------------------
    def wait_for_service(self, service: str, timeout: float = DEFAULT_SPAN_TIMEOUT) -> None:
        poll_until(lambda: service in self.services(), timeout,
                   what=f"service {service!r} in Jaeger's /api/services")

    def wait_for_spans(self, service: str, where: Callable[[Span], bool] | None = None,
                       count: int = 1, timeout: float = DEFAULT_SPAN_TIMEOUT,
                       own_service_only: bool = True, **kw) -> list[Span]:
        """Poll until at least `count` spans of `service` match `where`; return all matches.
        kw goes to traces() (e.g. start_us=test_start_us, operation=..., tags=...)."""
        seen = [0]

        def attempt():
            found = [s for s in self.spans(service, **kw)
                     if (not own_service_only or s.service == service) and (where is None or where(s))]
            seen[0] = len(found)
            return found if len(found) >= count else None
        try:
            return poll_until(attempt, timeout,
                              what=f"{count} span(s) of service {service!r} in Jaeger")
        except AssertionError as e:
            raise AssertionError(f"{e} (found {seen[0]} at the last try)") from None

    def wait_for_trace(self, trace_id: str, count: int = 1,
                       timeout: float = DEFAULT_SPAN_TIMEOUT) -> list[Span]:
        return poll_until(lambda: (lambda s: s if len(s) >= count else None)(self.trace(trace_id)),
                          timeout, what=f"trace {trace_id} with {count} span(s)")

    def assert_no_spans(self, service: str, where: Callable[[Span], bool] | None = None,
                        wait: float = 3.0, own_service_only: bool = True, **kw) -> None:
        """Wait `wait` seconds (longer than any batch delay), then assert nothing matched.
        As in wait_for_spans, only the service's own spans count unless own_service_only is
        False: its traces also hold the spans of the processes it talked to."""
        time.sleep(wait)
        found = [s for s in self.spans(service, **kw)
                 if (not own_service_only or s.service == service) and (where is None or where(s))]
        assert not found, f"expected no spans of {service!r}, found {len(found)}: {found[:3]}"


# --------------------------------------------------------------------------------------------
# sonde


class SondeProcess:
    """A running build/sonde. stdout/stderr go to files in `workdir`."""

    def __init__(self, args: Sequence[str], env: dict, workdir: Path,
                 attach_timeout: float = 60.0, wait_attached: bool = True,
                 binary: Path | None = None):
        if not is_root():
            raise HarnessError("sonde must run as root (it loads BPF programs); "
                               "run the integration tests as root (sudo -E pytest ...)")
        binary = binary or SONDE_BIN
        if not binary.exists():
            raise HarnessError(f"{binary} does not exist: build it with `make all testing` "
                               f"first (or set SONDE_BIN, SONDE_TESTING_BIN)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.args = [str(binary), *args]
        self.env = env
        self.stdout_path = workdir / "sonde.stdout"
        self.stderr_path = workdir / "sonde.stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=env, cwd=str(workdir))
        self.pid = self.proc.pid
        self.returncode: int | None = None
        if wait_attached:
            self.wait_attached(attach_timeout)

    def wait_attached(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ATTACHED_MARKER in self.stderr():
                return
            if self.proc.poll() is not None:
                raise HarnessError(f"sonde exited with status {self.proc.returncode} before "
                                   f"'{ATTACHED_MARKER}': {' '.join(self.args)}\nstderr:\n"
                                   f"{tail(self.stderr_path)}")
            time.sleep(0.05)
        self.kill()
        raise HarnessError(f"sonde did not print '{ATTACHED_MARKER}' within {timeout} s: "
                           f"{' '.join(self.args)}\nstderr:\n{tail(self.stderr_path)}")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (sonde flushes and exits); returns the exit status. Idempotent.
        Raises AssertionError if it is not gone within `timeout` s (it is then SIGKILLed)."""
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise AssertionError(f"sonde did not exit within {timeout} s of SIGTERM; "
                                         f"stderr:\n{tail(self.stderr_path)}")
            self.returncode = self.proc.returncode
            self._out.close()
            self._err.close()
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self._out.close()
        self._err.close()


def run_sonde(*args: str, timeout: float = 30.0, env: dict | None = None,
              binary: Path | None = None) -> subprocess.CompletedProcess:
    """Run sonde to completion (for --help, --version, --check); output captured as text.
    binary: SONDE_TESTING_BIN for the tests-only switches (default SONDE_BIN)."""
    binary = binary or SONDE_BIN
    if not binary.exists():
        raise HarnessError(f"{binary} does not exist: build it with `make all testing` first")
    return subprocess.run([str(binary), *args], text=True, capture_output=True,
                          timeout=timeout, env=env)


# --------------------------------------------------------------------------------------------
# servers


@dataclass
class Server:
    """A server process on 127.0.0.1:port."""

    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    workdir: Path
    scheme: str = "http"  # "https": it serves TLS

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (PEM files)."""

    cert: Path
    key: Path

    def client_env(self) -> dict:
        """What makes the test clients trust it: Python's and OpenSSL's default CA file,
        Node's extra CAs, curl's and requests' CA bundles."""
        return {"SSL_CERT_FILE": str(self.cert), "NODE_EXTRA_CA_CERTS": str(self.cert),
                "CURL_CA_BUNDLE": str(self.cert), "REQUESTS_CA_BUNDLE": str(self.cert)}


def make_tls_files(workdir: Path, ips: Sequence[str] = ()) -> TlsFiles:
    """A fresh certificate (openssl req), valid a day, in workdir; for localhost, 127.0.0.1
    and the addresses in ips."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    san = ",".join(["DNS:localhost", "IP:127.0.0.1", *(f"IP:{ip}" for ip in ips)])
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                        "-addext", f"subjectAltName={san}"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise HarnessError("openssl req failed: " + r.stderr)
    return TlsFiles(cert, key)


def _env(service_name: str | None, extra: dict | None) -> dict:
    env = dict(os.environ)
    # Servers and clients must not be OTel-instrumented themselves (sonde is the tracer).
    for k in list(env):
        if k.startswith("OTEL_"):
            del env[k]
    if service_name:
        env["OTEL_SERVICE_NAME"] = service_name
    env.update(extra or {})
    return env


def _start_printing_port(name: str, cmd: list[str], workdir: Path, env: dict,
                         timeout: float = 15.0, tls: TlsFiles | None = None) -> Server:
    """Start a server that prints 'LISTENING <port>' on stdout (our apps do, given --port 0)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    logf = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
                            env=env, cwd=str(workdir))
    logf.close()
    deadline = time.monotonic() + timeout
    line = b""
    # readline blocks, but the app prints its line at once or exits (EOF).
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(b"LISTENING ") or not line:
            break
    if not line.startswith(b"LISTENING "):
        stop_process(proc)
        raise HarnessError(f"{name} did not start ({' '.join(cmd)}); log {log}:\n{tail(log)}")
    port = int(line.split()[1])
    # Drain further stdout into the log so the app can never block on a full pipe.
    def drain(src=proc.stdout, dst=log):
        with open(dst, "ab") as f:
            for chunk in iter(lambda: src.read1(4096), b""):
                f.write(chunk)
    threading.Thread(target=drain, daemon=True).start()
    wait_port(port, timeout, proc, log, name)
    return Server(name, port, proc, log, workdir, "https" if tls else "http")


def _tls_args(tls: TlsFiles | None) -> list[str]:
    return ["--tls", str(tls.cert), str(tls.key)] if tls else []


def start_py_server(workdir: Path, service_name: str | None = "py-server",
                    env: dict | None = None, python: str = sys.executable,
                    tls: TlsFiles | None = None) -> Server:
    """tests/apps/py_server.py on a free port (see its docstring for routes); HTTPS with tls."""
    return _start_printing_port("py-server", [python, str(APPS / "py_server.py"), "--port", "0",
                                              *_tls_args(tls)],
                                workdir, _env(service_name, env), tls=tls)


def start_node_server(workdir: Path, service_name: str | None = "node-server",
                      env: dict | None = None, tls: TlsFiles | None = None) -> Server:
    """tests/apps/node_server.js on a free port (same routes as py_server); HTTPS with tls."""
    node = shutil.which("node")
    if not node:
        raise HarnessError("node is not installed")
    return _start_printing_port("node-server", [node, str(APPS / "node_server.js"), "--port", "0",
                                                *_tls_args(tls)],
                                workdir, _env(service_name, env), tls=tls)


NGINX_BIG_BYTES = 300 * 1024


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def start_nginx(workdir: Path, service_name: str | None = "nginx", env: dict | None = None,
                port: int | None = None, http2: bool = False,
                tls: TlsFiles | None = None) -> Server:
    """Debian's nginx, one worker, with a generated config in workdir. Locations:
    /  200 text | /api/items/... 200 JSON | /notfound 404 | /err 500 |
    /big  a static file of NGINX_BIG_BYTES bytes. http2: the port speaks HTTP/2 (in clear
    text: h2c with prior knowledge, nginx takes no Upgrade; with tls: ALPN h2 or http/1.1).
    tls: HTTPS with that certificate."""
    nginx = nginx_binary()
    if not nginx:
        raise HarnessError("nginx is not installed (tests/install-deps.sh test)")
    workdir.mkdir(parents=True, exist_ok=True)
    www = workdir / "www"
    www.mkdir(exist_ok=True)
    (www / "big").write_bytes(bytes((i * 7 + 13) % 251 for i in range(NGINX_BIG_BYTES)))
    last_err: Exception | None = None
    for _ in range(3):  # a free port can be taken between free_port() and bind: retry
        p = port or free_port()
        conf = workdir / "nginx.conf"
        user = "user root;" if is_root() else ""
        conf.write_text(f"""
{user}
worker_processes 1;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
# nginx clears its workers' environment; keep the service name sonde may read from /proc.
env OTEL_SERVICE_NAME;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    default_type application/octet-stream;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{p}{" ssl" if tls else ""}{" http2" if http2 else ""};
        server_name localhost;
        {f"ssl_certificate {tls.cert}; ssl_certificate_key {tls.key};" if tls else ""}
        location = / {{ default_type text/plain; return 200 "hello from nginx\\n"; }}
        location /api/items/ {{ default_type application/json; return 200 '{{"items":[]}}'; }}
        location = /notfound {{ return 404; }}
        location = /err {{ return 500; }}
        location = /big {{ root {www}; }}
    }}
}}
""")
        log = workdir / "nginx.stderr"
        logf = open(log, "wb")
        proc = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_env(service_name, env), cwd=str(workdir))
        logf.close()
        try:
            wait_port(p, 15, proc, workdir / "error.log", "nginx")
            return Server("nginx", p, proc, workdir / "error.log", workdir,
                          "https" if tls else "http")
        except HarnessError as e:
            stop_process(proc)
            last_err = e
            if port:
                break
    raise last_err  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# clients


@dataclass
class ClientResult:
    """What tests/apps/py_client.py and node_client.js print."""

    pid: int
    durations_ms: list[float]
    statuses: list[int]
    bytes: list[int]


def _run_client(cmd: list[str], env: dict, timeout: float) -> ClientResult:
    r = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise HarnessError(f"client failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return ClientResult(d["pid"], d["durations_ms"], d["statuses"], d["bytes"])


def _client_args(n, method, data, headers, new_connection, delay_ms) -> list[str]:
    a = []
    if n is not None:
        a += ["-n", str(n)]
    if method:
        a += ["--method", method]
    if data is not None:
        a += ["--data", data]
    for h in headers or []:
        a += ["--header", h]
    if new_connection:
        a.append("--new-connection")
    if delay_ms:
        a += ["--delay-ms", str(delay_ms)]
    return a


def py_client(urls: str | Iterable[str], n: int | None = None, method: str | None = None,
              data: str | None = None, headers: Iterable[str] = (), new_connection: bool = False,
              delay_ms: float = 0, service_name: str | None = "py-client", env: dict | None = None,
              timeout: float = 120) -> ClientResult:
    """Run tests/apps/py_client.py (http.client, keep-alive unless new_connection)."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    cmd = [sys.executable, str(APPS / "py_client.py"), *urls,
           *_client_args(n, method, data, headers, new_connection, delay_ms)]
    return _run_client(cmd, _env(service_name, env), timeout)


def node_client(urls: str | Iterable[str], n: int | None = None, method: str | None = None,
                data: str | None = None, headers: Iterable[str] = (), new_connection: bool = False,
                delay_ms: float = 0, service_name: str | None = "node-client",
                env: dict | None = None, timeout: float = 120) -> ClientResult:
    """Run tests/apps/node_client.js (http.Agent keepAlive, one socket)."""
    node = shutil.which("node")
    if not node:
        raise HarnessError("node is not installed")
    urls = [urls] if isinstance(urls, str) else list(urls)
    cmd = [node, str(APPS / "node_client.js"), *urls,
           *_client_args(n, method, data, headers, new_connection, delay_ms)]
    return _run_client(cmd, _env(service_name, env), timeout)


def curl(url: str, *args: str, service_name: str | None = "curl", env: dict | None = None,
         check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run curl -sS URL ARGS...; output captured as text. check: fail on a non-zero exit
    (curl exits 0 on HTTP errors unless -f is given)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(int(timeout)), url, *args],
                       env=_env(service_name, env), text=True, capture_output=True,
                       timeout=timeout + 5)
    if check and r.returncode != 0:
        raise HarnessError(f"curl {url} {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def run_load(workdir: Path, tok: str, urls: list[str], concurrency: int) -> None:
    """Every URL once through tests/apps/py_load.py, `concurrency` in flight (service
    load-<tok>); asserts that each answered 200."""
    path = workdir / f"urls-{tok}-{len(urls)}-{concurrency}"
    path.write_text("".join(u + "\n" for u in urls))
    r = subprocess.run([sys.executable, str(APPS / "py_load.py"), "--concurrency",
                        str(concurrency), "--urls-file", str(path)], capture_output=True,
                       text=True, timeout=300, env=_env(f"load-{tok}", None))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out["errors"] and set(out["statuses"].values()) == {200}, out["errors"][:5]


def now_us() -> int:
    """Epoch microseconds (Jaeger's time unit), e.g. to pass as start_us."""
    return int(time.time() * 1e6)


class NsServer:
    """A server started inside network namespace ns that prints LISTENING <port> (our apps);
    host is the address it listens on there, for .url."""

    def __init__(self, ns: str, host: str, cmd: Sequence[str], workdir: Path,
                 service_name: str | None, env: dict | None = None, scheme: str = "http"):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "server.log"
        logf = open(self.log, "wb")
        env = _env(service_name, env)
        # `ip netns exec` execs the command: the pid is the server's, for --pid.
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.PIPE,
                                     stderr=logf, stdin=subprocess.DEVNULL, env=env,
                                     cwd=str(workdir))
        logf.close()
        line = self.proc.stdout.readline()
        if not line.startswith(b"LISTENING "):
            stop_process(self.proc)
            raise HarnessError(f"{cmd} did not start: {tail(self.log)}")
        self.port = int(line.split()[1])
        self.url = f"{scheme}://{host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc)
