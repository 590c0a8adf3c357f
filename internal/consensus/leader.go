package consensus

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"

	"github.com/micachain/mica/internal/base"
)

// leaderSeedTag fills the last 16 bytes of every leader-election seed (domain separation).
const leaderSeedTag = "mica/leader/v1\x00\x00"

// leaderSeed is the 32-byte ChaCha8 seed of the election of round at height:
//
//	height (u64 LE) || round kind (u32 LE) || round number (u32 LE) || "mica/leader/v1\0\0"
func leaderSeed(height base.BlockHeight, round base.Round) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:8], uint64(height))
	binary.LittleEndian.PutUint32(s[8:12], uint32(round.Kind))
	binary.LittleEndian.PutUint32(s[12:16], round.Number)
	copy(s[16:], leaderSeedTag)
	return s
}

// uniform returns a uniform integer in [0, n) for n > 0 from the 64-bit outputs of rng, by
// rejection: draws below 2^64 mod n are discarded, so x mod n is unbiased.
func uniform(rng *rand.ChaCha8, n uint64) uint64 {
	threshold := -n % n // 2^64 mod n
	for {
		if x := rng.Uint64(); x >= threshold {
			return x % n
		}
	}
}

// electLeader returns the index of the elected owner among weights (in the order of the
// ownership's sorted Owners), or false if there are none.
//
// Specification (identical on every node, whatever the Go version): draw x uniform in
// [0, W) with uniform() over the ChaCha8 stream of math/rand/v2 (C2SP chacha8rand) seeded
// with leaderSeed(height, round), where W is the sum of the weights; the leader is the
// first owner whose cumulative weight exceeds x. If W overflows 64 bits, every weight is
// first shifted right by k = bits.Len(len(weights)) bits (so the sum fits), and owners
// whose shifted weight is 0 are never elected.
func electLeader(weights []uint64, height base.BlockHeight, round base.Round) (int, bool) {
	if len(weights) == 0 {
		return 0, false
	}
	shift := 0
	var total uint64
	for _, w := range weights {
		var carry uint64
		total, carry = bits.Add64(total, w, 0)
		if carry != 0 {
			shift = bits.Len(uint(len(weights)))
			break
		}
	}
	if shift > 0 {
		total = 0
		for _, w := range weights {
			total += w >> shift
		}
	}
	if total == 0 {
		return 0, false
	}
	rng := rand.NewChaCha8(leaderSeed(height, round))
	x := uniform(rng, total)
	for i, w := range weights {
		w >>= shift
		if x < w {
			return i, true
		}
		x -= w
	}
	return 0, false // Unreachable: x < total.
}

// Leader returns the owner who may propose in round (besides the super owners): only
// single-leader rounds have one, elected among the regular owners with probability
// proportional to their weights, deterministically from (height, round). Validator
// (fallback) rounds have no owner leader: fallback is not implemented.
func (m *Manager) Leader(round base.Round) (base.Owner, bool) {
	if round.Kind != base.RoundSingleLeader {
		return base.Owner{}, false
	}
	owners := m.ownership.Owners
	weights := make([]uint64, len(owners))
	for i := range owners {
		weights[i] = owners[i].Weight
	}
	i, ok := electLeader(weights, m.height, round)
	if !ok {
		return base.Owner{}, false
	}
	return owners[i].Owner, true
}

// CanPropose reports whether owner may propose in round (§2.3): in the fast round, super
// owners only; in multi-leader rounds, any owner or super owner (anyone if the rounds are
// open); in single-leader rounds, the leader or any super owner; in validator rounds,
// nobody (fallback is not implemented).
func (m *Manager) CanPropose(owner base.Owner, round base.Round) bool {
	o := &m.ownership
	switch round.Kind {
	case base.RoundFast:
		return o.IsSuperOwner(owner)
	case base.RoundMultiLeader:
		return o.OpenMultiLeaderRounds || o.IsAnyOwner(owner)
	case base.RoundSingleLeader:
		if o.IsSuperOwner(owner) {
			return true
		}
		l, ok := m.Leader(round)
		return ok && l == owner
	}
	return false
}
