package crypto

import (
	"encoding/hex"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/oasisprotocol/curve25519-voi/curve"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// PublicKey is a public key of one of the supported schemes. It is an immutable value:
// == compares keys, and it can be used as a map key. The zero value is "no key"
// (IsZero); it is refused by Verify and never produced by decoding.
//
// Every PublicKey built by NewPublicKey or decoding holds a valid, canonically encoded key,
// so equal keys always have equal bytes and equal Owners.
type PublicKey struct {
	scheme Scheme
	key    string
}

// NewPublicKey validates b as a public key of scheme s and returns it. Ed25519 keys must be
// the canonical encoding of a curve point that is not of small order; secp256k1 keys must
// be 33-byte compressed SEC1 encodings of a curve point; ML-DSA-65 keys must be 1952 bytes.
// Errors are of class base.ErrInvalid.
func NewPublicKey(s Scheme, b []byte) (PublicKey, error) {
	if err := checkPublicKey(s, b); err != nil {
		return PublicKey{}, err
	}
	return PublicKey{scheme: s, key: string(b)}, nil
}

func checkPublicKey(s Scheme, b []byte) error {
	if !s.Valid() {
		return base.Invalidf("public key: unknown scheme %d", s)
	}
	if want := s.publicKeySize(); len(b) != want {
		return base.Invalidf("%s public key: want %d bytes, got %d", s, want, len(b))
	}
	switch s {
	case Ed25519:
		// ZIP-215 verification tolerates non-canonical and small-order keys; we refuse them
		// once, when a key enters the system. Honest keys are never either, a small-order
		// key lets anyone forge signatures, and a canonical encoding makes the key bytes
		// (and so the owner address) unique per key.
		var c curve.CompressedEdwardsY
		copy(c[:], b)
		if !c.IsCanonicalVartime() {
			return base.Invalidf("ed25519 public key: non-canonical point encoding")
		}
		var p curve.EdwardsPoint
		if _, err := p.SetCompressedY(&c); err != nil {
			return base.Invalidf("ed25519 public key: not a curve point")
		}
		if p.IsSmallOrder() {
			return base.Invalidf("ed25519 public key: point of small order")
		}
	case Secp256k1:
		if b[0] != secp256k1.PubKeyFormatCompressedEven && b[0] != secp256k1.PubKeyFormatCompressedOdd {
			return base.Invalidf("secp256k1 public key: want compressed SEC1 encoding (prefix 02 or 03), got prefix %02x", b[0])
		}
		if _, err := secp256k1.ParsePubKey(b); err != nil {
			return base.Invalidf("secp256k1 public key: %v", err)
		}
	case MLDSA65:
		// Every 1952-byte string is a valid packed ML-DSA-65 key (rho and 10-bit t1
		// coefficients), and the packing is a bijection.
	}
	return nil
}

// Scheme returns the key's scheme.
func (pk PublicKey) Scheme() Scheme { return pk.scheme }

// Bytes returns a copy of the encoded key (without the scheme).
func (pk PublicKey) Bytes() []byte { return []byte(pk.key) }

// IsZero reports whether pk is the zero value.
func (pk PublicKey) IsZero() bool { return pk.key == "" }

// Compare orders keys by scheme, then bytewise.
func (pk PublicKey) Compare(o PublicKey) int {
	if pk.scheme != o.scheme {
		if pk.scheme < o.scheme {
			return -1
		}
		return 1
	}
	return strings.Compare(pk.key, o.key)
}

// String returns "<scheme>:<hex>", for example "ed25519:3b6a27bc...".
func (pk PublicKey) String() string {
	if pk.IsZero() {
		return "<no key>"
	}
	return pk.scheme.String() + ":" + hex.EncodeToString([]byte(pk.key))
}

// short is String for messages: ML-DSA keys are cut to their first 16 bytes.
func (pk PublicKey) short() string {
	if len(pk.key) > 32 {
		return pk.scheme.String() + ":" + hex.EncodeToString([]byte(pk.key[:16])) + "..."
	}
	return pk.String()
}

// ParsePublicKey parses the String form of a key.
func ParsePublicKey(s string) (PublicKey, error) {
	name, h, ok := strings.Cut(s, ":")
	if !ok {
		return PublicKey{}, base.Invalidf("public key %q: want <scheme>:<hex>", truncate(s))
	}
	scheme, err := ParseScheme(name)
	if err != nil {
		return PublicKey{}, err
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return PublicKey{}, base.Invalidf("public key %q: %v", truncate(s), err)
	}
	return NewPublicKey(scheme, b)
}

// Owner returns the account owner controlled by this key: for Ed25519 and ML-DSA-65 keys
// the 32-byte address HashValue("PublicKey", pk) (the hash of the key's canonical encoding,
// scheme tag included); for secp256k1 keys the 20-byte Ethereum address. The zero key has
// the zero Owner, which is the chain account: callers must not derive owners from zero keys.
func (pk PublicKey) Owner() base.Owner {
	switch {
	case pk.IsZero():
		return base.Owner{}
	case pk.scheme == Secp256k1:
		addr, err := EthereumAddress(pk)
		if err != nil {
			return base.Owner{} // unreachable: pk was validated when it was built
		}
		return base.Address20Owner(addr)
	default:
		st := getHashState()
		pk.Encode(&st.w)
		st.writePrefix("PublicKey")
		st.h.Write(st.w.Bytes())
		h := st.sum()
		putHashState(st)
		return base.Address32Owner(h)
	}
}

// Encode writes the scheme tag (ULEB128) and the length-prefixed key bytes. The zero key
// encodes as a tag and an empty key, which decoding refuses.
func (pk PublicKey) Encode(w *codec.Writer) {
	w.Tag(uint32(pk.scheme))
	w.String(pk.key) // same bytes as VarBytes: ULEB128 length, then the key

}

// DecodePublicKey reads a key and validates it like NewPublicKey; errors are recorded in r.
func DecodePublicKey(r *codec.Reader) PublicKey {
	s := Scheme(r.Tag(schemeCount))
	n := r.Length(1)
	if r.Err() != nil {
		return PublicKey{}
	}
	if want := s.publicKeySize(); n != want {
		r.Fail("%s public key: want %d bytes, got %d", s, want, n)
		return PublicKey{}
	}
	b := r.Fixed(n)
	if r.Err() != nil {
		return PublicKey{}
	}
	pk, err := NewPublicKey(s, b)
	if err != nil {
		r.Fail("%v", err)
		return PublicKey{}
	}
	return pk
}

// Decode implements codec.Decoder; see DecodePublicKey.
func (pk *PublicKey) Decode(r *codec.Reader) { *pk = DecodePublicKey(r) }

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
