package sdktest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

var (
	total = sdk.NewRegister[int]("total")
	names = sdk.NewMap[string]("names/")
)

// app is a contract exercising the Runtime; its operations are commands.
type app struct{ finalized *int }

func (app) Instantiate(rt *sdk.Runtime, arg []byte) error {
	return total.Set(rt, len(arg))
}

func (a app) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	switch cmd, rest, _ := strings.Cut(string(op), " "); cmd {
	case "add":
		// Staged writes are visible at once.
		if err := names.Set(rt, rest, strings.ToUpper(rest)); err != nil {
			return nil, err
		}
		v, ok, err := names.Get(rt, rest)
		if !ok || err != nil || v != strings.ToUpper(rest) {
			return nil, errors.New("staged write not visible")
		}
		n, _ := total.GetOr(rt, 0)
		return nil, total.Set(rt, n+1)
	case "list":
		es, err := names.Entries(rt)
		var out []string
		for _, e := range es {
			out = append(out, e.Key+"="+e.Value)
		}
		return []byte(strings.Join(out, ",")), err
	case "clear-then-fail":
		names.Clear(rt)
		return nil, errors.New("refused")
	case "clear":
		names.Clear(rt)
		return nil, names.Set(rt, "z", "Z")
	case "panic":
		panic("boom")
	case "send":
		o, _ := rt.AuthenticatedOwner()
		rt.Log(sdk.LevelInfo, "sending")
		if err := rt.Transfer(o, sdk.Account{Chain: rt.ChainID(), Owner: sdk.ChainOwner()}, sdk.NewAmount(3)); err != nil {
			return nil, err
		}
		return nil, rt.SendMessage(rt.ChainID(), []byte("m"), true, false)
	}
	return nil, errors.New("unknown command")
}

func (app) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	m, ok := rt.MessageInfo()
	if !ok || m.Origin != rt.ChainID() {
		return errors.New("no message info")
	}
	return names.Set(rt, "msg", string(msg))
}

func (a app) Finalize(rt *sdk.Runtime) error {
	*a.finalized++
	return nil
}

type svc struct{}

func (svc) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	if string(q) == "write" {
		rt.Set([]byte("x"), nil)
	}
	if string(q) == "owner" {
		rt.AuthenticatedOwner()
	}
	n, _, err := total.Get(rt)
	if rt.BlockHeight() != 1 {
		return nil, errors.New("service should see the next height")
	}
	return []byte(strings.Repeat("x", n)), err
}

func TestChain(t *testing.T) {
	c := sdktest.NewChain()
	var fin int
	a := app{&fin}
	if err := c.Instantiate(a, []byte("ab")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b", "a", "c"} {
		if _, err := c.ExecuteOperation(a, []byte("add "+n)); err != nil {
			t.Fatal(err)
		}
	}
	if c.WriteBatches != 4 || fin != 4 {
		t.Fatalf("%d write batches, %d finalizations; want one per entry point", c.WriteBatches, fin)
	}
	out, err := c.ExecuteOperation(a, []byte("list"))
	if err != nil || string(out) != "a=A,b=B,c=C" {
		t.Fatalf("list: %q %v", out, err)
	}
	if _, err := c.ExecuteOperation(a, []byte("clear-then-fail")); err == nil || err.Error() != "refused" {
		t.Fatalf("error %v", err)
	}
	if _, err := c.ExecuteOperation(a, []byte("panic")); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: %v", err)
	}
	if out, _ := c.ExecuteOperation(a, []byte("list")); string(out) != "a=A,b=B,c=C" {
		t.Fatalf("a failed operation wrote: %q", out)
	}
	if _, err := c.ExecuteOperation(a, []byte("clear")); err != nil {
		t.Fatal(err)
	}
	if out, _ := c.ExecuteOperation(a, []byte("list")); string(out) != "z=Z" {
		t.Fatalf("after clear: %q", out)
	}
	if err := c.ExecuteMessage(a, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get([]byte("names/msg")); string(v) != `"hello"` {
		t.Fatalf("message wrote %q", v)
	}

	// Shared storage with the service; services are read-only and refused contract requests.
	if out, err := c.Query(svc{}, nil); err != nil || string(out) != "xxxxx" {
		t.Fatalf("query: %q %v", out, err)
	}
	if _, err := c.Query(svc{}, []byte("write")); err == nil || !strings.Contains(err.Error(), "cannot write") {
		t.Fatalf("service write: %v", err)
	}
	if _, err := c.Query(svc{}, []byte("owner")); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("service owner: %v", err)
	}

	// Transfers, messages and logs; an insufficient balance aborts with the host's error.
	signer := sdk.Address32Owner([32]byte{1})
	c.Signer = &signer
	if _, err := c.ExecuteOperation(a, []byte("send")); err == nil || !strings.Contains(err.Error(), "insufficient balance") {
		t.Fatalf("transfer without funds: %v", err)
	}
	if len(c.Messages) != 0 {
		t.Fatal("failed operation sent a message")
	}
	c.Balances[signer] = sdk.NewAmount(10)
	if _, err := c.ExecuteOperation(a, []byte("send")); err != nil {
		t.Fatal(err)
	}
	if c.Balances[signer] != sdk.NewAmount(7) || c.ChainBalance != sdk.NewAmount(3) || len(c.Transfers) != 1 {
		t.Fatalf("balances %v %v", c.Balances[signer], c.ChainBalance)
	}
	if len(c.Messages) != 1 || string(c.Messages[0].Message) != "m" || !c.Messages[0].Tracked || c.Messages[0].Authenticated {
		t.Fatalf("messages %+v", c.Messages)
	}
	if len(c.Logs) == 0 || c.Logs[len(c.Logs)-1].Message != "sending" {
		t.Fatalf("logs %+v", c.Logs)
	}
}
