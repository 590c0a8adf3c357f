package bench

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/localnet"
)

// startNet runs 4 in-process validators (Pebble stores) and returns clients of n
// funded chains.
func startNet(t *testing.T, n int) []*client.ChainClient {
	t.Helper()
	ctx := context.Background()
	seed := make([]byte, 32)
	net, err := localnet.Start(ctx, localnet.Config{Dir: t.TempDir(), Validators: 4, Chains: n, Balance: base.Tokens(1), Keys: localnet.KeysFromSeed(seed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	c, err := net.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ccs []*client.ChainClient
	for i, id := range net.Genesis.ChainIDs() {
		ccs = append(ccs, c.Chain(id, net.Owners[i], nil))
	}
	return ccs
}

// decodeResult checks that a result encodes to the documented JSON fields and back.
func decodeResult(t *testing.T, res *Result) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "chains", "transactions_per_block", "duration_seconds", "blocks", "transactions", "transactions_per_second",
		"finality_p50_ms", "finality_p99_ms", "operations_by_kind", "slow_round_blocks", "errors", "error_kinds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result JSON has no %q: %s", k, b)
		}
	}
	return m
}

// TestRunScenarios runs the transfer scenarios briefly on an in-process network and
// checks what they report: blocks and operations, zero errors, receipts timed from
// the sending block to the receiver's certificate, and two phases split by an event
// that ran once. No timing is asserted.
func TestRunScenarios(t *testing.T) {
	ccs := startNet(t, 3)
	for _, sc := range []Scenario{Transfers, CrossChain} {
		t.Run(string(sc), func(t *testing.T) {
			calls := 0
			res, err := Run(context.Background(), Config{
				Chains: ccs, Scenario: sc, OpsPerBlock: 2, Duration: 600 * time.Millisecond, Now: time.Now,
				FirstPhase: "before", Events: []Event{{At: 300 * time.Millisecond, Name: "after", Do: func() error { calls++; return nil }}},
			})
			if err != nil {
				t.Fatal(err)
			}
			m := decodeResult(t, res)
			// In process, a chain sometimes finds its fast round taken (a client race
			// reported with issue #11); the benchmark then waits and asks for a
			// timeout, as a user's client would. Anything else is a failure.
			sum := 0
			for _, k := range res.ErrorKinds {
				sum += k.Count
				if !strings.HasPrefix(k.Kind, "retryable: round fast at height N is taken") {
					t.Errorf("error %+v", k)
				}
			}
			if sum != res.Errors {
				t.Errorf("error kinds count %d, the result %d", sum, res.Errors)
			}
			if res.Scenario != sc || res.Chains != 3 || res.TxPerBlock != 2 || res.Blocks == 0 || res.Transactions == 0 {
				t.Fatalf("result %+v", res)
			}
			if res.LatencyP50Ms <= 0 || res.LatencyP99Ms < res.LatencyP50Ms {
				t.Errorf("finality p50 %v p99 %v", res.LatencyP50Ms, res.LatencyP99Ms)
			}
			if res.OperationsByKind[kindTransfer] != 2*res.Blocks {
				t.Errorf("%d transfers counted in %d blocks of 2", res.OperationsByKind[kindTransfer], res.Blocks)
			}
			if res.SlowRoundBlocks != 0 {
				t.Errorf("%d transfer blocks left the fast round", res.SlowRoundBlocks)
			}
			// Each chain's blocks receive what its predecessor sent before.
			if res.Receipts == nil || res.Receipts.Count == 0 || res.Receipts.P50Ms <= 0 {
				t.Fatalf("receipts %+v, JSON %s", res.Receipts, m["receipts"])
			}
			switch sc {
			case CrossChain:
				if res.Transactions != res.Receipts.Count || res.LatencyP50Ms != res.Receipts.P50Ms {
					t.Errorf("cross-chain headline %d ops p50 %v, receipts %+v", res.Transactions, res.LatencyP50Ms, res.Receipts)
				}
			case Transfers:
				if res.Transactions != 2*res.Blocks {
					t.Errorf("%d transfers in %d blocks of 2", res.Transactions, res.Blocks)
				}
			}
			if calls != 1 || len(res.Phases) != 2 || res.Phases[0].Name != "before" || res.Phases[1].Name != "after" {
				t.Fatalf("event ran %d times; phases %+v", calls, res.Phases)
			}
			blocks := 0
			for _, p := range res.Phases {
				blocks += p.Blocks
			}
			if blocks != res.Blocks || res.Phases[1].StartSeconds <= 0 {
				t.Errorf("phases %+v for %d blocks", res.Phases, res.Blocks)
			}
			t.Logf("%s: %.0f ops/s, p50 %.2f ms, p99 %.2f ms, receipts %+v, errors %v", sc, res.TxPerSecond, res.LatencyP50Ms, res.LatencyP99Ms, *res.Receipts, res.ErrorKinds)
		})
	}
}

// TestRunRefusesMissingApplication: the application scenarios need their
// applications.
func TestRunRefusesMissingApplication(t *testing.T) {
	ccs := startNet(t, 1)
	for _, sc := range []Scenario{Counter, Fungible, Mix, "nope"} {
		if _, err := Run(context.Background(), Config{Chains: ccs, Scenario: sc, OpsPerBlock: 1, Duration: time.Second, Now: time.Now}); err == nil {
			t.Errorf("%s without applications: accepted", sc)
		}
	}
}

// TestWorkloadMix: mix cycles through the three kinds, each chain starting elsewhere,
// and only transfers and token transfers send to the next chain.
func TestWorkloadMix(t *testing.T) {
	ccs := startNet(t, 3)
	cfg := &Config{Chains: ccs, Scenario: Mix, OpsPerBlock: 2, CounterApp: base.ApplicationID{1}, FungibleApp: base.ApplicationID{2}}
	var firsts []string
	for i := range ccs {
		w := newWorkload(cfg, i)
		var kinds []string
		sent := 0
		for range 3 {
			ops, k, sends := w.block()
			if len(ops) != 2 {
				t.Fatalf("block of %d operations", len(ops))
			}
			kinds = append(kinds, k...)
			sent += sends
			w.advance()
		}
		firsts = append(firsts, kinds[0])
		for _, k := range []string{kindTransfer, kindCounter, kindFungible} {
			if n := countOf(kinds, k); n != 2 {
				t.Errorf("chain %d: %d × %s in 6 operations: %v", i, n, k, kinds)
			}
		}
		if sent != 4 {
			t.Errorf("chain %d: %d sending operations of 6", i, sent)
		}
	}
	slices.Sort(firsts)
	if !slices.Equal(firsts, []string{kindCounter, kindFungible, kindTransfer}) {
		t.Errorf("chains start with %v, want one of each kind", firsts)
	}
	// A token transfer names the next chain and its owner.
	w := newWorkload(&Config{Chains: ccs, Scenario: Fungible, OpsPerBlock: 1, FungibleApp: base.ApplicationID{2}}, 2)
	ops, _, _ := w.block()
	var raw map[string]map[string]string
	if err := json.Unmarshal(ops[0].Bytes, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"owner": ccs[2].Owner().String(), "amount": "1", "target_chain": ccs[0].ID().String(), "target_owner": ccs[0].Owner().String()}
	if !maps.Equal(raw["transfer"], want) {
		t.Errorf("token transfer %s, want %v", ops[0].Bytes, want)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
