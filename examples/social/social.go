// Package social is a small social network on event streams: each user's posts are
// events of the stream "posts" on the user's own chain; following a user subscribes
// the follower's chain to that stream, and new posts are appended to the follower's
// feed when the follower's block processes the stream (mica process-inbox).
//
// Operations (JSON):
//
//	{"post": {"text": "hello"}}          on the author's chain: emits the post
//	{"follow": {"chain": "<hex id>"}}    subscribes to that chain's posts
//	{"unfollow": {"chain": "<hex id>"}}  unsubscribes
//
// The service answers `{ posts { text timestamp } feed { author text timestamp } }`
// (any subset of the fields). The contract and service binaries are in the contract
// and service directories.
package social

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/micachain/mica/sdk"
)

// Stream is the name of the posts stream.
const Stream = "posts"

// MaxTextLen bounds a post's text, in bytes.
const MaxTextLen = 1000

var (
	// postCount counts the posts of this chain (the stream's length).
	postCount = sdk.NewRegister[uint32]("nposts")
	// feedCount counts the feed entries.
	feedCount = sdk.NewRegister[uint64]("nfeed")
	// feed holds the followed users' posts, keyed by a zero-padded sequence number.
	feed = sdk.NewMap[FeedEntry]("feed/")
)

// Post is the value of an event of the posts stream.
type Post struct {
	Text      string        `json:"text"`
	Timestamp sdk.Timestamp `json:"timestamp"`
}

// FeedEntry is a post of a followed user.
type FeedEntry struct {
	Author    string        `json:"author"` // the author's chain id, hex
	Text      string        `json:"text"`
	Timestamp sdk.Timestamp `json:"timestamp"`
}

// Operation is the contract's operation; exactly one field is set.
type Operation struct {
	Post     *PostOp   `json:"post,omitempty"`
	Follow   *ChainArg `json:"follow,omitempty"`
	Unfollow *ChainArg `json:"unfollow,omitempty"`
}

// PostOp publishes a post.
type PostOp struct {
	Text string `json:"text"`
}

// ChainArg names a user by chain id (hex).
type ChainArg struct {
	Chain string `json:"chain"`
}

// ParseChain parses a hex chain id.
func ParseChain(s string) (sdk.ChainID, error) {
	var c sdk.ChainID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, fmt.Errorf("social: %q is not a chain id (64 hex digits)", s)
	}
	copy(c[:], b)
	return c, nil
}

// Contract is the social contract.
type Contract struct{}

// Instantiate needs no argument.
func (Contract) Instantiate(*sdk.Runtime, []byte) error { return nil }

// ExecuteOperation runs a post, follow or unfollow.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	d := json.NewDecoder(bytes.NewReader(op))
	d.DisallowUnknownFields()
	if err := d.Decode(&o); err != nil {
		return nil, fmt.Errorf("social: bad operation: %w", err)
	}
	switch {
	case o.Post != nil && o.Follow == nil && o.Unfollow == nil:
		return post(rt, o.Post.Text)
	case o.Follow != nil && o.Post == nil && o.Unfollow == nil:
		c, err := ParseChain(o.Follow.Chain)
		if err != nil {
			return nil, err
		}
		if c == rt.ChainID() {
			return nil, errors.New("social: a chain cannot follow itself")
		}
		return nil, rt.SubscribeToEvents(c, rt.ApplicationID(), Stream)
	case o.Unfollow != nil && o.Post == nil && o.Follow == nil:
		c, err := ParseChain(o.Unfollow.Chain)
		if err != nil {
			return nil, err
		}
		return nil, rt.UnsubscribeFromEvents(c, rt.ApplicationID(), Stream)
	}
	return nil, errors.New(`social: operation must be one of {"post":{"text":...}}, {"follow":{"chain":...}}, {"unfollow":{"chain":...}}`)
}

func post(rt *sdk.Runtime, text string) ([]byte, error) {
	if text == "" || len(text) > MaxTextLen {
		return nil, fmt.Errorf("social: a post has 1 to %d bytes of text", MaxTextLen)
	}
	v, err := json.Marshal(Post{Text: text, Timestamp: rt.Timestamp()})
	if err != nil {
		return nil, err
	}
	i := rt.Emit(Stream, v)
	if err := postCount.Set(rt, i+1); err != nil {
		return nil, err
	}
	return json.Marshal(i)
}

// ExecuteMessage refuses messages: the application sends none.
func (Contract) ExecuteMessage(*sdk.Runtime, []byte) error {
	return errors.New("social: no messages")
}

// ProcessStreams appends the new posts of the followed users to the feed.
func (Contract) ProcessStreams(rt *sdk.Runtime, updates []sdk.StreamUpdate) error {
	n, err := feedCount.GetOr(rt, 0)
	if err != nil {
		return err
	}
	for _, u := range updates {
		if u.Stream != Stream || u.App != rt.ApplicationID() {
			continue
		}
		for i := u.PreviousIndex; i < u.NextIndex; i++ {
			v, err := rt.ReadEvent(u.Publisher, u.App, u.Stream, i)
			if err != nil {
				return err
			}
			var p Post
			if err := json.Unmarshal(v, &p); err != nil {
				continue // not a post of this application's format: skip it
			}
			if err := feed.Set(rt, fmt.Sprintf("%016d", n), FeedEntry{Author: u.Publisher.String(), Text: p.Text, Timestamp: p.Timestamp}); err != nil {
				return err
			}
			n++
		}
	}
	return feedCount.Set(rt, n)
}

// Service is the social service.
type Service struct{}

// HandleQuery answers `{ posts { text timestamp } feed { author text timestamp } }`.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	op, err := sdk.ParseGraphQL(q)
	if err != nil {
		return nil, fmt.Errorf("social: %w", err)
	}
	if op.Kind == "mutation" {
		return nil, errors.New("social: no mutations; use operations")
	}
	data := map[string]any{}
	for _, f := range op.Fields {
		switch f.Name {
		case "posts":
			n, err := postCount.GetOr(rt, 0)
			if err != nil {
				return nil, err
			}
			out := []map[string]any{}
			for i := uint32(0); i < n; i++ {
				v, err := rt.ReadEvent(rt.ChainID(), rt.ApplicationID(), Stream, i)
				if err != nil {
					return nil, err
				}
				var p Post
				if err := json.Unmarshal(v, &p); err != nil {
					return nil, err
				}
				out = append(out, pick(f.Selection, map[string]any{"text": p.Text, "timestamp": p.Timestamp}))
			}
			data[f.Key()] = out
		case "feed":
			es, err := feed.Entries(rt)
			if err != nil {
				return nil, err
			}
			out := []map[string]any{}
			for _, e := range es {
				out = append(out, pick(f.Selection, map[string]any{"author": e.Value.Author, "text": e.Value.Text, "timestamp": e.Value.Timestamp}))
			}
			data[f.Key()] = out
		default:
			return nil, fmt.Errorf("social: unknown field %q", f.Name)
		}
	}
	return sdk.GraphQLData(data), nil
}

// pick keeps the selected fields (all of them without a selection).
func pick(sel []sdk.Field, all map[string]any) map[string]any {
	if sel == nil {
		return all
	}
	out := map[string]any{}
	for _, s := range sel {
		if v, ok := all[s.Name]; ok {
			out[s.Key()] = v
		}
	}
	return out
}
