#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Builds every tests/fuzz/fuzz_<name>.c as a libFuzzer binary with ASan and UBSan, linked with
# the pure decoders in agent/decoders/ and the span setters they build spans with (agent/span.c),
# an archive of which a target takes what it uses (and with what its "// fuzz-build:" lines add),
# and runs each for FUZZ_SECONDS (default 60) starting from tests/fuzz/corpus/<name>/. What the
# fuzzer learns and any crash go under tests/fuzz/findings/<name>/ (git-ignored); the checked-in
# corpus is only read. Exits 1 if any target crashed or broke a property: copy the reported file
# into tests/fuzz/regressions/<name>/ once fixed, so that regress.sh keeps replaying it.
#
# Usage: tests/fuzz/run.sh [name...]     (names as in fuzz_<name>.c; default: all)
# Env: FUZZ_SECONDS, CLANG (default clang), FUZZ_SRCS (decoder sources, default all),
#      FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -u
cd "$(dirname "$0")/../.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
SRCS=${FUZZ_SRCS:-$(ls agent/decoders/*.c 2>/dev/null)}
OUT=build/fuzz
FINDINGS=tests/fuzz/findings

if [ $# -gt 0 ]; then
	names=$*
else
	names=$(for f in tests/fuzz/fuzz_*.c; do n=${f#tests/fuzz/fuzz_}; echo "${n%.c}"; done)
fi

FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Iagent"

mkdir -p "$OUT/lib" "$FINDINGS"
# The decoders as an archive: a database decoder's spans need agent/span.c, which a target that
# compiles span.c itself (fuzz_otlp) must not get twice; an HTTP server span looks up the
# declared routes (agent/routes.c).
LIB=$OUT/libdecoders.a
rm -f "$LIB" "$OUT"/lib/*.o
for s in $SRCS agent/span.c agent/routes.c; do
	o=$OUT/lib/$(basename "${s%.c}").o
	# shellcheck disable=SC2086 # FLAGS is a list of flags
	if ! "$CLANG" $FLAGS -c "$s" -o "$o"; then
		echo "fuzz: $s does not build" >&2
		exit 1
	fi
done
ar rcs "$LIB" "$OUT"/lib/*.o

status=0
for name in $names; do
	src=tests/fuzz/fuzz_$name.c
	bin=$OUT/fuzz_$name
	if [ ! -f "$src" ]; then
		echo "fuzz: no such target: $src" >&2
		status=1
		continue
	fi
	echo "fuzz: building $name"
	# What a target needs besides the decoders, on its "// fuzz-build:" lines (globs allowed).
	extra=$(sed -n 's|^// fuzz-build: ||p' "$src")
	# shellcheck disable=SC2086 # FLAGS and extra are lists of files and flags
	if ! "$CLANG" $FLAGS "$src" $extra "$LIB" -o "$bin"; then
		echo "fuzz: $name does not build (libFuzzer runtime: apt-get install" \
			"libclang-rt-14-dev; the generated sources of fuzz-build lines: make)" >&2
		status=1
		continue
	fi
	work=$FINDINGS/$name/corpus
	seeds=tests/fuzz/corpus/$name
	mkdir -p "$work" "$seeds"
	echo "fuzz: running $name for ${FUZZ_SECONDS}s"
	# The first corpus directory receives new inputs, so the writable one goes first.
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	if ! "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$FINDINGS/$name/" ${FUZZ_ARGS:-} "$work" "$seeds" \
		>"$FINDINGS/$name/log" 2>&1; then
		echo "fuzz: $name FAILED; log: $FINDINGS/$name/log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property failed|artifact_prefix|Test unit written)' \
			"$FINDINGS/$name/log" | head -20 >&2
		status=1
		continue
	fi
	grep -E '^stat::(number_of_executed_units|new_units_added)' "$FINDINGS/$name/log" |
		sed "s/^/fuzz: $name /"
	echo "fuzz: $name ok"
done
exit $status
