package protocol

import "github.com/micachain/mica/internal/codec"

// txArena holds the slabs (codec.Slab) that one decode of many transactions, bundles
// or outgoing messages allocates from: a block of 100 received bundles and 100
// transfers costs a few chunks per type instead of one allocation per bundle,
// operation, message list and boxed system operation or message. A nil *txArena
// allocates each value on its own (decoding one bundle from the inbox, say), which for
// a single value is cheaper than a slab's chunk and the arena itself.
//
// The values of one decode share chunks: one of them kept alive keeps its chunk (up to
// a few KiB) alive. Every chunk, and the arena itself, is charged to the reader's
// budget.
type txArena struct {
	bundles   codec.Slab[IncomingBundle]
	ops       codec.Slab[Operation]
	posted    codec.Slab[PostedMessage]
	outgoing  codec.Slab[OutgoingMessage]
	transfers codec.Slab[Transfer]
	credits   codec.Slab[Credit]
}

// Smallest encodings, which bound how many values the remaining input can still hold.
const (
	minCreditSize          = 21 // tag, two reserved owners, amount
	minPostedMessageSize   = 4  // what decoders have always assumed for the Length check
	minOutgoingMessageSize = 36
)

// The allocators below take from a's slabs (at most bound more values will be asked
// of each) or, when a is nil, allocate each value (slice) on its own.

func (a *txArena) bundle(r *codec.Reader, bound int) *IncomingBundle {
	if a == nil {
		return codec.New[IncomingBundle](r)
	}
	return a.bundles.New(r, bound)
}

func (a *txArena) operation(r *codec.Reader, bound int) *Operation {
	if a == nil {
		return codec.New[Operation](r)
	}
	return a.ops.New(r, bound)
}

func (a *txArena) transfer(r *codec.Reader, bound int) *Transfer {
	if a == nil {
		return codec.New[Transfer](r)
	}
	return a.transfers.New(r, bound)
}

func (a *txArena) credit(r *codec.Reader, bound int) *Credit {
	if a == nil {
		return codec.New[Credit](r)
	}
	return a.credits.New(r, bound)
}

func (a *txArena) postedMessages(r *codec.Reader, n, bound int) []PostedMessage {
	if a == nil {
		return codec.Make[PostedMessage](r, n)
	}
	return a.posted.Slice(r, n, bound)
}

func (a *txArena) outgoingMessages(r *codec.Reader, n, bound int) []OutgoingMessage {
	if a == nil {
		return codec.Make[OutgoingMessage](r, n)
	}
	return a.outgoing.Slice(r, n, bound)
}

// decodeTransactions reads a block's transactions with one arena.
func decodeTransactions(r *codec.Reader) []Transaction {
	n := r.Length(2)
	txs := codec.Make[Transaction](r, n)
	if len(txs) == 0 {
		return nil
	}
	a := codec.New[txArena](r)
	for i := range txs {
		txs[i].decode(r, a, n-i)
		if r.Err() != nil {
			return nil
		}
	}
	return txs
}

// decodeIncomingBundles reads a sequence of incoming bundles (values) with one arena
// for their messages.
func decodeIncomingBundles(r *codec.Reader, minSize int) []IncomingBundle {
	n := r.Length(minSize)
	bs := codec.Make[IncomingBundle](r, n)
	if len(bs) == 0 {
		return nil
	}
	a := codec.New[txArena](r)
	for i := range bs {
		bs[i].decode(r, a)
		if r.Err() != nil {
			return nil
		}
	}
	return bs
}

// decodeOutgoing reads an outcome's messages, one list per transaction, with one arena.
func decodeOutgoing(r *codec.Reader) [][]OutgoingMessage {
	n := r.Length(1)
	out := codec.Make[[]OutgoingMessage](r, n)
	if len(out) == 0 {
		return nil
	}
	a := codec.New[txArena](r)
	for i := range out {
		k := r.Length(minOutgoingMessageSize)
		msgs := a.outgoingMessages(r, k, r.Remaining()/minOutgoingMessageSize)
		for j := range msgs {
			msgs[j].decode(r, a)
		}
		if r.Err() != nil {
			return nil
		}
		out[i] = msgs
	}
	return out
}
