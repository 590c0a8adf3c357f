// Package abi holds what the SDK and its test harness share: the host interface,
// request kinds and status codes of Mica's Wasm ABI (version 1), the canonical
// encoding primitives, and the hook through which sdktest runs an entry point.
package abi

import (
	"encoding/binary"
	"fmt"
)

// Request kinds of the "mica" host module's call function.
const (
	KindChainID             uint32 = 1
	KindApplicationID       uint32 = 2
	KindBlockHeight         uint32 = 3
	KindTimestamp           uint32 = 4
	KindAuthenticatedOwner  uint32 = 5
	KindReadValue           uint32 = 6
	KindReadMultiValues     uint32 = 7
	KindFindKeyValues       uint32 = 8
	KindWriteBatch          uint32 = 9
	KindSendMessage         uint32 = 10
	KindTransfer            uint32 = 11
	KindCallApplication     uint32 = 12
	KindReadDataBlob        uint32 = 13
	KindChainBalance        uint32 = 14
	KindOwnerBalance        uint32 = 15
	KindHTTPRequest         uint32 = 16
	KindEmitEvent           uint32 = 17
	KindReadEvent           uint32 = 18
	KindMessageInfo         uint32 = 19
	KindAuthenticatedCaller uint32 = 20
	KindScheduleOperation   uint32 = 21
	KindSha256              uint32 = 22
	KindKeccak256           uint32 = 23
	KindVerifySignature     uint32 = 24
	KindClaim               uint32 = 25
	KindOpenChain           uint32 = 26
)

// Outside-world oracles (contracts only).
const (
	KindQueryService uint32 = 27
	KindAssertBefore uint32 = 28
)

// Event stream kinds.
const (
	KindSubscribeToEvents     uint32 = 29
	KindUnsubscribeFromEvents uint32 = 30
)

// KindApplicationParameters reads the application's parameters (contracts and
// services; a host older than the kind answers CodeUnknownKind).
const KindApplicationParameters uint32 = 31

// Negative results of call.
const (
	CodeUnknownKind  int64 = -1
	CodeNotSupported int64 = -2
	CodeMalformed    int64 = -3
)

// Write batch operation tags.
const (
	OpPut          = 0
	OpDelete       = 1
	OpDeletePrefix = 2
)

// Entry point names (the guest's exports).
const (
	EntryInstantiate      = "mica_instantiate"
	EntryExecuteOperation = "mica_execute_operation"
	EntryExecuteMessage   = "mica_execute_message"
	EntryFinalize         = "mica_finalize"
	EntryHandleQuery      = "mica_handle_query"
	EntryProcessStreams   = "mica_process_streams"
)

// Host is the guest's view of the "mica" host module. The SDK has two
// implementations: the Wasm imports (wasip1) and sdktest's in-process host.
type Host interface {
	// Call performs request kind and returns its response, or a negative code and nil.
	Call(kind uint32, request []byte) (response []byte, code int64)
	SetOutput(b []byte)
	SetError(msg string)
	Log(level int32, msg string)
}

// Dispatch runs entry of app (a ContractApp or ServiceApp) against h and returns the
// entry point's status; the sdk package sets it at initialization.
var Dispatch func(h Host, app any, entry string, input []byte) uint32

// Encoder appends canonical encodings (package codec of the main module).
type Encoder struct{ Buf []byte }

func (e *Encoder) U32(v uint32)       { e.Buf = binary.LittleEndian.AppendUint32(e.Buf, v) }
func (e *Encoder) U64(v uint64)       { e.Buf = binary.LittleEndian.AppendUint64(e.Buf, v) }
func (e *Encoder) Uleb(v uint64)      { e.Buf = binary.AppendUvarint(e.Buf, v) }
func (e *Encoder) Fixed(b []byte)     { e.Buf = append(e.Buf, b...) }
func (e *Encoder) VarBytes(b []byte)  { e.Uleb(uint64(len(b))); e.Buf = append(e.Buf, b...) }
func (e *Encoder) U128(lo, hi uint64) { e.U64(lo); e.U64(hi) }

// Bool writes 0 or 1 (also an Option's presence tag).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Buf = append(e.Buf, 1)
	} else {
		e.Buf = append(e.Buf, 0)
	}
}

// Owner writes an owner: ULEB tag (0 reserved, 1 address32, 2 address20) then its 1, 32
// or 20 address bytes.
func (e *Encoder) Owner(kind uint8, addr []byte) { e.Uleb(uint64(kind)); e.Fixed(addr) }

// OwnerLen is the address length of each owner kind, or 0 for an unknown kind.
func OwnerLen(kind uint8) int {
	switch kind {
	case 0:
		return 1
	case 1:
		return 32
	case 2:
		return 20
	}
	return 0
}

// Decoder reads canonical encodings strictly; the first failure sticks.
type Decoder struct {
	b   []byte
	err error
}

func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

func (d *Decoder) Err() error { return d.err }

// Rest consumes and returns every remaining byte.
func (d *Decoder) Rest() []byte {
	r := d.b
	d.b = nil
	return r
}

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("decode: "+format, args...)
	}
	d.b = nil
}

// Finish reports the first failure, or trailing bytes.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("decode: %d trailing bytes", len(d.b))
	}
	return d.err
}

// Fixed reads n bytes (a copy).
func (d *Decoder) Fixed(n int) []byte {
	b := d.take(n)
	if d.err != nil {
		return nil
	}
	return append([]byte{}, b...)
}

// take consumes n bytes and returns them without copying, or nil.
func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("truncated: want %d bytes, have %d", n, len(d.b))
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *Decoder) Fixed32() (h [32]byte) {
	copy(h[:], d.take(32))
	return h
}

func (d *Decoder) U64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *Decoder) U128() (lo, hi uint64) { return d.U64(), d.U64() }

// Bool reads a 0/1 byte.
func (d *Decoder) Bool() bool {
	b := d.take(1)
	if b == nil {
		return false
	}
	if b[0] > 1 {
		d.fail("invalid bool %d", b[0])
	}
	return b[0] == 1
}

// Uleb reads a minimal ULEB128 value of at most 64 bits.
func (d *Decoder) Uleb() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad ULEB128")
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal ULEB128")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Length reads a ULEB length bounded by the remaining bytes (each item at least min bytes).
func (d *Decoder) Length(min int) int {
	n := d.Uleb()
	if d.err == nil && n > uint64(len(d.b)/max(min, 1)) {
		d.fail("length %d exceeds the input", n)
		return 0
	}
	return int(n)
}

func (d *Decoder) VarBytes() []byte { return d.Fixed(d.Length(1)) }

// Owner reads an owner's kind and address bytes.
func (d *Decoder) Owner() (kind uint8, addr []byte) {
	t := d.Uleb()
	if d.err == nil && (t > 2) {
		d.fail("unknown owner kind %d", t)
		return 0, nil
	}
	return uint8(t), d.Fixed(OwnerLen(uint8(t)))
}

// U32 reads a little-endian u32 (event indices).
func (d *Decoder) U32() uint32 {
	b := d.Fixed(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}
