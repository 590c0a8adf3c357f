package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Committees by epoch.
//
// The client never counts a vote or checks a certificate against a committee it was
// merely told about. For a block of chain X in epoch e it uses the committee that X
// itself trusts for e, read from the local replica of X. That replica was built only from
// certificates the local node verified, starting from genesis, and X's trusted set
// changes only by X's own blocks (ProcessNewEpoch, ProcessRemovedEpoch), which read the
// admin chain's events (the admin chain's confirmed CreateCommittee and RemoveCommittee
// blocks, synced and verified the same way). So the committee of every epoch the client
// believes in follows from genesis through verified certificates only (ADR 0001).
//
// Config.Committee is only the genesis committee; Config.Validators is the pool of nodes
// the client can reach, looked up by public key. A request about a chain goes to the
// members of the chain's committee found in the pool.

// members is a committee and the validators of the pool that belong to it, in pool order.
// The validators slice may be shared with other members values (membersOf): read only.
type members struct {
	committee  *protocol.Committee
	validators []Validator
}

// membersOf returns the pool's validators that belong to committee. A member the pool
// lacks is dialed (Config.Dial) at the address the committee gives and joins the pool:
// the committee was verified (it comes from the chain's own trusted set), so the
// address is the admin chain's word, not a validator's. A member that cannot be dialed
// is left out; it counts as not answering.
func (c *Client) membersOf(ctx context.Context, committee *protocol.Committee) members {
	m := members{committee: committee}
	if c.cfg.Dial != nil {
		c.dialMissing(ctx, committee)
	}
	pool := c.validators()
	c.mu.Lock()
	last := c.lastMembers
	c.mu.Unlock()
	// The pool only grows: the same committee over a pool of the same length has the
	// same members (every block asks for them, usually of one committee).
	if last.committee == committee && last.pool == len(pool) {
		m.validators = last.validators
		return m
	}
	for _, v := range pool {
		if committee.Weight(v.PublicKey) > 0 {
			m.validators = append(m.validators, v)
		}
	}
	c.mu.Lock()
	c.lastMembers = membersMemo{committee: committee, pool: len(pool), validators: m.validators}
	c.mu.Unlock()
	return m
}

// membersMemo is the last answer of membersOf: the members of committee in a pool of
// length pool.
type membersMemo struct {
	committee  *protocol.Committee
	pool       int
	validators []Validator
}

// validators returns a snapshot of the pool.
func (c *Client) validators() []Validator {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pool[:len(c.pool):len(c.pool)]
}

// Validators returns the validators the client can reach: the configured ones and the
// members of verified committees it dialed since.
func (c *Client) Validators() []Validator { return slices.Clone(c.validators()) }

// dialMissing adds to the pool the members of committee it lacks.
func (c *Client) dialMissing(ctx context.Context, committee *protocol.Committee) {
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	pool := c.validators()
	for _, vs := range committee.Validators {
		if slices.ContainsFunc(pool, func(v Validator) bool { return v.PublicKey.Compare(vs.PublicKey) == 0 }) {
			continue
		}
		n, err := c.cfg.Dial(ctx, vs)
		if err != nil {
			c.log.Warn("cannot reach a committee member", "validator", vs.PublicKey.String(), "address", vs.NetworkAddress, "err", err)
			continue
		}
		c.mu.Lock()
		c.pool = append(c.pool, Validator{PublicKey: vs.PublicKey, Node: n})
		c.mu.Unlock()
	}
}

// LearnValidators adds to the pool the members of every committee the local replica of
// the admin chain (of chain id) trusts, so that a new session reaches validators that
// joined after genesis before it needs them (a sync of a chain whose local replica is
// behind asks the whole pool).
func (c *Client) LearnValidators(ctx context.Context, id base.ChainID) error {
	if c.cfg.Dial == nil {
		return nil
	}
	admin, err := c.adminChain(ctx, id)
	if err != nil {
		return err
	}
	var hashes []base.Hash
	err = c.cfg.Local.ChainState(ctx, admin, func(s *chain.State) error {
		ecs, err := s.Execution().Committees(ctx)
		for _, ec := range ecs {
			hashes = append(hashes, ec.CommitteeHash)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, h := range hashes {
		cm, err := c.committeeByHash(ctx, h)
		if err != nil {
			continue // not stored locally yet; dialed when first needed
		}
		c.dialMissing(ctx, cm)
	}
	return nil
}

// committeeFor returns the committee chain id trusts for epoch, from the local replica.
// It fails with worker.ErrUntrustedEpoch if the chain does not trust that epoch (unknown
// or revoked), which is the answer for any certificate claiming it.
func (c *Client) committeeFor(ctx context.Context, id base.ChainID, epoch base.Epoch) (*protocol.Committee, error) {
	var ecs []protocol.EpochCommittee
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		ecs, err = s.Committees(ctx) // the chain state's cached slice: read only
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.committeeIn(ctx, id, ecs, epoch)
}

// committeeByHash loads a committee blob from the local store (it is there: the local
// node executed the block that made the chain trust it), caching it by hash.
func (c *Client) committeeByHash(ctx context.Context, hash base.Hash) (*protocol.Committee, error) {
	c.mu.Lock()
	cm := c.committees[hash]
	c.mu.Unlock()
	if cm != nil {
		return cm, nil
	}
	blob, err := c.cfg.Local.Storage().Blob(ctx, base.BlobID{Type: base.BlobCommittee, Hash: hash})
	if err != nil {
		return nil, fmt.Errorf("committee %s: %w", hash.Short(), err)
	}
	cm = new(protocol.Committee)
	if err := codec.Unmarshal(blob.Content, cm); err != nil {
		return nil, base.Corruptf("committee blob %s: %v", hash.Short(), err)
	}
	c.mu.Lock()
	c.committees[hash] = cm
	c.mu.Unlock()
	return cm, nil
}

// currentMembers returns the chain's epoch in the local replica, and the committee the
// chain trusts for it with its reachable members.
func (cc *ChainClient) currentMembers(ctx context.Context) (base.Epoch, members, error) {
	epoch, err := cc.c.localEpoch(ctx, cc.id)
	if err != nil {
		return 0, members{}, err
	}
	m, err := cc.c.epochMembers(ctx, cc.id, epoch)
	return epoch, m, err
}

// epochMembers returns the committee chain id trusts for epoch and its reachable members.
func (c *Client) epochMembers(ctx context.Context, id base.ChainID, epoch base.Epoch) (members, error) {
	committee, err := c.committeeFor(ctx, id, epoch)
	if err != nil {
		return members{}, err
	}
	return c.membersOf(ctx, committee), nil
}

// adminChain returns the admin chain of chain id, from the local replica.
func (c *Client) adminChain(ctx context.Context, id base.ChainID) (base.ChainID, error) {
	var admin base.ChainID
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		admin, err = s.Execution().AdminChain(ctx)
		return err
	})
	if err != nil {
		return base.ChainID{}, err
	}
	if admin == (base.ChainID{}) {
		admin = id // the chain is the admin chain
	}
	return admin, nil
}
