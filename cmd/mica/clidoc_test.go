package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/CLI.md from the command tree")

// TestCLIReference checks that docs/CLI.md is what the command tree generates, and that
// every command has an example.
func TestCLIReference(t *testing.T) {
	root := rootCommand()
	for _, c := range leafCommands(root) {
		if c.Example == "" {
			t.Errorf("%s has no example: add one to commandExamples (cmd/mica/examples.go)", c.CommandPath())
		}
	}
	var b bytes.Buffer
	writeCLIReference(&b, root)
	path := filepath.Join("..", "..", "docs", "CLI.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./cmd/mica -run TestCLIReference -update", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatal("docs/CLI.md differs from the command tree: run go test ./cmd/mica -run TestCLIReference -update and commit it")
	}
}
