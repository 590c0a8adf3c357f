package consensus

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// rule names one voting rule. Production managers enforce every rule; the package's
// tests switch single rules off (Manager.disabled) to prove that some scenario or the
// safety simulation notices its absence.
type rule uint32

const (
	// ruleRoundExists: a proposal's round must exist for the chain's ownership.
	ruleRoundExists rule = 1 << iota
	// ruleCanPropose: the signer must be allowed to propose in the round (§2.3), and the
	// original of a fast retry must come from a super owner.
	ruleCanPropose
	// ruleSkipSeen: an identical proposal is skipped, not voted on again.
	ruleSkipSeen
	// ruleFastOnlyInFastRound: fast proposals are refused once the fast round is over.
	ruleFastOnlyInFastRound
	// ruleSuperOwnerEndsFast: during the fast round only a super owner may open a
	// multi-leader or the first single-leader round.
	ruleSuperOwnerEndsFast
	// ruleNotBelowCurrent: a multi-leader or first single-leader proposal must be in the
	// current round or later (skipping ahead is allowed).
	ruleNotBelowCurrent
	// ruleLeaderRoundIsCurrent: a later single-leader or validator proposal must be in
	// exactly the current round (those rounds are only left by timeout certificates).
	ruleLeaderRoundIsCurrent
	// ruleAboveValidatedVote: a proposal must be in a round strictly after this
	// validator's validated vote.
	ruleAboveValidatedVote
	// ruleAboveLock: a proposal must be in a round strictly after the locking block.
	ruleAboveLock
	// ruleConfirmedVoteCompatible: after a confirmed vote for block A in round p, only a
	// regular retry whose certificate round c has p <= c (same block) or p < c (another
	// block), or a fast retry of A when p is Fast, may be voted on.
	ruleConfirmedVoteCompatible
	// ruleCertNotBelowValidatedVote: a validated certificate must not be older than this
	// validator's validated vote.
	ruleCertNotBelowValidatedVote
	// ruleCertAboveLock: a validated certificate must be strictly newer than the lock.
	ruleCertAboveLock
	// ruleConfirmOnlyInCurrentRound: a confirmed vote is signed only when the
	// certificate's round is the current round.
	ruleConfirmOnlyInCurrentRound
	// ruleTimeoutCurrentRound: timeout votes are signed only for the current round.
	ruleTimeoutCurrentRound
	// ruleTimeoutDeadline: timeout votes are signed only once the round's deadline passed.
	ruleTimeoutDeadline
	numRules = iota
)

// ruleSet is a set of rules (a bit mask).
type ruleSet uint32

func (s ruleSet) has(r rule) bool { return uint32(s)&uint32(r) != 0 }

func (r rule) String() string {
	switch r {
	case ruleRoundExists:
		return "round-exists"
	case ruleCanPropose:
		return "can-propose"
	case ruleSkipSeen:
		return "skip-seen"
	case ruleFastOnlyInFastRound:
		return "fast-only-in-fast-round"
	case ruleSuperOwnerEndsFast:
		return "super-owner-ends-fast"
	case ruleNotBelowCurrent:
		return "not-below-current"
	case ruleLeaderRoundIsCurrent:
		return "leader-round-is-current"
	case ruleAboveValidatedVote:
		return "above-validated-vote"
	case ruleAboveLock:
		return "above-lock"
	case ruleConfirmedVoteCompatible:
		return "confirmed-vote-compatible"
	case ruleCertNotBelowValidatedVote:
		return "cert-not-below-validated-vote"
	case ruleCertAboveLock:
		return "cert-above-lock"
	case ruleConfirmOnlyInCurrentRound:
		return "confirm-only-in-current-round"
	case ruleTimeoutCurrentRound:
		return "timeout-current-round"
	case ruleTimeoutDeadline:
		return "timeout-deadline"
	}
	return "unknown-rule"
}

// enforced reports whether rule r is checked (always, outside this package's tests).
func (m *Manager) enforced(r rule) bool { return !m.disabled.has(r) }

// roundExists reports whether round r can occur at all under the chain's ownership.
func (m *Manager) roundExists(r base.Round) bool {
	if !r.Valid() {
		return false
	}
	switch r.Kind {
	case base.RoundFast:
		return len(m.ownership.SuperOwners) > 0
	case base.RoundMultiLeader:
		return r.Number < m.ownership.MultiLeaderRounds
	}
	return true
}

// checkProposal implements §2.4 step 2 (check_proposed_block) plus can_propose. It reads
// the state only.
func (m *Manager) checkProposal(p *protocol.BlockProposal) (Outcome, error) {
	if p == nil {
		return Accept, refuse(ErrMalformedInput, "nil proposal")
	}
	block := &p.Content.Block
	round := p.Content.Round
	if block.Height != m.height {
		return Accept, refuse(ErrWrongHeight, "proposal for height %d, manager at height %d", block.Height, m.height)
	}
	if m.enforced(ruleSkipSeen) && m.proposed != nil && sameContent(&m.proposed.Content, &p.Content) {
		return Skip, nil
	}
	if m.enforced(ruleRoundExists) && !m.roundExists(round) {
		return Accept, refuse(ErrWrongRound, "round %v does not exist for this chain", round)
	}
	if err := checkShape(p); err != nil {
		return Accept, err
	}
	owner := p.Owner()
	if m.enforced(ruleCanPropose) {
		if !m.CanPropose(owner, round) {
			return Accept, refuse(ErrNotAllowedToPropose, "%s may not propose in round %v", owner, round)
		}
		// A fast retry carries a fast-round proposal: only a super owner can have made one.
		if p.IsFastRetry() && !m.ownership.IsSuperOwner(p.Original.FastPublicKey.Owner()) {
			return Accept, refuse(ErrNotAllowedToPropose, "fast retry of a proposal by %s, who is not a super owner", p.Original.FastPublicKey.Owner())
		}
	}
	current := m.currentRound
	switch {
	case round.Kind == base.RoundFast:
		// A fast proposal is voted on (confirmed at once) only during the fast round.
		if m.enforced(ruleFastOnlyInFastRound) && !current.IsFast() {
			return Accept, refuse(ErrWrongRound, "fast proposal, current round is %v", current)
		}
	case round.Kind == base.RoundMultiLeader || round == base.SingleLeader(0):
		// While the fast round is running, only a super owner may end it by proposing
		// in a later round.
		if m.enforced(ruleSuperOwnerEndsFast) && current.IsFast() && !m.ownership.IsSuperOwner(owner) {
			return Accept, refuse(ErrWrongRound, "only a super owner may leave the fast round; proposal in %v", round)
		}
		// Skipping ahead is allowed; going back is not.
		if m.enforced(ruleNotBelowCurrent) && round.Less(current) {
			return Accept, refuse(ErrRoundTooLow, "proposal in %v, current round is %v", round, current)
		}
	default:
		// Later single-leader and validator rounds are left only by timeout certificates.
		if m.enforced(ruleLeaderRoundIsCurrent) && round != current {
			return Accept, refuse(ErrWrongRound, "proposal in %v, current round is %v", round, current)
		}
	}
	if v := m.validatedVote; v != nil && m.enforced(ruleAboveValidatedVote) && !v.Round.Less(round) {
		return Accept, refuse(ErrRoundTooLow, "proposal in %v, already voted to validate in %v", round, v.Round)
	}
	if lr, ok := m.lockRound(); ok && m.enforced(ruleAboveLock) && !lr.Less(round) {
		return Accept, refuse(ErrNotNewerThanLock, "proposal in %v, locked in %v", round, lr)
	}
	if m.confirmedVote != nil && m.enforced(ruleConfirmedVoteCompatible) {
		if err := m.checkConfirmedVoteCompatible(p); err != nil {
			return Accept, err
		}
	}
	return Accept, nil
}

// checkShape re-checks, without signatures, the proposal shapes the safety argument relies
// on (BlockProposal.CheckInvariants checks them with the signatures): a fresh proposal
// carries no outcome, a fast retry is after the fast round, and a regular retry carries an
// outcome and a validated certificate from an earlier round.
func checkShape(p *protocol.BlockProposal) error {
	c := &p.Content
	switch {
	case !c.Round.Valid():
		return refuse(ErrMalformedInput, "invalid round %v", c.Round)
	case p.Original == nil:
		if c.Outcome != nil {
			return refuse(ErrMalformedInput, "fresh proposal with an outcome")
		}
	case p.IsFastRetry():
		if c.Round.IsFast() || c.Outcome != nil {
			return refuse(ErrMalformedInput, "fast retry in the fast round or with an outcome")
		}
	default:
		lc := p.Original.Regular
		if c.Outcome == nil || lc.Value.Kind != protocol.KindValidated || !lc.Round.Less(c.Round) {
			return refuse(ErrMalformedInput, "regular retry without outcome, validated certificate or later round")
		}
	}
	return nil
}

// checkConfirmedVoteCompatible: having voted to confirm block A in round p, a validator
// votes to validate only a re-proposal backed by a validated certificate from round c:
// c >= p if the block is A, c > p if it is another block B. If a quorum had confirmed A
// in p, no validated certificate for B could exist in a later round (invariant 2 of the
// package doc, by induction), so the certificate for B shows that A was not committed
// and the validator may move on. A fast retry of A is allowed if p is the fast round.
func (m *Manager) checkConfirmedVoteCompatible(p *protocol.BlockProposal) error {
	cv := m.confirmedVote
	switch {
	case p.IsRegularRetry():
		c := p.Original.Regular
		same := c.Value.ValueHash == cv.Value.ValueHash
		if (same && !c.Round.Less(cv.Round)) || (!same && cv.Round.Less(c.Round)) {
			return nil
		}
		if same {
			return refuse(ErrIncompatibleConfirmedVote, "confirmed the block in %v, retry certificate from %v", cv.Round, c.Round)
		}
		return refuse(ErrIncompatibleConfirmedVote, "confirmed another block in %v, retry certificate from %v", cv.Round, c.Round)
	case p.IsFastRetry():
		if cv.Round.IsFast() && m.confirmedProposed != nil && sameProposedBlock(m.confirmedProposed, &p.Content.Block) {
			return nil
		}
		return refuse(ErrIncompatibleConfirmedVote, "fast retry, but confirmed another block or in %v", cv.Round)
	default:
		return refuse(ErrIncompatibleConfirmedVote, "fresh proposal, but already voted to confirm a block in %v", cv.Round)
	}
}

// checkValidated implements check_validated_block.
func (m *Manager) checkValidated(c *protocol.Certificate) (Outcome, error) {
	if c == nil || c.Kind != protocol.KindValidated || c.Block == nil || !c.Round.Valid() || c.Round.IsFast() {
		return Accept, refuse(ErrMalformedInput, "not a validated block certificate of a regular round")
	}
	if h := c.Block.Height(); h != m.height {
		return Accept, refuse(ErrWrongHeight, "certificate for height %d, manager at height %d", h, m.height)
	}
	hash := c.Block.Hash()
	if cv := m.confirmedVote; cv != nil && cv.Value.ValueHash == hash && cv.Round == c.Round {
		return Skip, nil // Already voted to confirm it.
	}
	if l := m.lockingValidated; l != nil && l.Round == c.Round && l.Block.Hash() == hash {
		return Skip, nil // Already locked on it (without voting: it was not the current round).
	}
	if v := m.validatedVote; v != nil && m.enforced(ruleCertNotBelowValidatedVote) && c.Round.Less(v.Round) {
		return Accept, refuse(ErrRoundTooLow, "certificate from %v, already voted to validate in %v", c.Round, v.Round)
	}
	if lr, ok := m.lockRound(); ok && m.enforced(ruleCertAboveLock) && !lr.Less(c.Round) {
		return Accept, refuse(ErrNotNewerThanLock, "certificate from %v, locked in %v", c.Round, lr)
	}
	return Accept, nil
}

// sameContent compares two proposal contents by their canonical bytes.
func sameContent(a, b *protocol.ProposalContent) bool {
	return codec.Equal(a, b)
}

// sameProposedBlock compares two proposed blocks by their canonical bytes.
func sameProposedBlock(a, b *protocol.ProposedBlock) bool {
	return codec.Equal(a, b)
}
