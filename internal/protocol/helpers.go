package protocol

import (
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

func encOptOwner(w *codec.Writer, o *base.Owner) {
	w.OptionTag(o != nil)
	if o != nil {
		w.Owner(*o)
	}
}

func decOptOwner(r *codec.Reader) *base.Owner {
	if !r.OptionTag() {
		return nil
	}
	return codec.BoxIn(r, arena(r).owners, r.Owner())
}

func encOptAccount(w *codec.Writer, a *base.Account) {
	w.OptionTag(a != nil)
	if a != nil {
		w.Account(*a)
	}
}

func decOptAccount(r *codec.Reader) *base.Account {
	if !r.OptionTag() {
		return nil
	}
	return codec.Box(r, r.Account())
}

func encOptHash(w *codec.Writer, h *base.Hash) {
	w.OptionTag(h != nil)
	if h != nil {
		w.Hash(*h)
	}
}

func decOptHash(r *codec.Reader) *base.Hash {
	if !r.OptionTag() {
		return nil
	}
	return codec.Box(r, r.Hash())
}

func encOptTimeDelta(w *codec.Writer, d *base.TimeDelta) {
	w.OptionTag(d != nil)
	if d != nil {
		w.U64(uint64(*d))
	}
}

func decOptTimeDelta(r *codec.Reader) *base.TimeDelta {
	if !r.OptionTag() {
		return nil
	}
	return codec.Box(r, base.TimeDelta(r.U64()))
}

func encOwners(w *codec.Writer, s []base.Owner) {
	codec.EncodeSlice(w, s, func(w *codec.Writer, o *base.Owner) { w.Owner(*o) })
}

// decSortedOwners reads a set of owners and refuses unsorted or repeated entries.
func decSortedOwners(r *codec.Reader) []base.Owner {
	s := codec.DecodeSlice(r, 2, func(r *codec.Reader, o *base.Owner) { *o = r.Owner() })
	for i := 1; i < len(s); i++ {
		if s[i-1].Compare(s[i]) >= 0 {
			r.Fail("owner set not strictly sorted")
			return nil
		}
	}
	return s
}

func encAppIDs(w *codec.Writer, s []base.ApplicationID) {
	codec.EncodeSlice(w, s, func(w *codec.Writer, a *base.ApplicationID) { w.Hash(base.Hash(*a)) })
}

func decAppIDs(r *codec.Reader) []base.ApplicationID {
	return codec.DecodeSlice(r, 32, func(r *codec.Reader, a *base.ApplicationID) { *a = base.ApplicationID(r.Hash()) })
}

func encOptAppIDs(w *codec.Writer, s *[]base.ApplicationID) {
	w.OptionTag(s != nil)
	if s != nil {
		encAppIDs(w, *s)
	}
}

func decOptAppIDs(r *codec.Reader) *[]base.ApplicationID {
	if !r.OptionTag() {
		return nil
	}
	s := decAppIDs(r)
	if s == nil {
		s = []base.ApplicationID{}
	}
	return codec.Box(r, s)
}

func sortChainIDs(s []base.ChainID) {
	slices.SortFunc(s, base.ChainID.Compare)
}

func sortSignatures(s []ValidatorSignature) {
	slices.SortFunc(s, func(a, b ValidatorSignature) int { return a.Validator.Compare(b.Validator) })
}
