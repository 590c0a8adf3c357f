package codec_test

import (
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

// TestSlabChargesAtLeastAlone: values taken from slabs are the values decoded, none
// shares memory with another (lists have no spare capacity), and the decoding is charged
// at least what allocating each value alone is charged, and at least what it allocates.
func TestSlabChargesAtLeastAlone(t *testing.T) {
	for _, n := range []int{1, 5, 40, 100} {
		var w codec.Writer
		for i := range n {
			w.U64(uint64(i))
			w.U64(uint64(2 * i))
			w.Length(1)
			w.U64(uint64(3 * i))
			w.U64(uint64(4 * i))
		}
		b := w.Bytes()
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
	var w codec.Writer
	for i := range 100 {
		w.U64(uint64(i))
		w.U64(0)
		w.Length(1)
		w.U64(0)
		w.U64(0)
	}
	b := w.Bytes()
	r := codec.NewReader(b)
	decodePairs(r, 100, true, nil, nil)
	charged := codec.Budget(len(b)) - r.Budget()
	r = codec.NewReaderBudget(b, charged-1)
	decodePairs(r, 100, true, nil, nil)
	if r.Err() == nil {
		t.Fatalf("budget %d, one short of the charge, accepted", charged-1)
	}
}
