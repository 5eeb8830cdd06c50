"""The syscall fallback (--hooks syscalls): the hooks for kernels without the socket tracepoints,
forced on this kernel. The same spans must arrive as with the socket hooks, through every socket
I/O syscall the fallback reads (read/write, readv/writev, sendto/recvfrom, sendmsg/recvmsg), and
only one set of socket hooks may be loaded at a time.

The span tests select the server's port (--port): the machine is shared, and host-wide load from
elsewhere can fill sonde's export queue and drop the spans counted here.
"""
import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import harness
from harness import curl, py_client, run_sonde

N_KEEPALIVE = 200

SOCKET_PROGS = {"sonde_sock_send", "sonde_sock_recv", "sonde_sock_state", "sonde_thr_fork",
                "sonde_exec"}
FALLBACK_PROGS = {"sonde_sys_enter", "sonde_sys_exit", "sonde_raw_state",
                  "sonde_raw_fork", "sonde_raw_exec"}


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def loaded_programs(pid: int) -> set:
    """Names of the BPF programs the process holds (its bpf-prog fds, named by bpftool)."""
    ids = []
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                ids += [int(l.split()[1]) for l in f if l.startswith("prog_id:")]
        except OSError:
            continue
    names = set()
    for i in ids:
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)], text=True,
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        names.add(json.loads(r.stdout)["name"])
    return names


def attach_line(proc) -> str:
    lines = [l for l in proc.stderr().splitlines() if l.startswith(harness.ATTACHED_MARKER)]
    assert lines, proc.stderr()
    return lines[0]


def test_syscall_hooks_keepalive_spans_exact(sonde, jaeger, start_py_server, test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"fb-server-{tok}")
    proc = sonde("--hooks", "syscalls", "--port", str(srv.port))
    line = attach_line(proc)
    assert "raw_tp/sys_enter" in line and "raw_tp/sys_exit" in line, line
    assert "raw_tp/inet_sock_set_state" in line and "tp_btf" not in line, line

    urls = [f"{srv.url}/api/users/{i}" for i in range(N_KEEPALIVE)]
    res = py_client(urls, service_name=f"fb-client-{tok}")
    assert res.statuses == [200] * N_KEEPALIVE

    server = jaeger.wait_for_spans(f"fb-server-{tok}", count=N_KEEPALIVE, limit=2000,
                                   start_us=test_start_us, timeout=60)
    client = jaeger.wait_for_spans(f"fb-client-{tok}", count=N_KEEPALIVE, limit=2000,
                                   start_us=test_start_us, timeout=60)
    assert len(server) == N_KEEPALIVE, f"{len(server)} server spans for {N_KEEPALIVE} requests"
    assert len(client) == N_KEEPALIVE, f"{len(client)} client spans for {N_KEEPALIVE} requests"
    assert sorted(s.tags["url.path"] for s in server) == sorted(
        f"/api/users/{i}" for i in range(N_KEEPALIVE))
    assert sorted(s.tags["url.full"] for s in client) == sorted(urls)
    peer_ports = set()
    for s in server:
        assert s.kind == "server" and not s.is_error
        assert s.name == "GET /api/users/{id}"
        assert s.tags["http.request.method"] == "GET"
        assert s.tags["http.response.status_code"] == 200
        assert s.tags["server.port"] == srv.port
        assert s.tags["client.address"] == "127.0.0.1"
        assert s.tags["network.protocol.version"] == "1.1"
        assert s.process_tags["process.pid"] == srv.pid
        peer_ports.add(s.tags["network.peer.port"])
    assert len(peer_ports) == 1, f"keep-alive: one connection expected, saw {len(peer_ports)}"
    for s in client:
        assert s.kind == "client" and not s.is_error
        assert s.name == "GET /api/users/{id}"
        assert s.tags["http.response.status_code"] == 200
        assert s.tags["server.port"] == srv.port
        assert s.tags["network.peer.address"] == "127.0.0.1"
        assert s.process_tags["process.pid"] == res.pid
    # each server span lies within its client span (same host, same clock), give or take the
    # loopback skew: a send is timestamped when the syscall returns, by which time the bytes
    # may already have been read on the other CPU
    skew_us = 100
    client.sort(key=lambda s: s.start_us)
    server.sort(key=lambda s: s.start_us)
    for c, s in zip(client, server):
        assert c.tags["url.full"].endswith(s.tags["url.path"])
        assert c.start_us <= s.start_us + skew_us
        assert s.start_us + s.duration_us <= c.start_us + c.duration_us + skew_us


# One keep-alive connection, one request per pair of syscalls the fallback reads; a MSG_PEEK
# receive before the recvmsg must not count as data. Each request head sits in the first iovec:
# both hook sets copy payload from the first iovec only.
RAW_CLIENT = textwrap.dedent(r"""
    import os, socket, sys
    port, tok = int(sys.argv[1]), sys.argv[2]
    s = socket.create_connection(("127.0.0.1", port))
    fd = s.fileno()

    def req(i):
        return (f"GET /{tok}/{i}/items HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"User-Agent: raw/{tok}\r\n\r\n").encode()

    def read_response(recv):
        data = b""
        while b"\r\n\r\n" not in data:
            data += recv()
        head, _, body = data.partition(b"\r\n\r\n")
        n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-length")][0])
        while len(body) < n:
            body += recv()
        assert head.startswith(b"HTTP/1.1 404"), head

    os.write(fd, req(0))                                             # write / read
    read_response(lambda: os.read(fd, 65536))
    os.writev(fd, [req(1), b""])                                     # writev / readv
    buf = bytearray(65536)
    read_response(lambda: bytes(buf[:os.readv(fd, [buf])]))
    s.send(req(2))                                                   # sendto / recvfrom
    read_response(lambda: s.recv(65536))
    s.sendmsg([req(3)])                                              # sendmsg / recvmsg
    s.recv(16, socket.MSG_PEEK)
    read_response(lambda: s.recvmsg(65536)[0])
    s.close()
    print("ok")
""")


def test_syscall_hooks_every_io_syscall(sonde, jaeger, start_py_server, test_start_us):
    tok = token()
    srv = start_py_server(service_name=f"fb-raw-server-{tok}")
    sonde("--hooks", "syscalls", "--port", str(srv.port))
    r = subprocess.run([sys.executable, "-c", RAW_CLIENT, str(srv.port), tok], text=True,
                       capture_output=True, timeout=60,
                       env=harness._env(f"fb-raw-client-{tok}", None))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr

    paths = [f"/{tok}/{i}/items" for i in range(4)]
    server = jaeger.wait_for_spans(f"fb-raw-server-{tok}", count=4, start_us=test_start_us)
    client = jaeger.wait_for_spans(f"fb-raw-client-{tok}", count=4, start_us=test_start_us)
    assert sorted(s.tags["url.path"] for s in server) == paths
    assert sorted(s.tags["url.full"] for s in client) == sorted(srv.url + p for p in paths)
    for s in server + client:
        assert s.tags["http.response.status_code"] == 404
        assert s.tags["http.request.method"] == "GET"
        assert s.tags["server.port"] == srv.port
    for s in server:
        assert s.kind == "server" and s.tags["user_agent.original"] == f"raw/{tok}"
    for s in client:
        assert s.kind == "client"
    jaeger.assert_no_spans(f"fb-raw-server-{tok}", wait=1.0, start_us=test_start_us,
                           where=lambda s: s.tags.get("url.path") not in paths)


def test_syscall_hooks_nginx_and_curl(sonde, jaeger, start_nginx, test_start_us):
    """nginx receives with recvfrom and answers with writev; curl sends and receives with
    sendto/recvfrom: 20 requests, each its own connection (open and close on the raw_tp)."""
    tok = token()
    ng = start_nginx()
    sonde("--hooks", "syscalls", "--port", str(ng.port))
    paths = [f"/api/items/{tok}/{i}" for i in range(20)]
    for p in paths:
        curl(ng.url + p, "-o", "/dev/null", service_name=f"fb-curl-{tok}")
    server = jaeger.wait_for_spans("nginx", where=lambda s: f"/{tok}/" in s.tags.get("url.path", ""),
                                   count=len(paths), limit=2000, start_us=test_start_us)
    assert sorted(s.tags["url.path"] for s in server) == sorted(paths)
    for s in server:
        assert s.kind == "server" and s.tags["http.response.status_code"] == 200
    client = jaeger.wait_for_spans(f"fb-curl-{tok}", count=len(paths), start_us=test_start_us)
    assert sorted(s.tags["url.full"] for s in client) == sorted(ng.url + p for p in paths)


@pytest.mark.parametrize("args,want,unwanted", [
    (("--hooks", "syscalls"), FALLBACK_PROGS, SOCKET_PROGS),
    ((), SOCKET_PROGS, FALLBACK_PROGS),
])
def test_one_set_of_socket_hooks_is_loaded(sonde, args, want, unwanted):
    proc = sonde(*args, otlp=False)
    names = loaded_programs(proc.pid)
    assert want <= names, f"loaded: {sorted(names)}"
    assert not (unwanted & names), f"both sets loaded: {sorted(names)}"


def test_check_lists_the_fallback_rows():
    r = run_sonde("--check")
    assert r.returncode == 0, r.stdout + r.stderr
    fallback = [l for l in r.stdout.splitlines() if " fallback " in l]
    assert len(fallback) == 5, r.stdout
    assert any("raw_tp/sys_enter+sys_exit" in l and "sendmsg" in l for l in fallback), r.stdout
    assert any("raw_tp/sys_enter+sys_exit" in l and "recvmsg" in l for l in fallback), r.stdout
    assert any("raw_tp/inet_sock_set_state" in l for l in fallback), r.stdout
    assert any("raw_tp/sched_process_fork" in l for l in fallback), r.stdout
    assert any("raw_tp/sched_process_exec" in l for l in fallback), r.stdout
    # on this kernel the socket tracepoints win and the fallback is only available
    assert all(l.rstrip().endswith("available") for l in fallback), r.stdout
    used = [l for l in r.stdout.splitlines() if l.rstrip().endswith("will be used")]
    assert len(used) == 5 and all("tp_btf/" in l for l in used), r.stdout


@pytest.mark.parametrize("value", ["bogus", "", "SYSCALLS"])
def test_bad_hooks_value_is_refused(value):
    r = run_sonde("--hooks", value)
    assert r.returncode != 0
    assert f"invalid value '{value}' for --hooks: expected auto, socket or syscalls" in r.stderr
