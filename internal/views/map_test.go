package views_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

func newStringMap(vc views.Context) *views.Map[string, uint64] {
	return views.NewMap(vc, views.StringKey{}, views.U64Codec{})
}

type kvPair struct {
	k string
	v uint64
}

func collect(t *testing.T, m *views.Map[string, uint64]) []kvPair {
	t.Helper()
	var out []kvPair
	if err := m.ForEach(ctx, func(k string, v uint64) error {
		out = append(out, kvPair{k, v})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMapGetSetDelete(t *testing.T) {
	s := newStore(t)
	cr := &countingReader{Reader: s}
	vc := views.NewContext(cr, []byte("m/"))
	m := newStringMap(vc)

	if _, ok, err := m.Get(ctx, "a"); ok || err != nil {
		t.Fatalf("Get on empty = %v, %v", ok, err)
	}
	m.Get(ctx, "a")
	if cr.reads() != 1 {
		t.Fatalf("a repeated miss made %d reads, want 1 (misses are cached)", cr.reads())
	}
	m.Set("a", 1)
	m.Set("b", 2)
	if v, ok, _ := m.Get(ctx, "a"); !ok || v != 1 {
		t.Fatalf("staged Get = %d, %v", v, ok)
	}
	m.Delete("b")
	if ok, _ := m.Contains(ctx, "b"); ok {
		t.Fatal("deleted key present")
	}
	flush(t, s, m)
	if got := dump(t, s, nil); len(got) != 1 {
		t.Fatalf("store after flush: %q", got)
	}

	// Reload: the flushed value is read once and then cached.
	cr2 := &countingReader{Reader: s}
	m2 := newStringMap(views.NewContext(cr2, []byte("m/")))
	for range 3 {
		if v, ok, err := m2.Get(ctx, "a"); !ok || v != 1 || err != nil {
			t.Fatalf("reloaded Get = %d, %v, %v", v, ok, err)
		}
	}
	if cr2.reads() != 1 {
		t.Fatalf("three Gets made %d reads, want 1", cr2.reads())
	}
	m2.Delete("a")
	m2.Rollback()
	if v, ok, _ := m2.Get(ctx, "a"); !ok || v != 1 {
		t.Fatal("Rollback did not restore the stored value")
	}
	m2.Delete("a")
	flush(t, s, m2)
	if got := dump(t, s, nil); len(got) != 0 {
		t.Fatalf("store after delete: %q", got)
	}
	if _, ok, _ := m2.Get(ctx, "a"); ok {
		t.Fatal("flushed delete not visible in the view")
	}
}

// TestMapForEachMerge checks that ForEach merges staged changes over stored entries.
func TestMapForEachMerge(t *testing.T) {
	type op struct {
		del bool
		k   string
		v   uint64
	}
	set := func(k string, v uint64) op { return op{k: k, v: v} }
	del := func(k string) op { return op{del: true, k: k} }
	for _, tc := range []struct {
		name   string
		stored map[string]uint64
		clear  bool
		ops    []op
		want   []kvPair
	}{
		{name: "empty"},
		{name: "stored only", stored: map[string]uint64{"b": 2, "a": 1}, want: []kvPair{{"a", 1}, {"b", 2}}},
		{name: "staged only", ops: []op{set("b", 2), set("a", 1)}, want: []kvPair{{"a", 1}, {"b", 2}}},
		{
			name:   "interleaved",
			stored: map[string]uint64{"a": 1, "c": 3, "e": 5, "g": 7},
			ops:    []op{set("b", 2), set("c", 30), del("e"), set("h", 8), del("z"), set("0", 0)},
			want:   []kvPair{{"0", 0}, {"a", 1}, {"b", 2}, {"c", 30}, {"g", 7}, {"h", 8}},
		},
		{
			name:   "escaped order",
			stored: map[string]uint64{"a": 1, "a\x00": 2, "ab": 4},
			ops:    []op{set("", 0), set("a\x00\x00", 3), set("a\xff", 5)},
			want:   []kvPair{{"", 0}, {"a", 1}, {"a\x00", 2}, {"a\x00\x00", 3}, {"ab", 4}, {"a\xff", 5}},
		},
		{
			name:   "delete all stored",
			stored: map[string]uint64{"a": 1, "b": 2},
			ops:    []op{del("a"), del("b")},
		},
		{
			name:   "clear then set",
			stored: map[string]uint64{"a": 1, "b": 2},
			clear:  true,
			ops:    []op{set("b", 20), set("c", 30), del("a")},
			want:   []kvPair{{"b", 20}, {"c", 30}},
		},
		{
			name:   "set then clear",
			stored: map[string]uint64{"a": 1},
			ops:    []op{set("b", 2)},
			clear:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			vc := views.NewContext(s, []byte{0xff}) // a prefix with no PrefixEnd
			m := newStringMap(vc)
			for _, k := range slices.Sorted(maps.Keys(tc.stored)) {
				m.Set(k, tc.stored[k])
			}
			flush(t, s, m)
			// An unrelated key next to the map's range must not show up.
			putRaw(t, s, []byte{0xfe, 0xff}, []byte{1})

			m = newStringMap(vc)
			if tc.name == "set then clear" {
				for _, o := range tc.ops {
					m.Set(o.k, o.v)
				}
				m.Clear()
			} else {
				if tc.clear {
					m.Clear()
				}
				for _, o := range tc.ops {
					if o.del {
						m.Delete(o.k)
					} else {
						m.Set(o.k, o.v)
					}
				}
			}
			if got := collect(t, m); !slices.Equal(got, tc.want) {
				t.Fatalf("ForEach before flush = %v, want %v", got, tc.want)
			}
			keys, err := m.Keys(ctx)
			if err != nil || len(keys) != len(tc.want) {
				t.Fatalf("Keys = %q, %v", keys, err)
			}
			flush(t, s, m)
			if got := collect(t, m); !slices.Equal(got, tc.want) {
				t.Fatalf("ForEach after flush = %v, want %v", got, tc.want)
			}
			if got := collect(t, newStringMap(vc)); !slices.Equal(got, tc.want) {
				t.Fatalf("ForEach after reload = %v, want %v", got, tc.want)
			}
			for _, p := range tc.want {
				if v, ok, err := newStringMap(vc).Get(ctx, p.k); !ok || v != p.v || err != nil {
					t.Fatalf("reloaded Get(%q) = %d, %v, %v", p.k, v, ok, err)
				}
			}
		})
	}
}

func TestMapForEachStop(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, nil)
	m := newStringMap(vc)
	m.Set("a", 1)
	m.Set("c", 3)
	flush(t, s, m)
	m.Set("b", 2)
	stop := errors.New("stop")
	var seen []string
	err := m.ForEach(ctx, func(k string, v uint64) error {
		seen = append(seen, k)
		if k == "b" {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("ForEach = %v after %q, want stop after [a b]", err, seen)
	}
}

func TestMapUint64KeyOrder(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("h"))
	m := views.NewMap(vc, views.Uint64Key[base.BlockHeight]{}, views.StringCodec{})
	for _, h := range []base.BlockHeight{256, 2, 10, 1 << 40, 0} {
		m.Set(h, fmt.Sprint(h))
	}
	flush(t, s, m)
	m.Set(3, "3")
	var got []base.BlockHeight
	m.ForEach(ctx, func(k base.BlockHeight, v string) error {
		if v != fmt.Sprint(k) {
			t.Errorf("value of %d = %q", k, v)
		}
		got = append(got, k)
		return nil
	})
	if !slices.Equal(got, []base.BlockHeight{0, 2, 3, 10, 256, 1 << 40}) {
		t.Fatalf("order = %v", got)
	}
}

// TestMapFlushDeterministic applies the same changes in different orders, to views with
// different cache contents, and expects byte-identical batches.
func TestMapFlushDeterministic(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("d/"))
	seed := newStringMap(vc)
	for i := range 20 {
		seed.Set(fmt.Sprint(i), uint64(i))
	}
	flush(t, s, seed)

	type op struct {
		del bool
		k   string
	}
	var ops []op
	for i := range 40 {
		ops = append(ops, op{del: i%3 == 0, k: fmt.Sprint(i)})
	}
	batchFor := func(order []int, warm bool) *kv.Batch {
		m := newStringMap(vc)
		if warm {
			for i := range 40 {
				if _, _, err := m.Get(ctx, fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, i := range order {
			if ops[i].del {
				m.Delete(ops[i].k)
			} else {
				m.Set(ops[i].k, uint64(i*100))
			}
		}
		var b kv.Batch
		m.Flush(&b)
		checkAscending(t, &b)
		return &b
	}
	fwd := make([]int, 40)
	rev := make([]int, 40)
	for i := range 40 {
		fwd[i], rev[i] = i, 39-i
	}
	a, b, c := batchFor(fwd, false), batchFor(rev, true), batchFor(fwd, true)
	if !sameOps(a, b) || !sameOps(a, c) {
		t.Fatal("the same changes produced different batches")
	}
	if a.Len() != 40 {
		t.Fatalf("batch has %d ops, want 40 (deletes of missing keys included)", a.Len())
	}
}

func TestMapCorrupt(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("m/"))
	m := newStringMap(vc)
	m.Set("a", 1)
	flush(t, s, m)

	putRaw(t, s, []byte("m/b\x00\x01"), []byte{1, 2}) // value too short
	if _, _, err := newStringMap(vc).Get(ctx, "b"); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("Get of a bad value: %v, want ErrCorrupt", err)
	}
	if err := newStringMap(vc).ForEach(ctx, func(string, uint64) error { return nil }); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("ForEach over a bad value: %v, want ErrCorrupt", err)
	}
	// A staged value hides the bad stored one.
	m2 := newStringMap(vc)
	m2.Set("b", 2)
	if got := collect(t, m2); !slices.Equal(got, []kvPair{{"a", 1}, {"b", 2}}) {
		t.Fatalf("ForEach = %v", got)
	}

	s2 := newStore(t)
	putRaw(t, s2, []byte("m/zz"), make([]byte, 8)) // key without terminator
	if err := newStringMap(views.NewContext(s2, []byte("m/"))).ForEach(ctx, func(string, uint64) error { return nil }); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("ForEach over a bad key: %v, want ErrCorrupt", err)
	}
}

func TestContextIsolation(t *testing.T) {
	s := newStore(t)
	root := views.NewContext(s, []byte("c"))
	reg := views.NewRegister(root.Sub(2), views.StringCodec{}, "")
	m := newStringMap(root.Sub(1))
	subs := map[string]*views.Map[string, uint64]{}
	for _, k := range []string{"a", "a\x00", "ab", ""} {
		subs[k] = newStringMap(views.SubKey(root.Sub(3), views.StringKey{}, k))
		subs[k].Set("x", uint64(len(k)))
	}
	reg.Set("kept")
	m.Set("k", 1)
	flush(t, s, m, reg, subs[""], subs["a"], subs["a\x00"], subs["ab"])

	m.Clear()
	flush(t, s, m)
	if v, err := views.NewRegister(root.Sub(2), views.StringCodec{}, "").Get(ctx); err != nil || v != "kept" {
		t.Fatalf("sibling register after Clear = %q, %v", v, err)
	}
	for k := range subs {
		got := collect(t, newStringMap(views.SubKey(root.Sub(3), views.StringKey{}, k)))
		if !slices.Equal(got, []kvPair{{"x", uint64(len(k))}}) {
			t.Fatalf("sub-map %q sees %v", k, got)
		}
	}
	if p := root.Sub(1).Prefix(); string(p) != "c\x01" {
		t.Fatalf("Sub prefix = %q", p)
	}
}
