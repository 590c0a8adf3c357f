package sdk_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

// greeter stores a greeting, emits it to the stream "greetings" and asks an HTTP
// oracle to translate it.
type greeter struct{}

func (greeter) Instantiate(rt *sdk.Runtime, arg []byte) error {
	rt.Set([]byte("greeting"), arg)
	return nil
}

func (greeter) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	switch string(op) {
	case "emit":
		v, _ := rt.Get([]byte("greeting"))
		i := rt.Emit("greetings", v)
		return fmt.Appendf(nil, "event %d", i), nil
	case "translate":
		v, _ := rt.Get([]byte("greeting"))
		resp, err := rt.HTTPRequest(sdk.HTTPRequest{
			Method: "POST",
			URL:    "https://translate.example/fr",
			Body:   v,
		})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, fmt.Errorf("oracle answered %d", resp.Status)
		}
		rt.Set([]byte("greeting"), resp.Body)
		return resp.Body, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

func (greeter) ExecuteMessage(*sdk.Runtime, []byte) error { return nil }

// A contract's storage writes, events and HTTP oracle run natively with sdktest; on a
// network, every validator performs the HTTP request and records the response in the
// block.
func Example() {
	chain := sdktest.NewChain()
	chain.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.EqualFold(string(body), "hello") {
			fmt.Fprint(w, "bonjour")
		}
	})
	app := greeter{}
	if err := chain.Instantiate(app, []byte("hello")); err != nil {
		panic(err)
	}
	out, err := chain.ExecuteOperation(app, []byte("emit"))
	fmt.Println(string(out), err)
	out, err = chain.ExecuteOperation(app, []byte("translate"))
	fmt.Println(string(out), err)
	fmt.Println(chain.HTTPRequests[0].Method, chain.HTTPRequests[0].URL)
	// Output:
	// event 0 <nil>
	// bonjour <nil>
	// POST https://translate.example/fr
}

// note is a typed application: a contract on Go types and a GraphQL service.
type noteOp struct {
	Write *string `json:"write"`
}

func (o noteOp) Validate() error {
	if o.Write == nil {
		return fmt.Errorf(`operation must be {"write": "text"}`)
	}
	return nil
}

var noteText = sdk.NewRegister[string]("note")

type noteContract struct{}

func (noteContract) Instantiate(rt *sdk.Runtime, text string) error { return noteText.Set(rt, text) }
func (noteContract) ExecuteOperation(rt *sdk.Runtime, op noteOp) (any, error) {
	return len(*op.Write), noteText.Set(rt, *op.Write)
}
func (noteContract) ExecuteMessage(*sdk.Runtime, sdk.NoMessage) error { return nil }

type noteService struct{ rt *sdk.Runtime }

func (s *noteService) Note() (string, error) { return noteText.GetOr(s.rt, "") }
func (s *noteService) Write(args struct{ Text string }) (bool, error) {
	return true, sdk.Schedule(s.rt, noteOp{Write: &args.Text})
}

// A typed contract decodes its JSON inputs; a GraphQL service answers queries with
// variables, fragments and aliases, reports errors as GraphQL errors, and schedules
// operations from mutations.
func Example_typed() {
	contract := sdk.ContractOf[noteOp, sdk.NoMessage, string](noteContract{})
	service := sdk.MustGraphQLService(`type Query { note: String! } type Mutation { write(text: String!): Boolean! }`,
		func(rt *sdk.Runtime) any { return &noteService{rt} })
	chain := sdktest.NewChain()
	fmt.Println(chain.Instantiate(contract, []byte(`"hi"`)))
	out, err := chain.ExecuteOperation(contract, []byte(`{"write": "hello"}`))
	fmt.Println(string(out), err)
	_, err = chain.ExecuteOperation(contract, []byte(`{"write": "x", "extra": 1}`))
	fmt.Println(err)
	out, _ = chain.Query(service, []byte(`query { text: note ...N } fragment N on Query { note }`))
	fmt.Println(string(out))
	out, _ = chain.GraphQL(service, `mutation($t: String!) { write(text: $t) }`, map[string]any{"t": "bye"})
	fmt.Println(string(out), string(chain.Scheduled[0]))
	out, _ = chain.Query(service, []byte(`{ nope }`))
	fmt.Println(string(out))
	// Output:
	// <nil>
	// 5 <nil>
	// invalid operation: json: unknown field "extra"
	// {"data":{"text":"hello","note":"hello"}}
	// {"data":{"write":true}} {"write":"bye"}
	// {"errors":[{"message":"Cannot query field \"nope\" on type \"Query\". Did you mean \"note\"?","locations":[{"line":1,"column":3}]}]}
}

// A service whose GraphQL schema follows from its Go types: the methods of the query
// and mutation types are the fields, the args struct the arguments, Player an object
// type; U64 is one of the SDK's scalars.
type exQuery struct{ rt *sdk.Runtime }

type Player struct {
	Name  string
	Score sdk.U64
}

func (q *exQuery) Top(args struct{ Limit int32 }) ([]Player, error) {
	return []Player{{Name: "ada", Score: 7}}, nil
}

func (*exQuery) GraphQLDescriptions() map[string]string {
	return map[string]string{"top": "The best players, best first."}
}

type exMutation struct{ rt *sdk.Runtime }

func (m *exMutation) Join(args struct{ Name string }) (bool, error) {
	return true, sdk.Schedule(m.rt, map[string]string{"join": args.Name})
}

func ExampleGraphQLServiceOf() {
	svc, err := sdk.GraphQLServiceOf(func(rt *sdk.Runtime) *exQuery { return &exQuery{rt} },
		func(rt *sdk.Runtime) *exMutation { return &exMutation{rt} })
	if err != nil {
		panic(err)
	}
	fmt.Print(svc.SDL())
	out, err := sdktest.NewChain().Query(svc, []byte(`{ top(limit: 1) { name score } }`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output:
	// type Mutation {
	//   join(name: String!): Boolean!
	// }
	//
	// type Player {
	//   name: String!
	//   score: U64!
	// }
	//
	// type Query {
	//   "The best players, best first."
	//   top(limit: Int!): [Player!]!
	// }
	//
	// "An unsigned 64-bit integer: a JSON number (a decimal string is accepted as input)."
	// scalar U64
	// {"data":{"top":[{"name":"ada","score":7}]}}
}
