// Package codec is Mica's one canonical binary encoding, BCS-style: little-endian
// fixed-width integers, ULEB128 lengths and enum tags, Option as a 0/1 tag, maps as sorted
// sequences. Hashes and signatures are always computed over these bytes.
//
// The decoder is strict: it rejects trailing bytes, unknown tags, non-minimal ULEB128,
// booleans other than 0/1 and lengths beyond the remaining input, so for every accepted
// input b, encode(decode(b)) == b. Types implement Encoder and Decoder by hand; Reader
// errors are sticky, so a Decode method reads its fields in order and checks Err once.
//
// Decoding has a memory budget. Without one, a few bytes on the wire can stand for much
// more memory: an empty nested list is one byte (a zero length) but a 24-byte slice
// header, and a declared length could preallocate far more than the input holds. A Reader
// therefore carries an allocation budget (Budget(len(input)) unless set otherwise) and
// every allocation made while decoding is charged, at its in-memory size, before it is
// made: byte strings and strings by VarBytes, String and Fixed, sequences by DecodeSlice
// and DecodeItems (element count × element size, so nested slices pay for their
// headers), single objects by New and Box. Decoding fails with ErrBudget, of class
// base.ErrInvalid, when the budget runs out, so the memory one input can make a decoder
// allocate is at most BudgetFactor times its size plus BudgetSlack.
package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/micachain/mica/internal/base"
)

// ErrMalformed is the class of every decoding error; it wraps base.ErrInvalid.
var ErrMalformed = fmt.Errorf("%w: malformed encoding", base.ErrInvalid)

// ErrBudget is returned when decoding would allocate more than the Reader's budget. It
// wraps ErrMalformed and so base.ErrInvalid: no honest peer sends such an input.
var ErrBudget = fmt.Errorf("%w: allocation budget exceeded", ErrMalformed)

// The default decoding budget is BudgetFactor bytes per input byte plus BudgetSlack.
//
// Honest encodings are charged 1-6 bytes per input byte (certificates of full blocks,
// 10,000 transactions: 5.7 for one-byte user operations with empty outcomes, 4.4 for
// transfers; byte strings about 1), so 8 leaves room for the shapes the protocol
// produces, while the amplifying shapes are refused: empty nested lists cost 24 bytes
// per input byte, operation-only transactions over 30. An outcome made mostly of tiny
// events (7 bytes, 64 in memory) is the honest shape closest to the limit.
// The slack lets any small message decode whatever its shape; it is small next to the
// per-request overhead of the transport, so it does not make many small requests an
// amplifier either.
const (
	BudgetFactor = 8
	BudgetSlack  = 64 << 10
)

// Budget returns the default allocation budget for an input of n bytes.
func Budget(n int) int { return BudgetFactor*n + BudgetSlack }

// MaxLength bounds every decoded length prefix (sequences, byte strings). Inputs are also
// bounded by their own size, so this only stops absurd allocations.
const MaxLength = 1 << 28

// Encoder is implemented by every type with a canonical encoding.
type Encoder interface {
	Encode(w *Writer)
}

// Decoder is implemented by pointers to types with a canonical encoding. Decode reads the
// fields in order; errors are recorded in the Reader.
type Decoder interface {
	Decode(r *Reader)
}

// Writer appends canonical bytes. The zero value is ready to use.
type Writer struct {
	buf []byte
}

// NewWriter returns a writer that appends to buf[:0]'s storage.
func NewWriter(buf []byte) *Writer { return &Writer{buf: buf[:0]} }

// Bytes returns the encoded bytes. The writer keeps ownership until Reset.
func (w *Writer) Bytes() []byte { return w.buf }

// Len returns the number of bytes written.
func (w *Writer) Len() int { return len(w.buf) }

// Reset empties the writer, keeping its storage.
func (w *Writer) Reset() { w.buf = w.buf[:0] }

func (w *Writer) U8(v uint8)   { w.buf = append(w.buf, v) }
func (w *Writer) U16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// Bool writes 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Uleb writes an unsigned LEB128 value (used for lengths and enum tags).
func (w *Writer) Uleb(v uint64) {
	if v < 0x80 { // one byte: every tag and most lengths
		w.buf = append(w.buf, byte(v))
		return
	}
	w.buf = binary.AppendUvarint(w.buf, v)
}

// Tag writes an enum variant index.
func (w *Writer) Tag(v uint32) { w.Uleb(uint64(v)) }

// Len writes a sequence length.
func (w *Writer) Length(n int) { w.Uleb(uint64(n)) }

// Fixed writes bytes without a length prefix.
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// VarBytes writes a length-prefixed byte string.
func (w *Writer) VarBytes(b []byte) {
	w.Length(len(b))
	w.buf = append(w.buf, b...)
}

// String writes a length-prefixed UTF-8 string.
func (w *Writer) String(s string) {
	w.Length(len(s))
	w.buf = append(w.buf, s...)
}

// OptionTag writes the presence tag of an Option.
func (w *Writer) OptionTag(present bool) { w.Bool(present) }

// Hash writes 32 bytes.
func (w *Writer) Hash(h base.Hash) { w.buf = append(w.buf, h[:]...) }

// Amount writes a u128 little-endian.
func (w *Writer) Amount(a base.Amount) {
	hi, lo := a.Parts()
	w.U64(lo)
	w.U64(hi)
}

// Round writes a round as an enum: Fast has no payload, others carry a u32.
func (w *Writer) Round(r base.Round) {
	w.Tag(uint32(r.Kind))
	if r.Kind != base.RoundFast {
		w.U32(r.Number)
	}
}

// Owner writes an owner as an enum: Reserved(u8) | Address32([32]) | Address20([20]).
func (w *Writer) Owner(o base.Owner) {
	w.Tag(uint32(o.Kind()))
	w.buf = o.AppendBytes(w.buf)
}

// Account writes chain then owner.
func (w *Writer) Account(a base.Account) {
	w.Hash(base.Hash(a.Chain))
	w.Owner(a.Owner)
}

// BlobID writes the type tag then the hash.
func (w *Writer) BlobID(b base.BlobID) {
	w.Tag(uint32(b.Type))
	w.Hash(b.Hash)
}

// Reader decodes canonical bytes. The first error sticks: later reads return zero values
// and Err reports it.
type Reader struct {
	buf    []byte
	off    int
	err    error
	budget int // bytes the decoder may still allocate
	// discard: the values decoded are thrown away (DecodesWithin), so the Slabs of the
	// decoders' arena hand out the same memory again.
	discard bool
	arena   any // ArenaOf
}

// NewReader reads b with the default allocation budget, Budget(len(b)); the reader does
// not copy b, and byte slices it returns are copies.
func NewReader(b []byte) *Reader { return &Reader{buf: b, budget: Budget(len(b))} }

// NewReaderBudget reads b with an explicit allocation budget in bytes. Use it for input
// that is trusted (read back from the local store) and may have been produced by our
// own execution rather than decoded, or with a tighter budget than the default.
func NewReaderBudget(b []byte, budget int) *Reader { return &Reader{buf: b, budget: budget} }

// Budget returns the bytes the decoder may still allocate.
func (r *Reader) Budget() int { return r.budget }

// Alloc charges an allocation of n bytes to the budget before the caller makes it. It
// returns false, and records ErrBudget, when the budget does not cover it (or when the
// reader has already failed); the caller must then not allocate. The charge is the size
// the Go allocator actually hands out (its size classes), so the budget bounds the real
// heap growth.
func (r *Reader) Alloc(n int) bool {
	if r.err != nil {
		return false
	}
	c := allocSize(n)
	if c > r.budget {
		r.err = fmt.Errorf("%w at byte %d: decoding needs %d more bytes of memory, %d left of the input's budget", ErrBudget, r.off, c, r.budget)
		return false
	}
	r.budget -= c
	return true
}

// allocSize over-approximates the heap size of an n-byte allocation: small sizes round
// up to the allocator's 16-byte classes, medium ones waste at most an eighth, and large
// ones are rounded to whole 8 KiB pages.
func allocSize(n int) int {
	switch {
	case n <= 0:
		return 0
	case n <= 256:
		return (n + 15) &^ 15
	case n <= 32<<10:
		return n + n/8
	default:
		return (n + 8191) &^ 8191
	}
}

// allocN charges n elements of elemSize bytes; it refuses products that overflow.
func (r *Reader) allocN(n int, elemSize uintptr) bool {
	if elemSize == 0 || n == 0 {
		return r.err == nil
	}
	if uint64(n) > uint64(math.MaxInt32)/uint64(elemSize) {
		r.Fail("sequence of %d elements of %d bytes is too large", n, elemSize)
		return false
	}
	return r.Alloc(n * int(elemSize))
}

// New charges the size of a T and returns a new zero T; after a failure (budget or
// earlier) it still returns a usable pointer so Decode methods can go on reading, which
// is cheap because every later read returns at once.
func New[T any](r *Reader) *T {
	var zero T
	r.Alloc(int(unsafe.Sizeof(zero)))
	return new(T)
}

// Box charges the size of a T and returns a pointer to a heap copy of v.
func Box[T any](r *Reader, v T) *T {
	r.Alloc(int(unsafe.Sizeof(v)))
	return &v
}

// Err returns the first error.
func (r *Reader) Err() error { return r.err }

// Fail records an error (the first one wins). Decoders call it for semantic violations,
// such as unsorted map keys.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
	}
}

// Offset returns the number of bytes read so far.
func (r *Reader) Offset() int { return r.off }

// Since returns the input bytes read from offset from (an earlier Offset) to now: a
// slice of the input, not a copy, which the caller must not modify or keep beyond the
// input's lifetime. Because the decoder is strict, the bytes a value was decoded from
// are its canonical encoding, so a decoder can hash them instead of re-encoding the value.
func (r *Reader) Since(from int) []byte { return r.buf[from:r.off:r.off] }

// SkipPrefix consumes p if the unread input starts with it, and reports whether it
// did. Because the decoder is strict and reads in order, input that starts with the
// bytes a value was decoded from decodes to that same value: a caller that kept the
// value and its bytes (Since) can skip them and reuse the value.
func (r *Reader) SkipPrefix(p []byte) bool {
	if r.err != nil || !bytes.HasPrefix(r.buf[r.off:], p) {
		return false
	}
	r.off += len(p)
	return true
}

// Remaining returns the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Finish fails if bytes remain, and returns Err.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.buf) {
		r.Fail("%d trailing bytes", len(r.buf)-r.off)
	}
	return r.err
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.Fail("need %d bytes, have %d", n, len(r.buf)-r.off)
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

func (r *Reader) U8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *Reader) U16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *Reader) U32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *Reader) U64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// Bool reads 0 or 1 and refuses anything else.
func (r *Reader) Bool() bool {
	switch v := r.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Fail("bool byte %d", v)
		return false
	}
}

// Uleb reads a minimal unsigned LEB128 value of at most 64 bits.
func (r *Reader) Uleb() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < 10; i++ {
		if r.off >= len(r.buf) {
			r.Fail("truncated ULEB128")
			return 0
		}
		c := r.buf[r.off]
		r.off++
		if i == 9 && c > 1 {
			r.Fail("ULEB128 overflows 64 bits")
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				r.Fail("non-minimal ULEB128")
				return 0
			}
			return v
		}
	}
	r.Fail("ULEB128 too long")
	return 0
}

// Tag reads an enum variant index and checks it is below n.
func (r *Reader) Tag(n uint32) uint32 {
	v := r.Uleb()
	if r.err == nil && v >= uint64(n) {
		r.Fail("unknown variant %d (want < %d)", v, n)
		return 0
	}
	return uint32(v)
}

// Length reads a sequence length and checks it against the remaining input, assuming each
// element takes at least minElemSize bytes (use 1 when unsure, 0 for zero-size elements).
func (r *Reader) Length(minElemSize int) int {
	v := r.Uleb()
	if r.err != nil {
		return 0
	}
	if v > MaxLength || v > math.MaxInt32 {
		r.Fail("length %d too large", v)
		return 0
	}
	if minElemSize > 0 && int(v)*minElemSize > r.Remaining() {
		r.Fail("length %d exceeds remaining input", v)
		return 0
	}
	return int(v)
}

// Fixed reads n bytes into a new slice.
func (r *Reader) Fixed(n int) []byte {
	b := r.take(n)
	if b == nil || !r.Alloc(n) {
		return nil
	}
	return append([]byte(nil), b...)
}

// FixedInto fills dst.
func (r *Reader) FixedInto(dst []byte) {
	b := r.take(len(dst))
	if b != nil {
		copy(dst, b)
	}
}

// VarBytes reads a length-prefixed byte string (a new slice, never nil when valid).
func (r *Reader) VarBytes() []byte {
	n := r.Length(1)
	b := r.take(n)
	if b == nil || !r.Alloc(n) {
		return nil
	}
	return append([]byte{}, b...)
}

// String reads a length-prefixed string.
func (r *Reader) String() string {
	n := r.Length(1)
	b := r.take(n)
	if b == nil || !r.Alloc(n) {
		return ""
	}
	return string(b)
}

// OptionTag reads the presence tag of an Option.
func (r *Reader) OptionTag() bool { return r.Bool() }

// Hash reads 32 bytes.
func (r *Reader) Hash() base.Hash {
	var h base.Hash
	r.FixedInto(h[:])
	return h
}

// Amount reads a u128.
func (r *Reader) Amount() base.Amount {
	lo := r.U64()
	hi := r.U64()
	return base.AmountFromParts(hi, lo)
}

// Round reads a round.
func (r *Reader) Round() base.Round {
	k := base.RoundKind(r.Tag(4))
	if k == base.RoundFast {
		return base.FastRound
	}
	return base.Round{Kind: k, Number: r.U32()}
}

// Owner reads an owner.
func (r *Reader) Owner() base.Owner {
	// Fast path for the two kinds every block is full of (one-byte tags).
	if r.err == nil && r.off < len(r.buf) {
		switch p := r.buf[r.off:]; base.OwnerKind(p[0]) {
		case base.OwnerReserved:
			if len(p) >= 2 {
				r.off += 2
				return base.ReservedOwner(p[1])
			}
		case base.OwnerAddress32:
			if len(p) >= 33 {
				r.off += 33
				return base.Address32Owner(base.Hash(p[1:33]))
			}
		}
	}
	k := base.OwnerKind(r.Tag(3))
	var n int
	switch k {
	case base.OwnerReserved:
		n = 1
	case base.OwnerAddress32:
		n = 32
	case base.OwnerAddress20:
		n = 20
	}
	b := r.take(n)
	if b == nil {
		return base.Owner{}
	}
	o, err := base.OwnerFromParts(k, b)
	if err != nil {
		r.Fail("%v", err)
	}
	return o
}

// Account reads chain then owner.
func (r *Reader) Account() base.Account {
	c := base.ChainID(r.Hash())
	return base.Account{Chain: c, Owner: r.Owner()}
}

// BlobID reads a blob id.
func (r *Reader) BlobID() base.BlobID {
	t := base.BlobType(r.Tag(uint32(base.BlobChainDescription) + 1))
	return base.BlobID{Type: t, Hash: r.Hash()}
}

// ChainID reads a chain id.
func (r *Reader) ChainID() base.ChainID { return base.ChainID(r.Hash()) }

// Marshal returns the canonical bytes of v, in a new slice of exactly their length (nil
// when v encodes to nothing). It encodes into a pooled scratch writer and copies out
// once, instead of growing a fresh buffer by doubling (a dozen allocations and copies
// for a block of tens of KiB).
func Marshal(v Encoder) []byte {
	w := getWriter()
	defer putWriter(w)
	v.Encode(w)
	if w.Len() == 0 {
		return nil
	}
	return append(make([]byte, 0, w.Len()), w.buf...)
}

// Size returns the length of v's canonical bytes without keeping them (it encodes into
// a pooled scratch writer).
func Size(v Encoder) int {
	w := getWriter()
	defer putWriter(w)
	v.Encode(w)
	return w.Len()
}

// Equal reports whether a and b have the same canonical bytes (encoded into pooled
// scratch writers, nothing kept).
func Equal(a, b Encoder) bool {
	wa, wb := getWriter(), getWriter()
	defer putWriter(wa)
	defer putWriter(wb)
	a.Encode(wa)
	b.Encode(wb)
	return string(wa.buf) == string(wb.buf)
}

// EncodesTo reports whether b is v's canonical encoding (v is encoded into a pooled
// scratch writer, nothing kept).
func EncodesTo(v Encoder, b []byte) bool {
	w := getWriter()
	defer putWriter(w)
	v.Encode(w)
	return string(w.buf) == string(b)
}

// AcquireWriter returns an empty writer from the pool that Marshal, Size, Equal and
// EncodesTo use, for a caller that encodes, reads the bytes and lets go of them; pass it
// to ReleaseWriter afterwards and keep nothing that aliases its bytes.
func AcquireWriter() *Writer { return getWriter() }

// ReleaseWriter returns a writer obtained from AcquireWriter to the pool.
func ReleaseWriter(w *Writer) { putWriter(w) }

// scratch holds writers whose storage Marshal, Size, Equal and EncodesTo reuse. It is a cache with
// no effect on results; writers that grew past maxScratch are dropped rather than kept.
var scratch = sync.Pool{New: func() any { return new(Writer) }}

const maxScratch = 1 << 20

func getWriter() *Writer {
	w := scratch.Get().(*Writer)
	w.Reset()
	return w
}

func putWriter(w *Writer) {
	if cap(w.buf) <= maxScratch {
		scratch.Put(w)
	}
}

// Unmarshal decodes b into v strictly: the whole input must be consumed. Its Reader comes
// from a pool (a Decode method must not keep its *Reader after it returns).
func Unmarshal(b []byte, v Decoder) error {
	r := readers.Get().(*Reader)
	*r = Reader{buf: b, budget: Budget(len(b))}
	v.Decode(r)
	err := r.Finish()
	*r = Reader{} // keep no reference to b in the pool
	readers.Put(r)
	return err
}

// DecodesWithin reports, as the error Unmarshal would return with the given budget,
// whether b decodes strictly into v within it, for a caller that only needs to know:
// the budget is charged exactly as by Unmarshal, but the values decoders take from
// their Slabs share memory with each other, so v must be dropped unread afterwards.
// arena, if not nil, is the arena the decoders find with ArenaOf (a pointer to their
// arena type, which a caller may keep for its next check); else they get a new one.
func DecodesWithin(b []byte, budget int, v Decoder, arena any) error {
	r := readers.Get().(*Reader)
	*r = Reader{buf: b, budget: budget, discard: true, arena: arena}
	v.Decode(r)
	err := r.Finish()
	*r = Reader{}
	readers.Put(r)
	return err
}

// readers holds the Readers of Unmarshal: a Reader passed to an interface method escapes,
// so without the pool every decode of a stored value allocates one.
var readers = sync.Pool{New: func() any { return new(Reader) }}

// EncodeSlice writes a length-prefixed sequence.
func EncodeSlice[T any](w *Writer, s []T, enc func(*Writer, *T)) {
	w.Length(len(s))
	for i := range s {
		enc(w, &s[i])
	}
}

// DecodeSlice reads a length-prefixed sequence whose elements take at least minElemSize
// bytes (at least 1 is assumed unless T has size zero, so a declared length never
// preallocates more elements than the remaining input could hold). The slice is charged
// to the budget, len × size of T, before it is allocated.
func DecodeSlice[T any](r *Reader, minElemSize int, dec func(*Reader, *T)) []T {
	n := decodeLength[T](r, minElemSize)
	if r.Err() != nil || n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		dec(r, &s[i])
		if r.Err() != nil {
			return nil
		}
	}
	return s
}

// EncodeItems writes a sequence of Encoders.
func EncodeItems[T any, P interface {
	*T
	Encoder
}](w *Writer, s []T) {
	w.Length(len(s))
	for i := range s {
		P(&s[i]).Encode(w)
	}
}

// decodeLength reads the length of a sequence of T and charges its backing array.
func decodeLength[T any](r *Reader, minElemSize int) int {
	var zero T
	size := unsafe.Sizeof(zero)
	if minElemSize < 1 && size > 0 {
		minElemSize = 1
	}
	n := r.Length(minElemSize)
	if r.err != nil || !r.allocN(n, size) {
		return 0
	}
	return n
}

// DecodeItems reads a sequence of Decoders; see DecodeSlice.
func DecodeItems[T any, P interface {
	*T
	Decoder
}](r *Reader, minElemSize int) []T {
	n := decodeLength[T](r, minElemSize)
	if r.Err() != nil || n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		P(&s[i]).Decode(r)
		if r.Err() != nil {
			return nil
		}
	}
	return s
}
