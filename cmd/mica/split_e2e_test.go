package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/validator"
)

// splitNet is a network of four validators whose first one runs as a proxy and two
// shard processes sharing a PostgreSQL database; the three others are single processes
// on Pebble.
type splitNet struct {
	wallet string
	cfg    *validator.Config // the split validator
	// metrics are the operator endpoints of the proxy and shards 0 and 1.
	metrics []string
	g       struct {
		Configs   []string `json:"configs"`
		ChainIDs  []string `json:"chain_ids"`
		ChainKeys []string `json:"chain_keys"`
	}
}

// startSplit starts a split network on portBase (validators) and portBase+10, +11
// (shards) and waits until it serves. It needs MICA_TEST_POSTGRES.
func startSplit(t *testing.T, portBase int) *splitNet {
	t.Helper()
	dsn := os.Getenv("MICA_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MICA_TEST_POSTGRES is not set (run .ci/postgres.sh)")
	}
	sn := &splitNet{}
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	w := filepath.Join(dir, "wallet")
	sn.wallet = w
	gen := mustMica(t, w, "validator", "generate", "--path", netDir, "--validators", "4", "--port-base", fmt.Sprint(portBase), "--initial-chains", "2", "--json")
	g := &sn.g
	if err := json.Unmarshal([]byte(gen), g); err != nil {
		t.Fatalf("%v: %s", err, gen)
	}
	// Validator 0 becomes a proxy and two shard processes over PostgreSQL.
	cfg, err := validator.LoadConfig(g.Configs[0])
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{"name": cfg.Name, "address": cfg.Address, "shards": 2, "key_file": "key", "genesis": "../genesis.json",
		"store": dsn, "store_table": fmt.Sprintf("mica_e2e_%d", time.Now().UnixNano()),
		"shard_addresses": []string{fmt.Sprintf("127.0.0.1:%d", portBase+10), fmt.Sprintf("127.0.0.1:%d", portBase+11)}}
	b, _ := json.MarshalIndent(raw, "", "  ")
	if err := os.WriteFile(g.Configs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if sn.cfg, err = validator.LoadConfig(g.Configs[0]); err != nil {
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
	for i := range 3 {
		sn.metrics = append(sn.metrics, fmt.Sprintf("http://127.0.0.1:%d", portBase+10000+i))
	}
	start("validator", "run", "--config", g.Configs[0], "--shard", "0", "--metrics-listen", strings.TrimPrefix(sn.metrics[1], "http://"))
	start("validator", "run", "--config", g.Configs[0], "--shard", "1", "--metrics-listen", strings.TrimPrefix(sn.metrics[2], "http://"))
	start("proxy", "run", "--config", g.Configs[0], "--metrics-listen", strings.TrimPrefix(sn.metrics[0], "http://"))
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
	return sn
}

// TestSplitValidator runs one validator of four as separate processes — a proxy and two
// shard processes sharing a PostgreSQL database — and the three others as single
// processes on Pebble, then moves tokens between chains through all of them. The proxy
// and shards talk mutual TLS under the validator's internal CA. It needs
// MICA_TEST_POSTGRES (.ci/postgres.sh provides one).
func TestSplitValidator(t *testing.T) {
	sn := startSplit(t, freePorts(t).base)
	w, g, cfg := sn.wallet, &sn.g, sn.cfg
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
	// Each process of the split validator serves its own metrics: the proxy its public
	// RPC latencies, the shards their blocks and internal RPC latencies (chains are
	// spread by hash, so one shard may have had nothing to do).
	var committed float64
	internal := 0
	for i, url := range sn.metrics {
		if code, _ := httpGet(t, url+"/readyz"); code != 200 {
			t.Errorf("%s /readyz: %d", url, code)
		}
		_, body := httpGet(t, url+"/metrics")
		role, server := "shard", "internal"
		if i == 0 {
			role, server = "proxy", "public"
		}
		if !strings.Contains(body, `mica_validator_info{role="`+role+`",validator="validator-0"} 1`) {
			t.Errorf("%s: no validator_info for the %s", url, role)
		}
		served := regexp.MustCompile(`mica_rpc_duration_seconds_count\{code="OK",method="[^"]+",server="` + server + `"\} [1-9]`).MatchString(body)
		if i == 0 && !served {
			t.Errorf("%s: no public RPC latencies at the proxy", url)
		}
		if i > 0 {
			committed += metricValue(t, body, "mica_blocks_committed_total")
			if served {
				internal++
			}
		}
	}
	if internal == 0 {
		t.Error("no shard of the split validator has internal RPC latencies")
	}
	if committed == 0 {
		t.Error("the shards of the split validator count no committed block")
	}
}

// TestAttackSplitShardPortWithoutCertificate: against real shard processes, a stranger
// on a shard port — in plaintext, and over TLS without a client certificate — tries to
// inject a bundle crediting chain B from nowhere and a confirmation. The calls fail,
// nothing reaches the shared store (B's balance, next height and inbox at the proxy are
// unchanged), and transfers through the split validator still commit.
func TestAttackSplitShardPortWithoutCertificate(t *testing.T) {
	sn := startSplit(t, freePorts(t).base)
	w, g, cfg := sn.wallet, &sn.g, sn.cfg
	a, _ := base.ParseChainID(g.ChainIDs[0])
	b, _ := base.ParseChainID(g.ChainIDs[1])
	ctx := context.Background()
	proxy, err := rpc.Dial(ctx, cfg.Address, rpc.DialOptions{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	stateOf := func() *protocol.ChainInfo {
		info, err := proxy.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: b, RequestPendingBundles: true})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	before := stateOf()
	forged := &protocol.CrossChainRequest{Sender: a, Recipient: b, Bundles: []protocol.EpochBundle{{Bundle: protocol.MessageBundle{
		Height: 0, Timestamp: 1, CertificateHash: base.Hash{1},
		Messages: []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1_000_000)}}}},
	}}}}
	confirm := &protocol.CrossChainRequest{Confirm: true, Sender: a, Recipient: b, LatestHeight: 100}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":                 insecure.NewCredentials(),
		"TLS without a certificate": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}), //nolint:gosec // the attacker
	} {
		for _, addr := range cfg.ShardAddresses {
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			api := pb.NewValidatorWorkerClient(cc)
			for _, req := range []*protocol.CrossChainRequest{forged, confirm} {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := api.HandleCrossChainRequest(cctx, &pb.CrossChainRequest{Payload: codec.Marshal(req)})
				cancel()
				if status.Code(err) != codes.Unavailable {
					t.Errorf("%s to shard %s: %v, want Unavailable (handshake failure)", name, addr, err)
				}
			}
			_ = cc.Close()
		}
	}
	after := stateOf()
	if after.ChainBalance != before.ChainBalance || after.NextBlockHeight != before.NextBlockHeight || len(after.RequestedPendingBundles) != len(before.RequestedPendingBundles) {
		t.Fatalf("chain B changed: balance %s → %s, height %d → %d, pending %d → %d", before.ChainBalance, after.ChainBalance,
			before.NextBlockHeight, after.NextBlockHeight, len(before.RequestedPendingBundles), len(after.RequestedPendingBundles))
	}
	// Tokens move both ways through the split validator, as in TestSplitValidator.
	mustMica(t, w, "transfer", "10", "--from", g.ChainIDs[0], "--to", g.ChainIDs[1])
	mustMica(t, w, "process-inbox", g.ChainIDs[1])
	mustMica(t, w, "transfer", "4", "--from", g.ChainIDs[1], "--to", g.ChainIDs[0])
	mustMica(t, w, "process-inbox", g.ChainIDs[0])
	deadline := time.Now().Add(15 * time.Second)
	for {
		ba, errA := tryBalanceOn(cfg.Address, a)
		bb, errB := tryBalanceOn(cfg.Address, b)
		if errA == nil && errB == nil && ba == base.Tokens(994) && bb == base.Tokens(1006) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("split validator: A %s (%v), B %s (%v); want 994 and 1006", ba, errA, bb, errB)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
