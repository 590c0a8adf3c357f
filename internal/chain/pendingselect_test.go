package chain

import (
	"math/rand/v2"
	"testing"

	"github.com/micachain/mica/internal/base"
)

// fakeOrigins serves selectPending's scans from queue lengths (in runs of runLen) and
// counts the bundles the scans read.
type fakeOrigins struct {
	lens   []int
	runLen int
	read   int
}

func (f *fakeOrigins) scan(i, quota int) (originQueue, bool, error) {
	q := originQueue{origin: base.ChainID{byte(i), byte(i >> 8)}}
	for q.n < f.lens[i] {
		run := make([]queuedBundle, min(f.runLen, f.lens[i]-q.n))
		if q.n+len(run) > quota {
			f.read += quota - q.n
			q.runs, q.n = append(q.runs, run[:quota-q.n]), quota
			return q, true, nil
		}
		f.read += len(run)
		q.runs, q.n = append(q.runs, run), q.n+len(run)
	}
	return q, false, nil
}

// roundRobin is the listing pendingBundles makes of queues: the i-th bundle of every
// origin in turn, up to limit, as (origin, index) pairs.
func roundRobin(qs []originQueue, limit int) [][2]int {
	var out [][2]int
	for i := 0; len(out) < limit; i++ {
		progressed := false
		for _, q := range qs {
			if i < q.n && len(out) < limit {
				out = append(out, [2]int{int(q.origin[0]) | int(q.origin[1])<<8, i})
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	return out
}

// TestSelectPendingListsWhatAFullScanLists: the prefixes selectPending reads give the
// same round-robin listing as every origin read up to the limit (what pendingBundles
// read before), over many shapes of inbox.
func TestSelectPendingListsWhatAFullScanLists(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n, limit := 1+r.IntN(40), 1+r.IntN(300)
		lens := make([]int, n)
		for i := range lens {
			switch r.IntN(4) {
			case 0:
			case 1:
				lens[i] = r.IntN(5)
			case 2:
				lens[i] = r.IntN(limit + 1)
			default:
				lens[i] = r.IntN(3 * limit)
			}
		}
		f := &fakeOrigins{lens: lens, runLen: 1 + r.IntN(8)}
		got, err := selectPending(n, limit, f.scan)
		if err != nil {
			t.Fatal(err)
		}
		full := &fakeOrigins{lens: lens, runLen: f.runLen}
		var want []originQueue
		for i := range n {
			if q, _, _ := full.scan(i, limit); q.n > 0 {
				want = append(want, q)
			}
		}
		g, w := roundRobin(got, limit), roundRobin(want, limit)
		if len(g) != len(w) {
			t.Fatalf("lens %v limit %d: %d bundles listed, a full scan lists %d", lens, limit, len(g), len(w))
		}
		for i := range g {
			if g[i] != w[i] {
				t.Fatalf("lens %v limit %d: bundle %d is %v, a full scan lists %v", lens, limit, i, g[i], w[i])
			}
		}
	}
}

// TestAttackPendingScanBounded: strangers' chains fill a chain's inbox, each origin with
// more bundles than one answer lists. A chain-info query (anyone may send one) read
// every origin's queue up to the limit: n × limit bundles, each resolved from its
// certificate. Now it reads a few times the limit, plus one probe per origin.
func TestAttackPendingScanBounded(t *testing.T) {
	const limit = 10_000
	shapes := map[string][]int{
		"1000 origins, each full":               fill(1000, func(int) int { return 2 * limit }),
		"one flood among 999 with one bundle":   fill(1000, func(i int) int { return map[bool]int{true: 5 * limit, false: 1}[i == 0] }),
		"10 floods among 990 empty":             fill(1000, func(i int) int { return map[bool]int{true: 3 * limit, false: 0}[i%100 == 0] }),
		"half full, half just under the quota":  fill(1000, func(i int) int { return map[bool]int{true: 2 * limit, false: 9}[i%2 == 0] }),
		"geometric":                             fill(20, func(i int) int { return 1 << i }),
		"two origins, one just over the limit":  {limit + 1, limit + 1},
		"3 origins, one empty, one under quota": {0, 100, 4 * limit},
	}
	for name, lens := range shapes {
		f := &fakeOrigins{lens: lens, runLen: 4}
		qs, err := selectPending(len(lens), limit, f.scan)
		if err != nil {
			t.Fatal(err)
		}
		listed := len(roundRobin(qs, limit))
		bound := 4*limit + len(lens)
		t.Logf("%s: %d bundles read for %d listed (bound %d)", name, f.read, listed, bound)
		if f.read > bound {
			t.Errorf("%s: %d bundles read to list %d; want at most %d", name, f.read, listed, bound)
		}
	}
}

func fill(n int, f func(i int) int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}
