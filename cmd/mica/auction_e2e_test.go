package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/execution"
)

// buildCLIExample builds an example application as a user would (mica project build)
// and returns its contract and service paths.
func buildCLIExample(t *testing.T, dir, name string) (contract, service string) {
	t.Helper()
	example := filepath.Join(dir, "examples")
	if _, err := os.Stat(example); err != nil {
		if err := os.CopyFS(example, os.DirFS("../../examples")); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
			t.Fatal(err)
		}
	}
	paths := strings.Fields(mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, name)))
	if len(paths) != 2 {
		t.Fatalf("project build printed %q", paths)
	}
	return paths[0], paths[1]
}

// balanceOf prints an account's balance (CHAIN or OWNER@CHAIN) through the CLI.
func balanceOf(t *testing.T, wallet, account string) base.Amount {
	t.Helper()
	a, err := base.ParseAmount(mustMica(t, wallet, "query-balance", account))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tokens(t *testing.T, s string) base.Amount {
	t.Helper()
	a, err := base.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type auctionStatus struct {
	Data struct {
		Best *struct {
			Bidder string `json:"bidder"`
			Amount string `json:"amount"`
			Chain  string `json:"chain"`
		} `json:"best"`
		Status struct {
			Seller          string `json:"seller"`
			Item            string `json:"item"`
			Description     string `json:"description"`
			DescriptionSize int    `json:"description_size"`
			MinBid          string `json:"min_bid"`
			AuctionChain    string `json:"auction_chain"`
			State           string `json:"state"`
			Bids            int    `json:"bids"`
		} `json:"status"`
	} `json:"data"`
}

// TestAuctionChains runs the auction house on validator processes through the CLI:
// the seller creates two auctions, each on a chain of its own; the first's
// description is a data blob published from a bidder's chain and read by the
// contract on the auction chain; two bidders on their own chains (in their own
// wallets) bid on both auctions concurrently; a bid made after the deadline is
// refused and refunded; settling pays each seller account the best bid and the
// losers get their escrow back. Every balance is checked exactly.
func TestAuctionChains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm guest")
	}
	dir := t.TempDir()
	contract, service := buildCLIExample(t, dir, "auction")
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	house := walletChain(t, w)
	// Publishing compiles the module on every validator; on a loaded machine that can
	// outlast a call's timeout, so the command is retried (the wallet re-sends its
	// pending proposal).
	var app string
	for attempt := 1; ; attempt++ {
		out, errOut, err := mica(t, w, "publish-and-create", contract, service, "--json-argument", "{}")
		if err == nil {
			app = out
			break
		}
		if attempt == 3 {
			t.Fatalf("publish-and-create: %v\n%s", err, errOut)
		}
		t.Logf("publish-and-create, attempt %d: %s", attempt, errOut)
	}

	// Two bidders, each with a wallet of its own and a chain opened for its key.
	type bidder struct{ wallet, owner, chain string }
	var bidders []bidder
	for i := range 2 {
		bw := filepath.Join(dir, fmt.Sprintf("bidder%d", i+1))
		mustMica(t, bw, "wallet", "init", "--genesis", net.info.Genesis)
		o := mustMica(t, bw, "keygen")
		var opened struct {
			ChainID string `json:"chainId"`
		}
		if err := json.Unmarshal([]byte(mustMica(t, w, "open-chain", "--owner", o, "--initial-balance", "100", "--json")), &opened); err != nil {
			t.Fatal(err)
		}
		mustMica(t, bw, "wallet", "follow-chain", opened.ChainID)
		bidders = append(bidders, bidder{bw, o, opened.ChainID})
	}
	b1, b2 := bidders[0], bidders[1]

	// The description is published from bidder 1's chain (chain A) and will be read by
	// the contract on the auction chain (chain B).
	desc := []byte("Oil on canvas, 60 x 80 cm, signed and dated 1921.\n")
	descFile := filepath.Join(dir, "description.txt")
	if err := os.WriteFile(descFile, desc, 0o644); err != nil {
		t.Fatal(err)
	}
	descHash := mustMica(t, b1.wallet, "publish-data-blob", descFile)
	if want := client.DataBlobID(desc).Hash.String(); descHash != want {
		t.Fatalf("publish-data-blob printed %q, want %s", descHash, want)
	}

	// The wallet compiles the application's service at its first query (tens of
	// seconds on a loaded machine): here, before the auctions' deadline runs.
	listings := func() string {
		t.Helper()
		return mustMica(t, w, "query-application", "--application-id", app, "{ auctions }")
	}
	if got := listings(); got != `{"data":{"auctions":[]}}` {
		t.Fatalf("auctions before any: %s", got)
	}

	// A description that was never published fails the create operation: no chain.
	before := balanceOf(t, w, house)
	opStart := time.Now()
	if _, errOut, err := mica(t, w, "execute-operation", "--application-id", app, "--json-operation",
		`{"create": {"item": "x", "description": "`+strings.Repeat("ab", 32)+`", "deadline": 99999999999999999, "min_bid": "1"}}`); err == nil {
		t.Fatal("created an auction with an unpublished description")
	} else {
		t.Logf("unpublished description refused: %s", errOut)
	}
	// That operation, or a query if slower, measures the machine: the 12 commands from
	// the auctions' creation to the last bid, operations and queries of the
	// application, must end before the deadline.
	op := time.Since(opStart)
	queryStart := time.Now()
	listings()
	op = max(op, time.Since(queryStart))

	// Two auctions, each opens a chain of its own.
	// The deadline leaves room for the bids on a loaded machine (at least 45 s, 20 times
	// that operation); the test waits it out.
	window := max(45*time.Second, 20*op)
	t.Logf("an operation took %v; the auctions end in %v", op.Round(time.Millisecond), window)
	deadline := uint64(time.Now().Add(window).UnixMicro())
	create := func(op string) string {
		t.Helper()
		var res struct {
			AuctionChain string `json:"auction_chain"`
		}
		out := mustMica(t, w, "execute-operation", "--application-id", app, "--json-operation", op)
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.AuctionChain) != 64 {
			t.Fatalf("create printed %q (%v)", out, err)
		}
		mustMica(t, w, "wallet", "follow-chain", res.AuctionChain)
		mustMica(t, w, "process-inbox", res.AuctionChain) // the start message
		return res.AuctionChain
	}
	a1 := create(fmt.Sprintf(`{"create": {"item": "a painting", "description": %q, "deadline": %d, "min_bid": "5"}}`, descHash, deadline))
	a2 := create(fmt.Sprintf(`{"create": {"item": "a vase", "deadline": %d, "min_bid": "0.5", "chain_balance": "0.25"}}`, deadline))
	if a1 == a2 {
		t.Fatal("both auctions on one chain")
	}
	status := func(chain string) auctionStatus {
		t.Helper()
		var s auctionStatus
		out := mustMica(t, w, "query-application", "--application-id", app, "--chain", chain, "{ best status }")
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("query %s: %v", out, err)
		}
		return s
	}
	if s := status(a1); s.Data.Status.State != "open" || s.Data.Status.Description != descHash || s.Data.Status.DescriptionSize != len(desc) || s.Data.Status.AuctionChain != a1 || s.Data.Status.MinBid != "5" {
		t.Fatalf("auction 1: %+v", s.Data.Status)
	}
	if s := status(a2); s.Data.Status.State != "open" || s.Data.Status.Item != "a vase" || s.Data.Status.MinBid != "0.5" || s.Data.Best != nil {
		t.Fatalf("auction 2: %+v", s.Data.Status)
	}
	// The house chain paid both auction chains' balances (0.001 by default, and 0.25).
	if got, want := balanceOf(t, w, house), mustSub(t, before, tokens(t, "0.251")); got != want {
		t.Fatalf("house chain after creating: %s, want %s", got, want)
	}
	if got := balanceOf(t, w, a2); got != tokens(t, "0.25") {
		t.Fatalf("auction chain 2 balance %s", got)
	}

	// Both bidders bid on both auctions at the same time.
	bid := func(b bidder, auction, amount string) error {
		_, errOut, err := mica(t, b.wallet, "execute-operation", "--application-id", app, "--chain", b.chain,
			"--json-operation", fmt.Sprintf(`{"bid": {"auction_chain": %q, "amount": %q}}`, auction, amount))
		if err != nil {
			return fmt.Errorf("bid %s on %s: %v: %s", amount, auction[:8], err, errOut)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, plan := range []struct {
		b       bidder
		amounts [2]string
	}{{b1, [2]string{"10", "3"}}, {b2, [2]string{"12", "2.5"}}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, a := range []string{a1, a2} {
				if err := bid(plan.b, a, plan.amounts[i]); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if uint64(time.Now().UnixMicro()) >= deadline {
		t.Fatal("the machine is too slow: the bids were made after the deadline")
	}
	if got := balanceOf(t, b1.wallet, b1.chain); got != tokens(t, "87") {
		t.Fatalf("bidder 1 after bidding: %s, want 87", got)
	}
	for _, a := range []string{a1, a2} {
		mustMica(t, w, "process-inbox", a)
	}
	if s := status(a1); s.Data.Best == nil || s.Data.Best.Bidder != b2.owner || s.Data.Best.Amount != "12" || s.Data.Best.Chain != b2.chain {
		t.Fatalf("auction 1 best: %+v", s.Data.Best)
	}
	if s := status(a2); s.Data.Best == nil || s.Data.Best.Bidder != b1.owner || s.Data.Best.Amount != "3" {
		t.Fatalf("auction 2 best: %+v", s.Data.Best)
	}

	// After the deadline: bidder 1's higher bid on auction 1 is refused and refunded.
	time.Sleep(time.Until(time.UnixMicro(int64(deadline))) + time.Second)
	if err := bid(b1, a1, "50"); err != nil {
		t.Fatal(err)
	}
	mustMica(t, w, "process-inbox", a1)
	if s := status(a1); s.Data.Best.Amount != "12" || s.Data.Status.State != "ended" {
		t.Fatalf("auction 1 after the late bid: %+v %+v", s.Data.Best, s.Data.Status)
	}

	// Settle both.
	for _, a := range []string{a1, a2} {
		mustMica(t, w, "execute-operation", "--application-id", app, "--chain", a, "--json-operation", `{"settle": {}}`)
		if s := status(a); s.Data.Status.State != "settled" {
			t.Fatalf("auction %s after settling: %+v", a[:8], s.Data.Status)
		}
	}
	if _, _, err := mica(t, w, "execute-operation", "--application-id", app, "--chain", a1, "--json-operation", `{"settle": {}}`); err == nil {
		t.Fatal("settled twice")
	}

	// The losers' refunds arrive on their chains.
	for _, b := range bidders {
		mustMica(t, b.wallet, "process-inbox", b.chain)
	}
	seller := mustMica(t, w, "wallet", "show", "--json")
	var ws struct {
		Chains []struct {
			ChainID string `json:"chainId"`
			Owner   string `json:"owner"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(seller), &ws); err != nil {
		t.Fatal(err)
	}
	var sellerOwner string
	for _, c := range ws.Chains {
		if c.ChainID == a1 {
			sellerOwner = c.Owner
		}
	}
	if sellerOwner == "" {
		t.Fatalf("the seller's wallet does not own auction chain 1: %s", seller)
	}
	appID, err := base.ParseApplicationID(app)
	if err != nil {
		t.Fatal(err)
	}
	escrow := execution.ApplicationOwner(appID).String()
	for _, c := range []struct {
		wallet, account, want string
	}{
		{b1.wallet, b1.chain, "97"},       // won auction 2 at 3; outbid on 1; late bid refunded
		{b2.wallet, b2.chain, "88"},       // won auction 1 at 12; outbid on 2
		{w, sellerOwner + "@" + a1, "12"}, // the seller is paid on each auction chain
		{w, sellerOwner + "@" + a2, "3"},  //
		{w, escrow + "@" + a1, "0"},       // the escrows are empty
		{w, escrow + "@" + a2, "0"},       //
		{w, a1, "0.001"},                  // the auction chains keep their balances
		{w, a2, "0.25"},                   //
		{w, house, mustSub(t, before, tokens(t, "0.251")).String()},
	} {
		if got := balanceOf(t, c.wallet, c.account); got != tokens(t, c.want) {
			t.Errorf("balance of %s: %s, want %s", c.account, got, c.want)
		}
	}
}

func mustSub(t *testing.T, a, b base.Amount) base.Amount {
	t.Helper()
	d, err := a.Sub(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
