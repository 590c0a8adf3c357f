package crypto

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// zip215 is plain ZIP-215, keys unchecked: the rule set verifyOptions follows for
// signatures.
var zip215 = &ed25519.Options{Verify: ed25519.VerifyOptionsZIP_215}

// TestVerifyOptionsAreZIP215WithKeyChecks: verifyOptions differ from ZIP-215 only in
// refusing small-order and non-canonical keys, which NewPublicKey refuses too.
func TestVerifyOptionsAreZIP215WithKeyChecks(t *testing.T) {
	want := *ed25519.VerifyOptionsZIP_215
	want.AllowSmallOrderA, want.AllowNonCanonicalA = false, false
	if got := *verifyOptions.Verify; got != want {
		t.Fatalf("verifyOptions = %+v, want %+v", got, want)
	}
	if verifyOptions.Hash != 0 || verifyOptions.Context != "" || !want.AllowSmallOrderR || !want.AllowNonCanonicalR || want.CofactorlessVerify {
		t.Fatalf("verifyOptions: not pure Ed25519 under ZIP-215's R rules: %+v", verifyOptions)
	}
}

func loadGzipJSON(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// detReader is a deterministic randomness source for key generation.
func detReader(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validEd25519Item returns an honest signature, to pad batches.
func validEd25519Item(t *testing.T) ed25519Item {
	k, err := GenerateKey(Ed25519, detReader(99))
	if err != nil {
		t.Fatal(err)
	}
	msg := HashBytes("Pad", nil)
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519Item{pub: k.Public().Bytes(), msg: msg[:], sig: sig.Bytes()}
}

// TestZIP215Vectors runs the 196 ZIP-215 vectors (small-order A and R in every canonical
// and non-canonical encoding, S = 0, message "Zcash") through the single and the batch
// code paths: ZIP-215 accepts all of them, so both must.
func TestZIP215Vectors(t *testing.T) {
	var vectors [][2]string
	loadGzipJSON(t, "testdata/zip215.json.gz", &vectors)
	if len(vectors) != 196 {
		t.Fatalf("%d vectors", len(vectors))
	}
	pad := validEd25519Item(t)
	msg := []byte("Zcash")
	all := make([]ed25519Item, 0, len(vectors))
	var msgHash base.Hash
	copy(msgHash[:], msg) // only for the public API's signature type; never verifies
	for i, v := range vectors {
		pub, sig := unhex(t, v[0]), unhex(t, v[1])
		it := ed25519Item{pub: pub, msg: msg, sig: sig}
		if !verifyEd25519(zip215, pub, nil, msg, sig) {
			t.Fatalf("vector %d: single verification refuses", i)
		}
		if !ed25519BatchOK(zip215, []ed25519Item{it, pad}) {
			t.Fatalf("vector %d: batch verification refuses", i)
		}
		// Every vector's key is of small order: the public API refuses to build it, and
		// verification refuses it wherever it comes from (decoding checks the encoding
		// only).
		if _, err := NewPublicKey(Ed25519, pub); err == nil {
			t.Fatalf("vector %d: small-order key %x admitted", i, pub)
		}
		if verifyEd25519(verifyOptions, pub, nil, msg, sig) || ed25519BatchOK(verifyOptions, []ed25519Item{it, pad}) {
			t.Fatalf("vector %d: small-order key %x verifies under verifyOptions", i, pub)
		}
		if exp, err := ed25519.NewExpandedPublicKey(pub); err == nil && ed25519.VerifyExpandedWithOptions(exp, msg, sig, verifyOptions) {
			t.Fatalf("vector %d: small-order expanded key %x verifies under verifyOptions", i, pub)
		}
		var w codec.Writer
		w.Tag(uint32(Ed25519))
		w.VarBytes(pub)
		var pk PublicKey
		if codec.Unmarshal(w.Bytes(), &pk) == nil {
			s, err := NewSignature(Ed25519, sig)
			if err != nil {
				t.Fatal(err)
			}
			for _, ver := range []*Verifier{nil, NewVerifier(4)} {
				if ver.Verify(pk, msgHash, s) == nil {
					t.Fatalf("vector %d: decoded small-order key verifies (cache %v)", i, ver != nil)
				}
			}
		}
		all = append(all, it)
	}
	if !ed25519BatchOK(zip215, all) {
		t.Fatalf("batch of all vectors refused")
	}
}

// speccheckZIP215 is what ZIP-215 decides on the 12 cases of "Taming the many EdDSAs"
// (as curve25519-voi's own tests state it).
var speccheckZIP215 = []bool{
	true,  // 0: small order A, small order R
	true,  // 1: small order A, mixed order R
	true,  // 2: mixed order A, small order R
	true,  // 3: mixed order A, mixed order R
	true,  // 4: cofactored verify
	true,  // 5: cofactored verify computes 8(hA) instead of (8h mod L)A
	false, // 6: non-canonical S (S > L)
	false, // 7: non-canonical S (S >> L)
	false, // 8: mixed order A, non-canonical small order R (accepted if R reduced before hashing)
	true,  // 9: mixed order A, non-canonical small order R (accepted if R not reduced before hashing)
	true,  // 10: non-canonical small order A, mixed order R
	true,  // 11: non-canonical small order A, mixed order R
}

// keyAdmitted says which speccheck keys NewPublicKey admits: not those of small order
// (cases 0, 1) or non-canonically encoded (10, 11).
var keyAdmitted = []bool{false, false, true, true, true, true, true, true, true, true, false, false}

func TestSpeccheckSingleAndBatchAgree(t *testing.T) {
	var cases []struct {
		Message   string `json:"message"`
		PublicKey string `json:"pub_key"`
		Signature string `json:"signature"`
	}
	loadGzipJSON(t, "testdata/speccheck_cases.json.gz", &cases)
	if len(cases) != len(speccheckZIP215) {
		t.Fatalf("%d cases", len(cases))
	}
	padKey, err := GenerateKey(Ed25519, detReader(98))
	if err != nil {
		t.Fatal(err)
	}
	padMsg := HashBytes("Pad", nil)
	padSig, _ := padKey.Sign(padMsg)

	for i, c := range cases {
		want := speccheckZIP215[i]
		var msg base.Hash
		copy(msg[:], unhex(t, c.Message))
		pubBytes, sigBytes := unhex(t, c.PublicKey), unhex(t, c.Signature)
		sig, err := NewSignature(Ed25519, sigBytes)
		if err != nil {
			t.Fatalf("case %d: signature form refused: %v", i, err)
		}

		// The raw code paths, keys unchecked: plain ZIP-215, then with the key checks.
		items := []ed25519Item{{pub: pubBytes, msg: msg[:], sig: sigBytes}, {pub: padKey.Public().Bytes(), msg: padMsg[:], sig: padSig.Bytes()}}
		for _, o := range []struct {
			opts *ed25519.Options
			want bool
		}{{zip215, want}, {verifyOptions, want && keyAdmitted[i]}} {
			if got := verifyEd25519(o.opts, pubBytes, nil, msg[:], sigBytes); got != o.want {
				t.Fatalf("case %d (%+v): single = %v, want %v", i, *o.opts.Verify, got, o.want)
			}
			if got := ed25519BatchOK(o.opts, items); got != o.want {
				t.Fatalf("case %d (%+v): batch = %v, want %v", i, *o.opts.Verify, got, o.want)
			}
		}

		// The public API. Keys NewPublicKey refuses are also fed in directly (as decoding
		// admits a canonical small-order key), to show that Verify and BatchVerifier
		// refuse them alike.
		pk, err := NewPublicKey(Ed25519, pubBytes)
		if admitted := err == nil; admitted != keyAdmitted[i] {
			t.Fatalf("case %d: key admitted = %v (%v)", i, admitted, err)
		}
		if err != nil {
			pk = PublicKey{scheme: Ed25519, key: string(pubBytes)}
		}
		want = want && keyAdmitted[i]
		for _, v := range []*Verifier{nil, NewVerifier(4)} {
			single := v.Verify(pk, msg, sig)
			b := v.NewBatchVerifier(2)
			b.Add(padKey.Public(), padMsg, padSig)
			b.Add(pk, msg, sig)
			batch := b.Verify()
			if (single == nil) != want || (batch == nil) != want {
				t.Fatalf("case %d (cache %v): Verify = %v, BatchVerifier = %v, want accepted = %v", i, v != nil, single, batch, want)
			}
		}
	}
}

// TestSmallOrderRAccepted is the edge case the rule exists for, through the public API
// only: speccheck case 9 has an ordinary key and an R that is a non-canonical encoding of a
// small-order point. ZIP-215 accepts it (crypto/ed25519 would not), and so must single
// and batch verification alike.
func TestSmallOrderRAccepted(t *testing.T) {
	pk, err := ParsePublicKey("ed25519:f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ParseSignature("ed25519:ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" +
		"ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908")
	if err != nil {
		t.Fatal(err)
	}
	var msg base.Hash
	copy(msg[:], unhex(t, "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41"))
	if err := Verify(pk, msg, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b := NewBatchVerifier(3)
	b.Add(pk, msg, sig)
	b.Add(pk, msg, sig)
	b.Add(pk, msg, sig)
	if err := b.Verify(); err != nil {
		t.Fatalf("BatchVerifier: %v", err)
	}
}
