package wasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSharedCacheDirCompilesOnce: engines of several processes over one cache
// directory (the validators of `mica net up`) compile a module one at a time. While
// another holder (here the test, standing for another process) holds the module's
// lock, Compile waits; once it is released, Compile finishes, and no lock file is left.
func TestSharedCacheDirCompilesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	code := wmod{memPages: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, i32c(7)...)}}.bytes()
	if err := os.MkdirAll(filepath.Join(dir, lockDir), 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, lockDir, fmt.Sprintf("%x-%d.lock", sha256.Sum256(code), contractRuntime))
	unlock, err := lockPath(lock)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, EngineConfig{CacheDir: dir})
	done := make(chan error, 1)
	go func() {
		_, err := e.Compile(ctx, code)
		done <- err
	}()
	// A module this small compiles in milliseconds: finished here means it did not wait.
	select {
	case err := <-done:
		unlock()
		t.Fatalf("Compile finished (%v) while another process held the module's lock", err)
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock file is left behind: %v", err)
	}
	// A second engine over the directory (another process) compiles it from the cache.
	if _, err := newEngine(t, EngineConfig{CacheDir: dir}).Compile(ctx, code); err != nil {
		t.Fatal(err)
	}
}

// TestSweepKeepsLocks: the size sweep of the cache directory never removes lock files
// (a removed lock held by a waiting process would let a third compile alongside).
func TestSweepKeepsLocks(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, lockDir, "held.lock")
	if err := os.MkdirAll(filepath.Dir(held), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(held, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, EngineConfig{CacheDir: dir, MaxCacheDirBytes: 1})
	if err := e.sweepCacheDir(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(held); err != nil {
		t.Fatalf("the sweep removed a lock file: %v", err)
	}
}
