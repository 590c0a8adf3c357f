package protocol

import (
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// decodeArena holds the slabs (codec.Slab) of a decoding that only checks its input
// decodes (codec.DecodesWithin): the memory of the values a block of transfers has one
// of per transaction (a boxed operation, bundle and message, a one-element message
// list), handed out again and again instead of allocated. Sound because no decoder
// reads a value back once it has taken the next one from the same slab: the checks made
// while decoding read lengths and bytes (a block's hash, computed from the values of its
// header, is dropped with it).
//
// Only DecodesWithin uses these arenas: every other decoding allocates each value, as
// before (codec.BoxIn and codec.DecodeItemsIn are then codec.Box and DecodeItems), so
// the budget is charged exactly as it always was, checks included.
type decodeArena struct {
	transfers  codec.Slab[Transfer]
	credits    codec.Slab[Credit]
	owners     codec.Slab[base.Owner]
	operations codec.Slab[Operation]
	bundles    codec.Slab[IncomingBundle]
	posted     codec.Slab[PostedMessage]
	outgoing   codec.Slab[OutgoingMessage]
	// The lists of a block: its transactions, and the outcome's lists per transaction.
	transactions  codec.Slab[Transaction]
	outgoingLists codec.Slab[[]OutgoingMessage]
	oracleLists   codec.Slab[[]OracleResponse]
	eventLists    codec.Slab[[]Event]
	blobLists     codec.Slab[[]Blob]
	results       codec.Slab[[]byte]
}

// slabs are the slabs of a decoding's arena, all nil (every value allocated) when it has
// none: every decoding but a check's.
type slabs struct {
	transfers  *codec.Slab[Transfer]
	credits    *codec.Slab[Credit]
	owners     *codec.Slab[base.Owner]
	operations *codec.Slab[Operation]
	bundles    *codec.Slab[IncomingBundle]
	posted     *codec.Slab[PostedMessage]
	outgoing   *codec.Slab[OutgoingMessage]

	transactions  *codec.Slab[Transaction]
	outgoingLists *codec.Slab[[]OutgoingMessage]
	oracleLists   *codec.Slab[[]OracleResponse]
	eventLists    *codec.Slab[[]Event]
	blobLists     *codec.Slab[[]Blob]
	results       *codec.Slab[[]byte]
}

func arena(r *codec.Reader) slabs {
	a := codec.ArenaOf[decodeArena](r)
	if a == nil {
		return slabs{}
	}
	return slabs{&a.transfers, &a.credits, &a.owners, &a.operations, &a.bundles, &a.posted, &a.outgoing,
		&a.transactions, &a.outgoingLists, &a.oracleLists, &a.eventLists, &a.blobLists, &a.results}
}

// DecodesWithin is codec.DecodesWithin with an arena kept between checks, so that a
// validator checking the blocks it votes for reuses the same memory: v (a Block, a
// BlockExecutionOutcome, a Certificate...) must be dropped unread afterwards.
func DecodesWithin(b []byte, budget int, v codec.Decoder) error {
	a := checkArenas.Get().(*decodeArena)
	err := codec.DecodesWithin(b, budget, v, a)
	a.clear()
	checkArenas.Put(a)
	return err
}

// checkArenas is a cache of arenas, with no effect on results (as codec's pools).
var checkArenas = sync.Pool{New: func() any { return new(decodeArena) }}

// clear drops what the last check's values refer to (blob contents, event values).
func (a *decodeArena) clear() {
	a.transfers.Clear()
	a.credits.Clear()
	a.owners.Clear()
	a.operations.Clear()
	a.bundles.Clear()
	a.posted.Clear()
	a.outgoing.Clear()
	a.transactions.Clear()
	a.outgoingLists.Clear()
	a.oracleLists.Clear()
	a.eventLists.Clear()
	a.blobLists.Clear()
	a.results.Clear()
}
