package base

import (
	"bytes"
	"encoding/hex"
	"strings"
)

// HashSize is the size in bytes of every Mica hash (SHA-256).
const HashSize = 32

// Hash is a SHA-256 digest. Package crypto computes them with type-name domain
// separation; this package only carries them.
type Hash [HashSize]byte

// String returns the lowercase hex form without prefix.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 8 hex digits, for logs.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// Compare orders hashes bytewise.
func (h Hash) Compare(o Hash) int { return bytes.Compare(h[:], o[:]) }

// ParseHash parses 64 hex digits, with or without a 0x prefix.
func ParseHash(s string) (Hash, error) {
	var h Hash
	s = strings.TrimPrefix(s, "0x")
	if len(s) != 2*HashSize {
		return h, Invalidf("hash %q: want %d hex digits, got %d", s, 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, Invalidf("hash %q: %v", s, err)
	}
	return h, nil
}
