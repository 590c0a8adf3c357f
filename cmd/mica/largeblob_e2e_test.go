package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/micachain/mica/internal/client"
)

// TestLargeDataBlobInChunks publishes a 6 MiB data blob (over the validators' 1 MiB
// unary receive limit: its proposal goes over the chunked method) on validators of two
// shards each, and reads it back from a fresh wallet, which downloads it from the
// validators.
func TestLargeDataBlobInChunks(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--shards", "2", "--initial-chains", "1")
	w := net.info.Wallet
	content := make([]byte, 6<<20)
	for i := range content {
		content[i] = byte(i*131 + i>>9)
	}
	file := filepath.Join(dir, "large.bin")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var pub struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "publish-data-blob", file, "--json")), &pub); err != nil {
		t.Fatal(err)
	}
	if want := client.DataBlobID(content).Hash.String(); pub.Hash != want {
		t.Fatalf("publish-data-blob: hash %s, want %s", pub.Hash, want)
	}
	w2 := filepath.Join(dir, "w2")
	mustMica(t, w2, "wallet", "init", "--genesis", net.info.Genesis)
	out := filepath.Join(dir, "out.bin")
	mustMica(t, w2, "read-data-blob", pub.Hash, "--output", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read-data-blob: %d bytes, %v; want the 6 MiB published", len(got), err)
	}
}
