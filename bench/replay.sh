#!/usr/bin/env bash
# The agent's instructions per span on a recorded-shape HTTP/1.x workload (bench/replay.c), under
# callgrind: the same count from run to run, so two builds compare exactly.
#
#   bench/replay.sh [TREE...]    each TREE a checkout with `make` done (default: this one)
#
# Prints, per tree, the spans made and the instructions per span; ROUNDS (default 2000) requests
# per connection, 32 connections.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=${ROUNDS:-2000}
command -v valgrind >/dev/null || { echo "replay: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[[ $# -gt 0 ]] || set -- "$HERE/.."
for tree in "$@"; do
	tree=$(cd "$tree" && pwd)
	[[ -f $tree/build/libsonde.a ]] || { echo "replay: $tree/build/libsonde.a is missing: make there first" >&2; exit 1; }
	out=$(mktemp -d)
	cc -O2 -g -std=gnu11 -D_GNU_SOURCE -I"$tree/include" -I"$tree/agent" -I"$tree/build" \
		-I"$tree/build/gen" -o "$out/replay" "$HERE/replay.c" "$tree/build/libsonde.a" \
		-lbpf -ldw -lelf -lz -lprotobuf-c -lcurl -lm
	valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$out/replay" "$ROUNDS" \
		>"$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
	spans=$(sed -n 's/^replay: .*, \([0-9]*\) spans$/\1/p' "$out/log")
	ir=$(sed -n 's/^summary: //p' "$out/cg")
	printf '%s (%s): %s spans, %s instructions, %.0f per span\n' "$tree" \
		"$(git -C "$tree" rev-parse --short HEAD 2>/dev/null || echo '?')" "$spans" "$ir" \
		"$(echo "$ir / $spans" | bc -l)"
	rm -rf "$out"
done
