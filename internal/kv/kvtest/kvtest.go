// Package kvtest is the conformance suite every kv backend runs. A backend's test calls Run
// with a function that opens a fresh, empty store, and RunReopen when the backend is durable:
//
//	func TestConformance(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) kv.Store { return memkv.New() })
//	}
//
// The suite checks the contracts documented in package kv: point and multi reads, prefix
// scans and their bounds (including prefixes ending in 0xff and the empty prefix), batch
// order and atomicity, empty values, copies versus aliases, concurrent use (run it with
// -race), context cancellation and closed-store errors.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/kv"
)

// Run runs the conformance suite. open must return a new, empty store each time it is
// called; the suite closes every store it opens.
func Run(t *testing.T, open func(t *testing.T) kv.Store) {
	t.Helper()
	fresh := func(t *testing.T) kv.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s kv.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"Missing", testMissing},
		{"EmptyValue", testEmptyValue},
		{"EmptyKey", testEmptyKey},
		{"MultiGet", testMultiGet},
		{"ScanOrder", testScanOrder},
		{"ScanPrefixBounds", testScanPrefixBounds},
		{"ScanStop", testScanStop},
		{"ScanSnapshot", testScanSnapshot},
		{"DeletePrefix", testDeletePrefix},
		{"BatchOrder", testBatchOrder},
		{"BatchAtomicVisibility", testBatchAtomicVisibility},
		{"NotAliased", testNotAliased},
		{"LargeValue", testLargeValue},
		{"Concurrent", testConcurrent},
		{"Canceled", testCanceled},
		{"Closed", testClosed},
		{"CloseWhileBusy", testCloseWhileBusy},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

// RunReopen checks durability for backends that persist to a directory: what a Write
// acknowledged before Close is read back after reopening the same directory. open must open
// (creating if needed) the store in dir; the suite closes every store it opens.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) kv.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	want := map[string][]byte{}

	s := open(t, dir)
	var b kv.Batch
	for i := range 200 {
		k := fmt.Appendf(nil, "a/%04d", i)
		b.Put(k, fmt.Appendf(nil, "v%d", i))
		want[string(k)] = fmt.Appendf(nil, "v%d", i)
	}
	b.Put([]byte("b/empty"), nil)
	want["b/empty"] = []byte{}
	b.Put([]byte{0xff, 0xff, 1}, []byte("top"))
	want[string([]byte{0xff, 0xff, 1})] = []byte("top")
	mustWrite(t, s, &b)
	b.Reset()
	b.Delete([]byte("a/0000"))
	delete(want, "a/0000")
	b.DeletePrefix([]byte("a/01"))
	for i := 100; i < 200; i++ {
		delete(want, fmt.Sprintf("a/%04d", i))
	}
	mustWrite(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, _, err := s.Get(ctx, []byte("a/0001")); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Get after close: err = %v, want ErrClosed", err)
	}

	s = open(t, dir)
	checkContents(t, s, want)
	b.Reset()
	b.Put([]byte("c"), []byte("after reopen"))
	want["c"] = []byte("after reopen")
	b.DeletePrefix([]byte{0xff})
	delete(want, string([]byte{0xff, 0xff, 1}))
	mustWrite(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = open(t, dir)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	checkContents(t, s, want)
}

func mustWrite(t *testing.T, s kv.Writer, b *kv.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func put(t *testing.T, s kv.Writer, kvs ...[]byte) {
	t.Helper()
	var b kv.Batch
	for i := 0; i+1 < len(kvs); i += 2 {
		b.Put(kvs[i], kvs[i+1])
	}
	mustWrite(t, s, &b)
}

func get(t *testing.T, s kv.Reader, key []byte) ([]byte, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %x: %v", key, err)
	}
	if !ok && v != nil {
		t.Fatalf("get %x: missing key returned non-nil value %x", key, v)
	}
	if ok && v == nil {
		t.Fatalf("get %x: present key returned nil value", key)
	}
	return v, ok
}

func expectValue(t *testing.T, s kv.Reader, key, want []byte) {
	t.Helper()
	v, ok := get(t, s, key)
	if !ok {
		t.Fatalf("get %x: missing, want %q", key, want)
	}
	if !bytes.Equal(v, want) {
		t.Fatalf("get %x = %q, want %q", key, v, want)
	}
}

func expectMissing(t *testing.T, s kv.Reader, key []byte) {
	t.Helper()
	if v, ok := get(t, s, key); ok {
		t.Fatalf("get %x = %q, want missing", key, v)
	}
}

type pair struct{ k, v []byte }

func scanAll(t *testing.T, s kv.Reader, prefix []byte) []pair {
	t.Helper()
	var out []pair
	err := s.Scan(context.Background(), prefix, func(k, v []byte) error {
		out = append(out, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("scan %x: %v", prefix, err)
	}
	return out
}

// checkContents checks that the store holds exactly want, through Get, MultiGet and Scan.
func checkContents(t *testing.T, s kv.Reader, want map[string][]byte) {
	t.Helper()
	keys := make([][]byte, 0, len(want))
	for k := range want {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	got := scanAll(t, s, nil)
	if len(got) != len(keys) {
		t.Fatalf("scan found %d keys, want %d", len(got), len(keys))
	}
	for i, p := range got {
		if !bytes.Equal(p.k, keys[i]) || !bytes.Equal(p.v, want[string(keys[i])]) {
			t.Fatalf("scan entry %d = %x:%q, want %x:%q", i, p.k, p.v, keys[i], want[string(keys[i])])
		}
	}
	vals, err := s.MultiGet(context.Background(), keys)
	if err != nil {
		t.Fatalf("multiget: %v", err)
	}
	for i, k := range keys {
		expectValue(t, s, k, want[string(k)])
		if vals[i] == nil || !bytes.Equal(vals[i], want[string(k)]) {
			t.Fatalf("multiget %x = %q, want %q", k, vals[i], want[string(k)])
		}
	}
}

func testGetPutDelete(t *testing.T, s kv.Store) {
	put(t, s, []byte("a"), []byte("1"), []byte("b"), []byte("2"))
	expectValue(t, s, []byte("a"), []byte("1"))
	expectValue(t, s, []byte("b"), []byte("2"))
	put(t, s, []byte("a"), []byte("one"))
	expectValue(t, s, []byte("a"), []byte("one"))
	var b kv.Batch
	b.Delete([]byte("a"))
	b.Delete([]byte("never-there"))
	mustWrite(t, s, &b)
	expectMissing(t, s, []byte("a"))
	expectValue(t, s, []byte("b"), []byte("2"))
	// An empty batch is a no-op.
	mustWrite(t, s, &kv.Batch{})
	expectValue(t, s, []byte("b"), []byte("2"))
}

func testMissing(t *testing.T, s kv.Store) {
	expectMissing(t, s, []byte("nothing"))
	expectMissing(t, s, nil)
	vals, err := s.MultiGet(context.Background(), [][]byte{[]byte("x"), []byte("y")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2 || vals[0] != nil || vals[1] != nil {
		t.Fatalf("multiget of missing keys = %q", vals)
	}
	if got := scanAll(t, s, nil); len(got) != 0 {
		t.Fatalf("scan of empty store found %d keys", len(got))
	}
	put(t, s, []byte("ab"), []byte("1"))
	// Neither a prefix nor an extension of a present key is present.
	expectMissing(t, s, []byte("a"))
	expectMissing(t, s, []byte("abc"))
	expectMissing(t, s, []byte("ab\x00"))
}

func testEmptyValue(t *testing.T, s kv.Store) {
	put(t, s, []byte("nil"), nil, []byte("empty"), []byte{})
	for _, k := range []string{"nil", "empty"} {
		v, ok := get(t, s, []byte(k))
		if !ok || len(v) != 0 {
			t.Fatalf("get %s = %q, %v; want empty and present", k, v, ok)
		}
	}
	vals, err := s.MultiGet(context.Background(), [][]byte{[]byte("nil"), []byte("missing"), []byte("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if vals[0] == nil || len(vals[0]) != 0 || vals[1] != nil || vals[2] == nil || len(vals[2]) != 0 {
		t.Fatalf("multiget = %#v; want present empty, nil, present empty", vals)
	}
	if got := scanAll(t, s, nil); len(got) != 2 {
		t.Fatalf("scan found %d keys, want 2", len(got))
	}
}

func testEmptyKey(t *testing.T, s kv.Store) {
	put(t, s, []byte{}, []byte("root"), []byte{0}, []byte("zero"))
	expectValue(t, s, nil, []byte("root"))
	expectValue(t, s, []byte{}, []byte("root"))
	got := scanAll(t, s, nil)
	if len(got) != 2 || len(got[0].k) != 0 || !bytes.Equal(got[1].k, []byte{0}) {
		t.Fatalf("scan = %v, want the empty key first", got)
	}
	var b kv.Batch
	b.Delete(nil)
	mustWrite(t, s, &b)
	expectMissing(t, s, nil)
	expectValue(t, s, []byte{0}, []byte("zero"))
}

func testMultiGet(t *testing.T, s kv.Store) {
	put(t, s, []byte("a"), []byte("1"), []byte("c"), []byte("3"))
	ctx := context.Background()
	vals, err := s.MultiGet(ctx, [][]byte{[]byte("c"), []byte("b"), []byte("a"), []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("3"), nil, []byte("1"), []byte("3")}
	if len(vals) != len(want) {
		t.Fatalf("multiget returned %d values, want %d", len(vals), len(want))
	}
	for i := range want {
		if (vals[i] == nil) != (want[i] == nil) || !bytes.Equal(vals[i], want[i]) {
			t.Fatalf("multiget[%d] = %q, want %q", i, vals[i], want[i])
		}
	}
	// Duplicate keys get independent copies.
	vals[0][0] = 'x'
	if vals[3][0] != '3' {
		t.Fatal("duplicate keys share a returned slice")
	}
	vals, err = s.MultiGet(ctx, nil)
	if err != nil || len(vals) != 0 {
		t.Fatalf("multiget of no keys = %q, %v", vals, err)
	}
}

// boundaryKeys exercises prefixes ending in 0x00 and 0xff, and keys that are prefixes of
// one another.
var boundaryKeys = [][]byte{
	{},
	{0x00},
	{0x00, 0x00},
	{0x01},
	{0x01, 0x00},
	{0x01, 0x01},
	{0x01, 0xfe},
	{0x01, 0xfe, 0xff},
	{0x01, 0xff},
	{0x01, 0xff, 0x00},
	{0x01, 0xff, 0xff},
	{0x01, 0xff, 0xff, 0xff},
	{0x02},
	{0x7f, 0xff},
	{0x80},
	{0xfe, 0xff, 0xff},
	{0xff},
	{0xff, 0x00},
	{0xff, 0xff},
	{0xff, 0xff, 0x01},
	{0xff, 0xff, 0xff},
}

func boundaryPrefixes() [][]byte {
	ps := [][]byte{nil, {0x03}, {0x01, 0xfe, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}}
	return append(ps, boundaryKeys...)
}

func putBoundaryKeys(t *testing.T, s kv.Writer) map[string][]byte {
	t.Helper()
	var b kv.Batch
	want := map[string][]byte{}
	// Insert in a shuffled (seeded) order so that insertion order cannot leak into results.
	r := rand.New(rand.NewPCG(1, 2))
	for _, i := range r.Perm(len(boundaryKeys)) {
		k := boundaryKeys[i]
		v := fmt.Appendf(nil, "v%x", k)
		b.Put(k, v)
		want[string(k)] = v
	}
	mustWrite(t, s, &b)
	return want
}

func testScanOrder(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(3, 4))
	want := map[string][]byte{}
	var b kv.Batch
	for range 1000 {
		k := make([]byte, 1+r.IntN(6))
		for i := range k {
			// Bias towards the boundary bytes.
			switch r.IntN(4) {
			case 0:
				k[i] = 0
			case 1:
				k[i] = 0xff
			default:
				k[i] = byte(r.Uint32())
			}
		}
		v := fmt.Appendf(nil, "%d", r.Uint32())
		b.Put(k, v)
		want[string(k)] = v
	}
	mustWrite(t, s, &b)
	checkContents(t, s, want)
}

func testScanPrefixBounds(t *testing.T, s kv.Store) {
	want := putBoundaryKeys(t, s)
	for _, p := range boundaryPrefixes() {
		var exp [][]byte
		for _, k := range boundaryKeys {
			if bytes.HasPrefix(k, p) {
				exp = append(exp, k)
			}
		}
		got := scanAll(t, s, p)
		if len(got) != len(exp) {
			t.Fatalf("scan %x: got %d keys %v, want %d", p, len(got), got, len(exp))
		}
		for i := range exp {
			if !bytes.Equal(got[i].k, exp[i]) || !bytes.Equal(got[i].v, want[string(exp[i])]) {
				t.Fatalf("scan %x: entry %d = %x, want %x", p, i, got[i].k, exp[i])
			}
		}
	}
}

func testScanStop(t *testing.T, s kv.Store) {
	putBoundaryKeys(t, s)
	stop := errors.New("stop here")
	n := 0
	err := s.Scan(context.Background(), nil, func(k, v []byte) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("scan returned %v, want the callback's error unchanged", err)
	}
	if n != 3 {
		t.Fatalf("callback ran %d times after the error, want 3", n)
	}
}

func testScanSnapshot(t *testing.T, s kv.Store) {
	put(t, s, []byte("k1"), []byte("1"), []byte("k3"), []byte("3"))
	var seen []string
	err := s.Scan(context.Background(), []byte("k"), func(k, v []byte) error {
		seen = append(seen, string(k))
		if string(k) == "k1" {
			// A write that completes during the scan is not seen by it.
			var b kv.Batch
			b.Put([]byte("k2"), []byte("2"))
			b.Delete([]byte("k3"))
			if err := s.Write(context.Background(), &b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"k1", "k3"}) {
		t.Fatalf("scan saw %v, want the snapshot [k1 k3]", seen)
	}
	expectValue(t, s, []byte("k2"), []byte("2"))
	expectMissing(t, s, []byte("k3"))
}

func testDeletePrefix(t *testing.T, s kv.Store) {
	for _, p := range boundaryPrefixes() {
		want := putBoundaryKeys(t, s)
		var b kv.Batch
		b.DeletePrefix(p)
		mustWrite(t, s, &b)
		for k := range want {
			if bytes.HasPrefix([]byte(k), p) {
				delete(want, k)
			}
		}
		checkContents(t, s, want)
		b.Reset()
		b.DeletePrefix(nil)
		mustWrite(t, s, &b)
		checkContents(t, s, nil)
	}
}

func testBatchOrder(t *testing.T, s kv.Store) {
	put(t, s, []byte("c"), []byte("old"), []byte("e/y"), []byte("old"), []byte{0xff, 0xff, 0x00}, []byte("old"))
	var b kv.Batch
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("a")) // put then delete: missing
	b.Put([]byte("b"), []byte("1"))
	b.Put([]byte("b"), []byte("2")) // last put wins
	b.Delete([]byte("c"))
	b.Put([]byte("c"), []byte("new")) // delete then put: present
	b.Put([]byte("d/x"), []byte("1"))
	b.DeletePrefix([]byte("d/")) // put then delete-prefix: missing
	b.DeletePrefix([]byte("e/"))
	b.Put([]byte("e/x"), []byte("1")) // delete-prefix then put: present
	b.Put([]byte{0xff, 0xff, 0x01}, []byte("1"))
	b.DeletePrefix([]byte{0xff, 0xff}) // unbounded prefix, covers the put above and the old key
	b.Put([]byte{0xff, 0xff, 0x02}, []byte("2"))
	mustWrite(t, s, &b)
	checkContents(t, s, map[string][]byte{
		"b":                              []byte("2"),
		"c":                              []byte("new"),
		"e/x":                            []byte("1"),
		string([]byte{0xff, 0xff, 0x02}): []byte("2"),
	})
}

func testBatchAtomicVisibility(t *testing.T, s kv.Store) {
	const nkeys, rounds = 16, 200
	keys := make([][]byte, nkeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "atomic/%02d", i)
	}
	var b kv.Batch
	for _, k := range keys {
		b.Put(k, []byte("0"))
	}
	mustWrite(t, s, &b)

	ctx := context.Background()
	done := make(chan struct{})
	werr, rerr := make(chan error, 1), make(chan error, 1)
	go func() {
		defer close(done)
		var b kv.Batch
		for r := 1; r <= rounds; r++ {
			b.Reset()
			v := fmt.Appendf(nil, "%d", r)
			for _, k := range keys {
				b.Put(k, v)
			}
			if err := s.Write(ctx, &b); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	go func() {
		rerr <- func() error {
			for {
				select {
				case <-done:
					return nil
				default:
				}
				vals, err := s.MultiGet(ctx, keys)
				if err != nil {
					return err
				}
				for _, v := range vals[1:] {
					if !bytes.Equal(v, vals[0]) {
						return fmt.Errorf("multiget saw a partial batch: %q", vals)
					}
				}
				var first []byte
				err = s.Scan(ctx, []byte("atomic/"), func(k, v []byte) error {
					if first == nil {
						first = bytes.Clone(v)
					} else if !bytes.Equal(v, first) {
						return fmt.Errorf("scan saw a partial batch at %s: %q vs %q", k, v, first)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}()
	}()
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if err := <-rerr; err != nil {
		t.Fatal(err)
	}
}

func testNotAliased(t *testing.T, s kv.Store) {
	k, v := []byte("key"), []byte("value")
	var b kv.Batch
	b.Put(k, v)
	k[0], v[0] = 'X', 'X' // the batch copied them
	mustWrite(t, s, &b)
	b.Reset() // the store did not retain the batch's ops
	expectValue(t, s, []byte("key"), []byte("value"))

	got, _ := get(t, s, []byte("key"))
	got[0] = 'X'
	expectValue(t, s, []byte("key"), []byte("value"))

	vals, err := s.MultiGet(context.Background(), [][]byte{[]byte("key")})
	if err != nil {
		t.Fatal(err)
	}
	vals[0][0] = 'X'
	expectValue(t, s, []byte("key"), []byte("value"))

	// Retaining a key passed to Get or MultiGet is not allowed either.
	q := []byte("key")
	if _, _, err := s.Get(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	q[0] = 'X'
	expectValue(t, s, []byte("key"), []byte("value"))
	expectMissing(t, s, []byte("Xey"))
}

func testLargeValue(t *testing.T, s kv.Store) {
	big := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	put(t, s, []byte("big"), big)
	expectValue(t, s, []byte("big"), big)
}

func testConcurrent(t *testing.T, s kv.Store) {
	const writers, readers, batches, perBatch = 8, 4, 20, 10
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, writers+readers)
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b kv.Batch
			for i := range batches {
				b.Reset()
				for j := range perBatch {
					b.Put(fmt.Appendf(nil, "w%d/%03d/%02d", w, i, j), fmt.Appendf(nil, "%d", i*perBatch+j))
				}
				// Each writer also churns one shared key.
				b.Put([]byte("shared"), fmt.Appendf(nil, "w%d", w))
				if err := s.Write(ctx, &b); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				prefix := fmt.Appendf(nil, "w%d/", r)
				var prev []byte
				err := s.Scan(ctx, prefix, func(k, v []byte) error {
					if prev != nil && bytes.Compare(prev, k) >= 0 {
						return fmt.Errorf("scan out of order: %q then %q", prev, k)
					}
					prev = append(prev[:0], k...)
					return nil
				})
				if err != nil {
					errc <- err
					return
				}
				if _, _, err := s.Get(ctx, []byte("shared")); err != nil {
					errc <- err
					return
				}
				if _, err := s.MultiGet(ctx, [][]byte{[]byte("shared"), prefix}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for w := range writers {
		got := scanAll(t, s, fmt.Appendf(nil, "w%d/", w))
		if len(got) != batches*perBatch {
			t.Fatalf("writer %d: %d keys, want %d", w, len(got), batches*perBatch)
		}
	}
}

func testCanceled(t *testing.T, s kv.Store) {
	put(t, s, []byte("a"), []byte("1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Get(ctx, []byte("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: err = %v, want context.Canceled", err)
	}
	if _, err := s.MultiGet(ctx, [][]byte{[]byte("a")}); !errors.Is(err, context.Canceled) {
		t.Errorf("MultiGet: err = %v, want context.Canceled", err)
	}
	if err := s.Scan(ctx, nil, func(k, v []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan: err = %v, want context.Canceled", err)
	}
	var b kv.Batch
	b.Put([]byte("b"), []byte("2"))
	if err := s.Write(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Errorf("Write: err = %v, want context.Canceled", err)
	}
	expectMissing(t, s, []byte("b"))
}

func testClosed(t *testing.T, s kv.Store) {
	put(t, s, []byte("a"), []byte("1"))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := context.Background()
	if _, _, err := s.Get(ctx, []byte("a")); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Get: err = %v, want ErrClosed", err)
	}
	if _, err := s.MultiGet(ctx, [][]byte{[]byte("a")}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("MultiGet: err = %v, want ErrClosed", err)
	}
	if err := s.Scan(ctx, nil, func(k, v []byte) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Scan: err = %v, want ErrClosed", err)
	}
	var b kv.Batch
	b.Put([]byte("b"), []byte("2"))
	if err := s.Write(ctx, &b); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Write: err = %v, want ErrClosed", err)
	}
	if err := s.Write(ctx, &kv.Batch{}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Write of an empty batch: err = %v, want ErrClosed", err)
	}
}

// testCloseWhileBusy closes the store while readers and writers run: every operation either
// succeeds or returns ErrClosed, none panics, and all of them fail after Close returns.
func testCloseWhileBusy(t *testing.T, s kv.Store) {
	put(t, s, []byte("a"), []byte("1"), []byte("b"), []byte("2"))
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	started := make(chan struct{}, 4)
	loop := func(op func() error) {
		defer wg.Done()
		for n := 0; ; n++ {
			if n == 10 {
				started <- struct{}{}
			}
			if err := op(); err != nil {
				if !errors.Is(err, kv.ErrClosed) {
					errc <- fmt.Errorf("operation during Close: %w", err)
				}
				return
			}
		}
	}
	wg.Add(4)
	go loop(func() error { _, _, err := s.Get(ctx, []byte("a")); return err })
	go loop(func() error { _, err := s.MultiGet(ctx, [][]byte{[]byte("a"), []byte("b")}); return err })
	go loop(func() error { return s.Scan(ctx, nil, func(k, v []byte) error { return nil }) })
	go loop(func() error {
		var b kv.Batch
		b.Put([]byte("c"), []byte("3"))
		return s.Write(ctx, &b)
	})
	for range 4 {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
