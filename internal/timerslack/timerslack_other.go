//go:build !linux

package timerslack

import (
	"os/exec"
	"time"
)

// Current returns 0: timer slack is a Linux setting.
func Current() (time.Duration, error) { return 0, nil }

// StartCommand starts cmd; timer slack is a Linux setting.
func StartCommand(cmd *exec.Cmd, _ time.Duration) error { return cmd.Start() }

// Reexec does nothing: timer slack is a Linux setting.
func Reexec(time.Duration) error { return nil }
