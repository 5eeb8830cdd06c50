"""A real Jaeger stopped and started again under sonde: capture goes on during the outage, what
the queue held is delivered once the collector is back, and every span is accounted for
(produced = exported + dropped + still queued)."""
import re
import time
import uuid

import harness
from harness import py_client


def token() -> str:
    return "t" + uuid.uuid4().hex[:7]


def exit_stats(text: str, exporter: bool) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("sonde: stats (exit)")
             and (("exporter=" in l) == exporter)]
    assert lines, text[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def test_jaeger_restart_delivers_what_was_queued(sonde, start_py_server, tmp_path):
    tok = token()
    j = harness.Jaeger.start(state_dir=tmp_path / "jaeger")
    try:
        srv = start_py_server(service_name=f"py-{tok}")
        agent = sonde("--batch-delay-ms", "200", otlp=False,
                      env={"OTEL_EXPORTER_OTLP_ENDPOINT": j.otlp_url})
        before = [f"{srv.url}/api/users/{i}" for i in range(50)]
        assert py_client(before, service_name=f"cli-{tok}").statuses == [200] * 50
        j.wait_for_spans(f"py-{tok}", count=50, limit=1000, timeout=30)

        j.stop()  # the outage: capture goes on, the exporter retries
        during = [f"{srv.url}/status/{200 + (i % 2)}" for i in range(200)]
        assert len(py_client(during, service_name=f"cli-{tok}").statuses) == 200
        time.sleep(3)
        assert agent.running
        j._sh("start")  # same ports, empty storage: only what was queued can show up there

        got = j.wait_for_spans(f"py-{tok}", where=lambda s: s.tags.get("url.path", "")
                               .startswith("/status/"), count=200, limit=2000, timeout=90)
        assert len(got) == 200
        client = j.wait_for_spans(f"cli-{tok}", where=lambda s: "/status/" in
                                  s.tags.get("url.full", ""), count=200, limit=2000, timeout=30)
        assert len(client) == 200
    finally:
        rc = agent.stop() if "agent" in locals() else 0
        j.stop()
    assert rc == 0
    err = agent.stderr()
    a, e = exit_stats(err, False), exit_stats(err, True)
    assert e["in"] == a["spans"]
    assert e["in"] == e["exported"] + e["dropped_full"] + e["dropped_failed"] + e["queued"], e
    assert e["dropped_full"] == 0 and e["dropped_failed"] == 0, e
    assert e["transport_errors"] >= 1 and e["retries"] >= 1, e
    assert e["exported"] >= 2 * (50 + 200), e
