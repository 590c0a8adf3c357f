package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// poisoned is a native contract: operations emit their bytes to stream "posts";
// ProcessStreams always fails (an application that refuses what a publisher emits).
type poisoned struct{}

func (poisoned) Instantiate(context.Context, execution.ContractRuntime, []byte) error { return nil }
func (poisoned) ExecuteMessage(context.Context, execution.ContractRuntime, []byte) error {
	return errors.New("no messages")
}
func (poisoned) Finalize(context.Context, execution.ContractRuntime) error { return nil }
func (poisoned) ExecuteOperation(ctx context.Context, rt execution.ContractRuntime, op []byte) ([]byte, error) {
	_, err := rt.(execution.StreamRuntime).Emit(ctx, []byte("posts"), op)
	return nil, err
}
func (poisoned) ProcessStreams(context.Context, execution.ContractRuntime, []execution.StreamUpdate) error {
	return errors.New("poisoned event")
}

type poisonedLoader struct{}

func (poisonedLoader) LoadContract(context.Context, base.ApplicationID, execution.BlobReader) (execution.UserContract, error) {
	return poisoned{}, nil
}

func (poisonedLoader) LoadService(context.Context, base.ApplicationID, execution.BlobReader) (execution.UserService, error) {
	return nil, errors.New("no service")
}

// TestAttackStreamCannotBlockInbox: events that the follower's application refuses
// make the stream updates fail, but the follower still receives its inbox (a
// publisher cannot make the chain unusable), and ProcessInbox says why with
// client.ErrStreams.
func TestAttackStreamCannotBlockInbox(t *testing.T) {
	ctx := context.Background()
	ka, kf := prototest.Key("publisher"), prototest.Key("follower")
	n := newNetWithLoader(t, []*crypto.PrivateKey{ka, kf}, base.Tokens(100), poisonedLoader{})
	pub := n.client().Chain(n.chains[0], ka, nil)
	fol := n.client().Chain(n.chains[1], kf, nil)
	app := base.ApplicationID{42}
	stream := protocol.StreamID{App: &app, Name: []byte("posts")}
	if _, err := fol.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.SubscribeToStream{Publisher: n.chains[0], Stream: stream, App: app})}, nil); err != nil {
		t.Fatal(err)
	}
	appOp(t, pub, app, "poison")
	if _, err := pub.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(5)); err != nil {
		t.Fatal(err)
	}
	cert, err := fol.ProcessInbox(ctx)
	if !errors.Is(err, client.ErrStreams) || cert == nil {
		t.Fatalf("process-inbox: %v, %v; want a certificate and ErrStreams", cert, err)
	}
	if got := n.balance(0, base.Account{Chain: n.chains[1]}); got != base.Tokens(105) {
		t.Fatalf("the follower did not receive its transfer: %s", got)
	}
	if len(cert.Block.Proposed.Transactions) != 1 || cert.Block.Proposed.Transactions[0].Bundle == nil {
		t.Fatalf("the block should only receive the bundle: %d transactions", len(cert.Block.Proposed.Transactions))
	}
}
