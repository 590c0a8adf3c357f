package pebblekv

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// syncCountingFS counts the syncs of WAL files (*.log). While armed, the first WAL sync
// waits in gate, so that a test can line up concurrent commits behind it.
type syncCountingFS struct {
	vfs.FS
	syncs atomic.Int64
	// gate, if set, is called (once) inside the first WAL sync after arming.
	gate atomic.Pointer[func()]
}

func (fs *syncCountingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &syncCountingFile{File: f, fs: fs}, nil
}

func (fs *syncCountingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *syncCountingFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type syncCountingFile struct {
	vfs.File
	fs *syncCountingFS
}

func (f *syncCountingFile) count() {
	if g := f.fs.gate.Swap(nil); g != nil {
		(*g)()
	}
	f.fs.syncs.Add(1)
}

func (f *syncCountingFile) Sync() error     { f.count(); return f.File.Sync() }
func (f *syncCountingFile) SyncData() error { f.count(); return f.File.SyncData() }

func openCounting(tb testing.TB) (*Store, *syncCountingFS) {
	tb.Helper()
	return openCountingWith(tb, Options{})
}

// openCountingWith opens a store with opts in a temporary directory, its WAL syncs
// counted, and closes it when the test ends.
func openCountingWith(tb testing.TB, opts Options) (*Store, *syncCountingFS) {
	tb.Helper()
	fs := &syncCountingFS{FS: vfs.Default}
	opts.FS = fs
	s, err := Open(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s, fs
}

// TestGroupCommit checks that concurrent synced writes share WAL fsyncs. It is structural,
// not timed: the first WAL sync is held until Pebble has accepted all n batches into its
// commit pipeline (visible as the WAL's logical bytes), so the n-1 batches queued behind
// it are flushed by at most two more syncs, whatever the disk speed or scheduling.
func TestGroupCommit(t *testing.T) {
	const n = 16
	s, fs := openCounting(t)
	ctx := context.Background()
	batches := make([]*kv.Batch, n)
	for i := range batches {
		batches[i] = new(kv.Batch)
		for j := range 10 {
			batches[i].Put(fmt.Appendf(nil, "w%02d/%02d", i, j), make([]byte, 100))
		}
	}
	before := s.db.Metrics().WAL.BytesIn
	var perBatch uint64
	{
		// Measure the WAL bytes of one batch of the same shape.
		var b kv.Batch
		for j := range 10 {
			b.Put(fmt.Appendf(nil, "v%02d/%02d", 0, j), make([]byte, 100))
		}
		if err := s.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		perBatch = s.db.Metrics().WAL.BytesIn - before
	}
	start := s.db.Metrics().WAL.BytesIn
	gateErr := make(chan error, 1)
	gate := func() {
		deadline := time.Now().Add(30 * time.Second)
		for s.db.Metrics().WAL.BytesIn < start+n*perBatch {
			if time.Now().After(deadline) {
				gateErr <- fmt.Errorf("commits did not queue: WAL bytes in %d, want %d", s.db.Metrics().WAL.BytesIn-start, n*perBatch)
				return
			}
			time.Sleep(time.Millisecond)
		}
		gateErr <- nil
	}
	syncsBefore := fs.syncs.Load()
	fs.gate.Store(&gate)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Write(ctx, batches[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-gateErr; err != nil {
		t.Fatal(err)
	}
	syncs := fs.syncs.Load() - syncsBefore
	t.Logf("%d concurrent synced batches, %d WAL syncs", n, syncs)
	if syncs > 3 {
		t.Fatalf("%d synced batches took %d WAL syncs, want at most 3 (group commit)", n, syncs)
	}
	for i := range n {
		if _, ok, err := s.Get(ctx, fmt.Appendf(nil, "w%02d/09", i)); err != nil || !ok {
			t.Fatalf("batch %d not readable: %v %v", i, ok, err)
		}
	}
}

// TestWriteSyncs checks that a lone Write fsyncs the WAL before returning, whatever the
// WAL's minimum sync interval (none, the default, a longer one): the interval delays
// an fsync, it never lets a Write return without one.
func TestWriteSyncs(t *testing.T) {
	for _, interval := range []time.Duration{-1, 0, 5 * time.Millisecond} {
		t.Run(fmt.Sprintf("min-sync=%v", interval), func(t *testing.T) {
			s, fs := openCountingWith(t, Options{WALMinSyncInterval: interval})
			for i := range 3 {
				before := fs.syncs.Load()
				var b kv.Batch
				b.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
				if err := s.Write(context.Background(), &b); err != nil {
					t.Fatal(err)
				}
				if got := fs.syncs.Load() - before; got != 1 {
					t.Fatalf("write %d: %d WAL syncs, want 1", i, got)
				}
			}
		})
	}
}

// TestWALMinSyncIntervalOption checks how Options.WALMinSyncInterval maps to Pebble's.
func TestWALMinSyncIntervalOption(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, DefaultWALMinSyncInterval},
		{-1, 0},
		{-time.Second, 0},
		{2 * time.Millisecond, 2 * time.Millisecond},
	} {
		if got := walMinSyncInterval(tc.in); got != tc.want {
			t.Errorf("walMinSyncInterval(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// BenchmarkPebbleWriteBatch writes batches of 100 puts (32-byte keys, 100-byte values),
// each committed with a WAL fsync, from 1 and 8 concurrent writers. It reports keys/s and
// WAL fsyncs per batch (below 1 when group commit coalesces).
func BenchmarkPebbleWriteBatch(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, fs := openCounting(b)
			ctx := context.Background()
			var next atomic.Int64
			syncsBefore := fs.syncs.Load()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var batch kv.Batch
					key := make([]byte, 32)
					val := make([]byte, 100)
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						batch.Reset()
						for j := range 100 {
							// Spread keys: writer, batch, position.
							copy(key, fmt.Appendf(key[:0], "%02d-%012d-%03d", w, i, j))
							val[0] = byte(j)
							batch.Put(key, val)
						}
						if err := s.Write(ctx, &batch); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)*100/elapsed.Seconds(), "keys/s")
			b.ReportMetric(float64(fs.syncs.Load()-syncsBefore)/float64(b.N), "fsyncs/batch")
		})
	}
}

// TestWALHolds checks when the WAL's minimum sync interval holds the next fsync back,
// and that Stats counts it: never for a lone writer; after an fsync with two writes
// behind it, at least once (for the fsync that covers them, once more if the writes
// covered are still in Commit as it ends). Structural, not timed: the first fsync
// waits in the gate until the two later writes have entered Pebble's Commit.
func TestWALHolds(t *testing.T) {
	s, fs := openCounting(t)
	ctx := context.Background()
	write := func(key string) error {
		var b kv.Batch
		b.Put([]byte(key), make([]byte, 100))
		return s.Write(ctx, &b)
	}
	holds := func() uint64 {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.WALHolds
	}

	before := holds()
	for i := range 5 {
		if err := write(fmt.Sprintf("lone%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := holds() - before; got != 0 {
		t.Fatalf("5 sequential writes: %d holds, want 0", got)
	}

	inSync := make(chan struct{})
	gateErr := make(chan error, 1)
	gate := func() {
		close(inSync)
		deadline := time.Now().Add(30 * time.Second)
		for s.syncCommits.Load() < 3 {
			if time.Now().After(deadline) {
				gateErr <- fmt.Errorf("writes did not enter Commit: %d in progress, want 3", s.syncCommits.Load())
				return
			}
			time.Sleep(time.Millisecond)
		}
		gateErr <- nil
	}
	before = holds()
	fs.gate.Store(&gate)
	errs := make(chan error, 3)
	go func() { errs <- write("w0") }()
	<-inSync
	go func() { errs <- write("w1") }()
	go func() { errs <- write("w2") }()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-gateErr; err != nil {
		t.Fatal(err)
	}
	if got := holds() - before; got < 1 || got > 2 {
		t.Fatalf("an fsync with two writes behind it, then theirs: %d holds, want 1 or 2", got)
	}
}
