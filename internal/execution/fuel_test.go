package execution

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// burner is a FuelMeter contract: every operation burns 60 units from the
// transaction's tank, then calls the application named in the operation, if any.
type burner struct{ tank *FuelTank }

var errBurnerOutOfFuel = errors.New("burner: out of fuel")

func (b *burner) UseFuelTank(t *FuelTank) { b.tank = t }

func (b *burner) Instantiate(context.Context, ContractRuntime, []byte) error { return nil }
func (b *burner) ExecuteMessage(context.Context, ContractRuntime, []byte) error {
	return nil
}
func (b *burner) Finalize(context.Context, ContractRuntime) error { return nil }
func (b *burner) ExecuteOperation(ctx context.Context, rt ContractRuntime, op []byte) ([]byte, error) {
	if !b.tank.Consume(60) {
		return nil, errBurnerOutOfFuel
	}
	if len(op) == 32 {
		return rt.CallApplication(ctx, false, base.ApplicationID(op), nil)
	}
	return nil, nil
}

type burnerLoader struct{}

func (burnerLoader) LoadContract(context.Context, base.ApplicationID, BlobReader) (UserContract, error) {
	return &burner{}, nil
}

func (burnerLoader) LoadService(context.Context, base.ApplicationID, BlobReader) (UserService, error) {
	return nil, base.NotFoundf("no services")
}

// TestAttackFuelBudgetPerTransactionAndBlock: the applications a transaction calls
// share one budget, and the block's fuel limit holds across transactions.
func TestAttackFuelBudgetPerTransactionAndBlock(t *testing.T) {
	n := newNet(t)
	n.loader = burnerLoader{}
	s, id := userChain(t, n)
	p := protocol.NoFeesPolicy()
	p.MaxFuelPerBlock = 100
	c := tc(id, &alice)
	c.Policy = &p

	// A calls B: 120 units from a budget of 100.
	s.BeginBlock()
	_, err := s.ExecuteTransaction(bg, c, userTx(appA, appB[:]), nil)
	if !errors.Is(err, errBurnerOutOfFuel) {
		t.Fatalf("two applications of one transaction, 60 units each, limit 100: err = %v", err)
	}
	s.Rollback()

	// Two transactions of one block, 60 units each.
	s.BeginBlock()
	out := mustExec(t, s, c, userTx(appA, nil), nil)
	if out.Fuel != 60 {
		t.Fatalf("fuel %d", out.Fuel)
	}
	if _, err := s.ExecuteTransaction(bg, c, userTx(appB, nil), nil); !errors.Is(err, errBurnerOutOfFuel) {
		t.Fatalf("second transaction over the block limit: err = %v", err)
	}
	s.Rollback()

	// The default policy has a finite block limit.
	if d := protocol.NoFeesPolicy(); d.MaxFuelPerBlock == 0 || d.MaxFuelPerBlock >= 1<<40 {
		t.Fatalf("default MaxFuelPerBlock %d", d.MaxFuelPerBlock)
	}
}
