package bench

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// An open-loop run (Config.Rate > 0) offers a fixed load instead of committing blocks
// as fast as the chains can: chain c's k-th block is due at t0 + (k·C + c) block
// intervals, a block interval being OpsPerBlock / Rate seconds, so the blocks of the C
// chains are evenly staggered. A chain has at most one block in flight: it starts a
// block at its due time, or when its previous block finished if that is later, and so
// falls behind when the network cannot keep up. Finality is then timed from the due
// time as well as from building the block: a run that falls behind shows it in the
// first figure (no coordinated omission), while the second is the service time.

// MaxRate bounds Config.Rate (operations per second).
const MaxRate = 1e9

// CheckRate checks an offered load of rate operations per second over chains chains
// of opsPerBlock operations per block for d: a finite number ≥ 0 (0 is the closed
// loop), at most MaxRate, that gives every chain at least one block within d.
func CheckRate(rate float64, chains, opsPerBlock int, d time.Duration) error {
	switch {
	case math.IsNaN(rate):
		return errors.New("the rate is not a number")
	case rate < 0:
		return fmt.Errorf("the rate %v is negative (0 is the closed loop)", rate)
	case rate > MaxRate:
		return fmt.Errorf("the rate %v is more than %g operations/s", rate, MaxRate)
	case rate == 0:
		return nil
	case chains < 1 || opsPerBlock < 1 || d <= 0:
		return errors.New("a rate needs chains, operations per block and a duration")
	}
	if due := blocksDue(d, chains, opsPerBlock, rate); due < chains {
		return fmt.Errorf("%g operations/s in blocks of %d gives %d blocks in %v, fewer than one block per chain (%d chains): raise the rate or the duration",
			rate, opsPerBlock, due, d, chains)
	}
	return nil
}

// slotOffset is when, after the start of the run, the j-th block over all chains is
// due: j block intervals of perBlock / rate seconds (rounded down to the nanosecond).
func slotOffset(j int, perBlock int, rate float64) time.Duration {
	ns := float64(j) * float64(perBlock) / rate * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// dueOffset is when, after the start of the run, block k of chain c of chains is due:
// slot k·chains + c.
func dueOffset(k, c, chains, perBlock int, rate float64) time.Duration {
	return slotOffset(k*chains+c, perBlock, rate)
}

// blocksDue is the number of blocks over all chains due before d: the slots j with
// slotOffset(j) < d, counted with the same rounding as the pacers'.
func blocksDue(d time.Duration, chains, perBlock int, rate float64) int {
	f := math.Ceil(d.Seconds() * rate / float64(perBlock))
	if f >= 1<<53 { // past float64's integers: far more than any run commits
		return math.MaxInt
	}
	n := int(f)
	for n > 0 && slotOffset(n-1, perBlock, rate) >= d {
		n--
	}
	for slotOffset(n, perBlock, rate) < d {
		n++
	}
	return n
}

// pacer is the schedule of one chain's blocks. Not safe for concurrent use: the
// chain's goroutine owns it.
type pacer struct {
	start                   time.Time
	end                     time.Duration // no block due at or after start+end starts
	chain, chains, perBlock int
	rate                    float64
	// k is the chain's next block in the schedule: the number it committed.
	k int
}

func newPacer(start time.Time, end time.Duration, chain, chains, perBlock int, rate float64) *pacer {
	return &pacer{start: start, end: end, chain: chain, chains: chains, perBlock: perBlock, rate: rate}
}

func (p *pacer) dueAt(k int) time.Time {
	return p.start.Add(dueOffset(k, p.chain, p.chains, p.perBlock, p.rate))
}

// next says when the chain, ready (its previous block finished) at ready, starts its
// next block: at its due time, or at ready if that is later, when the block is late.
// ok is false if the block is due at or after the end of the run: the chain is done.
func (p *pacer) next(ready time.Time) (due, start time.Time, late, ok bool) {
	off := dueOffset(p.k, p.chain, p.chains, p.perBlock, p.rate)
	if off >= p.end {
		return time.Time{}, time.Time{}, false, false
	}
	due = p.start.Add(off)
	if ready.After(due) {
		return due, ready, true, true
	}
	return due, due, false, true
}

// following is the due time of the block after the next one.
func (p *pacer) following() time.Time { return p.dueAt(p.k + 1) }

// commit moves past a committed block (a failed one is tried again, still due when it
// was).
func (p *pacer) commit() { p.k++ }

// Schedule is what an open-loop run measured against its schedule (Config.Rate).
type Schedule struct {
	// OfferedTxPerSecond is Config.Rate, the offered load in operations per second.
	OfferedTxPerSecond float64 `json:"offered_transactions_per_second"`
	// BlocksDue is the number of blocks due within the run, over all chains.
	BlocksDue int `json:"blocks_due"`
	// LateBlocks is the number of committed blocks that started after their due time,
	// because the chain's previous block (or a failed attempt) was still running.
	LateBlocks int `json:"late_blocks"`
	// NotCommitted is BlocksDue minus the blocks committed: the blocks the run fell
	// behind by (a block failed and tried again until the end counts here too).
	NotCommitted int `json:"blocks_not_committed"`
	// BehindMs is how long, at the end of the run, the oldest block due but not
	// started had been due (0: every chain was on schedule).
	BehindMs float64 `json:"behind_ms"`
	// FromDueP50Ms and FromDueP99Ms are the finality of the committed blocks timed from
	// their due time (the service time, from building the block, is the result's
	// finality_p50_ms and finality_p99_ms, except for cross-chain whose headline is
	// the receipts).
	FromDueP50Ms float64 `json:"finality_from_due_p50_ms"`
	FromDueP99Ms float64 `json:"finality_from_due_p99_ms"`
}

// pacing is an open-loop run's figures, kept in stats (under its lock).
type pacing struct {
	start   time.Time
	end     time.Duration
	chains  int
	per     int
	rate    float64
	fromDue []time.Duration
	late    int
	// notStarted is, for each chain, the due time of its first block not started yet.
	notStarted []time.Time
}

func newPacing(start time.Time, end time.Duration, chains, perBlock int, rate float64) *pacing {
	pc := &pacing{start: start, end: end, chains: chains, per: perBlock, rate: rate, notStarted: make([]time.Time, chains)}
	for c := range chains {
		pc.notStarted[c] = start.Add(dueOffset(0, c, chains, perBlock, rate))
	}
	return pc
}

// chain returns the pacer of chain c.
func (pc *pacing) chain(c int) *pacer {
	return newPacer(pc.start, pc.end, c, pc.chains, pc.per, pc.rate)
}

// behind is how long, at t, the oldest block due but not started has been due (0 if
// none is).
func (pc *pacing) behind(t time.Time) time.Duration {
	oldest := pc.notStarted[0]
	for _, d := range pc.notStarted[1:] {
		if d.Before(oldest) {
			oldest = d
		}
	}
	return max(0, t.Sub(oldest))
}

// started records that chain c started a block; next is the due time of its next one.
func (s *stats) started(c int, next time.Time) {
	s.mu.Lock()
	s.pace.notStarted[c] = next
	s.mu.Unlock()
}

// paced records a committed block's finality from its due time.
func (s *stats) paced(due time.Time, late bool, confirmed time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pace.fromDue = append(s.pace.fromDue, confirmed.Sub(due))
	if late {
		s.pace.late++
	}
}

// schedule returns the figures of an open-loop run that committed blocks blocks.
func (pc *pacing) schedule(blocks int) *Schedule {
	sc := &Schedule{
		OfferedTxPerSecond: pc.rate,
		BlocksDue:          blocksDue(pc.end, pc.chains, pc.per, pc.rate),
		LateBlocks:         pc.late,
		BehindMs:           float64(pc.behind(pc.start.Add(pc.end)).Microseconds()) / 1000,
	}
	sc.NotCommitted = max(0, sc.BlocksDue-blocks)
	sc.FromDueP50Ms, sc.FromDueP99Ms = percentiles(pc.fromDue)
	return sc
}
