package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

type feedView struct {
	Data struct {
		Feed []struct {
			Author string `json:"author"`
			Text   string `json:"text"`
		} `json:"feed"`
	} `json:"data"`
}

func feedTexts(t *testing.T, n *net, chain base.ChainID, app base.ApplicationID) []string {
	t.Helper()
	var v feedView
	raw := queryAll(t, n, chain, app, "{ feed { author text } }")
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var out []string
	for _, e := range v.Data.Feed {
		out = append(out, e.Text)
	}
	return out
}

// TestSocialStreams runs the social example over an in-process network: two followers
// subscribe to an author's posts; a follower that was offline while the author posted
// catches up with one ProcessInbox; bad stream updates are clear execution errors; a
// stranger's stream the chain does not follow is never processed.
func TestSocialStreams(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx := context.Background()
	contract, service := buildExample(t, "social")
	engine := exampleEngine(t)
	ka, k1, k2, ks := prototest.Key("author"), prototest.Key("f1"), prototest.Key("f2"), prototest.Key("stranger")
	n := newNetWithLoader(t, []*crypto.PrivateKey{ka, k1, k2, ks}, base.Tokens(100), wasm.NewLoader(engine, 0))
	author := n.client().Chain(n.chains[0], ka, nil)
	f1 := n.client().Chain(n.chains[1], k1, nil)
	f2 := n.client().Chain(n.chains[2], k2, nil)
	stranger := n.client().Chain(n.chains[3], ks, nil)
	app := createApp(t, author, contract, service, "")

	follow := `{"follow":{"chain":"` + n.chains[0].String() + `"}}`
	appOp(t, f1, app, follow)
	appOp(t, f2, app, follow)
	appOp(t, author, app, `{"post":{"text":"hello"}}`)
	appOp(t, author, app, `{"post":{"text":"world"}}`)
	processInbox(t, f1, "follower 1")
	if got := feedTexts(t, n, n.chains[1], app); len(got) != 2 || got[0] != "hello" || got[1] != "world" {
		t.Fatalf("follower 1 feed %v", got)
	}
	// Nothing new: ProcessInbox does nothing.
	if cert, err := f1.ProcessInbox(ctx); err != nil || cert != nil {
		t.Fatalf("second process-inbox: %v, %v", cert, err)
	}
	// Follower 2 did nothing while three posts happened; one ProcessInbox catches up.
	appOp(t, author, app, `{"post":{"text":"again"}}`)
	processInbox(t, f2, "follower 2")
	if got := feedTexts(t, n, n.chains[2], app); len(got) != 3 || got[2] != "again" {
		t.Fatalf("follower 2 feed %v", got)
	}
	processInbox(t, f1, "follower 1 (third post)")
	if got := feedTexts(t, n, n.chains[1], app); len(got) != 3 {
		t.Fatalf("follower 1 feed %v", got)
	}

	// Many posts in one block: the follower takes them in blocks of at most
	// MaxEventsPerStreamUpdate events per stream, all in one ProcessInbox.
	var many []protocol.Operation
	for range client.MaxEventsPerStreamUpdate + 6 {
		many = append(many, protocol.Operation{App: app, Bytes: []byte(`{"post":{"text":"bulk"}}`)})
	}
	if _, err := author.ExecuteOperations(ctx, many, nil); err != nil {
		t.Fatal(err)
	}
	info, err := n.workers[0].HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[1]})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f1.ProcessInbox(ctx)
	if err != nil || cert == nil || cert.Height() != info.NextBlockHeight+1 {
		t.Fatalf("bulk process-inbox: %v (next height %d before)", err, info.NextBlockHeight)
	}
	if got := feedTexts(t, n, n.chains[1], app); len(got) != 3+client.MaxEventsPerStreamUpdate+6 {
		t.Fatalf("follower 1 feed has %d entries", len(got))
	}

	// A validator that was down while the author posted lacks the events: the
	// follower's client brings it up to date and it votes for the follower's block.
	n.node(3).off.Store(true)
	appOp(t, author, app, `{"post":{"text":"while one validator was down"}}`)
	n.node(3).off.Store(false)
	cert, err = f1.ProcessInbox(ctx)
	if err != nil || cert == nil {
		t.Fatalf("process-inbox with a lagging validator: %v", err)
	}
	for i, h := range n.blockHashes(n.chains[1], cert.Height()) {
		if h != cert.Hash() {
			t.Fatalf("validator %d has %s at the follower's height %d, want %s", i, h.Short(), cert.Height(), cert.Hash().Short())
		}
	}
	feedLen := 3 + client.MaxEventsPerStreamUpdate + 6 + 1

	// Bad input, proposed directly: clear execution errors, no state change.
	stream := protocol.StreamID{App: &app, Name: []byte("posts")}
	for _, c := range []struct {
		name string
		op   protocol.SystemOperation
		want error
	}{
		{"beyond the publisher's count", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[0], Stream: stream, NextIndex: 1000}}}, execution.ErrMissingEvent},
		{"not advancing", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[0], Stream: stream, NextIndex: 2}}}, execution.ErrInvalidOperation},
		{"no updates", &protocol.UpdateStreams{}, execution.ErrInvalidOperation},
		{"unsubscribed stream", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[3], Stream: stream, NextIndex: 1}}}, execution.ErrInvalidOperation},
	} {
		_, err := f1.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(c.op)}, nil)
		if err == nil || !errors.Is(err, c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if got := feedTexts(t, n, n.chains[1], app); len(got) != feedLen {
		t.Fatalf("bad updates changed the feed: %d entries", len(got))
	}
	// Unfollowing a chain not followed: refused.
	if _, err := f1.ExecuteOperations(ctx, []protocol.Operation{{App: app, Bytes: []byte(`{"unfollow":{"chain":"` + n.chains[3].String() + `"}}`)}}, nil); err == nil {
		t.Fatal("unfollowing a chain not followed was accepted")
	}

	// Attack: a stranger posts to its own "posts" stream of the same application; the
	// followers do not follow it, so ProcessInbox pulls nothing from it.
	for range 3 {
		appOp(t, stranger, app, `{"post":{"text":"spam"}}`)
	}
	if cert, err := f1.ProcessInbox(ctx); err != nil || cert != nil {
		t.Fatalf("process-inbox after the stranger's posts: %v, %v", cert, err)
	}
	if got := feedTexts(t, n, n.chains[1], app); len(got) != feedLen {
		t.Fatalf("the stranger's posts reached the feed: %d entries", len(got))
	}
}

// hub fans the workers' notifications out to subscribers, as the proxies' streams do.
type hub struct {
	mu   sync.Mutex
	subs map[int]hubSub
	next int
}

type hubSub struct {
	chains map[base.ChainID]bool
	fn     func(protocol.Notification)
}

func (h *hub) publish(n protocol.Notification) {
	h.mu.Lock()
	var fns []func(protocol.Notification)
	for _, s := range h.subs {
		if s.chains[n.ChainID] {
			fns = append(fns, s.fn)
		}
	}
	h.mu.Unlock()
	for _, fn := range fns {
		go fn(n)
	}
}

// notifyingNode is a deliveringNode that also streams its worker's notifications.
type notifyingNode struct {
	*deliveringNode
	hub *hub
}

func (n notifyingNode) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	set := map[base.ChainID]bool{}
	for _, c := range chains {
		set[c] = true
	}
	n.hub.mu.Lock()
	id := n.hub.next
	n.hub.next++
	n.hub.subs[id] = hubSub{chains: set, fn: fn}
	n.hub.mu.Unlock()
	<-ctx.Done()
	n.hub.mu.Lock()
	delete(n.hub.subs, id)
	n.hub.mu.Unlock()
	return ctx.Err()
}

// TestListenStreams: a follower's client learns of the author's new posts from the
// validators' NewEvents notifications (of subscribed streams only) and processes them.
func TestListenStreams(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds Wasm guests (skipped with -short and -race)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	contract, service := buildExample(t, "social")
	engine := exampleEngine(t)
	loader := wasm.NewLoader(engine, 0)
	ka, kf, ks := prototest.Key("author"), prototest.Key("follower"), prototest.Key("stranger")
	h := &hub{subs: map[int]hubSub{}}
	n := &net{t: t, clock: &clock{now: 10_000_000}, keys: prototest.Validators(4), loader: loader}
	n.committee = prototest.Committee(n.keys)
	n.genesis = prototest.Genesis(n.committee, []*crypto.PrivateKey{ka, kf, ks}, base.Tokens(100))
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: n.clock, Loader: loader, Notify: h.publish})
		n.workers = append(n.workers, w)
		n.validators = append(n.validators, client.Validator{PublicKey: k.Public(), Node: notifyingNode{&deliveringNode{w: w}, h}})
	}
	author := n.client().Chain(n.chains[0], ka, nil)
	fc := n.client()
	follower := fc.Chain(n.chains[1], kf, nil)
	stranger := n.client().Chain(n.chains[2], ks, nil)
	app := createApp(t, author, contract, service, "")
	appOp(t, follower, app, `{"follow":{"chain":"`+n.chains[0].String()+`"}}`)
	// The stranger follows nobody but posts to the same application's stream.
	appOp(t, stranger, app, `{"post":{"text":"spam"}}`)

	notes := make(chan protocol.Notification, 100)
	done := make(chan error, 1)
	go func() { done <- fc.ListenStreams(ctx, n.chains[1], func(note protocol.Notification) { notes <- note }) }()
	// Post until a notification arrives (the listener may not be subscribed yet).
	var got protocol.Notification
	deadline := time.After(time.Minute)
wait:
	for i := 0; ; i++ {
		appOp(t, author, app, `{"post":{"text":"post `+strconv.Itoa(i)+`"}}`)
		appOp(t, stranger, app, `{"post":{"text":"spam"}}`)
		select {
		case got = <-notes:
			break wait
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no NewEvents notification")
		}
	}
	if got.Kind != protocol.ReasonNewEvents || got.ChainID != n.chains[0] || got.App != app || got.StreamName != "posts" || got.NextIndex == 0 {
		t.Fatalf("notification %+v", got)
	}
	processInbox(t, follower, "the follower after a notification")
	if texts := feedTexts(t, n, n.chains[1], app); len(texts) < int(got.NextIndex) || texts[0] != "post 0" {
		t.Fatalf("feed %v after a notification of %d posts", texts, got.NextIndex)
	}
	for _, text := range feedTexts(t, n, n.chains[1], app) {
		if text == "spam" {
			t.Fatal("the stranger's post reached the feed")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
