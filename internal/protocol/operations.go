package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// SystemOperation is an operation of the system application. The variants are the types
// below; new variants are only ever appended, so tags stay stable.
type SystemOperation interface {
	codec.Encoder
	systemOperationTag() uint32
}

// Tags of the system operations.
const (
	TagTransfer uint32 = iota
	TagClaim
	TagOpenChain
	TagCloseChain
	TagChangeOwnership
	TagChangeApplicationPermissions
	TagPublishDataBlob
	TagCreateCommittee
	TagRemoveCommittee
	TagProcessNewEpoch
	TagProcessRemovedEpoch
	TagPublishModule
	TagCreateApplication
	// Event streams (streams.go).
	TagSubscribeToStream
	TagUnsubscribeFromStream
	TagUpdateStreams
	numSystemOperations
)

// Transfer moves Amount from Owner's account on this chain (base.ChainOwner for the chain
// account) to Recipient, on this chain or, by a tracked Credit message, on another.
type Transfer struct {
	Owner     base.Owner
	Recipient base.Account
	Amount    base.Amount
}

// Claim withdraws Amount from Owner's account on chain Target (sending an authenticated
// Withdraw message there) and credits Recipient.
type Claim struct {
	Owner     base.Owner
	Target    base.ChainID
	Recipient base.Account
	Amount    base.Amount
}

// OpenChain creates a child chain funded from the chain account. The child's description
// becomes a blob in the block outcome; its hash is the child's id.
type OpenChain struct {
	Ownership   ChainOwnership
	Balance     base.Amount
	Permissions ApplicationPermissions
}

// CloseChain closes the chain: afterwards its blocks may only reject incoming bundles.
type CloseChain struct{}

// ChangeOwnership replaces the chain's ownership.
type ChangeOwnership struct{ Ownership ChainOwnership }

// ChangeApplicationPermissions replaces the chain's application permissions.
type ChangeApplicationPermissions struct{ Permissions ApplicationPermissions }

// PublishDataBlob declares that the block publishes the data blob with this hash; the blob
// content travels with the proposal.
type PublishDataBlob struct{ Hash base.Hash }

// CreateCommittee (admin chain only) adds the committee of epoch Epoch, which must be the
// current epoch + 1, and moves the admin chain to it.
type CreateCommittee struct {
	Epoch     base.Epoch
	Committee Committee
}

// RemoveCommittee (admin chain only) revokes the committee of an epoch older than the
// current one.
type RemoveCommittee struct{ Epoch base.Epoch }

// ProcessNewEpoch moves a chain to a new epoch created on the admin chain.
type ProcessNewEpoch struct{ Epoch base.Epoch }

// ProcessRemovedEpoch makes a chain stop trusting an epoch revoked on the admin chain.
type ProcessRemovedEpoch struct{ Epoch base.Epoch }

// PublishModule declares that the block publishes a module: a contract and a service
// bytecode blob, whose contents travel with the proposal.
type PublishModule struct{ Module ModuleID }

// CreateApplication creates an application of a published module on this chain and runs
// its Instantiate with Argument. The application's description becomes a blob of the
// block; its hash is the application id (the operation's result).
type CreateApplication struct {
	Module     ModuleID
	Parameters []byte
	Argument   []byte
	Required   []base.ApplicationID
}

func (*PublishModule) systemOperationTag() uint32     { return TagPublishModule }
func (*CreateApplication) systemOperationTag() uint32 { return TagCreateApplication }

func (o *PublishModule) Encode(w *codec.Writer) { w.Tag(TagPublishModule); o.Module.Encode(w) }

func (o *CreateApplication) Encode(w *codec.Writer) {
	w.Tag(TagCreateApplication)
	o.Module.Encode(w)
	w.VarBytes(o.Parameters)
	w.VarBytes(o.Argument)
	encAppIDs(w, o.Required)
}

func (*Transfer) systemOperationTag() uint32        { return TagTransfer }
func (*Claim) systemOperationTag() uint32           { return TagClaim }
func (*OpenChain) systemOperationTag() uint32       { return TagOpenChain }
func (*CloseChain) systemOperationTag() uint32      { return TagCloseChain }
func (*ChangeOwnership) systemOperationTag() uint32 { return TagChangeOwnership }
func (*ChangeApplicationPermissions) systemOperationTag() uint32 {
	return TagChangeApplicationPermissions
}
func (*PublishDataBlob) systemOperationTag() uint32     { return TagPublishDataBlob }
func (*CreateCommittee) systemOperationTag() uint32     { return TagCreateCommittee }
func (*RemoveCommittee) systemOperationTag() uint32     { return TagRemoveCommittee }
func (*ProcessNewEpoch) systemOperationTag() uint32     { return TagProcessNewEpoch }
func (*ProcessRemovedEpoch) systemOperationTag() uint32 { return TagProcessRemovedEpoch }

func (o *Transfer) Encode(w *codec.Writer) {
	w.Tag(TagTransfer)
	w.Owner(o.Owner)
	w.Account(o.Recipient)
	w.Amount(o.Amount)
}

func (o *Claim) Encode(w *codec.Writer) {
	w.Tag(TagClaim)
	w.Owner(o.Owner)
	w.Hash(base.Hash(o.Target))
	w.Account(o.Recipient)
	w.Amount(o.Amount)
}

func (o *OpenChain) Encode(w *codec.Writer) {
	w.Tag(TagOpenChain)
	o.Ownership.Encode(w)
	w.Amount(o.Balance)
	o.Permissions.Encode(w)
}

func (o *CloseChain) Encode(w *codec.Writer) { w.Tag(TagCloseChain) }

func (o *ChangeOwnership) Encode(w *codec.Writer) {
	w.Tag(TagChangeOwnership)
	o.Ownership.Encode(w)
}

func (o *ChangeApplicationPermissions) Encode(w *codec.Writer) {
	w.Tag(TagChangeApplicationPermissions)
	o.Permissions.Encode(w)
}

func (o *PublishDataBlob) Encode(w *codec.Writer) { w.Tag(TagPublishDataBlob); w.Hash(o.Hash) }

func (o *CreateCommittee) Encode(w *codec.Writer) {
	w.Tag(TagCreateCommittee)
	w.U32(uint32(o.Epoch))
	o.Committee.Encode(w)
}

func (o *RemoveCommittee) Encode(w *codec.Writer) { w.Tag(TagRemoveCommittee); w.U32(uint32(o.Epoch)) }
func (o *ProcessNewEpoch) Encode(w *codec.Writer) { w.Tag(TagProcessNewEpoch); w.U32(uint32(o.Epoch)) }
func (o *ProcessRemovedEpoch) Encode(w *codec.Writer) {
	w.Tag(TagProcessRemovedEpoch)
	w.U32(uint32(o.Epoch))
}

// DecodeSystemOperation reads one system operation.
func DecodeSystemOperation(r *codec.Reader) SystemOperation {
	switch tag := r.Tag(numSystemOperations); tag {
	case TagTransfer:
		return codec.BoxIn(r, arena(r).transfers, Transfer{Owner: r.Owner(), Recipient: r.Account(), Amount: r.Amount()})
	case TagClaim:
		return codec.Box(r, Claim{Owner: r.Owner(), Target: r.ChainID(), Recipient: r.Account(), Amount: r.Amount()})
	case TagOpenChain:
		o := codec.New[OpenChain](r)
		o.Ownership.Decode(r)
		o.Balance = r.Amount()
		o.Permissions.Decode(r)
		return o
	case TagCloseChain:
		return &CloseChain{}
	case TagChangeOwnership:
		o := codec.New[ChangeOwnership](r)
		o.Ownership.Decode(r)
		return o
	case TagChangeApplicationPermissions:
		o := codec.New[ChangeApplicationPermissions](r)
		o.Permissions.Decode(r)
		return o
	case TagPublishDataBlob:
		return codec.Box(r, PublishDataBlob{Hash: r.Hash()})
	case TagCreateCommittee:
		o := codec.New[CreateCommittee](r)
		o.Epoch = base.Epoch(r.U32())
		o.Committee.Decode(r)
		return o
	case TagRemoveCommittee:
		return codec.Box(r, RemoveCommittee{Epoch: base.Epoch(r.U32())})
	case TagProcessNewEpoch:
		return codec.Box(r, ProcessNewEpoch{Epoch: base.Epoch(r.U32())})
	case TagProcessRemovedEpoch:
		return codec.Box(r, ProcessRemovedEpoch{Epoch: base.Epoch(r.U32())})
	case TagPublishModule:
		o := codec.New[PublishModule](r)
		o.Module.Decode(r)
		return o
	case TagCreateApplication:
		o := codec.New[CreateApplication](r)
		o.Module.Decode(r)
		o.Parameters = r.VarBytes()
		o.Argument = r.VarBytes()
		o.Required = decAppIDs(r)
		return o
	case TagSubscribeToStream, TagUnsubscribeFromStream, TagUpdateStreams:
		return decodeStreamOperation(r, tag)
	}
	return nil
}

// Operation is either a system operation or a user application's operation (opaque bytes
// the application decodes).
type Operation struct {
	System SystemOperation // non-nil for system operations
	App    base.ApplicationID
	Bytes  []byte
}

// IsSystem reports whether o is a system operation.
func (o *Operation) IsSystem() bool { return o.System != nil }

// SystemOp wraps a system operation.
func SystemOp(op SystemOperation) Operation { return Operation{System: op} }

func (o *Operation) Encode(w *codec.Writer) {
	if o.System != nil {
		w.Tag(0)
		o.System.Encode(w)
		return
	}
	w.Tag(1)
	w.Hash(base.Hash(o.App))
	w.VarBytes(o.Bytes)
}

func (o *Operation) Decode(r *codec.Reader) {
	*o = Operation{}
	if r.Tag(2) == 0 {
		o.System = DecodeSystemOperation(r)
		return
	}
	o.App = base.ApplicationID(r.Hash())
	o.Bytes = r.VarBytes()
}

// MessageKind says how a message may be handled by its recipient.
type MessageKind uint8

const (
	// Simple messages may be skipped or rejected without a receipt.
	Simple MessageKind = iota
	// Protected messages may be neither skipped nor rejected (unless the chain is closed).
	Protected
	// Tracked messages may be rejected; a rejected one bounces back to the sender.
	Tracked
	// Bouncing is the returned copy of a rejected tracked message.
	Bouncing
)

func (k MessageKind) String() string {
	switch k {
	case Simple:
		return "simple"
	case Protected:
		return "protected"
	case Tracked:
		return "tracked"
	case Bouncing:
		return "bouncing"
	}
	return "unknown"
}

// SystemMessage is a message of the system application.
type SystemMessage interface {
	codec.Encoder
	systemMessageTag() uint32
}

// Credit adds Amount to Target's account on the recipient chain. If it bounces, Source
// (on the sending chain) is credited instead.
type Credit struct {
	Target base.Owner
	Amount base.Amount
	Source base.Owner
}

// Withdraw debits Owner's account on the recipient chain and sends Amount to Recipient.
// It must be authenticated by Owner.
type Withdraw struct {
	Owner     base.Owner
	Amount    base.Amount
	Recipient base.Account
}

func (*Credit) systemMessageTag() uint32   { return 0 }
func (*Withdraw) systemMessageTag() uint32 { return 1 }

func (m *Credit) Encode(w *codec.Writer) {
	w.Tag(0)
	w.Owner(m.Target)
	w.Amount(m.Amount)
	w.Owner(m.Source)
}

func (m *Withdraw) Encode(w *codec.Writer) {
	w.Tag(1)
	w.Owner(m.Owner)
	w.Amount(m.Amount)
	w.Account(m.Recipient)
}

// DecodeSystemMessage reads one system message.
func DecodeSystemMessage(r *codec.Reader) SystemMessage {
	switch r.Tag(2) {
	case 0:
		return codec.BoxIn(r, arena(r).credits, Credit{Target: r.Owner(), Amount: r.Amount(), Source: r.Owner()})
	case 1:
		return codec.Box(r, Withdraw{Owner: r.Owner(), Amount: r.Amount(), Recipient: r.Account()})
	}
	return nil
}

// Message is a system message or a user application's message.
type Message struct {
	System SystemMessage // non-nil for system messages
	App    base.ApplicationID
	Bytes  []byte
}

func (m *Message) Encode(w *codec.Writer) {
	if m.System != nil {
		w.Tag(0)
		m.System.Encode(w)
		return
	}
	w.Tag(1)
	w.Hash(base.Hash(m.App))
	w.VarBytes(m.Bytes)
}

func (m *Message) Decode(r *codec.Reader) {
	*m = Message{}
	if r.Tag(2) == 0 {
		m.System = DecodeSystemMessage(r)
		return
	}
	m.App = base.ApplicationID(r.Hash())
	m.Bytes = r.VarBytes()
}

// PostedMessage is a message as the recipient sees it in a bundle.
type PostedMessage struct {
	// AuthenticatedOwner, when set, is the signer the message acts for on the recipient.
	AuthenticatedOwner *base.Owner
	// Grant prepays the recipient's fees; the unused part goes to RefundGrantTo.
	Grant         base.Amount
	RefundGrantTo *base.Account
	Kind          MessageKind
	// Index is the message's position among the transaction's outgoing messages.
	Index   uint32
	Message Message
}

func (m *PostedMessage) Encode(w *codec.Writer) {
	encOptOwner(w, m.AuthenticatedOwner)
	w.Amount(m.Grant)
	encOptAccount(w, m.RefundGrantTo)
	w.Tag(uint32(m.Kind))
	w.U32(m.Index)
	m.Message.Encode(w)
}

func (m *PostedMessage) Decode(r *codec.Reader) {
	m.AuthenticatedOwner = decOptOwner(r)
	m.Grant = r.Amount()
	m.RefundGrantTo = decOptAccount(r)
	m.Kind = MessageKind(r.Tag(4))
	m.Index = r.U32()
	m.Message.Decode(r)
}

// OutgoingMessage is a message produced by executing a transaction.
type OutgoingMessage struct {
	Destination        base.ChainID
	AuthenticatedOwner *base.Owner
	Grant              base.Amount
	RefundGrantTo      *base.Account
	Kind               MessageKind
	Message            Message
}

// Posted returns the message as its recipient sees it.
func (m *OutgoingMessage) Posted(index uint32) PostedMessage {
	return PostedMessage{AuthenticatedOwner: m.AuthenticatedOwner, Grant: m.Grant, RefundGrantTo: m.RefundGrantTo, Kind: m.Kind, Index: index, Message: m.Message}
}

func (m *OutgoingMessage) Encode(w *codec.Writer) {
	w.Hash(base.Hash(m.Destination))
	encOptOwner(w, m.AuthenticatedOwner)
	w.Amount(m.Grant)
	encOptAccount(w, m.RefundGrantTo)
	w.Tag(uint32(m.Kind))
	m.Message.Encode(w)
}

func (m *OutgoingMessage) Decode(r *codec.Reader) {
	m.Destination = r.ChainID()
	m.AuthenticatedOwner = decOptOwner(r)
	m.Grant = r.Amount()
	m.RefundGrantTo = decOptAccount(r)
	m.Kind = MessageKind(r.Tag(4))
	m.Message.Decode(r)
}

// MessageBundle is every message one transaction of one certified block sends to one
// recipient. Bundles are accepted or rejected as a unit.
type MessageBundle struct {
	Height           base.BlockHeight
	Timestamp        base.Timestamp
	CertificateHash  base.Hash // the hash of the sending block
	TransactionIndex uint32
	Messages         []PostedMessage
}

func (b *MessageBundle) Encode(w *codec.Writer) {
	w.U64(uint64(b.Height))
	w.U64(uint64(b.Timestamp))
	w.Hash(b.CertificateHash)
	w.U32(b.TransactionIndex)
	codec.EncodeItems(w, b.Messages)
}

func (b *MessageBundle) Decode(r *codec.Reader) {
	b.Height = base.BlockHeight(r.U64())
	b.Timestamp = base.Timestamp(r.U64())
	b.CertificateHash = r.Hash()
	b.TransactionIndex = r.U32()
	b.Messages = codec.DecodeItemsIn(r, arena(r).posted, 4)
}

// IsSkippable reports whether the recipient may skip the bundle: every message is Simple
// (or Bouncing) with no grant.
func (b *MessageBundle) IsSkippable() bool {
	for i := range b.Messages {
		m := &b.Messages[i]
		if (m.Kind != Simple && m.Kind != Bouncing) || !m.Grant.IsZero() {
			return false
		}
	}
	return true
}

// IsProtected reports whether a message in the bundle is Protected.
func (b *MessageBundle) IsProtected() bool {
	for i := range b.Messages {
		if b.Messages[i].Kind == Protected {
			return true
		}
	}
	return false
}

// Cursor is the position of a bundle in its sender's outgoing stream.
type Cursor struct {
	Height base.BlockHeight
	Index  uint32
}

// Compare orders cursors by height then index.
func (c Cursor) Compare(o Cursor) int {
	switch {
	case c.Height < o.Height:
		return -1
	case c.Height > o.Height:
		return 1
	case c.Index < o.Index:
		return -1
	case c.Index > o.Index:
		return 1
	}
	return 0
}

// Cursor returns the bundle's position.
func (b *MessageBundle) Cursor() Cursor { return Cursor{Height: b.Height, Index: b.TransactionIndex} }

// BundleAction is what a block does with an incoming bundle.
type BundleAction uint8

const (
	Accept BundleAction = iota
	Reject
)

// IncomingBundle is a bundle included in a block, with its origin and the action taken.
type IncomingBundle struct {
	Origin base.ChainID
	Bundle MessageBundle
	Action BundleAction
}

func (b *IncomingBundle) Encode(w *codec.Writer) {
	w.Hash(base.Hash(b.Origin))
	b.Bundle.Encode(w)
	w.Tag(uint32(b.Action))
}

func (b *IncomingBundle) Decode(r *codec.Reader) {
	b.Origin = r.ChainID()
	b.Bundle.Decode(r)
	b.Action = BundleAction(r.Tag(2))
}

// Transaction is either the reception of an incoming bundle or an operation.
type Transaction struct {
	Bundle    *IncomingBundle // non-nil for ReceiveMessages
	Operation *Operation      // non-nil for ExecuteOperation
}

// ReceiveTx wraps an incoming bundle.
func ReceiveTx(b IncomingBundle) Transaction { return Transaction{Bundle: &b} }

// OperationTx wraps an operation.
func OperationTx(op Operation) Transaction { return Transaction{Operation: &op} }

// SystemTx wraps a system operation.
func SystemTx(op SystemOperation) Transaction { return OperationTx(SystemOp(op)) }

func (t *Transaction) Encode(w *codec.Writer) {
	if t.Bundle != nil {
		w.Tag(0)
		t.Bundle.Encode(w)
		return
	}
	w.Tag(1)
	t.Operation.Encode(w)
}

func (t *Transaction) Decode(r *codec.Reader) {
	*t = Transaction{}
	if r.Tag(2) == 0 {
		t.Bundle = codec.BoxIn(r, arena(r).bundles, IncomingBundle{})
		t.Bundle.Decode(r)
		return
	}
	t.Operation = codec.BoxIn(r, arena(r).operations, Operation{})
	t.Operation.Decode(r)
}
