package wasm

import (
	"context"

	"github.com/micachain/mica/internal/execution"
)

// Contract runs a module as an execution.UserContract with a fuel budget shared by all
// its calls (one transaction). Not safe for concurrent use, like any UserContract.
type Contract struct {
	module *Module
	budget uint64
	used   uint64
}

var _ execution.UserContract = (*Contract)(nil)

// NewContract returns a contract over m that may use up to fuel units.
func NewContract(m *Module, fuel uint64) *Contract { return &Contract{module: m, budget: fuel} }

var _ execution.FuelMeter = (*Contract)(nil)

// SetFuelBudget lowers the budget to fuel if it is smaller (the block's remaining fuel
// limit, set by the execution layer).
func (c *Contract) SetFuelBudget(fuel uint64) {
	if fuel < c.budget {
		c.budget = fuel
	}
}

// FuelUsed returns the fuel used so far.
func (c *Contract) FuelUsed() uint64 { return c.used }

func (c *Contract) run(ctx context.Context, rt execution.ContractRuntime, entry string, input []byte) ([]byte, error) {
	if c.used >= c.budget {
		return nil, &OutOfFuelError{Fuel: c.budget}
	}
	out, used, err := c.module.Run(ctx, c.budget-c.used, entry, input, NewContractHost(rt))
	c.used += used
	return out, err
}

// Instantiate calls mica_instantiate.
func (c *Contract) Instantiate(ctx context.Context, rt execution.ContractRuntime, argument []byte) error {
	_, err := c.run(ctx, rt, EntryInstantiate, argument)
	return err
}

// ExecuteOperation calls mica_execute_operation and returns the output it set.
func (c *Contract) ExecuteOperation(ctx context.Context, rt execution.ContractRuntime, operation []byte) ([]byte, error) {
	return c.run(ctx, rt, EntryExecuteOperation, operation)
}

// ExecuteMessage calls mica_execute_message.
func (c *Contract) ExecuteMessage(ctx context.Context, rt execution.ContractRuntime, message []byte) error {
	_, err := c.run(ctx, rt, EntryExecuteMessage, message)
	return err
}

// Finalize calls mica_finalize when the module exports it.
func (c *Contract) Finalize(ctx context.Context, rt execution.ContractRuntime) error {
	if !c.module.HasEntry(EntryFinalize) {
		return nil
	}
	_, err := c.run(ctx, rt, EntryFinalize, nil)
	return err
}

// Service runs a module as an execution.UserService.
type Service struct{ module *Module }

var _ execution.UserService = Service{}

// NewService returns a service over m.
func NewService(m *Module) Service { return Service{module: m} }

// HandleQuery calls mica_handle_query and returns the output it set.
func (s Service) HandleQuery(ctx context.Context, rt execution.ServiceRuntime, query []byte) ([]byte, error) {
	return s.module.RunService(ctx, EntryHandleQuery, query, NewServiceHost(rt))
}
