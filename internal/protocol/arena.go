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

func arena(r *codec.Reader) *decodeArena { return codec.ArenaOf[decodeArena](r) }

// The slabs of a, or nil (allocate each value) when a is nil.

func (a *decodeArena) transferSlab() *codec.Slab[Transfer] {
	if a == nil {
		return nil
	}
	return &a.transfers
}

func (a *decodeArena) creditSlab() *codec.Slab[Credit] {
	if a == nil {
		return nil
	}
	return &a.credits
}

func (a *decodeArena) ownerSlab() *codec.Slab[base.Owner] {
	if a == nil {
		return nil
	}
	return &a.owners
}

func (a *decodeArena) operationSlab() *codec.Slab[Operation] {
	if a == nil {
		return nil
	}
	return &a.operations
}

func (a *decodeArena) bundleSlab() *codec.Slab[IncomingBundle] {
	if a == nil {
		return nil
	}
	return &a.bundles
}

func (a *decodeArena) postedSlab() *codec.Slab[PostedMessage] {
	if a == nil {
		return nil
	}
	return &a.posted
}

func (a *decodeArena) outgoingSlab() *codec.Slab[OutgoingMessage] {
	if a == nil {
		return nil
	}
	return &a.outgoing
}
