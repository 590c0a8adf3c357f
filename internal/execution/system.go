package execution

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// executeSystemOperation runs one system operation. Permissions and the closed flag were
// checked by the caller.
func (t *txn) executeSystemOperation(ctx context.Context, op protocol.SystemOperation) error {
	switch op := op.(type) {
	case *protocol.Transfer:
		return t.transfer(ctx, op)
	case *protocol.Claim:
		return t.claim(ctx, op)
	case *protocol.OpenChain:
		return t.openChain(ctx, op)
	case *protocol.CloseChain:
		if err := t.checkManageChain(ctx, "close the chain"); err != nil {
			return err
		}
		t.s.setClosed(true)
		return nil
	case *protocol.ChangeOwnership:
		if err := t.checkManageChain(ctx, "change the ownership"); err != nil {
			return err
		}
		if err := op.Ownership.Validate(); err != nil {
			return failf(ErrInvalidOperation, "new ownership: %v", err)
		}
		t.s.setOwnership(cloneOwnership(op.Ownership))
		return nil
	case *protocol.ChangeApplicationPermissions:
		if err := t.checkManageChain(ctx, "change the application permissions"); err != nil {
			return err
		}
		t.s.setPermissions(clonePermissions(op.Permissions))
		return nil
	case *protocol.PublishModule:
		return t.publishModule(ctx, op)
	case *protocol.CreateApplication:
		return t.createApplication(ctx, op)
	case *protocol.PublishDataBlob:
		// The blob travels with the proposal; the worker checks it is present. Fees, if any,
		// are charged by chargeFees.
		return nil
	case *protocol.CreateCommittee:
		return t.createCommittee(ctx, op)
	case *protocol.RemoveCommittee:
		return t.removeCommittee(ctx, op)
	case *protocol.ProcessNewEpoch:
		return t.processNewEpoch(ctx, op)
	case *protocol.ProcessRemovedEpoch:
		return t.processRemovedEpoch(ctx, op)
	case *protocol.SubscribeToStream, *protocol.UnsubscribeFromStream:
		return t.subscribeOp(ctx, op)
	case *protocol.UpdateStreams:
		return t.updateStreams(ctx, op)
	case nil:
		return failf(ErrInvalidOperation, "missing system operation")
	}
	return failf(ErrInvalidOperation, "unknown system operation %T", op)
}

// checkChainOwner refuses unless the block's signer owns the chain.
func (t *txn) checkChainOwner(ctx context.Context, what string) error {
	return t.checkOwnerOf(ctx, t.tc.AuthenticatedOwner, what)
}

func (t *txn) checkOwnerOf(ctx context.Context, signer *base.Owner, what string) error {
	if signer == nil {
		return failf(ErrUnauthorized, "%s needs an authenticated chain owner", what)
	}
	own, err := t.s.ownership.Get(ctx) // read only: no copy
	if err != nil {
		return err
	}
	if !own.IsAnyOwner(*signer) {
		return failf(ErrUnauthorized, "%s: %s is not an owner of the chain", what, *signer)
	}
	return nil
}

// checkManageChain refuses a chain-management operation from an owner when the chain's
// permissions delegate management to applications, and otherwise requires a chain owner.
func (t *txn) checkManageChain(ctx context.Context, what string) error {
	perms, err := t.s.Permissions(ctx)
	if err != nil {
		return err
	}
	if perms.ManageChain != nil {
		return failf(ErrNotPermitted, "only the applications listed in the chain's permissions may %s", what)
	}
	return t.checkChainOwner(ctx, what)
}

// checkDebit authorizes a debit of owner's account by the block's signer (or a message's
// authenticated owner): the chain account needs a chain owner, any other account its own
// owner.
func (t *txn) checkDebit(ctx context.Context, signer *base.Owner, owner base.Owner) error {
	if owner.IsChain() {
		return t.checkOwnerOf(ctx, signer, "debiting the chain account")
	}
	if signer == nil || *signer != owner {
		return failf(ErrUnauthorized, "only %s may debit its account", owner)
	}
	return nil
}

func checkAmount(a base.Amount) error {
	if a.IsZero() {
		return failf(ErrInvalidOperation, "amount must be positive")
	}
	return nil
}

func checkRecipientChain(c base.ChainID) error {
	if c.IsZero() {
		return failf(ErrInvalidOperation, "recipient chain id is zero")
	}
	return nil
}

// transfer implements Transfer.
func (t *txn) transfer(ctx context.Context, op *protocol.Transfer) error {
	if err := checkAmount(op.Amount); err != nil {
		return err
	}
	if err := checkRecipientChain(op.Recipient.Chain); err != nil {
		return err
	}
	if err := t.checkDebit(ctx, t.tc.AuthenticatedOwner, op.Owner); err != nil {
		return err
	}
	if err := t.s.debit(ctx, op.Owner, op.Amount); err != nil {
		return err
	}
	return t.pay(ctx, op.Owner, op.Recipient, op.Amount)
}

// pay delivers amount, already debited from source on this chain, to recipient: credited
// directly on this chain, or by a tracked Credit message to another chain.
func (t *txn) pay(ctx context.Context, source base.Owner, recipient base.Account, amount base.Amount) error {
	if recipient.Chain == t.chainID() {
		return t.s.credit(ctx, recipient.Owner, amount)
	}
	t.send(protocol.OutgoingMessage{
		Destination: recipient.Chain,
		Kind:        protocol.Tracked,
		Message:     protocol.Message{System: &protocol.Credit{Target: recipient.Owner, Amount: amount, Source: source}},
	})
	return nil
}

// claim implements Claim: an authenticated Withdraw message to the target chain, or a
// direct withdrawal when the target is this chain.
func (t *txn) claim(ctx context.Context, op *protocol.Claim) error {
	if err := checkAmount(op.Amount); err != nil {
		return err
	}
	if err := checkRecipientChain(op.Target); err != nil {
		return err
	}
	if err := checkRecipientChain(op.Recipient.Chain); err != nil {
		return err
	}
	if a := t.tc.AuthenticatedOwner; a == nil || *a != op.Owner {
		return failf(ErrUnauthorized, "only %s may claim from its accounts", op.Owner)
	}
	return t.sendClaim(ctx, op.Owner, op.Target, op.Recipient, op.Amount)
}

// sendClaim sends the Withdraw message of a claim already authorized for owner. The
// chain account of another chain cannot be claimed: nobody here can authenticate as it.
func (t *txn) sendClaim(ctx context.Context, owner base.Owner, target base.ChainID, recipient base.Account, amount base.Amount) error {
	if owner.IsChain() {
		return failf(ErrUnauthorized, "a chain account cannot be claimed; transfer from it on its own chain")
	}
	if target == t.chainID() {
		return t.withdraw(ctx, &protocol.Withdraw{Owner: owner, Amount: amount, Recipient: recipient}, &owner)
	}
	auth := owner
	t.send(protocol.OutgoingMessage{
		Destination:        target,
		AuthenticatedOwner: &auth,
		Kind:               protocol.Tracked,
		Message:            protocol.Message{System: &protocol.Withdraw{Owner: owner, Amount: amount, Recipient: recipient}},
	})
	return nil
}

// withdraw executes a Withdraw authenticated by signer.
func (t *txn) withdraw(ctx context.Context, m *protocol.Withdraw, signer *base.Owner) error {
	if err := checkAmount(m.Amount); err != nil {
		return err
	}
	if err := checkRecipientChain(m.Recipient.Chain); err != nil {
		return err
	}
	if signer == nil || *signer != m.Owner || m.Owner.IsChain() {
		return failf(ErrUnauthorized, "withdrawal from %s must be authenticated by it", m.Owner)
	}
	if err := t.s.debit(ctx, m.Owner, m.Amount); err != nil {
		return err
	}
	return t.pay(ctx, m.Owner, m.Recipient, m.Amount)
}

// executeSystemMessage executes an accepted system message.
func (t *txn) executeSystemMessage(ctx context.Context, msg protocol.SystemMessage, signer *base.Owner, bouncing bool) error {
	switch m := msg.(type) {
	case *protocol.Credit:
		target := m.Target
		if bouncing {
			target = m.Source
		}
		return t.s.credit(ctx, target, m.Amount)
	case *protocol.Withdraw:
		if bouncing {
			// The target chain refused the withdrawal: nothing moved.
			return nil
		}
		return t.withdraw(ctx, m, signer)
	case nil:
		return failf(ErrInvalidOperation, "missing system message")
	}
	return failf(ErrInvalidOperation, "unknown system message %T", msg)
}

// openChain implements OpenChain.
func (t *txn) openChain(ctx context.Context, op *protocol.OpenChain) error {
	if err := t.checkChainOwner(ctx, "opening a chain"); err != nil {
		return err
	}
	id, err := t.createChain(ctx, base.ChainOwner, op)
	if err != nil {
		return err
	}
	t.out.Result = append([]byte(nil), id[:]...)
	return nil
}

// createChain opens a child chain funded from payer's account: the child's description
// becomes a blob of the block, and its hash is the child's id.
func (t *txn) createChain(ctx context.Context, payer base.Owner, op *protocol.OpenChain) (base.ChainID, error) {
	if err := op.Ownership.Validate(); err != nil {
		return base.ChainID{}, failf(ErrInvalidOperation, "child chain ownership: %v", err)
	}
	if !op.Balance.IsZero() {
		if err := t.s.debit(ctx, payer, op.Balance); err != nil {
			return base.ChainID{}, err
		}
	}
	epoch, err := t.s.Epoch(ctx)
	if err != nil {
		return base.ChainID{}, err
	}
	admin, err := t.s.AdminChain(ctx)
	if err != nil {
		return base.ChainID{}, err
	}
	committees, err := t.s.Committees(ctx)
	if err != nil {
		return base.ChainID{}, err
	}
	index, err := t.s.nextChainIndex()
	if err != nil {
		return base.ChainID{}, err
	}
	desc := protocol.ChainDescription{
		Origin:     protocol.ChainOrigin{IsChild: true, Parent: t.chainID(), Height: t.tc.Height, Index: index},
		Timestamp:  t.tc.Timestamp,
		AdminChain: admin,
		Committees: committees,
		Config: protocol.InitialChainConfig{
			Ownership:   cloneOwnership(op.Ownership),
			Epoch:       epoch,
			Balance:     op.Balance,
			Permissions: clonePermissions(op.Permissions),
		},
	}
	blob := desc.Blob()
	t.out.Blobs = append(t.out.Blobs, blob)
	return base.ChainID(blob.ID().Hash), nil
}

// checkAdmin refuses unless this chain is the admin chain and the signer owns it.
func (t *txn) checkAdmin(ctx context.Context, what string) error {
	admin, err := t.s.AdminChain(ctx)
	if err != nil {
		return err
	}
	if admin != t.chainID() {
		return failf(ErrNotAdminChain, "only the admin chain %s may %s", admin.Short(), what)
	}
	return t.checkChainOwner(ctx, what)
}

// createCommittee implements CreateCommittee on the admin chain.
func (t *txn) createCommittee(ctx context.Context, op *protocol.CreateCommittee) error {
	if err := t.checkAdmin(ctx, "create a committee"); err != nil {
		return err
	}
	epoch, err := t.s.Epoch(ctx)
	if err != nil {
		return err
	}
	if epoch == math.MaxUint32 || op.Epoch != epoch+1 {
		return failf(ErrWrongEpoch, "new committee has epoch %d, want %d (current + 1)", op.Epoch, uint64(epoch)+1)
	}
	if err := op.Committee.Validate(); err != nil {
		return failf(ErrInvalidOperation, "committee of epoch %d: %v", op.Epoch, err)
	}
	blob := op.Committee.Blob()
	// Decode the blob back: the committee must survive its own canonical encoding (strict
	// decoding refuses what Validate may not see, such as a malformed public key).
	var check protocol.Committee
	if err := codec.Unmarshal(blob.Content, &check); err != nil {
		return failf(ErrInvalidOperation, "committee of epoch %d: %v", op.Epoch, err)
	}
	id := blob.ID()
	t.s.setCommittee(op.Epoch, id.Hash)
	t.s.setEpoch(op.Epoch)
	t.out.Events = append(t.out.Events, protocol.Event{Stream: cloneStream(protocol.NewEpochStream), Index: uint32(op.Epoch), Value: append([]byte{}, id.Hash[:]...)})
	t.out.Blobs = append(t.out.Blobs, blob)
	return nil
}

// removeCommittee implements RemoveCommittee on the admin chain.
func (t *txn) removeCommittee(ctx context.Context, op *protocol.RemoveCommittee) error {
	if err := t.checkAdmin(ctx, "remove a committee"); err != nil {
		return err
	}
	if err := t.checkRemovable(ctx, op.Epoch); err != nil {
		return err
	}
	t.s.removeCommittee(op.Epoch)
	t.out.Events = append(t.out.Events, protocol.Event{Stream: cloneStream(protocol.RemovedEpochStream), Index: uint32(op.Epoch), Value: []byte{}})
	return nil
}

// checkRemovable refuses to remove the current epoch or an epoch not trusted.
func (t *txn) checkRemovable(ctx context.Context, e base.Epoch) error {
	epoch, err := t.s.Epoch(ctx)
	if err != nil {
		return err
	}
	if e == epoch {
		return failf(ErrWrongEpoch, "cannot remove the current epoch %d", e)
	}
	_, ok, err := t.s.committee(ctx, e)
	if err != nil {
		return err
	}
	if !ok {
		return failf(ErrWrongEpoch, "epoch %d is not trusted by this chain", e)
	}
	return nil
}

// checkNotAdmin refuses epoch processing on the admin chain, which creates the epochs.
func (t *txn) checkNotAdmin(ctx context.Context) (base.ChainID, error) {
	admin, err := t.s.AdminChain(ctx)
	if err != nil {
		return base.ChainID{}, err
	}
	if admin == t.chainID() {
		return admin, failf(ErrInvalidOperation, "the admin chain changes epochs with committee operations, not by processing its own events")
	}
	return admin, nil
}

// processNewEpoch implements ProcessNewEpoch: read the admin chain's event, then the
// committee blob it names, both through the oracles.
func (t *txn) processNewEpoch(ctx context.Context, op *protocol.ProcessNewEpoch) error {
	admin, err := t.checkNotAdmin(ctx)
	if err != nil {
		return err
	}
	epoch, err := t.s.Epoch(ctx)
	if err != nil {
		return err
	}
	if op.Epoch <= epoch {
		return failf(ErrWrongEpoch, "new epoch %d is not after the current epoch %d", op.Epoch, epoch)
	}
	value, err := t.oracles.ReadEvent(ctx, protocol.EventID{Chain: admin, Stream: cloneStream(protocol.NewEpochStream), Index: uint32(op.Epoch)})
	if err != nil {
		return err
	}
	if len(value) != base.HashSize {
		return failf(ErrInvalidOperation, "new-epoch event %d of the admin chain holds %d bytes, want a %d-byte committee hash", op.Epoch, len(value), base.HashSize)
	}
	hash := base.Hash(value)
	blob, err := t.oracles.ReadBlob(ctx, base.BlobID{Type: base.BlobCommittee, Hash: hash})
	if err != nil {
		return err
	}
	var c protocol.Committee
	if err := codec.Unmarshal(blob.Content, &c); err != nil {
		return failf(ErrInvalidOperation, "committee blob %s of epoch %d: %v", hash.Short(), op.Epoch, err)
	}
	t.s.setCommittee(op.Epoch, hash)
	t.s.setEpoch(op.Epoch)
	return nil
}

// processRemovedEpoch implements ProcessRemovedEpoch.
func (t *txn) processRemovedEpoch(ctx context.Context, op *protocol.ProcessRemovedEpoch) error {
	admin, err := t.checkNotAdmin(ctx)
	if err != nil {
		return err
	}
	if err := t.checkRemovable(ctx, op.Epoch); err != nil {
		return err
	}
	if _, err := t.oracles.ReadEvent(ctx, protocol.EventID{Chain: admin, Stream: cloneStream(protocol.RemovedEpochStream), Index: uint32(op.Epoch)}); err != nil {
		return err
	}
	t.s.removeCommittee(op.Epoch)
	return nil
}

// createApplication creates an application of a published module: its description
// becomes a blob of the block (the application id is its hash), and its contract's
// Instantiate runs with the argument. The result is the application id.
func (t *txn) createApplication(ctx context.Context, op *protocol.CreateApplication) error {
	index, err := t.s.nextChainIndex()
	if err != nil {
		return err
	}
	desc := protocol.ApplicationDescription{Module: op.Module, CreatorChain: t.chainID(), Height: t.tc.Height, Index: index,
		Parameters: op.Parameters, Required: op.Required}
	blob := desc.Blob()
	app := desc.ID()
	t.out.Blobs = append(t.out.Blobs, blob)
	c, err := t.contract(ctx, app)
	if err != nil {
		return err
	}
	rt := &contractRuntime{t: t, app: app, owner: cloneOwnerPtr(t.tc.AuthenticatedOwner)}
	if err := t.call(app, func() error { return c.Instantiate(ctx, rt, op.Argument) }); err != nil {
		return fmt.Errorf("instantiate application %s: %w", app, err)
	}
	t.out.Result = append([]byte(nil), app[:]...)
	return nil
}

// ModuleValidator is implemented by loaders that can check bytecode (the Wasm VM):
// published modules are then refused at publication if malformed, oversized or
// importing anything the host does not provide.
type ModuleValidator interface {
	ValidateModule(ctx context.Context, bytecode []byte) error
}

// publishModule checks the module's bytecode when the loader can. The worker has
// already checked that the blobs travel with the block.
func (t *txn) publishModule(ctx context.Context, op *protocol.PublishModule) error {
	v, ok := t.s.loader.(ModuleValidator)
	if !ok {
		return nil
	}
	for _, id := range []base.BlobID{op.Module.ContractBlob(), op.Module.ServiceBlob()} {
		b, err := t.oracles.ReadBlob(ctx, id)
		if err != nil {
			return err
		}
		if err := v.ValidateModule(ctx, b.Content); err != nil {
			if errors.Is(err, base.ErrRetryable) {
				// No verdict on the bytes (a wait for a compilation under way ended with
				// ctx): the block may be tried again.
				return fmt.Errorf("%s of the published module: %w", id.Type, err)
			}
			return failf(ErrInvalidOperation, "%s of the published module: %v", id.Type, err)
		}
	}
	return nil
}
