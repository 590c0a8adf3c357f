// Package sdktest runs Mica applications natively, without Wasm, against an
// in-memory chain, so their authors can unit-test them with plain go test. The
// in-process host speaks the same ABI requests (the same byte encodings) as the real
// host, and the SDK's entry point dispatch is the one used in Wasm.
package sdktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/internal/abi"
)

// SentMessage is a message a contract sent.
type SentMessage struct {
	Destination   sdk.ChainID
	Message       []byte
	Tracked       bool
	Authenticated bool
}

// OpenedChain is a chain a contract opened.
type OpenedChain struct {
	ID      sdk.ChainID
	Request []byte
	Balance sdk.Amount
}

// Claim is a claim a contract made.
type Claim struct {
	Source, Recipient sdk.Account
	Amount            sdk.Amount
}

// Transfer is a native transfer a contract made.
type Transfer struct {
	Source    sdk.Owner
	Recipient sdk.Account
	Amount    sdk.Amount
}

// LogEntry is a message an application logged.
type LogEntry struct {
	Level   sdk.LogLevel
	Message string
}

// Chain is an in-memory chain running one application. Its storage is shared by the
// contract and the service. Set the exported fields to shape the environment.
// Each contract entry point is atomic: on error, its writes, messages and transfers
// are discarded.
type Chain struct {
	ID          sdk.ChainID
	Application sdk.ApplicationID
	Height      uint64        // the block height contracts see; services see Height+1
	Time        sdk.Timestamp // block timestamp (and the services' local time)
	// Signer is the authenticated owner of operations (nil: unauthenticated).
	Signer *sdk.Owner
	// Caller is the authenticated calling application (nil: none).
	Caller *sdk.ApplicationID
	// ChainBalance and Balances are the chain's and the owners' native balances.
	ChainBalance sdk.Amount
	Balances     map[sdk.Owner]sdk.Amount
	// Parameters are the application's parameters (Runtime.Parameters); nil: none.
	Parameters []byte
	// Blobs are the data blobs ReadDataBlob finds, by hash.
	Blobs map[[32]byte][]byte
	// CallApplication answers the contract's calls to other applications (nil: refused).
	CallApplication func(authenticated bool, app sdk.ApplicationID, argument []byte) ([]byte, error)
	// VerifySignature answers Runtime.VerifySignature, given the canonical public key
	// and signature encodings (tag + length-prefixed bytes). The SDK module has no
	// cryptographic dependencies, so sdktest cannot verify signatures itself: when nil,
	// a VerifySignature call aborts the entry point with ErrNoVerifier. Tests can plug
	// in the main module's crypto (crypto.DecodePublicKey/DecodeSignature and
	// crypto.Verify) or a stub; return ErrMalformed for encodings that do not decode,
	// like the real host (the SDK then reports false).
	VerifySignature func(publicKey []byte, msg [32]byte, signature []byte) (bool, error)
	// HTTP answers Runtime.HTTPRequest from contracts and services (nil: a request
	// aborts the entry point). It receives the request with the header
	// "Mica-Validator: sdktest"; HTTPRequests records every request it served.
	HTTP         http.Handler
	HTTPRequests []sdk.HTTPRequest
	// QueryService answers Runtime.QueryService (nil: a query aborts the entry point).
	// ServiceQuery wires it to a service app on this chain.
	QueryService func(app sdk.ApplicationID, query []byte) ([]byte, error)
	// ValidatorTime is the validator's clock Runtime.AssertBefore compares with (zero:
	// Time).
	ValidatorTime sdk.Timestamp

	Messages  []SentMessage
	Transfers []Transfer
	// Opened are the chains contracts opened (Request is the raw host request: the
	// protocol encoding of the ownership then the balance).
	Opened []OpenedChain
	// Claims are the claims contracts made (not executed: they act on other chains).
	Claims []Claim
	// Scheduled are the operations services scheduled (mutations).
	Scheduled [][]byte
	Logs      []LogEntry
	// WriteBatches counts the write batches the host received.
	WriteBatches int

	// Events is the event store the chain emits to and reads from (streams.go); give
	// several chains the same one to let them read each other's events.
	Events *Events
	// Subscriptions are the application's subscriptions, in subscription order.
	Subscriptions []Subscription

	store map[string][]byte
}

// NewChain returns an empty chain with fixed ids, height 0 and a fixed timestamp.
func NewChain() *Chain {
	return &Chain{
		ID:          sha256.Sum256([]byte("sdktest chain")),
		Application: sha256.Sum256([]byte("sdktest application")),
		Time:        1_700_000_000_000_000,
		Balances:    map[sdk.Owner]sdk.Amount{},
		Blobs:       map[[32]byte][]byte{},
		store:       map[string][]byte{},
		Events:      NewEvents(),
	}
}

// Get reads the application's storage directly.
func (c *Chain) Get(key []byte) ([]byte, bool) {
	v, ok := c.store[string(key)]
	return bytes.Clone(v), ok
}

// Set writes the application's storage directly.
func (c *Chain) Set(key, value []byte) { c.store[string(key)] = bytes.Clone(value) }

// Keys returns the stored keys, sorted.
func (c *Chain) Keys() []string { return slices.Sorted(maps.Keys(c.store)) }

// Instantiate runs the contract's Instantiate (then Finalize if it has one).
func (c *Chain) Instantiate(app sdk.ContractApp, arg []byte) error {
	_, err := c.runContract(app, abi.EntryInstantiate, arg, nil)
	return err
}

// ExecuteOperation runs an operation (then Finalize if the contract has one) and
// returns its response.
func (c *Chain) ExecuteOperation(app sdk.ContractApp, op []byte) ([]byte, error) {
	return c.runContract(app, abi.EntryExecuteOperation, op, nil)
}

// ExecuteMessage runs a message from this chain at the current height.
func (c *Chain) ExecuteMessage(app sdk.ContractApp, msg []byte) error {
	return c.ExecuteMessageFrom(app, sdk.MessageInfo{Origin: c.ID, OriginHeight: c.Height, OriginTimestamp: c.Time}, msg)
}

// ExecuteMessageFrom runs a message described by info.
func (c *Chain) ExecuteMessageFrom(app sdk.ContractApp, info sdk.MessageInfo, msg []byte) error {
	_, err := c.runContract(app, abi.EntryExecuteMessage, msg, &info)
	return err
}

// Query runs the service's HandleQuery against the chain's committed storage.
func (c *Chain) Query(svc sdk.ServiceApp, query []byte) ([]byte, error) {
	h := c.newHost(true, nil)
	return h.run(svc, abi.EntryHandleQuery, query)
}

// GraphQL sends svc the JSON request {"query": query, "variables": variables}, as
// clients POST it, and returns the response.
func (c *Chain) GraphQL(svc sdk.ServiceApp, query string, variables map[string]any) ([]byte, error) {
	req, err := json.Marshal(sdk.GraphQLRequest{Query: query, Variables: variables})
	if err != nil {
		return nil, err
	}
	return c.Query(svc, req)
}

func (c *Chain) runContract(app sdk.ContractApp, entry string, input []byte, msg *sdk.MessageInfo) ([]byte, error) {
	h := c.newHost(false, msg)
	out, err := h.run(app, entry, input)
	if err == nil {
		if _, ok := app.(sdk.Finalizer); ok {
			_, err = h.run(app, abi.EntryFinalize, nil)
		}
	}
	if err != nil {
		return nil, err
	}
	c.store, c.ChainBalance, c.Balances = h.store, h.chainBalance, h.balances
	c.Messages = append(c.Messages, h.messages...)
	c.Transfers = append(c.Transfers, h.transfers...)
	c.WriteBatches += h.batches
	h.commitStreams()
	return out, nil
}

// host is one transaction's in-process host: a copy of the chain's state, committed
// by the Chain on success.
type host struct {
	c       *Chain
	service bool
	msg     *sdk.MessageInfo

	store        map[string][]byte
	chainBalance sdk.Amount
	balances     map[sdk.Owner]sdk.Amount
	messages     []SentMessage
	transfers    []Transfer
	batches      int
	emitted      []emitted
	subs         []Subscription

	output []byte
	errMsg *string
	abort  error
}

func (c *Chain) newHost(service bool, msg *sdk.MessageInfo) *host {
	return &host{c: c, service: service, msg: msg, store: maps.Clone(c.store),
		chainBalance: c.ChainBalance, balances: maps.Clone(c.Balances), subs: slices.Clone(c.Subscriptions)}
}

// abortError stops the run like a host error that aborts a Wasm run.
type abortError struct{ err error }

func (a abortError) Error() string { return a.err.Error() }

func (h *host) run(app any, entry string, input []byte) ([]byte, error) {
	h.output, h.errMsg, h.abort = nil, nil, nil
	status := abi.Dispatch(h, app, entry, bytes.Clone(input))
	if h.abort != nil {
		return nil, h.abort
	}
	if status != 0 {
		if h.errMsg != nil {
			return nil, errors.New(*h.errMsg)
		}
		return nil, fmt.Errorf("%s returned status %d", entry, status)
	}
	return h.output, nil
}

func (h *host) SetOutput(b []byte)  { h.output = bytes.Clone(b) }
func (h *host) SetError(msg string) { h.errMsg = &msg }
func (h *host) Log(level int32, msg string) {
	h.c.Logs = append(h.c.Logs, LogEntry{Level: sdk.LogLevel(level), Message: msg})
}

// ErrNoVerifier aborts an entry point calling Runtime.VerifySignature when
// Chain.VerifySignature is nil.
var ErrNoVerifier = errors.New("sdktest: signature verification needs Chain.VerifySignature (the SDK module has no crypto dependencies)")

// ErrMalformed is what a Chain.VerifySignature hook returns for a public key or
// signature that does not decode: the host answers "malformed request" like the real
// one, and Runtime.VerifySignature reports false.
var ErrMalformed = errMalformed

var (
	errUnknown   = errors.New("unknown kind")
	errNotSupp   = errors.New("not supported")
	errMalformed = errors.New("malformed")
)

// Call serves a request like the real host: refusals become negative codes, other
// failures abort the run.
func (h *host) Call(kind uint32, req []byte) ([]byte, int64) {
	d := abi.NewDecoder(req)
	var e abi.Encoder
	err := h.serve(kind, d, &e)
	switch {
	case errors.Is(err, errUnknown):
		return nil, abi.CodeUnknownKind
	case errors.Is(err, errNotSupp):
		return nil, abi.CodeNotSupported
	case errors.Is(err, errMalformed):
		return nil, abi.CodeMalformed
	case err != nil:
		h.abort = err
		panic(abortError{err})
	}
	if e.Buf == nil {
		e.Buf = []byte{}
	}
	return e.Buf, int64(len(e.Buf))
}

func done(d *abi.Decoder) error {
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}

func (h *host) serve(kind uint32, d *abi.Decoder, e *abi.Encoder) error {
	contractOnly := func() error {
		if h.service {
			return fmt.Errorf("%w: kind %d is for contracts only", errNotSupp, kind)
		}
		return nil
	}
	switch kind {
	case abi.KindChainID:
		e.Fixed(h.c.ID[:])
	case abi.KindApplicationID:
		e.Fixed(h.c.Application[:])
	case abi.KindBlockHeight:
		if h.service {
			e.U64(h.c.Height + 1)
		} else {
			e.U64(h.c.Height)
		}
	case abi.KindTimestamp:
		e.U64(uint64(h.c.Time))
	case abi.KindAuthenticatedOwner:
		if err := contractOnly(); err != nil {
			return err
		}
		e.Bool(h.c.Signer != nil)
		if h.c.Signer != nil {
			e.Owner(uint8(h.c.Signer.Kind()), h.c.Signer.Bytes())
		}
	case abi.KindAuthenticatedCaller:
		if err := contractOnly(); err != nil {
			return err
		}
		e.Bool(h.c.Caller != nil)
		if h.c.Caller != nil {
			e.Fixed(h.c.Caller[:])
		}
	case abi.KindMessageInfo:
		if err := contractOnly(); err != nil {
			return err
		}
		e.Bool(h.msg != nil)
		if h.msg != nil {
			e.Fixed(h.msg.Origin[:])
			e.U64(h.msg.OriginHeight)
			e.U64(uint64(h.msg.OriginTimestamp))
			e.Bool(h.msg.IsBouncing)
		}
	case abi.KindReadValue:
		key := d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		v, ok := h.store[string(key)]
		e.Bool(ok)
		if ok {
			e.VarBytes(v)
		}
	case abi.KindReadMultiValues:
		n := d.Length(1)
		var keys [][]byte
		for i := 0; i < n && d.Err() == nil; i++ {
			keys = append(keys, d.VarBytes())
		}
		if err := done(d); err != nil {
			return err
		}
		e.Uleb(uint64(len(keys)))
		for _, k := range keys {
			v, ok := h.store[string(k)]
			e.Bool(ok)
			if ok {
				e.VarBytes(v)
			}
		}
	case abi.KindFindKeyValues:
		prefix := d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		var keys []string
		for k := range h.store {
			if strings.HasPrefix(k, string(prefix)) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		e.Uleb(uint64(len(keys)))
		for _, k := range keys {
			e.VarBytes([]byte(k))
			e.VarBytes(h.store[k])
		}
	case abi.KindWriteBatch:
		if err := contractOnly(); err != nil {
			return err
		}
		type op struct {
			tag      uint64
			key, val []byte
		}
		var ops []op
		n := d.Length(2)
		for i := 0; i < n && d.Err() == nil; i++ {
			o := op{tag: d.Uleb()}
			switch o.tag {
			case abi.OpPut:
				o.key, o.val = d.VarBytes(), d.VarBytes()
			case abi.OpDelete, abi.OpDeletePrefix:
				o.key = d.VarBytes()
			default:
				return fmt.Errorf("%w: write batch op %d", errMalformed, o.tag)
			}
			ops = append(ops, o)
		}
		if err := done(d); err != nil {
			return err
		}
		for _, o := range ops {
			switch o.tag {
			case abi.OpPut:
				h.store[string(o.key)] = o.val
			case abi.OpDelete:
				delete(h.store, string(o.key))
			case abi.OpDeletePrefix:
				for k := range h.store {
					if strings.HasPrefix(k, string(o.key)) {
						delete(h.store, k)
					}
				}
			}
		}
		h.batches++
	case abi.KindScheduleOperation:
		if !h.service {
			return fmt.Errorf("%w: kind %d is for services only", errNotSupp, kind)
		}
		op := d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		h.c.Scheduled = append(h.c.Scheduled, op)
	case abi.KindSendMessage:
		if err := contractOnly(); err != nil {
			return err
		}
		m := SentMessage{Destination: d.Fixed32(), Authenticated: d.Bool(), Tracked: d.Bool(), Message: d.VarBytes()}
		if err := done(d); err != nil {
			return err
		}
		h.messages = append(h.messages, m)
	case abi.KindTransfer:
		if err := contractOnly(); err != nil {
			return err
		}
		src := h.owner(d)
		var rec sdk.Account
		rec.Chain = d.Fixed32()
		rec.Owner = h.owner(d)
		lo, hi := d.U128()
		if err := done(d); err != nil {
			return err
		}
		return h.transfer(src, rec, sdk.Amount{Lo: lo, Hi: hi})
	case abi.KindOpenChain:
		if err := contractOnly(); err != nil {
			return err
		}
		req := append([]byte(nil), d.Rest()...)
		if len(req) < 16 {
			return fmt.Errorf("%w: open chain request too short", errMalformed)
		}
		lo, hi := binary.LittleEndian.Uint64(req[len(req)-16:]), binary.LittleEndian.Uint64(req[len(req)-8:])
		id := sha256.Sum256(append([]byte("sdktest opened chain"), byte(len(h.c.Opened))))
		h.c.Opened = append(h.c.Opened, OpenedChain{ID: id, Request: req, Balance: sdk.Amount{Lo: lo, Hi: hi}})
		e.Fixed(id[:])
	case abi.KindClaim:
		if err := contractOnly(); err != nil {
			return err
		}
		var c Claim
		c.Source.Chain = d.Fixed32()
		c.Source.Owner = h.owner(d)
		c.Recipient.Chain = d.Fixed32()
		c.Recipient.Owner = h.owner(d)
		lo, hi := d.U128()
		if err := done(d); err != nil {
			return err
		}
		c.Amount = sdk.Amount{Lo: lo, Hi: hi}
		h.c.Claims = append(h.c.Claims, c)
	case abi.KindCallApplication:
		if err := contractOnly(); err != nil {
			return err
		}
		auth, app, arg := d.Bool(), sdk.ApplicationID(d.Fixed32()), d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		if h.c.CallApplication == nil {
			return fmt.Errorf("sdktest: no CallApplication handler for application %v", app)
		}
		resp, err := h.c.CallApplication(auth, app, arg)
		if err != nil {
			return err
		}
		e.Fixed(resp)
	case abi.KindReadDataBlob:
		hash := d.Fixed32()
		if err := done(d); err != nil {
			return err
		}
		b, ok := h.c.Blobs[hash]
		if !ok {
			return fmt.Errorf("sdktest: blob %x not found", hash)
		}
		e.Fixed(b)
	case abi.KindApplicationParameters:
		if err := done(d); err != nil {
			return err
		}
		e.Fixed(h.c.Parameters)
	case abi.KindChainBalance:
		e.U128(h.chainBalance.Lo, h.chainBalance.Hi)
	case abi.KindOwnerBalance:
		o := h.owner(d)
		if err := done(d); err != nil {
			return err
		}
		b := h.balances[o]
		e.U128(b.Lo, b.Hi)
	case abi.KindSha256:
		data := d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		e.Fixed(sum[:])
	case abi.KindKeccak256:
		data := d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		sum := keccak256(data)
		e.Fixed(sum[:])
	case abi.KindVerifySignature:
		pk := taggedBytes(d)
		msg := d.Fixed32()
		sig := taggedBytes(d)
		if err := done(d); err != nil {
			return err
		}
		if h.c.VerifySignature == nil {
			return ErrNoVerifier
		}
		ok, err := h.c.VerifySignature(pk, msg, sig)
		if err != nil {
			return err
		}
		e.Bool(ok)
	case abi.KindHTTPRequest:
		return h.httpRequest(d, e)
	case abi.KindQueryService, abi.KindAssertBefore:
		if err := contractOnly(); err != nil {
			return err
		}
		return h.oracle(kind, d, e)
	case abi.KindEmitEvent, abi.KindReadEvent, abi.KindSubscribeToEvents, abi.KindUnsubscribeFromEvents:
		return h.serveStreams(kind, d, e)
	default:
		return errUnknown
	}
	return nil
}

// taggedBytes reads a canonical public key or signature encoding (ULEB tag, then
// length-prefixed bytes) and returns its raw bytes.
func taggedBytes(d *abi.Decoder) []byte {
	var e abi.Encoder
	e.Uleb(d.Uleb())
	e.VarBytes(d.VarBytes())
	return e.Buf
}

func (h *host) owner(d *abi.Decoder) sdk.Owner {
	k, b := d.Owner()
	if d.Err() != nil {
		return sdk.Owner{}
	}
	o, _ := sdk.OwnerFromParts(sdk.OwnerKind(k), b)
	return o
}

// transfer debits source (the chain account for ChainOwner) and credits a recipient
// on this chain; transfers to other chains are only recorded. No permission checks.
func (h *host) transfer(src sdk.Owner, rec sdk.Account, amt sdk.Amount) error {
	if h.balances == nil {
		h.balances = map[sdk.Owner]sdk.Amount{}
	}
	bal := h.chainBalance
	if src != sdk.ChainOwner() {
		bal = h.balances[src]
	}
	nb, err := bal.Sub(amt)
	if err != nil {
		return fmt.Errorf("sdktest: insufficient balance: %v has %v, transfers %v", src, bal, amt)
	}
	if src == sdk.ChainOwner() {
		h.chainBalance = nb
	} else {
		h.balances[src] = nb
	}
	if rec.Chain == h.c.ID {
		if rec.Owner == sdk.ChainOwner() {
			if h.chainBalance, err = h.chainBalance.Add(amt); err != nil {
				return err
			}
		} else if h.balances[rec.Owner], err = h.balances[rec.Owner].Add(amt); err != nil {
			return err
		}
	}
	h.transfers = append(h.transfers, Transfer{Source: src, Recipient: rec, Amount: amt})
	return nil
}
