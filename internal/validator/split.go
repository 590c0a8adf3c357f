package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// ErrNeedsSharedStore: shards in separate processes must share a database.
var ErrNeedsSharedStore = errors.New("shards and proxy in separate processes need a shared database: set \"store\" to a postgres:// URL")

func checkSplit(cfg *Config) error {
	if !isPostgres(cfg.Store) {
		return ErrNeedsSharedStore
	}
	if len(cfg.ShardAddresses) != cfg.Shards {
		return fmt.Errorf("config lists %d shard_addresses for %d shards", len(cfg.ShardAddresses), cfg.Shards)
	}
	return nil
}

// RunShard runs shard i of a validator as its own process: its worker over the shared
// store, serving the internal ValidatorWorker service on ShardAddresses[i] to clients
// presenting a certificate of the validator's internal CA only. Cross-chain
// requests for chains of other shards go to those shards over gRPC.
func RunShard(ctx context.Context, cfg *Config, i int, log *slog.Logger) error {
	if err := checkSplit(cfg); err != nil {
		return err
	}
	if i < 0 || i >= cfg.Shards {
		return fmt.Errorf("--shard %d: the validator has shards 0..%d", i, cfg.Shards-1)
	}
	key, err := ReadKey(cfg.KeyFile)
	if err != nil {
		return err
	}
	g, err := ReadGenesis(cfg.Genesis)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	st := storage.New(db)
	if err := installGenesis(ctx, st, g); err != nil {
		return err
	}
	engine, err := newEngine(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer engine.Close(context.Background())
	serverCreds, clientCreds, err := rpc.InternalCredentials(cfg.InternalTLS())
	if err != nil {
		return err
	}
	var w *worker.Worker
	obs, err := newObserver(cfg, "shard", db, engine, func() []*worker.Worker { return []*worker.Worker{w} }, log)
	if err != nil {
		return err
	}
	if obs.srv != nil {
		defer obs.srv.Close()
	}
	notifier := rpc.NewNotifier(0)
	router := rpc.NewRouter(cfg.Shards)
	w = worker.New(worker.Config{Storage: st, Signer: key, Clock: WallClock{}, Logger: log, Notify: notifier.Publish, Router: router, Loader: wasm.NewLoader(engine, 0), Metrics: obs.workers, PendingBundleBytes: true})
	router.SetShard(i, w)
	for j, addr := range cfg.ShardAddresses {
		if j == i {
			continue
		}
		sc, err := rpc.DialShard(addr, rpc.DialOptions{CallTimeout: 5 * time.Second, Logger: log, Credentials: clientCreds})
		if err != nil {
			return fmt.Errorf("shard %d at %s: %w", j, addr, err)
		}
		defer sc.Close()
		router.SetShard(j, sc)
	}
	if err := w.Recover(ctx); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ShardAddresses[i])
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ShardAddresses[i], err)
	}
	// The shard serves only the validator's own processes: mutual TLS under its
	// internal CA.
	limits := rpc.InternalLimits(g.Committee.Policy)
	srv := rpc.NewServer(lis, rpc.ServerConfig{Logger: log, Credentials: serverCreds, Limits: &limits, Metrics: obs.rpc})
	rpc.NewShardServer(w, notifier, log).Register(srv.Registrar())
	log.Info("shard serving", "shard", i, "address", lis.Addr().String())
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return srv.Run(gctx) })
	eg.Go(func() error { return w.Run(gctx, time.Second) })
	if obs.srv != nil {
		eg.Go(func() error { return obs.srv.Run(gctx) })
	}
	obs.ready.Store(true)
	err = eg.Wait()
	obs.ready.Store(false)
	log.Info("shard stopped", "shard", i)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// RunProxy runs a validator's proxy as its own process: the public ValidatorNode
// service on Address, routing each chain to its shard process, serving downloads from
// the shared store and relaying the shards' notifications to subscribers.
func RunProxy(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if err := checkSplit(cfg); err != nil {
		return err
	}
	g, err := ReadGenesis(cfg.Genesis)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	st := storage.New(db)
	if err := installGenesis(ctx, st, g); err != nil {
		return err
	}
	_, clientCreds, err := rpc.InternalCredentials(cfg.InternalTLS())
	if err != nil {
		return err
	}
	obs, err := newObserver(cfg, "proxy", db, nil, nil, log)
	if err != nil {
		return err
	}
	if obs.srv != nil {
		defer obs.srv.Close()
	}
	pubCfg, err := publicServerConfig(cfg, g.Committee.Policy, log, obs.rpc)
	if err != nil {
		return err
	}
	shards := make([]rpc.Shard, cfg.Shards)
	for j, addr := range cfg.ShardAddresses {
		sc, err := rpc.DialShard(addr, rpc.DialOptions{CallTimeout: 10 * time.Second, Logger: log, Credentials: clientCreds})
		if err != nil {
			return fmt.Errorf("shard %d at %s: %w", j, addr, err)
		}
		defer sc.Close()
		shards[j] = sc
	}
	proxy, err := rpc.NewProxy(rpc.ProxyConfig{Shards: shards, Storage: st, Notifier: rpc.NewNotifier(0), Logger: log, GenesisHash: g.Hash()})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Address, err)
	}
	srv := rpc.NewServer(lis, pubCfg)
	proxy.Register(srv.Registrar())
	log.Info("proxy serving", "address", lis.Addr().String(), "shards", cfg.Shards)
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return srv.Run(gctx) })
	eg.Go(func() error { return proxy.Run(gctx) })
	if obs.srv != nil {
		eg.Go(func() error { return obs.srv.Run(gctx) })
	}
	obs.ready.Store(true)
	err = eg.Wait()
	obs.ready.Store(false)
	log.Info("proxy stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
