package nodeservice

import (
	"context"
	"fmt"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Chains outside the wallet are synced on demand when a request names them: each is
// looked up on every validator and, if it exists, its history is downloaded, verified,
// executed and stored by the local replica. Queries need no token on loopback, and a GET
// query needs no CORS preflight, so any web page the user opens can name chains. These
// bounds keep what one request makes the node fetch proportional to the request:
const (
	// MaxOnDemandChains is the number of distinct chains outside the wallet that one
	// request may name (a chain named twice counts once); the others are refused.
	MaxOnDemandChains = 16
	// maxOnDemandSyncs is the number of on-demand syncs the service runs at once, over
	// all requests; the others wait within their request's deadline.
	maxOnDemandSyncs = 4
)

// onDemandBudget counts the chains outside the wallet one request has named. It is safe
// for concurrent use (gqlgen resolves the fields of a query concurrently).
type onDemandBudget struct {
	mu     sync.Mutex
	chains map[base.ChainID]struct{}
}

type onDemandKey struct{}

// withOnDemandBudget returns ctx carrying a fresh budget for one request.
func withOnDemandBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, onDemandKey{}, &onDemandBudget{chains: map[base.ChainID]struct{}{}})
}

// admit charges id to the request's budget; it fails once the request has named
// MaxOnDemandChains other chains outside the wallet. A context without a budget (a
// caller inside the process) is not bounded.
func admitOnDemand(ctx context.Context, id base.ChainID) error {
	b, _ := ctx.Value(onDemandKey{}).(*onDemandBudget)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.chains[id]; ok {
		return nil
	}
	if len(b.chains) >= MaxOnDemandChains {
		return base.Invalidf("chain %s: one request may name at most %d chains outside the wallet", id, MaxOnDemandChains)
	}
	b.chains[id] = struct{}{}
	return nil
}

// syncOnDemand syncs a chain outside the wallet for a request: charged to the request's
// budget, and run when one of the service's maxOnDemandSyncs slots is free.
func (s *Service) syncOnDemand(ctx context.Context, id base.ChainID) error {
	if err := admitOnDemand(ctx, id); err != nil {
		return err
	}
	select {
	case s.onDemand <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("chain %s: waiting to sync: %w", id, ctx.Err())
	}
	defer func() { <-s.onDemand }()
	_, err := s.c.SyncChain(ctx, id)
	return err
}

// pendingMemo keeps, for one request, the pending bundles the validators reported for
// each chain: an inbox summary asks every validator for up to 10,000 bundles and 16 MiB
// (a stranger's bundles fill a chain's inbox), and aliases repeated it up to the
// complexity limit (about 100 times in one GET query). Each chain's inbox is now asked
// once per request. Safe for concurrent use; fetches of one request run one at a time.
type pendingMemo struct {
	mu sync.Mutex
	m  map[base.ChainID][]protocol.IncomingBundle
}

type pendingMemoKey struct{}

// withPendingMemo returns ctx carrying a fresh memo for one request.
func withPendingMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, pendingMemoKey{}, &pendingMemo{m: map[base.ChainID][]protocol.IncomingBundle{}})
}

// pendingBundles returns the pending bundles of chain id (client.PendingBundles), once
// per request whose context carries a memo.
func (s *Service) pendingBundles(ctx context.Context, id base.ChainID) ([]protocol.IncomingBundle, error) {
	m, _ := ctx.Value(pendingMemoKey{}).(*pendingMemo)
	if m == nil {
		return s.c.PendingBundles(ctx, id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.m[id]; ok {
		return b, nil
	}
	b, err := s.c.PendingBundles(ctx, id)
	if err != nil {
		return nil, err
	}
	m.m[id] = b
	return b, nil
}
