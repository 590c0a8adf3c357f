// Package wasmtest builds Go Wasm guests for tests: the standard toolchain compiles a
// wasip1 reactor (-buildmode=c-shared), as `mica project build` does for applications.
package wasmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CounterDir is the test counter application (a Go guest written against the ABI),
// relative to a package directory under internal/.
const CounterDir = "../execution/wasm/testdata/counter"

// BuildGoGuest compiles the Go package pkg (relative to dir) for GOOS=wasip1
// GOARCH=wasm as a reactor and returns its bytecode; it fails tb if the build fails.
func BuildGoGuest(tb testing.TB, dir, pkg string) []byte {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s in %s: %v\n%s", pkg, dir, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
