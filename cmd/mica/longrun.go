package main

// Long-running commands (watch, process-streams) do not keep the wallet open: they
// listen to the validators' notifications on connections of their own and open the
// wallet (and its local store, which Pebble locks too) only for the moments they sync or
// commit, so that other commands can use the wallet in between. Each such moment waits
// for the wallet if another command has it open.

import (
	"context"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
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

// maxSeenNotifications bounds the notifications listenNotifications remembers to pass
// each one on once; past it, it forgets them all (a notification may then repeat).
const maxSeenNotifications = 10_000

// listenNotifications subscribes to the notifications about chains on every node and
// calls fn once per distinct notification, whichever validator sent it first (fn is
// never called concurrently). A broken stream is re-opened with backoff. It returns when
// ctx ends. Notifications are hints (a validator may send anything): whatever they
// trigger is verified against the committee by the client.
func listenNotifications(ctx context.Context, nodes []*rpc.Node, chains []base.ChainID, fn func(protocol.Notification)) {
	var mu sync.Mutex
	seen := map[protocol.Notification]bool{}
	wanted := map[base.ChainID]bool{}
	for _, id := range chains {
		wanted[id] = true
	}
	handle := func(n protocol.Notification) {
		if !wanted[n.ChainID] {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[n] {
			return
		}
		if len(seen) >= maxSeenNotifications {
			clear(seen)
		}
		seen[n] = true
		fn(n)
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				start := time.Now()
				_ = n.SubscribeNotifications(ctx, chains, handle) // ends when the stream breaks
				if time.Since(start) > 10*time.Second {
					backoff = 100 * time.Millisecond
				}
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				backoff = min(2*backoff, 5*time.Second)
			}
		})
	}
	wg.Wait()
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
