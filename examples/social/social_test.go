package social_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/social"
	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

func chain(name string, events *sdktest.Events) *sdktest.Chain {
	c := sdktest.NewChain()
	c.ID = sha256.Sum256([]byte(name))
	c.Events = events
	return c
}

func op(t *testing.T, c *sdktest.Chain, o string) []byte {
	t.Helper()
	out, err := c.ExecuteOperation(social.NewContract(), []byte(o))
	if err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	return out
}

func query(t *testing.T, c *sdktest.Chain, q string) string {
	t.Helper()
	out, err := c.Query(social.NewService(), []byte(q))
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return string(out)
}

func TestFollowAndFeed(t *testing.T) {
	ev := sdktest.NewEvents()
	author, f1, f2 := chain("author", ev), chain("f1", ev), chain("f2", ev)
	follow := fmt.Sprintf(`{"follow":{"chain":"%s"}}`, sdk.ChainID(author.ID))
	op(t, f1, follow)
	op(t, f2, follow)
	if got := op(t, author, `{"post":{"text":"hello"}}`); string(got) != "0" {
		t.Fatalf("first post index %s", got)
	}
	author.Time += 10
	op(t, author, `{"post":{"text":"world"}}`)
	if n, err := f1.ProcessStreams(social.NewContract()); err != nil || n != 1 {
		t.Fatalf("process: %d %v", n, err)
	}
	want := fmt.Sprintf(`{"data":{"feed":[{"author":"%s","text":"hello"},{"author":"%[1]s","text":"world"}]}}`, sdk.ChainID(author.ID))
	if got := query(t, f1, `{ feed { author text } }`); got != want {
		t.Fatalf("feed\n got %s\nwant %s", got, want)
	}
	// Nothing new: nothing delivered.
	if n, err := f1.ProcessStreams(social.NewContract()); err != nil || n != 0 {
		t.Fatalf("second process: %d %v", n, err)
	}
	// f2 was offline during both posts and catches up at once; a third post follows.
	op(t, author, `{"post":{"text":"again"}}`)
	if n, err := f2.ProcessStreams(social.NewContract()); err != nil || n != 1 {
		t.Fatalf("process f2: %d %v", n, err)
	}
	if got := query(t, f2, `{ feed { text } }`); got != `{"data":{"feed":[{"text":"hello"},{"text":"world"},{"text":"again"}]}}` {
		t.Fatalf("f2 feed %s", got)
	}
	got := query(t, author, `{ posts { text timestamp } }`)
	var resp struct {
		Data struct {
			Posts []social.Post `json:"posts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(got), &resp); err != nil || len(resp.Data.Posts) != 3 || resp.Data.Posts[1].Timestamp != author.Time || resp.Data.Posts[1].Text != "world" {
		t.Fatalf("posts %s %v", got, err)
	}
	// Unfollow: new posts no longer reach f1.
	op(t, f1, fmt.Sprintf(`{"unfollow":{"chain":"%s"}}`, sdk.ChainID(author.ID)))
	op(t, author, `{"post":{"text":"unseen"}}`)
	if n, err := f1.ProcessStreams(social.NewContract()); err != nil || n != 0 {
		t.Fatalf("after unfollow: %d %v", n, err)
	}
}

func TestBadOperations(t *testing.T) {
	ev := sdktest.NewEvents()
	c := chain("me", ev)
	for _, o := range []string{
		`{"post":{"text":""}}`,
		`{"post":{"text":"` + strings.Repeat("x", social.MaxTextLen+1) + `"}}`,
		`{"follow":{"chain":"zz"}}`,
		fmt.Sprintf(`{"follow":{"chain":"%s"}}`, sdk.ChainID(c.ID)),
		fmt.Sprintf(`{"unfollow":{"chain":"%s"}}`, sdk.ChainID(sha256.Sum256([]byte("x")))),
		`{"post":{"text":"a"},"follow":{"chain":"00"}}`,
		`{}`,
		`nonsense`,
	} {
		if _, err := c.ExecuteOperation(social.NewContract(), []byte(o)); err == nil {
			t.Errorf("%.60s: accepted", o)
		}
	}
	if len(ev.Stream(c.ID, c.Application, social.Stream)) != 0 || len(c.Subscriptions) != 0 {
		t.Fatal("a refused operation changed the state")
	}
	// Reading a missing event from the service is an error, not a panic.
	if _, err := c.Query(social.NewService(), []byte(`{ posts { text } }`)); err != nil {
		t.Fatal(err)
	}
	c.Set([]byte("nposts"), []byte("1"))
	if _, err := c.Query(social.NewService(), []byte(`{ posts { text } }`)); err == nil {
		t.Fatal("missing event: no error")
	}
}

func TestGraphQL(t *testing.T) {
	ev := sdktest.NewEvents()
	author := chain("author", ev)
	op(t, author, `{"post":{"text":"hello"}}`)
	svc := social.NewService()
	out, err := author.GraphQL(svc, `query P($with: Boolean!) { mine: posts { ...T at: timestamp @include(if: $with) } feed { text } }
		fragment T on Post { text }`, map[string]any{"with": false})
	if err != nil || string(out) != `{"data":{"mine":[{"text":"hello"}],"feed":[]}}` {
		t.Errorf("variables, fragment, alias: %s %v", out, err)
	}
	if got := query(t, author, `{ __schema { queryType { name } } }`); got != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Errorf("introspection: %s", got)
	}
	for _, q := range []string{`{ posts }`, `{ posts { nope } }`, `mutation { follow(chain: "00") }`, `{ feed { text `} {
		if got := query(t, author, q); !strings.HasPrefix(got, `{"errors":[{"message":`) {
			t.Errorf("%s: %s", q, got)
		}
	}
	other := sdk.ChainID(chain("other", ev).ID).String()
	out, err = author.GraphQL(svc, `mutation($c: ChainID!) { post(text: "hi") follow(chain: $c) }`, map[string]any{"c": other})
	if err != nil || string(out) != `{"data":{"post":true,"follow":true}}` || len(author.Scheduled) != 2 ||
		string(author.Scheduled[1]) != `{"follow":{"chain":"`+other+`"}}` {
		t.Fatalf("mutations: %s %v %q", out, err, author.Scheduled)
	}
	if got := op(t, author, string(author.Scheduled[0])); string(got) != "1" {
		t.Errorf("the scheduled post: %s", got)
	}
}
