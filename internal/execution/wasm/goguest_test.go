package wasm

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestGoGuest builds a Go guest with the standard toolchain (GOOS=wasip1 GOARCH=wasm,
// a reactor with //go:wasmexport entry points and //go:wasmimport host calls), checks
// that the engine accepts its WASI imports, and runs it metered through the ABI: fuel
// used must be identical on every run.
func TestGoGuest(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = "testdata/goguest"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the Go guest: %v\n%s", err, b)
	}
	bytecode, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Go guest: %d bytes, built in %v", len(bytecode), time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	compileStart := time.Now()
	m, err := e.Compile(ctx, bytecode)
	if err != nil {
		t.Fatalf("compile the Go guest: %v", err)
	}
	t.Logf("instrument and compile: %v", time.Since(compileStart).Round(time.Millisecond))
	host := NewContractHost(newFake())
	var fuel uint64
	for i := 0; i < 3; i++ {
		runStart := time.Now()
		res, used, err := m.Run(ctx, 1_000_000_000, "mica_execute_operation", []byte("hello"), host)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if len(res) != 16 || binary.LittleEndian.Uint64(res[8:]) != 5 {
			t.Fatalf("run %d: output %x", i, res)
		}
		if i > 0 && used != fuel {
			t.Fatalf("fuel differs between runs: %d then %d", fuel, used)
		}
		fuel = used
		t.Logf("run %d: %v, fuel %d", i, time.Since(runStart).Round(time.Microsecond), used)
	}
	if _, _, err := m.Run(ctx, fuel/2, "mica_execute_operation", []byte("hello"), host); err == nil {
		t.Fatal("ran with half the fuel it needs")
	}
}
