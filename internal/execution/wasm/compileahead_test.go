package wasm

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestCompileOnce: concurrent compilations of the same bytes compile once; the others
// wait for it and get the same module.
func TestCompileOnce(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	code := guest(t, "counter")
	var wg sync.WaitGroup
	mods := make([]*Module, 8)
	for i := range mods {
		wg.Go(func() {
			m, err := e.Compile(context.Background(), code)
			if err != nil {
				t.Error(err)
			}
			mods[i] = m
		})
	}
	wg.Wait()
	for _, m := range mods[1:] {
		if m != mods[0] {
			t.Fatal("concurrent compilations gave different modules")
		}
	}
	if n := e.compilations.Load(); n != 1 {
		t.Fatalf("%d compilations, want 1", n)
	}
}

// TestCompileAhead: a bytecode blob compiled ahead is not compiled again by the loader
// (it waits for the compilation under way or finds it cached); only one background
// compilation runs at a time; a malformed blob compiled ahead is refused by validation
// with the same error as without.
func TestCompileAhead(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, EngineConfig{})
	l := NewLoader(e, 0)
	code := guest(t, "counter")
	_, blobs := protocol.ModuleBlobs(code, guest(t, "fuelexport"))
	if !l.CompileAhead(blobs[0]) {
		t.Fatal("CompileAhead did not start")
	}
	// The slot is busy until the first one ends (or it already ended: then the next
	// starts). Either way, at most one runs.
	second := l.CompileAhead(blobs[1])
	if err := l.ValidateModule(ctx, blobs[0].Content); err != nil {
		t.Fatal(err)
	}
	if n := e.compilations.Load(); n > 2 || (!second && n != 1) {
		t.Fatalf("%d compilations (second started: %v)", n, second)
	}
	e.aheadWG.Wait()
	if l.CompileAhead(blobs[0]) {
		t.Fatal("CompileAhead started for a module already compiled")
	}
	if l.CompileAhead(protocol.NewBlob(base.BlobData, []byte("data"))) {
		t.Fatal("CompileAhead started for a data blob")
	}
	// Malformed bytecode: the background compilation fails, and validation says why.
	bad := protocol.NewBlob(base.BlobContractBytecode, []byte("not wasm"))
	want := l.ValidateModule(ctx, bad.Content)
	if want == nil {
		t.Fatal("malformed bytecode validated")
	}
	e2 := newEngine(t, EngineConfig{})
	l2 := NewLoader(e2, 0)
	if !l2.CompileAhead(bad) {
		t.Fatal("CompileAhead did not start")
	}
	if err := l2.ValidateModule(ctx, bad.Content); err == nil || err.Error() != want.Error() {
		t.Fatalf("after a failed compilation ahead: %v, want %v", err, want)
	}
}

// TestCompileWaitCancelled: a caller waiting for another's compilation gives up when its
// context ends, with a retryable error; the compilation goes on for the others.
func TestCompileWaitCancelled(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	code := guest(t, "counter")
	l := NewLoader(e, 0)
	_, blobs := protocol.ModuleBlobs(code, code)
	if !l.CompileAhead(blobs[0]) {
		t.Fatal("CompileAhead did not start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Compile(ctx, code); err != nil && !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("cancelled wait: %v, want a retryable error", err)
	}
	if _, err := e.Compile(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	if n := e.compilations.Load(); n != 1 {
		t.Fatalf("%d compilations, want 1", n)
	}
}
