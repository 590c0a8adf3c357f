package worker_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// commitFast proposes block with blobs in the fast round to every validator, requires a
// confirmed fast vote from each, and has each handle the certificate (which replays the
// block: its oracle responses, the blob reads included). It returns the certified block.
func (f *fixture) commitFast(t *testing.T, block protocol.ProposedBlock, blobs []protocol.Blob) *protocol.Block {
	t.Helper()
	ctx := context.Background()
	p, err := protocol.SignProposal(f.alice, block, base.FastRound, blobs)
	if err != nil {
		t.Fatal(err)
	}
	var votes []protocol.Vote
	for i, w := range f.workers {
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatalf("validator %d refused the fast proposal: %v", i, err)
		}
		v := info.Manager.PendingVote
		if v == nil || v.Value.Kind != protocol.KindConfirmed || !v.Round.IsFast() {
			t.Fatalf("validator %d: vote %+v, want a confirmed vote in the fast round", i, v)
		}
		votes = append(votes, *v)
	}
	b, err := f.workers[0].StageBlock(ctx, &block, blobs)
	if err != nil {
		t.Fatal(err)
	}
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, b, nil, base.FastRound, votes)
	for i, w := range f.workers {
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatalf("validator %d refused the certificate: %v", i, err)
		}
	}
	return b
}

// TestApplicationOperationInFastRound: loading a contract reads its description and
// bytecode blobs, which are content-addressed and so no oracle; a counter increment on
// a single-owner chain is confirmed in the fast round, like a transfer, and every
// validator replays the certified block (finding the bytecode among confirmed blobs).
func TestApplicationOperationInFastRound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest")
	}
	ctx := context.Background()
	code := wasmtest.BuildGoGuest(t, wasmtest.CounterDir, ".")
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)

	f := &fixture{keys: prototest.Validators(4), alice: prototest.Key("alice")}
	f.genesis = prototest.Genesis(prototest.Committee(f.keys), []*crypto.PrivateKey{f.alice}, base.Tokens(100))
	f.chains = f.genesis.ChainIDs()
	for _, k := range f.keys {
		db := memkv.New()
		t.Cleanup(func() { _ = db.Close() })
		st := storage.New(db)
		var b kv.Batch
		storage.PutGenesis(&b, f.genesis)
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		// The validators share one engine (compiled code and snapshots): results do not
		// depend on it (wasm.TestSnapshotMatchesFreshInstance).
		f.workers = append(f.workers, worker.New(worker.Config{Storage: st, Signer: k, Clock: fixedClock{10_000_000}, Loader: wasm.NewLoader(engine, 0)}))
	}
	owner := f.alice.Public().Owner()
	module, blobs := protocol.ModuleBlobs(code, code)
	create := protocol.ProposedBlock{ChainID: f.chains[0], Height: 0, Timestamp: 5_000_000, AuthenticatedOwner: &owner,
		Transactions: []protocol.Transaction{
			protocol.SystemTx(&protocol.PublishModule{Module: module}),
			protocol.SystemTx(&protocol.CreateApplication{Module: module, Argument: []byte("0")}),
		}}
	b := f.commitFast(t, create, blobs)
	res := b.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])

	prev := b.Hash()
	for h := base.BlockHeight(1); h <= 3; h++ {
		inc := protocol.ProposedBlock{ChainID: f.chains[0], Height: h, Timestamp: 5_000_000 + base.Timestamp(h), PreviousBlockHash: &prev, AuthenticatedOwner: &owner,
			Transactions: []protocol.Transaction{protocol.OperationTx(protocol.Operation{App: app, Bytes: []byte(`{"increment":2}`)})}}
		b := f.commitFast(t, inc, nil)
		var reads int
		for _, r := range b.Outcome.OracleResponses[0] {
			if r.Kind != protocol.OracleBlob {
				t.Fatalf("height %d: unexpected oracle response of kind %d", h, r.Kind)
			}
			reads++
		}
		if reads == 0 {
			t.Fatalf("height %d: the block records no blob read: the test no longer shows that blob reads are allowed in the fast round", h)
		}
		if got, want := string(b.Outcome.OperationResults[0]), []string{"", "2", "4", "6"}[h]; got != want {
			t.Fatalf("height %d: counter %q, want %q", h, got, want)
		}
		prev = b.Hash()
	}
}
