package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// A client that never synced the chain that published an application syncs and answers
// a query of it on another chain: it fetches the bytecode and description it lacks.
func TestQueryFetchesMissingServiceBlobs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildExample(t, "counter")
	engine := exampleEngine(t)
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100), wasm.NewLoader(engine, 0))
	app := createApp(t, n.client().Chain(n.chains[0], alice, nil), contract, service, `1`)
	cert := appOp(t, n.client().Chain(n.chains[1], bob, nil), app, `{"increment": 4}`)
	res := cert.Block.Outcome.OperationResults
	want := `{"data":{"value":` + string(res[len(res)-1]) + `}}`
	if got := queryAll(t, n, n.chains[1], app, `{ value }`); got != want {
		t.Fatalf("validators answer %s, want %s", got, want)
	}

	fresh := n.client()
	// The sync fetches the contract's blobs the block needs; it used to stop silently
	// at height 0 and report it as the chain's height.
	if h, err := fresh.SyncChain(ctx, n.chains[1]); err != nil || h != cert.Height()+1 {
		t.Fatalf("sync of a chain using an application published elsewhere: height %d, %v", h, err)
	}
	answer, ops, err := fresh.QueryApplication(ctx, n.chains[1], app, []byte(`{ value }`))
	if err != nil || string(answer) != want || len(ops) != 0 {
		t.Fatalf("query on a chain whose application was published elsewhere: %s %v %v", answer, ops, err)
	}
}
