package rpc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// heldBlockDecodes sums the held-block decodes of v's workers.
func heldBlockDecodes(v *testValidator) uint64 {
	var n uint64
	for _, w := range v.workers {
		n += w.HeldBlockDecodes()
	}
	return n
}

// TestCertificatesDecodedWithVotedBlocks: a validator (one process, or a proxy over two
// shard processes) decodes the certificates of the blocks it voted for with the blocks
// it holds, in a batch and alone; in a batch that mixes them with a non-canonical
// encoding of a voted block, a certificate with a trailing byte and the certificate of
// a block it did not vote for, each is answered as before: the two malformed ones are
// refused alone, the others applied.
func TestCertificatesDecodedWithVotedBlocks(t *testing.T) {
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			const chains = 5
			keys := ownerKeys(chains)
			n := newTestNet(t, keys, shards)
			c := newCertifier(t, n)
			v := n.vals[0]
			api := pb.NewValidatorNodeClient(rawConn(t, v.addr))
			const notVoted = 2
			var votes []*pb.BatchItem
			blocks := make([]protocol.ProposedBlock, chains)
			for i := range chains {
				blocks[i] = transferBlock(n, keys, i, 0, nil, 1)
				if i != notVoted {
					votes = append(votes, itemOf(signedProposal(t, keys[i], blocks[i]), nil))
				}
			}
			resp, err := api.HandleBlockProposals(callCtx(t), batchOf(votes...))
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range resp.GetResults() {
				if info, err := resultOf(r); err != nil || info.Manager.PendingVote == nil {
					t.Fatalf("proposal %d: %v, want a vote", i, err)
				}
			}
			certs := make([][]byte, chains)
			for i := range chains {
				certs[i] = codec.Marshal(c.certify(blocks[i]))
			}
			nonCanonical, trailing := 1, 3
			items := make([]*pb.BatchItem, chains)
			for i := range chains {
				items[i] = &pb.BatchItem{Payload: certs[i]}
			}
			var decoded protocol.Certificate
			if err := codec.Unmarshal(certs[nonCanonical], &decoded); err != nil {
				t.Fatal(err)
			}
			items[nonCanonical].Payload = prototest.NonMinimalAt(certs[nonCanonical], prototest.TransactionCountAt(decoded.Block))
			items[trailing].Payload = append(append([]byte(nil), certs[trailing]...), 0)
			items[4].Query = encodeQuery(&protocol.ChainInfoQuery{ChainID: n.chains[4], RequestPendingBundles: true})
			out, err := api.HandleCertificates(callCtx(t), batchOf(items...))
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range out.GetResults() {
				info, err := resultOf(r)
				switch {
				case i == nonCanonical || i == trailing:
					if !errors.Is(err, base.ErrInvalid) {
						t.Errorf("certificate %d: %v, want an invalid-class refusal", i, err)
					}
				case err != nil || info.NextBlockHeight != 1:
					t.Errorf("certificate %d: %v, want the chain at height 1", i, err)
				}
			}
			if answered := out.GetResults()[4].GetResponse().GetQueryAnswered(); !answered {
				t.Error("the query of a certificate decoded with the held block was not answered")
			}
			if got := heldBlockDecodes(v); got != 2 {
				t.Fatalf("%d certificates decoded with a held block, want 2 (chains 0 and 4)", got)
			}
			for _, i := range []int{nonCanonical, trailing} {
				if got := n.state(0, n.chains[i]).next; got != 0 {
					t.Errorf("chain %d at height %d after a malformed certificate", i, got)
				}
				if _, err := api.HandleCertificate(callCtx(t), &pb.Certificate{Payload: certs[i]}); err != nil {
					t.Fatalf("certificate %d alone: %v", i, err)
				}
			}
			if got := heldBlockDecodes(v); got != 4 {
				t.Fatalf("%d certificates decoded with a held block, want 4", got)
			}
		})
	}
}
