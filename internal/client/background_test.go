package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// slowCerts delays certificates, like a validator that must catch up first.
type slowCerts struct {
	client.ValidatorNode
	delay time.Duration
}

func (s slowCerts) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.ValidatorNode.HandleCertificate(ctx, c)
}

// A command returns once a quorum holds its certificate; the push to a slower validator
// goes on in the background. WaitBackground (called by the CLI before it exits) lets it
// finish, so the slow validator is not left a block behind.
func TestWaitBackgroundLetsSlowValidatorCatchUp(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	vals := append([]client.Validator(nil), n.validators...)
	vals[3].Node = slowCerts{ValidatorNode: vals[3].Node, delay: 300 * time.Millisecond}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vals, Clock: n.clock, MinGrace: time.Millisecond})
	cc := c.Chain(n.chains[0], alice, nil)
	cert, err := cc.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	// Generous: the push takes 300 ms, more on a loaded machine; a WaitBackground that
	// did not wait would return at once and leave the slow validator behind.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.WaitBackground(wctx); err != nil {
		t.Fatalf("WaitBackground: %v", err)
	}
	if got := n.blockHashes(n.chains[0], cert.Height())[3]; got != cert.Block.Hash() {
		t.Fatalf("the slow validator holds %s at height %d after WaitBackground, want %s", got.Short(), cert.Height(), cert.Block.Hash().Short())
	}
}
