package views

import (
	"context"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
)

// indexed is the storage shared by Queue and Log: a header at P || 0x00 and entries at
// P || 0x01 || BE64(i), with a cache of the stored entries read so far.
type indexed[T any] struct {
	vc Context
	c  Codec[T]
	// cache holds stored entries by index, with their encoded size.
	cache map[uint64]indexedEntry[T]
	// cacheBytes is the sum of the cached entries' encoded sizes.
	cacheBytes int
	// limit bounds cache; zero fields are unbounded.
	limit cacheLimit
	// rangeMax is the longest range whose entries forRange caches (rangeCacheMax if
	// zero); a Queue caches more (queueCacheMax).
	rangeMax uint64
	// softBytes, if not zero, bounds the cached entries' sizes without emptying the
	// cache: an entry that would pass it is not cached (a Queue keeps its front).
	softBytes int
	// lastMax is the largest encoded size among the entries of the last chunk read from
	// the store or put, 0 before any: it sizes the next chunk (chunkLen).
	lastMax int
}

// sizer is implemented by a Codec whose values hold more in memory than their encoding
// (a queue entry stored as a reference but cached with what it refers to): CachedSize
// returns what a cached v counts against the cache's byte bounds.
type sizer[T any] interface {
	CachedSize(v T, encoded int) int
}

// cachedSize is what v, of encoded size encoded, counts against the cache's bounds.
func (x *indexed[T]) cachedSize(v T, encoded int) int {
	if s, ok := x.c.(sizer[T]); ok {
		return s.CachedSize(v, encoded)
	}
	return encoded
}

// keepRange reports whether forRange caches a range of n entries.
func (x *indexed[T]) keepRange(n uint64) bool {
	if x.rangeMax > 0 {
		return n <= x.rangeMax
	}
	return n <= rangeCacheMax
}

type indexedEntry[T any] struct {
	v    T
	size int
}

// cacheLimit bounds an indexed cache by entries and encoded bytes. A zero field means no
// bound: a Queue caches only entries near its front, and forgets them when they are
// popped, so its cache is bounded by queueCacheMax (and softBytes) without one.
type cacheLimit struct {
	entries, bytes int
}

// cached returns cached entry i.
func (x *indexed[T]) cached(i uint64) (T, bool) {
	e, ok := x.cache[i]
	return e.v, ok
}

// remember caches stored entry i, of encoded size size. When the cache would pass its
// limit it is emptied first (the cache is only a shortcut to the store: anything it lacks
// is read again), and an entry larger than the whole byte budget is not cached.
func (x *indexed[T]) remember(i uint64, v T, size int) {
	x.forget(i)
	if x.limit.bytes > 0 && size > x.limit.bytes {
		return
	}
	if x.softBytes > 0 && x.cacheBytes+size > x.softBytes {
		return
	}
	if (x.limit.entries > 0 && len(x.cache) >= x.limit.entries) ||
		(x.limit.bytes > 0 && x.cacheBytes+size > x.limit.bytes) {
		clear(x.cache)
		x.cacheBytes = 0
	}
	x.cache[i] = indexedEntry[T]{v: v, size: size}
	x.cacheBytes += size
}

// forget drops entry i from the cache.
func (x *indexed[T]) forget(i uint64) {
	if e, ok := x.cache[i]; ok {
		x.cacheBytes -= e.size
		delete(x.cache, i)
	}
}

// readChunk bounds the number of keys per MultiGet in ranges, and readChunkBytes about
// the bytes one reads: the entries are not all small (a client replica's inbox holds
// bundles whole, up to a block's size each), and a MultiGet reads its keys whatever
// their size. See chunkLen.
const (
	readChunk      = 128
	readChunkBytes = 1 << 20
	// readChunkFirst is the first chunk of a view that has read or put no entry yet.
	readChunkFirst = 8
)

// chunkLen returns the number of entries of the next chunk a range reads; prev is the
// length of the chunk before in the same range (0 for the first), budget what is left
// of the range's byte budget (readRange; readChunkBytes if none). A chunk holds
// readChunk entries, fewer when the last chunk read or put had large entries (the
// budget, at most readChunkBytes, over the largest of them, at least one),
// readChunkFirst while no size is known, and at most twice the chunk before: large
// entries after small ones are read at most twice as many at a time as were read
// before them, not readChunk at a time.
func (x *indexed[T]) chunkLen(prev uint64, budget int) uint64 {
	n := uint64(readChunkFirst)
	if x.lastMax > 0 {
		n = max(1, min(readChunk, uint64(min(budget, readChunkBytes)/x.lastMax)))
	}
	if prev > 0 {
		n = min(n, 2*prev)
	}
	return n
}

// readHeader reads the header's n u64 fields; a missing header is all zeros.
func (x *indexed[T]) readHeader(ctx context.Context, fields []*uint64) error {
	key := x.vc.key(tagHeader)
	b, ok, err := x.vc.r.Get(ctx, key)
	if err != nil {
		return readErr(key, err)
	}
	if !ok {
		for _, f := range fields {
			*f = 0
		}
		return nil
	}
	r := codec.NewReader(b)
	for _, f := range fields {
		*f = r.U64()
	}
	if err := r.Finish(); err != nil {
		return corrupt(key, "header: %v", err)
	}
	return nil
}

func (x *indexed[T]) headerKey() []byte { return x.vc.key(tagHeader) }

func encodeHeader(fields ...uint64) []byte {
	var w codec.Writer
	for _, f := range fields {
		w.U64(f)
	}
	return w.Bytes()
}

// entry returns stored entry i, which the header says exists; a missing entry is
// corruption. Entries are cached (within x.limit).
func (x *indexed[T]) entry(ctx context.Context, i uint64) (T, error) {
	if v, ok := x.cached(i); ok {
		return v, nil
	}
	var zero T
	key := x.vc.indexKey(i)
	b, ok, err := x.vc.r.Get(ctx, key)
	if err != nil {
		return zero, readErr(key, err)
	}
	if !ok {
		return zero, corrupt(key, "entry %d is missing", i)
	}
	v, err := decode(x.c, key, b)
	if err != nil {
		return zero, err
	}
	x.remember(i, v, x.cachedSize(v, len(b)))
	return v, nil
}

// rangeCacheMax is the longest range whose entries forRange caches: a short range read
// whole is usually read again by the next request on the chain, while caching long
// ranges would hold a long log in memory.
const rangeCacheMax = 64

// queueCacheMax and queueCacheBytes bound what a Queue caches from its front (the
// entries pushed by a Flush, read ahead by Front, or read by ForEach): a queue read
// whole (a chain's outbox heights, its inbox before a block) is usually read again by
// the next request on the chain (the delivery's confirmation, the block that receives
// the bundles: 100 of them at 100 transfers per block), while caching a long queue
// would hold a flooded inbox in memory. Entries past either bound are read from the
// store when needed.
const (
	queueCacheMax   = 256
	queueCacheBytes = 1 << 20
)

// forRange calls fn for the stored entries from <= i < to, which the header says exist,
// reading those not cached in chunks (chunkLen). Entries read here are cached (within
// x.limit) when the range is short (keepRange).
func (x *indexed[T]) forRange(ctx context.Context, from, to uint64, fn func(i uint64, v T) error) error {
	return x.readRange(ctx, from, to, 0, fn)
}

// readRange is forRange that stops, if budget > 0, once what is left of budget after
// the bytes read from the store is less than the largest entry of the last chunk: fn
// sees a prefix of the range, at least its first entry.
func (x *indexed[T]) readRange(ctx context.Context, from, to uint64, budget int, fn func(i uint64, v T) error) error {
	keep := x.keepRange(to - from)
	chunk := min(to-from, readChunk)
	keys := make([][]byte, 0, chunk)
	// vs holds the chunk's entries; missing lists the positions in vs read from the store.
	vs := make([]T, 0, chunk)
	missing := make([]int, 0, chunk)
	var prev uint64
	read := 0
	// With a budget, a chunk is read while the budget has room for an entry of the
	// size last read (the first always).
	for from < to && (budget == 0 || read == 0 || budget-read >= x.lastMax) {
		left := readChunkBytes
		if budget > 0 {
			left = budget - read
		}
		prev = min(to-from, x.chunkLen(prev, left))
		end := from + prev
		keys, vs, missing = keys[:0], vs[:0], missing[:0]
		for i := from; i < end; i++ {
			v, ok := x.cached(i)
			if !ok {
				keys = append(keys, x.vc.indexKey(i))
				missing = append(missing, len(vs))
			}
			vs = append(vs, v)
		}
		if len(keys) > 0 {
			vals, err := x.vc.r.MultiGet(ctx, keys)
			if err != nil {
				return readErr(keys[0], err)
			}
			x.lastMax = 0
			for _, v := range vals {
				x.lastMax = max(x.lastMax, len(v))
				read += len(v)
			}
			for j, p := range missing {
				i := from + uint64(p)
				if vals[j] == nil {
					return corrupt(keys[j], "entry %d is missing", i)
				}
				if vs[p], err = decode(x.c, keys[j], vals[j]); err != nil {
					return err
				}
				if keep {
					x.remember(i, vs[p], x.cachedSize(vs[p], len(vals[j])))
				}
			}
		}
		for p, v := range vs {
			if err := fn(from+uint64(p), v); err != nil {
				return err
			}
		}
		from = end
	}
	return nil
}

// putEntries appends puts for entries first, first+1, ... in ascending key order, and
// caches (within x.limit) those below cacheBelow. encs, if not nil, holds the entries'
// encodings (encode's, which nobody modifies).
func (x *indexed[T]) putEntries(b *kv.Batch, first uint64, vs []T, encs [][]byte, cacheBelow uint64) {
	if len(vs) > 0 {
		x.lastMax = 0
	}
	for j, v := range vs {
		i := first + uint64(j)
		var enc []byte
		if encs != nil {
			enc = encs[j]
		} else {
			enc = encode(x.c, v)
		}
		b.PutOwned(x.vc.indexKey(i), enc)
		x.lastMax = max(x.lastMax, len(enc))
		if i < cacheBelow {
			x.remember(i, v, x.cachedSize(v, len(enc)))
		}
	}
}
