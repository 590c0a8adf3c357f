package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// StreamID names an event stream: the emitting application (nil for the system) and a
// name.
type StreamID struct {
	App  *base.ApplicationID
	Name []byte
}

// System event streams on the admin chain.
var (
	// NewEpochStream carries, at index e, the committee blob hash of epoch e.
	NewEpochStream = StreamID{Name: []byte{0}}
	// RemovedEpochStream carries, at index e, an empty event when epoch e is revoked.
	RemovedEpochStream = StreamID{Name: []byte{1}}
)

func (s *StreamID) Encode(w *codec.Writer) {
	w.OptionTag(s.App != nil)
	if s.App != nil {
		w.Hash(base.Hash(*s.App))
	}
	w.VarBytes(s.Name)
}

func (s *StreamID) Decode(r *codec.Reader) {
	s.App = nil
	if r.OptionTag() {
		s.App = codec.Box(r, base.ApplicationID(r.Hash()))
	}
	s.Name = r.VarBytes()
}

// Key returns a compact byte form usable as a map or storage key.
func (s *StreamID) Key() []byte { return codec.Marshal(s) }

// Event is one entry of a stream, emitted by a transaction.
type Event struct {
	Stream StreamID
	Index  uint32
	Value  []byte
}

func (e *Event) Encode(w *codec.Writer) { e.Stream.Encode(w); w.U32(e.Index); w.VarBytes(e.Value) }
func (e *Event) Decode(r *codec.Reader) {
	e.Stream.Decode(r)
	e.Index = r.U32()
	e.Value = r.VarBytes()
}

// EventID locates an event globally.
type EventID struct {
	Chain  base.ChainID
	Stream StreamID
	Index  uint32
}

func (e *EventID) Encode(w *codec.Writer) {
	w.Hash(base.Hash(e.Chain))
	e.Stream.Encode(w)
	w.U32(e.Index)
}
func (e *EventID) Decode(r *codec.Reader) {
	e.Chain = r.ChainID()
	e.Stream.Decode(r)
	e.Index = r.U32()
}

// OracleKind tells oracle responses apart.
type OracleKind uint8

const (
	// OracleBlob records that a blob was read (its content is content-addressed).
	OracleBlob OracleKind = iota
	// OracleEvent records the value of an event read from another chain's stream.
	OracleEvent
	// OracleHTTP records an HTTP response: the hash of the request (Request), the
	// status code (Status) and the body (Value).
	OracleHTTP
	// OracleService records the answer (Value) of an application's service queried by
	// a contract, with the hash of the query (Request).
	OracleService
	// OracleAssert records that the validator's clock was before a deadline the
	// contract asserted (no payload).
	OracleAssert
	numOracleKinds
)

// OracleResponse is a recorded answer to a non-deterministic input. Validators executing a
// fresh proposal obtain it for real and record it in the outcome; executing a certified
// block replays the recorded answer.
type OracleResponse struct {
	Kind  OracleKind
	Blob  base.BlobID // OracleBlob
	Event EventID     // OracleEvent
	Value []byte      // OracleEvent, OracleHTTP (body), OracleService (answer)
	// Request is the hash of what was asked (OracleHTTP: the request; OracleService: the
	// application and query), so that replay refuses a different request.
	Request base.Hash // OracleHTTP, OracleService
	Status  uint16    // OracleHTTP: the HTTP status code
}

func (o *OracleResponse) Encode(w *codec.Writer) {
	w.Tag(uint32(o.Kind))
	switch o.Kind {
	case OracleBlob:
		w.BlobID(o.Blob)
	case OracleEvent:
		o.Event.Encode(w)
		w.VarBytes(o.Value)
	case OracleHTTP:
		w.Hash(o.Request)
		w.U16(o.Status)
		w.VarBytes(o.Value)
	case OracleService:
		w.Hash(o.Request)
		w.VarBytes(o.Value)
	case OracleAssert:
	}
}

func (o *OracleResponse) Decode(r *codec.Reader) {
	*o = OracleResponse{Kind: OracleKind(r.Tag(uint32(numOracleKinds)))}
	switch o.Kind {
	case OracleBlob:
		o.Blob = r.BlobID()
	case OracleEvent:
		o.Event.Decode(r)
		o.Value = r.VarBytes()
	case OracleHTTP:
		o.Request = r.Hash()
		o.Status = r.U16()
		o.Value = r.VarBytes()
	case OracleService:
		o.Request = r.Hash()
		o.Value = r.VarBytes()
	case OracleAssert:
	}
}

// ProposedBlock is what an owner proposes: the block without its execution outcome.
type ProposedBlock struct {
	ChainID           base.ChainID
	Epoch             base.Epoch
	Height            base.BlockHeight
	Timestamp         base.Timestamp
	PreviousBlockHash *base.Hash
	// AuthenticatedOwner is the signer of the proposal; it pays fees and authorizes
	// transfers from its account.
	AuthenticatedOwner *base.Owner
	Transactions       []Transaction
}

func (b *ProposedBlock) Encode(w *codec.Writer) { b.encode(w) }

// encode writes the block and returns the length w had where the transactions start.
func (b *ProposedBlock) encode(w *codec.Writer) (txsStart int) {
	w.Hash(base.Hash(b.ChainID))
	w.U32(uint32(b.Epoch))
	w.U64(uint64(b.Height))
	w.U64(uint64(b.Timestamp))
	encOptHash(w, b.PreviousBlockHash)
	encOptOwner(w, b.AuthenticatedOwner)
	txsStart = w.Len()
	codec.EncodeItems(w, b.Transactions)
	return txsStart
}

func (b *ProposedBlock) Decode(r *codec.Reader) { b.decode(r) }

// decode reads the block and returns the input bytes its transactions were decoded from
// (their canonical encoding: see codec.Reader.Since).
func (b *ProposedBlock) decode(r *codec.Reader) (txs []byte) {
	b.ChainID = r.ChainID()
	b.Epoch = base.Epoch(r.U32())
	b.Height = base.BlockHeight(r.U64())
	b.Timestamp = base.Timestamp(r.U64())
	b.PreviousBlockHash = decOptHash(r)
	b.AuthenticatedOwner = decOptOwner(r)
	from := r.Offset()
	b.Transactions = codec.DecodeItemsIn(r, arena(r).transactions, 2)
	return r.Since(from)
}

// ProposalDigest is what executing a proposed block needs of its encoding: the size of
// the canonical encoding (which ResourcePolicy.MaxBlockSize bounds) and the hash of the
// transactions (BlockHeader.TransactionsHash), both from one encoding.
type ProposalDigest struct {
	Size             uint64
	TransactionsHash base.Hash
}

// Digest encodes the block once and returns its size and transactions hash.
func (b *ProposedBlock) Digest() ProposalDigest {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	start := b.encode(w)
	return ProposalDigest{Size: uint64(w.Len()), TransactionsHash: crypto.HashBytes(hashTransactions, w.Bytes()[start:])}
}

// Bundles returns the incoming bundles of the block, in order.
func (b *ProposedBlock) Bundles() []*IncomingBundle {
	var out []*IncomingBundle
	for i := range b.Transactions {
		if t := b.Transactions[i].Bundle; t != nil {
			out = append(out, t)
		}
	}
	return out
}

// PublishedBlobIDs returns the blobs the block declares it publishes.
func (b *ProposedBlock) PublishedBlobIDs() []base.BlobID {
	var out []base.BlobID
	for i := range b.Transactions {
		if op := b.Transactions[i].Operation; op != nil {
			switch p := op.System.(type) {
			case *PublishDataBlob:
				out = append(out, base.BlobID{Type: base.BlobData, Hash: p.Hash})
			case *PublishModule:
				out = append(out, p.Module.ContractBlob(), p.Module.ServiceBlob())
			}
		}
	}
	return out
}

// CheckShape checks what can be checked without state: at least one transaction, every
// transaction set, a previous hash exactly when the height is positive.
func (b *ProposedBlock) CheckShape() error {
	if len(b.Transactions) == 0 {
		return base.Invalidf("block has no transactions")
	}
	for i := range b.Transactions {
		t := &b.Transactions[i]
		if (t.Bundle == nil) == (t.Operation == nil) {
			return base.Invalidf("transaction %d must be exactly one of a bundle or an operation", i)
		}
		if t.Operation != nil && t.Operation.System == nil && t.Operation.Bytes == nil {
			return base.Invalidf("transaction %d: user operation without payload", i)
		}
	}
	if (b.Height == 0) != (b.PreviousBlockHash == nil) {
		return base.Invalidf("block at height %d: previous block hash must be set exactly when height > 0", b.Height)
	}
	return nil
}

// BlockExecutionOutcome is the result of executing a proposed block. Its slices have one
// entry per transaction.
type BlockExecutionOutcome struct {
	Messages         [][]OutgoingMessage
	StateHash        base.Hash
	OracleResponses  [][]OracleResponse
	Events           [][]Event
	Blobs            [][]Blob // blobs created by execution (chain and committee descriptions)
	OperationResults [][]byte // one per transaction; empty for bundles
}

func encodeNested[T any, P interface {
	*T
	codec.Encoder
}](w *codec.Writer, s [][]T) {
	w.Length(len(s))
	for _, inner := range s {
		codec.EncodeItems[T, P](w, inner)
	}
}

// decodeNested reads a list of lists; lists and inner are the slabs of a check's
// decoding (arena), nil otherwise.
func decodeNested[T any, P interface {
	*T
	codec.Decoder
}](r *codec.Reader, lists *codec.Slab[[]T], inner *codec.Slab[T], minSize int) [][]T {
	return codec.DecodeSliceIn(r, lists, 1, func(r *codec.Reader, in *[]T) { *in = codec.DecodeItemsIn[T, P](r, inner, minSize) })
}

func (o *BlockExecutionOutcome) Encode(w *codec.Writer) {
	o.encodeMessages(w)
	w.Hash(o.StateHash)
	o.encodeOracles(w)
	o.encodeEvents(w)
	o.encodeBlobs(w)
	o.encodeResults(w)
}

func (o *BlockExecutionOutcome) encodeMessages(w *codec.Writer) { encodeNested(w, o.Messages) }
func (o *BlockExecutionOutcome) encodeOracles(w *codec.Writer)  { encodeNested(w, o.OracleResponses) }
func (o *BlockExecutionOutcome) encodeEvents(w *codec.Writer)   { encodeNested(w, o.Events) }
func (o *BlockExecutionOutcome) encodeBlobs(w *codec.Writer)    { encodeNested(w, o.Blobs) }
func (o *BlockExecutionOutcome) encodeResults(w *codec.Writer) {
	codec.EncodeSlice(w, o.OperationResults, func(w *codec.Writer, b *[]byte) { w.VarBytes(*b) })
}

func (o *BlockExecutionOutcome) Decode(r *codec.Reader) { o.decode(r) }

// OutcomeBaseSize is the length of the canonical encoding of an outcome of n
// transactions before their entries: the state hash and the five lengths. The encoding
// of an outcome is OutcomeBaseSize(n) plus TxSize(i) for each transaction i, so a block
// executed transaction by transaction knows its outcome's size as it grows
// (ResourcePolicy.MaxBlockOutcomeBytes).
func OutcomeBaseSize(n int) uint64 {
	return base.HashSize + 5*uint64(ulebLen(uint64(n)))
}

// TxSize is the length of transaction i's entries (messages, oracle responses, events,
// blobs, operation result) in the outcome's canonical encoding. Each part must have an
// entry i.
func (o *BlockExecutionOutcome) TxSize(i int) uint64 {
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	codec.EncodeItems(w, o.Messages[i])
	codec.EncodeItems(w, o.OracleResponses[i])
	codec.EncodeItems(w, o.Events[i])
	codec.EncodeItems(w, o.Blobs[i])
	w.VarBytes(o.OperationResults[i])
	return uint64(w.Len())
}

// ulebLen is the length of v's unsigned LEB128 encoding (codec.Writer.Uleb).
func ulebLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// outcomeParts are the input bytes each hashed part of an outcome was decoded from.
type outcomeParts struct {
	messages, oracles, events, blobs, results []byte
}

func (o *BlockExecutionOutcome) decode(r *codec.Reader) (p outcomeParts) {
	from := r.Offset()
	a := arena(r)
	o.Messages = decodeNested(r, a.outgoingLists, a.outgoing, 36)
	p.messages = r.Since(from)
	o.StateHash = r.Hash()
	from = r.Offset()
	o.OracleResponses = decodeNested(r, a.oracleLists, nil, 2)
	p.oracles = r.Since(from)
	from = r.Offset()
	o.Events = decodeNested(r, a.eventLists, nil, 6)
	p.events = r.Since(from)
	from = r.Offset()
	o.Blobs = decodeNested(r, a.blobLists, nil, 2)
	p.blobs = r.Since(from)
	from = r.Offset()
	o.OperationResults = codec.DecodeSliceIn(r, a.results, 1, func(r *codec.Reader, b *[]byte) { *b = r.VarBytes() })
	p.results = r.Since(from)
	return p
}

// Block is a proposed block with its execution outcome: what validators certify.
type Block struct {
	Proposed ProposedBlock
	Outcome  BlockExecutionOutcome
	hash     base.Hash // cached by NewBlock and Decode
}

// NewBlock joins a proposal and its outcome and computes the hash. The block must not be
// mutated afterwards.
func NewBlock(p ProposedBlock, o BlockExecutionOutcome) *Block {
	b := &Block{Proposed: p, Outcome: o}
	h := b.Header()
	b.hash = h.Hash()
	return b
}

// NewBlockWithDigest is NewBlock for a caller that holds p.Digest() already: the
// transactions are not encoded again. d must be p's digest.
func NewBlockWithDigest(p ProposedBlock, o BlockExecutionOutcome, d ProposalDigest) *Block {
	b := &Block{Proposed: p, Outcome: o}
	h := b.header(d.TransactionsHash)
	b.hash = h.Hash()
	return b
}

// Hash returns the block hash: the hash of its header.
func (b *Block) Hash() base.Hash {
	if b.hash.IsZero() {
		h := b.Header()
		return h.Hash()
	}
	return b.hash
}

// ChainID, Height and Epoch are shorthands.
func (b *Block) ChainID() base.ChainID    { return b.Proposed.ChainID }
func (b *Block) Height() base.BlockHeight { return b.Proposed.Height }
func (b *Block) Epoch() base.Epoch        { return b.Proposed.Epoch }

func (b *Block) Encode(w *codec.Writer) { b.Proposed.Encode(w); b.Outcome.Encode(w) }

// Decode reads the block and computes its hash from the input bytes of each hashed part,
// which are their canonical encoding (the decoder is strict), so nothing is encoded again.
func (b *Block) Decode(r *codec.Reader) {
	txs := b.Proposed.decode(r)
	parts := b.Outcome.decode(r)
	if r.Err() == nil {
		n := len(b.Proposed.Transactions)
		o := &b.Outcome
		if len(o.Messages) != n || len(o.OracleResponses) != n || len(o.Events) != n || len(o.Blobs) != n || len(o.OperationResults) != n {
			r.Fail("block outcome does not have one entry per transaction")
			return
		}
		h := b.headerFrom(crypto.HashBytes(hashTransactions, txs), parts)
		b.hash = h.Hash()
	}
}

// BlockHeader commits to the whole block: the proposal's scalar fields and a hash of each
// body part.
type BlockHeader struct {
	ChainID              base.ChainID
	Epoch                base.Epoch
	Height               base.BlockHeight
	Timestamp            base.Timestamp
	StateHash            base.Hash
	PreviousBlockHash    *base.Hash
	AuthenticatedOwner   *base.Owner
	TransactionsHash     base.Hash
	MessagesHash         base.Hash
	OracleResponsesHash  base.Hash
	EventsHash           base.Hash
	BlobsHash            base.Hash
	OperationResultsHash base.Hash
}

type encodeFunc func(w *codec.Writer)

func (f encodeFunc) Encode(w *codec.Writer) { f(w) }

// Type names of the block header's sub-hashes.
const (
	hashTransactions     = "BlockTransactions"
	hashMessages         = "BlockMessages"
	hashOracleResponses  = "BlockOracleResponses"
	hashEvents           = "BlockEvents"
	hashBlobs            = "BlockBlobs"
	hashOperationResults = "BlockOperationResults"
)

// Header computes the header.
func (b *Block) Header() BlockHeader {
	p := &b.Proposed
	return b.header(crypto.HashValue(hashTransactions, encodeFunc(func(w *codec.Writer) { codec.EncodeItems(w, p.Transactions) })))
}

// header computes the header given the transactions hash.
func (b *Block) header(txsHash base.Hash) BlockHeader {
	o := &b.Outcome
	h := b.headerFields(txsHash)
	h.MessagesHash = crypto.HashValue(hashMessages, encodeFunc(o.encodeMessages))
	h.OracleResponsesHash = crypto.HashValue(hashOracleResponses, encodeFunc(o.encodeOracles))
	h.EventsHash = crypto.HashValue(hashEvents, encodeFunc(o.encodeEvents))
	h.BlobsHash = crypto.HashValue(hashBlobs, encodeFunc(o.encodeBlobs))
	h.OperationResultsHash = crypto.HashValue(hashOperationResults, encodeFunc(o.encodeResults))
	return h
}

// headerFrom computes the header from the canonical bytes of the outcome's parts.
func (b *Block) headerFrom(txsHash base.Hash, parts outcomeParts) BlockHeader {
	h := b.headerFields(txsHash)
	h.MessagesHash = crypto.HashBytes(hashMessages, parts.messages)
	h.OracleResponsesHash = crypto.HashBytes(hashOracleResponses, parts.oracles)
	h.EventsHash = crypto.HashBytes(hashEvents, parts.events)
	h.BlobsHash = crypto.HashBytes(hashBlobs, parts.blobs)
	h.OperationResultsHash = crypto.HashBytes(hashOperationResults, parts.results)
	return h
}

// headerFields fills the header's scalar fields and the transactions hash.
func (b *Block) headerFields(txsHash base.Hash) BlockHeader {
	p := &b.Proposed
	return BlockHeader{
		ChainID:            p.ChainID,
		Epoch:              p.Epoch,
		Height:             p.Height,
		Timestamp:          p.Timestamp,
		StateHash:          b.Outcome.StateHash,
		PreviousBlockHash:  p.PreviousBlockHash,
		AuthenticatedOwner: p.AuthenticatedOwner,
		TransactionsHash:   txsHash,
	}
}

func (h *BlockHeader) Encode(w *codec.Writer) {
	w.Hash(base.Hash(h.ChainID))
	w.U32(uint32(h.Epoch))
	w.U64(uint64(h.Height))
	w.U64(uint64(h.Timestamp))
	w.Hash(h.StateHash)
	encOptHash(w, h.PreviousBlockHash)
	encOptOwner(w, h.AuthenticatedOwner)
	for _, x := range []base.Hash{h.TransactionsHash, h.MessagesHash, h.OracleResponsesHash, h.EventsHash, h.BlobsHash, h.OperationResultsHash} {
		w.Hash(x)
	}
}

// Hash returns HashValue("BlockHeader", h), the block hash.
func (h *BlockHeader) Hash() base.Hash { return crypto.HashValue("BlockHeader", h) }

// OutgoingBundles groups the block's outgoing messages into one bundle per (transaction,
// recipient), in transaction order, then by first appearance of the recipient.
func (b *Block) OutgoingBundles() map[base.ChainID][]MessageBundle {
	out := make(map[base.ChainID][]MessageBundle)
	hash := b.Hash()
	for tx, msgs := range b.Outcome.Messages {
		for i := range msgs {
			m := &msgs[i]
			bundles := out[m.Destination]
			if n := len(bundles); n == 0 || bundles[n-1].TransactionIndex != uint32(tx) {
				bundles = append(bundles, MessageBundle{Height: b.Proposed.Height, Timestamp: b.Proposed.Timestamp, CertificateHash: hash, TransactionIndex: uint32(tx)})
			}
			bundles[len(bundles)-1].Messages = append(bundles[len(bundles)-1].Messages, m.Posted(uint32(i)))
			out[m.Destination] = bundles
		}
	}
	return out
}

// OutgoingBundlesTo returns OutgoingBundles()[recipient] without building the other
// recipients' bundles: one slice of bundles and one of messages (each bundle's Messages
// a full slice expression of it, so appending to one does not reach the next). Cross-chain
// delivery calls it for every undelivered height of every (sender, recipient) pair.
func (b *Block) OutgoingBundlesTo(recipient base.ChainID) []MessageBundle {
	bundles, messages := 0, 0
	for _, msgs := range b.Outcome.Messages {
		n := 0
		for i := range msgs {
			if msgs[i].Destination == recipient {
				n++
			}
		}
		if n > 0 {
			bundles++
			messages += n
		}
	}
	if bundles == 0 {
		return nil
	}
	out := make([]MessageBundle, 0, bundles)
	posted := make([]PostedMessage, 0, messages)
	hash := b.Hash()
	for tx, msgs := range b.Outcome.Messages {
		start := len(posted)
		for i := range msgs {
			if m := &msgs[i]; m.Destination == recipient {
				posted = append(posted, m.Posted(uint32(i)))
			}
		}
		if len(posted) > start {
			out = append(out, MessageBundle{Height: b.Proposed.Height, Timestamp: b.Proposed.Timestamp, CertificateHash: hash,
				TransactionIndex: uint32(tx), Messages: posted[start:len(posted):len(posted)]})
		}
	}
	return out
}

// Recipients returns the chains the block sends messages to, sorted.
func (b *Block) Recipients() []base.ChainID {
	seen := make(map[base.ChainID]bool)
	var out []base.ChainID
	for _, msgs := range b.Outcome.Messages {
		for i := range msgs {
			if d := msgs[i].Destination; !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sortChainIDs(out)
	return out
}

// CreatedBlobs returns all blobs created by execution.
func (b *Block) CreatedBlobs() []Blob {
	var out []Blob
	for _, bs := range b.Outcome.Blobs {
		out = append(out, bs...)
	}
	return out
}
