package chain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/protocol"
)

// TestApplicationParametersThroughWasm: the fungible example, compiled to Wasm, reads
// its application parameters (the ticker symbol) through the host's application
// parameters call: its contract checks them when the application is created (and
// fails the block on invalid ones), its service answers them. The creating block
// replays to the same block.
func TestApplicationParametersThroughWasm(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract := wasmtest.BuildGoGuest(t, "../../examples", "./fungible/contract")
	service := wasmtest.BuildGoGuest(t, "../../examples", "./fungible/service")
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	wc := newWasmChainOf(t, engine, contract, service, protocol.NoFeesPolicy())
	create := func(params string) *protocol.ProposedBlock {
		return wc.proposal(
			protocol.SystemTx(&protocol.PublishModule{Module: wc.module}),
			protocol.SystemTx(&protocol.CreateApplication{Module: wc.module, Parameters: []byte(params), Argument: []byte(`{"accounts":{}}`)}),
		)
	}
	for _, bad := range []string{`{"ticker_symbol":"mica"}`, `{"ticker":"MICA"}`, `[`} {
		if _, err := wc.run(create(bad), nil, false); err == nil || !strings.Contains(err.Error(), "parameters") && !strings.Contains(err.Error(), "ticker symbol") {
			t.Errorf("parameters %s: %v", bad, err)
		}
	}
	p := create(`{"ticker_symbol":"MICA"}`)
	live, err := wc.run(p, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := wc.run(p, &live.Outcome, false)
	if err != nil || replayed.Hash() != live.Hash() {
		t.Fatalf("replay: %v, same block %v", err, err == nil && replayed.Hash() == live.Hash())
	}
	blk, err := wc.run(p, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	res := blk.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])
	id := wc.s.desc.ID()
	cs := chain.Load(id, wc.s.st.ChainContext(id), wc.opt)
	for _, q := range []string{`{ tickerSymbol }`, `{"query":"{ t: tickerSymbol }"}`} {
		out, err := cs.Execution().QueryApplication(ctx, execution.QueryContext{ChainID: id, NextBlockHeight: 1}, app, []byte(q), wc.s.st)
		if err != nil || !strings.Contains(string(out), `"MICA"`) {
			t.Fatalf("%s: %s %v", q, out, err)
		}
	}
}
