#!/usr/bin/env bash
# Runs C unit-test binaries (tests/unit/test_*.c built by `make unit`) and adds up their counts.
#
#   tests/run-unit.sh BIN...
#
# Each binary ends with the line "N passed, N failed" (tests/unit/unit.h). A binary that crashes,
# times out or prints no such line counts as one failed test. Prints one line per binary and ends
# with "unit: N passed, N failed" (the total); exits 1 if anything failed.
#
# Environment: UNIT_TIMEOUT seconds per binary (default 120). Binaries built with SAN=1 pick up
# ASAN_OPTIONS/UBSAN_OPTIONS from the environment; sensible defaults are set below.
set -uo pipefail

TIMEOUT=${UNIT_TIMEOUT:-120}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_pass=0
total_fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
	name=$(basename "$bin")
	if [[ ! -x $bin ]]; then
		printf '  %-32s missing (not built)\n' "$name"
		total_fail=$((total_fail + 1))
		continue
	fi
	timeout --kill-after=5 "$TIMEOUT" "$bin" >"$out" 2>&1
	rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n1)
	if [[ -n $summary ]]; then
		p=$(sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$summary")
		f=$(sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$summary")
	else
		p=0
		f=0
	fi
	# A non-zero exit with no failure counted (crash, sanitizer report, timeout) is one failure.
	if ((rc != 0 && f == 0)); then
		f=1
	fi
	note=""
	((rc == 124 || rc == 137)) && note=" (timed out after ${TIMEOUT}s)"
	((rc != 0 && rc != 1 && rc != 124 && rc != 137)) && note=" (exit status $rc)"
	[[ -z $summary ]] && note+=" (no summary line)"
	printf '  %-32s %d passed, %d failed%s\n' "$name" "$p" "$f" "$note"
	if ((f > 0)); then
		sed 's/^/      /' "$out"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done

echo "unit: $total_pass passed, $total_fail failed"
((total_fail == 0))
