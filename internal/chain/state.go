package chain

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// Tip is the chain's position: the last block and the next height.
type Tip struct {
	BlockHash  *base.Hash
	NextHeight base.BlockHeight
	Timestamp  base.Timestamp
	// StateHash is the execution state hash after the last block (or the initial state).
	StateHash base.Hash
}

func (t *Tip) Encode(w *codec.Writer) {
	w.OptionTag(t.BlockHash != nil)
	if t.BlockHash != nil {
		w.Hash(*t.BlockHash)
	}
	w.U64(uint64(t.NextHeight))
	w.U64(uint64(t.Timestamp))
	w.Hash(t.StateHash)
}

func (t *Tip) Decode(r *codec.Reader) {
	t.BlockHash = nil
	if r.OptionTag() {
		h := r.Hash()
		t.BlockHash = &h
	}
	t.NextHeight = base.BlockHeight(r.U64())
	t.Timestamp = base.Timestamp(r.U64())
	t.StateHash = r.Hash()
}

// Sub-view tags under the chain prefix.
const (
	tagExecution byte = iota + 1
	tagTip
	tagManager
	tagInboxesV1  // retired: one whole Inbox value per origin, rewritten on every change
	tagOutboxesV1 // retired: one whole Outbox value per recipient, rewritten on every change
	tagReceivedLog
	tagInitialized
	tagOutboxes
	tagOutboxQueues
	tagInboxes
	tagInboxQueues
)

// Sub-view tags of an origin's inbox queues.
const (
	tagInboxAdded   byte = iota + 1 // one entry per bundle: the layout before groups, only drained
	tagInboxRemoved                 // bundles taken in anticipation, one entry per bundle
	tagInboxGroups                  // delivered bundles, one entry per sending block (bundleGroup)
)

// State is a chain's state.
type State struct {
	id          base.ChainID
	exec        *execution.State
	initialized *views.Register[bool]
	tip         *views.Register[Tip]
	manager     *views.Register[storedManager]
	received    *views.Log[protocol.ChainAndHeight]

	// outboxes maps every recipient with undelivered heights to the last height scheduled
	// for it; its heights are in the queue outboxQueue(recipient), one entry per height, so
	// scheduling or delivering a height writes O(1) keys whatever the outbox's length.
	outboxes      *views.Map[base.ChainID, base.BlockHeight]
	outboxQueueVC views.Context
	outboxQueues  map[base.ChainID]*views.Queue[base.BlockHeight]

	// inboxes maps every origin that delivered or was received from to its inbox's
	// cursors; the inbox's bundles are in the queues inboxQueuesOf(origin), one entry
	// per sending block (bundleGroup), so delivering or receiving bundles writes O(1)
	// keys per sending block, and a block taking some of an entry's bundles none (the
	// NextToRemove cursor says which are taken).
	inboxes      *views.Map[base.ChainID, inboxCursors]
	inboxQueueVC views.Context
	inboxQueues  map[base.ChainID]*inboxQueues

	mgr *consensus.Manager // decoded manager, staged by SetManager
	// execBatch holds the execution state's writes emitted to compute the state hash:
	// those of Initialize (already flushed) and, while execEmitted, those of the
	// changes staged on exec by ExecuteBlock or ApplyExecuted, which Flush commits
	// without emitting them again. Invariant: while execEmitted, nothing else is
	// staged on exec.
	execBatch   kv.Batch
	execEmitted bool

	// committees caches the execution state's trusted committees (read on every
	// proposal and certificate). Invariant: nil, or what exec.Committees returns;
	// dropped whenever the execution state may change (Initialize, ExecuteBlock).
	committees []protocol.EpochCommittee

	// certs, if set, reads the confirmed certificates on the store holding this state:
	// delivered bundles whose certificate it holds are queued as references to it
	// (UseCertificates).
	certs CertificateReader
}

// CertificateReader reads the confirmed certificates on the store that holds a chain's
// state. Certificates are never removed from a store, so one found there once is there
// for good.
type CertificateReader interface {
	// HasCertificate reports whether the store holds the confirmed certificate of
	// origin's block at height, whose hash is hash.
	HasCertificate(ctx context.Context, origin base.ChainID, height base.BlockHeight, hash base.Hash) (bool, error)
	// Certificate returns that certificate, or an error of class base.ErrNotFound.
	Certificate(ctx context.Context, origin base.ChainID, height base.BlockHeight, hash base.Hash) (*protocol.Certificate, error)
}

// UseCertificates makes the state queue a delivered bundle whose certificate r holds as
// a reference to it (the bundle's header, 52 bytes), rather than the bundle's bytes,
// and read such references back from r. Without it every bundle is stored whole; a
// state holding references needs r to read them (an inbox written with r and read
// without it reports corruption). r must read the store this state is on.
func (s *State) UseCertificates(r CertificateReader) { s.certs = r }

// Load returns the chain's state over ctx; nothing is read until a method needs it.
// opts configure the execution state (the application loader).
func Load(id base.ChainID, ctx views.Context, opts ...execution.Option) *State {
	return &State{
		id:          id,
		exec:        execution.NewState(ctx.Sub(tagExecution), opts...),
		initialized: views.NewRegister(ctx.Sub(tagInitialized), views.Codec[bool](views.BoolCodec{}), false),
		tip:         views.NewRegister(ctx.Sub(tagTip), views.CanonicalCodec[Tip](), Tip{}),
		manager:     views.NewRegister(ctx.Sub(tagManager), views.Codec[storedManager](managerCodec{}), nil),
		received:    views.NewLog(ctx.Sub(tagReceivedLog), views.CanonicalCodec[protocol.ChainAndHeight]()),

		outboxes:      views.NewMap(ctx.Sub(tagOutboxes), chainIDKey, heightCodec),
		outboxQueueVC: ctx.Sub(tagOutboxQueues),
		inboxes:       views.NewMap(ctx.Sub(tagInboxes), chainIDKey, views.CanonicalCodec[inboxCursors]()),
		inboxQueueVC:  ctx.Sub(tagInboxQueues),
	}
}

var (
	chainIDKey  = views.KeyCodec[base.ChainID](views.Hash32Key[base.ChainID]{})
	heightCodec = views.Codec[base.BlockHeight](views.FuncCodec[base.BlockHeight]{
		EncodeFunc: func(w *codec.Writer, h base.BlockHeight) { w.U64(uint64(h)) },
		DecodeFunc: func(r *codec.Reader) base.BlockHeight { return base.BlockHeight(r.U64()) },
	})
)

// inboxQueues holds the bundles of one origin's inbox: Inbox.Added (the groups, after
// the entries of the layout before them) and Inbox.Removed (one entry per bundle), as
// queues resolving references for the inbox rules (made once: an interface value made
// per call would allocate).
type inboxQueues struct {
	added   *groupedQueue
	removed *resolvingQueue
}

// inbox returns origin's inbox rules over cur and origin's queues.
func (s *State) inbox(origin base.ChainID, cur *inboxCursors) inboxOps {
	q := s.inboxQueuesOf(origin)
	q.added.floor = cur.NextToRemove
	q.added.noLegacy = cur.Layout == inboxLayoutGroups
	return inboxOps{cur: cur, added: q.added, removed: q.removed}
}

// resolvingQueue is an inbox queue of one entry per bundle whose Front resolves
// references (with memo).
type resolvingQueue struct {
	*views.Queue[queuedBundle]
	s      *State
	origin base.ChainID
	memo   *certMemo
}

func (q *resolvingQueue) Front(ctx context.Context) (queuedBundle, bool, error) {
	v, ok, err := q.Queue.Front(ctx)
	if err != nil || !ok {
		return v, ok, err
	}
	return v, true, q.s.resolve(ctx, q.origin, &v, q.memo)
}

// inboxQueuesOf returns origin's inbox queues.
func (s *State) inboxQueuesOf(origin base.ChainID) *inboxQueues {
	q, ok := s.inboxQueues[origin]
	if !ok {
		if s.inboxQueues == nil {
			s.inboxQueues = map[base.ChainID]*inboxQueues{}
		}
		vc := views.SubKey(s.inboxQueueVC, chainIDKey, origin)
		c := views.Codec[queuedBundle](queuedBundleCodec{})
		added := &groupedQueue{s: s, origin: origin, groups: views.NewQueue(vc.Sub(tagInboxGroups), views.Codec[bundleGroup](groupCodec{}))}
		added.legacy = &resolvingQueue{views.NewQueue(vc.Sub(tagInboxAdded), c), s, origin, &added.certs}
		q = &inboxQueues{added: added, removed: &resolvingQueue{views.NewQueue(vc.Sub(tagInboxRemoved), c), s, origin, &added.certs}}
		s.inboxQueues[origin] = q
	}
	return q
}

// outboxQueue returns the queue of undelivered heights for recipient (strictly increasing).
func (s *State) outboxQueue(recipient base.ChainID) *views.Queue[base.BlockHeight] {
	if q, ok := s.outboxQueues[recipient]; ok {
		return q
	}
	if s.outboxQueues == nil {
		s.outboxQueues = map[base.ChainID]*views.Queue[base.BlockHeight]{}
	}
	q := views.NewQueue(views.SubKey(s.outboxQueueVC, chainIDKey, recipient), heightCodec)
	s.outboxQueues[recipient] = q
	return q
}

// ChainID returns the chain's id.
func (s *State) ChainID() base.ChainID { return s.id }

// Execution returns the execution state (balances, ownership, committees...).
func (s *State) Execution() *execution.State { return s.exec }

// IsInitialized reports whether the chain exists in this store.
func (s *State) IsInitialized(ctx context.Context) (bool, error) { return s.initialized.Get(ctx) }

// Initialize stages the initial state of a chain from its description.
func (s *State) Initialize(ctx context.Context, desc *protocol.ChainDescription, now base.Timestamp) error {
	if desc.ID() != s.id {
		return base.Invalidf("description does not match chain %s", s.id.Short())
	}
	s.committees = nil
	if err := s.exec.Initialize(desc); err != nil {
		return err
	}
	s.exec.Flush(&s.execBatch)
	s.initialized.Set(true)
	s.tip.Set(Tip{NextHeight: 0, Timestamp: desc.Timestamp, StateHash: execution.StateHash(base.Hash{}, &s.execBatch)})
	ownership := desc.Config.Ownership
	s.SetManager(ctx, consensus.NewManager(ownership, 0, now))
	return nil
}

// Committees returns the committees the chain trusts, by epoch (the execution state's,
// cached until the next block is executed). The caller must not modify the slice.
func (s *State) Committees(ctx context.Context) ([]protocol.EpochCommittee, error) {
	if s.committees != nil {
		return s.committees, nil
	}
	ecs, err := s.exec.Committees(ctx)
	if err != nil {
		return nil, err
	}
	if ecs == nil {
		ecs = []protocol.EpochCommittee{}
	}
	s.committees = ecs
	return ecs, nil
}

// Tip returns the chain's tip.
func (s *State) Tip(ctx context.Context) (Tip, error) { return s.tip.Get(ctx) }

// Manager returns the consensus state of the current height. The returned manager may be
// mutated; SetManager stages it for the next Flush.
func (s *State) Manager(ctx context.Context) (*consensus.Manager, error) {
	if s.mgr != nil {
		return s.mgr, nil
	}
	stored, err := s.manager.Get(ctx)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, base.Corruptf("chain %s has no consensus state", s.id.Short())
	}
	b, err := stored.manager()
	if err != nil {
		return nil, base.Corruptf("consensus state of chain %s: %v", s.id.Short(), err)
	}
	rb := s.bundlesFor(ctx)
	m, err := consensus.DecodeStored(b, rb.register())
	if err != nil {
		if rb != nil && rb.err != nil {
			return nil, fmt.Errorf("consensus state of chain %s: %w", s.id.Short(), rb.err)
		}
		return nil, base.Corruptf("consensus state of chain %s: %v", s.id.Short(), err)
	}
	s.mgr = m
	return m, nil
}

// SetManager stages the consensus state. The proposal's received bundles that the
// store holds in their senders' certificates are stored as references to them
// (registerBundles); ctx is for reading those certificates.
func (s *State) SetManager(ctx context.Context, m *consensus.Manager) {
	s.mgr = m
	s.manager.Set(encodeManager(m, s.bundlesFor(ctx).register()))
}

// storedManager is the consensus register's stored value: the manager's canonical bytes
// with their ULEB128 length first (the layout of a views.BytesCodec value), made once
// by encodeManager and stored as they are.
type storedManager []byte

// encodeManager encodes m into its stored value: one encoding into a pooled writer and
// one copy into a buffer of the exact size (the manager holds the proposal voted on:
// tens of KB at 100 transfers per block).
func encodeManager(m *consensus.Manager, bundles consensus.Bundles) storedManager {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	m.EncodeStored(w, bundles)
	n := w.Len()
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+n), uint64(n))
	return append(out, w.Bytes()...)
}

// manager returns the manager's canonical bytes (a part of v): the ULEB128 length,
// minimal, must be that of the rest.
func (v storedManager) manager() ([]byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n != uint64(len(v)-k) {
		return nil, fmt.Errorf("stored value of %d bytes is not one length-prefixed encoding", len(v))
	}
	return v[k:], nil
}

// managerCodec stores a storedManager as it is; decoding keeps the stored bytes
// (storedManager.manager checks them).
type managerCodec struct{}

func (managerCodec) Encode(w *codec.Writer, v storedManager) { w.Fixed(v) }
func (managerCodec) Encoded(v storedManager) []byte          { return v }
func (managerCodec) Decode(r *codec.Reader) storedManager {
	return storedManager(r.Fixed(r.Remaining()))
}

// HasPendingChanges reports whether the State holds staged changes (Flush would append
// anything).
func (s *State) HasPendingChanges() bool {
	if !s.execBatch.Empty() || s.exec.HasPendingChanges() {
		return true
	}
	if s.initialized.HasPendingChanges() || s.tip.HasPendingChanges() || s.manager.HasPendingChanges() ||
		s.received.HasPendingChanges() || s.outboxes.HasPendingChanges() || s.inboxes.HasPendingChanges() {
		return true
	}
	for _, q := range s.outboxQueues {
		if q.HasPendingChanges() {
			return true
		}
	}
	for _, q := range s.inboxQueues {
		if q.added.hasPendingChanges() || q.removed.HasPendingChanges() {
			return true
		}
	}
	return false
}

// Reusable prepares the State for the next request after one that failed, and reports
// whether it may be used: true when nothing is staged, so that the State reads as its
// stored form (every view caches only stored values besides what it stages). The
// decoded consensus manager is dropped, since Manager hands it out mutable and the
// failed request may have changed it without staging it; it is decoded again from the
// cached bytes when next needed. Reusable does not detect a Flush whose batch was not
// written: the caller must drop the State then.
func (s *State) Reusable() bool {
	if s.HasPendingChanges() {
		return false
	}
	s.mgr = nil
	return true
}

// ExecOptions says how to execute a block.
type ExecOptions struct {
	// Validating is set when voting on a proposal: every received bundle must already be
	// in the inbox. Otherwise (a certified block) missing bundles are recorded as consumed
	// in anticipation.
	Validating bool
	// Replay, when set, holds the certified outcome whose oracle responses are replayed.
	Replay   *protocol.BlockExecutionOutcome
	Resolver execution.Resolver
	Policy   *protocol.ResourcePolicy
	// Now is the executing node's clock: live oracles compare assert_before deadlines
	// with it.
	Now base.Timestamp
	// HTTP performs the HTTP requests of contracts in live mode (nil refuses them).
	HTTP execution.HTTPPerformer
}

// Errors of block validation.
var (
	ErrTimestampDecreases = fmt.Errorf("%w: block timestamp is before the previous block's", base.ErrInvalid)
	ErrBundleFromFuture   = fmt.Errorf("%w: incoming bundle is newer than the block", base.ErrInvalid)
	ErrClosedChain        = fmt.Errorf("%w: the chain is closed; its blocks may only reject messages", base.ErrInvalid)
	ErrTooManyTxs         = fmt.Errorf("%w: too many transactions in the block", base.ErrInvalid)
	ErrBlockTooLarge      = fmt.Errorf("%w: the block is larger than the policy's MaxBlockSize", base.ErrInvalid)
)

// ExecuteBlock validates and executes a proposed block against the current state and
// returns the block with its outcome. The execution state's changes are staged (and
// hashed); the caller either applies the block (ApplyConfirmed then Flush) or discards
// the State.
func (s *State) ExecuteBlock(ctx context.Context, p *protocol.ProposedBlock, o ExecOptions) (*protocol.Block, error) {
	s.committees = nil // the block may change them
	if s.execEmitted {
		// An earlier block's changes, already in execBatch, are the clean state this
		// block executes on.
		s.exec.Commit()
		s.execEmitted = false
	}
	block, eb, err := s.executeBlock(ctx, p, o)
	if err != nil {
		return nil, err
	}
	s.execBatch.Append(eb)
	s.execEmitted = true
	return block, nil
}

// executeBlock is ExecuteBlock leaving the execution state's changes staged, with the
// batch they emit.
func (s *State) executeBlock(ctx context.Context, p *protocol.ProposedBlock, o ExecOptions) (*protocol.Block, *kv.Batch, error) {
	if err := p.CheckShape(); err != nil {
		return nil, nil, err
	}
	tip, err := s.tip.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	if p.Height != tip.NextHeight {
		return nil, nil, base.Invalidf("block height %d, chain %s expects %d", p.Height, s.id.Short(), tip.NextHeight)
	}
	if p.Timestamp < tip.Timestamp {
		return nil, nil, fmt.Errorf("%w: %s < %s", ErrTimestampDecreases, p.Timestamp, tip.Timestamp)
	}
	// One encoding of the block gives its size and, for the block hash, the hash of its
	// transactions.
	digest := p.Digest()
	if digest.Size > o.Policy.MaxBlockSize {
		return nil, nil, fmt.Errorf("%w: %d > %d bytes", ErrBlockTooLarge, digest.Size, o.Policy.MaxBlockSize)
	}
	if uint64(len(p.Transactions)) > o.Policy.MaxTransactionsBlock {
		return nil, nil, fmt.Errorf("%w: %d > %d", ErrTooManyTxs, len(p.Transactions), o.Policy.MaxTransactionsBlock)
	}
	n := len(p.Transactions)
	if o.Replay != nil && len(o.Replay.OracleResponses) != n {
		return nil, nil, base.Invalidf("certified outcome has %d oracle entries for %d transactions", len(o.Replay.OracleResponses), n)
	}
	closed, err := s.exec.IsClosed(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.exec.CheckBlockPermissions(ctx, p.Transactions); err != nil {
		return nil, nil, err
	}
	epochChanges := 0
	for i := range p.Transactions {
		if op := p.Transactions[i].Operation; op != nil {
			if _, ok := op.System.(*protocol.ProcessNewEpoch); ok {
				epochChanges++
			}
		}
	}
	if epochChanges > 1 {
		return nil, nil, base.Invalidf("a block may advance the epoch at most once, this one does %d times", epochChanges)
	}
	s.exec.BeginBlock()
	// The block's service-as-oracle queries share one wall-time budget (live mode).
	env := execution.LiveEnv{HTTP: o.HTTP, Now: o.Now, ServiceBudget: execution.NewServiceBudget(o.Policy)}
	out := protocol.BlockExecutionOutcome{
		Messages:         make([][]protocol.OutgoingMessage, n),
		OracleResponses:  make([][]protocol.OracleResponse, n),
		Events:           make([][]protocol.Event, n),
		Blobs:            make([][]protocol.Blob, n),
		OperationResults: make([][]byte, n),
	}
	var res execution.TxOutcome
	// The transactions' oracles, and room for one outgoing message per operation (a
	// transfer sends one), allocated once for the block.
	oracleSet := make([]execution.Oracles, n)
	ops := 0
	for i := range p.Transactions {
		if p.Transactions[i].Operation != nil {
			ops++
		}
	}
	msgs := make([]protocol.OutgoingMessage, ops)
	usedMsgs := 0
	taker := bundleTaker{s: s}
	for i := range p.Transactions {
		tx := &p.Transactions[i]
		if b := tx.Bundle; b != nil {
			if b.Bundle.Timestamp > p.Timestamp {
				return nil, nil, fmt.Errorf("%w: transaction %d", ErrBundleFromFuture, i)
			}
			if closed && b.Action != protocol.Reject {
				return nil, nil, fmt.Errorf("%w: transaction %d accepts a bundle", ErrClosedChain, i)
			}
			if err := taker.take(ctx, b, o.Validating); err != nil {
				return nil, nil, &TxError{Index: i, Err: err}
			}
		} else if closed {
			return nil, nil, fmt.Errorf("%w: transaction %d is an operation", ErrClosedChain, i)
		}
		oracles := &oracleSet[i]
		if o.Replay != nil {
			oracles.InitReplay(o.Resolver, o.Replay.OracleResponses[i])
		} else {
			oracles.InitLive(o.Resolver, env)
		}
		res.Messages = msgs[usedMsgs:usedMsgs]
		tc := execution.TxContext{ChainID: s.id, Height: p.Height, Timestamp: p.Timestamp, AuthenticatedOwner: p.AuthenticatedOwner, Index: uint32(i), Policy: o.Policy}
		err := s.exec.ExecuteTransactionInto(ctx, tc, tx, oracles, &res)
		if err == nil {
			err = oracles.Finish()
		}
		if err != nil {
			return nil, nil, &TxError{Index: i, Err: err}
		}
		m := res.Messages
		if len(m) > 0 && usedMsgs < len(msgs) && &m[0] == &msgs[usedMsgs] {
			usedMsgs += len(m) // the messages are in msgs
		}
		if len(m) == 0 {
			m = nil
		}
		out.Messages[i] = m[:len(m):len(m)] // appending to one never overwrites the next
		out.OracleResponses[i] = res.OracleResponses
		out.Events[i] = res.Events
		out.Blobs[i] = res.Blobs
		out.OperationResults[i] = res.Result
		if out.OperationResults[i] == nil {
			out.OperationResults[i] = []byte{}
		}
	}
	if err := taker.finish(ctx); err != nil {
		return nil, nil, err
	}
	eb := new(kv.Batch)
	s.exec.Emit(eb)
	out.StateHash = execution.StateHash(tip.StateHash, eb)
	return protocol.NewBlockWithDigest(*p, out, digest), eb, nil
}

func (s *State) removeBundle(ctx context.Context, b *protocol.IncomingBundle, mustBePresent bool) error {
	t := bundleTaker{s: s}
	if err := t.take(ctx, b, mustBePresent); err != nil {
		return err
	}
	return t.finish(ctx)
}

// bundleTaker removes the bundles a block receives from their inboxes, reading an
// origin's cursors once and staging them once for each run of bundles from that origin
// (a block receiving 100 bundles of one sender: one map read and one staged entry, not
// 100). After an error the State must be discarded, as after any failed block.
type bundleTaker struct {
	s      *State
	origin base.ChainID
	cur    inboxCursors
	open   bool
}

// take removes b from its origin's inbox (inboxOps.removeBundle).
func (t *bundleTaker) take(ctx context.Context, b *protocol.IncomingBundle, mustBePresent bool) error {
	if !t.open || t.origin != b.Origin {
		if err := t.finish(ctx); err != nil {
			return err
		}
		cur, _, err := t.s.inboxes.Get(ctx, b.Origin)
		if err != nil {
			return err
		}
		t.origin, t.cur, t.open = b.Origin, cur, true
	}
	if err := t.s.inbox(b.Origin, &t.cur).removeBundle(ctx, &b.Bundle, mustBePresent); err != nil {
		return fmt.Errorf("bundle from %s at height %d: %w", b.Origin.Short(), b.Bundle.Height, err)
	}
	return nil
}

// finish stages the cursors of the origin taken from last.
func (t *bundleTaker) finish(ctx context.Context) error {
	if !t.open {
		return nil
	}
	t.open = false
	return t.s.setInbox(ctx, t.origin, t.cur)
}

// setInbox stages origin's inbox cursors, with the layout byte saying whether the queue
// of one entry per bundle of earlier builds still holds entries (read first) or not (not
// read at all).
func (s *State) setInbox(ctx context.Context, origin base.ChainID, cur inboxCursors) error {
	if cur.Layout != inboxLayoutGroups {
		n, err := s.inboxQueuesOf(origin).added.legacy.Len(ctx)
		if err != nil {
			return err
		}
		cur.Layout = inboxLayoutGroupsAfterBundles
		if n == 0 {
			cur.Layout = inboxLayoutGroups
		}
	}
	s.inboxes.Set(origin, cur)
	return nil
}

// TxError says which transaction of a block failed.
type TxError struct {
	Index int
	Err   error
}

func (e *TxError) Error() string { return fmt.Sprintf("transaction %d: %v", e.Index, e.Err) }
func (e *TxError) Unwrap() error { return e.Err }

// ApplyConfirmed records an executed confirmed block: schedules its outgoing bundles,
// advances the tip and starts consensus for the next height.
func (s *State) ApplyConfirmed(ctx context.Context, block *protocol.Block, now base.Timestamp) error {
	h := block.Height()
	for _, r := range block.Recipients() {
		if err := s.schedule(ctx, r, h); err != nil {
			return err
		}
	}
	next, err := h.Next()
	if err != nil {
		return err
	}
	hash := block.Hash()
	s.tip.Set(Tip{BlockHash: &hash, NextHeight: next, Timestamp: block.Proposed.Timestamp, StateHash: block.Outcome.StateHash})
	ownership, err := s.exec.Ownership(ctx)
	if err != nil {
		return err
	}
	s.SetManager(ctx, consensus.NewManager(ownership, next, now))
	return nil
}

// ReceiveBundles adds bundles delivered from origin to its inbox, and returns those that
// were new (duplicates are ignored: delivery is exactly once).
func (s *State) ReceiveBundles(ctx context.Context, origin base.ChainID, bundles []protocol.EpochBundle) ([]protocol.MessageBundle, error) {
	cur, _, err := s.inboxes.Get(ctx, origin)
	if err != nil {
		return nil, err
	}
	inbox := s.inbox(origin, &cur)
	var added []protocol.MessageBundle
	lastLogged := base.BlockHeight(0)
	logged := false
	// Whether the certificate of the bundles (one per sending block) is on the store.
	var checked base.Hash
	byRef, didCheck := false, false
	for _, eb := range bundles {
		if h := eb.Bundle.CertificateHash; s.certs != nil && (!didCheck || h != checked) {
			if byRef, err = s.certs.HasCertificate(ctx, origin, eb.Bundle.Height, h); err != nil {
				return nil, fmt.Errorf("bundle from %s at height %d: %w", origin.Short(), eb.Bundle.Height, err)
			}
			checked, didCheck = h, true
		}
		isNew, err := inbox.addBundle(ctx, eb.Bundle, byRef)
		if err != nil {
			return nil, fmt.Errorf("bundle from %s at height %d: %w", origin.Short(), eb.Bundle.Height, err)
		}
		if !isNew {
			continue
		}
		added = append(added, eb.Bundle)
		if !logged || eb.Bundle.Height != lastLogged {
			if _, err := s.received.Append(ctx, protocol.ChainAndHeight{ChainID: origin, Height: eb.Bundle.Height}); err != nil {
				return nil, err
			}
			lastLogged, logged = eb.Bundle.Height, true
		}
	}
	if len(added) > 0 {
		if err := s.setInbox(ctx, origin, cur); err != nil {
			return nil, err
		}
	}
	return added, nil
}

// schedule appends h to recipient's outbox unless the outbox's last height is already h
// or later (scheduling is idempotent). It stages one map entry and one queue entry.
func (s *State) schedule(ctx context.Context, recipient base.ChainID, h base.BlockHeight) error {
	last, ok, err := s.outboxes.Get(ctx, recipient)
	if err != nil {
		return err
	}
	if ok && last >= h {
		return nil
	}
	if err := s.outboxQueue(recipient).PushBack(ctx, h); err != nil {
		return err
	}
	s.outboxes.Set(recipient, h)
	return nil
}

// errStopScan ends a scan early.
var errStopScan = errors.New("stop scan")

// MarkDelivered drops outbox entries up to height for recipient. It stages one delete
// per dropped height and at most one other write.
func (s *State) MarkDelivered(ctx context.Context, recipient base.ChainID, height base.BlockHeight) (bool, error) {
	if _, ok, err := s.outboxes.Get(ctx, recipient); err != nil || !ok {
		return false, err
	}
	q := s.outboxQueue(recipient)
	n, err := q.Len(ctx)
	if err != nil {
		return false, err
	}
	var drop uint64
	err = q.ForEach(ctx, func(h base.BlockHeight) error {
		if h > height {
			return errStopScan
		}
		drop++
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return false, err
	}
	if drop == 0 {
		return false, nil
	}
	for range drop {
		if err := q.PopFront(ctx); err != nil {
			return false, err
		}
	}
	if drop == n {
		s.outboxes.Delete(recipient)
	}
	return true, nil
}

// OutboxHeights returns the heights with undelivered bundles for recipient, in
// increasing order.
func (s *State) OutboxHeights(ctx context.Context, recipient base.ChainID) ([]base.BlockHeight, error) {
	if _, ok, err := s.outboxes.Get(ctx, recipient); err != nil || !ok {
		return nil, err
	}
	var out []base.BlockHeight
	err := s.outboxQueue(recipient).ForEach(ctx, func(h base.BlockHeight) error {
		out = append(out, h)
		return nil
	})
	return out, err
}

// OutboxHeightsAfter returns up to limit heights of recipient's outbox above after (from
// the first if after is nil), in increasing order. It reads the heights up to after and
// at most limit more, not the whole outbox.
func (s *State) OutboxHeightsAfter(ctx context.Context, recipient base.ChainID, after *base.BlockHeight, limit int) ([]base.BlockHeight, error) {
	if _, ok, err := s.outboxes.Get(ctx, recipient); err != nil || !ok || limit <= 0 {
		return nil, err
	}
	var out []base.BlockHeight
	err := s.outboxQueue(recipient).ForEach(ctx, func(h base.BlockHeight) error {
		if after != nil && h <= *after {
			return nil
		}
		out = append(out, h)
		if len(out) == limit {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, err
	}
	return out, nil
}

// HasOutbox reports whether recipient has undelivered heights (one map read).
func (s *State) HasOutbox(ctx context.Context, recipient base.ChainID) (bool, error) {
	return s.outboxes.Contains(ctx, recipient)
}

// NonEmptyOutboxes returns the recipients with undelivered bundles, sorted.
func (s *State) NonEmptyOutboxes(ctx context.Context) ([]base.ChainID, error) {
	return s.outboxes.Keys(ctx)
}

// PendingBundles returns up to limit delivered bundles not yet received by a block, all
// marked Accept: a prefix of every origin's queue, interleaved across origins.
func (s *State) PendingBundles(ctx context.Context, limit int) ([]protocol.IncomingBundle, error) {
	var out []protocol.IncomingBundle
	err := s.pendingBundles(ctx, limit, func(n int) { out = make([]protocol.IncomingBundle, 0, n) }, func(origin base.ChainID, qb *queuedBundle) error {
		b, err := qb.bundle()
		if err != nil {
			return err
		}
		out = append(out, protocol.IncomingBundle{Origin: origin, Bundle: b, Action: protocol.Accept})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PendingBundleBytes returns what PendingBundles returns, the same bundles in the same
// order, as their canonical bytes (for an answer encoded for the network): bundles
// resolved from their certificates or delivered in this process are not decoded;
// those read from the store as bytes are decoded once to check them (corruption is an
// error, never served). The bytes are shared with the inbox's queues, which never
// modify them.
func (s *State) PendingBundleBytes(ctx context.Context, limit int) (protocol.PendingBundleBytes, error) {
	var out protocol.PendingBundleBytes
	err := s.pendingBundles(ctx, limit, out.Grow, func(origin base.ChainID, qb *queuedBundle) error {
		if !qb.checked {
			if _, err := qb.bundle(); err != nil {
				return err
			}
		}
		if err := out.Append(origin, qb.raw); err != nil {
			return base.Corruptf("inbox bundle at %v from %s: %v", qb.cursor, origin.Short(), err)
		}
		return nil
	})
	if err != nil {
		return protocol.PendingBundleBytes{}, err
	}
	return out, nil
}

// pendingBundles calls fn with up to limit delivered bundles not yet received by a
// block: a prefix of every origin's queue, round-robin across origins, so that each
// origin's bundles stay in inbox order and one sender flooding the inbox cannot crowd
// out the others or make the answer unbounded. It calls grow first with their number
// (not at all if there are none).
func (s *State) pendingBundles(ctx context.Context, limit int, grow func(n int), fn func(base.ChainID, *queuedBundle) error) error {
	if limit <= 0 {
		return nil
	}
	origins, err := s.inboxes.Keys(ctx)
	if err != nil {
		return err
	}
	queues, err := selectPending(len(origins), limit, func(i, quota int) (originQueue, bool, error) {
		return s.scanPending(ctx, origins[i], quota)
	})
	if err != nil {
		return err
	}
	total := 0
	for _, q := range queues {
		total += q.n
	}
	n := min(total, limit)
	if n == 0 {
		return nil
	}
	grow(n)
	if len(queues) == 1 {
		q := &queues[0]
		for _, run := range q.runs {
			for i := range run {
				if err := fn(q.origin, &run[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Round-robin: the i-th bundle of every origin, for i = 0, 1, ...; each queue's
	// runs are consumed from the front.
	for taken := 0; taken < n; {
		for j := range queues {
			q := &queues[j]
			if len(q.runs) == 0 || taken == n {
				continue
			}
			if err := fn(q.origin, &q.runs[0][0]); err != nil {
				return err
			}
			taken++
			if q.runs[0] = q.runs[0][1:]; len(q.runs[0]) == 0 {
				q.runs = q.runs[1:]
			}
		}
	}
	return nil
}

// originQueue is a prefix of one origin's pending bundles, as runs (shared with its
// queue: not copied), and their number.
type originQueue struct {
	origin base.ChainID
	runs   [][]queuedBundle
	n      int
}

// scanPending returns up to quota of origin's pending bundles (a prefix of its queue) and
// whether more remain.
func (s *State) scanPending(ctx context.Context, origin base.ChainID, quota int) (originQueue, bool, error) {
	cur, _, err := s.inboxes.Get(ctx, origin)
	if err != nil {
		return originQueue{}, false, err
	}
	q, more := originQueue{origin: origin}, false
	err = s.inboxQueuesOf(origin).added.forEachRun(ctx, &cur, func(run []queuedBundle) error {
		if q.n+len(run) > quota {
			run, more = run[:quota-q.n], true
		}
		if len(run) > 0 {
			q.runs = append(q.runs, run)
			q.n += len(run)
		}
		if more {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return originQueue{}, false, err
	}
	return q, more, nil
}

// selectPending returns, of n origins' pending bundles, prefixes long enough for the
// first limit bundles of their round-robin (pendingBundles), in origin order, without
// the origins that have none. scan(i, quota) reads up to quota of origin i's bundles and
// says whether more remain.
//
// Reading every origin's queue up to limit, as it did, read up to n × limit bundles (and
// resolved their certificates) for one chain-info query a stranger can send, once
// strangers' chains had filled the inbox. The round-robin's first limit bundles take at
// most r of each origin, for the least r at which the origins' prefixes of r add up to
// limit; so each origin is read up to a quota, limit/n at first, doubled for the
// origins cut short while the prefixes add up to less than limit. A pass reads at most
// twice what the one before it kept, which was less than limit: every pass but the
// first reads under 2 × limit bundles, and the first under limit + n.
func selectPending(n, limit int, scan func(i, quota int) (originQueue, bool, error)) ([]originQueue, error) {
	if n == 0 || limit <= 0 {
		return nil, nil
	}
	qs, more := make([]originQueue, n), make([]bool, n)
	for quota, first := max(1, (limit+n-1)/n), true; ; quota, first = min(2*quota, limit), false {
		total, cut := 0, false
		for i := range n {
			if first || more[i] {
				q, m, err := scan(i, quota)
				if err != nil {
					return nil, err
				}
				qs[i], more[i] = q, m
			}
			total += qs[i].n
			cut = cut || more[i]
		}
		if total >= limit || !cut || quota >= limit {
			break
		}
	}
	out := qs[:0]
	for _, q := range qs {
		if q.n > 0 {
			out = append(out, q)
		}
	}
	return out, nil
}

// ReceivedLog returns up to limit entries of the received log from index from, and the
// log's length.
func (s *State) ReceivedLog(ctx context.Context, from uint64, limit int) ([]protocol.ChainAndHeight, uint64, error) {
	n, err := s.received.Len(ctx)
	if err != nil || from >= n {
		return nil, n, err
	}
	to := min(n, from+uint64(limit))
	var out []protocol.ChainAndHeight
	err = s.received.Range(ctx, from, to, func(_ uint64, v protocol.ChainAndHeight) error {
		out = append(out, v)
		return nil
	})
	return out, n, err
}

// Flush appends every staged change to b.
func (s *State) Flush(b *kv.Batch) {
	b.Append(&s.execBatch)
	s.execBatch.Reset()
	if s.execEmitted {
		s.exec.Commit() // its changes are the batch's
		s.execEmitted = false
	} else {
		s.exec.Flush(b)
	}
	s.initialized.Flush(b)
	s.tip.Flush(b)
	s.manager.Flush(b)
	s.received.Flush(b)
	s.outboxes.Flush(b)
	// The queues in ascending key order (the order of their recipients' bytes), after the
	// map: the batch stays in ascending key order and depends only on the operations.
	rs := make([]base.ChainID, 0, len(s.outboxQueues))
	for r, q := range s.outboxQueues {
		if q.HasPendingChanges() {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b base.ChainID) int { return bytes.Compare(a[:], b[:]) })
	for _, r := range rs {
		s.outboxQueues[r].Flush(b)
	}
	s.inboxes.Flush(b)
	os := make([]base.ChainID, 0, len(s.inboxQueues))
	for o, q := range s.inboxQueues {
		if q.added.hasPendingChanges() || q.removed.HasPendingChanges() {
			os = append(os, o)
		}
	}
	slices.SortFunc(os, func(a, b base.ChainID) int { return bytes.Compare(a[:], b[:]) })
	for _, o := range os {
		q := s.inboxQueues[o]
		q.added.legacy.Flush(b) // the origin's sub-view tags in ascending order
		q.removed.Flush(b)
		q.added.groups.Flush(b)
	}
}
