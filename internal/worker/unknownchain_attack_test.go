package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackUnknownChainProposalsAndCertificates: a stranger sends signed proposals,
// certificates (alone and as a batch to preverify, as HandleCertificates does) for
// 10,000 chains the validator does not know. Each is refused as an unknown chain, no
// vote is signed, and none stays in the map of loaded chains (resisted: queries were
// tested, proposals and batches were not).
func TestAttackUnknownChainProposalsAndCertificates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	o := f.alice.Public().Owner()
	var batch []*protocol.Certificate
	for i := range 10_000 {
		id := base.ChainID{0xfd, byte(i >> 16), byte(i >> 8), byte(i)}
		p := protocol.ProposedBlock{ChainID: id, Height: 0, Timestamp: 1_000_000, AuthenticatedOwner: &o,
			Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: f.chains[0]}, Amount: base.Tokens(1)})}}
		prop, err := protocol.SignProposal(f.alice, p, base.FastRound, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := w.HandleBlockProposal(ctx, prop); !errors.Is(err, worker.ErrUnknownChain) || info != nil {
			t.Fatalf("proposal %d: %v, want ErrUnknownChain and no vote", i, err)
		}
		if i%100 == 0 {
			cert := prototest.Certify(protocol.KindConfirmed, prototest.TransferBlock(id, 0, nil, o, base.Account{Chain: f.chains[0]}, 1), nil, base.FastRound, f.keys)
			if _, err := w.HandleCertificate(ctx, cert); !errors.Is(err, worker.ErrUnknownChain) {
				t.Fatalf("certificate %d: %v, want ErrUnknownChain", i, err)
			}
			batch = append(batch, cert)
		}
	}
	w.PreverifyCertificateBatch(ctx, batch)
	if n := w.LoadedChains(); n > 0 {
		t.Fatalf("%d entries left in the chain map by requests for unknown chains", n)
	}
}
