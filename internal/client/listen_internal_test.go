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
	if b.heard(1, id, note(7), now) {
		t.Fatal("a muted subscriber was heard")
	}
	later := now.Add(base.DeltaFromDuration(listenMute))
	if !b.heard(1, id, note(10), later) {
		t.Fatal("still muted after listenMute")
	}
	// Subscriber 0's note from during the last sync is judged now (confirmed), and 1's
	// second false announcement mutes it twice as long.
	if muted := b.synced(b.syncStarts(), 8, later); !slices.Equal(muted, []int{1}) {
		t.Fatalf("muted %v, want [1]", muted)
	}
	if b.heard(1, id, note(8), later.Add(base.DeltaFromDuration(2*listenMute-time.Millisecond))) {
		t.Fatal("second mute shorter than 2 × listenMute")
	}
}
