#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Replays the checked-in inputs of every fuzz target without libFuzzer: each fuzz_<name>.c is
# built with ASan and UBSan and standalone_main.c, with the decoders and agent/span.c as an
# archive as run.sh links them (and with what its "// fuzz-build:" lines add), then
# run once per file of tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/ (fixed crash
# reproducers). A sanitizer report or a broken property fails that file. Ends with "N passed,
# N failed" (files) and exits non-zero when any failed. Needs only clang's ordinary sanitizer
# runtimes (and, for a target with fuzz-build lines, what they name: fuzz_otlp needs `make`).
#
# Env: CC (default clang), FUZZ_SRCS (decoder sources, default all of agent/decoders/*.c).
set -u
cd "$(dirname "$0")/../.." || exit 1

CC=${CC:-clang}
SRCS=${FUZZ_SRCS:-$(ls agent/decoders/*.c 2>/dev/null)}
OUT=build/fuzz-regress
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

FLAGS="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
FLAGS="$FLAGS -Iinclude -Iagent"

mkdir -p "$OUT/lib"
# The decoders as an archive: a database decoder's spans need agent/span.c, which a target that
# compiles span.c itself (fuzz_otlp) must not get twice; an HTTP server span looks up the
# declared routes (agent/routes.c).
LIB=$OUT/libdecoders.a
rm -f "$LIB" "$OUT"/lib/*.o
for s in $SRCS agent/span.c agent/routes.c; do
	# shellcheck disable=SC2086 # FLAGS is a list of flags
	if ! "$CC" $FLAGS -c "$s" -o "$OUT/lib/$(basename "${s%.c}").o"; then
		echo "regress: $s does not build" >&2
		exit 1
	fi
done
ar rcs "$LIB" "$OUT"/lib/*.o

passed=0
failed=0
for src in tests/fuzz/fuzz_*.c; do
	[ -f "$src" ] || continue
	name=${src#tests/fuzz/fuzz_}
	name=${name%.c}
	bin=$OUT/fuzz_$name
	# What a target needs besides the decoders, on its "// fuzz-build:" lines (globs allowed).
	extra=$(sed -n 's|^// fuzz-build: ||p' "$src")
	# shellcheck disable=SC2086 # FLAGS and extra are lists of files and flags
	if ! "$CC" $FLAGS "$src" tests/fuzz/standalone_main.c $extra "$LIB" -o "$bin"; then
		echo "regress: $name does not build (the generated sources of fuzz-build lines: make)" >&2
		failed=$((failed + 1))
		continue
	fi
	for f in tests/fuzz/corpus/"$name"/* tests/fuzz/regressions/"$name"/*; do
		[ -f "$f" ] || continue
		if "$bin" "$f" >"$OUT/last.log" 2>&1; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			echo "regress: FAIL $f" >&2
			head -30 "$OUT/last.log" >&2
		fi
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
