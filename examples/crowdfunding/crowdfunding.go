// Package crowdfunding is a crowd-funding campaign built on the fungible token
// example: backers pledge tokens to a campaign on the chain that created the
// application (the campaign chain); when the pledges reach the target, the campaign
// owner collects them; when the deadline passes before that, anyone may cancel the
// campaign, which refunds every backer. The contract and service binaries are in the
// contract and service directories.
//
// The pledged tokens are held by the application itself: in the fungible
// application, in the account of the owner sdk.ApplicationID.Owner() (Address32 of
// this application's id) on the campaign chain. The contract moves them with
// authenticated calls to the fungible application, which lets an authenticated
// calling application spend its own account.
//
// Everything is JSON, with the fungible example's spellings: owners are "0x" + 64
// (or 40) hex digits, chains and application ids are 64 hex digits (optional "0x"),
// amounts are unsigned 64-bit integers as decimal strings, deadlines are
// microseconds since the Unix epoch (the block timestamps' unit).
//
//	instantiation: {"owner": OWNER, "token": FUNGIBLE_APP_ID, "target": "N", "deadline": MICROS}
//	operation:     {"pledge": {"owner": OWNER, "amount": "N"}}                    (on the campaign chain)
//	operation:     {"pledge": {"owner": OWNER, "amount": "N", "campaign_chain": CHAIN, "token": FUNGIBLE_APP_ID}}
//	                                                                              (on any other chain)
//	operation:     {"collect": {}}
//	operation:     {"cancel": {}}
//	message:       {"pledged": {"owner": OWNER, "amount": "N", "token": FUNGIBLE_APP_ID}}
//	query:         { pledged status }  →  {"data":{"pledged":"N","status":"active"}}
//
// Instantiation stores the parameters, with the campaign chain (the chain that runs
// the instantiation), on the campaign chain only: the application has no storage
// on the other chains. That is why a pledge made on another chain names the
// campaign chain and the token; the campaign chain checks the token when the
// "pledged" message arrives.
//
// Pledge: the authenticated owner must be "owner". The contract calls the token
// (authenticated) with
//
//	{"transfer": {"owner": OWNER, "amount": "N", "target_chain": CAMPAIGN_CHAIN, "target_owner": APP_OWNER}}
//
// where APP_OWNER is this application's account owner. On the campaign chain the
// pledge is recorded at once (refused when the campaign is not active or the block
// timestamp is at or past the deadline). On another chain the contract sends the
// tracked message {"pledged": ...} to the campaign chain, which records the pledge
// under the message's origin chain and the owner. A "pledged" message arriving
// after the deadline or after the campaign ended is not recorded: the tokens are
// sent back at once (a token transfer from APP_OWNER to OWNER on the origin chain).
// A "pledged" message naming another token is rejected (it bounces; the bounce is
// ignored).
//
// Collect (campaign chain, authenticated owner = the campaign owner, status active,
// total pledged ≥ target, before or after the deadline) transfers the total from
// APP_OWNER to the campaign owner on the campaign chain and sets the status to
// "collected".
//
// Cancel (campaign chain, status active, block timestamp ≥ deadline, total pledged
// < target; anyone may ask: it only returns the tokens) transfers each pledge from
// APP_OWNER back to its backer on the backer's chain and sets the status to
// "cancelled".
//
// The service (Query, Mutation) answers `{ pledged }` (the total pledged, "0" off the campaign
// chain) and `{ status }` ("active", "collected", "cancelled", or "none" on a chain
// where the application was not instantiated); its mutations pledge, collect and
// cancel schedule the operations.
package crowdfunding

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/sdk"
)

// Campaign statuses.
const (
	StatusActive    = "active"
	StatusCollected = "collected"
	StatusCancelled = "cancelled"
	StatusNone      = "none"
)

var (
	params  = sdk.NewRegister[Params]("params")
	status  = sdk.NewRegister[string]("status")
	total   = sdk.NewRegister[fungible.Amount]("total")
	pledges = sdk.NewMap[fungible.Amount]("pledge/") // key: CHAIN_HEX "/" OWNER
)

// AppID is an application id in JSON (64 hex digits, optional "0x").
type AppID struct{ sdk.ApplicationID }

// MarshalJSON writes the id as 64 hex digits.
func (a AppID) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads an application id string.
func (a *AppID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("crowdfunding: application id must be a string")
	}
	id, err := sdk.ParseApplicationID(s)
	if err != nil {
		return fmt.Errorf("crowdfunding: %w", err)
	}
	a.ApplicationID = id
	return nil
}

// Params is the instantiation argument; the stored copy also has the campaign chain.
type Params struct {
	Owner    *fungible.Owner  `json:"owner"`
	Token    *AppID           `json:"token"`
	Target   *fungible.Amount `json:"target"`
	Deadline *uint64          `json:"deadline"`
	Chain    *fungible.Chain  `json:"chain,omitempty"` // set by Instantiate
}

// Pledge is the pledge operation.
type Pledge struct {
	Owner         *fungible.Owner  `json:"owner"`
	Amount        *fungible.Amount `json:"amount"`
	CampaignChain *fungible.Chain  `json:"campaign_chain,omitempty"`
	Token         *AppID           `json:"token,omitempty"`
}

// Empty is the argument of collect and cancel.
type Empty struct{}

// Operation is the contract's operation; exactly one field is set.
type Operation struct {
	Pledge  *Pledge `json:"pledge,omitempty"`
	Collect *Empty  `json:"collect,omitempty"`
	Cancel  *Empty  `json:"cancel,omitempty"`
}

// Pledged is the message recording a pledge on the campaign chain.
type Pledged struct {
	Owner  fungible.Owner  `json:"owner"`
	Amount fungible.Amount `json:"amount"`
	Token  AppID           `json:"token"`
}

// Message is the contract's cross-chain message.
type Message struct {
	Pledged *Pledged `json:"pledged,omitempty"`
}

// Validate requires the "pledged" message.
func (m Message) Validate() error {
	if m.Pledged == nil {
		return errors.New(`crowdfunding: message must be {"pledged": {...}}`)
	}
	return nil
}

// TransferArgument is the fungible "transfer" operation the contract sends to the
// token.
func TransferArgument(owner sdk.Owner, amount fungible.Amount, chain sdk.ChainID, target sdk.Owner) ([]byte, error) {
	return json.Marshal(fungible.Operation{Transfer: &fungible.Transfer{
		Owner: &fungible.Owner{Owner: owner}, Amount: &amount,
		TargetChain: &fungible.Chain{ChainID: chain}, TargetOwner: &fungible.Owner{Owner: target},
	}})
}

func callTransfer(rt *sdk.Runtime, token sdk.ApplicationID, owner sdk.Owner, amount fungible.Amount, chain sdk.ChainID, target sdk.Owner) error {
	arg, err := TransferArgument(owner, amount, chain, target)
	if err != nil {
		return err
	}
	if _, err := rt.CallApplication(true, token, arg); err != nil {
		return fmt.Errorf("crowdfunding: token transfer: %w", err)
	}
	return nil
}

func pledgeKey(chain sdk.ChainID, owner sdk.Owner) string {
	return chain.String() + "/" + owner.String()
}

// loadParams returns the stored parameters, or ok=false off the campaign chain.
func loadParams(rt *sdk.Runtime) (Params, bool, error) { return params.Get(rt) }

// campaign returns the parameters, requiring this chain to be the campaign chain.
func campaign(rt *sdk.Runtime) (Params, error) {
	p, ok, err := loadParams(rt)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, errors.New("crowdfunding: not the campaign chain (the application was not instantiated here)")
	}
	return p, nil
}

// Contract is the crowd-funding contract.
type Contract struct{}

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp { return sdk.ContractOf[Operation, Message, Params](Contract{}) }

// Instantiate stores the parameters and the campaign chain.
func (Contract) Instantiate(rt *sdk.Runtime, p Params) error {
	if p.Owner == nil || p.Token == nil || p.Target == nil || p.Deadline == nil || p.Chain != nil {
		return errors.New(`crowdfunding: instantiation needs exactly "owner", "token", "target" and "deadline"`)
	}
	if *p.Target == 0 {
		return errors.New("crowdfunding: the target must be positive")
	}
	p.Chain = &fungible.Chain{ChainID: rt.ChainID()}
	if err := params.Set(rt, p); err != nil {
		return err
	}
	if err := status.Set(rt, StatusActive); err != nil {
		return err
	}
	return total.Set(rt, 0)
}

// ExecuteOperation runs pledge, collect or cancel. It returns no response.
func (Contract) ExecuteOperation(rt *sdk.Runtime, o Operation) (any, error) {
	n := 0
	for _, set := range []bool{o.Pledge != nil, o.Collect != nil, o.Cancel != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New(`crowdfunding: operation must have exactly one of "pledge", "collect" and "cancel"`)
	}
	switch {
	case o.Pledge != nil:
		return nil, pledge(rt, o.Pledge)
	case o.Collect != nil:
		return nil, collect(rt)
	default:
		return nil, cancel(rt)
	}
}

func pledge(rt *sdk.Runtime, pl *Pledge) error {
	if pl.Owner == nil || pl.Amount == nil {
		return errors.New(`crowdfunding: pledge needs "owner" and "amount"`)
	}
	if *pl.Amount == 0 {
		return errors.New("crowdfunding: the pledged amount must be positive")
	}
	owner := pl.Owner.Owner
	if o, ok := rt.AuthenticatedOwner(); !ok || o != owner {
		return fmt.Errorf("crowdfunding: unauthorized: the pledge must be signed by %v", owner)
	}
	here := rt.ChainID()
	p, local, err := loadParams(rt)
	if err != nil {
		return err
	}
	var chain sdk.ChainID
	var token sdk.ApplicationID
	if local {
		chain, token = p.Chain.ChainID, p.Token.ApplicationID
		if pl.CampaignChain != nil && pl.CampaignChain.ChainID != chain {
			return fmt.Errorf("crowdfunding: this chain is the campaign chain, not %v", pl.CampaignChain)
		}
		if pl.Token != nil && pl.Token.ApplicationID != token {
			return fmt.Errorf("crowdfunding: the campaign's token is %v, not %v", token, pl.Token)
		}
	} else {
		if pl.CampaignChain == nil || pl.Token == nil {
			return errors.New(`crowdfunding: a pledge made off the campaign chain needs "campaign_chain" and "token"`)
		}
		chain, token = pl.CampaignChain.ChainID, pl.Token.ApplicationID
		if chain == here {
			return errors.New("crowdfunding: the application was not instantiated on this chain")
		}
	}
	if local {
		// Check before moving any token.
		if err := checkOpen(rt); err != nil {
			return err
		}
	}
	if err := callTransfer(rt, token, owner, *pl.Amount, chain, rt.ApplicationID().Owner()); err != nil {
		return err
	}
	if local {
		return record(rt, here, owner, *pl.Amount)
	}
	msg, err := json.Marshal(Message{Pledged: &Pledged{Owner: *pl.Owner, Amount: *pl.Amount, Token: AppID{token}}})
	if err != nil {
		return err
	}
	return rt.SendMessage(chain, msg, true, false)
}

// checkOpen requires an active campaign before its deadline.
func checkOpen(rt *sdk.Runtime) error {
	p, err := campaign(rt)
	if err != nil {
		return err
	}
	st, err := status.GetOr(rt, StatusActive)
	if err != nil {
		return err
	}
	if st != StatusActive {
		return fmt.Errorf("crowdfunding: the campaign is %s", st)
	}
	if uint64(rt.Timestamp()) >= *p.Deadline {
		return errors.New("crowdfunding: the campaign's deadline has passed")
	}
	return nil
}

func record(rt *sdk.Runtime, chain sdk.ChainID, owner sdk.Owner, amount fungible.Amount) error {
	t, err := total.GetOr(rt, 0)
	if err != nil {
		return err
	}
	if uint64(amount) > ^uint64(0)-uint64(t) {
		return errors.New("crowdfunding: total pledged would overflow")
	}
	key := pledgeKey(chain, owner)
	prev, _, err := pledges.Get(rt, key)
	if err != nil {
		return err
	}
	if err := pledges.Set(rt, key, prev+amount); err != nil {
		return err
	}
	return total.Set(rt, t+amount)
}

func collect(rt *sdk.Runtime) error {
	p, err := campaign(rt)
	if err != nil {
		return err
	}
	if o, ok := rt.AuthenticatedOwner(); !ok || o != p.Owner.Owner {
		return fmt.Errorf("crowdfunding: unauthorized: only the campaign owner %v may collect", p.Owner)
	}
	st, err := status.GetOr(rt, StatusActive)
	if err != nil {
		return err
	}
	if st != StatusActive {
		return fmt.Errorf("crowdfunding: the campaign is %s", st)
	}
	t, err := total.GetOr(rt, 0)
	if err != nil {
		return err
	}
	if t < *p.Target {
		return fmt.Errorf("crowdfunding: pledged %v of the target %v", t, *p.Target)
	}
	if err := callTransfer(rt, p.Token.ApplicationID, rt.ApplicationID().Owner(), t, p.Chain.ChainID, p.Owner.Owner); err != nil {
		return err
	}
	return status.Set(rt, StatusCollected)
}

func cancel(rt *sdk.Runtime) error {
	p, err := campaign(rt)
	if err != nil {
		return err
	}
	st, err := status.GetOr(rt, StatusActive)
	if err != nil {
		return err
	}
	if st != StatusActive {
		return fmt.Errorf("crowdfunding: the campaign is %s", st)
	}
	if uint64(rt.Timestamp()) < *p.Deadline {
		return errors.New("crowdfunding: the campaign cannot be cancelled before its deadline")
	}
	t, err := total.GetOr(rt, 0)
	if err != nil {
		return err
	}
	if t >= *p.Target {
		return errors.New("crowdfunding: the target was reached: the owner may collect")
	}
	es, err := pledges.Entries(rt)
	if err != nil {
		return err
	}
	for _, e := range es {
		chainHex, ownerStr, ok := strings.Cut(e.Key, "/")
		if !ok {
			return fmt.Errorf("crowdfunding: bad pledge key %q", e.Key)
		}
		chain, err := fungible.ParseChain(chainHex)
		if err != nil {
			return err
		}
		owner, err := fungible.ParseOwner(ownerStr)
		if err != nil {
			return err
		}
		if err := callTransfer(rt, p.Token.ApplicationID, rt.ApplicationID().Owner(), e.Value, chain, owner); err != nil {
			return err
		}
	}
	return status.Set(rt, StatusCancelled)
}

// ExecuteMessage records a pledge made on another chain (or refunds it when the
// campaign is closed). A bouncing "pledged" message is ignored: the tokens it
// stands for are already on the campaign chain.
func (Contract) ExecuteMessage(rt *sdk.Runtime, m Message) error {
	info, _ := rt.MessageInfo()
	if info.IsBouncing {
		rt.Logf(sdk.LevelWarn, "crowdfunding: the campaign chain rejected a pledge of %v by %v", m.Pledged.Amount, m.Pledged.Owner)
		return nil
	}
	p, err := campaign(rt)
	if err != nil {
		return err
	}
	pl := m.Pledged
	if pl.Token.ApplicationID != p.Token.ApplicationID {
		return fmt.Errorf("crowdfunding: pledge in token %v, the campaign's token is %v", pl.Token, p.Token)
	}
	if checkOpen(rt) != nil {
		// Too late: send the tokens back.
		return callTransfer(rt, p.Token.ApplicationID, rt.ApplicationID().Owner(), pl.Amount, info.Origin, pl.Owner.Owner)
	}
	return record(rt, info.Origin, pl.Owner.Owner, pl.Amount)
}

// Query resolves the service's queries; the schema follows from Query and Mutation
// (sdk.GraphQLServiceOf).
type Query struct{ rt *sdk.Runtime }

// Mutation resolves the service's mutations: each schedules an operation.
type Mutation struct{ rt *sdk.Runtime }

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}

func (*Query) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"pledged": `The total pledged ("0" off the campaign chain).`,
		"status":  "active, collected, cancelled, or none where the application was not instantiated.",
	}
}

func (q *Query) Pledged() (fungible.Amount, error) { return total.GetOr(q.rt, 0) }

func (q *Query) Status() (string, error) { return status.GetOr(q.rt, StatusNone) }

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"pledge":  "Schedules a pledge; campaignChain and token are needed off the campaign chain.",
		"collect": "Schedules collect (the campaign owner, target reached).",
		"cancel":  "Schedules cancel (after the deadline, target not reached).",
	}
}

func (m *Mutation) Pledge(args struct {
	Owner         sdk.Owner
	Amount        fungible.Amount
	CampaignChain *sdk.ChainID
	Token         *sdk.ApplicationID
}) (bool, error) {
	p := &Pledge{Owner: &fungible.Owner{Owner: args.Owner}, Amount: &args.Amount}
	if args.CampaignChain != nil {
		p.CampaignChain = &fungible.Chain{ChainID: *args.CampaignChain}
	}
	if args.Token != nil {
		p.Token = &AppID{*args.Token}
	}
	return true, sdk.Schedule(m.rt, Operation{Pledge: p})
}

func (m *Mutation) Collect() (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Collect: &Empty{}})
}

func (m *Mutation) Cancel() (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Cancel: &Empty{}})
}
