package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

// Resolver types of a derived schema exercising every mapping.
type (
	dQuery    struct{ rt *sdk.Runtime }
	dMutation struct{ rt *sdk.Runtime }
	dItem     struct {
		Name     string
		N        sdk.U64
		Tags     []string
		Owner    *sdk.Owner
		internal int
		Skipped  string `graphql:"-"`
		Renamed  int32  `graphql:"count"`
	}
	dPoint struct {
		X, Y float64
	}
	dFilter struct {
		Prefix string
		Limit  *int32
	}
	// Color is a scalar of the application.
	Color string
)

func (i dItem) Next() *dItem   { return &dItem{Name: i.Name + "+", N: i.N + 1} }
func (i dItem) String() string { return i.Name + strconv.Itoa(i.internal) } // never a field
func (dItem) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "An item.", "next": "The item after this one."}
}

func (Color) ImplementsGraphQLType(name string) bool { return name == "Color" }
func (c *Color) UnmarshalGraphQL(input any) error {
	s, ok := input.(string)
	if !ok || s == "" {
		return errors.New("Color: want a name")
	}
	*c = Color(s)
	return nil
}
func (Color) GraphQLDescriptions() map[string]string {
	return map[string]string{"": `A color name, like "red".`}
}

func (q *dQuery) Item(args struct{ N sdk.U64 }) *dItem {
	return &dItem{Name: "i", N: args.N, Tags: []string{}}
}
func (q *dQuery) Items(args struct {
	Filter  dFilter
	Reverse bool `default:"false"`
}) ([]dItem, error) {
	if args.Filter.Limit != nil && *args.Filter.Limit < 0 {
		return nil, errors.New("negative limit")
	}
	out := []dItem{{Name: args.Filter.Prefix + "a"}, {Name: args.Filter.Prefix + "b"}}
	if args.Reverse {
		out[0], out[1] = out[1], out[0]
	}
	return out, nil
}
func (q *dQuery) Origin() dPoint                                  { return dPoint{} }
func (q *dQuery) Paint(args struct{ C *Color }) (*Color, error)   { return args.C, nil }
func (q *dQuery) Height() sdk.U64                                 { return sdk.U64(q.rt.BlockHeight()) }
func (q *dQuery) ChainID() sdk.ChainID                            { return q.rt.ChainID() }
func (q *dQuery) Seen(ctx context.Context) (sdk.Timestamp, error) { return q.rt.Timestamp(), nil }
func (q *dQuery) ID() graphql.ID                                  { return "x" }
func (*dQuery) GraphQLDescriptions() map[string]string {
	return map[string]string{"item": "The n-th item.", "item.n": "Its index.", "items": "Items, filtered."}
}

func (m *dMutation) Bump(args struct {
	By   sdk.U64
	Note *string
}) (bool, error) {
	return true, sdk.Schedule(m.rt, map[string]sdk.U64{"bump": args.By})
}

const dSchema = `"A chain id: 64 hex digits."
scalar ChainID

"A color name, like \"red\"."
scalar Color

input DFilter {
  limit: Int
  prefix: String!
}

"An item."
type DItem {
  count: Int!
  n: U64!
  name: String!
  "The item after this one."
  next: DItem
  owner: Owner
  tags: [String!]!
}

type DPoint {
  x: Float!
  y: Float!
}

type Mutation {
  bump(by: U64!, note: String): Boolean!
}

"An account owner: \"0x\" and 64 or 40 hex digits, \"chain\" or \"reserved:N\"."
scalar Owner

type Query {
  chainID: ChainID!
  height: U64!
  id: ID!
  "The n-th item."
  item("Its index." n: U64!): DItem
  "Items, filtered."
  items(filter: DFilter!, reverse: Boolean! = false): [DItem!]!
  origin: DPoint!
  paint(c: Color): Color
  seen: Timestamp!
}

"Microseconds since the Unix epoch: a JSON number."
scalar Timestamp

"An unsigned 64-bit integer: a JSON number (a decimal string is accepted as input)."
scalar U64
`

func newDerived(t testing.TB) *sdk.GraphQLService {
	t.Helper()
	svc, err := sdk.GraphQLServiceOf(func(rt *sdk.Runtime) *dQuery { return &dQuery{rt} }, func(rt *sdk.Runtime) *dMutation { return &dMutation{rt} })
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestDerivedSchema: the schema follows from the Go types, sorted, with descriptions,
// and the service answers queries, mutations and introspection from it.
func TestDerivedSchema(t *testing.T) {
	svc := newDerived(t)
	if got := svc.SDL(); got != dSchema {
		t.Fatalf("derived schema:\n%s\nwant:\n%s", got, dSchema)
	}
	again, err := sdk.DeriveGraphQLSchema(reflect.TypeFor[dQuery](), reflect.TypeFor[dMutation]())
	if err != nil || again != svc.SDL() {
		t.Fatalf("derived twice: %v\n%s", err, again)
	}
	c := sdktest.NewChain()
	c.Height = 4 // services see the next height
	for _, tc := range []struct{ req, want string }{
		{`{ item(n: 3) { name n next { n next { name } } owner tags count } }`,
			`{"data":{"item":{"name":"i","n":3,"next":{"n":4,"next":{"name":"i++"}},"owner":null,"tags":[],"count":0}}}`},
		{`{ items(filter: {prefix: "p"}) { name } }`, `{"data":{"items":[{"name":"pa"},{"name":"pb"}]}}`},
		{`{ items(filter: {prefix: "p", limit: 1}, reverse: true) { name } }`, `{"data":{"items":[{"name":"pb"},{"name":"pa"}]}}`},
		{`{ origin { x y } height id }`, `{"data":{"origin":{"x":0,"y":0},"height":5,"id":"x"}}`},
		{`{ paint(c: "red") none: paint }`, `{"data":{"paint":"red","none":null}}`},
		{`{ seen }`, `{"data":{"seen":1700000000000000}}`},
		{`{ __type(name: "Query") { fields { name description args { name description defaultValue } } } }`,
			`{"data":{"__type":{"fields":[{"name":"chainID","description":null,"args":[]},{"name":"height","description":null,"args":[]},` +
				`{"name":"id","description":null,"args":[]},{"name":"item","description":"The n-th item.","args":[{"name":"n","description":"Its index.","defaultValue":null}]},` +
				`{"name":"items","description":"Items, filtered.","args":[{"name":"filter","description":null,"defaultValue":null},{"name":"reverse","description":null,"defaultValue":"false"}]},` +
				`{"name":"origin","description":null,"args":[]},{"name":"paint","description":null,"args":[{"name":"c","description":null,"defaultValue":null}]},` +
				`{"name":"seen","description":null,"args":[]}]}}}`},
		{`{ __type(name: "Color") { kind description } }`, `{"data":{"__type":{"kind":"SCALAR","description":"A color name, like \"red\"."}}}`},
		{`{ __schema { mutationType { fields { name } } } }`, `{"data":{"__schema":{"mutationType":{"fields":[{"name":"bump"}]}}}}`},
	} {
		out, err := c.Query(svc, []byte(tc.req))
		if err != nil || string(out) != tc.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tc.req, out, err, tc.want)
		}
	}
	for _, req := range []string{`{ bump(by: 1) }`, `mutation { item(n: 1) { n } }`, `{ items(filter: {prefix: "p", limit: -1}) { name } }`,
		`{ item(n: 1) { internal } }`, `{ item(n: 1) { skipped } }`, `{ item(n: 1) { string } }`, `{ paint(c: "") }`} {
		out, err := c.Query(svc, []byte(req))
		if err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("%s answered %s %v", req, out, err)
		}
	}
	if len(c.Scheduled) != 0 {
		t.Fatalf("scheduled %q", c.Scheduled)
	}
	out, err := c.Query(svc, []byte(`mutation { bump(by: 2) }`))
	if err != nil || string(out) != `{"data":{"bump":true}}` || len(c.Scheduled) != 1 || string(c.Scheduled[0]) != `{"bump":2}` {
		t.Fatalf("mutation: %s %v %q", out, err, c.Scheduled)
	}
}

type (
	eQuery[T any]   struct{}
	eNone           struct{}
	eQueryOnly      struct{}
	eBadScalar      struct{}
	eNamedString    string
	eValueItem      struct{ A string }
	eOtherOwner     struct{ V int32 }
	eEmpty          struct{}
	eBoth           struct{ URL string }
	eMutation       struct{}
	eAnonResult     struct{}
	eBadDescription struct{}
	eTwoNames       struct{}
	eDoublePointer  struct{}
	eBadArgs        struct{}
	eUnexportedArg  struct{}
)

func (eQuery[T]) Get() T                                  { var v T; return v }
func (eQueryOnly) Value() int32                           { return 1 }
func (eBadScalar) ImplementsGraphQLType(name string) bool { return name == "Other" }
func (*eBadScalar) UnmarshalGraphQL(any) error            { return nil }
func (*eValueItem) Ptr() string                           { return "" }
func (eMutation) Set(args struct{ V int32 }) bool         { return true }
func (eAnonResult) Get() struct{ A string }               { return struct{ A string }{} }
func (eBadDescription) Get() int32                        { return 0 }
func (eBadDescription) GraphQLDescriptions() map[string]string {
	return map[string]string{"got": "typo"}
}
func (eTwoNames) Get() eOtherOwner                       { return eOtherOwner{} }
func (eTwoNames) Put(args struct{ O eOtherOwner }) int32 { return 0 }
func (eDoublePointer) Get() **string                     { return nil }
func (eBadArgs) Get(n int32) int32                       { return n }
func (eUnexportedArg) Get(args struct{ n int32 }) int32  { return args.n }
func (eNone) Two() (int32, bool)                         { return 0, false }
func (eBoth) Url() string                                { return "" }
func newQ[Q any](*sdk.Runtime) *Q                        { return new(Q) }
func derive[Q, M any]() error                            { _, err := sdk.GraphQLServiceOf(newQ[Q], newQ[M]); return err }
func deriveNoMutation[Q, M any]() error {
	_, err := sdk.GraphQLServiceOf[Q, M](newQ[Q], nil)
	return err
}

// TestDerivedSchemaErrors: Go types without a GraphQL type are refused when the
// service is built, with an error naming the type and the field.
func TestDerivedSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"uint64", derive[eQuery[uint64], sdk.NoMutation](), "Query.get: uint64 has no GraphQL type: use int32 (Int), float64 (Float), sdk.U64"},
		{"int", derive[eQuery[int], sdk.NoMutation](), "Query.get: int has no GraphQL type"},
		{"map", derive[eQuery[map[string]int32], sdk.NoMutation](), "Query.get: map[string]int32 has no GraphQL type"},
		{"interface", derive[eQuery[any], sdk.NoMutation](), "Query.get: interface {} has no GraphQL type"},
		{"array", derive[eQuery[[32]byte], sdk.NoMutation](), "Query.get: [32]uint8 has no GraphQL type"},
		{"bytes", derive[eQuery[[]byte], sdk.NoMutation](), "Query.get: uint8 has no GraphQL type"},
		{"named string", derive[eQuery[eNamedString], sdk.NoMutation](), "eNamedString has no GraphQL type: use string itself, or make"},
		{"scalar name", derive[eQuery[eBadScalar], sdk.NoMutation](), `ImplementsGraphQLType("eBadScalar") is false`},
		{"pointer receiver", derive[eQuery[eValueItem], sdk.NoMutation](), "is returned as a value but its method Ptr has a pointer receiver"},
		{"empty object", derive[eQuery[eEmpty], sdk.NoMutation](), "no exported field or method"},
		{"two results", derive[eNone, sdk.NoMutation](), "method Two() (int32, bool) is not a resolver"},
		{"no query", derive[eEmpty, sdk.NoMutation](), "has no query field"},
		{"mutation without function", deriveNoMutation[eQueryOnly, eMutation](), "has mutation fields but the mutation function is nil"},
		{"anonymous struct", derive[eAnonResult, sdk.NoMutation](), "a struct without a name of its own"},
		{"generic struct", derive[eQuery[eQuery[int32]], sdk.NoMutation](), "a struct without a name of its own"},
		{"description typo", derive[eBadDescription, sdk.NoMutation](), `names no field or argument ["got"]`},
		{"input and output", derive[eTwoNames, sdk.NoMutation](), "two Go types would be the GraphQL input EOtherOwner"},
		{"pointer to pointer", derive[eDoublePointer, sdk.NoMutation](), "a pointer to a pointer"},
		{"plain argument", derive[eBadArgs, sdk.NoMutation](), "method Get(int32) int32 is not a resolver"},
		{"unexported argument", derive[eUnexportedArg, sdk.NoMutation](), "argument field n of struct { n int32 } is not exported"},
		{"field and method names", derive[eQuery[eBoth], sdk.NoMutation](), "EBoth.url: both field URL and method Url would be the field"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, tc.err, tc.want)
		}
	}
	if _, err := sdk.GraphQLServiceOf[eQueryOnly, sdk.NoMutation](nil, nil); err == nil {
		t.Error("a nil query function was accepted")
	}
	svc, err := sdk.GraphQLServiceOf[eQueryOnly, sdk.NoMutation](newQ[eQueryOnly], nil)
	if err != nil || strings.Contains(svc.SDL(), "Mutation") {
		t.Fatalf("query-only service: %v\n%s", err, svc.SDL())
	}
	out, err := sdktest.NewChain().Query(svc, []byte(`mutation { value }`))
	if err != nil || !strings.Contains(string(out), `"errors"`) {
		t.Fatalf("mutation on a query-only service: %s %v", out, err)
	}
}

// BenchmarkDerivedGraphQLQuery is BenchmarkGraphQLQuery's query on a derived schema:
// the same engine, with the Query and Mutation values copied in per query.
func BenchmarkDerivedGraphQLQuery(b *testing.B) {
	c := sdktest.NewChain()
	svc := newDerived(b)
	req := []byte(`{"query":"query Q($n: U64!) { a: item(n: $n) { ...F } } fragment F on DItem { name n }","variables":{"n":3}}`)
	for b.Loop() {
		if _, err := c.Query(svc, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveSchema measures deriving and parsing a schema (what a service's init
// does once; the node snapshots the module after init).
func BenchmarkDeriveSchema(b *testing.B) {
	for b.Loop() {
		newDerived(b)
	}
}
