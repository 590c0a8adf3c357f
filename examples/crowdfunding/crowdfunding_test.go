package crowdfunding_test

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/crowdfunding"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

var (
	alice = sdk.Address32Owner(sha256.Sum256([]byte("alice")))
	bob   = sdk.Address32Owner(sha256.Sum256([]byte("bob")))
	carol = sdk.Address32Owner(sha256.Sum256([]byte("carol"))) // campaign owner
	token = sdk.ApplicationID(sha256.Sum256([]byte("token")))
)

// call is a call the contract made to another application.
type call struct {
	auth bool
	app  sdk.ApplicationID
	arg  string
}

// fakeToken installs a CallApplication hook on c that records the calls.
func fakeToken(c *sdktest.Chain) *[]call {
	var calls []call
	c.CallApplication = func(auth bool, app sdk.ApplicationID, arg []byte) ([]byte, error) {
		calls = append(calls, call{auth, app, string(arg)})
		return nil, nil
	}
	return &calls
}

func transfer(owner sdk.Owner, amount string, chain sdk.ChainID, target sdk.Owner) string {
	return fmt.Sprintf(`{"transfer":{"owner":%q,"amount":%q,"target_chain":%q,"target_owner":%q}}`, owner, amount, chain, target)
}

const deadline = 1_700_000_001_000_000

// setup returns the campaign chain A (target 100, deadline one second after its
// time) and a backer chain B, with their token call records.
func setup(t *testing.T) (a, b *sdktest.Chain, aCalls, bCalls *[]call) {
	t.Helper()
	a = sdktest.NewChain()
	arg := fmt.Sprintf(`{"owner": %q, "token": %q, "target": "100", "deadline": %d}`, carol, token, deadline)
	if err := a.Instantiate(crowdfunding.NewContract(), []byte(arg)); err != nil {
		t.Fatal(err)
	}
	b = sdktest.NewChain()
	b.ID = sha256.Sum256([]byte("chain B"))
	return a, b, fakeToken(a), fakeToken(b)
}

func query(t *testing.T, c *sdktest.Chain) string {
	t.Helper()
	out, err := c.Query(crowdfunding.NewService(), []byte(`{ pledged status }`))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func want(pledged, status string) string {
	return fmt.Sprintf(`{"data":{"pledged":%q,"status":%q}}`, pledged, status)
}

func op(t *testing.T, c *sdktest.Chain, signer *sdk.Owner, s string) error {
	t.Helper()
	c.Signer = signer
	_, err := c.ExecuteOperation(crowdfunding.NewContract(), []byte(s))
	return err
}

func pledgeLocal(o sdk.Owner, amount string) string {
	return fmt.Sprintf(`{"pledge": {"owner": %q, "amount": %q}}`, o, amount)
}

func pledgeRemote(o sdk.Owner, amount string, chain sdk.ChainID) string {
	return fmt.Sprintf(`{"pledge": {"owner": %q, "amount": %q, "campaign_chain": %q, "token": %q}}`, o, amount, chain, token)
}

// pledgeFromB pledges on B and delivers the message to A.
func pledgeFromB(t *testing.T, a, b *sdktest.Chain, o sdk.Owner, amount string) {
	t.Helper()
	n := len(b.Messages)
	if err := op(t, b, &o, pledgeRemote(o, amount, a.ID)); err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != n+1 {
		t.Fatalf("B sent %d messages", len(b.Messages)-n)
	}
	m := b.Messages[n]
	wantMsg := fmt.Sprintf(`{"pledged":{"owner":%q,"amount":%q,"token":%q}}`, o, amount, token)
	if m.Destination != a.ID || !m.Tracked || string(m.Message) != wantMsg {
		t.Fatalf("message %+v %s, want %s", m, m.Message, wantMsg)
	}
	if err := a.ExecuteMessageFrom(crowdfunding.NewContract(), sdk.MessageInfo{Origin: b.ID, OriginTimestamp: b.Time}, m.Message); err != nil {
		t.Fatal(err)
	}
}

func checkCalls(t *testing.T, got []call, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d token calls %v, want %d", len(got), got, len(want))
	}
	for i, c := range got {
		if !c.auth || c.app != token || c.arg != want[i] {
			t.Errorf("call %d: %+v, want authenticated %s", i, c, want[i])
		}
	}
}

func TestPledgeAndCollect(t *testing.T) {
	a, b, aCalls, bCalls := setup(t)
	app := a.Application.Owner()
	if got := query(t, a); got != want("0", "active") {
		t.Fatal(got)
	}
	if got := query(t, b); got != want("0", "none") {
		t.Fatal(got)
	}
	if err := op(t, a, &alice, pledgeLocal(alice, "30")); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, *aCalls, transfer(alice, "30", a.ID, app))
	pledgeFromB(t, a, b, bob, "50")
	checkCalls(t, *bCalls, transfer(bob, "50", a.ID, app))
	if got := query(t, a); got != want("80", "active") {
		t.Fatal(got)
	}
	// Collecting before the target is reached is refused.
	snap := maps.Collect(store(a))
	if err := op(t, a, &carol, `{"collect": {}}`); err == nil {
		t.Fatal("collected below the target")
	}
	unchanged(t, a, snap, aCalls, 1)
	pledgeFromB(t, a, b, bob, "25")
	if v, _ := a.Get([]byte(fmt.Sprintf("pledge/%v/%v", b.ID, bob))); string(v) != `"75"` {
		t.Fatalf("bob's pledge: %s", v)
	}
	// Only the campaign owner collects.
	snap = maps.Collect(store(a))
	if err := op(t, a, &alice, `{"collect": {}}`); err == nil {
		t.Fatal("alice collected")
	}
	unchanged(t, a, snap, aCalls, 1)
	if err := op(t, a, &carol, `{"collect": {}}`); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, *aCalls, transfer(alice, "30", a.ID, app), transfer(app, "105", a.ID, carol))
	if got := query(t, a); got != want("105", "collected") {
		t.Fatal(got)
	}
	// Closed: no second collect, no cancel, no local pledge; a late remote pledge is refunded.
	snap = maps.Collect(store(a))
	for _, o := range []string{`{"collect": {}}`, `{"cancel": {}}`, pledgeLocal(carol, "1")} {
		a.Time = deadline + 1
		if err := op(t, a, &carol, o); err == nil {
			t.Errorf("%s succeeded", o)
		}
	}
	unchanged(t, a, snap, aCalls, 2)
	pledgeFromB(t, a, b, alice, "7")
	checkCalls(t, *aCalls, transfer(alice, "30", a.ID, app), transfer(app, "105", a.ID, carol), transfer(app, "7", b.ID, alice))
	unchanged(t, a, snap, aCalls, 3)
}

func TestCancel(t *testing.T) {
	a, b, aCalls, _ := setup(t)
	app := a.Application.Owner()
	if err := op(t, a, &alice, pledgeLocal(alice, "30")); err != nil {
		t.Fatal(err)
	}
	pledgeFromB(t, a, b, bob, "20")
	if err := op(t, a, &alice, pledgeLocal(alice, "5")); err != nil {
		t.Fatal(err)
	}
	snap := maps.Collect(store(a))
	if err := op(t, a, &carol, `{"cancel": {}}`); err == nil {
		t.Fatal("cancelled before the deadline")
	}
	unchanged(t, a, snap, aCalls, 2)
	a.Time = deadline
	if err := op(t, a, &alice, pledgeLocal(alice, "5")); err == nil {
		t.Fatal("pledged after the deadline")
	}
	unchanged(t, a, snap, aCalls, 2)
	if err := op(t, a, nil, `{"cancel": {}}`); err != nil {
		t.Fatal(err)
	}
	// Refunds in key order (chain, then owner): A's chain id sorts first here.
	refunds := []string{transfer(app, "35", a.ID, alice), transfer(app, "20", b.ID, bob)}
	if b.ID.String() < a.ID.String() {
		refunds[0], refunds[1] = refunds[1], refunds[0]
	}
	checkCalls(t, (*aCalls)[2:], refunds...)
	if got := query(t, a); got != want("55", "cancelled") {
		t.Fatal(got)
	}
	if err := op(t, a, nil, `{"cancel": {}}`); err == nil {
		t.Fatal("cancelled twice")
	}
}

func TestRefused(t *testing.T) {
	a, b, aCalls, bCalls := setup(t)
	snap := maps.Collect(store(a))
	for _, c := range []struct {
		signer *sdk.Owner
		op     string
	}{
		{&bob, pledgeLocal(alice, "10")},          // wrong owner
		{nil, pledgeLocal(alice, "10")},           // unauthenticated
		{&alice, pledgeLocal(alice, "0")},         // nothing
		{&alice, pledgeRemote(alice, "10", b.ID)}, // wrong campaign chain
		{&carol, `{"collect": {}}`},               // below the target
		{&carol, `{"cancel": {}}`},                // before the deadline
		{&carol, `{"collect": {}, "cancel": {}}`},
		{&carol, `{"withdraw": {}}`},
	} {
		if err := op(t, a, c.signer, c.op); err == nil {
			t.Errorf("%s succeeded", c.op)
		}
	}
	unchanged(t, a, snap, aCalls, 0)
	// Off the campaign chain the pledge must name the campaign; collect/cancel are refused.
	for _, o := range []string{pledgeLocal(bob, "10"), `{"collect": {}}`, `{"cancel": {}}`} {
		if err := op(t, b, &bob, o); err == nil {
			t.Errorf("B: %s succeeded", o)
		}
	}
	if err := op(t, b, &alice, pledgeRemote(bob, "10", a.ID)); err == nil {
		t.Error("B: alice pledged for bob")
	}
	if len(*bCalls) != 0 || len(b.Messages) != 0 || len(b.Keys()) != 0 {
		t.Errorf("B changed: %v %v %v", *bCalls, b.Messages, b.Keys())
	}
	// A pledge in another token is rejected by the campaign chain.
	other := sdk.ApplicationID(sha256.Sum256([]byte("other")))
	msg := fmt.Sprintf(`{"pledged":{"owner":%q,"amount":"10","token":%q}}`, bob, other)
	if err := a.ExecuteMessageFrom(crowdfunding.NewContract(), sdk.MessageInfo{Origin: b.ID}, []byte(msg)); err == nil {
		t.Error("accepted a pledge in another token")
	}
	unchanged(t, a, snap, aCalls, 0)
	// A bounced pledge is ignored on the backer's chain.
	good := fmt.Sprintf(`{"pledged":{"owner":%q,"amount":"10","token":%q}}`, bob, token)
	if err := b.ExecuteMessageFrom(crowdfunding.NewContract(), sdk.MessageInfo{Origin: a.ID, IsBouncing: true}, []byte(good)); err != nil {
		t.Error(err)
	}
	// Bad instantiation arguments.
	for _, arg := range []string{
		`{}`,
		fmt.Sprintf(`{"owner": %q, "token": %q, "target": "0", "deadline": 1}`, carol, token),
		fmt.Sprintf(`{"owner": %q, "token": "00", "target": "1", "deadline": 1}`, carol),
		fmt.Sprintf(`{"owner": %q, "token": %q, "target": "1", "deadline": 1, "chain": %q}`, carol, token, a.ID),
	} {
		c := sdktest.NewChain()
		if err := c.Instantiate(crowdfunding.NewContract(), []byte(arg)); err == nil || len(c.Keys()) != 0 {
			t.Errorf("instantiated with %s (%v)", arg, err)
		}
	}
	for _, q := range []string{`{ nope }`, `pledged`, `{}`, `{ pledged(x: 1) }`, `mutation { pledge(owner: "0x1", amount: "1") }`} {
		if out, err := a.Query(crowdfunding.NewService(), []byte(q)); err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("query %q answered %s %v", q, out, err)
		}
	}
	// Variables, a fragment, aliases and introspection.
	out, err := a.GraphQL(crowdfunding.NewService(), `query Q($skip: Boolean!) { s: status ...P total: pledged @skip(if: $skip) } fragment P on Query { pledged }`,
		map[string]any{"skip": true})
	if err != nil || string(out) != `{"data":{"s":"active","pledged":"0"}}` {
		t.Errorf("variables, fragment, aliases: %s %v", out, err)
	}
	out, err = a.Query(crowdfunding.NewService(), []byte(`{ __schema { queryType { name } } }`))
	if err != nil || string(out) != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Errorf("introspection: %s %v", out, err)
	}
	// Mutations schedule the operations.
	out, err = a.GraphQL(crowdfunding.NewService(), `mutation($o: Owner!) { pledge(owner: $o, amount: "3") collect cancel }`, map[string]any{"o": carol.String()})
	if err != nil || string(out) != `{"data":{"pledge":true,"collect":true,"cancel":true}}` || len(a.Scheduled) != 3 ||
		string(a.Scheduled[0]) != fmt.Sprintf(`{"pledge":{"owner":%q,"amount":"3"}}`, carol) || string(a.Scheduled[1]) != `{"collect":{}}` {
		t.Errorf("mutations: %s %v %q", out, err, a.Scheduled)
	}
	if out, err := a.Query(crowdfunding.NewService(), []byte(`{"query": "query Q { status }"}`)); err != nil || string(out) != `{"data":{"status":"active"}}` {
		t.Errorf("query: %s %v", out, err)
	}
}

// store iterates over the chain's storage.
func store(c *sdktest.Chain) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for _, k := range c.Keys() {
			v, _ := c.Get([]byte(k))
			if !yield(k, string(v)) {
				return
			}
		}
	}
}

func unchanged(t *testing.T, c *sdktest.Chain, snap map[string]string, calls *[]call, n int) {
	t.Helper()
	if got := maps.Collect(store(c)); !maps.Equal(got, snap) {
		t.Errorf("storage changed: %v, was %v", got, snap)
	}
	if len(*calls) != n {
		t.Errorf("%d token calls, want %d", len(*calls), n)
	}
}
