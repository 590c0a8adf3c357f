package bench

import (
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/sdk/sdktest"
)

// TestFungibleJSON: the benchmark's fungible operation and instantiation argument are
// what the example's contract decodes, for every kind of owner.
func TestFungibleJSON(t *testing.T) {
	chain := base.ChainID(sha256.Sum256([]byte("to")))
	var eth [20]byte
	eth[0] = 0xab
	for _, owners := range [][2]base.Owner{
		{base.Address32Owner(sha256.Sum256([]byte("a"))), base.Address32Owner(sha256.Sum256([]byte("b")))},
		{base.Address20Owner(eth), base.ChainOwner},
	} {
		from, to := owners[0], owners[1]
		var op fungible.Operation
		if err := json.Unmarshal(FungibleTransfer(from, 7, chain, to), &op); err != nil {
			t.Fatal(err)
		}
		tr := op.Transfer
		if op.Claim != nil || tr == nil || tr.Owner.String() != from.String() || *tr.Amount != 7 ||
			tr.TargetChain.String() != chain.String() || tr.TargetOwner.String() != to.String() {
			t.Fatalf("transfer %s → %s decodes as %+v", from, to, tr)
		}
		var st fungible.InitialState
		if err := json.Unmarshal(FungibleInitialState(from, 1<<62), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Accounts) != 1 || st.Accounts[from.String()] != 1<<62 {
			t.Fatalf("initial state for %s: %v", from, st.Accounts)
		}
	}
}

// TestCounterJSON: the benchmark's counter operation is one increment by the
// example's own contract.
func TestCounterJSON(t *testing.T) {
	chain := sdktest.NewChain()
	contract := counter.NewContract()
	if err := chain.Instantiate(contract, []byte("41")); err != nil {
		t.Fatal(err)
	}
	out, err := chain.ExecuteOperation(contract, CounterIncrement)
	if err != nil || string(out) != "42" {
		t.Fatalf("%s: %s %v", CounterIncrement, out, err)
	}
}
