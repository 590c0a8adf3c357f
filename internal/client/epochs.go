package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

// Epoch migration.
//
// The admin chain creates epochs (CreateCommittee) and removes them (RemoveCommittee);
// every other chain follows with its own blocks (ProcessNewEpoch, ProcessRemovedEpoch;
// ADR 0001). MigrateEpochs builds that block from the verified local replica of the
// admin chain, and prepare refuses to extend a chain whose epoch the admin chain has
// removed unless the block migrates it: a removed committee is one the network's
// operators no longer vouch for (its keys may be gone or leaked), so the client does
// not ask it to certify anything but the move away from it.

// EpochStatus is where a chain stands against the admin chain, from the local replicas.
type EpochStatus struct {
	Chain base.ChainID
	Admin base.ChainID
	// Epoch is the chain's current epoch, Trusted every epoch it trusts.
	Epoch   base.Epoch
	Trusted []base.Epoch
	// AdminEpoch is the newest epoch the admin chain created, AdminTrusted the epochs
	// it has not removed (with their committees).
	AdminEpoch   base.Epoch
	AdminTrusted []protocol.EpochCommittee
}

// Removed reports whether the admin chain removed the chain's current epoch.
func (s *EpochStatus) Removed() bool {
	return s.Epoch < s.AdminEpoch && !s.adminTrusts(s.Epoch)
}

func (s *EpochStatus) adminTrusts(e base.Epoch) bool {
	return slices.ContainsFunc(s.AdminTrusted, func(ec protocol.EpochCommittee) bool { return ec.Epoch == e })
}

// Migration returns the operations that bring the chain up to the admin chain: move to
// its newest epoch, then stop trusting the epochs it removed. None for the admin chain
// or a chain already up to date.
func (s *EpochStatus) Migration() []protocol.Operation {
	if s.Chain == s.Admin {
		return nil
	}
	var ops []protocol.Operation
	current := s.Epoch
	if s.Epoch < s.AdminEpoch {
		ops = append(ops, protocol.SystemOp(&protocol.ProcessNewEpoch{Epoch: s.AdminEpoch}))
		current = s.AdminEpoch
	}
	for _, e := range s.Trusted {
		if e != current && !s.adminTrusts(e) && e < s.AdminEpoch {
			ops = append(ops, protocol.SystemOp(&protocol.ProcessRemovedEpoch{Epoch: e}))
		}
	}
	return ops
}

// EpochStatus reads where chain id stands against its admin chain in the local replicas
// (sync both first for a current answer).
func (c *Client) EpochStatus(ctx context.Context, id base.ChainID) (*EpochStatus, error) {
	admin, err := c.adminChain(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &EpochStatus{Chain: id, Admin: admin}
	err = c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		if st.Epoch, err = s.Execution().Epoch(ctx); err != nil {
			return err
		}
		ecs, err := s.Execution().Committees(ctx)
		for _, ec := range ecs {
			st.Trusted = append(st.Trusted, ec.Epoch)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := c.readAdminEpochs(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// AdminCommittee returns a committee the admin chain of chain id created, by its hash,
// from the local store.
func (c *Client) AdminCommittee(ctx context.Context, hash base.Hash) (*protocol.Committee, error) {
	return c.committeeByHash(ctx, hash)
}

// MigrateEpochs syncs the admin chain and, if the chain is behind it (a newer epoch, or
// epochs the admin chain removed), commits a block that catches it up, with any
// pending incoming bundles. It returns the block's certificate and the chain's status
// before the block, or a nil certificate if there was nothing to do.
func (cc *ChainClient) MigrateEpochs(ctx context.Context) (*protocol.Certificate, *EpochStatus, error) {
	c := cc.c
	if _, err := c.SyncChain(ctx, cc.id); err != nil {
		return nil, nil, err
	}
	admin, err := c.adminChain(ctx, cc.id)
	if err != nil {
		return nil, nil, err
	}
	if admin != cc.id {
		if _, err := c.SyncChain(ctx, admin); err != nil {
			return nil, nil, fmt.Errorf("sync the admin chain: %w", err)
		}
	}
	st, err := c.EpochStatus(ctx, cc.id)
	if err != nil {
		return nil, nil, err
	}
	ops := st.Migration()
	if len(ops) == 0 {
		return nil, st, nil
	}
	cert, err := cc.ExecuteOperations(ctx, ops, nil)
	return cert, st, err
}

// EpochRemovedError: the chain is in an epoch the admin chain removed, and the block is
// not one that migrates it. Class base.ErrInvalid.
type EpochRemovedError struct {
	Chain             base.ChainID
	Epoch, AdminEpoch base.Epoch
}

func (e *EpochRemovedError) Error() string {
	return fmt.Sprintf("chain %s is in epoch %d, which the admin chain has removed (its newest epoch is %d): move the chain to the new epoch first: run process-new-epoch %s (or process-inbox %s, which does it too)",
		e.Chain, e.Epoch, e.AdminEpoch, e.Chain, e.Chain)
}

func (e *EpochRemovedError) Unwrap() error { return base.ErrInvalid }

// checkEpochLive refuses a block of chain id in epoch if the local replica of the admin
// chain shows that epoch removed, unless every operation of the block is an epoch
// migration. It reads local state only: a wallet that never synced the admin chain
// learns of the removal when it migrates.
func (c *Client) checkEpochLive(ctx context.Context, v *localView, id base.ChainID, ops []protocol.Operation) error {
	if id == v.admin {
		return nil
	}
	// Removed (EpochStatus) read in place: the admin chain's epoch and the chain state's
	// cached committees, without building the status every block.
	var adminEpoch base.Epoch
	removed := false
	err := c.cfg.Local.ChainState(ctx, v.admin, func(s *chain.State) error {
		var err error
		if adminEpoch, err = s.Execution().Epoch(ctx); err != nil || v.epoch >= adminEpoch {
			return err
		}
		trusted, err := s.Committees(ctx) // read only
		removed = !slices.ContainsFunc(trusted, func(ec protocol.EpochCommittee) bool { return ec.Epoch == v.epoch })
		return err
	})
	if err != nil || !removed {
		return nil // a chain state that cannot be read is reported by staging
	}
	if len(ops) > 0 && !slices.ContainsFunc(ops, func(op protocol.Operation) bool { return !isEpochOp(op) }) {
		return nil
	}
	return &EpochRemovedError{Chain: id, Epoch: v.epoch, AdminEpoch: adminEpoch}
}

// isEpochOp reports whether op is ProcessNewEpoch or ProcessRemovedEpoch.
func isEpochOp(op protocol.Operation) bool {
	if op.System == nil {
		return false
	}
	switch op.System.(type) {
	case *protocol.ProcessNewEpoch, *protocol.ProcessRemovedEpoch:
		return true
	}
	return false
}
