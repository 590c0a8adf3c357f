package views

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
)

// Queue is a FIFO queue. Stored entries have consecutive indices front <= i < back; the
// indices only grow, except that a queue emptied by a Flush restarts at zero.
type Queue[T any] struct {
	x indexed[T]

	// loaded tells whether front and back hold the clean header.
	loaded      bool
	front, back uint64

	// popped counts PopFront calls since the last Flush. The logical queue is indices
	// front+popped <= i < back+len(pushed); entries at or above back are pushed[i-back].
	popped uint64
	pushed []T
}

var _ View = (*Queue[int])(nil)

// NewQueue returns the queue at vc's prefix. Nothing is read until it is needed.
func NewQueue[T any](vc Context, c Codec[T]) *Queue[T] {
	return &Queue[T]{x: indexed[T]{vc: vc, c: c, cache: map[uint64]indexedEntry[T]{}, rangeMax: queueCacheMax, softBytes: queueCacheBytes}}
}

func (q *Queue[T]) load(ctx context.Context) error {
	if q.loaded {
		return nil
	}
	if err := q.x.readHeader(ctx, []*uint64{&q.front, &q.back}); err != nil {
		return err
	}
	if q.front > q.back {
		err := corrupt(q.x.headerKey(), "queue front %d after back %d", q.front, q.back)
		q.front, q.back = 0, 0
		return err
	}
	q.loaded = true
	return nil
}

// Len returns the number of entries.
func (q *Queue[T]) Len(ctx context.Context) (uint64, error) {
	if err := q.load(ctx); err != nil {
		return 0, err
	}
	return q.back - q.front + uint64(len(q.pushed)) - q.popped, nil
}

// Front returns the first entry, or false if the queue is empty. A stored entry not
// cached is read with the next ones (up to queueCacheMax), which stay cached.
func (q *Queue[T]) Front(ctx context.Context) (T, bool, error) {
	var zero T
	if err := q.load(ctx); err != nil {
		return zero, false, err
	}
	i := q.front + q.popped
	if i < q.back {
		if _, ok := q.x.cache[i]; !ok {
			// Read the next entries with it in one MultiGet: a block consuming
			// a queue (the bundles it receives) reads them in order, and one
			// point read per entry cost more than the rest of the consuming.
			// Cached like a short range (at most queueCacheMax entries and
			// queueCacheBytes, dropped from the cache when popped).
			if err := q.x.forRange(ctx, i, min(q.back, i+queueCacheMax), func(uint64, T) error { return nil }); err != nil {
				return zero, false, err
			}
		}
		v, err := q.x.entry(ctx, i)
		if err != nil {
			return zero, false, err
		}
		return v, true, nil
	}
	if j := i - q.back; j < uint64(len(q.pushed)) {
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
	if n == 0 || q.popped >= q.back-q.front+uint64(n) {
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
	for _, v := range q.pushed[first-q.back:] {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// Flush implements View: the header, then deletes of the popped stored entries and puts of
// the remaining pushed ones, in ascending index order. A queue left empty deletes its header
// and restarts at index zero.
func (q *Queue[T]) Flush(b *kv.Batch) {
	if !q.HasPendingChanges() {
		return
	}
	newFront := q.front + q.popped
	newBack := q.back + uint64(len(q.pushed))
	if newFront == newBack {
		b.Delete(q.x.headerKey())
	} else {
		b.Put(q.x.headerKey(), encodeHeader(newFront, newBack))
	}
	for i := q.front; i < min(newFront, q.back); i++ {
		b.Delete(q.x.vc.indexKey(i))
		q.x.forget(i)
	}
	if newFront < newBack {
		firstPushed := max(newFront, q.back)
		vs := q.pushed[firstPushed-q.back:]
		// The pushed entries near the front stay cached: the next reads of a short
		// queue (a block receiving the bundles, the delivery's confirmation) find them
		// without reading the store. At most queueCacheMax entries (and
		// queueCacheBytes) from the front, so that a long queue is not held in memory.
		q.x.putEntries(b, firstPushed, vs, newFront+queueCacheMax)
	} else {
		newFront, newBack = 0, 0
	}
	q.front, q.back = newFront, newBack
	q.Rollback()
}

// Rollback implements View.
func (q *Queue[T]) Rollback() {
	q.popped = 0
	q.pushed = nil
}

// HasPendingChanges implements View.
func (q *Queue[T]) HasPendingChanges() bool { return q.popped > 0 || len(q.pushed) > 0 }
