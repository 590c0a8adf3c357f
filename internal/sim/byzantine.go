package sim

import (
	"context"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// A Byzantine node runs a real worker (so that it has real data to lie about) and
// corrupts its answers. It signs whatever it likes with its own key but cannot sign for
// anyone else.

// lies reports whether this answer is to be corrupted.
func (n *Node) lies() bool {
	if n.Fault != Byzantine || !n.chance(n.params.lie) {
		return false
	}
	n.Stats.Lies++
	return true
}

func (n *Node) randomHash() base.Hash {
	var h base.Hash
	for i := 0; i < len(h); i += 8 {
		v := n.rng.Uint64()
		for j := 0; j < 8; j++ {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

func (n *Node) owner() base.Owner { return n.Key.Public().Owner() }

// sign signs a vote with the node's own key; it cannot fail with a valid key.
func (n *Node) sign(v protocol.LiteValue, round base.Round) *protocol.Vote {
	vote, err := protocol.SignVote(n.Key, v, round)
	if err != nil {
		n.net.violation("sim: byzantine validator %d cannot sign: %v", n.Index, err)
		return nil
	}
	return &vote
}

// fakeBlock is a made-up block at the chain's next height, authenticated by the
// Byzantine validator's own key (which owns nothing).
func (n *Node) fakeBlock(info *protocol.ChainInfo) protocol.ProposedBlock {
	me := n.owner()
	return protocol.ProposedBlock{
		ChainID:            info.ChainID,
		Epoch:              info.Epoch,
		Height:             info.NextBlockHeight,
		Timestamp:          n.net.Clock.Now(),
		PreviousBlockHash:  info.BlockHash,
		AuthenticatedOwner: &me,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{
			Owner:     base.ChainOwner,
			Recipient: base.Account{Chain: info.ChainID, Owner: me},
			Amount:    base.Tokens(1 + uint64(n.rng.IntN(1000))),
		})},
	}
}

// fakeExecutedBlock is fakeBlock with a made-up outcome.
func (n *Node) fakeExecutedBlock(info *protocol.ChainInfo) *protocol.Block {
	return protocol.NewBlock(n.fakeBlock(info), protocol.BlockExecutionOutcome{
		Messages: make([][]protocol.OutgoingMessage, 1), OracleResponses: make([][]protocol.OracleResponse, 1),
		Events: make([][]protocol.Event, 1), Blobs: make([][]protocol.Blob, 1), OperationResults: [][]byte{{}},
		StateHash: n.randomHash(),
	})
}

func (n *Node) fakeProposal(info *protocol.ChainInfo, round base.Round) *protocol.BlockProposal {
	p, err := protocol.SignProposal(n.Key, n.fakeBlock(info), round, nil)
	if err != nil {
		return nil
	}
	return p
}

// bogusBundle is a made-up incoming bundle crediting the Byzantine validator a fortune.
func (n *Node) bogusBundle() protocol.IncomingBundle {
	origin := base.ChainID(n.randomHash())
	if chains := n.net.Chains; len(chains) > 0 && n.rng.IntN(2) == 0 {
		origin = chains[n.rng.IntN(len(chains))].ID
	}
	return protocol.IncomingBundle{
		Origin: origin,
		Bundle: protocol.MessageBundle{
			Height:          base.BlockHeight(n.rng.IntN(10)),
			Timestamp:       n.net.Clock.Now(),
			CertificateHash: n.randomHash(),
			Messages: []protocol.PostedMessage{{
				Kind:    protocol.Tracked,
				Message: protocol.Message{System: &protocol.Credit{Target: n.owner(), Amount: base.Tokens(1_000_000), Source: base.ChainOwner}},
			}},
		},
	}
}

// lieInfo returns a corrupted copy of info (never modifying what info points to: the
// worker shares some of it with its consensus state). p is the proposal being answered,
// if any. The kinds of lies: 0 equivocating vote, 1 wrong height, 2 wrong tip and
// balance, 3 bogus pending bundle, 4 wrong round, 5 bogus timeout vote, 6 fast lock on a
// block it signed itself, 7 conflicting proposal, 8 wrong chain, 9 validated lock with
// its own signature only.
func (n *Node) lieInfo(info *protocol.ChainInfo, p *protocol.BlockProposal) *protocol.ChainInfo {
	if info == nil {
		return nil
	}
	c := *info
	m := c.Manager
	kind := n.rng.IntN(10)
	if len(n.lieKinds) > 0 {
		kind = n.lieKinds[n.rng.IntN(len(n.lieKinds))]
	}
	switch kind {
	case 0: // Equivocate: a validly signed vote for a value nobody proposed.
		kind, round := protocol.KindConfirmed, base.FastRound
		if v := m.PendingVote; v != nil {
			kind, round = v.Value.Kind, v.Round
		} else if p != nil {
			round = p.Content.Round
			if !round.IsFast() {
				kind = protocol.KindValidated
			}
		}
		m.PendingVote = n.sign(protocol.LiteValue{ValueHash: n.randomHash(), ChainID: c.ChainID, Height: c.NextBlockHeight, Kind: kind}, round)
		n.Stats.Equivocations++
	case 1: // Wrong height.
		if c.NextBlockHeight > 0 && n.rng.IntN(2) == 0 {
			c.NextBlockHeight--
		} else {
			c.NextBlockHeight += base.BlockHeight(1 + n.rng.IntN(5))
		}
	case 2: // Wrong tip and balance.
		h := n.randomHash()
		c.BlockHash = &h
		c.StateHash = n.randomHash()
		c.ChainBalance = base.AmountFromParts(n.rng.Uint64()>>1, n.rng.Uint64())
		c.Epoch = base.Epoch(n.rng.IntN(3))
	case 3: // Bogus pending bundles.
		c.RequestedPendingBundles = append(slices.Clone(c.RequestedPendingBundles), n.bogusBundle())
	case 4: // A round nobody is in.
		if n.rng.IntN(2) == 0 {
			m.CurrentRound = base.MultiLeader(1)
		} else {
			m.CurrentRound = base.SingleLeader(n.rng.Uint32N(50))
		}
		t := n.net.Clock.Now().Add(base.TimeDelta(n.rng.IntN(100_000_000)))
		m.RoundTimeout = &t
	case 5: // A timeout vote for a made-up value.
		m.TimeoutVote = n.sign(protocol.LiteValue{ValueHash: n.randomHash(), ChainID: c.ChainID, Height: c.NextBlockHeight, Kind: protocol.KindTimeout}, m.CurrentRound)
	case 6: // A fast lock on a block no owner signed (it signed it itself).
		if fp := n.fakeProposal(&c, base.FastRound); fp != nil {
			m.LockingFast, m.LockingValidated = fp, nil
		}
	case 7: // A proposal in the current round that conflicts with the client's.
		m.Proposed = n.fakeProposal(&c, m.CurrentRound)
	case 8: // Another chain's answer.
		c.ChainID = base.ChainID(n.randomHash())
	case 9: // A validated lock backed by its own signature only.
		block := n.fakeExecutedBlock(&c)
		round := m.CurrentRound
		if round.IsFast() {
			round = base.MultiLeader(0)
		}
		if v := n.sign(protocol.LiteValue{ValueHash: block.Hash(), ChainID: c.ChainID, Height: c.NextBlockHeight, Kind: protocol.KindValidated}, round); v != nil {
			m.LockingValidated = protocol.CertificateFromVotes(protocol.KindValidated, block, nil, round, []protocol.Vote{*v})
			m.LockingFast = nil
		}
	}
	c.Manager = m
	return &c
}

// eagerTimeout answers a timeout request with a timeout vote signed at once, due or not.
func (n *Node) eagerTimeout(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := call(n, "HandleChainInfoQuery", q, func(w *worker.Worker) (*protocol.ChainInfo, error) {
		return w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: q.ChainID})
	})
	if err != nil {
		return nil, err
	}
	n.Stats.Lies++
	t := q.RequestLeaderTimeout
	timeout := protocol.Timeout{ChainID: q.ChainID, Height: t.Height, Epoch: info.Epoch}
	c := *info
	m := c.Manager
	m.TimeoutVote = n.sign(protocol.LiteValue{ValueHash: timeout.Hash(), ChainID: q.ChainID, Height: t.Height, Kind: protocol.KindTimeout}, t.Round)
	c.Manager = m
	return &c, nil
}

// lieBlob returns a blob whose content does not match its id.
func (n *Node) lieBlob(b protocol.Blob) protocol.Blob {
	return protocol.NewBlob(b.Type, append(slices.Clone(b.Content), byte(n.rng.IntN(256))))
}

// lieCertificates drops, truncates or tampers with certificates.
func (n *Node) lieCertificates(cs []*protocol.Certificate) []*protocol.Certificate {
	if len(cs) == 0 {
		return cs
	}
	out := slices.Clone(cs)
	i := n.rng.IntN(len(out))
	switch n.rng.IntN(3) {
	case 0: // Truncated.
		return out[:i]
	case 1: // A tampered block under the original signatures.
		c := *out[i]
		p := c.Block.Proposed
		p.Timestamp++
		c.Block = protocol.NewBlock(p, c.Block.Outcome)
		out[i] = &c
	default: // Too few signatures.
		c := *out[i]
		c.Signatures = c.Signatures[:1]
		out[i] = &c
	}
	return out
}
