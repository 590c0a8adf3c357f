package crypto

import (
	"strconv"

	"github.com/micachain/mica/internal/base"
)

// Scheme identifies a signature scheme. It is the enum tag of every encoded public key and
// signature.
type Scheme uint8

const (
	// Ed25519 is the default scheme for owners and validators, verified under ZIP-215.
	Ed25519 Scheme = 0
	// Secp256k1 is ECDSA over secp256k1 with EIP-191 (personal_sign) messages, for
	// Ethereum wallets and for committees whose certificates EVM contracts check.
	Secp256k1 Scheme = 1
	// MLDSA65 is the post-quantum ML-DSA-65 of FIPS 204.
	MLDSA65 Scheme = 2

	schemeCount = 3
)

// Sizes of public keys and signatures per scheme.
const (
	Ed25519PublicKeySize   = 32
	Ed25519SignatureSize   = 64
	Secp256k1PublicKeySize = 33 // compressed SEC1
	Secp256k1SignatureSize = 65 // r || s || v, v in {27, 28}
	MLDSA65PublicKeySize   = 1952
	MLDSA65SignatureSize   = 3309

	// SeedSize is the size of the secret that MarshalBinary stores after the scheme tag:
	// an RFC 8032 seed, a secp256k1 scalar or an ML-DSA seed.
	SeedSize = 32
)

// String returns "ed25519", "secp256k1" or "mldsa65".
func (s Scheme) String() string {
	switch s {
	case Ed25519:
		return "ed25519"
	case Secp256k1:
		return "secp256k1"
	case MLDSA65:
		return "mldsa65"
	}
	return "scheme(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is a known scheme.
func (s Scheme) Valid() bool { return s < schemeCount }

// ParseScheme parses the String form of a scheme.
func ParseScheme(name string) (Scheme, error) {
	switch name {
	case "ed25519":
		return Ed25519, nil
	case "secp256k1":
		return Secp256k1, nil
	case "mldsa65":
		return MLDSA65, nil
	}
	return 0, base.Invalidf("unknown signature scheme %q (want ed25519, secp256k1 or mldsa65)", name)
}

// publicKeySize returns the key size of a valid scheme, or -1.
func (s Scheme) publicKeySize() int {
	switch s {
	case Ed25519:
		return Ed25519PublicKeySize
	case Secp256k1:
		return Secp256k1PublicKeySize
	case MLDSA65:
		return MLDSA65PublicKeySize
	}
	return -1
}

// signatureSize returns the signature size of a valid scheme, or -1.
func (s Scheme) signatureSize() int {
	switch s {
	case Ed25519:
		return Ed25519SignatureSize
	case Secp256k1:
		return Secp256k1SignatureSize
	case MLDSA65:
		return MLDSA65SignatureSize
	}
	return -1
}
