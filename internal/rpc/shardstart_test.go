package rpc

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestShardClientWaitsForAShardStartingLater: a proxy (or a shard) dials its shards when
// it starts, and a shard process may start listening after that. A call made while the
// connection is still backing off from the refused attempts must wait for the shard
// within its deadline, not fail at once with "connection refused" (a proxy started
// before its shards refused its first queries for their chains, as a CI run of
// TestAttackSplitShardPortWithoutCertificate showed).
func TestShardClientWaitsForAShardStartingLater(t *testing.T) {
	keys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1000))
	lis := listen(t)
	addr := lis.Addr().String()
	_ = lis.Close() // nothing listens there yet

	sc, err := DialShard(addr, DialOptions{CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	q := &protocol.ChainInfoQuery{ChainID: g.ChainIDs()[0]}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = sc.HandleChainInfoQuery(short, q)
	cancel()
	if err == nil {
		t.Fatal("a query answered with nothing listening")
	}
	// Let the connection see the refusal and back off.
	waitFor(t, "the connection to back off", func() bool {
		return sc.c.cc.GetState() == connectivity.TransientFailure
	})

	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	log := testLogger()
	notifier := NewNotifier(0)
	w := worker.New(worker.Config{Storage: newStore(t, g), Signer: keys[0], Clock: sysClock{}, Logger: log, Notify: notifier.Publish})
	srv := NewServer(lis, ServerConfig{Logger: log})
	NewShardServer(w, notifier, log).Register(srv.Registrar())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()

	info, err := sc.HandleChainInfoQuery(context.Background(), q)
	if err != nil {
		t.Fatalf("a query to a shard that now listens: %v", err)
	}
	if info.ChainID != q.ChainID {
		t.Fatalf("answer for chain %v, want %v", info.ChainID, q.ChainID)
	}
}
