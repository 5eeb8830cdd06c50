"""The agent's /metrics and /healthz endpoint: counts that add up, loopback, bad input."""
import re
import socket
import time
import urllib.error
import urllib.request

import harness
from harness import py_client


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def value(text, name, labels=""):
    m = re.search(rf"^{re.escape(name + labels)} (\d+)$", text, re.M)
    assert m, f"{name}{labels} not in /metrics:\n{text}"
    return int(m.group(1))


def test_metrics_count_spans_and_exports(sonde, jaeger, start_py_server):
    port = harness.free_port()
    srv = start_py_server(service_name="py-metrics")
    sonde("--metrics-addr", f"127.0.0.1:{port}", "--batch-delay-ms", "100")
    res = py_client(f"{srv.url}/api/users/1", n=25, service_name="py-metrics-client")
    assert res.statuses == [200] * 25
    base = f"http://127.0.0.1:{port}"

    def exported():
        code, text = get(f"{base}/metrics")
        assert code == 200
        lab = '{exporter="otlp"}'
        n = value(text, "sonde_export_spans_exported_total", lab)
        return text if n >= 50 else None

    text = harness.poll_until(exported, 15, what="50 spans exported in /metrics")
    lab = '{exporter="otlp"}'
    spans_in = value(text, "sonde_export_spans_total", lab)
    assert value(text, "sonde_spans_total") >= 50
    assert spans_in == (value(text, "sonde_export_spans_exported_total", lab)
                        + value(text, "sonde_export_spans_dropped_total", '{exporter="otlp",reason="queue_full"}')
                        + value(text, "sonde_export_spans_dropped_total", '{exporter="otlp",reason="failed"}')
                        + value(text, "sonde_export_queue_spans", lab))
    assert value(text, "sonde_ring_drops_total") == 0
    code, body = get(f"{base}/healthz")
    assert code == 200 and body.startswith("ok")
    assert get(f"{base}/nope")[0] == 404


def declared_counters():
    """sonde --list-counters: one dict a row (the table in agent/counters.c)."""
    r = harness.run_sonde("--list-counters")
    assert r.returncode == 0, r.stderr
    cols = ("line", "key", "metric", "labels", "type", "help")
    rows = [dict(zip(cols, l.split("\t"))) for l in r.stdout.splitlines()]
    assert rows and all(len(row) == len(cols) for row in rows), r.stdout
    return rows


def test_every_declared_counter_is_reported(sonde):
    """Each metric sonde declares is in /metrics with its HELP and TYPE, and nothing else is;
    each key of the stats lines printed is declared, in the declared order."""
    port = harness.free_port()
    proc = sonde("--metrics-addr", f"127.0.0.1:{port}", otlp=False)  # the console exporter
    code, text = get(f"http://127.0.0.1:{port}/metrics")
    assert code == 200
    rows = declared_counters()
    # the uprobe table's rows (go-net/http, ...): each uprobe metric has a sample for each
    targets = sorted(set(re.findall(r'^sonde_uprobes_files\{target="([^"]+)"\} ', text, re.M)))
    assert targets, "no uprobe target in /metrics"
    want = set()
    for row in rows:
        if row["metric"] == "-":
            continue
        instances = ([['exporter="console"']] if row["line"] == "exporter" else
                     [[f'target="{t}"'] for t in targets] if row["line"] == "uprobe" else [[]])
        for labels in instances:
            labels = labels + ([] if row["labels"] == "-" else [row["labels"]])
            name = row["metric"] + ("{" + ",".join(labels) + "}" if labels else "")
            want.add(name)
            assert re.search(rf"^{re.escape(name)} \d+$", text, re.M), f"{name} not in /metrics"
        assert f"# HELP {row['metric']} {row['help']}\n" in text
        assert f"# TYPE {row['metric']} {row['type']}\n" in text
    have = {l.rsplit(" ", 1)[0] for l in text.splitlines() if l and not l.startswith("#")}
    assert have == want, f"undeclared: {have - want}"

    assert proc.stop() == 0
    printed = [l.split(": ", 2)[2] for l in proc.stderr().splitlines()
               if l.startswith("sonde: stats (exit): ")]
    for line in ("cpu", "uprobe", "main", "exporter"):
        keys = [r["key"] for r in rows if r["line"] == line and r["key"] != "-"]
        if line in ("exporter", "uprobe"):
            keys.insert(0, "exporter" if line == "exporter" else "uprobes")
        # the uprobe line once per row of the uprobe table, the others once
        want = len(targets) if line == "uprobe" else 1
        assert [[kv.split("=")[0] for kv in l.split()] for l in printed].count(keys) == want, \
            f"not {want} stats line(s) with the {line} keys {keys}:\n" + "\n".join(printed)


def test_metrics_endpoint_survives_garbage_and_silence(sonde):
    port = harness.free_port()
    proc = sonde("--metrics-addr", f"127.0.0.1:{port}", otlp=False)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]  # more than it serves at once
    junk = socket.create_connection(("127.0.0.1", port))
    junk.sendall(bytes(range(256)) * 16)
    junk.close()
    time.sleep(2.5)  # the silent ones pass their deadline
    for s in silent:
        s.close()
    assert proc.running
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200


def test_metrics_port_taken_is_a_warning_not_a_failure(sonde):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    proc = sonde("--metrics-addr", f"127.0.0.1:{port}", otlp=False)
    assert "metrics endpoint not started" in proc.stderr()
    assert proc.running
    taken.close()


def test_metrics_default_is_loopback_and_off_disables_it(sonde):
    r = harness.run_sonde("--help")
    assert "default 127.0.0.1:9464" in r.stdout
    port = harness.free_port()
    proc = sonde("--metrics-addr", f"127.0.0.1:{port}", "--metrics-addr", "off", otlp=False)
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        listening = True
    except OSError:
        listening = False
    assert not listening and proc.running


def test_config_file_settings_apply_and_flags_win(sonde, tmp_path):
    a, b = harness.free_ports(2)
    conf = tmp_path / "sonde.conf"
    conf.write_text(f"metrics-addr = 127.0.0.1:{a}\n")
    sonde("--config", str(conf), otlp=False)
    assert get(f"http://127.0.0.1:{a}/healthz")[0] == 200
    conf.write_text(f"metrics-addr = 127.0.0.1:{b}\n")
    sonde("--config", str(conf), "--metrics-addr", "off", otlp=False)
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", b), timeout=1).close()
        listening = True
    except OSError:
        listening = False
    assert not listening, "the flag must beat the file"
