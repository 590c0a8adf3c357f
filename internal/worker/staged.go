package worker

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

// stagedReader reads a store as if a batch of puts and deletes had been written to it,
// without writing it: a chain's initial state, staged in memory, answers reads
// (previewState). Immutable once built, so safe for concurrent use like the store.
type stagedReader struct {
	r kv.Reader
	// keys are the batch's keys in ascending order; vals their last operation's value
	// (nil for a delete).
	keys []string
	vals map[string][]byte
}

// newStagedReader returns r with b's operations applied, or false if b holds an
// operation it does not apply (a prefix deletion). It keeps b's bytes.
func newStagedReader(r kv.Reader, b *kv.Batch) (*stagedReader, bool) {
	s := &stagedReader{r: r, vals: make(map[string][]byte, b.Len())}
	for _, op := range b.Ops() {
		switch op.Kind {
		case kv.OpPut:
			s.vals[string(op.Key)] = op.Value
		case kv.OpDelete:
			s.vals[string(op.Key)] = nil
		default:
			return nil, false
		}
	}
	s.keys = make([]string, 0, len(s.vals))
	for k := range s.vals {
		s.keys = append(s.keys, k)
	}
	slices.Sort(s.keys)
	return s, true
}

// Get implements kv.Reader.
func (s *stagedReader) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if v, ok := s.vals[string(key)]; ok {
		if v == nil {
			return nil, false, nil
		}
		return bytes.Clone(v), true, nil
	}
	return s.r.Get(ctx, key)
}

// MultiGet implements kv.Reader.
func (s *stagedReader) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	out, err := s.r.MultiGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		if v, ok := s.vals[string(k)]; ok {
			out[i] = nil
			if v != nil {
				out[i] = bytes.Clone(v)
			}
		}
	}
	return out, nil
}

// Scan implements kv.Reader: the store's keys under prefix merged with the batch's, in
// ascending order, the batch's operation winning on a key both hold.
func (s *stagedReader) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	p := string(prefix)
	i, _ := slices.BinarySearch(s.keys, p)
	// staged calls fn for the batch's keys under prefix below limit (all of them if
	// limit is nil), skipping deletes.
	staged := func(limit []byte) error {
		for ; i < len(s.keys) && strings.HasPrefix(s.keys[i], p) && (limit == nil || s.keys[i] < string(limit)); i++ {
			if v := s.vals[s.keys[i]]; v != nil {
				if err := fn([]byte(s.keys[i]), v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := s.r.Scan(ctx, prefix, func(k, v []byte) error {
		if err := staged(k); err != nil {
			return err
		}
		if _, ok := s.vals[string(k)]; ok {
			i++ // the batch's operation on k replaces the store's value
			if sv := s.vals[string(k)]; sv != nil {
				return fn(k, sv)
			}
			return nil
		}
		return fn(k, v)
	})
	if err != nil {
		return err
	}
	return staged(nil)
}

// previewState returns chain id's state read from its staged initial state b over the
// store, for requests that read (withChainRead), or false if b cannot be read so. The
// state must not be flushed into a write: the store does not hold b.
func (w *Worker) previewState(id base.ChainID, b *kv.Batch) (*chain.State, bool) {
	c := w.cfg.Storage.ChainContext(id)
	r, ok := newStagedReader(c.Reader(), b)
	if !ok {
		return nil, false
	}
	return w.loadStateIn(id, views.NewContext(r, c.Prefix())), true
}
