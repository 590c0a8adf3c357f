package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A shell session of a test (TestReadmeInOrder's): a bash script, run so that nothing it
// starts — its commands, its background jobs, the networks and services they start —
// outlives the test, whatever ends it:
//   - the test itself (it fails, or passes): t.Cleanup stops the session's process group;
//   - the session's deadline, a margin before the test binary's (go test -timeout), so
//     that the test fails and cleans up instead of being killed while it runs;
//   - the test binary's death without cleanup (its -timeout panic, a SIGKILL): on Linux
//     the kernel sends the session's first process SIGTERM (startTied), and that
//     process, a bash wrapper that does nothing but wait for the script, kills its whole
//     process group. (A trap in the script itself would not do: bash runs it only once
//     the foreground command ends, which may be minutes.) A `mica net up` killed so
//     takes its validators with it (TestNetUpKilledTakesItsValidators).

// sessionWrapper is the session's first process, bash -c sessionWrapper SCRIPT: it runs
// SCRIPT in the background and waits for it; SIGTERM or SIGHUP interrupt the wait and
// kill the process group.
const sessionWrapper = `trap 'kill -KILL 0' TERM HUP
bash "$0" &
wait $!`

// sessionHelperEnv, set to a directory, makes the test binary run
// TestShellSessionHelper's session there (and skip building mica).
const sessionHelperEnv = "MICA_TEST_SESSION_HELPER"

// shellSession is a running session; its stderr is the script's.
type shellSession struct {
	cmd    *exec.Cmd
	ctx    context.Context
	cancel context.CancelFunc
	stderr bytes.Buffer
	done   chan struct{} // closed when the session's first process has exited
	err    error         // Wait's, once done is closed
}

// sessionTimeout is how long a session of t may run: 30 minutes, or, when the test
// binary has a deadline, until a margin (a quarter of the time left, at most a minute)
// before it, for the test to fail and stop the session itself.
func sessionTimeout(t *testing.T) time.Duration {
	dl, ok := t.Deadline()
	if !ok {
		return 30 * time.Minute
	}
	left := time.Until(dl)
	return left - min(time.Minute, left/4)
}

// startShellSession starts bash on the script file with environment env (nil: this
// process's) in a process group of its own, and stops that group when t ends.
func startShellSession(t *testing.T, script string, env []string) *shellSession {
	t.Helper()
	s := &shellSession{done: make(chan struct{})}
	s.ctx, s.cancel = context.WithTimeout(context.Background(), sessionTimeout(t))
	s.cmd = exec.CommandContext(s.ctx, "bash", "-c", sessionWrapper, script)
	s.cmd.Env = env
	s.cmd.Stderr = &s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Cancel = func() error { return s.kill(syscall.SIGKILL) }
	// A process that left the group holding stderr does not keep Wait for ever.
	s.cmd.WaitDelay = 10 * time.Second
	err := startTied(s.cmd, func() {
		s.err = s.cmd.Wait()
		close(s.done)
	})
	if err != nil {
		s.cancel()
		t.Fatalf("start the shell session: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

// kill sends sig to every process of the session's group.
func (s *shellSession) kill(sig syscall.Signal) error {
	return syscall.Kill(-s.cmd.Process.Pid, sig)
}

// wait waits for the script to end and returns its error, which says so when the
// session ran out of time.
func (s *shellSession) wait() error {
	<-s.done
	if s.err != nil && s.ctx.Err() != nil {
		return fmt.Errorf("%w (the session was stopped before the test's deadline: %v)", s.err, s.ctx.Err())
	}
	return s.err
}

// stop ends every process of the session: SIGINT, a few seconds for the first process
// to exit, then SIGKILL to the whole group (background jobs included).
func (s *shellSession) stop() {
	_ = s.kill(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	_ = s.kill(syscall.SIGKILL)
	s.cancel()
	<-s.done
}

// startTied starts cmd so that, on Linux, the kernel sends it SIGTERM when the test
// binary dies without stopping it (go test -timeout, a SIGKILL), then calls wait, which
// must wait for cmd, in the background. The kernel sends that signal when the thread that
// forked the process ends, not only the process: the thread stays locked to the goroutine
// that runs wait, and so alive, until cmd has exited.
func startTied(cmd *exec.Cmd, wait func()) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	dieWithParent(cmd.SysProcAttr)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		wait()
	}()
	return <-started
}
