package codec

import "unsafe"

// A block of a hundred transfers decodes into hundreds of small heap objects: a boxed
// system message or operation per transaction, a one-element message list per bundle.
// A Slab hands them out of shared chunks instead, one allocation per chunk, within the
// same budget: a chunk is charged, at its allocator size, before it is allocated, and
// every value taken from it is charged what it would have cost as an allocation of its
// own (Box, DecodeItems), paid first from what its chunk already charged. So a decoding
// that takes from slabs is charged at least what it would be charged without them (it
// fails no later), and at least the memory it holds.

// slabChunk is the most values a chunk holds; slabMinInput is the input a Reader must
// have left for ArenaOf to attach an arena (smaller inputs hold few values, and the
// arena would be one more allocation).
const (
	slabChunk    = 16
	slabMinInput = 1 << 10
)

// Slab allocates values of T for one decoding in chunks (see above). The zero value is
// ready; a nil *Slab allocates every value on its own, as Box and DecodeItems do. A Slab
// is not safe for concurrent use and belongs to one Reader (ArenaOf).
type Slab[T any] struct {
	free []T // the current chunk's values not handed out yet (unless discarding)
	// avail is the number of values of the current chunk not handed out yet.
	avail int
	// prepaid is what the chunks charged beyond the values taken so far.
	// Invariant: prepaid = charged − charged as separate allocations ≥ 0.
	prepaid int
	// reuse is the memory handed out again and again by a discarding Reader
	// (DecodesWithin), which charges the chunks it does not allocate.
	reuse []T
}

// take returns n zero values of T (a slice of length and capacity n, shared with no
// other value), charged as above; nil when the budget refuses them or r has failed. The
// input left must hold them at minElemSize bytes each, which bounds a new chunk.
func (s *Slab[T]) take(r *Reader, n, minElemSize int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if r.err != nil {
		return nil
	}
	if s == nil || size == 0 || n >= slabChunk/2 {
		if !r.allocN(n, uintptr(size)) {
			return nil
		}
		return make([]T, n)
	}
	if n > s.avail {
		k := min(slabChunk, max(n, r.Remaining()/max(minElemSize, 1)))
		if !r.allocN(k, uintptr(size)) {
			return nil
		}
		s.prepaid += allocSize(k * size)
		s.avail = k
		if !r.discard {
			s.free = make([]T, k)
		}
	}
	if c := allocSize(n * size); c <= s.prepaid {
		s.prepaid -= c
	} else {
		if !r.charge(c - s.prepaid) {
			return nil
		}
		s.prepaid = 0
	}
	s.avail -= n
	if r.discard {
		if len(s.reuse) < n {
			s.reuse = make([]T, n)
		}
		out := s.reuse[:n:n]
		clear(out)
		return out
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// charge takes c bytes from the budget as they are (Alloc rounds to an allocation).
func (r *Reader) charge(c int) bool {
	if r.err != nil {
		return false
	}
	if c > r.budget {
		r.err = errBudget(r, c)
		return false
	}
	r.budget -= c
	return true
}

// BoxIn is Box taking the value from s, whose values encode in at least minElemSize
// bytes.
func BoxIn[T any](r *Reader, s *Slab[T], minElemSize int, v T) *T {
	p := s.take(r, 1, minElemSize)
	if p == nil { // r has failed: a usable pointer, as Box returns
		q := new(T) // not &v, which would move v to the heap on every call
		*q = v
		return q
	}
	p[0] = v
	return &p[0]
}

// DecodeItemsIn is DecodeItems taking the elements from s (a short sequence shares a
// chunk with others).
func DecodeItemsIn[T any, P interface {
	*T
	Decoder
}](r *Reader, s *Slab[T], minElemSize int) []T {
	if minElemSize < 1 {
		minElemSize = 1
	}
	n := r.Length(minElemSize)
	if r.err != nil || n == 0 {
		return nil
	}
	items := s.take(r, n, minElemSize)
	for i := range items {
		P(&items[i]).Decode(r)
		if r.err != nil {
			return nil
		}
	}
	return items
}

// ArenaOf returns the arena of type A attached to r, attaching a new one if r has none
// and at least slabMinInput bytes are left to read; nil otherwise (the caller then
// allocates as usual: nil Slabs do). A decoder keeps its Slabs in its arena, so the
// values they hand out are shared by one decoding only; Unmarshal drops the arena with
// its Reader.
func ArenaOf[A any](r *Reader) *A {
	if a, ok := r.arena.(*A); ok {
		return a
	}
	var zero A
	if r.arena != nil || r.Remaining() < slabMinInput || !r.Alloc(int(unsafe.Sizeof(zero))) {
		return nil
	}
	a := new(A)
	r.arena = a
	return a
}
