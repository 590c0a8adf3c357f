package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
)

// Event streams of user applications (reference notes §6.7).
//
// A contract emits an event to a stream (its application, a name) on its own chain; the
// event's index is the stream's next index on that chain. Events are stored globally
// by EventID when the block is confirmed. Another chain subscribes an application of
// its own to a (publisher chain, stream); its owner's client then adds an UpdateStreams
// operation to the chain's next block when the publisher has new events, and the
// subscribed applications' ProcessStreams entry points read the new events by index.

// Bounds of event streams. They are protocol constants (not policy fields), so that a
// validator can refuse oversized requests before anything else.
const (
	// MaxStreamNameLen bounds the name of a user stream, in bytes.
	MaxStreamNameLen = 64
	// MaxEventValueLen bounds the value of one event emitted by an application.
	MaxEventValueLen = 64 << 10
	// MaxStreamUpdates bounds the updates of one UpdateStreams operation.
	MaxStreamUpdates = 256
)

// SubscribeToStream subscribes application App of this chain to Stream on chain
// Publisher: App's ProcessStreams will be called with the stream's new events, from
// index 0. Subscribing again keeps the current cursor. Only a chain owner may
// subscribe the chain.
type SubscribeToStream struct {
	Publisher base.ChainID
	Stream    StreamID
	App       base.ApplicationID
}

// UnsubscribeFromStream removes App's subscription to Stream on chain Publisher.
type UnsubscribeFromStream struct {
	Publisher base.ChainID
	Stream    StreamID
	App       base.ApplicationID
}

// StreamUpdate says that the events [cursor, NextIndex) of Stream on Publisher exist
// and should be processed by the subscribed applications.
type StreamUpdate struct {
	Publisher base.ChainID
	Stream    StreamID
	NextIndex uint32
}

// UpdateStreams advances the chain's subscriptions: for each update, every application
// subscribed to the stream whose cursor is below NextIndex has ProcessStreams called
// and its cursor moved to NextIndex. Execution checks (as an oracle) that event
// NextIndex-1 exists; cursors never move backwards; an update of a stream the chain
// does not subscribe to is refused.
type UpdateStreams struct {
	Updates []StreamUpdate
}

func (*SubscribeToStream) systemOperationTag() uint32     { return TagSubscribeToStream }
func (*UnsubscribeFromStream) systemOperationTag() uint32 { return TagUnsubscribeFromStream }
func (*UpdateStreams) systemOperationTag() uint32         { return TagUpdateStreams }

func (o *SubscribeToStream) Encode(w *codec.Writer) {
	w.Tag(TagSubscribeToStream)
	w.Hash(base.Hash(o.Publisher))
	o.Stream.Encode(w)
	w.Hash(base.Hash(o.App))
}

func (o *UnsubscribeFromStream) Encode(w *codec.Writer) {
	w.Tag(TagUnsubscribeFromStream)
	w.Hash(base.Hash(o.Publisher))
	o.Stream.Encode(w)
	w.Hash(base.Hash(o.App))
}

func (u *StreamUpdate) Encode(w *codec.Writer) {
	w.Hash(base.Hash(u.Publisher))
	u.Stream.Encode(w)
	w.U32(u.NextIndex)
}

func (u *StreamUpdate) Decode(r *codec.Reader) {
	u.Publisher = r.ChainID()
	u.Stream.Decode(r)
	u.NextIndex = r.U32()
}

func (o *UpdateStreams) Encode(w *codec.Writer) {
	w.Tag(TagUpdateStreams)
	codec.EncodeSlice(w, o.Updates, func(w *codec.Writer, u *StreamUpdate) { u.Encode(w) })
}

// decodeStreamOperation decodes the body of an event-stream system operation.
func decodeStreamOperation(r *codec.Reader, tag uint32) SystemOperation {
	switch tag {
	case TagSubscribeToStream:
		o := codec.New[SubscribeToStream](r)
		o.Publisher = r.ChainID()
		o.Stream.Decode(r)
		o.App = base.ApplicationID(r.Hash())
		return o
	case TagUnsubscribeFromStream:
		o := codec.New[UnsubscribeFromStream](r)
		o.Publisher = r.ChainID()
		o.Stream.Decode(r)
		o.App = base.ApplicationID(r.Hash())
		return o
	case TagUpdateStreams:
		o := codec.New[UpdateStreams](r)
		// 32-byte chain, option tag, name length, u32 index.
		o.Updates = codec.DecodeSlice(r, 38, func(r *codec.Reader, u *StreamUpdate) { u.Decode(r) })
		if len(o.Updates) > MaxStreamUpdates {
			r.Fail("%d stream updates, at most %d", len(o.Updates), MaxStreamUpdates)
		}
		return o
	}
	return nil
}

// CheckUserStream reports why s cannot be a user application's stream: it must name an
// application and have a name of 1 to MaxStreamNameLen bytes.
func CheckUserStream(s *StreamID) error {
	if s.App == nil {
		return base.Invalidf("stream has no application (system streams cannot be subscribed to)")
	}
	if len(s.Name) == 0 || len(s.Name) > MaxStreamNameLen {
		return base.Invalidf("stream name has %d bytes, want 1 to %d", len(s.Name), MaxStreamNameLen)
	}
	return nil
}
