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

// decodePairs reads n boxed pairs and n one-pair lists, from slabs when slabs.
func decodePairs(r *codec.Reader, n int, slabs bool, ps []*slabPair, ls [][]slabPair) ([]*slabPair, [][]slabPair) {
	var a *slabArena
	if slabs {
		a = codec.ArenaOf[slabArena](r)
	}
	var bp, lp *codec.Slab[slabPair]
	if a != nil {
		bp, lp = &a.boxes, &a.lists
	}
	for range n {
		ps = append(ps, codec.BoxIn(r, bp, 16, slabPair{A: r.U64(), B: r.U64()}))
		ls = append(ls, codec.DecodeItemsIn[slabPair](r, lp, 16))
	}
	return ps, ls
}

// pairsInput encodes what decodePairs reads: pair i is (i, 2i) boxed, then a list of
// the one pair (3i, 4i).
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

// TestSlabChargesAtLeastAlone: values taken from slabs are the values decoded, none
// shares memory with another (lists have no spare capacity), and the decoding is charged
// at least what allocating each value alone is charged, and at least what it allocates.
func TestSlabChargesAtLeastAlone(t *testing.T) {
	for _, n := range []int{1, 5, 40, 100} {
		b := pairsInput(n)
		charged := map[bool]int{}
		for _, slabs := range []bool{false, true} {
			r := codec.NewReader(b)
			ps, ls := make([]*slabPair, 0, n), make([][]slabPair, 0, n)
			got := allocated(func() { ps, ls = decodePairs(r, n, slabs, ps, ls) })
			if err := r.Finish(); err != nil {
				t.Fatalf("n=%d slabs=%v: %v", n, slabs, err)
			}
			charged[slabs] = codec.Budget(len(b)) - r.Budget()
			if slabs && got > uint64(charged[slabs])+1024 {
				t.Errorf("n=%d: allocated %d bytes, charged %d", n, got, charged[slabs])
			}
			for i := range n {
				if *ps[i] != (slabPair{uint64(i), uint64(2 * i)}) || len(ls[i]) != 1 || cap(ls[i]) != 1 || ls[i][0] != (slabPair{uint64(3 * i), uint64(4 * i)}) {
					t.Fatalf("n=%d slabs=%v: value %d decoded as %v %v", n, slabs, i, *ps[i], ls[i])
				}
				ps[i].A++ // no other value changes
			}
			for i := range n {
				if ps[i].A != uint64(i)+1 {
					t.Fatalf("n=%d slabs=%v: values share memory", n, slabs)
				}
			}
		}
		if charged[true] < charged[false] {
			t.Errorf("n=%d: charged %d with slabs, %d without", n, charged[true], charged[false])
		}
		t.Logf("n=%d: charged %d with slabs, %d without", n, charged[true], charged[false])
	}
}

// TestSlabBudget: a budget one byte short of a slab decoding's charge refuses it.
func TestSlabBudget(t *testing.T) {
	b := pairsInput(100)
	r := codec.NewReader(b)
	decodePairs(r, 100, true, nil, nil)
	charged := codec.Budget(len(b)) - r.Budget()
	r = codec.NewReaderBudget(b, charged-1)
	decodePairs(r, 100, true, nil, nil)
	if r.Err() == nil {
		t.Fatalf("budget %d, one short of the charge, accepted", charged-1)
	}
}

// slabPairs decodes n boxed pairs and n one-pair lists from slabs.
type slabPairs struct {
	n     int
	boxes []*slabPair
	lists [][]slabPair
}

func (p *slabPairs) Decode(r *codec.Reader) {
	p.boxes, p.lists = decodePairs(r, p.n, true, p.boxes[:0], p.lists[:0])
}

// TestDecodesWithinChargesAsUnmarshal: DecodesWithin accepts exactly the budgets a
// decoding with slabs is accepted with, and allocates a fraction of what it does.
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
	checked := allocated(func() { err = codec.DecodesWithin(b, charged, v) })
	if err != nil {
		t.Fatalf("DecodesWithin(budget %d, the charge): %v", charged, err)
	}
	if err := codec.DecodesWithin(b, charged-1, v); !errors.Is(err, codec.ErrBudget) {
		t.Fatalf("DecodesWithin(budget %d, one short of the charge): %v, want ErrBudget", charged-1, err)
	}
	t.Logf("decoding allocated %d bytes, checking %d", kept, checked)
	if checked*4 > kept {
		t.Errorf("checking allocated %d bytes, decoding %d", checked, kept)
	}
}
