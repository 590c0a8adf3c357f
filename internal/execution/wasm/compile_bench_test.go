package wasm

import (
	"context"
	"os"
	"testing"
)

// BenchmarkCompileExample compiles a real example contract (MICA_BENCH_WASM names the
// file; skipped without it): the cost a validator pays for a module it never saw.
func BenchmarkCompileExample(b *testing.B) {
	path := os.Getenv("MICA_BENCH_WASM")
	if path == "" {
		b.Skip("MICA_BENCH_WASM is not set")
	}
	code, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e := newEngine(b, EngineConfig{})
		if _, err := e.Compile(context.Background(), code); err != nil {
			b.Fatal(err)
		}
	}
}
