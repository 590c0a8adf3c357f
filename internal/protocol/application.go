package protocol

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// ModuleID names published bytecode: the hashes of the contract and service blobs.
type ModuleID struct {
	Contract base.Hash
	Service  base.Hash
}

// ContractBlob and ServiceBlob return the ids of the module's blobs.
func (m ModuleID) ContractBlob() base.BlobID {
	return base.BlobID{Type: base.BlobContractBytecode, Hash: m.Contract}
}

func (m ModuleID) ServiceBlob() base.BlobID {
	return base.BlobID{Type: base.BlobServiceBytecode, Hash: m.Service}
}

// String returns "contract-hash:service-hash".
func (m ModuleID) String() string { return m.Contract.String() + ":" + m.Service.String() }

func (m *ModuleID) Encode(w *codec.Writer) { w.Hash(m.Contract); w.Hash(m.Service) }
func (m *ModuleID) Decode(r *codec.Reader) { m.Contract = r.Hash(); m.Service = r.Hash() }

// ModuleBlobs returns the contract and service blobs of a module, and its id. The
// bytecode is zstd-compressed (Go Wasm modules shrink about 4x); the VM accepts
// compressed or raw Wasm.
func ModuleBlobs(contract, service []byte) (ModuleID, []Blob) {
	c := NewBlob(base.BlobContractBytecode, CompressBytecode(contract))
	s := NewBlob(base.BlobServiceBytecode, CompressBytecode(service))
	return ModuleID{Contract: c.ID().Hash, Service: s.ID().Hash}, []Blob{c, s}
}

// ApplicationDescription describes an application; its blob's hash is the application
// id, the same on every chain.
type ApplicationDescription struct {
	Module       ModuleID
	CreatorChain base.ChainID
	Height       base.BlockHeight
	// Index is the position of the creation among the chains and applications created
	// by the block.
	Index      uint32
	Parameters []byte
	Required   []base.ApplicationID
}

func (d *ApplicationDescription) Encode(w *codec.Writer) {
	d.Module.Encode(w)
	w.Hash(base.Hash(d.CreatorChain))
	w.U64(uint64(d.Height))
	w.U32(d.Index)
	w.VarBytes(d.Parameters)
	encAppIDs(w, d.Required)
}

func (d *ApplicationDescription) Decode(r *codec.Reader) {
	d.Module.Decode(r)
	d.CreatorChain = r.ChainID()
	d.Height = base.BlockHeight(r.U64())
	d.Index = r.U32()
	d.Parameters = r.VarBytes()
	d.Required = decAppIDs(r)
}

// Blob returns the description blob.
func (d *ApplicationDescription) Blob() Blob {
	return NewBlob(base.BlobApplicationDescription, codec.Marshal(d))
}

// ID returns the application id: the hash of the description blob.
func (d *ApplicationDescription) ID() base.ApplicationID {
	b := d.Blob()
	return base.ApplicationID(b.ID().Hash)
}

// CompressBytecode compresses Wasm bytecode with zstd at the best compression level.
func CompressBytecode(wasm []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		panic(fmt.Sprintf("protocol: zstd encoder: %v", err)) // only fails on invalid options
	}
	defer enc.Close()
	return enc.EncodeAll(wasm, nil)
}
