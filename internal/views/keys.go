package views

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
)

// KeyCodec encodes map keys (and SubKey children) into key bytes. Every implementation
// must be:
//
//   - order-preserving: encoded keys compare with bytes.Compare in the natural order of K,
//     so that Map.ForEach visits keys in that order;
//   - prefix-free: no encoded key is a proper prefix of another, so that keys can name
//     sub-contexts without overlapping;
//   - strict: ParseKey accepts exactly the outputs of AppendKey, returns a value that does
//     not alias b, and returns an error of class base.ErrInvalid (never panics) otherwise.
type KeyCodec[K any] interface {
	// AppendKey appends the encoding of k to dst and returns the extended slice.
	AppendKey(dst []byte, k K) []byte
	// ParseKey decodes a whole encoded key.
	ParseKey(b []byte) (K, error)
}

// BytesKey encodes byte strings so that they are ordered like bytes.Compare and
// prefix-free: each 0x00 byte becomes 0x00 0xff and the key ends with 0x00 0x01 (the
// encoding CockroachDB uses for ascending byte keys).
type BytesKey struct{}

const (
	escape     = 0x00
	escapedNul = 0xff
	terminator = 0x01
)

func (BytesKey) AppendKey(dst []byte, k []byte) []byte { return appendEscaped(dst, k) }

func (BytesKey) ParseKey(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	return parseEscaped(out, b)
}

// StringKey encodes strings like BytesKey encodes their bytes. Any byte string is accepted
// (no UTF-8 check), so every Go string round-trips.
type StringKey struct{}

func (StringKey) AppendKey(dst []byte, k string) []byte { return appendEscaped(dst, k) }

func (StringKey) ParseKey(b []byte) (string, error) {
	out, err := parseEscaped(make([]byte, 0, len(b)), b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func appendEscaped[S []byte | string](dst []byte, k S) []byte {
	for i := 0; i < len(k); i++ {
		if k[i] == escape {
			dst = append(dst, escape, escapedNul)
		} else {
			dst = append(dst, k[i])
		}
	}
	return append(dst, escape, terminator)
}

func parseEscaped(out, b []byte) ([]byte, error) {
	for i := 0; i < len(b); i++ {
		if b[i] != escape {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			return nil, base.Invalidf("views: byte key %x: truncated escape", b)
		}
		switch b[i+1] {
		case escapedNul:
			out = append(out, 0)
			i++
		case terminator:
			if i+2 != len(b) {
				return nil, base.Invalidf("views: byte key %x: %d bytes after the terminator", b, len(b)-i-2)
			}
			return out, nil
		default:
			return nil, base.Invalidf("views: byte key %x: bad escape 0x00 0x%02x", b, b[i+1])
		}
	}
	return nil, base.Invalidf("views: byte key %x: no terminator", b)
}

// Uint64Key encodes integers as 8 big-endian bytes; use it for any type whose underlying
// type is uint64 (heights, timestamps): views.Uint64Key[base.BlockHeight]{}.
type Uint64Key[K ~uint64] struct{}

func (Uint64Key[K]) AppendKey(dst []byte, k K) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(k))
}

func (Uint64Key[K]) ParseKey(b []byte) (K, error) {
	if len(b) != 8 {
		return 0, base.Invalidf("views: integer key: want 8 bytes, got %d", len(b))
	}
	return K(binary.BigEndian.Uint64(b)), nil
}

// Hash32Key encodes 32-byte values (hashes, chain and application ids) as themselves:
// views.Hash32Key[base.ChainID]{}.
type Hash32Key[K ~[32]byte] struct{}

func (Hash32Key[K]) AppendKey(dst []byte, k K) []byte { return append(dst, k[:]...) }

func (Hash32Key[K]) ParseKey(b []byte) (K, error) {
	var k K
	if len(b) != len(k) {
		return k, base.Invalidf("views: 32-byte key: got %d bytes", len(b))
	}
	copy(k[:], b)
	return k, nil
}

// TaggedKey builds a KeyCodec for values that encode as a kind byte followed by a body
// whose length is fixed per kind (like base.Owner). Such keys are prefix-free, and
// order-preserving when the natural order of K is by kind, then by body bytes.
type TaggedKey[K any] struct {
	// Size returns the body length for a kind, or false for an unknown kind.
	Size func(kind byte) (int, bool)
	// Split returns the kind and body of k. Its body length must match Size.
	Split func(k K) (kind byte, body []byte)
	// Join rebuilds a value from a known kind and a body of the right length; it may still
	// refuse the body (returning an error).
	Join func(kind byte, body []byte) (K, error)
}

// AppendKey panics if Split and Size disagree: that is a bug in the codec's definition,
// not a property of any input.
func (c TaggedKey[K]) AppendKey(dst []byte, k K) []byte {
	kind, body := c.Split(k)
	if n, ok := c.Size(kind); !ok || n != len(body) {
		panic(fmt.Sprintf("views: TaggedKey: Split gave kind %d with %d body bytes, Size says %d, %v", kind, len(body), n, ok))
	}
	return append(append(dst, kind), body...)
}

func (c TaggedKey[K]) ParseKey(b []byte) (K, error) {
	var zero K
	if len(b) == 0 {
		return zero, base.Invalidf("views: tagged key: empty")
	}
	n, ok := c.Size(b[0])
	if !ok {
		return zero, base.Invalidf("views: tagged key %x: unknown kind %d", b, b[0])
	}
	if len(b) != 1+n {
		return zero, base.Invalidf("views: tagged key %x: kind %d wants %d body bytes, got %d", b, b[0], n, len(b)-1)
	}
	k, err := c.Join(b[0], append([]byte(nil), b[1:]...))
	if err != nil {
		if !errors.Is(err, base.ErrInvalid) {
			err = fmt.Errorf("%w: %v", base.ErrInvalid, err)
		}
		return zero, fmt.Errorf("views: tagged key %x: %w", b, err)
	}
	return k, nil
}

// OwnerKey returns the key codec of base.Owner: the kind byte, then 1 byte (reserved),
// 32 bytes (Address32) or 20 bytes (Address20). Keys order like base.Owner.Compare.
func OwnerKey() TaggedKey[base.Owner] {
	return TaggedKey[base.Owner]{
		Size: func(kind byte) (int, bool) {
			switch base.OwnerKind(kind) {
			case base.OwnerReserved:
				return 1, true
			case base.OwnerAddress32:
				return 32, true
			case base.OwnerAddress20:
				return 20, true
			}
			return 0, false
		},
		Split: func(o base.Owner) (byte, []byte) { return byte(o.Kind()), o.Bytes() },
		Join: func(kind byte, body []byte) (base.Owner, error) {
			return base.OwnerFromParts(base.OwnerKind(kind), body)
		},
	}
}
