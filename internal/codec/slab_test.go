package codec_test

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/codec"
)

type slabPair struct{ A, B uint64 }

func (p *slabPair) Decode(r *codec.Reader) { p.A, p.B = r.U64(), r.U64() }

type slabArena struct {
	boxes codec.Slab[slabPair]
	lists codec.Slab[slabPair]
}

// slabPairs decodes n boxed pairs and n one-pair lists, through the slabs of its
// arena (codec.ArenaOf).
type slabPairs struct {
	n     int
	boxes []*slabPair
	lists [][]slabPair
}

func (p *slabPairs) Decode(r *codec.Reader) {
	var boxes, lists *codec.Slab[slabPair]
	if a := codec.ArenaOf[slabArena](r); a != nil {
		boxes, lists = &a.boxes, &a.lists
	}
	p.boxes, p.lists = p.boxes[:0], p.lists[:0]
	for range p.n {
		p.boxes = append(p.boxes, codec.BoxIn(r, boxes, slabPair{A: r.U64(), B: r.U64()}))
		p.lists = append(p.lists, codec.DecodeItemsIn[slabPair](r, lists, 16))
	}
}

// pairsInput encodes what slabPairs reads: pair i is (i, 2i) boxed, then a list of the
// one pair (3i, 4i).
func pairsInput(n int) []byte {
	var w codec.Writer
	for i := range n {
		w.U64(uint64(i))
		w.U64(uint64(2 * i))
		w.Length(1)
		w.U64(uint64(3 * i))
		w.U64(uint64(4 * i))
	}
	return w.Bytes()
}

// TestSlabsOutsideChecksAllocate: on a Reader that is not discarding, slabs are not
// used: every value is its own allocation, charged as Box and DecodeItems charge it.
func TestSlabsOutsideChecksAllocate(t *testing.T) {
	const n = 50
	b := pairsInput(n)
	v := &slabPairs{n: n}
	r := codec.NewReader(b)
	v.Decode(r)
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	// Each pair is 16 bytes in memory: a box and a one-element list, 16 each.
	if got, want := codec.Budget(len(b))-r.Budget(), 2*16*n; got != want {
		t.Errorf("charged %d bytes, want %d", got, want)
	}
	for i := range n {
		if *v.boxes[i] != (slabPair{uint64(i), uint64(2 * i)}) || len(v.lists[i]) != 1 || v.lists[i][0] != (slabPair{uint64(3 * i), uint64(4 * i)}) {
			t.Fatalf("value %d decoded as %v %v", i, *v.boxes[i], v.lists[i])
		}
		v.boxes[i].A++ // no other value changes
	}
	for i := range n {
		if v.boxes[i].A != uint64(i)+1 {
			t.Fatal("values share memory")
		}
	}
}

// TestDecodesWithinChargesAsUnmarshal: DecodesWithin accepts exactly the budgets that
// decoding accepts, and allocates a fraction of it.
func TestDecodesWithinChargesAsUnmarshal(t *testing.T) {
	const n = 100
	b := pairsInput(n)
	v := &slabPairs{n: n, boxes: make([]*slabPair, 0, n), lists: make([][]slabPair, 0, n)}
	r := codec.NewReader(b)
	kept := allocated(func() { v.Decode(r) })
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	charged := codec.Budget(len(b)) - r.Budget()
	var err error
	checked := allocated(func() { err = codec.DecodesWithin(b, charged, v, nil) })
	if err != nil {
		t.Fatalf("DecodesWithin(budget %d, the charge): %v", charged, err)
	}
	if err := codec.DecodesWithin(b, charged-1, v, nil); !errors.Is(err, codec.ErrBudget) {
		t.Fatalf("DecodesWithin(budget %d, one short of the charge): %v, want ErrBudget", charged-1, err)
	}
	if err := codec.DecodesWithin(b[:len(b)-1], codec.Budget(len(b)), v, nil); err == nil {
		t.Fatal("DecodesWithin accepted a truncated input")
	}
	t.Logf("decoding allocated %d bytes, checking %d", kept, checked)
	if checked*4 > kept {
		t.Errorf("checking allocated %d bytes, decoding %d", checked, kept)
	}
}
