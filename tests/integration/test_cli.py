"""sonde's command line: help, version, the capability check, bad flags, missing privileges."""
import os
import shutil
import subprocess

import pytest

import harness


def run(*args, env=None, preexec=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    e.update(env or {})
    return subprocess.run([str(harness.SONDE_BIN), *args], env=e, text=True,
                          capture_output=True, timeout=30)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "Usage: sonde" in r.stdout and "--otlp-endpoint" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("sonde ")


def test_check_names_the_hooks_it_uses():
    r = run("--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tp_btf/sock_send_length" in r.stdout and "will be used" in r.stdout
    assert "kprobes" in r.stdout and "verdict: sonde can run here" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--capture-bytes", "5"], "invalid value '5' for --capture-bytes"),
    (["--capture-bytes", "12x"], "invalid value '12x' for --capture-bytes"),
    (["--ring-kb", "100"], "power of two"),
    (["--port", "70000"], "invalid value '70000' for --port"),
    (["--otlp-endpoint", "ftp://x"], "expected an http:// or https:// URL"),
    (["--pid"], "needs a value"),
    (["stray"], "unexpected argument 'stray'"),
    (["--sample-ratio", "1.5"], "invalid value '1.5' for --sample-ratio"),
    (["--sample-ratio", "half"], "expected a probability from 0 to 1"),
    (["--sample-ratio", "nan"], "invalid value 'nan' for --sample-ratio"),
    (["--tcp-option-to", "10.0.0.0/33"], "invalid value '10.0.0.0/33' for --tcp-option-to: "
                                          "'10.0.0.0/33' is not an address range"),
    (["--tcp-option-to", "clusters"], "(10.0.0.0/8, fd00::/8, private, cluster or all)"),
    (["--tcp-option-to", ""], "an empty list"),
    (["--tcp-option-hold", "0"], "invalid value '0' for --tcp-option-hold"),
])
def test_bad_flags_are_refused_with_the_reason(args, needle):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr


def test_bad_environment_is_refused():
    r = run(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"})
    assert r.returncode == 2 and "OTEL_EXPORTER_OTLP_ENDPOINT" in r.stderr
    r = run(env={"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"})
    assert r.returncode == 2 and "gzip or none" in r.stderr
    r = run(env={"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"})
    assert r.returncode == 2 and "invalid value '-0.1' for OTEL_TRACES_SAMPLER_ARG" in r.stderr
    # parent-based sampling follows the caller's flag, which sonde does not: refused, named
    r = run(env={"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"})
    assert r.returncode == 2 and "unsupported OTEL_TRACES_SAMPLER" in r.stderr


def test_without_privileges_it_names_what_is_missing(tmp_path):
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    # a copy nobody can execute from /tmp's path (the build dir may be root-only)
    binary = tmp_path / "sonde"
    shutil.copy(harness.SONDE_BIN, binary)
    os.chmod(tmp_path, 0o755)
    os.chmod(binary, 0o755)
    r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", str(binary)],
                       text=True, capture_output=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "CAP_BPF" in r.stderr and "run as root" in r.stderr, r.stderr


def test_config_file_and_flags_over_it(tmp_path):
    conf = tmp_path / "sonde.conf"
    conf.write_text("# sonde settings\n\ncapture-bytes = 256\nexport-query\nexe = nginx\n"
                    "otlp-endpoint = http://127.0.0.1:1\n")
    # a valid file: --help still answers, and a bad flag on the command line is still refused
    r = run("--config", str(conf), "--help")
    assert r.returncode == 0, r.stderr
    r = run("--config", str(conf), "--capture-bytes", "5")
    assert r.returncode == 2 and "--capture-bytes" in r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("capture-bytes = 256\nno-such-thing = 1\n")
    r = run("--config", str(bad))
    assert r.returncode == 2
    assert "unknown option '--no-such-thing'" in r.stderr and f"{bad} line 2" in r.stderr
    bad.write_text("capture-bytes = lots\n")
    r = run(env={"SONDE_CONFIG": str(bad)})
    assert r.returncode == 2 and "invalid value 'lots' for --capture-bytes" in r.stderr
    r = run("--config", str(tmp_path / "missing.conf"))
    assert r.returncode == 2 and "cannot read config file" in r.stderr


def test_compression_follows_where_the_collector_is(sonde):
    """gzip costs CPU to save bandwidth: on by default, except to a collector on loopback;
    the flags and OTEL_EXPORTER_OTLP_COMPRESSION decide when given."""
    port = harness.free_port()  # nothing listens: only the start line matters here
    cases = [
        ([f"--otlp-endpoint=http://10.255.255.1:{port}"], {}, True),
        ([f"--otlp-endpoint=http://127.0.0.1:{port}"], {}, False),
        ([f"--otlp-endpoint=http://localhost:{port}"], {}, False),
        ([f"--otlp-endpoint=http://127.0.0.1:{port}", "--gzip"], {}, True),
        ([f"--otlp-endpoint=http://10.255.255.1:{port}", "--no-gzip"], {}, False),
        ([f"--otlp-endpoint=http://127.0.0.1:{port}"], {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
         True),
    ]
    for args, env, want in cases:
        p = sonde(*args, "--metrics-addr", "off", otlp=False, env=env)
        line = next(l for l in p.stderr().splitlines() if l.startswith("sonde: attached"))
        assert line.endswith("(gzip)") == want, (args, env, line)
        p.stop()
