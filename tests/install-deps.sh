#!/usr/bin/env bash
# Installs what sonde's build and tests need on Debian 12. Idempotent, and fast when everything
# is present: it checks first (dpkg, installed Python versions, the cached Jaeger binary) and only
# then runs `apt-get update` once and installs what is missing.
#
#   tests/install-deps.sh build   Debian packages to build the agent and its unit tests
#   tests/install-deps.sh test    what the test run needs beyond that: servers and clients,
#                                 the sanitizer/libFuzzer runtime, Python packages
#                                 (tests/requirements.txt), npm packages of the Node.js apps
#                                 (tests/apps/package-lock.json, into tests/apps/node_modules),
#                                 the Go modules of tests/apps/grpc_go and go_pgx, and Jaeger
#                                 (tests/jaeger.sh install)
#   tests/install-deps.sh packaging  what tests/integration/test_packaging.py needs: helm and
#                                 kubeconform (go install, pinned, into $SONDE_CACHE/bin), Kubernetes
#                                 JSON schemas for offline validation (from the kubernetes-validate
#                                 wheel on PyPI, into $SONDE_CACHE/k8s-schemas), debootstrap and
#                                 buildah (the image build). Part of `test` and `all`.
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

BUILD_PKGS=(clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libprotobuf-c-dev
	protobuf-c-compiler libcurl4-openssl-dev pkg-config make)
test_pkgs() {
	local p=(curl protobuf-compiler wrk iproute2 procps "libclang-rt-$(clang_major)-dev")
	p+=(mariadb-server mariadb-client) # tests/integration/test_mysql.py
	p+=(redis-server redis-tools) # tests/integration/test_redis.py
	p+=(postgresql postgresql-client) # tests/integration/test_postgres.py (psql, pgbench)
	p+=(nghttp2-client) # tests/integration/test_grpc.py (h2load)
	p+=(openjdk-17-jdk-headless) # tests/integration/test_handoff.py (java, javac)
	p+=(maven) # tests/integration/test_redis.py (Jedis and Lettuce, tests/apps/java_redis)
	p+=(prometheus) # tests/integration/test_request_metrics.py (scrapes /metrics)
	p+=(nftables iptables) # tests/integration/test_cross_node.py (the middleboxes)
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

# The Node.js apps' packages, as tests/apps/package-lock.json pins them, go to
# tests/apps/node_modules, where node finds them from the apps' folder. The copy of the lock file
# that is left there says that this lock file is the one installed (npm ci starts afresh).
npm_install() {
	local dir=$HERE/apps stamp=$HERE/apps/node_modules/.sonde-package-lock.json
	if ! command -v npm >/dev/null 2>&1; then
		log "warning: npm is not installed; the Node.js gRPC tests will fail or be skipped"
		return
	fi
	if cmp -s "$dir/package-lock.json" "$stamp"; then
		log "npm packages present: $dir/node_modules"
		return
	fi
	log "installing npm packages in $dir (npm ci)"
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
		die "npm ci in $dir failed (see npm's message above for the package)"
	cp "$dir/package-lock.json" "$stamp"
}

# The modules of the Go test apps, as their go.sum pins them, into the Go module cache, so that
# the tests build them without reaching the module proxy. Fast when they are there.
go_modules() {
	local dir
	if ! command -v go >/dev/null 2>&1; then
		log "warning: go is not installed; the Go gRPC and pgx tests will fail or be skipped"
		return
	fi
	for dir in "$HERE"/apps/grpc_go "$HERE"/apps/go_pgx; do
		(cd "$dir" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local go mod download) ||
			die "go mod download in $dir failed (see go's message above for the module)"
		log "Go modules present for $dir"
	done
}

# The Java test app's artifacts (Jedis, Lettuce and theirs) into ~/.m2, and the app built, so
# that the tests build it offline. Fast when they are there.
maven_deps() {
	(cd "$HERE"/apps/java_redis && mvn -q -B package -DskipTests) ||
		die "mvn package in $HERE/apps/java_redis failed (see Maven's message above)"
	log "Maven artifacts present for $HERE/apps/java_redis"
}

do_build() {
	apt_install "${BUILD_PKGS[@]}"
}

do_test() {
	# shellcheck disable=SC2046
	apt_install $(test_pkgs)
	pip_install
	command -v node >/dev/null 2>&1 || log "warning: node is not installed; the Node.js tests will be skipped"
	npm_install
	go_modules
	maven_deps
	local jaeger
	jaeger=$("$HERE/jaeger.sh" install) || die "building Jaeger failed (tests/jaeger.sh install)"
	log "Jaeger present: $jaeger"
}

# --- packaging (helm chart, image, systemd unit: tests/integration/test_packaging.py) ---
# Pinned. A cold install measured on 2 cores: helm ~3 min (go install compiles it), kubeconform
# ~11 s, the schemas ~5 s (a 23 MB wheel), the debootstrap/buildah .debs ~35 s; then well under 1 s.
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
K8S_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3
# The Kubernetes versions whose schemas are extracted (the tests validate against each).
K8S_SCHEMA_VERSIONS=(v1.28.0 v1.30.0 v1.37.0)
PKG_CACHE=${SONDE_CACHE:-${HOME:-/root}/.cache/sonde}

go_tool() { # NAME MODULE/PATH@VERSION VERSION: go install into $PKG_CACHE/bin, once per version
	local name=$1 target=$2 version=$3 bin=$PKG_CACHE/bin
	if [[ -x $bin/$name && -f $bin/.$name-version && $(cat "$bin/.$name-version") == "$version" ]]; then
		log "$name $version present: $bin/$name"
		return
	fi
	command -v go >/dev/null 2>&1 || die "go is not installed: it is needed to build $name $version"
	mkdir -p "$bin"
	log "go install $target (once; cached in $bin)"
	local start=$SECONDS
	GOBIN=$bin GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "$target" || die "go install $target failed"
	echo "$version" >"$bin/.$name-version"
	log "$name $version built in $((SECONDS - start)) s"
}

k8s_schemas() { # JSON schemas for kubeconform -schema-location, offline
	local dir=$PKG_CACHE/k8s-schemas v missing=0
	for v in "${K8S_SCHEMA_VERSIONS[@]}"; do
		[[ -f $dir/$v-standalone-strict/daemonset-apps-v1.json && -f $dir/.source-$K8S_VALIDATE_VERSION ]] || missing=1
	done
	if ((!missing)); then
		log "Kubernetes schemas present: $dir (${K8S_SCHEMA_VERSIONS[*]})"
		return
	fi
	local tmp start=$SECONDS
	tmp=$(mktemp -d)
	python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" \
		"kubernetes-validate==$K8S_VALIDATE_VERSION" ||
		{ rm -rf "$tmp"; die "pip download kubernetes-validate==$K8S_VALIDATE_VERSION failed"; }
	# The wheel holds per-kind schemas whose $refs point at /api/_definitions.json (an absolute
	# URL under https://kubernetes.io/): rewrite them to the sibling file and drop the $id, so that
	# kubeconform resolves every reference from the local directory.
	python3 - "$tmp"/kubernetes_validate-*.whl "$dir" "${K8S_SCHEMA_VERSIONS[@]}" <<'EOF' ||
import json, os, sys, zipfile
whl, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
z = zipfile.ZipFile(whl)
for v in versions:
    pre = f"kubernetes_validate/kubernetes-json-schema/{v}-local-strict/"
    names = [n for n in z.namelist() if n.startswith(pre) and n.endswith(".json") and not n.endswith("/all.json")]
    if not names:
        sys.exit(f"no schemas for {v} in {whl}")
    dst = os.path.join(out, f"{v}-standalone-strict")
    os.makedirs(dst, exist_ok=True)
    for n in names:
        s = json.loads(z.read(n))
        s.pop("$id", None)
        text = json.dumps(s).replace('"/api/_definitions.json#', '"_definitions.json#')
        with open(os.path.join(dst, n[len(pre):]), "w") as f:
            f.write(text)
    print(f"install-deps: {len(names)} schemas for Kubernetes {v} in {dst}", file=sys.stderr)
EOF
		{ rm -rf "$tmp"; die "extracting Kubernetes schemas failed"; }
	touch "$dir/.source-$K8S_VALIDATE_VERSION"
	rm -rf "$tmp"
	log "Kubernetes schemas extracted in $((SECONDS - start)) s"
}

do_packaging() {
	apt_install debootstrap buildah libcap2-bin systemd
	go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$HELM_VERSION"
	go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$KUBECONFORM_VERSION"
	k8s_schemas
	# The test reads helm's YAML output.
	if ! python3 -c 'import yaml' 2>/dev/null; then
		log "installing PyYAML==$PYYAML_VERSION"
		python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "PyYAML==$PYYAML_VERSION" ||
			die "pip install PyYAML==$PYYAML_VERSION failed"
	fi
}

case $MODE in
build) do_build ;;
test) do_test && do_packaging ;;
packaging) do_packaging ;;
all) do_build && do_test && do_packaging ;;
*) die "usage: $0 [build|test|all|packaging]" ;;
esac
log "done ($MODE)"
