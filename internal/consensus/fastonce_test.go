package consensus

import (
	"bytes"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// largeBlock is the block named name at height 0 with one operation of size bytes.
func largeBlock(name string, size int) *protocol.Block {
	b := testBlock(0, name).Proposed
	b.Transactions = []protocol.Transaction{protocol.OperationTx(protocol.Operation{Bytes: bytes.Repeat([]byte(name), size/len(name))})}
	return execute(b)
}

// TestInfoCarriesOneBlock: whatever the manager holds, the answer with values carries
// at most one block, so that it fits the transport (docs/SECURITY.md, session 16): the
// fast proposal that is both the fast lock and the proposal voted on is encoded once,
// also after a restart (decoded state), and a proposal beside a lock it differs from (a
// fast retry, a block proposed after a validated lock) is left out. Before, each case
// carried two blocks.
func TestInfoCarriesOneBlock(t *testing.T) {
	const size = 1 << 20
	keys := prototest.Validators(4)
	o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1}, "S")
	o.MultiLeaderRounds = 3
	fitsOne := func(t *testing.T, m *Manager, what string) protocol.ManagerInfo {
		t.Helper()
		info := m.Info(true)
		if n := codec.Size(&info); n > size+64<<10 {
			t.Fatalf("%s: the answer has %d bytes, more than one block of %d", what, n, size)
		}
		return info
	}

	t.Run("fast lock", func(t *testing.T) {
		m := NewManager(o, 0, 0)
		p, err := protocol.SignProposal(ownerKey("S"), largeBlock("X", size).Proposed, base.FastRound, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.VoteForProposal(p, executeProposal(p), keys[0], 0); err != nil {
			t.Fatal(err)
		}
		if info := fitsOne(t, m, "fast lock"); info.LockingFast != p || info.Proposed != p {
			t.Fatalf("want the fast proposal as lock and proposal, got lock %p proposal %p", info.LockingFast, info.Proposed)
		}
		d, _, err := roundTripManager(m)
		if err != nil {
			t.Fatal(err)
		}
		fitsOne(t, d, "fast lock after a restart")

		// The super owner leaves the fast round: a fast retry in multi-leader(0), beside
		// the fast lock.
		r, err := protocol.SignFastRetry(ownerKey("S"), p, base.MultiLeader(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.VoteForProposal(r, executeProposal(r), keys[0], 0); err != nil {
			t.Fatal(err)
		}
		if info := fitsOne(t, m, "fast retry"); info.LockingFast != p || info.Proposed != nil {
			t.Fatalf("want the fast lock alone, got lock %p proposal %p", info.LockingFast, info.Proposed)
		}
	})

	t.Run("validated lock", func(t *testing.T) {
		// The retry of a validated block in a later round: the lock and the proposal
		// both hold the block.
		o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1})
		o.MultiLeaderRounds = 3
		m := NewManager(o, 0, 0)
		c := prototest.Certify(protocol.KindValidated, largeBlock("X", size), nil, base.MultiLeader(0), keys[1:])
		r, err := protocol.SignRegularRetry(ownerKey("B"), c, base.MultiLeader(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.VoteForProposal(r, executeProposal(r), keys[0], 0); err != nil {
			t.Fatal(err)
		}
		if info := fitsOne(t, m, "validated lock and its retry"); info.LockingValidated == nil || info.Proposed != nil {
			t.Fatalf("want the validated lock alone, got lock %v proposal %v", info.LockingValidated != nil, info.Proposed != nil)
		}
	})
}
