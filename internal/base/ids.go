package base

import (
	"bytes"
	"encoding/hex"
	"strings"
)

// ChainID identifies a microchain: the hash of its ChainDescription.
type ChainID Hash

func (c ChainID) String() string        { return Hash(c).String() }
func (c ChainID) Short() string         { return Hash(c).Short() }
func (c ChainID) Compare(o ChainID) int { return Hash(c).Compare(Hash(o)) }
func (c ChainID) IsZero() bool          { return Hash(c).IsZero() }
func ParseChainID(s string) (ChainID, error) {
	h, err := ParseHash(s)
	if err != nil {
		return ChainID{}, Invalidf("chain id %q: want 64 hex digits", s)
	}
	return ChainID(h), nil
}

// ApplicationID identifies a user application: the hash of its description.
type ApplicationID Hash

func (a ApplicationID) String() string              { return Hash(a).String() }
func (a ApplicationID) Compare(o ApplicationID) int { return Hash(a).Compare(Hash(o)) }
func ParseApplicationID(s string) (ApplicationID, error) {
	h, err := ParseHash(s)
	if err != nil {
		return ApplicationID{}, Invalidf("application id %q: want 64 hex digits", s)
	}
	return ApplicationID(h), nil
}

// OwnerKind tells the three forms an Owner can take apart.
type OwnerKind uint8

const (
	// OwnerReserved is a reserved owner; Reserved(0) is the chain's own account.
	OwnerReserved OwnerKind = 0
	// OwnerAddress32 is the hash of a public key (Ed25519, ML-DSA) or an application id.
	OwnerAddress32 OwnerKind = 1
	// OwnerAddress20 is a 20-byte Ethereum address (secp256k1 keys).
	OwnerAddress20 OwnerKind = 2
)

// Owner is an account owner. The zero value is ChainOwner, the chain's own account.
//
// Invariant: for OwnerReserved only addr[0] may be non-zero; for OwnerAddress20 only
// addr[:20] may be non-zero. Constructors enforce this, so == is a correct equality.
type Owner struct {
	kind OwnerKind
	addr [32]byte
}

// ChainOwner is the chain's own (shared) account.
var ChainOwner = Owner{}

// ReservedOwner returns Reserved(b).
func ReservedOwner(b uint8) Owner { o := Owner{kind: OwnerReserved}; o.addr[0] = b; return o }

// Address32Owner returns the owner for a 32-byte address (hash of a public key).
func Address32Owner(h Hash) Owner { return Owner{kind: OwnerAddress32, addr: h} }

// Address20Owner returns the owner for an Ethereum address.
func Address20Owner(a [20]byte) Owner {
	o := Owner{kind: OwnerAddress20}
	copy(o.addr[:], a[:])
	return o
}

// Kind returns the form of the owner.
func (o Owner) Kind() OwnerKind { return o.kind }

// IsChain reports whether o is the chain account.
func (o Owner) IsChain() bool { return o == ChainOwner }

// Reserved returns the reserved index (meaningful for OwnerReserved).
func (o Owner) Reserved() uint8 { return o.addr[0] }

// Bytes returns the address bytes: 1 byte for reserved, 32 or 20 bytes otherwise.
func (o Owner) Bytes() []byte {
	switch o.kind {
	case OwnerReserved:
		return []byte{o.addr[0]}
	case OwnerAddress20:
		return append([]byte(nil), o.addr[:20]...)
	default:
		return append([]byte(nil), o.addr[:]...)
	}
}

// AppendBytes appends the address bytes (those Bytes returns) to b.
func (o Owner) AppendBytes(b []byte) []byte {
	switch o.kind {
	case OwnerReserved:
		return append(b, o.addr[0])
	case OwnerAddress20:
		return append(b, o.addr[:20]...)
	default:
		return append(b, o.addr[:]...)
	}
}

// Compare orders owners by kind, then by address.
func (o Owner) Compare(p Owner) int {
	if o.kind != p.kind {
		if o.kind < p.kind {
			return -1
		}
		return 1
	}
	return bytes.Compare(o.addr[:], p.addr[:])
}

// String returns "chain" for the chain account, "0x" + hex for addresses and
// "reserved:N" for other reserved owners.
func (o Owner) String() string {
	switch o.kind {
	case OwnerReserved:
		if o.addr[0] == 0 {
			return "chain"
		}
		return "reserved:" + hex.EncodeToString(o.addr[:1])
	case OwnerAddress20:
		return "0x" + hex.EncodeToString(o.addr[:20])
	default:
		return "0x" + hex.EncodeToString(o.addr[:])
	}
}

// ParseOwner parses "chain", a 0x-prefixed 32-byte or 20-byte hex address.
func ParseOwner(s string) (Owner, error) {
	if s == "chain" {
		return ChainOwner, nil
	}
	h := strings.TrimPrefix(s, "0x")
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 32 && len(raw) != 20) {
		return Owner{}, Invalidf("owner %q: want \"chain\" or 0x followed by 40 or 64 hex digits", s)
	}
	if len(raw) == 20 {
		var a [20]byte
		copy(a[:], raw)
		return Address20Owner(a), nil
	}
	var a Hash
	copy(a[:], raw)
	return Address32Owner(a), nil
}

// OwnerFromParts rebuilds an owner from its kind and address bytes, as decoders do.
func OwnerFromParts(kind OwnerKind, addr []byte) (Owner, error) {
	switch kind {
	case OwnerReserved:
		if len(addr) != 1 {
			return Owner{}, Invalidf("reserved owner: want 1 byte, got %d", len(addr))
		}
		return ReservedOwner(addr[0]), nil
	case OwnerAddress32:
		if len(addr) != 32 {
			return Owner{}, Invalidf("owner address: want 32 bytes, got %d", len(addr))
		}
		var h Hash
		copy(h[:], addr)
		return Address32Owner(h), nil
	case OwnerAddress20:
		if len(addr) != 20 {
			return Owner{}, Invalidf("ethereum owner address: want 20 bytes, got %d", len(addr))
		}
		var a [20]byte
		copy(a[:], addr)
		return Address20Owner(a), nil
	}
	return Owner{}, Invalidf("owner: unknown kind %d", kind)
}

// Account is an owner's account on a chain.
type Account struct {
	Chain ChainID
	Owner Owner
}

// String returns "owner@chain", or just "chain" for the chain account.
func (a Account) String() string {
	if a.Owner.IsChain() {
		return a.Chain.String()
	}
	return a.Owner.String() + "@" + a.Chain.String()
}

// ParseAccount parses "CHAIN" or "OWNER@CHAIN".
func ParseAccount(s string) (Account, error) {
	ownerPart, chainPart, found := strings.Cut(s, "@")
	if !found {
		c, err := ParseChainID(s)
		if err != nil {
			return Account{}, Invalidf("account %q: want CHAIN or OWNER@CHAIN", s)
		}
		return Account{Chain: c}, nil
	}
	o, err := ParseOwner(ownerPart)
	if err != nil {
		return Account{}, Invalidf("account %q: %v", s, err)
	}
	c, err := ParseChainID(chainPart)
	if err != nil {
		return Account{}, Invalidf("account %q: %v", s, err)
	}
	return Account{Chain: c, Owner: o}, nil
}

// BlobType tells what a blob holds.
type BlobType uint8

const (
	BlobData BlobType = iota
	BlobContractBytecode
	BlobServiceBytecode
	BlobApplicationDescription
	BlobCommittee
	BlobChainDescription
	blobTypeCount
)

var blobTypeNames = [...]string{"Data", "ContractBytecode", "ServiceBytecode", "ApplicationDescription", "Committee", "ChainDescription"}

func (t BlobType) String() string {
	if t < blobTypeCount {
		return blobTypeNames[t]
	}
	return "Unknown"
}

// Valid reports whether t is a known blob type.
func (t BlobType) Valid() bool { return t < blobTypeCount }

// BlobID is a content address: the type and the hash of the blob content.
type BlobID struct {
	Type BlobType
	Hash Hash
}

func (b BlobID) String() string { return b.Type.String() + ":" + b.Hash.String() }

// Compare orders blob ids by type then hash.
func (b BlobID) Compare(o BlobID) int {
	if b.Type != o.Type {
		if b.Type < o.Type {
			return -1
		}
		return 1
	}
	return b.Hash.Compare(o.Hash)
}
