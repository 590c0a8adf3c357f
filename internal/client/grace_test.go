package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// gateNode holds a validator's certificates, once closed, until the gate opens.
type gateNode struct {
	client.ValidatorNode
	closed atomic.Bool
	open   chan struct{}
	held   atomic.Int64
}

func (g *gateNode) wait(ctx context.Context) {
	if g.closed.Load() {
		g.held.Add(1)
		select {
		case <-g.open:
		case <-ctx.Done():
		}
	}
}

func (g *gateNode) HandleCertificate(ctx context.Context, cert *protocol.Certificate) (*protocol.ChainInfo, error) {
	g.wait(ctx)
	return g.ValidatorNode.HandleCertificate(ctx, cert)
}

func (g *gateNode) HandleCertificateQuery(ctx context.Context, cert *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	g.wait(ctx)
	return g.ValidatorNode.(client.CertificateQuerier).HandleCertificateQuery(ctx, cert, q)
}

// TestCertificateBroadcastEndsAtQuorum: a block is committed once a quorum took its
// certificate, without waiting a grace period for the validator left out of the
// proposal (which executes the block before it answers); that validator still gets the
// certificate. The grace period and the calls' timeout here are an hour: a broadcast
// that waited for the left-out validator would not end before the watchdog.
func TestCertificateBroadcastEndsAtQuorum(t *testing.T) {
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	var gates []*gateNode
	var counters []*countingNode
	var vs []client.Validator
	for _, v := range n.validators {
		g := &gateNode{ValidatorNode: v.Node, open: make(chan struct{})}
		cn := &countingNode{ValidatorNode: g}
		gates, counters = append(gates, g), append(counters, cn)
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: cn})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock, QuorumWait: time.Hour, MinGrace: time.Hour, RequestTimeout: time.Hour})
	chain := c.Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[0]}
	ctx := t.Context()
	if _, err := chain.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	left := -1
	for i, cn := range counters {
		if cn.proposals.Load() == 0 {
			left = i
		}
	}
	if left < 0 {
		t.Fatal("every validator got the proposal")
	}
	gates[left].closed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := chain.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1))
		done <- err
	}()
	watchdog := time.NewTimer(30 * time.Second)
	defer watchdog.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-watchdog.C:
		close(gates[left].open)
		<-done
		t.Fatal("the commit waited for the certificate of the validator left out of the proposal")
	}
	// The left-out validator's call completes in the background once its gate opens.
	close(gates[left].open)
	if err := c.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	if gates[left].held.Load() == 0 {
		t.Fatal("the left-out validator's certificate was not held: the test did not test")
	}
	for h := range base.BlockHeight(2) {
		hs := n.blockHashes(n.chains[0], h)
		for i, hash := range hs {
			if hash == (base.Hash{}) || hash != hs[0] {
				t.Fatalf("height %d: validator %d holds %s, validator 0 %s", h, i, hash, hs[0])
			}
		}
	}
}
