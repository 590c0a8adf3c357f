package execution

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Resolver gives access to shared data: blobs and events (stored globally by the
// validator, not in chain state). A missing blob or event is an error of class
// base.ErrNotFound.
type Resolver interface {
	ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error)
	ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error)
}

// BlobReader reads blobs; *Oracles implements it, recording every read.
type BlobReader interface {
	ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error)
}

// BlobChecker is an optional capability of a BlobReader: CheckBlob records (or replays)
// the same oracle response as ReadBlob and fails the same way for a missing blob, but
// does not return the content. A loader that already holds what a blob gives (the
// compiled module of a bytecode blob: a blob id is the hash of its content) uses it to
// avoid reading and copying megabytes of bytecode on every call.
type BlobChecker interface {
	CheckBlob(ctx context.Context, id base.BlobID) error
}

// BlobPresence is an optional capability of a Resolver: HasBlob reports whether a blob
// can be read, without reading its content. A Resolver without it is asked ReadBlob.
type BlobPresence interface {
	HasBlob(ctx context.Context, id base.BlobID) (bool, error)
}

// Oracles is the source of every non-deterministic input of an execution: reads of blobs
// and of other chains' events.
//
// In live mode (validating a fresh proposal) it queries the Resolver and records each
// response. In replay mode (executing a certified block, or re-executing a block whose
// outcome is known) it returns the recorded responses in order and fails with
// ErrOracleMismatch if the execution asks for anything else; Finish then fails if recorded
// responses were left unused. Blob contents are content-addressed, so in both modes they
// come from the Resolver; a replayed read only checks that the same blob is asked for.
//
// One Oracles may serve one transaction or a whole block: ExecuteTransaction reports the
// responses recorded or consumed during that transaction in TxOutcome.OracleResponses.
// An Oracles is not safe for concurrent use.
type Oracles struct {
	resolver Resolver
	replay   bool
	// responses are the recorded responses: appended in live mode, given in replay mode.
	responses []protocol.OracleResponse
	// next is the index of the next response to consume (replay) or the number recorded
	// (live).
	next int
	// env serves the outside-world oracles in live mode (oracles_ext.go).
	env LiveEnv
}

// LiveOracles returns oracles that query r and record the responses.
func LiveOracles(r Resolver) *Oracles { return &Oracles{resolver: r} }

// ReplayOracles returns oracles that answer with the recorded responses, in order. It
// does not copy recorded, which must not change while the oracles are in use.
func ReplayOracles(r Resolver, recorded []protocol.OracleResponse) *Oracles {
	return &Oracles{resolver: r, replay: true, responses: recorded}
}

// InitLive sets o to what LiveOraclesWith(r, env) returns, for a caller that allocates
// the Oracles of many transactions at once (one slice per block).
func (o *Oracles) InitLive(r Resolver, env LiveEnv) { *o = Oracles{resolver: r, env: env} }

// InitReplay sets o to what ReplayOracles(r, recorded) returns.
func (o *Oracles) InitReplay(r Resolver, recorded []protocol.OracleResponse) {
	*o = Oracles{resolver: r, replay: true, responses: recorded}
}

// IsReplay reports whether the oracles replay recorded responses.
func (o *Oracles) IsReplay() bool { return o.replay }

// Responses returns the responses recorded (live) or consumed (replay) so far. The slice
// belongs to the oracles.
func (o *Oracles) Responses() []protocol.OracleResponse { return o.responses[:o.next] }

// Finish checks that a replay consumed every recorded response. It is a no-op in live
// mode.
func (o *Oracles) Finish() error {
	if o.replay && o.next != len(o.responses) {
		return failf(ErrOracleMismatch, "%d recorded oracle responses were not used", len(o.responses)-o.next)
	}
	return nil
}

// mark returns the current position, to slice out a transaction's responses later.
func (o *Oracles) mark() int { return o.next }

// since returns a copy of the responses recorded or consumed since mark m.
func (o *Oracles) since(m int) []protocol.OracleResponse {
	if o.next <= m {
		return nil
	}
	return append([]protocol.OracleResponse(nil), o.responses[m:o.next]...)
}

// expect consumes the next recorded response in replay mode, checking its kind.
func (o *Oracles) expect(kind protocol.OracleKind, what string) (*protocol.OracleResponse, error) {
	if o.next >= len(o.responses) {
		return nil, failf(ErrOracleMismatch, "execution reads %s but no recorded response is left", what)
	}
	r := &o.responses[o.next]
	if r.Kind != kind {
		return nil, failf(ErrOracleMismatch, "execution reads %s but the next recorded response is of kind %d", what, r.Kind)
	}
	return r, nil
}

// ReadBlob returns a blob and records (or checks) an OracleBlob response. A missing
// blob is a *MissingBlobError.
func (o *Oracles) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if o == nil || o.resolver == nil {
		return protocol.Blob{}, &MissingBlobError{ID: id}
	}
	if o.replay {
		r, err := o.expect(protocol.OracleBlob, "blob "+id.String())
		if err != nil {
			return protocol.Blob{}, err
		}
		if r.Blob != id {
			return protocol.Blob{}, failf(ErrOracleMismatch, "execution reads blob %s but the recorded response is blob %s", id, r.Blob)
		}
	}
	blob, err := readBlob(ctx, o.resolver, id)
	if err != nil {
		return protocol.Blob{}, err
	}
	if o.replay {
		o.next++
	} else {
		o.record(protocol.OracleResponse{Kind: protocol.OracleBlob, Blob: id})
	}
	return blob, nil
}

// CheckBlob is ReadBlob without the content: the same response is recorded (or
// checked) and a missing blob is the same *MissingBlobError.
func (o *Oracles) CheckBlob(ctx context.Context, id base.BlobID) error {
	if o == nil || o.resolver == nil {
		return &MissingBlobError{ID: id}
	}
	p, ok := o.resolver.(BlobPresence)
	if !ok {
		_, err := o.ReadBlob(ctx, id)
		return err
	}
	if o.replay {
		r, err := o.expect(protocol.OracleBlob, "blob "+id.String())
		if err != nil {
			return err
		}
		if r.Blob != id {
			return failf(ErrOracleMismatch, "execution reads blob %s but the recorded response is blob %s", id, r.Blob)
		}
	}
	has, err := p.HasBlob(ctx, id)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", id, err)
	}
	if !has {
		return &MissingBlobError{ID: id}
	}
	if o.replay {
		o.next++
	} else {
		o.record(protocol.OracleResponse{Kind: protocol.OracleBlob, Blob: id})
	}
	return nil
}

// ReadEvent returns the value of an event and records (or replays) an OracleEvent
// response. A missing event is a *MissingEventError (live mode only: replay never asks the
// resolver).
func (o *Oracles) ReadEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	if o == nil {
		return nil, &MissingEventError{ID: id}
	}
	if o.replay {
		r, err := o.expect(protocol.OracleEvent, fmt.Sprintf("event %d", id.Index))
		if err != nil {
			return nil, err
		}
		if !sameEventID(&r.Event, &id) {
			return nil, failf(ErrOracleMismatch, "execution reads event %d of chain %s but the recorded response is event %d of chain %s",
				id.Index, id.Chain.Short(), r.Event.Index, r.Event.Chain.Short())
		}
		o.next++
		return bytes.Clone(nonNil(r.Value)), nil
	}
	if o.resolver == nil {
		return nil, &MissingEventError{ID: id}
	}
	v, err := o.resolver.ReadEvent(ctx, id)
	if err != nil {
		if base.IsNotFound(err) {
			return nil, &MissingEventError{ID: id}
		}
		return nil, fmt.Errorf("read event %d of chain %s: %w", id.Index, id.Chain.Short(), err)
	}
	v = bytes.Clone(nonNil(v))
	o.record(protocol.OracleResponse{Kind: protocol.OracleEvent, Event: cloneEventID(id), Value: bytes.Clone(v)})
	return v, nil
}

// IsOracle reports whether a recorded response is an oracle in the sense of the
// consensus rules: an answer that validators may see differently, which keeps a block
// out of the fast round. A blob read is not one: a blob is content-addressed (its id is
// the hash of its content), so reading it, the bytecode and description of an
// application included, gives the same bytes to every validator; a validator that lacks
// the blob refuses to vote until it gets it (a missing blob, never a different answer).
// Blob reads are still recorded, so that replay checks that the same blobs are read, and
// a certified block's blobs are confirmed by the time it is replayed. Events, HTTP
// responses, service answers and assertions on the clock are oracles.
func IsOracle(r *protocol.OracleResponse) bool { return r.Kind != protocol.OracleBlob }

// UsesOracles reports whether a block's oracle responses (one list per transaction)
// hold an oracle (IsOracle): such a block may not be proposed in the fast round.
func UsesOracles(responses [][]protocol.OracleResponse) bool {
	for _, rs := range responses {
		for i := range rs {
			if IsOracle(&rs[i]) {
				return true
			}
		}
	}
	return false
}

// record appends a live response.
func (o *Oracles) record(r protocol.OracleResponse) {
	o.responses = append(o.responses[:o.next], r)
	o.next++
}

// readBlob reads a blob from the resolver (not as an oracle) and checks its type.
func readBlob(ctx context.Context, r Resolver, id base.BlobID) (protocol.Blob, error) {
	if r == nil {
		return protocol.Blob{}, &MissingBlobError{ID: id}
	}
	blob, err := r.ReadBlob(ctx, id)
	if err != nil {
		if base.IsNotFound(err) {
			return protocol.Blob{}, &MissingBlobError{ID: id}
		}
		var mb *MissingBlobError
		if errors.As(err, &mb) {
			return protocol.Blob{}, err
		}
		return protocol.Blob{}, fmt.Errorf("read blob %s: %w", id, err)
	}
	if blob.Type != id.Type {
		return protocol.Blob{}, base.Corruptf("blob %s is stored with type %s", id, blob.Type)
	}
	return blob, nil
}

func sameEventID(a, b *protocol.EventID) bool {
	return bytes.Equal(codec.Marshal(a), codec.Marshal(b))
}

func cloneEventID(id protocol.EventID) protocol.EventID {
	out := id
	if id.Stream.App != nil {
		app := *id.Stream.App
		out.Stream.App = &app
	}
	out.Stream.Name = bytes.Clone(nonNil(id.Stream.Name))
	return out
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
