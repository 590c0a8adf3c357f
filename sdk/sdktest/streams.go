package sdktest

import (
	"errors"
	"fmt"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/internal/abi"
)

// Event streams in the test harness. Chains that share one *Events see each other's
// events; a contract's emits reach the store when its entry point succeeds. Deliver
// new events to a subscriber with Chain.ProcessStreams, as the client's UpdateStreams
// operation does on a real network.

// ErrMissingEvent aborts an entry point that reads an event the store does not hold
// (the real host aborts the same way, with a "missing event" error).
var ErrMissingEvent = errors.New("sdktest: missing event")

// Events is an event store shared by test chains.
type Events struct{ streams map[string][][]byte }

// NewEvents returns an empty store.
func NewEvents() *Events { return &Events{streams: map[string][][]byte{}} }

func eventKey(chain sdk.ChainID, app sdk.ApplicationID, name string) string {
	return string(chain[:]) + string(app[:]) + name
}

// Stream returns the values of stream (app, name) on chain, by index.
func (e *Events) Stream(chain sdk.ChainID, app sdk.ApplicationID, name string) [][]byte {
	return e.streams[eventKey(chain, app, name)]
}

// Subscription is one subscription of the chain's application.
type Subscription struct {
	Publisher sdk.ChainID
	App       sdk.ApplicationID
	Stream    string
	NextIndex uint32
}

type emitted struct {
	name  string
	value []byte
}

func (h *host) serveStreams(kind uint32, d *abi.Decoder, e *abi.Encoder) error {
	if kind != abi.KindReadEvent && h.service {
		return fmt.Errorf("%w: kind %d is for contracts only", errNotSupp, kind)
	}
	switch kind {
	case abi.KindEmitEvent:
		name, value := string(d.VarBytes()), d.VarBytes()
		if err := done(d); err != nil {
			return err
		}
		if len(name) == 0 || len(name) > 64 || len(value) > 64<<10 {
			return fmt.Errorf("sdktest: emit: stream name of %d bytes or value of %d bytes out of bounds", len(name), len(value))
		}
		n := len(h.c.Events.Stream(h.c.ID, h.c.Application, name))
		for _, m := range h.emitted {
			if m.name == name {
				n++
			}
		}
		h.emitted = append(h.emitted, emitted{name, value})
		e.U32(uint32(n))
	case abi.KindReadEvent:
		chain, app, name, index := d.Fixed32(), d.Fixed32(), string(d.VarBytes()), d.U32()
		if err := done(d); err != nil {
			return err
		}
		s := h.c.Events.Stream(chain, app, name)
		if int(index) >= len(s) {
			return fmt.Errorf("%w %d of stream %q", ErrMissingEvent, index, name)
		}
		e.Fixed(s[index])
	case abi.KindSubscribeToEvents, abi.KindUnsubscribeFromEvents:
		chain, app, name := d.Fixed32(), d.Fixed32(), string(d.VarBytes())
		if err := done(d); err != nil {
			return err
		}
		i := -1
		for j, s := range h.subs {
			if s.Publisher == chain && s.App == app && s.Stream == name {
				i = j
			}
		}
		switch {
		case kind == abi.KindSubscribeToEvents && i < 0:
			h.subs = append(h.subs, Subscription{Publisher: chain, App: app, Stream: name})
		case kind == abi.KindUnsubscribeFromEvents && i < 0:
			return fmt.Errorf("sdktest: unsubscribe: not subscribed to stream %q", name)
		case kind == abi.KindUnsubscribeFromEvents:
			h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
		}
	}
	return nil
}

// commitStreams publishes a successful entry point's events and subscriptions.
func (h *host) commitStreams() {
	for _, m := range h.emitted {
		k := eventKey(h.c.ID, h.c.Application, m.name)
		h.c.Events.streams[k] = append(h.c.Events.streams[k], m.value)
	}
	h.c.Subscriptions = h.subs
}

// ProcessStreams delivers the new events of every stream the chain's application
// subscribes to: it calls the contract's ProcessStreams (if it has one) with one
// update per stream that has new events, and advances the subscriptions. It returns
// the number of updates delivered (0: nothing new, nothing called).
func (c *Chain) ProcessStreams(app sdk.ContractApp) (int, error) {
	var updates []sdk.StreamUpdate
	for _, s := range c.Subscriptions {
		n := uint32(len(c.Events.Stream(s.Publisher, s.App, s.Stream)))
		if n > s.NextIndex {
			updates = append(updates, sdk.StreamUpdate{Publisher: s.Publisher, App: s.App, Stream: s.Stream, PreviousIndex: s.NextIndex, NextIndex: n})
		}
	}
	if len(updates) == 0 {
		return 0, nil
	}
	if _, err := c.runContract(app, abi.EntryProcessStreams, sdk.EncodeStreamUpdates(updates), nil); err != nil {
		return 0, err
	}
	for _, u := range updates {
		for i := range c.Subscriptions {
			s := &c.Subscriptions[i]
			if s.Publisher == u.Publisher && s.App == u.App && s.Stream == u.Stream && s.NextIndex < u.NextIndex {
				s.NextIndex = u.NextIndex
			}
		}
	}
	return len(updates), nil
}
