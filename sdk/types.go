package sdk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"

	"github.com/micachain/mica/sdk/internal/abi"
)

// ChainID identifies a microchain.
type ChainID [32]byte

func (c ChainID) String() string { return hex.EncodeToString(c[:]) }

// ApplicationID identifies an application.
type ApplicationID [32]byte

func (a ApplicationID) String() string { return hex.EncodeToString(a[:]) }

// Owner returns the account owner of the application itself (Address32 of its id).
func (a ApplicationID) Owner() Owner { return Address32Owner(a) }

// Timestamp is a time in microseconds since the Unix epoch.
type Timestamp uint64

// OwnerKind is an owner's variant.
type OwnerKind uint8

const (
	OwnerReserved  OwnerKind = 0 // Reserved(u8); Reserved(0) is the chain's own account
	OwnerAddress32 OwnerKind = 1 // hash of a public key, or an application id
	OwnerAddress20 OwnerKind = 2 // Ethereum address
)

// Owner is an account owner. The zero value is the chain's own account. Owners are
// comparable with ==.
type Owner struct {
	kind OwnerKind
	addr [32]byte
}

// ChainOwner is the chain's own account (Reserved(0)).
func ChainOwner() Owner { return Owner{} }

// ReservedOwner returns Reserved(b).
func ReservedOwner(b uint8) Owner { o := Owner{kind: OwnerReserved}; o.addr[0] = b; return o }

// Address32Owner returns the owner for a 32-byte address.
func Address32Owner(h [32]byte) Owner { return Owner{kind: OwnerAddress32, addr: h} }

// Address20Owner returns the owner for an Ethereum address.
func Address20Owner(a [20]byte) Owner {
	o := Owner{kind: OwnerAddress20}
	copy(o.addr[:], a[:])
	return o
}

// OwnerFromParts builds an owner from its kind and its 1, 32 or 20 address bytes.
func OwnerFromParts(kind OwnerKind, addr []byte) (Owner, error) {
	n := abi.OwnerLen(uint8(kind))
	if n == 0 || len(addr) != n {
		return Owner{}, fmt.Errorf("invalid owner: kind %d with %d bytes", kind, len(addr))
	}
	o := Owner{kind: kind}
	copy(o.addr[:], addr)
	return o, nil
}

func (o Owner) Kind() OwnerKind { return o.kind }

// Bytes returns the address bytes: 1 byte for reserved, 32 or 20 otherwise.
func (o Owner) Bytes() []byte {
	return append([]byte(nil), o.addr[:abi.OwnerLen(uint8(o.kind))]...)
}

func (o Owner) String() string {
	switch o.kind {
	case OwnerReserved:
		if o.addr[0] == 0 {
			return "chain"
		}
		return fmt.Sprintf("reserved:%d", o.addr[0])
	default:
		return "0x" + hex.EncodeToString(o.Bytes())
	}
}

// Account is an owner's account on a chain.
type Account struct {
	Chain ChainID
	Owner Owner
}

// Amount is a u128 token amount (in the smallest unit).
type Amount struct{ Lo, Hi uint64 }

// NewAmount returns v as an Amount.
func NewAmount(v uint64) Amount { return Amount{Lo: v} }

// Add returns a+b, or an error on overflow.
func (a Amount) Add(b Amount) (Amount, error) {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	hi, c := bits.Add64(a.Hi, b.Hi, c)
	if c != 0 {
		return Amount{}, errors.New("amount overflow")
	}
	return Amount{lo, hi}, nil
}

// Sub returns a-b, or an error when b > a.
func (a Amount) Sub(b Amount) (Amount, error) {
	lo, c := bits.Sub64(a.Lo, b.Lo, 0)
	hi, c := bits.Sub64(a.Hi, b.Hi, c)
	if c != 0 {
		return Amount{}, errors.New("amount underflow")
	}
	return Amount{lo, hi}, nil
}

// Cmp returns -1, 0 or 1.
func (a Amount) Cmp(b Amount) int {
	switch {
	case a.Hi < b.Hi || (a.Hi == b.Hi && a.Lo < b.Lo):
		return -1
	case a == b:
		return 0
	}
	return 1
}

// String formats the amount in decimal.
func (a Amount) String() string {
	if a.Hi == 0 {
		return fmt.Sprint(a.Lo)
	}
	const e19 = 10_000_000_000_000_000_000
	var digits []byte
	for a.Hi != 0 || a.Lo != 0 {
		qhi, r := bits.Div64(0, a.Hi, e19)
		qlo, r := bits.Div64(r, a.Lo, e19)
		a = Amount{Lo: qlo, Hi: qhi}
		chunk := fmt.Sprintf("%019d", r)
		if a.Hi == 0 && a.Lo == 0 {
			chunk = fmt.Sprint(r)
		}
		digits = append([]byte(chunk), digits...)
	}
	return string(digits)
}

// MessageInfo describes the message being executed (ExecuteMessage only).
type MessageInfo struct {
	Origin          ChainID
	OriginHeight    uint64
	OriginTimestamp Timestamp
	IsBouncing      bool
}

// KeyValue is a stored entry.
type KeyValue struct {
	Key, Value []byte
}

// LogLevel is a log/slog level.
type LogLevel int32

const (
	LevelDebug LogLevel = -4
	LevelInfo  LogLevel = 0
	LevelWarn  LogLevel = 4
	LevelError LogLevel = 8
)

// HostError is a host request the host refused with a negative code.
type HostError struct {
	Kind uint32
	Code int64
}

func (e *HostError) Error() string {
	var why string
	switch e.Code {
	case abi.CodeUnknownKind:
		why = "unknown request kind"
	case abi.CodeNotSupported:
		why = "not supported in this runtime"
	case abi.CodeMalformed:
		why = "malformed request"
	default:
		why = fmt.Sprintf("code %d", e.Code)
	}
	return fmt.Sprintf("mica host request %d: %s", e.Kind, why)
}

func encodeOwner(e *abi.Encoder, o Owner) { e.Owner(uint8(o.kind), o.Bytes()) }

func decodeOwner(d *abi.Decoder) Owner {
	k, b := d.Owner()
	if d.Err() != nil {
		return Owner{}
	}
	o, _ := OwnerFromParts(OwnerKind(k), b)
	return o
}
