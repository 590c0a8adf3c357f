package worker

import (
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// A validator receives the confirmed certificate of a block it voted for a few
// milliseconds earlier, and held that block decoded and executed since. The RPC server
// decodes the certificate with DecodeCertificate, which takes the held block when the
// certificate's block bytes are its canonical encoding (protocol.DecodeCertificateReusing
// gives the argument) instead of decoding the block again; everything else is checked
// as before, by the same code, on a certificate equal to the fully decoded one.

// maxHeldBlocks bounds the held blocks: one per chain with a vote whose certificate has
// not arrived yet (a confirmed block drops its chain's). Past it, all are dropped.
const maxHeldBlocks = 512

// heldBlocks keeps, per chain, the last block this worker executed for a vote or a
// staging (keep), until a confirmed block of its height or above is applied. It is safe
// for concurrent use: DecodeCertificate reads it before the chain's lock is taken.
type heldBlocks struct {
	mu sync.Mutex
	m  map[base.ChainID]*protocol.Block
}

// put holds b for its chain, replacing the chain's earlier block.
func (h *heldBlocks) put(b *protocol.Block) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[base.ChainID]*protocol.Block)
	}
	if _, ok := h.m[b.ChainID()]; !ok && len(h.m) >= maxHeldBlocks {
		clear(h.m)
	}
	h.m[b.ChainID()] = b
}

// get returns the block held for chain id at height, or nil.
func (h *heldBlocks) get(id base.ChainID, height base.BlockHeight) *protocol.Block {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.m[id]; b != nil && b.Height() == height {
		return b
	}
	return nil
}

// drop forgets the block held for chain id if it is at height or below.
func (h *heldBlocks) drop(id base.ChainID, height base.BlockHeight) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.m[id]; b != nil && b.Height() <= height {
		delete(h.m, id)
	}
}

// DecodeCertificate decodes a certificate received from the network as codec.Unmarshal
// does, with the same result and errors, except that the block of a validated or
// confirmed certificate is not decoded when its bytes are the canonical encoding of the
// block this worker holds for that chain and height (the one it voted for): the
// certificate then carries the held block itself. It is safe for concurrent use.
func (w *Worker) DecodeCertificate(b []byte) (*protocol.Certificate, error) {
	var held *protocol.Block
	if id, height, ok := protocol.PeekCertificateBlock(b); ok {
		held = w.held.get(id, height)
	}
	c, reused, err := protocol.DecodeCertificateReusing(b, held)
	if reused {
		w.decodeReused.Add(1)
	}
	return c, err
}

// HeldBlockDecodes returns the number of certificates DecodeCertificate decoded with a
// held block since the worker started.
func (w *Worker) HeldBlockDecodes() uint64 { return w.decodeReused.Load() }
