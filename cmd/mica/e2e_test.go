package main

// End-to-end tests: they build the real binary and run it as separate processes, as a
// user would: a network of validator processes on loopback, wallets, the faucet.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/bench"
	"github.com/micachain/mica/internal/netup"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

var binary string

func TestMain(m *testing.M) {
	if os.Getenv(sessionHelperEnv) != "" {
		os.Exit(m.Run()) // TestShellSessionHelper needs no binary
	}
	dir, err := os.MkdirTemp("", "mica-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mica")
	// The tests' compiled modules go to a cache of theirs, not to the user's.
	sharedWasmCache = filepath.Join(dir, "wasm-cache")
	if err := os.Setenv("MICA_WASM_CACHE", sharedWasmCache); err != nil {
		panic(err)
	}
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mica: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sharedWasmCache is $MICA_WASM_CACHE of the tests' processes: the compiled-module
// cache of their wallets and of every network they start (net up's default) unless a
// test passes its own --wasm-cache. A module the tests publish is compiled once for
// the whole package instead of once per network and once more per wallet (the counter
// takes about a minute at CI's load; `project build` makes the same bytes of every
// copy of an example). TestApplicationCommands keeps caches of its own: it publishes
// on a cold network.
var sharedWasmCache string

// network is a `mica net up` process.
type network struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	info netup.NetworkFile
	// ports is the range netUp picked for a new network (zero when the caller gave
	// --port-base, or resumed a network).
	ports ports
	// stdout collects net up's stdout lines; read it with lines.
	stdoutMu  sync.Mutex
	stdout    []string
	stdoutEOF chan struct{}
	// exited is closed when net up has exited (waitErr then holds Wait's error).
	exited  chan struct{}
	waitErr error
}

// lines returns net up's stdout so far; after stop, all of it.
func (n *network) lines() []string {
	n.stdoutMu.Lock()
	defer n.stdoutMu.Unlock()
	return append([]string(nil), n.stdout...)
}

// pickPorts is freePorts; TestNetUpRetriesTakenPorts makes it return a range it takes.
var pickPorts = freePorts

// netUpAttempts bounds how many port ranges netUp tries.
const netUpAttempts = 4

// settleWait bounds how long a test waits for what happens in the background — a
// validator catching up, a notification arriving, a process stopping — before calling it
// a failure. It guards against a hang and is no budget: a correct run stops waiting as
// soon as the condition holds, and CI's loaded 2-core machine (load 10 and more) can take
// many seconds for what takes milliseconds on a quiet one (this package alone has taken
// 846 s there).
const settleWait = 3 * time.Minute

// testCallTimeout is the deadline of a test's own calls to a validator: generous for the
// same reason as settleWait (a query that answers in a millisecond on a quiet machine may
// take seconds at load 10); a validator that refuses a call still fails it at once.
const testCallTimeout = 30 * time.Second

// netUp starts `mica net up` and waits for its READY line. A new network (dir holds no
// network.json) without --port-base in args gets a range of free ports (freePorts;
// args may name its ports with portArg), and starts again in a new range, in dir
// emptied, if net up finds one of them taken meanwhile (another test run took it).
func netUp(t *testing.T, dir string, args ...string) *network {
	t.Helper()
	_, statErr := os.Stat(filepath.Join(dir, "network.json"))
	if slices.Contains(args, "--port-base") || statErr == nil {
		n, _ := startNet(t, dir, args)
		return n
	}
	for attempt := 1; ; attempt++ {
		p := pickPorts(t)
		n, taken := startNet(t, dir, append([]string{"--port-base", p.str(0)}, p.expand(args)...))
		if !taken {
			n.ports = p
			return n
		}
		if attempt == netUpAttempts {
			t.Fatalf("net up found a port taken in each of %d ranges", attempt)
		}
		t.Logf("net up on ports %d–%d found one taken; trying another range", p.at(0), p.at(portSpan-1))
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// startNet runs `mica net up --path dir args...` until its READY line, and returns the
// network, or nil and true if net up failed for a port already taken (then it has
// stopped). Any other failure fails the test.
func startNet(t *testing.T, dir string, args []string) (*network, bool) {
	t.Helper()
	n := &network{t: t, dir: dir, out: &bytes.Buffer{}, stdoutEOF: make(chan struct{}), exited: make(chan struct{})}
	n.cmd = exec.Command(binary, append([]string{"net", "up", "--path", dir}, args...)...)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = n.out
	// Tied: net up ends with the test binary even if this one dies without cleanup
	// (go test -timeout), and its validators with it.
	err = startTied(n.cmd, func() {
		<-n.stdoutEOF // Wait closes the pipe: read it to the end first
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	})
	if err != nil {
		t.Fatal(err)
	}
	// ready gets true at the READY line, false when a validator stopped before it.
	ready := make(chan bool, 1)
	go func() {
		defer close(n.stdoutEOF)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			n.stdoutMu.Lock()
			n.stdout = append(n.stdout, line)
			n.stdoutMu.Unlock()
			switch {
			case strings.HasPrefix(line, "READY"):
				ready <- true
			case strings.Contains(line, "stopped unexpectedly"):
				select {
				case ready <- false:
				default:
				}
			}
		}
	}()
	failed := func(why string) (*network, bool) {
		if err := n.halt(); err != nil {
			t.Log(err)
		}
		output := n.out.String() + "\n" + strings.Join(n.lines(), "\n")
		if portTaken(output) {
			return nil, true
		}
		t.Fatalf("net up %s:\n%s", why, output)
		return nil, false
	}
	select {
	case ok := <-ready:
		if !ok {
			return failed("lost a validator before it was ready")
		}
	case <-n.exited:
		return failed(fmt.Sprintf("exited before it was ready (%v)", n.waitErr))
	case <-time.After(60 * time.Second):
		return failed("not ready after 60 s")
	}
	b, err := os.ReadFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &n.info); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n, false
}

// stop sends SIGINT and waits for a clean exit.
func (n *network) stop() {
	if err := n.halt(); err != nil {
		n.t.Error(err)
	}
}

// halt sends SIGINT to net up, waits for it to exit and checks that no validator
// survives it. It returns what went wrong.
func (n *network) halt() error {
	select {
	case <-n.exited:
		return nil
	default:
	}
	var errs []error
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
		if n.waitErr != nil {
			errs = append(errs, fmt.Errorf("net up did not exit cleanly: %v\n%s", n.waitErr, n.out))
		}
	case <-time.After(settleWait):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		errs = append(errs, fmt.Errorf("net up did not stop within %v", settleWait))
	}
	// Validators run in their own process groups; none may survive.
	for _, v := range n.info.Validators {
		if v.PID > 0 && syscall.Kill(v.PID, 0) == nil {
			time.Sleep(200 * time.Millisecond)
			if syscall.Kill(v.PID, 0) == nil {
				errs = append(errs, fmt.Errorf("validator %s (pid %d) still running after net up stopped", v.Name, v.PID))
				_ = syscall.Kill(v.PID, syscall.SIGKILL)
			}
		}
	}
	return errors.Join(errs...)
}

// mica runs the binary with a wallet and returns stdout, stderr and the error.
func mica(t *testing.T, wallet string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MICA_WALLET="+wallet)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()), err
}

func mustMica(t *testing.T, wallet string, args ...string) string {
	t.Helper()
	out, errOut, err := mica(t, wallet, args...)
	if err != nil {
		t.Fatalf("mica %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// readmeBlock returns the shell lines of the README block after a marker.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- " + marker + " -->\\s*(?:<!-- readme: [^>]*-->\\s*)?```sh\\n(.*?)```")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("README has no %s block", marker)
	}
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// tryBalanceOn asks one validator for a chain's balance.
func tryBalanceOn(addr string, id base.ChainID) (base.Amount, error) {
	bal, _, err := tryStateOn(addr, id)
	return bal, err
}

// tryStateOn asks one validator for a chain's balance and next block height.
func tryStateOn(addr string, id base.ChainID) (base.Amount, base.BlockHeight, error) {
	ctx := context.Background()
	n, err := rpc.Dial(ctx, addr, rpc.DialOptions{CallTimeout: testCallTimeout})
	if err != nil {
		return base.Amount{}, 0, err
	}
	defer n.Close()
	info, err := n.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		return base.Amount{}, 0, err
	}
	return info.ChainBalance, info.NextBlockHeight, nil
}

// waitBalanceOn waits (settleWait) until validator name at addr reports balance want for
// chain id; it fails the test with what the validator last said if it does not.
func waitBalanceOn(t *testing.T, name, addr string, id base.ChainID, want base.Amount) {
	t.Helper()
	deadline := time.Now().Add(settleWait)
	for {
		got, err := tryBalanceOn(addr, id)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: chain %s has %s (%v), want %s", name, id.Short(), got, err, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHeightOn waits (settleWait) until the validator at addr holds chain id up to next
// height h or above (one outside a block's quorum catches up in the background), and
// returns its balance and next height then; it fails the test if it does not.
func waitHeightOn(t *testing.T, addr string, id base.ChainID, h base.BlockHeight) (base.Amount, base.BlockHeight) {
	t.Helper()
	deadline := time.Now().Add(settleWait)
	for {
		bal, got, err := tryStateOn(addr, id)
		if err == nil && got >= h {
			return bal, got
		}
		if time.Now().After(deadline) {
			t.Fatalf("validator %s: chain %s at height %d (%v), want %d or above", addr, id.Short(), got, err, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// balanceOn asks one validator for a chain's balance and next block height, failing the
// test if it does not answer.
func balanceOn(t *testing.T, addr string, id base.ChainID) (base.Amount, base.BlockHeight) {
	t.Helper()
	bal, h, err := tryStateOn(addr, id)
	if err != nil {
		t.Fatalf("validator %s: %v", addr, err)
	}
	return bal, h
}

// TestQuickstart runs the README's quickstart lines as written (with bin/mica replaced
// by the binary under test and /tmp paths by the test's own directory), then checks the
// balances on every validator.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	netLines := readmeBlock(t, "quickstart-network")
	if len(netLines) != 2 || !strings.HasPrefix(netLines[1], "bin/mica net up --path /tmp/mica-net --with-faucet") {
		t.Fatalf("unexpected network block: %q", netLines)
	}
	net := netUp(t, filepath.Join(dir, "mica-net"), "--with-faucet")
	script := strings.Join(readmeBlock(t, "quickstart-wallets"), "\n")
	script = strings.ReplaceAll(script, "/tmp/", dir+"/")
	script = strings.ReplaceAll(script, "bin/mica", binary)
	script = "set -euo pipefail\n" + script + "\necho \"ALICE=$ALICE BOB=$BOB\"\n"
	cmd := exec.Command("bash", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("quickstart failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var aliceS, bobS string
	if _, err := fmt.Sscanf(last, "ALICE=%s BOB=%s", &aliceS, &bobS); err != nil {
		t.Fatalf("parse %q: %v", last, err)
	}
	if lines[len(lines)-3] != "93" || lines[len(lines)-2] != "107" {
		t.Fatalf("quickstart balances: %q, want 93 and 107", lines[len(lines)-3:len(lines)-1])
	}
	alice, _ := base.ParseChainID(aliceS)
	bob, _ := base.ParseChainID(bobS)
	for _, v := range net.info.Validators {
		// A validator outside the quorums catches up in the background.
		waitBalanceOn(t, v.Name, v.Address, alice, base.Tokens(93))
		waitBalanceOn(t, v.Name, v.Address, bob, base.Tokens(107))
	}
}

// otherWalletChain returns a chain of the wallet other than a (the last one listed).
func otherWalletChain(t *testing.T, wallet, a string) string {
	t.Helper()
	var b string
	for _, id := range regexp.MustCompile(`"chainId": "([0-9a-f]{64})"`).FindAllStringSubmatch(mustMica(t, wallet, "wallet", "show", "--json"), -1) {
		if id[1] != a {
			b = id[1]
		}
	}
	if b == "" {
		t.Fatalf("the wallet has no chain other than %s", a)
	}
	return b
}

func walletChain(t *testing.T, wallet string) string {
	out := mustMica(t, wallet, "wallet", "show", "--json")
	var w struct {
		Chains []struct {
			ChainID string `json:"chainId"`
			Default bool   `json:"isDefault"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Chains {
		if c.Default {
			return c.ChainID
		}
	}
	t.Fatal("no default chain")
	return ""
}

// TestFaultsRestartAndBadInput: kill -9 of one validator, its restart and catch-up, a
// full stop and start on the same directory, and refusals of bad input.
func TestFaultsRestartAndBadInput(t *testing.T) {
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	net := netUp(t, netDir, "--initial-chains", "1")
	w := net.info.Wallet
	// The wallet owns the admin chain (default) and one more chain.
	a := walletChain(t, w)
	var b string
	out := mustMica(t, w, "wallet", "show", "--json")
	for _, id := range regexp.MustCompile(`"chainId": "([0-9a-f]{64})"`).FindAllStringSubmatch(out, -1) {
		if id[1] != a {
			b = id[1]
		}
	}
	aID, _ := base.ParseChainID(a)
	bID, _ := base.ParseChainID(b)

	timed := func(args ...string) time.Duration {
		start := time.Now()
		mustMica(t, w, args...)
		return time.Since(start)
	}
	var healthy, degraded time.Duration
	for range 3 {
		healthy += timed("transfer", "1", "--from", a, "--to", b)
	}
	victim := net.info.Validators[1]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		degraded += timed("transfer", "1", "--from", a, "--to", b)
	}
	t.Logf("CLI transfer wall time: healthy %v, with one validator killed %v (3 transfers each)", healthy/3, degraded/3)
	mustMica(t, w, "process-inbox", b)

	// Restart the killed validator; after the next blocks it serves the same state.
	restart := exec.Command(binary, "validator", "run", "--config", victim.Config)
	restart.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	restarted := make(chan struct{})
	// Tied: the validator ends with the test binary even if this one dies without
	// cleanup (go test -timeout).
	if err := startTied(restart, func() { _ = restart.Wait(); close(restarted) }); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = restart.Process.Signal(syscall.SIGTERM); <-restarted }()
	time.Sleep(500 * time.Millisecond)
	mustMica(t, w, "transfer", "1", "--from", a, "--to", b)
	mustMica(t, w, "process-inbox", b)
	deadline := time.Now().Add(settleWait)
	for {
		wantA, hA := balanceOn(t, net.info.Validators[0].Address, aID)
		wantB, hB := balanceOn(t, net.info.Validators[0].Address, bID)
		// The restarted validator may still be starting on a loaded machine.
		gotA, gA, errA := tryStateOn(victim.Address, aID)
		gotB, gB, errB := tryStateOn(victim.Address, bID)
		if errA == nil && errB == nil && gotA == wantA && gA == hA && gotB == wantB && gB == hB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted validator: A %s@%d vs %s@%d (%v), B %s@%d vs %s@%d (%v)", gotA, gA, wantA, hA, errA, gotB, gB, wantB, hB, errB)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Bad input: refused with a sentence and a non-zero status, nothing changes.
	before := mustMica(t, w, "query-balance", a)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"transfer", "1000000000", "--from", a, "--to", b}, "insufficient balance"},
		{[]string{"transfer", "1", "--from", a, "--to", "not-an-account"}, "want CHAIN or OWNER@CHAIN"},
		{[]string{"transfer", "1", "--from", a, "--to", strings.Repeat("ab", 32)}, "unknown chain"},
		{[]string{"transfer", "1.2.3", "--from", a, "--to", b}, "decimal number"},
	} {
		_, errOut, err := mica(t, w, c.args...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("mica %v: err=%v stderr=%q, want a refusal mentioning %q", c.args, err, errOut, c.want)
		}
	}
	if after := mustMica(t, w, "query-balance", a); after != before {
		t.Fatalf("refused commands changed the balance: %s → %s", before, after)
	}

	// A wallet of another network is refused: its committee lists the same addresses
	// as ours, but our validators serve another genesis.
	other := filepath.Join(dir, "other")
	mustMica(t, other, "validator", "generate", "--path", filepath.Join(dir, "othernet"), "--port-base", net.ports.str(0))
	mustMica(t, other, "wallet", "init", "--genesis", filepath.Join(dir, "othernet", "genesis.json"))
	_, errOut, err := mica(t, other, "sync", a)
	if err == nil || !strings.Contains(errOut, "network") {
		t.Fatalf("a wallet of another network was not refused: err=%v stderr=%q", err, errOut)
	}
	t.Logf("wrong network refused: %s", errOut)

	// Stop everything and start again on the same directory: chains and balances stay.
	balA, balB := mustMica(t, w, "query-balance", a), mustMica(t, w, "query-balance", b)
	_ = restart.Process.Signal(syscall.SIGTERM)
	<-restarted // the tied goroutine waits for it: one Wait only
	net.stop()
	net2 := netUp(t, netDir, "--initial-chains", "1")
	if got := mustMica(t, w, "query-balance", a); got != balA {
		t.Fatalf("after restart A has %s, want %s", got, balA)
	}
	if got := mustMica(t, w, "query-balance", b); got != balB {
		t.Fatalf("after restart B has %s, want %s", got, balB)
	}
	mustMica(t, w, "transfer", "1", "--from", a, "--to", b)
	for _, v := range net2.info.Validators {
		if got, _ := balanceOn(t, v.Address, bID); got.Compare(base.ZeroAmount) == 0 {
			t.Errorf("%s lost chain B", v.Name)
		}
	}

	// The benchmark reports throughput, finality and its errors by kind, and returns
	// what it borrowed: with zero fees the funding chain ends where it started.
	checkBenchmark(t, w, a, net2.info.Validators[0].Address)
}

// checkBenchmark runs `mica benchmark` twice from the wallet's chain a (the second run
// reuses the benchmark chains the first one kept, with one atto each) and checks its
// JSON (errors by kind, funding) and that the funds came back.
func checkBenchmark(t *testing.T, w, a, validator string) {
	t.Helper()
	aID, _ := base.ParseChainID(a)
	for run := range 2 {
		before, _ := balanceOn(t, validator, aID)
		args := []string{"benchmark", "--chains", "2", "--duration", "2s", "--chain", a, "--json"}
		if run == 1 {
			// One atto per chain: a chain must receive before it can send again, so
			// the run meets errors (insufficient balance) and still returns every atto.
			args = append(args, "--fund", "0.000000000000000001")
		}
		stdout, stderr, err := mica(t, w, args...)
		if err != nil {
			t.Fatalf("benchmark: %v\n%s", err, stderr)
		}
		var rep struct {
			bench.Result
			ErrorKinds *[]struct {
				Kind    string `json:"kind"`
				Count   int    `json:"count"`
				Example string `json:"example"`
			} `json:"error_kinds"`
			Funding struct {
				Chain         string      `json:"chain"`
				BalanceBefore base.Amount `json:"balance_before"`
				BalanceAfter  base.Amount `json:"balance_after"`
				Lent          base.Amount `json:"lent"`
				Returned      base.Amount `json:"returned"`
				Remaining     base.Amount `json:"remaining"`
				Wallet        string      `json:"benchmark_wallet"`
				ChainsOpened  int         `json:"chains_opened"`
				ChainsReused  int         `json:"chains_reused"`
			} `json:"funding"`
		}
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("benchmark stdout is not only its JSON result: %v\n%s", err, stdout)
		}
		if dec.More() {
			t.Fatalf("benchmark stdout has more than the JSON result:\n%s", stdout)
		}
		res, f := rep.Result, rep.Funding
		if res.Transactions == 0 || res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms {
			t.Fatalf("benchmark result %+v", res)
		}
		if rep.ErrorKinds == nil {
			t.Fatalf("benchmark JSON has no error_kinds:\n%s", stdout)
		}
		sum := 0
		for _, k := range *rep.ErrorKinds {
			if k.Kind == "" || k.Count <= 0 || k.Example == "" {
				t.Errorf("error kind %+v", k)
			}
			sum += k.Count
		}
		if sum != res.Errors {
			t.Errorf("error kinds count %d errors, the result says %d", sum, res.Errors)
		}
		if !strings.Contains(stderr, "transfers/s") {
			t.Errorf("no progress line on stderr:\n%s", stderr)
		}
		if f.Chain != a || f.Lent.IsZero() || f.Returned.Compare(f.Lent) < 0 || !f.Remaining.IsZero() {
			t.Errorf("funding %+v", f)
		}
		if f.BalanceBefore != before || f.BalanceAfter != before {
			t.Errorf("run %d: funding chain had %s before (the benchmark saw %s), %s after; want it unchanged (zero fees)", run, before, f.BalanceBefore, f.BalanceAfter)
		}
		// The validator may get the last blocks after the benchmark ended.
		waitBalanceOn(t, fmt.Sprintf("run %d: the validator", run), validator, aID, before)
		if run == 0 && f.ChainsOpened != 2 || run == 1 && (f.ChainsReused != 2 || f.ChainsOpened != 0) {
			t.Errorf("run %d: %d chains opened, %d reused", run, f.ChainsOpened, f.ChainsReused)
		}
		if _, err := os.Stat(filepath.Join(f.Wallet, "wallet.json")); err != nil {
			t.Errorf("benchmark wallet: %v", err)
		}
		t.Logf("benchmark run %d: %.0f transfers/s, p50 %.2f ms, p99 %.2f ms, %d errors %v", run, res.TxPerSecond, res.LatencyP50Ms, res.LatencyP99Ms, res.Errors, *rep.ErrorKinds)
	}
}
