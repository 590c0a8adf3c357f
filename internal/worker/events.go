package worker

import (
	"github.com/micachain/mica/internal/protocol"
)

// maxEventNotifications bounds the NewEvents notifications of one block: a block that
// emits to more streams is announced for its first 64 streams only (the NewBlock
// notification and the followers' syncs cover the rest), so that one block cannot
// flood the notification streams.
const maxEventNotifications = 64

// notifyEvents sends one ReasonNewEvents notification per user stream that a confirmed
// block emitted to, with the stream's next index after the block, so that clients of
// subscribed chains learn of new events without polling. System streams (epochs) are
// announced by the new block itself.
func (w *Worker) notifyEvents(block *protocol.Block) {
	if w.cfg.Notify == nil {
		return
	}
	type key struct {
		app  [32]byte
		name string
	}
	var order []key
	next := map[key]uint32{}
	for _, evs := range block.Outcome.Events {
		for i := range evs {
			e := &evs[i]
			if e.Stream.App == nil {
				continue
			}
			k := key{app: *e.Stream.App, name: string(e.Stream.Name)}
			n, seen := next[k]
			if !seen {
				if len(order) == maxEventNotifications {
					continue
				}
				order = append(order, k)
			}
			if e.Index+1 > n {
				next[k] = e.Index + 1
			}
		}
	}
	for _, k := range order {
		w.notify(protocol.Notification{ChainID: block.ChainID(), Kind: protocol.ReasonNewEvents, Height: block.Height(),
			App: k.app, StreamName: k.name, NextIndex: next[k]})
	}
}
