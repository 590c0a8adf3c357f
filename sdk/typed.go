package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// TypedContract is a contract on Go types: its operations, messages and instantiation
// argument are Op, Msg and Arg, which the SDK decodes from JSON (DecodeJSON: unknown
// fields and trailing data are refused; an empty instantiation argument is JSON
// null). ExecuteOperation's response is encoded as
// JSON (nil: no response; a json.RawMessage is written as is, a []byte would be
// base64). Implement Finalizer or StreamProcessor too when needed.
//
//	sdk.RunContract[counter.Operation, sdk.NoMessage, uint64](counter.Contract{})
type TypedContract[Op, Msg, Arg any] interface {
	Instantiate(rt *Runtime, arg Arg) error
	ExecuteOperation(rt *Runtime, op Op) (any, error)
	ExecuteMessage(rt *Runtime, msg Msg) error
}

// Validator is implemented by operation, message and argument types that check
// themselves after decoding (that exactly one variant is set, for instance).
type Validator interface {
	Validate() error
}

// NoMessage is the message type of a contract that sends none: decoding one fails.
type NoMessage struct{}

// UnmarshalJSON refuses every message.
func (*NoMessage) UnmarshalJSON([]byte) error {
	return errors.New("this application sends no messages")
}

// NoArgument is the instantiation argument of a contract that takes none: any input,
// empty included, is accepted and ignored.
type NoArgument struct{}

// ContractOf returns the byte-level ContractApp that runs c: what Contract registers
// and what sdktest runs.
func ContractOf[Op, Msg, Arg any](c TypedContract[Op, Msg, Arg]) ContractApp {
	warmJSON[Op]()
	warmJSON[Msg]()
	warmJSON[Arg]()
	return typedContract[Op, Msg, Arg]{c: c, op: planFor[Op](), msg: planFor[Msg](), arg: planFor[Arg]()}
}

// warmJSON fills encoding/json's caches for T (struct fields, encoders, and the
// type assertions decoding makes) by encoding a T whose pointers, slices and maps hold
// one zero element each (down to a few levels) and decoding the result into a new T
// with DecodeJSON, as the runs do (its decoder's allocations also leave the Go heap
// with free slots of the sizes they need).
// ContractOf runs from the contract's init, during the module's _initialize, and every
// contract run starts from the state _initialize left: the runs then find the caches
// filled instead of rebuilding them by reflection each time (more than half of the
// instructions of a counter increment). Errors and panics (a custom method refusing
// such a value) are ignored: the caches only save time.
func warmJSON[T any]() {
	defer func() { _ = recover() }()
	var v T
	fill(reflect.ValueOf(&v).Elem(), 4)
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("{}")
	}
	var w T
	_ = DecodeJSON(b, &w)
}

// fill gives the nil pointers, slices and maps under v one zero element, depth levels
// down.
func fill(v reflect.Value, depth int) {
	if depth == 0 || !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth-1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth-1)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), 1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth-1)
		m.SetMapIndex(reflect.New(v.Type().Key()).Elem(), e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), depth-1)
		}
	case reflect.Array:
		if v.Len() > 0 {
			fill(v.Index(0), depth-1) // one element holds every type the others do
		}
	}
}

// RunContract registers c as the module's contract: Contract(ContractOf(c)).
func RunContract[Op, Msg, Arg any](c TypedContract[Op, Msg, Arg]) {
	Contract(ContractOf(c))
}

type typedContract[Op, Msg, Arg any] struct {
	c TypedContract[Op, Msg, Arg]
	// The fast decoders of the three types (fastjson.go), nil where encoding/json
	// decodes.
	op, msg, arg *fastPlan
}

func (t typedContract[Op, Msg, Arg]) Instantiate(rt *Runtime, b []byte) error {
	var arg Arg
	if _, none := any(arg).(NoArgument); none {
		return t.c.Instantiate(rt, arg)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null") // no argument given
	}
	if err := decodeStrict(t.arg, b, &arg); err != nil {
		return fmt.Errorf("invalid instantiation argument: %w", err)
	}
	return t.c.Instantiate(rt, arg)
}

func (t typedContract[Op, Msg, Arg]) ExecuteOperation(rt *Runtime, b []byte) ([]byte, error) {
	var op Op
	if err := decodeStrict(t.op, b, &op); err != nil {
		return nil, fmt.Errorf("invalid operation: %w", err)
	}
	resp, err := t.c.ExecuteOperation(rt, op)
	if err != nil || resp == nil {
		return nil, err
	}
	out, err := marshalJSON(resp)
	if err != nil {
		return nil, fmt.Errorf("encode the operation's response: %w", err)
	}
	return out, nil
}

func (t typedContract[Op, Msg, Arg]) ExecuteMessage(rt *Runtime, b []byte) error {
	var msg Msg
	if err := decodeStrict(t.msg, b, &msg); err != nil {
		return fmt.Errorf("invalid message: %w", err)
	}
	return t.c.ExecuteMessage(rt, msg)
}

// warmAssertions makes the assertions the typed entry points make (see
// warmAssertions in entry.go).
func (t typedContract[Op, Msg, Arg]) warmAssertions() {
	_, _ = asFinalizer(t.c)
	_, _ = asStreamProcessor(t.c)
	_, _ = asValidator(new(Op))
	_, _ = asValidator(new(Msg))
	_, _ = asValidator(new(Arg))
}

func (t typedContract[Op, Msg, Arg]) Finalize(rt *Runtime) error {
	if f, ok := asFinalizer(t.c); ok {
		return f.Finalize(rt)
	}
	return nil
}

func (t typedContract[Op, Msg, Arg]) ProcessStreams(rt *Runtime, updates []StreamUpdate) error {
	if p, ok := asStreamProcessor(t.c); ok {
		return p.ProcessStreams(rt, updates)
	}
	return nil
}

// ParametersOf returns the application's parameters (Runtime.Parameters) decoded
// into P with DecodeJSON: strict JSON, and P's Validate when it has one. Empty
// parameters (none given at creation) decode as JSON null, which leaves P's zero
// value, so an application whose parameters are optional needs no special case.
//
//	type Parameters struct{ TickerSymbol string `json:"ticker_symbol"` }
//	p, err := sdk.ParametersOf[Parameters](rt)
func ParametersOf[P any](rt *Runtime) (P, error) {
	var p P
	b, err := rt.Parameters()
	if err != nil {
		return p, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null")
	}
	if err := DecodeJSON(b, &p); err != nil {
		return p, fmt.Errorf("invalid application parameters: %w", err)
	}
	return p, nil
}

// DecodeJSON decodes the JSON value b into v strictly: an object member v has no
// field for, or anything after the value, is an error; so is empty input. When v
// implements Validator, Validate's error is returned too.
func DecodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty input (want JSON)")
		}
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	if val, ok := asValidator(v); ok {
		return val.Validate()
	}
	return nil
}
