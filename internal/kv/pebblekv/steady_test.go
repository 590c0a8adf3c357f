package pebblekv

import (
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/micachain/mica/internal/cputime"
)

// lsmWork is what Pebble wrote in the background: flushes and compactions, tables and
// blob files.
type lsmWork struct{ flushed, compacted, blobCompacted uint64 }

func lsmWorkOf(m *pebble.Metrics) lsmWork {
	var w lsmWork
	for _, l := range m.Levels {
		w.flushed += l.TableBytesFlushed + l.BlobBytesFlushed
		w.compacted += l.TableBytesCompacted + l.BlobBytesCompacted
		w.blobCompacted += l.BlobBytesCompacted
	}
	return w
}

// BenchmarkSteadyState commits the writes of a validator's 100-transfer blocks (16
// chains at once, as BenchmarkBlockWrites) for long enough that the LSM reaches the
// shape of a network that has run for minutes (issue #11: a network's CPU per block
// grew from 10.4 to 13.4 ms over its first three 10 s runs). The values are
// incompressible, as the hashes and signatures of real certificates are. It reports the
// process's CPU per block and the bytes Pebble flushed and compacted per block, over the
// whole run and over its last quarter (the steady state); -v logs Pebble's metrics at
// the end and the figures of each eighth of the run.
//
//	go test -run '^$' -bench SteadyState -benchtime 40000x -cpu 2 -v ./internal/kv/pebblekv/
func BenchmarkSteadyState(b *testing.B) {
	for _, v := range steadyVariants() {
		b.Run(v.name, func(b *testing.B) {
			benchSteady(b, 16, 100, v.tune, false)
		})
	}
}

// BenchmarkReplicaSteadyState is BenchmarkSteadyState with the writes of a client's
// local replica before chain.State.SkipAnticipated ("anticipated": each block's 100
// received bundles also queued as consumed in anticipation, for good) and after
// ("skipped": the validator's writes). What grows with the store is the compactions'
// work on the ever longer queues.
//
//	go test -run '^$' -bench ReplicaSteadyState -benchtime 16000x -cpu 2 -v ./internal/kv/pebblekv/
func BenchmarkReplicaSteadyState(b *testing.B) {
	for _, anticipated := range []bool{true, false} {
		name := "skipped"
		if anticipated {
			name = "anticipated"
		}
		b.Run(name, func(b *testing.B) { benchSteady(b, 16, 100, nil, anticipated) })
	}
}

type steadyVariant struct {
	name string
	tune func(*pebble.Options)
}

// steadyVariants are the store's options and, for comparison, the earlier ones (a
// blob reference depth of 10, Pebble's 64 MiB base level) and others measured.
func steadyVariants() []steadyVariant {
	return []steadyVariant{
		{"store", nil},
		{"depth=10/lbase=64MiB", func(po *pebble.Options) {
			setDepth(po, 10)
			po.LBaseMaxBytes = 64 << 20
		}},
		{"depth=10", func(po *pebble.Options) { setDepth(po, 10) }},
		{"lbase=64MiB", func(po *pebble.Options) { po.LBaseMaxBytes = 64 << 20 }},
		{"l0=8", func(po *pebble.Options) { po.L0CompactionThreshold, po.L0StopWritesThreshold = 8, 32 }},
		{"no-compression", func(po *pebble.Options) {
			for i := range po.Levels {
				po.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
			}
		}},
	}
}

func benchSteady(b *testing.B, chains, transfers int, tune func(*pebble.Options), anticipated bool) {
	s, _ := openCountingWith(b, Options{tune: tune})
	w := newBlockWrites(chains, transfers, 32)
	w.anticipated = anticipated
	h := sha256.Sum256([]byte("values"))
	for i := range w.val {
		if i%32 == 0 {
			h = sha256.Sum256(h[:])
		}
		w.val[i] = h[i%32]
	}
	var next atomic.Int64
	run := func(limit int64) { commitBlocks(b, s, w, transfers, &next, limit) }
	run(int64(chains * 4))
	next.Store(0)
	const parts = 8
	type mark struct {
		cpu  time.Duration
		work lsmWork
	}
	at := func() mark { return mark{cputime.Process(), lsmWorkOf(s.db.Metrics())} }
	marks := []mark{at()}
	b.ResetTimer()
	for p := 1; p <= parts; p++ {
		run(int64(b.N) * int64(p) / parts)
		marks = append(marks, at())
	}
	b.StopTimer()
	per := func(from, to int) (cpu, flushed, compacted, blob float64) {
		n := float64(int64(b.N)*int64(to)/parts - int64(b.N)*int64(from)/parts)
		if n == 0 {
			return 0, 0, 0, 0
		}
		a, z := marks[from], marks[to]
		return float64((z.cpu - a.cpu).Microseconds()) / n, float64(z.work.flushed-a.work.flushed) / n,
			float64(z.work.compacted-a.work.compacted) / n, float64(z.work.blobCompacted-a.work.blobCompacted) / n
	}
	for p := 1; p <= parts && b.N >= 1000; p++ {
		cpu, fl, co, bl := per(p-1, p)
		b.Logf("part %d: %.0f cpu-µs/block, %.1f KB flushed, %.1f KB compacted (%.1f KB of blob values) per block", p, cpu, fl/1e3, co/1e3, bl/1e3)
	}
	cpu, fl, co, _ := per(0, parts)
	b.ReportMetric(cpu, "cpu-µs/block")
	b.ReportMetric(fl/1e3, "flush-KB/block")
	b.ReportMetric(co/1e3, "compact-KB/block")
	cpu, _, co, _ = per(parts*3/4, parts)
	b.ReportMetric(cpu, "last-cpu-µs/block")
	b.ReportMetric(co/1e3, "last-compact-KB/block")
	if b.N >= 1000 {
		b.Logf("%s", fmt.Sprint(s.db.Metrics()))
	}
}

func setDepth(po *pebble.Options, depth int) {
	f := po.Experimental.ValueSeparationPolicy
	po.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		p := f()
		p.MaxBlobReferenceDepth = depth
		return p
	}
}
