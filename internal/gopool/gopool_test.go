package gopool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPoolReusesIdleWorker: a task given while a worker is idle runs on that worker:
// no goroutine is started for it.
func TestPoolReusesIdleWorker(t *testing.T) {
	p := New(4, time.Minute)
	for i := range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		waitFor(t, "the worker to be idle", func() bool { return p.Idle() == 1 })
		if got := p.started.Load(); got != 1 {
			t.Fatalf("task %d: %d goroutines started, want 1", i, got)
		}
	}
}

// TestPoolNeverBlocks: while every worker is busy, Go starts a new goroutine at once:
// n tasks that each wait for all n to be running all run.
func TestPoolNeverBlocks(t *testing.T) {
	const n = 50
	p := New(2, time.Minute)
	var running sync.WaitGroup
	running.Add(n)
	var finished sync.WaitGroup
	finished.Add(n)
	for range n {
		p.Go(func() {
			defer finished.Done()
			running.Done()
			running.Wait()
		})
	}
	finished.Wait()
	if got := p.started.Load(); got != n {
		t.Errorf("%d goroutines started for %d tasks that run at once", got, n)
	}
}

// TestPoolIdleBound: at most maxIdle workers stay after a burst; the others exit.
func TestPoolIdleBound(t *testing.T) {
	const n, maxIdle = 20, 3
	before := runtime.NumGoroutine()
	p := New(maxIdle, time.Minute)
	var running sync.WaitGroup
	running.Add(n)
	release := make(chan struct{})
	for range n {
		p.Go(func() {
			running.Done()
			<-release
		})
	}
	running.Wait()
	close(release)
	waitFor(t, "the surplus workers to exit", func() bool { return runtime.NumGoroutine() <= before+maxIdle })
	if got := p.Idle(); got != maxIdle {
		t.Errorf("%d idle workers, want %d", got, maxIdle)
	}
}

// TestPoolIdleWorkersExit: idle workers exit after idleFor.
func TestPoolIdleWorkersExit(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(8, 20*time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(8)
	for range 8 {
		p.Go(wg.Done)
	}
	wg.Wait()
	waitFor(t, "the idle workers to exit", func() bool { return p.Idle() == 0 && runtime.NumGoroutine() <= before })
}

// TestPoolConcurrentExpiry: tasks given while idle workers expire (an idle time of
// 1 ms, many goroutines calling Go) all run exactly once.
func TestPoolConcurrentExpiry(t *testing.T) {
	p := New(4, time.Millisecond)
	var ran atomic.Int64
	var wg sync.WaitGroup
	const callers, each = 8, 300
	for range callers {
		wg.Go(func() {
			for i := range each {
				done := make(chan struct{})
				p.Go(func() {
					ran.Add(1)
					close(done)
				})
				<-done
				if i%50 == 0 {
					time.Sleep(2 * time.Millisecond) // let idle workers expire
				}
			}
		})
	}
	wg.Wait()
	if got := ran.Load(); got != callers*each {
		t.Fatalf("%d tasks ran, want %d", got, callers*each)
	}
}

//go:noinline
func deep(n int) byte {
	var frame [512]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return frame[0]
	}
	return deep(n-1) + frame[n%len(frame)]
}

var sink atomic.Int64

// BenchmarkDeepTask: a task that uses about 32 KiB of stack (64 frames of 512 bytes,
// about as deep as a batch item's path through a validator), run per op on a new
// goroutine ("go": its stack grows from the runtime's starting size, copied at each
// doubling) or on a pool's worker ("pool": the stack it grew for the previous ops),
// the caller waiting for it each time.
func BenchmarkDeepTask(b *testing.B) {
	task := func(done chan<- struct{}) func() {
		return func() {
			sink.Add(int64(deep(64)))
			done <- struct{}{}
		}
	}
	b.Run("go", func(b *testing.B) {
		done := make(chan struct{})
		b.ReportAllocs()
		for b.Loop() {
			go task(done)()
			<-done
		}
	})
	b.Run("pool", func(b *testing.B) {
		done := make(chan struct{})
		p := New(4, time.Minute)
		b.ReportAllocs()
		for b.Loop() {
			p.Go(task(done))
			<-done
		}
	})
}
