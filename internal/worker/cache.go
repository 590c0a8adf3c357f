package worker

import (
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// verifiedCache remembers certificates already verified, so that each is verified once
// per process. It is a bounded set with FIFO eviction; safe for concurrent use.
type verifiedCache struct {
	mu    sync.Mutex
	set   map[base.Hash]struct{}
	order []base.Hash
	max   int
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{set: make(map[base.Hash]struct{}, max), max: max}
}

// verifiedKey names a (certificate, committee) pair: the same signatures verified against
// another committee are a different fact.
func verifiedKey(lite *protocol.LiteCertificate, committee *protocol.Committee) base.Hash {
	var w codec.Writer
	lite.Encode(&w)
	committee.Encode(&w)
	return crypto.HashBytes("VerifiedCertificate", w.Bytes())
}

func (c *verifiedCache) has(k base.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.set[k]
	return ok
}

func (c *verifiedCache) add(k base.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.set[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.set, c.order[0])
		c.order = c.order[1:]
	}
	c.set[k] = struct{}{}
	c.order = append(c.order, k)
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
