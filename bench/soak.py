#!/usr/bin/env python3
"""Soak: sonde under a long, high request rate through many short and long-lived connections.

    python3 bench/soak.py --root . --bin bench/out/bin [--seconds 600] [--out bench/out/soak]

Runs for --seconds, all on 127.0.0.1:
  - nginx (1 worker, `return 200`) loaded by wrk with `Connection: close`: a new TCP connection
    per request, thousands per second (the connection tables' churn);
  - the same nginx loaded by a second wrk over 16 keep-alive connections (the rate);
  - a Python threading server hit by 8 keep-alive clients that never reconnect, and by
    clients that exit after a few requests (processes that come and go: the process table);
and sonde exporting to bench/nullsink (an OTLP receiver that keeps up). Every 10 s it samples
sonde's RSS, open fds, and its /metrics (spans, drops, connections followed). Writes
soak.json and SOAK.md under --out, and prints the summary. A benchmark, not a test: it
asserts nothing; the figures are for the reader (and for the issue notes).
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"soak: nothing listens on port {port}")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        key = name.split("{")[0]
        m[key] = m.get(key, 0) + float(value)
    return m


def keepalive_client(port, stop, counts):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while not stop.is_set():
        c.request("GET", f"/api/users/{n % 1000}")
        r = c.getresponse()
        r.read()
        n += 1
        time.sleep(0.002)
    counts.append(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--bin", default=None, help="where nullsink is (bench/out/bin)")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    root = a.root
    binl = a.bin or os.path.join(root, "bench", "out", "bin")
    out = a.out or os.path.join(root, "bench", "out", "soak")
    os.makedirs(out, exist_ok=True)
    if not os.access(os.path.join(binl, "nullsink"), os.X_OK):
        os.makedirs(binl, exist_ok=True)
        env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0",
                   PATH=os.environ.get("PATH", "") + ":/usr/local/go/bin")
        subprocess.run(["go", "build", "-trimpath", "-o", os.path.join(binl, "nullsink"), "."],
                       cwd=os.path.join(root, "bench", "nullsink"), env=env, check=True)
    tmp = tempfile.mkdtemp(prefix="sonde-soak-")
    procs = []

    def spawn(cmd, **kw):
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", subprocess.DEVNULL),
                             stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        procs.append(p)
        return p

    sink_port, ngx_port, py_port, met_port = free_port(), free_port(), free_port(), free_port()
    spawn([os.path.join(binl, "nullsink"), "-addr", f"127.0.0.1:{sink_port}"])
    wait_port(sink_port)
    ngx = os.path.join(tmp, "nginx")
    os.makedirs(ngx)
    with open(os.path.join(ngx, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {ngx}/nginx.pid;
error_log {ngx}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path {ngx}/body;
  proxy_temp_path {ngx}/proxy;
  fastcgi_temp_path {ngx}/fastcgi;
  uwsgi_temp_path {ngx}/uwsgi;
  scgi_temp_path {ngx}/scgi;
  server {{
    listen 127.0.0.1:{ngx_port};
    location / {{ return 200 "hello, soak\\n"; }}
  }}
}}
""")
    spawn(["nginx", "-c", os.path.join(ngx, "nginx.conf"), "-p", ngx, "-e", f"{ngx}/error.log"])
    wait_port(ngx_port)
    spawn([sys.executable, os.path.join(root, "tests", "apps", "py_server.py"), "--port",
           str(py_port)])
    wait_port(py_port)

    err = open(os.path.join(out, "sonde.stderr"), "w")
    sonde = spawn([os.path.join(root, "build", "sonde"), "--otlp-endpoint",
                   f"http://127.0.0.1:{sink_port}", "--stats-interval", "60", "--metrics-addr",
                   f"127.0.0.1:{met_port}"], stderr=err)
    end = time.time() + 60
    while "sonde: attached" not in open(os.path.join(out, "sonde.stderr")).read():
        if time.time() > end or sonde.poll() is not None:
            raise SystemExit("soak: sonde did not attach; see " + err.name)
        time.sleep(0.1)

    d = str(a.seconds) + "s"
    wrk_close = spawn(["wrk", "-t1", "-c8", "-d", d, "-H", "Connection: close",
                       f"http://127.0.0.1:{ngx_port}/short"], stdout=subprocess.PIPE, text=True)
    wrk_keep = spawn(["wrk", "-t1", "-c16", "-d", d, f"http://127.0.0.1:{ngx_port}/keep"],
                     stdout=subprocess.PIPE, text=True)
    stop, counts = threading.Event(), []
    clients = [threading.Thread(target=keepalive_client, args=(py_port, stop, counts))
               for _ in range(8)]
    for t in clients:
        t.start()

    samples = []
    short_lived = 0
    t0 = time.time()
    while time.time() - t0 < a.seconds:
        # processes that come and go: a curl every second
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{py_port}/"],
                       timeout=10)
        short_lived += 1
        if len(samples) * 10 <= time.time() - t0:
            s = proc_status(sonde.pid)
            m = metrics(met_port)
            s.update(t=round(time.time() - t0), spans=m.get("sonde_spans_total", 0),
                     exported=m.get("sonde_export_spans_exported_total", 0),
                     dropped=m.get("sonde_export_spans_dropped_total", 0),
                     ring_drops=m.get("sonde_ring_drops_total", 0),
                     conns_open=m.get("sonde_connections_open", 0),
                     conns_total=m.get("sonde_connections_total", 0))
            samples.append(s)
            print("soak: " + json.dumps(s), flush=True)
        time.sleep(1)
    stop.set()
    for t in clients:
        t.join()
    outs = {}
    for name, p in (("close", wrk_close), ("keepalive", wrk_keep)):
        o, _ = p.communicate(timeout=120)
        m = re.search(r"(\d+) requests in", o)
        outs[name] = int(m.group(1)) if m else None
    time.sleep(3)  # let the last batch go
    final = metrics(met_port)
    sonde.send_signal(signal.SIGTERM)
    sonde.wait(timeout=30)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    err.close()
    exit_stats = [l for l in open(err.name).read().splitlines() if l.startswith("sonde: stats (exit)")]

    warm = [s for s in samples if s["t"] >= 30] or samples
    requests = (outs["close"] or 0) + (outs["keepalive"] or 0) + sum(counts) + short_lived
    result = {
        "seconds": a.seconds,
        "requests": requests,
        "requests_per_s": round(requests / a.seconds),
        "wrk_connection_close_requests": outs["close"],
        "wrk_keepalive_requests": outs["keepalive"],
        "python_keepalive_requests": sum(counts),
        "short_lived_curl_processes": short_lived,
        "rss_kb_after_30s": warm[0]["VmRSS"],
        "rss_kb_end": samples[-1]["VmRSS"],
        "rss_kb_max": max(s["VmRSS"] for s in samples),
        "rss_kb_peak_hwm": samples[-1]["VmHWM"],
        "fds_after_30s": warm[0]["fds"],
        "fds_end": samples[-1]["fds"],
        "connections_seen": final.get("sonde_connections_total", 0),
        "connections_open_end": final.get("sonde_connections_open", 0),
        "spans": final.get("sonde_spans_total", 0),
        "spans_exported": final.get("sonde_export_spans_exported_total", 0),
        "spans_dropped": final.get("sonde_export_spans_dropped_total", 0),
        "ring_drops": final.get("sonde_ring_drops_total", 0),
        "exit_status": sonde.returncode,
        "exit_stats": exit_stats[-2:],
        "samples": samples,
    }
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(out, "SOAK.md"), "w") as f:
        f.write(f"# Soak, {time.strftime('%Y-%m-%d')} ({os.uname().release})\n\n")
        f.write("| figure | value |\n| --- | --- |\n")
        for k, v in result.items():
            if k not in ("samples", "exit_stats"):
                f.write(f"| {k} | {v} |\n")
        f.write("\nRSS (KiB) every 10 s: " + " ".join(str(s["VmRSS"]) for s in samples) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
