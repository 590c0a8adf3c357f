package chain_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
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
	if testing.Short() {
		t.Skip("builds a Wasm guest")
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "counter.wasm")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	build.Dir = "../execution/wasm/testdata/counter"
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	module, blobs := protocol.ModuleBlobs(code, code)

	run := func(engine *wasm.Engine) (base.Hash, base.Hash) {
		s := newSetup(t, memkv.New())
		var b kv.Batch
		for i := range blobs {
			storage.PutBlob(&b, &blobs[i])
		}
		if err := s.st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		s.load(t)
		id := s.desc.ID()
		opt := execution.WithLoader(wasm.NewLoader(engine, 0))
		exec := func(p *protocol.ProposedBlock) *protocol.Block {
			cs := chain.Load(id, s.st.ChainContext(id), opt)
			blk, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: s.st, Policy: &s.policy})
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.ApplyConfirmed(ctx, blk, 1); err != nil {
				t.Fatal(err)
			}
			var wb kv.Batch
			cs.Flush(&wb)
			storage.PutCertificate(&wb, &protocol.Certificate{Kind: protocol.KindConfirmed, Block: blk})
			if err := s.st.Write(ctx, &wb); err != nil {
				t.Fatal(err)
			}
			return blk
		}
		p0 := &protocol.ProposedBlock{ChainID: id, Height: 0, Timestamp: 2_000_000, AuthenticatedOwner: &s.owner, Transactions: []protocol.Transaction{
			protocol.SystemTx(&protocol.PublishModule{Module: module}),
			protocol.SystemTx(&protocol.CreateApplication{Module: module, Argument: []byte("7")}),
		}}
		b0 := exec(p0)
		res := b0.Outcome.OperationResults
		app := base.ApplicationID(res[len(res)-1])
		h0 := b0.Hash()
		p1 := &protocol.ProposedBlock{ChainID: id, Height: 1, Timestamp: 3_000_000, PreviousBlockHash: &h0, AuthenticatedOwner: &s.owner}
		for range 3 {
			p1.Transactions = append(p1.Transactions, protocol.OperationTx(protocol.Operation{App: app, Bytes: []byte(`{"increment":5}`)}))
		}
		b1 := exec(p1)
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
