package pebblekv

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// readCountingFS counts the bytes read from table and blob files.
type readCountingFS struct {
	vfs.FS
	read atomic.Int64
}

func (fs *readCountingFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil || !(strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")) {
		return f, err
	}
	return &readCountingFile{File: f, fs: fs}, nil
}

type readCountingFile struct {
	vfs.File
	fs *readCountingFS
}

func (f *readCountingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.fs.read.Add(int64(n))
	return n, err
}

func (f *readCountingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.fs.read.Add(int64(n))
	return n, err
}

// largeFixture is a store holding small keys k/0000..k/<n> with a few large values
// (16–30 MiB, incompressible) under keys that sort between them, flushed and compacted
// to disk, then reopened with a cold block cache.
type largeFixture struct {
	s      *Store
	fs     *readCountingFS
	small  [][]byte // present small keys
	large  [][]byte // keys of the large values
	absent [][]byte // absent keys, some right next to the large values
}

func newLargeFixture(tb testing.TB) *largeFixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	fs := &readCountingFS{FS: vfs.Default}
	s, err := Open(dir, Options{FS: fs})
	if err != nil {
		tb.Fatal(err)
	}
	f := &largeFixture{fs: fs}
	rng := rand.New(rand.NewPCG(1, 2))
	const smallKeys = 3000
	var b kv.Batch
	for i := range smallKeys {
		k := []byte(fmt.Sprintf("k/%04d", i))
		b.Put(k, bytes.Repeat([]byte{byte(i)}, 100))
		f.small = append(f.small, k)
	}
	if err := s.Write(ctx, &b); err != nil {
		tb.Fatal(err)
	}
	for i, size := range []int{16 << 20, 24 << 20, 30 << 20} {
		at := (i + 1) * smallKeys / 4
		k := []byte(fmt.Sprintf("k/%04d/large", at))
		v := make([]byte, size)
		for j := 0; j < len(v); j += 8 {
			u := rng.Uint64()
			copy(v[j:], []byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24), byte(u >> 32), byte(u >> 40), byte(u >> 48), byte(u >> 56)})
		}
		var lb kv.Batch
		lb.Put(k, v)
		if err := s.Write(ctx, &lb); err != nil {
			tb.Fatal(err)
		}
		f.large = append(f.large, k)
		// Absent keys on both sides of the large one.
		f.absent = append(f.absent, []byte(fmt.Sprintf("k/%04d/a", at)), []byte(fmt.Sprintf("k/%04d/m", at)), []byte(fmt.Sprintf("k/%04d/z", at)))
	}
	for i := 0; i < smallKeys; i += 7 {
		f.absent = append(f.absent, []byte(fmt.Sprintf("k/%04d/x", i)))
	}
	if err := s.db.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := s.db.Compact(ctx, []byte("k/"), []byte("k0"), true); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	if f.s, err = Open(dir, Options{FS: fs}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return f
}

// nearLarge returns the small keys right before and after each large value.
func (f *largeFixture) nearLarge(tb testing.TB) [][]byte {
	var near [][]byte
	for _, k := range f.large {
		var at int
		if _, err := fmt.Sscanf(string(k), "k/%04d/large", &at); err != nil {
			tb.Fatal(err)
		}
		near = append(near, f.small[at], f.small[at+1])
	}
	return near
}

// readFor returns the bytes read from table and blob files while getting keys, and
// checks that each is present or absent as expected.
func (f *largeFixture) readFor(tb testing.TB, keys [][]byte, present bool) int64 {
	tb.Helper()
	before := f.fs.read.Load()
	for _, k := range keys {
		_, ok, err := f.s.Get(context.Background(), k)
		if err != nil || ok != present {
			tb.Fatalf("get %q: ok=%v err=%v, want ok=%v", k, ok, err, present)
		}
	}
	return f.fs.read.Load() - before
}

// TestAttackLargeValuesStayOffTheLookupPath stores 16–30 MiB values next to small keys,
// then looks up absent keys (right next to the large values and elsewhere) and small
// present keys next to them with a cold cache: none of these lookups may read the large
// values from disk. Before bloom filters and value separation, an absent key sorting
// next to a large value made Pebble read (and decompress) its whole data block.
func TestAttackLargeValuesStayOffTheLookupPath(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70 MiB")
	}
	f := newLargeFixture(t)
	const limit = 1 << 20 // far below the smallest large value (16 MiB)
	near := f.nearLarge(t)
	if n := f.readFor(t, near, true); n > limit {
		t.Errorf("%d small-key lookups next to large values read %d bytes from disk, want at most %d", len(near), n, limit)
	} else {
		t.Logf("%d small-key lookups next to large values read %d bytes from disk", len(near), n)
	}
	if n := f.readFor(t, f.absent, false); n > limit {
		t.Errorf("%d absent-key lookups read %d bytes from disk, want at most %d", len(f.absent), n, limit)
	} else {
		t.Logf("%d absent-key lookups read %d bytes from disk", len(f.absent), n)
	}
	// The large values themselves are still there, whole.
	for i, k := range f.large {
		v, ok, err := f.s.Get(context.Background(), k)
		if err != nil || !ok || len(v) != []int{16 << 20, 24 << 20, 30 << 20}[i] {
			t.Fatalf("large value %q: %d bytes, ok=%v, err=%v", k, len(v), ok, err)
		}
	}
}

// BenchmarkLookupNextToLargeValues measures Get of absent keys and of small present keys
// in a store that also holds 16–30 MiB values (warm block cache).
func BenchmarkLookupNextToLargeValues(b *testing.B) {
	f := newLargeFixture(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		keys [][]byte
	}{{"absent", f.absent}, {"present", f.nearLarge(b)}, {"present-any", f.small}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, _, err := f.s.Get(ctx, c.keys[i%len(c.keys)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
