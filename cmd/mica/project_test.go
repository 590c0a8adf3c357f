package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/sdkdist"
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
	// A copy elsewhere builds the same bytes: the modules hold no path of the machine.
	cp := filepath.Join(tmp, "copy")
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	mustMica(t, wallet, "project", "build", cp)
	for _, f := range []string{"contract.wasm", "service.wasm"} {
		a, _ := os.ReadFile(filepath.Join(dir, "build", f))
		b, err := os.ReadFile(filepath.Join(cp, "build", f))
		if err != nil || !bytes.Equal(a, b) || bytes.Contains(b, []byte(tmp)) {
			t.Errorf("%s built in another directory differs or names its directory (%v)", f, err)
		}
	}

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
	refuse("no go.mod", noSDK, "nosdk", "--path", tmp, "--sdk", tmp)
	refuse("is not the Mica SDK", []string{"MICA_SDK=" + filepath.Join(sdk, "..")}, "nosdk", "--path", tmp)
	if _, err := os.Stat(filepath.Join(tmp, "nosdk")); err == nil {
		t.Error("a refused project was created")
	}
}

// installedEnv is the environment of a user who installed the mica binary: HOME and the
// cache directory are fresh temporary directories, MICA_SDK is unset and the Go module
// cache is empty. The build cache is shared (content-addressed, so safe to share; a
// cold one would rebuild the standard library for wasip1); modules other than the SDK
// come from the machine's module cache as a file proxy, standing in for the user's
// GOPROXY, so that the test needs no network.
func installedEnv(t *testing.T, tmp string) []string {
	t.Helper()
	b, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	goenv := strings.Fields(string(b))
	if len(goenv) != 2 {
		t.Fatalf("go env printed %q", b)
	}
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "MICA_SDK", "MICA_WALLET", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "GOPATH", "GOMODCACHE", "GOCACHE", "GOPROXY", "GOFLAGS", "GONOSUMDB", "GOPRIVATE", "GOWORK", "GOENV":
		default:
			env = append(env, kv)
		}
	}
	for _, d := range []string{"home", "cache", "config", "modcache"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return append(env,
		"HOME="+filepath.Join(tmp, "home"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"GOCACHE="+goenv[0],
		// A private module cache: the SDK version this test downloads never reaches the
		// machine's cache, and -modcacherw lets t.TempDir remove it.
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		"GOFLAGS=-modcacherw",
		"GOPROXY="+sdkdist.ProxyURL(filepath.Join(goenv[1], "cache", "download")),
		"GOWORK=off",
		"PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

// TestProjectNewInstalled is the path of a user with an installed binary and no clone
// of the repository: `mica project new hello` in a directory outside the repository
// writes a module that requires the SDK by version, with no replace; the project's own
// `go test ./...` passes with the environment `mica project env` prints; `mica project
// build hello` builds its Wasm; and the application it publishes answers as the
// generated README says. Then the refusals: an existing directory, a bad name, no Go.
func TestProjectNewInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest and runs a network")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the Go toolchain")
	}
	tmp := t.TempDir()
	env := installedEnv(t, tmp)
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(dir string, name string, args ...string) (string, error) {
		t.Helper()
		c := exec.Command(name, args...)
		c.Dir, c.Env = dir, env
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}
	must := func(dir string, name string, args ...string) string {
		t.Helper()
		out, err := run(dir, name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}

	start := time.Now()
	dir := filepath.Join(work, "hello")
	if got := must(work, binary, "project", "new", "hello"); got != dir {
		t.Fatalf("project new printed %q, want %q", got, dir)
	}
	t.Logf("project new: %v", time.Since(start))
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(gomod), "require github.com/micachain/mica/sdk "+sdkdist.Version+"\n") || strings.Contains(string(gomod), "replace") {
		t.Fatalf("go.mod does not require the SDK %s without a replace:\n%s", sdkdist.Version, gomod)
	}
	gosum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	proxy := filepath.Join(tmp, "cache", "mica", "goproxy", "github.com", "micachain", "mica", "sdk", "@v")
	for _, f := range []string{"list", sdkdist.Version + ".info", sdkdist.Version + ".mod", sdkdist.Version + ".zip"} {
		if _, err := os.Stat(filepath.Join(proxy, f)); err != nil {
			t.Errorf("the SDK's module proxy: %v", err)
		}
	}

	// The project's tests, run by hand as its README says: eval "$(mica project env)".
	start = time.Now()
	must(dir, "bash", "-c", `set -e; eval "$(mica project env)"; go vet ./... && go test ./...`)
	t.Logf("go test ./... with the printed env: %v", time.Since(start))
	var penv map[string]string
	if err := json.Unmarshal([]byte(must(dir, binary, "project", "env", "--json")), &penv); err != nil ||
		!strings.HasPrefix(penv["GOPROXY"], "file://") || !strings.Contains(penv["GONOSUMDB"], sdkdist.Module) {
		t.Errorf("project env --json: %v %v", penv, err)
	}

	start = time.Now()
	built := strings.Fields(must(work, binary, "project", "build", "hello"))
	t.Logf("project build: %v", time.Since(start))
	if len(built) != 2 {
		t.Fatalf("project build printed %q", built)
	}
	for _, f := range built {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 8 || string(b[:4]) != "\x00asm" {
			t.Fatalf("%s is not a Wasm module: %v", f, err)
		}
	}
	// Neither the build nor the tests had to edit the module files.
	if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !bytes.Equal(b, gomod) {
		t.Errorf("go.mod changed:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "go.sum")); !bytes.Equal(b, gosum) {
		t.Errorf("go.sum changed:\n%s", b)
	}

	// Published, the application answers as the generated README says.
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, want := range []string{`--json-operation '{"increment": 5}'   # 5`, `'{ value }'                          # {"data":{"value":5}}`} {
		if !strings.Contains(string(readme), want) {
			t.Fatalf("README.md lacks %q:\n%s", want, readme)
		}
	}
	net := netUp(t, filepath.Join(tmp, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	app := mustMica(t, w, "publish-and-create", built[0], built[1], "--json-argument", "0")
	if got := mustMica(t, w, "execute-operation", "--application-id", app, "--json-operation", `{"increment": 5}`); got != "5" {
		t.Errorf("execute-operation printed %q, want 5", got)
	}
	if got := mustMica(t, w, "query-application", "--application-id", app, "{ value }"); got != `{"data":{"value":5}}` {
		t.Errorf("query-application printed %q", got)
	}

	// Refusals: clear errors, nothing created.
	refuse := func(want string, env []string, args ...string) {
		t.Helper()
		c := exec.Command(binary, args...)
		c.Dir, c.Env = work, env
		b, err := c.CombinedOutput()
		if err == nil {
			t.Errorf("mica %s succeeded", strings.Join(args, " "))
		} else if !strings.Contains(string(b), want) {
			t.Errorf("mica %s: %s, want %q", strings.Join(args, " "), b, want)
		}
	}
	refuse("already exists", env, "project", "new", "hello")
	for _, name := range []string{"a/b", "../up", "-x", "bad name", "foo_test", "fmt", "x..y"} {
		refuse("invalid project name", env, "project", "new", "--", name)
	}
	noGo := append(append([]string{}, env...), "PATH="+filepath.Join(tmp, "nothing"))
	refuse("needs the Go toolchain", noGo, "project", "new", "nogo")
	refuse("needs the Go toolchain", noGo, "project", "build", "hello")
	refuse("Go toolchain is not on PATH", noGo, "project", "env")
	// A project that requires an SDK version this binary does not carry is told so.
	other := strings.Replace(string(gomod), "sdk "+sdkdist.Version, "sdk v0.0.1", 1)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	refuse("requires the SDK v0.0.1 but this mica binary carries "+sdkdist.Version, env, "project", "build", "hello")
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\nrequire (\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refuse("go.mod", env, "project", "build", "hello")
	ents, _ := os.ReadDir(work)
	if len(ents) != 1 {
		t.Errorf("refused commands left %d entries in the working directory", len(ents))
	}
}
