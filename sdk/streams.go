package sdk

import (
	"errors"
	"fmt"

	"github.com/micachain/mica/sdk/internal/abi"
)

// Event streams. A contract emits events to named streams of its application on its
// own chain; each event gets the stream's next index (0, 1, 2, ...). Any contract or
// service can read an event by (chain, application, stream name, index). A contract
// subscribes its application to another chain's stream; when that chain emits, the
// subscriber's owner's client adds an UpdateStreams operation to the subscriber's
// next block (mica process-inbox does it), and the contract's ProcessStreams method
// (StreamProcessor) is called with the range of new indices, which it reads with
// ReadEvent. A subscription starts at index 0: the whole history is delivered.
//
// Limits: stream names are 1 to 64 bytes, event values at most 64 KiB, at most 1,024
// events per transaction, 1,024 subscriptions per chain.

// StreamUpdate tells ProcessStreams that the events [PreviousIndex, NextIndex) of
// stream (App, Stream) on chain Publisher are new to this application.
type StreamUpdate struct {
	Publisher     ChainID
	App           ApplicationID
	Stream        string
	PreviousIndex uint32
	NextIndex     uint32
}

// StreamProcessor is implemented by contracts that subscribe to event streams. A
// contract without it just has its subscriptions' cursors advanced.
//
//	func (c *Contract) ProcessStreams(rt *sdk.Runtime, updates []sdk.StreamUpdate) error {
//		for _, u := range updates {
//			for i := u.PreviousIndex; i < u.NextIndex; i++ {
//				post, err := rt.ReadEvent(u.Publisher, u.App, u.Stream, i)
//				if err != nil {
//					return err
//				}
//				// ... use post
//			}
//		}
//		return nil
//	}
type StreamProcessor interface {
	ProcessStreams(rt *Runtime, updates []StreamUpdate) error
}

// Emit appends value to this application's stream name on this chain and returns
// its index (contracts only). The host aborts the entry point if the name is empty or
// longer than 64 bytes, or the value larger than 64 KiB.
//
//	index := rt.Emit("posts", []byte("hello"))
func (rt *Runtime) Emit(name string, value []byte) uint32 {
	var e abi.Encoder
	e.VarBytes([]byte(name))
	e.VarBytes(value)
	d := rt.mustCall(abi.KindEmitEvent, e.Buf)
	i := d.U32()
	finish(abi.KindEmitEvent, d)
	return i
}

// ReadEvent returns event index of stream (app, name) on chain. In a contract the read
// is recorded in the block (an oracle); an event that does not exist (yet) aborts the
// entry point with a "missing event" error, so read only indices below a
// StreamUpdate's NextIndex. A service reads the local node's storage.
//
//	post, err := rt.ReadEvent(author, rt.ApplicationID(), "posts", 0)
func (rt *Runtime) ReadEvent(chain ChainID, app ApplicationID, name string, index uint32) ([]byte, error) {
	var e abi.Encoder
	e.Fixed(chain[:])
	e.Fixed(app[:])
	e.VarBytes([]byte(name))
	e.U32(index)
	return rt.call(abi.KindReadEvent, e.Buf)
}

// SubscribeToEvents subscribes this application (on this chain) to stream (app, name)
// of chain (contracts only). Subscribing again keeps the current position.
//
//	err := rt.SubscribeToEvents(author, rt.ApplicationID(), "posts")
func (rt *Runtime) SubscribeToEvents(chain ChainID, app ApplicationID, name string) error {
	return rt.streamSub(abi.KindSubscribeToEvents, chain, app, name)
}

// UnsubscribeFromEvents removes this application's subscription to stream (app, name)
// of chain (contracts only). The host aborts the entry point if there is none.
//
//	err := rt.UnsubscribeFromEvents(author, rt.ApplicationID(), "posts")
func (rt *Runtime) UnsubscribeFromEvents(chain ChainID, app ApplicationID, name string) error {
	return rt.streamSub(abi.KindUnsubscribeFromEvents, chain, app, name)
}

func (rt *Runtime) streamSub(kind uint32, chain ChainID, app ApplicationID, name string) error {
	var e abi.Encoder
	e.Fixed(chain[:])
	e.Fixed(app[:])
	e.VarBytes([]byte(name))
	_, err := rt.call(kind, e.Buf)
	return err
}

// DecodeStreamUpdates decodes the input of mica_process_streams.
func DecodeStreamUpdates(b []byte) ([]StreamUpdate, error) {
	d := abi.NewDecoder(b)
	n := d.Length(32 + 32 + 1 + 8)
	out := make([]StreamUpdate, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		var u StreamUpdate
		u.Publisher = d.Fixed32()
		u.App = d.Fixed32()
		u.Stream = string(d.VarBytes())
		u.PreviousIndex = d.U32()
		u.NextIndex = d.U32()
		out = append(out, u)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("sdk: stream updates: %w", err)
	}
	return out, nil
}

// EncodeStreamUpdates encodes updates as the host gives them to mica_process_streams
// (for test harnesses).
func EncodeStreamUpdates(updates []StreamUpdate) []byte {
	var e abi.Encoder
	e.Uleb(uint64(len(updates)))
	for _, u := range updates {
		e.Fixed(u.Publisher[:])
		e.Fixed(u.App[:])
		e.VarBytes([]byte(u.Stream))
		e.U32(u.PreviousIndex)
		e.U32(u.NextIndex)
	}
	return e.Buf
}

func processStreams(c ContractApp, rt *Runtime, input []byte) error {
	p, ok := asStreamProcessor(c)
	if !ok {
		return nil
	}
	updates, err := DecodeStreamUpdates(input)
	if err != nil {
		return err
	}
	if len(updates) == 0 {
		return errors.New("sdk: process streams without updates")
	}
	return p.ProcessStreams(rt, updates)
}
