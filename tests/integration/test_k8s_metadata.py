"""Kubernetes pod metadata on the resources of spans.

No Kubernetes cluster can run here: tests/apps/fake_apiserver.py stands in for the API server
(recorded object shapes from k8s_recordings/, served over plain http on 127.0.0.1), and the
containers are cgroups made the way the kubelet and containerd make them, on the real kernel,
with real servers moved into them. Everything else is real: sonde, the servers, curl, Jaeger.
"""
import copy
import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import harness

HERE = Path(__file__).parent
RECORDINGS = HERE / "k8s_recordings"
APPS = HERE.parent / "apps"
CGROUP2 = next((Path(p) for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                if Path(p, "cgroup.procs").exists()), None)
NODE = "node-a"


def recording(name):
    return json.loads((RECORDINGS / name).read_text())


class FakeApiServer:
    """tests/apps/fake_apiserver.py in a subprocess: it stands in for the Kubernetes API server."""

    def __init__(self, tmp_path, port=None, token=None, deny_owners=False):
        self.port = port or harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_file = tmp_path / f"token-{self.port}"
        self.token_file.write_text(token or uuid.uuid4().hex)
        cmd = [sys.executable, str(APPS / "fake_apiserver.py"), "--port", str(self.port),
               "--token-file", str(self.token_file)]
        if deny_owners:
            cmd.append("--deny-owners")
        self.log = tmp_path / f"fake-apiserver-{self.port}.log"
        # its own traffic is traced too: give it a name of its own
        env = dict(os.environ, OTEL_SERVICE_NAME="fake-apiserver")
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     env=env)
        harness.wait_port(self.port, proc=self.proc, log=self.log, what="fake API server")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def put_pod(self, pod):
        return self.call("POST", "/_test/pods", pod)

    def delete_pod(self, uid):
        return self.call("DELETE", f"/_test/pods/{uid}")

    def requests(self):
        return self.call("GET", "/_test/log")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Pods:
    """Container cgroups on the real kernel, named as the kubelet and containerd name them."""

    def __init__(self):
        assert CGROUP2 is not None, "no cgroup v2 hierarchy mounted"
        self.made = []

    def systemd(self, pod_uid, cid):
        """kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/
        cri-containerd-<id>.scope (the systemd cgroup driver)."""
        u = pod_uid.replace("-", "_")
        parts = ["kubepods.slice", "kubepods-besteffort.slice",
                 f"kubepods-besteffort-pod{u}.slice", f"cri-containerd-{cid}.scope"]
        return self._make(parts)

    def cgroupfs(self, pod_uid, cid):
        """kubepods/burstable/pod<uid>/<id> (the cgroupfs driver, as MicroK8s uses)."""
        return self._make(["kubepods", "burstable", f"pod{pod_uid}", cid])

    def _make(self, parts):
        path = CGROUP2.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        for i in range(len(parts), 0, -1):
            p = CGROUP2.joinpath(*parts[:i])
            if p not in self.made:
                self.made.append(p)
        return path

    @staticmethod
    def move(path, pid):
        (path / "cgroup.procs").write_text(str(pid))
        assert path.name in Path(f"/proc/{pid}/cgroup").read_text()

    def cleanup(self):
        # deepest first: move what is left back to the root, then remove the directories
        for p in sorted(self.made, key=lambda p: len(p.parts), reverse=True):
            try:
                for pid in (p / "cgroup.procs").read_text().split():
                    try:
                        (CGROUP2 / "cgroup.procs").write_text(pid)
                    except OSError:
                        pass
                p.rmdir()
            except OSError:
                pass


@pytest.fixture
def pods():
    p = Pods()
    yield p
    p.cleanup()


@pytest.fixture
def fake_api(tmp_path):
    servers = []

    def start(**kw):
        s = FakeApiServer(tmp_path, **kw)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


def new_ids():
    return str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex


def deployment_pod(uid, cid, app):
    """The recorded Deployment pod, with this test's uid, container id and label."""
    pod = recording("pod_deployment.json")
    pod["metadata"]["uid"] = uid
    pod["metadata"]["labels"]["app.kubernetes.io/name"] = app
    pod["spec"]["nodeName"] = NODE
    pod["status"]["containerStatuses"][1]["containerID"] = f"containerd://{cid}"
    return pod


def other_pod(uid, cid, name, namespace, owner_kind, owner_name, container="main", labels=None):
    """The recorded pod reshaped: another name, owner and container, no app label."""
    pod = recording("pod_deployment.json")
    md = pod["metadata"]
    md.update(name=name, namespace=namespace, uid=uid, labels=dict(labels or {}))
    md["generateName"] = owner_name + "-"
    md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name,
                              "uid": str(uuid.uuid4()), "controller": True,
                              "blockOwnerDeletion": True}]
    pod["spec"]["nodeName"] = NODE
    st = pod["status"]
    st["initContainerStatuses"] = []
    st["containerStatuses"] = [dict(st["containerStatuses"][1], name=container,
                                    containerID=f"cri-o://{cid}")]
    return pod


def by_uid(uid):
    return lambda s: s.kind == "server" and s.process_tags.get("k8s.pod.uid") == uid


def wait_requests(api, pred, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(r) for r in api.requests()):
            return
        time.sleep(0.2)
    raise AssertionError(f"the fake API server never saw the request; log: {api.requests()}")


def test_pods_from_list_and_watch(sonde, jaeger, start_py_server, pods, fake_api, tmp_path,
                                  test_start_us):
    """The API server stand-in (fake_apiserver.py) lists one pod, then the watch adds one,
    deletes one, and expires (410): every step shows in the spans' resources."""
    tok = uuid.uuid4().hex[:8]
    api = fake_api()
    # the recorded ReplicaSet, owned by Deployment "checkout", as GET returns it
    rs = recording("replicaset.json")
    api.call("POST", "/_test/objects",
             {"path": "/apis/apps/v1/namespaces/shop/replicasets/checkout-7d4b9c8f5d",
              "object": rs})

    # A: in the list before sonde starts (systemd cgroup driver, containerd)
    uid_a, cid_a = new_ids()
    cg_a = pods.systemd(uid_a, cid_a)
    api.put_pod(deployment_pod(uid_a, cid_a, f"checkout-{tok}"))
    # the process has no OTEL_SERVICE_NAME: the pod's label names the service
    srv_a = start_py_server(service_name=None)
    pods.move(cg_a, srv_a.pid)

    sd = sonde("--k8s-api", api.url, "--k8s-node", NODE, "--k8s-token-file", str(api.token_file))
    wait_requests(api, lambda r: "watch=1" in r["path"])
    # sonde selects its node, and authenticates with the token file
    lists = [r for r in api.requests() if "/api/v1/pods" in r["path"] and "watch" not in r["path"]]
    assert lists and all("fieldSelector=spec.nodeName%3D" + NODE in r["path"] for r in lists)
    assert lists[0]["auth"] == "Bearer " + api.token_file.read_text()

    harness.curl(f"{srv_a.url}/api/users/1", "-o", "/dev/null")
    span = jaeger.wait_for_spans(f"checkout-{tok}", count=1, start_us=test_start_us)[0]
    t = span.process_tags
    assert t["k8s.namespace.name"] == "shop"
    assert t["k8s.pod.name"] == "checkout-7d4b9c8f5d-x2k9q"
    assert t["k8s.pod.uid"] == uid_a
    assert t["k8s.container.name"] == "checkout"  # by container id, not the pod's first
    assert t["k8s.node.name"] == NODE
    assert t["k8s.replicaset.name"] == "checkout-7d4b9c8f5d"
    assert t["k8s.deployment.name"] == "checkout"
    assert t["container.id"] == cid_a
    assert "process.pid" in t
    # the owner was read from the API (GET of the ReplicaSet), not guessed
    assert any(r["path"].endswith("/replicasets/checkout-7d4b9c8f5d") for r in api.requests())

    # B: added by the watch while sonde runs (cgroupfs layout, CRI-O ids), StatefulSet owner
    uid_b, cid_b = new_ids()
    cg_b = pods.cgroupfs(uid_b, cid_b)
    api.put_pod(other_pod(uid_b, cid_b, "ledger-0", "bank", "StatefulSet", f"ledger-{tok}",
                          container="ledger"))
    srv_b = start_py_server(service_name=None)
    pods.move(cg_b, srv_b.pid)
    harness.curl(f"{srv_b.url}/api/users/2", "-o", "/dev/null")
    # no app label: the workload names the service
    span = jaeger.wait_for_spans(f"ledger-{tok}", count=1, start_us=test_start_us)[0]
    t = span.process_tags
    assert (t["k8s.pod.name"], t["k8s.namespace.name"]) == ("ledger-0", "bank")
    assert t["k8s.statefulset.name"] == f"ledger-{tok}"
    assert t["k8s.container.name"] == "ledger"
    assert "k8s.deployment.name" not in t

    # C: the process talks before its pod is known; a late ADDED gives its later spans the
    # metadata
    uid_c, cid_c = new_ids()
    cg_c = pods.systemd(uid_c, cid_c)
    srv_c = start_py_server(service_name=None)
    pods.move(cg_c, srv_c.pid)
    harness.curl(f"{srv_c.url}/api/users/3", "-o", "/dev/null")
    early = jaeger.wait_for_spans("py_server", where=by_uid(uid_c), count=1,
                                  start_us=test_start_us)[0]
    assert "k8s.pod.name" not in early.process_tags  # not known yet: only the cgroup's uid
    job = recording("job.json")
    api.call("POST", "/_test/objects",
             {"path": "/apis/batch/v1/namespaces/batch/jobs/report-28973460", "object": job})
    api.put_pod(other_pod(uid_c, cid_c, "report-28973460-7xk2p", "batch", "Job",
                          "report-28973460", labels={"app": f"report-{tok}"}))
    time.sleep(1)  # the watch event reaches sonde, the next tick applies it
    harness.curl(f"{srv_c.url}/api/users/4", "-o", "/dev/null")
    late = jaeger.wait_for_spans(f"report-{tok}", where=by_uid(uid_c), count=1,
                                 start_us=test_start_us)[0]
    t = late.process_tags
    assert t["k8s.pod.name"] == "report-28973460-7xk2p"
    assert t["k8s.job.name"] == "report-28973460"
    assert t["k8s.cronjob.name"] == "report"  # from the Job's ownerReferences

    # DELETED: the pod leaves the table; a new process in its cgroup gets no pod metadata
    api.delete_pod(uid_b)
    time.sleep(1)
    srv_b2 = start_py_server(service_name=None)
    pods.move(cg_b, srv_b2.pid)
    harness.curl(f"{srv_b2.url}/api/users/5", "-o", "/dev/null")
    after = jaeger.wait_for_spans("py_server",
                                  where=lambda s: by_uid(uid_b)(s) and
                                  s.process_tags.get("process.pid") == srv_b2.pid,
                                  count=1, start_us=test_start_us)[0]
    assert "k8s.pod.name" not in after.process_tags
    assert after.process_tags["container.id"] == cid_b

    # 410 Gone: the history is compacted while a pod is added; sonde lists again and finds it
    n_lists = len([r for r in api.requests() if "watch" not in r["path"] and "pods" in r["path"]])
    uid_d, cid_d = new_ids()
    cg_d = pods.cgroupfs(uid_d, cid_d)
    api.put_pod(other_pod(uid_d, cid_d, "agent-x7f2k", "infra", "DaemonSet", f"agent-{tok}"))
    api.call("POST", "/_test/expire")
    wait_requests(api, lambda r: "watch" not in r["path"] and "pods" in r["path"] and
                  len([x for x in api.requests()
                       if "watch" not in x["path"] and "pods" in x["path"]]) > n_lists)
    srv_d = start_py_server(service_name=None)
    pods.move(cg_d, srv_d.pid)
    harness.curl(f"{srv_d.url}/api/users/6", "-o", "/dev/null")
    span = jaeger.wait_for_spans(f"agent-{tok}", count=1, start_us=test_start_us)[0]
    assert span.process_tags["k8s.daemonset.name"] == f"agent-{tok}"
    assert span.process_tags["k8s.pod.name"] == "agent-x7f2k"

    # a process's own OTEL_SERVICE_NAME still wins over the pod's label
    srv_a2 = start_py_server(service_name=f"own-name-{tok}")
    pods.move(cg_a, srv_a2.pid)
    harness.curl(f"{srv_a2.url}/api/users/7", "-o", "/dev/null")
    span = jaeger.wait_for_spans(f"own-name-{tok}", count=1, start_us=test_start_us)[0]
    assert span.process_tags["k8s.pod.name"] == "checkout-7d4b9c8f5d-x2k9q"
    assert sd.running


def test_api_down_then_up_and_no_rbac(sonde, jaeger, start_py_server, pods, fake_api, tmp_path,
                                      test_start_us):
    """With the API server (stand-in: fake_apiserver.py) down, sonde warns and traces without
    pod metadata; once it is up, sonde gets there by itself. Owners it may not read (403) are
    named by the ReplicaSet name rule. A rotated token is picked up after a 401."""
    tok = uuid.uuid4().hex[:8]
    port = harness.free_port()
    token = tmp_path / "sa-token"
    token.write_text("first-token")
    uid, cid = new_ids()
    cg = pods.systemd(uid, cid)
    srv = start_py_server(service_name=None)
    pods.move(cg, srv.pid)

    sd = sonde("--k8s-api", f"http://127.0.0.1:{port}", "--k8s-node", NODE,
               "--k8s-token-file", str(token))
    harness.curl(f"{srv.url}/api/users/1", "-o", "/dev/null")
    span = jaeger.wait_for_spans("py_server", where=by_uid(uid), count=1,
                                 start_us=test_start_us)[0]
    assert "k8s.pod.name" not in span.process_tags
    deadline = time.monotonic() + 10
    while "k8s: warning" not in sd.stderr() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"listing pods at http://127.0.0.1:{port}" in sd.stderr() or \
        f"GET http://127.0.0.1:{port}" in sd.stderr(), sd.stderr()
    assert "spans go on without pod metadata, retrying" in sd.stderr()

    # the API server comes up, with a token that differs from the one sonde read, and no RBAC
    # on ReplicaSets; the pod's owner is "<deployment>-<pod-template-hash>"
    token.write_text("second-token\n")  # rotated: sonde still holds the first one
    api = fake_api(port=port, token="second-token", deny_owners=True)
    pod = deployment_pod(uid, cid, "unused")
    del pod["metadata"]["labels"]["app.kubernetes.io/name"]
    pod["metadata"]["ownerReferences"][0]["name"] = f"web-{tok}-7d4b9c8f5d"
    api.put_pod(pod)
    wait_requests(api, lambda r: r["auth"] == "Bearer second-token" and "watch=1" in r["path"],
                  timeout=60)
    assert any(r["auth"] == "Bearer first-token" for r in api.requests())  # the 401 before
    harness.curl(f"{srv.url}/api/users/2", "-o", "/dev/null")
    span = jaeger.wait_for_spans(f"web-{tok}", where=by_uid(uid), count=1,
                                 start_us=test_start_us)[0]
    assert span.process_tags["k8s.deployment.name"] == f"web-{tok}"
    assert span.process_tags["k8s.replicaset.name"] == f"web-{tok}-7d4b9c8f5d"
    assert "no permission to get ReplicaSets" in sd.stderr()
    assert sd.running


def tcpopt_ranges():
    """The ranges in the kernel's map of destinations that get the TCP option (bpftool)."""
    out = subprocess.run(["bpftool", "-j", "map", "dump", "name", "tcpopt_dests"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = set()
    for e in json.loads(out.stdout):
        key = bytes(int(b, 16) for b in e["key"])
        plen, addr = int.from_bytes(key[:4], "little"), key[4:20]
        if addr[:12] == b"\0" * 10 + b"\xff\xff":
            got.add(f"{ipaddress.IPv4Address(addr[12:])}/{plen - 96}")
        else:
            got.add(f"{ipaddress.IPv6Address(addr)}/{plen}")
    return got


def test_tcp_option_to_the_cluster_ranges(sonde, fake_api, tmp_path):
    """--tcp-option-to cluster (the chart's default) reads the cluster's pod and service ranges
    from the API server (stand-in: fake_apiserver.py) at start: every node's podCIDRs, Calico's
    IPPools, the ServiceCIDRs. The kernel's map then holds those and nothing else; where the
    service ranges are not found (a cluster before Kubernetes 1.33), the private ranges stand
    in for them; outside a cluster, the private ranges alone."""
    api = fake_api()
    nodes = {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
             "items": [{"metadata": {"name": NODE}, "spec": {"podCIDR": "10.1.0.0/24",
                                                             "podCIDRs": ["10.1.0.0/24"]}},
                       {"metadata": {"name": "node-b"}, "spec": {"podCIDR": "10.1.1.0/24"}}]}
    api.call("POST", "/_test/objects", {"path": "/api/v1/nodes", "object": nodes})
    common = ("--k8s-api", api.url, "--k8s-node", NODE, "--k8s-token-file", str(api.token_file),
              "--propagation", "link,tcp", "--tcp-option-to", "cluster")
    # no ServiceCIDR: the private ranges stand in for the services
    sd = sonde(*common, otlp=False)
    assert tcpopt_ranges() == {"10.1.0.0/24", "10.1.1.0/24", "10.0.0.0/8", "172.16.0.0/12",
                               "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"}
    assert "the cluster's ranges: 10.1.0.0/24,10.1.1.0/24, and the private ranges for what " \
           "was not found (nodes' podCIDRs: 2 (10.1.0.0/24, 10.1.1.0/24); Calico IPPools: " \
           "HTTP 404; ServiceCIDRs: HTTP 404)" in sd.stderr(), sd.stderr()
    assert sd.stop() == 0
    api.call("POST", "/_test/objects", {
        "path": "/apis/networking.k8s.io/v1/servicecidrs",
        "object": {"kind": "ServiceCIDRList", "apiVersion": "networking.k8s.io/v1",
                   "items": [{"metadata": {"name": "kubernetes"},
                              "spec": {"cidrs": ["10.152.183.0/24", "fd00:152::/112"]}}]}})
    api.call("POST", "/_test/objects", {
        "path": "/apis/crd.projectcalico.org/v1/ippools",
        "object": {"kind": "IPPoolList", "apiVersion": "crd.projectcalico.org/v1",
                   "items": [{"metadata": {"name": "default-ipv4-ippool"},
                              "spec": {"cidr": "10.1.0.0/16"}}]}})
    sd = sonde(*common, otlp=False)
    assert tcpopt_ranges() == {"10.1.0.0/24", "10.1.1.0/24", "10.1.0.0/16", "10.152.183.0/24",
                               "fd00:152::/112"}
    assert "the cluster's ranges: 10.1.0.0/24,10.1.1.0/24,10.1.0.0/16,10.152.183.0/24," \
           "fd00:152::/112 (" in sd.stderr(), sd.stderr()
    assert sd.stop() == 0
    # no API server at all (not in a cluster): the private ranges
    sd = sonde("--k8s", "off", "--propagation", "link,tcp", "--tcp-option-to", "cluster",
               otlp=False)
    assert tcpopt_ranges() == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                               "100.64.0.0/10", "fc00::/7"}
    assert "no range of the cluster found, the private ranges instead (no Kubernetes API " \
           "server: not in a cluster, or --k8s off)" in sd.stderr(), sd.stderr()
