package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackSubscriptionsBounded: a stranger opens notification subscriptions, each a
// request of a few bytes that made the validator allocate a buffer of
// DefaultSubscriberBuffer notifications (176 KiB) and an index entry per chain named,
// held while the stream stays open: 1,024 connections × 64 streams were 11 GiB. The
// subscriptions of one address, and the chains they name, stop at its share (refused
// with ResourceExhausted, ErrBusy); a subscription that ends gives its room back; a
// subscription of the validator's own shard (Subscribe) is not counted.
func TestAttackSubscriptionsBounded(t *testing.T) {
	key := prototest.Validators(4)[0]
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1))
	notifier := NewNotifier(0)
	notifier.maxSubsPerAddr, notifier.maxEntriesPerAddr = 4, 20
	w := worker.New(worker.Config{Storage: newStore(t, g), Signer: key, Clock: sysClock{}, Logger: testLogger(), Notify: notifier.Publish})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: notifier, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(listen(t), ServerConfig{Logger: testLogger()})
	proxy.Register(srv.Registrar())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); _ = srv.Close(); <-done }()
	api := pb.NewValidatorNodeClient(rawConn(t, srv.Addr().String()))

	chainIDs := func(n, from int) [][]byte {
		ids := make([][]byte, n)
		for i := range ids {
			id := base.ChainID{byte(from + i), 0xC}
			ids[i] = id[:]
		}
		return ids
	}
	// subscribe opens a subscription and returns its cancel, or the refusal.
	subscribe := func(ids [][]byte) (context.CancelFunc, error) {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := api.Subscribe(sctx, &pb.SubscriptionRequest{ChainIds: ids})
		if err == nil {
			// Headers are sent once the subscription is active; a refusal ends the
			// stream with its status instead.
			if md, herr := st.Header(); herr == nil && md != nil {
				return scancel, nil
			}
			_, err = st.Recv()
		}
		scancel()
		return nil, err
	}
	var open []context.CancelFunc
	defer func() {
		for _, c := range open {
			c()
		}
	}()
	var refused error
	for i := range 10 {
		c, err := subscribe(chainIDs(1, i))
		if err != nil {
			refused = err
			break
		}
		open = append(open, c)
	}
	if len(open) != notifier.maxSubsPerAddr {
		t.Fatalf("one address opened %d subscriptions, want its share %d", len(open), notifier.maxSubsPerAddr)
	}
	if status.Code(refused) != codes.ResourceExhausted || !errors.Is(fromStatus(refused), ErrBusy) {
		t.Fatalf("refusal %v, want ResourceExhausted carrying ErrBusy", refused)
	}
	// The validator's own shard's subscription does not count.
	own := notifier.Subscribe(nil)
	own.Close()
	// A subscription that ends gives its room back.
	open[0]()
	open = open[1:]
	waitFor(t, "a closed subscription to give its room back", func() bool {
		c, err := subscribe(chainIDs(1, 100))
		if err == nil {
			open = append(open, c)
		}
		return err == nil
	})
	// The chains named: 3 are subscribed, 18 more go over the share of 20.
	open[0]()
	open = open[1:]
	waitFor(t, "a closed subscription to give its room back", func() bool {
		notifier.mu.Lock()
		defer notifier.mu.Unlock()
		return notifier.held.subs == 3
	})
	if _, err := subscribe(chainIDs(18, 200)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a subscription to 18 more chains: %v, want ResourceExhausted", err)
	}
	// Duplicates count once.
	dup := chainIDs(17, 200)
	dup = append(dup, dup...)
	c, err := subscribe(dup)
	if err != nil {
		t.Fatalf("a subscription to 17 chains named twice each: %v", err)
	}
	open = append(open, c)
}

// TestAttackSubscriptionsBoundedInAll: strangers at many addresses open subscriptions
// until the notifier's bound of all subscriptions (and of all chains named), each
// address within its share; closing gives the room back.
func TestAttackSubscriptionsBoundedInAll(t *testing.T) {
	n := NewNotifier(0)
	n.maxSubs, n.maxSubsPerAddr, n.maxEntries, n.maxEntriesPerAddr = 6, 2, 9, 5
	addr := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1)) }
	var subs []*Subscription
	var err error
	for i := range 10 {
		var s *Subscription
		if s, err = n.SubscribeFrom(addr(i), nil); err != nil {
			break
		}
		subs = append(subs, s)
	}
	if len(subs) != n.maxSubs || !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("%d subscriptions opened (%v), want %d then ErrTooManySubscriptions", len(subs), err, n.maxSubs)
	}
	for _, s := range subs {
		s.Close()
		s.Close()
	}
	ids := []base.ChainID{{1}, {2}, {3}, {4}}
	a, err := n.SubscribeFrom(addr(0), ids)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SubscribeFrom(addr(0), ids[:2]); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("address share of chains: %v, want ErrTooManySubscriptions", err)
	}
	b, err := n.SubscribeFrom(addr(1), ids)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SubscribeFrom(addr(2), ids[:2]); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("all chains named: %v, want ErrTooManySubscriptions", err)
	}
	a.Close()
	b.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.held != (subscriptionUse{}) || len(n.byAddr) != 0 || len(n.byChain) != 0 || len(n.all) != 0 {
		t.Fatalf("after closing every subscription: %+v, %d addresses, %d chains, %d to all", n.held, len(n.byAddr), len(n.byChain), len(n.all))
	}
}
