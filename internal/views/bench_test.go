package views_test

import (
	"encoding/binary"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/views"
)

// BenchmarkMapGet reads 1,024 keys of a Map[base.ChainID, base.Amount] over memkv:
// "cached" after every key has been read once (the steady state of a chain worker), "cold"
// from a fresh view each round (one store read per key).
func BenchmarkMapGet(b *testing.B) {
	s := newStore(b)
	vc := views.NewContext(s, []byte("bench"))
	newMap := func() *views.Map[base.ChainID, base.Amount] {
		return views.NewMap(vc, views.Hash32Key[base.ChainID]{}, views.AmountCodec{})
	}
	const n = 1024
	keys := make([]base.ChainID, n)
	m := newMap()
	for i := range keys {
		binary.BigEndian.PutUint64(keys[i][:], uint64(i)*0x9e3779b97f4a7c15)
		m.Set(keys[i], base.AmountFromParts(0, uint64(i)))
	}
	flush(b, s, m)

	b.Run("cached", func(b *testing.B) {
		m := newMap()
		for _, k := range keys {
			if _, _, err := m.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, err := m.Get(ctx, keys[i%n]); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		var m *views.Map[base.ChainID, base.Amount]
		i := 0
		for b.Loop() {
			if i%n == 0 {
				m = newMap()
			}
			if _, ok, err := m.Get(ctx, keys[i%n]); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
}

// BenchmarkQueueBlock is a chain's inbox queue per block in the steady state: two
// entries pushed and flushed, the queue read whole (cached near the front), the front
// popped and flushed.
func BenchmarkQueueBlock(b *testing.B) {
	s := newStore(b)
	q := views.NewQueue(views.NewContext(s, []byte("q")), views.StringCodec{})
	b.ReportAllocs()
	for b.Loop() {
		for range 2 {
			if err := q.PushBack(ctx, "bundle of some bytes"); err != nil {
				b.Fatal(err)
			}
		}
		flush(b, s, q)
		n := 0
		if err := q.ForEach(ctx, func(string) error { n++; return nil }); err != nil || n != 2 {
			b.Fatal(n, err)
		}
		for range 2 {
			if err := q.PopFront(ctx); err != nil {
				b.Fatal(err)
			}
		}
		flush(b, s, q)
	}
}

// BenchmarkQueueFrontCold consumes 100 stored entries of 64 bytes (an inbox of 100
// bundles held by reference) from a fresh view, the first block after a chain is loaded.
func BenchmarkQueueFrontCold(b *testing.B) {
	s := newStore(b)
	vc := views.NewContext(s, []byte("q"))
	q := views.NewQueue(vc, views.StringCodec{})
	for range 100 {
		if err := q.PushBack(ctx, string(make([]byte, 64))); err != nil {
			b.Fatal(err)
		}
	}
	flush(b, s, q)
	b.ReportAllocs()
	for b.Loop() {
		q := views.NewQueue(vc, views.StringCodec{})
		for range 100 {
			if _, ok, err := q.Front(ctx); !ok || err != nil {
				b.Fatal(ok, err)
			}
			if err := q.PopFront(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
