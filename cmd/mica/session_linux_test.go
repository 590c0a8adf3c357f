package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dieWithParent has the kernel send the process SIGTERM when this one dies.
func dieWithParent(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGTERM
}

// TestShellSessionHelper is the test binary's half of TestShellSessionEndsWithTest: it
// runs a session whose script starts a background sleeper, writes its own PID and the
// sleeper's to DIR/pids and sleeps in the foreground, until something ends the test.
func TestShellSessionHelper(t *testing.T) {
	dir := os.Getenv(sessionHelperEnv)
	if dir == "" {
		t.Skip("run by TestShellSessionEndsWithTest")
	}
	script := filepath.Join(dir, "session.sh")
	body := "sleep 600 &\necho \"$$ $!\" >" + dir + "/pids.tmp && mv " + dir + "/pids.tmp " + dir + "/pids\nsleep 600\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Fatal(startShellSession(t, script, nil).wait())
}

// TestShellSessionEndsWithTest: whatever ends a test that runs a shell session — its
// binary killed without cleanup, or go test -timeout — no process of the session
// survives it, neither the script nor what it runs in the background.
func TestShellSessionEndsWithTest(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string // of the helper test binary
		kill bool     // SIGKILL it once its session runs
	}{
		{name: "binary killed", kill: true},
		{name: "go test timeout", args: []string{"-test.timeout=20s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestShellSessionHelper$", "-test.count=1"}, tc.args...)...)
			cmd.Env = append(os.Environ(), sessionHelperEnv+"="+dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() {
				_ = cmd.Wait() // it fails either way
				close(exited)
			}()
			pgid := sessionGroup(t, filepath.Join(dir, "pids"), exited, &out)
			if tc.kill {
				_ = cmd.Process.Kill()
			}
			select {
			case <-exited:
			case <-time.After(settleWait):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("the helper test did not end within %v:\n%s", settleWait, &out)
			}
			t.Logf("the helper test ended:\n%s", &out)
			// The kernel's signal and the kills take milliseconds; the bound is for a
			// loaded machine. The loop ends as soon as the group is empty.
			deadline := time.Now().Add(time.Minute)
			for {
				left := groupMembers(t, pgid)
				if len(left) == 0 {
					return
				}
				if time.Now().After(deadline) {
					_ = syscall.Kill(-pgid, syscall.SIGKILL)
					t.Fatalf("processes of the session still running after its test ended: %s", strings.Join(left, "; "))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// sessionGroup waits until the helper's script has written its PIDs to path and
// returns its process group; it fails the test if the helper exits first.
func sessionGroup(t *testing.T, path string, exited <-chan struct{}, out *bytes.Buffer) int {
	t.Helper()
	deadline := time.After(settleWait)
	for {
		if b, err := os.ReadFile(path); err == nil {
			var script, sleeper int
			if _, err := fmt.Sscan(string(b), &script, &sleeper); err != nil {
				t.Fatalf("read %s: %v", path, err)
			}
			pgid, err := syscall.Getpgid(script)
			if err != nil {
				t.Fatalf("process group of the script (pid %d): %v", script, err)
			}
			return pgid
		}
		select {
		case <-exited:
			t.Fatalf("the helper test ended before its session ran:\n%s", out)
		case <-deadline:
			t.Fatalf("the helper's session did not start within %v", settleWait)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// groupMembers lists the live processes of group pgid ("pid command"), from /proc. A
// zombie is not live (nothing may reap an orphan in a container).
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if i < 0 || len(f) < 3 || f[0] == "Z" || f[0] == "X" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		live = append(live, strings.TrimSpace(s[:i+1]))
	}
	return live
}
