package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	"github.com/micachain/mica/internal/netup"
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

// splitReadyWait bounds how long the processes of a split network may take to serve:
// six processes starting on a loaded 2-core machine, one of them creating its tables
// in PostgreSQL.
const splitReadyWait = 90 * time.Second

// startSplit starts a split network on a range of free ports (pickPorts: validators on
// base+0 to +3, the shards on base+10 and +11, the split validator's metrics on their
// twins) and waits until every process serves. When a process finds one of its ports
// taken meanwhile (another test run took it), the network starts again on another
// range, as netUp does. It needs MICA_TEST_POSTGRES.
func startSplit(t *testing.T) *splitNet {
	t.Helper()
	dsn := os.Getenv("MICA_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("MICA_TEST_POSTGRES is not set (run .ci/postgres.sh)")
	}
	for attempt := 1; ; attempt++ {
		p := pickPorts(t)
		if sn := trySplit(t, dsn, p.base); sn != nil {
			return sn
		}
		if attempt == netUpAttempts {
			t.Fatalf("the split network found a port taken in each of %d ranges", attempt)
		}
		t.Logf("the split network on ports %d–%d found one taken; trying another range", p.at(0), p.at(portSpan-1))
	}
}

// splitProcs are the processes of a split network, each logging to its own file.
type splitProcs struct {
	t      *testing.T
	dir    string
	cmds   []*exec.Cmd
	exited []chan struct{} // exited[i] is closed when cmds[i] has exited
	once   sync.Once
}

func (ps *splitProcs) logPath(i int) string {
	return filepath.Join(ps.dir, fmt.Sprintf("proc-%d.log", i))
}

// start starts `mica args...`.
func (ps *splitProcs) start(args ...string) {
	c := exec.Command(binary, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(ps.logPath(len(ps.cmds)))
	if err != nil {
		ps.t.Fatal(err)
	}
	c.Stdout, c.Stderr = log, log
	if err := c.Start(); err != nil {
		ps.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = c.Wait()
		_ = log.Close()
		close(exited)
	}()
	ps.cmds = append(ps.cmds, c)
	ps.exited = append(ps.exited, exited)
}

// logs returns every process's log, with its arguments.
func (ps *splitProcs) logs() string {
	var b strings.Builder
	for i, c := range ps.cmds {
		out, _ := os.ReadFile(ps.logPath(i))
		fmt.Fprintf(&b, "%v:\n%s\n", c.Args[1:], out)
	}
	return b.String()
}

// stop stops every process (SIGTERM, then SIGKILL after 10 s), once.
func (ps *splitProcs) stop() {
	ps.once.Do(func() {
		for _, c := range ps.cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for i, c := range ps.cmds {
			select {
			case <-ps.exited[i]:
			case <-time.After(10 * time.Second):
				_ = c.Process.Kill()
				<-ps.exited[i]
				ps.t.Errorf("%v did not stop on SIGTERM", c.Args)
			}
		}
	})
}

// exitedEarly reports whether a process has exited.
func (ps *splitProcs) exitedEarly() bool {
	for _, e := range ps.exited {
		select {
		case <-e:
			return true
		default:
		}
	}
	return false
}

// trySplit starts a split network on portBase and waits until every process serves. It
// returns nil (its processes stopped) if one of them found a port taken; any other
// failure fails the test.
func trySplit(t *testing.T, dsn string, portBase int) *splitNet {
	t.Helper()
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
	addrs := []string{sn.cfg.Address}
	for _, c := range g.Configs[1:] {
		vc, err := validator.LoadConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, vc.Address)
	}
	ps := &splitProcs{t: t, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(ps.logs())
		}
		ps.stop()
	})
	for i := range 3 {
		sn.metrics = append(sn.metrics, fmt.Sprintf("http://127.0.0.1:%d", portBase+netup.DefaultMetricsOffset+i))
	}
	ps.start("validator", "run", "--config", g.Configs[0], "--shard", "0", "--metrics-listen", strings.TrimPrefix(sn.metrics[1], "http://"))
	ps.start("validator", "run", "--config", g.Configs[0], "--shard", "1", "--metrics-listen", strings.TrimPrefix(sn.metrics[2], "http://"))
	ps.start("proxy", "run", "--config", g.Configs[0], "--metrics-listen", strings.TrimPrefix(sn.metrics[0], "http://"))
	for _, c := range g.Configs[1:] {
		ps.start("validator", "run", "--config", c)
	}
	mustMica(t, w, "wallet", "init", "--genesis", filepath.Join(netDir, "genesis.json"))
	mustMica(t, w, "wallet", "import-chain", g.ChainIDs[0], "--key", g.ChainKeys[0])
	mustMica(t, w, "wallet", "import-chain", g.ChainIDs[1], "--key", g.ChainKeys[1])
	chain, err := base.ParseChainID(g.ChainIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Wait for every process to serve: the split validator's three report ready, and
	// every validator answers a query (through the proxy: from a shard).
	serving := func() error {
		for _, url := range sn.metrics {
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/readyz: %s", url, resp.Status)
			}
		}
		for _, addr := range addrs {
			if _, err := tryBalanceOn(addr, chain); err != nil {
				return fmt.Errorf("validator %s: %w", addr, err)
			}
		}
		return nil
	}
	deadline := time.Now().Add(splitReadyWait)
	for {
		err := serving()
		if err == nil {
			return sn
		}
		if ps.exitedEarly() {
			ps.stop()
			if logs := ps.logs(); portTaken(logs) {
				return nil
			}
			t.Fatalf("a process of the split network exited: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("split network not serving after %v: %v", splitReadyWait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSplitValidator runs one validator of four as separate processes — a proxy and two
// shard processes sharing a PostgreSQL database — and the three others as single
// processes on Pebble, then moves tokens between chains through all of them. The proxy
// and shards talk mutual TLS under the validator's internal CA. It needs
// MICA_TEST_POSTGRES (.ci/postgres.sh provides one).
func TestSplitValidator(t *testing.T) {
	sn := startSplit(t)
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
	// Validators that were not in the quorum catch up in the background (slowly on a
	// loaded machine).
	waitDeadline := time.Now().Add(settleWait)
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
	sn := startSplit(t)
	w, g, cfg := sn.wallet, &sn.g, sn.cfg
	a, _ := base.ParseChainID(g.ChainIDs[0])
	b, _ := base.ParseChainID(g.ChainIDs[1])
	ctx := context.Background()
	proxy, err := rpc.Dial(ctx, cfg.Address, rpc.DialOptions{CallTimeout: testCallTimeout})
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
				// A refused handshake fails at once; the deadline only bounds a
				// machine too loaded to answer (which must not pass for a refusal).
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
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
	deadline := time.Now().Add(settleWait)
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

// TestSplitRetriesTakenPorts: when a shard's port in the range startSplit picked is
// taken before the shard binds it (another test run took it), the split network starts
// again on another range, and serves.
func TestSplitRetriesTakenPorts(t *testing.T) {
	if os.Getenv("MICA_TEST_POSTGRES") == "" {
		t.Skip("MICA_TEST_POSTGRES is not set (run .ci/postgres.sh)")
	}
	first := pickTakenFirst(t, 10)
	sn := startSplit(t)
	if first.base == 0 || sn.cfg.Address == "127.0.0.1:"+first.str(0) {
		t.Fatalf("the split network runs at %s, in the range with a port taken (from %d)", sn.cfg.Address, first.at(0))
	}
	mustMica(t, sn.wallet, "transfer", "1", "--from", sn.g.ChainIDs[0], "--to", sn.g.ChainIDs[1])
}
