package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// MaxListedPendingBundles bounds the pending bundles one chain-info answer lists (about
// 1.5 MB if each holds a transfer; a validator bounds their bytes too): an inbox flooded
// by strangers still gets a bounded answer, and the owner's client takes the rest in
// later blocks. A client counts no answer that lists more: no honest validator does.
const MaxListedPendingBundles = 10_000

// MaxListedPendingBundleBytes bounds the bundles' bytes in one chain-info answer, with
// MaxListedPendingBundles their number, unless its first bundle alone is larger (at most
// a block's outcome). A bundle may hold a block's worth of messages (a block of 10,000
// transfers to one chain is a bundle of about 1 MiB): without it, 64 such bundles from
// strangers made the answer to the chain's owner larger than the transport takes (64
// MiB), and the chain could make no block. Validators list within it; clients take it
// as part of the largest honest answer.
const MaxListedPendingBundleBytes = 16 << 20

// PendingBundleBytes is a list of pending bundles, each marked Accept, held as the
// canonical bytes of their MessageBundles. ChainInfo.Encode copies those bytes as they
// are (an IncomingBundle's encoding is its origin, its bundle's encoding and its
// action), so a validator answers with its inbox's bundles without decoding their
// messages and encoding them again. The zero value is empty. It keeps the slices it is
// given, which nobody may modify afterwards.
type PendingBundleBytes struct {
	items []pendingBundleBytes
}

type pendingBundleBytes struct {
	origin base.ChainID
	bundle []byte
}

// minMessageBundleLen is the length of the shortest MessageBundle encoding: height,
// timestamp, certificate hash, transaction index and the count of its messages.
const minMessageBundleLen = 8 + 8 + 32 + 4 + 1

// Append adds a bundle from origin. bundle must be the canonical encoding of a
// MessageBundle that decodes strictly: the encoding of a decoded value, or bytes that
// were strictly decoded; Append cannot tell, and ChainInfo.PendingBundles reports bytes
// that do not decode. Bytes too short to be a bundle are refused (ErrInvalid).
func (p *PendingBundleBytes) Append(origin base.ChainID, bundle []byte) error {
	if len(bundle) < minMessageBundleLen {
		return base.Invalidf("pending bundle of %d bytes (a bundle has at least %d)", len(bundle), minMessageBundleLen)
	}
	p.items = append(p.items, pendingBundleBytes{origin: origin, bundle: bundle})
	return nil
}

// Grow makes room for n more bundles.
func (p *PendingBundleBytes) Grow(n int) {
	if free := cap(p.items) - len(p.items); free < n {
		p.items = append(make([]pendingBundleBytes, 0, len(p.items)+n), p.items...)
	}
}

// Len returns the number of bundles.
func (p *PendingBundleBytes) Len() int { return len(p.items) }

// encodeItems writes the bundles as IncomingBundle encodings (no count).
func (p *PendingBundleBytes) encodeItems(w *codec.Writer) {
	for i := range p.items {
		it := &p.items[i]
		w.Hash(base.Hash(it.origin))
		w.Fixed(it.bundle)
		w.Tag(uint32(Accept))
	}
}

// decode returns the bundles decoded; bytes that do not decode strictly are an error of
// class ErrCorrupt (they came from the store that holds the inbox).
func (p *PendingBundleBytes) decode() ([]IncomingBundle, error) {
	if len(p.items) == 0 {
		return nil, nil
	}
	out := make([]IncomingBundle, len(p.items))
	for i := range p.items {
		it := &p.items[i]
		out[i].Origin, out[i].Action = it.origin, Accept
		if err := codec.Unmarshal(it.bundle, &out[i].Bundle); err != nil {
			return nil, base.Corruptf("pending bundle %d from %s: %v", i, it.origin.Short(), err)
		}
	}
	return out, nil
}

// SetPendingBundleBytes gives the info pending bundles as bytes, after those of
// RequestedPendingBundles (usually none): Encode writes both, the decoded ones first,
// and PendingBundles returns both, so setting one never hides the other. It replaces
// bundles set by an earlier call.
func (c *ChainInfo) SetPendingBundleBytes(p PendingBundleBytes) { c.pendingBytes = p }

// PendingBundleBytesLen returns the length of the encodings of the bundles set as bytes
// (SetPendingBundleBytes), for a caller that sizes the buffer it encodes the info into.
func (c *ChainInfo) PendingBundleBytesLen() int {
	n := 0
	for i := range c.pendingBytes.items {
		n += base.HashSize + len(c.pendingBytes.items[i].bundle) + 1 // origin, bundle, action
	}
	return n
}

// PendingBundles returns the info's pending bundles decoded: RequestedPendingBundles,
// then those set as bytes (SetPendingBundleBytes), decoded on each call. An info that
// has none as bytes (every decoded one) returns RequestedPendingBundles itself. Bytes
// that do not decode are an error of class ErrCorrupt.
func (c *ChainInfo) PendingBundles() ([]IncomingBundle, error) {
	if c.pendingBytes.Len() == 0 {
		return c.RequestedPendingBundles, nil
	}
	decoded, err := c.pendingBytes.decode()
	if err != nil {
		return nil, err
	}
	if len(c.RequestedPendingBundles) == 0 {
		return decoded, nil
	}
	return append(append(make([]IncomingBundle, 0, len(c.RequestedPendingBundles)+len(decoded)), c.RequestedPendingBundles...), decoded...), nil
}

// encodePendingBundles writes the pending bundles as one list of IncomingBundle.
func (c *ChainInfo) encodePendingBundles(w *codec.Writer) {
	w.Length(len(c.RequestedPendingBundles) + c.pendingBytes.Len())
	for i := range c.RequestedPendingBundles {
		c.RequestedPendingBundles[i].Encode(w)
	}
	c.pendingBytes.encodeItems(w)
}
