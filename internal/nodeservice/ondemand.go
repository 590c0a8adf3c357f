package nodeservice

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Chains outside the wallet are synced on demand when a request names them: each is
// looked up on every validator and, if it exists, its history is downloaded, verified,
// executed and stored by the local replica for good. Queries need no token on loopback,
// and any web page the user opens can make the browser send a GET query (an <img src>,
// a no-cors fetch: no CORS preflight). So a GET, and any request a browser marks as sent
// by another site's page, never syncs on demand: it answers from the local replica
// (onDemandPolicy). Other sites' pages cannot POST either (protectCrossOrigin, and CORS
// refuses their preflight), and only a JSON POST is a GraphQL request. These bounds keep
// what one request that may sync makes the node fetch proportional to the request:
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

// onDemandRuleKey marks, in a request's context, why the request may not sync chains
// outside the wallet (absent: it may).
type onDemandRuleKey struct{}

// onDemandPolicy marks the requests that may not sync chains outside the wallet on
// demand (onDemandRefusal): they are answered from the local replica.
func (s *Service) onDemandPolicy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := s.onDemandRefusal(r); why != "" {
			r = r.WithContext(context.WithValue(r.Context(), onDemandRuleKey{}, why))
		}
		next.ServeHTTP(w, r)
	})
}

// onDemandRefusal says why r may not sync chains outside the wallet, or "" if it may. A
// GET (but a websocket upgrade, whose origin is checked) is meant to be safe, and any
// web page can make the browser send one. A request a browser sent from another site's
// page (crossSite) may not either, unless AllowOrigins names its origin ("*" does not
// count: it lets any page read, not store).
func (s *Service) onDemandRefusal(r *http.Request) string {
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Upgrade") == "":
		return "a GET query answers from the local replica only (any web page can make the browser send one); send the query by POST with Content-Type: application/json to fetch the chain"
	case crossSite(r) && !s.allowedOrigin(r.Header.Get("Origin"), false):
		return fmt.Sprintf("a request from another site's web page (Origin %q) answers from the local replica only; use the service's own pages, the CLI, or mica service --allow-origin for that page's origin", r.Header.Get("Origin"))
	}
	return ""
}

// crossSite reports a request a browser marks as sent by a page of another site
// (Sec-Fetch-Site cross-site, or same-site: another port of localhost is the same site)
// or, from a browser that does not send Sec-Fetch-Site, whose Origin names another host
// than the request (or is "null").
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "":
		o := r.Header.Get("Origin")
		if o == "" {
			return false
		}
		u, err := url.Parse(o)
		return err != nil || !strings.EqualFold(u.Host, r.Host)
	}
	return false
}

// syncOnDemand makes the local replica hold a chain outside the wallet, up to date, for
// a request: charged to the request's budget, and run when one of the service's
// maxOnDemandSyncs slots is free. A request onDemandPolicy marks is answered from the
// replica: nil if it holds the chain, else an invalid-input error saying why.
func (s *Service) syncOnDemand(ctx context.Context, id base.ChainID) error {
	if err := admitOnDemand(ctx, id); err != nil {
		return err
	}
	if why, _ := ctx.Value(onDemandRuleKey{}).(string); why != "" {
		if _, err := s.c.LocalTip(ctx, id); err == nil {
			return nil
		}
		return base.Invalidf("chain %s is not in the local replica: %s", id, why)
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
