package nodeservice

import (
	"context"
	"errors"
	"fmt"
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
	cc.OnFastProposal = w.FastProposalHook(id)
	return cc, nil
}

// Commit runs a chain operation f, clearing the wallet's persisted fast proposal once
// committed and recording the chain's next height; it waits out round timeouts (for 45 s
// after the first attempt), calling onWait (may be nil) before each wait.
func Commit(ctx context.Context, w *wallet.Wallet, cc *client.ChainClient, f func() (*protocol.Certificate, error), onWait func(wait time.Duration, round base.Round)) (*protocol.Certificate, error) {
	var deadline time.Time
	for {
		cert, err := f()
		if deadline.IsZero() {
			// The first attempt may take long (validators compiling a published
			// module): the time for retries starts after it.
			deadline = time.Now().Add(45 * time.Second)
		}
		var wt *client.WaitForTimeoutError
		if errors.As(err, &wt) && time.Now().Before(deadline) {
			wait := time.Until(wt.Until.Time()) + 100*time.Millisecond
			if wait < 200*time.Millisecond {
				wait = 200 * time.Millisecond
			}
			if onWait != nil {
				onWait(wait, wt.Round)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
			if _, terr := cc.RequestTimeout(ctx); terr != nil {
				return nil, terr
			}
			continue
		}
		if cc.PendingFastProposal() == nil {
			_ = w.ClearPendingProposal(cc.ID())
		}
		if cert != nil {
			_ = w.SetNextHeight(cc.ID(), cert.Height()+1)
		}
		return cert, err
	}
}
