package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// ErrConflict: another block was confirmed at the height this client proposed for (or a
// locked block had to be finalized first). The caller re-plans on top of it.
var ErrConflict = fmt.Errorf("%w: another block was confirmed at this height", base.ErrRetryable)

// WaitForTimeoutError says no block can be committed before the current round times out.
type WaitForTimeoutError struct {
	Height base.BlockHeight
	Round  base.Round
	// Until is when validators will sign a timeout for the round (zero if unknown).
	Until base.Timestamp
}

func (e *WaitForTimeoutError) Error() string {
	return fmt.Sprintf("round %v at height %d is taken; wait until %s for it to time out", e.Round, e.Height, e.Until)
}

func (e *WaitForTimeoutError) Is(target error) bool { return target == base.ErrRetryable }

// roundState summarizes what a quorum of validators says about the chain's consensus.
type roundState struct {
	ahead           bool // a validity-threshold weight is past the height
	round           base.Round
	roundTimeout    base.Timestamp
	lockedValidated *protocol.Certificate
	lockedFast      *protocol.BlockProposal
	conflict        bool                    // a different proposal was accepted in the current round
	ownProposal     *protocol.BlockProposal // our own latest proposal at this height, if any
	roundProposal   *protocol.BlockProposal // a valid proposal in the current round
	proposals       []*protocol.BlockProposal
	ownership       *protocol.ChainOwnership
}

type weightedRound struct {
	r base.Round
	w uint64
}

func (cc *ChainClient) roundState(ctx context.Context, proposed *protocol.ProposedBlock) (*roundState, error) {
	c := cc.c
	height := proposed.Height
	committee := c.cfg.Committee
	as := fanout(ctx, c, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return v.Node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: cc.id, RequestManagerValues: true})
	}, nil)
	// Ownership comes from our own replica of the chain (verified certificates), never
	// from a validator's answer, which a Byzantine validator could forge.
	own, err := c.localOwnership(ctx, cc.id)
	if err != nil {
		return nil, err
	}
	st := &roundState{ownership: &own}
	me := cc.Owner()
	var rounds []weightedRound
	var aheadW, okW uint64
	ours := codec.Marshal(proposed)
	for _, a := range as {
		if a.err != nil || a.val.ChainID != cc.id {
			continue
		}
		w := committee.Weight(a.v.PublicKey)
		okW += w
		info := a.val
		if info.NextBlockHeight > height {
			aheadW += w
			continue
		}
		if info.NextBlockHeight < height {
			continue // lagging; it is updated when we send it something
		}
		m := &info.Manager
		rounds = append(rounds, weightedRound{m.CurrentRound, w})
		if m.RoundTimeout != nil && *m.RoundTimeout > st.roundTimeout {
			st.roundTimeout = *m.RoundTimeout
		}
		if lc := m.LockingValidated; lc != nil && lc.Kind == protocol.KindValidated && lc.Height() == height && lc.ChainID() == cc.id {
			if (st.lockedValidated == nil || st.lockedValidated.Round.Less(lc.Round)) && lc.Check(committee) == nil {
				st.lockedValidated = lc
			}
		}
		if lf := m.LockingFast; lf != nil && st.lockedFast == nil && lf.Content.Block.ChainID == cc.id && lf.Content.Block.Height == height && lf.Content.Round.IsFast() {
			if own.IsSuperOwner(lf.Owner()) && lf.CheckInvariants() == nil {
				st.lockedFast = lf
			}
		}
		if p := m.Proposed; p != nil && p.Content.Block.ChainID == cc.id && p.Content.Block.Height == height && !p.IsRegularRetry() {
			if p.Content.Round == m.CurrentRound && string(codec.Marshal(&p.Content.Block)) != string(ours) {
				st.conflict = true
			}
			if p.Content.Round == m.CurrentRound {
				st.proposals = append(st.proposals, p)
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
	st.ahead = aheadW >= committee.ValidityThreshold()
	if len(rounds) == 0 {
		// Every answering validator is behind: start from the chain's first round.
		st.round = own.FirstRound()
		return st, nil
	}
	st.round = currentRound(rounds, committee.ValidityThreshold())
	for _, p := range st.proposals {
		if p.Content.Round == st.round && p.CheckInvariants() == nil {
			st.roundProposal = p
			break
		}
	}
	return st, nil
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

const maxRoundAttempts = 12

// commit gets a block confirmed at its height. staged is the block with the outcome the
// client computed. It returns the confirmed certificate, or ErrConflict if a different
// block was confirmed at this height (the caller re-plans).
func (cc *ChainClient) commit(ctx context.Context, proposed *protocol.ProposedBlock, staged *protocol.Block, blobs []protocol.Blob) (*protocol.Certificate, error) {
	c := cc.c
	var lastErr error
	for attempt := 0; attempt < maxRoundAttempts; attempt++ {
		st, err := cc.roundState(ctx, proposed)
		if err != nil {
			return nil, err
		}
		if st.ahead {
			return nil, ErrConflict
		}
		round := st.round
		me := cc.Owner()
		mgr := consensus.NewManager(*st.ownership, proposed.Height, 0)
		var prop *protocol.BlockProposal
		var target *protocol.Block
		switch {
		case st.lockedValidated != nil && st.lockedValidated.Round == round:
			cert, err := cc.finalize(ctx, st.lockedValidated)
			if err != nil {
				lastErr = err
				break
			}
			if cert.Block.Hash() != staged.Hash() {
				return nil, ErrConflict
			}
			return cert, nil
		case st.lockedValidated != nil:
			if !mgr.CanPropose(me, round) {
				break
			}
			prop, err = protocol.SignRegularRetry(cc.signer, st.lockedValidated, round, blobs)
			target = st.lockedValidated.Block
		case st.lockedFast != nil && !round.IsFast():
			if !mgr.CanPropose(me, round) {
				break
			}
			target, err = c.cfg.Local.StageBlock(ctx, &st.lockedFast.Content.Block, st.lockedFast.Blobs)
			if err == nil {
				prop, err = protocol.SignFastRetry(cc.signer, st.lockedFast, round)
			}
		default:
			if round.IsFast() && usesOracles(staged) {
				// Oracles are forbidden in the fast round: a super owner opens the next one.
				next, _ := st.ownership.NextRound(round)
				round = next
			}
			if round.IsFast() {
				if !st.ownership.IsSuperOwner(me) {
					break
				}
				prop, err = cc.fastProposal(proposed, blobs)
				target = staged
				break
			}
			if own := st.ownProposal; own != nil && !own.Content.Round.IsFast() && !round.Less(own.Content.Round) {
				// We already proposed a block at this height: re-send it (in the current
				// round, re-signed if the round moved) instead of contradicting ourselves.
				// Validators that lag behind in an earlier round catch up by it.
				target, err = c.cfg.Local.StageBlock(ctx, &own.Content.Block, own.Blobs)
				if err != nil {
					break
				}
				if own.Content.Round == round {
					prop = own
				} else if mgr.CanPropose(me, round) {
					prop, err = protocol.SignProposal(cc.signer, own.Content.Block, round, own.Blobs)
				}
				break
			}
			if st.conflict {
				if next, ok := st.ownership.NextRound(round); ok && next.Kind == base.RoundMultiLeader && round.Kind == base.RoundMultiLeader {
					round = next
				} else if rp := st.roundProposal; rp != nil {
					// The round is taken by another proposal: forward it to every
					// validator. Lagging ones join the round (and may complete that block);
					// then a timeout of the round can gather a quorum.
					if rp.IsRegularRetry() {
						target = protocol.NewBlock(rp.Content.Block, *rp.Content.Outcome)
					} else if target, err = c.cfg.Local.StageBlock(ctx, &rp.Content.Block, rp.Blobs); err != nil {
						err = nil
						break
					}
					prop = rp
					break
				} else {
					break
				}
			}
			if !mgr.CanPropose(me, round) {
				break
			}
			prop, err = protocol.SignProposal(cc.signer, *proposed, round, blobs)
			target = staged
		}
		if err != nil {
			return nil, err
		}
		if prop != nil {
			cert, err := cc.propose(ctx, prop, target)
			if err == nil {
				if cert.Block.Hash() != staged.Hash() {
					return nil, ErrConflict
				}
				return cert, nil
			}
			if isRefusal(err) {
				return nil, err
			}
			lastErr = err
		}
		// No progress in this round: ask for a timeout.
		moved, err := cc.requestTimeout(ctx, proposed.Height, st.round)
		if err != nil {
			return nil, err
		}
		if !moved {
			if lastErr != nil && !errors.Is(lastErr, base.ErrRetryable) {
				return nil, lastErr
			}
			return nil, &WaitForTimeoutError{Height: proposed.Height, Round: st.round, Until: st.roundTimeout}
		}
	}
	if lastErr == nil {
		lastErr = errors.New("too many rounds")
	}
	return nil, fmt.Errorf("block at height %d not committed: %w", proposed.Height, lastErr)
}

// fastProposal returns the pending fast proposal for this height, or signs, persists and
// records a new one.
func (cc *ChainClient) fastProposal(proposed *protocol.ProposedBlock, blobs []protocol.Blob) (*protocol.BlockProposal, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if p := cc.pendingFast; p != nil && p.Content.Block.Height == proposed.Height {
		if string(codec.Marshal(&p.Content.Block)) != string(codec.Marshal(proposed)) {
			return nil, fmt.Errorf("a different fast proposal is pending at height %d; it must commit first", proposed.Height)
		}
		return p, nil
	}
	p, err := protocol.SignProposal(cc.signer, *proposed, base.FastRound, blobs)
	if err != nil {
		return nil, err
	}
	if cc.OnFastProposal != nil {
		if err := cc.OnFastProposal(p); err != nil {
			return nil, fmt.Errorf("persist fast proposal: %w", err)
		}
	}
	cc.pendingFast = p
	return p, nil
}

// propose sends a proposal to every validator and turns a quorum of votes into a
// confirmed certificate (through a validated one outside the fast round).
func (cc *ChainClient) propose(ctx context.Context, p *protocol.BlockProposal, target *protocol.Block) (*protocol.Certificate, error) {
	c := cc.c
	kind := protocol.KindValidated
	if p.Content.Round.IsFast() {
		kind = protocol.KindConfirmed
	}
	want := protocol.LiteValue{ValueHash: target.Hash(), ChainID: cc.id, Height: target.Height(), Kind: kind}
	as := fanout(ctx, c, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		info, err := v.Node.HandleBlockProposal(ctx, p)
		for try := 0; try < 2 && err != nil && needsUpdate(err); try++ {
			uerr := c.updateValidator(ctx, v, &p.Content.Block, p.Blobs)
			if me, ok := errorsAs[*execution.MissingEventError](err); ok && uerr == nil {
				// The validator lags on the chain that emitted the event (the admin
				// chain for epoch changes): push it up to our view of that chain.
				if tip, terr := c.LocalTip(ctx, me.ID.Chain); terr == nil {
					uerr = c.updateChainTo(ctx, v, me.ID.Chain, tip.NextHeight, 0)
				}
			}
			if uerr != nil {
				break
			}
			info, err = v.Node.HandleBlockProposal(ctx, p)
		}
		if err != nil {
			return nil, err
		}
		return cc.voteFrom(v, info.Manager.PendingVote, want, p.Content.Round)
	}, func(v *protocol.Vote) bool { return v != nil })
	cert, err := cc.certificateFrom(as, kind, target, p.Content.Round)
	if err != nil {
		return nil, err
	}
	if kind == protocol.KindValidated {
		return cc.finalize(ctx, cert)
	}
	c.publish(ctx, cert)
	cc.clearFast(cert.Height())
	return cert, nil
}

// finalize sends a validated certificate and turns a quorum of confirmed votes into a
// confirmed certificate, then publishes it.
func (cc *ChainClient) finalize(ctx context.Context, validated *protocol.Certificate) (*protocol.Certificate, error) {
	c := cc.c
	want := validated.LiteValue()
	want.Kind = protocol.KindConfirmed
	as := fanout(ctx, c, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		info, err := c.handleCertificate(ctx, v, validated)
		if err != nil {
			return nil, err
		}
		return cc.voteFrom(v, info.Manager.PendingVote, want, validated.Round)
	}, func(v *protocol.Vote) bool { return v != nil })
	cert, err := cc.certificateFrom(as, protocol.KindConfirmed, validated.Block, validated.Round)
	if err != nil {
		return nil, err
	}
	c.publish(ctx, cert)
	cc.clearFast(cert.Height())
	return cert, nil
}

func (cc *ChainClient) clearFast(h base.BlockHeight) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.pendingFast != nil && cc.pendingFast.Content.Block.Height <= h {
		cc.pendingFast = nil
	}
}

// voteFrom checks that a validator's vote is the one we asked for and genuinely signed
// by it.
func (cc *ChainClient) voteFrom(v Validator, vote *protocol.Vote, want protocol.LiteValue, round base.Round) (*protocol.Vote, error) {
	if vote == nil || vote.Value != want || vote.Round != round || vote.Validator != v.PublicKey {
		return nil, fmt.Errorf("%w: validator %s did not vote for the block", base.ErrRetryable, v.PublicKey)
	}
	if err := vote.Verify(); err != nil {
		return nil, err
	}
	return vote, nil
}

// certificateFrom assembles a certificate from the good votes, or explains why not.
func (cc *ChainClient) certificateFrom(as []answer[*protocol.Vote], kind protocol.CertificateKind, block *protocol.Block, round base.Round) (*protocol.Certificate, error) {
	committee := cc.c.cfg.Committee
	var votes []protocol.Vote
	var weight, refused uint64
	for _, a := range as {
		if a.err != nil {
			if isRefusal(a.err) {
				refused += committee.Weight(a.v.PublicKey)
			}
			continue
		}
		if a.val != nil {
			votes = append(votes, *a.val)
			weight += committee.Weight(a.v.PublicKey)
		}
	}
	if weight < committee.QuorumThreshold() {
		err := firstError(as)
		if refused >= committee.ValidityThreshold() && err != nil {
			return nil, err // refused by at least one honest validator: the block is invalid
		}
		return nil, fmt.Errorf("%w (%d of %d votes): %v", ErrNoQuorum, weight, committee.TotalVotes(), err)
	}
	cert := protocol.CertificateFromVotes(kind, block, nil, round, votes)
	if err := cert.Check(committee); err != nil {
		return nil, err
	}
	return cert, nil
}

// publish sends a confirmed certificate to every validator and executes it locally.
func (c *Client) publish(ctx context.Context, cert *protocol.Certificate) {
	if err := c.processLocally(ctx, cert); err != nil {
		c.log.Warn("local node refused a confirmed certificate", "chain", cert.ChainID().String(), "height", uint64(cert.Height()), "err", err)
	}
	c.broadcastCertificate(ctx, cert)
}

// handleCertificate sends a certificate to v, pushing what v lacks and retrying once.
func (c *Client) handleCertificate(ctx context.Context, v Validator, cert *protocol.Certificate) (*protocol.ChainInfo, error) {
	info, err := v.Node.HandleCertificate(ctx, cert)
	if err == nil || !needsUpdate(err) || cert.Kind == protocol.KindTimeout {
		return info, err
	}
	if uerr := c.updateValidator(ctx, v, &cert.Block.Proposed, nil); uerr != nil {
		return nil, err
	}
	return v.Node.HandleCertificate(ctx, cert)
}

// requestTimeout asks validators for timeout votes on a round and, with a quorum,
// moves them to the next round. It reports whether the round moved.
func (cc *ChainClient) requestTimeout(ctx context.Context, height base.BlockHeight, round base.Round) (bool, error) {
	c := cc.c
	as := fanout(ctx, c, func(ctx context.Context, v Validator) (*protocol.Vote, error) {
		info, err := v.Node.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: cc.id, RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: height, Round: round}})
		if err != nil {
			return nil, err
		}
		tv := info.Manager.TimeoutVote
		if tv == nil || tv.Round != round || tv.Value.Kind != protocol.KindTimeout || tv.Value.ChainID != cc.id || tv.Value.Height != height {
			return nil, nil
		}
		return tv, tv.Verify()
	}, func(v *protocol.Vote) bool { return v != nil })
	// Only votes for the timeout value we expect count: a Byzantine validator's vote for
	// a made-up value is ignored.
	epoch, err := c.localEpoch(ctx, cc.id)
	if err != nil {
		return false, err
	}
	timeout := &protocol.Timeout{ChainID: cc.id, Height: height, Epoch: epoch}
	hash := timeout.Hash()
	var votes []protocol.Vote
	var weight uint64
	for _, a := range as {
		if a.err == nil && a.val != nil && a.val.Value.ValueHash == hash {
			votes = append(votes, *a.val)
			weight += c.cfg.Committee.Weight(a.v.PublicKey)
		}
	}
	if weight < c.cfg.Committee.QuorumThreshold() {
		return false, nil
	}
	cert := protocol.CertificateFromVotes(protocol.KindTimeout, nil, timeout, round, votes)
	if err := cert.Check(c.cfg.Committee); err != nil {
		return false, err
	}
	fanout(ctx, c, func(ctx context.Context, v Validator) (*protocol.ChainInfo, error) {
		return v.Node.HandleCertificate(ctx, cert)
	}, nil)
	return true, nil
}

// RequestTimeout asks the validators to time out the chain's current round at its next
// height, and reports whether the round moved. Validators sign only once the round's
// deadline has passed on their clocks.
func (cc *ChainClient) RequestTimeout(ctx context.Context) (bool, error) {
	next, err := cc.c.SyncChain(ctx, cc.id)
	if err != nil {
		return false, err
	}
	st, err := cc.roundState(ctx, &protocol.ProposedBlock{ChainID: cc.id, Height: next})
	if err != nil {
		return false, err
	}
	return cc.requestTimeout(ctx, next, st.round)
}

func usesOracles(b *protocol.Block) bool {
	for _, rs := range b.Outcome.OracleResponses {
		if len(rs) > 0 {
			return true
		}
	}
	return false
}

// isRefusal reports whether a validator refused a block for what it is (an invalid
// operation, a bad signature), as opposed to because it lags or is in another round.
func isRefusal(err error) bool {
	if !base.IsInvalid(err) || errors.Is(err, base.ErrRetryable) {
		return false
	}
	for _, lag := range []error{worker.ErrWrongHeight, consensus.ErrWrongHeight, consensus.ErrWrongRound, consensus.ErrRoundTooLow,
		consensus.ErrNotNewerThanLock, consensus.ErrIncompatibleConfirmedVote, consensus.ErrAlreadyHandled} {
		if errors.Is(err, lag) {
			return false
		}
	}
	return true
}
