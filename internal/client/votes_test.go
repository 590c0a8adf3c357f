package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// byzantineNode is a validator of the committee that runs the honest worker but
// replaces its vote: with a signature by its own key over another value put on the
// vote for the block (a bad signature), or with a genuine vote for another value.
type byzantineNode struct {
	*deliveringNode
	key        *crypto.PrivateKey
	otherValue bool
}

func (b *byzantineNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	info, err := b.deliveringNode.HandleBlockProposal(ctx, p)
	if err != nil || info == nil || info.Manager.PendingVote == nil {
		return info, err
	}
	pv := *info.Manager.PendingVote
	other := pv.Value
	other.ValueHash = crypto.HashBytes("Byzantine", other.ValueHash[:])
	v, serr := protocol.SignVote(b.key, other, pv.Round)
	if serr != nil {
		return nil, serr
	}
	if !b.otherValue {
		v.Value = pv.Value // the signature is over the other value
	}
	out := *info
	out.Manager.PendingVote = &v
	return &out, nil
}

// TestByzantineVoteNeverCertified: a validator whose vote has a bad signature, or is a
// genuine vote for another value, among good votes: the client certifies the block with
// the three good votes only (the certificate passes a full signature check) and does
// not hang. In the parallel runs the Byzantine validator answers first and an honest
// one last, so the client, whose quorum check fails on the bad vote, must wait for the
// slow validator's vote.
func TestByzantineVoteNeverCertified(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		otherValue, parallel bool
	}{
		{"bad signature, sequential", false, false},
		{"bad signature, parallel", false, true},
		{"other value, sequential", true, false},
		{"other value, parallel", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			alice := prototest.Key("alice")
			n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
			vals := slices.Clone(n.validators)
			vals[0].Node = &byzantineNode{deliveringNode: n.node(0), key: n.keys[0], otherValue: tc.otherValue}
			if tc.parallel {
				vals[3].Node = &slowProposals{deliveringNode: n.node(3), delay: 30 * time.Millisecond}
			}
			local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
			c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vals, Clock: n.clock, Sequential: !tc.parallel})
			a := c.Chain(n.chains[0], alice, nil)
			to := base.Account{Chain: n.chains[0]}
			for range 3 {
				cert, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1))
				if err != nil {
					t.Fatal(err)
				}
				if err := cert.Check(n.committee); err != nil {
					t.Fatalf("certificate of block %d does not verify: %v", cert.Height(), err)
				}
				for _, s := range cert.Signatures {
					if s.Validator == n.keys[0].Public() {
						t.Fatalf("certificate of block %d carries the Byzantine validator's signature", cert.Height())
					}
				}
			}
			if tip, err := c.LocalTip(ctx, n.chains[0]); err != nil || tip.NextHeight != 3 {
				t.Fatalf("local tip %+v, %v; want 3 blocks", tip, err)
			}
		})
	}
}
