package crypto

import (
	"bytes"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/micachain/mica/internal/base"
)

// zip215 returns the Ed25519 verification options used everywhere: ZIP-215, the one rule
// set under which single and batch verification agree on every input.
func zip215() *ed25519.Options {
	return &ed25519.Options{Verify: ed25519.VerifyOptionsZIP_215}
}

// Verify checks that sig is pk's signature of msg. It returns nil or an error of class
// base.ErrInvalid that says why: a zero key or signature, a scheme mismatch, or a
// signature that does not verify.
//
// Ed25519 signatures are verified under ZIP-215 (cofactored equation, canonical S,
// non-canonical and small-order R accepted), exactly as BatchVerifier does.
// Secp256k1 signatures are ECDSA signatures of EthereumMessageDigest(msg); the key
// recovered with v must be pk, so a signature Mica accepts is one ecrecover accepts.
// ML-DSA-65 signatures are FIPS 204 signatures of the 32 bytes of msg with an empty
// context.
func Verify(pk PublicKey, msg base.Hash, sig Signature) error {
	var v *Verifier
	return v.Verify(pk, msg, sig)
}

// precheck refuses what no scheme can verify: missing keys or signatures and scheme
// mismatches.
func precheck(pk PublicKey, sig Signature) error {
	switch {
	case pk.IsZero():
		return base.Invalidf("verify: no public key")
	case sig.IsZero():
		return base.Invalidf("verify: no signature")
	case pk.scheme != sig.scheme:
		return base.Invalidf("verify: %s signature for a %s key", sig.scheme, pk.scheme)
	}
	return nil
}

func badSignature(pk PublicKey) error {
	return base.Invalidf("%s signature does not verify under key %s", pk.scheme, pk.short())
}

// verifyEd25519 is the single Ed25519 check; exp may be nil.
func verifyEd25519(pub []byte, exp *ed25519.ExpandedPublicKey, msg, sig []byte) bool {
	if exp != nil {
		return ed25519.VerifyExpandedWithOptions(exp, msg, sig, zip215())
	}
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.VerifyWithOptions(pub, msg, sig, zip215())
}

// verifySecp256k1 checks a canonical r || s || v signature of EthereumMessageDigest(msg)
// by recovering the signer's key.
func verifySecp256k1(pk PublicKey, msg base.Hash, sig Signature) bool {
	if len(sig.sig) != Secp256k1SignatureSize || checkSecp256k1Signature([]byte(sig.sig)) != nil {
		return false
	}
	digest := EthereumMessageDigest(msg)
	// decred's compact form is code || r || s with code = 27 + recovery id (+ 4 for a
	// compressed key, which only affects what RecoverCompact reports).
	var compact [65]byte
	compact[0] = sig.sig[64] + 4
	copy(compact[1:], sig.sig[:64])
	rec, _, err := ecdsa.RecoverCompact(compact[:], digest[:])
	if err != nil {
		return false
	}
	return bytes.Equal(rec.SerializeCompressed(), []byte(pk.key))
}

func unpackMLDSA65(pk PublicKey) *mldsa65.PublicKey {
	var buf [mldsa65.PublicKeySize]byte
	copy(buf[:], pk.key)
	var k mldsa65.PublicKey
	k.Unpack(&buf)
	return &k
}

// Verifier verifies signatures like Verify and BatchVerifier and keeps a bounded cache of
// precomputed public keys (Ed25519 expanded keys, about 1.5 KiB each; unpacked ML-DSA-65
// keys, about 40 KiB each), which pays off when the same keys sign again and again, as
// validators do. It is safe for concurrent use. A nil *Verifier verifies without a cache.
type Verifier struct {
	max  int
	mu   sync.RWMutex
	keys map[PublicKey]*cachedKey
}

type cachedKey struct {
	ed *ed25519.ExpandedPublicKey
	ml *mldsa65.PublicKey
}

// NewVerifier returns a Verifier caching up to maxKeys keys (at least 1). When full, it
// evicts an arbitrary key.
func NewVerifier(maxKeys int) *Verifier {
	maxKeys = max(maxKeys, 1)
	return &Verifier{max: maxKeys, keys: make(map[PublicKey]*cachedKey, min(maxKeys, 1024))}
}

// lookup returns the cached form of an Ed25519 or ML-DSA-65 key, computing and caching it
// on a miss. It returns nil for a nil Verifier and for other schemes.
func (v *Verifier) lookup(pk PublicKey) *cachedKey {
	if v == nil || pk.IsZero() || pk.scheme == Secp256k1 {
		return nil
	}
	v.mu.RLock()
	c := v.keys[pk]
	v.mu.RUnlock()
	if c != nil {
		return c
	}
	c = new(cachedKey)
	switch pk.scheme {
	case Ed25519:
		exp, err := ed25519.NewExpandedPublicKey([]byte(pk.key))
		if err != nil {
			return nil // unreachable: pk was validated when it was built
		}
		c.ed = exp
	case MLDSA65:
		c.ml = unpackMLDSA65(pk)
	default:
		return nil
	}
	v.mu.Lock()
	if len(v.keys) >= v.max {
		for k := range v.keys {
			delete(v.keys, k)
			break
		}
	}
	v.keys[pk] = c
	v.mu.Unlock()
	return c
}

// Verify is the package-level Verify, using the cache.
func (v *Verifier) Verify(pk PublicKey, msg base.Hash, sig Signature) error {
	if err := precheck(pk, sig); err != nil {
		return err
	}
	var ok bool
	switch pk.scheme {
	case Ed25519:
		var exp *ed25519.ExpandedPublicKey
		if c := v.lookup(pk); c != nil {
			exp = c.ed
		}
		ok = verifyEd25519([]byte(pk.key), exp, msg[:], []byte(sig.sig))
	case Secp256k1:
		ok = verifySecp256k1(pk, msg, sig)
	case MLDSA65:
		var k *mldsa65.PublicKey
		if c := v.lookup(pk); c != nil {
			k = c.ml
		} else {
			k = unpackMLDSA65(pk)
		}
		ok = mldsa65.Verify(k, msg[:], nil, []byte(sig.sig))
	default:
		return base.Invalidf("verify: unknown scheme %d", pk.scheme)
	}
	if !ok {
		return badSignature(pk)
	}
	return nil
}

// BatchVerifier verifies many (key, message, signature) triples at once, such as the
// quorum of a certificate. Ed25519 entries are checked together by one ZIP-215 batch
// equation (about twice as fast per signature as single checks); other schemes are checked
// one by one. The outcome is the same as calling Verify on every entry. A BatchVerifier is
// not safe for concurrent use.
type BatchVerifier struct {
	v       *Verifier
	entries []batchEntry
}

type batchEntry struct {
	pk  PublicKey
	msg base.Hash
	sig Signature
}

// NewBatchVerifier returns an empty batch with room for n entries.
func NewBatchVerifier(n int) *BatchVerifier {
	var v *Verifier
	return v.NewBatchVerifier(n)
}

// NewBatchVerifier returns an empty batch with room for n entries that uses v's cache.
func (v *Verifier) NewBatchVerifier(n int) *BatchVerifier {
	return &BatchVerifier{v: v, entries: make([]batchEntry, 0, max(n, 0))}
}

// Add appends an entry. Nothing is checked until Verify.
func (b *BatchVerifier) Add(pk PublicKey, msg base.Hash, sig Signature) {
	b.entries = append(b.entries, batchEntry{pk: pk, msg: msg, sig: sig})
}

// Len returns the number of entries added.
func (b *BatchVerifier) Len() int { return len(b.entries) }

// Reset empties the batch, keeping its storage.
func (b *BatchVerifier) Reset() { b.entries = b.entries[:0] }

// Verify returns nil if every entry verifies (an empty batch verifies), and otherwise an
// error of class base.ErrInvalid naming the lowest failing index and its key.
func (b *BatchVerifier) Verify() error {
	edBatchOK := b.verifyEd25519Batch()
	for i := range b.entries {
		e := &b.entries[i]
		if edBatchOK && e.pk.scheme == Ed25519 && precheck(e.pk, e.sig) == nil {
			continue
		}
		if err := b.v.Verify(e.pk, e.msg, e.sig); err != nil {
			return base.Invalidf("batch entry %d (key %s): %v", i, e.pk.short(), err)
		}
	}
	return nil
}

// verifyEd25519Batch runs the ZIP-215 batch equation over the well-formed Ed25519
// entries. It returns true only if there are at least two and all of them verify; on
// false, Verify checks the entries one by one to find the failing one.
func (b *BatchVerifier) verifyEd25519Batch() bool {
	n := 0
	for i := range b.entries {
		if e := &b.entries[i]; e.pk.scheme == Ed25519 && precheck(e.pk, e.sig) == nil {
			n++
		}
	}
	if n < 2 {
		return false
	}
	items := make([]ed25519Item, 0, n)
	for i := range b.entries {
		e := &b.entries[i]
		if e.pk.scheme != Ed25519 || precheck(e.pk, e.sig) != nil {
			continue
		}
		it := ed25519Item{pub: []byte(e.pk.key), msg: e.msg[:], sig: []byte(e.sig.sig)}
		if c := b.v.lookup(e.pk); c != nil {
			it.exp = c.ed
		}
		items = append(items, it)
	}
	return ed25519BatchOK(items)
}

// ed25519Item is one Ed25519 check; exp, if not nil, is the expanded form of pub.
type ed25519Item struct {
	pub, msg, sig []byte
	exp           *ed25519.ExpandedPublicKey
}

// ed25519BatchOK reports whether the ZIP-215 batch equation holds for all items. It is
// true only if every item passes verifyEd25519 (the cofactored equations of the items
// sum to the batch equation), and false, except with probability 2^-128, if one fails.
func ed25519BatchOK(items []ed25519Item) bool {
	if len(items) == 0 {
		return false
	}
	bv := ed25519.NewBatchVerifierWithCapacity(len(items))
	opts := zip215()
	for _, it := range items {
		if it.exp != nil {
			bv.AddExpandedWithOptions(it.exp, it.msg, it.sig, opts)
		} else {
			bv.AddWithOptions(it.pub, it.msg, it.sig, opts)
		}
	}
	return bv.VerifyBatchOnly(nil)
}
