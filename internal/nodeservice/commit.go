package nodeservice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/wallet"
)

// ChainClient returns a client for a chain the wallet owns, signing with the wallet's
// key and resuming (and persisting) its pending fast proposal. The CLI commands and the
// service share it.
func ChainClient(w *wallet.Wallet, c *client.Client, id base.ChainID) (*client.ChainClient, error) {
	ch, ok := w.Chain(id)
	if !ok {
		return nil, fmt.Errorf("the wallet does not follow chain %s: run `mica wallet follow-chain %s`", id, id)
	}
	if ch.Owner == nil {
		return nil, fmt.Errorf("the wallet holds no key for chain %s; it can only read it", id)
	}
	key, err := w.Key(*ch.Owner)
	if err != nil {
		return nil, err
	}
	cc := c.Chain(id, key, w.PendingProposal(id))
	cc.OnFastProposalEncoded = w.FastProposalEncodedHook(id)
	return cc, nil
}

// DefaultRetryTime is how long after the first attempt ended Commit keeps retrying,
// when Retry.Time is zero. It covers a validator restarting, or answering late on a
// loaded machine, and a few round timeouts (10 s each by default).
const DefaultRetryTime = 2 * time.Minute

// defaultBackoff is the wait before the first retry when Retry.Backoff is zero.
const defaultBackoff = time.Second

// maxBackoffFactor bounds the doubling backoff, as a multiple of the first wait.
const maxBackoffFactor = 8

// Retry says how Commit retries failures of class base.ErrRetryable and reports it. The
// zero value retries every such failure for DefaultRetryTime, reporting nothing.
type Retry struct {
	// Time bounds how long after the first attempt ended Commit may decide to retry
	// (0: DefaultRetryTime; negative: no retries).
	Time time.Duration
	// Backoff is the wait before the first retry of a failed attempt; it doubles with
	// each retry, up to 8 times itself (0: 1 s). Round timeouts are waited out for as
	// long as they last instead.
	Backoff time.Duration
	// Retryable, if set, decides whether a failure of class base.ErrRetryable is worth
	// retrying (the CLI refuses to when no validator could be reached at all). It is not
	// asked about round timeouts.
	Retryable func(err error) bool
	// OnWait, if set, is called before each wait for another attempt.
	OnWait func(Wait)
}

// Wait is a pause of Commit before its next attempt, as Retry.OnWait reports it.
type Wait struct {
	// Attempt is the number of the attempt after the wait (2 for the first retry).
	Attempt int
	// Wait is how long Commit waits.
	Wait time.Duration
	// Err is the retryable failure of the attempt before.
	Err error
	// Timeout is set when Commit waits for a round to time out (it is also Err).
	Timeout *client.WaitForTimeoutError
}

// String says what Commit waits for, in one line: "no quorum of validators answered;
// retrying in 1s (attempt 2)".
func (w Wait) String() string {
	d := w.Wait.Round(time.Millisecond)
	if w.Timeout != nil {
		return fmt.Sprintf("waiting %v for round %v to time out (attempt %d)", d, w.Timeout.Round, w.Attempt)
	}
	return fmt.Sprintf("%s; retrying in %v (attempt %d)", w.Reason(), d, w.Attempt)
}

// Reason is the failure in a few words: the error class's message for the failures a
// network that is slow or restarting causes, otherwise the error itself without its
// class prefixes.
func (w Wait) Reason() string {
	switch {
	case w.Err == nil:
		return "retrying"
	case errors.Is(w.Err, client.ErrNoQuorum):
		return strings.TrimPrefix(client.ErrNoQuorum.Error(), base.ErrRetryable.Error()+": ")
	case errors.Is(w.Err, client.ErrConflict):
		return strings.TrimPrefix(client.ErrConflict.Error(), base.ErrRetryable.Error()+": ")
	}
	p := base.ErrRetryable.Error() + ": "
	return strings.ReplaceAll(strings.TrimPrefix(w.Err.Error(), p), ": "+p, ": ")
}

// Commit runs a chain operation f until it succeeds or fails for good, clearing the
// wallet's persisted fast proposal once committed and recording the chain's next height
// (w may be nil: a client without a wallet, such as `mica demo`).
//
// A failure of class base.ErrRetryable that committed nothing (f returned no
// certificate) is retried: a round timeout is waited out for as long as the round lasts,
// any other failure (client.ErrNoQuorum: validators restarting or answering late;
// client.ErrConflict...) after a backoff (r.Backoff) of 1 s, 2 s, 4 s, then 8 s each
// time. A failure is retried only within r.Time after the first attempt ended; past
// it the last failure is returned, saying how many attempts were made. Other failures, and the end of ctx,
// return at once. r.OnWait hears of each wait.
//
// f must be safe to run again after a failure: client.ChainClient.ExecuteOperations
// (and what is built on it: Transfer, Claim, OpenChain, ProcessInbox, MigrateEpochs,
// PublishDataBlob) executes a request at most once, returning the block an earlier
// attempt got confirmed.
func Commit(ctx context.Context, w *wallet.Wallet, cc *client.ChainClient, f func() (*protocol.Certificate, error), r Retry) (*protocol.Certificate, error) {
	budget := r.Time
	if budget == 0 {
		budget = DefaultRetryTime
	}
	backoff := r.Backoff
	if backoff <= 0 {
		backoff = defaultBackoff
	}
	maxBackoff := maxBackoffFactor * backoff
	start := time.Now()
	var deadline time.Time
	for attempt := 1; ; attempt++ {
		cert, err := f()
		if deadline.IsZero() {
			// The first attempt may take long (validators compiling a published
			// module): the time for retries starts after it.
			deadline = time.Now().Add(budget)
		}
		wait, timeout, retry := nextWait(ctx, cert, err, backoff, r.Retryable)
		if retry && !time.Now().Before(deadline) {
			retry = false
			if attempt > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts in %v)", err, attempt, time.Since(start).Round(time.Second))
			}
		}
		if !retry {
			if w != nil && cc.PendingFastProposal() == nil {
				_ = w.ClearPendingProposal(cc.ID())
			}
			if w != nil && cert != nil {
				_ = w.SetNextHeight(cc.ID(), cert.Height()+1)
			}
			return cert, err
		}
		if timeout == nil {
			backoff = min(2*backoff, maxBackoff)
		}
		if r.OnWait != nil {
			r.OnWait(Wait{Attempt: attempt + 1, Wait: wait, Err: err, Timeout: timeout})
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		if timeout != nil {
			// Ask for the timeout now that it is due. A retryable failure is left to
			// the next attempt, which asks again; any other ends the commit.
			if _, terr := cc.RequestTimeout(ctx); terr != nil && !errors.Is(terr, base.ErrRetryable) {
				return nil, terr
			}
		}
	}
}

// nextWait says whether the outcome of an attempt (cert, err) is retried, after how
// long, and the round timeout it waits for, if that is the reason.
func nextWait(ctx context.Context, cert *protocol.Certificate, err error, backoff time.Duration, retryable func(error) bool) (time.Duration, *client.WaitForTimeoutError, bool) {
	if err == nil || cert != nil || ctx.Err() != nil || !errors.Is(err, base.ErrRetryable) {
		return 0, nil, false
	}
	var wt *client.WaitForTimeoutError
	if errors.As(err, &wt) {
		return max(time.Until(wt.Until.Time())+100*time.Millisecond, 200*time.Millisecond), wt, true
	}
	if retryable != nil && !retryable(err) {
		return 0, nil, false
	}
	return backoff, nil, true
}
