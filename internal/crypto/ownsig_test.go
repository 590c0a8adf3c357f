package crypto_test

import (
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
)

// TestOwnSignatureForgeriesRefused: a Verifier takes as verified only the exact bytes its
// Signer made for that key and message. A forged "own" signature (right key, wrong bytes),
// the own signature of another message, and the own signature under another key are
// verified and refused, alone and in batches, whatever the position in the batch.
func TestOwnSignatureForgeriesRefused(t *testing.T) {
	for _, s := range allSchemes {
		t.Run(s.String(), func(t *testing.T) {
			v := crypto.NewVerifier(8)
			me := mustKey(t, s, 30)
			signer := v.Signer(me)
			if signer.Public() != me.Public() {
				t.Fatalf("wrapped signer's key %s, want %s", signer.Public(), me.Public())
			}
			msg, other := msgHash("value"), msgHash("another value")
			own := mustSign(t, signer, msg)
			ownOther := mustSign(t, signer, other)
			peers := []*crypto.PrivateKey{mustKey(t, crypto.Ed25519, 31), mustKey(t, crypto.Ed25519, 32)}
			peerSigs := []crypto.Signature{mustSign(t, peers[0], msg), mustSign(t, peers[1], msg)}

			b := own.Bytes()
			b[1] ^= 1
			flipped, err := crypto.NewSignature(s, b)
			if err != nil {
				t.Skipf("flipped %s signature not well-formed: %v", s, err)
			}
			forged := []struct {
				name string
				pk   crypto.PublicKey
				msg  base.Hash
				sig  crypto.Signature
			}{
				{"own key, flipped bit", me.Public(), msg, flipped},
				{"own key, own signature of another message", me.Public(), msg, ownOther},
				{"own signature under a peer's key", peers[0].Public(), msg, own},
			}
			for _, f := range forged {
				wantInvalid(t, f.name+": Verify", v.Verify(f.pk, f.msg, f.sig))
				for pos := range 3 {
					bv := v.NewBatchVerifier(3)
					for i := range 3 {
						switch {
						case i == pos:
							bv.Add(f.pk, f.msg, f.sig)
						case i < pos:
							bv.Add(peers[i].Public(), msg, peerSigs[i])
						default:
							bv.Add(peers[i-1].Public(), msg, peerSigs[i-1])
						}
					}
					err := bv.Verify()
					wantInvalid(t, f.name+": BatchVerifier", err)
					if want := "batch entry " + string(rune('0'+pos)); !strings.Contains(err.Error(), want) {
						t.Errorf("%s at %d: %v, want it to name %q", f.name, pos, err, want)
					}
				}
			}

			// The genuine own signature verifies, alone and with peers.
			if err := v.Verify(me.Public(), msg, own); err != nil {
				t.Fatalf("own signature: %v", err)
			}
			bv := v.NewBatchVerifier(3)
			bv.Add(me.Public(), msg, own)
			bv.Add(peers[0].Public(), msg, peerSigs[0])
			bv.Add(peers[1].Public(), msg, peerSigs[1])
			if err := bv.Verify(); err != nil {
				t.Fatalf("own signature and two peers: %v", err)
			}
			// With the own entry left out, a bad peer signature is still found.
			bv = v.NewBatchVerifier(3)
			bv.Add(me.Public(), msg, own)
			bv.Add(peers[0].Public(), msg, peerSigs[1])
			if err := bv.Verify(); err == nil || !strings.Contains(err.Error(), "batch entry 1") {
				t.Fatalf("own signature and a bad peer signature: %v, want entry 1 refused", err)
			}
		})
	}
}

// lyingSigner claims pub but signs with key: its signatures do not verify under pub.
type lyingSigner struct {
	pub crypto.PublicKey
	key *crypto.PrivateKey
}

func (l lyingSigner) Public() crypto.PublicKey                     { return l.pub }
func (l lyingSigner) Sign(msg base.Hash) (crypto.Signature, error) { return l.key.Sign(msg) }

// TestOwnSignatureNotCheckedAgain: what the Verifier's Signer made is taken as verified
// without a check (shown with a signer whose output does not verify, which only this
// Verifier accepts), by the Verifier that wrapped it and no other, and only the last
// signatures it made.
func TestOwnSignatureNotCheckedAgain(t *testing.T) {
	v := crypto.NewVerifier(8)
	me, impostor := mustKey(t, crypto.Ed25519, 40), mustKey(t, crypto.Ed25519, 41)
	signer := v.Signer(lyingSigner{pub: me.Public(), key: impostor})
	msg := msgHash("value")
	sig := mustSign(t, signer, msg)
	if err := v.Verify(me.Public(), msg, sig); err != nil {
		t.Fatalf("the signer's own bytes were checked: %v", err)
	}
	bv := v.NewBatchVerifier(1)
	bv.Add(me.Public(), msg, sig)
	if err := bv.Verify(); err != nil {
		t.Fatalf("the signer's own bytes were checked in a batch: %v", err)
	}
	wantInvalid(t, "another verifier", crypto.NewVerifier(8).Verify(me.Public(), msg, sig))
	wantInvalid(t, "no verifier", crypto.Verify(me.Public(), msg, sig))

	// A bounded memory: after many more signatures the first is checked again.
	for i := range 5000 {
		mustSign(t, signer, msgHash(string(rune(i))))
	}
	wantInvalid(t, "forgotten own signature", v.Verify(me.Public(), msg, sig))
	if v.Signer(nil) != nil {
		t.Fatal("Signer(nil) is not nil")
	}
	var none *crypto.Verifier
	if none.Signer(me) != crypto.Signer(me) {
		t.Fatal("a nil Verifier wraps the signer")
	}
}
