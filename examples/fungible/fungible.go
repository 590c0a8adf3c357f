// Package fungible is a fungible token application: balances per owner on each
// chain, transfers on the same chain or to other chains by tracked Credit messages
// (refunded to the sender when the receiver rejects them), claims of tokens from an
// owner's account on another chain, and GraphQL-shaped balance queries. The contract
// and service binaries are in the contract and service directories.
//
// Everything is JSON. Owners are written as the SDK prints them (sdk.Owner.String):
// "0x" followed by 64 hex digits (a 32-byte address) or 40 hex digits (a 20-byte
// address); the "0x" is optional on input and hex is case-insensitive. Chains are
// 64 hex digits (optional "0x"). Amounts are unsigned 64-bit integers written as
// decimal strings ("100"); bare JSON integers are accepted on input too.
//
//	instantiation: {"accounts": {OWNER: "N", ...}}
//	operation:     {"transfer": {"owner": OWNER, "amount": "N", "target_chain": CHAIN, "target_owner": OWNER}}
//	operation:     {"claim": {"source_chain": CHAIN, "owner": OWNER, "amount": "N", "target_chain": CHAIN, "target_owner": OWNER}}
//	message:       {"credit": {"owner": OWNER, "amount": "N", "source": OWNER}}
//	message:       {"withdraw": {"owner": OWNER, "amount": "N", "target_chain": CHAIN, "target_owner": OWNER}}
//	query:         { balance(owner: "OWNER") accounts }  →  {"data":{"balance":"N","accounts":{OWNER:"N",...}}}
package fungible

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/micachain/mica/sdk"
)

// balances maps the canonical owner string (sdk.Owner.String) to a non-zero balance.
// Zero balances are deleted.
var balances = sdk.NewMap[Amount]("balance/")

// Amount is a token amount. It is written in JSON as a decimal string.
type Amount uint64

// MarshalJSON writes the amount as a decimal string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(a), 10) + `"`), nil
}

// UnmarshalJSON reads a decimal string ("12") or a bare non-negative JSON integer.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return errors.New("fungible: amount must not be null")
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return errors.New("fungible: empty amount")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return fmt.Errorf("fungible: amount %q is not a decimal unsigned integer", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("fungible: amount %q overflows 64 bits", s)
	}
	*a = Amount(v)
	return nil
}

func (a Amount) String() string { return strconv.FormatUint(uint64(a), 10) }

// Owner is an account owner in JSON (a string, see the package documentation).
type Owner struct{ sdk.Owner }

// ParseOwner parses an owner: "0x"+hex of 32 or 20 bytes (the "0x" is optional),
// "chain" for the chain's own account, or "reserved:N".
func ParseOwner(s string) (sdk.Owner, error) {
	if s == "chain" {
		return sdk.ChainOwner(), nil
	}
	if rest, ok := strings.CutPrefix(s, "reserved:"); ok {
		n, err := strconv.ParseUint(rest, 10, 8)
		if err != nil {
			return sdk.Owner{}, fmt.Errorf("fungible: invalid owner %q", s)
		}
		return sdk.ReservedOwner(uint8(n)), nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil {
		return sdk.Owner{}, fmt.Errorf("fungible: invalid owner %q: not hex", s)
	}
	switch len(b) {
	case 32:
		return sdk.Address32Owner([32]byte(b)), nil
	case 20:
		return sdk.Address20Owner([20]byte(b)), nil
	}
	return sdk.Owner{}, fmt.Errorf("fungible: invalid owner %q: want 32 or 20 hex-encoded bytes, got %d", s, len(b))
}

// ParseChain parses a chain id: 64 hex digits, with an optional "0x".
func ParseChain(s string) (sdk.ChainID, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return sdk.ChainID{}, fmt.Errorf("fungible: invalid chain id %q: want 64 hex digits", s)
	}
	return sdk.ChainID(b), nil
}

// MarshalJSON writes the owner as sdk.Owner.String does.
func (o Owner) MarshalJSON() ([]byte, error) { return json.Marshal(o.String()) }

// UnmarshalJSON reads an owner string.
func (o *Owner) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("fungible: owner must be a string")
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

// MarshalJSON writes the chain id as 64 hex digits.
func (c Chain) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON reads a chain id string.
func (c *Chain) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("fungible: chain id must be a string")
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
	Accounts map[string]Amount `json:"accounts"`
}

// Transfer moves Amount from Owner's account on this chain to TargetOwner on
// TargetChain.
type Transfer struct {
	Owner       *Owner  `json:"owner"`
	Amount      *Amount `json:"amount"`
	TargetChain *Chain  `json:"target_chain"`
	TargetOwner *Owner  `json:"target_owner"`
}

// Claim moves Amount from Owner's account on SourceChain to TargetOwner on
// TargetChain, by an authenticated Withdraw message to SourceChain.
type Claim struct {
	SourceChain *Chain  `json:"source_chain"`
	Owner       *Owner  `json:"owner"`
	Amount      *Amount `json:"amount"`
	TargetChain *Chain  `json:"target_chain"`
	TargetOwner *Owner  `json:"target_owner"`
}

// Operation is the contract's operation; exactly one field is set.
type Operation struct {
	Transfer *Transfer `json:"transfer,omitempty"`
	Claim    *Claim    `json:"claim,omitempty"`
}

// Credit credits Owner; when the message bounces, Source is credited instead.
type Credit struct {
	Owner  Owner  `json:"owner"`
	Amount Amount `json:"amount"`
	Source Owner  `json:"source"`
}

// Withdraw is a claim arriving on the owner's chain: it is a transfer that the
// message's authenticated owner must be allowed to make.
type Withdraw struct {
	Owner       Owner  `json:"owner"`
	Amount      Amount `json:"amount"`
	TargetChain Chain  `json:"target_chain"`
	TargetOwner Owner  `json:"target_owner"`
}

// Message is the contract's cross-chain message; exactly one field is set.
type Message struct {
	Credit   *Credit   `json:"credit,omitempty"`
	Withdraw *Withdraw `json:"withdraw,omitempty"`
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

// Balance returns owner's balance on this chain (0 when it has none).
func Balance(rt *sdk.Runtime, owner sdk.Owner) (Amount, error) {
	v, _, err := balances.Get(rt, owner.String())
	return v, err
}

func setBalance(rt *sdk.Runtime, owner sdk.Owner, v Amount) error {
	if v == 0 {
		balances.Delete(rt, owner.String())
		return nil
	}
	return balances.Set(rt, owner.String(), v)
}

func credit(rt *sdk.Runtime, owner sdk.Owner, amount Amount) error {
	b, err := Balance(rt, owner)
	if err != nil {
		return err
	}
	if uint64(amount) > ^uint64(0)-uint64(b) {
		return fmt.Errorf("fungible: crediting %v to %v would overflow its balance %v", amount, owner, b)
	}
	return setBalance(rt, owner, b+amount)
}

func debit(rt *sdk.Runtime, owner sdk.Owner, amount Amount) error {
	b, err := Balance(rt, owner)
	if err != nil {
		return err
	}
	if b < amount {
		return fmt.Errorf("fungible: insufficient balance: %v has %v, needs %v", owner, b, amount)
	}
	return setBalance(rt, owner, b-amount)
}

// checkAuthorized requires the authenticated owner, or the authenticated calling
// application, to be owner.
func checkAuthorized(rt *sdk.Runtime, owner sdk.Owner) error {
	if o, ok := rt.AuthenticatedOwner(); ok && o == owner {
		return nil
	}
	if app, ok := rt.AuthenticatedCaller(); ok && app.Owner() == owner {
		return nil
	}
	if o, ok := rt.AuthenticatedOwner(); ok {
		return fmt.Errorf("fungible: unauthorized: the authenticated owner %v is not %v", o, owner)
	}
	return fmt.Errorf("fungible: unauthorized: %v did not authenticate", owner)
}

// Contract is the fungible token's contract.
type Contract struct{}

// Instantiate sets the initial balances from {"accounts": {OWNER: "N", ...}}.
func (Contract) Instantiate(rt *sdk.Runtime, arg []byte) error {
	var st InitialState
	if err := decodeStrict(arg, &st); err != nil {
		return fmt.Errorf(`fungible: instantiation argument must be {"accounts": {OWNER: "N", ...}}: %w`, err)
	}
	for s, amount := range st.Accounts {
		o, err := ParseOwner(s)
		if err != nil {
			return err
		}
		if err := credit(rt, o, amount); err != nil { // two spellings of one owner add up
			return err
		}
	}
	return nil
}

// ExecuteOperation runs a transfer or a claim. It returns no response.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	if err := decodeStrict(op, &o); err != nil {
		return nil, fmt.Errorf(`fungible: operation must be {"transfer": {...}} or {"claim": {...}}: %w`, err)
	}
	switch {
	case o.Transfer != nil && o.Claim == nil:
		t := o.Transfer
		if t.Owner == nil || t.Amount == nil || t.TargetChain == nil || t.TargetOwner == nil {
			return nil, errors.New(`fungible: transfer needs "owner", "amount", "target_chain" and "target_owner"`)
		}
		if err := checkAuthorized(rt, t.Owner.Owner); err != nil {
			return nil, err
		}
		if err := debit(rt, t.Owner.Owner, *t.Amount); err != nil {
			return nil, err
		}
		return nil, sendTo(rt, t.Owner.Owner, *t.Amount, t.TargetChain.ChainID, t.TargetOwner.Owner)
	case o.Claim != nil && o.Transfer == nil:
		c := o.Claim
		if c.SourceChain == nil || c.Owner == nil || c.Amount == nil || c.TargetChain == nil || c.TargetOwner == nil {
			return nil, errors.New(`fungible: claim needs "source_chain", "owner", "amount", "target_chain" and "target_owner"`)
		}
		if err := checkAuthorized(rt, c.Owner.Owner); err != nil {
			return nil, err
		}
		w := Withdraw{Owner: *c.Owner, Amount: *c.Amount, TargetChain: *c.TargetChain, TargetOwner: *c.TargetOwner}
		if c.SourceChain.ChainID == rt.ChainID() {
			return nil, withdraw(rt, w)
		}
		msg, err := json.Marshal(Message{Withdraw: &w})
		if err != nil {
			return nil, err
		}
		return nil, rt.SendMessage(c.SourceChain.ChainID, msg, true, true)
	}
	return nil, errors.New(`fungible: operation must have exactly one of "transfer" and "claim"`)
}

// sendTo credits amount, already debited from source, to owner on chain: directly
// on this chain, or by a tracked Credit message.
func sendTo(rt *sdk.Runtime, source sdk.Owner, amount Amount, chain sdk.ChainID, owner sdk.Owner) error {
	if chain == rt.ChainID() {
		return credit(rt, owner, amount)
	}
	msg, err := json.Marshal(Message{Credit: &Credit{Owner: Owner{owner}, Amount: amount, Source: Owner{source}}})
	if err != nil {
		return err
	}
	return rt.SendMessage(chain, msg, true, false)
}

func withdraw(rt *sdk.Runtime, w Withdraw) error {
	if err := checkAuthorized(rt, w.Owner.Owner); err != nil {
		return err
	}
	if err := debit(rt, w.Owner.Owner, w.Amount); err != nil {
		return err
	}
	return sendTo(rt, w.Owner.Owner, w.Amount, w.TargetChain.ChainID, w.TargetOwner.Owner)
}

// ExecuteMessage runs a Credit (crediting the source instead when it bounced) or a
// Withdraw (ignored when it bounced: nothing was debited).
func (Contract) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	var m Message
	if err := decodeStrict(msg, &m); err != nil {
		return fmt.Errorf("fungible: bad message: %w", err)
	}
	info, _ := rt.MessageInfo()
	switch {
	case m.Credit != nil && m.Withdraw == nil:
		owner := m.Credit.Owner.Owner
		if info.IsBouncing {
			owner = m.Credit.Source.Owner
		}
		return credit(rt, owner, m.Credit.Amount)
	case m.Withdraw != nil && m.Credit == nil:
		if info.IsBouncing {
			return nil
		}
		return withdraw(rt, *m.Withdraw)
	}
	return errors.New(`fungible: message must have exactly one of "credit" and "withdraw"`)
}

// Service is the fungible token's service.
type Service struct{}

// HandleQuery answers `{ balance(owner: "OWNER") }` with {"data":{"balance":"N"}}
// and `{ accounts }` with {"data":{"accounts":{OWNER:"N",...}}} (both may be asked
// at once). The query is the text or {"query": "..."}.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	op, err := sdk.ParseGraphQL(q)
	if err != nil {
		return nil, fmt.Errorf("fungible: %w", err)
	}
	if op.Kind != "query" {
		return nil, fmt.Errorf("fungible: %s operations are not supported", op.Kind)
	}
	data := map[string]any{}
	for _, f := range op.Fields {
		key := f.Key()
		if _, dup := data[key]; dup {
			return nil, fmt.Errorf("fungible: field %q asked twice", key)
		}
		if f.Selection != nil {
			return nil, fmt.Errorf("fungible: field %q takes no selection", f.Name)
		}
		switch f.Name {
		case "balance":
			s, ok := f.Args["owner"].(string)
			if !ok || len(f.Args) != 1 {
				return nil, errors.New(`fungible: balance takes exactly one argument: balance(owner: "OWNER")`)
			}
			o, err := ParseOwner(s)
			if err != nil {
				return nil, err
			}
			b, err := Balance(rt, o)
			if err != nil {
				return nil, err
			}
			data[key] = b
		case "accounts":
			if len(f.Args) != 0 {
				return nil, errors.New("fungible: accounts takes no arguments")
			}
			es, err := balances.Entries(rt)
			if err != nil {
				return nil, err
			}
			m := make(map[string]Amount, len(es))
			for _, e := range es {
				m[e.Key] = e.Value
			}
			data[key] = m
		default:
			return nil, fmt.Errorf("fungible: unknown field %q", f.Name)
		}
	}
	return sdk.GraphQLData(data), nil
}
