package webui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/websocket"

	"github.com/micachain/mica/internal/nodeservice/webui/webuitest"
)

// fakeNode answers the system GraphQL operations the wallet sends, by
// operation name, with the shapes of the shared system schema, and pushes
// notifications over graphql-transport-ws. It lets the page be tested in a
// browser without a network of validators; cmd/mica's end-to-end test runs
// the same page against the real service.
type fakeNode struct {
	mu       sync.Mutex
	token    string // required for mutations when set
	chains   []*fakeChain
	subs     map[*websocket.Conn][]string // connection -> subscription ids
	authSeen []string
}

type fakeChain struct {
	id, owner string
	balance   int
	blocks    []map[string]any
}

func newFakeNode(token string) *fakeNode {
	n := &fakeNode{token: token, subs: map[*websocket.Conn][]string{}}
	n.chains = []*fakeChain{
		{id: strings.Repeat("a1", 32), owner: "ed25519:" + strings.Repeat("0f", 32), balance: 100},
		{id: strings.Repeat("b2", 32), owner: "ed25519:" + strings.Repeat("1e", 32), balance: 5},
	}
	for _, c := range n.chains {
		c.addBlock(nil, nil)
	}
	return n
}

func (c *fakeChain) addBlock(ops, incoming []map[string]any) map[string]any {
	h := len(c.blocks)
	if ops == nil {
		ops = []map[string]any{}
	}
	if incoming == nil {
		incoming = []map[string]any{}
	}
	b := map[string]any{
		"chainId": c.id, "height": h, "hash": fmt.Sprintf("%064x", h*1000+len(c.id)+int(c.id[0])),
		"previousHash": nil, "timestamp": 1764900000000000 + h*1000000, "epoch": 0,
		"authenticatedOwner": c.owner, "round": "Fast",
		"operations": ops, "incomingBundles": incoming, "outgoingMessages": []any{}, "events": []any{},
		"certificate": map[string]any{"hash": fmt.Sprintf("%064x", h+7), "kind": "Confirmed", "round": "Fast", "signatures": 3, "base64": ""},
	}
	c.blocks = append(c.blocks, b)
	return b
}

func (n *fakeNode) chain(id string) *fakeChain {
	for _, c := range n.chains {
		if c.id == id {
			return c
		}
	}
	return nil
}

var opName = regexp.MustCompile(`^\s*(query|mutation|subscription)\s+(\w+)`)

func (n *fakeNode) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	m := opName.FindStringSubmatch(req.Query)
	name := ""
	if m != nil {
		name = m[2]
	}
	n.mu.Lock()
	n.authSeen = append(n.authSeen, r.Header.Get("Authorization"))
	if m != nil && m[1] == "mutation" && n.token != "" && r.Header.Get("Authorization") != "Bearer "+n.token {
		n.mu.Unlock()
		http.Error(w, "a bearer token is required for mutations", http.StatusUnauthorized)
		return
	}
	data, gqlErr, notify := n.answer(name, req.Variables)
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	out := map[string]any{"data": data}
	if gqlErr != "" {
		out = map[string]any{"data": nil, "errors": []any{map[string]any{"message": gqlErr}}}
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		return
	}
	for _, ev := range notify {
		n.notify(ev)
	}
}

func str(v any) string { s, _ := v.(string); return s }

// answer runs one operation under n.mu; it returns notifications to send
// after the lock is released.
func (n *fakeNode) answer(name string, vars map[string]any) (data any, gqlErr string, notify []map[string]any) {
	chainOr := func(v any) *fakeChain {
		if s := str(v); s != "" {
			return n.chain(s)
		}
		return n.chains[0]
	}
	switch name {
	case "WalletChains":
		var chains []any
		for i, c := range n.chains {
			chains = append(chains, map[string]any{"chainId": c.id, "owner": c.owner, "isDefault": i == 0, "nextHeight": len(c.blocks), "balance": strconv.Itoa(c.balance)})
		}
		return map[string]any{"wallet": map[string]any{"defaultChain": n.chains[0].id, "owners": []any{n.chains[0].owner}, "chains": chains}}, "", nil
	case "ChainPanel":
		c := chainOr(vars["chain"])
		if c == nil {
			return nil, "unknown chain " + str(vars["chain"]), nil
		}
		var blocks []any
		for i := len(c.blocks) - 1; i >= 0 && len(blocks) < 10; i-- {
			blocks = append(blocks, c.blocks[i])
		}
		return map[string]any{"chain": map[string]any{
			"chainId": c.id, "balance": strconv.Itoa(c.balance), "epoch": 0, "nextHeight": len(c.blocks),
			"tipHash": c.blocks[len(c.blocks)-1]["hash"], "timestamp": 1764900000000000, "closed": false,
			"ownerBalances": []any{},
			"ownership":     map[string]any{"superOwners": []any{c.owner}, "owners": []any{}, "multiLeaderRounds": 0, "open": false},
			"inbox":         map[string]any{"pendingBundles": 0, "bundles": []any{}},
			"outbox":        map[string]any{"targets": 0, "pendingHeights": 0},
			"applications": []any{map[string]any{"applicationId": strings.Repeat("cc", 32), "description": map[string]any{"name": "<b>counter</b>"},
				"link": "javascript:alert(1)"}},
			"blocks": blocks,
		}}, "", nil
	case "BlockByHeight", "IncomingOfBlock":
		c := chainOr(vars["chain"])
		if c == nil {
			return nil, "unknown chain " + str(vars["chain"]), nil
		}
		h := len(c.blocks) - 1
		if v, ok := vars["height"].(float64); ok {
			h = int(v)
		}
		if h < 0 || h >= len(c.blocks) {
			return map[string]any{"block": nil}, "", nil
		}
		return map[string]any{"block": c.blocks[h]}, "", nil
	case "Transfer":
		from := chainOr(vars["chain"])
		amount, err := strconv.Atoi(str(vars["amount"]))
		if from == nil || err != nil || amount <= 0 {
			return nil, "invalid transfer", nil
		}
		if amount > from.balance {
			return nil, fmt.Sprintf("insufficient balance: %d < %d", from.balance, amount), nil
		}
		from.balance -= amount
		to := n.chain(str(vars["recipient"]))
		b := from.addBlock([]map[string]any{{
			"index": 0, "kind": "Transfer", "applicationId": nil,
			"summary": fmt.Sprintf("Transfer %d to %s <img src=x id=xss>", amount, str(vars["recipient"])),
			"json":    map[string]any{"recipient": vars["recipient"], "amount": vars["amount"]},
		}}, nil)
		notify = append(notify, map[string]any{"chainId": from.id, "kind": "NEW_BLOCK", "height": b["height"], "hash": b["hash"], "origin": nil, "round": nil})
		if to != nil {
			to.balance += amount
			rb := to.addBlock(nil, []map[string]any{{"origin": from.id, "height": b["height"], "action": "Accept",
				"messages": []any{map[string]any{"destination": to.id, "kind": "Credit", "applicationId": nil, "summary": fmt.Sprintf("Credit %d", amount), "json": nil}}}})
			notify = append(notify, map[string]any{"chainId": to.id, "kind": "NEW_BLOCK", "height": rb["height"], "hash": rb["hash"], "origin": nil, "round": nil})
		}
		return map[string]any{"transfer": map[string]any{"chainId": from.id, "height": b["height"], "hash": b["hash"]}}, "", notify
	default:
		return nil, "the fake node does not answer " + strconv.Quote(name), nil
	}
}

// notify sends one notification to every subscriber.
func (n *fakeNode) notify(ev map[string]any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for conn, ids := range n.subs {
		for _, id := range ids {
			if err := websocket.JSON.Send(conn, map[string]any{"id": id, "type": "next", "payload": map[string]any{"data": map[string]any{"notifications": ev}}}); err != nil {
				delete(n.subs, conn)
			}
		}
	}
}

// dropAll ends every subscription as the service does for a subscriber that
// fell behind: a DROPPED notification, then complete.
func (n *fakeNode) dropAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for conn, ids := range n.subs {
		for _, id := range ids {
			ev := map[string]any{"chainId": n.chains[0].id, "kind": "DROPPED", "height": 0, "hash": nil, "origin": nil, "round": nil}
			if websocket.JSON.Send(conn, map[string]any{"id": id, "type": "next", "payload": map[string]any{"data": map[string]any{"notifications": ev}}}) != nil ||
				websocket.JSON.Send(conn, map[string]any{"id": id, "type": "complete"}) != nil {
				break
			}
		}
		delete(n.subs, conn)
	}
}

func (n *fakeNode) subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, ids := range n.subs {
		k += len(ids)
	}
	return k
}

// serveWS speaks the server side of graphql-transport-ws.
func (n *fakeNode) serveWS(conn *websocket.Conn) {
	defer func() {
		n.mu.Lock()
		delete(n.subs, conn)
		n.mu.Unlock()
		conn.Close()
	}()
	for {
		var msg struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := websocket.JSON.Receive(conn, &msg); err != nil {
			return
		}
		n.mu.Lock()
		var err error
		switch msg.Type {
		case "connection_init":
			err = websocket.JSON.Send(conn, map[string]any{"type": "connection_ack"})
		case "subscribe":
			n.subs[conn] = append(n.subs[conn], msg.ID)
		case "ping":
			err = websocket.JSON.Send(conn, map[string]any{"type": "pong"})
		}
		n.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (n *fakeNode) handler() http.Handler {
	ws := websocket.Server{
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			cfg.Protocol = []string{"graphql-transport-ws"}
			return nil
		},
		Handler: n.serveWS,
	}
	page := GraphiQL("/", "")
	mux := http.NewServeMux()
	mux.Handle("/assets/", Assets())
	mux.Handle("/wallet/", Wallet())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /{$}", n.serveGraphQL)
	return mux
}

// TestBrowserWalletAgainstFakeNode drives the wallet page in headless
// Chromium against a fake system endpoint: balances, bad input in the
// transfer form, a refused mutation without the token, a transfer, live
// blocks by subscription without a reload, the block view (with markup in a
// summary shown as text), application links, and GraphiQL from local assets
// with no request leaving loopback.
func TestBrowserWalletAgainstFakeNode(t *testing.T) {
	node := newFakeNode("s3cret")
	srv := httptest.NewServer(node.handler())
	defer srv.Close()
	b := webuitest.Start(t, 90*time.Second)
	ctx := b.Ctx
	a, bID := node.chains[0].id, node.chains[1].id

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			for _, p := range b.Log.Problems() {
				t.Logf("page: %s", p)
			}
			if html, herr := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main:not([hidden])"))); herr == nil {
				t.Logf("visible main:\n%s", html)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitText := func(sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
		must(fmt.Sprintf("wait for %s to show %q", sel, want), err)
	}
	waitExact := func(sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.trim() === %q; })()`, sel, want)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
		must(fmt.Sprintf("wait for %s to be %q", sel, want), err)
	}

	waitSubscribed := func() {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); node.subscribers() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				must("subscription", fmt.Errorf("the page has no notifications subscription after 20 s"))
			}
		}
	}

	// Open with ?token=: the page keeps it and drops it from the address.
	must("open the wallet", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/wallet/?token=s3cret")))
	waitExact("#balance-"+a, "100")
	waitExact("#balance-"+bID, "5")
	waitText("#live-status", "Live")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	if strings.Contains(loc, "s3cret") {
		t.Errorf("the token stays in the address bar: %s", loc)
	}
	must("mark the page", chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`)))

	// Application links are built from the ids, never the server's link.
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#applications a.graphiql-link"), "href"))
	must("application link", err)
	if want := "/chains/" + a + "/applications/" + strings.Repeat("cc", 32); href.Value != want {
		t.Errorf("application link %q, want %q", href.Value, want)
	}

	// Bad input is refused in the page with a clear message.
	must("bad amount", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("transfer-recipient"), bID),
		chromedp.SendKeys(chromedp.ID("transfer-amount"), "ten"),
		chromedp.Click(chromedp.ID("transfer-submit")),
	))
	waitText("#transfer-error", "positive decimal number")
	must("zero amount", chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("transfer-amount"), "0"), chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-error", "more than zero")
	must("bad recipient", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("transfer-recipient"), "<script>"),
		chromedp.SetValue(chromedp.ID("transfer-amount"), "1"),
		chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-error", "not a chain id")

	// The node's own errors are shown as given.
	must("too much", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("transfer-recipient"), bID),
		chromedp.SetValue(chromedp.ID("transfer-amount"), "1000"),
		chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-error", "insufficient balance")

	// Without the token the node refuses, and the page says why.
	must("forget token", chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.removeItem("mica.token")`)))
	must("transfer without token", chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("transfer-amount"), "7"), chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-error", "bearer token")
	if node.chains[0].balance != 100 {
		t.Fatalf("a refused transfer moved tokens")
	}
	must("set token", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#token-settings summary")),
		chromedp.SendKeys(chromedp.ID("token-input"), "s3cret"),
		chromedp.Click(chromedp.ID("token-save"))))
	waitText("#token-state", "A token is set")

	// A transfer through the form; the balances and the live lists follow.
	must("transfer", chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("transfer-amount"), "7"), chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-result", "Sent 7")
	waitExact("#balance-"+a, "93")
	waitExact("#balance-"+bID, "12")
	waitText("#activity", "New block 1")
	waitText("#incoming", "Credit 7")
	waitText("#blocks-body", "1")

	// A block made elsewhere arrives by subscription, without a reload.
	waitSubscribed()
	node.mu.Lock()
	nb := node.chains[0].addBlock(nil, []map[string]any{{"origin": bID, "height": 9, "action": "Accept",
		"messages": []any{map[string]any{"destination": a, "kind": "Credit", "applicationId": nil, "summary": "Credit 3 from outside", "json": nil}}}})
	node.chains[0].balance += 3
	node.mu.Unlock()
	node.notify(map[string]any{"chainId": a, "kind": "NEW_BLOCK", "height": nb["height"], "hash": nb["hash"], "origin": nil, "round": nil})
	waitText("#incoming", "Credit 3 from outside")
	waitExact("#balance-"+a, "96")
	waitText(fmt.Sprintf(`#block-%s-%d`, a, nb["height"]), fmt.Sprint(nb["height"]))
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	must("reload check", err)
	if !still {
		t.Errorf("the page reloaded to show the new block")
	}

	// The service drops a subscriber that fell behind (DROPPED, then
	// complete): the page subscribes again and still sees new blocks.
	node.dropAll()
	waitSubscribed()
	node.mu.Lock()
	nb2 := node.chains[1].addBlock(nil, nil)
	node.mu.Unlock()
	node.notify(map[string]any{"chainId": bID, "kind": "NEW_BLOCK", "height": nb2["height"], "hash": nb2["hash"], "origin": nil, "round": nil})
	waitText(`#activity li[data-chain="`+bID+`"][data-height="`+fmt.Sprint(nb2["height"])+`"]`, "New block")

	// The block view decodes the operation; markup in a summary is text.
	must("open block 1", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/wallet/#/block/"+a+"/1")))
	waitText("#block-operations-body", "Transfer 7 to "+bID)
	waitText("#block-operations-body .op-kind", "Transfer")
	waitText("#block-signatures", "3")
	xss, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("xss") !== null || document.querySelectorAll("#block-view img").length > 0`))
	must("xss check", err)
	if xss {
		t.Errorf("markup from an operation summary became an element")
	}
	must("open a missing block", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/wallet/#/block/"+a+"/99")))
	waitText("#block-error", "No block at height 99")

	// GraphiQL renders from local assets.
	must("open GraphiQL", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector(".graphiql-container .CodeMirror")`, chromedp.WithPollingTimeout(20*time.Second)))
	must("GraphiQL editor", err)

	b.Log.CheckLocal(t)
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.authSeen) == 0 || node.authSeen[0] != "Bearer s3cret" {
		t.Errorf("the first request carried Authorization %q, want the token from ?token=", node.authSeen)
	}
}
