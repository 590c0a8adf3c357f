package sdk

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/micachain/mica/sdk/internal/abi"
)

// ContractApp is an application's contract: metered, state-changing.
type ContractApp interface {
	// Instantiate runs once when the application is created, with its
	// instantiation argument.
	Instantiate(rt *Runtime, arg []byte) error
	// ExecuteOperation runs an operation of a block and returns its response.
	ExecuteOperation(rt *Runtime, op []byte) ([]byte, error)
	// ExecuteMessage runs a message sent by this application on some chain.
	ExecuteMessage(rt *Runtime, msg []byte) error
}

// Finalizer is implemented by contracts that want mica_finalize: it runs at the end
// of each transaction that loaded the application and may still write or send
// messages; an error aborts the transaction.
type Finalizer interface {
	Finalize(rt *Runtime) error
}

// ServiceApp is an application's service: read-only, unmetered queries.
type ServiceApp interface {
	HandleQuery(rt *Runtime, query []byte) ([]byte, error)
}

var (
	contractApp ContractApp
	serviceApp  ServiceApp
)

// Contract registers the module's contract; call it once, from init or main.
func Contract(c ContractApp) {
	if contractApp != nil {
		panic("sdk: Contract called twice")
	}
	contractApp = c
	warmAssertions(c)
}

// Service registers the module's service; call it once, from init or main.
func Service(s ServiceApp) {
	if serviceApp != nil {
		panic("sdk: Service called twice")
	}
	serviceApp = s
	_, _ = asService(s)
}

// The interface assertions of an entry point's path sit in these functions, which
// warmAssertions (and the service's registration) run once from the module's init.
// A run starts from the state init left, so it then finds the runtime's itab table
// and each assertion's cache filled; otherwise every run builds them again (2/3 of
// the instructions of a no-op mica_finalize).

//go:noinline
func asContract(app any) (ContractApp, bool) { c, ok := app.(ContractApp); return c, ok }

//go:noinline
func asService(app any) (ServiceApp, bool) { s, ok := app.(ServiceApp); return s, ok }

//go:noinline
func asFinalizer(c any) (Finalizer, bool) { f, ok := c.(Finalizer); return f, ok }

//go:noinline
func asStreamProcessor(c any) (StreamProcessor, bool) { p, ok := c.(StreamProcessor); return p, ok }

//go:noinline
func asValidator(v any) (Validator, bool) { val, ok := v.(Validator); return val, ok }

// warmAssertions makes the assertions the entry points make on c.
func warmAssertions(c ContractApp) {
	_, _ = asContract(c)
	_, _ = asFinalizer(c)
	_, _ = asStreamProcessor(c)
	if w, ok := c.(interface{ warmAssertions() }); ok {
		w.warmAssertions()
	}
}

func init() { abi.Dispatch = dispatch }

// registered returns the app an export runs.
func registered(entry string) any {
	if entry == abi.EntryHandleQuery {
		if serviceApp == nil {
			return nil
		}
		return serviceApp
	}
	if contractApp == nil {
		return nil
	}
	return contractApp
}

// PanicError is a panic the SDK recovered in an entry point.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// dispatch runs entry of app against h: it reports the output with SetOutput, or the
// error with SetError and status 1. Contract writes are flushed as one write batch
// after a successful entry point. Panics become errors.
func dispatch(h hostABI, app any, entry string, input []byte) (status uint32) {
	defer func() {
		if r := recover(); r != nil {
			var err error
			switch v := r.(type) {
			case error:
				err = v
			default:
				err = &PanicError{Value: r, Stack: debug.Stack()}
			}
			h.SetError(err.Error())
			status = 1
		}
	}()
	out, err := run(h, app, entry, input)
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "error"
		}
		h.SetError(msg)
		return 1
	}
	if out != nil {
		h.SetOutput(out)
	}
	return 0
}

func run(h hostABI, app any, entry string, input []byte) ([]byte, error) {
	if entry == abi.EntryHandleQuery {
		s, ok := asService(app)
		if !ok || s == nil {
			return nil, errors.New("sdk: no service registered (call sdk.Service)")
		}
		return s.HandleQuery(newRuntime(h, true), input)
	}
	c, ok := asContract(app)
	if !ok || c == nil {
		return nil, errors.New("sdk: no contract registered (call sdk.Contract)")
	}
	rt := newRuntime(h, false)
	var out []byte
	var err error
	switch entry {
	case abi.EntryInstantiate:
		err = c.Instantiate(rt, input)
	case abi.EntryExecuteOperation:
		out, err = c.ExecuteOperation(rt, input)
	case abi.EntryExecuteMessage:
		err = c.ExecuteMessage(rt, input)
	case abi.EntryFinalize:
		if f, ok := asFinalizer(c); ok {
			err = f.Finalize(rt)
		}
	case abi.EntryProcessStreams:
		err = processStreams(c, rt, input)
	default:
		err = fmt.Errorf("sdk: unknown entry point %q", entry)
	}
	if err != nil {
		return nil, err
	}
	if err := rt.flush(); err != nil {
		return nil, err
	}
	return out, nil
}
