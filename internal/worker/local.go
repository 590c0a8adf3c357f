package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// StageBlock executes a proposed block against the local state without changing it, and
// returns the block with its outcome. It is for the caller's own blocks (a client's
// local node), never for network input: a blob the execution lacks becomes wanted, and
// blobs uploaded that way are read from the pending area. Clients use it to learn the outcome (and any
// error, such as an overdraft) before signing. Bundles the local node has not received
// are accepted as the proposer claims them.
func (w *Worker) StageBlock(ctx context.Context, p *protocol.ProposedBlock, blobs []protocol.Blob) (block *protocol.Block, err error) {
	defer w.recovered(&err, "stage block")
	err = w.withEntry(ctx, p.ChainID, func(e *chainEntry) error {
		ecs, err := e.state.Committees(ctx)
		if err != nil {
			return err
		}
		policy := protocol.NoFeesPolicy()
		for _, ec := range ecs {
			if ec.Epoch == p.Epoch {
				c, err := w.committee(ctx, ec.CommitteeHash)
				if err != nil {
					return err
				}
				policy = c.Policy
			}
		}
		w.compileAhead(blobs)
		now := w.cfg.Clock.Now()
		resolver := &proposalResolver{st: w.cfg.Storage, blobs: blobs, pending: true, now: now}
		var x *chain.Executed
		block, x, err = e.state.ExecuteDetached(ctx, p, chain.ExecOptions{
			Resolver: resolver,
			Policy:   &policy,
			Now:      now,
			HTTP:     w.cfg.HTTP,
		})
		if err != nil {
			// The caller stages its own block: what it lacks, it may upload.
			w.wantMissing(err, &policy)
			return err
		}
		// The block's certificate, if the caller gets one, is applied as staged here,
		// unless the staging read a carried blob that the block does not publish (the
		// certificate's execution would not find it).
		ids := p.PublishedBlobIDs()
		for i := range blobs {
			if !containsBlobID(ids, blobs[i].ID()) {
				e.kept = nil
				return nil
			}
		}
		w.keep(e, x, resolver.readFromPending())
		return nil
	})
	return block, err
}

// ChainState runs fn with a chain's state locked, for read-only inspection (balances,
// tip). fn must not stage changes.
func (w *Worker) ChainState(ctx context.Context, id base.ChainID, fn func(s *chain.State) error) error {
	return w.withChain(ctx, id, fn)
}

// ErrBlobNotWanted: nobody asked this worker for the uploaded blob. A blob is accepted
// only after a verified certificate or a signed proposal in hand reported it missing
// (ErrBlobsNotFound); push the certificate or proposal first.
var ErrBlobNotWanted = fmt.Errorf("%w: blob not needed by any certificate or proposal this node holds", base.ErrInvalid)

// HandleBlob accepts an uploaded blob that a verified certificate or a signed proposal
// reported missing, within its committee's size limits, into the bounded, expiring
// pending area; the confirmed certificate that publishes it moves it to the confirmed
// area (DESIGN §9). A blob already held is accepted and changes nothing; any other blob
// is refused with ErrBlobNotWanted.
func (w *Worker) HandleBlob(ctx context.Context, blob protocol.Blob) (err error) {
	defer w.recovered(&err, "blob upload")
	if !blob.Type.Valid() {
		return base.Invalidf("unknown blob type %d", blob.Type)
	}
	if blob.Size() > maxUploadedBlob {
		return base.Invalidf("blob of %d bytes exceeds the upload limit of %d", blob.Size(), maxUploadedBlob)
	}
	id := blob.ID()
	missing, err := w.cfg.Storage.MissingBlobs(ctx, []base.BlobID{id})
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		w.wanted.remove(id)
		return nil // already confirmed
	}
	limit, wanted := w.wanted.limit(id)
	if !wanted {
		if _, err := w.cfg.Storage.PendingBlob(ctx, id, w.cfg.Clock.Now()); err == nil {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrBlobNotWanted, id)
	}
	if uint64(blob.Size()) > limit {
		return base.Invalidf("blob %s of %d bytes exceeds the limit of %d", id, blob.Size(), limit)
	}
	if err := w.cfg.Storage.PutPendingBlob(ctx, &blob, w.cfg.Clock.Now()); err != nil {
		return err
	}
	w.wanted.remove(id)
	return nil
}

const maxUploadedBlob = 32 << 20

// Certificates returns confirmed certificates of a chain in [from, to), for clients that
// download a chain's history: a prefix of the range, bounded like a validator's download
// (maxDownload certificates and maxDownloadBytes of them, or the first alone), read while
// the answer has room. The caller asks again from where the answer stopped.
func (w *Worker) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	if to < from {
		return nil, base.Invalidf("height range [%d, %d) is empty", from, to)
	}
	certs, _, err := w.cfg.Storage.CertificatesWithin(ctx, id, from, to, maxDownload, maxDownloadBytes)
	return certs, err
}

// The bounds of Certificates' answer: those of rpc's DownloadCertificates.
const (
	maxDownload      = 500
	maxDownloadBytes = 32 << 20
)

// ReadBlob returns a confirmed blob (class base.ErrNotFound if absent).
func (w *Worker) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return w.cfg.Storage.Blob(ctx, id)
}

// QueryApplication runs an application's service on this node's replica of a chain
// (read-only, unmetered, bounded by the VM's deadline) and returns its answer.
func (w *Worker) QueryApplication(ctx context.Context, id base.ChainID, app base.ApplicationID, query []byte) ([]byte, error) {
	answer, _, err := w.QueryApplicationScheduling(ctx, id, app, query)
	return answer, err
}

// QueryApplicationScheduling is QueryApplication that also returns the operations the
// service scheduled (a GraphQL mutation), for the client to commit in a block.
func (w *Worker) QueryApplicationScheduling(ctx context.Context, id base.ChainID, app base.ApplicationID, query []byte) (answer []byte, ops []protocol.Operation, err error) {
	defer w.recovered(&err, "application query")
	err = w.withChain(ctx, id, func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		qc := execution.QueryContext{ChainID: id, NextBlockHeight: tip.NextHeight, LocalTime: w.cfg.Clock.Now(), HTTP: w.cfg.HTTP}
		if qc.Policy, err = w.currentPolicy(ctx, s); err != nil {
			// Queries worked before services could make HTTP requests: without the
			// committee, the service runs with the default policy (no HTTP).
			w.log.Debug("no committee policy for a query; HTTP disabled", "chain", id.Short(), "err", err)
			d := protocol.NoFeesPolicy()
			qc.Policy = &d
		}
		answer, ops, err = s.Execution().QueryApplicationScheduling(ctx, qc, app, query, queryResolver{w})
		var mb *execution.MissingBlobError
		if errors.As(err, &mb) {
			// A query may need what no block of this node's chains did (the service's
			// bytecode of an application published on a chain it never synced): the
			// caller may upload it (content-addressed, so its hash proves it) to the
			// pending area, which queries read.
			w.wanted.add(mb.ID, blobLimit(qc.Policy, mb.ID.Type))
		}
		return err
	})
	return answer, ops, err
}

// queryResolver reads blobs for queries: confirmed ones, else content-verified blobs
// uploaded to the pending area. Only queries use it: block execution reads confirmed
// blobs and those its proposal carries.
type queryResolver struct{ w *Worker }

func (r queryResolver) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	b, err := r.w.cfg.Storage.Blob(ctx, id)
	if base.IsNotFound(err) {
		if p, perr := r.w.cfg.Storage.PendingBlob(ctx, id, r.w.cfg.Clock.Now()); perr == nil {
			return p, nil
		}
	}
	return b, err
}

func (r queryResolver) ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	return r.w.cfg.Storage.Event(ctx, id)
}

// currentPolicy is the resource policy of the committee of the chain's latest trusted
// epoch (NoFeesPolicy if the chain trusts none yet).
func (w *Worker) currentPolicy(ctx context.Context, s *chain.State) (*protocol.ResourcePolicy, error) {
	ecs, err := s.Committees(ctx)
	if err != nil {
		return nil, err
	}
	policy := protocol.NoFeesPolicy()
	var best *base.Epoch
	for _, ec := range ecs {
		if best != nil && ec.Epoch <= *best {
			continue
		}
		c, err := w.committee(ctx, ec.CommitteeHash)
		if err != nil {
			return nil, err
		}
		e := ec.Epoch
		best, policy = &e, c.Policy
	}
	return &policy, nil
}
