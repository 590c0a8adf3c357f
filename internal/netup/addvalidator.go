package netup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/validator"
)

// AddOptions are the options of `mica net add-validator`.
type AddOptions struct {
	Dir string
	// Port is the new validator's port; 0 picks the port after the highest one in use.
	Port int
	// Binary is the mica executable to run the validator with.
	Binary string
}

// AddedValidator is a validator that AddValidator started.
type AddedValidator struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	Address   string `json:"address"`
	Config    string `json:"config"`
	TLSCert   string `json:"tls_cert,omitempty"`
	PID       int    `json:"pid"`
	Log       string `json:"log"`
}

// maxValidators bounds the validators of a local network (as validator.Generate does).
const maxValidators = 100

// AddValidator generates the keys and config of one more validator of the running
// network under o.Dir (next to the others, like theirs: same shard count, TLS if they
// use it), starts its process, waits until it answers with the network's genesis, and
// records it in network.json, so that `net status` shows it, `net down` (and the net up
// process on exit) stops it and `net up` runs it with the others next time. It starts
// empty: clients push it each chain's history when they first need its vote. It is
// not a committee member until the admin chain makes it one (`mica committee
// add-validator`).
func AddValidator(ctx context.Context, o AddOptions) (*AddedValidator, error) {
	nf, err := ReadNetworkFile(filepath.Join(o.Dir, "network.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no network under %s (no network.json): `mica net up --path %s` creates one", o.Dir, o.Dir)
	}
	if err != nil {
		return nil, err
	}
	if !Alive(nf.PID, "net") {
		return nil, fmt.Errorf("no network is running under %s: start it with `mica net up --path %s` first", o.Dir, o.Dir)
	}
	if len(nf.Validators) == 0 {
		return nil, fmt.Errorf("the network under %s has no validators to copy the setup of", o.Dir)
	}
	if len(nf.Validators) >= maxValidators {
		return nil, fmt.Errorf("the network under %s already has %d validators (the most a local network runs)", o.Dir, len(nf.Validators))
	}
	first, err := validator.LoadConfig(nf.Validators[0].Config)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", nf.Validators[0].Name, err)
	}
	host, _, err := net.SplitHostPort(first.Address)
	if err != nil {
		return nil, fmt.Errorf("address of %s: %w", nf.Validators[0].Name, err)
	}
	port := o.Port
	if port == 0 {
		for _, v := range nf.Validators {
			if _, p, err := net.SplitHostPort(v.Address); err == nil {
				if n, err := strconv.Atoi(p); err == nil && n >= port {
					port = n + 1
				}
			}
		}
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("port %d is not a TCP port", port)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	for _, v := range nf.Validators {
		if v.Address == addr {
			return nil, fmt.Errorf("%s already listens on %s; choose another --port", v.Name, addr)
		}
	}
	if l, err := net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("port %d is taken (%v); choose another --port", port, err)
	} else if err := l.Close(); err != nil {
		return nil, err
	}
	name := ""
	for i := len(nf.Validators); ; i++ {
		name = fmt.Sprintf("validator-%d", i)
		if _, err := os.Stat(filepath.Join(o.Dir, name)); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	dir := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, err := crypto.GenerateKey(crypto.Ed25519, rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := validator.WriteKey(filepath.Join(dir, "key"), k); err != nil {
		return nil, err
	}
	cfg := validator.Config{Name: name, Address: addr, Shards: first.Shards, KeyFile: "key", Store: "db", Genesis: "../genesis.json",
		InternalCA: validator.DefaultInternalCA, InternalCert: validator.DefaultInternalCert, InternalKey: validator.DefaultInternalKey}
	now := time.Now()
	internal := rpc.InternalTLSFiles{CA: filepath.Join(dir, cfg.InternalCA), Cert: filepath.Join(dir, cfg.InternalCert), Key: filepath.Join(dir, cfg.InternalKey)}
	if err := rpc.GenerateInternalTLS(internal, rand.Reader, now); err != nil {
		return nil, fmt.Errorf("internal certificates of %s: %w", name, err)
	}
	info := ValidatorInfo{Name: name, Address: addr, Config: filepath.Join(dir, "config.json")}
	if nf.Validators[0].TLSCert != "" {
		cfg.TLSCert, cfg.TLSKey = "tls.pem", "tls.key"
		if err := rpc.GenerateSelfSigned(filepath.Join(dir, cfg.TLSCert), filepath.Join(dir, cfg.TLSKey), []string{host, "localhost"}, rand.Reader, now); err != nil {
			return nil, fmt.Errorf("TLS certificate of %s: %w", name, err)
		}
		info.TLSCert = filepath.Join(dir, cfg.TLSCert)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(info.Config, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	g, err := validator.ReadGenesis(nf.Genesis)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "validator.log")
	info.Log = logPath
	// One more process shares the machine with the network's validators.
	env := RuntimeEnv(os.Environ(), runtime.NumCPU(), localValidators(nf)+1)
	p, err := start(o.Binary, &info, []string{"validator", "run", "--config", info.Config}, logPath, env, false)
	if err != nil {
		return nil, err
	}
	opts, err := info.DialOptions(rpc.DialOptions{})
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, addr, opts, g.Hash()); err != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		return nil, fmt.Errorf("%s did not start: %w\nlast lines of %s:\n%s", name, err, logPath, tail(logPath, 20))
	}
	info.PID = p.cmd.Process.Pid
	// Re-read: net up may have written the file meanwhile.
	cur, err := ReadNetworkFile(filepath.Join(o.Dir, "network.json"))
	if err != nil {
		return nil, err
	}
	cur.Validators = append(cur.Validators, info)
	if err := writeNetwork(o.Dir, cur); err != nil {
		return nil, err
	}
	// The process outlives this one (its own process group); init reaps it.
	return &AddedValidator{Name: name, PublicKey: k.Public().String(), Address: addr, Config: info.Config, TLSCert: info.TLSCert, PID: info.PID, Log: logPath}, nil
}

// stopOthers stops the validators of network.json under dir that run but that this
// process did not start (those `net add-validator` added to the running network): SIGTERM,
// then SIGKILL after a bound.
func stopOthers(dir string, mine map[string]bool) {
	nf, err := ReadNetworkFile(filepath.Join(dir, "network.json"))
	if err != nil {
		return
	}
	var pids []int
	for _, v := range nf.Validators {
		if !mine[v.Name] && Alive(v.PID, v.Config) {
			if err := syscall.Kill(v.PID, syscall.SIGTERM); err == nil {
				pids = append(pids, v.PID)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for Alive(pid, "") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if Alive(pid, "") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// RecordValidator records (or replaces, by address) a validator in the network
// description at path, so that clients reading it dial the validator as it says (its
// TLS certificate).
func RecordValidator(path string, v ValidatorInfo) error {
	nf, err := ReadNetworkFile(path)
	if err != nil {
		return fmt.Errorf("network description: %w", err)
	}
	i := slices.IndexFunc(nf.Validators, func(w ValidatorInfo) bool { return w.Address == v.Address })
	if i >= 0 {
		nf.Validators[i].TLSCert = v.TLSCert
	} else {
		nf.Validators = append(nf.Validators, v)
	}
	b, err := json.MarshalIndent(nf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}
