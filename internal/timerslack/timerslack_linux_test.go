package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary run as the child of a test here: "start" just
// reports, "reexec" calls Reexec first.
const helperEnv = "MICA_TIMERSLACK_TEST_HELPER"

// TestStartCommand starts this test binary with StartCommand and checks that every
// thread of the child, the Go runtime's own (sysmon) and those it creates later, has
// the slack, while this process keeps its own.
func TestStartCommand(t *testing.T) {
	before := mustThreads(t)
	out := runChild(t, "start", func(cmd *exec.Cmd) error { return StartCommand(cmd, Default) })
	checkChild(t, out, Default)
	if strings.Count(out, "helper started") != 1 {
		t.Fatalf("the child started %d times, want once:\n%s", strings.Count(out, "helper started"), out)
	}
	// The thread that started the child got its own slack back.
	for tid, s := range mustThreads(t) {
		b, ok := before[tid]
		if ok && s != b {
			t.Fatalf("thread %s of this process changed its timer slack from %s to %s", tid, b, s)
		}
		if !ok && s == Default && !hasSlack(before, Default) {
			t.Fatalf("thread %s of this process has the child's timer slack", tid)
		}
	}
}

// TestReexec starts this test binary plainly; it calls Reexec, which executes it again
// with the slack: the second run finds the slack set and goes on, so the helper starts
// twice and reports every thread with the slack.
func TestReexec(t *testing.T) {
	cur, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	if cur == Default {
		t.Skipf("this process already has timer slack %s: Reexec would not execute", Default)
	}
	out := runChild(t, "reexec", func(cmd *exec.Cmd) error { return cmd.Start() })
	checkChild(t, out, Default)
	if n := strings.Count(out, "helper started"); n != 2 {
		t.Fatalf("the child started %d times, want twice (once before executing itself again):\n%s", n, out)
	}
}

// TestReexecDisabled: with MICA_TIMER_SLACK=off the process keeps its slack and runs once.
func TestReexecDisabled(t *testing.T) {
	cur, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	out := runChild(t, "reexec", func(cmd *exec.Cmd) error {
		cmd.Env = append(cmd.Env, DisableEnv+"=off")
		return cmd.Start()
	})
	checkChild(t, out, cur)
	if n := strings.Count(out, "helper started"); n != 1 {
		t.Fatalf("the child started %d times, want once:\n%s", n, out)
	}
}

// TestHelper is the child of the tests above: it optionally calls Reexec, creates a
// thread after start-up and prints the timer slack of each of its threads.
func TestHelper(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("runs as the child of the other tests")
	}
	fmt.Println("helper started")
	if mode == "reexec" {
		if err := Reexec(Default); err != nil {
			t.Fatal(err)
		}
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
	for tid, s := range mustThreads(t) {
		fmt.Printf("slack %s %d\n", tid, s.Nanoseconds())
	}
	close(release)
	wg.Wait()
}

func runChild(t *testing.T, mode string, start func(*exec.Cmd) error) string {
	t.Helper()
	var buf strings.Builder
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, DisableEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperEnv+"="+mode)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, buf.String())
	}
	return buf.String()
}

// checkChild checks that the child reported at least three threads (main, sysmon, a
// locked one), all with the slack want.
func checkChild(t *testing.T, out string, want time.Duration) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(out, "\n") {
		v, ok := strings.CutPrefix(line, "slack ")
		if !ok {
			continue
		}
		var tid string
		var ns int64
		if _, err := fmt.Sscanf(v, "%s %d", &tid, &ns); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if time.Duration(ns) != want {
			t.Fatalf("thread %s of the child has timer slack %d ns, want %d:\n%s", tid, ns, want.Nanoseconds(), out)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("the child reported %d threads, want at least 3:\n%s", n, out)
	}
}

func mustThreads(t *testing.T) map[string]time.Duration {
	t.Helper()
	m, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hasSlack(m map[string]time.Duration, s time.Duration) bool {
	for _, v := range m {
		if v == s {
			return true
		}
	}
	return false
}
