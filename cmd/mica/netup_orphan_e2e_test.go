package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestNetUpKilledTakesItsValidators: `mica net up` killed with SIGKILL (it cannot stop
// its validators itself) leaves no validator running: the kernel sends each one
// SIGTERM when the net up that started it dies, so none keeps holding its ports and
// its store's lock.
func TestNetUpKilledTakesItsValidators(t *testing.T) {
	net := netUp(t, t.TempDir(), "--initial-chains", "1")
	if err := net.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-net.exited
	// A validator stops within a few seconds of SIGTERM; settleWait bounds a loaded
	// machine. Nothing is asserted on time: the loop ends as soon as all are gone.
	deadline := time.Now().Add(settleWait)
	var survivors []string
	for _, v := range net.info.Validators {
		for v.PID > 0 && syscall.Kill(v.PID, 0) == nil {
			if time.Now().After(deadline) {
				_ = syscall.Kill(v.PID, syscall.SIGKILL)
				survivors = append(survivors, fmt.Sprintf("%s (pid %d)", v.Name, v.PID))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(survivors) > 0 {
		t.Fatalf("validators still running %v after net up was killed: %v", settleWait, survivors)
	}
}
