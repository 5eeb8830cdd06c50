"""Packaging: the Helm chart (helm/sonde), the systemd unit and `make install`, the container image.

The chart is linted with `helm lint --strict`, rendered with default and non-default values, and
every rendered manifest is validated OFFLINE by kubeconform against the Kubernetes JSON schemas
that tests/install-deps.sh extracts from the kubernetes-validate wheel (PyPI) into
$SONDE_CACHE/k8s-schemas; the ServiceMonitor (a Prometheus Operator CRD, no schema there) is
skipped by kubeconform and checked field by field here. The config file the chart renders is parsed
by the real agent (`sonde --config FILE --check`). helm and kubeconform come from
`tests/install-deps.sh packaging` ($SONDE_CACHE/bin).
"""
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sonde"
SONDE = ROOT / "build" / "sonde"
CACHE = Path(os.environ.get("SONDE_CACHE", Path.home() / ".cache" / "sonde"))
SCHEMAS = CACHE / "k8s-schemas"
VERSION = (ROOT / "VERSION").read_text().strip()
# Schemas tests/install-deps.sh extracts; 1.28 renders the AppArmor annotation, 1.30+ the field.
KUBE_VERSIONS = ["1.28.0", "1.30.0", "1.37.0"]
CAPS = ["BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE"]


def tool(name):
    p = CACHE / "bin" / name
    if p.exists():
        return str(p)
    found = shutil.which(name)
    assert found, f"{name} is missing: run tests/install-deps.sh packaging"
    return found


def run(*cmd, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                             f"stdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
    return r


def render(*args, kube="1.30.0"):
    out = run(tool("helm"), "template", "sonde", CHART, "--namespace", "tracing",
              "--kube-version", kube, *args).stdout
    return out, [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} rendered"
    return found[0]


def kubeconform(manifests, kube, tmp_path):
    f = tmp_path / f"rendered-{kube}.yaml"
    f.write_text(manifests)
    loc = str(SCHEMAS) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/" \
        "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    assert (SCHEMAS / f"v{kube}-standalone-strict").is_dir(), \
        f"no schemas for {kube} in {SCHEMAS}: run tests/install-deps.sh packaging"
    r = run(tool("kubeconform"), "-strict", "-summary", "-output", "json", "-kubernetes-version",
            kube, "-schema-location", loc, "-skip", "ServiceMonitor", f, check=False)
    report = json.loads(r.stdout)
    assert r.returncode == 0, f"kubeconform ({kube}):\n{r.stdout}\n{r.stderr}"
    return report["summary"]


NONDEFAULT = [
    "--set", "privileged=true",
    "--set", "metrics.service.enabled=true",
    "--set", "metrics.serviceMonitor.enabled=true",
    "--set", "metrics.serviceMonitor.labels.release=prom",
    "--set", "metrics.requests=false",
    "--set", "otlp.endpoint=https://otel.example.internal:4318",
    "--set", "otlp.headers=x-not-used=1",
    "--set", "otlp.headersSecret=otlp-auth",
    "--set", "otlp.headersSecretKey=hdrs",
    "--set", "otlp.compression=none",
    "--set", "selection.pids={1234,4194304}",
    "--set", "selection.ports={8080,443}",
    "--set", "selection.exe={nginx,python3*}",
    "--set", "serviceName=shop",
    "--set", "resourceAttributes=deployment.environment=prod",
    "--set", "exportQuery=true",
    "--set", "goGrpc=false",
    "--set", "propagation=header",
    "--set-json", 'tcpOptionTo=["10.1.0.0/16","fd00::/8"]',
    "--set", "tcpOptionHold=60",
    "--set", "sampleRatio=0.25",
    "--set-json", 'routes=["/api/users/{id}","checkout=/api/orders/*"]',
    "--set", "extraConfig.ring-kb=1024",
    "--set", "extraConfig.queue-size=1000000",
    "--set", "extraConfig.console=true",
    "--set", "extraConfig.otlp-insecure=false",
    "--set", "hostMounts.debugfs=true",
    "--set", "hostNetwork=true",
    "--set", "serviceAccount.automountToken=true",
    "--set", "image.repository=registry.example/sonde",
    "--set", "image.tag=dev",
]


def test_chart_app_version_is_the_version_file():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == VERSION
    _, docs = render()
    assert by_kind(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["image"] \
        == f"sonde:{VERSION}"


def test_helm_lint_strict():
    r = run(tool("helm"), "lint", "--strict", CHART)
    assert "0 chart(s) failed" in r.stdout
    r = run(tool("helm"), "lint", "--strict", CHART, *NONDEFAULT)
    assert "0 chart(s) failed" in r.stdout


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_default_manifests_are_valid_kubernetes(kube, tmp_path):
    out, docs = render(kube=kube)
    summary = kubeconform(out, kube, tmp_path)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "ServiceAccount"]
    assert summary["valid"] == len(docs) and summary["invalid"] == 0 and summary["errors"] == 0
    print(f"kubeconform {kube} defaults: {summary}")


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_nondefault_manifests_are_valid_kubernetes(kube, tmp_path):
    out, docs = render(*NONDEFAULT, kube=kube)
    summary = kubeconform(out, kube, tmp_path)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Service",
                     "ServiceAccount", "ServiceMonitor"]
    assert summary["valid"] == len(docs) - 1 and summary["skipped"] == 1
    assert summary["invalid"] == 0 and summary["errors"] == 0
    print(f"kubeconform {kube} non-default: {summary}")


def test_a_broken_manifest_is_caught(tmp_path):
    """The offline validation is real: a misspelt field fails."""
    out, _ = render()
    bad = out.replace("hostPID: true", "hostPID: true\n      hostPIDs: true")
    with pytest.raises(AssertionError, match="hostPIDs"):
        kubeconform(bad, "1.30.0", tmp_path)


def test_default_daemonset():
    _, docs = render()
    ds = by_kind(docs, "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    sc = c["securityContext"]
    assert pod["hostPID"] is True
    assert "hostNetwork" not in pod
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": CAPS}
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["runAsUser"] == 0
    assert sc["appArmorProfile"] == {"type": "Unconfined"}
    assert pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert set(mounts) == {"/etc/sonde", "/sys/kernel/tracing", "/sys/fs/bpf", "/sys/kernel/btf",
                           "/sys/fs/cgroup"}
    assert all(m.get("readOnly") for m in mounts.values())
    vols = {v["name"]: v for v in pod["volumes"]}
    host = {v["hostPath"]["path"] for v in vols.values() if "hostPath" in v}
    assert host == {"/sys/kernel/tracing", "/sys/fs/bpf", "/sys/kernel/btf", "/sys/fs/cgroup"}
    assert not any("proc" in p for p in host)  # hostPID: the container's /proc is the node's
    assert c["args"] == ["--config", "/etc/sonde/sonde.conf"]
    assert vols["config"]["configMap"]["name"] == "sonde"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
    env = {e["name"]: e for e in c["env"]}
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == "host.name=$(NODE_NAME),k8s.node.name=$(NODE_NAME)"
    conf = by_kind(docs, "ConfigMap")["data"]["sonde.conf"]
    lines = [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]
    assert lines == ["otlp-endpoint = http://jaeger-collector.observability.svc:4318",
                     "metrics-addr = 0.0.0.0:9464", "propagation = link,tcp,header",
                     "tcp-option-to = cluster"]
    role = by_kind(docs, "ClusterRole")
    verbs = {(r["apiGroups"][0], res): r["verbs"] for r in role["rules"] for res in r["resources"]}
    assert verbs == {("", "pods"): ["get", "list", "watch"], ("apps", "replicasets"): ["get"],
                     ("batch", "jobs"): ["get"], ("", "nodes"): ["list"],
                     ("networking.k8s.io", "servicecidrs"): ["list"],
                     ("crd.projectcalico.org", "ippools"): ["list"]}


def test_old_kubernetes_gets_the_apparmor_annotation():
    _, docs = render(kube="1.28.0")
    ds = by_kind(docs, "DaemonSet")
    tpl = ds["spec"]["template"]
    assert tpl["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/sonde"] \
        == "unconfined"
    assert "appArmorProfile" not in tpl["spec"]["containers"][0]["securityContext"]


def test_nondefault_daemonset():
    _, docs = render(*NONDEFAULT)
    ds = by_kind(docs, "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["securityContext"]["privileged"] is True
    assert "capabilities" not in c["securityContext"]
    assert c["image"] == "registry.example/sonde:dev"
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    env = {e["name"]: e for e in c["env"]}
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"] == {
        "secretKeyRef": {"name": "otlp-auth", "key": "hdrs"}}
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == \
        "host.name=$(NODE_NAME),k8s.node.name=$(NODE_NAME),deployment.environment=prod"
    assert "/sys/kernel/debug" in {m["mountPath"] for m in c["volumeMounts"]}
    conf = by_kind(docs, "ConfigMap")["data"]["sonde.conf"]
    lines = [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "otlp-endpoint = https://otel.example.internal:4318",
        "no-gzip",
        "metrics-addr = 0.0.0.0:9464",
        "request-metrics = off",
        "service-name = shop",
        "export-query",
        "no-go-grpc",
        "pid = 1234", "pid = 4194304",
        "port = 8080", "port = 443",
        "exe = nginx", "exe = python3*",
        "propagation = header",
        "tcp-option-to = 10.1.0.0/16,fd00::/8",
        "tcp-option-hold = 60",
        "sample-ratio = 0.25",
        "route = /api/users/{id}", "route = checkout=/api/orders/*",
        "console",
        "queue-size = 1000000",
        "ring-kb = 1024",
    ]
    assert "otlp-headers =" not in conf  # the secret's headers never reach the ConfigMap
    svc = by_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9464
    assert svc["spec"]["selector"] == ds["spec"]["selector"]["matchLabels"]
    sm = by_kind(docs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prom"
    # the ServiceMonitor selects the Service: its matchLabels are among the Service's labels
    svc_labels = svc["metadata"]["labels"]
    assert svc_labels | sm["spec"]["selector"]["matchLabels"] == svc_labels
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s",
                                        "scrapeTimeout": "10s"}]
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["tracing"]}


def test_metrics_off_listens_on_loopback_without_probes():
    _, docs = render("--set", "metrics.enabled=false", "--set", "metrics.service.enabled=true")
    c = by_kind(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in c and "readinessProbe" not in c and "ports" not in c
    assert "metrics-addr = 127.0.0.1:9464" in by_kind(docs, "ConfigMap")["data"]["sonde.conf"]
    assert not [d for d in docs if d["kind"] in ("Service", "ServiceMonitor")]


@pytest.mark.parametrize("bad", [
    ["--set", "propagation=always"],
    ["--set-string", "propagation=link\\,\\,tcp"],
    ["--set", "otlp.compression=zstd"],
    ["--set", "privileged=yes"],
    ["--set-string", "selection.ports={http}"],
    ["--set", "selection.ports={70000}"],
    ["--set-json", 'serviceName="a\\nexport-query"'],
    ["--set", "extraConfig.config=/etc/other"],
    ["--set", "sampleRatio=1.5"],
    ["--set-json", 'tcpOptionTo=["10.0.0.0/8 all"]'],
    ["--set", "tcpOptionHold=0"],
    ["--set", "sampleRatio=most"],
    ["--set", "extraConfig.sample-ratio=0.5"],
    ["--set", "extraCapabilities={CAP_SYS_ADMIN}"],
    ["--set", "unknownKey=1"],
])
def test_schema_refuses_bad_values(bad):
    r = run(tool("helm"), "template", "sonde", CHART, *bad, check=False)
    assert r.returncode != 0 and "values don't meet the specifications of the schema" in r.stderr, \
        r.stderr


@pytest.mark.parametrize("args", [[], NONDEFAULT], ids=["default", "nondefault"])
def test_rendered_config_is_accepted_by_sonde(args, tmp_path):
    """The agent itself parses the ConfigMap's file: every line is an option it knows."""
    assert SONDE.exists(), "build/sonde is missing: run make"
    _, docs = render(*args)
    conf = tmp_path / "sonde.conf"
    conf.write_text(by_kind(docs, "ConfigMap")["data"]["sonde.conf"])
    r = run(SONDE, "--config", conf, "--check", check=False)
    assert "unknown option" not in r.stderr and "invalid" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_configmap_for_grafanas_sidecar(tmp_path):
    """dashboard.enabled: one more ConfigMap, valid Kubernetes, labelled for Grafana's sidecar
    (and in the namespace asked for), holding the dashboard file of the chart unchanged. The
    dashboard's queries are run against a real Prometheus in test_request_metrics.py."""
    out, docs = render("--set", "dashboard.enabled=true", "--set", "dashboard.namespace=grafana")
    summary = kubeconform(out, "1.30.0", tmp_path)
    assert summary["invalid"] == 0 and summary["errors"] == 0, summary
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(maps) == 2
    dash = [m for m in maps if m["metadata"]["name"] == "sonde-dashboard"]
    assert len(dash) == 1
    meta = dash[0]["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1" and meta["namespace"] == "grafana"
    got = json.loads(dash[0]["data"]["sonde-requests.json"])
    assert got == json.loads((CHART / "dashboards" / "sonde-requests.json").read_text())
    assert got["uid"] == "sonde-requests" and got["panels"]
    _, docs = render()
    assert not [d for d in docs if d["metadata"]["name"] == "sonde-dashboard"]


def render_notes(tmp_path, *args):
    """NOTES.txt as `helm install` prints it (which needs a cluster): a copy of the chart renders
    it through tpl in a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates/NOTES.txt", chart / "notes.txt")
    (chart / "templates/notes-check.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        "    {{- tpl (.Files.Get \"notes.txt\") . | nindent 4 }}\n")
    out = run(tool("helm"), "template", "sonde", chart, "--namespace", "tracing",
              "--show-only", "templates/notes-check.yaml", *args).stdout
    return yaml.safe_load(out)["data"]["notes"]


def test_notes_tell_where_the_traces_are(tmp_path):
    notes = render_notes(tmp_path)
    assert "kubectl -n observability port-forward svc/jaeger-query 16686:16686" in notes
    assert "http://jaeger-collector.observability.svc:4318" in notes
    assert "rollout status daemonset/sonde" in notes
    assert "Traces cross nodes (propagation=link,tcp,header): a call to the cluster's pod and " \
        "service ranges (read from the API server at start" in notes
    assert "gets no option for 300 s" in notes and "propagation=link to keep traces" in notes
    notes = render_notes(tmp_path / "b", "--set", "otlp.endpoint=", "--set",
                         "propagation=link\\,tcp", "--set-json", 'tcpOptionTo=["10.1.0.0/16"]')
    assert "spans are printed in the agents' logs" in notes
    assert "Traces cross nodes (propagation=link,tcp): a call to 10.1.0.0/16 carries" in notes
    notes = render_notes(tmp_path / "c", "--set", "propagation=link")
    assert "Traces cross nodes" not in notes


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # Installed with PREFIX pointing here, so that ExecStart names a binary that exists.
    run("make", "-s", "-C", ROOT, "install", f"PREFIX={tmp_path}", f"SYSCONFDIR={tmp_path}/etc")
    unit = tmp_path / "lib/systemd/system/sonde.service"
    assert f"ExecStart={tmp_path}/bin/sonde --config {tmp_path}/etc/sonde/sonde.conf" in \
        unit.read_text()
    r = run("systemd-analyze", "verify", unit, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (ROOT / "packaging/sonde.service").read_text()
    for want in ("ExecStart=/usr/local/bin/sonde --config /etc/sonde/sonde.conf",
                 "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ProtectHome=yes", "LimitMEMLOCK=infinity",
                 "AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_PTRACE"):
        assert want in text, want
    bounding = next(ln for ln in text.splitlines() if ln.startswith("CapabilityBoundingSet="))
    assert "CAP_SYS_ADMIN" not in bounding


def test_make_install_destdir(tmp_path):
    dest = tmp_path / "root"
    run("make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}")
    binary = dest / "usr/local/bin/sonde"
    unit = dest / "usr/local/lib/systemd/system/sonde.service"
    conf = dest / "etc/sonde/sonde.conf"
    assert binary.stat().st_mode & 0o777 == 0o755
    assert unit.stat().st_mode & 0o777 == 0o644 and conf.stat().st_mode & 0o777 == 0o644
    assert unit.read_text() == (ROOT / "packaging/sonde.service").read_text()
    assert conf.read_text() == (ROOT / "packaging/sonde.conf").read_text()
    assert run(binary, "--version").stdout.startswith(f"sonde {VERSION}")
    # The default config is a valid one.
    r = run(binary, "--config", conf, "--check", check=False)
    assert r.returncode == 0, r.stderr
    # An existing config is kept.
    conf.write_text("exe = nginx\n")
    r = run("make", "-C", ROOT, "install", f"DESTDIR={dest}")
    assert conf.read_text() == "exe = nginx\n" and "keeping" in r.stdout
    run("make", "-s", "-C", ROOT, "uninstall", f"DESTDIR={dest}")
    assert not binary.exists() and not unit.exists() and conf.exists()


def test_image_rootfs_runs_sonde(tmp_path):
    """packaging/build-image.sh: debootstrap (cached) + runtime libraries + build/sonde; it runs
    `chroot ROOTFS sonde --version` and `--check` itself, and makes a buildah image if it can."""
    assert SONDE.exists(), "build/sonde is missing: run make"
    out = tmp_path / "image"
    r = run(ROOT / "packaging/build-image.sh", env={**os.environ, "SONDE_IMAGE_DIR": str(out)})
    print(r.stderr[-3000:])
    rootfs = out / "rootfs"
    v = run("chroot", rootfs, "/usr/local/bin/sonde", "--version").stdout
    assert v.startswith(f"sonde {VERSION}")
    assert "verdict: sonde can run here" in (out / "check.txt").read_text()
    caps = run("getcap", rootfs / "usr/local/bin/sonde").stdout
    assert "cap_bpf" in caps and "cap_perfmon" in caps and "=ep" in caps
    # Only the runtime: no compiler, no headers.
    assert not (rootfs / "usr/bin/clang").exists() and not (rootfs / "usr/include/bpf").exists()
    archive = out / f"sonde-{VERSION}.docker.tar"
    if shutil.which("buildah"):
        with tarfile.open(archive) as t:
            manifest = json.load(t.extractfile("manifest.json"))
            config = json.load(t.extractfile(manifest[0]["Config"]))
        assert f"docker.io/library/sonde:{VERSION}" in manifest[0]["RepoTags"]  # = sonde:VERSION
        assert config["config"]["Entrypoint"] == ["/usr/local/bin/sonde"]
        assert config["config"]["User"] == "65532:65532"
