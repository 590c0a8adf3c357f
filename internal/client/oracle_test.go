package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// answerer is the HTTP performer of one node: it answers the ai-oracle example's
// requests with {"answer": "<prompt> is <answers[prompt]>"}, "42" by default.
type answerer struct {
	mu      sync.Mutex
	answers map[string]string
}

func (a *answerer) set(prompt, answer string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answers[prompt] = answer
}

func (a *answerer) PerformHTTP(_ context.Context, policy *protocol.ResourcePolicy, req *execution.HTTPRequest) (*execution.HTTPResponse, error) {
	if _, err := execution.CheckHTTPRequest(policy, req); err != nil {
		return nil, err
	}
	var r struct{ Prompt string }
	if err := json.Unmarshal(req.Body, &r); err != nil {
		return nil, err
	}
	a.mu.Lock()
	ans, ok := a.answers[r.Prompt]
	a.mu.Unlock()
	if !ok {
		ans = "42"
	}
	b, _ := json.Marshal(map[string]string{"answer": r.Prompt + " is " + ans})
	return &execution.HTTPResponse{Status: 200, Body: b}, nil
}

// oracleNet is the in-process network of harness_test.go with a committee that allows
// HTTP to ai.test, and one answerer per validator (and one for the client's node).
func oracleNet(t *testing.T, owners []*crypto.PrivateKey, loader execution.ApplicationLoader) (*net, []*answerer, *answerer) {
	n := &net{t: t, clock: &clock{now: 10_000_000}, keys: prototest.Validators(4), loader: loader}
	policy := protocol.NoFeesPolicy()
	policy.HTTPAllowList = []string{"ai.test"}
	vs := make([]protocol.ValidatorState, len(n.keys))
	for i, k := range n.keys {
		vs[i] = protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: fmt.Sprintf("127.0.0.1:%d", 13001+i), Votes: 1}
	}
	c, err := protocol.NewCommittee(vs, policy)
	if err != nil {
		t.Fatal(err)
	}
	n.committee = c
	n.genesis = prototest.Genesis(n.committee, owners, base.Tokens(100))
	n.chains = n.genesis.ChainIDs()
	var as []*answerer
	for _, k := range n.keys {
		a := &answerer{answers: map[string]string{}}
		as = append(as, a)
		w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: n.clock, Loader: loader, HTTP: a})
		n.workers = append(n.workers, w)
		n.validators = append(n.validators, client.Validator{PublicKey: k.Public(), Node: &deliveringNode{w: w}})
	}
	return n, as, &answerer{answers: map[string]string{}}
}

func oracleClient(n *net, local *answerer) *client.Client {
	w := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock, Loader: n.loader, HTTP: local})
	return client.New(client.Config{Local: w, Committee: n.committee, Validators: n.validators, Clock: n.clock, Sequential: true})
}

// TestOracleDisagreement: validators that receive different HTTP answers vote for
// different blocks. One dissenter of four: the block commits. Two: the commit fails
// with a *DisagreementError naming the split, the chain's next block commits, and so
// does another chain's. It also measures, client side, an HTTP-oracle block (two
// phases) against a transfer (fast round).
func TestOracleDisagreement(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildExample(t, "ai-oracle")
	engine := exampleEngine(t)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n, as, local := oracleNet(t, []*crypto.PrivateKey{alice, bob}, wasm.NewLoader(engine, 0))
	a := oracleClient(n, local).Chain(n.chains[0], alice, nil)
	b := oracleClient(n, local).Chain(n.chains[1], bob, nil)
	app := createApp(t, a, contract, service, `{"endpoint":"https://ai.test/ask"}`)
	ask := func(prompt string) (*protocol.Certificate, error) {
		return a.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: fmt.Appendf(nil, `{"ask":{"prompt":%q}}`, prompt)}}, nil)
	}

	cert, err := ask("life")
	if err != nil {
		t.Fatalf("same answers: %v", err)
	}
	if cert.Round.IsFast() {
		t.Error("a block with an HTTP oracle was confirmed in the fast round")
	}
	if got := queryAll(t, n, n.chains[0], app, "{ answer }"); got != `{"data":{"answer":"life is 42"}}` {
		t.Fatalf("answer %s", got)
	}

	as[0].set("one", "41")
	if _, err := ask("one"); err != nil {
		t.Fatalf("one dissenting validator: %v", err)
	}

	as[1].set("two", "41")
	as[2].set("two", "41")
	_, err = ask("two")
	var d *client.DisagreementError
	if !errors.As(err, &d) || !errors.Is(err, client.ErrValidatorsDisagree) {
		t.Fatalf("two dissenting validators: %v, want a DisagreementError", err)
	}
	if len(d.Votes) != 2 || d.Votes[0].Weight != 2 || d.Votes[1].Weight != 2 || d.Total != 4 ||
		!strings.Contains(err.Error(), "2 of 4 votes for block") || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("disagreement %+v: %v", d, err)
	}
	t.Logf("%v", err)
	// The chain's next block commits (the failed proposal is not re-sent), and so does
	// another chain's.
	if _, err := ask("three"); err != nil {
		t.Fatalf("next block after the disagreement: %v", err)
	}
	if got := queryAll(t, n, n.chains[0], app, "{ answer }"); got != `{"data":{"answer":"three is 42"}}` {
		t.Fatalf("answer after the disagreement %s", got)
	}
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0], Owner: base.ChainOwner}, base.Tokens(1)); err != nil {
		t.Fatalf("another chain's block: %v", err)
	}

	// A quorum agrees on an outcome other than the client's own execution: the client
	// cannot certify it (it has not that outcome) and says so.
	local.set("four", "41")
	_, err = ask("four")
	if !errors.As(err, &d) || !strings.Contains(err.Error(), "a quorum (4 of 4) voted for block") {
		t.Fatalf("client alone in its answer: %v", err)
	}
	local.set("four", "42")
	if _, err := ask("five"); err != nil {
		t.Fatalf("next block after the client's own disagreement: %v", err)
	}

	// Figures: client-side latency, from building the block to the confirmed
	// certificate (local staging included), of an HTTP-oracle block (validated then
	// confirmed; the fake endpoint answers at once), a counter increment (fast round)
	// and a transfer (fast round).
	cc, cs := buildExample(t, "counter")
	counter := createApp(t, a, cc, cs, "0")
	const rounds = 20
	var oracleT, counterT, transferT []time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		if _, err := ask(fmt.Sprint("q", i)); err != nil {
			t.Fatal(err)
		}
		oracleT = append(oracleT, time.Since(start))
		start = time.Now()
		appOp(t, a, counter, `{"increment":1}`)
		counterT = append(counterT, time.Since(start))
		start = time.Now()
		if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1], Owner: base.ChainOwner}, base.AmountFromAttos(1)); err != nil {
			t.Fatal(err)
		}
		transferT = append(transferT, time.Since(start))
	}
	t.Logf("FIGURES in-process, 4 validators, median of %d: HTTP-oracle ask block %v, counter increment block %v, transfer block %v",
		rounds, median(oracleT), median(counterT), median(transferT))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
