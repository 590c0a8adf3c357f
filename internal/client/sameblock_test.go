package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestApplicationUsableInItsCreatingBlock: one block publishes a module, creates an
// application of it and then executes an operation of the new application. Every
// validator executes it the same way (the certificate needs a quorum agreeing on the
// outcome), and a follower that replays the chain reaches the same state.
func TestApplicationUsableInItsCreatingBlock(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds a Wasm guest (skipped with -short and -race)")
	}
	ctx := context.Background()
	n, a, module, blobs := counterNet(t)
	// The chain is new: the block is at height 0 and its first created application
	// has index 0.
	desc := protocol.ApplicationDescription{Module: module, CreatorChain: n.chains[0], Height: 0, Index: 0}
	app := desc.ID()
	cert, err := a.ExecuteOperations(ctx, []protocol.Operation{
		protocol.SystemOp(&protocol.PublishModule{Module: module}),
		protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte("7")}),
		{App: app, Bytes: []byte(`{"increment":5}`)},
	}, blobs)
	if err != nil {
		t.Fatalf("publish, create and use in one block: %v", err)
	}
	res := cert.Block.Outcome.OperationResults
	if cert.Height() != 0 || base.ApplicationID(res[len(res)-2]) != app || string(res[len(res)-1]) != "12" {
		t.Fatalf("height %d, created %x, increment returned %q", cert.Height(), res[len(res)-2], res[len(res)-1])
	}
	wantCounter(t, n, app, `{"data":{"value":12}}`)
}
