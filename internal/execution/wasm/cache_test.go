package wasm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestCompilationCacheOnDisk: a second engine over the same cache directory (a
// restarted node) compiles a Go guest from the cache much faster.
func TestCompilationCacheOnDisk(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = "testdata/goguest"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	compile := func() time.Duration {
		e, err := NewEngine(ctx, EngineConfig{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		start := time.Now()
		if _, err := e.Compile(ctx, code); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	cold, warm := compile(), compile()
	t.Logf("Go guest compile: cold %v, from the on-disk cache %v", cold, warm)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("nothing cached in %s: %v", dir, err)
	}
}
