package validator

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// GenerateOptions describes the validators of a new network.
type GenerateOptions struct {
	Dir        string
	Validators int
	Shards     int
	Host       string // default 127.0.0.1
	PortBase   int    // validator i listens on PortBase + i
	Network    string // network name
	Policy     protocol.ResourcePolicy
	Timestamp  base.Timestamp
	Rand       io.Reader // key source (crypto/rand in the CLI)
	// TLS also writes a self-signed certificate for each validator's public endpoint
	// (tls.pem, tls.key) and sets it in the config; clients pin the certificate.
	TLS bool
	// Now dates the generated certificates (default: the wall clock).
	Now time.Time
}

// Generate writes, for each validator, DIR/validator-i/{config.json,key}, its internal
// PKI (a new internal CA and the certificate its proxy and shards present to each
// other; keys mode 0600) and, with TLS, a self-signed public certificate, and returns
// the committee. The caller builds the genesis (root chains) and writes it with
// WriteGenesis(DIR/genesis.json).
func Generate(o GenerateOptions) (*protocol.Committee, []string, error) {
	if o.Validators < 1 || o.Validators > 100 {
		return nil, nil, fmt.Errorf("--validators must be between 1 and 100, got %d", o.Validators)
	}
	if o.Shards < 1 {
		o.Shards = 1
	}
	if err := o.Policy.CheckDeliverable(); err != nil {
		return nil, nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.PortBase <= 0 || o.PortBase+o.Validators > 65535 {
		return nil, nil, fmt.Errorf("--port-base %d leaves no room for %d validators", o.PortBase, o.Validators)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var states []protocol.ValidatorState
	var paths []string
	for i := 0; i < o.Validators; i++ {
		dir := filepath.Join(o.Dir, fmt.Sprintf("validator-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, err
		}
		k, err := crypto.GenerateKey(crypto.Ed25519, o.Rand)
		if err != nil {
			return nil, nil, err
		}
		if err := WriteKey(filepath.Join(dir, "key"), k); err != nil {
			return nil, nil, err
		}
		addr := fmt.Sprintf("%s:%d", o.Host, o.PortBase+i)
		cfg := Config{Name: fmt.Sprintf("validator-%d", i), Address: addr, Shards: o.Shards, KeyFile: "key", Store: "db", Genesis: "../genesis.json",
			InternalCA: DefaultInternalCA, InternalCert: DefaultInternalCert, InternalKey: DefaultInternalKey}
		internal := rpc.InternalTLSFiles{CA: filepath.Join(dir, cfg.InternalCA), Cert: filepath.Join(dir, cfg.InternalCert), Key: filepath.Join(dir, cfg.InternalKey)}
		if err := rpc.GenerateInternalTLS(internal, o.Rand, o.Now); err != nil {
			return nil, nil, fmt.Errorf("internal certificates of validator %d: %w", i, err)
		}
		if o.TLS {
			cfg.TLSCert, cfg.TLSKey = "tls.pem", "tls.key"
			if err := rpc.GenerateSelfSigned(filepath.Join(dir, cfg.TLSCert), filepath.Join(dir, cfg.TLSKey), []string{o.Host, "localhost"}, o.Rand, o.Now); err != nil {
				return nil, nil, fmt.Errorf("TLS certificate of validator %d: %w", i, err)
			}
		}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, "config.json")
		if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
			return nil, nil, err
		}
		paths = append(paths, path)
		states = append(states, protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: addr, Votes: 1})
	}
	c, err := protocol.NewCommittee(states, o.Policy)
	return c, paths, err
}
