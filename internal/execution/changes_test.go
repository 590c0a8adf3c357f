package execution

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// Changes taken out of a State leave it reading as its stored form, and put on the
// same State or on a freshly loaded one they emit the operations and give the state
// that staying staged would have given.
func TestTakeChangesPutChanges(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	stored := snapshot(t, s)
	stage := func(s *State) {
		t.Helper()
		mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(5)}), nil)
		mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: id, Owner: carol}, Amount: tokens(7)}), nil)
	}
	// The reference: staged and flushed in place.
	ref := n.load(id)
	stage(ref)
	staged := snapshot(t, ref)
	var want kv.Batch
	ref.Emit(&want)

	for _, fresh := range []bool{false, true} {
		stage(s)
		c := s.TakeChanges()
		if s.HasPendingChanges() {
			t.Fatal("changes pending after TakeChanges")
		}
		if got := snapshot(t, s); got != stored {
			t.Fatalf("after TakeChanges the state reads\n%s\nwant the stored\n%s", got, stored)
		}
		target := s
		if fresh {
			target = n.load(id)
		}
		if err := target.PutChanges(c); err != nil {
			t.Fatal(err)
		}
		if got := snapshot(t, target); got != staged {
			t.Fatalf("after PutChanges (fresh %v) the state reads\n%s\nwant\n%s", fresh, got, staged)
		}
		if err := target.PutChanges(&Changes{}); err == nil {
			t.Fatal("PutChanges over staged changes accepted")
		}
		var got kv.Batch
		target.Emit(&got)
		if !bytes.Equal(batchBytes(&got), batchBytes(&want)) {
			t.Fatalf("emitted after PutChanges (fresh %v):\n%s\nwant\n%s", fresh, batchBytes(&got), batchBytes(&want))
		}
		target.Rollback()
		s.Rollback()
	}
	// Committed after being put back, the changes are the clean state, equal to the
	// store once the batch is written.
	stage(s)
	c := s.TakeChanges()
	if err := s.PutChanges(c); err != nil {
		t.Fatal(err)
	}
	var b kv.Batch
	s.Emit(&b)
	if err := n.store.Write(bg, &b); err != nil {
		t.Fatal(err)
	}
	s.Commit()
	if got, reload := snapshot(t, s), snapshot(t, n.load(id)); got != staged || reload != staged {
		t.Fatalf("after Commit the state reads\n%s\nthe store\n%s\nwant\n%s", got, reload, staged)
	}
}
