package protocol

import (
	"bytes"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// LeaderTimeoutRequest asks a validator to sign a timeout vote for (height, round).
type LeaderTimeoutRequest struct {
	Height base.BlockHeight
	Round  base.Round
}

// ChainInfoQuery asks a validator about a chain. Each Request* field adds data to the
// answer.
type ChainInfoQuery struct {
	ChainID base.ChainID
	// TestNextBlockHeight, when set, makes the query fail unless the chain's next height
	// equals it.
	TestNextBlockHeight *base.BlockHeight
	RequestOwnerBalance *base.Owner
	// RequestPendingBundles asks for the bundles in the chain's inboxes not yet received.
	RequestPendingBundles bool
	// RequestManagerValues asks for the locked block and the latest proposal.
	RequestManagerValues bool
	// RequestReceivedLogFrom asks for the received log from this index on.
	RequestReceivedLogFrom *uint64
	RequestLeaderTimeout   *LeaderTimeoutRequest
}

func encOptU64(w *codec.Writer, v *uint64) {
	w.OptionTag(v != nil)
	if v != nil {
		w.U64(*v)
	}
}

func decOptU64(r *codec.Reader) *uint64 {
	if !r.OptionTag() {
		return nil
	}
	return codec.Box(r, r.U64())
}

func (q *ChainInfoQuery) Encode(w *codec.Writer) {
	w.Hash(base.Hash(q.ChainID))
	encOptU64(w, (*uint64)(q.TestNextBlockHeight))
	encOptOwner(w, q.RequestOwnerBalance)
	w.Bool(q.RequestPendingBundles)
	w.Bool(q.RequestManagerValues)
	encOptU64(w, q.RequestReceivedLogFrom)
	w.OptionTag(q.RequestLeaderTimeout != nil)
	if t := q.RequestLeaderTimeout; t != nil {
		w.U64(uint64(t.Height))
		w.Round(t.Round)
	}
}

func (q *ChainInfoQuery) Decode(r *codec.Reader) {
	q.ChainID = r.ChainID()
	q.TestNextBlockHeight = (*base.BlockHeight)(decOptU64(r))
	q.RequestOwnerBalance = decOptOwner(r)
	q.RequestPendingBundles = r.Bool()
	q.RequestManagerValues = r.Bool()
	q.RequestReceivedLogFrom = decOptU64(r)
	q.RequestLeaderTimeout = nil
	if r.OptionTag() {
		q.RequestLeaderTimeout = codec.Box(r, LeaderTimeoutRequest{Height: base.BlockHeight(r.U64()), Round: r.Round()})
	}
}

// ManagerInfo is the consensus state of a chain's current height as a validator sees it.
type ManagerInfo struct {
	Ownership    ChainOwnership
	CurrentRound base.Round
	// Leader is the owner allowed to propose in a single-leader or validator round.
	Leader       *base.Owner
	RoundTimeout *base.Timestamp
	// PendingVote is this validator's latest block vote at this height (validated or confirmed).
	PendingVote *Vote
	// TimeoutVote is this validator's timeout vote in the current round.
	TimeoutVote *Vote
	// Requested values (RequestManagerValues).
	LockingValidated *Certificate   // a validated certificate this validator is locked on
	LockingFast      *BlockProposal // a fast proposal this validator is locked on
	// Proposed is the latest proposal it accepted. In the fast round it is the fast lock
	// itself: then it is encoded as a reference to LockingFast (the proposal, up to the
	// policy's MaxBlockSize with its blobs, is carried once), and Decode sets it to the
	// very pointer LockingFast holds.
	Proposed    *BlockProposal
	TimeoutCert *Certificate // the latest timeout certificate
}

// Variants of ManagerInfo.Proposed in the encoding. The first two are an Option's tags
// (the codec's 0 and 1, one byte each); ProposedFastLock is a third value of that byte.
const (
	proposedNone uint32 = iota
	proposedInline
	// proposedFastLock: Proposed is LockingFast (the same canonical bytes), not repeated.
	proposedFastLock
	numProposedTags
)

func encOpt[T any, P interface {
	*T
	codec.Encoder
}](w *codec.Writer, v P) {
	w.OptionTag(v != nil)
	if v != nil {
		v.Encode(w)
	}
}

func decOpt[T any, P interface {
	*T
	codec.Decoder
}](r *codec.Reader) P {
	if !r.OptionTag() {
		return nil
	}
	v := P(codec.New[T](r))
	v.Decode(r)
	return v
}

func (m *ManagerInfo) Encode(w *codec.Writer) {
	m.Ownership.Encode(w)
	w.Round(m.CurrentRound)
	encOptOwner(w, m.Leader)
	encOptU64(w, (*uint64)(m.RoundTimeout))
	encOpt(w, m.PendingVote)
	encOpt(w, m.TimeoutVote)
	encOpt(w, m.LockingValidated)
	from := w.Len()
	encOpt(w, m.LockingFast)
	switch {
	case m.Proposed == nil:
		w.Tag(proposedNone)
	case m.LockingFast != nil && (m.Proposed == m.LockingFast || m.Proposed.Content.Round == m.LockingFast.Content.Round && codec.EncodesTo(m.Proposed, w.Bytes()[from+1:])):
		// Chosen by value, not by pointer alone, so that the encoding stays canonical.
		w.Tag(proposedFastLock)
	default:
		w.Tag(proposedInline)
		m.Proposed.Encode(w)
	}
	encOpt(w, m.TimeoutCert)
}

func (m *ManagerInfo) Decode(r *codec.Reader) {
	m.Ownership.Decode(r)
	m.CurrentRound = r.Round()
	m.Leader = decOptOwner(r)
	m.RoundTimeout = (*base.Timestamp)(decOptU64(r))
	m.PendingVote = decOpt[Vote](r)
	m.TimeoutVote = decOpt[Vote](r)
	m.LockingValidated = decOpt[Certificate](r)
	from := r.Offset()
	m.LockingFast = decOpt[BlockProposal](r)
	fast := r.Since(from) // the fast lock's option tag and canonical bytes
	m.Proposed = nil
	switch r.Tag(numProposedTags) {
	case proposedInline:
		from := r.Offset()
		m.Proposed = codec.New[BlockProposal](r)
		m.Proposed.Decode(r)
		// Refuse what Encode would have written as a reference to the fast lock.
		if r.Err() == nil && m.LockingFast != nil && bytes.Equal(r.Since(from), fast[1:]) {
			r.Fail("manager info: proposal repeats the fast lock inline")
		}
	case proposedFastLock:
		if r.Err() == nil && m.LockingFast == nil {
			r.Fail("manager info: proposal refers to a missing fast lock")
		}
		m.Proposed = m.LockingFast
	}
	m.TimeoutCert = decOpt[Certificate](r)
}

// ChainAndHeight names a block.
type ChainAndHeight struct {
	ChainID base.ChainID
	Height  base.BlockHeight
}

func (c *ChainAndHeight) Encode(w *codec.Writer) {
	w.Hash(base.Hash(c.ChainID))
	w.U64(uint64(c.Height))
}
func (c *ChainAndHeight) Decode(r *codec.Reader) {
	c.ChainID = r.ChainID()
	c.Height = base.BlockHeight(r.U64())
}

// ChainInfo is a validator's answer about a chain.
type ChainInfo struct {
	ChainID               base.ChainID
	Epoch                 base.Epoch
	NextBlockHeight       base.BlockHeight
	BlockHash             *base.Hash
	Timestamp             base.Timestamp
	StateHash             base.Hash
	ChainBalance          base.Amount
	RequestedOwnerBalance *base.Amount
	Manager               ManagerInfo
	// RequestedPendingBundles are bundles in the inboxes, in order per origin. Infos
	// decoded with one DecodeMemo may share this slice: it is read-only. An info built
	// by a validator for the network may hold its bundles as bytes instead
	// (SetPendingBundleBytes): PendingBundles returns all of them.
	RequestedPendingBundles []IncomingBundle
	// pendingBytes are pending bundles after RequestedPendingBundles, as their bytes;
	// Decode never sets them (it decodes every bundle into RequestedPendingBundles).
	pendingBytes PendingBundleBytes
	// ReceivedLogLength is the total length of the received log.
	ReceivedLogLength    uint64
	RequestedReceivedLog []ChainAndHeight
}

func (c *ChainInfo) Encode(w *codec.Writer) {
	w.Hash(base.Hash(c.ChainID))
	w.U32(uint32(c.Epoch))
	w.U64(uint64(c.NextBlockHeight))
	encOptHash(w, c.BlockHash)
	w.U64(uint64(c.Timestamp))
	w.Hash(c.StateHash)
	w.Amount(c.ChainBalance)
	w.OptionTag(c.RequestedOwnerBalance != nil)
	if c.RequestedOwnerBalance != nil {
		w.Amount(*c.RequestedOwnerBalance)
	}
	c.Manager.Encode(w)
	c.encodePendingBundles(w)
	w.U64(c.ReceivedLogLength)
	codec.EncodeItems(w, c.RequestedReceivedLog)
}

func (c *ChainInfo) Decode(r *codec.Reader) { c.decode(r, nil) }

// DecodeMemo lets the chain infos of one fan-out share their pending bundles: every
// validator answers a query with the same bundles, which the client would otherwise
// decode once per validator. An info whose pending bundles have the very bytes of those
// decoded before with the memo gets the same slice (DecodeChainInfo). It is safe for
// concurrent use; the zero value is ready.
type DecodeMemo struct {
	mu sync.Mutex
	// busy, if not nil, is closed when the decode of bundles in progress ends: the
	// answers of a fan-out arrive nearly together, and one that waits for it skips its
	// own decode (the wait is no longer than that decode).
	busy chan struct{}
	// raw are the canonical bytes of bundles, a slice of the input they were decoded
	// from (which nobody modifies).
	raw     []byte
	bundles []IncomingBundle
}

// DecodeChainInfo decodes b strictly (as codec.Unmarshal). With memo, pending bundles
// whose bytes are those the memo holds are not decoded again: the info gets the memo's
// slice, which is therefore shared by several infos and must not be modified; other
// bundles are decoded and kept in the memo, if it holds none yet.
func DecodeChainInfo(b []byte, memo *DecodeMemo) (*ChainInfo, error) {
	c := new(ChainInfo)
	r := codec.NewReader(b)
	c.decode(r, memo)
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ChainInfo) decode(r *codec.Reader, memo *DecodeMemo) {
	c.ChainID = r.ChainID()
	c.Epoch = base.Epoch(r.U32())
	c.NextBlockHeight = base.BlockHeight(r.U64())
	c.BlockHash = decOptHash(r)
	c.Timestamp = base.Timestamp(r.U64())
	c.StateHash = r.Hash()
	c.ChainBalance = r.Amount()
	c.RequestedOwnerBalance = nil
	if r.OptionTag() {
		c.RequestedOwnerBalance = codec.Box(r, r.Amount())
	}
	c.Manager.Decode(r)
	c.RequestedPendingBundles = memo.pendingBundles(r)
	c.pendingBytes = PendingBundleBytes{}
	c.ReceivedLogLength = r.U64()
	c.RequestedReceivedLog = codec.DecodeItems[ChainAndHeight](r, 40)
}

// pendingBundles decodes a list of pending bundles, or reuses the memo's (m may be nil).
// A list of none is never kept (its one byte is not worth a memo).
func (m *DecodeMemo) pendingBundles(r *codec.Reader) []IncomingBundle {
	if m == nil {
		return codec.DecodeItems[IncomingBundle](r, 60)
	}
	m.mu.Lock()
	for m.raw == nil && m.busy != nil {
		busy := m.busy
		m.mu.Unlock()
		<-busy
		m.mu.Lock()
	}
	if m.raw != nil {
		raw, bundles := m.raw, m.bundles
		m.mu.Unlock()
		if r.SkipPrefix(raw) {
			return bundles
		}
		return codec.DecodeItems[IncomingBundle](r, 60)
	}
	busy := make(chan struct{})
	m.busy = busy
	m.mu.Unlock()
	start := r.Offset()
	bundles := codec.DecodeItems[IncomingBundle](r, 60)
	m.mu.Lock()
	if r.Err() == nil && len(bundles) > 0 {
		m.raw, m.bundles = r.Since(start), bundles
	}
	m.busy = nil
	close(busy)
	m.mu.Unlock()
	return bundles
}

// EpochBundle is a bundle with the epoch of the block that sent it.
type EpochBundle struct {
	Epoch  base.Epoch
	Bundle MessageBundle
}

// CrossChainRequest travels between the workers of one validator.
type CrossChainRequest struct {
	// Confirm distinguishes ConfirmUpdatedRecipient (true) from UpdateRecipient.
	Confirm   bool
	Sender    base.ChainID
	Recipient base.ChainID
	// UpdateRecipient: bundles from Sender to Recipient, in increasing cursor order.
	Bundles []EpochBundle
	// ConfirmUpdatedRecipient: every bundle up to this height was received.
	LatestHeight base.BlockHeight
}

func (c *CrossChainRequest) Encode(w *codec.Writer) {
	w.Bool(c.Confirm)
	w.Hash(base.Hash(c.Sender))
	w.Hash(base.Hash(c.Recipient))
	if c.Confirm {
		w.U64(uint64(c.LatestHeight))
		return
	}
	codec.EncodeSlice(w, c.Bundles, func(w *codec.Writer, b *EpochBundle) { w.U32(uint32(b.Epoch)); b.Bundle.Encode(w) })
}

func (c *CrossChainRequest) Decode(r *codec.Reader) {
	*c = CrossChainRequest{Confirm: r.Bool(), Sender: r.ChainID(), Recipient: r.ChainID()}
	if c.Confirm {
		c.LatestHeight = base.BlockHeight(r.U64())
		return
	}
	c.Bundles = codec.DecodeSlice(r, 56, func(r *codec.Reader, b *EpochBundle) { b.Epoch = base.Epoch(r.U32()); b.Bundle.Decode(r) })
}

// ReasonKind tells notifications apart.
type ReasonKind uint8

const (
	ReasonNewBlock ReasonKind = iota
	ReasonNewIncomingBundle
	ReasonNewRound
	// ReasonNewEvents: a confirmed block of the chain emitted events to a user stream
	// (one notification per stream and block).
	ReasonNewEvents
	numReasons
)

// Notification tells subscribers that something happened on a chain. Notifications carry
// no evidence: clients re-sync from certificates.
type Notification struct {
	ChainID base.ChainID
	Kind    ReasonKind
	Height  base.BlockHeight
	Hash    base.Hash    // NewBlock
	Origin  base.ChainID // NewIncomingBundle
	Round   base.Round   // NewRound
	// NewEvents: the stream (application, name) and its next index after the block.
	// The name is a string so that notifications stay comparable.
	App        base.ApplicationID
	StreamName string
	NextIndex  uint32
}

func (n *Notification) Encode(w *codec.Writer) {
	w.Hash(base.Hash(n.ChainID))
	w.Tag(uint32(n.Kind))
	w.U64(uint64(n.Height))
	switch n.Kind {
	case ReasonNewBlock:
		w.Hash(n.Hash)
	case ReasonNewIncomingBundle:
		w.Hash(base.Hash(n.Origin))
	case ReasonNewRound:
		w.Round(n.Round)
	case ReasonNewEvents:
		w.Hash(base.Hash(n.App))
		w.String(n.StreamName)
		w.U32(n.NextIndex)
	}
}

func (n *Notification) Decode(r *codec.Reader) {
	*n = Notification{ChainID: r.ChainID(), Kind: ReasonKind(r.Tag(uint32(numReasons))), Height: base.BlockHeight(r.U64())}
	switch n.Kind {
	case ReasonNewBlock:
		n.Hash = r.Hash()
	case ReasonNewIncomingBundle:
		n.Origin = r.ChainID()
	case ReasonNewRound:
		n.Round = r.Round()
	case ReasonNewEvents:
		n.App = base.ApplicationID(r.Hash())
		n.StreamName = r.String()
		n.NextIndex = r.U32()
		if len(n.StreamName) > MaxStreamNameLen {
			r.Fail("stream name of %d bytes", len(n.StreamName))
		}
	}
}
