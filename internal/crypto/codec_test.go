package crypto_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

func decodeKey(b []byte) (crypto.PublicKey, error) {
	var pk crypto.PublicKey
	err := codec.Unmarshal(b, &pk)
	return pk, err
}

func decodeSig(b []byte) (crypto.Signature, error) {
	var sig crypto.Signature
	err := codec.Unmarshal(b, &sig)
	return sig, err
}

func TestPublicKeyEncoding(t *testing.T) {
	for _, s := range allSchemes {
		pk := mustKey(t, s, 20).Public()
		b := codec.Marshal(pk)
		// Layout: ULEB tag, ULEB length, key.
		size := len(pk.Bytes())
		var head codec.Writer
		head.Tag(uint32(s))
		head.Length(size)
		if !bytes.Equal(b, append(head.Bytes(), pk.Bytes()...)) {
			t.Fatalf("%s: encoding %x...", s, b[:8])
		}
		got, err := decodeKey(b)
		if err != nil || got != pk {
			t.Fatalf("%s: decode: %v", s, err)
		}
		if !bytes.Equal(codec.Marshal(got), b) {
			t.Fatalf("%s: encode(decode(b)) != b", s)
		}
		// DecodePublicKey agrees with the method.
		r := codec.NewReader(b)
		if crypto.DecodePublicKey(r) != pk || r.Finish() != nil {
			t.Fatalf("%s: DecodePublicKey", s)
		}
		r = codec.NewReader(b)
		if crypto.DecodeValidPublicKey(r) != pk || r.Finish() != nil {
			t.Fatalf("%s: DecodeValidPublicKey", s)
		}
		// Wrong lengths: one byte short, one byte long (with the length prefix adjusted).
		for _, n := range []int{size - 1, size + 1, 0} {
			var w codec.Writer
			w.Tag(uint32(s))
			w.VarBytes(bytes.Repeat([]byte{2}, n))
			_, err := decodeKey(w.Bytes())
			wantInvalid(t, s.String()+" key of wrong length", err)
		}
		// Truncated input and trailing bytes.
		_, err = decodeKey(b[:len(b)-1])
		wantInvalid(t, "truncated key", err)
		_, err = decodeKey(append(bytes.Clone(b), 0))
		wantInvalid(t, "trailing byte", err)
	}
	// Unknown scheme tag.
	_, err := decodeKey(append([]byte{3, 32}, make([]byte, 32)...))
	wantInvalid(t, "unknown scheme", err)
	// Non-minimal ULEB128 length.
	good := codec.Marshal(mustKey(t, crypto.Ed25519, 21).Public())
	nonMinimal := append([]byte{0, 0x80 | 32, 0}, good[2:]...)
	_, err = decodeKey(nonMinimal)
	wantInvalid(t, "non-minimal length", err)
}

func TestPublicKeyValidation(t *testing.T) {
	cases := []struct {
		name   string
		scheme crypto.Scheme
		hex    string
		// decodes: decoding checks the encoding only and admits the key; verification
		// refuses every signature under it.
		decodes bool
	}{
		// Ed25519: the identity (small order), a point of order 8, y = p (non-canonical
		// encoding of y = 0, a point of order 4), and a y that is on no curve point.
		{"ed25519 identity", crypto.Ed25519, "0100000000000000000000000000000000000000000000000000000000000000", true},
		{"ed25519 order 8", crypto.Ed25519, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", true},
		{"ed25519 non-canonical y", crypto.Ed25519, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
		{"ed25519 not on curve", crypto.Ed25519, "0200000000000000000000000000000000000000000000000000000000000000", true},
		// Secp256k1: uncompressed prefix, x = 0 (no point: 7 is not a square mod p),
		// x >= p.
		{"secp256k1 prefix 04", crypto.Secp256k1, "04" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", false},
		{"secp256k1 no point", crypto.Secp256k1, "02" + "0000000000000000000000000000000000000000000000000000000000000000", false},
		{"secp256k1 x >= p", crypto.Secp256k1, "02" + "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc30", false},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		_, err := crypto.NewPublicKey(c.scheme, b)
		wantInvalid(t, c.name, err)
		var w codec.Writer
		w.Tag(uint32(c.scheme))
		w.VarBytes(b)
		r := codec.NewReader(w.Bytes())
		crypto.DecodeValidPublicKey(r)
		wantInvalid(t, c.name+" (DecodeValidPublicKey)", r.Finish())
		pk, err := decodeKey(w.Bytes())
		if !c.decodes {
			wantInvalid(t, c.name+" (decoded)", err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: decoding refused a canonical encoding: %v", c.name, err)
		}
		msg := msgHash("small order")
		for _, v := range []*crypto.Verifier{nil, crypto.NewVerifier(4)} {
			wantInvalid(t, c.name+" Verify", v.Verify(pk, msg, smallOrderForgery))
			good := mustKey(t, crypto.Ed25519, 24)
			bv := v.NewBatchVerifier(2)
			bv.Add(good.Public(), msg, mustSign(t, good, msg))
			bv.Add(pk, msg, smallOrderForgery)
			wantInvalid(t, c.name+" BatchVerifier", bv.Verify())
		}
	}
	// The generator is a fine secp256k1 key.
	g, _ := hex.DecodeString("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	if _, err := crypto.NewPublicKey(crypto.Secp256k1, g); err != nil {
		t.Fatalf("generator refused: %v", err)
	}
	_, err := crypto.NewPublicKey(crypto.Scheme(3), make([]byte, 32))
	wantInvalid(t, "unknown scheme", err)
}

func TestSignatureEncoding(t *testing.T) {
	for _, s := range allSchemes {
		sig := mustSign(t, mustKey(t, s, 22), msgHash("enc"))
		b := codec.Marshal(sig)
		got, err := decodeSig(b)
		if err != nil || got != sig {
			t.Fatalf("%s: decode: %v", s, err)
		}
		if !bytes.Equal(codec.Marshal(got), b) {
			t.Fatalf("%s: encode(decode(b)) != b", s)
		}
		r := codec.NewReader(b)
		if crypto.DecodeSignature(r) != sig || r.Finish() != nil {
			t.Fatalf("%s: DecodeSignature", s)
		}
		size := len(sig.Bytes())
		for _, n := range []int{size - 1, size + 1, 0} {
			var w codec.Writer
			w.Tag(uint32(s))
			w.VarBytes(bytes.Repeat([]byte{1}, n))
			_, err := decodeSig(w.Bytes())
			wantInvalid(t, s.String()+" signature of wrong length", err)
			_, err = crypto.NewSignature(s, bytes.Repeat([]byte{1}, n))
			wantInvalid(t, s.String()+" NewSignature of wrong length", err)
		}
		_, err = decodeSig(append(bytes.Clone(b), 0))
		wantInvalid(t, "trailing byte", err)
	}
	// secp256k1 with v = 1 is refused at decode.
	raw := mustSign(t, mustKey(t, crypto.Secp256k1, 23), msgHash("v")).Bytes()
	raw[64] -= 27
	var w codec.Writer
	w.Tag(uint32(crypto.Secp256k1))
	w.VarBytes(raw)
	_, err := decodeSig(w.Bytes())
	wantInvalid(t, "v in {0,1}", err)
}
