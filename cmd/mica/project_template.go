package main

import "github.com/micachain/mica/internal/sdkdist"

// The files `mica project new NAME` writes: a counter application like
// examples/counter. Placeholders: __MODULE__ (the module path, NAME), __PKG__ (the
// Go package name derived from NAME), __IMPORT__ (the import of the application
// package) and __SDK__ (the SDK directory, quoted for go.mod when needed). The
// project's go.mod also requires the SDK's own requirements (as indirect) and its
// go.sum is the SDK's: see sdkRequirements.

const sdkModule = sdkdist.Module

// tmplGoMod is the go.mod of a project that requires the SDK version the binary
// carries (__VERSION__); tmplGoModLocal, of one that replaces the SDK with a local
// directory (__SDK__, quoted for go.mod when needed).
const tmplGoMod = `module __MODULE__

go 1.26

require github.com/micachain/mica/sdk __VERSION__
`

const tmplGoModLocal = `module __MODULE__

go 1.26

require github.com/micachain/mica/sdk v0.0.0

replace github.com/micachain/mica/sdk => __SDK__
`

const tmplApp = `// Package __PKG__ is a Mica application: a u64 counter that operations increment,
// with a GraphQL service for its value. The contract and service binaries are in the
// contract and service directories.
package __PKG__

import (
	"errors"
	"math"

	"github.com/micachain/mica/sdk"
)

// value is the counter, stored as JSON under "value".
var value = sdk.NewRegister[uint64]("value")

// Operation is the contract's operation: {"increment": N}. The instantiation
// argument is the initial value, a JSON number.
type Operation struct {
	Increment *uint64 ` + "`json:\"increment\"`" + `
}

// Validate refuses an operation without "increment".
func (o Operation) Validate() error {
	if o.Increment == nil {
		return errors.New(` + "`__PKG__: operation must be {\"increment\": N}`" + `)
	}
	return nil
}

// Contract is the application's contract.
type Contract struct{}

func (Contract) Instantiate(rt *sdk.Runtime, v uint64) error { return value.Set(rt, v) }

// ExecuteOperation adds N and returns the new value.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op Operation) (any, error) {
	v, err := value.GetOr(rt, 0)
	if err != nil {
		return nil, err
	}
	if *op.Increment > math.MaxUint64-v {
		return nil, errors.New("__PKG__: overflow")
	}
	v += *op.Increment
	return v, value.Set(rt, v)
}

func (Contract) ExecuteMessage(*sdk.Runtime, sdk.NoMessage) error { return nil }

// NewContract returns the contract for sdk.Contract and sdktest.
func NewContract() sdk.ContractApp {
	return sdk.ContractOf[Operation, sdk.NoMessage, uint64](Contract{})
}

// Query resolves the service's queries; the SDK derives the GraphQL schema from
// the methods of Query and Mutation (sdk.GraphQLServiceOf).
type Query struct{ rt *sdk.Runtime }

func (q *Query) Value() (sdk.U64, error) {
	v, err := value.GetOr(q.rt, 0)
	return sdk.U64(v), err
}

// Mutation resolves the service's mutations: each schedules an operation.
type Mutation struct{ rt *sdk.Runtime }

func (m *Mutation) Increment(args struct{ Value sdk.U64 }) (bool, error) {
	return true, sdk.Schedule(m.rt, Operation{Increment: (*uint64)(&args.Value)})
}

func (*Mutation) GraphQLDescriptions() map[string]string {
	return map[string]string{"increment": ` + "`Schedules the operation {\"increment\": value}.`" + `}
}

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}
`

const tmplContract = `// Command contract is the application's contract module; build it with
// ` + "`mica project build .`" + ` or:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o build/contract.wasm ./contract
package main

import (
	__IMPORT__

	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(__PKG__.NewContract()) }

func main() {}
`

const tmplService = `// Command service is the application's service module; build it with
// ` + "`mica project build .`" + ` or:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o build/service.wasm ./service
package main

import (
	__IMPORT__

	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(__PKG__.NewService()) }

func main() {}
`

const tmplTest = `package __PKG___test

import (
	"strings"
	"testing"

	"github.com/micachain/mica/sdk/sdktest"

	__IMPORT__
)

func TestCounter(t *testing.T) {
	chain := sdktest.NewChain()
	contract, service := __PKG__.NewContract(), __PKG__.NewService()
	if err := chain.Instantiate(contract, []byte("7")); err != nil {
		t.Fatal(err)
	}
	out, err := chain.ExecuteOperation(contract, []byte(` + "`{\"increment\": 5}`" + `))
	if err != nil || string(out) != "12" {
		t.Fatalf("increment: %q %v", out, err)
	}
	for _, q := range []string{` + "`{ value }`, `{\"query\":\"{ value }\"}`, `query { value }`" + `} {
		out, err := chain.Query(service, []byte(q))
		if err != nil || string(out) != ` + "`{\"data\":{\"value\":12}}`" + ` {
			t.Fatalf("query %q: %s %v", q, out, err)
		}
	}
	out, err = chain.GraphQL(service, ` + "`mutation($n: U64!) { increment(value: $n) }`" + `, map[string]any{"n": 3})
	if err != nil || string(out) != ` + "`{\"data\":{\"increment\":true}}`" + ` || string(chain.Scheduled[0]) != ` + "`{\"increment\":3}`" + ` {
		t.Fatalf("mutation: %s %v %q", out, err, chain.Scheduled)
	}
	if out, _ := chain.Query(service, []byte(` + "`{ nope }`" + `)); !strings.HasPrefix(string(out), ` + "`{\"errors\"`" + `) {
		t.Errorf("unknown field answered %s", out)
	}
	for _, op := range []string{` + "`{\"decrement\": 1}`, `{\"increment\": 18446744073709551615}`" + `} {
		if _, err := chain.ExecuteOperation(contract, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
	}
}
`

const tmplReadme = "# __MODULE__\n\n" +
	"A Mica application written with the Go SDK: a counter that operations increment.\n\n" +
	"- `__MODULE__.go`: the contract (`Contract`, on the types `Operation` and `uint64`) and the GraphQL service\n" +
	"  (`Query` and `Mutation`: the SDK derives the schema from their methods)\n" +
	"- `contract/`, `service/`: the Wasm entry points\n" +
	"- `__MODULE___test.go`: a native test with `sdktest`\n\n" +
	"```sh\n" +
	"__ENV__go test ./...                                   # native tests\n" +
	"mica project build .                            # writes build/contract.wasm and build/service.wasm\n" +
	"APP=$(mica publish-and-create build/contract.wasm build/service.wasm --json-argument 0)\n" +
	"mica execute-operation --application-id $APP --json-operation '{\"increment\": 5}'   # 5\n" +
	"mica query-application --application-id $APP '{ value }'                          # {\"data\":{\"value\":5}}\n" +
	"mica query-application --application-id $APP 'mutation { increment(value: 2) }'   # schedules and commits {\"increment\": 2}\n" +
	"```\n\n" +
	"Publishing and creating need a wallet (`mica wallet init --faucet URL`, or `--wallet DIR`).\n" +
	"To publish a module and create applications of it separately: `mica publish-module build/contract.wasm build/service.wasm`,\n" +
	"then `mica create-application MODULE --json-argument 0`.\n\n"

// tmplReadmeVersioned ends the README of a project that requires the SDK by version.
const tmplReadmeVersioned = "The SDK is the module `github.com/micachain/mica/sdk` at version __VERSION__, which the `mica`\n" +
	"binary carries: `mica project build` serves it to Go from a module proxy under your cache directory.\n" +
	"To run `go test`, `go build` or `go vet` yourself, first set the environment that `mica project env`\n" +
	"prints (GOPROXY with that proxy first, and GONOSUMDB; go.sum already pins the SDK):\n\n" +
	"```sh\n" +
	"eval \"$(mica project env)\"\n" +
	"go test ./...\n" +
	"```\n"

// tmplReadmeLocal ends the README of a project created with --sdk.
const tmplReadmeLocal = "The SDK comes from the local directory in go.mod's `replace` directive.\n"
