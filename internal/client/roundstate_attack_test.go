package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// phantomProposalNode is a validator that answers every query for the chain's manager
// values with a proposal of its own in the current round at the chain's next height: a
// block the chain's owners never signed, signed by the validator's own key (signed) or
// with a signature of nothing (garbage).
type phantomProposalNode struct {
	*deliveringNode
	key    *crypto.PrivateKey
	signed bool
}

func (p *phantomProposalNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := p.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err != nil || !q.RequestManagerValues {
		return info, err
	}
	me := p.key.Public().Owner()
	block := protocol.ProposedBlock{
		ChainID: info.ChainID, Epoch: info.Epoch, Height: info.NextBlockHeight, Timestamp: info.Timestamp,
		PreviousBlockHash: info.BlockHash, AuthenticatedOwner: &me,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{
			Owner: base.ChainOwner, Recipient: base.Account{Chain: info.ChainID, Owner: me}, Amount: base.Tokens(1)})},
	}
	phantom, serr := protocol.SignProposal(p.key, block, info.Manager.CurrentRound, nil)
	if serr != nil {
		return nil, serr
	}
	if !p.signed {
		phantom.Signature = crypto.Signature{}
	}
	out := *info
	out.Manager.Proposed = phantom
	return &out, nil
}

// ownerOfRound0 returns the key of the leader of single-leader(0) at height 0 of the
// chain owned by keys (multiOwner with no multi-leader round), or of an owner that is
// not the leader.
func ownerOfRound0(t *testing.T, keys []*crypto.PrivateKey, leader bool) *crypto.PrivateKey {
	t.Helper()
	var owners []base.Owner
	for _, k := range keys {
		owners = append(owners, k.Public().Owner())
	}
	l, ok := consensus.NewManager(protocol.MultiOwner(owners, 0), 0, 0).Leader(base.SingleLeader(0))
	if !ok {
		t.Fatal("no leader for single-leader(0)")
	}
	for i, o := range owners {
		if (o == l) == leader {
			return keys[i]
		}
	}
	t.Fatal("no such owner")
	return nil
}

// TestAttackPhantomConflictingProposal: on a chain in single-leader rounds, one
// Byzantine validator reports in every answer a proposal in the current round that no
// owner made (signed by itself, or not at all). The round's leader must still propose
// its block in that round and get it confirmed. Before the fix, any reported proposal
// other than the client's own block set the round state's conflict: the leader
// forwarded the phantom (signed case: every honest validator refuses it) or gave up the
// round (garbage case), at every height, so one validator of four could stop every
// multi-owner chain in single-leader rounds.
func TestAttackPhantomConflictingProposal(t *testing.T) {
	for _, signed := range []bool{true, false} {
		name := map[bool]string{true: "signed by the validator", false: "garbage signature"}[signed]
		t.Run(name, func(t *testing.T) {
			alice, bob := prototest.Key("alice"), prototest.Key("bob")
			n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
			id, _, keys := multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 0)
			key := ownerOfRound0(t, keys, true)
			c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: &phantomProposalNode{deliveringNode: n.node(0), key: n.keys[0], signed: signed}}, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cert, err := c.Chain(id, key, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
			if err != nil {
				t.Fatalf("the leader's transfer: %v", err)
			}
			if cert.Height() != 0 || cert.Round != base.SingleLeader(0) {
				t.Fatalf("committed height %d in %v, want height 0 in single-leader(0)", cert.Height(), cert.Round)
			}
		})
	}
}

// lateTimeoutNode is a validator that reports its round's timeout a year later than it
// is.
type lateTimeoutNode struct {
	*deliveringNode
}

func (l *lateTimeoutNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := l.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err != nil || info.Manager.RoundTimeout == nil {
		return info, err
	}
	out := *info
	late := info.Manager.RoundTimeout.Add(base.DeltaFromDuration(365 * 24 * time.Hour))
	out.Manager.RoundTimeout = &late
	return &out, nil
}

// TestAttackLateRoundTimeout: an owner that is not the leader of the current round is
// told to wait for the round to time out. One Byzantine validator reporting a timeout a
// year away must not set that wait (the node service sleeps until it before it asks for
// a timeout certificate): the client waits for the time a validity threshold of the
// weight reports, as it does for the round itself. Before the fix it took the latest
// timeout any validator reported.
func TestAttackLateRoundTimeout(t *testing.T) {
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	id, _, keys := multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 0)
	key := ownerOfRound0(t, keys, false)
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: &lateTimeoutNode{n.node(0)}}, 0)
	ctx := context.Background()
	_, err := c.Chain(id, key, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	var wait *client.WaitForTimeoutError
	if !errors.As(err, &wait) {
		t.Fatalf("a non-leader's transfer: %v, want WaitForTimeoutError", err)
	}
	var honest base.Timestamp
	for i := 1; i < 4; i++ {
		info, err := n.workers[i].HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil || info.Manager.RoundTimeout == nil {
			t.Fatalf("validator %d: no round timeout (%v)", i, err)
		}
		honest = max(honest, *info.Manager.RoundTimeout)
	}
	if wait.Until > honest {
		t.Fatalf("told to wait until %v, later than every honest validator's timeout (%v)", wait.Until.Time(), honest.Time())
	}
}
