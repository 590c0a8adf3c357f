package crypto

import (
	cryptorand "crypto/rand"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/micachain/mica/internal/base"
)

// Signer signs 32-byte hashes. PrivateKey implements it; so can a remote signer or a
// hardware wallet.
type Signer interface {
	// Public returns the key that verifies the signatures.
	Public() PublicKey
	// Sign signs msg, the domain-separated hash of a value.
	Sign(msg base.Hash) (Signature, error)
}

// PrivateKey is a secret key of one of the supported schemes. Every scheme derives its key
// from a 32-byte secret (an RFC 8032 seed, a secp256k1 scalar, an ML-DSA seed), which is
// what MarshalBinary stores. A PrivateKey is safe for concurrent use.
type PrivateKey struct {
	scheme Scheme
	secret [SeedSize]byte
	pub    PublicKey

	ed ed25519.PrivateKey
	k1 *secp256k1.PrivateKey
	ml *mldsa65.PrivateKey
}

var _ Signer = (*PrivateKey)(nil)

// maxGenerateAttempts bounds the draws GenerateKey makes for a secp256k1 scalar; a draw
// fails with probability about 2^-128, so only a broken reader ever exhausts it.
const maxGenerateAttempts = 16

// GenerateKey draws a secret from rand (crypto/rand if nil) and derives a key of scheme s.
// Signing with the result is deterministic, so a deterministic rand gives reproducible keys
// and signatures, as tests want.
func GenerateKey(s Scheme, rand io.Reader) (*PrivateKey, error) {
	if !s.Valid() {
		return nil, base.Invalidf("generate key: unknown scheme %d", s)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	var secret [SeedSize]byte
	for range maxGenerateAttempts {
		if _, err := io.ReadFull(rand, secret[:]); err != nil {
			return nil, fmt.Errorf("generate %s key: reading randomness: %w", s, err)
		}
		k, err := newPrivateKey(s, &secret)
		if err == nil {
			return k, nil
		}
		if s != Secp256k1 {
			return nil, err
		}
	}
	return nil, fmt.Errorf("generate %s key: the randomness source keeps producing invalid scalars", s)
}

func newPrivateKey(s Scheme, secret *[SeedSize]byte) (*PrivateKey, error) {
	k := &PrivateKey{scheme: s, secret: *secret}
	var pub []byte
	switch s {
	case Ed25519:
		k.ed = ed25519.NewKeyFromSeed(secret[:])
		pub = []byte(k.ed[ed25519.SeedSize:])
	case Secp256k1:
		var sc secp256k1.ModNScalar
		if overflow := sc.SetBytes(secret); overflow != 0 || sc.IsZero() {
			return nil, base.Invalidf("secp256k1 private key: scalar not in [1, n-1]")
		}
		k.k1 = secp256k1.NewPrivateKey(&sc)
		pub = k.k1.PubKey().SerializeCompressed()
	case MLDSA65:
		var pk *mldsa65.PublicKey
		pk, k.ml = mldsa65.NewKeyFromSeed(secret)
		pub = pk.Bytes()
	default:
		return nil, base.Invalidf("private key: unknown scheme %d", s)
	}
	var err error
	if k.pub, err = NewPublicKey(s, pub); err != nil {
		return nil, err // unreachable for keys derived as above
	}
	return k, nil
}

// Scheme returns the key's scheme.
func (k *PrivateKey) Scheme() Scheme { return k.scheme }

// Public returns the public key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// String names the scheme and the public key, never the secret.
func (k *PrivateKey) String() string {
	if k == nil {
		return "PrivateKey(nil)"
	}
	return "PrivateKey(" + k.pub.short() + ")"
}

// GoString is String, so that %#v does not print the secret either.
func (k *PrivateKey) GoString() string { return k.String() }

// Sign signs msg. Signatures are deterministic: Ed25519 by construction, secp256k1 with
// RFC 6979 nonces (low S, v in {27, 28}, over EthereumMessageDigest(msg)), ML-DSA-65 in
// its deterministic variant with an empty context.
func (k *PrivateKey) Sign(msg base.Hash) (Signature, error) {
	if k == nil || k.pub.IsZero() {
		return Signature{}, base.Invalidf("sign: no private key")
	}
	var sig []byte
	switch k.scheme {
	case Ed25519:
		sig = ed25519.Sign(k.ed, msg[:])
	case Secp256k1:
		digest := EthereumMessageDigest(msg)
		var err error
		if sig, err = signSecp256k1Digest(k.k1, digest); err != nil {
			return Signature{}, err
		}
	case MLDSA65:
		sig = make([]byte, MLDSA65SignatureSize)
		if err := mldsa65.SignTo(k.ml, msg[:], nil, false, sig); err != nil {
			return Signature{}, fmt.Errorf("mldsa65 sign: %w", err)
		}
	default:
		return Signature{}, base.Invalidf("sign: unknown scheme %d", k.scheme)
	}
	return Signature{scheme: k.scheme, sig: string(sig)}, nil
}

// signSecp256k1Digest signs a 32-byte digest and returns r || s || v with v in {27, 28}.
func signSecp256k1Digest(k *secp256k1.PrivateKey, digest [32]byte) ([]byte, error) {
	compact := ecdsa.SignCompact(k, digest[:], true) // code || r || s; RFC 6979, low S
	recID := compact[0] - 27 - 4
	if recID > 1 {
		// r overflowed the group order (probability about 2^-127); Ethereum cannot
		// express such a signature.
		return nil, fmt.Errorf("secp256k1 sign: recovery id %d cannot be expressed as v", recID)
	}
	sig := make([]byte, Secp256k1SignatureSize)
	copy(sig, compact[1:])
	sig[64] = 27 + recID
	return sig, nil
}

// MarshalBinary returns the scheme tag followed by the 32-byte secret, for the keystore.
// Treat the result as a secret.
func (k *PrivateKey) MarshalBinary() ([]byte, error) {
	if k == nil || k.pub.IsZero() {
		return nil, base.Invalidf("marshal private key: no key")
	}
	b := make([]byte, 0, 1+SeedSize)
	b = append(b, byte(k.scheme))
	return append(b, k.secret[:]...), nil
}

// UnmarshalPrivateKey parses the output of MarshalBinary: exactly 33 bytes, a known scheme
// and, for secp256k1, a scalar in [1, n-1]. Errors are of class base.ErrInvalid.
func UnmarshalPrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != 1+SeedSize {
		return nil, base.Invalidf("private key: want %d bytes, got %d", 1+SeedSize, len(b))
	}
	s := Scheme(b[0])
	if !s.Valid() {
		return nil, base.Invalidf("private key: unknown scheme %d", b[0])
	}
	var secret [SeedSize]byte
	copy(secret[:], b[1:])
	return newPrivateKey(s, &secret)
}
