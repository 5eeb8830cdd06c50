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
