package nodeservice_test

import (
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackServiceIncomingBundleStorm: one validator's notification stream announces,
// one after the other, 40 incoming bundles to the service's chain that nobody sent. The
// service's follower (with ProcessInbox) synced the chain and asked every validator for
// its pending bundles for each note it could take: 40 notes, 40 listings. Now the
// client's Listen passes such a note on only once its bundle is found pending, and
// mutes the validator whose bundle is not for 1 s, doubling: the storm costs one
// judgement per mute (3 in the 4 s the storm lasts unloaded; at most 8 allows for a
// storm slowed to two minutes).
func TestAttackServiceIncomingBundleStorm(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	// No catch-up during the test: every pending listing counted is a note's doing.
	n.service(1, serviceOpts{processInbox: true, catchUp: time.Hour})
	liar, honest := n.nodes[0], n.nodes[1]
	eventually(t, "the service listening to the liar", func() bool {
		liar.mu.Lock()
		defer liar.mu.Unlock()
		return len(liar.subs) > 0
	})
	const notes = 40
	start := honest.pendingQueries.Load()
	for i := range notes {
		before := honest.pendingQueries.Load()
		liar.notify(protocol.Notification{ChainID: n.chains[1], Kind: protocol.ReasonNewIncomingBundle, Height: base.BlockHeight(1000 + i), Origin: n.chains[0]})
		deadline := time.Now().Add(100 * time.Millisecond)
		for honest.pendingQueries.Load() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	listings := honest.pendingQueries.Load() - start
	t.Logf("%d notes of bundles nobody sent: %d pending listings asked of an honest validator", notes, listings)
	if listings > 8 {
		t.Fatalf("%d notes of bundles nobody sent made the service list the pending bundles %d times, want at most 8", notes, listings)
	}
}
