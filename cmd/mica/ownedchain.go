package main

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
)

// ownerKeyOf returns an owner of the chain (super owners first, in their listed order)
// whose key the wallet holds, reading the chain's ownership from the local replica.
func (s *session) ownerKeyOf(ctx context.Context, id base.ChainID) (base.Owner, bool) {
	if ch, ok := s.w.Chain(id); ok && ch.Owner != nil {
		return base.Owner{}, false
	}
	var owners []base.Owner
	err := s.c.Local().ChainState(ctx, id, func(st *chain.State) error {
		own, err := st.Execution().Ownership(ctx)
		if err != nil {
			return err
		}
		owners = append(owners, own.SuperOwners...)
		for _, o := range own.Owners {
			owners = append(owners, o.Owner)
		}
		return nil
	})
	if err != nil {
		return base.Owner{}, false
	}
	for _, o := range owners {
		if o.Kind() == base.OwnerReserved {
			continue
		}
		if _, err := s.w.Key(o); err == nil {
			return o, true
		}
	}
	return base.Owner{}, false
}
