package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// TestNetUpTLS runs `mica net up --tls`: every validator serves its public endpoint
// over TLS with a self-signed certificate recorded in network.json; the CLI (which
// finds network.json next to the wallet) pins them and moves tokens. A plaintext
// client and a client pinning another validator's certificate are refused.
func TestNetUpTLS(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--tls", "--initial-chains", "1")
	for _, v := range net.info.Validators {
		if v.TLSCert == "" {
			t.Fatalf("network.json lists %s without a TLS certificate", v.Name)
		}
		if fi, err := os.Stat(filepath.Join(filepath.Dir(v.TLSCert), "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: TLS key: %v, mode %v, want 0600", v.Name, err, fi.Mode().Perm())
		}
	}
	w := net.info.Wallet
	a := walletChain(t, w)
	b := otherWalletChain(t, w, a)
	mustMica(t, w, "transfer", "3", "--from", a, "--to", b)
	mustMica(t, w, "process-inbox", b)
	bID, _ := base.ParseChainID(b)
	ctx := context.Background()
	v0, v1 := net.info.Validators[0], net.info.Validators[1]
	// Pinned to its own certificate: served.
	opts, err := v0.DialOptions(rpc.DialOptions{CallTimeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	n, err := rpc.Dial(ctx, v0.Address, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	deadline := time.Now().Add(settleWait)
	for {
		info, err := n.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: bID})
		if err == nil && info.ChainBalance == base.Tokens(1003) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s over TLS: B %v, %v; want 1003", v0.Name, info, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Plaintext against a TLS endpoint, and the wrong pin: refused.
	if _, err := tryBalanceOn(v0.Address, bID); err == nil {
		t.Errorf("a plaintext client was served by %s", v0.Name)
	}
	wrong, err := rpc.PinnedCredentialsFile(v1.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rpc.Dial(ctx, v0.Address, rpc.DialOptions{CallTimeout: 5 * time.Second, Credentials: wrong})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.GenesisHash(ctx); err == nil {
		t.Errorf("%s was accepted by a client pinning %s's certificate", v0.Name, v1.Name)
	}
}
