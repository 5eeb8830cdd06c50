"""A collector that stalls for a moment: the records drained from the rings wait (up to 200 ms)
for room in the export queue instead of becoming spans the full queue drops. The collector is
tests/integration/otlp_receiver.py, told to answer its first POSTs late: a real Jaeger cannot be
slowed down on request."""
import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import harness
from harness import py_client

RECEIVER = Path(__file__).resolve().parent / "otlp_receiver.py"


def stats(text: str, exporter: bool) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("sonde: stats (exit)")
             and (("exporter=" in l) == exporter) and " cpu=" not in l]
    assert lines, text[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def test_slow_collector_holds_records_instead_of_dropping_spans(sonde, start_nginx):
    tok = "t" + uuid.uuid4().hex[:7]
    # The first 2 answers 150 ms late: with those 2 requests of 64 spans in flight, a queue of
    # 256 has no room left (less than the 64 sonde keeps spare) for 150 ms and more; without
    # the hold, the spans of that moment would be dropped. In production records wait 200 ms
    # at most (a longer stall is meant to drop; that rule is unit-tested on a clock the test
    # sets, tests/unit/test_drain_hold.c). Here the testing build waits 2 s: on a machine that
    # other work keeps busy the stall and the scheduling delays together passed 200 ms
    # (dropped_full=284, held_expired=1), and the test is of the hold, not of the machine.
    rcv = subprocess.Popen([sys.executable, str(RECEIVER), "--script",
                            ",".join(["200:delay=150"] * 2)], stdout=subprocess.PIPE, text=True)
    try:
        line = rcv.stdout.readline()
        assert line.startswith("PORT "), line
        port = int(line.split()[1])
        srv = start_nginx(service_name=f"ngx-bp-{tok}")
        agent = sonde("--metrics-addr", "off", "--queue-size", "256", "--batch-size", "64",
                      "--batch-delay-ms", "1000", "--port", str(srv.port), otlp=False,
                      env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                           "SONDE_TEST_HOLD_MAX_MS": "2000"}, testing=True)
        n = 600
        res = py_client([f"{srv.url}/api/items/{i}" for i in range(n)],
                        service_name=f"py-bp-c-{tok}")
        assert res.statuses == [200] * n
        deadline = time.monotonic() + 30
        got = 0
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
                got = len(json.load(r)["spans"])
            if got >= 2 * n:
                break
            time.sleep(0.2)
        assert agent.stop() == 0
        err = agent.stderr()
    finally:
        rcv.kill()
        rcv.wait()
    a, e = stats(err, False), stats(err, True)
    cpu = [l for l in err.splitlines() if l.startswith("sonde: stats (exit): cpu=")]
    assert cpu, err[-2000:]
    held = {k: int(v) for k, v in re.findall(r"(held\w*)=(\d+)", cpu[-1])}
    assert held["held"] >= 1, err[-1500:]
    assert e["dropped_full"] == 0 and e["dropped_failed"] == 0, (e, cpu[-1])
    assert a["ring_full"] == 0, a
    assert e["in"] == a["spans"] and a["spans"] >= 2 * n, (a, e)
    assert got == e["exported"] >= 2 * n, (got, e)
