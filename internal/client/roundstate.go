package client

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/protocol"
)

// roundState summarizes what a quorum of validators says about the chain's consensus at
// one height.
type roundState struct {
	ahead        bool // a validity-threshold weight is past the height
	round        base.Round
	roundTimeout base.Timestamp
	// lockedValidated is the highest-round validated certificate at this height that a
	// validator reported, checked against the committee of its epoch.
	lockedValidated *protocol.Certificate
	// lockedFast is the fast proposal of a super owner at this height reported by the
	// most weight (signature checked). If a quorum answered and none reported one, it is
	// nil, and at most f weight can hold a fast proposal the client did not see.
	lockedFast    *protocol.BlockProposal
	conflict      bool                    // a different proposal was accepted in the current round
	ownProposal   *protocol.BlockProposal // our own latest proposal at this height, if any
	roundProposal *protocol.BlockProposal // a valid proposal in the current round
	proposals     []*protocol.BlockProposal
	ownership     *protocol.ChainOwnership
}

type weightedRound struct {
	r       base.Round
	w       uint64
	timeout *base.Timestamp // the validator's round timeout, if it reported one
}

// roundState asks the members of m (the committee of the block's epoch) for their
// consensus state at proposed's height, with manager values. It fails with ErrNoQuorum
// unless a quorum of weight answered.
func (cc *ChainClient) roundState(ctx context.Context, m members, proposed *protocol.ProposedBlock) (*roundState, error) {
	as := fanout(ctx, cc.c, m, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return queryInfo(ctx, v, m.committee, &protocol.ChainInfoQuery{ChainID: cc.id, RequestManagerValues: true})
	}, nil)
	return cc.roundStateFrom(ctx, m, proposed, as)
}

// roundStateFrom is roundState over answers already received to a query with
// RequestManagerValues, gathered until a quorum of m's committee answered (fanout). Only
// the answers of m's committee count, and only by their weight in it.
func (cc *ChainClient) roundStateFrom(ctx context.Context, m members, proposed *protocol.ProposedBlock, as []answer[*protocol.ChainInfo]) (*roundState, error) {
	c := cc.c
	height := proposed.Height
	committee := m.committee
	// Ownership comes from our own replica of the chain (verified certificates), never
	// from a validator's answer, which a Byzantine validator could forge.
	own, err := c.localOwnership(ctx, cc.id)
	if err != nil {
		return nil, err
	}
	st := &roundState{ownership: &own}
	me := cc.Owner()
	rounds := make([]weightedRound, 0, len(as))
	var aheadW, okW uint64
	var ours []byte // our block's encoding, made when a proposal is to be compared with it
	type fastCandidate struct {
		p *protocol.BlockProposal
		w uint64
	}
	fast := map[[sha256.Size]byte]*fastCandidate{}
	var fastOrder [][sha256.Size]byte
	for _, a := range as {
		if a.err != nil || a.val == nil || a.val.ChainID != cc.id {
			continue
		}
		w := committee.Weight(a.v.PublicKey)
		if w == 0 {
			continue // not a member of the block's committee (the sync asks the whole pool)
		}
		okW += w
		info := a.val
		if info.NextBlockHeight > height {
			aheadW += w
			continue
		}
		if info.NextBlockHeight < height {
			continue // lagging (it never was at this height); updated when we send it something
		}
		mi := &info.Manager
		rounds = append(rounds, weightedRound{r: mi.CurrentRound, w: w, timeout: mi.RoundTimeout})
		if lc := mi.LockingValidated; lc != nil && lc.Kind == protocol.KindValidated && lc.Height() == height && lc.ChainID() == cc.id {
			if (st.lockedValidated == nil || st.lockedValidated.Round.Less(lc.Round)) && c.checkCertificate(ctx, lc) == nil {
				st.lockedValidated = lc
			}
		}
		for _, lf := range []*protocol.BlockProposal{mi.LockingFast, mi.Proposed} {
			if lf == nil || !lf.Content.Round.IsFast() || lf.Original != nil || lf.Content.Block.ChainID != cc.id || lf.Content.Block.Height != height {
				continue
			}
			if !own.IsSuperOwner(lf.Owner()) || lf.CheckInvariants() != nil {
				continue // not a genuine fast proposal of a super owner
			}
			k := proposalKey(lf)
			if fast[k] == nil {
				fast[k] = &fastCandidate{p: lf}
				fastOrder = append(fastOrder, k)
			}
			fast[k].w += w
			break // one report per validator
		}
		if p := mi.Proposed; p != nil && p.Content.Block.ChainID == cc.id && p.Content.Block.Height == height && !p.IsRegularRetry() {
			if p.Content.Round == mi.CurrentRound {
				if ours == nil {
					ours = codec.Marshal(proposed)
				}
				switch {
				case codec.EncodesTo(&p.Content.Block, ours):
					st.proposals = append(st.proposals, p)
				case mayPropose(&own, height, p):
					st.conflict = true
					st.proposals = append(st.proposals, p)
				}
				// Otherwise no owner made it (one validator's word): it takes no round.
			}
			// Our own earlier proposal at this height (signed by us and valid) is re-sent
			// rather than contradicted by a new block.
			if p.Owner() == me && p.CheckInvariants() == nil && (st.ownProposal == nil || st.ownProposal.Content.Round.Less(p.Content.Round)) {
				st.ownProposal = p
			}
		}
	}
	if okW < committee.QuorumThreshold() {
		return nil, fmt.Errorf("%w: %v", ErrNoQuorum, firstError(as))
	}
	// The fast proposal with the most weight (first reported on a tie): if one can have a
	// confirmed certificate, it is the one most validators voted for.
	var best *fastCandidate
	for _, k := range fastOrder {
		if best == nil || fast[k].w > best.w {
			best = fast[k]
		}
	}
	if best != nil {
		st.lockedFast = best.p
	}
	st.ahead = aheadW >= committee.ValidityThreshold()
	if len(rounds) == 0 {
		// Every answering validator is behind: start from the chain's first round.
		st.round = own.FirstRound()
		return st, nil
	}
	st.round = currentRound(rounds, committee.ValidityThreshold())
	st.roundTimeout = roundTimeout(rounds, committee.ValidityThreshold())
	for _, p := range st.proposals {
		if p.Content.Round == st.round && p.CheckInvariants() == nil {
			st.roundProposal = p
			break
		}
	}
	return st, nil
}

// proposalKey identifies a proposal by the SHA-256 of its canonical bytes (blobs
// included): two reports count as one proposal exactly when their encodings are equal,
// and a proposal of up to MaxBlockSize is keyed by 32 bytes rather than a copy of its
// encoding. It is a local key, never signed nor sent, so it needs no domain separation.
func proposalKey(p *protocol.BlockProposal) [sha256.Size]byte {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	p.Encode(w)
	return sha256.Sum256(w.Bytes())
}

// roundTimeout is the latest round timeout that at least f+1 weight reports (at least
// one honest validator's, so a lying minority cannot make the client wait longer than
// the honest ones), or the earliest reported if fewer than f+1 report one; zero if none
// does. It sorts rounds.
func roundTimeout(rounds []weightedRound, validity uint64) base.Timestamp {
	slices.SortFunc(rounds, func(a, b weightedRound) int {
		switch {
		case a.timeout == nil || b.timeout == nil:
			return cmp.Compare(boolInt(a.timeout == nil), boolInt(b.timeout == nil))
		default:
			return cmp.Compare(*b.timeout, *a.timeout)
		}
	})
	var w uint64
	var last base.Timestamp
	for _, x := range rounds {
		if x.timeout == nil {
			break
		}
		last = *x.timeout
		if w += x.w; w >= validity {
			return last
		}
	}
	return last
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mayPropose reports whether p is a proposal that validators could have accepted at
// height: its signature verifies and, by the chain's ownership in the local replica, its
// signer may propose in its round. Only such a proposal can take a round from the
// client's block; a Byzantine validator can report anything else.
func mayPropose(own *protocol.ChainOwnership, height base.BlockHeight, p *protocol.BlockProposal) bool {
	return p.CheckInvariants() == nil && consensus.NewManager(*own, height, 0).CanPropose(p.Owner(), p.Content.Round)
}

// currentRound is the highest round that at least f+1 weight has reached: one honest
// validator is there, and no lying minority can push the client into a round nobody is
// in. If fewer than f+1 answered at this height, it is the lowest round reported.
func currentRound(rounds []weightedRound, validity uint64) base.Round {
	best, found := base.Round{}, false
	low := rounds[0].r
	for _, cand := range rounds {
		if cand.r.Less(low) {
			low = cand.r
		}
		var w uint64
		for _, x := range rounds {
			if !x.r.Less(cand.r) {
				w += x.w
			}
		}
		if w >= validity && (!found || best.Less(cand.r)) {
			best, found = cand.r, true
		}
	}
	if !found {
		return low
	}
	return best
}

// checkCertificate checks a certificate against the committee its chain trusts for the
// block's epoch, in the local replica.
func (c *Client) checkCertificate(ctx context.Context, cert *protocol.Certificate) error {
	committee, err := c.committeeFor(ctx, cert.ChainID(), cert.Epoch())
	if err != nil {
		return err
	}
	return cert.Check(committee)
}
