package views_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/views"
)

// countingReader counts the reads that reach the store.
type countingReader struct {
	kv.Reader
	gets, multiGets, scans atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	c.gets.Add(1)
	return c.Reader.Get(ctx, key)
}

func (c *countingReader) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	c.multiGets.Add(1)
	return c.Reader.MultiGet(ctx, keys)
}

func (c *countingReader) Scan(ctx context.Context, prefix []byte, fn func(k, v []byte) error) error {
	c.scans.Add(1)
	return c.Reader.Scan(ctx, prefix, fn)
}

func (c *countingReader) reads() int64 { return c.gets.Load() + c.multiGets.Load() + c.scans.Load() }

func newStore(t testing.TB) *memkv.Store {
	t.Helper()
	s := memkv.New()
	t.Cleanup(func() { s.Close() })
	return s
}

var ctx = context.Background()

// flush flushes the views in order into one batch, checks that the batch is in strictly
// ascending key order, writes it and returns it.
func flush(t testing.TB, s kv.Writer, vs ...views.View) *kv.Batch {
	t.Helper()
	var b kv.Batch
	for _, v := range vs {
		v.Flush(&b)
		if v.HasPendingChanges() {
			t.Fatal("view has pending changes after Flush")
		}
	}
	checkAscending(t, &b)
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

func checkAscending(t testing.TB, b *kv.Batch) {
	t.Helper()
	ops := b.Ops()
	for i := 1; i < len(ops); i++ {
		if bytes.Compare(ops[i-1].Key, ops[i].Key) >= 0 {
			t.Fatalf("batch not in ascending key order at op %d: %x then %x", i, ops[i-1].Key, ops[i].Key)
		}
	}
}

// dump returns every key/value under prefix, for comparing store states.
func dump(t testing.TB, r kv.Reader, prefix []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := r.Scan(ctx, prefix, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameOps(a, b *kv.Batch) bool {
	x, y := a.Ops(), b.Ops()
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].Kind != y[i].Kind || !bytes.Equal(x[i].Key, y[i].Key) || !bytes.Equal(x[i].Value, y[i].Value) {
			return false
		}
	}
	return true
}

func putRaw(t testing.TB, s kv.Writer, key, value []byte) {
	t.Helper()
	var b kv.Batch
	b.Put(key, value)
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
}
