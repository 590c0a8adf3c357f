// Package memkv is an in-memory kv.Store: an ordered B-tree (github.com/google/btree)
// behind a read-write lock. It is meant for tests and for sparse clients that keep nothing
// on disk; it passes the kvtest conformance suite.
//
// Scans iterate over a copy-on-write clone of the tree taken when the scan starts, so the
// callback may call back into the store (even write to it) and long scans do not block
// writers.
package memkv

import (
	"bytes"
	"context"
	"sync"

	"github.com/google/btree"

	"github.com/micachain/mica/internal/kv"
)

type entry struct {
	key, value []byte
}

func less(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// Store is an in-memory kv.Store. It is safe for concurrent use. The zero value is not
// usable; call New.
type Store struct {
	mu sync.RWMutex
	// tree is nil once the store is closed.
	// Invariant: stored keys and values are private copies, never shared with callers.
	tree *btree.BTreeG[entry]
}

var _ kv.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{tree: btree.NewG(32, less)}
}

// Get implements kv.Reader.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.tree == nil {
		return nil, false, kv.ErrClosed
	}
	e, ok := s.tree.Get(entry{key: key})
	if !ok {
		return nil, false, nil
	}
	return append([]byte{}, e.value...), true, nil
}

// MultiGet implements kv.Reader. All keys are read under one lock, so the result is a
// consistent view.
func (s *Store) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.tree == nil {
		return nil, kv.ErrClosed
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := s.tree.Get(entry{key: k}); ok {
			out[i] = append([]byte{}, e.value...)
		}
	}
	return out, nil
}

// Scan implements kv.Reader. It passes the stored slices to fn without copying: fn must
// not modify them.
func (s *Store) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Clone needs exclusive access to the tree; iteration of the clone then needs no lock.
	s.mu.Lock()
	if s.tree == nil {
		s.mu.Unlock()
		return kv.ErrClosed
	}
	snap := s.tree.Clone()
	s.mu.Unlock()

	var err error
	n := 0
	snap.AscendGreaterOrEqual(entry{key: prefix}, func(e entry) bool {
		if !bytes.HasPrefix(e.key, prefix) {
			return false
		}
		if n++; n%256 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		err = fn(e.key, e.value)
		return err == nil
	})
	return err
}

// Write implements kv.Writer. The batch is applied under the write lock, so readers see all
// of it or none of it.
func (s *Store) Write(ctx context.Context, b *kv.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tree == nil {
		return kv.ErrClosed
	}
	for _, op := range b.Ops() {
		switch op.Kind {
		case kv.OpPut:
			s.tree.ReplaceOrInsert(entry{key: bytes.Clone(op.Key), value: append([]byte{}, op.Value...)})
		case kv.OpDelete:
			s.tree.Delete(entry{key: op.Key})
		case kv.OpDeletePrefix:
			s.deletePrefix(op.Key)
		}
	}
	return nil
}

// deletePrefix removes every key starting with prefix. The caller holds the write lock.
func (s *Store) deletePrefix(prefix []byte) {
	if len(prefix) == 0 {
		s.tree.Clear(false)
		return
	}
	var doomed []entry
	s.tree.AscendGreaterOrEqual(entry{key: prefix}, func(e entry) bool {
		if !bytes.HasPrefix(e.key, prefix) {
			return false
		}
		doomed = append(doomed, e)
		return true
	})
	for _, e := range doomed {
		s.tree.Delete(e)
	}
}

// Close releases the contents. It is idempotent; later operations return kv.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree = nil
	return nil
}
