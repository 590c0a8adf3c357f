package views_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/views"
)

// TestMapForEachCachedAfterFullScan: once a ForEach has read the whole map, later
// ForEach and Keys calls read nothing from the store, and still see every later write,
// delete, flush and rollback.
func TestMapForEachCachedAfterFullScan(t *testing.T) {
	s, cr, m := storedMap(t, kvPair{"a", 1}, kvPair{"c", 3})

	want := []kvPair{{"a", 1}, {"c", 3}}
	if got := collect(t, m); !slices.Equal(got, want) {
		t.Fatalf("first ForEach = %v, want %v", got, want)
	}
	if n := cr.scans.Load(); n != 1 {
		t.Fatalf("first ForEach made %d scans, want 1", n)
	}
	check := func(step string, want []kvPair) {
		t.Helper()
		before := cr.reads()
		if got := collect(t, m); !slices.Equal(got, want) {
			t.Fatalf("%s: ForEach = %v, want %v", step, got, want)
		}
		keys, err := m.Keys(ctx)
		if err != nil || len(keys) != len(want) {
			t.Fatalf("%s: Keys = %q, %v", step, keys, err)
		}
		for i, k := range keys {
			if k != want[i].k {
				t.Fatalf("%s: Keys = %q, want the keys of %v", step, keys, want)
			}
		}
		if n := cr.reads() - before; n != 0 {
			t.Fatalf("%s: %d reads reached the store, want 0", step, n)
		}
	}
	check("cached", want)
	m.Set("b", 2)
	m.Delete("a")
	check("staged", []kvPair{{"b", 2}, {"c", 3}})
	m.Rollback()
	check("rolled back", want)
	m.Set("b", 2)
	m.Delete("a")
	m.Set("c", 30)
	flush(t, s, m)
	check("flushed", []kvPair{{"b", 2}, {"c", 30}})
	if got := collect(t, newStringMap(views.NewContext(s, []byte("m/")))); !slices.Equal(got, []kvPair{{"b", 2}, {"c", 30}}) {
		t.Fatalf("store after flush = %v", got)
	}
	m.Clear()
	m.Set("z", 26)
	check("cleared", []kvPair{{"z", 26}})
	flush(t, s, m)
	check("flushed after clear", []kvPair{{"z", 26}})
	if v, ok, err := m.Get(ctx, "b"); ok || err != nil {
		t.Fatalf("Get(b) after clear = %d, %v, %v", v, ok, err)
	}
}

// TestMapForEachStoppedNotCached: a ForEach that stops early has not seen the whole map,
// so the next one reads the store again (and sees every entry).
func TestMapForEachStoppedNotCached(t *testing.T) {
	_, cr, m := storedMap(t, kvPair{"a", 1}, kvPair{"b", 2})
	stop := errors.New("stop")
	if err := m.ForEach(ctx, func(string, uint64) error { return stop }); err != stop {
		t.Fatalf("ForEach = %v, want stop", err)
	}
	if got := collect(t, m); !slices.Equal(got, []kvPair{{"a", 1}, {"b", 2}}) {
		t.Fatalf("ForEach after a stopped one = %v", got)
	}
	if n := cr.scans.Load(); n != 2 {
		t.Fatalf("%d scans, want 2 (a stopped scan caches nothing)", n)
	}
}

// TestMapForEachLargeNotCached: a map larger than the cache bound is scanned every time
// (its entries are not all kept in memory).
func TestMapForEachLargeNotCached(t *testing.T) {
	s := newStore(t)
	cr := &countingReader{Reader: s}
	vc := views.NewContext(cr, []byte("m/"))
	m := newStringMap(vc)
	n := views.MapFullCacheEntries + 1
	for i := range n {
		m.Set(fmt.Sprintf("k%05d", i), uint64(i))
	}
	flush(t, s, m)
	m = newStringMap(vc)
	for range 2 {
		if got := collect(t, m); len(got) != n {
			t.Fatalf("ForEach gave %d entries, want %d", len(got), n)
		}
	}
	if got := cr.scans.Load(); got != 2 {
		t.Fatalf("%d scans, want 2", got)
	}
}

// TestMapCacheCoherence runs random operations on a map whose full scans are cached and
// checks every ForEach, Keys and Get against a model, and the store after each flush
// against a freshly loaded map. Staged changes are also taken out and put on a fresh
// map (TakeStaged, PutStaged).
func TestMapCacheCoherence(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			s := newStore(t)
			vc := views.NewContext(s, []byte{0x10})
			m := newStringMap(vc)
			clean := map[string]uint64{} // the stored state
			cur := map[string]uint64{}   // clean + staged
			key := func() string { return string(rune('a' + rng.IntN(8))) }
			for step := range 60 {
				switch op := rng.IntN(10); {
				case op < 3:
					k, v := key(), rng.Uint64N(100)
					m.Set(k, v)
					cur[k] = v
				case op < 5:
					k := key()
					m.Delete(k)
					delete(cur, k)
				case op == 5 && rng.IntN(4) == 0:
					m.Clear()
					clear(cur)
				case op == 6:
					flush(t, s, m)
					clean = maps.Clone(cur)
					if got, want := collect(t, newStringMap(vc)), sortedPairs(clean); !slices.Equal(got, want) {
						t.Fatalf("step %d: store = %v, want %v", step, got, want)
					}
				case op == 7:
					m.Rollback()
					cur = maps.Clone(clean)
				case op == 9 && rng.IntN(2) == 0:
					// The staged changes taken out leave the clean state; put on a fresh
					// map (or back), they are staged as before.
					c := m.TakeStaged()
					if got, want := collect(t, m), sortedPairs(clean); !slices.Equal(got, want) {
						t.Fatalf("step %d: after TakeStaged = %v, want the clean %v", step, got, want)
					}
					if rng.IntN(2) == 0 {
						m = newStringMap(vc)
					}
					m.PutStaged(c)
				case op == 8:
					k := key()
					v, ok, err := m.Get(ctx, k)
					wv, wok := cur[k]
					if err != nil || ok != wok || v != wv {
						t.Fatalf("step %d: Get(%q) = %d, %v, %v; want %d, %v", step, k, v, ok, err, wv, wok)
					}
				default:
					if got, want := collect(t, m), sortedPairs(cur); !slices.Equal(got, want) {
						t.Fatalf("step %d: ForEach = %v, want %v", step, got, want)
					}
				}
			}
		})
	}
}

func sortedPairs(m map[string]uint64) []kvPair {
	var out []kvPair
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kvPair{k, m[k]})
	}
	return out
}

// TestMapGetMissAfterFullScan: after a full scan, a key the map lacks is known absent
// without reading the store.
func TestMapGetMissAfterFullScan(t *testing.T) {
	_, cr, m := storedMap(t, kvPair{"a", 1})
	collect(t, m)
	before := cr.reads()
	if _, ok, err := m.Get(ctx, "b"); ok || err != nil {
		t.Fatalf("Get(b) = %v, %v", ok, err)
	}
	if v, ok, err := m.Get(ctx, "a"); !ok || v != 1 || err != nil {
		t.Fatalf("Get(a) = %d, %v, %v", v, ok, err)
	}
	if n := cr.reads() - before; n != 0 {
		t.Fatalf("%d reads after a full scan, want 0", n)
	}
}

// storedMap stores entries in a map at "m/" of a new store and returns the store, a
// counter of its reads and a freshly loaded map over it.
func storedMap(t *testing.T, entries ...kvPair) (*memkv.Store, *countingReader, *views.Map[string, uint64]) {
	t.Helper()
	s := newStore(t)
	cr := &countingReader{Reader: s}
	vc := views.NewContext(cr, []byte("m/"))
	m := newStringMap(vc)
	for _, e := range entries {
		m.Set(e.k, e.v)
	}
	flush(t, s, m)
	return s, cr, newStringMap(vc)
}
