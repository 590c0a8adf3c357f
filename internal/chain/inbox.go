package chain

import (
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Errors of inbox bookkeeping.
var (
	// ErrMissingBundle: a proposal receives a bundle this validator has not received yet.
	// The client must push the sender chain's certificates first. Class base.ErrNotFound.
	ErrMissingBundle = fmt.Errorf("%w: missing incoming bundle", base.ErrNotFound)
	// ErrUnskippableBundle: a block skips a bundle that may not be skipped. Class ErrInvalid.
	ErrUnskippableBundle = fmt.Errorf("%w: bundle may not be skipped", base.ErrInvalid)
	// ErrBundleMismatch: a received bundle differs from the one a block already consumed.
	ErrBundleMismatch = fmt.Errorf("%w: bundle does not match the one already consumed", base.ErrInvalid)
	// ErrBundleOutOfOrder: a block receives bundles of one origin out of order.
	ErrBundleOutOfOrder = fmt.Errorf("%w: bundles out of order", base.ErrInvalid)
)

// Inbox holds the bundles from one origin chain that were delivered to this chain but
// not yet received by one of its blocks, and those that a confirmed block received
// before they were delivered ("by anticipation").
//
// Invariants: Added and Removed are never both non-empty; cursors in each are strictly
// increasing; every Added cursor is >= NextToRemove; NextToAdd is greater than every
// delivered cursor. Delivery is exactly once: AddBundle ignores cursors below NextToAdd.
type Inbox struct {
	NextToAdd    protocol.Cursor
	NextToRemove protocol.Cursor
	Added        []protocol.MessageBundle
	Removed      []protocol.MessageBundle
}

func nextCursor(c protocol.Cursor) protocol.Cursor {
	return protocol.Cursor{Height: c.Height, Index: c.Index + 1}
}

func sameBundle(a, b *protocol.MessageBundle) bool {
	return string(codec.Marshal(a)) == string(codec.Marshal(b))
}

// AddBundle records a delivered bundle. It returns false if the bundle was already
// delivered (a duplicate), and an error if it contradicts a bundle consumed in
// anticipation.
func (in *Inbox) AddBundle(b protocol.MessageBundle) (bool, error) {
	c := b.Cursor()
	if c.Compare(in.NextToAdd) < 0 {
		return false, nil
	}
	in.NextToAdd = nextCursor(c)
	for len(in.Removed) > 0 {
		front := &in.Removed[0]
		switch front.Cursor().Compare(c) {
		case -1:
			// The block that consumed `front` in anticipation skipped nothing we can
			// still deliver; an earlier removed bundle that was never delivered means
			// the sender's history differs from what the certified block claimed.
			return false, fmt.Errorf("%w: consumed bundle at %v was never delivered", ErrBundleMismatch, front.Cursor())
		case 0:
			if !sameBundle(front, &b) {
				return false, fmt.Errorf("%w at %v", ErrBundleMismatch, c)
			}
			in.Removed = in.Removed[1:]
			return true, nil
		default:
			// Delivered bundle is older than what was consumed: it was skipped.
			if !b.IsSkippable() {
				return false, fmt.Errorf("%w at %v (a confirmed block skipped it)", ErrUnskippableBundle, c)
			}
			return true, nil
		}
	}
	if c.Compare(in.NextToRemove) < 0 {
		// Already consumed by a block that skipped it.
		return true, nil
	}
	in.Added = append(in.Added, b)
	return true, nil
}

// RemoveBundle consumes a bundle received by a block. With mustBePresent (voting on a
// proposal) a bundle not yet delivered is an ErrMissingBundle; otherwise (executing a
// confirmed block) it is recorded as consumed in anticipation. Skipped bundles must be
// skippable.
func (in *Inbox) RemoveBundle(b *protocol.MessageBundle, mustBePresent bool) error {
	c := b.Cursor()
	if c.Compare(in.NextToRemove) < 0 {
		return fmt.Errorf("%w: bundle %v already received (next is %v)", ErrBundleOutOfOrder, c, in.NextToRemove)
	}
	for len(in.Added) > 0 && in.Added[0].Cursor().Compare(c) < 0 {
		if !in.Added[0].IsSkippable() {
			return fmt.Errorf("%w: %v", ErrUnskippableBundle, in.Added[0].Cursor())
		}
		in.Added = in.Added[1:]
	}
	in.NextToRemove = nextCursor(c)
	if len(in.Added) > 0 && in.Added[0].Cursor() == c {
		if !sameBundle(&in.Added[0], b) {
			return fmt.Errorf("%w at %v", ErrBundleMismatch, c)
		}
		in.Added = in.Added[1:]
		return nil
	}
	if mustBePresent {
		return fmt.Errorf("%w: height %d transaction %d", ErrMissingBundle, c.Height, c.Index)
	}
	in.Removed = append(in.Removed, *b)
	return nil
}

// IsMissing reports whether err says a bundle has not been delivered yet.
func IsMissing(err error) bool { return errors.Is(err, ErrMissingBundle) }

func encCursor(w *codec.Writer, c protocol.Cursor) { w.U64(uint64(c.Height)); w.U32(c.Index) }
func decCursor(r *codec.Reader) protocol.Cursor {
	return protocol.Cursor{Height: base.BlockHeight(r.U64()), Index: r.U32()}
}

func (in *Inbox) Encode(w *codec.Writer) {
	encCursor(w, in.NextToAdd)
	encCursor(w, in.NextToRemove)
	codec.EncodeItems(w, in.Added)
	codec.EncodeItems(w, in.Removed)
}

func (in *Inbox) Decode(r *codec.Reader) {
	in.NextToAdd = decCursor(r)
	in.NextToRemove = decCursor(r)
	in.Added = codec.DecodeItems[protocol.MessageBundle](r, 48)
	in.Removed = codec.DecodeItems[protocol.MessageBundle](r, 48)
}
