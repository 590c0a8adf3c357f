// Package gopool runs short tasks on long-lived goroutines whose stacks stay grown.
//
// A goroutine starts with a small stack and grows it by copying it into one twice as
// large each time its calls go deeper than the stack allows (runtime.newstack,
// copystack). A goroutine started per request that runs a deep path — a validator's
// handlers down to Pebble and ed25519, a client's gRPC call — pays those copies on every
// request: in issue #11's profiles of the 16-chain benchmark they were 6.6 % of a
// validator's CPU and 4.3 % of the client's. A Pool keeps the goroutines that ran its
// tasks for a while, so that the next task starts on a stack already grown. (The garbage
// collector still halves the stack of a goroutine that uses less than a quarter of it,
// as an idle worker does: a worker idle over several collections grows its stack again,
// once per halving, not from the start.)
//
// Go never waits: it hands the task to the worker that became idle last, or starts a new
// goroutine if none is idle. At most maxIdle workers wait for tasks; one that waited
// idleFor without a task exits. A Pool has no Close: its idle workers exit on their own.
package gopool

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs tasks on idle workers or new goroutines. Safe for concurrent use.
type Pool struct {
	maxIdle int
	idleFor time.Duration

	mu sync.Mutex
	// idle are the workers waiting for a task, the last to become idle at the end.
	// Invariant: len(idle) <= maxIdle; a worker is in idle at most once.
	idle []*worker

	// started counts the goroutines started (tests).
	started atomic.Int64
}

// worker is an idle worker's mailbox: Go hands it one task after taking it out of
// Pool.idle.
type worker struct{ task chan func() }

// New returns a pool that keeps at most maxIdle idle workers (at least 1), each for
// idleFor (at least 1 ms).
func New(maxIdle int, idleFor time.Duration) *Pool {
	return &Pool{maxIdle: max(maxIdle, 1), idleFor: max(idleFor, time.Millisecond)}
}

// Go runs f on an idle worker, or on a new goroutine if none is idle; it never waits
// for a worker. A panic in f is not recovered: like one in a goroutine of its own, it
// ends the program, so a task that must not do that recovers itself.
func (p *Pool) Go(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.task <- f // room for one: never blocks
		return
	}
	p.mu.Unlock()
	p.started.Add(1)
	go p.work(f)
}

// work runs f, then the tasks handed to it while it is idle, until it is not let wait
// (maxIdle) or waited idleFor.
func (p *Pool) work(f func()) {
	w := &worker{task: make(chan func(), 1)}
	var timer *time.Timer
	for {
		f()
		f = nil
		if !p.park(w) {
			return
		}
		if timer == nil {
			timer = time.NewTimer(p.idleFor)
		} else {
			timer.Reset(p.idleFor)
		}
		if f = wait(w, timer); f != nil {
			continue
		}
		if p.unpark(w) {
			return
		}
		// Go took w out of idle before it could leave: its task is on the way.
		f = <-w.task
	}
}

// idleFrame is the stack an idle worker keeps in use while it waits (wait). The
// garbage collector halves the stack of a goroutine that uses less than a quarter of
// it: a worker waiting on a shallow stack would lose half its stack at every
// collection while idle, and copy it back, one doubling at a time, in its next task's
// deepest calls. Waiting idleFrame deep keeps a stack of up to 4 × idleFrame whole.
const idleFrame = 8 << 10

// wait waits for w's next task, which it returns, or for timer (nil), idleFrame deep
// in the stack.
//
//go:noinline
func wait(w *worker, timer *time.Timer) func() {
	var frame [idleFrame]byte
	hold(&frame)
	select {
	case f := <-w.task:
		return f
	case <-timer.C:
		return nil
	}
}

// hold keeps frame on the stack of its caller (it does not escape).
//
//go:noinline
func hold(frame *[idleFrame]byte) { frame[0] = 0 }

// park makes w idle; it reports false if maxIdle workers are idle already.
func (p *Pool) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= p.maxIdle {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

// unpark takes w out of idle; it reports false if Go took it out first.
func (p *Pool) unpark(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.idle {
		if x == w {
			p.idle = slices.Delete(p.idle, i, i+1)
			return true
		}
	}
	return false
}

// Idle returns the number of idle workers.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
