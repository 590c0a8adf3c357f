package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// stats is shared by the chain goroutines.
type stats struct {
	mu    sync.Mutex
	start time.Time
	// crossChain makes receipts the run's headline figures.
	crossChain bool
	phases     []*phase
	byKind     map[string]int
	slow       int
	errs       int
	tally      *tally
	// sent joins a sending block with the blocks receiving its messages: whichever
	// of the two confirmations is seen second times the receipt.
	sent map[sentKey]*sentBlock
	// pace holds an open-loop run's figures (nil for the closed loop).
	pace *pacing
}

// phase holds the figures between two events.
type phase struct {
	name     string
	start    time.Duration
	blocks   []time.Duration // finality of each committed block
	ops      int
	receipts []time.Duration // one per received message bundle
	errs     int
}

type sentKey struct {
	chain  base.ChainID
	height base.BlockHeight
}

// sentBlock is a block of a benchmark chain that sends messages to another one.
type sentBlock struct {
	built  time.Time // when the sender started building it; zero until confirmed
	expect int       // bundles it sends to benchmark chains
	got    int       // bundles received so far
	early  []receipt // receipts seen before the sender's confirmation was recorded
}

type receipt struct {
	at time.Time
	n  int
}

func newStats(maxKinds int, first string, crossChain bool) *stats {
	return &stats{
		crossChain: crossChain,
		phases:     []*phase{{name: first}},
		byKind:     map[string]int{},
		tally:      newTally(maxKinds),
		sent:       map[sentKey]*sentBlock{},
	}
}

func (s *stats) cur() *phase { return s.phases[len(s.phases)-1] }

func (s *stats) newPhase(name string, at time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phases = append(s.phases, &phase{name: name, start: at})
}

// ok records a block of chain, built from built on and confirmed at confirmed, with
// operations of kinds of which sends send a message to another benchmark chain.
func (s *stats) ok(chain base.ChainID, cert *protocol.Certificate, built, confirmed time.Time, kinds []string, sends int, members chainSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cur()
	p.blocks = append(p.blocks, confirmed.Sub(built))
	p.ops += len(kinds)
	for _, k := range kinds {
		s.byKind[k]++
	}
	if !cert.Round.IsFast() {
		s.slow++
	}
	if sends > 0 {
		e := s.entry(sentKey{chain, cert.Height()})
		e.built, e.expect = built, sends
		for _, r := range e.early {
			s.received(p, e, r.at.Sub(built), r.n)
		}
		e.early = nil
		s.settle(sentKey{chain, cert.Height()}, e)
	}
	// The bundles this block received from other benchmark chains, by sending block.
	var keys []sentKey
	counts := map[sentKey]int{}
	for _, tx := range cert.Block.Proposed.Transactions {
		b := tx.Bundle
		if b == nil || !members[b.Origin] || b.Origin == chain {
			continue
		}
		k := sentKey{b.Origin, b.Bundle.Height}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	for _, k := range keys {
		e := s.entry(k)
		if e.built.IsZero() {
			e.early = append(e.early, receipt{at: confirmed, n: counts[k]})
			continue
		}
		s.received(p, e, confirmed.Sub(e.built), counts[k])
		s.settle(k, e)
	}
}

func (s *stats) entry(k sentKey) *sentBlock {
	e, ok := s.sent[k]
	if !ok {
		e = &sentBlock{}
		s.sent[k] = e
	}
	return e
}

func (s *stats) received(p *phase, e *sentBlock, d time.Duration, n int) {
	e.got += n
	for range n {
		p.receipts = append(p.receipts, d)
	}
}

// settle forgets a sending block once every bundle it sent has been received.
func (s *stats) settle(k sentKey, e *sentBlock) {
	if !e.built.IsZero() && e.got >= e.expect {
		delete(s.sent, k)
	}
}

func (s *stats) fail(err error) {
	s.mu.Lock()
	s.errs++
	s.cur().errs++
	s.tally.add(err)
	s.mu.Unlock()
}

// headline returns a phase's operation count and latencies: the receipts for a
// cross-chain run, else the committed operations and blocks.
func (s *stats) headline(p *phase) (int, []time.Duration) {
	if s.crossChain {
		return len(p.receipts), p.receipts
	}
	return p.ops, p.blocks
}

func (s *stats) progress(el time.Duration) Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := Progress{Elapsed: el, Errors: s.errs}
	if s.pace != nil {
		pr.Behind = s.pace.behind(s.start.Add(el))
	}
	for _, p := range s.phases {
		n, _ := s.headline(p)
		pr.Blocks += len(p.blocks)
		pr.Transfers += n
	}
	return pr
}

func (s *stats) result(chains, perBlock int, el time.Duration) *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &Result{
		Chains: chains, TxPerBlock: perBlock, DurationSeconds: el.Seconds(),
		Errors: s.errs, ErrorKinds: s.tally.sorted(), OperationsByKind: s.byKind, SlowRoundBlocks: s.slow,
	}
	var lat, receipts []time.Duration
	for i, p := range s.phases {
		n, l := s.headline(p)
		res.Blocks += len(p.blocks)
		res.Transactions += n
		lat = append(lat, l...)
		receipts = append(receipts, p.receipts...)
		if len(s.phases) > 1 {
			end := el
			if i+1 < len(s.phases) {
				end = s.phases[i+1].start
			}
			ph := Phase{Name: p.name, StartSeconds: p.start.Seconds(), Seconds: (end - p.start).Seconds(), Blocks: len(p.blocks), Transactions: n, Errors: p.errs}
			if end > p.start {
				ph.TxPerSecond = float64(n) / (end - p.start).Seconds()
			}
			ph.LatencyP50Ms, ph.LatencyP99Ms = percentiles(l)
			res.Phases = append(res.Phases, ph)
		}
	}
	if el > 0 {
		res.TxPerSecond = float64(res.Transactions) / el.Seconds()
	}
	res.LatencyP50Ms, res.LatencyP99Ms = percentiles(lat)
	if s.pace != nil {
		res.Schedule = s.pace.schedule(res.Blocks)
	}
	if len(receipts) > 0 {
		r := &Latency{Count: len(receipts)}
		r.P50Ms, r.P99Ms = percentiles(receipts)
		res.Receipts = r
	}
	return res
}

// percentiles returns the median and the 99th percentile in milliseconds (0 for none).
func percentiles(lat []time.Duration) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	l := slices.Clone(lat)
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(l[len(l)/2]), ms(l[min(len(l)-1, len(l)*99/100)])
}
