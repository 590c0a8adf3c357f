package chain

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// bundleGroup is one entry of a stored inbox's queue of delivered bundles: bundles of one
// sending block (one height of the origin), in increasing transaction index. A block
// delivering 100 bundles here is one entry, put on receipt and deleted by the block that
// takes the last of them; a block taking some of them leaves the entry as it is (the
// inbox's NextToRemove cursor says which are taken: every queued bundle below it was
// taken or skipped).
//
// A group whose certificate is on the store holding the chain's state (byRef) stores
// the header its bundles share (height, timestamp, certificate hash) and their
// transaction indexes; the messages are read from the certificate (State.resolveGroup).
// Otherwise it stores the bundles' canonical bytes.
type bundleGroup struct {
	byRef     bool
	height    base.BlockHeight
	timestamp base.Timestamp
	cert      base.Hash
	// items are the bundles, cursors strictly increasing at height. Their raw bytes are
	// whole, except in a byRef group read from the store (unresolved).
	items []queuedBundle
	// unresolved: items hold cursors only (a byRef group as read from the store).
	unresolved bool
}

// Stored layouts of a bundleGroup: its first byte.
const (
	groupOfReferences byte = 1
	groupOfBundles    byte = 2
)

// bundleHeaderLen is the length of the fields a bundle shares with the other bundles of
// its sending block: height (u64), timestamp (u64), certificate hash; the transaction
// index (u32) follows.
const bundleHeaderLen = 8 + 8 + 32

// groupOf returns a new group holding b.
func groupOf(b queuedBundle) bundleGroup {
	g := bundleGroup{byRef: b.byRef, items: []queuedBundle{b}}
	g.height, g.timestamp, g.cert = bundleHeader(b.raw)
	return g
}

// bundleHeader reads the shared fields from a bundle's canonical bytes (zero for bytes
// too short, which no delivered bundle has).
func bundleHeader(raw []byte) (base.BlockHeight, base.Timestamp, base.Hash) {
	if len(raw) < bundleHeaderLen {
		return 0, 0, base.Hash{}
	}
	return base.BlockHeight(binary.LittleEndian.Uint64(raw)), base.Timestamp(binary.LittleEndian.Uint64(raw[8:])), base.Hash(raw[16:bundleHeaderLen])
}

// add appends b if it belongs to the group (same sending block and storage, after the
// group's last bundle) and reports whether it did.
func (g *bundleGroup) add(b queuedBundle) bool {
	h, ts, cert := bundleHeader(b.raw)
	if g.unresolved || b.byRef != g.byRef || h != g.height || ts != g.timestamp || cert != g.cert ||
		b.cursor.Compare(g.items[len(g.items)-1].cursor) <= 0 {
		return false
	}
	g.items = append(g.items, b)
	return true
}

// last returns the cursor of the group's last bundle.
func (g *bundleGroup) last() protocol.Cursor { return g.items[len(g.items)-1].cursor }

// groupCodec stores a bundleGroup: the layout byte, the shared header, the number of
// bundles, then each bundle's transaction index (u32, groupOfReferences) or its
// canonical bytes with their length (groupOfBundles). Decoding checks what the inbox
// relies on (one height, indexes strictly increasing, each bundle's bytes starting
// with the header); the messages are checked when decoded, references when resolved.
type groupCodec struct{}

func (groupCodec) Encode(w *codec.Writer, g bundleGroup) {
	layout := groupOfBundles
	if g.byRef {
		layout = groupOfReferences
	}
	w.U8(layout)
	w.U64(uint64(g.height))
	w.U64(uint64(g.timestamp))
	w.Hash(g.cert)
	w.Length(len(g.items))
	for i := range g.items {
		if g.byRef {
			w.U32(g.items[i].cursor.Index)
		} else {
			w.VarBytes(g.items[i].raw)
		}
	}
}

// Encoded returns what Encode writes, in a buffer of the exact size (views stores it as
// it is; a writer growing from empty would allocate several times per entry).
func (c groupCodec) Encoded(g bundleGroup) []byte {
	n := 1 + bundleHeaderLen + binary.MaxVarintLen64
	for i := range g.items {
		if g.byRef {
			n += 4
		} else {
			n += binary.MaxVarintLen64 + len(g.items[i].raw)
		}
	}
	w := codec.NewWriter(make([]byte, 0, n))
	c.Encode(w, g)
	return w.Bytes()
}

func (groupCodec) Decode(r *codec.Reader) bundleGroup {
	var g bundleGroup
	layout := r.U8()
	g.height = base.BlockHeight(r.U64())
	g.timestamp = base.Timestamp(r.U64())
	g.cert = r.Hash()
	if r.Err() != nil {
		return bundleGroup{}
	}
	if layout != groupOfReferences && layout != groupOfBundles {
		r.Fail("inbox entry of unknown layout %d", layout)
		return bundleGroup{}
	}
	g.byRef, g.unresolved = layout == groupOfReferences, layout == groupOfReferences
	minSize := 4
	if !g.byRef {
		minSize = 1 + bundleRefLen + 1
	}
	n := r.Length(minSize)
	if n == 0 {
		r.Fail("inbox entry of no bundles")
		return bundleGroup{}
	}
	if !r.Alloc(n * 48) {
		return bundleGroup{}
	}
	g.items = make([]queuedBundle, n)
	for i := range g.items {
		it := &g.items[i]
		if g.byRef {
			it.cursor = protocol.Cursor{Height: g.height, Index: r.U32()}
			it.byRef, it.unresolved = true, true
		} else {
			it.raw = r.VarBytes()
			if r.Err() != nil {
				return bundleGroup{}
			}
			h, ts, cert := bundleHeader(it.raw)
			if len(it.raw) <= bundleRefLen || h != g.height || ts != g.timestamp || cert != g.cert {
				r.Fail("inbox entry's bundle %d is not of the entry's block", i)
				return bundleGroup{}
			}
			it.cursor = protocol.Cursor{Height: g.height, Index: binary.LittleEndian.Uint32(it.raw[bundleHeaderLen:])}
		}
		if i > 0 && it.cursor.Index <= g.items[i-1].cursor.Index {
			r.Fail("inbox entry's transaction indexes are not increasing")
			return bundleGroup{}
		}
	}
	return g
}

// CachedSize counts a cached group's whole bytes against the queue's cache bounds (a
// group pushed by a delivery keeps its bundles' bytes), not only what it is stored as.
func (groupCodec) CachedSize(g bundleGroup, encoded int) int {
	n := 0
	for i := range g.items {
		n += len(g.items[i].raw)
	}
	return max(n, encoded)
}

// groupedQueue is an inbox's queue of delivered bundles (Inbox.Added) as a chain's State
// stores it: the bundles stored one per entry by earlier builds (legacy, read first and
// only drained), then the groups. Bundles of the groups below floor are taken.
type groupedQueue struct {
	s      *State
	origin base.ChainID
	legacy *resolvingQueue
	groups *views.Queue[bundleGroup]
	// floor is the inbox's NextToRemove at the start of the current operation
	// (State.inbox), advanced by PopFront: the groups' bundles below it are taken.
	floor protocol.Cursor
	// noLegacy: the inbox's cursors say legacy is empty (inboxLayoutGroups, at the
	// start of the current operation): it is not read.
	noLegacy bool
	// front is the front group with its references resolved (memoized: the block taking
	// 100 bundles of one group resolves it once).
	front bundleGroup
	// certs remembers the last certificate read to resolve references.
	certs certMemo
}

// certMemo is the last certificate read to resolve an inbox's references, with the
// bundles it sends to the chain.
type certMemo struct {
	hash    base.Hash
	cert    *protocol.Certificate
	bundles []protocol.MessageBundle
}

// sameGroup reports whether a and b are the same stored group (a group's first cursor
// and certificate name it: delivery is exactly once).
func sameGroup(a, b *bundleGroup) bool {
	return len(a.items) > 0 && len(b.items) > 0 && a.items[0].cursor == b.items[0].cursor && a.cert == b.cert && len(a.items) == len(b.items)
}

// frontGroup returns the first group, resolved, or false if there is none. The group is
// returned by value (it shares its items with the queue's cache or q.front): a pointer
// would be allocated on every call, several per bundle a block takes.
func (q *groupedQueue) frontGroup(ctx context.Context) (bundleGroup, bool, error) {
	g, ok, err := q.groups.Front(ctx)
	if err != nil || !ok || !g.unresolved {
		return g, ok, err
	}
	if !sameGroup(&q.front, &g) {
		items, err := q.s.resolveGroup(ctx, q.origin, &g, &q.certs)
		if err != nil {
			return bundleGroup{}, false, err
		}
		g.items, g.unresolved = items, false
		q.front = g
	}
	return q.front, true, nil
}

// Front returns the first bundle not taken.
func (q *groupedQueue) Front(ctx context.Context) (queuedBundle, bool, error) {
	if !q.noLegacy {
		if v, ok, err := q.legacy.Front(ctx); err != nil || ok {
			return v, ok, err
		}
	}
	g, ok, err := q.frontGroup(ctx)
	if err != nil || !ok {
		return queuedBundle{}, false, err
	}
	// The first bundle at or after the floor, by binary search (the cursors increase): a
	// block taking a group's 100 bundles one by one reads the front 300 times.
	if i := sort.Search(len(g.items), func(i int) bool { return g.items[i].cursor.Compare(q.floor) >= 0 }); i < len(g.items) {
		return g.items[i], true, nil
	}
	return queuedBundle{}, false, base.Corruptf("inbox of chain %s: the entry of the bundles from %s at height %d is taken but still queued",
		q.s.id.Short(), q.origin.Short(), g.height)
}

// PopFront takes the first bundle: a legacy entry is deleted; a group's bundle is taken by
// the cursor, and the group deleted with its last bundle.
func (q *groupedQueue) PopFront(ctx context.Context) error {
	q.s.pendingChanged()
	if !q.noLegacy {
		if n, err := q.legacy.Len(ctx); err != nil || n > 0 {
			if err != nil {
				return err
			}
			return q.legacy.PopFront(ctx)
		}
	}
	b, ok, err := q.Front(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return base.NotFoundf("inbox of chain %s: pop from an empty queue", q.s.id.Short())
	}
	q.floor = nextCursor(b.cursor)
	g, _, err := q.frontGroup(ctx)
	if err != nil {
		return err
	}
	if g.last().Compare(q.floor) < 0 {
		q.front = bundleGroup{}
		return q.groups.PopFront(ctx)
	}
	return nil
}

// PushBack queues b: in the group staged last if b belongs to it, else as a new group.
func (q *groupedQueue) PushBack(ctx context.Context, b queuedBundle) error {
	q.s.pendingChanged()
	if g := q.groups.LastPushed(); g != nil && g.add(b) {
		return nil
	}
	return q.groups.PushBack(ctx, groupOf(b))
}

// forEachRun calls fn with every bundle not taken of the inbox whose cursors are cur,
// from front to back, in runs of consecutive bundles (a group's, or one entry of the
// layout before groups): the groups' bundles below cur.NextToRemove are taken. A run
// may be shared with the queue's cache: fn must not modify it.
func (q *groupedQueue) forEachRun(ctx context.Context, cur *inboxCursors, fn func([]queuedBundle) error) error {
	floor := cur.NextToRemove
	if cur.Layout != inboxLayoutGroups {
		err := q.legacy.Queue.ForEach(ctx, func(qb queuedBundle) error {
			if err := q.s.resolve(ctx, q.origin, &qb, &q.certs); err != nil {
				return err
			}
			return fn([]queuedBundle{qb})
		})
		if err != nil {
			return err
		}
	}
	first := true
	return q.groups.ForEach(ctx, func(g bundleGroup) error {
		if first {
			// The front group: resolved once for this listing and the block after it.
			first = false
			fg, _, err := q.frontGroup(ctx)
			if err != nil {
				return err
			}
			g = fg
		} else if g.unresolved {
			items, err := q.s.resolveGroup(ctx, q.origin, &g, &q.certs)
			if err != nil {
				return err
			}
			g.items = items
		}
		i := 0
		for i < len(g.items) && g.items[i].cursor.Compare(floor) < 0 {
			i++
		}
		if i == len(g.items) {
			return nil
		}
		return fn(g.items[i:len(g.items):len(g.items)])
	})
}

// hasPendingChanges reports whether the queue has staged changes.
func (q *groupedQueue) hasPendingChanges() bool {
	return q.legacy.HasPendingChanges() || q.groups.HasPendingChanges()
}

// resolve replaces a single reference read from the store (an entry of the layout before
// groups) by the bundle's bytes. See resolveGroup.
func (s *State) resolve(ctx context.Context, origin base.ChainID, q *queuedBundle, memo *certMemo) error {
	if !q.unresolved {
		return nil
	}
	g := bundleGroup{byRef: true, items: []queuedBundle{*q}, unresolved: true}
	g.height, g.timestamp, g.cert = bundleHeader(q.raw)
	items, err := s.resolveGroup(ctx, origin, &g, memo)
	if err != nil {
		return err
	}
	*q = items[0]
	return nil
}

// resolveGroup returns the bundles a group of references refers to, built from their
// certificate as delivery built them (protocol.Block.OutgoingBundlesTo), with their
// bytes. The certificate and its bundles are remembered in memo: the references of one
// sending block read it once. A reference to a certificate the store lacks, or to a
// transaction that does not send here, is corruption.
func (s *State) resolveGroup(ctx context.Context, origin base.ChainID, g *bundleGroup, memo *certMemo) ([]queuedBundle, error) {
	where := func() string {
		return fmt.Sprintf("inbox of chain %s: bundles from %s at height %d refer to certificate %s", s.id.Short(), origin.Short(), g.height, g.cert.Short())
	}
	if memo.cert == nil || memo.hash != g.cert {
		if s.certs == nil {
			return nil, base.Corruptf("%s, and no certificates are at hand", where())
		}
		cert, err := s.certs.Certificate(ctx, origin, g.height, g.cert)
		if err != nil {
			if base.IsNotFound(err) {
				return nil, base.Corruptf("%s, which is not on the store: %v", where(), err)
			}
			return nil, fmt.Errorf("%s: %w", where(), err)
		}
		b := cert.Block
		if b == nil || b.ChainID() != origin {
			return nil, base.Corruptf("%s, which is another chain's block", where())
		}
		*memo = certMemo{hash: g.cert, cert: cert, bundles: b.OutgoingBundlesTo(s.id)}
	}
	if b := memo.cert.Block; b.Height() != g.height || b.Proposed.Timestamp != g.timestamp {
		return nil, base.Corruptf("%s, which is another block", where())
	}
	out := make([]queuedBundle, len(g.items))
	sent := memo.bundles
	for i := range g.items {
		c := g.items[i].cursor
		for len(sent) > 0 && sent[0].TransactionIndex < c.Index {
			sent = sent[1:]
		}
		if len(sent) == 0 || sent[0].TransactionIndex != c.Index {
			return nil, base.Corruptf("%s, whose transaction %d sends nothing here", where(), c.Index)
		}
		out[i] = queuedBundle{cursor: c, raw: codec.Marshal(&sent[0]), byRef: true, checked: true}
	}
	return out, nil
}
