package views_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/views"
)

func newLog(vc views.Context) *views.Log[string] {
	return views.NewLog(vc, views.StringCodec{})
}

func logRange(t *testing.T, l *views.Log[string], from, to uint64) []string {
	t.Helper()
	var out []string
	next := from
	if err := l.Range(ctx, from, to, func(i uint64, v string) error {
		if i != next {
			t.Fatalf("Range gave index %d, want %d", i, next)
		}
		next++
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func appendLog(t *testing.T, l *views.Log[string], vs ...string) {
	t.Helper()
	for _, v := range vs {
		want, err := l.Len(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i, err := l.Append(ctx, v)
		if err != nil || i != want {
			t.Fatalf("Append = %d, %v; want index %d", i, err, want)
		}
	}
}

func TestLog(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("l"))
	l := newLog(vc)
	if n, _ := l.Len(ctx); n != 0 {
		t.Fatalf("Len of empty log = %d", n)
	}
	if _, ok, err := l.Get(ctx, 0); ok || err != nil {
		t.Fatalf("Get(0) of empty log = %v, %v", ok, err)
	}
	appendLog(t, l, "a", "b")
	flush(t, s, l)
	appendLog(t, l, "c")
	if got := logRange(t, l, 0, 100); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Range = %q", got)
	}
	if got := logRange(t, l, 1, 3); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("Range(1,3) = %q", got)
	}
	if got := logRange(t, l, 2, 1); got != nil {
		t.Fatalf("empty range gave %q", got)
	}
	l.Rollback()
	if n, _ := l.Len(ctx); n != 2 {
		t.Fatalf("Len after Rollback = %d", n)
	}
	appendLog(t, l, "c", "d")
	flush(t, s, l)

	cr := &countingReader{Reader: s}
	l2 := newLog(views.NewContext(cr, []byte("l")))
	for range 2 {
		for i, want := range []string{"a", "b", "c", "d"} {
			if v, ok, err := l2.Get(ctx, uint64(i)); v != want || !ok || err != nil {
				t.Fatalf("Get(%d) = %q, %v, %v", i, v, ok, err)
			}
		}
	}
	if cr.reads() != 5 { // header and four entries, each once
		t.Fatalf("reads = %d, want 5", cr.reads())
	}
	if _, ok, _ := l2.Get(ctx, 4); ok {
		t.Fatal("Get past the end found an entry")
	}
}

func TestLogLarge(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("l"))
	l := newLog(vc)
	var want []string
	for round := range 3 {
		for i := range 150 {
			v := fmt.Sprintf("%d.%d", round, i)
			want = append(want, v)
			appendLog(t, l, v)
		}
		flush(t, s, l)
	}
	l = newLog(vc)
	l.Get(ctx, 200) // one cached entry in the middle
	appendLog(t, l, "staged")
	want = append(want, "staged")
	for _, r := range [][2]uint64{{0, 451}, {3, 300}, {127, 129}, {449, 1000}, {450, 451}} {
		if got := logRange(t, l, r[0], r[1]); !slices.Equal(got, want[r[0]:min(r[1], 451)]) {
			t.Fatalf("Range(%d, %d) wrong: %d entries", r[0], r[1], len(got))
		}
	}
}

func TestLogCorrupt(t *testing.T) {
	s := newStore(t)
	putRaw(t, s, []byte("l\x00"), []byte{2, 0, 0, 0, 0, 0, 0, 0}) // count 2, no entries
	l := newLog(views.NewContext(s, []byte("l")))
	if _, _, err := l.Get(ctx, 1); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("Get of a missing entry: %v, want ErrCorrupt", err)
	}
	if err := l.Range(ctx, 0, 2, func(uint64, string) error { return nil }); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("Range over missing entries: %v, want ErrCorrupt", err)
	}
	putRaw(t, s, []byte("l\x00"), []byte{2, 0, 0, 0, 0, 0, 0, 0, 0}) // trailing byte
	if _, err := newLog(views.NewContext(s, []byte("l"))).Len(ctx); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("Len with a bad header: %v, want ErrCorrupt", err)
	}
}

// TestStateFlush flushes a struct of views in tag order and checks that the combined batch
// is ascending and that reloading gives the same values.
func TestStateFlush(t *testing.T) {
	s := newStore(t)
	type state struct {
		reg   *views.Register[base.Amount]
		owner *views.Map[base.Owner, uint64]
		queue *views.Queue[string]
		log   *views.Log[string]
	}
	load := func() state {
		root := views.NewContext(s, []byte("chain"))
		return state{
			reg:   views.NewRegister(root.Sub(0), views.AmountCodec{}, base.Amount{}),
			owner: views.NewMap(root.Sub(1), views.OwnerKey(), views.U64Codec{}),
			queue: newQueue(root.Sub(2)),
			log:   newLog(root.Sub(3)),
		}
	}
	all := func(st state) []views.View { return []views.View{st.reg, st.owner, st.queue, st.log} }
	st := load()
	amt := base.AmountFromParts(0, 1234)
	st.reg.Set(amt)
	o1 := base.Address32Owner(base.Hash{1})
	o2 := base.Address20Owner([20]byte{2})
	st.owner.Set(o2, 2)
	st.owner.Set(base.ChainOwner, 0)
	st.owner.Set(o1, 1)
	push(t, st.queue, "m1", "m2")
	appendLog(t, st.log, "h1")
	flush(t, s, all(st)...)

	st = load()
	if v, _ := st.reg.Get(ctx); v != amt {
		t.Fatalf("register = %v", v)
	}
	var owners []base.Owner
	st.owner.ForEach(ctx, func(o base.Owner, v uint64) error {
		owners = append(owners, o)
		return nil
	})
	if !slices.Equal(owners, []base.Owner{base.ChainOwner, o1, o2}) {
		t.Fatalf("owners = %v", owners)
	}
	expectQueue(t, st.queue, "m1", "m2")
	if got := logRange(t, st.log, 0, 10); !slices.Equal(got, []string{"h1"}) {
		t.Fatalf("log = %q", got)
	}
	for _, v := range all(st) {
		if v.HasPendingChanges() {
			t.Fatal("freshly loaded view has pending changes")
		}
	}
}

// TestLogCacheBounded: anyone can make a chain's received log long (by sending it
// bundles) and page through it (a chain info query asks for it from any index), and the
// chain's state lives across blocks. Walking 100,000 entries, by Get and by Range in
// short and long pages, keeps at most LogCacheEntries entries and LogCacheBytes bytes
// cached, reads the same entries, and never loses a staged one.
func TestLogCacheBounded(t *testing.T) {
	const n = 100_000
	s := newStore(t)
	vc := views.NewContext(s, []byte("l"))
	l := newLog(vc)
	want := make([]string, n, n+2)
	for i := range want {
		want[i] = fmt.Sprintf("entry %d", i)
		if _, err := l.Append(ctx, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s, l)
	l = newLog(vc)
	appendLog(t, l, "staged 0", "staged 1")
	want = append(want, "staged 0", "staged 1")
	check := func(step string) {
		t.Helper()
		if e, b := views.CachedLogEntries(l), views.CachedLogBytes(l); e > views.LogCacheEntries || b > views.LogCacheBytes {
			t.Fatalf("%s: log caches %d entries of %d bytes, want at most %d and %d",
				step, e, b, views.LogCacheEntries, views.LogCacheBytes)
		}
	}
	for pass := range 2 {
		for i := range uint64(n + 2) {
			v, ok, err := l.Get(ctx, i)
			if err != nil || !ok || v != want[i] {
				t.Fatalf("pass %d: Get(%d) = %q, %v, %v; want %q", pass, i, v, ok, err, want[i])
			}
			if i%1000 == 0 {
				check(fmt.Sprintf("pass %d, Get(%d)", pass, i))
			}
		}
		check(fmt.Sprintf("pass %d after Get", pass))
		for _, page := range []uint64{64, 1000} {
			for from := uint64(0); from < n+2; from += page {
				to := min(from+page, n+2)
				if got := logRange(t, l, from, to); !slices.Equal(got, want[from:to]) {
					t.Fatalf("pass %d: Range(%d, %d) differs", pass, from, to)
				}
			}
			check(fmt.Sprintf("pass %d after pages of %d", pass, page))
		}
	}
	if n, err := l.Len(ctx); err != nil || n != uint64(len(want)) {
		t.Fatalf("Len = %d, %v; want %d", n, err, len(want))
	}
}

// TestLogCacheBytesBounded: large entries are bounded by bytes before entries; an entry
// larger than the whole budget is read each time, never cached.
func TestLogCacheBytesBounded(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("l"))
	l := newLog(vc)
	var want []string
	for i := range 2 * views.LogCacheEntries {
		size := 1 << 10
		if i%100 == 7 {
			size = views.LogCacheBytes + 1
		}
		want = append(want, strings.Repeat(string(rune('a'+i%26)), size))
	}
	appendLog(t, l, want...)
	flush(t, s, l)
	l = newLog(vc)
	for i, w := range want {
		if v, ok, err := l.Get(ctx, uint64(i)); err != nil || !ok || v != w {
			t.Fatalf("Get(%d) = %d bytes, %v, %v; want %d bytes", i, len(v), ok, err, len(w))
		}
		if e, b := views.CachedLogEntries(l), views.CachedLogBytes(l); b > views.LogCacheBytes {
			t.Fatalf("after Get(%d): %d entries of %d bytes cached, want at most %d bytes", i, e, b, views.LogCacheBytes)
		}
	}
	if got := logRange(t, l, 0, uint64(len(want))); !slices.Equal(got, want) {
		t.Fatal("Range differs")
	}
}
