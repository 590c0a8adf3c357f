package fungible_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

var (
	alice = sdk.Address32Owner(sha256.Sum256([]byte("alice")))
	bob   = sdk.Address32Owner(sha256.Sum256([]byte("bob")))
	carol = sdk.Address20Owner([20]byte{0xca, 0xfe, 19: 1})
)

// chains returns the creator chain A, instantiated with alice: 100 and carol: 5, and
// a second chain B running the same application, not instantiated.
func chains(t *testing.T) (a, b *sdktest.Chain) {
	t.Helper()
	a = sdktest.NewChain()
	arg := fmt.Sprintf(`{"accounts": {%q: "100", %q: "5"}}`, alice, strings.TrimPrefix(carol.String(), "0x"))
	if err := a.Instantiate(fungible.NewContract(), []byte(arg)); err != nil {
		t.Fatal(err)
	}
	b = sdktest.NewChain()
	b.ID = sha256.Sum256([]byte("chain B"))
	return a, b
}

func balance(t *testing.T, c *sdktest.Chain, o sdk.Owner) string {
	t.Helper()
	out, err := c.Query(fungible.NewService(), fmt.Appendf(nil, `{ balance(owner: %q) }`, o))
	if err != nil {
		t.Fatalf("balance query: %v", err)
	}
	var r struct {
		Data struct {
			Balance string `json:"balance"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("balance answer %s: %v", out, err)
	}
	return r.Data.Balance
}

func accounts(t *testing.T, c *sdktest.Chain) string {
	t.Helper()
	out, err := c.Query(fungible.NewService(), []byte(`{ accounts }`))
	if err != nil {
		t.Fatalf("accounts query: %v", err)
	}
	return string(out)
}

func transfer(owner sdk.Owner, amount string, chain sdk.ChainID, target sdk.Owner) []byte {
	return fmt.Appendf(nil, `{"transfer": {"owner": %q, "amount": %q, "target_chain": %q, "target_owner": %q}}`,
		owner, amount, chain, target)
}

func TestInstantiate(t *testing.T) {
	a, _ := chains(t)
	if got := balance(t, a, alice); got != "100" {
		t.Errorf("alice: %s", got)
	}
	if got := balance(t, a, carol); got != "5" {
		t.Errorf("carol: %s", got)
	}
	if got := balance(t, a, bob); got != "0" {
		t.Errorf("bob: %s", got)
	}
	want := fmt.Sprintf(`{"data":{"accounts":{%q:"100",%q:"5"}}}`, alice, carol)
	if got := accounts(t, a); got != want {
		t.Errorf("accounts: %s, want %s", got, want)
	}
	for _, arg := range []string{
		`{"accounts": {"0x00": "1"}}`,
		fmt.Sprintf(`{"accounts": {%q: "18446744073709551616"}}`, alice),
		fmt.Sprintf(`{"accounts": {%q: "-1"}}`, alice),
		fmt.Sprintf(`{"accounts": {%q: "1.5"}}`, alice),
		fmt.Sprintf(`{"accounts": {%q: "18446744073709551615", %q: "1"}}`, alice, strings.ToUpper(alice.String()[2:])),
		`{"balances": {}}`,
		`[]`,
	} {
		c := sdktest.NewChain()
		if err := c.Instantiate(fungible.NewContract(), []byte(arg)); err == nil {
			t.Errorf("instantiated with %s", arg)
		} else if len(c.Keys()) != 0 {
			t.Errorf("%s: wrote %v", arg, c.Keys())
		}
	}
}

func TestTransferSameChain(t *testing.T) {
	a, _ := chains(t)
	a.Signer = &alice
	if _, err := a.ExecuteOperation(fungible.NewContract(), transfer(alice, "30", a.ID, bob)); err != nil {
		t.Fatal(err)
	}
	if balance(t, a, alice) != "70" || balance(t, a, bob) != "30" {
		t.Fatalf("after transfer: %s", accounts(t, a))
	}
	// Emptying an account removes it.
	if _, err := a.ExecuteOperation(fungible.NewContract(), transfer(alice, "70", a.ID, bob)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"data":{"accounts":{%q:"100",%q:"5"}}}`, bob, carol) // sorted keys
	if got := accounts(t, a); got != want {
		t.Errorf("accounts: %s, want %s", got, want)
	}
	if len(a.Messages) != 0 {
		t.Errorf("messages: %v", a.Messages)
	}
}

func TestTransferCrossChainAndBounce(t *testing.T) {
	a, b := chains(t)
	a.Signer = &alice
	if _, err := a.ExecuteOperation(fungible.NewContract(), transfer(alice, "40", b.ID, bob)); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, a, alice); got != "60" {
		t.Fatalf("alice after sending: %s", got)
	}
	if len(a.Messages) != 1 {
		t.Fatalf("%d messages", len(a.Messages))
	}
	m := a.Messages[0]
	wantMsg := fmt.Sprintf(`{"credit":{"owner":%q,"amount":"40","source":%q}}`, bob, alice)
	if m.Destination != b.ID || !m.Tracked || m.Authenticated || string(m.Message) != wantMsg {
		t.Fatalf("message %+v (%s), want tracked %s to %v", m, m.Message, wantMsg, b.ID)
	}

	// Delivered on chain B: bob is credited there.
	if err := b.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: a.ID}, m.Message); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b, bob); got != "40" {
		t.Errorf("bob on B: %s", got)
	}
	if got := balance(t, a, bob); got != "0" {
		t.Errorf("bob on A: %s", got)
	}

	// Rejected and bounced back to chain A: alice is refunded, bob gets nothing.
	if err := a.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: b.ID, IsBouncing: true}, m.Message); err != nil {
		t.Fatal(err)
	}
	if balance(t, a, alice) != "100" || balance(t, a, bob) != "0" {
		t.Errorf("after bounce: %s", accounts(t, a))
	}

	// A credit that would overflow is rejected (so the tracked message bounces).
	b.Set([]byte("balance/"+bob.String()), []byte(`"18446744073709551615"`))
	if err := b.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: a.ID}, m.Message); err == nil {
		t.Error("overflowing credit accepted")
	}
}

func TestRefusals(t *testing.T) {
	a, b := chains(t)
	before := accounts(t, a)
	batches := a.WriteBatches
	for _, tc := range []struct {
		signer *sdk.Owner
		op     []byte
		want   string
	}{
		{&alice, transfer(alice, "101", a.ID, bob), "insufficient balance"},
		{&alice, transfer(alice, "101", b.ID, bob), "insufficient balance"},
		{&bob, transfer(bob, "1", b.ID, alice), "insufficient balance"},
		{&bob, transfer(alice, "1", a.ID, bob), "unauthorized"},
		{&bob, transfer(alice, "1", b.ID, bob), "unauthorized"},
		{nil, transfer(alice, "1", a.ID, bob), "unauthorized"},
		{&alice, transfer(alice, "-1", a.ID, bob), "amount"},
		{&alice, transfer(alice, "18446744073709551616", a.ID, bob), "overflow"},
		{&alice, []byte(`{"transfer": {"owner": "` + alice.String() + `", "amount": "1"}}`), "needs"},
		{&alice, []byte(`{"transfer": {}, "claim": {}}`), "exactly one"},
		{&alice, []byte(`{"mint": {}}`), `unknown field "mint"`},
		{&alice, []byte(`{"transfer": {"owner": "` + alice.String() + `", "amount": "1", "target_chain": "` + a.ID.String() + `", "target_owner": "chain"}} []`), "after the JSON value"},
		{&alice, []byte(`{"transfer": {"owner": "0xzz", "amount": "1", "target_chain": "00", "target_owner": "chain"}}`), "invalid owner"},
	} {
		a.Signer = tc.signer
		_, err := a.ExecuteOperation(fungible.NewContract(), tc.op)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.op, err, tc.want)
		}
	}
	if got := accounts(t, a); got != before || a.WriteBatches != batches || len(a.Messages) != 0 {
		t.Errorf("state changed: %s (was %s), %d batches, %d messages", got, before, a.WriteBatches-batches, len(a.Messages))
	}
	for _, msg := range []string{`{"credit": {}, "withdraw": {}}`, `{}`, `{"debit": {}}`} {
		if err := a.ExecuteMessage(fungible.NewContract(), []byte(msg)); err == nil {
			t.Errorf("message %s accepted", msg)
		}
	}
}

func TestAuthenticatedCaller(t *testing.T) {
	a, _ := chains(t)
	app := sdk.ApplicationID(sha256.Sum256([]byte("other app")))
	if err := a.Instantiate(fungible.NewContract(), fmt.Appendf(nil, `{"accounts": {%q: "9"}}`, app.Owner())); err != nil {
		t.Fatal(err)
	}
	a.Caller = &app
	if _, err := a.ExecuteOperation(fungible.NewContract(), transfer(app.Owner(), "4", a.ID, bob)); err != nil {
		t.Fatal(err)
	}
	if balance(t, a, app.Owner()) != "5" || balance(t, a, bob) != "4" {
		t.Errorf("after app transfer: %s", accounts(t, a))
	}
}

func TestClaim(t *testing.T) {
	a, b := chains(t)
	// On chain B, alice claims 10 of her tokens on chain A for bob on chain B.
	b.Signer = &alice
	claim := fmt.Appendf(nil, `{"claim": {"source_chain": %q, "owner": %q, "amount": "10", "target_chain": %q, "target_owner": %q}}`,
		a.ID, alice, b.ID, bob)
	if _, err := b.ExecuteOperation(fungible.NewContract(), claim); err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 1 || b.Messages[0].Destination != a.ID || !b.Messages[0].Tracked || !b.Messages[0].Authenticated {
		t.Fatalf("claim messages: %+v", b.Messages)
	}
	w := b.Messages[0].Message
	wantW := fmt.Sprintf(`{"withdraw":{"owner":%q,"amount":"10","target_chain":%q,"target_owner":%q}}`, alice, b.ID, bob)
	if string(w) != wantW {
		t.Fatalf("withdraw %s, want %s", w, wantW)
	}
	// Without alice's authentication the withdrawal is refused.
	a.Signer = &bob
	if err := a.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: b.ID}, w); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("unauthenticated withdraw: %v", err)
	}
	// A bounced withdrawal changes nothing.
	if err := b.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: a.ID, IsBouncing: true}, w); err != nil {
		t.Fatal(err)
	}
	// The authenticated message (sdktest: Signer) debits alice on A and credits B.
	a.Signer = &alice
	if err := a.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: b.ID}, w); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, a, alice); got != "90" {
		t.Errorf("alice on A: %s", got)
	}
	if len(a.Messages) != 1 || a.Messages[0].Destination != b.ID || !a.Messages[0].Tracked {
		t.Fatalf("credit messages: %+v", a.Messages)
	}
	if err := b.ExecuteMessageFrom(fungible.NewContract(), sdk.MessageInfo{Origin: a.ID}, a.Messages[0].Message); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b, bob); got != "10" {
		t.Errorf("bob on B: %s", got)
	}
	// A claim on the source chain itself runs at once.
	if _, err := a.ExecuteOperation(fungible.NewContract(), fmt.Appendf(nil,
		`{"claim": {"source_chain": %q, "owner": %q, "amount": "5", "target_chain": %q, "target_owner": %q}}`, a.ID, alice, a.ID, carol)); err != nil {
		t.Fatal(err)
	}
	if balance(t, a, alice) != "85" || balance(t, a, carol) != "10" {
		t.Errorf("after local claim: %s", accounts(t, a))
	}
}

func TestQueries(t *testing.T) {
	a, _ := chains(t)
	both := fmt.Sprintf(`{"data":{"accounts":{%q:"100",%q:"5"},"balance":"100"}}`, alice, carol)
	for q, want := range map[string]string{
		fmt.Sprintf(`{ balance(owner: %q) }`, alice):                               `{"data":{"balance":"100"}}`,
		fmt.Sprintf(`{ balance(owner: %q) }`, strings.ToUpper(alice.String()[2:])): `{"data":{"balance":"100"}}`,
		fmt.Sprintf(`query Q { balance( owner : %q ) }`, carol):                    `{"data":{"balance":"5"}}`,
		fmt.Sprintf(`{"query": %q}`, fmt.Sprintf(`{ balance(owner: %q) }`, bob)):   `{"data":{"balance":"0"}}`,
		fmt.Sprintf("{\n  accounts,\n  balance(owner: %q)\n}", alice):              both,
		`{ accounts }`: fmt.Sprintf(`{"data":{"accounts":{%q:"100",%q:"5"}}}`, alice, carol),
	} {
		out, err := a.Query(fungible.NewService(), []byte(q))
		if err != nil || string(out) != want {
			t.Errorf("query %s: %s %v, want %s", q, out, err, want)
		}
	}
	for _, q := range []string{
		`{ nope }`, `accounts`, `{}`, `{ balance }`, `{ balance(owner: "0x12") }`, `{ balance(who: "chain") }`,
		`{ accounts(owner: "chain") }`, `{ balance(owner: "chain" }`, `{ accounts } x`, `{ balance(owner: 12) }`,
	} {
		if out, err := a.Query(fungible.NewService(), []byte(q)); err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("query %q answered %s %v", q, out, err)
		}
	}
	// Variables, fragments, aliases and introspection.
	out, err := a.GraphQL(fungible.NewService(), `query B($o: Owner!, $p: Owner!) { a: balance(owner: $o) ...F c: balance(owner: $p) }
		fragment F on Query { accounts }`, map[string]any{"o": alice.String(), "p": carol.String()})
	if want := fmt.Sprintf(`{"data":{"a":"100","accounts":{%q:"100",%q:"5"},"c":"5"}}`, alice, carol); err != nil || string(out) != want {
		t.Errorf("variables, fragment, aliases: %s %v, want %s", out, err, want)
	}
	out, err = a.Query(fungible.NewService(), []byte(`{ __schema { queryType { name } mutationType { fields { name } } } }`))
	if want := `{"data":{"__schema":{"queryType":{"name":"Query"},"mutationType":{"fields":[{"name":"transfer"}]}}}}`; err != nil || string(out) != want {
		t.Errorf("introspection: %s %v", out, err)
	}
	out, err = a.GraphQL(fungible.NewService(), `query($o: Owner!) { balance(owner: $o) }`, map[string]any{"o": "0xzz"})
	if err != nil || !strings.Contains(string(out), `invalid owner`) {
		t.Errorf("bad variable: %s %v", out, err)
	}
	// The transfer mutation schedules the operation.
	out, err = a.GraphQL(fungible.NewService(), `mutation($o: Owner!, $c: ChainID!) { transfer(owner: $o, amount: "7", targetChain: $c, targetOwner: "chain") }`,
		map[string]any{"o": alice.String(), "c": a.ID.String()})
	if err != nil || string(out) != `{"data":{"transfer":true}}` || len(a.Scheduled) != 1 {
		t.Fatalf("transfer mutation: %s %v %q", out, err, a.Scheduled)
	}
	if _, err := a.ExecuteOperation(fungible.NewContract(), a.Scheduled[0]); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("the scheduled transfer, unsigned: %v", err) // decodes, then needs alice's signature
	}
	// An empty chain answers with empty accounts.
	if got := accounts(t, sdktest.NewChain()); got != `{"data":{"accounts":{}}}` {
		t.Errorf("empty accounts: %s", got)
	}
}

func TestJSONTypes(t *testing.T) {
	var a fungible.Amount
	for in, want := range map[string]fungible.Amount{`"0"`: 0, `"18446744073709551615"`: 1<<64 - 1, `7`: 7} {
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("%s: %v %v", in, a, err)
		}
	}
	for _, in := range []string{`""`, `"1e3"`, `"+1"`, `" 1"`, `-1`, `1.0`, `null`, `true`} {
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s accepted as %v", in, a)
		}
	}
	for _, o := range []sdk.Owner{alice, carol, sdk.ChainOwner(), sdk.ReservedOwner(3)} {
		got, err := fungible.ParseOwner(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOwner(%s) = %v %v", o, got, err)
		}
	}
	c := sha256.Sum256([]byte("c"))
	for _, s := range []string{sdk.ChainID(c).String(), "0x" + sdk.ChainID(c).String()} {
		if got, err := fungible.ParseChain(s); err != nil || !reflect.DeepEqual(got, sdk.ChainID(c)) {
			t.Errorf("ParseChain(%s) = %v %v", s, got, err)
		}
	}
}

// TestTickerSymbolParameter: the application's parameters carry the ticker symbol,
// which the service answers on every chain (no storage needed); instantiation refuses
// invalid parameters, and a token created without parameters has none.
func TestTickerSymbolParameter(t *testing.T) {
	query := func(c *sdktest.Chain) string {
		t.Helper()
		out, err := c.Query(fungible.NewService(), []byte(`{ tickerSymbol }`))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a := sdktest.NewChain()
	a.Parameters = []byte(`{"ticker_symbol": "MICA"}`)
	if err := a.Instantiate(fungible.NewContract(), []byte(`{"accounts": {}}`)); err != nil {
		t.Fatal(err)
	}
	b := sdktest.NewChain() // another chain: nothing stored there
	b.ID, b.Parameters = sha256.Sum256([]byte("chain B")), a.Parameters
	for _, c := range []*sdktest.Chain{a, b} {
		if got := query(c); got != `{"data":{"tickerSymbol":"MICA"}}` {
			t.Errorf("tickerSymbol: %s", got)
		}
	}
	for _, p := range []string{`{"ticker_symbol": "mica"}`, `{"ticker_symbol": "WAYTOOLONGTICKER1"}`, `{"ticker": "MICA"}`, `"MICA"`} {
		c := sdktest.NewChain()
		c.Parameters = []byte(p)
		if err := c.Instantiate(fungible.NewContract(), []byte(`{"accounts": {}}`)); err == nil {
			t.Errorf("instantiated with parameters %s", p)
		}
		if got := query(c); !strings.HasPrefix(got, `{"errors":[{"message":"invalid application parameters`) {
			t.Errorf("tickerSymbol with parameters %s: %s", p, got)
		}
	}
	if got := query(sdktest.NewChain()); got != `{"data":{"tickerSymbol":null}}` {
		t.Errorf("tickerSymbol without parameters: %s", got)
	}
}
