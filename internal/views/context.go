package views

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
)

// Context is where a view lives: the store it reads from and the key prefix it owns. It is
// a small value; copy it freely.
type Context struct {
	r      kv.Reader
	prefix []byte
}

// NewContext returns a context over r for the keys starting with prefix (copied).
func NewContext(r kv.Reader, prefix []byte) Context {
	return Context{r: r, prefix: bytes.Clone(nonNil(prefix))}
}

// Sub returns the child context with prefix P || tag. Children with different tags are
// prefix-free: neither owns a key of the other.
func (c Context) Sub(tag byte) Context {
	return Context{r: c.r, prefix: c.key(tag)}
}

// SubKey returns the child context with prefix P || kc.AppendKey(k), for a dynamic set of
// children (one per application, per chain). Key codecs are prefix-free, so children with
// different keys are too.
func SubKey[K any](c Context, kc KeyCodec[K], k K) Context {
	return Context{r: c.r, prefix: kc.AppendKey(bytes.Clone(c.prefix), k)}
}

// Prefix returns a copy of the context's key prefix.
func (c Context) Prefix() []byte { return bytes.Clone(c.prefix) }

// Reader returns the store the context reads from.
func (c Context) Reader() kv.Reader { return c.r }

// key returns a new slice P || suffix.
func (c Context) key(suffix ...byte) []byte {
	k := make([]byte, len(c.prefix), len(c.prefix)+len(suffix)+8)
	copy(k, c.prefix)
	return append(k, suffix...)
}

// View is implemented by every view.
type View interface {
	// Flush appends the staged changes to b in ascending key order and makes them the
	// view's clean state.
	Flush(b *kv.Batch)
	// Rollback drops the staged changes.
	Rollback()
	// HasPendingChanges reports whether Flush would append anything.
	HasPendingChanges() bool
}

// Sub-keys of the views with a header (Queue, Log).
const (
	tagHeader  = 0x00
	tagEntries = 0x01
)

// indexKey returns P || 0x01 || BE64(i).
func (c Context) indexKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64(c.key(tagEntries), i)
}

// corrupt classifies a problem with stored bytes.
func corrupt(key []byte, format string, args ...any) error {
	return fmt.Errorf("views: key %x: %w: %s", key, base.ErrCorrupt, fmt.Sprintf(format, args...))
}

func readErr(key []byte, err error) error {
	return fmt.Errorf("views: read %x: %w", key, err)
}

// encode returns v's stored bytes, which nobody modifies afterwards (a fresh encoding,
// or an encoder's immutable bytes): views add them to a batch with kv.Batch.PutOwned.
func encode[T any](c Codec[T], v T) []byte {
	if e, ok := c.(encoder[T]); ok {
		return e.Encoded(v)
	}
	var w codec.Writer
	c.Encode(&w, v)
	return w.Bytes()
}

// encoder is implemented by a Codec whose values carry their stored bytes (a value
// encoded once, when it was made): Encoded returns the bytes Encode would write, which
// the view stores as they are instead of encoding v again. The batch takes them
// without copying (kv.Batch.PutOwned): they must never be modified.
type encoder[T any] interface {
	Encoded(v T) []byte
}

// decode decodes stored bytes strictly; failures are corruption.
func decode[T any](c Codec[T], key, b []byte) (T, error) {
	r := codec.NewReader(b)
	v := c.Decode(r)
	if err := r.Finish(); err != nil {
		var zero T
		return zero, corrupt(key, "%v", err)
	}
	return v, nil
}

// getValue reads and decodes one value; ok is false when the key is missing.
func getValue[T any](ctx context.Context, r kv.Reader, c Codec[T], key []byte) (v T, ok bool, err error) {
	b, ok, err := r.Get(ctx, key)
	if err != nil {
		return v, false, readErr(key, err)
	}
	if !ok {
		return v, false, nil
	}
	v, err = decode(c, key, b)
	return v, err == nil, err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
