package codec_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func decodeNestedBytes(r *codec.Reader) [][][]byte {
	return codec.DecodeSlice(r, 1, func(r *codec.Reader, inner *[][]byte) {
		*inner = codec.DecodeSlice(r, 1, func(r *codec.Reader, b *[]byte) { *b = r.VarBytes() })
	})
}

// TestAttackNestedEmptyLists decodes 8 MiB of empty nested lists (one byte each on the
// wire, a 24-byte slice header each in memory): the decoder must refuse it with
// ErrBudget having allocated at most the budget.
func TestAttackNestedEmptyLists(t *testing.T) {
	const n = 8 << 20
	var w codec.Writer
	w.Length(n)
	w.Fixed(make([]byte, n))
	b := w.Bytes()
	var err error
	got := allocated(func() {
		r := codec.NewReader(b)
		decodeNestedBytes(r)
		err = r.Finish()
	})
	t.Logf("%d bytes allocated %d (%.1f per input byte): %v", len(b), got, float64(got)/float64(len(b)), err)
	if limit := uint64(codec.Budget(len(b))); got > limit {
		t.Errorf("decoding %d bytes allocated %d, want at most %d", len(b), got, limit)
	}
	if !errors.Is(err, codec.ErrBudget) || !errors.Is(err, base.ErrInvalid) {
		t.Errorf("decode: %v, want ErrBudget", err)
	}
}

// TestAttackHugeDeclaredLength: a declared length far beyond a short input allocates
// nothing, whatever the element size.
func TestAttackHugeDeclaredLength(t *testing.T) {
	var w codec.Writer
	w.Length(codec.MaxLength)
	w.Fixed(make([]byte, 64))
	var err error
	got := allocated(func() {
		r := codec.NewReader(w.Bytes())
		codec.DecodeSlice(r, 1, func(r *codec.Reader, v *[4096]byte) { r.FixedInto(v[:]) })
		err = r.Finish()
	})
	if !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("decode: %v", err)
	}
	if got > 4<<10 {
		t.Fatalf("a %d-byte input allocated %d bytes", len(w.Bytes()), got)
	}
}

// TestBudgetCharges checks what each allocating read charges, and that the budget is
// checked before allocating.
func TestBudgetCharges(t *testing.T) {
	var w codec.Writer
	w.VarBytes(make([]byte, 100))
	w.String("abc")
	w.Length(10)
	w.Fixed(make([]byte, 10))
	b := w.Bytes()

	r := codec.NewReaderBudget(b, 1<<20)
	r.VarBytes()
	if used := 1<<20 - r.Budget(); used != 112 {
		t.Errorf("100-byte string charged %d, want 112 (its size class)", used)
	}
	_ = r.String()
	codec.DecodeSlice(r, 1, func(r *codec.Reader, v *[]byte) { *v = r.VarBytes() })
	if used := 1<<20 - r.Budget(); used != 112+16+240 {
		t.Errorf("charged %d in all, want %d", used, 112+16+240)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}

	// A budget one byte short of the slice of headers refuses it.
	r = codec.NewReaderBudget(b, 112+16+239)
	r.VarBytes()
	_ = r.String()
	if s := codec.DecodeSlice(r, 1, func(r *codec.Reader, v *[]byte) { *v = r.VarBytes() }); s != nil || !errors.Is(r.Err(), codec.ErrBudget) {
		t.Fatalf("over budget: got %v, %v", s, r.Err())
	}

	// New and Box charge the object; zero-size objects are free.
	r = codec.NewReaderBudget(nil, 48)
	if p := codec.New[[40]byte](r); p == nil || r.Budget() != 0 {
		t.Fatalf("New: budget left %d", r.Budget())
	}
	codec.Box(r, struct{}{})
	if r.Err() != nil {
		t.Fatalf("zero-size Box: %v", r.Err())
	}
	codec.Box(r, 1)
	if !errors.Is(r.Err(), codec.ErrBudget) {
		t.Fatalf("Box over budget: %v", r.Err())
	}
}

// TestDefaultBudgetFitsHonestInput: the default budget is generous enough for byte
// strings and flat sequences of small elements.
func TestDefaultBudgetFitsHonestInput(t *testing.T) {
	const n = 1 << 20
	var w codec.Writer
	w.VarBytes(make([]byte, n))
	w.Length(n / 8)
	for range n / 8 {
		w.U64(1)
	}
	r := codec.NewReader(w.Bytes())
	r.VarBytes()
	codec.DecodeSlice(r, 8, func(r *codec.Reader, v *uint64) { *v = r.U64() })
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}
