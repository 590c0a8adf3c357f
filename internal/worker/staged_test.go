package worker

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
)

// TestStagedReaderReadsAsWritten: a store read through a batch (stagedReader) answers
// Get, MultiGet and Scan as the store with the batch written does.
func TestStagedReaderReadsAsWritten(t *testing.T) {
	ctx := context.Background()
	keys := [][]byte{{}, {1}, {1, 0}, {1, 1}, {1, 1, 5}, {1, 2}, {2}, {2, 0xff}, {3}, {0xff}, {0xff, 0xff}}
	for seed := range 64 {
		base, written := memkv.New(), memkv.New()
		var stored, staged kv.Batch
		for i, k := range keys {
			if (seed>>(i%6))&1 == 1 {
				stored.Put(k, []byte(fmt.Sprint("old", i)))
			}
			switch (seed + i*7) % 3 {
			case 0:
				staged.Put(k, []byte(fmt.Sprint("new", i, seed)))
			case 1:
				staged.Delete(k)
			}
		}
		staged.Put(keys[3], []byte("twice")) // the last operation on a key wins
		for _, db := range []kv.Store{base, written} {
			if err := db.Write(ctx, &stored); err != nil {
				t.Fatal(err)
			}
		}
		if err := written.Write(ctx, &staged); err != nil {
			t.Fatal(err)
		}
		r, ok := newStagedReader(base, &staged)
		if !ok {
			t.Fatal("a batch of puts and deletes refused")
		}
		for _, k := range keys {
			v1, ok1, err1 := r.Get(ctx, k)
			v2, ok2, err2 := written.Get(ctx, k)
			if err1 != nil || err2 != nil || ok1 != ok2 || !bytes.Equal(v1, v2) {
				t.Fatalf("seed %d: Get(%x) = %q %v %v, want %q %v %v", seed, k, v1, ok1, err1, v2, ok2, err2)
			}
		}
		m1, err1 := r.MultiGet(ctx, keys)
		m2, err2 := written.MultiGet(ctx, keys)
		if err1 != nil || err2 != nil || fmt.Sprintf("%q", m1) != fmt.Sprintf("%q", m2) {
			t.Fatalf("seed %d: MultiGet = %q %v, want %q %v", seed, m1, err1, m2, err2)
		}
		for _, p := range [][]byte{{}, {1}, {1, 1}, {2}, {0xff}, {4}} {
			scan := func(r kv.Reader) string {
				var out bytes.Buffer
				if err := r.Scan(ctx, p, func(k, v []byte) error {
					fmt.Fprintf(&out, "%x=%s;", k, v)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return out.String()
			}
			if got, want := scan(r), scan(written); got != want {
				t.Fatalf("seed %d: Scan(%x) = %s, want %s", seed, p, got, want)
			}
		}
		stop := fmt.Errorf("stop")
		n := 0
		if err := r.Scan(ctx, nil, func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
			t.Fatalf("seed %d: a scan stopped by fn: %v after %d calls", seed, err, n)
		}
	}
	var prefixed kv.Batch
	prefixed.DeletePrefix([]byte{1})
	if _, ok := newStagedReader(memkv.New(), &prefixed); ok {
		t.Fatal("a prefix deletion accepted")
	}
}
