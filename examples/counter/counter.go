// Package counter is the minimal Mica application: a u64 counter that operations
// increment, with a GraphQL-shaped query for its value. The contract and service
// binaries are in the contract and service directories.
package counter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/micachain/mica/sdk"
)

// value is the counter, stored as JSON under "value".
var value = sdk.NewRegister[uint64]("value")

// Operation is the contract's operation: {"increment": N}.
type Operation struct {
	Increment *uint64 `json:"increment"`
}

// Contract is the counter's contract.
type Contract struct{}

// Instantiate stores the initial value, a JSON number.
func (Contract) Instantiate(rt *sdk.Runtime, arg []byte) error {
	var v uint64
	if err := json.Unmarshal(arg, &v); err != nil {
		return fmt.Errorf("counter: instantiation argument must be a JSON number: %w", err)
	}
	return value.Set(rt, v)
}

// ExecuteOperation applies {"increment": N} and returns the new value as JSON.
func (Contract) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var o Operation
	d := json.NewDecoder(bytes.NewReader(op))
	d.DisallowUnknownFields()
	if err := d.Decode(&o); err != nil || o.Increment == nil {
		return nil, fmt.Errorf(`counter: operation must be {"increment": N}`)
	}
	v, err := value.GetOr(rt, 0)
	if err != nil {
		return nil, err
	}
	if *o.Increment > math.MaxUint64-v {
		return nil, errors.New("counter: overflow")
	}
	v += *o.Increment
	if err := value.Set(rt, v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// ExecuteMessage refuses messages: the counter sends none.
func (Contract) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	return errors.New("counter: no messages")
}

// Service is the counter's service.
type Service struct{}

// HandleQuery answers `{ value }` — given as the text or as {"query": "{ value }"} —
// with {"data":{"value":N}}.
//
// The mutation `mutation { increment(value: N) }` schedules the operation
// {"increment": N}, which the client commits in a block, and answers
// {"data":{"increment":true}}.
func (Service) HandleQuery(rt *sdk.Runtime, q []byte) ([]byte, error) {
	op, err := sdk.ParseGraphQL(q)
	if err != nil {
		return nil, fmt.Errorf("counter: %w", err)
	}
	if op.Kind == "mutation" {
		return increment(rt, op.Fields)
	}
	data := map[string]any{}
	for _, f := range op.Fields {
		if f.Args != nil || f.Selection != nil {
			return nil, fmt.Errorf("counter: field %q takes no arguments or selection", f.Name)
		}
		switch f.Name {
		case "value":
			v, err := value.GetOr(rt, 0)
			if err != nil {
				return nil, err
			}
			data[f.Key()] = v
		default:
			return nil, fmt.Errorf("counter: unknown field %q", f.Name)
		}
	}
	return sdk.GraphQLData(data), nil
}

// increment handles `mutation [Name] { increment(value: N) }`: it schedules the
// operation {"increment": N}.
func increment(rt *sdk.Runtime, fields []sdk.Field) ([]byte, error) {
	if len(fields) != 1 || fields[0].Name != "increment" || len(fields[0].Args) != 1 || fields[0].Selection != nil {
		return nil, errors.New("counter: the only mutation is increment(value: N)")
	}
	f := fields[0]
	arg, ok := f.Args["value"]
	if !ok {
		return nil, errors.New("counter: the only mutation is increment(value: N)")
	}
	n, ok := arg.(int64)
	if !ok || n < 0 {
		return nil, fmt.Errorf("counter: increment value must be a non-negative integer, got %v", arg)
	}
	op, err := json.Marshal(map[string]uint64{"increment": uint64(n)})
	if err != nil {
		return nil, err
	}
	rt.ScheduleOperation(op)
	return sdk.GraphQLData(map[string]bool{f.Key(): true}), nil
}
