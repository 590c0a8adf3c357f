// Package validator is the composition root of a validator: one process running the
// public proxy (gRPC) and the validator's shard workers over one Pebble store. Chains
// are routed to shards by rpc.ShardOf; cross-chain requests between shards go through
// an in-process router; notifications fan out to subscribers through the proxy. In this
// mode the shards have no port at all. Run as separate processes (RunShard, RunProxy),
// the proxy and shards talk over mutual TLS under the validator's internal CA.
//
// Files: a validator's directory holds config.json, its key (mode 0600), its internal
// PKI (internal-ca.pem, internal.pem, internal.key with mode 0600), optionally its
// public TLS certificate and key, and its store (db/). `mica validator generate` writes them, `mica validator run --config` runs one.
package validator

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/kv/pgkv"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// Config is a validator's config.json. Relative paths are relative to the file.
type Config struct {
	Name string `json:"name"`
	// Address is the public gRPC address of the proxy, as listed in the committee.
	Address string `json:"address"`
	// Shards is the number of shard workers (chains are routed by hash).
	Shards int `json:"shards"`
	// KeyFile holds the validator's private key (hex, mode 0600).
	KeyFile string `json:"key_file"`
	// Store is the Pebble directory, or a postgres:// URL. Shards running as separate
	// processes (and their proxy) must share one database, so they need PostgreSQL.
	Store string `json:"store"`
	// StoreTable is the table of a postgres:// store (default "mica_kv"); validators
	// sharing a database use different tables.
	StoreTable string `json:"store_table,omitempty"`
	// ShardAddresses are the internal gRPC addresses of the shards when they run as
	// separate processes (`mica validator run --shard I`, `mica proxy run`).
	ShardAddresses []string `json:"shard_addresses,omitempty"`
	// Genesis is the network's genesis file (the JSON a faucet serves at /genesis).
	Genesis string `json:"genesis"`
	// InternalCA, InternalCert and InternalKey are the validator's internal PKI (mutual
	// TLS between its proxy and shard processes; default internal-ca.pem, internal.pem
	// and internal.key next to the config). `mica validator generate` writes them.
	InternalCA   string `json:"internal_ca,omitempty"`
	InternalCert string `json:"internal_cert,omitempty"`
	InternalKey  string `json:"internal_key,omitempty"`
	// TLSCert and TLSKey, if set, make the public endpoint speak TLS with this
	// certificate (chain) and key (`--tls-cert`, `--tls-key`).
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// MetricsListen, if set, is the host:port of this process's HTTP endpoint for
	// operators: /metrics (Prometheus), /healthz, /readyz (`--metrics-listen`). Keep it
	// on loopback or a private network: it is not authenticated. In split mode every
	// process needs its own (pass --metrics-listen to each).
	MetricsListen string `json:"metrics_listen,omitempty"`
	// Pprof also serves /debug/pprof/ on MetricsListen (`--pprof`).
	Pprof bool `json:"pprof,omitempty"`
	// WasmCache is the directory of the compiled-module cache (`--wasm-cache`; default
	// wasm-cache next to the key file). The validators of one machine may share one:
	// a module they all need is then compiled once (`mica net up` does). It holds
	// machine code the validator runs: only the validators may write to it.
	WasmCache string `json:"wasm_cache,omitempty"`
}

// Default file names of the internal PKI, next to config.json.
const (
	DefaultInternalCA   = "internal-ca.pem"
	DefaultInternalCert = "internal.pem"
	DefaultInternalKey  = "internal.key"
)

// InternalTLS returns the files of the validator's internal PKI.
func (c *Config) InternalTLS() rpc.InternalTLSFiles {
	return rpc.InternalTLSFiles{CA: c.InternalCA, Cert: c.InternalCert, Key: c.InternalKey}
}

// publicServerConfig returns the server configuration of the public endpoint: TLS if
// configured, and the budgets of the network's resource policy.
func publicServerConfig(cfg *Config, policy protocol.ResourcePolicy, log *slog.Logger, m *metrics.RPC) (rpc.ServerConfig, error) {
	limits := rpc.DefaultLimits(policy)
	sc := rpc.ServerConfig{Logger: log, Limits: &limits, Metrics: m}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return sc, errors.New("TLS needs both a certificate (tls_cert, --tls-cert) and a key (tls_key, --tls-key)")
		}
		creds, err := rpc.ServerCredentials(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return sc, err
		}
		sc.Credentials = creds
	}
	return sc, nil
}

// LoadConfig reads a config file and resolves its paths.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for p, def := range map[*string]string{&c.InternalCA: DefaultInternalCA, &c.InternalCert: DefaultInternalCert, &c.InternalKey: DefaultInternalKey} {
		if *p == "" {
			*p = def
		}
	}
	for _, p := range []*string{&c.KeyFile, &c.Store, &c.Genesis, &c.InternalCA, &c.InternalCert, &c.InternalKey, &c.TLSCert, &c.TLSKey, &c.WasmCache} {
		if *p != "" && !filepath.IsAbs(*p) && !isPostgres(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Shards < 1 {
		c.Shards = 1
	}
	if c.Address == "" || c.KeyFile == "" || c.Store == "" || c.Genesis == "" {
		return nil, fmt.Errorf("%s: address, key_file, store and genesis are required", path)
	}
	return &c, nil
}

// WriteKey writes a private key file atomically with mode 0600.
func WriteKey(path string, k *crypto.PrivateKey) error {
	b, err := k.MarshalBinary()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(hex.EncodeToString(b)+"\n"), 0o600)
}

// ReadKey reads a private key file, refusing one that others can read.
func ReadKey(path string) (*crypto.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 && atomicfile.PermissionsEnforced() {
		return nil, fmt.Errorf("key file %s is readable by others (mode %v): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return crypto.UnmarshalPrivateKey(raw)
}

// GenesisFile is the JSON form of a genesis configuration (as served by a faucet).
type GenesisFile struct {
	NetworkName   string `json:"network_name"`
	GenesisHash   string `json:"genesis_hash"`
	GenesisConfig []byte `json:"genesis_config"`
}

// WriteGenesis writes a genesis file atomically.
func WriteGenesis(path string, g *protocol.GenesisConfig) error {
	b, err := json.MarshalIndent(GenesisFile{NetworkName: g.NetworkName, GenesisHash: g.Hash().String(), GenesisConfig: codec.Marshal(g)}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// ReadGenesis reads and checks a genesis file.
func ReadGenesis(path string) (*protocol.GenesisConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f GenesisFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: not a genesis file: %w", path, err)
	}
	var g protocol.GenesisConfig
	if err := codec.Unmarshal(f.GenesisConfig, &g); err != nil {
		return nil, fmt.Errorf("%s: genesis config: %w", path, err)
	}
	if g.Hash().String() != f.GenesisHash {
		return nil, fmt.Errorf("%s: the genesis hash does not match the configuration", path)
	}
	return &g, g.Validate()
}

// WallClock is the real clock.
type WallClock struct{}

// Now returns the current time.
func (WallClock) Now() base.Timestamp { return base.TimestampFromTime(time.Now()) }

// Validator is a running validator.
type Validator struct {
	engine  *wasm.Engine
	cfg     *Config
	log     *slog.Logger
	db      kv.Store
	workers []*worker.Worker
	proxy   *rpc.Proxy
	server  *rpc.Server
	obs     *observer
}

// Open opens the store (installing the genesis on first start, or checking it is the
// same network), builds the shards and the proxy, and listens on the public address.
func Open(ctx context.Context, cfg *Config, log *slog.Logger) (*Validator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, err := ReadKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	g, err := ReadGenesis(cfg.Genesis)
	if err != nil {
		return nil, err
	}
	if g.Committee.Weight(key.Public()) == 0 {
		// A validator that joins later (`mica net add-validator`): it votes only for
		// the committees the admin chain makes it a member of (worker.ErrNotInCommittee).
		log.Info("this validator's key is not in the genesis committee: it votes once the admin chain adds it (mica committee add-validator)", "public_key", key.Public().String())
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	v := &Validator{cfg: cfg, log: log, db: db}
	st := storage.New(db)
	if err := installGenesis(ctx, st, g); err != nil {
		v.Close()
		return nil, err
	}
	if v.engine, err = newEngine(ctx, cfg, log); err != nil {
		v.Close()
		return nil, err
	}
	if v.obs, err = newObserver(cfg, "validator", db, v.engine, func() []*worker.Worker { return v.workers }, log); err != nil {
		v.Close()
		return nil, err
	}
	loader := wasm.NewLoader(v.engine, 0)
	notifier := rpc.NewNotifier(0)
	router := rpc.NewRouter(cfg.Shards)
	shards := make([]rpc.Shard, cfg.Shards)
	for i := range cfg.Shards {
		w := worker.New(worker.Config{Storage: st, Signer: key, Clock: WallClock{}, Logger: log.With("shard", i), Notify: notifier.Publish, Router: router, Loader: loader, Metrics: v.obs.workers, PendingBundleBytes: true})
		router.SetShard(i, w)
		v.workers = append(v.workers, w)
		shards[i] = w
	}
	for _, w := range v.workers {
		if err := w.Recover(ctx); err != nil {
			v.Close()
			return nil, fmt.Errorf("recover deliveries: %w", err)
		}
	}
	v.proxy, err = rpc.NewProxy(rpc.ProxyConfig{Shards: shards, Storage: st, Notifier: notifier, Logger: log, GenesisHash: g.Hash()})
	if err != nil {
		v.Close()
		return nil, err
	}
	sc, err := publicServerConfig(cfg, g.Committee.Policy, log, v.obs.rpc)
	if err != nil {
		v.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Address, err)
	}
	v.server = rpc.NewServer(lis, sc)
	v.proxy.Register(v.server.Registrar())
	return v, nil
}

func isPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// openStore opens a Pebble directory or a PostgreSQL database.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (kv.Store, error) {
	store := cfg.Store
	if isPostgres(store) {
		db, err := pgkv.Open(ctx, store, pgkv.Options{Table: cfg.StoreTable, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		return db, nil
	}
	db, err := pebblekv.Open(store, pebblekv.Options{Logger: log.With("component", "pebble")})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", store, err)
	}
	return db, nil
}

func installGenesis(ctx context.Context, st *storage.Storage, g *protocol.GenesisConfig) error {
	stored, err := st.Genesis(ctx)
	switch {
	case err == nil:
		if stored.Hash() != g.Hash() {
			return errors.New("the store belongs to another network (its genesis differs from the genesis file)")
		}
		return nil
	case base.IsNotFound(err):
		var b kv.Batch
		storage.PutGenesis(&b, g)
		return st.Write(ctx, &b)
	default:
		return err
	}
}

// Addr returns the listening address.
func (v *Validator) Addr() net.Addr { return v.server.Addr() }

// Run serves until ctx ends, then stops the server, the delivery loops and the store.
func (v *Validator) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return v.server.Run(gctx) })
	for _, w := range v.workers {
		g.Go(func() error { return w.Run(gctx, time.Second) })
	}
	if v.obs.srv != nil {
		g.Go(func() error { return v.obs.srv.Run(gctx) })
	}
	v.obs.ready.Store(true)
	err := g.Wait()
	v.obs.ready.Store(false)
	v.Close()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// newEngine starts the Wasm VM with its compilation cache (WasmCache, or next to the
// key file).
func newEngine(ctx context.Context, cfg *Config, log *slog.Logger) (*wasm.Engine, error) {
	dir := cfg.WasmCache
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.KeyFile), "wasm-cache")
	}
	e, err := wasm.NewEngine(ctx, wasm.EngineConfig{CacheDir: dir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start the Wasm VM: %w", err)
	}
	return e, nil
}

// Close releases the store. Run calls it.
func (v *Validator) Close() {
	if v.engine != nil {
		_ = v.engine.Close(context.Background())
		v.engine = nil
	}
	if v.server != nil {
		_ = v.server.Close()
	}
	if v.obs != nil && v.obs.srv != nil {
		_ = v.obs.srv.Close()
	}
	if v.db != nil {
		_ = v.db.Close()
		v.db = nil
	}
}
