package nodeservice_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary bodies to the system endpoint and to an application
// endpoint: every answer is JSON with a status below 500 (no panic, no internal error).
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"query": "{ wallet { defaultChain } }"}`,
		`{"query": "{ chain { balance blocks(limit: 3) { height operations { kind } } } }"}`,
		`{"query": "query Q($c: ChainID) { chain(chain: $c) { inbox { pendingBundles } } }", "variables": {"c": 5}}`,
		`{"query": "mutation { transfer(recipient: \"x\", amount: \"1e99\") { hash } }"}`,
		`{"query": "{ blob(id: \"Data:00\") { size } }"}`,
		`{"query": "fragment F on Query { ...F } { ...F }"}`,
		`{"query": "{ value }", "variables": [1]}`,
		`[]`, `null`, `{"query": 1}`, "\x00\xff",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	n := newTestNet(f, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	app := "/chains/" + n.chains[0].String() + "/applications/" + strings.Repeat("ab", 32)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body string, toApp bool) {
		p := "/"
		if toApp {
			p = app
		}
		out, status := s.Exec(ctx, p, []byte(body))
		if status >= http.StatusInternalServerError {
			t.Fatalf("status %d for %q: %s", status, body, out)
		}
		if !json.Valid(out) {
			t.Fatalf("answer to %q is not JSON: %s", body, out)
		}
	})
}
