package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// TestVoteSurvivesRestart: a validator restarted right after its fast vote (a new worker
// on the store, nothing cached; the consensus register holds the proposal and the vote
// but not the block's outcome) answers the same proposal with the same vote, refuses a
// conflicting proposal at that height, reports the proposal and its fast lock for a
// retry (ADR 0002), and handles the confirmed certificate of that block; a validator
// restarted after that certificate votes on the next block.
func TestVoteSurvivesRestart(t *testing.T) {
	for _, transfers := range []int{1, 100} {
		t.Run(fmt.Sprintf("transfers=%d", transfers), func(t *testing.T) {
			ctx := context.Background()
			db := memkv.New()
			r := newValidatorRing(t, 2, db, nil)
			restart := func() {
				r.w = worker.New(worker.Config{Storage: storage.New(db), Signer: r.vkeys[0], Clock: fixedClock{10_000_000}})
			}
			for range 2 {
				r.block(t, transfers, nil) // each chain has a block, chain 0 has bundles
			}
			i := r.next
			info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(r.ids[i]))
			if err != nil {
				t.Fatal(err)
			}
			pending, err := info.PendingBundles()
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != transfers {
				t.Fatalf("%d bundles pending, want %d", len(pending), transfers)
			}
			prop := r.proposal(t, i, info, transfers)
			answer, err := r.w.HandleBlockProposal(ctx, prop)
			if err != nil {
				t.Fatal(err)
			}
			vote := answer.Manager.PendingVote
			if vote == nil || vote.Value.Kind != protocol.KindConfirmed {
				t.Fatal("no confirmed vote in the answer")
			}

			restart()
			again, err := r.w.HandleBlockProposal(ctx, prop)
			if err != nil {
				t.Fatalf("the same proposal after a restart: %v", err)
			}
			if v := again.Manager.PendingVote; v == nil || !bytes.Equal(codec.Marshal(v), codec.Marshal(vote)) {
				t.Fatal("the same proposal after a restart is answered with another vote")
			}

			other := r.proposal(t, i, info, transfers+1) // the same height, another block
			if _, err := r.w.HandleBlockProposal(ctx, other); !errors.Is(err, consensus.ErrNotNewerThanLock) {
				t.Fatalf("a conflicting proposal after a restart: %v, want ErrNotNewerThanLock", err)
			}

			values, err := r.w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: r.ids[i], RequestManagerValues: true})
			if err != nil {
				t.Fatal(err)
			}
			mi := values.Manager
			if mi.Proposed == nil || !bytes.Equal(codec.Marshal(mi.Proposed), codec.Marshal(prop)) {
				t.Fatal("the proposal voted on is not reported after a restart")
			}
			if mi.LockingFast == nil || !bytes.Equal(codec.Marshal(mi.LockingFast), codec.Marshal(prop)) {
				t.Fatal("the fast lock is not reported after a restart")
			}
			if v := mi.PendingVote; v == nil || !bytes.Equal(codec.Marshal(v), codec.Marshal(vote)) {
				t.Fatal("the vote is not reported after a restart")
			}

			// The confirmed certificate of the block voted on, built from the block
			// executed elsewhere (the client's local node).
			exec, err := worker.New(worker.Config{Storage: storage.New(db), Clock: fixedClock{10_000_000}}).StageBlock(ctx, &prop.Content.Block, nil)
			if err != nil {
				t.Fatal(err)
			}
			if exec.Hash() != vote.Value.ValueHash {
				t.Fatal("the vote does not sign the executed block")
			}
			cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, r.vkeys)
			if _, err := r.w.HandleCertificate(ctx, cert); err != nil {
				t.Fatalf("the certificate of the block voted on, after a restart: %v", err)
			}
			if err := r.w.DeliverPending(ctx); err != nil {
				t.Fatal(err)
			}
			h := exec.Hash()
			r.tips[i], r.next = &h, (i+1)%len(r.ids)
			r.heights[i]++

			restart()
			if got := nextHeight(t, r.w, r.ids[i]); got != r.heights[i] {
				t.Fatalf("next height %d after the certificate and a restart, want %d", got, r.heights[i])
			}
			for range 2 * len(r.ids) {
				if got := r.block(t, transfers, nil); got != transfers {
					t.Fatalf("a block after the restart receives %d bundles, want %d", got, transfers)
				}
			}
		})
	}
}
