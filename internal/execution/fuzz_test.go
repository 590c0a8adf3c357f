package execution

import (
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// fuzzWorld is a funded chain whose store can be rebuilt cheaply for every input.
type fuzzWorld struct {
	seed   []*kv.Batch
	id     base.ChainID
	res    *resolver
	loader *nativeLoader
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	n, _ := newEpochNet(t)
	l := &nativeLoader{apps: map[base.ApplicationID]bool{appA: true, appB: true}}
	n.loader = l
	s, id := userChain(t, n)
	mustExec(t, s, tc(id, &alice), userTx(appA, op('i', le(5))), nil)
	n.commit(s)
	w := &fuzzWorld{id: id, res: n.res, loader: l}
	var all kv.Batch
	if err := n.store.Scan(bg, nil, func(k, v []byte) error { all.Put(k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	w.seed = []*kv.Batch{&all}
	return w
}

func (w *fuzzWorld) state(t testing.TB) *State {
	st := memkv.New()
	for _, b := range w.seed {
		if err := st.Write(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	return NewState(views.NewContext(st, append([]byte{'C'}, w.id[:]...)), WithLoader(w.loader))
}

func fuzzSeeds(id base.ChainID) []protocol.Transaction {
	committee := protocol.Committee{}
	return []protocol.Transaction{
		*sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}),
		*sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: otherChain, Owner: bob}, Amount: tokens(1)}),
		*sysTx(&protocol.Claim{Owner: alice, Target: otherChain, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}),
		*sysTx(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(carol), Balance: tokens(1)}),
		*sysTx(&protocol.CloseChain{}),
		*sysTx(&protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(bob)}),
		*sysTx(&protocol.ChangeApplicationPermissions{Permissions: protocol.ApplicationPermissions{ManageChain: &[]base.ApplicationID{appA}}}),
		*sysTx(&protocol.PublishDataBlob{Hash: sha(1)}),
		*sysTx(&protocol.CreateCommittee{Epoch: 1, Committee: committee}),
		*sysTx(&protocol.RemoveCommittee{Epoch: 0}),
		*sysTx(&protocol.ProcessNewEpoch{Epoch: 1}),
		*sysTx(&protocol.ProcessRemovedEpoch{Epoch: 0}),
		*userTx(appA, op('i', le(3))),
		*userTx(appA, op('c', appB[:], le(3))),
		*userTx(appA, op('r', appB[:], le(3))),
		*userTx(appA, op('s', otherChain[:], le(3))),
		*userTx(appA, op('p')),
		*postedTx(otherChain, protocol.Accept, credit(bob, tokens(3), carol, protocol.Tracked), withdraw(alice, tokens(1), base.Account{Chain: otherChain}, &alice, protocol.Tracked)),
		*postedTx(otherChain, protocol.Reject, credit(bob, tokens(3), carol, protocol.Protected), credit(bob, tokens(3), carol, protocol.Tracked)),
		*postedTx(otherChain, protocol.Accept, protocol.PostedMessage{Kind: protocol.Bouncing, Message: protocol.Message{App: appA, Bytes: le(1)}}),
	}
}

// FuzzExecuteTransaction decodes random bytes as a transaction and executes it on a
// funded chain: no panic; on error, Rollback restores every accessor and leaves nothing
// to flush; on success, a second identical state produces the identical batch.
func FuzzExecuteTransaction(f *testing.F) {
	w := newFuzzWorld(f)
	for i, tx := range fuzzSeeds(w.id) {
		f.Add(uint8(i), codec.Marshal(&tx))
	}
	signers := []*base.Owner{nil, &alice, &bob, &carol, ptr(base.ChainOwner)}
	f.Fuzz(func(t *testing.T, who uint8, data []byte) {
		var tx protocol.Transaction
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		err := codec.Unmarshal(data, &tx)
		runtime.ReadMemStats(&m1)
		if n, limit := m1.TotalAlloc-m0.TotalAlloc, uint64(codec.Budget(len(data))); n > limit {
			t.Fatalf("decoding a %d-byte transaction allocated %d bytes, want at most %d", len(data), n, limit)
		}
		if err != nil {
			return
		}
		s := w.state(t)
		c := tc(w.id, signers[int(who)%len(signers)])
		if who&0x80 != 0 {
			c.Policy = feePolicy()
		}
		before := snapshot(t, s)
		out, err := s.ExecuteTransaction(bg, c, &tx, LiveOracles(w.res))
		if err != nil {
			if !base.IsInvalid(err) && !base.IsNotFound(err) {
				t.Fatalf("unclassified error %v", err)
			}
			s.Rollback()
			if after := snapshot(t, s); after != before {
				t.Fatalf("state changed by a failed transaction:\n%s\nvs\n%s", before, after)
			}
			var b kv.Batch
			s.Flush(&b)
			if !b.Empty() {
				t.Fatalf("rollback left %d operations to flush", b.Len())
			}
			return
		}
		for i := range out.Messages {
			codec.Marshal(&out.Messages[i])
		}
		var b1, b2 kv.Batch
		s.Flush(&b1)
		s2 := w.state(t)
		if _, err := s2.ExecuteTransaction(bg, c, &tx, ReplayOracles(w.res, out.OracleResponses)); err != nil {
			t.Fatalf("replay failed: %v", err)
		}
		s2.Flush(&b2)
		if string(batchBytes(&b1)) != string(batchBytes(&b2)) {
			t.Fatal("replay produced a different batch")
		}
	})
}

// FuzzDecodeHTTPRequest covers the HTTP request a guest sends with host kind 16: the
// decoder never panics, accepted input re-encodes to the same bytes, and
// CheckHTTPRequest never panics on it.
func FuzzDecodeHTTPRequest(f *testing.F) {
	for _, r := range []HTTPRequest{
		{Method: "GET", URL: "https://api.test/x"},
		{Method: "POST", URL: "http://api.test:80/", Headers: []HTTPHeader{{Name: "A", Value: "b"}}, Body: []byte("{}")},
	} {
		f.Add(codec.Marshal(&r))
	}
	policy := protocol.NoFeesPolicy()
	policy.HTTPAllowList = []string{"api.test"}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r HTTPRequest
		if err := codec.Unmarshal(b, &r); err != nil {
			return
		}
		if again := codec.Marshal(&r); string(again) != string(b) {
			t.Fatalf("accepted input does not round-trip:\n in  %x\n out %x", b, again)
		}
		_, _ = CheckHTTPRequest(&policy, &r)
	})
}
