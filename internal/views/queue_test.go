package views_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

func newQueue(vc views.Context) *views.Queue[string] {
	return views.NewQueue(vc, views.StringCodec{})
}

func queueContents(t *testing.T, q *views.Queue[string]) []string {
	t.Helper()
	var out []string
	if err := q.ForEach(ctx, func(v string) error {
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n, err := q.Len(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(out)) {
		t.Fatalf("Len = %d, ForEach found %d", n, len(out))
	}
	front, ok, err := q.Front(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok != (len(out) > 0) || (ok && front != out[0]) {
		t.Fatalf("Front = %q, %v; contents %q", front, ok, out)
	}
	return out
}

func expectQueue(t *testing.T, q *views.Queue[string], want ...string) {
	t.Helper()
	if got := queueContents(t, q); !slices.Equal(got, want) {
		t.Fatalf("queue = %q, want %q", got, want)
	}
}

func entryKey(prefix string, i uint64) string {
	return string(binary.BigEndian.AppendUint64(append([]byte(prefix), 1), i))
}

func push(t *testing.T, q *views.Queue[string], vs ...string) {
	t.Helper()
	for _, v := range vs {
		if err := q.PushBack(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
}

func pop(t *testing.T, q *views.Queue[string], n int) {
	t.Helper()
	for range n {
		if err := q.PopFront(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueue(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	expectQueue(t, q)
	if err := q.PopFront(ctx); !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("PopFront of an empty queue: %v, want ErrNotFound", err)
	}

	// A queue too long for its header (views.QueueInlineMax) stores each entry.
	push(t, q, "a", "b", "c", "d", "e", "f", "g")
	pop(t, q, 1)
	expectQueue(t, q, "b", "c", "d", "e", "f", "g")
	b := flush(t, s, q)
	// Header, then entries 0 to 5 ("a" was pushed and popped before it was ever stored).
	if b.Len() != 7 {
		t.Fatalf("flush emitted %d ops, want 7", b.Len())
	}
	expectQueue(t, q, "b", "c", "d", "e", "f", "g")
	q = newQueue(vc)
	expectQueue(t, q, "b", "c", "d", "e", "f", "g")

	// Across flushes: pop stored entries and push others in one round; entries stored
	// remain, so the pushed ones are stored after them.
	push(t, q, "h", "i")
	pop(t, q, 3) // b, c, d
	expectQueue(t, q, "e", "f", "g", "h", "i")
	b = flush(t, s, q)
	expectOps(t, b, kv.OpPut, "q\x00", kv.OpDelete, entryKey("q", 0), kv.OpDelete, entryKey("q", 1),
		kv.OpDelete, entryKey("q", 2), kv.OpPut, entryKey("q", 6), kv.OpPut, entryKey("q", 7))
	expectQueue(t, newQueue(vc), "e", "f", "g", "h", "i")

	// Rollback restores the clean state.
	pop(t, q, 1)
	push(t, q, "x")
	q.Rollback()
	expectQueue(t, q, "e", "f", "g", "h", "i")

	// Popping every stored entry and pushing one puts what remains in the header.
	pop(t, q, 5)
	push(t, q, "j")
	b = flush(t, s, q)
	expectOps(t, b, kv.OpPut, "q\x00", kv.OpDelete, entryKey("q", 3), kv.OpDelete, entryKey("q", 4),
		kv.OpDelete, entryKey("q", 5), kv.OpDelete, entryKey("q", 6), kv.OpDelete, entryKey("q", 7))
	if got := dump(t, s, nil); len(got) != 1 {
		t.Fatalf("store holding one entry in the header: %q", got)
	}
	expectQueue(t, newQueue(vc), "j")

	// Emptying the queue removes every key.
	pop(t, q, 1)
	flush(t, s, q)
	if got := dump(t, s, nil); len(got) != 0 {
		t.Fatalf("store after emptying the queue: %q", got)
	}
	// A queue emptied by a flush restarts at index zero when it outgrows its header.
	push(t, q, "f", "g", "h", "i", "j")
	flush(t, s, q)
	if _, ok := dump(t, s, nil)[entryKey("q", 0)]; !ok {
		t.Fatal("a queue emptied by a flush did not restart at index 0")
	}
	expectQueue(t, newQueue(vc), "f", "g", "h", "i", "j")
}

// expectOps checks b's ops: kind, key, kind, key...
func expectOps(t *testing.T, b *kv.Batch, want ...any) {
	t.Helper()
	ops := b.Ops()
	if len(ops) != len(want)/2 {
		t.Fatalf("flush emitted %d ops, want %d", len(ops), len(want)/2)
	}
	for i := range ops {
		kind, key := want[2*i].(kv.OpKind), want[2*i+1].(string)
		if ops[i].Kind != kind || string(ops[i].Key) != key {
			t.Fatalf("op %d = %v %x, want %v %x", i, ops[i].Kind, ops[i].Key, kind, key)
		}
	}
}

// A short queue is held in its header: pushing onto it, or taking its last entry,
// writes the header's key alone (the outbox heights and inbox groups of a chain in
// steady state); it outgrows the header by entries or by bytes, and goes back to it
// once empty.
func TestQueueInline(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	push(t, q, "a")
	expectOps(t, flush(t, s, q), kv.OpPut, "q\x00")
	push(t, q, "b")
	pop(t, q, 1)
	expectOps(t, flush(t, s, q), kv.OpPut, "q\x00")
	cr := &countingReader{Reader: s}
	q = newQueue(views.NewContext(cr, []byte("q")))
	expectQueue(t, q, "b")
	if cr.reads() != 1 {
		t.Fatalf("reading a queue held in its header made %d reads, want 1", cr.reads())
	}
	pop(t, q, 1)
	expectOps(t, flush(t, s, q), kv.OpDelete, "q\x00")
	// A push and a pop of a queue with no header write nothing.
	push(t, q, "c")
	pop(t, q, 1)
	if b := flush(t, s, q); b.Len() != 0 {
		t.Fatalf("a queue empty before and after wrote %d ops", b.Len())
	}

	// Up to views.QueueInlineMax entries in the header, then each to its key.
	var want []string
	for i := range views.QueueInlineMax {
		want = append(want, string(rune('a'+i)))
		push(t, q, want[i])
		expectOps(t, flush(t, s, q), kv.OpPut, "q\x00")
	}
	push(t, q, "z")
	want = append(want, "z")
	if b := flush(t, s, q); b.Len() != 1+len(want) {
		t.Fatalf("outgrowing the header wrote %d ops, want %d", b.Len(), 1+len(want))
	}
	expectQueue(t, newQueue(vc), want...)
	// Stored entries stay stored while any remains.
	pop(t, q, len(want)-1)
	push(t, q, "y")
	flush(t, s, q)
	if got := dump(t, s, nil); len(got) != 3 {
		t.Fatalf("store = %q, want the header and two entries", got)
	}
	expectQueue(t, newQueue(vc), "z", "y")
	pop(t, q, 2)
	flush(t, s, q)

	// An entry too large for the header is stored under its own key.
	big := strings.Repeat("x", views.QueueInlineBytes)
	push(t, q, big)
	if b := flush(t, s, q); b.Len() != 2 {
		t.Fatalf("a large entry wrote %d ops, want 2", b.Len())
	}
	expectQueue(t, newQueue(vc), big)
}

func TestQueueCachesFront(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	push(t, q, "a", "b", "c", "d", "e") // more than the header holds
	flush(t, s, q)
	cr := &countingReader{Reader: s}
	q = newQueue(views.NewContext(cr, []byte("q")))
	for range 3 {
		if v, ok, err := q.Front(ctx); v != "a" || !ok || err != nil {
			t.Fatalf("Front = %q, %v, %v", v, ok, err)
		}
	}
	if cr.reads() != 2 { // header and entry
		t.Fatalf("3 Fronts made %d reads, want 2", cr.reads())
	}
}

func TestQueueLarge(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	var want []string
	for i := range 300 {
		v := string(rune('A' + i%26))
		want = append(want, v)
		push(t, q, v)
	}
	flush(t, s, q)
	q = newQueue(vc)
	q.Front(ctx) // cache one entry so that ForEach mixes cached and read entries
	pop(t, q, 7)
	push(t, q, "end")
	want = append(want[7:], "end")
	expectQueue(t, q, want...)
	flush(t, s, q)
	expectQueue(t, newQueue(vc), want...)
}

func TestQueueCorrupt(t *testing.T) {
	header := func(front, back uint64) []byte {
		return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, front), back)
	}
	for name, setup := range map[string]func(s kv.Writer){
		"front after back": func(s kv.Writer) { putRaw(t, s, []byte("q\x00"), header(5, 3)) },
		"short header":     func(s kv.Writer) { putRaw(t, s, []byte("q\x00"), []byte{1}) },
		"missing entry":    func(s kv.Writer) { putRaw(t, s, []byte("q\x00"), header(0, 2)) },
		"header with no entries": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 0), 0))
		},
		"header with too many entries": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 0), views.QueueInlineMax+1, 0, 0, 0, 0, 0))
		},
		"header with entries after stored ones": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 1), 1, 1, 'a'))
			putRaw(t, s, []byte(entryKey("q", 0)), []byte{1, 'b'})
		},
		"header with a short entry": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 0), 1, 3, 'a'))
		},
		"header with a bad entry": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 0), 1, 1, 9))
		},
		"header with trailing bytes": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), append(header(0, 0), 1, 2, 1, 'a', 0))
		},
		"bad entry": func(s kv.Writer) {
			putRaw(t, s, []byte("q\x00"), header(0, 1))
			putRaw(t, s, []byte(entryKey("q", 0)), []byte{9})
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			setup(s)
			q := newQueue(views.NewContext(s, []byte("q")))
			_, _, ferr := q.Front(ctx)
			eerr := q.ForEach(ctx, func(string) error { return nil })
			if !errors.Is(ferr, base.ErrCorrupt) || !errors.Is(eerr, base.ErrCorrupt) {
				t.Fatalf("Front: %v; ForEach: %v; want ErrCorrupt", ferr, eerr)
			}
		})
	}
}

// A short queue read whole is cached: reading it again, or its front, reads nothing;
// a long one is not (a flooded inbox is not held in memory), and popping entries drops
// them from the cache, so a queue emptied and refilled reads its new entries.
func TestQueueCachesShortRanges(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	push(t, q, "a", "b", "c")
	flush(t, s, q)
	cr := &countingReader{Reader: s}
	q = newQueue(views.NewContext(cr, []byte("q")))
	expectQueue(t, q, "a", "b", "c")
	before := cr.reads()
	expectQueue(t, q, "a", "b", "c")
	if v, ok, err := q.Front(ctx); v != "a" || !ok || err != nil {
		t.Fatalf("Front = %q, %v, %v", v, ok, err)
	}
	if n := cr.reads() - before; n != 0 {
		t.Errorf("reading a short queue again made %d reads, want 0", n)
	}
	// Emptied by a flush (restarting at index 0) and refilled: the new entries show.
	pop(t, q, 3)
	flush(t, s, q)
	push(t, q, "x", "y")
	flush(t, s, q)
	expectQueue(t, q, "x", "y")
	expectQueue(t, newQueue(vc), "x", "y")

	long := newQueue(views.NewContext(s, []byte("long")))
	var want []string
	for i := range views.QueueCacheMax + 1 {
		v := string(rune('A' + i%26))
		want = append(want, v)
		push(t, long, v)
	}
	flush(t, s, long)
	cr = &countingReader{Reader: s}
	long = newQueue(views.NewContext(cr, []byte("long")))
	expectQueue(t, long, want...)
	before = cr.reads()
	expectQueue(t, long, want...)
	if cr.reads() == before {
		t.Error("a long range was cached")
	}
}

// Consuming a stored queue from the front reads its entries ahead, QueueCacheMax at a
// time (in MultiGets of up to 128 keys), not one point read each. A view that knows no
// entry's size yet starts with 8 and doubles: 8, 16, 32, 64, 128, then the 8 left of
// the first 256, then the last 44 at once.
func TestQueueFrontReadsAhead(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	var want []string
	for i := range views.QueueCacheMax + 44 {
		want = append(want, string(rune('A'+i%26)))
	}
	push(t, q, want...)
	flush(t, s, q)
	cr := &countingReader{Reader: s}
	q = newQueue(views.NewContext(cr, []byte("q")))
	for i, w := range want {
		v, ok, err := q.Front(ctx)
		if err != nil || !ok || v != w {
			t.Fatalf("entry %d: Front = %q, %v, %v; want %q", i, v, ok, err, w)
		}
		pop(t, q, 1)
	}
	if cr.gets.Load() != 1 || cr.multiGets.Load() != 7 {
		t.Errorf("consuming %d entries made %d gets and %d multi-gets, want 1 (the header) and 7", len(want), cr.gets.Load(), cr.multiGets.Load())
	}
	flush(t, s, q)
	expectQueue(t, newQueue(vc))
}

// LastPushed hands out the last staged entry for changing in place: Flush stores what it
// holds then; nothing is handed out once flushed, rolled back or popped.
func TestQueueLastPushed(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	if p := q.LastPushed(); p != nil {
		t.Fatalf("LastPushed of an empty queue = %q", *p)
	}
	push(t, q, "a", "b")
	p := q.LastPushed()
	if p == nil || *p != "b" {
		t.Fatalf("LastPushed = %v, want b", p)
	}
	*p = "bc"
	flush(t, s, q)
	if p := q.LastPushed(); p != nil {
		t.Fatalf("LastPushed after Flush = %q", *p)
	}
	expectQueue(t, newQueue(vc), "a", "bc")
	push(t, q, "d")
	q.Rollback()
	if p := q.LastPushed(); p != nil {
		t.Fatalf("LastPushed after Rollback = %q", *p)
	}
	// Popping every stored entry and the staged one: nothing left to change.
	push(t, q, "e")
	pop(t, q, 2)
	if p := q.LastPushed(); p == nil || *p != "e" {
		t.Fatalf("LastPushed with the pushed entry still queued = %v", p)
	}
	pop(t, q, 1)
	if p := q.LastPushed(); p != nil {
		t.Fatalf("LastPushed after popping it = %q", *p)
	}
}

// FuzzQueueHeader reads any header value (with one stored entry under index 0): the
// queue is refused as corrupt or read, never a panic; a queue read is written back by a
// push and a pop and then reads the same.
func FuzzQueueHeader(f *testing.F) {
	header := func(front, back uint64) []byte {
		return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, front), back)
	}
	f.Add(header(0, 1))
	f.Add(append(header(0, 0), 1, 1, 'a'))
	f.Add(append(header(0, 0), 2, 1, 'a', 2, 1, 'b'))
	f.Add(append(header(3, 3), 1, 0))
	f.Fuzz(func(t *testing.T, h []byte) {
		s := newStore(t)
		putRaw(t, s, []byte("q\x00"), h)
		putRaw(t, s, []byte(entryKey("q", 0)), []byte{1, 'e'})
		vc := views.NewContext(s, []byte("q"))
		q := newQueue(vc)
		var got []string
		if err := q.ForEach(ctx, func(v string) error { got = append(got, v); return nil }); err != nil {
			if !errors.Is(err, base.ErrCorrupt) {
				t.Fatalf("ForEach: %v, want nil or ErrCorrupt", err)
			}
			return
		}
		if len(got) > 1000 {
			return // a long stored range of the same corrupt shape: reading it is enough
		}
		push(t, q, "z")
		pop(t, q, 1)
		flush(t, s, q)
		want := append(got, "z")[1:]
		expectQueue(t, newQueue(vc), want...)
	})
}

// TestQueueReadsOldLayout: a queue as earlier builds stored it (a 16-byte header, each
// entry under its key, here one entry as a chain's outbox or inbox held it in steady
// state) reads as before; a push keeps the stored layout while an entry is stored, and
// once they are all taken the queue is held in its header.
func TestQueueReadsOldLayout(t *testing.T) {
	s := newStore(t)
	header := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 7), 8)
	putRaw(t, s, []byte("q\x00"), header)
	putRaw(t, s, []byte(entryKey("q", 7)), []byte{1, 'a'})
	vc := views.NewContext(s, []byte("q"))
	q := newQueue(vc)
	expectQueue(t, q, "a")
	push(t, q, "b")
	expectOps(t, flush(t, s, q), kv.OpPut, "q\x00", kv.OpPut, entryKey("q", 8))
	q = newQueue(vc)
	expectQueue(t, q, "a", "b")
	pop(t, q, 1)
	expectOps(t, flush(t, s, q), kv.OpPut, "q\x00", kv.OpDelete, entryKey("q", 7))
	pop(t, q, 1)
	push(t, q, "c")
	expectOps(t, flush(t, s, q), kv.OpPut, "q\x00", kv.OpDelete, entryKey("q", 8))
	if got := dump(t, s, nil); len(got) != 1 {
		t.Fatalf("store = %q, want the header alone", got)
	}
	expectQueue(t, newQueue(vc), "c")
}
