package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/wallet"
)

var (
	chain1  = strings.Repeat("a1", 32)
	chain2  = strings.Repeat("b2", 32)
	counter = strings.Repeat("c3", 32)
	ownerW  = "0x" + strings.Repeat("11", 32) // held by the wallet
)

// fakeNode answers the system schema and one counter application the way the node
// service does, and records the mutations it ran.
type fakeNode struct {
	t     testing.TB
	mu    sync.Mutex
	calls []string // "transfer r a", "openChain ...", "increment 5"
	value int
}

func (f *fakeNode) Exec(ctx context.Context, path string, body []byte) ([]byte, int) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return []byte(`{"errors":[{"message":"bad request"}]}`), http.StatusBadRequest
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q, v := req.Query, req.Variables
	data := func(s string) ([]byte, int) { return []byte(`{"data":` + s + `}`), http.StatusOK }
	if path != "/" {
		if path != appPath(chain1, counter) && path != appPath(chain2, counter) {
			return []byte(`{"errors":[{"message":"unknown application"}]}`), http.StatusOK
		}
		switch {
		case strings.Contains(q, "__schema"):
			b, err := os.ReadFile("testdata/counter.json")
			if err != nil {
				f.t.Error(err)
			}
			return b, http.StatusOK
		case strings.Contains(q, "increment"):
			if nodeservice.CommitForbidden(ctx) {
				return []byte(`{"errors":[{"message":"nothing was committed"}]}`), http.StatusOK
			}
			n, _ := v["value"].(float64)
			f.value += int(n)
			f.calls = append(f.calls, fmt.Sprintf("increment %d", int(n)))
			return data(fmt.Sprintf(`{"increment":%d}`, f.value))
		case strings.Contains(q, "value"):
			// A hostile service schedules an operation while answering a query: the node
			// would commit it unless the request forbids commits.
			if !nodeservice.CommitForbidden(ctx) {
				f.calls = append(f.calls, "operation scheduled by a query committed")
			}
			return data(fmt.Sprintf(`{"value":%d}`, f.value))
		}
		return []byte(`{"errors":[{"message":"unsupported"}]}`), http.StatusOK
	}
	switch {
	case strings.Contains(q, "transfer("):
		f.calls = append(f.calls, fmt.Sprintf("transfer %v %v", v["r"], v["a"]))
		return data(`{"transfer":{"chainId":"` + chain1 + `","height":3,"hash":"` + strings.Repeat("ee", 32) + `"}}`)
	case strings.Contains(q, "openChain("):
		f.calls = append(f.calls, fmt.Sprintf("openChain %v %v", v["o"], v["b"]))
		return data(`{"openChain":{"chainId":"` + strings.Repeat("dd", 32) + `","block":null}}`)
	case strings.Contains(q, "processInbox"):
		f.calls = append(f.calls, "processInbox")
		return data(`{"processInbox":[]}`)
	case strings.Contains(q, "closeChain"):
		f.calls = append(f.calls, "closeChain")
		return data(`{"closeChain":{"height":1}}`)
	case strings.Contains(q, "wallet { owners }"):
		return data(`{"wallet":{"owners":["` + ownerW + `"]}}`)
	case strings.Contains(q, "wallet {"):
		return data(`{"wallet":{"defaultChain":"` + chain1 + `","owners":["` + ownerW + `"],"chains":[{"chainId":"` + chain2 + `","owner":null,"isDefault":false,"nextHeight":0,"balance":"0"},{"chainId":"` + chain1 + `","owner":"` + ownerW + `","isDefault":true,"nextHeight":2,"balance":"100"}]}}`)
	case strings.Contains(q, "applications(chain:"):
		if v["c"] == chain1 {
			return data(`{"applications":[{"applicationId":"` + counter + `","description":null,"link":"` + appPath(chain1, counter) + `"}]}`)
		}
		return data(`{"applications":[]}`)
	case strings.Contains(q, "chain(chain:"):
		if c, _ := v["c"].(string); c != "" && c != chain1 && c != chain2 {
			return []byte(`{"data":null,"errors":[{"message":"unknown chain ` + c + `"}]}`), http.StatusOK
		}
		return data(`{"chain":{"chainId":"` + chain1 + `","balance":"100","ownerBalances":[]}}`)
	}
	return []byte(`{"errors":[{"message":"fake node: unsupported query"}]}`), http.StatusOK
}

func (f *fakeNode) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type harness struct {
	t    *testing.T
	node *fakeNode
	dir  string
	now  time.Time
	cs   *sdk.ClientSession
}

func newHarness(t *testing.T, dir string, node *fakeNode) *harness {
	t.Helper()
	h := &harness{t: t, node: node, dir: dir, now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	srv, err := New(Config{GraphQL: node, WalletDir: dir, Now: func() time.Time { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	ct, st := sdk.NewInMemoryTransports()
	ctx := t.Context()
	ss, err := srv.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cl := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	h.cs, err = cl.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.cs.Close() })
	return h
}

// call calls a tool and returns its text and whether it is an error result.
func (h *harness) call(name string, args map[string]any) (string, bool) {
	h.t.Helper()
	res, err := h.cs.CallTool(h.t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		h.t.Fatalf("call %s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

func (h *harness) mustOK(name string, args map[string]any) string {
	h.t.Helper()
	text, isErr := h.call(name, args)
	if isErr {
		h.t.Fatalf("%s %v: error %s", name, args, text)
	}
	return text
}

func (h *harness) mustRefuse(name string, args map[string]any, want ...string) {
	h.t.Helper()
	text, isErr := h.call(name, args)
	if !isErr {
		h.t.Fatalf("%s %v: accepted (%s)", name, args, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			h.t.Fatalf("%s %v: refusal %q lacks %q", name, args, text, w)
		}
	}
}

func setPolicy(t *testing.T, dir string, p *wallet.AgentPolicy) {
	t.Helper()
	if err := wallet.WriteAgentPolicy(dir, p); err != nil {
		t.Fatal(err)
	}
}

func amount(t *testing.T, s string) *base.Amount {
	a, err := base.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestToolsListed(t *testing.T) {
	h := newHarness(t, t.TempDir(), &fakeNode{t: t})
	res, err := h.cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*sdk.Tool{}
	for _, tool := range res.Tools {
		names[tool.Name] = tool
	}
	prefix := "app_" + counter[:8] + "_"
	for _, n := range []string{"balance", "list_chains", "get_block", "transfer", "open_chain", "process_inbox", "list_applications", "graphql", prefix + "value", prefix + "increment"} {
		if names[n] == nil {
			t.Errorf("tool %s not listed (have %v)", n, len(names))
		}
	}
	inc := names[prefix+"increment"]
	if b, _ := json.Marshal(inc.InputSchema); !strings.Contains(string(b), `"required":["value"]`) || !strings.Contains(inc.Description, counter) {
		t.Errorf("increment tool %s: %s", b, inc.Description)
	}
	text := h.mustOK("list_applications", nil)
	if !strings.Contains(text, prefix+"increment") || !strings.Contains(text, chain1) {
		t.Errorf("list_applications: %s", text)
	}
}

func TestQueriesNeedNoPolicy(t *testing.T) {
	h := newHarness(t, t.TempDir(), &fakeNode{t: t})
	if text := h.mustOK("balance", map[string]any{"chain": chain1}); !strings.Contains(text, `"balance":"100"`) {
		t.Errorf("balance: %s", text)
	}
	if text := h.mustOK("list_chains", nil); !strings.Contains(text, chain2) {
		t.Errorf("list_chains: %s", text)
	}
	h.mustRefuse("balance", map[string]any{"chain": strings.Repeat("99", 32)}, "unknown chain")
	if text := h.mustOK("app_"+counter[:8]+"_value", nil); text != `{"data":{"value":0}}` {
		t.Errorf("value: %s", text)
	}
	if text := h.mustOK("graphql", map[string]any{"query": "{ wallet { owners } }"}); !strings.Contains(text, ownerW) {
		t.Errorf("graphql: %s", text)
	}
	res, err := h.cs.ReadResource(t.Context(), &sdk.ReadResourceParams{URI: "mica://chains/" + chain1})
	if err != nil || len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, `"balance":"100"`) {
		t.Fatalf("resource: %v %+v", err, res)
	}
	if _, err := h.cs.ReadResource(t.Context(), &sdk.ReadResourceParams{URI: "mica://chains/nope"}); err == nil {
		t.Fatal("resource for a bad chain id")
	}
	// Without a policy every mutation is refused.
	h.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "1"}, "read-only")
	h.mustRefuse("app_"+counter[:8]+"_increment", map[string]any{"value": 1}, "read-only")
	h.mustRefuse("process_inbox", nil, "read-only")
	h.mustRefuse("open_chain", nil, "read-only")
	h.mustRefuse("graphql", map[string]any{"query": "mutation { closeChain { height } }"}, "read-only")
	if calls := h.node.Calls(); len(calls) != 0 {
		t.Fatalf("mutations ran: %v", calls)
	}
}

func TestTransferPolicy(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	owner2 := "0x" + strings.Repeat("22", 32)
	setPolicy(t, dir, &wallet.AgentPolicy{PerTransfer: amount(t, "10"), PerDay: amount(t, "15"), AllowRecipients: []string{chain2}})

	if text := h.mustOK("transfer", map[string]any{"recipient": chain2, "amount": "5"}); !strings.Contains(text, `"height":3`) {
		t.Errorf("transfer: %s", text)
	}
	h.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "50"}, "transfer of 50 exceeds the per-transfer limit 10", "mica wallet agent-policy set --per-transfer")
	h.mustOK("transfer", map[string]any{"recipient": owner2 + "@" + chain2, "amount": "8"})
	h.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "3"}, "per-day limit 15", "13 already spent", "2 left")
	h.mustRefuse("transfer", map[string]any{"recipient": chain1, "amount": "1"}, "recipient "+chain1+" is not allowed", "--allow-recipient")
	h.mustRefuse("transfer", map[string]any{"recipient": "bob", "amount": "1"}, "recipient")
	h.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "-1"}, "amount")
	// System mutations through the raw tool would bypass the limits.
	h.mustRefuse("graphql", map[string]any{"query": `mutation { transfer(recipient: "` + chain2 + `", amount: "1") { height } }`}, "use the transfer")
	h.mustRefuse("graphql", map[string]any{"query": "query A { wallet { owners } } mutation B { closeChain { height } }", "operationName": "A"}, "use the transfer")
	// Funding a new chain is spending.
	h.mustRefuse("open_chain", map[string]any{"balance": "11"}, "per-transfer limit 10")
	h.mustRefuse("open_chain", map[string]any{"balance": "1", "owner": owner2}, "holds no key")
	h.mustOK("open_chain", map[string]any{"balance": "2", "owner": ownerW})
	h.mustRefuse("open_chain", map[string]any{"balance": "1"}, "per-day limit 15")
	h.mustOK("open_chain", nil)

	want := []string{"transfer " + chain2 + " 5", "transfer " + owner2 + "@" + chain2 + " 8", "openChain " + ownerW + " 2", "openChain <nil> <nil>"}
	if got := node.Calls(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("mutations run:\n got %v\nwant %v", got, want)
	}

	// A restart keeps the day's spending; the next UTC day starts afresh.
	h2 := newHarness(t, dir, node)
	h2.now = h.now.Add(time.Hour)
	h2.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "1"}, "15 already spent")
	h2.now = h.now.Add(14 * time.Hour)
	h2.mustOK("transfer", map[string]any{"recipient": chain2, "amount": "10"})

	// Read-only refuses everything, whatever the limits.
	setPolicy(t, dir, &wallet.AgentPolicy{ReadOnly: true})
	h2.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "1"}, "read-only")
	h2.mustRefuse("process_inbox", nil, "read-only")

	// No limits: the raw tool may run system mutations.
	setPolicy(t, dir, &wallet.AgentPolicy{})
	h2.mustOK("graphql", map[string]any{"query": "mutation { closeChain { height } }"})
	h2.mustOK("process_inbox", nil)
}

func TestApplicationPolicy(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	inc := "app_" + counter[:8] + "_increment"
	if _, err := h.cs.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	setPolicy(t, dir, &wallet.AgentPolicy{PerTransfer: amount(t, "1")})
	h.mustRefuse(inc, map[string]any{"value": 5}, "allows no application mutations", "--allow-application "+counter)
	h.mustRefuse("graphql", map[string]any{"application": counter, "query": "mutation { increment(value: 1) }"}, "allows no application mutations")
	setPolicy(t, dir, &wallet.AgentPolicy{AllowApplications: []string{strings.Repeat("77", 32)}})
	h.mustRefuse(inc, map[string]any{"value": 5}, "not in the agent policy's allowed applications")
	setPolicy(t, dir, &wallet.AgentPolicy{PerTransfer: amount(t, "1"), AllowApplications: []string{counter}})
	if text := h.mustOK(inc, map[string]any{"value": 5}); text != `{"data":{"increment":5}}` {
		t.Errorf("increment: %s", text)
	}
	if text := h.mustOK(inc, map[string]any{"value": 2, "_chain": chain2}); text != `{"data":{"increment":7}}` {
		t.Errorf("increment on chain2: %s", text)
	}
	h.mustOK("graphql", map[string]any{"application": counter, "query": "mutation($value: Int!) { increment(value: $value) }", "variables": map[string]any{"value": 1}})
	if text := h.mustOK("app_"+counter[:8]+"_value", nil); text != `{"data":{"value":8}}` {
		t.Errorf("value: %s", text)
	}
	h.mustRefuse(inc, map[string]any{}, `"value" is required`)
	h.mustRefuse(inc, map[string]any{"value": 1, "_chain": "x"}, "_chain")
	h.mustRefuse("graphql", map[string]any{"query": "mutation {"}, "does not parse")
	h.mustRefuse("graphql", map[string]any{"query": "subscription { notifications { height } }"}, "subscriptions")
	h.mustRefuse("graphql", map[string]any{"application": "nope", "query": "{ value }"}, "application")
	h.mustRefuse("graphql", map[string]any{"chain": chain1, "query": "{ value }"}, "only with application")
	h.mustRefuse("graphql", map[string]any{"query": strings.Repeat(" ", maxQuery+1) + "{ a }"}, "longer than")
}

func TestMalformedPolicyRefusesMutations(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	if err := os.WriteFile(wallet.AgentPolicyPath(dir), []byte(`{"version":1,"per_transfr":"10"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustRefuse("transfer", map[string]any{"recipient": chain2, "amount": "1"}, "agent-policy.json", "unknown field", "agent-policy clear")
	h.mustRefuse("graphql", map[string]any{"query": "mutation { closeChain { height } }"}, "agent-policy.json")
	h.mustOK("graphql", map[string]any{"query": "{ wallet { owners } }"})
	h.mustOK("balance", nil)
	if len(node.Calls()) != 0 {
		t.Fatalf("mutations ran: %v", node.Calls())
	}
}

func TestMalformedLedgerIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(wallet.AgentSpendingPath(dir), []byte(`garbage`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{GraphQL: &fakeNode{t: t}, WalletDir: dir})
	if err == nil || !strings.Contains(err.Error(), "agent-spending.json") {
		t.Fatalf("New with a damaged ledger: %v", err)
	}
}

func TestConcurrentTransfersKeepTheDayLimit(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	setPolicy(t, dir, &wallet.AgentPolicy{PerDay: amount(t, "10")})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = h.cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "transfer", Arguments: map[string]any{"recipient": chain2, "amount": "1"}})
		}()
	}
	wg.Wait()
	if n := len(node.Calls()); n != 10 {
		t.Fatalf("%d transfers ran under a per-day limit of 10 × 1", n)
	}
}

func TestStreamableHTTP(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	srv, err := New(Config{GraphQL: node, WalletDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	defer hs.Close()
	cl := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := cl.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: hs.URL, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil || len(tools.Tools) != 10 {
		t.Fatalf("tools over HTTP: %v %d", err, len(tools.Tools))
	}
	setPolicy(t, dir, &wallet.AgentPolicy{PerTransfer: amount(t, "1")})
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "transfer", Arguments: map[string]any{"recipient": chain2, "amount": "2"}})
	if err != nil || !res.IsError {
		t.Fatalf("transfer over the limit over HTTP: %v %+v", err, res)
	}
	res, err = cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "transfer", Arguments: map[string]any{"recipient": chain2, "amount": "1"}})
	if err != nil || res.IsError {
		t.Fatalf("transfer over HTTP: %v %+v", err, res)
	}
}

// BenchmarkToolCall measures one balance tool call through the MCP client and server
// (in-memory transport, and streamable HTTP on loopback) over the fake node: the MCP
// layer's own cost, without the node service.
func BenchmarkToolCall(b *testing.B) {
	node := &fakeNode{t: b}
	srv, err := New(Config{GraphQL: node, WalletDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := func(b *testing.B, cs *sdk.ClientSession) {
		args := &sdk.CallToolParams{Name: "balance", Arguments: map[string]any{"chain": chain1}}
		b.ResetTimer()
		for range b.N {
			res, err := cs.CallTool(ctx, args)
			if err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
	}
	b.Run("inmemory", func(b *testing.B) {
		ct, st := sdk.NewInMemoryTransports()
		ss, err := srv.MCP().Connect(ctx, st, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ss.Close()
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		run(b, cs)
	})
	b.Run("http", func(b *testing.B) {
		hs := httptest.NewServer(srv.HTTPHandler())
		defer hs.Close()
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: hs.URL, DisableStandaloneSSE: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		run(b, cs)
	})
}

func BenchmarkParseIntrospection(b *testing.B) {
	body := fixture(b, "rich.json")
	for range b.N {
		if _, err := parseIntrospection(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAttackApplicationQueryCannotCommit: a hostile application whose query resolvers
// schedule operations gets nothing committed through an agent's queries, read-only or
// not, through the generated tools or the raw graphql tool.
func TestAttackApplicationQueryCannotCommit(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	for _, p := range []*wallet.AgentPolicy{nil, {ReadOnly: true}, {AllowApplications: []string{wallet.AnyApplication}}} {
		if p != nil {
			setPolicy(t, dir, p)
		}
		h.mustOK("app_"+counter[:8]+"_value", nil)
		h.mustOK("graphql", map[string]any{"application": counter, "query": "query Q { value }", "operationName": "Q"})
	}
	for _, c := range node.Calls() {
		if strings.Contains(c, "query committed") {
			t.Fatalf("a query committed an operation: %v", node.Calls())
		}
	}
}

// TestAttackRawGraphQLBypass: the raw graphql tool cannot run a system mutation while
// the policy limits spending, however the document hides it.
func TestAttackRawGraphQLBypass(t *testing.T) {
	dir := t.TempDir()
	node := &fakeNode{t: t}
	h := newHarness(t, dir, node)
	setPolicy(t, dir, &wallet.AgentPolicy{PerDay: amount(t, "1"), AllowApplications: []string{counter}})
	for _, q := range []string{
		`mutation { closeChain { height } }`,
		`mutation M { a: transfer(recipient: "` + chain2 + `", amount: "1000") { height } }`,
		`query A { wallet { owners } } mutation B { closeChain { height } }`,
		`fragment F on Query { wallet { owners } } mutation { closeChain { height } }`,
		"# comment\n mutation\n{ closeChain { height } }",
	} {
		h.mustRefuse("graphql", map[string]any{"query": q, "operationName": "A"}, "refused")
	}
	// An allowed application's mutation document sent to the system endpoint is still
	// a system mutation.
	h.mustRefuse("graphql", map[string]any{"query": "mutation { increment(value: 1) }"}, "system mutations")
	if len(node.Calls()) != 0 {
		t.Fatalf("mutations ran: %v", node.Calls())
	}
}

// FuzzCheckDocument: the raw graphql tool's check never panics on an agent's document,
// and a document that the node's parser would run as a mutation is always seen as one.
func FuzzCheckDocument(f *testing.F) {
	for _, q := range []string{"{ a }", "mutation { a }", "query A { a } mutation B { b }", "subscription { a }", "mutation", "{", "fragment F on Q { a } mutation { ...F }"} {
		f.Add(q)
	}
	limited := &wallet.AgentPolicy{PerDay: &base.Amount{}}
	f.Fuzz(func(t *testing.T, q string) {
		mutation, err := checkDocument(limited, q, "")
		doc, perr := parser.ParseQuery(&ast.Source{Input: q})
		if perr != nil {
			if err == nil {
				t.Fatalf("%q does not parse but was accepted", q)
			}
			return
		}
		for _, op := range doc.Operations {
			if op.Operation == ast.Mutation && (!mutation || err == nil) {
				t.Fatalf("%q holds a mutation: mutation=%v err=%v", q, mutation, err)
			}
		}
	})
}
