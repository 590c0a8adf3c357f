package execution

import (
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TxContext is what a transaction knows about the block that contains it.
type TxContext struct {
	ChainID   base.ChainID
	Height    base.BlockHeight
	Timestamp base.Timestamp
	// There is no Round: the round a block is proposed in is not part of the block.
	// A block validated in one round is re-proposed unchanged, with its outcome, in a
	// later round when a validator locked it, and re-executing it there must give the
	// same outcome; an outcome that depended on the round could not be checked. (The
	// reference system exposes the round only as a recorded oracle response, in
	// multi-leader rounds; contracts here do not see it.)
	// AuthenticatedOwner is the block's signer: it authorizes debits from its own account
	// and, if it owns the chain, from the chain account, and it pays fees the chain account
	// cannot.
	AuthenticatedOwner *base.Owner
	// Index is the transaction's position in the block.
	Index uint32
	// Policy prices and bounds execution; nil means protocol.NoFeesPolicy.
	Policy *protocol.ResourcePolicy
	// MaxOutcomeBytes is what is left of the block's MaxBlockOutcomeBytes for this
	// transaction's entries in the outcome (protocol.BlockExecutionOutcome.TxSize); 0
	// means no bound. The chain layer, which checks the exact size after each
	// transaction, sets it so that a contract sending or emitting past it fails at once
	// with ErrOutcomeTooLarge instead of building the whole outcome first.
	MaxOutcomeBytes uint64
}

// TxOutcome is what a transaction produced besides its state changes. It belongs to the
// caller.
type TxOutcome struct {
	// Fuel is the fuel the transaction's contracts used (charged at policy.FuelUnit).
	Fuel uint64
	// Messages are the outgoing messages, in the order they were sent.
	Messages []protocol.OutgoingMessage
	// OracleResponses are the responses recorded (live) or consumed (replay) by the
	// transaction.
	OracleResponses []protocol.OracleResponse
	// Events are the events emitted, in order.
	Events []protocol.Event
	// Blobs are the blobs the transaction created (chain and committee descriptions).
	Blobs []protocol.Blob
	// Result is the operation's result: the new chain id for OpenChain, the application's
	// response for a user operation, empty otherwise and for bundles.
	Result []byte
	// BytesWritten is the storage the transaction wrote (charged at policy.ByteWritten):
	// key and value bytes of its applications' writes, and the system records it set.
	BytesWritten uint64
	// Fees is what the transaction paid; the amount leaves the supply.
	Fees base.Amount
}

// ExecuteTransaction executes one transaction of a block on the staged state: an incoming
// bundle (accepted or rejected) or an operation.
//
// On error the state may be partly modified: a failing transaction fails its whole block,
// and the caller must Rollback. Errors are of class base.ErrInvalid (the block is
// invalid: see the Err* sentinels) or base.ErrNotFound (*MissingBlobError,
// *MissingEventError: the block may become valid once the data is available); others come
// from storage.
//
// The chain layer calls BeginBlock before the first transaction of each block (Flush and
// Rollback also start a new block). ExecuteTransaction sets the state's timestamp to
// tc.Timestamp. oracles may be nil (no blob or event can then be read).
func (s *State) ExecuteTransaction(ctx context.Context, tc TxContext, tx *protocol.Transaction, oracles *Oracles) (*TxOutcome, error) {
	out := new(TxOutcome)
	if err := s.ExecuteTransactionInto(ctx, tc, tx, oracles, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ExecuteTransactionInto is ExecuteTransaction writing the outcome into *out, which is
// overwritten. The outcome's slices are new, except Messages: the messages are appended
// to out.Messages[:0], so a caller may pass spare capacity (a slice of a larger array
// shared by the block's transactions) for them to use. That capacity must belong to no
// earlier outcome still in use: reusing out for the next transaction without setting
// out.Messages to nil (or to fresh room) would overwrite the previous messages.
func (s *State) ExecuteTransactionInto(ctx context.Context, tc TxContext, tx *protocol.Transaction, oracles *Oracles, out *TxOutcome) error {
	if oracles == nil {
		oracles = LiveOracles(nil)
	}
	if tx == nil || (tx.Bundle == nil) == (tx.Operation == nil) {
		return failf(ErrInvalidOperation, "transaction must be exactly one of a bundle or an operation")
	}
	if err := s.checkChain(ctx, tc.ChainID); err != nil {
		return err
	}
	if tc.Policy == nil {
		p := protocol.NoFeesPolicy()
		tc.Policy = &p
	}
	t := s.spare
	s.spare = nil
	if t == nil {
		t = new(txn)
	}
	*t = txn{s: s, tc: tc, oracles: oracles, mark: oracles.mark()}
	t.out.Messages = out.Messages[:0]
	defer s.recycle(t)
	systemMark := s.systemWritten
	var err error
	if tx.Bundle != nil {
		err = t.receiveBundle(ctx, tx.Bundle)
	} else {
		err = t.executeOperation(ctx, tx.Operation)
	}
	if err == nil {
		err = t.finalizeApplications(ctx)
	}
	if err == nil {
		t.out.Fuel = t.fuelUsed()
		t.out.BytesWritten = t.written + (s.systemWritten - systemMark)
		err = t.chargeFees(ctx, tx)
	}
	if err != nil {
		return err
	}
	s.blockFuel += t.out.Fuel
	s.blockBlobs = append(s.blockBlobs, t.out.Blobs...)
	s.setTimestamp(tc.Timestamp)
	t.out.OracleResponses = oracles.since(t.mark)
	*out = t.out
	return nil
}

// recycle keeps a finished transaction's txn for the next one, unless a contract ran in
// it: contracts were handed runtimes that point to it.
func (s *State) recycle(t *txn) {
	if t.pinned {
		return
	}
	*t = txn{}
	s.spare = t
}

// txn is the execution of one transaction.
type txn struct {
	s       *State
	tc      TxContext
	oracles *Oracles
	mark    int
	out     TxOutcome
	apps    appSession
	// written counts the key and value bytes of the applications' storage writes.
	written uint64
	fuel    *FuelTank // created by fuelTank on first use
	// pinned is set once a contract is loaded: contracts hold runtimes pointing to the
	// txn, so it is not reused for another transaction (State.recycle).
	pinned bool
	// outBytes counts the payload bytes of the messages contracts sent and of the events
	// they emitted: a lower bound of their size in the block's outcome (chargeOutcome).
	outBytes uint64
}

// chargeOutcome counts n more bytes of the transaction's outcome and fails with
// ErrOutcomeTooLarge once they exceed tc.MaxOutcomeBytes (if set). n is a lower bound
// of what the entry adds to the encoded outcome, so failing here means the exact check
// after the transaction would fail too: the early failure changes no verdict.
func (t *txn) chargeOutcome(n int, what string) error {
	t.outBytes += uint64(n)
	if max := t.tc.MaxOutcomeBytes; max > 0 && t.outBytes > max {
		return fmt.Errorf("%w: %s: the transaction's messages and events reach %d bytes, %d are left of the block's limit", ErrOutcomeTooLarge, what, t.outBytes, max)
	}
	return nil
}

func (t *txn) chainID() base.ChainID { return t.tc.ChainID }

// send appends an outgoing message.
func (t *txn) send(m protocol.OutgoingMessage) { t.out.Messages = append(t.out.Messages, m) }

// receiveBundle executes (Accept) or bounces (Reject) the messages of a bundle, in order.
func (t *txn) receiveBundle(ctx context.Context, b *protocol.IncomingBundle) error {
	closed, err := t.s.IsClosed(ctx)
	if err != nil {
		return err
	}
	switch b.Action {
	case protocol.Accept:
		if closed {
			return failf(ErrChainClosed, "a closed chain may only reject incoming bundles")
		}
		for i := range b.Bundle.Messages {
			m := &b.Bundle.Messages[i]
			if err := t.executeMessage(ctx, b, m); err != nil {
				return fmt.Errorf("message %d from chain %s at height %d: %w", m.Index, b.Origin.Short(), b.Bundle.Height, err)
			}
		}
		return nil
	case protocol.Reject:
		for i := range b.Bundle.Messages {
			m := &b.Bundle.Messages[i]
			switch m.Kind {
			case protocol.Tracked:
				t.send(protocol.OutgoingMessage{
					Destination:        b.Origin,
					AuthenticatedOwner: cloneOwnerPtr(m.AuthenticatedOwner),
					Kind:               protocol.Bouncing,
					Message:            cloneMessage(m.Message),
				})
			case protocol.Protected:
				if !closed {
					return failf(ErrProtectedRejection, "message %d from chain %s at height %d", m.Index, b.Origin.Short(), b.Bundle.Height)
				}
			case protocol.Simple, protocol.Bouncing:
				// Dropped: simple messages carry no receipt, and a bounce does not bounce.
			default:
				return failf(ErrInvalidOperation, "message %d has unknown kind %d", m.Index, m.Kind)
			}
		}
		return nil
	}
	return failf(ErrInvalidOperation, "unknown bundle action %d", b.Action)
}

// executeMessage executes one accepted message with its posted authentication.
func (t *txn) executeMessage(ctx context.Context, b *protocol.IncomingBundle, m *protocol.PostedMessage) error {
	bouncing := m.Kind == protocol.Bouncing
	if m.Message.System != nil {
		return t.executeSystemMessage(ctx, m.Message.System, m.AuthenticatedOwner, bouncing)
	}
	info := &MessageInfo{Origin: b.Origin, OriginHeight: b.Bundle.Height, OriginTimestamp: b.Bundle.Timestamp, IsBouncing: bouncing}
	return t.executeUserMessage(ctx, m.Message.App, m.Message.Bytes, m.AuthenticatedOwner, info)
}

// executeOperation checks the chain's state and permissions, then runs the operation.
func (t *txn) executeOperation(ctx context.Context, op *protocol.Operation) error {
	closed, err := t.s.IsClosed(ctx)
	if err != nil {
		return err
	}
	if closed {
		return failf(ErrChainClosed, "a closed chain may only reject incoming bundles")
	}
	perms, err := t.s.Permissions(ctx)
	if err != nil {
		return err
	}
	if op.System != nil {
		if !perms.AllowsSystemOperations() && !isEpochProcessing(op.System) {
			return failf(ErrNotPermitted, "system operations are not allowed on this chain")
		}
		return t.executeSystemOperation(ctx, op.System)
	}
	if !perms.AllowsApplication(op.App) {
		return failf(ErrNotPermitted, "operations of application %s are not allowed on this chain", op.App)
	}
	result, err := t.executeUserOperation(ctx, op.App, op.Bytes)
	if err != nil {
		return err
	}
	t.out.Result = result
	return nil
}

func isEpochProcessing(op protocol.SystemOperation) bool {
	switch op.(type) {
	case *protocol.ProcessNewEpoch, *protocol.ProcessRemovedEpoch:
		return true
	case *protocol.UpdateStreams:
		// Chain maintenance like epochs: it only serves subscriptions the chain's
		// owners or applications made.
		return true
	}
	return false
}

// chargeFees charges the fuel, operation, outgoing messages, published blob bytes,
// storage bytes written, HTTP requests and service-as-oracle queries of the transaction, if the policy has fees: from the chain
// account first, then from the authenticated owner.
func (t *txn) chargeFees(ctx context.Context, tx *protocol.Transaction) error {
	p := t.tc.Policy
	if !p.HasFees() {
		return nil
	}
	var fee base.Amount
	add := func(price base.Amount, n int) error {
		c, err := price.MulUint64(uint64(n))
		if err != nil {
			return err
		}
		fee, err = fee.Add(c)
		return err
	}
	if !p.FuelUnit.IsZero() && t.out.Fuel > 0 {
		c, err := p.FuelUnit.MulUint64(t.out.Fuel)
		if err != nil {
			return err
		}
		if fee, err = fee.Add(c); err != nil {
			return err
		}
	}
	if !p.ByteWritten.IsZero() && t.out.BytesWritten > 0 {
		c, err := p.ByteWritten.MulUint64(t.out.BytesWritten)
		if err != nil {
			return failf(ErrFeesExceedFunding, "%d bytes written at %s per byte: %v", t.out.BytesWritten, p.ByteWritten, err)
		}
		if fee, err = fee.Add(c); err != nil {
			return err
		}
	}
	if op := tx.Operation; op != nil {
		if err := add(p.Operation, 1); err != nil {
			return err
		}
		if err := add(p.OperationByte, operationSize(op)); err != nil {
			return err
		}
		if pub, ok := op.System.(*protocol.PublishDataBlob); ok && !p.BlobByte.IsZero() {
			blob, err := readBlob(ctx, t.oracles.resolver, base.BlobID{Type: base.BlobData, Hash: pub.Hash})
			if err != nil {
				return err
			}
			if err := add(p.BlobByte, blob.Size()); err != nil {
				return err
			}
		}
	}
	for _, r := range t.oracles.since(t.mark) {
		switch r.Kind {
		case protocol.OracleHTTP:
			if err := add(p.HTTPRequest, 1); err != nil {
				return err
			}
		case protocol.OracleService:
			if err := add(p.ServiceAsOracleQuery, 1); err != nil {
				return err
			}
		}
	}
	for i := range t.out.Messages {
		m := &t.out.Messages[i]
		if m.Kind == protocol.Bouncing {
			continue
		}
		if err := add(p.Message, 1); err != nil {
			return err
		}
		if err := add(p.MessageByte, messageSize(&m.Message)); err != nil {
			return err
		}
	}
	if fee.IsZero() {
		return nil
	}
	chainBalance, err := t.s.ChainBalance(ctx)
	if err != nil {
		return err
	}
	fromChain := fee
	if chainBalance.Compare(fee) < 0 {
		fromChain = chainBalance
	}
	rest := fee.SaturatingSub(fromChain)
	if !rest.IsZero() {
		if t.tc.AuthenticatedOwner == nil {
			return failf(ErrFeesExceedFunding, "fees %s, chain account has %s and the block has no authenticated owner", fee, chainBalance)
		}
		owner := *t.tc.AuthenticatedOwner
		have, err := t.s.OwnerBalance(ctx, owner)
		if err != nil {
			return err
		}
		if owner.IsChain() || have.Compare(rest) < 0 {
			return failf(ErrFeesExceedFunding, "fees %s, chain account has %s, account %s has %s", fee, chainBalance, owner, have)
		}
		if err := t.s.setBalance(ctx, owner, have.SaturatingSub(rest)); err != nil {
			return err
		}
	}
	if !fromChain.IsZero() {
		if err := t.s.setBalance(ctx, base.ChainOwner, chainBalance.SaturatingSub(fromChain)); err != nil {
			return err
		}
	}
	t.out.Fees = fee
	return nil
}

// operationSize is the payload size an operation is charged for: the application's bytes
// for a user operation, the canonical encoding for a system operation.
func operationSize(op *protocol.Operation) int {
	if op.System != nil {
		return encodedLen(op.System)
	}
	return len(op.Bytes)
}

// messageSize is the payload size a message is charged for.
func messageSize(m *protocol.Message) int {
	if m.System != nil {
		return encodedLen(m.System)
	}
	return len(m.Bytes)
}

// CheckBlockPermissions checks the block-level application permissions against a
// block's transactions: every mandatory application must have an operation in the block.
// (Per-operation permissions are checked by ExecuteTransaction.)
func (s *State) CheckBlockPermissions(ctx context.Context, txs []protocol.Transaction) error {
	perms, err := s.Permissions(ctx)
	if err != nil {
		return err
	}
	for _, app := range perms.MandatoryApplications {
		found := false
		for i := range txs {
			if op := txs[i].Operation; op != nil && op.System == nil && op.App == app {
				found = true
				break
			}
		}
		if !found {
			return failf(ErrNotPermitted, "the block has no operation of the mandatory application %s", app)
		}
	}
	return nil
}
