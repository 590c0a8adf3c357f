package counter_test

import (
	"testing"

	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/sdk/sdktest"
)

func TestCounter(t *testing.T) {
	chain := sdktest.NewChain()
	if err := chain.Instantiate(counter.Contract{}, []byte("7")); err != nil {
		t.Fatal(err)
	}
	out, err := chain.ExecuteOperation(counter.Contract{}, []byte(`{"increment": 5}`))
	if err != nil || string(out) != "12" {
		t.Fatalf("increment: %q %v", out, err)
	}
	if chain.WriteBatches != 2 {
		t.Fatalf("%d write batches, want 2", chain.WriteBatches)
	}
	for _, q := range []string{`{ value }`, `{"query":"{ value }"}`, `query { value }`, "  {value}\n"} {
		out, err := chain.Query(counter.Service{}, []byte(q))
		if err != nil || string(out) != `{"data":{"value":12}}` {
			t.Fatalf("query %q: %s %v", q, out, err)
		}
	}
	for _, q := range []string{`{ nope }`, `value`, `{}`, `{ value(x: 1) }`} {
		if out, err := chain.Query(counter.Service{}, []byte(q)); err == nil {
			t.Errorf("query %q answered %s", q, out)
		}
	}
	for _, op := range []string{`{"decrement": 1}`, `{"increment": -1}`, `{"increment": 18446744073709551615}`, `[]`} {
		if _, err := chain.ExecuteOperation(counter.Contract{}, []byte(op)); err == nil {
			t.Errorf("operation %s succeeded", op)
		}
	}
	if err := chain.Instantiate(counter.Contract{}, []byte(`"x"`)); err == nil {
		t.Error("instantiated with a string")
	}
	if v, _ := chain.Get([]byte("value")); string(v) != "12" {
		t.Fatalf("stored %q", v)
	}
}

func TestIncrementMutation(t *testing.T) {
	chain := sdktest.NewChain()
	out, err := chain.Query(counter.Service{}, []byte(`mutation { increment(value: 3) }`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"data":{"increment":true}}` {
		t.Fatalf("mutation answer %s", out)
	}
	if len(chain.Scheduled) != 1 || string(chain.Scheduled[0]) != `{"increment":3}` {
		t.Fatalf("scheduled %q", chain.Scheduled)
	}
	if _, err := chain.Query(counter.Service{}, []byte(`mutation { decrement(value: 3) }`)); err == nil {
		t.Fatal("unknown mutation accepted")
	}
}
