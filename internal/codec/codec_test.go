package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

func TestUlebStrict(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, math.MaxUint32, math.MaxUint64} {
		var w codec.Writer
		w.Uleb(v)
		r := codec.NewReader(w.Bytes())
		if got := r.Uleb(); got != v || r.Finish() != nil {
			t.Errorf("%d: got %d, %v", v, got, r.Err())
		}
	}
	for _, bad := range [][]byte{
		{0x80, 0x00}, // non-minimal 0
		{0x81, 0x00}, // non-minimal 1
		{0x80},       // truncated
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, // > 64 bits
	} {
		r := codec.NewReader(bad)
		r.Uleb()
		if !errors.Is(r.Finish(), codec.ErrMalformed) || !errors.Is(r.Finish(), base.ErrInvalid) {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestReaderRefusals(t *testing.T) {
	cases := map[string]func(r *codec.Reader){
		"bool 2":          func(r *codec.Reader) { r.Bool() },
		"unknown variant": func(r *codec.Reader) { r.Tag(2) },
		"long length":     func(r *codec.Reader) { r.VarBytes() },
		"short hash":      func(r *codec.Reader) { r.Hash() },
	}
	inputs := map[string][]byte{"bool 2": {2}, "unknown variant": {2}, "long length": {5, 1}, "short hash": {1, 2}}
	for name, f := range cases {
		r := codec.NewReader(inputs[name])
		f(r)
		if r.Finish() == nil {
			t.Errorf("%s accepted", name)
		}
	}
	r := codec.NewReader([]byte{1, 0})
	r.Bool()
	if r.Finish() == nil {
		t.Error("trailing byte accepted")
	}
}

func encodeNestedBytes(w *codec.Writer, s [][][]byte) {
	codec.EncodeSlice(w, s, func(w *codec.Writer, inner *[][]byte) {
		codec.EncodeSlice(w, *inner, func(w *codec.Writer, b *[]byte) { w.VarBytes(*b) })
	})
}

// FuzzReader decodes a mixed record ending with nested lists; decoding allocates at most
// the budget, and accepted input must re-encode identically.
func FuzzReader(f *testing.F) {
	var w codec.Writer
	w.U32(7)
	w.Bool(true)
	w.VarBytes([]byte("abc"))
	w.Round(base.MultiLeader(3))
	w.Owner(base.Address20Owner([20]byte{1}))
	w.Amount(base.Tokens(5))
	encodeNestedBytes(&w, [][][]byte{{}, {{1, 2}, {}}, nil})
	f.Add(w.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			u      uint32
			bo     bool
			vb     []byte
			rd     base.Round
			o      base.Owner
			a      base.Amount
			nested [][][]byte
			err    error
		)
		if n := allocated(func() {
			r := codec.NewReader(b)
			u = r.U32()
			bo = r.Bool()
			vb = r.VarBytes()
			rd = r.Round()
			o = r.Owner()
			a = r.Amount()
			nested = decodeNestedBytes(r)
			err = r.Finish()
		}); n > uint64(codec.Budget(len(b))) {
			t.Fatalf("decoding %d bytes allocated %d, want at most %d", len(b), n, codec.Budget(len(b)))
		}
		if err != nil {
			return
		}
		var w codec.Writer
		w.U32(u)
		w.Bool(bo)
		w.VarBytes(vb)
		w.Round(rd)
		w.Owner(o)
		w.Amount(a)
		encodeNestedBytes(&w, nested)
		if !bytes.Equal(w.Bytes(), b) {
			t.Fatalf("accepted %x re-encodes as %x", b, w.Bytes())
		}
	})
}

// bytesValue encodes as its bytes, length-prefixed unless raw.
type bytesValue struct {
	b   []byte
	raw bool
}

func (v bytesValue) Encode(w *codec.Writer) {
	if v.raw {
		w.Fixed(v.b)
		return
	}
	w.VarBytes(v.b)
}

// TestMarshalScratch: Marshal, Size and Equal share pooled writers; results never
// alias them, and are exactly sized.
func TestMarshalScratch(t *testing.T) {
	if got := codec.Marshal(bytesValue{raw: true}); got != nil {
		t.Fatalf("empty encoding: %v, want nil", got)
	}
	big := make([]byte, 3<<20+1) // beyond what the pool keeps
	for i := range big {
		big[i] = byte(i)
	}
	var kept [][]byte
	for _, n := range []int{1, 100, 70_000, 3 << 20, 5} {
		v := bytesValue{b: big[:n]}
		b := codec.Marshal(v)
		if len(b) != cap(b) {
			t.Fatalf("%d bytes: capacity %d", len(b), cap(b))
		}
		if codec.Size(v) != len(b) {
			t.Fatalf("Size %d, Marshal %d bytes", codec.Size(v), len(b))
		}
		if !codec.Equal(v, bytesValue{b: b, raw: true}) || codec.Equal(v, bytesValue{b: big[:n+1]}) {
			t.Fatalf("%d bytes: Equal is wrong", n)
		}
		kept = append(kept, b)
	}
	// Later encodings did not overwrite earlier results.
	for i, n := range []int{1, 100, 70_000, 3 << 20, 5} {
		var w codec.Writer
		w.VarBytes(big[:n])
		if string(kept[i]) != string(w.Bytes()) {
			t.Fatalf("result %d was overwritten", i)
		}
	}
}

// pair decodes two fixed-width integers.
type pair struct{ a, b uint64 }

func (p *pair) Decode(r *codec.Reader) { p.a, p.b = r.U64(), r.U64() }

// TestUnmarshalPooledReader: Unmarshal takes its Reader from a pool, so decoding a value
// that allocates nothing itself allocates nothing, and a reader used for one input (and
// failed on it) decodes the next one as if fresh.
func TestUnmarshalPooledReader(t *testing.T) {
	var w codec.Writer
	w.U64(7)
	w.U64(9)
	good := w.Bytes()
	var p pair
	if err := codec.Unmarshal(append(good, 0), &p); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if err := codec.Unmarshal(good[:5], &p); err == nil {
		t.Fatal("short input accepted")
	}
	for range 3 {
		p = pair{}
		if err := codec.Unmarshal(good, &p); err != nil || p != (pair{7, 9}) {
			t.Fatalf("decoded %v, %v after failed decodes", p, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := codec.Unmarshal(good, &p); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Unmarshal of two integers: %.0f allocations, want 0", n)
	}
}

// TestSkipPrefix: SkipPrefix consumes exactly a matching prefix, nothing otherwise, and
// nothing after an error.
func TestSkipPrefix(t *testing.T) {
	r := codec.NewReader([]byte{1, 2, 3, 4})
	if r.SkipPrefix([]byte{1, 3}) || r.Offset() != 0 {
		t.Fatal("a mismatching prefix was consumed")
	}
	if !r.SkipPrefix([]byte{1, 2}) || r.Offset() != 2 {
		t.Fatal("a matching prefix was not consumed")
	}
	if r.SkipPrefix([]byte{3, 4, 5}) || r.Offset() != 2 {
		t.Fatal("a prefix longer than the input was consumed")
	}
	if !r.SkipPrefix(nil) || r.U16() != 0x0403 || r.Finish() != nil {
		t.Fatal("reading after the prefix failed")
	}
	r = codec.NewReader([]byte{1})
	r.U32() // fails
	if r.SkipPrefix(nil) {
		t.Fatal("a failed reader skipped")
	}
}
