package views

import (
	"context"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
)

// indexed is the storage shared by Queue and Log: a header at P || 0x00 and entries at
// P || 0x01 || BE64(i), with a cache of the stored entries read so far.
type indexed[T any] struct {
	vc    Context
	c     Codec[T]
	cache map[uint64]T
}

// readChunk bounds the number of keys per MultiGet in ranges.
const readChunk = 128

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
// corruption. Entries are cached.
func (x *indexed[T]) entry(ctx context.Context, i uint64) (T, error) {
	if v, ok := x.cache[i]; ok {
		return v, nil
	}
	key := x.vc.indexKey(i)
	v, ok, err := getValue(ctx, x.vc.r, x.c, key)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, corrupt(key, "entry %d is missing", i)
	}
	x.cache[i] = v
	return v, nil
}

// rangeCacheMax is the longest range whose entries forRange caches: a short queue read
// whole (a chain's outbox heights, its inbox before a block) is usually read again by
// the next request on the chain (the delivery's confirmation, the block that receives
// the bundles), while caching long ranges would hold a flooded inbox in memory.
const rangeCacheMax = 64

// forRange calls fn for the stored entries from <= i < to, which the header says exist,
// reading those not cached in chunks. Entries read here are cached when the range has at
// most rangeCacheMax entries.
func (x *indexed[T]) forRange(ctx context.Context, from, to uint64, fn func(i uint64, v T) error) error {
	keep := to-from <= rangeCacheMax
	keys := make([][]byte, 0, readChunk)
	idx := make([]uint64, 0, readChunk)
	for from < to {
		end := to
		if end-from > readChunk {
			end = from + readChunk
		}
		keys, idx = keys[:0], idx[:0]
		for i := from; i < end; i++ {
			if _, ok := x.cache[i]; !ok {
				keys = append(keys, x.vc.indexKey(i))
				idx = append(idx, i)
			}
		}
		var vals [][]byte
		if len(keys) > 0 {
			var err error
			if vals, err = x.vc.r.MultiGet(ctx, keys); err != nil {
				return readErr(keys[0], err)
			}
		}
		j := 0
		for i := from; i < end; i++ {
			v, ok := x.cache[i]
			if !ok {
				if vals[j] == nil {
					return corrupt(keys[j], "entry %d is missing", i)
				}
				var err error
				if v, err = decode(x.c, keys[j], vals[j]); err != nil {
					return err
				}
				if keep {
					x.cache[i] = v
				}
				j++
			}
			if err := fn(i, v); err != nil {
				return err
			}
		}
		from = end
	}
	return nil
}

// putEntries appends puts for entries first, first+1, ... in ascending key order.
func (x *indexed[T]) putEntries(b *kv.Batch, first uint64, vs []T) {
	for j, v := range vs {
		b.Put(x.vc.indexKey(first+uint64(j)), encode(x.c, v))
	}
}
