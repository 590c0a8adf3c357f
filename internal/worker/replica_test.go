package worker_test

import (
	"context"
	"testing"
)

// anticipatedEntries counts the inbox entries a store holds for bundles received in
// anticipation: C chain(32) 0x0b (inbox queues) origin(32) 0x02 (removed) 0x01 index(8).
func anticipatedEntries(t *testing.T, db *readCountingStore) int {
	t.Helper()
	n := 0
	err := db.Scan(context.Background(), []byte{'C'}, func(k, _ []byte) error {
		if len(k) == 76 && k[33] == 0x0b && k[66] == 0x02 && k[67] == 0x01 {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A client's local node, which runs no delivery pass, executes its chains' blocks
// receiving bundles that were never delivered to it. Its store must not keep an entry
// for each (issue #11: a benchmark wallet's store held 3.3 million, rewritten by its
// compactions); the validator, which votes, has them delivered before its blocks take
// them and keeps none either.
func TestReplicaKeepsNoAnticipatedBundles(t *testing.T) {
	const chains, rounds = 3, 6
	h := newHotNetwork(t, chains)
	h.noLocalDelivery = true
	for range rounds {
		h.round(t)
	}
	if n := anticipatedEntries(t, h.cdb); n > 0 {
		t.Errorf("the client's local node holds %d entries for bundles received in anticipation after %d blocks", n, chains*rounds)
	}
	if n := anticipatedEntries(t, h.vdb); n > 0 {
		t.Errorf("the validator holds %d entries for bundles received in anticipation", n)
	}
}
