// Package counter is the minimal Mica application: a u64 counter that operations
// increment, with a GraphQL service for its value. The contract and service binaries
// are in the contract and service directories.
package counter

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
	Increment *uint64 `json:"increment"`
}

// Validate refuses an operation without "increment".
func (o Operation) Validate() error {
	if o.Increment == nil {
		return errors.New(`counter: operation must be {"increment": N}`)
	}
	return nil
}

// Contract is the counter's contract.
type Contract struct{}

func (Contract) Instantiate(rt *sdk.Runtime, v uint64) error { return value.Set(rt, v) }

// ExecuteOperation adds N and returns the new value.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op Operation) (any, error) {
	v, err := value.GetOr(rt, 0)
	if err != nil {
		return nil, err
	}
	if *op.Increment > math.MaxUint64-v {
		return nil, errors.New("counter: overflow")
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
	return map[string]string{"increment": `Schedules the operation {"increment": value}.`}
}

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} }, func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} })
}
