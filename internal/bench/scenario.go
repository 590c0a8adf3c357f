package bench

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
)

// Scenario is what the benchmark chains put in their blocks.
type Scenario string

const (
	// Transfers: each chain sends 1-atto transfers to the next chain of the ring;
	// finality is the sending block's.
	Transfers Scenario = "transfers"
	// CrossChain: the same ring of transfers, but a transfer counts once its receiver
	// has committed the block that receives it, and finality runs from building the
	// sending block to the receiver's confirmed certificate.
	CrossChain Scenario = "cross-chain"
	// Counter: each chain increments its own state of the counter application
	// ({"increment": 1} per operation).
	Counter Scenario = "counter"
	// Fungible: each chain sends 1 token of the fungible application from its owner
	// to the next chain's owner (a tracked Credit message to the next chain).
	Fungible Scenario = "fungible"
	// Mix: operations cycle through a transfer, a counter increment and a token
	// transfer, so that blocks hold one kind or several depending on their size.
	Mix Scenario = "mix"
)

// Scenarios lists every scenario, in the order the CLI documents them.
var Scenarios = []Scenario{Transfers, CrossChain, Counter, Fungible, Mix}

// ParseScenario parses a scenario name.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	names := make([]string, len(Scenarios))
	for i, sc := range Scenarios {
		names[i] = string(sc)
	}
	return "", base.Invalidf("unknown scenario %q (want one of %s)", s, strings.Join(names, ", "))
}

// NeedsCounter and NeedsFungible say which applications a scenario uses.
func (s Scenario) NeedsCounter() bool  { return s == Counter || s == Mix }
func (s Scenario) NeedsFungible() bool { return s == Fungible || s == Mix }

// Operation kinds, as counted in Result.OperationsByKind.
const (
	kindTransfer = "transfer"
	kindCounter  = "counter"
	kindFungible = "fungible"
)

// CounterIncrement is the counter application's operation the benchmark sends: a
// counter.Operation, the example's own type, so the JSON is whatever the example
// reads.
var CounterIncrement = exampleJSON(counter.Operation{Increment: new(uint64(1))})

// FungibleTransfer is the fungible application's operation moving amount tokens from
// from's owner (who signs the block) to the owner of to on chain to: a
// fungible.Operation, the example's own type, so the JSON is whatever the example
// reads.
func FungibleTransfer(from base.Owner, amount uint64, toChain base.ChainID, toOwner base.Owner) []byte {
	target, err := fungible.ParseChain(toChain.String())
	if err != nil {
		panic(fmt.Sprintf("bench: chain %s does not parse as the fungible example's chain: %v", toChain, err))
	}
	amt := fungible.Amount(amount)
	return exampleJSON(fungible.Operation{Transfer: &fungible.Transfer{Owner: fungibleOwner(from), Amount: &amt, TargetChain: &fungible.Chain{ChainID: target}, TargetOwner: fungibleOwner(toOwner)}})
}

// FungibleInitialState is the fungible application's instantiation argument (the
// example's fungible.InitialState) giving supply tokens to owner.
func FungibleInitialState(owner base.Owner, supply uint64) []byte {
	return exampleJSON(fungible.InitialState{Accounts: map[string]fungible.Amount{fungibleOwner(owner).String(): fungible.Amount(supply)}})
}

// fungibleOwner is owner as the fungible example writes it. Every base.Owner prints
// as a string that the SDK parses (the same forms), so an error is a broken
// invariant of ours.
func fungibleOwner(owner base.Owner) *fungible.Owner {
	o, err := fungible.ParseOwner(owner.String())
	if err != nil {
		panic(fmt.Sprintf("bench: owner %s does not parse as the fungible example's owner: %v", owner, err))
	}
	return &fungible.Owner{Owner: o}
}

// exampleJSON encodes a value of the example applications' types, whose encoders do
// not fail.
func exampleJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bench: encode %T for an example application: %v", v, err))
	}
	return b
}

// workload builds the operations of one chain's blocks.
type workload struct {
	kinds []string             // the kind of each operation of the cycle
	ops   []protocol.Operation // one cycle of operations, len(kinds)
	// sends is, for each operation of the cycle, whether it sends a message to the
	// next benchmark chain.
	sends []bool
	next  int // where the next block starts in the cycle
	per   int
}

// newWorkload returns the workload of chain i of chains.
func newWorkload(cfg *Config, i int) *workload {
	cc := cfg.Chains[i]
	to := cfg.Chains[(i+1)%len(cfg.Chains)]
	transfer := protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: to.ID(), Owner: base.ChainOwner}, Amount: base.AmountFromAttos(1)})
	counter := protocol.Operation{App: cfg.CounterApp, Bytes: CounterIncrement}
	fungible := protocol.Operation{App: cfg.FungibleApp, Bytes: FungibleTransfer(cc.Owner(), 1, to.ID(), to.Owner())}
	w := &workload{per: cfg.OpsPerBlock}
	add := func(kind string, op protocol.Operation, sends bool) {
		w.kinds = append(w.kinds, kind)
		w.ops = append(w.ops, op)
		w.sends = append(w.sends, sends)
	}
	switch cfg.Scenario {
	case Counter:
		add(kindCounter, counter, false)
	case Fungible:
		add(kindFungible, fungible, true)
	case Mix:
		// Start each chain at another point of the cycle, so that with one operation
		// per block the three kinds run at once on different chains.
		cycle := []func(){
			func() { add(kindTransfer, transfer, true) },
			func() { add(kindCounter, counter, false) },
			func() { add(kindFungible, fungible, true) },
		}
		for j := range cycle {
			cycle[(i+j)%len(cycle)]()
		}
	default:
		add(kindTransfer, transfer, true)
	}
	return w
}

// block returns the next block's operations, their kinds and how many of them send a
// message to the next chain.
func (w *workload) block() (ops []protocol.Operation, kinds []string, sends int) {
	ops = make([]protocol.Operation, w.per)
	kinds = make([]string, w.per)
	for j := range ops {
		k := (w.next + j) % len(w.ops)
		ops[j], kinds[j] = w.ops[k], w.kinds[k]
		if w.sends[k] {
			sends++
		}
	}
	return ops, kinds, sends
}

// advance moves the cycle past a committed block.
func (w *workload) advance() { w.next = (w.next + w.per) % len(w.ops) }

// chainSet says whether a chain is one of the benchmark chains.
type chainSet map[base.ChainID]bool

func newChainSet(ccs []*client.ChainClient) chainSet {
	s := make(chainSet, len(ccs))
	for _, cc := range ccs {
		s[cc.ID()] = true
	}
	return s
}
