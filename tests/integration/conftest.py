"""pytest fixtures for sonde's integration tests (building blocks in harness.py).

Fixtures
  jaeger                          session: a fresh Jaeger (tests/jaeger.sh), harness.Jaeger
  sonde(*args, otlp=True, env=None, wait_attached=True, attach_timeout=60, testing=False)
        -> SondeProcess           factory: starts build/sonde (testing=True: build/sonde-testing,
                                  which reads the SONDE_TEST_* switches); stopped with SIGTERM at
                                  teardown, which must make it exit 0 within 10 s
  start_py_server(service_name="py-server", env=None) -> Server          factory
  start_node_server(service_name="node-server", env=None) -> Server      factory
  start_nginx(service_name="nginx", env=None, port=None) -> Server       factory
  py_server / node_server / nginx_server                                 one default server each
  test_start_us                   epoch µs at the test's start (minus 1 s), for Jaeger queries

Clients are plain functions in harness.py: curl(), py_client(), node_client().
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import HarnessError, Jaeger, SondeProcess  # noqa: E402

IN_CI = bool(os.environ.get("CI"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (item.rep_call), so that fixtures can tell at
    teardown whether the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _need(tool_ok: bool, what: str) -> None:
    """Skip when a tool is missing on a developer machine; fail in CI, where it must be there."""
    if not tool_ok:
        msg = f"{what} is not installed (tests/install-deps.sh test)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory):
    """Jaeger v2 all-in-one on 127.0.0.1 with empty in-memory storage, for the whole session.
    Ports are free ones picked per session (SONDE_JAEGER_DEFAULT_PORTS=1: 4318, 16686, ...)."""
    try:
        j = Jaeger.start(state_dir=tmp_path_factory.mktemp("jaeger"),
                         default_ports=bool(os.environ.get("SONDE_JAEGER_DEFAULT_PORTS")))
    except HarnessError as e:
        pytest.fail(str(e))
    print(f"jaeger: query {j.query_url}, OTLP/HTTP {j.otlp_url}, log {j.log_path()}")
    yield j
    j.stop()


@pytest.fixture
def test_start_us() -> int:
    return harness.now_us() - 1_000_000


@pytest.fixture
def sonde(request, tmp_path):
    """Factory: sonde("--exe", "python3", otlp=True) -> SondeProcess (already attached).

    otlp=True sets OTEL_EXPORTER_OTLP_ENDPOINT to the session's Jaeger (starting it if needed);
    otlp=False leaves the endpoint unset, so sonde prints spans on stdout (proc.stdout()).
    env: extra environment variables. testing=True starts build/sonde-testing, the agent with its
    self-tests' tests-only switches (SONDE_TEST_*). All started instances are stopped at teardown
    with SIGTERM and must exit 0 within 10 s; a test may also call proc.stop() itself and check
    the status.
    """
    if not harness.is_root():
        pytest.fail("sonde needs root (BPF): run the integration tests as root")
    started: list[SondeProcess] = []

    def start(*args: str, otlp: bool = True, env: dict | None = None, wait_attached: bool = True,
              attach_timeout: float = 60.0, testing: bool = False) -> SondeProcess:
        e = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        # No OTLP metrics unless a test asks: Jaeger stores traces and has no /v1/metrics,
        # and the tests' own fake collectors count every request (test_request_metrics.py
        # gives a collector of its own)
        e["OTEL_METRICS_EXPORTER"] = "none"
        if otlp:
            j = request.getfixturevalue("jaeger")
            e["OTEL_EXPORTER_OTLP_ENDPOINT"] = j.otlp_url
        e.update(env or {})
        try:
            p = SondeProcess(list(args), e, tmp_path / f"sonde{len(started)}",
                             attach_timeout=attach_timeout, wait_attached=wait_attached,
                             binary=harness.SONDE_TESTING_BIN if testing else None)
        except HarnessError as err:
            pytest.fail(str(err))
        started.append(p)
        return p

    yield start

    problems = []
    for p in started:
        try:
            rc = p.stop(timeout=10)
        except AssertionError as err:
            problems.append(str(err))
            continue
        if rc != 0:
            problems.append(f"sonde exited with status {rc} after SIGTERM (want 0); "
                            f"stderr:\n{harness.tail(p.stderr_path)}")
        print(f"sonde logs: {p.stdout_path} {p.stderr_path}")
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            # CI keeps no temporary files: its log is all there is to read a failure by,
            # and sonde's last lines hold its statistics at exit
            print(f"sonde's stderr, last lines:\n{harness.tail(p.stderr_path, 12)}")
    if problems:
        pytest.fail("\n".join(problems))


def _server_factory(tmp_path, starter, name):
    servers = []

    def start(**kw):
        try:
            s = starter(tmp_path / f"{name}{len(servers)}", **kw)
        except HarnessError as err:
            pytest.fail(str(err))
        servers.append(s)
        return s

    return start, servers


@pytest.fixture
def start_py_server(tmp_path):
    start, servers = _server_factory(tmp_path, harness.start_py_server, "py-server")
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def start_node_server(tmp_path):
    _need(harness.shutil.which("node") is not None, "node")
    start, servers = _server_factory(tmp_path, harness.start_node_server, "node-server")
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def start_nginx(tmp_path):
    _need(harness.nginx_binary() is not None, "nginx")
    start, servers = _server_factory(tmp_path, harness.start_nginx, "nginx")
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def py_server(start_py_server):
    return start_py_server()


@pytest.fixture
def node_server(start_node_server):
    return start_node_server()


@pytest.fixture
def nginx_server(start_nginx):
    return start_nginx()


@pytest.fixture
def redis_server(tmp_path):
    """redis-server on a free loopback port, persistence off (redisutil.start_redis). It names
    itself: .service is the service sonde gives its spans."""
    from redisutil import start_redis

    try:
        srv = start_redis(tmp_path / "redis", service_name=None)
    except HarnessError as e:
        pytest.fail(str(e))
    srv.service = "redis-server"
    yield srv
    srv.stop()
