package execution

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// funcContract runs a test closure as its operation handler.
type funcContract struct {
	op func(ctx context.Context, rt ContractRuntime, b []byte) ([]byte, error)
}

func (c *funcContract) Instantiate(context.Context, ContractRuntime, []byte) error { return nil }
func (c *funcContract) ExecuteOperation(ctx context.Context, rt ContractRuntime, b []byte) ([]byte, error) {
	return c.op(ctx, rt, b)
}
func (c *funcContract) ExecuteMessage(context.Context, ContractRuntime, []byte) error { return nil }
func (c *funcContract) Finalize(context.Context, ContractRuntime) error               { return nil }

type funcService struct {
	q func(ctx context.Context, rt ServiceRuntime, b []byte) ([]byte, error)
}

func (s funcService) HandleQuery(ctx context.Context, rt ServiceRuntime, b []byte) ([]byte, error) {
	return s.q(ctx, rt, b)
}

type funcLoader struct {
	contracts map[base.ApplicationID]*funcContract
	service   funcService
}

func (l *funcLoader) LoadContract(_ context.Context, app base.ApplicationID, _ BlobReader) (UserContract, error) {
	if c, ok := l.contracts[app]; ok {
		return c, nil
	}
	return nil, base.NotFoundf("no application %s", app)
}

func (l *funcLoader) LoadService(context.Context, base.ApplicationID, BlobReader) (UserService, error) {
	return l.service, nil
}

func TestContractRuntime(t *testing.T) {
	n := newNet(t)
	var logs bytes.Buffer
	l := &funcLoader{contracts: map[base.ApplicationID]*funcContract{}}
	n.loader = l
	_, id := userChain(t, n)
	s := NewState(views.NewContext(n.store, n.prefix(id)), WithLoader(l), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	blob := protocol.NewBlob(base.BlobData, []byte("data"))
	n.res.addBlob(blob)

	l.contracts[appB] = &funcContract{op: func(ctx context.Context, rt ContractRuntime, b []byte) ([]byte, error) {
		caller := rt.AuthenticatedCaller()
		if caller == nil || *caller != appA || rt.AuthenticatedOwner() != nil || rt.ApplicationID() != appB {
			t.Errorf("callee sees caller %v owner %v", caller, rt.AuthenticatedOwner())
		}
		// Unauthenticated: the callee may not spend alice's tokens, nor the chain's.
		if err := rt.Transfer(ctx, alice, base.Account{Chain: id}, tokens(1)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("unauthenticated transfer: %v", err)
		}
		if err := rt.Transfer(ctx, base.ChainOwner, base.Account{Chain: id}, tokens(1)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("unauthenticated chain transfer: %v", err)
		}
		return []byte("from B"), nil
	}}
	l.contracts[appA] = &funcContract{op: func(ctx context.Context, rt ContractRuntime, b []byte) ([]byte, error) {
		if rt.ChainID() != id || rt.ApplicationID() != appA || rt.BlockHeight() != 3 || rt.Timestamp() != 5_000 {
			t.Errorf("context: %s %s %d %d", rt.ChainID(), rt.ApplicationID(), rt.BlockHeight(), rt.Timestamp())
		}
		if o := rt.AuthenticatedOwner(); o == nil || *o != alice || rt.AuthenticatedCaller() != nil || rt.Message() != nil {
			t.Errorf("authentication: %v %v %v", o, rt.AuthenticatedCaller(), rt.Message())
		}
		if cb, err := rt.ChainBalance(ctx); err != nil || cb != tokens(100) {
			t.Errorf("chain balance %s %v", cb, err)
		}
		if ob, err := rt.OwnerBalance(ctx, alice); err != nil || ob != tokens(50) {
			t.Errorf("owner balance %s %v", ob, err)
		}
		if own, err := rt.ChainOwnership(ctx); err != nil || !own.IsSuperOwner(alice) {
			t.Errorf("ownership %+v %v", own, err)
		}
		if p, err := rt.ApplicationPermissions(ctx); err != nil || !p.AllowsSystemOperations() {
			t.Errorf("permissions %+v %v", p, err)
		}
		var wb kv.Batch
		wb.Put([]byte("k1"), []byte("v1"))
		wb.Put([]byte("k2"), []byte("v2"))
		wb.Put([]byte("z"), []byte("v3"))
		if err := rt.WriteBatch(ctx, &wb); err != nil {
			t.Error(err)
		}
		if err := rt.WriteBatch(ctx, nil); err != nil {
			t.Error(err)
		}
		vals, err := rt.ReadMultiValues(ctx, [][]byte{[]byte("k2"), []byte("nope"), []byte("k1")})
		if err != nil || string(vals[0]) != "v2" || vals[1] != nil || string(vals[2]) != "v1" {
			t.Errorf("multi %q %v", vals, err)
		}
		kvs, err := rt.FindKeyValues(ctx, []byte("k"))
		if err != nil || len(kvs) != 2 || string(kvs[0].Key) != "k1" || string(kvs[1].Value) != "v2" {
			t.Errorf("find %+v %v", kvs, err)
		}
		data, err := rt.ReadDataBlob(ctx, blob.ID().Hash)
		if err != nil || string(data) != "data" {
			t.Errorf("blob %q %v", data, err)
		}
		rt.Log(slog.LevelInfo, "hello from A")

		// Tokens: the application's own account, the chain account (alice owns the
		// chain), and claims.
		if err := rt.Transfer(ctx, base.ChainOwner, base.Account{Chain: id, Owner: ApplicationOwner(appA)}, tokens(10)); err != nil {
			t.Errorf("chain → app: %v", err)
		}
		if err := rt.Transfer(ctx, ApplicationOwner(appA), base.Account{Chain: id, Owner: carol}, tokens(4)); err != nil {
			t.Errorf("app → carol: %v", err)
		}
		if err := rt.Transfer(ctx, bob, base.Account{Chain: id}, tokens(1)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("bob's tokens: %v", err)
		}
		if err := rt.Transfer(ctx, alice, base.Account{Chain: id}, base.ZeroAmount); !errors.Is(err, ErrInvalidOperation) {
			t.Errorf("zero transfer: %v", err)
		}
		if err := rt.Claim(ctx, base.Account{Chain: otherChain, Owner: ApplicationOwner(appA)}, base.Account{Chain: id, Owner: ApplicationOwner(appA)}, tokens(2)); err != nil {
			t.Errorf("app claim: %v", err)
		}
		if err := rt.Claim(ctx, base.Account{Chain: otherChain, Owner: alice}, base.Account{Chain: id, Owner: alice}, tokens(2)); err != nil {
			t.Errorf("alice claim: %v", err)
		}
		if err := rt.Claim(ctx, base.Account{Chain: otherChain, Owner: bob}, base.Account{Chain: id, Owner: alice}, tokens(2)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("bob claim: %v", err)
		}
		if err := rt.Claim(ctx, base.Account{Owner: alice}, base.Account{Chain: id, Owner: alice}, tokens(2)); !errors.Is(err, ErrInvalidOperation) {
			t.Errorf("claim from chain zero: %v", err)
		}
		if err := rt.SendMessage(ctx, SendMessageRequest{Destination: otherChain, Message: []byte("m")}); err != nil {
			t.Error(err)
		}
		if err := rt.SendMessage(ctx, SendMessageRequest{Message: []byte("m")}); !errors.Is(err, ErrInvalidOperation) {
			t.Errorf("message to chain zero: %v", err)
		}
		return rt.CallApplication(ctx, false, appB, nil)
	}}
	o := LiveOracles(n.res)
	out := mustExec(t, s, tc(id, &alice), userTx(appA, []byte{1}), o)
	if string(out.Result) != "from B" {
		t.Fatalf("result %q", out.Result)
	}
	if balance(t, s, ApplicationOwner(appA)) != tokens(6) || balance(t, s, carol) != tokens(4) || balance(t, s, base.ChainOwner) != tokens(90) {
		t.Fatalf("balances app %s carol %s chain %s", balance(t, s, ApplicationOwner(appA)), balance(t, s, carol), balance(t, s, base.ChainOwner))
	}
	if len(out.Messages) != 3 {
		t.Fatalf("messages %+v", out.Messages)
	}
	w0 := out.Messages[0]
	if w, ok := w0.Message.System.(*protocol.Withdraw); !ok || w.Owner != ApplicationOwner(appA) || *w0.AuthenticatedOwner != ApplicationOwner(appA) {
		t.Errorf("app claim message %+v", w0)
	}
	if m := out.Messages[2]; m.Kind != protocol.Simple || m.AuthenticatedOwner != nil || m.Message.App != appA {
		t.Errorf("simple message %+v", m)
	}
	if !strings.Contains(logs.String(), "hello from A") || !strings.Contains(logs.String(), appA.String()) {
		t.Errorf("log %q", logs.String())
	}
	if len(out.OracleResponses) != 1 {
		t.Errorf("responses %+v", out.OracleResponses)
	}

	// The service sees the staged storage, read-only.
	l.service = funcService{q: func(ctx context.Context, rt ServiceRuntime, q []byte) ([]byte, error) {
		if rt.ChainID() != id || rt.ApplicationID() != appA || rt.NextBlockHeight() != 4 || rt.LocalTime() != 77 {
			t.Errorf("query context %s %s %d %d", rt.ChainID(), rt.ApplicationID(), rt.NextBlockHeight(), rt.LocalTime())
		}
		if cb, _ := rt.ChainBalance(ctx); cb != tokens(90) {
			t.Errorf("chain balance %s", cb)
		}
		if ob, _ := rt.OwnerBalance(ctx, carol); ob != tokens(4) {
			t.Errorf("carol %s", ob)
		}
		if own, _ := rt.ChainOwnership(ctx); !own.IsSuperOwner(alice) {
			t.Error("ownership")
		}
		if p, _ := rt.ApplicationPermissions(ctx); !p.AllowsSystemOperations() {
			t.Error("permissions")
		}
		vals, _ := rt.ReadMultiValues(ctx, [][]byte{[]byte("k1")})
		kvs, _ := rt.FindKeyValues(ctx, nil)
		data, err := rt.ReadDataBlob(ctx, blob.ID().Hash)
		if err != nil || string(data) != "data" || len(kvs) != 3 || string(vals[0]) != "v1" {
			t.Errorf("service reads %q %v %d %q", data, err, len(kvs), vals)
		}
		if _, err := rt.ReadDataBlob(ctx, sha(50)); !errors.Is(err, ErrMissingBlob) {
			t.Errorf("missing blob in service: %v", err)
		}
		rt.Log(slog.LevelDebug, "query")
		v, _, err := rt.ReadValue(ctx, []byte("z"))
		return v, err
	}}
	v, err := s.QueryApplication(bg, QueryContext{ChainID: id, NextBlockHeight: 4, LocalTime: 77}, appA, []byte("q"), n.res)
	if err != nil || string(v) != "v3" {
		t.Fatalf("query %q %v", v, err)
	}
	if s.appStorage(appA).dirty() != true {
		t.Fatal("query flushed the staged storage")
	}
	l.service = funcService{q: func(context.Context, ServiceRuntime, []byte) ([]byte, error) { panic("boom") }}
	_, err = s.QueryApplication(bg, QueryContext{ChainID: id}, appA, nil, n.res)
	wantErr(t, err, ErrApplication)
}
