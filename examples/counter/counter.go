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

// Schema is the service's GraphQL schema.
const Schema = `
scalar U64
type Query { value: U64! }
type Mutation { "Schedules the operation {\"increment\": value}." increment(value: U64!): Boolean! }`

// Service resolves Schema.
type Service struct{ rt *sdk.Runtime }

func (s *Service) Value() (sdk.U64, error) {
	v, err := value.GetOr(s.rt, 0)
	return sdk.U64(v), err
}

func (s *Service) Increment(args struct{ Value sdk.U64 }) (bool, error) {
	return true, sdk.Schedule(s.rt, Operation{Increment: (*uint64)(&args.Value)})
}

// NewService returns the service for sdk.Service and sdktest.
func NewService() sdk.ServiceApp {
	return sdk.MustGraphQLService(Schema, func(rt *sdk.Runtime) any { return &Service{rt} })
}
