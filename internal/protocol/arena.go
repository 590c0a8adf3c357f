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

// one returns a pointer to a new zero T: from s (at most bound more values will be
// asked of it), or allocated on its own when a is nil.
func one[T any](a *txArena, r *codec.Reader, s func(*txArena) *codec.Slab[T], bound int) *T {
	if a == nil {
		return codec.New[T](r)
	}
	return s(a).New(r, bound)
}

// many returns n zero Ts: from the slab s of a, or in one allocation of exactly n when a
// is nil. bound is as for one.
func many[T any](a *txArena, r *codec.Reader, s func(*txArena) *codec.Slab[T], n, bound int) []T {
	if a == nil {
		return codec.Make[T](r, n)
	}
	return s(a).Slice(r, n, bound)
}

func slabBundles(a *txArena) *codec.Slab[IncomingBundle]   { return &a.bundles }
func slabOps(a *txArena) *codec.Slab[Operation]            { return &a.ops }
func slabPosted(a *txArena) *codec.Slab[PostedMessage]     { return &a.posted }
func slabOutgoing(a *txArena) *codec.Slab[OutgoingMessage] { return &a.outgoing }
func slabTransfers(a *txArena) *codec.Slab[Transfer]       { return &a.transfers }
func slabCredits(a *txArena) *codec.Slab[Credit]           { return &a.credits }

// decodeTransactions reads a block's transactions with one arena.
func decodeTransactions(r *codec.Reader) []Transaction {
	n := r.Length(2)
	txs := many[Transaction](nil, r, nil, n, n)
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
	bs := many[IncomingBundle](nil, r, nil, n, n)
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
	out := many[[]OutgoingMessage](nil, r, nil, n, n)
	if len(out) == 0 {
		return nil
	}
	a := codec.New[txArena](r)
	for i := range out {
		k := r.Length(minOutgoingMessageSize)
		msgs := many(a, r, slabOutgoing, k, r.Remaining()/minOutgoingMessageSize)
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
