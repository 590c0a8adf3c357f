package crypto_test

import (
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

func BenchmarkSign(b *testing.B) {
	for _, s := range allSchemes {
		b.Run(s.String(), func(b *testing.B) {
			k := mustKey(b, s, 1)
			msg := msgHash("bench")
			for b.Loop() {
				if _, err := k.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, s := range allSchemes {
		k := mustKey(b, s, 1)
		msg := msgHash("bench")
		sig := mustSign(b, k, msg)
		b.Run(s.String(), func(b *testing.B) {
			for b.Loop() {
				if err := crypto.Verify(k.Public(), msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		if s == crypto.Secp256k1 {
			continue
		}
		b.Run(s.String()+"-cached", func(b *testing.B) {
			v := crypto.NewVerifier(16)
			for b.Loop() {
				if err := v.Verify(k.Public(), msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// quorum returns n Ed25519 votes on one value by n distinct keys.
func quorum(b *testing.B, n int) []triple {
	msg := crypto.HashBytes("Vote", []byte("value"))
	ts := make([]triple, n)
	for i := range ts {
		k := mustKey(b, crypto.Ed25519, uint64(1000+i))
		ts[i] = triple{k.Public(), msg, mustSign(b, k, msg)}
	}
	return ts
}

func benchBatch(b *testing.B, n int) {
	ts := quorum(b, n)
	run := func(b *testing.B, v *crypto.Verifier) {
		for b.Loop() {
			bv := v.NewBatchVerifier(n)
			for _, tr := range ts {
				bv.Add(tr.pk, tr.msg, tr.sig)
			}
			if err := bv.Verify(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
	}
	b.Run("plain", func(b *testing.B) { run(b, nil) })
	b.Run("cached", func(b *testing.B) { run(b, crypto.NewVerifier(2*n)) })
}

// BenchmarkBatchVerify3of4 is the quorum of a 4-validator committee.
func BenchmarkBatchVerify3of4(b *testing.B) { benchBatch(b, 3) }

// BenchmarkBatchVerify3of4Own is that quorum checked by one of its signers, whose
// Verifier remembers its own vote: two signatures are checked.
func BenchmarkBatchVerify3of4Own(b *testing.B) {
	msg := crypto.HashBytes("Vote", []byte("value"))
	v := crypto.NewVerifier(8)
	ts := make([]triple, 3)
	for i := range ts {
		var k crypto.Signer = mustKey(b, crypto.Ed25519, uint64(1000+i))
		if i == 0 {
			k = v.Signer(k)
		}
		ts[i] = triple{k.Public(), msg, mustSign(b, k, msg)}
	}
	b.ReportAllocs()
	for b.Loop() {
		bv := v.NewBatchVerifier(3)
		for _, tr := range ts {
			bv.Add(tr.pk, tr.msg, tr.sig)
		}
		if err := bv.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePublicKey decodes a key as every vote, certificate entry and proposal
// carries one.
func BenchmarkDecodePublicKey(b *testing.B) {
	for _, s := range allSchemes {
		enc := codec.Marshal(mustKey(b, s, 1).Public())
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var pk crypto.PublicKey
				if err := codec.Unmarshal(enc, &pk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBatchVerify64(b *testing.B) { benchBatch(b, 64) }

type benchValue struct {
	chain  base.ChainID
	height uint64
	owner  base.Owner
	data   []byte
}

func (v *benchValue) Encode(w *codec.Writer) {
	w.Hash(base.Hash(v.chain))
	w.U64(v.height)
	w.Owner(v.owner)
	w.VarBytes(v.data)
}

func BenchmarkHashValue(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		v := &benchValue{height: 7, owner: mustKey(b, crypto.Ed25519, 1).Public().Owner(), data: make([]byte, size)}
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = crypto.HashValue("Bench", v)
			}
		})
	}
}

func BenchmarkOwner(b *testing.B) {
	for _, s := range allSchemes {
		pk := mustKey(b, s, 1).Public()
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = pk.Owner()
			}
		})
	}
}
