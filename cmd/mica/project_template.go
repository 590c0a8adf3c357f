package main

// The files `mica project new NAME` writes: a counter application like
// examples/counter. Placeholders: __MODULE__ (the module path, NAME), __PKG__ (the
// Go package name derived from NAME), __IMPORT__ (the import of the application
// package) and __SDK__ (the SDK directory, quoted for go.mod when needed).

const sdkModule = "github.com/micachain/mica/sdk"

const tmplGoMod = `module __MODULE__

go 1.26

require github.com/micachain/mica/sdk v0.0.0

replace github.com/micachain/mica/sdk => __SDK__
`

const tmplApp = `// Package __PKG__ is a Mica application: a u64 counter that operations increment,
// with a GraphQL-shaped query for its value. The contract and service binaries are
// in the contract and service directories.
package __PKG__

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/micachain/mica/sdk"
)

// value is the counter, stored as JSON under "value".
var value = sdk.NewRegister[uint64]("value")

// Operation is the contract's operation: {"increment": N}.
type Operation struct {
	Increment *uint64 ` + "`json:\"increment\"`" + `
}

// Contract is the application's contract.
type Contract struct{}

// Instantiate stores the initial value, a JSON number.
func (Contract) Instantiate(rt *sdk.Runtime, arg []byte) error {
	var v uint64
	if err := json.Unmarshal(arg, &v); err != nil {
		return fmt.Errorf("__PKG__: instantiation argument must be a JSON number: %w", err)
	}
	return value.Set(rt, v)
}

// ExecuteOperation applies {"increment": N} and returns the new value as JSON.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	d := json.NewDecoder(bytes.NewReader(op))
	d.DisallowUnknownFields()
	if err := d.Decode(&o); err != nil || o.Increment == nil {
		return nil, errors.New(` + "`__PKG__: operation must be {\"increment\": N}`" + `)
	}
	v, err := value.GetOr(rt, 0)
	if err != nil {
		return nil, err
	}
	if *o.Increment > math.MaxUint64-v {
		return nil, errors.New("__PKG__: overflow")
	}
	v += *o.Increment
	if err := value.Set(rt, v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// ExecuteMessage refuses messages: the application sends none.
func (Contract) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	return errors.New("__PKG__: no messages")
}

// Service is the application's service.
type Service struct{}

// HandleQuery answers ` + "`{ value }`" + ` — given as the text or as {"query": "{ value }"} —
// with {"data":{"value":N}}.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	query := string(q)
	var req struct {
		Query string ` + "`json:\"query\"`" + `
	}
	if json.Unmarshal(q, &req) == nil && req.Query != "" {
		query = req.Query
	}
	fields, err := parseSelection(query)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	for _, f := range fields {
		switch f {
		case "value":
			v, err := value.GetOr(rt, 0)
			if err != nil {
				return nil, err
			}
			data["value"] = v
		default:
			return nil, fmt.Errorf("__PKG__: unknown field %q", f)
		}
	}
	return json.Marshal(map[string]any{"data": data})
}

// parseSelection parses ` + "`[query [Name]] { field field ... }`" + ` (a flat GraphQL
// selection set without arguments) and returns the fields.
func parseSelection(q string) ([]string, error) {
	q = strings.TrimSpace(q)
	if rest, ok := strings.CutPrefix(q, "query"); ok {
		i := strings.IndexByte(rest, '{')
		if i < 0 || strings.TrimSpace(rest[:i]) != "" && strings.ContainsAny(rest[:i], "(){}") {
			return nil, errors.New("__PKG__: unsupported query")
		}
		q = rest[i:]
	}
	inner, ok := strings.CutPrefix(q, "{")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok {
		return nil, fmt.Errorf("__PKG__: query must be a selection set like { value }, got %q", q)
	}
	fields := strings.FieldsFunc(inner, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("__PKG__: empty selection set")
	}
	for _, f := range fields {
		for _, r := range f {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return nil, fmt.Errorf("__PKG__: unsupported query syntax in %q", f)
			}
		}
	}
	return fields, nil
}
`

const tmplContract = `// Command contract is the application's contract module; build it with
// ` + "`mica project build .`" + ` or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/contract.wasm ./contract
package main

import (
	__IMPORT__

	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(__PKG__.Contract{}) }

func main() {}
`

const tmplService = `// Command service is the application's service module; build it with
// ` + "`mica project build .`" + ` or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/service.wasm ./service
package main

import (
	__IMPORT__

	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(__PKG__.Service{}) }

func main() {}
`

const tmplTest = `package __PKG___test

import (
	"testing"

	"github.com/micachain/mica/sdk/sdktest"

	__IMPORT__
)

func TestCounter(t *testing.T) {
	chain := sdktest.NewChain()
	if err := chain.Instantiate(__PKG__.Contract{}, []byte("7")); err != nil {
		t.Fatal(err)
	}
	out, err := chain.ExecuteOperation(__PKG__.Contract{}, []byte(` + "`{\"increment\": 5}`" + `))
	if err != nil || string(out) != "12" {
		t.Fatalf("increment: %q %v", out, err)
	}
	for _, q := range []string{` + "`{ value }`, `{\"query\":\"{ value }\"}`, `query { value }`" + `} {
		out, err := chain.Query(__PKG__.Service{}, []byte(q))
		if err != nil || string(out) != ` + "`{\"data\":{\"value\":12}}`" + ` {
			t.Fatalf("query %q: %s %v", q, out, err)
		}
	}
	for _, op := range []string{` + "`{\"decrement\": 1}`, `{\"increment\": 18446744073709551615}`" + `} {
		if _, err := chain.ExecuteOperation(__PKG__.Contract{}, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
	}
}
`

const tmplReadme = "# __MODULE__\n\n" +
	"A Mica application written with the Go SDK: a counter that operations increment.\n\n" +
	"- `__MODULE__.go`: the contract (`Contract`) and the service (`Service`)\n" +
	"- `contract/`, `service/`: the Wasm entry points\n" +
	"- `__MODULE___test.go`: a native test with `sdktest`\n\n" +
	"```sh\n" +
	"go test ./...                                   # native tests\n" +
	"mica project build .                            # writes build/contract.wasm and build/service.wasm\n" +
	"APP=$(mica publish-and-create build/contract.wasm build/service.wasm --json-argument 0)\n" +
	"mica execute-operation --application-id $APP --json-operation '{\"increment\": 5}'   # 5\n" +
	"mica query-application --application-id $APP '{ value }'                          # {\"data\":{\"value\":5}}\n" +
	"```\n\n" +
	"Publishing and creating need a wallet (`mica wallet init --faucet URL`, or `--wallet DIR`).\n" +
	"To publish a module and create applications of it separately: `mica publish-module build/contract.wasm build/service.wasm`,\n" +
	"then `mica create-application MODULE --json-argument 0`.\n\n" +
	"The SDK comes from the local directory in go.mod's `replace` directive.\n"
