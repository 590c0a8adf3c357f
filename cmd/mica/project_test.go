package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProjectNew scaffolds an application with `mica project new`, runs its tests and
// builds its Wasm modules with `mica project build`, then checks the refusals.
func TestProjectNew(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the Go toolchain")
	}
	sdk, err := filepath.Abs(filepath.Join("..", "..", "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	wallet := filepath.Join(tmp, "wallet")

	start := time.Now()
	out := mustMica(t, wallet, "project", "new", "hello", "--path", tmp, "--sdk", sdk, "--json")
	var res struct{ Path string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	dir := filepath.Join(tmp, "hello")
	if res.Path != dir {
		t.Fatalf("path %q, want %q", res.Path, dir)
	}
	for _, f := range []string{"go.mod", "hello.go", "hello_test.go", "contract/main.go", "service/main.go", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, want := range []string{"module hello\n", "go 1.26\n", "require github.com/micachain/mica/sdk v0.0.0\n", "replace github.com/micachain/mica/sdk => " + sdk} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	t.Logf("project new: %v", time.Since(start))

	start = time.Now()
	test := exec.Command("go", "test", "./...")
	test.Dir = dir
	test.Env = append(os.Environ(), "GOWORK=off")
	if b, err := test.CombinedOutput(); err != nil {
		t.Fatalf("go test in the new project: %v\n%s", err, b)
	}
	t.Logf("go test ./...: %v", time.Since(start))

	start = time.Now()
	mustMica(t, wallet, "project", "build", dir)
	for _, f := range []string{"contract.wasm", "service.wasm"} {
		b, err := os.ReadFile(filepath.Join(dir, "build", f))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 8 || string(b[:4]) != "\x00asm" {
			t.Fatalf("%s is not a Wasm module", f)
		}
	}
	t.Logf("project build: %v", time.Since(start))

	// Text output is the created directory; the default --path is the current directory.
	cwdProj := exec.Command(binary, "project", "new", "my-app", "--sdk", sdk)
	cwdProj.Dir = tmp
	if b, err := cwdProj.Output(); err != nil || strings.TrimSpace(string(b)) != filepath.Join(tmp, "my-app") {
		t.Fatalf("project new my-app: %q %v", b, err)
	}

	refuse := func(want string, env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"project", "new"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		b, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("project new %s succeeded", strings.Join(args, " "))
		} else if !strings.Contains(string(b), want) {
			t.Errorf("project new %s: %s, want %q", strings.Join(args, " "), b, want)
		}
	}
	noSDK := []string{"MICA_SDK="}
	refuse("already exists", noSDK, "hello", "--path", tmp, "--sdk", sdk)
	for _, name := range []string{"a/b", "1abc", "bad name", ".hidden", "x..y", "foo_test", "foo_linux", "fmt"} {
		refuse("invalid project name", noSDK, name, "--path", tmp, "--sdk", sdk)
	}
	refuse("pass --sdk DIR or set MICA_SDK", noSDK, "nosdk", "--path", tmp)
	refuse("no go.mod", noSDK, "nosdk", "--path", tmp, "--sdk", tmp)
	refuse("is not the Mica SDK", []string{"MICA_SDK=" + filepath.Join(sdk, "..")}, "nosdk", "--path", tmp)
	if _, err := os.Stat(filepath.Join(tmp, "nosdk")); err == nil {
		t.Error("a refused project was created")
	}
}
