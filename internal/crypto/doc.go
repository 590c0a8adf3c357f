// Package crypto holds Mica's hashing and signatures.
//
// # Hashing
//
// Every hash is SHA-256 over "TypeName::" followed by the value's canonical encoding
// (package codec): HashBytes and HashValue. The type-name prefix separates domains, so the
// bytes of one type can never be passed off as another's. SHA-256 is fast with SHA-NI and
// cheap to check in EVM contracts (precompile 0x02).
//
// # Schemes
//
// Keys and signatures carry a Scheme tag, so owners and validators can choose:
//
//   - Ed25519 (the default): 32-byte keys, 64-byte signatures.
//   - Secp256k1: 33-byte compressed keys, 65-byte r || s || v signatures, for Ethereum
//     wallets and for committees whose certificates EVM contracts check with ecrecover.
//     The owner of a secp256k1 key is its 20-byte Ethereum address.
//   - MLDSA65: ML-DSA-65 of FIPS 204 (post-quantum), 1952-byte keys, 3309-byte signatures.
//
// Public keys are validated when they are built or decoded (NewPublicKey, DecodePublicKey):
// a PublicKey value always holds a well-formed, canonically encoded key, so equal keys have
// equal bytes and one owner. NewPublicKey (and DecodeValidPublicKey) also refuse Ed25519
// keys that are no curve point or of small order, since anyone could forge signatures for
// the latter; DecodePublicKey leaves that check, a point decompression, to verification,
// which refuses every signature under such a key (with a Verifier, once per key).
//
// # What is signed
//
// A signature always covers a 32-byte hash: the domain-separated hash of a value (a vote,
// a block proposal), never raw bytes. Ed25519 and ML-DSA-65 (empty context, deterministic
// variant) sign those 32 bytes directly. Secp256k1 signs their EIP-191 personal_sign
// digest, keccak256("\x19Ethereum Signed Message:\n32" || hash), so MetaMask's
// personal_sign of the hash's 32 bytes gives a valid Mica signature and a Solidity contract
// can check one with ecrecover. Secp256k1 signatures have one accepted form: low S
// (s <= n/2) and v in {27, 28}, as personal_sign returns them and ecrecover takes them;
// Verify recovers the signer from v, so Mica accepts exactly what ecrecover would.
//
// # Ed25519 and ZIP-215
//
// Ed25519 implementations disagree on edge cases: non-canonical point encodings and points
// of small order in R or A, and the cofactorless versus cofactored equation. In a
// replicated system such a disagreement is a consensus split: one validator accepts a
// certificate that another refuses. Go's crypto/ed25519 uses the cofactorless equation,
// which batch verification cannot reproduce, so a node that batch-verified certificates and
// checked single signatures with crypto/ed25519 could disagree with itself.
//
// This package therefore verifies every Ed25519 signature, single (Verify) or batched
// (BatchVerifier), with curve25519-voi under the rules of ZIP-215: S must be canonical
// (S < L), R may be non-canonical or of small order (A may not: the key checks above,
// which ZIP-215 leaves to the application, are made there too), and the cofactored equation
// [8][S]B = [8]R + [8][k]A decides. Under these rules a batch accepts exactly when every
// signature in it would be accepted alone (up to the 2^-128 chance of the batch's random
// coefficients), so batching is an optimization, never a change of outcome. Signatures
// made by any RFC 8032 signer verify under ZIP-215.
//
// crypto/ed25519.Verify must not be used anywhere in Mica.
//
// # Batches and caches
//
// BatchVerifier checks a certificate's quorum in one go: Ed25519 entries through one batch
// equation, others one by one. Verifier adds a bounded, concurrency-safe cache of expanded
// public keys for keys that sign repeatedly (validators), and remembers the last
// signatures made by a Signer it wraps (Verifier.Signer), which it then takes as verified
// when they come back byte for byte (a validator's own vote in a certificate).
package crypto
