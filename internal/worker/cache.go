package worker

import (
	"context"
	"slices"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// verifiedKey names a (certificate, committee) pair: the same signatures verified against
// another committee are a different fact. Worker.verified holds the keys of the pairs
// verified, so that each certificate is verified once per process.
func verifiedKey(lite *protocol.LiteCertificate, committee *protocol.Committee) base.Hash {
	var w codec.Writer
	lite.Encode(&w)
	committee.Encode(&w)
	return crypto.HashBytes("VerifiedCertificate", w.Bytes())
}

// committeeCache keeps decoded committees by blob hash.
type committeeCache struct {
	mu  sync.Mutex
	m   map[base.Hash]*protocol.Committee
	max int
}

func newCommitteeCache(max int) *committeeCache {
	return &committeeCache{m: make(map[base.Hash]*protocol.Committee), max: max}
}

func (c *committeeCache) get(h base.Hash) *protocol.Committee {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[h]
}

func (c *committeeCache) put(h base.Hash, v *protocol.Committee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[h] = v
}

// maxWantedBlobs bounds the set of blobs this worker is waiting for.
const maxWantedBlobs = 10_000

// wantedBlobs is the set of blobs a verified certificate or a signed proposal in hand
// needs and this worker lacks (the reference's pending-blob state): only these may be
// uploaded. Each id maps to the size limit of its committee's policy. It is bounded with
// FIFO eviction; safe for concurrent use.
type wantedBlobs struct {
	mu    sync.Mutex
	m     map[base.BlobID]uint64
	order []base.BlobID
	max   int
}

func newWantedBlobs(max int) *wantedBlobs {
	return &wantedBlobs{m: make(map[base.BlobID]uint64), max: max}
}

func (c *wantedBlobs) add(id base.BlobID, limit uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		c.m[id] = limit
		return
	}
	for len(c.m) >= c.max && len(c.order) > 0 {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	if len(c.order) >= 2*c.max {
		// Drop ids already taken from the front of the queue.
		c.order = slices.DeleteFunc(c.order, func(x base.BlobID) bool { _, ok := c.m[x]; return !ok })
	}
	c.m[id] = limit
	c.order = append(c.order, id)
}

// limit returns the size limit of a wanted blob, or false if it is not wanted.
func (c *wantedBlobs) limit(id base.BlobID) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[id]
	return l, ok
}

func (c *wantedBlobs) remove(id base.BlobID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// recentCertificates keeps the last confirmed certificates this worker executed, by
// (chain, height), so that delivering their bundles (right after, in the common case)
// does not read and decode them from storage again. Bounded, FIFO eviction; safe for
// concurrent use. The certificates are shared read-only.
type recentCertificates struct {
	mu    sync.Mutex
	m     map[chainHeight]*protocol.Certificate
	order []chainHeight
	max   int
}

type chainHeight struct {
	chain  base.ChainID
	height base.BlockHeight
}

func newRecentCertificates(max int) *recentCertificates {
	return &recentCertificates{m: make(map[chainHeight]*protocol.Certificate, max), max: max}
}

func (c *recentCertificates) get(id base.ChainID, h base.BlockHeight) *protocol.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[chainHeight{id, h}]
}

func (c *recentCertificates) put(cert *protocol.Certificate) {
	k := chainHeight{cert.Block.ChainID(), cert.Block.Height()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		clear(c.order[:1])
		c.order = c.order[1:]
	}
	c.m[k] = cert
	c.order = append(c.order, k)
}

// storeCertificates reads the confirmed certificates of the worker's store for the
// chains' inboxes (chain.CertificateReader): from the recent certificates first (a
// bundle delivered here comes from a certificate this worker just executed), then from
// the store, keeping what it read among the recent ones (a block receiving 100 bundles
// of one certificate reads it once).
type storeCertificates struct{ w *Worker }

func (c storeCertificates) recent(origin base.ChainID, height base.BlockHeight, hash base.Hash) *protocol.Certificate {
	if cert := c.w.recent.get(origin, height); cert != nil && cert.Block.Hash() == hash {
		return cert
	}
	return nil
}

func (c storeCertificates) HasCertificate(ctx context.Context, origin base.ChainID, height base.BlockHeight, hash base.Hash) (bool, error) {
	if c.recent(origin, height, hash) != nil {
		return true, nil
	}
	return c.w.cfg.Storage.HasCertificate(ctx, hash)
}

func (c storeCertificates) Certificate(ctx context.Context, origin base.ChainID, height base.BlockHeight, hash base.Hash) (*protocol.Certificate, error) {
	if cert := c.recent(origin, height, hash); cert != nil {
		return cert, nil
	}
	cert, err := c.w.cfg.Storage.Certificate(ctx, hash)
	if err != nil {
		return nil, err
	}
	if cert.Block == nil || cert.Block.Hash() != hash {
		return nil, base.Corruptf("certificate stored under %s is not of that block", hash.Short())
	}
	c.w.recent.put(cert)
	return cert, nil
}
