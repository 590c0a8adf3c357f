package nodeservice_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/nodeservice"
)

// TestAttackBlockListsBoundedByBytes: one query (no token on loopback, a GET: any web
// page) lists a chain's blocks again and again under aliases, up to the complexity
// limit. The blocks of a chain outside the wallet are a stranger's, up to MaxBlockSize
// each; every list read its blocks whole and answered each with its certificate in
// base64: 100 blocks of 16 MiB per list. The lists and application scans of one request
// now share Limits.MaxReadBytes of certificates (here 3 blocks' worth): they answer a
// prefix, then refuse.
func TestAttackBlockListsBoundedByBytes(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	probe := n.service(0, serviceOpts{})
	const blocks = 8
	for range blocks {
		probe.gql(fmt.Sprintf(`mutation { transfer(recipient: %q, amount: "1") { hash } }`, n.chains[1].String()), nil)
	}
	d := probe.gql(`{ blocks(limit: 1) { certificate { base64 } } }`, nil)
	size := len(decode64(t, path(d, "blocks", 0, "certificate", "base64").(string)))
	limit := 3*size + size/2
	s := n.service(0, serviceOpts{limits: nodeservice.Limits{MaxReadBytes: limit}})
	eventually(t, "the second service synced", func() bool {
		return path(s.gql(`{ chain { nextHeight } }`, nil), "chain", "nextHeight") == float64(blocks)
	})
	var q strings.Builder
	q.WriteString("{")
	for i := range 6 {
		fmt.Fprintf(&q, " b%d: blocks(limit: 100) { height certificate { base64 } } a%d: applications { applicationId }", i, i)
	}
	q.WriteString(" c: chain { blocks(from: 0, limit: 100) { height certificate { base64 } } } }")
	_, out := s.post("/", "", map[string]any{"query": q.String()})
	data, _ := out["data"].(map[string]any)
	listed, total := 0, 0
	var lists []any
	for i := range 6 {
		if l, ok := data[fmt.Sprintf("b%d", i)].([]any); ok {
			lists = append(lists, l...)
		}
	}
	if c, ok := data["c"].(map[string]any); ok {
		if l, ok := c["blocks"].([]any); ok {
			lists = append(lists, l...)
		}
	}
	for _, b := range lists {
		listed++
		total += len(decode64(t, path(b, "certificate", "base64").(string)))
	}
	if total > limit+size {
		t.Errorf("one query listed %d blocks, %d bytes of certificates, want at most %d (the budget and one block)", listed, total, limit+size)
	}
	if listed == 0 {
		t.Errorf("no block listed: %v", out)
	}
	// A request within the budget is answered in full, newest first.
	d = s.gql(`{ blocks(limit: 3) { height } }`, nil)
	if got := path(d, "blocks"); len(got.([]any)) != 3 || path(d, "blocks", 0, "height") != float64(blocks-1) {
		t.Errorf("three latest blocks: %v", got)
	}
	d = s.gql(`{ blocks(from: 2, limit: 3) { height } }`, nil)
	if got := path(d, "blocks"); len(got.([]any)) != 3 || path(d, "blocks", 0, "height") != float64(2) {
		t.Errorf("three blocks from height 2: %v", got)
	}
}

func decode64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttackBlobQueriesBoundedByBytes: a blob query read the blob whole (up to 32 MiB
// of bytecode) to tell its size, once per alias, up to the complexity limit: one GET
// query read GBs. The blob queries of one request now share its read budget with the
// block lists: here 10 aliases of a 100 KB blob against 250 KB, 3 answered.
func TestAttackBlobQueriesBoundedByBytes(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{limits: nodeservice.Limits{MaxReadBytes: 250_000}})
	content := base64.StdEncoding.EncodeToString(make([]byte, 100_000))
	d := s.gql(`mutation($c: String!) { publishDataBlob(contentBase64: $c) { hash } }`, map[string]any{"c": content})
	id, _ := path(d, "publishDataBlob", "hash").(string)
	if id == "" {
		t.Fatalf("publish: %v", d)
	}
	var q strings.Builder
	q.WriteString("{")
	for i := range 10 {
		fmt.Fprintf(&q, " b%d: blob(id: %q) { size }", i, id)
	}
	q.WriteString(" }")
	_, out := s.post("/", "", map[string]any{"query": q.String()})
	data, _ := out["data"].(map[string]any)
	answered := 0
	for i := range 10 {
		if b, ok := data[fmt.Sprintf("b%d", i)].(map[string]any); ok && b["size"] == float64(100_000) {
			answered++
		}
	}
	if answered != 3 {
		t.Errorf("%d of 10 blob queries of 100 KB answered within 250 KB, want 3: %v", answered, firstError(out))
	}
}
