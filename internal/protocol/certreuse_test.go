package protocol_test

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// decodeBoth decodes b with held and with codec.Unmarshal, checks that they agree (both
// refuse with the same error, or both accept the same certificate, whose encoding is b) and returns the
// first's result.
func decodeBoth(t *testing.T, b []byte, held *protocol.Block) (*protocol.Certificate, bool, error) {
	t.Helper()
	c, reused, err := protocol.DecodeCertificateReusing(b, held)
	var full protocol.Certificate
	ferr := codec.Unmarshal(b, &full)
	switch {
	case (err == nil) != (ferr == nil):
		t.Fatalf("reusing: %v; decoding in full: %v", err, ferr)
	case err != nil:
		if err.Error() != ferr.Error() {
			t.Fatalf("reusing: %v; decoding in full: %v", err, ferr)
		}
		if reused || c != nil {
			t.Fatalf("refused with a result (reused %v)", reused)
		}
		return nil, false, err
	}
	if !codec.Equal(c, &full) || !bytes.Equal(codec.Marshal(c), b) {
		t.Fatal("the certificate decoded with the held block differs from the one decoded in full")
	}
	if c.ValueHash() != full.ValueHash() {
		t.Fatalf("value hash %s, decoded in full %s", c.ValueHash().Short(), full.ValueHash().Short())
	}
	if reused != (c.Block != nil && c.Block == held) {
		t.Fatalf("reused %v, but the block is the held one: %v", reused, c.Block == held)
	}
	return c, reused, nil
}

func certOf(kind protocol.CertificateKind, b *protocol.Block, round base.Round) []byte {
	return codec.Marshal(prototest.Certify(kind, b, nil, round, prototest.Validators(4)[:3]))
}

// TestCertificateReusesHeldBlock: a validated or confirmed certificate whose block is
// the held one (same chain, height and bytes) carries the held block itself.
func TestCertificateReusesHeldBlock(t *testing.T) {
	for _, n := range []int{1, 100} {
		held := blockOf(n)
		for _, kind := range []protocol.CertificateKind{protocol.KindConfirmed, protocol.KindValidated} {
			for _, round := range []base.Round{base.FastRound, base.MultiLeader(3)} {
				c, reused, err := decodeBoth(t, certOf(kind, held, round), held)
				if err != nil || !reused {
					t.Fatalf("%d transfers, %s at %s: reused %v, %v", n, kind, round, reused, err)
				}
				if c.Block.Hash() != held.Hash() {
					t.Fatal("the block hash changed")
				}
			}
		}
	}
}

// TestAttackCertificateReuseRefusesNonCanonical: bytes that are not the canonical
// encoding of the certificate are refused exactly as a full decoding refuses them,
// whether the difference is inside the held block's bytes (the same block encoded
// non-canonically, truncated) or around them (kind, round, signatures, trailing bytes).
// Taking the held block on its chain and height alone, or without decoding the rest
// strictly, would accept them.
func TestAttackCertificateReuseRefusesNonCanonical(t *testing.T) {
	held := blockOf(100)
	good := certOf(protocol.KindConfirmed, held, base.FastRound)
	blockLen := codec.Size(held)
	proposedLen := codec.Size(&held.Proposed)
	txCount := prototest.TransactionCountAt(held)
	afterBlock := 1 + blockLen
	sigs := afterBlock + 1 // fast round: one tag byte
	cases := map[string][]byte{
		"transaction count non-minimal":  prototest.NonMinimalAt(good, txCount),
		"outcome's message count":        prototest.NonMinimalAt(good, 1+proposedLen),
		"kind non-minimal":               append([]byte{good[0] | 0x80, 0}, good[1:]...),
		"round kind non-minimal":         prototest.NonMinimalAt(good, afterBlock),
		"signature count non-minimal":    prototest.NonMinimalAt(good, sigs),
		"trailing byte":                  append(append([]byte(nil), good...), 0),
		"truncated in the signatures":    good[:len(good)-1],
		"truncated in the block":         good[:afterBlock-1],
		"signatures unsorted":            swappedSignatures(t, held),
		"a signature more than declared": append(append([]byte(nil), good...), good[sigs+1:sigs+1+98]...),
	}
	for name, b := range cases {
		_, _, err := decodeBoth(t, b, held)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, reused, err := decodeBoth(t, good, held); err != nil || !reused {
		t.Fatalf("the canonical certificate: reused %v, %v", reused, err)
	}
}

// swappedSignatures is a certificate of held with its first two signatures swapped.
func swappedSignatures(t *testing.T, held *protocol.Block) []byte {
	t.Helper()
	c := prototest.Certify(protocol.KindConfirmed, held, nil, base.FastRound, prototest.Validators(4)[:3])
	c.Signatures[0], c.Signatures[1] = c.Signatures[1], c.Signatures[0]
	return codec.Marshal(c)
}

// TestCertificateReuseOtherBlocks: the held block is not taken for a certificate of
// another block at the same height (another round's proposal, another timestamp),
// another height or another chain, for a timeout certificate, or with nothing held:
// those are decoded in full.
func TestCertificateReuseOtherBlocks(t *testing.T) {
	held := blockOf(10)
	other := func(change func(p *protocol.ProposedBlock)) *protocol.Block {
		p := held.Proposed
		change(&p)
		return protocol.NewBlock(p, held.Outcome)
	}
	blocks := map[string]*protocol.Block{
		"another proposal at the height": other(func(p *protocol.ProposedBlock) { p.Timestamp++ }),
		"the next height":                other(func(p *protocol.ProposedBlock) { p.Height++ }),
		"another chain":                  other(func(p *protocol.ProposedBlock) { p.ChainID = base.ChainID{9} }),
		"another outcome":                protocol.NewBlock(held.Proposed, func() protocol.BlockExecutionOutcome { o := held.Outcome; o.StateHash = base.Hash{1}; return o }()),
	}
	for name, b := range blocks {
		c, reused, err := decodeBoth(t, certOf(protocol.KindConfirmed, b, base.FastRound), held)
		if err != nil || reused || c.Block.Hash() != b.Hash() || c.Block.Hash() == held.Hash() {
			t.Fatalf("%s: reused %v, %v", name, reused, err)
		}
	}
	timeout := &protocol.Timeout{ChainID: held.ChainID(), Height: held.Height()}
	tb := codec.Marshal(prototest.Certify(protocol.KindTimeout, nil, timeout, base.MultiLeader(0), prototest.Validators(4)[:3]))
	if _, reused, err := decodeBoth(t, tb, held); err != nil || reused {
		t.Fatalf("timeout: reused %v, %v", reused, err)
	}
	if _, reused, err := decodeBoth(t, certOf(protocol.KindConfirmed, held, base.FastRound), nil); err != nil || reused {
		t.Fatalf("nothing held: reused %v, %v", reused, err)
	}
}

// FuzzDecodeCertificateReusing: with a held block, any input decodes exactly as
// codec.Unmarshal decodes it (decodeBoth).
func FuzzDecodeCertificateReusing(f *testing.F) {
	held := blockOf(3)
	f.Add(certOf(protocol.KindConfirmed, held, base.FastRound))
	f.Add(certOf(protocol.KindValidated, held, base.MultiLeader(1)))
	f.Add(certOf(protocol.KindConfirmed, blockOf(2), base.FastRound))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeBoth(t, b, held)
	})
}

// BenchmarkDecodeCertificateReusing decodes the confirmed certificate of block100 with
// the block held (held) and without (full, as codec.Unmarshal).
func BenchmarkDecodeCertificateReusing(b *testing.B) {
	held := block100()
	buf := certOf(protocol.KindConfirmed, held, base.FastRound)
	for _, tc := range []struct {
		name string
		held *protocol.Block
	}{{"held", held}, {"full", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := protocol.DecodeCertificateReusing(buf, tc.held); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
