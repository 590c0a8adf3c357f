package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/protocol"
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

const maxRoundAttempts = 12

// commitStep is a state of commit's state machine.
type commitStep int

const (
	stepQuery         commitStep = iota // ask a quorum for the round state at the height
	stepPlan                            // choose what to send from the round state
	stepFinishLocked                    // a validated block is locked in the current round: finalize it
	stepReproposeLock                   // a block is locked in an earlier round: re-propose it now
	stepResendFast                      // a super owner's fast proposal is out: re-send it verbatim
	stepProposeNew                      // nothing is pending: propose our block
	stepCollectVotes                    // send the proposal, gather a quorum of votes, certify
	stepTimeout                         // no progress in this round: ask for a timeout
	stepDone                            // a confirmed certificate for our block
	stepConflict                        // another block was (or is being) confirmed here
	stepWaitTimeout                     // the round is taken and cannot be timed out yet
)

// commitRun is one execution of commit: the inputs, and what the states pass on.
type commitRun struct {
	cc       *ChainClient
	proposed *protocol.ProposedBlock // the block we want
	staged   *protocol.Block         // its outcome as the local node computed it
	blobs    []protocol.Blob

	attempt int
	// pre are the answers of the chain-state query made while preparing the block (nil
	// if none); the first query step uses them instead of asking again.
	pre *chainAnswers
	// reused: the round state comes from answers reused from the previous block's
	// broadcast (nextstate.go) and nothing has failed yet; the first failure queries
	// afresh instead of asking for a timeout.
	reused bool
	m      members     // the committee of the block's epoch and its reachable members
	st     *roundState // what a quorum of validators reported
	round  base.Round  // the round we act in
	prop   *protocol.BlockProposal
	target *protocol.Block // the block prop carries, with its outcome
	// enc is the canonical encoding of the proposal encFor, made when it was signed;
	// collectVotes uses it while prop is that proposal.
	encFor *protocol.BlockProposal
	enc    []byte
	// fresh: prop is a new proposal of our block (proposeNew signed it, or it is our
	// pending fast proposal): it goes to the chain's quorum subset first (ADR 0006).
	// Re-proposals of locks, re-sent fast proposals that validators reported and
	// forwarded proposals go to every validator: they exist to bring all of them to
	// the same round and lock.
	fresh   bool
	cert    *protocol.Certificate
	lastErr error
}

// commit gets a block confirmed at its height. staged is the block with the outcome the
// client computed. It returns the confirmed certificate, ErrConflict if a different block
// was confirmed (or had to be finished first) at this height (the caller re-plans), or a
// *WaitForTimeoutError.
//
// The protocol, as a state machine (one method per state):
//
//   - query: ask the validators of the committee of the block's epoch — the committee
//     the chain trusts for that epoch in our local replica, never one we were told
//     about — for their consensus state with the locked values, and require answers
//     from a quorum. If f+1 are past the height, someone else's block was confirmed:
//     conflict.
//   - plan: the locks decide. A validated block locked in the current round is
//     finished (finish-locked). A validated block locked in an earlier round, or a
//     super owner's fast proposal once the fast round is over, is re-proposed in the
//     current round (re-propose-lock). In the fast round, a super owner's fast
//     proposal that any validator reports is re-sent verbatim — same bytes, same
//     signature (resend-fast): it may already have a confirmed certificate, and a
//     second fast block would split the fast votes for good. Only when a quorum
//     answered and none reported one may a new fast block be signed: at most f
//     validators can hold one we did not see (propose-new). Outside the fast round, a
//     block we proposed earlier at this height is re-sent rather than contradicted,
//     and a conflicting proposal in a multi-leader round is overtaken in the next one.
//   - collect-votes: send the proposal to the committee, count only votes of that
//     committee, make a certificate (confirmed in the fast round; otherwise validated,
//     then finalized into a confirmed one), execute it on the local node — a
//     certificate the local node refuses is an error, never a success — and broadcast
//     it. If the block is ours: done; otherwise: conflict.
//   - timeout: when the round makes no progress, ask for timeout votes; with a quorum
//     the round moves and we query again, otherwise wait-for-timeout.
//
// A fast proposal is persisted (OnFastProposal) before it is first sent.
//
// pre, if not nil, are the answers to a chain-state query with the manager values that
// the caller made since the local replica reached the block's height (in the sync before
// the block was built): the first query step reads the round state from them instead of
// asking again, so a block costs one query round trip, not three. They are the same
// answers a fresh query would give a moment earlier, gathered under the same rule (until
// a quorum of the block's committee answered), so every safety rule above holds as is.
func (cc *ChainClient) commit(ctx context.Context, proposed *protocol.ProposedBlock, staged *protocol.Block, blobs []protocol.Blob, pre *chainAnswers) (*protocol.Certificate, error) {
	r := &commitRun{cc: cc, proposed: proposed, staged: staged, blobs: blobs, pre: pre}
	// Validators compile the bytecode the block publishes or instantiates before they
	// vote, and receive, hash and store the bytes it carries (a data blob of up to 16
	// MiB): the calls of this commit get the time for both.
	ctx = WithExtraCallTime(ctx, cc.c.compileWork(ctx, proposed, blobs)+cc.c.transferWork(ctx, proposed, blobs))
	m, err := cc.c.epochMembers(ctx, cc.id, proposed.Epoch)
	if err != nil {
		return nil, err
	}
	r.m = m
	step := stepQuery
	for {
		switch step {
		case stepQuery:
			step, err = r.query(ctx)
		case stepPlan:
			step, err = r.plan(ctx)
		case stepFinishLocked:
			step, err = r.finishLocked(ctx)
		case stepReproposeLock:
			step, err = r.reproposeLock(ctx)
		case stepResendFast:
			step, err = r.resendFast(ctx)
		case stepProposeNew:
			step, err = r.proposeNew(ctx)
		case stepCollectVotes:
			step, err = r.collectVotes(ctx)
		case stepTimeout:
			step, err = r.timeout(ctx)
		case stepDone:
			return r.cert, nil
		case stepConflict:
			return nil, ErrConflict
		case stepWaitTimeout:
			if r.lastErr != nil && !errors.Is(r.lastErr, base.ErrRetryable) {
				return nil, r.lastErr
			}
			return nil, &WaitForTimeoutError{Height: proposed.Height, Round: r.st.round, Until: r.st.roundTimeout}
		default:
			return nil, fmt.Errorf("commit: unknown step %d", step)
		}
		if err != nil {
			return nil, err
		}
	}
}

// query: the round state from a quorum of the committee.
func (r *commitRun) query(ctx context.Context) (commitStep, error) {
	if r.attempt++; r.attempt > maxRoundAttempts {
		lastErr := r.lastErr
		if lastErr == nil {
			lastErr = errors.New("too many rounds")
		}
		return 0, fmt.Errorf("block at height %d not committed: %w", r.proposed.Height, lastErr)
	}
	var st *roundState
	var err error
	if pre := r.pre; pre != nil && pre.q.RequestManagerValues && pre.q.ChainID == r.cc.id && pre.epoch == r.proposed.Epoch {
		// Only the first query: after a timeout or a failed attempt the state moved.
		r.pre, r.reused = nil, pre.reused
		st, err = r.cc.roundStateFrom(ctx, r.m, r.proposed, pre.as)
		if err != nil && r.reused {
			r.reused = false
			st, err = r.cc.roundState(ctx, r.m, r.proposed)
		}
	} else {
		st, err = r.cc.roundState(ctx, r.m, r.proposed)
	}
	if err != nil {
		return 0, err
	}
	r.st, r.round, r.prop, r.target, r.fresh = st, st.round, nil, nil, false
	if st.ahead {
		return stepConflict, nil
	}
	return stepPlan, nil
}

// plan: choose the next state from the locks and the round.
func (r *commitRun) plan(context.Context) (commitStep, error) {
	st := r.st
	switch {
	case st.lockedValidated != nil && st.lockedValidated.Round == r.round:
		return stepFinishLocked, nil
	case st.lockedValidated != nil:
		return stepReproposeLock, nil
	case st.lockedFast != nil && r.round.IsFast():
		return stepResendFast, nil
	case st.lockedFast != nil:
		return stepReproposeLock, nil
	}
	return stepProposeNew, nil
}

// finishLocked: finalize the validated block locked in the current round.
func (r *commitRun) finishLocked(ctx context.Context) (commitStep, error) {
	cert, err := r.cc.finalize(ctx, r.m, r.st.lockedValidated)
	if err != nil {
		if errors.Is(err, ErrLocalRefused) {
			return 0, err
		}
		r.lastErr = err
		return stepTimeout, nil
	}
	r.cert = cert
	return r.ours(), nil
}

// reproposeLock: re-propose the locked block (validated certificate, or a super owner's
// fast proposal after the fast round) in the current round, if we may propose in it.
func (r *commitRun) reproposeLock(ctx context.Context) (commitStep, error) {
	cc := r.cc
	mgr := consensus.NewManager(*r.st.ownership, r.proposed.Height, 0)
	if !mgr.CanPropose(cc.Owner(), r.round) {
		return stepTimeout, nil
	}
	var err error
	if lv := r.st.lockedValidated; lv != nil {
		r.prop, err = protocol.SignRegularRetry(cc.signer, lv, r.round, r.blobs)
		r.target = lv.Block
		return stepCollectVotes, err
	}
	lf := r.st.lockedFast
	if r.target, err = cc.c.cfg.Local.StageBlock(ctx, &lf.Content.Block, lf.Blobs); err != nil {
		return 0, err
	}
	r.prop, err = protocol.SignFastRetry(cc.signer, lf, r.round)
	return stepCollectVotes, err
}

// resendFast: a validator reports a super owner's fast proposal at this height. Re-send
// it verbatim to every validator: those that voted answer with their vote, the others
// vote for it unless they are locked on another one.
func (r *commitRun) resendFast(ctx context.Context) (commitStep, error) {
	lf := r.st.lockedFast
	target, err := r.cc.c.cfg.Local.StageBlock(ctx, &lf.Content.Block, lf.Blobs)
	if err != nil {
		return 0, fmt.Errorf("fast proposal reported by validators does not execute: %w", err)
	}
	r.prop, r.target = lf, target
	return stepCollectVotes, nil
}

// proposeNew: nothing is locked at this height as far as a quorum knows. Propose our
// block (or re-send what we proposed before, or overtake a conflicting proposal).
func (r *commitRun) proposeNew(ctx context.Context) (commitStep, error) {
	cc, st := r.cc, r.st
	me := cc.Owner()
	mgr := consensus.NewManager(*st.ownership, r.proposed.Height, 0)
	if r.round.IsFast() && usesOracles(r.staged) {
		// Oracles are forbidden in the fast round: a super owner opens the next one.
		next, _ := st.ownership.NextRound(r.round)
		r.round = next
	}
	if r.round.IsFast() {
		if !st.ownership.IsSuperOwner(me) {
			return stepTimeout, nil
		}
		// A quorum answered and none holds a fast proposal at this height: at most f
		// validators can hold one we did not see, which therefore has no confirmed
		// certificate and never will. Signing ours cannot confirm two blocks.
		p, enc, err := cc.fastProposal(r.proposed, r.blobs)
		if err != nil {
			return 0, err
		}
		r.prop, r.target, r.encFor, r.enc, r.fresh = p, r.staged, p, enc, true
		return stepCollectVotes, nil
	}
	if own := st.ownProposal; own != nil && !own.Content.Round.IsFast() && !r.round.Less(own.Content.Round) && !r.abandoned(ctx, own) {
		// We already proposed a block at this height: re-send it (in the current round,
		// re-signed if the round moved) instead of contradicting ourselves. Validators
		// that lag behind in an earlier round catch up by it.
		target, err := cc.c.cfg.Local.StageBlock(ctx, &own.Content.Block, own.Blobs)
		if err != nil {
			return 0, err
		}
		r.target = target
		switch {
		case own.Content.Round == r.round:
			r.prop = own
		case mgr.CanPropose(me, r.round):
			if r.prop, err = protocol.SignProposal(cc.signer, own.Content.Block, r.round, own.Blobs); err != nil {
				return 0, err
			}
		default:
			return stepTimeout, nil
		}
		return stepCollectVotes, nil
	}
	if st.conflict {
		if next, ok := st.ownership.NextRound(r.round); ok && next.Kind == base.RoundMultiLeader && r.round.Kind == base.RoundMultiLeader {
			r.round = next
		} else if rp := st.roundProposal; rp != nil && !r.abandoned(ctx, rp) {
			// The round is taken by another proposal: forward it to every validator.
			// Lagging ones join the round (and may complete that block); then a timeout
			// of the round can gather a quorum.
			if rp.IsRegularRetry() {
				r.target = protocol.NewBlock(rp.Content.Block, *rp.Content.Outcome)
			} else if t, err := cc.c.cfg.Local.StageBlock(ctx, &rp.Content.Block, rp.Blobs); err == nil {
				r.target = t
			} else {
				return stepTimeout, nil
			}
			r.prop = rp
			return stepCollectVotes, nil
		} else {
			return stepTimeout, nil
		}
	}
	if !mgr.CanPropose(me, r.round) {
		return stepTimeout, nil
	}
	p, enc, err := protocol.SignProposalEncoded(cc.signer, *r.proposed, r.round, r.blobs)
	if err != nil {
		return 0, err
	}
	r.prop, r.target, r.encFor, r.enc, r.fresh = p, r.staged, p, enc, true
	return stepCollectVotes, nil
}

// abandoned reports whether p is an earlier proposal of ours at this height, of another
// block than the one we want now, that consults oracles (execution.IsOracle). Such a
// proposal is not re-sent in place of our block: re-executing it makes the validators
// consult the oracles again, and a block whose oracles split the validators' votes
// (ErrValidatorsDisagree) would fail again and block the chain. It stays in its round,
// which our block overtakes (the next multi-leader round) or which times out. Locked
// (validated) blocks are never abandoned: plan finishes or re-proposes them first.
func (r *commitRun) abandoned(ctx context.Context, p *protocol.BlockProposal) bool {
	if p.Owner() != r.cc.Owner() || p.IsRegularRetry() || string(codec.Marshal(&p.Content.Block)) == string(codec.Marshal(r.proposed)) {
		return false
	}
	target, err := r.cc.c.cfg.Local.StageBlock(ctx, &p.Content.Block, p.Blobs)
	return err == nil && usesOracles(target)
}

// collectVotes: send the proposal, certify a quorum of votes, publish. A validator
// refusal that proves the block invalid ends commit, and so does a split of the
// validators' votes over the block's outcome (ErrValidatorsDisagree: re-proposing would
// consult the oracles again); other failures lead to a timeout.
func (r *commitRun) collectVotes(ctx context.Context) (commitStep, error) {
	var enc []byte
	if r.encFor == r.prop {
		enc = r.enc
	}
	cert, err := r.cc.sendProposal(ctx, r.m, r.prop, enc, r.target, r.fresh && r.prop == r.encFor)
	if err != nil {
		if isRefusal(err) || errors.Is(err, ErrLocalRefused) || errors.Is(err, ErrValidatorsDisagree) {
			return 0, err
		}
		r.lastErr = err
		return stepTimeout, nil
	}
	r.cert = cert
	return r.ours(), nil
}

// timeout: ask for a timeout of the round we found; query again if the round moved.
// If the round state came from reused answers, query afresh first: the chain may have
// moved since (nextstate.go).
func (r *commitRun) timeout(ctx context.Context) (commitStep, error) {
	if r.reused {
		r.reused = false
		return stepQuery, nil
	}
	moved, err := r.cc.requestTimeout(ctx, r.proposed.Height, r.st.round)
	if err != nil {
		return 0, err
	}
	if !moved {
		return stepWaitTimeout, nil
	}
	return stepQuery, nil
}

// ours: done if the confirmed block is the one we wanted, conflict otherwise.
func (r *commitRun) ours() commitStep {
	if r.cert.Block.Hash() != r.staged.Hash() {
		return stepConflict
	}
	return stepDone
}

// fastProposal returns the pending fast proposal for this height, or signs, persists and
// records a new one. The caller has established that no validator of a quorum holds a
// fast proposal at this height. It also returns the proposal's canonical encoding when
// it signed it (made in the same pass as the signature), nil otherwise.
func (cc *ChainClient) fastProposal(proposed *protocol.ProposedBlock, blobs []protocol.Blob) (*protocol.BlockProposal, []byte, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if p := cc.pendingFast; p != nil && p.Content.Block.Height == proposed.Height {
		if string(codec.Marshal(&p.Content.Block)) != string(codec.Marshal(proposed)) {
			return nil, nil, fmt.Errorf("a different fast proposal is pending at height %d; it must commit first", proposed.Height)
		}
		return p, nil, nil
	}
	p, enc, err := protocol.SignProposalEncoded(cc.signer, *proposed, base.FastRound, blobs)
	if err != nil {
		return nil, nil, err
	}
	var perr error
	switch {
	case cc.OnFastProposalEncoded != nil:
		perr = cc.OnFastProposalEncoded(p, enc)
	case cc.OnFastProposal != nil:
		perr = cc.OnFastProposal(p)
	}
	if perr != nil {
		return nil, nil, fmt.Errorf("persist fast proposal: %w", perr)
	}
	cc.pendingFast = p
	return p, enc, nil
}
