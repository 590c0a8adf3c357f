// Package netup runs a local network: each validator as its own OS process (`mica
// validator run`) on Pebble storage under one directory, a wallet owning the initial
// chains, and optionally a faucet. network.json in the directory records the validators
// (name, address, pid, and with --tls the certificate clients pin) and the faucet URL. Started again on the same directory, it
// resumes the same network.
package netup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/faucet"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/timerslack"
	"github.com/micachain/mica/internal/validator"
	"github.com/micachain/mica/internal/wallet"
	"github.com/micachain/mica/internal/worker"
)

// Options of `mica net up`.
type Options struct {
	Dir          string
	Validators   int
	Shards       int
	PortBase     int
	WithFaucet   bool
	FaucetPort   int
	FaucetAmount base.Amount
	// FaucetMaxChainsPerIP is the faucet's per-address quota per hour (every client of
	// a local network shares 127.0.0.1; faucet.DefaultMaxChainsPerIP if 0).
	FaucetMaxChainsPerIP int
	InitialChains        int
	// TLS makes every validator's public endpoint speak TLS with a self-signed
	// certificate generated with the network; network.json records each certificate
	// and clients pin it. Only when the network is created.
	TLS bool
	// HTTPAllow are the host names applications may send HTTP requests to (the genesis
	// committee's ResourcePolicy.HTTPAllowList). Only when the network is created.
	HTTPAllow []string
	// Policy is the fee profile of a new network (validator.Policy: "free" or
	// "testnet"); "" means free. Given for an existing network, it must match.
	Policy string
	// MetricsPortBase: validator i serves /metrics, /healthz and /readyz on
	// 127.0.0.1:MetricsPortBase+i; 0 means PortBase+DefaultMetricsOffset, negative none.
	MetricsPortBase int
	// Pprof makes validators also serve /debug/pprof/ on their metrics port.
	Pprof bool
	// WasmCache is the compiled-module cache the local validators share (`validator
	// run --wasm-cache`): a module published on the network is compiled by one
	// validator while the others wait and load it. "" means Dir/wasm-cache.
	WasmCache string
	// ValidatorArgs are extra flags for every `mica validator run` (the log level and
	// format of net up itself).
	ValidatorArgs []string
	// Binary is the mica executable to run validators with (os.Executable()).
	Binary string
	Logger *slog.Logger
	// Out receives the user-facing lines (export MICA_WALLET=..., ready).
	Out io.Writer
}

// NetworkFile is DIR/network.json.
type NetworkFile struct {
	// PID is the process of `mica net up` running the network, 0 when none runs.
	PID         int             `json:"pid,omitempty"`
	Genesis     string          `json:"genesis"`
	Wallet      string          `json:"wallet"`
	Validators  []ValidatorInfo `json:"validators"`
	FaucetURL   string          `json:"faucet_url,omitempty"`
	FaucetChain string          `json:"faucet_chain,omitempty"`
}

// ValidatorInfo is one validator in network.json.
type ValidatorInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Config  string `json:"config"`
	PID     int    `json:"pid"`
	// TLSCert, if set, says the validator speaks TLS: clients verify its certificate
	// against this PEM file (its self-signed certificate or its CA).
	TLSCert string `json:"tls_cert,omitempty"`
	// Metrics is the base URL of the validator's operator endpoint (/metrics,
	// /healthz, /readyz), set while net up runs it with one.
	Metrics string `json:"metrics,omitempty"`
	// Log is the validator's log file.
	Log string `json:"log,omitempty"`
}

// DefaultMetricsOffset separates a validator's metrics port from its gRPC port
// (13000 → 23000), away from the ports tests and other networks use for gRPC.
const DefaultMetricsOffset = 10000

// DialOptions returns how a client reaches the validator: over TLS pinned to TLSCert if
// set, else plaintext.
func (v *ValidatorInfo) DialOptions(base rpc.DialOptions) (rpc.DialOptions, error) {
	if v.TLSCert == "" {
		return base, nil
	}
	creds, err := rpc.PinnedCredentialsFile(v.TLSCert)
	if err != nil {
		return base, fmt.Errorf("%s: TLS certificate: %w", v.Name, err)
	}
	base.Credentials = creds
	return base, nil
}

// ReadNetworkFile reads a network.json.
func ReadNetworkFile(path string) (*NetworkFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nf NetworkFile
	if err := json.Unmarshal(b, &nf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &nf, nil
}

// DialOptionsByAddress returns, for each validator of a network.json, how to dial it.
func (nf *NetworkFile) DialOptionsByAddress(base rpc.DialOptions) (map[string]rpc.DialOptions, error) {
	out := make(map[string]rpc.DialOptions, len(nf.Validators))
	for i := range nf.Validators {
		o, err := nf.Validators[i].DialOptions(base)
		if err != nil {
			return nil, err
		}
		out[nf.Validators[i].Address] = o
	}
	return out, nil
}

// lockName is the file under the network directory that a running net up holds locked.
const lockName = ".netup.lock"

const faucetChainIndex = 1 // root 0 is the admin chain; root 1 funds the faucet

// Run brings the network up (creating it on first use), prints the wallet line and a
// ready line, and runs until ctx ends; then it stops every process cleanly.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	// One net up per directory at a time, from creating the network to stopping it: two
	// creating it at once each wrote validators and a genesis over the other's, and one
	// ran the validators of a genesis the wallet did not belong to.
	unlock, err := wallet.LockFile(filepath.Join(o.Dir, lockName))
	if errors.Is(err, wallet.ErrLocked) {
		// A running network says which pid to stop and how; one still being created
		// has not recorded its pid yet.
		if nf, rerr := ReadNetworkFile(filepath.Join(o.Dir, "network.json")); rerr == nil {
			if err := checkNotRunning(o.Dir, nf); err != nil {
				return err
			}
		}
		return fmt.Errorf("another mica net up is using %s (it holds %s); stop it with `mica net down --path %s` (or Ctrl-C in its terminal), or use another --path", o.Dir, filepath.Join(o.Dir, lockName), o.Dir)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", o.Dir, err)
	}
	defer func() { _ = unlock() }()
	nf, err := loadOrCreate(o)
	if err != nil {
		return err
	}
	if o.TLS && len(nf.Validators) > 0 && nf.Validators[0].TLSCert == "" {
		return fmt.Errorf("the network in %s was created without --tls; use another --path", o.Dir)
	}
	if err := checkNotRunning(o.Dir, nf); err != nil {
		return err
	}
	// Record this process at once, so that a second net up on the same directory is
	// refused, and clear it (and the validators' pids) on the way out.
	nf.PID = os.Getpid()
	for i := range nf.Validators {
		nf.Validators[i].PID = 0
	}
	if err := writeNetwork(o.Dir, nf); err != nil {
		return err
	}
	var procs []*proc
	defer func() {
		if len(procs) > 0 {
			var pids []string
			for _, p := range procs {
				pids = append(pids, fmt.Sprintf("%s pid %d", p.name, p.cmd.Process.Pid))
			}
			what := fmt.Sprintf("%d validators (%s)", len(procs), strings.Join(pids, ", "))
			if o.WithFaucet {
				what += " and the faucet"
			}
			fmt.Fprintf(o.Out, "stopping %s\n", what)
		}
		stop(procs)
		// Validators added to the running network (`mica net add-validator`) are
		// separate processes: stop them too.
		mine := map[string]bool{}
		for _, p := range procs {
			mine[p.name] = true
		}
		stopOthers(o.Dir, mine)
		nf.PID = 0
		for i := range nf.Validators {
			nf.Validators[i].PID = 0
		}
		if err := writeNetwork(o.Dir, nf); err != nil {
			log.Warn("clearing the pids in network.json", "err", err)
		}
		if len(procs) > 0 {
			fmt.Fprintf(o.Out, "stopped; the network's state stays under %s (`mica net up --path %s` resumes it)\n", o.Dir, o.Dir)
		}
	}()
	metricsBase := o.MetricsPortBase
	if metricsBase == 0 {
		// Next to the network's own ports (a resumed network keeps the port base it
		// was created with, whatever --port-base says now).
		metricsBase = 13000 + DefaultMetricsOffset
		if len(nf.Validators) > 0 {
			if _, port, err := net.SplitHostPort(nf.Validators[0].Address); err == nil {
				if p, err := strconv.Atoi(port); err == nil {
					metricsBase = p + DefaultMetricsOffset
				}
			}
		}
	}
	if err := checkPortsFree(nf, metricsBase, o.MetricsPortBase >= 0); err != nil {
		return err
	}
	wasmCache := o.WasmCache
	if wasmCache == "" {
		wasmCache = filepath.Join(o.Dir, "wasm-cache")
	}
	if wasmCache, err = filepath.Abs(wasmCache); err != nil {
		return err
	}
	var started []ValidatorInfo
	env := RuntimeEnv(os.Environ(), runtime.NumCPU(), localValidators(nf))
	for i := range nf.Validators {
		v := &nf.Validators[i]
		if v.Config == "" {
			continue // run elsewhere: only its address and certificate are recorded
		}
		args := append([]string{"validator", "run", "--config", v.Config, "--wasm-cache", wasmCache}, o.ValidatorArgs...)
		v.Metrics = ""
		if o.MetricsPortBase >= 0 {
			addr := fmt.Sprintf("127.0.0.1:%d", metricsBase+i)
			args = append(args, "--metrics-listen", addr)
			if o.Pprof {
				args = append(args, "--pprof")
			}
			v.Metrics = "http://" + addr
		}
		v.Log = filepath.Join(o.Dir, v.Name, "validator.log")
		p, err := start(o.Binary, v, args, v.Log, env, true)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		v.PID = p.cmd.Process.Pid
		started = append(started, *v)
	}
	if err := writeNetwork(o.Dir, nf); err != nil {
		return err
	}
	g, err := validator.ReadGenesis(nf.Genesis)
	if err != nil {
		return err
	}
	dial, err := nf.DialOptionsByAddress(rpc.DialOptions{})
	if err != nil {
		return err
	}
	for i, v := range started {
		if err := waitReady(ctx, procs[i], v.Address, dial[v.Address], g.Hash()); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s did not start: %w\nlast lines of %s:\n%s", v.Name, err, procs[i].log, tail(procs[i].log, 20))
		}
	}
	var fct *faucet.Faucet
	if o.WithFaucet {
		fct, err = startFaucet(ctx, o, g, dial, log)
		if err != nil {
			return err
		}
		defer fct.Close()
		nf.FaucetURL = "http://" + fct.Addr().String()
		go func() {
			if err := fct.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("faucet stopped", "err", err)
			}
		}()
	}
	if err := writeNetwork(o.Dir, nf); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "export MICA_WALLET=%s\n", nf.Wallet)
	if len(nf.Validators) > 0 && nf.Validators[0].TLSCert != "" {
		fmt.Fprintf(o.Out, "export MICA_NETWORK=%s\n", filepath.Join(o.Dir, "network.json"))
	}
	if nf.FaucetURL != "" {
		fmt.Fprintf(o.Out, "export MICA_FAUCET_URL=%s\n", nf.FaucetURL)
	}
	for _, v := range nf.Validators {
		line := fmt.Sprintf("%s: %s", v.Name, v.Address)
		if v.Metrics != "" {
			line += fmt.Sprintf("  metrics %s/metrics", v.Metrics)
		}
		fmt.Fprintf(o.Out, "# %s  log %s\n", line, v.Log)
	}
	fmt.Fprintf(o.Out, "READY: %d validators running on %s (network %s); Ctrl-C to stop\n", len(nf.Validators), validatorList(nf), g.Hash().Short())
	// Run until asked to stop, or until a validator process dies unexpectedly.
	died := make(chan *proc, len(procs))
	for _, p := range procs {
		go func() { <-p.done; died <- p }()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-died:
		log.Warn("validator process ended", "validator", p.name, "err", p.err, "log", p.log)
		fmt.Fprintf(o.Out, "%s stopped unexpectedly (%v); last lines of %s:\n%s\n", p.name, p.err, p.log, tail(p.log, 20))
		<-ctx.Done()
		return nil
	}
}

// checkPortsFree refuses to start when a validator's gRPC or metrics port is already
// taken: a validator started there would fail (or, worse, net up would find another
// network's validator answering on it) with nothing in its log to say why.
func checkPortsFree(nf *NetworkFile, metricsBase int, withMetrics bool) error {
	for i, v := range nf.Validators {
		addrs := []struct{ addr, what, flag string }{{v.Address, "gRPC", "--port-base"}}
		if withMetrics {
			addrs = append(addrs, struct{ addr, what, flag string }{fmt.Sprintf("127.0.0.1:%d", metricsBase+i), "metrics", "--metrics-port-base"})
		}
		for _, a := range addrs {
			lis, err := net.Listen("tcp", a.addr)
			if err != nil {
				return fmt.Errorf("%s cannot use its %s port %s, already taken by another process (another network? see `mica net status`): stop it, or start a new network elsewhere with another %s and --path (%v)", v.Name, a.what, a.addr, a.flag, err)
			}
			if err := lis.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNotRunning refuses to start a network whose net up process still runs, or whose
// validators from an earlier run still do (their ports would be taken).
func checkNotRunning(dir string, nf *NetworkFile) error {
	if nf.PID != 0 && nf.PID != os.Getpid() && Alive(nf.PID, "net") {
		return fmt.Errorf("a network is already running under %s (mica net up, pid %d): stop it with `mica net down --path %s` (or Ctrl-C in its terminal), or see it with `mica net status --path %s`", dir, nf.PID, dir, dir)
	}
	for _, v := range nf.Validators {
		if v.PID != 0 && Alive(v.PID, v.Config) {
			return fmt.Errorf("%s of the network under %s still runs (pid %d) although its net up has stopped: stop it with `mica net down --path %s`", v.Name, dir, v.PID, dir)
		}
	}
	return nil
}

func validatorList(nf *NetworkFile) string {
	s := ""
	for i, v := range nf.Validators {
		if i > 0 {
			s += ", "
		}
		s += v.Address
	}
	return s
}

// loadOrCreate reads DIR/network.json, or generates the validators, the genesis and
// the wallet.
func loadOrCreate(o Options) (*NetworkFile, error) {
	path := filepath.Join(o.Dir, "network.json")
	policy, err := validator.Policy(o.Policy)
	if err != nil {
		return nil, err
	}
	if nf, err := ReadNetworkFile(path); err == nil {
		if o.Policy != "" {
			g, err := validator.ReadGenesis(nf.Genesis)
			if err != nil {
				return nil, err
			}
			if g.Committee.Policy.HasFees() != policy.HasFees() {
				return nil, fmt.Errorf("the network under %s was created with another fee policy than --policy %s; leave --policy out to resume it, or use another --path", o.Dir, o.Policy)
			}
		}
		return nf, nil
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	allow, err := protocol.NormalizeAllowList(o.HTTPAllow)
	if err != nil {
		return nil, fmt.Errorf("HTTP allow-list: %w", err)
	}
	if len(allow) > 0 {
		policy.HTTPAllowList = allow
	}
	committee, paths, err := validator.Generate(validator.GenerateOptions{Dir: o.Dir, Validators: o.Validators, Shards: o.Shards, PortBase: o.PortBase,
		Network: "local", Policy: policy, Rand: rand.Reader, TLS: o.TLS})
	if err != nil {
		return nil, err
	}
	walletDir := filepath.Join(o.Dir, "wallet")
	faucetDir := filepath.Join(o.Dir, "faucet-wallet")
	// Root chain 0 (admin) and the initial chains belong to the user's wallet; root
	// chain 1 funds the faucet.
	userKeys := make([]*crypto.PrivateKey, 1+o.InitialChains)
	for i := range userKeys {
		if userKeys[i], err = crypto.GenerateKey(crypto.Ed25519, rand.Reader); err != nil {
			return nil, err
		}
	}
	faucetKey, err := crypto.GenerateKey(crypto.Ed25519, rand.Reader)
	if err != nil {
		return nil, err
	}
	big := base.Tokens(1_000_000)
	g := &protocol.GenesisConfig{NetworkName: "local", Timestamp: validator.WallClock{}.Now(), Committee: *committee}
	g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(userKeys[0].Public().Owner()), Balance: big})
	g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(faucetKey.Public().Owner()), Balance: big})
	for _, k := range userKeys[1:] {
		g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(k.Public().Owner()), Balance: base.Tokens(1000)})
	}
	genesisPath := filepath.Join(o.Dir, "genesis.json")
	if err := validator.WriteGenesis(genesisPath, g); err != nil {
		return nil, err
	}
	ids := g.ChainIDs()
	if err := makeWallet(walletDir, g, userKeys, append([]base.ChainID{ids[0]}, ids[2:]...)); err != nil {
		return nil, err
	}
	if err := makeWallet(faucetDir, g, []*crypto.PrivateKey{faucetKey}, []base.ChainID{ids[faucetChainIndex]}); err != nil {
		return nil, err
	}
	nf := &NetworkFile{Genesis: genesisPath, Wallet: walletDir, FaucetChain: ids[faucetChainIndex].String()}
	for i, p := range paths {
		v := ValidatorInfo{Name: fmt.Sprintf("validator-%d", i), Address: committee.Validators[indexOf(committee, i, p)].NetworkAddress, Config: p}
		if cfg, err := validator.LoadConfig(p); err == nil && cfg.TLSCert != "" {
			v.TLSCert = cfg.TLSCert
		}
		nf.Validators = append(nf.Validators, v)
	}
	return nf, writeNetwork(o.Dir, nf)
}

// indexOf finds the committee entry of the validator whose config is at path i (the
// committee is sorted by key, not by index).
func indexOf(c *protocol.Committee, i int, path string) int {
	cfg, err := validator.LoadConfig(path)
	if err != nil {
		return i
	}
	for j, v := range c.Validators {
		if v.NetworkAddress == cfg.Address {
			return j
		}
	}
	return i
}

func makeWallet(dir string, g *protocol.GenesisConfig, keys []*crypto.PrivateKey, chains []base.ChainID) error {
	w, err := wallet.Create(dir, g)
	if err != nil {
		return err
	}
	defer w.Close()
	for i, k := range keys {
		if err := w.ImportKey(k); err != nil {
			return err
		}
		o := k.Public().Owner()
		if err := w.AddChain(chains[i], &o); err != nil {
			return err
		}
	}
	if err := w.SetDefault(chains[0]); err != nil {
		return err
	}
	return w.Save()
}

func writeNetwork(dir string, nf *NetworkFile) error {
	// Keep the validators another process added meanwhile (`mica net add-validator`
	// while net up runs).
	if disk, err := ReadNetworkFile(filepath.Join(dir, "network.json")); err == nil {
		for _, v := range disk.Validators {
			if !slices.ContainsFunc(nf.Validators, func(w ValidatorInfo) bool { return w.Name == v.Name }) {
				nf.Validators = append(nf.Validators, v)
			}
		}
	}
	b, err := json.MarshalIndent(nf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "network.json"), append(b, '\n'), 0o644)
}

// proc is a validator process; done is closed once it has exited (err is then its
// exit status).
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs a validator process with environment env. A tied one gets SIGTERM from the
// kernel when this process dies (net up's validators); an untied one outlives it
// (`net add-validator` starts a validator and exits).
func start(binary string, v *ValidatorInfo, args []string, logPath string, env []string, tied bool) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// A process group of its own (a terminal's Ctrl-C reaches net up, which stops the
	// validators in order). Tied: SIGTERM from the kernel if net up dies without
	// stopping them (kill -9, a crash), so that a validator does not outlive the net up
	// that started it, holding its ports and its store's lock. The signal follows the
	// thread that forked (timerslack.StartCommand's, which the runtime keeps unless
	// setting its slack back failed).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if tied {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := timerslack.StartCommand(cmd, ValidatorTimerSlack); err != nil {
		return nil, fmt.Errorf("start %s: %w", v.Name, err)
	}
	p := &proc{name: v.Name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to every validator and waits, then SIGKILL after a bound.
func stop(procs []*proc) {
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// tail returns the last n lines of a file, or a sentence saying why there are none.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("  (cannot read it: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(b) == 0 {
		return "  (the log is empty)"
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// waitReady waits until the validator answers with the right genesis, for up to 30 s,
// or until its process exits.
func waitReady(ctx context.Context, p *proc, addr string, opts rpc.DialOptions, genesis base.Hash) error {
	deadline := time.Now().Add(30 * time.Second)
	opts.CallTimeout = time.Second
	for {
		n, err := rpc.Dial(ctx, addr, opts)
		if err == nil {
			h, herr := n.GenesisHash(ctx)
			_ = n.Close()
			if herr == nil {
				if h != genesis {
					return fmt.Errorf("%s serves another network", addr)
				}
				return nil
			}
			err = herr
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("its process exited (%v)", p.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func startFaucet(ctx context.Context, o Options, g *protocol.GenesisConfig, dial map[string]rpc.DialOptions, log *slog.Logger) (*faucet.Faucet, error) {
	dir := filepath.Join(o.Dir, "faucet-wallet")
	w, err := wallet.Open(dir)
	if err != nil {
		return nil, err
	}
	// The wallet stays open (locked) for the faucet's lifetime; closed with the process.
	id := g.ChainIDs()[faucetChainIndex]
	ch, ok := w.Chain(id)
	if !ok || ch.Owner == nil {
		return nil, errors.New("the faucet wallet does not own the faucet chain")
	}
	key, err := w.Key(*ch.Owner)
	if err != nil {
		return nil, err
	}
	db, err := pebblekv.Open(filepath.Join(dir, "client-db"), pebblekv.Options{})
	if err != nil {
		return nil, err
	}
	st := storage.New(db)
	if _, err := st.Genesis(ctx); base.IsNotFound(err) {
		var b kv.Batch
		storage.PutGenesis(&b, g)
		if err := st.Write(ctx, &b); err != nil {
			return nil, err
		}
	}
	var vals []client.Validator
	for _, v := range g.Committee.Validators {
		opts := dial[v.NetworkAddress]
		opts.GenesisHash = g.Hash()
		n, err := rpc.Dial(ctx, v.NetworkAddress, opts)
		if err != nil {
			return nil, err
		}
		vals = append(vals, client.Validator{PublicKey: v.PublicKey, Node: n})
	}
	local := worker.New(worker.Config{Storage: st, Clock: validator.WallClock{}, Logger: log})
	// Validators that join later are reached at the address their verified committee
	// gives, as network.json says (TLS).
	dialNew := func(ctx context.Context, v protocol.ValidatorState) (client.ValidatorNode, error) {
		opts := rpc.DialOptions{}
		if nf, err := ReadNetworkFile(filepath.Join(o.Dir, "network.json")); err == nil {
			if m, err := nf.DialOptionsByAddress(rpc.DialOptions{}); err == nil {
				opts = m[v.NetworkAddress]
			}
		}
		opts.GenesisHash = g.Hash()
		return rpc.Dial(ctx, v.NetworkAddress, opts)
	}
	c := client.New(client.Config{Local: local, Committee: &g.Committee, Validators: vals, Clock: validator.WallClock{}, Logger: log, Dial: dialNew})
	cc := c.Chain(id, key, w.PendingProposal(id))
	cc.OnFastProposal = w.FastProposalHook(id)
	return faucet.New(faucet.Config{Client: c, Chain: cc, Amount: o.FaucetAmount, MaxChainsPerIP: o.FaucetMaxChainsPerIP, Genesis: g, Listen: fmt.Sprintf("127.0.0.1:%d", o.FaucetPort), Logger: log})
}

// RuntimeEnv returns the environment of validator processes that share this machine's
// cpus n ways (net up runs them all on one machine): env with GOMAXPROCS set to
// max(1, cpus/n) and GOGC to ValidatorGOGC, each unless env sets it already (the user's
// choice wins). With one Go scheduler per core or less, a validator does not keep more
// threads running, spinning and waking each other than the machine has cores for, and
// its garbage collector's workers do not compete with the other validators' work; a
// validator's heap is small (tens of MiB), so collecting half as often costs little
// memory.
func RuntimeEnv(env []string, cpus, n int) []string {
	procs := 1
	if n > 0 {
		procs = max(1, cpus/n)
	}
	out := slices.Clip(env)
	for _, v := range []struct{ name, value string }{
		{"GOMAXPROCS", strconv.Itoa(procs)},
		{"GOGC", strconv.Itoa(ValidatorGOGC)},
	} {
		if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, v.name+"=") }) {
			out = append(out, v.name+"="+v.value)
		}
	}
	return out
}

// ValidatorGOGC is the GOGC net up gives validator processes: measured on a 2-core
// machine running four validators, 200 took 15–20 % less CPU per block than the
// default 100 (docs/PERFORMANCE.md).
const ValidatorGOGC = 200

// ValidatorTimerSlack is the timer slack net up gives validator processes (Linux; the
// default is 50 µs). Whenever a Go process's schedulers all go idle and one becomes busy
// again, its runtime's monitor thread (sysmon) polls every 20 µs for the next
// millisecond, then less and less often: validators that share a few cores go idle and
// busy again hundreds of times a second, and each poll is a timer interrupt and two
// context switches (15–23 µs on the project's VM). With 1 ms of slack the kernel may
// defer and merge those wake-ups: at 16 chains × 1 transfer a validator's context
// switches per block fell from 14 to 8 and its nanosleeps from 6.8 to 2.9
// (docs/PERFORMANCE.md, "hotpath"). Timers of the validator fire up to that much
// later; none is on a block's path (votes wait for I/O, not for timers).
const ValidatorTimerSlack = timerslack.Default

// check refuses options that would fail half-way, after files were written under Dir.
func (o Options) check() error {
	switch {
	case o.InitialChains < 0:
		return fmt.Errorf("--initial-chains %d: want 0 or more", o.InitialChains)
	case o.WithFaucet && (o.FaucetPort < 1 || o.FaucetPort > 65535):
		return fmt.Errorf("--faucet-port %d: want 1..65535", o.FaucetPort)
	}
	return nil
}

// localValidators counts the validators this net up runs (those with a config here).
func localValidators(nf *NetworkFile) int {
	n := 0
	for _, v := range nf.Validators {
		if v.Config != "" {
			n++
		}
	}
	return n
}
