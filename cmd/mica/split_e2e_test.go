package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/validator"
)

// TestSplitValidator runs one validator of four as separate processes — a proxy and two
// shard processes sharing a PostgreSQL database — and the three others as single
// processes on Pebble, then moves tokens between chains through all of them. It needs
// MICA_TEST_POSTGRES (.ci/postgres.sh provides one).
func TestSplitValidator(t *testing.T) {
	dsn := os.Getenv("MICA_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MICA_TEST_POSTGRES is not set (run .ci/postgres.sh)")
	}
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	w := filepath.Join(dir, "wallet")
	gen := mustMica(t, w, "validator", "generate", "--path", netDir, "--validators", "4", "--port-base", "13400", "--initial-chains", "2", "--json")
	var g struct {
		Configs   []string `json:"configs"`
		ChainIDs  []string `json:"chain_ids"`
		ChainKeys []string `json:"chain_keys"`
	}
	if err := json.Unmarshal([]byte(gen), &g); err != nil {
		t.Fatalf("%v: %s", err, gen)
	}
	// Validator 0 becomes a proxy and two shard processes over PostgreSQL.
	cfg, err := validator.LoadConfig(g.Configs[0])
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{"name": cfg.Name, "address": cfg.Address, "shards": 2, "key_file": "key", "genesis": "../genesis.json",
		"store": dsn, "store_table": fmt.Sprintf("mica_e2e_%d", time.Now().UnixNano()), "shard_addresses": []string{"127.0.0.1:13410", "127.0.0.1:13411"}}
	b, _ := json.MarshalIndent(raw, "", "  ")
	if err := os.WriteFile(g.Configs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	start := func(args ...string) {
		c := exec.Command(binary, args...)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("proc-%d.log", len(procs))))
		if err != nil {
			t.Fatal(err)
		}
		c.Stdout, c.Stderr = log, log
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i := range procs {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("proc-%d.log", i)))
				t.Logf("%v:\n%s", procs[i].Args[1:], b)
			}
		}
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
				t.Errorf("%v did not stop on SIGTERM", p.Args)
			}
		}
	})
	start("validator", "run", "--config", g.Configs[0], "--shard", "0")
	start("validator", "run", "--config", g.Configs[0], "--shard", "1")
	start("proxy", "run", "--config", g.Configs[0])
	for _, c := range g.Configs[1:] {
		start("validator", "run", "--config", c)
	}
	mustMica(t, w, "wallet", "init", "--genesis", filepath.Join(netDir, "genesis.json"))
	mustMica(t, w, "wallet", "import-chain", g.ChainIDs[0], "--key", g.ChainKeys[0])
	mustMica(t, w, "wallet", "import-chain", g.ChainIDs[1], "--key", g.ChainKeys[1])
	// Wait for every process to serve.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := mica(t, w, "sync", g.ChainIDs[0]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_, errOut, _ := mica(t, w, "sync", g.ChainIDs[0])
			t.Fatalf("network not serving: %s", errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	a, bID := g.ChainIDs[0], g.ChainIDs[1]
	mustMica(t, w, "transfer", "10", "--from", a, "--to", bID)
	mustMica(t, w, "process-inbox", bID)
	mustMica(t, w, "transfer", "4", "--from", bID, "--to", a)
	mustMica(t, w, "process-inbox", a)
	aChain, _ := base.ParseChainID(a)
	bChain, _ := base.ParseChainID(bID)
	addrs := []string{cfg.Address}
	for _, c := range g.Configs[1:] {
		vc, err := validator.LoadConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, vc.Address)
	}
	// Validators that were not in the quorum catch up in the background.
	waitDeadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			ba, errA := tryBalanceOn(addr, aChain)
			bb, errB := tryBalanceOn(addr, bChain)
			if errA == nil && errB == nil && ba == base.Tokens(994) && bb == base.Tokens(1006) {
				break
			}
			if time.Now().After(waitDeadline) {
				t.Fatalf("validator %s: A %s (%v), B %s (%v); want 994 and 1006", addr, ba, errA, bb, errB)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
