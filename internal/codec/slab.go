package codec

import "unsafe"

// A node decodes a block only to check that it decodes within the budget (a validator,
// for every block it votes for), and the check would build hundreds of small objects to
// drop them: a boxed system message or operation per transaction, a one-element message
// list per bundle. DecodesWithin decodes with a discarding Reader instead, on which the
// Slabs of a decoder's arena (ArenaOf) hand out the same memory again and again, charged
// exactly as the allocations they stand for: the verdict is Unmarshal's.

// Slab is the memory a discarding decoding hands out, again and again, for values of T.
// On any other Reader, and when nil, BoxIn and DecodeItemsIn are Box and DecodeItems.
// The zero value is ready. A Slab serves one decoding at a time (ArenaOf).
type Slab[T any] struct {
	reuse []T
	used  int // the most values handed out at once since Clear
}

// Clear drops what the values handed out last refer to, keeping the memory, for an
// arena kept between checks.
func (s *Slab[T]) Clear() {
	clear(s.reuse[:s.used])
	s.used = 0
}

// take returns n zeroed values of T for a discarding r, charged as DecodeItems charges n
// elements (and Box one); nil when the budget refuses them or r has failed.
func (s *Slab[T]) take(r *Reader, n int) []T {
	var zero T
	if !r.allocN(n, unsafe.Sizeof(zero)) {
		return nil
	}
	if len(s.reuse) < n {
		s.reuse = make([]T, n)
	}
	s.used = max(s.used, n)
	out := s.reuse[:n:n]
	clear(out)
	return out
}

// BoxIn is Box, except on a discarding Reader (DecodesWithin), where it copies v into
// s's memory.
func BoxIn[T any](r *Reader, s *Slab[T], v T) *T {
	if s == nil || !r.discard {
		return Box(r, v)
	}
	p := s.take(r, 1)
	if p == nil { // r has failed: a usable pointer, as Box returns
		q := new(T) // not &v, which would move v to the heap on every call
		*q = v
		return q
	}
	p[0] = v
	return &p[0]
}

// DecodeItemsIn is DecodeItems, except on a discarding Reader (DecodesWithin), where
// the elements are decoded into s's memory.
func DecodeItemsIn[T any, P interface {
	*T
	Decoder
}](r *Reader, s *Slab[T], minElemSize int) []T {
	if s == nil || !r.discard {
		return DecodeItems[T, P](r, minElemSize)
	}
	return DecodeSliceIn(r, s, minElemSize, func(r *Reader, v *T) { P(v).Decode(r) })
}

// DecodeSliceIn is DecodeSlice, except on a discarding Reader (DecodesWithin), where
// the elements are decoded into s's memory.
func DecodeSliceIn[T any](r *Reader, s *Slab[T], minElemSize int, dec func(*Reader, *T)) []T {
	if s == nil || !r.discard {
		return DecodeSlice(r, minElemSize, dec)
	}
	if minElemSize < 1 {
		minElemSize = 1
	}
	n := r.Length(minElemSize)
	if r.err != nil || n == 0 {
		return nil
	}
	items := s.take(r, n)
	for i := range items {
		dec(r, &items[i])
		if r.err != nil {
			return nil
		}
	}
	return items
}

// ArenaOf returns the arena of type A of a discarding r (DecodesWithin), attaching a
// new one at the first call; nil for any other Reader. A decoder keeps its Slabs in
// its arena. The arena is the checker's own memory and is not charged: the budget is
// charged as by Unmarshal.
func ArenaOf[A any](r *Reader) *A {
	if !r.discard {
		return nil
	}
	if a, ok := r.arena.(*A); ok {
		return a
	}
	a := new(A)
	r.arena = a
	return a
}
