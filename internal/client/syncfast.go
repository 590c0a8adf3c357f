package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Pipelined download of a chain's history (issue #11, "client sync at full speed").
//
// The heights to fetch are cut into batches of syncBatch heights. Up to syncWindow
// batches are in flight at once; each is downloaded from one validator (the batches are
// spread over the validators that claim to have them, in turn), checked for shape (a
// confirmed certificate of the chain per height, in order, no more than asked) and then
// preverified by the local node (PreverifyCertificates: every signature of the batch in
// one batch equation, against the committee the chain trusts), on its own goroutine, so
// that the batches are verified in parallel on the other cores while the executor runs
// the earlier ones. The executor hands the certificates, in height order, to the local
// node, which checks each against the committee again (a cache hit for the preverified
// ones) and executes it: nothing a validator sends is trusted.
//
// A validator whose answer is malformed, fails verification or does not come within the
// request timeout is skipped for the rest of the sync and the batch is asked from the
// next one. What a validator can make the client hold: syncWindow answers of at most
// syncBatch certificates each (the RPC layer bounds their bytes).
const (
	syncBatch = 64
	// syncMinRange: shorter ranges are fetched in one call, without goroutines.
	syncMinRange = 2 * syncBatch
)

// syncWindow is the number of batches in flight: enough to keep every core verifying
// while one executes, and the network busy.
func syncWindow() int { return max(2, runtime.GOMAXPROCS(0)) + 2 }

// syncSource is a validator to download from and the next height it claims to have.
type syncSource struct {
	v    Validator
	next base.BlockHeight
	bad  atomic.Bool // sent something wrong or failed: not asked again
}

// syncJob is one batch of heights [from, to) and, once done, its certificates (maybe
// fewer than asked, never more) or why no validator provided them.
type syncJob struct {
	seq      int
	from, to base.BlockHeight
	done     chan struct{}
	certs    []*protocol.Certificate
	src      *syncSource
	err      error
}

// pipelinedSync downloads, verifies and executes heights [from, to) of chain id from the
// sources (validators with their claimed next heights). It returns the local next
// height reached and the error that stopped it before to, if any.
func (c *Client) pipelinedSync(ctx context.Context, id base.ChainID, from, to base.BlockHeight, sources []*syncSource) (base.BlockHeight, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	window := syncWindow()
	var queue []*syncJob // started, in height order
	next := from         // first height not yet in a job
	seq := 0
	start := func(j *syncJob) {
		j.seq, j.done = seq, make(chan struct{})
		seq++
		wg.Go(func() {
			defer close(j.done)
			c.runSyncJob(ctx, id, j, sources)
		})
	}
	fill := func() {
		for len(queue) < window && next < to {
			j := &syncJob{from: next, to: min(next+syncBatch, to)}
			next = j.to
			start(j)
			queue = append(queue, j)
		}
	}
	height := from
	for {
		fill()
		if len(queue) == 0 {
			return height, nil
		}
		j := queue[0]
		queue = queue[1:]
		select {
		case <-j.done:
		case <-ctx.Done():
			return height, ctx.Err()
		}
		if j.err != nil {
			return height, j.err
		}
		for _, cert := range j.certs {
			if err := c.processLocally(ctx, cert); err != nil {
				// The certificate verified (or its epoch was not yet trusted when it
				// was preverified): the caller decides whether another validator's
				// copy does better.
				j.src.bad.Store(true)
				return height, fmt.Errorf("validator %s, height %d: %w", j.src.v.PublicKey, height, err)
			}
			height++
		}
		if height < j.to {
			// A short answer: ask for the rest first.
			rest := &syncJob{from: height, to: j.to}
			start(rest)
			queue = append([]*syncJob{rest}, queue...)
		}
	}
}

// runSyncJob fills j from the first source, starting with the job's turn, that claims
// the heights and sends a well-formed batch that the local node preverifies.
func (c *Client) runSyncJob(ctx context.Context, id base.ChainID, j *syncJob, sources []*syncSource) {
	var errs []error
	for k := range sources {
		src := sources[(j.seq+k)%len(sources)]
		if src.bad.Load() || src.next <= j.from {
			continue
		}
		certs, err := c.fetchBatch(ctx, src, id, j.from, min(j.to, src.next))
		if err == nil {
			err = c.cfg.Local.PreverifyCertificates(ctx, id, certs)
		}
		if err != nil {
			if ctx.Err() != nil {
				j.err = ctx.Err()
				return
			}
			src.bad.Store(true)
			c.log.Debug("sync batch refused", "validator", src.v.PublicKey.String(), "from", uint64(j.from), "err", err)
			errs = append(errs, err)
			continue
		}
		j.certs, j.src = certs, src
		return
	}
	j.err = fmt.Errorf("no validator sent heights [%d, %d) of chain %s: %w", j.from, j.to, id.Short(), errors.Join(errs...))
}

// fetchBatch asks src for heights [from, to) of chain id, within the request timeout,
// and checks the shape of the answer: at least one certificate, no more than asked,
// confirmed certificates of the chain at consecutive heights from from.
func (c *Client) fetchBatch(ctx context.Context, src *syncSource, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	certs, err := src.v.Node.Certificates(cctx, id, from, to)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 || len(certs) > int(to-from) {
		return nil, base.Invalidf("validator %s sent %d certificates for heights [%d, %d)", src.v.PublicKey, len(certs), from, to)
	}
	for i, cert := range certs {
		if cert == nil || cert.Kind != protocol.KindConfirmed || cert.Block == nil || cert.ChainID() != id || cert.Height() != from+base.BlockHeight(i) {
			return nil, base.Invalidf("validator %s returned an unexpected certificate", src.v.PublicKey)
		}
	}
	return certs, nil
}
