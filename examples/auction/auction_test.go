package auction_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

const (
	created  = 1_000_000
	deadline = 2_000_000
)

func owner(name string) sdk.Owner { return sdk.Address32Owner(sha256.Sum256([]byte(name))) }

var (
	seller = owner("seller")
	alice  = owner("alice")
	bob    = owner("bob")
	carol  = owner("carol")
)

// tok returns v whole tokens in attos.
func tok(v uint64) sdk.Amount {
	hi, lo := bits.Mul64(v, 1_000_000_000_000_000_000)
	return sdk.Amount{Lo: lo, Hi: hi}
}

// world is a seller chain (the house's creating chain), the auction chain it opened,
// and bidder chains running the same application.
type world struct {
	t       *testing.T
	house   *sdktest.Chain
	auction *sdktest.Chain
	bidders map[sdk.Owner]*sdktest.Chain
}

var description = []byte("an oil painting, 60 x 80 cm, signed")

func descHash() [32]byte { return sha256.Sum256(description) }

// newWorld creates an auction from the seller's chain and delivers its start message.
func newWorld(t *testing.T, minBid string) *world {
	t.Helper()
	w := &world{t: t, house: sdktest.NewChain(), bidders: map[sdk.Owner]*sdktest.Chain{}}
	h := w.house
	h.Time = created
	h.ChainBalance = tok(5)
	s := seller
	h.Signer = &s
	h.Blobs[descHash()] = description
	if err := h.Instantiate(auction.NewContract(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	d := descHash()
	op := fmt.Sprintf(`{"create": {"item": "a painting", "description": %q, "deadline": %d, "min_bid": %q}}`, hex.EncodeToString(d[:]), deadline, minBid)
	out, err := h.ExecuteOperation(auction.NewContract(), []byte(op))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(h.Opened) != 1 || h.Opened[0].Balance != auction.DefaultChainBalance {
		t.Fatalf("opened %+v", h.Opened)
	}
	id := h.Opened[0].ID
	if want := fmt.Sprintf(`{"auction_chain":%q}`, sdk.ChainID(id)); string(out) != want {
		t.Fatalf("create returned %s, want %s", out, want)
	}
	// The chain balance came from the chain account (the seller's own account is empty).
	checkTransfers(t, h.Transfers, sdktest.Transfer{Source: sdk.ChainOwner(), Recipient: sdk.Account{Chain: h.ID, Owner: h.Application.Owner()}, Amount: auction.DefaultChainBalance})
	if len(h.Messages) != 1 || h.Messages[0].Destination != id || !h.Messages[0].Tracked || !h.Messages[0].Authenticated {
		t.Fatalf("messages %+v", h.Messages)
	}
	w.auction = sdktest.NewChain()
	a := w.auction
	a.ID = id
	a.Time = created
	a.ChainBalance = auction.DefaultChainBalance
	a.Blobs[descHash()] = description
	a.Signer = &s // the start message is signed by the seller
	if err := a.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: h.ID, OriginHeight: 1, OriginTimestamp: created}, h.Messages[0].Message); err != nil {
		t.Fatalf("start: %v", err)
	}
	a.Signer = nil
	if a.ChainBalance != auction.DefaultChainBalance {
		t.Fatalf("chain balance after the ownership proof: %v", a.ChainBalance)
	}
	for _, o := range []sdk.Owner{alice, bob, carol} {
		c := sdktest.NewChain()
		c.ID = sha256.Sum256([]byte("chain of " + o.String()))
		c.Balances[o] = tok(1000)
		signer := o
		c.Signer = &signer
		w.bidders[o] = c
	}
	return w
}

func (w *world) appOwner() sdk.Owner { return w.auction.Application.Owner() }

// bid submits a bid operation of amount tokens on the bidder's chain at time ts and
// returns the bid message it sent, after checking the escrow transfer.
func (w *world) bid(bidder sdk.Owner, amount uint64, ts sdk.Timestamp) sdktest.SentMessage {
	w.t.Helper()
	c := w.bidders[bidder]
	c.Time = ts
	nt, nm := len(c.Transfers), len(c.Messages)
	op := fmt.Sprintf(`{"bid": {"amount": "%d", "auction_chain": %q}}`, amount, w.auction.ID)
	if _, err := c.ExecuteOperation(auction.NewContract(), []byte(op)); err != nil {
		w.t.Fatalf("bid %d by %v: %v", amount, bidder, err)
	}
	want := sdktest.Transfer{Source: bidder, Recipient: sdk.Account{Chain: w.auction.ID, Owner: w.appOwner()}, Amount: tok(amount)}
	if got := c.Transfers[nt:]; len(got) != 1 || got[0] != want {
		w.t.Fatalf("escrow transfers %+v, want %+v", got, want)
	}
	msgs := c.Messages[nm:]
	if len(msgs) != 1 || msgs[0].Destination != w.auction.ID || !msgs[0].Tracked {
		w.t.Fatalf("messages %+v", msgs)
	}
	wantMsg := fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"%d","chain":%q}}`, bidder, amount, c.ID)
	if string(msgs[0].Message) != wantMsg {
		w.t.Fatalf("message %s, want %s", msgs[0].Message, wantMsg)
	}
	return msgs[0]
}

// deliver credits the escrow (the host's Credit message) and runs the bid message on
// the auction chain; it returns the transfers the message made.
func (w *world) deliver(bidder sdk.Owner, m sdktest.SentMessage, amount uint64, ts sdk.Timestamp) []sdktest.Transfer {
	w.t.Helper()
	a := w.auction
	var err error
	if a.Balances[w.appOwner()], err = a.Balances[w.appOwner()].Add(tok(amount)); err != nil {
		w.t.Fatal(err)
	}
	n := len(a.Transfers)
	info := sdk.MessageInfo{Origin: w.bidders[bidder].ID, OriginHeight: 1, OriginTimestamp: ts}
	if err := a.ExecuteMessageFrom(auction.NewContract(), info, m.Message); err != nil {
		w.t.Fatalf("bid message: %v", err)
	}
	return a.Transfers[n:]
}

func (w *world) refundTo(bidder sdk.Owner, amount uint64) sdktest.Transfer {
	return sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: w.bidders[bidder].ID, Owner: bidder}, Amount: tok(amount)}
}

func (w *world) query(q string) string {
	w.t.Helper()
	out, err := w.auction.Query(auction.NewService(), []byte(q))
	if err != nil {
		w.t.Fatalf("query %s: %v", q, err)
	}
	return string(out)
}

func (w *world) best() map[string]any {
	w.t.Helper()
	var r struct {
		Data struct {
			Best map[string]any `json:"best"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(w.query(`{ best }`)), &r); err != nil {
		w.t.Fatal(err)
	}
	return r.Data.Best
}

func (w *world) wantBest(bidder sdk.Owner, amount uint64) {
	w.t.Helper()
	b := w.best()
	if b == nil || b["bidder"] != bidder.String() || b["amount"] != fmt.Sprint(amount) || b["chain"] != w.bidders[bidder].ID.String() {
		w.t.Fatalf("best %v, want %v bidding %d", b, bidder, amount)
	}
}

func checkTransfers(t *testing.T, got []sdktest.Transfer, want ...sdktest.Transfer) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("transfers %+v, want %+v", got, want)
	}
}

func TestAmounts(t *testing.T) {
	for _, c := range []struct {
		in, out string
		attos   sdk.Amount
	}{
		{"8", "8", tok(8)},
		{"0.5", "0.5", sdk.NewAmount(500_000_000_000_000_000)},
		{".5", "0.5", sdk.NewAmount(500_000_000_000_000_000)},
		{"0.000000000000000001", "0.000000000000000001", sdk.NewAmount(1)},
		{"1.250", "1.25", sdk.NewAmount(1_250_000_000_000_000_000)},
		{"0", "0", sdk.Amount{}},
		{"340282366920938463463.374607431768211455", "340282366920938463463.374607431768211455", sdk.Amount{Lo: ^uint64(0), Hi: ^uint64(0)}},
	} {
		a, err := auction.ParseAmount(c.in)
		if err != nil || a != c.attos {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", c.in, a, err, c.attos)
			continue
		}
		if s := auction.FormatAmount(a); s != c.out {
			t.Errorf("FormatAmount(%v) = %q, want %q", a, s, c.out)
		}
	}
	for _, s := range []string{"", ".", "5.", "-1", "1e3", "0x10", "1.0000000000000000001", "340282366920938463463.374607431768211456", strings.Repeat("9", 100), " 1"} {
		if a, err := auction.ParseAmount(s); err == nil {
			t.Errorf("ParseAmount(%q) = %v, want an error", s, a)
		}
	}
	var a auction.Amount
	if err := json.Unmarshal([]byte(`0.5`), &a); err != nil || a.Amount != sdk.NewAmount(500_000_000_000_000_000) {
		t.Errorf("bare JSON 0.5: %v %v", a, err)
	}
}

func TestBiddingAndSettlement(t *testing.T) {
	w := newWorld(t, "10")
	if b := w.best(); b != nil {
		t.Fatalf("best before any bid: %v", b)
	}
	if got := w.query(`{ best }`); got != `{"data":{"best":null}}` {
		t.Fatalf("query: %s", got)
	}
	if got, err := w.house.Query(auction.NewService(), []byte(`{ auctions }`)); err != nil || string(got) != fmt.Sprintf(`{"data":{"auctions":[{"auction_chain":%q,"item":"a painting","deadline":%d}]}}`, w.auction.ID, deadline) {
		t.Fatalf("auctions on the house chain: %s %v", got, err)
	}

	// Below the minimum: refunded.
	m := w.bid(alice, 5, 1_100_000)
	checkTransfers(t, w.deliver(alice, m, 5, 1_100_000), w.refundTo(alice, 5))
	if w.best() != nil {
		t.Fatal("a bid below the minimum became the best")
	}

	// First valid bid: no refund.
	m = w.bid(alice, 10, 1_200_000)
	checkTransfers(t, w.deliver(alice, m, 10, 1_200_000))
	w.wantBest(alice, 10)

	// Outbid: alice is refunded on her chain.
	m = w.bid(bob, 20, 1_300_000)
	checkTransfers(t, w.deliver(bob, m, 20, 1_300_000), w.refundTo(alice, 10))
	w.wantBest(bob, 20)

	// Not above the best: refunded.
	m = w.bid(carol, 15, 1_400_000)
	checkTransfers(t, w.deliver(carol, m, 15, 1_400_000), w.refundTo(carol, 15))
	w.wantBest(bob, 20)

	// Equal and later: refunded. Equal but made earlier (arriving later): it wins.
	m = w.bid(carol, 20, 1_400_000)
	checkTransfers(t, w.deliver(carol, m, 20, 1_400_000), w.refundTo(carol, 20))
	m = w.bid(alice, 20, 1_250_000)
	checkTransfers(t, w.deliver(alice, m, 20, 1_250_000), w.refundTo(bob, 20))
	w.wantBest(alice, 20)

	// Late bid (made at the deadline): refunded.
	m = w.bid(carol, 500, deadline)
	checkTransfers(t, w.deliver(carol, m, 500, deadline), w.refundTo(carol, 500))
	w.wantBest(alice, 20)

	// The escrow holds exactly the best bid.
	if got := w.auction.Balances[w.appOwner()]; got != tok(20) {
		t.Fatalf("escrow %v, want 20 tokens", got)
	}

	st := w.query(`{ status }`)
	d := descHash()
	want := fmt.Sprintf(`{"data":{"status":{"seller":%q,"item":"a painting","description":%q,"description_size":%d,"deadline":%d,"min_bid":"10","auction_chain":%q,"state":"open","bids":3}}}`,
		seller, hex.EncodeToString(d[:]), len(description), deadline, w.auction.ID)
	if st != want {
		t.Fatalf("status\n%s, want\n%s", st, want)
	}

	// Settling before the deadline is refused and changes nothing.
	w.auction.Time = deadline - 1
	before := snapshot(w.auction)
	if _, err := w.auction.ExecuteOperation(auction.NewContract(), []byte(`{"settle": {}}`)); err == nil {
		t.Fatal("settled before the deadline")
	}
	same(t, before, w.auction)

	// At the deadline, settle pays the seller from the escrow.
	w.auction.Time = deadline
	n := len(w.auction.Transfers)
	if _, err := w.auction.ExecuteOperation(auction.NewContract(), []byte(`{"settle": {}}`)); err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, w.auction.Transfers[n:], sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: w.auction.ID, Owner: seller}, Amount: tok(20)})
	if w.auction.Balances[seller] != tok(20) || w.auction.Balances[w.appOwner()] != (sdk.Amount{}) {
		t.Fatalf("balances after settle: %v", w.auction.Balances)
	}
	if st := w.query(`query { status best }`); !strings.Contains(st, `"state":"settled"`) || !strings.Contains(st, `"amount":"20"`) {
		t.Fatalf("status after settle: %s", st)
	}

	// Settling twice is refused and changes nothing.
	before = snapshot(w.auction)
	if _, err := w.auction.ExecuteOperation(auction.NewContract(), []byte(`{"settle": {}}`)); err == nil {
		t.Fatal("settled twice")
	}
	same(t, before, w.auction)

	// A bid made before the deadline but arriving after settlement: refunded.
	m = w.bid(bob, 100, deadline-1)
	checkTransfers(t, w.deliver(bob, m, 100, deadline-1), w.refundTo(bob, 100))
	w.wantBest(alice, 20)
}

// TestFractionalBids: amounts are tokens with decimals, not attos.
func TestFractionalBids(t *testing.T) {
	w := newWorld(t, "0.5")
	c := w.bidders[alice]
	c.Time = 1_100_000
	if _, err := c.ExecuteOperation(auction.NewContract(), []byte(fmt.Sprintf(`{"bid": {"amount": "0.75", "auction_chain": %q}}`, w.auction.ID))); err != nil {
		t.Fatal(err)
	}
	want := sdk.NewAmount(750_000_000_000_000_000)
	if got := c.Transfers[0].Amount; got != want {
		t.Fatalf("escrowed %v attos, want %v", got, want)
	}
	a := w.auction
	a.Balances[w.appOwner()] = want
	if err := a.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1_100_000}, c.Messages[0].Message); err != nil {
		t.Fatal(err)
	}
	if b := w.best(); b["amount"] != "0.75" {
		t.Fatalf("best %v", b)
	}
}

type state struct {
	store     map[string]string
	balances  map[sdk.Owner]sdk.Amount
	chainBal  sdk.Amount
	transfers int
	messages  int
	opened    int
}

func snapshot(c *sdktest.Chain) state {
	s := state{store: map[string]string{}, balances: map[sdk.Owner]sdk.Amount{}, chainBal: c.ChainBalance,
		transfers: len(c.Transfers), messages: len(c.Messages), opened: len(c.Opened)}
	for _, k := range c.Keys() {
		v, _ := c.Get([]byte(k))
		s.store[k] = string(v)
	}
	for o, a := range c.Balances {
		s.balances[o] = a
	}
	return s
}

func same(t *testing.T, before state, c *sdktest.Chain) {
	t.Helper()
	after := snapshot(c)
	after.opened = before.opened // sdktest records opened chains even when the run fails
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed:\n%+v\n%+v", before, after)
	}
}

func TestRefusedOperations(t *testing.T) {
	w := newWorld(t, "10")
	c := w.bidders[alice]
	ac := w.auction.ID.String()
	ops := []string{
		`{"bid": {"bidder": "` + bob.String() + `", "amount": "10", "auction_chain": "` + ac + `"}}`, // not the signer
		`{"bid": {"amount": "0", "auction_chain": "` + ac + `"}}`,                                    // zero
		`{"bid": {"amount": "10"}}`,                                  // no auction chain
		`{"bid": {"amount": "2000", "auction_chain": "` + ac + `"}}`, // insufficient funds
		`{"bid": {"amount": "-1", "auction_chain": "` + ac + `"}}`,
		`{"bid": {"amount": "10", "auction_chain": "` + c.ID.String() + `"}}`, // its own chain
		`{"bid": {"amount": "10", "auction_chain": "` + ac + `", "x": 1}}`,
		`{"settle": {}}`, // not an auction chain
		`{"bid": {}, "settle": {}}`,
		`{"create": {"item": "x", "deadline": 5000000}}`,                // no min_bid
		`{"create": {"item": "", "deadline": 5000000, "min_bid": "1"}}`, // empty item
		`{"create": {"item": "` + strings.Repeat("x", 257) + `", "deadline": 5000000, "min_bid": "1"}}`,
		`{"create": {"item": "x", "deadline": 1, "min_bid": "1"}}`, // past deadline
		`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1", "chain_balance": "0"}}`,
		`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1", "chain_balance": "5000"}}`,                           // cannot fund
		`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1", "description": "` + strings.Repeat("ab", 32) + `"}}`, // no such blob
		`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1", "description": "abc"}}`,
		`{}`,
		`[]`,
	}
	for _, op := range ops {
		before := snapshot(c)
		if _, err := c.ExecuteOperation(auction.NewContract(), []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
		same(t, before, c)
	}
	c.Signer = nil
	for _, op := range []string{
		`{"bid": {"amount": "10", "auction_chain": "` + ac + `"}}`,
		`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1"}}`,
	} {
		before := snapshot(c)
		if _, err := c.ExecuteOperation(auction.NewContract(), []byte(op)); err == nil {
			t.Errorf("unauthenticated %s succeeded", op)
		}
		same(t, before, c)
	}

	// Malformed messages are rejected.
	before := snapshot(w.auction)
	for _, m := range []string{`{}`, `{"bid": {"bidder": "` + alice.String() + `"}}`, `nope`, `{"start": {}}`, `{"start": {}, "bid": {}}`} {
		if err := w.auction.ExecuteMessage(auction.NewContract(), []byte(m)); err == nil {
			t.Errorf("message %s accepted", m)
		}
	}
	// A message whose claimed chain is not its origin.
	m := fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, w.bidders[bob].ID)
	if err := w.auction.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(m)); err == nil {
		t.Error("message with a wrong chain accepted")
	}
	// A second start, signed by the seller or not, is refused.
	start := fmt.Sprintf(`{"start":{"seller":%q,"item":"x","deadline":%d,"min_bid":"1"}}`, seller, deadline)
	s := seller
	w.auction.Signer = &s
	if err := w.auction.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(start)); err == nil {
		t.Error("second start accepted")
	}
	w.auction.Signer = nil
	same(t, before, w.auction)

	// A start not signed by its seller is refused on a fresh chain.
	fresh := sdktest.NewChain()
	fresh.ChainBalance = sdk.NewAmount(1)
	a := alice
	fresh.Signer = &a
	if err := fresh.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(start)); err == nil {
		t.Error("start signed by another owner accepted")
	}
	fresh.Signer = nil
	if err := fresh.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(start)); err == nil {
		t.Error("unsigned start accepted")
	}
	// A bid reaching a chain that runs no auction is refunded, not lost.
	n := len(fresh.Transfers)
	fresh.Balances[fresh.Application.Owner()] = tok(10)
	if err := fresh.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, c.ID))); err != nil {
		t.Errorf("bid on a chain without an auction: %v", err)
	}
	checkTransfers(t, fresh.Transfers[n:], sdktest.Transfer{Source: fresh.Application.Owner(), Recipient: sdk.Account{Chain: c.ID, Owner: alice}, Amount: tok(10)})

	// A bounced bid message is accepted and changes nothing.
	before = snapshot(c)
	if err := c.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: w.auction.ID, IsBouncing: true}, []byte(fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, c.ID))); err != nil {
		t.Errorf("bounced message: %v", err)
	}
	same(t, before, c)

	// Bad instantiation arguments.
	for _, arg := range []string{`{"seller": "xx"}`, `7`, `[]`} {
		if err := sdktest.NewChain().Instantiate(auction.NewContract(), []byte(arg)); err == nil {
			t.Errorf("instantiated with %s", arg)
		}
	}

	// Queries.
	for _, q := range []string{`{ nope }`, `best`, `{}`, `{ best(x: 1) }`, `{ best { bidder } }`, `mutation { bid(auctionChain: "00", amount: "1") }`} {
		if out, err := w.auction.Query(auction.NewService(), []byte(q)); err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("query %q answered %s %v", q, out, err)
		}
	}
	if out, err := c.Query(auction.NewService(), []byte(`{ best }`)); err != nil || !strings.Contains(string(out), "runs no auction") {
		t.Errorf("query on a bidder chain answered %s %v", out, err)
	}
	// Variables, a fragment, aliases, introspection and a mutation.
	out, err := w.auction.GraphQL(auction.NewService(), `query($b: Boolean!) { s: status @include(if: $b) ...B } fragment B on Query { best }`, map[string]any{"b": false})
	if err != nil || string(out) != `{"data":{"best":null}}` {
		t.Errorf("variables, fragment, alias: %s %v", out, err)
	}
	out, err = w.auction.Query(auction.NewService(), []byte(`{ __schema { queryType { name } } }`))
	if err != nil || string(out) != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Errorf("introspection: %s %v", out, err)
	}
	out, err = c.GraphQL(auction.NewService(), `mutation($a: ChainID!) { bid(auctionChain: $a, amount: "1.5") }`, map[string]any{"a": w.auction.ID.String()})
	if err != nil || string(out) != `{"data":{"bid":true}}` || len(c.Scheduled) != 1 ||
		string(c.Scheduled[0]) != `{"bid":{"amount":"1.5","auction_chain":"`+w.auction.ID.String()+`"}}` {
		t.Errorf("bid mutation: %s %v %q", out, err, c.Scheduled)
	}
}

// TestTwoAuctions: two create operations open two chains, each with its own start.
func TestTwoAuctions(t *testing.T) {
	w := newWorld(t, "1")
	h := w.house
	if _, err := h.ExecuteOperation(auction.NewContract(), []byte(`{"create": {"item": "a vase", "deadline": 3000000, "min_bid": "2", "chain_balance": "0.5"}}`)); err != nil {
		t.Fatal(err)
	}
	if len(h.Opened) != 2 || h.Opened[1].ID == h.Opened[0].ID || h.Opened[1].Balance != sdk.NewAmount(500_000_000_000_000_000) {
		t.Fatalf("opened %+v", h.Opened)
	}
	if !strings.Contains(string(h.Messages[1].Message), `"item":"a vase"`) || h.Messages[1].Destination != h.Opened[1].ID {
		t.Fatalf("second start %+v", h.Messages[1])
	}
	got, err := h.Query(auction.NewService(), []byte(`{ auctions }`))
	if err != nil || strings.Count(string(got), "auction_chain") != 2 {
		t.Fatalf("auctions %s %v", got, err)
	}
}

// TestSettleWithoutBids settles an auction nobody bid on: no transfer.
func TestSettleWithoutBids(t *testing.T) {
	w := newWorld(t, "340282366920938463463.374607431768211455") // 2^128-1 attos
	if st := w.query(`{ status }`); !strings.Contains(st, `"min_bid":"340282366920938463463.374607431768211455"`) {
		t.Fatalf("status %s", st)
	}
	w.auction.Time = deadline + 5
	if _, err := w.auction.ExecuteOperation(auction.NewContract(), []byte(`{"settle": {}}`)); err != nil {
		t.Fatal(err)
	}
	if len(w.auction.Transfers) != 1 { // only the start's ownership proof
		t.Fatalf("transfers %v", w.auction.Transfers)
	}
}

// TestChainAccountBid: a bidder whose own account is short pays from the chain
// account, and the refund goes back to the chain account.
func TestChainAccountBid(t *testing.T) {
	w := newWorld(t, "1")
	c := w.bidders[bob]
	delete(c.Balances, bob)
	c.ChainBalance = tok(50)
	c.Time = 1_100_000
	if _, err := c.ExecuteOperation(auction.NewContract(), []byte(fmt.Sprintf(`{"bid": {"amount": "2", "auction_chain": %q}}`, w.auction.ID))); err != nil {
		t.Fatal(err)
	}
	if c.ChainBalance != tok(48) || c.Transfers[0].Source != sdk.ChainOwner() {
		t.Fatalf("chain balance %v, transfers %+v", c.ChainBalance, c.Transfers)
	}
	want := fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"2","chain":%q,"account":%q}}`, bob, c.ID, sdk.ChainOwner())
	if got := string(c.Messages[0].Message); got != want {
		t.Fatalf("message %s, want %s", got, want)
	}
	a := w.auction
	a.Balances[w.appOwner()] = tok(2)
	a.Time = deadline
	if err := a.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: c.ID, OriginTimestamp: deadline}, c.Messages[0].Message); err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, a.Transfers[1:], sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: c.ID, Owner: sdk.ChainOwner()}, Amount: tok(2)})
}
