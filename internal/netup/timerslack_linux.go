package netup

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl(2)'s PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// startWithTimerSlack starts cmd with the given timer slack (prctl(2)
// PR_SET_TIMERSLACK) instead of Linux's default 50 µs. A thread's timer slack is
// inherited by the threads and processes it creates and kept across execve, so the
// child's threads, the Go runtime's sysmon among them, all have it. The slack is set
// on a thread of this process locked for the purpose and retired with it, so no other
// goroutine of this process runs with it.
func startWithTimerSlack(cmd *exec.Cmd, slack time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		// The goroutine exits with its thread locked: the runtime terminates the thread
		// instead of reusing it with the changed slack.
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(slack.Nanoseconds()), 0); e != 0 {
			runtime.UnlockOSThread() // the slack is unchanged: the thread can be reused
			errc <- fmt.Errorf("set timer slack: %w", e)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
