"""MariaDB for sonde's tests: a throw-away server from Debian's mariadb-server on a free loopback
port, the mariadb command-line client, and a small recording TCP proxy (used to keep real client
and server bytes as fuzz seeds, tests/fuzz/corpus/mysql/).

    db = start_mariadb(tmp_path)          # datadir, socket, pid file and log under tmp_path
    db.client_sql("SELECT 1;")           # the mariadb client over TCP as db.user
    db.stop()

The server runs as root (--user=root) with its own data directory made by mariadb-install-db,
skip-name-resolve, no networking beyond 127.0.0.1, and a TCP user `sonde`/`sonde` with every
privilege on the databases the test creates.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import HarnessError, free_port, stop_process, tail

USER = "sonde"
PASSWORD = "sonde"


def mariadb_installed() -> bool:
    return bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()) and bool(
        shutil.which("mariadb-install-db")) and bool(shutil.which("mariadb"))


def _mariadbd() -> str:
    return shutil.which("mariadbd") or "/usr/sbin/mariadbd"


@dataclass
class MariaDB:
    port: int
    proc: subprocess.Popen
    workdir: Path
    socket_path: Path
    log: Path
    user: str = USER
    password: str = PASSWORD

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, *args: str, sql: str | None = None, database: str | None = None,
               env: dict | None = None, timeout: float = 60.0,
               check: bool = True, port: int | None = None) -> subprocess.CompletedProcess:
        """Run the mariadb command-line client over TCP (127.0.0.1), sql on its stdin."""
        cmd = ["mariadb", "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
               "-P", str(port or self.port), "-u", self.user, f"-p{self.password}",
               "--skip-ssl", *args]
        if database:
            cmd.append(database)
        res = subprocess.run(cmd, input=sql, text=True, capture_output=True, timeout=timeout,
                             env=env)
        if check and res.returncode != 0:
            raise HarnessError(f"mariadb client failed ({res.returncode}): {res.stderr}")
        return res

    def root_sql(self, sql: str) -> str:
        """SQL as root over the server's own unix socket (root authenticates by unix_socket)."""
        res = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket_path}",
                              "-u", "root", "-N", "-B"], input=sql, text=True,
                             capture_output=True, timeout=60)
        if res.returncode != 0:
            raise HarnessError(f"mariadb (root) failed: {res.stderr}")
        return res.stdout

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


def start_mariadb(workdir: Path, databases: tuple[str, ...] = ("shop", "other_db"),
                  timeout: float = 60.0, tls: tuple[Path, Path] | None = None) -> MariaDB:
    """A fresh MariaDB server on a free 127.0.0.1 port, data in workdir/data. tls: its
    (certificate, key) files: TLS offered (clients choose); else --skip-ssl."""
    if not mariadb_installed():
        raise HarnessError("mariadb-server and mariadb-client are not installed "
                           "(tests/install-deps.sh test)")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    log = workdir / "mariadbd.log"
    sock = workdir / "mariadbd.sock"
    res = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                          "--user=root", "--skip-test-db", "--auth-root-authentication-method=socket"],
                         capture_output=True, text=True, timeout=180)
    if res.returncode != 0:
        raise HarnessError(f"mariadb-install-db failed: {res.stdout}\n{res.stderr}")
    port = free_port()
    cmd = [_mariadbd(), "--no-defaults", f"--datadir={data}", "--user=root",
           f"--port={port}", "--bind-address=127.0.0.1", f"--socket={sock}",
           f"--pid-file={workdir / 'mariadbd.pid'}", f"--log-error={log}",
           "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
           "--innodb-log-file-size=16M", "--max-connections=200",
           f"--tmpdir={workdir}"]
    cmd += [f"--ssl-cert={tls[0]}", f"--ssl-key={tls[1]}"] if tls else ["--skip-ssl"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    db = MariaDB(port=port, proc=proc, workdir=workdir, socket_path=sock, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"mariadbd exited with {proc.returncode}; log {log}:\n{tail(log)}")
        if sock.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                pass
        time.sleep(0.1)
    else:
        db.stop()
        raise HarnessError(f"mariadbd did not listen on {port} within {timeout} s:\n{tail(log)}")
    grants = "".join(f"CREATE DATABASE {d}; GRANT ALL ON {d}.* TO '{USER}'@'127.0.0.1';"
                     for d in databases)
    db.root_sql(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';{grants}"
                "FLUSH PRIVILEGES;")
    return db


# --------------------------------------------------------------------------------------------
# recording proxy


@dataclass
class Recording:
    """The bytes of one proxied connection: each read as (from_client, bytes), in order."""

    chunks: list[tuple[bool, bytes]] = field(default_factory=list)

    def client_bytes(self) -> bytes:
        return b"".join(b for c, b in self.chunks if c)

    def server_bytes(self) -> bytes:
        return b"".join(b for c, b in self.chunks if not c)


class RecordingProxy:
    """127.0.0.1:port → 127.0.0.1:target, one thread per direction, every chunk recorded."""

    def __init__(self, target: int):
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.recordings: list[Recording] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            rec = Recording()
            with self.lock:
                self.recordings.append(rec)
            for src, dst, from_client in ((c, s, True), (s, c, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, from_client, rec),
                                     daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool,
              rec: Recording) -> None:
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                with self.lock:
                    rec.chunks.append((from_client, b))
                dst.sendall(b)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self, wait: float = 5.0) -> None:
        self.sock.close()
        deadline = time.monotonic() + wait
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))


def write_seed(path: Path, rec: Recording) -> None:
    """A fuzz seed in the format fuzz_mysql.c reads: per chunk one byte (0 = from the client,
    1 = from the server), a 2-byte little-endian length, then the bytes (chunks cut to 65535)."""
    out = bytearray()
    for from_client, b in rec.chunks:
        for i in range(0, len(b), 65535):
            part = b[i:i + 65535]
            out += bytes([0 if from_client else 1]) + len(part).to_bytes(2, "little") + part
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def env_without_otel() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


# --------------------------------------------------------------------------------------------
# the fuzz seeds: python3 tests/integration/mysqlutil.py record tests/fuzz/corpus/mysql

CLI_SESSION = """
CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64), note TEXT);
INSERT INTO users VALUES (1, 'ada', 'x'), (2, 'bob', NULL), (3, 'cy', REPEAT('z', 3000));
SELECT id, name FROM users WHERE id = 1;
SELECT * FROM users;
SELECT * FROM no_such_table;
UPDATE users SET name = 'al' WHERE id = 1;
USE other_db;
CREATE TABLE t (a INT);
SELECT 1; SELECT 2, 3;
DELETE FROM shop.users WHERE id = 2;
"""


def record_corpus(outdir: Path) -> list[Path]:
    """Run a mariadb client session, PyMySQL and mysql-connector-python (binary protocol)
    through the recording proxy against a fresh server; one seed file per connection."""
    import tempfile

    made: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sonde-mysql-") as tmp:
        db = start_mariadb(Path(tmp))
        proxy = RecordingProxy(db.port)
        try:
            db.client("--database=shop", sql=CLI_SESSION, port=proxy.port, check=False)
            import pymysql

            conn = pymysql.connect(host="127.0.0.1", port=proxy.port, user=USER,
                                   password=PASSWORD, database="shop", autocommit=True)
            with conn.cursor() as cur:
                cur.execute("SELECT id, name FROM users WHERE id = %s", (3,))
                cur.fetchall()
                cur.executemany("INSERT INTO users (id, name) VALUES (%s, %s)",
                                [(10, "p"), (11, "q")])
                try:
                    cur.execute("INSERT INTO users (id) VALUES (1)")
                except pymysql.err.IntegrityError:
                    pass
                cur.execute("SELECT REPEAT('y', 20000) AS big, id FROM users")
                cur.fetchall()
            conn.select_db("other_db")
            conn.ping()
            conn.close()
            import mysql.connector

            conn = mysql.connector.connect(host="127.0.0.1", port=proxy.port, user=USER,
                                           password=PASSWORD, database="shop",
                                           use_pure=True, ssl_disabled=True)
            cur = conn.cursor(prepared=True)
            for i in (1, 2, 3, 1):
                cur.execute("SELECT id, name FROM users WHERE id = %s", (i,))
                cur.fetchall()
            cur.execute("UPDATE users SET note = %s WHERE id = %s", ("n", 1))
            cur.close()
            conn.close()
        finally:
            proxy.close()
            db.stop()
        for i, rec in enumerate(proxy.recordings):
            p = outdir / f"session-{i}"
            write_seed(p, rec)
            made.append(p)
    return made


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "record":
        sys.exit("usage: mysqlutil.py record DIR")
    for p in record_corpus(Path(sys.argv[2])):
        print(p, p.stat().st_size)
