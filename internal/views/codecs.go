package views

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// Codec encodes and decodes the values of a view with the canonical encoding. Decode
// reports problems through r (r.Fail, or the Reader's own checks); views decode stored
// bytes strictly (codec.Reader.Finish) and report failures as base.ErrCorrupt. Decode must
// not panic on any input.
type Codec[T any] interface {
	Encode(w *codec.Writer, v T)
	Decode(r *codec.Reader) T
}

// CanonicalCodec returns the Codec of a type that implements codec.Encoder and
// codec.Decoder on its pointer: views.CanonicalCodec[protocol.Block]().
func CanonicalCodec[T any, P interface {
	*T
	codec.Encoder
	codec.Decoder
}]() Codec[T] {
	return canonical[T, P]{}
}

type canonical[T any, P interface {
	*T
	codec.Encoder
	codec.Decoder
}] struct{}

func (canonical[T, P]) Encode(w *codec.Writer, v T) { P(&v).Encode(w) }

func (canonical[T, P]) Decode(r *codec.Reader) T {
	var v T
	P(&v).Decode(r)
	return v
}

// FuncCodec is a Codec made of two functions.
type FuncCodec[T any] struct {
	EncodeFunc func(w *codec.Writer, v T)
	DecodeFunc func(r *codec.Reader) T
}

func (c FuncCodec[T]) Encode(w *codec.Writer, v T) { c.EncodeFunc(w, v) }
func (c FuncCodec[T]) Decode(r *codec.Reader) T    { return c.DecodeFunc(r) }

// U64Codec encodes a uint64 as 8 little-endian bytes.
type U64Codec struct{}

func (U64Codec) Encode(w *codec.Writer, v uint64) { w.U64(v) }
func (U64Codec) Decode(r *codec.Reader) uint64    { return r.U64() }

// BoolCodec encodes a bool as 0 or 1.
type BoolCodec struct{}

func (BoolCodec) Encode(w *codec.Writer, v bool) { w.Bool(v) }
func (BoolCodec) Decode(r *codec.Reader) bool    { return r.Bool() }

// BytesCodec encodes a byte string with a length prefix. Decoded values are never nil.
type BytesCodec struct{}

func (BytesCodec) Encode(w *codec.Writer, v []byte) { w.VarBytes(v) }
func (BytesCodec) Decode(r *codec.Reader) []byte    { return r.VarBytes() }

// StringCodec encodes a string with a length prefix.
type StringCodec struct{}

func (StringCodec) Encode(w *codec.Writer, v string) { w.String(v) }
func (StringCodec) Decode(r *codec.Reader) string    { return r.String() }

// HashCodec encodes a base.Hash as 32 bytes.
type HashCodec struct{}

func (HashCodec) Encode(w *codec.Writer, v base.Hash) { w.Hash(v) }
func (HashCodec) Decode(r *codec.Reader) base.Hash    { return r.Hash() }

// AmountCodec encodes a base.Amount as a little-endian u128.
type AmountCodec struct{}

func (AmountCodec) Encode(w *codec.Writer, v base.Amount) { w.Amount(v) }
func (AmountCodec) Decode(r *codec.Reader) base.Amount    { return r.Amount() }
