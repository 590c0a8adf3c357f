// Package auction is an auction house: each auction sells one item for the native
// token, runs on a chain of its own, and accepts sealed-deadline bids from any chain.
// The contract and service binaries are in the contract and service directories.
//
// # Design
//
// One application instance is an auction house; it serves every chain (an
// application's code runs on any chain, its storage is per chain).
//
// Creating an auction. The seller submits the create operation on a chain it owns. The
// contract opens a dedicated chain for the auction (rt.OpenChain) whose single super
// owner is the seller, funded with "chain_balance" (default 0.001 token) taken from
// the seller's account on that chain (or, when it has too little, from the chain
// account, which only an owner of the chain may debit). It sends the auction's
// parameters to the new chain in an authenticated, tracked start message: item,
// optional description (the hash of a data blob, read with ReadDataBlob both when
// creating, so that a missing blob makes the operation fail and changes nothing, and
// on the auction chain, which records its size), deadline, minimum bid. It returns
// {"auction_chain": CHAIN} and lists the auction under "auctions" on the creating
// chain. Two auctions are two chains: they run concurrently.
//
// Only this contract can send its messages, and it sends a start message only to the
// chain it has just opened. As a second line of defense, the auction chain accepts a
// start once, and only if its authenticated signer is the seller it names and an owner
// of the chain: the contract proves the latter by moving 1 atto of the chain account
// to itself, which the host allows only to a chain owner (hence a positive
// chain_balance).
//
// Bidding. A bidder submits the bid operation on its own chain, in a block it signs,
// naming the "auction_chain". The contract escrows the amount with a native transfer
// from the bidder's account on that chain (or, when it has too little, from the chain
// account) to the application's own account on the auction chain (sdk.Account{Chain:
// auction chain, Owner: ApplicationID.Owner()}, the owner the host lets an
// application debit), and sends a tracked bid message to the auction chain. The host
// delivers the transfer as a system Credit message sent before the bid message in the
// same block, so the escrow is credited before the bid is handled. A bid from the
// auction chain itself is refused. The contract cannot check that the auction chain
// exists: a bid naming a chain nobody opened leaves its escrow undeliverable, so take
// the id from the create operation's output or the creating chain's "auctions".
//
// On the auction chain, bids are ordered by the timestamp of the block that made them
// (the message's origin timestamp, which validators bound by their clocks), then by
// arrival:
//
//   - a bid whose origin timestamp is at or after the deadline, that arrives after the
//     auction was settled, or that arrives before the start message, is refused;
//   - a bid below min_bid is refused;
//   - a bid becomes the best bid when it is above the best bid, or equal to it but made
//     at an earlier origin timestamp (so an in-flight earlier bid is not beaten by a
//     later one that happened to arrive first); otherwise it is refused.
//
// A refused bid is refunded at once by a native transfer from the application's
// account back to the account that paid it on the bid's origin chain; when a bid becomes
// the best, the previous best bid is refunded the same way. A bid message is never
// rejected for these reasons (a rejection would bounce the message to the bidder's
// chain, where the escrow is not).
//
// Settling. Once the auction chain's block timestamp reaches the deadline, the settle
// operation on the auction chain pays the best bid from the escrow to the seller's
// account on the auction chain and marks the auction settled (with no bid, it only
// marks it settled). Settling before the deadline, twice, or on a chain that runs no
// auction fails.
//
// # Who proposes blocks on an auction chain, and what that trusts
//
// The seller, alone (single super owner: its blocks commit in the fast round, one
// round trip). No bidder is trusted: bids reach the chain as messages whose origin
// chain, origin timestamp and escrow are certified by the validators, and the contract
// alone decides their fate, so the seller can neither forge nor reorder bids, change
// an amount, nor take more of the escrow than the best bid at settlement. What the
// seller can do is stall: leave bids in the inbox (a bid received after settlement is
// refunded, so a censored bidder loses the auction but not its tokens, once the seller
// receives it), never settle, or close or re-own the chain, which would lock the
// escrow. The seller has no reason to censor the highest bids (it is paid the best
// one), but a seller colluding with a low bidder could. Restricting the chain's
// operations to this application (protocol.ApplicationPermissions) would remove the
// close/re-own risk; the SDK's OpenChain does not set permissions yet. A multi-owner
// seller+house chain would let the house include bids too, at the cost of the fast
// round.
//
// # JSON
//
// Owners are written as the SDK prints them (sdk.Owner.String): "0x" followed by 64
// hex digits (a 32-byte address) or 40 hex digits (a 20-byte address), or "chain" for
// the chain account; the "0x" is optional on input. Chains and hashes are 64 hex digits (optional "0x" on input).
// Amounts are in tokens (18 decimals), written as decimal strings like the CLI's
// amounts ("8", "0.5"); bare JSON numbers are accepted on input. Timestamps are
// microseconds since the Unix epoch, JSON numbers.
//
//	instantiation: {} (or empty)
//	operation:     {"create": {"item": "text", "description": HASH, "deadline": MICROS,
//	                           "min_bid": "N", "chain_balance": "N"}}
//	               (description and chain_balance optional) → {"auction_chain": CHAIN}
//	operation:     {"bid": {"auction_chain": CHAIN, "amount": "N", "bidder": OWNER}}
//	               (bidder optional: the block's signer)
//	operation:     {"settle": {}}                       (on the auction chain)
//	message:       {"start": {"seller": OWNER, "item": "text", "description": HASH,
//	                          "deadline": MICROS, "min_bid": "N"}}
//	message:       {"bid": {"bidder": OWNER, "amount": "N", "chain": BIDDER_CHAIN,
//	                        "account": OWNER}}  (account: who paid; absent: the bidder)
//	query:         { best status } on an auction chain →
//	    {"data":{"best":{"bidder":OWNER,"amount":"N","chain":CHAIN,"account":OWNER,
//	                     "timestamp":MICROS},
//	             "status":{"seller":OWNER,"item":"text","description":HASH,
//	                       "description_size":BYTES,"deadline":MICROS,"min_bid":"N",
//	                       "auction_chain":CHAIN,"state":"open"|"ended"|"settled","bids":K}}}
//	query:         { auctions } on a creating chain →
//	    {"data":{"auctions":[{"auction_chain":CHAIN,"item":"text","deadline":MICROS}]}}
//
// "best" is null before the first accepted bid. "state" is "ended" once the local
// time of the service reaches the deadline, "settled" after the settle operation;
// "bids" counts the bids that became the best.
package auction

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/micachain/mica/sdk"
)

// Storage. On an auction chain: config, best, settled, count. On a creating chain:
// auctions.
var (
	config   = sdk.NewRegister[Config]("config")
	best     = sdk.NewRegister[BestBid]("best")
	settled  = sdk.NewRegister[bool]("settled")
	count    = sdk.NewRegister[uint64]("bids")
	auctions = sdk.NewRegister[[]Listing]("auctions")
)

// Limits on what a create operation may ask for.
const (
	MaxItemLen = 256 // bytes
	// MaxAuctionsPerChain bounds the "auctions" list a creating chain keeps.
	MaxAuctionsPerChain = 1000
)

// Decimals is the number of decimal places of a token amount.
const Decimals = 18

// DefaultChainBalance is what a new auction chain is funded with unless the create
// operation says otherwise: 0.001 token.
var DefaultChainBalance = sdk.NewAmount(1_000_000_000_000_000)

// Amount is a native token amount, written in JSON as a decimal string of tokens.
type Amount struct{ sdk.Amount }

// MarshalJSON writes the amount in tokens ("8", "0.5").
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(FormatAmount(a.Amount)) }

// UnmarshalJSON reads a decimal string of tokens ("8", "0.5") or a bare JSON number.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	a.Amount = v
	return nil
}

// ParseAmount parses a decimal token amount such as "10", "0.5" or
// "1.000000000000000001" (at most 18 decimals, below 2^128 attos), like the CLI
// (sdk.ParseAmount).
func ParseAmount(s string) (sdk.Amount, error) {
	a, err := sdk.ParseAmount(s)
	if err != nil {
		return a, fmt.Errorf("auction: %w", err)
	}
	return a, nil
}

// FormatAmount writes attos as a decimal number of tokens ("8", "0.5").
func FormatAmount(a sdk.Amount) string { return a.Tokens() }

// Owner is an account owner in JSON (a string, see the package documentation).
type Owner struct{ sdk.Owner }

// ParseOwner parses "0x"+hex of 32 or 20 bytes (the "0x" is optional), or "chain"
// for the chain account (sdk.ParseOwner).
func ParseOwner(s string) (sdk.Owner, error) {
	o, err := sdk.ParseOwner(s)
	if err != nil {
		return o, fmt.Errorf("auction: %w", err)
	}
	return o, nil
}

// MarshalJSON writes the owner as sdk.Owner.String does.
func (o Owner) MarshalJSON() ([]byte, error) { return json.Marshal(o.String()) }

// UnmarshalJSON reads an owner string.
func (o *Owner) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("auction: owner must be a string")
	}
	v, err := ParseOwner(s)
	if err != nil {
		return err
	}
	o.Owner = v
	return nil
}

// Chain is a chain id in JSON (64 hex digits).
type Chain struct{ sdk.ChainID }

// ParseChain parses a chain id: 64 hex digits, with an optional "0x".
func ParseChain(s string) (sdk.ChainID, error) {
	c, err := sdk.ParseChainID(s)
	if err != nil {
		return c, fmt.Errorf("auction: %w", err)
	}
	return c, nil
}

// MarshalJSON writes the chain id as 64 hex digits.
func (c Chain) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON reads a chain id string.
func (c *Chain) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("auction: chain id must be a string")
	}
	v, err := ParseChain(s)
	if err != nil {
		return err
	}
	c.ChainID = v
	return nil
}

// Hash is a data blob hash in JSON (64 hex digits, optional "0x").
type Hash [32]byte

// MarshalJSON writes the hash as 64 hex digits.
func (h Hash) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h[:])) }

// UnmarshalJSON reads a hash string.
func (h *Hash) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("auction: hash must be a string")
	}
	v, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(v) != 32 {
		return fmt.Errorf("auction: invalid hash %q: want 64 hex digits", s)
	}
	*h = Hash(v)
	return nil
}

// CreateOperation creates an auction on a chain of its own.
type CreateOperation struct {
	Item         *string `json:"item"`
	Description  *Hash   `json:"description,omitempty"`
	Deadline     *uint64 `json:"deadline"`
	MinBid       *Amount `json:"min_bid"`
	ChainBalance *Amount `json:"chain_balance,omitempty"`
}

// CreateResult is the create operation's output.
type CreateResult struct {
	AuctionChain Chain `json:"auction_chain"`
}

// Listing is an auction created on this chain.
type Listing struct {
	AuctionChain Chain  `json:"auction_chain"`
	Item         string `json:"item"`
	Deadline     uint64 `json:"deadline"`
}

// StartMessage carries an auction's parameters to its chain.
type StartMessage struct {
	Seller      *Owner  `json:"seller"`
	Item        *string `json:"item"`
	Description *Hash   `json:"description,omitempty"`
	Deadline    *uint64 `json:"deadline"`
	MinBid      *Amount `json:"min_bid"`
}

// Config is the auction, stored on its auction chain.
type Config struct {
	Seller          Owner  `json:"seller"`
	Item            string `json:"item"`
	Description     *Hash  `json:"description"`
	DescriptionSize uint64 `json:"description_size"`
	Deadline        uint64 `json:"deadline"`
	MinBid          Amount `json:"min_bid"`
	AuctionChain    Chain  `json:"auction_chain"`
}

// BestBid is the best bid so far; its amount is held in escrow.
type BestBid struct {
	Bidder    Owner  `json:"bidder"`
	Amount    Amount `json:"amount"`
	Chain     Chain  `json:"chain"`     // the bidder's chain, where a refund goes
	Account   Owner  `json:"account"`   // the account there that paid, and gets a refund
	Timestamp uint64 `json:"timestamp"` // the origin block's timestamp
}

// BidOperation is a bid submitted on the bidder's chain.
type BidOperation struct {
	Bidder       *Owner  `json:"bidder,omitempty"`
	Amount       *Amount `json:"amount"`
	AuctionChain *Chain  `json:"auction_chain"`
}

// Operation is the contract's operation; exactly one field is set.
type Operation struct {
	Create *CreateOperation `json:"create,omitempty"`
	Bid    *BidOperation    `json:"bid,omitempty"`
	Settle *struct{}        `json:"settle,omitempty"`
}

// BidMessage carries an escrowed bid to the auction chain.
type BidMessage struct {
	Bidder *Owner  `json:"bidder"`
	Amount *Amount `json:"amount"`
	Chain  *Chain  `json:"chain"`
	// Account is the account on Chain that paid the escrow (the bidder's or the chain
	// account); a refund goes back to it. Absent: the bidder's.
	Account *Owner `json:"account,omitempty"`
}

// Message is the contract's cross-chain message; exactly one field is set.
type Message struct {
	Start *StartMessage `json:"start,omitempty"`
	Bid   *BidMessage   `json:"bid,omitempty"`
}

// Validate requires exactly one variant.
func (o Operation) Validate() error {
	if n := btoi(o.Create != nil) + btoi(o.Bid != nil) + btoi(o.Settle != nil); n != 1 {
		return errors.New(operationUsage)
	}
	return nil
}

// Validate requires exactly one variant.
func (m Message) Validate() error {
	if (m.Start == nil) == (m.Bid == nil) {
		return errors.New(messageUsage)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Contract is the auction house's contract.
type Contract struct{}

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp { return sdk.ContractOf[Operation, Message, struct{}](Contract{}) }

// Instantiate accepts an empty argument, null or {}: the house has no configuration
// (auctions are created by the create operation).
func (Contract) Instantiate(*sdk.Runtime, struct{}) error { return nil }

const operationUsage = `auction: operation must be {"create": {"item": "text", "deadline": MICROS, "min_bid": "N"}}, {"bid": {"auction_chain": CHAIN, "amount": "N"}} or {"settle": {}}`

// ExecuteOperation runs a create, bid or settle operation.
func (Contract) ExecuteOperation(rt *sdk.Runtime, o Operation) (any, error) {
	switch {
	case o.Create != nil:
		return create(rt, o.Create)
	case o.Settle != nil:
		return nil, settle(rt)
	}
	return nil, bid(rt, o.Bid)
}

// payer returns the account of this chain that pays amount for owner: its own account
// if it holds enough, else the chain account (which the host lets only a chain owner
// debit).
func payer(rt *sdk.Runtime, owner sdk.Owner, amount sdk.Amount) sdk.Owner {
	if rt.OwnerBalance(owner).Cmp(amount) >= 0 {
		return owner
	}
	return sdk.ChainOwner()
}

func create(rt *sdk.Runtime, c *CreateOperation) (any, error) {
	seller, ok := rt.AuthenticatedOwner()
	if !ok {
		return nil, errors.New("auction: create needs a signed block: its signer is the seller")
	}
	if c.Item == nil || c.Deadline == nil || c.MinBid == nil {
		return nil, errors.New(`auction: create needs "item", "deadline" and "min_bid"`)
	}
	if len(*c.Item) == 0 || len(*c.Item) > MaxItemLen {
		return nil, fmt.Errorf("auction: the item must have 1 to %d bytes", MaxItemLen)
	}
	if now := uint64(rt.Timestamp()); *c.Deadline <= now {
		return nil, fmt.Errorf("auction: the deadline %d is not after the block's time %d", *c.Deadline, now)
	}
	if c.Description != nil {
		// Fails the operation (nothing changes) if no published blob has this hash.
		rt.ReadDataBlob(*c.Description)
	}
	list, err := auctions.GetOr(rt, nil)
	if err != nil {
		return nil, err
	}
	if len(list) >= MaxAuctionsPerChain {
		return nil, fmt.Errorf("auction: this chain already created %d auctions", len(list))
	}
	balance := DefaultChainBalance
	if c.ChainBalance != nil {
		balance = c.ChainBalance.Amount
	}
	if balance == (sdk.Amount{}) {
		return nil, errors.New("auction: chain_balance must be positive (the auction chain proves its owner with it)")
	}
	here := rt.ChainID()
	app := rt.ApplicationID().Owner()
	if err := rt.Transfer(payer(rt, seller, balance), sdk.Account{Chain: here, Owner: app}, balance); err != nil {
		return nil, err
	}
	chain, err := rt.OpenChain(seller, balance)
	if err != nil {
		return nil, err
	}
	msg, err := json.Marshal(Message{Start: &StartMessage{Seller: &Owner{seller}, Item: c.Item, Description: c.Description, Deadline: c.Deadline, MinBid: c.MinBid}})
	if err != nil {
		return nil, err
	}
	if err := rt.SendMessage(chain, msg, true, true); err != nil {
		return nil, err
	}
	if err := auctions.Set(rt, append(list, Listing{AuctionChain: Chain{chain}, Item: *c.Item, Deadline: *c.Deadline})); err != nil {
		return nil, err
	}
	return CreateResult{AuctionChain: Chain{chain}}, nil
}

func bid(rt *sdk.Runtime, b *BidOperation) error {
	if b.Amount == nil || b.AuctionChain == nil {
		return errors.New(`auction: bid needs "auction_chain" and "amount"`)
	}
	if b.Amount.Amount == (sdk.Amount{}) {
		return errors.New("auction: bid amount must be positive")
	}
	bidder, ok := rt.AuthenticatedOwner()
	if !ok {
		return errors.New("auction: a bid needs a signed block: its signer is the bidder")
	}
	if b.Bidder != nil && b.Bidder.Owner != bidder {
		return fmt.Errorf("auction: only %v may bid for itself", b.Bidder)
	}
	here := rt.ChainID()
	if b.AuctionChain.ChainID == here {
		return errors.New("auction: bid from another chain than the auction chain")
	}
	escrow := sdk.Account{Chain: b.AuctionChain.ChainID, Owner: rt.ApplicationID().Owner()}
	from := payer(rt, bidder, b.Amount.Amount)
	if err := rt.Transfer(from, escrow, b.Amount.Amount); err != nil {
		return err
	}
	bm := &BidMessage{Bidder: &Owner{bidder}, Amount: b.Amount, Chain: &Chain{here}}
	if from != bidder {
		bm.Account = &Owner{from}
	}
	msg, err := json.Marshal(Message{Bid: bm})
	if err != nil {
		return err
	}
	return rt.SendMessage(b.AuctionChain.ChainID, msg, true, false)
}

// refusal returns why the auction refuses nb, or "".
func refusal(rt *sdk.Runtime, cfg Config, nb BestBid) string {
	if s, err := settled.GetOr(rt, false); err != nil {
		return err.Error()
	} else if s {
		return "the auction is settled"
	}
	if nb.Timestamp >= cfg.Deadline {
		return fmt.Sprintf("made at %d, at or after the deadline %d", nb.Timestamp, cfg.Deadline)
	}
	if nb.Amount.Cmp(cfg.MinBid.Amount) < 0 {
		return fmt.Sprintf("%s is below the minimum bid %s", FormatAmount(nb.Amount.Amount), FormatAmount(cfg.MinBid.Amount))
	}
	cur, ok, err := best.Get(rt)
	if err != nil {
		return err.Error()
	}
	if ok {
		c := nb.Amount.Cmp(cur.Amount.Amount)
		if c < 0 || c == 0 && nb.Timestamp >= cur.Timestamp {
			return fmt.Sprintf("%s does not beat the best bid %s", FormatAmount(nb.Amount.Amount), FormatAmount(cur.Amount.Amount))
		}
	}
	return ""
}

// accept makes nb (already escrowed) the best bid and refunds the previous one.
func accept(rt *sdk.Runtime, nb BestBid) error {
	cur, ok, err := best.Get(rt)
	if err != nil {
		return err
	}
	if ok {
		if err := refund(rt, cur); err != nil {
			return err
		}
	}
	if err := best.Set(rt, nb); err != nil {
		return err
	}
	n, err := count.GetOr(rt, 0)
	if err != nil {
		return err
	}
	return count.Set(rt, n+1)
}

// refund pays b back from the escrow to the bidder's account on its chain.
func refund(rt *sdk.Runtime, b BestBid) error {
	return rt.Transfer(rt.ApplicationID().Owner(), sdk.Account{Chain: b.Chain.ChainID, Owner: b.Account.Owner}, b.Amount.Amount)
}

func settle(rt *sdk.Runtime) error {
	cfg, ok, err := config.Get(rt)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("auction: this chain runs no auction (settle on the auction chain)")
	}
	if s, err := settled.GetOr(rt, false); err != nil {
		return err
	} else if s {
		return errors.New("auction: already settled")
	}
	if now := uint64(rt.Timestamp()); now < cfg.Deadline {
		return fmt.Errorf("auction: cannot settle at %d, before the deadline %d", now, cfg.Deadline)
	}
	cur, ok, err := best.Get(rt)
	if err != nil {
		return err
	}
	if ok {
		seller := sdk.Account{Chain: cfg.AuctionChain.ChainID, Owner: cfg.Seller.Owner}
		if err := rt.Transfer(rt.ApplicationID().Owner(), seller, cur.Amount.Amount); err != nil {
			return err
		}
	}
	return settled.Set(rt, true)
}

const messageUsage = `auction: message must be {"start": {"seller": OWNER, "item": "text", "deadline": MICROS, "min_bid": "N"}} or {"bid": {"bidder": OWNER, "amount": "N", "chain": CHAIN}}`

// ExecuteMessage handles the start of an auction and the bids, on the auction chain.
func (Contract) ExecuteMessage(rt *sdk.Runtime, m Message) error {
	info, ok := rt.MessageInfo()
	if !ok {
		return errors.New("auction: no message information")
	}
	if m.Start != nil {
		return start(rt, info, m.Start)
	}
	b := m.Bid
	if b.Bidder == nil || b.Amount == nil || b.Chain == nil {
		return errors.New(messageUsage)
	}
	if info.IsBouncing {
		// The auction chain rejected the bid, which it does only for a malformed
		// message or a failed host request; the escrow is on the auction chain and
		// cannot be refunded from here.
		rt.Logf(sdk.LevelWarn, "auction: bid of %s by %v bounced; its escrow stays on the auction chain", FormatAmount(b.Amount.Amount), b.Bidder)
		return nil
	}
	if info.Origin != b.Chain.ChainID {
		return fmt.Errorf("auction: bid from chain %v claims chain %v", info.Origin, b.Chain)
	}
	nb := BestBid{Bidder: *b.Bidder, Amount: *b.Amount, Chain: *b.Chain, Account: *b.Bidder, Timestamp: uint64(info.OriginTimestamp)}
	if b.Account != nil {
		nb.Account = *b.Account
	}
	cfg, ok, err := config.Get(rt)
	if err != nil {
		return err
	}
	if !ok {
		rt.Logf(sdk.LevelInfo, "auction: bid of %s by %v refunded: this chain runs no auction", FormatAmount(nb.Amount.Amount), nb.Bidder)
		return refund(rt, nb)
	}
	if why := refusal(rt, cfg, nb); why != "" {
		rt.Logf(sdk.LevelInfo, "auction: bid of %s by %v refunded: %s", FormatAmount(nb.Amount.Amount), nb.Bidder, why)
		return refund(rt, nb)
	}
	return accept(rt, nb)
}

// oneAtto is what start moves from the chain account to itself to prove that the
// message's signer owns the chain.
var oneAtto = sdk.NewAmount(1)

func start(rt *sdk.Runtime, info sdk.MessageInfo, s *StartMessage) error {
	if info.IsBouncing {
		rt.Logf(sdk.LevelWarn, "auction: the start of an auction on chain %v bounced", info.Origin)
		return nil
	}
	if s.Seller == nil || s.Item == nil || s.Deadline == nil || s.MinBid == nil {
		return errors.New(messageUsage)
	}
	if len(*s.Item) == 0 || len(*s.Item) > MaxItemLen {
		return fmt.Errorf("auction: the item must have 1 to %d bytes", MaxItemLen)
	}
	signer, ok := rt.AuthenticatedOwner()
	if !ok || signer != s.Seller.Owner {
		return errors.New("auction: a start message must be signed by its seller")
	}
	if _, ok, err := config.Get(rt); err != nil {
		return err
	} else if ok {
		return errors.New("auction: this chain already runs an auction")
	}
	// Only an owner of this chain may debit the chain account: the host refuses this
	// transfer (and so the message) unless the signer owns the auction chain.
	here := rt.ChainID()
	if err := rt.Transfer(sdk.ChainOwner(), sdk.Account{Chain: here, Owner: sdk.ChainOwner()}, oneAtto); err != nil {
		return fmt.Errorf("auction: the seller must own the auction chain: %w", err)
	}
	cfg := Config{Seller: *s.Seller, Item: *s.Item, Description: s.Description, Deadline: *s.Deadline, MinBid: *s.MinBid, AuctionChain: Chain{here}}
	if s.Description != nil {
		cfg.DescriptionSize = uint64(len(rt.ReadDataBlob(*s.Description)))
	}
	if err := config.Set(rt, cfg); err != nil {
		return err
	}
	if err := settled.Set(rt, false); err != nil {
		return err
	}
	return count.Set(rt, 0)
}

// Status is the auction's status in queries.
type Status struct {
	Config
	State string `json:"state"`
	Bids  uint64 `json:"bids"`
}

// The service's GraphQL schema follows from Query and Mutation (sdk.GraphQLServiceOf).
// best, status and auctions are JSON values in the shapes of the package
// documentation: the scalars BestBid, Status and Listings, so `{ best status }` needs
// no selection.

// Listings are the auctions created on a chain, output as the scalar Listings.
type Listings []Listing

var errOutputOnly = errors.New("auction: output only")

func (BestBid) ImplementsGraphQLType(name string) bool  { return name == "BestBid" }
func (*BestBid) UnmarshalGraphQL(any) error             { return errOutputOnly }
func (Status) ImplementsGraphQLType(name string) bool   { return name == "Status" }
func (*Status) UnmarshalGraphQL(any) error              { return errOutputOnly }
func (Listings) ImplementsGraphQLType(name string) bool { return name == "Listings" }
func (*Listings) UnmarshalGraphQL(any) error            { return errOutputOnly }

func (BestBid) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "The best bid: {bidder, amount, chain, account, timestamp}."}
}

func (Status) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "The auction: {seller, item, description, description_size, deadline, min_bid, auction_chain, state, bids}."}
}

func (Listings) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "The auctions created on this chain: [{auction_chain, item, deadline}]."}
}

// Query resolves the service's queries.
type Query struct{ rt *sdk.Runtime }

// Mutation resolves the service's mutations: each schedules an operation.
type Mutation struct{ rt *sdk.Runtime }

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}

func (*Query) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"best":     "The best bid (null before the first), on an auction chain.",
		"status":   "The auction's status, on an auction chain.",
		"auctions": "The auctions created on this chain.",
	}
}

func (q *Query) Auctions() (Listings, error) {
	list, err := auctions.GetOr(q.rt, nil)
	if list == nil {
		list = []Listing{}
	}
	return list, err
}

func (q *Query) config() (Config, error) {
	cfg, ok, err := config.Get(q.rt)
	if err == nil && !ok {
		err = errors.New("auction: this chain runs no auction (query the auction chain; `{ auctions }` lists those created here)")
	}
	return cfg, err
}

func (q *Query) Best() (*BestBid, error) {
	if _, err := q.config(); err != nil {
		return nil, err
	}
	b, ok, err := best.Get(q.rt)
	if !ok || err != nil {
		return nil, err
	}
	return &b, nil
}

func (q *Query) Status() (Status, error) {
	cfg, err := q.config()
	if err != nil {
		return Status{}, err
	}
	st := Status{Config: cfg, State: "open"}
	if st.Bids, err = count.GetOr(q.rt, 0); err != nil {
		return Status{}, err
	}
	done, err := settled.GetOr(q.rt, false)
	if err != nil {
		return Status{}, err
	}
	if done {
		st.State = "settled"
	} else if uint64(q.rt.Timestamp()) >= cfg.Deadline {
		st.State = "ended"
	}
	return st, nil
}

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"bid":    "Schedules a bid of amount tokens on the auction run by auctionChain (bidder: the block's signer when absent).",
		"settle": "Schedules settling the auction (on its chain, after the deadline).",
	}
}

func (m *Mutation) Bid(args struct {
	AuctionChain sdk.ChainID
	Amount       sdk.Amount
	Bidder       *sdk.Owner
}) (bool, error) {
	b := &BidOperation{Amount: &Amount{args.Amount}, AuctionChain: &Chain{args.AuctionChain}}
	if args.Bidder != nil {
		b.Bidder = &Owner{*args.Bidder}
	}
	return true, sdk.Schedule(m.rt, Operation{Bid: b})
}

func (m *Mutation) Settle() (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Settle: &struct{}{}})
}
