package storage

import (
	"container/list"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// The pending blob area (DESIGN §9). Blobs that a proposal or a verified certificate
// needs but that no confirmed block has published yet live here, under their own key
// prefix, apart from the confirmed blobs that Blob and MissingBlobs read. Nothing in the
// pending area is ever read as a chain description or a committee: only the blobs a
// block publishes are looked up here, and only by the worker handling that block.
//
// The area is bounded in entries and bytes, and entries expire: each carries an expiry
// time (the caller's clock at insertion plus the TTL). Inserting evicts the expired
// entries and then the oldest ones until the new blob fits. The bookkeeping is in memory,
// rebuilt from the database on first use; processes that share one database (shards of
// one validator on several machines) each bound what they insert.

const prefixPendingBlob = 'Q' // Q type hash : expiry(BE u64) content

// PendingLimits bound the pending blob area.
type PendingLimits struct {
	MaxBytes int64          // total content bytes
	MaxCount int            // number of blobs
	TTL      base.TimeDelta // how long a pending blob lives
}

// DefaultPendingLimits: 256 MiB, 4,096 blobs, 10 minutes.
var DefaultPendingLimits = PendingLimits{MaxBytes: 256 << 20, MaxCount: 4096, TTL: 10 * 60 * 1_000_000}

func pendingKey(id base.BlobID) []byte {
	k := []byte{prefixPendingBlob, byte(id.Type)}
	return append(k, id.Hash[:]...)
}

type pendingEntry struct {
	id     base.BlobID
	size   int64
	expiry base.Timestamp
}

// pendingIndex is the in-memory bookkeeping of the pending area, in insertion order.
type pendingIndex struct {
	byID  map[base.BlobID]*list.Element
	order *list.List // of *pendingEntry, oldest first
	bytes int64
}

type pendingArea struct {
	mu     sync.Mutex
	limits PendingLimits
	idx    *pendingIndex // nil until loaded
}

// SetPendingLimits changes the bounds of the pending area (tests use small ones).
func (s *Storage) SetPendingLimits(l PendingLimits) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	s.pending.limits = l
}

// PendingStats returns the number of pending blobs and their total size, as this
// process accounts them.
func (s *Storage) PendingStats(ctx context.Context) (count int, bytes int64, err error) {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.loadPendingLocked(ctx); err != nil {
		return 0, 0, err
	}
	return p.idx.order.Len(), p.idx.bytes, nil
}

func (s *Storage) loadPendingLocked(ctx context.Context) error {
	p := &s.pending
	if p.idx != nil {
		return nil
	}
	var entries []*pendingEntry
	err := s.db.Scan(ctx, []byte{prefixPendingBlob}, func(k, v []byte) error {
		if len(k) != 2+base.HashSize || len(v) < 8 {
			return base.Corruptf("pending blob entry of %d/%d bytes", len(k), len(v))
		}
		id := base.BlobID{Type: base.BlobType(k[1])}
		copy(id.Hash[:], k[2:])
		entries = append(entries, &pendingEntry{id: id, size: int64(len(v) - 8), expiry: base.Timestamp(binary.BigEndian.Uint64(v))})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load pending blobs: %w", err)
	}
	slices.SortStableFunc(entries, func(a, b *pendingEntry) int {
		switch {
		case a.expiry < b.expiry:
			return -1
		case a.expiry > b.expiry:
			return 1
		}
		return 0
	})
	idx := &pendingIndex{byID: make(map[base.BlobID]*list.Element, len(entries)), order: list.New()}
	for _, e := range entries {
		idx.byID[e.id] = idx.order.PushBack(e)
		idx.bytes += e.size
	}
	p.idx = idx
	return nil
}

// PutPendingBlob stores a blob in the pending area, expiring at now plus the TTL. It
// evicts expired and then the oldest entries to stay within the limits. A blob larger
// than the whole area is refused (class base.ErrInvalid). Storing a blob already pending
// does nothing.
func (s *Storage) PutPendingBlob(ctx context.Context, blob *protocol.Blob, now base.Timestamp) error {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.loadPendingLocked(ctx); err != nil {
		return err
	}
	size := int64(len(blob.Content))
	if size > p.limits.MaxBytes || p.limits.MaxCount <= 0 {
		return base.Invalidf("blob of %d bytes does not fit the pending area (%d bytes)", size, p.limits.MaxBytes)
	}
	id := blob.ID()
	if _, ok := p.idx.byID[id]; ok {
		return nil
	}
	var b kv.Batch
	var evicted []*list.Element
	bytes, count := p.idx.bytes, p.idx.order.Len()
	for el := p.idx.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*pendingEntry)
		if e.expiry > now && count+1 <= p.limits.MaxCount && bytes+size <= p.limits.MaxBytes {
			break
		}
		b.Delete(pendingKey(e.id))
		evicted = append(evicted, el)
		bytes -= e.size
		count--
	}
	expiry := now.Add(p.limits.TTL)
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(blob.Content)), uint64(expiry))
	b.Put(pendingKey(id), append(v, blob.Content...))
	if err := s.Write(ctx, &b); err != nil {
		return err
	}
	for _, el := range evicted {
		p.idx.remove(el)
	}
	e := &pendingEntry{id: id, size: size, expiry: expiry}
	p.idx.byID[id] = p.idx.order.PushBack(e)
	p.idx.bytes += size
	return nil
}

func (idx *pendingIndex) remove(el *list.Element) {
	e := el.Value.(*pendingEntry)
	idx.order.Remove(el)
	delete(idx.byID, e.id)
	idx.bytes -= e.size
}

// PendingBlob returns a pending blob that has not expired at now, or an error of class
// base.ErrNotFound.
func (s *Storage) PendingBlob(ctx context.Context, id base.BlobID, now base.Timestamp) (protocol.Blob, error) {
	v, ok, err := s.db.Get(ctx, pendingKey(id))
	if err != nil {
		return protocol.Blob{}, fmt.Errorf("read pending blob %s: %w", id, err)
	}
	if !ok || len(v) < 8 || base.Timestamp(binary.BigEndian.Uint64(v)) <= now {
		return protocol.Blob{}, base.NotFoundf("blob %s not pending", id)
	}
	blob := protocol.NewBlob(id.Type, v[8:])
	if blob.ID() != id {
		return protocol.Blob{}, base.Corruptf("pending blob %s does not match its id", id)
	}
	return blob, nil
}

// ConfirmBlobs adds to b the blobs a confirmed block publishes, in the confirmed area,
// and removes them from the pending area. Call ForgetPending with the same blobs once b
// is written.
func ConfirmBlobs(b *kv.Batch, blobs []protocol.Blob) {
	for i := range blobs {
		PutBlob(b, &blobs[i])
		b.Delete(pendingKey(blobs[i].ID()))
	}
}

// ForgetPending updates the pending area's bookkeeping after a batch built with
// ConfirmBlobs was written.
func (s *Storage) ForgetPending(blobs []protocol.Blob) {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idx == nil {
		return
	}
	for i := range blobs {
		if el, ok := p.idx.byID[blobs[i].ID()]; ok {
			p.idx.remove(el)
		}
	}
}
