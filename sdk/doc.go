// Package sdk is Mica's application SDK for Go: contracts and services written
// against it compile to Wasm with the standard toolchain
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o app.wasm .
//
// and speak the host ABI version 1 (host module "mica": call, result, set_output,
// set_error, log). A module registers its handlers once, from init:
//
//	func init() { sdk.Contract(MyContract{}) } // or sdk.Service(MyService{})
//	func main() {}
//
// Typed applications (typed.go). A contract declares its operation, message and
// instantiation argument types and implements TypedContract on them; ContractOf (or
// RunContract) wraps it in the byte-level ContractApp, decoding each input from JSON
// with DecodeJSON (unknown fields, trailing data and empty input are errors; a type
// with a Validate method checks itself) and encoding the operation's response as
// JSON. NoMessage and NoArgument stand for "none". The host ABI is unchanged.
// Operations that are flat objects of integer and boolean fields, integer and
// boolean arguments, responses and Register/Map/Queue/Log values take a fast path
// that reads and writes canonical JSON without encoding/json (a third of the
// instructions of a counter increment); it accepts and refuses exactly what
// encoding/json does, and hands it everything else (fastjson.go).
//
//	type Operation struct{ Increment *uint64 `json:"increment"` }
//	func (Contract) ExecuteOperation(rt *sdk.Runtime, op Operation) (any, error) { ... }
//	func init() { sdk.RunContract[Operation, sdk.NoMessage, uint64](Contract{}) }
//
// GraphQL services (graphql.go, schema.go). A GraphQLService answers GraphQL with the
// github.com/graph-gophers/graphql-go engine running in the guest: variables,
// fragments, aliases, directives, introspection. GraphQLServiceOf derives the schema
// from two Go types built per query with the Runtime: the exported methods of Query
// are the query fields, those of Mutation the mutation fields (mutations schedule
// operations with Schedule). An args struct's fields are arguments, returned structs
// are object types, slices lists, pointers nullable; U64, Timestamp, Amount, Owner,
// ChainID, ApplicationID and any type with ImplementsGraphQLType/UnmarshalGraphQL are
// scalars of their Go names; GraphQLDescriptions methods document types, fields and
// arguments. Unsupported Go types are errors of GraphQLServiceOf (at start-up); SDL
// returns the derived schema, sorted. NewGraphQLService takes a hand-written SDL string
// and one root type instead. The request is the JSON body {"query", "variables",
// "operationName"} or a bare query text. Every error — a syntax error, an unknown
// field, a resolver's error or panic, a request beyond the limits (depth
// MaxGraphQLDepth, MaxGraphQLSelections selections after fragments,
// MaxGraphQLQueryBytes of text) — is an ordinary {"errors": [...]} response; only a
// trap of the guest is a host error. Build the service once, from init (the node
// snapshots a module after init, so queries do not pay for it).
//
//	type Query struct{ rt *sdk.Runtime }
//	func (q *Query) Value() (sdk.U64, error) { ... }              // value: U64!
//	type Mutation struct{ rt *sdk.Runtime }
//	func (m *Mutation) Increment(args struct{ Value sdk.U64 }) (bool, error) { ... } // increment(value: U64!): Boolean!
//	func init() {
//		sdk.Service(sdk.MustGraphQLServiceOf(func(rt *sdk.Runtime) *Query { return &Query{rt} },
//			func(rt *sdk.Runtime) *Mutation { return &Mutation{rt} }))
//	}
//
// Application parameters: Runtime.Parameters returns the bytes given when the
// application was created (`mica create-application --json-parameters`), the same on
// every chain; ParametersOf[P] decodes them like an operation (strict JSON, Validate;
// none given is P's zero value). Hosts older than SDK v0.2.0 refuse the request.
//
// Text forms (text.go): ParseOwner, ParseChainID, ParseApplicationID and ParseAmount
// read what Owner.String, ChainID.String, ApplicationID.String and Amount.Tokens write;
// the four types are JSON strings and GraphQL scalars of their names, like U64.
//
// The SDK exports mica_alloc and the entry points (mica_instantiate,
// mica_execute_operation, mica_execute_message, mica_finalize, mica_process_streams,
// mica_handle_query),
// dispatches them to the registered handlers, reports errors (and recovered panics)
// with set_error and status 1, and flushes a contract's staged storage writes as one
// write batch when an entry point succeeds.
//
// Event streams (streams.go): a contract emits events with Runtime.Emit, subscribes
// with Runtime.SubscribeToEvents and receives new events in StreamProcessor's
// ProcessStreams, reading them with Runtime.ReadEvent (examples/social).
//
// Data blobs: Runtime.ReadDataBlob returns the bytes of a blob published with `mica
// publish-data-blob` (from a file, or from an external store checked against its
// hash), by the hash that command prints (examples/auction).
//
// Contracts reach the outside world through oracles whose answers every validator
// records in the block: Runtime.HTTPRequest (hosts on the committee's allow-list),
// Runtime.QueryService (an application's service as oracle) and Runtime.AssertBefore
// (a deadline on the validators' clocks). Services may also make HTTP requests, which
// are not recorded. Blocks that use oracles commit only when a quorum of validators
// got the same answers.
//
// Package sdktest runs the same handlers natively against an in-memory chain (with a
// fake HTTP endpoint: Chain.HTTP).
package sdk
