package client

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// PendingBundles returns the bundles waiting in a chain's inboxes as the validators
// report them (each reported by at least f+1 of the weight, at the local replica's
// height): what ProcessInbox would receive. Sync the chain first; a replica behind the
// validators sees none.
func (c *Client) PendingBundles(ctx context.Context, id base.ChainID) ([]protocol.IncomingBundle, error) {
	tip, err := c.LocalTip(ctx, id)
	if err != nil {
		return nil, err
	}
	epoch, err := c.localEpoch(ctx, id)
	if err != nil {
		return nil, err
	}
	m, err := c.epochMembers(ctx, id, epoch)
	if err != nil {
		return nil, err
	}
	cc := &ChainClient{c: c, id: id}
	return cc.pendingBundles(ctx, m, tip.NextHeight), nil
}
