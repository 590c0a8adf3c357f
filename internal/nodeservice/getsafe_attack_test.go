package nodeservice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/wallet"
)

// strangersChains returns chains that exist on the validators but that the replica of a
// new service of owner 0 does not hold: owner 1's genesis chain, with a block per chain
// it opened, and those chains.
func strangersChains(t *testing.T, n *testNet) []base.ChainID {
	t.Helper()
	owner := n.service(1, serviceOpts{})
	chains := []base.ChainID{n.chains[1]}
	for range 3 {
		d := owner.gql(`mutation { openChain(balance: "1") { chainId } }`, nil)
		id, err := base.ParseChainID(fmt.Sprint(path(d, "openChain", "chainId")))
		if err != nil {
			t.Fatalf("openChain: %v (%v)", err, d)
		}
		chains = append(chains, id)
	}
	// No more syncs of these chains but the ones the test makes, and none counted yet.
	owner.stop()
	for _, node := range n.nodes {
		node.askedMu.Lock()
		node.asked = nil
		node.askedMu.Unlock()
	}
	return chains
}

// held returns the chains of ids whose state the service's local replica holds (a
// genesis chain only once it has blocks there: every replica starts with their
// genesis state).
func (n *testNet) held(s *service, ids []base.ChainID) []base.ChainID {
	var out []base.ChainID
	for _, id := range ids {
		tip, err := s.c.LocalTip(context.Background(), id)
		if err == nil && (tip.NextHeight > 0 || !slices.Contains(n.chains, id)) {
			out = append(out, id)
		}
	}
	return out
}

// asked returns the chains of ids that some validator was asked about.
func (n *testNet) asked(ids []base.ChainID) []base.ChainID {
	var out []base.ChainID
	for _, id := range ids {
		for _, node := range n.nodes {
			if node.askedAbout()[id] {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// chainsQuery names each chain of ids under an alias.
func chainsQuery(ids []base.ChainID) string {
	var q strings.Builder
	q.WriteString("{")
	for i, id := range ids {
		fmt.Fprintf(&q, " c%d: chain(chain: %q) { nextHeight }", i, id.String())
	}
	q.WriteString(" }")
	return q.String()
}

// ask sends a request with the given headers (and body, for a POST) and returns the
// HTTP status and the decoded answer (nil if it is not JSON).
func (s *service) ask(method, target, body string, headers map[string]string) (int, map[string]any) {
	s.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	status, raw := s.send(method, target, b, headers)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return status, out
}

// TestAttackGetQueryDoesNotGrowReplica: a web page the user opens makes the browser
// send GET queries to the node service (an <img src>, a no-cors fetch: no preflight,
// no token on loopback), each naming 16 chains outside the wallet. Each chain was looked
// up on every validator, its history downloaded, executed and stored in the local
// replica for good: page after page, the user's disk filled with strangers' chains. A
// GET now answers from the local replica only, and says to POST to fetch a chain; an
// application GET on such a chain does not fetch it either.
func TestAttackGetQueryDoesNotGrowReplica(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	strangers := strangersChains(t, n)
	s := n.service(0, serviceOpts{})
	if got := n.held(s, strangers); len(got) != 0 {
		t.Fatalf("a new replica holds %d of the strangers' chains before any query", len(got))
	}
	status, out := s.ask(http.MethodGet, "/?query="+url.QueryEscape(chainsQuery(strangers)), "", nil)
	app := strings.Repeat("ab", 32)
	appStatus, appOut := s.ask(http.MethodGet, "/chains/"+strangers[1].String()+"/applications/"+app+"?query="+url.QueryEscape("{ value }"), "", nil)
	asked, held := n.asked(strangers), n.held(s, strangers)
	t.Logf("GET queries naming %d chains outside the wallet: %d looked up on the validators, %d stored in the replica", len(strangers), len(asked), len(held))
	if len(asked) != 0 || len(held) != 0 {
		t.Errorf("GET queries made the node look up %d and store %d chains outside the wallet, want none", len(asked), len(held))
	}
	t.Logf("the answer: %s", firstError(out))
	if msg := firstError(out); status != http.StatusOK || !strings.Contains(msg, "POST") {
		t.Errorf("GET of chains outside the wallet: status %d, error %q; want 200 and an error saying to POST", status, msg)
	}
	if msg := firstError(appOut); appStatus != http.StatusNotFound || !strings.Contains(msg, "POST") {
		t.Errorf("application GET on a chain outside the wallet: status %d, error %q; want 404 and an error saying to POST", appStatus, msg)
	}
}

// TestCrossSiteRequestsDoNotSync: a request a browser marks as sent by another site's
// page (Sec-Fetch-Site: cross-site, or same-site: another port of localhost) syncs
// nothing, whatever its method: a POST is refused (403) unless --allow-origin names the
// origin, and only a named origin's syncs; a form or text/plain POST (no preflight) is
// not a GraphQL request. A JSON POST from the CLI or curl (no Sec-Fetch-Site), or from
// the service's own pages, still syncs chains outside the wallet on demand, and a GET
// then answers them from the replica.
func TestCrossSiteRequestsDoNotSync(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	strangers := strangersChains(t, n)
	s := n.service(0, serviceOpts{})
	// A chain the replica does not hold (a new one), and owner 1's chain whose blocks
	// the replica lacks.
	body := fmt.Sprintf(`{"query": %q}`, chainsQuery(strangers[1:2]))
	withBlocks := fmt.Sprintf(`{"query": %q}`, chainsQuery(strangers[:1]))
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"cross-site JSON POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-site JSON POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"}, http.StatusForbidden},
		{"text/plain POST", map[string]string{"Content-Type": "text/plain"}, http.StatusBadRequest},
		{"form POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusBadRequest},
	} {
		status, out := s.ask(http.MethodPost, "/", body, c.headers)
		if status != c.status {
			t.Errorf("%s: status %d (%v), want %d", c.name, status, out, c.status)
		}
	}
	status, out := s.ask(http.MethodGet, "/?query="+url.QueryEscape(chainsQuery(strangers[1:2])), "", map[string]string{"Sec-Fetch-Site": "cross-site"})
	if msg := firstError(out); status != http.StatusOK || msg == "" {
		t.Errorf("cross-site GET: status %d, %v; want an error", status, out)
	}
	if got := n.asked(strangers); len(got) != 0 {
		t.Fatalf("cross-site requests made the node look up %d chains outside the wallet, want none", len(got))
	}
	// With --allow-origin "*" (any page may read), another site's JSON POST passes CORS
	// but syncs nothing.
	open := n.service(0, serviceOpts{allowOrigins: []string{"*"}})
	status, out = open.ask(http.MethodPost, "/", body, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	if msg := firstError(out); status != http.StatusOK || !strings.Contains(msg, "another site") {
		t.Errorf("cross-site JSON POST under --allow-origin '*': status %d, %v; want an error", status, out)
	}
	// A browser that does not send Sec-Fetch-Site: its Origin names another host.
	status, out = open.ask(http.MethodPost, "/", body, map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:3001"})
	if msg := firstError(out); status != http.StatusOK || !strings.Contains(msg, "another site") {
		t.Errorf("JSON POST with another Origin under --allow-origin '*': status %d, %v; want an error", status, out)
	}
	if got := n.asked(strangers); len(got) != 0 {
		t.Fatalf("cross-site requests made the node look up %d chains outside the wallet, want none", len(got))
	}
	// A dApp's origin that --allow-origin names may.
	dapp := n.service(0, serviceOpts{allowOrigins: []string{"http://localhost:3000"}})
	status, out = dapp.ask(http.MethodPost, "/", withBlocks, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"})
	if status != http.StatusOK || firstError(out) != "" || path(out, "data", "c0", "nextHeight") != float64(3) {
		t.Errorf("JSON POST from an allowed origin: status %d, %v", status, out)
	}
	// The CLI, curl, the MCP server: a JSON POST without Sec-Fetch-Site.
	s.gql(chainsQuery(strangers[:2]), nil)
	// The service's own pages (the web wallet, GraphiQL).
	status, out = s.ask(http.MethodPost, "/", fmt.Sprintf(`{"query": %q}`, chainsQuery(strangers[2:])), map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"})
	if status != http.StatusOK || firstError(out) != "" {
		t.Errorf("same-origin JSON POST: status %d, %v", status, out)
	}
	if got := n.held(s, strangers); len(got) != len(strangers) {
		t.Errorf("JSON POSTs synced %d of %d chains outside the wallet", len(got), len(strangers))
	}
	// Once held, a GET answers them from the replica.
	status, out = s.ask(http.MethodGet, "/?query="+url.QueryEscape(chainsQuery(strangers)), "", nil)
	if status != http.StatusOK || firstError(out) != "" || path(out, "data", "c0", "nextHeight") != float64(3) {
		t.Errorf("GET of held chains: status %d, %v", status, out)
	}
}

// TestBadAllowedOriginRefused: an allowed origin that is not scheme://host[:port] (no
// Origin header can match it) stops the service at start with the reason.
func TestBadAllowedOriginRefused(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	w, err := wallet.Create(t.TempDir(), n.genesis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	for _, o := range []string{"localhost:3000", "http://localhost:3000/app"} {
		_, err := nodeservice.New(nodeservice.Config{Wallet: w, Client: n.client(nil), AllowOrigins: []string{o}})
		if err == nil || !strings.Contains(err.Error(), "scheme://host[:port]") {
			t.Errorf("AllowOrigins %q: %v, want an error naming the form of an origin", o, err)
		}
	}
}
