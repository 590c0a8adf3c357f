package main

import (
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/netup"
)

// withBenchRuntime gives the benchmark client's process the Go runtime settings of
// benchRuntime (metrics: the validators' metrics endpoints the run samples). It runs
// before the client starts.
func withBenchRuntime(cmd *cobra.Command, metrics []string) {
	procs, gogc := benchRuntime(metrics, runtime.NumCPU(), os.Getenv)
	if procs > 0 {
		runtime.GOMAXPROCS(procs)
	}
	if gogc > 0 {
		debug.SetGCPercent(gogc)
	}
	logger(cmd).Debug("benchmark client runtime", "gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gogc)
}

// benchRuntime returns the GOMAXPROCS and GOGC the benchmark client runs with (0:
// leave the runtime's), given the validators' metrics endpoints it samples, the
// machine's cpus and the environment (getenv; a variable the user set wins):
//
//   - GOMAXPROCS: when validators it samples run on this machine (loopback endpoints:
//     a `mica net up` network), the client shares the cpus with them and takes the
//     share net up gives each validator (netup.RuntimeEnv), counting itself:
//     max(1, cpus/(local validators+1)). With a scheduler per core or more, its idle
//     schedulers spun and polled the network between blocks: at 16 chains × 1 transfer
//     on 2 cores beside four validators, GOMAXPROCS=1 took 13 % less of the client's
//     CPU per block (docs/PERFORMANCE.md, clientcpu 2026-12-06).
//   - GOGC: netup.ValidatorGOGC, as for the validators; the client's heap is small.
//
// Without local validators GOMAXPROCS stays the runtime's (a client driving a remote
// network has the machine to itself).
func benchRuntime(metrics []string, cpus int, getenv func(string) string) (procs, gogc int) {
	if getenv("GOGC") == "" {
		gogc = netup.ValidatorGOGC
	}
	if getenv("GOMAXPROCS") != "" {
		return 0, gogc
	}
	local := 0
	for _, m := range metrics {
		if loopbackURL(m) {
			local++
		}
	}
	if local == 0 {
		return 0, gogc
	}
	return max(1, cpus/(local+1)), gogc
}

// loopbackURL reports whether u's host is this machine's loopback address.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := p.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
