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
			Seller          string `json:"seller"`
			Item            string `json:"item"`
			Description     string `json:"description"`
			DescriptionSize uint64 `json:"description_size"`
			Deadline        uint64 `json:"deadline"`
			MinBid          string `json:"min_bid"`
			AuctionChain    string `json:"auction_chain"`
			State           string `json:"state"`
			Bids            uint64 `json:"bids"`
		} `json:"status"`
	} `json:"data"`
}

// TestAuctionRefundsAndSettles runs the auction house across chains: the seller's
// create operation opens a chain for the auction, whose description is a data blob
// published on a bidder's chain; two bidders escrow native tokens from their own
// chains, the outbid bidder is refunded, a bid made after the deadline is refunded
// even though it is the highest, and settling pays the best bid to the seller.
// Amounts in the auction's JSON are tokens.
func TestAuctionRefundsAndSettles(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	start := time.Now()
	ctx := context.Background()
	contract, service := buildExample(t, "auction")
	t.Logf("built the auction in %v", time.Since(start))
	engine := exampleEngine(t)
	seller, b1, b2 := prototest.Key("seller"), prototest.Key("bidder1"), prototest.Key("bidder2")
	n := newNetWithLoader(t, []*crypto.PrivateKey{seller, b1, b2}, base.Tokens(100), wasm.NewLoader(engine, 0))
	s := n.client().Chain(n.chains[0], seller, nil)
	c1 := n.client().Chain(n.chains[1], b1, nil)
	c2 := n.client().Chain(n.chains[2], b2, nil)
	so, o1, o2 := seller.Public().Owner(), b1.Public().Owner(), b2.Public().Owner()
	chainAcc := func(i int) base.Account { return base.Account{Chain: n.chains[i], Owner: base.ChainOwner} }
	tokens := base.Tokens

	// The description is a data blob published on bidder 1's chain.
	desc := []byte("an oil painting, 60 x 80 cm")
	hash, _, err := c1.PublishDataBlob(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := n.client().ReadDataBlob(ctx, hash); err != nil || string(got) != string(desc) {
		t.Fatalf("read the description back: %q %v", got, err)
	}
	house := createApp(t, s, contract, service, `{}`)
	deadline := uint64(n.clock.Now()) + 1_000_000
	cert := appOp(t, s, house, `{"create": {"item": "a painting", "description": "`+hash.String()+`", "deadline": `+strconv.FormatUint(deadline, 10)+`, "min_bid": "5", "chain_balance": "1"}}`)
	res := cert.Block.Outcome.OperationResults
	var created struct {
		AuctionChain string `json:"auction_chain"`
	}
	if err := json.Unmarshal(res[len(res)-1], &created); err != nil {
		t.Fatalf("create returned %q: %v", res[len(res)-1], err)
	}
	ac, err := base.ParseChainID(created.AuctionChain)
	if err != nil {
		t.Fatal(err)
	}
	if got := balanceAll(t, n, chainAcc(0)); got != tokens(99) {
		t.Fatalf("seller chain after funding the auction chain: %s", got)
	}
	a := n.client().Chain(ac, seller, nil)
	processInbox(t, a, "the auction chain (start)")
	escrow := base.Account{Chain: ac, Owner: execution.ApplicationOwner(house)}
	view := func() auctionView {
		t.Helper()
		var v auctionView
		raw := queryAll(t, n, ac, house, "{ best status }")
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		return v
	}
	if v := view(); v.Data.Best != nil || v.Data.Status.State != "open" || v.Data.Status.Bids != 0 || v.Data.Status.MinBid != "5" ||
		v.Data.Status.AuctionChain != ac.String() || v.Data.Status.DescriptionSize != uint64(len(desc)) || v.Data.Status.Seller != so.String() {
		t.Fatalf("new auction: %+v", v)
	}
	bid := func(cc *client.ChainClient, amount string) {
		t.Helper()
		appOp(t, cc, house, `{"bid": {"amount": "`+amount+`", "auction_chain": "`+ac.String()+`"}}`)
	}

	bidStart := time.Now()
	// The auction chain receives each bid before the next is made, so bidder 1's bid
	// becomes the best and is then outbid (the refund-on-outbid path).
	bid(c1, "10")
	if got := balanceAll(t, n, chainAcc(1)); got != tokens(90) {
		t.Fatalf("bidder 1 after bidding: %s, want 90", got)
	}
	processInbox(t, a, "the auction chain (bid 1)")
	if v := view(); v.Data.Best == nil || v.Data.Best.Bidder != o1.String() || v.Data.Best.Amount != "10" || v.Data.Status.Bids != 1 {
		t.Fatalf("after bid 1: %+v", v)
	}
	if got := balanceAll(t, n, escrow); got != tokens(10) {
		t.Fatalf("escrow after bid 1: %s, want 10", got)
	}
	n.clock.Advance(1000)
	bid(c2, "20.5")
	processInbox(t, a, "the auction chain (bid 2)")
	v := view()
	if v.Data.Best == nil || v.Data.Best.Bidder != o2.String() || v.Data.Best.Amount != "20.5" || v.Data.Best.Chain != n.chains[2].String() {
		t.Fatalf("best after both bids: %+v", v.Data.Best)
	}
	processInbox(t, c1, "bidder 1")
	if got := balanceAll(t, n, chainAcc(1)); got != tokens(100) {
		t.Fatalf("bidder 1 after the refund: %s, want 100", got)
	}
	// Settling before the deadline fails and changes nothing.
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: house, Bytes: []byte(`{"settle": {}}`)}}, nil); err == nil {
		t.Fatal("settled before the deadline")
	}

	// Past the deadline: a higher bid from bidder 1 is refused and refunded.
	n.clock.Advance(2_000_000)
	bid(c1, "30")
	processInbox(t, a, "the auction chain (late bid)")
	if v := view(); v.Data.Best == nil || v.Data.Best.Bidder != o2.String() || v.Data.Best.Amount != "20.5" || v.Data.Status.State != "ended" {
		t.Fatalf("after the late bid: best %+v, state %q", v.Data.Best, v.Data.Status.State)
	}
	processInbox(t, c1, "bidder 1 (late refund)")
	if got := balanceAll(t, n, chainAcc(1)); got != tokens(100) {
		t.Fatalf("bidder 1 after the late refund: %s, want 100", got)
	}

	// Settle: the seller gets the best bid on the auction chain, the escrow is empty.
	appOp(t, a, house, `{"settle": {}}`)
	want, _ := base.ParseAmount("20.5")
	if got := balanceAll(t, n, base.Account{Chain: ac, Owner: so}); got != want {
		t.Fatalf("seller after settling: %s, want 20.5", got)
	}
	if got := balanceAll(t, n, escrow); !got.IsZero() {
		t.Fatalf("escrow after settling: %s", got)
	}
	if v := view(); v.Data.Status.State != "settled" {
		t.Fatalf("after settling: %+v", v)
	}
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{{App: house, Bytes: []byte(`{"settle": {}}`)}}, nil); err == nil {
		t.Fatal("settled twice")
	}
	want, _ = base.ParseAmount("79.5")
	if got := balanceAll(t, n, chainAcc(2)); got != want {
		t.Fatalf("bidder 2 after settling: %s, want 79.5", got)
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
	engine := exampleEngine(t)
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
