package crypto

import (
	"bytes"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/micachain/mica/internal/base"
)

// verifyOptions are the Ed25519 verification options used everywhere: ZIP-215, the one
// rule set under which single and batch verification agree on every input (cofactored
// equation, canonical S, non-canonical and small-order R accepted), plus the two checks of
// the key that NewPublicKey makes: A must be canonically encoded and not of small order.
// Decoding checks the encoding only, so the point checks happen here, with a Verifier
// once per cached key (curve25519-voi keeps their outcome in the expanded key). The
// options are never modified.
var verifyOptions = &ed25519.Options{Verify: &ed25519.VerifyOptions{
	AllowSmallOrderA:   false,
	AllowNonCanonicalA: false,
	AllowSmallOrderR:   ed25519.VerifyOptionsZIP_215.AllowSmallOrderR,
	AllowNonCanonicalR: ed25519.VerifyOptionsZIP_215.AllowNonCanonicalR,
	CofactorlessVerify: ed25519.VerifyOptionsZIP_215.CofactorlessVerify,
}}

// Verify checks that sig is pk's signature of msg. It returns nil or an error of class
// base.ErrInvalid that says why: a zero key or signature, a scheme mismatch, or a
// signature that does not verify.
//
// Ed25519 signatures are verified under ZIP-215 (cofactored equation, canonical S,
// non-canonical and small-order R accepted), exactly as BatchVerifier does; a key that is
// not a curve point or is of small order verifies nothing (see verifyOptions).
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

// verifyEd25519 is the single Ed25519 check under opts; exp may be nil.
func verifyEd25519(opts *ed25519.Options, pub []byte, exp *ed25519.ExpandedPublicKey, msg, sig []byte) bool {
	if exp != nil {
		return ed25519.VerifyExpandedWithOptions(exp, msg, sig, opts)
	}
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.VerifyWithOptions(pub, msg, sig, opts)
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
// precomputed public keys (Ed25519 expanded keys, about 1.5 KiB each, which also hold the
// outcome of the key's point checks; unpacked ML-DSA-65 keys, about 40 KiB each), which
// pays off when the same keys sign again and again, as validators do.
//
// It also knows the signatures that a Signer wrapped by its Signer method made lately
// (the last maxSigned): an entry that is byte for byte one of them (same key, same
// message, same signature bytes) is valid without being checked, since that key's owner
// signed that message and these are the bytes it produced. A validator thus does not
// verify its own vote in a certificate; any other bytes under its key are verified.
//
// It is safe for concurrent use. A nil *Verifier verifies without a cache.
type Verifier struct {
	max  int
	mu   sync.RWMutex
	keys map[PublicKey]*cachedKey

	smu    sync.RWMutex
	signed map[signedKey]Signature
	order  []signedKey // the keys of signed, a ring of at most maxSigned; next is the oldest
	next   int
}

// maxSigned bounds the own signatures a Verifier remembers: a validator's votes of the
// last few seconds, whose certificates come back within milliseconds.
const maxSigned = 1024

// signedKey names a message signed by a key.
type signedKey struct {
	pk  PublicKey
	msg base.Hash
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
			// Not a curve point (a decoded key, not checked): nothing verifies under
			// it, and verifying without the cache says so.
			return nil
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

// Signer returns a Signer that signs with s and remembers in v each signature it makes
// (see Verifier). For a nil v it returns s.
func (v *Verifier) Signer(s Signer) Signer {
	if v == nil || s == nil {
		return s
	}
	return &rememberingSigner{s: s, pk: s.Public(), v: v}
}

type rememberingSigner struct {
	s  Signer
	pk PublicKey
	v  *Verifier
}

func (r *rememberingSigner) Public() PublicKey { return r.pk }

func (r *rememberingSigner) Sign(msg base.Hash) (Signature, error) {
	sig, err := r.s.Sign(msg)
	if err != nil {
		return sig, err
	}
	r.v.remember(r.pk, msg, sig)
	return sig, nil
}

// remember records that sig is pk's own signature of msg, forgetting the oldest record
// when maxSigned are kept.
func (v *Verifier) remember(pk PublicKey, msg base.Hash, sig Signature) {
	k := signedKey{pk: pk, msg: msg}
	v.smu.Lock()
	defer v.smu.Unlock()
	if v.signed == nil {
		v.signed = make(map[signedKey]Signature)
	}
	if _, ok := v.signed[k]; !ok {
		if len(v.order) < maxSigned {
			v.order = append(v.order, k)
		} else {
			delete(v.signed, v.order[v.next])
			v.order[v.next] = k
			v.next = (v.next + 1) % maxSigned
		}
	}
	v.signed[k] = sig
}

// signedHere reports whether sig is byte for byte a signature of msg that a Signer of v
// made with pk (and v still remembers).
func (v *Verifier) signedHere(pk PublicKey, msg base.Hash, sig Signature) bool {
	if v == nil || sig.IsZero() {
		return false
	}
	v.smu.RLock()
	own, ok := v.signed[signedKey{pk: pk, msg: msg}]
	v.smu.RUnlock()
	return ok && own == sig
}

// Verify is the package-level Verify, using the cache. A signature that v's Signer made
// (byte for byte) is not checked again.
func (v *Verifier) Verify(pk PublicKey, msg base.Hash, sig Signature) error {
	if err := precheck(pk, sig); err != nil {
		return err
	}
	if v.signedHere(pk, msg, sig) {
		return nil
	}
	var ok bool
	switch pk.scheme {
	case Ed25519:
		var exp *ed25519.ExpandedPublicKey
		if c := v.lookup(pk); c != nil {
			exp = c.ed
		}
		ok = verifyEd25519(verifyOptions, []byte(pk.key), exp, msg[:], []byte(sig.sig))
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
// one by one. An entry that the Verifier's Signer made byte for byte is not checked (see
// Verifier). The outcome is the same as calling Verify on every entry. A BatchVerifier is
// not safe for concurrent use.
type BatchVerifier struct {
	v       *Verifier
	entries []batchEntry
}

type batchEntry struct {
	pk  PublicKey
	msg base.Hash
	sig Signature
	// own: the Verifier's Signer made sig (signedHere), so it needs no check.
	own bool
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
	b.entries = append(b.entries, batchEntry{pk: pk, msg: msg, sig: sig, own: b.v.signedHere(pk, msg, sig)})
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
		if e.own || (edBatchOK && b.inEd25519Batch(e)) {
			continue
		}
		if err := b.v.Verify(e.pk, e.msg, e.sig); err != nil {
			return base.Invalidf("batch entry %d (key %s): %v", i, e.pk.short(), err)
		}
	}
	return nil
}

// inEd25519Batch reports whether e takes part in the batch equation: a well-formed Ed25519
// entry that is not one of the Verifier's own signatures.
func (b *BatchVerifier) inEd25519Batch(e *batchEntry) bool {
	return !e.own && e.pk.scheme == Ed25519 && precheck(e.pk, e.sig) == nil
}

// verifyEd25519Batch runs the ZIP-215 batch equation over the entries inEd25519Batch. It
// returns true only if there are at least two and all of them verify; on false, Verify
// checks the entries one by one (one alone costs less that way) or finds the failing one.
func (b *BatchVerifier) verifyEd25519Batch() bool {
	n := 0
	for i := range b.entries {
		if b.inEd25519Batch(&b.entries[i]) {
			n++
		}
	}
	if n < 2 {
		return false
	}
	items := make([]ed25519Item, 0, n)
	// One buffer for the keys and signatures the batch reads as byte slices, instead of a
	// copy of each.
	buf := make([]byte, 0, n*(ed25519.PublicKeySize+ed25519.SignatureSize))
	for i := range b.entries {
		e := &b.entries[i]
		if !b.inEd25519Batch(e) {
			continue
		}
		buf = append(buf, e.pk.key...)
		pub := buf[len(buf)-len(e.pk.key):]
		buf = append(buf, e.sig.sig...)
		sig := buf[len(buf)-len(e.sig.sig):]
		it := ed25519Item{pub: pub, msg: e.msg[:], sig: sig}
		if c := b.v.lookup(e.pk); c != nil {
			it.exp = c.ed
		}
		items = append(items, it)
	}
	return ed25519BatchOK(verifyOptions, items)
}

// ed25519Item is one Ed25519 check; exp, if not nil, is the expanded form of pub.
type ed25519Item struct {
	pub, msg, sig []byte
	exp           *ed25519.ExpandedPublicKey
}

// ed25519BatchOK reports whether the batch equation holds for all items under opts. It is
// true only if every item passes verifyEd25519 (the cofactored equations of the items sum
// to the batch equation), and false, except with probability 2^-128, if one fails.
func ed25519BatchOK(opts *ed25519.Options, items []ed25519Item) bool {
	if len(items) == 0 {
		return false
	}
	bv := ed25519.NewBatchVerifierWithCapacity(len(items))
	for _, it := range items {
		if it.exp != nil {
			bv.AddExpandedWithOptions(it.exp, it.msg, it.sig, opts)
		} else {
			bv.AddWithOptions(it.pub, it.msg, it.sig, opts)
		}
	}
	return bv.VerifyBatchOnly(nil)
}
