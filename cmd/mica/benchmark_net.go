package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/bench"
	"github.com/micachain/mica/internal/netup"
)

// benchMetrics returns the validators' metrics endpoints the benchmark samples for
// their CPU time: --metrics, or those of the network description next to the wallet
// (what `mica net up` wrote); none for --metrics none.
func benchMetrics(cmd *cobra.Command, flag []string) ([]string, error) {
	if len(flag) == 1 && flag[0] == "none" {
		return nil, nil
	}
	if len(flag) > 0 {
		for _, u := range flag {
			if _, err := bench.MetricsURL(u); err != nil {
				return nil, fmt.Errorf("--metrics: %w", err)
			}
		}
		return flag, nil
	}
	nf, _, err := benchNetwork(cmd)
	if nf == nil || err != nil {
		return nil, err
	}
	var out []string
	for _, v := range nf.Validators {
		if v.Metrics != "" {
			out = append(out, v.Metrics)
		}
	}
	return out, nil
}

// benchNetwork reads the network description (networkFilePath) and returns it with
// its path; nil if there is none.
func benchNetwork(cmd *cobra.Command) (*netup.NetworkFile, string, error) {
	path := networkFilePath(cmd)
	if path == "" {
		return nil, "", nil
	}
	nf, err := netup.ReadNetworkFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("network description: %w", err)
	}
	return nf, path, nil
}

// benchValidatorPID returns the process of the validator name of the local network
// whose description is next to the wallet (`mica net up`), checking that it runs.
func benchValidatorPID(cmd *cobra.Command, name string) (int, error) {
	nf, path, err := benchNetwork(cmd)
	if err != nil {
		return 0, err
	}
	if nf == nil {
		return 0, errors.New("--kill-validator needs the network description of a `mica net up` network (network.json next to the wallet, or --network)")
	}
	var names []string
	for _, v := range nf.Validators {
		names = append(names, v.Name)
		if v.Name != name {
			continue
		}
		if v.PID <= 0 {
			return 0, fmt.Errorf("%s is not running (no pid in %s)", name, path)
		}
		if err := checkValidatorProcess(v.PID); err != nil {
			return 0, fmt.Errorf("%s (pid %d in %s): %w", name, v.PID, path, err)
		}
		return v.PID, nil
	}
	return 0, fmt.Errorf("%s lists no validator %q (it has %s)", path, name, strings.Join(names, ", "))
}

// checkValidatorProcess refuses a pid that is not a running `mica validator run`
// (a stale pid reused by another process), where /proc tells.
func checkValidatorProcess(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat("/proc/self"); serr == nil {
			return errors.New("no such process")
		}
		return nil // no /proc here: trust network.json
	}
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "validator\x00run") {
		return errors.New("that process is not a mica validator")
	}
	return nil
}

// killProcess ends a process at once (SIGKILL, kill -9), as a crash would.
func killProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
