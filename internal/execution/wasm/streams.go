package wasm

import (
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// Event streams in the ABI: kinds 17 (emit), 18 (read event), 29 (subscribe), 30
// (unsubscribe), and the optional entry point mica_process_streams (see doc.go).

// readEventCall serves KindReadEvent for contracts (through the recorded oracles) and
// services (from local storage). A missing event aborts the run with a
// *execution.MissingEventError: a contract never sees "not found", which would make its
// outcome depend on how far a validator has synced.
func readEventCall(ctx context.Context, rt execution.BaseRuntime, r *codec.Reader, w *codec.Writer) error {
	chain := r.ChainID()
	app := base.ApplicationID(r.Hash())
	name := r.VarBytes()
	index := r.U32()
	if err := finish(r); err != nil {
		return err
	}
	er, ok := rt.(execution.EventReader)
	if !ok {
		return fmt.Errorf("%w: this runtime cannot read events", ErrNotSupported)
	}
	v, err := er.ReadEvent(ctx, chain, protocol.StreamID{App: &app, Name: name}, index)
	if err != nil {
		return err
	}
	w.Fixed(v)
	return nil
}

// streamCall serves the contract-only stream kinds.
func streamCall(ctx context.Context, rt execution.ContractRuntime, kind Kind, r *codec.Reader, w *codec.Writer) error {
	sr, ok := rt.(execution.StreamRuntime)
	if !ok {
		return fmt.Errorf("%w: this runtime has no event streams", ErrNotSupported)
	}
	switch kind {
	case KindEmitEvent:
		name, value := r.VarBytes(), r.VarBytes()
		if err := finish(r); err != nil {
			return err
		}
		i, err := sr.Emit(ctx, name, value)
		if err != nil {
			return err
		}
		w.U32(i)
	case KindSubscribeToEvents, KindUnsubscribeFromEvents:
		chain := r.ChainID()
		app := base.ApplicationID(r.Hash())
		name := r.VarBytes()
		if err := finish(r); err != nil {
			return err
		}
		if kind == KindSubscribeToEvents {
			return sr.SubscribeToEvents(ctx, chain, app, name)
		}
		return sr.UnsubscribeFromEvents(ctx, chain, app, name)
	}
	return nil
}

// EncodeStreamUpdates encodes the input of mica_process_streams: Vec<([32] publisher,
// [32] application, VarBytes name, u32 previous index, u32 next index)>.
func EncodeStreamUpdates(updates []execution.StreamUpdate) []byte {
	w := codec.NewWriter(nil)
	w.Length(len(updates))
	for _, u := range updates {
		w.Hash(base.Hash(u.Publisher))
		var app base.ApplicationID
		if u.Stream.App != nil {
			app = *u.Stream.App
		}
		w.Hash(base.Hash(app))
		w.VarBytes(u.Stream.Name)
		w.U32(u.PreviousIndex)
		w.U32(u.NextIndex)
	}
	return w.Bytes()
}

var _ execution.StreamProcessor = (*Contract)(nil)

// ProcessStreams calls mica_process_streams when the module exports it; otherwise it
// does nothing (the cursors still advance).
func (c *Contract) ProcessStreams(ctx context.Context, rt execution.ContractRuntime, updates []execution.StreamUpdate) error {
	if !c.module.HasEntry(EntryProcessStreams) {
		return nil
	}
	_, err := c.run(ctx, rt, EntryProcessStreams, EncodeStreamUpdates(updates))
	return err
}
