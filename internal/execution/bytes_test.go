package execution

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

func writePricePolicy(attos uint64) *protocol.ResourcePolicy {
	p := protocol.NoFeesPolicy()
	p.ByteWritten = base.AmountFromAttos(attos)
	return &p
}

// TestAttackStorageWritesArePaid has an application write large values with a
// per-byte write price in force: the block pays every byte it writes (key and value),
// and a chain that cannot pay fails cleanly, without a change.
func TestAttackStorageWritesArePaid(t *testing.T) {
	const price = 3
	t.Run("a block pays each byte written", func(t *testing.T) {
		_, _, s, id := appNet(t)
		c := tc(id, &alice)
		c.Policy = writePricePolicy(price)
		s.BeginBlock()
		var total base.Amount
		var written uint64
		for i, n := range []uint64{1000, 50_000} {
			c.Index = uint32(i)
			out := mustExec(t, s, c, userTx(appA, op('w', le(n))), nil)
			want := base.AmountFromAttos(price * (uint64(len("big")) + n))
			if out.Fees != want {
				t.Fatalf("writing %d bytes: fees %s, want %s", n, out.Fees, want)
			}
			total, _ = total.Add(out.Fees)
			written += uint64(len("big")) + n
		}
		if want, _ := tokens(100).Sub(total); balance(t, s, base.ChainOwner) != want {
			t.Fatalf("chain account %s, want %s", balance(t, s, base.ChainOwner), want)
		}
		if total != base.AmountFromAttos(price*written) {
			t.Fatalf("block paid %s for %d bytes", total, written)
		}
	})
	t.Run("system writes are paid too", func(t *testing.T) {
		n := newNet(t)
		s, id := userChain(t, n)
		c := tc(id, &alice)
		c.Policy = writePricePolicy(price)
		out := mustExec(t, s, c, sysTx(&protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(bob)}), nil)
		if out.Fees.IsZero() {
			t.Fatal("changing the ownership wrote to storage for free")
		}
	})
	t.Run("a chain that cannot pay fails cleanly", func(t *testing.T) {
		n := newNet(t)
		n.loader = &nativeLoader{apps: map[base.ApplicationID]bool{appA: true}}
		s, id := n.create(n.rootDesc(1, protocol.SingleSuperOwner(alice), base.AmountFromAttos(1000)))
		n.commit(s)
		s = n.load(id)
		before := snapshot(t, s)
		c := tc(id, &alice)
		c.Policy = writePricePolicy(price)
		_, err := s.ExecuteTransaction(bg, c, userTx(appA, op('w', le(1<<20))), nil)
		wantErr(t, err, ErrFeesExceedFunding, base.ErrInvalid)
		s.Rollback()
		if after := snapshot(t, s); after != before {
			t.Fatal("the failed transaction changed the state")
		}
	})
}
