package worker_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// TestVoteRegisterRefersToBundles: the register written with a vote on a proposal
// receiving 100 bundles stores them as references to their sender's certificate (it is
// smaller than the bundles' bytes), and a restarted validator whose store lacks that
// certificate, or holds another block's certificate under its key, reports corruption
// (never a panic, never a vote on another proposal); with the certificate back, the
// same proposal gets the same vote.
func TestVoteRegisterRefersToBundles(t *testing.T) {
	const transfers = 100
	for _, damage := range []string{"missing", "another block", "intact"} {
		t.Run(damage, func(t *testing.T) {
			ctx := context.Background()
			db := memkv.New()
			r := newValidatorRing(t, 2, db, nil)
			restart := func() {
				r.w = worker.New(worker.Config{Storage: storage.New(db), Signer: r.vkeys[0], Clock: fixedClock{10_000_000}})
			}
			for range 2 {
				r.block(t, transfers, nil)
			}
			i := r.next
			info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(r.ids[i]))
			if err != nil {
				t.Fatal(err)
			}
			pending, err := info.PendingBundles()
			if err != nil || len(pending) != transfers {
				t.Fatalf("%d bundles pending (err %v), want %d", len(pending), err, transfers)
			}
			bundleBytes := 0
			for k := range pending {
				bundleBytes += len(codec.Marshal(&pending[k].Bundle))
			}
			prop := r.proposal(t, i, info, transfers)
			answer, err := r.w.HandleBlockProposal(ctx, prop)
			if err != nil {
				t.Fatal(err)
			}
			vote := answer.Manager.PendingVote

			// The register: the chain's stored value that holds the proposal's
			// signature. It is smaller than the bundles it receives.
			register := storedValueContaining(t, db, codec.Marshal(&prop.Signature))
			if len(register) >= bundleBytes {
				t.Fatalf("register of %d bytes for %d bytes of received bundles: not stored by reference", len(register), bundleBytes)
			}

			certKey := append([]byte{'K'}, pending[0].Bundle.CertificateHash[:]...)
			certValue, ok, err := db.Get(ctx, certKey)
			if err != nil || !ok {
				t.Fatalf("the sender's certificate is not on the store: %v", err)
			}
			setCert := func(v []byte) {
				var b kv.Batch
				if v == nil {
					b.Delete(certKey)
				} else {
					b.Put(certKey, v)
				}
				if err := db.Write(ctx, &b); err != nil {
					t.Fatal(err)
				}
			}
			switch damage {
			case "missing":
				setCert(nil)
			case "another block":
				other := storedValueOtherCert(t, db, certKey)
				setCert(other)
			}
			restart()
			again, err := r.w.HandleBlockProposal(ctx, prop)
			if damage != "intact" {
				if !errors.Is(err, base.ErrCorrupt) || !strings.Contains(err.Error(), "consensus state") {
					t.Fatalf("the proposal after a restart with the certificate %s: %v, want a corrupt consensus state", damage, err)
				}
				if _, err := r.w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: r.ids[i], RequestManagerValues: true}); !errors.Is(err, base.ErrCorrupt) {
					t.Fatalf("chain information with the certificate %s: %v, want corruption", damage, err)
				}
				setCert(certValue)
				restart()
				again, err = r.w.HandleBlockProposal(ctx, prop)
			}
			if err != nil {
				t.Fatalf("the same proposal after a restart: %v", err)
			}
			if v := again.Manager.PendingVote; v == nil || !bytes.Equal(codec.Marshal(v), codec.Marshal(vote)) {
				t.Fatal("the same proposal after a restart is answered with another vote")
			}
		})
	}
}

// storedValueContaining returns the one stored value under a chain's state ('C') that
// contains part.
func storedValueContaining(t *testing.T, db *memkv.Store, part []byte) []byte {
	t.Helper()
	var found [][]byte
	err := db.Scan(context.Background(), []byte{'C'}, func(_, v []byte) error {
		if bytes.Contains(v, part) {
			found = append(found, bytes.Clone(v))
		}
		return nil
	})
	if err != nil || len(found) != 1 {
		t.Fatalf("%d stored values hold the proposal's signature (err %v), want 1", len(found), err)
	}
	return found[0]
}

// storedValueOtherCert returns a stored certificate other than the one under key.
func storedValueOtherCert(t *testing.T, db *memkv.Store, key []byte) []byte {
	t.Helper()
	var other []byte
	err := db.Scan(context.Background(), []byte{'K'}, func(k, v []byte) error {
		if other == nil && !bytes.Equal(k, key) {
			other = bytes.Clone(v)
		}
		return nil
	})
	if err != nil || other == nil {
		t.Fatalf("no other certificate on the store (err %v)", err)
	}
	return other
}
