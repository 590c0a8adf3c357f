package main

// Mistakes a new user makes in the first hour, and what the binary says about them: a
// missing argument, a chain the wallet does not follow, a network that is down, a port
// another process holds.

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// offlineWallet makes a wallet owning a root chain of a generated network that does not
// run (nothing listens on its ports), and returns the environment that selects it.
func offlineWallet(t *testing.T, dir string) []string {
	env, _ := offlineWalletChain(t, dir)
	return env
}

// offlineWalletChain is offlineWallet that also returns the id of the chain it owns.
func offlineWalletChain(t *testing.T, dir string) ([]string, string) {
	t.Helper()
	env := []string{"MICA_WALLET=" + filepath.Join(dir, "wallet")}
	gen, stderr, code := run(t, dir, nil, "validator", "generate", "--validators", "1", "--path", "net", "--port-base", freePorts(t).str(0), "--json")
	if code != 0 {
		t.Fatalf("validator generate: %s", stderr)
	}
	if _, stderr, code := run(t, dir, env, "wallet", "init", "--genesis", filepath.Join(dir, "net", "genesis.json")); code != 0 {
		t.Fatalf("wallet init: %s", stderr)
	}
	var g struct {
		ChainIDs  []string `json:"chain_ids"`
		ChainKeys []string `json:"chain_keys"`
	}
	if err := json.Unmarshal([]byte(gen), &g); err != nil || len(g.ChainIDs) == 0 || len(g.ChainKeys) == 0 {
		t.Fatalf("validator generate --json: %v: %q", err, gen)
	}
	if _, stderr, code := run(t, dir, env, "wallet", "import-chain", g.ChainIDs[0], "--key", g.ChainKeys[0]); code != 0 {
		t.Fatalf("wallet import-chain: %s", stderr)
	}
	return env, g.ChainIDs[0]
}

// TestChainIDPastedAsOwnerRefused: `mica transfer 1 --to $CHAIN@$OTHER` — a chain id
// pasted where the owner goes — was read as an owner address (64 hex digits, the 0x
// optional) and sent the tokens to an account no key controls. An owner that is, byte
// for byte, the id of a chain the wallet knows or of the account's own chain is refused
// before anything is signed, saying which chain it is and how to name its account.
func TestChainIDPastedAsOwnerRefused(t *testing.T) {
	dir := t.TempDir()
	env, chain := offlineWalletChain(t, dir)
	other := strings.Repeat("ab", 32)
	for _, to := range []string{chain + "@" + other, other + "@" + other, "0x" + chain + "@" + chain} {
		stdout, stderr, code := run(t, dir, env, "transfer", "1", "--to", to)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "is the id of chain") || !strings.Contains(stderr, "not an owner") {
			t.Errorf("transfer 1 --to %s: exit %d, stdout %q, stderr %q", to, code, stdout, stderr)
		}
	}
	stdout, stderr, code := run(t, dir, env, "transfer", "1", "--to", chain+"@"+chain, "--json")
	if je := mustJSONError(t, []string{"transfer"}, stdout, stderr, code); je.Error.Kind != "invalid" {
		t.Errorf("transfer --json to a chain id as owner: kind %q, want invalid", je.Error.Kind)
	}
	_, stderr, code = run(t, dir, env, "claim", "1", "--from", "0x"+strings.Repeat("cd", 32)+"@"+other, "--to", chain+"@"+chain)
	if code != 1 || !strings.Contains(stderr, "is the id of chain") {
		t.Errorf("claim --to %s@%s: exit %d, stderr %q", chain, chain, code, stderr)
	}
}

// TestMissingArgumentNamesCommand: a missing argument said only "accepts 1 arg(s),
// received 0", naming neither the command nor the argument it wants. It names both
// and where to read more, with exit status 2 (bad usage).
func TestMissingArgumentNamesCommand(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"close-chain"}, {"transfer"}, {"show-block", "x"}, {"wallet", "follow-chain"}} {
		_, stderr, code := run(t, dir, nil, args...)
		cmdPath := "mica " + strings.Join(pathOf(args), " ")
		if code != 2 || !strings.Contains(stderr, cmdPath+":") || !strings.Contains(stderr, "usage: "+cmdPath+" ") || !strings.Contains(stderr, "`"+cmdPath+" --help`") {
			t.Errorf("mica %v: exit %d, stderr %q", args, code, stderr)
		}
		stdout, stderr, code := run(t, dir, nil, append(args, "--json")...)
		if je := mustJSONError(t, args, stdout, stderr, code); je.Error.Kind != "usage" {
			t.Errorf("mica %v --json: kind %q, want usage", args, je.Error.Kind)
		}
	}
}

// pathOf is the command words of args (those before the first argument of the command).
func pathOf(args []string) []string {
	c, _, err := rootCommand().Find(args)
	if err != nil {
		return args
	}
	return path(c)
}

// TestOfflineMistakes: with a wallet whose network is down,
//   - wallet set-default of a chain the wallet does not follow told to run `mica
//     assign`, a command that does not exist;
//   - process-inbox said "nothing to do" and succeeded although no validator answered,
//     so the user believed nothing had arrived; it fails, saying the validators
//     cannot be reached;
//   - mica service on a port another process holds said only "listen: ... address
//     already in use"; it says to choose another --port.
func TestOfflineMistakes(t *testing.T) {
	dir := t.TempDir()
	env := offlineWallet(t, dir)

	unknown := strings.Repeat("0", 64)
	_, stderr, code := run(t, dir, env, "wallet", "set-default", unknown)
	if code != 1 || strings.Contains(stderr, "mica assign") || !strings.Contains(stderr, "mica wallet follow-chain "+unknown) {
		t.Errorf("wallet set-default of an unknown chain: exit %d, stderr %q", code, stderr)
	}

	stdout, stderr, code := run(t, dir, env, "process-inbox")
	if code != 1 || strings.Contains(stdout, "nothing to do") || !strings.Contains(stderr, "cannot reach validator") {
		t.Errorf("process-inbox with the network down: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, dir, env, "process-inbox", "--json")
	if je := mustJSONError(t, []string{"process-inbox"}, stdout, stderr, code); je.Error.Kind != "unreachable" {
		t.Errorf("process-inbox --json with the network down: kind %q, want unreachable", je.Error.Kind)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	stdout, stderr, code = run(t, dir, env, "service", "--port", port)
	if code != 1 || !strings.Contains(stderr, "127.0.0.1:"+port) || !strings.Contains(stderr, "another --port") {
		t.Errorf("service on a taken port: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestWatchSaysValidatorsUnreachable: mica watch with the network down said "watching
// CHAIN; Ctrl-C to stop" and then nothing, for ever. It says first that no validator
// answered, and keeps trying; Ctrl-C still stops it cleanly.
func TestWatchSaysValidatorsUnreachable(t *testing.T) {
	dir := t.TempDir()
	env := offlineWallet(t, dir)
	cmd := exec.Command(binary, "watch")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The line saying it listens comes once every validator's first subscription has
	// opened or failed; whatever it says about reaching them is printed before it.
	deadline := time.Now().Add(settleWait)
	for !strings.Contains(stderr.String(), "Ctrl-C to stop") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if got := stderr.String(); !strings.Contains(got, "Ctrl-C to stop") || !strings.Contains(got, "no validator answered") || !strings.Contains(got, "mica net status") {
		t.Errorf("watch with the network down: stderr %q", got)
	}
	if err != nil {
		t.Errorf("watch stopped by Ctrl-C: %v (stderr %q)", err, stderr.String())
	}
}
