package worker

import (
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
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
)

// HandleBlockProposal checks a proposal, executes its block, and answers with the
// chain's info carrying this validator's vote.
func (w *Worker) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "block proposal")
	if w.cfg.Signer == nil {
		return nil, ErrNotValidator
	}
	if err := p.CheckInvariants(); err != nil {
		return nil, err
	}
	block := &p.Content.Block
	err = w.withChain(ctx, block.ChainID, func(s *chain.State) error {
		if err := w.checkNextBlock(ctx, s, block); err != nil {
			return err
		}
		committee, err := w.committeeFor(ctx, s, block.Epoch)
		if err != nil {
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
		if err := w.checkPublishedBlobs(ctx, block, p.Blobs, policy); err != nil {
			return err
		}
		now := w.cfg.Clock.Now()
		if block.Timestamp > now.Add(w.cfg.GracePeriod) {
			return fmt.Errorf("%w: %s is after local time %s plus the grace period", ErrInvalidTimestamp, block.Timestamp, now)
		}
		var executed *protocol.Block
		if p.IsRegularRetry() {
			executed = protocol.NewBlock(*block, *p.Content.Outcome)
		} else {
			// Execute on a scratch copy of the state: a proposal changes nothing but the
			// consensus state.
			scratch := w.loadState(block.ChainID)
			executed, err = scratch.ExecuteBlock(ctx, block, chain.ExecOptions{
				Validating: true,
				Resolver:   &proposalResolver{st: w.cfg.Storage, blobs: p.Blobs},
				Policy:     policy,
				Now:        now,
			})
			if err != nil {
				// A proposal that fails to execute still moves the round forward (it
				// skips multi-leader rounds), so that owners can make progress.
				if m.RecordSignedProposal(p, now) {
					s.SetManager(m)
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
		if _, err := m.VoteForProposal(p, executed, w.cfg.Signer, now); err != nil {
			return err
		}
		s.SetManager(m)
		// The vote is durable before it leaves this function.
		if err := w.commit(ctx, s, func(b *kvBatch) {
			for i := range p.Blobs {
				storage.PutBlob(b, &p.Blobs[i])
			}
		}); err != nil {
			return err
		}
		info, err = w.chainInfo(ctx, s, nil)
		return err
	})
	return info, err
}

func usesOracles(b *protocol.Block) bool {
	for _, rs := range b.Outcome.OracleResponses {
		if len(rs) > 0 {
			return true
		}
	}
	return false
}

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

// checkPublishedBlobs checks that the blobs a block publishes are in the proposal or
// already stored, and within the policy's limits.
func (w *Worker) checkPublishedBlobs(ctx context.Context, block *protocol.ProposedBlock, blobs []protocol.Blob, policy *protocol.ResourcePolicy) error {
	ids := block.PublishedBlobIDs()
	if uint64(len(ids)) > policy.MaxPublishedBlobs {
		return base.Invalidf("block publishes %d blobs, the limit is %d", len(ids), policy.MaxPublishedBlobs)
	}
	carried := make(map[base.BlobID]bool, len(blobs))
	for i := range blobs {
		if uint64(blobs[i].Size()) > policy.MaxBlobSize {
			return base.Invalidf("blob of %d bytes exceeds the limit of %d", blobs[i].Size(), policy.MaxBlobSize)
		}
		carried[blobs[i].ID()] = true
	}
	var need []base.BlobID
	for _, id := range ids {
		if !carried[id] {
			need = append(need, id)
		}
	}
	for id := range carried {
		if !containsBlobID(ids, id) {
			return base.Invalidf("proposal carries blob %s that the block does not publish", id)
		}
	}
	missing, err := w.cfg.Storage.MissingBlobs(ctx, need)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v", ErrBlobsNotFound, missing)
	}
	return nil
}

func containsBlobID(ids []base.BlobID, id base.BlobID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// proposalResolver reads blobs from storage or from the proposal being validated.
type proposalResolver struct {
	st    *storage.Storage
	blobs []protocol.Blob
}

func (r *proposalResolver) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	for i := range r.blobs {
		if r.blobs[i].ID() == id {
			return r.blobs[i], nil
		}
	}
	return r.st.ReadBlob(ctx, id)
}

func (r *proposalResolver) ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	return r.st.ReadEvent(ctx, id)
}

var _ execution.Resolver = (*proposalResolver)(nil)

// HandleCertificate processes a validated, confirmed or timeout certificate.
func (w *Worker) HandleCertificate(ctx context.Context, cert *protocol.Certificate) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "certificate")
	switch cert.Kind {
	case protocol.KindConfirmed:
		return w.handleConfirmed(ctx, cert)
	case protocol.KindValidated:
		return w.handleValidated(ctx, cert)
	case protocol.KindTimeout:
		return w.handleTimeout(ctx, cert)
	}
	return nil, base.Invalidf("unknown certificate kind %d", cert.Kind)
}

func (w *Worker) handleConfirmed(ctx context.Context, cert *protocol.Certificate) (info *protocol.ChainInfo, err error) {
	block := cert.Block
	var recipients []base.ChainID
	err = w.withChain(ctx, block.ChainID(), func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		if block.Height() < tip.NextHeight {
			// Already executed: it must be the same block. Re-schedule deliveries in case
			// they were lost (restart, unreachable shard).
			h, err := w.cfg.Storage.BlockHash(ctx, block.ChainID(), block.Height())
			if err != nil {
				return err
			}
			if h != block.Hash() {
				w.log.Error("conflicting confirmed certificate", "chain", block.ChainID().String(), "height", uint64(block.Height()))
				return fmt.Errorf("%w: height %d of chain %s", ErrConflictingBlock, block.Height(), block.ChainID().Short())
			}
			if recipients, err = s.NonEmptyOutboxes(ctx); err != nil {
				return err
			}
			info, err = w.chainInfo(ctx, s, nil)
			return err
		}
		if block.Height() > tip.NextHeight {
			return fmt.Errorf("%w: chain %s is at height %d, certificate is for %d", ErrMissingEarlierBlocks, block.ChainID().Short(), tip.NextHeight, block.Height())
		}
		committee, err := w.committeeFor(ctx, s, block.Epoch())
		if err != nil {
			return err
		}
		if err := w.checkCertificate(cert, committee); err != nil {
			return err
		}
		if err := w.checkPublishedBlobs(ctx, &block.Proposed, nil, &committee.Policy); err != nil {
			return err
		}
		now := w.cfg.Clock.Now()
		executed, err := s.ExecuteBlock(ctx, &block.Proposed, chain.ExecOptions{
			Replay:   &block.Outcome,
			Resolver: w.cfg.Storage,
			Policy:   &committee.Policy,
			Now:      now,
		})
		if err != nil {
			return fmt.Errorf("execute confirmed block %d of chain %s: %w", block.Height(), block.ChainID().Short(), err)
		}
		if executed.Hash() != block.Hash() {
			w.log.Error("confirmed block re-executed to a different outcome", "chain", block.ChainID().String(), "height", uint64(block.Height()))
			return fmt.Errorf("%w: block %d of chain %s", ErrOutcomeMismatch, block.Height(), block.ChainID().Short())
		}
		if err := s.ApplyConfirmed(ctx, block, now); err != nil {
			return err
		}
		recipients = block.Recipients()
		if err := w.commit(ctx, s, func(b *kvBatch) {
			storage.PutCertificate(b, cert)
			for _, r := range recipients {
				storage.PutPendingDelivery(b, block.ChainID(), r)
			}
		}); err != nil {
			return err
		}
		info, err = w.chainInfo(ctx, s, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.enqueue(block.ChainID(), recipients)
	w.notify(protocol.Notification{ChainID: block.ChainID(), Kind: protocol.ReasonNewBlock, Height: block.Height(), Hash: block.Hash()})
	return info, nil
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
		if err := w.checkPublishedBlobs(ctx, &block.Proposed, nil, &committee.Policy); err != nil {
			return err
		}
		if _, err := m.VoteForValidated(cert, w.cfg.Signer, w.cfg.Clock.Now()); err != nil {
			return err
		}
		s.SetManager(m)
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
			s.SetManager(m)
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
	err = w.withChain(ctx, q.ChainID, func(s *chain.State) error {
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
			had := m.Info(false).TimeoutVote
			v, err := m.VoteTimeout(q.ChainID, epoch, t.Round, w.cfg.Signer, w.cfg.Clock.Now())
			if err != nil {
				return err
			}
			if v != nil && (had == nil || *had != *v) {
				s.SetManager(m)
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
		if info.RequestedPendingBundles, err = s.PendingBundles(ctx); err != nil {
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

// committeeFor returns the committee of an epoch the chain trusts.
func (w *Worker) committeeFor(ctx context.Context, s *chain.State, epoch base.Epoch) (*protocol.Committee, error) {
	ecs, err := s.Execution().Committees(ctx)
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
	if w.verified.has(key) {
		return nil
	}
	if err := lite.Check(committee); err != nil {
		return err
	}
	w.verified.add(key)
	return nil
}
