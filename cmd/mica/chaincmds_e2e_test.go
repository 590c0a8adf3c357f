package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestChainCommands exercises the chain-management commands against a real network.
func TestChainCommands(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	parent := walletChain(t, w)

	// open-chain with a new key: prints CHAIN OWNER; the child commits at once.
	var opened struct {
		ChainID string `json:"chainId"`
		Owner   string `json:"owner"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "open-chain", "--initial-balance", "20", "--json")), &opened); err != nil {
		t.Fatal(err)
	}
	child := opened.ChainID
	mustMica(t, w, "transfer", "5", "--from", child, "--to", parent)
	if got := mustMica(t, w, "query-balance", child); got != "15" {
		t.Fatalf("child balance %s, want 15", got)
	}
	if got := mustMica(t, w, "local-balance", child); got != "15" {
		t.Fatalf("local balance %s, want 15", got)
	}
	show := mustMica(t, w, "show-block", child, "0")
	if !strings.Contains(show, "transfer 5") || !strings.Contains(show, "fast round") {
		t.Fatalf("show-block:\n%s", show)
	}

	// claim: the child's owner withdraws from its account on the parent chain; the claim
	// is signed on the child (found by its key), the parent executes the withdrawal, the
	// child receives the tokens.
	mustMica(t, w, "transfer", "4", "--from", parent, "--to", opened.Owner+"@"+parent)
	mustMica(t, w, "claim", "3", "--from", opened.Owner+"@"+parent)
	mustMica(t, w, "process-inbox", parent)
	mustMica(t, w, "process-inbox", child)
	if got := mustMica(t, w, "query-balance", child); got != "18" {
		t.Fatalf("child balance after the claim %s, want 18", got)
	}
	if got := mustMica(t, w, "query-balance", opened.Owner+"@"+parent); got != "1" {
		t.Fatalf("the claimed account holds %s, want 1", got)
	}
	if _, errOut, err := mica(t, w, "claim", "1", "--from", parent); err == nil || !strings.Contains(errOut, "OWNER@CHAIN") {
		t.Fatalf("claim without an owner: err=%v %s", err, errOut)
	}

	// A multi-owner chain with two of this wallet's keys: it commits in multi-leader rounds.
	o1 := mustMica(t, w, "keygen")
	o2 := mustMica(t, w, "keygen")
	var multi struct {
		ChainID string `json:"chainId"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "open-multi-owner-chain", "--owners", o1+","+o2, "--initial-balance", "10", "--json")), &multi); err != nil {
		t.Fatal(err)
	}
	out := mustMica(t, w, "transfer", "1", "--from", multi.ChainID, "--to", parent, "--json")
	var cert struct {
		Round string `json:"round"`
	}
	if err := json.Unmarshal([]byte(out), &cert); err != nil || !strings.HasPrefix(cert.Round, "multi-leader") {
		t.Fatalf("multi-owner block: %s (%v)", out, err)
	}

	// change-ownership: the child is handed to o1 as super owner; the wallet holds o1's
	// key but signs the child with its original owner, who is no longer an owner.
	mustMica(t, w, "change-ownership", "--chain", child, "--super-owners", o1)
	if _, errOut, err := mica(t, w, "transfer", "1", "--from", child, "--to", parent); err == nil || !strings.Contains(errOut, "not an owner of chain") {
		t.Fatalf("the former owner's transfer: err=%v %s", err, errOut)
	}

	// close-chain: afterwards operations are refused.
	mustMica(t, w, "close-chain", multi.ChainID)
	if _, errOut, err := mica(t, w, "transfer", "1", "--from", multi.ChainID, "--to", parent); err == nil || !strings.Contains(errOut, "closed") {
		t.Fatalf("transfer from a closed chain: err=%v %s", err, errOut)
	}
	// Tokens sent to the closed chain bounce back when it processes its inbox.
	mustMica(t, w, "process-inbox", parent)
	before := mustMica(t, w, "query-balance", parent)
	mustMica(t, w, "transfer", "2", "--from", parent, "--to", multi.ChainID)
	mustMica(t, w, "process-inbox", multi.ChainID)
	mustMica(t, w, "process-inbox", parent)
	if got := mustMica(t, w, "query-balance", parent); got != before {
		t.Fatalf("parent has %s after the bounce from the closed chain, want %s", got, before)
	}

	// A second wallet follows the parent chain and watches it.
	w2 := filepath.Join(dir, "w2")
	mustMica(t, w2, "wallet", "init", "--genesis", net.info.Genesis)
	// Syncing a chain the wallet does not follow brings the local replica up to date,
	// as query-balance does; it used to print "done" and then fail with "chain not in
	// the wallet".
	if got := mustMica(t, w2, "sync", parent); !strings.Contains(got, "synced") {
		t.Fatalf("sync of a chain outside the wallet: %q", got)
	}
	// A first follow-chain reports the chain's real height, the one validators hold.
	var followed struct {
		NextHeight uint64  `json:"nextHeight"`
		Owner      *string `json:"owner"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w2, "wallet", "follow-chain", parent, "--json")), &followed); err != nil {
		t.Fatal(err)
	}
	parentID, _ := base.ParseChainID(parent)
	if _, h := waitHeightOn(t, net.info.Validators[0].Address, parentID, base.BlockHeight(followed.NextHeight)); followed.NextHeight != uint64(h) || followed.Owner != nil {
		t.Fatalf("first follow-chain of the parent: %+v, the validators are at height %d", followed, h)
	}
	mustMica(t, w2, "wallet", "set-default", parent)
	// follow-chain of a multi-owner chain one of whose owners is a key of the wallet
	// makes it signable there.
	o3 := mustMica(t, w2, "keygen")
	var shared struct {
		ChainID string `json:"chainId"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "open-multi-owner-chain", "--owners", o1+","+o3, "--initial-balance", "5", "--json")), &shared); err != nil {
		t.Fatal(err)
	}
	if got := mustMica(t, w2, "wallet", "follow-chain", shared.ChainID); !strings.Contains(got, "signing as "+o3) {
		t.Fatalf("follow-chain of a multi-owner chain with a key of the wallet: %q", got)
	}
	mustMica(t, w2, "transfer", "1", "--from", shared.ChainID, "--to", parent)
	mustMica(t, w, "transfer", "1", "--from", shared.ChainID, "--to", parent)
	if got := mustMica(t, w2, "query-balance", shared.ChainID); got != "3" {
		t.Fatalf("the shared chain holds %s after a transfer from each owner's wallet, want 3", got)
	}
	mustMica(t, w, "process-inbox", parent) // the shared chain's transfers: a block would receive them
	watch2, watched2 := startWatch(t, w2, parent, "--json")
	// watch does not keep the wallet: while the owner's wallet watches its own chain,
	// transfers and queries on that wallet run, and the watch sees their blocks.
	watch, watched := startWatch(t, w, parent)
	balance, err := base.ParseAmount(mustMica(t, w, "query-balance", parent))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustMica(t, w, "transfer", "1", "--from", parent, "--to", child)
		balance, _ = balance.Sub(base.Tokens(1))
		if got := mustMica(t, w, "query-balance", parent); got != balance.String() {
			t.Fatalf("parent balance %s while watching, want %s", got, balance)
		}
	}
	waitFor := func(b *syncBuffer, what string, want int) {
		t.Helper()
		deadline := time.Now().Add(settleWait)
		for strings.Count(b.String(), what) < want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(watched, "new block", 3)
	waitFor(watched2, `"kind":"NEW_BLOCK"`, 3)
	for _, c := range []*exec.Cmd{watch, watch2} {
		_ = c.Process.Signal(os.Interrupt)
		_ = c.Wait()
	}
	if n := strings.Count(watched.String(), "new block"); n != 3 {
		t.Fatalf("the owner's watch printed %d new blocks, want 3:\n%s", n, watched.String())
	}
	// watch --json prints one notification per line, in the node service's schema.
	newBlocks := 0
	for _, line := range strings.Split(strings.TrimSpace(watched2.String()), "\n") {
		var n struct {
			ChainID string `json:"chainId"`
			Kind    string `json:"kind"`
			Height  uint64 `json:"height"`
			Hash    string `json:"hash"`
		}
		if err := json.Unmarshal([]byte(line), &n); err != nil || n.ChainID != parent {
			t.Fatalf("watch --json line %q: %v", line, err)
		}
		if n.Kind == "NEW_BLOCK" && len(n.Hash) == 64 {
			newBlocks++
		}
	}
	if newBlocks != 3 {
		t.Fatalf("the follower's watch printed %d new blocks, want 3:\n%s", newBlocks, watched2.String())
	}
	// The follower's watch kept its local replica in sync.
	if got := mustMica(t, w2, "local-balance", parent); got != mustMica(t, w, "query-balance", parent) {
		t.Fatalf("the follower's local replica has %s for the parent after watching", got)
	}
}

// startWatch starts `mica watch CHAIN` on a wallet and waits until it listens.
func startWatch(t *testing.T, wallet, chain string, flags ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	watch, watched, _ := startListening(t, wallet, "watching", append([]string{"watch", chain}, flags...)...)
	return watch, watched
}

// startListening starts a long-running mica command on a wallet and waits until its
// stderr says ready (the command says so once its subscriptions are open).
func startListening(t *testing.T, wallet, ready string, args ...string) (cmd *exec.Cmd, stdout, stderr *syncBuffer) {
	t.Helper()
	cmd = exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MICA_WALLET="+wallet)
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), ready) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, stdout, stderr
}
