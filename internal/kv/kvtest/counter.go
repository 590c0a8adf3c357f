package kvtest

import (
	"bytes"
	"context"
	"sync/atomic"

	"github.com/micachain/mica/internal/kv"
)

// ReadCounter is a kv.Store that counts the point reads (a Get, or one key of a
// MultiGet) of keys starting with Prefix (nil: every key) and the value bytes they
// return, for tests that bound what an operation reads. Safe for concurrent use.
type ReadCounter struct {
	kv.Store
	Prefix []byte
	reads  atomic.Int64
	bytes  atomic.Int64
}

// Get implements kv.Reader, counting the read.
func (s *ReadCounter) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	v, ok, err := s.Store.Get(ctx, key)
	s.count(key, v)
	return v, ok, err
}

// MultiGet implements kv.Reader, counting each key as a read.
func (s *ReadCounter) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	vs, err := s.Store.MultiGet(ctx, keys)
	for i, v := range vs {
		s.count(keys[i], v)
	}
	return vs, err
}

func (s *ReadCounter) count(key, v []byte) {
	if bytes.HasPrefix(key, s.Prefix) {
		s.reads.Add(1)
		s.bytes.Add(int64(len(v)))
	}
}

// Reads returns the reads counted since the last Reset.
func (s *ReadCounter) Reads() int64 { return s.reads.Load() }

// Bytes returns the value bytes of the reads counted since the last Reset.
func (s *ReadCounter) Bytes() int64 { return s.bytes.Load() }

// Reset sets the counts to zero.
func (s *ReadCounter) Reset() {
	s.reads.Store(0)
	s.bytes.Store(0)
}
