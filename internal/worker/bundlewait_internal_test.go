package worker

import (
	"testing"

	"github.com/micachain/mica/internal/base"
)

// Waking the waiters of one sender's bundle looks at that sender's waiting bundles
// alone, however many proposals wait for other senders, and wakes only the matching
// ones; removing the last waiter leaves nothing behind.
func TestBundleWaitersWakeIsPerSender(t *testing.T) {
	bw := make(bundleWaiters)
	sender := func(i int) base.ChainID { return base.ChainID{byte(i), byte(i >> 8), 1} }
	recipient := base.ChainID{9}
	type waiter struct {
		k  bundleKey
		ch chan struct{}
	}
	var all []waiter
	for i := range 1000 {
		for h := range 2 {
			w := waiter{bundleKey{deliveryKey{sender(i), recipient}, base.BlockHeight(h)}, make(chan struct{}, 1)}
			bw.add(w.k, w.ch)
			all = append(all, w)
		}
	}
	if n := bw.wake(sender(7), func(k bundleKey) bool { return k.height == 1 }); n != 2 {
		t.Fatalf("waking sender 7 looked at %d bundles, want its 2", n)
	}
	for _, w := range all {
		woken := len(w.ch) == 1
		if want := w.k.pair.sender == sender(7) && w.k.height == 1; woken != want {
			t.Errorf("waiter of %s at %d: woken %v, want %v", w.k.pair.sender.Short(), w.k.height, woken, want)
		}
	}
	for _, w := range all {
		bw.remove(w.k, w.ch)
	}
	if len(bw) != 0 {
		t.Fatalf("%d senders left after every waiter left", len(bw))
	}
}
