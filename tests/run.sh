#!/usr/bin/env bash
# The whole test run (what `make test` and CI run):
#
#   deps         tests/install-deps.sh all (fast when everything is there; builds Jaeger once)
#   build        make all testing               (the agent, and build/sonde-testing)
#   unit         make unit                      (C unit tests, counted by tests/run-unit.sh)
#   pytest-unit  pytest tests/unit/*.py         (Python unit tests, if any)
#   integration  pytest tests/integration/      (real kernel, real servers, Jaeger; needs root)
#
# Each step's counts are shown in a table, and the run ends with one line "N passed, N failed"
# summing the C unit tests and the pytest results. A step that fails without counts (the build,
# a crash) counts as one failure. Exits 1 if anything failed.
#
# Environment (for developing; CI=true ignores the skips, CI always builds):
#   SONDE_STEPS="deps build unit pytest-unit integration"   steps to run, in this order
#   SONDE_SKIP_BUILD=1    skip build and unit (e.g. while the agent does not compile)
#   PYTEST_ARGS="-k smoke -x"   extra pytest arguments (both pytest steps)
#   SONDE_TEST_TIMEOUT=300      per-test timeout in seconds (pytest-timeout)
#   SONDE_RESULTS=build/test-results   where logs and junit files go
#
# Adding a step: write step_NAME using run_counted/run_plain/run_pytest and add NAME to STEPS
# (e.g. a sanitizer pass: step_san() { run_counted san "unit:" make SAN=1 unit; }).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RESULTS=${SONDE_RESULTS:-$ROOT/build/test-results}
mkdir -p "$RESULTS"
export PYTHONDONTWRITEBYTECODE=1

STEPS=(${SONDE_STEPS:-deps build unit san fuzz-regress pytest-unit integration})
if [[ -n ${CI:-} && ( -n ${SONDE_SKIP_BUILD:-} || -n ${SONDE_STEPS:-} ) ]]; then
	echo "run.sh: CI is set: ignoring SONDE_SKIP_BUILD/SONDE_STEPS, running every step" >&2
	STEPS=(deps build unit san fuzz-regress pytest-unit integration)
	SONDE_SKIP_BUILD=
fi

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
BUILD_OK=1

banner() { printf '\n=== %s ===\n' "$*"; }

# record NAME PASSED FAILED [NOTE]
record() {
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	SUMMARY+=("$(printf '%-12s %5d passed %5d failed  %s' "$1" "$2" "$3" "${4:-}")")
}

# run_plain NAME CMD...: a step with no test counts; failure counts as one failed test.
run_plain() {
	local name=$1
	shift
	banner "$name: $*"
	local start=$SECONDS
	if "$@" 2>&1 | tee "$RESULTS/$name.log"; then
		SUMMARY+=("$(printf '%-12s %-27s %s' "$name" "ok" "($((SECONDS - start)) s)")")
		return 0
	fi
	record "$name" 0 1 "FAILED ($((SECONDS - start)) s; log $RESULTS/$name.log)"
	return 1
}

# run_counted NAME PREFIX CMD...: a step whose output ends with "PREFIX N passed, N failed".
run_counted() {
	local name=$1 prefix=$2
	shift 2
	banner "$name: $*"
	local start=$SECONDS rc line p=0 f=0 note=""
	"$@" 2>&1 | tee "$RESULTS/$name.log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "^${prefix} ?[0-9]+ passed, [0-9]+ failed" "$RESULTS/$name.log" | tail -n1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
	else
		note="no '${prefix} N passed, N failed' line;"
	fi
	if ((rc != 0 && f == 0)); then
		f=1
		note+=" exit status $rc with no failed test counted"
	fi
	record "$name" "$p" "$f" "$note ($((SECONDS - start)) s)"
}

# run_pytest NAME PATH...: counts from pytest's junit XML.
run_pytest() {
	local name=$1
	shift
	local xml=$RESULTS/$name.xml
	local args=(-p no:cacheprovider -rfEs --durations=10 --junitxml="$xml")
	if python3 -c 'import pytest_timeout' 2>/dev/null; then
		args+=(--timeout="${SONDE_TEST_TIMEOUT:-300}")
	fi
	# shellcheck disable=SC2206
	args+=(${PYTEST_ARGS:-})
	banner "$name: pytest $* ${args[*]}"
	local start=$SECONDS rc counts p f note=""
	rm -f "$xml"
	python3 -m pytest "${args[@]}" "$@" 2>&1 | tee "$RESULTS/$name.log"
	rc=${PIPESTATUS[0]}
	counts=$(python3 - "$xml" <<'EOF' 2>/dev/null
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
fail = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - fail - skip, fail, skip)
EOF
	) || counts=""
	if [[ -n $counts ]]; then
		read -r p f s <<<"$counts"
		((s > 0)) && note="$s skipped"
	else
		p=0
		f=0
	fi
	# 5: no tests collected. Any other non-zero status with nothing counted is one failure.
	if ((rc != 0 && rc != 5 && f == 0)); then
		f=1
		note="pytest exit status $rc with no failed test counted"
	fi
	record "$name" "$p" "$f" "$note ($((SECONDS - start)) s)"
}

step_deps() { run_plain deps ./tests/install-deps.sh all; }

step_build() {
	if [[ -n ${SONDE_SKIP_BUILD:-} ]]; then
		SUMMARY+=("$(printf '%-12s %s' build "skipped (SONDE_SKIP_BUILD)")")
		return
	fi
	# build/sonde-testing too: the integration tests that force a self-test's verdict use it
	run_plain build make -j"$(nproc)" all testing || BUILD_OK=0
}

step_unit() {
	if [[ -n ${SONDE_SKIP_BUILD:-} ]]; then
		SUMMARY+=("$(printf '%-12s %s' unit "skipped (SONDE_SKIP_BUILD)")")
		return
	fi
	if ((!BUILD_OK)); then
		SUMMARY+=("$(printf '%-12s %s' unit "not run: the build failed")")
		return
	fi
	run_counted unit "unit:" make -j"$(nproc)" unit
}

# The same unit tests built with AddressSanitizer and UndefinedBehaviorSanitizer (build-san/).
step_san() {
	if [[ -n ${SONDE_SKIP_BUILD:-} ]] || ((!BUILD_OK)); then
		SUMMARY+=("$(printf '%-12s %s' san "not run")")
		return
	fi
	run_counted san "unit:" make -j"$(nproc)" SAN=1 unit
}

# Every fuzz corpus file and crash reproducer, replayed under the sanitizers.
step_fuzz-regress() { run_counted fuzz-regress "" ./tests/fuzz/regress.sh; }

step_pytest-unit() {
	local files=()
	mapfile -t files < <(find tests/unit -maxdepth 1 -name 'test_*.py' 2>/dev/null | sort)
	if ((${#files[@]} == 0)); then
		SUMMARY+=("$(printf '%-12s %s' pytest-unit "no Python unit tests")")
		return
	fi
	run_pytest pytest-unit "${files[@]}"
}

step_integration() {
	if [[ $(id -u) != 0 ]]; then
		echo "run.sh: warning: not root; tests that run sonde will fail" >&2
	fi
	run_pytest integration tests/integration
}

for s in "${STEPS[@]}"; do
	if ! declare -F "step_$s" >/dev/null; then
		echo "run.sh: unknown step '$s'" >&2
		record "$s" 0 1 "unknown step"
		continue
	fi
	"step_$s"
done

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
((TOTAL_FAIL == 0))
