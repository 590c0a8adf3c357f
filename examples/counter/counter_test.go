package counter_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/sdk/sdktest"
)

func TestCounter(t *testing.T) {
	chain := sdktest.NewChain()
	contract, service := counter.NewContract(), counter.NewService()
	if err := chain.Instantiate(contract, []byte("7")); err != nil {
		t.Fatal(err)
	}
	out, err := chain.ExecuteOperation(contract, []byte(`{"increment": 5}`))
	if err != nil || string(out) != "12" {
		t.Fatalf("increment: %q %v", out, err)
	}
	if chain.WriteBatches != 2 {
		t.Fatalf("%d write batches, want 2", chain.WriteBatches)
	}
	for _, q := range []string{`{ value }`, `{"query":"{ value }"}`, `query { value }`, "  {value}\n",
		`query V { ...F } fragment F on Query { value }`, `{"query":"query Q { value }","operationName":"Q","variables":null}`} {
		out, err := chain.Query(service, []byte(q))
		if err != nil || string(out) != `{"data":{"value":12}}` {
			t.Fatalf("query %q: %s %v", q, out, err)
		}
	}
	out, err = chain.Query(service, []byte(`{ a: value b: value }`))
	if err != nil || string(out) != `{"data":{"a":12,"b":12}}` {
		t.Fatalf("aliases: %s %v", out, err)
	}
	out, err = chain.Query(service, []byte(`{ __schema { queryType { name } } }`))
	if err != nil || string(out) != `{"data":{"__schema":{"queryType":{"name":"Query"}}}}` {
		t.Fatalf("introspection: %s %v", out, err)
	}
	// Bad queries are GraphQL error responses, not host errors.
	for _, q := range []string{`{ nope }`, `value`, `{}`, `{ value(x: 1) }`, `{"query": 1}`, `{"variables": {}}`,
		`{ value { x } }`, `subscription { value }`, "{ " + strings.Repeat("value ", 2000) + "}", manyFields("a%d: value", 2000),
		strings.Repeat("{", 100) + strings.Repeat("}", 100), `{"query":"query($n: U64!) { value }","variables":{"n":"x"}}`} {
		out, err := chain.Query(service, []byte(q))
		if err != nil || !strings.HasPrefix(string(out), `{"errors":[{"message":`) {
			t.Errorf("query %q answered %s %v", q, out, err)
		}
	}
	for _, op := range []string{`{"decrement": 1}`, `{"increment": -1}`, `{"increment": 18446744073709551615}`, `[]`, `{}`, `{"increment": 1} {}`, ``} {
		if _, err := chain.ExecuteOperation(contract, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
	}
	if err := chain.ExecuteMessage(contract, []byte(`{}`)); err == nil {
		t.Error("a message was accepted")
	}
	if err := chain.Instantiate(contract, []byte(`"x"`)); err == nil {
		t.Error("instantiated with a string")
	}
	if v, _ := chain.Get([]byte("value")); string(v) != "12" {
		t.Fatalf("stored %q", v)
	}
}

func TestIncrementMutation(t *testing.T) {
	chain := sdktest.NewChain()
	service := counter.NewService()
	out, err := chain.Query(service, []byte(`mutation { increment(value: 3) }`))
	if err != nil || string(out) != `{"data":{"increment":true}}` {
		t.Fatalf("mutation answer %s %v", out, err)
	}
	out, err = chain.GraphQL(service, `mutation M($n: U64!) { done: increment(value: $n) }`, map[string]any{"n": uint64(1) << 40})
	if err != nil || string(out) != `{"data":{"done":true}}` {
		t.Fatalf("mutation with a variable: %s %v", out, err)
	}
	if len(chain.Scheduled) != 2 || string(chain.Scheduled[0]) != `{"increment":3}` || string(chain.Scheduled[1]) != `{"increment":1099511627776}` {
		t.Fatalf("scheduled %q", chain.Scheduled)
	}
	for _, q := range []string{`mutation { decrement(value: 3) }`, `mutation { increment(value: -1) }`, `mutation { increment(value: 99999999999999999999999) }`} {
		out, err := chain.Query(service, []byte(q))
		if err != nil || !strings.HasPrefix(string(out), `{"errors":`) {
			t.Errorf("%s: %s %v", q, out, err)
		}
	}
	out, err = chain.GraphQL(service, `mutation M($n: U64!) { increment(value: $n) }`, map[string]any{"n": -2})
	if err != nil || !strings.Contains(string(out), `not an unsigned 64-bit integer`) {
		t.Fatalf("negative variable: %s %v", out, err)
	}
	if len(chain.Scheduled) != 2 {
		t.Fatalf("bad mutations scheduled %q", chain.Scheduled)
	}
}

func manyFields(format string, n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " "+format, i)
	}
	return b.String() + " }"
}
