package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// Errors of the network layer itself.
var (
	// ErrMissingCertificateValue: the validator does not hold the value of a lite
	// certificate; send the full certificate. Class base.ErrNotFound.
	ErrMissingCertificateValue = fmt.Errorf("%w: certificate value not held by the validator", base.ErrNotFound)
	// ErrWrongNetwork: the validator belongs to another network (its genesis hash
	// differs). Class base.ErrInvalid.
	ErrWrongNetwork = fmt.Errorf("%w: validator belongs to another network", base.ErrInvalid)
	// ErrBusy: the validator has as many requests in flight as it accepts
	// (Limits.MaxInFlight) and refused this one before reading it. Class
	// base.ErrRetryable; Node retries it within the call's deadline.
	ErrBusy = fmt.Errorf("%w: validator busy", base.ErrRetryable)
	// ErrUnreachable: the call failed in transport (connection refused or lost, deadline,
	// cancellation) or the validator answered without a structured error. Class
	// base.ErrRetryable.
	ErrUnreachable = fmt.Errorf("%w: validator unreachable", base.ErrRetryable)
)

// errorKind is one entry of the table of errors that keep their identity across the
// wire. A sentinel entry is matched with errors.Is and rebuilt as the sentinel; a typed
// entry is matched by extract (which returns the canonical bytes of its data) and
// rebuilt by build.
type errorKind struct {
	name     string
	sentinel error
	extract  func(error) ([]byte, bool)
	build    func(detail []byte) (error, error)
	// fallback is what a typed error degrades to when its detail does not decode.
	fallback error
	// class overrides the class derived from the sentinel (context errors have none).
	class error
}

// kinds is the one table of error kinds. Typed errors come before the sentinels they
// wrap, so that the most specific entry matches first.
var kinds = []errorKind{
	{
		name: "execution.MissingEventError",
		extract: func(err error) ([]byte, bool) {
			var e *execution.MissingEventError
			if !errors.As(err, &e) {
				return nil, false
			}
			return codec.Marshal(&e.ID), true
		},
		build: func(d []byte) (error, error) {
			var id protocol.EventID
			if err := codec.Unmarshal(d, &id); err != nil {
				return nil, err
			}
			return &execution.MissingEventError{ID: id}, nil
		},
		fallback: execution.ErrMissingEvent,
	},
	{
		name: "execution.MissingBlobError",
		extract: func(err error) ([]byte, bool) {
			var e *execution.MissingBlobError
			if !errors.As(err, &e) {
				return nil, false
			}
			var w codec.Writer
			w.BlobID(e.ID)
			return w.Bytes(), true
		},
		build: func(d []byte) (error, error) {
			r := codec.NewReader(d)
			id := r.BlobID()
			if err := r.Finish(); err != nil {
				return nil, err
			}
			return &execution.MissingBlobError{ID: id}, nil
		},
		fallback: execution.ErrMissingBlob,
	},
	{
		name: "execution.InsufficientBalanceError",
		extract: func(err error) ([]byte, bool) {
			var e *execution.InsufficientBalanceError
			if !errors.As(err, &e) {
				return nil, false
			}
			var w codec.Writer
			w.Owner(e.Owner)
			w.Amount(e.Have)
			w.Amount(e.Need)
			return w.Bytes(), true
		},
		build: func(d []byte) (error, error) {
			r := codec.NewReader(d)
			e := &execution.InsufficientBalanceError{Owner: r.Owner(), Have: r.Amount(), Need: r.Amount()}
			if err := r.Finish(); err != nil {
				return nil, err
			}
			return e, nil
		},
		fallback: execution.ErrInsufficientBalance,
	},

	{name: "worker.ErrNotValidator", sentinel: worker.ErrNotValidator},
	{name: "worker.ErrWrongHeight", sentinel: worker.ErrWrongHeight},
	{name: "worker.ErrMissingEarlierBlocks", sentinel: worker.ErrMissingEarlierBlocks},
	{name: "worker.ErrBlobsNotFound", sentinel: worker.ErrBlobsNotFound},
	{name: "worker.ErrInvalidTimestamp", sentinel: worker.ErrInvalidTimestamp},
	{name: "worker.ErrUntrustedEpoch", sentinel: worker.ErrUntrustedEpoch},
	{name: "worker.ErrFastBlockUsingOracles", sentinel: worker.ErrFastBlockUsingOracles},
	{name: "worker.ErrConflictingBlock", sentinel: worker.ErrConflictingBlock},
	{name: "worker.ErrOutcomeMismatch", sentinel: worker.ErrOutcomeMismatch},
	{name: "worker.ErrUnknownChain", sentinel: worker.ErrUnknownChain},

	{name: "chain.ErrMissingBundle", sentinel: chain.ErrMissingBundle},
	{name: "chain.ErrUnskippableBundle", sentinel: chain.ErrUnskippableBundle},
	{name: "chain.ErrBundleMismatch", sentinel: chain.ErrBundleMismatch},
	{name: "chain.ErrBundleOutOfOrder", sentinel: chain.ErrBundleOutOfOrder},
	{name: "chain.ErrTimestampDecreases", sentinel: chain.ErrTimestampDecreases},
	{name: "chain.ErrBundleFromFuture", sentinel: chain.ErrBundleFromFuture},
	{name: "chain.ErrClosedChain", sentinel: chain.ErrClosedChain},
	{name: "chain.ErrTooManyTxs", sentinel: chain.ErrTooManyTxs},

	{name: "execution.ErrInsufficientBalance", sentinel: execution.ErrInsufficientBalance},
	{name: "execution.ErrUnauthorized", sentinel: execution.ErrUnauthorized},
	{name: "execution.ErrChainClosed", sentinel: execution.ErrChainClosed},
	{name: "execution.ErrNotAdminChain", sentinel: execution.ErrNotAdminChain},
	{name: "execution.ErrWrongEpoch", sentinel: execution.ErrWrongEpoch},
	{name: "execution.ErrNotPermitted", sentinel: execution.ErrNotPermitted},
	{name: "execution.ErrInvalidOperation", sentinel: execution.ErrInvalidOperation},
	{name: "execution.ErrProtectedRejection", sentinel: execution.ErrProtectedRejection},
	{name: "execution.ErrFeesExceedFunding", sentinel: execution.ErrFeesExceedFunding},
	{name: "execution.ErrOracleMismatch", sentinel: execution.ErrOracleMismatch},
	{name: "execution.ErrNoVM", sentinel: execution.ErrNoVM},
	{name: "execution.ErrReentrantCall", sentinel: execution.ErrReentrantCall},
	{name: "execution.ErrApplication", sentinel: execution.ErrApplication},
	{name: "execution.ErrMissingBlob", sentinel: execution.ErrMissingBlob},
	{name: "execution.ErrMissingEvent", sentinel: execution.ErrMissingEvent},

	{name: "consensus.ErrWrongHeight", sentinel: consensus.ErrWrongHeight},
	{name: "consensus.ErrWrongRound", sentinel: consensus.ErrWrongRound},
	{name: "consensus.ErrRoundTooLow", sentinel: consensus.ErrRoundTooLow},
	{name: "consensus.ErrNotNewerThanLock", sentinel: consensus.ErrNotNewerThanLock},
	{name: "consensus.ErrIncompatibleConfirmedVote", sentinel: consensus.ErrIncompatibleConfirmedVote},
	{name: "consensus.ErrNotAllowedToPropose", sentinel: consensus.ErrNotAllowedToPropose},
	{name: "consensus.ErrRoundDoesNotTimeOut", sentinel: consensus.ErrRoundDoesNotTimeOut},
	{name: "consensus.ErrNotTimedOutYet", sentinel: consensus.ErrNotTimedOutYet},
	{name: "consensus.ErrMalformedInput", sentinel: consensus.ErrMalformedInput},
	{name: "consensus.ErrAlreadyHandled", sentinel: consensus.ErrAlreadyHandled},

	{name: "protocol.ErrInsufficientQuorum", sentinel: protocol.ErrInsufficientQuorum},
	{name: "protocol.ErrUnknownSigner", sentinel: protocol.ErrUnknownSigner},
	{name: "base.ErrAmountOverflow", sentinel: base.ErrAmountOverflow},
	{name: "base.ErrAmountUnderflow", sentinel: base.ErrAmountUnderflow},

	{name: "client.ErrNoQuorum", sentinel: client.ErrNoQuorum},
	{name: "client.ErrConflict", sentinel: client.ErrConflict},

	{name: "rpc.ErrMissingCertificateValue", sentinel: ErrMissingCertificateValue},
	{name: "rpc.ErrWrongNetwork", sentinel: ErrWrongNetwork},
	{name: "rpc.ErrBusy", sentinel: ErrBusy},
	{name: "rpc.ErrUnreachable", sentinel: ErrUnreachable},

	{name: "context.Canceled", sentinel: context.Canceled, class: base.ErrRetryable},
	{name: "context.DeadlineExceeded", sentinel: context.DeadlineExceeded, class: base.ErrRetryable},
}

// kindByName indexes kinds by name (TestErrorKindsRoundTrip checks names are unique).
var kindByName = func() map[string]*errorKind {
	m := make(map[string]*errorKind, len(kinds))
	for i := range kinds {
		m[kinds[i].name] = &kinds[i]
	}
	return m
}()

// matchKind returns the first kind err matches and its detail bytes.
func matchKind(err error) (*errorKind, []byte) {
	for i := range kinds {
		k := &kinds[i]
		if k.extract != nil {
			if d, ok := k.extract(err); ok {
				return k, d
			}
			continue
		}
		if errors.Is(err, k.sentinel) {
			return k, nil
		}
	}
	return nil, nil
}

// rebuild returns the error a kind names, from its detail bytes; a typed error whose
// detail does not decode degrades to its sentinel.
func (k *errorKind) rebuild(detail []byte) error {
	if k.build == nil {
		return k.sentinel
	}
	e, err := k.build(detail)
	if err != nil {
		return k.fallback
	}
	return e
}
