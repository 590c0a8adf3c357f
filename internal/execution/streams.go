package execution

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"

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
// chain; P || 13 || subscription key → u32 next index to process, where the
// subscription key is publisher chain id (32 bytes) || encoded StreamID || subscribing
// application id (32 bytes). Both are scanned in key order, so iteration is
// deterministic. A new subscription starts at index 0: a follower processes the
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

func streamKey(s *protocol.StreamID) string { return string(codec.Marshal(s)) }

func subscriptionPrefix(publisher base.ChainID, s *protocol.StreamID) string {
	return string(publisher[:]) + streamKey(s)
}

func subscriptionKey(publisher base.ChainID, s *protocol.StreamID, app base.ApplicationID) string {
	return subscriptionPrefix(publisher, s) + string(app[:])
}

// Subscription is one subscription of an application of this chain.
type Subscription struct {
	Publisher base.ChainID
	Stream    protocol.StreamID
	App       base.ApplicationID
	// NextIndex is the index of the next event to process.
	NextIndex uint32
}

func parseSubscription(k string, next uint32) (Subscription, error) {
	b := []byte(k)
	if len(b) < 64 {
		return Subscription{}, base.Corruptf("subscription key of %d bytes", len(b))
	}
	sub := Subscription{NextIndex: next}
	copy(sub.Publisher[:], b[:32])
	copy(sub.App[:], b[len(b)-32:])
	if err := codec.Unmarshal(b[32:len(b)-32], &sub.Stream); err != nil {
		return Subscription{}, base.Corruptf("subscription key: %v", err)
	}
	return sub, nil
}

// Subscriptions returns the chain's subscriptions in key order (publisher, stream,
// application).
func (s *State) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var out []Subscription
	err := s.subscriptions.ForEach(ctx, func(k string, next uint32) error {
		sub, err := parseSubscription(k, next)
		if err != nil {
			return err
		}
		out = append(out, sub)
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
	k := subscriptionKey(publisher, &stream, app)
	ok, err := t.s.subscriptions.Contains(ctx, k)
	if err != nil || ok {
		return err
	}
	n := 0
	if err := t.s.subscriptions.ForEach(ctx, func(string, uint32) error { n++; return nil }); err != nil {
		return err
	}
	if n >= MaxSubscriptionsPerChain {
		return failf(ErrInvalidOperation, "subscribe: the chain already holds %d subscriptions", n)
	}
	t.s.countSystemWrite(subscriptionRecordBytes)
	t.s.subscriptions.Set(k, 0)
	return nil
}

// unsubscribe removes app's subscription to stream of publisher.
func (t *txn) unsubscribe(ctx context.Context, publisher base.ChainID, stream protocol.StreamID, app base.ApplicationID) error {
	k := subscriptionKey(publisher, &stream, app)
	ok, err := t.s.subscriptions.Contains(ctx, k)
	if err != nil {
		return err
	}
	if !ok {
		return failf(ErrInvalidOperation, "unsubscribe: application %s does not subscribe to stream %q of chain %s", app, stream.Name, publisher.Short())
	}
	t.s.countSystemWrite(4)
	t.s.subscriptions.Delete(k)
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
		prefix := subscriptionPrefix(u.Publisher, &stream)
		var subs []Subscription
		subscribed := false
		err := t.s.subscriptions.ForEach(ctx, func(k string, next uint32) error {
			if !strings.HasPrefix(k, prefix) || len(k) != len(prefix)+32 {
				return nil
			}
			subscribed = true
			sub, err := parseSubscription(k, next)
			if err != nil {
				return err
			}
			if sub.NextIndex < u.NextIndex {
				subs = append(subs, sub)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !subscribed {
			return failf(ErrInvalidOperation, "update streams: the chain does not subscribe to stream %q of chain %s", stream.Name, u.Publisher.Short())
		}
		if len(subs) == 0 {
			return failf(ErrInvalidOperation, "update streams: stream %q of chain %s is already processed up to index %d or beyond", stream.Name, u.Publisher.Short(), u.NextIndex)
		}
		// The publisher must have emitted event NextIndex-1 (and so every earlier one).
		if _, err := t.oracles.ReadEvent(ctx, protocol.EventID{Chain: u.Publisher, Stream: cloneStream(stream), Index: u.NextIndex - 1}); err != nil {
			return err
		}
		for _, sub := range subs {
			t.s.countSystemWrite(4)
			t.s.subscriptions.Set(subscriptionKey(u.Publisher, &stream, sub.App), u.NextIndex)
			if _, ok := perApp[sub.App]; !ok {
				apps = append(apps, sub.App)
			}
			perApp[sub.App] = append(perApp[sub.App], StreamUpdate{Publisher: u.Publisher, Stream: cloneStream(stream), PreviousIndex: sub.NextIndex, NextIndex: u.NextIndex})
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
	for i := 1; i < len(apps); i++ {
		for j := i; j > 0 && bytes.Compare(apps[j][:], apps[j-1][:]) < 0; j-- {
			apps[j], apps[j-1] = apps[j-1], apps[j]
		}
	}
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
