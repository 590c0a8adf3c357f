package execution

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// Event streams of user applications: emission (with a per-stream counter in the
// execution state), reads by index (recorded oracles in contracts), subscriptions of
// the chain's applications to other chains' streams, and the UpdateStreams system
// operation that advances them (reference notes §6.7).
//
// State (see State): P || 12 || encoded StreamID → u32 next index of that stream on this
// chain; P || 13 || publisher chain id (32 bytes) || encoded StreamID → the subscribed
// applications of this chain with their next index to process, sorted by application
// id; P || 14 → the number of subscriptions. Iteration is in key order, then
// application order, so it is deterministic, and an UpdateStreams reads one record per
// update. A new subscription starts at index 0: a follower processes the
// stream's whole history (in as many blocks as it takes, MaxStreamUpdates updates and
// the block limits per block).

// Bounds of the stream state a chain keeps and of what one transaction emits.
const (
	// MaxSubscriptionsPerChain bounds the subscriptions a chain holds (all
	// applications together). Only the chain's own owners or applications subscribe
	// it, and pay for the storage; the cap keeps the UpdateStreams scans small.
	MaxSubscriptionsPerChain = 1024
	// MaxEventsPerTransaction bounds the events one transaction emits.
	MaxEventsPerTransaction = 1024
	// subscriptionRecordBytes is the storage charged for a subscription record.
	subscriptionRecordBytes = 32 + 32 + protocol.MaxStreamNameLen + 4
	// streamCountRecordBytes is the storage charged for a stream counter update.
	streamCountRecordBytes = 4
)

// StreamUpdate is one stream's new events given to an application's ProcessStreams:
// the events [PreviousIndex, NextIndex) of Stream on chain Publisher.
type StreamUpdate struct {
	Publisher     base.ChainID
	Stream        protocol.StreamID
	PreviousIndex uint32
	NextIndex     uint32
}

// StreamProcessor is implemented by contracts that may have a process_streams entry
// point (the Wasm VM's contracts). A contract that does not implement it, or whose
// module has no such entry (HasProcessStreams false), just has its cursors advanced.
type StreamProcessor interface {
	ProcessStreams(ctx context.Context, rt ContractRuntime, updates []StreamUpdate) error
}

// EventReader is the optional runtime capability to read events by index: contracts
// read through the recorded oracles, services read the local storage. A missing event
// is a *MissingEventError. Both runtimes of this package implement it.
type EventReader interface {
	ReadEvent(ctx context.Context, chain base.ChainID, stream protocol.StreamID, index uint32) ([]byte, error)
}

// StreamRuntime is the optional contract runtime capability to emit events and manage
// the application's subscriptions. The contract runtime of this package implements it.
type StreamRuntime interface {
	// Emit appends value to the application's stream name on this chain and returns
	// its index.
	Emit(ctx context.Context, name []byte, value []byte) (uint32, error)
	// SubscribeToEvents subscribes the running application to stream (app, name) of
	// chain publisher.
	SubscribeToEvents(ctx context.Context, publisher base.ChainID, app base.ApplicationID, name []byte) error
	// UnsubscribeFromEvents removes that subscription.
	UnsubscribeFromEvents(ctx context.Context, publisher base.ChainID, app base.ApplicationID, name []byte) error
}

var u32Codec = views.FuncCodec[uint32]{
	EncodeFunc: func(w *codec.Writer, v uint32) { w.U32(v) },
	DecodeFunc: func(r *codec.Reader) uint32 { return r.U32() },
}

// appCursor is one subscribed application of a stream and its next index.
type appCursor struct {
	app  base.ApplicationID
	next uint32
}

var appCursorsCodec = views.FuncCodec[[]appCursor]{
	EncodeFunc: func(w *codec.Writer, cs []appCursor) {
		codec.EncodeSlice(w, cs, func(w *codec.Writer, c *appCursor) { w.Hash(base.Hash(c.app)); w.U32(c.next) })
	},
	DecodeFunc: func(r *codec.Reader) []appCursor {
		return codec.DecodeSlice(r, 36, func(r *codec.Reader, c *appCursor) { c.app = base.ApplicationID(r.Hash()); c.next = r.U32() })
	},
}

func streamKey(s *protocol.StreamID) string { return string(codec.Marshal(s)) }

func subscriptionKey(publisher base.ChainID, s *protocol.StreamID) string {
	return string(publisher[:]) + streamKey(s)
}

// Subscription is one subscription of an application of this chain.
type Subscription struct {
	Publisher base.ChainID
	Stream    protocol.StreamID
	App       base.ApplicationID
	// NextIndex is the index of the next event to process.
	NextIndex uint32
}

func parseSubscriptionKey(k string) (base.ChainID, protocol.StreamID, error) {
	var pub base.ChainID
	var stream protocol.StreamID
	if len(k) < 32 {
		return pub, stream, base.Corruptf("subscription key of %d bytes", len(k))
	}
	copy(pub[:], k[:32])
	if err := codec.Unmarshal([]byte(k[32:]), &stream); err != nil {
		return pub, stream, base.Corruptf("subscription key: %v", err)
	}
	return pub, stream, nil
}

// Subscriptions returns the chain's subscriptions sorted by (publisher, stream,
// application).
func (s *State) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var out []Subscription
	err := s.subscriptions.ForEach(ctx, func(k string, cs []appCursor) error {
		pub, stream, err := parseSubscriptionKey(k)
		if err != nil {
			return err
		}
		for _, c := range cs {
			out = append(out, Subscription{Publisher: pub, Stream: cloneStream(stream), App: c.app, NextIndex: c.next})
		}
		return nil
	})
	return out, err
}

// StreamCount returns the next index of stream on this chain (the number of events
// emitted to it so far).
func (s *State) StreamCount(ctx context.Context, stream *protocol.StreamID) (uint32, error) {
	n, _, err := s.streamCounts.Get(ctx, streamKey(stream))
	return n, err
}

// emit implements event emission for application app.
func (t *txn) emit(ctx context.Context, app base.ApplicationID, name, value []byte) (uint32, error) {
	stream := protocol.StreamID{App: &app, Name: bytes.Clone(name)}
	if err := protocol.CheckUserStream(&stream); err != nil {
		return 0, failf(ErrInvalidOperation, "emit: %v", err)
	}
	if len(value) > protocol.MaxEventValueLen {
		return 0, failf(ErrInvalidOperation, "emit: event value of %d bytes, at most %d", len(value), protocol.MaxEventValueLen)
	}
	if len(t.out.Events) >= MaxEventsPerTransaction {
		return 0, failf(ErrInvalidOperation, "emit: more than %d events in one transaction", MaxEventsPerTransaction)
	}
	if err := t.chargeOutcome(len(name)+len(value), "emit"); err != nil {
		return 0, err
	}
	index, err := t.s.StreamCount(ctx, &stream)
	if err != nil {
		return 0, err
	}
	if index == math.MaxUint32 {
		return 0, failf(ErrInvalidOperation, "emit: stream %q is full", name)
	}
	t.s.countSystemWrite(streamCountRecordBytes)
	t.s.streamCounts.Set(streamKey(&stream), index+1)
	t.out.Events = append(t.out.Events, protocol.Event{Stream: stream, Index: index, Value: append([]byte{}, value...)})
	return index, nil
}

// subscribe registers app's subscription to stream of publisher (a no-op if it
// exists).
func (t *txn) subscribe(ctx context.Context, publisher base.ChainID, stream protocol.StreamID, app base.ApplicationID) error {
	if err := protocol.CheckUserStream(&stream); err != nil {
		return failf(ErrInvalidOperation, "subscribe: %v", err)
	}
	if publisher.IsZero() {
		return failf(ErrInvalidOperation, "subscribe: publisher chain id is zero")
	}
	k := subscriptionKey(publisher, &stream)
	cs, _, err := t.s.subscriptions.Get(ctx, k)
	if err != nil {
		return err
	}
	i, found := slices.BinarySearchFunc(cs, app, func(c appCursor, a base.ApplicationID) int { return bytes.Compare(c.app[:], a[:]) })
	if found {
		return nil
	}
	n, err := t.s.subscriptionCount.Get(ctx)
	if err != nil {
		return err
	}
	if n >= MaxSubscriptionsPerChain {
		return failf(ErrInvalidOperation, "subscribe: the chain already holds %d subscriptions", n)
	}
	t.s.countSystemWrite(subscriptionRecordBytes)
	t.s.subscriptions.Set(k, slices.Insert(slices.Clone(cs), i, appCursor{app: app}))
	t.s.subscriptionCount.Set(n + 1)
	return nil
}

// unsubscribe removes app's subscription to stream of publisher.
func (t *txn) unsubscribe(ctx context.Context, publisher base.ChainID, stream protocol.StreamID, app base.ApplicationID) error {
	k := subscriptionKey(publisher, &stream)
	cs, _, err := t.s.subscriptions.Get(ctx, k)
	if err != nil {
		return err
	}
	i, found := slices.BinarySearchFunc(cs, app, func(c appCursor, a base.ApplicationID) int { return bytes.Compare(c.app[:], a[:]) })
	if !found {
		return failf(ErrInvalidOperation, "unsubscribe: application %s does not subscribe to stream %q of chain %s", app, stream.Name, publisher.Short())
	}
	n, err := t.s.subscriptionCount.Get(ctx)
	if err != nil {
		return err
	}
	t.s.countSystemWrite(4)
	if len(cs) == 1 {
		t.s.subscriptions.Delete(k)
	} else {
		t.s.subscriptions.Set(k, slices.Delete(slices.Clone(cs), i, i+1))
	}
	t.s.subscriptionCount.Set(n - 1)
	return nil
}

// subscribeOp implements the SubscribeToStream and UnsubscribeFromStream system
// operations: chain owners only.
func (t *txn) subscribeOp(ctx context.Context, op protocol.SystemOperation) error {
	switch op := op.(type) {
	case *protocol.SubscribeToStream:
		if err := t.checkChainOwner(ctx, "subscribing to a stream"); err != nil {
			return err
		}
		// The subscribing application must exist: UpdateStreams will load it.
		if _, err := t.contract(ctx, op.App); err != nil {
			return fmt.Errorf("subscribe application %s: %w", op.App, err)
		}
		return t.subscribe(ctx, op.Publisher, cloneStream(op.Stream), op.App)
	case *protocol.UnsubscribeFromStream:
		if err := t.checkChainOwner(ctx, "unsubscribing from a stream"); err != nil {
			return err
		}
		return t.unsubscribe(ctx, op.Publisher, cloneStream(op.Stream), op.App)
	}
	return failf(ErrInvalidOperation, "unknown stream operation %T", op)
}

// updateStreams implements UpdateStreams: check each update against the
// subscriptions, check (through the oracles) that the last new event exists, advance
// the cursors, then call each subscribed application's ProcessStreams once with its
// updates, in application id order.
func (t *txn) updateStreams(ctx context.Context, op *protocol.UpdateStreams) error {
	if err := t.checkChainOwner(ctx, "processing streams"); err != nil {
		return err
	}
	if len(op.Updates) == 0 {
		return failf(ErrInvalidOperation, "update streams: no updates")
	}
	if len(op.Updates) > protocol.MaxStreamUpdates {
		return failf(ErrInvalidOperation, "update streams: %d updates, at most %d", len(op.Updates), protocol.MaxStreamUpdates)
	}
	perApp := map[base.ApplicationID][]StreamUpdate{}
	var apps []base.ApplicationID
	for i := range op.Updates {
		u := &op.Updates[i]
		stream := cloneStream(u.Stream)
		if err := protocol.CheckUserStream(&stream); err != nil {
			return failf(ErrInvalidOperation, "update streams: update %d: %v", i, err)
		}
		k := subscriptionKey(u.Publisher, &stream)
		cs, subscribed, err := t.s.subscriptions.Get(ctx, k)
		if err != nil {
			return err
		}
		if !subscribed || len(cs) == 0 {
			return failf(ErrInvalidOperation, "update streams: the chain does not subscribe to stream %q of chain %s", stream.Name, u.Publisher.Short())
		}
		var behind []appCursor
		for _, c := range cs {
			if c.next < u.NextIndex {
				behind = append(behind, c)
			}
		}
		if len(behind) == 0 {
			return failf(ErrInvalidOperation, "update streams: stream %q of chain %s is already processed up to index %d or beyond", stream.Name, u.Publisher.Short(), u.NextIndex)
		}
		// The publisher must have emitted event NextIndex-1 (and so every earlier one).
		if _, err := t.oracles.ReadEvent(ctx, protocol.EventID{Chain: u.Publisher, Stream: cloneStream(stream), Index: u.NextIndex - 1}); err != nil {
			return err
		}
		moved := slices.Clone(cs)
		for i := range moved {
			if moved[i].next < u.NextIndex {
				moved[i].next = u.NextIndex
			}
		}
		t.s.countSystemWrite(4 * len(behind))
		t.s.subscriptions.Set(k, moved)
		for _, c := range behind {
			if _, ok := perApp[c.app]; !ok {
				apps = append(apps, c.app)
			}
			perApp[c.app] = append(perApp[c.app], StreamUpdate{Publisher: u.Publisher, Stream: cloneStream(stream), PreviousIndex: c.next, NextIndex: u.NextIndex})
		}
	}
	sortAppIDs(apps)
	for _, app := range apps {
		if err := t.processStreams(ctx, app, perApp[app]); err != nil {
			return err
		}
	}
	return nil
}

// processStreams calls app's ProcessStreams when its contract has one.
func (t *txn) processStreams(ctx context.Context, app base.ApplicationID, updates []StreamUpdate) error {
	c, err := t.contract(ctx, app)
	if err != nil {
		return err
	}
	p, ok := c.(StreamProcessor)
	if !ok {
		return nil
	}
	rt := &contractRuntime{t: t, app: app, owner: cloneOwnerPtr(t.tc.AuthenticatedOwner)}
	return t.call(app, func() error { return p.ProcessStreams(ctx, rt, updates) })
}

func sortAppIDs(apps []base.ApplicationID) {
	slices.SortFunc(apps, func(a, b base.ApplicationID) int { return bytes.Compare(a[:], b[:]) })
}

// Contract runtime: StreamRuntime and EventReader.

var (
	_ StreamRuntime = (*contractRuntime)(nil)
	_ EventReader   = (*contractRuntime)(nil)
	_ EventReader   = (*serviceRuntime)(nil)
)

func (r *contractRuntime) Emit(ctx context.Context, name, value []byte) (uint32, error) {
	return r.t.emit(ctx, r.app, name, value)
}

func (r *contractRuntime) SubscribeToEvents(ctx context.Context, publisher base.ChainID, app base.ApplicationID, name []byte) error {
	return r.t.subscribe(ctx, publisher, protocol.StreamID{App: &app, Name: bytes.Clone(name)}, r.app)
}

func (r *contractRuntime) UnsubscribeFromEvents(ctx context.Context, publisher base.ChainID, app base.ApplicationID, name []byte) error {
	return r.t.unsubscribe(ctx, publisher, protocol.StreamID{App: &app, Name: bytes.Clone(name)}, r.app)
}

// ReadEvent reads an event through the oracles (recorded in the block).
func (r *contractRuntime) ReadEvent(ctx context.Context, chain base.ChainID, stream protocol.StreamID, index uint32) ([]byte, error) {
	if err := protocol.CheckUserStream(&stream); err != nil {
		return nil, failf(ErrInvalidOperation, "read event: %v", err)
	}
	return r.t.oracles.ReadEvent(ctx, protocol.EventID{Chain: chain, Stream: cloneStream(stream), Index: index})
}

// ReadEvent reads an event from the local storage (queries record nothing).
func (r *serviceRuntime) ReadEvent(ctx context.Context, chain base.ChainID, stream protocol.StreamID, index uint32) ([]byte, error) {
	if err := protocol.CheckUserStream(&stream); err != nil {
		return nil, failf(ErrInvalidOperation, "read event: %v", err)
	}
	id := protocol.EventID{Chain: chain, Stream: cloneStream(stream), Index: index}
	if r.blobs.r == nil {
		return nil, &MissingEventError{ID: id}
	}
	v, err := r.blobs.r.ReadEvent(ctx, id)
	if err != nil {
		if base.IsNotFound(err) {
			return nil, &MissingEventError{ID: id}
		}
		return nil, fmt.Errorf("read event %d of chain %s: %w", index, chain.Short(), err)
	}
	return bytes.Clone(nonNil(v)), nil
}
