package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// TestClaimHostCall: contracts claim through the runtime with the decoded accounts and
// amount; services may not.
func TestClaimHostCall(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	src := base.Account{Chain: base.ChainID{7}, Owner: base.Address32Owner(base.Hash{1})}
	dst := base.Account{Chain: base.ChainID{8}, Owner: base.Address32Owner(base.Hash{2})}
	var w codec.Writer
	w.Account(src)
	w.Account(dst)
	w.Amount(base.Tokens(3))
	if _, err := NewContractHost(f).Call(ctx, KindClaim, w.Bytes()); err != nil {
		t.Fatal(err)
	}
	if len(f.claims) != 1 || f.claims[0] != src.String()+"->"+dst.String()+":3" {
		t.Fatalf("claims %q", f.claims)
	}
	if _, err := NewContractHost(f).Call(ctx, KindClaim, w.Bytes()[:10]); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("truncated claim: %v", err)
	}
	if _, err := NewServiceHost(f).Call(ctx, KindClaim, w.Bytes()); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("service claim: %v", err)
	}
}

// TestOpenChainHostCall: a contract opens a single-super-owner chain and gets its id.
func TestOpenChainHostCall(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	own := protocol.SingleSuperOwner(base.Address32Owner(base.Hash{4}))
	var w codec.Writer
	own.Encode(&w)
	w.Amount(base.Tokens(2))
	resp, err := NewContractHost(f).Call(ctx, KindOpenChain, w.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 32 || resp[0] != 9 || len(f.opened) != 1 || f.opened[0] != "1 super owners:2" {
		t.Fatalf("open chain: %x %q", resp, f.opened)
	}
	if _, err := NewServiceHost(f).Call(ctx, KindOpenChain, w.Bytes()); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("service open chain: %v", err)
	}
}

// TestCompressedBytecode: published modules are zstd-compressed; the loader accepts
// them and raw Wasm, and refuses a compressed bomb past MaxBytecodeSize.
func TestCompressedBytecode(t *testing.T) {
	skipUnderRace(t)
	raw, err := os.ReadFile("testdata/counter.wasm")
	if err != nil {
		t.Fatal(err)
	}
	packed := protocol.CompressBytecode(raw)
	for _, in := range [][]byte{raw, packed} {
		got, err := Bytecode(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("bytecode round trip failed: %v", err)
		}
	}
	bomb := protocol.CompressBytecode(make([]byte, MaxBytecodeSize+1))
	if _, err := Bytecode(bomb); !errors.Is(err, ErrMalformedModule) {
		t.Fatalf("decompression bomb: %v", err)
	}
	t.Logf("counter.wasm %d bytes, compressed %d, bomb blob %d bytes", len(raw), len(packed), len(bomb))
}
