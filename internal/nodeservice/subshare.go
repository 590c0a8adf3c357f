package nodeservice

import (
	"context"
	"fmt"
	"sync/atomic"
)

// connShareKey marks, in a websocket connection's context, the count of the
// notifications subscriptions it holds.
type connShareKey struct{}

// withConnShare gives a websocket connection's context a count of its subscriptions,
// starting at zero.
func withConnShare(ctx context.Context) context.Context {
	return context.WithValue(ctx, connShareKey{}, new(atomic.Int64))
}

// takeSubscription takes a place for a notifications subscription: one of its
// connection's Limits.MaxSubscriptionsPerConnection (for a websocket), then one of the
// service's Limits.MaxSubscriptions. It returns the function that gives both back when
// the subscription ends, or an error that says which limit refused it.
func (s *Service) takeSubscription(ctx context.Context) (release func(), err error) {
	conn, _ := ctx.Value(connShareKey{}).(*atomic.Int64)
	if conn != nil && conn.Add(1) > int64(s.limits.MaxSubscriptionsPerConnection) {
		conn.Add(-1)
		return nil, fmt.Errorf("too many subscriptions on this connection: a websocket holds at most %d at once (Limits.MaxSubscriptionsPerConnection); end one, or subscribe on another connection", s.limits.MaxSubscriptionsPerConnection)
	}
	select {
	case s.subscriptions <- struct{}{}:
	default:
		if conn != nil {
			conn.Add(-1)
		}
		return nil, fmt.Errorf("too many subscriptions: the service holds at most %d at once (Limits.MaxSubscriptions); end one and subscribe again", s.limits.MaxSubscriptions)
	}
	return func() {
		<-s.subscriptions
		if conn != nil {
			conn.Add(-1)
		}
	}, nil
}
