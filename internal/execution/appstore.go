package execution

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"

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
// It caches the clean (stored) value of the keys it read or committed, within the
// State's appCache budget: a contract that reads the same keys block after block (a
// counter's value, a token's balances) reads the store once. Staging, rollback,
// take and put leave the cache as it is (they do not change the clean state); commit
// writes the committed changes through.
//
// Invariant: no staged prefix deletion is a prefix of another one, and no staged update
// lies under a staged prefix deletion made after it (apply removes those).
// Invariant: while cacheGen equals budget.gen, every entry of cache is the clean
// state's value of its key (nil: absent), and budget counts it.
type appStore struct {
	reader kv.Reader
	prefix []byte
	// deleted are staged prefix deletions (relative to prefix).
	deleted [][]byte
	// updates are staged puts (non-nil value) and deletes (nil value), by relative key.
	updates map[string][]byte

	budget *appCache
	// cache holds clean values by relative key: a present value is non-nil (empty
	// values included), nil says the key is absent. Valid while cacheGen is
	// budget.gen; empty otherwise.
	cache    map[string][]byte
	cacheGen uint64
}

// appCache bounds the cached clean values of a State's applications: when an entry
// would take them past appCacheEntries or appCacheBytes, every application's cache is
// emptied (gen moves on) and filling starts again. A stranger's operations may read any
// key; they cannot make a chain's state hold more than that.
type appCache struct {
	gen     uint64
	entries int
	bytes   int
}

// Bounds of the application values a State caches (key and value bytes).
const (
	appCacheEntries = 256
	appCacheBytes   = 64 << 10
)

func newAppStore(vc views.Context, budget *appCache) *appStore {
	return &appStore{reader: vc.Reader(), prefix: vc.Prefix(), updates: make(map[string][]byte), budget: budget, cacheGen: budget.gen}
}

// cached returns the clean value of key if the cache holds it (nil: absent).
func (a *appStore) cached(key []byte) (v []byte, ok bool) {
	if a.cacheGen != a.budget.gen {
		return nil, false
	}
	v, ok = a.cache[string(key)]
	return v, ok
}

// remember caches v as the clean value of key (nil: absent), within the budget.
func (a *appStore) remember(key []byte, v []byte) {
	if a.cacheGen != a.budget.gen {
		clear(a.cache)
		a.cacheGen = a.budget.gen
	}
	if old, ok := a.cache[string(key)]; ok {
		a.budget.entries--
		a.budget.bytes -= len(key) + len(old)
	}
	n := len(key) + len(v)
	if n > appCacheBytes {
		delete(a.cache, string(key))
		return
	}
	if a.budget.entries+1 > appCacheEntries || a.budget.bytes+n > appCacheBytes {
		a.budget.gen++
		a.budget.entries, a.budget.bytes = 0, 0
		clear(a.cache)
		a.cacheGen = a.budget.gen
	}
	if a.cache == nil {
		a.cache = make(map[string][]byte)
	}
	a.cache[string(key)] = v
	a.budget.entries++
	a.budget.bytes += n
}

// forgetPrefix drops the cached values of the keys under p.
func (a *appStore) forgetPrefix(p []byte) {
	if a.cacheGen != a.budget.gen {
		return
	}
	for k, v := range a.cache {
		if strings.HasPrefix(k, string(p)) {
			delete(a.cache, k)
			a.budget.entries--
			a.budget.bytes -= len(k) + len(v)
		}
	}
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
	if v, ok := a.cached(key); ok {
		return bytes.Clone(v), v != nil, nil
	}
	v, ok, err := a.reader.Get(ctx, a.full(key))
	if err != nil {
		return nil, false, err
	}
	if ok && v == nil {
		v = []byte{}
	}
	if !ok {
		v = nil
	}
	a.remember(key, v)
	return bytes.Clone(v), ok, nil
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
		if v, ok := a.cached(k); ok {
			out[i] = bytes.Clone(v)
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
		a.remember(keys[at[j]], v)
		out[at[j]] = bytes.Clone(v)
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
// before the puts under it) and makes them the clean state.
func (a *appStore) flush(b *kv.Batch) {
	a.emit(b)
	a.commit()
}

// commit makes the staged changes the clean state (they were emitted to a batch being
// written): the cache takes them, prefix deletions first, then the updates, which
// apply made after them.
func (a *appStore) commit() {
	for _, p := range a.deleted {
		a.forgetPrefix(p)
	}
	for k, v := range a.updates {
		a.remember([]byte(k), v)
	}
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
