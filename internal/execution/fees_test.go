package execution

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

func feePolicy() *protocol.ResourcePolicy {
	p := protocol.NoFeesPolicy()
	p.Operation = base.AmountFromAttos(1000)
	p.OperationByte = base.AmountFromAttos(10)
	p.Message = base.AmountFromAttos(500)
	p.MessageByte = base.AmountFromAttos(1)
	return &p
}

func TestFees(t *testing.T) {
	op := &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: otherChain, Owner: bob}, Amount: tokens(1)}
	msg := protocol.Message{System: &protocol.Credit{Target: bob, Amount: tokens(1), Source: alice}}
	want := base.AmountFromAttos(1000 + 10*uint64(encodedLen(op)) + 500 + uint64(encodedLen(msg.System)))

	t.Run("chain account pays", func(t *testing.T) {
		n := newNet(t)
		s, id := userChain(t, n)
		c := tc(id, &alice)
		c.Policy = feePolicy()
		out := mustExec(t, s, c, sysTx(op), nil)
		if out.Fees != want {
			t.Fatalf("fees %s, want %s", out.Fees, want)
		}
		if got, _ := tokens(100).Sub(want); balance(t, s, base.ChainOwner) != got {
			t.Fatalf("chain account %s", balance(t, s, base.ChainOwner))
		}
	})
	t.Run("owner pays what the chain account cannot", func(t *testing.T) {
		n := newNet(t)
		s, id := userChain(t, n)
		// Empty the chain account but 100 attos.
		rest, _ := tokens(100).Sub(base.AmountFromAttos(100))
		mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: id, Owner: carol}, Amount: rest}), nil)
		c := tc(id, &alice)
		c.Policy = feePolicy()
		out := mustExec(t, s, c, sysTx(op), nil)
		if !balance(t, s, base.ChainOwner).IsZero() {
			t.Fatalf("chain account %s", balance(t, s, base.ChainOwner))
		}
		afterTransfer, _ := tokens(49).Sub(want)
		paid, _ := afterTransfer.Add(base.AmountFromAttos(100))
		if balance(t, s, alice) != paid || out.Fees != want {
			t.Fatalf("alice %s, want %s", balance(t, s, alice), paid)
		}
	})
	t.Run("fees exceed funding", func(t *testing.T) {
		n := newNet(t)
		s, id := n.create(n.rootDesc(1, protocol.SingleSuperOwner(alice), base.AmountFromAttos(10)))
		c := tc(id, &alice)
		c.Policy = feePolicy()
		_, err := s.ExecuteTransaction(bg, c, sysTx(&protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(bob)}), nil)
		wantErr(t, err, ErrFeesExceedFunding, base.ErrInvalid)
	})
	t.Run("bounces are free", func(t *testing.T) {
		n := newNet(t)
		s, id := userChain(t, n)
		c := tc(id, nil)
		c.Policy = feePolicy()
		out := mustExec(t, s, c, postedTx(otherChain, protocol.Reject, credit(bob, tokens(1), carol, protocol.Tracked)), nil)
		if !out.Fees.IsZero() || balance(t, s, base.ChainOwner) != tokens(100) {
			t.Fatalf("fees %s", out.Fees)
		}
	})
	t.Run("published blob bytes", func(t *testing.T) {
		n := newNet(t)
		s, id := userChain(t, n)
		blob := protocol.NewBlob(base.BlobData, make([]byte, 100))
		bid := n.res.addBlob(blob)
		p := protocol.NoFeesPolicy()
		p.BlobByte = base.AmountFromAttos(3)
		c := tc(id, &alice)
		c.Policy = &p
		out := mustExec(t, s, c, sysTx(&protocol.PublishDataBlob{Hash: bid.Hash}), LiveOracles(n.res))
		if out.Fees != base.AmountFromAttos(300) || len(out.OracleResponses) != 0 {
			t.Fatalf("fees %s, responses %d", out.Fees, len(out.OracleResponses))
		}
		_, err := s.ExecuteTransaction(bg, c, sysTx(&protocol.PublishDataBlob{Hash: sha(5)}), LiveOracles(n.res))
		wantErr(t, err, ErrMissingBlob)
	})
}
