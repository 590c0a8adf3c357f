// Package localnet runs a local network in one process: N validators, each a worker over
// its own Pebble store under a directory, and clients that talk to them directly. It is
// the in-process network behind `mica demo`; `mica net up` (separate processes over
// gRPC) builds on the same parts.
package localnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// WallClock is the real clock; composition roots inject it.
type WallClock struct{}

// Now returns the current time.
func (WallClock) Now() base.Timestamp { return base.TimestampFromTime(time.Now()) }

// Network is a running local network.
type Network struct {
	Genesis   *protocol.GenesisConfig
	Committee *protocol.Committee
	Owners    []*crypto.PrivateKey
	Workers   []*worker.Worker
	stores    []kv.Store
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	log       *slog.Logger
}

// Config sets up a network.
type Config struct {
	Dir        string // Pebble stores go under Dir/validator-i
	Validators int
	Chains     int
	Balance    base.Amount
	Logger     *slog.Logger
	// Keys derives key i (validators are 0..N-1, chain owners 1000+i).
	Keys func(i int) (*crypto.PrivateKey, error)
	// Genesis, when set, is the network to resume (its committee and chains must match
	// the keys); otherwise a new genesis is made.
	Genesis *protocol.GenesisConfig
}

// Start creates (or reopens) the stores, installs the genesis on first start, and starts
// the validators' cross-chain delivery loops.
func Start(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.Validators < 1 {
		return nil, fmt.Errorf("need at least 1 validator, got %d", cfg.Validators)
	}
	if cfg.Chains < 1 {
		return nil, fmt.Errorf("need at least 1 chain, got %d", cfg.Chains)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keyOf := cfg.Keys
	if keyOf == nil {
		return nil, errors.New("localnet: Keys is required")
	}
	n := &Network{log: log}
	var validatorKeys []*crypto.PrivateKey
	var vs []protocol.ValidatorState
	for i := 0; i < cfg.Validators; i++ {
		k, err := keyOf(i)
		if err != nil {
			return nil, err
		}
		validatorKeys = append(validatorKeys, k)
		vs = append(vs, protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: fmt.Sprintf("in-process:%d", i), Votes: 1})
	}
	committee, err := protocol.NewCommittee(vs, protocol.NoFeesPolicy())
	if err != nil {
		return nil, err
	}
	n.Committee = committee
	g := &protocol.GenesisConfig{NetworkName: "local", Timestamp: WallClock{}.Now(), Committee: *committee}
	for i := 0; i < cfg.Chains; i++ {
		k, err := keyOf(1000 + i)
		if err != nil {
			return nil, err
		}
		n.Owners = append(n.Owners, k)
		g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(k.Public().Owner()), Balance: cfg.Balance})
	}
	if cfg.Genesis != nil {
		if string(codec.Marshal(&cfg.Genesis.Committee)) != string(codec.Marshal(committee)) || len(cfg.Genesis.Chains) != len(g.Chains) {
			return nil, errors.New("the stored genesis does not match the keys (different validator or chain count?)")
		}
		g = cfg.Genesis
	}
	n.Genesis = g
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for i, k := range validatorKeys {
		st, err := n.open(ctx, filepath.Join(cfg.Dir, fmt.Sprintf("validator-%d", i)), g)
		if err != nil {
			n.Close()
			return nil, err
		}
		w := worker.New(worker.Config{Storage: st, Signer: k, Clock: WallClock{}, Logger: log.With("validator", i)})
		if err := w.Recover(ctx); err != nil {
			n.Close()
			return nil, fmt.Errorf("recover deliveries of validator %d: %w", i, err)
		}
		n.Workers = append(n.Workers, w)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = w.Run(runCtx, time.Second)
		}()
	}
	return n, nil
}

// open opens a Pebble store and installs the genesis if the store is new, or checks that
// the stored genesis is the same network.
func (n *Network) open(ctx context.Context, dir string, g *protocol.GenesisConfig) (*storage.Storage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db, err := pebblekv.Open(dir, pebblekv.Options{Logger: n.log})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	n.stores = append(n.stores, db)
	st := storage.New(db)
	stored, err := st.Genesis(ctx)
	switch {
	case err == nil:
		if stored.Hash() != g.Hash() {
			return nil, fmt.Errorf("store %s belongs to another network", dir)
		}
	case base.IsNotFound(err):
		var b kv.Batch
		storage.PutGenesis(&b, g)
		if err := st.Write(ctx, &b); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return st, nil
}

// Client returns a client with its own in-memory local node.
func (n *Network) Client(ctx context.Context) (*client.Client, error) {
	db := memkv.New()
	n.stores = append(n.stores, db)
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, n.Genesis)
	if err := st.Write(ctx, &b); err != nil {
		return nil, err
	}
	local := worker.New(worker.Config{Storage: st, Clock: WallClock{}, Logger: n.log})
	var vals []client.Validator
	for _, w := range n.Workers {
		vals = append(vals, client.Validator{PublicKey: w.PublicKey(), Node: w})
	}
	return client.New(client.Config{Local: local, Committee: n.Committee, Validators: vals, Clock: WallClock{}, Logger: n.log}), nil
}

// Close stops the delivery loops and closes every store.
func (n *Network) Close() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	for _, s := range n.stores {
		_ = s.Close()
	}
}
