package auction_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

const deadline = 2_000_000

func owner(name string) sdk.Owner { return sdk.Address32Owner(sha256.Sum256([]byte(name))) }

var (
	seller = owner("seller")
	alice  = owner("alice")
	bob    = owner("bob")
	carol  = owner("carol")
)

func amt(v uint64) sdk.Amount { return sdk.NewAmount(v) }

// world is an auction chain and bidder chains running the same application.
type world struct {
	t       *testing.T
	auction *sdktest.Chain
	bidders map[sdk.Owner]*sdktest.Chain
}

func newWorld(t *testing.T, minBid string) *world {
	t.Helper()
	w := &world{t: t, auction: sdktest.NewChain(), bidders: map[sdk.Owner]*sdktest.Chain{}}
	w.auction.Time = 1_000_000
	arg := fmt.Sprintf(`{"seller": %q, "item": "a painting", "deadline": %d, "min_bid": %q}`, seller, deadline, minBid)
	if err := w.auction.Instantiate(auction.Contract{}, []byte(arg)); err != nil {
		t.Fatal(err)
	}
	for _, o := range []sdk.Owner{alice, bob, carol} {
		c := sdktest.NewChain()
		c.ID = sha256.Sum256([]byte("chain of " + o.String()))
		c.Balances[o] = amt(1000)
		signer := o
		c.Signer = &signer
		w.bidders[o] = c
	}
	return w
}

func (w *world) appOwner() sdk.Owner { return w.auction.Application.Owner() }

// bid submits a bid operation on the bidder's chain at time ts and returns the bid
// message it sent, after checking the escrow transfer.
func (w *world) bid(bidder sdk.Owner, amount uint64, ts sdk.Timestamp) sdktest.SentMessage {
	w.t.Helper()
	c := w.bidders[bidder]
	c.Time = ts
	nt, nm := len(c.Transfers), len(c.Messages)
	op := fmt.Sprintf(`{"bid": {"bidder": %q, "amount": "%d", "auction_chain": %q}}`, bidder, amount, w.auction.ID)
	if _, err := c.ExecuteOperation(auction.Contract{}, []byte(op)); err != nil {
		w.t.Fatalf("bid %d by %v: %v", amount, bidder, err)
	}
	want := sdktest.Transfer{Source: bidder, Recipient: sdk.Account{Chain: w.auction.ID, Owner: w.appOwner()}, Amount: amt(amount)}
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
	if a.Balances[w.appOwner()], err = a.Balances[w.appOwner()].Add(amt(amount)); err != nil {
		w.t.Fatal(err)
	}
	n := len(a.Transfers)
	info := sdk.MessageInfo{Origin: w.bidders[bidder].ID, OriginHeight: 1, OriginTimestamp: ts}
	if err := a.ExecuteMessageFrom(auction.Contract{}, info, m.Message); err != nil {
		w.t.Fatalf("bid message: %v", err)
	}
	return a.Transfers[n:]
}

func (w *world) refundTo(bidder sdk.Owner, amount uint64) sdktest.Transfer {
	return sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: w.bidders[bidder].ID, Owner: bidder}, Amount: amt(amount)}
}

func (w *world) query(q string) string {
	w.t.Helper()
	out, err := w.auction.Query(auction.Service{}, []byte(q))
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

func TestBiddingAndSettlement(t *testing.T) {
	w := newWorld(t, "10")
	if b := w.best(); b != nil {
		t.Fatalf("best before any bid: %v", b)
	}
	if got := w.query(`{ best }`); got != `{"data":{"best":null}}` {
		t.Fatalf("query: %s", got)
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
	if got := w.auction.Balances[w.appOwner()]; got != amt(20) {
		t.Fatalf("escrow %v, want 20", got)
	}

	st := w.query(`{ status }`)
	want := fmt.Sprintf(`{"data":{"status":{"seller":%q,"item":"a painting","deadline":%d,"min_bid":"10","auction_chain":%q,"state":"open","bids":3}}}`, seller, deadline, w.auction.ID)
	if st != want {
		t.Fatalf("status\n%s, want\n%s", st, want)
	}

	// Settling before the deadline is refused and changes nothing.
	w.auction.Time = deadline - 1
	before := snapshot(w.auction)
	if _, err := w.auction.ExecuteOperation(auction.Contract{}, []byte(`{"settle": {}}`)); err == nil {
		t.Fatal("settled before the deadline")
	}
	same(t, before, w.auction)

	// At the deadline, settle pays the seller from the escrow.
	w.auction.Time = deadline
	n := len(w.auction.Transfers)
	if _, err := w.auction.ExecuteOperation(auction.Contract{}, []byte(`{"settle": {}}`)); err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, w.auction.Transfers[n:], sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: w.auction.ID, Owner: seller}, Amount: amt(20)})
	if w.auction.Balances[seller] != amt(20) || w.auction.Balances[w.appOwner()] != (sdk.Amount{}) {
		t.Fatalf("balances after settle: %v", w.auction.Balances)
	}
	if st := w.query(`query { status best }`); !strings.Contains(st, `"state":"settled"`) || !strings.Contains(st, `"amount":"20"`) {
		t.Fatalf("status after settle: %s", st)
	}

	// Settling twice is refused and changes nothing.
	before = snapshot(w.auction)
	if _, err := w.auction.ExecuteOperation(auction.Contract{}, []byte(`{"settle": {}}`)); err == nil {
		t.Fatal("settled twice")
	}
	same(t, before, w.auction)

	// A bid made before the deadline but arriving after settlement: refunded.
	m = w.bid(bob, 100, deadline-1)
	checkTransfers(t, w.deliver(bob, m, 100, deadline-1), w.refundTo(bob, 100))
	w.wantBest(alice, 20)
}

type state struct {
	store     map[string]string
	balances  map[sdk.Owner]sdk.Amount
	chainBal  sdk.Amount
	transfers int
	messages  int
}

func snapshot(c *sdktest.Chain) state {
	s := state{store: map[string]string{}, balances: map[sdk.Owner]sdk.Amount{}, chainBal: c.ChainBalance,
		transfers: len(c.Transfers), messages: len(c.Messages)}
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
	if after := snapshot(c); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed:\n%+v\n%+v", before, after)
	}
}

func TestRefusedOperations(t *testing.T) {
	w := newWorld(t, "10")
	c := w.bidders[alice]
	ac := w.auction.ID.String()
	ops := []string{
		`{"bid": {"bidder": "` + bob.String() + `", "amount": "10", "auction_chain": "` + ac + `"}}`,     // not the signer
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "0", "auction_chain": "` + ac + `"}}`,    // zero
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "10"}}`,                                  // no auction chain
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "2000", "auction_chain": "` + ac + `"}}`, // insufficient funds
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "-1", "auction_chain": "` + ac + `"}}`,
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "10", "auction_chain": "` + c.ID.String() + `"}}`, // no auction here
		`{"bid": {"bidder": "` + alice.String() + `", "amount": "10", "auction_chain": "` + ac + `", "x": 1}}`,
		`{"settle": {}}`, // not the auction chain
		`{"bid": {}, "settle": {}}`,
		`{}`,
		`[]`,
	}
	for _, op := range ops {
		before := snapshot(c)
		if _, err := c.ExecuteOperation(auction.Contract{}, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
		same(t, before, c)
	}
	c.Signer = nil
	before := snapshot(c)
	if _, err := c.ExecuteOperation(auction.Contract{}, []byte(`{"bid": {"bidder": "`+alice.String()+`", "amount": "10", "auction_chain": "`+ac+`"}}`)); err == nil {
		t.Error("unauthenticated bid succeeded")
	}
	same(t, before, c)

	// Malformed messages and messages on a chain without the auction are rejected.
	before = snapshot(w.auction)
	for _, m := range []string{`{}`, `{"bid": {"bidder": "` + alice.String() + `"}}`, `nope`} {
		if err := w.auction.ExecuteMessage(auction.Contract{}, []byte(m)); err == nil {
			t.Errorf("message %s accepted", m)
		}
	}
	// A message whose claimed chain is not its origin.
	m := fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, w.bidders[bob].ID)
	if err := w.auction.ExecuteMessageFrom(auction.Contract{}, sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(m)); err == nil {
		t.Error("message with a wrong chain accepted")
	}
	same(t, before, w.auction)
	if err := c.ExecuteMessageFrom(auction.Contract{}, sdk.MessageInfo{Origin: c.ID, OriginTimestamp: 1}, []byte(fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, c.ID))); err == nil {
		t.Error("bid accepted on a chain without the auction")
	}

	// A bounced bid message is accepted and changes nothing.
	before = snapshot(c)
	if err := c.ExecuteMessageFrom(auction.Contract{}, sdk.MessageInfo{Origin: w.auction.ID, IsBouncing: true}, []byte(fmt.Sprintf(`{"bid":{"bidder":%q,"amount":"10","chain":%q}}`, alice, c.ID))); err != nil {
		t.Errorf("bounced message: %v", err)
	}
	same(t, before, c)

	// Bad instantiation arguments.
	for _, arg := range []string{`{}`, `{"seller": "xx", "item": "i", "deadline": 1, "min_bid": "1"}`, `{"seller": "` + seller.String() + `", "item": "i", "deadline": 1}`, `7`} {
		if err := sdktest.NewChain().Instantiate(auction.Contract{}, []byte(arg)); err == nil {
			t.Errorf("instantiated with %s", arg)
		}
	}

	// Queries.
	for _, q := range []string{`{ nope }`, `best`, `{}`, `{ best(x: 1) }`} {
		if out, err := w.auction.Query(auction.Service{}, []byte(q)); err == nil {
			t.Errorf("query %q answered %s", q, out)
		}
	}
	if out, err := c.Query(auction.Service{}, []byte(`{ best }`)); err == nil {
		t.Errorf("query on a bidder chain answered %s", out)
	}
}

// TestLocalBid bids on the auction chain itself: refused bids fail the operation.
func TestLocalBid(t *testing.T) {
	w := newWorld(t, "10")
	a := w.auction
	a.Balances[alice], a.Balances[bob] = amt(100), amt(100)
	signer := alice
	a.Signer = &signer
	if _, err := a.ExecuteOperation(auction.Contract{}, []byte(`{"bid": {"bidder": "`+alice.String()+`", "amount": "30"}}`)); err != nil {
		t.Fatal(err)
	}
	escrow := sdk.Account{Chain: a.ID, Owner: w.appOwner()}
	checkTransfers(t, a.Transfers, sdktest.Transfer{Source: alice, Recipient: escrow, Amount: amt(30)})
	if len(a.Messages) != 0 || a.Balances[w.appOwner()] != amt(30) || a.Balances[alice] != amt(70) {
		t.Fatalf("messages %v balances %v", a.Messages, a.Balances)
	}
	signer = bob
	for _, op := range []string{
		`{"bid": {"bidder": "` + bob.String() + `", "amount": "30"}}`,                                                        // not above
		`{"bid": {"bidder": "` + bob.String() + `", "amount": "5"}}`,                                                         // below minimum
		`{"bid": {"bidder": "` + bob.String() + `", "amount": "40", "auction_chain": "` + w.bidders[bob].ID.String() + `"}}`, // wrong chain
	} {
		before := snapshot(a)
		if _, err := a.ExecuteOperation(auction.Contract{}, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
		same(t, before, a)
	}
	n := len(a.Transfers)
	if _, err := a.ExecuteOperation(auction.Contract{}, []byte(`{"bid": {"bidder": "`+bob.String()+`", "amount": "31", "auction_chain": "`+a.ID.String()+`"}}`)); err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, a.Transfers[n:],
		sdktest.Transfer{Source: bob, Recipient: escrow, Amount: amt(31)},
		sdktest.Transfer{Source: w.appOwner(), Recipient: sdk.Account{Chain: a.ID, Owner: alice}, Amount: amt(30)})
	if a.Balances[alice] != amt(100) || a.Balances[bob] != amt(69) || a.Balances[w.appOwner()] != amt(31) {
		t.Fatalf("balances %v", a.Balances)
	}
	a.Time = deadline
	before := snapshot(a)
	if _, err := a.ExecuteOperation(auction.Contract{}, []byte(`{"bid": {"bidder": "`+bob.String()+`", "amount": "50"}}`)); err == nil {
		t.Error("late local bid succeeded")
	}
	same(t, before, a)
	if st := w.query(`{ status }`); !strings.Contains(st, `"state":"ended"`) {
		t.Fatalf("status %s", st)
	}
}

// TestSettleWithoutBids settles an auction nobody bid on: no transfer.
func TestSettleWithoutBids(t *testing.T) {
	w := newWorld(t, "340282366920938463463374607431768211455") // 2^128-1
	if st := w.query(`{ status }`); !strings.Contains(st, `"min_bid":"340282366920938463463374607431768211455"`) {
		t.Fatalf("status %s", st)
	}
	w.auction.Time = deadline + 5
	if _, err := w.auction.ExecuteOperation(auction.Contract{}, []byte(`{"settle": {}}`)); err != nil {
		t.Fatal(err)
	}
	if len(w.auction.Transfers) != 0 {
		t.Fatalf("transfers %v", w.auction.Transfers)
	}
	if err := sdktest.NewChain().Instantiate(auction.Contract{}, []byte(fmt.Sprintf(`{"seller": %q, "item": "i", "deadline": 1, "min_bid": "340282366920938463463374607431768211456"}`, seller))); err == nil {
		t.Error("min_bid of 2^128 accepted")
	}
}
