package execution

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// newEpochNet runs CreateCommittee(1) on the admin chain and publishes its event and blob
// in the resolver, as the validator's storage would.
func newEpochNet(t testing.TB) (*testNet, *protocol.Committee) {
	n := newNet(t)
	admin, adminID := n.create(n.admin)
	next := testCommittee(t, "epoch1", 3)
	out := mustExec(t, admin, tc(adminID, &alice), sysTx(&protocol.CreateCommittee{Epoch: 1, Committee: *next}), nil)
	n.commit(admin)
	publish(n, adminID, out)
	return n, next
}

func publish(n *testNet, chain base.ChainID, out *TxOutcome) {
	for _, b := range out.Blobs {
		n.res.addBlob(b)
	}
	for _, e := range out.Events {
		n.res.addEvent(protocol.EventID{Chain: chain, Stream: e.Stream, Index: e.Index}, e.Value)
	}
}

func TestProcessNewEpoch(t *testing.T) {
	n, next := newEpochNet(t)
	s, id := n.create(n.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
	live := LiveOracles(n.res)
	out := mustExec(t, s, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), live)
	if err := live.Finish(); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Epoch(bg); e != 1 {
		t.Fatalf("epoch %d", e)
	}
	cs, _ := s.Committees(bg)
	if len(cs) != 2 || cs[1] != (protocol.EpochCommittee{Epoch: 1, CommitteeHash: next.Hash()}) {
		t.Fatalf("committees %+v", cs)
	}
	rs := out.OracleResponses
	if len(rs) != 2 || rs[0].Kind != protocol.OracleEvent || rs[0].Event.Chain != n.adminID || rs[0].Event.Index != 1 ||
		rs[1].Kind != protocol.OracleBlob || rs[1].Blob != (base.BlobID{Type: base.BlobCommittee, Hash: next.Hash()}) {
		t.Fatalf("oracle responses %+v", rs)
	}
	var first []byte
	{
		var b = n.commit(s)
		first = batchBytes(b)
	}

	// Replay on a fresh copy of the chain: the event need not be available any more.
	m := newNet(t)
	m.res.addBlob(next.Blob())
	s2, id2 := m.create(m.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
	if id2 != id {
		t.Fatal("different chain ids")
	}
	replay := ReplayOracles(m.res, rs)
	out2 := mustExec(t, s2, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), replay)
	if err := replay.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(out2.OracleResponses) != 2 {
		t.Fatalf("replay reported %d responses", len(out2.OracleResponses))
	}
	if got := batchBytes(m.commit(s2)); string(got) != string(first) {
		t.Fatal("replay produced a different batch")
	}
}

func TestProcessNewEpochRefusals(t *testing.T) {
	n, next := newEpochNet(t)
	evID := protocol.EventID{Chain: n.adminID, Stream: protocol.NewEpochStream, Index: 1}
	good := []protocol.OracleResponse{
		{Kind: protocol.OracleEvent, Event: evID, Value: func() []byte { h := next.Hash(); return h[:] }()},
		{Kind: protocol.OracleBlob, Blob: base.BlobID{Type: base.BlobCommittee, Hash: next.Hash()}},
	}
	otherIdx := good[0]
	otherIdx.Event.Index = 2
	for _, c := range []struct {
		name    string
		epoch   base.Epoch
		res     Resolver
		oracles func(r Resolver) *Oracles
		admin   bool
		perms   *protocol.ApplicationPermissions
		want    []error
		finish  []error
	}{
		{name: "missing event", epoch: 2, res: n.res, want: []error{ErrMissingEvent, base.ErrNotFound}},
		{name: "missing committee blob", epoch: 1, res: func() Resolver {
			r := newResolver()
			h := next.Hash()
			r.addEvent(evID, h[:])
			return r
		}(), want: []error{ErrMissingBlob, base.ErrNotFound}},
		{name: "event is not a hash", epoch: 1, res: func() Resolver {
			r := newResolver()
			r.addEvent(evID, []byte{1, 2, 3})
			return r
		}(), want: []error{ErrInvalidOperation}},
		{name: "blob is not a committee", epoch: 1, res: func() Resolver {
			r := newResolver()
			fake := protocol.NewBlob(base.BlobCommittee, []byte{9, 9})
			id := r.addBlob(fake)
			r.addEvent(evID, id.Hash[:])
			return r
		}(), want: []error{ErrInvalidOperation}},
		{name: "not after the current epoch", epoch: 0, res: n.res, want: []error{ErrWrongEpoch}},
		{name: "on the admin chain", epoch: 1, res: n.res, admin: true, want: []error{ErrInvalidOperation}},
		{name: "replay of another event", epoch: 1, res: n.res, oracles: func(r Resolver) *Oracles {
			return ReplayOracles(r, []protocol.OracleResponse{otherIdx, good[1]})
		}, want: []error{ErrOracleMismatch}},
		{name: "replay of a blob where an event is read", epoch: 1, res: n.res, oracles: func(r Resolver) *Oracles {
			return ReplayOracles(r, []protocol.OracleResponse{good[1], good[0]})
		}, want: []error{ErrOracleMismatch}},
		{name: "replay with too few responses", epoch: 1, res: n.res, oracles: func(r Resolver) *Oracles {
			return ReplayOracles(r, good[:1])
		}, want: []error{ErrOracleMismatch}},
		{name: "replay with responses left over", epoch: 1, res: n.res, oracles: func(r Resolver) *Oracles {
			return ReplayOracles(r, append(append([]protocol.OracleResponse{}, good...), good[1]))
		}, finish: []error{ErrOracleMismatch}},
		{name: "allowed when system operations are restricted", epoch: 1, res: n.res,
			perms: &protocol.ApplicationPermissions{ExecuteOperations: &[]base.ApplicationID{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s *State
			var id base.ChainID
			if c.admin {
				s, id = n.load(n.adminID), n.adminID
			} else {
				s, id = n.create(n.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
			}
			defer s.Rollback()
			if c.perms != nil {
				mustExec(t, s, tc(id, &bob), sysTx(&protocol.ChangeApplicationPermissions{Permissions: *c.perms}), nil)
			}
			o := LiveOracles(c.res)
			if c.oracles != nil {
				o = c.oracles(c.res)
			}
			_, err := s.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: c.epoch}), o)
			if len(c.want) > 0 {
				wantErr(t, err, c.want...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ferr := o.Finish()
			if len(c.finish) > 0 {
				wantErr(t, ferr, c.finish...)
				return
			}
			if ferr != nil {
				t.Fatal(ferr)
			}
		})
	}
}

func TestMissingErrorsNameWhatIsMissing(t *testing.T) {
	n := newNet(t)
	s, id := n.create(n.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
	_, err := s.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(n.res))
	var me *MissingEventError
	if !errors.As(err, &me) || me.ID.Chain != n.adminID || me.ID.Index != 1 {
		t.Fatalf("want *MissingEventError for event 1 of the admin chain, got %v", err)
	}
	s.Rollback()
	h := sha(4)
	n.res.addEvent(protocol.EventID{Chain: n.adminID, Stream: protocol.NewEpochStream, Index: 1}, h[:])
	_, err = s.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(n.res))
	var mb *MissingBlobError
	if !errors.As(err, &mb) || mb.ID != (base.BlobID{Type: base.BlobCommittee, Hash: h}) {
		t.Fatalf("want *MissingBlobError for the committee, got %v", err)
	}
}

func TestProcessRemovedEpoch(t *testing.T) {
	n, _ := newEpochNet(t)
	admin := n.load(n.adminID)
	out := mustExec(t, admin, tc(n.adminID, &alice), sysTx(&protocol.RemoveCommittee{Epoch: 0}), nil)
	n.commit(admin)
	publish(n, n.adminID, out)

	s, id := n.create(n.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
	// The current epoch may not be removed.
	_, err := s.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.ProcessRemovedEpoch{Epoch: 0}), LiveOracles(n.res))
	wantErr(t, err, ErrWrongEpoch)
	s.Rollback()

	mustExec(t, s, tc(id, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(n.res))
	o := LiveOracles(n.res)
	out = mustExec(t, s, tc(id, &bob), sysTx(&protocol.ProcessRemovedEpoch{Epoch: 0}), o)
	if len(out.OracleResponses) != 1 || out.OracleResponses[0].Kind != protocol.OracleEvent || out.OracleResponses[0].Event.Index != 0 {
		t.Fatalf("responses %+v", out.OracleResponses)
	}
	cs, _ := s.Committees(bg)
	if len(cs) != 1 || cs[0].Epoch != 1 {
		t.Fatalf("committees %+v", cs)
	}
	// Removing it again: no longer trusted.
	_, err = s.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.ProcessRemovedEpoch{Epoch: 0}), LiveOracles(n.res))
	wantErr(t, err, ErrWrongEpoch)
	s.Rollback()

	// An epoch the admin chain did not revoke: the event is missing.
	c, cid := n.create(n.rootDesc(2, protocol.SingleSuperOwner(bob), tokens(1)))
	mustExec(t, c, tc(cid, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(n.res))
	n.commit(c)
	_, err = c.ExecuteTransaction(bg, tc(cid, &bob), sysTx(&protocol.ProcessRemovedEpoch{Epoch: 1}), LiveOracles(n.res))
	wantErr(t, err, ErrWrongEpoch) // epoch 1 is current
	c.Rollback()

	// An epoch revoked by nobody: the event is missing.
	m, _ := newEpochNet(t)
	d, did := m.create(m.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(1)))
	mustExec(t, d, tc(did, &bob), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(m.res))
	_, err = d.ExecuteTransaction(bg, tc(did, &bob), sysTx(&protocol.ProcessRemovedEpoch{Epoch: 0}), LiveOracles(m.res))
	wantErr(t, err, ErrMissingEvent, base.ErrNotFound)
}
