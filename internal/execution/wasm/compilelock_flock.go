//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package wasm

import (
	"errors"
	"os"
	"syscall"
)

// lockPath takes an exclusive advisory lock (flock) on path, creating the file, and
// waits for it. The lock lasts until unlock or the process's exit, so a process that
// dies while compiling never leaves it held. unlock removes the file before releasing
// it, so lock files do not pile up: a process still waiting on the removed file then
// holds a lock no newcomer contends for, which costs at most a second compilation.
func lockPath(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() {
		_ = os.Remove(path)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
