package views_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
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

// asIsCodec stores a byte string as it is and says so (Encoded): views take such bytes
// into the batch without copying them.
type asIsCodec struct{}

func (asIsCodec) Encode(w *codec.Writer, v []byte) { w.Fixed(v) }
func (asIsCodec) Encoded(v []byte) []byte          { return v }
func (asIsCodec) Decode(r *codec.Reader) []byte    { return r.Fixed(r.Remaining()) }

// TestViewsStoreEncodingsUncopied checks that a register whose codec has the value's
// bytes at hand puts those bytes in the batch (no copy), and that a register's and a
// map's freshly encoded values are stored as their canonical encoding, read back equal.
func TestViewsStoreEncodingsUncopied(t *testing.T) {
	s := newStore(t)
	root := views.NewContext(s, []byte("c/"))
	big := bytes.Repeat([]byte{5}, 20_000)
	raw := views.NewRegister(root.Sub(1), views.Codec[[]byte](asIsCodec{}), nil)
	raw.Set(big)
	str := views.NewRegister(root.Sub(2), views.StringCodec{}, "")
	long := strings.Repeat("x", 1000)
	str.Set(long)
	m := views.NewMap(root.Sub(3), views.StringKey{}, views.Codec[[]byte](views.BytesCodec{}))
	m.Set("k", big)
	b := flush(t, s, raw, str, m)
	ops := b.Ops()
	if len(ops) != 3 || &ops[0].Value[0] != &big[0] {
		t.Fatalf("the register's encoded bytes were copied (or %d ops)", len(ops))
	}
	var w codec.Writer
	w.String(long)
	if !bytes.Equal(ops[1].Value, w.Bytes()) {
		t.Error("string register not stored as its canonical encoding")
	}
	w.Reset()
	w.VarBytes(big)
	if !bytes.Equal(ops[2].Value, w.Bytes()) {
		t.Error("map value not stored as its canonical encoding")
	}
	raw2 := views.NewRegister(root.Sub(1), views.Codec[[]byte](asIsCodec{}), nil)
	str2 := views.NewRegister(root.Sub(2), views.StringCodec{}, "")
	m2 := views.NewMap(root.Sub(3), views.StringKey{}, views.Codec[[]byte](views.BytesCodec{}))
	if v, err := raw2.Get(ctx); err != nil || !bytes.Equal(v, big) {
		t.Errorf("raw register read back %d bytes, %v", len(v), err)
	}
	if v, err := str2.Get(ctx); err != nil || v != long {
		t.Errorf("string register read back %d bytes, %v", len(v), err)
	}
	if v, ok, err := m2.Get(ctx, "k"); err != nil || !ok || !bytes.Equal(v, big) {
		t.Errorf("map read back %d bytes, %v, %v", len(v), ok, err)
	}
}
