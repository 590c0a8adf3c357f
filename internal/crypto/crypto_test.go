package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

var allSchemes = []crypto.Scheme{crypto.Ed25519, crypto.Secp256k1, crypto.MLDSA65}

// detRand returns a deterministic randomness source.
func detRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func mustKey(t testing.TB, s crypto.Scheme, seed uint64) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(s, detRand(seed))
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", s, err)
	}
	return k
}

func mustSign(t testing.TB, k crypto.Signer, msg base.Hash) crypto.Signature {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("%s: error %v is not of class base.ErrInvalid", what, err)
	}
}

func msgHash(s string) base.Hash { return crypto.HashBytes("Test", []byte(s)) }

func TestSchemeNames(t *testing.T) {
	for _, s := range allSchemes {
		got, err := crypto.ParseScheme(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseScheme(%q) = %v, %v", s.String(), got, err)
		}
	}
	if got := []string{crypto.Ed25519.String(), crypto.Secp256k1.String(), crypto.MLDSA65.String()}; strings.Join(got, ",") != "ed25519,secp256k1,mldsa65" {
		t.Fatalf("names %v", got)
	}
	_, err := crypto.ParseScheme("rsa")
	wantInvalid(t, "ParseScheme(rsa)", err)
	if crypto.Scheme(9).String() != "scheme(9)" {
		t.Fatalf("unknown scheme name %q", crypto.Scheme(9).String())
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, s := range allSchemes {
		t.Run(s.String(), func(t *testing.T) {
			k := mustKey(t, s, 1)
			pk := k.Public()
			if pk.Scheme() != s || k.Scheme() != s {
				t.Fatalf("scheme %v / %v, want %v", pk.Scheme(), k.Scheme(), s)
			}
			msg := msgHash("hello")
			sig := mustSign(t, k, msg)
			if sig.Scheme() != s {
				t.Fatalf("signature scheme %v", sig.Scheme())
			}
			if err := crypto.Verify(pk, msg, sig); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Deterministic signing.
			if again := mustSign(t, k, msg); again != sig {
				t.Fatalf("signing is not deterministic")
			}
			// Tampered message.
			wantInvalid(t, "other message", crypto.Verify(pk, msgHash("hellp"), sig))
			// Other key of the same scheme.
			other := mustKey(t, s, 2)
			wantInvalid(t, "other key", crypto.Verify(other.Public(), msg, sig))
			// Tampered signature: every position class (start, middle, end).
			raw := sig.Bytes()
			for _, i := range []int{0, 31, 32, len(raw) / 2, len(raw) - 2, len(raw) - 1} {
				b := bytes.Clone(raw)
				b[i] ^= 0x01
				bad, err := crypto.NewSignature(s, b)
				if err != nil {
					wantInvalid(t, "tampered signature form", err)
					continue
				}
				wantInvalid(t, "tampered signature", crypto.Verify(pk, msg, bad))
			}
			// Bytes is a copy.
			raw[0] ^= 0xff
			if err := crypto.Verify(pk, msg, sig); err != nil {
				t.Fatalf("Signature.Bytes is not a copy: %v", err)
			}
			pkb := pk.Bytes()
			pkb[1] ^= 0xff
			if err := crypto.Verify(pk, msg, sig); err != nil {
				t.Fatalf("PublicKey.Bytes is not a copy: %v", err)
			}
		})
	}
}

func TestCrossSchemeRefused(t *testing.T) {
	msg := msgHash("cross")
	keys := map[crypto.Scheme]*crypto.PrivateKey{}
	for _, s := range allSchemes {
		keys[s] = mustKey(t, s, 7)
	}
	for _, ks := range allSchemes {
		for _, ss := range allSchemes {
			if ks == ss {
				continue
			}
			sig := mustSign(t, keys[ss], msg)
			wantInvalid(t, ks.String()+" key with "+ss.String()+" signature", crypto.Verify(keys[ks].Public(), msg, sig))
		}
	}
	wantInvalid(t, "zero key", crypto.Verify(crypto.PublicKey{}, msg, mustSign(t, keys[crypto.Ed25519], msg)))
	wantInvalid(t, "zero signature", crypto.Verify(keys[crypto.Ed25519].Public(), msg, crypto.Signature{}))
}

func TestSecp256k1Malleability(t *testing.T) {
	k := mustKey(t, crypto.Secp256k1, 3)
	msg := msgHash("malleable")
	sig := mustSign(t, k, msg)
	raw := sig.Bytes()
	if v := raw[64]; v != 27 && v != 28 {
		t.Fatalf("v = %d", v)
	}
	// Flipped v: a well-formed signature that recovers another key.
	flipped := bytes.Clone(raw)
	flipped[64] ^= 27 ^ 28
	bad, err := crypto.NewSignature(crypto.Secp256k1, flipped)
	if err != nil {
		t.Fatalf("flipped v refused at decode: %v", err)
	}
	wantInvalid(t, "flipped v", crypto.Verify(k.Public(), msg, bad))
	// v in {0, 1} is the other common form; refused.
	zeroV := bytes.Clone(raw)
	zeroV[64] -= 27
	_, err = crypto.NewSignature(crypto.Secp256k1, zeroV)
	wantInvalid(t, "v in {0,1}", err)
	// High S: s' = n - s with v flipped is a valid ECDSA signature; refused.
	n, _ := hex.DecodeString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	high := bytes.Clone(raw)
	sub(high[32:64], n, raw[32:64])
	high[64] ^= 27 ^ 28
	_, err = crypto.NewSignature(crypto.Secp256k1, high)
	wantInvalid(t, "high s", err)
	// r = 0, s = 0, r >= n.
	for _, mod := range []func([]byte){
		func(b []byte) { clear(b[:32]) },
		func(b []byte) { clear(b[32:64]) },
		func(b []byte) { copy(b[:32], n) },
	} {
		b := bytes.Clone(raw)
		mod(b)
		_, err := crypto.NewSignature(crypto.Secp256k1, b)
		wantInvalid(t, "r/s out of range", err)
	}
}

// sub sets dst = a - b for 32-byte big-endian numbers (a >= b).
func sub(dst, a, b []byte) {
	var borrow int
	for i := 31; i >= 0; i-- {
		d := int(a[i]) - int(b[i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		dst[i] = byte(d)
	}
}

func TestPublicKeyValue(t *testing.T) {
	for _, s := range allSchemes {
		k := mustKey(t, s, 4)
		pk := k.Public()
		again := mustKey(t, s, 4).Public()
		if pk != again {
			t.Fatalf("%s: == fails on equal keys", s)
		}
		m := map[crypto.PublicKey]int{pk: 1}
		if m[again] != 1 {
			t.Fatalf("%s: map key lookup fails", s)
		}
		if pk.Compare(again) != 0 || pk.IsZero() {
			t.Fatalf("%s: Compare/IsZero", s)
		}
		str := pk.String()
		if !strings.HasPrefix(str, s.String()+":") {
			t.Fatalf("String %q", str)
		}
		parsed, err := crypto.ParsePublicKey(str)
		if err != nil || parsed != pk {
			t.Fatalf("ParsePublicKey(String) = %v, %v", parsed, err)
		}
		b, err := crypto.NewPublicKey(s, pk.Bytes())
		if err != nil || b != pk {
			t.Fatalf("NewPublicKey(Bytes) = %v, %v", b, err)
		}
	}
	ed := mustKey(t, crypto.Ed25519, 5).Public()
	k1 := mustKey(t, crypto.Secp256k1, 5).Public()
	if ed.Compare(k1) >= 0 || k1.Compare(ed) <= 0 {
		t.Fatalf("Compare does not order by scheme first")
	}
	if !(crypto.PublicKey{}).IsZero() {
		t.Fatalf("zero key not IsZero")
	}
	for _, s := range []string{"", "ed25519", "ed25519:zz", "rsa:00", "ed25519:" + strings.Repeat("00", 31)} {
		_, err := crypto.ParsePublicKey(s)
		wantInvalid(t, "ParsePublicKey("+s+")", err)
	}
}

func TestSignatureValue(t *testing.T) {
	for _, s := range allSchemes {
		sig := mustSign(t, mustKey(t, s, 6), msgHash("x"))
		parsed, err := crypto.ParseSignature(sig.String())
		if err != nil || parsed != sig {
			t.Fatalf("%s: ParseSignature(String) = %v", s, err)
		}
		if sig.IsZero() || !(crypto.Signature{}).IsZero() {
			t.Fatalf("IsZero")
		}
	}
}

func TestOwner(t *testing.T) {
	for _, s := range []crypto.Scheme{crypto.Ed25519, crypto.MLDSA65} {
		pk := mustKey(t, s, 8).Public()
		o := pk.Owner()
		if o.Kind() != base.OwnerAddress32 {
			t.Fatalf("%s owner kind %v", s, o.Kind())
		}
		want := crypto.HashBytes("PublicKey", codec.Marshal(pk))
		if !bytes.Equal(o.Bytes(), want[:]) {
			t.Fatalf("%s owner %v, want hash of the encoded key %v", s, o, want)
		}
		if o == mustKey(t, s, 9).Public().Owner() {
			t.Fatalf("two keys, one owner")
		}
	}
	pk := mustKey(t, crypto.Secp256k1, 8).Public()
	o := pk.Owner()
	addr, err := crypto.EthereumAddress(pk)
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind() != base.OwnerAddress20 || !bytes.Equal(o.Bytes(), addr[:]) {
		t.Fatalf("secp256k1 owner %v, address %x", o, addr)
	}
	_, err = crypto.EthereumAddress(mustKey(t, crypto.Ed25519, 8).Public())
	wantInvalid(t, "EthereumAddress(ed25519)", err)
}

func TestHash(t *testing.T) {
	h := crypto.HashBytes("Test", []byte("abc"))
	if crypto.HashBytes("Other", []byte("abc")) == h {
		t.Fatalf("no domain separation")
	}
	pk := mustKey(t, crypto.Ed25519, 10).Public()
	if crypto.HashValue("PublicKey", pk) != crypto.HashBytes("PublicKey", codec.Marshal(pk)) {
		t.Fatalf("HashValue differs from HashBytes of the encoding")
	}
	// Concurrent use of the pooled buffers.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			big := bytesValue(bytes.Repeat([]byte{byte(g)}, 100_000+g))
			want := crypto.HashBytes("Big", codec.Marshal(big))
			for range 50 {
				if crypto.HashValue("Big", big) != want {
					t.Error("HashValue races")
					return
				}
				if crypto.HashValue("PublicKey", pk) != crypto.HashBytes("PublicKey", codec.Marshal(pk)) {
					t.Error("HashValue races")
					return
				}
			}
		}()
	}
	wg.Wait()
}

type bytesValue []byte

func (b bytesValue) Encode(w *codec.Writer) { w.VarBytes(b) }

func TestHashKnownAnswer(t *testing.T) {
	got := crypto.HashBytes("Test", []byte("abc"))
	want := sha256.Sum256([]byte("Test::abc"))
	if got != base.Hash(want) {
		t.Fatalf("HashBytes = %s, want %x", got, want)
	}
}

func TestHashValueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	pk := mustKey(t, crypto.Ed25519, 11).Public()
	var enc codec.Encoder = pk
	allocs := testing.AllocsPerRun(100, func() { crypto.HashValue("PublicKey", enc) })
	if allocs > 0 {
		t.Fatalf("HashValue allocates %v times per call", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() { pk.Owner() })
	if allocs > 0 {
		t.Fatalf("Owner allocates %v times per call", allocs)
	}
}

func TestPrivateKeyMarshal(t *testing.T) {
	for _, s := range allSchemes {
		k := mustKey(t, s, 12)
		b, err := k.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 33 || b[0] != byte(s) {
			t.Fatalf("%s: marshaled %x", s, b)
		}
		k2, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if k2.Public() != k.Public() {
			t.Fatalf("%s: public key changed across marshaling", s)
		}
		msg := msgHash("keystore")
		if mustSign(t, k2, msg) != mustSign(t, k, msg) {
			t.Fatalf("%s: signatures differ across marshaling", s)
		}
		if strings.Contains(k.String(), hex.EncodeToString(b[1:])) {
			t.Fatalf("String leaks the secret")
		}
	}
	for _, b := range [][]byte{nil, {0}, make([]byte, 32), make([]byte, 34), append([]byte{3}, make([]byte, 32)...)} {
		_, err := crypto.UnmarshalPrivateKey(b)
		wantInvalid(t, "UnmarshalPrivateKey", err)
	}
	// secp256k1 scalars 0 and >= n are refused.
	_, err := crypto.UnmarshalPrivateKey(append([]byte{1}, make([]byte, 32)...))
	wantInvalid(t, "secp256k1 zero scalar", err)
	_, err = crypto.UnmarshalPrivateKey(append([]byte{1}, bytes.Repeat([]byte{0xff}, 32)...))
	wantInvalid(t, "secp256k1 scalar >= n", err)
}

func TestGenerateKeyReaderErrors(t *testing.T) {
	if _, err := crypto.GenerateKey(crypto.Ed25519, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatalf("short reader accepted")
	}
	// An all-zero reader can never give a secp256k1 key; GenerateKey must give up.
	if _, err := crypto.GenerateKey(crypto.Secp256k1, zeroReader{}); err == nil {
		t.Fatalf("zero reader gave a secp256k1 key")
	}
	_, err := crypto.GenerateKey(crypto.Scheme(7), nil)
	wantInvalid(t, "unknown scheme", err)
	if k, err := crypto.GenerateKey(crypto.Ed25519, nil); err != nil || k.Public().IsZero() {
		t.Fatalf("GenerateKey(nil reader): %v", err)
	}
	var zero crypto.PrivateKey
	if _, err := zero.Sign(base.Hash{}); err == nil {
		t.Fatalf("zero PrivateKey signs")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
