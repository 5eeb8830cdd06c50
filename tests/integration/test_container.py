"""A traced process inside a container's cgroup gets container.id and k8s.pod.uid.

No container runtime runs here: the test makes the cgroup a kubelet with containerd would make
(cgroup v2, cgroupfs layout as MicroK8s uses: /kubepods/besteffort/pod<uid>/<container id>) on
the real kernel and moves a real server into it.
"""
import os
import uuid
from pathlib import Path

import pytest

import harness

CGROUP2 = next((Path(p) for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                if Path(p, "cgroup.procs").exists()), None)


@pytest.fixture
def container_cgroup():
    assert CGROUP2 is not None, "no cgroup v2 hierarchy mounted"
    pod_uid = str(uuid.uuid4())
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    base = CGROUP2 / "kubepods" / "besteffort"
    path = base / f"pod{pod_uid}" / cid
    path.mkdir(parents=True)
    yield path, pod_uid, cid
    # move anything left back to the root, then remove what we made
    for pid in (path / "cgroup.procs").read_text().split():
        try:
            (CGROUP2 / "cgroup.procs").write_text(pid)
        except OSError:
            pass
    for d in (path, path.parent, base, base.parent):
        try:
            d.rmdir()
        except OSError:
            pass


def test_container_and_pod_ids_from_the_cgroup(sonde, jaeger, start_py_server, container_cgroup,
                                               test_start_us):
    path, pod_uid, cid = container_cgroup
    tok = uuid.uuid4().hex[:8]
    srv = start_py_server(service_name=f"py-in-pod-{tok}")
    (path / "cgroup.procs").write_text(str(srv.pid))
    assert f"{cid}" in Path(f"/proc/{srv.pid}/cgroup").read_text()
    sonde()
    harness.curl(f"{srv.url}/api/users/1", "-o", "/dev/null")
    spans = jaeger.wait_for_spans(f"py-in-pod-{tok}", count=1, start_us=test_start_us)
    tags = spans[0].process_tags
    assert tags["container.id"] == cid
    assert tags["k8s.pod.uid"] == pod_uid
    # the client on the host is in no container
    client = jaeger.wait_for_spans("curl", where=lambda s: s.tags.get("server.port") == srv.port,
                                   count=1, start_us=test_start_us)
    assert "container.id" not in client[0].process_tags
