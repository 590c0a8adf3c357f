package netup

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// prctl(2) options.
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// startWithTimerSlack starts cmd with the given timer slack (prctl(2)
// PR_SET_TIMERSLACK) instead of Linux's default 50 µs. A thread's timer slack is
// inherited by the threads and processes it creates and kept across execve, so the
// child's threads, the Go runtime's sysmon among them, all have it. The slack is set on
// the thread that forks, locked to a goroutine of its own meanwhile, and set back
// before the thread runs anything else (should that fail, the goroutine ends with the
// thread locked and the runtime retires it).
func startWithTimerSlack(cmd *exec.Cmd, slack time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		prev, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
		if e != 0 {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("read timer slack: %w", e)
			return
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(slack.Nanoseconds()), 0); e != 0 {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("set timer slack: %w", e)
			return
		}
		errc <- cmd.Start()
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, prev, 0); e == 0 {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}
