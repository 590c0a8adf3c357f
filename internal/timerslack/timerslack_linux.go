package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prctl(2) options.
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// Current returns the timer slack of the calling thread (which every thread of a
// process started with a slack shares, unless one changed its own).
func Current() (time.Duration, error) {
	v, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("read timer slack: %w", e)
	}
	return time.Duration(v), nil
}

// StartCommand starts cmd with the given timer slack instead of this process's. A
// thread's timer slack is inherited by the threads and processes it creates and kept
// across execve, so the child's threads, the Go runtime's sysmon among them, all have
// it. The slack is set on the thread that forks, locked to a goroutine of its own
// meanwhile, and set back before the thread runs anything else (should that fail, the
// goroutine ends with the thread locked and the runtime retires it).
func StartCommand(cmd *exec.Cmd, slack time.Duration) error {
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

// Reexec makes this process run with the given timer slack: when its thread's slack
// differs and DisableEnv is not "off", it executes its own binary again (same process
// id, arguments and environment) from a thread with that slack, and does not return. It
// returns nil without doing anything when the slack is already set (so the executed
// process does not loop) or disabled, and an error when it could not execute, in which
// case the process goes on with its slack unchanged. Call it first thing in a
// long-running command, before the process has opened files or sockets it would leak
// or started work it would repeat.
func Reexec(slack time.Duration) error {
	if os.Getenv(DisableEnv) == "off" {
		return nil
	}
	cur, err := Current()
	if err != nil || cur == slack {
		return err
	}
	// /proc/self/exe, not os.Executable: it is the running binary even if the file was
	// replaced or removed since.
	const exe = "/proc/self/exe"
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(slack.Nanoseconds()), 0); e != 0 {
		return fmt.Errorf("set timer slack: %w", e)
	}
	err = syscall.Exec(exe, os.Args, os.Environ())
	// Still here: give the thread its slack back.
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(cur.Nanoseconds()), 0)
	return fmt.Errorf("execute %s with timer slack %s: %w", exe, slack, err)
}

// Threads returns the timer slack of each thread of this process, by thread id.
func Threads() (map[string]time.Duration, error) {
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration, len(tids))
	for _, e := range tids {
		b, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns") // not under task/: Linux has it per pid
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended meanwhile
			}
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("timer slack of thread %s: %w", e.Name(), err)
		}
		out[e.Name()] = time.Duration(n)
	}
	return out, nil
}
