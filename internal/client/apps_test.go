package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// buildCounter compiles the test counter application (a Go wasip1 reactor written
// against the ABI) with the standard toolchain.
func buildCounter(tb testing.TB) []byte {
	return wasmtest.BuildGoGuest(tb, wasmtest.CounterDir, ".")
}

// TestWasmApplication publishes a module, creates an application, executes an
// operation and queries the service, through the real client and 4 validators that all
// execute the Wasm contract (a certificate forms only if they agree on the outcome,
// fuel and state hash included).
func TestWasmApplication(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds a Wasm guest (skipped with -short and -race)")
	}
	ctx := context.Background()
	n, a, module, blobs := counterNet(t)
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module})}, blobs); err != nil {
		t.Fatalf("publish module: %v", err)
	}
	cert, err := a.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte("7")})}, nil)
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	res := cert.Block.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])
	cert, err = a.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"increment":5}`)}}, nil)
	if err != nil {
		t.Fatalf("execute operation: %v", err)
	}
	if got := string(cert.Block.Outcome.OperationResults[len(cert.Block.Outcome.OperationResults)-1]); got != "12" {
		t.Fatalf("increment returned %q, want 12", got)
	}
	if !cert.Round.IsFast() {
		// Loading the contract reads blobs, which are content-addressed: no oracle.
		t.Fatalf("an application operation on a single-owner chain committed in round %v, want the fast round", cert.Round)
	}
	want := `{"data":{"value":12}}`
	// Every validator, and a second client that only follows the chain from its own
	// replica, answer the same.
	wantCounter(t, n, app, want)
	// A bad operation fails cleanly and changes nothing.
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"decrement":1}`)}}, nil); err == nil {
		t.Fatal("bad operation accepted")
	}
	if got, _ := n.workers[0].QueryApplication(ctx, n.chains[0], app, []byte("{ value }")); string(got) != want {
		t.Fatalf("after a refused operation: %q", got)
	}
}

// counterNet starts a network of 4 validators that run Wasm and returns a client of
// alice's chain and the module of the counter application (not yet published).
func counterNet(t *testing.T) (*net, *client.ChainClient, protocol.ModuleID, []protocol.Blob) {
	t.Helper()
	code := buildCounter(t)
	engine, err := wasm.NewEngine(context.Background(), wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := engine.Close(context.Background()); err != nil {
			t.Errorf("close the Wasm engine: %v", err)
		}
	})
	alice := prototest.Key("alice")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice}, base.Tokens(100), wasm.NewLoader(engine, 0))
	module, blobs := protocol.ModuleBlobs(code, code)
	return n, n.client().Chain(n.chains[0], alice, nil), module, blobs
}

// wantCounter checks that every validator and a new client that syncs the chain answer
// the counter's query { value } with want.
func wantCounter(t *testing.T, n *net, app base.ApplicationID, want string) {
	t.Helper()
	ctx := context.Background()
	for i, w := range n.workers {
		got, err := w.QueryApplication(ctx, n.chains[0], app, []byte("{ value }"))
		if err != nil || string(got) != want {
			t.Fatalf("validator %d: query = %q, %v", i, got, err)
		}
	}
	follower := n.client()
	if _, err := follower.SyncChain(ctx, n.chains[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := follower.Local().QueryApplication(ctx, n.chains[0], app, []byte("{ value }")); err != nil || string(got) != want {
		t.Fatalf("follower: query = %q, %v", got, err)
	}
}

// TestEndlessLoopRunsOutOfFuel creates an application whose operation loops forever,
// sends a block calling it to every validator directly, and checks that each refuses
// it with the same out-of-fuel error, while another chain keeps committing blocks.
func TestEndlessLoopRunsOutOfFuel(t *testing.T) {
	ctx := context.Background()
	code, err := os.ReadFile("../execution/wasm/testdata/loop.wasm")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)
	module, blobs := protocol.ModuleBlobs(code, code)
	cert, err := a.ExecuteOperations(ctx, []protocol.Operation{
		protocol.SystemOp(&protocol.PublishModule{Module: module}),
		protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte{0, 0, 0, 0}}),
	}, blobs)
	if err != nil {
		t.Fatalf("publish and create: %v", err)
	}
	res := cert.Block.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])
	prev := cert.Block.Hash()
	owner := alice.Public().Owner()
	block := protocol.ProposedBlock{ChainID: n.chains[0], Height: cert.Height() + 1, Timestamp: n.clock.Now(), PreviousBlockHash: &prev, AuthenticatedOwner: &owner,
		Transactions: []protocol.Transaction{protocol.OperationTx(protocol.Operation{App: app, Bytes: []byte("{}")})}}
	p, err := protocol.SignProposal(alice, block, base.MultiLeader(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i, w := range n.workers {
		_, err := w.HandleBlockProposal(ctx, p)
		if !errors.Is(err, wasm.ErrOutOfFuel) {
			t.Fatalf("validator %d: got %v, want out of fuel", i, err)
		}
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("validators disagree:\n%s\n%s", first, err)
		}
	}
	t.Logf("every validator: %s", first)
	// Other chains are served as usual.
	start := time.Now()
	b := n.client().Chain(n.chains[1], bob, nil)
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatalf("another chain after the endless loop: %v", err)
	}
	t.Logf("a transfer on another chain right after took %v", time.Since(start))
}

// buildExample compiles an example application's contract and service from the
// examples module, once per test binary: the tests that use an example share its bytes.
func buildExample(t *testing.T, name string) (contract, service []byte) {
	t.Helper()
	v, _ := examples.LoadOrStore(name, &exampleBuild{})
	b := v.(*exampleBuild)
	b.once.Do(func() { b.contract, b.service, b.err = goBuildExample(name) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.contract, b.service
}

// examples holds the *exampleBuild of each example built (buildExample).
var examples sync.Map

type exampleBuild struct {
	once              sync.Once
	contract, service []byte
	err               error
}

func goBuildExample(name string) (contract, service []byte, err error) {
	dir, err := os.MkdirTemp("", "mica-example-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	var out [2][]byte
	for i, part := range []string{"contract", "service"} {
		path := filepath.Join(dir, part+".wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", path, "./"+name+"/"+part)
		cmd.Dir = "../../examples"
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("build %s %s: %v\n%s", name, part, err, b)
		}
		if out[i], err = os.ReadFile(path); err != nil {
			return nil, nil, err
		}
	}
	return out[0], out[1], nil
}

// exampleEngine returns the Wasm engine the example applications' tests share, so that
// each module is compiled once per test binary instead of once per test (seconds for a
// Go guest). A run's results and fuel do not depend on what the engine ran before
// (wasm's snapshot tests check it); the tests do not close it.
func exampleEngine(t *testing.T) *wasm.Engine {
	t.Helper()
	sharedEngine.once.Do(func() {
		sharedEngine.e, sharedEngine.err = wasm.NewEngine(context.Background(), wasm.EngineConfig{})
	})
	if sharedEngine.err != nil {
		t.Fatal(sharedEngine.err)
	}
	return sharedEngine.e
}

var sharedEngine struct {
	once sync.Once
	e    *wasm.Engine
	err  error
}

// TestFungibleAcrossChains: tokens of the fungible example move from chain A to chain B
// by a tracked message (B first touches the application when the message arrives), the
// balances are right on both chains, and a transfer that B rejects bounces back to A.
func TestFungibleAcrossChains(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildExample(t, "fungible")
	engine := exampleEngine(t)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	ao, bo := alice.Public().Owner().String(), bob.Public().Owner().String()

	module, blobs := protocol.ModuleBlobs(contract, service)
	arg := `{"accounts": {"` + ao + `": "100"}}`
	cert, err := a.ExecuteOperations(ctx, []protocol.Operation{
		protocol.SystemOp(&protocol.PublishModule{Module: module}),
		protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte(arg)}),
	}, blobs)
	if err != nil {
		t.Fatalf("publish and create: %v", err)
	}
	res := cert.Block.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])
	transfer := func(amount string) {
		t.Helper()
		op := `{"transfer": {"owner": "` + ao + `", "amount": "` + amount + `", "target_chain": "` + n.chains[1].String() + `", "target_owner": "` + bo + `"}}`
		if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(op)}}, nil); err != nil {
			t.Fatalf("transfer %s: %v", amount, err)
		}
	}
	balance := func(chain base.ChainID, owner string) string {
		t.Helper()
		got, err := n.workers[0].QueryApplication(ctx, chain, app, []byte(`{ balance(owner: "`+owner+`") }`))
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		return string(got)
	}
	transfer("30")
	if _, err := b.ProcessInbox(ctx); err != nil {
		t.Fatalf("B receives: %v", err)
	}
	if got := balance(n.chains[0], ao); got != `{"data":{"balance":"70"}}` {
		t.Fatalf("alice on A: %s", got)
	}
	if got := balance(n.chains[1], bo); got != `{"data":{"balance":"30"}}` {
		t.Fatalf("bob on B: %s", got)
	}
	// B rejects the next transfer: the tracked message bounces and A refunds alice.
	transfer("5")
	b.RejectIncoming = true
	if _, err := b.ProcessInbox(ctx); err != nil {
		t.Fatalf("B rejects: %v", err)
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("A receives the bounce: %v", err)
	}
	if got := balance(n.chains[0], ao); got != `{"data":{"balance":"70"}}` {
		t.Fatalf("alice after the bounce: %s, want 70", got)
	}
	if got := balance(n.chains[1], bo); got != `{"data":{"balance":"30"}}` {
		t.Fatalf("bob after rejecting: %s, want 30", got)
	}
}

// BenchmarkCounterIncrement commits one block per op, each incrementing the counter
// application, through the client and 4 in-process validators that all run the Wasm
// contract. It reports operations per second.
func BenchmarkCounterIncrement(b *testing.B) {
	ctx := context.Background()
	code := buildCounter(b)
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close(ctx)
	alice := prototest.Key("alice")
	n := newNetWithLoaderTB(b, []*crypto.PrivateKey{alice}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)
	module, blobs := protocol.ModuleBlobs(code, code)
	cert, err := a.ExecuteOperations(ctx, []protocol.Operation{
		protocol.SystemOp(&protocol.PublishModule{Module: module}),
		protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte("0")}),
	}, blobs)
	if err != nil {
		b.Fatal(err)
	}
	res := cert.Block.Outcome.OperationResults
	app := base.ApplicationID(res[len(res)-1])
	op := []protocol.Operation{{App: app, Bytes: []byte(`{"increment":1}`)}}
	b.ResetTimer()
	var start time.Duration
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			start = cputime.Process()
		}
		if _, err := a.ExecuteOperations(ctx, op, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	// The process's CPU time per increment (client and validators together): steadier
	// than ops/s on a machine shared with other work.
	b.ReportMetric(float64((cputime.Process()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// createApp publishes a module and creates an application of it on a chain, returning
// its id.
func createApp(t *testing.T, cc *client.ChainClient, contract, service []byte, arg string) base.ApplicationID {
	t.Helper()
	module, blobs := protocol.ModuleBlobs(contract, service)
	cert, err := cc.ExecuteOperations(context.Background(), []protocol.Operation{
		protocol.SystemOp(&protocol.PublishModule{Module: module}),
		protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte(arg)}),
	}, blobs)
	if err != nil {
		t.Fatalf("publish and create: %v", err)
	}
	res := cert.Block.Outcome.OperationResults
	return base.ApplicationID(res[len(res)-1])
}

// TestCrowdFundingWithFungible: a backer pledges fungible tokens from its own chain to
// a campaign on another chain; the campaign chain receives the tokens and the pledge
// by messages, and the owner collects them once the target is reached.
func TestCrowdFundingWithFungible(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	fc, fs := buildExample(t, "fungible")
	cc, cs := buildExample(t, "crowdfunding")
	engine := exampleEngine(t)
	alice, carol := prototest.Key("alice"), prototest.Key("carol")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice, carol}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)
	c := n.client().Chain(n.chains[1], carol, nil)
	ao, co := alice.Public().Owner().String(), carol.Public().Owner().String()
	token := createApp(t, a, fc, fs, `{"accounts": {"`+ao+`": "100"}}`)
	campaign := createApp(t, c, cc, cs, `{"owner": "`+co+`", "token": "`+token.String()+`", "target": "50", "deadline": 9000000000000000}`)

	pledge := `{"pledge": {"owner": "` + ao + `", "amount": "60", "campaign_chain": "` + n.chains[1].String() + `", "token": "` + token.String() + `"}}`
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: campaign, Bytes: []byte(pledge)}}, nil); err != nil {
		t.Fatalf("pledge: %v", err)
	}
	if _, err := c.ProcessInbox(ctx); err != nil {
		t.Fatalf("campaign chain receives: %v", err)
	}
	got, err := n.workers[0].QueryApplication(ctx, n.chains[1], campaign, []byte("{ pledged status }"))
	if err != nil || string(got) != `{"data":{"pledged":"60","status":"active"}}` {
		t.Fatalf("campaign after the pledge: %s, %v", got, err)
	}
	if _, err := c.ExecuteOperations(ctx, []protocol.Operation{{App: campaign, Bytes: []byte(`{"collect": {}}`)}}, nil); err != nil {
		t.Fatalf("collect: %v", err)
	}
	bal := func(chain base.ChainID, owner string) string {
		got, err := n.workers[0].QueryApplication(ctx, chain, token, []byte(`{ balance(owner: "`+owner+`") }`))
		if err != nil {
			t.Fatalf("balance: %v", err)
		}
		return string(got)
	}
	if got := bal(n.chains[1], co); got != `{"data":{"balance":"60"}}` {
		t.Fatalf("carol after collecting: %s", got)
	}
	if got := bal(n.chains[0], ao); got != `{"data":{"balance":"40"}}` {
		t.Fatalf("alice after pledging: %s", got)
	}
}
