#!/usr/bin/env bash
# sonde benchmark: `make bench` (or ./bench/run.sh after `make`).
#
# Installs what it needs (Debian packages, Jaeger through tests/jaeger.sh, the Go helpers in
# bench/goserver, bench/nullsink, bench/loadgen), then runs bench/bench.py, which starts every
# server on 127.0.0.1, measures with and without sonde in alternated pairs, writes
# bench/results.json and bench/RESULTS.md, and stops everything it started.
#
# Environment: BENCH_PAIRS (pairs per comparison, default 5), BENCH_QUICK=1 (short runs, to try
# the script; the results are not meant to be committed), BENCH_OUT (work dir, default bench/out),
# BENCH_FLOOR=0 (no floor runs: sonde attached with nothing selected; also --no-floor).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${BENCH_OUT:-$HERE/out}
BIN=$OUT/bin

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sonde loads BPF programs; apt-get installs packages)"
[[ -x $ROOT/build/sonde ]] || die "build/sonde is missing: run 'make' first (or 'make bench')"

# --- Debian packages -------------------------------------------------------------------------
PKGS=(wrk nghttp2-client nginx-light redis-server redis-tools postgresql postgresql-client bpftool linux-perf python3 curl util-linux procps)
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
missing=()
for p in "${PKGS[@]}"; do
	# Any nginx build will do.
	if [[ $p == nginx-light ]] && { command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; }; then
		continue
	fi
	installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Keep the packages' scripts from starting services (nginx on :80, redis on :6379, a
	# PostgreSQL cluster on :5432): the benchmark starts its own instances on other ports.
	made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
	if ((made_policy)); then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
fi
for p in "${missing[@]}"; do
	installed "$p" || die "Debian package $p is still missing"
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x $PGBIN/initdb && -x $PGBIN/pgbench ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || die "the postgres user is missing (package postgresql creates it)"

# --- Go helpers (standard library only) ------------------------------------------------------
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null 2>&1 || die "go is not installed (needed for bench/goserver, nullsink, loadgen)"
mkdir -p "$BIN"
for tool in goserver nullsink loadgen; do
	(cd "$HERE/$tool" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$BIN/$tool" .) ||
		die "go build of bench/$tool failed"
done

# grpc-go's Echo server and client of the integration tests (the modules its go.sum pins, from
# the module cache or the proxy); with its DWARF, which the grpc-go stream probes read
(cd "$ROOT/tests/apps/grpc_go" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$BIN/grpc_go" .) ||
	die "go build of tests/apps/grpc_go failed"

# --- Jaeger (built once from the Go module proxy, cached) ------------------------------------
JAEGER=$("$ROOT/tests/jaeger.sh" install) || die "tests/jaeger.sh install failed"

log "all present; starting the measurements"
exec python3 "$HERE/bench.py" --root "$ROOT" --out "$OUT" --bin "$BIN" --pgbin "$PGBIN" --jaeger "$JAEGER" "$@"
