package execution

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

var otherChain = base.ChainID(sha(1))

func sha(i byte) base.Hash {
	var h base.Hash
	h[0], h[31] = 0xee, i
	return h
}

// userChain creates root chain 1: super owner alice, regular owner bob, 100 tokens in the
// chain account and 50 in alice's account.
func userChain(t testing.TB, n *testNet) (*State, base.ChainID) {
	t.Helper()
	own := protocol.SingleSuperOwner(alice)
	own.Owners = []protocol.OwnerWeight{{Owner: bob, Weight: 100}}
	s, id := n.create(n.rootDesc(1, own, tokens(100)))
	mustExec(t, s, tc(id, nil), postedTx(otherChain, protocol.Accept, credit(alice, tokens(50), carol, protocol.Tracked)), nil)
	n.commit(s)
	return n.load(id), id
}

type opCase struct {
	name   string
	setup  func(t *testing.T, s *State, id base.ChainID)
	signer *base.Owner
	op     func(id base.ChainID) protocol.SystemOperation
	want   []error
	check  func(t *testing.T, s *State, id base.ChainID, out *TxOutcome)
}

func runOpCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t)
			s, id := userChain(t, n)
			if c.setup != nil {
				c.setup(t, s, id)
				n.commit(s)
			}
			before := snapshot(t, s)
			out, err := s.ExecuteTransaction(bg, tc(id, c.signer), sysTx(c.op(id)), LiveOracles(n.res))
			if len(c.want) > 0 {
				wantErr(t, err, c.want...)
				if !base.IsInvalid(err) && !base.IsNotFound(err) {
					t.Fatalf("error %v is neither invalid nor not-found", err)
				}
				s.Rollback()
				if after := snapshot(t, s); after != before {
					t.Fatalf("rollback did not restore the state:\n%s\nvs\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("execute: %v", err)
			}
			if c.check != nil {
				c.check(t, s, id, out)
			}
		})
	}
}

func TestTransfer(t *testing.T) {
	runOpCases(t, []opCase{
		{
			name: "owner to owner on this chain", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(20)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if got := balance(t, s, alice); got != tokens(30) {
					t.Errorf("alice has %s", got)
				}
				if got := balance(t, s, bob); got != tokens(20) {
					t.Errorf("bob has %s", got)
				}
				if len(out.Messages) != 0 {
					t.Errorf("same-chain transfer sent %d messages", len(out.Messages))
				}
			},
		},
		{
			name: "whole balance empties the account", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id}, Amount: tokens(50)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if got := balance(t, s, base.ChainOwner); got != tokens(150) {
					t.Errorf("chain has %s", got)
				}
				n := 0
				if err := s.OwnerBalances(bg, func(base.Owner, base.Amount) error { n++; return nil }); err != nil || n != 0 {
					t.Errorf("owner accounts left: %d, %v", n, err)
				}
			},
		},
		{
			name: "chain account by regular owner to another chain", signer: &bob,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: otherChain, Owner: carol}, Amount: tokens(7)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if got := balance(t, s, base.ChainOwner); got != tokens(93) {
					t.Errorf("chain has %s", got)
				}
				if len(out.Messages) != 1 {
					t.Fatalf("want exactly one message, got %d", len(out.Messages))
				}
				m := out.Messages[0]
				cr, ok := m.Message.System.(*protocol.Credit)
				if m.Destination != otherChain || m.Kind != protocol.Tracked || !ok || m.AuthenticatedOwner != nil ||
					cr.Target != carol || cr.Amount != tokens(7) || cr.Source != base.ChainOwner {
					t.Errorf("bad credit message %+v %+v", m, m.Message.System)
				}
			},
		},
		{
			name: "overdraft", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(51)}
			},
			want: []error{ErrInsufficientBalance, base.ErrInvalid},
		},
		{
			name: "chain account overdraft", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: otherChain}, Amount: tokens(101)}
			},
			want: []error{ErrInsufficientBalance},
		},
		{
			name: "zero amount", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}}
			},
			want: []error{ErrInvalidOperation},
		},
		{
			name: "zero recipient chain", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Owner: bob}, Amount: tokens(1)}
			},
			want: []error{ErrInvalidOperation},
		},
		{
			name: "someone else's account", signer: &bob,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "no signer", signer: nil,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "chain account by non-owner", signer: &carol,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: id, Owner: carol}, Amount: tokens(1)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "credit overflow",
			setup: func(t *testing.T, s *State, id base.ChainID) {
				mustExec(t, s, tc(id, nil), postedTx(otherChain, protocol.Accept, credit(bob, base.MaxAmount, carol, protocol.Tracked)), nil)
			},
			signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}
			},
			want: []error{base.ErrAmountOverflow},
		},
		{
			name: "closed chain",
			setup: func(t *testing.T, s *State, id base.ChainID) {
				mustExec(t, s, tc(id, &alice), sysTx(&protocol.CloseChain{}), nil)
			},
			signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}
			},
			want: []error{ErrChainClosed},
		},
	})
}

func TestOverdraftErrorSaysWhy(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	_, err := s.ExecuteTransaction(bg, tc(id, &alice), sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: otherChain}, Amount: tokens(60)}), nil)
	var ib *InsufficientBalanceError
	if !errors.As(err, &ib) {
		t.Fatalf("want *InsufficientBalanceError, got %v", err)
	}
	if ib.Owner != alice || ib.Have != tokens(50) || ib.Need != tokens(60) {
		t.Errorf("error fields %+v", ib)
	}
	for _, part := range []string{alice.String(), "has 50", "needs 60"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

// TestChainAccountOverdraftSaysWhich: the chain's own account was named by the chain
// owner's text form ("account chain has 81"), which reads as a typo; it is "the chain's
// own account".
func TestChainAccountOverdraftSaysWhich(t *testing.T) {
	err := &InsufficientBalanceError{Owner: base.ChainOwner, Have: tokens(81), Need: tokens(100)}
	if got, want := err.Error(), "insufficient balance: the chain's own account has 81, needs 100"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestClaim(t *testing.T) {
	runOpCases(t, []opCase{
		{
			name: "claim from another chain", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Claim{Owner: alice, Target: otherChain, Recipient: base.Account{Chain: id, Owner: alice}, Amount: tokens(5)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if len(out.Messages) != 1 {
					t.Fatalf("want one message, got %d", len(out.Messages))
				}
				m := out.Messages[0]
				w, ok := m.Message.System.(*protocol.Withdraw)
				if !ok || m.Destination != otherChain || m.Kind != protocol.Tracked || m.AuthenticatedOwner == nil || *m.AuthenticatedOwner != alice ||
					w.Owner != alice || w.Amount != tokens(5) || w.Recipient != (base.Account{Chain: id, Owner: alice}) {
					t.Errorf("bad withdraw message %+v", m)
				}
				if got := balance(t, s, alice); got != tokens(50) {
					t.Errorf("claim changed alice's local balance: %s", got)
				}
			},
		},
		{
			name: "claim on this chain withdraws directly", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Claim{Owner: alice, Target: id, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(5)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if len(out.Messages) != 0 || balance(t, s, bob) != tokens(5) || balance(t, s, alice) != tokens(45) {
					t.Errorf("messages %d, bob %s, alice %s", len(out.Messages), balance(t, s, bob), balance(t, s, alice))
				}
			},
		},
		{
			name: "claim for someone else", signer: &bob,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Claim{Owner: alice, Target: otherChain, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(5)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "claim of a chain account", signer: ptr(base.ChainOwner),
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Claim{Owner: base.ChainOwner, Target: otherChain, Recipient: base.Account{Chain: id}, Amount: tokens(5)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "zero claim", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Claim{Owner: alice, Target: otherChain, Recipient: base.Account{Chain: id, Owner: bob}}
			},
			want: []error{ErrInvalidOperation},
		},
	})
}

func TestOpenChain(t *testing.T) {
	childOwnership := protocol.SingleSuperOwner(carol)
	runOpCases(t, []opCase{
		{
			name: "opens a funded child", signer: &bob,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.OpenChain{Ownership: childOwnership, Balance: tokens(10)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if got := balance(t, s, base.ChainOwner); got != tokens(90) {
					t.Errorf("parent chain account has %s", got)
				}
				if len(out.Blobs) != 1 || out.Blobs[0].Type != base.BlobChainDescription {
					t.Fatalf("want one chain description blob, got %+v", out.Blobs)
				}
				var d protocol.ChainDescription
				if err := codec.Unmarshal(out.Blobs[0].Content, &d); err != nil {
					t.Fatal(err)
				}
				if child := d.ID(); !bytes.Equal(out.Result, child[:]) {
					t.Errorf("result %x is not the child id %s", out.Result, child)
				}
				b := out.Blobs[0]
				if b.ID().Hash != base.Hash(d.ID()) {
					t.Errorf("blob id is not the chain id")
				}
				want := protocol.ChainOrigin{IsChild: true, Parent: id, Height: 3, Index: 0}
				if d.Origin != want || d.Timestamp != 5_000 || d.Config.Balance != tokens(10) || d.Config.Epoch != 0 {
					t.Errorf("bad description %+v", d)
				}
				cs, _ := s.Committees(bg)
				admin, _ := s.AdminChain(bg)
				if d.AdminChain != admin || len(d.Committees) != len(cs) || d.Committees[0] != cs[0] {
					t.Errorf("child admin/committees %+v", d)
				}
				if !d.Config.Ownership.IsSuperOwner(carol) {
					t.Errorf("ownership %+v", d.Config.Ownership)
				}
			},
		},
		{
			name: "by a non-owner", signer: &carol,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.OpenChain{Ownership: childOwnership, Balance: tokens(1)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "beyond the chain balance", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.OpenChain{Ownership: childOwnership, Balance: tokens(101)}
			},
			want: []error{ErrInsufficientBalance},
		},
		{
			name: "invalid ownership", signer: &alice,
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.OpenChain{Ownership: protocol.ChainOwnership{SuperOwners: []base.Owner{carol, alice}}}
			},
			want: []error{ErrInvalidOperation},
		},
	})
}

func TestOpenChainIndexPerBlock(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	open := sysTx(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(carol)})
	ids := map[string]bool{}
	index := func() uint32 {
		out := mustExec(t, s, tc(id, &alice), open, nil)
		var d protocol.ChainDescription
		if err := codec.Unmarshal(out.Blobs[0].Content, &d); err != nil {
			t.Fatal(err)
		}
		ids[string(out.Result)] = true
		return d.Origin.Index
	}
	if a, b := index(), index(); a != 0 || b != 1 {
		t.Fatalf("indices in one block: %d, %d", a, b)
	}
	s.BeginBlock()
	if a := index(); a != 0 {
		t.Fatalf("index after BeginBlock: %d", a)
	}
	n.commit(s)
	if a := index(); a != 0 {
		t.Fatalf("index after Flush: %d", a)
	}
	s.Rollback()
	if a := index(); a != 0 {
		t.Fatalf("index after Rollback: %d", a)
	}
	if len(ids) != 2 {
		t.Fatalf("want 2 distinct child ids (same height and index give the same id), got %d", len(ids))
	}
}

func TestChainManagement(t *testing.T) {
	appA := base.ApplicationID(sha(9))
	restrict := func(p protocol.ApplicationPermissions) func(t *testing.T, s *State, id base.ChainID) {
		return func(t *testing.T, s *State, id base.ChainID) {
			mustExec(t, s, tc(id, &alice), sysTx(&protocol.ChangeApplicationPermissions{Permissions: p}), nil)
		}
	}
	runOpCases(t, []opCase{
		{
			name: "close", signer: &bob,
			op: func(base.ChainID) protocol.SystemOperation { return &protocol.CloseChain{} },
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if c, _ := s.IsClosed(bg); !c {
					t.Error("chain not closed")
				}
			},
		},
		{
			name: "close by non-owner", signer: &carol,
			op:   func(base.ChainID) protocol.SystemOperation { return &protocol.CloseChain{} },
			want: []error{ErrUnauthorized},
		},
		{
			name: "close twice", signer: &alice,
			setup: func(t *testing.T, s *State, id base.ChainID) {
				mustExec(t, s, tc(id, &alice), sysTx(&protocol.CloseChain{}), nil)
			},
			op:   func(base.ChainID) protocol.SystemOperation { return &protocol.CloseChain{} },
			want: []error{ErrChainClosed},
		},
		{
			name: "change ownership", signer: &alice,
			op: func(base.ChainID) protocol.SystemOperation {
				return &protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(carol)}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if o, _ := s.Ownership(bg); !o.IsSuperOwner(carol) || o.IsAnyOwner(alice) {
					t.Errorf("ownership %+v", o)
				}
			},
		},
		{
			name: "change ownership to an invalid one", signer: &alice,
			op: func(base.ChainID) protocol.SystemOperation {
				return &protocol.ChangeOwnership{Ownership: protocol.ChainOwnership{Owners: []protocol.OwnerWeight{{Owner: carol}}}}
			},
			want: []error{ErrInvalidOperation},
		},
		{
			name: "change ownership by non-owner", signer: &carol,
			op: func(base.ChainID) protocol.SystemOperation {
				return &protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(carol)}
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "change permissions", signer: &alice,
			op: func(base.ChainID) protocol.SystemOperation {
				return &protocol.ChangeApplicationPermissions{Permissions: protocol.ApplicationPermissions{MandatoryApplications: []base.ApplicationID{appA}}}
			},
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if p, _ := s.Permissions(bg); len(p.MandatoryApplications) != 1 {
					t.Errorf("permissions %+v", p)
				}
			},
		},
		{
			name: "manage-chain delegated to applications refuses owners", signer: &alice,
			setup: restrict(protocol.ApplicationPermissions{ManageChain: &[]base.ApplicationID{appA}}),
			op:    func(base.ChainID) protocol.SystemOperation { return &protocol.CloseChain{} },
			want:  []error{ErrNotPermitted},
		},
		{
			name: "manage-chain delegated: ownership", signer: &alice,
			setup: restrict(protocol.ApplicationPermissions{ManageChain: &[]base.ApplicationID{appA}}),
			op: func(base.ChainID) protocol.SystemOperation {
				return &protocol.ChangeOwnership{Ownership: protocol.SingleSuperOwner(carol)}
			},
			want: []error{ErrNotPermitted},
		},
		{
			name: "execute-operations refuses system operations", signer: &alice,
			setup: restrict(protocol.ApplicationPermissions{ExecuteOperations: &[]base.ApplicationID{appA}}),
			op: func(id base.ChainID) protocol.SystemOperation {
				return &protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: id, Owner: bob}, Amount: tokens(1)}
			},
			want: []error{ErrNotPermitted},
		},
		{
			name: "publish data blob", signer: &alice,
			op: func(base.ChainID) protocol.SystemOperation { return &protocol.PublishDataBlob{Hash: sha(3)} },
			check: func(t *testing.T, s *State, id base.ChainID, out *TxOutcome) {
				if len(out.Messages)+len(out.Blobs)+len(out.Events)+len(out.OracleResponses) != 0 {
					t.Errorf("publish produced output %+v", out)
				}
			},
		},
	})
}

func TestUserOperationPermissions(t *testing.T) {
	n := newNet(t)
	appA, appB := base.ApplicationID(sha(9)), base.ApplicationID(sha(10))
	n.loader = &nativeLoader{apps: map[base.ApplicationID]bool{appA: true, appB: true}}
	s, id := userChain(t, n)
	mustExec(t, s, tc(id, &alice), sysTx(&protocol.ChangeApplicationPermissions{Permissions: protocol.ApplicationPermissions{ExecuteOperations: &[]base.ApplicationID{appA}}}), nil)
	mustExec(t, s, tc(id, &alice), userTx(appA, append([]byte{'i'}, le(1)...)), nil)
	_, err := s.ExecuteTransaction(bg, tc(id, &alice), userTx(appB, append([]byte{'i'}, le(1)...)), nil)
	wantErr(t, err, ErrNotPermitted)
}

func TestCommitteeOperations(t *testing.T) {
	n := newNet(t)
	next := testCommittee(t, "epoch1", 3)
	for _, c := range []struct {
		name   string
		admin  bool
		signer *base.Owner
		setup  func(t *testing.T, s *State, id base.ChainID)
		op     protocol.SystemOperation
		want   []error
		check  func(t *testing.T, s *State, out *TxOutcome)
	}{
		{
			name: "create", admin: true, signer: &alice,
			op: &protocol.CreateCommittee{Epoch: 1, Committee: *next},
			check: func(t *testing.T, s *State, out *TxOutcome) {
				h := next.Hash()
				if e, _ := s.Epoch(bg); e != 1 {
					t.Errorf("epoch %d", e)
				}
				cs, _ := s.Committees(bg)
				if len(cs) != 2 || cs[1] != (protocol.EpochCommittee{Epoch: 1, CommitteeHash: next.Hash()}) {
					t.Errorf("committees %+v", cs)
				}
				if len(out.Events) != 1 || out.Events[0].Index != 1 || !bytes.Equal(out.Events[0].Stream.Name, protocol.NewEpochStream.Name) ||
					out.Events[0].Stream.App != nil || !bytes.Equal(out.Events[0].Value, h[:]) {
					t.Errorf("events %+v", out.Events)
				}
				if len(out.Blobs) != 1 || out.Blobs[0].ID() != (base.BlobID{Type: base.BlobCommittee, Hash: next.Hash()}) {
					t.Errorf("blobs %+v", out.Blobs)
				}
			},
		},
		{name: "create on a non-admin chain", signer: &alice, op: &protocol.CreateCommittee{Epoch: 1, Committee: *next}, want: []error{ErrNotAdminChain}},
		{name: "create skipping an epoch", admin: true, signer: &alice, op: &protocol.CreateCommittee{Epoch: 2, Committee: *next}, want: []error{ErrWrongEpoch}},
		{name: "create the current epoch", admin: true, signer: &alice, op: &protocol.CreateCommittee{Epoch: 0, Committee: *next}, want: []error{ErrWrongEpoch}},
		{name: "create by non-owner", admin: true, signer: &bob, op: &protocol.CreateCommittee{Epoch: 1, Committee: *next}, want: []error{ErrUnauthorized}},
		{name: "create an empty committee", admin: true, signer: &alice, op: &protocol.CreateCommittee{Epoch: 1}, want: []error{ErrInvalidOperation}},
		{
			name: "remove an old epoch", admin: true, signer: &alice,
			setup: func(t *testing.T, s *State, id base.ChainID) {
				mustExec(t, s, tc(id, &alice), sysTx(&protocol.CreateCommittee{Epoch: 1, Committee: *next}), nil)
			},
			op: &protocol.RemoveCommittee{Epoch: 0},
			check: func(t *testing.T, s *State, out *TxOutcome) {
				cs, _ := s.Committees(bg)
				if len(cs) != 1 || cs[0].Epoch != 1 {
					t.Errorf("committees %+v", cs)
				}
				if len(out.Events) != 1 || out.Events[0].Index != 0 || !bytes.Equal(out.Events[0].Stream.Name, protocol.RemovedEpochStream.Name) || len(out.Events[0].Value) != 0 {
					t.Errorf("events %+v", out.Events)
				}
			},
		},
		{name: "remove the current epoch", admin: true, signer: &alice, op: &protocol.RemoveCommittee{Epoch: 0}, want: []error{ErrWrongEpoch}},
		{name: "remove an unknown epoch", admin: true, signer: &alice, op: &protocol.RemoveCommittee{Epoch: 7}, want: []error{ErrWrongEpoch}},
		{name: "remove on a non-admin chain", signer: &alice, op: &protocol.RemoveCommittee{Epoch: 0}, want: []error{ErrNotAdminChain}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s *State
			var id base.ChainID
			if c.admin {
				s, id = n.create(n.admin)
			} else {
				s, id = n.create(n.rootDesc(1, protocol.SingleSuperOwner(alice), tokens(1)))
			}
			defer s.Rollback()
			if c.setup != nil {
				c.setup(t, s, id)
			}
			out, err := s.ExecuteTransaction(bg, tc(id, c.signer), sysTx(c.op), LiveOracles(n.res))
			if len(c.want) > 0 {
				wantErr(t, err, c.want...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, s, out)
		})
	}
}

// TestConsecutiveOutcomesAreIndependent: a State reuses a finished transaction's
// working memory for the next transaction; an outcome returned earlier must not change
// when later transactions (successful or failing) execute.
func TestConsecutiveOutcomesAreIndependent(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	var outs []*TxOutcome
	for i := range 4 {
		dest := base.ChainID(sha(byte(10 + i)))
		outs = append(outs, mustExec(t, s, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: dest}, Amount: base.AmountFromAttos(uint64(i + 1))}), LiveOracles(n.res)))
		// A failing transaction in between (more than the chain account holds).
		if _, err := s.ExecuteTransaction(bg, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: dest}, Amount: tokens(1_000_000)}), LiveOracles(n.res)); err == nil {
			t.Fatal("overdraft accepted")
		}
	}
	var into TxOutcome
	if err := s.ExecuteTransactionInto(bg, tc(id, &alice), sysTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: otherChain}, Amount: base.AmountFromAttos(9)}), LiveOracles(n.res), &into); err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		if len(out.Messages) != 1 || out.Messages[0].Destination != base.ChainID(sha(byte(10+i))) {
			t.Fatalf("outcome %d changed: %+v", i, out.Messages)
		}
		c, ok := out.Messages[0].Message.System.(*protocol.Credit)
		if !ok || c.Amount != base.AmountFromAttos(uint64(i+1)) {
			t.Fatalf("outcome %d changed: %+v", i, out.Messages[0].Message)
		}
	}
	if len(into.Messages) != 1 || into.Messages[0].Destination != otherChain {
		t.Fatalf("ExecuteTransactionInto outcome: %+v", into.Messages)
	}
}
