// Package auction is a sealed-deadline, highest-bid auction of one item, paid in the
// native token (the chains' account balances). The contract and service binaries are
// in the contract and service directories.
//
// # Design
//
// One application instance is one auction. It runs on its auction chain: the chain
// where it was instantiated (the creator chain), whose id Instantiate stores. Only
// that chain holds the auction's state; on every other chain the application's
// storage stays empty.
//
// Bidding. A bidder submits the bid operation on its own chain, in a block it signs.
// The contract checks that the block's authenticated owner is the bidder, escrows the
// amount with a native transfer from the bidder's account to the application's own
// account on the auction chain (sdk.Account{Chain: auction chain, Owner:
// ApplicationID.Owner()}, the owner the host lets an application debit), and sends a
// tracked bid message to the auction chain. The host delivers the transfer as a
// system Credit message to the auction chain, sent before the bid message in the same
// block, so the escrow is credited before the bid is handled.
//
// The bidder chain does not know the auction (the SDK has no application parameters
// and instantiation runs only on the creator chain), so the operation names the
// auction chain in "auction_chain"; it may be left out only on the auction chain
// itself, where a bid is handled at once: the escrow is a local transfer, and a bid
// the auction would refuse makes the operation fail instead, changing nothing.
//
// On the auction chain, bids are ordered by the timestamp of the block that made them
// (the message's origin timestamp), then by arrival:
//
//   - a bid whose origin timestamp is at or after the deadline, or that arrives after
//     the auction was settled, is refused;
//   - a bid below min_bid is refused;
//   - a bid becomes the best bid when it is above the best bid, or equal to it but made
//     at an earlier origin timestamp (so an in-flight earlier bid is not beaten by a
//     later one that happened to arrive first); otherwise it is refused.
//
// A refused bid is refunded at once by a native transfer from the application's
// account back to the bidder's account on the bid's origin chain; when a bid becomes
// the best, the previous best bid is refunded the same way. A bid message is never
// rejected for these reasons (a rejection would bounce the message to the bidder's
// chain, where the escrow is not).
//
// Settling. After the deadline (the auction chain's block timestamp at or after
// it), anyone may submit the settle operation on the auction chain: it pays the best
// bid from the escrow to the seller's account on the auction chain and marks the
// auction settled (with no bid, it only marks it settled). Settling before the
// deadline, settling twice, or settling on another chain fails.
//
// # JSON
//
// Owners are written as the SDK prints them (sdk.Owner.String): "0x" followed by 64
// hex digits (a 32-byte address) or 40 hex digits (a 20-byte address); the "0x" is
// optional on input. Chains are 64 hex digits (optional "0x" on input). Amounts are
// unsigned 128-bit integers written as decimal strings ("100"); bare JSON integers are
// accepted on input. Timestamps are microseconds since the Unix epoch, JSON numbers.
//
//	instantiation: {"seller": OWNER, "item": "text", "deadline": MICROS, "min_bid": "N"}
//	operation:     {"bid": {"bidder": OWNER, "amount": "N", "auction_chain": CHAIN}}
//	operation:     {"settle": {}}
//	message:       {"bid": {"bidder": OWNER, "amount": "N", "chain": BIDDER_CHAIN}}
//	query:         { best status }  →
//	    {"data":{"best":{"bidder":OWNER,"amount":"N","chain":CHAIN,"timestamp":MICROS},
//	             "status":{"seller":OWNER,"item":"text","deadline":MICROS,"min_bid":"N",
//	                       "auction_chain":CHAIN,"state":"open"|"ended"|"settled","bids":K}}}
//
// "best" is null before the first accepted bid. "state" is "ended" once the local
// time of the service reaches the deadline, "settled" after the settle operation;
// "bids" counts the bids that became the best. Queries work on the auction chain only.
// Operations return no output.
package auction

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/micachain/mica/sdk"
)

// Storage (auction chain only).
var (
	config  = sdk.NewRegister[Config]("config")
	best    = sdk.NewRegister[BestBid]("best")
	settled = sdk.NewRegister[bool]("settled")
	count   = sdk.NewRegister[uint64]("bids")
)

// Amount is a native token amount, written in JSON as a decimal string.
type Amount struct{ sdk.Amount }

// MarshalJSON writes the amount as a decimal string.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.Amount.String()) }

// UnmarshalJSON reads a decimal string ("12") or a bare non-negative JSON integer
// below 2^128.
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

// ParseAmount parses a decimal unsigned integer below 2^128.
func ParseAmount(s string) (sdk.Amount, error) {
	if s == "" {
		return sdk.Amount{}, errors.New("auction: empty amount")
	}
	var a sdk.Amount
	for _, r := range s {
		if r < '0' || r > '9' {
			return sdk.Amount{}, fmt.Errorf("auction: amount %q is not a decimal unsigned integer", s)
		}
		hiHi, hiLo := bits.Mul64(a.Hi, 10)
		loHi, loLo := bits.Mul64(a.Lo, 10)
		hi, c := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || c != 0 {
			return sdk.Amount{}, fmt.Errorf("auction: amount %q overflows 128 bits", s)
		}
		next, err := sdk.Amount{Lo: loLo, Hi: hi}.Add(sdk.NewAmount(uint64(r - '0')))
		if err != nil {
			return sdk.Amount{}, fmt.Errorf("auction: amount %q overflows 128 bits", s)
		}
		a = next
	}
	return a, nil
}

// Owner is an account owner in JSON (a string, see the package documentation).
type Owner struct{ sdk.Owner }

// ParseOwner parses "0x"+hex of 32 or 20 bytes (the "0x" is optional).
func ParseOwner(s string) (sdk.Owner, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return sdk.Owner{}, fmt.Errorf("auction: invalid owner %q: not hex", s)
	}
	switch len(b) {
	case 32:
		return sdk.Address32Owner([32]byte(b)), nil
	case 20:
		return sdk.Address20Owner([20]byte(b)), nil
	}
	return sdk.Owner{}, fmt.Errorf("auction: invalid owner %q: want 32 or 20 hex-encoded bytes, got %d", s, len(b))
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
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return sdk.ChainID{}, fmt.Errorf("auction: invalid chain id %q: want 64 hex digits", s)
	}
	return sdk.ChainID(b), nil
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

// InitialState is the instantiation argument.
type InitialState struct {
	Seller   *Owner  `json:"seller"`
	Item     *string `json:"item"`
	Deadline *uint64 `json:"deadline"`
	MinBid   *Amount `json:"min_bid"`
}

// Config is the auction, stored on the auction chain.
type Config struct {
	Seller       Owner  `json:"seller"`
	Item         string `json:"item"`
	Deadline     uint64 `json:"deadline"`
	MinBid       Amount `json:"min_bid"`
	AuctionChain Chain  `json:"auction_chain"`
}

// BestBid is the best bid so far; its amount is held in escrow.
type BestBid struct {
	Bidder    Owner  `json:"bidder"`
	Amount    Amount `json:"amount"`
	Chain     Chain  `json:"chain"`     // the bidder's chain, where a refund goes
	Timestamp uint64 `json:"timestamp"` // the origin block's timestamp
}

// BidOperation is a bid submitted on the bidder's chain.
type BidOperation struct {
	Bidder       *Owner  `json:"bidder"`
	Amount       *Amount `json:"amount"`
	AuctionChain *Chain  `json:"auction_chain,omitempty"`
}

// Operation is the contract's operation; exactly one field is set.
type Operation struct {
	Bid    *BidOperation `json:"bid,omitempty"`
	Settle *struct{}     `json:"settle,omitempty"`
}

// BidMessage carries an escrowed bid to the auction chain.
type BidMessage struct {
	Bidder *Owner  `json:"bidder"`
	Amount *Amount `json:"amount"`
	Chain  *Chain  `json:"chain"`
}

// Message is the contract's cross-chain message.
type Message struct {
	Bid *BidMessage `json:"bid,omitempty"`
}

func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Contract is the auction's contract.
type Contract struct{}

// Instantiate stores the auction and the auction chain (this chain).
func (Contract) Instantiate(rt *sdk.Runtime, arg []byte) error {
	var s InitialState
	if err := decodeStrict(arg, &s); err != nil {
		return fmt.Errorf(`auction: instantiation argument must be {"seller": OWNER, "item": "text", "deadline": MICROS, "min_bid": "N"}: %w`, err)
	}
	if s.Seller == nil || s.Item == nil || s.Deadline == nil || s.MinBid == nil {
		return errors.New(`auction: instantiation argument needs "seller", "item", "deadline" and "min_bid"`)
	}
	if err := config.Set(rt, Config{Seller: *s.Seller, Item: *s.Item, Deadline: *s.Deadline,
		MinBid: *s.MinBid, AuctionChain: Chain{rt.ChainID()}}); err != nil {
		return err
	}
	if err := settled.Set(rt, false); err != nil {
		return err
	}
	return count.Set(rt, 0)
}

// ExecuteOperation runs a bid or settle operation.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	if err := decodeStrict(op, &o); err != nil || (o.Bid == nil) == (o.Settle == nil) {
		return nil, errors.New(`auction: operation must be {"bid": {"bidder": OWNER, "amount": "N", "auction_chain": CHAIN}} or {"settle": {}}`)
	}
	if o.Settle != nil {
		return nil, settle(rt)
	}
	return nil, bid(rt, o.Bid)
}

func bid(rt *sdk.Runtime, b *BidOperation) error {
	if b.Bidder == nil || b.Amount == nil {
		return errors.New(`auction: bid needs "bidder" and "amount"`)
	}
	if b.Amount.Amount == (sdk.Amount{}) {
		return errors.New("auction: bid amount must be positive")
	}
	if owner, ok := rt.AuthenticatedOwner(); !ok || owner != b.Bidder.Owner {
		return fmt.Errorf("auction: only %v may bid for itself", b.Bidder)
	}
	here := rt.ChainID()
	cfg, local, err := config.Get(rt)
	if err != nil {
		return err
	}
	var auctionChain sdk.ChainID
	switch {
	case local && b.AuctionChain != nil && b.AuctionChain.ChainID != cfg.AuctionChain.ChainID:
		return fmt.Errorf("auction: this auction runs on chain %v", cfg.AuctionChain)
	case local:
		auctionChain = cfg.AuctionChain.ChainID
	case b.AuctionChain == nil:
		return errors.New(`auction: a bid from another chain must name the "auction_chain"`)
	default:
		auctionChain = b.AuctionChain.ChainID
	}
	escrow := sdk.Account{Chain: auctionChain, Owner: rt.ApplicationID().Owner()}
	if auctionChain == here {
		// The bid is handled at once: refuse it instead of escrowing and refunding.
		if !local {
			return errors.New("auction: this chain runs no auction")
		}
		nb := BestBid{Bidder: *b.Bidder, Amount: *b.Amount, Chain: Chain{here}, Timestamp: uint64(rt.Timestamp())}
		if why := refusal(rt, cfg, nb); why != "" {
			return errors.New("auction: bid refused: " + why)
		}
		if err := rt.Transfer(b.Bidder.Owner, escrow, b.Amount.Amount); err != nil {
			return err
		}
		return accept(rt, nb)
	}
	if err := rt.Transfer(b.Bidder.Owner, escrow, b.Amount.Amount); err != nil {
		return err
	}
	msg, err := json.Marshal(Message{Bid: &BidMessage{Bidder: b.Bidder, Amount: b.Amount, Chain: &Chain{here}}})
	if err != nil {
		return err
	}
	return rt.SendMessage(auctionChain, msg, true, false)
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
		return fmt.Sprintf("%v is below the minimum bid %v", nb.Amount.Amount, cfg.MinBid.Amount)
	}
	cur, ok, err := best.Get(rt)
	if err != nil {
		return err.Error()
	}
	if ok {
		c := nb.Amount.Cmp(cur.Amount.Amount)
		if c < 0 || c == 0 && nb.Timestamp >= cur.Timestamp {
			return fmt.Sprintf("%v does not beat the best bid %v", nb.Amount.Amount, cur.Amount.Amount)
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
	return rt.Transfer(rt.ApplicationID().Owner(), sdk.Account{Chain: b.Chain.ChainID, Owner: b.Bidder.Owner}, b.Amount.Amount)
}

func settle(rt *sdk.Runtime) error {
	cfg, ok, err := config.Get(rt)
	if err != nil {
		return err
	}
	if !ok || cfg.AuctionChain.ChainID != rt.ChainID() {
		return errors.New("auction: settle on the auction chain")
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

// ExecuteMessage handles a bid arriving on the auction chain.
func (Contract) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	var m Message
	if err := decodeStrict(msg, &m); err != nil || m.Bid == nil || m.Bid.Bidder == nil || m.Bid.Amount == nil || m.Bid.Chain == nil {
		return errors.New(`auction: message must be {"bid": {"bidder": OWNER, "amount": "N", "chain": CHAIN}}`)
	}
	info, ok := rt.MessageInfo()
	if !ok {
		return errors.New("auction: no message information")
	}
	if info.IsBouncing {
		// The auction chain rejected the bid, which it does only for a malformed
		// message or a failed host request; the escrow is on the auction chain and
		// cannot be refunded from here.
		rt.Logf(sdk.LevelWarn, "auction: bid of %v by %v bounced; its escrow stays on the auction chain", m.Bid.Amount.Amount, m.Bid.Bidder)
		return nil
	}
	cfg, ok, err := config.Get(rt)
	if err != nil {
		return err
	}
	if !ok || cfg.AuctionChain.ChainID != rt.ChainID() {
		return errors.New("auction: bid sent to a chain that runs no auction")
	}
	if info.Origin != m.Bid.Chain.ChainID {
		return fmt.Errorf("auction: bid from chain %v claims chain %v", info.Origin, m.Bid.Chain)
	}
	nb := BestBid{Bidder: *m.Bid.Bidder, Amount: *m.Bid.Amount, Chain: *m.Bid.Chain, Timestamp: uint64(info.OriginTimestamp)}
	if why := refusal(rt, cfg, nb); why != "" {
		rt.Logf(sdk.LevelInfo, "auction: bid of %v by %v refunded: %s", nb.Amount.Amount, nb.Bidder, why)
		return refund(rt, nb)
	}
	return accept(rt, nb)
}

// Status is the auction's status in queries.
type Status struct {
	Config
	State string `json:"state"`
	Bids  uint64 `json:"bids"`
}

// Service is the auction's service.
type Service struct{}

// HandleQuery answers `{ best status }` (either field, as the text or as
// {"query": "..."}) with {"data":{...}}.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	op, err := sdk.ParseGraphQL(q)
	if err != nil {
		return nil, fmt.Errorf("auction: %w", err)
	}
	if op.Kind != "query" {
		return nil, fmt.Errorf("auction: %s operations are not supported", op.Kind)
	}
	for _, f := range op.Fields {
		if f.Args != nil || f.Selection != nil {
			return nil, fmt.Errorf("auction: field %q takes no arguments or selection", f.Name)
		}
	}
	cfg, ok, err := config.Get(rt)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("auction: this chain runs no auction (query the auction chain)")
	}
	data := map[string]any{}
	for _, f := range op.Fields {
		key := f.Key()
		switch f.Name {
		case "best":
			b, ok, err := best.Get(rt)
			if err != nil {
				return nil, err
			}
			if ok {
				data[key] = b
			} else {
				data[key] = nil
			}
		case "status":
			s := Status{Config: cfg, State: "open"}
			if s.Bids, err = count.GetOr(rt, 0); err != nil {
				return nil, err
			}
			done, err := settled.GetOr(rt, false)
			if err != nil {
				return nil, err
			}
			if done {
				s.State = "settled"
			} else if uint64(rt.Timestamp()) >= cfg.Deadline {
				s.State = "ended"
			}
			data[key] = s
		default:
			return nil, fmt.Errorf("auction: unknown field %q", f.Name)
		}
	}
	return sdk.GraphQLData(data), nil
}
