package views_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

// byteCountingReader counts the value bytes the store's reads return.
type byteCountingReader struct {
	kv.Reader
	bytes, calls atomic.Int64
}

func (c *byteCountingReader) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	v, ok, err := c.Reader.Get(ctx, key)
	c.bytes.Add(int64(len(v)))
	c.calls.Add(1)
	return v, ok, err
}

func (c *byteCountingReader) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	vs, err := c.Reader.MultiGet(ctx, keys)
	for _, v := range vs {
		c.bytes.Add(int64(len(v)))
	}
	c.calls.Add(1)
	return vs, err
}

// TestAttackQueueReadAheadBoundedByBytes: a client replica stores the bundles of its
// inbox whole, and a stranger's bundles may be large (about 1 MiB for a block of 10,000
// transfers). Front read ahead up to 256 entries from the store, 128 per MultiGet,
// whatever their size, and kept only 1 MiB of them cached: each step of consuming such
// an inbox read up to 256 entries to use one. Here 300 entries of 64 KiB (19 MiB), of
// 512 KiB, and mixes of small and large ones are consumed in blocks of 10; the read-ahead is now bounded by bytes too, and the whole
// queue is read about once. ForEach over the same queue holds a bounded chunk at a time.
func TestAttackQueueReadAheadBoundedByBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes func(i int) int
	}{
		{"64 KiB entries", func(int) int { return 64 << 10 }},
		{"512 KiB entries", func(int) int { return 512 << 10 }},
		{"small ones then large ones", func(i int) int {
			if i%150 < 100 {
				return 100
			}
			return 256 << 10
		}},
		{"a small one between large ones", func(i int) int {
			if i%4 == 0 {
				return 100
			}
			return 256 << 10
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			const n, perBlock = 300, 10
			q := views.NewQueue(views.NewContext(s, []byte("inbox")), views.StringCodec{})
			total := 0
			for i := range n {
				e := strings.Repeat("x", tc.sizes(i))
				total += len(e)
				if err := q.PushBack(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			flush(t, s, q)
			r := &byteCountingReader{Reader: s}
			q = views.NewQueue(views.NewContext(r, []byte("inbox")), views.StringCodec{})
			for done := 0; done < n; {
				for range perBlock {
					v, ok, err := q.Front(ctx)
					if err != nil || !ok || len(v) != tc.sizes(done) {
						t.Fatalf("entry %d: %d bytes, %v %v", done, len(v), ok, err)
					}
					if err := q.PopFront(ctx); err != nil {
						t.Fatal(err)
					}
					done++
				}
				flush(t, s, q)
			}
			t.Logf("%d bytes of entries, %d read (%.2f×) in %d reads", total, r.bytes.Load(), float64(r.bytes.Load())/float64(total), r.calls.Load())
			if read := r.bytes.Load(); read > int64(3*total) {
				t.Errorf("consuming %d bytes of entries read %d bytes (%.1f×) in %d reads, want at most 3×", total, read, float64(read)/float64(total), r.calls.Load())
			}
		})
	}
}
