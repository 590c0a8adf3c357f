package main

// Tests of what every command shares, run against the real binary: unknown
// subcommands and flags, --version, JSON results and errors, .gitignore, and the
// net status / net down / second net up lifecycle.

import (
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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/wallet"
)

func groupCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() {
			out = append(out, sub)
			out = append(out, groupCommands(sub)...)
		}
	}
	return out
}

// path is a command's words after "mica".
func path(c *cobra.Command) []string { return strings.Fields(c.CommandPath())[1:] }

// runTimeout is how long run lets a command take before killing it: a guard against a
// hang, not a budget, so longer than any deadline the client sets itself, since a command that publishes bytecode
// waits while every validator compiles it (over 4 minutes for the 2.4 MiB counter with
// four validators on two cores at load 30; 60 s here killed such commands).
const runTimeout = 10 * time.Minute

// run runs the binary in dir with a clean MICA_* environment plus env.
func run(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "MICA_WALLET="+filepath.Join(dir, "no-wallet"))
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return o.String(), e.String(), code
}

type jsonError struct {
	Error struct {
		Message string `json:"message"`
		Kind    string `json:"kind"`
	} `json:"error"`
}

// mustJSONError checks that a failed command printed nothing on stdout and a JSON error
// on stderr.
func mustJSONError(t *testing.T, args []string, stdout, stderr string, code int) jsonError {
	t.Helper()
	var je jsonError
	if code == 0 {
		t.Errorf("mica %v: exit 0, want a failure", args)
	}
	if strings.TrimSpace(stdout) != "" {
		t.Errorf("mica %v: stdout %q on failure", args, stdout)
	}
	if err := json.Unmarshal([]byte(stderr), &je); err != nil || je.Error.Message == "" || je.Error.Kind == "" {
		t.Errorf("mica %v: stderr is not a JSON error (%v): %q", args, err, stderr)
	}
	return je
}

// TestUnknownSubcommandsAndFlags walks the whole command tree: every group refuses an
// unknown subcommand and every command an unknown flag, with a non-zero exit status
// and a message naming the mistake; with --json the message is a JSON error.
func TestUnknownSubcommandsAndFlags(t *testing.T) {
	dir := t.TempDir()
	root := rootCommand()
	groups := groupCommands(root)
	if len(groups) < 4 {
		t.Fatalf("only %d groups found", len(groups))
	}
	for _, g := range groups {
		args := append(path(g), "nosuchcmd")
		_, stderr, code := run(t, dir, nil, args...)
		if code != 2 || !strings.Contains(stderr, `unknown command "nosuchcmd"`) {
			t.Errorf("mica %v: exit %d, stderr %q", args, code, stderr)
		}
		stdout, stderr, code := run(t, dir, nil, append(args, "--json")...)
		if je := mustJSONError(t, args, stdout, stderr, code); je.Error.Kind != "usage" {
			t.Errorf("mica %v --json: kind %q, want usage", args, je.Error.Kind)
		}
	}
	leaves := leafCommands(root)
	if len(leaves) < 30 {
		t.Fatalf("only %d commands found", len(leaves))
	}
	for _, c := range append(leaves, groups...) {
		args := append(path(c), "--nosuchflag")
		_, stderr, code := run(t, dir, nil, args...)
		if code != 2 || !strings.Contains(stderr, "unknown flag: --nosuchflag") {
			t.Errorf("mica %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	// A negative amount is explained rather than taken for a flag.
	_, stderr, code := run(t, dir, nil, "transfer", "-5", "--to", "x")
	if code == 0 || !strings.Contains(stderr, "cannot be negative") {
		t.Errorf("transfer -5: exit %d, stderr %q", code, stderr)
	}
	// With no argument, a group prints its help and succeeds.
	if stdout, _, code := run(t, dir, nil, "net"); code != 0 || !strings.Contains(stdout, "status") {
		t.Errorf("mica net: exit %d, stdout %q", code, stdout)
	}
}

// TestGlobalFlagsHaveEnv: every global flag is read from its MICA_* variable.
func TestGlobalFlagsHaveEnv(t *testing.T) {
	usages := rootCommand().PersistentFlags().FlagUsages()
	for _, m := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(usages, -1) {
		if m[1] != "help" && !slices.Contains(globalFlags, m[1]) {
			t.Errorf("global flag --%s is not in globalFlags (no %s)", m[1], envName(m[1]))
		}
	}
	// MICA_VERBOSE=x is refused like --verbose=x would be.
	if _, stderr, code := run(t, t.TempDir(), []string{"MICA_VERBOSE=x"}, "wallet", "show"); code == 0 || !strings.Contains(stderr, "MICA_VERBOSE") {
		t.Errorf("MICA_VERBOSE=x: exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := run(t, t.TempDir(), nil, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "mica ") || !strings.Contains(stdout, "go1.") {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("%s", strings.TrimSpace(stdout))
}

// TestJSONErrorsEveryCommand runs every command with --json in a way that fails
// (no wallet, no network, missing arguments or a bad value) and checks the JSON error.
func TestJSONErrorsEveryCommand(t *testing.T) {
	dir := t.TempDir()
	// Commands that would succeed with no argument get a bad value instead.
	bad := map[string][]string{
		"mica demo":               {"--validators", "0"},
		"mica net up":             {"--faucet-amount", "x"},
		"mica project env":        {"extra-argument"},
		"mica validator generate": {"--initial-balance", "x"},
	}
	for _, c := range leafCommands(rootCommand()) {
		args := append(append(path(c), bad[c.CommandPath()]...), "--json")
		stdout, stderr, code := run(t, dir, nil, args...)
		mustJSONError(t, args, stdout, stderr, code)
	}
	// MICA_JSON=1 does the same as --json.
	stdout, stderr, code := run(t, dir, []string{"MICA_JSON=1"}, "wallet", "show")
	mustJSONError(t, []string{"wallet", "show"}, stdout, stderr, code)
}

// TestJSONResultsOffline checks that the commands that need no running network print
// indented JSON on success, and that MICA_FAUCET_URL is read.
func TestJSONResultsOffline(t *testing.T) {
	dir := t.TempDir()
	w := []string{"MICA_WALLET=" + filepath.Join(dir, "wallet")}
	parse := func(env []string, args ...string) map[string]any {
		t.Helper()
		stdout, stderr, code := run(t, dir, env, append(args, "--json")...)
		var m map[string]any
		if code != 0 || json.Unmarshal([]byte(stdout), &m) != nil {
			t.Fatalf("mica %v --json: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		if !strings.Contains(stdout, "\n  ") {
			t.Errorf("mica %v --json: not indented: %q", args, stdout)
		}
		return m
	}
	gen := parse(nil, "validator", "generate", "--path", "net", "--port-base", "13500")
	genesis := filepath.Join(dir, "net", "genesis.json")
	parse(w, "wallet", "init", "--genesis", genesis)
	ids, keys := gen["chain_ids"].([]any), gen["chain_keys"].([]any)
	parse(w, "wallet", "import-chain", ids[0].(string), "--key", keys[0].(string))
	parse(w, "wallet", "set-default", ids[0].(string))
	parse(w, "wallet", "show")
	parse(w, "keygen")
	if m := parse(w, "local-balance"); m["balance"] != "1000" {
		t.Errorf("local-balance: %v", m)
	}
	parse(nil, "demo", "--path", filepath.Join(dir, "demo"), "--validators", "1", "--transfers", "1")
	// wallet init reads MICA_FAUCET_URL when given neither --faucet nor --genesis.
	_, stderr, code := run(t, dir, []string{"MICA_WALLET=" + filepath.Join(dir, "w2"), "MICA_FAUCET_URL=http://127.0.0.1:1"}, "wallet", "init")
	if code == 0 || !strings.Contains(stderr, "cannot reach the faucet at http://127.0.0.1:1") {
		t.Errorf("wallet init with MICA_FAUCET_URL: exit %d, stderr %q", code, stderr)
	}
}

// TestGitIgnoresGeneratedFiles: what the README's commands write inside the repository
// is ignored.
func TestGitIgnoresGeneratedFiles(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, p := range []string{"mica-net/network.json", "mica-net/validator-0/key", "mica-net/wallet/wallet.json", "examples/counter/build/contract.wasm", "bin/mica"} {
		cmd := exec.Command("git", "check-ignore", "-q", p)
		cmd.Dir = "../.."
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
				t.Errorf("git does not ignore %s", p)
				continue
			}
			t.Skipf("git check-ignore: %v (not a checkout?)", err)
		}
	}
}

// TestNetLifecycle: net status while running, a second net up refused at once, the
// JSON of network commands, net down, then what commands say when the network is down.
func TestNetLifecycle(t *testing.T) {
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	n := netUp(t, netDir, "--with-faucet", "--faucet-port", portArg(40), "--initial-chains", "1")
	w := []string{"MICA_WALLET=" + n.info.Wallet}

	var st netStatus
	stdout, stderr, code := run(t, dir, nil, "net", "status", "--path", netDir, "--json")
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil {
		t.Fatalf("net status: exit %d, %q %q", code, stdout, stderr)
	}
	if !st.Running || st.PID != n.cmd.Process.Pid || st.FaucetURL != "http://127.0.0.1:"+n.ports.str(40) || len(st.Validators) != 4 {
		t.Fatalf("net status: %+v", st)
	}
	for _, v := range st.Validators {
		if !v.Alive || !v.Reachable || v.PID == 0 {
			t.Errorf("net status: %+v", v)
		}
	}
	// The validators compile into the user's cache of compiled modules, which the
	// wallets share ($MICA_WASM_CACHE here), not into one of the network's.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Validators[0].PID)); err == nil && !strings.Contains(string(b), "\x00--wasm-cache\x00"+sharedWasmCache+"\x00") {
		t.Errorf("validator command line %q: want --wasm-cache %s", b, sharedWasmCache)
	}
	stdout, _, _ = run(t, dir, nil, "net", "status", "--path", netDir, "--env")
	if !strings.Contains(stdout, "export MICA_FAUCET_URL=http://127.0.0.1:"+n.ports.str(40)+"\n") {
		t.Errorf("net status --env: %q", stdout)
	}

	// A second net up on the same path is refused at once, naming the pid and net down.
	start := time.Now()
	_, stderr, code = run(t, dir, nil, "net", "up", "--path", netDir, "--port-base", n.ports.str(0))
	if code == 0 || !strings.Contains(stderr, "already running") || !strings.Contains(stderr, "mica net down") || !strings.Contains(stderr, strconv.Itoa(n.cmd.Process.Pid)) {
		t.Fatalf("second net up: exit %d, stderr %q", code, stderr)
	}
	t.Logf("second net up refused in %v", time.Since(start).Round(time.Millisecond))

	// Network commands print JSON; query-balance answered by the validators says so.
	var bal map[string]any
	stdout, stderr, code = run(t, dir, w, "query-balance", "--json")
	if code != 0 || json.Unmarshal([]byte(stdout), &bal) != nil || bal["localReplicaOnly"] != false {
		t.Fatalf("query-balance --json: exit %d, %q %q", code, stdout, stderr)
	}
	wallet2 := []string{"MICA_WALLET=" + filepath.Join(dir, "w2"), "MICA_FAUCET_URL=" + st.FaucetURL}
	if _, stderr, code := run(t, dir, wallet2, "wallet", "init"); code != 0 {
		t.Fatalf("wallet init from MICA_FAUCET_URL: %q", stderr)
	}
	stdout, stderr, code = run(t, dir, wallet2, "wallet", "request-chain", "--json")
	var claimed map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &claimed) != nil {
		t.Fatalf("request-chain from MICA_FAUCET_URL: exit %d, %q %q", code, stdout, stderr)
	}
	var cert map[string]any
	stdout, stderr, code = run(t, dir, w, "transfer", "1", "--to", claimed["chainId"], "--json")
	if code != 0 || json.Unmarshal([]byte(stdout), &cert) != nil || cert["hash"] == nil || cert["chainId"] == nil || cert["height"] == nil {
		t.Fatalf("transfer --json: exit %d, %q %q", code, stdout, stderr)
	}

	// An application id that no block created (a typo) is named as such, with the flag
	// to check, not as "blobs not found: blob ApplicationDescription:...".
	noApp := strings.Repeat("ab", 32)
	for _, args := range [][]string{{"query-application", "--application-id", noApp, "{ value }"}, {"execute-operation", "--application-id", noApp, "--json-operation", "{}"}} {
		_, stderr, code := run(t, dir, w, args...)
		if code != 1 || !strings.Contains(stderr, "no application "+noApp) || !strings.Contains(stderr, "--application-id") || strings.Contains(stderr, "ApplicationDescription") {
			t.Errorf("mica %v: exit %d, stderr %q", args, code, stderr)
		}
	}

	// net down stops net up (which exits cleanly) and its validators.
	stdout, stderr, code = run(t, dir, nil, "net", "down", "--path", netDir)
	if code != 0 || !strings.Contains(stdout, "stopped") {
		t.Fatalf("net down: exit %d, %q %q", code, stdout, stderr)
	}
	n.stop()
	stdout, _, _ = run(t, dir, nil, "net", "status", "--path", netDir, "--json")
	st = netStatus{}
	if json.Unmarshal([]byte(stdout), &st) != nil || st.Running {
		t.Fatalf("net status after down: %q", stdout)
	}
	for _, v := range st.Validators {
		if v.Alive {
			t.Errorf("after net down: %+v", v)
		}
	}
	if stdout, _, code := run(t, dir, nil, "net", "down", "--path", netDir); code != 0 || !strings.Contains(stdout, "no network is running") {
		t.Errorf("second net down: exit %d, %q", code, stdout)
	}

	// With the network down: query-balance says it answers from the local replica,
	// a transfer names the unreachable validator and what to check.
	stdout, stderr, code = run(t, dir, w, "query-balance", "--json")
	bal = nil
	if code != 0 || json.Unmarshal([]byte(stdout), &bal) != nil || bal["localReplicaOnly"] != true || !strings.Contains(stderr, "local replica") {
		t.Errorf("query-balance with the network down: exit %d, %q %q", code, stdout, stderr)
	}
	_, stderr, code = run(t, dir, w, "transfer", "1", "--to", claimed["chainId"])
	if code == 0 || !strings.Contains(stderr, "cannot reach validator validator-") || !strings.Contains(stderr, "mica net status") ||
		strings.Contains(stderr, "retryable") || strings.Contains(stderr, "transport:") {
		t.Errorf("transfer with the network down: exit %d, stderr %q", code, stderr)
	}
	t.Logf("network down: %s", strings.TrimSpace(stderr))
	stdout, stderr, code = run(t, dir, w, "transfer", "1", "--to", claimed["chainId"], "--json")
	if je := mustJSONError(t, []string{"transfer"}, stdout, stderr, code); je.Error.Kind != "unreachable" {
		t.Errorf("transfer --json with the network down: %+v", je)
	}
}

// TestWalletHolders: a command waits for a wallet another command holds for a moment,
// saying whom it waits for, and refuses at once one that mica service holds.
func TestWalletHolders(t *testing.T) {
	dir := t.TempDir()
	wdir := filepath.Join(dir, "wallet")
	env := []string{"MICA_WALLET=" + wdir}
	if _, stderr, code := run(t, dir, nil, "validator", "generate", "--path", "net", "--port-base", "13550"); code != 0 {
		t.Fatal(stderr)
	}
	if _, stderr, code := run(t, dir, env, "wallet", "init", "--genesis", filepath.Join(dir, "net", "genesis.json")); code != 0 {
		t.Fatal(stderr)
	}
	held, err := wallet.Open(wdir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := held.SetHolder(wallet.Holder{Command: "mica transfer"}); err != nil {
		t.Fatal(err)
	}
	first := held // held is reassigned below, maybe before this runs
	release := time.AfterFunc(time.Second, func() { _ = first.Close() })
	defer release.Stop()
	stdout, stderr, code := run(t, dir, env, "wallet", "show")
	if code != 0 || !strings.Contains(stdout, "wallet "+wdir) || !strings.Contains(stderr, "waiting for the wallet: `mica transfer` (pid ") {
		t.Fatalf("wallet show while a transfer holds the wallet: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	if held, err = wallet.Open(wdir); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := held.SetHolder(wallet.Holder{Command: "mica service", LongRunning: true, Detail: "serving http://127.0.0.1:8080/"}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = run(t, dir, env, "wallet", "show", "--json")
	je := mustJSONError(t, []string{"wallet", "show"}, stdout, stderr, code)
	// Refused without waiting: the message says to use the service instead.
	if !strings.Contains(je.Error.Message, "`mica service`") || !strings.Contains(je.Error.Message, "http://127.0.0.1:8080/") || !strings.Contains(je.Error.Message, "GraphQL endpoint") {
		t.Fatalf("wallet show while mica service holds the wallet: %q", je.Error.Message)
	}
}

// TestNetUpRefusesNegativeInitialChains: a negative --initial-chains made net up panic
// (index out of range) after it had generated the validators' keys under --path,
// leaving a half-made network there. It is refused at once, naming the flag, and
// --path is not created. So is a faucet port out of range.
func TestNetUpRefusesNegativeInitialChains(t *testing.T) {
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	for _, n := range []string{"-1", "-2"} {
		_, stderr, code := run(t, dir, nil, "net", "up", "--path", netDir, "--initial-chains", n, "--port-base", freePorts(t).str(0))
		if code != 1 || !strings.Contains(stderr, "--initial-chains") || strings.Contains(stderr, "panic") {
			t.Fatalf("net up --initial-chains %s: exit %d, stderr %q", n, code, stderr)
		}
		if _, err := os.Stat(netDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("net up --initial-chains %s left %s (%v)", n, netDir, err)
		}
	}
	// validator generate made one chain of --initial-chains 0 or less without a word.
	for _, n := range []string{"0", "-1"} {
		_, stderr, code := run(t, dir, nil, "validator", "generate", "--path", netDir, "--initial-chains", n)
		if code != 1 || !strings.Contains(stderr, "--initial-chains") {
			t.Fatalf("validator generate --initial-chains %s: exit %d, stderr %q", n, code, stderr)
		}
		if _, err := os.Stat(netDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("validator generate --initial-chains %s left %s (%v)", n, netDir, err)
		}
	}
	// A faucet port out of range was found only once the validators were running.
	_, stderr, code := run(t, dir, nil, "net", "up", "--path", netDir, "--with-faucet", "--faucet-port", "-3", "--port-base", freePorts(t).str(0))
	if code != 1 || !strings.Contains(stderr, "--faucet-port") {
		t.Fatalf("net up --faucet-port -3: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(netDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("net up --faucet-port -3 left %s (%v)", netDir, err)
	}
}
