package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
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
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close(ctx)
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

	// Bad input, proposed directly: clear execution errors, no state change.
	stream := protocol.StreamID{App: &app, Name: []byte("posts")}
	for _, c := range []struct {
		name string
		op   protocol.SystemOperation
		want error
	}{
		{"beyond the publisher's count", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[0], Stream: stream, NextIndex: 10}}}, execution.ErrMissingEvent},
		{"not advancing", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[0], Stream: stream, NextIndex: 2}}}, execution.ErrInvalidOperation},
		{"unsubscribed stream", &protocol.UpdateStreams{Updates: []protocol.StreamUpdate{{Publisher: n.chains[3], Stream: stream, NextIndex: 1}}}, execution.ErrInvalidOperation},
	} {
		_, err := f1.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(c.op)}, nil)
		if err == nil || !errors.Is(err, c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if got := feedTexts(t, n, n.chains[1], app); len(got) != 3 {
		t.Fatalf("bad updates changed the feed: %v", got)
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
	if got := feedTexts(t, n, n.chains[1], app); len(got) != 3 {
		t.Fatalf("the stranger's posts reached the feed: %v", got)
	}
}
