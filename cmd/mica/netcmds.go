package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/faucet"
	"github.com/micachain/mica/internal/netup"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/validator"
	"github.com/micachain/mica/internal/wallet"
)

func validatorCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "validator", Short: "Generate and run validators"}
	var dir string
	var n, shards, portBase, chains int
	var balance string
	var genTLS bool
	var policyName string
	var httpAllow []string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Write keys and configs for N validators and a genesis with root chains owned by new keys (printed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if chains < 1 {
				return fmt.Errorf("--initial-chains %d: want 1 or more (chain 0 is the admin chain)", chains)
			}
			amount, err := base.ParseAmount(balance)
			if err != nil {
				return fmt.Errorf("--initial-balance: %w", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "genesis.json")); err == nil {
				return fmt.Errorf("%s already holds a network (genesis.json); choose another --path", dir)
			}
			policy, err := validator.Policy(policyName)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if policy.HTTPAllowList, err = protocol.NormalizeAllowList(httpAllow); err != nil {
				return fmt.Errorf("--http-allow: %w", err)
			}
			committee, paths, err := validator.Generate(validator.GenerateOptions{Dir: dir, Validators: n, Shards: shards, PortBase: portBase, Network: "local", Policy: policy, Rand: rand.Reader, TLS: genTLS})
			if err != nil {
				return err
			}
			g := &protocol.GenesisConfig{NetworkName: "local", Timestamp: validator.WallClock{}.Now(), Committee: *committee}
			var owners []string
			for i := 0; i < chains; i++ {
				k, err := crypto.GenerateKey(crypto.Ed25519, rand.Reader)
				if err != nil {
					return err
				}
				kp := filepath.Join(dir, fmt.Sprintf("chain-%d.key", i))
				if err := validator.WriteKey(kp, k); err != nil {
					return err
				}
				owners = append(owners, kp)
				g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(k.Public().Owner()), Balance: amount})
			}
			gp := filepath.Join(dir, "genesis.json")
			if err := validator.WriteGenesis(gp, g); err != nil {
				return err
			}
			var ids []string
			for _, id := range g.ChainIDs() {
				ids = append(ids, id.String())
			}
			res := map[string]any{"genesis": gp, "genesis_hash": g.Hash().String(), "configs": paths, "chain_ids": ids, "chain_keys": owners}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "genesis: %s (network %s)\n", gp, g.Hash().Short())
				for _, p := range paths {
					fmt.Fprintf(o, "validator config: %s\n", p)
				}
				for i, id := range g.ChainIDs() {
					fmt.Fprintf(o, "root chain %d: %s (key %s)\n", i, id, owners[i])
				}
			})
		},
	}
	gen.Flags().StringVar(&dir, "path", "mica-net", "directory for the network's files")
	gen.Flags().IntVar(&n, "validators", 4, "number of validators")
	gen.Flags().IntVar(&shards, "shards", 1, "shards per validator")
	gen.Flags().IntVar(&portBase, "port-base", 13000, "validator i listens on port-base + i")
	gen.Flags().IntVar(&chains, "initial-chains", 2, "root chains in the genesis (chain 0 is the admin chain)")
	gen.Flags().StringVar(&balance, "initial-balance", "1000", "balance of each root chain")
	gen.Flags().StringSliceVar(&httpAllow, "http-allow", nil, "host names applications may send HTTP requests to (comma-separated; the committee's allow-list; default none)")
	gen.Flags().StringVar(&policyName, "policy", validator.PolicyFree, "fee profile: free (no fees) or testnet (see docs/OPERATIONS.md)")
	gen.Flags().BoolVar(&genTLS, "tls", false, "also write a self-signed TLS certificate for each validator's public endpoint (clients pin it)")

	var config string
	var shard int
	var runTLS tlsFlags
	var runObs obsFlags
	var wasmCache string
	run := &cobra.Command{
		Use:   "run --config FILE [--shard I]",
		Short: "Run a validator (its proxy and all its shards) until SIGINT/SIGTERM; with --shard, only shard I (see `mica proxy run`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return errors.New("--config FILE is required")
			}
			withTimerSlack(cmd)
			cfg, err := validator.LoadConfig(config)
			if err != nil {
				return err
			}
			if err := runTLS.apply(cfg); err != nil {
				return err
			}
			runObs.apply(cfg)
			if wasmCache != "" {
				if cfg.WasmCache, err = filepath.Abs(wasmCache); err != nil {
					return err
				}
			}
			log := logger(cmd).With("validator", cfg.Name)
			if shard >= 0 {
				return validator.RunShard(cmd.Context(), cfg, shard, log.With("shard", shard))
			}
			v, err := validator.Open(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			log.Info("validator serving", "address", v.Addr().String(), "shards", cfg.Shards, "store", cfg.Store, "pid", os.Getpid())
			err = v.Run(cmd.Context())
			if err != nil {
				log.Error("validator stopped", "err", err)
			} else {
				log.Info("validator stopped")
			}
			return err
		},
	}
	run.Flags().StringVar(&config, "config", "", "the validator's config.json")
	run.Flags().IntVar(&shard, "shard", -1, "run only this shard (its store must be a shared postgres:// database)")
	run.Flags().StringVar(&wasmCache, "wasm-cache", "", "directory of compiled Wasm modules (overrides wasm_cache; default wasm-cache next to the key file); validators of one machine may share one, so that each module is compiled once")
	runTLS.register(run)
	runObs.register(run)
	cmd.AddCommand(gen, run)
	return cmd
}

// obsFlags are --metrics-listen and --pprof, overriding the config's metrics_listen and
// pprof.
type obsFlags struct {
	listen string
	pprof  bool
}

func (f *obsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "metrics-listen", "", "serve /metrics, /healthz and /readyz over HTTP on this host:port (keep it on loopback or a private network; overrides metrics_listen)")
	cmd.Flags().BoolVar(&f.pprof, "pprof", false, "also serve /debug/pprof/ on --metrics-listen")
}

func (f *obsFlags) apply(cfg *validator.Config) {
	if f.listen != "" {
		cfg.MetricsListen = f.listen
	}
	if f.pprof {
		cfg.Pprof = true
	}
}

// tlsFlags are --tls-cert and --tls-key: the public endpoint's certificate and key,
// overriding the config's tls_cert and tls_key.
type tlsFlags struct{ cert, key string }

func (f *tlsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cert, "tls-cert", "", "serve the public endpoint over TLS with this certificate (PEM; overrides tls_cert)")
	cmd.Flags().StringVar(&f.key, "tls-key", "", "the TLS certificate's private key (PEM, mode 0600; overrides tls_key)")
}

func (f *tlsFlags) apply(cfg *validator.Config) error {
	if (f.cert == "") != (f.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.cert == "" {
		return nil
	}
	var err error
	if cfg.TLSCert, err = filepath.Abs(f.cert); err != nil {
		return err
	}
	cfg.TLSKey, err = filepath.Abs(f.key)
	return err
}

func proxyCommand() *cobra.Command {
	var config string
	var proxyTLS tlsFlags
	var proxyObs obsFlags
	cmd := &cobra.Command{Use: "proxy", Short: "Run a validator's public proxy in front of shard processes"}
	run := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Serve the validator's public endpoint, routing each chain to its shard process (`mica validator run --shard I`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return errors.New("--config FILE is required")
			}
			withTimerSlack(cmd)
			cfg, err := validator.LoadConfig(config)
			if err != nil {
				return err
			}
			if err := proxyTLS.apply(cfg); err != nil {
				return err
			}
			proxyObs.apply(cfg)
			return validator.RunProxy(cmd.Context(), cfg, logger(cmd).With("validator", cfg.Name, "role", "proxy"))
		},
	}
	run.Flags().StringVar(&config, "config", "", "the validator's config.json")
	proxyTLS.register(run)
	proxyObs.register(run)
	cmd.AddCommand(run)
	return cmd
}

func netCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "net", Short: "Local networks"}
	var o netup.Options
	var amount string
	up := &cobra.Command{
		Use:   "up",
		Short: "Run a local network: each validator its own process on Pebble storage under --path; Ctrl-C stops it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := base.ParseAmount(amount)
			if err != nil {
				return fmt.Errorf("--faucet-amount: %w", err)
			}
			o.FaucetAmount = a
			if o.Binary, err = os.Executable(); err != nil {
				return err
			}
			o.Logger = logger(cmd)
			o.ValidatorArgs = logArgs(cmd)
			if _, err := validator.Policy(o.Policy); err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if !cmd.Flags().Changed("policy") {
				o.Policy = ""
			}
			if o.WasmCache == "" {
				o.WasmCache = userWasmCacheDir()
			}
			if o.Pprof && o.MetricsPortBase < 0 {
				return errors.New("--pprof needs the metrics endpoints (--metrics-port-base)")
			}
			o.Out = cmd.OutOrStdout()
			if abs, err := filepath.Abs(o.Dir); err == nil {
				o.Dir = abs
			}
			err = netup.Run(cmd.Context(), o)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	up.Flags().StringVar(&o.Dir, "path", "mica-net", "directory of the network (reused if it exists)")
	up.Flags().IntVar(&o.Validators, "validators", 4, "number of validators")
	up.Flags().IntVar(&o.Shards, "shards", 1, "shards per validator")
	up.Flags().IntVar(&o.PortBase, "port-base", 13000, "validator i listens on port-base + i")
	up.Flags().IntVar(&o.MetricsPortBase, "metrics-port-base", 0, "validator i serves /metrics, /healthz and /readyz on 127.0.0.1:metrics-port-base + i (default: the first validator port + 10000, so 13000 → 23000; -1: none)")
	up.Flags().BoolVar(&o.Pprof, "pprof", false, "validators also serve /debug/pprof/ on their metrics port")
	up.Flags().StringVar(&o.WasmCache, "wasm-cache", "", "directory of compiled Wasm modules the validators share (default: the user's, as for wallets: $MICA_WASM_CACHE, else mica/wasm in the user's cache directory, else wasm-cache in --path); each module is compiled once, by one validator or wallet")
	up.Flags().StringVar(&o.Policy, "policy", validator.PolicyFree, "fee profile of a new network: free (no fees) or testnet (operations, messages, bytes, blobs and oracle calls cost tokens; see docs/OPERATIONS.md)")
	up.Flags().BoolVar(&o.WithFaucet, "with-faucet", false, "also run a faucet")
	up.Flags().IntVar(&o.FaucetPort, "faucet-port", 8079, "faucet port")
	up.Flags().IntVar(&o.FaucetMaxChainsPerIP, "faucet-max-chains-per-ip", 100, "chains the faucet opens per client address per hour (all local clients share 127.0.0.1; -1 for no limit)")
	up.Flags().StringVar(&amount, "faucet-amount", "100", "tokens given with each new chain")
	up.Flags().IntVar(&o.InitialChains, "initial-chains", 2, "chains created in the wallet besides the admin chain")
	up.Flags().BoolVar(&o.TLS, "tls", false, "validators speak TLS with self-signed certificates recorded in network.json (clients pin them; set MICA_NETWORK)")
	up.Flags().StringSliceVar(&o.HTTPAllow, "http-allow", nil, "host names applications may send HTTP requests to (comma-separated; the genesis committee's allow-list; default none)")
	cmd.AddCommand(up, netStatusCommand(), netDownCommand())
	return cmd
}

type validatorStatus struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	PID       int    `json:"pid"`
	Alive     bool   `json:"alive"`
	Reachable bool   `json:"reachable"`
}

type netStatus struct {
	Path       string            `json:"path"`
	Running    bool              `json:"running"`
	PID        int               `json:"pid"`
	Wallet     string            `json:"wallet"`
	FaucetURL  string            `json:"faucet_url,omitempty"`
	Validators []validatorStatus `json:"validators"`
}

// readNetwork reads DIR/network.json with a sentence for a directory without one.
func readNetwork(dir string) (*netup.NetworkFile, error) {
	nf, err := netup.ReadNetworkFile(filepath.Join(dir, "network.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no network under %s (no network.json): `mica net up --path %s` creates one", dir, dir)
	}
	return nf, err
}

func netStatusCommand() *cobra.Command {
	var dir string
	var env bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the network under --path: its net up process, each validator's address, pid and liveness, the faucet URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nf, err := readNetwork(dir)
			if err != nil {
				return err
			}
			st := netStatus{Path: dir, PID: nf.PID, Running: netup.Alive(nf.PID, "net"), Wallet: nf.Wallet}
			if !st.Running {
				st.PID = 0
			}
			if env {
				if !st.Running {
					return fmt.Errorf("no network is running under %s: start it with `mica net up --path %s`", dir, dir)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "export MICA_WALLET=%s\n", nf.Wallet)
				if len(nf.Validators) > 0 && nf.Validators[0].TLSCert != "" {
					abs, err := filepath.Abs(filepath.Join(dir, "network.json"))
					if err != nil {
						return err
					}
					fmt.Fprintf(w, "export MICA_NETWORK=%s\n", abs)
				}
				if nf.FaucetURL != "" {
					fmt.Fprintf(w, "export MICA_FAUCET_URL=%s\n", nf.FaucetURL)
				}
				return nil
			}
			if st.Running {
				st.FaucetURL = nf.FaucetURL
			}
			for _, v := range nf.Validators {
				vs := validatorStatus{Name: v.Name, Address: v.Address, PID: v.PID, Alive: netup.Alive(v.PID, v.Config)}
				if c, err := net.DialTimeout("tcp", v.Address, 500*time.Millisecond); err == nil {
					vs.Reachable = true
					_ = c.Close()
				}
				st.Validators = append(st.Validators, vs)
			}
			return out(cmd, st, func(o io.Writer) {
				if st.Running {
					fmt.Fprintf(o, "network under %s: running (net up pid %d)\n", dir, st.PID)
				} else {
					fmt.Fprintf(o, "network under %s: not running (start it with `mica net up --path %s`)\n", dir, dir)
				}
				fmt.Fprintf(o, "wallet: %s\n", st.Wallet)
				if st.FaucetURL != "" {
					fmt.Fprintf(o, "faucet: %s\n", st.FaucetURL)
				}
				for _, v := range st.Validators {
					state := "stopped"
					switch {
					case v.Alive && v.Reachable:
						state = "running"
					case v.Alive:
						state = "running, not answering"
					case v.Reachable:
						state = "port taken by another process"
					}
					pid := "-"
					if v.Alive {
						pid = fmt.Sprint(v.PID)
					}
					fmt.Fprintf(o, "  %s  %s  pid %s  %s\n", v.Name, v.Address, pid, state)
				}
			})
		},
	}
	cmd.Flags().StringVar(&dir, "path", "mica-net", "directory of the network")
	cmd.Flags().BoolVar(&env, "env", false, "print the running network's export lines (MICA_WALLET, MICA_FAUCET_URL, ...) for `eval \"$(mica net status --env)\"`")
	return cmd
}

func netDownCommand() *cobra.Command {
	var dir string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the network that `mica net up` runs under --path (as Ctrl-C would) and wait for it to exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nf, err := readNetwork(dir)
			if err != nil {
				return err
			}
			// The net up process stops its validators itself; validators left behind by
			// a net up that was killed are stopped one by one.
			var pids []int
			markers := map[int]string{}
			if netup.Alive(nf.PID, "net") {
				pids, markers[nf.PID] = append(pids, nf.PID), "net"
			} else {
				for _, v := range nf.Validators {
					if netup.Alive(v.PID, v.Config) {
						pids, markers[v.PID] = append(pids, v.PID), v.Config
					}
				}
			}
			res := map[string]any{"path": dir, "stopped": len(pids) > 0, "pids": pids}
			if len(pids) == 0 {
				return out(cmd, res, func(o io.Writer) { fmt.Fprintf(o, "no network is running under %s; nothing to stop\n", dir) })
			}
			for _, pid := range pids {
				if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
					return fmt.Errorf("signal pid %d: %w", pid, err)
				}
			}
			deadline := time.Now().Add(wait)
			for _, pid := range pids {
				// Alive, not kill(pid, 0): an exited process its parent has not reaped yet
				// (a zombie) has stopped.
				for netup.Alive(pid, markers[pid]) {
					if time.Now().After(deadline) {
						return fmt.Errorf("pid %d still runs %v after SIGTERM; see %s", pid, wait, dir)
					}
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintf(o, "stopped the network under %s (pid %v)\n", dir, pids) })
		},
	}
	cmd.Flags().StringVar(&dir, "path", "mica-net", "directory of the network")
	cmd.Flags().DurationVar(&wait, "timeout", 30*time.Second, "how long to wait for it to exit")
	return cmd
}

func faucetCommand() *cobra.Command {
	var port int
	var amount, chain string
	var lim faucet.Config
	cmd := &cobra.Command{
		Use:   "faucet",
		Short: "Run a faucet: it opens funded chains for new users from a chain of this wallet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := base.ParseAmount(amount)
			if err != nil {
				return fmt.Errorf("--amount: %w", err)
			}
			s, id, err := connectOn(cmd, chain)
			if err != nil {
				return err
			}
			defer s.Close()
			cc, err := s.chainClient(id)
			if err != nil {
				return err
			}
			if lim.MaxChainsPerIP == 0 {
				return errors.New("--max-chains-per-ip must be positive, or negative for no limit")
			}
			cfg := lim
			cfg.Client, cfg.Chain, cfg.Amount, cfg.Genesis = s.c, cc, a, s.w.Genesis()
			cfg.Listen, cfg.Logger = fmt.Sprintf("127.0.0.1:%d", port), logger(cmd)
			f, err := faucet.New(cfg)
			if err != nil {
				return explainPortTaken(err, "--port")
			}
			defer f.Close()
			// It holds the wallet until stopped: commands on it refuse at once.
			if err := s.w.SetHolder(wallet.Holder{Command: cmd.CommandPath(), LongRunning: true, Detail: "serving http://" + f.Addr().String()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "faucet serving http://%s from chain %s\n", f.Addr(), id)
			err = f.Run(cmd.Context())
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().IntVar(&port, "port", 8079, "port to listen on (127.0.0.1)")
	cmd.Flags().StringVar(&amount, "amount", "100", "tokens given with each new chain")
	cmd.Flags().StringVar(&chain, "chain", "", "chain paying for new chains (default: the default chain)")
	cmd.Flags().IntVar(&lim.MaxChainsPerIP, "max-chains-per-ip", faucet.DefaultMaxChainsPerIP, "new chains per network address (IPv4 address or IPv6 /64) per --ip-window; negative: no limit")
	cmd.Flags().DurationVar(&lim.IPWindow, "ip-window", faucet.DefaultIPWindow, "window of --max-chains-per-ip")
	cmd.Flags().IntVar(&lim.MaxBatch, "max-batch", faucet.DefaultMaxBatch, "most chains opened by one block")
	cmd.Flags().IntVar(&lim.MaxQueue, "max-queue", 0, "most claims waiting; more are answered 503 (default 4 x --max-batch)")
	return cmd
}
