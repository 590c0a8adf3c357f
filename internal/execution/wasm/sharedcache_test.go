package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lockModule takes the lock of the module of bytecode code in the cache directory dir,
// as another process compiling it would, and returns its path.
func lockModule(t *testing.T, dir string, code []byte) (lock string, unlock func()) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, lockDir), 0o700); err != nil {
		t.Fatal(err)
	}
	lock = filepath.Join(dir, lockDir, fmt.Sprintf("%x-%d.lock", sha256.Sum256(code), contractRuntime))
	unlock, err := lockPath(lock, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return lock, unlock
}

// compileInBackground compiles code with e and sends the outcome.
func compileInBackground(ctx context.Context, e *Engine, code []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := e.Compile(ctx, code)
		done <- err
	}()
	return done
}

// TestSharedCacheDirCompilesOnce: engines of several processes over one cache
// directory (the validators of `mica net up`) compile a module one at a time. While
// another holder (here the test, standing for another process) holds the module's
// lock, Compile waits; once it is released, Compile finishes, and no lock file is left.
func TestSharedCacheDirCompilesOnce(t *testing.T) {
	ctx := context.Background()
	dir, code := t.TempDir(), wmod{memPages: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, i32c(7)...)}}.bytes()
	lock, unlock := lockModule(t, dir, code)
	e := newEngine(t, EngineConfig{CacheDir: dir})
	done := compileInBackground(ctx, e, code)
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

// TestCompileLockWaitIsBounded: a process that holds a module's lock and never lets go
// (stopped, stuck on its disk) does not stop the others: Compile waits for the lock at
// most its bound (shortened here), then compiles without it, with a warning.
func TestCompileLockWaitIsBounded(t *testing.T) {
	ctx := context.Background()
	dir, code := t.TempDir(), wmod{memPages: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, i32c(7)...)}}.bytes()
	_, unlock := lockModule(t, dir, code)
	defer unlock() // never before Compile ends
	var logged bytes.Buffer
	e := newEngine(t, EngineConfig{CacheDir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	e.lockWait = 100 * time.Millisecond
	done := compileInBackground(ctx, e, code)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Compile still waits for a module's lock its holder never releases")
	}
	if !strings.Contains(logged.String(), "without the lock") || !strings.Contains(logged.String(), errLockWait.Error()) {
		t.Errorf("no warning that the module was compiled without its lock; logged: %q", logged.String())
	}
}
