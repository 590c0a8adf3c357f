// Package bench is Mica's load generator: a set of chains, each driven by its own
// goroutine, commit blocks of transfers to the next chain of the ring as fast as they
// can for a fixed duration, or at an offered rate (Config.Rate: each block has a due
// time, see rate.go). It measures throughput and finality latency (from building a
// block to holding its confirmed certificate, and at a rate from its due time too) and
// keeps every error it meets, counted by kind with the first example of each, so a run
// that went wrong says why.
//
// The package only drives chain clients it is given. Opening, funding and refunding the
// chains, and keeping their keys, is the caller's job (cmd/mica: `mica benchmark`).
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
)

// Config is one benchmark run.
type Config struct {
	// Chains are the benchmark chains; chain i sends to chain i+1 (mod len). Each
	// must be owned by its client's signer and hold a little balance (OpsPerBlock
	// attos per block, received back from its predecessor), and for Fungible and Mix
	// tokens of FungibleApp in its owner's account.
	Chains []*client.ChainClient
	// Scenario is what the blocks hold (Transfers if empty).
	Scenario Scenario
	// OpsPerBlock is the number of operations in each block (≥ 1).
	OpsPerBlock int
	// CounterApp and FungibleApp are the applications of the Counter, Fungible and
	// Mix scenarios (an instance of examples/counter and of examples/fungible).
	CounterApp, FungibleApp base.ApplicationID
	// Duration is how long the chains keep committing blocks.
	Duration time.Duration
	// Rate, if positive, is the offered load in operations per second over all
	// chains: the blocks are scheduled open-loop (see Schedule) instead of each chain
	// committing its next block as soon as the last one is final. CheckRate says
	// which rates a run takes.
	Rate float64
	// Now is the clock (time.Now in the CLI).
	Now func() time.Time
	// Progress, if set, is called about every ProgressEvery (default 1 s) from the
	// goroutine that called Run.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// MaxErrorKinds bounds the distinct error kinds kept (default 32); further kinds are
	// counted under OtherKind.
	MaxErrorKinds int
	// Events happen during the run (killing a validator, say), in order of At; each
	// starts a new phase, reported on its own in Result.Phases. FirstPhase names the
	// phase before the first event ("start" if empty).
	Events     []Event
	FirstPhase string
}

// Event is something done to the network At into the run; the run's figures from
// then on form the phase Name.
type Event struct {
	At   time.Duration
	Name string
	// Do runs from the goroutine that called Run; an error is counted with the run's
	// errors.
	Do func() error
}

// Progress is a snapshot of a run.
type Progress struct {
	Elapsed time.Duration
	Blocks  int
	// Transfers is the number of operations committed (received, for CrossChain).
	Transfers int
	Errors    int
	// Behind is, for an open-loop run, how long the oldest block due but not started
	// has been due.
	Behind time.Duration
}

// TransfersPerSecond is the mean rate since the start.
func (p Progress) TransfersPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Transfers) / p.Elapsed.Seconds()
}

// ErrorKind is one kind of error met during a run.
type ErrorKind struct {
	// Kind is the error's class (invalid, not found, retryable, corrupt, deadline,
	// canceled, other) and the start of its message with numbers and hashes masked.
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	// Example is the full message of the first error of this kind.
	Example string `json:"example"`
}

// OtherKind collects the errors of kinds past Config.MaxErrorKinds.
const OtherKind = "other: more kinds than kept"

// Result is what a run measured.
type Result struct {
	Scenario        Scenario `json:"scenario"`
	Chains          int      `json:"chains"`
	TxPerBlock      int      `json:"transactions_per_block"`
	DurationSeconds float64  `json:"duration_seconds"`
	// Blocks is the number of blocks the benchmark chains committed.
	Blocks int `json:"blocks"`
	// Transactions is the number of operations committed; for CrossChain, the number
	// of transfers whose receiver committed the block receiving them.
	Transactions int     `json:"transactions"`
	TxPerSecond  float64 `json:"transactions_per_second"`
	// LatencyP50Ms and LatencyP99Ms are the finality: from building a block to
	// holding its confirmed certificate; for CrossChain, from building the sending
	// block to holding the receiver's confirmed certificate.
	LatencyP50Ms float64 `json:"finality_p50_ms"`
	LatencyP99Ms float64 `json:"finality_p99_ms"`
	// OperationsByKind counts the committed operations by kind (transfer, counter,
	// fungible).
	OperationsByKind map[string]int `json:"operations_by_kind"`
	// SlowRoundBlocks is the number of blocks confirmed in a round other than the
	// fast round (after a round timeout, or for a block that used oracles).
	SlowRoundBlocks int `json:"slow_round_blocks"`
	// Receipts are the messages between benchmark chains (transfers, token credits)
	// that a receiver's block received during the run, timed from building the
	// sending block to the receiver's confirmed certificate; nil if none.
	Receipts *Latency `json:"receipts,omitempty"`
	// Errors is the number of failed block attempts; ErrorKinds breaks it down, most
	// frequent first.
	Errors     int         `json:"errors"`
	ErrorKinds []ErrorKind `json:"error_kinds"`
	// Phases splits the figures at each Config.Events entry (nil without events).
	Phases []Phase `json:"phases,omitempty"`
	// CPU is the CPU time the processes spent, if the caller measured it (SampleCPU).
	CPU *CPU `json:"cpu,omitempty"`
	// Schedule is an open-loop run's figures against its schedule (Config.Rate; nil
	// for the closed loop).
	Schedule *Schedule `json:"schedule,omitempty"`
	// ClientStore is what the client's local store did during the run, if the caller
	// measured it.
	ClientStore *StoreWork `json:"client_store,omitempty"`
}

// StoreWork is what a Pebble store did in the background over a run: the bytes its
// memtable flushes and compactions wrote, per committed block, and its shape at the
// end (a store catching up on compactions has a debt, L0 files, a higher read
// amplification).
type StoreWork struct {
	Flushes                  uint64  `json:"flushes"`
	FlushedKBPerBlock        float64 `json:"flushed_kb_per_block"`
	Compactions              uint64  `json:"compactions"`
	CompactedKBPerBlock      float64 `json:"compacted_kb_per_block"`
	CompactionDebtMB         float64 `json:"compaction_debt_mb"`
	L0Files                  uint64  `json:"l0_files"`
	ReadAmp                  uint64  `json:"read_amp"`
	Tables                   uint64  `json:"tables"`
	BlobFiles                uint64  `json:"blob_files"`
	BlockCacheMissesPerBlock float64 `json:"block_cache_misses_per_block"`
}

// Latency is a count of timed events and their median and 99th percentile.
type Latency struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// Phase is the part of a run between two events.
type Phase struct {
	Name         string  `json:"name"`
	StartSeconds float64 `json:"start_seconds"`
	Seconds      float64 `json:"seconds"`
	Blocks       int     `json:"blocks"`
	Transactions int     `json:"transactions"`
	TxPerSecond  float64 `json:"transactions_per_second"`
	LatencyP50Ms float64 `json:"finality_p50_ms"`
	LatencyP99Ms float64 `json:"finality_p99_ms"`
	Errors       int     `json:"errors"`
}

// Run drives the chains for cfg.Duration (or until ctx ends) and returns what it
// measured. Errors met while committing blocks are counted in the result, not returned;
// a chain whose round is taken waits for the round to time out and asks for a timeout
// certificate, as a user's client would. Run returns an error only for a bad Config.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Chains) == 0 || cfg.OpsPerBlock < 1 || cfg.Duration <= 0 || cfg.Now == nil {
		return nil, errors.New("bench: need chains, a positive number of operations per block, a positive duration and a clock")
	}
	if err := CheckRate(cfg.Rate, len(cfg.Chains), cfg.OpsPerBlock, cfg.Duration); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.Scenario == "" {
		cfg.Scenario = Transfers
	}
	if _, err := ParseScenario(string(cfg.Scenario)); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.Scenario.NeedsCounter() && cfg.CounterApp == (base.ApplicationID{}) || cfg.Scenario.NeedsFungible() && cfg.FungibleApp == (base.ApplicationID{}) {
		return nil, fmt.Errorf("bench: the %s scenario needs its applications", cfg.Scenario)
	}
	events := slices.Clone(cfg.Events)
	slices.SortStableFunc(events, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	// The run ends at the deadline (or when ctx ends), but a block already sent runs to
	// its end: a block cut short after its certificate formed but before every validator
	// received it would leave the chain ahead in the local node only, and its outgoing
	// transfers undelivered.
	stop, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	first := cfg.FirstPhase
	if first == "" {
		first = "start"
	}
	st := newStats(cfg.MaxErrorKinds, first, cfg.Scenario == CrossChain)
	start := cfg.Now()
	st.start = start
	if cfg.Rate > 0 {
		st.pace = newPacing(start, cfg.Duration, len(cfg.Chains), cfg.OpsPerBlock, cfg.Rate)
	}
	members := newChainSet(cfg.Chains)
	var wg sync.WaitGroup
	for i, cc := range cfg.Chains {
		w := newWorkload(&cfg, i)
		var p *pacer
		if st.pace != nil {
			p = st.pace.chain(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			drive(stop, cc, i, w, p, members, cfg.Now, st)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var next <-chan time.Time
	arm := func() {
		if len(events) > 0 {
			next = time.After(events[0].At - cfg.Now().Sub(start))
		} else {
			next = nil
		}
	}
	arm()
wait:
	for {
		select {
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(st.progress(cfg.Now().Sub(start)))
			}
		case <-next:
			ev := events[0]
			events = events[1:]
			if stop.Err() == nil {
				st.newPhase(ev.Name, cfg.Now().Sub(start))
				if ev.Do != nil {
					if err := ev.Do(); err != nil {
						st.fail(fmt.Errorf("%s: %w", ev.Name, err))
					}
				}
			}
			arm()
		case <-done:
			break wait
		}
	}
	el := cfg.Now().Sub(start)
	res := st.result(len(cfg.Chains), cfg.OpsPerBlock, el)
	res.Scenario = cfg.Scenario
	return res, nil
}

// maxBlockAfterStop bounds how long a block sent before the end of the run may take.
const maxBlockAfterStop = 30 * time.Second

// drive commits blocks of w's operations on chain i, cc, until stop ends: as fast as it
// can, or at the due times of p if not nil. A block already started when stop ends runs
// to its end (within maxBlockAfterStop).
func drive(stop context.Context, cc *client.ChainClient, i int, w *workload, p *pacer, members chainSet, now func() time.Time, st *stats) {
	for stop.Err() == nil {
		var due time.Time
		var late bool
		if p != nil {
			var start time.Time
			var ok bool
			due, start, late, ok = p.next(now())
			if !ok {
				// Nothing more is due: the run still lasts its duration, so that
				// the achieved rate is over the same time as the offered one.
				<-stop.Done()
				return
			}
			if !sleepUntil(stop, start, now) {
				return
			}
			st.started(i, p.following())
		}
		ops, kinds, sends := w.block()
		t := now()
		cert, cut, err := executeToEnd(stop, cc, ops)
		if err != nil {
			if cut {
				return // cut maxBlockAfterStop after the end of the run
			}
			st.fail(err)
			var wt *client.WaitForTimeoutError
			if errors.As(err, &wt) {
				waitTimeout(stop, cc, wt, now, st)
			}
			continue
		}
		if cert == nil {
			continue
		}
		w.advance()
		confirmed := now()
		st.ok(cc.ID(), cert, t, confirmed, kinds, sends, members)
		if p != nil {
			st.paced(due, late, confirmed)
			p.commit()
		}
	}
}

// sleepUntil waits until t (by now's clock); false if stop ended first.
func sleepUntil(stop context.Context, t time.Time, now func() time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return stop.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stop.Done():
		return false
	}
}

// executeToEnd commits one block; it is not interrupted when stop ends, only
// maxBlockAfterStop after (then cut is true).
func executeToEnd(stop context.Context, cc *client.ChainClient, ops []protocol.Operation) (cert *protocol.Certificate, cut bool, err error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	defer cancel()
	var timer *time.Timer
	var mu sync.Mutex
	unwatch := context.AfterFunc(stop, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(maxBlockAfterStop, cancel)
	})
	cert, err = cc.ExecuteOperations(ctx, ops, nil)
	unwatch()
	mu.Lock()
	if timer != nil {
		timer.Stop()
	}
	mu.Unlock()
	return cert, ctx.Err() != nil, err
}

// waitTimeout waits until the taken round can time out, then asks for a timeout
// certificate so that the chain can move to the next round.
func waitTimeout(ctx context.Context, cc *client.ChainClient, wt *client.WaitForTimeoutError, now func() time.Time, st *stats) {
	wait := 200 * time.Millisecond
	if wt.Until != 0 {
		if d := wt.Until.Time().Sub(now()) + 100*time.Millisecond; d > wait {
			wait = d
		}
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return
	}
	if _, err := cc.RequestTimeout(ctx); err != nil && ctx.Err() == nil {
		st.fail(fmt.Errorf("request timeout: %w", err))
	}
}

// tally counts errors by kind. Not safe for concurrent use.
type tally struct {
	max   int
	kinds map[string]*ErrorKind
}

func newTally(max int) *tally {
	if max <= 0 {
		max = 32
	}
	return &tally{max: max, kinds: map[string]*ErrorKind{}}
}

// maxExample bounds the length of a kept example message.
const maxExample = 500

func (t *tally) add(err error) {
	k := Classify(err)
	e, ok := t.kinds[k]
	if !ok {
		if len(t.kinds) >= t.max {
			k = OtherKind
			e, ok = t.kinds[k]
		}
		if !ok {
			msg := err.Error()
			if len(msg) > maxExample {
				msg = msg[:maxExample] + "…"
			}
			e = &ErrorKind{Kind: k, Example: msg}
			t.kinds[k] = e
		}
	}
	e.Count++
}

// sorted returns the kinds, most frequent first (then by name); never nil.
func (t *tally) sorted() []ErrorKind {
	out := make([]ErrorKind, 0, len(t.kinds))
	for _, e := range t.kinds {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b ErrorKind) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out
}

var (
	number   = regexp.MustCompile(`\b[0-9]+(?:\.[0-9]+)?\b`)
	hexRun   = regexp.MustCompile(`\b(?:0x)?[0-9a-fA-F]{8,}\b`)
	spaceRun = regexp.MustCompile(`\s+`)
)

// kindPrefix is how many characters of the masked message name a kind.
const kindPrefix = 72

// Classify names the kind of an error: its class, then the start of its message with
// hashes and numbers masked, so that the same failure on different chains, heights or
// validators falls into one kind.
func Classify(err error) string {
	class := "other"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		class = "deadline"
	case errors.Is(err, context.Canceled):
		class = "canceled"
	case errors.Is(err, base.ErrInvalid):
		class = "invalid"
	case errors.Is(err, base.ErrNotFound):
		class = "not found"
	case errors.Is(err, base.ErrCorrupt):
		class = "corrupt"
	case errors.Is(err, base.ErrRetryable):
		class = "retryable"
	}
	msg := number.ReplaceAllString(err.Error(), "N")
	msg = hexRun.ReplaceAllString(msg, "#")
	msg = strings.TrimSpace(spaceRun.ReplaceAllString(msg, " "))
	if r := []rune(msg); len(r) > kindPrefix {
		msg = string(r[:kindPrefix]) + "…"
	}
	return class + ": " + msg
}
