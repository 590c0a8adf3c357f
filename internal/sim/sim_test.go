package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
)

var seedFlag = flag.Uint64("seed", 0, "run only this seed in TestSimulator (or TestTwoFaultyValidators), and print its trace")

// TestSimulator runs 1,000 seeded runs (100 with -short) of 4 validators, one of them
// faulty with a fault type chosen from the seed. Reproduce a failure with
// -run 'TestSimulator/seed=N$' or -run TestSimulator -seed=N.
func TestSimulator(t *testing.T) {
	runSeeds(t, 1000, 100, Config{})
}

// TestTwoFaultyValidators runs with two faulty validators out of four (at most one
// Byzantine): more than f, so clients may get no quorum until the network heals, but
// safety must hold and the healed network must drain.
func TestTwoFaultyValidators(t *testing.T) {
	runSeeds(t, 300, 50, Config{Faulty: 2, Steps: 60})
}

func runSeeds(t *testing.T, n, short int, cfg Config) {
	if *seedFlag != 0 {
		res, err := Run(*seedFlag, cfg)
		logTrace(t, res)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if testing.Short() {
		n = short
	}
	// Each seed is a parallel subtest: the test runner runs GOMAXPROCS of them at once.
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			res, err := Run(seed, cfg)
			if err != nil {
				logTrace(t, res)
				t.Fatal(err)
			}
		})
	}
}

func logTrace(t *testing.T, res *Result) {
	t.Helper()
	if res != nil {
		t.Logf("%s\n%s", res.Summary(), strings.Join(res.Trace, "\n"))
	}
}

// TestFaultProgress runs each fault type on one validator with a fixed seed and checks
// that the network makes progress: blocks are committed, transfers complete and
// balances move. (Seed 8 does not hit the known bugs of the TestBug* tests below.)
func TestFaultProgress(t *testing.T) {
	for _, f := range append([]Fault{None}, FaultTypes()...) {
		t.Run(f.String(), func(t *testing.T) {
			res, err := Run(8, Config{Faults: []Fault{None, f, None, None}, Steps: 40})
			if err != nil {
				logTrace(t, res)
				t.Fatal(err)
			}
			s := res.Stats
			if s.Blocks < 10 || s.TransfersOK < 5 {
				t.Errorf("little progress: %d blocks, %d of %d transfers committed", s.Blocks, s.TransfersOK, s.Transfers)
			}
			moved := false
			for i := range 4 { // the root chains
				moved = moved || res.Balances[i] != base.Tokens(1000)
			}
			if !moved {
				t.Error("no root chain's balance moved")
			}
			st := res.Nodes[1]
			if exercised := map[Fault]bool{
				None:         true,
				Offline:      st.Refused > 0,
				CrashRestart: st.Crashes+st.MidRequestCrashes > 0 && st.Restarts > 0,
				Slow:         st.Late > 0 && st.Deferred > 0,
				Dropping:     st.Dropped > 0,
				Byzantine:    st.Lies > 0 && st.Equivocations > 0,
			}[f]; !exercised {
				t.Errorf("the fault was not exercised: %+v", st)
			}
			if f != None && f != Byzantine && s.Retryable != 0 {
				t.Errorf("%d client calls failed with one %s validator out of four", s.Retryable, f)
			}
			t.Logf("%s\nfaulty validator: %+v", res.Summary(), st)
		})
	}
}

// TestThreeOfFour checks that transfers complete at the first attempt while one
// validator is offline, crashing, slow or dropping messages: three of four is a quorum.
func TestThreeOfFour(t *testing.T) {
	ctx := context.Background()
	for _, f := range []Fault{Offline, CrashRestart, Slow, Dropping} {
		t.Run(f.String(), func(t *testing.T) {
			net, err := NewNetwork(11, NetworkConfig{Faults: []Fault{f, None, None, None}})
			if err != nil {
				t.Fatal(err)
			}
			bad := net.Nodes[0]
			switch f {
			case CrashRestart:
				bad.params.crash, bad.params.restart, bad.params.midCrash = 0.5, 0.5, 0.3
			case Slow:
				bad.params.late = 1
			case Dropping:
				bad.params.dropRequest, bad.params.dropResponse = 0.5, 0.5
			}
			a, b := net.Chains[0], net.Chains[1]
			const n = 6
			for i := 0; i < n; i++ {
				net.Tick()
				cert, err := a.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: b.ID}, base.Tokens(1))
				if err != nil || cert == nil {
					t.Fatalf("transfer %d: %v", i, err)
				}
			}
			net.Tick()
			if _, err := b.Client.ProcessInbox(ctx); err != nil {
				t.Fatalf("process inbox: %v", err)
			}
			got, err := b.Owner.Client.LocalBalance(ctx, base.Account{Chain: b.ID})
			if err != nil {
				t.Fatal(err)
			}
			if want := base.Tokens(1000 + n); got != want {
				t.Errorf("recipient balance %s, want %s", got, want)
			}
			if v := net.Violations(); len(v) > 0 {
				t.Error(v)
			}
			t.Logf("faulty validator: %+v", bad.Stats)
		})
	}
}

// TestReproducible checks that a seed determines a run byte for byte.
func TestReproducible(t *testing.T) {
	seen := map[[32]byte]uint64{}
	for _, tc := range []struct {
		seed uint64
		cfg  Config
	}{
		{3, Config{}},
		{4, Config{Faults: []Fault{Byzantine, None, None, None}}},
		{5, Config{Faults: []Fault{None, CrashRestart, None, Slow}}},
		{6, Config{Faulty: 2, Steps: 40}},
	} {
		a, errA := Run(tc.seed, tc.cfg)
		b, errB := Run(tc.seed, tc.cfg)
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Errorf("seed %d: errors differ: %v / %v", tc.seed, errA, errB)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("seed %d: results differ:\n%s\n%s", tc.seed, a.Summary(), b.Summary())
		}
		if len(a.Blocks) == 0 || a.Digest == ([32]byte{}) {
			t.Errorf("seed %d: empty result", tc.seed)
		}
		if s, dup := seen[a.Digest]; dup {
			t.Errorf("seeds %d and %d have the same digest", s, tc.seed)
		}
		seen[a.Digest] = tc.seed
	}
}

// TestInvariantsDetectViolations checks that the invariant checks are not vacuous: each
// breaks when the network is tampered with after a clean run.
func TestInvariantsDetectViolations(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) *runner {
		net, err := NewNetwork(2, NetworkConfig{})
		if err != nil {
			t.Fatal(err)
		}
		r := &runner{seed: 2, cfg: Config{Steps: 30}, net: net, res: &Result{}}
		r.cfg.setDefaults()
		r.rng = newRunRand(2)
		if err := r.run(); err != nil {
			t.Fatalf("clean run: %v", err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, r *runner)
		want   string
	}{
		{"conflicting block", func(t *testing.T, r *runner) {
			// A client store holds another block at height 0 of chain 0.
			ch := r.net.Chains[0]
			block := prototest.TransferBlock(ch.ID, 0, nil, ch.Owner.Address(), base.Account{Chain: ch.ID}, 1)
			var b kv.Batch
			storage.PutCertificate(&b, prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, nil))
			if err := r.net.Owners[1].store.Write(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}, "invariant 1"},
		{"supply", func(t *testing.T, r *runner) {
			r.net.Chains = append(r.net.Chains, r.net.Chains[0]) // counted twice
		}, "invariant 2"},
		{"messages", func(t *testing.T, r *runner) {
			// Forget the recipient of some bundle: its receipts disappear.
			for i, ch := range r.net.Chains {
				if i > 0 && r.receivedAny(t, ch) {
					r.net.Chains = append(r.net.Chains[:i:i], r.net.Chains[i+1:]...)
					return
				}
			}
			t.Fatal("no chain received anything")
		}, "invariant 3"},
		{"double vote", func(t *testing.T, r *runner) {
			n := r.net.Nodes[0]
			for k := range r.net.votes {
				if k.node == 0 {
					v := n.sign(protocol.LiteValue{ValueHash: base.Hash{1}, ChainID: k.chain, Height: k.height, Kind: k.kind}, k.round)
					r.net.observeInfo(n, &protocol.ChainInfo{Manager: protocol.ManagerInfo{PendingVote: v}})
					return
				}
			}
			t.Fatal("validator 0 never voted")
		}, "invariant 5 (votes)"},
		{"lost acknowledged block", func(t *testing.T, r *runner) {
			r.net.acks = append(r.net.acks, ackRecord{node: 2, chain: r.net.Chains[0].ID, height: 999, hash: base.Hash{7}})
		}, "invariant 5 (durability)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := setup(t)
			tc.tamper(t, r)
			err := r.checkInvariants()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func (r *runner) receivedAny(t *testing.T, ch *Chain) bool {
	certs, err := r.net.Nodes[0].Storage().Certificates(context.Background(), ch.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if len(c.Block.Proposed.Bundles()) > 0 {
			return true
		}
	}
	return false
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(10)
	c.Advance(5)
	c.AdvanceTo(12)
	if c.Now() != 15 {
		t.Fatalf("now %d, want 15", c.Now())
	}
	c.AdvanceTo(20)
	if c.Now() != 20 {
		t.Fatalf("now %d, want 20", c.Now())
	}
}

// BenchmarkFastRoundCommit measures a full fast-round commit of a one-transfer block
// through the simulator (four healthy validators): one chain-state query (sync, pending
// bundles and round state together), proposal and votes, certificate broadcast and
// local execution.
func BenchmarkFastRoundCommit(b *testing.B) {
	ctx := context.Background()
	net, err := NewNetwork(1, NetworkConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ch := net.Chains[0]
	to := base.Account{Chain: ch.ID, Owner: ch.Owner.Address()}
	for b.Loop() {
		cert, err := ch.Client.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1))
		if err != nil || cert == nil {
			b.Fatalf("transfer: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// --- Bugs found by the simulator in other packages. Each test fails until fixed. ---

// TestBugRestartLosesDeliveries (internal/worker): cross-chain deliveries are scheduled
// only in memory. A validator that crashes after durably executing a confirmed block
// but before delivering its bundles restarts with the outbox entries in its store and
// nothing scheduled: the bundles never reach the recipient's inbox on that validator
// (until some client happens to re-send a stale certificate of the sender chain, which
// clients never do for a validator already past that height). The validator then refuses
// to vote for every block that receives them (missing bundle), and the client's update
// cannot help, so one restart plus one offline validator stops the recipient chain.
func TestBugRestartLosesDeliveries(t *testing.T) {
	ctx := context.Background()
	net, err := NewNetwork(1, NetworkConfig{Faults: []Fault{Offline, None, None, None}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Chains[0], net.Chains[1]
	v0 := net.Nodes[0]
	// A sends B 5 tokens; validator 0 is offline and misses it.
	cert, err := a.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: b.ID}, base.Tokens(5))
	if err != nil {
		t.Fatal(err)
	}
	// Validator 0 executes the certificate, then crashes before its worker delivers the
	// bundle (the worker call is made directly, so the simulator does not deliver).
	if _, err := v0.worker.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	v0.crash()
	v0.restart()
	v0.Fault = None
	net.settle()
	pending, err := v0.worker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: b.ID, RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending.RequestedPendingBundles) != 1 {
		t.Errorf("after restart, validator 0 has %d pending bundles for chain B, want 1 (the worker forgot the delivery)", len(pending.RequestedPendingBundles))
	}
	// Consequence: with one other validator offline, B can no longer receive its bundle.
	net.Nodes[1].Fault = Offline
	if _, err := b.Client.ProcessInbox(ctx); err != nil {
		t.Errorf("chain B cannot process its inbox with 3 of 4 validators up: %v", err)
	}
}

// TestBugClientTrustsForgedFastLock (internal/client): roundState takes a fast lock
// (ManagerInfo.LockingFast) from any single validator once its signature checks out,
// without checking that the signer is a super owner of the chain (Linera verifies it by
// handling the proposal on its local node). A Byzantine validator reports a fast lock on
// a block it signed itself; on a chain with regular owners (not in the fast round) the
// client then stages that block and fails the user's operation with ErrInvalid
// ("unauthorized: debiting the chain account: <validator's address> is not an owner").
// One Byzantine validator out of four thus blocks every regular-owner chain.
func TestBugClientTrustsForgedFastLock(t *testing.T) {
	ctx := context.Background()
	net, err := NewNetwork(1, NetworkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	parent := net.Chains[0]
	id, _, err := parent.Client.OpenChain(ctx, protocol.SingleOwner(parent.Owner.Address()), base.Tokens(10))
	if err != nil {
		t.Fatal(err)
	}
	child := net.addChain(id, []*Owner{parent.Owner}, false, false)
	byz := net.Nodes[0]
	byz.Fault, byz.params.lie, byz.lieKinds = Byzantine, 1, []int{6}
	_, err = child.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: parent.ID}, base.Tokens(1))
	if err != nil {
		t.Errorf("transfer on a regular-owner chain with one Byzantine validator of four: %v", err)
	}
}

// TestBugLaggingValidatorsReportedAsInvalid (internal/client): certificateFrom counts
// every ErrInvalid answer as a refusal, and ErrWrongHeight is of class ErrInvalid. When
// f+1 validators lag behind the chain (they missed a certificate) and pushing them the
// missing certificate fails (the update's requests are lost), the client concludes that
// "at least one honest validator refused the block" and returns ErrInvalid ("unexpected
// block height") for a valid operation, instead of a retryable no-quorum error. The
// pending fast proposal then fails the same way on every later call until the network
// recovers. A validator below the block's height says nothing about the block.
func TestBugLaggingValidatorsReportedAsInvalid(t *testing.T) {
	ctx := context.Background()
	net, err := NewNetwork(1, NetworkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Chains[0], net.Chains[1]
	dropCertificates := func(method string, _ any) error {
		if method == "HandleCertificate" {
			return ErrDropped
		}
		return nil
	}
	// Validators 0 and 1 miss block 0 of chain A (they get no certificate)...
	net.Nodes[0].intercept = dropCertificates
	net.Nodes[1].intercept = dropCertificates
	if _, err := a.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: b.ID}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	// ...and keep missing certificates while the owner proposes block 1.
	_, err = a.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: b.ID}, base.Tokens(1))
	if base.IsInvalid(err) || (err != nil && !errors.Is(err, base.ErrRetryable)) {
		t.Errorf("a valid transfer with two lagging validators failed with a non-retryable error: %v", err)
	}
}

// TestBugRegularOwnerChainStuck (internal/client): a chain with regular owners can get
// stuck for good after validators were briefly unreachable, even once all of them are
// back. The owner's first block X reaches only two validators in MultiLeader(0) (no
// quorum). Its next call builds a different block Y (the client keeps no pending
// proposal outside the fast round), sees the conflict with X, moves to MultiLeader(1),
// the last multi-leader round, and again reaches only those two. Once every validator
// is back: two are in MultiLeader(1) with Y, two in MultiLeader(0) with nothing. Each
// call builds yet another block, sees a conflict in MultiLeader(1), cannot go to a later
// multi-leader round, and asks for a timeout of MultiLeader(1), which the two validators
// still in MultiLeader(0) refuse (it is not their round): WaitForTimeoutError forever.
// The client never re-sends its own proposal Y (which the two lagging validators would
// vote for) nor brings them to the current round.
func TestBugRegularOwnerChainStuck(t *testing.T) {
	ctx := context.Background()
	net, err := NewNetwork(1, NetworkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	parent := net.Chains[0]
	id, _, err := parent.Client.OpenChain(ctx, protocol.SingleOwner(parent.Owner.Address()), base.Tokens(10))
	if err != nil {
		t.Fatal(err)
	}
	c := net.addChain(id, []*Owner{parent.Owner}, false, false)
	dropProposals := func(method string, _ any) error {
		if method == "HandleBlockProposal" {
			return ErrDropped
		}
		return nil
	}
	// Validators 0 and 1 lose the owner's proposals for two calls.
	net.Nodes[0].intercept, net.Nodes[1].intercept = dropProposals, dropProposals
	for i := uint64(1); i <= 2; i++ {
		if _, err := c.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: parent.ID}, base.Tokens(i)); !errors.Is(err, base.ErrRetryable) {
			t.Fatalf("transfer %d with two validators unreachable: %v, want a retryable error", i, err)
		}
	}
	// Every validator is reachable again; time passes.
	net.Nodes[0].intercept, net.Nodes[1].intercept = nil, nil
	for i := 0; i < 5; i++ {
		net.Clock.Advance(60_000_000)
		if _, err = c.Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: parent.ID}, base.Tokens(3)); err == nil {
			return
		}
	}
	var rounds []string
	for _, n := range net.Nodes {
		info, err := n.worker.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, info.Manager.CurrentRound.String())
	}
	t.Errorf("with all four validators back, the chain is stuck (validators in rounds %v): %v", rounds, err)
}
