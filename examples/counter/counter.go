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
	"strconv"
	"strings"

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
	query := string(q)
	var req struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(q, &req) == nil && req.Query != "" {
		query = req.Query
	}
	if n, ok, err := parseIncrementMutation(query); ok {
		if err != nil {
			return nil, err
		}
		op, err := json.Marshal(map[string]uint64{"increment": n})
		if err != nil {
			return nil, err
		}
		rt.ScheduleOperation(op)
		return []byte(`{"data":{"increment":true}}`), nil
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
			return nil, fmt.Errorf("counter: unknown field %q", f)
		}
	}
	return json.Marshal(map[string]any{"data": data})
}

// parseSelection parses `[query [Name]] { field field ... }` (a flat GraphQL
// selection set without arguments) and returns the fields.
func parseSelection(q string) ([]string, error) {
	q = strings.TrimSpace(q)
	if rest, ok := strings.CutPrefix(q, "query"); ok {
		i := strings.IndexByte(rest, '{')
		if i < 0 || strings.TrimSpace(rest[:i]) != "" && strings.ContainsAny(rest[:i], "(){}") {
			return nil, errors.New("counter: unsupported query")
		}
		q = rest[i:]
	}
	inner, ok := strings.CutPrefix(q, "{")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok {
		return nil, fmt.Errorf("counter: query must be a selection set like { value }, got %q", q)
	}
	fields := strings.FieldsFunc(inner, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("counter: empty selection set")
	}
	for _, f := range fields {
		for _, r := range f {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return nil, fmt.Errorf("counter: unsupported query syntax in %q", f)
			}
		}
	}
	return fields, nil
}

// parseIncrementMutation recognizes `mutation [Name] { increment(value: N) }`.
func parseIncrementMutation(q string) (uint64, bool, error) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "mutation") {
		return 0, false, nil
	}
	open := strings.Index(q, "{")
	if open < 0 || !strings.HasSuffix(q, "}") {
		return 0, true, fmt.Errorf("counter: malformed mutation")
	}
	body := strings.Join(strings.Fields(q[open+1:len(q)-1]), "")
	const prefix, suffix = "increment(value:", ")"
	if !strings.HasPrefix(body, prefix) || !strings.HasSuffix(body, suffix) {
		return 0, true, fmt.Errorf("counter: the only mutation is increment(value: N)")
	}
	n, err := strconv.ParseUint(body[len(prefix):len(body)-len(suffix)], 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("counter: increment value: %v", err)
	}
	return n, true, nil
}
