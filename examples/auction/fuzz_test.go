package auction_test

import (
	"encoding/json"
	"testing"

	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/sdk"
)

// FuzzAuctionInputs feeds arbitrary operations, messages and queries to a started
// auction and arbitrary amounts to the parser: nothing panics, a refused operation or
// message changes nothing, and a parsed amount survives formatting.
func FuzzAuctionInputs(f *testing.F) {
	f.Add([]byte(`{"bid": {"amount": "10", "auction_chain": "00"}}`), "0.5")
	f.Add([]byte(`{"create": {"item": "x", "deadline": 5000000, "min_bid": "1"}}`), "8")
	f.Add([]byte(`{"bid":{"bidder":"chain","amount":"1","chain":"00"}}`), "1.000000000000000001")
	f.Add([]byte(`{"start":{"seller":"0x00","item":"x","deadline":1,"min_bid":"1"}}`), "")
	f.Add([]byte(`{ best status auctions }`), "340282366920938463463.374607431768211455")
	f.Fuzz(func(t *testing.T, input []byte, amount string) {
		if a, err := auction.ParseAmount(amount); err == nil {
			if b, err := auction.ParseAmount(auction.FormatAmount(a)); err != nil || b != a {
				t.Fatalf("%q → %v → %q → %v, %v", amount, a, auction.FormatAmount(a), b, err)
			}
		}
		w := newWorld(t, "1")
		for _, c := range []struct {
			name string
			run  func() error
		}{
			{"operation on the auction chain", func() error { _, err := w.auction.ExecuteOperation(auction.NewContract(), input); return err }},
			{"operation on a bidder chain", func() error { _, err := w.bidders[alice].ExecuteOperation(auction.NewContract(), input); return err }},
			{"message on the auction chain", func() error {
				return w.auction.ExecuteMessageFrom(auction.NewContract(), sdk.MessageInfo{Origin: w.bidders[alice].ID, OriginTimestamp: 1_500_000}, input)
			}},
		} {
			before := snapshot(w.auction)
			beforeBidder := snapshot(w.bidders[alice])
			if err := c.run(); err != nil {
				same(t, before, w.auction)
				same(t, beforeBidder, w.bidders[alice])
			}
		}
		if out, err := w.auction.Query(auction.NewService(), input); err == nil && !json.Valid(out) {
			t.Fatalf("query %q answered invalid JSON %q", input, out)
		}
	})
}
