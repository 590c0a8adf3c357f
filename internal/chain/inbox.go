package chain

import (
	"context"
	"encoding/binary"
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
//
// Inbox is the in-memory form of the rules; a chain's State keeps the cursors as one map
// entry per origin, Added as a stored queue of one entry per sending block (bundleGroup:
// a block taking part of an entry leaves it, NextToRemove says which bundles are taken)
// and Removed as one of one entry per bundle, and applies the same rules (inboxOps) to
// them.
type Inbox struct {
	NextToAdd    protocol.Cursor
	NextToRemove protocol.Cursor
	Added        []protocol.MessageBundle
	Removed      []protocol.MessageBundle
}

// AddBundle records a delivered bundle (see inboxOps.addBundle).
func (in *Inbox) AddBundle(b protocol.MessageBundle) (bool, error) {
	cur := inboxCursors{NextToAdd: in.NextToAdd, NextToRemove: in.NextToRemove}
	added, err := inboxOps{cur: &cur, added: sliceQueue{&in.Added}, removed: sliceQueue{&in.Removed}}.addBundle(context.Background(), b, false)
	in.NextToAdd, in.NextToRemove = cur.NextToAdd, cur.NextToRemove
	return added, err
}

// RemoveBundle consumes a bundle received by a block (see inboxOps.removeBundle).
func (in *Inbox) RemoveBundle(b *protocol.MessageBundle, mustBePresent bool) error {
	cur := inboxCursors{NextToAdd: in.NextToAdd, NextToRemove: in.NextToRemove}
	err := inboxOps{cur: &cur, added: sliceQueue{&in.Added}, removed: sliceQueue{&in.Removed}}.removeBundle(context.Background(), b, mustBePresent)
	in.NextToAdd, in.NextToRemove = cur.NextToAdd, cur.NextToRemove
	return err
}

// inboxCursors is the fixed-size part of an inbox.
type inboxCursors struct {
	NextToAdd    protocol.Cursor
	NextToRemove protocol.Cursor
	// Layout is the byte the stored value ends with: inboxLayoutGroups or
	// inboxLayoutGroupsAfterBundles (a State stores one with every cursor), or 0 for a
	// value stored without it by a build before groups, which reads as before. A build
	// before groups, whose strict decoder expects the two cursors only, refuses the
	// byte (as corruption) instead of reading the inbox without the groups it does not
	// see.
	Layout byte
}

// Layout bytes after a stored inbox's cursors; any other byte is refused.
const (
	// inboxLayoutGroups: delivered bundles are stored one entry per sending block
	// (bundleGroup), and the queue of one entry per bundle of earlier builds is empty
	// (it is not read).
	inboxLayoutGroups byte = 2
	// inboxLayoutGroupsAfterBundles: the same, after the entries of that queue, which
	// are read first.
	inboxLayoutGroupsAfterBundles byte = 3
)

func (c *inboxCursors) Encode(w *codec.Writer) {
	encCursor(w, c.NextToAdd)
	encCursor(w, c.NextToRemove)
	if c.Layout != 0 {
		w.U8(c.Layout)
	}
}

func (c *inboxCursors) Decode(r *codec.Reader) {
	c.NextToAdd = decCursor(r)
	c.NextToRemove = decCursor(r)
	c.Layout = 0
	if r.Err() == nil && r.Remaining() > 0 {
		v := r.U8()
		if v != inboxLayoutGroups && v != inboxLayoutGroupsAfterBundles {
			r.Fail("inbox of layout %d, unknown to this build (it reads layouts %d and %d, groups, and the one before)", v, inboxLayoutGroups, inboxLayoutGroupsAfterBundles)
			return
		}
		c.Layout = v
	}
}

// queuedBundle is a bundle as an inbox queue holds it: its canonical bytes and its
// cursor. The inbox rules compare bundles by their canonical bytes, so a block receiving
// a bundle reads the queue's entry without decoding its messages; only skipping a bundle
// (IsSkippable) and listing pending bundles decode it.
//
// A bundle whose sending certificate is on the store that holds the chain's state is
// stored as a reference to it (byRef): its transaction index in its group's entry
// (bundleGroup), and the messages are read from the certificate when the entry is read
// back from the store (State.resolveGroup). Entries of the layout before groups (one
// per bundle, still read) hold the first bundleRefLen bytes of the bundle's canonical
// bytes (height, timestamp, certificate hash, transaction index). In memory (the
// queue's cache of the entries it pushed) a bundle keeps its whole bytes.
type queuedBundle struct {
	cursor protocol.Cursor
	// raw is the canonical encoding of a protocol.MessageBundle, never modified; for an
	// unresolved reference, only its first bundleRefLen bytes.
	raw []byte
	// byRef: the queue stores raw[:bundleRefLen] (the certificate holds the rest).
	byRef bool
	// unresolved: raw is the reference only, as read from the store.
	unresolved bool
	// checked: raw is the encoding of a decoded bundle (delivered, or resolved from its
	// certificate), so it decodes; bytes read from the store as they are may not
	// (State.PendingBundleBytes decodes those before serving them).
	checked bool
}

// bundleRefLen is the length of a stored reference: a MessageBundle's height (u64),
// timestamp (u64), certificate hash (32 bytes) and transaction index (u32), the first
// fields of its canonical bytes. A bundle stored whole is longer (at least the ULEB128
// count of its messages follows), so the length tells the two apart.
const bundleRefLen = 8 + 8 + 32 + 4

func newQueuedBundle(b *protocol.MessageBundle, byRef bool) queuedBundle {
	return queuedBundle{cursor: b.Cursor(), raw: codec.Marshal(b), byRef: byRef, checked: true}
}

// bundle decodes the bundle. A stored entry that does not decode is corruption.
func (q *queuedBundle) bundle() (protocol.MessageBundle, error) {
	var b protocol.MessageBundle
	if q.unresolved {
		return b, base.Corruptf("inbox bundle at %v: reference not resolved", q.cursor)
	}
	if err := codec.Unmarshal(q.raw, &b); err != nil {
		return protocol.MessageBundle{}, base.Corruptf("inbox bundle at %v: %v", q.cursor, err)
	}
	return b, nil
}

// same reports whether b is the queued bundle (the same canonical bytes).
func (q *queuedBundle) same(b *protocol.MessageBundle) bool {
	return !q.unresolved && codec.EncodesTo(b, q.raw)
}

// isSkippable decodes the bundle and reports whether it may be skipped.
func (q *queuedBundle) isSkippable() (bool, error) {
	b, err := q.bundle()
	if err != nil {
		return false, err
	}
	return b.IsSkippable(), nil
}

// queuedBundleCodec stores a queuedBundle as the bundle's canonical bytes (the bytes the
// queues held when their entries were protocol.MessageBundle values), or as its
// reference (byRef): the layout of the queue of bundles taken in anticipation, and of
// the delivered bundles before groups. Decoding reads the cursor fields and keeps the bytes; the messages
// are checked when decoded, a reference when resolved.
type queuedBundleCodec struct{}

func (queuedBundleCodec) Encode(w *codec.Writer, q queuedBundle) {
	if q.byRef {
		w.Fixed(q.raw[:bundleRefLen])
		return
	}
	w.Fixed(q.raw)
}

// Encoded returns what Encode writes, without copying (views stores it as it is).
func (queuedBundleCodec) Encoded(q queuedBundle) []byte {
	if q.byRef {
		return q.raw[:bundleRefLen:bundleRefLen]
	}
	return q.raw
}

func (queuedBundleCodec) Decode(r *codec.Reader) queuedBundle {
	raw := r.Fixed(r.Remaining())
	// A MessageBundle starts with its height (u64), timestamp (u64), certificate hash
	// (32 bytes) and transaction index (u32).
	const indexAt = 8 + 8 + 32
	if len(raw) < bundleRefLen {
		r.Fail("inbox bundle of %d bytes", len(raw))
		return queuedBundle{}
	}
	c := protocol.Cursor{Height: base.BlockHeight(binary.LittleEndian.Uint64(raw)), Index: binary.LittleEndian.Uint32(raw[indexAt:])}
	ref := len(raw) == bundleRefLen
	return queuedBundle{cursor: c, raw: raw, byRef: ref, unresolved: ref}
}

// CachedSize counts a cached entry's whole bytes against the queue's cache bounds
// (views), not the reference it is stored as.
func (queuedBundleCodec) CachedSize(q queuedBundle, encoded int) int { return max(len(q.raw), encoded) }

// bundleQueue is a FIFO queue of bundles: a views.Queue in a chain's State, a slice in
// an Inbox.
type bundleQueue interface {
	Front(ctx context.Context) (queuedBundle, bool, error)
	PopFront(ctx context.Context) error
	PushBack(ctx context.Context, b queuedBundle) error
}

type sliceQueue struct{ s *[]protocol.MessageBundle }

func (q sliceQueue) Front(context.Context) (queuedBundle, bool, error) {
	if len(*q.s) == 0 {
		return queuedBundle{}, false, nil
	}
	return newQueuedBundle(&(*q.s)[0], false), true, nil
}

func (q sliceQueue) PopFront(context.Context) error {
	*q.s = (*q.s)[1:]
	return nil
}

func (q sliceQueue) PushBack(_ context.Context, b queuedBundle) error {
	mb, err := b.bundle()
	if err != nil {
		return err
	}
	*q.s = append(*q.s, mb)
	return nil
}

// inboxOps applies the inbox rules to an inbox's cursors and queues. Each call touches
// O(1) queue entries, plus one per skipped bundle it drops.
type inboxOps struct {
	cur            *inboxCursors
	added, removed bundleQueue
	// unrecorded: a bundle consumed in anticipation is not queued (State.SkipAnticipated).
	unrecorded bool
}

func nextCursor(c protocol.Cursor) protocol.Cursor {
	return protocol.Cursor{Height: c.Height, Index: c.Index + 1}
}

// addBundle records a delivered bundle, queued as a reference to its certificate if
// byRef. It returns false if the bundle was already delivered (a duplicate), and an error
// if it contradicts a bundle consumed in anticipation.
func (in inboxOps) addBundle(ctx context.Context, b protocol.MessageBundle, byRef bool) (bool, error) {
	c := b.Cursor()
	if c.Compare(in.cur.NextToAdd) < 0 {
		return false, nil
	}
	in.cur.NextToAdd = nextCursor(c)
	front, ok, err := in.removed.Front(ctx)
	if err != nil {
		return false, err
	}
	if ok {
		switch front.cursor.Compare(c) {
		case -1:
			// The block that consumed `front` in anticipation skipped nothing we can
			// still deliver; an earlier removed bundle that was never delivered means
			// the sender's history differs from what the certified block claimed.
			return false, fmt.Errorf("%w: consumed bundle at %v was never delivered", ErrBundleMismatch, front.cursor)
		case 0:
			if !front.same(&b) {
				return false, fmt.Errorf("%w at %v", ErrBundleMismatch, c)
			}
			return true, in.removed.PopFront(ctx)
		default:
			// Delivered bundle is older than what was consumed: it was skipped.
			if !b.IsSkippable() {
				return false, fmt.Errorf("%w at %v (a confirmed block skipped it)", ErrUnskippableBundle, c)
			}
			return true, nil
		}
	}
	if c.Compare(in.cur.NextToRemove) < 0 {
		// Already consumed by a block that skipped it.
		return true, nil
	}
	return true, in.added.PushBack(ctx, newQueuedBundle(&b, byRef))
}

// removeBundle consumes a bundle received by a block. With mustBePresent (voting on a
// proposal) a bundle not yet delivered is an ErrMissingBundle; otherwise (executing a
// confirmed block) it is recorded as consumed in anticipation. Skipped bundles must be
// skippable.
func (in inboxOps) removeBundle(ctx context.Context, b *protocol.MessageBundle, mustBePresent bool) error {
	c := b.Cursor()
	if c.Compare(in.cur.NextToRemove) < 0 {
		return fmt.Errorf("%w: bundle %v already received (next is %v)", ErrBundleOutOfOrder, c, in.cur.NextToRemove)
	}
	for {
		front, ok, err := in.added.Front(ctx)
		if err != nil {
			return err
		}
		if !ok || front.cursor.Compare(c) >= 0 {
			break
		}
		skippable, err := front.isSkippable()
		if err != nil {
			return err
		}
		if !skippable {
			return fmt.Errorf("%w: %v", ErrUnskippableBundle, front.cursor)
		}
		if err := in.added.PopFront(ctx); err != nil {
			return err
		}
	}
	in.cur.NextToRemove = nextCursor(c)
	front, ok, err := in.added.Front(ctx)
	if err != nil {
		return err
	}
	if ok && front.cursor == c {
		if !front.same(b) {
			return fmt.Errorf("%w at %v", ErrBundleMismatch, c)
		}
		return in.added.PopFront(ctx)
	}
	if mustBePresent {
		return fmt.Errorf("%w: height %d transaction %d", ErrMissingBundle, c.Height, c.Index)
	}
	if in.unrecorded {
		return nil
	}
	return in.removed.PushBack(ctx, newQueuedBundle(b, false))
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
