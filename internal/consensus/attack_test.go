package consensus

import (
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestAttackRoundTimeoutOverflow: an owner who chooses a huge base timeout (or a chain
// that reaches a huge round) must not make base + r × increment wrap around to a short
// timeout, which would let anyone time out a round as soon as it starts. The timeout
// saturates, and it never decreases as the round number grows.
func TestAttackRoundTimeoutOverflow(t *testing.T) {
	const maxDelta = base.TimeDelta(math.MaxUint64)
	for _, tc := range []struct {
		name      string
		base, inc base.TimeDelta
	}{
		{"huge base", maxDelta - 5, 1},
		{"huge base, huge increment", maxDelta - 1, maxDelta - 1},
		{"huge increment", 1, maxDelta / 2},
		{"default", 10_000_000, 1_000_000},
	} {
		o := protocol.ChainOwnership{
			Owners:   []protocol.OwnerWeight{{Owner: prototest.Key("A").Public().Owner(), Weight: 1}},
			Timeouts: protocol.TimeoutConfig{BaseTimeout: tc.base, TimeoutIncrement: tc.inc},
		}
		prev := base.TimeDelta(0)
		for _, n := range []uint32{0, 1, 2, 3, 10, 1000, math.MaxUint32 - 1, math.MaxUint32} {
			for _, r := range []base.Round{base.SingleLeader(n), base.ValidatorRound(n)} {
				d, ok := o.RoundTimeout(r)
				if !ok {
					t.Fatalf("%s: round %v never times out", tc.name, r)
				}
				if d < tc.base {
					t.Fatalf("%s: round %v lasts %d, less than the base timeout %d (overflow)", tc.name, r, d, tc.base)
				}
				if r.Kind == base.RoundSingleLeader && d < prev {
					t.Fatalf("%s: round %v lasts %d, less than an earlier round (%d)", tc.name, r, d, prev)
				}
				if r.Kind == base.RoundSingleLeader {
					prev = d
				}
			}
		}
		// The manager arms the timeout with saturating addition too.
		m := NewManager(o, 0, base.Timestamp(math.MaxUint64-3))
		if ts, ok := m.RoundTimeout(); !ok || ts < base.Timestamp(math.MaxUint64-3) {
			t.Fatalf("%s: manager armed the first round's timeout at %d (wrapped)", tc.name, ts)
		}
	}
}
