package netup

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// Alive reports whether process pid runs. Where /proc is readable (Linux) it also checks
// that the process's command line contains marker, so that a pid reused by an unrelated
// process after a crash does not count.
func Alive(pid int, marker string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || marker == "" {
		return true
	}
	return bytes.Contains(b, []byte(marker))
}
