package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// ChainOrigin says where a chain comes from: the genesis configuration (Root) or a block
// of a parent chain (Child).
type ChainOrigin struct {
	// IsChild distinguishes Child (true) from Root (false).
	IsChild bool
	// RootIndex is the index among the genesis root chains (Root only).
	RootIndex uint32
	// Parent, Height and Index locate the OpenChain operation (Child only): the parent
	// chain, its block height, and the index of the chain opened within that block.
	Parent base.ChainID
	Height base.BlockHeight
	Index  uint32
}

// RootOrigin returns the origin of genesis root chain i.
func RootOrigin(i uint32) ChainOrigin { return ChainOrigin{RootIndex: i} }

func (o *ChainOrigin) Encode(w *codec.Writer) {
	if !o.IsChild {
		w.Tag(0)
		w.U32(o.RootIndex)
		return
	}
	w.Tag(1)
	w.Hash(base.Hash(o.Parent))
	w.U64(uint64(o.Height))
	w.U32(o.Index)
}

func (o *ChainOrigin) Decode(r *codec.Reader) {
	*o = ChainOrigin{}
	if r.Tag(2) == 0 {
		o.RootIndex = r.U32()
		return
	}
	o.IsChild = true
	o.Parent = r.ChainID()
	o.Height = base.BlockHeight(r.U64())
	o.Index = r.U32()
}

// InitialChainConfig is the state a chain starts with.
type InitialChainConfig struct {
	Ownership   ChainOwnership
	Epoch       base.Epoch
	Balance     base.Amount
	Permissions ApplicationPermissions
}

func (c *InitialChainConfig) Encode(w *codec.Writer) {
	c.Ownership.Encode(w)
	w.U32(uint32(c.Epoch))
	w.Amount(c.Balance)
	c.Permissions.Encode(w)
}

func (c *InitialChainConfig) Decode(r *codec.Reader) {
	c.Ownership.Decode(r)
	c.Epoch = base.Epoch(r.U32())
	c.Balance = r.Amount()
	c.Permissions.Decode(r)
}

// ChainDescription describes a chain at its creation. Its blob id is the chain id.
type ChainDescription struct {
	Origin    ChainOrigin
	Timestamp base.Timestamp
	// AdminChain is the chain holding the committee history (the genesis root 0). For the
	// admin chain itself it is the zero id.
	AdminChain base.ChainID
	// Committees lists the committees the chain trusts initially, by epoch.
	Committees []EpochCommittee
	Config     InitialChainConfig
}

// EpochCommittee names the committee of an epoch by the hash of its blob.
type EpochCommittee struct {
	Epoch         base.Epoch
	CommitteeHash base.Hash
}

func (d *ChainDescription) Encode(w *codec.Writer) {
	d.Origin.Encode(w)
	w.U64(uint64(d.Timestamp))
	w.Hash(base.Hash(d.AdminChain))
	codec.EncodeSlice(w, d.Committees, func(w *codec.Writer, e *EpochCommittee) { w.U32(uint32(e.Epoch)); w.Hash(e.CommitteeHash) })
	d.Config.Encode(w)
}

func (d *ChainDescription) Decode(r *codec.Reader) {
	d.Origin.Decode(r)
	d.Timestamp = base.Timestamp(r.U64())
	d.AdminChain = r.ChainID()
	d.Committees = codec.DecodeSlice(r, 36, func(r *codec.Reader, e *EpochCommittee) { e.Epoch = base.Epoch(r.U32()); e.CommitteeHash = r.Hash() })
	for i := 1; i < len(d.Committees); i++ {
		if d.Committees[i-1].Epoch >= d.Committees[i].Epoch {
			r.Fail("committees not sorted by epoch")
		}
	}
	d.Config.Decode(r)
}

// Blob returns the ChainDescription blob whose id is the chain id.
func (d *ChainDescription) Blob() Blob { return NewBlob(base.BlobChainDescription, codec.Marshal(d)) }

// ID returns the chain id: the hash of the description blob.
func (d *ChainDescription) ID() base.ChainID { b := d.Blob(); return base.ChainID(b.ID().Hash) }

// Blob is immutable content-addressed data shared by all chains.
type Blob struct {
	Type    base.BlobType
	Content []byte
}

// NewBlob returns a blob; it does not copy content.
func NewBlob(t base.BlobType, content []byte) Blob { return Blob{Type: t, Content: content} }

// ID returns the content address: the type and HashValue("BlobContent", blob).
func (b *Blob) ID() base.BlobID {
	return base.BlobID{Type: b.Type, Hash: crypto.HashValue("BlobContent", b)}
}

// Size returns the content size in bytes.
func (b *Blob) Size() int { return len(b.Content) }

func (b *Blob) Encode(w *codec.Writer) {
	w.Tag(uint32(b.Type))
	w.VarBytes(b.Content)
}

func (b *Blob) Decode(r *codec.Reader) {
	b.Type = base.BlobType(r.Tag(uint32(base.BlobChainDescription) + 1))
	b.Content = r.VarBytes()
}
