package execution

import (
	"bytes"
	"context"
	"slices"
	"sort"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

// appStore is one application's key-value namespace: a staged overlay over the keys of
// the store under a prefix. Reads see staged writes; Flush turns them into batch
// operations in a canonical order (deleted prefixes sorted, then puts and deletes sorted
// by key), so equal staged changes give byte-identical batches whatever the order of
// reads and cache state.
//
// Invariant: no staged prefix deletion is a prefix of another one, and no staged update
// lies under a staged prefix deletion made after it (apply removes those).
type appStore struct {
	reader kv.Reader
	prefix []byte
	// deleted are staged prefix deletions (relative to prefix).
	deleted [][]byte
	// updates are staged puts (non-nil value) and deletes (nil value), by relative key.
	updates map[string][]byte
}

func newAppStore(vc views.Context) *appStore {
	return &appStore{reader: vc.Reader(), prefix: vc.Prefix(), updates: make(map[string][]byte)}
}

func (a *appStore) full(key []byte) []byte {
	k := make([]byte, 0, len(a.prefix)+len(key))
	return append(append(k, a.prefix...), key...)
}

// underDeleted reports whether key lies under a staged prefix deletion.
func (a *appStore) underDeleted(key []byte) bool {
	for _, p := range a.deleted {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (a *appStore) get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if v, ok := a.updates[string(key)]; ok {
		if v == nil {
			return nil, false, nil
		}
		return bytes.Clone(v), true, nil
	}
	if a.underDeleted(key) {
		return nil, false, nil
	}
	v, ok, err := a.reader.Get(ctx, a.full(key))
	if err != nil {
		return nil, false, err
	}
	if ok && v == nil {
		v = []byte{}
	}
	return v, ok, nil
}

func (a *appStore) multiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var fetch [][]byte
	var at []int
	for i, k := range keys {
		if v, ok := a.updates[string(k)]; ok {
			if v != nil {
				out[i] = bytes.Clone(v)
			}
			continue
		}
		if a.underDeleted(k) {
			continue
		}
		fetch = append(fetch, a.full(k))
		at = append(at, i)
	}
	if len(fetch) == 0 {
		return out, nil
	}
	vals, err := a.reader.MultiGet(ctx, fetch)
	if err != nil {
		return nil, err
	}
	for j, v := range vals {
		out[at[j]] = v
	}
	return out, nil
}

// scan returns the entries under prefix, in key order, merging staged writes.
func (a *appStore) scan(ctx context.Context, prefix []byte) ([]KeyValue, error) {
	var stored []KeyValue
	err := a.reader.Scan(ctx, a.full(prefix), func(key, value []byte) error {
		rel := key[len(a.prefix):]
		if _, staged := a.updates[string(rel)]; staged || a.underDeleted(rel) {
			return nil
		}
		stored = append(stored, KeyValue{Key: bytes.Clone(rel), Value: bytes.Clone(nonNil(value))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var staged []KeyValue
	for k, v := range a.updates {
		if v != nil && bytes.HasPrefix([]byte(k), prefix) {
			staged = append(staged, KeyValue{Key: []byte(k), Value: bytes.Clone(v)})
		}
	}
	sort.Slice(staged, func(i, j int) bool { return bytes.Compare(staged[i].Key, staged[j].Key) < 0 })
	// Merge two sorted, disjoint lists.
	out := make([]KeyValue, 0, len(stored)+len(staged))
	i, j := 0, 0
	for i < len(stored) || j < len(staged) {
		if j == len(staged) || (i < len(stored) && bytes.Compare(stored[i].Key, staged[j].Key) < 0) {
			out = append(out, stored[i])
			i++
		} else {
			out = append(out, staged[j])
			j++
		}
	}
	return out, nil
}

// batchWritten is the storage a batch of application writes is charged for: key and
// value bytes of each put, key bytes of each deletion.
func batchWritten(b *kv.Batch) uint64 {
	var n uint64
	for _, op := range b.Ops() {
		n += uint64(len(op.Key))
		if op.Kind == kv.OpPut {
			n += uint64(len(op.Value))
		}
	}
	return n
}

// apply stages the operations of b in order.
func (a *appStore) apply(b *kv.Batch) error {
	for _, op := range b.Ops() {
		switch op.Kind {
		case kv.OpPut:
			a.updates[string(op.Key)] = bytes.Clone(nonNil(op.Value))
		case kv.OpDelete:
			a.updates[string(op.Key)] = nil
		case kv.OpDeletePrefix:
			a.deletePrefix(op.Key)
		default:
			return failf(ErrInvalidOperation, "unknown storage operation %d", op.Kind)
		}
	}
	return nil
}

func (a *appStore) deletePrefix(p []byte) {
	for k := range a.updates {
		if bytes.HasPrefix([]byte(k), p) {
			delete(a.updates, k)
		}
	}
	if a.underDeleted(p) {
		return
	}
	a.deleted = slices.DeleteFunc(a.deleted, func(q []byte) bool { return bytes.HasPrefix(q, p) })
	a.deleted = append(a.deleted, bytes.Clone(nonNil(p)))
}

// dirty reports whether changes are staged.
func (a *appStore) dirty() bool { return len(a.deleted) > 0 || len(a.updates) > 0 }

// flush appends the staged changes to b in ascending key order (a prefix deletion
// before the puts under it) and clears them.
func (a *appStore) flush(b *kv.Batch) {
	a.emit(b)
	a.rollback()
}

// emit appends the staged changes to b as flush does, without clearing them.
func (a *appStore) emit(b *kv.Batch) {
	type op struct {
		key    []byte
		prefix bool
	}
	ops := make([]op, 0, len(a.deleted)+len(a.updates))
	for _, p := range a.deleted {
		ops = append(ops, op{key: p, prefix: true})
	}
	for k := range a.updates {
		ops = append(ops, op{key: []byte(k)})
	}
	slices.SortFunc(ops, func(x, y op) int {
		if c := bytes.Compare(x.key, y.key); c != 0 {
			return c
		}
		switch {
		case x.prefix == y.prefix:
			return 0
		case x.prefix:
			return -1
		}
		return 1
	})
	for _, o := range ops {
		switch {
		case o.prefix:
			b.DeletePrefix(a.full(o.key))
		case a.updates[string(o.key)] != nil:
			b.Put(a.full(o.key), a.updates[string(o.key)])
		default:
			b.Delete(a.full(o.key))
		}
	}
}

// appChange is an appStore's staged changes, taken out by take.
type appChange struct {
	deleted [][]byte
	updates map[string][]byte
}

// take returns the staged changes and drops them from a.
func (a *appStore) take() appChange {
	c := appChange{deleted: a.deleted, updates: a.updates}
	a.deleted, a.updates = nil, make(map[string][]byte)
	return c
}

// put stages c, changes take returned, replacing any staged change.
func (a *appStore) put(c appChange) { a.deleted, a.updates = c.deleted, c.updates }

// rollback drops the staged changes.
func (a *appStore) rollback() {
	a.deleted = nil
	clear(a.updates)
}

// appIDsSorted returns the keys of m sorted.
func appIDsSorted[V any](m map[base.ApplicationID]V) []base.ApplicationID {
	ids := make([]base.ApplicationID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, base.ApplicationID.Compare)
	return ids
}
