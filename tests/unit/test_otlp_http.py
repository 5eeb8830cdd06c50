# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The OTLP/HTTP exporter against a real local HTTP server: build/tests/test_export_driver submits
N spans through the exporter on sonde's loop, and tests/integration/otlp_receiver.py decodes them
with the official opentelemetry-proto classes and answers as each test scripts it (200, 503, 429
with Retry-After, 400, partial success, slow answers). Every test also checks the counters'
identity: spans_in == exported + dropped_full + dropped_failed + queued."""
import json
import os
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

# No importorskip: without the package the receiver cannot decode, and the test must fail.
import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SONDE_BUILD", ROOT / "build"))
DRIVER = BUILD / "tests" / "test_export_driver"
RECEIVER = ROOT / "tests" / "integration" / "otlp_receiver.py"


@pytest.fixture(scope="module", autouse=True)
def driver_binary():
    if not DRIVER.exists():
        subprocess.run(["make", "-C", str(ROOT), str(DRIVER.relative_to(ROOT))], check=True)
    assert DRIVER.exists(), f"{DRIVER} is missing: build it with `make unit`"


class Receiver:
    def __init__(self, script="", tls=None):
        args = [sys.executable, str(RECEIVER), "--script", script]
        if tls:
            args += ["--tls", *tls]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"receiver did not start: {line!r}"
        self.port = int(line.split()[1])
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/v1/traces"
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context(cafile=tls[0])

    def stats(self):
        url = self.url.replace("/v1/traces", "/stats")
        with urllib.request.urlopen(url, timeout=5, context=self.ctx) as r:
            return json.load(r)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=5)


@pytest.fixture
def receiver():
    made = []

    def start(script="", tls=None):
        r = Receiver(script, tls)
        made.append(r)
        return r

    yield start
    for r in made:
        r.close()


def drive(url, n, **opts):
    args = [str(DRIVER), url, str(n)] + [f"{k}={v}" for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    st["log"] = out.stderr
    assert st["spans_in"] == (st["spans_exported"] + st["spans_dropped_full"] +
                              st["spans_dropped_failed"] + st["spans_queued"]), st
    return st


def test_all_spans_arrive(receiver):
    r = receiver()
    st = drive(r.url, 1000, max_batch=256, headers="x-api-key=abc%20def, x-tenant = t1")
    assert st["spans_exported"] == 1000 and st["spans_queued"] == 0
    assert st["retries"] == 0 and st["errors_http"] == 0
    got = r.stats()
    spans = got["spans"]
    assert len(spans) == 1000
    assert sorted(s["attributes"]["sonde.test.index"] for s in spans) == list(range(1000))
    assert len({s["span_id"] for s in spans}) == 1000
    assert len({s["trace_id"] for s in spans}) == 100
    s = next(s for s in spans if s["attributes"]["sonde.test.index"] == 11)
    assert s["service"] == "driver" and s["scope"] == "sonde"
    assert s["name"] == "GET /item/{id}" and s["kind"] == 3  # CLIENT
    assert s["parent_span_id"] and s["end"] - s["start"] == 1_500_000 + 11
    assert s["attributes"]["http.response.status_code"] == 200
    for req in got["requests"]:
        assert req["spans"] <= 256
        h = req["headers"]
        assert h["content-type"] == "application/x-protobuf"
        assert h["content-encoding"] == "gzip"
        assert h["x-api-key"] == "abc def" and h["x-tenant"] == "t1"
    assert st["requests"] == len(got["requests"]) == 4
    # Keep-alive: connections are reused, at most one per request slot.
    assert len({q["peer_port"] for q in got["requests"]}) <= 2


def test_queue_wraps_with_spans_of_many_sizes(receiver):
    # Spans are queued encoded, their bytes in a ring that wraps and grows: spans of 3 to 1402
    # bytes of url.path, submitted while earlier batches are being sent (paced by the queue's
    # room), so that the ring wraps with sizes that do not line up, and grows past its start
    # (about 1000 spans of 700 bytes on average are queued: past the 512 KiB an emptied ring
    # keeps, so it is given back at the end too).
    r = receiver()
    n = 3000
    st = drive(r.url, n, max_queue=1000, max_batch=64, vary=1, paced=1, gzip=0)
    assert st["spans_exported"] == n and st["spans_dropped_full"] == 0, st
    assert st["spans_dropped_failed"] == 0
    spans = r.stats()["spans"]
    assert len(spans) == n
    by_index = {s["attributes"]["sonde.test.index"]: s for s in spans}
    assert sorted(by_index) == list(range(n))
    for i, s in by_index.items():
        want = "/v/" + "p" * ((i * 131) % 1400)
        assert s["attributes"]["url.path"] == want, i
        assert s["end"] - s["start"] == 1_500_000 + i
        assert s["attributes"]["http.request.method"] == "GET"
    # Requests leave in submission order: each batch holds the next indices.
    got = r.stats()["requests"]
    assert sum(q["spans"] for q in got) == n


def test_no_gzip(receiver):
    r = receiver()
    st = drive(r.url, 50, gzip=0)
    assert st["spans_exported"] == 50
    req = r.stats()["requests"][0]
    assert "content-encoding" not in req["headers"]


def test_503_is_retried(receiver):
    r = receiver("503,503")
    st = drive(r.url, 20)
    assert st["spans_exported"] == 20
    assert st["retries"] == 2 and st["requests"] == 3 and st["errors_http"] == 2
    got = r.stats()
    assert [q["status"] for q in got["requests"]] == [503, 503, 200]
    assert len(got["spans"]) == 20
    # Backoff: about 0.5-1 s, then 1-2 s.
    t = [q["time"] for q in got["requests"]]
    assert 0.45 <= t[1] - t[0] <= 1.5 and 0.95 <= t[2] - t[1] <= 2.5


def test_429_honours_retry_after(receiver):
    r = receiver("429:ra=1")
    st = drive(r.url, 10)
    assert st["spans_exported"] == 10 and st["retries"] == 1
    t = [q["time"] for q in r.stats()["requests"]]
    assert len(t) == 2
    assert t[1] - t[0] >= 1.0


def test_429_retry_after_http_date(receiver):
    # A date in the past means "now": the retry comes at once.
    r = receiver("429:ra=Wed%2C%2021%20Oct%202015%2007%3A28%3A00%20GMT")
    st = drive(r.url, 5)
    assert st["spans_exported"] == 5 and st["retries"] == 1
    t = [q["time"] for q in r.stats()["requests"]]
    assert t[1] - t[0] < 0.5


@pytest.mark.parametrize("status", [400, 413, 500])
def test_non_retryable_is_dropped(receiver, status):
    r = receiver(str(status))
    st = drive(r.url, 30)
    assert st["requests"] == 1 and st["retries"] == 0
    assert st["spans_dropped_failed"] == 30 and st["spans_exported"] == 0
    assert st["errors_http"] == 1
    assert len(r.stats()["requests"]) == 1
    assert f"HTTP {status}" in st["log"] and f"scripted {status}" in st["log"]


def test_queue_overflow_counts_drops(receiver):
    r = receiver()
    st = drive(r.url, 5000, max_queue=1000, max_batch=200)
    assert st["spans_dropped_full"] == 4000
    assert st["spans_exported"] == 1000
    assert len(r.stats()["spans"]) == 1000


def test_partial_success_is_counted(receiver):
    r = receiver("200:partial=3:msg=spans%20too%20old")
    st = drive(r.url, 10)
    assert st["spans_rejected"] == 3
    assert st["spans_dropped_failed"] == 3 and st["spans_exported"] == 7
    assert "rejected 3 of 10 spans: spans too old" in st["log"]


def test_retries_give_up(receiver):
    r = receiver(",".join(["503"] * 20))
    st = drive(r.url, 10, max_retry_ms=2000)
    assert st["spans_dropped_failed"] == 10 and st["spans_exported"] == 0
    assert 1 <= st["retries"] <= 3
    assert st["elapsed_ms"] < 5000
    assert "dropping 10 spans" in st["log"]


def test_slow_answer_times_out_and_is_retried(receiver):
    r = receiver("200:delay=1500")
    st = drive(r.url, 10, timeout_ms=500)
    assert st["errors_transport"] >= 1 and st["retries"] >= 1
    # The slow request may still have been recorded by the receiver; the retry succeeds.
    assert st["spans_exported"] == 10


def test_refused_then_gives_up():
    st = drive("http://127.0.0.1:1/v1/traces", 10, max_retry_ms=1000)
    assert st["spans_dropped_failed"] == 10 and st["errors_transport"] >= 1
    assert "Couldn't connect" in st["log"] or "Failed to connect" in st["log"]


def test_log_is_rate_limited(receiver):
    r = receiver(",".join(["503"] * 20))
    st = drive(r.url, 2000, max_batch=100, max_retry_ms=1500)
    assert st["errors_http"] >= 4
    lines = [ln for ln in st["log"].splitlines() if "HTTP 503" in ln and "retrying" in ln]
    assert len(lines) == 1


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return str(crt), str(key)


def test_https_verifies_certificates(receiver, cert):
    r = receiver(tls=cert)
    # A self-signed certificate is refused by default, and that is not retried.
    st = drive(r.url, 10)
    assert st["spans_dropped_failed"] == 10 and st["retries"] == 0
    assert st["errors_transport"] == 1
    assert "certificate" in st["log"]
    # With the CA file it is trusted; insecure skips the check.
    st = drive(r.url, 10, ca_file=cert[0])
    assert st["spans_exported"] == 10
    st = drive(r.url, 10, insecure=1)
    assert st["spans_exported"] == 10
    assert len(r.stats()["spans"]) == 20
