package sdkdist

import (
	"archive/zip"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

var update = flag.Bool("update", false, "rewrite testdata/sdk.sum from the embedded SDK")

// TestVersionPinsContent fails when the embedded SDK differs from the one recorded for
// sdk.Version. A released version must never change: Go caches a module version
// forever, so a user's cache would keep the old SDK and the new go.sum would not match
// it. Change the SDK, then bump sdk.Version (sdk/source.go) and run
// `go test ./internal/sdkdist -update`.
func TestVersionPinsContent(t *testing.T) {
	d, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sdk.sum")
	if *update {
		if err := os.WriteFile(golden, []byte(d.Sum), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != d.Sum {
		t.Fatalf("the embedded SDK is not the one recorded for its version:\n got %s\nwant %s"+
			"A released SDK version must not change (module caches keep it forever): bump Version in sdk/source.go, "+
			"then run go test ./internal/sdkdist -update", d.Sum, want)
	}
}

func TestDist(t *testing.T) {
	d, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	if module.CanonicalVersion(Version) != Version || !strings.HasPrefix(Version, "v0.") && !strings.HasPrefix(Version, "v1.") {
		t.Errorf("Version %q is not a canonical v0/v1 semantic version", Version)
	}
	if !bytes.HasPrefix(d.GoMod, []byte("module "+Module+"\n")) {
		t.Errorf(".mod does not declare %s:\n%s", Module, d.GoMod)
	}
	dir := t.TempDir()
	zf := filepath.Join(dir, "sdk.zip")
	if err := os.WriteFile(zf, d.Zip, 0o644); err != nil {
		t.Fatal(err)
	}
	// The zip is a valid module zip, its hash is the go.sum line, and it has the
	// packages' sources but no tests.
	if _, err := modzip.CheckZip(module.Version{Path: Module, Version: Version}, zf); err != nil {
		t.Fatal(err)
	}
	h, err := dirhash.HashZip(zf, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Sum, Module+" "+Version+" "+h+"\n") {
		t.Errorf("go.sum lines %q lack the zip's hash %s", d.Sum, h)
	}
	zr, err := zip.NewReader(bytes.NewReader(d.Zip), int64(len(d.Zip)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[strings.TrimPrefix(f.Name, Module+"@"+Version+"/")] = true
		if strings.HasSuffix(f.Name, "_test.go") || strings.Contains(f.Name, "/testdata/") {
			t.Errorf("zip holds %s", f.Name)
		}
	}
	for _, want := range []string{"go.mod", "go.sum", "source.go", "runtime.go", "sdktest/sdktest.go", "internal/abi/abi.go"} {
		if !names[want] {
			t.Errorf("zip lacks %s (has %v)", want, names)
		}
	}
	sum, err := d.GoSum()
	if err != nil || !strings.Contains(sum, "github.com/graph-gophers/graphql-go ") || !strings.HasSuffix(sum, d.Sum) {
		t.Errorf("GoSum: %q %v", sum, err)
	}
}

func TestWriteProxy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "proxy")
	if err := WriteProxy(dir); err != nil {
		t.Fatal(err)
	}
	at := filepath.Join(dir, "github.com", "micachain", "mica", "sdk", "@v")
	d, _ := Get()
	for name, want := range map[string][]byte{"list": []byte(Version + "\n"), Version + ".mod": d.GoMod, Version + ".zip": d.Zip, Version + ".info": d.Info} {
		b, err := os.ReadFile(filepath.Join(at, name))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %v (%d bytes, want %d)", name, err, len(b), len(want))
		}
	}
	// Idempotent: a second write leaves the files alone.
	old := time.Unix(1e9, 0)
	for _, n := range []string{"list", Version + ".zip"} {
		if err := os.Chtimes(filepath.Join(at, n), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteProxy(dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"list", Version + ".zip"} {
		if fi, err := os.Stat(filepath.Join(at, n)); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("%s rewritten: %v", n, err)
		}
	}
	// A corrupted file is repaired; other versions listed by another binary stay
	// listed, junk in the list is dropped; no temporary file is left behind.
	if err := os.WriteFile(filepath.Join(at, Version+".zip"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(at, "list"), []byte("v0.0.9\n../../x\nnot-a-version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteProxy(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(at, Version+".zip")); !bytes.Equal(b, d.Zip) {
		t.Error("a corrupted zip was not rewritten")
	}
	if b, _ := os.ReadFile(filepath.Join(at, "list")); string(b) != "v0.0.9\n"+Version+"\n" {
		t.Errorf("list %q", b)
	}
	ents, _ := os.ReadDir(at)
	if len(ents) != 4 {
		t.Errorf("proxy directory holds %d entries, want 4", len(ents))
	}
	// A proxy directory that cannot be created is a clear error.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if err := WriteProxy(blocker); err == nil || !strings.Contains(err.Error(), "SDK module proxy") {
		t.Errorf("WriteProxy under a file: %v", err)
	}
}

func TestEnv(t *testing.T) {
	for _, c := range []struct{ proxy, nosum, wantProxy, wantNoSum string }{
		{"https://proxy.golang.org,direct", "", "file:///p,https://proxy.golang.org,direct", Module},
		{"off", "example.com/x", "file:///p,off", Module + ",example.com/x"},
		{"", Module, "file:///p", Module},
		{"file:///p,direct", "", "file:///p,direct", Module},
	} {
		got := Env("/p", c.proxy, c.nosum)
		if got[0] != "GOPROXY="+c.wantProxy || got[1] != "GONOSUMDB="+c.wantNoSum {
			t.Errorf("Env(%q, %q) = %q", c.proxy, c.nosum, got)
		}
	}
}
