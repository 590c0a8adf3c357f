package execution

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// inFlight sums the token amounts carried by messages not yet received.
func inFlight(t *testing.T, msgs []protocol.OutgoingMessage) base.Amount {
	var sum base.Amount
	for _, m := range msgs {
		if c, ok := m.Message.System.(*protocol.Credit); ok {
			var err error
			if sum, err = sum.Add(c.Amount); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sum
}

// TestSupplyConservation runs a sequence of transfers, claims, withdrawals, rejections
// and bounces between three chains and checks after every step that the balances plus
// the amounts in flight are constant.
func TestSupplyConservation(t *testing.T) {
	n := newNet(t)
	a, aID := userChain(t, n) // alice 50, chain 100
	b, bID := n.create(n.rootDesc(2, protocol.SingleSuperOwner(bob), tokens(30)))
	c, cID := n.create(n.rootDesc(3, protocol.SingleSuperOwner(carol), tokens(20)))
	states := map[base.ChainID]*State{aID: a, bID: b, cID: c}
	order := []base.ChainID{aID, bID, cID}
	var pending []protocol.OutgoingMessage
	var pendingFrom []base.ChainID

	total := func() base.Amount {
		var sum base.Amount
		for _, id := range order {
			tb, err := states[id].TotalBalance(bg)
			if err != nil {
				t.Fatal(err)
			}
			if sum, err = sum.Add(tb); err != nil {
				t.Fatal(err)
			}
		}
		sum, _ = sum.Add(inFlight(t, pending))
		return sum
	}
	start := total()
	step := func(name string, id base.ChainID, signer *base.Owner, tx *protocol.Transaction) {
		t.Helper()
		out := mustExec(t, states[id], tc(id, signer), tx, nil)
		for _, m := range out.Messages {
			pending = append(pending, m)
			pendingFrom = append(pendingFrom, id)
		}
		if got := total(); got != start {
			t.Fatalf("after %s: supply %s, want %s", name, got, start)
		}
	}
	// deliver hands every pending message for dest over in one bundle per origin.
	deliver := func(dest base.ChainID, action protocol.BundleAction) {
		t.Helper()
		for _, origin := range order {
			var msgs []protocol.OutgoingMessage
			var keep []protocol.OutgoingMessage
			var keepFrom []base.ChainID
			for i, m := range pending {
				if m.Destination == dest && pendingFrom[i] == origin {
					msgs = append(msgs, m)
				} else {
					keep = append(keep, m)
					keepFrom = append(keepFrom, pendingFrom[i])
				}
			}
			if len(msgs) == 0 {
				continue
			}
			pending, pendingFrom = keep, keepFrom
			step("deliver", dest, nil, bundleTx(origin, msgs, dest, action))
		}
	}

	step("transfer a→b", aID, &alice, sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: bID, Owner: bob}, Amount: tokens(10)}))
	step("transfer chain a→c", aID, &alice, sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: cID}, Amount: tokens(5)}))
	step("open chain", aID, &alice, sysTx(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(alice)}))
	deliver(bID, protocol.Accept)
	deliver(cID, protocol.Reject) // bounces back to a
	step("transfer b→c", bID, &bob, sysTx(&protocol.Transfer{Owner: bob, Recipient: base.Account{Chain: cID, Owner: carol}, Amount: tokens(4)}))
	deliver(cID, protocol.Accept)
	step("carol claims her tokens back to b", cID, &carol, sysTx(&protocol.Claim{Owner: carol, Target: cID, Recipient: base.Account{Chain: bID, Owner: carol}, Amount: tokens(2)}))
	deliver(aID, protocol.Accept)
	deliver(bID, protocol.Accept)
	step("claim from b", cID, &carol, sysTx(&protocol.Claim{Owner: carol, Target: bID, Recipient: base.Account{Chain: cID, Owner: carol}, Amount: tokens(1)}))
	deliver(bID, protocol.Accept) // the Withdraw, authenticated by carol
	deliver(cID, protocol.Accept) // the Credit it sends on
	if len(pending) != 0 {
		t.Fatalf("%d messages still pending", len(pending))
	}
	if balance(t, a, alice) != tokens(40) || balance(t, b, bob) != tokens(6) || balance(t, c, carol) != tokens(3) || balance(t, b, carol) != tokens(1) {
		t.Fatalf("alice %s bob %s carol@c %s carol@b %s", balance(t, a, alice), balance(t, b, bob), balance(t, c, carol), balance(t, b, carol))
	}
	if balance(t, a, base.ChainOwner) != tokens(100) {
		t.Fatalf("the bounce did not refund a's chain account: %s", balance(t, a, base.ChainOwner))
	}
}

// TestFlushReload checks that a state written and loaded again answers every accessor the
// same way, and that a flush after a flush writes nothing.
func TestFlushReload(t *testing.T) {
	n, _ := newEpochNet(t)
	app := base.ApplicationID(sha(9))
	n.loader = &nativeLoader{apps: map[base.ApplicationID]bool{app: true}}
	s, id := userChain(t, n)
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(3)}), nil)
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.ChangeApplicationPermissions{Permissions: protocol.ApplicationPermissions{MandatoryApplications: []base.ApplicationID{app}}}), nil)
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.ProcessNewEpoch{Epoch: 1}), LiveOracles(n.res))
	mustExec(t, s, tc(id, &alice), userTx(app, append([]byte{'i'}, le(7)...)), nil)
	staged := snapshot(t, s)
	n.commit(s)
	if s.HasPendingChanges() {
		t.Fatal("changes pending after Flush")
	}
	var again kv.Batch
	s.Flush(&again)
	if !again.Empty() {
		t.Fatalf("second flush wrote %d ops", again.Len())
	}
	re := n.load(id)
	if got := snapshot(t, re); got != staged {
		t.Fatalf("reloaded state differs:\n%s\nvs\n%s", staged, got)
	}
	v, err := re.QueryApplication(bg, QueryContext{ChainID: id}, app, nil, n.res)
	if err != nil || u64(v) != 7 {
		t.Fatalf("reloaded application storage: %x %v", v, err)
	}
}

// TestDeterminism runs the same operations on two fresh states, one of which has read
// everything first (warm caches): batches and state hashes must be byte-identical.
func TestDeterminism(t *testing.T) {
	app, app2 := base.ApplicationID(sha(9)), base.ApplicationID(sha(10))
	run := func(warm bool) ([]byte, base.Hash) {
		n, _ := newEpochNet(t)
		n.loader = &nativeLoader{apps: map[base.ApplicationID]bool{app: true, app2: true}}
		s, id := userChain(t, n)
		if warm {
			snapshot(t, s)
			if _, err := s.QueryApplication(bg, QueryContext{ChainID: id}, app, nil, n.res); err != nil {
				t.Fatal(err)
			}
		}
		steps := []*protocol.Transaction{
			sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(3)}),
			sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: carol}, Amount: tokens(4)}),
			sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: otherChain}, Amount: tokens(4)}),
			sysTx(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(carol), Balance: tokens(1)}),
			sysTx(&protocol.ProcessNewEpoch{Epoch: 1}),
			userTx(app2, append([]byte{'i'}, le(5)...)),
			userTx(app, append(append([]byte{'c'}, app2[:]...), le(2)...)),
			postedTx(otherChain, protocol.Accept, credit(carol, tokens(2), bob, protocol.Tracked)),
		}
		for _, tx := range steps {
			mustExec(t, s, tc(id, &alice), tx, LiveOracles(n.res))
		}
		var b kv.Batch
		s.Flush(&b)
		return batchBytes(&b), StateHash(base.Hash{}, &b)
	}
	b1, h1 := run(false)
	b2, h2 := run(true)
	if string(b1) != string(b2) || h1 != h2 {
		t.Fatalf("batches differ:\n%s\nvs\n%s", b1, b2)
	}
	var empty kv.Batch
	if StateHash(h1, &empty) == h1 || StateHash(base.Hash{}, &empty) == StateHash(h1, &empty) {
		t.Fatal("the state hash must chain the previous hash")
	}
}

func TestStateHashCoversOps(t *testing.T) {
	var a, b, c kv.Batch
	a.Put([]byte("k"), []byte("v"))
	b.Put([]byte("k"), []byte("w"))
	c.Delete([]byte("k"))
	ha, hb, hc := StateHash(base.Hash{}, &a), StateHash(base.Hash{}, &b), StateHash(base.Hash{}, &c)
	if ha == hb || ha == hc || hb == hc {
		t.Fatal("different batches share a state hash")
	}
	var a2 kv.Batch
	a2.Put([]byte("k"), []byte("v"))
	if StateHash(base.Hash{}, &a2) != ha {
		t.Fatal("equal batches hash differently")
	}
}

func TestInitialize(t *testing.T) {
	n := newNet(t)
	s, id := n.create(n.admin)
	if admin, _ := s.AdminChain(bg); admin != id {
		t.Fatalf("admin chain of the admin chain is %s, want itself", admin)
	}
	u, _ := n.create(n.rootDesc(1, protocol.SingleSuperOwner(bob), tokens(2)))
	if admin, _ := u.AdminChain(bg); admin != id {
		t.Fatalf("admin chain %s, want %s", admin, id)
	}
	if ok, _ := u.IsInitialized(bg); !ok {
		t.Fatal("not initialized")
	}
	if cb, _ := u.ChainBalance(bg); cb != tokens(2) {
		t.Fatalf("balance %s", cb)
	}
	empty := n.load(base.ChainID(sha(7)))
	if ok, err := empty.IsInitialized(bg); ok || err != nil {
		t.Fatalf("empty state initialized: %v %v", ok, err)
	}
	_, err := empty.ExecuteTransaction(bg, tc(base.ChainID(sha(7)), &bob), sysTx(&protocol.CloseChain{}), nil)
	wantErr(t, err, base.ErrInvalid)
	_, err = u.ExecuteTransaction(bg, tc(id, &bob), sysTx(&protocol.CloseChain{}), nil)
	wantErr(t, err, base.ErrInvalid) // wrong chain id
	bad := n.rootDesc(5, protocol.ChainOwnership{SuperOwners: []base.Owner{carol, alice}}, tokens(1))
	if err := n.load(bad.ID()).Initialize(&bad); err == nil {
		t.Fatal("invalid ownership accepted")
	}
}
