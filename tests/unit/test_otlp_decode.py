# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Independent check of sonde's OTLP encoding: build/tests/test_otlp --dump writes the fixed batch
of tests/unit/test_otlp.c, and the official generated classes of the opentelemetry-proto package
(not our own .proto files) must read back the same names, kinds, ids, times and attributes."""
import os
import subprocess
from pathlib import Path

# No importorskip: a missing package must fail the test (pip install opentelemetry-proto).
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SONDE_BUILD", ROOT / "build"))
BIN = BUILD / "tests" / "test_otlp"
T0 = 1700000000123456789


def ensure_binary():
    if not BIN.exists():
        subprocess.run(["make", "-C", str(ROOT), str(BIN.relative_to(ROOT))], check=True)
    assert BIN.exists(), f"{BIN} is missing: build it with `make {BIN.relative_to(ROOT)}`"


def ids(seed, n):
    return bytes((seed + i) & 0xFF for i in range(n))


def attrs(kvs):
    out = {}
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def load(tmp_path):
    ensure_binary()
    path = tmp_path / "req.bin"
    subprocess.run([str(BIN), "--dump", str(path)], check=True)
    req = ExportTraceServiceRequest()
    req.ParseFromString(path.read_bytes())
    return req


def test_resources_and_scope(tmp_path):
    req = load(tmp_path)
    assert len(req.resource_spans) == 2
    services = [attrs(rs.resource.attributes)["service.name"] for rs in req.resource_spans]
    assert services == ["checkout", "inventory"]
    assert attrs(req.resource_spans[0].resource.attributes)["process.pid"] == 100
    assert attrs(req.resource_spans[1].resource.attributes) == {
        "service.name": "inventory",
        "process.pid": 200,
        "host.name": "node-7",
    }
    version = (ROOT / "VERSION").read_text().strip()
    for rs in req.resource_spans:
        assert len(rs.scope_spans) == 1
        assert rs.scope_spans[0].scope.name == "sonde"
        assert rs.scope_spans[0].scope.version == version
    assert [len(rs.scope_spans[0].spans) for rs in req.resource_spans] == [3, 2]


def test_spans(tmp_path):
    req = load(tmp_path)
    spans = {}
    for rs in req.resource_spans:
        for sp in rs.scope_spans[0].spans:
            spans[sp.span_id] = sp
    assert len(spans) == 5
    names = ["GET /cart", "GET /stock/{id}", "SELECT", "POST /reserve", "bad \ufffd\ufffd name"]
    kinds = [Span.SPAN_KIND_SERVER, Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT,
             Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL]
    for i in range(5):
        sp = spans[ids(0x80 + 8 * i, 8)]
        assert sp.name == names[i]
        assert sp.kind == kinds[i]
        assert sp.trace_id == ids(0x10 + (0x40 if i == 4 else 0), 16)
        assert sp.parent_span_id == (ids(0x80, 8) if 0 < i < 4 else b"")
        assert sp.start_time_unix_nano == T0 + i * 1000
        assert sp.end_time_unix_nano == T0 + i * 1000 + 5_000_000
        assert sp.flags & 0xFF == 1
        a = attrs(sp.attributes)
        assert a["http.request.method"] == ("POST" if i == 3 else "GET")
        assert a["http.response.status_code"] == (500 if i == 2 else 200)
        assert a["url.path"] == "/cart"
        want_status = Status.STATUS_CODE_ERROR if i == 2 else Status.STATUS_CODE_UNSET
        assert sp.status.code == want_status
    assert attrs(spans[ids(0x80, 8)].attributes)["sonde.truncated"] is True
    odd = attrs(spans[ids(0x88, 8)].attributes)
    assert odd["odd"] == "a\ufffdb\ufffd("
    assert odd["empty"] == ""
