package faucet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// start runs a faucet on n's chain 0 (owned by key) with a fresh client, and stops it
// at the end of the test. hook, if set, runs before each batch.
func start(t *testing.T, n *testNet, key *crypto.PrivateKey, amount base.Amount, maxBatch int, hook func(*Faucet) func()) (*Faucet, *Client) {
	t.Helper()
	cl := n.client()
	return startWith(t, Config{Client: cl, Chain: cl.Chain(n.chains[0], key, nil), Amount: amount, Genesis: n.genesis, Listen: "127.0.0.1:0", MaxBatch: maxBatch, MaxChainsPerIP: -1}, hook)
}

// startWith runs a faucet with cfg and stops it at the end of the test.
func startWith(t *testing.T, cfg Config, hook func(*Faucet) func()) (*Faucet, *Client) {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		f.beforeBatch = hook(f)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return f, NewClient("http://"+f.Addr().String(), &http.Client{Timeout: time.Minute})
}

// waitQueued makes the first batch wait until k claims are queued (or 2 minutes pass:
// a loaded machine may take seconds to start the claims' requests), so that claims
// sent at once are served together however the goroutines are scheduled.
func waitQueued(k int) func(*Faucet) func() {
	return func(f *Faucet) func() {
		var once sync.Once
		return func() {
			once.Do(func() {
				deadline := time.Now().Add(2 * time.Minute)
				for len(f.queue) < k && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			})
		}
	}
}

func TestClaimOpensAUsableFundedChain(t *testing.T) {
	ctx := context.Background()
	fk, bob := prototest.Key("faucet"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{fk, bob}, []base.Amount{base.Tokens(1000), base.Tokens(5)})
	faucetChain := n.chains[0]
	f, fc := start(t, n, fk, base.Tokens(10), 0, nil)

	g, err := fc.Genesis(ctx)
	if err != nil {
		t.Fatalf("genesis: %v", err)
	}
	if g.Hash() != n.genesis.Hash() {
		t.Fatalf("faucet served another genesis")
	}

	user := prototest.Key("user")
	owner := user.Public().Owner()
	op, err := fc.Claim(ctx, owner)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if op.Owner != owner || op.ChainID.IsZero() || op.CertificateHash.IsZero() {
		t.Fatalf("claim returned %+v", op)
	}
	for i := range n.workers {
		if got := n.balance(i, op.ChainID); got != base.Tokens(10) {
			t.Errorf("validator %d: new chain has %s, want 10", i, got)
		}
		if got := n.balance(i, faucetChain); got != base.Tokens(990) {
			t.Errorf("validator %d: faucet chain has %s, want 990", i, got)
		}
	}
	height := n.height(0, faucetChain)

	// The new owner uses the chain at once, in the fast round.
	cert, err := n.client().Chain(op.ChainID, user, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(3))
	if err != nil {
		t.Fatalf("transfer from the new chain: %v", err)
	}
	if cert.Height() != 0 || !cert.Round.IsFast() {
		t.Fatalf("new chain's first block at height %d in round %v, want 0 in the fast round", cert.Height(), cert.Round)
	}
	if got := n.balance(0, op.ChainID); got != base.Tokens(7) {
		t.Fatalf("new chain has %s after sending 3, want 7", got)
	}

	// Claiming again returns the same chain and commits nothing.
	again, err := fc.Claim(ctx, owner)
	if err != nil || again != op {
		t.Fatalf("second claim: %+v, %v; want %+v", again, err, op)
	}
	if h := n.height(0, faucetChain); h != height {
		t.Fatalf("second claim committed a block (height %d → %d)", height, h)
	}

	// A restarted faucet (fresh client, empty local store) recovers who was served from
	// the chain's history.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, fc2 := start(t, n, fk, base.Tokens(10), 0, nil)
	after, err := fc2.Claim(ctx, owner)
	if err != nil || after != op {
		t.Fatalf("claim after restart: %+v, %v; want %+v", after, err, op)
	}
	if h := n.height(0, faucetChain); h != height {
		t.Fatalf("claim after restart committed a block (height %d → %d)", height, h)
	}
	other, err := fc2.Claim(ctx, prototest.Key("other").Public().Owner())
	if err != nil || other.ChainID == op.ChainID {
		t.Fatalf("new owner after restart: %+v, %v", other, err)
	}
}

func TestConcurrentClaimsAreBatched(t *testing.T) {
	const claims = 20
	for _, c := range []struct {
		maxBatch, blocks int
	}{{0, 1}, {8, 3}} {
		t.Run(fmt.Sprintf("max_batch=%d", c.maxBatch), func(t *testing.T) {
			ctx := context.Background()
			fk := prototest.Key("faucet")
			n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1000)})
			// Claim 0 is sent twice: both requests share one claim, so claims-1 queue.
			_, fc := start(t, n, fk, base.Tokens(7), c.maxBatch, waitQueued(claims-1))

			// Claim 0 is sent twice: both requests get the same chain.
			owners := make([]base.Owner, claims)
			for i := range owners {
				owners[i] = prototest.Key(fmt.Sprintf("user-%d", i)).Public().Owner()
			}
			requests := append([]base.Owner{owners[0]}, owners[:claims-1]...)
			got := make([]Opened, claims)
			errs := make([]error, claims)
			var wg sync.WaitGroup
			for i := range requests {
				wg.Go(func() { got[i], errs[i] = fc.Claim(ctx, requests[i]) })
			}
			wg.Wait()
			// The last owner claims alone, after the others.
			last, lastErr := fc.Claim(ctx, owners[claims-1])
			for i, err := range errs {
				if err != nil {
					t.Fatalf("claim %d: %v", i, err)
				}
			}
			if lastErr != nil {
				t.Fatalf("last claim: %v", lastErr)
			}
			if got[0] != got[1] {
				t.Fatalf("one owner claiming twice at once got two answers: %+v and %+v", got[0], got[1])
			}
			byOwner := map[base.Owner]Opened{owners[claims-1]: last}
			for i, op := range got {
				if op.Owner != requests[i] {
					t.Fatalf("claim %d for %s answered for %s", i, requests[i], op.Owner)
				}
				byOwner[op.Owner] = op
			}
			distinct := map[base.ChainID]bool{}
			for _, o := range owners {
				op := byOwner[o]
				distinct[op.ChainID] = true
				if b := n.balance(0, op.ChainID); b != base.Tokens(7) {
					t.Errorf("chain of %s has %s, want 7", o, b)
				}
			}
			if len(distinct) != claims {
				t.Fatalf("%d owners got %d distinct chains", claims, len(distinct))
			}
			// Each chain's description names the owner as its single super owner: the
			// n-th OpenChain of a block is matched to the n-th claim.
			blocks := int(n.height(0, n.chains[0])) - 1 // the last claim has a block of its own
			t.Logf("%d claims by %d owners in %d blocks (+1 for the last owner's claim)", claims, claims-1, blocks)
			if blocks >= claims-1 || blocks != c.blocks {
				t.Fatalf("%d concurrent claims took %d blocks, want %d", claims, blocks, c.blocks)
			}
			if got := n.balance(0, n.chains[0]); got != base.Tokens(1000-7*claims) {
				t.Fatalf("faucet chain has %s, want %d", got, 1000-7*claims)
			}
		})
	}
}

func TestEachChainBelongsToItsClaimant(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	_, fc := start(t, n, fk, base.Tokens(10), 0, waitQueued(3))
	keys := []*crypto.PrivateKey{prototest.Key("a"), prototest.Key("b"), prototest.Key("c")}
	got := make([]Opened, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			var err error
			if got[i], err = fc.Claim(ctx, k.Public().Owner()); err != nil {
				t.Errorf("claim %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n.height(0, n.chains[0]) != 1 {
		t.Fatalf("3 claims at once took %d blocks, want 1", n.height(0, n.chains[0]))
	}
	// Each owner can sign on its own chain, and on no other.
	for i, k := range keys {
		cc := n.client().Chain(got[i].ChainID, k, nil)
		if _, err := cc.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
			t.Fatalf("owner %d on its own chain: %v", i, err)
		}
		wrong := n.client().Chain(got[(i+1)%len(keys)].ChainID, k, nil)
		if _, err := wrong.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err == nil {
			t.Fatalf("owner %d signed a block on the chain of owner %d", i, (i+1)%len(keys))
		}
	}
}

func TestBadRequests(t *testing.T) {
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	f, _ := start(t, n, fk, base.Tokens(10), 0, nil)
	url := "http://" + f.Addr().String()
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"not json", "POST", "/claim", "owner=0x12", 400, "bad request body"},
		{"empty", "POST", "/claim", "", 400, "bad request body"},
		{"no owner", "POST", "/claim", `{}`, 400, "missing owner"},
		{"short owner", "POST", "/claim", `{"owner": "0x12"}`, 400, `owner "0x12" is not a key's address`},
		{"not hex", "POST", "/claim", `{"owner": "0x` + strings.Repeat("zz", 32) + `"}`, 400, "not a key's address"},
		{"chain account", "POST", "/claim", `{"owner": "chain"}`, 400, "not a key's address"},
		{"unknown field", "POST", "/claim", `{"owner": "0x` + strings.Repeat("ab", 32) + `", "amount": 1000}`, 400, "unknown field"},
		{"two objects", "POST", "/claim", `{"owner": "0x` + strings.Repeat("ab", 32) + `"} {}`, 400, "trailing data"},
		{"too big", "POST", "/claim", `{"owner": "` + strings.Repeat("a", 10000) + `"}`, 400, "too large"},
		{"get claim", "GET", "/claim", "", 405, ""},
		{"post genesis", "POST", "/genesis", "", 405, ""},
		{"unknown path", "GET", "/nothing", "", 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, url+c.path, strings.NewReader(c.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, c.status)
			}
			if c.msg == "" {
				return
			}
			var e ErrorResponse
			if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, c.msg) {
				t.Fatalf("body %s, want an error mentioning %q", b, c.msg)
			}
		})
	}
	if h := n.height(0, n.chains[0]); h != 0 {
		t.Fatalf("bad requests committed %d blocks", h)
	}
}

func TestOutOfFunds(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(25)})
	_, fc := start(t, n, fk, base.Tokens(10), 0, waitQueued(3))

	// Three claims at once; the chain can fund two: they share one block, the third is
	// refused.
	owners := []base.Owner{prototest.Key("a").Public().Owner(), prototest.Key("b").Public().Owner(), prototest.Key("c").Public().Owner()}
	got := make([]Opened, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, o := range owners {
		wg.Go(func() { got[i], errs[i] = fc.Claim(ctx, o) })
	}
	wg.Wait()
	var served []Opened
	var refused []error
	for i := range owners {
		if errs[i] == nil {
			served = append(served, got[i])
		} else {
			refused = append(refused, errs[i])
		}
	}
	if len(served) != 2 || len(refused) != 1 {
		t.Fatalf("served %d and refused %d of 3 claims with funds for 2: %v", len(served), len(refused), errs)
	}
	checkOutOfFunds(t, refused[0])
	if h := n.height(0, n.chains[0]); h != 1 {
		t.Fatalf("the two funded claims took %d blocks, want 1", h)
	}
	if b := n.balance(0, n.chains[0]); b != base.Tokens(5) {
		t.Fatalf("faucet chain has %s, want 5", b)
	}
	// A new owner is refused; an owner already served still gets its chain.
	_, err := fc.Claim(ctx, prototest.Key("d").Public().Owner())
	checkOutOfFunds(t, err)
	again, err := fc.Claim(ctx, served[0].Owner)
	if err != nil || again != served[0] {
		t.Fatalf("served owner claiming again when out of funds: %+v, %v", again, err)
	}
}

// TestTopUpInTheInbox: a transfer to the faucet chain waiting in its inbox funds claims.
func TestTopUpInTheInbox(t *testing.T) {
	ctx := context.Background()
	fk, bob := prototest.Key("faucet"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{fk, bob}, []base.Amount{base.Tokens(5), base.Tokens(100)})
	if _, err := n.client().Chain(n.chains[1], bob, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(12)); err != nil {
		t.Fatal(err)
	}
	_, fc := start(t, n, fk, base.Tokens(10), 0, waitQueued(2))
	owners := []base.Owner{prototest.Key("a").Public().Owner(), prototest.Key("b").Public().Owner()}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, o := range owners {
		wg.Go(func() { _, errs[i] = fc.Claim(ctx, o) })
	}
	wg.Wait()
	served := 0
	for _, err := range errs {
		if err == nil {
			served++
		} else {
			checkOutOfFunds(t, err)
		}
	}
	if served != 1 {
		t.Fatalf("5 tokens + 12 in the inbox served %d claims of 10, want 1: %v", served, errs)
	}
	if b := n.balance(0, n.chains[0]); b != base.Tokens(7) {
		t.Fatalf("faucet chain has %s, want 7", b)
	}
}

// TestPendingProposalIsCommittedNotRepeated: a claim whose block did not reach a quorum
// is retried by committing the same block, not by opening a second chain.
func TestPendingProposalIsCommittedNotRepeated(t *testing.T) {
	ctx := context.Background()
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(100)})
	f, fc := start(t, n, fk, base.Tokens(10), 0, nil)
	owner := prototest.Key("user").Public().Owner()

	n.node(2).dropProposals.Store(true)
	n.node(3).dropProposals.Store(true)
	_, err := fc.Claim(ctx, owner)
	var se *ServerError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("claim without a quorum: %v, want 503", err)
	}
	if f.cfg.Chain.PendingFastProposal() == nil {
		t.Fatalf("no pending fast proposal after a proposal without a quorum")
	}
	n.node(2).dropProposals.Store(false)
	n.node(3).dropProposals.Store(false)

	op, err := fc.Claim(ctx, owner)
	if err != nil {
		t.Fatalf("retried claim: %v", err)
	}
	if h := n.height(0, n.chains[0]); h != 1 {
		t.Fatalf("faucet chain at height %d after the retry, want 1 (the pending block, committed)", h)
	}
	if b := n.balance(0, n.chains[0]); b != base.Tokens(90) {
		t.Fatalf("faucet chain has %s, want 90: one chain opened", b)
	}
	if b := n.balance(0, op.ChainID); b != base.Tokens(10) {
		t.Fatalf("claimed chain has %s, want 10", b)
	}
}

func checkOutOfFunds(t *testing.T, err error) {
	t.Helper()
	var se *ServerError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || !strings.Contains(se.Message, "out of funds") {
		t.Fatalf("got %v, want 503 out of funds", err)
	}
	if !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("out of funds is not retryable: %v", err)
	}
}

func TestClientChecksTheGenesis(t *testing.T) {
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1)})
	f, err := New(Config{Client: n.client(), Chain: n.client().Chain(n.chains[0], fk, nil), Amount: base.Tokens(1), Genesis: n.genesis, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background()); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	var body GenesisResponse
	if err := json.Unmarshal(f.genesis, &body); err != nil {
		t.Fatal(err)
	}
	body.GenesisHash = strings.Repeat("00", 32)
	tampered, _ := json.Marshal(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(tampered) }))
	defer srv.Close()
	if _, err := NewClient(srv.URL, nil).Genesis(context.Background()); !base.IsInvalid(err) || !strings.Contains(err.Error(), "not to the announced") {
		t.Fatalf("tampered genesis: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1)})
	cl := n.client()
	good := Config{Client: cl, Chain: cl.Chain(n.chains[0], fk, nil), Amount: base.Tokens(1), Genesis: n.genesis, Listen: "127.0.0.1:0"}
	for name, edit := range map[string]func(*Config){
		"no client":   func(c *Config) { c.Client = nil },
		"no chain":    func(c *Config) { c.Chain = nil },
		"no genesis":  func(c *Config) { c.Genesis = nil },
		"zero amount": func(c *Config) { c.Amount = base.Amount{} },
		"no listen":   func(c *Config) { c.Listen = "" },
		"bad listen":  func(c *Config) { c.Listen = "nowhere:-1" },
	} {
		cfg := good
		edit(&cfg)
		if f, err := New(cfg); err == nil {
			_ = f.Close()
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestAffordable(t *testing.T) {
	for _, c := range []struct {
		have, amount uint64
		limit, want  int
	}{{25, 10, 2, 2}, {25, 10, 5, 2}, {9, 10, 3, 0}, {30, 10, 2, 2}, {30, 10, 3, 3}, {0, 10, 4, 0}} {
		if got := affordable(base.Tokens(c.have), base.Tokens(c.amount), c.limit); got != c.want {
			t.Errorf("affordable(%d, %d, %d) = %d, want %d", c.have, c.amount, c.limit, got, c.want)
		}
	}
}

func FuzzParseClaimRequest(f *testing.F) {
	f.Add([]byte(`{"owner": "0x` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"owner": "0x` + strings.Repeat("ab", 20) + `"}`))
	f.Add([]byte(`{"owner": "chain"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseClaimRequest(b)
		if err != nil {
			if !base.IsInvalid(err) {
				t.Fatalf("error of the wrong class: %v", err)
			}
			return
		}
		if o.Kind() == base.OwnerReserved {
			t.Fatalf("accepted reserved owner %s", o)
		}
		back, err := parseClaimRequest([]byte(`{"owner": "` + o.String() + `"}`))
		if err != nil || back != o {
			t.Fatalf("owner %s does not round-trip: %v", o, err)
		}
	})
}

// TestWarnsOnlyWithoutPersistedProposals: the faucet warned that the chain's pending
// proposals were not persisted whenever OnFastProposal was unset, so `mica faucet`,
// whose chain persists them through OnFastProposalEncoded, always warned. It warns only
// when neither hook is set.
func TestWarnsOnlyWithoutPersistedProposals(t *testing.T) {
	fk := prototest.Key("faucet")
	n := newNet(t, []*crypto.PrivateKey{fk}, []base.Amount{base.Tokens(1)})
	for _, c := range []struct {
		name string
		set  func(*client.ChainClient)
		warn bool
	}{
		{"no hook", func(*client.ChainClient) {}, true},
		{"OnFastProposal", func(cc *client.ChainClient) { cc.OnFastProposal = func(*protocol.BlockProposal) error { return nil } }, false},
		{"OnFastProposalEncoded", func(cc *client.ChainClient) {
			cc.OnFastProposalEncoded = func(*protocol.BlockProposal, []byte) error { return nil }
		}, false},
	} {
		var logs bytes.Buffer
		cl := n.client()
		cc := cl.Chain(n.chains[0], fk, nil)
		c.set(cc)
		f, err := New(Config{Client: cl, Chain: cc, Amount: base.Tokens(1), Genesis: n.genesis, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if warned := strings.Contains(logs.String(), "not persisted"); warned != c.warn {
			t.Errorf("%s: warned %v, want %v (log %q)", c.name, warned, c.warn, logs.String())
		}
	}
}
