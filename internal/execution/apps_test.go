package execution

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

var (
	appA = base.ApplicationID(sha(20))
	appB = base.ApplicationID(sha(21))
)

func op(kind byte, parts ...[]byte) []byte {
	out := []byte{kind}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func appNet(t *testing.T) (*testNet, *nativeLoader, *State, base.ChainID) {
	n := newNet(t)
	l := &nativeLoader{apps: map[base.ApplicationID]bool{appA: true, appB: true}}
	n.loader = l
	s, id := userChain(t, n)
	return n, l, s, id
}

func counterValue(t *testing.T, s *State, id base.ChainID, app base.ApplicationID) uint64 {
	t.Helper()
	v, err := s.QueryApplication(bg, QueryContext{ChainID: id}, app, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u64(v)
}

func TestNoVM(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	for _, tx := range []*protocol.Transaction{
		userTx(appA, op('i', le(1))),
		postedTx(otherChain, protocol.Accept, protocol.PostedMessage{Kind: protocol.Simple, Message: protocol.Message{App: appA, Bytes: le(1)}}),
	} {
		_, err := s.ExecuteTransaction(bg, tc(id, &alice), tx, nil)
		wantErr(t, err, ErrNoVM, base.ErrInvalid)
		if !strings.Contains(err.Error(), "user applications need a VM; none is configured") {
			t.Fatalf("unclear error %q", err)
		}
		s.Rollback()
	}
	_, err := s.QueryApplication(bg, QueryContext{ChainID: id}, appA, nil, nil)
	wantErr(t, err, ErrNoVM)
	// Rejecting a user message needs no VM.
	out := mustExec(t, s, tc(id, &alice), postedTx(otherChain, protocol.Reject, protocol.PostedMessage{Kind: protocol.Tracked, Message: protocol.Message{App: appA, Bytes: le(1)}}), nil)
	if len(out.Messages) != 1 || out.Messages[0].Kind != protocol.Bouncing || out.Messages[0].Message.App != appA {
		t.Fatalf("bounce %+v", out.Messages)
	}
}

func TestUserOperations(t *testing.T) {
	n, l, s, id := appNet(t)
	out := mustExec(t, s, tc(id, &alice), userTx(appA, op('i', le(5))), nil)
	if u64(out.Result) != 5 {
		t.Fatalf("result %x", out.Result)
	}
	n.commit(s)
	s = n.load(id)
	out = mustExec(t, s, tc(id, &alice), userTx(appA, op('i', le(2))), nil)
	if u64(out.Result) != 7 || counterValue(t, s, id, appA) != 7 {
		t.Fatalf("result %x", out.Result)
	}

	// A synchronous call to B; both are finalized, in load order.
	l.finals = nil
	out = mustExec(t, s, tc(id, &alice), userTx(appA, op('c', appB[:], le(3))), nil)
	if u64(out.Result) != 3 || counterValue(t, s, id, appB) != 3 || counterValue(t, s, id, appA) != 7 {
		t.Fatalf("call result %x, B %d", out.Result, counterValue(t, s, id, appB))
	}
	if !slices.Equal(l.finals, []base.ApplicationID{appA, appB}) {
		t.Fatalf("finalized %v", l.finals)
	}
	n.commit(s)

	// Storage namespaces are separate: A's "resp" key is not B's.
	var seen []string
	for _, app := range []base.ApplicationID{appA, appB} {
		kvs, err := s.appStorage(app).scan(bg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range kvs {
			keys = append(keys, string(kv.Key))
		}
		seen = append(seen, strings.Join(keys, ","))
	}
	if seen[0] != "n,resp" || seen[1] != "n" {
		t.Fatalf("storage keys %q", seen)
	}
}

func TestUserOperationFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		tx     *protocol.Transaction
		want   []error
		signer *base.Owner
	}{
		{"re-entrant call", userTx(appA, op('r', appB[:], le(1))), []error{ErrReentrantCall, base.ErrInvalid}, nil},
		{"panic", userTx(appA, op('p')), []error{ErrApplication, base.ErrInvalid}, nil},
		{"plain error", userTx(appA, op('x')), []error{ErrApplication, base.ErrInvalid}, nil},
		{"unknown application", userTx(base.ApplicationID(sha(99)), op('i', le(1))), []error{base.ErrNotFound}, nil},
		{"call to an unknown application", userTx(appA, op('c', func() []byte { h := sha(99); return h[:] }(), le(1))), []error{base.ErrNotFound}, nil},
		{"overdraft inside an application", userTx(appA, op('t', otherChain[:], le(1))), []error{ErrInsufficientBalance}, &bob},
		{"missing data blob", userTx(appA, op('b', func() []byte { h := sha(98); return h[:] }())), []error{ErrMissingBlob, base.ErrNotFound}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _, s, id := appNet(t)
			before := snapshot(t, s)
			signer := &alice
			if c.signer != nil {
				signer = c.signer
			}
			_, err := s.ExecuteTransaction(bg, tc(id, signer), c.tx, LiveOracles(n.res))
			wantErr(t, err, c.want...)
			s.Rollback()
			if snapshot(t, s) != before || s.HasPendingChanges() {
				t.Fatal("rollback did not restore the state")
			}
		})
	}
}

func TestUserRuntime(t *testing.T) {
	n, _, s, id := appNet(t)

	// Transfer from the authenticated owner to another chain.
	out := mustExec(t, s, tc(id, &alice), userTx(appA, op('t', otherChain[:], le(1000))), nil)
	if balance(t, s, alice) != func() base.Amount { a, _ := tokens(50).Sub(base.AmountFromAttos(1000)); return a }() {
		t.Fatalf("alice %s", balance(t, s, alice))
	}
	if len(out.Messages) != 1 || out.Messages[0].Kind != protocol.Tracked || out.Messages[0].Message.System == nil {
		t.Fatalf("messages %+v", out.Messages)
	}
	// Without an authenticated owner the application may not move anyone's tokens.
	_, err := s.ExecuteTransaction(bg, tc(id, nil), userTx(appA, op('t', otherChain[:], le(1000))), nil)
	wantErr(t, err, ErrApplication) // the counter refuses: no authenticated owner
	s.Rollback()

	// Read a data blob through the oracles.
	blob := protocol.NewBlob(base.BlobData, []byte("hello"))
	bid := n.res.addBlob(blob)
	o := LiveOracles(n.res)
	out = mustExec(t, s, tc(id, &alice), userTx(appA, op('b', bid.Hash[:])), o)
	if len(out.OracleResponses) != 1 || out.OracleResponses[0].Kind != protocol.OracleBlob || out.OracleResponses[0].Blob != bid {
		t.Fatalf("responses %+v", out.OracleResponses)
	}
	if v, ok, _ := s.appStorage(appA).get(bg, []byte("blob")); !ok || string(v) != "hello" {
		t.Fatalf("blob content %q", v)
	}
	// Replaying the response with another blob id fails.
	other := protocol.OracleResponse{Kind: protocol.OracleBlob, Blob: base.BlobID{Type: base.BlobData, Hash: sha(5)}}
	_, err = s.ExecuteTransaction(bg, tc(id, &alice), userTx(appA, op('b', bid.Hash[:])), ReplayOracles(n.res, []protocol.OracleResponse{other}))
	wantErr(t, err, ErrOracleMismatch)
	s.Rollback()

	// Instantiate.
	if _, err := s.InstantiateApplication(bg, tc(id, &alice), appB, le(11), nil); err != nil {
		t.Fatal(err)
	}
	if counterValue(t, s, id, appB) != 11 {
		t.Fatal("instantiate did not run")
	}
}

// TestUserMessages sends an application message from chain a to chain b, executes it
// there, rejects a second one and delivers the bounce back.
func TestUserMessages(t *testing.T) {
	n, _, a, aID := appNet(t)
	b, bID := n.create(n.rootDesc(2, protocol.SingleSuperOwner(bob), tokens(1)))

	out := mustExec(t, a, tc(aID, &alice), userTx(appA, op('s', bID[:], le(4))), nil)
	if len(out.Messages) != 1 {
		t.Fatalf("messages %+v", out.Messages)
	}
	m := out.Messages[0]
	if m.Destination != bID || m.Kind != protocol.Tracked || m.AuthenticatedOwner == nil || *m.AuthenticatedOwner != alice ||
		m.Message.App != appA || !bytes.Equal(m.Message.Bytes, le(4)) {
		t.Fatalf("bad message %+v", m)
	}
	mustExec(t, b, tc(bID, &bob), bundleTx(aID, out.Messages, bID, protocol.Accept), nil)
	if counterValue(t, b, bID, appA) != 4 {
		t.Fatalf("b's counter %d", counterValue(t, b, bID, appA))
	}

	out = mustExec(t, a, tc(aID, &alice), userTx(appA, op('s', bID[:], le(9))), nil)
	rej := mustExec(t, b, tc(bID, &bob), bundleTx(aID, out.Messages, bID, protocol.Reject), nil)
	if len(rej.Messages) != 1 || rej.Messages[0].Kind != protocol.Bouncing || rej.Messages[0].Destination != aID {
		t.Fatalf("bounce %+v", rej.Messages)
	}
	mustExec(t, a, tc(aID, &alice), op2tx(aID, appA, le(20)), nil)
	mustExec(t, a, tc(aID, nil), bundleTx(bID, rej.Messages, aID, protocol.Accept), nil)
	if got := counterValue(t, a, aID, appA); got != 11 {
		t.Fatalf("bouncing message was not executed as a bounce: counter %d", got)
	}
}

func op2tx(_ base.ChainID, app base.ApplicationID, n []byte) *protocol.Transaction {
	return userTx(app, op('i', n))
}

func TestAppStore(t *testing.T) {
	st := memkv.New()
	vc := views.NewContext(st, []byte("app/"))
	var seed kv.Batch
	for _, k := range []string{"a1", "a2", "b1", "b2", "c"} {
		seed.Put([]byte("app/"+k), []byte("old-"+k))
	}
	seed.Put([]byte("apq"), []byte("outside"))
	if err := st.Write(bg, &seed); err != nil {
		t.Fatal(err)
	}
	a := newAppStore(vc, &appCache{})
	var b kv.Batch
	b.Put([]byte("a3"), []byte("new"))
	b.Delete([]byte("b1"))
	b.Put([]byte("b3"), []byte("gone"))
	b.DeletePrefix([]byte("b"))
	b.Put([]byte("b4"), []byte("after"))
	b.Put([]byte("c"), nil)
	if err := a.apply(&b); err != nil {
		t.Fatal(err)
	}
	dump := func(kvs []KeyValue) string {
		var out []string
		for _, kv := range kvs {
			out = append(out, fmt.Sprintf("%s=%s", kv.Key, kv.Value))
		}
		return strings.Join(out, " ")
	}
	all, err := a.scan(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "a1=old-a1 a2=old-a2 a3=new b4=after c="
	if got := dump(all); got != want {
		t.Fatalf("scan %q, want %q", got, want)
	}
	as, _ := a.scan(bg, []byte("a"))
	if got := dump(as); got != "a1=old-a1 a2=old-a2 a3=new" {
		t.Fatalf("prefix scan %q", got)
	}
	vals, err := a.multiGet(bg, [][]byte{[]byte("a1"), []byte("b2"), []byte("b4"), []byte("zz"), []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0]) != "old-a1" || vals[1] != nil || string(vals[2]) != "after" || vals[3] != nil || vals[4] == nil || len(vals[4]) != 0 {
		t.Fatalf("multiGet %q", vals)
	}
	var out kv.Batch
	a.flush(&out)
	var ops []string
	for _, o := range out.Ops() {
		ops = append(ops, fmt.Sprintf("%s %s", o.Kind, o.Key))
	}
	wantOps := "put app/a3,delete-prefix app/b,put app/b4,put app/c"
	if got := strings.Join(ops, ","); got != wantOps {
		t.Fatalf("flush %q, want %q", got, wantOps)
	}
	if err := st.Write(bg, &out); err != nil {
		t.Fatal(err)
	}
	all, _ = newAppStore(vc, &appCache{}).scan(bg, nil)
	if got := dump(all); got != want {
		t.Fatalf("after write %q, want %q", got, want)
	}
	if v, ok, _ := st.Get(bg, []byte("apq")); !ok || string(v) != "outside" {
		t.Fatal("flush touched a key outside the namespace")
	}
}

func TestCheckBlockPermissions(t *testing.T) {
	_, _, s, id := appNet(t)
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.ChangeApplicationPermissions{Permissions: protocol.ApplicationPermissions{MandatoryApplications: []base.ApplicationID{appA}}}), nil)
	without := []protocol.Transaction{*sysTx(&protocol.CloseChain{}), *userTx(appB, op('i', le(1)))}
	wantErr(t, s.CheckBlockPermissions(bg, without), ErrNotPermitted)
	with := append(without, *userTx(appA, op('i', le(1))))
	if err := s.CheckBlockPermissions(bg, with); err != nil {
		t.Fatal(err)
	}
}

// TestContractOpensChain: a contract opens a child chain funded from the application's
// own account (never the chain account), and cannot spend more than the app holds.
func TestContractOpensChain(t *testing.T) {
	_, _, s, id := appNet(t)
	appAccount := base.Account{Chain: id, Owner: ApplicationOwner(appA)}
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: appAccount, Amount: base.AmountFromAttos(50)}), nil)
	chainBefore, err := s.ChainBalance(bg)
	if err != nil {
		t.Fatal(err)
	}
	out := mustExec(t, s, tc(id, &alice), userTx(appA, op('o', le(30))), nil)
	if len(out.Blobs) != 1 || out.Blobs[0].Type != base.BlobChainDescription {
		t.Fatalf("no chain description created: %+v", out.Blobs)
	}
	if base.ChainID(out.Result) != base.ChainID(out.Blobs[0].ID().Hash) {
		t.Fatal("the returned id is not the description's hash")
	}
	if got, _ := s.OwnerBalance(bg, ApplicationOwner(appA)); got != base.AmountFromAttos(20) {
		t.Fatalf("application account has %s, want 20 attos", got)
	}
	if got, _ := s.ChainBalance(bg); got != chainBefore {
		t.Fatalf("the chain account paid for the child: %s -> %s", chainBefore, got)
	}
	_, err = s.ExecuteTransaction(bg, tc(id, &alice), userTx(appA, op('o', le(21))), nil)
	wantErr(t, err, ErrInsufficientBalance)
	s.Rollback()
}
