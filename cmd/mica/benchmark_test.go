package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/netup"
)

// TestBenchNetworkTargets: the benchmark finds the validators' metrics endpoints and
// the process of the validator to kill in the network description, and refuses to
// kill a process that is not a running validator.
func TestBenchNetworkTargets(t *testing.T) {
	// A stand-in validator process: its command line holds "validator run".
	victim := exec.Command("sh", "-c", "sleep 60", "validator", "run")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Process.Kill(); _ = victim.Wait() })
	// Start returns once the child began its exec, which may be before the kernel
	// shows its new command line (/proc/PID/cmdline reads empty for a moment: about one
	// start in six on this machine); the check below reads it, so wait for it.
	cmdline := fmt.Sprintf("/proc/%d/cmdline", victim.Process.Pid)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(cmdline)
		if err != nil || len(b) > 0 || time.Now().After(deadline) {
			break
		}
	}
	nf := netup.NetworkFile{Validators: []netup.ValidatorInfo{
		{Name: "validator-0", Metrics: "http://127.0.0.1:23000", PID: os.Getpid()},
		{Name: "validator-1"},
		{Name: "validator-2", Metrics: "http://127.0.0.1:23002", PID: victim.Process.Pid},
	}}
	path := filepath.Join(t.TempDir(), "network.json")
	b, err := json.Marshal(nf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	cmd.Flags().String("network", path, "")
	cmd.Flags().String("wallet", t.TempDir(), "")

	if got, err := benchMetrics(cmd, nil); err != nil || !slices.Equal(got, []string{"http://127.0.0.1:23000", "http://127.0.0.1:23002"}) {
		t.Errorf("default metrics %v, %v", got, err)
	}
	if got, err := benchMetrics(cmd, []string{"none"}); err != nil || got != nil {
		t.Errorf("--metrics none: %v, %v", got, err)
	}
	if got, err := benchMetrics(cmd, []string{"http://h:1"}); err != nil || !slices.Equal(got, []string{"http://h:1"}) {
		t.Errorf("--metrics http://h:1: %v, %v", got, err)
	}
	if _, err := benchMetrics(cmd, []string{"h:1"}); err == nil {
		t.Error("--metrics h:1 accepted")
	}

	for name, want := range map[string]string{
		"validator-0": "not a mica validator", // this test's own process
		"validator-1": "not running",
		"validator-9": "validator-0, validator-1, validator-2",
	} {
		if _, err := benchValidatorPID(cmd, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	pid, err := benchValidatorPID(cmd, "validator-2")
	if err != nil || pid != victim.Process.Pid {
		t.Fatalf("validator-2: pid %d, %v", pid, err)
	}
	if err := killProcess(pid); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := victim.Wait(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the validator ended with %v, want SIGKILL", err)
	}
	if _, err := benchValidatorPID(cmd, "validator-2"); err == nil {
		t.Error("a dead validator's pid was accepted")
	}
}

// TestBenchmarkRefusesBadRate: --rate takes a finite load ≥ 0 that gives every chain a
// block within --duration, and says what is wrong before connecting to any network.
func TestBenchmarkRefusesBadRate(t *testing.T) {
	dir := t.TempDir()
	for rate, want := range map[string]string{
		"-1":    "negative",
		"NaN":   "not a number",
		"Inf":   "more than",
		"1.5":   "fewer than one block per chain (16 chains)",
		"nope":  "invalid argument",
		"1e300": "more than",
	} {
		_, stderr, code := run(t, dir, nil, "benchmark", "--chains", "16", "--duration", "10s", "--rate="+rate)
		if code == 0 || !strings.Contains(stderr, "--rate") || !strings.Contains(stderr, want) {
			t.Errorf("--rate %s: exit %d, stderr %q, want %q", rate, code, stderr, want)
		}
	}
}
