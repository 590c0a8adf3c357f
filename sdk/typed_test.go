package sdk_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

type tOp struct {
	Add *uint64 `json:"add,omitempty"`
	To  *struct {
		Owner  sdk.Owner   `json:"owner"`
		Chain  sdk.ChainID `json:"chain"`
		Amount sdk.Amount  `json:"amount"`
	} `json:"to,omitempty"`
}

func (o tOp) Validate() error {
	if (o.Add == nil) == (o.To == nil) {
		return errors.New("want exactly one of add and to")
	}
	return nil
}

type tMsg struct {
	Note string `json:"note"`
}

type tContract struct{ msgs *[]string }

func (tContract) Instantiate(rt *sdk.Runtime, arg uint64) error {
	return sdk.NewRegister[uint64]("v").Set(rt, arg)
}

func (tContract) ExecuteOperation(rt *sdk.Runtime, op tOp) (any, error) {
	if op.To != nil {
		return op.To, nil
	}
	return map[string]uint64{"added": *op.Add}, nil
}

func (c tContract) ExecuteMessage(rt *sdk.Runtime, m tMsg) error {
	*c.msgs = append(*c.msgs, m.Note)
	return nil
}

func TestTypedContract(t *testing.T) {
	var msgs []string
	app := sdk.ContractOf[tOp, tMsg, uint64](tContract{&msgs})
	c := sdktest.NewChain()
	for _, arg := range []string{`"x"`, `-1`, `1 2`, `{}`} {
		if err := c.Instantiate(app, []byte(arg)); err == nil || !strings.Contains(err.Error(), "invalid instantiation argument") {
			t.Errorf("argument %s: %v", arg, err)
		}
	}
	if err := c.Instantiate(app, nil); err != nil { // empty: null, the zero value
		t.Fatal(err)
	}
	if err := c.Instantiate(app, []byte(" 7 ")); err != nil {
		t.Fatal(err)
	}
	out, err := c.ExecuteOperation(app, []byte(`{"add": 3}`))
	if err != nil || string(out) != `{"added":3}` {
		t.Fatalf("%s %v", out, err)
	}
	to := `{"to":{"owner":"0X` + strings.Repeat("AB", 20) + `","chain":"` + strings.Repeat("01", 32) + `","amount":"0.25"}}`
	out, err = c.ExecuteOperation(app, []byte(to))
	if want := `{"owner":"0x` + strings.Repeat("ab", 20) + `","chain":"` + strings.Repeat("01", 32) + `","amount":"0.25"}`; err != nil || string(out) != want {
		t.Fatalf("%s %v, want %s", out, err, want)
	}
	for op, want := range map[string]string{
		`{"add": 3, "x": 1}`:   `unknown field "x"`,
		`{"add": 3} {}`:        "data after the JSON value",
		`{"add": 3}]`:          "data after the JSON value",
		``:                     "empty input",
		`{}`:                   "exactly one",
		`{"add": 1, "to": {}}`: "exactly one",
		`{"to":{"owner":"0x1","chain":"","amount":"1"}}`:                                     "invalid owner",
		`{"to":{"owner":"chain","chain":"00","amount":"1"}}`:                                 "invalid chain id",
		`{"to":{"owner":"chain","chain":"` + strings.Repeat("01", 32) + `","amount":"1e3"}}`: "amount",
	} {
		if _, err := c.ExecuteOperation(app, []byte(op)); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "invalid operation: ") {
			t.Errorf("%s: %v, want %q", op, err, want)
		}
	}
	if err := c.ExecuteMessage(app, []byte(`{"note":"hi"}`)); err != nil || len(msgs) != 1 || msgs[0] != "hi" {
		t.Fatalf("message: %v %q", err, msgs)
	}
	if err := c.ExecuteMessage(app, []byte(`{"nope":"hi"}`)); err == nil || !strings.HasPrefix(err.Error(), "invalid message: ") {
		t.Fatalf("bad message: %v", err)
	}
	none := sdk.ContractOf[tOp, sdk.NoMessage, sdk.NoArgument](noMsgContract{})
	if err := c.Instantiate(none, []byte("anything at all")); err != nil {
		t.Fatalf("NoArgument: %v", err)
	}
	if err := c.ExecuteMessage(none, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "sends no messages") {
		t.Fatalf("NoMessage: %v", err)
	}
}

type noMsgContract struct{}

func (noMsgContract) Instantiate(*sdk.Runtime, sdk.NoArgument) error   { return nil }
func (noMsgContract) ExecuteOperation(*sdk.Runtime, tOp) (any, error)  { return nil, nil }
func (noMsgContract) ExecuteMessage(*sdk.Runtime, sdk.NoMessage) error { return nil }

func TestTextForms(t *testing.T) {
	for _, s := range []string{"chain", "reserved:3", "0x" + strings.Repeat("ab", 32), "0x" + strings.Repeat("cd", 20)} {
		o, err := sdk.ParseOwner(s)
		if err != nil || o.String() != s {
			t.Errorf("owner %s: %v %v", s, o, err)
		}
	}
	for _, s := range []string{"", "0x", "reserved:256", "0x" + strings.Repeat("ab", 31), "zz"} {
		if _, err := sdk.ParseOwner(s); err == nil {
			t.Errorf("owner %q accepted", s)
		}
	}
	for s, want := range map[string]string{"1": "1", "0.5": "0.5", "1.000000000000000001": "1.000000000000000001", "007": "7", ".5": "0.5"} {
		a, err := sdk.ParseAmount(s)
		if err != nil || a.Tokens() != want {
			t.Errorf("amount %s: %v %v", s, a.Tokens(), err)
		}
	}
	for _, s := range []string{"", ".", "1.", "-1", "1e3", "0.0000000000000000001", strings.Repeat("9", 40)} {
		if _, err := sdk.ParseAmount(s); err == nil {
			t.Errorf("amount %q accepted", s)
		}
	}
	b, _ := json.Marshal(struct {
		A sdk.ApplicationID
		C sdk.ChainID
	}{})
	if string(b) != `{"A":"`+strings.Repeat("0", 64)+`","C":"`+strings.Repeat("0", 64)+`"}` {
		t.Errorf("ids in JSON: %s", b)
	}
}

// FuzzTypedDecoding: DecodeJSON of arbitrary bytes into an operation never panics; what
// it accepts re-encodes and decodes to the same value; text forms round-trip.
func FuzzTypedDecoding(f *testing.F) {
	f.Add([]byte(`{"add": 3}`), "0.5")
	f.Add([]byte(`{"to":{"owner":"chain","chain":"`+strings.Repeat("01", 32)+`","amount":"1"}}`), "chain")
	f.Add([]byte(`{"add": 1} x`), "reserved:1")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		var op tOp
		if sdk.DecodeJSON(b, &op) == nil {
			enc, err := json.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			var again tOp
			if err := sdk.DecodeJSON(enc, &again); err != nil {
				t.Fatalf("%s re-encoded as %s: %v", b, enc, err)
			}
			if enc2, _ := json.Marshal(again); string(enc2) != string(enc) {
				t.Fatalf("%s → %s → %s", b, enc, enc2)
			}
		}
		if a, err := sdk.ParseAmount(s); err == nil {
			if a2, err := sdk.ParseAmount(a.Tokens()); err != nil || a2 != a {
				t.Fatalf("amount %q → %q → %v %v", s, a.Tokens(), a2, err)
			}
		}
		if o, err := sdk.ParseOwner(s); err == nil {
			if o2, err := sdk.ParseOwner(o.String()); err != nil || o2 != o {
				t.Fatalf("owner %q → %q → %v", s, o.String(), err)
			}
		}
	})
}

// Types that warming encoding/json's caches in ContractOf must survive: a recursive
// type, a large array, a map with struct keys, and a method that panics on the zero
// value.
type (
	tNode struct {
		Next *tNode            `json:"next"`
		Kids []tNode           `json:"kids"`
		By   map[tKey]*tNode   `json:"-"`
		Big  [1 << 16]tPanicky `json:"big"`
	}
	tKey     struct{ A, B int }
	tPanicky struct{ p *int }
)

func (p tPanicky) MarshalJSON() ([]byte, error) { return []byte{byte(*p.p)}, nil }

type tNodeContract struct{}

func (tNodeContract) Instantiate(*sdk.Runtime, tNode) error { return nil }
func (tNodeContract) ExecuteOperation(_ *sdk.Runtime, n tNode) (any, error) {
	return n.Next != nil, nil
}
func (tNodeContract) ExecuteMessage(*sdk.Runtime, tKey) error { return nil }

func TestContractOfOddTypes(t *testing.T) {
	app := sdk.ContractOf[tNode, tKey, tNode](tNodeContract{})
	c := sdktest.NewChain()
	out, err := c.ExecuteOperation(app, []byte(`{"next":{}}`))
	if err != nil || string(out) != "true" {
		t.Fatalf("%s %v", out, err)
	}
}
