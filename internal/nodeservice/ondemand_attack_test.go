package nodeservice_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/nodeservice"
)

// TestAttackOnDemandSyncBounded: one query (no token needed on loopback, and a GET, so
// any web page the user opens can send it) names 1,000 chains outside the wallet. Each
// is "synced on demand": before the bound, every one was looked up on every validator
// (its description, its chain-info) and, if it exists, its whole history downloaded,
// executed and stored; all at once, since gqlgen resolves the fields concurrently. Now
// one request syncs at most nodeservice.MaxOnDemandChains chains outside the wallet; the
// others are refused with a clear error, and a chain named twice counts once.
func TestAttackOnDemandSyncBounded(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	const named = 1000
	var q strings.Builder
	q.WriteString("{")
	// The wallet's chain and the other genesis chain (outside the wallet, real), each
	// named twice, then made-up chains.
	for i, id := range []base.ChainID{n.chains[0], n.chains[1], n.chains[0], n.chains[1]} {
		fmt.Fprintf(&q, " r%d: chain(chain: %q) { nextHeight }", i, id.String())
	}
	for i := range named {
		id := base.ChainID(crypto.HashBytes("made-up chain", fmt.Append(nil, i)))
		fmt.Fprintf(&q, " c%d: chain(chain: %q) { nextHeight }", i, id.String())
	}
	q.WriteString(" }")
	req, err := http.NewRequest(http.MethodGet, s.server.URL+"/?query="+url.QueryEscape(q.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	outside := map[base.ChainID]bool{}
	for _, node := range n.nodes {
		for id := range node.askedAbout() {
			if id != n.chains[0] {
				outside[id] = true
			}
		}
	}
	if len(outside) > nodeservice.MaxOnDemandChains {
		t.Fatalf("one query made the node look up %d chains outside the wallet, want at most %d", len(outside), nodeservice.MaxOnDemandChains)
	}
	// The bound refuses the excess, not the chains a request may sync: the wallet's
	// chain and the real chain outside it, named first, are answered.
	status, out := s.post("/", "", fmt.Sprintf(`{"query": "{ a: chain(chain: \"%s\") { nextHeight } b: chain(chain: \"%s\") { nextHeight } }"}`, n.chains[0], n.chains[1]))
	if status != http.StatusOK || firstError(out) != "" {
		t.Fatalf("a query of two chains: %d %v", status, out)
	}
}

// TestAttackInboxAliasesAskOnce: one query (a GET: any web page) asks for a chain's
// inbox under 60 aliases. Each asked every validator for the chain's pending bundles
// (up to 10,000 bundles and 16 MiB each, which strangers' bundles fill): 60 fan-outs
// for one request. A request now asks once per chain.
func TestAttackInboxAliasesAskOnce(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	count := func() int64 {
		var c int64
		for _, node := range n.nodes {
			c += node.pendingQueries.Load()
		}
		return c
	}
	before := count()
	var q strings.Builder
	q.WriteString("{")
	for i := range 60 {
		fmt.Fprintf(&q, " i%d: chain { inbox { pendingBundles } }", i)
	}
	q.WriteString(" }")
	status, out := s.post("/", "", map[string]any{"query": q.String()})
	if status != http.StatusOK || firstError(out) != "" {
		t.Fatalf("query: %d %v", status, out)
	}
	if asked := count() - before; asked > int64(len(n.nodes)) {
		t.Errorf("60 aliases of one chain's inbox asked the validators %d times, want at most %d (once each)", asked, len(n.nodes))
	}
}
