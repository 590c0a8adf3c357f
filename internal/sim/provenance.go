package sim

import (
	"context"
	"fmt"
	"math"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// Invariants 6 and 7 (DESIGN §9, trust model): nothing enters a validator's state
// because someone sent it, and a client believes only what a quorum certified.
//
//  6. Provenance: every chain an honest validator holds was created by the genesis or by
//     a confirmed block of a chain that itself has provenance; no such chain's inbox
//     holds or received a bundle from a chain without provenance; and the total supply
//     summed over EVERY chain the validator holds (forged ones included) is the genesis
//     supply.
//  7. Client certificates: every confirmed certificate in a client's store, and every
//     certificate a client returned as the result of an operation, carries a valid
//     quorum of the committee of its epoch.

// heldChains returns the ids of the chains whose state is in a store, in key order.
func heldChains(ctx context.Context, db kv.Store) ([]base.ChainID, error) {
	prefix := storage.ChainPrefix(base.ChainID{})[:1]
	var out []base.ChainID
	err := db.Scan(ctx, prefix, func(k, _ []byte) error {
		if len(k) < 1+base.HashSize {
			return nil
		}
		var id base.ChainID
		copy(id[:], k[1:1+base.HashSize])
		if len(out) == 0 || out[len(out)-1] != id {
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// legitimate returns the chains with provenance in st: the genesis roots and, from
// there, every chain whose description a confirmed block in st created.
func legitimate(ctx context.Context, st *storage.Storage, g *protocol.GenesisConfig) (map[base.ChainID]bool, error) {
	ok := make(map[base.ChainID]bool)
	queue := g.ChainIDs()
	for _, id := range queue {
		ok[id] = true
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		certs, err := st.Certificates(ctx, id, 0, 1<<62)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			for _, blob := range c.Block.CreatedBlobs() {
				if blob.Type != base.BlobChainDescription {
					continue
				}
				var d protocol.ChainDescription
				if err := codec.Unmarshal(blob.Content, &d); err != nil {
					return nil, fmt.Errorf("description created by block %d of chain %s: %w", c.Height(), id.Short(), err)
				}
				if child := d.ID(); !ok[child] {
					ok[child] = true
					queue = append(queue, child)
				}
			}
		}
	}
	return ok, nil
}

// describe says what a stored chain description claims, for messages.
func describe(ctx context.Context, st *storage.Storage, id base.ChainID) string {
	blob, err := st.Blob(ctx, base.BlobID{Type: base.BlobChainDescription, Hash: base.Hash(id)})
	if err != nil {
		return "no description"
	}
	var d protocol.ChainDescription
	if err := codec.Unmarshal(blob.Content, &d); err != nil {
		return "undecodable description"
	}
	return fmt.Sprintf("description: %s, balance %s", originString(&d.Origin), d.Config.Balance)
}

// provenance is invariant 6.
func (c *checker) provenance() error {
	want := c.net.Genesis.TotalSupply()
	for _, n := range c.honest() {
		w := n.worker
		if w == nil {
			continue
		}
		st := n.Storage()
		ok, err := legitimate(c.ctx, st, c.net.Genesis)
		if err != nil {
			return fmt.Errorf("invariant 6 (provenance): validator %d: %w", n.Index, err)
		}
		held, err := heldChains(c.ctx, n.disk.inner)
		if err != nil {
			return err
		}
		var total, forged base.Amount
		var nForged int
		for _, id := range held {
			var t base.Amount
			var received []protocol.IncomingBundle
			err := w.ChainState(c.ctx, id, func(s *chain.State) error {
				var err error
				if t, err = s.Execution().TotalBalance(c.ctx); err != nil {
					return err
				}
				received, err = s.PendingBundles(c.ctx, math.MaxInt, math.MaxInt)
				return err
			})
			if err != nil {
				return fmt.Errorf("invariant 6 (provenance): validator %d: chain %s: %w", n.Index, id.Short(), err)
			}
			if total, err = total.Add(t); err != nil {
				return err
			}
			if !ok[id] {
				nForged++
				forged, _ = forged.Add(t)
				c.fail("invariant 6 (provenance): validator %d holds chain %s that no genesis or confirmed block created (%s, now holding %s)",
					n.Index, id.Short(), describe(c.ctx, st, id), t)
				continue
			}
			certs, err := st.Certificates(c.ctx, id, 0, 1<<62)
			if err != nil {
				return err
			}
			for _, cert := range certs {
				for _, ib := range cert.Block.Proposed.Bundles() {
					received = append(received, *ib)
				}
			}
			var bad []base.ChainID
			count := make(map[base.ChainID]int)
			for _, ib := range received {
				if !ok[ib.Origin] {
					if count[ib.Origin] == 0 {
						bad = append(bad, ib.Origin)
					}
					count[ib.Origin]++
				}
			}
			for _, from := range bad {
				c.fail("invariant 6 (provenance): validator %d: the inbox of chain %s received %d bundles from chain %s that no genesis or confirmed block created",
					n.Index, id.Short(), count[from], from.Short())
			}
		}
		if total != want {
			c.fail("invariant 6 (supply over every chain held): validator %d holds %s in total over %d chains (%d without provenance, holding %s), the genesis supply is %s",
				n.Index, total, len(held), nForged, forged, want)
		}
	}
	return nil
}

// clientCertificates is invariant 7 for the certificates in the clients' stores.
func (c *checker) clientCertificates() error {
	prefix := []byte{'K'} // storage's partition of certificates by block hash
	for _, o := range c.net.Owners {
		st := storage.New(o.store)
		var hashes []base.Hash
		err := o.store.Scan(c.ctx, prefix, func(k, _ []byte) error {
			if len(k) == 1+base.HashSize {
				var h base.Hash
				copy(h[:], k[1:])
				hashes = append(hashes, h)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, h := range hashes {
			cert, err := st.Certificate(c.ctx, h)
			if err != nil {
				return fmt.Errorf("invariant 7: client %d: certificate %s: %w", o.Index, h.Short(), err)
			}
			if err := c.net.checkQuorum(cert); err != nil {
				c.fail("invariant 7 (client certificates): client %d holds block %d of chain %s as confirmed without a valid quorum certificate: %v",
					o.Index, cert.Height(), cert.ChainID().Short(), err)
			}
		}
	}
	return nil
}

// checkQuorum checks a confirmed certificate against the committee of its epoch (the
// simulated network has one epoch: the genesis committee's).
func (net *Network) checkQuorum(cert *protocol.Certificate) error {
	if cert.Kind != protocol.KindConfirmed {
		return fmt.Errorf("a %s certificate", cert.Kind)
	}
	if cert.Epoch() != 0 {
		return fmt.Errorf("epoch %d has no committee", cert.Epoch())
	}
	return cert.Check(net.Committee)
}

// checkReported is invariant 7 for a certificate a client returned for an operation.
func (r *runner) checkReported(step int, d *Driver, what string, cert *protocol.Certificate) error {
	if cert == nil {
		return nil
	}
	if err := r.net.checkQuorum(cert); err != nil {
		return fmt.Errorf("step %d: invariant 7 (client certificates): the client of owner%d reported %s as confirmed (block %d of chain %s) without a valid quorum certificate: %w",
			step, d.Owner.Index, what, cert.Height(), cert.ChainID().Short(), err)
	}
	return nil
}
