package pebblekv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/kv"
)

// blockWrites makes the batches a validator commits for the blocks of a ring of chains
// (each block makes transfers to the next chain), with the key layout of
// internal/storage: a 1-byte tag, the chain id, a view tag and the view's sub-keys; the
// certificate under 'K' + its hash, the height index under 'H' + chain + height. The
// batches, their order, key lengths and value sizes are those internal/worker's
// TestWritesPerBlock lists (21 keys, 3.2 KB for 1 transfer; 219 keys, 77 KB for 100).
type blockWrites struct {
	ids     [][]byte // the chains' ids (idLen bytes each)
	heights []uint64
	// big is the value size of the consensus register with the proposal and of the
	// certificate (783 and 830 bytes for 1 transfer, 27.5 KB for 100).
	big int
	val []byte
	// anticipated adds what a client's local replica wrote before it skipped bundles
	// received in anticipation (chain.State.SkipAnticipated): one entry per received
	// bundle in the receiving chain's inbox, never deleted (76-byte keys, 98-byte values).
	anticipated bool
}

func newBlockWrites(chains, transfers, idLen int) *blockWrites {
	w := &blockWrites{heights: make([]uint64, chains), big: 783 + 275*(transfers-1)}
	for i := range chains {
		h := sha256.Sum256(fmt.Appendf(nil, "chain %d", i))
		w.ids = append(w.ids, h[:idLen])
	}
	w.val = make([]byte, w.big+64)
	for i := range w.val {
		w.val[i] = byte(i*7 + 1)
	}
	return w
}

// key appends parts to a fresh key.
func key(parts ...[]byte) []byte {
	var k []byte
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// block fills the four batches of chain i's next block (transfers per block): the vote
// (synced), the certificate (synced), the receipt of its bundle by the next chain
// (lazy) and the confirmation of that delivery (lazy). It is not safe for concurrent
// use on one chain; different chains may run concurrently.
func (w *blockWrites) block(i, transfers int, vote, cert, receipt, confirm *kv.Batch) {
	n := len(w.ids)
	id, next, prev := w.ids[i], w.ids[(i+1)%n], w.ids[(i+n-1)%n]
	h := w.heights[i]
	w.heights[i]++
	C, v := []byte{'C'}, w.val
	certHash := sha256.Sum256(key(id, be64(h)))

	vote.Put(key(C, id, []byte{3}), v[:w.big])

	cert.Put(key([]byte{'K'}, certHash[:]), v[:w.big+47])
	cert.Put(key([]byte{'H'}, id, be64(h)), v[:32])
	cert.Put(key(C, id, []byte{1, 6}), v[:16])
	cert.Put(key(C, id, []byte{1, 0xa}), v[:8])
	cert.Put(key(C, id, []byte{2}), v[:81])
	cert.Put(key(C, id, []byte{3}), v[:76])
	cert.Put(key(C, id, []byte{8}, next), v[:8])
	cert.Put(key(C, id, []byte{9}, next, []byte{0}), v[:16])
	cert.Put(key(C, id, []byte{9}, next, []byte{1}, be64(h)), v[:8])
	cert.Put(key(C, id, []byte{0xa}, prev), v[:24])
	cert.Delete(key(C, id, []byte{0xb}, prev, []byte{1, 0}))
	for j := range transfers {
		cert.Delete(key(C, id, []byte{0xb}, prev, []byte{1, 1}, be64(h*uint64(transfers)+uint64(j))))
	}
	if w.anticipated {
		cert.Put(key(C, id, []byte{0xb}, prev, []byte{2, 0}), v[:16])
		for j := range transfers {
			cert.Put(key(C, id, []byte{0xb}, prev, []byte{2, 1}, be64(h*uint64(transfers)+uint64(j))), v[:98])
		}
	}

	// The receipt is written on the next chain, whose own block may run concurrently:
	// its index comes from this chain's height, which only this goroutine changes.
	receipt.Put(key(C, next, []byte{6, 0}), v[:8])
	receipt.Put(key(C, next, []byte{6, 1}, be64(h)), v[:40])
	receipt.Put(key(C, next, []byte{0xa}, id), v[:24])
	receipt.Put(key(C, next, []byte{0xb}, id, []byte{1, 0}), v[:16])
	for j := range transfers {
		receipt.Put(key(C, next, []byte{0xb}, id, []byte{1, 1}, be64(h*uint64(transfers)+uint64(j))), v[:52])
	}

	confirm.Delete(key(C, id, []byte{8}, next))
	confirm.Delete(key(C, id, []byte{9}, next, []byte{0}))
	confirm.Delete(key(C, id, []byte{9}, next, []byte{1}, be64(h)))
}

// commitBlocks commits the blocks of w's chains (one goroutine per chain) until next
// reaches limit, each block's four batches as a validator commits them: Write for the
// vote and the certificate, WriteLazy for the receipt and the confirmation.
func commitBlocks(tb testing.TB, s *Store, w *blockWrites, transfers int, next *atomic.Int64, limit int64) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range w.ids {
		wg.Go(func() {
			var vote, cert, receipt, confirm kv.Batch
			for next.Add(1) <= limit {
				vote.Reset()
				cert.Reset()
				receipt.Reset()
				confirm.Reset()
				w.block(i, transfers, &vote, &cert, &receipt, &confirm)
				for _, wr := range []struct {
					b    *kv.Batch
					lazy bool
				}{{&vote, false}, {&cert, false}, {&receipt, true}, {&confirm, true}} {
					var err error
					if wr.lazy {
						err = s.WriteLazy(ctx, wr.b)
					} else {
						err = s.Write(ctx, wr.b)
					}
					if err != nil {
						tb.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkBlockWrites commits the writes of a validator's blocks, 16 chains at once
// (one goroutine per chain, as the chains' certificates arrive together) on the disk,
// with and without the WAL's minimum sync interval. It reports the process's CPU time
// per block (Pebble's memtable inserts, WAL writes and the kernel's fsync work; the
// flushes and compactions that fall in the run), WAL fsyncs per block and synced
// batches per fsync.
func BenchmarkBlockWrites(b *testing.B) {
	for _, c := range []struct{ chains, transfers int }{{1, 1}, {16, 1}, {16, 100}} {
		chains, transfers := c.chains, c.transfers
		for _, minSync := range []time.Duration{-1, DefaultWALMinSyncInterval, 2 * time.Millisecond} {
			name := fmt.Sprintf("chains=%d/transfers=%d/min-sync=%v", chains, transfers, max(minSync, 0))
			b.Run(name, func(b *testing.B) {
				s, fs := openCountingWith(b, Options{WALMinSyncInterval: minSync})
				w := newBlockWrites(chains, transfers, 32)
				var next atomic.Int64
				run := func(limit int64) { commitBlocks(b, s, w, transfers, &next, limit) }
				run(int64(chains * 4)) // the chains' first blocks: every key exists
				before, err := s.Stats()
				if err != nil {
					b.Fatal(err)
				}
				syncs0 := fs.syncs.Load()
				next.Store(0)
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cputime.Process()
				run(int64(b.N))
				cpu := cputime.Process() - cpu0
				b.StopTimer()
				after, err := s.Stats()
				if err != nil {
					b.Fatal(err)
				}
				syncs := float64(fs.syncs.Load() - syncs0)
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/block")
				b.ReportMetric(syncs/float64(b.N), "fsyncs/block")
				b.ReportMetric(float64(after.Commits-before.Commits)/syncs, "batches/fsync")
			})
		}
	}
}
