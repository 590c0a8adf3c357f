package sdk_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

const testSchema = `
scalar U64
scalar Owner
scalar Amount
type Item { name: String! n: U64! next: Item }
type Query {
  item(n: U64!): Item!
  owner(o: Owner!): String!
  tokens(a: Amount!): String!
  fail: String
  boom: String
}
type Mutation { bump(by: U64!): Boolean! }`

type testRoot struct{ rt *sdk.Runtime }

type testItem struct {
	Name string
	N    sdk.U64
}

func (i *testItem) Next() *testItem { return &testItem{Name: i.Name + "+", N: i.N + 1} }

func (r *testRoot) Item(args struct{ N sdk.U64 }) *testItem   { return &testItem{Name: "i", N: args.N} }
func (r *testRoot) Owner(args struct{ O sdk.Owner }) string   { return args.O.String() }
func (r *testRoot) Tokens(args struct{ A sdk.Amount }) string { return args.A.String() }
func (r *testRoot) Fail() (*string, error)                    { return nil, errors.New("it failed") }
func (r *testRoot) Boom() *string                             { panic("boom") }
func (r *testRoot) Bump(args struct{ By sdk.U64 }) (bool, error) {
	return true, sdk.Schedule(r.rt, map[string]sdk.U64{"bump": args.By})
}

func testService(t testing.TB) *sdk.GraphQLService {
	s, err := sdk.NewGraphQLService(testSchema, func(rt *sdk.Runtime) any { return &testRoot{rt} })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGraphQLService(t *testing.T) {
	c := sdktest.NewChain()
	svc := testService(t)
	owner := "0x" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ req, want string }{
		{`{ item(n: 1) { name n } }`, `{"data":{"item":{"name":"i","n":1}}}`},
		{`{"query":"query Q($n: U64!) { a: item(n: $n) { ...F next { n } } } fragment F on Item { n }","variables":{"n":18446744073709551615}}`,
			`{"data":{"a":{"n":18446744073709551615,"next":{"n":0}}}}`}, // the test resolver wraps
		{`{"query":"query Q($n: U64!) { a: item(n: $n) { ...F } } fragment F on Item { n }","variables":{"n":9007199254740993}}`,
			`{"data":{"a":{"n":9007199254740993}}}`},
		{`{"query":"query A { item(n: 1) { n } } query B { item(n: 2) { n } }","operationName":"B"}`, `{"data":{"item":{"n":2}}}`},
		{`{ owner(o: "` + owner + `") }`, `{"data":{"owner":"` + owner + `"}}`},
		{`{ tokens(a: "1.5") }`, `{"data":{"tokens":"1500000000000000000"}}`},
		{`{ tokens(a: 2) }`, `{"data":{"tokens":"2000000000000000000"}}`},
		{`{ fail }`, `{"errors":[{"message":"it failed","path":["fail"]}],"data":{"fail":null}}`},
		{`{ __type(name: "Item") { fields { name } } }`, `{"data":{"__type":{"fields":[{"name":"name"},{"name":"n"},{"name":"next"}]}}}`},
	} {
		out, err := c.Query(svc, []byte(tc.req))
		if err != nil || !strings.HasPrefix(string(out), tc.want) && string(out) != tc.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tc.req, out, err, tc.want)
		}
	}
	// Errors are GraphQL responses, never host errors or panics.
	for _, req := range []string{
		``, `{`, `{}`, `{"query": 3}`, `{"query": "{ fail }", "variables": []}`, `{"query": "{ fail }", "extra": 1}`,
		`{ boom }`, `{ nope }`, `subscription { fail }`, `{ item(n: -1) { n } }`, `{ item(n: 99999999999999999999) { n } }`,
		`{ owner(o: "0x12") }`, `{ tokens(a: "1.0000000000000000001") }`, `{ tokens(a: -1) }`,
		`{"query":"query($n: U64!) { item(n: $n) { n } }","variables":{"n":1.5}}`,
		`{"query":"query($n: U64!) { item(n: $n) { n } }"}`,
		`{"query":"{ item(n: 1) { n } }","operationName":"X"}`,
		"{ item(n: 1) " + strings.Repeat("{ next ", 20) + "{ n }" + strings.Repeat(" }", 21),
		strings.Repeat("x", sdk.MaxGraphQLQueryBytes+1),
		`query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }`,
	} {
		out, err := c.Query(svc, []byte(req))
		var resp struct {
			Errors []struct{ Message string } `json:"errors"`
		}
		if err != nil || json.Unmarshal(out, &resp) != nil || len(resp.Errors) == 0 || resp.Errors[0].Message == "" {
			t.Errorf("%.80q: %s %v", req, out, err)
		}
	}
	if len(c.Scheduled) != 0 {
		t.Fatalf("queries scheduled %q", c.Scheduled)
	}
	out, err := c.GraphQL(svc, `mutation($b: U64!) { bump(by: $b) again: bump(by: 2) }`, map[string]any{"b": 1})
	if err != nil || string(out) != `{"data":{"bump":true,"again":true}}` || len(c.Scheduled) != 2 ||
		string(c.Scheduled[0]) != `{"bump":1}` || string(c.Scheduled[1]) != `{"bump":2}` {
		t.Fatalf("mutation: %s %v %q", out, err, c.Scheduled)
	}
}

// TestGraphQLSelectionsBounded: many aliases, or fragments spread many times, are
// refused before any resolver runs.
func TestGraphQLSelectionsBounded(t *testing.T) {
	c := sdktest.NewChain()
	svc := testService(t)
	var b strings.Builder
	b.WriteString("mutation {")
	for i := range sdk.MaxGraphQLSelections + 1 {
		b.WriteString(" a" + itoa(i) + ": bump(by: 1)")
	}
	b.WriteString(" }")
	out, err := c.Query(svc, []byte(b.String()))
	if err != nil || !strings.HasPrefix(string(out), `{"errors":`) || len(c.Scheduled) != 0 {
		t.Fatalf("%d aliases: %.200s %v, %d scheduled", sdk.MaxGraphQLSelections+1, out, err, len(c.Scheduled))
	}
	// Fragments that double at each level: 2^20 selections from a short document.
	q := "query { ...F0 }"
	for i := range 20 {
		q += " fragment F" + itoa(i) + " on Query { ...F" + itoa(i+1) + " ...F" + itoa(i+1) + " }"
	}
	q += " fragment F20 on Query { fail }"
	out, err = c.Query(svc, []byte(q))
	if err != nil || !strings.HasPrefix(string(out), `{"errors":`) {
		t.Fatalf("exponential fragments: %.200s %v", out, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNewGraphQLServiceErrors(t *testing.T) {
	if _, err := sdk.NewGraphQLService(`type Query { x: Int! `, func(*sdk.Runtime) any { return &testRoot{} }); err == nil {
		t.Error("bad SDL accepted")
	}
	if _, err := sdk.NewGraphQLService(`type Query { missing: Int! }`, func(*sdk.Runtime) any { return &testRoot{} }); err == nil {
		t.Error("a field without a resolver accepted")
	}
	for _, root := range []func(*sdk.Runtime) any{
		func(*sdk.Runtime) any { return nil },
		func(*sdk.Runtime) any { return testRoot{} },
		func(*sdk.Runtime) any { return (*testRoot)(nil) },
	} {
		if _, err := sdk.NewGraphQLService(testSchema, root); err == nil {
			t.Errorf("root %T accepted", root(nil))
		}
	}
	// A root that changes its mind answers with an error, not a panic.
	n := 0
	svc, err := sdk.NewGraphQLService(testSchema, func(rt *sdk.Runtime) any {
		n++
		if n > 1 {
			return nil
		}
		return &testRoot{rt}
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sdktest.NewChain().Query(svc, []byte(`{ fail }`)); err != nil || !strings.Contains(string(out), "GraphQL root") {
		t.Errorf("nil root: %s %v", out, err)
	}
}

func TestParseGraphQLRequest(t *testing.T) {
	req, err := sdk.ParseGraphQLRequest([]byte(`{"query":"q","variables":{"a":[1,2.5,{"b":18446744073709551615}],"s":"x"},"operationName":"O","extensions":{}}`))
	if err != nil || req.Query != "q" || req.OperationName != "O" {
		t.Fatalf("%+v %v", req, err)
	}
	a := req.Variables["a"].([]any)
	if a[0] != int64(1) || a[1] != 2.5 || a[2].(map[string]any)["b"] != uint64(18446744073709551615) || req.Variables["s"] != "x" {
		t.Fatalf("variables %#v", req.Variables)
	}
	if req, err := sdk.ParseGraphQLRequest([]byte(" { value }\n")); err != nil || req.Query != " { value }\n" {
		t.Fatalf("text: %+v %v", req, err)
	}
}

// FuzzGraphQLService: any request gets a JSON GraphQL response, never a host error
// or a panic, and a query schedules nothing.
func FuzzGraphQLService(f *testing.F) {
	for _, s := range []string{`{ item(n: 1) { name n next { n } } }`, `{"query":"query($n: U64!) { item(n: $n) { n } }","variables":{"n":3}}`,
		`query { ...F } fragment F on Query { fail boom }`, `{ __schema { types { name } } }`, `mutation { bump(by: 1) }`, `{ tokens(a: "0.1") owner(o: "chain") }`} {
		f.Add([]byte(s))
	}
	svc := testService(f)
	f.Fuzz(func(t *testing.T, req []byte) {
		c := sdktest.NewChain()
		out, err := c.Query(svc, req)
		if err != nil {
			t.Fatalf("%q: host error %v", req, err)
		}
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(out, &resp); err != nil || (resp["data"] == nil && resp["errors"] == nil) {
			t.Fatalf("%q: response %q", req, out)
		}
		if len(c.Scheduled) > 0 && !strings.Contains(string(req), "mutation") {
			t.Fatalf("%q scheduled %q", req, c.Scheduled)
		}
	})
}

// BenchmarkGraphQLQuery: a small query through GraphQLService natively (sdktest):
// request parsing, the per-query resolver binding, validation and execution.
func BenchmarkGraphQLQuery(b *testing.B) {
	c := sdktest.NewChain()
	svc := testService(b)
	req := []byte(`{"query":"query Q($n: U64!) { a: item(n: $n) { ...F } } fragment F on Item { name n }","variables":{"n":3}}`)
	for b.Loop() {
		if _, err := c.Query(svc, req); err != nil {
			b.Fatal(err)
		}
	}
}
