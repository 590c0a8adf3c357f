package crypto_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

func FuzzDecodePublicKey(f *testing.F) {
	for i, s := range allSchemes {
		f.Add(codec.Marshal(mustKey(f, s, uint64(500+i)).Public()))
	}
	f.Add([]byte{0, 32})
	// The identity and a point of order 8: canonical encodings of small-order points.
	f.Add(append([]byte{0, 32, 1}, make([]byte, 31)...))
	f.Add(append([]byte{0, 32}, []byte("\xc7\x17\x6a\x70\x3d\x4d\xd8\x4f\xba\x3c\x0b\x76\x0d\x10\x67\x0f\x2a\x20\x53\xfa\x2c\x39\xcc\xc6\x4e\xc7\xfd\x77\x92\xac\x03\x7a")...))
	f.Add(append([]byte{1, 33, 2}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pk crypto.PublicKey
		var err error
		checkAlloc(t, b, func() { pk, err = decodeKey(b) })
		if err != nil {
			return
		}
		if pk.IsZero() {
			t.Fatalf("decoded a zero key from %x", b)
		}
		if out := codec.Marshal(pk); !bytes.Equal(out, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, out)
		}
		_ = pk.Owner()
		again, err := crypto.NewPublicKey(pk.Scheme(), pk.Bytes())
		if err != nil {
			// Decoding leaves the point checks of an Ed25519 key to verification, which
			// must then refuse everything, the signature any small-order key "makes"
			// under plain ZIP-215 included.
			if pk.Scheme() != crypto.Ed25519 {
				t.Fatalf("decoded a %s key NewPublicKey refuses: %v", pk.Scheme(), err)
			}
			for _, v := range []*crypto.Verifier{nil, crypto.NewVerifier(1)} {
				if v.Verify(pk, msgHash("fuzz"), smallOrderForgery) == nil {
					t.Fatalf("a signature verifies under key %x, which NewPublicKey refuses", pk.Bytes())
				}
			}
			return
		}
		if again != pk {
			t.Fatalf("NewPublicKey(Bytes) = %v", again)
		}
		if p, err := crypto.ParsePublicKey(pk.String()); err != nil || p != pk {
			t.Fatalf("ParsePublicKey(String) = %v", err)
		}
	})
}

// smallOrderForgery is R = the identity, S = 0: under plain ZIP-215 it verifies any
// message under any small-order key ([8]R + [8]kA = 0 = [8]SB for every k).
var smallOrderForgery = func() crypto.Signature {
	sig, err := crypto.NewSignature(crypto.Ed25519, append(append([]byte{1}, make([]byte, 31)...), make([]byte, 32)...))
	if err != nil {
		panic(err)
	}
	return sig
}()

func FuzzDecodeSignature(f *testing.F) {
	for i, s := range allSchemes {
		f.Add(codec.Marshal(mustSign(f, mustKey(f, s, uint64(600+i)), msgHash("fuzz"))))
	}
	f.Add([]byte{1, 65})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sig crypto.Signature
		var err error
		checkAlloc(t, b, func() { sig, err = decodeSig(b) })
		if err != nil {
			return
		}
		if out := codec.Marshal(sig); !bytes.Equal(out, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, out)
		}
		if s, err := crypto.ParseSignature(sig.String()); err != nil || s != sig {
			t.Fatalf("ParseSignature(String) = %v", err)
		}
		// Verifying arbitrary well-formed signatures must not panic.
		for _, pk := range fuzzKeys {
			_ = crypto.Verify(pk, msgHash("fuzz"), sig)
		}
	})
}

var fuzzKeys = func() []crypto.PublicKey {
	var out []crypto.PublicKey
	for i, s := range allSchemes {
		k, err := crypto.GenerateKey(s, detRand(uint64(600+i)))
		if err != nil {
			panic(err)
		}
		out = append(out, k.Public())
	}
	return out
}()

func FuzzUnmarshalPrivateKey(f *testing.F) {
	for i, s := range allSchemes {
		b, err := mustKey(f, s, uint64(700+i)).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(append([]byte{1}, bytes.Repeat([]byte{0xff}, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return
		}
		out, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("MarshalBinary(Unmarshal(%x)) = %x, %v", b, out, err)
		}
		msg := msgHash("fuzz")
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := crypto.Verify(k.Public(), msg, sig); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
	})
}

// checkAlloc runs decode, which decodes b, and fails t if it allocated more than the
// codec's budget for b plus one byte per input byte (the key or signature is copied into
// a string after being read).
func checkAlloc(t *testing.T, b []byte, decode func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	decode()
	runtime.ReadMemStats(&after)
	if n, limit := after.TotalAlloc-before.TotalAlloc, uint64(codec.Budget(len(b))+len(b)); n > limit {
		t.Fatalf("decoding %d bytes allocated %d, want at most %d", len(b), n, limit)
	}
}
