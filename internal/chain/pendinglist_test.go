package chain

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// fakeInbox serves listPending's reads from origins given as runs of bundle sizes, and
// counts the bundles, bytes and origins read.
type fakeInbox struct {
	runs                   [][][]int // origin, run, bundle size
	read, readBytes, opens int
}

func (f *fakeInbox) open(i int, yield func([]queuedBundle) bool) error {
	f.opens++
	for _, sizes := range f.runs[i] {
		run := make([]queuedBundle, len(sizes))
		for j, size := range sizes {
			run[j].raw = make([]byte, size)
			f.read++
			f.readBytes += size
		}
		if !yield(run) {
			return nil
		}
	}
	return nil
}

// listed is a listing as (origin, index in the origin's queue) pairs.
func (f *fakeInbox) list(t *testing.T, start int, b pendingBudget) [][2]int {
	t.Helper()
	var out [][2]int
	taken := make([]int, len(f.runs))
	err := listPending(len(f.runs), start, b, f.open, func(i int, _ *queuedBundle) error {
		out = append(out, [2]int{i, taken[i]})
		taken[i]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reference is the listing every origin read whole gives: round-robin from origin start,
// then the longest prefix of at most count bundles and bytes bytes (at least the first
// bundle).
func (f *fakeInbox) reference(start, count, bytes int) [][2]int {
	var sizes [][]int
	for _, runs := range f.runs {
		sizes = append(sizes, slices.Concat(runs...))
	}
	var out [][2]int
	total := 0
	for k := 0; ; k++ {
		progressed := false
		for j := range sizes {
			i := (start + j) % len(sizes)
			s := sizes[i]
			if k >= len(s) {
				continue
			}
			if len(out) == count || (len(out) > 0 && total+s[k] > bytes) {
				return out
			}
			out, total, progressed = append(out, [2]int{i, k}), total+s[k], true
		}
		if !progressed {
			return out
		}
	}
}

func randomInbox(r *rand.Rand, limit int) *fakeInbox {
	f := &fakeInbox{runs: make([][][]int, 1+r.IntN(40))}
	for i := range f.runs {
		var n int
		switch r.IntN(4) {
		case 0:
		case 1:
			n = r.IntN(5)
		case 2:
			n = r.IntN(limit + 1)
		default:
			n = r.IntN(3 * limit)
		}
		for n > 0 {
			run := make([]int, min(n, 1+r.IntN(8)))
			for j := range run {
				run[j] = 60 + r.IntN(1+r.IntN(2000))
			}
			f.runs[i] = append(f.runs[i], run)
			n -= len(run)
		}
	}
	return f
}

// TestListPendingListsWhatAFullScanLists: reading each origin only as far as the listing
// goes lists what every origin read whole lists (round-robin, then cut at the count and
// the bytes), over many shapes of inbox; with the read bounds in force the listing is a
// prefix of it.
func TestListPendingListsWhatAFullScanLists(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		limit := 1 + r.IntN(300)
		maxBytes := 60 + r.IntN(300*1000)
		f := randomInbox(r, limit)
		start := r.IntN(len(f.runs))
		want := f.reference(start, limit, maxBytes)
		got := f.list(t, start, pendingBudget{count: limit, bytes: maxBytes, readCount: math.MaxInt, readBytes: math.MaxInt})
		if !slices.Equal(got, want) {
			t.Fatalf("start %d, limit %d, %d bytes, runs %v: listed %v, a full scan lists %v", start, limit, maxBytes, f.runs, got, want)
		}
		for _, b := range []pendingBudget{
			newPendingBudget(limit, maxBytes),
			{count: limit, bytes: maxBytes, readCount: 1 + r.IntN(2*limit), readBytes: 1 + r.IntN(2*maxBytes)},
		} {
			bounded := f.list(t, start, b)
			if len(bounded) > len(want) || !slices.Equal(bounded, want[:len(bounded)]) {
				t.Fatalf("start %d, budget %+v, runs %v: listed %v within the read bounds, not a prefix of %v", start, b, f.runs, bounded, want)
			}
		}
	}
}

// TestAttackPendingScanBounded: strangers' chains fill a chain's inbox, each origin with
// more than one answer lists, in small or large bundles and runs. A chain-info query
// (anyone may send one) reads at most four times the answer's bounds, and one run more,
// and opens only the origins the listing reaches (one probe each for empty ones).
// Reading every origin up to the count (as before selectPending) read origins × limit
// bundles; selectPending bounded the count but not the bytes: 10,000 bundles of 1 MiB
// were read (and resolved from their certificates) for an answer of 16 MiB.
func TestAttackPendingScanBounded(t *testing.T) {
	const limit, maxBytes = 10_000, 16 << 20
	const mib = 1 << 20
	origins := func(n int, f func(i int) [][]int) [][][]int {
		out := make([][][]int, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	runs := func(runs, perRun, size int) [][]int {
		out := make([][]int, runs)
		for i := range out {
			out[i] = slices.Repeat([]int{size}, perRun)
		}
		return out
	}
	shapes := map[string][][][]int{
		"1000 origins, each full of small bundles":  origins(1000, func(int) [][]int { return runs(2*limit/4, 4, 100) }),
		"one origin, 10,000 bundles of 1 MiB":       origins(1, func(int) [][]int { return runs(limit, 1, mib) }),
		"1000 origins, each 10 bundles of 1 MiB":    origins(1000, func(int) [][]int { return runs(10, 1, mib) }),
		"1000 origins, each a run of 10,000 small":  origins(1000, func(int) [][]int { return runs(1, limit, 60) }),
		"1000 origins, each a run of 16 × 1 MiB":    origins(1000, func(int) [][]int { return runs(1, 16, mib) }),
		"one flood among 999 with one bundle":       origins(1000, func(i int) [][]int { return runs(map[bool]int{true: 5 * limit, false: 1}[i == 0], 1, 200) }),
		"10 floods among 990 empty":                 origins(1000, func(i int) [][]int { return runs(map[bool]int{true: 3 * limit, false: 0}[i%100 == 0], 1, 200) }),
		"geometric":                                 origins(20, func(i int) [][]int { return runs(1<<i, 1, 100) }),
		"one bundle larger than the answer's bytes": origins(3, func(int) [][]int { return runs(2, 1, 20*mib) }),
	}
	for name, o := range shapes {
		f := &fakeInbox{runs: o}
		listed := f.list(t, 0, newPendingBudget(limit, maxBytes))
		maxRun, maxRunBytes, nonEmpty := 0, 0, 0
		for _, runs := range o {
			if len(runs) > 0 {
				nonEmpty++
			}
			for _, run := range runs {
				s := 0
				for _, size := range run {
					s += size
				}
				maxRun, maxRunBytes = max(maxRun, len(run)), max(maxRunBytes, s)
			}
		}
		t.Logf("%s: %d listed; %d bundles and %d bytes read in %d origins", name, len(listed), f.read, f.readBytes, f.opens)
		if len(listed) == 0 && nonEmpty > 0 {
			t.Errorf("%s: nothing listed", name)
		}
		if f.read > 4*limit+maxRun || f.readBytes > 4*maxBytes+maxRunBytes {
			t.Errorf("%s: %d bundles and %d bytes read to list %d; want at most %d and %d", name, f.read, f.readBytes, len(listed), 4*limit+maxRun, 4*maxBytes+maxRunBytes)
		}
		if reached := len(listed) + (len(o) - nonEmpty); f.opens > reached+1 {
			t.Errorf("%s: %d origins opened to list %d bundles", name, f.opens, len(listed))
		}
	}
}

// TestAttackLargeRunsCannotStarveAnOrigin: origins whose runs exceed the read bounds
// stop a listing short, but the round-robin's first origin rotates with the height, so
// an honest origin after them in key order is listed within one block per origin.
func TestAttackLargeRunsCannotStarveAnOrigin(t *testing.T) {
	const limit, maxBytes = 10_000, 16 << 20
	f := &fakeInbox{runs: [][][]int{}}
	for range 5 {
		f.runs = append(f.runs, [][]int{slices.Repeat([]int{60}, limit)})
	}
	f.runs = append(f.runs, [][]int{{100}}) // the honest origin, last
	honest := len(f.runs) - 1
	if got := f.list(t, 0, newPendingBudget(limit, maxBytes)); slices.Contains(got, [2]int{honest, 0}) {
		t.Fatalf("from origin 0 the read bounds stop before the last origin, listed %d: the test's premise fails", len(got))
	}
	for start := range f.runs {
		if slices.Contains(f.list(t, start, newPendingBudget(limit, maxBytes)), [2]int{honest, 0}) {
			return
		}
	}
	t.Fatalf("the honest origin's bundle was listed at no height of %d", len(f.runs))
}
