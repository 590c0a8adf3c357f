package consensus

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
)

// Outcome is the result of checking an input that passed every rule.
type Outcome int

const (
	// Accept: the input is new and relevant; the caller goes on to execute and vote.
	Accept Outcome = iota
	// Skip: the input was already handled; the caller answers with the current votes
	// (Info) and changes nothing.
	Skip
)

func (o Outcome) String() string {
	switch o {
	case Accept:
		return "accept"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Refusals. Every error the manager returns matches base.ErrInvalid and exactly one of
// these sentinels with errors.Is — except a signer's failure, which is wrapped as is. The
// state is unchanged when an error is returned.
var (
	// ErrWrongHeight: the input is for another height than the manager's.
	ErrWrongHeight = fmt.Errorf("%w: wrong block height", base.ErrInvalid)
	// ErrWrongRound: the round is not one this validator votes in now (a single-leader or
	// validator round other than the current one, a fast proposal after the fast round, a
	// round that does not exist for this ownership, a later round opened by a non-super
	// owner during the fast round), or a timeout was requested for another round.
	ErrWrongRound = fmt.Errorf("%w: wrong round", base.ErrInvalid)
	// ErrRoundTooLow: the round is below the current round or not above a round this
	// validator already voted in.
	ErrRoundTooLow = fmt.Errorf("%w: round too low", base.ErrInvalid)
	// ErrNotNewerThanLock: the round is not after the round of the block this validator
	// is locked on.
	ErrNotNewerThanLock = fmt.Errorf("%w: round not after the locking block", base.ErrInvalid)
	// ErrIncompatibleConfirmedVote: this validator voted to confirm another block (or in a
	// round the proposal's justification does not reach); only a retry justified by a
	// later validated certificate, or a fast retry of the same block, may be voted on.
	ErrIncompatibleConfirmedVote = fmt.Errorf("%w: incompatible with a confirmed vote", base.ErrInvalid)
	// ErrNotAllowedToPropose: the signer may not propose in this round.
	ErrNotAllowedToPropose = fmt.Errorf("%w: not allowed to propose in this round", base.ErrInvalid)
	// ErrRoundDoesNotTimeOut: a timeout was requested for a round without a timeout.
	ErrRoundDoesNotTimeOut = fmt.Errorf("%w: round does not time out", base.ErrInvalid)
	// ErrNotTimedOutYet: a timeout was requested before the round's deadline.
	ErrNotTimedOutYet = fmt.Errorf("%w: round has not timed out yet", base.ErrInvalid)
	// ErrMalformedInput: the input does not have the shape the call requires (a
	// certificate of the wrong kind, a block that is not the proposal's, a missing
	// signer). These are caller bugs or invalid peer input.
	ErrMalformedInput = fmt.Errorf("%w: malformed consensus input", base.ErrInvalid)
	// ErrAlreadyHandled: VoteForProposal was called for a proposal that was already
	// handled but no vote is pending (answer with Info instead).
	ErrAlreadyHandled = fmt.Errorf("%w: proposal already handled", base.ErrInvalid)
)

func refuse(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
