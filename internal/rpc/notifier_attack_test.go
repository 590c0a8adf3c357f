package rpc

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackIdleSubscriptionsCostTheirBookkeeping: a stranger opens the subscriptions it
// may (4,096 in all) and never reads from them, on chains that never get a
// notification. Each allocated its whole buffer when it opened (DefaultSubscriberBuffer
// notifications: 176 KiB, 704 MiB for the 4,096); the buffer now grows as
// notifications arrive, so an idle subscription costs its bookkeeping only (a few
// hundred bytes).
func TestAttackIdleSubscriptionsCostTheirBookkeeping(t *testing.T) {
	const subs = 1000
	n := NewNotifier(0)
	n.maxSubsPerAddr = maxSubscriptions
	addr := netip.MustParseAddr("192.0.2.1")
	open := make([]*Subscription, 0, subs)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range subs {
		var s *Subscription
		var err error
		if i%2 == 0 {
			s, err = n.SubscribeFrom(addr, []base.ChainID{{byte(i), byte(i >> 8), 0xA}})
		} else {
			s, err = n.SubscribeFrom(addr, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	runtime.ReadMemStats(&after)
	perSub := (after.TotalAlloc - before.TotalAlloc) / subs
	const bound = 1 << 10
	t.Logf("%d bytes allocated per idle subscription", perSub)
	if perSub > bound {
		t.Errorf("an idle subscription allocates %d bytes, want at most %d (a full buffer is %d)", perSub, bound, DefaultSubscriberBuffer*int(unsafe.Sizeof(protocol.Notification{})))
	}
	// The same bound on what is delivered and on what is dropped beyond it.
	everything := open[1]
	for h := range DefaultSubscriberBuffer + 10 {
		n.Publish(protocol.Notification{ChainID: base.ChainID{0xB}, Height: base.BlockHeight(h)})
	}
	if got := everything.Queued(); got != DefaultSubscriberBuffer {
		t.Errorf("%d notifications queued, want the buffer's %d", got, DefaultSubscriberBuffer)
	}
	if d := everything.TakeDropped(); d != 10 {
		t.Errorf("%d dropped, want 10", d)
	}
	for h := range DefaultSubscriberBuffer {
		nt, ok := everything.Next()
		if !ok || nt.Height != base.BlockHeight(h) {
			t.Fatalf("notification %d: %v %v, want height %d in order", h, nt.Height, ok, h)
		}
	}
	if _, ok := everything.Next(); ok {
		t.Fatal("a notification beyond those published")
	}
	for _, s := range open {
		s.Close()
	}
}

// TestSubscriptionQueueKeepsOrder: notifications published and taken in interleaved
// runs (the queue wraps, grows while wrapped, fills, drops, empties and is released)
// come out in the order published, the ones beyond the buffer counted as dropped.
func TestSubscriptionQueueKeepsOrder(t *testing.T) {
	const buffer = 37
	n := NewNotifier(buffer)
	s := n.Subscribe(nil)
	defer s.Close()
	var want []base.BlockHeight // the model: what the queue should hold
	var next base.BlockHeight
	dropped := uint64(0)
	for round, step := range []struct{ publish, take int }{
		{5, 3}, {6, 2}, {9, 7}, {20, 4}, {30, 10}, {3, 50}, {1, 0}, {40, 40}, {16, 16}, {70, 3},
	} {
		for range step.publish {
			n.Publish(protocol.Notification{Height: next})
			if len(want) < buffer {
				want = append(want, next)
			} else {
				dropped++
			}
			next++
		}
		for range step.take {
			nt, ok := s.Next()
			if len(want) == 0 {
				if ok {
					t.Fatalf("round %d: took %d from an empty queue", round, nt.Height)
				}
				continue
			}
			if !ok || nt.Height != want[0] {
				t.Fatalf("round %d: took %d (%v), want %d", round, nt.Height, ok, want[0])
			}
			want = want[1:]
		}
		if s.Queued() != len(want) {
			t.Fatalf("round %d: %d queued, want %d", round, s.Queued(), len(want))
		}
	}
	if d := s.TakeDropped(); d != dropped {
		t.Errorf("%d dropped, want %d", d, dropped)
	}
}

// TestSubscribeFromDeduplicatesOnce: the chains of a subscription are deduplicated once
// (uniqueChains, before the bounds are checked); indexing them takes the result as it
// is, without a second pass that copied it.
func TestSubscribeFromDeduplicatesOnce(t *testing.T) {
	n := NewNotifier(0)
	addr := netip.MustParseAddr("192.0.2.1")
	unique := []base.ChainID{{1}, {2}, {3}}
	s, err := n.SubscribeFrom(addr, unique)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.chains) != len(unique) || &s.chains[0] != &unique[0] {
		t.Errorf("the subscription copied its chains (%d of them) after deduplicating them", len(s.chains))
	}
	d, err := n.SubscribeFrom(addr, []base.ChainID{{1}, {2}, {1}, {3}, {2}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if want := []base.ChainID{{1}, {2}, {3}}; !slices.Equal(d.chains, want) {
		t.Errorf("chains %v, want %v", d.chains, want)
	}
	if n.held.entries != 6 {
		t.Errorf("%d entries counted, want 6", n.held.entries)
	}
}
