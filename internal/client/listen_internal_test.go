package client

import (
	"slices"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestBlockClaims: an announcement that a later sync confirms mutes nobody; one it
// does not is muted for listenMute, then twice as long; an announcement made while a
// sync runs is judged by the next sync only.
func TestBlockClaims(t *testing.T) {
	var id base.ChainID
	note := func(h base.BlockHeight) protocol.Notification {
		return protocol.Notification{ChainID: id, Kind: protocol.ReasonNewBlock, Height: h}
	}
	b := newBlockClaims(2)
	now := base.Timestamp(1_000_000)
	// Both announce block 5; the sync reaches 6: confirmed.
	b.heard(0, id, note(5), now)
	b.heard(1, id, note(5), now)
	if muted := b.synced(b.syncStarts(), 6, now); len(muted) != 0 {
		t.Fatalf("confirmed announcements muted %v", muted)
	}
	// Subscriber 1 announces block 9 before a sync and block 7 while it runs; the sync
	// reaches 7: 1 is muted.
	b.heard(1, id, note(9), now)
	seq := b.syncStarts()
	b.heard(0, id, note(6), now) // during the sync: judged by the next one
	if muted := b.synced(seq, 7, now); !slices.Equal(muted, []int{1}) {
		t.Fatalf("muted %v, want [1]", muted)
	}
	if b.heard(1, id, note(7), now) != noteDrop {
		t.Fatal("a muted subscriber was heard")
	}
	later := now.Add(base.DeltaFromDuration(listenMute))
	if b.heard(1, id, note(10), later) == noteDrop {
		t.Fatal("still muted after listenMute")
	}
	// Subscriber 0's note from during the last sync is judged now (confirmed), and 1's
	// second false announcement mutes it twice as long.
	if muted := b.synced(b.syncStarts(), 8, later); !slices.Equal(muted, []int{1}) {
		t.Fatalf("muted %v, want [1]", muted)
	}
	if b.heard(1, id, note(8), later.Add(base.DeltaFromDuration(2*listenMute-time.Millisecond))) != noteDrop {
		t.Fatal("second mute shorter than 2 × listenMute")
	}
}

// TestBundleClaims: an incoming-bundle note is held; a judgement that finds its bundle
// pending passes it on once (whoever announced it); one that does not mutes its
// announcer, unless the chain gained a block since (which may have received it); a note
// heard while a sync runs is judged by the next one; at most maxBundleClaims notes of
// one subscriber wait.
func TestBundleClaims(t *testing.T) {
	var id, origin base.ChainID
	origin[0] = 1
	note := func(h base.BlockHeight) protocol.Notification {
		return protocol.Notification{ChainID: id, Kind: protocol.ReasonNewIncomingBundle, Height: h, Origin: origin}
	}
	pending := func(hs ...base.BlockHeight) []protocol.IncomingBundle {
		var out []protocol.IncomingBundle
		for _, h := range hs {
			out = append(out, protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{Height: h}})
		}
		return out
	}
	b := newBlockClaims(2)
	now := base.Timestamp(1_000_000)
	b.synced(b.syncStarts(), 3, now)
	// Both announce the bundle of height 5, subscriber 1 also one of height 6 that
	// nobody sent; the chain stays at 3.
	for _, a := range []struct {
		sub int
		h   base.BlockHeight
	}{{0, 5}, {1, 5}, {1, 6}} {
		if got := b.heard(a.sub, id, note(a.h), now); got != noteHeld {
			t.Fatalf("heard %d from %d: %v, want held", a.h, a.sub, got)
		}
	}
	seq := b.syncStarts()
	b.heard(0, id, note(7), now) // during the sync: judged by the next one
	if !b.bundlesHeldBefore(seq) {
		t.Fatal("no note held before the sync")
	}
	found, muted := b.judgeBundles(seq, 3, pending(5, 7), now)
	if !slices.Equal(found, []protocol.Notification{note(5)}) || !slices.Equal(muted, []int{1}) {
		t.Fatalf("found %v, muted %v; want [height 5], [1]", found, muted)
	}
	if b.heard(1, id, note(5), now) != noteDrop {
		t.Fatal("a muted subscriber was heard")
	}
	// The next judgement: 0's note of height 7 is found; 5 is not held nor passed on
	// again (a validator repeating it asks for no judgement).
	if got := b.heard(0, id, note(5), now); got != noteDrop {
		t.Fatalf("a note passed on already: %v, want dropped", got)
	}
	found, muted = b.judgeBundles(b.syncStarts(), 3, pending(5, 7), now)
	if !slices.Equal(found, []protocol.Notification{note(7)}) || len(muted) != 0 {
		t.Fatalf("found %v, muted %v; want [height 7], []", found, muted)
	}
	// A note not found while the chain gained a block since is not held against anyone.
	b.heard(0, id, note(8), now)
	if found, muted := b.judgeBundles(b.syncStarts(), 4, nil, now); len(found) != 0 || len(muted) != 0 {
		t.Fatalf("found %v, muted %v after the chain grew; want none", found, muted)
	}
	// At most maxBundleClaims notes wait per subscriber.
	later := now.Add(base.DeltaFromDuration(listenMuteMax))
	held := 0
	for h := range base.BlockHeight(3 * maxBundleClaims) {
		if b.heard(1, id, note(100+h), later) == noteHeld {
			held++
		}
	}
	if n := len(b.subs[1].bundles); n != maxBundleClaims || held != maxBundleClaims {
		t.Fatalf("%d notes held (%d said held), want %d", n, held, maxBundleClaims)
	}
}
