package views

import (
	"context"

	"github.com/micachain/mica/internal/kv"
)

// Register is a single value stored at its context's prefix. A missing key reads as the
// default value given to NewRegister.
type Register[T any] struct {
	r   kv.Reader
	key []byte
	c   Codec[T]
	def T

	// loaded tells whether value holds the clean state (stored value or default).
	loaded bool
	value  T

	// dirty tells whether Set or Clear was called since the last Flush or Rollback; then
	// cleared selects between deleting the key and storing staged.
	dirty   bool
	cleared bool
	staged  T
}

var _ View = (*Register[int])(nil)

// NewRegister returns the register at vc's prefix. Nothing is read until Get.
func NewRegister[T any](vc Context, c Codec[T], def T) *Register[T] {
	return &Register[T]{r: vc.r, key: vc.key(), c: c, def: def}
}

// Get returns the current value: the staged one if any, else the stored one (read once and
// cached), else the default. Undecodable stored bytes give a base.ErrCorrupt error.
func (g *Register[T]) Get(ctx context.Context) (T, error) {
	if g.dirty {
		if g.cleared {
			return g.def, nil
		}
		return g.staged, nil
	}
	if !g.loaded {
		v, ok, err := getValue(ctx, g.r, g.c, g.key)
		if err != nil {
			var zero T
			return zero, err
		}
		if !ok {
			v = g.def
		}
		g.value, g.loaded = v, true
	}
	return g.value, nil
}

// Set stages v as the new value.
func (g *Register[T]) Set(v T) {
	g.dirty, g.cleared, g.staged = true, false, v
}

// Clear stages the deletion of the stored value; the register then reads as the default.
func (g *Register[T]) Clear() {
	var zero T
	g.dirty, g.cleared, g.staged = true, true, zero
}

// Flush implements View: one put (after Set) or delete (after Clear). It is Emit then
// Commit.
func (g *Register[T]) Flush(b *kv.Batch) {
	g.Emit(b)
	g.Commit()
}

// Emit appends the staged change to b as Flush does, without changing the register.
func (g *Register[T]) Emit(b *kv.Batch) {
	if !g.dirty {
		return
	}
	if g.cleared {
		b.Delete(g.key)
	} else {
		b.PutOwned(g.key, encode(g.c, g.staged))
	}
}

// Commit makes the staged change the clean state, as Flush does, without appending it
// anywhere: only for a change that Emit appended to a batch being written.
func (g *Register[T]) Commit() {
	if !g.dirty {
		return
	}
	if g.cleared {
		g.value = g.def
	} else {
		g.value = g.staged
	}
	g.loaded = true
	g.Rollback()
}

// Rollback implements View. The clean value stays cached.
func (g *Register[T]) Rollback() {
	var zero T
	g.dirty, g.cleared, g.staged = false, false, zero
}

// HasPendingChanges implements View.
func (g *Register[T]) HasPendingChanges() bool { return g.dirty }

// RegisterChange is a Register's staged change, taken out of it by TakeStaged.
type RegisterChange[T any] struct {
	dirty, cleared bool
	staged         T
}

// HasChange reports whether c stages anything.
func (c RegisterChange[T]) HasChange() bool { return c.dirty }

// TakeStaged returns the staged change and drops it from the register (which keeps its
// clean value), so that it can be staged again by PutStaged, on this register or on
// another over the same key, as long as the stored value has not changed in between.
func (g *Register[T]) TakeStaged() RegisterChange[T] {
	c := RegisterChange[T]{dirty: g.dirty, cleared: g.cleared, staged: g.staged}
	g.Rollback()
	return c
}

// PutStaged stages c, a change TakeStaged returned, replacing any staged change.
func (g *Register[T]) PutStaged(c RegisterChange[T]) {
	g.dirty, g.cleared, g.staged = c.dirty, c.cleared, c.staged
}
