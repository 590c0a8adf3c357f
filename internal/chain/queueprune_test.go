package chain

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// TestLoadedQueuesBounded: anyone can make a chain receive from many origins (open
// chains, send to it), and a State that stays loaded in a worker kept every origin's
// inbox queues and every recipient's outbox queue it touched, a few hundred bytes each,
// for as long as it stayed loaded. After deliveries from 10,000 origins and
// scheduling to 10,000 recipients, the State now holds at most maxLoadedQueues of each
// after every Flush, and what it answers and writes is the same as with every queue
// kept (queues dropped and loaded again from the store).
func TestLoadedQueuesBounded(t *testing.T) {
	const chains = 10_000
	const perFlush = 10
	ctx := context.Background()
	origin := func(i int) base.ChainID { return base.ChainID{2, byte(i), byte(i >> 8)} }
	recipient := func(i int) base.ChainID { return base.ChainID{3, byte(i), byte(i >> 8)} }
	run := func(maxQueues int) (transcript, stored string, peakIn, peakOut int) {
		ss := newStateStore(t)
		s := ss.load()
		s.maxQueues = maxQueues
		var out strings.Builder
		ops := 0
		step := func() {
			if ops++; ops%perFlush == 0 {
				ss.flush(t, s)
				peakIn, peakOut = max(peakIn, len(s.inboxQueues)), max(peakOut, len(s.outboxQueues))
			}
		}
		// Deliveries from every origin, a height scheduled for every recipient.
		for i := range chains {
			added, err := s.ReceiveBundles(ctx, origin(i), []protocol.EpochBundle{{Bundle: bundle(1, 0, protocol.Tracked)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.schedule(ctx, recipient(i), 1); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&out, len(added))
			step()
		}
		// Back to queues dropped long ago: a duplicate and a new delivery, a delivery
		// confirmed, an outbox read, a height scheduled again.
		for i := 0; i < chains; i += 7 {
			for _, h := range []base.BlockHeight{1, 2} {
				added, err := s.ReceiveBundles(ctx, origin(i), []protocol.EpochBundle{{Bundle: bundle(h, 0, protocol.Tracked)}})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&out, i, h, len(added))
			}
			ok, err := s.MarkDelivered(ctx, recipient(i), 1)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := s.OutboxHeights(ctx, recipient(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.schedule(ctx, recipient(i+3), 5); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&out, ok, hs)
			step()
		}
		pending, err := s.PendingBundles(ctx, 100, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pending {
			fmt.Fprintln(&out, p.Origin, p.Bundle.Height)
		}
		ss.flush(t, s)
		var st strings.Builder
		if err := ss.db.Scan(ctx, nil, func(k, v []byte) error {
			fmt.Fprintf(&st, "%x=%x\n", k, v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out.String(), st.String(), peakIn, peakOut
	}
	kept, keptStored, keptIn, keptOut := run(math.MaxInt)
	pruned, prunedStored, in, out := run(maxLoadedQueues)
	t.Logf("queues loaded after a Flush, at most: %d inbox and %d outbox (%d and %d when all are kept)", in, out, keptIn, keptOut)
	if in > maxLoadedQueues || out > maxLoadedQueues {
		t.Errorf("after deliveries from %d origins to %d recipients a State held %d inbox and %d outbox queues after a Flush, want at most %d each",
			chains, chains, in, out, maxLoadedQueues)
	}
	if keptIn < chains || keptOut < chains {
		t.Errorf("with every queue kept the State held %d inbox and %d outbox queues, want %d: the scenario does not load them", keptIn, keptOut, chains)
	}
	if pruned != kept {
		t.Errorf("answers differ when queues are dropped")
	}
	if prunedStored != keptStored {
		t.Errorf("stored state differs when queues are dropped (%d and %d bytes of dump)", len(prunedStored), len(keptStored))
	}
}

// TestRecentQueuesStayLoaded: a chain that hears from one origin and sends to one
// recipient every block (the benchmark's ring), beside many others it heard from
// once, keeps those two queues loaded across Flushes: it never reads them again from
// the store.
func TestRecentQueuesStayLoaded(t *testing.T) {
	ctx := context.Background()
	ss := newStateStore(t)
	s := ss.load()
	for o := range 2 * maxLoadedQueues {
		if _, err := s.ReceiveBundles(ctx, base.ChainID{2, byte(o), byte(o >> 8), 1}, []protocol.EpochBundle{{Bundle: bundle(0, 0, protocol.Tracked)}}); err != nil {
			t.Fatal(err)
		}
	}
	ss.flush(t, s)
	hot, to := base.ChainID{2}, base.ChainID{3}
	var in *inboxQueues
	var out *outboxQueueOf
	for i := range 4 * maxLoadedQueues {
		h := base.BlockHeight(i + 1)
		if _, err := s.ReceiveBundles(ctx, hot, []protocol.EpochBundle{{Bundle: bundle(h, 0, protocol.Tracked)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.schedule(ctx, to, h); err != nil {
			t.Fatal(err)
		}
		// One more origin each block, so the map passes its bound again and again.
		if _, err := s.ReceiveBundles(ctx, base.ChainID{4, byte(i), byte(i >> 8)}, []protocol.EpochBundle{{Bundle: bundle(1, 0, protocol.Tracked)}}); err != nil {
			t.Fatal(err)
		}
		ss.flush(t, s)
		if i == 0 {
			in, out = s.inboxQueues[hot], s.outboxQueues[to]
		}
		if s.inboxQueues[hot] != in || s.outboxQueues[to] != out {
			t.Fatalf("block %d: the queues used every block were dropped and loaded again", i)
		}
	}
	if n := len(s.inboxQueues); n > maxLoadedQueues {
		t.Fatalf("%d inbox queues loaded, want at most %d", n, maxLoadedQueues)
	}
}

// TestPruneQueueMapKeepsTheMostRecent: pruneQueueMap keeps exactly the keep most
// recently used queues (ties by chain id) and those used at or after gen, whatever the
// map's order, as sorting them all would.
func TestPruneQueueMapKeepsTheMostRecent(t *testing.T) {
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	const n, limit, keep, gen = 1000, 256, 128, 40
	for _, spread := range []uint64{1, 7, 37, 1000} {
		m := make(map[base.ChainID]*outboxQueueOf, n)
		var ranks []queueRank
		for i := range n {
			// Ids whose first 8 bytes collide in pairs, so the byte comparison is used.
			id := base.ChainID{3, byte(i / 2), 0, 0, 0, 0, 0, 0, byte(i), byte(i >> 8)}
			used := uint64(i*7919) % spread
			if i%100 == 0 {
				used = gen // used since the previous Flush: kept whatever its rank
			}
			m[id] = &outboxQueueOf{q: views.NewQueue(views.NewContext(db, id[:]), heightCodec), recipient: id, used: used}
			ranks = append(ranks, queueRank{used, binary.BigEndian.Uint64(id[:8]), id})
		}
		slices.SortFunc(ranks, func(a, b queueRank) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		want := map[base.ChainID]bool{}
		for i, r := range ranks {
			if i < keep || r.used >= gen {
				want[r.id] = true
			}
		}
		pruneQueueMap(m, limit, keep, gen, nil)
		if len(m) != len(want) {
			t.Fatalf("spread %d: %d queues kept, want %d", spread, len(m), len(want))
		}
		for id := range want {
			if _, ok := m[id]; !ok {
				t.Fatalf("spread %d: queue %x dropped, want it kept", spread, id[:10])
			}
		}
	}
}
