package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildWasm builds every example's contract and service with the standard
// toolchain (GOOS=wasip1 GOARCH=wasm, reactor) and checks each is a Wasm module
// exporting the ABI's entry points. Set MICA_EXAMPLES_WASM_OUT to a directory to keep
// them (NAME_contract.wasm, NAME_service.wasm).
func TestBuildWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm modules")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found in PATH: cannot build the Wasm modules")
	}
	dir := os.Getenv("MICA_EXAMPLES_WASM_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, app := range []string{"counter", "fungible", "crowdfunding", "auction", "social", "ai-oracle"} {
		for _, part := range []string{"contract", "service"} {
			out := filepath.Join(dir, app+"_"+part+".wasm")
			cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", out, "./"+app+"/"+part)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s/%s: %v\n%s", app, part, err, b)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 8 || string(b[:4]) != "\x00asm" {
				t.Fatalf("%s is not a Wasm module", out)
			}
			for _, want := range []string{"mica_alloc", "mica_instantiate", "mica_execute_operation", "mica_execute_message", "mica_handle_query", "mica"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s lacks %q", out, want)
				}
			}
			t.Logf("%s: %d bytes", out, len(b))
		}
	}
}
