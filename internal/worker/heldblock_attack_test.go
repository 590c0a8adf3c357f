package worker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackHeldBlockForgedCertificates: after a validator voted for a block, a stranger
// sends certificates carrying exactly that block's bytes (so they are decoded with the
// held block, certreuse.go), but signed below quorum, by a committee of strangers, with
// a signer twice, with a signature of another value, or as a validated certificate of
// an earlier round replayed as confirmed. Each is refused, changes nothing (the store
// is still that of a validator that never saw them) and does not spend the vote's kept
// execution: the real certificate is then decoded with the held block and applied
// without executing the block again.
func TestAttackHeldBlockForgedCertificates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	voter, other := f.workers[0], f.workers[3]
	block := f.transfer(base.Tokens(1), 0, nil)
	vote(t, voter, f.propose(t, f.alice, block, base.FastRound))
	exec := executed(t, f.workers[2], &block)
	strangers := make([]*crypto.PrivateKey, 4)
	for i := range strangers {
		strangers[i] = prototest.Key(fmt.Sprintf("stranger-%d", i))
	}
	dup := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys[:3])
	dup.Signatures = append(dup.Signatures[:2:2], dup.Signatures[1])
	wrongValue := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys[:3])
	otherRound := prototest.Certify(protocol.KindConfirmed, exec, nil, base.SingleLeader(0), f.keys[:3])
	wrongValue.Signatures[1].Signature = otherRound.Signatures[1].Signature
	validated := prototest.Certify(protocol.KindValidated, exec, nil, base.FastRound, f.keys[:3])
	replayed := *validated
	replayed.Kind = protocol.KindConfirmed
	for _, c := range []struct {
		name string
		cert *protocol.Certificate
	}{
		{"below quorum", prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys[:2])},
		{"a committee of strangers", prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, strangers)},
		{"a signer twice", dup},
		{"a signature of another value", wrongValue},
		{"a validated certificate replayed as confirmed", &replayed},
	} {
		b := codec.Marshal(c.cert)
		before := voter.HeldBlockDecodes()
		cert, err := voter.DecodeCertificate(b)
		if err != nil {
			// Refused while decoding (unsorted signers): as codec.Unmarshal refuses it.
			var full protocol.Certificate
			if codec.Unmarshal(b, &full) == nil {
				t.Fatalf("%s: decoding refused (%v), but codec.Unmarshal takes it", c.name, err)
			}
			continue
		}
		if voter.HeldBlockDecodes() != before+1 {
			t.Fatalf("%s: not decoded with the held block", c.name)
		}
		if _, err := voter.HandleEncodedCertificate(ctx, cert, b); err == nil {
			t.Fatalf("%s: accepted", c.name)
		}
	}
	real := codec.Marshal(prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys))
	if n := decodeAndHandle(t, voter, real); n != 1 {
		t.Fatalf("the real certificate decoded with %d held blocks, want 1", n)
	}
	if n := worker.ReusedExecutions(voter); n != 1 {
		t.Fatalf("the forged certificates spent the vote's kept execution (%d reused, want 1)", n)
	}
	if n := decodeAndHandle(t, other, real); n != 0 {
		t.Fatalf("a validator that did not vote decoded with %d held blocks", n)
	}
	sameStores(t, "after the forged certificates and the real one", voter, other)
}
