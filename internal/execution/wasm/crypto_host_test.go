package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero/api"
	"golang.org/x/crypto/sha3"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

func varBytes(b []byte) []byte {
	w := codec.NewWriter(nil)
	w.VarBytes(b)
	return w.Bytes()
}

func TestHostHashes(t *testing.T) {
	ctx := context.Background()
	hosts := map[string]Host{"contract": NewContractHost(newFake()), "service": NewServiceHost(newFake())}
	inputs := [][]byte{nil, []byte("abc"), bytes.Repeat([]byte{7}, 10_000)}
	for name, h := range hosts {
		for _, in := range inputs {
			got, err := h.Call(ctx, KindSha256, varBytes(in))
			if want := sha256.Sum256(in); err != nil || !bytes.Equal(got, want[:]) {
				t.Errorf("%s sha256(%d bytes) = %x, %v; want %x", name, len(in), got, err, want)
			}
			k := sha3.NewLegacyKeccak256()
			k.Write(in)
			got, err = h.Call(ctx, KindKeccak256, varBytes(in))
			if want := k.Sum(nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s keccak256(%d bytes) = %x, %v; want %x", name, len(in), got, err, want)
			}
		}
		// Known answer: Keccak-256 of the empty string (Ethereum's, not SHA3-256).
		got, _ := h.Call(ctx, KindKeccak256, varBytes(nil))
		if want := "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"; hexOf(got) != want {
			t.Errorf("%s keccak256('') = %x", name, got)
		}
		for _, kind := range []Kind{KindSha256, KindKeccak256} {
			for _, bad := range [][]byte{nil, {5, 1}, append(varBytes([]byte("x")), 0)} {
				if _, err := h.Call(ctx, kind, bad); !errors.Is(err, ErrMalformedRequest) {
					t.Errorf("%s kind %d with %x: err = %v, want malformed", name, kind, bad, err)
				}
			}
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func verifyRequest(pk crypto.PublicKey, msg base.Hash, sig crypto.Signature) []byte {
	w := codec.NewWriter(nil)
	pk.Encode(w)
	w.Hash(msg)
	sig.Encode(w)
	return w.Bytes()
}

func TestHostVerifySignature(t *testing.T) {
	ctx := context.Background()
	hosts := map[string]Host{"contract": NewContractHost(newFake()), "service": NewServiceHost(newFake())}
	msg := crypto.HashBytes("Test", []byte("hello"))
	other := crypto.HashBytes("Test", []byte("bye"))
	for _, scheme := range []crypto.Scheme{crypto.Ed25519, crypto.Secp256k1, crypto.MLDSA65} {
		k, err := crypto.GenerateKey(scheme, nil)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := crypto.Verify(k.Public(), msg, sig); err != nil {
			t.Fatalf("%s: crypto.Verify: %v", scheme, err)
		}
		k2, _ := crypto.GenerateKey(scheme, nil)
		for name, h := range hosts {
			for _, c := range []struct {
				desc string
				pk   crypto.PublicKey
				msg  base.Hash
				want bool
			}{
				{"valid", k.Public(), msg, true},
				{"other message", k.Public(), other, false},
				{"other key", k2.Public(), msg, false},
			} {
				got, err := h.Call(ctx, KindVerifySignature, verifyRequest(c.pk, c.msg, sig))
				want := []byte{0}
				if c.want {
					want = []byte{1}
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s %s %s: got %x, %v; want %x", name, scheme, c.desc, got, err, want)
				}
			}
		}
	}

	// A signature of another scheme than the key verifies false; malformed encodings
	// are malformed requests.
	ed, _ := crypto.GenerateKey(crypto.Ed25519, nil)
	secp, _ := crypto.GenerateKey(crypto.Secp256k1, nil)
	secpSig, _ := secp.Sign(msg)
	edSig, _ := ed.Sign(msg)
	good := verifyRequest(ed.Public(), msg, edSig)
	wrongKeyLen := codec.NewWriter(nil)
	wrongKeyLen.Tag(0)
	wrongKeyLen.VarBytes(make([]byte, 31))
	wrongKeyLen.Hash(msg)
	edSig.Encode(wrongKeyLen)
	unknownScheme := append([]byte{9}, good[1:]...)
	// Canonical encodings that are no usable key: the identity (small order) and a y on
	// no curve point. Decoding a wire key leaves these to verification; the ABI refuses
	// them as malformed.
	badPoint := func(first byte) []byte {
		w := codec.NewWriter(nil)
		w.Tag(0)
		w.VarBytes(append([]byte{first}, make([]byte, 31)...))
		w.Hash(msg)
		edSig.Encode(w)
		return w.Bytes()
	}
	for name, h := range hosts {
		got, err := h.Call(ctx, KindVerifySignature, verifyRequest(ed.Public(), msg, secpSig))
		if err != nil || !bytes.Equal(got, []byte{0}) {
			t.Errorf("%s scheme mismatch: got %x, %v; want false", name, got, err)
		}
		for desc, bad := range map[string][]byte{
			"empty":          nil,
			"truncated":      good[:len(good)-1],
			"trailing":       append(append([]byte{}, good...), 0),
			"key length":     wrongKeyLen.Bytes(),
			"unknown scheme": unknownScheme,
			"no signature":   good[:1+1+32+32],
			"small order":    badPoint(1),
			"not a point":    badPoint(2),
		} {
			if _, err := h.Call(ctx, KindVerifySignature, bad); !errors.Is(err, ErrMalformedRequest) {
				t.Errorf("%s %s: err = %v, want malformed", name, desc, err)
			}
		}
	}
}

// fakeGlobal is a fuel global for calling the host inside a simulated run.
type fakeGlobal struct {
	api.MutableGlobal
	v uint64
}

func (g *fakeGlobal) Get() uint64  { return g.v }
func (g *fakeGlobal) Set(v uint64) { g.v = v }

func TestHostVerifySignatureFuel(t *testing.T) {
	k, _ := crypto.GenerateKey(crypto.Ed25519, nil)
	msg := crypto.HashBytes("Test", []byte("fuel"))
	sig, _ := k.Sign(msg)
	req := verifyRequest(k.Public(), msg, sig)
	h := NewContractHost(newFake())

	g := &fakeGlobal{v: 10_000}
	ctx := context.WithValue(context.Background(), stateKey{}, &callState{host: h, fuel: g})
	if got, err := h.Call(ctx, KindVerifySignature, req); err != nil || !bytes.Equal(got, []byte{1}) {
		t.Fatalf("verify: %x, %v", got, err)
	}
	if g.v != 10_000-VerifySignatureFuel {
		t.Errorf("fuel left %d, want %d", g.v, 10_000-VerifySignatureFuel)
	}
	// Hashing adds nothing on top of the engine's per-byte charge.
	if _, err := h.Call(ctx, KindSha256, varBytes([]byte("x"))); err != nil || g.v != 10_000-VerifySignatureFuel {
		t.Errorf("sha256 charged extra fuel: left %d, %v", g.v, err)
	}
	// A malformed request is refused before the charge.
	if _, err := h.Call(ctx, KindVerifySignature, req[:10]); !errors.Is(err, ErrMalformedRequest) || g.v != 10_000-VerifySignatureFuel {
		t.Errorf("malformed: left %d, %v", g.v, err)
	}

	g.v = VerifySignatureFuel - 1
	func() {
		defer func() {
			var abort *hostAbort
			if r := recover(); r == nil {
				t.Error("no abort when fuel runs out")
			} else if err, ok := r.(error); !ok || !errors.As(err, &abort) || !errors.Is(abort.err, ErrOutOfFuel) {
				t.Errorf("abort = %v, want out of fuel", r)
			}
		}()
		_, _ = h.Call(ctx, KindVerifySignature, req)
	}()
}
