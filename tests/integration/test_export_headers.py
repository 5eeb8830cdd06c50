"""Collector headers (authentication) from a file: --otlp-headers-file or SONDE_OTLP_HEADERS_FILE,
one K=V a line, go to the collector with the ones given otherwise; a file others may read is
warned about, one that cannot be read is refused. The collector is tests/integration/
otlp_receiver.py, which records every request's headers."""
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import harness
from harness import curl

RECEIVER = Path(__file__).resolve().parent / "otlp_receiver.py"


def start_receiver():
    proc = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


def receiver_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.load(r)


def test_headers_from_a_file_reach_the_collector(sonde, start_py_server, tmp_path):
    srv = start_py_server(service_name="hdr-server")
    secret = tmp_path / "headers"
    secret.write_text("# the collector's token\nauthorization=Bearer%20s3cr3t\n\n"
                      "  x-tenant = blue ,x-team=red\n")
    secret.chmod(0o600)
    proc, port = start_receiver()
    try:
        s = sonde("--otlp-endpoint", f"http://127.0.0.1:{port}", "--port", str(srv.port),
                  "--otlp-headers", "x-origin=flag", "--otlp-headers-file", str(secret),
                  otlp=False, env={"OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=env"})
        curl(f"{srv.url}/api/users/1", "-o", "/dev/null")
        deadline = time.time() + 15
        while not receiver_stats(port)["requests"] and time.time() < deadline:
            time.sleep(0.2)
        reqs = receiver_stats(port)["requests"]
        assert reqs, "no export reached the receiver"
        h = reqs[0]["headers"]
        assert h.get("authorization") == "Bearer s3cr3t"
        assert h.get("x-tenant") == "blue" and h.get("x-team") == "red"
        assert h.get("x-origin") == "flag" and "x-ignored" not in h
        assert "readable by every user" not in s.stderr()
        assert "s3cr3t" not in s.stderr() and "s3cr3t" not in s.stdout()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_headers_file_from_the_environment_and_its_mode(sonde, tmp_path):
    secret = tmp_path / "headers"
    secret.write_text("authorization=Bearer%20x\n")
    secret.chmod(0o644)
    s = sonde(otlp=False, env={"SONDE_OTLP_HEADERS_FILE": str(secret)})
    assert "readable by every user (mode 0644)" in s.stderr()


def test_headers_file_that_cannot_be_read_is_refused(tmp_path):
    r = harness.run_sonde("--otlp-headers-file", str(tmp_path / "missing"))
    assert r.returncode == 2
    assert "--otlp-headers-file" in r.stderr and "No such file" in r.stderr
    big = tmp_path / "big"
    big.write_text("a=b\n" * 5000)
    r = harness.run_sonde("--otlp-headers-file", str(big))
    assert r.returncode == 2 and "larger than" in r.stderr
