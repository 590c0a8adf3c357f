package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestOnFastProposalEncoded: the hook gets each new fast proposal before it is sent,
// with its canonical encoding, instead of OnFastProposal; a failing hook stops the
// proposal.
func TestOnFastProposalEncoded(t *testing.T) {
	ctx := context.Background()
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	var got []*protocol.BlockProposal
	a.OnFastProposalEncoded = func(p *protocol.BlockProposal, enc []byte) error {
		if !bytes.Equal(enc, codec.Marshal(p)) {
			t.Errorf("the hook got another encoding than the proposal's")
		}
		got = append(got, p)
		return nil
	}
	a.OnFastProposal = func(*protocol.BlockProposal) error {
		t.Error("OnFastProposal called though OnFastProposalEncoded is set")
		return nil
	}
	to := base.Account{Chain: n.chains[0]}
	for range 2 {
		if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0].Content.Block.Height != 0 || got[1].Content.Block.Height != 1 {
		t.Fatalf("the hook got %d proposals, want those of heights 0 and 1", len(got))
	}
	refused := errors.New("disk full")
	a.OnFastProposalEncoded = func(*protocol.BlockProposal, []byte) error { return refused }
	if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); !errors.Is(err, refused) {
		t.Fatalf("transfer with a failing hook: %v, want the hook's error", err)
	}
	for i := range n.workers {
		if h := n.blockHashes(n.chains[0], 2)[i]; h != (base.Hash{}) {
			t.Errorf("validator %d holds a block at height 2, proposed though the hook failed", i)
		}
	}
}
