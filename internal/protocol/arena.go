package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// decodeArena holds the slabs (codec.Slab) of one decoding: the values that a block of
// transfers otherwise allocates one by one (a boxed operation, bundle and message per
// transaction, a one-element message list per bundle). Only inputs large enough to hold
// many of them get one (codec.ArenaOf); a nil arena allocates as before.
type decodeArena struct {
	transfers  codec.Slab[Transfer]
	credits    codec.Slab[Credit]
	owners     codec.Slab[base.Owner]
	operations codec.Slab[Operation]
	bundles    codec.Slab[IncomingBundle]
	posted     codec.Slab[PostedMessage]
	outgoing   codec.Slab[OutgoingMessage]
}

// The fewest bytes each value takes in the input (they bound a slab's chunk).
const (
	minTransfer       = 1 + 2 + 32 + 2 + 16 // tag, owner, account, amount
	minCredit         = 1 + 2 + 16 + 2      // tag, owner, amount, owner
	minOptOwner       = 1 + 2               // option tag, owner
	minOperation      = 2                   // tag, tag of a system operation without fields
	minIncomingBundle = 32 + 8 + 8 + 32 + 4 + 1 + 1
	minPosted         = 4
	minOutgoing       = 36
)

// slabs are the slabs of a decoding's arena, all nil (every value allocated on its
// own) when it has none.
type slabs struct {
	transfers  *codec.Slab[Transfer]
	credits    *codec.Slab[Credit]
	owners     *codec.Slab[base.Owner]
	operations *codec.Slab[Operation]
	bundles    *codec.Slab[IncomingBundle]
	posted     *codec.Slab[PostedMessage]
	outgoing   *codec.Slab[OutgoingMessage]
}

func arena(r *codec.Reader) slabs {
	a := codec.ArenaOf[decodeArena](r)
	if a == nil {
		return slabs{}
	}
	return slabs{&a.transfers, &a.credits, &a.owners, &a.operations, &a.bundles, &a.posted, &a.outgoing}
}
