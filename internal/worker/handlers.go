package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

type kvBatch = kv.Batch

func decodeStrict(b []byte, v codec.Decoder) error { return codec.Unmarshal(b, v) }

// Errors returned to clients. Each says what the client should do.
var (
	// ErrNotValidator: the worker has no key (a client's local node).
	ErrNotValidator = fmt.Errorf("%w: this node is not a validator", base.ErrInvalid)
	// ErrWrongHeight: the block is not at the chain's next height.
	ErrWrongHeight = fmt.Errorf("%w: unexpected block height", base.ErrInvalid)
	// ErrMissingEarlierBlocks: the certificate is ahead of this validator's view of the
	// chain; the client must push the earlier certificates first.
	ErrMissingEarlierBlocks = fmt.Errorf("%w: missing earlier blocks", base.ErrNotFound)
	// ErrBlobsNotFound: the block uses blobs this validator does not hold.
	ErrBlobsNotFound = fmt.Errorf("%w: blobs not found", base.ErrNotFound)
	// ErrInvalidTimestamp: the block's timestamp is too far in the future.
	ErrInvalidTimestamp = fmt.Errorf("%w: block timestamp is in the future", base.ErrInvalid)
	// ErrUntrustedEpoch: the chain does not trust the committee of that epoch.
	ErrUntrustedEpoch = fmt.Errorf("%w: epoch not trusted by the chain", base.ErrInvalid)
	// ErrFastBlockUsingOracles: oracles are forbidden in the fast round.
	ErrFastBlockUsingOracles = fmt.Errorf("%w: fast blocks may not use oracles", base.ErrInvalid)
	// ErrConflictingBlock: a different block is already confirmed at this height. This
	// can only happen if more than f validators are faulty.
	ErrConflictingBlock = fmt.Errorf("%w: a different block is confirmed at this height", base.ErrCorrupt)
	// ErrOutcomeMismatch: re-executing a confirmed block gave a different outcome.
	ErrOutcomeMismatch = fmt.Errorf("%w: re-execution of a confirmed block gave a different outcome", base.ErrCorrupt)
	// ErrNotInCommittee: this validator is not a member of the committee of the block's
	// epoch, so it does not vote.
	ErrNotInCommittee = fmt.Errorf("%w: this validator is not in the committee of the epoch", base.ErrInvalid)
	// ErrBlockTooLarge: the encoded proposal (block and blobs) exceeds the policy's
	// MaxBlockSize. The same sentinel as the chain's check of the block itself.
	ErrBlockTooLarge = chain.ErrBlockTooLarge
	// ErrWrongEpoch: a timeout certificate is not for the chain's current epoch.
	ErrWrongEpoch = fmt.Errorf("%w: certificate is not for the chain's current epoch", base.ErrInvalid)
)

// BlobsNotFoundError names the blobs that were not found (errors.Is ErrBlobsNotFound):
// callers tell which blob was missing without reading the message.
type BlobsNotFoundError struct{ IDs []base.BlobID }

// Error says "not found: blobs not found: blob ID, blob ID…".
func (e *BlobsNotFoundError) Error() string {
	b := []byte(ErrBlobsNotFound.Error())
	for i, id := range e.IDs {
		if i == 0 {
			b = append(b, ": blob "...)
		} else {
			b = append(b, ", blob "...)
		}
		b = append(b, id.String()...)
	}
	return string(b)
}

// Unwrap returns ErrBlobsNotFound.
func (e *BlobsNotFoundError) Unwrap() error { return ErrBlobsNotFound }

// Has reports whether id is among the blobs not found.
func (e *BlobsNotFoundError) Has(id base.BlobID) bool { return slices.Contains(e.IDs, id) }

// checkMember refuses to vote unless this validator belongs to the committee.
func (w *Worker) checkMember(committee *protocol.Committee, id base.ChainID, epoch base.Epoch) error {
	if committee.Weight(w.PublicKey()) == 0 {
		return fmt.Errorf("%w: chain %s, epoch %d", ErrNotInCommittee, id.Short(), epoch)
	}
	return nil
}

// checkProposalSize enforces the policy's block size on the encoded proposal, of size
// bytes if known (>= 0).
func checkProposalSize(p *protocol.BlockProposal, size int, policy *protocol.ResourcePolicy) error {
	if size < 0 {
		size = codec.Size(p)
	}
	if n := uint64(size); n > policy.MaxBlockSize {
		return fmt.Errorf("%w: the proposal has %d bytes, the limit is %d", ErrBlockTooLarge, n, policy.MaxBlockSize)
	}
	return nil
}

// HandleBlockProposal checks a proposal, executes its block, and answers with the
// chain's info carrying this validator's vote.
func (w *Worker) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	return w.handleProposal(ctx, p, nil)
}

// HandleEncodedBlockProposal is HandleBlockProposal for a proposal strictly decoded
// from encoded by codec.Unmarshal (the default decoding budget), which is therefore its
// canonical encoding (codec's guarantee): the proposal is measured by it instead of being
// encoded again, and its block's decoding cost is bounded by it (checkDecodable).
// encoded is not retained.
func (w *Worker) HandleEncodedBlockProposal(ctx context.Context, p *protocol.BlockProposal, encoded []byte) (*protocol.ChainInfo, error) {
	return w.handleProposal(ctx, p, encoded)
}

func (w *Worker) handleProposal(ctx context.Context, p *protocol.BlockProposal, encoded []byte) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "block proposal")
	if w.cfg.Signer == nil {
		return nil, ErrNotValidator
	}
	block := &p.Content.Block
	defer func() {
		if err != nil {
			w.failed(metrics.RequestProposal, block.ChainID, block.Height, err)
			w.cfg.Metrics.ProposalRefused(refusalReason(err))
		} else {
			w.cfg.Metrics.ProposalHandled()
		}
	}()
	if err := p.CheckEncodedInvariantsWith(w.owners, encoded); err != nil {
		return nil, err
	}
	// A bundle on its way here is waited for, without the chain's lock, and the
	// proposal executed again (bundlewait.go).
	var pw proposalWait
	defer pw.stop()
	for {
		var onItsWay bundleKey
		info, err = w.handleProposalOnce(ctx, p, encoded, !pw.done, &onItsWay)
		if !errors.Is(err, errBundleOnItsWay) {
			return info, err
		}
		pw.wait(ctx, w, onItsWay)
	}
}

// handleProposalOnce is one attempt of handleProposal. If mayWait and the block receives
// a bundle whose delivery is under way here, it returns errBundleOnItsWay with nothing
// changed, and the bundle to wait for in onItsWay.
func (w *Worker) handleProposalOnce(ctx context.Context, p *protocol.BlockProposal, encoded []byte, mayWait bool, onItsWay *bundleKey) (info *protocol.ChainInfo, err error) {
	block := &p.Content.Block
	err = w.withEntry(ctx, block.ChainID, func(e *chainEntry) error {
		s := e.state
		if err := w.checkNextBlock(ctx, s, block); err != nil {
			return err
		}
		committee, err := w.committeeFor(ctx, s, block.Epoch)
		if err != nil {
			return err
		}
		if err := w.checkMember(committee, block.ChainID, block.Epoch); err != nil {
			return err
		}
		size := -1
		if encoded != nil {
			size = len(encoded)
		}
		if err := checkProposalSize(p, size, &committee.Policy); err != nil {
			return err
		}
		if p.IsRegularRetry() {
			if err := w.checkLite(p.Original.Regular, committee); err != nil {
				return err
			}
		}
		m, err := s.Manager(ctx)
		if err != nil {
			return err
		}
		decision, err := m.CheckProposal(p)
		if err != nil {
			return err
		}
		if decision == consensus.Skip {
			info, err = w.chainInfo(ctx, s, nil)
			return err
		}
		policy := &committee.Policy
		published, err := w.publishedBlobs(ctx, block, p.Blobs, policy)
		if err != nil {
			return err
		}
		if !p.IsRegularRetry() {
			w.compileAhead(published)
		}
		now := w.cfg.Clock.Now()
		if block.Timestamp > now.Add(w.cfg.GracePeriod) {
			return fmt.Errorf("%w: %s is after local time %s plus the grace period", ErrInvalidTimestamp, block.Timestamp, now)
		}
		var executed *protocol.Block
		var x *chain.Executed
		if p.IsRegularRetry() {
			executed = protocol.NewBlock(*block, *p.Content.Outcome)
		} else {
			// Execute without changing the chain's state (a proposal changes nothing but
			// the consensus state), reading what the state holds in memory; the result
			// is kept for the block's certificate.
			executed, x, err = s.ExecuteDetached(ctx, block, chain.ExecOptions{
				Validating: true,
				Resolver:   &proposalResolver{st: w.cfg.Storage, blobs: published},
				Policy:     policy,
				Now:        now,
				HTTP:       w.cfg.HTTP,
			})
			w.cfg.Metrics.BlockExecuted()
			if err != nil && mayWait {
				if k, ok := w.bundleOnItsWay(ctx, block, err); ok {
					*onItsWay = k
					return errBundleOnItsWay
				}
			}
			if err != nil {
				// A proposal that fails to execute still moves the round forward (it
				// skips multi-leader rounds), so that owners can make progress.
				if m.RecordSignedProposal(p, now) {
					s.SetManager(ctx, m)
					if cerr := w.commit(ctx, s, nil); cerr != nil {
						return cerr
					}
				}
				return err
			}
		}
		if p.Content.Round.IsFast() && usesOracles(executed) {
			return ErrFastBlockUsingOracles
		}
		proposalSize := -1
		if encoded != nil {
			proposalSize = len(encoded)
		}
		if err := checkDecodable(executed, proposalSize); err != nil {
			return err
		}
		vote, err := m.VoteForProposal(p, executed, w.cfg.Signer, now)
		if err != nil {
			return err
		}
		w.cfg.Metrics.VoteSigned(vote.Value.Kind.String())
		if w.debugEnabled() {
			w.log.Debug("voted for a proposal", "chain", block.ChainID.Short(), "height", uint64(block.Height), "round", p.Content.Round.String(), "kind", vote.Value.Kind.String())
		}
		s.SetManager(ctx, m)
		// The proposal's blobs wait in the pending area until a confirmed certificate
		// publishes them; they are never confirmed by a proposal.
		for i := range p.Blobs {
			if err := w.cfg.Storage.PutPendingBlob(ctx, &p.Blobs[i], now); err != nil {
				return err
			}
		}
		// The vote is durable before it leaves this function.
		if err := w.commit(ctx, s, nil); err != nil {
			return err
		}
		if x != nil {
			w.keep(e, x, nil)
		}
		info, err = w.chainInfo(ctx, s, nil)
		return err
	})
	return info, err
}

// checkDecodable refuses a block that its own execution made too costly to decode: a
// certificate for it would be refused by every decoder of network input (which allocates
// at most codec.Budget of the input), so the chain could never be caught up. Honest
// blocks cost at most ~6 bytes of memory per encoded byte, under the budget's 8; the
// shape that can exceed it is an outcome made of thousands of tiny events. Blocks under
// decodeCheckMin always fit the budget's slack and are not re-decoded.
//
// proposalSize is the size of the proposal's canonical bytes when the proposal was
// decoded from them with the default budget (codec.Unmarshal, as every RPC does), or -1.
// Then only the outcome, which execution produced, is decoded (outcomeFits); the whole
// block is encoded and decoded when proposalSize is -1 or that bound does not hold.
// Either decoding is charged exactly as a node decoding the block charges it, but
// builds no block to keep (protocol.DecodesWithin: the values share memory).
func checkDecodable(b *protocol.Block, proposalSize int) error {
	if proposalSize >= 0 {
		if fits, small := outcomeFits(b, proposalSize); small || fits {
			return nil
		}
	}
	// The bytes are only read while decoding (DecodesWithin keeps none of them).
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	b.Encode(w)
	if w.Len() < decodeCheckMin {
		return nil
	}
	var d protocol.Block
	if err := protocol.DecodesWithin(w.Bytes(), codec.Budget(w.Len()), &d); err != nil {
		return base.Invalidf("the executed block (%d bytes) would not decode within the decoding budget: %v", w.Len(), err)
	}
	return nil
}

// outcomeFits reports whether b is under decodeCheckMin (small), or else whether its
// outcome decodes within a budget that proves the whole block decodes within its own
// (fits), for a proposal of proposalSize bytes decoded with the default budget. With P
// and O the sizes of the proposed block and of the outcome, decoding the proposed block
// cost at most 8·proposalSize + slack (it is a part of the proposal, decoded by the
// same code), so an outcome costing at most 8·(O − (proposalSize − P)) keeps the block
// within 8·(P + O) + slack, the budget of its encoding.
func outcomeFits(b *protocol.Block, proposalSize int) (fits, small bool) {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	b.Outcome.Encode(w)
	outcomeSize := w.Len()
	proposedSize := codec.Size(&b.Proposed)
	if proposedSize+outcomeSize < decodeCheckMin {
		return false, true
	}
	room := outcomeSize - (proposalSize - proposedSize)
	if room <= 0 {
		return false, false
	}
	var o protocol.BlockExecutionOutcome
	return protocol.DecodesWithin(w.Bytes(), codec.BudgetFactor*room, &o) == nil, false
}

const decodeCheckMin = 8 << 10

// usesOracles reports whether b consulted an oracle, which the fast round forbids; blob
// reads do not count (execution.IsOracle).
func usesOracles(b *protocol.Block) bool { return execution.UsesOracles(b.Outcome.OracleResponses) }

// checkNextBlock checks that a proposed block extends the chain's tip in its epoch.
func (w *Worker) checkNextBlock(ctx context.Context, s *chain.State, block *protocol.ProposedBlock) error {
	tip, err := s.Tip(ctx)
	if err != nil {
		return err
	}
	if block.Height != tip.NextHeight {
		return fmt.Errorf("%w: chain %s expects height %d, got %d", ErrWrongHeight, block.ChainID.Short(), tip.NextHeight, block.Height)
	}
	if (tip.BlockHash == nil) != (block.PreviousBlockHash == nil) || (tip.BlockHash != nil && *tip.BlockHash != *block.PreviousBlockHash) {
		return base.Invalidf("block at height %d does not extend the chain's last block", block.Height)
	}
	epoch, err := s.Execution().Epoch(ctx)
	if err != nil {
		return err
	}
	if block.Epoch != epoch {
		return base.Invalidf("block epoch %d differs from the chain's epoch %d", block.Epoch, epoch)
	}
	return nil
}

// publishedBlobs checks the blobs a block publishes against the policy and returns those
// that are not confirmed yet, taken from carried (the proposal's) or from the pending
// area. Blobs still missing are recorded as wanted, so that a client may upload them, and
// reported with ErrBlobsNotFound: the caller must have verified the proposal's or the
// certificate's signatures first.
func (w *Worker) publishedBlobs(ctx context.Context, block *protocol.ProposedBlock, carried []protocol.Blob, policy *protocol.ResourcePolicy) ([]protocol.Blob, error) {
	ids := block.PublishedBlobIDs()
	if uint64(len(ids)) > policy.MaxPublishedBlobs {
		return nil, base.Invalidf("block publishes %d blobs, the limit is %d", len(ids), policy.MaxPublishedBlobs)
	}
	byID := make(map[base.BlobID]*protocol.Blob, len(carried))
	for i := range carried {
		id := carried[i].ID()
		if limit := blobLimit(policy, id.Type); uint64(carried[i].Size()) > limit {
			return nil, base.Invalidf("blob %s of %d bytes exceeds the limit of %d", id, carried[i].Size(), limit)
		}
		if !containsBlobID(ids, id) {
			return nil, base.Invalidf("proposal carries blob %s that the block does not publish", id)
		}
		byID[id] = &carried[i]
	}
	var out []protocol.Blob
	var need []base.BlobID
	seen := make(map[base.BlobID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if b, ok := byID[id]; ok {
			out = append(out, *b)
		} else {
			need = append(need, id)
		}
	}
	missing, err := w.cfg.Storage.MissingBlobs(ctx, need)
	if err != nil {
		return nil, err
	}
	now := w.cfg.Clock.Now()
	var absent []base.BlobID
	for _, id := range missing {
		b, err := w.cfg.Storage.PendingBlob(ctx, id, now)
		switch {
		case err == nil:
			out = append(out, b)
		case base.IsNotFound(err):
			absent = append(absent, id)
		default:
			return nil, err
		}
	}
	if len(absent) > 0 {
		for _, id := range absent {
			w.wanted.add(id, blobLimit(policy, id.Type))
		}
		return nil, &BlobsNotFoundError{IDs: absent}
	}
	return out, nil
}

// blobLimit is the policy's size limit for a blob type.
func blobLimit(policy *protocol.ResourcePolicy, t base.BlobType) uint64 {
	if t == base.BlobContractBytecode || t == base.BlobServiceBytecode {
		return policy.MaxBytecodeSize
	}
	return policy.MaxBlobSize
}

func containsBlobID(ids []base.BlobID, id base.BlobID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// proposalResolver reads blobs from the given list (a proposal's blobs, or the pending
// blobs a block publishes), then from the confirmed area and, if pending is set (a
// verified confirmed certificate, or the local node staging its own block), from the
// pending area, remembering what it read there so that the certificate confirms it.
type proposalResolver struct {
	st      *storage.Storage
	blobs   []protocol.Blob
	pending bool
	now     base.Timestamp

	mu          sync.Mutex
	fromPending []protocol.Blob
}

func (r *proposalResolver) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	for i := range r.blobs {
		if r.blobs[i].ID() == id {
			return r.blobs[i], nil
		}
	}
	b, err := r.st.ReadBlob(ctx, id)
	if err == nil || !r.pending || !base.IsNotFound(err) {
		return b, err
	}
	pb, perr := r.st.PendingBlob(ctx, id, r.now)
	if perr != nil {
		if base.IsNotFound(perr) {
			return b, err
		}
		return protocol.Blob{}, perr
	}
	r.mu.Lock()
	r.fromPending = append(r.fromPending, pb)
	r.mu.Unlock()
	return pb, nil
}

// HasBlob makes the resolver an execution.BlobPresence: a confirmed blob is checked
// without reading its content; carried and pending blobs are read as by ReadBlob (a
// pending blob read must be remembered in fromPending).
func (r *proposalResolver) HasBlob(ctx context.Context, id base.BlobID) (bool, error) {
	if len(r.blobs) == 0 {
		has, err := r.st.HasBlob(ctx, id)
		if err != nil || has || !r.pending {
			return has, err
		}
	}
	_, err := r.ReadBlob(ctx, id)
	if base.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// readFromPending returns the pending blobs the execution read.
func (r *proposalResolver) readFromPending() []protocol.Blob {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fromPending
}

func (r *proposalResolver) ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	return r.st.ReadEvent(ctx, id)
}

// wantMissing records the blob a verified certificate's (or the local node's own
// block's) execution reported missing, so that it may be uploaded.
func (w *Worker) wantMissing(err error, policy *protocol.ResourcePolicy) {
	var mb *execution.MissingBlobError
	if errors.As(err, &mb) && mb.ID.Type.Valid() {
		w.wanted.add(mb.ID, blobLimit(policy, mb.ID.Type))
	}
}

var _ execution.Resolver = (*proposalResolver)(nil)

// HandleCertificate processes a validated, confirmed or timeout certificate.
func (w *Worker) HandleCertificate(ctx context.Context, cert *protocol.Certificate) (*protocol.ChainInfo, error) {
	return w.handleCertificate(ctx, cert, nil)
}

// HandleEncodedCertificate is HandleCertificate for a certificate strictly decoded from
// encoded, which is therefore its canonical encoding (codec's guarantee): a confirmed
// certificate is stored as those bytes instead of being encoded again. encoded is not
// retained.
func (w *Worker) HandleEncodedCertificate(ctx context.Context, cert *protocol.Certificate, encoded []byte) (*protocol.ChainInfo, error) {
	return w.handleCertificate(ctx, cert, encoded)
}

func (w *Worker) handleCertificate(ctx context.Context, cert *protocol.Certificate, encoded []byte) (*protocol.ChainInfo, error) {
	return w.handleCertificateBy(ctx, cert, encoded, nil, nil)
}

// handleCertificateBy handles a certificate; verifiedBy is the committee the caller
// verified a confirmed certificate against (HandleVerifiedCertificate), or nil; q, if
// not nil, is the checked query a confirmed certificate's answer also answers
// (HandleCertificateQuery).
func (w *Worker) handleCertificateBy(ctx context.Context, cert *protocol.Certificate, encoded []byte, verifiedBy *protocol.Committee, q *protocol.ChainInfoQuery) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "certificate")
	defer func() {
		if err == nil {
			w.cfg.Metrics.CertificateHandled(cert.Kind.String())
			return
		}
		var cid base.ChainID
		var height base.BlockHeight
		switch {
		case cert.Block != nil:
			cid, height = cert.Block.ChainID(), cert.Block.Height()
		case cert.Timeout != nil:
			cid, height = cert.Timeout.ChainID, cert.Timeout.Height
		}
		w.failed(metrics.RequestCertificate, cid, height, fmt.Errorf("%s certificate: %w", cert.Kind, err))
	}()
	switch cert.Kind {
	case protocol.KindConfirmed:
		return w.handleConfirmed(ctx, cert, encoded, verifiedBy, q)
	case protocol.KindValidated:
		return w.handleValidated(ctx, cert)
	case protocol.KindTimeout:
		return w.handleTimeout(ctx, cert)
	}
	return nil, base.Invalidf("unknown certificate kind %d", cert.Kind)
}

// handleConfirmed executes and stores a confirmed certificate; encoded, if not nil, is
// its canonical encoding; verifiedBy, if not nil, the committee its caller verified it
// against (HandleVerifiedCertificate); q, if not nil, the checked query its answer also
// answers (HandleCertificateQuery).
func (w *Worker) handleConfirmed(ctx context.Context, cert *protocol.Certificate, encoded []byte, verifiedBy *protocol.Committee, q *protocol.ChainInfoQuery) (info *protocol.ChainInfo, err error) {
	block := cert.Block
	// Proposals receiving this block's bundles wait for its handling and delivery
	// (bundlewait.go), once its signatures verified; it ends after the deliveries are
	// queued, or with the handling's failure.
	done, err := w.verifiedInFlight(ctx, cert, verifiedBy)
	if err != nil {
		return nil, err
	}
	if done != nil {
		defer done()
	}
	var recipients []base.ChainID
	err = w.withEntry(ctx, block.ChainID(), func(e *chainEntry) error {
		s := e.state
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		committee, cerr := w.committeeFor(ctx, s, block.Epoch())
		if block.Height() < tip.NextHeight {
			// Already executed: it must be the same block. The signatures are checked
			// first: only a verified conflicting certificate is evidence of a fault.
			// Re-schedule deliveries in case they were lost (restart, unreachable shard).
			h, err := w.cfg.Storage.BlockHash(ctx, block.ChainID(), block.Height())
			if err != nil {
				return err
			}
			switch {
			case cerr == nil:
				if err := w.checkConfirmedCertificate(cert, committee, verifiedBy); err != nil {
					return err
				}
			case h != block.Hash():
				// Its epoch is no longer trusted: it cannot be verified, so it proves
				// nothing.
				return cerr
			}
			if h != block.Hash() {
				w.log.Error("conflicting confirmed certificate", "chain", block.ChainID().String(), "height", uint64(block.Height()))
				return fmt.Errorf("%w: height %d of chain %s", ErrConflictingBlock, block.Height(), block.ChainID().Short())
			}
			if recipients, err = s.NonEmptyOutboxes(ctx); err != nil {
				return err
			}
			info, err = w.chainInfo(ctx, s, q)
			return err
		}
		if block.Height() > tip.NextHeight {
			missing := fmt.Errorf("%w: chain %s is at height %d, certificate is for %d", ErrMissingEarlierBlocks, block.ChainID().Short(), tip.NextHeight, block.Height())
			if cerr != nil {
				return missing
			}
			if err := w.checkConfirmedCertificate(cert, committee, verifiedBy); err != nil {
				return err
			}
			if err := w.preprocess(ctx, cert, &committee.Policy); err != nil {
				return err
			}
			return missing
		}
		if cerr != nil {
			return cerr
		}
		if err := w.checkConfirmedCertificate(cert, committee, verifiedBy); err != nil {
			return err
		}
		if prev := block.Proposed.PreviousBlockHash; (tip.BlockHash == nil) != (prev == nil) || (prev != nil && *prev != *tip.BlockHash) {
			return base.Invalidf("confirmed block %d of chain %s does not extend the chain's last block", block.Height(), block.ChainID().Short())
		}
		published, err := w.publishedBlobs(ctx, &block.Proposed, nil, &committee.Policy)
		if err != nil {
			return err
		}
		now := w.cfg.Clock.Now()
		// The block this node executed when it voted for it (or staged it), on this
		// very tip, is applied as it executed: its outcome is the certified one by
		// construction (the certificate's block hash, which commits to the outcome, is
		// the hash of what was executed), so there is nothing to compare.
		reused, fromPending, err := w.applyKept(ctx, e, s, block)
		if err != nil {
			return fmt.Errorf("execute confirmed block %d of chain %s: %w", block.Height(), block.ChainID().Short(), err)
		}
		if !reused {
			w.compileAhead(published)
			resolver := &proposalResolver{st: w.cfg.Storage, blobs: published, pending: true, now: now}
			executed, err := s.ExecuteBlock(ctx, &block.Proposed, chain.ExecOptions{
				Replay:   &block.Outcome,
				Resolver: resolver,
				Policy:   &committee.Policy,
				Now:      now,
			})
			if err != nil {
				w.wantMissing(err, &committee.Policy)
				return fmt.Errorf("execute confirmed block %d of chain %s: %w", block.Height(), block.ChainID().Short(), err)
			}
			if executed.Hash() != block.Hash() {
				w.log.Error("confirmed block re-executed to a different outcome", "chain", block.ChainID().String(), "height", uint64(block.Height()))
				return fmt.Errorf("%w: block %d of chain %s", ErrOutcomeMismatch, block.Height(), block.ChainID().Short())
			}
			fromPending = resolver.readFromPending()
		}
		if err := s.ApplyConfirmed(ctx, block, now); err != nil {
			return err
		}
		recipients = block.Recipients()
		published = append(published, fromPending...)
		put, del := e.deliveryRecords(recipients)
		// Lazily (docs/adr/0005): the votes are the synced writes. A crash loses a suffix
		// of the log, so this block, if lost, goes with everything after it (its
		// receipts, later votes); the validator then lags and is sent it again.
		if err := w.commitLazy(ctx, s, func(b *kvBatch) {
			storage.ConfirmBlobs(b, published)
			storage.PutEncodedCertificate(b, cert, encoded)
			for _, r := range put {
				storage.PutPendingDelivery(b, block.ChainID(), r)
			}
			for _, r := range del {
				storage.DeletePendingDelivery(b, block.ChainID(), r)
			}
		}); err != nil {
			return err
		}
		e.recordsWritten(recipients, del)
		w.held.drop(block.ChainID(), block.Height())
		w.cfg.Storage.ForgetPending(published)
		if len(recipients) > 0 {
			w.recent.put(cert)
		}
		w.cfg.Metrics.BlockCommitted(len(block.Proposed.Transactions))
		if w.debugEnabled() {
			w.log.Debug("block committed", "chain", block.ChainID().Short(), "height", uint64(block.Height()), "hash", block.Hash().Short(),
				"transactions", len(block.Proposed.Transactions), "round", cert.Round.String())
		}
		info, err = w.chainInfo(ctx, s, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.enqueue(block.ChainID(), recipients)
	w.notify(protocol.Notification{ChainID: block.ChainID(), Kind: protocol.ReasonNewBlock, Height: block.Height(), Hash: block.Hash()})
	w.notifyEvents(block)
	return info, nil
}

// preprocess stores what a verified confirmed certificate ahead of the chain's tip
// creates (child chain descriptions, committees), so that the chains it opens can be
// learnt without executing the whole parent, and marks the blobs it publishes as wanted
// so that a client may upload them along with the earlier blocks.
func (w *Worker) preprocess(ctx context.Context, cert *protocol.Certificate, policy *protocol.ResourcePolicy) error {
	var b kvBatch
	for _, blob := range cert.Block.CreatedBlobs() {
		storage.PutBlob(&b, &blob)
	}
	if err := w.cfg.Storage.Write(ctx, &b); err != nil {
		return err
	}
	_, err := w.publishedBlobs(ctx, &cert.Block.Proposed, nil, policy)
	if err != nil && !errors.Is(err, ErrBlobsNotFound) {
		return err
	}
	return nil
}

func (w *Worker) handleValidated(ctx context.Context, cert *protocol.Certificate) (info *protocol.ChainInfo, err error) {
	if w.cfg.Signer == nil {
		return nil, ErrNotValidator
	}
	block := cert.Block
	err = w.withChain(ctx, block.ChainID(), func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		if block.Height() < tip.NextHeight {
			info, err = w.chainInfo(ctx, s, nil)
			return err
		}
		if err := w.checkNextBlock(ctx, s, &block.Proposed); err != nil {
			return err
		}
		committee, err := w.committeeFor(ctx, s, block.Epoch())
		if err != nil {
			return err
		}
		if err := w.checkCertificate(cert, committee); err != nil {
			return err
		}
		if err := w.checkMember(committee, block.ChainID(), block.Epoch()); err != nil {
			return err
		}
		m, err := s.Manager(ctx)
		if err != nil {
			return err
		}
		decision, err := m.CheckValidatedCertificate(cert)
		if err != nil {
			return err
		}
		if decision == consensus.Skip {
			info, err = w.chainInfo(ctx, s, nil)
			return err
		}
		if _, err := w.publishedBlobs(ctx, &block.Proposed, nil, &committee.Policy); err != nil {
			return err
		}
		vote, err := m.VoteForValidated(cert, w.cfg.Signer, w.cfg.Clock.Now())
		if err != nil {
			return err
		}
		if vote != nil {
			w.cfg.Metrics.VoteSigned(vote.Value.Kind.String())
		}
		s.SetManager(ctx, m)
		if err := w.commit(ctx, s, nil); err != nil {
			return err
		}
		info, err = w.chainInfo(ctx, s, nil)
		return err
	})
	return info, err
}

func (w *Worker) handleTimeout(ctx context.Context, cert *protocol.Certificate) (info *protocol.ChainInfo, err error) {
	t := cert.Timeout
	var round base.Round
	changed := false
	err = w.withChain(ctx, t.ChainID, func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		if t.Height != tip.NextHeight {
			info, err = w.chainInfo(ctx, s, nil)
			return err
		}
		epoch, err := s.Execution().Epoch(ctx)
		if err != nil {
			return err
		}
		if t.Epoch != epoch {
			return fmt.Errorf("%w: timeout for epoch %d, chain %s is in epoch %d", ErrWrongEpoch, t.Epoch, t.ChainID.Short(), epoch)
		}
		committee, err := w.committeeFor(ctx, s, t.Epoch)
		if err != nil {
			return err
		}
		if err := w.checkCertificate(cert, committee); err != nil {
			return err
		}
		m, err := s.Manager(ctx)
		if err != nil {
			return err
		}
		if changed, err = m.HandleTimeoutCertificate(cert, w.cfg.Clock.Now()); err != nil {
			return err
		}
		round = m.CurrentRound()
		if changed {
			s.SetManager(ctx, m)
			if err := w.commit(ctx, s, nil); err != nil {
				return err
			}
		}
		info, err = w.chainInfo(ctx, s, nil)
		return err
	})
	if err == nil && changed {
		w.notify(protocol.Notification{ChainID: t.ChainID, Kind: protocol.ReasonNewRound, Height: t.Height, Round: round})
	}
	return info, err
}

// HandleChainInfoQuery answers a query about a chain, signing a timeout vote if asked and
// due.
func (w *Worker) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "chain info query")
	defer func() {
		if err != nil {
			w.failed(metrics.RequestChainInfo, q.ChainID, 0, err)
		}
	}()
	// A query reads, and writes nothing even for a chain not initialized yet
	// (withChainRead). One that asks for a timeout vote loads the chain to write: the
	// vote is durable before it leaves, and the round's timer runs from when the chain
	// was first persisted (an initial state in memory would start it anew at each
	// query, and a round 0 that needs a timeout would never get one).
	with := w.withChainRead
	if q.RequestLeaderTimeout != nil {
		with = w.withChain
	}
	err = with(ctx, q.ChainID, func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		if q.TestNextBlockHeight != nil && *q.TestNextBlockHeight != tip.NextHeight {
			return fmt.Errorf("%w: chain %s is at height %d, not %d", ErrWrongHeight, q.ChainID.Short(), tip.NextHeight, *q.TestNextBlockHeight)
		}
		if t := q.RequestLeaderTimeout; t != nil && w.cfg.Signer != nil && t.Height == tip.NextHeight {
			m, err := s.Manager(ctx)
			if err != nil {
				return err
			}
			epoch, err := s.Execution().Epoch(ctx)
			if err != nil {
				return err
			}
			committee, err := w.committeeFor(ctx, s, epoch)
			if err != nil {
				return err
			}
			if err := w.checkMember(committee, q.ChainID, epoch); err != nil {
				return err
			}
			had := m.Info(false).TimeoutVote
			v, err := m.VoteTimeout(q.ChainID, epoch, t.Round, w.cfg.Signer, w.cfg.Clock.Now())
			if err != nil {
				return err
			}
			if v != nil && (had == nil || *had != *v) {
				w.cfg.Metrics.VoteSigned(metrics.KindTimeout)
				s.SetManager(ctx, m)
				if err := w.commit(ctx, s, nil); err != nil {
					return err
				}
			}
		}
		info, err = w.chainInfo(ctx, s, q)
		return err
	})
	return info, err
}

// chainInfo builds the answer about a chain; q may be nil.
func (w *Worker) chainInfo(ctx context.Context, s *chain.State, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	tip, err := s.Tip(ctx)
	if err != nil {
		return nil, err
	}
	ex := s.Execution()
	epoch, err := ex.Epoch(ctx)
	if err != nil {
		return nil, err
	}
	balance, err := ex.ChainBalance(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.Manager(ctx)
	if err != nil {
		return nil, err
	}
	info := &protocol.ChainInfo{
		ChainID:         s.ChainID(),
		Epoch:           epoch,
		NextBlockHeight: tip.NextHeight,
		BlockHash:       tip.BlockHash,
		Timestamp:       tip.Timestamp,
		StateHash:       tip.StateHash,
		ChainBalance:    balance,
		Manager:         m.Info(q != nil && q.RequestManagerValues),
	}
	if q == nil {
		return info, nil
	}
	if q.RequestOwnerBalance != nil {
		b, err := ex.OwnerBalance(ctx, *q.RequestOwnerBalance)
		if err != nil {
			return nil, err
		}
		info.RequestedOwnerBalance = &b
	}
	if q.RequestPendingBundles {
		if err := w.pendingBundles(ctx, s, info); err != nil {
			return nil, err
		}
	}
	if q.RequestReceivedLogFrom != nil {
		if info.RequestedReceivedLog, info.ReceivedLogLength, err = s.ReceivedLog(ctx, *q.RequestReceivedLogFrom, 1000); err != nil {
			return nil, err
		}
	}
	return info, nil
}

// maxPendingBundles bounds the bundles one chain-info answer lists.
const maxPendingBundles = protocol.MaxListedPendingBundles

// committeeFor returns the committee of an epoch the chain trusts.
func (w *Worker) committeeFor(ctx context.Context, s *chain.State, epoch base.Epoch) (*protocol.Committee, error) {
	ecs, err := s.Committees(ctx)
	if err != nil {
		return nil, err
	}
	for _, ec := range ecs {
		if ec.Epoch == epoch {
			return w.committee(ctx, ec.CommitteeHash)
		}
	}
	return nil, fmt.Errorf("%w: chain %s does not trust epoch %d (unknown or revoked)", ErrUntrustedEpoch, s.ChainID().Short(), epoch)
}

func (w *Worker) committee(ctx context.Context, hash base.Hash) (*protocol.Committee, error) {
	if c := w.committees.get(hash); c != nil {
		return c, nil
	}
	blob, err := w.cfg.Storage.Blob(ctx, base.BlobID{Type: base.BlobCommittee, Hash: hash})
	if err != nil {
		return nil, fmt.Errorf("committee %s: %w", hash.Short(), err)
	}
	var c protocol.Committee
	if err := decodeStrict(blob.Content, &c); err != nil {
		return nil, base.Corruptf("committee blob %s: %v", hash.Short(), err)
	}
	w.committees.put(hash, &c)
	return &c, nil
}

// checkCertificate verifies a certificate once per process: a certificate already
// verified against the same committee is not verified again.
func (w *Worker) checkCertificate(cert *protocol.Certificate, committee *protocol.Committee) error {
	lite := cert.Lite()
	return w.checkLite(&lite, committee)
}

func (w *Worker) checkLite(lite *protocol.LiteCertificate, committee *protocol.Committee) error {
	key := verifiedKey(lite, committee)
	if w.verified.Has(key) {
		return nil
	}
	if err := lite.CheckWith(w.keys, committee); err != nil {
		return err
	}
	w.verified.Add(key)
	return nil
}
