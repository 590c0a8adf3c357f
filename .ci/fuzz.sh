#!/usr/bin/env bash
# Runs every fuzz target of ./internal/... for FUZZTIME each (`make fuzz` calls it).
#
# Each package with fuzz targets is built once, with the fuzzing instrumentation
# (`go test -c -fuzz`), and each of its targets is fuzzed by running that binary the way
# `go test -fuzz` runs it: from the package's directory, with the same corpus cache
# ($GOCACHE/fuzz/<import path>), timeout and flags. One `go test -fuzz` per target used to
# build and link the instrumented binary again for every target, which cost more than the
# fuzzing itself.
#
# A failing input is saved under the package's testdata/fuzz and fails the replay of the
# corpus (-test.run), which fails CI; a fuzzing run that fails without one (Go 1.26's
# fuzzer sometimes ends with a bare "context deadline exceeded") is run again, up to twice
# more, and fails CI if every run fails. (Two such flakes were seen in one CI run of 40-odd
# targets; a saved input always fails at once.)
#
# Environment: GO (default go), FUZZTIME (default 3s), FUZZMINIMIZETIME (default 2s),
# FUZZPKGS (default ./internal/...).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${FUZZTIME:-3s}
minimizetime=${FUZZMINIMIZETIME:-2s}
cache=$("$GO" env GOCACHE)
bindir=$(mktemp -d)
out="$bindir/out"
trap 'rm -rf "$bindir"' EXIT

# Only packages whose test files declare a fuzz target are built; the binary then lists
# the targets that its build (tags included) really has.
"$GO" list -f '{{.ImportPath}} {{.Dir}}' ${FUZZPKGS:-./internal/...} | while read -r pkg dir; do
	grep -qs '^func Fuzz' "$dir"/*_test.go || continue
	bin="$bindir/${pkg//\//_}.test"
	"$GO" test -c -fuzz . -o "$bin" "$pkg"
	for f in $(cd "$dir" && "$bin" -test.list '^Fuzz' | grep '^Fuzz' || true); do
		echo "fuzz $pkg $f"
		ok=0
		for attempt in 1 2 3; do
			if (cd "$dir" && "$bin" -test.paniconexit0 -test.fuzzcachedir="$cache/fuzz/$pkg" -test.timeout=10m0s \
				-test.run='^$' -test.fuzz="^$f\$" -test.fuzztime="$fuzztime" -test.fuzzminimizetime="$minimizetime") >"$out" 2>&1; then
				ok=1
				break
			fi
			tail -20 "$out"
			if ! (cd "$dir" && "$bin" -test.paniconexit0 -test.timeout=10m0s -test.run="^$f\$"); then
				echo "FAIL: $pkg $f: failing input saved under testdata/fuzz"
				exit 1
			fi
			echo "retry $pkg $f: fuzzing run $attempt failed without a failing input"
		done
		[ $ok = 1 ] || { echo "FAIL: $pkg $f: three fuzzing runs failed"; exit 1; }
	done
done
