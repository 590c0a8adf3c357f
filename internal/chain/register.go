package chain

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/protocol"
)

// registerBundles is the store as the consensus register's encoding sees it
// (consensus.Bundles): the confirmed certificates s.certs reads. The proposal voted on
// stores a received bundle as a reference to its sending block's certificate when that
// certificate is on the store and sends exactly that bundle here; the register is
// written after the certificate (Pebble's log is in order, ADR 0005: a durable register
// implies a durable certificate) and certificates are never removed, so the reference
// resolves for good. A bundle whose certificate is not at hand (delivered by another
// validator's worker before this one executed the sender's block, or a state without
// certificates) stays inline.
type registerBundles struct {
	ctx context.Context
	s   *State
	// err is the first error of the store met by Resolve that is not corruption (the
	// register is then not known to be corrupt).
	err error
	// memo is the certificate these bundles were last compared with or resolved from,
	// for this one encoding or decoding of the register (a state keeps no block).
	memo registerMemo
}

// registerMemo is the last certificate the register's bundles were compared with or
// resolved from: the bundles of one sending block read it once.
type registerMemo struct {
	hash   base.Hash
	origin base.ChainID
	block  *protocol.Block
	// bundles are the block's bundles to this chain, by transaction index, made when
	// Resolve needs them (listed).
	bundles []protocol.MessageBundle
	listed  bool
}

// bundlesFor returns s's register view of the store, or nil if s reads no certificates.
func (s *State) bundlesFor(ctx context.Context) *registerBundles {
	if s.certs == nil {
		return nil
	}
	return &registerBundles{ctx: ctx, s: s}
}

// sent returns the memo of origin's block at height whose hash is cert, reading it if
// needed.
func (rb *registerBundles) sent(origin base.ChainID, height base.BlockHeight, cert base.Hash) (*registerMemo, error) {
	m := &rb.memo
	if m.block != nil && m.hash == cert && m.origin == origin {
		if m.block.Height() != height {
			return nil, base.Corruptf("certificate %s is not of height %d", cert.Short(), height)
		}
		return m, nil
	}
	c, err := rb.s.certs.Certificate(rb.ctx, origin, height, cert)
	if err != nil {
		return nil, err
	}
	if c.Block == nil || c.Block.ChainID() != origin || c.Block.Height() != height {
		return nil, base.Corruptf("certificate %s is not of chain %s at height %d", cert.Short(), origin.Short(), height)
	}
	*m = registerMemo{hash: cert, origin: origin, block: c.Block}
	return m, nil
}

// find returns the index in m.bundles of the bundle to recipient of transaction index,
// or -1.
func (m *registerMemo) find(recipient base.ChainID, index uint32) int {
	if !m.listed {
		m.bundles, m.listed = m.block.OutgoingBundlesTo(recipient), true
	}
	i := sort.Search(len(m.bundles), func(i int) bool { return m.bundles[i].TransactionIndex >= index })
	if i == len(m.bundles) || m.bundles[i].TransactionIndex != index {
		return -1
	}
	return i
}

// Held reports whether the certificate of b's sending block is on the store and sends
// b, byte for byte, at its transaction index: the bundle protocol.Block.OutgoingBundlesTo
// makes (the block's height, timestamp and hash, its messages of that transaction to
// this chain), compared message by message without making it. Any error answers false
// (b stays inline).
func (rb *registerBundles) Held(origin base.ChainID, b *protocol.MessageBundle) bool {
	m, err := rb.sent(origin, b.Height, b.CertificateHash)
	if err != nil {
		return false
	}
	blk := m.block
	if b.Timestamp != blk.Proposed.Timestamp || int64(b.TransactionIndex) >= int64(len(blk.Outcome.Messages)) {
		return false
	}
	msgs := blk.Outcome.Messages[b.TransactionIndex]
	w := codec.AcquireWriter()
	defer codec.ReleaseWriter(w)
	k := 0
	for i := range msgs {
		if msgs[i].Destination != rb.s.id {
			continue
		}
		if k == len(b.Messages) {
			return false
		}
		w.Reset()
		posted := msgs[i].Posted(uint32(i))
		posted.Encode(w) // not through an interface: posted stays on the stack
		if !codec.EncodesTo(&b.Messages[k], w.Bytes()) {
			return false
		}
		k++
	}
	return k > 0 && k == len(b.Messages)
}

// Resolve returns the bundle a reference names. A certificate the store lacks, of
// another block, or sending nothing here at index is corruption.
func (rb *registerBundles) Resolve(origin base.ChainID, height base.BlockHeight, timestamp base.Timestamp, cert base.Hash, index uint32) (protocol.MessageBundle, error) {
	where := func() string {
		return fmt.Sprintf("register of chain %s: bundle from %s at height %d, transaction %d, of certificate %s", rb.s.id.Short(), origin.Short(), height, index, cert.Short())
	}
	m, err := rb.sent(origin, height, cert)
	if err != nil {
		if base.IsNotFound(err) || errors.Is(err, base.ErrCorrupt) {
			return protocol.MessageBundle{}, base.Corruptf("%s: %v", where(), err)
		}
		if rb.err == nil {
			rb.err = fmt.Errorf("%s: %w", where(), err)
		}
		return protocol.MessageBundle{}, rb.err
	}
	i := m.find(rb.s.id, index)
	if i < 0 || m.bundles[i].Timestamp != timestamp {
		return protocol.MessageBundle{}, base.Corruptf("%s, which sends no such bundle here", where())
	}
	return m.bundles[i], nil
}

// register returns rb as a consensus.Bundles (nil if rb is: no certificates at hand).
func (rb *registerBundles) register() consensus.Bundles {
	if rb == nil {
		return nil
	}
	return rb
}
