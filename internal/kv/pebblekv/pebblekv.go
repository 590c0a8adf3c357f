// Package pebblekv is the embedded, durable kv.Store: a thin layer over Pebble v2
// (github.com/cockroachdb/pebble/v2), the LSM engine of CockroachDB.
//
// Every Write commits with pebble.Sync, so it returns only after the batch is in the
// write-ahead log and the log is fsynced. Pebble's commit pipeline coalesces the WAL syncs of
// concurrent committers: while one fsync is in flight, later batches queue behind it and
// share the next fsync (group commit). Many workers writing small batches at once therefore
// cost far fewer fsyncs than batches; TestGroupCommit checks this and
// BenchmarkPebbleWriteBatch reports fsyncs per batch.
//
// DeletePrefix becomes one range deletion over [prefix, kv.PrefixEnd(prefix)). A prefix
// without an end (empty or all 0xff) is resolved at write time to a range ending just past
// the greatest key that has it; such a batch excludes concurrent writers while it is built
// and committed.
package pebblekv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	dto "github.com/prometheus/client_model/go"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
)

// DefaultCacheSize is the block cache size used when Options.CacheSize is zero.
const DefaultCacheSize = 64 << 20

// Options configure Open. The zero value is valid.
type Options struct {
	// CacheSize is the size in bytes of Pebble's block cache; 0 means DefaultCacheSize.
	CacheSize int64
	// Logger receives Pebble's log lines and notable events (background errors, detected
	// corruption, write stalls, low disk space). Nil discards them: Pebble never writes to
	// stderr on its own.
	Logger *slog.Logger

	// NoSync commits writes without waiting for the write-ahead log to reach the disk:
	// a crash of the machine (not of the process) may lose the last writes, never
	// reorder or tear them. Only for stores that can be rebuilt from elsewhere, such as
	// a client's replica of chains it verifies and re-downloads (a validator's store
	// holds its votes: it always syncs).
	NoSync bool

	// FS replaces the file system; nil is the operating system's. For tests: they
	// count WAL syncs through it, or simulate a power loss with vfs.NewCrashableMem.
	FS vfs.FS

	// WALMinSyncInterval is how long after the end of a WAL fsync the next one waits
	// when synced writes are concurrent (more than one Write was committing when the
	// fsync ended): the synced writes that arrive meanwhile share the next fsync. A
	// lone writer is never held back. 0 means DefaultWALMinSyncInterval; a negative
	// value starts each fsync as soon as one is requested and the previous one ended.
	WALMinSyncInterval time.Duration

	// tune, if set, changes Pebble's options after the store's own (benchmarks
	// comparing options).
	tune func(*pebble.Options)
}

// DefaultWALMinSyncInterval is the WAL sync interval used when
// Options.WALMinSyncInterval is zero. A validator's synced writes (votes and
// certificates) come from many chains at once; holding the next fsync back until this
// long after the previous one lets more of them share it, and each fsync costs the
// kernel CPU on top of its wait (BenchmarkBlockWrites, 16 chains: 7–8 synced batches
// per fsync without the interval, 14–15 with it).
// A synced write waits at most this much longer; durability is unchanged: Write still
// returns only after an fsync that covers its batch.
//
// A lone writer is not held: held, each of its fsyncs waited for a timer, which cost
// it ~150 µs of CPU and ~1.5 ms per synced write (BenchmarkBlockWrites, 1 chain:
// a vote and a certificate per block). An fsync shared by concurrent writes is held
// even if nothing comes after it (the timer's expiry then wakes the WAL writer for
// nothing): holding only when a write began during the fsync avoided a third of the
// holds but cost more fsyncs than it saved wake-ups (docs/PERFORMANCE.md, "perf17").
const DefaultWALMinSyncInterval = 500 * time.Microsecond

// Store is a kv.Store over a Pebble database. It is safe for concurrent use.
type Store struct {
	db        *pebble.DB
	log       *slog.Logger
	writeOpts *pebble.WriteOptions // pebble.Sync unless Options.NoSync

	// unbounded is held shared by every Write and exclusively by a Write whose batch has a
	// DeletePrefix without an end (see resolveUnbounded).
	unbounded sync.RWMutex

	mu sync.Mutex
	// closed is set by Close; afterwards no operation starts.
	closed bool
	// active counts operations in progress. Invariant: active >= 0.
	active int
	// idle is closed when closed is set and active drops to zero.
	idle chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Counters of Write and WriteLazy (Stats).
	commits, lazyCommits, keys atomic.Uint64

	// minSync is the resolved Options.WALMinSyncInterval (0: none).
	minSync time.Duration
	// syncCommits counts the synced commits in progress (in Pebble's Commit), read by
	// walSyncInterval when a WAL fsync ends.
	syncCommits atomic.Int64
	// walHolds counts the fsyncs after which walSyncInterval held the next one back.
	walHolds atomic.Uint64
}

// Stats counts a store's writes since it was opened.
type Stats struct {
	// Commits and LazyCommits count the non-empty batches committed by Write and by
	// WriteLazy; Keys counts their operations (puts, deletes, range deletions).
	Commits, LazyCommits, Keys uint64
	// WALSyncs counts the fsyncs of the write-ahead log. Concurrent synced commits share
	// one (group commit), so Commits / WALSyncs is the number of synced batches per fsync.
	// Pebble records a sync just after it wakes the writers it synced for, so the count
	// may trail a returned Write briefly.
	WALSyncs uint64
	// WALBytes counts the bytes written to the write-ahead log.
	WALBytes uint64
	// WALHolds counts the WAL fsyncs after which the next one was held back by the
	// minimum sync interval (Options.WALMinSyncInterval): each arms Pebble's timer.
	WALHolds uint64

	// What the LSM does in the background, since the store was opened (Flushes,
	// Compactions and the byte counts) or now (the rest): the figures that tell a store
	// catching up on compactions from a settled one.
	//
	// Flushes counts memtable flushes; FlushedBytes the table and blob bytes they wrote.
	Flushes, FlushedBytes uint64
	// Compactions counts compactions; CompactedBytes the table and blob bytes they
	// wrote.
	Compactions, CompactedBytes uint64
	// CompactionDebt is Pebble's estimate of the bytes to compact for the LSM to
	// reach its shape.
	CompactionDebt uint64
	// L0Files and L0Sublevels count L0's tables and its sublevels; ReadAmp is the
	// number of sorted runs a point lookup may visit (L0's sublevels plus the non-empty
	// levels below).
	L0Files, L0Sublevels, ReadAmp uint64
	// Tables and BlobFiles count the live tables and blob files.
	Tables, BlobFiles uint64
	// BlockCacheHits and BlockCacheMisses count the block cache's lookups.
	BlockCacheHits, BlockCacheMisses uint64
}

// Stats returns the store's write counters, or kv.ErrClosed. It reads Pebble's metrics,
// cheap enough for every metrics scrape, not for every write.
func (s *Store) Stats() (Stats, error) {
	if err := s.enter(); err != nil {
		return Stats{}, err
	}
	defer s.leave()
	m := s.db.Metrics()
	st := Stats{Commits: s.commits.Load(), LazyCommits: s.lazyCommits.Load(), Keys: s.keys.Load(), WALBytes: m.WAL.BytesWritten, WALHolds: s.walHolds.Load()}
	lsmStats(m, &st)
	if h := m.LogWriter.FsyncLatency; h != nil {
		var d dto.Metric
		if err := h.Write(&d); err == nil {
			st.WALSyncs = d.GetHistogram().GetSampleCount()
		}
	}
	return st, nil
}

// lsmStats fills st's LSM figures from Pebble's metrics.
func lsmStats(m *pebble.Metrics, st *Stats) {
	st.Flushes = nonNegative(m.Flush.Count)
	st.Compactions = nonNegative(m.Compact.Count)
	st.CompactionDebt = m.Compact.EstimatedDebt
	for i := range m.Levels {
		l := &m.Levels[i]
		st.FlushedBytes += l.TableBytesFlushed + l.BlobBytesFlushed
		st.CompactedBytes += l.TableBytesCompacted + l.BlobBytesCompacted
		st.Tables += nonNegative(l.TablesCount)
	}
	st.L0Files = nonNegative(m.Levels[0].TablesCount)
	st.L0Sublevels = nonNegative(int64(m.Levels[0].Sublevels))
	st.ReadAmp = nonNegative(int64(m.ReadAmp()))
	st.BlobFiles = m.BlobFiles.LiveCount
	st.BlockCacheHits = nonNegative(m.BlockCache.Hits)
	st.BlockCacheMisses = nonNegative(m.BlockCache.Misses)
}

func nonNegative(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}

var (
	_ kv.Store      = (*Store)(nil)
	_ kv.LazyWriter = (*Store)(nil)
)

// Open opens (creating if needed) the database in dir. Only one Store may have a directory
// open at a time; a second Open of the same directory fails.
func Open(dir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "pebble")
	size := opts.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	cache := pebble.NewCache(size)
	defer cache.Unref() // the DB holds its own reference
	po := &pebble.Options{
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             slogAdapter{log},
		EventListener:      eventListener(log),
		FS:                 opts.FS,
	}
	tuneForLargeValues(po)
	if opts.tune != nil {
		opts.tune(po)
	}
	s := &Store{log: log, idle: make(chan struct{}), writeOpts: pebble.Sync, minSync: walMinSyncInterval(opts.WALMinSyncInterval)}
	if opts.NoSync {
		s.writeOpts = pebble.NoSync
	}
	if s.minSync > 0 && !opts.NoSync {
		po.WALMinSyncInterval = s.walSyncInterval
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, wrap("open "+dir, err)
	}
	s.db = db
	return s, nil
}

// walSyncInterval is Pebble's WALMinSyncInterval, called as each WAL fsync ends: the
// interval while synced commits are concurrent, none for a lone one. The commits the
// fsync covered are still counted (they leave Commit after this call), so more than
// one means the fsync was shared or another commit is already waiting for the next.
func (s *Store) walSyncInterval() time.Duration {
	if s.syncCommits.Load() > 1 {
		s.walHolds.Add(1)
		return s.minSync
	}
	return 0
}

// walMinSyncInterval resolves Options.WALMinSyncInterval: 0 is the default, a negative
// value none (0).
func walMinSyncInterval(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultWALMinSyncInterval
	case d < 0:
		return 0
	default:
		return d
	}
}

// Storage layout for large values.
const (
	// blockSize is the target uncompressed size of a table data block.
	blockSize = 32 << 10
	// bloomBitsPerKey sizes the bloom filters (10 bits: about 1% false positives).
	bloomBitsPerKey = 10
	// separateValuesFrom is the size from which a value is stored in a blob file,
	// outside the table's data blocks (value separation).
	separateValuesFrom = 16 << 10
	// maxBlobReferenceDepth bounds how many overlapping blob files a table may
	// reference before a compaction rewrites its values into new blob files.
	maxBlobReferenceDepth = 1000
	// lBaseMaxBytes is the target size of the LSM's base level.
	lBaseMaxBytes = 8 << 20
)

// tuneForLargeValues keeps large values (proposals, certificates and blobs of up to tens
// of MiB, which anyone can make a validator store) off the lookup path of small keys.
// Pebble's defaults have no bloom filter, so a Get of an absent key seeks into a data
// block on every level; a block holding one 16 MiB value is read and decompressed
// whole when the seek lands on it, which made absent-key lookups 400 times slower on a
// network that had stored one large proposal. Here:
//
//   - every level (L0 included) has a bloom filter, so a Get of an absent key reads
//     no data block except on a false positive;
//   - values of separateValuesFrom bytes or more are stored in blob files (value
//     separation, FormatValueSeparation), so a data block holds only small values and
//     references: a seek near a large value, or a false positive, reads a small block;
//   - data blocks are 32 KiB, fewer index entries for the same data.
//
// TestAttackLargeValuesStayOffTheLookupPath checks it by counting bytes read from disk.
//
// Two settings keep the compactions' work per block from growing with the data
// (BenchmarkSteadyState: 16 chains × 100 transfers, Pebble's defaults compacted 100 KB
// per block at first and 280 KB after 24,000 blocks, and the process's CPU per block
// tripled):
//
//   - a table may reference up to maxBlobReferenceDepth blob files (Pebble's example
//     is 10). Certificates are stored under their hash, so every flush's blob file
//     spans the whole key space and every table soon references more than 10: each
//     compaction then rewrote every certificate its tables referenced, work
//     proportional to all the certificates stored. The bound still caps the
//     references a table carries (and the metadata it costs), and blob files with
//     garbage are still rewritten (TargetGarbageRatio).
//   - the base level's target is lBaseMaxBytes (Pebble's default 64 MiB). With the
//     default, the base level (L5) grew to 30 MiB of small keys and deletion
//     tombstones (a block's received bundles are put and deleted) while L0
//     compactions kept it from being compacted down, and every L0 compaction rewrote
//     all of it. A smaller base level pushes the tombstones to the bottom level,
//     where they are dropped.
func tuneForLargeValues(po *pebble.Options) {
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
		po.Levels[i].BlockSize = blockSize
	}
	po.LBaseMaxBytes = lBaseMaxBytes
	po.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           separateValuesFrom,
			MaxBlobReferenceDepth: maxBlobReferenceDepth,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.20,
		}
	}
}

// enter registers an operation, or returns kv.ErrClosed. Every successful enter is paired
// with a leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kv.ErrClosed
	}
	s.active++
	return nil
}

func (s *Store) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.closed && s.active == 0 {
		close(s.idle)
	}
}

// Close waits for operations in progress to finish, then closes the database. It is
// idempotent: later calls return the first call's result. It must not be called from inside
// a Scan callback.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		busy := s.active > 0
		s.mu.Unlock()
		if busy {
			<-s.idle
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = wrap("close", err)
		}
	})
	return s.closeErr
}

// DiskUsage returns the bytes the database occupies on disk (tables, blob files, WAL),
// or kv.ErrClosed. It is cheap enough for every metrics scrape.
func (s *Store) DiskUsage() (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.db.Metrics().DiskSpaceUsage(), nil
}

// Get implements kv.Reader.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	return get(s.db, key)
}

// get reads key from a DB or snapshot and copies the value out.
func get(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("get", err)
	}
	out := append([]byte{}, v...)
	if err := closer.Close(); err != nil {
		return nil, false, wrap("get", err)
	}
	return out, true, nil
}

// MultiGet implements kv.Reader. Several keys are read through one iterator, which
// reads from one point in time, in ascending key order: consecutive keys (a queue's
// entries) cost a step each instead of a point lookup, and no snapshot is taken.
func (s *Store) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := make([][]byte, len(keys))
	if len(keys) == 1 {
		v, ok, err := get(s.db, keys[0])
		if err != nil {
			return nil, err
		}
		if ok {
			out[0] = v
		}
		return out, nil
	}
	if len(keys) == 0 {
		return out, nil
	}
	return s.multiGetIter(ctx, keys, out)
}

// multiGetIter reads keys (at least two) into out through one iterator bounded by the
// smallest and the greatest key, seeking them in ascending order (Pebble steps instead
// of seeking when the next key is near).
func (s *Store) multiGetIter(ctx context.Context, keys [][]byte, out [][]byte) (_ [][]byte, err error) {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sorted := true
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	}
	lo, hi := keys[order[0]], keys[order[len(order)-1]]
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: nilIfEmpty(lo), UpperBound: append(bytes.Clone(hi), 0)})
	if err != nil {
		return nil, wrap("multi-get", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = wrap("multi-get", cerr)
		}
	}()
	for n, i := range order {
		if n%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		k := keys[i]
		// The empty key is the first: Pebble's invariants build (-tags invariants, as in
		// CI) reads key[0] of a non-nil key given to SeekGE.
		var found bool
		if len(k) == 0 {
			found = it.First()
		} else {
			found = it.SeekGE(k)
		}
		if !found || !bytes.Equal(it.Key(), k) {
			if err := it.Error(); err != nil {
				return nil, wrap("multi-get", err)
			}
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, wrap("multi-get", err)
		}
		out[i] = append([]byte{}, v...)
	}
	return out, nil
}

// Scan implements kv.Reader. fn receives Pebble's iterator buffers: it must not modify or
// retain them.
func (s *Store) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: nilIfEmpty(prefix),
		UpperBound: kv.PrefixEnd(prefix),
	})
	if err != nil {
		return wrap("scan", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = wrap("scan", cerr)
		}
	}()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return wrap("scan", err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return wrap("scan", err)
	}
	return nil
}

// Write implements kv.Writer: one Pebble batch committed with pebble.Sync (pebble.NoSync
// with Options.NoSync).
func (s *Store) Write(ctx context.Context, b *kv.Batch) error {
	return s.write(ctx, b, s.writeOpts, &s.commits)
}

// WriteLazy implements kv.LazyWriter: the batch is committed with pebble.NoSync. Pebble
// has one write-ahead log, appended in commit order, and a synced commit syncs the log
// up to its own record: every lazy batch committed before it becomes durable with it,
// and a crash loses only a suffix of the log (TestWriteLazyCrash).
func (s *Store) WriteLazy(ctx context.Context, b *kv.Batch) error {
	return s.write(ctx, b, pebble.NoSync, &s.lazyCommits)
}

// write commits b with wo and counts it in commits.
func (s *Store) write(ctx context.Context, b *kv.Batch, wo *pebble.WriteOptions, commits *atomic.Uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if b.Empty() {
		return nil
	}
	exclusive := false
	for _, op := range b.Ops() {
		if op.Kind == kv.OpDeletePrefix && kv.PrefixEnd(op.Key) == nil {
			exclusive = true
			break
		}
	}
	if exclusive {
		s.unbounded.Lock()
		defer s.unbounded.Unlock()
	} else {
		s.unbounded.RLock()
		defer s.unbounded.RUnlock()
	}

	pb := s.db.NewBatch()
	defer func() {
		if err := pb.Close(); err != nil {
			s.log.Error("close batch", "err", err)
		}
	}()
	ops := b.Ops()
	for i, op := range ops {
		var err error
		switch op.Kind {
		case kv.OpPut:
			err = pb.Set(op.Key, op.Value, nil)
		case kv.OpDelete:
			err = pb.Delete(op.Key, nil)
		case kv.OpDeletePrefix:
			end := kv.PrefixEnd(op.Key)
			if end == nil {
				if end, err = s.resolveUnbounded(op.Key, ops[:i]); err != nil {
					return err
				}
				if end == nil {
					continue // nothing to delete
				}
			}
			err = pb.DeleteRange(op.Key, end, nil)
		default:
			return fmt.Errorf("pebblekv: write: %w", base.Invalidf("unknown batch op kind %d", op.Kind))
		}
		if err != nil {
			return wrap("write", err)
		}
	}
	if wo.Sync {
		s.syncCommits.Add(1)
		defer s.syncCommits.Add(-1)
	}
	if err := pb.Commit(wo); err != nil {
		return wrap("write", err)
	}
	commits.Add(1)
	s.keys.Add(uint64(len(ops)))
	return nil
}

// resolveUnbounded returns an end for a range deletion of prefix (empty or all 0xff, so
// with no PrefixEnd) that covers every key with the prefix in the store and among the puts
// of earlier ops of the same batch, or nil if there is none. Every key >= prefix has the
// prefix, so the greatest such key is the last key of the store. The caller holds
// s.unbounded exclusively, so no key can be added between this read and the commit.
func (s *Store) resolveUnbounded(prefix []byte, earlier []kv.Op) ([]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: nilIfEmpty(prefix)})
	if err != nil {
		return nil, wrap("write", err)
	}
	var last []byte
	if it.Last() {
		last = bytes.Clone(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, wrap("write", err)
	}
	for _, op := range earlier {
		if op.Kind == kv.OpPut && bytes.HasPrefix(op.Key, prefix) && (last == nil || bytes.Compare(op.Key, last) > 0) {
			last = op.Key
		}
	}
	if last == nil {
		return nil, nil
	}
	// The immediate successor of last.
	return append(bytes.Clone(last), 0), nil
}

// nilIfEmpty maps an empty bound to nil ("no bound"), which Pebble handles best.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// wrap adds context to a Pebble error and classifies detected corruption as
// base.ErrCorrupt.
func wrap(op string, err error) error {
	if errors.Is(err, pebble.ErrCorruption) {
		return fmt.Errorf("pebblekv: %s: %w: %w", op, base.ErrCorrupt, err)
	}
	return fmt.Errorf("pebblekv: %s: %w", op, err)
}

// slogAdapter routes Pebble's logger to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Infof(format string, args ...any) { a.l.Info(fmt.Sprintf(format, args...)) }

func (a slogAdapter) Errorf(format string, args ...any) { a.l.Error(fmt.Sprintf(format, args...)) }

// Fatalf is called by Pebble on a broken internal invariant, after which it cannot
// continue; its contract is that Fatalf does not return. The message is logged and the
// goroutine panics (Pebble's own default exits the process).
func (a slogAdapter) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.l.Error("fatal: " + msg)
	panic("pebble: " + msg)
}

// eventListener logs the Pebble events an operator should see. Detected corruption is
// logged rather than fatal (Pebble's default); the read that found it returns an error
// classified as base.ErrCorrupt.
func eventListener(log *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) { log.Error("background error", "err", err) },
		DataCorruption:  func(info pebble.DataCorruptionInfo) { log.Error("data corruption", "info", info.String()) },
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) { log.Warn("write stall", "reason", info.Reason) },
		WriteStallEnd:   func() { log.Info("write stall ended") },
		LowDiskSpace:    func(info pebble.LowDiskSpaceInfo) { log.Warn("low disk space", "info", info.String()) },
	}
}
