package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/micachain/mica/internal/bench"
)

// benchJSON is `mica benchmark --json`: the result and the funding, nothing else.
type benchJSON struct {
	bench.Result
	Funding benchFunding `json:"funding"`
}

// runBenchmark runs `mica benchmark --json` with args and decodes its result, which
// must be the only thing on stdout and have no field the test does not know.
func runBenchmark(t *testing.T, w string, args ...string) (*benchJSON, string) {
	t.Helper()
	stdout, stderr, err := mica(t, w, append([]string{"benchmark", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("benchmark %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	var rep benchJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("benchmark stdout is not only its JSON result (%v):\n%s", err, stdout)
	}
	if rep.ErrorKinds == nil || rep.OperationsByKind == nil {
		t.Fatalf("benchmark JSON without error_kinds or operations_by_kind:\n%s", stdout)
	}
	f := rep.Funding
	if f.Returned.Compare(f.Lent) < 0 || !f.Remaining.IsZero() || f.BalanceAfter != f.BalanceBefore {
		t.Errorf("%s: funds not returned: %+v", args, f)
	}
	return &rep, stderr
}

// TestBenchmarkScenarios runs every scenario briefly against a `mica net up` network
// from its wallet, as a user would: each must commit blocks with zero errors and
// report CPU per block of the client and the 4 validators (their metrics endpoints
// come from network.json next to the wallet). The counter and fungible examples are
// built and published by the first run that needs them and reused afterwards. Last,
// --kill-validator kills one of the four validators mid-run: both phases are
// reported and the killed validator's CPU is reported as not measured. Figures are
// logged, never asserted.
func TestBenchmarkScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two Wasm applications and runs a network")
	}
	dir := t.TempDir()
	examples := filepath.Join(dir, "examples")
	if err := os.CopyFS(examples, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
		t.Fatal(err)
	}
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	for _, sc := range []string{"transfers", "cross-chain", "counter", "fungible", "mix", "counter"} {
		args := []string{"--scenario", sc, "--chains", "2", "--duration", "1500ms", "--examples", examples}
		if sc == "mix" {
			args = append(args, "--transactions-per-block", "3") // one operation of each kind per block
		}
		rep, stderr := runBenchmark(t, w, args...)
		res := rep.Result
		t.Logf("%s: %d blocks, %.0f ops/s, p50 %.2f ms, p99 %.2f ms, receipts %+v, CPU %+v", sc, res.Blocks, res.TxPerSecond, res.LatencyP50Ms, res.LatencyP99Ms, res.Receipts, res.CPU)
		if res.Errors != 0 {
			t.Errorf("%s: %d errors: %+v", sc, res.Errors, res.ErrorKinds)
		}
		if string(res.Scenario) != sc || res.Chains != 2 || res.Blocks == 0 || res.Transactions == 0 || res.LatencyP50Ms <= 0 {
			t.Fatalf("%s: result %+v", sc, res)
		}
		c := res.CPU
		if c == nil || c.ValidatorsMeasured != 4 || len(c.Validators) != 4 || c.ValidatorsSeconds <= 0 || c.ClientSeconds <= 0 || c.TotalMsPerBlock <= c.ValidatorsMsPerBlock {
			t.Errorf("%s: CPU %+v", sc, c)
		}
		switch sc {
		case "cross-chain":
			if res.Receipts == nil || res.Transactions != res.Receipts.Count {
				t.Errorf("cross-chain: %d received, receipts %+v", res.Transactions, res.Receipts)
			}
		case "counter", "fungible":
			if res.OperationsByKind[sc] != res.Transactions {
				t.Errorf("%s: operations %v of %d", sc, res.OperationsByKind, res.Transactions)
			}
			if res.SlowRoundBlocks != 0 {
				t.Errorf("%s: %d blocks left the fast round", sc, res.SlowRoundBlocks)
			}
		case "mix":
			if len(res.OperationsByKind) != 3 {
				t.Errorf("mix: operations %v", res.OperationsByKind)
			}
		}
		if built := strings.Contains(stderr, "building the counter example"); built != (sc == "counter" && strings.Contains(stderr, "publishing")) {
			t.Errorf("%s: building without publishing, or the reverse:\n%s", sc, stderr)
		}
		if sc == "counter" && strings.Contains(stderr, "creating the fungible") || sc == "mix" && strings.Contains(stderr, "publishing") {
			t.Errorf("%s: published again an application a previous run created:\n%s", sc, stderr)
		}
	}
	// --rate: an open-loop run reports its schedule (40 blocks/s for 1.5 s), each
	// block's finality from its due time is at least its service time, and the
	// progress line says how far behind schedule the run is.
	rep, stderr := runBenchmark(t, w, "--chains", "2", "--duration", "1500ms", "--rate", "40")
	if s := rep.Schedule; s == nil || s.OfferedTxPerSecond != 40 || s.BlocksDue != 60 || rep.Blocks == 0 || rep.Blocks > s.BlocksDue ||
		s.NotCommitted != s.BlocksDue-rep.Blocks || s.FromDueP50Ms < rep.LatencyP50Ms || s.FromDueP99Ms < rep.LatencyP99Ms {
		t.Errorf("--rate 40: %d blocks, service p50 %v p99 %v, schedule %+v", rep.Blocks, rep.LatencyP50Ms, rep.LatencyP99Ms, rep.Schedule)
	}
	if !strings.Contains(stderr, "offered 40/s") || !strings.Contains(stderr, "ms behind") {
		t.Errorf("--rate 40: no schedule in the progress line:\n%s", stderr)
	}
	apps, err := os.ReadFile(filepath.Join(filepath.Dir(w), "wallet", benchWalletDir, benchAppsFile))
	if err != nil || !strings.Contains(string(apps), `"holder_chain"`) {
		t.Errorf("apps.json: %v\n%s", err, apps)
	}

	victim := net.info.Validators[3]
	rep, _ = runBenchmark(t, w, "--chains", "2", "--duration", "3s", "--kill-validator", victim.Name, "--kill-after", "1500ms")
	res := rep.Result
	t.Logf("kill: %+v", res.Phases)
	if len(res.Phases) != 2 || res.Phases[0].Name != "all validators up" || res.Phases[1].Name != victim.Name+" killed" || res.Phases[1].Blocks == 0 {
		t.Fatalf("phases %+v", res.Phases)
	}
	if err := syscall.Kill(victim.PID, 0); err == nil {
		t.Errorf("%s (pid %d) still runs", victim.Name, victim.PID)
	}
	if c := res.CPU; c == nil || c.ValidatorsMeasured != 3 || c.Validators[3].Error == "" {
		t.Errorf("CPU after a kill: %+v", c)
	}
	if _, stderr, err := mica(t, w, "benchmark", "--kill-validator", "validator-9"); err == nil || !strings.Contains(stderr, "validator-9") {
		t.Errorf("unknown validator: %v %s", err, stderr)
	}
}
