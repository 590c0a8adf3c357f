package client_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// buildCounter compiles the test counter application (a Go wasip1 reactor written
// against the ABI) with the standard toolchain.
func buildCounter(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "counter.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = "../execution/wasm/testdata/counter"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the counter: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWasmApplication publishes a module, creates an application, executes an
// operation and queries the service, through the real client and 4 validators that all
// execute the Wasm contract (a certificate forms only if they agree on the outcome,
// fuel and state hash included).
func TestWasmApplication(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest")
	}
	ctx := context.Background()
	code := buildCounter(t)
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	alice := prototest.Key("alice")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)

	module, blobs := protocol.ModuleBlobs(code, code)
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
	if cert.Round.IsFast() {
		t.Fatalf("a block reading blobs (oracles) committed in the fast round")
	}
	want := `{"data":{"value":12}}`
	for i, w := range n.workers {
		got, err := w.QueryApplication(ctx, n.chains[0], app, []byte("{ value }"))
		if err != nil || string(got) != want {
			t.Fatalf("validator %d: query = %q, %v", i, got, err)
		}
	}
	// A second client that only follows the chain answers from its own replica.
	follower := n.client()
	if _, err := follower.SyncChain(ctx, n.chains[0]); err != nil {
		t.Fatal(err)
	}
	got, err := follower.Local().QueryApplication(ctx, n.chains[0], app, []byte("{ value }"))
	if err != nil || string(got) != want {
		t.Fatalf("follower: query = %q, %v", got, err)
	}
	// A bad operation fails cleanly and changes nothing.
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"decrement":1}`)}}, nil); err == nil {
		t.Fatal("bad operation accepted")
	}
	if got, _ := n.workers[0].QueryApplication(ctx, n.chains[0], app, []byte("{ value }")); string(got) != want {
		t.Fatalf("after a refused operation: %q", got)
	}
}
