package views

import (
	"context"
	"slices"
	"strings"

	"github.com/micachain/mica/internal/kv"
)

// Map is an ordered map from K to V, one stored entry per key under its context's prefix.
type Map[K, V any] struct {
	vc Context
	kc KeyCodec[K]
	c  Codec[V]

	// cache holds entries of the clean state read so far (including known misses), by
	// encoded key.
	cache map[string]cached[V]
	// full tells whether cache holds every entry of the clean state: set by a ForEach
	// that scanned the whole map (of at most mapFullCacheEntries entries), kept by Flush
	// (which writes its changes into cache) and Rollback (which leaves the clean state
	// alone). Then ForEach and Keys read nothing from the store.
	// Invariant: while the Map lives, nothing else writes under its prefix (the
	// assumption the cache of Get makes too).
	full bool
	// present lists the encoded keys of cache's present entries in ascending order while
	// full, or is nil until the next ForEach rebuilds it.
	present []string
	// misses counts the misses Get cached since the cache was last emptied of them: at
	// mapCachedMisses they are dropped, so that reads of absent keys (anyone may ask
	// for the balance of any owner) cannot grow the cache without bound.
	misses int
	// staged holds the changes since the last Flush, by encoded key.
	staged map[string]staged[K, V]
	// cleared tells whether Clear was called since the last Flush: then no stored entry is
	// visible and Flush starts with a DeletePrefix.
	cleared bool

	scratch []byte
}

type cached[V any] struct {
	v  V
	ok bool
}

type cachedEntry[V any] struct {
	ek string
	v  V
}

type staged[K, V any] struct {
	k       K
	v       V
	deleted bool
}

var _ View = (*Map[string, int])(nil)

// NewMap returns the map at vc's prefix. Nothing is read until it is needed.
func NewMap[K, V any](vc Context, kc KeyCodec[K], c Codec[V]) *Map[K, V] {
	return &Map[K, V]{vc: vc, kc: kc, c: c, cache: map[string]cached[V]{}}
}

func (m *Map[K, V]) encodeKey(k K) []byte {
	m.scratch = m.kc.AppendKey(m.scratch[:0], k)
	return m.scratch
}

// Get returns the value for k: staged if changed, else stored (read once and cached).
// Undecodable stored bytes give a base.ErrCorrupt error.
func (m *Map[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	var zero V
	ek := m.encodeKey(k)
	if s, ok := m.staged[string(ek)]; ok {
		if s.deleted {
			return zero, false, nil
		}
		return s.v, true, nil
	}
	if m.cleared {
		return zero, false, nil
	}
	if c, ok := m.cache[string(ek)]; ok {
		return c.v, c.ok, nil
	}
	if m.full {
		return zero, false, nil // cache holds every stored entry
	}
	full := append(m.vc.key(), ek...)
	v, ok, err := getValue(ctx, m.vc.r, m.c, full)
	if err != nil {
		return zero, false, err
	}
	if ok {
		m.cachePresent(string(ek), v)
	} else {
		m.cacheMiss(string(ek))
	}
	return v, ok, nil
}

// cacheMiss records that the clean state has no entry at ek: nothing to record when the
// cache is full (every key it lacks is absent), else a cached miss, at most
// mapCachedMisses of them.
func (m *Map[K, V]) cacheMiss(ek string) {
	if m.full {
		delete(m.cache, ek)
		return
	}
	if c, ok := m.cache[ek]; ok && !c.ok {
		return
	}
	if m.misses == mapCachedMisses {
		m.dropMisses()
	}
	m.misses++
	m.cache[ek] = cached[V]{}
}

// cachePresent caches v as the clean value at ek; past mapCachedEntries entries the
// cache is emptied first (and no longer holds the whole map).
func (m *Map[K, V]) cachePresent(ek string, v V) {
	if _, ok := m.cache[ek]; !ok && len(m.cache) >= mapCachedEntries+mapCachedMisses {
		clear(m.cache)
		m.misses = 0
		m.full = false
		m.present = nil
	}
	m.cache[ek] = cached[V]{v: v, ok: true}
}

// mapCachedMisses bounds the absent keys a Map remembers from Get (see misses).
const mapCachedMisses = 256

// mapCachedEntries bounds the present entries a Map keeps cached: past it the cache
// starts over. Anyone can make a map long (a balance per owner credited by a transfer)
// and ask for each of its entries, and a chain's state stays in memory between
// requests; the entries read on every block (a chain's own balances, its committees)
// are far fewer.
const mapCachedEntries = 2048

// dropMisses forgets the cached absent keys. The cache then holds present entries only,
// each one stored (or staged and flushed), so its size is bounded by the map's.
func (m *Map[K, V]) dropMisses() {
	for ek, c := range m.cache {
		if !c.ok {
			delete(m.cache, ek)
		}
	}
	m.misses = 0
}

// Contains reports whether k has a value.
func (m *Map[K, V]) Contains(ctx context.Context, k K) (bool, error) {
	_, ok, err := m.Get(ctx, k)
	return ok, err
}

// Set stages v as the value of k.
func (m *Map[K, V]) Set(k K, v V) {
	m.stage(k, staged[K, V]{k: k, v: v})
}

// Delete stages the removal of k (whether or not it is present).
func (m *Map[K, V]) Delete(k K) {
	m.stage(k, staged[K, V]{k: k, deleted: true})
}

func (m *Map[K, V]) stage(k K, s staged[K, V]) {
	if m.staged == nil {
		m.staged = map[string]staged[K, V]{}
	}
	m.staged[string(m.encodeKey(k))] = s
}

// Clear stages the removal of every entry.
func (m *Map[K, V]) Clear() {
	m.cleared = true
	m.staged = nil
}

// stagedKeys returns the encoded staged keys in ascending order.
func (m *Map[K, V]) stagedKeys() []string {
	keys := make([]string, 0, len(m.staged))
	for k := range m.staged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mapFullCacheEntries bounds the maps whose whole content a full scan caches: the small
// maps read on every request (a chain's trusted committees, inbox origins, outbox
// recipients). Larger maps are scanned each time.
const mapFullCacheEntries = 256

// ForEach calls fn for every entry in ascending key order, merging staged changes over
// the stored entries. fn must not modify the map. If fn returns an error, ForEach stops and
// returns it. Stored entries whose key or value does not decode give a base.ErrCorrupt
// error. A ForEach that reads a map of at most mapFullCacheEntries entries to the end
// caches them all, and later calls read nothing from the store.
func (m *Map[K, V]) ForEach(ctx context.Context, fn func(k K, v V) error) error {
	keys := m.stagedKeys()
	i := 0
	// emitStaged emits the staged entries with encoded keys below limit (all of them if
	// all is set), skipping deletions.
	emitStaged := func(limit []byte, all bool) error {
		for ; i < len(keys) && (all || strings.Compare(keys[i], string(limit)) < 0); i++ {
			if s := m.staged[keys[i]]; !s.deleted {
				if err := fn(s.k, s.v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !m.cleared && m.full {
		if m.present == nil {
			m.present = make([]string, 0, len(m.cache))
			for ek, c := range m.cache {
				if c.ok {
					m.present = append(m.present, ek)
				}
			}
			slices.Sort(m.present)
		}
		for _, ek := range m.present {
			if err := emitStaged([]byte(ek), false); err != nil {
				return err
			}
			if i < len(keys) && keys[i] == ek {
				s := m.staged[keys[i]]
				i++
				if !s.deleted {
					if err := fn(s.k, s.v); err != nil {
						return err
					}
				}
				continue
			}
			k, err := m.kc.ParseKey([]byte(ek))
			if err != nil {
				return corrupt(append(m.vc.key(), ek...), "map key: %v", err)
			}
			if err := fn(k, m.cache[ek].v); err != nil {
				return err
			}
		}
	} else if !m.cleared {
		n := len(m.vc.prefix)
		// The clean entries, kept if the scan reads them all and there are few.
		var seen []cachedEntry[V]
		tooMany := false
		err := m.vc.r.Scan(ctx, m.vc.prefix, func(key, value []byte) error {
			ek := key[n:]
			if err := emitStaged(ek, false); err != nil {
				return err
			}
			if !tooMany && len(seen) == mapFullCacheEntries {
				tooMany, seen = true, nil
			}
			if i < len(keys) && keys[i] == string(ek) {
				// The staged entry replaces the stored one.
				s := m.staged[keys[i]]
				i++
				if !tooMany {
					// A stored value the staged one hides is cached if it decodes; one
					// that does not makes this scan cache nothing.
					if v, err := decode(m.c, key, value); err == nil {
						seen = append(seen, cachedEntry[V]{string(ek), v})
					} else {
						tooMany, seen = true, nil
					}
				}
				if s.deleted {
					return nil
				}
				return fn(s.k, s.v)
			}
			k, err := m.kc.ParseKey(ek)
			if err != nil {
				return corrupt(key, "map key: %v", err)
			}
			v, err := decode(m.c, key, value)
			if err != nil {
				return err
			}
			if !tooMany {
				seen = append(seen, cachedEntry[V]{string(ek), v})
			}
			return fn(k, v)
		})
		if err != nil {
			return err
		}
		if !tooMany {
			// Every stored entry was read: the stored keys absent from seen are absent.
			clear(m.cache)
			m.misses = 0
			for _, e := range seen {
				m.cache[e.ek] = cached[V]{v: e.v, ok: true}
			}
			m.full, m.present = true, nil
		}
	}
	return emitStaged(nil, true)
}

// Keys returns every key in ascending order (see ForEach).
func (m *Map[K, V]) Keys(ctx context.Context) ([]K, error) {
	var out []K
	err := m.ForEach(ctx, func(k K, _ V) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

// Flush implements View: a DeletePrefix of the map's prefix after Clear, then one put or
// delete per staged key in ascending key order. It is Emit then Commit.
func (m *Map[K, V]) Flush(b *kv.Batch) {
	m.Emit(b)
	m.Commit()
}

// Emit appends the staged changes to b as Flush does, without changing the map.
func (m *Map[K, V]) Emit(b *kv.Batch) {
	if !m.HasPendingChanges() {
		return
	}
	if m.cleared {
		b.DeletePrefix(m.vc.prefix)
	}
	full := m.vc.key()
	n := len(full)
	for _, ek := range m.stagedKeys() {
		s := m.staged[ek]
		full = append(full[:n], ek...)
		if s.deleted {
			// After a Clear the key is already gone; whether to emit is decided by the
			// operations alone, so the batch stays deterministic.
			if !m.cleared {
				b.Delete(full)
			}
		} else {
			b.PutOwned(full, encode(m.c, s.v))
		}
	}
}

// Commit makes the staged changes the clean state, as Flush does, without appending
// them anywhere: only for changes that Emit appended to a batch being written. The
// cache keeps every clean entry it held that the changes did not replace.
func (m *Map[K, V]) Commit() {
	if !m.HasPendingChanges() {
		return
	}
	if m.cleared {
		clear(m.cache)
		m.misses = 0
		// The clean state is now exactly the staged puts, which go into cache below.
		m.full = true
	}
	m.present = nil
	for ek, s := range m.staged {
		if s.deleted {
			m.cacheMiss(ek)
		} else {
			m.cachePresent(ek, s.v)
		}
	}
	m.Rollback()
}

// Rollback implements View. The clean entries stay cached.
func (m *Map[K, V]) Rollback() {
	m.staged = nil
	m.cleared = false
}

// HasPendingChanges implements View.
func (m *Map[K, V]) HasPendingChanges() bool { return m.cleared || len(m.staged) > 0 }

// MapChange is a Map's staged changes, taken out of it by TakeStaged.
type MapChange[K, V any] struct {
	staged  map[string]staged[K, V]
	cleared bool
}

// TakeStaged returns the staged changes and drops them from the map (which keeps its
// clean entries), so that they can be staged again by PutStaged, on this map or on
// another over the same prefix, as long as the stored entries have not changed in
// between.
func (m *Map[K, V]) TakeStaged() MapChange[K, V] {
	c := MapChange[K, V]{staged: m.staged, cleared: m.cleared}
	m.Rollback()
	return c
}

// PutStaged stages c, changes TakeStaged returned, replacing any staged change. c must
// not be used afterwards.
func (m *Map[K, V]) PutStaged(c MapChange[K, V]) {
	m.staged, m.cleared = c.staged, c.cleared
}
