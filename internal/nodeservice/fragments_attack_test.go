package nodeservice_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fragmentFanOut is a query of n fragments, each spreading the next one twice, the
// last selecting one field: 2^n paths through the fragments, in about n×60 bytes.
func fragmentFanOut(n int) string {
	var q strings.Builder
	q.WriteString("query { ...F0 }\n")
	for i := range n {
		fmt.Fprintf(&q, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&q, "fragment F%d on Query { wallet { defaultChain } }\n", n)
	return q.String()
}

// TestAttackFragmentFanOut: a stranger sends a query of 64 fragments each spreading the
// next twice: 4 KiB naming 2^64 paths to one field. Queries need no token on loopback,
// and a GET needs no CORS preflight, so a web page the user opens can send it
// (<img src="http://127.0.0.1:PORT/?query=...">). The complexity limit and the depth
// limit walked every path (2^26 paths took 45 s; 2^64 held a core for ever, which the
// request's timeout cannot stop). It is refused at once, by POST and by GET, and the
// service keeps answering.
func TestAttackFragmentFanOut(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	q := fragmentFanOut(64)
	const refusal = "expands to more than"
	if status, out := s.post("/", "", map[string]string{"query": q}); status != http.StatusOK || !strings.Contains(firstError(out), refusal) {
		t.Fatalf("fan-out query: %d %v", status, out)
	}
	resp, err := http.Get(s.server.URL + "/?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	_ = resp.Body.Close()
	if err != nil || !strings.Contains(firstError(out), refusal) {
		t.Fatalf("fan-out query by GET: %v %v", err, out)
	}
	// A query of the same shape with few paths is answered.
	if status, out := s.post("/", "", map[string]string{"query": fragmentFanOut(3)}); status != http.StatusOK || firstError(out) != "" {
		t.Fatalf("a query of 8 paths: %d %v", status, out)
	}
}
