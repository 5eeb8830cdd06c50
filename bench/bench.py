#!/usr/bin/env python3
"""sonde benchmark: the application's cost, the kernel's cost and the agent's cost of sonde.

Started by bench/run.sh (which installs and builds what this needs). Every server runs on
127.0.0.1 and is started and stopped here. Each comparison is a series of pairs, one run without
sonde and one with it, the order swapped from pair to pair; figures are medians of the per-pair
ratios (with / without) with their spread (min..max).

CPU placement on the 2-core machine: the server (nginx's one worker, the Go server with
GOMAXPROCS=1, redis-server) is pinned to CPU 0; the closed-loop load generators (wrk,
redis-benchmark) to CPU 1; the open-loop loadgen (2 threads: its dispatcher and its workers) is not
pinned, because on one core its own threads and any other task delay its dispatch by
milliseconds; sonde is not pinned (it takes its CPU from whichever core the scheduler gives it, as
it would in production). PostgreSQL and pgbench are not pinned (4 backends).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Fixed rates, in % of the server's median maximum without sonde. The open-loop load generator
# costs about 4x wrk's CPU per request: at 25% of wrk's maximum it, the server and sonde already
# keep most of the 2 cores busy, so 10% is the rate well below saturation.
FIXED_FRACTIONS = (10, 25)
FIXED_RUNS = [f"{srv}_fixed{f}" for srv in ("nginx", "go") for f in FIXED_FRACTIONS]
SERVER_CPU = "0"
CLIENT_CPU = "1"
# The floor's figures, per comparison that has one: CPU per request, throughput, and at the
# fixed rates p99.
FLOOR_FIGURES = {"nginx_saturation": ("cpu_us_per_request", "rps"),
                 "go_saturation": ("cpu_us_per_request", "rps"),
                 **{run: ("cpu_us_per_request", "rate_achieved", "p99_us") for run in FIXED_RUNS},
                 "redis": ("cpu_us_per_request", "rps"),
                 "pgbench": ("cpu_us_per_request", "tps")}
FLOOR_LABELS = {"nginx_saturation": "nginx at saturation (wrk)",
                "go_saturation": "Go net/http at saturation (wrk)",
                "redis": "redis-benchmark GET + SET", "pgbench": "pgbench -S"}


# A pseudo-argument of the sonde runs: the process is moved into a cpu cgroup of its own right
# after it attached (as in a systemd service or a pod), away from the servers and load.
OWN_CGROUP = "@own-cgroup"


def own_cgroup_procs():
    """cgroup.procs of a cpu cgroup for sonde alone (created once), or None: no cpu controller."""
    for base in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup"):
        if base == "/sys/fs/cgroup":
            try:
                with open(f"{base}/cgroup.controllers") as f:
                    if "cpu" not in f.read().split():
                        continue
            except OSError:
                continue
        elif not os.path.exists(f"{base}/cpu.shares"):
            continue
        path = f"{base}/sonde-bench"
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.path.exists(f"{path}/cgroup.procs"):
            return f"{path}/cgroup.procs"
    return None


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def absent_pid():
    """A pid no process can have: the kernel assigns pids below kernel.pid_max."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def now_ns():
    return time.time_ns()


# ---------------------------------------------------------------------------------------------
# /proc helpers

def proc_cpu_s(pid, children=False):
    """utime+stime of a process in seconds (plus its waited-for children's with children=True)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def ring_rss_kb(pid):
    """Rss of the BPF map mappings (the ring buffers: consumer page, producer page and the data
    pages, which the kernel maps twice back to back) in /proc/PID/smaps."""
    total = 0
    in_bpf = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                in_bpf = "anon_inode:bpf-map" in line
            elif in_bpf and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port(preferred, taken):
    p = preferred
    while p in taken or not port_free(p):
        p += 1
    taken.add(p)
    return p


def wait_port(port, timeout=30, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def run_rusage(cmd, timeout=None, env=None):
    """Runs cmd; returns (stdout, stderr, returncode, cpu seconds of it and its children)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = [], []
    t1 = threading.Thread(target=lambda: out.append(p.stdout.read()))
    t2 = threading.Thread(target=lambda: err.append(p.stderr.read()))
    t1.start()
    t2.start()
    _, status, ru = os.wait4(p.pid, 0)
    t1.join()
    t2.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return out[0], err[0], p.returncode, ru.ru_utime + ru.ru_stime


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    return [min(xs), max(xs)] if xs else None


def bpf_progs():
    """{id: (name, run_time_ns, run_cnt)} of the loaded programs named sonde_*."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    res = {}
    for p in json.loads(out or "[]"):
        name = p.get("name", "")
        if name.startswith("sonde_"):
            res[p["id"]] = (name, p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return res


def foreign_sondes(ours):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in ours:
            continue
        try:
            comm = open(f"/proc/{d}/comm").read().strip()
            if comm == "sonde":
                cmd = open(f"/proc/{d}/cmdline").read().replace("\0", " ").strip()
                found.append({"pid": int(d), "cmdline": cmd})
        except OSError:
            pass
    return found


# ---------------------------------------------------------------------------------------------

class Sonde:
    """One sonde run: started before the load, stopped (SIGTERM) after it."""

    STATS_RE = re.compile(r"(\w+)=(\S+)")

    def __init__(self, bench, endpoint, extra=(), bpf_stats=False):
        self.b = bench
        self.endpoint = endpoint
        self.extra = list(extra)
        self.bpf_stats = bpf_stats
        self.lines = []  # (unix ns, line)
        self.attached = threading.Event()
        self.proc = None
        self.samples = []  # VmRSS kb
        self._stop_sampler = threading.Event()
        self.result = {}

    def start(self):
        before = set(bpf_progs())
        own_cgroup = OWN_CGROUP in self.extra
        cmd = [self.b.sonde, "--otlp-endpoint", self.endpoint] + [
            a for a in self.extra if a != OWN_CGROUP]
        if self.bpf_stats:
            self.b.set_bpf_stats(1)
        self.t_exec = now_ns()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.b.pids.add(self.proc.pid)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.attached.wait(20):
            self.proc.kill()
            raise RuntimeError("sonde did not attach within 20 s:\n" +
                               "\n".join(l for _, l in self.lines[-20:]))
        self.t_attached = self.attached_ns
        if own_cgroup:
            with open(own_cgroup_procs(), "w") as f:
                f.write(str(self.proc.pid))
        self.result["attached_line"] = self.attached_line
        m = re.search(r"attached in (\d+) ms", self.attached_line)
        self.result["attached_ms_self"] = int(m.group(1)) if m else None
        self.result["exec_to_attached_ms"] = (self.t_attached - self.t_exec) / 1e6
        self.progs = set(bpf_progs()) - before
        if not self.progs:
            raise RuntimeError("sonde attached but no new sonde_* BPF program is loaded")
        return self

    def _read(self):
        for line in self.proc.stderr:
            t = now_ns()
            line = line.rstrip("\n")
            self.lines.append((t, line))
            if "sonde: attached" in line and not self.attached.is_set():
                self.attached_ns = t
                self.attached_line = line
                self.attached.set()

    def _sample(self):
        # VmRSS only (/proc/PID/status is cheap). The rings' Rss comes from /proc/PID/smaps,
        # whose generation and parsing took milliseconds of CPU on the cores the server and the
        # load generator use: read 4 times a second, it showed in the p99 of the runs with
        # sonde. It is read once, after the load (the rings are fully touched by then).
        while not self._stop_sampler.wait(0.25):
            try:
                self.samples.append(proc_status_kb(self.proc.pid, "VmRSS"))
            except OSError:
                return

    def load_start(self):
        self.cpu0 = proc_cpu_s(self.proc.pid)
        self.bpf0 = bpf_progs()
        self.t_load0 = time.monotonic()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def load_end(self, settle=1.5):
        """After the load: the samples stop; then sonde gets `settle` s to finish and export."""
        self._stop_sampler.set()
        self.sampler.join()
        self.t_load1 = time.monotonic()
        time.sleep(settle)
        pid = self.proc.pid
        self.result["cpu_s_load"] = proc_cpu_s(pid) - self.cpu0
        bpf1 = bpf_progs()
        progs = {}
        for pid_ in sorted(self.progs):
            if pid_ in bpf1:
                name, t1, c1 = bpf1[pid_]
                _, t0, c0 = self.bpf0.get(pid_, (name, 0, 0))
                progs[name] = {"run_time_ns": t1 - t0, "run_cnt": c1 - c0}
        self.result["bpf"] = progs if self.bpf_stats else None
        self.result["vm_hwm_kb"] = proc_status_kb(pid, "VmHWM")
        self.result["ring_rss_kb_end"] = ring_rss_kb(pid)
        self.result["vm_rss_kb_end"] = proc_status_kb(pid, "VmRSS")
        g = self.result["ring_rss_kb_end"]
        s = self.samples[len(self.samples) // 4:] or self.samples  # skip the first quarter
        if s:
            self.result["rss_kb_steady"] = med(s)
            self.result["rss_excl_ring_kb_steady"] = med([r - g for r in s])
        if self.samples:
            self.result["rss_excl_ring_kb_max_sampled"] = max(r - g for r in self.samples)
            self.result["rss_kb_max_sampled"] = max(self.samples)

    def stop(self):
        if self.proc is None:
            return self.result
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, status, ru = os.wait4(self.proc.pid, 0)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.result["cpu_s_total"] = ru.ru_utime + ru.ru_stime
            self.result["cpu_s_user_total"] = ru.ru_utime
            self.result["cpu_s_sys_total"] = ru.ru_stime
        except ChildProcessError:
            pass
        self.reader.join(10)
        self.b.pids.discard(self.proc.pid)
        if self.bpf_stats:
            self.b.set_bpf_stats(self.b.bpf_stats_orig)
        for _, line in self.lines:
            if line.startswith("sonde: stats (exit):"):
                kv = dict(self.STATS_RE.findall(line))
                if "exporter" in kv:
                    # the spans' exporter, and the request metrics' (otlp-metrics) apart
                    key = "metrics_exporter" if kv["exporter"] == "otlp-metrics" else "exporter"
                    self.result[key] = {k: (int(v) if v.isdigit() else v)
                                        for k, v in kv.items()}
                else:  # the main line, and the propagation modes' own
                    self.result.setdefault("stats", {}).update(
                        (k, int(v)) for k, v in kv.items() if v.isdigit())
        self.result["exit_code"] = self.proc.returncode
        if "stats" not in self.result:
            raise RuntimeError("sonde printed no exit stats:\n" +
                               "\n".join(l for _, l in self.lines[-20:]))
        st = self.result["stats"]
        ex = self.result.get("exporter", {})
        spans = st.get("spans", 0)
        self.result["spans"] = spans
        self.result["drops"] = {
            "ring_full": st.get("ring_full", 0),
            "dropped_full": ex.get("dropped_full", 0),
            "dropped_failed": ex.get("dropped_failed", 0),
            "rejected": ex.get("rejected", 0),
        }
        if spans and "cpu_s_load" in self.result:
            self.result["cpu_us_per_span"] = self.result["cpu_s_load"] / spans * 1e6
        if hasattr(self, "t_load1"):
            self.result["load_s"] = self.t_load1 - self.t_load0
        self.proc = None
        return self.result


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = a.root
        self.sonde = os.path.join(a.root, "build", "sonde")
        self.out = a.out
        self.bin = a.bin
        self.quick = os.environ.get("BENCH_QUICK") == "1"
        self.pairs = int(os.environ.get("BENCH_PAIRS", "2" if self.quick else "5"))
        # The floor: a third run in each round of the with/without comparisons (pairs_of).
        self.floor = os.environ.get("BENCH_FLOOR", "1") != "0" and not a.no_floor
        self.procs = {}  # name -> Popen
        self.pids = set()  # every pid we started and have not reaped yet
        self.cleanups = []
        self.results = {"runs": {}, "summary": {}}
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            self.bpf_stats_orig = int(f.read().strip())
        self.tmp = tempfile.mkdtemp(prefix="sonde-bench-")
        # Every run uses the binary as it was at the start: a `make` in the tree during the
        # hour the benchmark takes would otherwise change it between runs.
        built = self.sonde
        self.sonde = os.path.join(self.tmp, "sonde")
        shutil.copy2(built, self.sonde)
        os.chmod(self.tmp, 0o755)
        taken = set()
        self.port = {
            "nginx": pick_port(28080, taken),
            "nginx_h2": pick_port(28090, taken),
            "nginx_tls": pick_port(28100, taken),
            "go": pick_port(28180, taken),
            "grpc": pick_port(28280, taken),
            "sink": pick_port(28318, taken),
            "redis": pick_port(26379, taken),
            "pg": pick_port(25432, taken),
            "jaeger_otlp": pick_port(24318, taken),
            "jaeger_grpc": pick_port(24317, taken),
            "jaeger_query": pick_port(26686, taken),
            "jaeger_query_grpc": pick_port(26685, taken),
            "jaeger_health": pick_port(23133, taken),
        }
        self.sink_url = f"http://127.0.0.1:{self.port['sink']}"

    # --- helpers ----------------------------------------------------------------------------

    def set_bpf_stats(self, v):
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(str(v))

    def spawn(self, name, cmd, env=None, **kw):
        log(f"starting {name}: {' '.join(cmd)}")
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                             stdout=open(os.path.join(self.tmp, name + ".log"), "w"),
                             stderr=subprocess.STDOUT, **kw)
        self.procs[name] = p
        self.pids.add(p.pid)
        return p

    def stop_all(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep stopping the rest
                log(f"cleanup: {e}")
        self.cleanups = []
        for name, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            self.pids.discard(p.pid)
            del self.procs[name]
        try:
            self.set_bpf_stats(self.bpf_stats_orig)
        except OSError:
            pass

    def sink_stats(self):
        return json.loads(http_get(self.sink_url + "/stats"))

    def sink_reset(self):
        req = urllib.request.Request(self.sink_url + "/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()

    def machine(self):
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        mem_kb = proc_meminfo("MemTotal")
        osrel = "?"
        try:
            for line in open("/etc/os-release"):
                if line.startswith("PRETTY_NAME="):
                    osrel = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass

        def ver(cmd):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                return (r.stdout + r.stderr).strip().splitlines()[0]
            except Exception:
                return None

        rev = ver(["git", "-C", self.root, "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", self.root, "status", "--porcelain", "--",
                                "agent", "bpf", "include"], capture_output=True,
                               text=True).stdout.strip()
        return {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "cpu": cpu, "cpus": os.cpu_count(), "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "os": osrel,
            "sonde": ver([self.sonde, "--version"]),
            "git_rev": rev + ("+local changes in agent/bpf/include" if dirty else ""),
            "nginx": ver(["nginx", "-v"]), "wrk": ver(["wrk", "-v"]),
            "redis": ver(["redis-server", "--version"]),
            "postgresql": ver([os.path.join(self.a.pgbin, "postgres"), "--version"]),
            "go": ver(["go", "version"]),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        }

    # --- servers ----------------------------------------------------------------------------

    def start_servers(self):
        self.spawn("nullsink", [os.path.join(self.bin, "nullsink"), "-addr",
                                f"127.0.0.1:{self.port['sink']}"])
        wait_port(self.port["sink"], proc=self.procs["nullsink"])

        ngx = os.path.join(self.tmp, "nginx")
        os.makedirs(ngx)
        # HTTPS: a certificate of the run's own (RSA 2048, as most sites still serve)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        f"{ngx}/key.pem", "-out", f"{ngx}/cert.pem", "-days", "1", "-subj",
                        "/CN=localhost"], check=True, capture_output=True, timeout=60)
        conf = os.path.join(ngx, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
worker_cpu_affinity {'1' if SERVER_CPU == '0' else '10'};
daemon off;
pid {ngx}/nginx.pid;
error_log {ngx}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path {ngx}/body;
  proxy_temp_path {ngx}/proxy;
  fastcgi_temp_path {ngx}/fastcgi;
  uwsgi_temp_path {ngx}/uwsgi;
  scgi_temp_path {ngx}/scgi;
  server {{
    listen 127.0.0.1:{self.port['nginx']};
    location / {{ return 200 "hello, world\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{self.port['nginx_h2']} http2;
    location / {{ return 200 "hello, world\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{self.port['nginx_tls']} ssl;
    ssl_certificate {ngx}/cert.pem;
    ssl_certificate_key {ngx}/key.pem;
    location / {{ return 200 "hello, world\\n"; }}
  }}
}}
""")
        p = self.spawn("nginx", ["nginx", "-c", conf, "-p", ngx, "-e", f"{ngx}/error.log"])
        wait_port(self.port["nginx"], proc=p)
        kids = []
        for _ in range(100):
            kids = children_of(p.pid)
            if kids:
                break
            time.sleep(0.05)
        if len(kids) != 1:
            raise RuntimeError(f"nginx should have one worker, has {kids}")
        self.nginx_worker = kids[0]

        env = dict(os.environ, GOMAXPROCS="1")
        p = self.spawn("goserver", ["taskset", "-c", SERVER_CPU,
                                    os.path.join(self.bin, "goserver"), "-addr",
                                    f"127.0.0.1:{self.port['go']}"], env=env)
        wait_port(self.port["go"], proc=p)
        self.go_pid = p.pid  # taskset execs the server

        # grpc-go's Echo server of the integration tests (tests/apps/grpc_go), one P on the
        # server CPU as the Go net/http server
        p = self.spawn("grpc_go", ["taskset", "-c", SERVER_CPU,
                                   os.path.join(self.bin, "grpc_go"), "server",
                                   str(self.port["grpc"])], env=env)
        wait_port(self.port["grpc"], proc=p)
        self.grpc_pid = p.pid

        p = self.spawn("redis", ["taskset", "-c", SERVER_CPU, "redis-server", "--port",
                                 str(self.port["redis"]), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--daemonize", "no", "--dir", self.tmp,
                                 "--protected-mode", "no", "--io-threads", "1"])
        wait_port(self.port["redis"], proc=p)
        self.redis_pid = p.pid

        self.start_postgres()

    def start_postgres(self):
        pgdata = os.path.join(self.tmp, "pg")
        os.makedirs(pgdata)
        shutil.chown(pgdata, "postgres", "postgres")
        os.chmod(pgdata, 0o700)
        pgbin = self.a.pgbin
        as_pg = ["runuser", "-u", "postgres", "--"]
        r = subprocess.run(as_pg + [f"{pgbin}/initdb", "-D", pgdata, "-A", "trust", "-U",
                                    "postgres", "--no-sync", "-E", "UTF8"],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("initdb failed: " + r.stdout + r.stderr)
        p = self.spawn("postgres", as_pg + [f"{pgbin}/postgres", "-D", pgdata, "-p",
                                            str(self.port["pg"]), "-k", pgdata, "-c",
                                            "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                            "-c", "synchronous_commit=off", "-c",
                                            "full_page_writes=off", "-c", "shared_buffers=128MB"])
        wait_port(self.port["pg"], proc=p)
        for _ in range(100):
            try:
                with open(os.path.join(pgdata, "postmaster.pid")) as f:
                    self.pg_pid = int(f.readline())
                break
            except (OSError, ValueError):
                time.sleep(0.05)

        def stop_pg():
            subprocess.run(as_pg + [f"{pgbin}/pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop"],
                           capture_output=True)
        self.cleanups.append(stop_pg)
        scale = 2 if self.quick else 10
        r = subprocess.run([f"{pgbin}/pgbench", "-i", "-q", "-s", str(scale), "-h", "127.0.0.1",
                            "-p", str(self.port["pg"]), "-U", "postgres", "postgres"],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("pgbench -i failed: " + r.stdout + r.stderr)
        self.pg_scale = scale

    def start_jaeger(self):
        env = dict(os.environ,
                   JAEGER_STATE_DIR=os.path.join(self.tmp, "jaeger"),
                   JAEGER_BIN=self.a.jaeger,
                   JAEGER_OTLP_HTTP_PORT=str(self.port["jaeger_otlp"]),
                   JAEGER_OTLP_GRPC_PORT=str(self.port["jaeger_grpc"]),
                   JAEGER_QUERY_PORT=str(self.port["jaeger_query"]),
                   JAEGER_QUERY_GRPC_PORT=str(self.port["jaeger_query_grpc"]),
                   JAEGER_HEALTH_PORT=str(self.port["jaeger_health"]))
        script = os.path.join(self.root, "tests", "jaeger.sh")
        subprocess.run([script, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        stop = lambda: subprocess.run([script, "stop"], env=env, capture_output=True)
        self.cleanups.append(stop)
        return stop

    # --- one measurement with or without sonde -----------------------------------------------

    def trace_args(self):
        """sonde traces the benchmark's servers only (both sides of their connections): the
        machine is shared, and other processes' HTTP traffic would add spans that are not ours."""
        args = []
        for k in ("nginx", "nginx_h2", "nginx_tls", "go", "grpc", "redis", "pg"):
            args += ["--port", str(self.port[k])]
        return args

    def floor_args(self):
        """The floor's selection: a pid no process has, in place of the servers' ports. Every
        hook still attaches and runs on every TCP I/O of the machine, looks the connection up
        and stops there (the connection is marked ignored at its first I/O): what the hooks cost
        before sonde captures anything."""
        return ["--pid", str(absent_pid())]

    def measure(self, load, with_sonde, endpoint=None, bpf_stats=False, extra=None, settle=1.5):
        """load() -> dict (it must contain 'requests'); returns the dict plus sonde's figures.
        settle: the seconds sonde gets after the load to finish exporting."""
        if extra is None:
            extra = self.trace_args()
        s = None
        if with_sonde:
            s = Sonde(self, endpoint or self.sink_url, extra=extra, bpf_stats=bpf_stats).start()
            s.load_start()
        try:
            r = load()
        finally:
            if s:
                try:
                    s.load_end(settle)
                finally:
                    r_s = s.stop()
        if s:
            r["sonde"] = r_s
            if r_s.get("cpu_s_load") is not None and r.get("requests"):
                r["agent_cpu_us_per_request"] = r_s["cpu_s_load"] / r["requests"] * 1e6
            bpf = r_s.get("bpf")
            if bpf:
                total = sum(v["run_time_ns"] for v in bpf.values())
                r["bpf_ns_per_request"] = total / r["requests"] if r["requests"] else None
                r["bpf_ns_per_request_side"] = (r["bpf_ns_per_request"] / 2
                                                if r["bpf_ns_per_request"] else None)
                r["bpf_ns_per_run"] = {k: (v["run_time_ns"] / v["run_cnt"] if v["run_cnt"]
                                           else None) for k, v in bpf.items()}
                r["bpf_runs_per_request"] = (sum(v["run_cnt"] for v in bpf.values()) /
                                             r["requests"] if r["requests"] else None)
            if r_s.get("spans") and r.get("seconds"):
                r["spans_per_s"] = r_s["spans"] / r["seconds"]
        return r

    def pairs_of(self, name, load, metric_keys, **kw):
        """Alternated pairs, without and with sonde; with the floor on, rounds of three runs
        (without, with, floor) in an order that rotates each round, so that every ratio, the
        floor's too, is between runs of the same round. Stores the runs and returns them."""
        runs = []
        labels = ["without", "with"] + (["floor"] if self.floor else [])
        for i in range(self.pairs):
            if self.floor:
                order = labels[i % 3:] + labels[:i % 3]
            else:
                order = labels if i % 2 == 0 else labels[::-1]
            pair = {}
            for label in order:
                if label == "floor":
                    # Nothing to export: a short settle keeps the floor's runs cheap.
                    r = self.measure(load, True, extra=self.floor_args(), settle=0.2, **kw)
                else:
                    r = self.measure(load, label == "with", **kw)
                pair[label] = r
                st = r["sonde"]["stats"] if "sonde" in r else {}
                log(f"{name} {'round' if self.floor else 'pair'} {i + 1}/{self.pairs} "
                    f"{label:7}: " + ", ".join(f"{k}={fmt(r.get(k))}" for k in metric_keys) +
                    (f", spans={r['sonde']['spans']} drops={r['sonde']['drops']}"
                     if label == "with" else "") +
                    (f", traced io={st.get('io')} spans={r['sonde']['spans']}"
                     if label == "floor" else ""))
                if label == "floor" and (st.get("io") or r["sonde"]["spans"]):
                    log(f"WARNING: the floor traced something (io={st.get('io')}, spans="
                        f"{r['sonde']['spans']}): it is not the hooks alone")
            runs.append(pair)
        self.results["runs"][name] = runs
        return runs

    def pairs_between(self, name, load, metric_keys, modes, **kw):
        """Alternated pairs of two sonde configurations (label -> extra arguments)."""
        runs = []
        labels = list(modes)
        for i in range(self.pairs):
            pair = {}
            for label in (labels if i % 2 == 0 else labels[::-1]):
                r = self.measure(load, True, extra=self.trace_args() + modes[label], **kw)
                pair[label] = r
                log(f"{name} pair {i + 1}/{self.pairs} {label}: " +
                    ", ".join(f"{k}={fmt(r.get(k))}" for k in metric_keys) +
                    f", spans={r['sonde']['spans']} drops={r['sonde']['drops']}")
            runs.append(pair)
        self.results["runs"][name] = runs
        return runs

    # --- loads ------------------------------------------------------------------------------

    def wrk(self, port, seconds, scheme="http", script=None):
        def load():
            url = f"{scheme}://127.0.0.1:{port}/"
            server = self.go_pid if port == self.port["go"] else self.nginx_worker
            c0 = proc_cpu_s(server)
            out, err, rc, cpu = run_rusage(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c32",
                                            f"-d{seconds}s", *(["-s", script] if script else []),
                                            url])
            c1 = proc_cpu_s(server)
            if rc:
                raise RuntimeError(f"wrk failed: {err}")
            m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
            n = int(m.group(1))
            dur = float(m.group(2)) * {"s": 1, "ms": 1e-3, "m": 60}.get(m.group(3), 1)
            errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            sock = re.search(r"Socket errors: (.*)", out)
            return {"requests": n, "seconds": dur, "rps": n / dur,
                    "server_cpu_s": c1 - c0, "client_cpu_s": cpu,
                    "cpu_us_per_request": (c1 - c0 + cpu) / n * 1e6,
                    "non_2xx": int(errs.group(1)) if errs else 0,
                    "socket_errors": sock.group(1) if sock else None}
        return load

    def h2load(self, port, seconds, pid=None, path="/", args=("-c32", "-m1")):
        """h2load on a clear-text HTTP/2 port; by default nginx's, shaped as wrk's load: 32
        connections, one stream in flight on each, so that the requests per connection and the
        server are the same and only the protocol differs. pid: the server whose CPU counts
        (nginx's worker by default); args: h2load's shape and request options."""
        def load():
            server = pid or self.nginx_worker
            url = f"http://127.0.0.1:{port}{path}"
            c0 = proc_cpu_s(server)
            out, err, rc, cpu = run_rusage(["taskset", "-c", CLIENT_CPU, "h2load", *args,
                                            f"-D{seconds}", url])
            c1 = proc_cpu_s(server)
            m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
            t = re.search(r"finished in ([\d.]+)(\w+),", out)
            if rc or not m or not t or not int(m.group(2)):
                raise RuntimeError(f"h2load failed ({rc}): {out[-500:]} {err[-500:]}")
            n = int(m.group(2))
            dur = float(t.group(1)) * {"s": 1, "ms": 1e-3, "m": 60}.get(t.group(2), 1)
            return {"requests": n, "seconds": dur, "rps": n / dur,
                    "server_cpu_s": c1 - c0, "client_cpu_s": cpu,
                    "cpu_us_per_request": (c1 - c0 + cpu) / n * 1e6,
                    "failed": int(m.group(1)) - n}
        return load

    def phase_http2(self, seconds):
        """The same nginx worker over HTTP/1.1 (wrk) and over h2c (h2load), in alternated
        rounds, with BPF run-time statistics on in the sonde runs: what HTTP/2's frame walk
        costs per request against HTTP/1.x's capture, on the same server."""
        log("HTTP/2 against HTTP/1.1 on the same nginx worker (h2load -c32 -m1, wrk -t1 -c32)")
        self.pairs_of("nginx_h1_bpf", self.wrk(self.port["nginx"], seconds),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)
        self.pairs_of("nginx_h2_bpf", self.h2load(self.port["nginx_h2"], seconds),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)

    def grpc_h2load(self, seconds):
        """h2load on the grpc-go server: unary Echo calls on one connection, 32 streams in
        flight (-c1 -m32). Each call is a POST with gRPC's headers and one length-prefixed
        message ("hello"); the server answers with a message and trailers (grpc-status 0)."""
        body = os.path.join(self.out, "grpc_hello.bin")
        with open(body, "wb") as f:
            f.write(b"\x00\x00\x00\x00\x05hello")
        return self.h2load(self.port["grpc"], seconds, pid=self.grpc_pid,
                           path="/sonde.test.Echo/Unary",
                           args=("-c1", "-m32", "-d", body, "-H", "content-type: application/grpc",
                                 "-H", "te: trailers"))

    def grpc_client(self, calls):
        """grpc-go's own client (tests/apps/grpc_go) on the client CPU, one P: `calls` unary
        Echo calls over one connection, 32 in flight. Both ends are grpc-go, so both sides'
        stream probes fire (the server's handleStream, the client's NewStream call site and
        header handler)."""
        def load():
            env = dict(os.environ, GOMAXPROCS="1")
            c0 = proc_cpu_s(self.grpc_pid)
            t0 = time.monotonic()
            out, err, rc, cpu = run_rusage(["taskset", "-c", CLIENT_CPU,
                                            os.path.join(self.bin, "grpc_go"), "client",
                                            f"127.0.0.1:{self.port['grpc']}", "Unary",
                                            str(calls), "32"], env=env)
            dur = time.monotonic() - t0
            c1 = proc_cpu_s(self.grpc_pid)
            try:
                ok = json.loads(out.strip().splitlines()[-1])["ok"]
            except (ValueError, IndexError, KeyError):
                ok = 0
            if rc or ok != calls:
                raise RuntimeError(f"grpc_go client failed ({rc}): {out[-500:]} {err[-500:]}")
            return {"requests": calls, "seconds": dur, "rps": calls / dur,
                    "server_cpu_s": c1 - c0, "client_cpu_s": cpu,
                    "cpu_us_per_request": (c1 - c0 + cpu) / calls * 1e6}
        return load

    def phase_grpc(self, seconds):
        """Unary gRPC on grpc-go, one connection, 32 streams in flight: under h2load (the
        server's side alone, as the HTTP phases measure nginx), then under grpc-go's client
        (both sides grpc-go), each in rounds of without / with sonde (and the floor), BPF
        statistics on; then, under grpc-go's client, sonde with and without its grpc-go
        stream probes (--no-go-grpc) in alternated pairs: what tying each stream to its
        handler's goroutine costs."""
        log("gRPC: grpc-go's Echo server, unary calls, one connection, 32 streams in flight")
        self.pairs_of("grpc_h2load_bpf", self.grpc_h2load(seconds),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)
        calls = 40000 if self.quick else 150000
        self.pairs_of("grpc_go_bpf", self.grpc_client(calls),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)
        self.pairs_between("grpc_probes", self.grpc_client(calls),
                           ["rps", "cpu_us_per_request", "agent_cpu_us_per_request",
                            "bpf_ns_per_request_side"],
                           {"probes": [], "no_go_grpc": ["--no-go-grpc"]}, bpf_stats=True)

    def phase_https(self, seconds):
        """The same nginx worker over HTTPS (wrk: OpenSSL on both ends, kept-alive
        connections, so the handshakes are out of the way), BPF statistics on in the sonde
        runs: what the TLS library's uprobes cost per request, against phase_http2's HTTP/1.1
        runs of the same run."""
        log("HTTPS on the same nginx worker (wrk -t1 -c32, TLS 1.3, plaintext by uprobes)")
        self.pairs_of("nginx_tls_bpf", self.wrk(self.port["nginx_tls"], seconds, "https"),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)

    def phase_context(self, seconds):
        """Requests whose traceparent comes after 8 KB of cookie (nginx reads such a head in
        two reads, 1 KiB then the rest), on the same nginx worker as phase_http2's HTTP/1.1
        runs, BPF statistics on in the sonde runs: what the kernel's search of a request head
        past the captured bytes costs per request (bpf/head_find.bpf.h)."""
        log("A traceparent behind 8 KB of cookie on the same nginx worker (wrk -t1 -c32)")
        # The request is written out whole: wrk's -H headers come in its Lua table's order,
        # which put the traceparent first in one run.
        script = os.path.join(self.out, "ctx8k.lua")
        head = (f"GET / HTTP/1.1\\r\\nHost: 127.0.0.1:{self.port['nginx']}\\r\\n"
                f"Cookie: c={'a' * 8000}\\r\\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
                "00f067aa0ba902b7-01\\r\\n\\r\\n")
        with open(script, "w") as f:
            f.write(f'local r = "{head}"\nrequest = function() return r end\n')
        self.pairs_of("nginx_ctx8k_bpf", self.wrk(self.port["nginx"], seconds, script=script),
                      ["rps", "cpu_us_per_request"], bpf_stats=True)

    def loadgen(self, port, rate, seconds, warmup=1):
        def load():
            server = self.nginx_worker if port == self.port["nginx"] else self.go_pid
            c0 = proc_cpu_s(server)
            env = dict(os.environ, GOMAXPROCS="2")
            out, err, rc, cpu = run_rusage(
                [os.path.join(self.bin, "loadgen"), "-addr",
                 f"127.0.0.1:{port}", "-rate", str(rate), "-duration", f"{seconds}s",
                 "-warmup", f"{warmup}s", "-conns", "32"], env=env)
            c1 = proc_cpu_s(server)
            if rc:
                raise RuntimeError(f"loadgen failed: {err}")
            d = json.loads(out)
            n = d["completed"]
            return {"requests": n, "seconds": seconds + warmup, "rate_target": rate,
                    "rate_achieved": d["rate_achieved"], "errors": d["errors"],
                    "not_sent": d["not_sent"],
                    "p50_us": d["latency_us"].get("p50"), "p99_us": d["latency_us"].get("p99"),
                    "p999_us": d["latency_us"].get("p999"),
                    "service_p50_us": d["service_us"].get("p50"),
                    "service_p99_us": d["service_us"].get("p99"),
                    "max_dispatch_lag_us": d["max_dispatch_lag_us"],
                    "server_cpu_s": c1 - c0, "client_cpu_s": cpu,
                    "cpu_us_per_request": (c1 - c0 + cpu) / n * 1e6 if n else None}
        return load

    def redis_load(self, n):
        def load():
            c0 = proc_cpu_s(self.redis_pid)
            t0 = time.monotonic()
            out, err, rc, cpu = run_rusage(["taskset", "-c", CLIENT_CPU, "redis-benchmark", "-h",
                                            "127.0.0.1", "-p", str(self.port["redis"]), "-t",
                                            "get,set", "-n", str(n), "--csv"])
            secs = time.monotonic() - t0
            c1 = proc_cpu_s(self.redis_pid)
            if rc:
                raise RuntimeError(f"redis-benchmark failed: {err}")
            rps = {}
            for line in out.splitlines():
                f = [x.strip('"') for x in line.split(",")]
                if f and f[0] in ("SET", "GET"):
                    rps[f[0].lower()] = float(f[1])
            if set(rps) != {"set", "get"}:
                raise RuntimeError(f"redis-benchmark: unexpected output {out!r}")
            return {"requests": 2 * n, "seconds": secs, "set_rps": rps["set"],
                    "get_rps": rps["get"], "rps": (rps["set"] + rps["get"]) / 2,
                    "server_cpu_s": c1 - c0, "client_cpu_s": cpu,
                    "cpu_us_per_request": (c1 - c0 + cpu) / (2 * n) * 1e6}
        return load

    def pgbench_load(self, seconds):
        def load():
            base = len(children_of(self.pg_pid))  # the background processes
            c0 = proc_cpu_s(self.pg_pid, children=True)
            out, err, rc, cpu = run_rusage([os.path.join(self.a.pgbin, "pgbench"), "-n", "-S",
                                            "-c", "4", "-j", "2", "-T", str(seconds), "-h",
                                            "127.0.0.1", "-p", str(self.port["pg"]), "-U",
                                            "postgres", "postgres"])
            # The backends' CPU reaches the postmaster's cutime/cstime once they are reaped.
            end = time.time() + 5
            while len(children_of(self.pg_pid)) > base and time.time() < end:
                time.sleep(0.02)
            c1 = proc_cpu_s(self.pg_pid, children=True)
            if rc:
                raise RuntimeError(f"pgbench failed: {err}")
            tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
            n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
            return {"requests": n, "seconds": seconds, "tps": tps, "server_cpu_s": c1 - c0,
                    "client_cpu_s": cpu, "cpu_us_per_request": (c1 - c0 + cpu) / n * 1e6}
        return load

    # --- phases -----------------------------------------------------------------------------

    def phase_startup(self):
        """exec -> 'attached' line, and exec -> first export received by the null sink, with one
        request sent to nginx right after the attach (sonde limited to nginx's port, so nothing
        else on the machine can be the first span)."""
        runs = []
        for i in range(3 if not self.quick else 1):
            self.sink_reset()
            s = Sonde(self, self.sink_url, extra=["--port", str(self.port["nginx"])]).start()
            t_req = now_ns()
            c = socket.create_connection(("127.0.0.1", self.port["nginx"]))
            c.sendall(b"GET /startup HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            while c.recv(65536):
                pass
            c.close()
            first = None
            end = time.time() + 10
            while time.time() < end:
                st = self.sink_stats()
                if st["requests"]:
                    first = st["first_unix_ns"]
                    break
                time.sleep(0.002)
            r = s.stop()
            runs.append({
                "exec_to_attached_ms": r["exec_to_attached_ms"],
                "attached_ms_self_reported": r["attached_ms_self"],
                "exec_to_first_export_ms": (first - s.t_exec) / 1e6 if first else None,
                "request_to_first_export_ms": (first - t_req) / 1e6 if first else None,
                "spans": r["spans"],
            })
            log(f"startup {i + 1}: {runs[-1]}")
        self.results["runs"]["startup"] = runs

    def phase_sampling(self, seconds, rate, fixed_s):
        """nginx at saturation, then at a fixed rate: without sonde, with it exporting every
        trace, and with --sample-ratio 0.1; each triple rotates its order."""
        labels = {"without": None, "all": [], "ratio_0.1": ["--sample-ratio", "0.1"]}
        for name, load in (("sampling", lambda: self.wrk(self.port["nginx"], seconds)),
                           ("sampling_fixed", lambda: self.loadgen(self.port["nginx"], rate,
                                                                   fixed_s))):
            runs = []
            for i in range(min(self.pairs, 3)):
                order = list(labels)[i % 3:] + list(labels)[:i % 3]
                trip = {}
                for label in order:
                    extra = labels[label]
                    r = self.measure(load(), extra is not None,
                                     extra=None if extra is None else self.trace_args() + extra)
                    if extra is not None:
                        st = r["sonde"]
                        r["unsampled_share"] = (st["stats"].get("unsampled", 0) / st["spans"]
                                                if st["spans"] else None)
                    trip[label] = r
                    log(f"{name} triple {i + 1} {label}: rps={r.get('rps', r.get('rate_achieved')):.0f}" +
                        (f", p99={fmt(r['p99_us'])}" if "p99_us" in r else "") +
                        (f", agent us/request={fmt(r['agent_cpu_us_per_request'])}, "
                         f"unsampled={fmt(r['unsampled_share'])}" if extra is not None else ""))
                runs.append(trip)
            self.results["runs"][name] = runs

    def phase_metrics(self, seconds):
        """What the request metrics cost beside the span path: nginx at saturation, sonde
        with --request-metrics off and on (the default) in alternated pairs, every trace
        kept, then --sample-ratio 0.1 (where a dropped span is still built, to be counted)."""
        for name, extra in (("metrics_all", []),
                            ("metrics_sampled", ["--sample-ratio", "0.1"])):
            self.pairs_between(name, self.wrk(self.port["nginx"], seconds),
                               ["rps", "cpu_us_per_request", "agent_cpu_us_per_request"],
                               {"off": ["--request-metrics", "off", *extra], "on": extra})

    def phase_idle(self, seconds):
        """sonde with nothing to trace (the benchmark's servers up, no load): the CPU its threads
        use and how often they are put on a CPU, from /proc/PID/task/*/schedstat (ns on a CPU,
        time slices), over `seconds` after 2 s of settling (an idle agent goes quiet after 5
        empty drains); then one request, whose record must wake the quiet loop (`wakeups=`)."""
        def schedstat(pid):
            t = {}
            for task in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{task}/comm") as f:
                        comm = f.read().strip()
                    with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                        ns, _, slices = map(int, f.read().split())
                except OSError:
                    continue
                t[f"{comm}/{task}"] = (ns, slices)
            return t

        s = Sonde(self, self.sink_url, extra=self.trace_args()).start()
        time.sleep(2)
        a = schedstat(s.proc.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        b = schedstat(s.proc.pid)
        dt = time.monotonic() - t0
        cpu_ns = sum(b[k][0] - a[k][0] for k in b if k in a)
        slices = sum(b[k][1] - a[k][1] for k in b if k in a)
        http_get(f"http://127.0.0.1:{self.port['nginx']}/")
        time.sleep(0.5)
        r = s.stop()
        res = {"seconds": dt, "cpu_percent_of_a_core": cpu_ns / dt / 1e9 * 100,
               "times_on_cpu_per_s": slices / dt, "threads": len(b),
               "wakeups_after_one_request": r["stats"].get("wakeups"), "spans": r["spans"]}
        log(f"idle: {res}")
        self.results["runs"]["idle"] = res

    def phase_profile(self, seconds):
        """One extra nginx saturation run with sonde (null sink) under `perf record` (sampling
        sonde's process only, no call graphs): where the agent's CPU goes. Not part of the pairs."""
        if not shutil.which("perf"):
            log("perf is not installed: no profile of sonde")
            return None
        data = os.path.join(self.tmp, "perf.data")
        s = Sonde(self, self.sink_url, extra=self.trace_args()).start()
        wrk = subprocess.Popen(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c32",
                                f"-d{seconds + 1}s", f"http://127.0.0.1:{self.port['nginx']}/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pids.add(wrk.pid)
        try:
            time.sleep(0.5)
            subprocess.run(["perf", "record", "-q", "-F", "999", "-p", str(s.proc.pid), "-o", data,
                            "--", "sleep", str(seconds - 1)], capture_output=True, check=True)
        finally:
            wrk.wait()
            self.pids.discard(wrk.pid)
            time.sleep(1.5)
            s.stop()
        prof = {}
        for key, sort in (("by_dso", "dso"), ("by_symbol", "dso,sym")):
            out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                                  "--stdio", "--percent-limit", "1"],
                                 capture_output=True, text=True).stdout
            rows = []
            for line in out.splitlines():
                m = re.match(r"^\s+([\d.]+)%\s+(\S+)\s*(.*)$", line)
                if m:
                    sym = re.sub(r"\s+-\s+-\s*$", "", m.group(3)).strip()
                    rows.append({"percent": float(m.group(1)), "dso": m.group(2),
                                 "symbol": sym.replace("[.] ", "").replace("[k] ", "")})
            prof[key] = rows
        prof["spans"] = s.result.get("spans")
        self.results["profile"] = prof
        log("profile of sonde by DSO: " + ", ".join(f"{r['dso']} {r['percent']}%"
                                                     for r in prof["by_dso"][:6]))
        return prof

    def phase_bpf_profile(self, rate, seconds):
        """One extra fixed-rate nginx run with sonde under a system-wide `perf record -g`: of
        the samples whose stack passes through one of sonde's BPF programs, which function was
        running (the programs' own code, the helpers they call: user-memory copies, hash map
        lookups, the ring buffer, clock reads). Not part of the pairs."""
        if not shutil.which("perf"):
            log("perf is not installed: no profile of the BPF programs")
            return None
        data = os.path.join(self.tmp, "perf-bpf.data")
        s = Sonde(self, self.sink_url, extra=self.trace_args()).start()
        try:
            lg = subprocess.Popen([os.path.join(self.bin, "loadgen"), "-addr",
                                   f"127.0.0.1:{self.port['nginx']}", "-path", "/", "-rate",
                                   str(rate), "-duration", f"{seconds + 1}s", "-warmup", "0s",
                                   "-conns", "32"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            self.pids.add(lg.pid)
            time.sleep(0.5)
            subprocess.run(["perf", "record", "-q", "-a", "-g", "-F", "4999", "-o", data, "--",
                            "sleep", str(seconds - 1)], capture_output=True, check=True)
            lg.wait()
            self.pids.discard(lg.pid)
        finally:
            s.stop()
        out = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym"],
                             capture_output=True, text=True).stdout
        leaf, progs, total, inside = {}, {}, 0, 0
        for st in out.strip().split("\n\n"):
            syms = [l.strip().split(None, 1)[1] for l in st.strip().splitlines()
                    if len(l.strip().split(None, 1)) > 1]
            if not syms:
                continue
            total += 1
            ours = [x for x in syms if x.startswith("bpf_prog_") and "_sonde_" in x]
            if not ours:
                continue
            inside += 1
            name = re.sub(r"^bpf_prog_[0-9a-f]+_", "", syms[0])
            leaf[name] = leaf.get(name, 0) + 1
            prog = re.sub(r"^bpf_prog_[0-9a-f]+_", "", ours[0])
            progs[prog] = progs.get(prog, 0) + 1
        prof = {"rate": rate, "samples": total, "samples_in_sonde_programs": inside,
                "by_function": sorted(({"function": k, "percent": 100 * v / inside}
                                       for k, v in leaf.items()), key=lambda r: -r["percent"])
                if inside else [],
                "by_program": {k: 100 * v / inside for k, v in progs.items()} if inside else {}}
        self.results["bpf_profile"] = prof
        log(f"BPF profile: {inside} of {total} samples in sonde's programs; top: " +
            ", ".join(f"{r['function']} {r['percent']:.1f}%" for r in prof["by_function"][:6]))
        return prof

    def max_rps_without(self, runs):
        return med([p["without"]["rps"] for p in runs])

    def run_ab(self, other):
        """Two builds of sonde on the same workloads, in rounds whose order alternates: this
        tree's build/sonde (A) and another binary (B: the build of an earlier commit, say).
        What a change that should not move the costs must keep: the agent's CPU per span at
        saturation (nginx, Go, redis-benchmark) and the BPF time per request and side at a
        fixed rate. Writes ab.json and AB.md to the out directory; results.json is untouched."""
        a = self.results
        a["machine"] = self.machine()
        a["config"] = {"pairs": self.pairs, "quick": self.quick, "ab": {"a": self.sonde,
                                                                          "b": other}}
        t_start = time.monotonic()
        sat_s = 3 if self.quick else 5
        fixed_s = 3 if self.quick else 6
        rate = int(os.environ.get("BENCH_AB_RATE", "10000"))
        a["config"]["ab"]["fixed_rate"] = rate
        self.start_servers()
        self.wrk(self.port["nginx"], 2)()
        self.wrk(self.port["go"], 2)()
        loads = {
            "nginx_saturation": (self.wrk(self.port["nginx"], sat_s), {}),
            "go_saturation": (self.wrk(self.port["go"], sat_s), {}),
            "redis": (self.redis_load(30000 if self.quick else 100000), {}),
            "nginx_fixed": (self.loadgen(self.port["nginx"], rate, fixed_s), {"bpf_stats": True}),
        }
        builds = {"a": self.sonde, "b": other}
        rounds = []
        for i in range(self.pairs):
            rd = {}
            for label in (["a", "b"] if i % 2 == 0 else ["b", "a"]):
                self.sonde = builds[label]
                rd[label] = {}
                for name, (load, kw) in loads.items():
                    r = self.measure(load, True, **kw)
                    rd[label][name] = r
                    log(f"A/B round {i + 1}/{self.pairs} {label} {name}: "
                        f"cpu_us_per_span={fmt(r['sonde'].get('cpu_us_per_span'))} "
                        f"bpf_ns_per_request_side={fmt(r.get('bpf_ns_per_request_side'))} "
                        f"spans={r['sonde']['spans']} drops={r['sonde']['drops']}")
            rounds.append(rd)
        self.sonde = builds["a"]
        a["runs"] = {"ab": rounds}
        a["elapsed_s"] = time.monotonic() - t_start

    def run_all(self):
        a = self.results
        a["machine"] = self.machine()
        a["foreign_sonde_processes"] = foreign_sondes(self.pids)
        if a["foreign_sonde_processes"]:
            log(f"WARNING: other sonde processes run on this machine and trace the benchmark "
                f"in every run: {a['foreign_sonde_processes']}")
        a["config"] = {"pairs": self.pairs, "quick": self.quick, "ports": self.port,
                       "placement": "servers on CPU 0 (nginx 1 worker, Go GOMAXPROCS=1, redis), "
                                    "wrk and redis-benchmark on CPU 1; the open-loop loadgen, "
                                    "sonde, PostgreSQL and pgbench unpinned",
                       "sonde_args": "--otlp-endpoint <null sink> --port <nginx> --port <Go> "
                                     "--port <redis> --port <PostgreSQL> (only the benchmark's "
                                     "connections, both sides, are traced: the machine is shared; "
                                     "otherwise defaults: 4 MiB ring per CPU, poll 20 ms, batch "
                                     "512/1 s)",
                       "floor": ("--otlp-endpoint <null sink> --pid <kernel.pid_max> (a pid no "
                                 "process has: every hook attached, nothing selected)"
                                 if self.floor else None)}
        t_start = time.monotonic()
        sat_s = 3 if self.quick else 5
        fixed_s = 3 if self.quick else 6

        self.start_servers()
        # Warm-up (JIT-free servers, but caches, TCP and page allocation settle).
        self.wrk(self.port["nginx"], 2)()
        self.wrk(self.port["go"], 2)()

        self.phase_startup()
        self.phase_idle(5 if self.quick else 10)

        log("nginx at saturation (wrk -t1 -c32)")
        ng = self.pairs_of("nginx_saturation", self.wrk(self.port["nginx"], sat_s),
                           ["rps", "cpu_us_per_request"])
        log("Go net/http at saturation (wrk -t1 -c32)")
        go = self.pairs_of("go_saturation", self.wrk(self.port["go"], sat_s),
                           ["rps", "cpu_us_per_request"])

        cap = 30000
        a["config"]["fixed_rates"] = {}
        for name, port, runs in (("nginx", self.port["nginx"], ng), ("go", self.port["go"], go)):
            for frac in FIXED_FRACTIONS:
                rate = int(min(cap, self.max_rps_without(runs) * frac / 100) // 1000 * 1000)
                run = f"{name}_fixed{frac}"
                a["config"]["fixed_rates"][run] = rate
                log(f"{name} at a fixed {rate} requests/s ({frac}% of its max without sonde, at "
                    f"most {cap}), BPF run-time statistics on during the sonde runs")
                self.pairs_of(run, self.loadgen(port, rate, fixed_s),
                              ["rate_achieved", "p50_us", "p99_us", "cpu_us_per_request"],
                              bpf_stats=True)

        log("redis-benchmark -t get,set")
        self.pairs_of("redis", self.redis_load(30000 if self.quick else 100000),
                      ["set_rps", "get_rps", "cpu_us_per_request"])
        log(f"pgbench -S -c 4 (scale {self.pg_scale})")
        self.pairs_of("pgbench", self.pgbench_load(4 if self.quick else 10),
                      ["tps", "cpu_us_per_request"])

        self.phase_http2(sat_s)
        self.phase_grpc(sat_s)
        self.phase_https(sat_s)
        self.phase_context(sat_s)
        self.phase_profile(sat_s)
        self.phase_bpf_profile(20000, fixed_s)

        log("drops by rate: nginx, sonde to the null sink")
        sweep = []
        for rate in (5000, 10000, 20000):
            r = self.measure(self.loadgen(self.port["nginx"], rate, fixed_s), True,
                             bpf_stats=True)
            r["rate"] = rate
            sweep.append(r)
            log(f"rate {rate}: achieved {r['rate_achieved']:.0f}/s spans={r['sonde']['spans']} "
                f"drops={r['sonde']['drops']} bpf ns/req/side={fmt(r.get('bpf_ns_per_request_side'))}")
        a["runs"]["rate_sweep"] = sweep

        rate = a["config"]["fixed_rates"][f"nginx_fixed{FIXED_FRACTIONS[0]}"]
        modes = {"normal": ["--cpu", "normal"], "yield": []}
        if own_cgroup_procs():
            modes["yield_own_cgroup"] = [OWN_CGROUP]
        log(f"yielding the CPU: nginx at a fixed {rate} requests/s, sonde with --cpu normal, "
            f"with the default --cpu yield" +
            (", and yielding from a cpu cgroup of its own" if len(modes) > 2 else
             " (no cpu cgroup controller: the own-cgroup runs are left out)"))
        a["config"]["cpu_mode_rate"] = rate
        self.pairs_between("cpu_mode", self.loadgen(self.port["nginx"], rate, fixed_s),
                           ["rate_achieved", "p50_us", "p99_us", "cpu_us_per_request"], modes)

        rate = 20000
        log(f"TCP-option propagation: nginx at a fixed {rate} requests/s, sonde with "
            f"--propagation link,tcp and with the chart's default against link (the host's)")
        a["config"]["tcp_option_rate"] = rate
        # loopback stands for the cluster's ranges: the option goes to 127.0.0.0/8 here
        to = ["--tcp-option-to", "127.0.0.0/8"]
        self.pairs_between("tcp_option", self.loadgen(self.port["nginx"], rate, fixed_s),
                           ["rate_achieved", "p99_us", "cpu_us_per_request",
                            "bpf_ns_per_request_side"],
                           {"link": ["--propagation", "link"],
                            "link_tcp": ["--propagation", "link,tcp", *to],
                            "chart": ["--propagation", "link,tcp,header", *to]},
                           bpf_stats=True)

        log("trace sampling: nginx at saturation without sonde, with it, and with "
            "--sample-ratio 0.1")
        rate = a["config"]["fixed_rates"][f"nginx_fixed{FIXED_FRACTIONS[0]}"]
        a["config"]["sampling_rate"] = rate
        self.phase_sampling(sat_s, rate, fixed_s)

        log("request metrics: nginx at saturation, sonde with --request-metrics off and on")
        self.phase_metrics(sat_s)

        log("nginx at saturation, sonde exporting to Jaeger")
        stop_jaeger = self.start_jaeger()
        jr = []
        for i in range(2 if not self.quick else 1):
            r = self.measure(self.wrk(self.port["nginx"], sat_s), True,
                             endpoint=f"http://127.0.0.1:{self.port['jaeger_otlp']}")
            jr.append(r)
            log(f"jaeger run {i + 1}: rps={r['rps']:.0f} spans/s={fmt(r.get('spans_per_s'))} "
                f"drops={r['sonde']['drops']} exporter={r['sonde'].get('exporter')}")
        stop_jaeger()
        a["runs"]["jaeger_saturation"] = jr

        a["elapsed_s"] = time.monotonic() - t_start
        a["foreign_sonde_processes_at_end"] = foreign_sondes(self.pids)
        a["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]


def proc_meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def fmt(v, nd=None):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if nd is not None:
            return f"{v:.{nd}f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v)


# ---------------------------------------------------------------------------------------------
# summary and report

def ratios(runs, key):
    out = []
    for p in runs:
        a, b = p["with"].get(key), p["without"].get(key)
        if a is not None and b:
            out.append(a / b)
    return out


def summarize(res):
    R = res["runs"]
    S = {}

    def cmp(name, key):
        rs = ratios(R[name], key)
        return {"without_median": med([p["without"].get(key) for p in R[name]]),
                "with_median": med([p["with"].get(key) for p in R[name]]),
                "ratio_median": med(rs), "ratio_spread": spread(rs), "ratios": rs}

    for name in ("nginx_saturation", "go_saturation"):
        S[name] = {"rps": cmp(name, "rps"), "cpu_us_per_request": cmp(name, "cpu_us_per_request")}
    for name in FIXED_RUNS:
        S[name] = {k: cmp(name, k) for k in ("p50_us", "p99_us", "p999_us", "service_p99_us",
                                             "cpu_us_per_request", "rate_achieved")}
    S["redis"] = {k: cmp("redis", k) for k in ("set_rps", "get_rps", "rps", "cpu_us_per_request")}
    S["pgbench"] = {k: cmp("pgbench", k) for k in ("tps", "cpu_us_per_request")}
    def protocol_figures(name):
        withs = [p["with"] for p in R[name]]
        return {
            "rps": cmp(name, "rps"), "cpu_us_per_request": cmp(name, "cpu_us_per_request"),
            "bpf_ns_per_request_side": med([r.get("bpf_ns_per_request_side") for r in withs]),
            "bpf_ns_spread": spread([r.get("bpf_ns_per_request_side") for r in withs]),
            "records_per_request": med([r["sonde"]["stats"].get("records", 0) / r["requests"]
                                        for r in withs if r.get("requests")]),
            "spans_per_request": med([r["sonde"]["spans"] / r["requests"]
                                      for r in withs if r.get("requests")]),
        }

    # HTTP/2's frame walk, and HTTPS's uprobes, against HTTP/1.x's capture: the same nginx worker,
    # the same shape of load
    if "nginx_h2_bpf" in R and "nginx_h1_bpf" in R:
        S["http2"] = {"h1": protocol_figures("nginx_h1_bpf"), "h2": protocol_figures("nginx_h2_bpf")}
    if "nginx_tls_bpf" in R and "nginx_h1_bpf" in R:
        S["https"] = {"h1": protocol_figures("nginx_h1_bpf"),
                      "tls": protocol_figures("nginx_tls_bpf")}
    # gRPC on grpc-go: the server's side alone (h2load), both sides (grpc-go's client)
    if "grpc_h2load_bpf" in R:
        S["grpc"] = {"h2load": protocol_figures("grpc_h2load_bpf")}
        if "grpc_go_bpf" in R:
            S["grpc"]["go"] = protocol_figures("grpc_go_bpf")
    if "nginx_ctx8k_bpf" in R and "nginx_h1_bpf" in R:
        withs = [p["with"] for p in R["nginx_ctx8k_bpf"]]
        S["context"] = {"h1": protocol_figures("nginx_h1_bpf"),
                        "ctx8k": protocol_figures("nginx_ctx8k_bpf"),
                        "finds_per_request": med([r["sonde"]["stats"].get("head_finds", 0) /
                                                  r["requests"] for r in withs
                                                  if r.get("requests")]),
                        "found_per_request": med([r["sonde"]["stats"].get("ctx_behind", 0) /
                                                  r["requests"] for r in withs
                                                  if r.get("requests")])}

    # BPF: every sonde run with statistics on.
    bpf_runs = []
    for name in FIXED_RUNS:
        bpf_runs += [(name.split("_")[0] + "_fixed", p["with"]) for p in R[name]]
    bpf_runs += [("rate_sweep", r) for r in R["rate_sweep"]]
    by = {}
    for name, r in bpf_runs:
        by.setdefault(name, []).append(r)
    S["bpf"] = {}
    for name, rs in by.items():
        per_prog = {}
        for prog in ("sonde_sock_send", "sonde_sock_recv", "sonde_sock_state"):
            per_prog[prog] = med([r.get("bpf_ns_per_run", {}).get(prog) for r in rs])
        S["bpf"][name] = {
            "ns_per_request_side": med([r.get("bpf_ns_per_request_side") for r in rs]),
            "ns_per_request_side_spread": spread([r.get("bpf_ns_per_request_side") for r in rs]),
            "ns_per_request": med([r.get("bpf_ns_per_request") for r in rs]),
            "runs_per_request": med([r.get("bpf_runs_per_request") for r in rs]),
            "ns_per_run": per_prog,
        }

    # Agent: sonde's own figures in the saturation runs (null sink) and with Jaeger.
    def agent(rs):
        ss = [r["sonde"] for r in rs]
        return {
            "spans_per_s": med([r.get("spans_per_s") for r in rs]),
            "spans_per_s_spread": spread([r.get("spans_per_s") for r in rs]),
            "cpu_us_per_span": med([s.get("cpu_us_per_span") for s in ss]),
            "cpu_us_per_span_spread": spread([s.get("cpu_us_per_span") for s in ss]),
            "cpu_share_of_a_core": med([s["cpu_s_load"] / (s["load_s"] + 1.5) for s in ss
                                        if s.get("load_s")]),
            "rss_mb_steady": med([s.get("rss_kb_steady") for s in ss]) / 1024,
            "rss_excl_ring_mb_steady": med([s.get("rss_excl_ring_kb_steady") for s in ss]) / 1024,
            "ring_rss_mb": med([s.get("ring_rss_kb_end") for s in ss]) / 1024,
            "rss_excl_ring_mb_peak_sampled": max(s.get("rss_excl_ring_kb_max_sampled", 0)
                                                 for s in ss) / 1024,
            "vm_hwm_mb": max(s.get("vm_hwm_kb", 0) for s in ss) / 1024,
            "vm_hwm_excl_ring_mb": max(s.get("vm_hwm_kb", 0) - s.get("ring_rss_kb_end", 0)
                                       for s in ss) / 1024,
            "ring_full": sum(s["drops"]["ring_full"] for s in ss),
            "dropped_full": sum(s["drops"]["dropped_full"] for s in ss),
            "dropped_failed": sum(s["drops"]["dropped_failed"] for s in ss),
            "spans": sum(s["spans"] for s in ss),
            "requests": sum(r["requests"] for r in rs),
        }

    S["agent_nginx_saturation_null_sink"] = agent([p["with"] for p in R["nginx_saturation"]])
    S["agent_go_saturation_null_sink"] = agent([p["with"] for p in R["go_saturation"]])
    S["agent_nginx_saturation_jaeger"] = agent(R["jaeger_saturation"])
    S["agent_fixed_rate"] = agent([p["with"] for n in FIXED_RUNS for p in R[n]])
    S["drops_by_rate"] = [{"rate": r["rate"], "rate_achieved": r["rate_achieved"],
                           "requests": r["requests"], "spans": r["sonde"]["spans"],
                           **r["sonde"]["drops"]} for r in R["rate_sweep"]]
    for name in FIXED_RUNS:
        rate = res["config"]["fixed_rates"][name]
        S["drops_by_rate"].append({
            "rate": rate, "server": name.split("_")[0],
            "rate_achieved": med([p["with"]["rate_achieved"] for p in R[name]]),
            "requests": sum(p["with"]["requests"] for p in R[name]),
            "spans": sum(p["with"]["sonde"]["spans"] for p in R[name]),
            **{k: sum(p["with"]["sonde"]["drops"][k] for p in R[name])
               for k in ("ring_full", "dropped_full", "dropped_failed", "rejected")}})
    def between(runs, a_, b_, get):
        """b_ against a_ per pair: medians of each and of the ratios."""
        rs = [get(p[b_]) / get(p[a_]) for p in runs
              if get(p[b_]) is not None and get(p[a_])]
        return {a_ + "_median": med([get(p[a_]) for p in runs]),
                b_ + "_median": med([get(p[b_]) for p in runs]),
                "ratio_median": med(rs), "ratio_spread": spread(rs), "ratios": rs}

    S["floor"] = {}
    for name, keys in FLOOR_FIGURES.items():
        rounds = [p for p in R.get(name, []) if "floor" in p]
        if not rounds:
            continue
        f = {}
        for key in keys:
            get = lambda r, key=key: r.get(key)
            f[key] = {"with_vs_without": between(rounds, "without", "with", get),
                      "floor_vs_without": between(rounds, "without", "floor", get),
                      "with_vs_floor": between(rounds, "floor", "with", get)}
        f["bpf_ns_per_request_side"] = {k: med([p[k].get("bpf_ns_per_request_side")
                                                for p in rounds]) for k in ("floor", "with")}
        f["traced_io"] = sum(p["floor"]["sonde"]["stats"].get("io", 0) for p in rounds)
        f["spans"] = sum(p["floor"]["sonde"]["spans"] for p in rounds)
        f["rounds"] = len(rounds)
        S["floor"][name] = f
    if R.get("cpu_mode"):
        cm = R["cpu_mode"]
        S["cpu_mode"] = {}
        for other in ("yield", "yield_own_cgroup"):
            if other not in cm[0]:
                continue
            d = {k: between(cm, "normal", other, lambda r, k=k: r.get(k))
                 for k in ("p50_us", "p99_us", "cpu_us_per_request")}
            d["cpu_us_per_span"] = between(cm, "normal", other,
                                           lambda r: r["sonde"].get("cpu_us_per_span"))
            d["drops"] = sum(sum(p[other]["sonde"]["drops"].values()) for p in cm)
            d["raises"] = sum(int(p[other]["sonde"]["stats"].get("raises", 0)) for p in cm)
            S["cpu_mode"][other] = d
    if R.get("tcp_option"):
        tp = R["tcp_option"]

        def tcmp(key):
            return between(tp, "link", "link_tcp", lambda r: r.get(key))

        def per_req(p, stat):
            return p["link_tcp"]["sonde"]["stats"].get(stat, 0) / p["link_tcp"]["requests"]

        S["tcp_option"] = {k: tcmp(k) for k in ("cpu_us_per_request", "p50_us", "p99_us",
                                                "bpf_ns_per_request_side", "rate_achieved")}
        S["tcp_option"]["sockops_ns_per_run"] = med(
            [p["link_tcp"].get("bpf_ns_per_run", {}).get("sonde_tcpopt") for p in tp])
        S["tcp_option"]["sockops_runs_per_request"] = med(
            [p["link_tcp"]["sonde"]["bpf"].get("sonde_tcpopt", {}).get("run_cnt", 0) /
             p["link_tcp"]["requests"] for p in tp if p["link_tcp"]["sonde"].get("bpf")])
        for stat in ("tcpopt_written", "tcpopt_joined", "tcpopt_nospace"):
            S["tcp_option"][stat + "_per_request"] = med([per_req(p, stat) for p in tp])
        if all("chart" in p for p in tp):
            S["tcp_option_chart"] = {
                k: between(tp, "link", "chart", lambda r, k=k: r.get(k))
                for k in ("cpu_us_per_request", "p50_us", "p99_us", "bpf_ns_per_request_side",
                          "rate_achieved")}
            line = tp[0]["chart"]["sonde"].get("attached_line", "")
            m = re.search(r"propagation ([^;]*);", line)
            S["tcp_option_chart"]["propagation"] = m.group(1) if m else None
    if R.get("sampling"):
        sm = R["sampling"]
        S["sampling"] = {
            "rps_all": between(sm, "without", "all", lambda r: r.get("rps")),
            "rps_ratio": between(sm, "without", "ratio_0.1", lambda r: r.get("rps")),
            "agent_cpu": between(sm, "all", "ratio_0.1",
                                 lambda r: r.get("agent_cpu_us_per_request")),
            "app_cpu": between(sm, "all", "ratio_0.1", lambda r: r.get("cpu_us_per_request")),
            "unsampled_share": med([p["ratio_0.1"]["unsampled_share"] for p in sm]),
            "p99": {k: between(R["sampling_fixed"], "without", k, lambda r: r.get("p99_us"))
                    for k in ("all", "ratio_0.1")} if R.get("sampling_fixed") else None,
            "drops": sum(sum(p[k]["sonde"]["drops"].values()) for p in sm
                         for k in ("all", "ratio_0.1")),
        }
    if R.get("grpc_probes"):
        S["grpc_probes"] = {k: between(R["grpc_probes"], "no_go_grpc", "probes",
                                       lambda r, k=k: r.get(k))
                            for k in ("cpu_us_per_request", "agent_cpu_us_per_request",
                                      "bpf_ns_per_request_side", "rps")}
    for name in ("metrics_all", "metrics_sampled"):
        if R.get(name):
            S[name] = {k: between(R[name], "off", "on", lambda r, k=k: r.get(k))
                       for k in ("agent_cpu_us_per_request", "cpu_us_per_request", "rps")}
            S[name]["series"] = med([int(p["on"]["sonde"]["stats"].get("red_series", 0))
                                     for p in R[name]])
    st = R["startup"]
    S["startup"] = {k: med([r[k] for r in st]) for k in st[0] if k != "spans"}
    S["startup"]["exec_to_attached_ms_spread"] = spread([r["exec_to_attached_ms"] for r in st])
    res["summary"] = S
    return S


def bound_notes(res):
    """The "what bounds it" notes, with the figures of this run."""
    R, S = res["runs"], res["summary"]

    def rec_per_io(name):
        st = [p["with"]["sonde"]["stats"] for p in R[name]]
        io = sum(x["io"] for x in st)
        return sum(x["records"] for x in st) / io if io else 0

    bp = res.get("bpf_profile")
    shares = ""
    if bp and bp.get("samples_in_sonde_programs"):
        shares = "; where the time goes (profile below): " + ", ".join(
            f"{label.split(' (')[0]} {share:.0f}%" for label, share, _ in bpf_profile_groups(bp))

    def bpf_note(b):
        npr = b.get("ns_per_run", {})
        return (f"per I/O the hook's checks and the connection's map lookup, per message start a "
                f"user-memory read: the request's head copied into a ring record, the response's "
                f"16-byte status line kept in the connection's state (summaries); send "
                f"{fmt(npr.get('sonde_sock_send'))} ns/run, recv {fmt(npr.get('sonde_sock_recv'))} "
                f"ns/run, times {fmt((b.get('runs_per_request') or 0) / 2)} runs per request and "
                f"side{shares}; the user reads and the hash lookups are the floor of a record "
                f"per message with exact per-connection state: the goal is below two hook hits "
                f"and one read per request and side on this kernel")
    cm = S.get("cpu_mode") or {}
    yld = ""
    if cm.get("yield") and cm["yield"]["p99_us"]["ratio_median"]:
        y = cm["yield"]
        yld = (f"; sonde's loop yields to the applications (`--cpu yield`, SCHED_IDLE): at the "
               f"{FIXED_FRACTIONS[0]}% rate its p99 is {pct(y['p99_us']['ratio_median'])} against "
               f"`--cpu normal` (table below)")
        o = cm.get("yield_own_cgroup")
        if o and o["p99_us"]["ratio_median"]:
            yld += (f", but from a cpu cgroup of its own {pct(o['p99_us']['ratio_median'])}: "
                    f"between cgroups their weights decide, not the thread's policy")
    smp = (S.get("sampling") or {}).get("p99")
    if smp and smp["all"]["ratio_median"] and smp["ratio_0.1"]["ratio_median"]:
        yld += (f"; most of it is the export work a sampler skips: at the {FIXED_FRACTIONS[0]}% "
                f"rate, nginx's p99 change was {pct(smp['all']['ratio_median'])} with every trace and "
                f"{pct(smp['ratio_0.1']['ratio_median'])} with `--sample-ratio 0.1` (Trace "
                f"sampling below)")
    prof = res.get("profile") or {}
    top = ", ".join(f"{r['symbol']} {r['percent']:.0f}%" for r in prof.get("by_symbol", [])[:5])
    an = S["agent_nginx_saturation_null_sink"]
    return {
        "throughput": (
            f"at saturation every cycle sonde spends is taken from nginx and wrk, which keep both "
            f"cores busy: in the kernel a record per request and side (records/io = "
            f"{rec_per_io('nginx_saturation'):.2f}: responses are summarized), and sonde's own "
            f"{fmt(an['cpu_us_per_span'])} µs of CPU per span ({fmt(an['cpu_share_of_a_core'])} of a "
            f"core); a 3% loss would leave about 0.3 µs per span for all of it"),
        "latency_high": (
            f"at {FIXED_FRACTIONS[1]}% of wrk's maximum the open-loop generator (about 4x wrk's CPU "
            f"per request), the server and sonde together keep most of the 2 cores busy, so "
            f"requests queue behind any extra work; see also the {FIXED_FRACTIONS[0]}% rows"),
        "latency": (
            "sonde's user-space work (rings drained every 20 ms, a period's spans decoded and "
            "encoded at once) runs on the 2 cores the server and the client use, and the "
            "in-kernel work adds to every request; p99 on this machine also moves by several ms "
            "between runs (see the spread)" + yld),
        "redis": (
            "Redis is decoded on both ends (redis-benchmark's client spans and the server's): "
            "every command is a record each way and two spans of agent work on the 2 cores the "
            "server and the benchmark share"),
        "bpf_nginx": bpf_note(S["bpf"].get("nginx_fixed", {})),
        "bpf_go": bpf_note(S["bpf"].get("go_fixed", {})),
        "drops": (
            "spans dropped by the export queue (`--queue-size`, 4096 spans) when it fills up: "
            "the agent's one thread decodes, encodes and sends, and on 2 cores saturated by the "
            "load it falls behind the spans coming in; every drop is counted"),
        "agent_cpu": (
            "the profile below (top: " + (top or "none") + "): decoding and assembling (the "
            "assembler), the OTLP encoder's attribute writing (each span is encoded once, when "
            "it is submitted, and only its bytes are queued), the preemptions of the yielding "
            "loop; no gzip (the collector is on loopback)"),
    }


# What the kernel functions seen under sonde's BPF programs are, for the profile table.
BPF_PROFILE_GROUPS = [
    ("the programs' own code", lambda f: f.startswith("sonde_")),
    ("user-memory reads (payload, status line, iovec)",
     lambda f: any(k in f for k in ("copy_from_user", "probe_read", "uaccess", "rep_movs",
                                    "check_object_size", "check_stack_object", "vmalloc_addr",
                                    "virt_addr_valid", "mm_is_foreign", "copy_user"))),
    ("hash map lookups and updates (conns, resp_notes, filters)",
     lambda f: any(k in f for k in ("htab", "lookup_nulls", "lru", "jhash"))),
    ("ring buffer reserve and submit", lambda f: "ringbuf" in f),
    ("clock reads (bpf_ktime_get_ns, run-time statistics)",
     lambda f: any(k in f for k in ("tsc", "ktime", "clock", "sched_clock"))),
]


def bpf_profile_groups(bp):
    groups = [[label, 0.0, []] for label, _ in BPF_PROFILE_GROUPS] + [["other", 0.0, []]]
    for r in bp["by_function"]:
        i = next((i for i, (_, m) in enumerate(BPF_PROFILE_GROUPS) if m(r["function"])),
                 len(BPF_PROFILE_GROUPS))
        groups[i][1] += r["percent"]
        groups[i][2].append(r["function"])
    return [tuple(g) for g in groups if g[1] > 0]


# The figures of the TCP-option tables: key, label.
TCP_OPTION_ROWS = (("cpu_us_per_request", "server + client CPU per request, µs"),
                   ("bpf_ns_per_request_side", "BPF ns per request and side"),
                   ("p50_us", "p50 latency, µs"), ("p99_us", "p99 latency, µs"),
                   ("rate_achieved", "achieved rate, req/s"))


def between_table(w, data, a, b, rows):
    """Rows of medians of two sonde configurations (key, label) and of their pair ratios."""
    w(f"| figure | {a[1]} (median) | {b[1]} (median) | change (median of pairs) | spread |")
    w("| --- | --- | --- | --- | --- |")
    for key, label in rows:
        r = data[key]
        w(f"| {label} | {fmt(r[a[0] + '_median'])} | {fmt(r[b[0] + '_median'])} | "
          f"{pct(r['ratio_median'])} | {rng(r['ratio_spread'])} |")


def goal(ok):
    return "met" if ok else "**not met**"


def pct(r):
    return "n/a" if r is None else f"{(r - 1) * 100:+.1f}%"


def rng(sp, f=pct):
    return "n/a" if not sp else f"{f(sp[0])} .. {f(sp[1])}"


def floor_report(w, res):
    """The floor's section: what the hooks alone cost, against the same rounds' runs."""
    S, C = res["summary"], res["config"]
    first = next(iter(S["floor"]))
    m = re.search(r"attached in \d+ ms: (.*?); propagation",
                  res["runs"][first][0]["floor"]["sonde"].get("attached_line", ""))
    hooks = m.group(1) if m else None
    w("## Hooks alone: the floor")
    w("")
    w("Each comparison above also ran sonde with nothing selected: `--pid <kernel.pid_max>`, "
      "a pid no process has, in place of the servers' ports, every other option the same. "
      "Each round is three runs, without sonde, with it, and the floor, in an order that "
      "rotates from round to round; a ratio is between runs of the same round (median of the "
      "rounds, spread min .. max in parentheses).")
    w("")
    w("What the floor includes: every program sonde attaches" +
      (f" ({hooks})" if hooks else "") + ", attached as in the runs with sonde. The socket "
      "hooks run on every TCP send and receive of every process on the machine: each checks "
      "that the socket is TCP, reads the pid, looks the connection up in the `conns` map and "
      "returns, the connection having been marked ignored at its first I/O (one lookup in "
      "the pid filter); the state-change hook adds each connection's entry at its open and "
      "deletes it at its close; the thread-creation hook looks each new thread's process up "
      "and returns. sonde's process runs with "
      "nothing to do (empty rings drained every 100 ms, its guard looking every 100 ms). What "
      "it excludes: all that sonde does for a selected connection: the accounting of its runs "
      "on each I/O, the user-memory reads (request heads, status lines), the ring-buffer "
      "records, the Go uprobes, and the agent's decoding, span assembly and export.")
    w("")
    w("CPU per request is the server's and the client's, where the hooks run (in their system "
      "calls), not the agent's; throughput also moves with the agent's CPU, as it shares the "
      "2 cores. With / floor is what capturing costs above the hooks alone.")
    w("")
    w("| workload | figure | without (median) | floor (median) | with sonde (median) | "
      "floor vs without | with vs without | with vs floor |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    names = {"cpu_us_per_request": "CPU per request, µs", "rps": "req/s",
             "rate_achieved": "achieved req/s", "tps": "tps", "p99_us": "p99 latency, µs"}

    def ratio(r):
        return f"{pct(r['ratio_median'])} ({rng(r['ratio_spread'])})"

    for name, f in S["floor"].items():
        label = FLOOR_LABELS.get(name)
        if label is None:  # a fixed-rate run
            label = (f"{'nginx' if name.startswith('nginx') else 'Go'} at "
                     f"{C['fixed_rates'][name]} req/s ({name.split('fixed')[1]}% of max)")
        for key in FLOOR_FIGURES[name]:
            a, b, c = (f[key]["floor_vs_without"], f[key]["with_vs_without"],
                       f[key]["with_vs_floor"])
            w(f"| {label} | {names[key]} | {fmt(a['without_median'])} | "
              f"{fmt(a['floor_median'])} | {fmt(b['with_median'])} | {ratio(a)} | {ratio(b)} | "
              f"{ratio(c)} |")
            label = ""
    w("")
    bpf = [(n, f["bpf_ns_per_request_side"]) for n, f in S["floor"].items()
           if f["bpf_ns_per_request_side"]["floor"] is not None]
    if bpf:
        w("BPF ns per request and side (the run time of sonde's programs over 2 × requests, as "
          "in the kernel-side section; statistics on in the fixed-rate rounds), floor / with "
          "sonde: " + "; ".join(f"{'nginx' if n.startswith('nginx') else 'Go'} at "
                                f"{n.split('fixed')[1]}%: {fmt(b['floor'])} / {fmt(b['with'])}"
                                for n, b in bpf) + ".")
        w("")
    io = sum(f["traced_io"] for f in S["floor"].values())
    spans = sum(f["spans"] for f in S["floor"].values())
    w(f"I/O traced and spans made in all the floor's runs: {io} and {spans} (nothing was "
      "selected, so both must be 0).")
    w("")


def report(res):
    S = res["summary"]
    M = res["machine"]
    C = res["config"]
    L = []
    w = L.append
    w("# sonde benchmark results")
    w("")
    w(f"One run of `make bench` (`bench/run.sh`), {M['date_utc']} UTC, {res['elapsed_s'] / 60:.1f} "
      f"minutes. Machine: {M['cpu']}, {M['cpus']} CPUs, {M['mem_gib']} GiB, {M['os']}, Linux "
      f"{M['kernel']}. {M['sonde']} (git {M['git_rev']}). {M['nginx']}; {M['redis']}; "
      f"{M['postgresql']}; {M['wrk'].split(' ')[0] + ' ' + M['wrk'].split(' ')[1] if M['wrk'] else ''}; {M['go']}.")
    w("")
    if C.get("floor"):
        w(f"Every comparison is {C['pairs']} rounds of three runs, one without sonde, one with "
          "it and one with sonde attached and nothing selected (the floor, below), in an order "
          "that rotates from round to round. A ratio is with / without, per round; the table "
          "gives the median of the round ratios and their spread (min .. max). "
          f"Placement: {C['placement']}. sonde ran with {C['sonde_args']}; the floor with "
          f"{C['floor']}.")
    else:
        w(f"Every comparison is {C['pairs']} pairs of runs, one without sonde and one with it, "
          "alternated (the order swaps from pair to pair). A ratio is with / without, per pair; "
          "the table gives the median of the pair ratios and their spread (min .. max). "
          f"Placement: {C['placement']}. sonde ran with {C['sonde_args']}.")
    if res.get("foreign_sonde_processes"):
        w("")
        fs = res["foreign_sonde_processes"]
        w(f"**Caveat: {len(fs)} other sonde process(es), not started by the benchmark, ran on the "
          "machine when the run started and traced the load in both the with and the without "
          "runs:** " + ", ".join(f"pid {p['pid']} `{p['cmdline']}`" for p in fs) +
          f" ({len(res.get('foreign_sonde_processes_at_end') or [])} at the end). The baseline "
          "therefore already carries their in-kernel cost (and, for a sonde on syscall "
          "tracepoints, a cost on every syscall); the ratios compare the baseline plus one more "
          "sonde against the baseline.")
    w("")
    w(f"Load average at start {' '.join(M['loadavg_at_start'])}, at end "
      f"{' '.join(res['loadavg_at_end'])} (other work on the machine shows up as noise).")
    w("")

    ng, go = S["nginx_saturation"], S["go_saturation"]
    rd, pg = S["redis"], S["pgbench"]
    an, ag, aj = (S["agent_nginx_saturation_null_sink"], S["agent_go_saturation_null_sink"],
                  S["agent_nginx_saturation_jaeger"])
    bn = S["bpf"].get("nginx_fixed", {})
    bg = S["bpf"].get("go_fixed", {})
    d20 = [d for d in S["drops_by_rate"] if d["rate"] == 20000 and "server" not in d]
    d20 = d20[0] if d20 else None
    su = S["startup"]
    notes = bound_notes(res)
    BOUND_THROUGHPUT, BOUND_LATENCY, BOUND_REDIS, BOUND_AGENT_CPU = (
        notes["throughput"], notes["latency"], notes["redis"], notes["agent_cpu"])

    def row(what, without, with_, ratio, sp, g="", ok=None, note=""):
        status = "" if ok is None else goal(ok)
        w(f"| {what} | {without} | {with_} | {ratio} | {sp} | {g} | {status} | {note} |")

    w("## Application impact")
    w("")
    w("| figure | without sonde (median) | with sonde (median) | change (median of pairs) | "
      "spread of pairs | goal | | note |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    r = ng["rps"]
    row("nginx max throughput (wrk -t1 -c32), req/s", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]), "loss < 3%",
        r["ratio_median"] is not None and r["ratio_median"] > 0.97,
        "" if r["ratio_median"] and r["ratio_median"] > 0.97 else BOUND_THROUGHPUT)
    r = ng["cpu_us_per_request"]
    row("nginx + wrk CPU per request at saturation, µs", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
    r = go["rps"]
    row("Go net/http max throughput (wrk -t1 -c32), req/s", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
    r = go["cpu_us_per_request"]
    row("Go server + wrk CPU per request at saturation, µs", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
    for run in FIXED_RUNS:
        f, rate = S[run], C["fixed_rates"][run]
        label = {"nginx": "nginx", "go": "Go"}[run.split("_")[0]]
        rate = f"{rate} req/s ({run.split('fixed')[1]}% of max)"
        r = f["p50_us"]
        row(f"{label} p50 latency at {rate} (open loop), µs", fmt(r["without_median"]),
            fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
        r = f["p99_us"]
        ok = r["ratio_median"] is not None and r["ratio_median"] < 1.05
        row(f"{label} p99 latency at {rate} (open loop), µs", fmt(r["without_median"]),
            fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]), "change < 5%",
            ok, "" if ok else (notes["latency_high"] + "; "
                               if run.endswith(str(FIXED_FRACTIONS[1])) else "") + BOUND_LATENCY)
        r = f["cpu_us_per_request"]
        row(f"{label} server + client CPU per request at {rate}, µs",
            fmt(r["without_median"]), fmt(r["with_median"]), pct(r["ratio_median"]),
            rng(r["ratio_spread"]))
    for k, label in (("set_rps", "SET"), ("get_rps", "GET")):
        r = rd[k]
        ok = r["ratio_median"] is not None and r["ratio_median"] > 0.97
        row(f"redis-benchmark {label} (50 clients), req/s", fmt(r["without_median"]),
            fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]), "loss < 3%",
            ok, "" if ok else BOUND_REDIS)
    r = rd["cpu_us_per_request"]
    row("redis-server + redis-benchmark CPU per request, µs", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
    r = pg["tps"]
    row("pgbench -S -c 4 -j 2 -T 10, tps", fmt(r["without_median"]), fmt(r["with_median"]),
        pct(r["ratio_median"]), rng(r["ratio_spread"]))
    r = pg["cpu_us_per_request"]
    row("PostgreSQL + pgbench CPU per transaction, µs", fmt(r["without_median"]),
        fmt(r["with_median"]), pct(r["ratio_median"]), rng(r["ratio_spread"]))
    w("")
    if S.get("floor"):
        floor_report(w, res)

    w("## Kernel-side cost (BPF run time, `kernel.bpf_stats_enabled=1` in the fixed-rate sonde runs)")
    w("")
    w("Both sides of every request are traced (the load generator's client spans and the "
      "server's spans), so \"per side\" is the run time of all sonde programs divided by "
      "2 × requests. Statistics were on only in the fixed-rate runs and the rate sweep, so the "
      "saturation figures above do not carry the statistics' own clock reads.")
    w("")
    w("| figure | value (median) | spread | goal | | note |")
    w("| --- | --- | --- | --- | --- | --- |")
    for label, b in (("nginx", bn), ("Go", bg)):
        if not b:
            continue
        BOUND_BPF = notes["bpf_" + label.lower()]
        v = b["ns_per_request_side"]
        ok = v is not None and v <= 300
        w(f"| BPF ns per HTTP request and side, {label} at the fixed rates | {fmt(v)} | "
          f"{rng(b['ns_per_request_side_spread'], lambda x: fmt(x))} | ≤ 300 ns | {goal(ok)} | "
          f"{'' if ok else BOUND_BPF} |")
        w(f"| program runs per request (both sides), {label} | {fmt(b['runs_per_request'])} | | | | |")
        for prog, v in b["ns_per_run"].items():
            w(f"| ns per run of `{prog}`, {label} | {fmt(v)} | | | | |")
    for label, b in S["bpf"].items():
        if label == "rate_sweep":
            w(f"| BPF ns per HTTP request and side, nginx rate sweep (5k/10k/20k) | "
              f"{fmt(b['ns_per_request_side'])} | "
              f"{rng(b['ns_per_request_side_spread'], lambda x: fmt(x))} | | | |")
    w("")
    bp = res.get("bpf_profile")
    if bp and bp.get("samples_in_sonde_programs"):
        w("### Where the BPF programs' time goes")
        w("")
        w(f"`perf record -a -g` for one extra run of nginx at {bp['rate']} requests/s with "
          f"sonde (not one of the pairs): of {bp['samples']} samples, "
          f"{bp['samples_in_sonde_programs']} ran inside one of sonde's programs; by what was "
          "running (the program's own code, or a kernel function it called):")
        w("")
        w("| what | share of the programs' samples | functions |")
        w("| --- | --- | --- |")
        for label, share, funcs in bpf_profile_groups(bp):
            w(f"| {label} | {share:.1f}% | {', '.join(f'`{f}`' for f in funcs[:6])} |")
        w("")

    cm = S.get("cpu_mode")
    if cm:
        w("## Yielding the CPU: `--cpu`")
        w("")
        w(f"nginx at the {FIXED_FRACTIONS[0]}% rate ({res['config']['cpu_mode_rate']} requests/s), "
          "alternated runs of sonde with `--cpu normal` (its loop at normal priority), with the "
          "default `--cpu yield` (its loop under SCHED_IDLE, raised by its guard thread while the "
          "rings back up)" + (", and yielding again after being moved into a cpu cgroup of its "
                              "own, as in a systemd service or a pod" if "yield_own_cgroup" in cm
                              else "") + ". Every ratio is against `--cpu normal` of the same "
          "pair.")
        w("")
        rows = (("p50_us", "p50 latency, µs"), ("p99_us", "p99 latency, µs"),
                ("cpu_us_per_request", "server + client CPU per request, µs"),
                ("cpu_us_per_span", "agent CPU per span, µs"))
        for other, label in (("yield", "yield"), ("yield_own_cgroup", "yield, own cgroup")):
            if other in cm:
                between_table(w, cm[other], ("normal", "normal"), (other, label), rows)
                w("")
                w(f"Lost with {label}: {cm[other]['drops']} (ring full, queue full, failed); "
                  f"the guard raised the loop {cm[other]['raises']} times in all.")
                w("")
    t = S.get("tcp_option")
    if t:
        w("## TCP-option propagation (`--propagation link,tcp`; the chart's default, not the "
          "host's)")
        w("")
        w(f"nginx at a fixed {res['config']['tcp_option_rate']} requests/s from the open-loop "
          "load generator, both ends traced; every set is one run each with `--propagation "
          "link` (the host's default), `link,tcp` and the chart's default, in turn forwards and "
          "backwards, BPF statistics on in all; the option goes to 127.0.0.0/8 "
          "(`--tcp-option-to`). With tcp, the load generator's requests carry the option "
          "(written by the sockops program at each request's first segment, with the safety "
          "net's tally) and nginx's sonde side reads it.")
        w("")
        if not t["tcpopt_written_per_request"]:
            w("**No option was written in these runs.** The load generator is a Go program, "
              "and Go programs' connections carry no option (the kernel cannot tell which "
              "request a goroutine's send belongs to: docs/cross-node.md). The figures are "
              "what tcp costs when it is on and writes nothing: the sockops program on the "
              "connections' setup, and the receive side's look for an option on every "
              "request nginx reads. The cost of writing it needs a client that is not Go.")
            w("")
        between_table(w, t, ("link", "link"), ("link_tcp", "link,tcp"), TCP_OPTION_ROWS)
        w(f"| sockops program: runs per request, ns per run | | "
          f"{fmt(t['sockops_runs_per_request'])}, {fmt(t['sockops_ns_per_run'])} | | |")
        w(f"| options written / joined / no room, per request | | "
          f"{fmt(t['tcpopt_written_per_request'])} / {fmt(t['tcpopt_joined_per_request'])} / "
          f"{fmt(t['tcpopt_nospace_per_request'])} | | |")
        w("")
    t = S.get("tcp_option_chart")
    if t:
        w("### The chart's default (`--propagation link,tcp,header`) against `link`")
        w("")
        w("The same runs: the third of each set had the Helm chart's default propagation, the "
          "option to 127.0.0.0/8 standing for the cluster's ranges. What this kernel let it "
          f"turn on, from its start-up line: `{t['propagation']}`.")
        w("")
        between_table(w, t, ("link", "link"), ("chart", "chart default"), TCP_OPTION_ROWS)
        w("")

    def protocol_table(cols):
        """Rows comparing protocols on the same nginx worker: cols is [(heading, figures)]."""
        w("| figure | " + " | ".join(c for c, _ in cols) + " |")
        w("| --- |" + " --- |" * len(cols))
        rows = [
            ("throughput without sonde, req/s", lambda f: fmt(f["rps"]["without_median"])),
            ("throughput change with sonde", lambda f: f"{pct(f['rps']['ratio_median'])} "
             f"{rng(f['rps']['ratio_spread'])}"),
            ("server + client CPU per request without sonde, µs",
             lambda f: fmt(f["cpu_us_per_request"]["without_median"])),
            ("CPU per request change with sonde",
             lambda f: f"{pct(f['cpu_us_per_request']['ratio_median'])} "
             f"{rng(f['cpu_us_per_request']['ratio_spread'])}"),
            ("BPF ns per request and side (median, spread)",
             lambda f: f"{fmt(f['bpf_ns_per_request_side'])} {rng(f['bpf_ns_spread'], fmt)}"),
            ("records per request, spans per request",
             lambda f: f"{fmt(f['records_per_request'])}, {fmt(f['spans_per_request'])}"),
        ]
        for label, cell in rows:
            w(f"| {label} | " + " | ".join(cell(f) for _, f in cols) + " |")

    h = S.get("http2")
    if h:
        w("## HTTP/2 against HTTP/1.1 on the same server")
        w("")
        w("The same nginx worker on two ports, one HTTP/1.1 (wrk -t1 -c32) and one clear-text "
          "HTTP/2 (h2load -c32 -m1: 32 connections, one stream in flight on each, as wrk's "
          "load), each in rounds of without / with sonde (and the floor), BPF statistics on in "
          "the sonde runs. On HTTP/2 the kernel walks every I/O frame by frame and records "
          "header blocks and frame headers (capture policy H2_FRAMES); on HTTP/1.x it records "
          "a run's first I/Os and summarizes kept-alive responses.")
        w("")
        protocol_table([("HTTP/1.1", h["h1"]), ("HTTP/2", h["h2"])])
        w("")

    h = S.get("grpc")
    if h:
        w("## gRPC on grpc-go")
        w("")
        w("grpc-go's Echo server of the integration tests (`tests/apps/grpc_go`, grpc-go "
          "1.85, one P on the server CPU): unary calls, one connection, 32 streams in flight. "
          "Under h2load (-c1 -m32, POSTs with gRPC's headers and a 5-byte message), only the "
          "server is grpc-go; under grpc-go's own client (one P on the client CPU), both sides "
          "are, and both sides' stream probes fire. Rounds of without / with sonde (and the "
          "floor), BPF statistics on in the sonde runs.")
        w("")
        protocol_table([(label, h[k]) for k, label in (("h2load", "h2load → grpc-go"),
                                                      ("go", "grpc-go → grpc-go"))
                        if k in h])
        w("")
    p = S.get("grpc_probes")
    if p:
        w("The grpc-go stream probes (the uprobes that tie each stream to its handler's "
          "goroutine, so that the handler's calls are its children) against `--no-go-grpc`, "
          "under grpc-go's client, in pairs alternated in order:")
        w("")
        between_table(w, p, ("no_go_grpc", "--no-go-grpc"), ("probes", "probes (default)"),
                      [("cpu_us_per_request", "server + client CPU per call, µs"),
                       ("agent_cpu_us_per_request", "sonde CPU per call, µs"),
                       ("bpf_ns_per_request_side", "BPF ns per call and side"),
                       ("rps", "calls/s")])
        w("")

    h = S.get("https")
    if h:
        w("## HTTPS: TLS plaintext through uprobes, against clear HTTP/1.1")
        w("")
        w("The same nginx worker on a TLS port (TLS 1.3, RSA 2048 certificate) under wrk -t1 "
          "-c32 over HTTPS (kept-alive connections: the handshakes are out of the way), in rounds "
          "of without / with sonde (and the floor), beside the HTTP/1.1 runs of the section "
          "above. Both ends use the system OpenSSL: every SSL_read and SSL_write of nginx and "
          "of wrk traps into the kernel for its entry and its return probe, with or without a "
          "connection to record (the floor's runs pay the traps too), and the plaintext is "
          "recorded as clear text is; the ciphertext's socket I/O writes no record. BPF run "
          "time counts the programs only, not the traps: those show in the CPU per request.")
        w("")
        protocol_table([("HTTP/1.1", h["h1"]), ("HTTPS", h["tls"])])
        w("")

    h = S.get("context")
    if h:
        w("## A traceparent behind 8 KB of headers")
        w("")
        w("The same nginx worker under wrk -t1 -c32, every request with an 8,000-byte cookie "
          "and then its traceparent (nginx reads such a head in two reads, 1 KiB then the "
          "rest), beside the HTTP/1.1 runs above, in rounds of without / with sonde (and the "
          "floor). A record carries the first 512 bytes; the kernel searches the rest of the "
          "head for context lines and copies those alone (bpf/head_find.bpf.h). Searches per "
          f"request: {fmt(h['finds_per_request'])}; requests whose context was found that way, "
          f"per request: {fmt(h['found_per_request'])} (server and client ends both count).")
        w("")
        protocol_table([("HTTP/1.1", h["h1"]), ("8 KB head + traceparent", h["ctx8k"])])
        w("")

    sm = S.get("sampling")
    if sm:
        w("## Trace sampling (`--sample-ratio 0.1`)")
        w("")
        w("nginx at saturation (wrk -t1 -c32), then at the fixed rate of the p99 goal (open "
          "loop), in triples alternated in order: without sonde, with sonde exporting every "
          "trace (the default), and with `--sample-ratio 0.1` (one trace in ten kept, chosen "
          "by trace id; the rest are assembled, then dropped before they are built and "
          "encoded). Throughput and p99 are against the run without sonde of the same triple; "
          "the CPU figures compare the two sonde runs at saturation.")
        w("")
        w("| figure | first (median) | second (median) | change (median of triples) | spread |")
        w("| --- | --- | --- | --- | --- |")
        for key, label, a_, b_ in (
                ("rps_all", "nginx req/s: without sonde, with sonde (all traces)", "without",
                 "all"),
                ("rps_ratio", "nginx req/s: without sonde, with sonde at 0.1", "without",
                 "ratio_0.1"),
                ("agent_cpu", "agent CPU per request, µs: all traces, 0.1", "all", "ratio_0.1"),
                ("app_cpu", "nginx + wrk CPU per request, µs: all traces, 0.1", "all",
                 "ratio_0.1")):
            r = sm[key]
            w(f"| {label} | {fmt(r[a_ + '_median'])} | {fmt(r[b_ + '_median'])} | "
              f"{pct(r['ratio_median'])} | {rng(r['ratio_spread'])} |")
        if sm["p99"]:
            rate = res["config"].get("sampling_rate")
            for k, label in (("all", "all traces"), ("ratio_0.1", "0.1")):
                r = sm["p99"][k]
                w(f"| nginx p99 at {rate} req/s (open loop), µs: without sonde, with sonde "
                  f"({label}) | {fmt(r['without_median'])} | {fmt(r[k + '_median'])} | "
                  f"{pct(r['ratio_median'])} | {rng(r['ratio_spread'])} |")
        w("")
        share = sm["unsampled_share"]
        w(f"Spans dropped by the sampler at 0.1: {fmt(None if share is None else 100 * share)}% "
          f"of those assembled (median); lost otherwise (ring full, queue full, failed), both "
          f"sonde configurations: {sm['drops']}.")
        w("")

    if S.get("metrics_all"):
        w("## Request metrics (`--request-metrics`)")
        w("")
        w("nginx at saturation (wrk -t1 -c32), sonde with the request metrics off and on (the "
          "default) in pairs alternated in order: every trace kept, then `--sample-ratio 0.1`, "
          "where a span the sampler drops is still built, to be counted. The agent's CPU is "
          "sonde's own process over the load and its export.")
        w("")
        for name, title in (("metrics_all", "Every trace kept"),
                            ("metrics_sampled", "`--sample-ratio 0.1`")):
            if not S.get(name):
                continue
            w(f"{title} ({fmt(S[name]['series'])} series in the histograms, median):")
            w("")
            between_table(w, S[name], ("off", "off"), ("on", "on"),
                          [("agent_cpu_us_per_request", "sonde CPU per request, µs"),
                           ("cpu_us_per_request", "nginx + wrk CPU per request, µs"),
                           ("rps", "nginx req/s")])
            w("")

    w("## Agent cost (sonde's own process)")
    w("")
    w("CPU is utime + stime of the sonde process from `/proc/PID/stat` over the load plus 1.5 s "
      "to finish exporting, divided by the spans of its exit statistics line. RSS is sampled "
      "every 250 ms from `/proc/PID/status`; the ring buffers (one per CPU, 4 MiB each, "
      "mmapped: the data pages are mapped twice back to back, so a fully touched ring shows "
      "as 8 MiB) **are counted inside VmRSS**; they are separated by summing the `Rss:` of "
      "the `anon_inode:bpf-map` mappings in `/proc/PID/smaps` once, after the load (by then "
      "the rings are fully touched), and subtracted below. `smaps` is not read during the load: "
      "generating and parsing it 4 times a second took CPU on the cores the server and the "
      "load generator use, and showed in the p99 of the runs with sonde.")
    w("")
    w("| figure | nginx saturation, null sink | Go saturation, null sink | nginx saturation, Jaeger | goal | | note |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    ok = an["cpu_us_per_span"] is not None and max(an["cpu_us_per_span"], ag["cpu_us_per_span"]) <= 2
    w(f"| agent CPU per span, µs | {fmt(an['cpu_us_per_span'])} | {fmt(ag['cpu_us_per_span'])} | "
      f"{fmt(aj['cpu_us_per_span'])} | ≤ 2 µs | {goal(ok)} | {'' if ok else BOUND_AGENT_CPU} |")
    w(f"| agent CPU per span, spread of runs, µs | {rng(an['cpu_us_per_span_spread'], fmt)} | "
      f"{rng(ag['cpu_us_per_span_spread'], fmt)} | {rng(aj['cpu_us_per_span_spread'], fmt)} | | | |")
    w(f"| agent CPU, share of one core | {fmt(an['cpu_share_of_a_core'])} | "
      f"{fmt(ag['cpu_share_of_a_core'])} | {fmt(aj['cpu_share_of_a_core'])} | | | |")
    w(f"| spans per second | {fmt(an['spans_per_s'])} | {fmt(ag['spans_per_s'])} | "
      f"{fmt(aj['spans_per_s'])} | | | 2 spans per request (client and server) |")
    w(f"| spans / requests (all runs) | {an['spans']} / {an['requests']} | {ag['spans']} / "
      f"{ag['requests']} | {aj['spans']} / {aj['requests']} | | | |")
    w(f"| ring-buffer drops (ring_full), all runs | {an['ring_full']} | {ag['ring_full']} | "
      f"{aj['ring_full']} | | | |")
    w(f"| span drops (queue full / export failed) | {an['dropped_full']} / {an['dropped_failed']} | "
      f"{ag['dropped_full']} / {ag['dropped_failed']} | {aj['dropped_full']} / "
      f"{aj['dropped_failed']} | | | |")
    ok_rss = max(an["rss_excl_ring_mb_steady"], ag["rss_excl_ring_mb_steady"],
                 aj["rss_excl_ring_mb_steady"]) < 25
    rss_note = ""
    if not ok_rss and max(an["rss_excl_ring_mb_steady"], ag["rss_excl_ring_mb_steady"]) < 25:
        rss_note = ("met with the null sinks; to a Jaeger slower than the spans come (it drops "
                    "spans at saturation), the records that wait for export room (up to 200 ms "
                    "of them, `held=`) are then taken from the rings in larger batches, and the "
                    "batch memory grows with them")
    w(f"| RSS steady excluding the rings, MB | {fmt(an['rss_excl_ring_mb_steady'])} | "
      f"{fmt(ag['rss_excl_ring_mb_steady'])} | {fmt(aj['rss_excl_ring_mb_steady'])} | < 25 MB | "
      f"{goal(ok_rss)} | {rss_note} |")
    w(f"| ring-buffer Rss (bpf-map mappings), MB | {fmt(an['ring_rss_mb'])} | "
      f"{fmt(ag['ring_rss_mb'])} | {fmt(aj['ring_rss_mb'])} | | | counted in VmRSS |")
    w(f"| VmRSS steady including the rings, MB | {fmt(an['rss_mb_steady'])} | "
      f"{fmt(ag['rss_mb_steady'])} | {fmt(aj['rss_mb_steady'])} | | | |")
    pk = [a["rss_excl_ring_mb_peak_sampled"] / a["rss_excl_ring_mb_steady"] for a in (an, ag)]
    ok_pk = max(pk) < 1.5
    w(f"| peak RSS excluding the rings (max of samples), MB | "
      f"{fmt(an['rss_excl_ring_mb_peak_sampled'])} | {fmt(ag['rss_excl_ring_mb_peak_sampled'])} | "
      f"{fmt(aj['rss_excl_ring_mb_peak_sampled'])} | | | |")
    w(f"| peak / steady (excluding the rings) | {fmt(pk[0])} | {fmt(pk[1])} | "
      f"{fmt(aj['rss_excl_ring_mb_peak_sampled'] / aj['rss_excl_ring_mb_steady'])} | < 1.5× | "
      f"{goal(ok_pk)} | |")
    w(f"| VmHWM (peak, rings included), MB | {fmt(an['vm_hwm_mb'])} | {fmt(ag['vm_hwm_mb'])} | "
      f"{fmt(aj['vm_hwm_mb'])} | | | |")
    w(f"| VmHWM minus ring Rss at the end, MB | {fmt(an['vm_hwm_excl_ring_mb'])} | "
      f"{fmt(ag['vm_hwm_excl_ring_mb'])} | {fmt(aj['vm_hwm_excl_ring_mb'])} | | | |")
    w("")

    w("### Drops by request rate (nginx, open-loop load generator, sonde to the null sink)")
    w("")
    w("Spans / (2 × requests) below 100% means spans were lost somewhere (a drop counter, or "
      "a request that did not become a span); above it, other processes' HTTP traffic was traced "
      "too.")
    w("")
    w("| target req/s | achieved req/s | requests | spans | spans / (2 × requests) | ring_full | span drops (full / failed / rejected) | goal | | note |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in S["drops_by_rate"]:
        tag = f" ({d['server']}, fixed-rate runs)" if "server" in d else ""
        drops = d["ring_full"] + d["dropped_full"] + d["dropped_failed"]
        g, ok = ("", None)
        if d["rate"] == 20000 and "server" not in d:
            g, ok = "zero drops", drops == 0
        w(f"| {d['rate']}{tag} | {fmt(float(d['rate_achieved']))} | {d['requests']} | "
          f"{d['spans']} | {d['spans'] / (2 * d['requests']) * 100:.1f}% | {d['ring_full']} | {d['dropped_full']} / {d['dropped_failed']} / "
          f"{d.get('rejected', 0)} | {g} | {'' if ok is None else goal(ok)} | "
          f"{notes['drops'] if ok is False and d['ring_full'] == 0 else ''} |")
    w(f"| saturation, nginx (wrk) | {fmt(ng['rps']['with_median'])} (median) | {an['requests']} | "
      f"{an['spans']} | {an['spans'] / (2 * an['requests']) * 100:.1f}% | {an['ring_full']} | {an['dropped_full']} / {an['dropped_failed']} / - | | | |")
    w(f"| saturation, nginx, to Jaeger | {fmt(med([r['rps'] for r in res['runs']['jaeger_saturation']]))} | "
      f"{aj['requests']} | {aj['spans']} | {aj['spans'] / (2 * aj['requests']) * 100:.1f}% | {aj['ring_full']} | {aj['dropped_full']} / "
      f"{aj['dropped_failed']} / - | | | |")
    w("")

    prof = res.get("profile")
    if prof:
        w("### Where sonde's CPU goes")
        w("")
        w("`perf record -F 999 -p <sonde>` during one extra nginx saturation run (sonde to the null "
          "sink; not one of the pairs above). Share of sonde's samples, by library, then the "
          "symbols above 1% (libz and libc are stripped, so some show as addresses):")
        w("")
        w("| library | share of sonde's CPU samples |")
        w("| --- | --- |")
        for r in prof["by_dso"]:
            w(f"| `{r['dso']}` | {r['percent']:.1f}% |")
        w("")
        w("| library | symbol | share |")
        w("| --- | --- | --- |")
        for r in prof["by_symbol"][:25]:
            w(f"| `{r['dso']}` | `{r['symbol']}` | {r['percent']:.1f}% |")
        w("")

    w("## Start-up")
    w("")
    w("| figure | median | spread | goal | |")
    w("| --- | --- | --- | --- | --- |")
    ok = su["exec_to_attached_ms"] < 1000
    w(f"| exec to the `sonde: attached` line, ms | {fmt(su['exec_to_attached_ms'])} | "
      f"{rng(su['exec_to_attached_ms_spread'], fmt)} | < 1 s | {goal(ok)} |")
    w(f"| the same as sonde reports it (`attached in N ms`) | {fmt(su['attached_ms_self_reported'])} | | | |")
    w(f"| exec to the first export received by the null sink, ms | "
      f"{fmt(su['exec_to_first_export_ms'])} | | | |")
    w(f"| first request (sent right after the attach) to that export, ms | "
      f"{fmt(su['request_to_first_export_ms'])} | | | |")
    w("")
    w("The first export waits for the batch delay (`--batch-delay-ms`, default 1000 ms) after "
      "the span is finished; that delay, not the start-up, is most of the time to the first "
      "export. For this measurement sonde was limited to nginx's port (`--port`), so no other "
      "process on the machine could supply the first span.")
    w("")
    idle = res["runs"].get("idle")
    if idle:
        w("## Idle")
        w("")
        w(f"sonde with nothing to trace (the benchmark's servers up, no load), over "
          f"{idle['seconds']:.0f} s after 2 s of settling: its threads' CPU and time slices from "
          f"`/proc/PID/task/*/schedstat`.")
        w("")
        w("| figure | value |")
        w("| --- | --- |")
        w(f"| CPU, % of one core | {idle['cpu_percent_of_a_core']:.2f}% |")
        w(f"| times its {idle['threads']} threads were put on a CPU, per second | "
          f"{idle['times_on_cpu_per_s']:.1f} |")
        w(f"| kernel wake-ups of the quiet loop, one request sent (its records, its close) | "
          f"{idle['wakeups_after_one_request']} (spans: {idle['spans']}) |")
        w("")
        w("After 5 empty drains the loop drains every 100 ms, and its guard looks every 100 ms "
          "after 10 empty looks; the first record after that wakes the loop at once.")
        w("")
    w("Raw per-run figures are in `bench/results.json`; how to run and what each figure means "
      "is in `bench/README.md`.")
    return "\n".join(L) + "\n"


def ab_report(res):
    """AB.md: per workload, A and B (medians and spreads over the rounds) and B against A."""
    rounds = res["runs"]["ab"]
    cfg = res["config"]["ab"]
    L = ["# sonde: two builds, the same workloads", "",
         f"A: `{cfg['a']}`; B: `{cfg['b']}`; {len(rounds)} rounds, the order alternating; "
         f"{res['machine'].get('cpu')}, {res['machine'].get('cpus')} CPUs, "
         f"{res['machine'].get('date_utc')} UTC. Medians, with the spread over the rounds in "
         f"brackets; B vs A is the median of the rounds' ratios.", "",
         "| workload | figure | A | B | B vs A |", "| --- | --- | --- | --- | --- |"]
    figures = (("cpu_us_per_span", "agent CPU per span, us", lambda r: r["sonde"].get(
                    "cpu_us_per_span")),
               ("bpf_ns_per_request_side", "BPF ns per request and side",
                lambda r: r.get("bpf_ns_per_request_side")),
               ("cpu_us_per_request", "server + client CPU per request, us",
                lambda r: r.get("cpu_us_per_request")))
    for name in rounds[0]["a"]:
        for key, what, get in figures:
            va = [get(rd["a"][name]) for rd in rounds]
            vb = [get(rd["b"][name]) for rd in rounds]
            if any(v is None for v in va + vb):
                continue
            ratio = [b / a - 1 for a, b in zip(va, vb) if a]
            L.append(f"| {name} | {what} | {fmt(med(va))} [{fmt(min(va))}, {fmt(max(va))}] | "
                     f"{fmt(med(vb))} [{fmt(min(vb))}, {fmt(max(vb))}] | "
                     f"{med(ratio) * 100:+.1f}% [{min(ratio) * 100:+.1f}%, "
                     f"{max(ratio) * 100:+.1f}%] |")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pgbin", required=True)
    ap.add_argument("--jaeger", required=True)
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite RESULTS.md from results.json")
    ap.add_argument("--no-floor", action="store_true",
                    help="leave out the floor's runs (sonde attached, nothing selected); also "
                         "BENCH_FLOOR=0")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    res_path = os.path.join(here, "results.json")
    md_path = os.path.join(here, "RESULTS.md")
    if a.report_only:
        res = json.load(open(res_path))
        res_path = os.path.join(a.out, "results.json") if res["config"]["quick"] else res_path
        md_path = os.path.join(a.out, "RESULTS.md") if res["config"]["quick"] else md_path
        summarize(res)
        open(md_path, "w").write(report(res))
        return 0
    os.makedirs(a.out, exist_ok=True)
    b = Bench(a)

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    other = os.environ.get("BENCH_AB")
    try:
        if other:
            b.run_ab(os.path.abspath(other))
        else:
            b.run_all()
    finally:
        b.stop_all()
        shutil.rmtree(b.tmp, ignore_errors=True)
    res = b.results
    if other:
        with open(os.path.join(a.out, "ab.json"), "w") as f:
            json.dump(res, f, indent=1)
        md = ab_report(res)
        with open(os.path.join(a.out, "AB.md"), "w") as f:
            f.write(md)
        log(f"wrote {a.out}/ab.json and {a.out}/AB.md in {res['elapsed_s'] / 60:.1f} min")
        print(md)
        return 0
    quick = b.quick
    target_json = os.path.join(a.out, "results.json") if quick else res_path
    target_md = os.path.join(a.out, "RESULTS.md") if quick else md_path
    with open(target_json, "w") as f:  # the raw runs first: --report-only can redo the rest
        json.dump(res, f, indent=1)
    summarize(res)
    with open(target_json, "w") as f:
        json.dump(res, f, indent=1)
    with open(target_md, "w") as f:
        f.write(report(res))
    log(f"wrote {target_json} and {target_md} in {res['elapsed_s'] / 60:.1f} min")
    print(open(target_md).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
