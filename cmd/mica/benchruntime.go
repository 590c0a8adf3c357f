package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/netup"
)

// withBenchRuntime gives the benchmark client's process the collector's setting of
// benchGOGC. It runs before the client starts.
func withBenchRuntime(cmd *cobra.Command) {
	gogc := benchGOGC(os.Getenv)
	if gogc > 0 {
		debug.SetGCPercent(gogc)
	}
	logger(cmd).Debug("benchmark client runtime", "gogc", gogc)
}

// benchGOGC returns the GOGC the benchmark client runs with (0: leave the runtime's),
// given the environment (getenv): netup.ValidatorGOGC, as net up gives the validators,
// unless the user set GOGC. The client's heap is small (tens of MiB): collecting half
// as often costs little memory, and at 16 chains × 1 transfer the collector was 5–9 %
// of its CPU (docs/PERFORMANCE.md, clientcpu 2026-12-06).
//
// GOMAXPROCS is left alone: one scheduler (the validators' share on 2 cores) took less
// CPU per block but cut throughput at 100 transfers per block in 6 of 6 pairs.
func benchGOGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	return netup.ValidatorGOGC
}
