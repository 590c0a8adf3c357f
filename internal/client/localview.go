package client

import (
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// localView is what building a block reads from the local replica of its chain, read
// under one acquisition of the chain in the local node (each separate read takes the
// chain's lock and looks its state up again).
type localView struct {
	tip        chain.Tip
	epoch      base.Epoch
	committees []protocol.EpochCommittee // the epochs the chain trusts
	ownership  protocol.ChainOwnership
	closed     bool
	admin      base.ChainID // the chain's admin chain (itself for the admin chain)
}

// readLocal reads the local replica's view of chain id.
func (c *Client) readLocal(ctx context.Context, id base.ChainID) (*localView, error) {
	v := &localView{}
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		if v.tip, err = s.Tip(ctx); err != nil {
			return err
		}
		ex := s.Execution()
		if v.epoch, err = ex.Epoch(ctx); err != nil {
			return err
		}
		// The chain state's cached slice: read-only here.
		if v.committees, err = s.Committees(ctx); err != nil {
			return err
		}
		if v.ownership, err = ex.Ownership(ctx); err != nil {
			return err
		}
		if v.closed, err = ex.IsClosed(ctx); err != nil {
			return err
		}
		v.admin, err = ex.AdminChain(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.admin == (base.ChainID{}) {
		v.admin = id // the chain is the admin chain
	}
	return v, nil
}

// committee returns the committee the chain trusts for epoch (committeeFor over the
// view).
func (v *localView) committee(ctx context.Context, c *Client, id base.ChainID, epoch base.Epoch) (*protocol.Committee, error) {
	return c.committeeIn(ctx, id, v.committees, epoch)
}

// committeeIn returns the committee that ecs (the epochs chain id trusts, from the
// local replica) names for epoch. It fails with worker.ErrUntrustedEpoch if the chain
// does not trust that epoch (unknown or revoked), which is the answer for any
// certificate claiming it.
func (c *Client) committeeIn(ctx context.Context, id base.ChainID, ecs []protocol.EpochCommittee, epoch base.Epoch) (*protocol.Committee, error) {
	var hash base.Hash
	found := false
	for _, ec := range ecs {
		if ec.Epoch == epoch {
			hash, found = ec.CommitteeHash, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: chain %s does not trust epoch %d (unknown or revoked)", worker.ErrUntrustedEpoch, id.Short(), epoch)
	}
	cm, err := c.committeeByHash(ctx, hash)
	if base.IsNotFound(err) {
		// The chain was created trusting a committee the local node has not seen yet:
		// the admin chain's block that created it has it.
		admin, aerr := c.adminChain(ctx, id)
		if aerr != nil || admin == id {
			return nil, err
		}
		if _, serr := c.SyncChain(ctx, admin); serr != nil {
			return nil, serr
		}
		cm, err = c.committeeByHash(ctx, hash)
	}
	return cm, err
}

// readAdminEpochs fills the admin chain's part of st from the local replica.
func (c *Client) readAdminEpochs(ctx context.Context, st *EpochStatus) error {
	return c.cfg.Local.ChainState(ctx, st.Admin, func(s *chain.State) error {
		var err error
		if st.AdminEpoch, err = s.Execution().Epoch(ctx); err != nil {
			return err
		}
		st.AdminTrusted, err = s.Execution().Committees(ctx)
		return err
	})
}
