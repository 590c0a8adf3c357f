package execution

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// Sub-view tags under the execution state's context. Flush emits the views in this
// order, so the batch is in ascending key order.
const (
	tagDescription byte = iota + 1
	tagEpoch
	tagAdminChain
	tagCommittees
	tagOwnership
	tagChainBalance
	tagBalances
	tagClosed
	tagPermissions
	tagTimestamp
	tagApplications
	tagStreamCounts
	tagSubscriptions
	tagSubscriptionCount
)

// State is a chain's execution state: the system application's state and one key-value
// namespace per user application, as views under one views.Context:
//
//	P || 1                       description (ChainDescription; absent before Initialize)
//	P || 2                       epoch (u32)
//	P || 3                       admin chain id
//	P || 4 || BE32(epoch)        trusted committees: committee blob hash
//	P || 5                       ownership
//	P || 6                       chain account balance
//	P || 7 || owner              owner balances (kind byte + address); zero balances are absent
//	P || 8                       closed flag
//	P || 9                       application permissions
//	P || 10                      timestamp of the last block
//	P || 11 || app id || key     application storage
//	P || 12 || stream            next index of a user stream emitted on this chain (u32)
//	P || 13 || publisher || stream  subscribed applications and their next indices
//	P || 14                      number of subscriptions (u32); see streams.go
//
// Reads see staged changes. Flush appends the staged changes to a batch in ascending key
// order; equal operations from equal states give byte-identical batches. Rollback drops
// them. A State is not safe for concurrent use: the caller serializes access (the
// per-chain lock).
type State struct {
	vc     views.Context
	loader ApplicationLoader
	logger *slog.Logger

	description *views.Register[*protocol.ChainDescription]
	epoch       *views.Register[base.Epoch]
	adminChain  *views.Register[base.ChainID]
	committees  *views.Map[base.Epoch, base.Hash]
	ownership   *views.Register[protocol.ChainOwnership]
	balance     *views.Register[base.Amount]
	balances    *views.Map[base.Owner, base.Amount]
	closed      *views.Register[bool]
	permissions *views.Register[protocol.ApplicationPermissions]
	timestamp   *views.Register[base.Timestamp]

	// Event streams (streams.go).
	streamCounts      *views.Map[string, uint32]
	subscriptions     *views.Map[string, []appCursor]
	subscriptionCount *views.Register[uint32]

	// apps holds the storage of the applications touched since the state was loaded.
	apps map[base.ApplicationID]*appStore
	// appCache bounds the clean values apps cache.
	appCache appCache

	// chainID caches the id of the stored or staged description (nil until read).
	chainID *base.ChainID
	// chainsOpened counts the chains opened by the current block (the index of the next
	// child's origin). BeginBlock, Flush and Rollback reset it.
	chainsOpened uint32
	// blockFuel is the fuel used by the current block's earlier transactions; the
	// block's contracts may use up to policy.MaxFuelPerBlock. Reset with chainsOpened.
	blockFuel uint64
	// blockBlobs are the blobs the current block's earlier transactions created (an
	// application's description, by CreateApplication): later transactions of the
	// block read them as they read their own (createdFirst), before the block and its
	// blobs are stored. Reset with chainsOpened. The blobs are shared with the
	// transactions' outcomes, which nobody modifies.
	blockBlobs []protocol.Blob
	// systemWritten counts the bytes the system application has staged since the state
	// was created (see countSystemWrite); a transaction is charged the difference.
	systemWritten uint64

	// spare is a finished transaction's txn that nothing refers to any more (no contract
	// ran in it), reused by the next transaction instead of allocating one: a block of
	// transfers executes without a txn allocation per transaction. Invariant: nil or
	// zeroed.
	spare *txn
}

// Option configures a State.
type Option func(*State)

// WithLoader sets the loader of user applications (the VM). Without one, user operations
// and messages fail with ErrNoVM.
func WithLoader(l ApplicationLoader) Option { return func(s *State) { s.loader = l } }

// WithLogger sets the logger that receives the applications' log lines (discarded by
// default).
func WithLogger(l *slog.Logger) Option { return func(s *State) { s.logger = l } }

// NewState returns the execution state stored under vc. Nothing is read until needed.
func NewState(vc views.Context, opts ...Option) *State {
	s := &State{
		vc:          vc,
		description: views.NewRegister(vc.Sub(tagDescription), descriptionCodec, nil),
		epoch:       views.NewRegister(vc.Sub(tagEpoch), epochCodec, 0),
		adminChain:  views.NewRegister(vc.Sub(tagAdminChain), chainIDCodec, base.ChainID{}),
		committees:  views.NewMap(vc.Sub(tagCommittees), epochKey{}, views.Codec[base.Hash](views.HashCodec{})),
		ownership:   views.NewRegister(vc.Sub(tagOwnership), views.CanonicalCodec[protocol.ChainOwnership](), protocol.ChainOwnership{}),
		balance:     views.NewRegister(vc.Sub(tagChainBalance), views.Codec[base.Amount](views.AmountCodec{}), base.ZeroAmount),
		balances:    views.NewMap(vc.Sub(tagBalances), views.KeyCodec[base.Owner](views.OwnerKey()), views.Codec[base.Amount](views.AmountCodec{})),
		closed:      views.NewRegister(vc.Sub(tagClosed), views.Codec[bool](views.BoolCodec{}), false),
		permissions: views.NewRegister(vc.Sub(tagPermissions), views.CanonicalCodec[protocol.ApplicationPermissions](), protocol.ApplicationPermissions{}),
		timestamp:   views.NewRegister(vc.Sub(tagTimestamp), timestampCodec, 0),
		apps:        make(map[base.ApplicationID]*appStore),
	}
	s.streamCounts = views.NewMap(vc.Sub(tagStreamCounts), views.KeyCodec[string](views.StringKey{}), u32Codec)
	s.subscriptions = views.NewMap(vc.Sub(tagSubscriptions), views.KeyCodec[string](views.StringKey{}), appCursorsCodec)
	s.subscriptionCount = views.NewRegister(vc.Sub(tagSubscriptionCount), u32Codec, 0)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Initialize stages the initial state of a new chain from its description: the admin
// chain is desc.AdminChain, or the chain itself when that is zero (the chain is the admin
// chain); the trusted committees, epoch, ownership, chain balance and permissions come
// from the description.
func (s *State) Initialize(desc *protocol.ChainDescription) error {
	if desc == nil {
		return base.Invalidf("initialize chain: no description")
	}
	if err := desc.Config.Ownership.Validate(); err != nil {
		return fmt.Errorf("initialize chain: %w", err)
	}
	for i := 1; i < len(desc.Committees); i++ {
		if desc.Committees[i-1].Epoch >= desc.Committees[i].Epoch {
			return base.Invalidf("initialize chain: committees not sorted by epoch")
		}
	}
	// Store a private copy that survives its own encoding.
	d := new(protocol.ChainDescription)
	if err := codec.Unmarshal(codec.Marshal(desc), d); err != nil {
		return fmt.Errorf("initialize chain: description: %w", err)
	}
	id := d.ID()
	admin := d.AdminChain
	if admin.IsZero() {
		admin = id
	}
	s.description.Set(d)
	s.chainID = &id
	s.epoch.Set(d.Config.Epoch)
	s.adminChain.Set(admin)
	for _, ec := range d.Committees {
		s.committees.Set(ec.Epoch, ec.CommitteeHash)
	}
	s.ownership.Set(cloneOwnership(d.Config.Ownership))
	s.balance.Set(d.Config.Balance)
	s.permissions.Set(clonePermissions(d.Config.Permissions))
	s.timestamp.Set(d.Timestamp)
	return nil
}

// BeginBlock starts a new block: the chains it opens are numbered from 0. Flush and
// Rollback also start a new block.
func (s *State) BeginBlock() { s.chainsOpened, s.blockFuel, s.blockBlobs = 0, 0, nil }

func (s *State) nextChainIndex() (uint32, error) {
	if s.chainsOpened == ^uint32(0) {
		return 0, failf(ErrInvalidOperation, "too many chains opened in one block")
	}
	i := s.chainsOpened
	s.chainsOpened++
	return i, nil
}

// Flush appends every staged change to b, in ascending key order, and makes it the
// state's clean state. It also starts a new block (see BeginBlock). It is Emit then
// Commit.
func (s *State) Flush(b *kv.Batch) {
	s.Emit(b)
	s.Commit()
}

// Emit appends every staged change to b, in ascending key order, as Flush does, without
// changing the state: the changes stay staged.
func (s *State) Emit(b *kv.Batch) {
	s.description.Emit(b)
	s.epoch.Emit(b)
	s.adminChain.Emit(b)
	s.committees.Emit(b)
	s.ownership.Emit(b)
	s.balance.Emit(b)
	s.balances.Emit(b)
	s.closed.Emit(b)
	s.permissions.Emit(b)
	s.timestamp.Emit(b)
	for _, app := range appIDsSorted(s.apps) {
		s.apps[app].emit(b)
	}
	s.streamCounts.Emit(b)
	s.subscriptions.Emit(b)
	s.subscriptionCount.Emit(b)
}

// Commit makes the staged changes the state's clean state, as Flush does, without
// appending them anywhere: only for changes that Emit appended to a batch being
// written. The values read before stay cached. It also starts a new block.
func (s *State) Commit() {
	s.description.Commit()
	s.epoch.Commit()
	s.adminChain.Commit()
	s.committees.Commit()
	s.ownership.Commit()
	s.balance.Commit()
	s.balances.Commit()
	s.closed.Commit()
	s.permissions.Commit()
	s.timestamp.Commit()
	for _, a := range s.apps {
		a.commit()
	}
	s.streamCounts.Commit()
	s.subscriptions.Commit()
	s.subscriptionCount.Commit()
	s.BeginBlock()
}

// Rollback drops every staged change; the clean values read before stay cached. It also
// starts a new block (see BeginBlock).
func (s *State) Rollback() {
	if s.description.HasPendingChanges() {
		s.chainID = nil // it was the staged description's
	}
	s.description.Rollback()
	s.epoch.Rollback()
	s.adminChain.Rollback()
	s.committees.Rollback()
	s.ownership.Rollback()
	s.balance.Rollback()
	s.balances.Rollback()
	s.closed.Rollback()
	s.permissions.Rollback()
	s.timestamp.Rollback()
	for _, a := range s.apps {
		a.rollback()
	}
	s.streamCounts.Rollback()
	s.subscriptions.Rollback()
	s.subscriptionCount.Rollback()
	s.BeginBlock()
}

// Changes are a State's staged changes, taken out of it by TakeChanges to be staged
// again by PutChanges.
type Changes struct {
	description       views.RegisterChange[*protocol.ChainDescription]
	epoch             views.RegisterChange[base.Epoch]
	adminChain        views.RegisterChange[base.ChainID]
	committees        views.MapChange[base.Epoch, base.Hash]
	ownership         views.RegisterChange[protocol.ChainOwnership]
	balance           views.RegisterChange[base.Amount]
	balances          views.MapChange[base.Owner, base.Amount]
	closed            views.RegisterChange[bool]
	permissions       views.RegisterChange[protocol.ApplicationPermissions]
	timestamp         views.RegisterChange[base.Timestamp]
	apps              map[base.ApplicationID]appChange
	streamCounts      views.MapChange[string, uint32]
	subscriptions     views.MapChange[string, []appCursor]
	subscriptionCount views.RegisterChange[uint32]
}

// TakeChanges returns the staged changes and drops them, as Rollback does: the state
// reads as its stored form again, with the values read while staging them cached. The
// changes may be staged again (PutChanges) on this State or on another over the same
// context as long as the stored state has not changed in between: they then emit the
// same operations.
func (s *State) TakeChanges() *Changes {
	if s.description.HasPendingChanges() {
		s.chainID = nil
	}
	c := &Changes{
		description:       s.description.TakeStaged(),
		epoch:             s.epoch.TakeStaged(),
		adminChain:        s.adminChain.TakeStaged(),
		committees:        s.committees.TakeStaged(),
		ownership:         s.ownership.TakeStaged(),
		balance:           s.balance.TakeStaged(),
		balances:          s.balances.TakeStaged(),
		closed:            s.closed.TakeStaged(),
		permissions:       s.permissions.TakeStaged(),
		timestamp:         s.timestamp.TakeStaged(),
		streamCounts:      s.streamCounts.TakeStaged(),
		subscriptions:     s.subscriptions.TakeStaged(),
		subscriptionCount: s.subscriptionCount.TakeStaged(),
	}
	for id, a := range s.apps {
		if a.dirty() {
			if c.apps == nil {
				c.apps = map[base.ApplicationID]appChange{}
			}
			c.apps[id] = a.take()
		}
	}
	s.BeginBlock()
	return c
}

// PutChanges stages c, changes TakeChanges returned, on a State that has none staged.
// c must not be used afterwards.
func (s *State) PutChanges(c *Changes) error {
	if s.HasPendingChanges() {
		return errors.New("execution state: changes put over staged changes")
	}
	s.description.PutStaged(c.description)
	s.epoch.PutStaged(c.epoch)
	s.adminChain.PutStaged(c.adminChain)
	s.committees.PutStaged(c.committees)
	s.ownership.PutStaged(c.ownership)
	s.balance.PutStaged(c.balance)
	s.balances.PutStaged(c.balances)
	s.closed.PutStaged(c.closed)
	s.permissions.PutStaged(c.permissions)
	s.timestamp.PutStaged(c.timestamp)
	for id, a := range c.apps {
		s.appStorage(id).put(a)
	}
	s.streamCounts.PutStaged(c.streamCounts)
	s.subscriptions.PutStaged(c.subscriptions)
	s.subscriptionCount.PutStaged(c.subscriptionCount)
	if c.description.HasChange() {
		s.chainID = nil
	}
	return nil
}

// HasPendingChanges reports whether Flush would append anything.
func (s *State) HasPendingChanges() bool {
	for _, v := range []views.View{s.description, s.epoch, s.adminChain, s.committees, s.ownership, s.balance, s.balances, s.closed, s.permissions, s.timestamp, s.streamCounts, s.subscriptions, s.subscriptionCount} {
		if v.HasPendingChanges() {
			return true
		}
	}
	for _, a := range s.apps {
		if a.dirty() {
			return true
		}
	}
	return false
}

// StateHash returns the execution state hash after a block whose execution changes are
// batch, given the hash prev after the previous block (zero before the first): the
// history hash crypto.HashValue("ExecutionStateHash", prev || canonical encoding of the
// batch's operations). Only the execution state's batch is hashed, never inbox or outbox
// bookkeeping, which differs between validators.
func StateHash(prev base.Hash, batch *kv.Batch) base.Hash {
	return crypto.HashValue("ExecutionStateHash", stateHashInput{prev: prev, batch: batch})
}

type stateHashInput struct {
	prev  base.Hash
	batch *kv.Batch
}

// Encode writes prev, then the operations as a sequence of (kind tag, key, value if put).
func (in stateHashInput) Encode(w *codec.Writer) {
	w.Hash(in.prev)
	var ops []kv.Op
	if in.batch != nil {
		ops = in.batch.Ops()
	}
	w.Length(len(ops))
	for _, op := range ops {
		w.Tag(uint32(op.Kind))
		w.VarBytes(op.Key)
		if op.Kind == kv.OpPut {
			w.VarBytes(op.Value)
		}
	}
}

// appStorage returns the storage of app, creating its view on first use.
func (s *State) appStorage(app base.ApplicationID) *appStore {
	a, ok := s.apps[app]
	if !ok {
		a = newAppStore(views.SubKey(s.vc.Sub(tagApplications), views.KeyCodec[base.ApplicationID](views.Hash32Key[base.ApplicationID]{}), app), &s.appCache)
		s.apps[app] = a
	}
	return a
}

func (s *State) log(level slog.Level, msg string, app base.ApplicationID) {
	if s.logger != nil {
		s.logger.Log(context.Background(), level, msg, "application", app.String())
	}
}

// checkChain checks that the state is initialized and is chain id's.
func (s *State) checkChain(ctx context.Context, id base.ChainID) error {
	own, err := s.ownChainID(ctx)
	if err != nil {
		return err
	}
	if own == nil {
		return base.Invalidf("chain %s is not initialized", id.Short())
	}
	if *own != id {
		return base.Invalidf("execution state of chain %s used for chain %s", own.Short(), id.Short())
	}
	return nil
}

func (s *State) ownChainID(ctx context.Context) (*base.ChainID, error) {
	if s.chainID != nil {
		return s.chainID, nil
	}
	d, err := s.description.Get(ctx)
	if err != nil || d == nil {
		return nil, err
	}
	id := d.ID()
	s.chainID = &id
	return s.chainID, nil
}

// IsInitialized reports whether the chain's description is stored or staged.
func (s *State) IsInitialized(ctx context.Context) (bool, error) {
	d, err := s.description.Get(ctx)
	return d != nil, err
}

// Description returns a copy of the chain's description, or nil before Initialize.
func (s *State) Description(ctx context.Context) (*protocol.ChainDescription, error) {
	d, err := s.description.Get(ctx)
	if err != nil || d == nil {
		return nil, err
	}
	out := new(protocol.ChainDescription)
	if err := codec.Unmarshal(codec.Marshal(d), out); err != nil {
		return nil, base.Corruptf("chain description: %v", err)
	}
	return out, nil
}

// Epoch returns the chain's current epoch.
func (s *State) Epoch(ctx context.Context) (base.Epoch, error) { return s.epoch.Get(ctx) }

// AdminChain returns the id of the admin chain (the chain's own id on the admin chain).
func (s *State) AdminChain(ctx context.Context) (base.ChainID, error) { return s.adminChain.Get(ctx) }

// Committees returns the trusted committees, sorted by epoch.
func (s *State) Committees(ctx context.Context) ([]protocol.EpochCommittee, error) {
	var out []protocol.EpochCommittee
	err := s.committees.ForEach(ctx, func(e base.Epoch, h base.Hash) error {
		out = append(out, protocol.EpochCommittee{Epoch: e, CommitteeHash: h})
		return nil
	})
	return out, err
}

// CommitteesPrefix returns the key prefix under which the trusted committees are
// stored: a batch writing under it changes them.
func (s *State) CommitteesPrefix() []byte { return s.vc.Sub(tagCommittees).Prefix() }

func (s *State) committee(ctx context.Context, e base.Epoch) (base.Hash, bool, error) {
	return s.committees.Get(ctx, e)
}

// Sizes of the system records, as charged at policy.ByteWritten.
const (
	epochRecordBytes     = 4
	committeeRecordBytes = 4 + 32 // epoch key, committee blob hash
	balanceRecordBytes   = 16
	closedRecordBytes    = 1
)

// countSystemWrite records that the system application staged n bytes of storage.
func (s *State) countSystemWrite(n int) { s.systemWritten += uint64(n) }

func (s *State) setCommittee(e base.Epoch, h base.Hash) {
	s.countSystemWrite(committeeRecordBytes)
	s.committees.Set(e, h)
}

func (s *State) removeCommittee(e base.Epoch) {
	s.countSystemWrite(epochRecordBytes)
	s.committees.Delete(e)
}

func (s *State) setEpoch(e base.Epoch) {
	s.countSystemWrite(epochRecordBytes)
	s.epoch.Set(e)
}

// Ownership returns a copy of the chain's ownership.
func (s *State) Ownership(ctx context.Context) (protocol.ChainOwnership, error) {
	o, err := s.ownership.Get(ctx)
	return cloneOwnership(o), err
}

func (s *State) setOwnership(o protocol.ChainOwnership) {
	s.countSystemWrite(encodedLen(&o))
	s.ownership.Set(o)
}

// IsClosed reports whether the chain is closed.
func (s *State) IsClosed(ctx context.Context) (bool, error) { return s.closed.Get(ctx) }

func (s *State) setClosed(v bool) {
	s.countSystemWrite(closedRecordBytes)
	s.closed.Set(v)
}

// Permissions returns a copy of the chain's application permissions.
func (s *State) Permissions(ctx context.Context) (protocol.ApplicationPermissions, error) {
	p, err := s.permissions.Get(ctx)
	return clonePermissions(p), err
}

func (s *State) setPermissions(p protocol.ApplicationPermissions) {
	s.countSystemWrite(encodedLen(&p))
	s.permissions.Set(p)
}

// Timestamp returns the timestamp of the last executed transaction's block (the
// description's timestamp before any).
func (s *State) Timestamp(ctx context.Context) (base.Timestamp, error) { return s.timestamp.Get(ctx) }

func (s *State) setTimestamp(t base.Timestamp) { s.timestamp.Set(t) }

// ChainBalance returns the balance of the chain account.
func (s *State) ChainBalance(ctx context.Context) (base.Amount, error) { return s.balance.Get(ctx) }

// OwnerBalance returns the balance of owner's account on this chain (the chain account
// for base.ChainOwner); a missing account has balance zero.
func (s *State) OwnerBalance(ctx context.Context, owner base.Owner) (base.Amount, error) {
	if owner.IsChain() {
		return s.balance.Get(ctx)
	}
	a, _, err := s.balances.Get(ctx, owner)
	return a, err
}

// OwnerBalances calls fn for every owner account with a positive balance, in owner order.
func (s *State) OwnerBalances(ctx context.Context, fn func(owner base.Owner, balance base.Amount) error) error {
	return s.balances.ForEach(ctx, fn)
}

// TotalBalance returns the sum of the chain account and every owner account, for the
// supply invariant.
func (s *State) TotalBalance(ctx context.Context) (base.Amount, error) {
	total, err := s.balance.Get(ctx)
	if err != nil {
		return base.Amount{}, err
	}
	err = s.balances.ForEach(ctx, func(_ base.Owner, a base.Amount) error {
		var err error
		total, err = total.Add(a)
		return err
	})
	return total, err
}

// setBalance stages owner's balance; a zero owner balance removes the account.
func (s *State) setBalance(_ context.Context, owner base.Owner, a base.Amount) error {
	s.countSystemWrite(balanceRecordBytes)
	switch {
	case owner.IsChain():
		s.balance.Set(a)
	case a.IsZero():
		s.balances.Delete(owner)
	default:
		s.balances.Set(owner, a)
	}
	return nil
}

// debit takes amount from owner's account, or fails with *InsufficientBalanceError.
func (s *State) debit(ctx context.Context, owner base.Owner, amount base.Amount) error {
	have, err := s.OwnerBalance(ctx, owner)
	if err != nil {
		return err
	}
	left, err := have.Sub(amount)
	if err != nil {
		return &InsufficientBalanceError{Owner: owner, Have: have, Need: amount}
	}
	return s.setBalance(ctx, owner, left)
}

// credit adds amount to owner's account, or fails with base.ErrAmountOverflow.
func (s *State) credit(ctx context.Context, owner base.Owner, amount base.Amount) error {
	have, err := s.OwnerBalance(ctx, owner)
	if err != nil {
		return err
	}
	sum, err := have.Add(amount)
	if err != nil {
		return fmt.Errorf("credit %s to account %s holding %s: %w", amount, owner, have, err)
	}
	return s.setBalance(ctx, owner, sum)
}

// Codecs of the system views.

var (
	descriptionCodec = views.FuncCodec[*protocol.ChainDescription]{
		EncodeFunc: func(w *codec.Writer, d *protocol.ChainDescription) {
			if d != nil {
				d.Encode(w)
			}
		},
		DecodeFunc: func(r *codec.Reader) *protocol.ChainDescription {
			d := new(protocol.ChainDescription)
			d.Decode(r)
			return d
		},
	}
	epochCodec = views.FuncCodec[base.Epoch]{
		EncodeFunc: func(w *codec.Writer, e base.Epoch) { w.U32(uint32(e)) },
		DecodeFunc: func(r *codec.Reader) base.Epoch { return base.Epoch(r.U32()) },
	}
	chainIDCodec = views.FuncCodec[base.ChainID]{
		EncodeFunc: func(w *codec.Writer, c base.ChainID) { w.Hash(base.Hash(c)) },
		DecodeFunc: func(r *codec.Reader) base.ChainID { return r.ChainID() },
	}
	timestampCodec = views.FuncCodec[base.Timestamp]{
		EncodeFunc: func(w *codec.Writer, t base.Timestamp) { w.U64(uint64(t)) },
		DecodeFunc: func(r *codec.Reader) base.Timestamp { return base.Timestamp(r.U64()) },
	}
)

// epochKey encodes epochs as 4 big-endian bytes (order-preserving, fixed width).
type epochKey struct{}

func (epochKey) AppendKey(dst []byte, e base.Epoch) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(e))
}

func (epochKey) ParseKey(b []byte) (base.Epoch, error) {
	if len(b) != 4 {
		return 0, base.Invalidf("epoch key: want 4 bytes, got %d", len(b))
	}
	return base.Epoch(binary.BigEndian.Uint32(b)), nil
}
