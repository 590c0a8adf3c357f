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
// The service (Query, Mutation) answers `{ posts { text timestamp } feed { author text
// timestamp } }`; its mutations post, follow and unfollow schedule the operations. The contract and service binaries are in the contract
// and service directories.
package social

import (
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
	c, err := sdk.ParseChainID(s)
	if err != nil {
		return c, fmt.Errorf("social: %w", err)
	}
	return c, nil
}

// Contract is the social contract.
type Contract struct{}

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp {
	return sdk.ContractOf[Operation, sdk.NoMessage, sdk.NoArgument](Contract{})
}

// Instantiate needs no argument.
func (Contract) Instantiate(*sdk.Runtime, sdk.NoArgument) error { return nil }

// ExecuteOperation runs a post, follow or unfollow.
func (Contract) ExecuteOperation(rt *sdk.Runtime, o Operation) (any, error) {
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

func post(rt *sdk.Runtime, text string) (any, error) {
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
	return i, nil
}

// ExecuteMessage is never called: decoding sdk.NoMessage fails.
func (Contract) ExecuteMessage(*sdk.Runtime, sdk.NoMessage) error {
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

// Query resolves the service's queries; the schema follows from Query and Mutation
// (sdk.GraphQLServiceOf), and from Post and FeedEntry, which are its object types.
type Query struct{ rt *sdk.Runtime }

// Mutation resolves the service's mutations: each schedules an operation.
type Mutation struct{ rt *sdk.Runtime }

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}

func (Post) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "A post: its text and block timestamp (microseconds since the Unix epoch)."}
}

func (FeedEntry) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "A followed user's post; author is the user's chain id."}
}

func (*Query) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"posts": "This chain's posts, oldest first.",
		"feed":  "The followed users' posts, in the order they arrived.",
	}
}

func (q *Query) Posts() ([]Post, error) {
	n, err := postCount.GetOr(q.rt, 0)
	if err != nil {
		return nil, err
	}
	out := []Post{}
	for i := uint32(0); i < n; i++ {
		v, err := q.rt.ReadEvent(q.rt.ChainID(), q.rt.ApplicationID(), Stream, i)
		if err != nil {
			return nil, err
		}
		var p Post
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (q *Query) Feed() ([]FeedEntry, error) {
	es, err := feed.Entries(q.rt)
	if err != nil {
		return nil, err
	}
	out := []FeedEntry{}
	for _, e := range es {
		out = append(out, e.Value)
	}
	return out, nil
}

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{
		"post":     "Schedules a post on this chain.",
		"follow":   "Schedules following the user of a chain.",
		"unfollow": "Schedules unfollowing the user of a chain.",
	}
}

func (m *Mutation) Post(args struct{ Text string }) (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Post: &PostOp{Text: args.Text}})
}

func (m *Mutation) Follow(args struct{ Chain sdk.ChainID }) (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Follow: &ChainArg{Chain: args.Chain.String()}})
}

func (m *Mutation) Unfollow(args struct{ Chain sdk.ChainID }) (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Unfollow: &ChainArg{Chain: args.Chain.String()}})
}
