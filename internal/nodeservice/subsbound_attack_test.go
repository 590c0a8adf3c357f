package nodeservice_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/micachain/mica/internal/nodeservice"
)

// TestAttackSubscriptionsBounded: one websocket (no token on loopback) starts 1,100
// notifications subscriptions. Each held a hub subscriber (a buffer of 256
// notifications) and a goroutine, without bound: 1,100 of them. Now the service holds
// at most Limits.MaxSubscriptions (default 1,024) at once and refuses the others with
// a GraphQL error that says so; a completed subscription frees its place.
func TestAttackSubscriptionsBounded(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	c, err := dialWS(t, s, "graphql-transport-ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	const tries = 1100
	bound := nodeservice.DefaultLimits.MaxSubscriptions
	var refused atomic.Int64
	var lastErr atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			m, err := c.read(10 * time.Minute)
			if err != nil {
				return
			}
			if m["type"] == "error" || m["type"] == "next" && path(m, "payload", "errors") != nil {
				lastErr.Store(fmt.Sprint(m["payload"]))
				refused.Add(1)
			}
		}
	}()
	subscribe := func(id int) {
		c.send(map[string]any{"id": fmt.Sprint(id), "type": "subscribe", "payload": map[string]any{"query": `subscription { notifications { kind } }`}})
	}
	for i := range tries {
		subscribe(i)
	}
	eventually(t, "every subscription held or refused", func() bool {
		return s.Hub().Subscribers()+int(refused.Load()) >= tries
	})
	held := s.Hub().Subscribers()
	t.Logf("%d subscriptions asked on one websocket: %d held, %d refused (%v)", tries, held, refused.Load(), lastErr.Load())
	if held > bound {
		t.Fatalf("%d subscriptions held, want at most %d", held, bound)
	}
	if msg, _ := lastErr.Load().(string); !strings.Contains(msg, "subscriptions") {
		t.Fatalf("refusal %q does not say why", msg)
	}
	// Completing 10 frees 10 places.
	for i := range 10 {
		c.send(map[string]any{"id": fmt.Sprint(i), "type": "complete"})
	}
	eventually(t, "10 places freed", func() bool { return s.Hub().Subscribers() == bound-10 })
	before := refused.Load()
	for i := range 10 {
		subscribe(tries + i)
	}
	eventually(t, "10 new subscriptions held", func() bool { return s.Hub().Subscribers() == bound })
	if r := refused.Load(); r != before {
		t.Fatalf("%d of the subscriptions that took freed places were refused", r-before)
	}
	_ = c.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "every place freed when the websocket closes", func() bool { return s.Hub().Subscribers() == 0 })
}
