package execution

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

func withdraw(o base.Owner, amount base.Amount, to base.Account, auth *base.Owner, kind protocol.MessageKind) protocol.PostedMessage {
	return protocol.PostedMessage{AuthenticatedOwner: auth, Kind: kind, Message: protocol.Message{System: &protocol.Withdraw{Owner: o, Amount: amount, Recipient: to}}}
}

func TestMessages(t *testing.T) {
	for _, c := range []struct {
		name  string
		close bool
		tx    func(id base.ChainID) *protocol.Transaction
		want  []error
		check func(t *testing.T, s *State, id base.ChainID, out *TxOutcome)
	}{
		{
			name: "credit an owner",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, credit(bob, tokens(3), carol, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, bob) != tokens(3) || len(out.Messages) != 0 {
					t.Errorf("bob %s, %d messages", balance(t, s, bob), len(out.Messages))
				}
			},
		},
		{
			name: "credit the chain account",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, credit(base.ChainOwner, tokens(3), carol, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, base.ChainOwner) != tokens(103) {
					t.Errorf("chain %s", balance(t, s, base.ChainOwner))
				}
			},
		},
		{
			name: "bouncing credit refunds the source",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, credit(carol, tokens(4), bob, protocol.Bouncing))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, bob) != tokens(4) || !balance(t, s, carol).IsZero() {
					t.Errorf("bob %s carol %s", balance(t, s, bob), balance(t, s, carol))
				}
			},
		},
		{
			name: "credit overflow",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, credit(alice, base.MaxAmount, carol, protocol.Tracked))
			},
			want: []error{base.ErrAmountOverflow},
		},
		{
			name: "authenticated withdraw to another chain",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(5), base.Account{Chain: otherChain, Owner: alice}, &alice, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, alice) != tokens(45) {
					t.Errorf("alice %s", balance(t, s, alice))
				}
				if len(out.Messages) != 1 {
					t.Fatalf("want one credit, got %d", len(out.Messages))
				}
				m := out.Messages[0]
				cr, ok := m.Message.System.(*protocol.Credit)
				if !ok || m.Destination != otherChain || m.Kind != protocol.Tracked || cr.Target != alice || cr.Source != alice || cr.Amount != tokens(5) {
					t.Errorf("bad credit %+v", m)
				}
			},
		},
		{
			name: "authenticated withdraw to this chain",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(5), base.Account{Chain: id, Owner: bob}, &alice, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, alice) != tokens(45) || balance(t, s, bob) != tokens(5) || len(out.Messages) != 0 {
					t.Errorf("alice %s bob %s msgs %d", balance(t, s, alice), balance(t, s, bob), len(out.Messages))
				}
			},
		},
		{
			name: "withdraw authenticated by someone else",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(5), base.Account{Chain: otherChain, Owner: bob}, &bob, protocol.Tracked))
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "unauthenticated withdraw",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(5), base.Account{Chain: otherChain, Owner: bob}, nil, protocol.Tracked))
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "withdraw from the chain account",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(base.ChainOwner, tokens(5), base.Account{Chain: otherChain}, ptr(base.ChainOwner), protocol.Tracked))
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "withdraw overdraft",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(51), base.Account{Chain: otherChain, Owner: alice}, &alice, protocol.Tracked))
			},
			want: []error{ErrInsufficientBalance},
		},
		{
			name: "bouncing withdraw is a no-op",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, withdraw(alice, tokens(5), base.Account{Chain: id, Owner: alice}, &alice, protocol.Bouncing))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if balance(t, s, alice) != tokens(50) || len(out.Messages) != 0 {
					t.Errorf("alice %s, %d messages", balance(t, s, alice), len(out.Messages))
				}
			},
		},
		{
			name: "reject bounces tracked, drops simple and bouncing",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Reject,
					credit(bob, tokens(1), carol, protocol.Simple),
					credit(bob, tokens(2), carol, protocol.Tracked),
					credit(bob, tokens(3), carol, protocol.Bouncing),
					withdraw(alice, tokens(4), base.Account{Chain: otherChain}, &alice, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if !balance(t, s, bob).IsZero() {
					t.Errorf("rejection credited bob")
				}
				if len(out.Messages) != 2 {
					t.Fatalf("want 2 bounces, got %d", len(out.Messages))
				}
				m := out.Messages[0]
				cr, ok := m.Message.System.(*protocol.Credit)
				if !ok || m.Destination != otherChain || m.Kind != protocol.Bouncing || cr.Amount != tokens(2) || cr.Target != bob || cr.Source != carol {
					t.Errorf("bad bounce %+v", m)
				}
				m = out.Messages[1]
				if _, ok := m.Message.System.(*protocol.Withdraw); !ok || m.Kind != protocol.Bouncing || m.AuthenticatedOwner == nil || *m.AuthenticatedOwner != alice {
					t.Errorf("bad bounce %+v", m)
				}
			},
		},
		{
			name: "protected messages may not be rejected",
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Reject, credit(bob, tokens(1), carol, protocol.Protected))
			},
			want: []error{ErrProtectedRejection},
		},
		{
			name: "a closed chain may reject protected messages", close: true,
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Reject, credit(bob, tokens(1), carol, protocol.Protected), credit(bob, tokens(1), carol, protocol.Tracked))
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if len(out.Messages) != 1 || out.Messages[0].Kind != protocol.Bouncing {
					t.Errorf("messages %+v", out.Messages)
				}
			},
		},
		{
			name: "a closed chain may not accept", close: true,
			tx: func(id base.ChainID) *protocol.Transaction {
				return postedTx(otherChain, protocol.Accept, credit(bob, tokens(1), carol, protocol.Tracked))
			},
			want: []error{ErrChainClosed},
		},
		{
			name: "unknown bundle action",
			tx: func(id base.ChainID) *protocol.Transaction {
				tx := postedTx(otherChain, protocol.Accept, credit(bob, tokens(1), carol, protocol.Tracked))
				tx.Bundle.Action = 7
				return tx
			},
			want: []error{ErrInvalidOperation},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t)
			s, id := userChain(t, n)
			if c.close {
				mustExec(t, s, tc(id, &alice), sysTx(&protocol.CloseChain{}), nil)
				n.commit(s)
			}
			before := snapshot(t, s)
			out, err := s.ExecuteTransaction(bg, tc(id, nil), c.tx(id), nil)
			if len(c.want) > 0 {
				wantErr(t, err, c.want...)
				s.Rollback()
				if snapshot(t, s) != before {
					t.Fatal("rollback did not restore the state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, s, id, out)
		})
	}
}

// TestBounceRoundTrip sends a transfer, has the recipient reject it, and delivers the
// bounce back: the sender is refunded.
func TestBounceRoundTrip(t *testing.T) {
	n := newNet(t)
	a, aID := userChain(t, n)
	b, bID := n.create(n.rootDesc(2, protocol.SingleSuperOwner(carol), tokens(1)))
	out := mustExec(t, a, tc(aID, &alice), sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: bID, Owner: carol}, Amount: tokens(8)}), nil)
	if balance(t, a, alice) != tokens(42) {
		t.Fatalf("alice %s", balance(t, a, alice))
	}
	rej := mustExec(t, b, tc(bID, &carol), bundleTx(aID, out.Messages, bID, protocol.Reject), nil)
	if len(rej.Messages) != 1 || rej.Messages[0].Destination != aID || rej.Messages[0].Kind != protocol.Bouncing {
		t.Fatalf("rejection produced %+v", rej.Messages)
	}
	mustExec(t, a, tc(aID, nil), bundleTx(bID, rej.Messages, aID, protocol.Accept), nil)
	if balance(t, a, alice) != tokens(50) {
		t.Fatalf("bounce did not refund alice: %s", balance(t, a, alice))
	}
}
