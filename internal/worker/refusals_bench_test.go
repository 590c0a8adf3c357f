//go:build unix

package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// BenchmarkRequestAfterRefusal measures what a refused proposal costs the next request
// on its chain: each iteration a proposal at the wrong height is refused, then the
// chain's info is queried with its inbox and the owner's balance (the query a client
// sends before its next proposal). Before the state was kept, every refusal dropped the
// chain's in-memory state and the query loaded it again. On a Pebble store in a
// temporary directory; cpu-µs/op is the process's CPU time per iteration.
func BenchmarkRequestAfterRefusal(b *testing.B) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice, prototest.Key("bob")}, base.Tokens(100))
	ids := g.ChainIDs()
	db, err := pebblekv.Open(b.TempDir(), pebblekv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := worker.New(worker.Config{Storage: genesisStore(b, db, g), Signer: keys[0], Clock: fixedClock{10_000_000}})
	o := alice.Public().Owner()
	prev := base.Hash{1}
	wrong, err := protocol.SignProposal(alice, protocol.ProposedBlock{ChainID: ids[0], Height: 5, Timestamp: 5_000_000, PreviousBlockHash: &prev, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: ids[1]}, Amount: base.Tokens(1)})}}, base.FastRound, nil)
	if err != nil {
		b.Fatal(err)
	}
	owner := base.ChainOwner
	q := &protocol.ChainInfoQuery{ChainID: ids[0], RequestPendingBundles: true, RequestOwnerBalance: &owner}
	if _, err := w.HandleChainInfoQuery(ctx, q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := processCPU()
	for range b.N {
		if _, err := w.HandleBlockProposal(ctx, wrong); !errors.Is(err, worker.ErrWrongHeight) {
			b.Fatalf("wrong height: %v", err)
		}
		if _, err := w.HandleChainInfoQuery(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu-µs/op")
}
