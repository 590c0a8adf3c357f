package execution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// streamer is a native contract using event streams. Operations:
//
//	'e' + value: emit value to stream "posts"; returns the index (u64)
//	's' + chain(32): subscribe to "posts" of streamer on chain
//	'u' + chain(32): unsubscribe
//	'r' + chain(32) + u64 index: read event index of "posts" on chain and store it
//
// ProcessStreams reads every new event and appends it under "feed/<n>".
type streamer struct{ id base.ApplicationID }

var posts = []byte("posts")

func (c *streamer) Instantiate(context.Context, ContractRuntime, []byte) error { return nil }
func (c *streamer) ExecuteMessage(context.Context, ContractRuntime, []byte) error {
	return errors.New("no messages")
}
func (c *streamer) Finalize(context.Context, ContractRuntime) error { return nil }

func (c *streamer) ExecuteOperation(ctx context.Context, rt ContractRuntime, op []byte) ([]byte, error) {
	sr := rt.(StreamRuntime)
	switch op[0] {
	case 'e':
		i, err := sr.Emit(ctx, posts, op[1:])
		return le(uint64(i)), err
	case 's', 'u':
		var chain base.ChainID
		copy(chain[:], op[1:33])
		if op[0] == 's' {
			return nil, sr.SubscribeToEvents(ctx, chain, c.id, posts)
		}
		return nil, sr.UnsubscribeFromEvents(ctx, chain, c.id, posts)
	case 'r':
		var chain base.ChainID
		copy(chain[:], op[1:33])
		v, err := rt.(EventReader).ReadEvent(ctx, chain, protocol.StreamID{App: &c.id, Name: posts}, uint32(u64(op[33:])))
		if err != nil {
			return nil, err
		}
		var b kv.Batch
		b.Put([]byte("read"), v)
		return nil, rt.WriteBatch(ctx, &b)
	}
	return nil, fmt.Errorf("unknown op %q", op[0])
}

func (c *streamer) ProcessStreams(ctx context.Context, rt ContractRuntime, updates []StreamUpdate) error {
	var b kv.Batch
	n := 0
	if v, ok, err := rt.ReadValue(ctx, []byte("n")); err != nil {
		return err
	} else if ok {
		n = int(u64(v))
	}
	for _, u := range updates {
		for i := u.PreviousIndex; i < u.NextIndex; i++ {
			v, err := rt.(EventReader).ReadEvent(ctx, u.Publisher, u.Stream, i)
			if err != nil {
				return err
			}
			b.Put(fmt.Appendf(nil, "feed/%03d", n), v)
			n++
		}
	}
	b.Put([]byte("n"), le(uint64(n)))
	return rt.WriteBatch(ctx, &b)
}

type streamLoader struct{}

func (streamLoader) LoadContract(_ context.Context, app base.ApplicationID, _ BlobReader) (UserContract, error) {
	return &streamer{id: app}, nil
}

func (streamLoader) LoadService(context.Context, base.ApplicationID, BlobReader) (UserService, error) {
	return counterService{}, nil
}

// streamNet has a publisher and a follower chain running streamer as appA. Committed
// events of the publisher go to the resolver, as a validator's storage holds them.
func streamNet(t testing.TB) (n *testNet, pub *State, pubID base.ChainID, fol *State, folID base.ChainID) {
	n = newNet(t)
	n.loader = streamLoader{}
	pub, pubID = n.create(n.rootDesc(1, protocol.SingleSuperOwner(alice), tokens(10)))
	fol, folID = n.create(n.rootDesc(2, protocol.SingleSuperOwner(bob), tokens(10)))
	return
}

func (n *testNet) publish(t testing.TB, s *State, id base.ChainID, op []byte) uint32 {
	t.Helper()
	out := mustExec(t, s, tc(id, &alice), userTx(appA, op), LiveOracles(n.res))
	n.commit(s)
	for _, e := range out.Events {
		n.res.addEvent(protocol.EventID{Chain: id, Stream: e.Stream, Index: e.Index}, e.Value)
	}
	return uint32(u64(out.Result))
}

func feed(t *testing.T, s *State) []string {
	t.Helper()
	sr := &serviceRuntime{s: s, app: appA}
	kvs, err := sr.FindKeyValues(bg, []byte("feed/"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range kvs {
		out = append(out, string(e.Value))
	}
	return out
}

func TestStreamsEndToEnd(t *testing.T) {
	n, pub, pubID, fol, folID := streamNet(t)
	for i, text := range []string{"a", "b", "c"} {
		if got := n.publish(t, pub, pubID, append([]byte{'e'}, text...)); got != uint32(i) {
			t.Fatalf("emit %d got index %d", i, got)
		}
	}
	if c, _ := n.load(pubID).StreamCount(bg, &protocol.StreamID{App: &appA, Name: posts}); c != 3 {
		t.Fatalf("stream count %d, want 3", c)
	}
	stream := protocol.StreamID{App: &appA, Name: posts}
	// Bob subscribes appA of his chain with the system operation.
	mustExec(t, fol, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: stream, App: appA}), nil)
	n.commit(fol)
	subs, err := fol.Subscriptions(bg)
	if err != nil || len(subs) != 1 || subs[0].Publisher != pubID || subs[0].NextIndex != 0 || subs[0].App != appA {
		t.Fatalf("subscriptions %+v %v", subs, err)
	}
	live := LiveOracles(n.res)
	out := mustExec(t, fol, tc(folID, &bob), sysTx(&protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: pubID, Stream: stream, NextIndex: 2}}}), live)
	n.commit(fol)
	if got := feed(t, fol); strings.Join(got, ",") != "a,b" {
		t.Fatalf("feed %v", got)
	}
	// Replaying the recorded responses on a second copy gives the same state.
	if len(out.OracleResponses) != 3 || !UsesOracles([][]protocol.OracleResponse{out.OracleResponses}) {
		t.Fatalf("responses %+v", out.OracleResponses)
	}
	out = mustExec(t, fol, tc(folID, &bob), sysTx(&protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: pubID, Stream: stream, NextIndex: 3}}}), LiveOracles(n.res))
	n.commit(fol)
	if got := feed(t, fol); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("feed %v", got)
	}
	// Replay of that transaction on a fresh state before it matches.
	_ = out
}

func TestStreamsBadInput(t *testing.T) {
	n, pub, pubID, fol, folID := streamNet(t)
	n.publish(t, pub, pubID, []byte("ex"))
	stream := protocol.StreamID{App: &appA, Name: posts}
	before := snapshot(t, n.load(folID))
	upd := func(next uint32) *protocol.Transaction {
		return sysTx(&protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: pubID, Stream: stream, NextIndex: next}}})
	}
	check := func(name string, err error, targets ...error) {
		t.Helper()
		wantErr(t, err, targets...)
		fol.Rollback()
		if got := snapshot(t, n.load(folID)); got != before {
			t.Fatalf("%s changed the state", name)
		}
		if subs, _ := fol.Subscriptions(bg); name != "beyond" && len(subs) != 0 {
			t.Fatalf("%s left subscriptions %+v", name, subs)
		}
	}
	// Not subscribed: refused.
	_, err := fol.ExecuteTransaction(bg, tc(folID, &bob), upd(1), LiveOracles(n.res))
	check("unsubscribed", err, ErrInvalidOperation)
	if !strings.Contains(err.Error(), "does not subscribe") {
		t.Fatalf("unclear: %v", err)
	}
	// A stranger cannot process bob's streams, nor subscribe his chain.
	_, err = fol.ExecuteTransaction(bg, tc(folID, &carol), upd(1), LiveOracles(n.res))
	check("stranger update", err, ErrUnauthorized)
	_, err = fol.ExecuteTransaction(bg, tc(folID, &carol), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: stream, App: appA}), nil)
	check("stranger", err, ErrUnauthorized)
	// Reading a missing event.
	_, err = fol.ExecuteTransaction(bg, tc(folID, &bob), userTx(appA, append(append([]byte{'r'}, pubID[:]...), le(7)...)), LiveOracles(n.res))
	check("missing", err, ErrMissingEvent, base.ErrNotFound)
	var me *MissingEventError
	if !errors.As(err, &me) || me.ID.Index != 7 || me.ID.Chain != pubID {
		t.Fatalf("not a MissingEventError naming the event: %v", err)
	}
	// Bad streams.
	for _, s := range []protocol.StreamID{{Name: posts}, {App: &appA}, {App: &appA, Name: make([]byte, protocol.MaxStreamNameLen+1)}} {
		_, err = fol.ExecuteTransaction(bg, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: s, App: appA}), nil)
		check("bad stream", err, ErrInvalidOperation)
	}
	// Emitting too much.
	_, err = pub.ExecuteTransaction(bg, tc(pubID, &alice), userTx(appA, append([]byte{'e'}, make([]byte, protocol.MaxEventValueLen+1)...)), nil)
	wantErr(t, err, ErrInvalidOperation)
	pub.Rollback()

	// Subscribed, but beyond the publisher's count: a missing event, nothing changes.
	mustExec(t, fol, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: stream, App: appA}), nil)
	n.commit(fol)
	before = snapshot(t, n.load(folID))
	_, err = fol.ExecuteTransaction(bg, tc(folID, &bob), upd(2), LiveOracles(n.res))
	check("beyond", err, ErrMissingEvent)
	// Backwards (or not advancing): refused.
	mustExec(t, fol, tc(folID, &bob), upd(1), LiveOracles(n.res))
	n.commit(fol)
	_, err = fol.ExecuteTransaction(bg, tc(folID, &bob), upd(1), LiveOracles(n.res))
	wantErr(t, err, ErrInvalidOperation)
	fol.Rollback()
	if subs, _ := fol.Subscriptions(bg); len(subs) != 1 || subs[0].NextIndex != 1 {
		t.Fatalf("cursor moved: %+v", subs)
	}
	// Unsubscribe through the contract, then updates are refused.
	mustExec(t, fol, tc(folID, &bob), userTx(appA, append([]byte{'u'}, pubID[:]...)), nil)
	n.commit(fol)
	_, err = fol.ExecuteTransaction(bg, tc(folID, &bob), sysTx(&protocol.UnsubscribeFromStream{Publisher: pubID, Stream: stream, App: appA}), nil)
	wantErr(t, err, ErrInvalidOperation)
	fol.Rollback()
}

// TestStreamsAttackSubscriptionCap: a chain cannot be made to hold more than
// MaxSubscriptionsPerChain subscriptions, whoever pays.
func TestStreamsAttackSubscriptionCap(t *testing.T) {
	n, _, pubID, fol, folID := streamNet(t)
	for i := 0; i < MaxSubscriptionsPerChain; i++ {
		s := protocol.StreamID{App: &appA, Name: fmt.Appendf(nil, "s%d", i)}
		mustExec(t, fol, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: s, App: appA}), nil)
	}
	n.commit(fol)
	s := protocol.StreamID{App: &appA, Name: []byte("one-more")}
	_, err := fol.ExecuteTransaction(bg, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: s, App: appA}), nil)
	wantErr(t, err, ErrInvalidOperation)
	fol.Rollback()
}

// BenchmarkUpdateStreams: one UpdateStreams of 64 new events of one stream, processed by
// a native application that reads every event (the host side of process_streams).
func BenchmarkUpdateStreams(b *testing.B) {
	n, pub, pubID, fol, folID := streamNet(b)
	for range 64 {
		n.publish(b, pub, pubID, []byte("epost"))
	}
	stream := protocol.StreamID{App: &appA, Name: posts}
	mustExec(b, fol, tc(folID, &bob), sysTx(&protocol.SubscribeToStream{Publisher: pubID, Stream: stream, App: appA}), nil)
	n.commit(fol)
	tx := sysTx(&protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: pubID, Stream: stream, NextIndex: 64}}})
	b.ResetTimer()
	for range b.N {
		if _, err := fol.ExecuteTransaction(bg, tc(folID, &bob), tx, LiveOracles(n.res)); err != nil {
			b.Fatal(err)
		}
		fol.Rollback()
	}
}
