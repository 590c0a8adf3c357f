package chain

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
	outboxQueues  map[base.ChainID]*outboxQueueOf

	// inboxes maps every origin that delivered or was received from to its inbox's
	// cursors; the inbox's bundles are in the queues inboxQueuesOf(origin), one entry
	// per sending block (bundleGroup), so delivering or receiving bundles writes O(1)
	// keys per sending block, and a block taking some of an entry's bundles none (the
	// NextToRemove cursor says which are taken).
	inboxes      *views.Map[base.ChainID, inboxCursors]
	inboxQueueVC views.Context
	inboxQueues  map[base.ChainID]*inboxQueues

	// inboxListed and outboxListed are the queues inboxQueuesOf and outboxQueue handed
	// out since the last Flush (inboxListed also since the last rollbackInboxes), each
	// once (its listed flag): HasPendingChanges and Flush look at these, not at every
	// queue the State has loaded, which grows with every chain that ever sent to it or
	// was sent to while it is loaded. Invariant: a queue with staged changes is listed
	// (checked by Flush under the invariants build tag).
	inboxListed  []*inboxQueues
	outboxListed []*outboxQueueOf

	// flushes counts the Flushes; a queue records the count when it is handed out
	// (used), so Flush can keep the recently used queues and drop the others
	// (pruneQueues). maxQueues bounds the queues of each of inboxQueues and
	// outboxQueues that stay loaded after a Flush beyond those handed out since the
	// previous one (maxLoadedQueues; tests change it). Invariant: after a Flush,
	// len(inboxQueues) and len(outboxQueues) are each at most maxQueues plus the queues
	// handed out since the previous Flush.
	flushes   uint64
	maxQueues int
	// dropped holds the queues the last Flush dropped, under the invariants build tag
	// only, for the next Flush to check that none was changed through a reference kept
	// across the Flush (checkListed).
	dropped []stagingQueue

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

	// skipAnticipated: bundles a confirmed block received before they were delivered are
	// not recorded (SkipAnticipated).
	skipAnticipated bool

	// pendingVersion counts the changes staged or dropped that may change what
	// pendingBundles lists (PendingVersion). Invariant: it is incremented by every
	// change to the inbox's cursors (setInbox) or its queues of delivered bundles
	// (groupedQueue.PushBack, PopFront), by every rollback of those (rollbackInboxes)
	// and by every change of the tip (setTip).
	pendingVersion uint64
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

// SkipAnticipated makes the state not record the bundles a confirmed block received
// before they were delivered to this state's inbox ("in anticipation"), for a node that
// does not vote: a client's local replica, which follows its chains from certificates
// and has bundles delivered to it seldom or never. Recorded, each such bundle stays
// queued until its delivery arrives to be checked against it, so a replica's inbox grew
// by one entry per received bundle for as long as it ran (issue #11: a benchmark
// wallet's store held 3.3 million of them, 500 MB before compression, which its
// compactions rewrote). Not recorded, a delivery that arrives anyway is behind the
// inbox's NextToRemove cursor and is taken as consumed without being compared with what
// the block received: that check is a voter's, whose vote a quorum relies on; a
// replica relies on the quorum's certificates.
func (s *State) SkipAnticipated() { s.skipAnticipated = true }

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
		maxQueues:     maxLoadedQueues,
	}
}

// maxLoadedQueues bounds the inbox queues (one per origin) and the outbox queues (one
// per recipient) a State keeps loaded after a Flush, each: anyone can make a chain
// receive from many origins, and a State that stays loaded in a worker kept the queues
// of every origin it ever heard from (a few hundred bytes each). Past the bound, Flush
// keeps the maxLoadedQueues/2 most recently used and drops the others; a dropped queue
// holds nothing staged and is loaded again from the store when next used. A chain
// talking to a few chains (the benchmark's ring: one origin and one recipient) never
// reaches it and never reloads a queue.
const maxLoadedQueues = 256

// stagingQueue is an inbox or outbox queue, as checkListed sees it.
type stagingQueue interface {
	hasPendingChanges() bool
	isListed() bool
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
	listed  bool   // in State.inboxListed
	used    uint64 // State.flushes when last handed out
}

// outboxQueueOf is one recipient's queue of undelivered heights.
type outboxQueueOf struct {
	q         *views.Queue[base.BlockHeight]
	recipient base.ChainID
	listed    bool   // in State.outboxListed
	used      uint64 // State.flushes when last handed out
}

func (o *outboxQueueOf) hasPendingChanges() bool { return o.q.HasPendingChanges() }
func (o *outboxQueueOf) isListed() bool          { return o.listed }
func (q *inboxQueues) isListed() bool            { return q.listed }

// inbox returns origin's inbox rules over cur and origin's queues.
func (s *State) inbox(origin base.ChainID, cur *inboxCursors) inboxOps {
	q := s.inboxQueuesOf(origin)
	q.added.floor = cur.NextToRemove
	q.added.noLegacy = cur.Layout == inboxLayoutGroups
	return inboxOps{cur: cur, added: q.added, removed: q.removed, unrecorded: s.skipAnticipated}
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
	q.used = s.flushes
	if !q.listed {
		q.listed = true
		s.inboxListed = append(s.inboxListed, q)
	}
	return q
}

// outboxQueue returns the queue of undelivered heights for recipient (strictly increasing).
func (s *State) outboxQueue(recipient base.ChainID) *views.Queue[base.BlockHeight] {
	o, ok := s.outboxQueues[recipient]
	if !ok {
		if s.outboxQueues == nil {
			s.outboxQueues = map[base.ChainID]*outboxQueueOf{}
		}
		o = &outboxQueueOf{q: views.NewQueue(views.SubKey(s.outboxQueueVC, chainIDKey, recipient), heightCodec), recipient: recipient}
		s.outboxQueues[recipient] = o
	}
	o.used = s.flushes
	if !o.listed {
		o.listed = true
		s.outboxListed = append(s.outboxListed, o)
	}
	return o.q
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
	s.setTip(Tip{NextHeight: 0, Timestamp: desc.Timestamp, StateHash: execution.StateHash(base.Hash{}, &s.execBatch)})
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
	for _, o := range s.outboxListed {
		if o.q.HasPendingChanges() {
			return true
		}
	}
	for _, q := range s.inboxListed {
		if q.hasPendingChanges() {
			return true
		}
	}
	return false
}

func (q *inboxQueues) hasPendingChanges() bool {
	return q.added.hasPendingChanges() || q.removed.HasPendingChanges()
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
	// ErrOutcomeTooLarge: executing the block produced an outcome (messages, oracle
	// responses, events, blobs, results) whose canonical encoding exceeds the policy's
	// MaxBlockOutcomeBytes. The same sentinel as execution.ErrOutcomeTooLarge.
	ErrOutcomeTooLarge = execution.ErrOutcomeTooLarge
)

// minTxOutcomeBytes is the least a transaction adds to an outcome's encoding: five
// empty entries (protocol.BlockExecutionOutcome.TxSize).
const minTxOutcomeBytes = 5

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
	// The transactions' oracles (one value set anew for each: a transaction's responses
	// are copied out of it, execution.Oracles.since), and room for one outgoing message
	// per operation (a transfer sends one), allocated once for the block.
	oracles := new(execution.Oracles)
	ops := 0
	for i := range p.Transactions {
		if p.Transactions[i].Operation != nil {
			ops++
		}
	}
	msgs := make([]protocol.OutgoingMessage, ops)
	usedMsgs := 0
	// The outcome's canonical size, counted as the transactions execute
	// (MaxBlockOutcomeBytes): deterministic, from the encoding alone.
	outcomeBytes := protocol.OutcomeBaseSize(n)
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
		if o.Replay != nil {
			oracles.InitReplay(o.Resolver, o.Replay.OracleResponses[i])
		} else {
			oracles.InitLive(o.Resolver, env)
		}
		// Every transaction adds at least minTxOutcomeBytes (its five empty entries).
		if outcomeBytes+minTxOutcomeBytes > o.Policy.MaxBlockOutcomeBytes {
			return nil, nil, &TxError{Index: i, Err: fmt.Errorf("%w: %d bytes before the transaction, limit %d", ErrOutcomeTooLarge, outcomeBytes, o.Policy.MaxBlockOutcomeBytes)}
		}
		res.Messages = msgs[usedMsgs:usedMsgs]
		tc := execution.TxContext{ChainID: s.id, Height: p.Height, Timestamp: p.Timestamp, AuthenticatedOwner: p.AuthenticatedOwner, Index: uint32(i), Policy: o.Policy,
			MaxOutcomeBytes: o.Policy.MaxBlockOutcomeBytes - outcomeBytes}
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
		outcomeBytes += out.TxSize(i)
		if outcomeBytes > o.Policy.MaxBlockOutcomeBytes {
			return nil, nil, &TxError{Index: i, Err: fmt.Errorf("%w: %d bytes with this transaction, limit %d", ErrOutcomeTooLarge, outcomeBytes, o.Policy.MaxBlockOutcomeBytes)}
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
	s.pendingChanged()
	return nil
}

// setTip stages the chain's tip (the round-robin of pendingBundles starts from its
// height).
func (s *State) setTip(t Tip) {
	s.tip.Set(t)
	s.pendingChanged()
}

// pendingChanged records a change that may change what pendingBundles lists.
func (s *State) pendingChanged() { s.pendingVersion++ }

// PendingVersion returns the version of what PendingBundles and PendingBundleBytes list:
// for the same limit and maxBytes they list the same bundles, in the same order, for as
// long as the same State returns the same version. It changes with every change staged
// to the chain's inbox of delivered bundles or to its tip (bundles received, a block
// taking or skipping bundles, a block's inbox changes rolled back, a new block, the
// initial state); the execution state, the outboxes and the consensus manager do not
// change it. It is kept in memory only: a State loaded anew starts again from zero, so
// a caller keeping a listing keeps it for one State (by its identity) and one version.
// Like every method of State, it is not safe for use concurrent with a change.
func (s *State) PendingVersion() uint64 { return s.pendingVersion }

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
	s.setTip(Tip{BlockHash: &hash, NextHeight: next, Timestamp: block.Proposed.Timestamp, StateHash: block.Outcome.StateHash})
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
		if added == nil {
			added = make([]protocol.MessageBundle, 0, len(bundles)) // one sending block's: all new, usually
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
// marked Accept: a prefix of every origin's queue, interleaved across origins, whose
// encodings add up to at most maxBytes (or the first bundle alone). See pendingBundles
// for what listing them reads.
func (s *State) PendingBundles(ctx context.Context, limit, maxBytes int) ([]protocol.IncomingBundle, error) {
	var out []protocol.IncomingBundle
	err := s.pendingBundles(ctx, limit, maxBytes, func(origin base.ChainID, qb *queuedBundle) error {
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
func (s *State) PendingBundleBytes(ctx context.Context, limit, maxBytes int) (protocol.PendingBundleBytes, error) {
	var out protocol.PendingBundleBytes
	err := s.pendingBundles(ctx, limit, maxBytes, func(origin base.ChainID, qb *queuedBundle) error {
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

// pendingBundles calls fn with the delivered bundles not yet received by a block, a
// prefix of every origin's queue, round-robin across origins (the first bundle of
// every origin, then the second, ...), so that each origin's bundles stay in inbox order
// and one sender flooding the inbox cannot crowd out the others; it stops at limit
// bundles, before the bundle that would take their bytes over maxBytes (the first is
// listed whatever its size, so that a chain whose oldest bundle is large can still
// receive it), or where the runs it read would exceed the read bounds of
// newPendingBudget.
//
// A chain-info query, which anyone may send, lists them, and strangers' chains can fill
// an inbox: so listing reads each origin's queue only as far as the listing needs it,
// a run (the bundles one certificate sent here) at a time (listPending). The round-robin
// starts at the origin of index NextHeight mod origins: every validator lists alike at a
// height, and when the read bounds stop a listing short (origins whose runs are large
// come first) the next heights start with the origins after them, so no origin waits
// more than one block per origin for its turn.
func (s *State) pendingBundles(ctx context.Context, limit, maxBytes int, fn func(base.ChainID, *queuedBundle) error) error {
	if limit <= 0 {
		return nil
	}
	// Every origin that ever sent here keeps its cursors; only those with a bundle
	// added past the last one received have any waiting (the others' queues hold
	// nothing past NextToRemove), and they are passed over without reading their queues.
	var waiting []base.ChainID
	var curs []inboxCursors
	err := s.inboxes.ForEach(ctx, func(origin base.ChainID, cur inboxCursors) error {
		if cur.NextToAdd.Compare(cur.NextToRemove) > 0 {
			waiting, curs = append(waiting, origin), append(curs, cur)
		}
		return nil
	})
	if err != nil || len(waiting) == 0 {
		return err
	}
	tip, err := s.tip.Get(ctx)
	if err != nil {
		return err
	}
	start := int(uint64(tip.NextHeight) % uint64(len(waiting)))
	return listPending(len(waiting), start, newPendingBudget(limit, maxBytes),
		func(i int, yield func([]queuedBundle) bool) error {
			return s.pendingRuns(ctx, waiting[i], &curs[i], yield)
		},
		func(i int, qb *queuedBundle) error { return fn(waiting[i], qb) })
}

// pendingRuns calls yield with origin's pending bundles past cur.NextToRemove in inbox
// order, a run at a time (shared with its queue: not copied), until it returns false.
func (s *State) pendingRuns(ctx context.Context, origin base.ChainID, cur *inboxCursors, yield func([]queuedBundle) bool) error {
	err := s.inboxQueuesOf(origin).added.forEachRun(ctx, cur, func(run []queuedBundle) error {
		if !yield(run) {
			return errStopScan
		}
		return nil
	})
	if errors.Is(err, errStopScan) {
		return nil
	}
	return err
}

// pendingBudget bounds a listing of pending bundles: the bundles it lists (count) and
// their bytes, and the bundles and bytes of the runs it reads (readCount, readBytes).
type pendingBudget struct {
	count, bytes, readCount, readBytes int
}

// newPendingBudget is the budget of a listing of at most limit bundles and maxBytes: it
// reads at most four times as many bundles and bytes, and one run more (the first run
// whatever its size). A run is read whole (a certificate's bundles to this chain are
// resolved together), so every origin the listing reaches adds up to a run beyond what
// it lists; without the read bounds, origins each sending a large run would make one
// listing read (resolve, and leave in the queues' caches) a run per origin reached.
func newPendingBudget(limit, maxBytes int) pendingBudget {
	times4 := func(n int) int {
		if n > math.MaxInt/4 {
			return math.MaxInt
		}
		return 4 * n
	}
	return pendingBudget{count: limit, bytes: maxBytes, readCount: times4(limit), readBytes: times4(maxBytes)}
}

// listPending calls fn(i, bundle) with n origins' bundles round-robin from origin start
// (start, start+1, ..., n-1, 0, ..., start-1), within b (see pendingBundles).
// runs(i, yield) calls yield with origin i's runs in order until it returns false; it is
// called only for the origins the listing reaches.
//
// One origin's runs are read in one pass, as far as the listing goes. With several, each
// origin reached is read up to a share of the budget (count and bytes over n, and at
// least a run), and read again from its start with twice the share when the listing
// needs more of it (an origin's reads add up to at most twice its last share): a
// coroutine per origin (iter.Pull) to read them in step cost a few microseconds per
// origin on every chain-info query.
func listPending(n, start int, b pendingBudget, runs func(i int, yield func([]queuedBundle) bool) error, fn func(i int, qb *queuedBundle) error) error {
	l := pendingLister{b: b, fn: fn}
	if n == 1 {
		var err error
		if e := runs(0, func(run []queuedBundle) bool {
			if !l.admit(run) {
				return false
			}
			for len(run) > 0 {
				var more bool
				if more, err = l.take(0, &run); !more || err != nil {
					return false
				}
			}
			return true
		}); e != nil {
			return e
		}
		return err
	}
	type prefix struct {
		runs               [][]queuedBundle // read, not yet listed
		read               int              // bundles read from the queue's start
		count, bytes       int              // the share the next read may take
		opened, more, done bool
	}
	ps := make([]prefix, n)
	for live := n; live > 0; {
		for k := range n {
			i := (start + k) % n
			p := &ps[i]
			for !p.done && len(p.runs) == 0 {
				switch {
				case !p.opened:
					p.opened, p.count, p.bytes = true, max(1, b.count/n), max(1, b.bytes/n)
				case !p.more:
					p.done = true
					live--
					continue
				default:
					p.count, p.bytes = min(p.count, math.MaxInt/2)*2, min(p.bytes, math.MaxInt/2)*2
				}
				read, more, err := l.read(func(yield func([]queuedBundle) bool) error { return runs(i, yield) }, p.read, p.count, p.bytes)
				if err != nil || (len(read) == 0 && l.full) {
					return err
				}
				p.runs, p.more = read, more
				for _, run := range read {
					p.read += len(run)
				}
				if len(read) == 0 {
					p.done = true
					live--
				}
			}
			if p.done {
				continue
			}
			more, err := l.take(i, &p.runs[0])
			if len(p.runs[0]) == 0 {
				p.runs = p.runs[1:]
			}
			if !more || err != nil {
				return err
			}
		}
	}
	return nil
}

// pendingLister counts a listing against its budget.
type pendingLister struct {
	b                                   pendingBudget
	fn                                  func(i int, qb *queuedBundle) error
	taken, listed, readCount, readBytes int
	// full: a run was refused for the read bounds; the listing ends where it needs one.
	full bool
}

// admit reports whether run may be read within the budget (the first always may), and
// counts it.
func (l *pendingLister) admit(run []queuedBundle) bool {
	size := runBytes(run)
	if l.full || l.readCount > 0 && (len(run) > l.b.readCount-l.readCount || size > l.b.readBytes-l.readBytes) {
		l.full = true
		return false
	}
	l.readCount, l.readBytes = l.readCount+len(run), l.readBytes+size
	return true
}

// read returns the runs runs yields after its first skip bundles, up to count bundles
// or bytes bytes (the run that reaches either is read whole), each admitted, and whether
// the queue may hold more (a share reached, or a run refused: the next read finds out).
func (l *pendingLister) read(runs func(yield func([]queuedBundle) bool) error, skip, count, bytes int) ([][]queuedBundle, bool, error) {
	var out [][]queuedBundle
	n, size, more := 0, 0, false
	err := runs(func(run []queuedBundle) bool {
		if skip >= len(run) {
			skip -= len(run)
			return true
		}
		run, skip = run[skip:], 0
		if !l.admit(run) {
			more = true // the listing ends where it needs the rest
			return false
		}
		out, n, size = append(out, run), n+len(run), size+runBytes(run)
		more = n >= count || size >= bytes
		return !more
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// runBytes is the bytes of a run's bundles.
func runBytes(run []queuedBundle) int {
	size := 0
	for j := range run {
		size += len(run[j].raw)
	}
	return size
}

// take lists the first bundle of *run from origin i and drops it from *run, or reports
// that the listing is complete (false).
func (l *pendingLister) take(i int, run *[]queuedBundle) (bool, error) {
	qb := &(*run)[0]
	if l.taken == l.b.count || (l.taken > 0 && len(qb.raw) > l.b.bytes-l.listed) {
		return false, nil
	}
	if err := l.fn(i, qb); err != nil {
		return false, err
	}
	l.taken, l.listed, *run = l.taken+1, l.listed+len(qb.raw), (*run)[1:]
	return l.taken < l.b.count, nil
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
	if checkListed {
		s.checkListed()
	}
	// The queues in ascending key order (the order of their recipients' bytes), after the
	// map: the batch stays in ascending key order and depends only on the operations.
	var rs []*outboxQueueOf
	for _, o := range s.outboxListed {
		if o.q.HasPendingChanges() {
			rs = append(rs, o)
		}
		o.listed = false
	}
	clear(s.outboxListed)
	s.outboxListed = s.outboxListed[:0]
	slices.SortFunc(rs, func(a, b *outboxQueueOf) int { return bytes.Compare(a.recipient[:], b.recipient[:]) })
	for _, o := range rs {
		o.q.Flush(b)
	}
	s.inboxes.Flush(b)
	var qs []*inboxQueues
	for _, q := range s.inboxListed {
		if q.hasPendingChanges() {
			qs = append(qs, q)
		}
	}
	s.unlistInboxes()
	slices.SortFunc(qs, func(a, b *inboxQueues) int { return bytes.Compare(a.added.origin[:], b.added.origin[:]) })
	for _, q := range qs {
		q.added.legacy.Flush(b) // the origin's sub-view tags in ascending order
		q.removed.Flush(b)
		q.added.groups.Flush(b)
	}
	s.flushes++
	s.pruneQueues()
}

// pruneQueues drops loaded queues past maxQueues (maxLoadedQueues), each map on its
// own: once a map holds more, it keeps the maxQueues/2 most recently used queues and
// those handed out since the previous Flush, and drops the others that hold nothing
// staged (after a Flush, none does: a queue with staged changes is listed, and Flush
// unlists it once written). Which queues are loaded never changes what the State
// reads or writes: a dropped queue is loaded again from the store, which holds what
// it held (the caller writes Flush's batch before it uses the State again, or drops
// the State). Pruning a map of n queues costs O(n log maxQueues) time and
// O(maxQueues) memory, once per maxQueues/2 queues loaded at least (about 0.3 µs per
// queue dropped, less than loading it cost); a State within the bound pays nothing.
func (s *State) pruneQueues() {
	if checkListed {
		clear(s.dropped)
		s.dropped = s.dropped[:0]
	}
	keep := s.maxQueues / 2
	s.dropped = pruneQueueMap(s.inboxQueues, s.maxQueues, keep, s.flushes-1, s.dropped)
	s.dropped = pruneQueueMap(s.outboxQueues, s.maxQueues, keep, s.flushes-1, s.dropped)
}

// pruneQueueMap is pruneQueues for one map: past limit queues it drops those not among
// the keep most recently used (ties by chain id, so which are dropped depends only on
// the operations, not on the map's order) nor used at or after gen, unless listed or
// holding staged changes. It finds the keep most recently used in one pass with a heap
// of keep entries (O(n log keep) time, O(keep) memory), and drops in a second pass.
// Under the invariants build tag it appends the dropped ones to dropped.
func pruneQueueMap[Q interface {
	stagingQueue
	lastUsed() uint64
}](m map[base.ChainID]Q, limit, keep int, gen uint64, dropped []stagingQueue) []stagingQueue {
	if len(m) <= limit {
		return dropped
	}
	var kept recentQueues
	if keep > 0 {
		kept = make(recentQueues, 0, keep)
		for id, q := range m {
			kept.offer(queueRank{q.lastUsed(), binary.BigEndian.Uint64(id[:8]), id}, keep)
		}
	}
	for id, q := range m {
		r := queueRank{q.lastUsed(), binary.BigEndian.Uint64(id[:8]), id}
		if r.used >= gen || (keep > 0 && !kept[0].before(r)) || q.isListed() || q.hasPendingChanges() {
			continue // used since the previous Flush, among the keep most recent, or in use
		}
		delete(m, id)
		if checkListed {
			dropped = append(dropped, q)
		}
	}
	return dropped
}

// queueRank orders loaded queues for pruneQueueMap: most recently used first, then by
// chain id. lead is the id's first 8 bytes, which order ids as their bytes do when they
// differ: compared first, it spares most comparisons the byte loop.
type queueRank struct {
	used, lead uint64
	id         base.ChainID
}

// before reports whether r ranks before o (is kept in preference to it).
func (r queueRank) before(o queueRank) bool {
	if r.used != o.used {
		return r.used > o.used
	}
	if r.lead != o.lead {
		return r.lead < o.lead
	}
	return bytes.Compare(r.id[:], o.id[:]) < 0
}

// recentQueues is a heap of the best-ranked queues seen, the last-ranked at its root.
type recentQueues []queueRank

// offer adds r if the heap holds fewer than n or r ranks before the root (which it
// then replaces).
func (h *recentQueues) offer(r queueRank, n int) {
	q := *h
	if len(q) < n {
		q = append(q, r)
		for i := len(q) - 1; i > 0; {
			p := (i - 1) / 2
			if !q[p].before(q[i]) {
				break
			}
			q[p], q[i] = q[i], q[p]
			i = p
		}
		*h = q
		return
	}
	if !r.before(q[0]) {
		return
	}
	q[0] = r
	for i := 0; ; {
		last, l := i, 2*i+1
		if l < len(q) && q[last].before(q[l]) {
			last = l
		}
		if l+1 < len(q) && q[last].before(q[l+1]) {
			last = l + 1
		}
		if last == i {
			return
		}
		q[i], q[last] = q[last], q[i]
		i = last
	}
}

func (o *outboxQueueOf) lastUsed() uint64 { return o.used }
func (q *inboxQueues) lastUsed() uint64   { return q.used }

// unlistInboxes empties inboxListed, once no listed inbox queue has staged changes.
func (s *State) unlistInboxes() {
	for _, q := range s.inboxListed {
		q.listed = false
	}
	clear(s.inboxListed)
	s.inboxListed = s.inboxListed[:0]
}

// checkListed panics if a queue the State holds has staged changes but is not listed
// (inboxListed, outboxListed): Flush would not write them. Run by Flush under the
// invariants build tag; it looks at every queue.
func (s *State) checkListed() {
	for r, o := range s.outboxQueues {
		if !o.listed && o.q.HasPendingChanges() {
			panic(fmt.Sprintf("chain %s: the outbox queue of %s has staged changes but is not listed", s.id.Short(), r.Short()))
		}
	}
	for origin, q := range s.inboxQueues {
		if !q.listed && q.hasPendingChanges() {
			panic(fmt.Sprintf("chain %s: the inbox queues of %s have staged changes but are not listed", s.id.Short(), origin.Short()))
		}
	}
	for _, q := range s.dropped {
		if q.hasPendingChanges() {
			panic(fmt.Sprintf("chain %s: a queue the previous Flush dropped has staged changes", s.id.Short()))
		}
	}
}
