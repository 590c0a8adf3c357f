package chain

import (
	"context"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// storedKeys counts the keys a state store holds.
func (ss *stateStore) storedKeys(t *testing.T) int {
	t.Helper()
	n := 0
	if err := ss.db.Scan(context.Background(), nil, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSkipAnticipatedKeepsTheInboxBounded: a client's local replica (SkipAnticipated)
// executes confirmed blocks receiving bundles that were never delivered to it, as a
// benchmark wallet's chains do 100 per block. Its store must not grow with them (issue
// #11: a wallet's store held 3.3 million such entries after a few hours of
// benchmarks, and its compactions kept rewriting them), and a delivery that arrives
// later anyway must not make a consumed bundle pending again. A voter's state records
// them, to check the delivery against what was consumed.
func TestSkipAnticipatedKeepsTheInboxBounded(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	const n = 500
	receive := func(t *testing.T, skip bool) *stateStore {
		ss := newStateStore(t)
		for i := range n {
			s := ss.load()
			if skip {
				s.SkipAnticipated()
			}
			b := bundle(base.BlockHeight(i), 0, protocol.Tracked)
			if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: b}, false); err != nil {
				t.Fatal(err)
			}
			ss.flush(t, s)
		}
		return ss
	}

	voter := receive(t, false)
	if k := voter.storedKeys(t); k < n {
		t.Fatalf("a voter's state holds %d keys after %d bundles received in anticipation; each is recorded", k, n)
	}

	replica := receive(t, true)
	if k := replica.storedKeys(t); k > 4 {
		t.Fatalf("a replica's state holds %d keys after %d bundles received in anticipation", k, n)
	}
	s := replica.load()
	s.SkipAnticipated()
	// The first bundles are delivered late, then one the blocks have not received.
	var ebs []protocol.EpochBundle
	for i := range 3 {
		ebs = append(ebs, protocol.EpochBundle{Bundle: bundle(base.BlockHeight(i), 0, protocol.Tracked)})
	}
	next := bundle(n, 0, protocol.Tracked)
	ebs = append(ebs, protocol.EpochBundle{Bundle: next})
	if _, err := s.ReceiveBundles(ctx, origin, ebs); err != nil {
		t.Fatal(err)
	}
	replica.flush(t, s)
	pending, err := replica.load().PendingBundles(ctx, 10, math.MaxInt)
	if err != nil || len(pending) != 1 || pending[0].Bundle.Height != next.Height {
		t.Fatalf("pending after the late delivery: %d, %v", len(pending), err)
	}
}
