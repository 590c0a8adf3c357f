package execution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// This file defines how user applications plug in. A VM (package execution/wasm) turns
// a module into UserContract and UserService values through an ApplicationLoader; the
// execution layer calls them and gives them a runtime through which they call back into
// the host. Nothing here knows about Wasm.

// UserContract is an application's contract: the metered, state-changing half. A fresh
// contract is loaded for each transaction that uses the application and is called from
// one goroutine. Returning an error (or trapping) fails the transaction, hence the block.
type UserContract interface {
	// Instantiate runs once, on the chain that creates the application, with its
	// instantiation argument.
	Instantiate(ctx context.Context, rt ContractRuntime, argument []byte) error
	// ExecuteOperation executes an operation of a block, or a synchronous call from
	// another application (then rt.AuthenticatedCaller is set), and returns the response.
	ExecuteOperation(ctx context.Context, rt ContractRuntime, operation []byte) ([]byte, error)
	// ExecuteMessage executes a message of the application received from a chain
	// (rt.Message describes it).
	ExecuteMessage(ctx context.Context, rt ContractRuntime, message []byte) error
	// Finalize is called once at the end of every transaction that loaded the contract.
	// It may send messages but not call other applications.
	Finalize(ctx context.Context, rt ContractRuntime) error
}

// UserService is an application's service: the read-only, unmetered half that answers
// queries.
type UserService interface {
	HandleQuery(ctx context.Context, rt ServiceRuntime, query []byte) ([]byte, error)
}

// ApplicationLoader loads applications by id (a VM with its compilation cache). Blobs
// (the application description and bytecode) should be read through blobs, which records
// them as oracle responses when executing a block. Errors of class base.ErrNotFound mean
// a blob is missing; others fail the transaction.
type ApplicationLoader interface {
	LoadContract(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserContract, error)
	LoadService(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserService, error)
}

// KeyValue is one entry of an application's storage.
type KeyValue struct {
	Key   []byte
	Value []byte
}

// MessageInfo describes the incoming message a contract executes.
type MessageInfo struct {
	Origin          base.ChainID
	OriginHeight    base.BlockHeight
	OriginTimestamp base.Timestamp
	// IsBouncing is set when the message is a rejected message of this application
	// coming back.
	IsBouncing bool
}

// SendMessageRequest is a message an application sends to its own instance on another
// chain.
type SendMessageRequest struct {
	Destination base.ChainID
	// Authenticated forwards the runtime's authenticated owner with the message.
	Authenticated bool
	// Tracked makes a rejected message bounce back (otherwise it is simple: dropped).
	Tracked bool
	Message []byte
}

// BaseRuntime is the host API shared by contracts and services. Storage methods act on
// the application's own key-value namespace; returned slices belong to the caller.
type BaseRuntime interface {
	ChainID() base.ChainID
	ApplicationID() base.ApplicationID
	ChainBalance(ctx context.Context) (base.Amount, error)
	OwnerBalance(ctx context.Context, owner base.Owner) (base.Amount, error)
	ChainOwnership(ctx context.Context) (protocol.ChainOwnership, error)
	ApplicationPermissions(ctx context.Context) (protocol.ApplicationPermissions, error)
	// ReadValue returns the value under key (ok false when missing).
	ReadValue(ctx context.Context, key []byte) (value []byte, ok bool, err error)
	// ReadMultiValues returns one entry per key; nil for a missing key.
	ReadMultiValues(ctx context.Context, keys [][]byte) ([][]byte, error)
	// FindKeyValues returns the entries whose keys start with prefix, in key order. Keys
	// are returned whole (prefix included).
	FindKeyValues(ctx context.Context, prefix []byte) ([]KeyValue, error)
	// ReadDataBlob returns the content of a data blob (recorded as an oracle response in
	// contracts).
	ReadDataBlob(ctx context.Context, hash base.Hash) ([]byte, error)
	// ApplicationParameters returns the running application's parameters: the
	// Parameters of its description (set by the CreateApplication operation, so
	// bounded by the block's MaxBlockSize), empty when none were given.
	ApplicationParameters(ctx context.Context) ([]byte, error)
	Log(level slog.Level, message string)
}

// ContractRuntime is the host API of a contract during one call.
type ContractRuntime interface {
	BaseRuntime
	BlockHeight() base.BlockHeight
	Timestamp() base.Timestamp
	// AuthenticatedOwner is the signer the call acts for, or nil.
	AuthenticatedOwner() *base.Owner
	// AuthenticatedCaller is the application that called this one synchronously, or nil.
	AuthenticatedCaller() *base.ApplicationID
	// Message describes the message being executed, or nil for operations and calls.
	Message() *MessageInfo
	// Transfer moves amount from source on this chain: the application's own account
	// (ApplicationOwner), the authenticated owner's account, or the chain account if the
	// authenticated owner owns the chain.
	Transfer(ctx context.Context, source base.Owner, recipient base.Account, amount base.Amount) error
	// Claim withdraws amount from source (an account of the authenticated owner or of the
	// application, on any chain) to recipient.
	Claim(ctx context.Context, source base.Account, recipient base.Account, amount base.Amount) error
	// OpenChain opens a child chain with the given ownership, funded with balance from
	// the application's own account, and returns its id.
	OpenChain(ctx context.Context, ownership protocol.ChainOwnership, balance base.Amount) (base.ChainID, error)
	// WriteBatch applies b's operations, in order, to the application's storage.
	WriteBatch(ctx context.Context, b *kv.Batch) error
	SendMessage(ctx context.Context, req SendMessageRequest) error
	// CallApplication calls callee's ExecuteOperation synchronously on this chain and
	// returns its response. authenticated forwards the authenticated owner. Calling an
	// application already on the call stack fails with ErrReentrantCall.
	CallApplication(ctx context.Context, authenticated bool, callee base.ApplicationID, argument []byte) ([]byte, error)
}

// ServiceRuntime is the host API of a service answering a query.
type ServiceRuntime interface {
	BaseRuntime
	NextBlockHeight() base.BlockHeight
	// LocalTime is the node's time when the query started (services are not replicated).
	LocalTime() base.Timestamp
	// ScheduleOperation asks the client to commit an operation of this application in
	// a block (how a GraphQL mutation becomes a block).
	ScheduleOperation(operation []byte)
}

// ApplicationOwner is the account owner of an application: it holds the application's
// own tokens.
func ApplicationOwner(app base.ApplicationID) base.Owner { return base.Address32Owner(base.Hash(app)) }

// appSession tracks the applications one transaction loaded and the call stack.
type appSession struct {
	instances  map[base.ApplicationID]UserContract
	order      []base.ApplicationID // load order: Finalize runs in this order
	stack      []base.ApplicationID
	finalizing bool
}

// contract returns the transaction's instance of app, loading it on first use.
func (t *txn) contract(ctx context.Context, app base.ApplicationID) (UserContract, error) {
	t.pinned = true // the contract gets runtimes that point to t
	if c, ok := t.apps.instances[app]; ok {
		return c, nil
	}
	if t.s.loader == nil {
		return nil, fmt.Errorf("application %s: %w", app, ErrNoVM)
	}
	c, err := t.s.loader.LoadContract(ctx, app, createdFirst{t})
	if err != nil {
		return nil, fmt.Errorf("load application %s: %w", app, classify(err))
	}
	if c == nil {
		return nil, failf(ErrApplication, "loader returned no contract for application %s", app)
	}
	if m, ok := c.(FuelMeter); ok {
		m.UseFuelTank(t.fuelTank())
	}
	if t.apps.instances == nil {
		t.apps.instances = make(map[base.ApplicationID]UserContract)
	}
	t.apps.instances[app] = c
	t.apps.order = append(t.apps.order, app)
	return c, nil
}

// FuelMeter is implemented by contracts that count fuel (the Wasm VM). The execution
// layer gives every contract a transaction loads the transaction's one FuelTank, whose
// limit is what is left of the block's fuel limit (policy.MaxFuelPerBlock); the fuel
// used is charged at policy.FuelUnit.
type FuelMeter interface {
	// UseFuelTank makes the contract draw its fuel from tank (it may Lower the tank's
	// limit to its own per-transaction cap).
	UseFuelTank(tank *FuelTank)
}

// FuelTank is the fuel budget of one transaction, shared by every contract it runs,
// nested calls included: loading N applications does not multiply the budget. Not safe
// for concurrent use (a transaction runs on one goroutine).
//
// Invariant: used <= limit.
type FuelTank struct {
	limit, used uint64
}

// NewFuelTank returns a tank holding limit units.
func NewFuelTank(limit uint64) *FuelTank { return &FuelTank{limit: limit} }

// Limit returns the tank's limit.
func (f *FuelTank) Limit() uint64 { return f.limit }

// Used returns the fuel consumed so far.
func (f *FuelTank) Used() uint64 { return f.used }

// Remaining returns the fuel left.
func (f *FuelTank) Remaining() uint64 { return f.limit - f.used }

// Lower lowers the limit to limit if that is smaller, never below what was used.
func (f *FuelTank) Lower(limit uint64) {
	f.limit = max(min(f.limit, limit), f.used)
}

// Consume records n units as used and reports whether they fitted; if not, the tank is
// left empty.
func (f *FuelTank) Consume(n uint64) bool {
	if n > f.Remaining() {
		f.used = f.limit
		return false
	}
	f.used += n
	return true
}

// fuelTank returns the transaction's tank, created on first use with what is left of
// the block's fuel limit.
func (t *txn) fuelTank() *FuelTank {
	if t.fuel == nil {
		t.fuel = NewFuelTank(t.s.remainingFuel(t.tc.Policy, 0))
	}
	return t.fuel
}

// fuelUsed is the fuel the transaction's contracts used so far.
func (t *txn) fuelUsed() uint64 {
	if t.fuel == nil {
		return 0
	}
	return t.fuel.Used()
}

// remainingFuel is the block's fuel limit minus what earlier transactions of the block
// and this one used.
func (s *State) remainingFuel(p *protocol.ResourcePolicy, inTx uint64) uint64 {
	if p == nil {
		d := protocol.NoFeesPolicy()
		p = &d
	}
	used := s.blockFuel + inTx
	if used >= p.MaxFuelPerBlock {
		return 0
	}
	return p.MaxFuelPerBlock - used
}

// createdFirst reads blobs created earlier in the block, by this transaction or an
// earlier one (an application's description, created by CreateApplication), before
// asking the oracles: those are part of the block's outcome, not inputs to record.
type createdFirst struct{ t *txn }

func (c createdFirst) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if b, ok := c.t.created(id); ok {
		return b, nil
	}
	return c.t.oracles.ReadBlob(ctx, id)
}

// CheckBlob is ReadBlob without the content (BlobChecker).
func (c createdFirst) CheckBlob(ctx context.Context, id base.BlobID) error {
	if _, ok := c.t.created(id); ok {
		return nil
	}
	return c.t.oracles.CheckBlob(ctx, id)
}

// created returns the blob id if this transaction or an earlier one of the block
// created it.
func (t *txn) created(id base.BlobID) (protocol.Blob, bool) {
	for _, blobs := range [2][]protocol.Blob{t.out.Blobs, t.s.blockBlobs} {
		for _, b := range blobs {
			if b.Type == id.Type && b.ID() == id {
				return b, true
			}
		}
	}
	return protocol.Blob{}, false
}

// call runs fn as app's frame on the call stack, refusing re-entrancy and turning a panic
// of the application into an error.
func (t *txn) call(app base.ApplicationID, fn func() error) (err error) {
	if slices.Contains(t.apps.stack, app) {
		return failf(ErrReentrantCall, "application %s is already on the call stack", app)
	}
	t.apps.stack = append(t.apps.stack, app)
	defer func() {
		t.apps.stack = t.apps.stack[:len(t.apps.stack)-1]
		if r := recover(); r != nil {
			err = failf(ErrApplication, "application %s panicked: %v", app, r)
		}
	}()
	if err := fn(); err != nil {
		return fmt.Errorf("application %s: %w", app, classify(err))
	}
	return nil
}

// classify leaves classified errors alone and marks the others as application failures.
func classify(err error) error {
	if errors.Is(err, base.ErrInvalid) || errors.Is(err, base.ErrNotFound) || errors.Is(err, base.ErrCorrupt) ||
		errors.Is(err, base.ErrRetryable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrApplication, err)
}

func (t *txn) executeUserOperation(ctx context.Context, app base.ApplicationID, op []byte) ([]byte, error) {
	c, err := t.contract(ctx, app)
	if err != nil {
		return nil, err
	}
	rt := &contractRuntime{t: t, app: app, owner: cloneOwnerPtr(t.tc.AuthenticatedOwner)}
	var result []byte
	err = t.call(app, func() error {
		var err error
		result, err = c.ExecuteOperation(ctx, rt, op)
		return err
	})
	if err != nil {
		return nil, err
	}
	return append([]byte{}, result...), nil
}

func (t *txn) executeUserMessage(ctx context.Context, app base.ApplicationID, msg []byte, signer *base.Owner, info *MessageInfo) error {
	c, err := t.contract(ctx, app)
	if err != nil {
		return err
	}
	rt := &contractRuntime{t: t, app: app, owner: cloneOwnerPtr(signer), msg: info}
	return t.call(app, func() error { return c.ExecuteMessage(ctx, rt, msg) })
}

// finalizeApplications calls Finalize on every loaded contract, in load order.
func (t *txn) finalizeApplications(ctx context.Context) error {
	t.apps.finalizing = true
	defer func() { t.apps.finalizing = false }()
	for _, app := range t.apps.order {
		c := t.apps.instances[app]
		rt := &contractRuntime{t: t, app: app}
		if err := t.call(app, func() error { return c.Finalize(ctx, rt) }); err != nil {
			return fmt.Errorf("finalize: %w", err)
		}
	}
	return nil
}

// InstantiateApplication runs app's Instantiate with argument as a transaction of its
// own, for applications that exist without a description blob (native test
// applications); the CreateApplication operation instantiates inside its own
// transaction instead. Like ExecuteTransaction, on error the caller must Rollback.
func (s *State) InstantiateApplication(ctx context.Context, tc TxContext, app base.ApplicationID, argument []byte, oracles *Oracles) (*TxOutcome, error) {
	if oracles == nil {
		oracles = LiveOracles(nil)
	}
	if err := s.checkChain(ctx, tc.ChainID); err != nil {
		return nil, err
	}
	t := &txn{s: s, tc: tc, oracles: oracles, mark: oracles.mark()}
	c, err := t.contract(ctx, app)
	if err == nil {
		rt := &contractRuntime{t: t, app: app, owner: cloneOwnerPtr(tc.AuthenticatedOwner)}
		err = t.call(app, func() error { return c.Instantiate(ctx, rt, argument) })
	}
	if err == nil {
		err = t.finalizeApplications(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("instantiate application %s: %w", app, err)
	}
	t.out.OracleResponses = oracles.since(t.mark)
	return &t.out, nil
}

// contractRuntime is the ContractRuntime of one call frame.
type contractRuntime struct {
	t      *txn
	app    base.ApplicationID
	owner  *base.Owner
	caller *base.ApplicationID
	msg    *MessageInfo
}

var _ ContractRuntime = (*contractRuntime)(nil)

func (r *contractRuntime) ChainID() base.ChainID             { return r.t.tc.ChainID }
func (r *contractRuntime) ApplicationID() base.ApplicationID { return r.app }
func (r *contractRuntime) BlockHeight() base.BlockHeight     { return r.t.tc.Height }
func (r *contractRuntime) Timestamp() base.Timestamp         { return r.t.tc.Timestamp }
func (r *contractRuntime) AuthenticatedOwner() *base.Owner   { return cloneOwnerPtr(r.owner) }
func (r *contractRuntime) AuthenticatedCaller() *base.ApplicationID {
	if r.caller == nil {
		return nil
	}
	c := *r.caller
	return &c
}

func (r *contractRuntime) Message() *MessageInfo {
	if r.msg == nil {
		return nil
	}
	m := *r.msg
	return &m
}

func (r *contractRuntime) ChainBalance(ctx context.Context) (base.Amount, error) {
	return r.t.s.ChainBalance(ctx)
}

func (r *contractRuntime) OwnerBalance(ctx context.Context, owner base.Owner) (base.Amount, error) {
	return r.t.s.OwnerBalance(ctx, owner)
}

func (r *contractRuntime) ChainOwnership(ctx context.Context) (protocol.ChainOwnership, error) {
	return r.t.s.Ownership(ctx)
}

func (r *contractRuntime) ApplicationPermissions(ctx context.Context) (protocol.ApplicationPermissions, error) {
	return r.t.s.Permissions(ctx)
}

func (r *contractRuntime) ReadValue(ctx context.Context, key []byte) ([]byte, bool, error) {
	return r.t.s.appStorage(r.app).get(ctx, key)
}

func (r *contractRuntime) ReadMultiValues(ctx context.Context, keys [][]byte) ([][]byte, error) {
	return r.t.s.appStorage(r.app).multiGet(ctx, keys)
}

func (r *contractRuntime) FindKeyValues(ctx context.Context, prefix []byte) ([]KeyValue, error) {
	return r.t.s.appStorage(r.app).scan(ctx, prefix)
}

func (r *contractRuntime) ReadDataBlob(ctx context.Context, hash base.Hash) ([]byte, error) {
	blob, err := r.t.oracles.ReadBlob(ctx, base.BlobID{Type: base.BlobData, Hash: hash})
	if err != nil {
		return nil, err
	}
	return append([]byte{}, blob.Content...), nil
}

// ApplicationParameters reads the parameters from the application's description.
func (r *contractRuntime) ApplicationParameters(ctx context.Context) ([]byte, error) {
	return r.t.parameters(ctx, r.app)
}

// parameters returns app's parameters. The transaction loaded app's contract before
// any call frame of app runs, and the loader read app's description then: from the
// blobs this transaction or an earlier one of the block created (CreateApplication),
// or through the recorded oracles.
// So this second read is not recorded: it returns the content-addressed blob whose id
// the block already records (or creates), the same bytes on every validator and on
// replay.
func (t *txn) parameters(ctx context.Context, app base.ApplicationID) ([]byte, error) {
	id := base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)}
	if b, ok := t.created(id); ok {
		return descriptionParameters(app, b.Content)
	}
	b, err := readBlob(ctx, t.oracles.resolver, id)
	if err != nil {
		return nil, fmt.Errorf("parameters of application %s: %w", app, err)
	}
	return descriptionParameters(app, b.Content)
}

// descriptionParameters decodes an application description blob and returns a copy of
// its parameters.
func descriptionParameters(app base.ApplicationID, content []byte) ([]byte, error) {
	var d protocol.ApplicationDescription
	if err := codec.Unmarshal(content, &d); err != nil {
		return nil, base.Corruptf("description of application %s: %v", app, err)
	}
	return append([]byte{}, d.Parameters...), nil
}

func (r *contractRuntime) Log(level slog.Level, message string) {
	r.t.s.log(level, message, r.app)
}

func (r *contractRuntime) WriteBatch(ctx context.Context, b *kv.Batch) error {
	if b == nil {
		return nil
	}
	r.t.written += batchWritten(b)
	return r.t.s.appStorage(r.app).apply(b)
}

// checkSource authorizes a debit of source on this chain by the application.
func (r *contractRuntime) checkSource(ctx context.Context, source base.Owner) error {
	if source == ApplicationOwner(r.app) {
		return nil
	}
	if source.IsChain() {
		return r.t.checkOwnerOf(ctx, r.owner, "debiting the chain account")
	}
	if r.owner == nil || *r.owner != source {
		return failf(ErrUnauthorized, "application %s may not debit the account of %s", r.app, source)
	}
	return nil
}

// OpenChain opens a child chain funded from the application's own account.
func (r *contractRuntime) OpenChain(ctx context.Context, ownership protocol.ChainOwnership, balance base.Amount) (base.ChainID, error) {
	if r.t.apps.finalizing {
		return base.ChainID{}, failf(ErrApplication, "finalize may not open chains")
	}
	return r.t.createChain(ctx, ApplicationOwner(r.app), &protocol.OpenChain{Ownership: ownership, Balance: balance})
}

func (r *contractRuntime) Transfer(ctx context.Context, source base.Owner, recipient base.Account, amount base.Amount) error {
	if err := checkAmount(amount); err != nil {
		return err
	}
	if err := checkRecipientChain(recipient.Chain); err != nil {
		return err
	}
	if err := r.checkSource(ctx, source); err != nil {
		return err
	}
	if err := r.t.s.debit(ctx, source, amount); err != nil {
		return err
	}
	return r.t.pay(ctx, source, recipient, amount)
}

func (r *contractRuntime) Claim(ctx context.Context, source base.Account, recipient base.Account, amount base.Amount) error {
	if err := checkAmount(amount); err != nil {
		return err
	}
	if err := checkRecipientChain(source.Chain); err != nil {
		return err
	}
	if err := checkRecipientChain(recipient.Chain); err != nil {
		return err
	}
	if source.Owner != ApplicationOwner(r.app) && (r.owner == nil || *r.owner != source.Owner) {
		return failf(ErrUnauthorized, "application %s may not claim from the account of %s", r.app, source.Owner)
	}
	return r.t.sendClaim(ctx, source.Owner, source.Chain, recipient, amount)
}

func (r *contractRuntime) SendMessage(ctx context.Context, req SendMessageRequest) error {
	if err := checkRecipientChain(req.Destination); err != nil {
		return err
	}
	if err := r.t.chargeOutcome(len(req.Message), "send message"); err != nil {
		return err
	}
	m := protocol.OutgoingMessage{
		Destination: req.Destination,
		Kind:        protocol.Simple,
		Message:     protocol.Message{App: r.app, Bytes: append([]byte{}, req.Message...)},
	}
	if req.Tracked {
		m.Kind = protocol.Tracked
	}
	if req.Authenticated {
		m.AuthenticatedOwner = cloneOwnerPtr(r.owner)
	}
	r.t.send(m)
	return nil
}

func (r *contractRuntime) CallApplication(ctx context.Context, authenticated bool, callee base.ApplicationID, argument []byte) ([]byte, error) {
	if r.t.apps.finalizing {
		return nil, failf(ErrApplication, "application %s may not call other applications while finalizing", r.app)
	}
	if slices.Contains(r.t.apps.stack, callee) {
		return nil, failf(ErrReentrantCall, "application %s calls %s, which is already on the call stack", r.app, callee)
	}
	c, err := r.t.contract(ctx, callee)
	if err != nil {
		return nil, err
	}
	caller := r.app
	rt := &contractRuntime{t: r.t, app: callee, caller: &caller}
	if authenticated {
		rt.owner = cloneOwnerPtr(r.owner)
	}
	var result []byte
	err = r.t.call(callee, func() error {
		var err error
		result, err = c.ExecuteOperation(ctx, rt, argument)
		return err
	})
	if err != nil {
		return nil, err
	}
	return append([]byte{}, result...), nil
}

// QueryContext is what a service query knows about the chain.
type QueryContext struct {
	ChainID         base.ChainID
	NextBlockHeight base.BlockHeight
	LocalTime       base.Timestamp
	// HTTP performs the service's HTTP requests (nil refuses them); Policy (nil means
	// protocol.NoFeesPolicy, which allows no host) bounds them.
	HTTP   HTTPPerformer
	Policy *protocol.ResourcePolicy
}

// QueryApplication asks app's service a query, over the staged state (read-only). Blobs
// are read from r directly: queries are not replicated and record nothing.
func (s *State) QueryApplication(ctx context.Context, qc QueryContext, app base.ApplicationID, query []byte, r Resolver) ([]byte, error) {
	out, _, err := s.QueryApplicationScheduling(ctx, qc, app, query, r)
	return out, err
}

// QueryApplicationScheduling is QueryApplication that also returns the operations the
// service scheduled (operations of app, to be committed by the client).
func (s *State) QueryApplicationScheduling(ctx context.Context, qc QueryContext, app base.ApplicationID, query []byte, r Resolver) (_ []byte, _ []protocol.Operation, err error) {
	if err := s.checkChain(ctx, qc.ChainID); err != nil {
		return nil, nil, err
	}
	if s.loader == nil {
		return nil, nil, fmt.Errorf("application %s: %w", app, ErrNoVM)
	}
	blobs := resolverBlobs{r}
	svc, err := s.loader.LoadService(ctx, app, blobs)
	if err != nil {
		return nil, nil, fmt.Errorf("load service of application %s: %w", app, classify(err))
	}
	if svc == nil {
		return nil, nil, failf(ErrApplication, "loader returned no service for application %s", app)
	}
	rt := &serviceRuntime{s: s, qc: qc, app: app, blobs: blobs}
	defer func() {
		if p := recover(); p != nil {
			err = failf(ErrApplication, "service of application %s panicked: %v", app, p)
		}
	}()
	out, err := svc.HandleQuery(ctx, rt, query)
	if err != nil {
		return nil, nil, fmt.Errorf("query application %s: %w", app, classify(err))
	}
	var ops []protocol.Operation
	for _, b := range rt.scheduled {
		ops = append(ops, protocol.Operation{App: app, Bytes: b})
	}
	return out, ops, nil
}

type resolverBlobs struct{ r Resolver }

func (b resolverBlobs) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return readBlob(ctx, b.r, id)
}

// CheckBlob is ReadBlob without the content (BlobChecker); queries record nothing.
func (b resolverBlobs) CheckBlob(ctx context.Context, id base.BlobID) error {
	p, ok := b.r.(BlobPresence)
	if !ok {
		_, err := readBlob(ctx, b.r, id)
		return err
	}
	has, err := p.HasBlob(ctx, id)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", id, err)
	}
	if !has {
		return &MissingBlobError{ID: id}
	}
	return nil
}

// serviceRuntime is the ServiceRuntime of one query.
type serviceRuntime struct {
	s         *State
	qc        QueryContext
	app       base.ApplicationID
	blobs     resolverBlobs
	scheduled [][]byte
}

// ScheduleOperation records an operation for the client to commit.
func (r *serviceRuntime) ScheduleOperation(op []byte) {
	r.scheduled = append(r.scheduled, append([]byte(nil), op...))
}

var _ ServiceRuntime = (*serviceRuntime)(nil)

func (r *serviceRuntime) ChainID() base.ChainID             { return r.qc.ChainID }
func (r *serviceRuntime) ApplicationID() base.ApplicationID { return r.app }
func (r *serviceRuntime) NextBlockHeight() base.BlockHeight { return r.qc.NextBlockHeight }
func (r *serviceRuntime) LocalTime() base.Timestamp         { return r.qc.LocalTime }

func (r *serviceRuntime) ChainBalance(ctx context.Context) (base.Amount, error) {
	return r.s.ChainBalance(ctx)
}

func (r *serviceRuntime) OwnerBalance(ctx context.Context, owner base.Owner) (base.Amount, error) {
	return r.s.OwnerBalance(ctx, owner)
}

func (r *serviceRuntime) ChainOwnership(ctx context.Context) (protocol.ChainOwnership, error) {
	return r.s.Ownership(ctx)
}

func (r *serviceRuntime) ApplicationPermissions(ctx context.Context) (protocol.ApplicationPermissions, error) {
	return r.s.Permissions(ctx)
}

func (r *serviceRuntime) ReadValue(ctx context.Context, key []byte) ([]byte, bool, error) {
	return r.s.appStorage(r.app).get(ctx, key)
}

func (r *serviceRuntime) ReadMultiValues(ctx context.Context, keys [][]byte) ([][]byte, error) {
	return r.s.appStorage(r.app).multiGet(ctx, keys)
}

func (r *serviceRuntime) FindKeyValues(ctx context.Context, prefix []byte) ([]KeyValue, error) {
	return r.s.appStorage(r.app).scan(ctx, prefix)
}

func (r *serviceRuntime) ReadDataBlob(ctx context.Context, hash base.Hash) ([]byte, error) {
	blob, err := r.blobs.ReadBlob(ctx, base.BlobID{Type: base.BlobData, Hash: hash})
	if err != nil {
		return nil, err
	}
	return append([]byte{}, blob.Content...), nil
}

// ApplicationParameters reads the parameters from the application's description (a
// query records nothing).
func (r *serviceRuntime) ApplicationParameters(ctx context.Context) ([]byte, error) {
	b, err := r.blobs.ReadBlob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(r.app)})
	if err != nil {
		return nil, fmt.Errorf("parameters of application %s: %w", r.app, err)
	}
	return descriptionParameters(r.app, b.Content)
}

func (r *serviceRuntime) Log(level slog.Level, message string) { r.s.log(level, message, r.app) }

// HTTPRequest performs an HTTP request for the service: not replicated, not recorded,
// with the policy's allow-list and limits (ServiceHTTP).
func (r *serviceRuntime) HTTPRequest(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	p := r.qc.Policy
	if p == nil {
		d := protocol.NoFeesPolicy()
		p = &d
	}
	return QueryHTTP(ctx, r.qc.HTTP, p, req)
}

// ContractOracles is the part of a contract's host API that consults the outside world,
// through the transaction's Oracles (recorded in live mode, replayed otherwise). The
// contract runtime of this package implements it; hosts discover it by type assertion.
type ContractOracles interface {
	// HTTPRequest performs an HTTP request (an OracleHTTP response).
	HTTPRequest(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
	// QueryService asks app's service a query (an OracleService response). The service
	// runs on the chain's state as the transaction sees it so far (earlier transactions
	// of the block and the calling contract's flushed writes included; the writes a
	// running contract still stages in its guest are not), within the block's
	// MaxServiceOracleMs.
	QueryService(ctx context.Context, app base.ApplicationID, query []byte) ([]byte, error)
	// AssertBefore fails if the validator's clock is not before deadline (an
	// OracleAssert response).
	AssertBefore(ctx context.Context, deadline base.Timestamp) error
}

// PreparedService is implemented by services that can do their one-time preparation
// (compilation) ahead of a query.
type PreparedService interface {
	Prepare(ctx context.Context) error
}

// ServiceHTTP is implemented by service runtimes that may perform HTTP requests.
type ServiceHTTP interface {
	HTTPRequest(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
}

var (
	_ ContractOracles = (*contractRuntime)(nil)
	_ ServiceHTTP     = (*serviceRuntime)(nil)
)

func (r *contractRuntime) HTTPRequest(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	return r.t.oracles.HTTPRequest(ctx, r.t.tc.Policy, req)
}

func (r *contractRuntime) QueryService(ctx context.Context, app base.ApplicationID, query []byte) ([]byte, error) {
	t := r.t
	if !t.oracles.IsReplay() && t.s.loader != nil {
		// Load (compile) the service before the clock of the block's service-oracle
		// budget starts: compiling is the node's cost (cached), not the query's.
		svc, err := t.s.loader.LoadService(ctx, app, resolverBlobs{t.oracles.resolver})
		if err == nil {
			if p, ok := svc.(PreparedService); ok {
				err = p.Prepare(ctx)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: load service of application %s: %w", ErrServiceOracle, app, classify(err))
		}
	}
	return t.oracles.QueryService(ctx, t.tc.Policy, app, query, func(ctx context.Context) ([]byte, error) {
		qc := QueryContext{ChainID: t.tc.ChainID, NextBlockHeight: t.tc.Height, LocalTime: t.tc.Timestamp, HTTP: t.oracles.env.HTTP, Policy: t.tc.Policy}
		return t.s.QueryApplication(ctx, qc, app, query, t.oracles.resolver)
	})
}

func (r *contractRuntime) AssertBefore(_ context.Context, deadline base.Timestamp) error {
	return r.t.oracles.AssertBefore(deadline)
}
