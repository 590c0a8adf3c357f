package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

func TestNewEpochAndRevokedCommittee(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	admin := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)

	// Epoch 1: the same validators at new addresses (a different committee blob).
	next := *n.committee
	next.Validators = append([]protocol.ValidatorState(nil), n.committee.Validators...)
	for i := range next.Validators {
		next.Validators[i].NetworkAddress = "10.0.0.1:1000" + string(rune('0'+i))
	}
	if _, err := admin.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateCommittee{Epoch: 1, Committee: next})}, nil); err != nil {
		t.Fatalf("create committee: %v", err)
	}
	// B's last block in epoch 0, certified by the epoch-0 committee.
	old, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.ProcessNewEpoch{Epoch: 1})}, nil); err != nil {
		t.Fatalf("process new epoch: %v", err)
	}
	cert, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1))
	if err != nil {
		t.Fatalf("transfer in epoch 1: %v", err)
	}
	if cert.Epoch() != 1 {
		t.Fatalf("B's block is in epoch %d, want 1", cert.Epoch())
	}
	for i, w := range n.workers {
		info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[1]})
		if err != nil || info.Epoch != 1 {
			t.Fatalf("validator %d: B in epoch %d (%v), want 1", i, info.Epoch, err)
		}
	}
	// Revoke epoch 0 on the admin chain; B stops trusting it.
	if _, err := admin.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.RemoveCommittee{Epoch: 0})}, nil); err != nil {
		t.Fatalf("remove committee: %v", err)
	}
	if _, err := b.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.ProcessRemovedEpoch{Epoch: 0})}, nil); err != nil {
		t.Fatalf("process removed epoch: %v", err)
	}
	// A block certified only by the revoked committee is refused.
	tip, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	prev := tip.Block.Hash()
	forged := prototest.TransferBlock(n.chains[1], tip.Height()+1, &prev, bob.Public().Owner(), base.Account{Chain: n.chains[0]}, 1)
	forged.Proposed.Epoch = 0
	forgedBlock := protocol.NewBlock(forged.Proposed, forged.Outcome)
	revoked := prototest.Certify(protocol.KindConfirmed, forgedBlock, nil, base.FastRound, n.keys)
	for i, w := range n.workers {
		if _, err := w.HandleCertificate(ctx, revoked); !errors.Is(err, worker.ErrUntrustedEpoch) {
			t.Fatalf("validator %d accepted a block of a revoked epoch: %v", i, err)
		}
	}
	_ = old
}
