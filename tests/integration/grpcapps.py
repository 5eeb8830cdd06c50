"""Start and drive the gRPC test apps: one Echo service (sonde.test.Echo) and one client CLI in
Go (tests/apps/grpc_go), Python (tests/apps/grpc_py.py) and Node (tests/apps/grpc_node.js). None
of them is instrumented: sonde has to see their calls from outside. The apps' own comments say
what each method does with which request (fail:CODE, sleep:MS, call:HOST:PORT[,...]).

    gobin = build_go(tmp_path)                  # once per directory; start_server uses it
    proc, port = start_server("go", tmp_path)   # kind: "go", "py" or "node"
    summary = run_client("py", port, "Bidi", count=50, concurrency=50)
    # {"ok": 50, "errors": {}, "pid": ...}; errors are counted by numeric status code
    # ("4": DEADLINE_EXCEEDED, ...) or as "mismatch" (status OK, unexpected replies)
    stop_server(proc)                           # SIGTERM; the servers exit 0

Servers and clients run with the environment of harness._env: no OTEL_* variables but
OTEL_SERVICE_NAME, which sonde reads for the service name.

Deadlines: the Go server's transport resets the stream (RST_STREAM CANCEL, no grpc-status) the
moment the deadline it was sent passes, racing the client's own timer. A Go client reports
DEADLINE_EXCEEDED (4) either way; a Python or Node client reports CANCELLED (1) when the reset
comes first (a few calls in ten under load). The Python and Node servers end such calls with
status 4, so every client reports 4 there.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from harness import APPS, HarnessError, _env, stop_process, tail

KINDS = ("go", "py", "node")
METHODS = ("Unary", "ServerStream", "ClientStream", "Bidi")
GO_DIR = APPS / "grpc_go"
PY_APP = APPS / "grpc_py.py"
NODE_APP = APPS / "grpc_node.js"
NODE_GRPC = APPS / "node_modules" / "@grpc" / "grpc-js"
# A cold build (empty Go build cache) compiles gRPC and golang.org/x/net: tens of seconds.
GO_BUILD_TIMEOUT = 600
SERVER_START_TIMEOUT = 60

_last_go_bin: Path | None = None  # what build_go built last: start_server and run_client use it
_log_numbers = itertools.count(1)


def go_build(src: Path, out: Path, ldflags: str | None = None) -> None:
    """go build the app in src into out, with the modules its go.sum pins: from the Go module
    cache (tests/install-deps.sh test fills it) or the module proxy (-mod=readonly: the tree is
    never changed)."""
    path = os.environ.get("PATH", "") + ":/usr/local/go/bin"
    go = shutil.which("go", path=path)
    if not go:
        raise HarnessError(f"go is not installed: it builds {src}")
    out.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-ldflags", ldflags] if ldflags else []
    r = subprocess.run([go, "build", "-trimpath", *flags, "-o", str(out), "."], cwd=src,
                       capture_output=True, text=True, timeout=GO_BUILD_TIMEOUT,
                       env={**os.environ, "PATH": path, "GOTOOLCHAIN": "local",
                            "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"})
    if r.returncode != 0:
        raise HarnessError(f"go build in {src} failed ({r.returncode}):\n{r.stderr}")


def build_go(tmp_path: Path, ldflags: str | None = None) -> Path:
    """Build tests/apps/grpc_go into tmp_path/grpc_go, unless it is there already. The modules
    come from the Go module cache (tests/install-deps.sh test fills it) or the module proxy;
    go.sum must list them all (-mod=readonly), so the tree is never changed. ldflags: the
    linker's flags ("-w": no DWARF); such a build is not the one command() takes by default."""
    global _last_go_bin
    out = Path(tmp_path) / "grpc_go"
    if not out.exists():
        go_build(GO_DIR, out, ldflags)
    if not ldflags:
        _last_go_bin = out
    return out


def command(kind: str, role: str, *args: str, go_bin: Path | None = None) -> list[str]:
    """The command line of an app: role is "server" or "client". For Go, go_bin or the binary
    of the last build_go (an error if there was none)."""
    if kind == "go":
        binary = go_bin or _last_go_bin
        if binary is None:
            raise HarnessError("the Go gRPC app is not built: call build_go(tmp_path) first")
        return [str(binary), role, *args]
    if kind == "py":
        return [sys.executable, str(PY_APP), role, *args]
    if kind == "node":
        node = shutil.which("node")
        if not node:
            raise HarnessError("node is not installed")
        if not NODE_GRPC.is_dir():
            raise HarnessError(f"{NODE_GRPC} is missing: run tests/install-deps.sh test "
                               f"(npm ci in {APPS})")
        return [node, str(NODE_APP), role, *args]
    raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")


def address(target: int | str) -> str:
    """A port on 127.0.0.1, or a "host:port" as it is."""
    return f"127.0.0.1:{target}" if isinstance(target, int) else target


def _first_line(proc: subprocess.Popen, log: Path, timeout: float) -> bytes | None:
    """The first line the process prints (b"" if it exits first, None after timeout); all
    further output goes to log, so that the app never blocks on a full pipe."""
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        lines.put(proc.stdout.readline())
        with open(log, "ab") as f:
            for chunk in iter(lambda: proc.stdout.read1(4096), b""):
                f.write(chunk)
                f.flush()

    threading.Thread(target=pump, daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def start_server(kind: str, workdir: Path, port: int = 0, service_name: str | None = None,
                 env: dict | None = None, go_bin: Path | None = None,
                 timeout: float = SERVER_START_TIMEOUT) -> tuple[subprocess.Popen, int]:
    """Start an Echo server of kind on 127.0.0.1:port (0: a free one) and wait for its
    "port N" line. Its stderr (and any later stdout) goes to workdir/grpc-KIND-server-K.log,
    proc.log_path. service_name defaults to "grpc-KIND-server". For Go, build_go first (or
    pass go_bin)."""
    cmd = command(kind, "server", str(port), go_bin=go_bin)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"grpc-{kind}-server-{next(_log_numbers)}.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL,
                                cwd=str(workdir),
                                env=_env(service_name or f"grpc-{kind}-server", env))
    proc.log_path = log  # type: ignore[attr-defined]
    line = _first_line(proc, log, timeout)
    m = re.fullmatch(rb"port (\d+)\n", line or b"")
    if not m:
        stop_process(proc)
        what = (f"printed no line within {timeout} s" if line is None else
                "exited before printing its port" if not line else f"printed {line!r}")
        raise HarnessError(f"gRPC {kind} server ({' '.join(cmd)}) {what}; log {log}:\n{tail(log)}")
    return proc, int(m.group(1))


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait (SIGKILL after timeout); returns the exit status (0 for a clean stop)."""
    return stop_process(proc, timeout=timeout)


def stop_servers(procs) -> list[int]:
    """stop_server on each (every one, even if one of them fails to stop)."""
    return [stop_server(p) for p in procs]


def client_args(target: int | str, method: str, count: int, concurrency: int,
                payload: str | None = None, deadline_ms: int | None = None) -> list[str]:
    """The client's arguments (an empty PAYLOAD keeps the method's default requests)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    args = [address(target), method, str(count), str(concurrency)]
    if payload is not None or deadline_ms is not None:
        args.append(payload or "")
    if deadline_ms is not None:
        args.append(str(deadline_ms))
    return args


def run_client(kind: str, target: int | str, method: str, count: int, concurrency: int,
               payload: str | None = None, deadline_ms: int | None = None,
               service_name: str | None = None, env: dict | None = None,
               go_bin: Path | None = None, timeout: float = 120) -> dict:
    """Run a client of kind to completion: count calls of method on one channel to target (a
    port on 127.0.0.1 or "host:port"), concurrency of them in flight, each with a deadline of
    deadline_ms if given. Returns its summary, {"ok": N, "errors": {"<code>": N}, "pid": P}.
    service_name defaults to "grpc-KIND-client"."""
    cmd = command(kind, "client",
                  *client_args(target, method, count, concurrency, payload, deadline_ms),
                  go_bin=go_bin)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL,
                       env=_env(service_name or f"grpc-{kind}-client", env))
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        raise HarnessError(f"gRPC {kind} client failed ({r.returncode}): {' '.join(cmd)}\n"
                           f"stdout: {r.stdout}\nstderr: {r.stderr}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise HarnessError(f"gRPC {kind} client printed no JSON summary ({e}): {' '.join(cmd)}\n"
                           f"stdout: {r.stdout}\nstderr: {r.stderr}") from None
