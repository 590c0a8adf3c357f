package views_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

// Emit then Commit is Flush: the same operations, and the same clean state after.
func TestEmitCommitIsFlush(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("r/"))
	flushed := views.NewRegister(vc.Sub(1), views.U64Codec{}, 0)
	emitted := views.NewRegister(vc.Sub(1), views.U64Codec{}, 0)
	mf, me := newStringMap(vc.Sub(2)), newStringMap(vc.Sub(2))
	for step, stage := range []func(r *views.Register[uint64], m *views.Map[string, uint64]){
		func(r *views.Register[uint64], m *views.Map[string, uint64]) { r.Set(5); m.Set("a", 1); m.Set("b", 2) },
		func(r *views.Register[uint64], m *views.Map[string, uint64]) { r.Clear(); m.Delete("a"); m.Set("c", 3) },
		func(r *views.Register[uint64], m *views.Map[string, uint64]) { m.Clear(); m.Set("d", 4) },
	} {
		stage(flushed, mf)
		stage(emitted, me)
		var fb, eb kv.Batch
		flushed.Flush(&fb)
		mf.Flush(&fb)
		emitted.Emit(&eb)
		me.Emit(&eb)
		if !emitted.HasPendingChanges() && !me.HasPendingChanges() {
			t.Fatalf("step %d: Emit dropped the staged changes", step)
		}
		var again kv.Batch
		emitted.Emit(&again)
		me.Emit(&again)
		if !sameOps(&eb, &again) {
			t.Fatalf("step %d: a second Emit differs from the first", step)
		}
		emitted.Commit()
		me.Commit()
		if !sameOps(&fb, &eb) {
			t.Fatalf("step %d: Emit differs from Flush", step)
		}
		if err := s.Write(ctx, &fb); err != nil {
			t.Fatal(err)
		}
		if emitted.HasPendingChanges() || me.HasPendingChanges() {
			t.Fatalf("step %d: changes pending after Commit", step)
		}
		a, _ := flushed.Get(ctx)
		b, _ := emitted.Get(ctx)
		if a != b || !slices.Equal(collect(t, mf), collect(t, me)) {
			t.Fatalf("step %d: the clean state after Commit differs from the one after Flush", step)
		}
	}
}

// Rollback, TakeStaged and Commit keep the clean values the views read: reading them
// again reaches the store no more.
func TestCleanValuesSurviveRollbackAndCommit(t *testing.T) {
	s := newStore(t)
	putRaw(t, s, []byte("r/\x01"), []byte{7, 0, 0, 0, 0, 0, 0, 0})
	cr := &countingReader{Reader: s}
	vc := views.NewContext(cr, []byte("r/"))
	r := views.NewRegister(vc.Sub(1), views.U64Codec{}, 0)
	m := newStringMap(vc.Sub(2))
	if v, err := r.Get(ctx); v != 7 || err != nil {
		t.Fatalf("Get = %d, %v", v, err)
	}
	if _, ok, err := m.Get(ctx, "x"); ok || err != nil {
		t.Fatalf("Get(x) = %v, %v", ok, err)
	}
	if _, ok, err := m.Get(ctx, "y"); ok || err != nil {
		t.Fatalf("Get(y) = %v, %v", ok, err)
	}
	reads := cr.reads()
	expect := func(step string, rv uint64, x, y uint64, xok, yok bool) {
		t.Helper()
		if v, err := r.Get(ctx); v != rv || err != nil {
			t.Fatalf("%s: register = %d, %v; want %d", step, v, err, rv)
		}
		for _, c := range []struct {
			k  string
			v  uint64
			ok bool
		}{{"x", x, xok}, {"y", y, yok}} {
			if v, ok, err := m.Get(ctx, c.k); v != c.v || ok != c.ok || err != nil {
				t.Fatalf("%s: Get(%s) = %d, %v, %v; want %d, %v", step, c.k, v, ok, err, c.v, c.ok)
			}
		}
		if n := cr.reads() - reads; n != 0 {
			t.Fatalf("%s: %d reads reached the store", step, n)
		}
	}
	r.Set(8)
	m.Set("x", 1)
	expect("staged", 8, 1, 0, true, false)
	r.Rollback()
	m.Rollback()
	expect("rolled back", 7, 0, 0, false, false)
	r.Set(9)
	m.Set("y", 2)
	rc, mc := r.TakeStaged(), m.TakeStaged()
	expect("taken", 7, 0, 0, false, false)
	r.PutStaged(rc)
	m.PutStaged(mc)
	expect("put back", 9, 0, 2, false, true)
	var b kv.Batch
	r.Emit(&b)
	m.Emit(&b)
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	r.Commit()
	m.Commit()
	expect("committed", 9, 0, 2, false, true)
}

// A Map remembers at most MapCachedMisses absent keys: asking for many absent keys (any
// client may ask for any owner's balance) does not grow it without bound, and the
// present entries stay cached.
func TestMapCachedMissesBounded(t *testing.T) {
	_, cr, m := storedMap(t, kvPair{"present", 1})
	if v, ok, err := m.Get(ctx, "present"); !ok || v != 1 || err != nil {
		t.Fatalf("Get(present) = %d, %v, %v", v, ok, err)
	}
	for i := range 10 * views.MapCachedMisses {
		if _, ok, err := m.Get(ctx, fmt.Sprintf("absent-%d", i)); ok || err != nil {
			t.Fatalf("Get(absent-%d) = %v, %v", i, ok, err)
		}
		if n := views.CachedEntries(m); n > views.MapCachedMisses+1 {
			t.Fatalf("after %d absent keys the map caches %d entries", i+1, n)
		}
	}
	before := cr.reads()
	if v, ok, err := m.Get(ctx, "present"); !ok || v != 1 || err != nil {
		t.Fatalf("Get(present) = %d, %v, %v", v, ok, err)
	}
	if cr.reads() != before {
		t.Fatal("the present entry was dropped with the misses")
	}
	// Deletions flushed count as misses too.
	for i := range 10 * views.MapCachedMisses {
		m.Delete(fmt.Sprintf("deleted-%d", i))
	}
	var b kv.Batch
	m.Flush(&b)
	if n := views.CachedEntries(m); n > views.MapCachedMisses+1 {
		t.Fatalf("after flushing deletions the map caches %d entries", n)
	}
}

// A Queue keeps the entries it pushed near its front cached after Flush (at most
// QueueCacheMax of them), so that reading them (a block receiving the bundles just
// delivered) reaches the store no more, while a long queue is not held in memory.
func TestQueuePushedFrontCached(t *testing.T) {
	s := newStore(t)
	cr := &countingReader{Reader: s}
	q := views.NewQueue(views.NewContext(cr, []byte("q/")), views.U64Codec{})
	for i := range 6 { // more than the header holds
		if err := q.PushBack(ctx, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s, q)
	reads := cr.reads()
	var got []uint64
	if err := q.ForEach(ctx, func(v uint64) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := q.Front(ctx); v != 0 || !ok || err != nil {
		t.Fatalf("Front = %d, %v, %v", v, ok, err)
	}
	if !slices.Equal(got, []uint64{0, 1, 2, 3, 4, 5}) || cr.reads() != reads {
		t.Fatalf("ForEach = %v with %d reads, want [0 ... 5] and none", got, cr.reads()-reads)
	}
	if err := q.PopFront(ctx); err != nil {
		t.Fatal(err)
	}
	flush(t, s, q)
	if n := views.CachedQueueEntries(q); n != 5 {
		t.Fatalf("%d entries cached after popping one of 6, want 5", n)
	}
	for i := range 10 * views.QueueCacheMax {
		if err := q.PushBack(ctx, uint64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s, q)
	if n := views.CachedQueueEntries(q); n > views.QueueCacheMax {
		t.Fatalf("a long queue caches %d entries, want at most %d", n, views.QueueCacheMax)
	}
	// What is not cached is read from the store, correctly.
	fresh := views.NewQueue(views.NewContext(s, []byte("q/")), views.U64Codec{})
	var a, b []uint64
	for _, x := range []struct {
		q   *views.Queue[uint64]
		out *[]uint64
	}{{q, &a}, {fresh, &b}} {
		if err := x.q.ForEach(ctx, func(v uint64) error { *x.out = append(*x.out, v); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(a, b) || len(a) != 5+10*views.QueueCacheMax {
		t.Fatalf("queue reads %d entries, a fresh one %d", len(a), len(b))
	}
}

// A Queue's cache of its front is bounded in bytes too: entries of 8 KiB pushed by the
// hundred are cached up to QueueCacheBytes, and the rest read from the store.
func TestQueueCacheBoundedInBytes(t *testing.T) {
	s := newStore(t)
	q := views.NewQueue(views.NewContext(s, []byte("q/")), views.Codec[[]byte](views.BytesCodec{}))
	const size = 8 << 10
	n := views.QueueCacheMax
	for i := range n {
		if err := q.PushBack(ctx, bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s, q)
	if c := views.CachedQueueEntries(q); c == 0 || c*size > views.QueueCacheBytes {
		t.Fatalf("%d entries of %d bytes cached, want some and at most %d bytes", c, size, views.QueueCacheBytes)
	}
	got := 0
	if err := q.ForEach(ctx, func(v []byte) error {
		if len(v) != size || v[0] != byte(got) {
			t.Fatalf("entry %d reads back wrong", got)
		}
		got++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("ForEach read %d entries, want %d", got, n)
	}
}

// A Map caches at most MapCachedEntries present entries (besides MapCachedMisses
// absent ones), however many it reads or commits: anyone can make a map long (one
// balance per owner credited by a transfer) and ask for each entry, and a chain's state
// stays in memory between requests.
func TestMapCachedEntriesBounded(t *testing.T) {
	n := 3 * views.MapCachedEntries
	entries := make([]kvPair, n)
	for i := range entries {
		entries[i] = kvPair{fmt.Sprintf("owner-%05d", i), uint64(i)}
	}
	s, cr, m := storedMap(t, entries...)
	limit := views.MapCachedEntries + views.MapCachedMisses
	for round := range 2 {
		for i, e := range entries {
			if v, ok, err := m.Get(ctx, e.k); !ok || v != e.v || err != nil {
				t.Fatalf("round %d: Get(%s) = %d, %v, %v", round, e.k, v, ok, err)
			}
			if c := views.CachedEntries(m); c > limit {
				t.Fatalf("round %d: after %d reads the map caches %d entries", round, i+1, c)
			}
		}
	}
	// A read just cached is still served from the cache.
	before := cr.reads()
	if v, ok, err := m.Get(ctx, entries[n-1].k); !ok || v != entries[n-1].v || err != nil {
		t.Fatalf("Get(last) = %d, %v, %v", v, ok, err)
	}
	if cr.reads() != before {
		t.Fatal("the entry just read was not cached")
	}
	// Committing many puts keeps the bound too, and values stay right.
	for i := range n {
		m.Set(fmt.Sprintf("new-%05d", i), uint64(i))
	}
	flush(t, s, m)
	if c := views.CachedEntries(m); c > limit {
		t.Fatalf("after committing %d puts the map caches %d entries", n, c)
	}
	for i := range n {
		if v, ok, err := m.Get(ctx, fmt.Sprintf("new-%05d", i)); !ok || v != uint64(i) || err != nil {
			t.Fatalf("Get(new-%05d) = %d, %v, %v", i, v, ok, err)
		}
	}
	// A full scan of a map that outgrew the bound is not kept whole.
	count := 0
	if err := m.ForEach(ctx, func(string, uint64) error { count++; return nil }); err != nil || count != 2*n {
		t.Fatalf("ForEach saw %d entries (%v), want %d", count, err, 2*n)
	}
}
