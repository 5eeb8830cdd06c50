"""PostgreSQL for sonde's tests: a throw-away server, its clients, and a recording proxy.

PgServer.start(workdir) runs initdb (trust authentication) in a temporary directory and a
postgres listening on 127.0.0.1 on a free port, as the `postgres` user (it refuses to run as
root); .stop() shuts it down. psql() and pgbench() run the Debian clients against it.

RecordingProxy forwards a loopback port to the server and writes what went through it, I/O by
I/O, in the input format of tests/fuzz/fuzz_postgres.c: the seed corpus is real traffic.
"""
from __future__ import annotations

import glob
import os
import pwd
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from harness import HarnessError, free_port, stop_process, tail, wait_port


def pg_bindir() -> str | None:
    """The newest /usr/lib/postgresql/N/bin that has postgres and initdb, else None."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if os.access(f"{d}/postgres", os.X_OK) and os.access(f"{d}/initdb", os.X_OK):
            return d
    return None


def available() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return bool(pg_bindir()) and bool(shutil.which("psql")) and bool(shutil.which("pgbench"))


AS_PG = ["runuser", "-u", "postgres", "--"]


class PgServer:
    def __init__(self, proc: subprocess.Popen, port: int, pgdata: Path, bindir: str, log: Path):
        self.proc = proc
        self.port = port
        self.pgdata = pgdata
        self.bindir = bindir
        self.log = log

    @property
    def pid(self) -> int:
        """The postmaster; each connection gets a backend process forked from it."""
        return self.proc.pid

    @classmethod
    def start(cls, workdir: Path, *settings: str) -> "PgServer":
        bindir = pg_bindir()
        if not bindir:
            raise HarnessError("PostgreSQL is not installed (apt-get install postgresql)")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        # The postgres user must reach the data directory through the temporary path.
        for p in [workdir, *workdir.parents]:
            if str(p) in ("/", "/tmp"):
                break
            os.chmod(p, os.stat(p).st_mode | 0o011)
        pgdata = workdir / "pgdata"
        pgdata.mkdir()
        shutil.chown(pgdata, "postgres", "postgres")
        os.chmod(pgdata, 0o700)
        r = subprocess.run(AS_PG + [f"{bindir}/initdb", "-D", str(pgdata), "-A", "trust", "-U",
                                    "postgres", "--no-sync", "-E", "UTF8"],
                           capture_output=True, text=True)
        if r.returncode:
            raise HarnessError("initdb failed: " + r.stdout + r.stderr)
        port = free_port()
        log = workdir / "postgres.log"
        extra = []
        for s in settings:
            extra += ["-c", s]
        with open(log, "wb") as lf:
            proc = subprocess.Popen(
                AS_PG + [f"{bindir}/postgres", "-D", str(pgdata), "-p", str(port), "-k",
                         str(pgdata), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                         "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] + extra,
                stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(port, timeout=30, proc=proc)
        except HarnessError:
            stop_process(proc)
            raise HarnessError(f"postgres did not start; log {log}:\n{tail(log)}")
        srv = cls(proc, port, pgdata, bindir, log)
        # runuser is the parent: the postmaster's pid is in postmaster.pid
        for _ in range(100):
            try:
                srv.postmaster_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
                break
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        return srv

    def stop(self) -> None:
        subprocess.run(AS_PG + [f"{self.bindir}/pg_ctl", "-D", str(self.pgdata), "-m", "fast",
                                "-w", "stop"], capture_output=True)
        stop_process(self.proc)

    def dsn(self, db: str = "postgres", port: int | None = None) -> str:
        return f"host=127.0.0.1 port={port or self.port} user=postgres dbname={db}"


def psql(port: int, script: str, db: str = "postgres", env: dict | None = None,
         check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run script through `psql -f -` (each statement sent as psql sends it, one Query each)."""
    e = dict(os.environ, PGSSLMODE="prefer")
    e.update(env or {})
    return subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U",
                           "postgres", "-d", db, "-v", "ON_ERROR_STOP=0", "-f", "-"],
                          input=script, capture_output=True, encoding="utf-8",
                          errors="replace", env=e, check=check, timeout=timeout)


def pgbench(port: int, *args: str, db: str = "postgres", env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        *args, db], capture_output=True, text=True, env=e, timeout=timeout)
    if r.returncode:
        raise HarnessError(f"pgbench {' '.join(args)} failed: {r.stdout}{r.stderr}")
    return r


class RecordingProxy:
    """127.0.0.1:port -> 127.0.0.1:target; each connection's I/Os go to out_dir/<prefix>_<n>.

    File format (tests/fuzz/fuzz_postgres.c): one config byte, then per I/O a direction byte
    (1 = from the client), a 16-bit big-endian length and the bytes.
    """

    def __init__(self, target: int, out_dir: Path, prefix: str, config: int = 0x3f):
        self.target = target
        self.out_dir = Path(out_dir)
        self.prefix = prefix
        self.config = config
        self.n = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.acceptor = t

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.n += 1
            t = threading.Thread(target=self._pump, args=(c, self.n), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, c: socket.socket, n: int):
        s = socket.create_connection(("127.0.0.1", self.target))
        rec = bytearray([self.config])
        peers = {c: (s, 1), s: (c, 0)}
        try:
            while True:
                r, _, _ = select.select([c, s], [], [], 30)
                if not r:
                    break
                done = False
                for sock in r:
                    data = sock.recv(65536)
                    if not data:
                        done = True
                        break
                    other, from_client = peers[sock]
                    other.sendall(data)
                    for i in range(0, len(data), 65535):
                        part = data[i:i + 65535]
                        rec += bytes([from_client]) + struct.pack(">H", len(part)) + part
                if done:
                    break
        finally:
            c.close()
            s.close()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / f"{self.prefix}_{n}").write_bytes(bytes(rec))

    def stop(self):
        self.stopping = True
        self.lsock.close()
        for t in self.threads:
            t.join(timeout=5)
