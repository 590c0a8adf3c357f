package client_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// appOp commits a block on cc with one operation of app.
func appOp(t *testing.T, cc *client.ChainClient, app base.ApplicationID, op string) *protocol.Certificate {
	t.Helper()
	cert, err := cc.ExecuteOperations(context.Background(), []protocol.Operation{{App: app, Bytes: []byte(op)}}, nil)
	if err != nil {
		t.Fatalf("operation %s: %v", op, err)
	}
	return cert
}

// processInbox commits a block receiving cc's pending bundles and fails if there are none.
func processInbox(t *testing.T, cc *client.ChainClient, who string) {
	t.Helper()
	cert, err := cc.ProcessInbox(context.Background())
	if err != nil {
		t.Fatalf("%s processes its inbox: %v", who, err)
	}
	if cert == nil {
		t.Fatalf("%s: nothing in the inbox", who)
	}
}

// queryAll queries app on chain on every validator, checks that they agree, and returns
// the answer.
func queryAll(t *testing.T, n *net, chain base.ChainID, app base.ApplicationID, q string) string {
	t.Helper()
	var first string
	for i, w := range n.workers {
		got, err := w.QueryApplication(context.Background(), chain, app, []byte(q))
		if err != nil {
			t.Fatalf("validator %d: query %s: %v", i, q, err)
		}
		if i == 0 {
			first = string(got)
		} else if string(got) != first {
			t.Fatalf("validators disagree on %s:\n%s\n%s", q, first, got)
		}
	}
	return first
}

// balanceAll returns an account's native balance, checking that all validators agree.
func balanceAll(t *testing.T, n *net, a base.Account) base.Amount {
	t.Helper()
	b := n.balance(0, a)
	for i := 1; i < len(n.workers); i++ {
		if o := n.balance(i, a); o != b {
			t.Fatalf("validators 0 and %d disagree on %s: %s vs %s", i, a, b.AttosString(), o.AttosString())
		}
	}
	return b
}

type auctionView struct {
	Data struct {
		Best *struct {
			Bidder    string `json:"bidder"`
			Amount    string `json:"amount"`
			Chain     string `json:"chain"`
			Timestamp uint64 `json:"timestamp"`
		} `json:"best"`
		Status struct {
			Seller       string `json:"seller"`
			Item         string `json:"item"`
			Deadline     uint64 `json:"deadline"`
			MinBid       string `json:"min_bid"`
			AuctionChain string `json:"auction_chain"`
			State        string `json:"state"`
			Bids         uint64 `json:"bids"`
		} `json:"status"`
	} `json:"data"`
}

// TestAuctionRefundsAndSettles runs the auction example across three chains: two bidders
// escrow native tokens from their own chains, the outbid bidder is refunded, a bid made
// after the deadline is refunded even though it is the highest, and settling pays the
// best bid to the seller. Native amounts in the auction's JSON are attos.
func TestAuctionRefundsAndSettles(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	start := time.Now()
	ctx := context.Background()
	contract, service := buildExample(t, "auction")
	t.Logf("built the auction in %v", time.Since(start))
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	seller, b1, b2 := prototest.Key("seller"), prototest.Key("bidder1"), prototest.Key("bidder2")
	n := newNetWithLoader(t, []*crypto.PrivateKey{seller, b1, b2}, base.Tokens(100), wasm.NewLoader(engine, 0))
	s := n.client().Chain(n.chains[0], seller, nil)
	c1 := n.client().Chain(n.chains[1], b1, nil)
	c2 := n.client().Chain(n.chains[2], b2, nil)
	so, o1, o2 := seller.Public().Owner(), b1.Public().Owner(), b2.Public().Owner()
	sellerAcc := base.Account{Chain: n.chains[0], Owner: so}
	acc1 := base.Account{Chain: n.chains[1], Owner: o1}
	acc2 := base.Account{Chain: n.chains[2], Owner: o2}
	attos := base.AmountFromAttos

	// The genesis credits the chain accounts; the contract escrows from the bidder's own
	// account (the block's authenticated owner), so each bidder first funds it.
	for _, f := range []struct {
		cc  *client.ChainClient
		acc base.Account
	}{{c1, acc1}, {c2, acc2}} {
		if _, err := f.cc.Transfer(ctx, base.ChainOwner, f.acc, attos(100)); err != nil {
			t.Fatalf("fund %s: %v", f.acc, err)
		}
	}

	deadline := uint64(n.clock.Now()) + 1_000_000
	arg := `{"seller": "` + so.String() + `", "item": "a painting", "deadline": ` + strconv.FormatUint(deadline, 10) + `, "min_bid": "5"}`
	createStart := time.Now()
	app := createApp(t, s, contract, service, arg)
	t.Logf("funding done; publishing and creating the auction took %v", time.Since(createStart))
	escrow := base.Account{Chain: n.chains[0], Owner: execution.ApplicationOwner(app)}
	view := func() auctionView {
		t.Helper()
		var v auctionView
		raw := queryAll(t, n, n.chains[0], app, "{ best status }")
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		return v
	}
	if v := view(); v.Data.Best != nil || v.Data.Status.State != "open" || v.Data.Status.Bids != 0 || v.Data.Status.MinBid != "5" || v.Data.Status.AuctionChain != n.chains[0].String() {
		t.Fatalf("new auction: %+v", v)
	}
	bid := func(cc *client.ChainClient, o base.Owner, amount string) {
		t.Helper()
		appOp(t, cc, app, `{"bid": {"bidder": "`+o.String()+`", "amount": "`+amount+`", "auction_chain": "`+n.chains[0].String()+`"}}`)
	}

	bidStart := time.Now()
	// The auction chain receives each bid before the next is made, so bidder 1's bid
	// becomes the best and is then outbid (the refund-on-outbid path).
	bid(c1, o1, "10")
	if got := balanceAll(t, n, acc1); got != attos(90) {
		t.Fatalf("bidder 1 after bidding: %s attos, want 90", got.AttosString())
	}
	processInbox(t, s, "the auction chain (bid 1)")
	if v := view(); v.Data.Best == nil || v.Data.Best.Bidder != o1.String() || v.Data.Best.Amount != "10" || v.Data.Status.Bids != 1 {
		t.Fatalf("after bid 1: %+v", v)
	}
	if got := balanceAll(t, n, escrow); got != attos(10) {
		t.Fatalf("escrow after bid 1: %s attos, want 10", got.AttosString())
	}
	n.clock.Advance(1000)
	bid(c2, o2, "20")
	if got := balanceAll(t, n, acc2); got != attos(80) {
		t.Fatalf("bidder 2 after bidding: %s attos, want 80", got.AttosString())
	}
	processInbox(t, s, "the auction chain (bid 2)")
	v := view()
	if v.Data.Best == nil || v.Data.Best.Bidder != o2.String() || v.Data.Best.Amount != "20" || v.Data.Best.Chain != n.chains[2].String() {
		t.Fatalf("best after both bids: %+v", v.Data.Best)
	}
	if v.Data.Status.State != "open" || v.Data.Status.Bids != 2 {
		t.Fatalf("status before the deadline: %+v", v.Data.Status)
	}
	if got := balanceAll(t, n, escrow); got != attos(20) {
		t.Fatalf("escrow after the refund: %s attos, want 20", got.AttosString())
	}
	processInbox(t, c1, "bidder 1")
	if got := balanceAll(t, n, acc1); got != attos(100) {
		t.Fatalf("bidder 1 after the refund: %s attos, want 100", got.AttosString())
	}
	if got := balanceAll(t, n, acc2); got != attos(80) {
		t.Fatalf("bidder 2 (best): %s attos, want 80", got.AttosString())
	}
	// Settling before the deadline fails and changes nothing.
	if _, err := s.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"settle": {}}`)}}, nil); err == nil {
		t.Fatal("settled before the deadline")
	}

	// Past the deadline: a higher bid from bidder 1 is refused and refunded.
	n.clock.Advance(2_000_000)
	bid(c1, o1, "30")
	if got := balanceAll(t, n, acc1); got != attos(70) {
		t.Fatalf("bidder 1 after the late bid: %s attos, want 70", got.AttosString())
	}
	processInbox(t, s, "the auction chain (late bid)")
	if v := view(); v.Data.Best == nil || v.Data.Best.Bidder != o2.String() || v.Data.Best.Amount != "20" || v.Data.Status.State != "ended" {
		t.Fatalf("after the late bid: best %+v, state %q", v.Data.Best, v.Data.Status.State)
	}
	processInbox(t, c1, "bidder 1 (late refund)")
	if got := balanceAll(t, n, acc1); got != attos(100) {
		t.Fatalf("bidder 1 after the late refund: %s attos, want 100", got.AttosString())
	}

	// Settle: the seller gets the best bid, the escrow is empty.
	before := balanceAll(t, n, sellerAcc)
	appOp(t, s, app, `{"settle": {}}`)
	after := balanceAll(t, n, sellerAcc)
	if want, err := before.Add(attos(20)); err != nil || after != want {
		t.Fatalf("seller: %s attos before, %s after settling, want +20", before.AttosString(), after.AttosString())
	}
	if got := balanceAll(t, n, escrow); !got.IsZero() {
		t.Fatalf("escrow after settling: %s attos", got.AttosString())
	}
	if v := view(); v.Data.Status.State != "settled" || v.Data.Best == nil || v.Data.Best.Amount != "20" {
		t.Fatalf("after settling: %+v", v)
	}
	// Settling twice fails.
	if _, err := s.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"settle": {}}`)}}, nil); err == nil {
		t.Fatal("settled twice")
	}
	if got := balanceAll(t, n, acc2); got != attos(80) {
		t.Fatalf("bidder 2 after settling: %s attos, want 80", got.AttosString())
	}
	t.Logf("bids, refunds and settling took %v", time.Since(bidStart))
}

// TestCrowdFundingRefundsAfterDeadline: two backers pledge fungible tokens from their own
// chains to a campaign on a third chain without reaching the target; after the deadline
// a late pledge is sent back, the campaign is cancelled, and every backer gets its tokens
// back on its own chain.
func TestCrowdFundingRefundsAfterDeadline(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	start := time.Now()
	ctx := context.Background()
	fc, fs := buildExample(t, "fungible")
	cc, cs := buildExample(t, "crowdfunding")
	t.Logf("built fungible and crowdfunding in %v", time.Since(start))
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
	alice, bob, carol := prototest.Key("alice"), prototest.Key("bob"), prototest.Key("carol")
	n := newNetWithLoader(t, []*crypto.PrivateKey{alice, bob, carol}, base.Tokens(100), wasm.NewLoader(engine, 0))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	c := n.client().Chain(n.chains[2], carol, nil)
	ao, bo, co := alice.Public().Owner().String(), bob.Public().Owner().String(), carol.Public().Owner().String()
	createStart := time.Now()
	token := createApp(t, a, fc, fs, `{"accounts": {"`+ao+`": "100"}}`)
	t.Logf("publishing and creating the token took %v", time.Since(createStart))
	bal := func(chain base.ChainID, owner string) string {
		t.Helper()
		var v struct {
			Data struct {
				Balance string `json:"balance"`
			} `json:"data"`
		}
		raw := queryAll(t, n, chain, token, `{ balance(owner: "`+owner+`") }`)
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		return v.Data.Balance
	}
	// Bob gets 40 tokens on his chain.
	appOp(t, a, token, `{"transfer": {"owner": "`+ao+`", "amount": "40", "target_chain": "`+n.chains[1].String()+`", "target_owner": "`+bo+`"}}`)
	processInbox(t, b, "bob")
	if got, gotB := bal(n.chains[0], ao), bal(n.chains[1], bo); got != "60" || gotB != "40" {
		t.Fatalf("before pledging: alice %s, bob %s; want 60, 40", got, gotB)
	}

	deadline := uint64(n.clock.Now()) + 1_000_000
	createStart = time.Now()
	campaign := createApp(t, c, cc, cs, `{"owner": "`+co+`", "token": "`+token.String()+`", "target": "100", "deadline": `+strconv.FormatUint(deadline, 10)+`}`)
	t.Logf("publishing and creating the campaign took %v", time.Since(createStart))
	appOwner := execution.ApplicationOwner(campaign).String()
	pledge := func(cc *client.ChainClient, owner, amount string) {
		t.Helper()
		appOp(t, cc, campaign, `{"pledge": {"owner": "`+owner+`", "amount": "`+amount+`", "campaign_chain": "`+n.chains[2].String()+`", "token": "`+token.String()+`"}}`)
	}
	status := func() string {
		t.Helper()
		return queryAll(t, n, n.chains[2], campaign, "{ pledged status }")
	}

	flowStart := time.Now()
	pledge(a, ao, "25")
	pledge(b, bo, "15")
	processInbox(t, c, "the campaign chain")
	if got := status(); got != `{"data":{"pledged":"40","status":"active"}}` {
		t.Fatalf("campaign after the pledges: %s", got)
	}
	if got, gotB, gotE := bal(n.chains[0], ao), bal(n.chains[1], bo), bal(n.chains[2], appOwner); got != "35" || gotB != "25" || gotE != "40" {
		t.Fatalf("after pledging: alice %s, bob %s, campaign account %s; want 35, 25, 40", got, gotB, gotE)
	}
	// Neither collecting (below the target) nor cancelling (before the deadline) works.
	for _, op := range []string{`{"collect": {}}`, `{"cancel": {}}`} {
		if _, err := c.ExecuteOperations(ctx, []protocol.Operation{{App: campaign, Bytes: []byte(op)}}, nil); err == nil {
			t.Fatalf("%s accepted before the deadline below the target", op)
		}
	}

	n.clock.Advance(2_000_000)
	// A pledge made after the deadline is sent back when it arrives.
	pledge(a, ao, "5")
	if got := bal(n.chains[0], ao); got != "30" {
		t.Fatalf("alice after the late pledge: %s, want 30", got)
	}
	processInbox(t, c, "the campaign chain (late pledge)")
	if got := status(); got != `{"data":{"pledged":"40","status":"active"}}` {
		t.Fatalf("campaign after the late pledge: %s", got)
	}
	appOp(t, c, campaign, `{"cancel": {}}`)
	if got := status(); got != `{"data":{"pledged":"40","status":"cancelled"}}` {
		t.Fatalf("campaign after cancelling: %s", got)
	}
	if got := bal(n.chains[2], appOwner); got != "0" {
		t.Fatalf("campaign account after cancelling: %s", got)
	}
	processInbox(t, a, "alice")
	processInbox(t, b, "bob")
	if got, gotB := bal(n.chains[0], ao), bal(n.chains[1], bo); got != "60" || gotB != "40" {
		t.Fatalf("after the refunds: alice %s, bob %s; want 60, 40 (as before pledging)", got, gotB)
	}
	if got := bal(n.chains[2], co); got != "0" {
		t.Fatalf("campaign owner after cancelling: %s", got)
	}
	// A cancelled campaign can be neither collected nor cancelled again.
	for _, op := range []string{`{"collect": {}}`, `{"cancel": {}}`} {
		if _, err := c.ExecuteOperations(ctx, []protocol.Operation{{App: campaign, Bytes: []byte(op)}}, nil); err == nil {
			t.Fatalf("%s accepted on a cancelled campaign", op)
		}
	}
	t.Logf("pledges, cancel and refunds took %v", time.Since(flowStart))
}
