package views

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
)

// Queue is a FIFO queue. Stored entries have consecutive indices front <= i < back; the
// indices only grow, except that a queue emptied by a Flush restarts at zero.
//
// A short queue is held in its header instead (queueInlineMax entries, queueInlineBytes
// encoded): while no entry is stored under its own key, a Flush writes the remaining
// entries into the header's value, so pushing an entry on such a queue, or taking its
// last one, writes one key instead of two (the header and the entry). A queue that
// outgrows the header moves its entries to their own keys and stays so until it is
// empty again. Headers without entries (16 bytes: front and back) are the layout of
// earlier builds and read as before; earlier builds refuse a header holding entries.
type Queue[T any] struct {
	x indexed[T]

	// loaded tells whether front, back and inline hold the clean header.
	loaded      bool
	front, back uint64
	// hasHeader tells whether the header is on the store (as of the last load or Flush).
	hasHeader bool
	// inline holds the entries stored in the header, after the stored entries, and
	// inlineEnc their encodings. Invariant: inline is empty unless front == back.
	inline    []T
	inlineEnc [][]byte

	// popped counts PopFront calls since the last Flush. The logical queue is the stored
	// entries front <= i < back, then inline, then pushed, less its first popped entries.
	popped uint64
	pushed []T
}

// queueInlineMax and queueInlineBytes bound the entries a Queue holds in its header:
// enough for a chain's outbox heights and an inbox's bundle groups in steady state (one
// entry each, 8 bytes and ~50 bytes, ~450 at 100 transfers per block), small enough that
// rewriting the header with each change costs less than a key.
const (
	queueInlineMax   = 4
	queueInlineBytes = 1024
)

var _ View = (*Queue[int])(nil)

// NewQueue returns the queue at vc's prefix. Nothing is read until it is needed.
func NewQueue[T any](vc Context, c Codec[T]) *Queue[T] {
	return &Queue[T]{x: indexed[T]{vc: vc, c: c, cache: map[uint64]indexedEntry[T]{}, rangeMax: queueCacheMax, softBytes: queueCacheBytes}}
}

func (q *Queue[T]) load(ctx context.Context) error {
	if q.loaded {
		return nil
	}
	key := q.x.headerKey()
	b, ok, err := q.x.vc.r.Get(ctx, key)
	if err != nil {
		return readErr(key, err)
	}
	q.front, q.back, q.inline, q.inlineEnc, q.hasHeader = 0, 0, nil, nil, ok
	if ok {
		if err := q.decodeHeader(key, b); err != nil {
			q.front, q.back, q.inline, q.inlineEnc = 0, 0, nil, nil
			return err
		}
	}
	q.loaded = true
	return nil
}

// decodeHeader sets front, back and inline from the header's value b: front and back
// (u64 each), then, if any entry is held in the header, their number (1 to
// queueInlineMax, and front == back) and each entry's encoding with its length.
func (q *Queue[T]) decodeHeader(key, b []byte) error {
	r := codec.NewReader(b)
	q.front, q.back = r.U64(), r.U64()
	if r.Err() == nil && r.Remaining() > 0 {
		n := r.Uleb()
		if r.Err() == nil && (n == 0 || n > queueInlineMax) {
			return corrupt(key, "queue header holds %d entries", n)
		}
		for range n {
			enc := r.VarBytes()
			if r.Err() != nil {
				break
			}
			v, err := decode(q.x.c, key, enc)
			if err != nil {
				return err
			}
			q.inline = append(q.inline, v)
			q.inlineEnc = append(q.inlineEnc, enc)
		}
	}
	if err := r.Finish(); err != nil {
		return corrupt(key, "header: %v", err)
	}
	if q.front > q.back {
		return corrupt(key, "queue front %d after back %d", q.front, q.back)
	}
	if len(q.inline) > 0 && q.front != q.back {
		return corrupt(key, "queue header holds entries after stored ones (%d to %d)", q.front, q.back)
	}
	return nil
}

// encodeInlineHeader returns a header holding the entries encs (1 to queueInlineMax).
func encodeInlineHeader(encs [][]byte) []byte {
	n := 17
	for _, e := range encs {
		n += len(e) + 3
	}
	w := codec.NewWriter(make([]byte, 0, n))
	w.U64(0)
	w.U64(0)
	w.Uleb(uint64(len(encs)))
	for _, e := range encs {
		w.VarBytes(e)
	}
	return w.Bytes()
}

// Len returns the number of entries.
func (q *Queue[T]) Len(ctx context.Context) (uint64, error) {
	if err := q.load(ctx); err != nil {
		return 0, err
	}
	return q.back - q.front + uint64(len(q.inline)+len(q.pushed)) - q.popped, nil
}

// Front returns the first entry, or false if the queue is empty. A stored entry not
// cached is read with the next ones (up to queueCacheMax entries and about
// queueCacheBytes), which stay cached.
func (q *Queue[T]) Front(ctx context.Context) (T, bool, error) {
	var zero T
	if err := q.load(ctx); err != nil {
		return zero, false, err
	}
	i := q.front + q.popped
	if i < q.back {
		if v, ok := q.x.cached(i); ok {
			return v, true, nil
		}
		// Read the next entries with it in one MultiGet: a block consuming a queue
		// (the bundles it receives) reads them in order, and one point read per
		// entry cost more than the rest of the consuming. Cached like a short range
		// (at most queueCacheMax entries and queueCacheBytes, dropped from the cache
		// when popped), and read only as far as the cache has room: entries past
		// what it keeps would be read for nothing (large entries, chunkLen). The
		// entry itself is taken as read, cached or not (a cache full of entries
		// popped but not flushed yet keeps none).
		room := max(queueCacheBytes-q.x.cacheBytes, 1)
		var v T
		err := q.x.readRange(ctx, i, min(q.back, i+queueCacheMax), room, func(j uint64, e T) error {
			if j == i {
				v = e
			}
			return nil
		})
		if err != nil {
			return zero, false, err
		}
		return v, true, nil
	}
	j := i - q.back
	if j < uint64(len(q.inline)) {
		return q.inline[j], true, nil
	}
	if j -= uint64(len(q.inline)); j < uint64(len(q.pushed)) {
		return q.pushed[j], true, nil
	}
	return zero, false, nil
}

// PushBack stages v as the new last entry.
func (q *Queue[T]) PushBack(ctx context.Context, v T) error {
	if err := q.load(ctx); err != nil {
		return err
	}
	q.pushed = append(q.pushed, v)
	return nil
}

// LastPushed returns the last entry staged by PushBack since the last Flush or Rollback,
// for the caller to change in place (an entry that grows while staged: the bundles of
// one sending block, delivered in several calls, stored as one entry). It returns nil if
// no entry is staged or the last one staged has been popped. The pointer is valid until
// the next PushBack, Flush or Rollback; what it holds then is what Flush stores.
func (q *Queue[T]) LastPushed() *T {
	n := len(q.pushed)
	if n == 0 || q.popped >= q.back-q.front+uint64(len(q.inline)+n) {
		return nil
	}
	return &q.pushed[n-1]
}

// PopFront stages the removal of the first entry. Popping an empty queue is an error of
// class base.ErrNotFound.
func (q *Queue[T]) PopFront(ctx context.Context) error {
	n, err := q.Len(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return base.NotFoundf("views: pop from an empty queue")
	}
	q.popped++
	return nil
}

// ForEach calls fn for every entry from front to back. If fn returns an error, ForEach stops
// and returns it.
func (q *Queue[T]) ForEach(ctx context.Context, fn func(v T) error) error {
	if err := q.load(ctx); err != nil {
		return err
	}
	first := q.front + q.popped
	if first < q.back {
		if err := q.x.forRange(ctx, first, q.back, func(_ uint64, v T) error { return fn(v) }); err != nil {
			return err
		}
		first = q.back
	}
	skip := first - q.back // the entries popped after the stored ones
	for _, v := range q.inline[min(skip, uint64(len(q.inline))):] {
		if err := fn(v); err != nil {
			return err
		}
	}
	skip -= min(skip, uint64(len(q.inline)))
	for _, v := range q.pushed[skip:] {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// Flush implements View: the header, then deletes of the popped stored entries and puts of
// the remaining pushed ones, in ascending index order. A queue left empty deletes its header
// and restarts at index zero. When no stored entry remains, the remaining entries go into
// the header if they fit (queueInlineMax, queueInlineBytes), else to their own keys.
func (q *Queue[T]) Flush(b *kv.Batch) {
	if !q.HasPendingChanges() {
		return
	}
	newFront := q.front + min(q.popped, q.back-q.front)
	rest := q.popped - (newFront - q.front) // the entries popped after the stored ones
	if newFront < q.back {
		// Stored entries remain, so none is inline (the invariant) and none pushed was
		// popped: the pushed ones are stored after them.
		newBack := q.back + uint64(len(q.pushed))
		b.Put(q.x.headerKey(), encodeHeader(newFront, newBack))
		q.deleteStored(b, newFront)
		q.x.putEntries(b, q.back, q.pushed, nil, newFront+queueCacheMax)
		q.front, q.back = newFront, newBack
		q.Rollback()
		return
	}
	// No stored entry remains: what is left is inline[rest:], then pushed.
	inline, encs := q.inline[min(rest, uint64(len(q.inline))):], q.inlineEnc[min(rest, uint64(len(q.inlineEnc))):]
	rest -= min(rest, uint64(len(q.inline)))
	pushed := q.pushed[rest:]
	n := len(inline) + len(pushed)
	vs := make([]T, 0, n)
	vs = append(append(vs, inline...), pushed...)
	all := make([][]byte, 0, n)
	all = append(all, encs...)
	size := 0
	for _, e := range encs {
		size += len(e)
	}
	for _, v := range pushed {
		e := encode(q.x.c, v)
		all = append(all, e)
		size += len(e)
	}
	switch {
	case n == 0:
		if q.hasHeader {
			b.Delete(q.x.headerKey())
		}
		q.deleteStored(b, newFront)
		q.front, q.back, q.inline, q.inlineEnc = 0, 0, nil, nil
	case n <= queueInlineMax && size <= queueInlineBytes:
		b.PutOwned(q.x.headerKey(), encodeInlineHeader(all))
		q.deleteStored(b, newFront)
		q.front, q.back, q.inline, q.inlineEnc = 0, 0, vs, all
	default:
		// Too many or too large for the header: every remaining entry gets its key,
		// after the stored ones popped here.
		newBack := q.back + uint64(n)
		b.Put(q.x.headerKey(), encodeHeader(q.back, newBack))
		q.deleteStored(b, newFront)
		q.x.putEntries(b, q.back, vs, all, q.back+queueCacheMax)
		q.front, q.back, q.inline, q.inlineEnc = q.back, newBack, nil, nil
	}
	q.hasHeader = n > 0
	q.Rollback()
}

// deleteStored stages the deletes of the stored entries below newFront.
func (q *Queue[T]) deleteStored(b *kv.Batch, newFront uint64) {
	for i := q.front; i < newFront; i++ {
		b.Delete(q.x.vc.indexKey(i))
		q.x.forget(i)
	}
}

// Rollback implements View.
func (q *Queue[T]) Rollback() {
	q.popped = 0
	q.pushed = nil
}

// HasPendingChanges implements View.
func (q *Queue[T]) HasPendingChanges() bool { return q.popped > 0 || len(q.pushed) > 0 }
