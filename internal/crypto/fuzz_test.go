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
		again, err := crypto.NewPublicKey(pk.Scheme(), pk.Bytes())
		if err != nil || again != pk {
			t.Fatalf("NewPublicKey(Bytes) = %v", err)
		}
		if p, err := crypto.ParsePublicKey(pk.String()); err != nil || p != pk {
			t.Fatalf("ParsePublicKey(String) = %v", err)
		}
		_ = pk.Owner()
	})
}

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
