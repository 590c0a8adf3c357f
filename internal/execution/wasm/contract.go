package wasm

import (
	"context"

	"github.com/micachain/mica/internal/execution"
)

// Contract runs a module as an execution.UserContract. Its fuel comes from the
// transaction's execution.FuelTank, shared with every other contract of the transaction
// (UseFuelTank), or from a tank of its own holding its cap. Not safe for concurrent use,
// like any UserContract.
type Contract struct {
	module *Module
	cap    uint64
	tank   *execution.FuelTank
}

var _ execution.UserContract = (*Contract)(nil)

// NewContract returns a contract over m that may use up to fuel units per transaction.
func NewContract(m *Module, fuel uint64) *Contract { return &Contract{module: m, cap: fuel} }

var _ execution.FuelMeter = (*Contract)(nil)

// UseFuelTank makes the contract draw from tank, the transaction's budget, lowering its
// limit to the contract's per-transaction cap.
func (c *Contract) UseFuelTank(tank *execution.FuelTank) {
	tank.Lower(c.cap)
	c.tank = tank
}

// FuelUsed returns the fuel used so far from the contract's tank (by every contract
// sharing it).
func (c *Contract) FuelUsed() uint64 {
	if c.tank == nil {
		return 0
	}
	return c.tank.Used()
}

func (c *Contract) run(ctx context.Context, rt execution.ContractRuntime, entry string, input []byte) ([]byte, error) {
	if c.tank == nil {
		c.tank = execution.NewFuelTank(c.cap)
	}
	return c.module.RunTank(ctx, c.tank, entry, input, NewContractHost(rt))
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

// Prepare compiles the module for the service runtime and takes its snapshot (once per
// node): a contract querying the service as an oracle does this before its time budget
// starts (execution.PreparedService).
func (s Service) Prepare(ctx context.Context) error { return s.module.warm(ctx, serviceRuntime) }
