package crypto_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
)

type triple struct {
	pk  crypto.PublicKey
	msg base.Hash
	sig crypto.Signature
}

// corrupt returns a variant of t that should not verify, chosen by r: another message,
// another key, a flipped bit in R or S, S + L (non-canonical), or a signature for another
// scheme's key.
func corrupt(t *testing.T, r *rand.Rand, tr triple, others []*crypto.PrivateKey) triple {
	t.Helper()
	for {
		switch r.IntN(5) {
		case 0:
			tr.msg[r.IntN(32)] ^= 1 << r.IntN(8)
			return tr
		case 1:
			k := others[r.IntN(len(others))]
			if k.Public() == tr.pk {
				continue
			}
			tr.pk = k.Public()
			return tr
		case 2:
			b := tr.sig.Bytes()
			b[r.IntN(len(b)-1)] ^= 1 << r.IntN(8)
			sig, err := crypto.NewSignature(tr.sig.Scheme(), b)
			if err != nil {
				continue
			}
			tr.sig = sig
			return tr
		case 3:
			if tr.sig.Scheme() != crypto.Ed25519 {
				continue
			}
			// S + L: the same S modulo L, refused by the canonical-S rule.
			b := tr.sig.Bytes()
			l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
				0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
			var carry int
			for i := range 32 {
				v := int(b[32+i]) + int(l[i]) + carry
				b[32+i], carry = byte(v), v>>8
			}
			sig, err := crypto.NewSignature(crypto.Ed25519, b)
			if err != nil {
				t.Fatal(err)
			}
			tr.sig = sig
			return tr
		case 4:
			k := others[r.IntN(len(others))]
			if k.Scheme() == tr.pk.Scheme() {
				continue
			}
			sig, err := k.Sign(tr.msg)
			if err != nil {
				t.Fatal(err)
			}
			tr.sig = sig
			return tr
		}
	}
}

func firstFailure(v *crypto.Verifier, ts []triple) int {
	for i, tr := range ts {
		if v.Verify(tr.pk, tr.msg, tr.sig) != nil {
			return i
		}
	}
	return -1
}

// TestBatchAgreesWithSingle builds random batches (mostly Ed25519, some secp256k1 and
// ML-DSA-65) with random corruptions, and checks that BatchVerifier fails exactly when some
// single Verify fails, naming the lowest such index.
func TestBatchAgreesWithSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var keys []*crypto.PrivateKey
	for i := range 12 {
		keys = append(keys, mustKey(t, crypto.Ed25519, uint64(100+i)))
	}
	keys = append(keys, mustKey(t, crypto.Secp256k1, 200), mustKey(t, crypto.Secp256k1, 201), mustKey(t, crypto.MLDSA65, 300))
	cache := crypto.NewVerifier(8) // smaller than the key set, so entries get evicted
	for trial := range 120 {
		n := 1 + r.IntN(20)
		ts := make([]triple, n)
		for i := range ts {
			k := keys[r.IntN(len(keys))]
			msg := crypto.HashBytes("Trial", fmt.Appendf(nil, "%d/%d", trial, i))
			ts[i] = triple{k.Public(), msg, mustSign(t, k, msg)}
		}
		bad := 0
		if trial%3 != 0 { // a third of the batches stay valid
			bad = 1 + r.IntN(3)
		}
		for range bad {
			i := r.IntN(n)
			ts[i] = corrupt(t, r, ts[i], keys)
		}
		for _, v := range []*crypto.Verifier{nil, cache} {
			want := firstFailure(v, ts)
			b := v.NewBatchVerifier(n)
			for _, tr := range ts {
				b.Add(tr.pk, tr.msg, tr.sig)
			}
			if b.Len() != n {
				t.Fatalf("Len = %d", b.Len())
			}
			err := b.Verify()
			switch {
			case want < 0 && err != nil:
				t.Fatalf("trial %d: batch refused a valid batch: %v", trial, err)
			case want >= 0 && err == nil:
				t.Fatalf("trial %d: batch accepted an invalid entry %d", trial, want)
			case want >= 0:
				wantInvalid(t, "batch", err)
				if prefix := fmt.Sprintf("batch entry %d (key ", want); !strings.HasPrefix(err.Error(), prefix) {
					t.Fatalf("trial %d: error %q, want it to name entry %d", trial, err, want)
				}
			}
		}
	}
}

func TestBatchVerifierEdges(t *testing.T) {
	if err := crypto.NewBatchVerifier(0).Verify(); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	k := mustKey(t, crypto.Ed25519, 30)
	msg := msgHash("edge")
	sig := mustSign(t, k, msg)
	b := crypto.NewBatchVerifier(-1)
	b.Add(k.Public(), msg, sig)
	if err := b.Verify(); err != nil {
		t.Fatalf("single-entry batch: %v", err)
	}
	b.Add(crypto.PublicKey{}, msg, sig)
	err := b.Verify()
	wantInvalid(t, "zero key in batch", err)
	if !strings.Contains(err.Error(), "batch entry 1") {
		t.Fatalf("error %q does not name entry 1", err)
	}
	b.Reset()
	if b.Len() != 0 || b.Verify() != nil {
		t.Fatalf("Reset")
	}
	// The failing key is named in the error.
	b.Add(k.Public(), msg, sig)
	b.Add(k.Public(), msgHash("other"), sig)
	err = b.Verify()
	if err == nil || !strings.Contains(err.Error(), k.Public().String()) || !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("error %v does not name the key", err)
	}
}

// TestVerifierConcurrent hammers one small cache from many goroutines, which also sign
// with the Verifier's Signer.
func TestVerifierConcurrent(t *testing.T) {
	v := crypto.NewVerifier(3)
	signer := v.Signer(mustKey(t, crypto.Ed25519, 450))
	var ts []triple
	for i := range 6 {
		s := crypto.Ed25519
		if i == 5 {
			s = crypto.MLDSA65
		}
		k := mustKey(t, s, uint64(400+i))
		msg := msgHash(fmt.Sprint(i))
		ts = append(ts, triple{k.Public(), msg, mustSign(t, k, msg)})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				own := msgHash(fmt.Sprint(g, j))
				if sig, err := signer.Sign(own); err != nil || v.Verify(signer.Public(), own, sig) != nil {
					t.Errorf("own signature: %v", err)
					return
				}
				tr := ts[(g+j)%len(ts)]
				if err := v.Verify(tr.pk, tr.msg, tr.sig); err != nil {
					t.Error(err)
					return
				}
				wrong := tr.msg
				wrong[0] ^= 1
				if v.Verify(tr.pk, wrong, tr.sig) == nil {
					t.Error("cached verification accepted a wrong message")
					return
				}
				if j%5 == 0 {
					b := v.NewBatchVerifier(len(ts))
					for _, tr := range ts {
						b.Add(tr.pk, tr.msg, tr.sig)
					}
					if err := b.Verify(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
