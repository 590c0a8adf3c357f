package client

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

func atOne() fixedClock { one := base.Timestamp(1); return fixedClock{now: &one} }

// quorumMembers returns a committee of validators with the given votes, as members.
func quorumMembers(t *testing.T, votes ...uint64) members {
	t.Helper()
	keys := prototest.Validators(len(votes))
	vs := make([]protocol.ValidatorState, len(keys))
	m := members{}
	for i, k := range keys {
		vs[i] = protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: fmt.Sprintf("127.0.0.1:%d", 1+i), Votes: votes[i]}
		m.validators = append(m.validators, Validator{PublicKey: k.Public()})
	}
	c, err := protocol.NewCommittee(vs, protocol.NoFeesPolicy())
	if err != nil {
		t.Fatal(err)
	}
	m.committee = c
	return m
}

func testChainID(i int) base.ChainID {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return base.ChainID(sha256.Sum256(b[:]))
}

// checkSubset fails t unless the first n of order reach m's quorum and none of them
// can be left out (a minimal quorum), and order is a permutation of m's validators.
func checkSubset(t *testing.T, m members, order []Validator, n int) {
	t.Helper()
	checkSubsetProbing(t, m, order, n, nil)
}

// checkSubsetProbing is checkSubset for a first group that also holds the validators
// on probation (probing), asked besides a minimal subset of the others.
func checkSubsetProbing(t *testing.T, m members, order []Validator, n int, probing map[crypto.PublicKey]bool) {
	t.Helper()
	in := 0
	for _, v := range order[:n] {
		if probing[v.PublicKey] {
			in++
		}
	}
	if in != len(probing) {
		t.Fatalf("%d of the %d validators on probation are in the first group", in, len(probing))
	}
	subset := make([]Validator, 0, n)
	for _, v := range order[:n] {
		if !probing[v.PublicKey] {
			subset = append(subset, v)
		}
	}
	order = append(subset, order[n:]...)
	for _, v := range order {
		if probing[v.PublicKey] {
			t.Fatalf("a validator on probation is both in and after the first group")
		}
	}
	for k := range probing {
		order = append(order, Validator{PublicKey: k})
	}
	n = len(subset)
	if len(order) != len(m.validators) {
		t.Fatalf("order has %d validators, want %d", len(order), len(m.validators))
	}
	seen := map[crypto.PublicKey]bool{}
	for _, v := range order {
		if seen[v.PublicKey] || m.committee.Weight(v.PublicKey) == 0 {
			t.Fatalf("order is not a permutation of the members")
		}
		seen[v.PublicKey] = true
	}
	var w uint64
	for _, v := range order[:n] {
		w += m.committee.Weight(v.PublicKey)
	}
	q := m.committee.QuorumThreshold()
	if w < q {
		t.Fatalf("subset weight %d below the quorum %d", w, q)
	}
	for _, v := range order[:n] {
		if w-m.committee.Weight(v.PublicKey) >= q {
			t.Fatalf("subset is not minimal: %s can be left out (weight %d, quorum %d)", v.PublicKey, w, q)
		}
	}
}

// TestQuorumSubsetRotates: the subset of each chain reaches the quorum weight, is
// minimal, and with equal weights, over many chains, each validator ranks first as often
// as any other and is in as many subsets (left out of a quarter of the chains of 4).
func TestQuorumSubsetRotates(t *testing.T) {
	c := New(Config{Clock: atOne()})
	const chains = 4000
	for _, tc := range []struct {
		votes []uint64
	}{{[]uint64{1, 1, 1, 1}}, {[]uint64{1, 1, 1, 1, 1, 1, 1}}, {[]uint64{1, 2, 3, 4}}} {
		m := quorumMembers(t, tc.votes...)
		in := map[crypto.PublicKey]int{}
		firsts := map[crypto.PublicKey]int{}
		for i := range chains {
			id := testChainID(i)
			order, n := c.quorumFirst(m, id, 1)
			checkSubset(t, m, order, n)
			again, n2 := c.quorumFirst(m, id, 1)
			if n2 != n || fmt.Sprint(again) != fmt.Sprint(order) {
				t.Fatalf("chain %d: the subset is not a function of the chain", i)
			}
			for _, v := range order[:n] {
				in[v.PublicKey]++
			}
			firsts[order[0].PublicKey]++
		}
		if equal := tc.votes[0] == tc.votes[len(tc.votes)-1]; equal {
			q := m.committee.QuorumThreshold()
			want := float64(chains) * float64(q) / float64(len(tc.votes))
			for _, v := range m.validators {
				if got, want := float64(firsts[v.PublicKey]), float64(chains)/float64(len(tc.votes)); got < 0.85*want || got > 1.15*want {
					t.Errorf("votes %v: a validator ranks first for %v of %d chains, want about %v", tc.votes, got, chains, want)
				}
				if got := float64(in[v.PublicKey]); got < 0.95*want || got > 1.05*want {
					t.Errorf("votes %v: a validator is in %v subsets of %d, want about %v", tc.votes, got, chains, want)
				}
			}
		}
	}
}

// TestQuorumSubsetLeavesOutDown: a validator that failed is in no subset while it backs
// off (the others reach the quorum), is again once its back-off is over, and backs off
// longer after each failure; a success ends its back-off.
func TestQuorumSubsetLeavesOutDown(t *testing.T) {
	c := New(Config{Clock: atOne()})
	m := quorumMembers(t, 1, 1, 1, 1)
	down := m.validators[2].PublicKey
	now := base.Timestamp(1_000_000)
	inSubsets := func(at base.Timestamp) int {
		k := 0
		for i := range 200 {
			order, n := c.quorumFirst(m, testChainID(i), at)
			checkSubset(t, m, order, n)
			for _, v := range order[:n] {
				if v.PublicKey == down {
					k++
				}
			}
		}
		return k
	}
	if k := inSubsets(now); k == 0 {
		t.Fatal("a healthy validator is in no subset")
	}
	c.health.failed(down, now)
	if k := inSubsets(now.Add(base.DeltaFromDuration(downFirst - 1))); k != 0 {
		t.Fatalf("a validator backing off is in %d subsets", k)
	}
	// Its back-off over, it is on probation: asked besides a full subset of the
	// others, for every chain, until a call succeeds.
	for i := range 200 {
		order, n := c.quorumFirst(m, testChainID(i), now.Add(base.DeltaFromDuration(downFirst)))
		checkSubsetProbing(t, m, order, n, map[crypto.PublicKey]bool{down: true})
	}
	c.health.failed(down, now)
	if k := inSubsets(now.Add(base.DeltaFromDuration(2*downFirst - 1))); k != 0 {
		t.Fatalf("after a second failure, the back-off did not double (%d subsets)", k)
	}
	c.health.succeeded(down)
	if k := inSubsets(now); k == 0 {
		t.Fatal("a success did not end the back-off")
	}
	// Two of four down: the subset still needs one of them.
	c.health.failed(down, now)
	c.health.failed(m.validators[0].PublicKey, now)
	for i := range 50 {
		order, n := c.quorumFirst(m, testChainID(i), now)
		checkSubset(t, m, order, n)
	}
}

// TestQuorumWaitAdapts: the wait before asking everyone follows the time subsets take,
// within its bounds.
func TestQuorumWaitAdapts(t *testing.T) {
	const minWait = DefaultQuorumWait
	h := newQuorumHealth(minWait)
	if w := h.wait(); w != initialWait {
		t.Fatalf("initial wait %v, want %v", w, initialWait)
	}
	for range 100 {
		h.answered(10 * minWait)
	}
	if w := h.wait(); w < 5*minWait || w > maxWait {
		t.Fatalf("wait %v after subsets took %v", w, 10*minWait)
	}
	for range 100 {
		h.answered(0)
	}
	if w := h.wait(); w != minWait {
		t.Fatalf("wait %v after instant subsets, want %v", w, minWait)
	}
	for range 100 {
		h.answered(10 * maxWait)
	}
	if w := h.wait(); w != maxWait {
		t.Fatalf("wait %v after slow subsets, want %v", w, maxWait)
	}
}
