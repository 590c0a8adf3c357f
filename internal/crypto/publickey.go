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
// Every PublicKey built by NewPublicKey holds a valid, canonically encoded key. Decoding
// checks the same except whether an Ed25519 key is a curve point not of small order
// (decompressing the point costs as much as a third of a signature check, for every key in
// every decoded vote and certificate): verification makes that check (Verify,
// BatchVerifier; with a Verifier once per key) and refuses every signature under such a
// key. Either way keys are canonically encoded, so equal keys always have equal bytes and
// equal Owners.
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
	if err := checkPublicKeyForm(s, b); err != nil {
		return err
	}
	if s == Ed25519 {
		return checkEd25519Point(b)
	}
	return nil
}

// checkEd25519Point refuses an Ed25519 key that is not a curve point or is of small order.
// Honest keys are never either, and a small-order key lets anyone forge signatures:
// verification refuses both too (verifyOptions), so a key DecodePublicKey admitted without
// this check never verifies a signature.
func checkEd25519Point(b []byte) error {
	var c curve.CompressedEdwardsY
	copy(c[:], b)
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return base.Invalidf("ed25519 public key: not a curve point")
	}
	if p.IsSmallOrder() {
		return base.Invalidf("ed25519 public key: point of small order")
	}
	return nil
}

// checkPublicKeyForm is checkPublicKey without the decompression of Ed25519 points: what
// decoding checks.
func checkPublicKeyForm(s Scheme, b []byte) error {
	if !s.Valid() {
		return base.Invalidf("public key: unknown scheme %d", s)
	}
	if want := s.publicKeySize(); len(b) != want {
		return base.Invalidf("%s public key: want %d bytes, got %d", s, want, len(b))
	}
	switch s {
	case Ed25519:
		// ZIP-215 verification tolerates non-canonical keys; we refuse them when a key
		// enters the system: a canonical encoding makes the key bytes (and so the owner
		// address) unique per key. The check reads bytes only.
		var c curve.CompressedEdwardsY
		copy(c[:], b)
		if !c.IsCanonicalVartime() {
			return base.Invalidf("ed25519 public key: non-canonical point encoding")
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

// DecodePublicKey reads a key and validates it like NewPublicKey, except that an Ed25519
// key is not decompressed: whether it is a curve point not of small order is left to
// verification (see PublicKey). Errors are recorded in r.
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
	var small [Secp256k1SignatureSize]byte
	b := readFixed(r, n, small[:])
	if r.Err() != nil {
		return PublicKey{}
	}
	if err := checkPublicKeyForm(s, b); err != nil {
		r.Fail("%v", err)
		return PublicKey{}
	}
	return PublicKey{scheme: s, key: string(b)}
}

// DecodeValidPublicKey is DecodePublicKey with every check of NewPublicKey, the point
// checks of Ed25519 keys included: for keys that are kept or that decide more than a
// signature check, such as a committee's, and wherever a key that is not a usable point
// must be refused as malformed rather than fail to verify (the Wasm host's signature
// check). Errors are recorded in r.
func DecodeValidPublicKey(r *codec.Reader) PublicKey {
	pk := DecodePublicKey(r)
	if r.Err() != nil || pk.scheme != Ed25519 {
		return pk
	}
	if err := checkEd25519Point([]byte(pk.key)); err != nil {
		r.Fail("%v", err)
		return PublicKey{}
	}
	return pk
}

// Decode implements codec.Decoder; see DecodePublicKey.
func (pk *PublicKey) Decode(r *codec.Reader) { *pk = DecodePublicKey(r) }

// readFixed reads n bytes: into small if they fit (the caller copies them into the string
// it keeps, one allocation instead of two), else into a new slice. The allocation is
// charged to r's budget either way.
func readFixed(r *codec.Reader, n int, small []byte) []byte {
	if n > len(small) {
		return r.Fixed(n)
	}
	if !r.Alloc(n) {
		return nil
	}
	r.FixedInto(small[:n])
	return small[:n]
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
