"""--cpu yield (the default): the agent's loop runs under SCHED_IDLE below the applications, a
guard thread at normal priority raises it while its rings back up or it is starved, and nothing
is lost: on a machine whose every core is kept busy by other processes, every request still
becomes its spans."""
import os
import re
import subprocess
import sys
import time
import uuid

import harness
from harness import py_client


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def per_thread(pid: int, name: str) -> dict:
    """Thread name ("main" for the main thread) -> the text of /proc/PID/task/TID/<name>."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        with open(f"{base}/comm") as f:
            comm = f.read().strip()
        with open(f"{base}/{name}") as f:
            out[comm if int(tid) != pid else "main"] = f.read()
    return out


def policies(pid: int) -> dict:
    """Thread name -> scheduling policy (0 SCHED_OTHER, 5 SCHED_IDLE) of every thread of pid."""
    return {k: int(re.search(r"^policy\s*:\s*(\d+)$", v, re.M).group(1))
            for k, v in per_thread(pid, "sched").items()}


def cpu_line(text: str, when: str = "exit") -> dict:
    lines = [l for l in text.splitlines() if l.startswith(f"sonde: stats ({when}): cpu=")]
    assert lines, text[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def main_line(text: str, exporter: bool = False) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("sonde: stats (exit)")
             and (("exporter=" in l) == exporter) and " cpu=" not in l]
    assert lines, text[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def test_default_loop_yields_and_guard_stays_normal(sonde):
    agent = sonde("--metrics-addr", "off", otlp=False)
    assert "cpu yield" in agent.stderr()
    pol = policies(agent.pid)
    assert pol["main"] == 5, pol  # SCHED_IDLE
    assert pol.get("sonde-cpu-guard") == 0, pol
    assert agent.stop() == 0
    assert cpu_line(agent.stderr())["raises"] == 0


def test_cpu_normal_keeps_normal_priority_and_no_guard(sonde):
    agent = sonde("--metrics-addr", "off", "--cpu", "normal", otlp=False)
    assert "cpu normal" in agent.stderr()
    pol = policies(agent.pid)
    assert pol["main"] == 0 and "sonde-cpu-guard" not in pol, pol
    assert agent.stop() == 0
    assert "cpu=normal" in agent.stderr()


def _slices(pid: int) -> dict:
    """Thread name -> times it was put on a CPU (the third field of its schedstat)."""
    return {k: int(v.split()[2]) for k, v in per_thread(pid, "schedstat").items()}


def test_quiet_agent_wakes_rarely_and_still_traces(sonde, jaeger, start_py_server):
    """With nothing to trace the loop drains the rings every 100 ms instead of every poll period
    (20 ms), and the guard looks every 100 ms instead of every 10 ms: at the old periods the two
    threads were on a CPU 150 times a second between them. The first requests after the quiet
    stretch still become spans, and the longer period announced to the guard keeps it from
    taking the quiet loop for a starved one. The first record after the stretch wakes the loop
    (the flag the agent sets for the programs when it goes quiet): 20 requests are far below
    the quarter of a ring that would wake it otherwise (the exit's count of wake-ups says the
    flag did it)."""
    tok = token()
    srv = start_py_server(service_name=f"py-quiet-{tok}")
    agent = sonde("--metrics-addr", "off", "--port", str(srv.port), "--batch-delay-ms", "200")
    time.sleep(1.5)  # five empty drains and ten empty looks, with room to spare
    before = _slices(agent.pid)
    time.sleep(3.0)
    after = _slices(agent.pid)
    loop = after["main"] - before["main"]
    guard = after["sonde-cpu-guard"] - before["sonde-cpu-guard"]
    # Quiet: about 10 a second each (the loop's 100 ms tick and quiet drain, the guard's look);
    # at the busy periods they would be over 150 and 300 in these 3 s.
    assert loop < 75, (loop, guard)
    assert guard < 75, (loop, guard)
    # Nothing was traced in the stretch, so nothing can have raised the loop: a raise here is
    # the guard taking the quiet loop's long period for starvation. (After the requests below a
    # raise is right on a loaded machine: the loop at SCHED_IDLE is then really starved.)
    quiet = _stats_now(agent)
    assert cpu_line(quiet, "on request")["raises"] == 0, quiet
    n = 20
    res = py_client([f"{srv.url}/api/users/{i}" for i in range(n)],
                    service_name=f"py-quiet-c-{tok}")
    assert res.statuses == [200] * n
    spans = jaeger.wait_for_spans(f"py-quiet-{tok}", count=n, limit=2 * n, timeout=60)
    assert len(spans) == n
    assert agent.stop() == 0
    err = agent.stderr()
    assert cpu_line(err)["wakeups"] >= 1, err[-1500:]
    assert main_line(err)["ring_full"] == 0


def test_bad_cpu_value_is_refused():
    res = harness.run_sonde("--cpu", "fast")
    assert res.returncode == 2
    assert "invalid value 'fast' for --cpu: expected yield or normal" in res.stderr


def test_busy_machine_raises_the_loop_and_loses_nothing(sonde, jaeger, start_py_server):
    """Every core runs a busy loop at normal priority: SCHED_IDLE alone would starve the agent.
    The guard must raise it, and every one of the requests made meanwhile must arrive."""
    tok = token()
    srv = start_py_server(service_name=f"py-busy-{tok}")
    agent = sonde("--metrics-addr", "off", "--batch-delay-ms", "200")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]
    try:
        time.sleep(0.5)
        n = 300
        res = py_client([f"{srv.url}/api/users/{i}" for i in range(n)],
                        service_name=f"py-busy-c-{tok}")
        assert res.statuses == [200] * n
        server = jaeger.wait_for_spans(f"py-busy-{tok}", count=n, limit=2 * n, timeout=60)
        client = jaeger.wait_for_spans(f"py-busy-c-{tok}", count=n, limit=2 * n, timeout=60)
        assert len(server) == n and len(client) == n
        raised_while_busy = "yield(raised)" in (agent.stderr() + _stats_now(agent))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert agent.stop() == 0
    err = agent.stderr()
    cpu, main, exp = cpu_line(err), main_line(err), main_line(err, exporter=True)
    assert cpu["raises"] >= 1, err[-1500:]
    assert raised_while_busy, err[-1500:]
    assert main["ring_full"] == 0, main
    assert exp["dropped_full"] == 0 and exp["dropped_failed"] == 0, exp


def _stats_now(agent) -> str:
    """Ask for the statistics (SIGUSR1) and return the lines it printed."""
    before = len(agent.stderr())
    os.kill(agent.pid, 10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = agent.stderr()[before:]
        if "exporter=" in text:
            return text
        time.sleep(0.05)
    return agent.stderr()[before:]


def test_without_cap_sys_nice_it_says_so_and_stays_at_normal_priority(start_py_server, tmp_path):
    """Without CAP_SYS_NICE the loop could not be raised again once at SCHED_IDLE: sonde must
    not go down at all, say why, and trace as usual."""
    srv = start_py_server(service_name="py-nocap")
    err_path = tmp_path / "sonde.stderr"
    with open(err_path, "wb") as err, open(tmp_path / "sonde.stdout", "wb") as out:
        proc = subprocess.Popen(["setpriv", "--bounding-set", "-sys_nice", "--",
                                 str(harness.SONDE_BIN), "--metrics-addr", "off",
                                 "--port", str(srv.port)], stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "sonde: attached" not in err_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()
            time.sleep(0.1)
        text = err_path.read_text()
        assert "not yielding the CPU to the applications: without CAP_SYS_NICE" in text, text
        assert "cpu normal" in text, text
        assert all(p == 0 for p in policies(proc.pid).values()), policies(proc.pid)
        assert py_client(f"{srv.url}/api/users/1", n=5, service_name="py-nocap-c").statuses \
            == [200] * 5
        time.sleep(0.5)
    finally:
        proc.terminate()
        rc = proc.wait(timeout=15)
    assert rc == 0
    text = err_path.read_text()
    assert "cpu=normal" in text
    assert main_line(text)["spans"] >= 10, text[-1500:]
