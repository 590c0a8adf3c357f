package chain

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// heardFrom returns a State (over a memory store) that has received and stored a
// bundle from each of origins chains, so it holds their inbox queues.
func heardFrom(tb testing.TB, origins int) *State {
	ctx := context.Background()
	ss := newStateStore(tb)
	s := ss.load()
	for o := range origins {
		origin := base.ChainID{2, byte(o), byte(o >> 8)}
		if _, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: bundle(0, 0, protocol.Tracked)}}); err != nil {
			tb.Fatal(err)
		}
	}
	ss.flush(tb, s)
	return s
}

// BenchmarkFlushAfterManyOrigins: one delivery from one origin and the Flush of its
// changes, on a State that has received from origins chains since it was loaded. The
// State keeps each origin's inbox queues (State.inboxQueues), and HasPendingChanges
// and Flush look at every one: what a block's bookkeeping costs on a chain that many
// chains have sent to (docs/PERFORMANCE.md, "perf17").
func BenchmarkFlushAfterManyOrigins(b *testing.B) {
	for _, origins := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("origins=%d", origins), func(b *testing.B) {
			ctx := context.Background()
			s := heardFrom(b, origins)
			origin := base.ChainID{2}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: bundle(base.BlockHeight(i+1), 0, protocol.Tracked)}}); err != nil {
					b.Fatal(err)
				}
				if !s.HasPendingChanges() {
					b.Fatal("nothing staged")
				}
				var batch kv.Batch
				s.Flush(&batch)
				if s.HasPendingChanges() {
					b.Fatal("staged after Flush")
				}
			}
		})
	}
}

// TestFlushWorkBoundedByChangedQueues: a chain that many chains have sent to (each
// origin's inbox queues stay loaded in its State) pays for the queues a block changes,
// not for every origin, in HasPendingChanges and Flush: anyone can open chains and send
// to a chain. Flush used to allocate a slice as long as the loaded queues and look at
// each of them on every block; with 5,000 origins a delivery and its Flush allocated
// ~100 times the bytes they allocate with one.
func TestFlushWorkBoundedByChangedQueues(t *testing.T) {
	bytesPerDelivery := func(origins int) uint64 {
		ctx := context.Background()
		s := heardFrom(t, origins)
		const n = 50
		var before, after runtime.MemStats
		// The first Flush after the origins were heard from drops most of their queues
		// (pruneQueues), once; the deliveries after it are measured.
		for i := range n + 1 {
			if i == 1 {
				runtime.ReadMemStats(&before)
			}
			if _, err := s.ReceiveBundles(ctx, base.ChainID{2}, []protocol.EpochBundle{{Bundle: bundle(base.BlockHeight(i+1), 0, protocol.Tracked)}}); err != nil {
				t.Fatal(err)
			}
			if !s.HasPendingChanges() {
				t.Fatal("nothing staged")
			}
			var batch kv.Batch
			s.Flush(&batch)
			if batch.Len() == 0 || s.HasPendingChanges() {
				t.Fatalf("delivery %d: %d ops flushed, staged after Flush: %v", i, batch.Len(), s.HasPendingChanges())
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	one, many := bytesPerDelivery(1), bytesPerDelivery(5_000)
	t.Logf("bytes allocated per delivery and Flush: 1 origin %d, 5,000 origins %d", one, many)
	if many > 2*one {
		t.Fatalf("with 5,000 origins loaded a delivery and its Flush allocate %d bytes, with one %d", many, one)
	}
}
