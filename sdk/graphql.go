package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

// Limits of a GraphQL request a service accepts. A request beyond them gets a GraphQL
// error response; the host's fuel and wall-clock limits bound the rest (resolvers,
// lists).
const (
	// MaxGraphQLQueryBytes bounds the query text.
	MaxGraphQLQueryBytes = 64 << 10
	// MaxGraphQLDepth bounds the nesting of selections.
	MaxGraphQLDepth = 16
	// MaxGraphQLOverlapPairs bounds the pairs of fields with one response key that
	// validation compares (quadratic in the fields otherwise).
	MaxGraphQLOverlapPairs = 10000
	// MaxGraphQLSelections bounds the selections an operation expands to after its
	// fragments are spread: the top-level fields and aliases and everything below.
	MaxGraphQLSelections = 1000
)

// GraphQLRequest is what a service receives: the JSON body clients POST, or a bare
// query text (the CLI's `mica query-application APP '{ value }'`).
type GraphQLRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables,omitempty"`
	OperationName string         `json:"operationName,omitempty"`
}

// ParseGraphQLRequest reads a request: a JSON object {"query", "variables",
// "operationName"} (an "extensions" member is ignored), or else the bytes are the query
// text. JSON numbers in variables become int64 when integral and in range, uint64
// when integral and larger, float64 otherwise.
func ParseGraphQLRequest(b []byte) (GraphQLRequest, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return GraphQLRequest{Query: string(b)}, nil
	}
	var raw struct {
		Query         *string         `json:"query"`
		Variables     json.RawMessage `json:"variables"`
		OperationName *string         `json:"operationName"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		return GraphQLRequest{}, fmt.Errorf("GraphQL request: %w", err)
	}
	if raw.Query == nil {
		return GraphQLRequest{}, errors.New(`GraphQL request: JSON request without a "query" string`)
	}
	req := GraphQLRequest{Query: *raw.Query}
	if raw.OperationName != nil {
		req.OperationName = *raw.OperationName
	}
	if len(raw.Variables) > 0 && string(raw.Variables) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw.Variables))
		d.UseNumber()
		var vars map[string]any
		if err := d.Decode(&vars); err != nil {
			return GraphQLRequest{}, fmt.Errorf(`GraphQL request: "variables" must be an object: %w`, err)
		}
		req.Variables = numbers(vars).(map[string]any)
	}
	return req, nil
}

// numbers replaces the json.Numbers in v by int64, uint64 or float64.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		f, _ := v.Float64() // json.Valid checked it; out of range gives ±Inf
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = numbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbers(e)
		}
	}
	return v
}

// GraphQLService is a service that answers GraphQL with github.com/graph-gophers/graphql-go:
// the schema is an SDL string and the resolvers are the methods of the root value
// that root returns for each query (graph-gophers binds a field `value` to a method
// Value, arguments to a struct of exported fields, Int to int32, Float to float64,
// String and ID to string and graphql.ID, Boolean to bool; the scalars U64 and Amount
// to the SDK's types of those names; exported struct fields resolve fields too). Query
// and mutation fields are both methods of the root value. Mutations schedule
// operations with Schedule.
//
// Every query runs with the limits above; resolvers run one at a time. A request that
// fails to parse or validate, or whose resolvers return errors, is answered with a
// normal GraphQL response holding "errors" (and the data that could be resolved); only
// a trap of the guest is a host error. A panic in a resolver becomes a GraphQL error.
type GraphQLService struct {
	schema *graphql.Schema
	sdl    string
	// bind puts the resolvers of a query on rt in place (the engine's resolvers are
	// bound once, to fixed values, which hold a copy of the query's during a query) and
	// returns the function that clears them. mu serializes queries.
	bind func(rt *Runtime) (unbind func(), err error)
	mu   sync.Mutex
}

// NewGraphQLService parses sdl and binds it to the type of the value root returns,
// which must be a pointer to a struct with a resolver for every field (root is called
// with a nil Runtime for the check). Each query runs on a copy of root(rt); queries on
// one service run one at a time. Call it once, from init (the node snapshots a
// module's state after init, so the schema is not parsed again for each query).
// GraphQLServiceOf writes the schema from Go types instead.
func NewGraphQLService(sdl string, root func(rt *Runtime) any) (*GraphQLService, error) {
	proto := reflect.ValueOf(root(nil))
	if !proto.IsValid() || proto.Kind() != reflect.Pointer || proto.IsNil() || proto.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("sdk: GraphQL root: root returns %T, want a non-nil pointer to a struct", root(nil))
	}
	// Binding resolvers is most of a small query's cost (reflection over the root
	// type), so the schema is bound once, to bound, and each query copies its root
	// value there.
	bound := reflect.New(proto.Elem().Type())
	s, err := graphql.ParseSchema(sdl, bound.Interface(), schemaOpts...)
	if err != nil {
		return nil, fmt.Errorf("sdk: GraphQL schema: %w", err)
	}
	svc := &GraphQLService{schema: s, sdl: sdl}
	svc.bind = func(rt *Runtime) (func(), error) {
		r := root(rt)
		v := reflect.ValueOf(r)
		if !v.IsValid() || v.Type() != bound.Type() || v.IsNil() {
			return nil, fmt.Errorf("sdk: GraphQL root: root returned %T, want a non-nil %s", r, bound.Type())
		}
		bound.Elem().Set(v.Elem())
		return func() { bound.Elem().SetZero() }, nil
	}
	return svc, nil
}

// SDL returns the service's schema: the text given to NewGraphQLService, or the one
// GraphQLServiceOf derived.
func (s *GraphQLService) SDL() string { return s.sdl }

// schemaOpts are the engine's options.
var schemaOpts = []graphql.SchemaOpt{
	graphql.MaxDepth(MaxGraphQLDepth),
	graphql.MaxSelections(MaxGraphQLSelections),
	graphql.MaxQueryLength(MaxGraphQLQueryBytes),
	graphql.MaxParallelism(1),
	graphql.Logger(discardLogger{}),
	graphql.UseStringDescriptions(),
	graphql.UseFieldResolvers(),
	graphql.OverlapValidationLimit(MaxGraphQLOverlapPairs),
}

// MustGraphQLService is NewGraphQLService that panics on error (a programming error
// in the schema or resolvers, which the application's tests reveal).
func MustGraphQLService(sdl string, root func(rt *Runtime) any) *GraphQLService {
	s, err := NewGraphQLService(sdl, root)
	if err != nil {
		panic(err)
	}
	return s
}

// RunService registers a GraphQL service: sdk.Service(MustGraphQLService(sdl, root)).
func RunService(sdl string, root func(rt *Runtime) any) {
	Service(MustGraphQLService(sdl, root))
}

// HandleQuery answers a request (see ParseGraphQLRequest) with the GraphQL JSON
// response.
func (s *GraphQLService) HandleQuery(rt *Runtime, query []byte) ([]byte, error) {
	req, err := ParseGraphQLRequest(query)
	if err != nil {
		return GraphQLError(err), nil
	}
	return s.Execute(rt, req), nil
}

// Execute runs req and returns the GraphQL JSON response.
func (s *GraphQLService) Execute(rt *Runtime, req GraphQLRequest) (out []byte) {
	defer func() {
		// The engine panics on a few malformed literals (an integer beyond 64 bits for
		// a custom scalar); that is the request's fault, not the guest's.
		if r := recover(); r != nil {
			out = GraphQLError(fmt.Errorf("invalid request: %v", r))
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	unbind, err := s.bind(rt)
	if err != nil {
		return GraphQLError(err)
	}
	defer unbind()
	resp := s.schema.Exec(context.Background(), req.Query, req.OperationName, req.Variables)
	b, err := json.Marshal(resp)
	if err != nil {
		return GraphQLError(err)
	}
	return b
}

type discardLogger struct{}

func (discardLogger) LogPanic(context.Context, any) {}

// GraphQLData returns the GraphQL response {"data": data}. A value that cannot be
// encoded as JSON gives a GraphQLError response instead.
func GraphQLData(data any) []byte {
	b, err := json.Marshal(struct {
		Data any `json:"data"`
	}{data})
	if err != nil {
		return GraphQLError(err)
	}
	return b
}

// GraphQLError returns the GraphQL response {"errors": [{"message": err.Error()}]}.
func GraphQLError(err error) []byte {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	b, _ := json.Marshal(struct {
		Errors []*gqlerrors.QueryError `json:"errors"`
	}{[]*gqlerrors.QueryError{{Message: msg}}}) // strings always encode
	return b
}

// Schedule encodes op as JSON and schedules it as an operation of this application
// (services only): a mutation's resolver calls it, and the client commits the
// operations in a block.
//
//	func (q *Query) Increment(args struct{ Value sdk.U64 }) (bool, error) {
//		return true, sdk.Schedule(q.rt, Operation{Increment: &args.Value})
//	}
func Schedule(rt *Runtime, op any) error {
	b, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("sdk: encode the scheduled operation: %w", err)
	}
	rt.ScheduleOperation(b)
	return nil
}

// U64 is an unsigned 64-bit integer: the GraphQL scalar U64 (declare `scalar U64` in
// the schema), a JSON number in responses and in operations. As input it takes an
// integer literal or variable in [0, 2^64), or a decimal string.
type U64 uint64

func (U64) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "An unsigned 64-bit integer: a JSON number (a decimal string is accepted as input)."}
}

func (Timestamp) GraphQLDescriptions() map[string]string {
	return map[string]string{"": "Microseconds since the Unix epoch: a JSON number."}
}

// ImplementsGraphQLType binds U64 to the schema's scalar U64.
func (U64) ImplementsGraphQLType(name string) bool { return name == "U64" }

// UnmarshalGraphQL reads an argument.
func (u *U64) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case int32:
		if v >= 0 {
			*u = U64(v)
			return nil
		}
	case int64:
		if v >= 0 {
			*u = U64(v)
			return nil
		}
	case uint64:
		*u = U64(v)
		return nil
	case float64:
		if v >= 0 && v < 1<<53 && math.Trunc(v) == v {
			*u = U64(v)
			return nil
		}
	case string:
		n, err := strconv.ParseUint(v, 10, 64)
		if err == nil {
			*u = U64(n)
			return nil
		}
	}
	return fmt.Errorf("U64: %v is not an unsigned 64-bit integer", input)
}

// ImplementsGraphQLType binds Timestamp to the scalar Timestamp: microseconds since
// the Unix epoch, a JSON number in responses; as input, what U64 takes.
func (Timestamp) ImplementsGraphQLType(name string) bool { return name == "Timestamp" }

// UnmarshalGraphQL reads an argument.
func (t *Timestamp) UnmarshalGraphQL(input any) error {
	var u U64
	if err := u.UnmarshalGraphQL(input); err != nil {
		return fmt.Errorf("Timestamp: %v is not an unsigned 64-bit integer", input)
	}
	*t = Timestamp(u)
	return nil
}
