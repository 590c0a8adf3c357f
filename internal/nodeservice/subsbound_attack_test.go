package nodeservice_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/micachain/mica/internal/nodeservice"
)

// subscriber is a websocket (graphql-transport-ws) that starts notifications
// subscriptions and counts those the service refuses.
type subscriber struct {
	c       *wsClient
	refused atomic.Int64
	last    atomic.Value // the last refusal's payload
}

func newSubscriber(t *testing.T, s *service) *subscriber {
	t.Helper()
	c, err := dialWS(t, s, "graphql-transport-ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &subscriber{c: c}
	go func() {
		for {
			m, err := c.read(10 * time.Minute)
			if err != nil {
				return // closed
			}
			if m["type"] == "error" || m["type"] == "next" && path(m, "payload", "errors") != nil {
				u.last.Store(fmt.Sprint(m["payload"]))
				u.refused.Add(1)
			}
		}
	}()
	return u
}

func (u *subscriber) subscribe(id int) {
	u.c.send(map[string]any{"id": fmt.Sprint(id), "type": "subscribe", "payload": map[string]any{"query": `subscription { notifications { kind } }`}})
}

func (u *subscriber) complete(id int) {
	u.c.send(map[string]any{"id": fmt.Sprint(id), "type": "complete"})
}

func (u *subscriber) lastRefusal() string {
	s, _ := u.last.Load().(string)
	return s
}

// TestAttackSubscriptionsBounded: websockets (no token on loopback) start 1,100
// notifications subscriptions. Each held a hub subscriber (a buffer of 256
// notifications) and a goroutine, without bound: 1,100 of them. Now the service holds
// at most Limits.MaxSubscriptions (default 1,024) at once and refuses the others with
// a GraphQL error that says so; a completed subscription frees its place. (Before
// svcshare one websocket asked all 1,100; now one holds at most
// Limits.MaxSubscriptionsPerConnection, so the attack takes 18 of them, and the last
// two take places from the others: the errors counted are refusals and subscriptions
// ended to make room.)
func TestAttackSubscriptionsBounded(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	const tries = 1100
	bound := nodeservice.DefaultLimits.MaxSubscriptions
	share := nodeservice.DefaultLimits.MaxSubscriptionsPerConnection
	var conns []*subscriber
	for i := 0; i < tries; i += share {
		conns = append(conns, newSubscriber(t, s))
	}
	for i := range tries {
		conns[i/share].subscribe(i)
	}
	refused := func() int {
		r := 0
		for _, u := range conns {
			r += int(u.refused.Load())
		}
		return r
	}
	eventually(t, "every subscription held or refused", func() bool {
		return s.Hub().Subscribers()+refused() >= tries
	})
	held, last := s.Hub().Subscribers(), ""
	for _, u := range conns {
		if r := u.lastRefusal(); r != "" {
			last = r
		}
	}
	t.Logf("%d subscriptions asked on %d websockets: %d held, %d refused or ended (%v)", tries, len(conns), held, refused(), last)
	if held > bound {
		t.Fatalf("%d subscriptions held, want at most %d", held, bound)
	}
	if !strings.Contains(last, "Limits.MaxSubscriptions)") {
		t.Fatalf("refusal %q does not say why", last)
	}
	// Completing 10 frees 10 places.
	for i := range 10 {
		conns[0].complete(i)
	}
	eventually(t, "10 places freed", func() bool { return s.Hub().Subscribers() == bound-10 })
	before := refused()
	for i := range 10 {
		conns[0].subscribe(tries + i)
	}
	eventually(t, "10 new subscriptions held", func() bool { return s.Hub().Subscribers() == bound })
	if r := refused(); r != before {
		t.Fatalf("%d of the subscriptions that took freed places were refused", r-before)
	}
	for _, u := range conns {
		_ = u.c.conn.Close(websocket.StatusNormalClosure, "")
	}
	eventually(t, "every place freed when the websockets close", func() bool { return s.Hub().Subscribers() == 0 })
}

// TestAttackSubscriptionsPerConnection: one websocket starts 1,100 subscriptions. It
// held all 1,024 places of the service and every other caller was refused until it let
// go. Now a connection holds at most Limits.MaxSubscriptionsPerConnection (default 64)
// and is refused the others with an error that names that limit; another connection
// still subscribes.
func TestAttackSubscriptionsPerConnection(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{})
	const tries = 1100
	share := nodeservice.DefaultLimits.MaxSubscriptionsPerConnection
	u := newSubscriber(t, s)
	for i := range tries {
		u.subscribe(i)
	}
	eventually(t, "every subscription held or refused", func() bool {
		return s.Hub().Subscribers()+int(u.refused.Load()) >= tries
	})
	held := s.Hub().Subscribers()
	t.Logf("%d subscriptions asked on one websocket: %d held, %d refused (%v)", tries, held, u.refused.Load(), u.lastRefusal())
	if held > share {
		t.Fatalf("one websocket holds %d subscriptions, want at most %d", held, share)
	}
	if msg := u.lastRefusal(); !strings.Contains(msg, "MaxSubscriptionsPerConnection") || !strings.Contains(msg, "connection") {
		t.Fatalf("refusal %q does not say which limit and what to do", msg)
	}
	// Another caller still subscribes.
	other := newSubscriber(t, s)
	other.subscribe(1)
	eventually(t, "the other connection's subscription", func() bool { return s.Hub().Subscribers() == held+1 })
	if r := other.refused.Load(); r != 0 {
		t.Fatalf("the other connection was refused: %s", other.lastRefusal())
	}
	// A completed subscription frees a place of the connection.
	u.complete(0)
	eventually(t, "a place freed", func() bool { return s.Hub().Subscribers() == held })
	before := u.refused.Load()
	u.subscribe(tries)
	eventually(t, "the connection's new subscription", func() bool { return s.Hub().Subscribers() == held+1 })
	if r := u.refused.Load(); r != before {
		t.Fatalf("the subscription that took the freed place was refused: %s", u.lastRefusal())
	}
}

// TestAttackSubscriptionsFairAcrossConnections: a caller opens enough websockets to
// hold every place (here 2 connections of 4 for a bound of 8; by default 16 of 64). A
// new connection was refused until the caller let go. Now, with every place held, a
// connection's new subscription ends the newest of the connection holding the most
// when that one holds at least two more than it: each connection keeps a share, a
// connection's only subscription is never ended, and taking every place from the
// others takes one connection per place.
func TestAttackSubscriptionsFairAcrossConnections(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	const bound, share = 8, 4
	s := n.service(0, serviceOpts{limits: nodeservice.Limits{MaxSubscriptions: bound, MaxSubscriptionsPerConnection: share}})
	attacker := []*subscriber{newSubscriber(t, s), newSubscriber(t, s)}
	for i := range bound {
		attacker[i/share].subscribe(i)
	}
	eventually(t, "the attacker's subscriptions", func() bool { return s.Hub().Subscribers() == bound })
	ended := func() int { return int(attacker[0].refused.Load() + attacker[1].refused.Load()) }
	// Six connections each subscribe once: each ends one of the attacker's, until
	// every connection holds one.
	var others []*subscriber
	for i := range bound - 2 {
		u := newSubscriber(t, s)
		others = append(others, u)
		u.subscribe(1)
		eventually(t, "an attacker's subscription ended", func() bool { return ended() == i+1 || u.refused.Load() > 0 })
		if u.refused.Load() > 0 {
			t.Fatalf("connection %d refused with every place held by %d connections: %s", i, len(attacker)+i, u.lastRefusal())
		}
	}
	msg, _ := attacker[0].last.Load().(string)
	if msg == "" {
		msg, _ = attacker[1].last.Load().(string)
	}
	t.Logf("ended to make room: %s", msg)
	if !strings.Contains(msg, "Limits.MaxSubscriptions") || !strings.Contains(msg, "another connection") {
		t.Fatalf("the ended subscription's error %q does not say why", msg)
	}
	eventually(t, "the ended subscriptions gone", func() bool { return s.Hub().Subscribers() == bound })
	// Every connection holds one: the next is refused, the attacker's too.
	last := newSubscriber(t, s)
	last.subscribe(1)
	attacker[0].subscribe(100)
	eventually(t, "the refusals", func() bool { return last.refused.Load() == 1 && ended() == bound-2+1 })
	if r := last.lastRefusal(); !strings.Contains(r, "Limits.MaxSubscriptions") {
		t.Fatalf("refusal %q does not say why", r)
	}
	for i, u := range others {
		if r := u.refused.Load(); r != 0 {
			t.Fatalf("connection %d's only subscription ended: %s", i, u.lastRefusal())
		}
	}
	if held := s.Hub().Subscribers(); held != bound {
		t.Fatalf("%d subscriptions held, want %d", held, bound)
	}
}
