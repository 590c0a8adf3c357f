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
//	parameters:    {"ticker_symbol": "MICA"} (optional; upper-case letters and digits)
//	query:         { balance(owner: "OWNER") accounts tickerSymbol }  →  {"data":{"balance":"N","accounts":{OWNER:"N",...},"tickerSymbol":"MICA"}}
//	mutation:      transfer(owner:, amount:, targetChain:, targetOwner:) schedules a transfer (Mutation)
package fungible

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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

// ImplementsGraphQLType binds Amount to the service's scalar Amount (a decimal
// string in responses).
func (Amount) ImplementsGraphQLType(name string) bool { return name == "Amount" }

func (Amount) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "A token amount: a decimal string."}
}

// UnmarshalGraphQL reads a decimal string or a non-negative integer.
func (a *Amount) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case string:
		return a.UnmarshalJSON([]byte(strconv.Quote(v)))
	case int32, int64, uint64:
		return a.UnmarshalJSON(fmt.Append(nil, v))
	}
	return fmt.Errorf("fungible: amount %v is not a decimal string", input)
}

// Owner is an account owner in JSON (a string, see the package documentation).
type Owner struct{ sdk.Owner }

// ParseOwner parses an owner (sdk.ParseOwner): "0x"+hex of 32 or 20 bytes (the "0x"
// is optional), "chain" for the chain's own account, or "reserved:N".
func ParseOwner(s string) (sdk.Owner, error) {
	o, err := sdk.ParseOwner(s)
	if err != nil {
		return o, fmt.Errorf("fungible: %w", err)
	}
	return o, nil
}

// ParseChain parses a chain id: 64 hex digits, with an optional "0x".
func ParseChain(s string) (sdk.ChainID, error) {
	c, err := sdk.ParseChainID(s)
	if err != nil {
		return c, fmt.Errorf("fungible: %w", err)
	}
	return c, nil
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

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp {
	return sdk.ContractOf[Operation, Message, InitialState](Contract{})
}

// Instantiate checks the parameters and sets the initial balances from
// {"accounts": {OWNER: "N", ...}}.
func (Contract) Instantiate(rt *sdk.Runtime, st InitialState) error {
	if _, err := sdk.ParametersOf[Parameters](rt); err != nil {
		return err
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
func (Contract) ExecuteOperation(rt *sdk.Runtime, o Operation) (any, error) {
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
func (Contract) ExecuteMessage(rt *sdk.Runtime, m Message) error {
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

// Parameters are the application's parameters, the same on every chain (`mica
// create-application --json-parameters '{"ticker_symbol": "MICA"}'`); optional.
type Parameters struct {
	TickerSymbol string `json:"ticker_symbol"`
}

// MaxTickerSymbol bounds the ticker symbol's length.
const MaxTickerSymbol = 16

// Validate requires a ticker symbol of upper-case letters and digits.
func (p Parameters) Validate() error {
	if len(p.TickerSymbol) > MaxTickerSymbol {
		return fmt.Errorf("fungible: ticker symbol longer than %d characters", MaxTickerSymbol)
	}
	for _, r := range p.TickerSymbol {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return fmt.Errorf("fungible: ticker symbol %q: want upper-case letters and digits", p.TickerSymbol)
		}
	}
	return nil
}

// The service's GraphQL schema follows from Query and Mutation (sdk.GraphQLServiceOf).
// Owners, chains and amounts are strings (see the package documentation); accounts is
// a JSON object {OWNER: "N", ...}.

// Accounts maps owners to their non-zero balances: the scalar Accounts.
type Accounts map[string]Amount

// ImplementsGraphQLType binds Accounts to the scalar Accounts.
func (Accounts) ImplementsGraphQLType(name string) bool { return name == "Accounts" }

// UnmarshalGraphQL refuses Accounts as input.
func (*Accounts) UnmarshalGraphQL(any) error { return errors.New("fungible: Accounts is output only") }

func (Accounts) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "A JSON object mapping each owner with tokens to its balance."}
}

// Query resolves the service's queries.
type Query struct{ rt *sdk.Runtime }

// Mutation resolves the service's mutations.
type Mutation struct{ rt *sdk.Runtime }

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}

func (*Query) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"balance":      "The owner's balance on this chain (0 when it has none).",
		"tickerSymbol": "The token's ticker symbol (the application's parameters), null when it has none.",
	}
}

func (q *Query) Balance(args struct{ Owner sdk.Owner }) (Amount, error) {
	return Balance(q.rt, args.Owner)
}

func (q *Query) Accounts() (Accounts, error) {
	es, err := balances.Entries(q.rt)
	if err != nil {
		return nil, err
	}
	m := make(Accounts, len(es))
	for _, e := range es {
		m[e.Key] = e.Value
	}
	return m, nil
}

func (q *Query) TickerSymbol() (*string, error) {
	p, err := sdk.ParametersOf[Parameters](q.rt)
	if err != nil || p.TickerSymbol == "" {
		return nil, err
	}
	return &p.TickerSymbol, nil
}

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{"transfer": "Schedules the transfer operation; the owner must sign the block."}
}

func (m *Mutation) Transfer(args struct {
	Owner       sdk.Owner
	Amount      Amount
	TargetChain sdk.ChainID
	TargetOwner sdk.Owner
}) (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Transfer: &Transfer{
		Owner: &Owner{args.Owner}, Amount: &args.Amount, TargetChain: &Chain{args.TargetChain}, TargetOwner: &Owner{args.TargetOwner},
	}})
}
