package wasm

import (
	"context"
	"os"
	"testing"
	"time"
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

// BenchmarkQueryExample runs a query on a real example service (MICA_BENCH_WASM names
// the service's file, MICA_BENCH_QUERY the request, `{ value }` by default; skipped
// without the file) in an instance restored from the module's snapshot: what a query
// costs in the guest, GraphQL engine included, on an empty store.
func BenchmarkQueryExample(b *testing.B) {
	path := os.Getenv("MICA_BENCH_WASM")
	if path == "" {
		b.Skip("MICA_BENCH_WASM is not set")
	}
	code, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	query := []byte(os.Getenv("MICA_BENCH_QUERY"))
	if len(query) == 0 {
		query = []byte("{ value }")
	}
	e := newEngine(b, EngineConfig{})
	m, err := e.Compile(context.Background(), code)
	if err != nil {
		b.Fatal(err)
	}
	ctx, rt := context.Background(), newFake()
	start := time.Now()
	out, err := NewService(m).HandleQuery(ctx, rt, query)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s → %.200s (snapshot: %v; first query, with _initialize, %v)", query, out, m.noSnapshot == "", time.Since(start))
	for b.Loop() {
		if _, err := NewService(m).HandleQuery(ctx, rt, query); err != nil {
			b.Fatal(err)
		}
	}
}
