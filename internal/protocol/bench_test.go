package protocol_test

import (
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/cputime"
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

// block100 is a block as `mica benchmark --transactions-per-block 100` makes them: 100
// received one-message bundles and 100 transfers, each sending one Credit.
func block100() *protocol.Block { return blockOf(100) }

// blockOf is block100 with n bundles and n transfers.
func blockOf(n int) *protocol.Block {
	owner := prototest.Key("alice").Public().Owner()
	prev := base.Hash{7}
	p := protocol.ProposedBlock{ChainID: base.ChainID{1}, Height: 5, Timestamp: 3_000_000, PreviousBlockHash: &prev, AuthenticatedOwner: &owner}
	var o protocol.BlockExecutionOutcome
	add := func(tx protocol.Transaction, msgs []protocol.OutgoingMessage) {
		p.Transactions = append(p.Transactions, tx)
		o.Messages = append(o.Messages, msgs)
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, nil)
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	for i := range n {
		add(protocol.ReceiveTx(protocol.IncomingBundle{Origin: base.ChainID{2}, Action: protocol.Accept,
			Bundle: protocol.MessageBundle{Height: 4, Timestamp: 2_000_000, CertificateHash: base.Hash{4}, TransactionIndex: uint32(100 + i),
				Messages: []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(1)}}}}}}), nil)
	}
	for range n {
		add(protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: base.ChainID{3}}, Amount: base.AmountFromAttos(1)}),
			[]protocol.OutgoingMessage{{Destination: base.ChainID{3}, Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(1)}}}})
	}
	return protocol.NewBlock(p, o)
}

// BenchmarkBlock100 encodes, decodes and hashes block100; ns/transfer and
// cpu-ns/transfer (the process's CPU time) are per (bundle received + transfer made) pair.
func BenchmarkBlock100(b *testing.B) {
	block := block100()
	buf := codec.Marshal(block)
	run := func(b *testing.B, f func()) {
		b.ReportAllocs()
		cpu := cputime.Process()
		for b.Loop() {
			f()
		}
		cpu = cputime.Process() - cpu
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/transfer")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*100), "cpu-ns/transfer")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("encode", func(b *testing.B) { run(b, func() { codec.Marshal(block) }) })
	b.Run("decode", func(b *testing.B) {
		run(b, func() {
			var d protocol.Block
			if err := codec.Unmarshal(buf, &d); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("hash", func(b *testing.B) {
		run(b, func() { protocol.NewBlock(block.Proposed, block.Outcome) })
	})
}

// BenchmarkCheckProposal checks a decoded fast proposal of a block of n bundles and n
// transfers as a validator does, the signer's key cached: with the signed content
// encoded again (plain) or hashed from the proposal's bytes (encoded).
func BenchmarkCheckProposal(b *testing.B) {
	for _, n := range []int{1, 100} {
		key := prototest.Key("alice")
		_, enc, err := protocol.SignProposalEncoded(key, blockOf(n).Proposed, base.FastRound, nil)
		if err != nil {
			b.Fatal(err)
		}
		var d protocol.BlockProposal
		if err := codec.Unmarshal(enc, &d); err != nil {
			b.Fatal(err)
		}
		v := crypto.NewVerifier(4)
		b.Run(fmt.Sprintf("transfers=%d/plain", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := d.CheckInvariantsWith(v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("transfers=%d/encoded", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := d.CheckEncodedInvariantsWith(v, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
