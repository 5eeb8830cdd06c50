#!/usr/bin/env bash
# Jaeger v2 all-in-one for sonde's integration tests: the trace store that sonde exports to.
#
#   tests/jaeger.sh install        build (or reuse) the jaeger binary; prints its path
#   tests/jaeger.sh start          run it on 127.0.0.1 with in-memory storage; waits until ready
#   tests/jaeger.sh stop           stop the instance started by `start`
#   tests/jaeger.sh restart        stop, then start (empty storage)
#   tests/jaeger.sh status         exit 0 if our instance runs
#   tests/jaeger.sh url [query|otlp|otlp-grpc]   print an address (default: query API/UI)
#   tests/jaeger.sh path           print the binary's path (does not build)
#
# Where things go (environment):
#   SONDE_CACHE          cache root, default ~/.cache/sonde; the binary is kept in
#                        $SONDE_CACHE/jaeger-<version>/jaeger and is built only once
#   JAEGER_BIN           use this jaeger binary instead of building one
#   JAEGER_STATE_DIR     pidfile and log, default ${TMPDIR:-/tmp}/sonde-jaeger
#   JAEGER_QUERY_PORT (16686), JAEGER_OTLP_HTTP_PORT (4318), JAEGER_OTLP_GRPC_PORT (4317),
#   JAEGER_QUERY_GRPC_PORT (16685), JAEGER_HEALTH_PORT (13133)
#
# Why it is built from source: Jaeger publishes no Debian package, and no download other than the
# Go module proxy is reachable. `go install github.com/jaegertracing/jaeger/cmd/jaeger@...` is
# refused because Jaeger's go.mod has replace directives, so the module source is fetched through
# the proxy with `go mod download` and built inside its own directory, where go.mod/go.sum (and
# their replace directives) apply. A cold build takes several minutes on 2 cores (see
# tests/integration/README.md); later runs reuse the cached binary.
set -euo pipefail

# Pinned: the v1.76.0 tag of github.com/jaegertracing/jaeger is the commit that carries the Jaeger
# v2 binary (cmd/jaeger, an OpenTelemetry Collector distribution; Jaeger v2.x releases are cut from
# the same commits as the v1.x module tags, and v2.x tags are not Go module versions).
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_VERSION=v1.76.0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=$HERE/jaeger-config.yaml
CACHE_ROOT=${SONDE_CACHE:-${HOME:-/root}/.cache/sonde}
CACHE_DIR=$CACHE_ROOT/jaeger-$JAEGER_VERSION
CACHED_BIN=$CACHE_DIR/jaeger
STATE_DIR=${JAEGER_STATE_DIR:-${TMPDIR:-/tmp}/sonde-jaeger}
PIDFILE=$STATE_DIR/jaeger.pid
LOGFILE=$STATE_DIR/jaeger.log

export JAEGER_QUERY_PORT=${JAEGER_QUERY_PORT:-16686}
export JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
export JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}
export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
export JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13133}
QUERY_URL=http://127.0.0.1:$JAEGER_QUERY_PORT

log() { printf 'jaeger.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

binary() { echo "${JAEGER_BIN:-$CACHED_BIN}"; }

http_ok() { # URL: exit 0 if it answers 2xx
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
	else
		python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
EOF
	fi
}

cmd_install() {
	if [[ -n ${JAEGER_BIN:-} ]]; then
		[[ -x $JAEGER_BIN ]] || die "JAEGER_BIN=$JAEGER_BIN is not an executable"
		echo "$JAEGER_BIN"
		return
	fi
	if [[ -x $CACHED_BIN ]]; then
		echo "$CACHED_BIN"
		return
	fi
	command -v go >/dev/null 2>&1 || die "go is not installed: it is needed to build jaeger $JAEGER_VERSION"
	mkdir -p "$CACHE_DIR"
	# One build at a time (a test run and a manual install may race).
	exec 9>"$CACHE_DIR/.lock"
	flock 9
	if [[ -x $CACHED_BIN ]]; then
		echo "$CACHED_BIN"
		return
	fi
	log "building jaeger $JAEGER_VERSION (v2 all-in-one) from the Go module proxy; this takes a few minutes the first time"
	local start dir
	start=$(date +%s)
	dir=$(go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir","")) if not d.get("Error") else sys.exit("go mod download: "+d["Error"])') ||
		die "go mod download $JAEGER_MODULE@$JAEGER_VERSION failed"
	[[ -d $dir/cmd/jaeger ]] || die "module source $dir has no cmd/jaeger"
	# The module cache is read-only; go build only reads it. -s -w: no symbol tables (smaller).
	(cd "$dir" && GOFLAGS="${GOFLAGS:-} -buildvcs=false" go build -ldflags="-s -w" -o "$CACHED_BIN.tmp" ./cmd/jaeger) ||
		die "go build of $JAEGER_MODULE@$JAEGER_VERSION ./cmd/jaeger failed"
	mv -f "$CACHED_BIN.tmp" "$CACHED_BIN"
	log "built $CACHED_BIN in $(($(date +%s) - start)) s ($(du -h "$CACHED_BIN" | cut -f1))"
	echo "$CACHED_BIN"
}

our_pid() { # prints the pid of our running instance, or fails
	[[ -f $PIDFILE ]] || return 1
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must still be a jaeger process.
	grep -qa jaeger "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

cmd_start() {
	local bin pid i
	if pid=$(our_pid); then
		log "already running (pid $pid) at $QUERY_URL"
		return
	fi
	bin=$(cmd_install)
	if http_ok "$QUERY_URL/api/services"; then
		die "something already answers on $QUERY_URL (another jaeger?); stop it or set JAEGER_QUERY_PORT"
	fi
	mkdir -p "$STATE_DIR"
	rm -f "$PIDFILE"
	log "starting $bin --config $CONFIG (log: $LOGFILE)"
	setsid "$bin" --config "$CONFIG" >"$LOGFILE" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PIDFILE"
	for ((i = 0; i < 600; i++)); do # up to 60 s
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$LOGFILE" >&2 || true
			rm -f "$PIDFILE"
			die "jaeger exited during start-up (log above, full log in $LOGFILE)"
		fi
		if http_ok "$QUERY_URL/api/services"; then
			log "ready (pid $pid): query $QUERY_URL, OTLP/HTTP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, OTLP/gRPC 127.0.0.1:$JAEGER_OTLP_GRPC_PORT"
			return
		fi
		sleep 0.1
	done
	tail -n 30 "$LOGFILE" >&2 || true
	cmd_stop
	die "jaeger did not answer on $QUERY_URL/api/services within 60 s"
}

cmd_stop() {
	local pid i
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		log "not running"
		return
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do # up to 10 s
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
	log "stopped (pid $pid)"
}

cmd_url() {
	case ${1:-query} in
	query) echo "$QUERY_URL" ;;
	otlp | otlp-http) echo "http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT" ;;
	otlp-grpc) echo "127.0.0.1:$JAEGER_OTLP_GRPC_PORT" ;;
	*) die "url: unknown kind '$1' (query, otlp, otlp-grpc)" ;;
	esac
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) if pid=$(our_pid); then echo "running (pid $pid)"; else echo "not running"; exit 1; fi ;;
url) cmd_url "${2:-query}" ;;
path) binary ;;
log) echo "$LOGFILE" ;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
