package validator

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// oneValidator writes a one-validator network on a free port and returns its config.
func oneValidator(t *testing.T, policy string) *Config {
	t.Helper()
	dir := t.TempDir()
	p, err := Policy(policy)
	if err != nil {
		t.Fatal(err)
	}
	committee, paths, err := Generate(GenerateOptions{Dir: dir, Validators: 1, PortBase: 20000, Policy: p, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.GenerateKey(crypto.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g := &protocol.GenesisConfig{NetworkName: "test", Timestamp: 1, Committee: *committee,
		Chains: []protocol.GenesisChain{{Ownership: protocol.SingleSuperOwner(k.Public().Owner()), Balance: base.Tokens(1)}}}
	if err := WriteGenesis(filepath.Join(dir, "genesis.json"), g); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Address = "127.0.0.1:0"
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsEndpoint: with metrics_listen a validator serves /metrics (its identity,
// the worker counters, the gauges), /healthz and /readyz while it runs, pprof only with
// the flag, and stops serving them when it stops.
func TestMetricsEndpoint(t *testing.T) {
	cfg := oneValidator(t, PolicyFree)
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.Pprof = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + v.MetricsAddr()
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before Run: %d %s", code, body)
	}
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get(t, base+"/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d after 10 s", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`mica_validator_info{role="validator",validator="validator-0"} 1`,
		"mica_blocks_committed_total 0",
		"mica_chains_loaded ",
		"mica_cross_chain_pending_deliveries 0",
		"mica_storage_disk_bytes ",
		"mica_storage_commits_total ",
		"mica_storage_lazy_commits_total ",
		"mica_storage_keys_written_total ",
		"mica_storage_wal_syncs_total ",
		"mica_storage_wal_bytes_total ",
		"mica_storage_wal_holds_total ",
		"mica_storage_flushes_total ",
		"mica_storage_compacted_bytes_total ",
		"# TYPE mica_storage_compaction_debt_bytes gauge",
		"# TYPE mica_storage_l0_files gauge",
		"mica_storage_read_amp ",
		"mica_storage_blob_files ",
		"mica_wasm_modules_cached 0",
		"mica_wasm_cache_dir_bytes ",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "mica_storage_disk_bytes 0\n") {
		t.Error("storage size is 0 for an open Pebble store")
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with pprof: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the metrics endpoint still answers after the validator stopped")
	}
}

// TestMetricsListenRefused: a metrics address that cannot be listened on fails Open
// with a clear error and releases the store, so that a corrected start works.
func TestMetricsListenRefused(t *testing.T) {
	cfg := oneValidator(t, PolicyFree)
	for _, bad := range []string{"not-an-address", "127.0.0.1:99999"} {
		cfg.MetricsListen = bad
		if _, err := Open(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "metrics: listen on "+bad) {
			t.Fatalf("metrics_listen %q: %v", bad, err)
		}
	}
	cfg.MetricsListen = ""
	v, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("the store was not released by the failed starts: %v", err)
	}
	v.Close()
}

func TestPolicyProfiles(t *testing.T) {
	free, err := Policy(PolicyFree)
	if err != nil || free.HasFees() {
		t.Fatalf("free: %v %v", free.HasFees(), err)
	}
	tn, err := Policy(PolicyTestnet)
	if err != nil || !tn.HasFees() || !tn.FuelUnit.IsZero() || !tn.ByteWritten.IsZero() {
		t.Fatalf("testnet: %+v %v", tn, err)
	}
	if tn.MaxBlockSize != free.MaxBlockSize || tn.MaxFuelPerBlock != free.MaxFuelPerBlock {
		t.Fatal("testnet changes the limits")
	}
	if _, err := Policy("gold"); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
