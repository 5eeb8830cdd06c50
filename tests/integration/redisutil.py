"""Redis for sonde's tests: a throw-away redis-server from Debian on a free loopback port, its
command-line tools (redis-cli, redis-benchmark), and a small recording TCP proxy that keeps real
client and server bytes as fuzz seeds (tests/fuzz/corpus/redis/, format in fuzz_redis.c).

    srv = start_redis(tmp_path, service_name="redis-x")   # persistence off, dir under tmp_path
    srv.cli("SET", "k", "v")                             # redis-cli -p PORT SET k v
    srv.cli(stdin="PING\\nGET k\\n")                     # one session, commands from stdin
    srv.stop()

    python3 tests/integration/redisutil.py record-seeds  # re-record the fuzz seeds
"""
from __future__ import annotations

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HarnessError, _env, free_port, stop_process, tail, wait_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "tests" / "fuzz" / "corpus" / "redis"


def redis_installed() -> bool:
    return all(shutil.which(t) for t in ("redis-server", "redis-cli", "redis-benchmark"))


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen
    workdir: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cli(self, *args: str, stdin: str | None = None, service_name: str | None = "redis-cli",
            port: int | None = None, timeout: float = 60.0,
            check: bool = True) -> subprocess.CompletedProcess:
        """redis-cli against this server (or another port, e.g. a proxy's)."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(port or self.port), *args]
        r = subprocess.run(cmd, input=stdin, text=True, capture_output=True, timeout=timeout,
                           env=_env(service_name, None))
        if check and r.returncode != 0:
            raise HarnessError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
        return r

    def benchmark(self, *args: str, service_name: str | None = "redis-benchmark",
                  port: int | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
        cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port or self.port), *args]
        r = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout,
                           env=_env(service_name, None))
        if r.returncode != 0:
            raise HarnessError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
        return r

    def stop(self) -> None:
        stop_process(self.proc)


def start_redis(workdir: Path, service_name: str | None = "redis-server") -> RedisServer:
    """redis-server on 127.0.0.1 and a free port, no persistence, files under workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "redis.log"
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
           "--protected-mode", "yes", "--logfile", str(log)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, env=_env(service_name, None),
                            cwd=str(workdir))
    wait_port(port, 15.0, proc, log, "redis-server")
    # Ready means answering, not only listening.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return RedisServer(port, proc, workdir, log)
        time.sleep(0.1)
    stop_process(proc)
    raise HarnessError(f"redis-server on port {port} did not answer PING; log:\n{tail(log)}")


def raw_session(port: int, chunks: list[bytes], read_after_each: bool = True,
                timeout: float = 5.0) -> list[bytes]:
    """Send each chunk on one connection; after each, read what the server answers within a
    short while. Returns the answers."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for c in chunks:
            s.sendall(c)
            if read_after_each:
                out.append(_read_some(s, 0.3))
    return out


def _read_some(s: socket.socket, quiet: float) -> bytes:
    buf = b""
    while True:
        r, _, _ = select.select([s], [], [], quiet)
        if not r:
            return buf
        b = s.recv(65536)
        if not b:
            return buf
        buf += b


class RecordingProxy:
    """Forwards 127.0.0.1:port to the server and records every recv() of both directions in
    order, so a real conversation can be replayed by the fuzz target (one recv ~ one I/O)."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conversations: list[list[tuple[bool, bytes]]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            conv: list[tuple[bool, bytes]] = []
            with self._lock:
                self.conversations.append(conv)
            threading.Thread(target=self._pump, args=(c, conv), daemon=True).start()

    def _pump(self, c: socket.socket, conv: list):
        u = socket.create_connection(("127.0.0.1", self.upstream))
        peers = {c: (u, True), u: (c, False)}
        try:
            while True:
                r, _, _ = select.select(list(peers), [], [], 5)
                if not r:
                    continue
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    dst, from_client = peers[s]
                    with self._lock:
                        conv.append((from_client, data))
                    dst.sendall(data)
        except OSError:
            return
        finally:
            c.close()
            u.close()

    def close(self):
        self._stop = True
        self.lsock.close()

    def seed(self, conv: list[tuple[bool, bytes]], flags: int = 3) -> bytes:
        """One conversation in fuzz_redis.c's format: run starts where the direction turns,
        and the other direction's run end before each turn."""
        out = bytearray([flags])
        last = None
        for from_client, data in conv:
            for i in range(0, len(data), 0xffff):
                piece = data[i:i + 0xffff]
                h = 0x80 if from_client else 0
                if last is not None and last != from_client:
                    # the previous direction's run ended
                    out += bytes([h | 0x30]) + struct.pack("<H", 0) + struct.pack("<H", 0)
                if last != from_client:
                    h |= 0x40
                out += bytes([h]) + struct.pack("<H", len(piece)) + piece
                last = from_client
        return bytes(out)


def record_seeds(workdir: Path) -> list[Path]:
    """Real conversations of redis-cli, redis-benchmark and redis-py through the proxy, kept as
    fuzz seeds: sessions, pipelines, errors, MULTI/EXEC, RESP3, pub/sub, MONITOR, big values."""
    srv = start_redis(workdir)
    proxy = RecordingProxy(srv.port)
    written = []
    try:
        p = proxy.port
        srv.cli(stdin="SET user:1 alice\nGET user:1\nLPUSH user:1 x\nSELECT 3\nMULTI\n"
                      "INCR c\nHSET h f v\nEXEC\nFOOBAR\nCONFIG GET maxmemory\nPING\n", port=p)
        srv.cli("-3", stdin="HSET h a 1 b 2\nHGETALL h\nSADD s x y\nSMEMBERS s\n"
                            "ZADD z 1.5 m\nZSCORE z m\nDEL nothing\nGET nothing\n", port=p)
        srv.benchmark("-t", "set,get,lpush,lrange_100,mset", "-n", "20", "-c", "1", port=p)
        srv.benchmark("-t", "set,get", "-n", "40", "-c", "1", "-P", "8", port=p)
        srv.cli("--pipe", stdin="".join(f"SET pipe:{i} {i}\r\n" for i in range(30)), port=p)
        srv.cli("SET", "big", "x" * 3000, port=p)
        srv.cli("GET", "big", port=p)
        srv.cli("RPUSH", "list", *[f"item{i}" for i in range(300)], port=p)
        srv.cli("LRANGE", "list", "0", "-1", port=p)
        import redis as redispy  # the tests pin it (tests/requirements.txt)
        r = redispy.Redis(host="127.0.0.1", port=p, protocol=3)
        pipe = r.pipeline(transaction=True)
        for i in range(5):
            pipe.incr("n")
        pipe.get("n")
        pipe.execute()
        try:
            r.lpush("user:1", "x")
        except redispy.ResponseError:
            pass
        ps = r.pubsub()
        ps.subscribe("news")
        ps.get_message(timeout=1)
        pub = redispy.Redis(host="127.0.0.1", port=p)
        for i in range(5):
            pub.publish("news", f"hello {i}")
        for _ in range(5):
            ps.get_message(timeout=1)
        ps.unsubscribe("news")
        ps.get_message(timeout=1)
        ps.close()
        r.close()
        pub.close()
        mon = socket.create_connection(("127.0.0.1", p))
        mon.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        _read_some(mon, 0.3)
        srv.cli("SET", "watched", "1", port=p)
        _read_some(mon, 0.3)
        mon.close()
        raw_session(p, [b"PING\r\n", b"set inline value\r\n", b"get inline\r\n"])
        time.sleep(0.5)
        SEEDS.mkdir(parents=True, exist_ok=True)
        with proxy._lock:
            convs = [list(c) for c in proxy.conversations if c]
        for i, conv in enumerate(convs):
            for flags, tag in ((3, "full"), (3 | 8, "capture")):
                path = SEEDS / f"real_{i:02d}_{tag}"
                path.write_bytes(proxy.seed(conv, flags))
                written.append(path)
    finally:
        proxy.close()
        srv.stop()
    return written


if __name__ == "__main__":
    if sys.argv[1:] == ["record-seeds"]:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            for pth in record_seeds(Path(d)):
                print(pth.relative_to(REPO))
    else:
        print(__doc__)
        sys.exit(2)
