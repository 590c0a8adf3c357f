package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
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
// next one.
//
// What validators can make the client hold does not grow with the window (the client's
// cores): a sync has a budget of syncGrants times the receive limit of one download,
// the largest answer an honest validator sends (syncAnswerLimit, about 33 MiB under the
// default policy). A batch starts only when the budget has a receive limit free for it;
// its download is made with that receive limit (WithReceiveLimit: the transport refuses
// a larger answer from its length prefix, and the validator is skipped), and once a
// full answer arrives the batch keeps only its answer's bytes until it is executed. So
// small blocks still run syncWindow batches at once, at most syncGrants downloads are
// in flight, and the answers received and being received weigh at most the budget.
const (
	syncBatch = 64
	// syncMinRange: shorter ranges are fetched in one call, without goroutines.
	syncMinRange = 2 * syncBatch
)

// Sync download bounds.
const (
	// MaxDownloadAnswerBytes is the most an honest validator puts in an answer to a
	// certificate download, unless its first certificate alone is larger: the RPC
	// server (rpc.Proxy.DownloadCertificates) stops adding certificates before the
	// next would pass it.
	MaxDownloadAnswerBytes = 32 << 20
	// syncGrants is the number of receive limits in a sync's budget: the downloads it
	// may have in flight (the least syncWindow, so a client with few cores syncs as
	// before).
	syncGrants = 4
	// maxReceiveLimit is the transport's message limit (rpc.MaxMessageSize): no
	// receive limit is set above it.
	maxReceiveLimit = 64 << 20
	// signatureBytes bounds a certificate's signature entry (an ML-DSA-65 key and
	// signature, 5.1 KiB, and their framing); answerFraming the rest of an answer's
	// framing (the certificates' envelope, round and kind, the message's).
	signatureBytes = 6 << 10
	answerFraming  = 1 << 20
)

// syncAnswerLimit is the receive limit of a sync download under committee's policy:
// the largest answer an honest validator sends, MaxDownloadAnswerBytes or one
// certificate if larger (a block of MaxBlockSize, an outcome of MaxBlockOutcomeBytes and
// a signature per member), and the framing; at most maxReceiveLimit.
func syncAnswerLimit(committee *protocol.Committee) int64 {
	return int64(receiveLimit(max(MaxDownloadAnswerBytes, certificateBytes(committee))))
}

// syncAnswerLimit returns the receive limit of the client's sync downloads of a chain
// whose committee is committee.
func (c *Client) syncAnswerLimit(committee *protocol.Committee) int64 {
	if c.syncLimit > 0 {
		return c.syncLimit
	}
	return syncAnswerLimit(committee)
}

type receiveLimitKey struct{}

// WithReceiveLimit returns a context whose calls to validators accept answers of at
// most n bytes (the RPC layer sets it as the call's receive limit, never above its own;
// an answer over it fails the call). n ≤ 0: the transport's limit.
func WithReceiveLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, receiveLimitKey{}, n)
}

// ReceiveLimit returns the limit WithReceiveLimit set on ctx (zero if none).
func ReceiveLimit(ctx context.Context) int {
	n, _ := ctx.Value(receiveLimitKey{}).(int)
	return n
}

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
	// held is the bytes of the sync's budget the job holds: its receive limit while it
	// downloads, then its answer's bytes once a full answer arrived. A short answer
	// keeps the receive limit, which the job asking for the rest inherits.
	held int64
}

// pipelinedSync downloads, verifies and executes heights [from, to) of chain id from the
// sources (validators with their claimed next heights), each download with receive
// limit limit (syncAnswerLimit). It returns the local next height reached and the
// error that stopped it before to, if any.
func (c *Client) pipelinedSync(ctx context.Context, id base.ChainID, from, to base.BlockHeight, sources []*syncSource, limit int64) (base.BlockHeight, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	window := syncWindow()
	// Jobs take their receive limit when they start, in this goroutine, and never wait
	// for the budget: what they hold is given back here once executed, so a wait here
	// could never end. With the queue empty the whole budget is free.
	budget := semaphore.NewWeighted(syncGrants * limit)
	var queue []*syncJob // started, in height order
	next := from         // first height not yet in a job
	seq := 0
	start := func(j *syncJob) {
		j.seq, j.done = seq, make(chan struct{})
		seq++
		wg.Go(func() {
			defer close(j.done)
			c.runSyncJob(ctx, id, j, sources, budget, limit)
		})
	}
	fill := func() {
		for len(queue) < window && next < to && budget.TryAcquire(limit) {
			j := &syncJob{from: next, to: min(next+syncBatch, to), held: limit}
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
			// A short answer: ask for the rest first, with the job's receive limit.
			rest := &syncJob{from: height, to: j.to, held: j.held}
			start(rest)
			queue = append([]*syncJob{rest}, queue...)
		} else {
			budget.Release(j.held)
		}
	}
}

// runSyncJob fills j from the first source, starting with the job's turn, that claims
// the heights and sends a well-formed batch, within j's receive limit, that the local
// node preverifies. Once a full answer arrived, j gives back to budget what the answer
// leaves of its receive limit.
func (c *Client) runSyncJob(ctx context.Context, id base.ChainID, j *syncJob, sources []*syncSource, budget *semaphore.Weighted, limit int64) {
	var errs []error
	for k := range sources {
		src := sources[(j.seq+k)%len(sources)]
		if src.bad.Load() || src.next <= j.from {
			continue
		}
		certs, err := c.fetchBatch(WithReceiveLimit(ctx, int(j.held)), src, id, j.from, min(j.to, src.next))
		if err == nil {
			// Preverified beside the other batches: meanwhile a full answer holds only
			// its bytes. A short one keeps the receive limit for the rest, so its size
			// is not needed (nor measured: that encodes every certificate again).
			if len(certs) == int(j.to-j.from) {
				if size := answerBytes(certs); size < j.held {
					budget.Release(j.held - size)
					j.held = size
				}
			}
			err = c.cfg.Local.PreverifyCertificates(ctx, id, certs)
			if err != nil && j.held < limit && budget.TryAcquire(limit-j.held) {
				// The next source is asked with the whole receive limit again if the
				// budget has it (else with the bytes of this well-formed answer).
				j.held = limit
			}
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

// answerBytes returns the bytes of certs' canonical encodings, which a well-formed
// answer carries.
func answerBytes(certs []*protocol.Certificate) int64 {
	var n int64
	for _, c := range certs {
		n += int64(codec.Size(c))
	}
	return n
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
