package main

// Long-running commands (watch, process-streams) do not keep the wallet open: they
// listen to the validators' notifications on connections of their own and open the
// wallet (and its local store, which Pebble locks too) only for the moments they sync or
// commit, so that other commands can use the wallet in between. Each such moment waits
// for the wallet if another command has it open.

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// keepNodes hands the session's validator connections over to the caller, who closes
// them (closeNodes): Close no longer does. A long-running command listens on them after
// the session released the wallet.
func (s *session) keepNodes() []*rpc.Node {
	nodes := s.nodes
	s.nodes = nil
	return nodes
}

func closeNodes(nodes []*rpc.Node) {
	for _, n := range nodes {
		_ = n.Close()
	}
}

// withSession opens a session (waiting up to wait for the wallet; < 0: until the command
// is interrupted), runs f and closes the session, which saves the wallet and releases it.
func withSession(cmd *cobra.Command, wait time.Duration, f func(s *session) error) error {
	ctx := cmd.Context()
	// connect records the session in the command's context; a long-running command opens
	// many sessions, so the context is restored rather than nested once per session.
	defer cmd.SetContext(ctx)
	s, err := connectWaiting(cmd, nil, wait)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// listenNotifications is client.ListenNotifications over the validators' nodes. It calls
// ready once every node's first subscription has opened or failed: a block made after
// that is announced by every validator that was reachable. If none was, it first says so
// on stderr (the subscriptions are retried).
func listenNotifications(ctx context.Context, stderr io.Writer, nodes []*rpc.Node, chains []base.ChainID, ready func(), fn func(protocol.Notification)) {
	var first sync.WaitGroup
	var opened atomic.Int64
	first.Add(len(nodes))
	subs := make([]client.NotificationSubscriber, len(nodes))
	for i, n := range nodes {
		var once sync.Once
		subs[i] = subscriberFunc(func(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
			return n.SubscribeNotificationsOpened(ctx, chains, func(err error) {
				once.Do(func() {
					if err == nil {
						opened.Add(1)
					}
					first.Done()
				})
			}, fn)
		})
	}
	go func() {
		first.Wait()
		if opened.Load() == 0 && ctx.Err() == nil {
			fmt.Fprintln(stderr, "mica: note: no validator answered (is the network running? mica net status); still trying, each in the background")
		}
		ready()
	}()
	client.ListenNotifications(ctx, subs, chains, fn, nil)
}

// subscriberFunc is a client.NotificationSubscriber made of a function.
type subscriberFunc func(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error

func (f subscriberFunc) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	return f(ctx, chains, fn)
}

// kicker runs work in the background each time it is kicked, once more after the kicks
// that came while it worked (kicks coalesce), until ctx ends.
type kicker chan struct{}

func newKicker() kicker { return make(kicker, 1) }

func (k kicker) kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

func (k kicker) run(ctx context.Context, work func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k:
			work()
		}
	}
}
