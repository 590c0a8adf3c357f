package protocol_test

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// BenchmarkCertificateCheck verifies a 3-of-4 confirmed certificate (batched Ed25519).
func BenchmarkCertificateCheck(b *testing.B) {
	keys, committee, block := fixture(b)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3])
	b.ResetTimer()
	for b.Loop() {
		if err := cert.Check(committee); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCertificateCheckSingle verifies the same quorum one signature at a time.
func BenchmarkCertificateCheckSingle(b *testing.B) {
	keys, _, block := fixture(b)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3])
	vv := protocol.VoteValue{ValueHash: cert.ValueHash(), Round: cert.Round, Kind: cert.Kind}
	msg := vv.SigningHash()
	b.ResetTimer()
	for b.Loop() {
		for _, s := range cert.Signatures {
			if err := crypto.Verify(s.Validator, msg, s.Signature); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBlockHash hashes a 10-transfer block (header and sub-hashes).
func BenchmarkBlockHash(b *testing.B) {
	keys := prototest.Validators(1)
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(base.ChainID{1}, 0, nil, owner, base.Account{Chain: base.ChainID{2}}, 10)
	b.ResetTimer()
	for b.Loop() {
		h := block.Header()
		_ = h.Hash()
	}
}

// BenchmarkDecodeCertificate decodes a confirmed certificate of a 100-transfer block.
func BenchmarkDecodeCertificate(b *testing.B) {
	keys := prototest.Validators(4)
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(base.ChainID{1}, 0, nil, owner, base.Account{Chain: base.ChainID{2}}, 100)
	buf := codec.Marshal(prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys[:3]))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var c protocol.Certificate
		if err := codec.Unmarshal(buf, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBlockProposal decodes a signed proposal of a 100-transfer block.
func BenchmarkDecodeBlockProposal(b *testing.B) {
	key := prototest.Key("alice")
	block := prototest.TransferBlock(base.ChainID{1}, 0, nil, key.Public().Owner(), base.Account{Chain: base.ChainID{2}}, 100)
	p, err := protocol.SignProposal(key, block.Proposed, base.FastRound, nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := codec.Marshal(p)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var p protocol.BlockProposal
		if err := codec.Unmarshal(buf, &p); err != nil {
			b.Fatal(err)
		}
	}
}
