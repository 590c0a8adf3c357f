package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/client"
)

// TestDataBlobCommands publishes data blobs from a file and from an external HTTP
// store, reads them back from another wallet (which fetches them from the validators),
// and checks the refusals: content that does not match its hash, content or a file
// over MaxBlobSize, an unreadable file, a malformed hash and a blob nobody published.
func TestDataBlobCommands(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	chain := walletChain(t, w)

	// From a file: the hash printed is the protocol's data blob id.
	content := []byte("a description of the item\nsecond line\x00\xff")
	file := filepath.Join(dir, "desc.bin")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var pub struct {
		Hash  string `json:"hash"`
		Block struct {
			ChainID string `json:"chainId"`
			Height  uint64 `json:"height"`
		} `json:"block"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "publish-data-blob", file, "--json")), &pub); err != nil {
		t.Fatal(err)
	}
	want := client.DataBlobID(content).Hash.String()
	if pub.Hash != want || pub.Block.ChainID != chain {
		t.Fatalf("publish-data-blob: %+v, want hash %s on %s", pub, want, chain)
	}

	// Read back from a fresh wallet that follows no chain: fetched from the validators.
	w2 := filepath.Join(dir, "w2")
	mustMica(t, w2, "wallet", "init", "--genesis", net.info.Genesis)
	out := filepath.Join(dir, "out.bin")
	mustMica(t, w2, "read-data-blob", pub.Hash, "--output", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read-data-blob --output: %q %v", got, err)
	}
	var read struct {
		Size    int    `json:"size"`
		Content []byte `json:"contentBase64"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w2, "read-data-blob", pub.Hash, "--json")), &read); err != nil || !bytes.Equal(read.Content, content) || read.Size != len(content) {
		t.Fatalf("read-data-blob --json: %+v %v", read, err)
	}

	// An external store (Walrus-style): content addressed by its hash.
	stored := []byte(strings.Repeat("stored in an external store. ", 100))
	storedHash := client.DataBlobID(stored).Hash.String()
	big := bytes.Repeat([]byte{'x'}, 8<<20+1)
	store := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/blobs/good":
			_, _ = rw.Write(stored)
		case "/blobs/wrong":
			_, _ = rw.Write([]byte("not what the hash says"))
		case "/blobs/big":
			// No Content-Length: the client must stop reading at the limit.
			rw.Header().Set("Transfer-Encoding", "chunked")
			for i := 0; i < len(big); i += 1 << 16 {
				_, _ = rw.Write(big[i:min(i+1<<16, len(big))])
				rw.(http.Flusher).Flush()
			}
		default:
			http.NotFound(rw, r)
		}
	}))
	defer store.Close()
	if err := json.Unmarshal([]byte(mustMica(t, w, "publish-data-blob", "--url", store.URL+"/blobs/good", "--hash", storedHash, "--json")), &pub); err != nil {
		t.Fatal(err)
	}
	if pub.Hash != storedHash {
		t.Fatalf("publish-data-blob --url: %+v, want hash %s", pub, storedHash)
	}
	last := pub.Block.Height
	if got := mustMica(t, w2, "read-data-blob", storedHash); got != strings.TrimSpace(string(stored)) {
		t.Fatalf("read back the stored blob: %q", got)
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"content that does not match its hash", []string{"publish-data-blob", "--url", store.URL + "/blobs/wrong", "--hash", storedHash}, "does not match --hash"},
		{"content over MaxBlobSize", []string{"publish-data-blob", "--url", store.URL + "/blobs/big", "--hash", storedHash}, "MaxBlobSize"},
		{"a store that has not the blob", []string{"publish-data-blob", "--url", store.URL + "/blobs/none", "--hash", storedHash}, "404"},
		{"--url without --hash", []string{"publish-data-blob", "--url", store.URL + "/blobs/good"}, "--url needs --hash"},
		{"a file and --url", []string{"publish-data-blob", file, "--url", store.URL + "/blobs/good", "--hash", storedHash}, "not both"},
		{"no file", []string{"publish-data-blob"}, "give a FILE"},
		{"an unreadable file", []string{"publish-data-blob", filepath.Join(dir, "nosuchfile")}, "cannot read"},
		{"a file that does not match --hash", []string{"publish-data-blob", file, "--hash", storedHash}, "does not match --hash"},
		{"a malformed hash", []string{"read-data-blob", "12zz"}, "hex digits"},
		{"a blob nobody published", []string{"read-data-blob", strings.Repeat("ab", 32)}, "no validator has it"},
	}
	bigFile := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(bigFile, big, 0o644); err != nil {
		t.Fatal(err)
	}
	refused = append(refused, struct {
		name string
		args []string
		want string
	}{"a file over MaxBlobSize", []string{"publish-data-blob", bigFile}, "MaxBlobSize"})
	for _, r := range refused {
		stdout, stderr, err := mica(t, w, r.args...)
		if err == nil || !strings.Contains(stderr, r.want) || stdout != "" {
			t.Errorf("%s: err=%v stdout=%q stderr=%q, want a failure saying %q", r.name, err, stdout, stderr, r.want)
		} else {
			t.Logf("%s: %s", r.name, stderr)
		}
	}
	// With --json, the refusals are JSON errors of the kinds a script branches on.
	for _, c := range []struct {
		args []string
		kind string
	}{
		{[]string{"read-data-blob", strings.Repeat("ab", 32)}, "not_found"},
		{[]string{"read-data-blob", "12zz"}, "invalid"},
		{[]string{"publish-data-blob", "--url", store.URL + "/blobs/wrong", "--hash", storedHash}, "invalid"},
		{[]string{"publish-data-blob", bigFile}, "invalid"},
		{[]string{"publish-data-blob"}, "usage"},
	} {
		stdout, stderr, _ := mica(t, w, append(c.args, "--json")...)
		var je jsonError
		if err := json.Unmarshal([]byte(stderr), &je); err != nil || stdout != "" || je.Error.Kind != c.kind {
			t.Errorf("mica %v --json: stdout %q, stderr %q; want a JSON error of kind %s", c.args, stdout, stderr, c.kind)
		}
	}
	// Nothing refused was published: no block follows the last publication.
	if _, _, err := mica(t, w, "show-block", chain, strconv.FormatUint(last+1, 10)); err == nil {
		t.Error("a refused publication committed a block")
	}
}
