package chain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/protocol"
)

// fakeAI is an HTTPPerformer answering the ai-oracle example's requests with
// {"answer": "<prompt>!"}, counting them.
type fakeAI struct {
	mu    sync.Mutex
	calls int
	fail  bool
}

func (f *fakeAI) PerformHTTP(_ context.Context, policy *protocol.ResourcePolicy, req *execution.HTTPRequest) (*execution.HTTPResponse, error) {
	if _, err := execution.CheckHTTPRequest(policy, req); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return nil, errors.New("replay must not perform HTTP requests")
	}
	var r struct{ Prompt string }
	if err := json.Unmarshal(req.Body, &r); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]string{"answer": r.Prompt + "!"})
	return &execution.HTTPResponse{Status: 200, Body: b}, nil
}

// oracleChain is a root chain running the ai-oracle example.
type oracleChain struct{ *wasmChain }

func buildAIOracle(t *testing.T) (contract, service []byte) {
	return wasmtest.BuildGoGuest(t, "../../examples", "./ai-oracle/contract"), wasmtest.BuildGoGuest(t, "../../examples", "./ai-oracle/service")
}

func newOracleChain(t *testing.T, engine *wasm.Engine, contract, service []byte, http execution.HTTPPerformer) *oracleChain {
	t.Helper()
	policy := protocol.NoFeesPolicy()
	policy.HTTPAllowList = []string{"ai.test"}
	w := newWasmChainOf(t, engine, contract, service, policy)
	w.http, w.now = http, 1_000
	return &oracleChain{w}
}

// execute executes p as the next block (live oracles, or replaying replay's), and
// applies it if apply.
func (w *oracleChain) execute(p *protocol.ProposedBlock, replay *protocol.BlockExecutionOutcome, apply bool) (*protocol.Block, error) {
	return w.run(p, replay, apply)
}

func (w *oracleChain) createApp(endpoint string) base.ApplicationID {
	blk, err := w.execute(w.proposal(
		protocol.SystemTx(&protocol.PublishModule{Module: w.module}),
		protocol.SystemTx(&protocol.CreateApplication{Module: w.module, Argument: fmt.Appendf(nil, `{"endpoint":%q}`, endpoint)}),
	), nil, true)
	if err != nil {
		w.t.Fatal(err)
	}
	res := blk.Outcome.OperationResults
	return base.ApplicationID(res[len(res)-1])
}

func askTx(app base.ApplicationID, prompt string, viaService bool) protocol.Transaction {
	op := fmt.Sprintf(`{"ask":{"prompt":%q,"viaService":%v}}`, prompt, viaService)
	return protocol.OperationTx(protocol.Operation{App: app, Bytes: []byte(op)})
}

// TestOracleBlocksAreDeterministic executes a block that asks the ai-oracle example's
// endpoint over HTTP (an HTTP oracle) and through its service (service as oracle) on
// fresh stores with fresh and reused VM engines, and requires identical blocks; then it
// replays the block (no HTTP performed) to the same block, and refuses replays of
// tampered recorded responses: another answer changes the outcome (the worker refuses
// the certificate: ErrOutcomeMismatch), another request hash or kind is an
// ErrOracleMismatch.
func TestOracleBlocksAreDeterministic(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildAIOracle(t)
	shared, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close(ctx)

	type result struct {
		chain *oracleChain
		p     *protocol.ProposedBlock
		blk   *protocol.Block
	}
	run := func(engine *wasm.Engine) result {
		wc := newOracleChain(t, engine, contract, service, &fakeAI{})
		app := wc.createApp("http://ai.test/ask")
		p := wc.proposal(askTx(app, "Direct", false), askTx(app, "  Via Service ", true))
		blk, err := wc.execute(p, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		return result{wc, p, blk}
	}
	first := run(shared)
	out := first.blk.Outcome
	if got := string(out.OperationResults[0]); got != `"Direct!"` {
		t.Fatalf("direct ask returned %s", got)
	}
	if got := string(out.OperationResults[1]); got != `"via service !"` {
		t.Fatalf("ask via service returned %s", got)
	}
	rs := out.OracleResponses
	// Besides the blob reads (application description, bytecode): one HTTP response,
	// one service answer.
	httpAt, svcAt := oracleAt(rs[0], protocol.OracleHTTP), oracleAt(rs[1], protocol.OracleService)
	if httpAt < 0 || svcAt < 0 || rs[0][httpAt].Status != 200 || countOracles(rs[0]) != 1 || countOracles(rs[1]) != 1 {
		t.Fatalf("oracle responses %+v", rs)
	}
	if !execution.UsesOracles(rs) {
		t.Fatal("an HTTP oracle block is eligible for the fast round")
	}
	// Once on a fresh engine, once more on the shared one (modules compiled and
	// instances used): each compile of the two Go guests costs seconds.
	for i := 0; i < 2; i++ {
		engine := shared
		if i%2 == 0 {
			fresh, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close(ctx)
			engine = fresh
		}
		if r := run(engine); r.blk.Hash() != first.blk.Hash() {
			t.Fatalf("run %d (fresh engine: %v) produced a different block", i, i%2 == 0)
		}
	}

	// Replay: the recorded responses, no HTTP request, no service run.
	replayOn := func(outcome protocol.BlockExecutionOutcome) (*protocol.Block, error) {
		r := run(shared)
		r.chain.http = &fakeAI{fail: true}
		return r.chain.execute(r.p, &outcome, false)
	}
	blk, err := replayOn(out)
	if err != nil || blk.Hash() != first.blk.Hash() {
		t.Fatalf("replay: %v (same block: %v)", err, err == nil && blk.Hash() == first.blk.Hash())
	}
	tamper := func(f func(r *protocol.OracleResponse)) protocol.BlockExecutionOutcome {
		c := out
		c.OracleResponses = [][]protocol.OracleResponse{append([]protocol.OracleResponse(nil), rs[0]...), append([]protocol.OracleResponse(nil), rs[1]...)}
		f(&c.OracleResponses[0][httpAt])
		return c
	}
	// Another answer: the replay executes, but to another block than the certified one.
	body := tamper(func(r *protocol.OracleResponse) { r.Value = []byte(`{"answer":"forged"}`) })
	if blk, err := replayOn(body); err != nil || blk.Hash() == protocol.NewBlock(first.blk.Proposed, body).Hash() {
		t.Fatalf("replay of a forged HTTP body: %v; it must re-execute to a different block", err)
	}
	for name, f := range map[string]func(r *protocol.OracleResponse){
		"request": func(r *protocol.OracleResponse) { r.Request[0] ^= 1 },
		"kind":    func(r *protocol.OracleResponse) { r.Kind = protocol.OracleService },
		"assert":  func(r *protocol.OracleResponse) { *r = protocol.OracleResponse{Kind: protocol.OracleAssert} },
	} {
		if _, err := replayOn(tamper(f)); !errors.Is(err, execution.ErrOracleMismatch) {
			t.Errorf("replay with a tampered %s: %v, want ErrOracleMismatch", name, err)
		}
	}
	// A missing or an extra recorded response is refused too.
	short := out
	short.OracleResponses = [][]protocol.OracleResponse{rs[0][:httpAt], rs[1]}
	if _, err := replayOn(short); !errors.Is(err, execution.ErrOracleMismatch) {
		t.Errorf("replay without the HTTP response: %v", err)
	}
	extra := out
	extra.OracleResponses = [][]protocol.OracleResponse{append(append([]protocol.OracleResponse(nil), rs[0]...), protocol.OracleResponse{Kind: protocol.OracleAssert}), rs[1]}
	if _, err := replayOn(extra); !errors.Is(err, execution.ErrOracleMismatch) {
		t.Errorf("replay with an extra response: %v", err)
	}
}

// TestOracleBadInput: requests the committee's policy refuses fail the block with a
// clear execution error and change nothing; no request reaches the performer.
func TestOracleBadInput(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildAIOracle(t)
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	for _, c := range []struct{ endpoint, want string }{
		{"http://evil.test/ask", "not on the committee's HTTP allow-list"},
		{"http://[::1/ask", "malformed URL"},
		{"http://user:pw@ai.test/ask", "malformed URL"},
	} {
		ai := &fakeAI{}
		wc := newOracleChain(t, engine, contract, service, ai)
		app := wc.createApp(c.endpoint)
		before := wc.s.st
		_, err := wc.execute(wc.proposal(askTx(app, "x", false)), nil, false)
		if !errors.Is(err, execution.ErrHTTPRequest) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("endpoint %s: %v, want ErrHTTPRequest %q", c.endpoint, err, c.want)
		}
		if ai.calls != 0 {
			t.Errorf("endpoint %s: %d requests reached the performer", c.endpoint, ai.calls)
		}
		_ = before
	}
	// An empty allow-list refuses every request.
	wc := newOracleChain(t, engine, contract, service, &fakeAI{})
	wc.policy.HTTPAllowList = nil
	app := wc.createApp("http://ai.test/ask")
	if _, err := wc.execute(wc.proposal(askTx(app, "x", false)), nil, false); !errors.Is(err, execution.ErrHTTPRequest) {
		t.Errorf("empty allow-list: %v", err)
	}
	// The service-as-oracle budget: zero time per block refuses the query.
	wc = newOracleChain(t, engine, contract, service, &fakeAI{})
	wc.policy.MaxServiceOracleMs = 0
	app = wc.createApp("http://ai.test/ask")
	if _, err := wc.execute(wc.proposal(askTx(app, "x", true)), nil, false); !errors.Is(err, execution.ErrServiceOracle) {
		t.Errorf("no service-oracle time: %v", err)
	}
}

// oracleAt returns the index of the first response of kind k, or -1.
func oracleAt(rs []protocol.OracleResponse, k protocol.OracleKind) int {
	for i := range rs {
		if rs[i].Kind == k {
			return i
		}
	}
	return -1
}

// countOracles counts the responses that are oracles (execution.IsOracle).
func countOracles(rs []protocol.OracleResponse) int {
	n := 0
	for i := range rs {
		if execution.IsOracle(&rs[i]) {
			n++
		}
	}
	return n
}
