"""Start and stop: nothing of sonde stays in the kernel after SIGTERM, SIGINT or SIGKILL."""
import json
import signal
import subprocess
import time

import harness


def sonde_programs() -> set[int]:
    """Ids of the loaded BPF programs that are sonde's (all are named sonde_*)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out or "[]") if p.get("name", "").startswith("sonde_")}


def gone(ids: set[int]) -> bool:
    # programs are freed after their last fd closes (RCU): allow a moment
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not ids & sonde_programs():
            return True
        time.sleep(0.1)
    return False


def test_sigterm_and_sigint_detach_everything(sonde):
    for sig in (signal.SIGTERM, signal.SIGINT):
        before = sonde_programs()
        proc = sonde(otlp=False)
        ours = sonde_programs() - before
        assert len(ours) >= 3, f"expected sonde's programs to be loaded, saw {ours}"
        proc.proc.send_signal(sig)
        assert proc.proc.wait(timeout=10) == 0
        assert "flushing and detaching" in proc.stderr()
        assert gone(ours), f"still loaded after {sig!r}: {ours & sonde_programs()}"


def test_sigkill_leaves_nothing_attached(start_py_server, tmp_path):
    srv = start_py_server(service_name="py-kill")
    before = sonde_programs()
    # not the fixture: it would rightly complain that this sonde did not exit 0
    proc = harness.SondeProcess([], harness._env(None, None), tmp_path / "sonde")
    ours = sonde_programs() - before
    assert len(ours) >= 3
    proc.kill()
    assert gone(ours), "links are owned by the agent's fds: a killed agent must leave nothing"
    # the traced server is unharmed
    assert harness.curl(f"{srv.url}/api/users/1").stdout.startswith("{")


def test_started_on_a_busy_host_it_picks_up_open_connections(sonde, jaeger, start_py_server,
                                                            test_start_us):
    """A keep-alive connection opened before sonde: the requests on it after sonde attached
    become spans on both ends, with nothing bogus from the exchange sonde joined midway."""
    import sys
    import uuid
    tok = "t" + uuid.uuid4().hex[:7]
    srv = start_py_server(service_name=f"py-{tok}")
    before, after = 10, 30
    # The client pauses between two requests of its connection until sonde is attached: on a
    # loaded machine an attach can take seconds, and a fixed sleep then left too few requests.
    client = subprocess.Popen(
        [sys.executable, str(harness.APPS / "py_client.py"), f"{srv.url}/api/users/7", "-n",
         str(before + after), "--delay-ms", "20", "--pause-after", str(before)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=harness._env(f"cli-{tok}", None))
    assert client.stderr.readline().strip() == "paused"
    sonde()
    out, _ = client.communicate("go\n", timeout=120)
    assert json.loads(out)["statuses"] == [200] * (before + after)
    server = jaeger.wait_for_spans(f"py-{tok}", count=after, limit=1000, start_us=test_start_us,
                                   timeout=60)
    clients = jaeger.wait_for_spans(f"cli-{tok}", count=after, limit=1000,
                                    start_us=test_start_us, timeout=60)
    time.sleep(1.0)  # anything more would come in the same export
    server = [s for s in jaeger.spans(f"py-{tok}", limit=1000, start_us=test_start_us)
              if s.service == f"py-{tok}"]
    clients = [s for s in jaeger.spans(f"cli-{tok}", limit=1000, start_us=test_start_us)
               if s.service == f"cli-{tok}"]
    # exactly the requests after the attach, none of them broken
    assert len(server) == after and len(clients) == after, (len(server), len(clients))
    for s in server + clients:
        assert s.name == "GET /api/users/{id}", s
        assert s.tags["http.response.status_code"] == 200 and not s.is_error, s
    assert all(s.kind == "server" for s in server) and all(s.kind == "client" for s in clients)
    # the two ends of the connection sonde joined midway are still linked
    ids = {s.span_id for s in clients}
    assert sum(s.parent_id in ids for s in server) >= len(server) - 1


def test_a_second_sonde_is_told_and_neither_traces_the_other(sonde, jaeger, start_py_server):
    srv = start_py_server(service_name="py-two")
    first = sonde("--batch-delay-ms", "100")  # exports to Jaeger
    second = sonde(otlp=False)                 # prints to its console
    assert "another sonde runs on this host" in second.stderr()
    harness.py_client(f"{srv.url}/api/users/5", n=30, service_name="py-two-client")
    jaeger.wait_for_spans("py-two", count=30, limit=500, timeout=30)
    time.sleep(1.5)  # the first one's exports went by the second one's hooks
    out = second.stdout()
    assert "GET /api/users/{id}" in out  # the second one does trace the applications
    assert "/v1/traces" not in out, [l for l in out.splitlines() if "/v1/traces" in l][:3]


RESET_THEN_READ = r"""
import socket, struct, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
sys.stdin.readline()  # sonde is attached
c = socket.create_connection(("127.0.0.1", srv.getsockname()[1]))
s, _ = srv.accept()
c.sendall(b"GET /after-reset HTTP/1.1\r\nHost: x\r\n\r\n")
import time; time.sleep(0.1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()  # a reset: the server's socket is closed, its request still queued
time.sleep(0.2)
print(len(s.recv(4096)), flush=True)
s.close()
"""


def test_a_read_after_the_close_starts_no_connection(sonde):
    """A reset closes a socket while bytes it received are still queued: the application's
    read returns them after the kernel's close took the connection's state. That read must
    not start a new connection, which no close would ever end (a conn of no address in the
    agent, an entry in the kernel's table until evicted). The client's send is the one I/O
    and the one connection sonde counts (its request, reset, an incomplete span)."""
    p = subprocess.Popen(["python3", "-c", RESET_THEN_READ], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        int(p.stdout.readline())  # listening
        agent = sonde("--pid", str(p.pid))
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "38", "the read after the reset got no bytes"
        assert p.wait(timeout=10) == 0
    finally:
        p.kill()
    time.sleep(1)  # the agent drains its rings
    assert agent.stop() == 0
    stats = [l for l in agent.stderr().splitlines()
             if l.startswith("sonde: stats (exit): io=")]
    assert stats, agent.stderr()
    st = {k: int(v) for k, v in (kv.split("=") for kv in stats[-1].split(": ", 2)[2].split())
          if v.isdigit()}
    assert st["io"] == 1 and st["conns"] == 1, stats[-1]
