package execution

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Sentinels of execution failures. Each wraps its base error class, so callers can test
// either the precise reason (errors.Is(err, ErrUnauthorized)) or the class
// (base.IsInvalid(err), base.IsNotFound(err)). A failing transaction fails its whole block;
// the caller rolls the state back.
var (
	// ErrInsufficientBalance: an account has less than a debit needs. The error returned is
	// an *InsufficientBalanceError with the account and both amounts. Class ErrInvalid.
	ErrInsufficientBalance = fmt.Errorf("%w: insufficient balance", base.ErrInvalid)
	// ErrUnauthorized: the authenticated owner (or application) may not do this. Class
	// ErrInvalid.
	ErrUnauthorized = fmt.Errorf("%w: unauthorized", base.ErrInvalid)
	// ErrChainClosed: the chain is closed; its blocks may only reject incoming bundles.
	// Class ErrInvalid.
	ErrChainClosed = fmt.Errorf("%w: chain is closed", base.ErrInvalid)
	// ErrNotAdminChain: a committee operation on a chain other than the admin chain.
	// Class ErrInvalid.
	ErrNotAdminChain = fmt.Errorf("%w: not the admin chain", base.ErrInvalid)
	// ErrWrongEpoch: an epoch operation names an epoch that does not fit the chain's
	// current epoch or trusted committees. Class ErrInvalid.
	ErrWrongEpoch = fmt.Errorf("%w: wrong epoch", base.ErrInvalid)
	// ErrNotPermitted: the chain's application permissions refuse the operation. Class
	// ErrInvalid.
	ErrNotPermitted = fmt.Errorf("%w: not permitted by the chain's application permissions", base.ErrInvalid)
	// ErrInvalidOperation: a malformed or meaningless operation or message (zero amount,
	// invalid ownership, unknown variant). Class ErrInvalid.
	ErrInvalidOperation = fmt.Errorf("%w: invalid operation", base.ErrInvalid)
	// ErrProtectedRejection: a block rejects a bundle with a protected message while the
	// chain is open. Class ErrInvalid.
	ErrProtectedRejection = fmt.Errorf("%w: protected messages may not be rejected", base.ErrInvalid)
	// ErrFeesExceedFunding: the chain account and the authenticated owner's account cannot
	// pay the fees of a transaction. Class ErrInvalid.
	ErrFeesExceedFunding = fmt.Errorf("%w: fees exceed funding", base.ErrInvalid)
	// ErrOracleMismatch: in replay mode, the execution asked an oracle for something other
	// than the recorded response, or left recorded responses unused. Class ErrInvalid.
	ErrOracleMismatch = fmt.Errorf("%w: oracle responses do not match the execution", base.ErrInvalid)
	// ErrNoVM: a user application was needed but no ApplicationLoader is configured.
	// Class ErrInvalid.
	ErrNoVM = fmt.Errorf("%w: user applications need a VM; none is configured", base.ErrInvalid)
	// ErrReentrantCall: an application called itself, directly or through others. Class
	// ErrInvalid.
	ErrReentrantCall = fmt.Errorf("%w: reentrant application call", base.ErrInvalid)
	// ErrApplication: a user application failed (trap, refused input, fuel exhaustion).
	// Class ErrInvalid.
	ErrApplication = fmt.Errorf("%w: application failed", base.ErrInvalid)
	// ErrOutcomeTooLarge: the block's execution outcome (outgoing messages, oracle
	// responses, events, blobs, operation results) would exceed the policy's
	// MaxBlockOutcomeBytes in its canonical encoding. Class ErrInvalid: executing the
	// block again gives the same outcome.
	ErrOutcomeTooLarge = fmt.Errorf("%w: the block's execution outcome exceeds the policy's MaxBlockOutcomeBytes", base.ErrInvalid)
	// ErrMissingBlob: a blob the execution needs is not available. The error returned is
	// a *MissingBlobError naming it, so that the worker can ask the client to upload it.
	// Class ErrNotFound.
	ErrMissingBlob = fmt.Errorf("%w: missing blob", base.ErrNotFound)
	// ErrMissingEvent: an event the execution needs is not available (yet). The error
	// returned is a *MissingEventError naming it. Class ErrNotFound.
	ErrMissingEvent = fmt.Errorf("%w: missing event", base.ErrNotFound)
)

// InsufficientBalanceError says which account could not pay, what it had and what was
// needed. It matches ErrInsufficientBalance and base.ErrInvalid.
type InsufficientBalanceError struct {
	Owner base.Owner
	Have  base.Amount
	Need  base.Amount
}

func (e *InsufficientBalanceError) Error() string {
	if e.Owner.IsChain() {
		return fmt.Sprintf("insufficient balance: the chain's own account has %s, needs %s", e.Have, e.Need)
	}
	return fmt.Sprintf("insufficient balance: account %s has %s, needs %s", e.Owner, e.Have, e.Need)
}

// Unwrap returns ErrInsufficientBalance.
func (e *InsufficientBalanceError) Unwrap() error { return ErrInsufficientBalance }

// MissingBlobError names a blob that must be uploaded before the execution can proceed.
// It matches ErrMissingBlob and base.ErrNotFound.
type MissingBlobError struct{ ID base.BlobID }

func (e *MissingBlobError) Error() string { return fmt.Sprintf("missing blob %s", e.ID) }

// Unwrap returns ErrMissingBlob.
func (e *MissingBlobError) Unwrap() error { return ErrMissingBlob }

// MissingEventError names an event that is not available yet. It matches ErrMissingEvent
// and base.ErrNotFound.
type MissingEventError struct{ ID protocol.EventID }

func (e *MissingEventError) Error() string {
	return fmt.Sprintf("missing event %d of stream %x of chain %s", e.ID.Index, e.ID.Stream.Name, e.ID.Chain.Short())
}

// Unwrap returns ErrMissingEvent.
func (e *MissingEventError) Unwrap() error { return ErrMissingEvent }

// failf returns an error wrapping the sentinel with a formatted reason.
func failf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
