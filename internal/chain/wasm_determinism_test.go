package chain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// TestWasmBlocksAreDeterministic executes the same two blocks (publish and create a
// Go counter application, then three increments) many times, on fresh stores with
// fresh VM engines and with one reused engine, and requires identical blocks: same
// outcome, same state hash, hence the same block hash on every validator.
func TestWasmBlocksAreDeterministic(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds a Wasm guest (skipped with -short and -race)")
	}
	ctx := context.Background()
	code := buildCounter(t)
	run := func(engine *wasm.Engine) (base.Hash, base.Hash) {
		wc := newWasmChain(t, engine, code, protocol.NoFeesPolicy())
		b0, app := wc.createApp("7")
		b1, err := wc.execute(wc.ops(app, `{"increment":5}`, 3))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b1.Outcome.OperationResults[2]); got != "22" {
			t.Fatalf("third increment returned %q, want 22", got)
		}
		return b0.Hash(), b1.Hash()
	}

	shared, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close(ctx)
	want0, want1 := run(shared)
	for i := 0; i < 6; i++ {
		engine := shared
		if i%2 == 0 {
			fresh, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close(ctx)
			engine = fresh
		}
		h0, h1 := run(engine)
		if h0 != want0 || h1 != want1 {
			t.Fatalf("run %d (fresh engine: %v) produced different blocks", i, i%2 == 0)
		}
	}
}

func buildCounter(t *testing.T) []byte {
	return wasmtest.BuildGoGuest(t, wasmtest.CounterDir, ".")
}

// wasmChain executes blocks of a root chain with the Wasm loader, applying and storing
// each one like a validator.
type wasmChain struct {
	t      *testing.T
	s      *setup
	opt    execution.Option
	module protocol.ModuleID
	policy protocol.ResourcePolicy
	http   execution.HTTPPerformer // nil: no HTTP
	now    base.Timestamp          // the validator's clock, for assert_before
	prev   *base.Hash
	height base.BlockHeight
}

func newWasmChain(t *testing.T, engine *wasm.Engine, code []byte, policy protocol.ResourcePolicy) *wasmChain {
	return newWasmChainOf(t, engine, code, code, policy)
}

// newWasmChainOf is newWasmChain with a module of a distinct contract and service.
func newWasmChainOf(t *testing.T, engine *wasm.Engine, contract, service []byte, policy protocol.ResourcePolicy) *wasmChain {
	t.Helper()
	s := newSetup(t, memkv.New())
	module, blobs := protocol.ModuleBlobs(contract, service)
	var b kv.Batch
	for i := range blobs {
		storage.PutBlob(&b, &blobs[i])
	}
	if err := s.st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	s.load(t)
	return &wasmChain{t: t, s: s, opt: execution.WithLoader(wasm.NewLoader(engine, 0)), module: module, policy: policy}
}

func (w *wasmChain) execute(txs []protocol.Transaction) (*protocol.Block, error) {
	return w.run(w.proposal(txs...), nil, true)
}

// proposal is the chain's next block with txs.
func (w *wasmChain) proposal(txs ...protocol.Transaction) *protocol.ProposedBlock {
	return &protocol.ProposedBlock{ChainID: w.s.desc.ID(), Height: w.height, Timestamp: base.Timestamp(2_000_000 + uint64(w.height)), PreviousBlockHash: w.prev, AuthenticatedOwner: &w.s.owner, Transactions: txs}
}

// run executes p (live oracles, or replaying replay's) and applies it if apply.
func (w *wasmChain) run(p *protocol.ProposedBlock, replay *protocol.BlockExecutionOutcome, apply bool) (*protocol.Block, error) {
	ctx := context.Background()
	id := w.s.desc.ID()
	cs := chain.Load(id, w.s.st.ChainContext(id), w.opt)
	blk, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: w.s.st, Policy: &w.policy, HTTP: w.http, Replay: replay, Now: w.now})
	if err != nil || !apply {
		return blk, err
	}
	if err := cs.ApplyConfirmed(ctx, blk, 1); err != nil {
		w.t.Fatal(err)
	}
	var wb kv.Batch
	cs.Flush(&wb)
	storage.PutCertificate(&wb, &protocol.Certificate{Kind: protocol.KindConfirmed, Block: blk})
	if err := w.s.st.Write(ctx, &wb); err != nil {
		w.t.Fatal(err)
	}
	h := blk.Hash()
	w.prev, w.height = &h, w.height+1
	return blk, nil
}

func (w *wasmChain) createApp(arg string) (*protocol.Block, base.ApplicationID) {
	blk, err := w.execute([]protocol.Transaction{
		protocol.SystemTx(&protocol.PublishModule{Module: w.module}),
		protocol.SystemTx(&protocol.CreateApplication{Module: w.module, Argument: []byte(arg)}),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	res := blk.Outcome.OperationResults
	return blk, base.ApplicationID(res[len(res)-1])
}

func (w *wasmChain) ops(app base.ApplicationID, op string, n int) []protocol.Transaction {
	var txs []protocol.Transaction
	for range n {
		txs = append(txs, protocol.OperationTx(protocol.Operation{App: app, Bytes: []byte(op)}))
	}
	return txs
}

func (w *wasmChain) balance() base.Amount {
	cs := chain.Load(w.s.desc.ID(), w.s.st.ChainContext(w.s.desc.ID()))
	bal, err := cs.Execution().ChainBalance(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return bal
}

// TestFuelIsPricedAndBoundedByPolicy: with a price per fuel unit the chain pays fuel ×
// price for each operation, and a block may not use more fuel than the policy's limit.
func TestFuelIsPricedAndBoundedByPolicy(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds a Wasm guest (skipped with -short and -race)")
	}
	ctx := context.Background()
	code := buildCounter(t)
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)

	priced := protocol.NoFeesPolicy()
	priced.FuelUnit = base.AmountFromAttos(1000)
	wc := newWasmChain(t, engine, code, priced)
	_, app := wc.createApp("0")
	before := wc.balance()
	if _, err := wc.execute(wc.ops(app, `{"increment":1}`, 1)); err != nil {
		t.Fatal(err)
	}
	paid := before.SaturatingSub(wc.balance())
	if paid.IsZero() {
		t.Fatal("executing a contract cost nothing with a fuel price set")
	}
	// The fee is exactly fuel × price: fuel used is paid/1000, identical on replay.
	hi, lo := paid.Parts()
	if hi != 0 || lo%1000 != 0 {
		t.Fatalf("fee %s is not a multiple of the fuel price", paid)
	}
	t.Logf("one increment used %d fuel units", lo/1000)

	// A block limit of 1.5 increments: the second increment in a block runs out of fuel.
	limited := protocol.NoFeesPolicy()
	limited.MaxFuelPerBlock = lo / 1000 * 3 / 2
	wl := newWasmChain(t, engine, code, limited)
	// Creating the application itself uses fuel (Instantiate), within the limit.
	_, app2 := wl.createApp("0")
	if _, err := wl.execute(wl.ops(app2, `{"increment":1}`, 1)); err != nil {
		t.Fatalf("one increment within the block limit: %v", err)
	}
	if _, err := wl.execute(wl.ops(app2, `{"increment":1}`, 2)); !errors.Is(err, wasm.ErrOutOfFuel) {
		t.Fatalf("two increments over the block limit: got %v, want out of fuel", err)
	}
}
