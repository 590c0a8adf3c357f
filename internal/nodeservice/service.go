// Package nodeservice is the node service behind `mica service`: the user's sparse client
// served as a trusted GraphQL endpoint.
//
// It serves
//   - the system GraphQL schema at "/" (schema.graphqls, compiled by gqlgen): queries over
//     the wallet's chains, blocks and blobs as the local replica holds them; mutations that
//     are intents ("transfer 10 to X") which the service turns into signed blocks with the
//     wallet's keys; a notifications subscription over graphql-transport-ws, the legacy
//     graphql-ws and SSE;
//   - one endpoint per application at /chains/{chain}/applications/{app}: the raw GraphQL
//     request is forwarded to the application's service on the local replica; operations the
//     service schedules (a mutation) are committed in a block on that chain;
//   - GraphiQL to browsers on every GraphQL endpoint, the web wallet and explorer at
//     /wallet/ and their assets at /assets/ (package webui, embedded in the binary);
//   - extra handlers the composition root adds (Config.Extra or Mount: /mcp, /metrics).
//
// Run keeps every chain of the wallet synced: it listens to validator notifications and
// catches up periodically, so a dropped stream never leaves a chain behind, and (with
// Config.ProcessInbox) receives incoming bundles by itself.
//
// Trust: the service holds the wallet's keys and signs whatever an authorised caller asks.
// It listens on loopback by default; Config.Token (a bearer token) guards mutations,
// subscriptions and extra handlers, and every request when Config.TokenForQueries is set
// (what `mica service` does on a non-loopback address). Every request is bounded: body
// size, query depth and complexity, list lengths and wall-clock time; and so are the
// subscriptions held at once (Limits.MaxSubscriptions, and
// Limits.MaxSubscriptionsPerConnection on one websocket).
//
// While a Service runs it owns the wallet: mutations on one chain are serialized by a
// per-chain lock, and the wallet's pending fast proposals are kept as the CLI keeps them.
package nodeservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/wallet"
)

// Config is what a Service runs on. Wallet and Client are required.
type Config struct {
	Wallet *wallet.Wallet
	Client *client.Client
	Logger *slog.Logger
	// Hub carries the notifications subscribers see. The composition root passes
	// Hub.Publish as the Notify hook of the client's local worker, so that NEW_BLOCK is
	// published when the local replica advances. Nil: New makes one (then NEW_BLOCK comes
	// from the service's own syncs only).
	Hub *Hub
	// ProcessInbox makes Run receive incoming bundles on every chain the wallet owns.
	ProcessInbox bool
	// CatchUp is the period of the background catch-up sync (default 5 s).
	CatchUp time.Duration
	// RequestChain asks a faucet for a new chain owned by owner (the requestChain
	// mutation); nil disables the mutation.
	RequestChain func(ctx context.Context, faucetURL string, owner base.Owner) (base.ChainID, error)
	// Token, if not empty, is the bearer token required for mutations, subscriptions and
	// Extra handlers (and for queries when TokenForQueries is set).
	Token           string
	TokenForQueries bool
	// AllowOrigins lists the origins allowed by CORS ("*" for any); empty: no CORS.
	AllowOrigins []string
	// LoopbackHosts refuses requests whose Host header is not a loopback name (set it
	// when listening on loopback: it defeats DNS rebinding).
	LoopbackHosts bool
	// Extra handlers mounted at their path (exact path, and the path + "/" prefix),
	// wrapped by the service's authentication (token required), limits and recovery.
	Extra map[string]http.Handler
	// Limits bound each request; zero fields take the defaults (DefaultLimits).
	Limits Limits
	// GraphiQL returns the GraphiQL page of an endpoint (its path, and the path of its
	// subscriptions), served to browsers that GET it; nil: webui.GraphiQL.
	GraphiQL func(endpoint, subscriptionEndpoint string) http.Handler
}

// Limits bound what one request can make the service allocate or compute.
type Limits struct {
	// MaxBody is the largest request body in bytes (default 1 MiB).
	MaxBody int64
	// MaxPublishBody is the largest body of a request that publishes bytecode or a data
	// blob (a mutation naming publishModule or publishDataBlob); default 24 MiB.
	MaxPublishBody int64
	// MaxDepth is the deepest selection a query may nest (default 12).
	MaxDepth int
	// MaxComplexity bounds gqlgen's complexity of an operation (default 5000).
	MaxComplexity int
	// Timeout is the wall-clock budget of a query or mutation (default 60 s; a
	// mutation that publishes a module may take long on validators that compile it).
	Timeout time.Duration
	// SubscriberBuffer is the per-subscriber notification buffer (default 256): a
	// subscriber that falls that far behind is dropped with an error.
	SubscriberBuffer int
	// MaxReadBytes bounds the bytes of certificates and blobs that the block lists,
	// application scans and blob queries of one request read (default
	// DefaultMaxReadBytes, 32 MiB; blockbytes.go).
	MaxReadBytes int
	// MaxSubscriptions bounds the notifications subscriptions the service holds at once,
	// over every connection and transport (default 1024). With every place held, one
	// more takes the newest place of the websocket connection holding the most if that
	// one holds at least two more than its own connection (that subscription ends with
	// a GraphQL error), else it is refused with a GraphQL error until one ends.
	MaxSubscriptions int
	// MaxSubscriptionsPerConnection bounds the notifications subscriptions one
	// websocket connection holds at once (default 64). (An SSE subscription is a
	// request of its own: one per connection.)
	MaxSubscriptionsPerConnection int
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{MaxBody: 1 << 20, MaxPublishBody: 24 << 20, MaxDepth: 12, MaxComplexity: 5000, Timeout: 60 * time.Second, SubscriberBuffer: 256, MaxReadBytes: DefaultMaxReadBytes, MaxSubscriptions: 1024,
	MaxSubscriptionsPerConnection: 64}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxBody > 0 {
		d.MaxBody = l.MaxBody
	}
	if l.MaxPublishBody > 0 {
		d.MaxPublishBody = l.MaxPublishBody
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxComplexity > 0 {
		d.MaxComplexity = l.MaxComplexity
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	if l.MaxReadBytes > 0 {
		d.MaxReadBytes = l.MaxReadBytes
	}
	if l.SubscriberBuffer > 0 {
		d.SubscriberBuffer = l.SubscriberBuffer
	}
	if l.MaxSubscriptions > 0 {
		d.MaxSubscriptions = l.MaxSubscriptions
	}
	if l.MaxSubscriptionsPerConnection > 0 {
		d.MaxSubscriptionsPerConnection = l.MaxSubscriptionsPerConnection
	}
	return d
}

// Service is the node service. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	w      *wallet.Wallet
	c      *client.Client
	log    *slog.Logger
	hub    *Hub
	limits Limits

	mu    sync.Mutex
	locks map[base.ChainID]*sync.Mutex // per-chain mutation locks; keys: wallet chains only
	kicks map[base.ChainID]chan struct{}
	// onDemand holds a slot per on-demand sync running (ondemand.go).
	onDemand chan struct{}
	// subscriptions holds the places of the notifications subscriptions (subshare.go).
	subscriptions *subTable

	mux     *http.ServeMux
	handler http.Handler
}

// New makes a service; Run starts its background work and Handler serves it.
func New(cfg Config) (*Service, error) {
	if cfg.Wallet == nil || cfg.Client == nil {
		return nil, errors.New("nodeservice: Wallet and Client are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hub == nil {
		cfg.Hub = NewHub()
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 5 * time.Second
	}
	s := &Service{cfg: cfg, w: cfg.Wallet, c: cfg.Client, log: cfg.Logger, hub: cfg.Hub, limits: cfg.Limits.withDefaults(),
		locks: map[base.ChainID]*sync.Mutex{}, kicks: map[base.ChainID]chan struct{}{},
		onDemand: make(chan struct{}, maxOnDemandSyncs)}
	s.subscriptions = newSubTable(s.limits)
	h, err := s.buildHandler()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Close ends every subscription (their streams complete). The wallet and the client
// belong to the caller, who closes them after Run has returned.
func (s *Service) Close() error {
	s.hub.Close()
	return nil
}

// Hub returns the service's notification hub.
func (s *Service) Hub() *Hub { return s.hub }

// Handler serves the service over HTTP (see the package doc for the routes).
func (s *Service) Handler() http.Handler { return s.handler }

// chainLock returns the lock serializing the mutations of one chain of the wallet.
func (s *Service) chainLock(id base.ChainID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	return l
}

// Run keeps the wallet's chains synced until ctx ends: one listener per chain (validator
// notifications), a periodic catch-up, and inbox processing when configured. Chains
// added to the wallet while it runs (openChain, requestChain) are picked up at the next
// catch-up. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	listening := map[base.ChainID]bool{}
	tick := time.NewTicker(s.cfg.CatchUp)
	defer tick.Stop()
	for {
		for _, ch := range s.w.Chains() {
			id := ch.ID
			if !listening[id] {
				listening[id] = true
				kick := s.kick(id)
				wg.Add(2)
				go func() {
					defer wg.Done()
					err := s.c.Listen(ctx, id, func(n protocol.Notification) {
						// NEW_BLOCK is published by the local replica once it has the block;
						// the other kinds come from validators.
						if n.Kind != protocol.ReasonNewBlock {
							s.hub.Publish(n)
						}
						if n.Kind == protocol.ReasonNewIncomingBundle || n.Kind == protocol.ReasonNewBlock {
							select {
							case kick <- struct{}{}:
							default:
							}
						}
					})
					if err != nil && ctx.Err() == nil {
						s.log.Warn("notifications unavailable; relying on the periodic catch-up", "chain", id.Short(), "err", err)
					}
				}()
				go func() {
					defer wg.Done()
					s.follow(ctx, id, kick)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.mu.Lock()
			for _, k := range s.kicks {
				select {
				case k <- struct{}{}:
				default:
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Service) kick(id base.ChainID) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kicks[id]
	if !ok {
		k = make(chan struct{}, 1)
		s.kicks[id] = k
	}
	return k
}

// follow syncs one chain whenever kicked (a notification or the catch-up tick) and,
// with ProcessInbox, receives its pending bundles.
func (s *Service) follow(ctx context.Context, id base.ChainID, kick chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		if err := s.syncChain(ctx, id); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Debug("catch-up sync failed", "chain", id.Short(), "err", err)
			continue
		}
		if s.cfg.ProcessInbox {
			if ch, ok := s.w.Chain(id); ok && ch.Owner != nil {
				if _, err := s.processInbox(ctx, id); err != nil && ctx.Err() == nil {
					s.log.Warn("processing the inbox failed", "chain", id.Short(), "err", err)
				}
			}
		}
	}
}

// syncChain syncs the local replica of a chain with the validators and publishes
// NEW_BLOCK for blocks the replica gained (the hub drops those the local worker already
// published).
func (s *Service) syncChain(ctx context.Context, id base.ChainID) error {
	before, err := s.c.LocalTip(ctx, id)
	if err != nil && !base.IsNotFound(err) {
		return err
	}
	next, err := s.c.SyncChain(ctx, id)
	if err != nil {
		return err
	}
	s.publishNewBlocks(ctx, id, before.NextHeight, next)
	return nil
}

// publishNewBlocks publishes NEW_BLOCK for heights [from, to) of a chain (at most the
// last 100).
func (s *Service) publishNewBlocks(ctx context.Context, id base.ChainID, from, to base.BlockHeight) {
	if to <= from {
		return
	}
	if to-from > 100 {
		from = to - 100
	}
	st := s.c.Local().Storage()
	for h := from; h < to; h++ {
		hash, err := st.BlockHash(ctx, id, h)
		if err != nil {
			continue
		}
		s.hub.Publish(protocol.Notification{ChainID: id, Kind: protocol.ReasonNewBlock, Height: h, Hash: hash})
	}
}

// defaultChain resolves an optional chain argument.
func (s *Service) defaultChain(chain *string) (base.ChainID, error) {
	if chain != nil && *chain != "" {
		id, err := base.ParseChainID(*chain)
		if err != nil {
			return base.ChainID{}, fmt.Errorf("chain %q: %w", *chain, err)
		}
		return id, nil
	}
	id, ok := s.w.Default()
	if !ok {
		return base.ChainID{}, errors.New("no chain given and the wallet has no default chain")
	}
	return id, nil
}
