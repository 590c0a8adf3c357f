package rpc

import (
	"context"
	"fmt"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// CrossChainHandler handles cross-chain requests: a *worker.Worker in process or a
// *ShardClient over gRPC.
type CrossChainHandler interface {
	HandleCrossChainRequest(ctx context.Context, req *protocol.CrossChainRequest) error
}

var (
	_ worker.Router     = (*Router)(nil)
	_ CrossChainHandler = (*worker.Worker)(nil)
	_ CrossChainHandler = (*ShardClient)(nil)
)

// Router implements worker.Router for the shards of one validator: a request goes to
// the shard that owns its target chain (the recipient of an update, the sender of a
// confirmation). Shards are set after construction, because workers need the router
// when they are built. Safe for concurrent use.
type Router struct {
	mu     sync.RWMutex
	shards []CrossChainHandler
}

// NewRouter returns a router over n shards, none set yet.
func NewRouter(n int) *Router {
	return &Router{shards: make([]CrossChainHandler, max(n, 1))}
}

// SetShard sets the handler of shard i: the local worker, or a client of a remote shard.
func (r *Router) SetShard(i int, h CrossChainHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shards[i] = h
}

// RouteCrossChain implements worker.Router. A request for a shard not set yet fails with
// a retryable error (the worker retries deliveries).
func (r *Router) RouteCrossChain(ctx context.Context, req *protocol.CrossChainRequest) error {
	target := req.Recipient
	if req.Confirm {
		target = req.Sender
	}
	r.mu.RLock()
	i := ShardOf(target, len(r.shards))
	h := r.shards[i]
	r.mu.RUnlock()
	if h == nil {
		return fmt.Errorf("%w: shard %d of chain %s is not connected", base.ErrRetryable, i, target.Short())
	}
	return h.HandleCrossChainRequest(ctx, req)
}
