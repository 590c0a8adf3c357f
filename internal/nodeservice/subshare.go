package nodeservice

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// subTable holds the places of the notifications subscriptions: at most
// Limits.MaxSubscriptions in all, at most Limits.MaxSubscriptionsPerConnection on one
// websocket connection. When every place is held, a connection's new subscription
// takes the newest place of the connection holding the most, if that one holds at
// least two more than it (the ended subscription gets an error): so the places tend to
// an even share over the connections, a connection's only subscription is never taken,
// and a caller needs one connection per place to keep the others out.
type subTable struct {
	max, perConn int

	mu    sync.Mutex
	held  int
	conns map[*connShare]struct{} // the websocket connections holding places
}

// connShare is a websocket connection's places, in a context value (connShareKey).
type connShare struct {
	places []*subPlace // oldest first
}

// subPlace is the place of one subscription.
type subPlace struct {
	conn  *connShare              // nil: not a websocket's (SSE)
	end   context.CancelCauseFunc // ends the subscription (errPlaceTaken)
	freed bool
}

// errPlaceTaken is the cause of a subscription's end when another connection took its
// place.
var errPlaceTaken = errors.New("another connection took the subscription's place")

// connShareKey marks, in a websocket connection's context, its *connShare.
type connShareKey struct{}

// withConnShare gives a websocket connection's context its share, empty.
func withConnShare(ctx context.Context) context.Context {
	return context.WithValue(ctx, connShareKey{}, &connShare{})
}

func newSubTable(l Limits) *subTable {
	return &subTable{max: l.MaxSubscriptions, perConn: l.MaxSubscriptionsPerConnection, conns: map[*connShare]struct{}{}}
}

// take takes a place for a subscription of the connection in ctx (if any), or returns
// an error that says which limit refused it. end ends the subscription if another
// connection takes the place.
func (t *subTable) take(ctx context.Context, end context.CancelCauseFunc) (*subPlace, error) {
	conn, _ := ctx.Value(connShareKey{}).(*connShare)
	t.mu.Lock()
	defer t.mu.Unlock()
	mine := 0
	if conn != nil {
		mine = len(conn.places)
	}
	if mine >= t.perConn {
		return nil, fmt.Errorf("too many subscriptions on this connection: a websocket holds at most %d at once (Limits.MaxSubscriptionsPerConnection); end one, or subscribe on another connection", t.perConn)
	}
	if t.held >= t.max {
		var most *connShare
		for c := range t.conns {
			if len(c.places) > mine+1 && (most == nil || len(c.places) > len(most.places)) {
				most = c
			}
		}
		if most == nil {
			return nil, fmt.Errorf("too many subscriptions: the service holds at most %d at once (Limits.MaxSubscriptions) and no connection holds two more than this one; end one and subscribe again", t.max)
		}
		newest := most.places[len(most.places)-1]
		t.free(newest)
		newest.end(errPlaceTaken)
	}
	p := &subPlace{conn: conn, end: end}
	if conn != nil {
		conn.places = append(conn.places, p)
		t.conns[conn] = struct{}{}
	}
	t.held++
	return p, nil
}

// release gives back a subscription's place when it ends.
func (t *subTable) release(p *subPlace) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.free(p)
}

// free gives back a place once. Called with t.mu held.
func (t *subTable) free(p *subPlace) {
	if p.freed {
		return
	}
	p.freed = true
	t.held--
	if c := p.conn; c != nil {
		c.places = slices.DeleteFunc(c.places, func(q *subPlace) bool { return q == p })
		if len(c.places) == 0 {
			delete(t.conns, c)
		}
	}
}
