package views

import (
	"context"

	"github.com/micachain/mica/internal/kv"
)

// Log is an append-only sequence with random access by index.
type Log[T any] struct {
	x indexed[T]

	// loaded tells whether count holds the clean header.
	loaded bool
	count  uint64

	// appended holds the entries count, count+1, ... staged since the last Flush.
	appended []T
}

var _ View = (*Log[int])(nil)

// logCacheEntries and logCacheBytes bound the stored entries a Log caches (read by Get,
// or by a Range of at most rangeCacheMax entries). Anyone can make some logs long (a
// chain's received log grows with every bundle sent to it) and read them from any index
// (a chain info query pages through the received log), while the Log lives as long as its
// chain's state: without a bound its cache would grow to the whole log.
const (
	logCacheEntries = 256
	logCacheBytes   = 64 << 10
)

// NewLog returns the log at vc's prefix. Nothing is read until it is needed.
func NewLog[T any](vc Context, c Codec[T]) *Log[T] {
	return &Log[T]{x: indexed[T]{
		vc: vc, c: c,
		cache: map[uint64]indexedEntry[T]{},
		limit: cacheLimit{entries: logCacheEntries, bytes: logCacheBytes},
	}}
}

func (l *Log[T]) load(ctx context.Context) error {
	if l.loaded {
		return nil
	}
	if err := l.x.readHeader(ctx, []*uint64{&l.count}); err != nil {
		return err
	}
	l.loaded = true
	return nil
}

// Len returns the number of entries.
func (l *Log[T]) Len(ctx context.Context) (uint64, error) {
	if err := l.load(ctx); err != nil {
		return 0, err
	}
	return l.count + uint64(len(l.appended)), nil
}

// Append stages v as the next entry and returns its index.
func (l *Log[T]) Append(ctx context.Context, v T) (uint64, error) {
	if err := l.load(ctx); err != nil {
		return 0, err
	}
	l.appended = append(l.appended, v)
	return l.count + uint64(len(l.appended)) - 1, nil
}

// Get returns entry i, or false if i is not below Len. Stored entries are cached, at most
// logCacheEntries of them and logCacheBytes of their encoded bytes; staged entries are
// held until Flush or Rollback, whatever their number.
func (l *Log[T]) Get(ctx context.Context, i uint64) (T, bool, error) {
	var zero T
	if err := l.load(ctx); err != nil {
		return zero, false, err
	}
	if i < l.count {
		v, err := l.x.entry(ctx, i)
		if err != nil {
			return zero, false, err
		}
		return v, true, nil
	}
	if j := i - l.count; j < uint64(len(l.appended)) {
		return l.appended[j], true, nil
	}
	return zero, false, nil
}

// Range calls fn for the entries from <= i < to (to is clamped to Len), in order. If fn
// returns an error, Range stops and returns it.
func (l *Log[T]) Range(ctx context.Context, from, to uint64, fn func(i uint64, v T) error) error {
	n, err := l.Len(ctx)
	if err != nil {
		return err
	}
	to = min(to, n)
	if from >= to {
		return nil
	}
	if from < l.count {
		if err := l.x.forRange(ctx, from, min(to, l.count), fn); err != nil {
			return err
		}
		from = l.count
	}
	for i := from; i < to; i++ {
		if err := fn(i, l.appended[i-l.count]); err != nil {
			return err
		}
	}
	return nil
}

// Flush implements View: the new count, then the appended entries in index order.
func (l *Log[T]) Flush(b *kv.Batch) {
	if !l.HasPendingChanges() {
		return
	}
	b.Put(l.x.headerKey(), encodeHeader(l.count+uint64(len(l.appended))))
	l.x.putEntries(b, l.count, l.appended, nil, 0)
	l.count += uint64(len(l.appended))
	l.Rollback()
}

// Rollback implements View.
func (l *Log[T]) Rollback() { l.appended = nil }

// HasPendingChanges implements View.
func (l *Log[T]) HasPendingChanges() bool { return len(l.appended) > 0 }
