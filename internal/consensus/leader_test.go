package consensus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// leaderOwnership returns an ownership whose regular owners are the named test owners with
// the given weights (sorted by owner, as the invariant requires), plus super owners.
func leaderOwnership(weights map[string]uint64, supers ...string) (protocol.ChainOwnership, map[base.Owner]string) {
	o := protocol.ChainOwnership{Timeouts: protocol.DefaultTimeoutConfig()}
	names := make(map[base.Owner]string)
	keys := make([]string, 0, len(weights))
	for n := range weights {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for _, n := range keys {
		ow := ownerKey(n).Public().Owner()
		names[ow] = n
		o.Owners = append(o.Owners, protocol.OwnerWeight{Owner: ow, Weight: weights[n]})
	}
	for _, n := range supers {
		ow := ownerKey(n).Public().Owner()
		names[ow] = n
		o.SuperOwners = append(o.SuperOwners, ow)
	}
	slices.SortFunc(o.Owners, func(x, y protocol.OwnerWeight) int { return x.Owner.Compare(y.Owner) })
	slices.SortFunc(o.SuperOwners, base.Owner.Compare)
	return o, names
}

func TestLeader(t *testing.T) {
	equal := map[string]uint64{"A": 1, "B": 1, "C": 1}
	for _, tc := range []struct {
		name    string
		weights map[string]uint64
		supers  []string
		round   base.Round
		ok      bool
	}{
		{"single-leader round has a leader", equal, nil, base.SingleLeader(0), true},
		{"later single-leader round", equal, nil, base.SingleLeader(41), true},
		{"last single-leader round", equal, nil, base.SingleLeader(math.MaxUint32), true},
		{"fast round has none", equal, []string{"S"}, base.FastRound, false},
		{"multi-leader round has none", equal, nil, base.MultiLeader(0), false},
		{"validator round has none (no fallback)", equal, nil, base.ValidatorRound(0), false},
		{"super owners are never elected", nil, []string{"S", "T"}, base.SingleLeader(0), false},
		{"one owner always leads", map[string]uint64{"A": 7}, []string{"S"}, base.SingleLeader(3), true},
		{"overflowing weights", map[string]uint64{"A": math.MaxUint64, "B": math.MaxUint64, "C": 1}, nil, base.SingleLeader(2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, names := leaderOwnership(tc.weights, tc.supers...)
			for h := base.BlockHeight(0); h < 50; h++ {
				m := NewManager(o, h, 0)
				l, ok := m.Leader(tc.round)
				if ok != tc.ok {
					t.Fatalf("height %d: Leader ok = %v, want %v", h, ok, tc.ok)
				}
				if !ok {
					continue
				}
				if !o.IsOwner(l) {
					t.Fatalf("height %d: leader %s is not a regular owner", h, names[l])
				}
				// Deterministic: another manager (another validator) elects the same owner.
				if l2, _ := NewManager(o, h, 12345).Leader(tc.round); l2 != l {
					t.Fatalf("height %d: two managers elect %s and %s", h, names[l], names[l2])
				}
				if !m.CanPropose(l, tc.round) {
					t.Fatalf("height %d: the leader may not propose", h)
				}
			}
		})
	}
}

// TestLeaderGolden pins the election to its specification (leaderSeed, ChaCha8, uniform):
// any change of the algorithm or of math/rand/v2's ChaCha8 stream would split validators
// running different builds, so it must fail here first.
func TestLeaderGolden(t *testing.T) {
	weights := []uint64{1, 2, 3, 4}
	var got []int
	for h := base.BlockHeight(0); h < 4; h++ {
		for _, r := range []base.Round{base.SingleLeader(0), base.SingleLeader(1), base.SingleLeader(7)} {
			i, ok := electLeader(weights, h, r)
			if !ok {
				t.Fatal("no leader")
			}
			got = append(got, i)
		}
	}
	want := []int{2, 3, 3, 2, 2, 2, 3, 3, 2, 1, 3, 3}
	if !slices.Equal(got, want) {
		t.Fatalf("leaders = %v, want %v", got, want)
	}
	seed := leaderSeed(0x0102030405060708, base.SingleLeader(9))
	if fmt.Sprintf("%x", seed) != "080706050403020102000000090000006d6963612f6c65616465722f76310000" {
		t.Fatalf("seed = %x", seed)
	}
}

// TestLeaderWeights checks that the election is proportional to the weights, within a
// loose bound, over many heights.
func TestLeaderWeights(t *testing.T) {
	o, names := leaderOwnership(map[string]uint64{"A": 1, "B": 2, "C": 3, "D": 4})
	const n = 20_000
	counts := make(map[string]int)
	for h := base.BlockHeight(0); h < n; h++ {
		l, ok := NewManager(o, h, 0).Leader(base.SingleLeader(uint32(h % 5)))
		if !ok {
			t.Fatal("no leader")
		}
		counts[names[l]]++
	}
	for name, w := range map[string]float64{"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4} {
		if got := float64(counts[name]) / n; math.Abs(got-w) > w/10 {
			t.Errorf("owner %s (weight %.0f%%) led %.1f%% of the rounds", name, 100*w, 100*got)
		}
	}
}

// TestLeaderNeverANonOwner checks random ownerships: the leader is always a regular owner.
func TestLeaderNeverANonOwner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := []string{"A", "B", "C", "D", "E"}
	for i := 0; i < 300; i++ {
		weights := make(map[string]uint64)
		var supers []string
		for _, n := range all {
			switch rng.IntN(3) {
			case 0:
				weights[n] = 1 + rng.Uint64N(1000)
			case 1:
				supers = append(supers, n)
			}
		}
		o, _ := leaderOwnership(weights, supers...)
		m := NewManager(o, base.BlockHeight(rng.Uint64()), 0)
		r := base.SingleLeader(rng.Uint32())
		l, ok := m.Leader(r)
		if ok != (len(o.Owners) > 0) || (ok && !o.IsOwner(l)) {
			t.Fatalf("ownership %d: leader %v (ok=%v) with %d owners", i, l, ok, len(o.Owners))
		}
	}
}

func TestUniformIsUnbiasedAtTheEdges(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{})
	for _, n := range []uint64{1, 2, 3, math.MaxUint64, 1 << 63, (1 << 63) + 1} {
		for i := 0; i < 100; i++ {
			if x := uniform(rng, n); x >= n {
				t.Fatalf("uniform(%d) = %d", n, x)
			}
		}
	}
}
