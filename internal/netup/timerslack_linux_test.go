package netup

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/timerslack"
)

// timerSlackHelperEnv makes the test binary run as the child of TestValidatorTimerSlack.
const timerSlackHelperEnv = "MICA_NETUP_TIMERSLACK_HELPER"

// TestValidatorTimerSlack starts this test binary as net up starts a validator (start)
// and checks that every thread of the child, the Go runtime's own (sysmon) and those it
// creates later, has ValidatorTimerSlack, while this process keeps its own.
func TestValidatorTimerSlack(t *testing.T) {
	cur, err := timerslack.Current()
	if err != nil {
		t.Fatal(err)
	}
	before := cur.Nanoseconds()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "child.log")
	env := append(os.Environ(), timerSlackHelperEnv+"=1")
	p, err := start(os.Args[0], &ValidatorInfo{Name: "child"}, []string{"-test.run=^TestTimerSlackHelper$", "-test.v"}, logPath, env)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if p.err != nil {
		t.Fatalf("child: %v\n%s", p.err, out)
	}
	var slacks []int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "slack "); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[1], 10, 64)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			slacks = append(slacks, n)
		}
	}
	if len(slacks) < 3 {
		t.Fatalf("child reported %d threads, want at least 3 (main, sysmon, a locked one):\n%s", len(slacks), out)
	}
	for _, s := range slacks {
		if s != ValidatorTimerSlack.Nanoseconds() {
			t.Fatalf("a thread of the child has timer slack %d ns, want %d:\n%s", s, ValidatorTimerSlack.Nanoseconds(), out)
		}
	}
	if after, _ := timerslack.Current(); after.Nanoseconds() != before {
		t.Fatalf("this process's main thread's timer slack changed from %d to %d", before, after)
	}
	// The thread that started the child got its own slack back: no thread here has
	// the child's unless this process had it already.
	if before != ValidatorTimerSlack.Nanoseconds() {
		for tid, s := range threadSlacks(t) {
			if s == ValidatorTimerSlack.Nanoseconds() {
				t.Fatalf("thread %s of this process kept the child's timer slack", tid)
			}
		}
	}
}

// TestTimerSlackHelper is the child of TestValidatorTimerSlack: it creates a thread
// after start-up and prints the timer slack of each of its threads.
func TestTimerSlackHelper(t *testing.T) {
	if os.Getenv(timerSlackHelperEnv) != "1" {
		t.Skip("runs as the child of TestValidatorTimerSlack")
	}
	var wg sync.WaitGroup
	ready, release := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		runtime.LockOSThread() // a thread of its own, created now
		defer runtime.UnlockOSThread()
		close(ready)
		<-release
	})
	<-ready
	for tid, s := range threadSlacks(t) {
		fmt.Printf("slack %s %d\n", tid, s)
	}
	close(release)
	wg.Wait()
}

// threadSlacks returns the timer slack of each thread of this process by thread id.
func threadSlacks(t *testing.T) map[string]int64 {
	t.Helper()
	m, err := timerslack.Threads()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64, len(m))
	for tid, s := range m {
		out[tid] = s.Nanoseconds()
	}
	return out
}
