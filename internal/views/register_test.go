package views_test

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/views"
)

func TestRegister(t *testing.T) {
	s := newStore(t)
	cr := &countingReader{Reader: s}
	root := views.NewContext(cr, []byte("chain/"))
	g := views.NewRegister(root.Sub(1), views.U64Codec{}, 7)

	if v, err := g.Get(ctx); err != nil || v != 7 {
		t.Fatalf("Get on empty store = %d, %v; want the default 7", v, err)
	}
	g.Get(ctx)
	if n := cr.reads(); n != 1 {
		t.Fatalf("two Gets made %d store reads, want 1 (cached)", n)
	}
	g.Set(42)
	if !g.HasPendingChanges() {
		t.Fatal("no pending changes after Set")
	}
	if v, _ := g.Get(ctx); v != 42 {
		t.Fatalf("Get after Set = %d", v)
	}
	g.Rollback()
	if v, _ := g.Get(ctx); v != 7 || g.HasPendingChanges() {
		t.Fatalf("Get after Rollback = %d, want 7", v)
	}

	g.Set(42)
	b := flush(t, s, g)
	if b.Len() != 1 || string(b.Ops()[0].Key) != "chain/\x01" {
		t.Fatalf("flush emitted %v", b.Ops())
	}
	if v, _ := g.Get(ctx); v != 42 {
		t.Fatalf("Get after Flush = %d", v)
	}
	// Nothing staged: Flush emits nothing.
	var empty = flush(t, s, g)
	if !empty.Empty() {
		t.Fatalf("flush without changes emitted %v", empty.Ops())
	}

	// A fresh view reads the flushed value.
	g2 := views.NewRegister(root.Sub(1), views.U64Codec{}, 7)
	if v, err := g2.Get(ctx); err != nil || v != 42 {
		t.Fatalf("reloaded Get = %d, %v; want 42", v, err)
	}

	g2.Clear()
	if v, _ := g2.Get(ctx); v != 7 {
		t.Fatalf("Get after Clear = %d, want default", v)
	}
	flush(t, s, g2)
	if len(dump(t, s, nil)) != 0 {
		t.Fatal("Clear did not delete the key")
	}
	g3 := views.NewRegister(root.Sub(1), views.U64Codec{}, 7)
	if v, _ := g3.Get(ctx); v != 7 {
		t.Fatalf("reloaded after Clear = %d, want default", v)
	}
}

func TestRegisterCorrupt(t *testing.T) {
	for name, raw := range map[string][]byte{
		"short":    {1, 2, 3},
		"trailing": {1, 2, 3, 4, 5, 6, 7, 8, 9},
		"empty":    {},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			putRaw(t, s, []byte("r"), raw)
			g := views.NewRegister(views.NewContext(s, []byte("r")), views.U64Codec{}, 0)
			if _, err := g.Get(ctx); !errors.Is(err, base.ErrCorrupt) {
				t.Fatalf("Get of %x: err = %v, want ErrCorrupt", raw, err)
			}
			// The failure is not cached as a value.
			putRaw(t, s, []byte("r"), []byte{5, 0, 0, 0, 0, 0, 0, 0})
			if v, err := g.Get(ctx); err != nil || v != 5 {
				t.Fatalf("Get after repair = %d, %v", v, err)
			}
		})
	}
}

func TestRegisterCanonicalCodec(t *testing.T) {
	s := newStore(t)
	vc := views.NewContext(s, nil)
	g := views.NewRegister(vc, views.CanonicalCodec[point](), point{})
	g.Set(point{X: 1, Y: 2})
	flush(t, s, g)
	v, err := views.NewRegister(vc, views.CanonicalCodec[point](), point{}).Get(ctx)
	if err != nil || v != (point{1, 2}) {
		t.Fatalf("Get = %v, %v", v, err)
	}
}
