package consensus

import (
	"fmt"
	"math"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// Manager is the consensus state of one chain at one height (Linera's ChainManager). It
// is a pure state machine: methods take the current time as a value and return votes; they
// never block, read clocks, draw randomness, log or touch storage.
//
// A Manager is not safe for concurrent use: the worker serializes calls under the chain's
// lock. The manager keeps references to the proposals, blocks and certificates passed to
// it (they are immutable values, see package protocol); pointers it returns share its
// state and must not be mutated.
//
// Invariants (checked by Decode):
//   - currentRound == max(FirstRound, NextRound(timeoutCert.Round), lock round,
//     proposed.Round, signedProposal.Round): it only ever rises.
//   - At most one of lockingFast and lockingValidated is set.
//   - confirmedProposed is set exactly when confirmedVote is, and is the proposed block
//     of the block it signs (of the same chain and height).
//   - every vote and certificate is for this height; votes have the kind of their slot.
type Manager struct {
	ownership protocol.ChainOwnership
	// height is the block height this instance decides, and the leader-election seed.
	height       base.BlockHeight
	currentRound base.Round
	// roundTimeout is when the current round may be timed out, if hasRoundTimeout. It is
	// re-armed (local time + RoundTimeout(round)) whenever currentRound rises.
	hasRoundTimeout bool
	roundTimeout    base.Timestamp

	// signedProposal is the highest-round authenticated proposal recorded before
	// execution (rounds up to SingleLeader(0) only), even if it then failed; it moves the
	// current round so that multi-leader rounds can be skipped.
	signedProposal *protocol.BlockProposal
	// proposed is the highest-round proposal this validator voted on.
	proposed *protocol.BlockProposal
	// The locking block: the fast proposal (or the original of a fast retry) that this
	// validator may have confirmed, or the highest validated certificate it has seen.
	lockingFast      *protocol.BlockProposal
	lockingValidated *protocol.Certificate
	// timeoutCert is the highest-round timeout certificate seen.
	timeoutCert *protocol.Certificate

	// The latest votes signed at this height, per kind.
	confirmedVote *protocol.Vote
	// confirmedProposed is the proposed block of the block confirmedVote signs; the
	// vote's value hash commits to its outcome, which the manager does not keep: only a
	// fast retry's check reads the confirmed block, and only its proposed block
	// (checkConfirmedVoteCompatible).
	confirmedProposed *protocol.ProposedBlock
	validatedVote     *protocol.Vote
	timeoutVote       *protocol.Vote

	// disabled is empty outside this package's tests; it is never encoded.
	disabled ruleSet
}

// NewManager returns the manager of a fresh height (Linera's reset): the current round is
// ownership.FirstRound() and its timeout is armed at now + RoundTimeout(round) if the round
// has one. The ownership is copied.
func NewManager(ownership protocol.ChainOwnership, height base.BlockHeight, now base.Timestamp) *Manager {
	m := &Manager{ownership: cloneOwnership(ownership), height: height}
	m.currentRound = m.ownership.FirstRound()
	m.armTimeout(now)
	return m
}

func cloneOwnership(o protocol.ChainOwnership) protocol.ChainOwnership {
	o.SuperOwners = slices.Clone(o.SuperOwners)
	o.Owners = slices.Clone(o.Owners)
	if d := o.Timeouts.FastRoundDuration; d != nil {
		v := *d
		o.Timeouts.FastRoundDuration = &v
	}
	return o
}

// Height returns the height this manager decides.
func (m *Manager) Height() base.BlockHeight { return m.height }

// CurrentRound returns the lowest round in which this validator may still vote to
// validate or confirm a block; timeouts apply to it.
func (m *Manager) CurrentRound() base.Round { return m.currentRound }

// Ownership returns the chain ownership this height runs under. The caller must not
// modify it.
func (m *Manager) Ownership() *protocol.ChainOwnership { return &m.ownership }

// RoundTimeout returns when the current round may be timed out, and false if it never
// times out.
func (m *Manager) RoundTimeout() (base.Timestamp, bool) { return m.roundTimeout, m.hasRoundTimeout }

// CheckProposal decides whether a block proposal may be voted on (§2.4 step 2 and
// can_propose). The caller has already checked p.CheckInvariants, the height and previous
// hash, the epoch and the retry certificate's signatures. Skip means this exact proposal
// was already voted on. Errors match base.ErrInvalid and one of this package's sentinels.
func (m *Manager) CheckProposal(p *protocol.BlockProposal) (Outcome, error) {
	return m.checkProposal(p)
}

// RecordSignedProposal notes an authenticated proposal before it is executed, so that a
// proposal in a later multi-leader round (or SingleLeader(0)) moves the current round even
// if its execution fails. It re-runs CheckProposal and records only accepted proposals in
// rounds up to SingleLeader(0) that are newer than the ones known. It returns whether the
// state changed (the caller then persists it). It never signs anything.
func (m *Manager) RecordSignedProposal(p *protocol.BlockProposal, now base.Timestamp) bool {
	if out, err := m.checkProposal(p); err != nil || out != Accept {
		return false
	}
	round := p.Content.Round
	if base.SingleLeader(0).Less(round) {
		return false
	}
	if m.signedProposal != nil && !m.signedProposal.Content.Round.Less(round) {
		return false
	}
	if m.proposed != nil && !m.proposed.Content.Round.Less(round) {
		return false
	}
	m.signedProposal = p
	m.updateCurrentRound(now)
	return true
}

// VoteForProposal is create_vote: after the caller executed the accepted proposal p into
// block (or, for a regular retry, rebuilt it from the carried outcome), it re-checks the
// rules, updates the lock (regular retry: its certificate; fast retry: the original fast
// proposal; a fast proposal: itself), records p as proposed, raises the current round, and
// signs a Confirmed vote if p is in the fast round, a Validated vote otherwise.
//
// Signing sites 1 (Confirmed, fast round) and 2 (Validated). The caller must persist the
// manager (Encode) before the vote leaves the process. If p was already handled, the
// current pending vote is returned and nothing changes. On error nothing changes.
func (m *Manager) VoteForProposal(p *protocol.BlockProposal, block *protocol.Block, signer crypto.Signer, now base.Timestamp) (protocol.Vote, error) {
	out, err := m.checkProposal(p)
	if err != nil {
		return protocol.Vote{}, err
	}
	if out == Skip {
		if v := m.pendingVote(); v != nil {
			return *v, nil
		}
		return protocol.Vote{}, refuse(ErrAlreadyHandled, "proposal in %v already handled, no pending vote", p.Content.Round)
	}
	if signer == nil {
		return protocol.Vote{}, refuse(ErrMalformedInput, "no signer")
	}
	if block == nil || !sameProposedBlock(&block.Proposed, &p.Content.Block) {
		return protocol.Vote{}, refuse(ErrMalformedInput, "executed block is not the proposed block")
	}
	hash := block.Hash()
	var retryCert *protocol.Certificate
	if p.IsRegularRetry() {
		lc := p.Original.Regular
		if lc.Value.Kind != protocol.KindValidated || lc.Value.ValueHash != hash {
			return protocol.Vote{}, refuse(ErrMalformedInput, "retry certificate does not certify the executed block")
		}
		retryCert = &protocol.Certificate{Kind: protocol.KindValidated, Block: block, Round: lc.Round, Signatures: lc.Signatures}
	}
	round := p.Content.Round
	kind := protocol.KindValidated
	if round.IsFast() {
		kind = protocol.KindConfirmed
	}
	vote, err := protocol.SignVote(signer, protocol.LiteValue{ValueHash: hash, ChainID: block.ChainID(), Height: block.Height(), Kind: kind}, round)
	if err != nil {
		return protocol.Vote{}, fmt.Errorf("vote for proposal in %v: %w", round, err)
	}

	switch {
	case retryCert != nil:
		m.lockOnValidated(retryCert)
	case p.IsFastRetry():
		m.lockOnFast(originalFastProposal(p))
	case round.IsFast():
		m.lockOnFast(p)
	}
	m.updateProposed(p)
	m.updateCurrentRound(now)
	if round.IsFast() {
		m.validatedVote = nil
		m.confirmedVote, m.confirmedProposed = &vote, &p.Content.Block
	} else {
		m.validatedVote = &vote
	}
	return vote, nil
}

// originalFastProposal rebuilds the super owner's fast-round proposal carried by a fast
// retry: its signature verifies (CheckInvariants checked it).
func originalFastProposal(p *protocol.BlockProposal) *protocol.BlockProposal {
	return &protocol.BlockProposal{
		Content:   protocol.ProposalContent{Block: p.Content.Block, Round: base.FastRound},
		PublicKey: p.Original.FastPublicKey,
		Signature: p.Original.FastSignature,
		Blobs:     p.Blobs,
	}
}

// CheckValidatedCertificate decides whether a validated block certificate (signatures
// already checked against the committee) is still relevant: Skip if this validator
// already confirmed that block in that round or is locked on exactly this certificate.
func (m *Manager) CheckValidatedCertificate(c *protocol.Certificate) (Outcome, error) {
	return m.checkValidated(c)
}

// VoteForValidated is create_final_vote: it locks on the certificate, raises the current
// round, and signs a Confirmed vote only if the certificate's round is the current round
// (a validator never votes in a round below its current one); otherwise it returns nil.
//
// Signing site 3 (Confirmed, after a validated certificate). The caller must persist the
// manager before the vote leaves the process. On Skip it returns the existing confirmed
// vote for that certificate, or nil. On error nothing changes.
func (m *Manager) VoteForValidated(c *protocol.Certificate, signer crypto.Signer, now base.Timestamp) (*protocol.Vote, error) {
	out, err := m.checkValidated(c)
	if err != nil {
		return nil, err
	}
	if out == Skip {
		if cv := m.confirmedVote; cv != nil && cv.Value.ValueHash == c.Block.Hash() && cv.Round == c.Round {
			v := *cv
			return &v, nil
		}
		return nil, nil
	}
	if signer == nil {
		return nil, refuse(ErrMalformedInput, "no signer")
	}
	// The new lock is at c.Round, so the current round becomes max(current, c.Round):
	// the vote is cast iff the current round is not beyond the certificate's.
	vote := !c.Round.Less(m.currentRound) || !m.enforced(ruleConfirmOnlyInCurrentRound)
	var v protocol.Vote
	if vote {
		lv := c.LiteValue()
		lv.Kind = protocol.KindConfirmed
		v, err = protocol.SignVote(signer, lv, c.Round)
		if err != nil {
			return nil, fmt.Errorf("confirm validated block from %v: %w", c.Round, err)
		}
	}
	m.lockOnValidated(c)
	m.updateCurrentRound(now)
	if !vote {
		return nil, nil
	}
	m.confirmedVote, m.confirmedProposed = &v, &c.Block.Proposed
	m.validatedVote = nil
	ret := v // The caller's copy.
	return &ret, nil
}

// HandleTimeoutCertificate records a timeout certificate (signatures already checked) if
// it is from a higher round than the known one, which moves the current round to
// ownership.NextRound(c.Round) if that is higher and re-arms the round timeout. It
// returns whether the state changed.
func (m *Manager) HandleTimeoutCertificate(c *protocol.Certificate, now base.Timestamp) (bool, error) {
	if c == nil || c.Kind != protocol.KindTimeout || c.Timeout == nil || !c.Round.Valid() {
		return false, refuse(ErrMalformedInput, "not a timeout certificate")
	}
	if c.Timeout.Height != m.height {
		return false, refuse(ErrWrongHeight, "timeout certificate for height %d, manager at height %d", c.Timeout.Height, m.height)
	}
	if m.timeoutCert != nil && !m.timeoutCert.Round.Less(c.Round) {
		return false, nil
	}
	m.timeoutCert = c
	m.updateCurrentRound(now)
	return true, nil
}

// VoteTimeout signs a timeout vote for (chain, height, epoch) in round, iff round is the
// current round, the round has a timeout and now is at or after it. If this validator
// already signed a timeout for that round, it returns that vote unchanged.
//
// Signing site 4 (Timeout). The caller must persist the manager before the vote leaves
// the process.
func (m *Manager) VoteTimeout(chain base.ChainID, epoch base.Epoch, round base.Round, signer crypto.Signer, now base.Timestamp) (*protocol.Vote, error) {
	if m.enforced(ruleTimeoutCurrentRound) && round != m.currentRound {
		return nil, refuse(ErrWrongRound, "timeout requested for %v, current round is %v", round, m.currentRound)
	}
	if tv := m.timeoutVote; tv != nil && tv.Round == round {
		v := *tv
		return &v, nil
	}
	if m.enforced(ruleTimeoutDeadline) {
		if !m.hasRoundTimeout {
			return nil, refuse(ErrRoundDoesNotTimeOut, "round %v has no timeout", round)
		}
		if now < m.roundTimeout {
			return nil, refuse(ErrNotTimedOutYet, "round %v times out at %v, now is %v", round, m.roundTimeout, now)
		}
	}
	if signer == nil {
		return nil, refuse(ErrMalformedInput, "no signer")
	}
	t := protocol.Timeout{ChainID: chain, Height: m.height, Epoch: epoch}
	v, err := protocol.SignVote(signer, protocol.LiteValue{ValueHash: t.Hash(), ChainID: chain, Height: m.height, Kind: protocol.KindTimeout}, round)
	if err != nil {
		return nil, fmt.Errorf("timeout vote in %v: %w", round, err)
	}
	m.timeoutVote = &v
	out := v
	return &out, nil
}

// Info returns what a validator reports about this height: the ownership, the current
// round, its leader and timeout, the pending block vote (the later of the confirmed and
// validated votes) and the timeout vote of the current round. With values, it adds the
// locking block, the latest proposal voted on and the latest timeout certificate; those
// share the manager's values and must not be modified.
//
// The answer carries at most one block, so that it fits the transport whatever the
// blocks' sizes (docs/SECURITY.md, session 16): the latest proposal is reported when
// nothing is locked, or when it is the fast lock itself (the same pointer, which
// ManagerInfo encodes once), and left out beside a lock it differs from (a fast retry
// of the fast lock, the retry of a validated lock, or another block proposed after a
// validated lock). A client acts on a reported lock before any proposal (ADR 0002): it
// finishes or re-proposes the locked block, so the left-out proposal tells it nothing.
func (m *Manager) Info(withValues bool) protocol.ManagerInfo {
	info := protocol.ManagerInfo{
		Ownership:    cloneOwnership(m.ownership),
		CurrentRound: m.currentRound,
	}
	if l, ok := m.Leader(m.currentRound); ok {
		info.Leader = &l
	}
	if m.hasRoundTimeout {
		t := m.roundTimeout
		info.RoundTimeout = &t
	}
	if v := m.pendingVote(); v != nil {
		c := *v
		info.PendingVote = &c
	}
	if tv := m.timeoutVote; tv != nil && tv.Round == m.currentRound {
		c := *tv
		info.TimeoutVote = &c
	}
	if withValues {
		info.LockingValidated = m.lockingValidated
		info.LockingFast = m.lockingFast
		if m.lockingValidated == nil && (m.lockingFast == nil || m.lockingFast == m.proposed) {
			info.Proposed = m.proposed
		}
		info.TimeoutCert = m.timeoutCert
	}
	return info
}

// pendingVote is the latest block vote: the validated vote if it is from a later round
// than the confirmed vote, else the confirmed vote, else the validated vote.
func (m *Manager) pendingVote() *protocol.Vote {
	cv, vv := m.confirmedVote, m.validatedVote
	switch {
	case cv != nil && vv != nil && cv.Round.Less(vv.Round):
		return vv
	case cv != nil:
		return cv
	}
	return vv
}

// lockRound returns the round of the locking block.
func (m *Manager) lockRound() (base.Round, bool) {
	switch {
	case m.lockingValidated != nil:
		return m.lockingValidated.Round, true
	case m.lockingFast != nil:
		return base.FastRound, true
	}
	return base.Round{}, false
}

// lockOnValidated makes c the locking block if it is newer than the current one.
func (m *Manager) lockOnValidated(c *protocol.Certificate) {
	if lr, ok := m.lockRound(); ok && !lr.Less(c.Round) {
		return
	}
	m.lockingValidated, m.lockingFast = c, nil
}

// lockOnFast makes the fast proposal p the locking block if there is none (a fast lock is
// the oldest possible).
func (m *Manager) lockOnFast(p *protocol.BlockProposal) {
	if _, ok := m.lockRound(); ok {
		return
	}
	m.lockingFast = p
}

// updateProposed records p as the latest proposal voted on if it is from a later round,
// and forgets a signed proposal it supersedes.
func (m *Manager) updateProposed(p *protocol.BlockProposal) {
	round := p.Content.Round
	if m.proposed != nil && !m.proposed.Content.Round.Less(round) {
		return
	}
	if m.signedProposal != nil && !round.Less(m.signedProposal.Content.Round) {
		m.signedProposal = nil
	}
	m.proposed = p
}

// computeRound is the formula of §2.2: the highest of the first round, the round after
// the timeout certificate, the lock, the proposal voted on and the signed proposal.
func (m *Manager) computeRound() base.Round {
	r := m.ownership.FirstRound()
	raise := func(x base.Round) {
		if r.Less(x) {
			r = x
		}
	}
	if m.timeoutCert != nil {
		next, ok := m.ownership.NextRound(m.timeoutCert.Round)
		if !ok {
			next = base.ValidatorRound(math.MaxUint32)
		}
		raise(next)
	}
	if lr, ok := m.lockRound(); ok {
		raise(lr)
	}
	if m.proposed != nil {
		raise(m.proposed.Content.Round)
	}
	if m.signedProposal != nil {
		raise(m.signedProposal.Content.Round)
	}
	return r
}

// updateCurrentRound raises the current round to computeRound and re-arms the timeout if
// it rose. It must follow every change to the timeout certificate, lock or proposals.
func (m *Manager) updateCurrentRound(now base.Timestamp) {
	r := m.computeRound()
	if !m.currentRound.Less(r) {
		return
	}
	m.currentRound = r
	m.armTimeout(now)
}

func (m *Manager) armTimeout(now base.Timestamp) {
	if d, ok := m.ownership.RoundTimeout(m.currentRound); ok {
		m.hasRoundTimeout, m.roundTimeout = true, now.Add(d)
		return
	}
	m.hasRoundTimeout, m.roundTimeout = false, 0
}
