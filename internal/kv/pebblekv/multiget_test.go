package pebblekv_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/pebblekv"
)

// BenchmarkMultiGet reads n consecutive keys of a queue-like range (the entries of a
// views.Queue read by ForEach) among 20,000 keys of 200 bytes, half of them flushed to
// tables, half in the memtable; "scattered" reads n keys spread over the whole store,
// one in 64 of them absent.
func BenchmarkMultiGet(b *testing.B) {
	s, err := pebblekv.Open(b.TempDir(), pebblekv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	key := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("Cqueue/"), uint64(i)) }
	const total = 20_000
	for part := range 2 {
		var batch kv.Batch
		for i := part * total / 2; i < (part+1)*total/2; i++ {
			batch.Put(key(i), make([]byte, 200))
		}
		if err := s.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
		if part == 0 {
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, n := range []int{2, 16, 100} {
		for _, shape := range []string{"consecutive", "scattered"} {
			keys := make([][]byte, n)
			for i := range keys {
				if shape == "consecutive" {
					keys[i] = key(total/2 - n/2 + i) // straddles tables and memtable
				} else {
					keys[i] = key((i*7919)%total + total*(i%64/63)) // one in 64 past the end: absent
				}
			}
			b.Run(fmt.Sprintf("%s/n=%d", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					vs, err := s.MultiGet(ctx, keys)
					if err != nil || len(vs) != n || vs[0] == nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
