"""The test servers and clients behave as sonde's tests expect, without sonde (fast; no root)."""
import json
import os
import subprocess

import harness
from harness import curl, node_client, py_client


def check_routes(url):
    r = curl(f"{url}/api/users/42", "-w", "\n%{http_code}")
    body, code = r.stdout.rsplit("\n", 1)
    assert code == "200" and json.loads(body) == {"id": 42, "name": "user-42"}
    assert curl(f"{url}/status/503", "-o", "/dev/null", "-w", "%{http_code}").stdout == "503"
    assert curl(f"{url}/status/204", "-o", "/dev/null", "-w", "%{http_code}").stdout == "204"
    assert curl(f"{url}/nope", "-o", "/dev/null", "-w", "%{http_code}").stdout == "404"
    r = curl(f"{url}/chunked?n=3", "-D", "-")
    assert "transfer-encoding: chunked" in r.stdout.lower()
    assert r.stdout.endswith("chunk 0\nchunk 1\nchunk 2\n")
    assert curl(f"{url}/big?n=200000", "-o", "/dev/null", "-w", "%{size_download}").stdout == "200000"
    # POST with Expect: 100-continue (curl sends it for bodies over 1 MiB, or when asked)
    r = curl(f"{url}/echo", "-H", "Expect: 100-continue", "--data-binary", "hello-echo", "-v")
    assert r.stdout == "hello-echo"
    assert "100 Continue" in r.stderr
    # chunked request body
    r = curl(f"{url}/echo", "-H", "Transfer-Encoding: chunked", "--data-binary", "x" * 5000)
    assert r.stdout == "x" * 5000
    r = curl(f"{url}/slow?ms=200", "-o", "/dev/null", "-w", "%{time_total}")
    assert float(r.stdout) >= 0.2


def check_clients(url):
    r = py_client([f"{url}/api/users/1", f"{url}/status/404"], n=6)
    assert r.statuses == [200, 404] * 3
    assert len(r.durations_ms) == 6 and all(d > 0 for d in r.durations_ms)
    r = py_client(f"{url}/echo", n=2, data="abc")
    assert r.statuses == [200, 200] and r.bytes == [3, 3]
    r = py_client(f"{url}/slow?ms=50", n=2, new_connection=True)
    assert r.statuses == [200, 200] and min(r.durations_ms) >= 50
    if harness.shutil.which("node"):
        r = node_client([f"{url}/api/users/7", f"{url}/chunked"], n=4)
        assert r.statuses == [200] * 4
        r = node_client(f"{url}/echo", n=1, data="zz")
        assert r.bytes == [2]


def test_py_server(py_server):
    check_routes(py_server.url)
    check_clients(py_server.url)


def test_node_server(node_server):
    check_routes(node_server.url)
    check_clients(node_server.url)


def test_nginx(nginx_server):
    url = nginx_server.url
    assert curl(f"{url}/").stdout == "hello from nginx\n"
    assert curl(f"{url}/api/items/5").stdout == '{"items":[]}'
    assert curl(f"{url}/notfound", "-o", "/dev/null", "-w", "%{http_code}").stdout == "404"
    assert curl(f"{url}/err", "-o", "/dev/null", "-w", "%{http_code}").stdout == "500"
    size = curl(f"{url}/big", "-o", "/dev/null", "-w", "%{size_download}").stdout
    assert int(size) == harness.NGINX_BIG_BYTES
    r = py_client([f"{url}/", f"{url}/notfound", f"{url}/big"], n=30)
    assert r.statuses == [200, 404, 200] * 10


def test_servers_get_service_name(start_py_server):
    s = start_py_server(service_name="svc-name-check")
    environ = open(f"/proc/{s.pid}/environ", "rb").read().split(b"\0")
    assert b"OTEL_SERVICE_NAME=svc-name-check" in environ


def test_nginx_worker_identity(start_nginx):
    """What sonde can learn about an nginx worker from /proc: nginx rewrites its argv/environ area
    for its process title, so /proc/PID/environ holds no OTEL_SERVICE_NAME (even with
    `env OTEL_SERVICE_NAME;`) and cmdline reads "nginx: worker process"; comm and exe stay
    "nginx". Services named from the process therefore come out as "nginx"."""
    s = start_nginx(service_name="nginx-svc")
    workers = subprocess.run(["pgrep", "-P", str(s.pid)], text=True, capture_output=True).stdout.split()
    assert workers, "no nginx worker"
    w = workers[0]
    assert open(f"/proc/{w}/comm").read().strip() == "nginx"
    assert open(f"/proc/{w}/cmdline", "rb").read().startswith(b"nginx: worker process")
    assert os.path.basename(os.readlink(f"/proc/{w}/exe")) == "nginx"
    assert b"OTEL_SERVICE_NAME=nginx-svc" not in open(f"/proc/{w}/environ", "rb").read()
