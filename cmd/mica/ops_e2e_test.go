package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/netup"
)

// TestOperatorsMetricsHealthAndFees runs `mica net up --policy testnet`, puts a loop of
// transfers on it and checks what an operator sees: each validator's /metrics (non-zero
// block, vote and certificate counters, an RPC latency histogram), /healthz and
// /readyz, pprof off without the flag, the logs; and what a user pays: a transfer
// lowers the sender's balance by amount + fee, and show-block reports that fee.
func TestOperatorsMetricsHealthAndFees(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1", "--policy", "testnet")
	w := net.info.Wallet
	a := walletChain(t, w) // the admin chain
	b := otherWalletChain(t, w, a)
	aID, _ := base.ParseChainID(a)
	addr := net.info.Validators[0].Address

	// Fees: one transfer, then the balance and the block.
	before, _ := balanceOn(t, addr, aID)
	var res struct {
		Height uint64 `json:"height"`
	}
	if err := json.Unmarshal([]byte(mustMica(t, w, "--json", "transfer", "1", "--from", a, "--to", b)), &res); err != nil {
		t.Fatal(err)
	}
	after, _ := waitHeightOn(t, addr, aID, base.BlockHeight(res.Height+1))
	var sb struct {
		Fees struct {
			Total string   `json:"total"`
			PerTx []string `json:"perTransaction"`
			Exact bool     `json:"exact"`
		} `json:"fees"`
		Operations []struct {
			Index   int    `json:"index"`
			Kind    string `json:"kind"`
			Summary string `json:"summary"`
			JSON    struct {
				Amount string `json:"amount"`
			} `json:"json"`
		} `json:"operations"`
	}
	show := mustMica(t, w, "--json", "show-block", a, strconv.FormatUint(res.Height, 10))
	if err := json.Unmarshal([]byte(show), &sb); err != nil {
		t.Fatalf("show-block --json: %v\n%s", err, show)
	}
	fee, err := base.ParseAmount(sb.Fees.Total)
	if err != nil || fee.IsZero() || !sb.Fees.Exact || len(sb.Fees.PerTx) != 1 || sb.Fees.PerTx[0] != sb.Fees.Total {
		t.Fatalf("show-block fees %+v on a testnet-policy network: %v\n%s", sb.Fees, err, show)
	}
	// The transaction is structured JSON, not prose.
	if len(sb.Operations) != 1 || sb.Operations[0].Index != 0 || sb.Operations[0].Kind != "Transfer" || sb.Operations[0].JSON.Amount != "1" {
		t.Fatalf("show-block --json operations: %+v\n%s", sb.Operations, show)
	}
	paid, _ := before.Sub(after)
	if want, _ := base.Tokens(1).Add(fee); paid != want {
		t.Fatalf("the transfer cost %s; want 1 + the fee show-block reports (%s) = %s", paid, fee, want)
	}
	text := mustMica(t, w, "show-block", a, strconv.FormatUint(res.Height, 10))
	if !strings.Contains(text, "fees: "+fee.String()) {
		t.Fatalf("show-block text lacks the fee %s:\n%s", fee, text)
	}
	t.Logf("a transfer on the testnet policy pays %s (%s)", fee, sb.Operations[0].Summary)

	// Load: a loop of transfers both ways.
	for i := range 8 {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		mustMica(t, w, "transfer", "0.5", "--from", from, "--to", to)
	}

	// Every validator handles every certificate, but a new proposal goes to a quorum
	// subset of validators first (ADR 0006), so a validator may have voted on, and
	// executed, none of these blocks: those two counters need only be positive on a
	// quorum. The left-out validators get the certificates in the background, so the
	// every-validator counters are polled.
	voted := 0
	for _, v := range net.info.Validators {
		if v.Metrics == "" {
			t.Fatalf("network.json has no metrics URL for %s", v.Name)
		}
		var body string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var code int
			code, body = httpGet(t, v.Metrics+"/metrics")
			if code != 200 {
				t.Fatalf("%s /metrics: %d", v.Name, code)
			}
			if metricValue(t, body, "mica_blocks_committed_total") > 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, series := range []string{
			"mica_blocks_committed_total",
			`mica_certificates_handled_total{kind="confirmed"}`,
			"mica_transactions_committed_total",
		} {
			if metricValue(t, body, series) <= 0 {
				t.Errorf("%s: %s is not positive after the transfers", v.Name, series)
			}
		}
		executed := metricValue(t, body, "mica_blocks_executed_total")
		signed := metricValue(t, body, `mica_votes_signed_total{kind="confirmed"}`)
		if executed > 0 && signed > 0 {
			voted++
		}
		if !regexp.MustCompile(`mica_rpc_duration_seconds_count\{code="OK",method="/[^"]+",server="public"\} [1-9]`).MatchString(body) {
			t.Errorf("%s: no RPC latency histogram with calls", v.Name)
		}
		for _, gauge := range []string{"mica_chains_loaded", "mica_cross_chain_pending_deliveries", "mica_storage_disk_bytes", "mica_wasm_modules_cached"} {
			if !regexp.MustCompile(`(?m)^` + gauge + ` `).MatchString(body) {
				t.Errorf("%s: gauge %s missing", v.Name, gauge)
			}
		}
		if code, _ := httpGet(t, v.Metrics+"/healthz"); code != 200 {
			t.Errorf("%s /healthz: %d", v.Name, code)
		}
		if code, _ := httpGet(t, v.Metrics+"/readyz"); code != 200 {
			t.Errorf("%s /readyz: %d", v.Name, code)
		}
		if code, _ := httpGet(t, v.Metrics+"/debug/pprof/"); code != 404 {
			t.Errorf("%s serves pprof without --pprof: %d", v.Name, code)
		}
		log, err := os.ReadFile(v.Log)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`msg="validator serving"`, `msg="metrics serving"`} {
			if !strings.Contains(string(log), want) {
				t.Errorf("%s log lacks %s:\n%s", v.Name, want, log)
			}
		}
	}
	if quorum := len(net.info.Validators) - (len(net.info.Validators)-1)/3; voted < quorum {
		t.Errorf("%d validators executed blocks and signed confirmed votes; want at least a quorum, %d", voted, quorum)
	}

	// net up says where each validator's metrics and log are, what it stops on
	// SIGINT, and that it stopped; the validators log their shutdown.
	net.stop()
	v0 := net.info.Validators[0]
	if v0.Address == "" || !strings.HasPrefix(v0.Metrics, "http://127.0.0.1:") {
		t.Fatalf("net up's network file has validator-0 at %q, metrics %q", v0.Address, v0.Metrics)
	}
	out := strings.Join(net.lines(), "\n")
	for _, want := range []string{
		fmt.Sprintf("# validator-0: %s  metrics %s/metrics  log %s", v0.Address, v0.Metrics, v0.Log),
		"stopping 4 validators (validator-0 pid ",
		"stopped; the network's state stays under ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("net up's output lacks %q:\n%s", want, out)
		}
	}
	for _, v := range net.info.Validators {
		if log, err := os.ReadFile(v.Log); err != nil || !strings.Contains(string(log), `msg="validator stopped"`) {
			t.Errorf("%s did not log its shutdown (%v)", v.Name, err)
		}
	}
}

// TestNetUpRefusesAnotherPolicy: --policy on an existing network must match it, and a
// bad --policy or --log-level is refused before anything starts.
func TestNetUpRefusesBadOperatorFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"net", "up", "--path", dir, "--policy", "expensive"},
		{"net", "up", "--path", dir, "--log-level", "loud"},
		{"net", "up", "--path", dir, "--log-format", "xml"},
	} {
		_, stderr, err := mica(t, filepath.Join(dir, "wallet"), args...)
		if err == nil || !strings.Contains(stderr, "is not one of") && !strings.Contains(stderr, "unknown policy") {
			t.Errorf("mica %s: err %v, stderr %q", strings.Join(args, " "), err, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "network.json")); err == nil {
		t.Fatal("a refused net up created a network")
	}
}

// TestNetUpPortTaken: a validator port already in use (another network, another
// program) stops net up at once with a sentence naming the port, instead of a validator
// that fails with an empty log or another network answering in its place.
func TestNetUpPortTaken(t *testing.T) {
	p := freePorts(t)
	for _, c := range []struct {
		port, what string
		args       []string
	}{
		{p.str(0), "gRPC", []string{"--port-base", p.str(0)}},
		// The metrics ports of validators at p.at(10)…: validator 1's is taken.
		{strconv.Itoa(p.at(11) + netup.DefaultMetricsOffset), "metrics", []string{"--port-base", p.str(10), "--metrics-port-base", strconv.Itoa(p.at(10) + netup.DefaultMetricsOffset)}},
	} {
		lis, err := net.Listen("tcp", "127.0.0.1:"+c.port)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		_, stderr, err := mica(t, filepath.Join(dir, "wallet"), append([]string{"net", "up", "--path", filepath.Join(dir, "net")}, c.args...)...)
		lis.Close()
		if err == nil || !strings.Contains(stderr, c.what+" port 127.0.0.1:"+c.port+", already taken") {
			t.Errorf("%s port %s taken: err %v, stderr %q", c.what, c.port, err, stderr)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
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

// metricValue returns the value of one series in a Prometheus text exposition.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Errorf("series %s missing", series)
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", series, err))
	}
	return v
}
