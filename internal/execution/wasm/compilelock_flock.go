//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package wasm

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPollMax is the longest pause between two attempts to take a lock (lockPath).
const lockPollMax = 50 * time.Millisecond

// lockPath takes an exclusive advisory lock (flock) on path, creating the file, and
// waits for it at most wait (polling, with pauses growing to lockPollMax): if another
// holder keeps it longer, it returns an error wrapping errLockWait. The lock lasts until
// unlock or the process's exit, so a process that dies while compiling never leaves it
// held. unlock removes the file before releasing it, so lock files do not pile up: a
// process still waiting on the removed file then takes a lock no newcomer contends
// for, which costs at most a second compilation.
func lockPath(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Join(err, f.Close())
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, errors.Join(fmt.Errorf("%w: %v for %s", errLockWait, wait, path), f.Close())
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, lockPollMax)
	}
	return func() {
		_ = os.Remove(path)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
