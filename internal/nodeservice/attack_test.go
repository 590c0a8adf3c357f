package nodeservice_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackSlowSubscriberDropped: a subscriber that never reads cannot block the node:
// Publish returns at once, and the subscriber is dropped once its buffer is full.
func TestAttackSlowSubscriberDropped(t *testing.T) {
	h := nodeservice.NewHub()
	slow := h.Subscribe(nil, 2)
	var chain base.ChainID
	fast := h.Subscribe(&chain, 100)
	for i := 0; i < 50; i++ {
		h.Publish(protocol.Notification{ChainID: chain, Kind: protocol.ReasonNewBlock, Height: base.BlockHeight(i)})
	}
	if !slow.Overflowed() || h.Subscribers() != 1 {
		t.Fatalf("slow subscriber: overflowed %v, %d subscribers left", slow.Overflowed(), h.Subscribers())
	}
	got := 0
	for range len(fast.C) {
		<-fast.C
		got++
	}
	if got != 50 || fast.Overflowed() {
		t.Fatalf("the fast subscriber got %d of 50", got)
	}
	// Duplicates (the local replica and the service's sync both report a block) go once.
	h.Publish(protocol.Notification{ChainID: chain, Kind: protocol.ReasonNewBlock, Height: 3})
	if len(fast.C) != 0 {
		t.Fatal("a duplicate notification was delivered again")
	}
}

// TestAttackPanicIsContained: a panicking extra handler answers 500 and the service keeps
// serving; extra handlers need the token.
func TestAttackPanicIsContained(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	const token = "0123456789abcdef-token"
	s := n.service(0, serviceOpts{token: token})
	s.Mount("/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	if status, out := s.post("/boom", "", `{}`); status != http.StatusUnauthorized {
		t.Errorf("extra handler without the token: %d %v", status, out)
	}
	if status, out := s.post("/boom", token, `{}`); status != http.StatusInternalServerError || !strings.Contains(firstError(out), "internal error") {
		t.Errorf("panicking handler: %d %v", status, out)
	}
	if status, out := s.post("/", "", `{"query": "{ wallet { defaultChain } }"}`); status != http.StatusOK || firstError(out) != "" {
		t.Errorf("after the panic: %d %v", status, out)
	}
}

// TestAttackCrossOrigin: without --allow-origin a browser page of another origin gets no
// CORS grant (preflights are refused) and cannot open a websocket; an allowed origin can.
func TestAttackCrossOrigin(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	req, _ := http.NewRequest(http.MethodOptions, s.server.URL+"/", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req, _ = http.NewRequest(http.MethodGet, s.server.URL+"/", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Error("a websocket from another origin was accepted")
	}
}

// TestBrowserPages: a browser GET of any GraphQL endpoint gets the GraphiQL page, which
// loads its scripts from /assets/ (served from the binary), and /wallet/ is the wallet.
func TestBrowserPages(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	get := func(p string, html bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, s.server.URL+p, nil)
		if html {
			req.Header.Set("Accept", "text/html,application/xhtml+xml")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/", "/chains/" + n.chains[0].String() + "/applications/" + strings.Repeat("ab", 32)} {
		status, body := get(p, true)
		if status != http.StatusOK || !strings.Contains(body, "graphiql") || !strings.Contains(body, `data-endpoint="`+p+`"`) {
			t.Errorf("GraphiQL at %s: %d\n%.300s", p, status, body)
		}
	}
	_, page := get("/", true)
	m := regexp.MustCompile(`src="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(m) == 0 {
		t.Fatal("the GraphiQL page loads no script from /assets/")
	}
	for _, src := range m {
		if status, _ := get(src[1], false); status != http.StatusOK {
			t.Errorf("%s: %d", src[1], status)
		}
	}
	if status, body := get("/wallet/", true); status != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("/wallet/: %d", status)
	}
}

// TestAttackDNSRebinding: with LoopbackHosts (what mica service sets on loopback), a
// request naming another host (a rebound attacker domain) is refused.
func TestAttackDNSRebinding(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{loopbackHosts: true})
	for host, want := range map[string]int{"attacker.example:8080": http.StatusMisdirectedRequest, "localhost:8080": http.StatusOK, "127.0.0.1": http.StatusOK, "[::1]:1": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodPost, s.server.URL+"/", strings.NewReader(`{"query": "{ wallet { defaultChain } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
	// In-process requests (the MCP server's) are not refused.
	if out, status := s.Exec(context.Background(), "/", []byte(`{"query": "{ wallet { defaultChain } }"}`)); status != http.StatusOK {
		t.Errorf("Exec under LoopbackHosts: %d %s", status, out)
	}
}
