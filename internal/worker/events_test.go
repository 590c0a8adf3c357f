package worker

import (
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestNotifyEventsBounded: one NewEvents notification per user stream of a block, with
// the stream's next index; system streams are not announced; a block emitting to many
// streams announces at most maxEventNotifications of them.
func TestNotifyEventsBounded(t *testing.T) {
	var got []protocol.Notification
	w := &Worker{cfg: Config{Notify: func(n protocol.Notification) { got = append(got, n) }}}
	app := base.ApplicationID{7}
	var evs []protocol.Event
	evs = append(evs, protocol.Event{Stream: protocol.NewEpochStream, Index: 1})
	for i := range 3 {
		evs = append(evs, protocol.Event{Stream: protocol.StreamID{App: &app, Name: []byte("posts")}, Index: uint32(4 + i)})
	}
	for i := range 2 * maxEventNotifications {
		evs = append(evs, protocol.Event{Stream: protocol.StreamID{App: &app, Name: fmt.Appendf(nil, "s%d", i)}})
	}
	block := &protocol.Block{Outcome: protocol.BlockExecutionOutcome{Events: [][]protocol.Event{evs}}}
	w.notifyEvents(block)
	if len(got) != maxEventNotifications {
		t.Fatalf("%d notifications, want %d", len(got), maxEventNotifications)
	}
	if n := got[0]; n.Kind != protocol.ReasonNewEvents || n.App != app || n.StreamName != "posts" || n.NextIndex != 7 {
		t.Fatalf("first notification %+v", n)
	}
}
