package bench

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
)

// TestDueOffset: block k of chain c is due at (k·C + c) block intervals, a block
// interval being OpsPerBlock / Rate seconds: the chains' blocks are evenly staggered.
func TestDueOffset(t *testing.T) {
	for _, c := range []struct {
		k, chain, chains, perBlock int
		rate                       float64
		want                       time.Duration
	}{
		{0, 0, 16, 1, 1000, 0},
		{0, 5, 16, 1, 1000, 5 * time.Millisecond},
		{3, 2, 4, 1, 1000, 14 * time.Millisecond},      // slot 14 of 1 ms
		{1, 0, 64, 1, 800, 80 * time.Millisecond},      // 64 slots of 1.25 ms
		{2, 1, 16, 100, 20000, 165 * time.Millisecond}, // slot 33 of 5 ms
		{0, 1, 3, 1, 3, 333333333 * time.Nanosecond},   // 1/3 s, rounded down
	} {
		if got := dueOffset(c.k, c.chain, c.chains, c.perBlock, c.rate); got != c.want {
			t.Errorf("dueOffset(k=%d, chain %d of %d, %d per block, rate %v) = %v, want %v", c.k, c.chain, c.chains, c.perBlock, c.rate, got, c.want)
		}
	}
	// Over the chains, consecutive slots are one interval apart and never go back.
	prev := time.Duration(-1)
	for k := range 50 {
		for ch := range 7 {
			d := dueOffset(k, ch, 7, 3, 1234.5)
			if d <= prev {
				t.Fatalf("block %d of chain %d due at %v, not after %v", k, ch, d, prev)
			}
			prev = d
		}
	}
}

// TestPacerNext: a chain starts a block at its due time, or when its previous block
// finished if that is later (then the block is late), and starts none due at or after
// the end of the run.
func TestPacerNext(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// 2 chains at 100 blocks/s: chain 1's blocks are due at 10, 30, 50, 70 ms.
	p := newPacer(t0, 80*time.Millisecond, 1, 2, 1, 100)
	for i, c := range []struct {
		ready, due, start int
		late, ok          bool
	}{
		{0, 10, 10, false, true},   // waits for its due time
		{10, 10, 10, false, true},  // ready exactly on time: not late
		{45, 10, 45, true, true},   // still block 0 (not committed): late
		{45, 10, 45, true, true},   // a retry of the same block
		{-1, 30, 30, false, false}, // after commit(): block 1 (ready is set below)
	} {
		if c.ready < 0 {
			p.commit()
			c.ready, c.ok = 20, true
		}
		due, start, late, ok := p.next(ms(c.ready))
		if due != ms(c.due) || start != ms(c.start) || late != c.late || ok != c.ok {
			t.Errorf("step %d (ready %d ms): due %v start %v late %v ok %v, want %+v", i, c.ready, due.Sub(t0), start.Sub(t0), late, ok, c)
		}
	}
	p.commit() // block 2, due at 50
	p.commit() // block 3, due at 70
	if _, _, _, ok := p.next(ms(60)); !ok {
		t.Error("block 3, due at 70 ms in a run of 80, not started")
	}
	p.commit() // block 4 would be due at 90: after the end
	if due, _, _, ok := p.next(ms(75)); ok {
		t.Errorf("block 4 due at %v, after the end of the run, started", due.Sub(t0))
	}
}

// TestPacedFallingBehind: a chain slower than its schedule falls behind; its finality
// from the due time grows block after block while its service time stays, its blocks
// are counted late, and the run ends behind schedule with blocks due but not
// committed. A chain that keeps up is on time.
func TestPacedFallingBehind(t *testing.T) {
	t0 := time.Unix(1000, 0)
	end := 80 * time.Millisecond
	const chains, rate = 2, 100 // one block every 10 ms over the two chains
	st := newStats(0, "start", false)
	st.start = t0
	st.pace = newPacing(t0, end, chains, 1, rate)
	a, b := base.ChainID{1}, base.ChainID{2}
	members := chainSet{a: true, b: true}
	// Chain 0 takes 30 ms per block (due every 20 ms), chain 1 takes 5 ms; as in drive,
	// a chain starts no block once the run has ended.
	for c, service := range []int{30, 5} {
		id := []base.ChainID{a, b}[c]
		p := st.pace.chain(c)
		ready := t0
		for h := 0; ready.Before(t0.Add(end)); h++ {
			due, start, late, ok := p.next(ready)
			if !ok {
				break
			}
			st.started(c, p.following())
			done := start.Add(time.Duration(service) * time.Millisecond)
			st.ok(id, block(id, base.BlockHeight(h), base.FastRound), start, done, []string{kindTransfer}, 0, members)
			st.paced(due, late, done)
			p.commit()
			ready = done
		}
	}
	// Chain 0: due 0, 20, 40; started 0, 30, 60; final 30, 60, 90 (the last one in
	// flight at the end): 30, 40, 50 ms from the due time, 2 late; block 3 (due at 60)
	// not started. Chain 1: due 10, 30, 50, 70, each 5 ms.
	res := st.result(chains, 1, 90*time.Millisecond)
	s := res.Schedule
	if s == nil {
		t.Fatal("no schedule in the result")
	}
	want := Schedule{OfferedTxPerSecond: rate, BlocksDue: 8, LateBlocks: 2, NotCommitted: 1, BehindMs: 20, FromDueP50Ms: 5, FromDueP99Ms: 50}
	if *s != want {
		t.Errorf("schedule %+v, want %+v", *s, want)
	}
	if res.Blocks != 7 || res.LatencyP50Ms != 5 || res.LatencyP99Ms != 30 {
		t.Errorf("blocks %d, service p50 %v p99 %v; want 7, 5, 30", res.Blocks, res.LatencyP50Ms, res.LatencyP99Ms)
	}
	// Mid-run, the progress says how far behind the slowest chain is.
	if pr := st.progress(100 * time.Millisecond); pr.Behind != 40*time.Millisecond {
		t.Errorf("progress at 100 ms: behind %v, want 40ms (chain 0's block 3 was due at 60 ms)", pr.Behind)
	}
	// A closed-loop run has no schedule.
	if r := newStats(0, "start", false).result(1, 1, time.Second); r.Schedule != nil {
		t.Errorf("closed loop: schedule %+v", *r.Schedule)
	}
}

// TestCheckRate: the offered load must be a finite number ≥ 0 (0: closed loop), at
// most MaxRate, and give every chain at least one block within the duration.
func TestCheckRate(t *testing.T) {
	for _, c := range []struct {
		rate     float64
		chains   int
		perBlock int
		d        time.Duration
		want     string // "" for accepted
	}{
		{0, 64, 1, 10 * time.Second, ""},
		{1000, 64, 1, 10 * time.Second, ""},
		{6.4, 64, 1, 10 * time.Second, ""}, // 64 blocks in 10 s: one per chain
		{6.3, 64, 1, 10 * time.Second, "fewer than one block per chain"},
		{640, 64, 100, 10 * time.Second, ""},                               // 64 blocks of 100
		{630, 64, 100, 10 * time.Second, "fewer than one block per chain"}, // 63 blocks
		{-1, 4, 1, time.Second, "negative"},
		{math.NaN(), 4, 1, time.Second, "not a number"},
		{math.Inf(1), 4, 1, time.Second, "more than"},
		{MaxRate * 2, 4, 1, time.Second, "more than"},
		{MaxRate, 1, 1, math.MaxInt64, ""}, // counted without overflow
		{5e-324, 1, 1, time.Second, ""},    // one block, at the start
		{5e-324, 2, 1, time.Second, "fewer than one block per chain"},
	} {
		err := CheckRate(c.rate, c.chains, c.perBlock, c.d)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("rate %v, %d chains × %d, %v: %v", c.rate, c.chains, c.perBlock, c.d, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("rate %v, %d chains × %d, %v: error %v, want %q", c.rate, c.chains, c.perBlock, c.d, err, c.want)
		}
	}
	ccs := startNet(t, 2)
	if _, err := Run(context.Background(), Config{Chains: ccs, OpsPerBlock: 1, Duration: time.Second, Now: time.Now, Rate: -5}); err == nil {
		t.Error("Run accepted a negative rate")
	}
}

// TestRunAtRate runs the transfer ring at an offered load on an in-process network: the
// schedule is reported, no more blocks commit than were due, and each block's finality
// from its due time is at least its service time (it cannot start before it is due).
// No timing is asserted.
func TestRunAtRate(t *testing.T) {
	ccs := startNet(t, 3)
	for _, sc := range []Scenario{Transfers, CrossChain} {
		res, err := Run(context.Background(), Config{Chains: ccs, Scenario: sc, OpsPerBlock: 2, Duration: 600 * time.Millisecond, Now: time.Now, Rate: 100})
		if err != nil {
			t.Fatal(err)
		}
		m := decodeResult(t, res)
		s := res.Schedule
		if s == nil || m["schedule"] == nil {
			t.Fatalf("%s: no schedule: %+v", sc, res)
		}
		if s.OfferedTxPerSecond != 100 || s.BlocksDue != 30 || res.Blocks == 0 || res.Blocks > s.BlocksDue || s.NotCommitted != s.BlocksDue-res.Blocks {
			t.Errorf("%s: %d blocks, schedule %+v; want 30 due (100/s of 2 over 0.6 s)", sc, res.Blocks, *s)
		}
		if s.LateBlocks > res.Blocks || s.BehindMs < 0 || s.FromDueP99Ms < s.FromDueP50Ms {
			t.Errorf("%s: schedule %+v", sc, *s)
		}
		if sc == Transfers && (s.FromDueP50Ms < res.LatencyP50Ms || s.FromDueP99Ms < res.LatencyP99Ms) {
			t.Errorf("%s: from the due time p50 %v p99 %v, below the service time's %v %v", sc, s.FromDueP50Ms, s.FromDueP99Ms, res.LatencyP50Ms, res.LatencyP99Ms)
		}
		t.Logf("%s: %.0f ops/s, schedule %+v, service p50 %.2f ms", sc, res.TxPerSecond, *s, res.LatencyP50Ms)
	}
}
