#!/usr/bin/env bash
# Installs what sonde's build and tests need on Debian 12. Idempotent, and fast when everything
# is present: it checks first (dpkg, installed Python versions, the cached Jaeger binary) and only
# then runs `apt-get update` once and installs what is missing.
#
#   tests/install-deps.sh build   Debian packages to build the agent and its unit tests
#   tests/install-deps.sh test    what the test run needs beyond that: servers and clients,
#                                 the sanitizer/libFuzzer runtime, Python packages
#                                 (tests/requirements.txt) and Jaeger (tests/jaeger.sh install)
#   tests/install-deps.sh all     both (the default)
#
# Must run as root (it calls apt-get). Fails with the name of the package that could not be had.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=${1:-all}

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# clang's major version picks the compiler-rt package (libFuzzer, ASan, UBSan runtimes).
clang_major() {
	local v
	v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
	echo "${v:-14}"
}

BUILD_PKGS=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libprotobuf-c-dev
	protobuf-c-compiler libcurl4-openssl-dev pkg-config make)
test_pkgs() {
	local p=(curl protobuf-compiler wrk iproute2 procps "libclang-rt-$(clang_major)-dev")
	# Any nginx build will do; nginx-light is the smallest.
	if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
		p+=(nginx-light)
	fi
	echo "${p[@]}"
}

installed() { # PKG: exit 0 if dpkg has it fully installed
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

APT_UPDATED=0
apt_install() { # PKG...: install the ones that are missing
	local missing=() p
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "Debian packages present: $*"
		return
	fi
	[[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]} (run as root to install them)"
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting services (nginx would listen on 0.0.0.0:80).
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		apt-get update -qq || die "apt-get update failed"
		APT_UPDATED=1
	fi
	if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
		# Name the culprit(s): retry one at a time.
		local bad=()
		for p in "${missing[@]}"; do
			apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || bad+=("$p")
		done
		die "apt-get install failed for: ${bad[*]:-${missing[*]}}"
	fi
	for p in "${missing[@]}"; do
		installed "$p" || die "Debian package $p is still not installed after apt-get install"
	done
	if ((made_policy)); then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	log "installed: ${missing[*]}"
}

pip_install() {
	local req=$HERE/requirements.txt
	command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
	# Fast path: every pinned version already installed.
	if python3 - "$req" <<'EOF'; then
import sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        have = None
    if have != want.strip():
        print(f"install-deps: python package {name.strip()}: want {want.strip()}, have {have}",
              file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
EOF
		log "Python packages present: $(grep -v '^#' "$req" | xargs)"
		return
	fi
	log "installing Python packages from $req"
	python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$req" ||
		die "pip install -r $req failed (see pip's message above for the package)"
}

do_build() {
	apt_install "${BUILD_PKGS[@]}"
}

do_test() {
	# shellcheck disable=SC2046
	apt_install $(test_pkgs)
	pip_install
	command -v node >/dev/null 2>&1 || log "warning: node is not installed; the Node.js tests will be skipped"
	local jaeger
	jaeger=$("$HERE/jaeger.sh" install) || die "building Jaeger failed (tests/jaeger.sh install)"
	log "Jaeger present: $jaeger"
}

case $MODE in
build) do_build ;;
test) do_test ;;
all) do_build && do_test ;;
*) die "usage: $0 [build|test|all]" ;;
esac
log "done ($MODE)"
