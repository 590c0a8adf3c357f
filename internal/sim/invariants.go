package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// checkInvariants checks the invariants of the package documentation on the drained,
// healed and synced network.
func (r *runner) checkInvariants() error {
	c := &checker{net: r.net, ctx: r.net.ctx}
	c.errs = append(c.errs, r.net.violations...)
	steps := []func() error{c.uniqueBlocks, c.synced, c.provenance, c.clientCertificates, c.supply, c.messages, c.outboxes, c.durability}
	for _, f := range steps {
		if err := f(); err != nil {
			c.errs = append(c.errs, err.Error())
		}
	}
	if len(c.errs) > 0 {
		const max = 8
		errs := c.errs
		if len(errs) > max {
			errs = append(errs[:max:max], fmt.Sprintf("and %d more", len(c.errs)-max))
		}
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

type checker struct {
	net  *Network
	ctx  context.Context
	errs []string
}

func (c *checker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *checker) honest() []*Node {
	var out []*Node
	for _, n := range c.net.Nodes {
		if n.Honest() {
			out = append(out, n)
		}
	}
	return out
}

// uniqueBlocks is invariant 1: at most one confirmed block per (chain, height) across
// every validator and client store.
func (c *checker) uniqueBlocks() error {
	sts, labels := c.net.stores()
	for _, ch := range c.net.Chains {
		for h := base.BlockHeight(0); ; h++ {
			var first base.Hash
			firstAt := -1
			for i, st := range sts {
				hash, err := st.BlockHash(c.ctx, ch.ID, h)
				if base.IsNotFound(err) {
					continue
				}
				if err != nil {
					return err
				}
				if firstAt < 0 {
					first, firstAt = hash, i
				} else if hash != first {
					c.fail("invariant 1 (one block per height): chain %s height %d: %s has block %s, %s has block %s",
						ch.ID.Short(), h, labels[firstAt], first.Short(), labels[i], hash.Short())
				}
			}
			if firstAt < 0 {
				break
			}
		}
	}
	return nil
}

// synced checks that every honest validator holds every chain's full history (the
// precondition of the next invariants) and agrees on every tip.
func (c *checker) synced() error {
	sts, _ := c.net.stores()
	for _, ch := range c.net.Chains {
		var top base.BlockHeight
		for _, st := range sts {
			h, err := c.net.nextHeight(st, ch.ID)
			if err != nil {
				return err
			}
			top = max(top, h)
		}
		for _, n := range c.honest() {
			h, err := c.net.nextHeight(n.Storage(), ch.ID)
			if err != nil {
				return err
			}
			if h != top {
				c.fail("invariant 4 (synced): validator %d (%s) has chain %s at height %d, the network at %d", n.Index, n.Fault, ch.ID.Short(), h, top)
			}
		}
	}
	return nil
}

// supply is invariant 2: on every honest validator, the chain balances plus every owner
// balance add up to the genesis supply.
func (c *checker) supply() error {
	want := c.net.Genesis.TotalSupply()
	var owners []base.Owner
	for _, o := range c.net.Owners {
		owners = append(owners, o.Address())
	}
	for _, n := range c.net.Nodes {
		owners = append(owners, n.owner())
	}
	for _, n := range c.honest() {
		w := n.worker
		if w == nil {
			c.fail("invariant 2 (supply): validator %d is down after healing", n.Index)
			continue
		}
		var total base.Amount
		for _, ch := range c.net.Chains {
			err := w.ChainState(c.ctx, ch.ID, func(s *chain.State) error {
				ex := s.Execution()
				sum, err := ex.ChainBalance(c.ctx)
				if err != nil {
					return err
				}
				for _, o := range owners {
					b, err := ex.OwnerBalance(c.ctx, o)
					if err != nil {
						return err
					}
					if sum, err = sum.Add(b); err != nil {
						return err
					}
				}
				t, err := ex.TotalBalance(c.ctx)
				if err != nil {
					return err
				}
				if t != sum {
					c.fail("invariant 2 (supply): validator %d: chain %s: TotalBalance is %s but the known accounts hold %s", n.Index, ch.ID.Short(), t, sum)
				}
				total, err = total.Add(t)
				return err
			})
			if err != nil {
				return fmt.Errorf("invariant 2 (supply): validator %d: chain %s: %w", n.Index, ch.ID.Short(), err)
			}
		}
		if total != want {
			c.fail("invariant 2 (supply): validator %d (%s) holds %s in total, the genesis supply is %s", n.Index, n.Fault, total, want)
		}
	}
	return nil
}

type bundleKey struct {
	origin, recipient base.ChainID
	cursor            protocol.Cursor
}

type sentBundle struct {
	bundle   protocol.MessageBundle
	received int
	where    string // where it was received, the last time
}

// messages is invariant 3: every bundle sent by a confirmed block is received exactly
// once (accepted, or rejected with its tracked messages bouncing back, the bounce then
// received exactly once by the sender), and nothing is received that was not sent.
func (c *checker) messages() error {
	hs := c.honest()
	if len(hs) == 0 {
		return nil
	}
	st := hs[0].Storage()
	blocks := make(map[base.ChainID][]*protocol.Block)
	for _, ch := range c.net.Chains {
		certs, err := st.Certificates(c.ctx, ch.ID, 0, 1<<62)
		if err != nil {
			return err
		}
		for _, cert := range certs {
			blocks[ch.ID] = append(blocks[ch.ID], cert.Block)
		}
	}
	sent := make(map[bundleKey]*sentBundle)
	var order []bundleKey
	for _, ch := range c.net.Chains {
		for _, b := range blocks[ch.ID] {
			out := b.OutgoingBundles()
			for _, to := range b.Recipients() {
				for _, mb := range out[to] {
					k := bundleKey{ch.ID, to, mb.Cursor()}
					sent[k] = &sentBundle{bundle: mb}
					order = append(order, k)
				}
			}
		}
	}
	for _, ch := range c.net.Chains {
		for _, b := range blocks[ch.ID] {
			for i := range b.Proposed.Transactions {
				ib := b.Proposed.Transactions[i].Bundle
				if ib == nil {
					continue
				}
				where := fmt.Sprintf("chain %s block %d tx %d", ch.ID.Short(), b.Height(), i)
				k := bundleKey{ib.Origin, ch.ID, ib.Bundle.Cursor()}
				s := sent[k]
				if s == nil {
					c.fail("invariant 3 (messages): %s receives a bundle from %s at %v that no block sent", where, ib.Origin.Short(), k.cursor)
					continue
				}
				if string(codec.Marshal(&s.bundle)) != string(codec.Marshal(&ib.Bundle)) {
					c.fail("invariant 3 (messages): %s receives a bundle from %s at %v that differs from the one sent", where, ib.Origin.Short(), k.cursor)
				}
				s.received++
				s.where = where
				if ib.Action == protocol.Reject {
					c.checkBounce(b, i, ib, where)
				}
			}
		}
	}
	for _, k := range order {
		s := sent[k]
		if s.received != 1 && (s.received > 1 || !s.bundle.IsSkippable() || hasKind(&s.bundle, protocol.Bouncing)) {
			c.fail("invariant 3 (messages): the bundle sent by chain %s at %v to chain %s was received %d times (last at %s)",
				k.origin.Short(), k.cursor, k.recipient.Short(), s.received, s.where)
		}
	}
	return nil
}

func hasKind(b *protocol.MessageBundle, kind protocol.MessageKind) bool {
	for i := range b.Messages {
		if b.Messages[i].Kind == kind {
			return true
		}
	}
	return false
}

// checkBounce checks a rejected bundle: each tracked message bounces back to its
// origin, in order, and bounces are never themselves rejected (their value would be
// lost).
func (c *checker) checkBounce(b *protocol.Block, tx int, ib *protocol.IncomingBundle, where string) {
	if hasKind(&ib.Bundle, protocol.Bouncing) {
		c.fail("invariant 3 (messages): %s rejects a bounced message from %s: its value is lost", where, ib.Origin.Short())
	}
	var bounces []protocol.OutgoingMessage
	for _, m := range b.Outcome.Messages[tx] {
		if m.Kind == protocol.Bouncing {
			bounces = append(bounces, m)
		}
	}
	j := 0
	for _, m := range ib.Bundle.Messages {
		if m.Kind != protocol.Tracked {
			continue
		}
		if j >= len(bounces) || bounces[j].Destination != ib.Origin || string(codec.Marshal(&bounces[j].Message)) != string(codec.Marshal(&m.Message)) {
			c.fail("invariant 3 (messages): %s rejects tracked message %d from %s without bouncing it back", where, m.Index, ib.Origin.Short())
			return
		}
		j++
	}
	if j != len(bounces) {
		c.fail("invariant 3 (messages): %s bounces %d messages for %d tracked ones", where, len(bounces), j)
	}
}

// outboxes is the rest of invariant 4: after draining, no honest validator has an
// undelivered outbox entry or a pending inbox bundle.
func (c *checker) outboxes() error {
	for _, n := range c.honest() {
		w := n.worker
		if w == nil {
			continue
		}
		for _, ch := range c.net.Chains {
			err := w.ChainState(c.ctx, ch.ID, func(s *chain.State) error {
				out, err := s.NonEmptyOutboxes(c.ctx)
				if err != nil {
					return err
				}
				for _, to := range out {
					hs, err := s.OutboxHeights(c.ctx, to)
					if err != nil {
						return err
					}
					c.fail("invariant 4 (delivery): validator %d (%s): chain %s still has undelivered bundles for chain %s at heights %v", n.Index, n.Fault, ch.ID.Short(), to.Short(), hs)
				}
				pending, err := s.PendingBundles(c.ctx, math.MaxInt, math.MaxInt)
				if err != nil {
					return err
				}
				if len(pending) > 0 {
					c.fail("invariant 4 (delivery): validator %d (%s): chain %s has %d pending inbox bundles", n.Index, n.Fault, ch.ID.Short(), len(pending))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("invariant 4: validator %d: chain %s: %w", n.Index, ch.ID.Short(), err)
			}
		}
	}
	return nil
}

// durability is invariant 5: what a validator acknowledged survives its crashes, and no
// worker logged an error.
func (c *checker) durability() error {
	for _, a := range c.net.acks {
		n := c.net.Nodes[a.node]
		h, err := n.Storage().BlockHash(c.ctx, a.chain, a.height)
		if err != nil && !base.IsNotFound(err) {
			return err
		}
		if h != a.hash {
			c.fail("invariant 5 (durability): validator %d (%s) acknowledged block %d of chain %s (%s) but its store has %s",
				a.node, n.Fault, a.height, a.chain.Short(), a.hash.Short(), h.Short())
		}
	}
	for _, n := range c.net.Nodes {
		for _, l := range *n.logs {
			if len(l) > 500 {
				l = l[:500] + "..."
			}
			c.fail("invariant 5 (validator errors): validator %d (%s) logged an error: %s", n.Index, n.Fault, l)
		}
	}
	return nil
}
