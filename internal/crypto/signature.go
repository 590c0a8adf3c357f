package crypto

import (
	"encoding/hex"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// Signature is a signature of one of the supported schemes. It is an immutable value: ==
// compares signatures, and it can be used as a map key. The zero value is "no signature"
// (IsZero) and is refused by Verify.
//
// Signatures built by NewSignature or decoding have the right size for their scheme, and
// secp256k1 signatures are in the one canonical form Mica accepts: r and s in [1, n-1],
// s <= n/2 (low S, as EIP-2 requires of Ethereum transactions) and v in {27, 28}, the form
// that personal_sign returns and ecrecover takes.
type Signature struct {
	scheme Scheme
	sig    string
}

// NewSignature checks the form of b as a signature of scheme s (size; for secp256k1 also
// the canonical r, s and v) and returns it. Whether it verifies is Verify's business.
// Errors are of class base.ErrInvalid.
func NewSignature(s Scheme, b []byte) (Signature, error) {
	if err := checkSignature(s, b); err != nil {
		return Signature{}, err
	}
	return Signature{scheme: s, sig: string(b)}, nil
}

func checkSignature(s Scheme, b []byte) error {
	if !s.Valid() {
		return base.Invalidf("signature: unknown scheme %d", s)
	}
	if want := s.signatureSize(); len(b) != want {
		return base.Invalidf("%s signature: want %d bytes, got %d", s, want, len(b))
	}
	if s == Secp256k1 {
		return checkSecp256k1Signature(b)
	}
	return nil
}

func checkSecp256k1Signature(b []byte) error {
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(b[:32]); overflow || r.IsZero() {
		return base.Invalidf("secp256k1 signature: r not in [1, n-1]")
	}
	if overflow := s.SetByteSlice(b[32:64]); overflow || s.IsZero() {
		return base.Invalidf("secp256k1 signature: s not in [1, n-1]")
	}
	if s.IsOverHalfOrder() {
		return base.Invalidf("secp256k1 signature: high s (want s <= n/2)")
	}
	if v := b[64]; v != 27 && v != 28 {
		return base.Invalidf("secp256k1 signature: recovery byte v = %d (want 27 or 28)", v)
	}
	return nil
}

// Scheme returns the signature's scheme.
func (sg Signature) Scheme() Scheme { return sg.scheme }

// Bytes returns a copy of the signature bytes (without the scheme).
func (sg Signature) Bytes() []byte { return []byte(sg.sig) }

// IsZero reports whether sg is the zero value.
func (sg Signature) IsZero() bool { return sg.sig == "" }

// String returns "<scheme>:<hex>".
func (sg Signature) String() string {
	if sg.IsZero() {
		return "<no signature>"
	}
	return sg.scheme.String() + ":" + hex.EncodeToString([]byte(sg.sig))
}

// ParseSignature parses the String form of a signature.
func ParseSignature(s string) (Signature, error) {
	name, h, ok := strings.Cut(s, ":")
	if !ok {
		return Signature{}, base.Invalidf("signature %q: want <scheme>:<hex>", truncate(s))
	}
	scheme, err := ParseScheme(name)
	if err != nil {
		return Signature{}, err
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return Signature{}, base.Invalidf("signature %q: %v", truncate(s), err)
	}
	return NewSignature(scheme, b)
}

// Encode writes the scheme tag (ULEB128) and the length-prefixed signature bytes. The zero
// signature encodes as a tag and an empty signature, which decoding refuses.
func (sg Signature) Encode(w *codec.Writer) {
	w.Tag(uint32(sg.scheme))
	w.String(sg.sig) // same bytes as VarBytes
}

// DecodeSignature reads a signature and checks its form like NewSignature; errors are
// recorded in r.
func DecodeSignature(r *codec.Reader) Signature {
	s := Scheme(r.Tag(schemeCount))
	n := r.Length(1)
	if r.Err() != nil {
		return Signature{}
	}
	if want := s.signatureSize(); n != want {
		r.Fail("%s signature: want %d bytes, got %d", s, want, n)
		return Signature{}
	}
	var small [Secp256k1SignatureSize]byte
	b := readFixed(r, n, small[:])
	if r.Err() != nil {
		return Signature{}
	}
	if err := checkSignature(s, b); err != nil {
		r.Fail("%v", err)
		return Signature{}
	}
	return Signature{scheme: s, sig: string(b)}
}

// Decode implements codec.Decoder; see DecodeSignature.
func (sg *Signature) Decode(r *codec.Reader) { *sg = DecodeSignature(r) }
